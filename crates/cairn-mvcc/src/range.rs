//! The Range request as etcd's apply layer answers it: revision filters, sorting
//! (with etcd's rule that a non-KEY target without an order means ascending),
//! limit with `more`, `count` of all matching keys, `keys_only` and `count_only`.

use cairn_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use cairn_proto::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
use cairn_proto::mvccpb::KeyValue;

use crate::error::Error;
use crate::go_sort;
use crate::index::KeySpan;
use crate::view::{KvSource, RangeOptions, RangeResult, View};

/// The low-level options etcd derives from a request: when results are sorted or
/// filtered everything is fetched first; otherwise one extra value is fetched to
/// learn whether there are `more`.
pub(crate) fn options(r: &RangeRequest) -> RangeOptions {
    let needs_all = r.sort_order != SortOrder::None as i32
        || r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    let mut limit = if needs_all { 0 } else { r.limit };
    if limit > 0 {
        limit += 1;
    }
    RangeOptions {
        limit,
        rev: r.revision,
        count: r.count_only,
    }
}

/// The keys the request covers.
pub(crate) fn span(r: &RangeRequest) -> KeySpan<'_> {
    KeySpan::new(&r.key, &r.range_end)
}

/// Turns a low-level result into etcd's response.
pub(crate) fn finish(r: &RangeRequest, rr: RangeResult) -> RangeResponse {
    let mut kvs = rr.kvs;
    kvs.retain(|kv| {
        !(r.max_mod_revision != 0 && kv.mod_revision > r.max_mod_revision
            || r.min_mod_revision != 0 && kv.mod_revision < r.min_mod_revision
            || r.max_create_revision != 0 && kv.create_revision > r.max_create_revision
            || r.min_create_revision != 0 && kv.create_revision < r.min_create_revision)
    });

    let mut order = r.sort_order;
    if r.sort_target != SortTarget::Key as i32 && order == SortOrder::None as i32 {
        // Results come in key order already; other targets default to ascending.
        order = SortOrder::Ascend as i32;
    }
    if order != SortOrder::None as i32 {
        sort(&mut kvs, r.sort_target, order);
    }

    let mut more = false;
    if r.limit > 0 && kvs.len() as i64 > r.limit {
        kvs.truncate(r.limit as usize);
        more = true;
    }
    if r.keys_only {
        for kv in &mut kvs {
            kv.value = Vec::new();
        }
    }
    RangeResponse {
        header: Some(ResponseHeader {
            revision: rr.rev,
            ..Default::default()
        }),
        kvs,
        more,
        count: rr.count,
    }
}

/// Sorts like etcd: Go's unstable sort with etcd's comparators (integer targets
/// compare by the sign of the wrapping difference, as Go's subtraction does).
fn sort(kvs: &mut [KeyValue], target: i32, order: i32) {
    fn by(target: i32) -> Option<fn(&KeyValue, &KeyValue) -> bool> {
        let f: fn(&KeyValue, &KeyValue) -> bool = match SortTarget::try_from(target).ok()? {
            SortTarget::Key => |a, b| a.key < b.key,
            SortTarget::Version => |a, b| a.version.wrapping_sub(b.version) < 0,
            SortTarget::Create => |a, b| a.create_revision.wrapping_sub(b.create_revision) < 0,
            SortTarget::Mod => |a, b| a.mod_revision.wrapping_sub(b.mod_revision) < 0,
            SortTarget::Value => |a, b| a.value < b.value,
        };
        Some(f)
    }
    // An unknown target or order leaves the key order (etcd would fail instead).
    let Some(less) = by(target) else { return };
    match SortOrder::try_from(order) {
        Ok(SortOrder::Ascend) => go_sort::sort_by(kvs, less),
        Ok(SortOrder::Descend) => go_sort::sort_by(kvs, |a, b| less(b, a)),
        _ => {}
    }
}

/// Answers a Range against `view`.
pub(crate) fn range<T: KvSource + ?Sized>(
    view: &View<'_, T>,
    r: &RangeRequest,
) -> Result<RangeResponse, Error> {
    let rr = view.range_keys(span(r), options(r))?;
    Ok(finish(r, rr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, version: i64, create: i64, m: i64, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            version,
            create_revision: create,
            mod_revision: m,
            value: value.into(),
            lease: 0,
        }
    }

    fn result() -> RangeResult {
        RangeResult {
            kvs: vec![
                kv("a", 3, 2, 9, "z"),
                kv("b", 1, 4, 4, "y"),
                kv("c", 2, 5, 7, "x"),
            ],
            count: 3,
            rev: 9,
        }
    }

    fn keys(resp: &RangeResponse) -> Vec<String> {
        resp.kvs
            .iter()
            .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
            .collect()
    }

    #[test]
    fn options_fetch_all_when_sorting_or_filtering() {
        let mut r = RangeRequest {
            limit: 2,
            ..Default::default()
        };
        assert_eq!(options(&r).limit, 3);
        r.sort_order = SortOrder::Descend as i32;
        assert_eq!(options(&r).limit, 0);
        r.sort_order = 0;
        r.min_create_revision = 1;
        assert_eq!(options(&r).limit, 0);
        r.min_create_revision = 0;
        r.limit = -4;
        assert_eq!(options(&r).limit, -4, "negative limit means unlimited");
    }

    #[test]
    fn target_without_order_sorts_ascending() {
        let r = RangeRequest {
            sort_target: SortTarget::Value as i32,
            ..Default::default()
        };
        assert_eq!(keys(&finish(&r, result())), ["c", "b", "a"]);
        let r = RangeRequest {
            sort_target: SortTarget::Mod as i32,
            sort_order: SortOrder::Descend as i32,
            ..Default::default()
        };
        assert_eq!(keys(&finish(&r, result())), ["a", "c", "b"]);
        let r = RangeRequest {
            sort_target: SortTarget::Create as i32,
            sort_order: SortOrder::Ascend as i32,
            ..Default::default()
        };
        assert_eq!(keys(&finish(&r, result())), ["a", "b", "c"]);
        let r = RangeRequest {
            sort_order: SortOrder::Descend as i32,
            ..Default::default()
        };
        assert_eq!(keys(&finish(&r, result())), ["c", "b", "a"]);
    }

    #[test]
    fn sort_then_limit_and_count_ignores_filters() {
        let r = RangeRequest {
            sort_target: SortTarget::Version as i32,
            sort_order: SortOrder::Descend as i32,
            limit: 1,
            ..Default::default()
        };
        let resp = finish(&r, result());
        assert_eq!(keys(&resp), ["a"]);
        assert!(resp.more);
        assert_eq!(resp.count, 3);

        let r = RangeRequest {
            min_mod_revision: 5,
            max_create_revision: 4,
            keys_only: true,
            ..Default::default()
        };
        let resp = finish(&r, result());
        assert_eq!(keys(&resp), ["a"]);
        assert!(resp.kvs[0].value.is_empty());
        assert_eq!(resp.count, 3, "count is taken before filters");
        assert!(!resp.more);
        assert_eq!(resp.header.unwrap().revision, 9);
    }
}
