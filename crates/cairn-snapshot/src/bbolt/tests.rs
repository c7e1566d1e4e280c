//! Tests of the bbolt reader and writer: round trips of every bucket shape, a strict
//! structural check of written files (as bbolt's `tx.Check` would do), the streaming
//! writer's pages against the layout of the whole tree at once, and corrupted inputs
//! that must produce errors, never panics or endless loops.

use std::collections::BTreeSet;

use proptest::prelude::*;

use sha2::{Digest, Sha256};

use super::page::*;
use super::writer::{inline_bucket_header, paged_bucket_header, Pages};
use super::{BoltBuilder, BoltReader};
use crate::error::SnapshotError;

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Buckets in any order with unsorted entries, sorted and handed to [`BoltBuilder`]
/// on `finish` (as `write_etcd` does): how most tests here describe a database.
#[derive(Default)]
struct BoltWriter {
    buckets: Vec<(Vec<u8>, Entries)>,
}

impl BoltWriter {
    fn new() -> Self {
        Self::default()
    }

    fn bucket(&mut self, name: &[u8], entries: Entries) {
        self.buckets.push((name.to_vec(), entries));
    }

    fn finish(mut self) -> Result<Vec<u8>, SnapshotError> {
        self.buckets.sort_by(|a, b| a.0.cmp(&b.0));
        let mut builder = BoltBuilder::new();
        for (name, mut entries) in self.buckets {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            builder.bucket(&name, |bucket| {
                entries.iter().try_for_each(|(k, v)| bucket.put(k, v))
            })?;
        }
        builder.finish()
    }
}

/// The image as the writer laid it out before it took entries one at a time: each
/// bucket's leaf items collected, then its whole tree laid out at once.
fn reference_image(mut buckets: Vec<(Vec<u8>, Entries)>) -> Vec<u8> {
    buckets.sort_by(|a, b| a.0.cmp(&b.0));
    let mut pages = Pages::new();
    let mut headers = Vec::new();
    for (_, entries) in &mut buckets {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let items: Vec<NodeItem<'_>> = entries
            .iter()
            .map(|(k, v)| NodeItem::Leaf {
                flags: 0,
                key: k,
                value: v,
            })
            .collect();
        headers.push(if node_size(&items) <= PAGE_SIZE / 4 {
            inline_bucket_header(&items)
        } else {
            paged_bucket_header(pages.write_tree(items).unwrap())
        });
    }
    let root_items = buckets
        .iter()
        .zip(&headers)
        .map(|((name, _), header)| NodeItem::Leaf {
            flags: LEAF_FLAG_BUCKET,
            key: name,
            value: header,
        })
        .collect();
    let root = pages.write_tree(root_items).unwrap();
    pages.finish(root)
}

fn read_all(db: &[u8], bucket: &[u8]) -> Result<Entries, SnapshotError> {
    let r = BoltReader::new(db)?;
    let mut out = Vec::new();
    r.for_each(bucket, |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Ok(())
    })?;
    Ok(out)
}

/// Walks a written file like strict bbolt: every page 2..pgid reached exactly once,
/// ids match, branch keys equal their child's first key, keys in each subtree lie
/// within the parent's bounds. Returns the maximum tree depth seen.
fn strict_check(db: &[u8]) -> usize {
    let meta0 = Meta::parse(db).unwrap();
    let meta1 = Meta::parse(&db[PAGE_SIZE..]).unwrap();
    meta0.validate(0).unwrap();
    meta1.validate(1).unwrap();
    assert_eq!(meta0.txid, meta1.txid + 1);
    assert_eq!(meta0.root, meta1.root);
    assert_eq!(meta0.freelist, FREELIST_NOT_SYNCED);
    assert_eq!(meta0.page_size as usize, PAGE_SIZE);
    assert_eq!(db.len() as u64, meta0.pgid * PAGE_SIZE as u64);
    let mut seen = BTreeSet::new();
    let mut depth = 0;
    // Returns the first key of the subtree.
    fn walk(
        db: &[u8],
        pgid: u64,
        seen: &mut BTreeSet<u64>,
        d: usize,
        depth: &mut usize,
    ) -> Vec<u8> {
        *depth = (*depth).max(d);
        let off = pgid as usize * PAGE_SIZE;
        let hdr = PageHeader::parse(&db[off..]).unwrap();
        assert_eq!(hdr.id, pgid);
        for p in pgid..=pgid + u64::from(hdr.overflow) {
            assert!(seen.insert(p), "page {p} referenced twice");
        }
        let page = &db[off..off + (hdr.overflow as usize + 1) * PAGE_SIZE];
        let mut keys = Vec::new();
        match hdr.flags {
            FLAG_LEAF => {
                for i in 0..hdr.count as usize {
                    let el = leaf_element(page, pgid, i).unwrap();
                    keys.push(el.key.to_vec());
                    if el.flags & LEAF_FLAG_BUCKET != 0 {
                        let root = u64_at(el.value, 0).unwrap();
                        if root != 0 {
                            walk(db, root, seen, 0, depth);
                        }
                    }
                }
            }
            FLAG_BRANCH => {
                assert!(hdr.count >= 1);
                for i in 0..hdr.count as usize {
                    let el = branch_element(page, pgid, i).unwrap();
                    let first = walk(db, el.pgid, seen, d + 1, depth);
                    assert_eq!(first, el.key, "branch key differs from child's first key");
                    keys.push(el.key.to_vec());
                }
            }
            f => panic!("unexpected page flags {f:#x}"),
        }
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "keys unsorted in page {pgid}"
        );
        keys.first().cloned().unwrap_or_default()
    }
    walk(db, meta0.root, &mut seen, 0, &mut depth);
    let all: BTreeSet<u64> = (2..meta0.pgid).collect();
    assert_eq!(seen, all, "orphan or missing pages");
    depth
}

fn round_trip(buckets: Vec<(Vec<u8>, Entries)>) -> Vec<u8> {
    let mut w = BoltWriter::new();
    for (n, e) in &buckets {
        w.bucket(n, e.clone());
    }
    let db = w.finish().unwrap();
    strict_check(&db);
    let r = BoltReader::new(&db).unwrap();
    let mut names: Vec<Vec<u8>> = buckets.iter().map(|b| b.0.clone()).collect();
    names.sort();
    assert_eq!(r.buckets().unwrap(), names);
    for (n, mut e) in buckets {
        e.sort();
        assert_eq!(read_all(&db, &n).unwrap(), e);
    }
    db
}

fn numbered(n: usize, vlen: usize) -> Entries {
    (0..n)
        .map(|i| {
            (
                format!("key-{i:08}").into_bytes(),
                vec![(i % 251) as u8; vlen],
            )
        })
        .collect()
}

#[test]
fn empty_database_and_empty_buckets() {
    let db = round_trip(vec![]);
    assert_eq!(db.len(), 3 * PAGE_SIZE);
    round_trip(vec![(b"a".to_vec(), vec![]), (b"b".to_vec(), vec![])]);
}

#[test]
fn inline_bucket_is_inline() {
    let db = round_trip(vec![(b"small".to_vec(), numbered(5, 10))]);
    // Metas plus the root leaf only: the bucket lives inside the root's value.
    assert_eq!(db.len(), 3 * PAGE_SIZE);
}

#[test]
fn paged_bucket() {
    let db = round_trip(vec![(b"p".to_vec(), numbered(40, 50))]);
    assert!(db.len() > 3 * PAGE_SIZE);
}

#[test]
fn thousands_of_keys_build_multi_level_trees() {
    let mut w = BoltWriter::new();
    w.bucket(b"big", numbered(60_000, 40));
    let db = w.finish().unwrap();
    assert!(
        strict_check(&db) >= 2,
        "expected at least two branch levels"
    );
    assert_eq!(read_all(&db, b"big").unwrap(), numbered(60_000, 40));
    round_trip(vec![
        (b"k".to_vec(), numbered(3000, 20)),
        (b"z".to_vec(), numbered(7, 1)),
    ]);
}

#[test]
fn values_larger_than_a_page_use_overflow() {
    let mut e = numbered(10, 10);
    e.push((b"huge".to_vec(), (0..20_000).map(|i| i as u8).collect()));
    e.push((b"huge2".to_vec(), vec![9; 4096]));
    let db = round_trip(vec![(b"o".to_vec(), e)]);
    let has_overflow = (2..db.len() / PAGE_SIZE).any(|p| {
        PageHeader::parse(&db[p * PAGE_SIZE..]).is_some_and(|h| h.id == p as u64 && h.overflow > 0)
    });
    assert!(has_overflow);
}

#[test]
fn keys_bigger_than_a_page() {
    let e: Entries = (0..40u8)
        .map(|i| {
            let mut k = vec![b'k'; MAX_KEY_SIZE - 1];
            k.push(i);
            (k, vec![i; 10])
        })
        .collect();
    let mut w = BoltWriter::new();
    w.bucket(b"wide", e.clone());
    let db = w.finish().unwrap();
    assert!(strict_check(&db) >= 1);
    assert_eq!(read_all(&db, b"wide").unwrap(), e);
}

#[test]
fn every_byte_value() {
    let e: Entries = (0..=255u8)
        .map(|b| (vec![b, b, 0xff - b], vec![b; b as usize]))
        .collect();
    round_trip(vec![(vec![0u8, 255, 1], e.clone()), (vec![0xff], e)]);
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = BoltWriter::new();
    w.bucket(
        b"b",
        vec![(b"k".to_vec(), vec![]), (b"k".to_vec(), vec![1])],
    );
    assert!(matches!(w.finish(), Err(SnapshotError::InvalidInput(_))));
    let mut w = BoltWriter::new();
    w.bucket(b"b", vec![(Vec::new(), vec![])]);
    assert!(w.finish().is_err());
    let mut w = BoltWriter::new();
    w.bucket(b"b", vec![]);
    w.bucket(b"b", vec![]);
    assert!(w.finish().is_err());
}

#[test]
fn missing_bucket_is_an_error() {
    let db = round_trip(vec![(b"a".to_vec(), vec![])]);
    let r = BoltReader::new(&db).unwrap();
    assert!(matches!(
        r.for_each(b"nope", |_, _| Ok(())),
        Err(SnapshotError::BucketNotFound(_))
    ));
    assert!(!r.has_bucket(b"nope").unwrap());
}

fn sample_db() -> Vec<u8> {
    let mut w = BoltWriter::new();
    w.bucket(b"key", numbered(500, 30));
    w.bucket(b"meta", numbered(3, 8));
    w.finish().unwrap()
}

fn read_everything(db: &[u8]) -> Result<usize, SnapshotError> {
    let r = BoltReader::new(db)?;
    let mut n = 0;
    for b in r.buckets()? {
        r.for_each(&b, |_, _| {
            n += 1;
            Ok(())
        })?;
    }
    Ok(n)
}

#[test]
fn meta_corruption_falls_back_or_fails() {
    let db = sample_db();
    // One bad meta: the other is used.
    let mut one = db.clone();
    one[16 + 40] ^= 1; // meta 0 pgid
    assert_eq!(read_everything(&one).unwrap(), 503);
    assert_eq!(BoltReader::new(&one).unwrap().meta().txid, 1);
    // Both bad: error naming the problem.
    let mut both = one.clone();
    both[PAGE_SIZE + 16] ^= 1; // meta 1 magic
    let err = BoltReader::new(&both).unwrap_err();
    assert!(matches!(err, SnapshotError::NoValidMeta { .. }), "{err}");
    let mut magic = db.clone();
    magic[16] ^= 1;
    magic[PAGE_SIZE + 16] ^= 1;
    assert!(matches!(
        BoltReader::new(&magic).unwrap_err(),
        SnapshotError::BadMagic { .. }
    ));
}

#[test]
fn truncation_is_detected() {
    let db = sample_db();
    for len in [
        0,
        10,
        100,
        PAGE_SIZE,
        PAGE_SIZE + 80,
        db.len() - PAGE_SIZE,
        db.len() - 1,
    ] {
        assert!(read_everything(&db[..len]).is_err(), "len {len}");
    }
}

/// Rewrites both metas so they stay valid after a test edits them.
fn fix_metas(db: &mut [u8], edit: impl Fn(&mut Meta)) {
    for p in 0..2u64 {
        let off = p as usize * PAGE_SIZE;
        let mut m = Meta::parse(&db[off..]).unwrap();
        edit(&mut m);
        m.write_page(p, &mut db[off..off + PAGE_SIZE]);
    }
}

#[test]
fn page_id_mismatch_and_out_of_range() {
    let db = sample_db();
    let root = Meta::parse(&db).unwrap().root as usize;
    let mut bad = db.clone();
    bad[root * PAGE_SIZE] ^= 0x20;
    assert!(matches!(
        read_everything(&bad),
        Err(SnapshotError::PageIdMismatch { .. })
    ));
    let mut far = db.clone();
    fix_metas(&mut far, |m| m.root = 1_000_000);
    assert!(matches!(
        read_everything(&far),
        Err(SnapshotError::PageOutOfRange { .. })
    ));
    let mut meta_as_root = db.clone();
    fix_metas(&mut meta_as_root, |m| m.root = 0);
    assert!(matches!(
        read_everything(&meta_as_root),
        Err(SnapshotError::BadPageType { .. })
    ));
}

#[test]
fn page_pointing_to_itself_is_a_cycle() {
    let mut w = BoltWriter::new();
    w.bucket(b"b", numbered(2000, 20));
    let mut db = w.finish().unwrap();
    // Find a branch page and make its first child point to itself.
    let branch = (2..db.len() / PAGE_SIZE)
        .find(|&p| PageHeader::parse(&db[p * PAGE_SIZE..]).unwrap().flags == FLAG_BRANCH)
        .unwrap();
    let off = branch * PAGE_SIZE + PAGE_HEADER_SIZE + 8;
    db[off..off + 8].copy_from_slice(&(branch as u64).to_le_bytes());
    assert!(matches!(read_all(&db, b"b"), Err(SnapshotError::Cycle(p)) if p == branch as u64));
}

#[test]
fn unsorted_keys_are_rejected() {
    let mut db = round_trip(vec![(b"b".to_vec(), numbered(100, 30))]);
    // Swap the first bytes of two keys in a leaf so order breaks: "key-..." -> "zey-...".
    let leaf = (2..db.len() / PAGE_SIZE)
        .find(|&p| PageHeader::parse(&db[p * PAGE_SIZE..]).unwrap().flags == FLAG_LEAF)
        .unwrap();
    let page = &db[leaf * PAGE_SIZE..(leaf + 1) * PAGE_SIZE];
    let el = leaf_element(page, leaf as u64, 0).unwrap();
    let key_off = el.key.as_ptr() as usize - db.as_ptr() as usize;
    db[key_off] = b'z';
    assert!(matches!(
        read_all(&db, b"b"),
        Err(SnapshotError::UnsortedKeys { .. })
    ));
}

#[test]
fn overlapping_elements_are_bounded() {
    let mut w = BoltWriter::new();
    w.bucket(b"b", numbered(30, 100));
    let mut db = w.finish().unwrap();
    // The bucket's single leaf: every element i gets key = first i+1 data bytes and
    // value = the rest of the page, so keys ascend but the bytes are shared.
    let leaf = (2..db.len() / PAGE_SIZE)
        .find(|&p| {
            let h = PageHeader::parse(&db[p * PAGE_SIZE..]).unwrap();
            h.flags == FLAG_LEAF && h.count == 30
        })
        .unwrap();
    let base = leaf * PAGE_SIZE;
    let data_start = PAGE_HEADER_SIZE + 30 * ELEMENT_SIZE;
    for i in 0..30usize {
        let el = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        let pos = (data_start - el) as u32;
        let ksize = i as u32 + 1;
        let vsize = (PAGE_SIZE - data_start) as u32 - ksize;
        db[base + el + 4..base + el + 8].copy_from_slice(&pos.to_le_bytes());
        db[base + el + 8..base + el + 12].copy_from_slice(&ksize.to_le_bytes());
        db[base + el + 12..base + el + 16].copy_from_slice(&vsize.to_le_bytes());
    }
    let err = read_all(&db, b"b").unwrap_err();
    assert!(matches!(err, SnapshotError::BadElement { .. }), "{err}");
}

#[test]
fn buckets_sharing_a_tree_cannot_inflate_reads() {
    let mut w = BoltWriter::new();
    w.bucket(b"a", numbered(200, 100));
    for name in [b"b", b"c", b"d", b"e"] {
        w.bucket(name, numbered(20, 60));
    }
    let mut db = w.finish().unwrap();
    let meta = Meta::parse(&db).unwrap();
    let off = meta.root as usize * PAGE_SIZE;
    let page = db[off..off + PAGE_SIZE].to_vec();
    let a_root = u64_at(leaf_element(&page, meta.root, 0).unwrap().value, 0).unwrap();
    assert_ne!(a_root, 0);
    // Point buckets b..e at a's tree.
    for i in 1..5 {
        let v = leaf_element(&page, meta.root, i).unwrap().value;
        let v_off = off + (v.as_ptr() as usize - page.as_ptr() as usize);
        db[v_off..v_off + 8].copy_from_slice(&a_root.to_le_bytes());
    }
    // Each bucket alone reads fine; copying all of them exceeds the file and is refused.
    assert_eq!(read_all(&db, b"b").unwrap().len(), 200);
    let res = crate::schema::read_etcd(&db);
    assert!(
        matches!(res, Err(SnapshotError::BadSchemaValue { .. })),
        "{:?}",
        res.err()
    );
}

/// A deterministic mix of bucket shapes: empty, inline, one leaf, multi-level,
/// values and keys bigger than a page.
fn mixed_buckets() -> Vec<(Vec<u8>, Entries)> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    let mut buckets = vec![(b"empty".to_vec(), Vec::new())];
    for (name, rows, max_value) in [
        (&b"tiny"[..], 3, 20),
        (b"leaf", 12, 200),
        (b"key", 20_000, 400),
        (b"large", 60, 9_000),
    ] {
        let prefix = String::from_utf8_lossy(name).into_owned();
        let entries = (0..rows)
            .map(|i| {
                let key = format!("{prefix}-{i:06}-{}", "k".repeat(next(4) * next(2)));
                (key.into_bytes(), vec![next(256) as u8; next(max_value)])
            })
            .collect();
        buckets.push((name.to_vec(), entries));
    }
    let wide = (0..12u8)
        .map(|i| {
            let mut key = vec![b'w'; 5000];
            key.push(i);
            (key, vec![i; 30])
        })
        .collect();
    buckets.push((b"wide".to_vec(), wide));
    buckets
}

#[test]
fn streamed_layout_matches_the_whole_tree_layout() {
    let buckets = mixed_buckets();
    let db = round_trip(buckets.clone());
    assert!(strict_check(&db) >= 2);
    assert_eq!(db, reference_image(buckets));
}

/// SHA-256 of `mixed_buckets()` as laid out by the writer of commit 37c221a (before
/// it streamed): the streaming writer must keep producing exactly these bytes.
const MIXED_BUCKETS_SHA256: &str =
    "52d3ec600d320c6ae630f14e04fa50c8d1fc8059bd8c9f1eefecc63ba8186574";

#[test]
fn layout_is_unchanged_from_the_collecting_writer() {
    let mut w = BoltWriter::new();
    for (name, entries) in mixed_buckets() {
        w.bucket(&name, entries);
    }
    let digest = Sha256::digest(w.finish().unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, MIXED_BUCKETS_SHA256);
}

#[test]
fn builder_refuses_unordered_input() {
    let put = |entries: Entries| {
        move |bucket: &mut super::BucketWriter<'_>| {
            entries.iter().try_for_each(|(k, v)| bucket.put(k, v))
        }
    };
    let mut b = BoltBuilder::new();
    let res = b.bucket(
        b"b",
        put(vec![(b"2".to_vec(), vec![]), (b"1".to_vec(), vec![])]),
    );
    assert!(matches!(res, Err(SnapshotError::InvalidInput(m)) if m.contains("out of order")));
    let mut b = BoltBuilder::new();
    b.bucket(b"b", put(vec![])).unwrap();
    let res = b.bucket(b"a", put(vec![]));
    assert!(matches!(res, Err(SnapshotError::InvalidInput(m)) if m.contains("out of order")));
    let res = b.bucket(b"b", put(vec![]));
    assert!(matches!(res, Err(SnapshotError::InvalidInput(m)) if m.contains("duplicate")));
    let mut b = BoltBuilder::new();
    let res = b.bucket(b"b", put(vec![(vec![1; MAX_KEY_SIZE + 1], vec![])]));
    assert!(matches!(res, Err(SnapshotError::InvalidInput(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Random byte flips anywhere never panic or hang.
    #[test]
    fn random_flips_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8)) {
        let mut db = sample_db();
        let len = db.len();
        for (i, x) in flips {
            db[i.index(len)] ^= x;
        }
        let _ = read_everything(&db);
        let _ = crate::file::status(&db);
        let _ = crate::schema::read_etcd(&db);
    }

    /// Random flips with metas repaired reach deep into tree pages.
    #[test]
    fn random_page_flips_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut db = sample_db();
        let len = db.len() - 2 * PAGE_SIZE;
        for (i, x) in flips {
            db[2 * PAGE_SIZE + i.index(len)] = x;
        }
        let _ = read_everything(&db);
    }

    /// Arbitrary buckets round-trip.
    #[test]
    fn arbitrary_round_trip(entries in prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..40),
        prop::collection::vec(any::<u8>(), 0..600),
        0..200,
    )) {
        let e: Entries = entries.into_iter().collect();
        round_trip(vec![(b"p".to_vec(), e)]);
    }

    /// Any buckets (empty, inline, paged, with values bigger than a page) come out
    /// as the whole-tree layout had them.
    #[test]
    fn arbitrary_buckets_match_the_whole_tree_layout(buckets in prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..6),
        prop::collection::btree_map(
            prop::collection::vec(any::<u8>(), 1..24),
            prop_oneof![
                4 => prop::collection::vec(any::<u8>(), 0..300),
                1 => prop::collection::vec(any::<u8>(), 3000..9000),
            ],
            0..120,
        ),
        0..6,
    )) {
        let buckets: Vec<(Vec<u8>, Entries)> = buckets
            .into_iter()
            .map(|(name, entries)| (name, entries.into_iter().collect()))
            .collect();
        let db = round_trip(buckets.clone());
        prop_assert_eq!(db, reference_image(buckets));
    }
}
