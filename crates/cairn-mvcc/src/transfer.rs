//! Moving the whole state in and out of the database as a snapshot blob: export
//! reads every table from one redb snapshot; install replaces every table inside
//! one write transaction and rebuilds (and so checks) the state from the result
//! before the caller commits.

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use crate::backend::{self, Tables};
use crate::error::StoreError;
use crate::snapshot::{Record, TableId, Writer};
use crate::state::{self, State};

/// Serialises every table; also returns the `raft_state` the blob contains.
pub(crate) fn export(db: &Database) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
    let txn = db.begin_read().map_err(read_err)?;
    let kv = txn.open_table(backend::KV).map_err(read_err)?;
    let meta = txn.open_table(backend::META).map_err(read_err)?;
    let leases = txn.open_table(backend::LEASES).map_err(read_err)?;
    let members = txn.open_table(backend::MEMBERS).map_err(read_err)?;
    let mut w = Writer::new();
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
    Ok((w.finish(), raft_state))
}

fn read_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::db("read for export")(e)
}

fn export_table<K: redb::Key + 'static>(
    w: &mut Writer,
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

/// Replaces every table's content with `records` and returns the state they
/// describe; an inconsistent snapshot is refused (the caller then drops `txn`).
pub(crate) fn install(
    txn: &WriteTransaction,
    records: Vec<Record<'_>>,
) -> Result<State, StoreError> {
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
    for (table, key, value) in records {
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
