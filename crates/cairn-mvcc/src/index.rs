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
    keys: BTreeMap<Vec<u8>, KeyIndex>,
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
            Some(ki) => ki.put(rev),
            None => {
                let mut ki = KeyIndex::default();
                ki.put(rev);
                self.keys.insert(key.to_vec(), ki);
            }
        }
    }

    /// Records a deletion of `key` at `rev`; false if the key was not live.
    pub(crate) fn tombstone(&mut self, key: &[u8], rev: Revision) -> bool {
        self.keys.get_mut(key).is_some_and(|ki| ki.tombstone(rev))
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
                ki.tombstone(rev);
            }
            Some(ki) => ki.put(rev),
            None if tombstone => {}
            None => {
                let created = Revision::new(create_revision, 0);
                self.keys
                    .insert(key.to_vec(), KeyIndex::restored(created, rev, version));
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
