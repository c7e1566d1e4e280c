//! `cairnctl recover`: the online plan refuses a healthy cluster and, after 2 of
//! 3 members die by SIGKILL, names the survivor as the freshest; then the
//! offline form (`--data-dir`) on the stopped survivor. The plan
//! alone changes nothing; with `--yes` the survivor becomes a one-member cluster
//! with every write it held, the revision moved forward and marked compacted (a
//! read at an old revision gets a compaction error). Two fresh members join with
//! `--join`: three healthy voters. The killed members, restarted on their old
//! data dirs, stop with the "superseded" message and their data dirs untouched.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_harness::{cairn_bin, cairnctl_bin, etcdctl_bin, Cluster, ClusterSpec};

const DEADLINE: Duration = Duration::from_secs(90);

fn recover_online(endpoints: &str, extra: &[&str]) -> std::process::Output {
    Command::new(cairnctl_bin())
        .args(["--endpoints", endpoints, "recover"])
        .args(extra)
        .output()
        .expect("run cairnctl recover")
}

fn recover(dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(cairnctl_bin())
        .args(["recover", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("run cairnctl recover");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recover_then_join_and_fence() {
    let mut cluster = Cluster::start(ClusterSpec::new(cairn_bin(), 3))
        .await
        .expect("three members");
    let mut c = cluster.client(0).await.expect("client");
    let mut last = 0;
    for n in 0..100 {
        let r = c
            .put(format!("k{n:03}"), format!("v{n}"))
            .await
            .expect("put");
        last = r.header.map(|h| h.revision).unwrap_or(0);
    }
    // Make sure the survivor (member 2) has applied everything acknowledged.
    let mut c2 = cluster.client(2).await.expect("client");
    c2.get("k099")
        .await
        .expect("linearizable read on the survivor");
    let all = cluster.endpoints().join(",");

    // The online plan refuses a cluster that has quorum.
    let healthy = recover_online(&all, &[]);
    assert!(!healthy.status.success());
    assert!(String::from_utf8_lossy(&healthy.stdout).contains("The cluster has quorum"));

    cluster.kill(0).expect("kill");
    cluster.kill(1).expect("kill");

    // Without quorum it inspects the survivor and names it as the freshest.
    let plan = recover_online(&all, &[]);
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

    // The killed members come back on their old data: fenced, untouched.
    for i in [0, 1] {
        let before = cairn_harness::files::tree_digest(cluster.data_dir(i));
        cluster.start_member(i).expect("restart an old member");
        let exit = cluster
            .wait_exit(i, DEADLINE)
            .await
            .expect("wait")
            .expect("an old member stops");
        assert!(!exit.success());
        assert!(cluster
            .log_of_last_start(i)
            .contains("was superseded by cluster"));
        assert_eq!(
            cairn_harness::files::tree_digest(cluster.data_dir(i)),
            before
        );
    }

    // Two fresh members join through the survivor's client URL.
    let joiners: Vec<usize> = ["n3", "n4"]
        .iter()
        .map(|name| {
            let i = cluster.add_joining_member(name).expect("slot");
            cluster
                .set_member_args(i, vec!["--join".into(), ep.clone()])
                .expect("args");
            cluster.start_member(i).expect("start");
            i
        })
        .collect();
    for &i in &joiners {
        cluster.wait_healthy(i, DEADLINE).await.expect("joined");
    }
    let start = Instant::now();
    loop {
        let members = c2.member_list().await.expect("member list").members;
        if members.len() == 3 && members.iter().all(|m| !m.name.is_empty() && !m.is_learner) {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{members:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c2.put("after", "recovery").await.expect("write");
    for &i in &joiners {
        let mut cj = cluster.client(i).await.expect("client");
        let all = cj.get_all(false).await.expect("read");
        assert_eq!(all.kvs.len(), 101);
    }
}
