//! Certificate renewal without a restart, on Cairn and on real etcd 3.5.1:
//! after the certificate and key files of a running three-member TLS cluster
//! are replaced by a new certificate from the same CA, the next connection to
//! the client port and to the peer port is served the new certificate, a
//! client presenting the new certificate is accepted, and writes through
//! every member still reach every member. Cairn only: a replacement that
//! cannot be used (a half-written file) leaves the previous certificate in
//! use.

use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cairn_harness::{cairn_bin, etcd_bin, etcdctl_bin, Cluster, ClusterSpec, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_serves_renewed_certificates_without_a_restart() {
    let (cluster, files, renewed, _certs) = renewal(ClusterSpec::new(cairn_bin(), 3)).await;
    assert!(
        cluster.count_in_logs("certificate files changed; serving the new certificate") >= 1,
        "no member logged the new certificate"
    );

    // A certificate file caught half-written is not served; the last good
    // certificate stays in use. (The client keeps a copy of the good one.)
    let mut client = files.clone();
    client.cert = files.cert.with_extension("client.pem");
    client.key = files.key.with_extension("client.pem");
    std::fs::copy(&files.cert, &client.cert).expect("copy");
    std::fs::copy(&files.key, &client.key).expect("copy");
    std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\ncut short\n").expect("write");
    assert_eq!(
        served_certificate(&client, cluster.client_port(0)),
        Ok(renewed),
        "after a half-written certificate file"
    );
    assert!(
        cluster.count_in_logs("certificate files changed but cannot be used") >= 1,
        "no member logged the unusable certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_serves_renewed_certificates_without_a_restart() {
    renewal(ClusterSpec::new(etcd_bin(), 3)).await;
}

/// Starts a TLS cluster, renews its certificate and checks what every
/// server does with it; returns the cluster, its files, the new
/// certificate's DER bytes and the directory holding the files.
async fn renewal(spec: ClusterSpec) -> (Cluster, TlsFiles, Vec<u8>, tempfile::TempDir) {
    let certs = tempfile::tempdir().expect("temp dir");
    let files = TlsFiles::generate(certs.path(), "renew").expect("certificates");
    let cluster = Cluster::start(spec.tls(files.clone()))
        .await
        .expect("a TLS cluster starts");
    let first = CertificateDer::from_pem_file(&files.cert)
        .expect("certificate")
        .to_vec();
    assert_eq!(
        served_certificate(&files, cluster.client_port(0)),
        Ok(first.clone())
    );

    let renewed = files.renew().expect("renew the certificate");
    assert_ne!(renewed, first);
    for i in 0..3 {
        for (port, what) in [
            (cluster.client_port(i), "client port"),
            (cluster.peer_port(i), "peer port"),
        ] {
            assert_eq!(
                served_certificate(&files, port),
                Ok(renewed.clone()),
                "member {i}, {what}"
            );
        }
    }

    // etcdctl with the new client certificate; the write reaches every member.
    let etcdctl = |i: usize, args: &[&str]| {
        let out = Command::new(etcdctl_bin())
            .args(["--endpoints", &cluster.endpoint(i)])
            .args(files.cli_args())
            .args(["--command-timeout=5s"])
            .args(args)
            .output()
            .expect("run etcdctl");
        assert!(
            out.status.success(),
            "member {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A write through each member: followers pass theirs on to the leader
    // (Cairn: over gRPC), so every member's calls to the others are checked.
    for i in 0..3 {
        etcdctl(i, &["put", &format!("after-renewal-{i}"), "v"]);
    }
    for i in 0..3 {
        let got = etcdctl(i, &["get", "after-renewal-", "--prefix", "--keys-only"]);
        assert_eq!(got.split_whitespace().count(), 3, "member {i}: {got}");
    }
    (cluster, files, renewed, certs)
}

/// The certificate the server on `port` presents to a new TLS connection,
/// made with the client certificate now in `files` and checked against its CA.
fn served_certificate(files: &TlsFiles, port: u16) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(&files.ca).map_err(|e| e.to_string())?;
    roots.add(ca).map_err(|e| e.to_string())?;
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    conn.peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.to_vec())
        .ok_or_else(|| "no server certificate".to_string())
}
