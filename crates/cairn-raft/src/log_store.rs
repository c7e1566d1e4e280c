//! The durable Raft log: openraft's `RaftLogStorage` over a redb file
//! (`<data-dir>/member/wal/log.redb`). Every append and vote is fsynced before
//! openraft is told it is done; one append call (a batch of entries) is one commit,
//! so concurrent proposals share an fsync (group commit). Reads of the newest
//! entries are answered from memory (`RecentEntries`).

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::recent_entries::RecentEntries;
use crate::types::{Entry, LogId, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";

/// Handle to the Raft log; cheap to clone (readers share the database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    path: Arc<str>,
    recent: Arc<Mutex<RecentEntries>>,
    /// The newest committed log id openraft reported, not written yet: it is
    /// written with the next append, in the same commit (see `save_committed`).
    unsaved_committed: Arc<Mutex<Option<LogId>>>,
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

/// How much memory redb may use to cache the log's pages. Entries are read back
/// soon after they are appended (replication, apply), while still cached; redb's
/// 1 GiB default would keep every entry since the last purge in memory.
const LOG_CACHE_BYTES: usize = 4 << 20;

/// How much memory the newest entries kept for reads may take: about 2,000
/// puts of 256 bytes, some 200 milliseconds' worth at 10,000 puts a second,
/// more than replication and apply lag behind appends on a healthy member.
const RECENT_ENTRIES_BYTES: usize = 1 << 20;

impl LogStore {
    /// Opens (or creates) the log file. A file that is not a valid log is an error
    /// naming the file; nothing is repaired silently.
    pub fn open(path: &Path) -> io::Result<LogStore> {
        let shown = path.display().to_string();
        let db = Database::builder()
            .set_cache_size(LOG_CACHE_BYTES)
            .create(path)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{shown}: {e}")))?;
        let store = LogStore {
            db: Arc::new(db),
            path: shown.into(),
            recent: Arc::new(Mutex::new(RecentEntries::new(RECENT_ENTRIES_BYTES))),
            unsaved_committed: Arc::new(Mutex::new(None)),
        };
        // Make sure the tables exist and every stored entry decodes.
        let txn = store.db.begin_write().map_err(|e| store.err(e))?;
        txn.open_table(LOG).map_err(|e| store.err(e))?;
        txn.open_table(META).map_err(|e| store.err(e))?;
        txn.commit().map_err(|e| store.err(e))?;
        store.verify()?;
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

    /// The committed log id waiting for the next append. Only ever a hint
    /// (see `save_committed`), so a poisoned lock just gives its value.
    fn unsaved_committed(&self) -> MutexGuard<'_, Option<LogId>> {
        self.unsaved_committed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn err(&self, e: impl std::fmt::Display) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", self.path))
    }

    /// Reads every entry once so a damaged log is refused at start-up.
    fn verify(&self) -> io::Result<()> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(LOG).map_err(|e| self.err(e))?;
        let mut expected: Option<u64> = None;
        for item in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let entry: Entry = decode("entry", v.value()).map_err(|e| self.err(e))?;
            if entry.log_id.index != k.value() {
                return Err(self.err(format!(
                    "entry at key {} claims index {}",
                    k.value(),
                    entry.log_id.index
                )));
            }
            if let Some(want) = expected {
                if k.value() != want {
                    return Err(self.err(format!(
                        "gap in log: expected index {want}, found {}",
                        k.value()
                    )));
                }
            }
            expected = Some(k.value() + 1);
        }
        self.get_meta::<Vote>(KEY_VOTE)?;
        self.get_meta::<LogId>(KEY_COMMITTED)?;
        self.get_meta::<LogId>(KEY_PURGED)?;
        Ok(())
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(META).map_err(|e| self.err(e))?;
        match table.get(key).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(decode(key, v.value()).map_err(|e| self.err(e))?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        durability: Durability,
    ) -> io::Result<()> {
        let bytes = encode(value)?;
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(durability).map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(META).map_err(|e| self.err(e))?;
            table
                .insert(key, bytes.as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// The stored vote, if any (offline use).
    pub(crate) fn vote(&self) -> io::Result<Option<Vote>> {
        self.get_meta(KEY_VOTE)
    }

    /// The last log id known committed, if any (offline use).
    pub(crate) fn committed(&self) -> io::Result<Option<LogId>> {
        self.get_meta(KEY_COMMITTED)
    }

    /// The index of the last entry, or of the purged point (offline use).
    pub(crate) fn last_index(&self) -> io::Result<u64> {
        let last = self.last_entry_id()?.map(|l| l.index);
        let purged: Option<LogId> = self.get_meta(KEY_PURGED)?;
        Ok(last.or(purged.map(|p| p.index)).unwrap_or(0))
    }

    /// The entries with index in `start..=end` (offline use).
    pub(crate) fn entries(&self, start: u64, end: u64) -> io::Result<Vec<Entry>> {
        self.read_range(start, Some(end))
    }

    /// Offline: empties the log and makes `point` its purged (and committed)
    /// position, with `vote` as the stored vote. Used when a data dir is rebuilt
    /// around a state machine that already holds everything up to `point`.
    pub(crate) fn reset(&self, point: &LogId, vote: &Vote) -> io::Result<()> {
        self.remove_range((Bound::Unbounded, Bound::Unbounded), Some(point))?;
        self.put_meta(KEY_COMMITTED, point, Durability::Immediate)?;
        self.put_meta(KEY_VOTE, vote, Durability::Immediate)
    }

    /// The last log id in the log, if any entries remain.
    fn last_entry_id(&self) -> io::Result<Option<LogId>> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(LOG).map_err(|e| self.err(e))?;
        let last = table.last().map_err(|e| self.err(e))?;
        let log_id = match last {
            Some((_, v)) => Some(decode::<Entry>("entry", v.value())?.log_id),
            None => None,
        };
        Ok(log_id)
    }

    fn read_range(&self, start: u64, end_inclusive: Option<u64>) -> io::Result<Vec<Entry>> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(LOG).map_err(|e| self.err(e))?;
        let iter = match end_inclusive {
            Some(end) => table.range(start..=end),
            None => table.range(start..),
        }
        .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in iter {
            let (_, v) = item.map_err(|e| self.err(e))?;
            out.push(decode("entry", v.value())?);
        }
        Ok(out)
    }

    fn write_entries(&self, entries: Vec<Entry>) -> io::Result<()> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.err(e))?;
        let mut sizes = Vec::with_capacity(entries.len());
        {
            let mut table = txn.open_table(LOG).map_err(|e| self.err(e))?;
            for entry in &entries {
                let bytes = encode(entry)?;
                table
                    .insert(entry.log_id.index, bytes.as_slice())
                    .map_err(|e| self.err(e))?;
                sizes.push(bytes.len());
            }
        }
        let committed = *self.unsaved_committed();
        if let Some(committed) = &committed {
            let bytes = encode(committed)?;
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            meta.insert(KEY_COMMITTED, bytes.as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        // Written: forget it unless openraft reported a newer one meanwhile.
        if committed.is_some() {
            let mut unsaved = self.unsaved_committed();
            if *unsaved == committed {
                *unsaved = None;
            }
        }
        // Only now durable: from here on they may be read from memory.
        self.recent().appended(entries.into_iter().zip(sizes));
        Ok(())
    }

    fn remove_range(
        &self,
        range: (Bound<u64>, Bound<u64>),
        purged: Option<&LogId>,
    ) -> io::Result<()> {
        // Forget them in memory first: should the file keep them (the commit
        // fails), reads still find them there.
        match range {
            (Bound::Included(from), Bound::Unbounded) => self.recent().forget_from(from),
            (Bound::Unbounded, Bound::Included(upto)) => self.recent().forget_upto(upto),
            _ => self.recent().clear(),
        }
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(LOG).map_err(|e| self.err(e))?;
            table
                .retain_in(range, |_, _| false)
                .map_err(|e| self.err(e))?;
            if let Some(purged) = purged {
                let bytes = encode(purged)?;
                let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
                meta.insert(KEY_PURGED, bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
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
        let vote = *vote;
        self.blocking(move |s| s.put_meta(KEY_VOTE, &vote, Durability::Immediate))
            .await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Only a hint that lets a restart re-apply sooner (and `cairnctl recover`
        // report how far a member knew the log committed): it is written with
        // the next append, inside that append's commit, rather than in a commit
        // of its own whose pages every following fsync would have to write too.
        if committed.is_some() {
            *self.unsaved_committed() = committed;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        if let Some(committed) = *self.unsaved_committed() {
            return Ok(Some(committed));
        }
        self.get_meta(KEY_COMMITTED)
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
        self.blocking(move |s| s.remove_range((Bound::Included(from), Bound::Unbounded), None))
            .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let upto = log_id.index;
        self.blocking(move |s| {
            s.remove_range((Bound::Unbounded, Bound::Included(upto)), Some(&log_id))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
