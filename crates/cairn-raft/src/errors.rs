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
    /// This member was removed from its cluster (the ID is this member's).
    #[error("member {0:x}: the member has been permanently removed from the cluster")]
    Removed(u64),
    /// This member's cluster was superseded by a recovered one (the message says how to rejoin).
    #[error("{0}")]
    Superseded(String),
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

/// Why a membership change was refused. Display is etcd's message; the gRPC code
/// is etcd's too (see [`MembershipError::to_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("etcdserver: given member URLs are invalid")]
    BadUrls,
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    #[error("etcdserver: member ID already exist")]
    MemberExists,
    #[error("etcdserver: member not found")]
    NotFound,
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStarted,
    #[error("etcdserver: unhealthy cluster")]
    Unhealthy,
    #[error("etcdserver: can only promote a learner member")]
    NotLearner,
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
    #[error("{0}")]
    Propose(ProposeError),
}

impl MembershipError {
    pub fn to_status(&self) -> Status {
        let code = match self {
            MembershipError::BadUrls => Code::InvalidArgument,
            MembershipError::NotFound => Code::NotFound,
            MembershipError::Unhealthy => Code::Unavailable,
            // etcd 3.5's Cluster service does not map this one: clients see Unknown.
            MembershipError::NotEnoughStarted => Code::Unknown,
            MembershipError::Propose(e) => return e.to_status(),
            _ => Code::FailedPrecondition,
        };
        Status::new(code, self.to_string())
    }
}

impl From<ProposeError> for MembershipError {
    fn from(e: ProposeError) -> Self {
        MembershipError::Propose(e)
    }
}
