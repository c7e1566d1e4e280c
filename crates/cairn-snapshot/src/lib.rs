//! etcd snapshot files for Cairn: a bbolt reader and writer (`bbolt`), etcd's schema
//! inside the database (`schema`) and the SHA-256 trailer plus `snapshot status`
//! (`file`). No knowledge of Raft or of Cairn's own storage.

pub mod bbolt;
pub mod error;
pub mod file;
pub mod schema;

pub use bbolt::{BoltBuilder, BoltReader, BucketWriter};
pub use error::SnapshotError;
pub use file::{split_trailer, status, verify, with_trailer, Status, StreamVerifier};
pub use schema::{
    read_etcd, read_etcd_borrowed, write_etcd, write_etcd_with_key_rows, EtcdData, Member,
};
