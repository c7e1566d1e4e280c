//! The search over one partition: Wing & Gong's backtracking search for a
//! linearization, with Lowe's memoization of (linearized set, state) pairs, as
//! in Porcupine.
//!
//! The search walks the [`Timeline`] from its start. At a call entry it tries
//! to linearize that operation next: if the model accepts it and the resulting
//! (set of linearized operations, state) pair has not been seen before, the
//! operation is lifted out of the timeline, pushed on a stack, and the walk
//! restarts from the start. Reaching a return entry means the operation it
//! belongs to was not linearized although it has completed, so no operation
//! called later may go first: the search backtracks by popping the last
//! linearized operation, putting it back, and trying the entry after it. The
//! history is linearizable when the timeline becomes empty, and illegal when a
//! backtrack finds the stack empty. The memo makes this exact: two paths that
//! reach the same set of linearized operations in the same state have the same
//! futures, so the second need not be explored.
//!
//! ## Unknown outcomes
//!
//! An operation with unknown outcome (the client got no response) has return
//! time [`crate::PENDING`], so its return entry sorts after every other entry
//! and never forces a backtrack before the end. The search still has to
//! linearize it somewhere, because it ends only when the timeline is empty.
//! That covers both possibilities:
//!
//! * it took effect at some point after its call: that point is one of the
//!   places the search tries;
//! * it never took effect: the search can place it after every completed
//!   operation of the partition. Nothing is linearized after it except other
//!   pending operations, so no observed output depends on its effect, which is
//!   indistinguishable from it never having happened — provided the model
//!   accepts it from whatever state is reached there. That is why a model must
//!   accept an unknown output from every state (see [`crate::Model`]).
//!
//! Pending operations can also be placed in any order among themselves at the
//! end, since each is accepted from every state.

use std::collections::HashSet;

use crate::bitset::Bitset;
use crate::history::Operation;
use crate::model::Model;
use crate::timeline::{Entry, Timeline};

/// How often (in search steps) the stop condition is polled.
const STOP_POLL_INTERVAL: u64 = 1024;

/// The result of searching one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    /// No linearization exists. `longest` is the longest prefix the search
    /// managed to linearize, as positions in the partition's member list, in
    /// linearization order.
    Illegal {
        longest: Vec<usize>,
    },
    /// The stop condition fired before the search finished.
    Stopped,
}

/// Searches for a linearization of the operations `history[members[k]]`.
/// `should_stop` is polled now and then; when it returns true the search gives
/// up with [`Outcome::Stopped`].
pub(crate) fn search<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    members: &[usize],
    should_stop: &dyn Fn() -> bool,
) -> Outcome {
    let times: Vec<(u64, u64)> = members
        .iter()
        .map(|&i| (history[i].call, history[i].ret))
        .collect();
    let mut timeline = Timeline::new(&times);
    let mut linearized = Bitset::new(members.len());
    let mut seen: HashSet<(Bitset, M::State)> = HashSet::new();
    // The linearized operations, in order: their call node and the state
    // before them.
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut longest: Vec<usize> = Vec::new();
    let mut state = model.init();
    let mut cursor = timeline.first();
    let mut steps: u64 = 0;

    while let Some(node) = cursor {
        if steps % STOP_POLL_INTERVAL == 0 && should_stop() {
            return Outcome::Stopped;
        }
        steps += 1;
        match timeline.entry(node) {
            Entry::Call { op, .. } => {
                let operation = &history[members[op]];
                let next_state = model.step(&state, &operation.input, &operation.output);
                cursor = timeline.next(node);
                let Some(next_state) = next_state else {
                    continue;
                };
                linearized.insert(op);
                let key = (linearized.clone(), next_state);
                if seen.contains(&key) {
                    linearized.remove(op);
                    continue;
                }
                let next_state = key.1.clone();
                seen.insert(key);
                stack.push((node, std::mem::replace(&mut state, next_state)));
                timeline.lift(node);
                cursor = timeline.first();
            }
            Entry::Return { .. } => {
                if stack.len() > longest.len() {
                    longest = stack.iter().map(|&(n, _)| call_op(&timeline, n)).collect();
                }
                let Some((call, previous)) = stack.pop() else {
                    return Outcome::Illegal { longest };
                };
                state = previous;
                linearized.remove(call_op(&timeline, call));
                timeline.unlift(call);
                cursor = timeline.next(call);
            }
        }
    }
    Outcome::Linearizable
}

fn call_op(timeline: &Timeline, node: usize) -> usize {
    match timeline.entry(node) {
        Entry::Call { op, .. } => op,
        Entry::Return { op } => op,
    }
}
