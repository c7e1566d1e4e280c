//! `--listen-metrics-urls` as kubeadm's etcd manifests use it (liveness and
//! startup probes on `/health?exclude=NOSPACE&serializable=true`), on Cairn
//! and on real etcd 3.5.1: one member of three restarted with a metrics URL
//! serves `/health` and `/metrics` there (and nothing else: `/version` is
//! 404, as on etcd); once the other two are killed, `/health` says
//! `RAFT NO LEADER` on both, and a request with `hasleader: true` metadata
//! fails with `etcdserver: no leader` (Cairn used to keep naming the lost
//! leader, or itself, as leader). With `serializable=true` Cairn checks the member
//! alone (a local read) and stays healthy, so a liveness probe does not kill
//! a survivor that `cairnctl recover` needs; etcd 3.5.1 ignores the parameter
//! (later 3.5 releases honour it) and the test checks that too. Cairn also
//! serves etcd 3.5.11's `/livez` and `/readyz` (kubeadm 1.31+'s probes; 404
//! on etcd 3.5.1): ready and alive with the quorum; without it alive, not
//! ready, and ready once `linearizable_read` is excluded.

use std::time::{Duration, Instant};

use cairn_harness::health::http_get;
use cairn_harness::ports::free_ports;
use cairn_harness::{cairn_bin, etcd_bin, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::RangeRequest;

const DEADLINE: Duration = Duration::from_secs(60);
const PROBE: &str = "/health?exclude=NOSPACE&serializable=true";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_serves_health_and_metrics_on_the_metrics_url() {
    metrics_url_scenario(ClusterSpec::new(cairn_bin(), 3), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_serves_health_and_metrics_on_the_metrics_url() {
    metrics_url_scenario(ClusterSpec::new(etcd_bin(), 3), false).await;
}

/// Status line and body of a GET on the metrics port.
async fn get(port: u16, path: &str) -> (String, String) {
    let answer = http_get(port, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"));
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    (status, body)
}

async fn metrics_url_scenario(spec: ClusterSpec, serializable_honoured: bool) {
    let mut cluster = Cluster::start(spec).await.expect("cluster starts");
    let port = free_ports(1).expect("a free port")[0];
    cluster
        .set_member_args(
            0,
            vec![
                "--listen-metrics-urls".into(),
                format!("http://127.0.0.1:{port}"),
            ],
        )
        .expect("member args");
    cluster
        .restart(0)
        .await
        .expect("restart with a metrics URL");

    let (status, body) = get(port, PROBE).await;
    assert!(status.contains(" 200 "), "{status} {body}");
    assert_eq!(body, r#"{"health":"true","reason":""}"#);
    let (status, _) = get(port, "/health").await;
    assert!(status.contains(" 200 "), "{status}");
    let (status, body) = get(port, "/metrics").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("\netcd_server_has_leader 1"), "{body}");
    let (status, _) = get(port, "/version").await;
    assert!(status.contains(" 404 "), "{status}");
    check_probes_with_quorum(port, serializable_honoured).await;

    let mut survivor = cluster.client(0).await.expect("client");
    cluster.kill(1).expect("kill");
    cluster.kill(2).expect("kill");
    let started = Instant::now();
    let no_leader = loop {
        let (status, body) = get(port, "/health").await;
        if body.contains("RAFT NO LEADER") {
            break (status, body);
        }
        assert!(
            started.elapsed() < DEADLINE,
            "/health never said no leader: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(no_leader.0.contains(" 503 "), "{no_leader:?}");
    // Requests that ask for a leader (kube-apiserver's watches do) are refused.
    let mut req = tonic::Request::new(RangeRequest {
        key: b"k".to_vec(),
        serializable: true,
        ..Default::default()
    });
    req.metadata_mut()
        .insert("hasleader", "true".parse().expect("metadata"));
    let refused = survivor
        .kv
        .range(req)
        .await
        .expect_err("a hasleader request without a leader");
    assert_eq!(refused.message(), "etcdserver: no leader", "{refused:?}");
    let (status, body) = get(port, PROBE).await;
    if serializable_honoured {
        assert!(status.contains(" 200 "), "{status} {body}");
        assert_eq!(body, r#"{"health":"true","reason":""}"#);
    } else {
        assert!(status.contains(" 503 "), "{status} {body}");
        assert!(body.contains("RAFT NO LEADER"), "{body}");
    }
    if serializable_honoured {
        check_probes_without_quorum(port).await;
    }
}

/// `/livez` and `/readyz` (etcd 3.5.11+, kubeadm 1.31+'s probes) while the
/// cluster is whole. etcd 3.5.1 predates them: 404 there.
async fn check_probes_with_quorum(port: u16, cairn: bool) {
    if !cairn {
        for path in ["/livez", "/readyz"] {
            let (status, _) = get(port, path).await;
            assert!(status.contains(" 404 "), "{path}: {status}");
        }
        return;
    }
    let (status, body) = get(port, "/livez").await;
    assert!(status.contains(" 200 "), "{status} {body}");
    assert_eq!(body, "ok");
    let (status, body) = get(port, "/readyz?verbose").await;
    assert!(status.contains(" 200 "), "{status} {body}");
    assert_eq!(
        body,
        "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok"
    );
    let (status, body) = get(port, "/readyz/linearizable_read?verbose").await;
    assert!(status.contains(" 200 "), "{status} {body}");
    assert_eq!(body, "[+]linearizable_read ok\nok");
    let (status, _) = get(port, "/livez/linearizable_read").await;
    assert!(status.contains(" 404 "), "{status}");
}

/// With two of three members killed: alive (a restart would not bring the
/// quorum back) but not ready, and ready again when the linearizable read is
/// excluded.
async fn check_probes_without_quorum(port: u16) {
    let (status, body) = get(port, "/livez").await;
    assert!(status.contains(" 200 "), "{status} {body}");
    let (status, body) = get(port, "/readyz").await;
    assert!(status.contains(" 503 "), "{status} {body}");
    assert_eq!(
        body,
        "[+]data_corruption ok\n[+]serializable_read ok\n[-]linearizable_read failed: etcdserver: no leader\n[+]non_learner ok"
    );
    let (status, body) = get(port, "/readyz?exclude=linearizable_read").await;
    assert!(status.contains(" 200 "), "{status} {body}");
    let (status, body) = get(port, "/readyz/linearizable_read").await;
    assert!(status.contains(" 503 "), "{status} {body}");
}
