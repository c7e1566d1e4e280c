//! The `lease-keepalive` workload (etcd `tools/benchmark`'s
//! `lease-keepalive`): each of `--clients` clients grants itself one lease,
//! opens a LeaseKeepAlive stream, then renews its lease over that stream,
//! one request at a time, until `--total` renewals are done. Each renewal
//! is timed from sending the request to receiving its answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::etcdserverpb::{
    lease_client::LeaseClient, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseRevokeRequest,
};
use futures::channel::mpsc as fmpsc;
use futures::StreamExt;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::Streaming;

use super::report::Outcome;
use super::runner::Plan;
use crate::client::lease;
use crate::error::client_error_message;

/// The TTL of each client's lease, in seconds (etcd's benchmark uses 100).
pub const LEASE_TTL: i64 = 100;

/// How long one renewal may take before it counts as failed.
const RENEWAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the workload per `plan` over `channels`; `done` counts renewals.
pub async fn run(channels: Vec<Channel>, plan: Plan, done: Arc<AtomicU64>) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(plan.clients);
    for c in 0..plan.clients {
        let client = Client {
            lease: lease(channels[c % channels.len()].clone()),
            id: None,
            stream: None,
            next: next.clone(),
            done: done.clone(),
        };
        tasks.push(tokio::spawn(client.run(plan, start)));
    }
    Outcome::gather(tasks, start).await
}

/// An open keep-alive stream: where requests go and answers come from.
struct Stream {
    requests: fmpsc::UnboundedSender<LeaseKeepAliveRequest>,
    responses: Streaming<LeaseKeepAliveResponse>,
}

/// One client with its lease and stream, both made on first use and again
/// after a failure.
struct Client {
    lease: LeaseClient<Channel>,
    id: Option<i64>,
    stream: Option<Stream>,
    next: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
}

impl Client {
    async fn run(mut self, plan: Plan, start: Instant) -> Outcome {
        let mut latencies = Vec::new();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= plan.total {
                break;
            }
            if plan.rate > 0 {
                let due = Duration::from_secs_f64(index as f64 / plan.rate as f64);
                tokio::time::sleep_until(start + due).await;
            }
            match self.renew().await {
                Ok(latency) => latencies.push(latency),
                Err(message) => {
                    // Start over with a new stream (and lease, if it is gone).
                    self.stream = None;
                    *errors.entry(message).or_default() += 1;
                }
            }
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        self.stream = None;
        if let Some(id) = self.id {
            // Best effort: leave no lease behind to expire later.
            let _ = self.lease.lease_revoke(LeaseRevokeRequest { id }).await;
        }
        Outcome {
            latencies,
            errors,
            elapsed: Duration::ZERO,
        }
    }

    /// Grants the lease if there is none yet and returns its id.
    async fn lease_id(&mut self) -> Result<i64, String> {
        if let Some(id) = self.id {
            return Ok(id);
        }
        let grant = LeaseGrantRequest {
            ttl: LEASE_TTL,
            id: 0,
        };
        let resp = self
            .lease
            .lease_grant(grant)
            .await
            .map_err(|s| client_error_message(s.code(), s.message()))?
            .into_inner();
        if !resp.error.is_empty() {
            return Err(resp.error);
        }
        self.id = Some(resp.id);
        Ok(resp.id)
    }

    /// One timed renewal. The first one on a stream also opens it: the
    /// server answers the opening only with its first response, so the
    /// request is queued before the stream is opened.
    async fn renew(&mut self) -> Result<Duration, String> {
        let id = self.lease_id().await?;
        let sent = Instant::now();
        let request = LeaseKeepAliveRequest { id };
        let stream = match &mut self.stream {
            Some(stream) => {
                stream
                    .requests
                    .unbounded_send(request)
                    .map_err(|_| "keep-alive stream closed".to_string())?;
                stream
            }
            None => {
                let (requests, rx) = fmpsc::unbounded();
                requests
                    .unbounded_send(request)
                    .map_err(|_| "keep-alive stream closed".to_string())?;
                let opened =
                    tokio::time::timeout(RENEWAL_TIMEOUT, self.lease.lease_keep_alive(rx)).await;
                let responses = match opened {
                    Ok(Ok(r)) => r.into_inner(),
                    Ok(Err(s)) => return Err(client_error_message(s.code(), s.message())),
                    Err(_) => return Err("keep-alive stream not opened in time".into()),
                };
                self.stream.insert(Stream {
                    requests,
                    responses,
                })
            }
        };
        let answer = tokio::time::timeout(RENEWAL_TIMEOUT, stream.responses.next()).await;
        let latency = sent.elapsed();
        match answer {
            Ok(Some(Ok(resp))) if resp.ttl <= 0 => {
                // The lease is gone (expired or revoked): grant a new one.
                self.id = None;
                Err("etcdserver: requested lease not found".into())
            }
            Ok(Some(Ok(_))) => Ok(latency),
            Ok(Some(Err(s))) => Err(client_error_message(s.code(), s.message())),
            Ok(None) => Err("keep-alive stream closed by the server".into()),
            Err(_) => Err(format!("no keep-alive answer within {RENEWAL_TIMEOUT:?}")),
        }
    }
}
