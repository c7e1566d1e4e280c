//! `cairnctl recover --yes` through running members: 5 members, 3 killed, the
//! two survivors holding logs of different lengths (one was paused while the
//! others wrote). Recover picks the one holding more, makes it a one-member
//! cluster (revision bumped), moves the other's data dir aside and makes it
//! rejoin; no write held by either survivor is lost. Once done, a further run
//! refuses (the cluster has quorum). The killed members, restarted, are fenced.

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
    // Writes go through a member that will die; the survivors are two
    // followers, so that once the others are dead nobody can lead and the
    // survivors' logs stay as they are.
    let leader = cluster.find_leader().await.expect("a leader");
    let behind = (0..5).find(|i| *i != leader).expect("a follower");
    let mut c = cluster.client(leader).await.expect("client");
    for n in 0..30 {
        c.put(format!("a{n:02}"), "v").await.expect("put");
    }
    // `behind` falls behind: paused while 30 more writes commit on the others.
    let mut cb = cluster.client(behind).await.expect("client");
    cb.get("a29").await.expect("it has the first 30");
    cluster.pause(behind).expect("pause");
    let mut last = 0;
    for n in 0..30 {
        let r = c.put(format!("b{n:02}"), "v").await.expect("put");
        last = r.header.map(|h| h.revision).unwrap_or(0);
    }
    let leader = cluster.find_leader().await.expect("a leader");
    let full = (0..5)
        .find(|i| *i != leader && *i != behind)
        .expect("another follower");
    let mut cf = cluster.client(full).await.expect("client");
    cf.get("b29")
        .await
        .expect("the full survivor has everything");
    let full_id = cf
        .status()
        .await
        .expect("status")
        .header
        .expect("header")
        .member_id;
    let killed: Vec<usize> = (0..5).filter(|i| *i != full && *i != behind).collect();
    for &i in &killed {
        cluster.kill(i).expect("kill");
    }
    cluster.resume(behind).expect("resume");

    let all = cluster.endpoints().join(",");
    let recover = |endpoints: &str, extra: &[&str]| {
        let out = Command::new(cairnctl_bin())
            .args([
                "--endpoints",
                endpoints,
                "recover",
                "--bump-revision",
                "1000",
            ])
            .args(extra)
            .output()
            .expect("run cairnctl recover");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            format!("{text}\n{}", String::from_utf8_lossy(&out.stderr)),
        )
    };

    // The plan names the survivor holding more.
    let (ok, text) = recover(&all, &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("Freshest: member {full_id:x}")),
        "{text}"
    );
    assert!(text.contains("Nothing was changed"), "{text}");

    // One reachable endpoint is enough: the others are learned from the membership.
    let (ok, text) = recover(&cluster.endpoint(behind), &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("Endpoints learned from the membership"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Freshest: member {full_id:x}")),
        "{text}"
    );

    let (ok, text) = recover(&all, &["--yes"]);
    assert!(ok, "{text}");
    assert!(text.contains("Recovered in"), "{text}");

    // Two voters, every write, the revision moved forward.
    let mut cf = cluster.client(full).await.expect("client");
    let members = cf
        .cluster
        .member_list(MemberListRequest { linearizable: true })
        .await
        .expect("member list")
        .into_inner()
        .members;
    assert_eq!(members.len(), 2, "{members:?}");
    for i in [full, behind] {
        let mut ci = cluster.client(i).await.expect("client");
        let got = ci.get_all(false).await.expect("read");
        assert_eq!(got.kvs.len(), 60, "member {i} holds every write");
        assert_eq!(got.header.map(|h| h.revision), Some(last + 1000));
    }
    let moved: Vec<String> = std::fs::read_dir(cluster.data_dir(behind))
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        moved
            .iter()
            .any(|n| n.starts_with("member.before-recovery-")),
        "the behind survivor's old data was moved aside, not deleted: {moved:?}"
    );

    // Run again: the cluster has quorum now, so it refuses.
    let again = Command::new(cairnctl_bin())
        .args(["--endpoints", &all, "recover", "--yes"])
        .output()
        .expect("run cairnctl recover");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("The cluster has quorum"));

    // The killed members come back on their old data and are fenced.
    for &i in &killed {
        cluster.start_member(i).expect("restart");
        let exit = cluster
            .wait_exit(i, DEADLINE)
            .await
            .expect("wait")
            .expect("an old member stops");
        assert!(!exit.success());
    }
    cf.put("after", "recovery").await.expect("write");
}
