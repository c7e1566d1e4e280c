//! Txn as etcd's apply layer runs it. All compares (including those of nested
//! txns on the taken branches) are evaluated first on the state before the txn;
//! then the taken branches' puts and ranges are checked (missing key for
//! `ignore_*`, missing lease, future or compacted revision) so that an error
//! leaves nothing half-done; then the operations run in order, ranges seeing the
//! txn's earlier writes. The whole txn is one revision.

use cairn_proto::etcdserverpb::request_op::Request as Op;
use cairn_proto::etcdserverpb::response_op::Response as OpResp;
use cairn_proto::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RequestOp, ResponseHeader,
    ResponseOp, TxnRequest, TxnResponse,
};

use crate::compare;
use crate::error::{Error, KvError};
use crate::lease::Leases;
use crate::metrics::OpCounts;
use crate::range;
use crate::view::{KvSource, View};
use crate::write::{header, KvTable, WriteTxn};

/// What a txn needs from the store it runs on.
pub(crate) trait KvOps {
    type Source: KvSource + ?Sized;
    /// The key space as the txn's next read would see it.
    fn view(&self) -> View<'_, Self::Source>;
    fn lease_exists(&self, id: i64) -> bool;
    fn put(&mut self, p: &PutRequest) -> Result<PutResponse, Error>;
    fn delete_range(&mut self, d: &DeleteRangeRequest) -> Result<DeleteRangeResponse, Error>;
}

impl<'t> KvOps for WriteTxn<'_, 't> {
    type Source = KvTable<'t>;
    fn view(&self) -> View<'_, KvTable<'t>> {
        WriteTxn::view(self)
    }
    fn lease_exists(&self, id: i64) -> bool {
        WriteTxn::lease_exists(self, id)
    }
    fn put(&mut self, p: &PutRequest) -> Result<PutResponse, Error> {
        self.put_request(p, true)
    }
    fn delete_range(&mut self, d: &DeleteRangeRequest) -> Result<DeleteRangeResponse, Error> {
        self.delete_request(d)
    }
}

/// A txn without writes, evaluated against committed state.
pub(crate) struct ReadOnly<'a, T: ?Sized> {
    pub view: View<'a, T>,
    pub leases: &'a Leases,
}

impl<T: KvSource + ?Sized> KvOps for ReadOnly<'_, T> {
    type Source = T;
    fn view(&self) -> View<'_, T> {
        View { ..self.view }
    }
    fn lease_exists(&self, id: i64) -> bool {
        self.leases.contains(id)
    }
    fn put(&mut self, _: &PutRequest) -> Result<PutResponse, Error> {
        Err(KvError::Internal("cairn: a read-only txn cannot put".into()).into())
    }
    fn delete_range(&mut self, _: &DeleteRangeRequest) -> Result<DeleteRangeResponse, Error> {
        Err(KvError::Internal("cairn: a read-only txn cannot delete".into()).into())
    }
}

/// etcd's rule for serving a txn without Raft: every top-level operation of
/// both branches is a range (a nested txn counts as a write).
pub fn is_read_only(rt: &TxnRequest) -> bool {
    rt.success
        .iter()
        .chain(&rt.failure)
        .all(|op| matches!(op.request, Some(Op::RequestRange(_))))
}

/// Runs a txn. Returns the response with `header.revision` set to the store's
/// revision after the txn (the caller ends the write transaction).
pub(crate) fn run<O: KvOps>(ops: &mut O, rt: &TxnRequest) -> Result<TxnResponse, Error> {
    let writes = !is_read_only(rt);
    let path = {
        let view = ops.view();
        let mut path = Vec::new();
        compare_to_path(&view, rt, &mut path)?;
        path
    };
    {
        let view = ops.view();
        if writes {
            check_requests(rt, &path, &mut |op| {
                check_put(&view, &|id| ops.lease_exists(id), op)
            })?;
        }
        check_requests(rt, &path, &mut |op| check_range(&view, op))?;
    }
    let mut counts = OpCounts::default();
    let (mut resp, _) = apply(ops, rt, &path, &mut counts)?;
    counts.record();
    resp.header = Some(header(ops.view().rev));
    Ok(resp)
}

/// Evaluates the compares of `rt` and of the nested txns on the taken branches,
/// depth first, appending one bool per txn.
fn compare_to_path<T: KvSource + ?Sized>(
    view: &View<'_, T>,
    rt: &TxnRequest,
    path: &mut Vec<bool>,
) -> Result<(), Error> {
    let ok = compare::all_hold(view, &rt.compare)?;
    path.push(ok);
    for op in branch(rt, ok) {
        if let Some(Op::RequestTxn(nested)) = &op.request {
            compare_to_path(view, nested, path)?;
        }
    }
    Ok(())
}

fn branch(rt: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded {
        &rt.success
    } else {
        &rt.failure
    }
}

fn path_error() -> Error {
    KvError::Internal("cairn: txn path does not match the txn".into()).into()
}

/// Calls `f` on every non-txn operation of the taken branches; returns how many
/// nested txns were visited (the path entries consumed after `path[0]`).
fn check_requests(
    rt: &TxnRequest,
    path: &[bool],
    f: &mut dyn FnMut(&RequestOp) -> Result<(), Error>,
) -> Result<usize, Error> {
    let ok = *path.first().ok_or_else(path_error)?;
    let mut rest = &path[1..];
    let mut consumed = 0;
    for op in branch(rt, ok) {
        if let Some(Op::RequestTxn(nested)) = &op.request {
            let n = check_requests(nested, rest, f)?;
            consumed += n + 1;
            rest = rest.get(n + 1..).ok_or_else(path_error)?;
            continue;
        }
        f(op)?;
    }
    Ok(consumed)
}

fn check_put<T: KvSource + ?Sized>(
    view: &View<'_, T>,
    lease_exists: &dyn Fn(i64) -> bool,
    op: &RequestOp,
) -> Result<(), Error> {
    let Some(Op::RequestPut(p)) = &op.request else {
        return Ok(());
    };
    if (p.ignore_value || p.ignore_lease) && view.index.get(&p.key, view.rev).is_none() {
        return Err(KvError::KeyNotFound.into());
    }
    if p.lease != 0 && !lease_exists(p.lease) {
        return Err(KvError::LeaseNotFound.into());
    }
    Ok(())
}

fn check_range<T: KvSource + ?Sized>(view: &View<'_, T>, op: &RequestOp) -> Result<(), Error> {
    let Some(Op::RequestRange(r)) = &op.request else {
        return Ok(());
    };
    if r.revision == 0 {
        Ok(())
    } else if r.revision > view.rev {
        Err(KvError::FutureRev.into())
    } else if r.revision < view.compact_rev {
        Err(KvError::Compacted.into())
    } else {
        Ok(())
    }
}

/// Runs the taken branch of `rt`; returns its response and the number of path
/// entries its nested txns consumed. `counts` gets the operations run (a
/// compare counts as a range, as etcd's compares are reads).
fn apply<O: KvOps>(
    ops: &mut O,
    rt: &TxnRequest,
    path: &[bool],
    counts: &mut OpCounts,
) -> Result<(TxnResponse, usize), Error> {
    let ok = *path.first().ok_or_else(path_error)?;
    counts.ranges += rt.compare.len() as u64;
    let mut rest = &path[1..];
    let mut consumed = 0;
    let mut responses = Vec::new();
    for op in branch(rt, ok) {
        let response = match &op.request {
            Some(Op::RequestRange(r)) => {
                counts.ranges += 1;
                Some(OpResp::ResponseRange(range::range(&ops.view(), r)?))
            }
            Some(Op::RequestPut(p)) => {
                counts.puts += 1;
                counts.put_bytes += (p.key.len() + p.value.len()) as u64;
                Some(OpResp::ResponsePut(ops.put(p)?))
            }
            Some(Op::RequestDeleteRange(d)) => {
                counts.deletes += 1;
                Some(OpResp::ResponseDeleteRange(ops.delete_range(d)?))
            }
            Some(Op::RequestTxn(nested)) => {
                let (resp, n) = apply(ops, nested, rest, counts)?;
                consumed += n + 1;
                rest = rest.get(n + 1..).ok_or_else(path_error)?;
                Some(OpResp::ResponseTxn(resp))
            }
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok((
        TxnResponse {
            // Nested txns carry an empty header, as in etcd.
            header: Some(ResponseHeader::default()),
            succeeded: ok,
            responses,
        },
        consumed,
    ))
}
