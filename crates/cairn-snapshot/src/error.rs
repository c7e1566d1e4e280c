//! The error type shared by every module of this crate: each variant names one way a
//! snapshot file (or a request to build one) can be wrong.

use thiserror::Error;

/// Everything that can go wrong while reading, writing or verifying a snapshot.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The file is shorter than a structure it must contain.
    #[error("bbolt: file truncated: {0}")]
    Truncated(String),
    /// Neither meta page carries the bbolt magic number.
    #[error("bbolt: invalid magic in meta page {page}: {found:#x}")]
    BadMagic { page: u64, found: u32 },
    /// A meta page carries an unsupported format version.
    #[error("bbolt: unsupported version in meta page {page}: {found}")]
    BadVersion { page: u64, found: u32 },
    /// A meta page's FNV-1a checksum does not match its contents.
    #[error("bbolt: checksum error in meta page {page}")]
    BadChecksum { page: u64 },
    /// A meta page declares a page size this reader cannot use.
    #[error("bbolt: invalid page size {0}")]
    BadPageSize(u32),
    /// Both meta pages are unusable; carries the reason for each.
    #[error("bbolt: no valid meta page (meta 0: {meta0}; meta 1: {meta1})")]
    NoValidMeta { meta0: String, meta1: String },
    /// A page id lies beyond the high-water mark or the end of the file.
    #[error("bbolt: page {pgid} out of range (high-water mark {max})")]
    PageOutOfRange { pgid: u64, max: u64 },
    /// The id stored in a page header differs from the page's position.
    #[error("bbolt: page {expected} has id {found} in its header")]
    PageIdMismatch { expected: u64, found: u64 },
    /// A page has a type not allowed where it is referenced.
    #[error("bbolt: page {pgid} has unexpected flags {flags:#x}")]
    BadPageType { pgid: u64, flags: u16 },
    /// A page is reached twice while walking a tree (a cycle or a shared page).
    #[error("bbolt: page {0} referenced more than once (cycle or shared page)")]
    Cycle(u64),
    /// An element of a page points outside the page or is otherwise malformed.
    #[error("bbolt: bad element {index} in page {pgid}: {reason}")]
    BadElement {
        pgid: u64,
        index: usize,
        reason: String,
    },
    /// Keys are not strictly ascending.
    #[error("bbolt: keys out of order in bucket {bucket:?}")]
    UnsortedKeys { bucket: String },
    /// The named bucket does not exist, or the entry is not a bucket.
    #[error("bbolt: bucket {0:?} not found")]
    BucketNotFound(String),
    /// A bucket header or inline bucket is malformed.
    #[error("bbolt: bad bucket {name:?}: {reason}")]
    BadBucket { name: String, reason: String },
    /// The writer was given something bbolt cannot store.
    #[error("bbolt writer: {0}")]
    InvalidInput(String),
    /// The SHA-256 trailer does not match the file (etcd's wording).
    #[error("expected sha256 {expected}, got {actual}")]
    HashMismatch { expected: String, actual: String },
    /// The file has no SHA-256 trailer and the check was not skipped (etcd's wording).
    #[error("snapshot missing hash but --skip-hash-check=false")]
    MissingTrailer,
    /// An etcd schema value could not be decoded.
    #[error("etcd schema: bad value in bucket {bucket:?} key {key:?}: {reason}")]
    BadSchemaValue {
        bucket: String,
        key: String,
        reason: String,
    },
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
