//! Differential conformance of the Watch and Lease services over gRPC: the
//! same script runs against a 1-member real etcd 3.5.1 and against Cairn, and
//! every response must be identical except the header's cluster_id, member_id
//! and raft_term (and a lease's remaining TTL, which is checked to be within
//! one second of its granted TTL rather than compared).
//!
//! The script covers history from a start revision, prev_kv, prefix and
//! `>= key` ranges, NOPUT/NODELETE filters, live events of puts, deletes and
//! txns, a start revision below and at the compaction point, client-chosen and
//! duplicate watch IDs, an empty range, cancel and progress requests; lease
//! grant (chosen ID, minimum TTL, too large TTL, duplicate ID), attach, keys,
//! keep-alive (live and unknown), list, revoke deleting its keys in one
//! revision, and a put with an unknown lease; a watch stream whose client
//! half-closes it keeps delivering events.

use std::time::Duration;

use cairn_harness::{etcd_bin, server_binary, Client, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::watch_create_request::FilterType;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{
    request_op, CompactionRequest, DeleteRangeRequest, LeaseGrantRequest, LeaseKeepAliveRequest,
    LeaseLeasesRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest, PutRequest, RequestOp,
    ResponseHeader, TxnRequest, WatchCancelRequest, WatchCreateRequest, WatchProgressRequest,
    WatchRequest, WatchResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

fn clean(header: &mut Option<ResponseHeader>) {
    if let Some(h) = header.as_mut() {
        h.cluster_id = 0;
        h.member_id = 0;
        h.raft_term = 0;
    }
}

/// Responses whose header `clean` can reach.
trait Headed {
    fn header_mut(&mut self) -> &mut Option<ResponseHeader>;
}

macro_rules! headed {
    ($($t:ty),*) => {
        $(impl Headed for $t {
            fn header_mut(&mut self) -> &mut Option<ResponseHeader> {
                &mut self.header
            }
        })*
    };
}

headed!(
    cairn_proto::etcdserverpb::LeaseGrantResponse,
    cairn_proto::etcdserverpb::LeaseRevokeResponse,
    cairn_proto::etcdserverpb::LeaseTimeToLiveResponse
);

fn cleaned<T: Headed>(r: tonic::Response<T>) -> tonic::Response<T> {
    let mut r = r.into_inner();
    clean(r.header_mut());
    tonic::Response::new(r)
}

fn render<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> String {
    match r {
        Ok(r) => format!("{:?}", r.into_inner()),
        Err(s) => format!("error {:?}: {}", s.code(), s.message()),
    }
}

fn put(key: &str, value: &str, lease: i64) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        lease,
        ..Default::default()
    }
}

fn create(f: impl FnOnce(&mut WatchCreateRequest)) -> WatchRequest {
    let mut c = WatchCreateRequest::default();
    f(&mut c);
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(c)),
    }
}

/// One watch stream: requests go in through `tx`, responses are collected.
struct Stream {
    tx: mpsc::Sender<WatchRequest>,
    rx: tonic::Streaming<WatchResponse>,
}

impl Stream {
    /// Opens a stream with its first request (etcd answers the call only
    /// once it has a first response to send).
    async fn open(client: &Client, first: WatchRequest) -> Stream {
        let (tx, rx) = mpsc::channel(16);
        tx.send(first).await.expect("first watch request queued");
        let resp = client
            .watch
            .clone()
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch stream opens");
        Stream {
            tx,
            rx: resp.into_inner(),
        }
    }

    async fn send(&self, req: WatchRequest) {
        self.tx.send(req).await.expect("watch request sent");
    }

    /// Reads exactly `n` responses (a missing one fails after 10 s).
    async fn read(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let next = tokio::time::timeout(Duration::from_secs(10), self.rx.message()).await;
            match next {
                Ok(Ok(Some(mut r))) => {
                    clean(&mut r.header);
                    out.push(format!("{r:?}"));
                }
                Ok(Ok(None)) => out.push("stream ended".into()),
                Ok(Err(s)) => out.push(format!("error {:?}: {}", s.code(), s.message())),
                Err(_) => {
                    out.push("no response within 10 s".into());
                    break;
                }
            }
        }
        out
    }

    /// Like [`Stream::read`], sorted: etcd sends one revision's responses for
    /// several watchers of a stream in no fixed order.
    async fn read_sorted(&mut self, n: usize) -> Vec<String> {
        let mut lines = self.read(n).await;
        lines.sort();
        lines
    }

    /// Sends no more requests: the client half-closes the stream (dropping
    /// the only sender ends the request stream).
    fn half_close(&mut self) {
        let (closed, _) = mpsc::channel(1);
        self.tx = closed;
    }

    /// Asserts nothing more arrives for a moment (nothing unexpected was sent).
    async fn quiet(&mut self) -> Vec<String> {
        match tokio::time::timeout(Duration::from_millis(300), self.rx.message()).await {
            Err(_) => Vec::new(),
            Ok(other) => vec![format!("unexpected: {other:?}")],
        }
    }
}

async fn script(cluster: &Cluster) -> Vec<String> {
    let c = cluster.client(0).await.expect("client");
    let (mut kv, mut lease) = (c.kv.clone(), c.lease.clone());
    let mut out: Vec<String> = Vec::new();
    let mut log = |label: &str, lines: Vec<String>| {
        for line in lines {
            out.push(format!("{label}: {line}"));
        }
    };

    // History: revisions 2..=7.
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3")] {
        let mut r = kv.put(put(k, v, 0)).await.map(|r| r.into_inner());
        if let Ok(r) = r.as_mut() {
            clean(&mut r.header);
        }
        log("put", vec![format!("{r:?}")]);
    }
    kv.delete_range(DeleteRangeRequest {
        key: b"b".to_vec(),
        ..Default::default()
    })
    .await
    .expect("delete");
    let txn = TxnRequest {
        success: vec![
            RequestOp {
                request: Some(request_op::Request::RequestPut(put("c", "4", 0))),
            },
            RequestOp {
                request: Some(request_op::Request::RequestDeleteRange(
                    DeleteRangeRequest {
                        key: b"a".to_vec(),
                        ..Default::default()
                    },
                )),
            },
        ],
        ..Default::default()
    };
    kv.txn(txn.clone()).await.expect("txn");
    kv.put(put("d", "5", 0)).await.expect("put");

    // Watchers over the history.
    let mut s = Stream::open(
        &c,
        create(|w| {
            w.key = b"a".to_vec();
            w.range_end = vec![0];
            w.start_revision = 1;
            w.prev_kv = true;
        }),
    )
    .await;
    log("history >=a prev_kv", s.read(2).await);
    s.send(create(|w| {
        w.key = b"a".to_vec();
        w.range_end = b"c".to_vec();
        w.start_revision = 3;
        w.filters = vec![FilterType::Noput as i32];
    }))
    .await;
    log("history [a,c) NOPUT from 3", s.read(2).await);
    s.send(create(|w| {
        w.key = b"c".to_vec();
        w.start_revision = 2;
        w.filters = vec![FilterType::Nodelete as i32];
        w.watch_id = 42;
    }))
    .await;
    log("history c NODELETE id 42", s.read(2).await);
    s.send(create(|w| {
        w.key = b"x".to_vec();
        w.watch_id = 42;
    }))
    .await;
    log("duplicate id", s.read(1).await);
    s.send(create(|w| {
        w.key = b"x".to_vec();
        w.range_end = b"a".to_vec();
    }))
    .await;
    log("empty range", s.read(1).await);
    s.send(WatchRequest {
        request_union: Some(RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id: 42,
        })),
    })
    .await;
    log("cancel 42", s.read(1).await);
    s.send(WatchRequest {
        request_union: Some(RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id: 77,
        })),
    })
    .await;
    s.send(WatchRequest {
        request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
    })
    .await;
    log("cancel unknown, then progress", s.read(1).await);

    // Live events on the remaining watchers (ids 0 and 1) and a new one.
    s.send(create(|w| {
        w.key = b"l".to_vec();
        w.range_end = b"m".to_vec();
        w.prev_kv = true;
    }))
    .await;
    log("live create", s.read(1).await);
    kv.put(put("l1", "x", 0)).await.expect("put");
    kv.put(put("l1", "y", 0)).await.expect("put");
    kv.txn(TxnRequest {
        success: vec![
            RequestOp {
                request: Some(request_op::Request::RequestPut(put("l2", "z", 0))),
            },
            RequestOp {
                request: Some(request_op::Request::RequestDeleteRange(
                    DeleteRangeRequest {
                        key: b"l1".to_vec(),
                        ..Default::default()
                    },
                )),
            },
            RequestOp {
                request: Some(request_op::Request::RequestPut(put("b", "again", 0))),
            },
        ],
        ..Default::default()
    })
    .await
    .expect("txn");
    // ids 0 (>=a, sees all three) and 2 (l..m) see them; id 1 sees none (b is a put).
    log("live events", s.read_sorted(6).await);
    log("nothing more", s.quiet().await);

    // Leases.
    log(
        "grant chosen id",
        vec![render(
            lease
                .lease_grant(LeaseGrantRequest { ttl: 60, id: 1000 })
                .await
                .map(cleaned),
        )],
    );
    log(
        "grant duplicate id",
        vec![render(
            lease
                .lease_grant(LeaseGrantRequest { ttl: 60, id: 1000 })
                .await,
        )],
    );
    log(
        "grant below minimum ttl",
        vec![render(
            lease
                .lease_grant(LeaseGrantRequest { ttl: 1, id: 2000 })
                .await
                .map(cleaned),
        )],
    );
    log(
        "revoke minimum-ttl lease",
        vec![render(
            lease
                .lease_revoke(LeaseRevokeRequest { id: 2000 })
                .await
                .map(cleaned),
        )],
    );
    log(
        "grant too large ttl",
        vec![render(
            lease
                .lease_grant(LeaseGrantRequest {
                    ttl: 9_000_000_001,
                    id: 3000,
                })
                .await,
        )],
    );
    log(
        "put unknown lease",
        vec![render(kv.put(put("k", "v", 4242)).await)],
    );
    for key in ["lk1", "lk2"] {
        kv.put(put(key, "leased", 1000)).await.expect("leased put");
    }
    // Watchers 0 (>=a) and 2 ([l,m)) see both puts.
    log("leased puts", s.read_sorted(4).await);
    let ttl = lease
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: 1000,
            keys: true,
        })
        .await
        .map(|r| r.into_inner());
    log(
        "timetolive",
        vec![match ttl {
            Ok(mut r) => {
                let remaining_ok = (59..=60).contains(&r.ttl);
                r.ttl = 0;
                // etcd lists a lease's keys from a Go map, so their order is
                // random; only the set is part of the contract.
                r.keys.sort_unstable();
                clean(&mut r.header);
                format!("remaining within a second of 60: {remaining_ok}; {r:?}")
            }
            Err(s) => format!("error {:?}: {}", s.code(), s.message()),
        }],
    );
    log(
        "timetolive unknown",
        vec![render(
            lease
                .lease_time_to_live(LeaseTimeToLiveRequest { id: 5, keys: true })
                .await
                .map(cleaned),
        )],
    );
    let leases = lease
        .lease_leases(LeaseLeasesRequest {})
        .await
        .map(|r| {
            let mut ids: Vec<i64> = r.into_inner().leases.iter().map(|l| l.id).collect();
            ids.sort_unstable();
            ids
        })
        .map_err(|s| s.message().to_string());
    log("leases", vec![format!("{leases:?}")]);
    {
        let (tx, rx) = mpsc::channel(4);
        tx.send(LeaseKeepAliveRequest { id: 1000 })
            .await
            .expect("queued");
        let mut replies = lease
            .lease_keep_alive(ReceiverStream::new(rx))
            .await
            .expect("keep-alive stream")
            .into_inner();
        for id in [1000, 6] {
            if id != 1000 {
                tx.send(LeaseKeepAliveRequest { id }).await.expect("send");
            }
            let reply = tokio::time::timeout(Duration::from_secs(10), replies.message()).await;
            log(
                "keep-alive",
                vec![match reply {
                    Ok(Ok(Some(mut r))) => {
                        clean(&mut r.header);
                        format!("{r:?}")
                    }
                    other => format!("{other:?}"),
                }],
            );
        }
    }

    // Revoking deletes both keys in one revision: watchers 0 and 2 see it.
    log(
        "revoke",
        vec![render(
            lease
                .lease_revoke(LeaseRevokeRequest { id: 1000 })
                .await
                .map(cleaned),
        )],
    );
    log("revoke events", s.read_sorted(2).await);
    log(
        "revoke again",
        vec![render(
            lease.lease_revoke(LeaseRevokeRequest { id: 1000 }).await,
        )],
    );

    // Compaction: a start revision below it is cancelled with the compact
    // revision; one at it is served from what survived.
    kv.compact(CompactionRequest {
        revision: 6,
        physical: true,
    })
    .await
    .expect("compact");
    let mut s2 = Stream::open(
        &c,
        create(|w| {
            w.key = b"a".to_vec();
            w.range_end = vec![0];
            w.start_revision = 5;
        }),
    )
    .await;
    log("compacted start", s2.read(2).await);
    s2.send(create(|w| {
        w.key = b"a".to_vec();
        w.range_end = vec![0];
        w.start_revision = 6;
    }))
    .await;
    log("start at compaction", s2.read(2).await);
    log("nothing more", s2.quiet().await);

    // A client that sends its one request and half-closes (as grpcurl
    // does): etcd keeps the watch going until the client goes away.
    let mut s3 = Stream::open(
        &c,
        create(|w| {
            w.key = b"h".to_vec();
        }),
    )
    .await;
    log("create, then half-close", s3.read(1).await);
    s3.half_close();
    log("half-closed stream stays open", s3.quiet().await);
    kv.put(put("h", "after half-close", 0)).await.expect("put");
    log("event on the half-closed stream", s3.read(1).await);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_and_lease_answers_match_etcd() {
    let expected = {
        let etcd = Cluster::start(ClusterSpec::new(etcd_bin(), 1))
            .await
            .expect("etcd starts");
        script(&etcd).await
    };
    let got = {
        let cairn = Cluster::start(ClusterSpec::new(server_binary(), 1))
            .await
            .expect("cairn starts");
        script(&cairn).await
    };
    let dir = cairn_harness::binaries::workspace_root().join("test-artifacts/watch_lease");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("etcd.txt"), expected.join("\n"));
        let _ = std::fs::write(dir.join("cairn.txt"), got.join("\n"));
    }
    let mut report = String::new();
    for i in 0..expected.len().max(got.len()) {
        let (e, g) = (expected.get(i), got.get(i));
        if e != g {
            report.push_str(&format!("--- line {i}\n  etcd:  {e:?}\n  cairn: {g:?}\n"));
        }
    }
    assert!(
        report.is_empty(),
        "Watch/Lease answers differ from etcd 3.5.1:\n{report}\nfull etcd transcript:\n{}",
        expected.join("\n")
    );
    // The script really exercised the services.
    assert!(expected.iter().any(|l| l.contains("compact_revision: 6")));
    assert!(
        expected
            .iter()
            .filter(|l| l.contains("events: [Event"))
            .count()
            >= 6
    );
}
