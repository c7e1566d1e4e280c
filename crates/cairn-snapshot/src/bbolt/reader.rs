//! Read-only access to a bbolt database image held in memory: meta selection, page
//! lookup with bounds checks, and in-order iteration of buckets (inline or paged,
//! through branch and overflow pages). Every tree walk remembers the pages it has
//! visited, so a hostile file can neither loop forever nor make it allocate more than
//! the file's own size.

use std::collections::HashSet;

use super::page::{
    branch_element, leaf_element, Meta, PageHeader, BUCKET_HEADER_SIZE, FLAG_BRANCH, FLAG_LEAF,
    LEAF_FLAG_BUCKET, PAGE_HEADER_SIZE, PAGE_SIZE,
};
use crate::error::{lossy, SnapshotError};

/// A validated view of a bbolt file.
#[derive(Debug, Clone)]
pub struct BoltReader<'a> {
    data: &'a [u8],
    page_size: usize,
    meta: Meta,
}

/// Where a tree starts: a real page, or a leaf page image stored inline in a value.
#[derive(Clone, Copy)]
enum Root<'a> {
    Page(u64),
    Inline(&'a [u8]),
}

fn page_size_ok(ps: u32) -> bool {
    ps.is_power_of_two() && (512..=1 << 20).contains(&ps)
}

fn read_meta(data: &[u8], offset: usize, page: u64) -> Result<Meta, SnapshotError> {
    let bytes = data
        .get(offset..)
        .ok_or_else(|| SnapshotError::Truncated(format!("meta page {page} missing")))?;
    let meta = Meta::parse(bytes)
        .ok_or_else(|| SnapshotError::Truncated(format!("meta page {page} incomplete")))?;
    meta.validate(page)?;
    if !page_size_ok(meta.page_size) {
        return Err(SnapshotError::BadPageSize(meta.page_size));
    }
    Ok(meta)
}

impl<'a> BoltReader<'a> {
    /// Validates the meta pages and picks the valid one with the higher txid.
    pub fn new(data: &'a [u8]) -> Result<BoltReader<'a>, SnapshotError> {
        let meta0 = read_meta(data, 0, 0);
        // Meta 1 sits one page after meta 0; trust meta 0's page size when it is valid.
        let ps1 = meta0
            .as_ref()
            .map(|m| m.page_size as usize)
            .unwrap_or(PAGE_SIZE);
        let meta1 = read_meta(data, ps1, 1);
        let meta = match (&meta0, &meta1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    *b
                } else {
                    *a
                }
            }
            (Ok(a), Err(_)) => *a,
            (Err(_), Ok(b)) => *b,
            (Err(e0), Err(e1)) => {
                // A single, precise error when both fail for the same reason.
                if std::mem::discriminant(e0) == std::mem::discriminant(e1)
                    || matches!(e0, SnapshotError::Truncated(_))
                {
                    return Err(e0.clone());
                }
                return Err(SnapshotError::NoValidMeta {
                    meta0: e0.to_string(),
                    meta1: e1.to_string(),
                });
            }
        };
        let page_size = meta.page_size as usize;
        let needed = (meta.pgid as u128) * (page_size as u128);
        if meta.pgid < 2 || needed > data.len() as u128 {
            return Err(SnapshotError::Truncated(format!(
                "meta says {} pages of {} bytes, file has {} bytes",
                meta.pgid,
                page_size,
                data.len()
            )));
        }
        Ok(BoltReader {
            data,
            page_size,
            meta,
        })
    }

    /// The meta in use.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The page size in use.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Size of the database as bbolt reports it (`pgid * page_size`).
    pub fn size(&self) -> u64 {
        self.meta.pgid * self.page_size as u64
    }

    /// Returns the bytes of page `pgid` including its overflow pages, and its header.
    fn page(&self, pgid: u64) -> Result<(&'a [u8], PageHeader), SnapshotError> {
        let max = self.meta.pgid;
        if pgid >= max {
            return Err(SnapshotError::PageOutOfRange { pgid, max });
        }
        let ps = self.page_size as u64;
        let off = pgid * ps; // pgid < max and max*ps <= data.len(): no overflow
        let hdr = PageHeader::parse(&self.data[off as usize..])
            .ok_or_else(|| SnapshotError::Truncated(format!("page {pgid} header")))?;
        if hdr.id != pgid {
            return Err(SnapshotError::PageIdMismatch {
                expected: pgid,
                found: hdr.id,
            });
        }
        let last = pgid + u64::from(hdr.overflow);
        if last >= max {
            return Err(SnapshotError::PageOutOfRange { pgid: last, max });
        }
        let end = (last + 1) * ps;
        Ok((&self.data[off as usize..end as usize], hdr))
    }

    /// Calls `f` for every leaf element of the tree at `root`, in key order, checking
    /// that keys are strictly ascending. `name` is used in error messages.
    fn walk(
        &self,
        root: Root<'a>,
        name: &[u8],
        mut f: impl FnMut(u32, &'a [u8], &'a [u8]) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError> {
        let mut prev: Option<&'a [u8]> = None;
        // Keys and values of a sound tree occupy distinct bytes of the file, so their
        // total cannot exceed its length; elements overlapping to exceed it are hostile.
        let limit = self.data.len();
        let mut total = 0usize;
        let mut emit_leaf = |page: &'a [u8], pgid: u64, count: u16| -> Result<(), SnapshotError> {
            for i in 0..usize::from(count) {
                let el = leaf_element(page, pgid, i)?;
                total = total.saturating_add(el.key.len() + el.value.len());
                if total > limit {
                    return Err(SnapshotError::BadElement {
                        pgid,
                        index: i,
                        reason: "elements overlap (more key/value bytes than the file holds)"
                            .into(),
                    });
                }
                if let Some(p) = prev {
                    if p >= el.key {
                        return Err(SnapshotError::UnsortedKeys {
                            bucket: lossy(name),
                        });
                    }
                }
                prev = Some(el.key);
                f(el.flags, el.key, el.value)?;
            }
            Ok(())
        };
        let root_pgid = match root {
            Root::Inline(img) => {
                let hdr = PageHeader::parse(img).ok_or_else(|| SnapshotError::BadBucket {
                    name: lossy(name),
                    reason: "inline page shorter than a page header".into(),
                })?;
                if hdr.flags != FLAG_LEAF {
                    return Err(SnapshotError::BadPageType {
                        pgid: 0,
                        flags: hdr.flags,
                    });
                }
                return emit_leaf(img, 0, hdr.count);
            }
            Root::Page(p) => p,
        };
        let mut visited: HashSet<u64> = HashSet::new();
        let mut stack = vec![root_pgid];
        while let Some(pgid) = stack.pop() {
            if !visited.insert(pgid) {
                return Err(SnapshotError::Cycle(pgid));
            }
            let (page, hdr) = self.page(pgid)?;
            match hdr.flags {
                FLAG_LEAF => emit_leaf(page, pgid, hdr.count)?,
                FLAG_BRANCH => {
                    if hdr.count == 0 {
                        return Err(SnapshotError::BadElement {
                            pgid,
                            index: 0,
                            reason: "branch page without children".into(),
                        });
                    }
                    let start = stack.len();
                    let mut prev_key: Option<&[u8]> = None;
                    for i in 0..usize::from(hdr.count) {
                        let el = branch_element(page, pgid, i)?;
                        if prev_key.is_some_and(|p| p >= el.key) {
                            return Err(SnapshotError::UnsortedKeys {
                                bucket: lossy(name),
                            });
                        }
                        prev_key = Some(el.key);
                        if visited.contains(&el.pgid) {
                            return Err(SnapshotError::Cycle(el.pgid));
                        }
                        stack.push(el.pgid);
                    }
                    // Children were pushed left to right; pop them left to right.
                    stack[start..].reverse();
                }
                flags => return Err(SnapshotError::BadPageType { pgid, flags }),
            }
        }
        Ok(())
    }

    /// Names of the top-level buckets, in key order.
    pub fn buckets(&self) -> Result<Vec<Vec<u8>>, SnapshotError> {
        let mut out = Vec::new();
        self.walk(Root::Page(self.meta.root), b"<root>", |flags, k, _| {
            if flags & LEAF_FLAG_BUCKET == 0 {
                return Err(SnapshotError::BadBucket {
                    name: lossy(k),
                    reason: "root entry is not a bucket".into(),
                });
            }
            out.push(k.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    /// The bucket header value of top-level bucket `name`.
    fn bucket_value(&self, name: &[u8]) -> Result<&'a [u8], SnapshotError> {
        let mut found: Option<(u32, &'a [u8])> = None;
        self.walk(Root::Page(self.meta.root), b"<root>", |flags, k, v| {
            if k == name {
                found = Some((flags, v));
            }
            Ok(())
        })?;
        match found {
            Some((flags, v)) if flags & LEAF_FLAG_BUCKET != 0 => Ok(v),
            _ => Err(SnapshotError::BucketNotFound(lossy(name))),
        }
    }

    /// Whether top-level bucket `name` exists.
    pub fn has_bucket(&self, name: &[u8]) -> Result<bool, SnapshotError> {
        match self.bucket_value(name) {
            Ok(_) => Ok(true),
            Err(SnapshotError::BucketNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Calls `f(key, value)` for every entry of top-level bucket `bucket`, in key order.
    /// Nested buckets (which etcd never creates) are reported with an empty value, as
    /// bbolt's `ForEach` does.
    /// The slices borrow the image, so they may outlive the reader.
    pub fn for_each(
        &self,
        bucket: &[u8],
        mut f: impl FnMut(&'a [u8], &'a [u8]) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError> {
        let value = self.bucket_value(bucket)?;
        if value.len() < BUCKET_HEADER_SIZE {
            return Err(SnapshotError::BadBucket {
                name: lossy(bucket),
                reason: format!("bucket header is {} bytes", value.len()),
            });
        }
        let root = super::page::u64_at(value, 0).unwrap_or(0);
        let root = if root == 0 {
            let img = &value[BUCKET_HEADER_SIZE..];
            if img.len() < PAGE_HEADER_SIZE {
                return Err(SnapshotError::BadBucket {
                    name: lossy(bucket),
                    reason: "inline bucket without a page".into(),
                });
            }
            Root::Inline(img)
        } else {
            Root::Page(root)
        };
        self.walk(root, bucket, |flags, k, v| {
            if flags & LEAF_FLAG_BUCKET != 0 {
                f(k, &[])
            } else {
                f(k, v)
            }
        })
    }
}
