//! The etcd Watch service. Each client stream is served by one task that owns
//! the stream's watchers; each watcher remembers the next revision it needs and
//! pulls events from the store's watch feed (memory for recent revisions, the
//! `kv` table for older ones) whenever the revision moves. Nothing is pushed to
//! a watcher, so a slow or stalled client only stops its own stream: applies
//! and other streams never wait for it, and what it holds in memory is bounded
//! by the outgoing buffer below.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use cairn_mvcc::History;
use cairn_proto::etcdserverpb::watch_create_request::FilterType;
use cairn_proto::etcdserverpb::watch_request::RequestUnion;
use cairn_proto::etcdserverpb::watch_server::Watch;
use cairn_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use cairn_proto::mvccpb::event::EventType;
use cairn_proto::mvccpb::Event;
use prometheus::{IntCounter, IntGauge};
use prost::Message;
use tokio::sync::mpsc;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use crate::context::ServerContext;

/// Responses a stream may have queued for a client that is not reading.
const OUT_BUFFER: usize = 8;
/// Revisions sent in one response at most (etcd's `watchBatchMaxRevs`).
const MAX_REVISIONS_PER_RESPONSE: usize = 1000;
/// Once a catching-up response holds this many bytes of events, no further
/// revision is added (etcd has no such bound; it keeps a stalled stream's
/// memory small).
const MAX_BYTES_PER_READ: usize = 1 << 20;
/// etcd's client-side "no watch ID" (progress responses for the whole stream).
const INVALID_WATCH_ID: i64 = -1;

type Outbound = mpsc::Sender<Result<WatchResponse, Status>>;

pub struct WatchService {
    ctx: ServerContext,
    /// `--experimental-watch-progress-notify-interval` (etcd: 10 minutes).
    progress_interval: Duration,
}

impl WatchService {
    pub fn new(ctx: ServerContext, progress_interval: Duration) -> Self {
        WatchService {
            ctx,
            progress_interval,
        }
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<BoxStream<WatchResponse>>, Status> {
        self.ctx.check_leader(&request)?;
        self.ctx.refuse_on_learner()?;
        let require_leader = wants_leader(&request);
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(OUT_BUFFER);
        WATCH_METRICS.streams.inc();
        let stream = WatchStream {
            ctx: self.ctx.clone(),
            out: tx,
            watchers: BTreeMap::new(),
            counted_watchers: 0,
            next_auto_id: 0,
            require_leader,
        };
        tokio::spawn(stream.run(inbound, self.progress_interval));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// etcd's watch metrics: open streams and watchers, events sent.
pub struct WatchMetrics {
    streams: IntGauge,
    watchers: IntGauge,
    events: IntCounter,
}

pub static WATCH_METRICS: LazyLock<WatchMetrics> = LazyLock::new(|| WatchMetrics {
    streams: IntGauge::new(
        "etcd_debugging_mvcc_watch_stream_total",
        "Open watch streams.",
    )
    .expect("a valid gauge name"),
    watchers: IntGauge::new(
        "etcd_debugging_mvcc_watcher_total",
        "Watchers on all open watch streams.",
    )
    .expect("a valid gauge name"),
    events: IntCounter::new(
        "etcd_debugging_mvcc_events_total",
        "Events sent to watchers.",
    )
    .expect("a valid counter name"),
});

impl WatchMetrics {
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.streams.clone()))?;
        registry.register(Box::new(self.watchers.clone()))?;
        registry.register(Box::new(self.events.clone()))
    }
}

fn wants_leader<T>(req: &Request<T>) -> bool {
    req.metadata()
        .get("hasleader")
        .and_then(|v| v.to_str().ok())
        == Some("true")
}

/// Which keys a watcher covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyRange {
    Single(Vec<u8>),
    /// `[start, end)`; an empty `end` means no upper bound.
    Interval(Vec<u8>, Vec<u8>),
}

impl KeyRange {
    fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Single(k) => k.as_slice() == key,
            KeyRange::Interval(start, end) => {
                key >= start.as_slice() && (end.is_empty() || key < end.as_slice())
            }
        }
    }
}

#[derive(Debug)]
struct Watcher {
    range: KeyRange,
    /// The first revision this watcher has not seen yet.
    next_rev: i64,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    progress_notify: bool,
    fragment: bool,
    /// Whether events were sent since the last progress tick (etcd then
    /// skips that watcher's progress notification).
    sent_since_tick: bool,
    /// Caught up with the store (etcd's synced group) rather than catching up.
    synced: bool,
}

impl Watcher {
    fn wants(&self, event: &Event) -> bool {
        let is_put = event.r#type == EventType::Put as i32;
        if (is_put && self.no_put) || (!is_put && self.no_delete) {
            return false;
        }
        event
            .kv
            .as_ref()
            .is_some_and(|kv| self.range.contains(&kv.key))
    }
}

struct WatchStream {
    ctx: ServerContext,
    out: Outbound,
    watchers: BTreeMap<i64, Watcher>,
    /// How many of `watchers` the watcher gauge counts.
    counted_watchers: i64,
    next_auto_id: i64,
    require_leader: bool,
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        WATCH_METRICS.streams.dec();
        WATCH_METRICS.watchers.sub(self.counted_watchers);
    }
}

/// Why a stream stopped: the client went away (or the stream must end with an error
/// that was already sent).
struct Closed;

impl WatchStream {
    async fn run(mut self, mut inbound: Streaming<WatchRequest>, progress_interval: Duration) {
        let store = self.ctx.node.store().clone();
        let mut revisions = store.subscribe();
        let mut progress = tokio::time::interval_at(
            tokio::time::Instant::now() + progress_interval,
            progress_interval,
        );
        let mut leader_check = tokio::time::interval(Duration::from_millis(500));
        let mut leaderless_since: Option<Instant> = None;
        let out = self.out.clone();
        let mut requests_open = true;
        loop {
            let behind = match self.deliver_once().await {
                Ok(behind) => behind,
                Err(Closed) => return,
            };
            let step = tokio::select! {
                msg = inbound.message(), if requests_open => match msg {
                    Ok(Some(req)) => self.handle(req).await,
                    // The client sent its last request (half-close): as
                    // etcd, its watchers go on until it goes away.
                    Ok(None) => {
                        requests_open = false;
                        Ok(())
                    }
                    Err(_) => Err(Closed),
                },
                changed = revisions.changed() => changed.map_err(|_| Closed),
                _ = progress.tick() => self.progress_tick().await,
                _ = leader_check.tick(), if self.require_leader => {
                    self.check_leader(&mut leaderless_since).await
                }
                _ = out.closed() => Err(Closed),
                _ = std::future::ready(()), if behind => Ok(()),
            };
            if step.is_err() {
                return;
            }
            self.count_watchers();
        }
    }

    /// Brings the watcher gauge up to date with this stream's watchers.
    fn count_watchers(&mut self) {
        let now = self.watchers.len() as i64;
        if now != self.counted_watchers {
            WATCH_METRICS.watchers.add(now - self.counted_watchers);
            self.counted_watchers = now;
        }
    }

    async fn send(&self, resp: WatchResponse) -> Result<(), Closed> {
        self.out.send(Ok(resp)).await.map_err(|_| Closed)
    }

    /// A stream that asked for a leader ends with etcd's "no leader" once the
    /// member has had none for three election timeouts (etcd's `monitorLeader`).
    async fn check_leader(&self, since: &mut Option<Instant>) -> Result<(), Closed> {
        if self.ctx.node.has_leader() {
            *since = None;
            return Ok(());
        }
        let started = *since.get_or_insert_with(Instant::now);
        if started.elapsed() >= self.ctx.election_timeout * 3 {
            let _ = self
                .out
                .send(Err(Status::unavailable("etcdserver: no leader")))
                .await;
            return Err(Closed);
        }
        Ok(())
    }

    async fn handle(&mut self, req: WatchRequest) -> Result<(), Closed> {
        let store = self.ctx.node.store();
        match req.request_union {
            Some(RequestUnion::CreateRequest(create)) => {
                let current = store.current_revision();
                let resp = match self.create(create, current) {
                    Ok(id) => WatchResponse {
                        header: Some(self.ctx.header(current)),
                        watch_id: id,
                        created: true,
                        ..Default::default()
                    },
                    Err(reason) => WatchResponse {
                        header: Some(self.ctx.header(current)),
                        watch_id: -1,
                        created: true,
                        canceled: true,
                        cancel_reason: reason.to_string(),
                        ..Default::default()
                    },
                };
                self.send(resp).await
            }
            Some(RequestUnion::CancelRequest(cancel)) => {
                if self.watchers.remove(&cancel.watch_id).is_some() {
                    let header = self.ctx.header(store.current_revision());
                    self.send(WatchResponse {
                        header: Some(header),
                        watch_id: cancel.watch_id,
                        canceled: true,
                        ..Default::default()
                    })
                    .await?;
                }
                Ok(())
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                let header = self.ctx.header(store.current_revision());
                self.send(WatchResponse {
                    header: Some(header),
                    watch_id: INVALID_WATCH_ID,
                    ..Default::default()
                })
                .await
            }
            None => Ok(()),
        }
    }

    /// Registers a watcher as etcd's `watchStream.Watch` does; the error is
    /// the cancel reason etcd gives.
    fn create(&mut self, c: WatchCreateRequest, current: i64) -> Result<i64, &'static str> {
        let range = match c.range_end.as_slice() {
            [] => KeyRange::Single(c.key),
            [0] => KeyRange::Interval(c.key, Vec::new()),
            end => {
                if c.key.as_slice() >= end {
                    return Err("mvcc: watcher range is empty");
                }
                KeyRange::Interval(c.key, c.range_end)
            }
        };
        let id = if c.watch_id == 0 {
            while self.watchers.contains_key(&self.next_auto_id) {
                self.next_auto_id += 1;
            }
            self.next_auto_id += 1;
            self.next_auto_id - 1
        } else if self.watchers.contains_key(&c.watch_id) {
            return Err("mvcc: duplicate watch ID provided on the WatchStream");
        } else {
            c.watch_id
        };
        let next_rev = if c.start_revision == 0 || c.start_revision > current {
            c.start_revision.max(current + 1)
        } else {
            c.start_revision
        };
        let has = |f: FilterType| c.filters.contains(&(f as i32));
        self.watchers.insert(
            id,
            Watcher {
                range,
                next_rev,
                no_put: has(FilterType::Noput),
                no_delete: has(FilterType::Nodelete),
                prev_kv: c.prev_kv,
                progress_notify: c.progress_notify,
                fragment: c.fragment,
                sent_since_tick: false,
                synced: next_rev > current,
            },
        );
        Ok(id)
    }

    /// Sends every watcher that is behind one batch of its events. Returns
    /// whether some watcher is still behind afterwards.
    async fn deliver_once(&mut self) -> Result<bool, Closed> {
        let store = self.ctx.node.store().clone();
        let current = store.current_revision();
        let due: Vec<i64> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.next_rev <= current)
            .map(|(id, _)| *id)
            .collect();
        let mut behind = false;
        for id in due {
            let Some(w) = self.watchers.get(&id) else {
                continue;
            };
            let history =
                match store.history(w.next_rev, MAX_REVISIONS_PER_RESPONSE, MAX_BYTES_PER_READ) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!("watch {id}: reading history failed: {e}");
                        let _ = self.out.send(Err(Status::internal(e.to_string()))).await;
                        return Err(Closed);
                    }
                };
            match history {
                History::Compacted(compact) => {
                    self.watchers.remove(&id);
                    // etcd's cancel for a compacted watcher carries no revision.
                    self.send(WatchResponse {
                        header: Some(self.ctx.header(0)),
                        watch_id: id,
                        canceled: true,
                        compact_revision: compact,
                        ..Default::default()
                    })
                    .await?;
                }
                History::Events {
                    revisions,
                    through,
                    current: now,
                } => {
                    // A synced watcher gets one response per revision, stamped
                    // with that revision; one catching up gets its backlog in
                    // one response stamped with the current revision (as etcd).
                    let synced = w.synced;
                    let mut batches: Vec<(i64, Vec<Event>)> = Vec::new();
                    for rev in &revisions {
                        let matching: Vec<Event> =
                            rev.events.iter().filter(|e| w.wants(e)).cloned().collect();
                        if matching.is_empty() {
                            continue;
                        }
                        match batches.last_mut() {
                            Some((_, events)) if !synced => events.extend(matching),
                            _ => batches.push((if synced { rev.revision } else { now }, matching)),
                        }
                    }
                    if w.prev_kv {
                        for e in batches.iter_mut().flat_map(|(_, events)| events.iter_mut()) {
                            if let Some(kv) = &e.kv {
                                e.prev_kv = store.value_at(&kv.key, kv.mod_revision - 1);
                            }
                        }
                    }
                    let fragment = w.fragment;
                    if let Some(w) = self.watchers.get_mut(&id) {
                        w.next_rev = through + 1;
                        let caught_up = w.next_rev > now;
                        behind |= !caught_up;
                        // Far behind: deliver in batches until caught up again.
                        w.synced = caught_up || (w.synced && now - through < 1000);
                        if !batches.is_empty() {
                            w.sent_since_tick = true;
                        }
                    }
                    for (revision, events) in batches {
                        WATCH_METRICS.events.inc_by(events.len() as u64);
                        let resp = WatchResponse {
                            header: Some(self.ctx.header(revision)),
                            watch_id: id,
                            events,
                            ..Default::default()
                        };
                        if fragment {
                            for part in fragments(resp, self.ctx.max_request_bytes as usize) {
                                self.send(part).await?;
                            }
                        } else {
                            self.send(resp).await?;
                        }
                    }
                }
            }
        }
        Ok(behind)
    }

    /// etcd's periodic progress notification: an empty response carrying the
    /// current revision to each caught-up watcher that asked for them and got
    /// no events since the last tick.
    async fn progress_tick(&mut self) -> Result<(), Closed> {
        let current = self.ctx.node.store().current_revision();
        let mut due = Vec::new();
        for (id, w) in &mut self.watchers {
            if w.progress_notify && !w.sent_since_tick && w.next_rev > current {
                due.push(*id);
            }
            w.sent_since_tick = false;
        }
        for id in due {
            self.send(WatchResponse {
                header: Some(self.ctx.header(current)),
                watch_id: id,
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }
}

/// Splits a response whose encoding exceeds `limit` bytes into several, each
/// with at least one event; all but the last are marked `fragment`.
fn fragments(resp: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    if resp.encoded_len() <= limit || resp.events.len() < 2 {
        return vec![resp];
    }
    let mut template = resp;
    let events = std::mem::take(&mut template.events);
    let empty_size = template.encoded_len();
    let mut parts = Vec::new();
    let mut current = template.clone();
    let mut size = empty_size;
    for event in events {
        // An event costs its bytes plus a tag and a length prefix.
        let event_size = event.encoded_len() + 6;
        if !current.events.is_empty() && size + event_size > limit {
            let mut full = std::mem::replace(&mut current, template.clone());
            full.fragment = true;
            parts.push(full);
            size = empty_size;
        }
        size += event_size;
        current.events.push(event);
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::mvccpb::KeyValue;

    fn put(key: &str, value_len: usize) -> Event {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(KeyValue {
                key: key.as_bytes().to_vec(),
                value: vec![b'x'; value_len],
                ..Default::default()
            }),
            prev_kv: None,
        }
    }

    #[test]
    fn key_ranges_match_like_etcd() {
        let single = KeyRange::Single(b"a".to_vec());
        assert!(single.contains(b"a") && !single.contains(b"ab"));
        let from = KeyRange::Interval(b"b".to_vec(), Vec::new());
        assert!(from.contains(b"b") && from.contains(b"zzz") && !from.contains(b"a"));
        let span = KeyRange::Interval(b"b".to_vec(), b"d".to_vec());
        assert!(span.contains(b"c") && !span.contains(b"d"));
    }

    #[test]
    fn large_responses_are_fragmented_in_order() {
        let resp = WatchResponse {
            watch_id: 3,
            events: (0..10).map(|i| put(&format!("k{i}"), 100)).collect(),
            ..Default::default()
        };
        let parts = fragments(resp.clone(), 350);
        assert!(parts.len() > 1);
        assert!(parts[..parts.len() - 1].iter().all(|p| p.fragment));
        assert!(!parts[parts.len() - 1].fragment);
        assert!(parts
            .iter()
            .all(|p| p.watch_id == 3 && !p.events.is_empty()));
        let joined: Vec<Event> = parts.into_iter().flat_map(|p| p.events).collect();
        assert_eq!(joined, resp.events);
        assert_eq!(fragments(resp.clone(), 1 << 20), vec![resp]);
    }

    #[test]
    fn filters_and_ranges_decide_what_a_watcher_gets() {
        let w = Watcher {
            range: KeyRange::Interval(b"a".to_vec(), b"c".to_vec()),
            next_rev: 1,
            no_put: true,
            no_delete: false,
            prev_kv: false,
            progress_notify: false,
            fragment: false,
            sent_since_tick: false,
            synced: true,
        };
        let mut del = put("b", 0);
        del.r#type = EventType::Delete as i32;
        assert!(w.wants(&del));
        assert!(!w.wants(&put("b", 1)));
        let mut outside = del.clone();
        outside.kv.as_mut().unwrap().key = b"c".to_vec();
        assert!(!w.wants(&outside));
    }
}
