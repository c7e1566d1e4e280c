//! `/metrics`: every layer's Prometheus metrics under etcd's names, in the
//! Prometheus text format. Counters and histograms are kept where the work
//! happens (`cairn_mvcc::metrics`, `cairn_raft::metrics`, `grpc_metrics`);
//! the gauges that describe the member's state (leader, revisions, sizes, the
//! process's memory and file descriptors) are read when scraped.

use std::sync::{LazyLock, Mutex, PoisonError};

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::context::{ServerContext, ETCD_CLUSTER_VERSION, ETCD_VERSION};

/// The gauges set at each scrape.
struct StateGauges {
    has_leader: IntGauge,
    is_leader: IntGauge,
    is_learner: IntGauge,
    proposals_committed: IntGauge,
    proposals_applied: IntGauge,
    quota_backend_bytes: IntGauge,
    db_total_size: IntGauge,
    db_total_size_in_use: IntGauge,
    current_revision: IntGauge,
    compact_revision: IntGauge,
    keys: IntGauge,
    server_id: IntGaugeVec,
    server_version: IntGaugeVec,
    cluster_version: IntGaugeVec,
    process: crate::process_metrics::ProcessGauges,
}

/// An integer gauge with a fixed, valid name.
pub(crate) fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("a valid gauge name")
}

fn labelled_gauge(name: &str, help: &str, label: &str) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), &[label]).expect("a valid gauge name")
}

impl StateGauges {
    fn new() -> StateGauges {
        StateGauges {
            has_leader: gauge(
                "etcd_server_has_leader",
                "1 while this member knows a leader it is in touch with.",
            ),
            is_leader: gauge(
                "etcd_server_is_leader",
                "1 while this member is the leader.",
            ),
            is_learner: gauge(
                "etcd_server_is_learner",
                "1 while this member is a learner.",
            ),
            // Gauges in etcd too, despite the names.
            proposals_committed: gauge(
                "etcd_server_proposals_committed_total",
                "Index of the last Raft entry known committed.",
            ),
            proposals_applied: gauge(
                "etcd_server_proposals_applied_total",
                "Index of the last Raft entry applied.",
            ),
            quota_backend_bytes: gauge(
                "etcd_server_quota_backend_bytes",
                "--quota-backend-bytes: the database size that raises NOSPACE.",
            ),
            db_total_size: gauge(
                "etcd_mvcc_db_total_size_in_bytes",
                "Size of the state database file.",
            ),
            db_total_size_in_use: gauge(
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Bytes of the state database file in use (the rest is free pages).",
            ),
            current_revision: gauge(
                "etcd_debugging_mvcc_current_revision",
                "The key space's current revision.",
            ),
            compact_revision: gauge(
                "etcd_debugging_mvcc_compact_revision",
                "The revision of the last compaction.",
            ),
            keys: gauge(
                "etcd_debugging_mvcc_keys_total",
                "Keys that exist at the current revision.",
            ),
            server_id: labelled_gauge(
                "etcd_server_id",
                "1, with this member's ID as the label.",
                "server_id",
            ),
            server_version: labelled_gauge(
                "etcd_server_version",
                "1, with the etcd version this member speaks as the label.",
                "server_version",
            ),
            cluster_version: labelled_gauge(
                "etcd_cluster_version",
                "1, with the cluster version as the label.",
                "cluster_version",
            ),
            process: crate::process_metrics::ProcessGauges::new(),
        }
    }

    fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        for g in [
            &self.has_leader,
            &self.is_leader,
            &self.is_learner,
            &self.proposals_committed,
            &self.proposals_applied,
            &self.quota_backend_bytes,
            &self.db_total_size,
            &self.db_total_size_in_use,
            &self.current_revision,
            &self.compact_revision,
            &self.keys,
        ] {
            registry.register(Box::new(g.clone()))?;
        }
        for g in [&self.server_id, &self.server_version, &self.cluster_version] {
            registry.register(Box::new(g.clone()))?;
        }
        self.process.register(registry)
    }

    fn update(&self, ctx: &ServerContext) {
        let node = &ctx.node;
        let status = node.status();
        let store = node.store();
        let member = node.member_id();
        self.has_leader.set(i64::from(status.leader.is_some()));
        self.is_leader.set(i64::from(status.leader == Some(member)));
        self.is_learner.set(i64::from(status.is_learner));
        self.proposals_committed.set(clamp(status.commit_index));
        self.proposals_applied.set(clamp(status.applied_index));
        self.quota_backend_bytes.set(clamp(ctx.quota_backend_bytes));
        self.db_total_size.set(clamp(store.db_size()));
        self.db_total_size_in_use.set(clamp(store.db_size_in_use()));
        self.current_revision.set(store.current_revision());
        self.compact_revision.set(store.compact_revision());
        self.keys.set(clamp(store.live_key_count()));
        // A member recovered in place (`cairnctl recover`) restarts in this
        // process with another ID: only the current one is reported.
        self.server_id.reset();
        self.server_id
            .with_label_values(&[format!("{member:x}").as_str()])
            .set(1);
        self.server_version
            .with_label_values(&[ETCD_VERSION])
            .set(1);
        let major_minor = ETCD_CLUSTER_VERSION
            .rsplit_once('.')
            .map_or(ETCD_CLUSTER_VERSION, |(mm, _)| mm);
        self.cluster_version
            .with_label_values(&[major_minor])
            .set(1);
        self.process.update();
    }
}

/// A count as a gauge's value (saturating).
pub(crate) fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `/health` answers, counted as etcd counts them.
pub struct HealthCounters {
    pub success: IntCounter,
    pub failures: IntCounter,
}

pub static HEALTH: LazyLock<HealthCounters> = LazyLock::new(|| HealthCounters {
    success: IntCounter::new("etcd_server_health_success", "/health checks that passed.")
        .expect("a valid counter name"),
    failures: IntCounter::new("etcd_server_health_failures", "/health checks that failed.")
        .expect("a valid counter name"),
});

/// Time from a Snapshot request to its last chunk.
pub static SNAPSHOT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    let buckets = exponential_buckets(0.01, 2.0, 17).expect("valid buckets");
    Histogram::with_opts(
        HistogramOpts::new(
            "etcd_disk_backend_snapshot_duration_seconds",
            "Time taken by each snapshot sent to a client (Maintenance.Snapshot).",
        )
        .buckets(buckets),
    )
    .expect("a valid histogram name")
});

struct Metrics {
    registry: Registry,
    state: StateGauges,
}

/// Everything `/metrics` serves, registered once.
static METRICS: LazyLock<Result<Metrics, prometheus::Error>> = LazyLock::new(|| {
    let registry = Registry::new();
    let state = StateGauges::new();
    state.register(&registry)?;
    registry.register(Box::new(HEALTH.success.clone()))?;
    registry.register(Box::new(HEALTH.failures.clone()))?;
    registry.register(Box::new(SNAPSHOT_SECONDS.clone()))?;
    cairn_mvcc::metrics::register(&registry)?;
    cairn_raft::metrics::register(&registry)?;
    crate::grpc_metrics::register(&registry)?;
    crate::services::watch::WATCH_METRICS.register(&registry)?;
    Ok(Metrics { registry, state })
});

/// The `/metrics` body: every metric in the Prometheus text format.
pub fn render(ctx: &ServerContext) -> Result<String, String> {
    /// One scrape at a time: the CPU counter is advanced by what /proc
    /// says was added since the last scrape.
    static SCRAPING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SCRAPING.lock().unwrap_or_else(PoisonError::into_inner);
    let metrics = METRICS.as_ref().map_err(|e| e.to_string())?;
    metrics.state.update(ctx);
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&metrics.registry.gather(), &mut out)
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The `content-type` of [`render`]'s body.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_registers_under_a_distinct_name() {
        if let Err(e) = super::METRICS.as_ref() {
            panic!("registering the metrics failed: {e}");
        }
    }
}
