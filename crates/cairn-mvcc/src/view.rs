//! A consistent view of the key space at one moment: the key index, the `kv`
//! table as one redb transaction sees it, and the current and compact revisions.
//! It answers etcd's low-level `rangeKeys` (revision checks, index lookup, value
//! fetch); request-level filtering and sorting live in `range`.

use cairn_proto::mvccpb::KeyValue;
use prost::Message;
use redb::ReadableTable;

use crate::error::{Error, KvError, StoreError};
use crate::index::{KeySpan, TreeIndex};
use crate::revision::{self, Revision};

/// Read access to the `kv` table (from a read or a write transaction).
pub(crate) trait KvSource {
    /// The stored value of the put at `rev`.
    fn value_at(&self, rev: Revision) -> Result<KeyValue, StoreError>;
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> KvSource for T {
    fn value_at(&self, rev: Revision) -> Result<KeyValue, StoreError> {
        let key = revision::encode(rev, false);
        let guard = self
            .get(key.as_slice())
            .map_err(StoreError::db("read kv table"))?
            .ok_or_else(|| {
                StoreError::Inconsistent(format!(
                    "index names revision {}.{} which the kv table lacks",
                    rev.main, rev.sub
                ))
            })?;
        KeyValue::decode(guard.value()).map_err(|e| {
            StoreError::Inconsistent(format!("value at revision {}.{}: {e}", rev.main, rev.sub))
        })
    }
}

/// Options of a low-level range (etcd's `RangeOptions`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RangeOptions {
    /// Fetch at most this many values (all when <= 0).
    pub limit: i64,
    /// Read at this revision (the view's revision when <= 0).
    pub rev: i64,
    /// Only count.
    pub count: bool,
}

/// The index half of a range: which revisions to fetch.
#[derive(Clone, Debug)]
pub(crate) struct RangePlan {
    pub revs: Vec<Revision>,
    /// Keys matching in total, regardless of the limit.
    pub count: i64,
    /// The view's revision (reported in the response header).
    pub rev: i64,
}

/// A low-level range result.
#[derive(Clone, Debug)]
pub(crate) struct RangeResult {
    pub kvs: Vec<KeyValue>,
    pub count: i64,
    pub rev: i64,
}

/// Checks the requested revision and looks the keys up in the index.
pub(crate) fn plan(
    index: &TreeIndex,
    cur_rev: i64,
    compact_rev: i64,
    span: KeySpan<'_>,
    ro: RangeOptions,
) -> Result<RangePlan, KvError> {
    if ro.rev > cur_rev {
        return Err(KvError::FutureRev);
    }
    let at = if ro.rev <= 0 { cur_rev } else { ro.rev };
    if at < compact_rev {
        return Err(KvError::Compacted);
    }
    if ro.count {
        return Ok(RangePlan {
            revs: Vec::new(),
            count: index.count(span, at),
            rev: cur_rev,
        });
    }
    let (revs, count) = index.revisions(span, at, ro.limit);
    Ok(RangePlan {
        revs,
        count,
        rev: cur_rev,
    })
}

/// Below this many values a range fetches them in key order; from it on, in
/// revision order (see [`fetch`]).
const FETCH_IN_REVISION_ORDER_FROM: usize = 64;

/// Fetches the planned values. A large range fetches them in revision order,
/// the `kv` table's own order, and puts each back in its key's place: keys
/// written at different times have their values scattered over the table, so
/// fetching in key order would visit its leaf pages at random and, once the
/// table is larger than redb's cache, read most of them from the file again
/// (a range over 100,000 keys spent most of its time there).
pub(crate) fn fetch<T: KvSource + ?Sized>(
    kv: &T,
    plan: RangePlan,
) -> Result<RangeResult, StoreError> {
    let revs = &plan.revs;
    let kvs = if revs.len() < FETCH_IN_REVISION_ORDER_FROM {
        revs.iter()
            .map(|&rev| kv.value_at(rev))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let mut order: Vec<usize> = (0..revs.len()).collect();
        order.sort_unstable_by_key(|&i| revs[i]);
        let mut kvs = vec![KeyValue::default(); revs.len()];
        for i in order {
            kvs[i] = kv.value_at(revs[i])?;
        }
        kvs
    };
    Ok(RangeResult {
        kvs,
        count: plan.count,
        rev: plan.rev,
    })
}

/// The key space as of one moment.
pub(crate) struct View<'a, T: ?Sized> {
    pub index: &'a TreeIndex,
    pub kv: &'a T,
    /// The revision reads default to (for a write txn: including its own changes).
    pub rev: i64,
    pub compact_rev: i64,
}

impl<T: KvSource + ?Sized> View<'_, T> {
    /// etcd's `rangeKeys`.
    pub(crate) fn range_keys(
        &self,
        span: KeySpan<'_>,
        ro: RangeOptions,
    ) -> Result<RangeResult, Error> {
        let plan = plan(self.index, self.rev, self.compact_rev, span, ro)?;
        Ok(fetch(self.kv, plan)?)
    }

    /// Every live key-value in `span` at the view's revision.
    pub(crate) fn all(&self, span: KeySpan<'_>) -> Result<Vec<KeyValue>, Error> {
        Ok(self.range_keys(span, RangeOptions::default())?.kvs)
    }
}
