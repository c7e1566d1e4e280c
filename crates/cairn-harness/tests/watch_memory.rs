//! A watcher that never reads must not make its member's memory grow with the
//! events it misses. One follower of a 3-member cluster serves a watch stream
//! (on every key) whose client never reads it, while 1,000 txns of 100 puts of
//! 1 KiB values (100,000 events, about 100 MiB) are written. The other
//! follower serves no watcher and applies the same data, so the difference of
//! the two followers' resident memory is what the stalled watcher costs.
//!
//! Bound: that difference stays under 48 MiB. Without a bound the stalled
//! watcher alone would hold the ~100 MiB of events it missed. What bounds it
//! in Cairn: a watcher pulls events itself, at most 8 answers of at most about
//! 1 MiB are queued for a stream, and HTTP/2 flow control stops the rest.

use std::time::Duration;

use cairn_harness::{server_binary, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{
    request_op, PutRequest, RequestOp, TxnRequest, WatchCreateRequest, WatchRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const TXNS: usize = 1_000;
const PUTS_PER_TXN: usize = 100;
const VALUE_BYTES: usize = 1024;
const BOUND_BYTES: u64 = 48 << 20;

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_watcher_does_not_grow_memory() {
    let cluster = Cluster::start(ClusterSpec::new(server_binary(), 3))
        .await
        .expect("cluster starts");
    let leader = cluster
        .wait_for_leader(None, Duration::from_secs(30))
        .await
        .expect("leader");
    let watched = (leader + 1) % 3;
    let unwatched = (leader + 2) % 3;

    // The stalled watcher: created, then never read again.
    let watch_client = cluster.client(watched).await.expect("client");
    let (tx, rx) = mpsc::channel(1);
    tx.send(WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: vec![0],
            range_end: vec![0],
            prev_kv: true,
            ..Default::default()
        })),
    })
    .await
    .expect("queued");
    let mut stream = watch_client
        .watch
        .clone()
        .watch(ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let created = stream.message().await.expect("created").expect("created");
    assert!(created.created);

    let mut writer = cluster.client(leader).await.expect("client");
    let value = vec![b'x'; VALUE_BYTES];
    for t in 0..TXNS {
        let success = (0..PUTS_PER_TXN)
            .map(|p| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: format!("k/{:03}", p + (t % 10) * PUTS_PER_TXN).into_bytes(),
                    value: value.clone(),
                    ..Default::default()
                })),
            })
            .collect();
        writer
            .kv
            .txn(TxnRequest {
                success,
                ..Default::default()
            })
            .await
            .expect("txn");
    }
    // Both followers have applied everything (a linearizable read on each).
    for i in [watched, unwatched] {
        let mut c = cluster.client(i).await.expect("client");
        c.get("k/000").await.expect("linearizable read");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_watched = rss_bytes(cluster.pid(watched).expect("pid"));
    let rss_unwatched = rss_bytes(cluster.pid(unwatched).expect("pid"));
    eprintln!(
        "RSS with a stalled watcher: {} MiB; without: {} MiB",
        rss_watched >> 20,
        rss_unwatched >> 20
    );
    assert!(
        rss_watched < rss_unwatched + BOUND_BYTES,
        "the stalled watcher cost {} MiB (bound {} MiB)",
        (rss_watched.saturating_sub(rss_unwatched)) >> 20,
        BOUND_BYTES >> 20
    );
    // The watcher is still there and delivers what it missed, in order.
    let mut next_rev = 0i64;
    let mut seen = 0usize;
    while seen < 500 {
        let resp = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("events arrive once read")
            .expect("stream healthy")
            .expect("stream open");
        for e in resp.events {
            let rev = e.kv.map_or(0, |kv| kv.mod_revision);
            assert!(rev >= next_rev, "events out of order");
            next_rev = rev;
            seen += 1;
        }
    }
    drop(tx);
}
