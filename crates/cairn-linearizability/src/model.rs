//! What a sequential specification is: the [`Model`] trait the checker tests
//! histories against.

use crate::history::Operation;

/// A sequential specification of a system.
///
/// `step` must be deterministic: from one state, one input and one output
/// there is at most one next state. An output that stands for "no effect"
/// (a definite error) should be accepted from every state without changing
/// it; an output that stands for "unknown outcome" must be accepted from every
/// state (see the comment on unknown outcomes in `search.rs` for why this is
/// what makes "maybe never happened" work).
///
/// The `Send`/`Sync` bounds let the checker search partitions on several
/// threads.
pub trait Model: Sync {
    /// The state of one partition.
    type State: Clone + Eq + std::hash::Hash + std::fmt::Debug + Send;
    /// What a client asks for.
    type Input: Clone + std::fmt::Debug + Sync;
    /// What a client gets back.
    type Output: Clone + std::fmt::Debug + Sync;

    /// The state every partition starts in.
    fn init(&self) -> Self::State;

    /// The state after applying `input` to `state`, if the system could have
    /// answered `output`; `None` if that output is impossible from `state`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// Splits a history into independent parts, as lists of indexes into
    /// `history`; each part is checked on its own, from [`Model::init`].
    /// Operations listed in no part are not checked at all (useful for
    /// operations that cannot constrain anything, like failed ones).
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..history.len()).collect()]
    }
}
