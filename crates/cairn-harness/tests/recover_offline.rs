//! `cairnctl recover`: the online plan refuses a healthy cluster and, after 2 of
//! 3 members die by SIGKILL, names the survivor as the freshest; then the
//! offline form (`--data-dir`) on the stopped survivor. The plan
//! alone changes nothing; with `--yes` the survivor becomes a one-member cluster
//! with every write it held, the revision moved forward and marked compacted (a
//! read at an old revision gets a compaction error). Two fresh members join with
//! `--join`: three healthy voters. The killed members, restarted on their old
//! data dirs, stop with the "superseded" message and their data dirs untouched.
//! A watcher resuming at an old revision is cancelled with the compaction.
//! All data dirs lost: `recover --from-snapshot` builds a one-member cluster
//! from a snapshot (plan first, refusing a second run), two members `--join`.
//!
//! Each scenario runs twice: plain text, and with client and peer TLS
//! (client-cert auth on both ports).

mod recovery_support;

use std::path::Path;
use std::process::Command;

use cairn_harness::{cairnctl_bin, etcdctl_bin, run_ok};
use recovery_support::{
    assert_fenced, assert_old_watch_compacted, cairnctl, join_two_and_check, put_keys,
    recover_online, Security, TestCluster, DEADLINE,
};

/// `cairnctl recover --data-dir <dir> <extra>`, which must succeed; its stdout.
fn recover(dir: &Path, extra: &[&str]) -> String {
    run_ok(
        Command::new(cairnctl_bin())
            .args(["recover", "--data-dir"])
            .arg(dir)
            .args(extra),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recover_then_join_and_fence() {
    offline_recover_scenario(Security::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recover_then_join_and_fence_with_tls() {
    offline_recover_scenario(Security::Tls).await;
}

async fn offline_recover_scenario(security: Security) {
    let mut test = TestCluster::start(3, security).await;
    let cluster = &mut test.cluster;
    let mut c = cluster.client(0).await.expect("client");
    let last = put_keys(&mut c, "k", 100).await;
    // Make sure the survivor (member 2) has applied everything acknowledged.
    let mut c2 = cluster.client(2).await.expect("client");
    c2.get("k099")
        .await
        .expect("linearizable read on the survivor");
    let all = cluster.endpoints().join(",");

    // The online plan refuses a cluster that has quorum.
    let healthy = recover_online(cluster, &all, &[]);
    assert!(!healthy.status.success());
    assert!(String::from_utf8_lossy(&healthy.stdout).contains("The cluster has quorum"));

    cluster.kill(0).expect("kill");
    cluster.kill(1).expect("kill");

    // Without quorum it inspects the survivor and names it as the freshest.
    let plan = recover_online(cluster, &all, &[]);
    let text = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        plan.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let survivor_id = c2
        .status()
        .await
        .expect("status")
        .header
        .expect("header")
        .member_id;
    assert!(
        text.contains(&format!("Freshest: member {survivor_id:x}")),
        "{text}"
    );
    assert!(text.contains("Nothing was changed"), "{text}");

    cluster.stop(2).await.expect("stop the survivor");

    let survivor = cluster.data_dir(2).to_path_buf();
    let before = cairn_harness::files::tree_digest(&survivor);
    let plan = recover(&survivor, &[]);
    assert!(plan.contains("Nothing was changed"), "{plan}");
    assert!(plan.contains(&format!("revision {last}")), "{plan}");
    assert_eq!(
        cairn_harness::files::tree_digest(&survivor),
        before,
        "the plan alone changed the data dir"
    );

    let report = recover(&survivor, &["--bump-revision", "1000", "--yes"]);
    assert!(report.contains("is now the one-member cluster"), "{report}");
    cluster.start_member(2).expect("start the recovered member");
    cluster.wait_healthy(2, DEADLINE).await.expect("healthy");
    let ep = cluster.endpoint(2);
    let mut c2 = cluster.client(2).await.expect("client");
    let all = c2.get_all(false).await.expect("read");
    assert_eq!(all.kvs.len(), 100, "every write the survivor held");
    assert_eq!(all.header.map(|h| h.revision), Some(last + 1000));
    let old = Command::new(etcdctl_bin())
        .args(cluster.cli_tls_args())
        .args([
            "--endpoints",
            &ep,
            "get",
            "k000",
            "--rev",
            &last.to_string(),
        ])
        .output()
        .expect("etcdctl");
    assert!(String::from_utf8_lossy(&old.stderr).contains("required revision has been compacted"));
    assert_old_watch_compacted(&c2, last, last + 1000).await;

    // The killed members come back on their old data: fenced, untouched.
    assert_fenced(cluster, &[0, 1]).await;

    join_two_and_check(cluster, 2, &["n3", "n4"], 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_data_lost_recover_from_snapshot_then_join() {
    from_snapshot_scenario(Security::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_data_lost_recover_from_snapshot_then_join_with_tls() {
    from_snapshot_scenario(Security::Tls).await;
}

async fn from_snapshot_scenario(security: Security) {
    let mut test = TestCluster::start(3, security).await;
    let cluster = &mut test.cluster;
    let mut c = cluster.client(0).await.expect("client");
    let last = put_keys(&mut c, "s", 50).await;
    let work = tempfile::tempdir().expect("temp dir");
    let snap = work.path().join("backup.db");
    let ep = cluster.endpoint(0);
    let path = snap.display().to_string();
    let saved = cairnctl(cluster, &["--endpoints", &ep, "snapshot", "save", &path]);
    assert!(saved.status.success(), "{saved:?}");

    // Every member and every data dir is lost.
    for i in 0..3 {
        cluster.kill(i).expect("kill");
        std::fs::remove_dir_all(cluster.data_dir(i)).expect("data dir removed");
    }
    let dir = cluster.data_dir(0).to_path_buf();
    let peer = cluster.peer_url(0);
    let args = |yes: bool| {
        let mut v = vec![
            "recover".to_string(),
            "--from-snapshot".into(),
            snap.display().to_string(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--name".into(),
            cluster.name(0).to_string(),
            "--initial-advertise-peer-urls".into(),
            peer.clone(),
            "--bump-revision".into(),
            "1000".into(),
        ];
        if yes {
            v.push("--yes".into());
        }
        v
    };
    let plan = Command::new(cairnctl_bin())
        .args(args(false))
        .output()
        .expect("plan");
    assert!(plan.status.success(), "{plan:?}");
    assert!(String::from_utf8_lossy(&plan.stdout).contains("Nothing was changed"));
    assert!(!dir.exists(), "the plan alone created the data dir");
    let done = Command::new(cairnctl_bin())
        .args(args(true))
        .output()
        .expect("recover");
    assert!(done.status.success(), "{done:?}");
    let report = String::from_utf8_lossy(&done.stdout);
    assert!(report.contains("is now the one-member cluster"), "{report}");
    // Run twice: the data dir exists now, so it refuses and changes nothing.
    let before = cairn_harness::files::tree_digest(&dir);
    let again = Command::new(cairnctl_bin())
        .args(args(true))
        .output()
        .expect("again");
    assert!(!again.status.success(), "a second run must refuse");
    assert_eq!(cairn_harness::files::tree_digest(&dir), before);

    cluster.start_member(0).expect("start the restored member");
    cluster.wait_healthy(0, DEADLINE).await.expect("healthy");
    let mut c0 = cluster.client(0).await.expect("client");
    let all = c0.get_all(false).await.expect("read");
    assert_eq!(all.kvs.len(), 50, "the snapshot's data");
    assert_eq!(all.header.map(|h| h.revision), Some(last + 1000));
    assert_old_watch_compacted(&c0, last, last + 1000).await;
    join_two_and_check(cluster, 0, &["r1", "r2"], 50).await;
}
