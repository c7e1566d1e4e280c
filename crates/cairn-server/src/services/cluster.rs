//! The etcd Cluster service. MemberList is served from this member's view of the
//! Raft membership plus the attributes members published; MemberAdd, MemberRemove,
//! MemberUpdate and MemberPromote are carried out by the Raft layer (through the
//! leader, with etcd's safety checks) and answered with the membership this member
//! has applied afterwards, as etcd answers.

use cairn_proto::cairnpb::membership_change_request::Change;
use cairn_proto::etcdserverpb::cluster_server::Cluster;
use cairn_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse, ResponseHeader,
};
use tonic::{Request, Response, Status};

use crate::context::ServerContext;

pub struct ClusterService {
    ctx: ServerContext,
}

impl ClusterService {
    pub fn new(ctx: ServerContext) -> Self {
        ClusterService { ctx }
    }

    /// etcd's cluster header: no revision.
    fn header(&self) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.ctx.node.cluster_id(),
            member_id: self.ctx.node.member_id(),
            revision: 0,
            raft_term: self.ctx.node.term(),
        }
    }

    fn members(&self) -> Vec<Member> {
        self.ctx
            .node
            .members()
            .into_iter()
            .map(|m| Member {
                id: m.id,
                name: m.name,
                peer_ur_ls: m.peer_urls,
                client_ur_ls: m.client_urls,
                is_learner: m.is_learner,
            })
            .collect()
    }

    async fn change(&self, change: Change) -> Result<u64, Status> {
        self.ctx
            .node
            .change_membership(change)
            .await
            .map_err(|e| e.to_status())
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        let id = self.change(Change::Add(req.clone())).await?;
        Ok(Response::new(MemberAddResponse {
            header: Some(self.header()),
            member: Some(Member {
                id,
                name: String::new(),
                peer_ur_ls: req.peer_ur_ls,
                client_ur_ls: Vec::new(),
                is_learner: req.is_learner,
            }),
            members: self.members(),
        }))
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        self.change(Change::Remove(request.into_inner())).await?;
        Ok(Response::new(MemberRemoveResponse {
            header: Some(self.header()),
            members: self.members(),
        }))
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        self.change(Change::Update(request.into_inner())).await?;
        Ok(Response::new(MemberUpdateResponse {
            header: Some(self.header()),
            members: self.members(),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        self.change(Change::Promote(request.into_inner())).await?;
        Ok(Response::new(MemberPromoteResponse {
            header: Some(self.header()),
            members: self.members(),
        }))
    }

    async fn member_list(
        &self,
        request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        if request.get_ref().linearizable {
            self.ctx.linearizable_barrier().await?;
        }
        Ok(Response::new(MemberListResponse {
            header: Some(self.header()),
            members: self.members(),
        }))
    }
}
