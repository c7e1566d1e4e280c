//! The harness itself, exercised against real etcd 3.5.1: start a 3-member
//! cluster, write and read over gRPC, kill the leader, see a new one, restart
//! the old leader, pause/resume a follower, everyone healthy again.

use std::time::Duration;

use cairn_harness::{etcd_bin, Cluster, ClusterSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_cluster_survives_leader_kill_and_restart() {
    let mut cluster = Cluster::start(ClusterSpec::new(etcd_bin(), 3))
        .await
        .expect("3-member etcd cluster starts");
    assert_eq!(cluster.member_names(), ["m0", "m1", "m2"]);
    assert_eq!(cluster.client_endpoints().split(',').count(), 3);

    let mut client = cluster.client(0).await.expect("client for m0");
    let put = client.put("hello", "world").await.expect("put");
    let revision = put.header.expect("put header").revision;
    assert!(
        revision >= 2,
        "first put of a fresh cluster has revision 2, got {revision}"
    );
    let got = client.get("hello").await.expect("get");
    assert_eq!(got.kvs.len(), 1);
    assert_eq!(got.kvs[0].value, b"world");
    assert_eq!(got.kvs[0].mod_revision, revision);

    let identity = cluster.identity().await.expect("member list");
    assert_eq!(identity.member_ids.len(), 3);
    assert_ne!(identity.cluster_id, 0);

    let leader = cluster
        .wait_for_leader(None, Duration::from_secs(30))
        .await
        .expect("a leader");
    cluster.kill(leader).expect("kill leader");
    assert!(!cluster.is_running(leader));
    let new_leader = cluster
        .wait_for_leader(Some(leader), Duration::from_secs(30))
        .await
        .expect("a new leader after killing the old one");
    assert_ne!(new_leader, leader);

    // Writes keep working through a surviving member.
    let survivor = (leader + 1) % 3;
    let mut client = cluster.client(survivor).await.expect("client for survivor");
    client
        .put("after-kill", "yes")
        .await
        .expect("put after leader kill");

    cluster
        .restart(leader)
        .await
        .expect("restart the old leader");
    let follower = (0..3)
        .find(|&i| i != new_leader && cluster.is_running(i))
        .expect("a follower");
    cluster.pause(follower).expect("pause");
    assert!(cluster.is_paused(follower));
    cluster.resume(follower).expect("resume");
    cluster
        .wait_all_healthy(Duration::from_secs(60))
        .await
        .expect("all members healthy again");

    // The restarted member caught up with the write made while it was down.
    let mut client = cluster
        .client(leader)
        .await
        .expect("client for restarted member");
    let got = client
        .get("after-kill")
        .await
        .expect("get on restarted member");
    assert_eq!(got.kvs.len(), 1);
    assert!(cluster.log_path(leader).exists());
    assert!(cluster
        .read_log(leader)
        .contains("=== cairn-harness: start #2"));

    let status = cluster.stop(2).await.expect("SIGTERM stop");
    assert!(
        !cluster.is_running(2),
        "stopped member is reaped ({status})"
    );
}
