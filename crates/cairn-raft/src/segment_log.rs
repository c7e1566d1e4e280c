//! The Raft log's entries as append-only segment files (`member/wal/<first
//! index in hex>.seg`). A batch of entries is one `pwrite` at the end of the
//! newest segment and one `fdatasync`: no B-tree pages to copy and write per
//! commit. Entries are opaque bytes here; `log_store` encodes and checks them.
//!
//! A record is `[body length u32][crc32c u32][kind u8][body]`, little-endian;
//! the checksum covers the length, the kind and the body. Kinds are an entry
//! (the next index after the one before it; a segment's first entry has the
//! index in its name) or a hint (bytes the caller wants back at open; the log
//! store keeps the committed log id there).
//!
//! Invariants, kept across crashes by the order of file operations:
//! - segments are contiguous and each holds at least one entry;
//! - `truncate_from` deletes later segments, newest first, before shortening
//!   one, so a crash leaves a prefix of the old log;
//! - `purge_upto` deletes whole segments, oldest first, after the caller has
//!   durably recorded the purge point, so a crash leaves a suffix;
//! - at open, only the newest segment may end in a torn write (a record cut
//!   short, or one that fails its checksum while holding a zeroed sector,
//!   followed by nothing but zeros); it is cut off. Anything else that does not
//!   read back is an error naming the file: nothing is repaired silently.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::metrics;

const SEGMENT_SUFFIX: &str = ".seg";
const TEMP_SUFFIX: &str = ".seg.tmp";
const HEADER_BYTES: usize = 9;
/// A new segment is started once the newest one holds this much.
const SEGMENT_TARGET_BYTES: u64 = 64 << 20;
/// No record body is larger (a corrupt length must not make open allocate it).
const MAX_BODY_BYTES: u32 = 512 << 20;
/// The unit a torn write leaves zeroed.
const SECTOR_BYTES: u64 = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Entry = 1,
    Hint = 2,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Entry),
            2 => Some(Kind::Hint),
            _ => None,
        }
    }
}

/// The checksum of a record: length, kind and body.
fn record_crc(len: u32, kind: u8, body: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &[kind]);
    crc32c::crc32c_append(crc, body)
}

fn push_record(buf: &mut Vec<u8>, kind: Kind, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_BODY_BYTES)
        .ok_or_else(|| io::Error::other(format!("log record of {} bytes", body.len())))?;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&record_crc(len, kind as u8, body).to_le_bytes());
    buf.push(kind as u8);
    buf.extend_from_slice(body);
    Ok(())
}

/// One segment file and where its entries start.
struct Segment {
    first_index: u64,
    path: PathBuf,
    file: File,
    /// Byte offset of each entry's record: entry `first_index + i` at `offsets[i]`.
    offsets: Vec<u32>,
    /// Bytes of whole records; the next record goes here.
    len: u64,
}

impl Segment {
    fn last_index(&self) -> u64 {
        self.first_index + self.offsets.len() as u64 - 1
    }

    fn err(&self, e: impl std::fmt::Display) -> io::Error {
        corrupt(&self.path, e)
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn segment_name(first_index: u64) -> String {
    format!("{first_index:016x}{SEGMENT_SUFFIX}")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(dir, e))
}

/// Reserves disk blocks for the rest of a segment's target size without
/// changing the file's length (`FALLOC_FL_KEEP_SIZE`), as etcd preallocates
/// its WAL files. Appends then write into blocks the file system already
/// allocated, and their `fdatasync` has no block allocation to commit: on
/// this project's test machine (ext4) a 2 KiB append with `fdatasync` took
/// 0.6–1.05 ms into a growing file and 0.15–0.2 ms into a reserved one. The
/// file's length still ends at its last record, so opening it is unchanged.
/// A file system that cannot reserve only makes appends slower, so a failure
/// is logged, not returned.
fn reserve_blocks(file: &File, path: &Path, len: u64, target: u64) {
    if len >= target {
        return;
    }
    if let Err(e) = keep_size_fallocate(file, target) {
        tracing::warn!(
            "could not reserve disk space for log segment {}: {e}; appends to it will be slower",
            path.display()
        );
    }
}

#[cfg(target_os = "linux")]
fn keep_size_fallocate(file: &File, bytes: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(bytes).map_err(io::Error::other)?;
    // SAFETY: fallocate gets a descriptor that `file` keeps open for the
    // call, and integers; it touches no memory of this process.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn keep_size_fallocate(_file: &File, _bytes: u64) -> io::Result<()> {
    Ok(())
}

/// What `open` found besides the entries.
pub(crate) struct Opened {
    pub log: SegmentLog,
    /// The body of the newest hint record.
    pub hint: Option<Vec<u8>>,
    /// Bytes cut off the newest segment as a torn write, if any.
    pub torn_bytes: u64,
}

/// The entries of the log, in segment files of one directory.
pub(crate) struct SegmentLog {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// Entries below this were purged; a segment may still hold some of them.
    first_live: u64,
    /// A new segment is started once the newest one holds this much.
    segment_target: u64,
    /// Why a change to the files failed, if one did.
    failed: Option<String>,
}

impl SegmentLog {
    /// Opens every segment in `dir`, checking every record. `visit` sees each
    /// entry's index and body in order (the caller decodes and checks them).
    pub fn open(
        dir: &Path,
        mut visit: impl FnMut(u64, &[u8]) -> io::Result<()>,
    ) -> io::Result<Opened> {
        let mut firsts = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|e| with_path(dir, e))? {
            let item = item.map_err(|e| with_path(dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(TEMP_SUFFIX) {
                // A segment a migration did not finish; the old log still has it.
                let path = item.path();
                std::fs::remove_file(&path).map_err(|e| with_path(&path, e))?;
            } else if let Some(hex) = name.strip_suffix(SEGMENT_SUFFIX) {
                let first = u64::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 16)
                    .ok_or_else(|| corrupt(&item.path(), "not a log segment name"))?;
                firsts.push(first);
            }
        }
        firsts.sort_unstable();
        let mut log = SegmentLog {
            dir: dir.to_path_buf(),
            segments: Vec::with_capacity(firsts.len()),
            first_live: 0,
            segment_target: SEGMENT_TARGET_BYTES,
            failed: None,
        };
        let mut hint = None;
        let mut torn_bytes = 0;
        let count = firsts.len();
        for (n, first) in firsts.into_iter().enumerate() {
            let newest = n + 1 == count;
            if let Some(prev) = log.segments.last() {
                if prev.last_index().checked_add(1) != Some(first) {
                    return Err(corrupt(
                        &dir.join(segment_name(first)),
                        format!(
                            "log segment starts at index {first}, the one before ends at {}",
                            prev.last_index()
                        ),
                    ));
                }
            }
            let (segment, torn) = scan_segment(dir, first, newest, &mut hint, &mut visit)?;
            torn_bytes += torn;
            match segment {
                Some(segment) => log.segments.push(segment),
                None if newest => {
                    // Created, but its first batch never got written whole.
                    let path = dir.join(segment_name(first));
                    std::fs::remove_file(&path).map_err(|e| with_path(&path, e))?;
                    sync_dir(dir)?;
                }
                None => {
                    return Err(corrupt(
                        &dir.join(segment_name(first)),
                        "log segment holds no entries",
                    ));
                }
            }
        }
        if let Some(first) = log.segments.first() {
            log.first_live = first.first_index;
        }
        if let Some(newest) = log.segments.last() {
            reserve_blocks(&newest.file, &newest.path, newest.len, log.segment_target);
        }
        Ok(Opened {
            log,
            hint,
            torn_bytes,
        })
    }

    /// The index of the first and last entry held, if any.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let first = self.segments.first()?;
        let last = self.segments.last()?;
        Some((self.first_live.max(first.first_index), last.last_index()))
    }

    /// Appends entries `first_index..` (and, after them, a hint) and makes them
    /// durable. `first_index` must follow the last entry, or start a new log
    /// when none is held.
    pub fn append(
        &mut self,
        first_index: u64,
        entries: &[Vec<u8>],
        hint: Option<&[u8]>,
    ) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        if let Some((_, last)) = self.bounds() {
            if first_index != last + 1 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("log append at index {first_index} after index {last}"),
                ));
            }
        }
        let mut buf = Vec::with_capacity(
            entries
                .iter()
                .map(|e| e.len() + HEADER_BYTES)
                .sum::<usize>()
                + 64,
        );
        let mut rel_offsets = Vec::with_capacity(entries.len());
        for body in entries {
            rel_offsets.push(buf.len() as u64);
            push_record(&mut buf, Kind::Entry, body)?;
        }
        if let Some(hint) = hint {
            push_record(&mut buf, Kind::Hint, hint)?;
        }
        self.usable()?;
        let result = self.write_batch(first_index, &buf, rel_offsets);
        self.note_failure(result)
    }

    /// Refuses changes after a write, sync or removal failed: what the files
    /// hold is then known only to a fresh open (at the member's restart).
    fn usable(&self) -> io::Result<()> {
        match &self.failed {
            Some(why) => Err(io::Error::other(format!(
                "raft log: refused after an earlier failure ({why}); restart the member"
            ))),
            None => Ok(()),
        }
    }

    fn note_failure<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            self.failed.get_or_insert_with(|| e.to_string());
        }
        result
    }

    fn write_batch(
        &mut self,
        first_index: u64,
        buf: &[u8],
        rel_offsets: Vec<u64>,
    ) -> io::Result<()> {
        let batch = buf.len() as u64;
        let roll = match self.segments.last() {
            None => true,
            Some(s) => s.len >= self.segment_target || s.len + batch > u64::from(u32::MAX),
        };
        if roll {
            if batch > u64::from(u32::MAX) {
                return Err(io::Error::other(format!("log batch of {batch} bytes")));
            }
            let path = self.dir.join(segment_name(first_index));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| with_path(&path, e))?;
            reserve_blocks(&file, &path, 0, self.segment_target);
            file.write_all_at(buf, 0)
                .and_then(|()| metrics::timed_log_sync(|| file.sync_data()))
                .map_err(|e| with_path(&path, e))?;
            metrics::log_written(buf.len());
            sync_dir(&self.dir)?;
            self.segments.push(Segment {
                first_index,
                path,
                file,
                offsets: rel_offsets.into_iter().map(|o| o as u32).collect(),
                len: batch,
            });
            return Ok(());
        }
        let Some(segment) = self.segments.last_mut() else {
            return Err(io::Error::other("log has no segment to append to"));
        };
        segment
            .file
            .write_all_at(buf, segment.len)
            .and_then(|()| metrics::timed_log_sync(|| segment.file.sync_data()))
            .map_err(|e| with_path(&segment.path, e))?;
        metrics::log_written(buf.len());
        let base = segment.len;
        segment
            .offsets
            .extend(rel_offsets.into_iter().map(|o| (base + o) as u32));
        segment.len += batch;
        Ok(())
    }

    /// Makes segments roll over sooner, so tests see many of them.
    #[cfg(test)]
    pub fn set_segment_target(&mut self, bytes: u64) {
        self.segment_target = bytes;
    }

    /// The segment files, oldest first.
    #[cfg(test)]
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// Removes every entry from `from` on, durably.
    pub fn truncate_from(&mut self, from: u64) -> io::Result<()> {
        self.usable()?;
        let result = self.cut_from(from);
        self.note_failure(result)
    }

    fn cut_from(&mut self, from: u64) -> io::Result<()> {
        // Newest first, each removal durable before the next, so a crash
        // leaves the segments before the ones already gone.
        while let Some(newest) = self.segments.last() {
            if newest.first_index < from {
                break;
            }
            let path = newest.path.clone();
            std::fs::remove_file(&path).map_err(|e| with_path(&path, e))?;
            self.segments.pop();
            sync_dir(&self.dir)?;
        }
        if let Some(newest) = self.segments.last_mut() {
            if newest.last_index() >= from {
                let keep = (from - newest.first_index) as usize;
                let cut = u64::from(newest.offsets[keep]);
                newest
                    .file
                    .set_len(cut)
                    .and_then(|()| newest.file.sync_data())
                    .map_err(|e| with_path(&newest.path, e))?;
                newest.offsets.truncate(keep);
                newest.len = cut;
                // Shortening the file gave back the blocks reserved past it.
                reserve_blocks(&newest.file, &newest.path, cut, self.segment_target);
            }
        }
        // What is left may all be purged already (a purge keeps a segment
        // that still held newer entries).
        self.remove_dead_segments()
    }

    /// Forgets every entry up to `upto` and deletes the segments that hold
    /// nothing newer. The caller records the purge point durably first.
    pub fn purge_upto(&mut self, upto: u64) -> io::Result<()> {
        self.usable()?;
        let result = self.drop_upto(upto);
        self.note_failure(result)
    }

    fn drop_upto(&mut self, upto: u64) -> io::Result<()> {
        self.first_live = self.first_live.max(upto + 1);
        self.remove_dead_segments()
    }

    /// Deletes the oldest segments while they hold only purged entries.
    fn remove_dead_segments(&mut self) -> io::Result<()> {
        let dead = self
            .segments
            .iter()
            .take_while(|s| s.last_index() < self.first_live)
            .count();
        if dead == 0 {
            return Ok(());
        }
        // One at a time, each removal durable before the next, so a crash
        // leaves the segments after the ones already gone.
        for segment in self.segments.drain(..dead) {
            std::fs::remove_file(&segment.path).map_err(|e| with_path(&segment.path, e))?;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Removes every segment (the log store records its new state after).
    pub fn clear(&mut self) -> io::Result<()> {
        self.truncate_from(0)?;
        self.first_live = 0;
        Ok(())
    }

    /// Calls `visit` with the index and body of every entry in `start..=end`
    /// that is held, in order.
    pub fn read(
        &self,
        start: u64,
        end: Option<u64>,
        mut visit: impl FnMut(u64, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let start = start.max(self.first_live);
        let end = end.unwrap_or(u64::MAX);
        if start > end {
            return Ok(());
        }
        for segment in &self.segments {
            if segment.last_index() < start || segment.first_index > end {
                continue;
            }
            let from = start.max(segment.first_index);
            let to = end.min(segment.last_index());
            let lo = u64::from(segment.offsets[(from - segment.first_index) as usize]);
            let hi = match segment.offsets.get((to - segment.first_index + 1) as usize) {
                Some(next) => u64::from(*next),
                // The last entry's record ends where the next record starts: a
                // hint after it, or the end of the segment.
                None => segment.len,
            };
            let mut bytes = vec![0u8; (hi - lo) as usize];
            segment
                .file
                .read_exact_at(&mut bytes, lo)
                .map_err(|e| with_path(&segment.path, e))?;
            let mut index = from;
            let mut at = 0usize;
            while at < bytes.len() && index <= to {
                let record = parse_record(&bytes[at..])
                    .map_err(|e| segment.err(format!("at byte {}: {e}", lo + at as u64)))?;
                at += record.size;
                if record.kind == Kind::Entry {
                    visit(index, record.body)?;
                    index += 1;
                }
            }
            if index <= to {
                return Err(segment.err(format!("entry {index} is missing from its segment")));
            }
        }
        Ok(())
    }
}

struct Record<'a> {
    kind: Kind,
    body: &'a [u8],
    size: usize,
}

/// Why bytes are not a whole, valid record.
enum Bad {
    /// The bytes end before the record does.
    Short,
    /// The record is whole but does not check.
    Invalid(String),
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Short => f.write_str("record cut short"),
            Bad::Invalid(why) => f.write_str(why),
        }
    }
}

fn parse_record(bytes: &[u8]) -> Result<Record<'_>, Bad> {
    if bytes.len() < HEADER_BYTES {
        return Err(Bad::Short);
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let kind_byte = bytes[8];
    if len > MAX_BODY_BYTES {
        return Err(Bad::Invalid(format!("record length {len}")));
    }
    let size = HEADER_BYTES + len as usize;
    if bytes.len() < size {
        return Err(Bad::Short);
    }
    let body = &bytes[HEADER_BYTES..size];
    if record_crc(len, kind_byte, body) != crc {
        return Err(Bad::Invalid("checksum mismatch".into()));
    }
    let kind = Kind::from_byte(kind_byte)
        .ok_or_else(|| Bad::Invalid(format!("unknown record kind {kind_byte}")))?;
    Ok(Record { kind, body, size })
}

/// Reads one segment, checking each record. Returns the segment (`None` when
/// it holds no entries) and how many bytes of torn write were cut off it.
fn scan_segment(
    dir: &Path,
    first_index: u64,
    newest: bool,
    hint: &mut Option<Vec<u8>>,
    visit: &mut impl FnMut(u64, &[u8]) -> io::Result<()>,
) -> io::Result<(Option<Segment>, u64)> {
    let path = dir.join(segment_name(first_index));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| with_path(&path, e))?;
    let file_len = file.metadata().map_err(|e| with_path(&path, e))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut offsets = Vec::new();
    let mut pos = 0u64;
    let mut record = Vec::new();
    let mut torn = 0;
    while pos < file_len {
        let want = (file_len - pos).min(HEADER_BYTES as u64) as usize;
        record.resize(want, 0);
        reader
            .read_exact(&mut record)
            .map_err(|e| with_path(&path, e))?;
        let len = if want == HEADER_BYTES {
            u32::from_le_bytes([record[0], record[1], record[2], record[3]])
        } else {
            0
        };
        let body_len = if len <= MAX_BODY_BYTES {
            (len as u64).min(file_len - pos - want as u64)
        } else {
            0
        };
        record.resize(want + body_len as usize, 0);
        reader
            .read_exact(&mut record[want..])
            .map_err(|e| with_path(&path, e))?;
        match parse_record(&record) {
            Ok(parsed) => {
                if parsed.kind == Kind::Entry {
                    // A name near u64::MAX must not make the indices wrap.
                    let index = first_index
                        .checked_add(offsets.len() as u64)
                        .filter(|i| *i < u64::MAX)
                        .ok_or_else(|| corrupt(&path, "log index beyond u64"))?;
                    visit(index, parsed.body).map_err(|e| with_path(&path, e))?;
                    let offset = u32::try_from(pos)
                        .map_err(|_| corrupt(&path, "log segment larger than 4 GiB"))?;
                    offsets.push(offset);
                } else if offsets.is_empty() {
                    return Err(corrupt(&path, "log segment does not start with an entry"));
                } else {
                    *hint = Some(parsed.body.to_vec());
                }
                pos += parsed.size as u64;
            }
            Err(bad) => {
                if !newest || !is_torn_tail(&file, pos, file_len, &bad, &path)? {
                    return Err(corrupt(&path, format!("at byte {pos}: {bad}")));
                }
                file.set_len(pos)
                    .and_then(|()| file.sync_data())
                    .map_err(|e| with_path(&path, e))?;
                torn = file_len - pos;
                break;
            }
        }
    }
    if offsets.is_empty() {
        return Ok((None, torn));
    }
    drop(reader);
    Ok((
        Some(Segment {
            first_index,
            path,
            file,
            offsets,
            len: pos,
        }),
        torn,
    ))
}

/// Whether what follows `pos` is a write a crash interrupted: a record cut
/// short by the end of the file, or bytes that hold a zeroed sector and nothing
/// but zeros after the record they start (pages the crash never wrote).
fn is_torn_tail(file: &File, pos: u64, file_len: u64, bad: &Bad, path: &Path) -> io::Result<bool> {
    if matches!(bad, Bad::Short) {
        return Ok(true);
    }
    let mut tail = vec![0u8; (file_len - pos) as usize];
    file.read_exact_at(&mut tail, pos)
        .map_err(|e| with_path(path, e))?;
    if tail.iter().all(|b| *b == 0) {
        return Ok(true);
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    let record_end = (HEADER_BYTES as u64 + len).min(tail.len() as u64);
    if tail[record_end as usize..].iter().any(|b| *b != 0) {
        return Ok(false);
    }
    // A sector starting inside the record (at a sector boundary of the file)
    // is zeros up to its end or the end of the file.
    let mut sector_start = pos.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
    while sector_start < pos + record_end {
        let at = (sector_start - pos) as usize;
        let upto = (at + SECTOR_BYTES as usize).min(tail.len());
        if tail[at..upto].iter().all(|b| *b == 0) {
            return Ok(true);
        }
        sector_start += SECTOR_BYTES;
    }
    Ok(false)
}

/// Whether `dir` holds any log segment.
pub(crate) fn has_segments(dir: &Path) -> io::Result<bool> {
    for item in std::fs::read_dir(dir).map_err(|e| with_path(dir, e))? {
        let item = item.map_err(|e| with_path(dir, e))?;
        if item.file_name().to_string_lossy().ends_with(SEGMENT_SUFFIX) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes `entries` (starting at `first_index`) as one segment through a
/// temporary file, for a log moved from another format. The caller removes
/// the entries from their old place only after this returned.
pub(crate) fn write_migrated_segment(
    dir: &Path,
    first_index: u64,
    entries: &[Vec<u8>],
) -> io::Result<()> {
    let mut buf = Vec::new();
    for body in entries {
        push_record(&mut buf, Kind::Entry, body)?;
    }
    let name = segment_name(first_index);
    let temp = dir.join(format!("{name}.tmp"));
    let file = File::create(&temp).map_err(|e| with_path(&temp, e))?;
    file.write_all_at(&buf, 0)
        .and_then(|()| file.sync_all())
        .map_err(|e| with_path(&temp, e))?;
    let path = dir.join(name);
    std::fs::rename(&temp, &path).map_err(|e| with_path(&path, e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests;
