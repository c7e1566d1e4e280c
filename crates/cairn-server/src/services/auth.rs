//! The etcd Auth service on a cluster whose authentication is disabled, which
//! every Cairn cluster is (enabling it is not implemented yet). What a client
//! can ask of such a cluster is answered as etcd answers it: the status says
//! disabled, there are no users and no roles, and `Authenticate` fails with
//! etcd's "authentication is not enabled", which etcd's own client takes as
//! "go on without a token" (so clients configured with a user and password
//! work, as they do against etcd with auth disabled). Everything that would
//! change users, roles or the setting answers `Unimplemented`.

use cairn_proto::etcdserverpb::auth_server::Auth;
use cairn_proto::etcdserverpb::{
    AuthRoleGetRequest, AuthRoleGetResponse, AuthRoleListRequest, AuthRoleListResponse,
    AuthStatusRequest, AuthStatusResponse, AuthUserGetRequest, AuthUserGetResponse,
    AuthUserListRequest, AuthUserListResponse, AuthenticateRequest, AuthenticateResponse,
};
use tonic::{Request, Response, Status};

use crate::context::ServerContext;

/// etcd's errors for these requests (gRPC `FailedPrecondition`, as etcd's).
const AUTH_NOT_ENABLED: &str = "etcdserver: authentication is not enabled";
const USER_NOT_FOUND: &str = "etcdserver: user name not found";
const ROLE_NOT_FOUND: &str = "etcdserver: role name not found";

/// The auth store's revision as a fresh etcd cluster reports it; nothing
/// here ever changes it.
const AUTH_REVISION: u64 = 1;

pub struct AuthService {
    ctx: ServerContext,
}

impl AuthService {
    pub fn new(ctx: ServerContext) -> Self {
        AuthService { ctx }
    }

    /// etcd serves these requests through Raft: without a leader they fail,
    /// and a learner refuses them.
    async fn through_quorum<T>(&self, request: &Request<T>) -> Result<(), Status> {
        self.ctx.check_leader(request)?;
        self.ctx.refuse_on_learner()?;
        self.ctx.linearizable_barrier().await
    }

    fn header(&self) -> Option<cairn_proto::etcdserverpb::ResponseHeader> {
        Some(self.ctx.header(self.ctx.node.store().current_revision()))
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn authenticate(
        &self,
        _request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        Err(Status::failed_precondition(AUTH_NOT_ENABLED))
    }

    async fn auth_status(
        &self,
        request: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        self.through_quorum(&request).await?;
        Ok(Response::new(AuthStatusResponse {
            header: self.header(),
            enabled: false,
            auth_revision: AUTH_REVISION,
        }))
    }

    async fn user_list(
        &self,
        request: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        self.through_quorum(&request).await?;
        Ok(Response::new(AuthUserListResponse {
            header: self.header(),
            users: Vec::new(),
        }))
    }

    async fn role_list(
        &self,
        request: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        self.through_quorum(&request).await?;
        Ok(Response::new(AuthRoleListResponse {
            header: self.header(),
            roles: Vec::new(),
        }))
    }

    async fn user_get(
        &self,
        request: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        self.through_quorum(&request).await?;
        Err(Status::failed_precondition(USER_NOT_FOUND))
    }

    async fn role_get(
        &self,
        request: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        self.through_quorum(&request).await?;
        Err(Status::failed_precondition(ROLE_NOT_FOUND))
    }
}
