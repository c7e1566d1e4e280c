//! The Raft layer's Prometheus metrics, under etcd's names: the log's fsyncs
//! and bytes written, leader changes, proposals pending and failed, failed
//! ReadIndex rounds, and the traffic with each peer (bytes, failures, round
//! trips, whether it is reachable). They count for the whole process (one
//! member per process); the server registers them with [`register`].

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::types::MemberId;

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid counter name")
}

fn counter_vec(name: &str, help: &str, label: &str) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid counter name")
}

fn buckets(start: f64, count: usize) -> Vec<f64> {
    exponential_buckets(start, 2.0, count).expect("valid buckets")
}

static WAL_FSYNC_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::with_opts(
        HistogramOpts::new(
            "etcd_disk_wal_fsync_duration_seconds",
            "Time taken by each fdatasync of the Raft log.",
        )
        .buckets(buckets(0.001, 14)),
    )
    .expect("a valid histogram name")
});
// A gauge in etcd too.
static WAL_WRITE_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    IntGauge::new(
        "etcd_disk_wal_write_bytes_total",
        "Bytes appended to the Raft log.",
    )
    .expect("a valid gauge name")
});
pub(crate) static LEADER_CHANGES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_server_leader_changes_seen_total",
        "Times this member saw a new leader.",
    )
});
static PROPOSALS_PENDING: LazyLock<IntGauge> = LazyLock::new(|| {
    IntGauge::new(
        "etcd_server_proposals_pending",
        "Proposals made through this member and not yet answered.",
    )
    .expect("a valid gauge name")
});
static PROPOSALS_FAILED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_server_proposals_failed_total",
        "Proposals made through this member that failed (no leader, timeout, leader change, ...).",
    )
});
pub(crate) static READ_INDEXES_FAILED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_server_read_indexes_failed_total",
        "Linearizable read rounds (ReadIndex) that failed.",
    )
});
static HEARTBEAT_SEND_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_server_heartbeat_send_failures_total",
        "Heartbeats (AppendEntries without entries) to a peer that failed.",
    )
});
pub(crate) static SNAPSHOT_APPLY_IN_PROGRESS: LazyLock<IntGauge> = LazyLock::new(|| {
    IntGauge::new(
        "etcd_server_snapshot_apply_in_progress_total",
        "1 while this member installs a snapshot received from the leader.",
    )
    .expect("a valid gauge name")
});
static SLOW_APPLIES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_server_slow_apply_total",
        "Batches of committed entries whose apply took longer than 100 ms.",
    )
});
pub(crate) static LEASES_EXPIRED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_debugging_server_lease_expired_total",
        "Expired leases this member, as leader, revoked.",
    )
});
pub(crate) static LEASES_RENEWED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_debugging_lease_renewed_total",
        "Lease keep-alives this member, as leader, granted.",
    )
});
static PEER_SENT_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "etcd_network_peer_sent_bytes_total",
        "Raft message bytes sent to each peer (requests and answers).",
        "To",
    )
});
static PEER_RECEIVED_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "etcd_network_peer_received_bytes_total",
        "Raft message bytes received from each peer (requests and answers).",
        "From",
    )
});
static PEER_SENT_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "etcd_network_peer_sent_failures_total",
        "Raft messages to each peer that failed (unreachable, timed out, refused).",
        "To",
    )
});
static PEER_ROUND_TRIP_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    HistogramVec::new(
        HistogramOpts::new(
            "etcd_network_peer_round_trip_time_seconds",
            "Round trip of each heartbeat (AppendEntries without entries) to each peer.",
        )
        .buckets(buckets(0.0001, 16)),
        &["To"],
    )
    .expect("a valid histogram name")
});
static ACTIVE_PEERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    IntGaugeVec::new(
        Opts::new(
            "etcd_network_active_peers",
            "1 while the last Raft message to the peer got an answer.",
        ),
        &["Local", "Remote"],
    )
    .expect("a valid gauge name")
});
static DISCONNECTED_PEERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "etcd_network_disconnected_peers_total",
            "Times a peer that answered stopped answering.",
        ),
        &["Local", "Remote"],
    )
    .expect("a valid counter name")
});

/// Registers every metric of this crate with `registry`.
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    registry.register(Box::new(WAL_FSYNC_SECONDS.clone()))?;
    registry.register(Box::new(WAL_WRITE_BYTES.clone()))?;
    registry.register(Box::new(PROPOSALS_PENDING.clone()))?;
    registry.register(Box::new(SNAPSHOT_APPLY_IN_PROGRESS.clone()))?;
    for c in [
        &*LEADER_CHANGES,
        &*HEARTBEAT_SEND_FAILURES,
        &*SLOW_APPLIES,
        &*PROPOSALS_FAILED,
        &*READ_INDEXES_FAILED,
        &*LEASES_EXPIRED,
        &*LEASES_RENEWED,
    ] {
        registry.register(Box::new(c.clone()))?;
    }
    for c in [
        &*PEER_SENT_BYTES,
        &*PEER_RECEIVED_BYTES,
        &*PEER_SENT_FAILURES,
        &*DISCONNECTED_PEERS,
    ] {
        registry.register(Box::new(c.clone()))?;
    }
    registry.register(Box::new(PEER_ROUND_TRIP_SECONDS.clone()))?;
    registry.register(Box::new(ACTIVE_PEERS.clone()))?;
    Ok(())
}

/// Runs the log's `fdatasync` and records how long it took.
pub(crate) fn timed_log_sync<T>(sync: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = sync();
    WAL_FSYNC_SECONDS.observe(started.elapsed().as_secs_f64());
    out
}

/// A batch of entries applied in `took` (etcd warns of, and counts, applies
/// over 100 ms).
pub(crate) fn applied(took: Duration) {
    if took > Duration::from_millis(100) {
        SLOW_APPLIES.inc();
    }
}

/// Counts `bytes` appended to the log.
pub(crate) fn log_written(bytes: usize) {
    WAL_WRITE_BYTES.add(i64::try_from(bytes).unwrap_or(i64::MAX));
}

/// A proposal in flight: counted pending until dropped.
pub(crate) struct PendingProposal(());

impl PendingProposal {
    pub(crate) fn start() -> PendingProposal {
        PROPOSALS_PENDING.inc();
        PendingProposal(())
    }

    /// Ends the proposal; a failed one is counted as such.
    pub(crate) fn finish<T, E>(self, outcome: Result<T, E>) -> Result<T, E> {
        if outcome.is_err() {
            PROPOSALS_FAILED.inc();
        }
        outcome
    }
}

impl Drop for PendingProposal {
    fn drop(&mut self) {
        PROPOSALS_PENDING.dec();
    }
}

fn hex(id: MemberId) -> String {
    format!("{id:x}")
}

/// A Raft message received from `from` (`request` bytes) and answered
/// (`answer` bytes). A sender seen for the first time gets its series only if
/// `is_member` says it is one: the ID comes from the network, and each new
/// label value is memory kept for good.
pub(crate) fn peer_message_served(
    from: MemberId,
    request: usize,
    answer: usize,
    is_member: impl FnOnce(MemberId) -> bool,
) {
    /// Each peer's (received, sent) counters, looked up once.
    static SERVED: LazyLock<RwLock<HashMap<MemberId, (IntCounter, IntCounter)>>> =
        LazyLock::new(RwLock::default);
    let count = |(received, sent): &(IntCounter, IntCounter)| {
        received.inc_by(request as u64);
        sent.inc_by(answer as u64);
    };
    if let Some(counters) = SERVED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&from)
    {
        count(counters);
        return;
    }
    if !is_member(from) {
        return;
    }
    let label = hex(from);
    let counters = (
        PEER_RECEIVED_BYTES.with_label_values(&[label.as_str()]),
        PEER_SENT_BYTES.with_label_values(&[label.as_str()]),
    );
    count(&counters);
    SERVED
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(from, counters);
}

/// The metrics of one member's messages to one peer, looked up once.
pub(crate) struct PeerTraffic {
    sent_bytes: IntCounter,
    received_bytes: IntCounter,
    sent_failures: IntCounter,
    round_trip: Histogram,
    active: IntGauge,
    disconnected: IntCounter,
}

impl PeerTraffic {
    pub(crate) fn new(local: MemberId, remote: MemberId) -> PeerTraffic {
        let (local, remote) = (hex(local), hex(remote));
        let pair = [local.as_str(), remote.as_str()];
        PeerTraffic {
            sent_bytes: PEER_SENT_BYTES.with_label_values(&[remote.as_str()]),
            received_bytes: PEER_RECEIVED_BYTES.with_label_values(&[remote.as_str()]),
            sent_failures: PEER_SENT_FAILURES.with_label_values(&[remote.as_str()]),
            round_trip: PEER_ROUND_TRIP_SECONDS.with_label_values(&[remote.as_str()]),
            active: ACTIVE_PEERS.with_label_values(&pair),
            disconnected: DISCONNECTED_PEERS.with_label_values(&pair),
        }
    }

    /// A message of `request` bytes answered with `answer` bytes after
    /// `took`; `heartbeat` ones count as round trips.
    pub(crate) fn answered(&self, request: usize, answer: usize, took: Duration, heartbeat: bool) {
        self.sent_bytes.inc_by(request as u64);
        self.received_bytes.inc_by(answer as u64);
        if heartbeat {
            self.round_trip.observe(took.as_secs_f64());
        }
        self.active.set(1);
    }

    /// A message that got no answer.
    pub(crate) fn failed(&self, heartbeat: bool) {
        self.sent_failures.inc();
        if heartbeat {
            HEARTBEAT_SEND_FAILURES.inc();
        }
        if self.active.get() == 1 {
            self.active.set(0);
            self.disconnected.inc();
        }
    }
}
