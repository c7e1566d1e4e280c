//! What every API service shares: the Raft member, the request limits, and the
//! helpers that stamp etcd's response header and enforce etcd's request rules.

use cairn_mvcc::{needs_space, ALARM_NOSPACE};
use cairn_proto::cairnpb::{
    internal_request, internal_response, InternalRequest, InternalResponse,
};
use cairn_proto::etcdserverpb::ResponseHeader;
use cairn_raft::RaftNode;
use prost::Message;
use tonic::{Code, Status};

/// The etcd version Cairn speaks (reported by /version and Maintenance.Status).
pub const ETCD_VERSION: &str = "3.5.1";
/// The cluster version etcd 3.5 members agree on.
pub const ETCD_CLUSTER_VERSION: &str = "3.5.0";
/// Cairn's own version.
pub const CAIRN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A command as proposed through Raft.
pub fn internal_request(command: internal_request::Request) -> InternalRequest {
    InternalRequest {
        request: Some(command),
        proposal_id: 0,
    }
}

/// Shared state of the API layer.
#[derive(Clone)]
pub struct ServerContext {
    pub node: RaftNode,
    pub max_request_bytes: u64,
    pub max_txn_ops: u64,
    /// `--quota-backend-bytes`: above it, writes that need space raise NOSPACE.
    pub quota_backend_bytes: u64,
    /// `--election-timeout`.
    pub election_timeout: std::time::Duration,
    /// `--unsafe-stale-reads` (tests only): skip ReadIndex for linearizable reads.
    pub unsafe_stale_reads: bool,
}

impl ServerContext {
    /// etcd's response header: cluster, member, the given revision, current term.
    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.node.cluster_id(),
            member_id: self.node.member_id(),
            revision,
            raft_term: self.node.term(),
        }
    }

    /// Fills cluster/member/term into a header the store produced (keeping its revision).
    pub fn stamp(&self, header: &mut Option<ResponseHeader>) {
        let revision = header
            .as_ref()
            .map(|h| h.revision)
            .unwrap_or_else(|| self.node.store().current_revision());
        *header = Some(self.header(revision));
    }

    /// Refuses requests carrying `hasleader: true` metadata when there is no leader
    /// (kube-apiserver's watches rely on this).
    pub fn check_leader<T>(&self, req: &tonic::Request<T>) -> Result<(), Status> {
        let wants_leader = req
            .metadata()
            .get("hasleader")
            .and_then(|v| v.to_str().ok())
            == Some("true");
        if wants_leader && !self.node.has_leader() {
            return Err(Status::unavailable("etcdserver: no leader"));
        }
        Ok(())
    }

    /// etcd serves only Status and serializable Range on a learner; every other
    /// request gets "rpc not supported for learner".
    pub fn refuse_on_learner(&self) -> Result<(), Status> {
        if self.node.is_learner() {
            return Err(Status::unavailable(
                "etcdserver: rpc not supported for learner",
            ));
        }
        Ok(())
    }

    /// Proposes a write through Raft and returns its applied result, refusing
    /// requests larger than `--max-request-bytes` as etcd does.
    pub async fn propose(
        &self,
        req: InternalRequest,
    ) -> Result<internal_response::Response, Status> {
        if req.encoded_len() as u64 > self.max_request_bytes {
            return Err(Status::invalid_argument("etcdserver: request is too large"));
        }
        if needs_space(&req) {
            self.check_quota(req.encoded_len() as u64).await?;
        }
        let resp: InternalResponse = self.node.propose(req).await.map_err(|e| e.to_status())?;
        if resp.error_code != 0 {
            return Err(Status::new(
                Code::from_i32(resp.error_code as i32),
                resp.error_message,
            ));
        }
        resp.response
            .ok_or_else(|| Status::internal("etcdserver: empty apply result"))
    }

    /// etcd's quota check: with NOSPACE raised, or when this write would take the
    /// database over `--quota-backend-bytes` (raising NOSPACE through Raft), the
    /// write is refused with "database space exceeded".
    async fn check_quota(&self, cost: u64) -> Result<(), Status> {
        let no_space = || Status::resource_exhausted("etcdserver: mvcc: database space exceeded");
        let store = self.node.store();
        if store.alarms().iter().any(|(_, a)| *a == ALARM_NOSPACE) {
            return Err(no_space());
        }
        // etcd compares the backend file's size, as here.
        if store.db_size().saturating_add(cost) <= self.quota_backend_bytes {
            return Ok(());
        }
        tracing::warn!(
            quota = self.quota_backend_bytes,
            db_size = store.db_size(),
            "database space exceeded; raising the NOSPACE alarm"
        );
        let raise = InternalRequest {
            proposal_id: 0,
            request: Some(cairn_proto::cairnpb::internal_request::Request::Alarm(
                cairn_proto::etcdserverpb::AlarmRequest {
                    action: cairn_proto::etcdserverpb::alarm_request::AlarmAction::Activate as i32,
                    member_id: self.node.member_id(),
                    alarm: ALARM_NOSPACE,
                },
            )),
        };
        if let Err(e) = self.node.propose(raise).await {
            tracing::error!("raising NOSPACE failed: {e}");
        }
        Err(no_space())
    }

    /// Makes a following local read linearizable (ReadIndex), unless the
    /// test-only `--unsafe-stale-reads` is on.
    pub async fn linearizable_barrier(&self) -> Result<(), Status> {
        if self.unsafe_stale_reads {
            return Ok(());
        }
        self.node.read_barrier().await.map_err(|e| e.to_status())
    }
}

/// A response of the wrong kind for the request: a bug, never an etcd answer.
pub fn unexpected(what: &str) -> Status {
    Status::internal(format!("etcdserver: unexpected apply result for {what}"))
}
