//! Leases as the state machine sees them: which leases exist (ID and granted TTL)
//! and which keys are attached to each (etcd's lessor `leaseMap`/`itemMap`).
//! Expiry and keep-alives are decided outside the state machine; this only holds
//! what every member must agree on. Attachments are not stored: they follow from
//! each live key's latest value and are rebuilt at open, as etcd does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// etcd's upper bound on a lease TTL, in seconds.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// A granted lease.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lease {
    pub ttl: i64,
    /// The TTL left at the leader's last checkpoint (0: none since the last
    /// keep-alive); a new leader counts from it instead of the full TTL.
    pub remaining: i64,
    /// Attached keys, in byte order (the order a revoke deletes them in).
    pub keys: BTreeSet<Vec<u8>>,
}

/// What a caller may learn about one lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    pub id: i64,
    /// The TTL it was granted with, in seconds.
    pub ttl: i64,
    /// Seconds left at the last checkpoint; 0 if none (then the full TTL counts).
    pub remaining: i64,
    /// Keys attached to it, in byte order.
    pub keys: Vec<Vec<u8>>,
}

/// All leases and the key → lease attachments.
#[derive(Clone, Debug, Default)]
pub(crate) struct Leases {
    leases: BTreeMap<i64, Lease>,
    key_lease: HashMap<Vec<u8>, i64>,
}

impl Leases {
    pub(crate) fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    pub(crate) fn get(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.leases.keys().copied()
    }

    pub(crate) fn grant(&mut self, id: i64, ttl: i64) {
        self.leases.entry(id).or_insert(Lease {
            ttl,
            remaining: 0,
            keys: BTreeSet::new(),
        });
    }

    /// Records a checkpointed remaining TTL; returns the lease's TTL if it exists.
    pub(crate) fn checkpoint(&mut self, id: i64, remaining: i64) -> Option<i64> {
        let lease = self.leases.get_mut(&id)?;
        lease.remaining = remaining.max(0);
        Some(lease.ttl)
    }

    /// Removes the lease; its keys must be deleted by the caller.
    pub(crate) fn remove(&mut self, id: i64) -> Option<Lease> {
        let lease = self.leases.remove(&id)?;
        for key in &lease.keys {
            self.key_lease.remove(key);
        }
        Some(lease)
    }

    /// The lease `key` is attached to (0 for none).
    pub(crate) fn lease_of(&self, key: &[u8]) -> i64 {
        self.key_lease.get(key).copied().unwrap_or(0)
    }

    /// Attaches `key` to lease `id`; ignored if the lease does not exist.
    pub(crate) fn attach(&mut self, id: i64, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.insert(key.to_vec());
            self.key_lease.insert(key.to_vec(), id);
        }
    }

    /// Detaches `key` from lease `id`.
    pub(crate) fn detach(&mut self, id: i64, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.remove(key);
            self.key_lease.remove(key);
        }
    }

    pub(crate) fn info(&self, id: i64) -> Option<LeaseInfo> {
        self.leases.get(&id).map(|l| LeaseInfo {
            id,
            ttl: l.ttl,
            remaining: l.remaining,
            keys: l.keys.iter().cloned().collect(),
        })
    }
}

/// Encodes a lease record for the `leases` table: TTL, then the checkpointed
/// remaining TTL.
pub(crate) fn encode_record(ttl: i64, remaining: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&ttl.to_be_bytes());
    out[8..].copy_from_slice(&remaining.to_be_bytes());
    out
}

/// Decodes a `leases` table record into (TTL, remaining); records written
/// before checkpoints existed hold only the TTL.
pub(crate) fn decode_record(bytes: &[u8]) -> Option<(i64, i64)> {
    match bytes.len() {
        8 => Some((i64::from_be_bytes(bytes.try_into().ok()?), 0)),
        16 => Some((
            i64::from_be_bytes(bytes[..8].try_into().ok()?),
            i64::from_be_bytes(bytes[8..].try_into().ok()?),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_detach_and_remove() {
        let mut l = Leases::default();
        l.grant(7, 30);
        l.attach(7, b"b");
        l.attach(7, b"a");
        l.attach(8, b"c"); // no such lease: ignored
        assert_eq!(l.lease_of(b"a"), 7);
        assert_eq!(l.lease_of(b"c"), 0);
        assert_eq!(l.info(7).unwrap().keys, vec![b"a".to_vec(), b"b".to_vec()]);
        l.detach(7, b"a");
        assert_eq!(l.lease_of(b"a"), 0);
        let removed = l.remove(7).unwrap();
        assert_eq!(
            removed.keys.into_iter().collect::<Vec<_>>(),
            vec![b"b".to_vec()]
        );
        assert_eq!(l.lease_of(b"b"), 0);
        assert!(!l.contains(7));
    }

    #[test]
    fn record_round_trip() {
        assert_eq!(decode_record(&encode_record(-5, 3)), Some((-5, 3)));
        assert_eq!(decode_record(&7i64.to_be_bytes()), Some((7, 0)));
        assert_eq!(decode_record(b"abc"), None);
    }

    #[test]
    fn checkpoint_records_remaining() {
        let mut l = Leases::default();
        l.grant(7, 30);
        assert_eq!(l.checkpoint(7, 12), Some(30));
        assert_eq!(l.info(7).unwrap().remaining, 12);
        assert_eq!(l.checkpoint(8, 12), None);
    }
}
