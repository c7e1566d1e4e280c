//! The etcd Lease service: grant and revoke go through Raft (the state machine
//! holds which leases exist and their keys); keep-alive and time-to-live are
//! answered from the leader's lease clock (`cairn_raft::lessor`).

use cairn_mvcc::{KvError, MAX_LEASE_TTL};
use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::internal_response::Response as Applied;
use cairn_proto::etcdserverpb::lease_server::Lease;
use cairn_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use cairn_raft::kv_error_status;
use tokio::sync::mpsc;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use crate::context::{internal_request, unexpected, ServerContext};

pub struct LeaseService {
    ctx: ServerContext,
    /// etcd's minimum lease TTL in seconds: 1.5 election timeouts, rounded up.
    min_ttl: i64,
}

impl LeaseService {
    pub fn new(ctx: ServerContext, heartbeat_ms: u64, election_ms: u64) -> Self {
        LeaseService {
            ctx,
            min_ttl: min_lease_ttl(heartbeat_ms, election_ms),
        }
    }
}

/// etcd's `minTTL`: `(3 * electionTicks) / 2` heartbeats, in whole seconds
/// rounded up.
fn min_lease_ttl(heartbeat_ms: u64, election_ms: u64) -> i64 {
    let ticks = election_ms / heartbeat_ms.max(1);
    let millis = (3 * ticks / 2) * heartbeat_ms;
    millis.div_ceil(1000) as i64
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let mut req = request.into_inner();
        if req.ttl > MAX_LEASE_TTL {
            return Err(kv_error_status(&KvError::LeaseTtlTooLarge));
        }
        req.ttl = req.ttl.max(self.min_ttl);
        if req.id == 0 {
            req.id = self.ctx.node.generate_lease_id();
        }
        match self
            .ctx
            .propose(internal_request(Cmd::LeaseGrant(req)))
            .await?
        {
            Applied::LeaseGrant(mut r) => {
                self.ctx.stamp(&mut r.header);
                Ok(Response::new(r))
            }
            _ => Err(unexpected("lease grant")),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        match self
            .ctx
            .propose(internal_request(Cmd::LeaseRevoke(req)))
            .await?
        {
            Applied::LeaseRevoke(mut r) => {
                self.ctx.stamp(&mut r.header);
                Ok(Response::new(r))
            }
            _ => Err(unexpected("lease revoke")),
        }
    }

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<BoxStream<LeaseKeepAliveResponse>>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            loop {
                let req = tokio::select! {
                    msg = inbound.message() => match msg {
                        Ok(Some(req)) => req,
                        Ok(None) | Err(_) => return,
                    },
                    _ = tx.closed() => return,
                };
                let answer = match ctx.node.lease_clock(req.id, true).await {
                    // etcd answers TTL 0 for a lease that does not exist.
                    Ok(clock) => Ok(LeaseKeepAliveResponse {
                        header: Some(ctx.header(ctx.node.store().current_revision())),
                        id: req.id,
                        ttl: clock.remaining.max(0),
                    }),
                    Err(e) => Err(e.to_status()),
                };
                let failed = answer.is_err();
                if tx.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        let clock = self
            .ctx
            .node
            .lease_clock(req.id, false)
            .await
            .map_err(|e| e.to_status())?;
        let store = self.ctx.node.store();
        let info = store.lease_info(req.id);
        let resp = match info {
            Some(info) if clock.remaining >= 0 => LeaseTimeToLiveResponse {
                header: Some(self.ctx.header(store.current_revision())),
                id: req.id,
                ttl: clock.remaining,
                granted_ttl: clock.granted,
                keys: if req.keys { info.keys } else { Vec::new() },
            },
            // etcd answers an unknown lease with TTL -1 rather than an error.
            _ => LeaseTimeToLiveResponse {
                header: Some(self.ctx.header(store.current_revision())),
                id: req.id,
                ttl: -1,
                ..Default::default()
            },
        };
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        request: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let leases = self
            .ctx
            .node
            .leases_by_expiry()
            .into_iter()
            .map(|id| LeaseStatus { id })
            .collect();
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(self.ctx.header(self.ctx.node.store().current_revision())),
            leases,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_ttl_follows_etcd() {
        // etcd's defaults (100 ms heartbeat, 1 s election): 1.5 s -> 2 s.
        assert_eq!(min_lease_ttl(100, 1000), 2);
        assert_eq!(min_lease_ttl(100, 2000), 3);
        assert_eq!(min_lease_ttl(50, 500), 1);
    }
}
