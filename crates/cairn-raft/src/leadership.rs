//! Leadership transfer (etcd's MoveLeader): the leader hands leadership to a
//! voter that is up to date, through openraft's leader transfer, and waits until
//! the target has taken over.

use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use tonic::Code;

use crate::errors::ProposeError;
use crate::node::RaftNode;
use crate::types::MemberId;

impl RaftNode {
    /// Moves leadership to `target`; etcd's errors when this member is not the
    /// leader, the target is not a voter, or the transfer takes too long.
    pub async fn move_leader(&self, target: MemberId) -> Result<(), ProposeError> {
        if !self.is_leader() {
            return Err(ProposeError::Remote(
                Code::FailedPrecondition,
                "etcdserver: not leader".into(),
            ));
        }
        let is_voter = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow_watched();
            let voter = m
                .membership_config
                .membership()
                .voter_ids()
                .any(|v| v == target);
            voter
        };
        if !is_voter {
            return Err(ProposeError::Remote(
                Code::FailedPrecondition,
                "etcdserver: bad leader transferee".into(),
            ));
        }
        if target == self.member_id() {
            return Ok(());
        }
        tracing::info!(target = format!("{target:x}"), "moving leadership");
        self.inner
            .raft
            .trigger()
            .transfer_leader(target)
            .await
            .map_err(|_| ProposeError::Stopped)?;
        let deadline = Instant::now() + self.inner.request_timeout;
        loop {
            let leader = self.inner.raft.metrics().borrow_watched().current_leader;
            if leader == Some(target) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ProposeError::Remote(
                    Code::Unavailable,
                    "etcdserver: request timed out, leader transfer took too long".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
