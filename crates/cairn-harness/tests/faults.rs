//! Randomized fault schedules (`cairn_harness::faults`), every member in its
//! own network namespace (the test needs root and `ip netns`; it fails, never
//! skips, without them): a recorded register workload (gets, puts,
//! compare-and-set txns, deletes from 6 clients over 40 keys) and 3 watchers
//! on `reg/` run while a seeded nemesis kills members or the leader (also
//! restarting it at once, before anyone campaigns), pauses
//! members, restarts the whole cluster, isolates a member, partitions the
//! members, cuts one direction between two members, adds netem delay and loss,
//! and replaces a member (remove, wipe, `--join`). Every history must be
//! linearizable, every watch stream must equal the committed history, and the
//! cluster must take a write within 10 s of the faults healing.
//!
//! - 6 schedules of `CAIRN_FAULT_SECONDS` (default 20 s) on 3 members and 4
//!   on 5 members, fixed seeds; together they cover every fault kind, and the
//!   schedules with a short fault list inject each listed kind at least once.
//!   `CAIRN_FAULT_SEED` replays one seed in every schedule. A failing run
//!   prints its seed and the `cairn-faults` command replaying it, and leaves
//!   history, verdict, watch streams and member logs in
//!   `test-artifacts/faults/`.
//! - The checker can fail: with the test-only `--unsafe-stale-reads` (reads
//!   skip ReadIndex) the workload under partitions is reported not
//!   linearizable.
//! - The same workload on real etcd 3.5.1 under pauses and every network
//!   fault passes: the workload and checkers do not flag a correct system.
//!   (Not under crashes: etcd 3.5.1 has a known data inconsistency bug there,
//!   which these checks found; see the test. Nor `replace`: no `--join`.)
//! - After every run, all members' `HashKV` at the last revision must agree.

use std::time::{Duration, Instant};

use cairn_harness::faults::{self, FaultKind, FaultRunConfig, ALL_FAULTS};
use cairn_harness::{etcd_bin, server_binary, Cluster, ClusterSpec};
use cairn_linearizability::Verdict;

use FaultKind::*;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn duration() -> Duration {
    Duration::from_secs(env_u64("CAIRN_FAULT_SECONDS", 20))
}

/// The seed to run: `CAIRN_FAULT_SEED` if set (a replay), else `default`.
fn seed(default: u64) -> u64 {
    env_u64("CAIRN_FAULT_SEED", default)
}

async fn run_schedule(
    spec: ClusterSpec,
    cfg: &FaultRunConfig,
    label: &str,
) -> faults::FaultRunReport {
    let started = Instant::now();
    let size = spec.size;
    let mut cluster = Cluster::start(spec).await.expect("cluster starts");
    let report = faults::run(&mut cluster, cfg).await.expect("fault run");
    let name = format!("{label}-seed{}", cfg.seed);
    let kinds: Vec<&str> = cfg.faults.iter().map(|k| k.name()).collect();
    eprintln!(
        "{name}: {} operations ({} completed), {} watch events, recovery {:?}, verdict {:?}, \
         watch anomalies {:?}, members agree {}, {:.0}s\n  faults: {:#?}",
        report.history.len(),
        report.completed(),
        report.watches.iter().map(|w| w.events.len()).sum::<usize>(),
        report.recovery,
        report.verdict,
        report.watch_anomalies,
        report.members_agree(),
        started.elapsed().as_secs_f64(),
        report.faults
    );
    eprintln!(
        "{name}: raft snapshots taken {}, installed {}",
        cluster.count_in_logs("cairn: took raft snapshot"),
        cluster.count_in_logs("cairn: installed raft snapshot")
    );
    if !report.passed(Duration::from_secs(10)) {
        let dir = faults::save_artifacts(&name, &cluster, &report);
        eprintln!(
            "{name}: artifacts in {}\n  replay: cairn-faults --size {size} --seconds {} --seed {} \
             --faults {} --netns",
            dir.display(),
            cfg.duration.as_secs(),
            cfg.seed,
            kinds.join(",")
        );
    }
    report
}

fn assert_correct(report: &faults::FaultRunReport, cfg: &FaultRunConfig, label: &str) {
    let seed = report.seed;
    assert_eq!(
        report.verdict,
        Verdict::Ok,
        "{label} seed {seed}: history not linearizable (replay with CAIRN_FAULT_SEED={seed})"
    );
    assert!(
        report.watch_anomalies.is_empty(),
        "{label} seed {seed}: watch streams differ from the committed history: {:?}",
        report.watch_anomalies
    );
    assert!(
        report.members_agree(),
        "{label} seed {seed}: members differ at revision {}: HashKV {:?}",
        report.watch_until,
        report.member_hashes
    );
    let recovery = report
        .recovery
        .expect("the cluster took no write after healing");
    assert!(
        recovery < Duration::from_secs(10),
        "{label} seed {seed}: first write {recovery:?} after healing"
    );
    assert!(
        report.completed() > 200,
        "{label} seed {seed}: only {} operations completed",
        report.completed()
    );
    assert!(
        report.watches.iter().all(|w| !w.events.is_empty()),
        "{label} seed {seed}: a watcher saw nothing"
    );
    assert!(!report.faults.is_empty(), "no fault was injected");
    if cfg.inject_each {
        for k in &cfg.faults {
            assert!(
                report.kinds.contains(k),
                "{label} seed {seed}: fault {k} was never injected"
            );
        }
    }
}

async fn cairn_schedule(size: usize, default_seed: u64, kinds: &[FaultKind], label: &str) {
    cairn_schedule_with(size, default_seed, kinds, label, &[]).await;
}

/// Schedules that replace members run with a small `--snapshot-count`: the
/// log is purged often, so a new member joins through a Raft snapshot.
const FREQUENT_SNAPSHOTS: [&str; 2] = ["--snapshot-count", "50"];

async fn cairn_schedule_with(
    size: usize,
    default_seed: u64,
    kinds: &[FaultKind],
    label: &str,
    extra_args: &[&str],
) {
    let mut cfg = FaultRunConfig::new(seed(default_seed), duration()).with_faults(kinds);
    cfg.inject_each = kinds.len() < ALL_FAULTS.len();
    let spec = ClusterSpec::new(server_binary(), size)
        .network_namespaces()
        .extra_args(extra_args.iter().copied());
    let report = run_schedule(spec, &cfg, label).await;
    assert_correct(&report, &cfg, label);
}

// 3 members.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_process_faults() {
    let kinds = [
        KillMember,
        KillLeader,
        BounceLeader,
        PauseMember,
        RestartAll,
    ];
    cairn_schedule(3, 1000, &kinds, "cairn3-process").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_partitions() {
    let kinds = [IsolateMember, Partition, OneWayCut];
    cairn_schedule(3, 1001, &kinds, "cairn3-partitions").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_netem_and_replace() {
    let kinds = [Netem, ReplaceMember, KillLeader];
    cairn_schedule_with(3, 1002, &kinds, "cairn3-netem-replace", &FREQUENT_SNAPSHOTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_isolation_and_replace() {
    let kinds = [IsolateMember, ReplaceMember, PauseMember];
    cairn_schedule_with(
        3,
        1003,
        &kinds,
        "cairn3-isolate-replace",
        &FREQUENT_SNAPSHOTS,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_every_fault_a() {
    cairn_schedule(3, 1004, &ALL_FAULTS, "cairn3-all").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_every_fault_b() {
    cairn_schedule(3, 1005, &ALL_FAULTS, "cairn3-all").await;
}

// 5 members.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_partitions() {
    let kinds = [Partition, IsolateMember, OneWayCut];
    cairn_schedule(5, 5000, &kinds, "cairn5-partitions").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_replace_and_netem() {
    let kinds = [ReplaceMember, Netem, KillMember];
    cairn_schedule_with(5, 5001, &kinds, "cairn5-replace-netem", &FREQUENT_SNAPSHOTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_every_fault_a() {
    cairn_schedule(5, 5002, &ALL_FAULTS, "cairn5-all").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_every_fault_b() {
    cairn_schedule(5, 5003, &ALL_FAULTS, "cairn5-all").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_catches_stale_reads_under_partitions() {
    let spec = ClusterSpec::new(server_binary(), 3)
        .network_namespaces()
        .extra_args(["--unsafe-stale-reads"])
        .env("CAIRN_UNSAFE_TEST_FLAGS", "1");
    // Few keys make a stale read on the cut-off member likely; 30 s of faults
    // (not 15) make it all but certain: one 15 s run of this schedule (CI of
    // af497e5) had no read land on a cut-off member after a newer write.
    let mut cfg =
        FaultRunConfig::new(77, Duration::from_secs(30)).with_faults(&[IsolateMember, Partition]);
    cfg.keys = 5;
    let report = run_schedule(spec, &cfg, "stale-reads").await;
    assert!(
        matches!(report.verdict, Verdict::Illegal { .. }),
        "reads without ReadIndex must be caught under a partition, got {:?}",
        report.verdict
    );
}

/// Real etcd 3.5.1 does not survive crashes under load intact: with `kill`,
/// `kill-leader` and `restart-all` in this run (seed 9000), one etcd member's
/// history lacked an acknowledged put at revision 1990 and every later event
/// sat one revision early, which the watch check reported. That is etcd's
/// v3.5.0–3.5.2 data inconsistency bug (etcd-io/etcd#13766, postmortem in
/// etcd-io/etcd#13967: the consistent index was not saved atomically with the
/// data; fixed in 3.5.3). So the reference run keeps to the faults that do not
/// crash members: pauses and every network fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_reference_passes_pauses_and_network_faults() {
    let kinds = [PauseMember, IsolateMember, Partition, OneWayCut, Netem];
    let cfg = FaultRunConfig::new(seed(9000), duration()).with_faults(&kinds);
    let spec = ClusterSpec::new(etcd_bin(), 3).network_namespaces();
    let report = run_schedule(spec, &cfg, "etcd3").await;
    assert_correct(&report, &cfg, "etcd 3 members");
}
