//! Batching of linearizable reads onto shared ReadIndex rounds, as etcd's
//! linearizable read loop does.
//!
//! A linearizable read needs a read index obtained from the leader *after* the
//! read arrived; the read may then be answered from local state once this member
//! has applied up to that index. Every read asking for its own index costs a
//! trip through openraft's core and, on a follower, a peer RPC to the leader.
//! Instead, [`ReadIndexBatcher`] runs one round at a time: reads that arrive
//! while a round is in flight wait for the next round, which starts after all of
//! them arrived, so its index is valid for every one of them. A round's outcome
//! is shared by all the reads that joined it.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::errors::ProposeError;

/// What one ReadIndex round gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RoundOutcome {
    /// The leader's commit index, confirmed with a quorum after the round began.
    Index(u64),
    /// No index this time (no leader known, leader unreachable or changing);
    /// the read may try again with a later round.
    Again { leader_known: bool },
    /// The read fails with this error.
    Fail(ProposeError),
}

#[derive(Default)]
struct Batch {
    /// Whether a task is running rounds; it keeps going while reads wait.
    running: bool,
    /// Reads waiting for the next round (they arrived after the current one began).
    waiting: Vec<oneshot::Sender<RoundOutcome>>,
}

/// One ReadIndex round at a time, shared by every read that arrived before it began.
#[derive(Default)]
pub(crate) struct ReadIndexBatcher {
    batch: Mutex<Batch>,
}

impl ReadIndexBatcher {
    /// Waits for the outcome of a round that begins after this call. `round`
    /// runs one round; it is called from a spawned task, once per round, for as
    /// long as reads keep arriving.
    pub(crate) async fn read_index<R, F>(self: &Arc<Self>, round: R) -> RoundOutcome
    where
        R: Fn() -> F + Send + Sync + 'static,
        F: Future<Output = RoundOutcome> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let Ok(mut batch) = self.batch.lock() else {
                return RoundOutcome::Fail(ProposeError::Stopped);
            };
            batch.waiting.push(tx);
            !std::mem::replace(&mut batch.running, true)
        };
        if start {
            let this = Arc::clone(self);
            tokio::spawn(async move { this.run_rounds(round).await });
        }
        // The sender is only dropped unanswered if the round task died.
        rx.await
            .unwrap_or(RoundOutcome::Fail(ProposeError::Stopped))
    }

    async fn run_rounds<R, F>(&self, round: R)
    where
        R: Fn() -> F,
        F: Future<Output = RoundOutcome>,
    {
        let _unwind = ResetOnPanic(&self.batch);
        loop {
            // Everyone taken here arrived before the round below begins.
            let readers = {
                let Ok(mut batch) = self.batch.lock() else {
                    return;
                };
                if batch.waiting.is_empty() {
                    batch.running = false;
                    return;
                }
                std::mem::take(&mut batch.waiting)
            };
            let outcome = round().await;
            for reader in readers {
                // A reader that gave up (its client went away) no longer listens.
                let _ = reader.send(outcome.clone());
            }
        }
    }
}

/// Lets the next read start a new round task if this one panics mid-round:
/// otherwise `running` would stay set and every later read would wait forever.
/// The reads queued meanwhile are dropped, so they fail instead of hanging.
struct ResetOnPanic<'a>(&'a Mutex<Batch>);

impl Drop for ResetOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut batch = match self.0.lock() {
                Ok(batch) => batch,
                Err(poisoned) => poisoned.into_inner(),
            };
            batch.running = false;
            batch.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    /// A round that takes 20 ms and answers with its own sequence number as the
    /// index, recording when it began.
    fn counting_round(
        rounds: Arc<AtomicU64>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = RoundOutcome> + Send>> + Send + Sync
    {
        move || {
            let rounds = rounds.clone();
            Box::pin(async move {
                let n = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                RoundOutcome::Index(n)
            })
        }
    }

    #[tokio::test]
    async fn concurrent_reads_share_rounds() {
        let batcher = Arc::new(ReadIndexBatcher::default());
        let rounds = Arc::new(AtomicU64::new(0));
        let mut reads = Vec::new();
        for _ in 0..100 {
            let batcher = batcher.clone();
            let round = counting_round(rounds.clone());
            reads.push(tokio::spawn(async move { batcher.read_index(round).await }));
        }
        for read in reads {
            assert!(matches!(read.await, Ok(RoundOutcome::Index(_))));
        }
        // The first read starts a round; the other 99 arrive while it runs and
        // share the second one (or a few, depending on scheduling).
        assert!(rounds.load(Ordering::SeqCst) <= 3, "{rounds:?}");
    }

    #[tokio::test]
    async fn a_read_never_gets_a_round_that_began_before_it_arrived() {
        let batcher = Arc::new(ReadIndexBatcher::default());
        let rounds = Arc::new(AtomicU64::new(0));
        let first = {
            let batcher = batcher.clone();
            let round = counting_round(rounds.clone());
            tokio::spawn(async move { batcher.read_index(round).await })
        };
        // Arrive while round 1 is in flight: only round 2 may answer.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
        let second = batcher.read_index(counting_round(rounds.clone())).await;
        assert_eq!(first.await.ok(), Some(RoundOutcome::Index(1)));
        assert_eq!(second, RoundOutcome::Index(2));
        // Idle again: a later read starts a fresh round.
        let third = batcher.read_index(counting_round(rounds.clone())).await;
        assert_eq!(third, RoundOutcome::Index(3));
    }

    #[tokio::test]
    async fn a_panicking_round_fails_its_reads_and_the_next_read_gets_a_round() {
        let batcher = Arc::new(ReadIndexBatcher::default());
        let panicking = || -> std::pin::Pin<Box<dyn Future<Output = RoundOutcome> + Send>> {
            Box::pin(async { panic!("round failed") })
        };
        assert_eq!(
            batcher.read_index(panicking).await,
            RoundOutcome::Fail(ProposeError::Stopped)
        );
        let rounds = Arc::new(AtomicU64::new(0));
        let next = tokio::time::timeout(
            Duration::from_secs(5),
            batcher.read_index(counting_round(rounds)),
        )
        .await;
        assert_eq!(next, Ok(RoundOutcome::Index(1)));
    }
}
