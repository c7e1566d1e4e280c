//! `GOMAXPROCS` bounds a Cairn member's worker threads as it bounds etcd's Go
//! runtime (the count is the running runtime's own, from its log line), and
//! tokio's `TOKIO_WORKER_THREADS` wins over it. The member serves either way.

use cairn_harness::{cairn_bin, Cluster, ClusterSpec};

const LINE: &str = "worker threads serving requests and Raft: ";

async fn workers_with(env: &[(&str, &str)]) -> usize {
    let mut spec = ClusterSpec::new(cairn_bin(), 1);
    for (key, value) in env {
        spec = spec.env(*key, *value);
    }
    let cluster = Cluster::start(spec).await.expect("member starts");
    let mut client = cluster.client(0).await.expect("client");
    client.put("k", "v").await.expect("put");
    let got = client.get("k").await.expect("get");
    assert_eq!(got.kvs[0].value, b"v");
    let log = cluster.read_log(0);
    let count = log
        .split(LINE)
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no worker-thread line in the log:\n{log}"));
    count.parse().expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gomaxprocs_sets_the_worker_threads() {
    assert_eq!(workers_with(&[("GOMAXPROCS", "3")]).await, 3);
    assert_eq!(workers_with(&[("GOMAXPROCS", "1")]).await, 1);
    // Ignored as Go ignores it: one per CPU.
    let cpus = std::thread::available_parallelism()
        .expect("CPU count")
        .get();
    assert_eq!(workers_with(&[("GOMAXPROCS", "0")]).await, cpus);
    assert_eq!(
        workers_with(&[("GOMAXPROCS", "1"), ("TOKIO_WORKER_THREADS", "3")]).await,
        3
    );
}
