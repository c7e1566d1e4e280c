//! Leases across leader failures on a 3-member Cairn cluster (election
//! timeout 1 s):
//! - a key attached to a 5 s lease, last kept alive just before the leader is
//!   SIGKILLed, disappears between 5 s and 5 s + one election timeout later;
//! - a lease kept alive (every 1.5 s, through whichever member answers)
//!   while the leader is killed twice never expires: its key is there all
//!   along;
//! - with lease checkpoints, a new leader counts a long lease from its
//!   checkpointed remaining TTL instead of restarting it.

use std::time::{Duration, Instant};

use cairn_harness::{server_binary, Client, Cluster, ClusterSpec};
use cairn_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseTimeToLiveRequest, PutRequest, RangeRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// One keep-alive through `client`; the TTL it answered.
async fn keep_alive_once(client: &Client, id: i64) -> Result<i64, String> {
    let (tx, rx) = mpsc::channel(1);
    tx.send(LeaseKeepAliveRequest { id })
        .await
        .map_err(|e| e.to_string())?;
    let mut replies = client
        .lease
        .clone()
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    match tokio::time::timeout(Duration::from_secs(5), replies.message()).await {
        Ok(Ok(Some(r))) => Ok(r.ttl),
        other => Err(format!("{other:?}")),
    }
}

/// Whether `key` exists, read serializably from `client`'s member.
async fn exists(client: &mut Client, key: &str) -> Option<bool> {
    client
        .kv
        .range(RangeRequest {
            key: key.into(),
            serializable: true,
            ..Default::default()
        })
        .await
        .ok()
        .map(|r| r.into_inner().count == 1)
}

async fn grant_with_key(client: &mut Client, id: i64, key: &str) {
    client
        .lease
        .lease_grant(LeaseGrantRequest { ttl: 5, id })
        .await
        .expect("grant");
    client
        .kv
        .put(PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            lease: id,
            ..Default::default()
        })
        .await
        .expect("leased put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expires_on_time_after_the_leader_dies() {
    let mut cluster = Cluster::start(ClusterSpec::new(server_binary(), 3))
        .await
        .expect("cluster starts");
    let leader = cluster
        .wait_for_leader(None, Duration::from_secs(30))
        .await
        .expect("leader");
    let survivor = (leader + 1) % 3;
    let leader_client = cluster.client(leader).await.expect("client");
    let mut survivor_client = cluster.client(survivor).await.expect("client");
    grant_with_key(&mut survivor_client, 0x5151, "leased").await;
    // Let the grant's clock settle, then renew and kill the leader at once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ttl = keep_alive_once(&leader_client, 0x5151)
        .await
        .expect("keep-alive");
    assert_eq!(ttl, 5);
    let renewed = Instant::now();
    cluster.kill(leader).expect("kill leader");

    let gone_after = loop {
        let elapsed = renewed.elapsed();
        assert!(elapsed < Duration::from_secs(30), "the lease never expired");
        if exists(&mut survivor_client, "leased").await == Some(false) {
            break elapsed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("key gone {gone_after:?} after the last keep-alive (leader was m{leader})");
    if gone_after > Duration::from_secs(5) + ELECTION_TIMEOUT {
        for i in 0..3 {
            eprintln!("--- m{i}\n{}", cluster.log_tail(i, 400));
        }
    }
    assert!(
        gone_after >= Duration::from_secs(5),
        "lease expired early: {gone_after:?}"
    );
    assert!(
        gone_after <= Duration::from_secs(5) + ELECTION_TIMEOUT,
        "lease outlived its TTL by more than an election timeout: {gone_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_kept_alive_survives_two_leader_changes() {
    let mut cluster = Cluster::start(ClusterSpec::new(server_binary(), 3))
        .await
        .expect("cluster starts");
    let endpoints = cluster.endpoints();
    let mut c0 = cluster.client(0).await.expect("client");
    grant_with_key(&mut c0, 0x6262, "kept").await;

    // Keep-alive loop: every 1.5 s through the first member that answers.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = {
        let stop = stop.clone();
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let mut failures = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut ok = false;
                for e in &endpoints {
                    let Ok(c) = Client::connect_with_timeout(
                        e,
                        Duration::from_millis(500),
                        Duration::from_secs(3),
                    )
                    .await
                    else {
                        continue;
                    };
                    if let Ok(ttl) = keep_alive_once(&c, 0x6262).await {
                        assert!(ttl > 0, "keep-alive answered TTL {ttl}: the lease is gone");
                        ok = true;
                        break;
                    }
                }
                if !ok {
                    failures += 1;
                }
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            failures
        })
    };

    let watch_key = |mut client: Client| async move {
        // The key must exist on every check.
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(3) {
            if let Some(present) = exists(&mut client, "kept").await {
                assert!(present, "the kept-alive lease expired");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    for _ in 0..2 {
        let leader = cluster
            .wait_for_leader(None, Duration::from_secs(30))
            .await
            .expect("leader");
        cluster.kill(leader).expect("kill leader");
        let other = (leader + 1) % 3;
        watch_key(cluster.client(other).await.expect("client")).await;
        cluster.start_member(leader).expect("restart");
        cluster
            .wait_healthy(leader, Duration::from_secs(60))
            .await
            .expect("healthy again");
        watch_key(cluster.client(leader).await.expect("client")).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let failures = keeper.await.expect("keeper");
    eprintln!("keep-alive rounds that reached no member: {failures}");
    let mut c = cluster.client(0).await.expect("client");
    let ttl = c
        .lease
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: 0x6262,
            keys: true,
        })
        .await
        .expect("time to live")
        .into_inner();
    assert!(ttl.ttl > 0, "lease gone at the end: {ttl:?}");
    assert_eq!(ttl.keys, vec![b"kept".to_vec()]);
}

/// With checkpoints every second, a new leader counts a long lease from its
/// checkpointed remaining TTL: a 12 s lease left alone for 6 s and then
/// losing its leader still expires about 12 s after it was granted (without
/// checkpoints the new leader would restart it at 12 s: gone after ~18 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpointed_lease_keeps_its_remaining_ttl_across_a_leader_change() {
    let spec = ClusterSpec::new(server_binary(), 3)
        .extra_args(["--experimental-lease-checkpoint-interval", "1s"]);
    let mut cluster = Cluster::start(spec).await.expect("cluster starts");
    let leader = cluster
        .wait_for_leader(None, Duration::from_secs(30))
        .await
        .expect("leader");
    let survivor = (leader + 1) % 3;
    let mut leader_client = cluster.client(leader).await.expect("client");
    let mut survivor_client = cluster.client(survivor).await.expect("client");
    leader_client
        .lease
        .lease_grant(LeaseGrantRequest {
            ttl: 12,
            id: 0x7373,
        })
        .await
        .expect("grant");
    let granted = Instant::now();
    leader_client
        .kv
        .put(PutRequest {
            key: b"long".to_vec(),
            value: b"v".to_vec(),
            lease: 0x7373,
            ..Default::default()
        })
        .await
        .expect("leased put");
    tokio::time::sleep(Duration::from_secs(6)).await;
    cluster.kill(leader).expect("kill leader");
    let gone_after = loop {
        let elapsed = granted.elapsed();
        assert!(elapsed < Duration::from_secs(40), "the lease never expired");
        if exists(&mut survivor_client, "long").await == Some(false) {
            break elapsed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("12 s lease gone {gone_after:?} after its grant");
    assert!(
        gone_after >= Duration::from_secs(12),
        "expired early: {gone_after:?}"
    );
    assert!(
        gone_after <= Duration::from_millis(14_500),
        "the new leader did not count from the checkpoint: {gone_after:?}"
    );
}
