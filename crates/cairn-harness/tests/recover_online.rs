//! `cairnctl recover --yes` through running members: 5 members, 3 killed, the
//! two survivors holding logs of different lengths (one was paused while the
//! others wrote). Recover picks the one holding more, makes it a one-member
//! cluster (revision bumped), moves the other's data dir aside and makes it
//! rejoin; no write held by either survivor is lost. Running it again refuses:
//! the cluster has quorum. The killed members, restarted, are fenced.

use std::process::Command;
use std::time::Duration;

use cairn_harness::{cairn_bin, cairnctl_bin, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::MemberListRequest;

const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_recover_picks_the_freshest_survivor() {
    let mut cluster = Cluster::start(ClusterSpec::new(cairn_bin(), 5))
        .await
        .expect("five members");
    let mut c = cluster.client(0).await.expect("client");
    for n in 0..30 {
        c.put(format!("a{n:02}"), "v").await.expect("put");
    }
    // Member 4 falls behind: paused while 30 more writes commit on the others.
    let mut c4 = cluster.client(4).await.expect("client");
    c4.get("a29").await.expect("member 4 has the first 30");
    cluster.pause(4).expect("pause member 4");
    let mut last = 0;
    for n in 0..30 {
        let r = c.put(format!("b{n:02}"), "v").await.expect("put");
        last = r.header.map(|h| h.revision).unwrap_or(0);
    }
    let mut c3 = cluster.client(3).await.expect("client");
    c3.get("b29").await.expect("member 3 has everything");
    let id3 = c3
        .status()
        .await
        .expect("status")
        .header
        .expect("header")
        .member_id;
    for i in 0..3 {
        cluster.kill(i).expect("kill");
    }
    cluster.resume(4).expect("resume member 4");

    let all = cluster.endpoints().join(",");
    let out = Command::new(cairnctl_bin())
        .args([
            "--endpoints",
            &all,
            "recover",
            "--bump-revision",
            "1000",
            "--yes",
        ])
        .output()
        .expect("run cairnctl recover");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("Freshest: member {id3:x}")),
        "{text}"
    );
    assert!(text.contains("Recovered in"), "{text}");

    // Two voters, every write, the revision moved forward.
    let mut c3 = cluster.client(3).await.expect("client");
    let members = c3
        .cluster
        .member_list(MemberListRequest { linearizable: true })
        .await
        .expect("member list")
        .into_inner()
        .members;
    assert_eq!(members.len(), 2, "{members:?}");
    for i in [3, 4] {
        let mut ci = cluster.client(i).await.expect("client");
        let got = ci.get_all(false).await.expect("read");
        assert_eq!(got.kvs.len(), 60, "member {i} holds every write");
        assert_eq!(got.header.map(|h| h.revision), Some(last + 1000));
    }
    let moved: Vec<String> = std::fs::read_dir(cluster.data_dir(4))
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        moved
            .iter()
            .any(|n| n.starts_with("member.before-recovery-")),
        "member 4's old data was moved aside, not deleted: {moved:?}"
    );

    // Run again: the cluster has quorum now, so it refuses.
    let again = Command::new(cairnctl_bin())
        .args(["--endpoints", &all, "recover", "--yes"])
        .output()
        .expect("run cairnctl recover");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("The cluster has quorum"));

    // The killed members come back on their old data and are fenced.
    for i in 0..3 {
        cluster.start_member(i).expect("restart");
        let exit = cluster
            .wait_exit(i, DEADLINE)
            .await
            .expect("wait")
            .expect("an old member stops");
        assert!(!exit.success());
    }
    c3.put("after", "recovery").await.expect("write");
}
