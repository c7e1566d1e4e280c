//! The watch-stream checker: compares the events one watcher received with
//! the history the cluster committed, and names the first anomaly (gap,
//! duplicate, reordering, wrong contents).
//!
//! Revisions are etcd's: one revision may hold several events (a transaction
//! touching several keys), in a fixed order. The committed history must be
//! restricted by the caller to what the watch covers (its key or range) and be
//! in revision order; it may extend past what the watcher saw.

use std::fmt::Debug;

/// A key-space change as a watcher sees it; a convenient event type for
/// [`check_watch`], which accepts any comparable type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    pub kind: EventKind,
    pub key: String,
    /// The new value for a put; empty for a delete.
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Put,
    Delete,
}

/// The first problem found in an observed watch stream. `position` is the
/// index in the observed stream where it shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchAnomaly<E: Debug> {
    #[error("event {position} has revision {revision}, before the watch's start revision {from_revision}")]
    BeforeStart {
        position: usize,
        revision: i64,
        from_revision: i64,
    },
    #[error("committed event at revision {missing} was skipped (event {position} is a later one)")]
    Gap { position: usize, missing: i64 },
    #[error("event {position} at revision {revision} was already delivered: {event:?}")]
    Duplicate {
        position: usize,
        revision: i64,
        event: E,
    },
    #[error("event at revision {revision} was delivered after one at revision {after}, at event {position}")]
    OutOfOrder {
        position: usize,
        revision: i64,
        after: i64,
    },
    #[error("event {position} at revision {revision} is {got:?}, expected {expected:?}")]
    Mismatch {
        position: usize,
        revision: i64,
        /// The committed event due at this point, with its revision; `None`
        /// if the committed history has nothing more.
        expected: Option<(i64, E)>,
        got: E,
    },
    #[error("the stream stopped before the committed event at revision {next_revision}")]
    Truncated { next_revision: i64 },
}

/// Checks that `observed` is exactly the start of the committed history from
/// `from_revision` on: in revision order, with no gaps, no duplicates and
/// equal events. The stream may stop early (a cancelled watch); use
/// [`check_watch_complete`] to require every committed event.
///
/// # Panics
///
/// If `committed` is not in revision order (a bug in the caller).
pub fn check_watch<E: PartialEq + Clone + Debug>(
    committed: &[(i64, E)],
    observed: &[(i64, E)],
    from_revision: i64,
) -> Result<(), WatchAnomaly<E>> {
    matched_prefix(committed, observed, from_revision).map(|_| ())
}

/// Like [`check_watch`], and also requires the stream to have delivered every
/// committed event from `from_revision` on.
pub fn check_watch_complete<E: PartialEq + Clone + Debug>(
    committed: &[(i64, E)],
    observed: &[(i64, E)],
    from_revision: i64,
) -> Result<(), WatchAnomaly<E>> {
    let expected = expected_from(committed, from_revision);
    let matched = matched_prefix(committed, observed, from_revision)?;
    match expected.get(matched) {
        Some((next_revision, _)) => Err(WatchAnomaly::Truncated {
            next_revision: *next_revision,
        }),
        None => Ok(()),
    }
}

fn expected_from<E>(committed: &[(i64, E)], from_revision: i64) -> &[(i64, E)] {
    assert!(
        committed.windows(2).all(|w| w[0].0 <= w[1].0),
        "committed history is not in revision order"
    );
    let start = committed.partition_point(|(rev, _)| *rev < from_revision);
    &committed[start..]
}

/// Returns how many expected events `observed` delivered, or the first anomaly.
fn matched_prefix<E: PartialEq + Clone + Debug>(
    committed: &[(i64, E)],
    observed: &[(i64, E)],
    from_revision: i64,
) -> Result<usize, WatchAnomaly<E>> {
    let expected = expected_from(committed, from_revision);
    let mut next = 0;
    for (position, (revision, event)) in observed.iter().enumerate() {
        let revision = *revision;
        if revision < from_revision {
            return Err(WatchAnomaly::BeforeStart {
                position,
                revision,
                from_revision,
            });
        }
        if contains(&expected[..next], revision, event) {
            return Err(WatchAnomaly::Duplicate {
                position,
                revision,
                event: event.clone(),
            });
        }
        let Some((due_revision, due_event)) = expected.get(next) else {
            return Err(WatchAnomaly::Mismatch {
                position,
                revision,
                expected: None,
                got: event.clone(),
            });
        };
        if revision == *due_revision && event == due_event {
            next += 1;
            continue;
        }
        if contains(&expected[next + 1..], revision, event) {
            // A later committed event arrived before the due one: the due one
            // is either delivered later (reordering) or never (gap).
            let late = observed[position + 1..]
                .iter()
                .any(|(r, e)| r == due_revision && e == due_event);
            return Err(if late {
                WatchAnomaly::OutOfOrder {
                    position,
                    revision: *due_revision,
                    after: revision,
                }
            } else {
                WatchAnomaly::Gap {
                    position,
                    missing: *due_revision,
                }
            });
        }
        return Err(WatchAnomaly::Mismatch {
            position,
            revision,
            expected: Some((*due_revision, due_event.clone())),
            got: event.clone(),
        });
    }
    Ok(next)
}

/// Whether `events` (in revision order) holds `event` at `revision`.
fn contains<E: PartialEq>(events: &[(i64, E)], revision: i64, event: &E) -> bool {
    let start = events.partition_point(|(r, _)| *r < revision);
    events[start..]
        .iter()
        .take_while(|(r, _)| *r == revision)
        .any(|(_, e)| e == event)
}
