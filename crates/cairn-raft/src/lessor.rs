//! Lease clocks (etcd's lessor, the part that is not replicated). Which leases
//! exist is state-machine state; when each one expires is known only to the
//! leader, which alone revokes expired leases, by proposing `LeaseRevoke`
//! through Raft. A member that becomes leader restarts every lease's clock at
//! its full TTL, counted from the last time it heard from the previous leader
//! (plus two heartbeats: the old leader may have renewed a lease just after
//! its last message), so no lease expires early because the leader changed,
//! and none lives much longer than its TTL after a leader dies. Without a
//! recent contact (a new cluster, a restart, a member that was cut off) it
//! counts from now plus one election timeout, as etcd's `Promote` does.
//! Leases longer than the checkpoint interval have their remaining TTL
//! checkpointed through Raft every interval (etcd's lease checkpoints), so a
//! new leader counts from that rather than from the full TTL.
//! Caveat shared with etcd: a leader cut off from the others keeps answering
//! keep-alives until it notices it lost the leadership. Keep-alives and time-to-live
//! questions that reach a follower are answered by the leader.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::{InternalRequest, LeaseClockRequest};
use cairn_proto::etcdserverpb::{LeaseCheckpoint, LeaseCheckpointRequest, LeaseRevokeRequest};
use openraft::async_runtime::WatchReceiver;

use crate::errors::ProposeError;
use crate::node::{classify_forward_error, retry_until, time_left, Attempt, RaftNode, Retry};

/// How often the leader looks for expired leases (etcd: every 500 ms).
const EXPIRY_CHECK: Duration = Duration::from_millis(100);
/// How long a failed revocation waits before it is tried again (etcd's
/// `expiredLeaseRetryInterval`).
const REVOKE_RETRY: Duration = Duration::from_secs(3);

/// What a member knows of one lease's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseClock {
    /// Seconds left (truncated, as etcd reports them); -1 if the lease is unknown.
    pub remaining: i64,
    /// The TTL it was granted with.
    pub granted: i64,
}

#[derive(Default)]
struct Clocks {
    /// The term in which this member last became leader and started the clocks;
    /// None while it is not the leader.
    primary_term: Option<u64>,
    expiries: HashMap<i64, Instant>,
    /// Leases whose revocation is being proposed.
    revoking: HashSet<i64>,
    /// When this member last received entries or a heartbeat from a leader.
    last_leader_contact: Option<Instant>,
    /// When each long lease's remaining TTL is next checkpointed (leases whose
    /// TTL exceeds the checkpoint interval, as etcd).
    checkpoint_due: HashMap<i64, Instant>,
}

/// The lease clocks of one member.
pub struct Lessor {
    clocks: Mutex<Clocks>,
    /// The next generated lease ID (etcd's request ID generator: 16 bits of
    /// member ID, then a millisecond timestamp and a counter).
    next_id: AtomicU64,
    /// Added to every lease when this member becomes leader without a recent
    /// contact with the previous one (one election timeout).
    extend: Duration,
    /// Added to the last contact with the previous leader (two heartbeats).
    contact_margin: Duration,
    /// `--experimental-lease-checkpoint-interval`.
    checkpoint_interval: Duration,
}

impl Lessor {
    pub(crate) fn new(
        member_id: u64,
        election_timeout: Duration,
        heartbeat: Duration,
        checkpoint_interval: Duration,
    ) -> Lessor {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let start = ((member_id & 0xffff) << 48) | ((millis & 0xff_ffff_ffff) << 8);
        Lessor {
            clocks: Mutex::new(Clocks::default()),
            next_id: AtomicU64::new(start),
            extend: election_timeout,
            contact_margin: heartbeat * 2,
            checkpoint_interval,
        }
    }

    /// Schedules the next checkpoint of a lease whose clock just (re)started.
    fn schedule_checkpoint(&self, clocks: &mut Clocks, id: i64, ttl: i64, now: Instant) {
        if Duration::from_secs(ttl.max(0) as u64) > self.checkpoint_interval {
            clocks
                .checkpoint_due
                .insert(id, now + self.checkpoint_interval);
        } else {
            clocks.checkpoint_due.remove(&id);
        }
    }

    /// Records that a leader just reached this member.
    pub(crate) fn note_leader_contact(&self) {
        self.clocks().last_leader_contact = Some(Instant::now());
    }

    /// When a leader last reached this member (None: never since start).
    pub(crate) fn last_leader_contact(&self) -> Option<Instant> {
        self.clocks().last_leader_contact
    }

    /// Where a new leader starts counting every lease's TTL from.
    fn promotion_base(&self, clocks: &Clocks, now: Instant) -> Instant {
        match clocks.last_leader_contact {
            // Elections on a loaded machine can take several timeouts; a
            // contact older than ten is not trusted (this member may have been
            // cut off while another leader kept leases alive).
            Some(at) if now.saturating_duration_since(at) < self.extend * 10 => {
                at + self.contact_margin
            }
            _ => now + self.extend,
        }
    }

    fn clocks(&self) -> std::sync::MutexGuard<'_, Clocks> {
        self.clocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh lease ID: positive and never 0.
    pub fn generate_id(&self) -> i64 {
        loop {
            let id = (self.next_id.fetch_add(1, Ordering::Relaxed) & (u64::MAX >> 1)) as i64;
            if id != 0 {
                return id;
            }
        }
    }
}

impl RaftNode {
    fn is_leader_now(&self) -> Option<u64> {
        let metrics = self.raft().metrics();
        let m = metrics.borrow_watched();
        (m.current_leader == Some(self.member_id()) && m.state.is_leader())
            .then_some(m.current_term)
    }

    /// Brings the clocks in line with leadership (a new leader starts every
    /// clock; a follower keeps none) and, if `full`, with the leases that
    /// exist. Returns whether this member is the leader.
    fn sync_clocks(&self, full: bool) -> bool {
        let lessor = &self.inner.lessor;
        let term = self.is_leader_now();
        let mut clocks = lessor.clocks();
        let Some(term) = term else {
            if clocks.primary_term.take().is_some() {
                tracing::info!("no longer leader: lease clocks stopped");
            }
            clocks.expiries.clear();
            clocks.revoking.clear();
            clocks.checkpoint_due.clear();
            return false;
        };
        let store = self.store();
        let now = Instant::now();
        if clocks.primary_term != Some(term) {
            clocks.expiries.clear();
            clocks.revoking.clear();
            clocks.checkpoint_due.clear();
            let base = lessor.promotion_base(&clocks, now);
            for id in store.lease_ids() {
                if let Some(info) = store.lease_info(id) {
                    // A checkpointed remaining TTL counts instead of the full one.
                    let left = if info.remaining > 0 {
                        info.remaining
                    } else {
                        info.ttl
                    };
                    clocks
                        .expiries
                        .insert(id, base + Duration::from_secs(left.max(0) as u64));
                    lessor.schedule_checkpoint(&mut clocks, id, info.ttl, now);
                }
            }
            clocks.primary_term = Some(term);
            tracing::info!(
                leases = clocks.expiries.len(),
                last_leader_contact_ms_ago = clocks
                    .last_leader_contact
                    .map(|at| now.saturating_duration_since(at).as_millis() as i64)
                    .unwrap_or(-1),
                "became leader: lease clocks restarted at full TTL"
            );
            return true;
        }
        if !full {
            return true;
        }
        // Leases granted or revoked since the last look.
        let ids = store.lease_ids();
        let live: HashSet<i64> = ids.iter().copied().collect();
        clocks.expiries.retain(|id, _| live.contains(id));
        clocks.revoking.retain(|id| live.contains(id));
        clocks.checkpoint_due.retain(|id, _| live.contains(id));
        for id in ids {
            if let std::collections::hash_map::Entry::Vacant(slot) = clocks.expiries.entry(id) {
                if let Some(info) = store.lease_info(id) {
                    slot.insert(now + Duration::from_secs(info.ttl.max(0) as u64));
                    lessor.schedule_checkpoint(&mut clocks, id, info.ttl, now);
                }
            }
        }
        true
    }

    /// Runs the leader's expiry loop until the member stops.
    pub(crate) fn spawn_lease_expiry(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(EXPIRY_CHECK).await;
                let Some(inner) = weak.upgrade() else { return };
                let node = RaftNode { inner };
                if !node.sync_clocks(true) {
                    continue;
                }
                let expired: Vec<i64> = {
                    let mut clocks = node.inner.lessor.clocks();
                    let now = Instant::now();
                    let due: Vec<i64> = clocks
                        .expiries
                        .iter()
                        .filter(|(id, at)| **at <= now && !clocks.revoking.contains(id))
                        .map(|(id, _)| *id)
                        .collect();
                    clocks.revoking.extend(due.iter().copied());
                    due
                };
                node.propose_due_checkpoints();
                for id in expired {
                    let node = node.clone();
                    tokio::spawn(async move {
                        tracing::info!(lease = format!("{id:016x}"), "lease expired; revoking");
                        let revoke = InternalRequest {
                            proposal_id: 0,
                            request: Some(Cmd::LeaseRevoke(LeaseRevokeRequest { id })),
                        };
                        // A revocation refused when applied (while the CORRUPT
                        // alarm is raised) fails as a lost proposal does.
                        let failure = match node.propose(revoke).await {
                            Ok(applied) if applied.error_code == 0 => {
                                crate::metrics::LEASES_EXPIRED.inc();
                                None
                            }
                            Ok(applied) => Some(applied.error_message),
                            Err(e) => Some(e.to_string()),
                        };
                        if let Some(e) = failure {
                            tracing::warn!(
                                lease = format!("{id:016x}"),
                                "revoking expired lease failed: {e}"
                            );
                            // Still expired; tried again after a pause, as etcd does.
                            tokio::time::sleep(REVOKE_RETRY).await;
                            node.inner.lessor.clocks().revoking.remove(&id);
                        }
                    });
                }
            }
        });
    }

    /// Proposes the remaining TTLs of leases whose checkpoint is due (in
    /// batches of 1000, as etcd), and schedules their next one.
    fn propose_due_checkpoints(&self) {
        let lessor = &self.inner.lessor;
        let due: Vec<LeaseCheckpoint> = {
            let mut clocks = lessor.clocks();
            let now = Instant::now();
            let ids: Vec<i64> = clocks
                .checkpoint_due
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(id, _)| *id)
                .collect();
            let mut out = Vec::new();
            for id in ids {
                clocks
                    .checkpoint_due
                    .insert(id, now + lessor.checkpoint_interval);
                if let Some(expiry) = clocks.expiries.get(&id) {
                    let left = expiry.saturating_duration_since(now);
                    out.push(LeaseCheckpoint {
                        id,
                        remaining_ttl: left.as_secs_f64().ceil() as i64,
                    });
                }
            }
            out
        };
        for batch in due.chunks(1000) {
            self.propose_checkpoints(batch.to_vec());
        }
    }

    /// Proposes one checkpoint request in the background (best effort: a lost
    /// checkpoint only means a new leader counts from an older one).
    fn propose_checkpoints(&self, checkpoints: Vec<LeaseCheckpoint>) {
        if checkpoints.is_empty() {
            return;
        }
        let node = self.clone();
        tokio::spawn(async move {
            let req = InternalRequest {
                proposal_id: 0,
                request: Some(Cmd::LeaseCheckpoint(LeaseCheckpointRequest { checkpoints })),
            };
            if let Err(e) = node.propose(req).await {
                tracing::warn!("lease checkpoint failed: {e}");
            }
        });
    }

    /// The lease clock on the leader: renews it (keep-alive) or reads it.
    /// None when this member is not the leader.
    pub(crate) fn leader_lease_clock(&self, id: i64, renew: bool) -> Option<LeaseClock> {
        if !self.sync_clocks(false) {
            return None;
        }
        let store = self.store();
        let Some(info) = store.lease_info(id) else {
            return Some(LeaseClock {
                remaining: -1,
                granted: 0,
            });
        };
        let mut clocks = self.inner.lessor.clocks();
        let now = Instant::now();
        let ttl = Duration::from_secs(info.ttl.max(0) as u64);
        let expiry = *clocks.expiries.entry(id).or_insert(now + ttl);
        if expiry <= now {
            // Expired and about to be revoked: it cannot be kept alive any more.
            return Some(LeaseClock {
                remaining: -1,
                granted: info.ttl,
            });
        }
        if renew {
            crate::metrics::LEASES_RENEWED.inc();
            clocks.expiries.insert(id, now + ttl);
            self.inner
                .lessor
                .schedule_checkpoint(&mut clocks, id, info.ttl, now);
            if info.remaining > 0 {
                // The old checkpoint no longer holds: clear it (etcd does too).
                self.propose_checkpoints(vec![LeaseCheckpoint {
                    id,
                    remaining_ttl: 0,
                }]);
            }
            return Some(LeaseClock {
                remaining: info.ttl,
                granted: info.ttl,
            });
        }
        Some(LeaseClock {
            remaining: expiry.saturating_duration_since(now).as_secs() as i64,
            granted: info.ttl,
        })
    }

    /// etcd's LeaseRenew / LeaseTimeToLive clock part, through the leader.
    /// `remaining` is -1 for a lease that does not exist (or just expired).
    pub async fn lease_clock(&self, id: i64, renew: bool) -> Result<LeaseClock, ProposeError> {
        let deadline = Instant::now() + self.inner.request_timeout;
        retry_until(deadline, || async move {
            if let Some(clock) = self.leader_lease_clock(id, renew) {
                return Attempt::Done(Ok(clock));
            }
            let leader = {
                let metrics = self.raft().metrics();
                let m = metrics.borrow_watched();
                m.current_leader
                    .and_then(|l| m.membership_config.membership().get_node(&l).cloned())
            };
            let Some(node) = leader else {
                return Attempt::Again {
                    leader_known: false,
                };
            };
            match self.remote_lease_clock(&node, id, renew, deadline).await {
                Ok(clock) => Attempt::Done(Ok(clock)),
                Err(Retry::Again) => Attempt::Again { leader_known: true },
                Err(Retry::Fail(e)) => Attempt::Done(Err(e)),
            }
        })
        .await
    }

    async fn remote_lease_clock(
        &self,
        leader: &crate::types::PeerNode,
        id: i64,
        renew: bool,
        deadline: Instant,
    ) -> Result<LeaseClock, Retry> {
        let mut client = self.leader_client(leader)?;
        let mut request = tonic::Request::new(LeaseClockRequest {
            cluster_id: self.cluster_id(),
            id,
            renew,
        });
        request.set_timeout(time_left(deadline));
        match client.lease_clock(request).await {
            Ok(resp) => {
                let r = resp.into_inner();
                Ok(LeaseClock {
                    remaining: r.remaining,
                    granted: r.granted,
                })
            }
            Err(status) => Err(classify_forward_error(status)),
        }
    }

    /// Lease IDs in the order etcd lists them: by expiry on the leader, by ID
    /// elsewhere.
    pub fn leases_by_expiry(&self) -> Vec<i64> {
        let mut ids = self.store().lease_ids();
        if self.sync_clocks(false) {
            let clocks = self.inner.lessor.clocks();
            let far = Instant::now() + Duration::from_secs(u32::MAX as u64);
            ids.sort_by_key(|id| (clocks.expiries.get(id).copied().unwrap_or(far), *id));
        }
        ids
    }

    /// A fresh lease ID for a grant that did not choose one.
    pub fn generate_lease_id(&self) -> i64 {
        self.inner.lessor.generate_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_counts_from_the_last_leader_contact() {
        let lessor = Lessor::new(
            1,
            Duration::from_secs(1),
            Duration::from_millis(100),
            Duration::from_secs(300),
        );
        let now = Instant::now();
        let mut clocks = Clocks::default();
        assert_eq!(
            lessor.promotion_base(&clocks, now),
            now + Duration::from_secs(1)
        );
        clocks.last_leader_contact = Some(now - Duration::from_millis(1500));
        assert_eq!(
            lessor.promotion_base(&clocks, now),
            now - Duration::from_millis(1300)
        );
        clocks.last_leader_contact = Some(now - Duration::from_secs(11));
        assert_eq!(
            lessor.promotion_base(&clocks, now),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn generated_ids_are_positive_distinct_and_carry_the_member() {
        let lessor = Lessor::new(
            0xabcd_1234_5678_9a0b,
            Duration::from_secs(1),
            Duration::from_millis(100),
            Duration::from_secs(300),
        );
        let a = lessor.generate_id();
        let b = lessor.generate_id();
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!((a as u64 >> 48) & 0x7fff, 0x1a0b & 0x7fff);
    }
}
