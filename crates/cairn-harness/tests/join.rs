//! `cairn --join <client-url>`: two new members with empty data dirs join a
//! one-member cluster through its client URL (no hand-written
//! `--initial-cluster`), catch up, and are promoted to voters automatically:
//! once promoted, the two of them keep the cluster writable without the first.

use std::time::{Duration, Instant};

use cairn_harness::{cairn_bin, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::MemberListRequest;

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
        let members = c0
            .cluster
            .member_list(MemberListRequest { linearizable: true })
            .await
            .expect("member list")
            .into_inner()
            .members;
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
