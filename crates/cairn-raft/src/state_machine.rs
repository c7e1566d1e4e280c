//! openraft's `RaftStateMachine` over the MVCC store. Committed entries are applied
//! in batches (one store transaction per batch, not fsynced); the store is made
//! durable periodically and always before a Raft snapshot is taken, so the Raft
//! log is only ever purged up to a durably applied index (etcd's consistent-index
//! pattern). The latest Raft snapshot is kept in `<data-dir>/member/snap/raft.snap`
//! ([`SnapshotFile`]): it is streamed from the store into that file when built,
//! and from a received file into the store when installed, never held whole in memory.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_mvcc::{ApplyEntry, ApplyResponse, ApplyResult, Store, StoreSnapshot};
use cairn_proto::cairnpb::internal_response::Response as Resp;
use cairn_proto::cairnpb::InternalResponse;

use crate::waiters::ProposalWaiters;
use futures::{Stream, TryStreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::errors::kv_error_status;
use crate::snapshot_file::SnapshotFile;
use crate::types::{LogId, MemberId, Membership, Response, SnapshotMeta, TypeConfig};

type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotFile>;

/// What the state machine records next to the data, in the same transaction.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppliedState {
    pub last_applied: Option<LogId>,
    pub membership: Membership,
    /// Members that were once in the applied membership and are not any more
    /// (etcd's removed-member list). Their IDs are never reused, and their peer
    /// messages are refused.
    pub removed: BTreeSet<MemberId>,
}

/// Where the Raft snapshot of a member whose snapshot directory is `snap_dir` is kept.
pub(crate) fn snapshot_file(snap_dir: &Path) -> PathBuf {
    crate::snapshot_file::current_path(snap_dir)
}

/// The state machine handed to openraft. Cheap to clone.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    snapshot_path: PathBuf,
    /// The applied state as last stored, cached so apply does not re-read it.
    /// Its lock also serializes apply, snapshot installation and the start
    /// of a snapshot build (the moment its view of the store is taken).
    applied: Arc<Mutex<AppliedState>>,
    /// Serializes writers of the snapshot file: a build writing it (after
    /// releasing `applied`) and an install renaming a received one into
    /// place. Taken after `applied` when both are held.
    snapshot_file_lock: Arc<Mutex<()>>,
    /// Called after every applied batch with the last applied index.
    on_applied: Arc<dyn Fn(u64) + Send + Sync>,
    /// A copy of `applied.removed` readable without waiting for apply.
    removed: Arc<std::sync::RwLock<BTreeSet<MemberId>>>,
    /// Forwarded proposals whose proposer waits for their apply here.
    waiters: ProposalWaiters,
}

/// The applied state as recorded in the store.
pub(crate) fn stored_applied(store: &Store) -> io::Result<AppliedState> {
    match store.raft_state().map_err(io_other)? {
        Some(bytes) => bincode::deserialize(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("state machine: corrupt applied state: {e}"),
            )
        }),
        None => Ok(AppliedState::default()),
    }
}

fn io_other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl StateMachine {
    /// Wraps the store; fails if its applied state cannot be decoded.
    pub fn open(
        store: Store,
        snap_dir: &Path,
        on_applied: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> io::Result<Self> {
        let applied = stored_applied(&store)?;
        Ok(StateMachine {
            store,
            snapshot_path: snapshot_file(snap_dir),
            removed: Arc::new(std::sync::RwLock::new(applied.removed.clone())),
            applied: Arc::new(Mutex::new(applied)),
            snapshot_file_lock: Arc::new(Mutex::new(())),
            on_applied,
            waiters: ProposalWaiters::default(),
        })
    }

    /// Where forwarded proposals wait for their apply on this member.
    pub fn waiters(&self) -> ProposalWaiters {
        self.waiters.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The applied state as of the last applied batch (or installed snapshot).
    pub async fn applied(&self) -> AppliedState {
        self.applied.lock().await.clone()
    }

    /// Whether this member ID was removed from the cluster (cheap; no lock on apply).
    pub fn is_removed(&self, id: MemberId) -> bool {
        self.removed
            .read()
            .map(|r| r.contains(&id))
            .unwrap_or(false)
    }

    fn publish_removed(&self, state: &AppliedState) {
        if let Ok(mut r) = self.removed.write() {
            if *r != state.removed {
                *r = state.removed.clone();
            }
        }
    }

    /// The directory the Raft snapshot and received snapshots are kept in.
    pub(crate) fn snapshot_dir(&self) -> &Path {
        self.snapshot_path.parent().unwrap_or(Path::new("."))
    }

    /// Fails if the stored Raft snapshot exists but its header cannot be read
    /// or its length does not match the file's.
    pub fn check_snapshot_file(&self) -> io::Result<()> {
        SnapshotFile::open(&self.snapshot_path).map(drop)
    }

    /// Offline: writes the Raft snapshot file from the store as it is now.
    pub(crate) fn write_snapshot_file(&self, state: &AppliedState) -> io::Result<()> {
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
        };
        self.store.sync().map_err(io_other)?;
        let view = self.store.snapshot_view().map_err(io_other)?;
        write_view(&self.snapshot_path, &meta, &view).map(drop)
    }
}

/// Streams `view` into the Raft snapshot file at `path`.
fn write_view(path: &Path, meta: &SnapshotMeta, view: &StoreSnapshot) -> io::Result<SnapshotFile> {
    SnapshotFile::write(path, meta, |out| {
        view.write_to(out).map(|(_, len)| len).map_err(io_other)
    })
}

/// Turns the store's result for one request into the wire form handed back to the proposer.
pub fn to_response(result: ApplyResult, index: u64) -> InternalResponse {
    let mut out = InternalResponse {
        applied_index: index,
        ..Default::default()
    };
    match result {
        Ok(ApplyResponse::Put(r)) => out.response = Some(Resp::Put(r)),
        Ok(ApplyResponse::DeleteRange(r)) => out.response = Some(Resp::DeleteRange(r)),
        Ok(ApplyResponse::Txn(r)) => out.response = Some(Resp::Txn(r)),
        Ok(ApplyResponse::Compaction(r)) => out.response = Some(Resp::Compaction(r)),
        Ok(ApplyResponse::LeaseGrant(r)) => out.response = Some(Resp::LeaseGrant(r)),
        Ok(ApplyResponse::LeaseRevoke(r)) => out.response = Some(Resp::LeaseRevoke(r)),
        Ok(ApplyResponse::Alarm(r)) => out.response = Some(Resp::Alarm(r)),
        Ok(ApplyResponse::None) => {}
        Err(e) => {
            let status = kv_error_status(&e);
            out.error_code = status.code() as u32;
            out.error_message = status.message().to_string();
        }
    }
    out
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), io::Error> {
        let state = self.applied.lock().await;
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut cached = self.applied.lock().await;
        let mut state = cached.clone();
        let mut batch = Vec::new();
        while let Some(item) = entries.try_next().await? {
            batch.push(item);
        }
        if batch.is_empty() {
            return Ok(());
        }
        for (entry, _) in &batch {
            let log_id = entry.log_id();
            if let EntryPayload::Membership(m) = &entry.payload {
                let before: BTreeSet<MemberId> = state
                    .membership
                    .membership()
                    .nodes()
                    .map(|(id, _)| *id)
                    .collect();
                let after: BTreeSet<MemberId> = m.nodes().map(|(id, _)| *id).collect();
                state.removed.extend(before.difference(&after));
                state.membership = Membership::new(Some(log_id), m.clone());
            }
            state.last_applied = Some(log_id);
        }
        let raft_state = bincode::serialize(&state).map_err(io_other)?;
        let store = self.store.clone();
        let (results, batch) = tokio::task::block_in_place(|| {
            let apply: Vec<ApplyEntry<'_>> = batch
                .iter()
                .map(|(entry, _)| ApplyEntry {
                    index: entry.log_id.index,
                    request: match &entry.payload {
                        EntryPayload::Normal(req) => Some(&req.0),
                        _ => None,
                    },
                })
                .collect();
            let results = store.apply_batch(&apply, &raft_state);
            (results, batch)
        });
        let results = results.map_err(io_other)?;
        self.publish_removed(&state);
        *cached = state;
        let last_index = batch.last().map(|(e, _)| e.log_id.index).unwrap_or(0);
        for ((entry, responder), result) in batch.into_iter().zip(results) {
            let waiter = match &entry.payload {
                EntryPayload::Normal(req) => self.waiters.take(req.0.proposal_id),
                _ => None,
            };
            // Most entries (all of them on a follower) have nobody waiting.
            if responder.is_none() && waiter.is_none() {
                continue;
            }
            let response = to_response(result, entry.log_id.index);
            match (responder, waiter) {
                (Some(responder), Some(waiter)) => {
                    waiter.send(response.clone());
                    responder.send(Response(response));
                }
                (Some(responder), None) => responder.send(Response(response)),
                (None, Some(waiter)) => waiter.send(response),
                (None, None) => {}
            }
        }
        (self.on_applied)(last_index);
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        let mut cached = self.applied.lock().await;
        let store = self.store.clone();
        tokio::task::block_in_place(|| store.install_snapshot_from(snapshot.data()))
            .map_err(io_other)?;
        *cached = stored_applied(&self.store)?;
        self.publish_removed(&cached);
        // A received snapshot becomes the member's own.
        let _file = self.snapshot_file_lock.lock().await;
        snapshot.rename_to(&self.snapshot_path)?;
        let index = meta.last_log_id.as_ref().map(|l| l.index).unwrap_or(0);
        tracing::info!(index, "cairn: installed raft snapshot");
        (self.on_applied)(index);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(SnapshotFile::open(&self.snapshot_path)?
            .map(|(meta, snapshot)| Snapshot { meta, snapshot }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        // The store's view and the meta describing it are taken together,
        // under the apply lock; the export itself (which reads the whole
        // state) runs while apply goes on.
        let applied = self.applied.lock().await;
        let file = self.snapshot_file_lock.lock().await;
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
        };
        let view = tokio::task::block_in_place(|| {
            self.store.sync()?;
            self.store.snapshot_view()
        })
        .map_err(io_other)?;
        drop(applied);
        let started = std::time::Instant::now();
        let snapshot =
            tokio::task::block_in_place(|| write_view(&self.snapshot_path, &meta, &view))?;
        drop(file);
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            bytes = snapshot.len(),
            millis = started.elapsed().as_millis() as u64,
            "cairn: built raft snapshot"
        );
        Ok(Snapshot { meta, snapshot })
    }
}
