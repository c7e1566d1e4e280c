//! The history of one key, as etcd's `keyIndex` keeps it.
//!
//! A key's life is split into generations: a generation starts with the put that
//! creates the key and ends with the deletion (tombstone) that removes it; after a
//! tombstone an empty generation waits for the next creation. Compaction trims old
//! revisions exactly as etcd does, because `hash_kv` and the physical compaction
//! depend on which revisions survive.
//!
//! Memory: a key with one generation holding one revision (most keys: written
//! once, or compacted down to their last write) keeps it all inline in the
//! index's map node; see [`OneOrMany`].

use std::collections::HashSet;

use crate::one_or_many::OneOrMany;
use crate::revision::Revision;

/// One life of a key: from its creation to its deletion (if any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Generation {
    /// Number of puts in this generation (the key's `version` after the last).
    pub ver: i64,
    /// Main revision of the put that created the key. Its sub is not kept:
    /// only the main is ever reported (`create_revision`), and etcd's restore
    /// from the `kv` table drops the sub too.
    pub created_main: i64,
    /// Revisions of the puts (and the closing tombstone), oldest first.
    pub revs: OneOrMany<Revision>,
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }

    /// Index of the newest revision whose main is `<= at_rev`.
    fn newest_at(&self, at_rev: i64) -> Option<usize> {
        self.revs.iter().rposition(|r| r.main <= at_rev)
    }
}

/// What a key looked like at some revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyAt {
    /// The revision of the put that wrote the visible value.
    pub modified: Revision,
    /// The revision that created this generation of the key; its sub is
    /// always 0 (see [`Generation::created_main`]).
    pub created: Revision,
    /// The key's version at that revision.
    pub version: i64,
}

/// All generations of one key, oldest first. (etcd's `keyIndex` also keeps
/// the newest revision, `modified`; here [`KeyIndex::newest`] finds it.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyIndex {
    generations: OneOrMany<Generation>,
}

impl KeyIndex {
    /// A key seen first at `modified` during a restore, whose stored value says it
    /// was created at `created` and has version `ver` (older revisions compacted).
    pub(crate) fn restored(created: Revision, modified: Revision, ver: i64) -> KeyIndex {
        let mut revs = OneOrMany::new();
        revs.push(modified);
        let mut generations = OneOrMany::new();
        generations.push(Generation {
            ver,
            created_main: created.main,
            revs,
        });
        KeyIndex { generations }
    }

    /// The newest recorded revision (etcd's `modified`), if any is left.
    fn newest(&self) -> Option<Revision> {
        self.generations
            .iter()
            .rev()
            .find_map(|g| g.revs.last().copied())
    }

    /// Records a put at `rev` (which must be newer than every recorded revision).
    pub(crate) fn put(&mut self, rev: Revision) {
        debug_assert!(
            self.newest().is_none_or(|newest| rev > newest),
            "put {rev:?} after {:?}",
            self.newest()
        );
        if self.generations.is_empty() {
            self.generations.push(Generation::default());
        }
        let Some(g) = self.generations.last_mut() else {
            return;
        };
        if g.revs.is_empty() {
            g.created_main = rev.main;
        }
        g.revs.push(rev);
        g.ver += 1;
    }

    /// Whether the key exists at its newest revision.
    pub(crate) fn is_live(&self) -> bool {
        self.generations.last().is_some_and(|g| !g.is_empty())
    }

    /// Records a deletion at `rev`; false if the key is not live (nothing to delete).
    pub(crate) fn tombstone(&mut self, rev: Revision) -> bool {
        if !self.is_live() {
            return false;
        }
        self.put(rev);
        self.generations.push(Generation::default());
        true
    }

    /// The visible put at `at_rev`, if the key was live then.
    pub(crate) fn get(&self, at_rev: i64) -> Option<KeyAt> {
        let g = self.generation_at(at_rev)?;
        let n = g.newest_at(at_rev)?;
        Some(KeyAt {
            modified: g.revs[n],
            created: Revision::new(g.created_main, 0),
            version: g.ver - (g.revs.len() - n - 1) as i64,
        })
    }

    /// The generation in effect at `rev`, or None if the key was deleted or not
    /// yet created then.
    fn generation_at(&self, rev: i64) -> Option<&Generation> {
        let last = self.generations.len().checked_sub(1)?;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let (Some(first), Some(newest)) = (g.revs.first(), g.revs.last()) else {
                continue;
            };
            // A closed generation ended with its tombstone: deleted at or before rev.
            if i != last && newest.main <= rev {
                return None;
            }
            if first.main <= rev {
                return Some(g);
            }
        }
        None
    }

    /// True when nothing is left of the key (a single empty generation).
    pub(crate) fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].is_empty()
    }

    /// Finds the generation a compaction at `at_rev` keeps and, in it, the newest
    /// revision `<= at_rev`, which it adds to `available`.
    fn compaction_point(
        &self,
        at_rev: i64,
        available: &mut HashSet<Revision>,
    ) -> (usize, Option<usize>) {
        let mut gen_idx = 0;
        while gen_idx + 1 < self.generations.len() {
            let tomb = self.generations[gen_idx].revs.last().map_or(0, |r| r.main);
            if tomb > at_rev {
                break;
            }
            gen_idx += 1;
        }
        let rev_idx = self.generations[gen_idx].newest_at(at_rev);
        if let Some(i) = rev_idx {
            available.insert(self.generations[gen_idx].revs[i]);
        }
        (gen_idx, rev_idx)
    }

    /// Drops every revision a compaction at `at_rev` removes; adds to `available`
    /// the revision of this key that must stay on disk (if any).
    pub(crate) fn compact(&mut self, at_rev: i64, available: &mut HashSet<Revision>) {
        if self.generations.is_empty() {
            return;
        }
        let (mut gen_idx, rev_idx) = self.compaction_point(at_rev, available);
        let last = self.generations.len() - 1;
        let g = &mut self.generations[gen_idx];
        if !g.is_empty() {
            if let Some(i) = rev_idx {
                g.revs.remove_first(i);
            }
            // Only the tombstone is left: the whole generation goes.
            if g.revs.len() == 1 && gen_idx != last {
                available.remove(&g.revs[0]);
                gen_idx += 1;
            }
        }
        self.generations.remove_first(gen_idx);
    }

    /// Adds to `available` the revision of this key a compaction at `at_rev` would
    /// keep, without changing anything.
    pub(crate) fn keep(&self, at_rev: i64, available: &mut HashSet<Revision>) {
        if self.is_empty() || self.generations.is_empty() {
            return;
        }
        let (gen_idx, rev_idx) = self.compaction_point(at_rev, available);
        let g = &self.generations[gen_idx];
        if let Some(i) = rev_idx {
            if i + 1 == g.revs.len() && gen_idx + 1 != self.generations.len() {
                available.remove(&g.revs[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64, sub: i64) -> Revision {
        Revision::new(main, sub)
    }

    /// The history etcd's own key index tests use: three generations,
    /// [2,4,6(t)] [8,10,12(t)] [14,14.1,16(t)] and an empty one.
    fn sample() -> KeyIndex {
        let mut ki = KeyIndex::default();
        ki.put(r(2, 0));
        ki.put(r(4, 0));
        assert!(ki.tombstone(r(6, 0)));
        ki.put(r(8, 0));
        ki.put(r(10, 0));
        assert!(ki.tombstone(r(12, 0)));
        ki.put(r(14, 0));
        ki.put(r(14, 1));
        assert!(ki.tombstone(r(16, 0)));
        ki
    }

    #[test]
    fn get_follows_generations() {
        let ki = sample();
        let cases = [
            (1, None),
            (2, Some((r(2, 0), r(2, 0), 1))),
            (3, Some((r(2, 0), r(2, 0), 1))),
            (5, Some((r(4, 0), r(2, 0), 2))),
            (6, None),
            (7, None),
            (9, Some((r(8, 0), r(8, 0), 1))),
            (11, Some((r(10, 0), r(8, 0), 2))),
            (12, None),
            (14, Some((r(14, 1), r(14, 0), 2))),
            (15, Some((r(14, 1), r(14, 0), 2))),
            (16, None),
            (100, None),
        ];
        for (at, want) in cases {
            let got = ki.get(at).map(|k| (k.modified, k.created, k.version));
            assert_eq!(got, want, "at {at}");
        }
    }

    #[test]
    fn tombstone_of_dead_key_is_refused() {
        let mut ki = sample();
        assert!(!ki.tombstone(r(20, 0)));
        ki.put(r(21, 0));
        assert!(ki.tombstone(r(22, 0)));
    }

    #[test]
    fn compact_keeps_what_etcd_keeps() {
        // (compact at, revision kept on disk, generations left as (first rev, len))
        type Case = (i64, Option<Revision>, Vec<(Revision, usize)>);
        let cases: [Case; 8] = [
            (
                1,
                None,
                vec![(r(2, 0), 3), (r(8, 0), 3), (r(14, 0), 3), (r(0, 0), 0)],
            ),
            (
                2,
                Some(r(2, 0)),
                vec![(r(2, 0), 3), (r(8, 0), 3), (r(14, 0), 3), (r(0, 0), 0)],
            ),
            (
                5,
                Some(r(4, 0)),
                vec![(r(4, 0), 2), (r(8, 0), 3), (r(14, 0), 3), (r(0, 0), 0)],
            ),
            (6, None, vec![(r(8, 0), 3), (r(14, 0), 3), (r(0, 0), 0)]),
            (7, None, vec![(r(8, 0), 3), (r(14, 0), 3), (r(0, 0), 0)]),
            (
                10,
                Some(r(10, 0)),
                vec![(r(10, 0), 2), (r(14, 0), 3), (r(0, 0), 0)],
            ),
            (14, Some(r(14, 1)), vec![(r(14, 1), 2), (r(0, 0), 0)]),
            (16, None, vec![(r(0, 0), 0)]),
        ];
        for (at, kept, gens) in cases {
            let mut ki = sample();
            let mut available = HashSet::new();
            ki.compact(at, &mut available);
            let want: HashSet<Revision> = kept.into_iter().collect();
            assert_eq!(available, want, "compact at {at}");
            let got: Vec<(Revision, usize)> = ki
                .generations
                .iter()
                .map(|g| (g.revs.first().copied().unwrap_or_default(), g.revs.len()))
                .collect();
            assert_eq!(got, gens, "generations after compact at {at}");
            // keep() on an untouched index names the same revision.
            let mut keep = HashSet::new();
            sample().keep(at, &mut keep);
            assert_eq!(keep, available, "keep at {at}");
        }
    }

    #[test]
    fn compaction_preserves_reads_at_or_after_the_compact_revision() {
        for at in 1..=17 {
            let mut ki = sample();
            ki.compact(at, &mut HashSet::new());
            for read in at..=18 {
                let want = sample().get(read);
                let got = if ki.is_empty() { None } else { ki.get(read) };
                assert_eq!(got, want, "compact {at} read {read}");
            }
        }
    }

    /// True when neither the generations nor their revisions are on the heap.
    fn inline(ki: &KeyIndex) -> bool {
        ki.generations.is_inline() && ki.generations.iter().all(|g| g.revs.is_inline())
    }

    #[test]
    fn compaction_moves_a_lone_generation_and_revision_back_inline() {
        let mut ki = KeyIndex::default();
        ki.put(r(2, 0));
        assert!(inline(&ki), "a key written once allocates nothing");
        ki.put(r(3, 0));
        ki.put(r(4, 0));
        assert!(!inline(&ki));
        let mut available = HashSet::new();
        ki.compact(4, &mut available);
        assert_eq!(available, HashSet::from([r(4, 0)]));
        assert!(inline(&ki), "compacted to its last put");
        let at = |main| ki.get(main).map(|k| (k.modified, k.created, k.version));
        assert_eq!(at(4), Some((r(4, 0), r(2, 0), 3)));

        // Deleted and created again: two generations, on the heap until a
        // compaction at or past the tombstone drops the first.
        assert!(ki.tombstone(r(5, 0)));
        ki.put(r(6, 0));
        assert!(!ki.generations.is_inline());
        let mut available = HashSet::new();
        ki.compact(5, &mut available);
        assert!(available.is_empty());
        assert!(inline(&ki));
        let at = |main| ki.get(main).map(|k| (k.modified, k.created, k.version));
        assert_eq!((at(5), at(6)), (None, Some((r(6, 0), r(6, 0), 1))));

        // A tombstone with nothing after it: compacting past it leaves nothing.
        assert!(ki.tombstone(r(7, 0)));
        ki.compact(7, &mut HashSet::new());
        assert!(ki.is_empty() && inline(&ki));
    }

    #[test]
    fn restored_index_continues_versions() {
        let mut ki = KeyIndex::restored(r(3, 0), r(9, 2), 4);
        ki.put(r(11, 0));
        let k = ki.get(11).unwrap();
        assert_eq!((k.created, k.version), (r(3, 0), 5));
        assert_eq!(ki.get(9).unwrap().version, 4);
        assert_eq!(ki.get(8), None);
    }
}
