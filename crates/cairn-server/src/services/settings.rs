//! Cairn's Settings service (not part of the etcd API): reads and replaces the
//! cluster-wide settings kept in the replicated state. Get is linearizable;
//! Set goes through Raft and answers once applied.

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::settings_server::Settings;
use cairn_proto::cairnpb::{ClusterSettings, InternalRequest, SettingsGetRequest};
use cairn_raft::kv_error_status;
use tonic::{Code, Request, Response, Status};

use crate::context::ServerContext;

pub struct SettingsService {
    ctx: ServerContext,
}

impl SettingsService {
    pub fn new(ctx: ServerContext) -> Self {
        SettingsService { ctx }
    }

    fn current(&self) -> Result<ClusterSettings, Status> {
        self.ctx
            .node
            .store()
            .cluster_settings()
            .map_err(|e| kv_error_status(&e))
    }
}

#[tonic::async_trait]
impl Settings for SettingsService {
    async fn get(
        &self,
        _request: Request<SettingsGetRequest>,
    ) -> Result<Response<ClusterSettings>, Status> {
        self.ctx.linearizable_barrier().await?;
        Ok(Response::new(self.current()?))
    }

    async fn set(
        &self,
        request: Request<ClusterSettings>,
    ) -> Result<Response<ClusterSettings>, Status> {
        self.ctx.refuse_on_learner()?;
        let settings = request.into_inner();
        let cmd = InternalRequest {
            proposal_id: 0,
            request: Some(Cmd::ClusterSettings(settings)),
        };
        let resp = self
            .ctx
            .node
            .propose(cmd)
            .await
            .map_err(|e| e.to_status())?;
        if resp.error_code != 0 {
            return Err(Status::new(
                Code::from_i32(resp.error_code as i32),
                resp.error_message,
            ));
        }
        tracing::info!(
            manual_learner_promotion = settings.manual_learner_promotion,
            "cluster settings changed"
        );
        Ok(Response::new(self.current()?))
    }
}
