//! Cairn's Raft layer: an openraft node with a durable log (append-only segment files), the MVCC store
//! as its state machine, and a gRPC peer transport that carries the cluster ID on
//! every message. The API layer uses [`RaftNode`] to propose writes, wait for
//! linearizable read points, and learn status and membership.

pub mod accept_any_server;
pub mod bootstrap;
pub mod datadir;
pub mod errors;
mod grpc_tls;
pub mod identity;
pub mod inspect;
pub mod join;
pub mod leadership;
pub mod lessor;
pub mod log_store;
pub mod membership;
pub mod metrics;
pub mod network;
pub mod node;
pub mod peer_hash;
pub mod peer_lane;
pub mod peer_service;
mod read_index;
mod recent_entries;
mod segment_log;
mod snapshot_data;
mod snapshot_file;
mod snapshot_transfer;
pub mod state_machine;
pub mod stop;
pub mod types;
pub mod waiters;

pub use errors::{kv_error_status, MembershipError, NodeError, ProposeError};
pub use lessor::LeaseClock;
pub use network::PeerClientTls;
pub use node::{MemberInfo, NodeConfig, NodeStatus, RaftNode, MEMBER_REMOVED};
pub use peer_lane::{serve_peer_port, PeerPortTls};
pub use peer_service::PeerService;
pub use snapshot_file::SnapshotFile;
pub use types::MemberId;
