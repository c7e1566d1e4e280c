//! `etcdctl snapshot save` against Cairn produces a real etcd snapshot file:
//! `etcdutl snapshot status` accepts it with the right revision, `etcdutl
//! snapshot restore` turns it into an etcd data dir, and a real etcd started on
//! that dir serves exactly the keys Cairn served. The snapshot is also taken
//! from a lone surviving member (no quorum), as the quorum-loss runbook needs.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cairn_harness::ports::free_ports;
use cairn_harness::{cairn_bin, etcd_bin, etcdctl_bin, etcdutl_bin, Cluster, ClusterSpec};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn etcdctl(endpoint: &str, args: &[&str]) -> String {
    let out = run(Command::new(etcdctl_bin())
        .arg("--endpoints")
        .arg(endpoint)
        .args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn snapshot_revision(file: &Path) -> i64 {
    let out = run(Command::new(etcdutl_bin())
        .args(["snapshot", "status", "-w", "json"])
        .arg(file));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    v["revision"].as_i64().expect("revision in status")
}

/// Kills the process when dropped (even when the test fails).
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Restores `file` with etcdutl, starts a real etcd on it and returns `get --prefix ""`.
fn restore_into_etcd(file: &Path, dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    let data = dir.join("restored.etcd");
    run(Command::new(etcdutl_bin())
        .args(["snapshot", "restore"])
        .arg(file)
        .arg("--data-dir")
        .arg(&data));
    let ports = free_ports(2).expect("ports");
    let client = format!("http://127.0.0.1:{}", ports[0]);
    let peer = format!("http://127.0.0.1:{}", ports[1]);
    let log = std::fs::File::create(dir.join("restored-etcd.log")).expect("log file");
    let _etcd = Child(
        Command::new(etcd_bin())
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args(["--listen-peer-urls", &peer])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(etcdctl_bin())
            .args(["--endpoints", &client, "get", "--prefix", ""])
            .output()
            .expect("etcdctl");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "restored etcd never served: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_snapshot_restores_into_real_etcd_even_without_quorum() {
    let mut cluster = Cluster::start(ClusterSpec::new(cairn_bin(), 3))
        .await
        .expect("3-member cairn cluster starts");
    let ep = cluster.endpoint(0);
    for i in 0..50 {
        etcdctl(&ep, &["put", &format!("key{i:02}"), &format!("value-{i}")]);
    }
    etcdctl(&ep, &["put", "big", &"x".repeat(20_000)]);
    etcdctl(&ep, &["del", "key07"]);
    etcdctl(&ep, &["compaction", "10"]);
    let expected = etcdctl(&ep, &["get", "--prefix", ""]);
    let revision: i64 = {
        let v: serde_json::Value =
            serde_json::from_str(&etcdctl(&ep, &["get", "big", "-w", "json"])).expect("json");
        v["header"]["revision"].as_i64().expect("revision")
    };
    let dir = tempfile::tempdir().expect("temp dir");

    let with_quorum = dir.path().join("with-quorum.db");
    etcdctl(
        &ep,
        &[
            "snapshot",
            "save",
            with_quorum.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(snapshot_revision(&with_quorum), revision);
    assert_eq!(
        restore_into_etcd(&with_quorum, &dir.path().join("a")),
        expected
    );

    // Lose quorum: only member 2 is left. Its snapshot still works.
    cluster.kill(0).expect("kill member 0");
    cluster.kill(1).expect("kill member 1");
    let lone = dir.path().join("no-quorum.db");
    etcdctl(
        &cluster.endpoint(2),
        &["snapshot", "save", lone.to_str().expect("utf-8 path")],
    );
    assert_eq!(snapshot_revision(&lone), revision);
    assert_eq!(restore_into_etcd(&lone, &dir.path().join("b")), expected);
}
