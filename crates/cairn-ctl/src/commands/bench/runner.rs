//! Drives a benchmark: `--clients` concurrent requesters share `--total`
//! operations and the connections round-robin, paced to `--rate`
//! requests/s overall, each timing its requests. Failures are counted by
//! message and never stop the run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::etcdserverpb::kv_client::KvClient;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::report::Outcome;
use super::workload::{BenchRequest, Rng, Workload};
use crate::error::client_error_message;

/// How much to send and how fast.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub total: u64,
    pub clients: usize,
    /// Requests per second over all clients; 0 is unlimited.
    pub rate: u64,
}

/// Runs `workload` per `plan` over `channels`; `done` counts finished requests.
pub async fn run(
    channels: Vec<Channel>,
    workload: Arc<Workload>,
    plan: Plan,
    done: Arc<AtomicU64>,
) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(plan.clients);
    for c in 0..plan.clients {
        let kv = KvClient::new(channels[c % channels.len()].clone())
            .max_decoding_message_size(usize::MAX);
        let client = Client {
            kv,
            workload: workload.clone(),
            next: next.clone(),
            done: done.clone(),
            rng: Rng::from_clock(c as u64),
        };
        tasks.push(tokio::spawn(client.run(plan, start)));
    }
    Outcome::gather(tasks, start).await
}

/// One requester.
struct Client {
    kv: KvClient<Channel>,
    workload: Arc<Workload>,
    /// The next operation number to claim.
    next: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    rng: Rng,
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
                // Operation i is due i/rate seconds after the start.
                let due = Duration::from_secs_f64(index as f64 / plan.rate as f64);
                tokio::time::sleep_until(start + due).await;
            }
            let request = self.workload.request(index, &mut self.rng);
            let sent = Instant::now();
            match self.send(request).await {
                Ok(()) => latencies.push(sent.elapsed()),
                Err(status) => {
                    let message = client_error_message(status.code(), status.message());
                    *errors.entry(message).or_default() += 1;
                }
            }
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        Outcome {
            latencies,
            errors,
            elapsed: Duration::ZERO,
        }
    }

    async fn send(&mut self, request: BenchRequest) -> Result<(), tonic::Status> {
        match request {
            BenchRequest::Put(r) => self.kv.put(r).await.map(drop),
            BenchRequest::Range(r) => self.kv.range(r).await.map(drop),
            BenchRequest::Txn(r) => self.kv.txn(r).await.map(drop),
        }
    }
}
