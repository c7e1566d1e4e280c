//! Cairn's test harness.
//!
//! - [`Cluster`]: N real member processes of `cairn` or real `etcd` on loopback,
//!   with fault injection (kill, stop, restart, pause), readiness by `/health`.
//! - [`Client`]: a small gRPC client over etcd's `KV`/`Maintenance`/`Cluster`.
//! - [`binaries`]: where `cairn`, `cairnctl` and real etcd 3.5.1 live.
//! - [`conformance`]: the etcdctl script runner, output normalizer and
//!   comparison behind the differential conformance test.

pub mod binaries;
pub mod client;
pub mod cluster;
pub mod conformance;
pub mod error;
pub mod health;
pub mod ports;

pub use binaries::{
    cairn_bin, cairnctl_bin, etcd_bin, etcd_bin_dir, etcdctl_bin, etcdutl_bin, server_binary,
    ServerKind,
};
pub use client::Client;
pub use cluster::{Cluster, ClusterIdentity, ClusterSpec};
pub use error::{HarnessError, Result};
