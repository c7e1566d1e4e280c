//! Builds a bbolt database image from scratch, one top-level bucket after another in
//! name order, each bucket's entries taken one at a time in key order. Leaf pages are
//! written as they fill (only the node being filled is held, in a reusable scratch
//! buffer), branch levels are laid out above them when the bucket ends, and small
//! buckets are stored inline the way bbolt stores them. `finish` adds the root tree,
//! two meta pages and the "freelist not synced" marker. Pages are numbered
//! contiguously from 2 and each is referenced exactly once, so strict bbolt checks
//! accept the result.

use std::cmp::Ordering;

use super::page::{
    append_node, node_size, Meta, NodeItem, BUCKET_HEADER_SIZE, ELEMENT_SIZE, FREELIST_NOT_SYNCED,
    LEAF_FLAG_BUCKET, MAGIC, MAX_KEY_SIZE, MAX_VALUE_SIZE, PAGE_HEADER_SIZE, PAGE_SIZE, VERSION,
};
use crate::error::{lossy, SnapshotError};

/// Transaction id written into meta 0 (meta 1 gets one less).
const TXID: u64 = 2;
/// Most elements one page may hold (`count` is a u16 and 0xFFFF is reserved).
const MAX_ELEMENTS: usize = 0xFFFE;
/// Largest bucket (node size, header included) stored inline in its parent.
const MAX_INLINE_BUCKET_SIZE: usize = PAGE_SIZE / 4;

/// Lays out buckets, in strictly ascending name order, into a bbolt image.
pub struct BoltBuilder {
    pages: Pages,
    /// Finished buckets: name and bucket header (plus the page image of an inline
    /// bucket), in name order.
    buckets: Vec<(Vec<u8>, Vec<u8>)>,
    /// The leaf node being filled, kept between buckets for its allocations.
    node: LeafNode,
}

/// Adds the entries of one bucket, in strictly ascending key order.
pub struct BucketWriter<'a> {
    name: &'a [u8],
    pages: &'a mut Pages,
    node: &'a mut LeafNode,
    /// (first key, page id) of each leaf page written so far.
    leaves: Vec<(Vec<u8>, u64)>,
    /// How many entries the bucket is said to hold, until room is reserved for them.
    expected_entries: Option<u64>,
}

/// The page image under construction.
pub(super) struct Pages {
    buf: Vec<u8>,
    next: u64,
}

/// The leaf node being filled: its keys and values back to back in `bytes`, the
/// (key length, value length) of each item, and its encoded size.
struct LeafNode {
    bytes: Vec<u8>,
    lengths: Vec<(usize, usize)>,
    size: usize,
}

impl Pages {
    /// An image holding only the two (not yet written) meta pages.
    pub(super) fn new() -> Pages {
        let mut buf = Vec::with_capacity(3 * PAGE_SIZE);
        buf.resize(2 * PAGE_SIZE, 0);
        Pages { buf, next: 2 }
    }

    /// Makes room for `entries` more entries taking `bytes` bytes of pages per
    /// `per` entries, plus their branch pages and a little more, so the image is
    /// allocated once rather than regrown by doubling (each time copied).
    fn reserve_for(&mut self, entries: u64, bytes: usize, per: usize) {
        let leaf_bytes = u128::from(entries) * bytes as u128 / per.max(1) as u128;
        let total = leaf_bytes + leaf_bytes / 32 + PAGE_SIZE as u128;
        if let Ok(total) = usize::try_from(total) {
            // Only a hint: if that much cannot be had now, the image grows as it is
            // written, as it would without the hint.
            let _ = self.buf.try_reserve(total);
        }
    }

    /// Writes one node into freshly allocated pages and returns its page id.
    fn write(&mut self, items: &[NodeItem<'_>]) -> Result<u64, SnapshotError> {
        let size = node_size(items);
        let npages = size.div_ceil(PAGE_SIZE).max(1);
        let overflow = u32::try_from(npages - 1)
            .map_err(|_| SnapshotError::InvalidInput("node too large".into()))?;
        let id = self.next;
        let start = self.buf.len();
        append_node(items, id, overflow, &mut self.buf);
        // Zeros to the end of the node's last page.
        self.buf.resize(start + npages * PAGE_SIZE, 0);
        self.next += npages as u64;
        Ok(id)
    }

    /// Writes `node` as one page (run), appends its (first key, pgid) to `parents`
    /// and empties it.
    fn flush<'a>(
        &mut self,
        node: &mut Vec<NodeItem<'a>>,
        parents: &mut Vec<NodeItem<'a>>,
    ) -> Result<(), SnapshotError> {
        let key: &'a [u8] = match node.first() {
            Some(NodeItem::Leaf { key, .. }) | Some(NodeItem::Branch { key, .. }) => key,
            None => &[],
        };
        let pgid = self.write(node)?;
        parents.push(NodeItem::Branch { key, pgid });
        node.clear();
        Ok(())
    }

    /// Lays out `items` (sorted, all of one kind) as a tree and returns its root
    /// page. Nodes are filled up to a page but always take at least two items (like
    /// bbolt's minimum keys per page), so every level has at most half the nodes of
    /// the one below and the loop ends even with keys bigger than a page.
    pub(super) fn write_tree<'a>(
        &mut self,
        items: Vec<NodeItem<'a>>,
    ) -> Result<u64, SnapshotError> {
        let mut level = items;
        loop {
            let mut parents: Vec<NodeItem<'a>> = Vec::new();
            let mut node: Vec<NodeItem<'a>> = Vec::new();
            let mut size = PAGE_HEADER_SIZE;
            for item in level {
                if node.len() >= 2 && !fits(size, node.len(), item.size()) {
                    self.flush(&mut node, &mut parents)?;
                    size = PAGE_HEADER_SIZE;
                }
                size += item.size();
                node.push(item);
            }
            // The last node; also the (empty) root leaf of an empty tree.
            if !node.is_empty() || parents.is_empty() {
                self.flush(&mut node, &mut parents)?;
            }
            if let [NodeItem::Branch { pgid, .. }] = parents.as_slice() {
                return Ok(*pgid);
            }
            level = parents;
        }
    }

    /// Writes the two meta pages for a database whose root tree starts at `root` and
    /// returns the complete image (without a SHA-256 trailer).
    pub(super) fn finish(self, root: u64) -> Vec<u8> {
        let mut meta = Meta {
            magic: MAGIC,
            version: VERSION,
            page_size: PAGE_SIZE as u32,
            flags: 0,
            root,
            root_sequence: 0,
            freelist: FREELIST_NOT_SYNCED,
            pgid: self.next,
            txid: TXID,
            checksum: 0,
        };
        let mut buf = self.buf;
        meta.write_page(0, &mut buf[..PAGE_SIZE]);
        meta.txid = TXID - 1;
        meta.write_page(1, &mut buf[PAGE_SIZE..2 * PAGE_SIZE]);
        buf
    }
}

/// Whether a node of `count` items and `size` bytes may take one more item of
/// `item_size` bytes (the caller lets a node take two items in any case).
fn fits(size: usize, count: usize, item_size: usize) -> bool {
    size + item_size <= PAGE_SIZE && count < MAX_ELEMENTS
}

/// The header of an inline bucket: root 0, sequence 0, then `items` as a leaf page
/// image with id 0.
pub(super) fn inline_bucket_header(items: &[NodeItem<'_>]) -> Vec<u8> {
    let mut header = Vec::with_capacity(BUCKET_HEADER_SIZE + node_size(items));
    header.extend_from_slice(&[0u8; BUCKET_HEADER_SIZE]);
    append_node(items, 0, 0, &mut header);
    header
}

/// The header of a bucket whose tree starts at page `root`.
pub(super) fn paged_bucket_header(root: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(BUCKET_HEADER_SIZE);
    header.extend_from_slice(&root.to_le_bytes());
    header.extend_from_slice(&0u64.to_le_bytes());
    header
}

/// Rejects a key or value bbolt cannot hold.
fn check_entry(bucket: &[u8], key: &[u8], value: &[u8]) -> Result<(), SnapshotError> {
    if key.is_empty() || key.len() > MAX_KEY_SIZE {
        return Err(SnapshotError::InvalidInput(format!(
            "bucket {:?}: key of {} bytes",
            lossy(bucket),
            key.len()
        )));
    }
    if value.len() > MAX_VALUE_SIZE {
        return Err(SnapshotError::InvalidInput(format!(
            "bucket {:?}: value of {} bytes",
            lossy(bucket),
            value.len()
        )));
    }
    Ok(())
}

/// Rejects `next` unless it sorts strictly after `previous`: keys of `bucket`, or
/// bucket names when `bucket` is `None`.
fn check_ascending(
    bucket: Option<&[u8]>,
    previous: &[u8],
    next: &[u8],
) -> Result<(), SnapshotError> {
    let order = previous.cmp(next);
    if order == Ordering::Less {
        return Ok(());
    }
    let (prefix, noun) = match bucket {
        Some(name) => (format!("bucket {:?}: ", lossy(name)), "key"),
        None => (String::new(), "bucket"),
    };
    Err(SnapshotError::InvalidInput(if order == Ordering::Equal {
        format!("{prefix}duplicate {noun} {:?}", lossy(next))
    } else {
        format!(
            "{prefix}{noun} {:?} out of order (after {:?})",
            lossy(next),
            lossy(previous)
        )
    }))
}

impl LeafNode {
    fn new() -> LeafNode {
        LeafNode {
            bytes: Vec::new(),
            lengths: Vec::new(),
            size: PAGE_HEADER_SIZE,
        }
    }

    fn len(&self) -> usize {
        self.lengths.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.lengths.clear();
        self.size = PAGE_HEADER_SIZE;
    }

    fn push(&mut self, key: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
        self.lengths.push((key.len(), value.len()));
        self.size += ELEMENT_SIZE + key.len() + value.len();
    }

    /// The items, borrowed from the scratch buffer.
    fn items(&self) -> Vec<NodeItem<'_>> {
        let mut at = 0;
        self.lengths
            .iter()
            .map(|&(klen, vlen)| {
                let key = &self.bytes[at..at + klen];
                let value = &self.bytes[at + klen..at + klen + vlen];
                at += klen + vlen;
                NodeItem::Leaf {
                    flags: 0,
                    key,
                    value,
                }
            })
            .collect()
    }

    fn first_key(&self) -> Option<&[u8]> {
        let &(klen, _) = self.lengths.first()?;
        Some(&self.bytes[..klen])
    }

    fn last_key(&self) -> Option<&[u8]> {
        let &(klen, vlen) = self.lengths.last()?;
        let start = self.bytes.len() - vlen - klen;
        Some(&self.bytes[start..start + klen])
    }
}

impl Default for BoltBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BoltBuilder {
    /// An empty database.
    pub fn new() -> Self {
        BoltBuilder {
            pages: Pages::new(),
            buckets: Vec::new(),
            node: LeafNode::new(),
        }
    }

    /// Adds top-level bucket `name`, which must sort after every bucket added so
    /// far; `fill` puts its entries. After an error the builder is of no further use.
    pub fn bucket<E: From<SnapshotError>>(
        &mut self,
        name: &[u8],
        fill: impl FnOnce(&mut BucketWriter<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if name.is_empty() || name.len() > MAX_KEY_SIZE {
            return Err(SnapshotError::InvalidInput(format!(
                "bucket name of {} bytes",
                name.len()
            ))
            .into());
        }
        if let Some((previous, _)) = self.buckets.last() {
            check_ascending(None, previous, name)?;
        }
        self.node.clear();
        let mut writer = BucketWriter {
            name,
            pages: &mut self.pages,
            node: &mut self.node,
            leaves: Vec::new(),
            expected_entries: None,
        };
        fill(&mut writer)?;
        let header = writer.finish()?;
        self.buckets.push((name.to_vec(), header));
        Ok(())
    }

    /// Lays out the root tree and returns the complete file (without a SHA-256
    /// trailer).
    pub fn finish(mut self) -> Result<Vec<u8>, SnapshotError> {
        let root_items: Vec<NodeItem<'_>> = self
            .buckets
            .iter()
            .map(|(name, header)| NodeItem::Leaf {
                flags: LEAF_FLAG_BUCKET,
                key: name,
                value: header,
            })
            .collect();
        let root = self.pages.write_tree(root_items)?;
        Ok(self.pages.finish(root))
    }
}

impl BucketWriter<'_> {
    /// Says the bucket will hold about `entries` entries: once its first page is
    /// full, room is made for that many entries like the ones on it.
    pub fn expect_entries(&mut self, entries: u64) {
        self.expected_entries = Some(entries);
    }

    /// Adds an entry; `key` must sort after the bucket's previous key.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), SnapshotError> {
        check_entry(self.name, key, value)?;
        if let Some(previous) = self.node.last_key() {
            check_ascending(Some(self.name), previous, key)?;
        }
        let item_size = ELEMENT_SIZE + key.len() + value.len();
        if self.node.len() >= 2 && !fits(self.node.size, self.node.len(), item_size) {
            self.flush_leaf()?;
        }
        self.node.push(key, value);
        Ok(())
    }

    /// Writes the node being filled as a leaf page.
    fn flush_leaf(&mut self) -> Result<(), SnapshotError> {
        if let Some(entries) = self.expected_entries.take() {
            let node_bytes = self.node.size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
            self.pages.reserve_for(entries, node_bytes, self.node.len());
        }
        let pgid = self.pages.write(&self.node.items())?;
        let first = self.node.first_key().unwrap_or_default().to_vec();
        self.leaves.push((first, pgid));
        self.node.clear();
        Ok(())
    }

    /// Ends the bucket and returns its header: inline when all of it fits in a
    /// quarter page, else the root of its tree (whose leaves are written by now
    /// except the last).
    fn finish(mut self) -> Result<Vec<u8>, SnapshotError> {
        // A leaf is written only once the bucket holds more than a page (or
        // MAX_ELEMENTS entries), far past the inline limit: a bucket with no leaf
        // written yet is all in `node`.
        if self.leaves.is_empty() && self.node.size <= MAX_INLINE_BUCKET_SIZE {
            return Ok(inline_bucket_header(&self.node.items()));
        }
        self.flush_leaf()?;
        let root = match self.leaves.as_slice() {
            [(_, pgid)] => *pgid,
            leaves => {
                let branches = leaves
                    .iter()
                    .map(|(key, pgid)| NodeItem::Branch { key, pgid: *pgid })
                    .collect();
                self.pages.write_tree(branches)?
            }
        };
        Ok(paged_bucket_header(root))
    }
}
