//! The watch feed: history from memory and from the table agree, byte
//! budgets end answers between revisions, compaction cancels old starts, and
//! the revision channel announces applies.

use cairn_proto::mvccpb::event::EventType;

use super::*;
use crate::History;

/// (revision, type, key, value) of every event from `from` on, in as many
/// reads as needed.
fn all_events(store: &Store, from: i64, max_bytes: usize) -> Vec<(i64, i32, String, String)> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        match store.history(next, 1000, max_bytes).expect("history") {
            History::Events {
                revisions,
                through,
                current,
            } => {
                for r in &revisions {
                    for e in &r.events {
                        let kv = e.kv.clone().unwrap_or_default();
                        assert_eq!(kv.mod_revision, r.revision);
                        out.push((r.revision, e.r#type, text(&kv.key), text(&kv.value)));
                    }
                }
                next = through + 1;
                if next > current {
                    return out;
                }
            }
            History::Compacted(c) => panic!("compacted at {c}"),
        }
    }
}

fn write_history(s: &TestStore) {
    s.put("a", "1"); // 2
    s.put("b", "2"); // 3
    s.del("a", ""); // 4
    s.del("zz", ""); // no revision
    s.put("a", "3"); // 5
    s.del("a", "c"); // 6: a and b
}

#[test]
fn memory_and_table_give_the_same_history() {
    let s = TestStore::new();
    write_history(&s);
    let from_memory = all_events(&s, 1, usize::MAX);
    let put = EventType::Put as i32;
    let del = EventType::Delete as i32;
    assert_eq!(
        from_memory,
        vec![
            (2, put, "a".into(), "1".into()),
            (3, put, "b".into(), "2".into()),
            (4, del, "a".into(), "".into()),
            (5, put, "a".into(), "3".into()),
            (6, del, "a".into(), "".into()),
            (6, del, "b".into(), "".into()),
        ]
    );
    // A reopened store has an empty window: everything comes from the table.
    let path = s.path();
    let TestStore { dir, store } = s;
    drop(store);
    let reopened = Store::open(&path).expect("reopen");
    assert_eq!(all_events(&reopened, 1, usize::MAX), from_memory);
    // With a tiny byte budget every answer holds one revision, none is lost.
    assert_eq!(all_events(&reopened, 1, 1), from_memory);
    drop(dir);
}

#[test]
fn tiny_budget_from_memory_still_sees_everything() {
    let s = TestStore::new();
    write_history(&s);
    assert_eq!(all_events(&s, 3, 1), all_events(&s, 3, usize::MAX));
    assert_eq!(all_events(&s, 3, usize::MAX).len(), 5);
}

#[test]
fn compaction_cancels_older_starts_and_hides_removed_events() {
    let s = TestStore::new();
    write_history(&s);
    s.compact(4).expect("compact");
    assert_eq!(s.history(3, 1000, usize::MAX), Ok(History::Compacted(4)));
    // At the compaction point only what survived it is seen: the deletion at
    // 4 is gone, later events remain.
    let events = all_events(&s, 4, usize::MAX);
    assert_eq!(events.first().map(|e| e.0), Some(5));
    // A start beyond the current revision waits (nothing yet).
    match s.history(100, 1000, usize::MAX).expect("history") {
        History::Events { revisions, .. } => assert!(revisions.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn applies_are_announced() {
    let s = TestStore::new();
    let mut rx = s.subscribe();
    assert_eq!(*rx.borrow_and_update(), 1);
    s.put("k", "v");
    assert!(rx.has_changed().expect("sender alive"));
    assert_eq!(*rx.borrow_and_update(), 2);
}

#[test]
fn value_at_gives_the_previous_value() {
    let s = TestStore::new();
    s.put("k", "one");
    s.put("k", "two");
    assert_eq!(
        s.value_at(b"k", 2).map(|kv| kv.value),
        Some(b"one".to_vec())
    );
    assert_eq!(s.value_at(b"k", 1), None);
    assert_eq!(s.value_at(b"k", 0), None);
}
