//! What the client port answers before the member has published itself
//! through Raft (etcd's "ready to serve client requests"). Normally nothing:
//! as in etcd, the port is served only once the member has published. A member
//! that cannot publish within the request timeout (its cluster lost quorum)
//! serves the port anyway, but through this gate: only the recovery service and
//! `/version` answer; everything else gets `Unavailable` (gRPC) or an unhealthy
//! `/health` (HTTP).
//!
//! This is what lets `cairnctl recover` inspect and reset a survivor that was
//! restarted after its cluster lost quorum: such a member can never publish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// gRPC paths served before publishing.
const RECOVERY_PATH_PREFIX: &str = "/cairnpb.Recovery/";

/// Shared flag: has this member published itself?
#[derive(Clone, Default)]
pub struct StartGate(Arc<AtomicBool>);

impl StartGate {
    pub fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Axum middleware: passes every request once the gate is open; before that,
/// only the recovery service and `/version`.
pub async fn until_published(State(gate): State<StartGate>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if gate.is_open() || path.starts_with(RECOVERY_PATH_PREFIX) || path == "/version" {
        return next.run(req).await;
    }
    let is_grpc = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if is_grpc {
        return tonic::Status::unavailable(cairn_proto::NOT_JOINED_YET).into_http::<Body>();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("content-type", "application/json")],
        serde_json::json!({"health": "false", "reason": "NOT STARTED"}).to_string(),
    )
        .into_response()
}
