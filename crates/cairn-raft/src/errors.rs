//! Errors of the Raft layer and their etcd-visible gRPC form.

use cairn_mvcc::KvError;
use tonic::{Code, Status};

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("state machine: {0}")]
    Store(String),
    #[error("raft: {0}")]
    Raft(String),
}

/// Why a proposal or a linearizable read failed. Display is etcd's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    #[error("etcdserver: server stopped")]
    Stopped,
    #[error("etcdserver: request is too large")]
    TooLarge,
    #[error("{1}")]
    Remote(Code, String),
}

impl ProposeError {
    pub fn to_status(&self) -> Status {
        let code = match self {
            ProposeError::TooLarge => Code::InvalidArgument,
            ProposeError::Remote(code, _) => *code,
            _ => Code::Unavailable,
        };
        Status::new(code, self.to_string())
    }
}

/// The gRPC status etcd returns for a store error.
pub fn kv_error_status(e: &KvError) -> Status {
    Status::new(Code::from_i32(e.code().as_u32() as i32), e.to_string())
}
