//! Randomized fault schedules (`cairn_harness::faults`): a recorded register
//! workload (gets, puts, compare-and-set txns, deletes from 6 clients over 40
//! keys) runs while a seeded nemesis kills members, kills the leader, pauses
//! members and restarts the whole cluster. Every history must be linearizable
//! and the cluster must take a write within 10 s of the faults healing.
//!
//! - 3-member Cairn: `CAIRN_FAULT_SCHEDULES` seeds (default 3) of
//!   `CAIRN_FAULT_SECONDS` (default 20 s) each; 5-member Cairn: 2 seeds.
//!   `CAIRN_FAULT_SEED` replays one seed. A failing run prints its seed and
//!   leaves history, verdict and member logs in `test-artifacts/faults/`.
//! - The checker can fail: with the test-only `--unsafe-stale-reads` (reads
//!   skip ReadIndex) the same workload is reported not linearizable.
//! - The same workload on real etcd 3.5.1 under the same kind of faults is
//!   linearizable (the workload and checker do not flag correct systems).

use std::time::Duration;

use cairn_harness::faults::{self, FaultKind, FaultRunConfig};
use cairn_harness::{etcd_bin, server_binary, Cluster, ClusterSpec};
use cairn_linearizability::Verdict;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seeds to run: `CAIRN_FAULT_SEED` alone, or `count` seeds from `base`.
fn seeds(base: u64, count: u64) -> Vec<u64> {
    match std::env::var("CAIRN_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..env_u64("CAIRN_FAULT_SCHEDULES", count))
            .map(|i| base + i)
            .collect(),
    }
}

async fn run_schedule(
    spec: ClusterSpec,
    cfg: &FaultRunConfig,
    label: &str,
) -> faults::FaultRunReport {
    let mut cluster = Cluster::start(spec).await.expect("cluster starts");
    let report = faults::run(&mut cluster, cfg).await.expect("fault run");
    let name = format!("{label}-seed{}", cfg.seed);
    eprintln!(
        "{name}: {} operations ({} completed), recovery {:?}, verdict {:?}\n  faults: {:?}",
        report.history.len(),
        report.completed(),
        report.recovery,
        report.verdict,
        report.faults
    );
    let ok = report.verdict == Verdict::Ok
        && report.recovery.is_some_and(|r| r < Duration::from_secs(10));
    if !ok {
        let dir = faults::save_artifacts(&name, &cluster, &report);
        eprintln!("{name}: artifacts in {}", dir.display());
    }
    report
}

fn assert_correct(report: &faults::FaultRunReport, label: &str) {
    assert_eq!(
        report.verdict,
        Verdict::Ok,
        "{label} seed {}: history not linearizable (replay with CAIRN_FAULT_SEED={})",
        report.seed,
        report.seed
    );
    let recovery = report
        .recovery
        .expect("the cluster took no write after healing");
    assert!(
        recovery < Duration::from_secs(10),
        "{label} seed {}: first write {recovery:?} after healing",
        report.seed
    );
    assert!(
        report.completed() > 200,
        "{label} seed {}: only {} operations completed",
        report.seed,
        report.completed()
    );
    assert!(!report.faults.is_empty(), "no fault was injected");
}

fn duration() -> Duration {
    Duration::from_secs(env_u64("CAIRN_FAULT_SECONDS", 20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_stay_linearizable_under_faults() {
    for seed in seeds(1000, 3) {
        let cfg = FaultRunConfig::new(seed, duration());
        let report = run_schedule(ClusterSpec::new(server_binary(), 3), &cfg, "cairn3").await;
        assert_correct(&report, "3 members");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_stay_linearizable_under_faults() {
    for seed in seeds(5000, 2) {
        let cfg = FaultRunConfig::new(seed, duration());
        let report = run_schedule(ClusterSpec::new(server_binary(), 5), &cfg, "cairn5").await;
        assert_correct(&report, "5 members");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_catches_stale_reads() {
    let spec = ClusterSpec::new(server_binary(), 3)
        .extra_args(["--unsafe-stale-reads"])
        .env("CAIRN_UNSAFE_TEST_FLAGS", "1");
    let mut cfg = FaultRunConfig::new(77, Duration::from_secs(15));
    cfg.faults = vec![FaultKind::PauseMember, FaultKind::KillLeader];
    // Few keys make a stale read on a lagging member likely.
    cfg.keys = 5;
    let report = run_schedule(spec, &cfg, "stale-reads").await;
    assert!(
        matches!(report.verdict, Verdict::Illegal { .. }),
        "reads without ReadIndex must be caught, got {:?}",
        report.verdict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_reference_stays_linearizable_under_faults() {
    let cfg = FaultRunConfig::new(9000, duration());
    let report = run_schedule(ClusterSpec::new(etcd_bin(), 3), &cfg, "etcd3").await;
    assert_correct(&report, "etcd 3 members");
}
