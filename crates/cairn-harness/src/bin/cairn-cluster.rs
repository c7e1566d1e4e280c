//! `cairn-cluster`: start a local cluster by hand and keep it up until Ctrl-C.
//!
//! ```text
//! cairn-cluster --binary target/debug/cairn --size 3 [--netns] [-- --snapshot-count 100]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_harness::{Cluster, ClusterSpec};
use clap::Parser;

/// Start a local cluster of cairn or etcd members on loopback.
#[derive(Parser, Debug)]
#[command(name = "cairn-cluster")]
struct Args {
    /// Server binary (`cairn` or `etcd`); defaults to the workspace's `cairn`.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Number of members.
    #[arg(long, default_value_t = 3)]
    size: usize,
    /// Member name prefix.
    #[arg(long, default_value = "m")]
    name_prefix: String,
    /// `--initial-cluster-token`.
    #[arg(long, default_value = "cairn-test-cluster")]
    token: String,
    /// Keep the cluster directory (data and logs) after exit.
    #[arg(long)]
    keep: bool,
    /// Run each member in its own network namespace (needs root); the
    /// namespaces are printed, e.g. for `ip netns exec <ns> tc ...` by hand.
    #[arg(long)]
    netns: bool,
    /// Extra flags passed to every member (after `--`).
    #[arg(last = true)]
    extra_args: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let binary = args.binary.unwrap_or_else(cairn_harness::cairn_bin);
    let mut spec = ClusterSpec::new(binary, args.size)
        .name_prefix(args.name_prefix)
        .token(args.token)
        .extra_args(args.extra_args);
    if args.netns {
        spec = spec.network_namespaces();
    }
    let mut cluster = match Cluster::start(spec).await {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("cairn-cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.keep {
        cluster.keep_dir();
    }
    println!("directory: {}", cluster.dir().display());
    for i in 0..cluster.len() {
        println!(
            "{}: {} (peer {}, log {}{})",
            cluster.name(i),
            cluster.endpoint(i),
            cluster.peer_url(i),
            cluster.log_path(i).display(),
            cluster
                .network()
                .map(|n| format!(", namespace {}", n.namespace(i)))
                .unwrap_or_default()
        );
    }
    println!("endpoints: {}", cluster.client_endpoints());
    if let Some(leader) = cluster.find_leader().await {
        println!("leader: {}", cluster.name(leader));
    }
    println!("Ctrl-C stops the cluster.");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("cairn-cluster: waiting for Ctrl-C: {e}");
    }
    drop(cluster);
    ExitCode::SUCCESS
}
