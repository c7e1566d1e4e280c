//! Watch streams of a fault run: watchers follow the register prefix from the
//! run's start revision through random members, reconnecting after any error
//! from the revision after the last one they saw; afterwards each stream is
//! compared with the committed history (`cairn_linearizability::check_watch_complete`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_linearizability::{check_watch_complete, Event, EventKind};
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::{WatchCreateRequest, WatchRequest};
use cairn_proto::mvccpb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::Client;
use crate::error::{HarnessError, Result};

/// The key prefix every register lives under, and its range end.
pub(crate) const PREFIX: &[u8] = b"reg/";
const PREFIX_END: &[u8] = b"reg0";

/// What one watcher received.
#[derive(Debug, Clone)]
pub struct WatchRecord {
    pub watcher: usize,
    /// Events in the order received, with their revisions.
    pub events: Vec<(i64, Event)>,
    /// How many times the stream was opened again after an error.
    pub reconnects: u32,
    /// Why the watcher stopped early (cancelled by the server, e.g. compacted).
    pub error: Option<String>,
}

/// When watchers stop: once `until` (0 = not known yet) is reached, or at once
/// when `give_up` is set.
#[derive(Debug, Clone, Default)]
pub(crate) struct WatchStop {
    pub until: Arc<AtomicI64>,
    pub give_up: Arc<AtomicBool>,
}

impl WatchStop {
    fn done(&self, next: i64) -> bool {
        let until = self.until.load(Ordering::SeqCst);
        (until != 0 && next > until) || self.give_up.load(Ordering::SeqCst)
    }
}

fn event(e: &mvccpb::Event) -> Option<(i64, Event)> {
    let kv = e.kv.as_ref()?;
    let kind = if e.r#type == mvccpb::event::EventType::Delete as i32 {
        EventKind::Delete
    } else {
        EventKind::Put
    };
    Some((
        kv.mod_revision,
        Event {
            kind,
            key: String::from_utf8_lossy(&kv.key).into_owned(),
            value: match kind {
                EventKind::Put => String::from_utf8_lossy(&kv.value).into_owned(),
                EventKind::Delete => String::new(),
            },
        },
    ))
}

fn create(start_revision: i64) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: PREFIX.to_vec(),
            range_end: PREFIX_END.to_vec(),
            start_revision,
            ..Default::default()
        })),
    }
}

/// One watcher: follows `reg/` from `from_revision` through random members
/// until `stop` says so.
pub(crate) async fn watch_loop(
    watcher: usize,
    seed: u64,
    endpoints: Vec<String>,
    from_revision: i64,
    stop: WatchStop,
) -> WatchRecord {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5741_5443_4845_5253 ^ watcher as u64);
    let mut record = WatchRecord {
        watcher,
        events: Vec::new(),
        reconnects: 0,
        error: None,
    };
    let mut next = from_revision;
    let mut first = true;
    while !stop.done(next) {
        if !first {
            record.reconnects += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        first = false;
        let endpoint = &endpoints[rng.gen_range(0..endpoints.len())];
        let Ok(client) = Client::connect_with_timeout(
            endpoint,
            Duration::from_millis(500),
            Duration::from_secs(5),
        )
        .await
        else {
            continue;
        };
        let (tx, rx) = mpsc::channel(1);
        if tx.send(create(next)).await.is_err() {
            continue;
        }
        let Ok(response) = client.watch.clone().watch(ReceiverStream::new(rx)).await else {
            continue;
        };
        let mut stream = response.into_inner();
        while !stop.done(next) {
            match tokio::time::timeout(Duration::from_millis(300), stream.message()).await {
                Err(_) => continue, // quiet: check whether to stop
                Ok(Ok(Some(resp))) => {
                    if resp.canceled {
                        if resp.compact_revision > 0 {
                            record.error = Some(format!(
                                "watch from {next} cancelled: compacted at {}",
                                resp.compact_revision
                            ));
                            return record;
                        }
                        break;
                    }
                    for e in resp.events.iter().filter_map(event) {
                        next = e.0 + 1;
                        record.events.push(e);
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => break,
            }
        }
        drop(tx);
    }
    record
}

/// The committed events under `reg/` from `from_revision` to `until`, read
/// with a fresh watch through `endpoint` (nothing is compacted during a run).
pub(crate) async fn committed_history(
    endpoints: &[String],
    from_revision: i64,
    until: i64,
    deadline: Duration,
) -> Result<Vec<(i64, Event)>> {
    let start = Instant::now();
    let mut last_error = String::from("no attempt");
    while start.elapsed() < deadline {
        for endpoint in endpoints {
            match read_history(endpoint, from_revision, until).await {
                Ok(events) => return Ok(events),
                Err(e) => last_error = format!("{endpoint}: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(HarnessError::Other(format!(
        "reading the committed history {from_revision}..={until}: {last_error}"
    )))
}

async fn read_history(endpoint: &str, from_revision: i64, until: i64) -> Result<Vec<(i64, Event)>> {
    let client =
        Client::connect_with_timeout(endpoint, Duration::from_secs(1), Duration::from_secs(5))
            .await?;
    let (tx, rx) = mpsc::channel(1);
    tx.send(create(from_revision))
        .await
        .map_err(|_| HarnessError::Other("watch request channel closed".into()))?;
    let mut stream = client
        .watch
        .clone()
        .watch(ReceiverStream::new(rx))
        .await
        .map_err(|s| HarnessError::Other(format!("Watch: {s}")))?
        .into_inner();
    let mut events = Vec::new();
    let mut next = from_revision;
    while next <= until {
        let resp = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .map_err(|_| HarnessError::Other(format!("no event after revision {next} for 10 s")))?
            .map_err(|s| HarnessError::Other(format!("watch stream: {s}")))?
            .ok_or_else(|| HarnessError::Other("watch stream ended".into()))?;
        if resp.canceled {
            return Err(HarnessError::Other(format!(
                "watch cancelled (compact revision {}): {}",
                resp.compact_revision, resp.cancel_reason
            )));
        }
        for e in resp.events.iter().filter_map(event) {
            next = e.0 + 1;
            events.push(e);
        }
    }
    drop(tx);
    events.retain(|(rev, _)| *rev <= until);
    Ok(events)
}

/// Checks every watcher against `committed`; returns one line per anomaly.
pub(crate) fn check_all(
    records: &[WatchRecord],
    committed: &[(i64, Event)],
    from_revision: i64,
    until: i64,
) -> Vec<String> {
    let mut anomalies = Vec::new();
    for r in records {
        if let Some(e) = &r.error {
            anomalies.push(format!("watcher {}: {e}", r.watcher));
            continue;
        }
        let observed: Vec<(i64, Event)> = r
            .events
            .iter()
            .filter(|(rev, _)| *rev <= until)
            .cloned()
            .collect();
        if let Err(a) = check_watch_complete(committed, &observed, from_revision) {
            anomalies.push(format!("watcher {}: {a}", r.watcher));
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(rev: i64, key: &str, value: &str) -> (i64, Event) {
        (
            rev,
            Event {
                kind: EventKind::Put,
                key: key.into(),
                value: value.into(),
            },
        )
    }

    fn record(events: Vec<(i64, Event)>) -> WatchRecord {
        WatchRecord {
            watcher: 0,
            events,
            reconnects: 0,
            error: None,
        }
    }

    #[test]
    fn streams_are_checked_against_the_committed_history() {
        let committed = vec![
            put(5, "reg/a", "1"),
            put(6, "reg/b", "2"),
            put(7, "reg/a", "3"),
        ];
        let exact = record(committed.clone());
        assert!(check_all(&[exact], &committed, 5, 7).is_empty());
        // Events after the checked range are ignored.
        let longer = record([committed.clone(), vec![put(8, "reg/c", "4")]].concat());
        assert!(check_all(&[longer], &committed, 5, 7).is_empty());

        let gap = record(vec![committed[0].clone(), committed[2].clone()]);
        let duplicate = record(vec![
            committed[0].clone(),
            committed[1].clone(),
            committed[1].clone(),
            committed[2].clone(),
        ]);
        let truncated = record(committed[..2].to_vec());
        let wrong = record(vec![
            committed[0].clone(),
            put(6, "reg/b", "x"),
            committed[2].clone(),
        ]);
        let mut cancelled = record(Vec::new());
        cancelled.error = Some("compacted".into());
        for bad in [gap, duplicate, truncated, wrong, cancelled] {
            let anomalies = check_all(std::slice::from_ref(&bad), &committed, 5, 7);
            assert_eq!(anomalies.len(), 1, "{bad:?} must be flagged");
        }
    }
}
