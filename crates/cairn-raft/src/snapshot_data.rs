//! A Raft snapshot's data as openraft hands it between the state machine and
//! the network (`SnapshotData`): either a snapshot received from a leader, in
//! its file, or this member's own store as of a read view, exported into a
//! file only when it is sent to a member that needs it.
//!
//! Like etcd, whose snapshot data is its backend database, a member does not
//! write its whole state out every `--snapshot-count` entries: taking a Raft
//! snapshot only makes the store durable up to the applied index (so the log
//! can be purged up to it), and the export is paid once per snapshot sent.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use cairn_mvcc::StoreSnapshot;

use crate::snapshot_file::SnapshotFile;
use crate::types::SnapshotMeta;

/// A Raft snapshot's data.
pub enum SnapshotData {
    /// Received from a leader, in its (fsynced) file, to be installed.
    Received(SnapshotFile),
    /// This member's store as of `view`, taken together with the snapshot's
    /// meta; exported by [`SnapshotData::into_file`]. Boxed: a read view is
    /// much larger than an open file.
    Store(Box<StoreExport>),
}

/// The store as of one read view, and where to export it.
pub struct StoreExport {
    view: StoreSnapshot,
    meta: SnapshotMeta,
    snap_dir: PathBuf,
}

impl fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotData::Received(file) => f.debug_tuple("Received").field(file).finish(),
            SnapshotData::Store(export) => f
                .debug_struct("Store")
                .field("last_log_id", &export.meta.last_log_id)
                .finish_non_exhaustive(),
        }
    }
}

impl SnapshotData {
    /// The store as of `view` (taken with `meta`), to be exported into
    /// `snap_dir` if it is ever sent.
    pub(crate) fn store(view: StoreSnapshot, meta: SnapshotMeta, snap_dir: &Path) -> SnapshotData {
        SnapshotData::Store(Box::new(StoreExport {
            view,
            meta,
            snap_dir: snap_dir.to_path_buf(),
        }))
    }

    /// The data in a file, exporting the store's view first if it is not in
    /// one yet (this reads the whole state; call it off the async workers).
    /// An export goes into a file without a name (not fsynced: it only lives
    /// while it is sent), so nothing is left behind.
    pub fn into_file(self) -> io::Result<SnapshotFile> {
        match self {
            SnapshotData::Received(file) => Ok(file),
            SnapshotData::Store(export) => {
                SnapshotFile::write_unnamed(&export.snap_dir, &export.meta, |out| {
                    export
                        .view
                        .write_to(out)
                        .map(|(_, len)| len)
                        .map_err(|e| io::Error::other(e.to_string()))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot_file::test_support::{contents, meta};

    fn apply_put(store: &cairn_mvcc::Store, index: u64, key: &[u8]) {
        let put = crate::types::test_put(index, key, 8);
        store
            .apply_batch(
                &[cairn_mvcc::ApplyEntry {
                    index,
                    request: Some(&put.0),
                }],
                b"",
            )
            .expect("apply");
    }

    fn store_with_keys(dir: &Path, n: usize) -> cairn_mvcc::Store {
        let store = cairn_mvcc::Store::open(&dir.join("db")).expect("open store");
        for i in 0..n {
            apply_put(&store, i as u64 + 1, format!("k{i}").as_bytes());
        }
        store
    }

    #[test]
    fn an_export_is_the_view_it_was_taken_with_and_leaves_no_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_with_keys(dir.path(), 3);
        let view = store.snapshot_view().expect("view");
        // Written after the view was taken: not part of the export.
        apply_put(&store, 4, b"later");
        let expected = {
            let mut out = Vec::new();
            view.write_to(&mut out).expect("export to memory");
            out
        };
        let file = SnapshotData::store(view, meta(3), dir.path())
            .into_file()
            .expect("export");
        assert_eq!(contents(&file), expected);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name != "db")
            .collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    #[test]
    fn two_exports_at_once_do_not_share_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_with_keys(dir.path(), 2);
        let a = SnapshotData::store(store.snapshot_view().expect("view"), meta(2), dir.path());
        let b = SnapshotData::store(store.snapshot_view().expect("view"), meta(2), dir.path());
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| a.into_file());
            let b = s.spawn(|| b.into_file());
            (a.join().expect("a"), b.join().expect("b"))
        });
        let (a, b) = (a.expect("export a"), b.expect("export b"));
        assert_eq!(contents(&a), contents(&b));
    }
}
