//! The public entry point: splits a history into the model's partitions,
//! searches them (on several threads when there are several), enforces the
//! time budget, and combines the partitions' results into one [`Verdict`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::history::Operation;
use crate::model::Model;
use crate::search::{search, Outcome};

/// The result of checking a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every partition has a linearization.
    Ok,
    /// Partition number `partition` (in the order [`Model::partition`] returned
    /// them) has no linearization. `longest_prefix` lists, as indexes into the
    /// checked history and in linearization order, the longest prefix of a
    /// linearization the search found for it: the operation that could not be
    /// placed after it is usually the culprit (or one of its neighbours).
    /// When several partitions are illegal, the lowest-numbered one found is
    /// reported.
    Illegal {
        partition: usize,
        longest_prefix: Vec<usize>,
    },
    /// The time budget ran out before every partition was decided, and none
    /// found so far is illegal. This is not a pass.
    Unknown,
}

/// Checks whether `history` is linearizable with respect to `model`, spending
/// at most about `budget` of wall-clock time.
///
/// # Panics
///
/// If an operation returns before it is called (`ret < call`), or the model's
/// partition lists an index outside `history`: both are bugs in the caller,
/// not properties of the system under test.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Duration,
) -> Verdict {
    for (i, op) in history.iter().enumerate() {
        assert!(
            op.call <= op.ret,
            "operation {i} returns ({}) before it is called ({})",
            op.ret,
            op.call
        );
    }
    let partitions = model.partition(history);
    for part in &partitions {
        if let Some(&bad) = part.iter().find(|&&i| i >= history.len()) {
            panic!(
                "partition lists operation {bad}, history has {}",
                history.len()
            );
        }
    }

    let deadline = Instant::now().checked_add(budget);
    let illegal_found = AtomicBool::new(false);
    let should_stop =
        || illegal_found.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d);
    let next_partition = AtomicUsize::new(0);
    // Each worker takes the next unchecked partition until none is left.
    let work = || {
        let mut results = Vec::new();
        loop {
            let p = next_partition.fetch_add(1, Ordering::Relaxed);
            let Some(members) = partitions.get(p) else {
                return results;
            };
            let outcome = search(model, history, members, &should_stop);
            if matches!(outcome, Outcome::Illegal { .. }) {
                illegal_found.store(true, Ordering::Relaxed);
            }
            results.push((p, outcome));
        }
    };

    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(partitions.len());
    let mut results: Vec<(usize, Outcome)> = if workers <= 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(r) => r,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    };
    results.sort_by_key(|(p, _)| *p);

    let mut stopped = false;
    for (p, outcome) in results {
        match outcome {
            Outcome::Linearizable => {}
            Outcome::Stopped => stopped = true,
            Outcome::Illegal { longest } => {
                let members = &partitions[p];
                return Verdict::Illegal {
                    partition: p,
                    longest_prefix: longest.into_iter().map(|k| members[k]).collect(),
                };
            }
        }
    }
    if stopped {
        Verdict::Unknown
    } else {
        Verdict::Ok
    }
}
