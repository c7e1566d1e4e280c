//! `make-mirror`, cairnctl beside the real etcdctl 3.5.1: both mirror the same
//! source (a Cairn member) at once, each into a destination of its own (a
//! real etcd), and the two destinations must end up identical and as
//! expected: the first copy (more than one page of 1000 keys, renamed by
//! `--dest-prefix`), then puts, deletes and a multi-key txn made while they
//! run, keys outside `--prefix` left out. A revision with more changes than
//! the destination takes in one txn stops both with the same error. The
//! argument errors are compared too.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_harness::{cairn_bin, etcd_bin, Client, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::request_op::Request as Op;
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

/// Keys under the mirrored prefix before the mirrors start: more than a page.
const FIRST_COPY_KEYS: usize = 1205;

fn cairnctl() -> PathBuf {
    match std::env::var_os("CAIRNCTL_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_cairnctl")),
    }
}

fn etcdctl() -> PathBuf {
    cairn_harness::etcdctl_bin()
}

fn tool(bin: &PathBuf, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--endpoints={endpoint}")).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCDCTL_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A mirror process, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mirror(bin: &PathBuf, source: &str, dest: &str) -> Running {
    let child = tool(
        bin,
        source,
        &["make-mirror", "--prefix", "a/", "--dest-prefix", "m/", dest],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start make-mirror");
    Running(child)
}

/// Every key and value under `m/` (and anything else) on a destination.
async fn contents(client: &mut Client) -> Vec<(String, String)> {
    let all = client
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .expect("range");
    all.kvs
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect()
}

/// Waits until `key` holds `value` on both destinations.
async fn wait_for(dests: &mut [Client], key: &str, value: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for dest in dests.iter_mut() {
        loop {
            let got = dest.get(key).await.expect("get");
            if got
                .kvs
                .first()
                .is_some_and(|kv| kv.value == value.as_bytes())
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {key}={value} did not reach {}",
                dest.endpoint()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn put(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_mirror_copies_as_etcdctl_does() {
    let source = Cluster::start(ClusterSpec::new(cairn_bin(), 1))
        .await
        .expect("source member");
    let dest_etcdctl = Cluster::start(ClusterSpec::new(etcd_bin(), 1))
        .await
        .expect("etcd destination for etcdctl");
    let dest_cairnctl = Cluster::start(ClusterSpec::new(etcd_bin(), 1))
        .await
        .expect("etcd destination for cairnctl");
    let src = source.endpoint(0);
    let mut writer = source.client(0).await.expect("source client");
    for i in 0..FIRST_COPY_KEYS {
        writer
            .put(format!("a/{i:05}"), format!("v{i}"))
            .await
            .expect("put");
    }
    writer.put("b/outside", "x").await.expect("put");

    // Argument errors first (nothing is copied by them).
    for args in [
        vec!["make-mirror"],
        vec!["make-mirror", "127.0.0.1:1", "127.0.0.1:2"],
        vec![
            "make-mirror",
            "--dest-prefix",
            "x/",
            "--no-dest-prefix",
            "127.0.0.1:1",
        ],
    ] {
        let etcd: Output = tool(&etcdctl(), &src, &args).output().expect("etcdctl");
        let cairn: Output = tool(&cairnctl(), &src, &args).output().expect("cairnctl");
        assert_eq!(
            (cairn.status.code(), String::from_utf8_lossy(&cairn.stderr)),
            (etcd.status.code(), String::from_utf8_lossy(&etcd.stderr)),
            "{args:?}"
        );
    }

    let mut etcdctl_mirror = start_mirror(&etcdctl(), &src, &dest_etcdctl.endpoint(0));
    let mut cairnctl_mirror = start_mirror(&cairnctl(), &src, &dest_cairnctl.endpoint(0));
    let mut dests = [
        dest_etcdctl.client(0).await.expect("client"),
        dest_cairnctl.client(0).await.expect("client"),
    ];
    let last = format!("m/{:05}", FIRST_COPY_KEYS - 1);
    wait_for(
        &mut dests,
        &last,
        &format!("v{}", FIRST_COPY_KEYS - 1),
        "first copy",
    )
    .await;

    // Changes while they run: one revision each, then a marker.
    writer.put("a/00001", "changed").await.expect("put");
    writer
        .kv
        .delete_range(DeleteRangeRequest {
            key: b"a/00002".to_vec(),
            ..Default::default()
        })
        .await
        .expect("delete");
    writer
        .txn(TxnRequest {
            success: vec![
                put("a/new-1", "n1"),
                put("a/new-2", "n2"),
                RequestOp {
                    request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
                        key: b"a/00003".to_vec(),
                        ..Default::default()
                    })),
                },
            ],
            ..Default::default()
        })
        .await
        .expect("txn");
    writer.put("b/outside-2", "x").await.expect("put");
    writer.put("a/zz-marker", "done").await.expect("put");
    wait_for(&mut dests, "m/zz-marker", "done", "changes").await;

    let from_etcdctl = contents(&mut dests[0]).await;
    let from_cairnctl = contents(&mut dests[1]).await;
    let mut expected: Vec<(String, String)> = (0..FIRST_COPY_KEYS)
        .filter(|i| *i != 2 && *i != 3)
        .map(|i| {
            let value = if i == 1 {
                "changed".to_string()
            } else {
                format!("v{i}")
            };
            (format!("m/{i:05}"), value)
        })
        .collect();
    expected.extend([
        ("m/new-1".to_string(), "n1".to_string()),
        ("m/new-2".to_string(), "n2".to_string()),
        ("m/zz-marker".to_string(), "done".to_string()),
    ]);
    assert_eq!(from_etcdctl, expected, "etcdctl's mirror");
    assert_eq!(from_cairnctl, expected, "cairnctl's mirror");

    // One revision deleting more keys than a txn may hold (--max-txn-ops,
    // 128): the destinations refuse it and both mirrors stop.
    writer
        .kv
        .delete_range(DeleteRangeRequest {
            key: b"a/".to_vec(),
            range_end: b"a0".to_vec(),
            ..Default::default()
        })
        .await
        .expect("delete the prefix");
    let mut ends = Vec::new();
    for (name, mirror) in [
        ("etcdctl", &mut etcdctl_mirror),
        ("cairnctl", &mut cairnctl_mirror),
    ] {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = mirror.0.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "{name}'s mirror kept running");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = mirror.0.stderr.take() {
            use std::io::Read;
            pipe.read_to_string(&mut stderr).expect("stderr");
        }
        let last_line = stderr.lines().last().unwrap_or_default().to_string();
        ends.push((status.code(), last_line));
    }
    assert_eq!(
        ends[1], ends[0],
        "cairnctl's mirror ended differently from etcdctl's"
    );
    assert_eq!(
        ends[0],
        (
            Some(1),
            "Error: etcdserver: too many operations in txn request".to_string()
        )
    );
}
