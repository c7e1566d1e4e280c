//! Distributed locks on Cairn: 20 concurrent `lock` holders contend for one
//! lock on a 3-member cluster while a follower is SIGKILLed and restarted; once
//! with real etcdctl 3.5.1 (whose lock is the KV+Lease+Watch recipe of etcd's
//! `concurrency` package) and once with `cairnctl lock`. Each holder runs a critical section that
//! marks itself inside (an exclusive directory create), bumps a shared
//! counter file non-atomically and leaves. No two holders may ever be inside
//! together, and every holder must get the lock exactly once.
//!
//! The holders talk to the other two members. A holder whose own member dies
//! in the middle of a write fails (etcd's client does not retry a write it
//! may have sent), against etcd as against Cairn; that is not what this
//! test is about, and it made the test fail now and then.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_harness::{cairnctl_bin, etcdctl_bin, server_binary, Cluster, ClusterSpec};

const HOLDERS: usize = 20;

/// The critical section each holder runs while holding the lock.
fn critical_section(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "if ! mkdir {d}/inside 2>/dev/null; then echo overlap >> {d}/violations; fi; \
         n=$(cat {d}/counter); sleep 0.1; echo $((n + 1)) > {d}/counter; \
         rmdir {d}/inside"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_lock_holders_never_overlap_while_a_member_restarts() {
    lock_holders_never_overlap(etcdctl_bin()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairnctl_lock_holders_never_overlap_while_a_member_restarts() {
    lock_holders_never_overlap(cairnctl_bin()).await;
}

async fn lock_holders_never_overlap(cli: PathBuf) {
    let mut cluster = Cluster::start(ClusterSpec::new(server_binary(), 3))
        .await
        .expect("cluster starts");
    let work = tempfile::tempdir().expect("temp dir");
    std::fs::write(work.path().join("counter"), "0\n").expect("counter");
    let leader = cluster
        .wait_for_leader(None, Duration::from_secs(30))
        .await
        .expect("a leader");
    let restarted = (leader + 1) % cluster.len();
    let endpoints = (0..cluster.len())
        .filter(|&i| i != restarted)
        .map(|i| cluster.endpoint(i))
        .collect::<Vec<_>>()
        .join(",");
    let script = critical_section(work.path());

    let holders: Vec<_> = (0..HOLDERS)
        .map(|i| {
            let log = std::fs::File::create(work.path().join(format!("holder{i}.log")))
                .expect("holder log");
            tokio::process::Command::new(&cli)
                .arg(format!("--endpoints={endpoints}"))
                .arg("--dial-timeout=2s")
                .args(["lock", "the-lock", "--", "sh", "-c", &script])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .expect("etcdctl lock starts")
        })
        .collect();

    // Restart a follower while the holders queue up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.kill(restarted).expect("kill member");
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start_member(restarted).expect("restart member");
    cluster
        .wait_healthy(restarted, Duration::from_secs(60))
        .await
        .expect("member healthy again");

    let began = Instant::now();
    let mut failed = Vec::new();
    for (i, mut h) in holders.into_iter().enumerate() {
        let left = Duration::from_secs(180).saturating_sub(began.elapsed());
        match tokio::time::timeout(left, h.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            other => {
                let log = std::fs::read_to_string(work.path().join(format!("holder{i}.log")))
                    .unwrap_or_default();
                failed.push(format!("holder {i}: {other:?}\n{log}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "lock holders failed:\n{}",
        failed.join("\n")
    );
    let violations = std::fs::read_to_string(work.path().join("violations")).unwrap_or_default();
    assert!(
        violations.is_empty(),
        "two holders were inside at once: {violations}"
    );
    let counter = std::fs::read_to_string(work.path().join("counter")).expect("counter");
    assert_eq!(
        counter.trim(),
        HOLDERS.to_string(),
        "every holder must have run its critical section exactly once"
    );
}
