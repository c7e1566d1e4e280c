//! The checks etcd's API layer makes before proposing a request (its v3rpc
//! `checkRangeRequest`, `checkPutRequest`, `checkTxnRequest`, `checkIntervals`,
//! and the request size cap). The server calls these before Raft; anything that
//! depends on the state at apply time (leases, revisions) is decided in apply.

use std::collections::HashSet;

use cairn_proto::etcdserverpb::request_op::Request as Op;
use cairn_proto::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use crate::error::KvError;

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;
/// etcd's default `--max-request-bytes` (1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;

pub fn range(r: &RangeRequest) -> Result<(), KvError> {
    if r.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    Ok(())
}

pub fn put(r: &PutRequest) -> Result<(), KvError> {
    if r.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(KvError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(KvError::LeaseProvided);
    }
    Ok(())
}

pub fn delete_range(r: &DeleteRangeRequest) -> Result<(), KvError> {
    if r.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    Ok(())
}

/// A Txn: operation counts (nested txns share the budget), keys, and no key
/// written twice or both written and deleted (etcd's interval check, including
/// its blind spot: a delete with `range_end` `\0` conflicts with nothing).
pub fn txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), KvError> {
    check_txn(r, max_txn_ops)?;
    check_intervals(&r.success)?;
    check_intervals(&r.failure)?;
    Ok(())
}

/// The compaction check that can be made before Raft without changing the
/// outcome: a revision already compacted stays compacted. (Whether a revision is
/// in the future depends on the writes committed before it, so apply decides.)
pub fn compaction(r: &CompactionRequest, compact_revision: i64) -> Result<(), KvError> {
    if r.revision <= compact_revision {
        return Err(KvError::Compacted);
    }
    Ok(())
}

/// etcd refuses a proposal whose encoded size exceeds `--max-request-bytes`.
pub fn request_size(encoded_len: usize, max_request_bytes: usize) -> Result<(), KvError> {
    if encoded_len > max_request_bytes {
        return Err(KvError::RequestTooLarge);
    }
    Ok(())
}

fn check_txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), KvError> {
    let ops = r.compare.len().max(r.success.len()).max(r.failure.len());
    if ops > max_txn_ops {
        return Err(KvError::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(KvError::EmptyKey);
    }
    for op in r.success.iter().chain(&r.failure) {
        check_op(op, max_txn_ops - ops)?;
    }
    Ok(())
}

fn check_op(op: &RequestOp, max_txn_ops: usize) -> Result<(), KvError> {
    match &op.request {
        Some(Op::RequestRange(r)) => range(r),
        Some(Op::RequestPut(p)) => put(p),
        Some(Op::RequestDeleteRange(d)) => delete_range(d),
        Some(Op::RequestTxn(t)) => check_txn(t, max_txn_ops),
        None => Err(KvError::KeyNotFound),
    }
}

/// A deleted key range `[begin, end)`; an empty `end` is unbounded, as in etcd's
/// affine string intervals.
struct Deleted {
    begin: Vec<u8>,
    end: Vec<u8>,
}

impl Deleted {
    fn covers(&self, key: &[u8]) -> bool {
        self.begin.as_slice() <= key && (self.end.is_empty() || key < self.end.as_slice())
    }
}

fn deleted_covers(dels: &[Deleted], key: &[u8]) -> bool {
    dels.iter().any(|d| d.covers(key))
}

/// Returns the keys put and the ranges deleted by `reqs` (nested txns included).
fn check_intervals(reqs: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Deleted>), KvError> {
    let mut dels: Vec<Deleted> = reqs
        .iter()
        .filter_map(|op| match &op.request {
            Some(Op::RequestDeleteRange(d)) => Some(if d.range_end.is_empty() {
                let mut end = d.key.clone();
                end.push(0);
                Deleted {
                    begin: d.key.clone(),
                    end,
                }
            } else {
                Deleted {
                    begin: d.key.clone(),
                    end: d.range_end.clone(),
                }
            }),
            _ => None,
        })
        .collect();

    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in reqs {
        let Some(Op::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted_covers(&dels, k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &puts_else {
            // The same key in both branches of one txn is fine: only one runs.
            if puts.contains(k) && !puts_then.contains(k) {
                return Err(KvError::DuplicateKey);
            }
            if deleted_covers(&dels, k) {
                return Err(KvError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }

    for op in reqs {
        let Some(Op::RequestPut(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || deleted_covers(&dels, &p.key) {
            return Err(KvError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::etcdserverpb::Compare;

    fn put_op(k: &str) -> RequestOp {
        RequestOp {
            request: Some(Op::RequestPut(PutRequest {
                key: k.into(),
                ..Default::default()
            })),
        }
    }
    fn del_op(k: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
                key: k.into(),
                range_end: end.into(),
                ..Default::default()
            })),
        }
    }
    fn range_op(k: &str) -> RequestOp {
        RequestOp {
            request: Some(Op::RequestRange(RangeRequest {
                key: k.into(),
                ..Default::default()
            })),
        }
    }
    fn txn_op(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(Op::RequestTxn(TxnRequest {
                compare: vec![],
                success,
                failure,
            })),
        }
    }
    fn txn_of(success: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: vec![],
            success,
            failure: vec![],
        }
    }

    #[test]
    fn single_requests() {
        assert_eq!(range(&RangeRequest::default()), Err(KvError::EmptyKey));
        assert_eq!(
            delete_range(&DeleteRangeRequest::default()),
            Err(KvError::EmptyKey)
        );
        let mut p = PutRequest {
            key: b"k".to_vec(),
            ignore_value: true,
            value: b"v".to_vec(),
            ..Default::default()
        };
        assert_eq!(put(&p), Err(KvError::ValueProvided));
        p.value.clear();
        assert_eq!(put(&p), Ok(()));
        p.ignore_lease = true;
        p.lease = 5;
        assert_eq!(put(&p), Err(KvError::LeaseProvided));
        assert_eq!(request_size(11, 10), Err(KvError::RequestTooLarge));
        assert_eq!(request_size(10, 10), Ok(()));
        let c = CompactionRequest {
            revision: 5,
            physical: false,
        };
        assert_eq!(compaction(&c, 5), Err(KvError::Compacted));
        assert_eq!(compaction(&c, 4), Ok(()));
    }

    #[test]
    fn op_budget_is_shared_with_nested_txns() {
        let t = txn_of(vec![put_op("a"), put_op("b"), put_op("c")]);
        assert_eq!(txn(&t, 3), Ok(()));
        assert_eq!(txn(&t, 2), Err(KvError::TooManyOps));
        // Top level uses 2 of 3; the nested txn has 1 left but needs 2.
        let nested = txn_of(vec![
            put_op("x"),
            txn_op(vec![put_op("y"), put_op("z")], vec![]),
        ]);
        assert_eq!(txn(&nested, 3), Err(KvError::TooManyOps));
        assert_eq!(txn(&nested, 4), Ok(()));
        let compares = TxnRequest {
            compare: vec![Compare::default()],
            success: vec![],
            failure: vec![],
        };
        assert_eq!(txn(&compares, 4), Err(KvError::EmptyKey));
        let empty_op = txn_of(vec![RequestOp { request: None }]);
        assert_eq!(txn(&empty_op, 4), Err(KvError::KeyNotFound));
        assert_eq!(txn(&txn_of(vec![range_op("")]), 4), Err(KvError::EmptyKey));
    }

    #[test]
    fn duplicate_keys_like_etcd() {
        let dup = Err(KvError::DuplicateKey);
        let cases: Vec<(Vec<RequestOp>, Result<(), KvError>)> = vec![
            (vec![put_op("a"), put_op("a")], dup.clone()),
            (vec![put_op("a"), put_op("b")], Ok(())),
            (vec![put_op("a"), del_op("a", "")], dup.clone()),
            (vec![del_op("a", "c"), put_op("b")], dup.clone()),
            (vec![del_op("a", "c"), put_op("c")], Ok(())),
            (vec![del_op("a", "b"), del_op("a", "c")], Ok(())),
            // etcd's blind spot: range_end "\0" is an interval ending at "\0".
            (vec![del_op("a", "\0"), put_op("b")], Ok(())),
            (vec![range_op("a"), put_op("a")], Ok(())),
            // Nested: same key in both branches of one nested txn is fine...
            (vec![txn_op(vec![put_op("k")], vec![put_op("k")])], Ok(())),
            // ...but not in the parent too, nor in two sibling txns.
            (
                vec![put_op("k"), txn_op(vec![put_op("k")], vec![])],
                dup.clone(),
            ),
            (
                vec![
                    txn_op(vec![put_op("k")], vec![]),
                    txn_op(vec![], vec![put_op("k")]),
                ],
                dup.clone(),
            ),
            (
                vec![del_op("a", "z"), txn_op(vec![], vec![put_op("k")])],
                dup.clone(),
            ),
            (
                vec![txn_op(vec![del_op("k", "")], vec![]), put_op("k")],
                dup.clone(),
            ),
            // A nested put before a later sibling's delete is not checked by etcd.
            (
                vec![
                    txn_op(vec![put_op("k")], vec![]),
                    txn_op(vec![del_op("k", "")], vec![]),
                ],
                Ok(()),
            ),
        ];
        for (i, (ops, want)) in cases.into_iter().enumerate() {
            assert_eq!(txn(&txn_of(ops), 128), want, "case {i}");
        }
        // Success and failure branches are checked separately.
        let t = TxnRequest {
            compare: vec![],
            success: vec![put_op("a")],
            failure: vec![put_op("a")],
        };
        assert_eq!(txn(&t, 128), Ok(()));
    }
}
