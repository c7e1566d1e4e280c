//! Cairn's Recovery service (`cairnpb.Recovery`) on the client port: Inspect
//! answers from the member's local state, so it works when the cluster has lost
//! quorum — which is when `cairnctl recover` needs it. Reset and Rejoin record
//! what to do (see `crate::restart`) and restart the member to do it.

use cairn_proto::cairnpb::recovery_server::Recovery;
use cairn_proto::cairnpb::{
    InspectRequest, InspectResponse, RejoinRequest, RejoinResponse, ResetRequest, ResetResponse,
};
use std::path::PathBuf;

use crate::restart::{read_pending, write_pending, PendingAction, RestartSignal};
use tonic::{Request, Response, Status};

use crate::context::ServerContext;

pub struct RecoveryService {
    ctx: ServerContext,
    data_dir: PathBuf,
    restart: RestartSignal,
}

impl RecoveryService {
    pub fn new(ctx: ServerContext, data_dir: PathBuf, restart: RestartSignal) -> Self {
        RecoveryService {
            ctx,
            data_dir,
            restart,
        }
    }

    fn check_cluster(&self, expected: u64) -> Result<(), Status> {
        let ours = self.ctx.node.cluster_id();
        if expected != ours {
            return Err(Status::failed_precondition(format!(
                "cairn: this member belongs to cluster {ours:x}, not {expected:x}; inspect again"
            )));
        }
        Ok(())
    }

    /// Records `action` and restarts the member shortly after answering.
    fn schedule(&self, action: &PendingAction) -> Result<(), Status> {
        write_pending(&self.data_dir, action)
            .map_err(|e| Status::internal(format!("cairn: recovery: {e:#}")))?;
        let restart = self.restart.clone();
        let delay = restart_delay();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            restart.request();
        });
        Ok(())
    }
}

/// How long the member keeps answering after accepting an action, so that the
/// answer reaches the caller before the member stops: 300 ms. Test hook:
/// `CAIRN_TEST_RECOVERY_RESTART_DELAY_MS` lengthens it, so a test can act in
/// the window between "accepted" and "restarted".
fn restart_delay() -> std::time::Duration {
    let ms = std::env::var("CAIRN_TEST_RECOVERY_RESTART_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    std::time::Duration::from_millis(ms)
}

#[tonic::async_trait]
impl Recovery for RecoveryService {
    async fn inspect(
        &self,
        _request: Request<InspectRequest>,
    ) -> Result<Response<InspectResponse>, Status> {
        let mut answer = self.ctx.node.inspect().await;
        match read_pending(&self.data_dir)
            .map_err(|e| Status::internal(format!("cairn: recovery: {e:#}")))?
        {
            Some(PendingAction::Reset { .. }) => {
                answer.pending_action = cairn_proto::PENDING_RESET.into()
            }
            Some(PendingAction::Rejoin { join_url, .. }) => {
                answer.pending_action = cairn_proto::PENDING_REJOIN.into();
                answer.pending_join_url = join_url;
            }
            None => {}
        }
        Ok(Response::new(answer))
    }

    async fn reset(
        &self,
        request: Request<ResetRequest>,
    ) -> Result<Response<ResetResponse>, Status> {
        let req = request.into_inner();
        self.check_cluster(req.expected_cluster_id)?;
        if req.bump_revision < 0 {
            return Err(Status::invalid_argument(
                "bump_revision must not be negative",
            ));
        }
        tracing::warn!(
            bump = req.bump_revision,
            "recovery: reset to a one-member cluster requested"
        );
        self.schedule(&PendingAction::Reset {
            bump_revision: req.bump_revision,
        })?;
        Ok(Response::new(ResetResponse {}))
    }

    async fn rejoin(
        &self,
        request: Request<RejoinRequest>,
    ) -> Result<Response<RejoinResponse>, Status> {
        let req = request.into_inner();
        self.check_cluster(req.expected_cluster_id)?;
        if !(req.join_url.starts_with("http://") || req.join_url.starts_with("https://")) {
            return Err(Status::invalid_argument("join_url must be an http(s) URL"));
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let moved_to = self
            .data_dir
            .join(format!("member.before-recovery-{stamp}"))
            .display()
            .to_string();
        tracing::warn!(join = req.join_url, moved_to, "recovery: rejoin requested");
        self.schedule(&PendingAction::Rejoin {
            join_url: req.join_url,
            moved_to: moved_to.clone(),
        })?;
        Ok(Response::new(RejoinResponse { moved_to }))
    }
}
