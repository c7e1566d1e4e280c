//! Maintenance with real processes and the real CLIs: the NOSPACE alarm from
//! `--quota-backend-bytes` (writes refused with etcd's error, reads and deletes
//! still served, `/health` unhealthy unless `?exclude=NOSPACE`, `alarm disarm`
//! after compaction and defrag lifts it), `defrag`,
//! `move-leader` in a 3-member cluster, and Hash agreeing across members.
//!
//! Server: `cairn`, or real etcd with `CAIRN_TEST_SERVER=etcd`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cairn_harness::health::http_get;
use cairn_harness::{cairnctl_bin, etcdctl_bin, server_binary, Cluster, ClusterSpec, ServerKind};
use cairn_proto::etcdserverpb::HashRequest;

fn ctl(bin: std::path::PathBuf, endpoint: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(["--endpoints", endpoint])
        .args(args)
        .output()
        .expect("run the CLI")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nospace_alarm_from_quota_and_its_recovery() {
    let cluster = Cluster::start(
        ClusterSpec::new(server_binary(), 1).extra_args(["--quota-backend-bytes", "3000000"]),
    )
    .await
    .expect("one member with a 3 MB quota");
    let ep = cluster.endpoint(0);
    let mut client = cluster.client(0).await.expect("client");
    let value = vec![b'a'; 10_000];
    let mut written = 0;
    let refused = loop {
        match client.put(format!("k{written:04}"), value.clone()).await {
            Ok(_) => written += 1,
            Err(e) => break e.to_string(),
        }
        assert!(written < 2000, "3 MB quota never reached");
    };
    assert!(
        refused.contains("etcdserver: mvcc: database space exceeded"),
        "{refused}"
    );
    assert!(written > 10, "the quota allowed only {written} puts");

    for bin in [etcdctl_bin(), cairnctl_bin()] {
        let alarms = ok(ctl(bin.clone(), &ep, &["alarm", "list"]));
        assert!(alarms.contains("alarm:NOSPACE"), "{alarms}");
        let out = ctl(bin.clone(), &ep, &["put", "more", "x"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("database space exceeded"));
        // Reads still work.
        assert_eq!(
            ok(ctl(bin, &ep, &["get", "k0000", "--print-value-only"]))
                .trim()
                .len(),
            10_000
        );
    }
    let status = ok(ctl(
        etcdctl_bin(),
        &ep,
        &["endpoint", "status", "-w", "json"],
    ));
    assert!(status.contains("alarm:NOSPACE"), "{status}");
    // /health reports the alarm unless told to exclude it (as kubeadm's
    // probes do).
    let port = cluster.client_port(0);
    let health = http_get(port, "/health").await.expect("GET /health");
    assert!(health.contains(" 503 "), "{health}");
    assert!(
        health.contains(r#"{"health":"false","reason":"ALARM NOSPACE"}"#),
        "{health}"
    );
    let excluded = http_get(port, "/health?exclude=NOSPACE")
        .await
        .expect("GET /health?exclude=NOSPACE");
    assert!(excluded.contains(" 200 "), "{excluded}");

    // Deletes work under the alarm; compaction + defrag + disarm lift it.
    ok(ctl(cairnctl_bin(), &ep, &["del", "k", "--prefix"]));
    let rev: serde_json::Value =
        serde_json::from_str(&ok(ctl(etcdctl_bin(), &ep, &["get", "x", "-w", "json"])))
            .expect("json");
    let rev = rev["header"]["revision"]
        .as_i64()
        .expect("revision")
        .to_string();
    ok(ctl(etcdctl_bin(), &ep, &["compaction", &rev]));
    let defrag = ok(ctl(cairnctl_bin(), &ep, &["defrag"]));
    assert!(
        defrag.starts_with("Finished defragmenting etcd member["),
        "{defrag}"
    );
    let disarmed = ok(ctl(cairnctl_bin(), &ep, &["alarm", "disarm"]));
    assert!(disarmed.contains("alarm:NOSPACE"), "{disarmed}");
    assert_eq!(ok(ctl(etcdctl_bin(), &ep, &["alarm", "list"])), "");
    ok(ctl(cairnctl_bin(), &ep, &["put", "after", "disarm"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_leader_defrag_and_hash_in_three_members() {
    let mut cluster = Cluster::start(ClusterSpec::new(server_binary(), 3))
        .await
        .expect("three members");
    let all = cluster.endpoints().join(",");
    for n in 0..20 {
        ok(ctl(
            etcdctl_bin(),
            &cluster.endpoint(0),
            &["put", &format!("k{n}"), "v"],
        ));
    }
    let leader = cluster.find_leader().await.expect("a leader");
    let statuses = cluster.statuses().await;
    let target = statuses
        .iter()
        .find(|(i, _)| *i != leader)
        .and_then(|(_, s)| s.header.as_ref().map(|h| h.member_id))
        .expect("a follower");
    let moved = ok(ctl(
        cairnctl_bin(),
        &all,
        &["move-leader", &format!("{target:x}")],
    ));
    assert!(moved.starts_with("Leadership transferred from "), "{moved}");
    assert!(
        moved.trim_end().ends_with(&format!(" to {target:x}")),
        "{moved}"
    );
    let start = Instant::now();
    loop {
        let leaders: Vec<u64> = cluster
            .statuses()
            .await
            .iter()
            .map(|(_, s)| s.leader)
            .collect();
        if leaders.len() == 3 && leaders.iter().all(|l| *l == target) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "leadership never moved: {leaders:x?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A member ID that is not a voter is refused, as etcd refuses it.
    let out = ctl(cairnctl_bin(), &all, &["move-leader", "1234"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("etcdserver: bad leader transferee"));

    let defrag = ok(ctl(etcdctl_bin(), &all, &["defrag"]));
    assert_eq!(defrag.lines().count(), 3, "{defrag}");
    // `--cluster`: every member, found through one endpoint, as etcdctl finds them.
    let one = cluster.endpoint(0);
    let by_etcdctl = ok(ctl(etcdctl_bin(), &one, &["defrag", "--cluster"]));
    let by_cairnctl = ok(ctl(cairnctl_bin(), &one, &["defrag", "--cluster"]));
    assert_eq!(by_cairnctl, by_etcdctl);
    assert_eq!(by_cairnctl.lines().count(), 3, "{by_cairnctl}");

    // Members holding the same data answer the same Hash (Cairn hashes its rows;
    // etcd hashes its whole file, which members need not share).
    if ServerKind::from_env() == ServerKind::Cairn {
        ok(ctl(etcdctl_bin(), &all, &["get", "k1", "--consistency=l"]));
        let mut hashes = Vec::new();
        for i in 0..3 {
            let mut c = cluster.client(i).await.expect("client");
            // Wait until this member has applied everything.
            c.get("k19").await.expect("linearizable read");
            let h = c
                .maintenance
                .hash(HashRequest {})
                .await
                .expect("Hash")
                .into_inner();
            hashes.push(h.hash);
        }
        assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:x?}");

        // `defrag --data-dir`: a stopped member's database, offline. A running
        // member's is refused (its database is open).
        let dir = cluster.data_dir(2).display().to_string();
        let running = ctl(cairnctl_bin(), &one, &["defrag", "--data-dir", &dir]);
        assert_eq!(running.status.code(), Some(1), "{running:?}");
        cluster.stop(2).await.expect("stop member 2");
        let offline = ctl(cairnctl_bin(), &one, &["defrag", "--data-dir", &dir]);
        assert!(
            String::from_utf8_lossy(&offline.stderr).starts_with("Use `etcdutl defrag` instead."),
            "{offline:?}"
        );
        assert!(ok(offline).starts_with("Finished defragmenting etcd member["));
        cluster
            .restart(2)
            .await
            .expect("member 2 starts on its defragmented data");
        let read = cluster
            .client(2)
            .await
            .expect("client")
            .get("k19")
            .await
            .expect("read through member 2");
        assert_eq!(read.kvs.len(), 1);
    }
}
