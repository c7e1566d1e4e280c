//! `--cipher-suites` on Cairn and on real etcd 3.5.1, side by side:
//! - a member given one TLS 1.2 suite completes a handshake offering it, and
//!   refuses one offering only other suites, or TLS 1.3 (etcd turns TLS 1.3
//!   off when the flag is given), on the client port and on the peer port;
//!   its three members replicate a write (etcdctl writes, cairnctl reads);
//! - every name etcd 3.5.1 accepts, given at once, starts a member;
//! - a name etcd refuses stops the member with etcd's words;
//! - a TLS member whose list leaves no suite to negotiate does not start.

use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cairn_harness::{
    cairn_bin, cairnctl_bin, etcd_bin, etcdctl_bin, Cluster, ClusterSpec, TlsFiles,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::CipherSuite;

/// The one TLS 1.2 suite the members under test are given. etcd needs an
/// AES-128-GCM suite in the list: without one Go's HTTP/2 server refuses the
/// configuration and etcd exits at start-up ("listener failed").
const ALLOWED: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_negotiates_only_the_listed_tls12_suites() {
    negotiates_only_listed(ClusterSpec::new(cairn_bin(), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_negotiates_only_the_listed_tls12_suites() {
    negotiates_only_listed(ClusterSpec::new(etcd_bin(), 3)).await;
}

async fn negotiates_only_listed(spec: ClusterSpec) {
    let certs = tempfile::tempdir().expect("temp dir");
    // rcgen's keys are ECDSA P-256, so the ECDSA suites are the ones in play.
    let files = TlsFiles::generate(certs.path(), "suites").expect("certificates");
    let spec = spec
        .tls(files.clone())
        .extra_args([format!("--cipher-suites={ALLOWED}")]);
    let cluster = Cluster::start(spec).await.expect("member starts");

    for (port, what) in [
        (cluster.client_port(0), "client port"),
        (cluster.peer_port(0), "peer port"),
    ] {
        let tls12 = |suite| handshake(&files, port, Some(suite));
        assert_eq!(
            tls12(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
            Ok(()),
            "{what}: the listed suite"
        );
        for refused in [
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ] {
            let got = tls12(refused);
            assert!(got.is_err(), "{what}: {refused:?} was negotiated");
        }
        let got = handshake(&files, port, None);
        assert!(got.is_err(), "{what}: TLS 1.3 was negotiated");
    }

    // The members reach one another with the list too (TLS 1.2 only): a
    // write through one member is read through another.
    let ctl = |bin: std::path::PathBuf, i: usize, args: &[&str]| {
        let out = Command::new(bin)
            .args(["--endpoints", &cluster.endpoint(i)])
            .args(cluster.cli_tls_args())
            .args(args)
            .output()
            .expect("run etcdctl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ctl(etcdctl_bin(), 0, &["put", "k", "v"]);
    let got = ctl(cairnctl_bin(), 2, &["get", "k", "--print-value-only"]);
    assert_eq!(got.trim(), "v");
}

/// A TLS handshake with the member on `port`, with our client certificate:
/// TLS 1.2 offering only `suite`, or TLS 1.3 (`None`) with rustls' suites.
fn handshake(files: &TlsFiles, port: u16, suite: Option<CipherSuite>) -> Result<(), String> {
    let mut provider = rustls::crypto::ring::default_provider();
    let versions: &[&rustls::SupportedProtocolVersion] = match suite {
        Some(suite) => {
            provider.cipher_suites.retain(|s| s.suite() == suite);
            &[&rustls::version::TLS12]
        }
        None => &[&rustls::version::TLS13],
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(&files.ca).expect("CA certificate");
    roots.add(ca).expect("CA added");
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .expect("certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(&files.key).expect("key");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("connection");
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_accepts_every_name_etcd_accepts() {
    starts_with_every_name(ClusterSpec::new(cairn_bin(), 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_accepts_every_name_in_the_list() {
    starts_with_every_name(ClusterSpec::new(etcd_bin(), 1)).await;
}

/// Go 1.16's suite names (what etcd 3.5.1 accepts), TLS 1.3 ones included,
/// and etcd's short names for the two ChaCha20 suites.
const EVERY_NAME: &str = "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,\
TLS_CHACHA20_POLY1305_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,\
TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,\
TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,\
TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,\
TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_RSA_WITH_RC4_128_SHA,\
TLS_RSA_WITH_3DES_EDE_CBC_SHA,TLS_RSA_WITH_AES_128_CBC_SHA,TLS_RSA_WITH_AES_256_CBC_SHA,\
TLS_RSA_WITH_AES_128_CBC_SHA256,TLS_RSA_WITH_AES_128_GCM_SHA256,\
TLS_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,\
TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,\
TLS_ECDHE_RSA_WITH_RC4_128_SHA,TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,\
TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,\
TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256";

async fn starts_with_every_name(spec: ClusterSpec) {
    let spec = spec.extra_args([format!("--cipher-suites={EVERY_NAME}")]);
    Cluster::start(spec)
        .await
        .expect("a member with every name etcd accepts starts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_refuses_a_name_etcd_refuses() {
    refuses_unknown_names(ClusterSpec::new(cairn_bin(), 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_refuses_unknown_names() {
    refuses_unknown_names(ClusterSpec::new(etcd_bin(), 1)).await;
}

async fn refuses_unknown_names(spec: ClusterSpec) {
    // Lower case, a CBC suite Go never had, and a space after the comma.
    for (flag, refused) in [
        (
            "tls_ecdhe_rsa_with_aes_128_gcm_sha256",
            "tls_ecdhe_rsa_with_aes_128_gcm_sha256",
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            " TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ),
    ] {
        let spec = spec.clone().extra_args([format!("--cipher-suites={flag}")]);
        let log = exits_with_a_failure(spec).await;
        let words = format!(r#"unexpected TLS cipher suite \"{refused}\""#);
        assert!(
            log.contains(&words),
            "--cipher-suites={flag:?}: log lacks {words}:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_with_tls_and_no_usable_suite_does_not_start() {
    let log = stops_without_usable_suite(ClusterSpec::new(cairn_bin(), 1)).await;
    assert!(
        log.contains("--cipher-suites names no TLS 1.2 cipher suite Cairn implements"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_tls_and_no_aes128_gcm_suite_does_not_start() {
    // Go's HTTP/2 server wants an ECDHE AES-128-GCM suite in the list.
    stops_without_usable_suite(ClusterSpec::new(etcd_bin(), 1)).await;
}

/// A TLS member given only a CBC suite (which rustls lacks, and which lacks
/// what Go's HTTP/2 wants) exits with a failure; returns its log.
async fn stops_without_usable_suite(spec: ClusterSpec) -> String {
    let certs = tempfile::tempdir().expect("temp dir");
    let files = TlsFiles::generate(certs.path(), "cbc").expect("certificates");
    let spec = spec
        .tls(files)
        .extra_args(["--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA".to_string()]);
    exits_with_a_failure(spec).await
}

/// Starts the one member of `spec` and waits for it to exit by itself with a
/// failure (within 30 s); returns its log.
async fn exits_with_a_failure(spec: ClusterSpec) -> String {
    let args = spec.extra_args.clone();
    let mut cluster = Cluster::launch(spec).expect("launch");
    let exit = cluster
        .wait_exit(0, Duration::from_secs(30))
        .await
        .expect("wait for exit");
    let log = cluster.read_log(0);
    let Some(exit) = exit else {
        panic!("{args:?}: still running after 30 s; log:\n{log}");
    };
    assert!(!exit.success(), "{args:?}: exit {exit}; log:\n{log}");
    log
}
