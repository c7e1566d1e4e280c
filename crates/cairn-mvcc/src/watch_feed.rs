//! The store's side of Watch (etcd's watchable store, pull-based): every applied
//! revision's events are kept in a bounded in-memory window and announced on a
//! revision channel; a watcher that falls behind the window reads the history
//! back from the `kv` table. Applying never waits for a watcher: the window
//! drops its oldest revisions when full, and each watcher pulls at its own pace.

use std::collections::VecDeque;
use std::sync::Arc;

use cairn_proto::mvccpb::{event::EventType, Event, KeyValue};
use prost::Message;

use crate::revision::Revision;

/// How many bytes of recent events the window keeps (events of older
/// revisions are read from disk instead). Watchers that keep up read from the
/// window; the window only has to cover how far a slow watcher may lag before
/// it reads the history back from the table, so a few MiB are enough (it was
/// 32 MiB, which was most of a member's RSS growth while loading 100,000 keys).
const WINDOW_BYTES: usize = 4 << 20;
/// How many revisions the window keeps at most.
const WINDOW_REVISIONS: usize = 10_000;

/// The events of one revision (one write transaction), in sub-revision order.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionEvents {
    pub revision: i64,
    pub events: Vec<Event>,
}

impl RevisionEvents {
    /// Roughly what the revision's events take in memory and on the wire.
    pub fn bytes(&self) -> usize {
        self.events.iter().map(|e| e.encoded_len()).sum::<usize>() + 16
    }
}

/// What a watcher gets when it asks for the history from some revision.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// Events of the revisions from the one asked for through `through`
    /// (possibly none), and the store's revision when they were read.
    Events {
        revisions: Vec<Arc<RevisionEvents>>,
        through: i64,
        current: i64,
    },
    /// The requested revision was compacted away: the watcher must be
    /// cancelled with this compact revision (etcd's `ErrCompacted`).
    Compacted(i64),
}

/// The event of one stored change, as etcd's `kvsToEvents` builds it.
pub(crate) fn event(rev: Revision, tombstone: bool, kv: KeyValue) -> Event {
    if tombstone {
        Event {
            r#type: EventType::Delete as i32,
            kv: Some(KeyValue {
                key: kv.key,
                mod_revision: rev.main,
                ..Default::default()
            }),
            prev_kv: None,
        }
    } else {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: None,
        }
    }
}

/// The window of recent revisions' events. Complete for every revision above
/// `floor` up to the store's current revision.
#[derive(Debug)]
pub(crate) struct RecentEvents {
    window: VecDeque<Arc<RevisionEvents>>,
    floor: i64,
    bytes: usize,
}

impl RecentEvents {
    /// An empty window over a store whose current revision is `current`.
    pub(crate) fn new(current: i64) -> Self {
        RecentEvents {
            window: VecDeque::new(),
            floor: current,
            bytes: 0,
        }
    }

    /// Forgets everything (after the state was replaced wholesale).
    pub(crate) fn reset(&mut self, current: i64) {
        *self = RecentEvents::new(current);
    }

    /// Appends one applied revision's events (revisions arrive in order).
    pub(crate) fn push(&mut self, revision: RevisionEvents) {
        let expected = self.window.back().map_or(self.floor, |r| r.revision) + 1;
        if revision.revision != expected {
            // Not contiguous (cannot happen with in-order applies); start over so
            // that readers fall back to the table rather than miss revisions.
            self.reset(revision.revision);
            return;
        }
        self.bytes += revision.bytes();
        self.window.push_back(Arc::new(revision));
        while self.bytes > WINDOW_BYTES || self.window.len() > WINDOW_REVISIONS {
            match self.window.pop_front() {
                Some(old) => {
                    self.bytes -= old.bytes();
                    self.floor = old.revision;
                }
                None => break,
            }
        }
    }

    /// The revisions `from..` (at most `max`, and no more once `max_bytes`
    /// are gathered), if the window holds `from`.
    pub(crate) fn from(
        &self,
        from: i64,
        max: usize,
        max_bytes: usize,
    ) -> Option<Vec<Arc<RevisionEvents>>> {
        if from <= self.floor {
            return None;
        }
        let skip = usize::try_from(from - self.floor - 1).ok()?;
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for r in self.window.iter().skip(skip).take(max) {
            if bytes >= max_bytes {
                break;
            }
            bytes += r.bytes();
            out.push(r.clone());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(r: i64) -> RevisionEvents {
        RevisionEvents {
            revision: r,
            events: vec![event(
                Revision::new(r, 0),
                false,
                KeyValue {
                    key: b"k".to_vec(),
                    mod_revision: r,
                    ..Default::default()
                },
            )],
        }
    }

    #[test]
    fn window_serves_only_what_it_holds() {
        let mut w = RecentEvents::new(5);
        assert_eq!(w.from(6, 10, usize::MAX), Some(vec![]));
        assert_eq!(w.from(5, 10, usize::MAX), None);
        w.push(rev(6));
        w.push(rev(7));
        let got: Vec<i64> = w
            .from(6, 10, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.revision)
            .collect();
        assert_eq!(got, vec![6, 7]);
        let got: Vec<i64> = w
            .from(7, 1, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.revision)
            .collect();
        assert_eq!(got, vec![7]);
        assert_eq!(w.from(8, 10, usize::MAX), Some(vec![]));
    }

    #[test]
    fn byte_budget_ends_an_answer_after_the_revision_crossing_it() {
        let mut w = RecentEvents::new(0);
        for r in 1..=5 {
            w.push(rev(r));
        }
        let one = rev(1).bytes();
        let got: Vec<i64> = w
            .from(1, 10, one + 1)
            .unwrap()
            .iter()
            .map(|r| r.revision)
            .collect();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(w.from(1, 10, 1).unwrap().len(), 1);
    }

    #[test]
    fn gap_resets_the_window() {
        let mut w = RecentEvents::new(5);
        w.push(rev(6));
        w.push(rev(9));
        assert_eq!(w.from(6, 10, usize::MAX), None);
        assert_eq!(w.from(10, 10, usize::MAX), Some(vec![]));
    }

    #[test]
    fn window_is_bounded() {
        let mut w = RecentEvents::new(0);
        for r in 1..=(WINDOW_REVISIONS as i64 + 10) {
            w.push(rev(r));
        }
        assert_eq!(w.window.len(), WINDOW_REVISIONS);
        assert_eq!(w.from(10, 1, usize::MAX), None);
        assert!(w.from(11, 1, usize::MAX).is_some());
    }

    #[test]
    fn delete_event_carries_only_key_and_revision() {
        let e = event(
            Revision::new(9, 1),
            true,
            KeyValue {
                key: b"a".to_vec(),
                value: b"junk".to_vec(),
                ..Default::default()
            },
        );
        assert_eq!(e.r#type, EventType::Delete as i32);
        let kv = e.kv.unwrap();
        assert_eq!((kv.key.as_slice(), kv.mod_revision), (&b"a"[..], 9));
        assert!(kv.value.is_empty());
    }
}
