//! HTTP endpoints on the client port, next to gRPC: `/health` (etcd's JSON),
//! `/version`, and `/metrics` (Prometheus text, etcd's metric names where they exist).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cairn_proto::etcdserverpb::RangeRequest;

use crate::context::{ServerContext, CAIRN_VERSION, ETCD_CLUSTER_VERSION, ETCD_VERSION};

pub fn routes(ctx: ServerContext) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .with_state(ctx)
}

fn json(status: StatusCode, body: serde_json::Value) -> impl IntoResponse {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
}

/// Healthy when there is a leader and a linearizable read succeeds (as etcd checks).
async fn health(State(ctx): State<ServerContext>) -> impl IntoResponse {
    let unhealthy = |reason: &str| {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"health": "false", "reason": reason}),
        )
    };
    if !ctx.node.has_leader() {
        return unhealthy("RAFT NO LEADER");
    }
    if ctx.linearizable_barrier().await.is_err() {
        return unhealthy("QGET ERROR");
    }
    let req = RangeRequest {
        key: b"health".to_vec(),
        ..Default::default()
    };
    if ctx.node.store().range(&req).is_err() {
        return unhealthy("QGET ERROR");
    }
    json(
        StatusCode::OK,
        serde_json::json!({"health": "true", "reason": ""}),
    )
}

async fn version() -> impl IntoResponse {
    json(
        StatusCode::OK,
        serde_json::json!({"etcdserver": ETCD_VERSION, "etcdcluster": ETCD_CLUSTER_VERSION, "cairn": CAIRN_VERSION}),
    )
}

async fn metrics(State(ctx): State<ServerContext>) -> impl IntoResponse {
    let s = ctx.node.status();
    let store = ctx.node.store();
    let body = format!(
        "# TYPE etcd_server_has_leader gauge\netcd_server_has_leader {}\n\
         # TYPE etcd_server_is_leader gauge\netcd_server_is_leader {}\n\
         # TYPE etcd_server_proposals_committed_total gauge\netcd_server_proposals_committed_total {}\n\
         # TYPE etcd_server_proposals_applied_total gauge\netcd_server_proposals_applied_total {}\n\
         # TYPE etcd_mvcc_db_total_size_in_bytes gauge\netcd_mvcc_db_total_size_in_bytes {}\n\
         # TYPE etcd_debugging_mvcc_current_revision gauge\netcd_debugging_mvcc_current_revision {}\n\
         # TYPE etcd_debugging_mvcc_compact_revision gauge\netcd_debugging_mvcc_compact_revision {}\n",
        u8::from(s.leader.is_some()),
        u8::from(s.leader == Some(ctx.node.member_id())),
        s.commit_index,
        s.applied_index,
        store.db_size(),
        store.current_revision(),
        store.compact_revision(),
    );
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        body,
    )
}
