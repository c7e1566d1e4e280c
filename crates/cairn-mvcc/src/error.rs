//! Errors of the state machine.
//!
//! [`KvError`] is what a client may see: each variant carries etcd's exact message
//! and gRPC status code, because client libraries match on them. [`StoreError`] is a
//! storage failure (I/O, redb, corruption) and never reaches a client as such.

use std::path::PathBuf;

/// gRPC status codes (numbered as gRPC numbers them), without depending on tonic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum KvErrorCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl KvErrorCode {
    /// The numeric gRPC code (what `tonic::Code::from(i32)` expects).
    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

/// An error etcd would return to a client, with etcd's exact text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRev,
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    /// The CORRUPT alarm is raised: writes are refused cluster-wide.
    #[error("etcdserver: corrupt cluster")]
    Corrupt,
    /// A storage failure or misuse surfaced on a read path; the text is Cairn's own.
    #[error("{0}")]
    Internal(String),
}

impl KvError {
    /// The gRPC code etcd answers this error with.
    pub fn code(&self) -> KvErrorCode {
        use KvError::*;
        match self {
            EmptyKey | KeyNotFound | ValueProvided | LeaseProvided | TooManyOps | DuplicateKey
            | RequestTooLarge => KvErrorCode::InvalidArgument,
            Compacted | FutureRev | LeaseTtlTooLarge => KvErrorCode::OutOfRange,
            NoSpace => KvErrorCode::ResourceExhausted,
            LeaseNotFound => KvErrorCode::NotFound,
            LeaseExists => KvErrorCode::FailedPrecondition,
            Corrupt => KvErrorCode::DataLoss,
            Internal(_) => KvErrorCode::Internal,
        }
    }
}

impl From<StoreError> for KvError {
    fn from(e: StoreError) -> Self {
        KvError::Internal(format!("cairn: storage failure: {e}"))
    }
}

/// A failure of the storage under the state machine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a Cairn state database, or its content is damaged.
    #[error("state database {path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// The file could not be opened or read.
    #[error("state database {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// redb failed while doing `context`.
    #[error("state database: {context}: {source}")]
    Db {
        context: &'static str,
        #[source]
        source: Box<redb::Error>,
    },
    /// The tables contradict each other or the in-memory index (a bug or damage).
    #[error("state database is inconsistent: {0}")]
    Inconsistent(String),
    /// A snapshot blob handed to `install_snapshot` is not valid.
    #[error("invalid state snapshot: {0}")]
    Snapshot(String),
    /// A snapshot could not be read from or written to its stream.
    #[error("state snapshot: {0}")]
    SnapshotIo(#[source] std::io::Error),
}

impl StoreError {
    /// A closure turning any redb error into a [`StoreError::Db`] with context.
    pub(crate) fn db<E: Into<redb::Error>>(context: &'static str) -> impl FnOnce(E) -> StoreError {
        move |e| StoreError::Db {
            context,
            source: Box::new(e.into()),
        }
    }
}

/// Internal error of an apply or read step: client-visible, or a storage failure.
#[derive(Debug)]
pub(crate) enum Error {
    Kv(KvError),
    Store(StoreError),
}

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        Error::Kv(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<Error> for KvError {
    fn from(e: Error) -> Self {
        match e {
            Error::Kv(k) => k,
            Error::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_match_etcd() {
        let cases = [
            (KvError::EmptyKey, "etcdserver: key is not provided", 3),
            (KvError::KeyNotFound, "etcdserver: key not found", 3),
            (KvError::ValueProvided, "etcdserver: value is provided", 3),
            (KvError::LeaseProvided, "etcdserver: lease is provided", 3),
            (
                KvError::TooManyOps,
                "etcdserver: too many operations in txn request",
                3,
            ),
            (
                KvError::DuplicateKey,
                "etcdserver: duplicate key given in txn request",
                3,
            ),
            (
                KvError::Compacted,
                "etcdserver: mvcc: required revision has been compacted",
                11,
            ),
            (
                KvError::FutureRev,
                "etcdserver: mvcc: required revision is a future revision",
                11,
            ),
            (
                KvError::NoSpace,
                "etcdserver: mvcc: database space exceeded",
                8,
            ),
            (
                KvError::LeaseNotFound,
                "etcdserver: requested lease not found",
                5,
            ),
            (KvError::LeaseExists, "etcdserver: lease already exists", 9),
            (
                KvError::LeaseTtlTooLarge,
                "etcdserver: too large lease TTL",
                11,
            ),
            (
                KvError::RequestTooLarge,
                "etcdserver: request is too large",
                3,
            ),
        ];
        for (err, msg, code) in cases {
            assert_eq!(err.to_string(), msg);
            assert_eq!(err.code().as_u32(), code, "{msg}");
        }
    }
}
