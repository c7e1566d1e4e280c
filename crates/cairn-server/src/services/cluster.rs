//! The etcd Cluster service. MemberList is served from this member's view of the
//! Raft membership plus the attributes members published; membership changes come
//! with the membership work (they answer Unimplemented until then).

use cairn_proto::etcdserverpb::cluster_server::Cluster;
use cairn_proto::etcdserverpb::{Member, MemberListRequest, MemberListResponse, ResponseHeader};
use tonic::{Request, Response, Status};

use crate::context::ServerContext;

pub struct ClusterService {
    ctx: ServerContext,
}

impl ClusterService {
    pub fn new(ctx: ServerContext) -> Self {
        ClusterService { ctx }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_list(
        &self,
        request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        self.ctx.check_leader(&request)?;
        if request.get_ref().linearizable {
            self.ctx.linearizable_barrier().await?;
        }
        let members = self
            .ctx
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
            .collect();
        // etcd's cluster header carries no revision.
        let status = self.ctx.node.status();
        let header = ResponseHeader {
            cluster_id: self.ctx.node.cluster_id(),
            member_id: self.ctx.node.member_id(),
            revision: 0,
            raft_term: status.term,
        };
        Ok(Response::new(MemberListResponse {
            header: Some(header),
            members,
        }))
    }
}
