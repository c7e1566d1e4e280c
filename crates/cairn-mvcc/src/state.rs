//! The in-memory half of the store and how it is rebuilt from the tables: the key
//! index (replayed from the `kv` table as etcd's restore does), lease attachments
//! (from each live key's latest value), leases, members and the meta values.
//! Every check here guards against a damaged file: nothing is trusted blindly.

use std::collections::{BTreeMap, HashMap};

use cairn_proto::cairnpb::MemberAttributes;
use cairn_proto::mvccpb::KeyValue;
use prost::Message;
use redb::ReadableTable;

use crate::backend::{self, Meta};
use crate::index::TreeIndex;
use crate::lease::{self, Leases};
use crate::revision;

/// Everything the store keeps in memory; guarded by the store's lock.
#[derive(Clone, Debug)]
pub(crate) struct State {
    pub index: TreeIndex,
    /// The revision of the last write (1 on an empty store, as in etcd).
    pub current_rev: i64,
    /// The last compaction's revision (-1 before the first, as in etcd).
    pub compact_rev: i64,
    pub leases: Leases,
    pub members: BTreeMap<u64, MemberAttributes>,
    /// Index of the last applied Raft entry (etcd's consistent index).
    pub applied_index: u64,
    /// The Raft layer's blob stored with the last applied batch.
    pub raft_state: Option<Vec<u8>>,
    /// Raised alarms: (member ID, etcd `AlarmType` number), sorted.
    pub alarms: Vec<(u64, i32)>,
    /// Watch events of the batch being applied, in revision order; handed to
    /// the watch feed once the batch commits.
    pub pending_events: Vec<cairn_proto::mvccpb::Event>,
}

impl State {
    /// The state of a brand-new store.
    pub(crate) fn empty() -> State {
        State {
            index: TreeIndex::default(),
            current_rev: 1,
            compact_rev: -1,
            leases: Leases::default(),
            members: BTreeMap::new(),
            applied_index: 0,
            raft_state: None,
            alarms: Vec::new(),
            pending_events: Vec::new(),
        }
    }

    /// The meta values to persist.
    pub(crate) fn meta(&self) -> Meta {
        Meta {
            current_rev: self.current_rev,
            compact_rev: self.compact_rev,
            applied_index: self.applied_index,
            raft_state: self.raft_state.clone(),
            alarms: self.alarms.clone(),
        }
    }
}

/// Rebuilds the state from the four tables; the error says what is wrong.
pub(crate) fn load(
    kv: &impl ReadableTable<&'static [u8], &'static [u8]>,
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    leases: &impl ReadableTable<i64, &'static [u8]>,
    members: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<State, String> {
    let m = backend::read_meta(meta)?;
    let mut state = State {
        current_rev: m.current_rev,
        compact_rev: m.compact_rev,
        applied_index: m.applied_index,
        raft_state: m.raft_state,
        alarms: m.alarms,
        ..State::empty()
    };
    if state.current_rev < 1 || state.compact_rev > state.current_rev {
        return Err(format!(
            "meta revisions are impossible: current {}, compact {}",
            state.current_rev, state.compact_rev
        ));
    }

    for entry in leases.iter().map_err(|e| format!("reading leases: {e}"))? {
        let (id, record) = entry.map_err(|e| format!("reading leases: {e}"))?;
        let (ttl, remaining) = lease::decode_record(record.value())
            .ok_or_else(|| format!("lease {:x} has a malformed record", id.value()))?;
        state.leases.grant(id.value(), ttl);
        state.leases.checkpoint(id.value(), remaining);
    }

    for entry in members
        .iter()
        .map_err(|e| format!("reading members: {e}"))?
    {
        let (id, record) = entry.map_err(|e| format!("reading members: {e}"))?;
        let member = MemberAttributes::decode(record.value())
            .map_err(|e| format!("member {:x}: {e}", id.value()))?;
        if member.member_id != id.value() {
            return Err(format!(
                "member record {:x} names member {:x}",
                id.value(),
                member.member_id
            ));
        }
        state.members.insert(id.value(), member);
    }

    // Replay the key history; remember each key's lease as of its latest entry.
    let mut key_lease: HashMap<Vec<u8>, i64> = HashMap::new();
    for entry in kv.iter().map_err(|e| format!("reading kv: {e}"))? {
        let (k, v) = entry.map_err(|e| format!("reading kv: {e}"))?;
        let (rev, tombstone) = revision::decode(k.value())
            .ok_or_else(|| format!("kv table key {:02x?} is not a revision", k.value()))?;
        if rev.main < 1 || rev.main > state.current_rev || rev.sub < 0 {
            return Err(format!(
                "kv table holds revision {}.{} beyond the current revision {}",
                rev.main, rev.sub, state.current_rev
            ));
        }
        let kv = KeyValue::decode(v.value())
            .map_err(|e| format!("value at revision {}.{}: {e}", rev.main, rev.sub))?;
        if kv.key.is_empty() || (!tombstone && kv.mod_revision != rev.main) {
            return Err(format!(
                "value at revision {}.{} does not belong there",
                rev.main, rev.sub
            ));
        }
        state
            .index
            .restore(&kv.key, rev, tombstone, kv.create_revision, kv.version);
        if tombstone || kv.lease == 0 {
            key_lease.remove(&kv.key);
        } else {
            key_lease.insert(kv.key, kv.lease);
        }
    }
    for (key, id) in key_lease {
        state.leases.attach(id, &key);
    }
    Ok(state)
}
