//! The Raft snapshot format: every row of every table in one self-checking blob.
//!
//! Layout: the magic `CAIRN-MVCC-SNAP` and a format byte, then records
//! `[table: u8][key length: u32 BE][key][value length: u32 BE][value]`, then a
//! table byte 0 ending the records, then the CRC-32C (u32 BE) of everything
//! before it. Tables: 1 `kv`, 2 `meta`, 3 `leases`, 4 `members`; integer keys
//! are written big-endian.

use crate::error::StoreError;

const MAGIC: &[u8] = b"CAIRN-MVCC-SNAP";
const VERSION: u8 = 1;
const END: u8 = 0;

/// Which table a record belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableId {
    Kv = 1,
    Meta = 2,
    Leases = 3,
    Members = 4,
}

impl TableId {
    fn from_byte(b: u8) -> Option<TableId> {
        Some(match b {
            1 => TableId::Kv,
            2 => TableId::Meta,
            3 => TableId::Leases,
            4 => TableId::Members,
            _ => return None,
        })
    }
}

/// Builds a snapshot blob.
pub(crate) struct Writer {
    out: Vec<u8>,
}

/// The bytes a record of this key and value takes in a blob.
pub fn record_size(key: usize, value: usize) -> usize {
    1 + 4 + key + 4 + value
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer::with_capacity(1 << 16)
    }

    /// A writer whose buffer starts with room for `records` bytes of records.
    pub(crate) fn with_capacity(records: usize) -> Writer {
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + records + 1 + 4);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        Writer { out }
    }

    pub(crate) fn record(
        &mut self,
        table: TableId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        let too_big = || StoreError::Snapshot("a row is larger than 4 GiB".into());
        let klen = u32::try_from(key.len()).map_err(|_| too_big())?;
        let vlen = u32::try_from(value.len()).map_err(|_| too_big())?;
        self.out.push(table as u8);
        self.out.extend_from_slice(&klen.to_be_bytes());
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(&vlen.to_be_bytes());
        self.out.extend_from_slice(value);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.push(END);
        let crc = crc32c::crc32c(&self.out);
        self.out.extend_from_slice(&crc.to_be_bytes());
        self.out
    }
}

/// One row of one table: (table, key, value).
pub(crate) type Record<'a> = (TableId, &'a [u8], &'a [u8]);

/// Checks a blob's framing and checksum and returns its records in order.
pub(crate) fn parse(data: &[u8]) -> Result<Vec<Record<'_>>, StoreError> {
    let bad = |what: &str| StoreError::Snapshot(what.to_string());
    let body_len = data
        .len()
        .checked_sub(4)
        .filter(|&n| n > MAGIC.len())
        .ok_or_else(|| bad("too short"))?;
    let (body, crc) = data.split_at(body_len);
    if !body.starts_with(MAGIC) {
        return Err(bad("not a Cairn state snapshot (bad magic)"));
    }
    let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32c::crc32c(body) != want {
        return Err(bad("checksum mismatch (truncated or damaged)"));
    }
    if body[MAGIC.len()] != VERSION {
        return Err(bad("unsupported snapshot format version"));
    }
    let mut rest = &body[MAGIC.len() + 1..];
    let mut records = Vec::new();
    loop {
        let (&table, after) = rest
            .split_first()
            .ok_or_else(|| bad("missing end marker"))?;
        if table == END {
            if !after.is_empty() {
                return Err(bad("data after the end marker"));
            }
            return Ok(records);
        }
        let table = TableId::from_byte(table).ok_or_else(|| bad("unknown table"))?;
        let (key, after) = take_chunk(after).ok_or_else(|| bad("truncated record"))?;
        let (value, after) = take_chunk(after).ok_or_else(|| bad("truncated record"))?;
        records.push((table, key, value));
        rest = after;
    }
}

/// Splits a length-prefixed chunk off the front of `data`.
fn take_chunk(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len_bytes: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let chunk = data.get(4..4 + len)?;
    Some((chunk, &data[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new();
        w.record(TableId::Kv, b"k1", b"v1").unwrap();
        w.record(TableId::Meta, b"", b"").unwrap();
        w.record(TableId::Members, &7u64.to_be_bytes(), b"m")
            .unwrap();
        w.finish()
    }

    #[test]
    fn round_trip() {
        let blob = sample();
        let recs = parse(&blob).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0], (TableId::Kv, &b"k1"[..], &b"v1"[..]));
        assert_eq!(recs[1], (TableId::Meta, &b""[..], &b""[..]));
        assert_eq!(recs[2].0, TableId::Members);
    }

    #[test]
    fn rejects_damage() {
        let blob = sample();
        for cut in [0, 3, 16, blob.len() - 1] {
            assert!(parse(&blob[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x40;
            assert!(parse(&bad).is_err(), "flipped byte {i}");
        }
        assert!(parse(b"garbage garbage garbage").is_err());
    }
}
