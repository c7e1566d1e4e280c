//! The gRPC connections a benchmark shares among its clients: `--conns`
//! channels dialed round-robin over `--endpoints`, with the TLS and
//! keepalive settings of cairnctl's global flags.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::client::ConnectionSettings;
use crate::error::CtlError;

/// The part of an endpoint after its scheme (gRPC's authority).
fn host_port(endpoint: &str) -> &str {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .trim_end_matches('/')
}

fn endpoint(settings: &ConnectionSettings, target: &str) -> Result<Endpoint, CtlError> {
    let secure = target.starts_with("https://")
        || (!target.starts_with("http://") && settings.tls.is_some());
    let scheme = if secure { "https" } else { "http" };
    let uri = format!("{scheme}://{}", host_port(target));
    let bad = |e: tonic::transport::Error| CtlError::bad_args(format!("{target}: {e}"));
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(bad)?
        .http2_keep_alive_interval(
            settings
                .keepalive_time
                .to_std()
                .max(Duration::from_secs(10)),
        )
        .keep_alive_timeout(settings.keepalive_timeout.to_std())
        .tcp_nodelay(true);
    if secure {
        endpoint = endpoint
            .tls_config(settings.tls.clone().unwrap_or_default())
            .map_err(bad)?;
    }
    Ok(endpoint)
}

/// Dials `count` connections, connection i to endpoint `i % endpoints`,
/// each within the dial timeout.
pub async fn connect_all(
    settings: &ConnectionSettings,
    count: usize,
) -> Result<Vec<Channel>, CtlError> {
    if settings.endpoints.is_empty() {
        return Err(CtlError::bad_args("no endpoints given"));
    }
    let mut channels = Vec::with_capacity(count);
    for i in 0..count {
        let target = &settings.endpoints[i % settings.endpoints.len()];
        let endpoint = endpoint(settings, target)?;
        let dial = endpoint.connect();
        let channel = match tokio::time::timeout(settings.dial_timeout.to_std(), dial).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => {
                let cause = with_causes(&e);
                return Err(CtlError::error(format!(
                    "cannot connect to {target}: {cause}"
                )));
            }
            Err(_) => {
                return Err(CtlError::error(format!(
                    "cannot connect to {target}: context deadline exceeded"
                )))
            }
        };
        channels.push(channel);
    }
    Ok(channels)
}

/// An error and its chain of causes, `outer: inner: ...`.
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
