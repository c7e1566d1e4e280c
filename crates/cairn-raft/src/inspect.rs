//! What a member holds and sees, read locally (no Raft round trip), for
//! recovery planning: identity, membership, log and apply positions, revision,
//! leader, and which peers answer a probe right now.

use std::time::Duration;

use cairn_proto::cairnpb::{IdentifyRequest, InspectMember, InspectResponse};
use openraft::async_runtime::WatchReceiver;

use crate::node::RaftNode;

/// How long a peer has to answer the probe. Short: a peer whose port is bound
/// but not served (a member rejoining) never answers, and `cairnctl recover`
/// gives a whole Inspect two seconds.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

impl RaftNode {
    /// This member's local view, as the Recovery service reports it.
    pub async fn inspect(&self) -> InspectResponse {
        let m = self.inner.raft.metrics().borrow_watched().clone();
        let members = self.members();
        let probes = members
            .iter()
            .filter(|p| p.id != self.member_id())
            .map(|p| {
                let channels = self.inner.channels.clone();
                let urls = p.peer_urls.clone();
                let id = p.id;
                async move {
                    let mut client = channels.client(&urls).ok()?;
                    let mut req = tonic::Request::new(IdentifyRequest {});
                    req.set_timeout(PROBE_TIMEOUT);
                    let answer = tokio::time::timeout(PROBE_TIMEOUT, client.identify(req))
                        .await
                        .ok()?
                        .ok()?;
                    (answer.into_inner().member_id == id).then_some(id)
                }
            });
        let reachable_peers: Vec<u64> = futures::future::join_all(probes)
            .await
            .into_iter()
            .flatten()
            .collect();
        let store = self.store();
        let last_log = self.inner.raft.data_metrics().borrow_watched().last_log;
        InspectResponse {
            member_id: self.member_id(),
            cluster_id: self.cluster_id(),
            name: self.name().to_string(),
            members: members
                .into_iter()
                .map(|p| InspectMember {
                    id: p.id,
                    name: p.name,
                    peer_urls: p.peer_urls,
                    client_urls: p.client_urls,
                    is_learner: p.is_learner,
                })
                .collect(),
            last_log_index: m.last_log_index.unwrap_or(0),
            last_log_term: last_log.map(|l| l.leader_id.term).unwrap_or(0),
            commit_index: m.local_committed.map(|l| l.index).unwrap_or(0),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            revision: store.current_revision(),
            compact_revision: store.compact_revision(),
            term: m.current_term,
            leader: m.current_leader.unwrap_or(0),
            reachable_peers,
            superseded_cluster_id: self.superseded_cluster_id().unwrap_or(0),
            // Recorded by the server's Recovery service, which fills these in.
            pending_action: String::new(),
            pending_join_url: String::new(),
        }
    }
}
