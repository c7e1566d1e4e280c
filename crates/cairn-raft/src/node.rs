//! A running Raft member: opens the data dir, bootstraps or restarts the Raft
//! node, and offers the operations the API layer needs — propose a write (through
//! the leader), wait for a linearizable read point (ReadIndex), and report status
//! and membership.
//!
//! The data dir layout is in [`crate::datadir`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_mvcc::Store;
use cairn_proto::cairnpb::{InternalRequest, InternalResponse, ProposeRequest, ReadIndexRequest};
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::raft::ReadPolicy;
use openraft::{Config, SnapshotPolicy};

use crate::datadir::{io_err, DataDir, Identity};
use crate::errors::{NodeError, ProposeError};
use crate::identity;
use crate::join;
use crate::log_store::LogStore;
use crate::network::{PeerChannels, PeerNetwork};
use crate::read_index::{ReadIndexBatcher, RoundOutcome};
use crate::state_machine::StateMachine;
use crate::stop::StopSignal;
use crate::types::{MemberId, PeerNode, Request, TypeConfig};

pub type Raft = openraft::Raft<TypeConfig, StateMachine>;

/// Marker message a leader-to-be sends back when it is not the leader (any more).
pub(crate) const NOT_LEADER: &str = "cairn: not leader";

/// What a removed member is told, and what it stops with (etcd's wording).
pub const MEMBER_REMOVED: &str = "the member has been permanently removed from the cluster";

/// How a member starts; mirrors etcd's bootstrap flags.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    pub data_dir: PathBuf,
    /// `--initial-cluster`: member name and its peer URLs, in flag order.
    pub initial_cluster: Vec<(String, Vec<String>)>,
    pub initial_advertise_peer_urls: Vec<String>,
    /// `--initial-cluster-state new` (true) or `existing` (false).
    pub initial_cluster_state_new: bool,
    pub initial_cluster_token: String,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_count: u64,
    /// How long a proposal or linearizable read may wait (etcd: 5 s + 2 × election timeout).
    pub request_timeout: Duration,
    /// TLS towards other members (`https://` peer URLs).
    pub peer_tls: Option<crate::network::PeerClientTls>,
    /// `--experimental-lease-checkpoint-interval` (etcd: 5 minutes).
    pub lease_checkpoint_interval: Duration,
}

/// A snapshot of what this member knows about Raft, for Status and headers.
#[derive(Clone, Debug, Default)]
pub struct NodeStatus {
    /// The leader, while this member is in touch with it (see `has_leader`).
    pub leader: Option<MemberId>,
    pub term: u64,
    pub last_log_index: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub is_learner: bool,
}

/// One member as the Cluster API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: MemberId,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

pub(crate) struct Inner {
    pub(crate) raft: Raft,
    pub(crate) store: Store,
    pub(crate) state_machine: StateMachine,
    pub(crate) identity: Identity,
    pub(crate) channels: PeerChannels,
    pub(crate) request_timeout: Duration,
    /// How long a leader stays known without contact: a follower's last
    /// message from it, or the leader's last acknowledgement by a quorum.
    leader_contact_window: Duration,
    /// Forwarded proposals waiting for their apply (see waiters.rs).
    pub(crate) waiters: crate::waiters::ProposalWaiters,
    applied: Arc<AtomicU64>,
    /// Serializes membership changes on the leader.
    pub(crate) membership_lock: tokio::sync::Mutex<()>,
    pub(crate) lessor: crate::lessor::Lessor,
    pub(crate) stop: StopSignal,
    /// Shares ReadIndex rounds between concurrent linearizable reads.
    read_index: Arc<ReadIndexBatcher>,
}

/// Handle to the running member; cheap to clone.
#[derive(Clone)]
pub struct RaftNode {
    pub(crate) inner: Arc<Inner>,
}

impl NodeConfig {
    /// The bootstrap membership, with IDs derived as etcd derives them.
    pub(crate) fn initial_members(&self) -> Result<BTreeMap<MemberId, PeerNode>, NodeError> {
        let mut members = BTreeMap::new();
        for (name, urls) in &self.initial_cluster {
            let id = identity::member_id(urls, &self.initial_cluster_token);
            if members
                .insert(
                    id,
                    PeerNode {
                        name: name.clone(),
                        peer_urls: urls.clone(),
                        pending_voter: false,
                    },
                )
                .is_some()
            {
                return Err(NodeError::Config(format!(
                    "--initial-cluster has duplicate member with peer URLs {}",
                    urls.join(",")
                )));
            }
        }
        Ok(members)
    }

    pub(crate) fn new_identity(&self) -> Result<Identity, NodeError> {
        let members = self.initial_members()?;
        let (member_id, me) = members
            .iter()
            .find(|(_, n)| n.name == self.name)
            .ok_or_else(|| {
                NodeError::Config(format!(
                    "couldn't find local name {:?} in the initial cluster configuration",
                    self.name
                ))
            })?;
        let mut mine = me.peer_urls.clone();
        let mut advertised = self.initial_advertise_peer_urls.clone();
        mine.sort();
        advertised.sort();
        if mine != advertised {
            return Err(NodeError::Config(format!(
                "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={} (peer URLs do not match)",
                self.name,
                me.peer_urls.join(","),
                self.initial_advertise_peer_urls.join(",")
            )));
        }
        let ids: Vec<MemberId> = members.keys().copied().collect();
        Ok(Identity {
            member_id: *member_id,
            cluster_id: identity::cluster_id(&ids),
            name: self.name.clone(),
            initial_members: members,
            superseded_cluster_id: None,
        })
    }
}

impl RaftNode {
    /// Opens the data dir (creating a new member if it is empty) and starts Raft.
    pub async fn start(cfg: NodeConfig) -> Result<RaftNode, NodeError> {
        let dir = DataDir::new(&cfg.data_dir);
        let existing = dir.identity_path().exists();
        if !existing && dir.has_member_files() {
            return Err(NodeError::Config(format!(
                "{}: data dir has member files but no identity.json; refusing to start on a damaged data dir \
                 (an etcd data dir cannot be used directly: restore it from a snapshot instead)",
                dir.member_dir().display()
            )));
        }
        if existing {
            // Fencing: before touching its data, a member asks its peers whether
            // its cluster was superseded by a recovered one.
            let identity = dir.read_identity()?;
            join::check_not_superseded(&cfg, &identity).await?;
        }
        let (wal_dir, snap_dir) = (dir.wal_dir(), dir.snap_dir());
        for d in [&wal_dir, &snap_dir] {
            std::fs::create_dir_all(d).map_err(|e| io_err(d, e))?;
        }
        let channels = PeerChannels::new(cfg.peer_tls.clone());
        let identity: Identity = if existing {
            dir.read_identity()?
        } else {
            let id = if cfg.initial_cluster_state_new {
                cfg.new_identity()?
            } else {
                join::discover_identity(&cfg, &channels).await?
            };
            dir.write_identity(&id)?;
            id
        };

        let log_path = dir.wal_dir();
        let log_store = LogStore::open(&log_path).map_err(|e| io_err(&log_path, e))?;
        let db_path = dir.db_path();
        let store = Store::open(&db_path).map_err(|e| NodeError::Store(e.to_string()))?;
        let applied = Arc::new(AtomicU64::new(0));
        let applied_cb = applied.clone();
        // Refuse a state machine whose applied state cannot be read.
        let sm = StateMachine::open(
            store.clone(),
            &snap_dir,
            Arc::new(move |idx| applied_cb.store(idx, Ordering::Release)),
        )
        .map_err(|e| NodeError::Store(format!("{}: {e}", db_path.display())))?;
        let waiters = sm.waiters();
        crate::snapshot_file::remove_stale_files(&snap_dir)
            .map_err(|e| NodeError::Store(format!("{}: {e}", snap_dir.display())))?;
        if sm.is_removed(identity.member_id) {
            return Err(NodeError::Removed(identity.member_id));
        }

        let timers = ElectionTimers::from_etcd(cfg.election_timeout_ms);
        let config = Config {
            cluster_name: "cairn".into(),
            heartbeat_interval: cfg.heartbeat_interval_ms,
            election_timeout_min: timers.timeout_min_ms,
            election_timeout_max: timers.timeout_max_ms,
            // etcd 3.5 runs PreVote by default: a member that was cut off cannot
            // disturb a healthy leader with a higher term when it comes back.
            enable_pre_vote: Some(true),
            // A member that led before a crash starts as a follower and must
            // win an election again, as an etcd member does. openraft would
            // otherwise resume leading in its old term at once, with its
            // commit index as restored from the log (a hint that can lag what
            // it had committed and acknowledged before the crash); its read
            // index would then be too low, and a follower using it could
            // answer a linearizable read without a write already acknowledged.
            enable_leader_restore: Some(false),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_count.max(1)),
            max_in_snapshot_log_to_keep: cfg.snapshot_count.clamp(1, 5000),
            install_snapshot_timeout: 600_000,
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| NodeError::Config(format!("raft config: {e}")))?,
        );
        let stop = StopSignal::default();
        let network = PeerNetwork {
            cluster_id: identity.cluster_id,
            member_id: identity.member_id,
            channels: channels.clone(),
            stop: stop.clone(),
        };
        let raft = Raft::new(identity.member_id, config, network, log_store, sm.clone())
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        if !initialized && !identity.initial_members.is_empty() {
            // Every member of a new cluster proposes the same initial membership; the
            // resulting first log entry is identical on all of them.
            match raft.initialize(identity.initial_members.clone()).await {
                Ok(()) => {}
                Err(RaftError::APIError(e)) => tracing::info!("raft already initialized: {e}"),
                Err(e) => return Err(NodeError::Raft(e.to_string())),
            }
        }

        let identity_member_id = identity.member_id;
        let node = RaftNode {
            inner: Arc::new(Inner {
                raft,
                store,
                state_machine: sm,
                identity,
                channels,
                request_timeout: cfg.request_timeout,
                leader_contact_window: Duration::from_millis(cfg.election_timeout_ms) * 2,
                waiters,
                applied,
                membership_lock: tokio::sync::Mutex::new(()),
                lessor: crate::lessor::Lessor::new(
                    identity_member_id,
                    Duration::from_millis(cfg.election_timeout_ms),
                    Duration::from_millis(cfg.heartbeat_interval_ms),
                    cfg.lease_checkpoint_interval,
                ),
                stop,
                read_index: Arc::default(),
            }),
        };
        node.spawn_syncer();
        node.spawn_promoter();
        node.spawn_removal_monitor();
        node.spawn_lease_expiry();
        node.spawn_leader_counter();
        Ok(node)
    }

    /// Counts each new leader this member learns of
    /// (`etcd_server_leader_changes_seen_total`), as etcd counts them: every
    /// time the known leader becomes a member other than the last one known.
    fn spawn_leader_counter(&self) {
        let mut server = self.inner.raft.server_metrics();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let leader = server.borrow_watched().current_leader;
                if leader.is_some() && leader != last {
                    crate::metrics::LEADER_CHANGES.inc();
                    last = leader;
                }
                if server.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Makes applied state durable once a second (etcd's backend batch commit), so a
    /// restart replays little of the log.
    fn spawn_syncer(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut synced = 0u64;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(inner) = weak.upgrade() else { return };
                let applied = inner.applied.load(Ordering::Relaxed);
                if applied != synced {
                    let store = inner.store.clone();
                    match tokio::task::spawn_blocking(move || store.sync()).await {
                        Ok(Ok(())) => synced = applied,
                        Ok(Err(e)) => tracing::error!("state machine sync failed: {e}"),
                        Err(e) => tracing::error!("state machine sync task failed: {e}"),
                    }
                }
            }
        });
    }

    /// Watches the applied membership: once it says this member was removed, the
    /// member asks to stop (etcd stops a member that applies its own removal).
    fn spawn_removal_monitor(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.state_machine.is_removed(inner.identity.member_id) {
                    inner.stop.stop(MEMBER_REMOVED);
                    return;
                }
            }
        });
    }

    /// Resolves when this member must stop on its own (removed, superseded), with
    /// the reason to report.
    pub async fn stopped(&self) -> String {
        self.inner.stop.wait().await
    }

    /// Whether a peer with this ID was removed from the cluster.
    pub fn is_removed_member(&self, id: MemberId) -> bool {
        self.inner.state_machine.is_removed(id)
    }

    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }
    /// etcd's HashKV of this member's store at `revision` (0: current),
    /// computed off the async worker threads (it reads every key).
    pub async fn hash_kv(&self, revision: i64) -> Result<cairn_mvcc::HashKv, cairn_mvcc::KvError> {
        let store = self.store().clone();
        tokio::task::spawn_blocking(move || store.hash_kv(revision))
            .await
            .unwrap_or_else(|e| Err(cairn_mvcc::KvError::Internal(e.to_string())))
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn member_id(&self) -> MemberId {
        self.inner.identity.member_id
    }
    pub fn cluster_id(&self) -> u64 {
        self.inner.identity.cluster_id
    }
    /// The cluster this one superseded, if it was recovered from another.
    pub fn superseded_cluster_id(&self) -> Option<u64> {
        self.inner.identity.superseded_cluster_id
    }
    pub fn name(&self) -> &str {
        &self.inner.identity.name
    }

    /// The current Raft term (cheap: no metrics copy).
    pub fn term(&self) -> u64 {
        self.inner.raft.metrics().borrow_watched().current_term
    }

    /// Whether this member currently knows a leader it is in touch with
    /// (cheap: no metrics copy). As in etcd, a member cut off from the leader
    /// stops knowing one, and so does a leader cut off from a quorum (etcd's
    /// CheckQuorum): after two election timeouts without contact (etcd: one
    /// to two), although openraft keeps naming the last leader until another
    /// is elected. A one-voter cluster's leader always knows itself.
    pub fn has_leader(&self) -> bool {
        use openraft::Instant as _;
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow_watched();
        let Some(leader) = m.current_leader else {
            return false;
        };
        let window = self.inner.leader_contact_window;
        if leader != self.member_id() {
            return self
                .inner
                .lessor
                .last_leader_contact()
                .is_some_and(|at| at.elapsed() < window);
        }
        if m.membership_config.membership().voter_ids().count() <= 1 {
            return true;
        }
        m.last_quorum_acked
            .as_ref()
            .is_some_and(|at| at.elapsed() < window)
    }

    /// Whether this member is a learner in etcd's sense: a non-voting member that
    /// was added as a learner (a member added as a voter and still catching up is
    /// not one).
    pub fn is_learner(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow_watched();
        let me = self.member_id();
        let membership = m.membership_config.membership();
        match membership.get_node(&me) {
            Some(node) => !node.pending_voter && !membership.voter_ids().any(|v| v == me),
            None => false,
        }
    }

    /// Current Raft status of this member.
    pub fn status(&self) -> NodeStatus {
        let m = self.inner.raft.metrics().borrow_watched().clone();
        NodeStatus {
            // etcd reports no leader once out of touch with it (has_leader).
            leader: m.current_leader.filter(|_| self.has_leader()),
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            commit_index: m.local_committed.as_ref().map(|l| l.index).unwrap_or(0),
            applied_index: m.last_applied.as_ref().map(|l| l.index).unwrap_or(0),
            is_learner: self.is_learner(),
        }
    }

    /// The members of the cluster as this member knows them, sorted by ID.
    pub fn members(&self) -> Vec<MemberInfo> {
        let m = self.inner.raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<MemberId> = membership.voter_ids().collect();
        let published = self.inner.store.members();
        let mut out: Vec<MemberInfo> = membership
            .nodes()
            .map(|(id, node)| {
                let attrs = published.iter().find(|p| p.member_id == *id);
                MemberInfo {
                    id: *id,
                    // etcd shows an empty name until the member has published itself.
                    name: attrs.map(|a| a.name.clone()).unwrap_or_default(),
                    peer_urls: node.peer_urls.clone(),
                    client_urls: attrs.map(|a| a.client_urls.clone()).unwrap_or_default(),
                    // A member added as a voter is a voter to etcd's API even while
                    // Raft still replicates to it as a learner.
                    is_learner: !voters.contains(id) && !node.pending_voter,
                }
            })
            .collect();
        out.sort_by_key(|m| m.id);
        out
    }

    /// Proposes a write and returns its result once applied; goes through the
    /// leader when this member is a follower.
    pub async fn propose(&self, req: InternalRequest) -> Result<InternalResponse, ProposeError> {
        let pending = crate::metrics::PendingProposal::start();
        let deadline = Instant::now() + self.inner.request_timeout;
        let req = &req;
        let outcome = retry_until(deadline, || async move {
            match self.inner.raft.client_write(Request(req.clone())).await {
                Ok(r) => Attempt::Done(Ok(r.data.0)),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    match f.leader_node {
                        Some(node) if f.leader_id != Some(self.member_id()) => {
                            // Tagged, so that if the leader's answer is lost we
                            // can still recognise the entry when we apply it.
                            let mut forwarded = req.clone();
                            forwarded.proposal_id = rand::random::<u64>().max(1);
                            let waiting = self.inner.waiters.register(forwarded.proposal_id);
                            match self.forward(&node, forwarded, deadline).await {
                                Ok(resp) => Attempt::Done(Ok(resp)),
                                Err(Retry::Again) => Attempt::Again { leader_known: true },
                                Err(Retry::Fail(ProposeError::Timeout)) => {
                                    // The outcome is unknown: as etcd does, wait
                                    // for the entry to be applied here (a new
                                    // leader commits it if it was replicated).
                                    Attempt::Done(
                                        waiting
                                            .result(time_left(deadline))
                                            .await
                                            .ok_or(ProposeError::Timeout),
                                    )
                                }
                                Err(Retry::Fail(e)) => Attempt::Done(Err(e)),
                            }
                        }
                        _ => Attempt::Again {
                            leader_known: false,
                        },
                    }
                }
                Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                    Attempt::Done(Err(ProposeError::LeaderChanged))
                }
                Err(RaftError::APIError(e)) => Attempt::Done(Err(ProposeError::Remote(
                    tonic::Code::Unavailable,
                    format!("etcdserver: {e}"),
                ))),
                Err(RaftError::Fatal(_)) => Attempt::Done(Err(ProposeError::Stopped)),
            }
        })
        .await;
        pending.finish(outcome)
    }

    /// Leader side of a forwarded proposal: propose here or say we are not the leader.
    pub(crate) async fn propose_local(
        &self,
        req: InternalRequest,
    ) -> Result<InternalResponse, ProposeError> {
        match self.inner.raft.client_write(Request(req)).await {
            Ok(r) => Ok(r.data.0),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(
                ProposeError::Remote(tonic::Code::FailedPrecondition, NOT_LEADER.into()),
            ),
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                Err(ProposeError::LeaderChanged)
            }
            Err(RaftError::APIError(e)) => Err(ProposeError::Remote(
                tonic::Code::Unavailable,
                format!("etcdserver: {e}"),
            )),
            Err(RaftError::Fatal(_)) => Err(ProposeError::Stopped),
        }
    }

    /// A peer client for the leader (Retry::Again when its URLs are unusable).
    pub(crate) fn leader_client(
        &self,
        leader: &PeerNode,
    ) -> Result<cairn_proto::cairnpb::peer_client::PeerClient<tonic::transport::Channel>, Retry>
    {
        self.inner
            .channels
            .client(&leader.peer_urls)
            .map_err(|_| Retry::Again)
    }

    async fn forward(
        &self,
        leader: &PeerNode,
        req: InternalRequest,
        deadline: Instant,
    ) -> Result<InternalResponse, Retry> {
        let mut client = self.leader_client(leader)?;
        let mut request = tonic::Request::new(ProposeRequest {
            cluster_id: self.cluster_id(),
            request: Some(req),
        });
        request.set_timeout(time_left(deadline));
        match client.propose(request).await {
            Ok(resp) => resp.into_inner().response.ok_or_else(|| {
                Retry::Fail(ProposeError::Remote(
                    tonic::Code::Internal,
                    "empty response from leader".into(),
                ))
            }),
            Err(status) => Err(classify_forward_error(status)),
        }
    }

    /// On the leader: confirm leadership with a quorum and return the read index.
    pub(crate) async fn leader_read_index(&self) -> Result<u64, ProposeError> {
        match self
            .inner
            .raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
        {
            Ok(read) => Ok(read.index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_))) => Err(
                ProposeError::Remote(tonic::Code::FailedPrecondition, NOT_LEADER.into()),
            ),
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                Err(ProposeError::Timeout)
            }
            Err(RaftError::Fatal(_)) => Err(ProposeError::Stopped),
        }
    }

    /// Waits until this member has applied everything committed before the call
    /// (ReadIndex through the leader). After it returns, a local read is linearizable.
    ///
    /// Concurrent calls share ReadIndex rounds (see [`crate::read_index`]): each
    /// waits for a round that began after it was called, then for this member to
    /// apply up to the round's index.
    pub async fn read_barrier(&self) -> Result<(), ProposeError> {
        let deadline = Instant::now() + self.inner.request_timeout;
        retry_until(deadline, || async move {
            let node = self.clone();
            let round = move || {
                let node = node.clone();
                async move { node.read_index_round().await }
            };
            let outcome =
                tokio::time::timeout(time_left(deadline), self.inner.read_index.read_index(round))
                    .await;
            match outcome {
                Err(_elapsed) => Attempt::Done(Err(ProposeError::Timeout)),
                Ok(RoundOutcome::Index(index)) => {
                    Attempt::Done(self.wait_applied(index, deadline).await)
                }
                Ok(RoundOutcome::Again { leader_known }) => Attempt::Again { leader_known },
                Ok(RoundOutcome::Fail(e)) => Attempt::Done(Err(e)),
            }
        })
        .await
        .inspect_err(|_| crate::metrics::READ_INDEXES_FAILED.inc())
    }

    /// One ReadIndex round: on the leader, confirm leadership with a quorum (and
    /// wait until the read index is applied here); on a follower, ask the leader.
    async fn read_index_round(&self) -> RoundOutcome {
        let deadline = Instant::now() + self.inner.request_timeout;
        match self
            .inner
            .raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
        {
            Ok(read) => RoundOutcome::Index(read.index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                match f.leader_node {
                    Some(node) if f.leader_id != Some(self.member_id()) => {
                        match self.remote_read_index(&node, deadline).await {
                            Ok(index) => RoundOutcome::Index(index),
                            Err(Retry::Again) => RoundOutcome::Again { leader_known: true },
                            Err(Retry::Fail(e)) => RoundOutcome::Fail(e),
                        }
                    }
                    _ => RoundOutcome::Again {
                        leader_known: false,
                    },
                }
            }
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                RoundOutcome::Again { leader_known: true }
            }
            Err(RaftError::Fatal(_)) => RoundOutcome::Fail(ProposeError::Stopped),
        }
    }

    /// Waits until this member has applied up to `index`.
    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), ProposeError> {
        // Fast path: the store has already applied it (the counter is raised
        // after each applied batch is visible to reads).
        if self.inner.applied.load(Ordering::Acquire) >= index {
            return Ok(());
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        self.inner
            .raft
            .wait(Some(wait))
            .applied_index_at_least(Some(index), "read index")
            .await
            .map(|_| ())
            .map_err(|_| ProposeError::Timeout)
    }

    async fn remote_read_index(&self, leader: &PeerNode, deadline: Instant) -> Result<u64, Retry> {
        let request = ReadIndexRequest {
            cluster_id: self.cluster_id(),
        };
        self.inner
            .channels
            .read_index(&leader.peer_urls, request, time_left(deadline))
            .await
            .map(|answer| answer.read_index)
            .map_err(classify_forward_error)
    }

    /// Stops Raft and makes the state machine durable.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
        if let Err(e) = self.inner.store.sync() {
            tracing::error!("state machine sync at shutdown failed: {e}");
        }
    }
}

/// openraft's election timer settings for etcd's `--election-timeout`.
///
/// etcd's follower campaigns when it has heard nothing from the leader for a
/// random time in [T, 2T), T being `--election-timeout`, and (check-quorum)
/// refuses votes for T after the last leader message. openraft's follower
/// instead refuses votes for a leader lease of `election_timeout_max` after the
/// last leader message and campaigns only when that lease *plus* a random
/// timeout in [`election_timeout_min`, `election_timeout_max`) has passed. Mapping
/// T to [T, 2T) directly made a follower wait 2T + [T, 2T) = 3–4 s after a leader
/// died (with T = 1 s), three times etcd's fail-over.
///
/// Here the lease is 3T/5 and the random part [2T/5, 3T/5), so a follower
/// campaigns [T, 6T/5) after the last leader message: never earlier than etcd's
/// follower (the same tolerance for a slow leader), and at most a fifth of T
/// later. The 200 ms spread at T = 1 s is far above a vote round trip on a LAN,
/// so split votes stay rare. etcd requires T ≥ 5 heartbeats, which keeps
/// `election_timeout_min` (2T/5 ≥ 2 heartbeats) above openraft's minimum of a
/// heartbeat plus a tick (≈ 1.2 heartbeats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ElectionTimers {
    pub(crate) timeout_min_ms: u64,
    /// Also openraft's leader lease.
    pub(crate) timeout_max_ms: u64,
}

impl ElectionTimers {
    pub(crate) fn from_etcd(election_timeout_ms: u64) -> ElectionTimers {
        let max = (election_timeout_ms.saturating_mul(3) / 5).max(2);
        let min =
            (election_timeout_ms - election_timeout_ms.saturating_mul(3) / 5).clamp(1, max - 1);
        ElectionTimers {
            timeout_min_ms: min,
            timeout_max_ms: max,
        }
    }
}

/// What is left until `deadline` (at least a millisecond, for a request timeout).
pub(crate) fn time_left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// What one try of a request that goes through the leader gave.
pub(crate) enum Attempt<T> {
    /// The answer, or a failure not worth trying again.
    Done(Result<T, ProposeError>),
    /// Nothing happened; try again. Whether a leader was known decides the
    /// error if time runs out.
    Again { leader_known: bool },
}

/// Runs `attempt` every 20 ms until it is done or `deadline` has passed; then
/// fails with `Timeout` if the last try knew a leader, else with `NoLeader`
/// (etcd's "request timed out" and "no leader").
pub(crate) async fn retry_until<T, F, Fut>(
    deadline: Instant,
    mut attempt: F,
) -> Result<T, ProposeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt<T>>,
{
    loop {
        let leader_known = match attempt().await {
            Attempt::Done(result) => return result,
            Attempt::Again { leader_known } => leader_known,
        };
        if Instant::now() >= deadline {
            return Err(if leader_known {
                ProposeError::Timeout
            } else {
                ProposeError::NoLeader
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) enum Retry {
    /// Nothing was proposed; try again (leader changed or unreachable).
    Again,
    Fail(ProposeError),
}

pub(crate) fn classify_forward_error(status: tonic::Status) -> Retry {
    let msg = status.message();
    if msg == NOT_LEADER || msg.contains("tcp connect error") || msg.contains("Connection refused")
    {
        return Retry::Again;
    }
    // The connection failed during the call (tonic says "transport error" with
    // code Unknown, or hyper's "operation was canceled" with code Cancelled
    // when the leader died mid-call), or the leader is unavailable: the
    // request may or may not have reached it, so the outcome is unknown. etcd
    // answers "request timed out" then; passing tonic's text on would give
    // clients an error code they do not expect.
    // The leader's own errors start with "etcdserver:" and pass through.
    let code = status.code();
    let from_leader = msg.starts_with("etcdserver:");
    let outcome_unknown = (code == tonic::Code::Unknown && msg.contains("transport error"))
        || (!from_leader && matches!(code, tonic::Code::Cancelled | tonic::Code::Unavailable));
    if outcome_unknown {
        return Retry::Fail(ProposeError::Timeout);
    }
    Retry::Fail(ProposeError::Remote(status.code(), msg.to_string()))
}

#[cfg(test)]
mod tests {
    use super::{classify_forward_error, ElectionTimers, ProposeError, Retry};

    #[test]
    fn a_forward_cut_off_mid_call_is_a_timeout_not_tonics_text() {
        for status in [
            tonic::Status::cancelled("operation was canceled"),
            tonic::Status::unknown("transport error"),
            tonic::Status::unavailable("connection reset"),
        ] {
            assert!(
                matches!(
                    classify_forward_error(status.clone()),
                    Retry::Fail(ProposeError::Timeout)
                ),
                "{status:?}"
            );
        }
        // The leader's own etcd errors pass through.
        assert!(matches!(
            classify_forward_error(tonic::Status::invalid_argument(
                "etcdserver: member not found"
            )),
            Retry::Fail(ProposeError::Remote(tonic::Code::InvalidArgument, _))
        ));
    }

    #[test]
    fn election_timers_campaign_between_t_and_six_fifths_t() {
        for t in [5u64, 10, 500, 1000, 1234, 5000, 50_000] {
            let timers = ElectionTimers::from_etcd(t);
            let lease = timers.timeout_max_ms;
            assert!(
                timers.timeout_min_ms < timers.timeout_max_ms,
                "{t}: {timers:?}"
            );
            // Earliest campaign: the lease plus the shortest random timeout.
            assert_eq!(lease + timers.timeout_min_ms, t, "{t}: {timers:?}");
            assert!(
                lease + timers.timeout_max_ms <= t * 6 / 5 + 1,
                "{t}: {timers:?}"
            );
        }
    }

    #[test]
    fn election_timers_are_valid_for_openraft_at_five_heartbeats() {
        for heartbeat in [1u64, 10, 100, 1000] {
            let timers = ElectionTimers::from_etcd(5 * heartbeat);
            let config = openraft::Config {
                heartbeat_interval: heartbeat,
                election_timeout_min: timers.timeout_min_ms,
                election_timeout_max: timers.timeout_max_ms,
                ..Default::default()
            };
            assert!(
                config.validate().is_ok(),
                "heartbeat {heartbeat}: {timers:?}"
            );
        }
    }
}
