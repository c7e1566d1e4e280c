//! On-disk layout of bbolt pages: constants, the page header, meta pages (with their
//! FNV-1a checksum) and the branch/leaf element records. Pure byte-level encoding and
//! bounds-checked decoding; no tree logic lives here.

use crate::error::SnapshotError;

/// Page size this crate writes.
pub const PAGE_SIZE: usize = 4096;
/// Bytes of the page header (`id u64 | flags u16 | count u16 | overflow u32`).
pub const PAGE_HEADER_SIZE: usize = 16;
/// Bytes of one branch or leaf element record.
pub const ELEMENT_SIZE: usize = 16;
/// Bytes of a bucket header (`root pgid u64 | sequence u64`).
pub const BUCKET_HEADER_SIZE: usize = 16;

pub const FLAG_BRANCH: u16 = 0x01;
pub const FLAG_LEAF: u16 = 0x02;
pub const FLAG_META: u16 = 0x04;
pub const FLAG_FREELIST: u16 = 0x10;
/// Leaf element flag: the value is a nested bucket.
pub const LEAF_FLAG_BUCKET: u32 = 0x01;

pub const MAGIC: u32 = 0xED0C_DAED;
pub const VERSION: u32 = 2;
/// Freelist pgid meaning "freelist not synced" (readers derive it from the tree).
pub const FREELIST_NOT_SYNCED: u64 = u64::MAX;
/// Largest key bbolt accepts.
pub const MAX_KEY_SIZE: usize = 32768;
/// Largest value bbolt accepts.
pub const MAX_VALUE_SIZE: usize = (1 << 31) - 2;

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    b.get(off..off.checked_add(2)?)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// The 16-byte header at the start of every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    pub id: u64,
    pub flags: u16,
    pub count: u16,
    pub overflow: u32,
}

impl PageHeader {
    /// Decodes the header at the start of `b`.
    pub fn parse(b: &[u8]) -> Option<PageHeader> {
        Some(PageHeader {
            id: u64_at(b, 0)?,
            flags: u16_at(b, 8)?,
            count: u16_at(b, 10)?,
            overflow: u32_at(b, 12)?,
        })
    }

    /// Encodes the header into the first 16 bytes of `out` (which must be long enough).
    pub fn write(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.id.to_le_bytes());
        out[8..10].copy_from_slice(&self.flags.to_le_bytes());
        out[10..12].copy_from_slice(&self.count.to_le_bytes());
        out[12..16].copy_from_slice(&self.overflow.to_le_bytes());
    }
}

/// The contents of a meta page (bytes 16..80 of pages 0 and 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub magic: u32,
    pub version: u32,
    pub page_size: u32,
    pub flags: u32,
    pub root: u64,
    pub root_sequence: u64,
    pub freelist: u64,
    pub pgid: u64,
    pub txid: u64,
    pub checksum: u64,
}

/// Byte offset of the meta struct inside its page.
const META_OFFSET: usize = PAGE_HEADER_SIZE;
/// Bytes covered by the checksum (everything before the checksum field).
const META_SUMMED: usize = 56;

/// FNV-1a, 64-bit.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Meta {
    /// Decodes the meta stored in `page` (a whole page starting with its header).
    pub fn parse(page: &[u8]) -> Option<Meta> {
        let m = page.get(META_OFFSET..META_OFFSET + 64)?;
        Some(Meta {
            magic: u32_at(m, 0)?,
            version: u32_at(m, 4)?,
            page_size: u32_at(m, 8)?,
            flags: u32_at(m, 12)?,
            root: u64_at(m, 16)?,
            root_sequence: u64_at(m, 24)?,
            freelist: u64_at(m, 32)?,
            pgid: u64_at(m, 40)?,
            txid: u64_at(m, 48)?,
            checksum: u64_at(m, 56)?,
        })
    }

    /// The 56 bytes the checksum covers.
    fn summed_bytes(&self) -> [u8; META_SUMMED] {
        let mut b = [0u8; META_SUMMED];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.page_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.root.to_le_bytes());
        b[24..32].copy_from_slice(&self.root_sequence.to_le_bytes());
        b[32..40].copy_from_slice(&self.freelist.to_le_bytes());
        b[40..48].copy_from_slice(&self.pgid.to_le_bytes());
        b[48..56].copy_from_slice(&self.txid.to_le_bytes());
        b
    }

    /// The checksum this meta should carry.
    pub fn compute_checksum(&self) -> u64 {
        fnv1a64(&self.summed_bytes())
    }

    /// Checks magic, version and checksum; `page` is the meta's page number (0 or 1).
    pub fn validate(&self, page: u64) -> Result<(), SnapshotError> {
        if self.magic != MAGIC {
            return Err(SnapshotError::BadMagic {
                page,
                found: self.magic,
            });
        }
        if self.version != VERSION {
            return Err(SnapshotError::BadVersion {
                page,
                found: self.version,
            });
        }
        if self.checksum != self.compute_checksum() {
            return Err(SnapshotError::BadChecksum { page });
        }
        Ok(())
    }

    /// Writes a complete meta page (header + meta, rest zero) with id `pgid` into
    /// `out`, filling in the checksum.
    pub fn write_page(&self, pgid: u64, out: &mut [u8]) {
        PageHeader {
            id: pgid,
            flags: FLAG_META,
            count: 0,
            overflow: 0,
        }
        .write(out);
        let summed = self.summed_bytes();
        out[META_OFFSET..META_OFFSET + META_SUMMED].copy_from_slice(&summed);
        out[META_OFFSET + META_SUMMED..META_OFFSET + 64]
            .copy_from_slice(&fnv1a64(&summed).to_le_bytes());
    }
}

/// One decoded leaf element: flags plus borrowed key and value.
#[derive(Debug, Clone, Copy)]
pub struct LeafElement<'a> {
    pub flags: u32,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// One decoded branch element: the child's first key and its page id.
#[derive(Debug, Clone, Copy)]
pub struct BranchElement<'a> {
    pub key: &'a [u8],
    pub pgid: u64,
}

fn bad(pgid: u64, index: usize, reason: &str) -> SnapshotError {
    SnapshotError::BadElement {
        pgid,
        index,
        reason: reason.to_string(),
    }
}

/// Returns `page[start .. start+len]` with overflow-safe bounds checks.
fn slice_in(page: &[u8], start: usize, len: usize) -> Option<&[u8]> {
    page.get(start..start.checked_add(len)?)
}

/// Decodes leaf element `index` of `page` (a page image starting with its header).
/// `pgid` is used only in error messages.
pub fn leaf_element(
    page: &[u8],
    pgid: u64,
    index: usize,
) -> Result<LeafElement<'_>, SnapshotError> {
    let base = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
    let rec = slice_in(page, base, ELEMENT_SIZE)
        .ok_or_else(|| bad(pgid, index, "element record beyond page"))?;
    let flags = u32_at(rec, 0).unwrap_or(0);
    let pos = u32_at(rec, 4).unwrap_or(0) as usize;
    let ksize = u32_at(rec, 8).unwrap_or(0) as usize;
    let vsize = u32_at(rec, 12).unwrap_or(0) as usize;
    let kstart = base
        .checked_add(pos)
        .ok_or_else(|| bad(pgid, index, "position overflows"))?;
    let key = slice_in(page, kstart, ksize).ok_or_else(|| bad(pgid, index, "key beyond page"))?;
    let vstart = kstart + ksize;
    let value =
        slice_in(page, vstart, vsize).ok_or_else(|| bad(pgid, index, "value beyond page"))?;
    Ok(LeafElement { flags, key, value })
}

/// Decodes branch element `index` of `page`.
pub fn branch_element(
    page: &[u8],
    pgid: u64,
    index: usize,
) -> Result<BranchElement<'_>, SnapshotError> {
    let base = PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
    let rec = slice_in(page, base, ELEMENT_SIZE)
        .ok_or_else(|| bad(pgid, index, "element record beyond page"))?;
    let pos = u32_at(rec, 0).unwrap_or(0) as usize;
    let ksize = u32_at(rec, 4).unwrap_or(0) as usize;
    let child = u64_at(rec, 8).unwrap_or(0);
    let kstart = base
        .checked_add(pos)
        .ok_or_else(|| bad(pgid, index, "position overflows"))?;
    let key = slice_in(page, kstart, ksize).ok_or_else(|| bad(pgid, index, "key beyond page"))?;
    Ok(BranchElement { key, pgid: child })
}

/// An element to encode into a node: leaf (flags, key, value) or branch (key, child).
pub enum NodeItem<'a> {
    Leaf {
        flags: u32,
        key: &'a [u8],
        value: &'a [u8],
    },
    Branch {
        key: &'a [u8],
        pgid: u64,
    },
}

impl NodeItem<'_> {
    /// Bytes this item takes in a page: record plus key plus value.
    pub fn size(&self) -> usize {
        match self {
            NodeItem::Leaf { key, value, .. } => ELEMENT_SIZE + key.len() + value.len(),
            NodeItem::Branch { key, .. } => ELEMENT_SIZE + key.len(),
        }
    }
}

/// Bytes a node with these items needs (header included).
pub fn node_size(items: &[NodeItem<'_>]) -> usize {
    PAGE_HEADER_SIZE + items.iter().map(NodeItem::size).sum::<usize>()
}

/// Appends the encoding of a node (all items of one kind) to `out`: the header with
/// `id`, `count` and `overflow`, the element records, then the keys and values,
/// `node_size(items)` bytes in all.
pub fn append_node(items: &[NodeItem<'_>], id: u64, overflow: u32, out: &mut Vec<u8>) {
    let flags = match items.first() {
        Some(NodeItem::Branch { .. }) => FLAG_BRANCH,
        _ => FLAG_LEAF,
    };
    let mut header = [0u8; PAGE_HEADER_SIZE];
    PageHeader {
        id,
        flags,
        count: items.len() as u16,
        overflow,
    }
    .write(&mut header);
    out.extend_from_slice(&header);
    // Offset of the next key from the start of the current element record.
    let mut pos = items.len() * ELEMENT_SIZE;
    for item in items {
        let mut record = [0u8; ELEMENT_SIZE];
        match item {
            NodeItem::Leaf { flags, key, value } => {
                record[0..4].copy_from_slice(&flags.to_le_bytes());
                record[4..8].copy_from_slice(&(pos as u32).to_le_bytes());
                record[8..12].copy_from_slice(&(key.len() as u32).to_le_bytes());
                record[12..16].copy_from_slice(&(value.len() as u32).to_le_bytes());
                pos += key.len() + value.len();
            }
            NodeItem::Branch { key, pgid } => {
                record[0..4].copy_from_slice(&(pos as u32).to_le_bytes());
                record[4..8].copy_from_slice(&(key.len() as u32).to_le_bytes());
                record[8..16].copy_from_slice(&pgid.to_le_bytes());
                pos += key.len();
            }
        }
        out.extend_from_slice(&record);
        pos -= ELEMENT_SIZE;
    }
    for item in items {
        match item {
            NodeItem::Leaf { key, value, .. } => {
                out.extend_from_slice(key);
                out.extend_from_slice(value);
            }
            NodeItem::Branch { key, .. } => out.extend_from_slice(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn meta_round_trip_and_checksum() {
        let m = Meta {
            magic: MAGIC,
            version: VERSION,
            page_size: 4096,
            flags: 0,
            root: 3,
            root_sequence: 0,
            freelist: FREELIST_NOT_SYNCED,
            pgid: 4,
            txid: 7,
            checksum: 0,
        };
        let mut page = vec![0u8; PAGE_SIZE];
        m.write_page(0, &mut page);
        let back = Meta::parse(&page).unwrap();
        assert_eq!(back.checksum, m.compute_checksum());
        back.validate(0).unwrap();
        // Any change in the summed bytes breaks the checksum.
        for i in 16..72 {
            let mut p = page.clone();
            p[i] ^= 0x40;
            assert!(Meta::parse(&p).unwrap().validate(0).is_err(), "byte {i}");
        }
    }
}
