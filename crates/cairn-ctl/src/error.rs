//! How cairnctl fails: etcdctl's exit codes (pkg/cobrautl), the
//! `Error: <message>` line, and the translation of gRPC statuses into the
//! strings etcd's Go client reports (`etcdserver: ...` for errors etcd knows,
//! `rpc error: code = X desc = Y` otherwise, `context deadline exceeded` when
//! the command's own deadline passed).

use std::io::Write;

/// etcdctl's exit codes.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const BAD_CONNECTION: i32 = 2;
    pub const INVALID_INPUT: i32 = 3;
    pub const BAD_FEATURE: i32 = 4;
    pub const INTERRUPTED: i32 = 5;
    pub const BAD_ARGS: i32 = 128;
    /// What a Go program exits with after a panic.
    pub const PANIC: i32 = 2;
}

/// A failure that ends the command.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CtlError {
    /// Printed as `Error: <message>` on stderr, then exit with `code`.
    #[error("{message}")]
    Exit { code: i32, message: String },
    /// Exit with `code` without printing anything more.
    #[error("exit status {0}")]
    Silent(i32),
    /// What etcdctl does by panicking: `panic: <message>` and exit 2.
    #[error("panic: {0}")]
    Panic(String),
}

impl CtlError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CtlError::Exit {
            code,
            message: message.into(),
        }
    }

    /// `cobrautl.ExitError` (1).
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(exit::ERROR, message)
    }

    /// `cobrautl.ExitBadArgs` (128).
    pub fn bad_args(message: impl Into<String>) -> Self {
        Self::new(exit::BAD_ARGS, message)
    }

    /// `cobrautl.ExitBadFeature` (4).
    pub fn bad_feature(message: impl Into<String>) -> Self {
        Self::new(exit::BAD_FEATURE, message)
    }

    /// `cobrautl.ExitInvalidInput` (3).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(exit::INVALID_INPUT, message)
    }

    /// Reports the error on stderr the way etcdctl does and returns the exit code.
    pub fn report(&self, stderr: &mut dyn Write) -> i32 {
        match self {
            CtlError::Exit { code, message } => {
                let _ = writeln!(stderr, "Error: {message}");
                *code
            }
            CtlError::Silent(code) => *code,
            CtlError::Panic(message) => {
                let _ = writeln!(stderr, "panic: {message}\n\ngoroutine 1 [running]:");
                exit::PANIC
            }
        }
    }
}

/// gRPC status codes by the names grpc-go prints.
pub fn go_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// grpc-go's rendering of a status error.
pub fn go_status_string(code: tonic::Code, message: &str) -> String {
    format!("rpc error: code = {} desc = {message}", go_code_name(code))
}

/// Server error messages etcd's client recognises and reports bare (the
/// `errStringToError` table of etcd's `rpctypes`).
const ETCD_ERRORS: &[&str] = &[
    "etcdserver: key is not provided",
    "etcdserver: key not found",
    "etcdserver: value is provided",
    "etcdserver: lease is provided",
    "etcdserver: too many operations in txn request",
    "etcdserver: duplicate key given in txn request",
    "etcdserver: mvcc: required revision has been compacted",
    "etcdserver: mvcc: required revision is a future revision",
    "etcdserver: mvcc: database space exceeded",
    "etcdserver: requested lease not found",
    "etcdserver: lease already exists",
    "etcdserver: too large lease TTL",
    "etcdserver: member ID already exist",
    "etcdserver: Peer URLs already exists",
    "etcdserver: re-configuration failed due to not enough started members",
    "etcdserver: given member URLs are invalid",
    "etcdserver: member not found",
    "etcdserver: can only promote a learner member",
    "etcdserver: can only promote a learner member which is in sync with leader",
    "etcdserver: too many learner members in cluster",
    "etcdserver: request is too large",
    "etcdserver: too many requests",
    "etcdserver: root user does not exist",
    "etcdserver: root user does not have root role",
    "etcdserver: user name already exists",
    "etcdserver: user name is empty",
    "etcdserver: user name not found",
    "etcdserver: role name already exists",
    "etcdserver: role name not found",
    "etcdserver: role name is empty",
    "etcdserver: authentication failed, invalid user ID or password",
    "etcdserver: permission denied",
    "etcdserver: role is not granted to the user",
    "etcdserver: permission is not granted to the role",
    "etcdserver: authentication is not enabled",
    "etcdserver: invalid auth token",
    "etcdserver: invalid auth management",
    "etcdserver: no leader",
    "etcdserver: not leader",
    "etcdserver: leader changed",
    "etcdserver: not capable",
    "etcdserver: server stopped",
    "etcdserver: request timed out",
    "etcdserver: request timed out, possibly due to previous leader failure",
    "etcdserver: request timed out, possibly due to connection lost",
    "etcdserver: unhealthy cluster",
    "etcdserver: corrupt cluster",
    "etcdserver: rpc not supported for learner",
    "etcdserver: bad leader transferee",
    "etcdserver: cluster version not found during downgrade",
    "etcdserver: wrong downgrade target version format",
    "etcdserver: invalid downgrade target version",
    "etcdserver: cluster has a downgrade job in progress",
    "etcdserver: no inflight downgrade job",
];

/// Whether `message` is one of the server errors etcd's client knows by name.
pub fn is_etcd_error(message: &str) -> bool {
    ETCD_ERRORS.contains(&message)
}

/// The message etcd's Go client turns a failed RPC into.
pub fn client_error_message(code: tonic::Code, message: &str) -> String {
    if is_etcd_error(message) {
        message.to_string()
    } else {
        go_status_string(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_errors_are_bare() {
        assert_eq!(
            client_error_message(
                tonic::Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted"
            ),
            "etcdserver: mvcc: required revision has been compacted"
        );
        assert_eq!(
            client_error_message(tonic::Code::Cancelled, "boom"),
            "rpc error: code = Canceled desc = boom"
        );
    }

    #[test]
    fn reports_like_cobrautl() {
        let mut buf = Vec::new();
        let code = CtlError::bad_args("x").report(&mut buf);
        assert_eq!(code, 128);
        assert_eq!(buf, b"Error: x\n");
    }
}
