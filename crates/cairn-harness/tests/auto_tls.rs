//! `--auto-tls` and `--peer-auto-tls` on Cairn and on real etcd 3.5.1, side by
//! side, with no certificate files given:
//! - three members with `--peer-auto-tls` and `https://` peer URLs make
//!   self-signed peer certificates (`<data-dir>/fixtures/peer/`), form the
//!   cluster over TLS and replicate a write;
//! - one member with `--auto-tls` and an `https://` client URL serves TLS
//!   with a self-signed certificate (`<data-dir>/fixtures/client/`): etcdctl
//!   with `--insecure-skip-tls-verify` writes and reads, etcdctl checking the
//!   certificate against the system's CAs is refused, and a restart uses the
//!   certificate already in `fixtures/client` instead of making another.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_harness::ports::free_ports;
use cairn_harness::{cairn_bin, etcd_bin, etcdctl_bin};

/// A member process, killed when dropped (also when the test fails).
struct Member {
    child: Child,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` as member `name` with these flags, logging to `<dir>/<name>.log`.
fn start(binary: &Path, dir: &Path, name: &str, args: &[String]) -> Member {
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .expect("log file");
    let child = Command::new(binary)
        .arg("--name")
        .arg(name)
        .arg("--data-dir")
        .arg(dir.join(format!("{name}.data")))
        .args(args)
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start member");
    Member { child }
}

fn etcdctl(endpoint: &str, extra: &[&str], args: &[&str]) -> Output {
    Command::new(etcdctl_bin())
        .args([
            "--endpoints",
            endpoint,
            "--dial-timeout=2s",
            "--command-timeout=5s",
        ])
        .args(extra)
        .args(args)
        .output()
        .expect("run etcdctl")
}

/// Polls `endpoint health` until it succeeds (60 s at most).
fn wait_healthy(endpoint: &str, extra: &[&str], dir: &Path) {
    let start = Instant::now();
    loop {
        let out = etcdctl(endpoint, extra, &["endpoint", "health"]);
        if out.status.success() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{endpoint} not healthy: {}\nlogs in {}",
            String::from_utf8_lossy(&out.stderr),
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn cairn_members_talk_tls_with_self_signed_peer_certificates() {
    peer_auto_tls(&cairn_bin());
}

#[test]
fn etcd_members_talk_tls_with_self_signed_peer_certificates() {
    peer_auto_tls(&etcd_bin());
}

fn peer_auto_tls(binary: &Path) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = free_ports(6).expect("ports");
    let names = ["a0", "a1", "a2"];
    let initial_cluster = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n}=https://127.0.0.1:{}", ports[3 + i]))
        .collect::<Vec<_>>()
        .join(",");
    let members: Vec<Member> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let client = format!("http://127.0.0.1:{}", ports[i]);
            let peer = format!("https://127.0.0.1:{}", ports[3 + i]);
            start(
                binary,
                dir.path(),
                name,
                &[
                    "--peer-auto-tls".into(),
                    "--listen-client-urls".into(),
                    client.clone(),
                    "--advertise-client-urls".into(),
                    client,
                    "--listen-peer-urls".into(),
                    peer.clone(),
                    "--initial-advertise-peer-urls".into(),
                    peer,
                    "--initial-cluster".into(),
                    initial_cluster.clone(),
                    "--initial-cluster-token".into(),
                    "auto-tls".into(),
                ],
            )
        })
        .collect();
    let endpoint = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
    for i in 0..3 {
        wait_healthy(&endpoint(i), &[], dir.path());
    }
    let put = etcdctl(&endpoint(0), &[], &["put", "k", "v"]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let got = etcdctl(&endpoint(2), &[], &["get", "k", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "v");
    for name in names {
        let fixtures = dir.path().join(format!("{name}.data/fixtures/peer"));
        assert!(
            fixtures.join("cert.pem").exists() && fixtures.join("key.pem").exists(),
            "no self-signed pair in {}",
            fixtures.display()
        );
    }
    drop(members);
}

#[test]
fn cairn_serves_clients_with_a_self_signed_certificate() {
    client_auto_tls(&cairn_bin());
}

#[test]
fn etcd_serves_clients_with_a_self_signed_certificate() {
    client_auto_tls(&etcd_bin());
}

fn client_auto_tls(binary: &Path) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = free_ports(2).expect("ports");
    let client = format!("https://127.0.0.1:{}", ports[0]);
    let peer = format!("http://127.0.0.1:{}", ports[1]);
    let args = vec![
        "--auto-tls".to_string(),
        "--listen-client-urls".into(),
        client.clone(),
        "--advertise-client-urls".into(),
        client.clone(),
        "--listen-peer-urls".into(),
        peer.clone(),
        "--initial-advertise-peer-urls".into(),
        peer.clone(),
        "--initial-cluster".into(),
        format!("s0={peer}"),
    ];
    // etcdctl applies --insecure-skip-tls-verify only with TLS asked for.
    let insecure = ["--insecure-transport=false", "--insecure-skip-tls-verify"];
    let member = start(binary, dir.path(), "s0", &args);
    wait_healthy(&client, &insecure, dir.path());
    let put = etcdctl(&client, &insecure, &["put", "k", "v"]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let checked = etcdctl(&client, &[], &["get", "k"]);
    assert!(
        !checked.status.success(),
        "a self-signed certificate passed etcdctl's check against the system CAs"
    );
    let cert: PathBuf = dir.path().join("s0.data/fixtures/client/cert.pem");
    let first = std::fs::read(&cert).expect("self-signed certificate in fixtures/client");

    drop(member);
    let _member = start(binary, dir.path(), "s0", &args);
    wait_healthy(&client, &insecure, dir.path());
    let got = etcdctl(&client, &insecure, &["get", "k", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "v");
    assert_eq!(
        std::fs::read(&cert).expect("certificate"),
        first,
        "a restart made a new certificate instead of using the one in fixtures/client"
    );
}
