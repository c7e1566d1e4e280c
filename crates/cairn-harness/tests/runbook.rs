//! The classic etcd quorum-loss runbook (docs/recovery.md), step by step, with
//! real processes: a 3-member cluster holding data loses two members to SIGKILL;
//! a write times out; `snapshot save` against the survivor; the survivor is
//! stopped and its data dir moved aside; `snapshot restore` builds a one-member
//! cluster; it starts, `member list` shows one member and `endpoint health` is
//! healthy with all data; the two others are added back one at a time (retrying
//! as etcd needs) and started with `--initial-cluster-state existing`; three
//! started members hold all data and take writes.
//!
//! Run three ways: Cairn driven by real etcdctl 3.5.1, Cairn driven by cairnctl,
//! and real etcd 3.5.1 driven by etcdctl/etcdutl as the reference.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cairn_harness::{
    cairn_bin, cairnctl_bin, etcd_bin, etcdctl_bin, etcdutl_bin, Cluster, ClusterSpec,
};

const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Server {
    Cairn,
    Etcd,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cli {
    Etcdctl,
    Cairnctl,
}

struct Runbook {
    server: Server,
    cli: Cli,
    cluster: Cluster,
    /// Client TLS flags for the CLI (`--cacert/--cert/--key`), empty without TLS.
    tls: Vec<String>,
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Runbook {
    fn cli_binary(&self) -> PathBuf {
        match self.cli {
            Cli::Etcdctl => etcdctl_bin(),
            Cli::Cairnctl => cairnctl_bin(),
        }
    }

    /// Runs the CLI against member `i` and returns its output (not checked).
    fn try_ctl(&self, i: usize, args: &[&str]) -> Output {
        Command::new(self.cli_binary())
            .arg("--endpoints")
            .arg(self.cluster.endpoint(i))
            .args(&self.tls)
            .args(args)
            .output()
            .expect("run the CLI")
    }

    /// Runs the CLI against member `i`; it must succeed. Returns stdout.
    fn ctl(&self, i: usize, args: &[&str]) -> String {
        let out = self.try_ctl(i, args);
        assert!(
            out.status.success(),
            "{args:?} on member {i}: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The offline restore: `cairnctl snapshot restore` for Cairn, `etcdutl
    /// snapshot restore` for etcd, with the same flags.
    fn restore(&self, snapshot: &Path, i: usize) {
        let peer = self.cluster.peer_url(i);
        let name = self.cluster.name(i).to_string();
        let mut cmd = match self.server {
            Server::Cairn => Command::new(cairnctl_bin()),
            Server::Etcd => Command::new(etcdutl_bin()),
        };
        cmd.args(["snapshot", "restore"])
            .arg(snapshot)
            .args(["--name", &name])
            .arg("--data-dir")
            .arg(self.cluster.data_dir(i))
            .args(["--initial-cluster", &format!("{name}={peer}")])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster-token", "recovered-cluster"]);
        let out = cmd.output().expect("run restore");
        assert!(out.status.success(), "restore: {}", text(&out));
    }

    fn members(&self, i: usize) -> Vec<serde_json::Value> {
        let out = self.ctl(i, &["member", "list", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("member list json");
        v["members"].as_array().cloned().unwrap_or_default()
    }

    /// `member add`, retried while etcd says the cluster is not ready for it yet
    /// (the runbook's "retry until the previous member has started").
    fn member_add(&self, i: usize) -> String {
        let url = format!("--peer-urls={}", self.cluster.peer_url(i));
        let name = self.cluster.name(i).to_string();
        let start = Instant::now();
        loop {
            let out = self.try_ctl(0, &["member", "add", &name, &url]);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let retryable = stderr.contains("not enough started members")
                || stderr.contains("unhealthy cluster");
            assert!(
                retryable && start.elapsed() < DEADLINE,
                "member add {name}: {}",
                text(&out)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Waits until member `i` serves exactly `expected` for a serializable read.
    fn wait_for_data(&self, i: usize, expected: &str) {
        let start = Instant::now();
        loop {
            let out = self.try_ctl(i, &["get", "--prefix", "", "--consistency=s"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout) == expected {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "member {i} never served the recovered data: {}",
                text(&out)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn move_aside(dir: &Path) {
    let aside = dir.with_extension("before-recovery");
    std::fs::rename(dir, &aside).expect("move the data dir aside");
}

async fn runbook(server: Server, cli: Cli) {
    let binary = match server {
        Server::Cairn => cairn_bin(),
        Server::Etcd => etcd_bin(),
    };
    let cluster = Cluster::start(ClusterSpec::new(binary, 3))
        .await
        .expect("start three members");
    let mut rb = Runbook {
        server,
        cli,
        cluster,
        tls: Vec::new(),
    };

    // Data with overwrites and deletions.
    for n in 0..60 {
        rb.ctl(
            n % 3,
            &["put", &format!("/app/key{n:02}"), &format!("v{n}")],
        );
    }
    for n in 0..10 {
        rb.ctl(0, &["put", &format!("/app/key{n:02}"), "overwritten"]);
    }
    rb.ctl(0, &["del", "/app/key5", "--prefix"]);
    let expected = rb.ctl(0, &["get", "--prefix", ""]);
    assert!(expected.contains("overwritten"));

    // Two members die: quorum is lost and writes time out.
    rb.cluster.kill(1).expect("kill member 1");
    rb.cluster.kill(2).expect("kill member 2");
    let out = rb.try_ctl(0, &["put", "/after/loss", "x", "--command-timeout=3s"]);
    assert!(!out.status.success(), "a write without quorum must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("context deadline exceeded") || stderr.contains("request timed out"),
        "{}",
        text(&out)
    );

    // Snapshot the survivor, stop it, move its data dir aside, restore.
    let snapshot = rb.cluster.dir().join("recovery.db");
    let saved = rb.ctl(0, &["snapshot", "save", snapshot.to_str().expect("utf-8")]);
    assert!(saved.contains("Snapshot saved at"), "{saved}");
    rb.cluster.stop(0).await.expect("stop the survivor");
    move_aside(rb.cluster.data_dir(0));
    rb.restore(&snapshot, 0);

    // The restored member starts as a one-member cluster with all data.
    rb.cluster
        .start_member(0)
        .expect("start the restored member");
    rb.cluster
        .wait_healthy(0, DEADLINE)
        .await
        .expect("restored member healthy");
    assert_eq!(rb.members(0).len(), 1, "exactly one member after restore");
    let health = rb.ctl(0, &["endpoint", "health"]);
    assert!(health.contains("is healthy"), "{health}");
    assert_eq!(rb.ctl(0, &["get", "--prefix", ""]), expected);

    // Add the others back one at a time, each with an empty data dir.
    for i in [1, 2] {
        let added = rb.member_add(i);
        let initial_cluster = added
            .lines()
            .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER=\""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("member add printed no ETCD_INITIAL_CLUSTER: {added}"))
            .to_string();
        assert!(
            added.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""),
            "{added}"
        );
        move_aside(rb.cluster.data_dir(i));
        rb.cluster
            .set_join(i, initial_cluster)
            .expect("join settings");
        rb.cluster
            .start_member(i)
            .expect("start the re-added member");
        rb.cluster
            .wait_healthy(i, DEADLINE)
            .await
            .expect("re-added member healthy");
        rb.wait_for_data(i, &expected);
    }

    let members = rb.members(0);
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members
            .iter()
            .all(|m| m["name"].as_str().is_some_and(|n| !n.is_empty())
                && !m["isLearner"].as_bool().unwrap_or(false)),
        "three started voters: {members:?}"
    );
    rb.ctl(2, &["put", "/after/recovery", "ok"]);
    for i in 0..3 {
        let got = rb.ctl(i, &["get", "/after/recovery", "--print-value-only"]);
        assert_eq!(got.trim(), "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_on_cairn_with_etcdctl() {
    runbook(Server::Cairn, Cli::Etcdctl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_on_cairn_with_cairnctl() {
    runbook(Server::Cairn, Cli::Cairnctl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_on_real_etcd() {
    runbook(Server::Etcd, Cli::Etcdctl).await;
}
