//! openraft's `RaftStateMachine` over the MVCC store. Committed entries are applied
//! in batches (one store transaction per batch, not fsynced); the store is made
//! durable periodically and always before a Raft snapshot is taken, so the Raft
//! log is only ever purged up to a durably applied index (etcd's consistent-index
//! pattern). A Raft snapshot is the store itself, as etcd's is its backend:
//! taking one makes the store durable up to the applied index, and the store is
//! exported ([`SnapshotData`]) only when a snapshot is sent to a member that
//! needs it. A received snapshot is streamed from its file into the store (the
//! receiver removes the file); no snapshot is ever held whole in memory.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cairn_mvcc::{ApplyEntry, ApplyResponse, ApplyResult, Store};
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
use crate::snapshot_data::SnapshotData;
use crate::types::{LogId, MemberId, Membership, Response, SnapshotMeta, TypeConfig};

type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;

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

/// The state machine handed to openraft. Cheap to clone.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    /// Where received snapshots are written and exports made.
    snap_dir: PathBuf,
    /// The applied state as last stored, cached so apply does not re-read it.
    /// Its lock also serializes apply, snapshot installation and the taking
    /// of a snapshot (the moment its view of the store is taken).
    applied: Arc<Mutex<AppliedState>>,
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
            snap_dir: snap_dir.to_path_buf(),
            removed: Arc::new(std::sync::RwLock::new(applied.removed.clone())),
            applied: Arc::new(Mutex::new(applied)),
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

    /// The directory received snapshots are written to.
    pub(crate) fn snapshot_dir(&self) -> &Path {
        &self.snap_dir
    }

    /// The store as it is now, made durable, as a Raft snapshot: its view and
    /// the applied state describing it are taken together, under the apply lock.
    async fn take_snapshot(&self) -> io::Result<Snapshot> {
        let applied = self.applied.lock().await;
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
        Ok(Snapshot {
            snapshot: SnapshotData::store(view, meta.clone(), &self.snap_dir),
            meta,
        })
    }
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
    type SnapshotData = SnapshotData;
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
            let started = std::time::Instant::now();
            let results = store.apply_batch(&apply, &raft_state);
            crate::metrics::applied(started.elapsed());
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
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let SnapshotData::Received(snapshot) = snapshot else {
            return Err(io::Error::other(
                "a member's own store cannot be installed into it as a snapshot",
            ));
        };
        let mut cached = self.applied.lock().await;
        let store = self.store.clone();
        crate::metrics::SNAPSHOT_APPLY_IN_PROGRESS.set(1);
        let installed =
            tokio::task::block_in_place(|| store.install_snapshot_from(snapshot.data()));
        crate::metrics::SNAPSHOT_APPLY_IN_PROGRESS.set(0);
        installed.map_err(io_other)?;
        *cached = stored_applied(&self.store)?;
        self.publish_removed(&cached);
        // The store holds it now, durably; the receiver removes the file.
        let index = meta.last_log_id.as_ref().map(|l| l.index).unwrap_or(0);
        tracing::info!(index, "cairn: installed raft snapshot");
        (self.on_applied)(index);
        Ok(())
    }

    /// The store as it is now (exported only if it is sent). openraft asks
    /// for it at start-up (only its meta is used) and to send a snapshot.
    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        if self.applied.lock().await.last_applied.is_none() {
            return Ok(None);
        }
        self.take_snapshot().await.map(Some)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    /// Taking a snapshot writes no copy of the state: the store is made
    /// durable up to the applied index, so the log may be purged up to it.
    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let started = Instant::now();
        let snapshot = self.take_snapshot().await?;
        tracing::info!(
            index = ?snapshot.meta.last_log_id.map(|l| l.index),
            millis = started.elapsed().as_millis() as u64,
            "cairn: took raft snapshot"
        );
        Ok(snapshot)
    }
}
