//! The client side of the Watch service as etcd's Go client presents it:
//! one gRPC stream (opened with `hasleader`, like `WithRequireLeader`, unless
//! asked not to) carrying any number of watchers, creation answers hidden, progress
//! notifications broadcast, a compaction or a lost leader delivered as a
//! final canceled response, and a broken stream reopened with every watcher
//! resumed after the last revision it saw.

use std::collections::VecDeque;
use std::time::Duration;

use cairn_proto::etcdserverpb::{
    watch_request, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};
use futures::channel::mpsc as fmpsc;
use futures::StreamExt;
use tonic::Streaming;

use crate::client::{watch, Client};
use crate::error::client_error_message;
use crate::printer::Watched;

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const FUTURE_REV: &str = "etcdserver: mvcc: required revision is a future revision";
const NO_LEADER: &str = "etcdserver: no leader";

/// What a watcher receives.
#[derive(Debug)]
pub enum Update {
    /// A response for watcher `.0`; `.2` is `resp.Err()` of a final,
    /// canceled response (after which the watcher is gone).
    Response(usize, Watched, Option<String>),
    /// Watcher `.0` ended without a final response.
    Closed(usize),
}

struct Watcher {
    create: WatchCreateRequest,
    /// The server's ID for it on the current stream.
    id: Option<i64>,
    done: bool,
}

/// The watch stream of one client.
pub struct Watches {
    client: Client,
    tx: Option<fmpsc::UnboundedSender<WatchRequest>>,
    stream: Option<Streaming<WatchResponse>>,
    watchers: Vec<Watcher>,
    /// Watchers whose creation the server has yet to confirm, in order.
    pending: VecDeque<usize>,
    /// Updates decided but not handed out yet.
    queue: VecDeque<Update>,
    /// Opened with `hasleader` (etcdctl's `watch`; not `make-mirror`).
    require_leader: bool,
}

fn create_request(create: &WatchCreateRequest) -> WatchRequest {
    WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(create.clone())),
    }
}

impl Watches {
    pub fn new(client: Client) -> Self {
        Watches {
            client,
            tx: None,
            stream: None,
            watchers: Vec::new(),
            pending: VecDeque::new(),
            queue: VecDeque::new(),
            require_leader: true,
        }
    }

    /// Without `hasleader`: the stream stays open while the member has no
    /// leader (clientv3's `Watch` without `WithRequireLeader`).
    pub fn without_leader_requirement(mut self) -> Self {
        self.require_leader = false;
        self
    }

    /// Whether any watcher is still running.
    pub fn active(&self) -> bool {
        self.watchers.iter().any(|w| !w.done)
    }

    /// Opens the stream with `first` as its first request (etcd answers the
    /// opening only with its first response, so a request must be queued).
    async fn open(&mut self, first: Vec<WatchRequest>) {
        loop {
            let channel = match self.client.channel().await {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let (tx, rx) = fmpsc::unbounded();
            for req in &first {
                let _ = tx.unbounded_send(req.clone());
            }
            let mut request = tonic::Request::new(rx);
            if self.require_leader {
                request.metadata_mut().insert(
                    "hasleader",
                    tonic::metadata::MetadataValue::from_static("true"),
                );
            }
            match watch(channel).watch(request).await {
                Ok(resp) => {
                    self.tx = Some(tx);
                    self.stream = Some(resp.into_inner());
                    return;
                }
                Err(status) => {
                    if self.stream_failed(&status) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    fn send(&mut self, req: WatchRequest) -> bool {
        match &self.tx {
            Some(tx) => tx.unbounded_send(req).is_ok(),
            None => false,
        }
    }

    /// Starts a watcher and returns its index.
    pub async fn add(&mut self, create: WatchCreateRequest) -> usize {
        let index = self.watchers.len();
        self.watchers.push(Watcher {
            create: create.clone(),
            id: None,
            done: false,
        });
        self.pending.push_back(index);
        let req = create_request(&create);
        if self.stream.is_none() || !self.send(req.clone()) {
            let all = self.resume_requests();
            self.open(all).await;
        }
        index
    }

    /// Asks the server for a progress notification on every watcher.
    pub async fn request_progress(&mut self) {
        let req = WatchRequest {
            request_union: Some(watch_request::RequestUnion::ProgressRequest(
                WatchProgressRequest {},
            )),
        };
        if self.stream.is_none() || !self.send(req.clone()) {
            let mut all = self.resume_requests();
            all.push(req);
            self.open(all).await;
        }
    }

    /// Create requests for every live watcher (a new stream), in order.
    fn resume_requests(&mut self) -> Vec<WatchRequest> {
        self.pending.clear();
        let mut reqs = Vec::new();
        for (i, w) in self.watchers.iter_mut().enumerate() {
            w.id = None;
            if !w.done {
                self.pending.push_back(i);
                reqs.push(create_request(&w.create));
            }
        }
        reqs
    }

    /// Handles a failed stream; returns true when the watchers were ended
    /// (a halting error, as the Go client judges it) rather than resumed.
    fn stream_failed(&mut self, status: &tonic::Status) -> bool {
        self.tx = None;
        self.stream = None;
        self.client.reset();
        let message = client_error_message(status.code(), status.message());
        let halt = !matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Internal
        ) || message == NO_LEADER;
        if !halt {
            return false;
        }
        for (i, w) in self.watchers.iter_mut().enumerate() {
            if !w.done {
                w.done = true;
                let resp = Watched {
                    canceled: true,
                    ..Default::default()
                };
                self.queue
                    .push_back(Update::Response(i, resp, Some(message.clone())));
            }
        }
        true
    }

    /// The next update for any watcher; `None` once none is left.
    pub async fn next(&mut self) -> Option<Update> {
        loop {
            if let Some(update) = self.queue.pop_front() {
                return Some(update);
            }
            if !self.active() {
                return None;
            }
            let Some(stream) = self.stream.as_mut() else {
                let all = self.resume_requests();
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.open(all).await;
                continue;
            };
            match stream.next().await {
                Some(Ok(resp)) => self.dispatch(resp),
                Some(Err(status)) => {
                    if !self.stream_failed(&status) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                None => {
                    self.tx = None;
                    self.stream = None;
                    self.client.reset();
                }
            }
        }
    }

    fn index_of(&self, id: i64) -> Option<usize> {
        self.watchers
            .iter()
            .position(|w| !w.done && w.id == Some(id))
    }

    fn dispatch(&mut self, resp: WatchResponse) {
        let header = resp.header.unwrap_or_default();
        if resp.created {
            if let Some(i) = self.pending.pop_front() {
                let w = &mut self.watchers[i];
                w.id = Some(resp.watch_id);
                // A watcher "from now" resumes at the revision it started at.
                if w.create.start_revision == 0 {
                    w.create.start_revision = header.revision;
                }
            }
            if !resp.canceled {
                return;
            }
        }
        let watched = Watched {
            header,
            events: resp.events.clone(),
            compact_revision: resp.compact_revision,
            canceled: resp.canceled,
            created: resp.created,
        };
        if resp.canceled && resp.compact_revision == 0 {
            if let Some(i) = self.index_of(resp.watch_id) {
                self.watchers[i].done = true;
                self.queue.push_back(Update::Closed(i));
            }
            return;
        }
        if watched.is_progress_notify() && resp.watch_id == -1 {
            for i in 0..self.watchers.len() {
                if !self.watchers[i].done && self.watchers[i].id.is_some() {
                    self.queue
                        .push_back(Update::Response(i, watched.clone(), None));
                }
            }
            return;
        }
        let Some(i) = self.index_of(resp.watch_id) else {
            return;
        };
        let w = &mut self.watchers[i];
        match resp.events.last().and_then(|e| e.kv.as_ref()) {
            Some(kv) => w.create.start_revision = kv.mod_revision + 1,
            None if !resp.created => w.create.start_revision = header.revision,
            None => {}
        }
        let err = if resp.compact_revision != 0 {
            Some(COMPACTED.to_string())
        } else if resp.canceled {
            Some(if resp.cancel_reason.is_empty() {
                FUTURE_REV.to_string()
            } else {
                client_error_message(tonic::Code::FailedPrecondition, &resp.cancel_reason)
            })
        } else {
            None
        };
        if err.is_some() {
            w.done = true;
        }
        self.queue.push_back(Update::Response(i, watched, err));
    }
}
