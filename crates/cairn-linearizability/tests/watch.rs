//! The watch-stream checker on hand-made streams: one correct stream and one
//! per kind of anomaly.

use cairn_linearizability::{check_watch, check_watch_complete, Event, EventKind, WatchAnomaly};

fn put(key: &str, value: &str) -> Event {
    Event {
        kind: EventKind::Put,
        key: key.into(),
        value: value.into(),
    }
}

fn delete(key: &str) -> Event {
    Event {
        kind: EventKind::Delete,
        key: key.into(),
        value: String::new(),
    }
}

/// Revision 4 is a transaction with two events.
fn committed() -> Vec<(i64, Event)> {
    vec![
        (2, put("a", "1")),
        (3, put("b", "1")),
        (4, put("a", "2")),
        (4, delete("b")),
        (5, put("c", "1")),
        (6, put("a", "3")),
    ]
}

fn from(revision: i64) -> Vec<(i64, Event)> {
    committed()
        .into_iter()
        .filter(|(r, _)| *r >= revision)
        .collect()
}

#[test]
fn exact_stream_is_ok() {
    assert_eq!(check_watch(&committed(), &from(3), 3), Ok(()));
    assert_eq!(check_watch_complete(&committed(), &from(3), 3), Ok(()));
    assert_eq!(check_watch(&committed(), &from(1), 1), Ok(()));
}

#[test]
fn stream_that_stopped_early_is_ok_unless_completeness_is_required() {
    let observed = &from(3)[..3];
    assert_eq!(check_watch(&committed(), observed, 3), Ok(()));
    assert_eq!(
        check_watch_complete(&committed(), observed, 3),
        Err(WatchAnomaly::Truncated { next_revision: 5 })
    );
}

#[test]
fn gap_is_reported() {
    let mut observed = from(2);
    observed.remove(1); // revision 3
    assert_eq!(
        check_watch(&committed(), &observed, 2),
        Err(WatchAnomaly::Gap {
            position: 1,
            missing: 3
        })
    );
    // Losing one event of a multi-event revision is a gap too.
    let mut observed = from(2);
    observed.remove(2); // first event of revision 4
    assert_eq!(
        check_watch(&committed(), &observed, 2),
        Err(WatchAnomaly::Gap {
            position: 2,
            missing: 4
        })
    );
}

#[test]
fn duplicate_is_reported() {
    let mut observed = from(2);
    observed.insert(3, observed[2].clone());
    assert_eq!(
        check_watch(&committed(), &observed, 2),
        Err(WatchAnomaly::Duplicate {
            position: 3,
            revision: 4,
            event: put("a", "2")
        })
    );
}

#[test]
fn out_of_order_is_reported() {
    let mut observed = from(2);
    observed.swap(1, 4); // revisions 2, 5, 4, 4, 3, 6
    assert_eq!(
        check_watch(&committed(), &observed, 2),
        Err(WatchAnomaly::OutOfOrder {
            position: 1,
            revision: 3,
            after: 5
        })
    );
    // Events of one revision swapped.
    let mut observed = from(2);
    observed.swap(2, 3);
    assert_eq!(
        check_watch(&committed(), &observed, 2),
        Err(WatchAnomaly::OutOfOrder {
            position: 2,
            revision: 4,
            after: 4
        })
    );
}

#[test]
fn mismatch_is_reported() {
    let mut observed = from(2);
    observed[4] = (5, put("c", "wrong"));
    assert_eq!(
        check_watch(&committed(), &observed, 2),
        Err(WatchAnomaly::Mismatch {
            position: 4,
            revision: 5,
            expected: Some((5, put("c", "1"))),
            got: put("c", "wrong"),
        })
    );
    // An event past the end of the committed history.
    let mut observed = from(2);
    observed.push((7, put("z", "1")));
    assert!(matches!(
        check_watch(&committed(), &observed, 2),
        Err(WatchAnomaly::Mismatch {
            position: 6,
            expected: None,
            ..
        })
    ));
}

#[test]
fn event_before_start_revision_is_reported() {
    let observed = from(2);
    assert_eq!(
        check_watch(&committed(), &observed, 3),
        Err(WatchAnomaly::BeforeStart {
            position: 0,
            revision: 2,
            from_revision: 3
        })
    );
}

#[test]
fn anomalies_display_readably() {
    let anomaly: WatchAnomaly<Event> = WatchAnomaly::Gap {
        position: 1,
        missing: 3,
    };
    assert_eq!(
        anomaly.to_string(),
        "committed event at revision 3 was skipped (event 1 is a later one)"
    );
}
