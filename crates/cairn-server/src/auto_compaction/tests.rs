//! The flags as etcd 3.5 reads them, and both schedules step by step.

use std::time::{Duration, Instant};

use super::{parse, AutoCompaction, PeriodicSchedule, RevisionSchedule};

#[test]
fn flags_read_as_etcd_reads_them() {
    let h = Duration::from_secs(3600);
    assert_eq!(parse("periodic", "0"), Ok(None));
    assert_eq!(parse("revision", "0"), Ok(None));
    assert_eq!(parse("periodic", "0s"), Ok(None));
    assert_eq!(
        parse("periodic", "1"),
        Ok(Some(AutoCompaction::Periodic(h)))
    );
    assert_eq!(
        parse("periodic", "72"),
        Ok(Some(AutoCompaction::Periodic(72 * h)))
    );
    assert_eq!(
        parse("periodic", "30m"),
        Ok(Some(AutoCompaction::Periodic(Duration::from_secs(1800))))
    );
    assert_eq!(
        parse("periodic", "1h30m"),
        Ok(Some(AutoCompaction::Periodic(Duration::from_secs(5400))))
    );
    assert_eq!(
        parse("revision", "1000"),
        Ok(Some(AutoCompaction::Revision(1000)))
    );
    // etcd reads a duration in revision mode as its count of nanoseconds.
    assert_eq!(
        parse("revision", "1us"),
        Ok(Some(AutoCompaction::Revision(1000)))
    );
    // The mode defaults to periodic when given empty, as when not given.
    assert_eq!(parse("", "2"), Ok(Some(AutoCompaction::Periodic(2 * h))));

    let (flag, reason) = parse("hourly", "1").unwrap_err();
    assert_eq!(flag, "auto-compaction-mode");
    assert_eq!(reason, "unknown auto-compaction-mode \"hourly\"");
    for bad in ["-1", "ten", "5x", "", "-1h"] {
        let (flag, reason) = parse("periodic", bad).unwrap_err();
        assert_eq!(flag, "auto-compaction-retention", "{bad:?}");
        assert!(
            reason.starts_with("error parsing CompactionRetention: time: invalid duration"),
            "{bad:?}: {reason}"
        );
    }
}

#[test]
fn periodic_compacts_the_revision_from_one_retention_ago() {
    let start = Instant::now();
    let period = Duration::from_secs(10);
    let mut s = PeriodicSchedule::new(period, start);
    assert_eq!(s.step, Duration::from_secs(1));
    // One revision noted per step: 100 at the start, then 101, 102, ...
    let mut compacted = Vec::new();
    for (revision, step) in (100..).zip(1..=35u32) {
        s.note(revision);
        let now = start + step * s.step;
        if let Some(r) = s.due(now, true) {
            compacted.push((step, r));
            s.succeeded(now);
        }
    }
    // Not before the whole retention has passed (then the first revision
    // noted); again every 10 s, the oldest of the last 11 noted: the one from
    // a retention and a step before, as etcd's window of retention/step + 1.
    assert_eq!(compacted, vec![(10, 100), (20, 109), (30, 119)]);
}

#[test]
fn periodic_waits_while_not_the_leader_and_retries_a_failure_every_step() {
    let start = Instant::now();
    let mut s = PeriodicSchedule::new(Duration::from_secs(10), start);
    for step in 1..=12u32 {
        s.note(i64::from(step));
        assert_eq!(s.due(start + step * s.step, false), None, "not the leader");
    }
    // Leader from step 13: due at once (it kept noting revisions meanwhile);
    // the compaction fails, so it is due again at the next step.
    s.note(13);
    assert_eq!(s.due(start + 13 * s.step, true), Some(3));
    s.note(14);
    assert_eq!(s.due(start + 14 * s.step, true), Some(4));
    s.succeeded(start + 14 * s.step);
    s.note(15);
    assert_eq!(s.due(start + 15 * s.step, true), None);
}

#[test]
fn periodic_steps_are_capped_at_an_hour_and_never_zero() {
    let now = Instant::now();
    let long = PeriodicSchedule::new(Duration::from_secs(24 * 3600), now);
    assert_eq!(long.step, Duration::from_secs(360));
    assert_eq!(long.compact_every, Duration::from_secs(3600));
    assert_eq!(long.keep, 241);
    let tiny = PeriodicSchedule::new(Duration::from_nanos(5), now);
    assert!(!tiny.step.is_zero());
}

#[test]
fn revision_mode_keeps_the_retention_and_skips_repeats() {
    let mut s = RevisionSchedule {
        retention: 100,
        last: 0,
    };
    assert_eq!(s.due(50, true), None, "nothing to compact yet");
    assert_eq!(s.due(100, true), None);
    assert_eq!(s.due(250, false), None, "only the leader compacts");
    assert_eq!(s.due(250, true), Some(150));
    s.last = 150;
    assert_eq!(s.due(250, true), None, "no new writes since");
    assert_eq!(s.due(251, true), Some(151));
}
