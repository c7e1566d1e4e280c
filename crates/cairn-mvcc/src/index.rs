//! The in-memory index of all keys (etcd's `treeIndex`): key → [`KeyIndex`],
//! ordered by key bytes. It answers "which revision holds key K at revision R" so
//! that reads touch the `kv` table only for the values they return. It is rebuilt
//! from the `kv` table when the store opens.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use crate::key_index::{KeyAt, KeyIndex};
use crate::revision::Revision;

/// The keys a request covers, decoded from etcd's `key`/`range_end` convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeySpan<'a> {
    /// Empty `range_end`: the key alone.
    Single(&'a [u8]),
    /// `[key, end)`; an empty `end` (from `range_end == "\0"`) means no upper bound.
    Range(&'a [u8], &'a [u8]),
}

impl<'a> KeySpan<'a> {
    /// etcd's reading of a request's `key` and `range_end`.
    pub(crate) fn new(key: &'a [u8], range_end: &'a [u8]) -> KeySpan<'a> {
        match range_end {
            [] => KeySpan::Single(key),
            [0] => KeySpan::Range(key, &[]),
            end => KeySpan::Range(key, end),
        }
    }
}

/// Every key's history.
#[derive(Clone, Debug, Default)]
pub(crate) struct TreeIndex {
    /// Boxed slices rather than `Vec`s: 8 bytes less per key in the map's
    /// nodes, and each key's bytes are allocated at exactly their length.
    keys: BTreeMap<Box<[u8]>, KeyIndex>,
    /// How many keys are live (their newest generation has a put).
    live: u64,
}

impl TreeIndex {
    /// The visible revision of `key` at `at_rev`.
    pub(crate) fn get(&self, key: &[u8], at_rev: i64) -> Option<KeyAt> {
        self.keys.get(key)?.get(at_rev)
    }

    /// Calls `f` for every key in `span` that is live at `at_rev`, in key order.
    fn visit<'s>(&'s self, span: KeySpan<'_>, at_rev: i64, mut f: impl FnMut(&'s [u8], KeyAt)) {
        match span {
            KeySpan::Single(key) => {
                if let Some((k, ki)) = self.keys.get_key_value(key) {
                    if let Some(at) = ki.get(at_rev) {
                        f(k, at);
                    }
                }
            }
            KeySpan::Range(key, end) => {
                if !end.is_empty() && key >= end {
                    return;
                }
                let upper = if end.is_empty() {
                    Bound::Unbounded
                } else {
                    Bound::Excluded(end)
                };
                for (k, ki) in self.keys.range::<[u8], _>((Bound::Included(key), upper)) {
                    if let Some(at) = ki.get(at_rev) {
                        f(k, at);
                    }
                }
            }
        }
    }

    /// Revisions of the live keys in `span` at `at_rev` (at most `limit` of them
    /// when `limit > 0`) and how many keys matched in total.
    pub(crate) fn revisions(
        &self,
        span: KeySpan<'_>,
        at_rev: i64,
        limit: i64,
    ) -> (Vec<Revision>, i64) {
        let mut revs = Vec::new();
        let mut total = 0;
        self.visit(span, at_rev, |_, at| {
            if limit <= 0 || (revs.len() as i64) < limit {
                revs.push(at.modified);
            }
            total += 1;
        });
        (revs, total)
    }

    /// How many keys in `span` are live at `at_rev`.
    pub(crate) fn count(&self, span: KeySpan<'_>, at_rev: i64) -> i64 {
        let mut total = 0;
        self.visit(span, at_rev, |_, _| total += 1);
        total
    }

    /// The live keys in `span` at `at_rev`, in key order.
    pub(crate) fn live_keys(&self, span: KeySpan<'_>, at_rev: i64) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        self.visit(span, at_rev, |k, _| keys.push(k.to_vec()));
        keys
    }

    /// Records a put of `key` at `rev`.
    pub(crate) fn put(&mut self, key: &[u8], rev: Revision) {
        match self.keys.get_mut(key) {
            Some(ki) => put_counting(&mut self.live, ki, rev),
            None => {
                let mut ki = KeyIndex::default();
                ki.put(rev);
                self.keys.insert(Box::from(key), ki);
                self.live += 1;
            }
        }
    }

    /// Records a deletion of `key` at `rev`; false if the key was not live.
    pub(crate) fn tombstone(&mut self, key: &[u8], rev: Revision) -> bool {
        self.keys
            .get_mut(key)
            .is_some_and(|ki| tombstone_counting(&mut self.live, ki, rev))
    }

    /// How many keys are live at the newest revision.
    pub(crate) fn live_key_count(&self) -> u64 {
        self.live
    }

    /// Replays one `kv` table entry while rebuilding the index at open, the way
    /// etcd restores: the first surviving revision of a key seeds its history from
    /// the stored `create_revision` and `version`; a leading tombstone is skipped.
    pub(crate) fn restore(
        &mut self,
        key: &[u8],
        rev: Revision,
        tombstone: bool,
        create_revision: i64,
        version: i64,
    ) {
        match self.keys.get_mut(key) {
            Some(ki) if tombstone => {
                tombstone_counting(&mut self.live, ki, rev);
            }
            Some(ki) => put_counting(&mut self.live, ki, rev),
            None if tombstone => {}
            None => {
                let created = Revision::new(create_revision, 0);
                self.keys
                    .insert(Box::from(key), KeyIndex::restored(created, rev, version));
                self.live += 1;
            }
        }
    }

    /// Compacts every key at `at_rev` and returns the revisions at or below
    /// `at_rev` that must stay in the `kv` table.
    pub(crate) fn compact(&mut self, at_rev: i64) -> HashSet<Revision> {
        let mut available = HashSet::new();
        self.keys.retain(|_, ki| {
            ki.compact(at_rev, &mut available);
            !ki.is_empty()
        });
        available
    }

    /// The revisions a compaction at `at_rev` would keep (nothing changes).
    pub(crate) fn keep(&self, at_rev: i64) -> HashSet<Revision> {
        let mut available = HashSet::new();
        for ki in self.keys.values() {
            ki.keep(at_rev, &mut available);
        }
        available
    }

    /// Number of keys with any history left.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// A put into a known key's history; `live` counts it again if it was deleted.
fn put_counting(live: &mut u64, ki: &mut KeyIndex, rev: Revision) {
    if !ki.is_live() {
        *live += 1;
    }
    ki.put(rev);
}

/// A deletion in a known key's history; `live` counts one key fewer if it
/// was live. False if it was not.
fn tombstone_counting(live: &mut u64, ki: &mut KeyIndex, rev: Revision) -> bool {
    let deleted = ki.tombstone(rev);
    if deleted {
        *live -= 1;
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    fn sample() -> TreeIndex {
        let mut ti = TreeIndex::default();
        ti.put(b"a", r(2));
        ti.put(b"b", r(3));
        ti.put(b"c", r(4));
        ti.put(b"a", r(5));
        assert!(ti.tombstone(b"b", r(6)));
        ti
    }

    #[test]
    fn span_follows_etcd_range_end_rules() {
        assert_eq!(KeySpan::new(b"a", b""), KeySpan::Single(b"a"));
        assert_eq!(KeySpan::new(b"a", b"\0"), KeySpan::Range(b"a", b""));
        assert_eq!(KeySpan::new(b"a", b"b"), KeySpan::Range(b"a", b"b"));
    }

    #[test]
    fn revisions_count_and_limit() {
        let ti = sample();
        let all = KeySpan::Range(b"a", b"");
        assert_eq!(ti.revisions(all, 6, 0), (vec![r(5), r(4)], 2));
        assert_eq!(ti.revisions(all, 5, 0), (vec![r(5), r(3), r(4)], 3));
        assert_eq!(ti.revisions(all, 5, 2), (vec![r(5), r(3)], 3));
        assert_eq!(ti.revisions(all, 2, 0), (vec![r(2)], 1));
        assert_eq!(ti.count(all, 4), 3);
        assert_eq!(ti.revisions(KeySpan::Range(b"b", b"c"), 5, 0).1, 1);
        // An end before the start matches nothing (and does not panic).
        assert_eq!(ti.count(KeySpan::Range(b"c", b"a"), 6), 0);
        assert_eq!(ti.revisions(KeySpan::Single(b"b"), 6, 0).1, 0);
        assert_eq!(ti.live_keys(all, 6), vec![b"a".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn live_key_count_follows_puts_deletes_restores_and_compaction() {
        let mut ti = sample();
        assert_eq!(ti.live_key_count(), 2, "a and c");
        assert!(!ti.tombstone(b"b", r(7)), "b is already deleted");
        ti.put(b"b", r(8));
        ti.put(b"b", r(9));
        assert_eq!(ti.live_key_count(), 3);
        ti.compact(9);
        assert_eq!(ti.live_key_count(), 3);
        assert!(ti.tombstone(b"a", r(10)));
        assert_eq!(ti.live_key_count(), 2);

        let mut restored = TreeIndex::default();
        restored.restore(b"x", r(2), false, 2, 1);
        restored.restore(b"y", r(3), true, 0, 0);
        restored.restore(b"x", r(4), true, 0, 0);
        restored.restore(b"x", r(5), false, 5, 1);
        restored.restore(b"z", r(6), false, 6, 1);
        assert_eq!(restored.live_key_count(), 2, "x and z");
    }

    #[test]
    fn compact_drops_dead_keys_and_reports_kept_revisions() {
        let mut ti = sample();
        assert_eq!(ti.keep(6), [r(5), r(4)].into_iter().collect());
        let kept = ti.compact(6);
        assert_eq!(kept, [r(5), r(4)].into_iter().collect());
        assert_eq!(ti.len(), 2, "b was deleted at 6 and is gone");
        assert_eq!(ti.get(b"a", 6).map(|k| k.version), Some(2));
    }

    #[test]
    fn restore_skips_leading_tombstones() {
        let mut ti = TreeIndex::default();
        ti.restore(b"x", r(3), true, 0, 0);
        assert_eq!(ti.len(), 0);
        ti.restore(b"x", r(4), false, 2, 3);
        ti.restore(b"x", r(5), true, 0, 0);
        ti.restore(b"x", r(7), false, 7, 1);
        let k = ti.get(b"x", 4).unwrap();
        assert_eq!((k.created, k.version), (r(2), 3));
        assert_eq!(ti.get(b"x", 5), None);
        assert_eq!(ti.get(b"x", 7).unwrap().version, 1);
    }
}

/// Heap use of the index, measured with a counting allocator; run with
/// `cargo nextest run -p cairn-mvcc --run-ignored only heap_use --no-capture`.
/// It prints and asserts nothing about sizes: the numbers depend on the
/// platform and the standard library.
#[cfg(test)]
mod heap_use {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use super::TreeIndex;
    use crate::revision::Revision;

    /// The system allocator, counting what the current thread allocates while
    /// [`measure`] runs (other test threads are not counted).
    struct CountingAllocator;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        /// Bytes requested and not yet freed.
        static REQUESTED: Cell<isize> = const { Cell::new(0) };
        /// The same allocations as glibc malloc chunks: 8 bytes of header,
        /// rounded up to 16, at least 32.
        static CHUNKS: Cell<isize> = const { Cell::new(0) };
        /// Live allocations.
        static BLOCKS: Cell<isize> = const { Cell::new(0) };
    }

    fn glibc_chunk(size: usize) -> isize {
        ((size + 8 + 15) & !15).max(32) as isize
    }

    fn record(size: usize, sign: isize) {
        // `try_with`: the allocator also runs while thread locals are torn down.
        let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
        if counting {
            let _ = REQUESTED.try_with(|c| c.set(c.get() + sign * size as isize));
            let _ = CHUNKS.try_with(|c| c.set(c.get() + sign * glibc_chunk(size)));
            let _ = BLOCKS.try_with(|c| c.set(c.get() + sign));
        }
    }

    // SAFETY: every call is passed on unchanged to `System`.
    unsafe impl GlobalAlloc for CountingAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            record(layout.size(), 1);
            // SAFETY: the caller's contract is `System`'s.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            record(layout.size(), -1);
            // SAFETY: the caller's contract is `System`'s.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            record(layout.size(), -1);
            record(new_size, 1);
            // SAFETY: the caller's contract is `System`'s.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: CountingAllocator = CountingAllocator;

    /// Runs `build` and returns what it leaves allocated: (requested bytes,
    /// glibc chunk bytes, blocks).
    fn measure<T>(build: impl FnOnce() -> T) -> (T, [isize; 3]) {
        for c in [&REQUESTED, &CHUNKS, &BLOCKS] {
            c.with(|c| c.set(0));
        }
        COUNTING.with(|c| c.set(true));
        let built = build();
        COUNTING.with(|c| c.set(false));
        let used = [&REQUESTED, &CHUNKS, &BLOCKS].map(|c| c.with(Cell::get));
        (built, used)
    }

    const KEYS: usize = 100_000;

    /// Key `i`: a Kubernetes-like path 20 to 40 bytes long, ending in `i`.
    fn key(i: usize) -> Vec<u8> {
        const PREFIX: &str = "/registry/pods/default/pod-nginx-deployment";
        let len = 20 + (i * 7919) % 21;
        format!("{}-{i:06}", &PREFIX[..len - 7]).into_bytes()
    }

    /// Puts every key `puts` times, in rounds, each round in a scrambled key
    /// order (as revision order is, in a store), one revision per put.
    fn build(keys: &[Vec<u8>], puts: usize) -> TreeIndex {
        let mut index = TreeIndex::default();
        let mut main = 0;
        for _ in 0..puts {
            for i in 0..keys.len() {
                main += 1;
                index.put(&keys[(i * 48_271) % keys.len()], Revision::new(main, 0));
            }
        }
        index
    }

    #[test]
    #[ignore = "prints heap use; run on demand"]
    fn heap_use_of_100k_keys() {
        println!(
            "a map entry holds {} bytes of key and {} of KeyIndex",
            std::mem::size_of::<Box<[u8]>>(),
            std::mem::size_of::<crate::key_index::KeyIndex>()
        );
        let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
        let key_bytes: usize = keys.iter().map(Vec::len).sum();
        println!(
            "{KEYS} keys, {:.1} key bytes each on average",
            key_bytes as f64 / KEYS as f64
        );
        for puts in [1, 3] {
            let (index, [requested, chunks, blocks]) = measure(|| build(&keys, puts));
            assert_eq!(index.len(), KEYS);
            println!(
                "{puts} put(s) per key: {requested} bytes requested ({:.1} per key), \
                 {chunks} as glibc chunks ({:.1} per key), {blocks} blocks",
                requested as f64 / KEYS as f64,
                chunks as f64 / KEYS as f64,
            );
        }
    }
}
