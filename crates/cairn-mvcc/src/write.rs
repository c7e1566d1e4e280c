//! One write transaction of the key space (etcd's `storeTxnWrite`): every change
//! it makes gets main revision `begin + 1` and the next sub revision; the store's
//! revision moves forward only if something changed. Put and DeleteRange are
//! answered here as etcd's apply layer answers them.

use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, ResponseHeader,
};
use cairn_proto::mvccpb::KeyValue;
use prost::Message;

use crate::error::{Error, KvError, StoreError};
use crate::index::KeySpan;
use crate::revision::{self, Revision};
use crate::state::State;
use crate::view::{RangeOptions, View};

/// The `kv` table inside the batch's redb write transaction.
pub(crate) type KvTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

/// A write transaction over the key space.
pub(crate) struct WriteTxn<'a, 't> {
    state: &'a mut State,
    kv: &'a mut KvTable<'t>,
    begin_rev: i64,
    changes: i64,
}

impl<'a, 't> WriteTxn<'a, 't> {
    pub(crate) fn new(state: &'a mut State, kv: &'a mut KvTable<'t>) -> Self {
        let begin_rev = state.current_rev;
        WriteTxn {
            state,
            kv,
            begin_rev,
            changes: 0,
        }
    }

    /// The revision reads see: the transaction's own if it changed anything.
    pub(crate) fn rev(&self) -> i64 {
        if self.changes > 0 {
            self.begin_rev + 1
        } else {
            self.begin_rev
        }
    }

    /// The key space including this transaction's changes so far.
    pub(crate) fn view(&self) -> View<'_, KvTable<'t>> {
        View {
            index: &self.state.index,
            kv: &*self.kv,
            rev: self.rev(),
            compact_rev: self.state.compact_rev,
        }
    }

    pub(crate) fn lease_exists(&self, id: i64) -> bool {
        self.state.leases.contains(id)
    }

    /// Ends the transaction: the store's revision advances if anything changed.
    /// Returns the store's revision afterwards.
    pub(crate) fn end(self) -> i64 {
        if self.changes > 0 {
            self.state.current_rev = self.begin_rev + 1;
        }
        self.state.current_rev
    }

    fn next_rev(&self) -> Revision {
        Revision::new(self.begin_rev + 1, self.changes)
    }

    /// Writes `kv` at `rev` and hands it on as the watch event of the change.
    fn store(&mut self, rev: Revision, tombstone: bool, kv: KeyValue) -> Result<(), StoreError> {
        let key = revision::encode(rev, tombstone);
        self.kv
            .insert(key.as_slice(), kv.encode_to_vec().as_slice())
            .map_err(StoreError::db("write kv table"))?;
        self.state
            .pending_events
            .push(crate::watch_feed::event(rev, tombstone, kv));
        Ok(())
    }

    /// Writes `key` = `value` attached to `lease` (0 for none).
    pub(crate) fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> Result<i64, Error> {
        let main = self.begin_rev + 1;
        let (created, version, old_lease) = match self.state.index.get(key, main) {
            Some(at) => (at.created.main, at.version, self.state.leases.lease_of(key)),
            None => (main, 0, 0),
        };
        let rev = self.next_rev();
        let kv = KeyValue {
            key: key.to_vec(),
            value,
            create_revision: created,
            mod_revision: main,
            version: version + 1,
            lease,
        };
        self.store(rev, false, kv)?;
        self.state.index.put(key, rev);
        self.changes += 1;
        if old_lease != 0 {
            self.state.leases.detach(old_lease, key);
        }
        if lease != 0 {
            self.state.leases.attach(lease, key);
        }
        Ok(main)
    }

    /// Deletes every live key in `span`; returns how many were deleted.
    pub(crate) fn delete_span(&mut self, span: KeySpan<'_>) -> Result<i64, Error> {
        let keys = self.state.index.live_keys(span, self.rev());
        for key in &keys {
            self.delete(key)?;
        }
        Ok(keys.len() as i64)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), Error> {
        let rev = self.next_rev();
        let kv = KeyValue {
            key: key.to_vec(),
            ..Default::default()
        };
        self.store(rev, true, kv)?;
        if !self.state.index.tombstone(key, rev) {
            return Err(StoreError::Inconsistent(format!(
                "deleting key {key:?} that the index does not hold live"
            ))
            .into());
        }
        self.changes += 1;
        let lease = self.state.leases.lease_of(key);
        if lease != 0 {
            self.state.leases.detach(lease, key);
        }
        Ok(())
    }

    /// etcd's Put. Outside a txn the lease is checked here; inside one the txn
    /// checked it (and `ignore_*` keys) before writing anything.
    pub(crate) fn put_request(
        &mut self,
        p: &PutRequest,
        in_txn: bool,
    ) -> Result<PutResponse, Error> {
        if !in_txn && p.lease != 0 && !self.lease_exists(p.lease) {
            return Err(KvError::LeaseNotFound.into());
        }
        let prev = if p.ignore_value || p.ignore_lease || p.prev_kv {
            self.view()
                .range_keys(KeySpan::Single(&p.key), RangeOptions::default())?
                .kvs
                .into_iter()
                .next()
        } else {
            None
        };
        let (mut value, mut lease) = (p.value.as_slice(), p.lease);
        if p.ignore_value || p.ignore_lease {
            match &prev {
                Some(prev) => {
                    if p.ignore_value {
                        value = &prev.value;
                    }
                    if p.ignore_lease {
                        lease = prev.lease;
                    }
                }
                // Only reachable inside a txn whose own earlier delete removed the key
                // (etcd panics there); write as if the flags were not set.
                None if in_txn => {}
                None => return Err(KvError::KeyNotFound.into()),
            }
        }
        let revision = self.put(&p.key, value.to_vec(), lease)?;
        Ok(PutResponse {
            header: Some(header(revision)),
            prev_kv: if p.prev_kv { prev } else { None },
        })
    }

    /// etcd's DeleteRange.
    pub(crate) fn delete_request(
        &mut self,
        d: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, Error> {
        let span = KeySpan::new(&d.key, &d.range_end);
        let prev_kvs = if d.prev_kv {
            self.view().all(span)?
        } else {
            Vec::new()
        };
        let deleted = self.delete_span(span)?;
        let revision = if deleted != 0 || self.changes > 0 {
            self.begin_rev + 1
        } else {
            self.begin_rev
        };
        Ok(DeleteRangeResponse {
            header: Some(header(revision)),
            deleted,
            prev_kvs,
        })
    }

    /// Deletes every key attached to `lease`, in key order (etcd's revoke).
    pub(crate) fn delete_lease_keys(&mut self, lease: i64) -> Result<(), Error> {
        let keys: Vec<Vec<u8>> = match self.state.leases.get(lease) {
            Some(l) => l.keys.iter().cloned().collect(),
            None => return Ok(()),
        };
        for key in keys {
            self.delete_span(KeySpan::Single(&key))?;
        }
        Ok(())
    }
}

/// A response header carrying only the revision (the server fills the rest).
pub(crate) fn header(revision: i64) -> ResponseHeader {
    ResponseHeader {
        revision,
        ..Default::default()
    }
}
