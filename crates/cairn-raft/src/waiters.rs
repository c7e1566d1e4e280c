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

    /// Called for every applied entry: hands the result to its waiter, if any.
    pub fn complete(&self, id: u64, response: &InternalResponse) {
        if id == 0 {
            return;
        }
        let waiter = self.0.lock().ok().and_then(|mut map| map.remove(&id));
        if let Some(tx) = waiter {
            let _ = tx.send(response.clone());
        }
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
        waiters.complete(0, &response(1)); // not forwarded: nobody waits
        waiters.complete(7, &response(2));
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
        waiters.complete(9, &response(3)); // nothing to deliver to, no panic
    }
}
