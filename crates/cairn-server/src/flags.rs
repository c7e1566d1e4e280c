//! The table of etcd 3.5 server flags: which ones Cairn implements, which it
//! accepts with a warning (so existing units still start), and which take a value.
//! Parsing follows Go's flag package as etcd uses it: `--flag value`,
//! `--flag=value`, `-flag value`, and bare `--flag` for booleans.

/// Whether a flag takes a value or is a boolean switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Value,
    Bool,
}

/// One etcd flag Cairn knows about.
#[derive(Clone, Copy, Debug)]
pub struct FlagSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// false: accepted for compatibility, ignored with a warning.
    pub supported: bool,
}

const fn v(name: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        kind: Kind::Value,
        supported: true,
    }
}
const fn b(name: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        kind: Kind::Bool,
        supported: true,
    }
}
const fn uv(name: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        kind: Kind::Value,
        supported: false,
    }
}
const fn ub(name: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        kind: Kind::Bool,
        supported: false,
    }
}

/// Every flag `cairn` accepts.
pub const FLAGS: &[FlagSpec] = &[
    // Implemented.
    v("name"),
    v("data-dir"),
    v("listen-client-urls"),
    v("advertise-client-urls"),
    v("listen-peer-urls"),
    v("initial-advertise-peer-urls"),
    v("initial-cluster"),
    v("initial-cluster-state"),
    v("initial-cluster-token"),
    v("heartbeat-interval"),
    v("election-timeout"),
    v("snapshot-count"),
    v("max-request-bytes"),
    v("max-txn-ops"),
    v("quota-backend-bytes"),
    v("listen-metrics-urls"),
    v("auto-compaction-mode"),
    v("auto-compaction-retention"),
    v("log-level"),
    v("logger"),
    v("config-file"),
    b("force-new-cluster"),
    // Cairn's own: join a running cluster through a member's client URL.
    v("join"),
    // Cairn extra: etcd 3.5 sets this only through its embed config
    // (`ExperimentalLeaseCheckpointInterval`); Cairn always checkpoints.
    v("experimental-lease-checkpoint-interval"),
    // Test only (refused unless CAIRN_UNSAFE_TEST_FLAGS=1): serve linearizable
    // reads from local state without ReadIndex, to prove the fault-injection
    // checker catches stale reads.
    b("unsafe-stale-reads"),
    v("cert-file"),
    v("key-file"),
    v("trusted-ca-file"),
    b("client-cert-auth"),
    v("peer-cert-file"),
    v("peer-key-file"),
    v("peer-trusted-ca-file"),
    b("peer-client-cert-auth"),
    // Accepted, not implemented yet (listed in COMPATIBILITY.md).
    uv("wal-dir"),
    uv("max-snapshots"),
    uv("max-wals"),
    uv("backend-bbolt-freelist-type"),
    uv("backend-batch-interval"),
    uv("backend-batch-limit"),
    uv("grpc-keepalive-min-time"),
    uv("grpc-keepalive-interval"),
    uv("grpc-keepalive-timeout"),
    ub("socket-reuse-port"),
    ub("socket-reuse-address"),
    uv("listen-client-http-urls"),
    uv("initial-election-tick-advance"),
    uv("discovery"),
    uv("discovery-fallback"),
    uv("discovery-proxy"),
    uv("discovery-srv"),
    uv("discovery-srv-name"),
    ub("strict-reconfig-check"),
    ub("pre-vote"),
    ub("enable-v2"),
    uv("v2-deprecation"),
    v("client-crl-file"),
    v("client-cert-allowed-hostname"),
    b("auto-tls"),
    v("peer-cert-allowed-cn"),
    v("peer-cert-allowed-hostname"),
    b("peer-auto-tls"),
    v("self-signed-cert-validity"),
    v("peer-crl-file"),
    v("cipher-suites"),
    uv("cors"),
    uv("host-whitelist"),
    uv("tls-min-version"),
    uv("tls-max-version"),
    uv("auth-token"),
    uv("bcrypt-cost"),
    uv("auth-token-ttl"),
    ub("enable-pprof"),
    v("metrics"),
    uv("log-outputs"),
    ub("enable-log-rotation"),
    uv("log-rotation-config-json"),
    ub("unsafe-no-fsync"),
    uv("max-concurrent-streams"),
    b("experimental-initial-corrupt-check"),
    v("experimental-corrupt-check-time"),
    uv("experimental-enable-v2v3"),
    ub("experimental-enable-lease-checkpoint"),
    ub("experimental-enable-lease-checkpoint-persist"),
    uv("experimental-compaction-batch-limit"),
    uv("experimental-compaction-sleep-interval"),
    b("experimental-peer-skip-client-san-verification"),
    v("experimental-watch-progress-notify-interval"),
    uv("experimental-warning-apply-duration"),
    ub("experimental-enable-distributed-tracing"),
    uv("experimental-distributed-tracing-address"),
    uv("experimental-distributed-tracing-service-name"),
    uv("experimental-distributed-tracing-instance-id"),
    uv("experimental-distributed-tracing-sampling-rate"),
    ub("experimental-txn-mode-write-with-shared-buffer"),
    uv("experimental-bootstrap-defrag-threshold-megabytes"),
    ub("experimental-memory-mlock"),
    uv("experimental-downgrade-check-time"),
    uv("experimental-max-learners"),
    uv("experimental-snapshot-catchup-entries"),
    uv("experimental-wait-cluster-ready-timeout"),
    ub("experimental-stop-grpc-service-on-defrag"),
    uv("experimental-warning-unary-request-duration"),
    uv("proxy"),
    uv("proxy-failure-wait"),
    uv("proxy-refresh-interval"),
    uv("proxy-dial-timeout"),
    uv("proxy-write-timeout"),
    uv("proxy-read-timeout"),
];

pub fn lookup(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|f| f.name == name)
}

/// The environment variable etcd reads for a flag: `ETCD_` + upper snake case.
pub fn env_name(flag: &str) -> String {
    format!("ETCD_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Parses a Go-style boolean.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}
