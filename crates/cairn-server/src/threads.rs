//! How many threads serve requests and Raft (tokio's worker threads): one per
//! CPU, unless `TOKIO_WORKER_THREADS` or, as for etcd's Go runtime,
//! `GOMAXPROCS` says otherwise. A manifest that bounds etcd with
//! `GOMAXPROCS` bounds Cairn the same way. Disk writes and large reads run on
//! threads of their own beside these.
//!
//! On a machine several busy processes share (three members and a client on
//! two CPUs in `bench/compare`), fewer threads per process trade parallelism
//! for fewer wake-ups of idle threads and fewer context switches; BENCHMARKS.md
//! (finding 29) has the measurements, for etcd and for Cairn.

/// Go's upper bound on `GOMAXPROCS`.
const MAX_PROCS: usize = 1024;

/// The worker-thread count to set, or None to keep tokio's default (which
/// reads `TOKIO_WORKER_THREADS` itself). Go ignores a `GOMAXPROCS` that is
/// not a positive number, and so does this.
pub fn worker_threads(
    tokio_worker_threads: Option<&str>,
    gomaxprocs: Option<&str>,
) -> Option<usize> {
    if tokio_worker_threads.is_some() {
        return None;
    }
    let procs: usize = gomaxprocs?.trim().parse().ok()?;
    (procs > 0).then_some(procs.min(MAX_PROCS))
}

/// [`worker_threads`] from this process's environment.
pub fn from_env() -> Option<usize> {
    let tokio = std::env::var("TOKIO_WORKER_THREADS").ok();
    let go = std::env::var("GOMAXPROCS").ok();
    worker_threads(tokio.as_deref(), go.as_deref())
}

#[cfg(test)]
mod tests {
    use super::worker_threads;

    #[test]
    fn gomaxprocs_sets_the_worker_threads_as_it_sets_gos() {
        assert_eq!(worker_threads(None, None), None);
        assert_eq!(worker_threads(None, Some("1")), Some(1));
        assert_eq!(worker_threads(None, Some(" 4 ")), Some(4));
        assert_eq!(worker_threads(None, Some("100000")), Some(1024));
        // Go ignores these and keeps one per CPU.
        for ignored in ["0", "-2", "two", ""] {
            assert_eq!(worker_threads(None, Some(ignored)), None, "{ignored:?}");
        }
        // tokio's own variable wins; tokio reads it itself.
        assert_eq!(worker_threads(Some("3"), Some("1")), None);
    }
}
