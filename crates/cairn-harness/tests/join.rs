//! `cairn --join <client-url>`: two new members with empty data dirs join a
//! one-member cluster through its client URL (no hand-written
//! `--initial-cluster`), catch up, and are promoted to voters automatically:
//! once promoted, the two of them keep the cluster writable without the first.
//!
//! With the cluster setting `manual_learner_promotion` on (`cairnctl settings
//! --manual-learner-promotion`), a joining member stays a learner once caught
//! up, until `member promote` by hand; switched back off, the next one is
//! promoted automatically.

use std::time::{Duration, Instant};

use std::process::Command;

use cairn_harness::{cairn_bin, cairnctl_bin, etcdctl_bin, run_ok, Cluster, ClusterSpec};

const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_members_join_through_a_client_url_and_become_voters() {
    let mut cluster = Cluster::start(ClusterSpec::new(cairn_bin(), 1))
        .await
        .expect("one member");
    let mut c0 = cluster.client(0).await.expect("client");
    for n in 0..50 {
        c0.put(format!("k{n:02}"), "v").await.expect("put");
    }
    let ep0 = cluster.endpoint(0);
    let joiners: Vec<usize> = ["j1", "j2"]
        .iter()
        .map(|name| {
            let i = cluster.add_joining_member(name).expect("slot");
            cluster
                .set_member_args(i, vec!["--join".into(), ep0.clone()])
                .expect("args");
            cluster.start_member(i).expect("start");
            i
        })
        .collect();
    for &i in &joiners {
        cluster
            .wait_healthy(i, DEADLINE)
            .await
            .expect("joined member healthy");
    }
    let start = Instant::now();
    loop {
        let members = c0.member_list().await.expect("member list").members;
        let status: Vec<bool> = futures_status(&cluster).await;
        if members.len() == 3
            && members.iter().all(|m| !m.name.is_empty() && !m.is_learner)
            && status.iter().all(|voter| *voter)
        {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "never three started voters: {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for &i in &joiners {
        let mut c = cluster.client(i).await.expect("client");
        let all = c.get_all(false).await.expect("read");
        assert_eq!(all.kvs.len(), 50, "member {i} has every key");
    }
    c0.put("after", "join")
        .await
        .expect("write with three voters");
}

/// Whether each running member reports itself as a non-learner in Status.
async fn futures_status(cluster: &Cluster) -> Vec<bool> {
    cluster
        .statuses()
        .await
        .into_iter()
        .map(|(_, s)| !s.is_learner)
        .collect()
}

/// `cairnctl --endpoints <endpoint> settings <args>`; its stdout.
fn settings(endpoint: &str, args: &[&str]) -> String {
    run_ok(
        Command::new(cairnctl_bin())
            .args(["--endpoints", endpoint, "settings"])
            .args(args),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_learner_promotion_is_a_cluster_setting() {
    let mut cluster = Cluster::start(ClusterSpec::new(cairn_bin(), 1))
        .await
        .expect("one member");
    let ep0 = cluster.endpoint(0);
    let mut c0 = cluster.client(0).await.expect("client");
    for n in 0..20 {
        c0.put(format!("k{n:02}"), "v").await.expect("put");
    }
    assert_eq!(settings(&ep0, &[]), "manual-learner-promotion: false\n");
    assert_eq!(
        settings(&ep0, &["--manual-learner-promotion"]),
        "manual-learner-promotion: true\n"
    );

    // j1 joins and catches up, but stays a learner.
    let j1 = cluster.add_joining_member("j1").expect("slot");
    cluster
        .set_member_args(j1, vec!["--join".into(), ep0.clone()])
        .expect("args");
    cluster.start_member(j1).expect("start");
    let start = Instant::now();
    let (j1_id, leader_applied) = loop {
        let members = c0.member_list().await.expect("member list").members;
        let leader_applied = c0.status().await.expect("status").raft_applied_index;
        let joined = members.iter().find(|m| m.name == "j1").cloned();
        let caught_up = match cluster.client(j1).await {
            Ok(mut cj) => cj
                .status()
                .await
                .is_ok_and(|s| s.raft_applied_index >= leader_applied),
            Err(_) => false,
        };
        if let (Some(m), true) = (joined, caught_up) {
            break (m.id, leader_applied);
        }
        assert!(
            start.elapsed() < DEADLINE,
            "j1 never started and caught up: {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // The promoter runs every 300 ms; give it several rounds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let members = c0.member_list().await.expect("member list").members;
    let m = members.iter().find(|m| m.id == j1_id).expect("j1 listed");
    assert!(
        m.is_learner,
        "caught up (applied {leader_applied}) but must stay a learner: {members:?}"
    );
    // The setting is replicated: the learner reports it too.
    assert_eq!(
        settings(&cluster.endpoint(j1), &[]).trim(),
        "manual-learner-promotion: true"
    );

    // Promoted by hand with etcdctl.
    let promoted = Command::new(etcdctl_bin())
        .args([
            "--endpoints",
            &ep0,
            "member",
            "promote",
            &format!("{j1_id:x}"),
        ])
        .output()
        .expect("etcdctl member promote");
    assert!(promoted.status.success(), "{promoted:?}");
    let members = c0.member_list().await.expect("member list").members;
    assert!(members.iter().all(|m| !m.is_learner), "{members:?}");

    // Back to automatic: j2 is promoted without help.
    assert_eq!(
        settings(&ep0, &["--manual-learner-promotion=false"]),
        "manual-learner-promotion: false\n"
    );
    let j2 = cluster.add_joining_member("j2").expect("slot");
    cluster
        .set_member_args(j2, vec!["--join".into(), ep0.clone()])
        .expect("args");
    cluster.start_member(j2).expect("start");
    cluster
        .wait_healthy(j2, DEADLINE)
        .await
        .expect("j2 healthy");
    c0.wait_for_started_voters(3, DEADLINE)
        .await
        .expect("j2 promoted");
}
