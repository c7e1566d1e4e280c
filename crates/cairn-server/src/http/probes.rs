//! `/livez` and `/readyz`, the probes etcd 3.5.11 added and kubeadm 1.31 and
//! later point its etcd static pod at (liveness on `/livez`, startup and
//! readiness on `/readyz`). Each runs named checks and answers in plain text,
//! as Kubernetes' own probes do: `ok` with 200, or one `[+]name ok` /
//! `[-]name failed: reason` line per check with 503. `?verbose` lists the
//! checks on success too, `?exclude=<name>` (repeatable) skips one, and
//! `/livez/<name>` or `/readyz/<name>` runs one alone.
//!
//! `/livez` asks only whether this member can read its own store, so a
//! member that lost its quorum stays alive (restarting it would not bring the
//! quorum back). `/readyz` also asks for a linearizable read (a leader and a
//! quorum), no CORRUPT alarm, and that the member is not a learner.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cairn_proto::etcdserverpb::AlarmType;

use super::{linearizable_read, local_read};
use crate::context::ServerContext;

/// One named check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    DataCorruption,
    SerializableRead,
    LinearizableRead,
    NonLearner,
}

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::DataCorruption => "data_corruption",
            Check::SerializableRead => "serializable_read",
            Check::LinearizableRead => "linearizable_read",
            Check::NonLearner => "non_learner",
        }
    }
}

const LIVEZ: &[Check] = &[Check::SerializableRead];

const READYZ: &[Check] = &[
    Check::DataCorruption,
    Check::SerializableRead,
    Check::LinearizableRead,
    Check::NonLearner,
];

/// Adds both probes, and a path per check, to `router`.
pub fn add_routes(router: Router<ServerContext>) -> Router<ServerContext> {
    router
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/livez/{check}", get(livez_one))
        .route("/readyz/{check}", get(readyz_one))
}

async fn livez(ctx: State<ServerContext>, query: RawQuery) -> Response {
    probe(&ctx, LIVEZ, query.0.as_deref()).await
}

async fn readyz(ctx: State<ServerContext>, query: RawQuery) -> Response {
    probe(&ctx, READYZ, query.0.as_deref()).await
}

async fn livez_one(ctx: State<ServerContext>, name: Path<String>, query: RawQuery) -> Response {
    probe_one(&ctx, LIVEZ, &name, query.0.as_deref()).await
}

async fn readyz_one(ctx: State<ServerContext>, name: Path<String>, query: RawQuery) -> Response {
    probe_one(&ctx, READYZ, &name, query.0.as_deref()).await
}

/// What a probe's query asks for.
#[derive(Debug, Default, PartialEq)]
struct ProbeQuery {
    verbose: bool,
    excluded: Vec<String>,
}

impl ProbeQuery {
    fn parse(query: Option<&str>) -> ProbeQuery {
        let mut q = ProbeQuery::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "verbose" => q.verbose = true,
                "exclude" if !value.is_empty() => q.excluded.push(value.into_owned()),
                _ => {}
            }
        }
        q
    }
}

async fn probe(ctx: &ServerContext, checks: &[Check], query: Option<&str>) -> Response {
    let query = ProbeQuery::parse(query);
    let unknown: Vec<&str> = query
        .excluded
        .iter()
        .map(String::as_str)
        .filter(|name| !checks.iter().any(|c| c.name() == *name))
        .collect();
    if !unknown.is_empty() {
        // etcd logs this and answers anyway, for compatibility across versions.
        tracing::warn!(?unknown, "some health checks cannot be excluded");
    }
    let chosen: Vec<Check> = checks
        .iter()
        .copied()
        .filter(|c| !query.excluded.iter().any(|name| name == c.name()))
        .collect();
    answer(run(ctx, &chosen).await, query.verbose)
}

async fn probe_one(
    ctx: &ServerContext,
    checks: &[Check],
    name: &str,
    query: Option<&str>,
) -> Response {
    let Some(check) = checks.iter().copied().find(|c| c.name() == name) else {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    };
    answer(run(ctx, &[check]).await, ProbeQuery::parse(query).verbose)
}

/// Each check's outcome, in the order given.
async fn run(ctx: &ServerContext, checks: &[Check]) -> Vec<(Check, Result<(), String>)> {
    let mut outcomes = Vec::with_capacity(checks.len());
    for &check in checks {
        outcomes.push((check, run_one(ctx, check).await));
    }
    outcomes
}

async fn run_one(ctx: &ServerContext, check: Check) -> Result<(), String> {
    match check {
        Check::DataCorruption => {
            let corrupt = ctx
                .node
                .store()
                .alarms()
                .into_iter()
                .any(|(_, alarm)| alarm == AlarmType::Corrupt as i32);
            if corrupt {
                Err("alarm activated: CORRUPT".into())
            } else {
                Ok(())
            }
        }
        Check::SerializableRead => local_read(ctx).map_err(|e| e.to_string()),
        Check::LinearizableRead => linearizable_read(ctx).await.map_err(|e| e.to_string()),
        Check::NonLearner => {
            if ctx.node.is_learner() {
                Err("not supported for learner".into())
            } else {
                Ok(())
            }
        }
    }
}

/// The answer to a probe: 200 and `ok` when every check passed (the list
/// first when `verbose`), else 503 and the list.
fn answer(outcomes: Vec<(Check, Result<(), String>)>, verbose: bool) -> Response {
    let mut list = String::new();
    for (check, outcome) in &outcomes {
        match outcome {
            Ok(()) => list.push_str(&format!("[+]{} ok\n", check.name())),
            Err(reason) => list.push_str(&format!("[-]{} failed: {reason}\n", check.name())),
        }
    }
    let failed = outcomes.iter().any(|(_, outcome)| outcome.is_err());
    let (status, body) = if failed {
        (StatusCode::SERVICE_UNAVAILABLE, format!("{list}\n"))
    } else if verbose {
        (StatusCode::OK, format!("{list}ok\n"))
    } else {
        (StatusCode::OK, "ok\n".to_string())
    };
    (
        status,
        [
            ("content-type", "text/plain; charset=utf-8"),
            ("x-content-type-options", "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::{answer, Check, ProbeQuery};

    #[test]
    fn probe_queries_as_etcd_reads_them() {
        assert_eq!(ProbeQuery::parse(None), ProbeQuery::default());
        let q = ProbeQuery::parse(Some("verbose&exclude=linearizable_read&exclude=&exclude=x"));
        assert!(q.verbose);
        assert_eq!(q.excluded, ["linearizable_read", "x"]);
    }

    async fn body(outcomes: Vec<(Check, Result<(), String>)>, verbose: bool) -> (u16, String) {
        let response = answer(outcomes, verbose);
        let status = response.status().as_u16();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.expect("body");
        (status, String::from_utf8(bytes.to_vec()).expect("text"))
    }

    #[tokio::test]
    async fn answers_in_kubernetes_probe_text() {
        let passed = || vec![(Check::SerializableRead, Ok(()))];
        assert_eq!(body(passed(), false).await, (200, "ok\n".into()));
        assert_eq!(
            body(passed(), true).await,
            (200, "[+]serializable_read ok\nok\n".into())
        );
        let failed = vec![
            (Check::SerializableRead, Ok(())),
            (Check::LinearizableRead, Err("etcdserver: no leader".into())),
        ];
        assert_eq!(
            body(failed, false).await,
            (
                503,
                "[+]serializable_read ok\n[-]linearizable_read failed: etcdserver: no leader\n\n"
                    .into()
            )
        );
        // Every check excluded: nothing failed.
        assert_eq!(body(Vec::new(), false).await, (200, "ok\n".into()));
    }
}
