//! Asking the other members for their HashKV at a revision, over the peer port,
//! as etcd's corruption checks do (`/members/hashkv`). The checks themselves
//! (what counts as a mismatch, the CORRUPT alarm) live in cairn-server.

use std::time::Duration;

use cairn_mvcc::KvError;
use cairn_proto::cairnpb::PeerHashKvRequest;

use crate::node::RaftNode;
use crate::types::MemberId;

/// One member's answer, or why there is none.
#[derive(Clone, Debug)]
pub struct PeerHash {
    pub member_id: MemberId,
    pub peer_urls: Vec<String>,
    pub answer: Result<PeerHashKv, PeerHashError>,
}

/// A member's hash of its keys up to the requested revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerHashKv {
    pub hash: u32,
    /// The member's current revision (not the hashed one), as etcd reports it.
    pub revision: i64,
    pub compact_revision: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerHashError {
    /// The member has compacted past the revision (this member is behind).
    #[error("{}", KvError::Compacted)]
    Compacted,
    /// The member has not reached the revision yet (it is behind).
    #[error("{}", KvError::FutureRev)]
    FutureRev,
    /// Unreachable, timed out, or answered with another error.
    #[error("{0}")]
    Failed(String),
}

impl RaftNode {
    /// Every other member's HashKV at `revision`, asked in parallel, each
    /// within `timeout`. Members without a peer URL are left out.
    pub async fn peer_hashes(&self, revision: i64, timeout: Duration) -> Vec<PeerHash> {
        let me = self.member_id();
        let asks = self
            .members()
            .into_iter()
            .filter(|m| m.id != me && !m.peer_urls.is_empty())
            .map(|m| async move {
                let answer = self.peer_hash(m.id, &m.peer_urls, revision, timeout).await;
                PeerHash {
                    member_id: m.id,
                    peer_urls: m.peer_urls,
                    answer,
                }
            });
        futures::future::join_all(asks).await
    }

    async fn peer_hash(
        &self,
        member_id: MemberId,
        peer_urls: &[String],
        revision: i64,
        timeout: Duration,
    ) -> Result<PeerHashKv, PeerHashError> {
        let mut client = self
            .inner
            .channels
            .client(peer_urls)
            .map_err(PeerHashError::Failed)?;
        let mut request = tonic::Request::new(PeerHashKvRequest {
            cluster_id: self.cluster_id(),
            revision,
        });
        request.set_timeout(timeout);
        let call = tokio::time::timeout(timeout, client.hash_kv(request));
        let answer = match call.await {
            Err(_elapsed) => return Err(PeerHashError::Failed("timed out".into())),
            Ok(Err(status)) => return Err(classify(&status)),
            Ok(Ok(answer)) => answer.into_inner(),
        };
        if answer.member_id != member_id {
            return Err(PeerHashError::Failed(format!(
                "answered by member {:x}, not {member_id:x}",
                answer.member_id
            )));
        }
        Ok(PeerHashKv {
            hash: answer.hash,
            revision: answer.revision,
            compact_revision: answer.compact_revision,
        })
    }
}

/// etcd tells these two apart by the error's text, as here.
fn classify(status: &tonic::Status) -> PeerHashError {
    if status.message() == KvError::Compacted.to_string() {
        PeerHashError::Compacted
    } else if status.message() == KvError::FutureRev.to_string() {
        PeerHashError::FutureRev
    } else {
        PeerHashError::Failed(format!("{:?}: {}", status.code(), status.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_told_apart_by_etcds_text() {
        let compacted = tonic::Status::out_of_range(KvError::Compacted.to_string());
        let future = tonic::Status::out_of_range(KvError::FutureRev.to_string());
        let other = tonic::Status::unavailable("connection refused");
        assert_eq!(classify(&compacted), PeerHashError::Compacted);
        assert_eq!(classify(&future), PeerHashError::FutureRev);
        assert_eq!(
            classify(&other),
            PeerHashError::Failed("Unavailable: connection refused".into())
        );
    }
}
