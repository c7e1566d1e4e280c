//! Creating a brand-new store database from rows held in memory (an etcd
//! snapshot file being restored offline), in one pass and one durable commit:
//! the rows go straight into a redb write transaction while a second thread
//! replays them into the in-memory state, which checks them exactly as
//! opening the store (or installing a snapshot) would. Nothing is committed
//! unless every check passes.

use std::path::Path;

use redb::{Database, Durability};

use crate::backend::{self, Meta, Tables};
use crate::error::StoreError;
use crate::lease;
use crate::state::{self, KvReplay};

/// redb's cache while loading: large enough that the transaction's pages
/// (~36 MB for 100,000 keys of 256 B) stay in memory until the commit writes
/// them once, instead of being flushed and read back. Only what is used is
/// allocated; the store is reopened later with its normal, small cache.
const LOAD_CACHE_BYTES: usize = 512 << 20;

/// The content of a new store.
pub struct StoreRows<'a> {
    /// etcd `key` bucket rows in key order: 17/18-byte revision key →
    /// `mvccpb.KeyValue` bytes.
    pub kvs: &'a [(&'a [u8], &'a [u8])],
    /// Granted leases: (lease ID, TTL in seconds).
    pub leases: &'a [(i64, i64)],
    pub current_revision: i64,
    /// -1 when never compacted.
    pub compact_revision: i64,
    pub applied_index: u64,
    /// The Raft layer's blob, stored as an apply batch stores it.
    pub raft_state: Option<Vec<u8>>,
}

/// Creates the store database at `path` (which must not exist) holding `rows`,
/// durably. On error the file may be left behind, half-written and never
/// committed; the caller removes it.
pub fn create_store(path: &Path, rows: &StoreRows<'_>) -> Result<(), StoreError> {
    if path.exists() {
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a new store's file already exists",
            ),
        });
    }
    let db = Database::builder()
        .set_cache_size(LOAD_CACHE_BYTES)
        .create(path)
        .map_err(StoreError::db("create store"))?;
    std::thread::scope(|s| {
        let replay = s.spawn(|| {
            let mut replay = KvReplay::default();
            for (k, v) in rows.kvs {
                replay.row(k, v)?;
            }
            Ok::<_, String>(replay)
        });
        write(&db, rows, || {
            replay
                .join()
                .unwrap_or_else(|_| Err("the checking thread panicked".into()))
        })
    })
}

/// Writes every table in one transaction and commits it once `replayed` (the
/// checked key history) agrees with the rest of the state.
fn write(
    db: &Database,
    rows: &StoreRows<'_>,
    replayed: impl FnOnce() -> Result<KvReplay, String>,
) -> Result<(), StoreError> {
    let mut txn = db
        .begin_write()
        .map_err(StoreError::db("begin new store"))?;
    txn.set_durability(Durability::Immediate)
        .map_err(StoreError::db("begin new store"))?;
    {
        let mut t = Tables::open(&txn)?;
        for (k, v) in rows.kvs {
            t.kv.insert(*k, *v)
                .map_err(StoreError::db("write new store"))?;
        }
        for (id, ttl) in rows.leases {
            let record = lease::encode_record(*ttl, 0);
            t.leases
                .insert(*id, record.as_slice())
                .map_err(StoreError::db("write new store"))?;
        }
        let meta = Meta {
            current_rev: rows.current_revision,
            compact_rev: rows.compact_revision,
            applied_index: rows.applied_index,
            raft_state: rows.raft_state.clone(),
            alarms: Vec::new(),
        };
        backend::write_meta(&mut t.meta, &meta)?;
        let inconsistent =
            |e: String| StoreError::Snapshot(format!("its content is inconsistent: {e}"));
        let mut state =
            state::load_all_but_kv(&t.meta, &t.leases, &t.members).map_err(inconsistent)?;
        replayed()
            .and_then(|r| r.finish(&mut state))
            .map_err(inconsistent)?;
    }
    txn.commit().map_err(StoreError::db("commit new store"))
}
