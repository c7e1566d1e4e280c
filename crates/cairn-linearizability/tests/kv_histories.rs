//! Hand-written KV histories with a known answer: linearizable ones must pass,
//! non-linearizable ones must be reported with a sensible prefix, and an
//! exhausted budget must never pass.

use std::time::Duration;

use cairn_linearizability::{check, KvInput, KvModel, KvOutput, Operation, Verdict, PENDING};

type Op = Operation<KvInput, KvOutput>;

const BUDGET: Duration = Duration::from_secs(10);

fn op(client: u64, input: KvInput, call: u64, output: KvOutput, ret: u64) -> Op {
    Operation {
        client,
        input,
        call,
        output,
        ret,
    }
}
fn get(key: &str) -> KvInput {
    KvInput::Get { key: key.into() }
}
fn put(key: &str, value: &str) -> KvInput {
    KvInput::Put {
        key: key.into(),
        value: value.into(),
    }
}
fn cas(key: &str, expect: Option<&str>, new: &str) -> KvInput {
    KvInput::Cas {
        key: key.into(),
        expect_value: expect.map(Into::into),
        new_value: new.into(),
    }
}
fn del(key: &str) -> KvInput {
    KvInput::Delete { key: key.into() }
}
fn saw(v: Option<&str>) -> KvOutput {
    KvOutput::Get(v.map(Into::into))
}

fn verdict(history: &[Op]) -> Verdict {
    check(&KvModel, history, BUDGET)
}

fn assert_illegal(history: &[Op]) -> Vec<usize> {
    match verdict(history) {
        Verdict::Illegal { longest_prefix, .. } => longest_prefix,
        other => panic!("expected Illegal, got {other:?}"),
    }
}

#[test]
fn empty_history_is_ok() {
    assert_eq!(verdict(&[]), Verdict::Ok);
}

#[test]
fn sequential_history_is_ok() {
    let h = [
        op(0, get("k"), 0, saw(None), 1),
        op(0, put("k", "a"), 2, KvOutput::Put, 3),
        op(1, get("k"), 4, saw(Some("a")), 5),
        op(1, cas("k", Some("a"), "b"), 6, KvOutput::Cas(true), 7),
        op(0, cas("k", Some("a"), "c"), 8, KvOutput::Cas(false), 9),
        op(0, del("k"), 10, KvOutput::Delete(1), 11),
        op(1, del("k"), 12, KvOutput::Delete(0), 13),
        op(1, cas("k", None, "d"), 14, KvOutput::Cas(true), 15),
        op(0, get("k"), 16, saw(Some("d")), 17),
    ];
    assert_eq!(verdict(&h), Verdict::Ok);
}

#[test]
fn read_overlapping_a_write_may_see_either_value() {
    for seen in [None, Some("a")] {
        let h = [
            op(0, put("k", "a"), 0, KvOutput::Put, 10),
            op(1, get("k"), 5, saw(seen), 15),
        ];
        assert_eq!(verdict(&h), Verdict::Ok, "get saw {seen:?}");
    }
}

#[test]
fn concurrent_reads_may_disagree_only_consistently() {
    // Two reads overlapping a write: one sees the new value, a later one
    // (still overlapping the write) sees the old... only if it started first.
    let ok = [
        op(0, put("k", "a"), 0, KvOutput::Put, 100),
        op(1, get("k"), 10, saw(None), 20),
        op(2, get("k"), 30, saw(Some("a")), 40),
    ];
    assert_eq!(verdict(&ok), Verdict::Ok);
    // New value seen, then (strictly later) the old one: a read going back in time.
    let back_in_time = [
        op(0, put("k", "a"), 0, KvOutput::Put, 100),
        op(1, get("k"), 10, saw(Some("a")), 20),
        op(2, get("k"), 30, saw(None), 40),
    ];
    let prefix = assert_illegal(&back_in_time);
    // The put and the first read can be linearized; the second read cannot.
    assert!(!prefix.contains(&2), "prefix {prefix:?}");
}

#[test]
fn cas_race_with_one_winner_is_ok() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(1, cas("k", Some("a"), "b"), 2, KvOutput::Cas(true), 10),
        op(2, cas("k", Some("a"), "c"), 3, KvOutput::Cas(false), 9),
        op(3, get("k"), 11, saw(Some("b")), 12),
    ];
    assert_eq!(verdict(&h), Verdict::Ok);
}

#[test]
fn two_cas_winning_from_the_same_value_is_illegal() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(1, cas("k", Some("a"), "b"), 2, KvOutput::Cas(true), 10),
        op(2, cas("k", Some("a"), "c"), 3, KvOutput::Cas(true), 9),
    ];
    let prefix = assert_illegal(&h);
    // The put and exactly one of the two CASes form the longest prefix.
    assert_eq!(prefix.len(), 2, "prefix {prefix:?}");
    assert_eq!(prefix[0], 0);
}

#[test]
fn stale_read_after_completed_write_is_illegal() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(0, put("k", "b"), 2, KvOutput::Put, 3),
        op(1, get("k"), 4, saw(Some("a")), 5),
    ];
    assert_eq!(assert_illegal(&h), vec![0, 1]);
}

#[test]
fn read_of_a_value_never_written_is_illegal() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 10),
        op(1, get("k"), 5, saw(Some("zzz")), 6),
    ];
    let prefix = assert_illegal(&h);
    assert!(!prefix.contains(&1), "prefix {prefix:?}");
}

#[test]
fn failed_operations_have_no_effect() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(0, put("k", "b"), 2, KvOutput::Failed, 3),
        op(1, get("k"), 4, saw(Some("a")), 5),
    ];
    assert_eq!(verdict(&h), Verdict::Ok);
    // ...and a failed write that a later read sees is a violation.
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(0, put("k", "b"), 2, KvOutput::Failed, 3),
        op(1, get("k"), 4, saw(Some("b")), 5),
    ];
    assert_illegal(&h);
}

#[test]
fn unknown_outcome_write_that_was_applied_is_ok() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(1, put("k", "b"), 2, KvOutput::Unknown, PENDING),
        op(2, get("k"), 10, saw(Some("b")), 11),
        op(2, get("k"), 12, saw(Some("b")), 13),
    ];
    assert_eq!(verdict(&h), Verdict::Ok);
}

#[test]
fn unknown_outcome_write_that_was_not_applied_is_ok() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(1, put("k", "b"), 2, KvOutput::Unknown, PENDING),
        op(1, cas("k", Some("a"), "c"), 3, KvOutput::Unknown, PENDING),
        op(2, get("k"), 10, saw(Some("a")), 11),
        op(2, get("k"), 12, saw(Some("a")), 13),
    ];
    assert_eq!(verdict(&h), Verdict::Ok);
}

#[test]
fn unknown_outcome_write_cannot_take_effect_before_its_call() {
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(2, get("k"), 2, saw(Some("b")), 3),
        op(1, put("k", "b"), 4, KvOutput::Unknown, PENDING),
    ];
    assert_illegal(&h);
}

#[test]
fn unknown_outcome_write_cannot_flicker() {
    // Once a read saw it, a later read cannot see the old value again.
    let h = [
        op(0, put("k", "a"), 0, KvOutput::Put, 1),
        op(1, put("k", "b"), 2, KvOutput::Unknown, PENDING),
        op(2, get("k"), 10, saw(Some("b")), 11),
        op(2, get("k"), 12, saw(Some("a")), 13),
    ];
    assert_illegal(&h);
}

#[test]
fn violation_on_one_key_is_found_among_many() {
    let mut h = Vec::new();
    for k in 0..200u64 {
        let key = format!("key{k:03}");
        let t = k * 10;
        h.push(op(k, put(&key, "a"), t, KvOutput::Put, t + 5));
        h.push(op(k + 1000, put(&key, "b"), t + 1, KvOutput::Put, t + 6));
        h.push(op(k + 2000, get(&key), t + 7, saw(Some("b")), t + 8));
    }
    assert_eq!(verdict(&h), Verdict::Ok);
    // On key137 (whose two puts overlap, so either order is fine), the read
    // now returns a value nobody wrote.
    let bad = 137 * 3 + 2;
    h[bad].output = saw(Some("zzz"));
    match verdict(&h) {
        Verdict::Illegal {
            partition,
            longest_prefix,
        } => {
            assert_eq!(KvModel.partition_keys(&h)[partition], "key137");
            assert!(longest_prefix.iter().all(|&i| h[i].input.key() == "key137"));
            assert!(!longest_prefix.contains(&bad));
        }
        other => panic!("expected Illegal, got {other:?}"),
    }
}

/// Many overlapping writes of distinct values followed by a read of a value
/// nobody wrote: the search must try every subset of the writes before it can
/// conclude, which is far beyond a tiny budget.
fn pathological(writes: u64) -> Vec<Op> {
    let mut h: Vec<Op> = (0..writes)
        .map(|i| op(i, put("k", &format!("v{i}")), i, KvOutput::Put, 1_000 + i))
        .collect();
    h.push(op(writes, get("k"), 2_000, saw(Some("never")), 2_001));
    h
}

#[test]
fn exhausted_budget_is_unknown_not_ok() {
    let h = pathological(40);
    assert_eq!(
        check(&KvModel, &h, Duration::from_millis(20)),
        Verdict::Unknown
    );
    assert_eq!(check(&KvModel, &h, Duration::ZERO), Verdict::Unknown);
}

#[test]
#[should_panic(expected = "returns")]
fn return_before_call_is_rejected() {
    let h = [op(0, put("k", "a"), 10, KvOutput::Put, 5)];
    let _ = verdict(&h);
}
