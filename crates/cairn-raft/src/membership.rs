//! etcd's membership changes (MemberAdd/Remove/Update/Promote) carried out with
//! openraft, with etcd's safety checks and errors.
//!
//! etcd and openraft differ here (DESIGN §4), and this module bridges them:
//! - A member added as a voter enters Raft as a learner marked `pending_voter`, so
//!   `member add` commits at once and the cluster's quorum does not change before
//!   the new process exists. The Cluster API lists it as a voter, as etcd does. The
//!   leader's promoter turns it into a real voter once it has caught up.
//! - A change is carried out by the leader; any other member forwards it there
//!   (Peer.ChangeMembership) and answers once it has applied the change itself.
//! - `--strict-reconfig-check` (always on) follows etcd: a voter is added only if
//!   the started voters would still form a quorum, a voter is removed only if the
//!   remaining started voters form one, and every voter must have been heard from
//!   recently ("unhealthy cluster" otherwise).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_proto::cairnpb::membership_change_request::Change;
use cairn_proto::cairnpb::{MembershipChangeRequest, MembershipChangeResponse};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, Instant as _};

use crate::errors::{MembershipError, ProposeError};
use crate::identity;
use crate::node::{classify_forward_error, RaftNode, Retry, NOT_LEADER};
use crate::types::{MemberId, PeerNode};

/// etcd's `HealthInterval`: a voter not heard from for this long makes the
/// cluster "unhealthy" for membership changes.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// etcd's default `--experimental-max-learners`.
const MAX_LEARNERS: usize = 1;
/// etcd promotes a learner only when it has 90% of the leader's log.
const LEARNER_READY_PERCENT: f64 = 0.9;
/// A pending voter is promoted once it is this close to the leader's last index.
const PENDING_VOTER_CATCH_UP: u64 = 16;

/// The cluster as the leader sees it when it checks a change.
struct View {
    /// openraft voters.
    voters: BTreeSet<MemberId>,
    /// Every member (openraft voters and learners), with its attributes.
    nodes: BTreeMap<MemberId, PeerNode>,
    /// Members that published their attributes (etcd: "started").
    started: BTreeSet<MemberId>,
    removed: BTreeSet<MemberId>,
    /// Matched log index per member, as replicated by this leader.
    matched: BTreeMap<MemberId, u64>,
    /// Members that acknowledged a heartbeat or replication within HEALTH_INTERVAL.
    active: BTreeSet<MemberId>,
    last_log_index: u64,
}

impl View {
    /// etcd's voting members: openraft voters plus voters still being caught up.
    fn voting(&self) -> BTreeSet<MemberId> {
        self.nodes
            .iter()
            .filter(|(id, n)| self.voters.contains(id) || n.pending_voter)
            .map(|(id, _)| *id)
            .collect()
    }
    fn learners(&self) -> BTreeSet<MemberId> {
        let voting = self.voting();
        self.nodes
            .keys()
            .filter(|id| !voting.contains(id))
            .copied()
            .collect()
    }
    fn url_in_use(&self, urls: &[String], except: Option<MemberId>) -> bool {
        self.nodes
            .iter()
            .any(|(id, n)| Some(*id) != except && n.peer_urls.iter().any(|u| urls.contains(u)))
    }
}

/// etcd's URL rules for member peer URLs: http(s)://host:port with no path.
pub fn validate_peer_urls(urls: &[String]) -> Result<(), MembershipError> {
    if urls.is_empty() {
        return Err(MembershipError::BadUrls);
    }
    for u in urls {
        let rest = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"))
            .ok_or(MembershipError::BadUrls)?;
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(MembershipError::BadUrls);
        }
        let (host, port) = rest.rsplit_once(':').ok_or(MembershipError::BadUrls)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(MembershipError::BadUrls);
        }
    }
    Ok(())
}

fn raft_error<E: std::fmt::Display>(e: E) -> MembershipError {
    MembershipError::Propose(ProposeError::Remote(
        tonic::Code::Unavailable,
        format!("etcdserver: {e}"),
    ))
}

/// What the leader's attempt at a change came to.
enum Attempt {
    Done(MembershipChangeResponse),
    /// Not the leader, or another change is still in progress: try again.
    Again,
}

impl RaftNode {
    /// Carries out an etcd membership change and returns the added member's ID
    /// (0 for other changes) once this member has applied it.
    pub async fn change_membership(&self, change: Change) -> Result<u64, MembershipError> {
        let deadline = Instant::now() + self.inner.request_timeout;
        loop {
            let leader = self.inner.raft.metrics().borrow_watched().current_leader;
            let leader_known = match leader {
                Some(id) if id == self.member_id() => {
                    match self.leader_change_membership(change.clone()).await? {
                        Attempt::Done(r) => return Ok(r.member_id),
                        Attempt::Again => true,
                    }
                }
                Some(id) => match self.forward_membership(id, change.clone(), deadline).await {
                    Ok(r) => {
                        let wait = deadline.saturating_duration_since(Instant::now());
                        self.inner
                            .raft
                            .wait(Some(wait))
                            .applied_index_at_least(Some(r.applied_index), "membership change")
                            .await
                            .map_err(|_| MembershipError::Propose(ProposeError::Timeout))?;
                        return Ok(r.member_id);
                    }
                    Err(Retry::Again) => true,
                    Err(Retry::Fail(e)) => return Err(MembershipError::Propose(e)),
                },
                None => false,
            };
            if Instant::now() >= deadline {
                return Err(MembershipError::Propose(if leader_known {
                    ProposeError::Timeout
                } else {
                    ProposeError::NoLeader
                }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn forward_membership(
        &self,
        leader: MemberId,
        change: Change,
        deadline: Instant,
    ) -> Result<MembershipChangeResponse, Retry> {
        let node = self
            .inner
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .get_node(&leader)
            .cloned()
            .ok_or(Retry::Again)?;
        let mut client = self
            .inner
            .channels
            .client(&node.peer_urls)
            .map_err(|_| Retry::Again)?;
        let mut request = tonic::Request::new(MembershipChangeRequest {
            cluster_id: self.cluster_id(),
            change: Some(change),
        });
        request.set_timeout(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
        client
            .change_membership(request)
            .await
            .map(|r| r.into_inner())
            .map_err(classify_forward_error)
    }

    /// Leader side of a forwarded change: carry it out here, or say we are not the
    /// leader so the asking member looks for the new one.
    pub(crate) async fn serve_forwarded_membership(
        &self,
        change: Change,
    ) -> Result<MembershipChangeResponse, tonic::Status> {
        let deadline = Instant::now() + self.inner.request_timeout;
        loop {
            match self.leader_change_membership(change.clone()).await {
                Ok(Attempt::Done(r)) => return Ok(r),
                Ok(Attempt::Again) if !self.is_leader() => {
                    return Err(tonic::Status::failed_precondition(NOT_LEADER))
                }
                Ok(Attempt::Again) if Instant::now() >= deadline => {
                    return Err(ProposeError::Timeout.to_status())
                }
                Ok(Attempt::Again) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => return Err(e.to_status()),
            }
        }
    }

    /// Whether this member leads the cluster now (cheap: no metrics copy).
    pub fn is_leader(&self) -> bool {
        self.inner.raft.metrics().borrow_watched().current_leader == Some(self.member_id())
    }

    async fn view(&self) -> View {
        let m = self.inner.raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership();
        let nodes: BTreeMap<MemberId, PeerNode> =
            membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
        let started = self
            .inner
            .store
            .members()
            .into_iter()
            .filter(|a| !a.name.is_empty())
            .map(|a| a.member_id)
            .collect();
        let matched = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.as_ref().map(|l| l.index).unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        let mut active = BTreeSet::from([self.member_id()]);
        for (id, seen) in m.heartbeat.iter().flatten() {
            if let Some(t) = seen {
                if (*t).into_inner().elapsed() <= HEALTH_INTERVAL {
                    active.insert(*id);
                }
            }
        }
        View {
            voters: membership.voter_ids().collect(),
            nodes,
            started,
            removed: self.inner.state_machine.applied().await.removed,
            matched,
            active,
            last_log_index: m.last_log_index.unwrap_or(0),
        }
    }

    /// Checks and proposes one change as the leader. Changes are serialized.
    async fn leader_change_membership(&self, change: Change) -> Result<Attempt, MembershipError> {
        let _one_at_a_time = self.inner.membership_lock.lock().await;
        if !self.is_leader() {
            return Ok(Attempt::Again);
        }
        let view = self.view().await;
        let raft = &self.inner.raft;
        let mut added = 0;
        let result = match change {
            Change::Add(req) => {
                // etcd's order: URL syntax, then the strict reconfiguration check,
                // then the checks made when the change is applied.
                validate_peer_urls(&req.peer_ur_ls)?;
                if !req.is_learner {
                    self.check_add_voter(&view)?;
                }
                if view.url_in_use(&req.peer_ur_ls, None) {
                    return Err(MembershipError::PeerUrlExists);
                }
                if req.is_learner && view.learners().len() >= MAX_LEARNERS {
                    return Err(MembershipError::TooManyLearners);
                }
                let id = self.new_member_id(&req.peer_ur_ls, &view);
                let node = PeerNode {
                    name: String::new(),
                    peer_urls: req.peer_ur_ls.clone(),
                    pending_voter: !req.is_learner,
                };
                added = id;
                tracing::info!(
                    member = format!("{id:x}"),
                    peer_urls = req.peer_ur_ls.join(","),
                    is_learner = req.is_learner,
                    "added member"
                );
                raft.add_learner(id, node, false).await
            }
            Change::Remove(req) => {
                let id = req.id;
                // etcd checks quorum first (treating an unknown ID like a voter),
                // then whether the member exists.
                if !view.learners().contains(&id) {
                    self.check_remove_voter(&view, id)?;
                }
                if view.removed.contains(&id) || !view.nodes.contains_key(&id) {
                    return Err(MembershipError::NotFound);
                }
                tracing::info!(member = format!("{id:x}"), "removing member");
                let ids = BTreeSet::from([id]);
                if view.voters.contains(&id) {
                    raft.change_membership(ChangeMembers::RemoveVoters(ids), false)
                        .await
                } else {
                    raft.change_membership(ChangeMembers::RemoveNodes(ids), false)
                        .await
                }
            }
            Change::Update(req) => {
                let id = req.id;
                validate_peer_urls(&req.peer_ur_ls)?;
                let Some(node) = view.nodes.get(&id) else {
                    return Err(MembershipError::NotFound);
                };
                if view.url_in_use(&req.peer_ur_ls, Some(id)) {
                    return Err(MembershipError::PeerUrlExists);
                }
                let node = PeerNode {
                    peer_urls: req.peer_ur_ls.clone(),
                    ..node.clone()
                };
                tracing::info!(
                    member = format!("{id:x}"),
                    peer_urls = req.peer_ur_ls.join(","),
                    "updating member peer URLs"
                );
                raft.change_membership(ChangeMembers::SetNodes(BTreeMap::from([(id, node)])), false)
                    .await
            }
            Change::Promote(req) => {
                let id = req.id;
                if !view.nodes.contains_key(&id) {
                    return Err(MembershipError::NotFound);
                }
                if view.voting().contains(&id) {
                    return Err(MembershipError::NotLearner);
                }
                let matched = view.matched.get(&id).copied().unwrap_or(0) as f64;
                if matched < view.last_log_index as f64 * LEARNER_READY_PERCENT {
                    return Err(MembershipError::LearnerNotReady);
                }
                self.check_promote(&view)?;
                tracing::info!(member = format!("{id:x}"), "promoting learner");
                raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
            }
        };
        match result {
            Ok(r) => Ok(Attempt::Done(MembershipChangeResponse {
                member_id: added,
                applied_index: r.log_id.index,
            })),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Ok(Attempt::Again),
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_)
                | ChangeMembershipError::UncommittedLeaderLog(_),
            ))) => Ok(Attempt::Again),
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                Err(MembershipError::Propose(ProposeError::LeaderChanged))
            }
            Err(RaftError::APIError(e)) => Err(raft_error(e)),
            Err(RaftError::Fatal(_)) => Err(MembershipError::Propose(ProposeError::Stopped)),
        }
    }

    /// etcd's `IsReadyToAddVotingMember` and `isConnectedFullySince`.
    fn check_add_voter(&self, view: &View) -> Result<(), MembershipError> {
        let voting = view.voting();
        let nmembers = voting.len() + 1;
        let nstarted = voting.intersection(&view.started).count();
        let restoring_single_member = nstarted == 1 && nmembers == 2;
        if !restoring_single_member && nstarted < nmembers / 2 + 1 {
            return Err(MembershipError::NotEnoughStarted);
        }
        if voting.iter().any(|id| !view.active.contains(id)) {
            return Err(MembershipError::Unhealthy);
        }
        Ok(())
    }

    /// etcd's `IsReadyToRemoveVotingMember` and its active-quorum check.
    fn check_remove_voter(&self, view: &View, id: MemberId) -> Result<(), MembershipError> {
        let voting = view.voting();
        let remaining: BTreeSet<MemberId> = voting.iter().filter(|v| **v != id).copied().collect();
        let nstarted = remaining.intersection(&view.started).count();
        if nstarted < remaining.len() / 2 + 1 {
            return Err(MembershipError::NotEnoughStarted);
        }
        // A member that is down now is not part of the active quorum.
        if id != self.member_id() && !view.active.contains(&id) {
            return Ok(());
        }
        let active = voting.intersection(&view.active).count();
        if active.saturating_sub(1) < 1 + (voting.len() - 1) / 2 {
            return Err(MembershipError::Unhealthy);
        }
        Ok(())
    }

    /// etcd's `IsReadyToPromoteMember`.
    fn check_promote(&self, view: &View) -> Result<(), MembershipError> {
        let voting = view.voting();
        let nmembers = voting.len() + 1;
        let nstarted = voting.intersection(&view.started).count() + 1;
        if nstarted < nmembers / 2 + 1 {
            return Err(MembershipError::NotEnoughStarted);
        }
        Ok(())
    }

    /// A fresh member ID, derived like etcd's (peer URLs plus the time), never 0
    /// and never one the cluster has used before.
    fn new_member_id(&self, urls: &[String], view: &View) -> MemberId {
        let mut salt = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        loop {
            let id = identity::member_id(urls, &format!("{:x}{salt}", self.cluster_id()));
            if id != 0 && !view.nodes.contains_key(&id) && !view.removed.contains(&id) {
                return id;
            }
            salt += 1;
        }
    }

    /// On the leader, promotes members added as voters once they have caught up.
    pub(crate) fn spawn_promoter(&self) {
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let Some(inner) = weak.upgrade() else { return };
                let node = RaftNode { inner };
                if !node.is_leader() {
                    continue;
                }
                if let Err(e) = node.promote_caught_up().await {
                    tracing::warn!("promoting a caught-up member failed: {e}");
                }
            }
        });
    }

    async fn promote_caught_up(&self) -> Result<(), MembershipError> {
        let view = self.view().await;
        let ready: BTreeSet<MemberId> = view
            .nodes
            .iter()
            .filter(|(id, n)| n.pending_voter && !view.voters.contains(id))
            .filter(|(id, _)| {
                view.matched
                    .get(id)
                    .is_some_and(|m| *m + PENDING_VOTER_CATCH_UP >= view.last_log_index && *m > 0)
            })
            .map(|(id, _)| *id)
            .collect();
        if ready.is_empty() {
            return Ok(());
        }
        let _one_at_a_time = self.inner.membership_lock.lock().await;
        if !self.is_leader() {
            return Ok(());
        }
        tracing::info!(members = ?ready.iter().map(|id| format!("{id:x}")).collect::<Vec<_>>(),
            "cairn: promoting caught-up members to voters");
        match self
            .inner
            .raft
            .change_membership(ChangeMembers::AddVoterIds(ready), false)
            .await
        {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Ok(()),
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_)
                | ChangeMembershipError::UncommittedLeaderLog(_),
            ))) => Ok(()),
            Err(e) => Err(raft_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_url_rules_follow_etcd() {
        let ok = |u: &str| validate_peer_urls(&[u.to_string()]).is_ok();
        assert!(ok("http://127.0.0.1:2380"));
        assert!(ok("https://node-1.example:2380"));
        assert!(ok("http://[::1]:2380"));
        assert!(!ok("http://10.0.0.1:2380/"));
        assert!(!ok("127.0.0.1:2380"));
        assert!(!ok("ftp://127.0.0.1:2380"));
        assert!(!ok("http://127.0.0.1"));
        assert!(!ok("http://127.0.0.1:notaport"));
        assert!(!ok("http://127.0.0.1:2380/path"));
        assert!(!ok("http://:2380"));
        assert!(validate_peer_urls(&[]).is_err());
    }
}
