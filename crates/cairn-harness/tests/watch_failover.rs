//! Watch under leader failures: 100 watchers spread over the 3 members of a
//! Cairn cluster follow the prefix `w/` while 8 clients make 10,000 writes
//! (puts, deletes that may hit nothing, and txns of several changes) and the
//! leader is SIGKILLed and restarted twice. A watcher whose stream breaks
//! reconnects to its member (or the next one) from the revision after the last
//! one it saw, as etcd's clients do.
//!
//! Afterwards every watcher must have seen exactly the committed history of
//! `w/` (read by a fresh watcher from the start revision once writes stop):
//! the same events, each once, in revision order with no gaps; and every
//! acknowledged put must be in that history at its acknowledged revision.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_harness::{server_binary, Client, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{
    request_op, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
    WatchCreateRequest, WatchRequest,
};
use cairn_proto::mvccpb::Event;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const WATCHERS: usize = 100;
const WRITERS: usize = 8;
const WRITES: usize = 10_000;
const KEYS: usize = 300;

/// One event, compactly: its revision and a hash of type, key and value.
type Seen = (i64, u64);

fn digest(event_type: i32, key: &[u8], value: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    (event_type, key, value).hash(&mut h);
    h.finish()
}

fn seen(e: &Event) -> Seen {
    let kv = e.kv.clone().unwrap_or_default();
    (kv.mod_revision, digest(e.r#type, &kv.key, &kv.value))
}

/// Follows `w/` from `start` on `endpoints[home]`, reconnecting (to the next
/// member after a failed connect) whenever the stream breaks, until the
/// watcher has seen revision `*until` (0 = not known yet) or `give_up`.
async fn watcher(
    home: usize,
    endpoints: Vec<String>,
    start: i64,
    until: Arc<AtomicI64>,
    give_up: Arc<AtomicBool>,
) -> (Vec<Seen>, usize) {
    let mut events: Vec<Seen> = Vec::new();
    let mut next = start;
    let mut member = home;
    let mut reconnects = 0usize;
    loop {
        let target = until.load(Ordering::SeqCst);
        if (target != 0 && next > target) || give_up.load(Ordering::SeqCst) {
            return (events, reconnects);
        }
        let Ok(client) = Client::connect(&endpoints[member], Duration::from_secs(3)).await else {
            member = (member + 1) % endpoints.len();
            reconnects += 1;
            continue;
        };
        let (tx, rx) = mpsc::channel(1);
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: b"w/".to_vec(),
                range_end: b"w0".to_vec(),
                start_revision: next,
                ..Default::default()
            })),
        };
        if tx.send(create).await.is_err() {
            continue;
        }
        let mut stream = match client.watch.clone().watch(ReceiverStream::new(rx)).await {
            Ok(s) => s.into_inner(),
            Err(_) => {
                reconnects += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        loop {
            let target = until.load(Ordering::SeqCst);
            if (target != 0 && next > target) || give_up.load(Ordering::SeqCst) {
                return (events, reconnects);
            }
            match tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
                Err(_) => continue, // quiet: check whether we are done
                Ok(Ok(Some(resp))) => {
                    assert!(!resp.canceled, "watch cancelled: {resp:?}");
                    for e in &resp.events {
                        let s = seen(e);
                        events.push(s);
                        next = s.0 + 1;
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    reconnects += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
        drop(tx);
    }
}

/// Acknowledged puts: (revision, key, value).
type Acked = Vec<(i64, Vec<u8>, Vec<u8>)>;

/// Makes writes numbered `id, id + WRITERS, ...` below `WRITES` (claimed from
/// `counter`), rotating members on errors.
async fn writer(id: usize, endpoints: Vec<String>, counter: Arc<AtomicI64>) -> Acked {
    let mut acked = Acked::new();
    let mut member = id % endpoints.len();
    let mut client: Option<Client> = None;
    loop {
        let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
        if n >= WRITES {
            return acked;
        }
        let key = |k: usize| format!("w/{:04}", k % KEYS).into_bytes();
        let value = format!("v{n}").into_bytes();
        if client.is_none() {
            client = Client::connect_with_timeout(
                &endpoints[member],
                Duration::from_secs(2),
                Duration::from_secs(5),
            )
            .await
            .ok();
        }
        let Some(c) = client.as_mut() else {
            member = (member + 1) % endpoints.len();
            continue;
        };
        let outcome = match n % 5 {
            0 => {
                c.kv.delete_range(DeleteRangeRequest {
                    key: key(n * 7),
                    ..Default::default()
                })
                .await
                .map(|_| ())
            }
            1 => {
                let put = |k: Vec<u8>| RequestOp {
                    request: Some(request_op::Request::RequestPut(PutRequest {
                        key: k,
                        value: value.clone(),
                        ..Default::default()
                    })),
                };
                c.kv.txn(TxnRequest {
                    success: vec![
                        put(key(n)),
                        put(key(n + 1)),
                        RequestOp {
                            request: Some(request_op::Request::RequestDeleteRange(
                                DeleteRangeRequest {
                                    key: key(n + 2),
                                    ..Default::default()
                                },
                            )),
                        },
                    ],
                    ..Default::default()
                })
                .await
                .map(|_| ())
            }
            _ => match c
                .kv
                .put(PutRequest {
                    key: key(n),
                    value: value.clone(),
                    ..Default::default()
                })
                .await
            {
                Ok(r) => {
                    let rev = r.into_inner().header.map_or(0, |h| h.revision);
                    acked.push((rev, key(n), value));
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if outcome.is_err() {
            client = None;
            member = (member + 1) % endpoints.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_every_event_once_across_leader_kills() {
    let mut cluster = Cluster::start(ClusterSpec::new(server_binary(), 3))
        .await
        .expect("cluster starts");
    let endpoints = cluster.endpoints();
    let mut c0 = cluster.client(0).await.expect("client");
    let start = c0
        .status()
        .await
        .expect("status")
        .header
        .map_or(1, |h| h.revision)
        + 1;

    let until = Arc::new(AtomicI64::new(0));
    let give_up = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = (0..WATCHERS)
        .map(|i| {
            tokio::spawn(watcher(
                i % 3,
                endpoints.clone(),
                start,
                until.clone(),
                give_up.clone(),
            ))
        })
        .collect();

    let counter = Arc::new(AtomicI64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| tokio::spawn(writer(i, endpoints.clone(), counter.clone())))
        .collect();

    // Kill the leader after a third and after two thirds of the writes.
    for third in 1..=2 {
        let began = Instant::now();
        while counter.load(Ordering::SeqCst) < (WRITES * third / 3) as i64 {
            assert!(began.elapsed() < Duration::from_secs(300), "writes stalled");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let leader = cluster
            .wait_for_leader(None, Duration::from_secs(30))
            .await
            .expect("a leader");
        cluster.kill(leader).expect("kill leader");
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.start_member(leader).expect("restart");
        cluster
            .wait_healthy(leader, Duration::from_secs(60))
            .await
            .expect("restarted member healthy");
    }
    let mut acked = Acked::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }

    // The committed history, read by a fresh watcher.
    // The revision through a linearizable read: Status answers from member 0's
    // local state, which may not have applied the last acknowledged writes yet
    // (the fresh watcher then went past `last` and the check below failed).
    let mut client = cluster.client(0).await.expect("client");
    let last = client
        .kv
        .range(RangeRequest {
            key: b"w/".to_vec(),
            range_end: b"w0".to_vec(),
            count_only: true,
            ..Default::default()
        })
        .await
        .expect("linearizable range")
        .into_inner()
        .header
        .map_or(0, |h| h.revision);
    until.store(last, Ordering::SeqCst);
    let (history, _) = tokio::time::timeout(
        Duration::from_secs(120),
        watcher(0, endpoints.clone(), start, until.clone(), give_up.clone()),
    )
    .await
    .expect("the committed history is readable within 2 minutes");
    assert!(
        history.last().map(|s| s.0) == Some(last),
        "history must reach revision {last}"
    );

    let deadline = tokio::time::sleep(Duration::from_secs(120));
    tokio::pin!(deadline);
    let mut results = Vec::new();
    let all = futures::future::join_all(watchers);
    tokio::pin!(all);
    tokio::select! {
        r = &mut all => results = r,
        _ = &mut deadline => give_up.store(true, Ordering::SeqCst),
    }
    if results.is_empty() {
        results = all.await;
    }

    // The history is in revision order with no event twice.
    for pair in history.windows(2) {
        assert!(pair[0].0 <= pair[1].0, "history out of order");
    }
    let distinct: std::collections::HashSet<&Seen> = history.iter().collect();
    assert_eq!(
        distinct.len(),
        history.len(),
        "an event appears twice in the history"
    );
    let mut reconnects = 0;
    for (i, r) in results.into_iter().enumerate() {
        let (events, n) = r.expect("watcher task");
        reconnects += n;
        if events != history {
            let first_diff = events
                .iter()
                .zip(&history)
                .position(|(a, b)| a != b)
                .unwrap_or(events.len().min(history.len()));
            panic!(
                "watcher {i} (member {}) saw {} events, history has {}; first difference at {first_diff}: {:?} vs {:?}",
                i % 3,
                events.len(),
                history.len(),
                events.get(first_diff),
                history.get(first_diff)
            );
        }
    }
    // Every acknowledged put is in the history at its revision.
    let events: std::collections::HashSet<Seen> = history.iter().copied().collect();
    for (rev, key, value) in &acked {
        let put = cairn_proto::mvccpb::event::EventType::Put as i32;
        assert!(
            events.contains(&(*rev, digest(put, key, value))),
            "acknowledged put of {} at revision {rev} missing from the watched history",
            String::from_utf8_lossy(key)
        );
    }
    assert!(
        history.len() >= WRITES / 2,
        "history too short: {}",
        history.len()
    );
    assert!(
        reconnects > 0,
        "the leader kills should have broken some streams"
    );
    eprintln!(
        "{} events over revisions {start}..={last}; {} acknowledged puts; {reconnects} reconnects",
        history.len(),
        acked.len()
    );
}
