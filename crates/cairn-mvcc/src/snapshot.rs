//! The Raft snapshot format: every row of every table in one self-checking blob.
//!
//! Layout: the magic `CAIRN-MVCC-SNAP` and a format byte, then records
//! `[table: u8][key length: u32 BE][key][value length: u32 BE][value]`, then a
//! table byte 0 ending the records, then the CRC-32C (u32 BE) of everything
//! before it. Tables: 1 `kv`, 2 `meta`, 3 `leases`, 4 `members`; integer keys
//! are written big-endian. Both directions stream: a snapshot of any size is
//! written and read with memory for one record.

use std::io::{Read, Write};

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

/// Writes a snapshot to `out` as it is built: records go straight to the
/// stream, and the checksum is computed on the way, so a snapshot never has to
/// fit in memory.
pub(crate) struct Writer<W: Write = Vec<u8>> {
    out: W,
    crc: u32,
    written: u64,
}

/// The bytes a record of this key and value takes in a blob.
pub fn record_size(key: usize, value: usize) -> usize {
    1 + 4 + key + 4 + value
}

impl Writer<Vec<u8>> {
    pub(crate) fn new() -> Writer<Vec<u8>> {
        Writer::with_capacity(1 << 16)
    }

    /// A writer to memory whose buffer starts with room for `records` bytes of records.
    pub(crate) fn with_capacity(records: usize) -> Writer<Vec<u8>> {
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + records + 1 + 4);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        Writer {
            crc: crc32c::crc32c(&out),
            written: out.len() as u64,
            out,
        }
    }
}

impl<W: Write> Writer<W> {
    /// A writer that writes the snapshot's header to `out` at once.
    pub(crate) fn to_stream(out: W) -> Result<Writer<W>, StoreError> {
        let mut w = Writer {
            out,
            crc: 0,
            written: 0,
        };
        w.put(MAGIC)?;
        w.put(&[VERSION])?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.out.write_all(bytes).map_err(StoreError::SnapshotIo)?;
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.written += bytes.len() as u64;
        Ok(())
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
        self.put(&[table as u8])?;
        self.put(&klen.to_be_bytes())?;
        self.put(key)?;
        self.put(&vlen.to_be_bytes())?;
        self.put(value)
    }

    /// Ends the records, appends the checksum and returns the stream and the
    /// number of bytes written to it.
    pub(crate) fn finish(mut self) -> Result<(W, u64), StoreError> {
        self.put(&[END])?;
        let crc = self.crc.to_be_bytes();
        self.out.write_all(&crc).map_err(StoreError::SnapshotIo)?;
        self.out.flush().map_err(StoreError::SnapshotIo)?;
        Ok((self.out, self.written + crc.len() as u64))
    }
}

/// One row of one table: (table, key, value).
pub(crate) type Record<'a> = (TableId, &'a [u8], &'a [u8]);

/// Reads a snapshot from a stream one record at a time, checking its framing
/// on the way and its checksum at the end. Records handed out before the end
/// are not yet known to be intact: the caller must not make them visible
/// until [`Reader::next_record`] has returned `None` (the end, checksum good).
pub(crate) struct Reader<R: Read> {
    input: R,
    crc: u32,
    key: Vec<u8>,
    value: Vec<u8>,
    done: bool,
}

fn bad(what: &str) -> StoreError {
    StoreError::Snapshot(what.to_string())
}

/// A short read means the snapshot was cut off; anything else is an I/O error.
fn read_err(e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        bad("truncated")
    } else {
        StoreError::SnapshotIo(e)
    }
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header.
    pub(crate) fn new(input: R) -> Result<Reader<R>, StoreError> {
        let mut r = Reader {
            input,
            crc: 0,
            key: Vec::new(),
            value: Vec::new(),
            done: false,
        };
        let mut header = [0u8; MAGIC.len() + 1];
        r.input
            .read_exact(&mut header)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => bad("too short"),
                _ => StoreError::SnapshotIo(e),
            })?;
        if &header[..MAGIC.len()] != MAGIC {
            return Err(bad("not a Cairn state snapshot (bad magic)"));
        }
        r.crc = crc32c::crc32c(&header);
        if header[MAGIC.len()] != VERSION {
            return Err(bad("unsupported snapshot format version"));
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Result<[u8; 4], StoreError> {
        let mut b = [0u8; 4];
        self.input.read_exact(&mut b[..n]).map_err(read_err)?;
        self.crc = crc32c::crc32c_append(self.crc, &b[..n]);
        Ok(b)
    }

    /// Reads a length-prefixed field into `self.key` (`into_value` false) or `self.value`.
    fn field(&mut self, into_value: bool) -> Result<(), StoreError> {
        let len = u32::from_be_bytes(self.take(4)?) as usize;
        let buf = if into_value {
            &mut self.value
        } else {
            &mut self.key
        };
        buf.clear();
        // Grows with what actually arrives, whatever length was announced.
        let got = (&mut self.input)
            .take(len as u64)
            .read_to_end(buf)
            .map_err(read_err)?;
        if got != len {
            return Err(bad("truncated record"));
        }
        self.crc = crc32c::crc32c_append(self.crc, buf);
        Ok(())
    }

    /// The next record, or `None` at the end once the checksum has been
    /// checked and nothing follows it.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record<'_>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let table = self.take(1)?[0];
        if table == END {
            let want = {
                let mut b = [0u8; 4];
                self.input.read_exact(&mut b).map_err(read_err)?;
                u32::from_be_bytes(b)
            };
            if self.crc != want {
                return Err(bad("checksum mismatch (truncated or damaged)"));
            }
            let mut extra = [0u8; 1];
            match self
                .input
                .read(&mut extra)
                .map_err(StoreError::SnapshotIo)?
            {
                0 => {}
                _ => return Err(bad("data after the end marker")),
            }
            self.done = true;
            return Ok(None);
        }
        let table = TableId::from_byte(table).ok_or_else(|| bad("unknown table"))?;
        self.field(false)?;
        self.field(true)?;
        Ok(Some((table, &self.key, &self.value)))
    }
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
        let (blob, len) = w.finish().unwrap();
        assert_eq!(len, blob.len() as u64);
        blob
    }

    /// A record with its key and value copied out.
    type OwnedRecord = (TableId, Vec<u8>, Vec<u8>);

    /// Every record of a blob, read as a stream.
    fn parse(data: &[u8]) -> Result<Vec<OwnedRecord>, StoreError> {
        let mut r = Reader::new(data)?;
        let mut out = Vec::new();
        while let Some((t, k, v)) = r.next_record()? {
            out.push((t, k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    #[test]
    fn round_trip() {
        let blob = sample();
        let recs = parse(&blob).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0], (TableId::Kv, b"k1".to_vec(), b"v1".to_vec()));
        assert_eq!(recs[1], (TableId::Meta, Vec::new(), Vec::new()));
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
        let mut longer = blob.clone();
        longer.push(0);
        assert!(parse(&longer).is_err(), "data after the checksum");
    }

    #[test]
    fn an_announced_length_beyond_the_data_is_refused_without_reserving_it() {
        let mut w = Writer::new();
        w.record(TableId::Kv, b"k", b"v").unwrap();
        let (mut blob, _) = w.finish().unwrap();
        // The key length of the first record claims 4 GiB.
        let at = MAGIC.len() + 2;
        blob[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse(&blob), Err(StoreError::Snapshot(_))));
    }
}
