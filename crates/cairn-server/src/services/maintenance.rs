//! The etcd Maintenance service: Status, Hash, HashKV, Alarm (alarms go through
//! Raft), Defragment, MoveLeader and Snapshot (from local state, so it works
//! without quorum). Downgrade answers Unimplemented.

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::internal_response::Response as Resp;
use cairn_proto::cairnpb::InternalRequest;
use cairn_proto::etcdserverpb::alarm_request::AlarmAction;
use cairn_proto::etcdserverpb::maintenance_server::Maintenance;
use cairn_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentRequest, DefragmentResponse,
    HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use cairn_raft::kv_error_status;
use prost::bytes::Bytes;
use sha2::{Digest, Sha256};
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::context::{unexpected, ServerContext, ETCD_VERSION};

pub struct MaintenanceService {
    ctx: ServerContext,
}

impl MaintenanceService {
    pub fn new(ctx: ServerContext) -> Self {
        MaintenanceService { ctx }
    }
}

/// Chunk size of the snapshot stream (etcd's).
const SNAPSHOT_CHUNK: usize = 32 * 1024;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        if req.action == AlarmAction::Get as i32 {
            let store = self.ctx.node.store();
            let alarms = store
                .alarms()
                .into_iter()
                .filter(|(_, a)| req.alarm == 0 || *a == req.alarm)
                .map(|(member_id, alarm)| AlarmMember { member_id, alarm })
                .collect();
            return Ok(Response::new(AlarmResponse {
                header: Some(self.ctx.header(store.current_revision())),
                alarms,
            }));
        }
        let cmd = InternalRequest {
            proposal_id: 0,
            request: Some(Cmd::Alarm(req)),
        };
        match self.ctx.propose(cmd).await? {
            Resp::Alarm(mut r) => {
                self.ctx.stamp(&mut r.header);
                Ok(Response::new(r))
            }
            _ => Err(unexpected("alarm")),
        }
    }

    async fn defragment(
        &self,
        _request: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.ctx.refuse_on_learner()?;
        tracing::info!("starting defragmentation");
        let store = self.ctx.node.store().clone();
        tokio::task::spawn_blocking(move || store.defragment())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(format!("etcdserver: {e}")))?;
        tracing::info!("finished defragmentation");
        let store = self.ctx.node.store();
        Ok(Response::new(DefragmentResponse {
            header: Some(self.ctx.header(store.current_revision())),
        }))
    }

    async fn hash(&self, _request: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.ctx.refuse_on_learner()?;
        let store = self.ctx.node.store().clone();
        let revision = store.current_revision();
        let hash = tokio::task::spawn_blocking(move || store.hash())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(format!("etcdserver: {e}")))?;
        Ok(Response::new(HashResponse {
            header: Some(self.ctx.header(revision)),
            hash,
        }))
    }

    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        self.ctx.refuse_on_learner()?;
        let target = request.into_inner().target_id;
        self.ctx
            .node
            .move_leader(target)
            .await
            .map_err(|e| e.to_status())?;
        let store = self.ctx.node.store();
        Ok(Response::new(MoveLeaderResponse {
            header: Some(self.ctx.header(store.current_revision())),
        }))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let status = self.ctx.node.status();
        let store = self.ctx.node.store();
        let mut resp = StatusResponse {
            header: Some(self.ctx.header(store.current_revision())),
            version: ETCD_VERSION.to_string(),
            db_size: store.db_size() as i64,
            leader: status.leader.unwrap_or(0),
            raft_index: status.commit_index,
            raft_term: status.term,
            raft_applied_index: status.applied_index,
            errors: vec![],
            db_size_in_use: store.db_size_in_use() as i64,
            is_learner: status.is_learner,
            ..Default::default()
        };
        if status.leader.is_none() {
            resp.errors.push("etcdserver: no leader".to_string());
        }
        for (member, alarm) in store.alarms() {
            // gogoproto's text form of an AlarmMember, as etcd reports it.
            let name = AlarmType::try_from(alarm)
                .map(|a| a.as_str_name().to_string())
                .unwrap_or_else(|_| alarm.to_string());
            resp.errors.push(format!("memberID:{member} alarm:{name} "));
        }
        Ok(Response::new(resp))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        let rev = request.into_inner().revision;
        let h = self
            .ctx
            .node
            .hash_kv(rev)
            .await
            .map_err(|e| kv_error_status(&e))?;
        Ok(Response::new(HashKvResponse {
            header: Some(self.ctx.header(h.revision)),
            hash: h.hash,
            compact_revision: h.compact_revision,
            hash_revision: h.hash_revision,
        }))
    }

    /// Streams this member's local state as an etcd snapshot file: the bbolt
    /// database in 32 KiB chunks, then its SHA-256. Works without quorum.
    async fn snapshot(
        &self,
        _request: Request<SnapshotRequest>,
    ) -> Result<Response<BoxStream<SnapshotResponse>>, Status> {
        let started = std::time::Instant::now();
        let node = self.ctx.node.clone();
        let db = tokio::task::spawn_blocking(move || crate::etcd_snapshot::build(&node))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(format!("etcdserver: snapshot: {e:#}")))?;
        Ok(Response::new(Box::pin(tokio_stream::iter(
            SnapshotChunks::new(db.into(), started),
        ))))
    }
}

/// The messages of a snapshot stream, made as they are sent: the database in
/// [`SNAPSHOT_CHUNK`] pieces (slices of it, not copies), hashed as they go,
/// then its SHA-256.
struct SnapshotChunks {
    db: Bytes,
    sent: usize,
    /// `None` once the digest is sent.
    hasher: Option<Sha256>,
    /// When the request came: the time to the digest is the snapshot's
    /// duration (`etcd_disk_backend_snapshot_duration_seconds`).
    started: std::time::Instant,
}

impl SnapshotChunks {
    fn new(db: Bytes, started: std::time::Instant) -> SnapshotChunks {
        SnapshotChunks {
            db,
            sent: 0,
            hasher: Some(Sha256::new()),
            started,
        }
    }
}

impl Iterator for SnapshotChunks {
    type Item = Result<SnapshotResponse, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        let hasher = self.hasher.as_mut()?;
        let total = self.db.len();
        if self.sent < total {
            let end = total.min(self.sent + SNAPSHOT_CHUNK);
            let chunk = self.db.slice(self.sent..end);
            hasher.update(&chunk);
            self.sent = end;
            return Some(Ok(SnapshotResponse {
                remaining_bytes: (total - end) as u64,
                blob: chunk,
                ..Default::default()
            }));
        }
        let digest = self.hasher.take()?.finalize().to_vec();
        crate::metrics::SNAPSHOT_SECONDS.observe(self.started.elapsed().as_secs_f64());
        Some(Ok(SnapshotResponse {
            remaining_bytes: 0,
            blob: digest.into(),
            ..Default::default()
        }))
    }
}
