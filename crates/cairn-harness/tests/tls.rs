//! Client and peer TLS with client-cert auth on both ports: etcdctl and cairnctl
//! work with `--cacert/--cert/--key` (and `--insecure-skip-tls-verify`); a client without a certificate, or with one
//! from another CA, is refused; a member whose peer certificate comes from
//! another CA cannot take part in the cluster.
//!
//! Server: `cairn`, or real etcd with `CAIRN_TEST_SERVER=etcd`.

use std::process::{Command, Output};
use std::time::Duration;

use cairn_harness::{cairnctl_bin, etcdctl_bin, server_binary, Cluster, ClusterSpec, TlsFiles};

fn ctl(bin: std::path::PathBuf, endpoint: &str, tls: &[String], args: &[&str]) -> Output {
    Command::new(bin)
        .args([
            "--endpoints",
            endpoint,
            "--dial-timeout=2s",
            "--command-timeout=3s",
        ])
        .args(tls)
        .args(args)
        .output()
        .expect("run the CLI")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_on_client_and_peer_ports() {
    let certs = tempfile::tempdir().expect("certificate dir");
    let good = TlsFiles::generate(certs.path(), "good").expect("certificates");
    let other = TlsFiles::generate(certs.path(), "other").expect("certificates");
    let mut cluster = Cluster::start(ClusterSpec::new(server_binary(), 3).tls(good.clone()))
        .await
        .expect("a TLS cluster starts");
    let ep = cluster.endpoint(0);
    assert!(ep.starts_with("https://"));
    let tls = good.cli_args();

    // Both CLIs work with the right certificates, on every member.
    ok(&ctl(etcdctl_bin(), &ep, &tls, &["put", "k", "v"]));
    for i in 0..3 {
        let got = ok(&ctl(
            cairnctl_bin(),
            &cluster.endpoint(i),
            &tls,
            &["get", "k", "--print-value-only"],
        ));
        assert_eq!(got.trim(), "v");
    }
    let health = ok(&ctl(etcdctl_bin(), &ep, &tls, &["endpoint", "health"]));
    assert!(health.contains("is healthy"), "{health}");
    // The HTTP endpoints on the same TLS port, over HTTP/1.x with the client
    // certificate, as probes and curl reach them.
    let probe = https_get(&good, cluster.client_port(0), "/health");
    assert!(
        probe.starts_with("HTTP/1.") && probe.contains(" 200 "),
        "{probe}"
    );
    assert!(probe.contains(r#""health":"true""#), "{probe}");
    // Raft messages between members went over the peer stream, through its
    // own TLS handshake (logged once per peer, after the handshake).
    for i in 0..3 {
        let log = cluster.read_log(i);
        assert!(
            log.contains("raft messages to this peer use the peer stream"),
            "member {i} never used the peer stream:\n{log}"
        );
    }

    // --insecure-skip-tls-verify: no CA needed to reach the server, the client
    // certificate is still presented; without the flag and the CA it fails.
    let skip_verify = vec![
        "--insecure-skip-tls-verify".to_string(),
        "--cert".to_string(),
        good.cert.display().to_string(),
        "--key".to_string(),
        good.key.display().to_string(),
    ];
    for bin in [etcdctl_bin(), cairnctl_bin()] {
        let got = ok(&ctl(
            bin.clone(),
            &ep,
            &skip_verify,
            &["get", "k", "--print-value-only"],
        ));
        assert_eq!(got.trim(), "v");
        let out = ctl(bin, &ep, &skip_verify[1..], &["get", "k"]);
        assert!(!out.status.success(), "an unverifiable server was trusted");
    }

    // No client certificate: refused.
    let ca_only = vec!["--cacert".to_string(), good.ca.display().to_string()];
    for bin in [etcdctl_bin(), cairnctl_bin()] {
        let out = ctl(bin, &ep, &ca_only, &["get", "k"]);
        assert!(
            !out.status.success(),
            "a client without a certificate was served"
        );
    }
    // A client certificate from another CA (trusting the server): refused.
    let wrong_client = vec![
        "--cacert".to_string(),
        good.ca.display().to_string(),
        "--cert".to_string(),
        other.cert.display().to_string(),
        "--key".to_string(),
        other.key.display().to_string(),
    ];
    for bin in [etcdctl_bin(), cairnctl_bin()] {
        let out = ctl(bin, &ep, &wrong_client, &["get", "k"]);
        assert!(
            !out.status.success(),
            "a client with another CA's certificate was served"
        );
    }
    // Plain HTTP to a TLS port is not served either.
    let plain = ep.replace("https://", "http://");
    let out = ctl(etcdctl_bin(), &plain, &[], &["get", "k"]);
    assert!(!out.status.success());

    // A member whose peer certificate comes from another CA cannot join: it is
    // added, started with the right client certificate but the wrong peer one,
    // and never receives the cluster's data.
    let m3 = cluster.add_joining_member("m3").expect("slot");
    let url = format!("--peer-urls={}", cluster.peer_url(m3));
    let added = ok(&ctl(
        etcdctl_bin(),
        &ep,
        &tls,
        &["member", "add", "m3", &url],
    ));
    let ic = added
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("initial cluster")
        .to_string();
    cluster.set_join(m3, ic).expect("join settings");
    cluster
        .set_member_args(
            m3,
            vec![
                "--peer-cert-file".into(),
                other.cert.display().to_string(),
                "--peer-key-file".into(),
                other.key.display().to_string(),
                "--peer-trusted-ca-file".into(),
                other.ca.display().to_string(),
            ],
        )
        .expect("member args");
    cluster.start_member(m3).expect("start m3");
    // Give it several election timeouts to (fail to) get the data.
    tokio::time::sleep(Duration::from_secs(8)).await;
    if cluster.is_running(m3) {
        let out = ctl(
            etcdctl_bin(),
            &cluster.endpoint(m3),
            &tls,
            &["get", "k", "--consistency=s"],
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains('v'),
            "a member with another CA's peer certificate received the data"
        );
    }
    // The three members keep working.
    ok(&ctl(etcdctl_bin(), &ep, &tls, &["put", "k2", "v2"]));
    let got = ok(&ctl(
        etcdctl_bin(),
        &cluster.endpoint(2),
        &tls,
        &["get", "k2", "--print-value-only"],
    ));
    assert_eq!(got.trim(), "v2");
}

/// GET `path` over HTTPS (HTTP/1.0, offering HTTP/1.1 by ALPN) from the
/// server on `port`, with `files`' client certificate; the response as text
/// (empty if the connection failed).
fn https_get(files: &TlsFiles, port: u16, path: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::io::{Read, Write};

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&files.ca).expect("CA certificate"))
        .expect("CA added");
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .expect("certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(&files.key).expect("key");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let mut conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("connection");
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if tls.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the server closes (an HTTP/1.0 answer ends the connection).
    while let Ok(n) = tls.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}
