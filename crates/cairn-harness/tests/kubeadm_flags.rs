//! The command line kubeadm writes into its etcd static pod (client and peer
//! TLS with certificate auth, `--listen-metrics-urls http://127.0.0.1:<port>`,
//! `--experimental-initial-corrupt-check=true`,
//! `--experimental-watch-progress-notify-interval=5s`, `--snapshot-count=10000`),
//! on Cairn and on real etcd 3.5.1: the member starts, kubeadm's liveness and
//! startup probe (`/health?exclude=NOSPACE&serializable=true` on the metrics
//! URL, plain HTTP) answers 200, and the real etcdctl, with the client
//! certificate, writes, reads and reports the endpoint healthy.

use std::process::Command;

use cairn_harness::health::http_get;
use cairn_harness::ports::free_ports;
use cairn_harness::{cairn_bin, etcd_bin, etcdctl_bin, Cluster, ClusterSpec, TlsFiles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_starts_with_kubeadms_flags() {
    kubeadm_member(ClusterSpec::new(cairn_bin(), 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_starts_with_kubeadms_flags() {
    kubeadm_member(ClusterSpec::new(etcd_bin(), 1)).await;
}

async fn kubeadm_member(spec: ClusterSpec) {
    let certs = tempfile::tempdir().expect("temp dir");
    let files = TlsFiles::generate(certs.path(), "kubeadm").expect("certificates");
    let metrics = free_ports(1).expect("a free port")[0];
    let spec = spec.tls(files).extra_args([
        "--client-cert-auth=true".to_string(),
        "--peer-client-cert-auth=true".to_string(),
        "--experimental-initial-corrupt-check=true".to_string(),
        "--experimental-watch-progress-notify-interval=5s".to_string(),
        "--snapshot-count=10000".to_string(),
        format!("--listen-metrics-urls=http://127.0.0.1:{metrics}"),
    ]);
    let cluster = Cluster::start(spec).await.expect("member starts");

    let probe = http_get(metrics, "/health?exclude=NOSPACE&serializable=true")
        .await
        .expect("probe");
    assert!(probe.contains(" 200 "), "{probe}");
    assert!(
        probe
            .trim_end()
            .ends_with(r#"{"health":"true","reason":""}"#),
        "{probe}"
    );

    let etcdctl = |args: &[&str]| {
        let out = Command::new(etcdctl_bin())
            .args(["--endpoints", &cluster.endpoint(0)])
            .args(cluster.cli_tls_args())
            .args(args)
            .output()
            .expect("run etcdctl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "etcdctl {args:?}: {text}");
        text
    };
    assert_eq!(etcdctl(&["put", "/registry/ns/default", "v"]).trim(), "OK");
    assert_eq!(
        etcdctl(&["get", "/registry/ns/default", "--print-value-only"]).trim(),
        "v"
    );
    let health = etcdctl(&["endpoint", "health"]);
    assert!(health.contains("is healthy"), "{health}");
}
