//! What a recorded operation is: one client's call, its input, and its outcome.

/// Return time of an operation whose outcome is unknown (the client timed out
/// or lost its connection): it may have taken effect at any time after its call,
/// or never.
pub const PENDING: u64 = u64::MAX;

/// One operation of a history, as seen by the client that issued it.
///
/// Times are in any monotonic unit shared by all clients of a history
/// (nanoseconds since the start of the test, typically). An operation that
/// completed must have `call <= ret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client that issued the operation (informational; the checker only
    /// uses times).
    pub client: u64,
    /// What the client asked for.
    pub input: I,
    /// When the request was sent.
    pub call: u64,
    /// What the client got back (for an operation with unknown outcome, a value
    /// the model accepts from any state).
    pub output: O,
    /// When the response arrived, or [`PENDING`] if it never did.
    pub ret: u64,
}

impl<I, O> Operation<I, O> {
    /// Whether the operation's outcome is unknown (no response was received).
    pub fn is_pending(&self) -> bool {
        self.ret == PENDING
    }
}
