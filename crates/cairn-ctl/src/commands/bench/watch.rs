//! The `watch` workload (etcd `tools/benchmark`'s `watch-latency`):
//! `--watchers` watchers of one key, spread over `--streams` Watch streams,
//! and one writer putting that key `--total` times at `--put-rate` puts/s.
//! Each (put, watcher) pair is one result: the time from the put's
//! acknowledgement to the event's arrival on the watcher's stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::etcdserverpb::{
    kv_client::KvClient, watch_client::WatchClient, watch_request, PutRequest, WatchCreateRequest,
    WatchRequest,
};
use futures::StreamExt;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::report::Outcome;
use super::workload::Rng;
use crate::error::{client_error_message, CtlError};

/// How long events may trail the last put before they count as lost.
const DELIVERY_GRACE: Duration = Duration::from_secs(10);

/// The shape of a watch run.
#[derive(Clone, Copy, Debug)]
pub struct WatchPlan {
    pub puts: u64,
    pub watchers: usize,
    pub streams: usize,
    /// Puts per second; 0 is unlimited.
    pub put_rate: u64,
    pub val_size: usize,
}

/// Events seen by one stream: (mod revision, arrival), one per watcher.
type Arrivals = Arc<Mutex<Vec<(i64, Instant)>>>;

/// Runs the workload; `done` counts delivered events.
pub async fn run(
    channels: Vec<Channel>,
    plan: WatchPlan,
    done: Arc<AtomicU64>,
) -> Result<Outcome, CtlError> {
    let mut rng = Rng::from_clock(0);
    let key = format!("cairn-bench-watch/{:016x}", rng.next_u64()).into_bytes();
    let streams = plan.streams.min(plan.watchers);

    // Open the streams and wait until every watcher is created.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(streams);
    let mut tasks = Vec::new();
    let mut arrivals = Vec::new();
    for s in 0..streams {
        let watchers = plan.watchers / streams + usize::from(s < plan.watchers % streams);
        let seen: Arrivals = Arc::default();
        arrivals.push(seen.clone());
        let channel = channels[s % channels.len()].clone();
        let task = watch_stream(
            channel,
            key.clone(),
            watchers,
            seen,
            done.clone(),
            ready_tx.clone(),
        );
        tasks.push(tokio::spawn(task));
    }
    drop(ready_tx);
    for _ in 0..streams {
        match tokio::time::timeout(DELIVERY_GRACE, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(CtlError::error(format!("cannot watch: {e}"))),
            Ok(None) | Err(_) => {
                return Err(CtlError::error("cannot watch: watchers were not created"))
            }
        }
    }

    // Put the key, remembering when each revision was acknowledged.
    let mut kv = KvClient::new(channels[0].clone());
    let value = rng.bytes(plan.val_size);
    let mut acks: HashMap<i64, Instant> = HashMap::new();
    let mut outcome = Outcome::default();
    let start = Instant::now();
    for i in 0..plan.puts {
        if plan.put_rate > 0 {
            let due = Duration::from_secs_f64(i as f64 / plan.put_rate as f64);
            tokio::time::sleep_until(start + due).await;
        }
        let put = PutRequest {
            key: key.clone(),
            value: value.clone(),
            ..Default::default()
        };
        match kv.put(put).await {
            Ok(resp) => {
                let rev = resp.into_inner().header.map_or(0, |h| h.revision);
                acks.insert(rev, Instant::now());
            }
            Err(status) => {
                let message = client_error_message(status.code(), status.message());
                *outcome.errors.entry(message).or_default() += 1;
            }
        }
    }

    // Wait for the events, then stop the streams.
    let expected = acks.len() as u64 * plan.watchers as u64;
    let deadline = Instant::now() + DELIVERY_GRACE;
    while done.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        if let Ok(Err(message)) = task.await {
            *outcome.errors.entry(message).or_default() += 1;
        }
    }
    outcome.elapsed = start.elapsed();

    let mut delivered = 0u64;
    for seen in arrivals {
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        for (rev, arrival) in seen {
            if let Some(ack) = acks.get(&rev) {
                outcome
                    .latencies
                    .push(arrival.saturating_duration_since(*ack));
                delivered += 1;
            }
        }
    }
    if delivered < expected {
        let lost = format!("event not delivered within {DELIVERY_GRACE:?} of the last put");
        *outcome.errors.entry(lost).or_default() += expected - delivered;
    }
    Ok(outcome)
}

/// One Watch stream with `watchers` watchers of `key`: reports readiness
/// once all are created, then records every event's arrival in `seen`.
/// Returns the reason the stream ended early, if it did.
async fn watch_stream(
    channel: Channel,
    key: Vec<u8>,
    watchers: usize,
    seen: Arrivals,
    done: Arc<AtomicU64>,
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
) -> Result<(), String> {
    let mut ready = Some(ready);
    let result = watch_events(key, watchers, channel, &seen, &done, &mut ready).await;
    if let (Err(message), Some(ready)) = (&result, ready) {
        let _ = ready.send(Err(message.clone())).await;
    }
    result
}

/// The body of `watch_stream`; takes `ready` and reports success on it once
/// every watcher is created.
async fn watch_events(
    key: Vec<u8>,
    watchers: usize,
    channel: Channel,
    seen: &Arrivals,
    done: &AtomicU64,
    ready: &mut Option<tokio::sync::mpsc::Sender<Result<(), String>>>,
) -> Result<(), String> {
    let creates: Vec<WatchRequest> = (0..watchers)
        .map(|_| WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: key.clone(),
                    ..Default::default()
                },
            )),
        })
        .collect();
    // Keep the request side open: a finished stream would half-close it.
    let requests = futures::stream::iter(creates).chain(futures::stream::pending());
    let mut client = WatchClient::new(channel).max_decoding_message_size(usize::MAX);
    let status_message =
        |status: tonic::Status| client_error_message(status.code(), status.message());
    let mut responses = client
        .watch(requests)
        .await
        .map_err(status_message)?
        .into_inner();
    let mut created = 0;
    loop {
        let response = match responses.message().await {
            Ok(Some(r)) => r,
            Ok(None) => return Err("watch stream closed by the server".into()),
            Err(status) => return Err(status_message(status)),
        };
        let arrival = Instant::now();
        if response.created {
            created += 1;
            if created == watchers {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(())).await;
                }
            }
        }
        if response.canceled {
            return Err(format!("watch canceled: {}", response.cancel_reason));
        }
        if response.events.is_empty() {
            continue;
        }
        if let Ok(mut seen) = seen.lock() {
            for event in &response.events {
                if let Some(kv) = &event.kv {
                    seen.push((kv.mod_revision, arrival));
                }
            }
        }
        done.fetch_add(response.events.len() as u64, Ordering::Relaxed);
    }
}
