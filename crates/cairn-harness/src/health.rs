//! Readiness probing over etcd's HTTP `/health` endpoint on the client port.
//!
//! A tiny HTTP/1.0 GET over a raw TCP stream is enough here (no HTTP client
//! dependency): the server answers and closes, the body is etcd's JSON
//! `{"health":"true","reason":""}`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one `/health` probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthProbe {
    /// 200-or-not answer whose JSON body had `"health":"true"`.
    Healthy,
    /// The server answered, but not healthy; carries the status line and body.
    Unhealthy(String),
    /// No answer (refused, timed out, malformed).
    Unreachable(String),
}

impl std::fmt::Display for HealthProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthProbe::Healthy => write!(f, "healthy"),
            HealthProbe::Unhealthy(s) => write!(f, "unhealthy: {s}"),
            HealthProbe::Unreachable(s) => write!(f, "unreachable: {s}"),
        }
    }
}

/// GETs `http://127.0.0.1:<port>/health` once, giving up after `timeout`.
pub async fn probe_health(port: u16, timeout: Duration) -> HealthProbe {
    probe_health_at("127.0.0.1", port, timeout).await
}

/// GETs `http://<host>:<port>/health` once, giving up after `timeout`.
pub async fn probe_health_at(host: &str, port: u16, timeout: Duration) -> HealthProbe {
    match tokio::time::timeout(timeout, http_get_at(host, port, "/health")).await {
        Err(_) => HealthProbe::Unreachable(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => HealthProbe::Unreachable(e.to_string()),
        Ok(Ok(response)) => classify(&response),
    }
}

/// Decides health from a raw HTTP response.
fn classify(response: &str) -> HealthProbe {
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
    let status_line = head.lines().next().unwrap_or("").to_string();
    let healthy = serde_json::from_str::<serde_json::Value>(body.trim())
        .ok()
        .and_then(|v| {
            v.get("health")
                .and_then(|h| h.as_str().map(|s| s == "true"))
        })
        .unwrap_or(false);
    if healthy {
        HealthProbe::Healthy
    } else {
        HealthProbe::Unhealthy(format!("{status_line} {}", body.trim()))
    }
}

/// Plain HTTP/1.0 GET on loopback; returns the whole response as text.
pub async fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    http_get_at("127.0.0.1", port, path).await
}

/// Plain HTTP/1.0 GET to `host:port`; returns the whole response as text.
pub async fn http_get_at(host: &str, port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect((host, port)).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_etcd_answers() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n{\"health\":\"true\",\"reason\":\"\"}";
        assert_eq!(classify(ok), HealthProbe::Healthy);
        let no_leader = "HTTP/1.1 503 Service Unavailable\r\n\r\n{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}";
        assert!(
            matches!(classify(no_leader), HealthProbe::Unhealthy(s) if s.contains("NO LEADER"))
        );
        assert!(matches!(classify("garbage"), HealthProbe::Unhealthy(_)));
    }
}
