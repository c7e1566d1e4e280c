//! openraft's log storage: an in-memory tail in front of the log on disk, and
//! one writer thread that applies every change to the disk in order.
//!
//! `append` puts the entries in the tail, where readers see them at once, and
//! queues them for the writer; it returns without waiting for the disk, and the
//! writer reports them through openraft's `IOFlushed` callback once they are
//! fsynced. openraft counts an entry towards commitment (on the leader) and
//! acknowledges it (on a follower) only after that callback, so the leader's
//! fsync now overlaps replication instead of coming before it, and the writer
//! commits everything queued meanwhile in one transaction (group commit).
//!
//! Truncations and purges take effect in the tail at once and reach the disk in
//! order with the appends around them; a vote is saved through the same queue
//! and waited for; the committed position rides along with the next append.
//! Flushed entries stay in the tail (up to [`CACHE_BYTES`]) so that
//! replication and apply usually read them from memory.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{EntryPayload, OptionalSend, RaftLogReader};
use prost::Message;

use crate::log_store::{LogStore, LogWrite};
use crate::types::{Entry, LogId, TypeConfig, Vote};

/// Flushed entries kept in memory for readers, in encoded bytes (about).
const CACHE_BYTES: u64 = 1 << 20;

/// Most queued changes the writer puts in one transaction.
const MAX_BATCH: usize = 1024;

/// The Raft log as openraft sees it. Cheap to clone; every clone shares the
/// tail and the writer, which stops when the last clone is dropped.
#[derive(Clone)]
pub struct RaftLog {
    disk: LogStore,
    shared: Arc<Shared>,
}

struct Shared {
    tail: Mutex<Tail>,
    /// Where changes are queued for the writer, in the order they were made
    /// (sent while holding `tail`, so that order is the tail's order).
    queue: Mutex<mpsc::Sender<Job>>,
}

/// An entry in the tail, with the sequence number of the append that put it there.
struct TailEntry {
    seq: u64,
    entry: Arc<Entry>,
    bytes: u64,
}

/// The newest part of the log, in memory.
struct Tail {
    /// Consecutive entries, oldest first: the log's content for their indexes,
    /// whether or not they are on disk yet.
    entries: VecDeque<TailEntry>,
    /// Sequence number of the newest change the writer has put on disk.
    flushed_seq: u64,
    /// Sequence number given to the last change queued.
    queued_seq: u64,
    /// Truncations queued and not yet on disk: (sequence number, first index
    /// removed). Entries on disk from the smallest such index on are stale.
    truncations: VecDeque<(u64, u64)>,
    /// Bytes of flushed entries in `entries`.
    flushed_bytes: u64,
    last_purged: Option<LogId>,
    /// The newest committed position openraft reported and the writer has
    /// not stored yet: it goes into the next transaction that is fsynced
    /// anyway (it only lets a restart re-apply sooner), never one of its own.
    committed: Option<LogId>,
    /// Set once a write to disk failed; every later change fails with it.
    failed: Option<String>,
}

/// A change for the writer, and whom to tell when it is on disk.
struct Job {
    seq: u64,
    write: LogWrite,
    done: Done,
}

enum Done {
    Nobody,
    Flushed(IOFlushed<TypeConfig>),
    Reply(tokio::sync::oneshot::Sender<io::Result<()>>),
}

fn failed_error(why: &str) -> io::Error {
    io::Error::other(format!("raft log: an earlier write failed: {why}"))
}

impl Tail {
    /// Index of the first entry held in memory.
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.entry.log_id.index)
    }

    /// Drops flushed entries from the front beyond the cache budget.
    fn trim(&mut self) {
        while self.flushed_bytes > CACHE_BYTES {
            match self.entries.front() {
                Some(front) if front.seq <= self.flushed_seq => {
                    self.flushed_bytes = self.flushed_bytes.saturating_sub(front.bytes);
                    self.entries.pop_front();
                }
                _ => break,
            }
        }
    }

    /// Records that every change up to `seq` is on disk.
    fn flushed(&mut self, seq: u64) {
        let before = self.flushed_seq;
        self.flushed_seq = seq;
        // Sequence numbers never decrease along the tail: the newly flushed
        // entries are just before the still unflushed ones at its end.
        for e in self.entries.iter().rev() {
            if e.seq <= before {
                break;
            }
            if e.seq <= seq {
                self.flushed_bytes += e.bytes;
            }
        }
        while self.truncations.front().is_some_and(|(s, _)| *s <= seq) {
            self.truncations.pop_front();
        }
        self.trim();
    }

    /// The last index whose on-disk entry is still valid, if a truncation is pending.
    fn disk_valid_upto(&self) -> Option<u64> {
        self.truncations
            .iter()
            .map(|(_, from)| from.saturating_sub(1))
            .min()
    }
}

/// Rough size of an entry, for the cache budget.
fn entry_bytes(entry: &Entry) -> u64 {
    const OVERHEAD: u64 = 64;
    match &entry.payload {
        EntryPayload::Normal(request) => request.0.encoded_len() as u64 + OVERHEAD,
        EntryPayload::Membership(_) => 4 * OVERHEAD,
        EntryPayload::Blank => OVERHEAD,
    }
}

fn bounds_to_range<RB: RangeBounds<u64>>(range: &RB) -> Option<(u64, Option<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => Some(*e),
        Bound::Excluded(e) => Some(e.checked_sub(1)?),
        Bound::Unbounded => None,
    };
    if let Some(end) = end {
        if end < start {
            return None;
        }
    }
    Some((start, end))
}

impl RaftLog {
    /// Serves the log in `disk`, starting its writer thread.
    pub fn new(disk: LogStore) -> io::Result<RaftLog> {
        let last_purged = disk.purged()?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            tail: Mutex::new(Tail {
                entries: VecDeque::new(),
                flushed_seq: 0,
                queued_seq: 0,
                truncations: VecDeque::new(),
                flushed_bytes: 0,
                last_purged,
                committed: None,
                failed: None,
            }),
            queue: Mutex::new(tx),
        });
        let writer_disk = disk.clone();
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("cairn-raft-log".into())
            .spawn(move || write_loop(writer_disk, rx, weak))?;
        Ok(RaftLog { disk, shared })
    }

    fn tail(&self) -> MutexGuard<'_, Tail> {
        self.shared
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `write` under the tail lock `tail` (so queue order is tail order).
    fn queue(&self, tail: &mut Tail, write: LogWrite, done: Done) -> io::Result<u64> {
        if let Some(why) = &tail.failed {
            return Err(failed_error(why));
        }
        tail.queued_seq += 1;
        let seq = tail.queued_seq;
        let sent = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(Job { seq, write, done });
        sent.map_err(|_| io::Error::other("raft log: the writer has stopped"))?;
        Ok(seq)
    }

    /// Entries `start..=end` (to the last one if `end` is `None`).
    fn read(&self, start: u64, end: Option<u64>) -> io::Result<Vec<Entry>> {
        let (from_memory, disk_end) = {
            let tail = self.tail();
            // The tail's entries are consecutive: positions follow from indexes.
            let from_memory: Vec<Entry> = match tail.first_index() {
                Some(first) => {
                    let len = tail.entries.len();
                    let from = (start.saturating_sub(first) as usize).min(len);
                    let to = match end {
                        Some(end) if end < first => 0,
                        Some(end) => ((end - first) as usize).saturating_add(1).min(len),
                        None => len,
                    };
                    if from < to {
                        tail.entries
                            .range(from..to)
                            .map(|e| Entry::clone(&e.entry))
                            .collect()
                    } else {
                        Vec::new()
                    }
                }
                None => Vec::new(),
            };
            // On disk: below the tail, and not past a pending truncation.
            let mut disk_end = end.unwrap_or(u64::MAX);
            if let Some(first) = tail.first_index() {
                disk_end = disk_end.min(first.saturating_sub(1));
            }
            if let Some(valid) = tail.disk_valid_upto() {
                disk_end = disk_end.min(valid);
            }
            let reaches_disk = tail.first_index().is_none_or(|first| start < first);
            (from_memory, reaches_disk.then_some(disk_end))
        };
        match disk_end {
            Some(disk_end) if start <= disk_end => {
                let mut out = self.disk.read_range(start, Some(disk_end))?;
                out.extend(from_memory);
                Ok(out)
            }
            _ => Ok(from_memory),
        }
    }
}

/// The writer: takes every queued change, applies them in one transaction
/// (fsynced if any needs it), then tells each waiter, in order.
fn write_loop(disk: LogStore, rx: mpsc::Receiver<Job>, shared: std::sync::Weak<Shared>) {
    // After a failed write nothing more is written: later entries on disk
    // would leave a hole in the log.
    let mut broken: Option<String> = None;
    while let Ok(first) = rx.recv() {
        // The committed position is read before the queue is drained: every
        // entry it covers was queued before it was reported, so it is in this
        // batch or an earlier one, and the log on disk never has a committed
        // position beyond its last entry.
        let committed = shared.upgrade().and_then(|shared| {
            shared
                .tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .committed
                .take()
        });
        let mut jobs = vec![first];
        let mut drained = false;
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => {
                    drained = true;
                    break;
                }
            }
        }
        let durable = jobs.iter().any(|j| j.write.needs_fsync());
        let committed = match committed {
            Some(c) if durable && drained => Some(LogWrite::Committed(c)),
            Some(c) => {
                // Not this time: back for a later batch (unless a newer one came).
                if let Some(shared) = shared.upgrade() {
                    let mut tail = shared
                        .tail
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if tail.committed.is_none_or(|newer| newer < c) {
                        tail.committed = Some(c);
                    }
                }
                None
            }
            None => None,
        };
        let result = match &broken {
            Some(why) => Err(failed_error(why)),
            None => disk.write_batch(jobs.iter().map(|j| &j.write).chain(&committed), durable),
        };
        let last_seq = jobs.last().map(|j| j.seq).unwrap_or(0);
        if let Some(shared) = shared.upgrade() {
            let mut tail = shared
                .tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &result {
                Ok(()) => tail.flushed(last_seq),
                Err(e) => tail.failed = Some(e.to_string()),
            }
        }
        if let (Err(e), None) = (&result, &broken) {
            tracing::error!(error = %e, "cairn: writing the raft log failed");
            broken = Some(e.to_string());
        }
        for job in jobs {
            let outcome = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            match job.done {
                Done::Nobody => {}
                Done::Flushed(callback) => callback.io_completed(outcome),
                Done::Reply(tx) => {
                    let _ = tx.send(outcome);
                }
            }
        }
    }
}

impl RaftLogReader<TypeConfig> for RaftLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let Some((start, end)) = bounds_to_range(&range) else {
            return Ok(Vec::new());
        };
        // Entries still in memory are read here; older ones need the disk.
        let in_memory = self
            .tail()
            .first_index()
            .is_some_and(|first| start >= first);
        if in_memory {
            return self.read(start, end);
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read(start, end))
            .await
            .map_err(|e| io::Error::other(format!("raft log reader: {e}")))?
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.disk.vote()
    }
}

impl RaftLogStorage<TypeConfig> for RaftLog {
    type LogReader = RaftLog;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let (last_in_memory, last_purged, valid) = {
            let tail = self.tail();
            (
                tail.entries.back().map(|e| e.entry.log_id),
                tail.last_purged,
                tail.disk_valid_upto(),
            )
        };
        let last = match last_in_memory {
            Some(last) => Some(last),
            None => match valid {
                // Rare (a truncation not yet on disk, nothing appended after it).
                Some(valid) => self.disk.last_entry_id_upto(valid)?,
                None => self.disk.last_entry_id()?,
            },
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut tail = self.tail();
            self.queue(&mut tail, LogWrite::Vote(*vote), Done::Reply(tx))?;
        }
        rx.await
            .map_err(|_| io::Error::other("raft log: the writer stopped before saving the vote"))?
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Stored with the next append or vote, not on its own.
        if let Some(committed) = committed {
            let mut tail = self.tail();
            if tail.committed.is_none_or(|c| c < committed) {
                tail.committed = Some(committed);
            }
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        self.disk.committed()
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Arc<Entry>> = entries.into_iter().map(Arc::new).collect();
        let sized: Vec<u64> = entries.iter().map(|e| entry_bytes(e)).collect();
        let mut tail = self.tail();
        if let (Some(first), Some(back)) = (entries.first(), tail.entries.back()) {
            let expected = back.entry.log_id.index + 1;
            if first.log_id.index != expected {
                return Err(io::Error::other(format!(
                    "raft log: append at index {} does not follow the last entry {}",
                    first.log_id.index, back.entry.log_id.index
                )));
            }
        }
        let seq = self.queue(
            &mut tail,
            LogWrite::Entries(entries.clone()),
            Done::Flushed(callback),
        )?;
        for (entry, bytes) in entries.into_iter().zip(sized) {
            tail.entries.push_back(TailEntry { seq, entry, bytes });
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        let mut tail = self.tail();
        while tail
            .entries
            .back()
            .is_some_and(|e| e.entry.log_id.index >= from)
        {
            if let Some(dropped) = tail.entries.pop_back() {
                if dropped.seq <= tail.flushed_seq {
                    tail.flushed_bytes = tail.flushed_bytes.saturating_sub(dropped.bytes);
                }
            }
        }
        let seq = self.queue(&mut tail, LogWrite::TruncateFrom(from), Done::Nobody)?;
        tail.truncations.push_back((seq, from));
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut tail = self.tail();
        while tail
            .entries
            .front()
            .is_some_and(|e| e.entry.log_id.index <= log_id.index)
        {
            if let Some(dropped) = tail.entries.pop_front() {
                if dropped.seq <= tail.flushed_seq {
                    tail.flushed_bytes = tail.flushed_bytes.saturating_sub(dropped.bytes);
                }
            }
        }
        tail.last_purged = Some(log_id);
        self.queue(&mut tail, LogWrite::PurgeUpTo(log_id), Done::Nobody)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use cairn_proto::cairnpb::internal_request::Request as Cmd;
    use cairn_proto::cairnpb::InternalRequest;
    use cairn_proto::etcdserverpb::PutRequest;

    use super::*;
    use crate::types::Request;

    /// An entry at `index` of `term` whose put carries `value_bytes` bytes; its
    /// proposal ID tells versions of the same index apart.
    fn entry(term: u64, index: u64, id: u64, value_bytes: usize) -> Entry {
        Entry {
            log_id: LogId::new_term_index(term, index),
            payload: EntryPayload::Normal(Request(InternalRequest {
                proposal_id: id,
                request: Some(Cmd::Put(PutRequest {
                    key: format!("k{index}").into_bytes(),
                    value: vec![b'v'; value_bytes],
                    ..Default::default()
                })),
            })),
        }
    }

    /// (index, proposal ID) of each entry, to compare logs.
    fn ids(entries: &[Entry]) -> Vec<(u64, u64)> {
        entries
            .iter()
            .map(|e| {
                let id = match &e.payload {
                    EntryPayload::Normal(r) => r.0.proposal_id,
                    _ => 0,
                };
                (e.log_id.index, id)
            })
            .collect()
    }

    async fn append(log: &mut RaftLog, entries: Vec<Entry>) {
        log.append(entries, IOFlushed::noop())
            .await
            .expect("append");
    }

    /// Waits until everything queued so far is on disk (a vote goes through the
    /// same queue and is waited for).
    async fn barrier(log: &mut RaftLog) {
        log.save_vote(&Vote::new(1, 1)).await.expect("save vote");
    }

    async fn all(log: &mut RaftLog) -> Vec<(u64, u64)> {
        ids(&log.try_get_log_entries(0..).await.expect("read"))
    }

    fn open(dir: &std::path::Path) -> RaftLog {
        RaftLog::new(LogStore::open(&dir.join("log.redb")).expect("open log")).expect("raft log")
    }

    /// Opens the log again once the previous writer thread (which stops after
    /// its last `RaftLog` is dropped) has let go of the file.
    fn reopen(dir: &std::path::Path) -> RaftLog {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match LogStore::open(&dir.join("log.redb")) {
                Ok(disk) => return RaftLog::new(disk).expect("raft log"),
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("the log stays open after its last handle was dropped: {e}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appended_entries_are_readable_at_once_and_durable_once_flushed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        let disk = log.disk.clone();
        let held = disk.hold_writes();
        append(&mut log, (1..=3).map(|i| entry(1, i, i, 10)).collect()).await;
        // Not on disk yet (the writer is held), but readable.
        assert_eq!(all(&mut log).await, vec![(1, 1), (2, 2), (3, 3)]);
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id.map(|l| l.index), Some(3));
        drop(held);
        barrier(&mut log).await;
        drop(log);
        drop(disk);
        let mut reopened = reopen(dir.path());
        assert_eq!(all(&mut reopened).await, vec![(1, 1), (2, 2), (3, 3)]);
        assert_eq!(
            reopened.read_vote().await.expect("vote"),
            Some(Vote::new(1, 1))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_truncation_hides_entries_on_disk_before_it_reaches_the_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        append(&mut log, (1..=6).map(|i| entry(1, i, i, 10)).collect()).await;
        barrier(&mut log).await;
        drop(log);
        // Reopened, the entries are on disk only.
        let mut log = reopen(dir.path());
        assert!(log.tail().first_index().is_none());
        let held = log.disk.hold_writes();
        // A new leader's entries replace 4..=6 and the first of them is replaced again.
        log.truncate_after(Some(LogId::new_term_index(1, 3)))
            .await
            .expect("truncate");
        assert_eq!(all(&mut log).await, vec![(1, 1), (2, 2), (3, 3)]);
        append(&mut log, vec![entry(2, 4, 40, 10), entry(2, 5, 50, 10)]).await;
        log.truncate_after(Some(LogId::new_term_index(2, 4)))
            .await
            .expect("truncate again");
        append(&mut log, vec![entry(3, 5, 500, 10)]).await;
        let want = vec![(1, 1), (2, 2), (3, 3), (4, 40), (5, 500)];
        assert_eq!(all(&mut log).await, want);
        assert_eq!(
            ids(&log.try_get_log_entries(2..=4).await.expect("read")),
            vec![(2, 2), (3, 3), (4, 40)]
        );
        drop(held);
        barrier(&mut log).await;
        assert_eq!(all(&mut log).await, want);
        let disk = log.disk.clone();
        drop(log);
        assert_eq!(ids(&disk.read_range(0, None).expect("disk")), want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_beyond_the_cache_are_read_from_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        let big = 1 << 18;
        let count = CACHE_BYTES / big as u64 + 8;
        for i in 1..=count {
            append(&mut log, vec![entry(1, i, i, big)]).await;
        }
        barrier(&mut log).await;
        let first_in_memory = log.tail().first_index().expect("some entries in memory");
        assert!(first_in_memory > 1, "the cache was not trimmed");
        let want: Vec<(u64, u64)> = (1..=count).map(|i| (i, i)).collect();
        assert_eq!(all(&mut log).await, want);
        let f = first_in_memory;
        for (from, to) in [
            (1, 2),
            (f - 2, f + 1),
            (f, f),
            (f + 1, f + 2),
            (f + 2, count + 5),
        ] {
            let got = ids(&log.try_get_log_entries(from..=to).await.expect("read"));
            let want: Vec<(u64, u64)> = (from..=to.min(count)).map(|i| (i, i)).collect();
            assert_eq!(got, want, "entries {from}..={to}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purged_entries_are_gone_and_the_purge_point_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        append(&mut log, (1..=5).map(|i| entry(1, i, i, 10)).collect()).await;
        let point = LogId::new_term_index(1, 3);
        log.purge(point).await.expect("purge");
        assert_eq!(all(&mut log).await, vec![(4, 4), (5, 5)]);
        barrier(&mut log).await;
        drop(log);
        let mut reopened = reopen(dir.path());
        let state = reopened.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(point));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(5));
        assert_eq!(all(&mut reopened).await, vec![(4, 4), (5, 5)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_committed_position_is_stored_with_the_next_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        let held = log.disk.hold_writes();
        append(&mut log, (1..=3).map(|i| entry(1, i, i, 10)).collect()).await;
        log.save_committed(Some(LogId::new_term_index(1, 3)))
            .await
            .expect("save committed");
        drop(held);
        barrier(&mut log).await;
        drop(log);
        let mut reopened = reopen(dir.path());
        assert_eq!(
            reopened.read_committed().await.expect("committed"),
            Some(LogId::new_term_index(1, 3))
        );
        assert_eq!(all(&mut reopened).await, vec![(1, 1), (2, 2), (3, 3)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_that_leaves_a_gap_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        append(&mut log, vec![entry(1, 1, 1, 10)]).await;
        let gap = log
            .append(vec![entry(1, 3, 3, 10)], IOFlushed::noop())
            .await;
        assert!(gap.is_err());
        assert_eq!(all(&mut log).await, vec![(1, 1)]);
    }
}
