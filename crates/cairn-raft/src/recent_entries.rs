//! An in-memory copy of the newest entries of the Raft log, so the reads that
//! follow an append within milliseconds (the leader replicating to followers,
//! every member applying what was committed) clone them instead of reading and
//! decoding them from the log file on a blocking thread.
//!
//! The copy only ever holds entries that are already durable, as they were
//! written at their index; its entries are contiguous, and anything a truncate
//! or purge removes from the file is removed from here first. A read the copy
//! cannot answer whole goes to the file, so a miss costs what every read cost
//! before.

use std::collections::VecDeque;

use crate::types::Entry;

/// What an entry costs in memory beyond its encoded bytes: the entry itself
/// and the allocator's headers of its key and value buffers. Counted so that a
/// flood of tiny entries (a few encoded bytes each) stays within the budget too.
const PER_ENTRY_BYTES: usize = std::mem::size_of::<Entry>() + 64;

/// Entries held with the memory each is counted for (encoded size plus
/// [`PER_ENTRY_BYTES`]).
pub(crate) struct RecentEntries {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
    budget: usize,
}

impl RecentEntries {
    /// An empty copy that keeps at most `budget` bytes of entries, as counted
    /// above (always at least the newest append's last entry).
    pub(crate) fn new(budget: usize) -> RecentEntries {
        RecentEntries {
            entries: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.log_id.index)
    }

    /// Records entries that have just been made durable at the end of the log,
    /// each with its encoded size. Entries that do not follow on from the held
    /// ones (the log was truncated or reset without this copy seeing it) replace
    /// them.
    pub(crate) fn appended(&mut self, appended: impl IntoIterator<Item = (Entry, usize)>) {
        for (entry, encoded) in appended {
            let size = encoded + PER_ENTRY_BYTES;
            let follows = match self.last_index() {
                Some(last) => last.checked_add(1) == Some(entry.log_id.index),
                None => true,
            };
            if !follows {
                self.clear();
            }
            self.bytes += size;
            self.entries.push_back((entry, size));
        }
        while self.bytes > self.budget && self.entries.len() > 1 {
            self.pop_oldest();
        }
    }

    /// Forgets the entries with index `from` and above (a truncate).
    pub(crate) fn forget_from(&mut self, from: u64) {
        while self.last_index().is_some_and(|last| last >= from) {
            self.pop_newest();
        }
    }

    /// Forgets the entries with index `upto` and below (a purge).
    pub(crate) fn forget_upto(&mut self, upto: u64) {
        while self.first_index().is_some_and(|first| first <= upto) {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }

    fn pop_newest(&mut self) {
        if let Some((_, size)) = self.entries.pop_back() {
            self.bytes -= size;
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Copies of the entries with index in `start..=end`, or `None` when this
    /// copy does not hold all of them. An open-ended range (`end` is `None`) is
    /// always left to the file: openraft's replication and apply ask for
    /// bounded ranges, and the file is the one place that knows its end.
    pub(crate) fn get(&self, start: u64, end: Option<u64>) -> Option<Vec<Entry>> {
        let first = self.first_index()?;
        let last = self.last_index()?;
        let end = end?;
        if start < first || end > last {
            return None;
        }
        if start > end {
            return Some(Vec::new());
        }
        // Contiguous: the entry with index i is at position i - first.
        let from = usize::try_from(start - first).ok()?;
        let to = usize::try_from(end - first).ok()?;
        Some(
            self.entries
                .range(from..=to)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use openraft::EntryPayload;

    use super::RecentEntries;
    use crate::types::{Entry, LogId};

    fn blank(index: u64) -> (Entry, usize) {
        let entry = Entry {
            log_id: LogId::new_term_index(1, index),
            payload: EntryPayload::Blank,
        };
        (entry, 100)
    }

    fn indexes(entries: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        entries.map(|v| v.iter().map(|e| e.log_id.index).collect())
    }

    #[test]
    fn keeps_the_newest_entries_within_its_budget() {
        let each = 100 + super::PER_ENTRY_BYTES;
        let mut recent = RecentEntries::new(3 * each + each / 2);
        recent.appended((1..=5).map(blank));
        // 3 entries fit; the oldest were dropped.
        assert_eq!(indexes(recent.get(3, Some(5))), Some(vec![3, 4, 5]));
        assert_eq!(recent.get(2, Some(5)), None);
        assert_eq!(recent.get(4, Some(6)), None);
        assert_eq!(recent.get(4, None), None);
        // One entry larger than the whole budget is still kept.
        recent.appended([(blank(6).0, 10 * each)]);
        assert_eq!(indexes(recent.get(6, Some(6))), Some(vec![6]));
        assert_eq!(recent.get(5, Some(6)), None);
    }

    #[test]
    fn entries_that_do_not_follow_on_replace_the_held_ones() {
        let mut recent = RecentEntries::new(1 << 20);
        recent.appended((1..=5).map(blank));
        recent.appended((9..=10).map(blank));
        assert_eq!(recent.get(5, Some(5)), None);
        assert_eq!(indexes(recent.get(9, Some(10))), Some(vec![9, 10]));
        recent.forget_from(10);
        recent.appended((10..=11).map(blank));
        assert_eq!(indexes(recent.get(9, Some(11))), Some(vec![9, 10, 11]));
        recent.forget_upto(9);
        assert_eq!(recent.get(9, Some(11)), None);
        assert_eq!(indexes(recent.get(10, Some(11))), Some(vec![10, 11]));
    }
}
