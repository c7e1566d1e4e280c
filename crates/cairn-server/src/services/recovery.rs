//! Cairn's Recovery service (`cairnpb.Recovery`) on the client port: Inspect
//! answers from the member's local state, so it works when the cluster has lost
//! quorum — which is when `cairnctl recover` needs it.

use cairn_proto::cairnpb::recovery_server::Recovery;
use cairn_proto::cairnpb::{InspectRequest, InspectResponse};
use tonic::{Request, Response, Status};

use crate::context::ServerContext;

pub struct RecoveryService {
    ctx: ServerContext,
}

impl RecoveryService {
    pub fn new(ctx: ServerContext) -> Self {
        RecoveryService { ctx }
    }
}

#[tonic::async_trait]
impl Recovery for RecoveryService {
    async fn inspect(
        &self,
        _request: Request<InspectRequest>,
    ) -> Result<Response<InspectResponse>, Status> {
        Ok(Response::new(self.ctx.node.inspect().await))
    }
}
