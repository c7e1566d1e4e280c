//! Store-level tests: behaviour observable through the public API, checked
//! against etcd 3.5's (several expectations were recorded from a real etcd 3.5.1).

mod alarm;
mod compaction;
mod durability;
mod kv;
mod lease;
mod model;
mod txn;
mod watch;

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::InternalRequest;
use cairn_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_proto::etcdserverpb::request_op::Request as Op;
use cairn_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest,
};
use cairn_proto::mvccpb::KeyValue;

use crate::{ApplyEntry, ApplyResponse, ApplyResult, Store};

/// A store in a temporary directory (removed when dropped).
pub(crate) struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestStore {
    pub fn new() -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state.redb")).expect("open");
        TestStore { dir, store }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("state.redb")
    }

    /// Applies one command as the next Raft entry.
    pub fn exec(&self, cmd: Cmd) -> ApplyResult {
        let req = InternalRequest {
            request: Some(cmd),
            proposal_id: 0,
        };
        let index = self.store.applied_index() + 1;
        let mut results = self
            .store
            .apply_batch(
                &[ApplyEntry {
                    index,
                    request: Some(&req),
                }],
                b"raft",
            )
            .expect("apply");
        results.pop().expect("one result")
    }

    /// Puts and returns the response's revision.
    pub fn put(&self, key: &str, value: &str) -> i64 {
        match self.exec(Cmd::Put(put_req(key, value))) {
            Ok(ApplyResponse::Put(r)) => r.header.expect("header").revision,
            other => panic!("put {key}: {other:?}"),
        }
    }

    /// Deletes `[key, end)` (a single key for an empty end); returns (deleted, revision).
    pub fn del(&self, key: &str, end: &str) -> (i64, i64) {
        match self.exec(Cmd::DeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: end.into(),
            prev_kv: false,
        })) {
            Ok(ApplyResponse::DeleteRange(r)) => (r.deleted, r.header.expect("header").revision),
            other => panic!("delete {key}: {other:?}"),
        }
    }

    pub fn compact(&self, rev: i64) -> ApplyResult {
        self.exec(Cmd::Compaction(
            cairn_proto::etcdserverpb::CompactionRequest {
                revision: rev,
                physical: true,
            },
        ))
    }

    /// The key's value at `rev` (0 = current).
    pub fn get_at(&self, key: &str, rev: i64) -> Option<KeyValue> {
        let resp = self
            .store
            .range(&RangeRequest {
                key: key.into(),
                revision: rev,
                ..Default::default()
            })
            .expect("range");
        resp.kvs.into_iter().next()
    }

    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.get_at(key, 0)
    }

    /// Keys and values of a range, as strings.
    pub fn pairs(&self, req: &RangeRequest) -> Vec<(String, String)> {
        pairs_of(&self.store.range(req).expect("range"))
    }
}

pub(crate) fn pairs_of(resp: &RangeResponse) -> Vec<(String, String)> {
    resp.kvs
        .iter()
        .map(|kv| (text(&kv.key), text(&kv.value)))
        .collect()
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

pub(crate) fn range_req(key: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    }
}

pub(crate) fn op_put(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(put_req(key, value))),
    }
}

pub(crate) fn op_del(key: &str, end: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: end.into(),
            prev_kv: true,
        })),
    }
}

pub(crate) fn op_range(req: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestRange(req)),
    }
}

pub(crate) fn op_txn(t: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestTxn(t)),
    }
}

pub(crate) fn cmp(
    key: &str,
    target: CompareTarget,
    result: CompareResult,
    operand: TargetUnion,
) -> Compare {
    Compare {
        key: key.into(),
        range_end: Vec::new(),
        target: target as i32,
        result: result as i32,
        target_union: Some(operand),
    }
}
