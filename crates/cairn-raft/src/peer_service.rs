//! The peer transport's service: `cairnpb.Peer`, reached over gRPC or the peer
//! stream (`crate::peer_lane`). It refuses messages from any other cluster,
//! hands Raft messages to openraft, and lets followers propose writes and ask
//! for read indexes through the leader.

use cairn_proto::cairnpb::peer_server::{Peer, PeerServer};
use cairn_proto::cairnpb::{
    IdentifyRequest, IdentifyResponse, LeaseClockRequest, LeaseClockResponse,
    MembershipChangeRequest, MembershipChangeResponse, PeerHashKvRequest, PeerHashKvResponse,
    PeerMember, ProposeRequest, ProposeResponse, RaftMessage, RaftRpc, ReadIndexRequest,
    ReadIndexResponse,
};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use crate::network::MAX_PEER_MESSAGE;
use crate::node::{RaftNode, MEMBER_REMOVED};
use crate::snapshot_data::SnapshotData;
use crate::snapshot_transfer::{Assembled, SnapshotAssembler, SnapshotChunk};
use crate::types::{MemberId, SnapshotMeta, TypeConfig, Vote};

type SnapshotResponse = openraft::raft::SnapshotResponse<TypeConfig>;

/// gRPC service serving one member's peer port.
pub struct PeerService {
    node: RaftNode,
    /// The snapshot being received from the leader, chunk by chunk.
    snapshots: SnapshotAssembler,
}

impl PeerService {
    pub fn new(node: RaftNode) -> PeerService {
        let snapshots = SnapshotAssembler::new(node.inner.state_machine.snapshot_dir());
        PeerService { node, snapshots }
    }

    /// The gRPC form of `service`, which the peer stream shares.
    pub fn grpc(service: Arc<PeerService>) -> PeerServer<PeerService> {
        PeerServer::from_arc(service)
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE)
    }

    /// Adds a snapshot chunk from member `from`; with the last one, hands the
    /// snapshot to openraft and returns its answer. A received snapshot that
    /// openraft did not install (it was stale, or installing failed) is deleted.
    async fn add_chunk(
        &self,
        from: MemberId,
        chunk: SnapshotChunk,
    ) -> Result<Option<SnapshotResponse>, Status> {
        let assembled = tokio::task::block_in_place(|| self.snapshots.add(from, chunk))
            .map_err(|e| Status::aborted(e.to_string()))?;
        let Assembled::Complete {
            vote,
            meta,
            data,
            chunks,
        } = assembled
        else {
            return Ok(None);
        };
        tracing::info!(bytes = data.len(), chunks, "cairn: received raft snapshot");
        let received = data.path().to_path_buf();
        let snapshot = openraft::alias::SnapshotOf::<TypeConfig, SnapshotData> {
            meta,
            snapshot: SnapshotData::Received(data),
        };
        let response = self.node.raft().install_full_snapshot(vote, snapshot).await;
        // Installed into the store or refused: the file is not needed either way.
        match std::fs::remove_file(&received) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %received.display(), error = %e, "cairn: could not remove a received raft snapshot")
            }
        }
        response.map(Some).map_err(raft_status)
    }

    fn check_cluster(&self, cluster_id: u64) -> Result<(), Status> {
        let ours = self.node.cluster_id();
        if cluster_id != ours && self.node.superseded_cluster_id() == Some(cluster_id) {
            return Err(Status::failed_precondition(superseded_message(
                cluster_id, ours,
            )));
        }
        if cluster_id != ours {
            return Err(Status::failed_precondition(format!(
                "cluster ID mismatch: this member belongs to cluster {ours:x}, the request to cluster {cluster_id:x}"
            )));
        }
        Ok(())
    }
}

/// What a member of a superseded cluster is told (and stops with).
pub fn superseded_message(old: u64, new: u64) -> String {
    format!(
        "{SUPERSEDED}: cluster {old:x} was superseded by cluster {new:x} (recovered from one of its members); \
         this member must not serve: move its data dir aside and rejoin the new cluster (member add, or cairn --join)"
    )
}

/// The start of [`superseded_message`].
pub const SUPERSEDED: &str = "cairn: superseded";

fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Status> {
    bincode::deserialize(payload)
        .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<Response<RaftMessage>, Status> {
    let payload = bincode::serialize(v).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftMessage {
        payload,
        ..Default::default()
    }))
}

fn raft_status(e: impl std::fmt::Display) -> Status {
    Status::unavailable(e.to_string())
}

impl PeerService {
    /// One Raft message from a peer, answered.
    async fn serve_raft(&self, msg: RaftMessage) -> Result<Response<RaftMessage>, Status> {
        self.check_cluster(msg.cluster_id)?;
        if self.node.is_removed_member(msg.from_member_id) {
            return Err(Status::failed_precondition(format!(
                "{MEMBER_REMOVED} (member {:x}, cluster {:x})",
                msg.from_member_id,
                self.node.cluster_id()
            )));
        }
        let raft = self.node.raft();
        match RaftRpc::try_from(msg.rpc) {
            Ok(RaftRpc::AppendEntries) => {
                let r = raft
                    .append_entries(decode(&msg.payload)?)
                    .await
                    .map_err(raft_status)?;
                if r.is_success() {
                    self.node.inner.lessor.note_leader_contact();
                }
                encode(&r)
            }
            Ok(RaftRpc::Vote) => encode(
                &raft
                    .vote(decode(&msg.payload)?)
                    .await
                    .map_err(raft_status)?,
            ),
            Ok(RaftRpc::PreVote) => encode(
                &raft
                    .pre_vote(decode(&msg.payload)?)
                    .await
                    .map_err(raft_status)?,
            ),
            Ok(RaftRpc::InstallSnapshot) => {
                // The one-message form of older members: one chunk holding it all.
                let (vote, meta, data): (Vote, SnapshotMeta, Vec<u8>) = decode(&msg.payload)?;
                let chunk = SnapshotChunk {
                    vote,
                    meta,
                    total_len: data.len() as u64,
                    offset: 0,
                    data,
                };
                match self.add_chunk(msg.from_member_id, chunk).await? {
                    Some(response) => encode(&response),
                    None => Err(Status::internal(
                        "a one-message snapshot was left incomplete",
                    )),
                }
            }
            Ok(RaftRpc::SnapshotChunk) => {
                let chunk: SnapshotChunk = decode(&msg.payload)?;
                encode(&self.add_chunk(msg.from_member_id, chunk).await?)
            }
            Ok(RaftRpc::TransferLeader) => encode(
                &raft
                    .handle_transfer_leader(decode(&msg.payload)?)
                    .await
                    .map_err(raft_status)?,
            ),
            Err(_) => Err(Status::invalid_argument(format!(
                "unknown raft rpc {}",
                msg.rpc
            ))),
        }
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let msg = request.into_inner();
        let (from, received) = (msg.from_member_id, msg.payload.len());
        let answer = self.serve_raft(msg).await?;
        crate::metrics::peer_message_served(from, received, answer.get_ref().payload.len(), |id| {
            self.node.members().iter().any(|m| m.id == id)
        });
        Ok(answer)
    }

    async fn lease_clock(
        &self,
        request: Request<LeaseClockRequest>,
    ) -> Result<Response<LeaseClockResponse>, Status> {
        let msg = request.into_inner();
        self.check_cluster(msg.cluster_id)?;
        match self.node.leader_lease_clock(msg.id, msg.renew) {
            Some(clock) => Ok(Response::new(LeaseClockResponse {
                remaining: clock.remaining,
                granted: clock.granted,
            })),
            None => Err(Status::failed_precondition(crate::node::NOT_LEADER)),
        }
    }

    async fn propose(
        &self,
        request: Request<ProposeRequest>,
    ) -> Result<Response<ProposeResponse>, Status> {
        let msg = request.into_inner();
        self.check_cluster(msg.cluster_id)?;
        let req = msg
            .request
            .ok_or_else(|| Status::invalid_argument("empty proposal"))?;
        let response = self
            .node
            .propose_local(req)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(ProposeResponse {
            response: Some(response),
        }))
    }

    async fn read_index(
        &self,
        request: Request<ReadIndexRequest>,
    ) -> Result<Response<ReadIndexResponse>, Status> {
        self.check_cluster(request.into_inner().cluster_id)?;
        let read_index = self
            .node
            .leader_read_index()
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(ReadIndexResponse { read_index }))
    }

    async fn hash_kv(
        &self,
        request: Request<PeerHashKvRequest>,
    ) -> Result<Response<PeerHashKvResponse>, Status> {
        let msg = request.into_inner();
        self.check_cluster(msg.cluster_id)?;
        let h = self
            .node
            .hash_kv(msg.revision)
            .await
            .map_err(|e| crate::errors::kv_error_status(&e))?;
        Ok(Response::new(PeerHashKvResponse {
            member_id: self.node.member_id(),
            hash: h.hash,
            revision: h.revision,
            compact_revision: h.compact_revision,
        }))
    }

    async fn identify(
        &self,
        _request: Request<IdentifyRequest>,
    ) -> Result<Response<IdentifyResponse>, Status> {
        let members = self
            .node
            .members()
            .into_iter()
            .map(|m| PeerMember {
                id: m.id,
                peer_urls: m.peer_urls,
                is_learner: m.is_learner,
            })
            .collect();
        Ok(Response::new(IdentifyResponse {
            cluster_id: self.node.cluster_id(),
            member_id: self.node.member_id(),
            members,
            superseded_cluster_id: self.node.superseded_cluster_id().unwrap_or(0),
        }))
    }

    async fn change_membership(
        &self,
        request: Request<MembershipChangeRequest>,
    ) -> Result<Response<MembershipChangeResponse>, Status> {
        let msg = request.into_inner();
        self.check_cluster(msg.cluster_id)?;
        let change = msg
            .change
            .ok_or_else(|| Status::invalid_argument("empty membership change"))?;
        self.node
            .serve_forwarded_membership(change)
            .await
            .map(Response::new)
    }
}
