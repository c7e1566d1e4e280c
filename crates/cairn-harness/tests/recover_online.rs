//! `cairnctl recover --yes` through running members: 5 members, 3 killed, the
//! two survivors holding logs of different lengths (one was paused while the
//! others wrote). Recover picks the one holding more, makes it a one-member
//! cluster (revision bumped), moves the other's data dir aside and makes it
//! rejoin; no write held by either survivor is lost. Once done, a further run
//! refuses (the cluster has quorum). The killed members, restarted, are fenced.
//!
//! And 3 members, 2 killed, the survivor restarted after losing quorum (it can
//! never publish itself, so only its recovery service answers): `recover
//! --yes` through it alone, two fresh members `--join`, the old ones fenced.
//!
//! Each scenario runs twice: plain text, and with client and peer TLS.
//!
//! And `recover --yes` interrupted after its rejoin or reset step, then run
//! again: it finishes the earlier recovery, also while the members it acted on
//! have accepted their action but not restarted yet.

mod recovery_support;

use recovery_support::{
    assert_fenced, assert_old_watch_compacted, join_two_and_check, put_keys, recover_online, text,
    Security, TestCluster, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_recover_picks_the_freshest_survivor() {
    freshest_survivor_scenario(Security::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_recover_picks_the_freshest_survivor_with_tls() {
    freshest_survivor_scenario(Security::Tls).await;
}

async fn freshest_survivor_scenario(security: Security) {
    let mut test = TestCluster::start(5, security).await;
    let cluster = &mut test.cluster;
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
    let recover = |cluster: &cairn_harness::Cluster, endpoints: &str, extra: &[&str]| {
        let mut args = vec!["--bump-revision", "1000"];
        args.extend_from_slice(extra);
        let out = recover_online(cluster, endpoints, &args);
        (out.status.success(), text(&out))
    };

    // The plan names the survivor holding more.
    let (ok, text) = recover(cluster, &all, &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("Freshest: member {full_id:x}")),
        "{text}"
    );
    assert!(text.contains("Nothing was changed"), "{text}");

    // One reachable endpoint is enough: the others are learned from the membership.
    let (ok, text) = recover(cluster, &cluster.endpoint(behind), &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("Endpoints learned from the membership"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Freshest: member {full_id:x}")),
        "{text}"
    );

    let (ok, text) = recover(cluster, &all, &["--yes"]);
    assert!(ok, "{text}");
    assert!(text.contains("Recovered in"), "{text}");

    // Two voters, every write, the revision moved forward.
    let mut cf = cluster.client(full).await.expect("client");
    let members = cf.member_list().await.expect("member list").members;
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
    let again = recover_online(cluster, &all, &["--yes"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("The cluster has quorum"));

    // The killed members come back on their old data and are fenced.
    assert_fenced(cluster, &killed).await;
    cf.put("after", "recovery").await.expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_survivor_recovers_online() {
    restarted_survivor_scenario(Security::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_survivor_recovers_online_with_tls() {
    restarted_survivor_scenario(Security::Tls).await;
}

async fn restarted_survivor_scenario(security: Security) {
    let mut test = TestCluster::start(3, security).await;
    let cluster = &mut test.cluster;
    let mut c = cluster.client(0).await.expect("client");
    let last = put_keys(&mut c, "k", 100).await;
    let mut c2 = cluster.client(2).await.expect("client");
    c2.get("k099").await.expect("the survivor has every write");
    cluster.kill(0).expect("kill");
    cluster.kill(1).expect("kill");
    // The survivor restarts without quorum: it cannot publish itself, so it
    // serves nothing but the recovery service.
    cluster.kill(2).expect("kill");
    cluster.start_member(2).expect("restart the survivor");
    let ep = cluster.endpoint(2);
    let started = std::time::Instant::now();
    let plan = loop {
        let out = recover_online(cluster, &ep, &["--bump-revision", "1000"]);
        if out.status.success() {
            break text(&out);
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no plan through the restarted survivor: {}",
            text(&out)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(plan.contains("Nothing was changed"), "{plan}");
    let mut c2 = cluster.client(2).await.expect("client");
    let refused = c2
        .get("k000")
        .await
        .expect_err("no client request before publishing");
    assert!(
        refused.to_string().contains(cairn_proto::NOT_JOINED_YET),
        "{refused}"
    );

    let done = recover_online(cluster, &ep, &["--bump-revision", "1000", "--yes"]);
    let report = text(&done);
    assert!(done.status.success(), "{report}");
    assert!(report.contains("Recovered in"), "{report}");
    cluster.wait_healthy(2, DEADLINE).await.expect("healthy");
    let mut c2 = cluster.client(2).await.expect("client");
    let all = c2.get_all(false).await.expect("read");
    assert_eq!(all.kvs.len(), 100, "every write the survivor held");
    assert_eq!(all.header.map(|h| h.revision), Some(last + 1000));
    assert_old_watch_compacted(&c2, last, last + 1000).await;

    assert_fenced(cluster, &[0, 1]).await;
    join_two_and_check(cluster, 2, &["n3", "n4"], 100).await;
}

/// `recover --yes` killed after telling the other survivor to rejoin but before
/// resetting the freshest one: that survivor has already moved its data aside
/// and keeps asking to join. Running `recover --yes` again finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_recover_completes_when_run_again() {
    let report = interrupted_then_run_again("rejoin", None).await;
    assert!(!report.contains("is restarting to become"), "{report}");
}

/// As above, run again while the survivor told to rejoin has accepted but not
/// restarted yet (members wait 5 s before carrying an action out): the second
/// run must neither keep that survivor nor tell it to rejoin a second time,
/// and must wait for it to rejoin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_again_while_the_rejoining_survivor_restarts() {
    let report = interrupted_then_run_again("rejoin", Some("5000")).await;
    assert!(
        report.contains("it accepted a rejoin through"),
        "the second run saw the pending rejoin:\n{report}"
    );
    assert!(
        !report.contains("old data moved to"),
        "no second rejoin was sent:\n{report}"
    );
    assert!(report.contains("waiting for 2 voters"), "{report}");
}

/// Killed after resetting the freshest survivor, and run again while both
/// survivors have accepted their action but not restarted yet: the second run
/// waits for the reset member to come back as the new cluster and finishes
/// that recovery (no second reset, no second rejoin).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_again_while_the_reset_survivor_restarts() {
    let report = interrupted_then_run_again("reset", Some("5000")).await;
    assert!(
        report.contains("is restarting to become a one-member cluster"),
        "the second run saw the pending reset:\n{report}"
    );
    assert!(
        report.contains("An earlier recovery made member"),
        "{report}"
    );
    assert!(
        !report.contains("old data moved to") && !report.contains("resetting member"),
        "no second action was sent:\n{report}"
    );
    assert!(report.contains("waiting for 2 voters"), "{report}");
}

/// 5 members, 3 killed; `recover --yes` paused (test hook) after `pause_step`
/// and killed; then run again, at once. Members delay carrying out an accepted
/// action by `restart_delay_ms` (300 ms by default). Checks that both
/// survivors end up voters of the new cluster with every write; returns the
/// second run's report.
async fn interrupted_then_run_again(pause_step: &str, restart_delay_ms: Option<&str>) -> String {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let env: Vec<(&str, &str)> = restart_delay_ms
        .map(|ms| ("CAIRN_TEST_RECOVERY_RESTART_DELAY_MS", ms))
        .into_iter()
        .collect();
    let mut test = TestCluster::start_with_env(5, Security::Plain, &env).await;
    let cluster = &mut test.cluster;
    let leader = cluster.find_leader().await.expect("a leader");
    let mut c = cluster.client(leader).await.expect("client");
    let last = put_keys(&mut c, "k", 40).await;
    let survivors: Vec<usize> = (0..5).filter(|i| *i != leader).take(2).collect();
    for &i in &survivors {
        let mut ci = cluster.client(i).await.expect("client");
        ci.get("k039").await.expect("the survivor has every write");
    }
    for i in (0..5).filter(|i| !survivors.contains(i)) {
        cluster.kill(i).expect("kill");
    }
    let all = cluster.endpoints().join(",");

    // First run: paused (test hook) right after `pause_step`, then killed.
    let mut first = Command::new(cairn_harness::cairnctl_bin())
        .args([
            "--endpoints",
            &all,
            "recover",
            "--bump-revision",
            "1000",
            "--yes",
        ])
        .env("CAIRN_TEST_PAUSE_RECOVER", pause_step)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cairnctl recover");
    let stdout = first.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = String::new();
    let pause_line = format!("paused after {pause_step}");
    let paused = loop {
        match rx.recv_timeout(DEADLINE) {
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
                if line.contains(&pause_line) {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    first.kill().expect("kill cairnctl");
    let _ = first.wait();
    assert!(paused, "recover never reached the pause point:\n{printed}");
    assert!(printed.contains("old data moved to"), "{printed}");
    assert!(!printed.contains("now cluster"), "{printed}");

    // Second run completes it.
    let again = recover_online(cluster, &all, &["--bump-revision", "1000", "--yes"]);
    let report = text(&again);
    assert!(again.status.success(), "{report}");
    assert!(report.contains("Recovered in"), "{report}");

    // Both survivors end up voters of the new cluster with every write.
    let mut c0 = cluster.client(survivors[0]).await.expect("client");
    if let Err(e) = c0.wait_for_started_voters(2, DEADLINE).await {
        panic!("never two voters after the second run: {e}\n{report}");
    }
    for &i in &survivors {
        let mut ci = cluster.client(i).await.expect("client");
        let got = ci.get_all(false).await.expect("read");
        assert_eq!(got.kvs.len(), 40, "member {i} holds every write");
        assert_eq!(got.header.map(|h| h.revision), Some(last + 1000));
    }
    report
}
