//! What an etcd-format snapshot of this store holds (etcd's `key` bucket verbatim,
//! leases, published members, consistent index, compact revision), read from one
//! redb read transaction so it is mutually consistent. The small tables are read
//! out; the `key` bucket rows are walked in place, so a caller can lay them out as
//! they come instead of copying them. The `cairn-snapshot` crate turns them into a
//! bbolt file.

use cairn_proto::cairnpb::MemberAttributes;
use prost::Message;
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::backend;
use crate::error::StoreError;

/// Everything an etcd snapshot file needs from the store but the `key` bucket.
#[derive(Clone, Debug, Default)]
pub struct EtcdTables {
    /// (lease ID, TTL seconds).
    pub leases: Vec<(i64, i64)>,
    pub members: Vec<MemberAttributes>,
    /// Raft index of the last applied entry.
    pub consistent_index: u64,
    /// -1 when never compacted.
    pub compact_revision: i64,
}

/// etcd `key` bucket rows (17/18-byte revision key → `mvccpb.KeyValue` bytes) of
/// the read transaction the [`EtcdTables`] beside them come from.
pub struct KeyBucketRows {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

fn read_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::db("read for etcd snapshot")(e)
}

impl KeyBucketRows {
    /// How many rows there are (without reading them).
    pub fn count(&self) -> Result<u64, StoreError> {
        self.table.len().map_err(read_err)
    }

    /// Calls `visit` with every row, in ascending byte order of the keys (bbolt's
    /// order), stopping at its first error.
    pub fn for_each<E: From<StoreError>>(
        &self,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        for entry in self.table.iter().map_err(read_err)? {
            let (key, value) = entry.map_err(read_err)?;
            visit(key.value(), value.value())?;
        }
        Ok(())
    }
}

/// Opens one read transaction of `db` and hands its small tables and its `key`
/// bucket rows to `visit`.
pub(crate) fn visit<T, E: From<StoreError>>(
    db: &Database,
    visit: impl FnOnce(EtcdTables, &KeyBucketRows) -> Result<T, E>,
) -> Result<T, E> {
    let txn = db.begin_read().map_err(read_err)?;
    let meta = backend::read_meta(&txn.open_table(backend::META).map_err(read_err)?)
        .map_err(StoreError::Inconsistent)?;
    let mut tables = EtcdTables {
        consistent_index: meta.applied_index,
        compact_revision: meta.compact_rev,
        ..Default::default()
    };
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
        tables.leases.push((id.value(), ttl));
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
        tables.members.push(m);
    }
    let key_rows = KeyBucketRows {
        table: txn.open_table(backend::KV).map_err(read_err)?,
    };
    visit(tables, &key_rows)
}

#[cfg(test)]
mod tests {
    use cairn_proto::mvccpb::KeyValue;
    use prost::Message;

    use crate::error::StoreError;
    use crate::tests::TestStore;

    /// Main revision of a `key` bucket row's key.
    fn main_revision(key: &[u8]) -> i64 {
        i64::from_be_bytes(key[..8].try_into().expect("revision key"))
    }

    #[test]
    fn rows_come_in_order_from_one_transaction() {
        let s = TestStore::new();
        for (key, value) in [("a", "1"), ("b", "2"), ("a", "3")] {
            s.put(key, value);
        }
        s.del("b", "");
        s.compact(2).expect("compact");
        let applied = s.applied_index();
        let (tables, rows, count) = s
            .visit_etcd_rows(|tables, key_rows| {
                // Writes after the transaction began are not seen by it.
                s.put("c", "4");
                let mut rows = Vec::new();
                key_rows.for_each(|k, v| {
                    rows.push((k.to_vec(), v.to_vec()));
                    Ok::<_, StoreError>(())
                })?;
                Ok::<_, StoreError>((tables, rows, key_rows.count()?))
            })
            .expect("visit");
        assert_eq!(tables.consistent_index, applied);
        assert_eq!(tables.compact_revision, 2);
        let revisions: Vec<i64> = rows.iter().map(|(k, _)| main_revision(k)).collect();
        assert_eq!(revisions, [2, 3, 4, 5]);
        let keys: Vec<Vec<u8>> = rows
            .iter()
            .map(|(_, v)| KeyValue::decode(v.as_slice()).expect("kv").key)
            .collect();
        assert_eq!(keys, [b"a", b"b", b"a", b"b"]);
        assert_eq!(count, 4);
    }

    #[test]
    fn the_visitor_error_stops_the_walk() {
        let s = TestStore::new();
        for i in 0..10 {
            s.put(&format!("k{i}"), "v");
        }
        let mut seen = 0;
        let res = s.visit_etcd_rows(|_, key_rows| {
            key_rows.for_each(|_, _| {
                seen += 1;
                if seen == 3 {
                    return Err(StoreError::Inconsistent("stop".into()));
                }
                Ok(())
            })
        });
        assert!(matches!(res, Err(StoreError::Inconsistent(m)) if m == "stop"));
        assert_eq!(seen, 3);
    }
}
