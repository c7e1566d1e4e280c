//! The server's configuration, read the way etcd reads it: command-line flags,
//! then `ETCD_*` environment variables for flags not given, or — when
//! `--config-file` is set — only the YAML file (etcd ignores flags and env then).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::allowed_identity::AllowedIdentity;
use crate::flags::{self, Kind};
use crate::tls::TlsFiles;

/// Why the command line, environment or config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("flag provided but not defined: -{0}")]
    UnknownFlag(String),
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    #[error("invalid value {value:?} for flag -{flag}: {reason}")]
    BadValue {
        flag: String,
        value: String,
        reason: String,
    },
    #[error("'{0}' is not a valid flag")]
    Positional(String),
    #[error("cannot load config file {path}: {reason}")]
    File { path: String, reason: String },
    /// TLS flags that contradict each other.
    #[error("{0}")]
    Tls(String),
}

/// etcd's default backend quota (2 GiB).
pub const DEFAULT_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What `cairn` was asked to do.
pub enum Command {
    Run(Box<ServerConfig>),
    Help,
    Version,
}

/// A member's configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub name: String,
    pub data_dir: PathBuf,
    pub listen_client_urls: Vec<Url>,
    /// `--listen-metrics-urls`: extra listeners for `/health` and `/metrics`.
    pub listen_metrics_urls: Vec<Url>,
    /// `--metrics extensive`: gRPC calls are timed (`grpc_server_handling_seconds`);
    /// any other value is etcd's `basic`.
    pub metrics_extensive: bool,
    pub advertise_client_urls: Vec<Url>,
    pub listen_peer_urls: Vec<Url>,
    pub initial_advertise_peer_urls: Vec<Url>,
    pub initial_cluster: Vec<(String, Vec<String>)>,
    pub initial_cluster_state_new: bool,
    pub initial_cluster_token: String,
    /// `--cert-file`, `--key-file`, `--trusted-ca-file`, `--client-cert-auth`.
    pub client_tls: TlsFiles,
    /// `--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`, `--peer-client-cert-auth`.
    pub peer_tls: TlsFiles,
    /// `--cipher-suites`: Go's names, as given (cipher_suites.rs checks them).
    pub cipher_suites: Vec<String>,
    /// `--auto-tls`, `--peer-auto-tls`: self-signed certificates when none is given.
    pub client_auto_tls: bool,
    pub peer_auto_tls: bool,
    /// `--self-signed-cert-validity`, in years.
    pub self_signed_cert_validity: u64,
    /// `--experimental-peer-skip-client-san-verification`: the peer port does
    /// not check that a member's certificate names the address it connects from.
    pub peer_skip_client_san_verification: bool,
    /// `--join <client-url>` (Cairn's own): add this new member through a running member.
    pub join: Option<String>,
    /// `--force-new-cluster`: restart as a one-member cluster from this member's data.
    pub force_new_cluster: bool,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_count: u64,
    pub max_request_bytes: u64,
    pub max_txn_ops: u64,
    /// `--quota-backend-bytes` (0: etcd's default of 2 GiB).
    pub quota_backend_bytes: u64,
    /// `--auto-compaction-mode` and `--auto-compaction-retention` (None: off).
    pub auto_compaction: Option<crate::auto_compaction::AutoCompaction>,
    /// `--experimental-watch-progress-notify-interval` (etcd: 10m).
    pub watch_progress_notify_interval: Duration,
    /// `--experimental-lease-checkpoint-interval` (etcd: 5m).
    pub lease_checkpoint_interval: Duration,
    /// `--experimental-initial-corrupt-check`: compare hashes with the peers
    /// before serving clients (corruption_check.rs).
    pub initial_corrupt_check: bool,
    /// `--experimental-corrupt-check-time` (None: 0, off): how often the leader
    /// compares hashes with the followers.
    pub corrupt_check_time: Option<Duration>,
    /// `--unsafe-stale-reads` (tests only): linearizable reads skip ReadIndex.
    pub unsafe_stale_reads: bool,
    pub log_level: String,
    pub logger: String,
    /// etcd flags that were given but Cairn does not implement yet.
    pub ignored_flags: Vec<String>,
}

/// Raw flag values by name, as given.
type RawFlags = BTreeMap<String, String>;

/// Parses the command line (without the program name) with the given environment.
pub fn parse(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, ConfigError> {
    let mut raw = RawFlags::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(ConfigError::Positional(arg.clone()));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        match name {
            "h" | "help" => return Ok(Command::Help),
            "version" => return Ok(Command::Version),
            _ => {}
        }
        let spec = flags::lookup(name).ok_or_else(|| ConfigError::UnknownFlag(name.to_string()))?;
        let value = match (spec.kind, inline) {
            (Kind::Bool, Some(v)) => match flags::parse_bool(&v) {
                Some(b) => b.to_string(),
                None => return Err(bad(name, &v, "parse error")),
            },
            (Kind::Value, Some(v)) => v,
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Value, None) => {
                let v = args
                    .get(i)
                    .ok_or_else(|| ConfigError::MissingValue(name.to_string()))?;
                i += 1;
                v.clone()
            }
        };
        raw.insert(name.to_string(), value);
    }

    if let Some(path) = raw.get("config-file").cloned() {
        raw = load_config_file(&path)?;
    } else {
        for spec in flags::FLAGS {
            if !raw.contains_key(spec.name) {
                if let Some(value) = env(&flags::env_name(spec.name)) {
                    raw.insert(spec.name.to_string(), value);
                }
            }
        }
    }
    if raw.get("unsafe-stale-reads").map(String::as_str) == Some("true")
        && env("CAIRN_UNSAFE_TEST_FLAGS").as_deref() != Some("1")
    {
        return Err(bad(
            "unsafe-stale-reads",
            "true",
            "breaks linearizability; only for tests, which must also set CAIRN_UNSAFE_TEST_FLAGS=1",
        ));
    }
    build(raw).map(|c| Command::Run(Box::new(c)))
}

/// Reads etcd's YAML config file into flag values (keys are the flag names).
fn load_config_file(path: &str) -> Result<RawFlags, ConfigError> {
    let err = |reason: String| ConfigError::File {
        path: path.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))?;
    let mut raw = RawFlags::new();
    let serde_yaml::Value::Mapping(map) = doc else {
        if doc.is_null() {
            return Ok(raw);
        }
        return Err(err("top level is not a mapping".into()));
    };
    for (k, v) in map {
        let key = k
            .as_str()
            .ok_or_else(|| err(format!("non-string key {k:?}")))?
            .to_string();
        let value = match &v {
            serde_yaml::Value::Null => continue,
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::Mapping(inner)
                if key == "client-transport-security" || key == "peer-transport-security" =>
            {
                // client-transport-security / peer-transport-security hold the TLS flags.
                let peer = key.starts_with("peer");
                let prefix = if peer { "peer-" } else { "" };
                for (ik, iv) in inner {
                    if let (Some(ik), false) = (ik.as_str(), iv.is_null()) {
                        // etcd's allowed-cn / allowed-hostname are the
                        // --{peer,client}-cert-allowed-* flags.
                        let flag = match ik {
                            "allowed-cn" | "allowed-hostname" => {
                                let side = if peer { "peer" } else { "client" };
                                format!("{side}-cert-{ik}")
                            }
                            _ => format!("{prefix}{ik}"),
                        };
                        if flags::lookup(&flag).is_none() {
                            return Err(err(format!("unknown field \"{key}.{ik}\"")));
                        }
                        let val = match iv {
                            serde_yaml::Value::String(s) => s.clone(),
                            other => serde_yaml::to_string(other)
                                .unwrap_or_default()
                                .trim()
                                .to_string(),
                        };
                        raw.insert(flag, val);
                    }
                }
                continue;
            }
            // etcd's config file gives `cipher-suites` as a list.
            serde_yaml::Value::Sequence(items) if key == "cipher-suites" => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(format!("{key}: {item:?} is not a string")))
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => serde_yaml::to_string(other)
                .map_err(|e| err(e.to_string()))?
                .trim()
                .to_string(),
        };
        if flags::lookup(&key).is_none() {
            return Err(err(format!("unknown field {key:?}")));
        }
        raw.insert(key, value);
    }
    Ok(raw)
}

fn bad(flag: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        flag: flag.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn parse_urls(flag: &str, value: &str) -> Result<Vec<Url>, ConfigError> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let url = Url::parse(s).map_err(|e| bad(flag, value, e.to_string()))?;
            match url.scheme() {
                "http" | "https" | "unix" | "unixs" => {}
                other => {
                    return Err(bad(
                        flag,
                        value,
                        format!("URL scheme must be http, https, unix, or unixs: {other}"),
                    ))
                }
            }
            if url.host_str().is_none() || url.port().is_none() {
                return Err(bad(
                    flag,
                    value,
                    format!("URL address does not have the form \"host:port\": {s}"),
                ));
            }
            Ok(url)
        })
        .collect()
}

/// Renders URLs as etcd prints them (no trailing slash).
pub fn url_string(u: &Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

fn parse_u64(flag: &str, value: &str) -> Result<u64, ConfigError> {
    value
        .parse::<u64>()
        .map_err(|e| bad(flag, value, e.to_string()))
}

fn parse_initial_cluster(value: &str) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for part in value.split(',').filter(|s| !s.is_empty()) {
        let (name, url) = part.split_once('=').ok_or_else(|| {
            bad(
                "initial-cluster",
                value,
                format!("{part:?} is not name=URL"),
            )
        })?;
        parse_urls("initial-cluster", url)?;
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, urls)) => urls.push(url.to_string()),
            None => out.push((name.to_string(), vec![url.to_string()])),
        }
    }
    Ok(out)
}

fn build(raw: RawFlags) -> Result<ServerConfig, ConfigError> {
    let get = |k: &str| raw.get(k).map(String::as_str);
    let name = get("name").unwrap_or("default").to_string();
    let data_dir = PathBuf::from(
        get("data-dir")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{name}.etcd")),
    );
    let listen_client_urls = parse_urls(
        "listen-client-urls",
        get("listen-client-urls").unwrap_or("http://localhost:2379"),
    )?;
    let advertise_client_urls = parse_urls(
        "advertise-client-urls",
        get("advertise-client-urls").unwrap_or("http://localhost:2379"),
    )?;
    // etcd serves /health and /metrics there too; none by default.
    let listen_metrics_urls = match get("listen-metrics-urls") {
        Some(v) if !v.is_empty() => parse_urls("listen-metrics-urls", v)?,
        _ => Vec::new(),
    };
    let listen_peer_urls = parse_urls(
        "listen-peer-urls",
        get("listen-peer-urls").unwrap_or("http://localhost:2380"),
    )?;
    let initial_advertise_peer_urls = parse_urls(
        "initial-advertise-peer-urls",
        get("initial-advertise-peer-urls").unwrap_or("http://localhost:2380"),
    )?;
    // Like etcd: without --initial-cluster, the cluster is this member alone.
    let initial_cluster = match get("initial-cluster") {
        Some(v) => parse_initial_cluster(v)?,
        None => vec![(
            name.clone(),
            initial_advertise_peer_urls.iter().map(url_string).collect(),
        )],
    };
    let initial_cluster_state_new = match get("initial-cluster-state").unwrap_or("new") {
        "new" => true,
        "existing" => false,
        other => {
            return Err(bad(
                "initial-cluster-state",
                other,
                "valid values include 'new', 'existing'",
            ));
        }
    };
    let heartbeat_interval_ms = parse_u64(
        "heartbeat-interval",
        get("heartbeat-interval").unwrap_or("100"),
    )?;
    let election_timeout_ms = parse_u64(
        "election-timeout",
        get("election-timeout").unwrap_or("1000"),
    )?;
    // etcd's upper bound; it also keeps the timeout arithmetic from overflowing.
    if election_timeout_ms > 50_000 {
        return Err(bad(
            "election-timeout",
            &election_timeout_ms.to_string(),
            "election timeout is too long (at most 50000 ms)",
        ));
    }
    if heartbeat_interval_ms == 0 || election_timeout_ms < heartbeat_interval_ms.saturating_mul(5) {
        return Err(bad(
            "election-timeout",
            &election_timeout_ms.to_string(),
            format!("election timeout should be at least 5 times the heartbeat interval ({heartbeat_interval_ms} ms)"),
        ));
    }
    let logger = get("logger").unwrap_or("zap").to_string();
    if logger != "zap" && logger != "capnslog" {
        return Err(bad(
            "logger",
            &logger,
            "valid values are 'zap' and 'capnslog'",
        ));
    }
    let log_level = get("log-level").unwrap_or("info").to_string();
    if !["debug", "info", "warn", "error", "panic", "fatal"].contains(&log_level.as_str()) {
        return Err(bad(
            "log-level",
            &log_level,
            "valid values are debug, info, warn, error, panic, fatal",
        ));
    }
    let mut ignored_flags: Vec<String> = raw
        .keys()
        .filter(|k| flags::lookup(k).map(|s| !s.supported).unwrap_or(false))
        .cloned()
        .collect();
    ignored_flags.sort();
    Ok(ServerConfig {
        name,
        data_dir,
        listen_client_urls,
        listen_metrics_urls,
        metrics_extensive: get("metrics") == Some("extensive"),
        advertise_client_urls,
        listen_peer_urls,
        initial_advertise_peer_urls,
        initial_cluster,
        initial_cluster_state_new,
        initial_cluster_token: get("initial-cluster-token")
            .unwrap_or("etcd-cluster")
            .to_string(),
        client_tls: TlsFiles {
            cert_file: get("cert-file")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            key_file: get("key-file").filter(|s| !s.is_empty()).map(PathBuf::from),
            trusted_ca_file: get("trusted-ca-file")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            client_cert_auth: get("client-cert-auth") == Some("true"),
            crl_file: get("client-crl-file")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            allowed: AllowedIdentity::from_flags(None, get("client-cert-allowed-hostname"))
                .map_err(|e| ConfigError::Tls(e.to_string()))?,
            self_signed: false,
        },
        peer_tls: TlsFiles {
            cert_file: get("peer-cert-file")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            key_file: get("peer-key-file")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            trusted_ca_file: get("peer-trusted-ca-file")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            client_cert_auth: get("peer-client-cert-auth") == Some("true"),
            crl_file: get("peer-crl-file")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            allowed: AllowedIdentity::from_flags(
                get("peer-cert-allowed-cn"),
                get("peer-cert-allowed-hostname"),
            )
            .map_err(|e| ConfigError::Tls(e.to_string()))?,
            self_signed: false,
        },
        client_auto_tls: get("auto-tls") == Some("true"),
        peer_skip_client_san_verification: get("experimental-peer-skip-client-san-verification")
            == Some("true"),
        peer_auto_tls: get("peer-auto-tls") == Some("true"),
        self_signed_cert_validity: parse_u64(
            "self-signed-cert-validity",
            get("self-signed-cert-validity").unwrap_or("1"),
        )?,
        cipher_suites: get("cipher-suites")
            .filter(|s| !s.is_empty())
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        join: get("join").filter(|s| !s.is_empty()).map(str::to_string),
        unsafe_stale_reads: get("unsafe-stale-reads") == Some("true"),
        force_new_cluster: get("force-new-cluster") == Some("true"),
        heartbeat_interval_ms,
        election_timeout_ms,
        snapshot_count: parse_u64("snapshot-count", get("snapshot-count").unwrap_or("100000"))?,
        max_request_bytes: parse_u64(
            "max-request-bytes",
            get("max-request-bytes").unwrap_or("1572864"),
        )?,
        max_txn_ops: parse_u64("max-txn-ops", get("max-txn-ops").unwrap_or("128"))?,
        quota_backend_bytes: match parse_u64(
            "quota-backend-bytes",
            get("quota-backend-bytes").unwrap_or("0"),
        )? {
            0 => DEFAULT_QUOTA_BYTES,
            q => q,
        },
        auto_compaction: crate::auto_compaction::parse(
            get("auto-compaction-mode").unwrap_or("periodic"),
            get("auto-compaction-retention").unwrap_or("0"),
        )
        .map_err(|(flag, reason)| {
            let value = get(flag).unwrap_or_default();
            bad(flag, value, reason)
        })?,
        watch_progress_notify_interval: positive_duration(
            "experimental-watch-progress-notify-interval",
            get("experimental-watch-progress-notify-interval").unwrap_or("10m0s"),
        )?,
        lease_checkpoint_interval: positive_duration(
            "experimental-lease-checkpoint-interval",
            get("experimental-lease-checkpoint-interval").unwrap_or("5m0s"),
        )?,
        initial_corrupt_check: get("experimental-initial-corrupt-check") == Some("true"),
        corrupt_check_time: optional_duration(
            "experimental-corrupt-check-time",
            get("experimental-corrupt-check-time").unwrap_or("0s"),
        )?,
        log_level,
        logger,
        ignored_flags,
    })
}

/// Longest interval a duration flag may hold: timers add it to the clock, and
/// an addition past the clock's range would panic.
const MAX_FLAG_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A duration flag that must be above zero (and at most 100 years).
fn positive_duration(name: &str, raw: &str) -> Result<Duration, ConfigError> {
    optional_duration(name, raw)?.ok_or_else(|| bad(name, raw, "invalid duration"))
}

/// A duration flag where zero means "off" (None); at most 100 years.
fn optional_duration(name: &str, raw: &str) -> Result<Option<Duration>, ConfigError> {
    match parse_go_duration(raw) {
        Some(d) if d.is_zero() => Ok(None),
        Some(d) if d <= MAX_FLAG_DURATION => Ok(Some(d)),
        _ => Err(bad(name, raw, "invalid duration")),
    }
}

/// Parses a Go duration (`10m0s`, `1.5s`, `300ms`); None if malformed.
pub(crate) fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

impl ServerConfig {
    /// How long a request waits for Raft (etcd: 5 s + 2 × election timeout).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(5000 + 2 * self.election_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_stale_reads_needs_the_test_env() {
        assert!(run(&["--unsafe-stale-reads"], &[]).is_err());
        let c = run(
            &["--unsafe-stale-reads"],
            &[("CAIRN_UNSAFE_TEST_FLAGS", "1")],
        )
        .unwrap();
        assert!(c.unsafe_stale_reads);
        assert!(!run(&[], &[]).unwrap().unsafe_stale_reads);
    }

    #[test]
    fn huge_intervals_are_refused_not_panicking_later() {
        let flag = "--experimental-watch-progress-notify-interval=5000000000000000h";
        assert!(run(&[flag], &[]).is_err());
        let ok = run(&["--experimental-lease-checkpoint-interval=1h"], &[]).unwrap();
        assert_eq!(ok.lease_checkpoint_interval, Duration::from_secs(3600));
    }

    #[test]
    fn corruption_check_flags() {
        let off = run(&[], &[]).unwrap();
        assert!(!off.initial_corrupt_check);
        assert_eq!(off.corrupt_check_time, None);
        let on = run(
            &[
                "--experimental-initial-corrupt-check",
                "--experimental-corrupt-check-time=2m30s",
            ],
            &[],
        )
        .unwrap();
        assert!(on.initial_corrupt_check);
        assert_eq!(on.corrupt_check_time, Some(Duration::from_secs(150)));
        assert!(!on.ignored_flags.iter().any(|f| f.contains("corrupt")));
        let zero = run(&["--experimental-corrupt-check-time=0s"], &[]).unwrap();
        assert_eq!(zero.corrupt_check_time, None);
        assert!(run(&["--experimental-corrupt-check-time=soon"], &[]).is_err());
        assert!(run(
            &["--experimental-corrupt-check-time=5000000000000000h"],
            &[]
        )
        .is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10m0s"), Some(Duration::from_secs(600)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("1x"), None);
    }

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match parse(&args, &|k| env.get(k).cloned())? {
            Command::Run(c) => Ok(*c),
            _ => panic!("expected a run command"),
        }
    }

    #[test]
    fn defaults_match_etcd() {
        let c = run(&[], &[]).unwrap();
        assert_eq!(c.name, "default");
        assert_eq!(c.data_dir, PathBuf::from("default.etcd"));
        assert_eq!(
            url_string(&c.listen_client_urls[0]),
            "http://localhost:2379"
        );
        assert_eq!(
            c.initial_cluster,
            vec![(
                "default".to_string(),
                vec!["http://localhost:2380".to_string()]
            )]
        );
        assert!(c.initial_cluster_state_new);
        assert_eq!(c.initial_cluster_token, "etcd-cluster");
        assert_eq!(c.max_request_bytes, 1572864);
        assert_eq!(c.max_txn_ops, 128);
    }

    #[test]
    fn go_flag_forms_and_env() {
        let c = run(
            &[
                "-name",
                "m1",
                "--snapshot-count=5",
                "--max-txn-ops",
                "9",
                "--strict-reconfig-check",
            ],
            &[("ETCD_NAME", "ignored"), ("ETCD_MAX_REQUEST_BYTES", "4096")],
        )
        .unwrap();
        assert_eq!(c.name, "m1");
        assert_eq!(c.data_dir, PathBuf::from("m1.etcd"));
        assert_eq!(c.snapshot_count, 5);
        assert_eq!(c.max_txn_ops, 9);
        assert_eq!(c.max_request_bytes, 4096);
        assert_eq!(c.ignored_flags, vec!["strict-reconfig-check".to_string()]);
    }

    #[test]
    fn auto_compaction_flags() {
        let c = run(&[], &[]).unwrap();
        assert_eq!(c.auto_compaction, None, "off unless a retention is given");
        let c = run(&["--auto-compaction-retention", "8"], &[]).unwrap();
        assert_eq!(
            c.auto_compaction,
            Some(crate::auto_compaction::AutoCompaction::Periodic(
                Duration::from_secs(8 * 3600)
            ))
        );
        let c = run(
            &[
                "--auto-compaction-mode=revision",
                "--auto-compaction-retention=500",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.auto_compaction,
            Some(crate::auto_compaction::AutoCompaction::Revision(500))
        );
        match run(&["--auto-compaction-mode", "hourly"], &[]) {
            Err(ConfigError::BadValue {
                flag,
                value,
                reason,
            }) => {
                assert_eq!(flag, "auto-compaction-mode");
                assert_eq!(value, "hourly");
                assert_eq!(reason, "unknown auto-compaction-mode \"hourly\"");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(matches!(
            run(&["--auto-compaction-retention", "soon"], &[]),
            Err(ConfigError::BadValue { .. })
        ));
    }

    #[test]
    fn unknown_and_bad_flags_are_errors() {
        assert!(matches!(
            run(&["--no-such-flag"], &[]),
            Err(ConfigError::UnknownFlag(_))
        ));
        assert!(matches!(
            run(&["--name"], &[]),
            Err(ConfigError::MissingValue(_))
        ));
        assert!(matches!(
            run(&["--initial-cluster-state", "old"], &[]),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            run(&["--listen-client-urls", "localhost"], &[]),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            run(&["stray"], &[]),
            Err(ConfigError::Positional(_))
        ));
    }

    #[test]
    fn config_file_replaces_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etcd.yaml");
        std::fs::write(
            &path,
            "name: fromfile\nsnapshot-count: 42\nclient-transport-security:\n  cert-file: /x\n  client-cert-auth: true\npeer-transport-security:\n  key-file: /pk\n",
        )
        .unwrap();
        let c = run(
            &["--config-file", path.to_str().unwrap(), "--name", "ignored"],
            &[],
        )
        .unwrap();
        assert_eq!(c.name, "fromfile");
        assert_eq!(c.snapshot_count, 42);
        assert!(c.ignored_flags.is_empty(), "{:?}", c.ignored_flags);
        assert_eq!(c.client_tls.cert_file, Some(PathBuf::from("/x")));
        assert!(c.client_tls.client_cert_auth);
        assert_eq!(c.peer_tls.key_file, Some(PathBuf::from("/pk")));
        assert!(!c.peer_tls.client_cert_auth);
    }

    #[test]
    fn allowed_certificate_identities_from_flags_and_the_config_file() {
        let c = run(&["--peer-cert-allowed-cn", "etcd.local"], &[]).unwrap();
        assert_eq!(
            c.peer_tls.allowed,
            Some(AllowedIdentity::CommonName("etcd.local".into()))
        );
        assert!(c.ignored_flags.is_empty(), "{:?}", c.ignored_flags);
        let c = run(&["--client-cert-allowed-hostname", "admin.example"], &[]).unwrap();
        assert_eq!(
            c.client_tls.allowed,
            Some(AllowedIdentity::Hostname(
                rustls::pki_types::ServerName::try_from("admin.example").expect("name")
            ))
        );
        assert_eq!(c.peer_tls.allowed, None);
        let both = run(
            &[
                "--peer-cert-allowed-cn",
                "a",
                "--peer-cert-allowed-hostname",
                "b",
            ],
            &[],
        );
        assert!(matches!(both, Err(ConfigError::Tls(m)) if m.contains("mutually exclusive")));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etcd.yaml");
        std::fs::write(
            &path,
            "client-transport-security:\n  allowed-hostname: admin.example\npeer-transport-security:\n  allowed-cn: etcd.local\n",
        )
        .unwrap();
        let c = run(&["--config-file", path.to_str().unwrap()], &[]).unwrap();
        assert_eq!(
            c.client_tls.allowed,
            Some(AllowedIdentity::Hostname(
                rustls::pki_types::ServerName::try_from("admin.example").expect("name")
            ))
        );
        assert_eq!(
            c.peer_tls.allowed,
            Some(AllowedIdentity::CommonName("etcd.local".into()))
        );
    }

    #[test]
    fn unknown_keys_under_transport_security_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etcd.yaml");
        std::fs::write(&path, "peer-transport-security:\n  cert-flie: /x\n").unwrap();
        let Err(e) = run(&["--config-file", path.to_str().unwrap()], &[]) else {
            panic!("a misspelt key was accepted");
        };
        assert!(
            e.to_string()
                .contains("unknown field \"peer-transport-security.cert-flie\""),
            "{e}"
        );
    }

    #[test]
    fn cipher_suites_from_the_flag_and_from_the_config_files_list() {
        let c = run(&["--cipher-suites", "TLS_A,TLS_B"], &[]).unwrap();
        assert_eq!(
            c.cipher_suites,
            vec!["TLS_A".to_string(), "TLS_B".to_string()]
        );
        assert!(c.ignored_flags.is_empty(), "{:?}", c.ignored_flags);
        assert!(run(&["--cipher-suites", ""], &[])
            .unwrap()
            .cipher_suites
            .is_empty());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etcd.yaml");
        std::fs::write(&path, "cipher-suites:\n  - TLS_A\n  - TLS_B\n").unwrap();
        let c = run(&["--config-file", path.to_str().unwrap()], &[]).unwrap();
        assert_eq!(
            c.cipher_suites,
            vec!["TLS_A".to_string(), "TLS_B".to_string()]
        );
        std::fs::write(&path, "cipher-suites:\n  - 7\n").unwrap();
        assert!(run(&["--config-file", path.to_str().unwrap()], &[]).is_err());
    }
}
