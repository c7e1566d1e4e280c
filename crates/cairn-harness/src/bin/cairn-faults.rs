//! `cairn-faults`: run fault schedules by hand (or in a soak) and print the
//! seed, the faults injected and the verdict; a failing schedule leaves its
//! artifacts in `test-artifacts/faults/` and ends the run with exit code 1.
//!
//! ```text
//! cairn-faults --size 3 --seconds 60 --seed 42 --netns
//! cairn-faults --size 5 --faults partition,one-way,replace --netns --seed 7
//! cairn-faults --schedules 100 --seed 1000 --netns          # a soak: seeds 1000..1099
//! cairn-faults --binary $CAIRN_ETCD_BIN_DIR/etcd --netns    # real etcd (no `replace`)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_harness::faults::{self, FaultKind, FaultRunConfig, ALL_FAULTS};
use cairn_harness::{Cluster, ClusterSpec};
use clap::Parser;

/// Run randomized fault schedules against a local cluster and check the history.
#[derive(Parser, Debug)]
#[command(name = "cairn-faults")]
struct Args {
    /// Number of members.
    #[arg(long, default_value_t = 3)]
    size: usize,
    /// Length of each schedule, in seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seed of the first schedule (default: the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of schedules (seeds `seed`, `seed + 1`, ...); stops at the first failure.
    #[arg(long, default_value_t = 1)]
    schedules: u64,
    /// Comma-separated fault kinds: kill, kill-leader, bounce-leader, pause, restart-all,
    /// isolate, partition, one-way, netem, replace, or `all`. Default: every
    /// kind the cluster supports (network kinds need --netns; `replace` is
    /// left out for etcd).
    #[arg(long)]
    faults: Option<String>,
    /// Server binary (`cairn` or `etcd`); defaults to the workspace's `cairn`.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Run each member in its own network namespace (needs root).
    #[arg(long)]
    netns: bool,
    /// Workload clients.
    #[arg(long, default_value_t = 6)]
    clients: usize,
    /// Register keys.
    #[arg(long, default_value_t = 40)]
    keys: usize,
    /// Watch streams.
    #[arg(long, default_value_t = 3)]
    watchers: usize,
    /// Environment variables for every member, `KEY=VALUE` (repeatable), e.g.
    /// `CAIRN_UNSAFE_TEST_FLAGS=1` with `-- --unsafe-stale-reads`.
    #[arg(long = "env")]
    env: Vec<String>,
    /// Save artifacts even when the schedule passes.
    #[arg(long)]
    always_save: bool,
    /// Extra flags passed to every member (after `--`).
    #[arg(last = true)]
    extra_args: Vec<String>,
}

fn is_etcd(binary: &std::path::Path) -> bool {
    binary
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("etcd"))
}

fn fault_kinds(args: &Args, binary: &std::path::Path) -> Result<Vec<FaultKind>, String> {
    match &args.faults {
        Some(list) => FaultKind::parse_list(list).map_err(|e| e.to_string()),
        None => Ok(ALL_FAULTS
            .into_iter()
            .filter(|k| args.netns || !k.needs_network())
            .filter(|k| !(is_etcd(binary) && *k == FaultKind::ReplaceMember))
            .collect()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let binary = args.binary.clone().unwrap_or_else(cairn_harness::cairn_bin);
    let kinds = match fault_kinds(&args, &binary) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("cairn-faults: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(k) = kinds.iter().find(|k| k.needs_network() && !args.netns) {
        eprintln!("cairn-faults: fault {k} needs --netns (network namespaces, as root)");
        return ExitCode::FAILURE;
    }
    let first = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    for seed in first..first.saturating_add(args.schedules) {
        let mut spec = ClusterSpec::new(&binary, args.size).extra_args(args.extra_args.clone());
        if args.netns {
            spec = spec.network_namespaces();
        }
        for kv in &args.env {
            let Some((k, v)) = kv.split_once('=') else {
                eprintln!("cairn-faults: --env {kv:?} is not KEY=VALUE");
                return ExitCode::FAILURE;
            };
            spec = spec.env(k, v);
        }
        let mut cfg =
            FaultRunConfig::new(seed, Duration::from_secs(args.seconds)).with_faults(&kinds);
        cfg.clients = args.clients;
        cfg.keys = args.keys;
        cfg.watchers = args.watchers;
        println!(
            "seed {seed}: {} members{}, {}s, faults {}",
            args.size,
            if args.netns { " (netns)" } else { "" },
            args.seconds,
            names.join(",")
        );
        let started = Instant::now();
        let mut cluster = match Cluster::start(spec).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cairn-faults: seed {seed}: cluster did not start: {e}");
                return ExitCode::FAILURE;
            }
        };
        let report = match faults::run(&mut cluster, &cfg).await {
            Ok(r) => r,
            Err(e) => {
                let dir = cluster.keep_dir();
                eprintln!(
                    "cairn-faults: seed {seed}: run failed: {e}\n  member data and logs kept in {}",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
        };
        for f in &report.faults {
            println!("  {f}");
        }
        let passed = report.passed(Duration::from_secs(10));
        println!(
            "seed {seed}: {} ({} operations, {} completed; recovery {:?}; verdict {:?}; {} watch anomalies; {:.0}s)",
            if passed { "PASS" } else { "FAIL" },
            report.history.len(),
            report.completed(),
            report.recovery,
            report.verdict,
            report.watch_anomalies.len(),
            started.elapsed().as_secs_f64()
        );
        for a in &report.watch_anomalies {
            println!("  {a}");
        }
        if !passed || args.always_save {
            let dir =
                faults::save_artifacts(&format!("cli{}-seed{seed}", args.size), &cluster, &report);
            println!("artifacts: {}", dir.display());
        }
        if !passed {
            println!(
                "replay: cairn-faults --size {} --seconds {} --seed {seed} --faults {}{}",
                args.size,
                args.seconds,
                names.join(","),
                if args.netns { " --netns" } else { "" }
            );
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
