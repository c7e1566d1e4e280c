//! etcd's HashKV: a CRC-32C (Castagnoli) over the bucket name `key` followed by
//! every (revision key, value) pair of the key bucket up to the hashed revision,
//! in key order. Entries at or below the compact revision count only if a
//! compaction at the hashed revision would keep them. Because the `kv` table holds
//! the same bytes as etcd's key bucket, the hash equals etcd's for the same history.

use std::collections::HashSet;

use redb::ReadableTable;

use crate::error::StoreError;
use crate::revision::{self, Revision};

/// Hashes the `kv` table as etcd hashes its key bucket at revision `rev`.
pub(crate) fn hash_kv(
    kv: &impl ReadableTable<&'static [u8], &'static [u8]>,
    rev: i64,
    compact_rev: i64,
    keep: &HashSet<Revision>,
) -> Result<u32, StoreError> {
    let upper = revision::encode(Revision::new(rev.saturating_add(1), 0), false);
    let mut crc = crc32c::crc32c(b"key");
    if rev < 1 {
        // etcd hashes no entry for a negative revision.
        return Ok(crc);
    }
    for entry in kv
        .range::<&[u8]>(..upper.as_slice())
        .map_err(StoreError::db("read kv table"))?
    {
        let (k, v) = entry.map_err(StoreError::db("read kv table"))?;
        let Some((r, _)) = revision::decode(k.value()) else {
            return Err(StoreError::Inconsistent(format!(
                "kv table key {:02x?} is not a revision",
                k.value()
            )));
        };
        if r.main <= compact_rev && !keep.is_empty() && !keep.contains(&r) {
            continue;
        }
        crc = crc32c::crc32c_append(crc, k.value());
        crc = crc32c::crc32c_append(crc, v.value());
    }
    Ok(crc)
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_is_castagnoli() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let split = crc32c::crc32c_append(crc32c::crc32c(b"1234"), b"56789");
        assert_eq!(
            split, 0xe306_9283,
            "appending equals hashing the concatenation"
        );
    }
}
