//! The etcd KV service: Range, Put, DeleteRange, Txn, Compact.

use cairn_mvcc::validate;
use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::internal_response::Response as Applied;
use cairn_proto::etcdserverpb::kv_server::Kv;
use cairn_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use cairn_raft::kv_error_status;
use tonic::{Request, Response, Status};

use crate::context::{internal_request, unexpected, ServerContext};

pub struct KvService {
    ctx: ServerContext,
}

impl KvService {
    pub fn new(ctx: ServerContext) -> Self {
        KvService { ctx }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        self.ctx.check_leader(&request)?;
        let req = request.into_inner();
        if !req.serializable {
            self.ctx.refuse_on_learner()?;
        }
        validate::range(&req).map_err(|e| kv_error_status(&e))?;
        if !req.serializable {
            self.ctx.linearizable_barrier().await?;
        }
        let store = self.ctx.node.store().clone();
        // A single key is a few microseconds of work: read it here, unless an
        // apply holds the store; anything larger may take long and goes to a
        // blocking thread (so do single keys that would have to wait).
        let quick = if req.range_end.is_empty() {
            store.try_range(&req)
        } else {
            None
        };
        let resp = match quick {
            Some(resp) => resp,
            None => tokio::task::spawn_blocking(move || store.range(&req))
                .await
                .map_err(|e| Status::internal(e.to_string()))?,
        };
        let mut resp = resp.map_err(|e| kv_error_status(&e))?;
        self.ctx.stamp(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        validate::put(&req).map_err(|e| kv_error_status(&e))?;
        match self.ctx.propose(internal_request(Cmd::Put(req))).await? {
            Applied::Put(mut r) => {
                self.ctx.stamp(&mut r.header);
                Ok(Response::new(r))
            }
            _ => Err(unexpected("put")),
        }
    }

    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        validate::delete_range(&req).map_err(|e| kv_error_status(&e))?;
        match self
            .ctx
            .propose(internal_request(Cmd::DeleteRange(req)))
            .await?
        {
            Applied::DeleteRange(mut r) => {
                self.ctx.stamp(&mut r.header);
                Ok(Response::new(r))
            }
            _ => Err(unexpected("delete range")),
        }
    }

    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        validate::txn(&req, self.ctx.max_txn_ops as usize).map_err(|e| kv_error_status(&e))?;
        if cairn_mvcc::is_txn_read_only(&req) {
            self.ctx.linearizable_barrier().await?;
            let store = self.ctx.node.store().clone();
            let mut resp = tokio::task::spawn_blocking(move || store.txn_read_only(&req))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(|e| kv_error_status(&e))?;
            self.ctx.stamp(&mut resp.header);
            return Ok(Response::new(resp));
        }
        match self.ctx.propose(internal_request(Cmd::Txn(req))).await? {
            Applied::Txn(mut r) => {
                self.ctx.stamp(&mut r.header);
                Ok(Response::new(r))
            }
            _ => Err(unexpected("txn")),
        }
    }

    async fn compact(
        &self,
        request: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let req = request.into_inner();
        validate::compaction(&req, self.ctx.node.store().compact_revision())
            .map_err(|e| kv_error_status(&e))?;
        // Compaction is applied (and physically done) before the result returns, so
        // `physical` needs no extra wait.
        match self
            .ctx
            .propose(internal_request(Cmd::Compaction(req)))
            .await?
        {
            Applied::Compaction(mut r) => {
                self.ctx.stamp(&mut r.header);
                Ok(Response::new(r))
            }
            _ => Err(unexpected("compaction")),
        }
    }
}
