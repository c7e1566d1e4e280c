//! Building a state snapshot from another store's data, for restoring an etcd
//! snapshot file: the `kv` table has etcd's key-bucket layout, so the bucket's
//! rows are copied as they are. The result is installed with
//! `Store::install_snapshot`, which checks it like any other snapshot, or
//! saved as a restored member's Raft snapshot next to a store created from the
//! same rows (`create_store`).

use std::io::Write;

use cairn_proto::cairnpb::MemberAttributes;
use prost::Message;

use crate::backend::{self, Meta};
use crate::error::StoreError;
use crate::lease;
use crate::revision;
use crate::snapshot::{TableId, Writer};

/// Collects rows and writes them in the snapshot format, to memory
/// ([`SnapshotBuilder::new`]) or to any stream ([`SnapshotBuilder::to_stream`]).
pub struct SnapshotBuilder<W: Write = Vec<u8>> {
    writer: Writer<W>,
    max_rev: i64,
}

impl Default for SnapshotBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SnapshotBuilder<Vec<u8>> {
    pub fn new() -> SnapshotBuilder {
        SnapshotBuilder {
            writer: Writer::new(),
            max_rev: 1,
        }
    }

    /// A builder whose buffer starts with room for `bytes` (rows of `n` bytes
    /// of key and value take a little more than `n`, see [`crate::record_size`]).
    pub fn with_capacity(bytes: usize) -> SnapshotBuilder {
        SnapshotBuilder {
            writer: Writer::with_capacity(bytes),
            max_rev: 1,
        }
    }
}

impl<W: Write> SnapshotBuilder<W> {
    /// A builder that writes the snapshot to `out` as rows are added.
    pub fn to_stream(out: W) -> Result<SnapshotBuilder<W>, StoreError> {
        Ok(SnapshotBuilder {
            writer: Writer::to_stream(out)?,
            max_rev: 1,
        })
    }

    /// Adds one row of etcd's `key` bucket (17/18-byte revision key, protobuf
    /// `mvccpb.KeyValue` value).
    pub fn key_bucket_row(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (rev, _) = revision::decode(key).ok_or_else(|| {
            StoreError::Snapshot(format!("key bucket row {key:02x?} is not a revision"))
        })?;
        self.max_rev = self.max_rev.max(rev.main);
        self.writer.record(TableId::Kv, key, value)
    }

    /// Adds a granted lease.
    pub fn lease(&mut self, id: i64, ttl: i64) -> Result<(), StoreError> {
        self.writer.record(
            TableId::Leases,
            &id.to_be_bytes(),
            &lease::encode_record(ttl, 0),
        )
    }

    /// Adds a member's published attributes.
    pub fn member(&mut self, m: &MemberAttributes) -> Result<(), StoreError> {
        self.writer.record(
            TableId::Members,
            &m.member_id.to_be_bytes(),
            &m.encode_to_vec(),
        )
    }

    /// Finishes the blob. The current revision is `current_revision` if given,
    /// else the newest row's (at least the compact revision, at least 1), as
    /// etcd computes it when it opens a database. `compact_revision` is -1 if
    /// the source was never compacted. Returns the stream and the number of
    /// bytes written to it.
    pub fn finish(
        mut self,
        current_revision: Option<i64>,
        compact_revision: i64,
        applied_index: u64,
        raft_state: Option<Vec<u8>>,
    ) -> Result<(W, u64), StoreError> {
        let current_rev =
            current_revision.unwrap_or_else(|| self.max_rev.max(compact_revision).max(1));
        let meta = Meta {
            current_rev,
            compact_rev: compact_revision,
            applied_index,
            raft_state,
            alarms: Vec::new(),
        };
        for (key, value) in backend::meta_rows(&meta) {
            self.writer.record(TableId::Meta, key.as_bytes(), &value)?;
        }
        self.writer.finish()
    }
}
