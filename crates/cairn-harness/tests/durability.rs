//! Durability under crashes: 20 concurrent clients write unique keys to a
//! 3-member cluster while, for 10 rounds, the leader and then a follower are
//! SIGKILLed and restarted. Afterwards every acknowledged put is readable on
//! every member with mod_revision equal to the acknowledged revision, all
//! members hold identical contents, and no client ever saw its revisions go
//! backwards. Unacknowledged writes (errors, timeouts) may or may not exist.
//! It runs twice: with the default `--snapshot-count`, and with 30, so that
//! Raft snapshots, log purges and catch-up by snapshot happen all through the
//! crashes.
//!
//! Server: `cairn`, or real etcd with `CAIRN_TEST_SERVER=etcd`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_harness::{server_binary, Client, Cluster, ClusterSpec};

const CLIENTS: usize = 20;
const ROUNDS: usize = 10;

/// What one writer saw.
#[derive(Debug, Default)]
struct WriterLog {
    /// Acknowledged puts: key → revision from the response header.
    acked: Vec<(String, i64)>,
    /// Failed or timed-out puts (may or may not have been applied).
    failed: usize,
    /// Revisions that went backwards, as "(previous, observed) by <request>
    /// on <endpoint>" — must stay empty.
    regressions: Vec<String>,
}

/// Wall-clock milliseconds, to find an event in the members' logs.
fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Writes `c<id>-<n>` keys until `stop`, rotating endpoints on errors.
async fn writer(id: usize, endpoints: Vec<String>, stop: Arc<AtomicBool>) -> WriterLog {
    let mut log = WriterLog::default();
    let mut clients: Vec<Option<Client>> = vec![None; endpoints.len()];
    let mut current = id % endpoints.len();
    let mut last_revision = 0i64;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        if clients[current].is_none() {
            clients[current] = Client::connect_with_timeout(
                &endpoints[current],
                Duration::from_secs(1),
                Duration::from_secs(5),
            )
            .await
            .ok();
        }
        let Some(client) = clients[current].as_mut() else {
            current = (current + 1) % endpoints.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let key = format!("c{id:02}-{n:06}");
        n += 1;
        match client.put(key.clone(), format!("value of {key}")).await {
            Ok(response) => {
                let revision = response.header.map(|h| h.revision).unwrap_or(0);
                if revision <= last_revision {
                    log.regressions.push(format!(
                        "({last_revision}, {revision}) by put {key} on {} at {}",
                        endpoints[current],
                        unix_millis()
                    ));
                }
                last_revision = last_revision.max(revision);
                log.acked.push((key, revision));
            }
            Err(_) => {
                log.failed += 1;
                current = (current + 1) % endpoints.len();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        // Every 16th write, a linearizable read must not show an older revision.
        if n % 16 == 0 {
            let key = format!("c{id:02}-{:06}", n - 1);
            if let Ok(read) = client.get(key.clone()).await {
                let revision = read.header.map(|h| h.revision).unwrap_or(0);
                if revision < last_revision {
                    log.regressions.push(format!(
                        "({last_revision}, {revision}) by linearizable get {key} on {} at {}",
                        endpoints[current],
                        unix_millis()
                    ));
                }
                last_revision = last_revision.max(revision);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    log
}

/// Every member's (revision, contents) once all report the same revision.
async fn converged_contents(cluster: &Cluster) -> Vec<BTreeMap<Vec<u8>, (i64, Vec<u8>)>> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut revisions = Vec::new();
        let mut contents = Vec::new();
        for i in 0..cluster.len() {
            let mut client = cluster.client(i).await.expect("client");
            if let Ok(all) = client.get_all(true).await {
                revisions.push(all.header.map(|h| h.revision).unwrap_or(-1));
                contents.push(
                    all.kvs
                        .into_iter()
                        .map(|kv| (kv.key, (kv.mod_revision, kv.value)))
                        .collect::<BTreeMap<_, _>>(),
                );
            }
        }
        if revisions.len() == cluster.len() && revisions.iter().all(|r| *r == revisions[0]) {
            return contents;
        }
        assert!(
            Instant::now() < deadline,
            "members did not converge to one revision: {revisions:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_leader_and_follower_crashes() {
    writes_survive_crashes(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_crashes_with_frequent_snapshots() {
    writes_survive_crashes(&["--snapshot-count", "30"]).await;
}

/// Runs the crash rounds on a cluster started with `extra_args`.
async fn writes_survive_crashes(extra_args: &[&str]) {
    let server = server_binary();
    let mut cluster =
        Cluster::start(ClusterSpec::new(&server, 3).extra_args(extra_args.iter().copied()))
            .await
            .expect("3-member cluster starts");
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(writer(id, cluster.endpoints(), stop.clone())))
        .collect();

    for round in 0..ROUNDS {
        let leader = cluster
            .wait_for_leader(None, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        cluster.kill(leader).expect("SIGKILL leader");
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster
            .restart(leader)
            .await
            .unwrap_or_else(|e| panic!("round {round}: restarting killed leader: {e}"));

        let leader = cluster
            .wait_for_leader(None, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let follower = (leader + 1 + round % 2) % cluster.len();
        cluster.kill(follower).expect("SIGKILL follower");
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster
            .restart(follower)
            .await
            .unwrap_or_else(|e| panic!("round {round}: restarting killed follower: {e}"));
        eprintln!(
            "round {round}: killed+restarted leader and follower {}",
            cluster.name(follower)
        );
    }

    // Let the writers run briefly on a healthy cluster, then stop them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for w in writers {
        logs.push(w.await.expect("writer task"));
    }
    let acked: usize = logs.iter().map(|l| l.acked.len()).sum();
    let failed: usize = logs.iter().map(|l| l.failed).sum();
    eprintln!("{acked} puts acknowledged, {failed} failed or timed out");
    assert!(
        acked > CLIENTS * 10,
        "too few acknowledged writes ({acked}) to mean anything"
    );

    cluster
        .wait_all_healthy(Duration::from_secs(60))
        .await
        .expect("all members healthy at the end");
    // Reported now, asserted after the contents are checked: whether the
    // members also disagree tells a stale read from a lost write.
    let regressions: Vec<String> = logs
        .iter()
        .enumerate()
        .flat_map(|(id, log)| {
            log.regressions
                .iter()
                .map(move |r| format!("client {id}: {r}"))
        })
        .collect();
    for regression in &regressions {
        eprintln!("revision went backwards: {regression}");
    }
    let contents = converged_contents(&cluster).await;
    for i in 1..contents.len() {
        if contents[i] != contents[0] {
            let only_0 = contents[0]
                .keys()
                .filter(|k| !contents[i].contains_key(*k))
                .count();
            let only_i = contents[i]
                .keys()
                .filter(|k| !contents[0].contains_key(*k))
                .count();
            let differing = contents[0]
                .iter()
                .filter(|(k, v)| contents[i].get(*k).is_some_and(|w| w != *v))
                .count();
            panic!(
                "{} and {} differ: {only_0} keys only on the first, {only_i} only on the second, \
                 {differing} with different values or revisions",
                cluster.name(0),
                cluster.name(i)
            );
        }
    }
    let mut lost = Vec::new();
    for log in &logs {
        for (key, revision) in &log.acked {
            for (i, member) in contents.iter().enumerate() {
                match member.get(key.as_bytes()) {
                    Some((mod_revision, _)) if mod_revision == revision => {}
                    other => lost.push(format!(
                        "{key} (acked at revision {revision}) on {}: {:?}",
                        cluster.name(i),
                        other.map(|(r, _)| r)
                    )),
                }
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged writes missing or changed, e.g.:\n{}",
        lost.len(),
        lost.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(
        regressions.is_empty(),
        "clients saw revisions go backwards:\n{}",
        regressions.join("\n")
    );
    // What the frequent-snapshot run went through (cairn's log lines).
    eprintln!(
        "raft snapshots taken: {}, installed: {}",
        cluster.count_in_logs("cairn: took raft snapshot"),
        cluster.count_in_logs("cairn: installed raft snapshot")
    );
}
