//! The redb file: table layout, the meta record, opening (refusing anything that
//! is not a healthy Cairn state database) and first-time initialisation.
//!
//! Tables:
//! - `kv`: etcd's key bucket. Key: 17-byte revision (`main` BE, `_`, `sub` BE),
//!   plus `t` for a deletion. Value: `mvccpb.KeyValue` as protobuf (a deletion
//!   stores only the key).
//! - `meta`: `format`, `current_revision` and `compact_revision` (i64 BE),
//!   `consistent_index` (u64 BE, the last applied Raft index), `raft_state` (the
//!   Raft layer's opaque blob; absent until the first apply),
//!   `cluster_settings` (`cairnpb.ClusterSettings` as protobuf; absent until
//!   first set, meaning the defaults).
//! - `leases`: lease ID (i64) → granted TTL (i64 BE).
//! - `members`: member ID (u64) → `cairnpb.MemberAttributes` as protobuf.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use redb::{
    Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction,
};

use crate::error::StoreError;

pub(crate) const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const LEASES: TableDefinition<i64, &[u8]> = TableDefinition::new("leases");
pub(crate) const MEMBERS: TableDefinition<u64, &[u8]> = TableDefinition::new("members");
/// The meta key holding Cairn's cluster settings.
pub(crate) const CLUSTER_SETTINGS_KEY: &str = "cluster_settings";

/// Identifies the file layout; bump when it changes incompatibly.
pub(crate) const FORMAT: &[u8] = b"cairn-mvcc/1";

const FORMAT_KEY: &str = "format";
const CURRENT_REV_KEY: &str = "current_revision";
const COMPACT_REV_KEY: &str = "compact_revision";
const CONSISTENT_INDEX_KEY: &str = "consistent_index";
const RAFT_STATE_KEY: &str = "raft_state";
const ALARMS_KEY: &str = "alarms";

/// The values kept in the `meta` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub current_rev: i64,
    pub compact_rev: i64,
    pub applied_index: u64,
    pub raft_state: Option<Vec<u8>>,
    /// Raised alarms as (member ID, etcd `AlarmType` number).
    pub alarms: Vec<(u64, i32)>,
}

fn encode_alarms(alarms: &[(u64, i32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(alarms.len() * 12);
    for (member, alarm) in alarms {
        out.extend_from_slice(&member.to_be_bytes());
        out.extend_from_slice(&alarm.to_be_bytes());
    }
    out
}

fn decode_alarms(bytes: &[u8]) -> Result<Vec<(u64, i32)>, String> {
    if bytes.len() % 12 != 0 {
        return Err(format!("alarms record has {} bytes", bytes.len()));
    }
    Ok(bytes
        .chunks_exact(12)
        .map(|c| {
            let mut m = [0u8; 8];
            let mut a = [0u8; 4];
            m.copy_from_slice(&c[..8]);
            a.copy_from_slice(&c[8..]);
            (u64::from_be_bytes(m), i32::from_be_bytes(a))
        })
        .collect())
}

/// The four tables, open inside one write transaction.
pub(crate) struct Tables<'t> {
    pub kv: redb::Table<'t, &'static [u8], &'static [u8]>,
    pub meta: redb::Table<'t, &'static str, &'static [u8]>,
    pub leases: redb::Table<'t, i64, &'static [u8]>,
    pub members: redb::Table<'t, u64, &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, StoreError> {
        Ok(Tables {
            kv: txn
                .open_table(KV)
                .map_err(StoreError::db("open kv table"))?,
            meta: txn
                .open_table(META)
                .map_err(StoreError::db("open meta table"))?,
            leases: txn
                .open_table(LEASES)
                .map_err(StoreError::db("open leases table"))?,
            members: txn
                .open_table(MEMBERS)
                .map_err(StoreError::db("open members table"))?,
        })
    }
}

fn read_i64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<i64, String> {
    let bytes = read_required(meta, key)?;
    let arr: [u8; 8] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("meta {key} has {} bytes, want 8", bytes.len()))?;
    Ok(i64::from_be_bytes(arr))
}

fn read_required(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Vec<u8>, String> {
    read_optional(meta, key)?.ok_or_else(|| format!("meta {key} is missing"))
}

fn read_optional(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<Vec<u8>>, String> {
    let value = meta
        .get(key)
        .map_err(|e| format!("reading meta {key}: {e}"))?;
    Ok(value.map(|v| v.value().to_vec()))
}

/// Reads and checks the meta record.
pub(crate) fn read_meta(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Meta, String> {
    let format = read_required(meta, FORMAT_KEY)?;
    if format != FORMAT {
        return Err(format!(
            "unsupported format {:?} (this build reads {:?})",
            String::from_utf8_lossy(&format),
            String::from_utf8_lossy(FORMAT)
        ));
    }
    Ok(Meta {
        current_rev: read_i64(meta, CURRENT_REV_KEY)?,
        compact_rev: read_i64(meta, COMPACT_REV_KEY)?,
        applied_index: read_i64(meta, CONSISTENT_INDEX_KEY)? as u64,
        raft_state: read_optional(meta, RAFT_STATE_KEY)?,
        alarms: match read_optional(meta, ALARMS_KEY)? {
            Some(bytes) => decode_alarms(&bytes)?,
            None => Vec::new(),
        },
    })
}

/// The meta record as (key, value) rows.
pub(crate) fn meta_rows(meta: &Meta) -> Vec<(&'static str, Vec<u8>)> {
    let mut rows = vec![
        (FORMAT_KEY, FORMAT.to_vec()),
        (CURRENT_REV_KEY, meta.current_rev.to_be_bytes().to_vec()),
        (COMPACT_REV_KEY, meta.compact_rev.to_be_bytes().to_vec()),
        (
            CONSISTENT_INDEX_KEY,
            meta.applied_index.to_be_bytes().to_vec(),
        ),
    ];
    if let Some(blob) = &meta.raft_state {
        rows.push((RAFT_STATE_KEY, blob.clone()));
    }
    rows.push((ALARMS_KEY, encode_alarms(&meta.alarms)));
    rows
}

/// Writes the meta record.
pub(crate) fn write_meta(
    table: &mut redb::Table<'_, &'static str, &'static [u8]>,
    meta: &Meta,
) -> Result<(), StoreError> {
    for (key, value) in meta_rows(meta) {
        table
            .insert(key, value.as_slice())
            .map_err(StoreError::db("write meta table"))?;
    }
    Ok(())
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Describes a panic payload (redb may panic on a damaged file in debug builds).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic while reading the file".to_string()
    }
}

/// How much memory redb may use to cache the state database's pages (its read
/// cache plus the write buffer of not-yet-synced commits, at most half of it).
///
/// redb's default is 1 GiB, and the cache only ever grows: loading 100,000 keys
/// of 256 B left every page of the file in memory, which made a member's RSS
/// larger than etcd's. Pages that are not cached are read with `pread` from the
/// OS page cache (which RSS does not count, as for etcd's mmap'ed bbolt file
/// when the kernel reclaims it), so hot pages — the B-tree's branches and
/// recently written leaves — stay in redb's cache and the rest costs a syscall.
/// 8 MiB rather than 16 took ~14 MB off a member's peak RSS after that load,
/// with the same CPU per put and per full range (ranges fetch in revision
/// order, so they read each leaf page once; see `view::fetch`).
pub(crate) const STATE_CACHE_BYTES: usize = 8 << 20;

/// Opens (creating if missing) the redb file, verifying every page checksum so
/// that a damaged file is refused rather than half-read.
pub(crate) fn open_database(path: &Path) -> Result<Database, StoreError> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "directory does not exist",
                ),
            });
        }
    }
    let opened = catch_unwind(AssertUnwindSafe(|| {
        Database::builder()
            .set_check_integrity_on_open(true)
            .set_cache_size(STATE_CACHE_BYTES)
            .create(path)
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Io(e))))
            if !matches!(
                e.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            Err(StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the database is already open (another process or store holds it)",
            ),
        }),
        Ok(Err(e)) => Err(corrupt(path, format!("not a readable redb database: {e}"))),
        Err(panic) => Err(corrupt(
            path,
            format!(
                "not a readable redb database: {}",
                panic_message(panic.as_ref())
            ),
        )),
    }
}

/// True if the file holds no tables yet (freshly created).
pub(crate) fn is_blank(db: &Database, path: &Path) -> Result<bool, StoreError> {
    let txn = db
        .begin_read()
        .map_err(|e| corrupt(path, format!("cannot read: {e}")))?;
    let mut tables = txn
        .list_tables()
        .map_err(|e| corrupt(path, format!("cannot list tables: {e}")))?;
    Ok(tables.next().is_none())
}

/// Names the tables a healthy file must have and checks they are all there.
pub(crate) fn check_tables(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db
        .begin_read()
        .map_err(|e| corrupt(path, format!("cannot read: {e}")))?;
    let names: Vec<String> = txn
        .list_tables()
        .map_err(|e| corrupt(path, format!("cannot list tables: {e}")))?
        .map(|t| t.name().to_string())
        .collect();
    for want in [KV.name(), META.name(), LEASES.name(), MEMBERS.name()] {
        if !names.iter().any(|n| n == want) {
            return Err(corrupt(path, format!("table {want} is missing")));
        }
    }
    Ok(())
}

/// Creates the tables and the meta record of an empty store, durably.
pub(crate) fn initialise(db: &Database, meta: &Meta) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(StoreError::db("initialise"))?;
    {
        let mut tables = Tables::open(&txn)?;
        write_meta(&mut tables.meta, meta)?;
    }
    txn.commit().map_err(StoreError::db("initialise"))
}
