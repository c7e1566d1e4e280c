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
    match unhealthy_because(&ctx, &query).await {
        None => {
            crate::metrics::HEALTH.success.inc();
            json(
                StatusCode::OK,
                serde_json::json!({"health": "true", "reason": ""}),
            )
        }
        Some(reason) => {
            crate::metrics::HEALTH.failures.inc();
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"health": "false", "reason": reason}),
            )
        }
    }
}

/// Why `/health` fails, in etcd's words; `None` when healthy.
async fn unhealthy_because(ctx: &ServerContext, query: &HealthQuery) -> Option<&'static str> {
    let store = ctx.node.store();
    for (_, alarm) in store.alarms() {
        let name = AlarmType::try_from(alarm)
            .map(|a| a.as_str_name())
            .unwrap_or("UNKNOWN");
        if query.excluded.contains(name) {
            continue;
        }
        return Some(match name {
            "NOSPACE" => "ALARM NOSPACE",
            "CORRUPT" => "ALARM CORRUPT",
            _ => "ALARM UNKNOWN",
        });
    }
    let read = if query.serializable {
        local_read(ctx)
    } else {
        linearizable_read(ctx).await
    };
    match read {
        Ok(()) => None,
        Err(ReadFailed::NoLeader) => Some("RAFT NO LEADER"),
        Err(ReadFailed::Error(_)) => Some("QGET ERROR"),
    }
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
    match crate::metrics::render(&ctx) {
        Ok(body) => (
            StatusCode::OK,
            [("content-type", crate::metrics::CONTENT_TYPE)],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain; charset=utf-8")],
            format!("cannot render metrics: {e}\n"),
        ),
    }
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
