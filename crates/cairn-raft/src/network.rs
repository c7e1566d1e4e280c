//! The client half of the peer transport: openraft's `RaftNetworkV2` over the
//! `cairnpb.Peer` service, reached over the peer stream (`crate::peer_lane`)
//! or gRPC. Every message carries this cluster's ID and is refused by a member
//! of any other cluster.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::cairnpb::peer_client::PeerClient;
use cairn_proto::cairnpb::{RaftMessage, RaftRpc, ReadIndexRequest, ReadIndexResponse};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, OptionalSend};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

use crate::metrics::PeerTraffic;
use crate::node::MEMBER_REMOVED;
use crate::peer_lane::{Kind, LaneClient, LaneError};
use crate::snapshot_data::SnapshotData;
use crate::snapshot_transfer::{SnapshotChunkRef, CHUNK_BYTES};
use crate::stop::StopSignal;
use crate::types::{MemberId, PeerNode, RawBytes, TypeConfig, Vote};

/// Largest peer message accepted (an append of many large entries; snapshots
/// travel in chunks of [`CHUNK_BYTES`]).
pub const MAX_PEER_MESSAGE: usize = 2 * 1024 * 1024 * 1024 - 1;

/// How long one snapshot chunk may take to arrive.
const SNAPSHOT_CHUNK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the last chunk may take: it also installs the whole snapshot.
const SNAPSHOT_INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Shared, lazily connected gRPC channels and peer-stream connections to
/// peers, keyed by peer URL.
#[derive(Clone, Default)]
pub struct PeerChannels {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// Used for `https://` peer URLs.
    tls: Option<crate::grpc_tls::TlsConnect>,
    lane: Arc<LaneClient>,
}

/// TLS towards other members (`https://` peer URLs): our peer certificate and
/// the CA theirs must be signed by, for gRPC and the peer stream alike.
#[derive(Clone, Debug)]
pub struct PeerClientTls {
    pub config: Arc<rustls::ClientConfig>,
}

impl PeerChannels {
    pub fn new(tls: Option<PeerClientTls>) -> PeerChannels {
        let (grpc, stream) = match tls {
            Some(tls) => (
                Some(crate::grpc_tls::TlsConnect::new(&tls.config)),
                Some(tls.config),
            ),
            None => (None, None),
        };
        PeerChannels {
            channels: Arc::default(),
            tls: grpc,
            lane: Arc::new(LaneClient::new(stream)),
        }
    }

    /// `Peer.Raft` on the member at `urls`.
    pub async fn raft(
        &self,
        urls: &[String],
        msg: RaftMessage,
        timeout: Duration,
    ) -> Result<RaftMessage, tonic::Status> {
        self.unary(
            urls,
            Kind::Raft,
            msg,
            timeout,
            |mut client, request| async move { client.raft(request).await },
        )
        .await
    }

    /// `Peer.ReadIndex` on the member at `urls`.
    pub async fn read_index(
        &self,
        urls: &[String],
        req: ReadIndexRequest,
        timeout: Duration,
    ) -> Result<ReadIndexResponse, tonic::Status> {
        self.unary(
            urls,
            Kind::ReadIndex,
            req,
            timeout,
            |mut client, request| async move { client.read_index(request).await },
        )
        .await
    }

    /// One call over the peer stream, or over gRPC (`grpc`) when the member
    /// does not speak the stream.
    async fn unary<Req, Resp, Call, Answer>(
        &self,
        urls: &[String],
        kind: Kind,
        req: Req,
        timeout: Duration,
        grpc: Call,
    ) -> Result<Resp, tonic::Status>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
        Call: FnOnce(PeerClient<Channel>, tonic::Request<Req>) -> Answer,
        Answer: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let url = urls
            .first()
            .ok_or_else(|| tonic::Status::failed_precondition("member has no peer URL"))?;
        match self.lane.call(url, kind, &req, timeout).await {
            Ok(answer) => {
                return Resp::decode(answer.as_slice()).map_err(|e| {
                    tonic::Status::internal(format!("bad answer from peer {url}: {e}"))
                })
            }
            Err(LaneError::Status(status)) => return Err(status),
            Err(LaneError::Unsupported) => {}
        }
        let client = self
            .client(urls)
            .map_err(tonic::Status::failed_precondition)?;
        let mut request = tonic::Request::new(req);
        request.set_timeout(timeout);
        grpc(client, request).await.map(tonic::Response::into_inner)
    }

    /// A client for the first usable peer URL of a member.
    pub fn client(&self, urls: &[String]) -> Result<PeerClient<Channel>, String> {
        let url = urls
            .first()
            .ok_or_else(|| "member has no peer URL".to_string())?;
        let mut map = self
            .channels
            .lock()
            .map_err(|_| "peer channel cache poisoned".to_string())?;
        let channel = match map.get(url) {
            Some(c) => c.clone(),
            None => {
                let channel = match url.strip_prefix("https://") {
                    Some(rest) => {
                        let tls = self.tls.clone().ok_or_else(|| {
                            format!("peer URL {url} needs TLS but no --peer-cert-file/--peer-key-file were given")
                        })?;
                        // tonic refuses an https:// URL without TLS of its
                        // own; the connector makes the TLS connection, so
                        // tonic is given the same address as http://.
                        peer_endpoint(&format!("http://{rest}"))?.connect_with_connector_lazy(tls)
                    }
                    None => peer_endpoint(url)?.connect_lazy(),
                };
                map.insert(url.clone(), channel.clone());
                channel
            }
        };
        Ok(PeerClient::new(channel)
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE))
    }
}

/// A channel endpoint for a peer at `url`.
fn peer_endpoint(url: &str) -> Result<Endpoint, String> {
    Ok(Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("bad peer URL {url}: {e}"))?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true))
}

/// Creates connections to peers for openraft.
#[derive(Clone)]
pub struct PeerNetwork {
    pub cluster_id: u64,
    pub member_id: MemberId,
    pub channels: PeerChannels,
    /// Raised when a peer says this member was removed from the cluster.
    pub stop: StopSignal,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: MemberId, node: &PeerNode) -> PeerConnection {
        PeerConnection {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            target,
            traffic: PeerTraffic::new(self.member_id, target),
            urls: node.peer_urls.clone(),
            channels: self.channels.clone(),
            stop: self.stop.clone(),
        }
    }
}

/// One member's view of a connection to another.
pub struct PeerConnection {
    cluster_id: u64,
    member_id: MemberId,
    target: MemberId,
    traffic: PeerTraffic,
    urls: Vec<String>,
    channels: PeerChannels,
    stop: StopSignal,
}

fn unreachable(msg: impl Into<String>) -> Unreachable<TypeConfig> {
    Unreachable::new(&AnyError::error(msg.into()))
}

impl PeerConnection {
    /// Sends one Raft message; `heartbeat` ones are timed as round trips.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        rpc: RaftRpc,
        req: &Req,
        timeout: Duration,
        heartbeat: bool,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let payload = bincode::serialize(req)
            .map_err(|e| RPCError::Network(NetworkError::new(&AnyError::error(e.to_string()))))?;
        let sent = payload.len();
        let started = std::time::Instant::now();
        let msg = RaftMessage {
            cluster_id: self.cluster_id,
            from_member_id: self.member_id,
            rpc: rpc as i32,
            payload,
        };
        let reply = self
            .channels
            .raft(&self.urls, msg, timeout)
            .await
            .map_err(|status| {
                self.traffic.failed(heartbeat);
                if status.message().starts_with(MEMBER_REMOVED) {
                    self.stop.stop(MEMBER_REMOVED);
                }
                if status
                    .message()
                    .starts_with(crate::peer_service::SUPERSEDED)
                {
                    self.stop.stop(status.message());
                }
                let msg = format!(
                    "peer {:x} ({}): {}",
                    self.target,
                    self.urls.join(","),
                    status.message()
                );
                RPCError::Unreachable(unreachable(msg))
            })?;
        self.traffic
            .answered(sent, reply.payload.len(), started.elapsed(), heartbeat);
        bincode::deserialize(&reply.payload)
            .map_err(|e| RPCError::Network(NetworkError::new(&AnyError::error(e.to_string()))))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let heartbeat = rpc.entries.is_empty();
        self.call(RaftRpc::AppendEntries, &rpc, option.hard_ttl(), heartbeat)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(RaftRpc::Vote, &rpc, option.hard_ttl(), false)
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(RaftRpc::PreVote, &rpc, option.hard_ttl(), false)
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::alias::SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let meta = snapshot.meta;
        // The store is exported here, once per snapshot sent. A failure is
        // retried like a failed send (openraft backs off and starts over).
        let data = tokio::task::block_in_place(|| snapshot.snapshot.into_file()).map_err(|e| {
            StreamingError::Unreachable(unreachable(format!(
                "exporting the snapshot to send to peer {:x}: {e}",
                self.target
            )))
        })?;
        let data = &data;
        let total_len = data.len();
        let mut cancel = std::pin::pin!(cancel);
        let mut buf = vec![0u8; (total_len.min(CHUNK_BYTES as u64)) as usize];
        let mut offset = 0u64;
        loop {
            let end = total_len.min(offset + CHUNK_BYTES as u64);
            let piece = &mut buf[..(end - offset) as usize];
            // A failed read is retried like a failed send (openraft backs off
            // and starts the snapshot over), rather than stopping the leader.
            tokio::task::block_in_place(|| data.read_at(offset, piece)).map_err(|e| {
                StreamingError::Unreachable(unreachable(format!(
                    "reading the snapshot to send to peer {:x}: {e}",
                    self.target
                )))
            })?;
            let chunk = SnapshotChunkRef {
                vote: &vote,
                meta: &meta,
                total_len,
                offset,
                data: RawBytes(piece),
            };
            // The last chunk also installs the snapshot, which takes longer.
            let timeout = if end == total_len {
                SNAPSHOT_INSTALL_TIMEOUT
            } else {
                SNAPSHOT_CHUNK_TIMEOUT
            };
            let sent = self.call::<_, Option<SnapshotResponse<TypeConfig>>>(
                RaftRpc::SnapshotChunk,
                &chunk,
                timeout,
                false,
            );
            let reply = tokio::select! {
                closed = &mut cancel => return Err(StreamingError::Closed(closed)),
                reply = sent => reply.map_err(|e| match e {
                    RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                    other => StreamingError::Unreachable(unreachable(other.to_string())),
                })?,
            };
            if end == total_len {
                return reply.ok_or_else(|| {
                    StreamingError::Unreachable(unreachable(format!(
                        "peer {:x} did not install the snapshot after its last chunk",
                        self.target
                    )))
                });
            }
            offset = end;
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(RaftRpc::TransferLeader, &req, option.hard_ttl(), false)
            .await
    }
}
