//! Raft snapshots travel between members in chunks.
//!
//! A snapshot holds the whole key space, so sending it as one peer message
//! capped its size at the gRPC message limit (2 GiB) and made both ends hold
//! several encoded copies of it at once. The leader instead sends it as a
//! sequence of [`SnapshotChunk`]s of at most [`CHUNK_BYTES`] each, in order,
//! read from its snapshot file; the follower's [`SnapshotAssembler`] appends
//! them to a file of its own and, with the last one, hands that file to
//! openraft. A chunk that does not continue the snapshot being received is
//! refused, and the leader starts again from the first chunk (openraft
//! retries a failed snapshot send). Neither end holds more than a chunk in memory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::snapshot_file::{incoming_path, IncomingFile, SnapshotFile};
use crate::types::{MemberId, RawBytes, SnapshotMeta, Vote};

/// Largest piece of snapshot data in one peer message.
pub const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// One piece of a snapshot, as the follower decodes it.
#[derive(Debug, Deserialize)]
pub struct SnapshotChunk {
    /// The leader's vote, checked by openraft when the snapshot is installed.
    pub vote: Vote,
    pub meta: SnapshotMeta,
    /// Length of the whole snapshot data.
    pub total_len: u64,
    /// Where `data` starts in the snapshot data.
    pub offset: u64,
    pub data: Vec<u8>,
}

/// A [`SnapshotChunk`] by reference, as the leader encodes it (bincode encodes
/// both the same way, so the leader never copies the snapshot).
#[derive(Serialize)]
pub struct SnapshotChunkRef<'a> {
    pub vote: &'a Vote,
    pub meta: &'a SnapshotMeta,
    pub total_len: u64,
    pub offset: u64,
    pub data: RawBytes<'a>,
}

/// Why a chunk was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("snapshot chunk at offset {offset} does not continue a snapshot being received (have {have} bytes of {expected:?})")]
    OutOfOrder {
        offset: u64,
        have: u64,
        expected: Option<String>,
    },
    #[error(
        "snapshot chunk overruns the announced length {total_len} (offset {offset}, {len} bytes)"
    )]
    Overrun {
        total_len: u64,
        offset: u64,
        len: u64,
    },
    #[error("empty snapshot chunk at offset {offset} of {total_len} bytes")]
    Empty { offset: u64, total_len: u64 },
    #[error("snapshot receiver lock poisoned")]
    Poisoned,
    #[error("writing the received snapshot: {0}")]
    Io(String),
}

/// What adding a chunk gave.
#[derive(Debug)]
pub enum Assembled {
    /// More chunks are to come.
    Partial,
    /// The last chunk arrived: the whole snapshot, in its file (fsynced),
    /// and how many chunks it took.
    Complete {
        vote: Vote,
        meta: SnapshotMeta,
        data: SnapshotFile,
        chunks: u64,
    },
}

/// The snapshot being received (one at a time per member).
struct Incoming {
    from: MemberId,
    vote: Vote,
    meta: SnapshotMeta,
    total_len: u64,
    file: IncomingFile,
    chunks: u64,
}

/// The receiving side: which snapshot is being received, and where.
struct Receiving {
    incoming: Option<Incoming>,
    /// Snapshots started so far: each is written to a file of its own, so a
    /// new one never overwrites a complete one that is still being installed.
    started: u64,
}

/// Puts a follower's incoming snapshot back together, in files under its
/// snapshot directory.
pub struct SnapshotAssembler {
    dir: PathBuf,
    receiving: Mutex<Receiving>,
}

/// Drops the snapshot being received, if any, and its file.
fn abandon(slot: &mut Option<Incoming>) {
    if let Some(incoming) = slot.take() {
        incoming.file.discard();
    }
}

impl SnapshotAssembler {
    /// Receives snapshots into files in `dir` (the member's snapshot directory).
    pub fn new(dir: &Path) -> SnapshotAssembler {
        SnapshotAssembler {
            dir: dir.to_path_buf(),
            receiving: Mutex::new(Receiving {
                incoming: None,
                started: 0,
            }),
        }
    }

    /// Adds `chunk`, sent by member `from`. A chunk at offset 0 starts a new
    /// snapshot and drops any half-received one; any other chunk must continue
    /// the snapshot being received from the same member, right where it ends.
    pub fn add(&self, from: MemberId, chunk: SnapshotChunk) -> Result<Assembled, ChunkError> {
        let mut receiving = self.receiving.lock().map_err(|_| ChunkError::Poisoned)?;
        let receiving = &mut *receiving;
        let slot = &mut receiving.incoming;
        let len = chunk.data.len() as u64;
        let end = chunk.offset.checked_add(len);
        if end.is_none_or(|end| end > chunk.total_len) {
            abandon(slot);
            return Err(ChunkError::Overrun {
                total_len: chunk.total_len,
                offset: chunk.offset,
                len,
            });
        }
        if len == 0 && chunk.offset < chunk.total_len {
            abandon(slot);
            return Err(ChunkError::Empty {
                offset: chunk.offset,
                total_len: chunk.total_len,
            });
        }
        if chunk.offset == 0 {
            abandon(slot);
            receiving.started += 1;
            let path = incoming_path(&self.dir, receiving.started);
            let file = IncomingFile::create(&path, &chunk.meta, chunk.total_len)
                .map_err(|e| ChunkError::Io(e.to_string()))?;
            *slot = Some(Incoming {
                from,
                vote: chunk.vote,
                meta: chunk.meta,
                total_len: chunk.total_len,
                file,
                chunks: 0,
            });
        } else {
            let continues = slot.as_ref().is_some_and(|inc| {
                inc.from == from
                    && inc.vote == chunk.vote
                    && inc.meta.last_log_id == chunk.meta.last_log_id
                    && inc.total_len == chunk.total_len
                    && inc.file.written() == chunk.offset
            });
            if !continues {
                let err = ChunkError::OutOfOrder {
                    offset: chunk.offset,
                    have: slot.as_ref().map_or(0, |inc| inc.file.written()),
                    expected: slot
                        .as_ref()
                        .map(|inc| format!("snapshot up to {:?}", inc.meta.last_log_id)),
                };
                abandon(slot);
                return Err(err);
            }
        }
        let Some(incoming) = slot.as_mut() else {
            return Err(ChunkError::Poisoned);
        };
        if let Err(e) = incoming.file.append(&chunk.data) {
            abandon(slot);
            return Err(ChunkError::Io(e.to_string()));
        }
        incoming.chunks += 1;
        if incoming.file.written() < incoming.total_len {
            return Ok(Assembled::Partial);
        }
        let Some(done) = slot.take() else {
            return Err(ChunkError::Poisoned);
        };
        let data = done
            .file
            .finish()
            .map_err(|e| ChunkError::Io(e.to_string()))?;
        Ok(Assembled::Complete {
            vote: done.vote,
            meta: done.meta,
            data,
            chunks: done.chunks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot_file::test_support::{contents, meta};

    /// Files in the snapshot directory.
    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).expect("list").count()
    }

    fn chunk(id: u64, total: u64, offset: u64, data: &[u8]) -> SnapshotChunk {
        SnapshotChunk {
            vote: Vote::new(1, 1),
            meta: meta(id),
            total_len: total,
            offset,
            data: data.to_vec(),
        }
    }

    #[test]
    fn chunks_in_order_give_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = SnapshotAssembler::new(dir.path());
        assert!(matches!(
            a.add(1, chunk(1, 5, 0, b"ab")),
            Ok(Assembled::Partial)
        ));
        assert!(matches!(
            a.add(1, chunk(1, 5, 2, b"cd")),
            Ok(Assembled::Partial)
        ));
        match a.add(1, chunk(1, 5, 4, b"e")) {
            Ok(Assembled::Complete {
                data, meta, chunks, ..
            }) => {
                assert_eq!(contents(&data), b"abcde");
                assert_eq!(meta, crate::snapshot_file::test_support::meta(1));
                assert_eq!(chunks, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_chunk_leaves_a_gap_or_comes_from_another_snapshot_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = SnapshotAssembler::new(dir.path());
        a.add(1, chunk(1, 6, 0, b"ab")).expect("first");
        assert!(matches!(
            a.add(1, chunk(1, 6, 3, b"d")),
            Err(ChunkError::OutOfOrder {
                offset: 3,
                have: 2,
                ..
            })
        ));
        // The half-received snapshot was dropped: its next chunk is refused too.
        assert!(a.add(1, chunk(1, 6, 2, b"cd")).is_err());
        a.add(1, chunk(1, 6, 0, b"ab")).expect("start again");
        assert!(a.add(1, chunk(2, 6, 2, b"cd")).is_err(), "other snapshot");
        a.add(1, chunk(1, 6, 0, b"ab")).expect("start again");
        assert!(a.add(2, chunk(1, 6, 2, b"cd")).is_err(), "other sender");
        assert!(a.add(1, chunk(1, 6, 2, b"cd")).is_err(), "dropped");
        assert_eq!(files(dir.path()), 0, "dropped snapshots leave no file");
    }

    #[test]
    fn a_new_first_chunk_replaces_a_half_received_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = SnapshotAssembler::new(dir.path());
        a.add(1, chunk(1, 4, 0, b"ab")).expect("first");
        a.add(2, chunk(2, 3, 0, b"xy"))
            .expect("a new leader starts over");
        match a.add(2, chunk(2, 3, 2, b"z")) {
            Ok(Assembled::Complete { data, .. }) => {
                assert_eq!(contents(&data), b"xyz");
                assert_eq!(files(dir.path()), 1, "only the complete snapshot's file");
                // A snapshot started while a complete one is being installed
                // goes to a file of its own.
                a.add(2, chunk(3, 3, 0, b"pq")).expect("next snapshot");
                assert_eq!(contents(&data), b"xyz");
                assert_eq!(files(dir.path()), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lengths_that_do_not_add_up_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = SnapshotAssembler::new(dir.path());
        assert!(matches!(
            a.add(1, chunk(1, 2, 0, b"abc")),
            Err(ChunkError::Overrun { .. })
        ));
        assert!(matches!(
            a.add(1, chunk(1, u64::MAX, u64::MAX, b"a")),
            Err(ChunkError::Overrun { .. })
        ));
        assert!(matches!(
            a.add(1, chunk(1, 2, 0, b"")),
            Err(ChunkError::Empty { .. })
        ));
        // An empty snapshot is one empty chunk.
        assert!(matches!(
            a.add(1, chunk(1, 0, 0, b"")),
            Ok(Assembled::Complete { .. })
        ));
    }

    #[test]
    fn a_chunk_by_reference_decodes_as_an_owned_chunk() {
        let vote = Vote::new(2, 3);
        let meta = meta(9);
        let bytes = bincode::serialize(&SnapshotChunkRef {
            vote: &vote,
            meta: &meta,
            total_len: 10,
            offset: 4,
            data: RawBytes(b"wxyz"),
        })
        .expect("encode");
        let back: SnapshotChunk = bincode::deserialize(&bytes).expect("decode");
        assert_eq!((back.total_len, back.offset), (10, 4));
        assert_eq!(back.data, b"wxyz");
        assert_eq!(back.meta, meta);
    }
}
