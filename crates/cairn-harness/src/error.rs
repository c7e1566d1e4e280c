//! The harness's error type: every failure says which member or endpoint it
//! concerns and, for member failures, carries the tail of that member's log.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias for harness operations.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Why a harness operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A member did not report `"health":"true"` before the deadline.
    #[error(
        "member {name} not healthy after {waited:?} (last /health answer: {last}); \
         tail of {log}:\n{tail}"
    )]
    NotHealthy {
        /// Member name.
        name: String,
        /// How long the harness waited.
        waited: Duration,
        /// The last answer (or error) from `/health`.
        last: String,
        /// The member's log file.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// A member process exited while the harness waited for it to become healthy.
    #[error("member {name} exited with {status} while starting; tail of {log}:\n{tail}")]
    ExitedEarly {
        /// Member name.
        name: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The member's log file.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// No gRPC connection could be made before the deadline.
    #[error("could not connect to {endpoint} within {waited:?}: {last}")]
    Connect {
        /// The endpoint URL.
        endpoint: String,
        /// How long the harness tried.
        waited: Duration,
        /// The last connection error.
        last: String,
    },
    /// A gRPC call failed.
    #[error("{call} on {endpoint}: {status}")]
    Rpc {
        /// The call, e.g. `Maintenance.Status`.
        call: &'static str,
        /// The endpoint URL.
        endpoint: String,
        /// The gRPC status.
        status: Box<tonic::Status>,
    },
    /// A member index outside the cluster, or an operation that needs a
    /// running (or stopped) member.
    #[error("member {index}: {problem}")]
    Member {
        /// Member index.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// An `ip`/`tc` command of network-namespace mode failed.
    #[error("`{command}` failed: {problem}")]
    Network {
        /// The command line.
        command: String,
        /// Its exit status and stderr.
        problem: String,
    },
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

impl HarnessError {
    /// Wraps an I/O error with what the harness was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> HarnessError {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }
}
