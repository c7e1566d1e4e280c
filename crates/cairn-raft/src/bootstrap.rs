//! Offline construction of data dirs, with no Raft running:
//! - [`restore`]: a data dir for a NEW cluster from a state snapshot (what
//!   `cairnctl snapshot restore` builds from an etcd snapshot file);
//! - [`force_new_cluster`]: a member's own data dir turned into a one-member
//!   cluster with a new cluster ID (`cairn --force-new-cluster`).
//!
//! Both leave the data dir in the state a member is in right after a Raft
//! snapshot: the state machine holds everything up to a log position P (with the
//! membership at P), durably, and the Raft log is empty and purged up to P. So a
//! member that joins later is sent the store as a snapshot — it can never replay
//! an empty history onto an empty store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_mvcc::{ApplyEntry, SnapshotBuilder, Store, StoreError, StoreRows};
use openraft::EntryPayload;

use crate::datadir::{io_err, DataDir, Identity};
use crate::errors::NodeError;
use crate::identity;
use crate::log_store::LogStore;
use crate::node::NodeConfig;
use crate::state_machine::{stored_applied, AppliedState};
use crate::types::{LogId, MemberId, Membership, PeerNode, Vote};

/// Where and as whom a snapshot is restored (etcd's restore flags).
#[derive(Clone, Debug)]
pub struct RestoreTarget {
    pub data_dir: PathBuf,
    pub name: String,
    /// `--initial-cluster`: member name and its peer URLs.
    pub initial_cluster: Vec<(String, Vec<String>)>,
    pub initial_cluster_token: String,
    pub initial_advertise_peer_urls: Vec<String>,
}

/// The state to restore: the store's rows (borrowed from the snapshot file
/// being restored) and its revisions.
pub struct RestoredState<'a> {
    /// etcd `key` bucket rows in key order: 17/18-byte revision key →
    /// `mvccpb.KeyValue` bytes.
    pub kvs: Vec<(&'a [u8], &'a [u8])>,
    /// Granted leases: (lease ID, TTL in seconds).
    pub leases: Vec<(i64, i64)>,
    /// The current revision: at least the newest row's and the compact revision.
    pub current_revision: i64,
    /// -1 when never compacted.
    pub compact_revision: i64,
}

fn store_err(e: impl std::fmt::Display) -> NodeError {
    NodeError::Store(e.to_string())
}

/// etcd refuses to restore into a data dir that exists and is not empty.
fn ensure_empty(dir: &Path) -> Result<(), NodeError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_none() {
                Ok(())
            } else {
                Err(NodeError::Config(format!(
                    "data-dir {:?} not empty or could not be read",
                    dir.display().to_string()
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => Err(NodeError::Config(format!(
            "data-dir {:?} not empty or could not be read",
            dir.display().to_string()
        ))),
    }
}

/// Builds a data dir for member `target.name` of a new cluster made of
/// `--initial-cluster`, holding `state`. The data dir is written under a
/// temporary name next to it and renamed into place at the end, so a failure
/// leaves nothing behind. `approve` runs once all of it is written, before
/// the rename: an error from it discards the data dir (a check of the input
/// that ran meanwhile). Returns the new member's identity.
pub fn restore(
    target: &RestoreTarget,
    state: RestoredState<'_>,
    approve: impl FnOnce() -> Result<(), NodeError>,
) -> Result<Identity, NodeError> {
    ensure_empty(&target.data_dir)?;
    let cfg = NodeConfig {
        name: target.name.clone(),
        data_dir: target.data_dir.clone(),
        initial_cluster: target.initial_cluster.clone(),
        initial_advertise_peer_urls: target.initial_advertise_peer_urls.clone(),
        initial_cluster_state_new: true,
        initial_cluster_token: target.initial_cluster_token.clone(),
        heartbeat_interval_ms: 100,
        election_timeout_ms: 1000,
        snapshot_count: 1,
        request_timeout: std::time::Duration::from_secs(1),
        peer_tls: None,
        lease_checkpoint_interval: std::time::Duration::from_secs(300),
    };
    let identity = cfg.new_identity()?;
    let members = cfg.initial_members()?;

    let staging = staging_path(&target.data_dir);
    if staging.exists() {
        // Left by an interrupted restore of ours; never holds anything else.
        std::fs::remove_dir_all(&staging).map_err(|e| io_err(&staging, e))?;
    }
    let result = (|| {
        let dir = DataDir::new(&staging);
        create_layout(&dir)?;
        let point = LogId::new_term_index(1, 1);
        let applied = AppliedState {
            last_applied: Some(point),
            membership: Membership::new(Some(point), voters_of(&members)?),
            removed: BTreeSet::new(),
        };
        let raft_state = bincode::serialize(&applied).map_err(store_err)?;
        let rows = StoreRows {
            kvs: &state.kvs,
            leases: &state.leases,
            current_revision: state.current_revision,
            compact_revision: state.compact_revision,
            applied_index: point.index,
            raft_state: Some(raft_state),
        };
        cairn_mvcc::create_store(&dir.db_path(), &rows).map_err(store_err)?;
        let log_path = dir.wal_dir();
        let log = LogStore::open(&log_path).map_err(|e| io_err(&log_path, e))?;
        log.reset(&point, &Vote::new(1, identity.member_id))
            .map_err(|e| io_err(&log_path, e))?;
        dir.write_identity(&identity)?;
        approve()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if target.data_dir.exists() {
        // An empty directory (checked above); the restored one takes its place.
        std::fs::remove_dir(&target.data_dir).map_err(|e| io_err(&target.data_dir, e))?;
    }
    std::fs::rename(&staging, &target.data_dir).map_err(|e| io_err(&target.data_dir, e))?;
    sync_parent(&target.data_dir)?;
    Ok(identity)
}

/// What an offline data dir holds, for a recovery plan.
#[derive(Clone, Debug)]
pub struct DataDirReport {
    pub identity: Identity,
    pub applied_index: u64,
    /// The last index this member knows committed.
    pub committed_index: u64,
    pub last_log_index: u64,
    pub revision: i64,
    pub compact_revision: i64,
    pub keys: usize,
    /// The membership as this member last applied it: (ID, name-less peer URLs, voter).
    pub members: Vec<(MemberId, Vec<String>, bool)>,
}

/// Reads a stopped member's data dir without changing it.
pub fn inspect(data_dir: &Path) -> Result<DataDirReport, NodeError> {
    let dir = DataDir::new(data_dir);
    if !dir.identity_path().exists() {
        return Err(NodeError::Config(format!(
            "{} holds no member data",
            data_dir.display()
        )));
    }
    let identity = dir.read_identity()?;
    // Opening the databases may write to them (recovery after a crash), so the
    // report is read from copies: the data dir stays exactly as it was.
    let scratch = std::env::temp_dir().join(format!(
        "cairn-inspect-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let result = inspect_copy(&dir, &scratch, identity);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn inspect_copy(
    dir: &DataDir,
    scratch: &Path,
    identity: Identity,
) -> Result<DataDirReport, NodeError> {
    let copy = DataDir::new(scratch);
    create_layout(&copy)?;
    std::fs::copy(dir.db_path(), copy.db_path()).map_err(|e| io_err(&dir.db_path(), e))?;
    let wal = dir.wal_dir();
    for file in std::fs::read_dir(&wal).map_err(|e| io_err(&wal, e))? {
        let file = file.map_err(|e| io_err(&wal, e))?;
        let from = file.path();
        if from.is_file() {
            std::fs::copy(&from, copy.wal_dir().join(file.file_name()))
                .map_err(|e| io_err(&from, e))?;
        }
    }
    let dir = copy;
    let store = Store::open(&dir.db_path()).map_err(store_err)?;
    let applied = stored_applied(&store).map_err(store_err)?;
    let log_path = dir.wal_dir();
    let log = LogStore::open(&log_path).map_err(|e| io_err(&log_path, e))?;
    let committed = log.committed().map_err(|e| io_err(&log_path, e))?;
    let last_log_index = log.last_index().map_err(|e| io_err(&log_path, e))?;
    let applied_index = applied.last_applied.map(|l| l.index).unwrap_or(0);
    let membership = applied.membership.membership();
    let voters: BTreeSet<MemberId> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, n)| (*id, n.peer_urls.clone(), voters.contains(id)))
        .collect();
    let keys = store
        .range(&cairn_proto::etcdserverpb::RangeRequest {
            key: vec![0],
            range_end: vec![0],
            count_only: true,
            ..Default::default()
        })
        .map(|r| r.count as usize)
        .unwrap_or(0);
    Ok(DataDirReport {
        identity,
        applied_index,
        committed_index: committed.map(|c| c.index).unwrap_or(0).max(applied_index),
        last_log_index: last_log_index.max(applied_index),
        revision: store.current_revision(),
        compact_revision: store.compact_revision(),
        keys,
        members,
    })
}

/// Rewrites a member's own data dir into a one-member cluster with a new
/// cluster ID, keeping its member ID, everything it applied and every entry
/// its log holds beyond that, whether or not it knew the entry committed.
///
/// etcd drops the entries past the commit index it persisted. Cairn keeps them:
/// a member learns that an entry committed only with the leader's next message,
/// and persists that lazily, so after a crash the last writes the old leader
/// acknowledged may sit in this log without being known committed. An entry
/// that never committed was never acknowledged either (its client saw an
/// error or a timeout), so applying it is allowed.
/// With `bump_revision`, the revision moves that far past the current one and
/// everything before is marked compacted (etcd's `--bump-revision
/// --mark-compacted`), so clients never see revisions go backwards.
/// Returns the new identity.
pub fn force_new_cluster(
    data_dir: &Path,
    bump_revision: Option<i64>,
) -> Result<Identity, NodeError> {
    let dir = DataDir::new(data_dir);
    if !dir.identity_path().exists() {
        return Err(NodeError::Config(format!(
            "--force-new-cluster: {} holds no member data (nothing to start a new cluster from)",
            data_dir.display()
        )));
    }
    let old = dir.read_identity()?;
    let store = Store::open(&dir.db_path()).map_err(store_err)?;
    let mut applied = stored_applied(&store).map_err(store_err)?;
    let log_path = dir.wal_dir();
    let log = LogStore::open(&log_path).map_err(|e| io_err(&log_path, e))?;
    let last_index = log.last_index().map_err(|e| io_err(&log_path, e))?;
    let vote = log.vote().map_err(|e| io_err(&log_path, e))?;

    // Apply every entry the log holds beyond the applied point.
    let applied_index = applied.last_applied.map(|l| l.index).unwrap_or(0);
    let mut last = applied.last_applied;
    let pending = if last_index > applied_index {
        log.entries_between(applied_index + 1, last_index)
            .map_err(|e| io_err(&log_path, e))?
    } else {
        Vec::new()
    };
    if let Some(e) = pending.last() {
        last = Some(e.log_id);
    }

    let me = applied
        .membership
        .membership()
        .get_node(&old.member_id)
        .cloned()
        .or_else(|| old.initial_members.get(&old.member_id).cloned())
        .ok_or_else(|| {
            NodeError::Config(format!(
                "--force-new-cluster: member {:x} is not in its own membership",
                old.member_id
            ))
        })?;
    let me = PeerNode {
        pending_voter: false,
        ..me
    };
    let last_term = last.map(|l| l.leader_id.term).unwrap_or(0);
    let term = last_term.max(vote.map(|v| v.leader_id.term).unwrap_or(0)) + 1;
    let point = LogId::new_term_index(term, last.map(|l| l.index).unwrap_or(0) + 1);
    let members = BTreeMap::from([(old.member_id, me)]);
    let before: BTreeSet<MemberId> = applied
        .membership
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| *id != old.member_id)
        .collect();
    applied.removed.extend(before);
    applied.last_applied = Some(point);
    applied.membership = Membership::new(Some(point), voters_of(&members)?);
    let raft_state = bincode::serialize(&applied).map_err(store_err)?;
    let entries: Vec<ApplyEntry<'_>> = pending
        .iter()
        .map(|e| ApplyEntry {
            index: e.log_id.index,
            request: match &e.payload {
                EntryPayload::Normal(r) => Some(&r.0),
                _ => None,
            },
        })
        .chain(std::iter::once(ApplyEntry {
            index: point.index,
            request: None,
        }))
        .collect();
    store
        .apply_batch(&entries, &raft_state)
        .map_err(store_err)?;
    if let Some(bump) = bump_revision.filter(|b| *b > 0) {
        bump_and_mark_compacted(&store, bump, point.index, &raft_state)?;
    }

    let identity = Identity {
        member_id: old.member_id,
        cluster_id: new_cluster_id(old.cluster_id, old.member_id),
        name: old.name.clone(),
        initial_members: members,
        superseded_cluster_id: Some(old.cluster_id),
    };
    drop(log);
    // The store is made durable before the log loses the entries just applied.
    finish_member(
        &dir,
        &store,
        &applied,
        &Vote::new(term, old.member_id),
        &identity,
    )?;
    tracing::warn!(
        member = format!("{:x}", identity.member_id),
        old_cluster = format!("{:x}", old.cluster_id),
        new_cluster = format!("{:x}", identity.cluster_id),
        applied_entries = pending.len(),
        "force-new-cluster: this member is now a one-member cluster with all the data it had applied or held in its log"
    );
    Ok(identity)
}

/// Rewrites the store with its revision moved `bump` forward and compacted there.
fn bump_and_mark_compacted(
    store: &Store,
    bump: i64,
    applied_index: u64,
    raft_state: &[u8],
) -> Result<(), NodeError> {
    let bumped = store.current_revision().saturating_add(bump);
    let mut builder = SnapshotBuilder::new();
    store
        .visit_etcd_rows(|tables, key_rows| {
            key_rows.for_each(|k, v| builder.key_bucket_row(k, v))?;
            for (id, ttl) in &tables.leases {
                builder.lease(*id, *ttl)?;
            }
            for m in &tables.members {
                builder.member(m)?;
            }
            Ok::<_, StoreError>(())
        })
        .map_err(store_err)?;
    let (blob, _) = builder
        .finish(
            Some(bumped),
            bumped,
            applied_index,
            Some(raft_state.to_vec()),
        )
        .map_err(store_err)?;
    store.install_snapshot(&blob).map_err(store_err)
}

/// `members` as one voter set.
fn voters_of(
    members: &BTreeMap<MemberId, PeerNode>,
) -> Result<openraft::Membership<MemberId, PeerNode>, NodeError> {
    let voters: BTreeSet<MemberId> = members.keys().copied().collect();
    openraft::Membership::new(vec![voters], members.clone())
        .map_err(|e| NodeError::Config(format!("membership: {e}")))
}

fn create_layout(dir: &DataDir) -> Result<(), NodeError> {
    for d in [dir.wal_dir(), dir.snap_dir()] {
        std::fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
    }
    Ok(())
}

/// Makes the store durable, then resets the log to the applied point (in
/// that order: the log may hold entries only the store's unsynced writes
/// carry), then writes the identity.
fn finish_member(
    dir: &DataDir,
    store: &Store,
    applied: &AppliedState,
    vote: &Vote,
    identity: &Identity,
) -> Result<(), NodeError> {
    store.sync().map_err(store_err)?;
    let point = applied
        .last_applied
        .ok_or_else(|| NodeError::Store("no applied position".into()))?;
    let log_path = dir.wal_dir();
    let log = LogStore::open(&log_path).map_err(|e| io_err(&log_path, e))?;
    log.reset(&point, vote).map_err(|e| io_err(&log_path, e))?;
    dir.write_identity(identity)
}

fn staging_path(data_dir: &Path) -> PathBuf {
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    data_dir.with_file_name(format!(".{name}.restoring"))
}

fn sync_parent(path: &Path) -> Result<(), NodeError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(&parent, e))
}

/// A fresh cluster ID for a cluster forked from `old` by `member`.
fn new_cluster_id(old: u64, member: MemberId) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let salt = format!("{old:x}/{member:x}/{now}");
    identity::member_id(&[salt], "cairn-force-new-cluster")
}
