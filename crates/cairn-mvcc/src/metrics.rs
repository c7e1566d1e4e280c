//! The store's Prometheus metrics, under etcd's names: how many puts, deletes,
//! ranges and txns it ran, how long its database commits and defragmentations
//! took, and leases granted and revoked. They count for the whole process (one
//! member per process); the server registers them with [`register`] and serves
//! them on `/metrics`.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{exponential_buckets, Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid counter name")
}

fn histogram(name: &str, help: &str, start: f64, factor: f64, count: usize) -> Histogram {
    let buckets = exponential_buckets(start, factor, count).expect("valid buckets");
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("a valid histogram name")
}

pub(crate) static PUTS: LazyLock<IntCounter> =
    LazyLock::new(|| counter("etcd_mvcc_put_total", "Puts applied to the key space."));
pub(crate) static DELETES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_mvcc_delete_total",
        "Delete-range operations applied to the key space.",
    )
});
pub(crate) static RANGES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_mvcc_range_total",
        "Ranges read from the key space (including txn compares).",
    )
});
pub(crate) static TXNS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_mvcc_txn_total",
        "Requests that ran more than one operation on the key space.",
    )
});
pub(crate) static PUT_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    IntGauge::new(
        "etcd_debugging_mvcc_total_put_size_in_bytes",
        "Bytes of keys and values put since the member started.",
    )
    .expect("a valid gauge name")
});
static COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "etcd_disk_backend_commit_duration_seconds",
        "Time taken by each commit of the state database.",
        0.001,
        2.0,
        14,
    )
});
static DEFRAG_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "etcd_disk_backend_defrag_duration_seconds",
        "Time taken by each defragmentation of the state database.",
        0.1,
        2.0,
        13,
    )
});
static DEFRAG_INFLIGHT: LazyLock<IntGauge> = LazyLock::new(|| {
    IntGauge::new(
        "etcd_disk_defrag_inflight",
        "1 while the state database is being defragmented.",
    )
    .expect("a valid gauge name")
});
static HASH_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "etcd_mvcc_hash_duration_seconds",
        "Time taken by each Hash of the whole store.",
        0.01,
        2.0,
        15,
    )
});
static HASH_KV_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram(
        "etcd_mvcc_hash_rev_duration_seconds",
        "Time taken by each HashKV at a revision.",
        0.01,
        2.0,
        15,
    )
});
pub(crate) static LEASES_GRANTED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_debugging_lease_granted_total",
        "Leases granted (applied).",
    )
});
pub(crate) static LEASES_REVOKED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "etcd_debugging_lease_revoked_total",
        "Leases revoked (applied).",
    )
});

/// Registers every metric of this crate with `registry`.
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    for c in [
        &*PUTS,
        &*DELETES,
        &*RANGES,
        &*TXNS,
        &*LEASES_GRANTED,
        &*LEASES_REVOKED,
    ] {
        registry.register(Box::new(c.clone()))?;
    }
    for g in [&*PUT_BYTES, &*DEFRAG_INFLIGHT] {
        registry.register(Box::new(g.clone()))?;
    }
    for h in [
        &*COMMIT_SECONDS,
        &*DEFRAG_SECONDS,
        &*HASH_SECONDS,
        &*HASH_KV_SECONDS,
    ] {
        registry.register(Box::new(h.clone()))?;
    }
    Ok(())
}

/// Runs `commit` and records how long it took as a database commit.
pub(crate) fn timed_commit<T>(commit: impl FnOnce() -> T) -> T {
    timed(&COMMIT_SECONDS, commit)
}

/// Runs `defrag`, marked in flight, and records how long it took.
pub(crate) fn timed_defrag<T>(defrag: impl FnOnce() -> T) -> T {
    DEFRAG_INFLIGHT.set(1);
    let out = timed(&DEFRAG_SECONDS, defrag);
    DEFRAG_INFLIGHT.set(0);
    out
}

/// Runs a Hash of the store and records how long it took.
pub(crate) fn timed_hash<T>(hash: impl FnOnce() -> T) -> T {
    timed(&HASH_SECONDS, hash)
}

/// Runs a HashKV and records how long it took.
pub(crate) fn timed_hash_kv<T>(hash: impl FnOnce() -> T) -> T {
    timed(&HASH_KV_SECONDS, hash)
}

fn timed<T>(histogram: &Histogram, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    histogram.observe(started.elapsed().as_secs_f64());
    out
}

/// The operations one request ran on the key space, counted as etcd counts
/// them when its transaction ends.
#[derive(Default)]
pub(crate) struct OpCounts {
    pub ranges: u64,
    pub puts: u64,
    pub deletes: u64,
    pub put_bytes: u64,
}

impl OpCounts {
    pub(crate) fn record(&self) {
        if self.ranges + self.puts + self.deletes > 1 {
            TXNS.inc();
        }
        RANGES.inc_by(self.ranges);
        PUTS.inc_by(self.puts);
        DELETES.inc_by(self.deletes);
        PUT_BYTES.add(i64::try_from(self.put_bytes).unwrap_or(i64::MAX));
    }
}
