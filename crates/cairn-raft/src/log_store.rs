//! The Raft log on disk: a redb file (`<data-dir>/member/wal/log.redb`)
//! holding the entries, the vote, the committed position and the purge point.
//! [`crate::raft_log::RaftLog`] writes it through [`LogStore::write_batch`]
//! (one transaction per batch of changes, in order); offline tools read and
//! reset it directly.

use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{Entry, LogId, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";

/// One change to the log on disk.
#[derive(Debug)]
pub(crate) enum LogWrite {
    /// Entries to store (replacing any at the same indexes).
    Entries(Vec<Arc<Entry>>),
    /// Removes every entry from this index on.
    TruncateFrom(u64),
    /// Removes every entry up to this one and records it as the purge point.
    PurgeUpTo(LogId),
    Vote(Vote),
    Committed(LogId),
}

impl LogWrite {
    /// Whether the write must be on disk before it is reported done: new
    /// entries and votes are, the rest only follows them.
    pub(crate) fn needs_fsync(&self) -> bool {
        matches!(self, LogWrite::Entries(_) | LogWrite::Vote(_))
    }
}

/// Handle to the Raft log; cheap to clone (readers share the database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    path: Arc<str>,
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

/// How much memory redb may use to cache the log's pages. Recent entries are
/// read from the in-memory tail of [`crate::raft_log::RaftLog`], not from here;
/// redb's 1 GiB default would keep every entry since the last purge in memory.
const LOG_CACHE_BYTES: usize = 4 << 20;

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
        };
        // Make sure the tables exist and every stored entry decodes.
        let txn = store.db.begin_write().map_err(|e| store.err(e))?;
        txn.open_table(LOG).map_err(|e| store.err(e))?;
        txn.open_table(META).map_err(|e| store.err(e))?;
        txn.commit().map_err(|e| store.err(e))?;
        store.verify()?;
        Ok(store)
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

    /// Blocks every write to the log until the returned transaction is dropped
    /// (tests use it to hold changes in the writer's queue).
    #[cfg(test)]
    pub(crate) fn hold_writes(&self) -> redb::WriteTransaction {
        self.db.begin_write().expect("begin a write transaction")
    }

    /// The purge point: the last entry removed as covered by a snapshot.
    pub(crate) fn purged(&self) -> io::Result<Option<LogId>> {
        self.get_meta(KEY_PURGED)
    }

    /// The log id of the last entry at or below `index`, if any.
    pub(crate) fn last_entry_id_upto(&self, index: u64) -> io::Result<Option<LogId>> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(LOG).map_err(|e| self.err(e))?;
        let last = table
            .range(..=index)
            .map_err(|e| self.err(e))?
            .next_back()
            .transpose()
            .map_err(|e| self.err(e))?;
        match last {
            Some((_, v)) => Ok(Some(decode::<Entry>("entry", v.value())?.log_id)),
            None => Ok(None),
        }
    }

    /// The last log id in the log, if any entries remain.
    pub(crate) fn last_entry_id(&self) -> io::Result<Option<LogId>> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(LOG).map_err(|e| self.err(e))?;
        let last = table.last().map_err(|e| self.err(e))?;
        let log_id = match last {
            Some((_, v)) => Some(decode::<Entry>("entry", v.value())?.log_id),
            None => None,
        };
        Ok(log_id)
    }

    pub(crate) fn read_range(
        &self,
        start: u64,
        end_inclusive: Option<u64>,
    ) -> io::Result<Vec<Entry>> {
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

    /// Applies `writes` in order, in one transaction, fsynced if `durable`.
    pub(crate) fn write_batch<'a>(
        &self,
        writes: impl IntoIterator<Item = &'a LogWrite>,
        durable: bool,
    ) -> io::Result<()> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability).map_err(|e| self.err(e))?;
        {
            let mut log = txn.open_table(LOG).map_err(|e| self.err(e))?;
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            let mut buf = Vec::new();
            for write in writes {
                match write {
                    LogWrite::Entries(entries) => {
                        for entry in entries {
                            buf.clear();
                            bincode::serialize_into(&mut buf, &**entry)
                                .map_err(|e| io_err("encode", e))?;
                            log.insert(entry.log_id.index, buf.as_slice())
                                .map_err(|e| self.err(e))?;
                        }
                    }
                    LogWrite::TruncateFrom(from) => {
                        log.retain_in(*from.., |_, _| false)
                            .map_err(|e| self.err(e))?;
                    }
                    LogWrite::PurgeUpTo(purged) => {
                        log.retain_in(..=purged.index, |_, _| false)
                            .map_err(|e| self.err(e))?;
                        meta.insert(KEY_PURGED, encode(purged)?.as_slice())
                            .map_err(|e| self.err(e))?;
                    }
                    LogWrite::Vote(vote) => {
                        meta.insert(KEY_VOTE, encode(vote)?.as_slice())
                            .map_err(|e| self.err(e))?;
                    }
                    LogWrite::Committed(committed) => {
                        meta.insert(KEY_COMMITTED, encode(committed)?.as_slice())
                            .map_err(|e| self.err(e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn remove_range(
        &self,
        range: (Bound<u64>, Bound<u64>),
        purged: Option<&LogId>,
    ) -> io::Result<()> {
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
}
