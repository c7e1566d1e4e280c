//! The segment log against a model (a map of index to bytes): random appends,
//! truncates, purges and reopens, with segments small enough to roll over
//! often; crashes that cut the newest write short at every kind of place; and
//! damage that must be refused rather than cut off.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{SegmentLog, HEADER_BYTES};

fn body(index: u64, generation: u64, len: usize) -> Vec<u8> {
    let mut b = format!("{index}/{generation}/").into_bytes();
    b.resize(len.max(b.len()), b'a' + (index % 26) as u8);
    b
}

/// Entries as the log hands them out: index and body.
type Items = Vec<(u64, Vec<u8>)>;

fn open(dir: &Path) -> (SegmentLog, Items, Option<Vec<u8>>, u64) {
    let mut seen = Vec::new();
    let opened = SegmentLog::open(dir, |i, b| {
        seen.push((i, b.to_vec()));
        Ok(())
    })
    .expect("open");
    (opened.log, seen, opened.hint, opened.torn_bytes)
}

fn read_all(log: &SegmentLog) -> Items {
    let mut out = Vec::new();
    log.read(0, None, |i, b| {
        out.push((i, b.to_vec()));
        Ok(())
    })
    .expect("read");
    out
}

fn model_items(model: &BTreeMap<u64, Vec<u8>>) -> Items {
    model.iter().map(|(i, b)| (*i, b.clone())).collect()
}

#[test]
fn random_operations_and_reopens_match_a_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _, _, _) = open(dir.path());
    log.set_segment_target(2_000);
    let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(7);
    // Openraft's first entry has index 0.
    let mut next = 0u64;
    // Hints written, with the last index of their batch: a truncate removes
    // the ones after its point, a purge may remove ones in deleted segments.
    let mut hints: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut purged: Option<u64> = None;
    let mut max_segments = 0;
    for step in 0..600u64 {
        match rng.gen_range(0..12) {
            0..=1 if !model.is_empty() => {
                let first = *model.keys().next().expect("first");
                let from = rng.gen_range(first..=next);
                log.truncate_from(from).expect("truncate");
                model.retain(|i, _| *i < from);
                hints.retain(|(last, _)| *last < from);
                next = from;
            }
            2 if !model.is_empty() => {
                let first = *model.keys().next().expect("first");
                let upto = rng.gen_range(first..next + 2);
                log.purge_upto(upto).expect("purge");
                model.retain(|i, _| *i > upto);
                purged = purged.max(Some(upto));
                next = next.max(upto + 1);
            }
            3 => {
                drop(log);
                let (reopened, seen, hint, torn) = open(dir.path());
                log = reopened;
                log.set_segment_target(2_000);
                assert_eq!(torn, 0, "step {step}: nothing was torn");
                // Purged entries still in a kept segment are seen at open; the
                // log store purges them again from its recorded point.
                let first = model.keys().next().copied().unwrap_or(next);
                let seen: Vec<_> = seen.into_iter().filter(|(i, _)| *i >= first).collect();
                assert_eq!(seen, model_items(&model), "step {step}: open");
                if first > 0 {
                    log.purge_upto(first - 1).expect("re-purge");
                }
                // The newest hint the file still holds: only hints of purged
                // batches may be newer and gone.
                let newer = match &hint {
                    Some(h) => {
                        let at = hints.iter().position(|(_, x)| x == h);
                        let at = at.unwrap_or_else(|| panic!("step {step}: unknown hint"));
                        &hints[at + 1..]
                    }
                    None => &hints[..],
                };
                assert!(
                    newer
                        .iter()
                        .all(|(last, _)| purged.is_some_and(|p| *last <= p)),
                    "step {step}: hint {hint:?} is not the newest"
                );
            }
            _ => {
                let n = rng.gen_range(1..5);
                let bodies: Vec<Vec<u8>> = (next..next + n)
                    .map(|i| body(i, step, rng.gen_range(1..700)))
                    .collect();
                let hint = rng
                    .gen_bool(0.5)
                    .then(|| format!("hint {step}").into_bytes());
                log.append(next, &bodies, hint.as_deref()).expect("append");
                if let Some(hint) = hint {
                    hints.push((next + n - 1, hint));
                }
                for (k, b) in bodies.into_iter().enumerate() {
                    model.insert(next + k as u64, b);
                }
                next += n;
            }
        }
        max_segments = max_segments.max(log.segment_paths().len());
        assert_eq!(read_all(&log), model_items(&model), "step {step}");
        let bounds = model.keys().next().map(|f| (*f, next - 1));
        assert_eq!(log.bounds(), bounds, "step {step}: bounds");
        // A range in the middle reads the same as the model.
        if let Some((first, last)) = bounds {
            let a = rng.gen_range(first..=last);
            let b = rng.gen_range(a..=last);
            let mut got = Vec::new();
            log.read(a, Some(b), |i, v| {
                got.push((i, v.to_vec()));
                Ok(())
            })
            .expect("read range");
            let want: Vec<_> = model.range(a..=b).map(|(i, v)| (*i, v.clone())).collect();
            assert_eq!(got, want, "step {step}: {a}..={b}");
        }
    }
    assert!(
        max_segments >= 4,
        "segments never rolled over ({max_segments})"
    );
}

#[test]
fn segments_reserve_their_target_size_but_end_at_their_last_record() {
    use std::os::unix::fs::MetadataExt;
    let stat = |p: &Path| std::fs::metadata(p).expect("stat");
    let record = 100 + HEADER_BYTES as u64;
    let target = 1 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _, _, _) = open(dir.path());
    log.set_segment_target(target);
    log.append(1, &[body(1, 0, 100), body(2, 0, 100)], None)
        .expect("append");
    let path = only_segment(dir.path());
    assert_eq!(stat(&path).len(), 2 * record);
    assert!(stat(&path).blocks() * 512 >= target, "not reserved");
    log.truncate_from(2).expect("truncate");
    assert_eq!(stat(&path).len(), record);
    assert!(
        stat(&path).blocks() * 512 >= target,
        "not reserved after a truncate"
    );
    drop(log);
    let (_, seen, _, torn) = open(dir.path());
    assert_eq!(seen, vec![(1, body(1, 0, 100))]);
    assert_eq!(torn, 0);
}

#[test]
fn appends_out_of_order_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _, _, _) = open(dir.path());
    log.append(5, &[body(5, 0, 10)], None).expect("first");
    let err = log.append(7, &[body(7, 0, 10)], None).expect_err("gap");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(read_all(&log), vec![(5, body(5, 0, 10))]);
}

/// Writes batches of three entries, the last with a hint; returns the byte
/// length of the segment after each batch.
fn write_batches(dir: &Path, batches: u64, len: usize) -> Vec<u64> {
    let (mut log, _, _, _) = open(dir);
    let mut ends = Vec::new();
    for b in 0..batches {
        let first = 1 + b * 3;
        let bodies: Vec<_> = (first..first + 3).map(|i| body(i, 0, len)).collect();
        log.append(first, &bodies, Some(format!("h{b}").as_bytes()))
            .expect("append");
        ends.push(log.segments.last().expect("segment").len);
    }
    ends
}

fn only_segment(dir: &Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|f| f.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(segs.len(), 1);
    segs.pop().expect("segment")
}

#[test]
fn a_write_cut_short_anywhere_in_the_last_batch_is_cut_off() {
    let probe = tempfile::tempdir().expect("tempdir");
    let ends = write_batches(probe.path(), 4, 300);
    let (start, end) = (ends[2], ends[3]);
    for cut in start..end {
        let dir = tempfile::tempdir().expect("tempdir");
        write_batches(dir.path(), 4, 300);
        let seg = only_segment(dir.path());
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .and_then(|f| f.set_len(cut))
            .expect("cut");
        let (log, seen, hint, torn) = open(dir.path());
        // Whole records before the cut survive; the hint of batch 2 is the
        // newest whole one unless batch 3's own was written whole.
        let record = (HEADER_BYTES + 300) as u64;
        let whole_entries = ((cut - start) / record).min(3);
        assert_eq!(seen.len() as u64, 9 + whole_entries, "cut at {cut}");
        assert_eq!(torn, cut - start - whole_entries * record, "cut at {cut}");
        assert_eq!(hint.as_deref(), Some(&b"h2"[..]), "cut at {cut}");
        assert_eq!(std::fs::metadata(&seg).expect("meta").len(), cut - torn);
        // The log goes on after the cut.
        let mut log = log;
        let next = 10 + whole_entries;
        log.append(next, &[body(next, 1, 50)], None)
            .expect("append after repair");
        drop(log);
        let (_, seen, _, torn) = open(dir.path());
        assert_eq!(torn, 0);
        assert_eq!(seen.last(), Some(&(next, body(next, 1, 50))));
    }
}

#[test]
fn zeros_a_crash_left_at_the_end_are_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ends = write_batches(dir.path(), 3, 1500);
    let seg = only_segment(dir.path());
    // The size grew but the pages of the last batch were never written.
    let file = OpenOptions::new().write(true).open(&seg).expect("open");
    let last_start = ends[1];
    let zeros = vec![0u8; (ends[2] - last_start) as usize];
    file.write_all_at(&zeros[..], last_start).expect("zero");
    drop(file);
    let (_, seen, _, torn) = open(dir.path());
    assert_eq!(seen.len(), 6);
    assert_eq!(torn, ends[2] - last_start);

    // A record whose header made it but a sector of its body did not.
    let dir = tempfile::tempdir().expect("tempdir");
    let ends = write_batches(dir.path(), 3, 1500);
    let seg = only_segment(dir.path());
    let file = OpenOptions::new().write(true).open(&seg).expect("open");
    let sector = ends[1].div_ceil(512) * 512 + 512;
    file.write_all_at(&[0u8; 512], sector)
        .expect("zero a sector");
    // Everything after the record holding that sector is zeros as well.
    let record = (HEADER_BYTES + 1500) as u64;
    let holder = ends[1] + (sector - ends[1]) / record * record;
    let after = holder + record;
    file.write_all_at(&vec![0u8; (ends[2] - after) as usize], after)
        .expect("zero the rest");
    drop(file);
    let (_, seen, _, torn) = open(dir.path());
    assert_eq!(seen.len() as u64, 6 + (holder - ends[1]) / record);
    assert_eq!(torn, ends[2] - holder);
}

fn assert_open_fails(dir: &Path, what: &str) {
    let err = match SegmentLog::open(dir, |_, _| Ok(())) {
        Ok(_) => panic!("{what}: a damaged log opened"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{what}: {err}");
    assert!(err.to_string().contains(".seg"), "{what}: {err}");
}

#[test]
fn damage_that_is_not_a_torn_write_is_refused() {
    // A flipped byte in an entry before the last one.
    let dir = tempfile::tempdir().expect("tempdir");
    let ends = write_batches(dir.path(), 3, 300);
    let seg = only_segment(dir.path());
    let file = OpenOptions::new().write(true).open(&seg).expect("open");
    file.write_all_at(b"X", ends[0] + 20).expect("flip");
    drop(file);
    assert_open_fails(dir.path(), "flipped byte");

    // A flipped byte in the very last record (no zeroed sector in it).
    let dir = tempfile::tempdir().expect("tempdir");
    let ends = write_batches(dir.path(), 3, 300);
    let seg = only_segment(dir.path());
    let file = OpenOptions::new().write(true).open(&seg).expect("open");
    file.write_all_at(b"X", ends[2] - 2).expect("flip");
    drop(file);
    assert_open_fails(dir.path(), "flipped byte in the last record");

    // Garbage appended after the last record.
    let dir = tempfile::tempdir().expect("tempdir");
    write_batches(dir.path(), 3, 300);
    let seg = only_segment(dir.path());
    let mut file = OpenOptions::new().append(true).open(&seg).expect("open");
    file.write_all(&[0x5a; 4096]).expect("garbage");
    drop(file);
    assert_open_fails(dir.path(), "garbage after the end");

    // An older segment cut short.
    let dir = tempfile::tempdir().expect("tempdir");
    let segments = one_entry_segments(dir.path(), 3);
    cut(&segments[0], 50);
    assert_open_fails(dir.path(), "older segment cut short");

    // A segment missing from the middle.
    let dir = tempfile::tempdir().expect("tempdir");
    let segments = one_entry_segments(dir.path(), 3);
    std::fs::remove_file(&segments[1]).expect("remove");
    assert_open_fails(dir.path(), "missing segment");

    // A name whose indices would run past u64::MAX.
    let dir = tempfile::tempdir().expect("tempdir");
    super::write_migrated_segment(dir.path(), u64::MAX, &[body(1, 0, 10)]).expect("segment");
    assert_open_fails(dir.path(), "index beyond u64");
}

/// Entries `1..=n` of 100 bytes, each in a segment of its own; returns the
/// segment files, oldest first.
fn one_entry_segments(dir: &Path, n: u64) -> Vec<std::path::PathBuf> {
    let (mut log, _, _, _) = open(dir);
    log.set_segment_target(1);
    for i in 1..=n {
        log.append(i, &[body(i, 0, 100)], None).expect("append");
    }
    log.segment_paths()
}

fn cut(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .expect("cut");
}

#[test]
fn a_new_segment_whose_first_write_never_finished_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let second = one_entry_segments(dir.path(), 2)[1].clone();
    cut(&second, 5);
    let (mut log, seen, _, _) = open(dir.path());
    assert_eq!(seen, vec![(1, body(1, 0, 100))]);
    assert!(!second.exists());
    log.append(2, &[body(2, 1, 10)], None)
        .expect("append again");
    assert_eq!(read_all(&log).len(), 2);
}
