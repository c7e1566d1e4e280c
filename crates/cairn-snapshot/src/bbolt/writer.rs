//! Builds a bbolt database image from scratch: top-level buckets with sorted entries,
//! laid out bottom-up into leaf and branch pages (overflow pages for big nodes),
//! small buckets stored inline the way bbolt stores them, two meta pages and the
//! "freelist not synced" marker. Pages are numbered contiguously from 2 and each is
//! referenced exactly once, so strict bbolt checks accept the result.

use super::page::{
    node_size, write_node, Meta, NodeItem, BUCKET_HEADER_SIZE, FREELIST_NOT_SYNCED,
    LEAF_FLAG_BUCKET, MAGIC, MAX_KEY_SIZE, MAX_VALUE_SIZE, PAGE_HEADER_SIZE, PAGE_SIZE, VERSION,
};
use crate::error::{lossy, SnapshotError};

/// Transaction id written into meta 0 (meta 1 gets one less).
const TXID: u64 = 2;
/// Most elements one page may hold (`count` is a u16 and 0xFFFF is reserved).
const MAX_ELEMENTS: usize = 0xFFFE;

/// Key/value pairs of one bucket.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Collects buckets and produces a bbolt file.
#[derive(Debug, Default)]
pub struct BoltWriter {
    buckets: Vec<(Vec<u8>, Entries)>,
}

/// The page image under construction.
struct Pages {
    buf: Vec<u8>,
    next: u64,
}

impl Pages {
    /// Writes one node into freshly allocated pages and returns its page id.
    fn write(&mut self, items: &[NodeItem<'_>]) -> Result<u64, SnapshotError> {
        let size = node_size(items);
        let npages = size.div_ceil(PAGE_SIZE).max(1);
        let overflow = u32::try_from(npages - 1)
            .map_err(|_| SnapshotError::InvalidInput("node too large".into()))?;
        let id = self.next;
        let start = self.buf.len();
        self.buf.resize(start + npages * PAGE_SIZE, 0);
        write_node(items, id, overflow, &mut self.buf[start..]);
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

    /// Lays out `items` (all leaf items, sorted) as a tree and returns its root page.
    /// Nodes are filled up to a page but always take at least two items (like bbolt's
    /// minimum keys per page), so every level has at most half the nodes of the one
    /// below and the loop ends even with keys bigger than a page.
    fn write_tree<'a>(&mut self, items: Vec<NodeItem<'a>>) -> Result<u64, SnapshotError> {
        let mut level = items;
        loop {
            let mut parents: Vec<NodeItem<'a>> = Vec::new();
            let mut node: Vec<NodeItem<'a>> = Vec::new();
            let mut size = PAGE_HEADER_SIZE;
            for item in level {
                if node.len() >= 2 && (size + item.size() > PAGE_SIZE || node.len() >= MAX_ELEMENTS)
                {
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
}

/// Sorts entries and rejects what bbolt cannot hold (empty, oversized or duplicate keys).
fn prepare(name: &[u8], entries: &mut [(Vec<u8>, Vec<u8>)]) -> Result<(), SnapshotError> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in entries.iter().enumerate() {
        if k.is_empty() || k.len() > MAX_KEY_SIZE {
            return Err(SnapshotError::InvalidInput(format!(
                "bucket {:?}: key of {} bytes",
                lossy(name),
                k.len()
            )));
        }
        if v.len() > MAX_VALUE_SIZE {
            return Err(SnapshotError::InvalidInput(format!(
                "bucket {:?}: value of {} bytes",
                lossy(name),
                v.len()
            )));
        }
        if i > 0 && entries[i - 1].0 == *k {
            return Err(SnapshotError::InvalidInput(format!(
                "bucket {:?}: duplicate key {:?}",
                lossy(name),
                lossy(k)
            )));
        }
    }
    Ok(())
}

impl BoltWriter {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds top-level bucket `name` with `entries` (sorted by `finish`).
    pub fn bucket(&mut self, name: &[u8], entries: Vec<(Vec<u8>, Vec<u8>)>) {
        self.buckets.push((name.to_vec(), entries));
    }

    /// Lays out every bucket and returns the complete file (without a SHA-256 trailer).
    pub fn finish(mut self) -> Result<Vec<u8>, SnapshotError> {
        self.buckets.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, entries) in self.buckets.iter_mut() {
            if name.is_empty() || name.len() > MAX_KEY_SIZE {
                return Err(SnapshotError::InvalidInput(format!(
                    "bucket name of {} bytes",
                    name.len()
                )));
            }
            prepare(name, entries)?;
        }
        for w in self.buckets.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(SnapshotError::InvalidInput(format!(
                    "duplicate bucket {:?}",
                    lossy(&w[0].0)
                )));
            }
        }

        let mut pages = Pages {
            buf: vec![0u8; 2 * PAGE_SIZE],
            next: 2,
        };
        // Bucket header values (plus inline page images), one per bucket.
        let mut headers: Vec<Vec<u8>> = Vec::with_capacity(self.buckets.len());
        for (_, entries) in &self.buckets {
            let items: Vec<NodeItem<'_>> = entries
                .iter()
                .map(|(k, v)| NodeItem::Leaf {
                    flags: 0,
                    key: k,
                    value: v,
                })
                .collect();
            let size = node_size(&items);
            let mut header = Vec::with_capacity(BUCKET_HEADER_SIZE);
            if size <= PAGE_SIZE / 4 {
                // Inline bucket: root 0, then a leaf page image with id 0.
                header.extend_from_slice(&0u64.to_le_bytes());
                header.extend_from_slice(&0u64.to_le_bytes());
                let start = header.len();
                header.resize(start + size, 0);
                write_node(&items, 0, 0, &mut header[start..]);
            } else {
                let root = pages.write_tree(items)?;
                header.extend_from_slice(&root.to_le_bytes());
                header.extend_from_slice(&0u64.to_le_bytes());
            }
            headers.push(header);
        }
        let root_items: Vec<NodeItem<'_>> = self
            .buckets
            .iter()
            .zip(&headers)
            .map(|((name, _), h)| NodeItem::Leaf {
                flags: LEAF_FLAG_BUCKET,
                key: name,
                value: h,
            })
            .collect();
        let root = pages.write_tree(root_items)?;

        let mut meta = Meta {
            magic: MAGIC,
            version: VERSION,
            page_size: PAGE_SIZE as u32,
            flags: 0,
            root,
            root_sequence: 0,
            freelist: FREELIST_NOT_SYNCED,
            pgid: pages.next,
            txid: TXID,
            checksum: 0,
        };
        let mut buf = pages.buf;
        meta.write_page(0, &mut buf[..PAGE_SIZE]);
        meta.txid = TXID - 1;
        meta.write_page(1, &mut buf[PAGE_SIZE..2 * PAGE_SIZE]);
        Ok(buf)
    }
}
