//! Raft snapshots travel between members in chunks.
//!
//! A snapshot holds the whole key space, so sending it as one peer message
//! capped its size at the gRPC message limit (2 GiB) and made both ends hold
//! several encoded copies of it at once. The leader instead sends it as a
//! sequence of [`SnapshotChunk`]s of at most [`CHUNK_BYTES`] each, in order;
//! the follower's [`SnapshotAssembler`] appends them and, with the last one,
//! hands the whole snapshot to openraft. A chunk that does not continue the
//! snapshot being received is refused, and the leader starts again from the
//! first chunk (openraft retries a failed snapshot send).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::types::{MemberId, RawBytes, SnapshotMeta, Vote};

/// Largest piece of snapshot data in one peer message.
pub const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Most the receiver reserves up front, whatever length a sender announces.
const MAX_RESERVE: u64 = 64 * 1024 * 1024;

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
}

/// What adding a chunk gave.
#[derive(Debug)]
pub enum Assembled {
    /// More chunks are to come.
    Partial,
    /// The last chunk arrived: the whole snapshot, and how many chunks it took.
    Complete {
        vote: Vote,
        meta: SnapshotMeta,
        data: Vec<u8>,
        chunks: u64,
    },
}

/// The snapshot being received (one at a time per member).
struct Incoming {
    from: MemberId,
    vote: Vote,
    meta: SnapshotMeta,
    total_len: u64,
    data: Vec<u8>,
    chunks: u64,
}

/// Puts a follower's incoming snapshot back together.
#[derive(Default)]
pub struct SnapshotAssembler {
    incoming: Mutex<Option<Incoming>>,
}

impl SnapshotAssembler {
    /// Adds `chunk`, sent by member `from`. A chunk at offset 0 starts a new
    /// snapshot and drops any half-received one; any other chunk must continue
    /// the snapshot being received from the same member, right where it ends.
    pub fn add(&self, from: MemberId, chunk: SnapshotChunk) -> Result<Assembled, ChunkError> {
        let mut slot = self.incoming.lock().map_err(|_| ChunkError::Poisoned)?;
        let len = chunk.data.len() as u64;
        let end = chunk.offset.checked_add(len);
        if end.is_none_or(|end| end > chunk.total_len) {
            *slot = None;
            return Err(ChunkError::Overrun {
                total_len: chunk.total_len,
                offset: chunk.offset,
                len,
            });
        }
        if len == 0 && chunk.offset < chunk.total_len {
            *slot = None;
            return Err(ChunkError::Empty {
                offset: chunk.offset,
                total_len: chunk.total_len,
            });
        }
        if chunk.offset == 0 {
            *slot = Some(Incoming {
                from,
                vote: chunk.vote,
                meta: chunk.meta,
                total_len: chunk.total_len,
                data: Vec::with_capacity(chunk.total_len.min(MAX_RESERVE) as usize),
                chunks: 0,
            });
        } else {
            let continues = slot.as_ref().is_some_and(|inc| {
                inc.from == from
                    && inc.vote == chunk.vote
                    && inc.meta.last_log_id == chunk.meta.last_log_id
                    && inc.total_len == chunk.total_len
                    && inc.data.len() as u64 == chunk.offset
            });
            if !continues {
                let err = ChunkError::OutOfOrder {
                    offset: chunk.offset,
                    have: slot.as_ref().map_or(0, |inc| inc.data.len() as u64),
                    expected: slot
                        .as_ref()
                        .map(|inc| format!("snapshot up to {:?}", inc.meta.last_log_id)),
                };
                *slot = None;
                return Err(err);
            }
        }
        let Some(incoming) = slot.as_mut() else {
            return Err(ChunkError::Poisoned);
        };
        incoming.data.extend_from_slice(&chunk.data);
        incoming.chunks += 1;
        if (incoming.data.len() as u64) < incoming.total_len {
            return Ok(Assembled::Partial);
        }
        let Some(done) = slot.take() else {
            return Err(ChunkError::Poisoned);
        };
        Ok(Assembled::Complete {
            vote: done.vote,
            meta: done.meta,
            data: done.data,
            chunks: done.chunks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot's meta, told apart by the index it was taken at.
    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(crate::types::LogId::new_term_index(1, index)),
            ..Default::default()
        }
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
        let a = SnapshotAssembler::default();
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
                assert_eq!(data, b"abcde");
                assert_eq!(meta, super::tests::meta(1));
                assert_eq!(chunks, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_chunk_leaves_a_gap_or_comes_from_another_snapshot_is_refused() {
        let a = SnapshotAssembler::default();
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
    }

    #[test]
    fn a_new_first_chunk_replaces_a_half_received_snapshot() {
        let a = SnapshotAssembler::default();
        a.add(1, chunk(1, 4, 0, b"ab")).expect("first");
        a.add(2, chunk(2, 3, 0, b"xy"))
            .expect("a new leader starts over");
        match a.add(2, chunk(2, 3, 2, b"z")) {
            Ok(Assembled::Complete { data, .. }) => assert_eq!(data, b"xyz"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lengths_that_do_not_add_up_are_refused() {
        let a = SnapshotAssembler::default();
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
