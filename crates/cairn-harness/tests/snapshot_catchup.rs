//! Catch-up by snapshot: with `--snapshot-count 100`, a member that was down
//! while 1000 keys of 10 KB were written comes back and converges to identical
//! contents. For cairn, its log must show that it received the Raft snapshot
//! in several chunks (the snapshot, ~10 MB, is larger than one chunk) and
//! installed it, that nothing is left of the transfer (the store holds it
//! now), and that it restarts from it; etcd keeps 5000 entries for slow followers, so it may catch
//! up from the log and nothing is asserted there.
//!
//! Server: `cairn`, or real etcd with `CAIRN_TEST_SERVER=etcd`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_harness::{Cluster, ClusterSpec, ServerKind};

const KEYS: usize = 1000;
/// Value size: 1000 values make a snapshot of several 4 MiB transfer chunks.
const VALUE_BYTES: usize = 10 * 1024;
const LAGGARD: usize = 2;

async fn contents(cluster: &Cluster, i: usize) -> Option<Contents> {
    let mut client = cluster.client(i).await.ok()?;
    let all = client.get_all(true).await.ok()?;
    let revision = all.header.map(|h| h.revision).unwrap_or(-1);
    let kvs = all
        .kvs
        .into_iter()
        .map(|kv| (kv.key, (kv.create_revision, kv.mod_revision, kv.value)))
        .collect();
    Some((revision, kvs))
}

type Contents = (i64, BTreeMap<Vec<u8>, (i64, i64, Vec<u8>)>);

/// Waits (up to a minute) until member `i` serves exactly `reference`.
async fn wait_until_converged(cluster: &Cluster, i: usize, reference: &Contents) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let member = contents(cluster, i).await;
        if member.as_ref() == Some(reference) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "member {i} did not converge: at revision {:?} with {:?} keys (reference: revision {}, {} keys)",
            member.as_ref().map(|l| l.0),
            member.as_ref().map(|l| l.1.len()),
            reference.0,
            reference.1.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Value `n`: its number, padded to [`VALUE_BYTES`].
fn value(n: usize) -> Vec<u8> {
    let mut v = format!("value-{n}-").into_bytes();
    v.resize(VALUE_BYTES, b'.');
    v
}

/// The `chunks` field of the log's `cairn: received raft snapshot` record.
fn received_chunks(log: &str) -> Option<u64> {
    log.lines()
        .filter(|l| l.contains("cairn: received raft snapshot"))
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|record| record["chunks"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_member_catches_up_by_snapshot() {
    let kind = ServerKind::from_env();
    let mut cluster =
        Cluster::start(ClusterSpec::new(kind.binary(), 3).extra_args(["--snapshot-count", "100"]))
            .await
            .expect("3-member cluster starts");
    cluster.stop(LAGGARD).await.expect("stop the laggard");

    let mut client = cluster.client(0).await.expect("client for m0");
    let mut last_revision = 0;
    for n in 0..KEYS {
        let response = client
            .put(format!("key-{n:04}"), value(n))
            .await
            .unwrap_or_else(|e| panic!("put {n} with one member down: {e}"));
        last_revision = response.header.map(|h| h.revision).unwrap_or(0);
    }
    assert!(last_revision >= KEYS as i64);

    cluster
        .restart(LAGGARD)
        .await
        .expect("laggard restarts and becomes healthy");
    let reference = contents(&cluster, 0).await.expect("m0 contents");
    assert_eq!(reference.1.len(), KEYS);
    wait_until_converged(&cluster, LAGGARD, &reference).await;
    let m1 = contents(&cluster, 1).await.expect("m1 contents");
    assert_eq!(m1, reference, "m1 differs from m0");

    match kind {
        ServerKind::Cairn => {
            let log = cluster.log_of_last_start(LAGGARD);
            let chunks = received_chunks(&log);
            assert!(
                chunks.is_some_and(|c| c >= 2),
                "the snapshot did not arrive in several chunks ({chunks:?}); log since restart:\n{}",
                cairn_harness::cluster::tail(&log, 60)
            );
            assert!(
                log.contains("cairn: installed raft snapshot"),
                "the restarted cairn member did not log `cairn: installed raft snapshot`; \
                 log since restart:\n{}",
                cairn_harness::cluster::tail(&log, 60)
            );
            // Nothing is left of the transfer on either side (the store holds
            // the snapshot now), and the member restarts from it.
            for member in 0..3 {
                let snap_dir = cluster.data_dir(member).join("member").join("snap");
                let files: Vec<String> = std::fs::read_dir(&snap_dir)
                    .expect("list a snapshot directory")
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .filter(|name| name != "db")
                    .collect();
                assert!(
                    files.is_empty(),
                    "left in {}: {files:?}",
                    snap_dir.display()
                );
            }
            cluster
                .restart(LAGGARD)
                .await
                .expect("laggard restarts from the installed snapshot");
            wait_until_converged(&cluster, LAGGARD, &reference).await;
        }
        ServerKind::Etcd => eprintln!("server is etcd: not asserting on snapshot installation"),
    }
}
