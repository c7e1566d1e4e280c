//! The peer stream: Raft messages and read-index requests between members as
//! length-prefixed frames on long-lived connections to the peer port, beside
//! gRPC on the same port. A gRPC call per heartbeat costs HTTP/2 stream set-up,
//! headers and trailers and several task hand-offs on both members; a frame on
//! an open connection costs one write and one read. Every Raft message
//! (appends, heartbeats, votes, snapshot chunks) and read-index request takes
//! the stream; forwarded writes, membership changes, lease renewals and the
//! rest of the `cairnpb.Peer` service stay on gRPC. Members of older
//! versions, which know only gRPC, are called over gRPC for everything.

mod client;
mod frame;
mod server;

pub use client::{LaneClient, LaneError};
pub use frame::Kind;
pub use server::{serve_peer_port, PeerClientCheck, PeerPortTls};

use tokio::io::{AsyncRead, AsyncWrite};

/// A connection of either kind, plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
