//! The durable Raft log: openraft's `RaftLogStorage` over `member/wal/`. The
//! entries are append-only segment files (`segment_log`): one append call (a
//! batch of entries) is one write and one `fdatasync`, so concurrent proposals
//! share an fsync (group commit). The vote and the purge point live in a small
//! redb file (`log.redb`) and are fsynced before openraft is told they are
//! saved. Reads of the newest entries are answered from memory
//! (`RecentEntries`).

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::recent_entries::RecentEntries;
use crate::segment_log::{self, SegmentLog};
use crate::types::{Entry, LogId, TypeConfig, Vote};

/// Where earlier versions kept the entries; moved into segments at open.
const OLD_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const META_FILE: &str = "log.redb";
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";

/// Handle to the Raft log; cheap to clone (readers share the files).
#[derive(Clone)]
pub struct LogStore {
    meta: Arc<Database>,
    path: Arc<str>,
    entries: Arc<Mutex<SegmentLog>>,
    recent: Arc<Mutex<RecentEntries>>,
    /// The newest committed log id openraft reported, not written yet: it is
    /// written with the next append, in the same write (see `save_committed`).
    unsaved_committed: Arc<Mutex<Option<LogId>>>,
    /// The newest committed log id written (with an append, or at a purge).
    saved_committed: Arc<Mutex<Option<LogId>>>,
}

fn io_err(context: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("raft log {context}: {e}"))
}

fn encode<T: Serialize>(v: &T) -> io::Result<Vec<u8>> {
    bincode::serialize(v).map_err(|e| io_err("encode", e))
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> io::Result<T> {
    bincode::deserialize(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("raft log: corrupt {what}: {e}"),
        )
    })
}

/// Decodes an entry and checks it is the one its place in the log says.
fn decode_entry(index: u64, bytes: &[u8]) -> io::Result<Entry> {
    let entry: Entry = decode("entry", bytes)?;
    if entry.log_id.index != index {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "raft log: entry at index {index} claims index {}",
                entry.log_id.index
            ),
        ));
    }
    Ok(entry)
}

/// How much memory redb may use to cache `log.redb`'s pages: it holds three
/// small values.
const META_CACHE_BYTES: usize = 256 << 10;

/// How much memory the newest entries kept for reads may take: about 2,000
/// puts of 256 bytes, some 200 milliseconds' worth at 10,000 puts a second,
/// more than replication and apply lag behind appends on a healthy member.
const RECENT_ENTRIES_BYTES: usize = 1 << 20;

/// A mutex whose holder may have panicked: the value is still the last one set.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn newest(a: Option<LogId>, b: Option<LogId>) -> Option<LogId> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl LogStore {
    /// Opens (or creates) the log in `wal_dir`, reading every entry once so a
    /// damaged log is refused at start-up with an error naming the file. A
    /// write a crash cut short at the end of the newest segment is cut off
    /// (and logged); nothing else is repaired.
    pub fn open(wal_dir: &Path) -> io::Result<LogStore> {
        let meta_path = wal_dir.join(META_FILE);
        let shown = meta_path.display().to_string();
        let err = |e: &dyn std::fmt::Display| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{shown}: {e}"))
        };
        let meta = Database::builder()
            .set_cache_size(META_CACHE_BYTES)
            .create(&meta_path)
            .map_err(|e| err(&e))?;
        let txn = meta.begin_write().map_err(|e| err(&e))?;
        txn.open_table(META).map_err(|e| err(&e))?;
        txn.commit().map_err(|e| err(&e))?;
        migrate_old_entries(&meta, wal_dir).map_err(|e| err(&e))?;

        let opened =
            SegmentLog::open(wal_dir, |index, bytes| decode_entry(index, bytes).map(drop))?;
        if opened.torn_bytes > 0 {
            tracing::warn!(
                dir = %wal_dir.display(),
                bytes = opened.torn_bytes,
                "raft log: cut off a write a crash left unfinished at the end of the newest segment"
            );
        }
        let wal_hint = match &opened.hint {
            Some(bytes) => Some(decode::<LogId>("committed id", bytes)?),
            None => None,
        };
        let store = LogStore {
            meta: Arc::new(meta),
            path: shown.clone().into(),
            entries: Arc::new(Mutex::new(opened.log)),
            recent: Arc::new(Mutex::new(RecentEntries::new(RECENT_ENTRIES_BYTES))),
            unsaved_committed: Arc::new(Mutex::new(None)),
            saved_committed: Arc::new(Mutex::new(None)),
        };
        store.get_meta::<Vote>(KEY_VOTE)?;
        let purged: Option<LogId> = store.get_meta(KEY_PURGED)?;
        let committed: Option<LogId> = store.get_meta(KEY_COMMITTED)?;
        *lock(&store.saved_committed) = newest(committed, wal_hint);
        if let Some(purged) = purged {
            // Segments a purge had not deleted yet when the member stopped.
            lock(&store.entries).purge_upto(purged.index)?;
        }
        Ok(store)
    }

    /// The in-memory copy of the newest entries. A thread that panicked while
    /// holding it may have left it half-changed, so it is emptied then (reads
    /// go to the file until the next append refills it).
    fn recent(&self) -> MutexGuard<'_, RecentEntries> {
        self.recent.lock().unwrap_or_else(|poisoned| {
            let mut recent = poisoned.into_inner();
            recent.clear();
            self.recent.clear_poison();
            recent
        })
    }

    /// The entries on disk. A panic while holding them can only come from a
    /// bug; the file operations themselves report errors.
    fn entries(&self) -> MutexGuard<'_, SegmentLog> {
        lock(&self.entries)
    }

    fn err(&self, e: impl std::fmt::Display) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", self.path))
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.meta.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(META).map_err(|e| self.err(e))?;
        match table.get(key).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(decode(key, v.value()).map_err(|e| self.err(e))?)),
            None => Ok(None),
        }
    }

    /// Writes `values` in one fsynced commit.
    fn put_meta(&self, values: &[(&str, Vec<u8>)]) -> io::Result<()> {
        let mut txn = self.meta.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(META).map_err(|e| self.err(e))?;
            for (key, bytes) in values {
                table
                    .insert(*key, bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// The stored vote, if any (offline use).
    pub(crate) fn vote(&self) -> io::Result<Option<Vote>> {
        self.get_meta(KEY_VOTE)
    }

    /// The last log id known committed, if any (offline use).
    pub(crate) fn committed(&self) -> io::Result<Option<LogId>> {
        Ok(*lock(&self.saved_committed))
    }

    /// The index of the last entry, or of the purged point (offline use).
    pub(crate) fn last_index(&self) -> io::Result<u64> {
        let last = self.entries().bounds().map(|(_, last)| last);
        let purged: Option<LogId> = self.get_meta(KEY_PURGED)?;
        Ok(last.or(purged.map(|p| p.index)).unwrap_or(0))
    }

    /// The entries with index in `start..=end` (offline use).
    pub(crate) fn entries_between(&self, start: u64, end: u64) -> io::Result<Vec<Entry>> {
        self.read_range(start, Some(end))
    }

    /// Offline: empties the log and makes `point` its purged (and committed)
    /// position, with `vote` as the stored vote. Used when a data dir is rebuilt
    /// around a state machine that already holds everything up to `point`.
    pub(crate) fn reset(&self, point: &LogId, vote: &Vote) -> io::Result<()> {
        self.recent().clear();
        let mut entries = self.entries();
        entries.clear()?;
        let point_bytes = encode(point)?;
        self.put_meta(&[
            (KEY_PURGED, point_bytes.clone()),
            (KEY_COMMITTED, point_bytes),
            (KEY_VOTE, encode(vote)?),
        ])?;
        entries.purge_upto(point.index)?;
        *lock(&self.saved_committed) = Some(*point);
        Ok(())
    }

    /// The last log id in the log, if any entries remain.
    fn last_entry_id(&self) -> io::Result<Option<LogId>> {
        let Some((_, last)) = self.entries().bounds() else {
            return Ok(None);
        };
        Ok(self.read_range(last, Some(last))?.pop().map(|e| e.log_id))
    }

    fn read_range(&self, start: u64, end_inclusive: Option<u64>) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.entries().read(start, end_inclusive, |index, bytes| {
            out.push(decode_entry(index, bytes)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn write_entries(&self, entries: Vec<Entry>) -> io::Result<()> {
        let Some(first) = entries.first().map(|e| e.log_id.index) else {
            return Ok(());
        };
        let encoded = entries.iter().map(encode).collect::<io::Result<Vec<_>>>()?;
        let committed = *lock(&self.unsaved_committed);
        let hint = committed.as_ref().map(encode).transpose()?;
        self.entries().append(first, &encoded, hint.as_deref())?;
        // Written: forget it unless openraft reported a newer one meanwhile.
        if committed.is_some() {
            let mut unsaved = lock(&self.unsaved_committed);
            if *unsaved == committed {
                *unsaved = None;
            }
            let mut saved = lock(&self.saved_committed);
            *saved = newest(*saved, committed);
        }
        // Only now durable: from here on they may be read from memory.
        let sizes = encoded.iter().map(Vec::len);
        self.recent().appended(entries.into_iter().zip(sizes));
        Ok(())
    }

    fn truncate_from(&self, from: u64) -> io::Result<()> {
        // Forget them in memory first: should the file keep them (the write
        // fails), reads still find them there.
        self.recent().forget_from(from);
        self.entries().truncate_from(from)
    }

    fn purge_upto(&self, log_id: &LogId) -> io::Result<()> {
        self.recent().forget_upto(log_id.index);
        // The purge point is durable before any segment goes, and it is
        // committed, so it is the committed hint too when none newer is saved.
        let committed = newest(*lock(&self.saved_committed), Some(*log_id));
        let mut values = vec![(KEY_PURGED, encode(log_id)?)];
        if let Some(committed) = &committed {
            values.push((KEY_COMMITTED, encode(committed)?));
        }
        self.put_meta(&values)?;
        *lock(&self.saved_committed) = committed;
        self.entries().purge_upto(log_id.index)
    }

    async fn blocking<T, F>(&self, f: F) -> io::Result<T>
    where
        F: FnOnce(LogStore) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .map_err(|e| io_err("worker", e))?
    }
}

/// Moves the entries of a log written by an earlier version (a `log` table in
/// `log.redb`) into a segment, then drops the table. A crash in between leaves
/// both; the segment wins and the table is dropped at the next open.
fn migrate_old_entries(meta: &Database, wal_dir: &Path) -> Result<(), String> {
    let txn = meta.begin_read().map_err(|e| e.to_string())?;
    let table = match txn.open_table(OLD_LOG) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if !segment_log::has_segments(wal_dir).map_err(|e| e.to_string())? {
        let mut first = None;
        let mut bodies = Vec::new();
        for item in table.iter().map_err(|e| e.to_string())? {
            let (k, v) = item.map_err(|e| e.to_string())?;
            let index = k.value();
            let expected = first.unwrap_or(index) + bodies.len() as u64;
            if index != expected {
                return Err(format!(
                    "gap in log: expected index {expected}, found {index}"
                ));
            }
            decode_entry(index, v.value()).map_err(|e| e.to_string())?;
            first.get_or_insert(index);
            bodies.push(v.value().to_vec());
        }
        if let Some(first) = first {
            segment_log::write_migrated_segment(wal_dir, first, &bodies)
                .map_err(|e| e.to_string())?;
        }
    }
    drop(table);
    drop(txn);
    let mut txn = meta.begin_write().map_err(|e| e.to_string())?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| e.to_string())?;
    txn.delete_table(OLD_LOG).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())
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

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let Some((start, end)) = bounds_to_range(&range) else {
            return Ok(Vec::new());
        };
        if let Some(entries) = self.recent().get(start, end) {
            return Ok(entries);
        }
        self.blocking(move |s| s.read_range(start, end)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogId> = self.get_meta(KEY_PURGED)?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let vote = encode(vote)?;
        self.blocking(move |s| s.put_meta(&[(KEY_VOTE, vote)]))
            .await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Only a hint that lets a restart re-apply sooner (and `cairnctl recover`
        // report how far a member knew the log committed): it is written with
        // the next append, inside that append's commit, rather than in a commit
        // of its own whose pages every following fsync would have to write too.
        if committed.is_some() {
            *lock(&self.unsaved_committed) = committed;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let unsaved = *lock(&self.unsaved_committed);
        Ok(newest(unsaved, *lock(&self.saved_committed)))
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        // Written and fsynced on this thread (openraft waits for it anyway): a
        // blocking-pool thread would add a wake-up before the write and another
        // after it to every write's path.
        let result = tokio::task::block_in_place(|| self.write_entries(entries));
        match result {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        self.blocking(move |s| s.truncate_from(from)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.blocking(move |s| s.purge_upto(&log_id)).await
    }
}

#[cfg(test)]
mod tests;
