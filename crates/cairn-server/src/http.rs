//! HTTP endpoints: `/health` (etcd's JSON), `/livez` and `/readyz` (see
//! `probes`), `/version`, and `/metrics` (Prometheus text, etcd's metric names
//! where they exist) on the client port, next to gRPC; all but `/version` on
//! `--listen-metrics-urls`, as etcd serves them there.

mod probes;

use std::collections::BTreeSet;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cairn_proto::etcdserverpb::{AlarmType, RangeRequest};

use crate::context::{ServerContext, CAIRN_VERSION, ETCD_CLUSTER_VERSION, ETCD_VERSION};

/// The routes of the client port.
pub fn routes(ctx: ServerContext) -> Router {
    metrics_routes(ctx).route("/version", get(version))
}

/// The routes of a `--listen-metrics-urls` listener.
pub fn metrics_routes(ctx: ServerContext) -> Router {
    probes::add_routes(Router::new())
        .route("/health", get(health))
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

/// What `/health?exclude=<ALARM>&serializable=true` asks for.
struct HealthQuery {
    /// Alarms (etcd's names: `NOSPACE`, `CORRUPT`) that do not make the
    /// member unhealthy; `exclude` may be given several times.
    excluded: BTreeSet<String>,
    /// Check this member alone (a local read, no leader needed) rather than
    /// the cluster: what liveness probes (kubeadm's) ask for.
    serializable: bool,
}

impl HealthQuery {
    fn parse(query: Option<&str>) -> HealthQuery {
        let mut q = HealthQuery {
            excluded: BTreeSet::new(),
            serializable: false,
        };
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "exclude" if !value.is_empty() => {
                    q.excluded.insert(value.into_owned());
                }
                "serializable" => q.serializable = value == "true",
                _ => {}
            }
        }
        q
    }
}

/// Healthy when no alarm is raised (other than the excluded ones), there is a
/// leader and a linearizable read succeeds, as etcd checks; with
/// `serializable=true`, when a local read succeeds.
async fn health(State(ctx): State<ServerContext>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let query = HealthQuery::parse(query.as_deref());
    let unhealthy = |reason: &str| {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"health": "false", "reason": reason}),
        )
    };
    let store = ctx.node.store();
    for (_, alarm) in store.alarms() {
        let name = AlarmType::try_from(alarm)
            .map(|a| a.as_str_name())
            .unwrap_or("UNKNOWN");
        if query.excluded.contains(name) {
            continue;
        }
        return unhealthy(match name {
            "NOSPACE" => "ALARM NOSPACE",
            "CORRUPT" => "ALARM CORRUPT",
            _ => "ALARM UNKNOWN",
        });
    }
    let read = if query.serializable {
        local_read(&ctx)
    } else {
        linearizable_read(&ctx).await
    };
    match read {
        Ok(()) => {}
        Err(ReadFailed::NoLeader) => return unhealthy("RAFT NO LEADER"),
        Err(ReadFailed::Error(_)) => return unhealthy("QGET ERROR"),
    }
    json(
        StatusCode::OK,
        serde_json::json!({"health": "true", "reason": ""}),
    )
}

/// Why a health check's read failed.
#[derive(Debug)]
enum ReadFailed {
    /// No leader is known: a linearizable read could only wait for its deadline.
    NoLeader,
    Error(String),
}

impl std::fmt::Display for ReadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailed::NoLeader => f.write_str("etcdserver: no leader"),
            ReadFailed::Error(e) => f.write_str(e),
        }
    }
}

/// A read of one key from this member's own store, as etcd's health checks
/// make it (keys only, limit 1).
fn local_read(ctx: &ServerContext) -> Result<(), ReadFailed> {
    let req = RangeRequest {
        key: b"health".to_vec(),
        keys_only: true,
        limit: 1,
        ..Default::default()
    };
    ctx.node
        .store()
        .range(&req)
        .map(|_| ())
        .map_err(|e| ReadFailed::Error(e.to_string()))
}

/// The same read made linearizable (ReadIndex): it needs a leader and a quorum.
async fn linearizable_read(ctx: &ServerContext) -> Result<(), ReadFailed> {
    if !ctx.node.has_leader() {
        return Err(ReadFailed::NoLeader);
    }
    ctx.linearizable_barrier()
        .await
        .map_err(|status| ReadFailed::Error(status.message().to_string()))?;
    local_read(ctx)
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

#[cfg(test)]
mod tests {
    use super::HealthQuery;

    #[test]
    fn health_query_as_etcd_reads_it() {
        let q = HealthQuery::parse(Some("exclude=NOSPACE&serializable=true"));
        assert!(q.serializable);
        assert_eq!(q.excluded.into_iter().collect::<Vec<_>>(), ["NOSPACE"]);
        let q = HealthQuery::parse(Some("exclude=NOSPACE&exclude=CORRUPT&exclude="));
        assert!(!q.serializable);
        assert_eq!(q.excluded.len(), 2);
        let q = HealthQuery::parse(Some("serializable=yes"));
        assert!(!q.serializable, "only \"true\" counts");
        let q = HealthQuery::parse(None);
        assert!(!q.serializable && q.excluded.is_empty());
    }
}
