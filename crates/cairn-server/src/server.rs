//! The member's lifecycle: start Raft, serve the peer port, publish this member's
//! attributes through Raft, then serve clients (gRPC + HTTP on the client port),
//! printing etcd's lifecycle lines at the same moments (a member that cannot
//! publish serves only the recovery service, see start_gate.rs); stop cleanly
//! on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::recovery_server::RecoveryServer;
use cairn_proto::cairnpb::settings_server::SettingsServer;
use cairn_proto::cairnpb::{InternalRequest, MemberAttributes};
use cairn_proto::etcdserverpb::auth_server::AuthServer;
use cairn_proto::etcdserverpb::cluster_server::ClusterServer;
use cairn_proto::etcdserverpb::kv_server::KvServer;
use cairn_proto::etcdserverpb::lease_server::LeaseServer;
use cairn_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use cairn_proto::etcdserverpb::watch_server::WatchServer;
use cairn_proto::grpc_health_v1::health_server::HealthServer;
use cairn_raft::{
    serve_peer_port, NodeConfig, NodeError, PeerClientTls, PeerPortTls, RaftNode, MEMBER_REMOVED,
};
use tokio::net::TcpListener;
use url::Url;

use crate::config::{url_string, ServerConfig};
use crate::context::{ServerContext, CAIRN_VERSION, ETCD_VERSION};
use crate::restart::{PendingAction, RestartSignal};
use crate::services::health::HealthService;
use crate::services::{
    auth::AuthService, cluster::ClusterService, kv::KvService, maintenance::MaintenanceService,
};

/// gRPC headroom over --max-request-bytes, as etcd allows.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;
/// Responses may be far larger than requests (etcd allows up to 2 GiB).
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

async fn bind(url: &Url) -> Result<Vec<TcpListener>> {
    if url.scheme() != "http" && url.scheme() != "https" {
        bail!("{url}: only http:// and https:// URLs are supported (unix sockets are not)");
    }
    let host = url.host_str().context("URL has no host")?;
    let port = url.port().context("URL has no port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if host == "localhost" {
        vec![SocketAddr::from(([127, 0, 0, 1], port))]
    } else {
        tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {url}"))?
            .collect()
    };
    let mut out = Vec::new();
    for addr in addrs {
        out.push(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen tcp {addr}: address in use or not available"))?,
        );
    }
    Ok(out)
}

/// How a run ended.
pub enum RunEnd {
    /// Stopped for good (signal, or removed from the cluster).
    Stopped,
    /// A recovery action needs a fresh start of the same binary and flags.
    Restart,
}

pub async fn run(mut cfg: ServerConfig) -> Result<RunEnd> {
    tracing::info!(
        "starting cairn {CAIRN_VERSION} (etcd {ETCD_VERSION} compatible) name={} data-dir={}",
        cfg.name,
        cfg.data_dir.display()
    );
    for flag in &cfg.ignored_flags {
        tracing::warn!("flag --{flag} is accepted for etcd compatibility but not implemented by Cairn yet; ignoring it");
    }

    crate::auto_tls::apply(&mut cfg)?;
    let client_https = cfg
        .listen_client_urls
        .iter()
        .chain(&cfg.listen_metrics_urls)
        .any(|u| u.scheme() == "https");
    let peer_https = cfg.listen_peer_urls.iter().any(|u| u.scheme() == "https")
        || cfg
            .initial_advertise_peer_urls
            .iter()
            .any(|u| u.scheme() == "https");
    cfg.client_tls.check("client", "", client_https)?;
    cfg.peer_tls.check("peer", "peer-", peer_https)?;
    let peer_client_tls = if cfg.peer_tls.is_set() {
        Some(PeerClientTls {
            config: cfg.peer_tls.rustls_client_config()?,
        })
    } else {
        None
    };

    // Peer listeners first: Raft needs them before anything else can happen.
    let mut peer_listeners = Vec::new();
    for url in &cfg.listen_peer_urls {
        peer_listeners.extend(bind(url).await.context("cannot listen on peer URL")?);
    }
    // A recovery action recorded before the last stop goes first.
    let pending = crate::restart::read_pending(&cfg.data_dir)?;
    match &pending {
        Some(PendingAction::Reset { bump_revision }) => {
            let identity = cairn_raft::bootstrap::force_new_cluster(
                &cfg.data_dir,
                Some(*bump_revision).filter(|b| *b > 0),
            )
            .context("recovery: reset to a one-member cluster")?;
            crate::restart::clear_pending(&cfg.data_dir)?;
            tracing::warn!(
                "recovery: member {:x} now forms the one-member cluster {:x}",
                identity.member_id,
                identity.cluster_id
            );
        }
        Some(PendingAction::Rejoin { join_url, moved_to }) => {
            let member = cfg.data_dir.join("member");
            if member.exists() {
                std::fs::rename(&member, moved_to)
                    .with_context(|| format!("recovery: moving {} aside", member.display()))?;
                tracing::warn!(
                    "recovery: moved the old data to {moved_to}; rejoining through {join_url}"
                );
            }
            cfg.join = Some(join_url.clone());
        }
        None => {}
    }
    // Like etcd, the initial corruption check is only for a member that had
    // data before this start (not a new one, nor one rejoining from scratch).
    let member_initialized = cairn_raft::datadir::DataDir::new(&cfg.data_dir)
        .identity_path()
        .exists();
    if let Some(url) = cfg.join.clone() {
        if member_initialized {
            tracing::info!("--join {url}: this member already has data; restarting it");
        } else {
            crate::join::join(&mut cfg, &url).await?;
        }
    }
    if cfg.force_new_cluster {
        let identity = cairn_raft::bootstrap::force_new_cluster(&cfg.data_dir, None)
            .context("--force-new-cluster")?;
        tracing::warn!(
            "force-new-cluster: member {:x} now forms the one-member cluster {:x}; start it without --force-new-cluster from now on",
            identity.member_id,
            identity.cluster_id
        );
    }
    let node = RaftNode::start(NodeConfig {
        name: cfg.name.clone(),
        data_dir: cfg.data_dir.clone(),
        initial_cluster: cfg.initial_cluster.clone(),
        initial_advertise_peer_urls: cfg
            .initial_advertise_peer_urls
            .iter()
            .map(url_string)
            .collect(),
        initial_cluster_state_new: cfg.initial_cluster_state_new,
        initial_cluster_token: cfg.initial_cluster_token.clone(),
        heartbeat_interval_ms: cfg.heartbeat_interval_ms,
        election_timeout_ms: cfg.election_timeout_ms,
        snapshot_count: cfg.snapshot_count,
        request_timeout: cfg.request_timeout(),
        peer_tls: peer_client_tls,
        lease_checkpoint_interval: cfg.lease_checkpoint_interval,
    })
    .await;
    let node = match node {
        Err(NodeError::Removed(id)) => {
            log_removed(id);
            return Ok(RunEnd::Stopped);
        }
        other => other.context("cannot start member")?,
    };
    if matches!(pending, Some(PendingAction::Rejoin { .. })) {
        crate::restart::clear_pending(&cfg.data_dir)?;
    }
    let restart = RestartSignal::default();
    tracing::info!(
        "starting member {:x} in cluster {:x}",
        node.member_id(),
        node.cluster_id()
    );
    for listener in peer_listeners {
        tracing::info!("serving peer traffic on {}", listener.local_addr()?);
        let tls = if peer_https {
            Some(PeerPortTls {
                config: cfg
                    .peer_tls
                    .rustls_server_config(&[b"h2"])
                    .context("peer TLS")?,
                // etcd's peer listener checks that a member's certificate
                // names the address it connects from.
                client_check: (!cfg.peer_skip_client_san_verification)
                    .then(crate::peer_client_san::check),
            })
        } else {
            None
        };
        serve_peer_port(listener, node.clone(), tls);
    }

    if cfg.initial_corrupt_check && member_initialized {
        if let Err(e) = crate::corruption_check::initial_check(&node, cfg.request_timeout()).await {
            tracing::error!("checkInitialHashKV failed: {e:#}");
            node.shutdown().await;
            return Err(e);
        }
    }

    let ctx = ServerContext {
        node: node.clone(),
        max_request_bytes: cfg.max_request_bytes,
        max_txn_ops: cfg.max_txn_ops,
        quota_backend_bytes: cfg.quota_backend_bytes,
        election_timeout: Duration::from_millis(cfg.election_timeout_ms),
        unsafe_stale_reads: cfg.unsafe_stale_reads,
    };
    if cfg.unsafe_stale_reads {
        tracing::warn!(
            "--unsafe-stale-reads: linearizable reads are served WITHOUT ReadIndex (tests only)"
        );
    }
    let mut client_listeners = Vec::new();
    for url in &cfg.listen_client_urls {
        let secure = url.scheme() == "https";
        for l in bind(url).await.context("cannot listen on client URL")? {
            client_listeners.push((l, secure));
        }
    }

    if cfg.metrics_extensive {
        crate::grpc_metrics::time_calls();
    }
    // `/health` and `/metrics` on the metrics URLs from now on, as etcd
    // serves them (https ones with the client TLS flags).
    let mut metrics_listeners = Vec::new();
    for url in &cfg.listen_metrics_urls {
        let secure = url.scheme() == "https";
        for l in bind(url).await.context("cannot listen on metrics URL")? {
            metrics_listeners.push((l, secure));
        }
    }
    for (addr, _) in serve_http(
        metrics_listeners,
        &crate::http::metrics_routes(ctx.clone()),
        &cfg,
    )? {
        tracing::info!("serving metrics on {addr}");
    }

    // Until this member publishes itself, only the recovery service answers
    // (start_gate.rs).
    let gate = crate::start_gate::StartGate::default();

    let max_recv = (cfg.max_request_bytes as usize).saturating_add(GRPC_OVERHEAD_BYTES);
    let app = tonic::service::Routes::new(
        KvServer::new(KvService::new(ctx.clone()))
            .max_decoding_message_size(max_recv)
            .max_encoding_message_size(MAX_RESPONSE_BYTES),
    )
    .add_service(
        ClusterServer::new(ClusterService::new(ctx.clone()))
            .max_decoding_message_size(max_recv)
            .max_encoding_message_size(MAX_RESPONSE_BYTES),
    )
    .add_service(
        MaintenanceServer::new(MaintenanceService::new(ctx.clone()))
            .max_decoding_message_size(max_recv)
            .max_encoding_message_size(MAX_RESPONSE_BYTES),
    )
    .add_service(HealthServer::new(HealthService::new(ctx.clone())))
    .add_service(RecoveryServer::new(
        crate::services::recovery::RecoveryService::new(
            ctx.clone(),
            cfg.data_dir.clone(),
            restart.clone(),
        ),
    ))
    .add_service(
        WatchServer::new(crate::services::watch::WatchService::new(
            ctx.clone(),
            cfg.watch_progress_notify_interval,
        ))
        .max_decoding_message_size(max_recv)
        .max_encoding_message_size(MAX_RESPONSE_BYTES),
    )
    .add_service(
        LeaseServer::new(crate::services::lease::LeaseService::new(
            ctx.clone(),
            cfg.heartbeat_interval_ms,
            cfg.election_timeout_ms,
        ))
        .max_decoding_message_size(max_recv)
        .max_encoding_message_size(MAX_RESPONSE_BYTES),
    )
    .add_service(SettingsServer::new(
        crate::services::settings::SettingsService::new(ctx.clone()),
    ))
    .add_service(AuthServer::new(AuthService::new(ctx.clone())))
    .into_axum_router()
    .layer(crate::grpc_metrics::GrpcMetricsLayer)
    .merge(crate::http::routes(ctx.clone()));
    // Served only by a member that opens its port before publishing (below);
    // a member that published first serves `app` without the gate's
    // per-request middleware.
    let gated = app.clone().layer(axum::middleware::from_fn_with_state(
        gate.clone(),
        crate::start_gate::until_published,
    ));

    // Like etcd, the client port is bound now but served only once this member
    // has published itself. A member that cannot publish (no quorum) serves it
    // after `request_timeout` anyway, gated to the recovery service, so that
    // `cairnctl recover` can reach it. Normal starts never open the gate early:
    // clients of a starting member see etcd's behaviour, not `Unavailable`.
    let mut unserved = Some(client_listeners);
    let mut serving = Vec::new();
    {
        let publishing = publish(&ctx, &cfg);
        tokio::pin!(publishing);
        let grace = tokio::time::sleep(cfg.request_timeout());
        tokio::pin!(grace);
        loop {
            tokio::select! {
                r = &mut publishing => {
                    r?;
                    break;
                }
                _ = &mut grace, if unserved.is_some() => {
                    tracing::warn!(
                        "not joined to the cluster after {:?} (no quorum?): serving only the recovery service on the client port until it does",
                        cfg.request_timeout()
                    );
                    if let Some(listeners) = unserved.take() {
                        serving = serve_clients(listeners, &gated, &cfg)?;
                    }
                }
                _ = shutdown_signal() => {
                    node.shutdown().await;
                    return Ok(RunEnd::Stopped);
                }
                reason = node.stopped() => {
                    node.shutdown().await;
                    return stopped_on_its_own(&node, reason);
                }
                _ = restart.requested() => {
                    tracing::warn!("recovery: stopping to restart");
                    node.shutdown().await;
                    return Ok(RunEnd::Restart);
                }
            }
        }
    }
    gate.open();
    if let Some(listeners) = unserved.take() {
        serving = serve_clients(listeners, &app, &cfg)?;
    }
    tracing::info!("enabled capabilities for version {}", &ETCD_VERSION[..3]);
    for line in serving {
        tracing::info!("{line}");
    }

    tracing::info!("ready to serve client requests");
    // Runs on every member; only the leader's compacts.
    let compactor = cfg
        .auto_compaction
        .map(|policy| tokio::spawn(crate::auto_compaction::run(ctx.clone(), policy)));
    // Runs on every member; only the leader's checks.
    let corruption_checker = cfg.corrupt_check_time.map(|interval| {
        tokio::spawn(crate::corruption_check::run_periodic(
            ctx.clone(),
            interval,
            cfg.request_timeout(),
        ))
    });

    let end = tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("received signal; shutting down");
            node.shutdown().await;
            Ok(RunEnd::Stopped)
        }
        reason = node.stopped() => {
            node.shutdown().await;
            stopped_on_its_own(&node, reason)
        }
        _ = restart.requested() => {
            tracing::warn!("recovery: stopping to restart");
            node.shutdown().await;
            Ok(RunEnd::Restart)
        }
    };
    for task in compactor.into_iter().chain(corruption_checker) {
        task.abort();
    }
    end
}

/// Serves `app` on every client listener; returns etcd's "serving ..." lines
/// to log once ready.
fn serve_clients(
    listeners: Vec<(TcpListener, bool)>,
    app: &axum::Router,
    cfg: &ServerConfig,
) -> Result<Vec<String>> {
    Ok(serve_http(listeners, app, cfg)?
        .into_iter()
        .map(|(addr, secure)| {
            if secure {
                format!("serving client traffic securely on {addr}")
            } else {
                format!("serving insecure client requests on {addr}, this is strongly discouraged!")
            }
        })
        .collect())
}

/// Serves `app` on every listener: TLS ones (with the client TLS flags)
/// through tonic, plain ones through axum. Returns each address and whether
/// it is TLS.
fn serve_http(
    listeners: Vec<(TcpListener, bool)>,
    app: &axum::Router,
    cfg: &ServerConfig,
) -> Result<Vec<(std::net::SocketAddr, bool)>> {
    let mut serving = Vec::new();
    for (listener, secure) in listeners {
        let addr = listener.local_addr()?;
        let app = app.clone();
        if secure {
            // gRPC and the HTTP endpoints (/health, ...) over TLS on one port.
            let tls = cfg
                .client_tls
                .rustls_server_config(&[b"h2", b"http/1.1"])
                .context("client TLS")?;
            let incoming = crate::tls_incoming::incoming(listener, tls);
            tokio::spawn(async move {
                if let Err(e) = tonic::transport::Server::builder()
                    .accept_http1(true)
                    .add_routes(tonic::service::Routes::from(app))
                    .serve_with_incoming(incoming)
                    .await
                {
                    tracing::error!("server on {addr} stopped: {e}");
                }
            });
        } else {
            tokio::spawn(async move {
                use axum::serve::ListenerExt;
                let listener = listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::warn!("TCP_NODELAY on a connection: {e}");
                    }
                });
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("server on {addr} stopped: {e}");
                }
            });
        }
        serving.push((addr, secure));
    }
    Ok(serving)
}

/// etcd's words when a member learns it was removed; etcd then exits with
/// status 0 (so a supervisor restarting on failure leaves it stopped).
fn log_removed(id: u64) {
    tracing::warn!(member = format!("{id:x}"), "server error: {MEMBER_REMOVED}");
    tracing::warn!("data-dir used by this member must be removed");
    eprintln!("cairn: {MEMBER_REMOVED}; the data dir of this member must be removed before it can rejoin (member add, then start with an empty data dir)");
}

/// The member stopped itself: removed from the cluster (exit 0, as etcd) or
/// another reason (an error).
fn stopped_on_its_own(node: &RaftNode, reason: String) -> Result<RunEnd> {
    if reason == MEMBER_REMOVED {
        log_removed(node.member_id());
        return Ok(RunEnd::Stopped);
    }
    bail!("{reason}")
}

/// Publishes this member's name and client URLs through Raft (etcd's publish),
/// retrying until it commits.
async fn publish(ctx: &ServerContext, cfg: &ServerConfig) -> Result<()> {
    let client_urls: Vec<String> = cfg.advertise_client_urls.iter().map(url_string).collect();
    let req = InternalRequest {
        proposal_id: 0,
        request: Some(Cmd::MemberAttributes(MemberAttributes {
            member_id: ctx.node.member_id(),
            name: cfg.name.clone(),
            client_urls: client_urls.clone(),
        })),
    };
    loop {
        match ctx.node.propose(req.clone()).await {
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(
                    "failed to publish local member to cluster through raft: {e}; retrying"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    tracing::info!(
        "published {{Name:{} ClientURLs:[{}]}} to cluster {:x}",
        cfg.name,
        client_urls.join(" "),
        ctx.node.cluster_id()
    );
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install SIGTERM handler: {e}");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
