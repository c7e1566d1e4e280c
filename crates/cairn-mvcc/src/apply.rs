//! Applying one committed command (etcd's `applierV3backend`): Put, DeleteRange,
//! Txn, Compaction, LeaseGrant, LeaseRevoke, LeaseCheckpoint and member attributes. Client-visible
//! failures are decided before anything is written, so a failed command leaves
//! no trace; storage failures abort the whole batch (see `Store::apply_batch`).

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::{InternalRequest, MemberAttributes};
use cairn_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, CompactionRequest, CompactionResponse,
    DeleteRangeResponse, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, PutResponse, TxnResponse,
};
use prost::Message;

use crate::backend::{self, Tables};
use crate::error::{Error, KvError, StoreError};
use crate::lease::{self, MAX_LEASE_TTL};
use crate::metrics::{self, OpCounts};
use crate::revision::{self, Revision};
use crate::state::State;
use crate::txn;
use crate::write::{header, WriteTxn};

/// One committed Raft entry to apply. `request` is None for an entry without
/// client data (a blank or membership entry): it only advances the applied index.
#[derive(Clone, Copy, Debug)]
pub struct ApplyEntry<'a> {
    pub index: u64,
    pub request: Option<&'a InternalRequest>,
}

/// The answer to one applied command.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyResponse {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    Alarm(AlarmResponse),
    /// Entries without client data, member attributes, and empty commands.
    None,
}

/// The outcome of one entry: etcd's response or etcd's error.
pub type ApplyResult = Result<ApplyResponse, KvError>;

/// Applies one command to the state and the batch's tables.
pub(crate) fn apply(
    state: &mut State,
    t: &mut Tables<'_>,
    req: &InternalRequest,
) -> Result<ApplyResponse, Error> {
    if raised(state, ALARM_CORRUPT) && refused_while_corrupt(req) {
        return Err(KvError::Corrupt.into());
    }
    if raised(state, ALARM_NOSPACE) && needs_space(req) {
        return Err(KvError::NoSpace.into());
    }
    match &req.request {
        None => Ok(ApplyResponse::None),
        Some(Cmd::Put(p)) => {
            let mut w = WriteTxn::new(state, &mut t.kv);
            let resp = w.put_request(p, false);
            w.end();
            if resp.is_ok() {
                OpCounts {
                    puts: 1,
                    put_bytes: (p.key.len() + p.value.len()) as u64,
                    ..OpCounts::default()
                }
                .record();
            }
            resp.map(ApplyResponse::Put)
        }
        Some(Cmd::DeleteRange(d)) => {
            let mut w = WriteTxn::new(state, &mut t.kv);
            let resp = w.delete_request(d);
            w.end();
            if resp.is_ok() {
                OpCounts {
                    deletes: 1,
                    ..OpCounts::default()
                }
                .record();
            }
            resp.map(ApplyResponse::DeleteRange)
        }
        Some(Cmd::Txn(rt)) => {
            let mut w = WriteTxn::new(state, &mut t.kv);
            let resp = txn::run(&mut w, rt);
            w.end();
            resp.map(ApplyResponse::Txn)
        }
        Some(Cmd::Compaction(c)) => compact(state, t, c).map(ApplyResponse::Compaction),
        Some(Cmd::LeaseGrant(g)) => lease_grant(state, t, g).map(ApplyResponse::LeaseGrant),
        Some(Cmd::LeaseRevoke(r)) => lease_revoke(state, t, r).map(ApplyResponse::LeaseRevoke),
        Some(Cmd::Alarm(a)) => Ok(ApplyResponse::Alarm(alarm(state, a))),
        Some(Cmd::LeaseCheckpoint(c)) => {
            lease_checkpoint(state, t, c)?;
            Ok(ApplyResponse::None)
        }
        Some(Cmd::MemberAttributes(m)) => {
            set_member(state, t, m)?;
            Ok(ApplyResponse::None)
        }
        Some(Cmd::ClusterSettings(s)) => {
            t.meta
                .insert(backend::CLUSTER_SETTINGS_KEY, s.encode_to_vec().as_slice())
                .map_err(StoreError::db("write meta table"))?;
            Ok(ApplyResponse::None)
        }
    }
}

/// etcd's `NOSPACE` alarm type number.
pub const ALARM_NOSPACE: i32 = 1;
/// etcd's `CORRUPT` alarm type number.
pub const ALARM_CORRUPT: i32 = 2;

fn raised(state: &State, alarm: i32) -> bool {
    state.alarms.iter().any(|(_, a)| *a == alarm)
}

/// What etcd's corrupt applier refuses while CORRUPT is raised: every write
/// and compaction, lease grants and revocations. (Reads, including read-only
/// txns, never come through Raft and are still served; alarm changes, lease
/// checkpoints and member attributes still apply.)
fn refused_while_corrupt(req: &InternalRequest) -> bool {
    matches!(
        req.request,
        Some(Cmd::Put(_))
            | Some(Cmd::DeleteRange(_))
            | Some(Cmd::Txn(_))
            | Some(Cmd::Compaction(_))
            | Some(Cmd::LeaseGrant(_))
            | Some(Cmd::LeaseRevoke(_))
    )
}

/// What etcd's capped applier refuses while NOSPACE is raised, and what its
/// quota guards: writes that can grow the database (puts, txns with puts, lease
/// grants). Deletes, compactions and alarm changes still apply.
pub fn needs_space(req: &InternalRequest) -> bool {
    use cairn_proto::etcdserverpb::request_op::Request as Op;
    fn txn_puts(t: &cairn_proto::etcdserverpb::TxnRequest) -> bool {
        t.success
            .iter()
            .chain(&t.failure)
            .any(|op| match &op.request {
                Some(Op::RequestPut(_)) => true,
                Some(Op::RequestTxn(inner)) => txn_puts(inner),
                _ => false,
            })
    }
    match &req.request {
        Some(Cmd::Put(_)) | Some(Cmd::LeaseGrant(_)) => true,
        Some(Cmd::Txn(t)) => txn_puts(t),
        _ => false,
    }
}

/// Raises or clears an alarm (etcd's `applierV3backend.Alarm`); answers with the
/// alarms the request changed.
fn alarm(state: &mut State, a: &AlarmRequest) -> AlarmResponse {
    use cairn_proto::etcdserverpb::alarm_request::AlarmAction;
    let member = (a.member_id, a.alarm);
    let mut changed = Vec::new();
    match AlarmAction::try_from(a.action) {
        Ok(AlarmAction::Activate) if a.alarm != 0 => {
            if !state.alarms.contains(&member) {
                state.alarms.push(member);
                state.alarms.sort_unstable();
            }
            changed.push(member);
        }
        Ok(AlarmAction::Deactivate) => {
            if let Some(pos) = state.alarms.iter().position(|m| *m == member) {
                state.alarms.remove(pos);
                changed.push(member);
            }
        }
        _ => changed.extend(state.alarms.iter().copied()),
    }
    AlarmResponse {
        header: Some(header(state.current_rev)),
        alarms: changed
            .into_iter()
            .map(|(member_id, alarm)| AlarmMember { member_id, alarm })
            .collect(),
    }
}

/// Compacts the history at `c.revision`: for each key only the newest revision
/// at or below it survives, unless that revision is a deletion.
fn compact(
    state: &mut State,
    t: &mut Tables<'_>,
    c: &CompactionRequest,
) -> Result<CompactionResponse, Error> {
    let rev = c.revision;
    if rev <= state.compact_rev {
        return Err(KvError::Compacted.into());
    }
    if rev > state.current_rev {
        return Err(KvError::FutureRev.into());
    }
    state.compact_rev = rev;
    let keep = state.index.compact(rev);
    let upper = revision::encode(Revision::new(rev + 1, 0), false);
    t.kv.retain_in::<&[u8], _>(..upper.as_slice(), |k, _| match revision::decode(k) {
        Some((r, _)) => keep.contains(&r),
        None => true,
    })
    .map_err(StoreError::db("compact kv table"))?;
    Ok(CompactionResponse {
        header: Some(header(state.current_rev)),
    })
}

fn lease_grant(
    state: &mut State,
    t: &mut Tables<'_>,
    g: &LeaseGrantRequest,
) -> Result<LeaseGrantResponse, Error> {
    if g.id == 0 {
        return Err(KvError::LeaseNotFound.into());
    }
    if g.ttl > MAX_LEASE_TTL {
        return Err(KvError::LeaseTtlTooLarge.into());
    }
    if state.leases.contains(g.id) {
        return Err(KvError::LeaseExists.into());
    }
    state.leases.grant(g.id, g.ttl);
    t.leases
        .insert(g.id, lease::encode_record(g.ttl, 0).as_slice())
        .map_err(StoreError::db("write leases table"))?;
    metrics::LEASES_GRANTED.inc();
    Ok(LeaseGrantResponse {
        header: Some(header(state.current_rev)),
        id: g.id,
        ttl: g.ttl,
        error: String::new(),
    })
}

/// Revokes a lease: its keys are deleted in one revision, in key order.
fn lease_revoke(
    state: &mut State,
    t: &mut Tables<'_>,
    r: &LeaseRevokeRequest,
) -> Result<LeaseRevokeResponse, Error> {
    if !state.leases.contains(r.id) {
        return Err(KvError::LeaseNotFound.into());
    }
    let mut w = WriteTxn::new(state, &mut t.kv);
    let deleted = w.delete_lease_keys(r.id);
    w.end();
    deleted?;
    state.leases.remove(r.id);
    t.leases
        .remove(r.id)
        .map_err(StoreError::db("write leases table"))?;
    metrics::LEASES_REVOKED.inc();
    Ok(LeaseRevokeResponse {
        header: Some(header(state.current_rev)),
    })
}

/// Records the leader's remaining TTLs (etcd's `LeaseCheckpoint`); unknown
/// leases (revoked meanwhile) are skipped.
fn lease_checkpoint(
    state: &mut State,
    t: &mut Tables<'_>,
    c: &cairn_proto::etcdserverpb::LeaseCheckpointRequest,
) -> Result<(), Error> {
    for cp in &c.checkpoints {
        if let Some(ttl) = state.leases.checkpoint(cp.id, cp.remaining_ttl) {
            t.leases
                .insert(
                    cp.id,
                    lease::encode_record(ttl, cp.remaining_ttl.max(0)).as_slice(),
                )
                .map_err(StoreError::db("write leases table"))?;
        }
    }
    Ok(())
}

fn set_member(state: &mut State, t: &mut Tables<'_>, m: &MemberAttributes) -> Result<(), Error> {
    t.members
        .insert(m.member_id, m.encode_to_vec().as_slice())
        .map_err(StoreError::db("write members table"))?;
    state.members.insert(m.member_id, m.clone());
    Ok(())
}
