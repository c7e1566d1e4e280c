//! The JSON log lines etcdctl's Go client (zap) writes to stderr, e.g. the
//! `retrying of unary invoker failed` warning that precedes most RPC errors.
//! Two encoder styles exist: the etcd client's own logger (ISO-8601 time,
//! logger `etcd-client`) and zap's production preset (epoch-seconds time).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::golang::json_string_into;

/// Which zap configuration produced a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogStyle {
    /// The client's default logger: `"ts":"2021-01-01T00:00:00.000Z","logger":"etcd-client"`.
    EtcdClient,
    /// `zap.NewProduction()`, optionally named: `"ts":1609459200.1234567`.
    Production(Option<&'static str>),
}

/// The `target` the Go client names in its logs: the gRPC dial target built
/// from the client's address and its first endpoint.
pub fn dial_target(first_endpoint: &str) -> String {
    let authority = match first_endpoint.split_once("://") {
        Some((_, rest)) => rest,
        None => first_endpoint
            .strip_prefix("unixs:")
            .or_else(|| first_endpoint.strip_prefix("unix:"))
            .unwrap_or(first_endpoint),
    };
    format!(
        "etcd-endpoints://0xc000{:06x}/{authority}",
        std::process::id() & 0xff_ffff
    )
}

fn iso8601_utc(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let millis = since.subsec_millis();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// A log field value.
pub enum Field<'a> {
    Str(&'a str),
    Uint(u64),
}

/// Writes one log line.
pub fn log(
    stderr: &mut dyn Write,
    style: &LogStyle,
    level: &str,
    caller: &str,
    msg: &str,
    fields: &[(&str, Field<'_>)],
) {
    let now = SystemTime::now();
    let mut line = Vec::with_capacity(256);
    line.extend_from_slice(b"{\"level\":");
    json_string_into(&mut line, level.as_bytes());
    line.extend_from_slice(b",\"ts\":");
    match style {
        LogStyle::EtcdClient => {
            json_string_into(&mut line, iso8601_utc(now).as_bytes());
            line.extend_from_slice(b",\"logger\":\"etcd-client\"");
        }
        LogStyle::Production(name) => {
            let secs = now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as f64 / 1e9)
                .unwrap_or(0.0);
            line.extend_from_slice(secs.to_string().as_bytes());
            if let Some(name) = name {
                line.extend_from_slice(b",\"logger\":");
                json_string_into(&mut line, name.as_bytes());
            }
        }
    }
    line.extend_from_slice(b",\"caller\":");
    json_string_into(&mut line, caller.as_bytes());
    line.extend_from_slice(b",\"msg\":");
    json_string_into(&mut line, msg.as_bytes());
    for (key, value) in fields {
        line.push(b',');
        json_string_into(&mut line, key.as_bytes());
        line.push(b':');
        match value {
            Field::Str(s) => json_string_into(&mut line, s.as_bytes()),
            Field::Uint(n) => line.extend_from_slice(n.to_string().as_bytes()),
        }
    }
    line.extend_from_slice(b"}\n");
    let _ = stderr.write_all(&line);
    let _ = stderr.flush();
}

/// The warning the client's retry interceptor logs for every failed attempt.
pub fn retry_warning(style: &LogStyle, target: &str, attempt: u64, error: &str) {
    log(
        &mut std::io::stderr().lock(),
        style,
        "warn",
        "v3/retry_interceptor.go:62",
        "retrying of unary invoker failed",
        &[
            ("target", Field::Str(target)),
            ("attempt", Field::Uint(attempt)),
            ("error", Field::Str(error)),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_iso8601() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_466_114_747);
        assert_eq!(iso8601_utc(t), "2026-11-23T20:35:14.747Z");
        assert_eq!(iso8601_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn targets_use_first_endpoint_authority() {
        assert!(dial_target("http://127.0.0.1:2379").ends_with("/127.0.0.1:2379"));
        assert!(dial_target("127.0.0.1:2379").starts_with("etcd-endpoints://0xc000"));
    }
}
