//! A leader that crashes and comes back before anyone else campaigns must not
//! lead again in its old term: it starts as a follower and leads (or follows)
//! only after a new election, as an etcd member does. Resuming the old term
//! at once gave it a commit index restored from a hint that can lag what it
//! had acknowledged, and followers then answered linearizable reads without
//! writes already acknowledged (a revision going backwards, seen once in the
//! durability test).
//!
//! The election timeout is long (3 s) so that the crashed leader is back well
//! before the other members would campaign. Run on Cairn and on real etcd
//! 3.5.1 side by side: etcd is the reference for what must happen.

use std::path::PathBuf;
use std::time::Duration;

use cairn_harness::{cairn_bin, etcd_bin, Cluster, ClusterSpec};

/// The Raft term member `i` reports.
async fn term_of(cluster: &Cluster, i: usize) -> u64 {
    let mut client = cluster.client(i).await.expect("client");
    let status = client.status().await.expect("status");
    status.raft_term
}

async fn restarted_leader_wins_a_new_term_first(server: PathBuf) {
    let mut cluster = Cluster::start(ClusterSpec::new(&server, 3).extra_args([
        "--heartbeat-interval",
        "100",
        "--election-timeout",
        "3000",
    ]))
    .await
    .expect("3-member cluster starts");
    let leader = cluster
        .wait_for_leader(None, Duration::from_secs(30))
        .await
        .expect("a leader");
    // Every member has applied a write of the leader's term.
    let put = cluster
        .client(leader)
        .await
        .expect("client")
        .put("before-crash", "v")
        .await
        .expect("put");
    let acked = put.header.expect("header").revision;
    let term_before = term_of(&cluster, leader).await;

    cluster.kill(leader).expect("SIGKILL the leader");
    cluster
        .restart(leader)
        .await
        .expect("the crashed leader starts again");
    let new_leader = cluster
        .wait_for_leader(None, Duration::from_secs(30))
        .await
        .expect("a leader after the restart");
    let term_after = term_of(&cluster, new_leader).await;
    assert!(
        term_after > term_before,
        "{} leads in term {term_after}, the term {} led in before its crash: a leader \
         must win a new election after a restart",
        cluster.name(new_leader),
        cluster.name(leader)
    );
    // And the write acknowledged before the crash is seen by a linearizable
    // read through every member.
    for i in 0..cluster.len() {
        let read = cluster
            .client(i)
            .await
            .expect("client")
            .get("before-crash")
            .await
            .expect("linearizable get");
        let revision = read.header.expect("header").revision;
        assert!(
            revision >= acked && read.kvs.len() == 1,
            "{}: linearizable read at revision {revision} with {} keys after a write \
             acknowledged at {acked}",
            cluster.name(i),
            read.kvs.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_restarted_leader_wins_a_new_term_first() {
    restarted_leader_wins_a_new_term_first(cairn_bin()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_restarted_leader_wins_a_new_term_first() {
    restarted_leader_wins_a_new_term_first(etcd_bin()).await;
}
