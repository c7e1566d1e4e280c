//! The connection to the cluster and the RPCs cairnctl makes, with the
//! observable behaviour of etcd's Go client (clientv3) as etcdctl uses it:
//! endpoints are tried in order; an unreachable cluster makes a call wait
//! until the command's deadline and fail with `context deadline exceeded`;
//! every failed attempt logs the retry interceptor's warning; read-only
//! calls are retried (up to 100 attempts, 25 ms apart) on `Unavailable`.

use std::time::Duration;

use cairn_proto::etcdserverpb::{
    alarm_request, cluster_client::ClusterClient, kv_client::KvClient, lease_client::LeaseClient,
    maintenance_client::MaintenanceClient, watch_client::WatchClient, AlarmRequest, AlarmResponse,
    CompactionRequest, CompactionResponse, DefragmentRequest, DeleteRangeRequest,
    DeleteRangeResponse, HashKvRequest, HashKvResponse, LeaseGrantRequest, LeaseGrantResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, MemberAddRequest, MemberAddResponse,
    MemberListRequest, MemberListResponse, MemberPromoteRequest, MemberPromoteResponse,
    MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
    MoveLeaderRequest, PutRequest, PutResponse, RangeRequest, RangeResponse, SnapshotRequest,
    SnapshotResponse, StatusRequest, StatusResponse, TxnRequest, TxnResponse,
};
use tokio::time::Instant;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::error::{client_error_message, go_status_string, is_etcd_error};
use crate::golang::GoDuration;
use crate::insecure_tls::InsecureTlsConnector;
use crate::zaplog::{self, LogStyle};

/// How the Go client connects (from the global flags).
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    pub endpoints: Vec<String>,
    pub dial_timeout: GoDuration,
    pub keepalive_time: GoDuration,
    pub keepalive_timeout: GoDuration,
    /// TLS for endpoints that need it (`https://`, or schemeless ones when
    /// TLS flags were given).
    pub tls: Option<ClientTlsConfig>,
    /// `--insecure-skip-tls-verify`: TLS endpoints are reached through this
    /// connector, which does not verify the server certificate.
    pub insecure_tls: Option<InsecureTlsConnector>,
    pub log_style: LogStyle,
}

/// Why an RPC failed, as the Go client would report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// `err.Error()` of the Go client's error.
    pub message: String,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

const CONTEXT_DEADLINE_EXCEEDED: &str = "context deadline exceeded";
const MAX_ATTEMPTS: u64 = 100;
const RETRY_WAIT: Duration = Duration::from_millis(25);
/// grpc-go raises shorter keepalive intervals to this.
const MIN_KEEPALIVE: Duration = Duration::from_secs(10);

/// Whether a failed call may be retried (clientv3's retry policies).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Read-only calls: retried while the error is `Unavailable`.
    Repeatable,
    /// Mutations: never retried once sent.
    NonRepeatable,
}

/// The part of an endpoint after its scheme (gRPC's authority).
fn host_port(endpoint: &str) -> &str {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .trim_end_matches('/')
}

/// A cluster connection.
pub struct Client {
    settings: ConnectionSettings,
    /// Endpoints this client dials (all of them, or the one of a per-endpoint call).
    targets: Vec<String>,
    channel: Option<Channel>,
    /// Whether an RPC has succeeded on `channel` (until then a transport
    /// failure means the connection never worked, not a failed request).
    proven: bool,
    log_target: String,
}

/// Finds the innermost I/O error behind a transport error.
fn io_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}

/// Go's wording of a TLS handshake failure reported by rustls.
fn tls_failure(message: &str) -> Option<String> {
    if let Some(alert) = message.strip_prefix("received fatal alert: ") {
        let go = match alert {
            "BadCertificate" => "bad certificate",
            "UnknownCA" => "unknown certificate authority",
            "HandshakeFailure" => "handshake failure",
            "CertificateRequired" => "certificate required",
            "CertificateExpired" => "expired certificate",
            "CertificateUnknown" => "unknown certificate",
            "ProtocolVersion" => "protocol version not supported",
            other => other,
        };
        return Some(format!("remote error: tls: {go}"));
    }
    let cert = message.strip_prefix("invalid peer certificate: ")?;
    Some(match cert {
        "UnknownIssuer" => "x509: certificate signed by unknown authority".to_string(),
        "Expired" => "x509: certificate has expired or is not yet valid".to_string(),
        other => format!("x509: {other}"),
    })
}

/// grpc-go's description of a failed dial.
fn dial_error(addr: &str, err: &(dyn std::error::Error + 'static)) -> String {
    if let Some(handshake) = io_cause(err).and_then(|io| tls_failure(&io.to_string())) {
        return format!(
            "latest balancer error: last connection error: connection error: desc = \"transport: authentication handshake failed: {handshake}\""
        );
    }
    let what = match io_cause(err) {
        Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connect: connection refused".to_string()
        }
        Some(io) if io.kind() == std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        Some(io) => io.to_string(),
        None => err.to_string(),
    };
    format!(
        "latest balancer error: last connection error: connection error: desc = \"transport: Error while dialing dial tcp {addr}: {what}\""
    )
}

impl Client {
    pub fn new(settings: ConnectionSettings) -> Self {
        let first = settings.endpoints.first().cloned().unwrap_or_default();
        Client {
            targets: settings.endpoints.clone(),
            log_target: zaplog::dial_target(&first),
            settings,
            channel: None,
            proven: false,
        }
    }

    /// A client for one endpoint (what the Go client dials for per-endpoint
    /// maintenance calls); logs still name the parent's first endpoint.
    pub fn for_endpoint(&self, endpoint: &str) -> Client {
        Client {
            settings: self.settings.clone(),
            targets: vec![endpoint.to_string()],
            channel: None,
            proven: false,
            log_target: self.log_target.clone(),
        }
    }

    /// The endpoint for `target`, and the connector to use instead of tonic's
    /// own TLS when the server certificate must not be verified.
    fn endpoint(&self, target: &str) -> Result<(Endpoint, Option<InsecureTlsConnector>), String> {
        let secure = target.starts_with("https://")
            || (!target.starts_with("http://")
                && (self.settings.tls.is_some() || self.settings.insecure_tls.is_some()));
        let insecure = if secure {
            self.settings.insecure_tls.clone()
        } else {
            None
        };
        // With the insecure connector the channel speaks HTTP/2 over its TLS stream.
        let uri = format!(
            "{}://{}",
            if secure && insecure.is_none() {
                "https"
            } else {
                "http"
            },
            host_port(target)
        );
        let keepalive = self.settings.keepalive_time.to_std().max(MIN_KEEPALIVE);
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|e| e.to_string())?
            .http2_keep_alive_interval(keepalive)
            .keep_alive_timeout(self.settings.keepalive_timeout.to_std())
            .tcp_nodelay(true);
        if secure && insecure.is_none() {
            let tls = self.settings.tls.clone().unwrap_or_default();
            endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
        }
        Ok((endpoint, insecure))
    }

    /// Connects to the first reachable endpoint, trying until `deadline`.
    async fn connect(&mut self, deadline: Option<Instant>) -> Result<Channel, String> {
        if let Some(channel) = &self.channel {
            return Ok(channel.clone());
        }
        let mut last_error = String::from("no endpoints");
        loop {
            for target in self.targets.clone() {
                let (endpoint, insecure) = match self.endpoint(&target) {
                    Ok(e) => e,
                    Err(e) => {
                        last_error = e;
                        continue;
                    }
                };
                let attempt = async move {
                    match insecure {
                        Some(connector) => endpoint.connect_with_connector(connector).await,
                        None => endpoint.connect().await,
                    }
                };
                let result = match deadline {
                    Some(d) => match tokio::time::timeout_at(d, attempt).await {
                        Ok(r) => r,
                        Err(_) => return Err(last_error),
                    },
                    None => attempt.await,
                };
                match result {
                    Ok(channel) => {
                        self.channel = Some(channel.clone());
                        self.proven = false;
                        return Ok(channel);
                    }
                    Err(e) => last_error = dial_error(host_port(&target), &e),
                }
            }
            let pause = Instant::now() + Duration::from_millis(200);
            match deadline {
                Some(d) if d <= pause => {
                    tokio::time::sleep_until(d).await;
                    return Err(last_error);
                }
                _ => tokio::time::sleep_until(pause).await,
            }
        }
    }

    /// Runs one unary RPC with the Go client's retry and error semantics.
    async fn call<T, F, Fut>(
        &mut self,
        timeout: Option<GoDuration>,
        retry: Retry,
        mut rpc: F,
    ) -> Result<T, RpcError>
    where
        F: FnMut(Channel, Option<Duration>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = timeout.map(|t| Instant::now() + t.to_std());
        let deadline_error = |client: &Client, attempt: u64, desc: &str| {
            zaplog::retry_warning(
                &client.settings.log_style,
                &client.log_target,
                attempt,
                &go_status_string(tonic::Code::DeadlineExceeded, desc),
            );
            RpcError {
                message: CONTEXT_DEADLINE_EXCEEDED.to_string(),
            }
        };
        let mut attempt = 0;
        loop {
            if attempt > 0 {
                let wake = Instant::now() + RETRY_WAIT;
                if deadline.is_some_and(|d| d <= wake) {
                    if let Some(d) = deadline {
                        tokio::time::sleep_until(d).await;
                    }
                    return Err(RpcError {
                        message: CONTEXT_DEADLINE_EXCEEDED.to_string(),
                    });
                }
                tokio::time::sleep_until(wake).await;
            }
            let channel = match self.connect(deadline).await {
                Ok(c) => c,
                Err(desc) => return Err(deadline_error(self, attempt, &desc)),
            };
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let call = rpc(channel, remaining);
            let result = match deadline {
                Some(d) => match tokio::time::timeout_at(d, call).await {
                    Ok(r) => r,
                    Err(_) => return Err(deadline_error(self, attempt, CONTEXT_DEADLINE_EXCEEDED)),
                },
                None => call.await,
            };
            let status = match result {
                Ok(response) => {
                    self.proven = true;
                    return Ok(response.into_inner());
                }
                Err(status) => status,
            };
            if std::error::Error::source(&status).is_some() && !self.proven {
                // The connection was accepted but never carried a call (e.g.
                // a TLS server): like grpc-go, keep waiting for a usable one.
                self.channel = None;
                let desc = "latest balancer error: last connection error: connection closed";
                let wake = Instant::now() + Duration::from_millis(200);
                match deadline {
                    Some(d) if d <= wake => {
                        tokio::time::sleep_until(d).await;
                        return Err(deadline_error(self, attempt, desc));
                    }
                    _ => tokio::time::sleep_until(wake).await,
                }
                continue;
            }
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if matches!(
                status.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ) && expired
            {
                return Err(deadline_error(self, attempt, CONTEXT_DEADLINE_EXCEEDED));
            }
            zaplog::retry_warning(
                &self.settings.log_style,
                &self.log_target,
                attempt,
                &go_status_string(status.code(), status.message()),
            );
            if status.code() == tonic::Code::Unavailable && !is_etcd_error(status.message()) {
                // Probably a broken connection: dial again next time.
                self.channel = None;
            }
            let retryable = retry == Retry::Repeatable
                && status.code() == tonic::Code::Unavailable
                && attempt + 1 < MAX_ATTEMPTS;
            if !retryable {
                return Err(RpcError {
                    message: client_error_message(status.code(), status.message()),
                });
            }
            attempt += 1;
        }
    }

    pub async fn range(
        &mut self,
        timeout: GoDuration,
        req: RangeRequest,
    ) -> Result<RangeResponse, RpcError> {
        self.call(Some(timeout), Retry::Repeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { kv(ch).range(req).await }
        })
        .await
    }

    /// A read without a deadline (the Go client's background context).
    pub async fn range_unbounded(&mut self, req: RangeRequest) -> Result<RangeResponse, RpcError> {
        self.call(None, Retry::Repeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { kv(ch).range(req).await }
        })
        .await
    }

    /// A put without a deadline (the Go client's background context).
    pub async fn put_unbounded(&mut self, req: PutRequest) -> Result<PutResponse, RpcError> {
        self.call(None, Retry::NonRepeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { kv(ch).put(req).await }
        })
        .await
    }

    /// A delete without a deadline (the Go client's background context).
    pub async fn delete_unbounded(
        &mut self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, RpcError> {
        self.call(None, Retry::NonRepeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { kv(ch).delete_range(req).await }
        })
        .await
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    pub async fn put(
        &mut self,
        timeout: GoDuration,
        req: PutRequest,
    ) -> Result<PutResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { kv(ch).put(req).await }
        })
        .await
    }

    pub async fn delete_range(
        &mut self,
        timeout: GoDuration,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { kv(ch).delete_range(req).await }
        })
        .await
    }

    /// A transaction; like etcdctl, without a deadline.
    pub async fn txn(&mut self, req: TxnRequest) -> Result<TxnResponse, RpcError> {
        self.call(None, Retry::NonRepeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { kv(ch).txn(req).await }
        })
        .await
    }

    pub async fn compact(
        &mut self,
        timeout: GoDuration,
        req: CompactionRequest,
    ) -> Result<CompactionResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(req, t);
            async move { kv(ch).compact(req).await }
        })
        .await
    }

    pub async fn member_list(
        &mut self,
        timeout: GoDuration,
    ) -> Result<MemberListResponse, RpcError> {
        self.call(Some(timeout), Retry::Repeatable, |ch, t| {
            let req = request(MemberListRequest { linearizable: true }, t);
            async move { cluster(ch).member_list(req).await }
        })
        .await
    }

    pub async fn member_add(
        &mut self,
        timeout: GoDuration,
        req: MemberAddRequest,
    ) -> Result<MemberAddResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { cluster(ch).member_add(req).await }
        })
        .await
    }

    pub async fn member_remove(
        &mut self,
        timeout: GoDuration,
        id: u64,
    ) -> Result<MemberRemoveResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(MemberRemoveRequest { id }, t);
            async move { cluster(ch).member_remove(req).await }
        })
        .await
    }

    pub async fn member_update(
        &mut self,
        timeout: GoDuration,
        req: MemberUpdateRequest,
    ) -> Result<MemberUpdateResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(req.clone(), t);
            async move { cluster(ch).member_update(req).await }
        })
        .await
    }

    pub async fn member_promote(
        &mut self,
        timeout: GoDuration,
        id: u64,
    ) -> Result<MemberPromoteResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(MemberPromoteRequest { id }, t);
            async move { cluster(ch).member_promote(req).await }
        })
        .await
    }

    pub async fn alarm_list(&mut self, timeout: GoDuration) -> Result<AlarmResponse, RpcError> {
        self.call(Some(timeout), Retry::Repeatable, |ch, t| {
            let req = request(
                AlarmRequest {
                    action: alarm_request::AlarmAction::Get as i32,
                    member_id: 0,
                    alarm: 0,
                },
                t,
            );
            async move { maintenance(ch).alarm(req).await }
        })
        .await
    }

    pub async fn alarm_deactivate(
        &mut self,
        timeout: GoDuration,
        member_id: u64,
        alarm: i32,
    ) -> Result<AlarmResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(
                AlarmRequest {
                    action: alarm_request::AlarmAction::Deactivate as i32,
                    member_id,
                    alarm,
                },
                t,
            );
            async move { maintenance(ch).alarm(req).await }
        })
        .await
    }

    pub async fn defragment(&mut self, timeout: GoDuration) -> Result<(), RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(DefragmentRequest {}, t);
            async move { maintenance(ch).defragment(req).await }
        })
        .await
        .map(|_| ())
    }

    pub async fn move_leader(
        &mut self,
        timeout: GoDuration,
        target_id: u64,
    ) -> Result<(), RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(MoveLeaderRequest { target_id }, t);
            async move { maintenance(ch).move_leader(req).await }
        })
        .await
        .map(|_| ())
    }

    /// Cairn's `Recovery.Inspect` (answers without quorum).
    pub async fn inspect(
        &mut self,
        timeout: GoDuration,
    ) -> Result<cairn_proto::cairnpb::InspectResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(cairn_proto::cairnpb::InspectRequest {}, t);
            async move {
                cairn_proto::cairnpb::recovery_client::RecoveryClient::new(ch)
                    .inspect(req)
                    .await
            }
        })
        .await
    }

    /// Cairn's `Recovery.Reset`: the member restarts as a one-member cluster.
    pub async fn recovery_reset(
        &mut self,
        timeout: GoDuration,
        expected_cluster_id: u64,
        bump_revision: i64,
    ) -> Result<(), RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(
                cairn_proto::cairnpb::ResetRequest {
                    expected_cluster_id,
                    bump_revision,
                },
                t,
            );
            async move {
                cairn_proto::cairnpb::recovery_client::RecoveryClient::new(ch)
                    .reset(req)
                    .await
            }
        })
        .await
        .map(|_| ())
    }

    /// Cairn's `Recovery.Rejoin`: the member moves its data aside and joins `join_url`.
    pub async fn recovery_rejoin(
        &mut self,
        timeout: GoDuration,
        expected_cluster_id: u64,
        join_url: String,
    ) -> Result<String, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(
                cairn_proto::cairnpb::RejoinRequest {
                    expected_cluster_id,
                    join_url: join_url.clone(),
                },
                t,
            );
            async move {
                cairn_proto::cairnpb::recovery_client::RecoveryClient::new(ch)
                    .rejoin(req)
                    .await
            }
        })
        .await
        .map(|r| r.moved_to)
    }

    /// Cairn's `Settings.Get`.
    pub async fn settings_get(
        &mut self,
        timeout: GoDuration,
    ) -> Result<cairn_proto::cairnpb::ClusterSettings, RpcError> {
        self.call(Some(timeout), Retry::Repeatable, |ch, t| {
            let req = request(cairn_proto::cairnpb::SettingsGetRequest {}, t);
            async move {
                cairn_proto::cairnpb::settings_client::SettingsClient::new(ch)
                    .get(req)
                    .await
            }
        })
        .await
    }

    /// Cairn's `Settings.Set`: replaces the cluster settings through Raft.
    pub async fn settings_set(
        &mut self,
        timeout: GoDuration,
        settings: cairn_proto::cairnpb::ClusterSettings,
    ) -> Result<cairn_proto::cairnpb::ClusterSettings, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(settings, t);
            async move {
                cairn_proto::cairnpb::settings_client::SettingsClient::new(ch)
                    .set(req)
                    .await
            }
        })
        .await
    }

    /// Opens `Maintenance.Snapshot` (no deadline: a large snapshot takes its time).
    pub async fn snapshot(&mut self) -> Result<tonic::Streaming<SnapshotResponse>, RpcError> {
        self.call(None, Retry::NonRepeatable, |ch, _| async move {
            maintenance(ch).snapshot(SnapshotRequest {}).await
        })
        .await
    }

    pub async fn status(&mut self, timeout: GoDuration) -> Result<StatusResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(StatusRequest {}, t);
            async move { maintenance(ch).status(req).await }
        })
        .await
    }

    pub async fn hash_kv(
        &mut self,
        timeout: GoDuration,
        revision: i64,
    ) -> Result<HashKvResponse, RpcError> {
        self.call(Some(timeout), Retry::NonRepeatable, |ch, t| {
            let req = request(HashKvRequest { revision }, t);
            async move { maintenance(ch).hash_kv(req).await }
        })
        .await
    }

    pub async fn lease_grant(
        &mut self,
        timeout: Option<GoDuration>,
        ttl: i64,
    ) -> Result<LeaseGrantResponse, RpcError> {
        self.call(timeout, Retry::Repeatable, |ch, t| {
            let req = request(LeaseGrantRequest { ttl, id: 0 }, t);
            async move { lease(ch).lease_grant(req).await }
        })
        .await
    }

    pub async fn lease_revoke(
        &mut self,
        timeout: Option<GoDuration>,
        id: i64,
    ) -> Result<LeaseRevokeResponse, RpcError> {
        self.call(timeout, Retry::Repeatable, |ch, t| {
            let req = request(LeaseRevokeRequest { id }, t);
            async move { lease(ch).lease_revoke(req).await }
        })
        .await
    }

    /// `LeaseTimeToLive`; like etcdctl, without a deadline.
    pub async fn lease_time_to_live(
        &mut self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, RpcError> {
        self.call(None, Retry::Repeatable, |ch, t| {
            let req = request(LeaseTimeToLiveRequest { id, keys }, t);
            async move { lease(ch).lease_time_to_live(req).await }
        })
        .await
    }

    /// `LeaseLeases`; like etcdctl, without a deadline.
    pub async fn lease_leases(&mut self) -> Result<LeaseLeasesResponse, RpcError> {
        self.call(None, Retry::Repeatable, |ch, t| {
            let req = request(LeaseLeasesRequest {}, t);
            async move { lease(ch).lease_leases(req).await }
        })
        .await
    }

    /// The connection for streaming RPCs (watch, lease keep-alive), waiting
    /// as long as it takes for an endpoint to answer, as the Go client's
    /// streams do.
    pub async fn channel(&mut self) -> Result<Channel, RpcError> {
        self.connect(None)
            .await
            .map_err(|message| RpcError { message })
    }

    /// Marks the connection as broken so that the next call dials again.
    pub fn reset(&mut self) {
        self.channel = None;
    }
}

/// A Lease service client on `channel`.
pub fn lease(channel: Channel) -> LeaseClient<Channel> {
    LeaseClient::new(channel).max_decoding_message_size(usize::MAX)
}

/// A Watch service client on `channel`.
pub fn watch(channel: Channel) -> WatchClient<Channel> {
    WatchClient::new(channel).max_decoding_message_size(usize::MAX)
}

fn request<T>(message: T, timeout: Option<Duration>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(t) = timeout {
        req.set_timeout(t);
    }
    req
}

fn kv(channel: Channel) -> KvClient<Channel> {
    // etcd's client accepts responses of any size and sends up to 2 MiB.
    KvClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(2 * 1024 * 1024)
}

fn cluster(channel: Channel) -> ClusterClient<Channel> {
    ClusterClient::new(channel).max_decoding_message_size(usize::MAX)
}

fn maintenance(channel: Channel) -> MaintenanceClient<Channel> {
    MaintenanceClient::new(channel).max_decoding_message_size(usize::MAX)
}
