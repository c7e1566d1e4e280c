//! `grpc.health.v1.Health`, as etcd serves it: the whole server (service name
//! "") is SERVING while this member knows a leader, NOT_SERVING otherwise.

use cairn_proto::grpc_health_v1::health_check_response::ServingStatus;
use cairn_proto::grpc_health_v1::health_server::Health;
use cairn_proto::grpc_health_v1::{HealthCheckRequest, HealthCheckResponse};
use tonic::{Request, Response, Status};

use crate::context::ServerContext;

pub struct HealthService {
    ctx: ServerContext,
}

impl HealthService {
    pub fn new(ctx: ServerContext) -> Self {
        HealthService { ctx }
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if !request.get_ref().service.is_empty() {
            return Err(Status::not_found("unknown service"));
        }
        let status = if self.ctx.node.has_leader() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        Ok(Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }
}
