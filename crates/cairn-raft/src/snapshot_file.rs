//! Raft snapshots travel in files, never whole in memory: snapshots being
//! received from a leader (`<data-dir>/member/snap/raft.snap.incoming-N`,
//! removed once installed) and this member's store exported to be sent (an
//! unnamed file in the same directory, gone when closed; see
//! `snapshot_data.rs`).
//!
//! Layout: the bincode encoding of the [`SnapshotMeta`], the data length
//! (u64, little-endian), then the data (the store's snapshot stream). This is
//! exactly how bincode encodes a `{ meta, data: Vec<u8> }` pair, so files
//! written before snapshots were streamed read the same way.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::types::SnapshotMeta;

/// Name prefix of snapshots being received. Older versions also kept the
/// member's latest snapshot as `raft.snap` (and wrote it through
/// `raft.snap.tmp`): the same prefix finds those.
const INCOMING_PREFIX: &str = "raft.snap.incoming-";
const OLD_PREFIX: &str = "raft.snap";
/// Write buffer for snapshot files.
const BUFFER: usize = 1 << 20;

/// Where the `n`th snapshot received since start-up is written.
pub(crate) fn incoming_path(snap_dir: &Path, n: u64) -> PathBuf {
    snap_dir.join(format!("{INCOMING_PREFIX}{n}"))
}

/// Removes the snapshot files a stop or crash left behind (receipts cut
/// short), and the Raft snapshot file older versions kept
/// (`raft.snap`): the store always held at least what it held, so nothing
/// reads it any more.
pub(crate) fn remove_stale_files(snap_dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(snap_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(OLD_PREFIX) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn corrupt(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: corrupt raft snapshot: {what}", path.display()),
    )
}

fn with_path(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The encoded length of `meta`, which is where the data length starts.
fn header_len(meta: &SnapshotMeta) -> io::Result<u64> {
    bincode::serialized_size(meta).map_err(|e| io::Error::other(e.to_string()))
}

/// Most bytes a snapshot's meta (its membership) may take in a file.
const MAX_META_BYTES: u64 = 16 << 20;

/// Decodes the meta at the start of a file of `file_len` bytes. The decoder
/// may not read past the file or [`MAX_META_BYTES`]: a damaged length inside
/// the meta is an error, never an allocation of that many bytes (bincode
/// sizes its buffer from the length it reads when decoding from a stream).
fn read_meta(input: &mut impl Read, file_len: u64) -> Result<SnapshotMeta, bincode::Error> {
    use bincode::Options;
    // The options `bincode::serialize` writes with, plus the limit.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(file_len.min(MAX_META_BYTES))
        .deserialize_from(input)
}

fn write_header(out: &mut impl Write, meta: &SnapshotMeta, len: u64) -> io::Result<()> {
    bincode::serialize_into(&mut *out, meta).map_err(|e| io::Error::other(e.to_string()))?;
    out.write_all(&len.to_le_bytes())
}

fn sync_dir_of(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// A snapshot's data in a file: what openraft hands between the state
/// machine and the network (`SnapshotData`). Reads are positioned, so one
/// open file serves any number of readers, and a file replaced on disk
/// meanwhile does not change what an open `SnapshotFile` reads.
#[derive(Debug)]
pub struct SnapshotFile {
    file: File,
    path: PathBuf,
    data_offset: u64,
    len: u64,
}

impl SnapshotFile {
    /// Opens the snapshot at `path` (`None` if there is none) and checks that
    /// its header and length add up. The data itself is checked when it is installed.
    pub fn open(path: &Path) -> io::Result<Option<(SnapshotMeta, SnapshotFile)>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(with_path(path)(e)),
        };
        let file_len = file.metadata().map_err(with_path(path))?.len();
        let mut header = io::BufReader::with_capacity(64 * 1024, &file);
        let meta = read_meta(&mut header, file_len).map_err(|e| corrupt(path, e))?;
        let mut len = [0u8; 8];
        header
            .read_exact(&mut len)
            .map_err(|e| corrupt(path, format!("data length: {e}")))?;
        let len = u64::from_le_bytes(len);
        let data_offset = header_len(&meta)? + 8;
        if data_offset.checked_add(len) != Some(file_len) {
            return Err(corrupt(
                path,
                format!(
                    "{len} bytes of data announced after a {data_offset}-byte header, file has {file_len}"
                ),
            ));
        }
        Ok(Some((
            meta,
            SnapshotFile {
                file,
                path: path.to_path_buf(),
                data_offset,
                len,
            },
        )))
    }

    /// Writes a snapshot to `path` durably: `fill` streams the data into a
    /// temporary file and returns its length; the file is fsynced and renamed
    /// into place, and the directory fsynced.
    pub fn write(
        path: &Path,
        meta: &SnapshotMeta,
        fill: impl FnOnce(&mut BufWriter<&File>) -> io::Result<u64>,
    ) -> io::Result<SnapshotFile> {
        let tmp = path.with_extension("snap.tmp");
        let written = (|| {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            let (data_offset, len) = fill_file(&file, meta, fill)?;
            file.sync_all()?;
            Ok((file, data_offset, len))
        })();
        let (file, data_offset, len) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(with_path(&tmp)(e));
            }
        };
        std::fs::rename(&tmp, path).map_err(with_path(path))?;
        sync_dir_of(path).map_err(with_path(path))?;
        Ok(SnapshotFile {
            file,
            path: path.to_path_buf(),
            data_offset,
            len,
        })
    }

    /// Writes a snapshot into a file without a name in `dir` (gone once
    /// closed, whatever happens to the process), neither fsynced nor renamed:
    /// an export that lives only while it is sent.
    pub fn write_unnamed(
        dir: &Path,
        meta: &SnapshotMeta,
        fill: impl FnOnce(&mut BufWriter<&File>) -> io::Result<u64>,
    ) -> io::Result<SnapshotFile> {
        let file = tempfile::tempfile_in(dir).map_err(with_path(dir))?;
        let (data_offset, len) = fill_file(&file, meta, fill).map_err(with_path(dir))?;
        Ok(SnapshotFile {
            file,
            path: dir.join("(unnamed export)"),
            data_offset,
            len,
        })
    }

    /// Writes a snapshot whose data is already in memory.
    pub fn write_bytes(path: &Path, meta: &SnapshotMeta, data: &[u8]) -> io::Result<SnapshotFile> {
        SnapshotFile::write(path, meta, |out| {
            out.write_all(data)?;
            Ok(data.len() as u64)
        })
    }

    /// Length of the snapshot's data.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file this snapshot was read from or written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills `buf` with the data starting at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: read of {} bytes at {offset} past the end of {} bytes of snapshot data",
                    self.path.display(),
                    buf.len(),
                    self.len
                ),
            ));
        }
        self.file
            .read_exact_at(buf, self.data_offset + offset)
            .map_err(with_path(&self.path))
    }

    /// The data as a stream, from its start.
    pub fn data(&self) -> impl Read + '_ {
        io::BufReader::with_capacity(
            BUFFER,
            DataReader {
                snapshot: self,
                pos: 0,
            },
        )
    }
}

/// Writes the header and `fill`'s data into `file`; returns where the data
/// starts and its length.
fn fill_file(
    file: &File,
    meta: &SnapshotMeta,
    fill: impl FnOnce(&mut BufWriter<&File>) -> io::Result<u64>,
) -> io::Result<(u64, u64)> {
    let mut out = BufWriter::with_capacity(BUFFER, file);
    // The length is not known yet: written as 0 and filled in below.
    write_header(&mut out, meta, 0)?;
    let len = fill(&mut out)?;
    out.flush()?;
    drop(out);
    let data_offset = header_len(meta)? + 8;
    let mut file = file;
    file.seek(SeekFrom::Start(data_offset - 8))?;
    file.write_all(&len.to_le_bytes())?;
    Ok((data_offset, len))
}

/// Reads a snapshot's data sequentially through positioned reads.
struct DataReader<'a> {
    snapshot: &'a SnapshotFile,
    pos: u64,
}

impl Read for DataReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.snapshot.len - self.pos;
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.snapshot.read_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A snapshot being received, written to its file chunk by chunk.
#[derive(Debug)]
pub(crate) struct IncomingFile {
    out: BufWriter<File>,
    path: PathBuf,
    data_offset: u64,
    len: u64,
    written: u64,
}

impl IncomingFile {
    /// Creates the file at `path` for a snapshot of `len` bytes of data.
    pub(crate) fn create(path: &Path, meta: &SnapshotMeta, len: u64) -> io::Result<IncomingFile> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(with_path(path))?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        write_header(&mut out, meta, len).map_err(with_path(path))?;
        Ok(IncomingFile {
            out,
            path: path.to_path_buf(),
            data_offset: header_len(meta)? + 8,
            len,
            written: 0,
        })
    }

    /// Bytes of data written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Appends the next piece of data (the caller checks it fits).
    pub(crate) fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data).map_err(with_path(&self.path))?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Makes the complete file durable and opens it as a snapshot. On failure
    /// the file is removed.
    pub(crate) fn finish(self) -> io::Result<SnapshotFile> {
        let IncomingFile {
            out,
            path,
            data_offset,
            len,
            written,
        } = self;
        let file = (|| {
            if written != len {
                return Err(corrupt(&path, format!("received {written} of {len} bytes")));
            }
            let file = out
                .into_inner()
                .map_err(|e| with_path(&path)(e.into_error()))?;
            file.sync_all().map_err(with_path(&path))?;
            Ok(file)
        })();
        match file {
            Ok(file) => Ok(SnapshotFile {
                file,
                path,
                data_offset,
                len,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Drops a snapshot whose receipt was abandoned, and its file.
    pub(crate) fn discard(self) {
        let path = self.path.clone();
        drop(self);
        let _ = std::fs::remove_file(path);
    }
}

/// Helpers for the tests of snapshot files and their transfer.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A snapshot's meta, told apart by the index it was taken at.
    pub(crate) fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(crate::types::LogId::new_term_index(1, index)),
            ..Default::default()
        }
    }

    /// All of a snapshot's data.
    pub(crate) fn contents(s: &SnapshotFile) -> Vec<u8> {
        let mut out = Vec::new();
        s.data().read_to_end(&mut out).expect("read");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{contents as all_data, meta};
    use super::*;

    #[test]
    fn a_written_snapshot_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raft.snap");
        let written = SnapshotFile::write(&path, &meta(7), |out| {
            out.write_all(b"hello ")?;
            out.write_all(b"world")?;
            Ok(11)
        })
        .expect("write");
        assert_eq!(all_data(&written), b"hello world");
        let (m, opened) = SnapshotFile::open(&path).expect("open").expect("exists");
        assert_eq!(m, meta(7));
        assert_eq!(opened.len(), 11);
        assert_eq!(all_data(&opened), b"hello world");
        let mut mid = [0u8; 5];
        opened.read_at(6, &mut mid).expect("read_at");
        assert_eq!(&mid, b"world");
        assert!(opened.read_at(7, &mut mid).is_err(), "past the end");
        assert!(opened.read_at(u64::MAX, &mut mid).is_err(), "overflow");
    }

    /// Files written before snapshots were streamed were bincode's encoding
    /// of `{ meta, data: Vec<u8> }`.
    #[test]
    fn the_layout_is_bincodes_encoding_of_meta_and_data() {
        #[derive(serde::Serialize)]
        struct Stored {
            meta: SnapshotMeta,
            data: Vec<u8>,
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raft.snap");
        let old = bincode::serialize(&Stored {
            meta: meta(9),
            data: b"abc".to_vec(),
        })
        .expect("encode");
        std::fs::write(&path, &old).expect("write");
        let (m, s) = SnapshotFile::open(&path).expect("open").expect("exists");
        assert_eq!((m, all_data(&s)), (meta(9), b"abc".to_vec()));
        SnapshotFile::write_bytes(&path, &meta(9), b"abc").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), old);
    }

    #[test]
    fn a_missing_snapshot_is_none_and_a_damaged_one_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raft.snap");
        assert!(SnapshotFile::open(&path).expect("open").is_none());
        SnapshotFile::write_bytes(&path, &meta(1), b"0123456789").expect("write");
        let whole = std::fs::read(&path).expect("read");
        for cut in [0, 3, whole.len() - 1] {
            std::fs::write(&path, &whole[..cut]).expect("truncate");
            let err = SnapshotFile::open(&path).expect_err("truncated");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "cut at {cut}");
        }
        let mut longer = whole.clone();
        longer.push(0);
        std::fs::write(&path, &longer).expect("extend");
        assert!(SnapshotFile::open(&path).is_err());
    }

    #[test]
    fn a_damaged_length_inside_the_meta_is_refused_without_allocating_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raft.snap");
        let mut members = std::collections::BTreeMap::new();
        members.insert(
            1,
            crate::types::PeerNode {
                name: "member-one".into(),
                ..Default::default()
            },
        );
        let membership = openraft::Membership::new(vec![[1].into()], members).expect("membership");
        let with_member = SnapshotMeta {
            last_membership: crate::types::Membership::new(None, membership),
            ..meta(5)
        };
        SnapshotFile::write_bytes(&path, &with_member, b"data").expect("write");
        let mut bytes = std::fs::read(&path).expect("read");
        // The member name's length prefix now claims 2^60 bytes.
        let name = b"member-one";
        let mut prefixed = (name.len() as u64).to_le_bytes().to_vec();
        prefixed.extend_from_slice(name);
        let at = bytes
            .windows(prefixed.len())
            .position(|w| w == prefixed.as_slice())
            .expect("the name is in the file");
        bytes[at..at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        std::fs::write(&path, &bytes).expect("damage");
        let err = SnapshotFile::open(&path).expect_err("damaged meta");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn an_incoming_snapshot_is_complete_only_with_all_its_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = incoming_path(dir.path(), 1);
        let mut inc = IncomingFile::create(&path, &meta(4), 6).expect("create");
        inc.append(b"abc").expect("append");
        assert_eq!(inc.written(), 3);
        let short = inc;
        assert!(short.finish().is_err());

        let mut inc = IncomingFile::create(&path, &meta(4), 6).expect("create");
        inc.append(b"abc").expect("append");
        inc.append(b"def").expect("append");
        let done = inc.finish().expect("finish");
        assert_eq!(all_data(&done), b"abcdef");
        let (m, s) = SnapshotFile::open(&path).expect("open").expect("exists");
        assert_eq!((m, all_data(&s)), (meta(4), b"abcdef".to_vec()));
        // A removed file's open handle still reads.
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(all_data(&done), b"abcdef");
    }

    #[test]
    fn stale_snapshot_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("db"), b"the store").expect("write");
        // What older versions kept, and an export a crash cut short.
        SnapshotFile::write_bytes(&dir.path().join("raft.snap"), &meta(1), b"x").expect("write");
        std::fs::write(dir.path().join("raft.snap.tmp"), b"half").expect("write");
        IncomingFile::create(&incoming_path(dir.path(), 3), &meta(2), 5)
            .expect("create")
            .discard();
        let _left =
            IncomingFile::create(&incoming_path(dir.path(), 4), &meta(2), 5).expect("create");
        remove_stale_files(dir.path()).expect("clean");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["db".to_string()]);
    }
}
