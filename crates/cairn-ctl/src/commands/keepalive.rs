//! Lease keep-alives over the `LeaseKeepAlive` stream, timed like the Go
//! client's lessor: a renewal at once, the next a third of the TTL after
//! each answer, and the end of the keep-alive (the lease expired, was
//! revoked, or went unanswered past its deadline) closes the channel.

use std::time::Duration;

use cairn_proto::etcdserverpb::{LeaseKeepAliveRequest, LeaseKeepAliveResponse};
use futures::channel::mpsc as fmpsc;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::client::{lease, RpcError};
use crate::error::client_error_message;

/// The error the Go client reports for a lease the server does not know.
const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
/// How long the Go client waits before reopening a broken keep-alive stream.
const RETRY_WAIT: Duration = Duration::from_millis(500);

fn rpc_error(status: &tonic::Status) -> RpcError {
    RpcError {
        message: client_error_message(status.code(), status.message()),
    }
}

/// One renewal (`lease keep-alive --once`, clientv3's `KeepAliveOnce`).
pub async fn once(channel: Channel, id: i64) -> Result<LeaseKeepAliveResponse, RpcError> {
    let (mut tx, rx) = fmpsc::unbounded();
    let _ = tx.send(LeaseKeepAliveRequest { id }).await;
    let mut stream = lease(channel)
        .lease_keep_alive(rx)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    match stream.next().await {
        Some(Ok(resp)) if resp.ttl <= 0 => Err(RpcError {
            message: LEASE_NOT_FOUND.to_string(),
        }),
        Some(Ok(resp)) => Ok(resp),
        Some(Err(status)) => Err(rpc_error(&status)),
        None => Err(RpcError {
            message: "rpc error: code = Canceled desc = context canceled".to_string(),
        }),
    }
}

/// Keeps lease `id` alive in the background; each answer is passed on, and
/// the channel closes when the keep-alive ends. `first_timeout` is how long
/// the first answer may take (the Go client's dial timeout plus a second).
pub fn spawn(
    channel: Channel,
    id: i64,
    first_timeout: Duration,
) -> mpsc::UnboundedReceiver<LeaseKeepAliveResponse> {
    let (out, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(channel, id, first_timeout, out));
    rx
}

async fn run(
    channel: Channel,
    id: i64,
    first_timeout: Duration,
    out: mpsc::UnboundedSender<LeaseKeepAliveResponse>,
) {
    let mut deadline = Instant::now() + first_timeout;
    loop {
        // Nothing more is sent until an answer arrives.
        let mut next_send = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let (mut tx, rx) = fmpsc::unbounded();
        // The server answers the stream's opening only with its first
        // response, so the first request must already be queued.
        if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
            return;
        }
        let mut client = lease(channel.clone());
        let opened = tokio::time::timeout_at(deadline, client.lease_keep_alive(rx)).await;
        let mut stream = match opened {
            Err(_) => return,
            Ok(Ok(resp)) => resp.into_inner(),
            Ok(Err(_)) => {
                if Instant::now() + RETRY_WAIT >= deadline {
                    return;
                }
                tokio::time::sleep(RETRY_WAIT).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tokio::time::sleep_until(next_send) => {
                    if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
                        break;
                    }
                    next_send = Instant::now() + Duration::from_secs(365 * 24 * 3600);
                }
                item = stream.next() => match item {
                    Some(Ok(resp)) => {
                        if resp.ttl <= 0 {
                            return;
                        }
                        let ttl = Duration::from_secs(resp.ttl as u64);
                        next_send = Instant::now() + ttl / 3;
                        deadline = Instant::now() + ttl;
                        if out.send(resp).is_err() {
                            return;
                        }
                    }
                    _ => break,
                },
            }
        }
        // The stream broke: reopen it after a pause, keeping the deadline.
        tokio::time::sleep(RETRY_WAIT).await;
    }
}
