//! Shared by the recovery tests (`recover_offline.rs`, `recover_online.rs`):
//! clusters with or without client and peer TLS, running `cairnctl recover`
//! with the right TLS flags, re-growing with `--join`, and checking that a
//! watcher from the old cluster sees a compaction.

#![allow(dead_code)] // each test file uses a different part

use std::process::{Command, Output};
use std::time::Duration;

use cairn_harness::tls::TlsFiles;
use cairn_harness::{cairn_bin, cairnctl_bin, Cluster, ClusterSpec};

pub const DEADLINE: Duration = Duration::from_secs(90);

/// Plain text or TLS on both the client and the peer port (client-cert auth).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Security {
    Plain,
    Tls,
}

/// A started cluster of `size` Cairn members and what keeps its certificates.
pub struct TestCluster {
    pub cluster: Cluster,
    _certs: Option<tempfile::TempDir>,
}

impl TestCluster {
    pub async fn start(size: usize, security: Security) -> TestCluster {
        TestCluster::start_with_env(size, security, &[]).await
    }

    /// As `start`, with these environment variables set for every member.
    pub async fn start_with_env(
        size: usize,
        security: Security,
        env: &[(&str, &str)],
    ) -> TestCluster {
        let mut spec = ClusterSpec::new(cairn_bin(), size);
        for (key, value) in env {
            spec = spec.env(*key, *value);
        }
        let mut certs = None;
        if security == Security::Tls {
            let dir = tempfile::tempdir().expect("temp dir");
            let files = TlsFiles::generate(dir.path(), "recovery").expect("test certificates");
            spec = spec.tls(files);
            certs = Some(dir);
        }
        let cluster = Cluster::start(spec).await.expect("cluster starts");
        TestCluster {
            cluster,
            _certs: certs,
        }
    }
}

/// Puts `<prefix>000`, `<prefix>001`, ... (`count` keys, values `v<n>`)
/// through `client`; returns the revision of the last one.
pub async fn put_keys(client: &mut cairn_harness::Client, prefix: &str, count: usize) -> i64 {
    let mut last = 0;
    for n in 0..count {
        let r = client
            .put(format!("{prefix}{n:03}"), format!("v{n}"))
            .await
            .expect("put");
        last = r.header.map(|h| h.revision).unwrap_or(0);
    }
    last
}

/// `cairnctl [TLS flags] <args>`.
pub fn cairnctl(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(cairnctl_bin())
        .args(cluster.cli_tls_args())
        .args(args)
        .output()
        .expect("run cairnctl")
}

/// `cairnctl --endpoints <endpoints> recover <extra>`.
pub fn recover_online(cluster: &Cluster, endpoints: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--endpoints", endpoints, "recover"];
    args.extend_from_slice(extra);
    cairnctl(cluster, &args)
}

/// stdout and stderr of a command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Two fresh members join through member `through`'s client URL; then three
/// healthy voters hold the `keys` keys plus one written afterwards.
pub async fn join_two_and_check(
    cluster: &mut Cluster,
    through: usize,
    names: &[&str],
    keys: usize,
) {
    let ep = cluster.endpoint(through);
    let mut c = cluster.client(through).await.expect("client");
    let joiners: Vec<usize> = names
        .iter()
        .map(|name| {
            let i = cluster.add_joining_member(name).expect("slot");
            cluster
                .set_member_args(i, vec!["--join".into(), ep.clone()])
                .expect("args");
            cluster.start_member(i).expect("start");
            i
        })
        .collect();
    for &i in &joiners {
        cluster.wait_healthy(i, DEADLINE).await.expect("joined");
    }
    c.wait_for_started_voters(3, DEADLINE)
        .await
        .expect("three started voters");
    c.put("after", "recovery").await.expect("write");
    for &i in &joiners {
        let mut cj = cluster.client(i).await.expect("client");
        let all = cj.get_all(false).await.expect("read");
        assert_eq!(all.kvs.len(), keys + 1);
    }
}

/// The killed members come back on their old data: each stops with the
/// "superseded" message, and its data dir is untouched.
pub async fn assert_fenced(cluster: &mut Cluster, members: &[usize]) {
    for &i in members {
        cluster
            .restart_expecting_fenced(i, DEADLINE)
            .await
            .expect("an old member is fenced");
    }
}

/// A watcher resuming from a revision of the old cluster gets a compaction
/// (cancelled with the bumped compact revision), not a silent gap.
pub async fn assert_old_watch_compacted(
    client: &cairn_harness::Client,
    old_rev: i64,
    compact: i64,
) {
    use cairn_proto::etcdserverpb::watch_request::RequestUnion;
    use cairn_proto::etcdserverpb::{WatchCreateRequest, WatchRequest};
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: vec![0],
            range_end: vec![0],
            start_revision: old_rev + 1,
            ..Default::default()
        })),
    })
    .await
    .expect("queued");
    let mut stream = client
        .watch
        .clone()
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let created = stream.message().await.expect("created").expect("created");
    assert!(created.created);
    let cancel = tokio::time::timeout(DEADLINE, stream.message())
        .await
        .expect("an answer")
        .expect("stream")
        .expect("message");
    assert!(cancel.canceled, "{cancel:?}");
    assert_eq!(cancel.compact_revision, compact);
}
