//! Proposals a follower forwarded to the leader, waiting for their own apply.
//!
//! A forwarded proposal carries a random `proposal_id`. When the connection to
//! the leader breaks mid-call (the leader died), the follower cannot tell whether
//! the leader appended it; like etcd, it then waits for the entry to be applied
//! locally (a new leader commits it if it was replicated) and answers with that
//! result, or times out if it never appears.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_proto::cairnpb::InternalResponse;
use tokio::sync::oneshot;

/// Shared between the state machine (which completes) and the node (which waits).
#[derive(Clone, Default)]
pub struct ProposalWaiters(Arc<Mutex<HashMap<u64, oneshot::Sender<InternalResponse>>>>);

/// A registered wait; unregisters itself when dropped.
pub struct Waiting {
    id: u64,
    waiters: ProposalWaiters,
    receiver: Option<oneshot::Receiver<InternalResponse>>,
}

impl ProposalWaiters {
    /// Registers `id` (non-zero) and returns the wait for its result.
    pub fn register(&self, id: u64) -> Waiting {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut map) = self.0.lock() {
            map.insert(id, tx);
        }
        Waiting {
            id,
            waiters: self.clone(),
            receiver: Some(rx),
        }
    }

    /// Called for every applied entry with its `proposal_id`: the waiter of
    /// that proposal, if a forwarded proposal with this id waits (removed from
    /// the set). `None` for 0, the id of proposals that were not forwarded.
    pub fn take(&self, id: u64) -> Option<Completion> {
        if id == 0 {
            return None;
        }
        let sender = self.0.lock().ok().and_then(|mut map| map.remove(&id))?;
        Some(Completion(sender))
    }
}

/// The waiter of one applied proposal, handed its result once.
pub struct Completion(oneshot::Sender<InternalResponse>);

impl Completion {
    /// Hands the applied result to the waiting proposer (gone is fine: it gave up).
    pub fn send(self, response: InternalResponse) {
        let _ = self.0.send(response);
    }
}

impl Waiting {
    /// The applied result, or `None` if it did not come within `timeout`.
    pub async fn result(mut self, timeout: std::time::Duration) -> Option<InternalResponse> {
        let rx = self.receiver.take()?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(mut map) = self.waiters.0.lock() {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn response(index: u64) -> InternalResponse {
        InternalResponse {
            applied_index: index,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn the_applied_result_reaches_its_waiter_only() {
        let waiters = ProposalWaiters::default();
        let mine = waiters.register(7);
        let other = waiters.register(8);
        assert!(waiters.take(0).is_none(), "not forwarded: nobody waits");
        waiters.take(7).expect("7 waits").send(response(2));
        assert_eq!(
            mine.result(Duration::from_secs(1))
                .await
                .map(|r| r.applied_index),
            Some(2)
        );
        assert_eq!(other.result(Duration::from_millis(20)).await, None);
    }

    #[tokio::test]
    async fn a_dropped_wait_is_forgotten() {
        let waiters = ProposalWaiters::default();
        drop(waiters.register(9));
        assert!(waiters.0.lock().map(|m| m.is_empty()).unwrap_or(false));
        assert!(waiters.take(9).is_none(), "nothing to deliver to");
    }
}
