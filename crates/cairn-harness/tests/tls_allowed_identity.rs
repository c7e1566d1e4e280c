//! `--peer-cert-allowed-cn`, `--peer-cert-allowed-hostname` and
//! `--client-cert-allowed-hostname` on Cairn and on real etcd 3.5.1, side by
//! side. Every certificate comes from the same CA, so only the allowed
//! identity tells them apart:
//! - three members whose certificates carry the allowed common name (or are
//!   valid for the allowed hostname) form the cluster and forward writes to
//!   one another, which needs the check to pass both ways on the peer port;
//! - a certificate with another common name, or not valid for the hostname,
//!   is refused at the handshake on the peer port (TLS 1.2, where the refusal
//!   ends the handshake), while the members' own certificate is accepted;
//! - `--client-cert-allowed-hostname` refuses an etcdctl client whose
//!   certificate is not valid for the hostname and serves one that is;
//! - a member calling a peer whose server certificate has another common name
//!   refuses it (a learner added with the URL of an impostor TLS server);
//! - both peer flags at once stop the member at start-up;
//! - after the handshake, the peer port closes a connection whose certificate
//!   does not name the address it comes from (IP SANs, or DNS SANs resolving
//!   to it), unless `--experimental-peer-skip-client-san-verification`.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_harness::{cairn_bin, etcd_bin, etcdctl_bin, Cluster, ClusterSpec, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_checks_the_peer_common_name() {
    peer_common_name(ClusterSpec::new(cairn_bin(), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_checks_the_peer_common_name() {
    peer_common_name(ClusterSpec::new(etcd_bin(), 3)).await;
}

async fn peer_common_name(spec: ClusterSpec) {
    let dir = tempfile::tempdir().expect("temp dir");
    let members = TlsFiles::generate(dir.path(), "cn").expect("certificates");
    let intruder = members
        .issue_for(
            dir.path(),
            "intruder",
            "intruder",
            &["localhost", "127.0.0.1"],
        )
        .expect("intruder");
    let cluster = Cluster::start(
        spec.tls(members.clone())
            .extra_args(["--peer-cert-allowed-cn".to_string(), members.common_name()]),
    )
    .await
    .expect("members with the allowed common name form a cluster");
    writes_through_every_member(&cluster, &members);
    for i in 0..3 {
        let port = cluster.peer_port(i);
        handshake_tls12(&members, port).expect("the members' certificate is accepted");
        let refused = handshake_tls12(&intruder, port);
        assert!(
            refused.is_err(),
            "{}: a peer certificate with another common name was accepted",
            cluster.name(i)
        );
    }
    // The other way: a learner whose peer URL is served with the intruder's
    // certificate. The leader calls it to replicate, and must refuse it.
    let impostor = ImpostorPeer::start(&intruder);
    let peer_url = format!("--peer-urls=https://127.0.0.1:{}", impostor.port);
    let add_args = ["member", "add", "impostor", "--learner", &peer_url];
    // etcd refuses membership changes ("unhealthy cluster") until its members
    // have been connected for 5 s: wait for that, as for any readiness.
    let started = std::time::Instant::now();
    let add = loop {
        let add = etcdctl(&cluster, 0, &members, &add_args);
        let unready = String::from_utf8_lossy(&add.stderr).contains("unhealthy cluster");
        if !unready || started.elapsed() > Duration::from_secs(30) {
            break add;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        add.status.success(),
        "member add: {}",
        String::from_utf8_lossy(&add.stderr)
    );
    // Calls to it start at once and are retried; a handful of seconds sees many.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        impostor.connections() > 0,
        "no member called the learner's peer URL"
    );
    assert_eq!(
        impostor.completed_handshakes(),
        0,
        "a member accepted a peer's server certificate with another common name"
    );
}

/// A TLS server on a free port presenting a certificate, counting the
/// connections it gets and the handshakes that complete (the client accepted
/// its certificate). It does not ask for a client certificate.
struct ImpostorPeer {
    port: u16,
    connections: Arc<AtomicUsize>,
    completed: Arc<AtomicUsize>,
}

impl ImpostorPeer {
    fn start(files: &TlsFiles) -> ImpostorPeer {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            pem_chain(&files.cert),
            PrivateKeyDer::from_pem_file(&files.key).expect("key"),
        )
        .expect("server certificate");
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let completed = Arc::new(AtomicUsize::new(0));
        let (seen, done) = (connections.clone(), completed.clone());
        // Lives as long as the test process; each connection on its own thread.
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                seen.fetch_add(1, Ordering::SeqCst);
                let (config, done) = (config.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut tcp = tcp;
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                    let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    while conn.is_handshaking() {
                        if conn.complete_io(&mut tcp).is_err() {
                            return;
                        }
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        ImpostorPeer {
            port,
            connections,
            completed,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn completed_handshakes(&self) -> usize {
        self.completed.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_checks_the_peer_hostname() {
    peer_hostname(ClusterSpec::new(cairn_bin(), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_checks_the_peer_hostname() {
    peer_hostname(ClusterSpec::new(etcd_bin(), 3)).await;
}

async fn peer_hostname(spec: ClusterSpec) {
    let dir = tempfile::tempdir().expect("temp dir");
    let members = TlsFiles::generate(dir.path(), "host").expect("certificates");
    // Its common name is the allowed hostname: only the alternative names count.
    let intruder = members
        .issue_for(
            dir.path(),
            "intruder",
            "localhost",
            &["other.example", "127.0.0.1"],
        )
        .expect("intruder");
    let cluster = Cluster::start(
        spec.tls(members.clone())
            .extra_args(["--peer-cert-allowed-hostname", "localhost"]),
    )
    .await
    .expect("members valid for the allowed hostname form a cluster");
    writes_through_every_member(&cluster, &members);
    let port = cluster.peer_port(1);
    handshake_tls12(&members, port).expect("the members' certificate is accepted");
    assert!(
        handshake_tls12(&intruder, port).is_err(),
        "a peer certificate not valid for the allowed hostname was accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_checks_the_client_hostname() {
    client_hostname(ClusterSpec::new(cairn_bin(), 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_checks_the_client_hostname() {
    client_hostname(ClusterSpec::new(etcd_bin(), 1)).await;
}

async fn client_hostname(spec: ClusterSpec) {
    let dir = tempfile::tempdir().expect("temp dir");
    let members = TlsFiles::generate(dir.path(), "client").expect("certificates");
    let admin = members
        .issue_for(dir.path(), "admin", "admin", &["localhost"])
        .expect("admin");
    // Its common name is the allowed hostname: only the alternative names count.
    let stranger = members
        .issue_for(dir.path(), "stranger", "localhost", &["stranger.example"])
        .expect("stranger");
    // The allowed hostname is localhost so that the harness's health probe,
    // which presents the members' certificate, is admitted.
    let cluster = Cluster::start(
        spec.tls(members.clone())
            .extra_args(["--client-cert-allowed-hostname", "localhost"]),
    )
    .await
    .expect("member starts");
    let put = etcdctl(&cluster, 0, &admin, &["put", "k", "v"]);
    assert!(
        put.status.success(),
        "a client certificate valid for the allowed hostname was refused: {}",
        String::from_utf8_lossy(&put.stderr)
    );
    let refused = etcdctl(&cluster, 0, &stranger, &["get", "k"]);
    assert!(
        !refused.status.success(),
        "a client certificate not valid for the allowed hostname was served: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_refuses_both_peer_identities_at_once() {
    let message = both_identities(ClusterSpec::new(cairn_bin(), 1)).await;
    assert!(
        message.contains("AllowedCN and AllowedHostname are mutually exclusive"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_refuses_both_peer_identities_at_once() {
    let message = both_identities(ClusterSpec::new(etcd_bin(), 1)).await;
    assert!(
        message.contains("AllowedCN and AllowedHostname are mutually exclusive"),
        "{message}"
    );
}

/// Starts a member with both peer flags; it must exit with a failure. Returns its log.
async fn both_identities(spec: ClusterSpec) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let members = TlsFiles::generate(dir.path(), "both").expect("certificates");
    let mut cluster = Cluster::launch(spec.tls(members).extra_args([
        "--peer-cert-allowed-cn",
        "etcd.local",
        "--peer-cert-allowed-hostname",
        "localhost",
    ]))
    .expect("launch");
    let status = cluster
        .wait_exit(0, Duration::from_secs(30))
        .await
        .expect("wait for exit");
    assert!(
        status.is_some_and(|s| !s.success()),
        "a member with both peer flags did not stop with a failure: {status:?}"
    );
    cluster.read_log(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_checks_where_peer_certificates_are_used_from() {
    peer_client_addresses(cairn_bin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_checks_where_peer_certificates_are_used_from() {
    peer_client_addresses(etcd_bin).await;
}

/// etcd's peer listener checks, after the handshake, that the certificate a
/// member presents names the address it connects from (IP SANs, or DNS SANs
/// resolving to it; none at all passes), unless
/// `--experimental-peer-skip-client-san-verification`.
async fn peer_client_addresses(binary: fn() -> std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let members = TlsFiles::generate(dir.path(), "san").expect("certificates");
    let issue = |name: &str, names: &[&str]| {
        members
            .issue_for(dir.path(), name, name, names)
            .expect("certificate")
    };
    let elsewhere = issue("elsewhere", &["10.11.12.13"]);
    let unresolvable = issue("unresolvable", &["no-such-host.invalid"]);
    let by_name = issue("by-name", &["localhost"]);
    let no_names = issue("no-names", &[]);
    let cluster = Cluster::start(ClusterSpec::new(binary(), 3).tls(members.clone()))
        .await
        .expect("members whose certificates name 127.0.0.1 form a cluster");
    writes_through_every_member(&cluster, &members);
    let port = cluster.peer_port(1);
    for (files, what) in [
        (&members, "an IP SAN of the address"),
        (&by_name, "a DNS SAN resolving to the address"),
        (&no_names, "no SAN at all"),
    ] {
        assert_eq!(
            kept_open_after_handshake(files, port),
            Ok(true),
            "a peer certificate with {what} was refused"
        );
    }
    for (files, what) in [
        (&elsewhere, "only another IP"),
        (&unresolvable, "only a DNS name that does not resolve"),
    ] {
        assert_eq!(
            kept_open_after_handshake(files, port),
            Ok(false),
            "a peer certificate with {what} was accepted from 127.0.0.1"
        );
    }
    drop(cluster);

    let skipping = Cluster::start(
        ClusterSpec::new(binary(), 1)
            .tls(members.clone())
            .extra_args(["--experimental-peer-skip-client-san-verification"]),
    )
    .await
    .expect("member starts");
    assert_eq!(
        kept_open_after_handshake(&elsewhere, skipping.peer_port(0)),
        Ok(true),
        "with --experimental-peer-skip-client-san-verification, a certificate naming another IP was refused"
    );
}

/// A TLS 1.2 handshake with `files`' certificate, then whether the member
/// keeps the connection open for 2 s (`true`) or closes it (`false`).
fn kept_open_after_handshake(files: &TlsFiles, port: u16) -> Result<bool, String> {
    use std::io::Read;
    let (mut conn, mut tcp) = connect_tls12(files, port)?;
    tcp.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    match rustls::Stream::new(&mut conn, &mut tcp).read(&mut buf) {
        Ok(0) => Ok(false),
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// Puts through every member with the members' certificate: followers forward
/// to the leader over the peer port, which needs the check to pass both ways.
fn writes_through_every_member(cluster: &Cluster, members: &TlsFiles) {
    for i in 0..cluster.len() {
        let out = etcdctl(cluster, i, members, &["put", &format!("m{i}"), "v"]);
        assert!(
            out.status.success(),
            "put through {}: {}",
            cluster.name(i),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// etcdctl against member `i` with `client`'s certificate, a short timeout.
fn etcdctl(cluster: &Cluster, i: usize, client: &TlsFiles, args: &[&str]) -> Output {
    Command::new(etcdctl_bin())
        .args(["--endpoints", &cluster.endpoint(i)])
        .args(client.cli_args())
        .args(["--dial-timeout=2s", "--command-timeout=5s"])
        .args(args)
        .output()
        .expect("run etcdctl")
}

/// A TLS 1.2 handshake with the member on `port`, presenting `files`'
/// certificate: in TLS 1.2 a refused client certificate ends the handshake.
fn handshake_tls12(files: &TlsFiles, port: u16) -> Result<(), String> {
    connect_tls12(files, port).map(|_| ())
}

/// [`handshake_tls12`], returning the connection.
fn connect_tls12(
    files: &TlsFiles,
    port: u16,
) -> Result<(rustls::ClientConnection, TcpStream), String> {
    let provider = rustls::crypto::ring::default_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&files.ca).expect("CA certificate"))
        .expect("CA added");
    let chain = pem_chain(&files.cert);
    let key = PrivateKeyDer::from_pem_file(&files.key).expect("key");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
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
    Ok((conn, tcp))
}

fn pem_chain(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate")
}
