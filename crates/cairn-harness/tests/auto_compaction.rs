//! `--auto-compaction-mode periodic --auto-compaction-retention 2s` on a
//! 3-member Cairn cluster and, as the reference, on real etcd 3.5.1: while a
//! client keeps writing, the history older than the retention gets compacted
//! without anyone calling Compact (a read at the first write's revision fails
//! with etcd's "required revision has been compacted"), and the latest value
//! still reads. The schedule itself (which revision, when, only on the
//! leader, the revision mode's 5-minute step) is unit-tested in
//! `crates/cairn-server/src/auto_compaction/tests.rs`.

use std::time::{Duration, Instant};

use cairn_harness::{cairn_bin, etcd_bin, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::RangeRequest;

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_compacts_periodically() {
    history_gets_compacted(ClusterSpec::new(cairn_bin(), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compacts_periodically() {
    history_gets_compacted(ClusterSpec::new(etcd_bin(), 3)).await;
}

async fn history_gets_compacted(spec: ClusterSpec) {
    let spec = spec.extra_args([
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=2s",
    ]);
    let cluster = Cluster::start(spec).await.expect("cluster starts");
    let mut client = cluster.client(0).await.expect("client");
    let first = client
        .put("k", "v0")
        .await
        .expect("put")
        .header
        .expect("header")
        .revision;
    let at_first = RangeRequest {
        key: b"k".to_vec(),
        revision: first,
        ..Default::default()
    };
    let started = Instant::now();
    let mut n = 0;
    let error = loop {
        n += 1;
        client.put("k", format!("v{n}")).await.expect("put");
        if let Err(e) = client.range(at_first.clone()).await {
            break e.to_string();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "revision {first} still readable after {DEADLINE:?} of writes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        error.contains("etcdserver: mvcc: required revision has been compacted"),
        "{error}"
    );
    let latest = client.get("k").await.expect("get");
    assert_eq!(latest.kvs.len(), 1);
    assert_eq!(latest.kvs[0].value, format!("v{n}").into_bytes());
}
