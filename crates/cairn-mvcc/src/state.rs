//! The in-memory half of the store and how it is rebuilt from the tables: the key
//! index (replayed from the `kv` table as etcd's restore does), lease attachments
//! (from each live key's latest value), leases, members and the meta values.
//! Every check here guards against a damaged file: nothing is trusted blindly.

use std::collections::{BTreeMap, HashMap};

use cairn_proto::cairnpb::MemberAttributes;
use cairn_proto::mvccpb::KeyValue;
use prost::Message;
use redb::ReadableTable;

use crate::backend::{self, Meta};
use crate::index::TreeIndex;
use crate::lease::{self, Leases};
use crate::revision;

/// Everything the store keeps in memory; guarded by the store's lock.
#[derive(Clone, Debug)]
pub(crate) struct State {
    pub index: TreeIndex,
    /// The revision of the last write (1 on an empty store, as in etcd).
    pub current_rev: i64,
    /// The last compaction's revision (-1 before the first, as in etcd).
    pub compact_rev: i64,
    pub leases: Leases,
    pub members: BTreeMap<u64, MemberAttributes>,
    /// Index of the last applied Raft entry (etcd's consistent index).
    pub applied_index: u64,
    /// The Raft layer's blob stored with the last applied batch.
    pub raft_state: Option<Vec<u8>>,
    /// Raised alarms: (member ID, etcd `AlarmType` number), sorted.
    pub alarms: Vec<(u64, i32)>,
    /// Watch events of the batch being applied, in revision order; handed to
    /// the watch feed once the batch commits.
    pub pending_events: Vec<cairn_proto::mvccpb::Event>,
}

impl State {
    /// The state of a brand-new store.
    pub(crate) fn empty() -> State {
        State {
            index: TreeIndex::default(),
            current_rev: 1,
            compact_rev: -1,
            leases: Leases::default(),
            members: BTreeMap::new(),
            applied_index: 0,
            raft_state: None,
            alarms: Vec::new(),
            pending_events: Vec::new(),
        }
    }

    /// The meta values to persist.
    pub(crate) fn meta(&self) -> Meta {
        Meta {
            current_rev: self.current_rev,
            compact_rev: self.compact_rev,
            applied_index: self.applied_index,
            raft_state: self.raft_state.clone(),
            alarms: self.alarms.clone(),
        }
    }
}

/// Rebuilds the state from the four tables; the error says what is wrong.
pub(crate) fn load(
    kv: &impl ReadableTable<&'static [u8], &'static [u8]>,
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    leases: &impl ReadableTable<i64, &'static [u8]>,
    members: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<State, String> {
    let mut state = load_all_but_kv(meta, leases, members)?;
    let mut replay = KvReplay::default();
    for entry in kv.iter().map_err(|e| format!("reading kv: {e}"))? {
        let (k, v) = entry.map_err(|e| format!("reading kv: {e}"))?;
        replay.row(k.value(), v.value())?;
    }
    replay.finish(&mut state)?;
    Ok(state)
}

/// The state as [`load`] rebuilds it, from every table but `kv` (whose rows
/// are then replayed with [`KvReplay`]).
pub(crate) fn load_all_but_kv(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    leases: &impl ReadableTable<i64, &'static [u8]>,
    members: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<State, String> {
    let m = backend::read_meta(meta)?;
    let mut state = State {
        current_rev: m.current_rev,
        compact_rev: m.compact_rev,
        applied_index: m.applied_index,
        raft_state: m.raft_state,
        alarms: m.alarms,
        ..State::empty()
    };
    if state.current_rev < 1 || state.compact_rev > state.current_rev {
        return Err(format!(
            "meta revisions are impossible: current {}, compact {}",
            state.current_rev, state.compact_rev
        ));
    }

    for entry in leases.iter().map_err(|e| format!("reading leases: {e}"))? {
        let (id, record) = entry.map_err(|e| format!("reading leases: {e}"))?;
        let (ttl, remaining) = lease::decode_record(record.value())
            .ok_or_else(|| format!("lease {:x} has a malformed record", id.value()))?;
        state.leases.grant(id.value(), ttl);
        state.leases.checkpoint(id.value(), remaining);
    }

    for entry in members
        .iter()
        .map_err(|e| format!("reading members: {e}"))?
    {
        let (id, record) = entry.map_err(|e| format!("reading members: {e}"))?;
        let member = MemberAttributes::decode(record.value())
            .map_err(|e| format!("member {:x}: {e}", id.value()))?;
        if member.member_id != id.value() {
            return Err(format!(
                "member record {:x} names member {:x}",
                id.value(),
                member.member_id
            ));
        }
        state.members.insert(id.value(), member);
    }

    Ok(state)
}

/// Replays the `kv` table's rows, in key (revision) order, into a key index and
/// each live key's lease as of its latest entry, checking every row as it goes.
/// Shared by [`load`] and by creating a store from rows held in memory.
#[derive(Default)]
pub(crate) struct KvReplay {
    index: TreeIndex,
    key_lease: HashMap<Vec<u8>, i64>,
    /// The newest main revision seen (0 before any row).
    newest: i64,
    /// The revision of that newest row, for the error message.
    newest_sub: i64,
    /// The row being decoded; reused so that decoding allocates nothing.
    kv: KeyValue,
}

impl KvReplay {
    /// Checks and replays one row.
    pub(crate) fn row(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let (rev, tombstone) = revision::decode(key)
            .ok_or_else(|| format!("kv table key {key:02x?} is not a revision"))?;
        if rev.main < 1 || rev.sub < 0 {
            return Err(format!(
                "kv table holds the impossible revision {}.{}",
                rev.main, rev.sub
            ));
        }
        if rev.main >= self.newest {
            self.newest = rev.main;
            self.newest_sub = rev.sub;
        }
        // `KeyValue::decode` is `merge` into a default message; merging into
        // a cleared one is the same and reuses its key and value buffers.
        let kv = &mut self.kv;
        kv.clear();
        kv.merge(value)
            .map_err(|e| format!("value at revision {}.{}: {e}", rev.main, rev.sub))?;
        if kv.key.is_empty() || (!tombstone && kv.mod_revision != rev.main) {
            return Err(format!(
                "value at revision {}.{} does not belong there",
                rev.main, rev.sub
            ));
        }
        self.index
            .restore(&kv.key, rev, tombstone, kv.create_revision, kv.version);
        if tombstone || kv.lease == 0 {
            if !self.key_lease.is_empty() {
                self.key_lease.remove(&kv.key);
            }
        } else {
            self.key_lease.insert(kv.key.clone(), kv.lease);
        }
        Ok(())
    }

    /// Checks the rows against `state`'s current revision and hands it the
    /// key index and the lease attachments.
    pub(crate) fn finish(self, state: &mut State) -> Result<(), String> {
        if self.newest > state.current_rev {
            return Err(format!(
                "kv table holds revision {}.{} beyond the current revision {}",
                self.newest, self.newest_sub, state.current_rev
            ));
        }
        state.index = self.index;
        for (key, id) in self.key_lease {
            state.leases.attach(id, &key);
        }
        Ok(())
    }
}
