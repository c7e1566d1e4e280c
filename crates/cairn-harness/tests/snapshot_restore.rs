//! Snapshots from real etcd (3.5.1 from PyPI, 3.4.23 from Debian) restored into
//! Cairn with `cairnctl snapshot restore`: the Cairn member serves identical
//! keys, values, create/mod revisions, versions, lease attachments and compaction
//! point, and holds the same leases. `cairnctl snapshot status` prints what
//! `etcdutl snapshot status` prints. `--bump-revision/--mark-compacted` move the
//! revision forward and make older revisions compacted. Damaged files and
//! non-empty data dirs are refused without creating or changing anything. And
//! `cairn --force-new-cluster` turns one member of a stopped 3-member cluster
//! into a one-member cluster with all data; the other members, restarted on
//! their old data, are told their cluster was superseded and stop untouched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cairn_harness::{
    cairn_bin, cairnctl_bin, etcd_bin, etcdctl_bin, etcdutl_bin, Cluster, ClusterSpec,
};

const DEADLINE: Duration = Duration::from_secs(60);

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn etcdctl(endpoint: &str, args: &[&str]) -> String {
    stdout(&run(Command::new(etcdctl_bin())
        .args(["--endpoints", endpoint])
        .args(args)))
}

/// Every key with everything etcd keeps about it, and the header revision.
fn dump(endpoint: &str) -> (serde_json::Value, i64) {
    let v: serde_json::Value =
        serde_json::from_str(&etcdctl(endpoint, &["get", "", "--prefix", "-w", "json"]))
            .expect("json");
    let revision = v["header"]["revision"].as_i64().expect("revision");
    (v["kvs"].clone(), revision)
}

/// Writes data with overwrites, deletions, leases and a compaction.
fn load(endpoint: &str) -> i64 {
    for n in 0..40 {
        etcdctl(endpoint, &["put", &format!("k{n:02}"), &format!("v{n}")]);
    }
    for n in 0..10 {
        etcdctl(
            endpoint,
            &["put", &format!("k{n:02}"), &format!("again{n}")],
        );
    }
    etcdctl(endpoint, &["del", "k3", "--prefix"]);
    let lease = etcdctl(endpoint, &["lease", "grant", "3000"]);
    let id = lease
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    etcdctl(endpoint, &["put", "leased", "x", "--lease", &id]);
    etcdctl(endpoint, &["lease", "grant", "600"]);
    etcdctl(endpoint, &["compaction", "20"]);
    etcdctl(endpoint, &["put", "after-compaction", &"y".repeat(5000)]);
    20
}

fn leases_in(file: &Path) -> Vec<(i64, i64)> {
    let bytes = std::fs::read(file).expect("read snapshot");
    let db = cairn_snapshot::verify(&bytes, false).expect("valid snapshot");
    let mut leases = cairn_snapshot::read_etcd(db).expect("etcd schema").leases;
    leases.sort();
    leases
}

fn cairnctl(args: &[&str]) -> Output {
    Command::new(cairnctl_bin())
        .args(args)
        .output()
        .expect("run cairnctl")
}

/// Restores `file` into member 0 of a fresh one-member Cairn cluster and starts it.
async fn restore_into_cairn(file: &Path, extra: &[&str]) -> Cluster {
    let mut cluster = Cluster::start(ClusterSpec::new(cairn_bin(), 1))
        .await
        .expect("cairn member");
    cluster.stop(0).await.expect("stop");
    let data = cluster.data_dir(0).to_path_buf();
    std::fs::remove_dir_all(&data).expect("remove data dir");
    let peer = cluster.peer_url(0);
    let ic = format!("m0={peer}");
    let mut args = vec![
        "snapshot",
        "restore",
        file.to_str().expect("utf-8"),
        "--name",
        "m0",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--initial-cluster",
        &ic,
        "--initial-advertise-peer-urls",
        &peer,
    ];
    args.extend_from_slice(extra);
    let out = cairnctl(&args);
    assert!(
        out.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.start_member(0).expect("start restored member");
    cluster
        .wait_healthy(0, DEADLINE)
        .await
        .expect("restored member healthy");
    cluster
}

async fn etcd_snapshot_restores_into_cairn(etcd: PathBuf, etcdctl_for_save: PathBuf) {
    let source = Cluster::start(ClusterSpec::new(etcd, 1))
        .await
        .expect("etcd member");
    let ep = source.endpoint(0);
    let compacted_at = load(&ep);
    let (kvs, revision) = dump(&ep);
    let file = source.dir().join("etcd.db");
    run(Command::new(etcdctl_for_save)
        .args(["--endpoints", &ep, "snapshot", "save"])
        .arg(&file));

    // `snapshot status` agrees with etcdutl's in every format.
    for format in ["simple", "json", "table"] {
        let theirs = run(Command::new(etcdutl_bin())
            .args(["snapshot", "status", "-w", format])
            .arg(&file));
        let ours = cairnctl(&[
            "snapshot",
            "status",
            "-w",
            format,
            file.to_str().expect("utf-8"),
        ]);
        assert!(ours.status.success());
        assert_eq!(
            stdout(&ours),
            stdout(&theirs),
            "snapshot status -w {format}"
        );
    }

    let cairn = restore_into_cairn(&file, &[]).await;
    let cep = cairn.endpoint(0);
    let (restored, restored_revision) = dump(&cep);
    assert_eq!(
        restored, kvs,
        "keys, values, revisions, versions and leases"
    );
    assert_eq!(restored_revision, revision);
    let old = Command::new(etcdctl_bin())
        .args([
            "--endpoints",
            &cep,
            "get",
            "k00",
            "--rev",
            &(compacted_at - 1).to_string(),
        ])
        .output()
        .expect("etcdctl");
    assert!(String::from_utf8_lossy(&old.stderr).contains("required revision has been compacted"));

    // The leases came along: a snapshot of the Cairn member holds the same ones.
    let back = cairn.dir().join("back.db");
    let out = cairnctl(&[
        "--endpoints",
        &cep,
        "snapshot",
        "save",
        back.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leases_in(&back), leases_in(&file));
    assert_eq!(leases_in(&file).len(), 2);

    // Writes continue from the restored revision.
    let put: serde_json::Value =
        serde_json::from_str(&etcdctl(&cep, &["put", "new", "1", "-w", "json"])).expect("json");
    assert_eq!(put["header"]["revision"].as_i64(), Some(revision + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_3_5_snapshot_restores_into_cairn() {
    etcd_snapshot_restores_into_cairn(etcd_bin(), etcdctl_bin()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_3_4_snapshot_restores_into_cairn() {
    let dir = std::env::var("CAIRN_ETCD34_BIN_DIR").unwrap_or_else(|_| {
        panic!("CAIRN_ETCD34_BIN_DIR is not set: install Debian's etcd-server and etcd-client (scripts/test does) and point it at /usr/bin")
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("etcd").exists(),
        "{}/etcd missing: apt-get install etcd-server",
        dir.display()
    );
    etcd_snapshot_restores_into_cairn(dir.join("etcd"), dir.join("etcdctl")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bump_revision_and_mark_compacted() {
    let source = Cluster::start(ClusterSpec::new(cairn_bin(), 1))
        .await
        .expect("cairn member");
    let ep = source.endpoint(0);
    for n in 0..5 {
        etcdctl(&ep, &["put", &format!("k{n}"), "v"]);
    }
    let (kvs, revision) = dump(&ep);
    let file = source.dir().join("s.db");
    etcdctl(&ep, &["snapshot", "save", file.to_str().expect("utf-8")]);

    let out = cairnctl(&[
        "snapshot",
        "restore",
        file.to_str().expect("utf-8"),
        "--mark-compacted",
        "--data-dir",
        source.dir().join("never").to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success(), "--mark-compacted alone is refused");
    assert!(!source.dir().join("never").exists());

    let cairn = restore_into_cairn(&file, &["--bump-revision", "1000", "--mark-compacted"]).await;
    let cep = cairn.endpoint(0);
    let (restored, restored_revision) = dump(&cep);
    assert_eq!(restored, kvs);
    assert_eq!(restored_revision, revision + 1000);
    let old = Command::new(etcdctl_bin())
        .args([
            "--endpoints",
            &cep,
            "get",
            "k0",
            "--rev",
            &revision.to_string(),
        ])
        .output()
        .expect("etcdctl");
    assert!(
        String::from_utf8_lossy(&old.stderr).contains("required revision has been compacted"),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
    let put: serde_json::Value =
        serde_json::from_str(&etcdctl(&cep, &["put", "new", "1", "-w", "json"])).expect("json");
    assert_eq!(put["header"]["revision"].as_i64(), Some(revision + 1001));
}

/// A one-member Cairn cluster holding `k` = `v`, and a snapshot of it saved
/// with etcdctl in the cluster's directory (kept while the cluster lives).
async fn one_key_snapshot() -> (Cluster, PathBuf) {
    let source = Cluster::start(ClusterSpec::new(cairn_bin(), 1))
        .await
        .expect("cairn member");
    let ep = source.endpoint(0);
    etcdctl(&ep, &["put", "k", "v"]);
    let file = source.dir().join("one-key.db");
    etcdctl(&ep, &["snapshot", "save", file.to_str().expect("utf-8")]);
    (source, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_snapshots_and_non_empty_dirs_are_refused() {
    let (_source, good) = one_key_snapshot().await;
    let bytes = std::fs::read(&good).expect("read");
    let work = tempfile::tempdir().expect("tempdir");

    let truncated = work.path().join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let flipped = work.path().join("flipped.db");
    let mut f = bytes.clone();
    f[bytes.len() / 3] ^= 0x40;
    std::fs::write(&flipped, &f).expect("write");
    let garbage = work.path().join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a bbolt file at all, just some text".repeat(200),
    )
    .expect("write");

    for file in [&truncated, &flipped, &garbage] {
        let target = work.path().join("restored");
        let out = cairnctl(&[
            "snapshot",
            "restore",
            file.to_str().expect("utf-8"),
            "--data-dir",
            target.to_str().expect("utf-8"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} was accepted", file.display());
        assert!(stderr.contains("Error:"), "{stderr}");
        if file == &flipped {
            // The hash is checked while the data dir is built; its error
            // wins over whatever else the damage caused, as with etcdutl.
            assert!(stderr.contains("expected sha256 ["), "{stderr}");
        }
        assert!(
            !target.exists(),
            "a refused restore created {}",
            target.display()
        );
        let names: Vec<String> = std::fs::read_dir(work.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| n.ends_with(".db")),
            "left behind: {names:?}"
        );
        // `status` does not check the hash (neither does etcdutl's), but it
        // cannot read a truncated or non-bbolt file.
        if file != &flipped {
            let status = cairnctl(&["snapshot", "status", file.to_str().expect("utf-8")]);
            assert!(
                !status.status.success(),
                "status accepted {}",
                file.display()
            );
        }
    }

    // A non-empty data dir is refused and left as it was.
    let busy = work.path().join("busy");
    std::fs::create_dir_all(busy.join("member")).expect("mkdir");
    std::fs::write(busy.join("member").join("precious"), b"keep me").expect("write");
    let before = cairn_harness::files::tree_digest(&busy);
    let out = cairnctl(&[
        "snapshot",
        "restore",
        good.to_str().expect("utf-8"),
        "--data-dir",
        busy.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cairn_harness::files::tree_digest(&busy), before);
}

/// Runs `program args` with a pseudo-terminal as its stdin, stdout and stderr
/// (Python's `pty`, as Python 3 is part of the test setup) and returns its
/// exit code and what it wrote, or `None` if it has not finished by `deadline`
/// (it is then killed: closing the terminal hangs it up).
fn run_on_a_terminal(program: &Path, args: &[&str], deadline: Duration) -> Option<(i32, String)> {
    const PTY_RUN: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PTY_RUN)
        .arg(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (part of the test setup) runs");
    let started = std::time::Instant::now();
    while started.elapsed() < deadline {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return Some((
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// On a terminal `snapshot restore` draws a spinner while it works; it used
/// to draw it from a thread of its own, which waited forever for stderr (held
/// by cairnctl for its whole run), so the command never ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_on_a_terminal_finishes() {
    let (source, file) = one_key_snapshot().await;
    let target = source.dir().join("restored");
    let outcome = run_on_a_terminal(
        &cairnctl_bin(),
        &[
            "snapshot",
            "restore",
            file.to_str().expect("utf-8"),
            "--data-dir",
            target.to_str().expect("utf-8"),
        ],
        Duration::from_secs(60),
    );
    let (code, output) = outcome.expect("restore on a terminal did not finish within 60 s");
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("restored snapshot"), "{output}");
    assert!(target.join("member").is_dir(), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_new_cluster_keeps_all_data() {
    let mut cluster = Cluster::start(ClusterSpec::new(cairn_bin(), 3))
        .await
        .expect("three members");
    let ep = cluster.endpoint(0);
    for n in 0..30 {
        etcdctl(&ep, &["put", &format!("k{n:02}"), &format!("v{n}")]);
    }
    let (kvs, revision) = dump(&ep);
    let old_cluster: serde_json::Value =
        serde_json::from_str(&etcdctl(&ep, &["member", "list", "-w", "json"])).expect("json");
    let old_cluster = old_cluster["header"]["cluster_id"]
        .as_u64()
        .expect("cluster id");
    for i in 0..3 {
        cluster.stop(i).await.expect("stop");
    }
    cluster
        .set_member_args(2, vec!["--force-new-cluster".into()])
        .expect("args");
    cluster
        .start_member(2)
        .expect("start with --force-new-cluster");
    cluster.wait_healthy(2, DEADLINE).await.expect("healthy");
    let ep2 = cluster.endpoint(2);
    let members: serde_json::Value =
        serde_json::from_str(&etcdctl(&ep2, &["member", "list", "-w", "json"])).expect("json");
    assert_eq!(members["members"].as_array().map(Vec::len), Some(1));
    assert_ne!(
        members["header"]["cluster_id"].as_u64(),
        Some(old_cluster),
        "a new cluster ID"
    );
    let (restored, restored_revision) = dump(&ep2);
    assert_eq!(restored, kvs);
    assert_eq!(restored_revision, revision);
    etcdctl(&ep2, &["put", "after", "force"]);

    // Fencing: the other two members come back on their old data; member 2
    // tells them their cluster was superseded, so they stop before serving or
    // forming a quorum of the old cluster, and their data dirs stay as they were.
    for i in [0, 1] {
        cluster
            .restart_expecting_fenced(i, DEADLINE)
            .await
            .expect("an old member is fenced");
    }

    // A missing data dir is refused.
    let out = Command::new(cairn_bin())
        .args(["--force-new-cluster", "--data-dir"])
        .arg(cluster.dir().join("no-such-dir"))
        .args([
            "--listen-client-urls",
            "http://127.0.0.1:0",
            "--listen-peer-urls",
            "http://127.0.0.1:0",
        ])
        .output()
        .expect("run cairn");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no member data"));
}
