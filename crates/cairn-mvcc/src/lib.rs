//! Cairn's deterministic state machine: etcd 3.5's MVCC key space (revisions,
//! key index, compaction, HashKV) and apply layer (Put, DeleteRange, Txn,
//! Compaction, leases, member attributes), stored in redb.
//!
//! It knows nothing of networking or Raft. The Raft layer feeds it committed
//! entries in log order ([`Store::apply_batch`]) and asks it to persist them
//! ([`Store::sync`]); the API layer validates requests before proposing them
//! ([`validate`]) and serves local reads ([`Store::range`],
//! [`Store::txn_read_only`]). Errors a client may see are [`KvError`]s with
//! etcd's exact messages and gRPC codes.

mod apply;
mod backend;
mod bulk_load;
mod compare;
pub mod error;
mod etcd_rows;
mod go_sort;
mod hash;
mod import;
mod index;
mod key_index;
mod lease;
pub mod metrics;
mod one_or_many;
mod range;
mod revision;
mod snapshot;
mod state;
mod store;
mod transfer;
mod txn;
pub mod validate;
mod view;
mod watch_feed;
mod write;

#[cfg(test)]
mod tests;

pub use apply::{
    needs_space, ApplyEntry, ApplyResponse, ApplyResult, ALARM_CORRUPT, ALARM_NOSPACE,
};
pub use bulk_load::{create_store, StoreRows};
pub use error::{KvError, KvErrorCode, StoreError};
pub use etcd_rows::{EtcdTables, KeyBucketRows};
pub use import::SnapshotBuilder;
pub use lease::{LeaseInfo, MAX_LEASE_TTL};
pub use snapshot::record_size;
pub use store::{HashKv, Store};
pub use transfer::StoreSnapshot;
pub use txn::is_read_only as is_txn_read_only;
pub use watch_feed::{History, RevisionEvents};
