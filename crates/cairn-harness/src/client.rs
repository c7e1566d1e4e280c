//! A small async gRPC client for tests: etcd's `KV`, `Maintenance`, `Cluster`,
//! `Lease` and `Watch` services over one tonic channel, with connect-with-retry and
//! per-call timeouts so a test never hangs on a killed or paused member.

use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::{
    cluster_client::ClusterClient, kv_client::KvClient, lease_client::LeaseClient,
    maintenance_client::MaintenanceClient, watch_client::WatchClient, Member, MemberListRequest,
    MemberListResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, StatusRequest,
    StatusResponse, TxnRequest, TxnResponse,
};
use tonic::transport::{Channel, Endpoint};

use crate::error::{HarnessError, Result};

/// Largest answer the client accepts (etcd's clientv3 default receive limit, 2 GiB).
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// Default timeout of one gRPC call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// gRPC clients for one member's client endpoint.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: String,
    /// `etcdserverpb.KV`.
    pub kv: KvClient<Channel>,
    /// `etcdserverpb.Maintenance`.
    pub maintenance: MaintenanceClient<Channel>,
    /// `etcdserverpb.Cluster`.
    pub cluster: ClusterClient<Channel>,
    /// `etcdserverpb.Lease`.
    pub lease: LeaseClient<Channel>,
    /// `etcdserverpb.Watch`.
    pub watch: WatchClient<Channel>,
}

impl Client {
    /// Connects to `endpoint` (e.g. `http://127.0.0.1:2379`), retrying until
    /// `deadline` elapses. Calls time out after [`DEFAULT_CALL_TIMEOUT`].
    pub async fn connect(endpoint: &str, deadline: Duration) -> Result<Client> {
        Client::connect_with_timeout(endpoint, deadline, DEFAULT_CALL_TIMEOUT).await
    }

    /// Like [`Client::connect`] with a chosen per-call timeout.
    pub async fn connect_with_timeout(
        endpoint: &str,
        deadline: Duration,
        call_timeout: Duration,
    ) -> Result<Client> {
        Client::connect_with_tls(endpoint, deadline, call_timeout, None).await
    }

    /// Like [`Client::connect_with_timeout`], over TLS when `tls` is given.
    pub async fn connect_with_tls(
        endpoint: &str,
        deadline: Duration,
        call_timeout: Duration,
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> Result<Client> {
        let mut config = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| HarnessError::Other(format!("bad endpoint {endpoint:?}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(call_timeout)
            .tcp_nodelay(true);
        if let Some(tls) = tls {
            config = config
                .tls_config(tls)
                .map_err(|e| HarnessError::Other(format!("TLS for {endpoint}: {e}")))?;
        }
        let start = Instant::now();
        loop {
            match config.connect().await {
                Ok(channel) => {
                    return Ok(Client {
                        endpoint: endpoint.to_string(),
                        // Like etcd's clients, accept large answers (a range
                        // of every key can exceed tonic's 4 MiB default).
                        kv: KvClient::new(channel.clone())
                            .max_decoding_message_size(MAX_RESPONSE_BYTES),
                        maintenance: MaintenanceClient::new(channel.clone()),
                        cluster: ClusterClient::new(channel.clone()),
                        lease: LeaseClient::new(channel.clone()),
                        watch: WatchClient::new(channel),
                    });
                }
                Err(e) if start.elapsed() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(HarnessError::Connect {
                        endpoint: endpoint.to_string(),
                        waited: start.elapsed(),
                        last: format!("{e:?}"),
                    })
                }
            }
        }
    }

    /// The endpoint URL this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn rpc_error(&self, call: &'static str, status: tonic::Status) -> HarnessError {
        HarnessError::Rpc {
            call,
            endpoint: self.endpoint.clone(),
            status: Box::new(status),
        }
    }

    /// `KV.Put(key, value)`.
    pub async fn put(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<PutResponse> {
        let request = PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        };
        self.put_request(request).await
    }

    /// `KV.Put` with a full request.
    pub async fn put_request(&mut self, request: PutRequest) -> Result<PutResponse> {
        match self.kv.put(request).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.rpc_error("KV.Put", s)),
        }
    }

    /// Linearizable `KV.Range` of one key.
    pub async fn get(&mut self, key: impl Into<Vec<u8>>) -> Result<RangeResponse> {
        let request = RangeRequest {
            key: key.into(),
            ..Default::default()
        };
        self.range(request).await
    }

    /// `KV.Range` with a full request.
    pub async fn range(&mut self, request: RangeRequest) -> Result<RangeResponse> {
        match self.kv.range(request).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.rpc_error("KV.Range", s)),
        }
    }

    /// Every key in the store (`key = "\0"`, `range_end = "\0"`), serializable
    /// (answered from this member's own state) or linearizable.
    pub async fn get_all(&mut self, serializable: bool) -> Result<RangeResponse> {
        let request = RangeRequest {
            key: vec![0],
            range_end: vec![0],
            serializable,
            ..Default::default()
        };
        self.range(request).await
    }

    /// `KV.Txn`.
    pub async fn txn(&mut self, request: TxnRequest) -> Result<TxnResponse> {
        match self.kv.txn(request).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.rpc_error("KV.Txn", s)),
        }
    }

    /// `Maintenance.Status` of the member this client talks to.
    pub async fn status(&mut self) -> Result<StatusResponse> {
        match self.maintenance.status(StatusRequest {}).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.rpc_error("Maintenance.Status", s)),
        }
    }

    /// `Cluster.MemberList` (linearizable).
    pub async fn member_list(&mut self) -> Result<MemberListResponse> {
        let request = MemberListRequest { linearizable: true };
        match self.cluster.member_list(request).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.rpc_error("Cluster.MemberList", s)),
        }
    }

    /// Polls the linearizable member list until it holds exactly `count`
    /// members, every one started (named) and a voter; returns that list, or an
    /// error with the last list seen once `deadline` has passed. A failed call
    /// (no leader yet) counts as "not yet".
    pub async fn wait_for_started_voters(
        &mut self,
        count: usize,
        deadline: Duration,
    ) -> Result<Vec<Member>> {
        let start = Instant::now();
        loop {
            let last = match self.member_list().await {
                Ok(list) => {
                    let members = list.members;
                    if members.len() == count
                        && members.iter().all(|m| !m.name.is_empty() && !m.is_learner)
                    {
                        return Ok(members);
                    }
                    format!("{members:?}")
                }
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= deadline {
                return Err(HarnessError::Other(format!(
                    "{}: not {count} started voters after {deadline:?}; last member list: {last}",
                    self.endpoint
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
