//! The public face of the state machine.
//!
//! Concurrency: one `RwLock` guards the in-memory [`State`]. An apply batch holds
//! it for writing from before its redb write transaction begins until after that
//! transaction commits, so readers (who take it for reading and open their redb
//! read transaction under it) see either all of a batch or none of it. A Range
//! reads the index under the lock and fetches values after releasing it, from a
//! redb snapshot taken under it.
//!
//! Durability: batches commit with `Durability::None`; `sync` makes all of them
//! durable. After a crash the store reopens at its last durable point, and the
//! Raft layer replays its log from the applied index stored in `raft_state`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use cairn_proto::cairnpb::{ClusterSettings, MemberAttributes};
use cairn_proto::etcdserverpb::{RangeRequest, RangeResponse, TxnRequest, TxnResponse};
use prost::Message;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::apply::{self, ApplyEntry, ApplyResult};
use crate::backend::{self, Tables};
use crate::error::{Error, KvError, StoreError};
use crate::hash;
use crate::lease::LeaseInfo;
use crate::metrics;
use crate::range;
use crate::state::{self, State};
use crate::transfer::{self, StoreSnapshot};
use crate::txn::{self, ReadOnly};
use crate::view::{self, View};
use crate::watch_feed::{self, History, RecentEvents, RevisionEvents};

/// etcd's HashKV answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKv {
    /// CRC-32C of the key space up to `hash_revision`, equal to etcd's.
    pub hash: u32,
    /// The store's current revision (etcd puts it in the response header).
    pub revision: i64,
    /// The compact revision (-1 if never compacted, as etcd reports it).
    pub compact_revision: i64,
    /// The revision that was hashed (the request's, or the current one for 0).
    pub hash_revision: i64,
}

struct Inner {
    path: PathBuf,
    /// Write-locked only by `defragment`, which needs the database to itself.
    db: RwLock<Database>,
    state: RwLock<State>,
    /// Bytes of allocated pages, measured at open and at each `sync`.
    size_in_use: AtomicU64,
    /// The database file's length as of the last commit (what the quota check
    /// on every write compares; looking it up per write cost a syscall each).
    file_size: AtomicU64,
    /// When the periodic sync last measured `size_in_use` (see [`SIZE_MEASURE_EVERY`]).
    size_measured: Mutex<Option<Instant>>,
    /// Events of recent revisions, for watchers (updated under `state`'s lock).
    recent: Mutex<RecentEvents>,
    /// The current revision, announced after each applied batch.
    revision_tx: tokio::sync::watch::Sender<i64>,
}

/// How often the periodic sync re-measures the database's size in use
/// (Maintenance.Status `dbSizeInUse`).
const SIZE_MEASURE_EVERY: Duration = Duration::from_secs(10);

/// The state machine; cheap to clone (all clones share one database).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating an empty one if the file is missing.
    /// A file that is not a healthy Cairn state database is refused with
    /// [`StoreError::Corrupt`] naming it; nothing is served from it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = backend::open_database(path)?;
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let state = if backend::is_blank(&db, path)? {
            let state = State::empty();
            backend::initialise(&db, &state.meta())?;
            state
        } else {
            backend::check_tables(&db, path)?;
            let loaded =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load_committed(&db)));
            match loaded {
                Ok(Ok(state)) => state,
                Ok(Err(detail)) => return Err(corrupt(detail)),
                Err(panic) => return Err(corrupt(backend::panic_message(panic.as_ref()))),
            }
        };
        let current = state.current_rev;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                db: RwLock::new(db),
                state: RwLock::new(state),
                size_in_use: AtomicU64::new(0),
                file_size: AtomicU64::new(0),
                size_measured: Mutex::new(None),
                recent: Mutex::new(RecentEvents::new(current)),
                revision_tx: tokio::sync::watch::Sender::new(current),
            }),
        };
        store.measure_size()?;
        Ok(store)
    }

    /// Applies committed entries, in log order, in one redb write transaction
    /// (not durable until [`Store::sync`]), storing `raft_state` with them.
    /// Returns one result per entry; a client-visible error (`Err(KvError)` in
    /// the vector) leaves no trace of that entry. A storage failure applies none
    /// of the batch and reloads the in-memory state from the last commit; the
    /// caller should then stop applying (as etcd would) or reopen the store.
    pub fn apply_batch(
        &self,
        entries: &[ApplyEntry<'_>],
        raft_state: &[u8],
    ) -> Result<Vec<ApplyResult>, StoreError> {
        let mut state = self.write_state();
        state.pending_events.clear();
        let outcome = self.apply_locked(&mut state, entries, raft_state);
        if outcome.is_err() {
            // Forget what the failed batch did in memory.
            if let Ok(fresh) = load_committed(&self.db()) {
                *state = fresh;
            }
            self.recent().reset(state.current_rev);
        } else {
            self.publish_events(&mut state);
        }
        self.inner.revision_tx.send_replace(state.current_rev);
        outcome
    }

    /// Hands the committed batch's events to the watch feed, one entry per
    /// revision.
    fn publish_events(&self, state: &mut State) {
        let events = std::mem::take(&mut state.pending_events);
        let mut recent = self.recent();
        let mut current: Option<RevisionEvents> = None;
        for event in events {
            let rev = event.kv.as_ref().map_or(0, |kv| kv.mod_revision);
            match &mut current {
                Some(r) if r.revision == rev => r.events.push(event),
                _ => {
                    if let Some(done) = current.take() {
                        recent.push(done);
                    }
                    current = Some(RevisionEvents {
                        revision: rev,
                        events: vec![event],
                    });
                }
            }
        }
        if let Some(done) = current {
            recent.push(done);
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentEvents> {
        self.inner
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A receiver that wakes each time the current revision may have moved.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.inner.revision_tx.subscribe()
    }

    /// The events of revisions `from..` (at most `max_revisions` of them, and
    /// no more revisions once `max_bytes` of events are gathered), from memory
    /// when recent, else from the `kv` table; `History::Compacted` when `from`
    /// is below the compact revision (as etcd cancels such a watcher).
    pub fn history(
        &self,
        from: i64,
        max_revisions: usize,
        max_bytes: usize,
    ) -> Result<History, KvError> {
        let state = self.read_state();
        let (current, compact) = (state.current_rev, state.compact_rev);
        if from <= current && from < compact {
            return Ok(History::Compacted(compact));
        }
        // The window does not know about compaction: at or below the compact
        // revision only the table says which events survived.
        let window = if from > compact {
            self.recent().from(from, max_revisions, max_bytes)
        } else {
            None
        };
        if let Some(revisions) = window {
            let full = revisions.len() == max_revisions
                || revisions.iter().map(|r| r.bytes()).sum::<usize>() >= max_bytes;
            let through = match revisions.last() {
                Some(r) if full => r.revision,
                _ => current.max(from - 1),
            };
            return Ok(History::Events {
                revisions,
                through,
                current,
            });
        }
        let txn = self.db().begin_read().map_err(read_error)?;
        drop(state);
        let table = txn.open_table(backend::KV).map_err(read_error)?;
        let last = current.min(from.saturating_add(max_revisions as i64 - 1));
        let lower = crate::revision::encode(crate::revision::Revision::new(from, 0), false);
        let upper = crate::revision::encode(crate::revision::Revision::new(last + 1, 0), false);
        let mut revisions: Vec<RevisionEvents> = Vec::new();
        let mut bytes = 0usize;
        let mut through = last;
        for row in table
            .range::<&[u8]>(lower.as_slice()..upper.as_slice())
            .map_err(read_error)?
        {
            let (k, v) = row.map_err(read_error)?;
            let Some((rev, tombstone)) = crate::revision::decode(k.value()) else {
                return Err(KvError::Internal(format!(
                    "kv table key {:02x?} is not a revision",
                    k.value()
                )));
            };
            let kv = <cairn_proto::mvccpb::KeyValue as prost::Message>::decode(v.value()).map_err(
                |e| KvError::Internal(format!("value at revision {}.{}: {e}", rev.main, rev.sub)),
            )?;
            let event = watch_feed::event(rev, tombstone, kv);
            match revisions.last_mut() {
                Some(r) if r.revision == rev.main => r.events.push(event),
                Some(r) if bytes >= max_bytes => {
                    // Enough for one answer: end after the previous revision.
                    through = r.revision;
                    break;
                }
                _ => revisions.push(RevisionEvents {
                    revision: rev.main,
                    events: vec![event],
                }),
            }
            bytes += v.value().len() + k.value().len();
        }
        Ok(History::Events {
            revisions: revisions.into_iter().map(Arc::new).collect(),
            through: through.max(from - 1),
            current,
        })
    }

    /// The value `key` had at revision `rev` (what a watch event's `prev_kv`
    /// holds); None if it had none or that revision was compacted.
    pub fn value_at(&self, key: &[u8], rev: i64) -> Option<cairn_proto::mvccpb::KeyValue> {
        if rev <= 0 {
            return None;
        }
        let req = RangeRequest {
            key: key.to_vec(),
            revision: rev,
            ..Default::default()
        };
        self.range(&req).ok()?.kvs.into_iter().next()
    }

    fn apply_locked(
        &self,
        state: &mut State,
        entries: &[ApplyEntry<'_>],
        raft_state: &[u8],
    ) -> Result<Vec<ApplyResult>, StoreError> {
        let mut txn = self
            .db()
            .begin_write()
            .map_err(StoreError::db("begin apply"))?;
        txn.set_durability(Durability::None)
            .map_err(StoreError::db("begin apply"))?;
        let mut results = Vec::with_capacity(entries.len());
        {
            let mut tables = Tables::open(&txn)?;
            for entry in entries {
                let result = match entry.request {
                    None => Ok(apply::ApplyResponse::None),
                    Some(req) => match apply::apply(state, &mut tables, req) {
                        Ok(resp) => Ok(resp),
                        Err(Error::Kv(e)) => Err(e),
                        Err(Error::Store(e)) => return Err(e),
                    },
                };
                results.push(result);
                state.applied_index = entry.index;
            }
            state.raft_state = Some(raft_state.to_vec());
            backend::write_meta(&mut tables.meta, &state.meta())?;
        }
        metrics::timed_commit(|| txn.commit()).map_err(StoreError::db("commit apply"))?;
        self.note_file_size();
        Ok(results)
    }

    /// Makes everything applied so far durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        let mut txn = self
            .db()
            .begin_write()
            .map_err(StoreError::db("begin sync"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(StoreError::db("begin sync"))?;
        if self.size_measure_due() {
            self.record_size(&txn);
        }
        metrics::timed_commit(|| txn.commit()).map_err(StoreError::db("commit sync"))?;
        self.note_file_size();
        Ok(())
    }

    /// The Raft layer's blob stored by the last apply (durable or not).
    pub fn raft_state(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read_state().raft_state.clone())
    }

    /// Index of the last applied Raft entry (etcd's consistent index).
    pub fn applied_index(&self) -> u64 {
        self.read_state().applied_index
    }

    /// A local (serializable) Range. `header.revision` is the current revision;
    /// the other header fields are left for the server.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, KvError> {
        Self::range_in(self.read_state(), &self.db(), req)
    }

    /// [`Store::range`] without waiting for a lock: `None` while an apply (or a
    /// defragmentation) holds the store, so that a caller on an async thread can
    /// hand the read to a blocking thread instead of stalling.
    pub fn try_range(&self, req: &RangeRequest) -> Option<Result<RangeResponse, KvError>> {
        if self.inner.state.is_poisoned() || self.inner.db.is_poisoned() {
            return None;
        }
        let state = self.inner.state.try_read().ok()?;
        let db = self.inner.db.try_read().ok()?;
        Some(Self::range_in(state, &db, req))
    }

    fn range_in(
        state: RwLockReadGuard<'_, State>,
        db: &Database,
        req: &RangeRequest,
    ) -> Result<RangeResponse, KvError> {
        metrics::RANGES.inc();
        let plan = view::plan(
            &state.index,
            state.current_rev,
            state.compact_rev,
            range::span(req),
            range::options(req),
        )?;
        let txn = db.begin_read().map_err(read_error)?;
        drop(state);
        let table = txn.open_table(backend::KV).map_err(read_error)?;
        let rr = view::fetch(&table, plan)?;
        Ok(range::finish(req, rr))
    }

    /// Evaluates a txn made only of ranges (see [`crate::is_txn_read_only`])
    /// without Raft.
    pub fn txn_read_only(&self, req: &TxnRequest) -> Result<TxnResponse, KvError> {
        if !txn::is_read_only(req) {
            return Err(KvError::Internal(
                "cairn: txn_read_only called with a txn that writes".into(),
            ));
        }
        let state = self.read_state();
        let rtxn = self.db().begin_read().map_err(read_error)?;
        let table = rtxn.open_table(backend::KV).map_err(read_error)?;
        let mut ops = ReadOnly {
            view: View {
                index: &state.index,
                kv: &table,
                rev: state.current_rev,
                compact_rev: state.compact_rev,
            },
            leases: &state.leases,
        };
        Ok(txn::run(&mut ops, req)?)
    }

    /// How many keys exist at the current revision (etcd's
    /// `etcd_debugging_mvcc_keys_total`).
    pub fn live_key_count(&self) -> u64 {
        self.read_state().index.live_key_count()
    }

    /// The revision of the last write (1 on an empty store).
    pub fn current_revision(&self) -> i64 {
        self.read_state().current_rev
    }

    /// Cairn's cluster settings as last applied (the defaults if never set).
    pub fn cluster_settings(&self) -> Result<ClusterSettings, KvError> {
        let txn = self.db().begin_read().map_err(read_error)?;
        let meta = txn.open_table(backend::META).map_err(read_error)?;
        let value = meta
            .get(backend::CLUSTER_SETTINGS_KEY)
            .map_err(read_error)?;
        match value {
            None => Ok(ClusterSettings::default()),
            Some(v) => ClusterSettings::decode(v.value()).map_err(|e| {
                KvError::from(StoreError::Inconsistent(format!(
                    "meta {}: {e}",
                    backend::CLUSTER_SETTINGS_KEY
                )))
            }),
        }
    }

    /// The revision of the last compaction; -1 if there was none (as etcd says).
    pub fn compact_revision(&self) -> i64 {
        self.read_state().compact_rev
    }

    /// etcd's HashKV at `revision` (0 = current).
    pub fn hash_kv(&self, revision: i64) -> Result<HashKv, KvError> {
        let state = self.read_state();
        let (current, compact) = (state.current_rev, state.compact_rev);
        if revision > 0 && revision <= compact {
            return Err(KvError::Compacted);
        }
        if revision > current {
            return Err(KvError::FutureRev);
        }
        let rev = if revision == 0 { current } else { revision };
        let keep = state.index.keep(rev);
        let txn = self.db().begin_read().map_err(read_error)?;
        drop(state);
        let table = txn.open_table(backend::KV).map_err(read_error)?;
        let hash = metrics::timed_hash_kv(|| hash::hash_kv(&table, rev, compact, &keep))?;
        Ok(HashKv {
            hash,
            revision: current,
            compact_revision: compact,
            hash_revision: rev,
        })
    }

    /// Size of the database file in bytes, as of the last commit.
    pub fn db_size(&self) -> u64 {
        self.inner.file_size.load(Ordering::Relaxed)
    }

    /// Records the database file's length after a commit or a defragmentation.
    /// An unreadable length keeps the last one.
    fn note_file_size(&self) {
        if let Ok(meta) = std::fs::metadata(&self.inner.path) {
            self.inner.file_size.store(meta.len(), Ordering::Relaxed);
        }
    }

    /// Bytes of the file in use (allocated pages), as of open or the last `sync`.
    pub fn db_size_in_use(&self) -> u64 {
        self.inner.size_in_use.load(Ordering::Relaxed)
    }

    /// Published member attributes, sorted by member ID.
    pub fn members(&self) -> Vec<MemberAttributes> {
        self.read_state().members.values().cloned().collect()
    }

    pub fn lease_exists(&self, id: i64) -> bool {
        self.read_state().leases.contains(id)
    }

    /// One lease's granted TTL and attached keys.
    pub fn lease_info(&self, id: i64) -> Option<LeaseInfo> {
        self.read_state().leases.info(id)
    }

    /// etcd's `Hash`: a CRC-32C over every stored key-value row and the revisions,
    /// equal on members holding the same data (not comparable with etcd's, which
    /// hashes its bbolt file).
    pub fn hash(&self) -> Result<u32, StoreError> {
        metrics::timed_hash(|| self.hash_rows())
    }

    fn hash_rows(&self) -> Result<u32, StoreError> {
        let (current, compact) = {
            let state = self.read_state();
            (state.current_rev, state.compact_rev)
        };
        let txn = self
            .db()
            .begin_read()
            .map_err(StoreError::db("begin hash"))?;
        let table = txn
            .open_table(backend::KV)
            .map_err(StoreError::db("open kv table"))?;
        let mut crc = crc32c::crc32c(&current.to_be_bytes());
        crc = crc32c::crc32c_append(crc, &compact.to_be_bytes());
        for row in table.iter().map_err(StoreError::db("hash kv table"))? {
            let (k, v) = row.map_err(StoreError::db("hash kv table"))?;
            crc = crc32c::crc32c_append(crc, k.value());
            crc = crc32c::crc32c_append(crc, v.value());
        }
        Ok(crc)
    }

    /// Raised alarms as (member ID, etcd `AlarmType` number), sorted.
    pub fn alarms(&self) -> Vec<(u64, i32)> {
        self.read_state().alarms.clone()
    }

    /// IDs of all granted leases, ascending.
    pub fn lease_ids(&self) -> Vec<i64> {
        self.read_state().leases.ids().collect()
    }

    /// Hands what an etcd-format snapshot of this store holds to `visit`, all from
    /// one read transaction: the small tables read out, and the `key` bucket rows
    /// to walk in order (not copied). A defragmentation waits until `visit`
    /// returns, so `visit` must not wait for one.
    pub fn visit_etcd_rows<T, E: From<StoreError>>(
        &self,
        visit: impl FnOnce(crate::EtcdTables, &crate::KeyBucketRows) -> Result<T, E>,
    ) -> Result<T, E> {
        crate::etcd_rows::visit(&self.db(), visit)
    }

    /// The complete state (every table, `raft_state` included) as one blob.
    pub fn export_snapshot(&self) -> Result<Vec<u8>, StoreError> {
        Ok(self.export_snapshot_with_raft_state()?.0)
    }

    /// Like [`Store::export_snapshot`], also returning the `raft_state` the
    /// blob contains (so the caller knows exactly which log position it holds).
    pub fn export_snapshot_with_raft_state(
        &self,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
        let txn = self
            .db()
            .begin_read()
            .map_err(StoreError::db("read for export"))?;
        let exported = transfer::export(&txn, Vec::new())?;
        Ok((exported.out, exported.raft_state))
    }

    /// A consistent view of the complete state as committed so far (applied,
    /// not necessarily durable: call [`Store::sync`] first for that), to be
    /// written out in the format of [`Store::export_snapshot`] with
    /// [`StoreSnapshot::write_to`], without holding it in memory, while the
    /// store goes on applying.
    pub fn snapshot_view(&self) -> Result<StoreSnapshot, StoreError> {
        StoreSnapshot::take(&self.db())
    }

    /// Replaces the whole state with a blob from [`Store::export_snapshot`],
    /// atomically and durably. An invalid blob changes nothing.
    pub fn install_snapshot(&self, data: &[u8]) -> Result<(), StoreError> {
        self.install_snapshot_from(data)
    }

    /// Like [`Store::install_snapshot`], reading the snapshot from a stream
    /// one record at a time. Its checksum is checked before anything is
    /// committed: a damaged or cut-off stream changes nothing.
    pub fn install_snapshot_from(&self, input: impl std::io::Read) -> Result<(), StoreError> {
        let mut state = self.write_state();
        let mut txn = self
            .db()
            .begin_write()
            .map_err(StoreError::db("begin install"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(StoreError::db("begin install"))?;
        let fresh = transfer::install(&txn, input)?;
        self.record_size(&txn);
        txn.commit().map_err(StoreError::db("commit install"))?;
        self.note_file_size();
        *state = fresh;
        self.recent().reset(state.current_rev);
        self.inner.revision_tx.send_replace(state.current_rev);
        Ok(())
    }

    fn measure_size(&self) -> Result<(), StoreError> {
        self.note_file_size();
        let txn = self
            .db()
            .begin_write()
            .map_err(StoreError::db("measure size"))?;
        self.record_size(&txn);
        txn.abort().map_err(StoreError::db("measure size"))
    }

    /// Whether the periodic sync should measure the size in use again. The
    /// measurement walks every page of the database through redb's page cache
    /// (reading and evicting what does not fit), so it is done at most every
    /// [`SIZE_MEASURE_EVERY`] rather than on every once-a-second sync;
    /// defragmentation, snapshot installs and opening still measure at once.
    fn size_measure_due(&self) -> bool {
        let mut last = self
            .inner
            .size_measured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < SIZE_MEASURE_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    fn record_size(&self, txn: &WriteTransaction) {
        if let Ok(stats) = txn.stats() {
            let bytes = stats.allocated_pages() * stats.page_size() as u64;
            self.inner.size_in_use.store(bytes, Ordering::Relaxed);
        }
    }

    /// The database, shared with everything but `defragment`.
    fn db(&self) -> RwLockReadGuard<'_, Database> {
        self.inner
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rewrites the database file compactly (etcd's defragment): applies wait
    /// meanwhile. Fails, changing nothing, if a read is still in progress.
    pub fn defragment(&self) -> Result<(), StoreError> {
        self.sync()?;
        let _no_applies = self.write_state();
        let mut db = self
            .inner
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        metrics::timed_defrag(|| db.compact())
            .map_err(|e| StoreError::Snapshot(format!("defragment: {e}")))?;
        drop(db);
        self.measure_size()
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        if self.inner.state.is_poisoned() {
            drop(self.write_state());
        }
        self.inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state for writing; after a panic elsewhere left the lock poisoned, the
    /// state is reloaded from the last commit before anyone uses it again.
    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        match self.inner.state.write() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                if let Ok(fresh) = load_committed(&self.db()) {
                    *guard = fresh;
                }
                self.inner.state.clear_poison();
                guard
            }
        }
    }
}

fn read_error<E: Into<redb::Error>>(e: E) -> KvError {
    StoreError::db("read")(e).into()
}

/// Loads the state from the last committed transaction.
fn load_committed(db: &Database) -> Result<State, String> {
    let txn = db.begin_read().map_err(|e| format!("cannot read: {e}"))?;
    let open_err = |e: redb::TableError| format!("cannot open table: {e}");
    let kv = txn.open_table(backend::KV).map_err(open_err)?;
    let meta = txn.open_table(backend::META).map_err(open_err)?;
    let leases = txn.open_table(backend::LEASES).map_err(open_err)?;
    let members = txn.open_table(backend::MEMBERS).map_err(open_err)?;
    state::load(&kv, &meta, &leases, &members)
}
