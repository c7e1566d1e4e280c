//! Moving the whole state in and out of the database as a snapshot stream:
//! export reads every table from one redb read transaction (a
//! [`StoreSnapshot`], so writes go on meanwhile); install replaces every
//! table inside one write transaction and rebuilds (and so checks) the state
//! from the result before the caller commits.

use std::io::{Read, Write};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::backend::{self, Tables};
use crate::error::StoreError;
use crate::snapshot::{Reader, TableId, Writer};
use crate::state::{self, State};

/// What [`export`] wrote.
pub(crate) struct Exported<W> {
    pub out: W,
    /// Bytes written to `out`.
    pub len: u64,
    /// The `raft_state` the snapshot contains.
    pub raft_state: Option<Vec<u8>>,
}

/// A consistent view of the whole state, taken at one instant, that can be
/// written out as a snapshot later while the store goes on changing.
pub struct StoreSnapshot {
    txn: ReadTransaction,
}

impl StoreSnapshot {
    /// Everything committed to `db` so far.
    pub(crate) fn take(db: &Database) -> Result<StoreSnapshot, StoreError> {
        Ok(StoreSnapshot {
            txn: db.begin_read().map_err(read_err)?,
        })
    }

    /// Writes the view to `out` in the snapshot format; returns `out` and
    /// the number of bytes written.
    pub fn write_to<W: Write>(&self, out: W) -> Result<(W, u64), StoreError> {
        let exported = export(&self.txn, out)?;
        Ok((exported.out, exported.len))
    }
}

/// Writes every table to `out` as one snapshot.
pub(crate) fn export<W: Write>(txn: &ReadTransaction, out: W) -> Result<Exported<W>, StoreError> {
    let kv = txn.open_table(backend::KV).map_err(read_err)?;
    let meta = txn.open_table(backend::META).map_err(read_err)?;
    let leases = txn.open_table(backend::LEASES).map_err(read_err)?;
    let members = txn.open_table(backend::MEMBERS).map_err(read_err)?;
    let mut w = Writer::to_stream(out)?;
    export_table(&mut w, TableId::Kv, &kv, |k| k.to_vec())?;
    export_table(&mut w, TableId::Meta, &meta, |k| k.as_bytes().to_vec())?;
    export_table(&mut w, TableId::Leases, &leases, |k| {
        k.to_be_bytes().to_vec()
    })?;
    export_table(&mut w, TableId::Members, &members, |k| {
        k.to_be_bytes().to_vec()
    })?;
    let raft_state = backend::read_meta(&meta)
        .map_err(StoreError::Inconsistent)?
        .raft_state;
    let (out, len) = w.finish()?;
    Ok(Exported {
        out,
        len,
        raft_state,
    })
}

fn read_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::db("read for export")(e)
}

fn export_table<K: redb::Key + 'static, W: Write>(
    w: &mut Writer<W>,
    id: TableId,
    table: &impl ReadableTable<K, &'static [u8]>,
    key_bytes: impl for<'a> Fn(K::SelfType<'a>) -> Vec<u8>,
) -> Result<(), StoreError> {
    for entry in table.iter().map_err(read_err)? {
        let (k, v) = entry.map_err(read_err)?;
        w.record(id, &key_bytes(k.value()), v.value())?;
    }
    Ok(())
}

/// Replaces every table's content with the records of the snapshot `input`
/// and returns the state they describe; a damaged or inconsistent snapshot is
/// refused (the caller then drops `txn`, so nothing it wrote is kept).
pub(crate) fn install<R: Read>(txn: &WriteTransaction, input: R) -> Result<State, StoreError> {
    let mut records = Reader::new(input)?;
    let clear_err = StoreError::db::<redb::TableError>;
    txn.delete_table(backend::KV)
        .map_err(clear_err("clear for install"))?;
    txn.delete_table(backend::META)
        .map_err(clear_err("clear for install"))?;
    txn.delete_table(backend::LEASES)
        .map_err(clear_err("clear for install"))?;
    txn.delete_table(backend::MEMBERS)
        .map_err(clear_err("clear for install"))?;
    let mut t = Tables::open(txn)?;
    while let Some((table, key, value)) = records.next_record()? {
        insert_record(&mut t, table, key, value)?;
    }
    state::load(&t.kv, &t.meta, &t.leases, &t.members)
        .map_err(|e| StoreError::Snapshot(format!("its content is inconsistent: {e}")))
}

fn insert_record(
    t: &mut Tables<'_>,
    table: TableId,
    key: &[u8],
    value: &[u8],
) -> Result<(), StoreError> {
    let bad = |what: &str| StoreError::Snapshot(format!("malformed {what} record"));
    let err = StoreError::db("write for install");
    match table {
        TableId::Kv => t.kv.insert(key, value).map(drop).map_err(err),
        TableId::Meta => {
            let name = std::str::from_utf8(key).map_err(|_| bad("meta"))?;
            t.meta.insert(name, value).map(drop).map_err(err)
        }
        TableId::Leases => {
            let id = i64::from_be_bytes(key.try_into().map_err(|_| bad("lease"))?);
            t.leases.insert(id, value).map(drop).map_err(err)
        }
        TableId::Members => {
            let id = u64::from_be_bytes(key.try_into().map_err(|_| bad("member"))?);
            t.members.insert(id, value).map(drop).map_err(err)
        }
    }
}
