//! gRPC request metrics on the client port, under the names etcd's
//! go-grpc-prometheus interceptors use: `grpc_server_started_total`,
//! `grpc_server_handled_total` (by status code), `grpc_server_msg_received_total`
//! and `grpc_server_msg_sent_total` per method (and, with `--metrics
//! extensive`, `grpc_server_handling_seconds`), plus etcd's
//! `etcd_network_client_grpc_{received,sent}_bytes_total` and
//! `etcd_server_client_requests_total`.
//!
//! A tower layer around the client router: it finds the method from the path,
//! counts the messages of both bodies from gRPC's length-prefixed framing
//! (so streams are counted message by message), and takes the status code
//! from the trailers, or from the headers of a trailers-only answer. A call
//! the client drops before its status is counted as `Canceled`, as grpc-go
//! reports it. Requests that are not gRPC (`/health`, ...) pass untouched.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, Response};
use fnv::FnvBuildHasher;
use http_body::{Frame, SizeHint};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

/// grpc-go's names of the status codes, by number.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];
const CANCELED: usize = 1;
const UNKNOWN: usize = 2;

/// The services of the client port and their methods; the streaming ones
/// with their grpc-prometheus type.
const SERVICES: &[(&str, &[(&str, &str)])] = &[
    (
        "etcdserverpb.KV",
        &[
            ("Range", "unary"),
            ("Put", "unary"),
            ("DeleteRange", "unary"),
            ("Txn", "unary"),
            ("Compact", "unary"),
        ],
    ),
    ("etcdserverpb.Watch", &[("Watch", "bidi_stream")]),
    (
        "etcdserverpb.Lease",
        &[
            ("LeaseGrant", "unary"),
            ("LeaseRevoke", "unary"),
            ("LeaseKeepAlive", "bidi_stream"),
            ("LeaseTimeToLive", "unary"),
            ("LeaseLeases", "unary"),
        ],
    ),
    (
        "etcdserverpb.Cluster",
        &[
            ("MemberAdd", "unary"),
            ("MemberRemove", "unary"),
            ("MemberUpdate", "unary"),
            ("MemberList", "unary"),
            ("MemberPromote", "unary"),
        ],
    ),
    (
        "etcdserverpb.Maintenance",
        &[
            ("Alarm", "unary"),
            ("Status", "unary"),
            ("Defragment", "unary"),
            ("Hash", "unary"),
            ("HashKV", "unary"),
            ("Snapshot", "server_stream"),
            ("MoveLeader", "unary"),
            ("Downgrade", "unary"),
        ],
    ),
    (
        "etcdserverpb.Auth",
        &[
            ("AuthEnable", "unary"),
            ("AuthDisable", "unary"),
            ("AuthStatus", "unary"),
            ("Authenticate", "unary"),
            ("UserAdd", "unary"),
            ("UserGet", "unary"),
            ("UserList", "unary"),
            ("UserDelete", "unary"),
            ("UserChangePassword", "unary"),
            ("UserGrantRole", "unary"),
            ("UserRevokeRole", "unary"),
            ("RoleAdd", "unary"),
            ("RoleGet", "unary"),
            ("RoleList", "unary"),
            ("RoleDelete", "unary"),
            ("RoleGrantPermission", "unary"),
            ("RoleRevokePermission", "unary"),
        ],
    ),
    (
        "grpc.health.v1.Health",
        &[("Check", "unary"), ("Watch", "server_stream")],
    ),
    (
        "cairnpb.Recovery",
        &[
            ("Inspect", "unary"),
            ("Reset", "unary"),
            ("Rejoin", "unary"),
        ],
    ),
    ("cairnpb.Settings", &[("Get", "unary"), ("Set", "unary")]),
];

const METHOD_LABELS: [&str; 3] = ["grpc_type", "grpc_service", "grpc_method"];

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter name")
}

struct Families {
    started: IntCounterVec,
    handling: HistogramVec,
    handled: IntCounterVec,
    received: IntCounterVec,
    sent: IntCounterVec,
    received_bytes: IntCounter,
    sent_bytes: IntCounter,
    client_requests: IntCounterVec,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| Families {
    started: counter_vec(
        "grpc_server_started_total",
        "gRPC calls started on the client port.",
        &METHOD_LABELS,
    ),
    handling: HistogramVec::new(
        HistogramOpts::new(
            "grpc_server_handling_seconds",
            "Time from the start of each gRPC call to its status (with --metrics extensive).",
        ),
        &METHOD_LABELS,
    )
    .expect("a valid histogram name"),
    handled: counter_vec(
        "grpc_server_handled_total",
        "gRPC calls finished on the client port, by status code.",
        &["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
    ),
    received: counter_vec(
        "grpc_server_msg_received_total",
        "gRPC messages received on the client port.",
        &METHOD_LABELS,
    ),
    sent: counter_vec(
        "grpc_server_msg_sent_total",
        "gRPC messages sent on the client port.",
        &METHOD_LABELS,
    ),
    received_bytes: IntCounter::new(
        "etcd_network_client_grpc_received_bytes_total",
        "Bytes of gRPC messages received from clients.",
    )
    .expect("a valid counter name"),
    sent_bytes: IntCounter::new(
        "etcd_network_client_grpc_sent_bytes_total",
        "Bytes of gRPC messages sent to clients.",
    )
    .expect("a valid counter name"),
    client_requests: counter_vec(
        "etcd_server_client_requests_total",
        "Client requests, by type (unary or stream) and the client's API version.",
        &["type", "client_api_version"],
    ),
});

/// One method's counters, looked up once.
struct MethodCounters {
    labels: [&'static str; 3],
    started: IntCounter,
    /// With `--metrics extensive`.
    handling: Option<Histogram>,
    received: IntCounter,
    sent: IntCounter,
    /// By status code number. `OK` is created with the others; the rest
    /// when first counted (every series of every code would hold ~1 MiB).
    handled: [OnceLock<IntCounter>; CODE_NAMES.len()],
    /// etcd's request type: "unary" or "stream".
    request_type: &'static str,
}

impl MethodCounters {
    fn handled(&self, code: usize) -> &IntCounter {
        self.handled[code].get_or_init(|| {
            let [kind, service, method] = self.labels;
            FAMILIES
                .handled
                .with_label_values(&[kind, service, method, CODE_NAMES[code]])
        })
    }
}

/// Every method by its path, `/<service>/<method>`. Building it creates the
/// method's series at 0, as grpc-prometheus does for the registered services
/// (of `grpc_server_handled_total`, only the `OK` one).
static METHODS: LazyLock<HashMap<String, MethodCounters, FnvBuildHasher>> = LazyLock::new(|| {
    let f = &*FAMILIES;
    let timed = TIMED.load(Ordering::Relaxed);
    let mut methods = HashMap::default();
    for (service, list) in SERVICES {
        for (method, kind) in *list {
            let labels = [*kind, *service, *method];
            let counters = MethodCounters {
                labels,
                started: f.started.with_label_values(&labels),
                handling: timed.then(|| f.handling.with_label_values(&labels)),
                received: f.received.with_label_values(&labels),
                sent: f.sent.with_label_values(&labels),
                handled: [const { OnceLock::new() }; CODE_NAMES.len()],
                request_type: if *kind == "unary" { "unary" } else { "stream" },
            };
            counters.handled(0);
            methods.insert(format!("/{service}/{method}"), counters);
        }
    }
    methods
});

/// Whether calls are timed (`--metrics extensive`, etcd's
/// `EnableHandlingTimeHistogram`).
static TIMED: AtomicBool = AtomicBool::new(false);

/// Times every call from now on (`--metrics extensive`); call before the
/// metrics are first served.
pub fn time_calls() {
    TIMED.store(true, Ordering::Relaxed);
}

/// Registers the gRPC metrics with `registry` (and creates every series).
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    let f = &*FAMILIES;
    LazyLock::force(&METHODS);
    if TIMED.load(Ordering::Relaxed) {
        registry.register(Box::new(f.handling.clone()))?;
    }
    for c in [
        &f.started,
        &f.handled,
        &f.received,
        &f.sent,
        &f.client_requests,
    ] {
        registry.register(Box::new(c.clone()))?;
    }
    registry.register(Box::new(f.received_bytes.clone()))?;
    registry.register(Box::new(f.sent_bytes.clone()))?;
    Ok(())
}

/// The layer to put around the client router.
#[derive(Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

/// See [`GrpcMetricsLayer`].
#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S> tower_service::Service<Request<Body>> for GrpcMetrics<S>
where
    S: tower_service::Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> ResponseFuture<S::Future> {
        let method = METHODS.get(request.uri().path());
        let request = match method {
            None => request,
            Some(m) => {
                m.started.inc();
                let version = request
                    .headers()
                    .get("client-api-version")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("unknown");
                count_client_request(m.request_type, version);
                request.map(|body| {
                    Body::new(Counted {
                        inner: body,
                        messages: MessageCounter::default(),
                        counters: m,
                        call: None,
                    })
                })
            }
        };
        ResponseFuture {
            inner: self.inner.call(request),
            call: method.map(|counters| Call {
                counters,
                started: TIMED.load(Ordering::Relaxed).then(Instant::now),
                finished: false,
            }),
        }
    }
}

/// Counts a client request in `etcd_server_client_requests_total`; the
/// series of etcd's own client (API version 3.5) and of clients that send
/// none are looked up once.
fn count_client_request(request_type: &'static str, version: &str) {
    static COMMON: [OnceLock<IntCounter>; 4] = [const { OnceLock::new() }; 4];
    let common = match (request_type, version) {
        ("unary", "3.5") => Some(0),
        ("unary", "unknown") => Some(1),
        ("stream", "3.5") => Some(2),
        ("stream", "unknown") => Some(3),
        _ => None,
    };
    match common {
        Some(slot) => COMMON[slot]
            .get_or_init(|| {
                FAMILIES
                    .client_requests
                    .with_label_values(&[request_type, version])
            })
            .inc(),
        None => FAMILIES
            .client_requests
            .with_label_values(&[request_type, version])
            .inc(),
    }
}

pin_project_lite::pin_project! {
    /// The router's answer, with its body counted.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let Some(mut call) = this.call.take() else {
            return Poll::Ready(Ok(response));
        };
        // A trailers-only answer (an error) carries its status in the headers.
        if let Some(code) = status_code(response.headers()) {
            call.finish(code);
        }
        Poll::Ready(Ok(response.map(|body| {
            Body::new(Counted {
                inner: body,
                messages: MessageCounter::default(),
                counters: call.counters,
                call: Some(call),
            })
        })))
    }
}

/// The gRPC status code in `headers` (trailers), as an index of [`CODE_NAMES`].
fn status_code(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get("grpc-status")?;
    let code = value
        .to_str()
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|c| *c < CODE_NAMES.len())
        .unwrap_or(UNKNOWN);
    Some(code)
}

/// One call: its method's counters, when it started if calls are timed, and
/// whether its status is counted. A call dropped before its status (the
/// client went away, or cancelled a unary call) is counted as `Canceled`.
struct Call {
    counters: &'static MethodCounters,
    started: Option<Instant>,
    finished: bool,
}

impl Call {
    fn finish(&mut self, code: usize) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.counters.handled(code).inc();
        if let (Some(started), Some(handling)) = (self.started, &self.counters.handling) {
            handling.observe(started.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(CANCELED);
    }
}

/// A request body (`call` is `None`) or a response body whose gRPC messages
/// are counted as they pass.
struct Counted {
    inner: Body,
    messages: MessageCounter,
    counters: &'static MethodCounters,
    /// The call a response body ends with its trailers.
    call: Option<Call>,
}

impl Counted {
    fn count(&mut self, data: &[u8]) {
        let (method, sent) = (self.counters, self.call.is_some());
        self.messages.feed(data, |len| {
            if sent {
                method.sent.inc();
                FAMILIES.sent_bytes.inc_by(len);
            } else {
                method.received.inc();
                FAMILIES.received_bytes.inc_by(len);
            }
        });
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.count(data);
            } else if let Some(trailers) = frame.trailers_ref() {
                if let Some(call) = &mut this.call {
                    call.finish(status_code(trailers).unwrap_or(UNKNOWN));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Follows gRPC's framing (a flag byte, a 4-byte big-endian length, the
/// message) across data frames, reporting each message's length once its
/// header is complete.
#[derive(Default)]
struct MessageCounter {
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message still to come.
    remaining: u64,
}

impl MessageCounter {
    fn feed(&mut self, mut data: &[u8], mut on_message: impl FnMut(u64)) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= skip as u64;
                data = &data[skip..];
                continue;
            }
            let take = data.len().min(5 - self.header_len);
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 5 {
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                on_message(u64::from(len));
                self.header_len = 0;
                self.remaining = u64::from(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.push(0);
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn messages_are_counted_across_any_split_of_the_frames() {
        let bytes = framed(&[b"hello", b"", &[7u8; 300], b"x"]);
        for chunk in 1..bytes.len() + 1 {
            let mut counter = MessageCounter::default();
            let mut seen = Vec::new();
            for piece in bytes.chunks(chunk) {
                counter.feed(piece, |len| seen.push(len));
            }
            assert_eq!(seen, [5, 0, 300, 1], "chunks of {chunk} bytes");
            assert_eq!((counter.header_len, counter.remaining), (0, 0));
        }
    }

    #[test]
    fn status_codes_are_read_as_grpc_go_names_them() {
        let mut h = HeaderMap::new();
        assert_eq!(status_code(&h), None);
        h.insert("grpc-status", "0".parse().expect("header"));
        assert_eq!(status_code(&h).map(|c| CODE_NAMES[c]), Some("OK"));
        h.insert("grpc-status", "14".parse().expect("header"));
        assert_eq!(status_code(&h).map(|c| CODE_NAMES[c]), Some("Unavailable"));
        h.insert("grpc-status", "99".parse().expect("header"));
        assert_eq!(status_code(&h).map(|c| CODE_NAMES[c]), Some("Unknown"));
    }

    #[test]
    fn every_method_has_its_series_and_other_codes_come_when_counted() {
        let registry = Registry::new();
        register(&registry).expect("register");
        let handled = |registry: &Registry| {
            registry
                .gather()
                .iter()
                .find(|f| f.name() == "grpc_server_handled_total")
                .map_or(0, |f| f.get_metric().len())
        };
        let methods: usize = SERVICES.iter().map(|(_, m)| m.len()).sum();
        assert_eq!(handled(&registry), methods, "OK for every method");
        let range = METHODS.get("/etcdserverpb.KV/Range").expect("Range");
        range.handled(11).inc();
        assert_eq!(handled(&registry), methods + 1);
        assert_eq!(CODE_NAMES[11], "OutOfRange");
    }
}
