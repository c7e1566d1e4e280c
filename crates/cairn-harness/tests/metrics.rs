//! `/metrics` under etcd's names, checked the same way on Cairn and on real
//! etcd 3.5.1 (three members each): the metric families the etcd Prometheus
//! alerts and dashboards read exist with etcd's type and label names, and
//! their values follow what the cluster did.
//!
//! - Every member knows the leader, exactly one says it is the leader, each
//!   names its own ID; every member saw at least one leader.
//! - 53 puts, 10 deletes and a txn of two puts through one follower: on every
//!   member the put and delete counters move by exactly 55 and 10, the live
//!   key count is exactly 45, the revision is the last write's; the Raft log's
//!   fsyncs and bytes and the database commits move on every member.
//! - The follower's gRPC counters: exactly 53 Put calls started, handled OK
//!   and timed (`--metrics extensive`) with one message each way, a Range at a future revision handled as
//!   `OutOfRange`, client bytes both ways; an open watch shows in the stream
//!   and watcher gauges, its events in the events counter, and once the
//!   client drops it, it is handled as `Canceled`.
//! - Peer traffic: bytes both ways between the leader and each follower,
//!   heartbeat round trips timed, each follower active from the leader.
//! - A snapshot from each member is timed once on it; `/health` is counted.
//! - After the leader is killed, the new leader counts failed messages to it
//!   and no longer reports it active, and the survivors count the change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_harness::health::http_get;
use cairn_harness::{cairn_bin, etcd_bin, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_proto::etcdserverpb::request_op::Request as Op;
use cairn_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, SnapshotRequest, TxnRequest,
    WatchCreateRequest, WatchRequest,
};
use tokio_stream::StreamExt;

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_metrics_follow_the_cluster() {
    metrics_scenario(cairn_bin()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_metrics_follow_the_cluster() {
    metrics_scenario(etcd_bin()).await;
}

/// The metric families checked on the follower the workload goes through:
/// name, Prometheus type, label names.
const FAMILIES: &[(&str, &str, &[&str])] = &[
    ("etcd_server_has_leader", "gauge", &[]),
    ("etcd_server_is_leader", "gauge", &[]),
    ("etcd_server_is_learner", "gauge", &[]),
    ("etcd_server_leader_changes_seen_total", "counter", &[]),
    ("etcd_server_id", "gauge", &["server_id"]),
    ("etcd_server_version", "gauge", &["server_version"]),
    ("etcd_cluster_version", "gauge", &["cluster_version"]),
    ("etcd_server_proposals_committed_total", "gauge", &[]),
    ("etcd_server_proposals_applied_total", "gauge", &[]),
    ("etcd_server_proposals_pending", "gauge", &[]),
    ("etcd_server_proposals_failed_total", "counter", &[]),
    ("etcd_server_read_indexes_failed_total", "counter", &[]),
    ("etcd_server_slow_apply_total", "counter", &[]),
    ("etcd_server_heartbeat_send_failures_total", "counter", &[]),
    ("etcd_server_snapshot_apply_in_progress_total", "gauge", &[]),
    ("etcd_server_quota_backend_bytes", "gauge", &[]),
    ("etcd_server_health_success", "counter", &[]),
    ("etcd_server_health_failures", "counter", &[]),
    (
        "etcd_server_client_requests_total",
        "counter",
        &["client_api_version", "type"],
    ),
    ("etcd_mvcc_db_total_size_in_bytes", "gauge", &[]),
    ("etcd_mvcc_db_total_size_in_use_in_bytes", "gauge", &[]),
    ("etcd_mvcc_put_total", "counter", &[]),
    ("etcd_mvcc_delete_total", "counter", &[]),
    ("etcd_mvcc_range_total", "counter", &[]),
    ("etcd_mvcc_txn_total", "counter", &[]),
    ("etcd_mvcc_hash_duration_seconds", "histogram", &[]),
    ("etcd_mvcc_hash_rev_duration_seconds", "histogram", &[]),
    ("etcd_debugging_mvcc_keys_total", "gauge", &[]),
    ("etcd_debugging_mvcc_current_revision", "gauge", &[]),
    ("etcd_debugging_mvcc_compact_revision", "gauge", &[]),
    ("etcd_debugging_mvcc_total_put_size_in_bytes", "gauge", &[]),
    ("etcd_debugging_mvcc_watch_stream_total", "gauge", &[]),
    ("etcd_debugging_mvcc_watcher_total", "gauge", &[]),
    ("etcd_debugging_mvcc_events_total", "counter", &[]),
    ("etcd_debugging_lease_granted_total", "counter", &[]),
    ("etcd_debugging_lease_revoked_total", "counter", &[]),
    ("etcd_debugging_lease_renewed_total", "counter", &[]),
    ("etcd_debugging_server_lease_expired_total", "counter", &[]),
    ("etcd_disk_wal_fsync_duration_seconds", "histogram", &[]),
    ("etcd_disk_wal_write_bytes_total", "gauge", &[]),
    (
        "etcd_disk_backend_commit_duration_seconds",
        "histogram",
        &[],
    ),
    (
        "etcd_disk_backend_defrag_duration_seconds",
        "histogram",
        &[],
    ),
    (
        "etcd_disk_backend_snapshot_duration_seconds",
        "histogram",
        &[],
    ),
    ("etcd_disk_defrag_inflight", "gauge", &[]),
    (
        "etcd_network_client_grpc_received_bytes_total",
        "counter",
        &[],
    ),
    ("etcd_network_client_grpc_sent_bytes_total", "counter", &[]),
    ("etcd_network_peer_sent_bytes_total", "counter", &["To"]),
    (
        "etcd_network_peer_received_bytes_total",
        "counter",
        &["From"],
    ),
    ("etcd_network_active_peers", "gauge", &["Local", "Remote"]),
    (
        "grpc_server_started_total",
        "counter",
        &["grpc_method", "grpc_service", "grpc_type"],
    ),
    (
        "grpc_server_handled_total",
        "counter",
        &["grpc_code", "grpc_method", "grpc_service", "grpc_type"],
    ),
    (
        "grpc_server_handling_seconds",
        "histogram",
        &["grpc_method", "grpc_service", "grpc_type"],
    ),
    (
        "grpc_server_msg_received_total",
        "counter",
        &["grpc_method", "grpc_service", "grpc_type"],
    ),
    (
        "grpc_server_msg_sent_total",
        "counter",
        &["grpc_method", "grpc_service", "grpc_type"],
    ),
    ("process_cpu_seconds_total", "counter", &[]),
    ("process_resident_memory_bytes", "gauge", &[]),
    ("process_virtual_memory_bytes", "gauge", &[]),
    ("process_virtual_memory_max_bytes", "gauge", &[]),
    ("process_start_time_seconds", "gauge", &[]),
    ("process_open_fds", "gauge", &[]),
    ("process_max_fds", "gauge", &[]),
    ("os_fd_used", "gauge", &[]),
    ("os_fd_limit", "gauge", &[]),
];

/// Checked on the leader (heartbeats and their round trips are the leader's
/// on Cairn), and on the new leader after a peer was lost.
const LEADER_FAMILIES: &[(&str, &str, &[&str])] = &[(
    "etcd_network_peer_round_trip_time_seconds",
    "histogram",
    &["To"],
)];
const FAILURE_FAMILIES: &[(&str, &str, &[&str])] =
    &[("etcd_network_peer_sent_failures_total", "counter", &["To"])];

/// One `/metrics` page.
struct Scrape {
    types: HashMap<String, String>,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
    text: String,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut types = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels end with }");
                    let labels = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            samples.push((name, labels, value));
        }
        Scrape {
            types,
            samples,
            text: text.to_string(),
        }
    }

    /// The values of the samples of `name` whose labels include `labels`.
    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect()
    }

    /// The sum of the samples of `name` whose labels include `labels`;
    /// panics if there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let matching = self.matching(name, labels);
        assert!(
            !matching.is_empty(),
            "no sample {name} {labels:?} in:\n{}",
            self.text
        );
        matching.iter().sum()
    }

    /// [`Scrape::value`], or 0 if there is no such sample.
    fn value_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).iter().sum()
    }

    /// Checks that each family exists with its type and label names.
    fn check_families(&self, families: &[(&str, &str, &[&str])], server: &str) {
        for (name, kind, labels) in families {
            assert_eq!(
                self.types.get(*name).map(String::as_str),
                Some(*kind),
                "{server}: type of {name}"
            );
            let series: Vec<&BTreeMap<String, String>> = self
                .samples
                .iter()
                .filter(|(n, _, _)| {
                    n == name
                        || (*kind == "histogram"
                            && [
                                format!("{name}_bucket"),
                                format!("{name}_sum"),
                                format!("{name}_count"),
                            ]
                            .contains(n))
                })
                .map(|(_, l, _)| l)
                .collect();
            assert!(!series.is_empty(), "{server}: no sample of {name}");
            for l in series {
                let names: BTreeSet<&str> = l
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "le")
                    .collect();
                let expected: BTreeSet<&str> = labels.iter().copied().collect();
                assert_eq!(names, expected, "{server}: labels of {name}");
            }
        }
    }
}

async fn scrape(cluster: &Cluster, i: usize) -> Scrape {
    let answer = http_get(cluster.client_port(i), "/metrics")
        .await
        .unwrap_or_else(|e| panic!("GET /metrics on member {i}: {e}"));
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    Scrape::parse(body)
}

fn hex(id: u64) -> String {
    format!("{id:x}")
}

/// Member `i`'s ID, from its own Status.
async fn member_id(cluster: &Cluster, i: usize) -> u64 {
    let mut client = cluster.client(i).await.expect("client");
    let status = client.status().await.expect("status");
    status.header.expect("header").member_id
}

/// Waits until member `i` has applied `revision` (a serializable read there).
async fn wait_applied(cluster: &Cluster, i: usize, revision: i64) {
    let mut client = cluster.client(i).await.expect("client");
    let start = Instant::now();
    loop {
        let read = client
            .range(RangeRequest {
                key: b"k10".to_vec(),
                serializable: true,
                ..Default::default()
            })
            .await
            .expect("serializable read");
        if read.header.expect("header").revision >= revision {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "member {i} never applied {revision}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics_scenario(server: PathBuf) {
    let server_name = server.display().to_string();
    let started = Instant::now();
    let mut cluster =
        Cluster::start(ClusterSpec::new(&server, 3).extra_args(["--metrics", "extensive"]))
            .await
            .expect("3-member cluster starts");
    let leader = cluster
        .wait_for_leader(None, DEADLINE)
        .await
        .expect("a leader");
    let follower = (leader + 1) % 3;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(member_id(&cluster, i).await);
    }
    // etcd times its peers' round trips 5 s after they are added.
    tokio::time::sleep(Duration::from_secs(9).saturating_sub(started.elapsed())).await;

    let mut before = Vec::new();
    for i in 0..3 {
        before.push(scrape(&cluster, i).await);
    }
    let leaders: f64 = before
        .iter()
        .map(|s| s.value("etcd_server_is_leader", &[]))
        .sum();
    assert_eq!(leaders, 1.0, "{server_name}: one leader");
    for (i, s) in before.iter().enumerate() {
        assert_eq!(s.value("etcd_server_has_leader", &[]), 1.0);
        assert!(s.value("etcd_server_leader_changes_seen_total", &[]) >= 1.0);
        assert_eq!(
            s.value("etcd_server_id", &[("server_id", hex(ids[i]).as_str())]),
            1.0,
            "{server_name}: member {i} names its ID"
        );
    }
    assert_eq!(before[leader].value("etcd_server_is_leader", &[]), 1.0);

    // The workload, all through one follower.
    let mut client = cluster.client(follower).await.expect("client");
    for n in 0..50 {
        client
            .put(format!("k{n:02}"), vec![b'v'; 100])
            .await
            .expect("put");
    }
    for n in 0..10 {
        client
            .kv
            .delete_range(DeleteRangeRequest {
                key: format!("k{n:02}").into_bytes(),
                ..Default::default()
            })
            .await
            .expect("delete");
    }
    let txn = client
        .txn(TxnRequest {
            compare: vec![Compare {
                result: CompareResult::Greater as i32,
                target: CompareTarget::Version as i32,
                key: b"k10".to_vec(),
                target_union: Some(TargetUnion::Version(0)),
                ..Default::default()
            }],
            success: ["t1", "t2"]
                .iter()
                .map(|k| RequestOp {
                    request: Some(Op::RequestPut(PutRequest {
                        key: k.as_bytes().to_vec(),
                        value: b"x".to_vec(),
                        ..Default::default()
                    })),
                })
                .collect(),
            failure: vec![],
        })
        .await
        .expect("txn");
    assert!(txn.succeeded);
    for _ in 0..5 {
        client.get("k10").await.expect("get");
    }
    let future = client
        .range(RangeRequest {
            key: b"k10".to_vec(),
            revision: 1_000_000,
            ..Default::default()
        })
        .await
        .expect_err("a read at a future revision");
    assert!(format!("{future}").contains("future revision"), "{future}");

    // A watch, open while its follower is scraped.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(WatchRequest {
        request_union: Some(
            cairn_proto::etcdserverpb::watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: b"w".to_vec(),
                    range_end: b"x".to_vec(),
                    ..Default::default()
                },
            ),
        ),
    })
    .await
    .expect("queue the create request");
    let mut events = client
        .watch
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let created = events.next().await.expect("an answer").expect("created");
    assert!(created.created);
    let mut last_revision = 0;
    for k in ["w1", "w2", "w3"] {
        last_revision = client
            .put(k, "v")
            .await
            .expect("put")
            .header
            .expect("header")
            .revision;
    }
    let mut seen = 0;
    while seen < 3 {
        let resp = tokio::time::timeout(DEADLINE, events.next())
            .await
            .expect("events in time")
            .expect("the stream goes on")
            .expect("events");
        seen += resp.events.len();
    }
    let watching = scrape(&cluster, follower).await;
    assert!(watching.value("etcd_debugging_mvcc_watch_stream_total", &[]) >= 1.0);
    assert!(watching.value("etcd_debugging_mvcc_watcher_total", &[]) >= 1.0);
    drop(tx);
    drop(events);

    for i in 0..3 {
        wait_applied(&cluster, i, last_revision).await;
        // A snapshot from each member (etcd commits its database for it).
        let mut c = cluster.client(i).await.expect("client");
        let mut stream = c
            .maintenance
            .snapshot(SnapshotRequest {})
            .await
            .expect("snapshot")
            .into_inner();
        while let Some(chunk) = stream.next().await {
            chunk.expect("snapshot chunk");
        }
    }
    let health = http_get(cluster.client_port(follower), "/health")
        .await
        .expect("GET /health");
    assert!(health.contains(r#""health":"true""#), "{health}");

    let mut after = Vec::new();
    for i in 0..3 {
        after.push(scrape(&cluster, i).await);
    }
    let f = &after[follower];
    f.check_families(FAMILIES, &server_name);
    after[leader].check_families(LEADER_FAMILIES, &server_name);

    // A counter series not there before the workload was 0 (Cairn creates
    // a gRPC method's series for a status code other than OK when first
    // counted; etcd creates all of them at start).
    let delta = |i: usize, name: &str, labels: &[(&str, &str)]| {
        after[i].value(name, labels) - before[i].value_or_zero(name, labels)
    };
    for (i, now) in after.iter().enumerate() {
        let who = format!("{server_name}: member {i}");
        assert_eq!(delta(i, "etcd_mvcc_put_total", &[]), 55.0, "{who}: puts");
        assert_eq!(
            delta(i, "etcd_mvcc_delete_total", &[]),
            10.0,
            "{who}: deletes"
        );
        assert!(delta(i, "etcd_mvcc_txn_total", &[]) >= 1.0, "{who}: txns");
        assert_eq!(
            now.value("etcd_debugging_mvcc_keys_total", &[]),
            45.0,
            "{who}: keys"
        );
        assert_eq!(
            now.value("etcd_debugging_mvcc_current_revision", &[]),
            last_revision as f64,
            "{who}: revision"
        );
        for grows in [
            "etcd_disk_wal_fsync_duration_seconds_count",
            "etcd_disk_wal_write_bytes_total",
            "etcd_disk_backend_commit_duration_seconds_count",
            "process_cpu_seconds_total",
        ] {
            assert!(delta(i, grows, &[]) > 0.0, "{who}: {grows}");
        }
        assert_eq!(
            delta(i, "etcd_disk_backend_snapshot_duration_seconds_count", &[]),
            1.0,
            "{who}: one snapshot"
        );
        assert!(now.value("process_resident_memory_bytes", &[]) > 0.0);
        assert!(now.value("process_open_fds", &[]) > 0.0);
        assert!(now.value("process_start_time_seconds", &[]) > 1.0e9);
    }

    let call = |method: &'static str, service: &'static str| {
        [("grpc_method", method), ("grpc_service", service)]
    };
    let put = call("Put", "etcdserverpb.KV");
    let ok = [put[0], put[1], ("grpc_code", "OK")];
    assert_eq!(delta(follower, "grpc_server_started_total", &put), 53.0);
    assert_eq!(delta(follower, "grpc_server_handled_total", &ok), 53.0);
    assert_eq!(
        delta(follower, "grpc_server_msg_received_total", &put),
        53.0
    );
    assert_eq!(delta(follower, "grpc_server_msg_sent_total", &put), 53.0);
    assert_eq!(
        delta(follower, "grpc_server_handling_seconds_count", &put),
        53.0
    );
    let delete = call("DeleteRange", "etcdserverpb.KV");
    assert_eq!(delta(follower, "grpc_server_started_total", &delete), 10.0);
    let range = call("Range", "etcdserverpb.KV");
    let out_of_range = [range[0], range[1], ("grpc_code", "OutOfRange")];
    assert_eq!(
        delta(follower, "grpc_server_handled_total", &out_of_range),
        1.0
    );
    let range_ok = [range[0], range[1], ("grpc_code", "OK")];
    assert!(delta(follower, "grpc_server_handled_total", &range_ok) >= 5.0);
    let watch = call("Watch", "etcdserverpb.Watch");
    assert_eq!(delta(follower, "grpc_server_started_total", &watch), 1.0);
    assert!(delta(follower, "grpc_server_msg_sent_total", &watch) >= 2.0);
    assert!(delta(follower, "grpc_server_msg_received_total", &watch) >= 1.0);
    let watch_canceled = [watch[0], watch[1], ("grpc_code", "Canceled")];
    assert_eq!(
        delta(follower, "grpc_server_handled_total", &watch_canceled),
        1.0,
        "{server_name}: the watch the client dropped"
    );
    assert!(delta(follower, "etcd_debugging_mvcc_events_total", &[]) >= 3.0);
    assert!(
        delta(
            follower,
            "etcd_network_client_grpc_received_bytes_total",
            &[]
        ) > 5_000.0
    );
    assert!(delta(follower, "etcd_network_client_grpc_sent_bytes_total", &[]) > 0.0);
    assert_eq!(delta(follower, "etcd_server_health_success", &[]), 1.0);

    // Peers: the leader and each follower exchange messages both ways.
    let lead_id = hex(ids[leader]);
    for i in (0..3).filter(|i| *i != leader) {
        let id = hex(ids[i]);
        let l = &after[leader];
        assert!(l.value("etcd_network_peer_sent_bytes_total", &[("To", &id)]) > 0.0);
        assert!(l.value("etcd_network_peer_received_bytes_total", &[("From", &id)]) > 0.0);
        assert!(
            l.value(
                "etcd_network_peer_round_trip_time_seconds_count",
                &[("To", &id)]
            ) > 0.0,
            "{server_name}: round trips to {id}"
        );
        assert_eq!(
            l.value(
                "etcd_network_active_peers",
                &[("Local", &lead_id), ("Remote", &id)]
            ),
            1.0
        );
        let m = &after[i];
        assert!(m.value("etcd_network_peer_sent_bytes_total", &[("To", &lead_id)]) > 0.0);
        assert!(
            m.value(
                "etcd_network_peer_received_bytes_total",
                &[("From", &lead_id)]
            ) > 0.0
        );
    }

    // The leader dies: the new leader counts failed messages to it.
    cluster.kill(leader).expect("SIGKILL the leader");
    let new_leader = cluster
        .wait_for_leader(Some(leader), DEADLINE)
        .await
        .expect("a new leader");
    let start = Instant::now();
    let failed = loop {
        let s = scrape(&cluster, new_leader).await;
        let failures = s.samples.iter().any(|(n, l, v)| {
            n == "etcd_network_peer_sent_failures_total"
                && l.get("To") == Some(&lead_id)
                && *v > 0.0
        });
        if failures {
            break s;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{server_name}: no failed message to the dead leader counted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    failed.check_families(FAILURE_FAMILIES, &server_name);
    let new_id = hex(ids[new_leader]);
    assert_eq!(
        failed.value(
            "etcd_network_active_peers",
            &[("Local", &new_id), ("Remote", &lead_id)]
        ),
        0.0,
        "{server_name}: the dead leader is not active"
    );
    for i in (0..3).filter(|i| *i != leader) {
        let s = scrape(&cluster, i).await;
        assert!(
            s.value("etcd_server_leader_changes_seen_total", &[])
                > after[i].value("etcd_server_leader_changes_seen_total", &[]),
            "{server_name}: member {i} saw the new leader"
        );
        assert_eq!(s.value("etcd_server_has_leader", &[]), 1.0);
    }
}
