//! `--client-crl-file` and `--peer-crl-file` on Cairn and on real etcd 3.5.1,
//! side by side: a three-member TLS cluster whose CRL revokes one client
//! certificate refuses that client and serves another from the same CA; the
//! members, whose certificate is not revoked, form the cluster and forward
//! writes to one another; a new CRL written over the old one (revoking the
//! second client too) applies to the next connection, without a restart.

use std::process::{Command, Output};

use cairn_harness::{cairn_bin, etcd_bin, etcdctl_bin, Cluster, ClusterSpec, TlsFiles};

/// Serial numbers of the two client certificates.
const ALICE: u64 = 1001;
const BOB: u64 = 1002;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_refuses_revoked_client_certificates() {
    revocation(ClusterSpec::new(cairn_bin(), 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_refuses_revoked_client_certificates() {
    revocation(ClusterSpec::new(etcd_bin(), 3)).await;
}

async fn revocation(spec: ClusterSpec) {
    let dir = tempfile::tempdir().expect("temp dir");
    let members = TlsFiles::generate(dir.path(), "crl").expect("certificates");
    let alice = members.issue(dir.path(), "alice", ALICE).expect("alice");
    let bob = members.issue(dir.path(), "bob", BOB).expect("bob");
    let crl = dir.path().join("revoked.crl.pem");
    members.write_crl(&crl, &[BOB]).expect("CRL");
    let spec = spec.tls(members.clone()).extra_args([
        format!("--client-crl-file={}", crl.display()),
        format!("--peer-crl-file={}", crl.display()),
    ]);
    let cluster = Cluster::start(spec)
        .await
        .expect("members with a CRL that does not name them form a cluster");

    let ok = |out: Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(etcdctl(&cluster, 0, &alice, &["put", "k", "v"]), "alice");
    let refused = etcdctl(&cluster, 0, &bob, &["get", "k"]);
    assert!(
        !refused.status.success(),
        "bob's revoked certificate was served"
    );
    // Writes through every member: followers forward them to the leader
    // over the peer port, whose CRL does not name the members.
    for i in 0..3 {
        ok(
            etcdctl(&cluster, i, &members, &["put", &format!("m{i}"), "v"]),
            &format!("member {i}"),
        );
    }

    // Alice is revoked too, by a new list written over the old one.
    members.write_crl(&crl, &[ALICE, BOB]).expect("new CRL");
    let refused = etcdctl(&cluster, 1, &alice, &["get", "k"]);
    assert!(
        !refused.status.success(),
        "alice was served after her certificate was revoked"
    );
    let got = ok(
        etcdctl(&cluster, 1, &members, &["get", "k", "--print-value-only"]),
        "members' certificate",
    );
    assert_eq!(got.trim(), "v");
}

/// etcdctl against member `i` with `client`'s certificate, a short timeout.
fn etcdctl(cluster: &Cluster, i: usize, client: &TlsFiles, args: &[&str]) -> Output {
    Command::new(etcdctl_bin())
        .args(["--endpoints", &cluster.endpoint(i)])
        .args(client.cli_args())
        .args(["--dial-timeout=2s", "--command-timeout=3s"])
        .args(args)
        .output()
        .expect("run etcdctl")
}
