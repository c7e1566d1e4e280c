//! The rows an etcd-format snapshot of this store holds (etcd's `key` bucket
//! verbatim, leases, published members, consistent index, compact revision),
//! read from one redb snapshot so they are mutually consistent. The
//! `cairn-snapshot` crate turns them into a bbolt file.

use cairn_proto::cairnpb::MemberAttributes;
use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable};

use crate::backend;
use crate::error::StoreError;

/// Everything an etcd snapshot file needs from the store.
#[derive(Clone, Debug, Default)]
pub struct EtcdRows {
    /// etcd `key` bucket rows: 17/18-byte revision key → `mvccpb.KeyValue` bytes.
    pub kvs: Vec<(Vec<u8>, Vec<u8>)>,
    /// (lease ID, TTL seconds).
    pub leases: Vec<(i64, i64)>,
    pub members: Vec<MemberAttributes>,
    /// Raft index of the last applied entry.
    pub consistent_index: u64,
    /// -1 when never compacted.
    pub compact_revision: i64,
}

fn read_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::db("read for etcd snapshot")(e)
}

pub(crate) fn read(db: &Database) -> Result<EtcdRows, StoreError> {
    let txn = db.begin_read().map_err(read_err)?;
    let meta = backend::read_meta(&txn.open_table(backend::META).map_err(read_err)?)
        .map_err(StoreError::Inconsistent)?;
    let mut rows = EtcdRows {
        consistent_index: meta.applied_index,
        compact_revision: meta.compact_rev,
        ..Default::default()
    };
    for entry in txn
        .open_table(backend::KV)
        .map_err(read_err)?
        .iter()
        .map_err(read_err)?
    {
        let (k, v) = entry.map_err(read_err)?;
        rows.kvs.push((k.value().to_vec(), v.value().to_vec()));
    }
    for entry in txn
        .open_table(backend::LEASES)
        .map_err(read_err)?
        .iter()
        .map_err(read_err)?
    {
        let (id, ttl) = entry.map_err(read_err)?;
        let (ttl, _remaining) = crate::lease::decode_record(ttl.value()).ok_or_else(|| {
            StoreError::Inconsistent(format!("lease {} has a malformed TTL", id.value()))
        })?;
        rows.leases.push((id.value(), ttl));
    }
    for entry in txn
        .open_table(backend::MEMBERS)
        .map_err(read_err)?
        .iter()
        .map_err(read_err)?
    {
        let (id, v) = entry.map_err(read_err)?;
        let m = MemberAttributes::decode(v.value())
            .map_err(|e| StoreError::Inconsistent(format!("member {:x}: {e}", id.value())))?;
        rows.members.push(m);
    }
    Ok(rows)
}
