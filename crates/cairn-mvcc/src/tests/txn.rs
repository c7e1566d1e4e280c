//! Txn: compares, branches, nested txns, reads of the txn's own writes, errors.

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::compare::{
    CompareResult as R, CompareTarget as T, TargetUnion as U,
};
use cairn_proto::etcdserverpb::response_op::Response as Resp;
use cairn_proto::etcdserverpb::{PutRequest, RangeRequest, TxnRequest, TxnResponse};

use super::*;
use crate::KvError;

fn run(s: &TestStore, t: TxnRequest) -> Result<TxnResponse, KvError> {
    match s.exec(Cmd::Txn(t))? {
        ApplyResponse::Txn(r) => Ok(r),
        other => panic!("{other:?}"),
    }
}

fn txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
    TxnRequest {
        compare,
        success,
        failure,
    }
}

fn range_of(resp: &TxnResponse, i: usize) -> Vec<(String, String)> {
    match &resp.responses[i].response {
        Some(Resp::ResponseRange(r)) => pairs_of(r),
        other => panic!("{other:?}"),
    }
}

#[test]
fn compares_choose_the_branch() {
    let s = TestStore::new();
    s.put("k", "v"); // rev 2, version 1
    let cases = [
        (cmp("k", T::Version, R::Equal, U::Version(1)), true),
        (cmp("k", T::Version, R::Greater, U::Version(1)), false),
        (cmp("k", T::Create, R::Equal, U::CreateRevision(2)), true),
        (cmp("k", T::Mod, R::Less, U::ModRevision(3)), true),
        (cmp("k", T::Value, R::Equal, U::Value(b"v".to_vec())), true),
        (
            cmp("k", T::Value, R::NotEqual, U::Value(b"v".to_vec())),
            false,
        ),
        (cmp("k", T::Lease, R::Equal, U::Lease(0)), true),
        // A missing key compares as all zeros...
        (cmp("nope", T::Version, R::Equal, U::Version(0)), true),
        (cmp("nope", T::Create, R::Equal, U::CreateRevision(0)), true),
        // ...except that a value compare on it always fails.
        (
            cmp("nope", T::Value, R::NotEqual, U::Value(b"x".to_vec())),
            false,
        ),
    ];
    for (c, want) in cases {
        let r = run(&s, txn(vec![c.clone()], vec![], vec![])).unwrap();
        assert_eq!(r.succeeded, want, "{c:?}");
        assert_eq!(
            r.header.unwrap().revision,
            2,
            "a txn without writes keeps the revision"
        );
    }
}

#[test]
fn compare_over_a_range_needs_every_key() {
    let s = TestStore::new();
    s.put("a1", "x");
    s.put("a2", "x");
    s.put("a3", "y");
    let mut c = cmp("a", T::Value, R::Equal, U::Value(b"x".to_vec()));
    c.range_end = b"b".to_vec();
    assert!(
        !run(&s, txn(vec![c.clone()], vec![], vec![]))
            .unwrap()
            .succeeded
    );
    c.range_end = b"a3".to_vec();
    assert!(run(&s, txn(vec![c], vec![], vec![])).unwrap().succeeded);
    let mut created = cmp("a", T::Create, R::Greater, U::CreateRevision(0));
    created.range_end = b"\0".to_vec();
    assert!(
        run(&s, txn(vec![created], vec![], vec![]))
            .unwrap()
            .succeeded
    );
}

#[test]
fn one_revision_and_reads_see_earlier_writes() {
    let s = TestStore::new();
    s.put("a", "0");
    let t = txn(
        vec![],
        vec![
            op_range(range_req("a", "")),
            op_put("a", "1"),
            op_put("b", "1"),
            op_range(range_req("a", "\0")),
            op_del("b", ""),
            op_range(range_req("b", "")),
        ],
        vec![],
    );
    let r = run(&s, t).unwrap();
    assert!(r.succeeded);
    assert_eq!(r.header.unwrap().revision, 3);
    assert_eq!(s.current_revision(), 3);
    assert_eq!(range_of(&r, 0), [("a".into(), "0".into())]);
    assert_eq!(
        range_of(&r, 3),
        [("a".into(), "1".into()), ("b".into(), "1".into())]
    );
    assert!(range_of(&r, 5).is_empty());
    match &r.responses[1].response {
        Some(Resp::ResponsePut(p)) => assert_eq!(p.header.as_ref().unwrap().revision, 3),
        other => panic!("{other:?}"),
    }
    match &r.responses[0].response {
        Some(Resp::ResponseRange(rr)) => assert_eq!(rr.header.as_ref().unwrap().revision, 2),
        other => panic!("{other:?}"),
    }
    match &r.responses[3].response {
        Some(Resp::ResponseRange(rr)) => assert_eq!(rr.header.as_ref().unwrap().revision, 3),
        other => panic!("{other:?}"),
    }
    match &r.responses[4].response {
        Some(Resp::ResponseDeleteRange(d)) => {
            assert_eq!(d.deleted, 1);
            assert_eq!(d.prev_kvs[0].value, b"1");
        }
        other => panic!("{other:?}"),
    }
    // Sub revisions: a (3.0), b (3.1), b deleted (3.2); all at main revision 3.
    let a = s.get("a").unwrap();
    assert_eq!((a.mod_revision, a.version), (3, 2));
    assert_eq!(s.get("b"), None);
    assert_eq!(s.get_at("b", 2), None);
}

#[test]
fn nested_txns_follow_their_own_compares() {
    let s = TestStore::new();
    s.put("flag", "on");
    let inner_true = txn(
        vec![cmp("flag", T::Value, R::Equal, U::Value(b"on".to_vec()))],
        vec![op_put("x", "inner-success")],
        vec![op_put("x", "inner-failure")],
    );
    let inner_false = txn(
        vec![cmp("flag", T::Value, R::Equal, U::Value(b"off".to_vec()))],
        vec![op_put("y", "inner-success")],
        vec![op_put("y", "inner-failure"), op_range(range_req("x", ""))],
    );
    let outer = txn(
        vec![cmp("flag", T::Version, R::Equal, U::Version(1))],
        vec![op_txn(inner_true), op_txn(inner_false)],
        vec![op_put("z", "outer-failure")],
    );
    let r = run(&s, outer).unwrap();
    assert!(r.succeeded);
    assert_eq!(r.header.as_ref().unwrap().revision, 3);
    assert_eq!(s.get("x").unwrap().value, b"inner-success");
    assert_eq!(s.get("y").unwrap().value, b"inner-failure");
    assert_eq!(s.get("z"), None);
    match &r.responses[1].response {
        Some(Resp::ResponseTxn(nested)) => {
            assert!(!nested.succeeded);
            assert_eq!(
                nested.header.as_ref().unwrap().revision,
                0,
                "nested headers are empty in etcd"
            );
            assert_eq!(range_of(nested, 1), [("x".into(), "inner-success".into())]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_abort_the_whole_txn() {
    let s = TestStore::new();
    s.put("a", "1");
    let cases = [
        (
            vec![
                op_put("b", "1"),
                op_range(RangeRequest {
                    revision: 99,
                    ..range_req("a", "")
                }),
            ],
            KvError::FutureRev,
        ),
        (
            vec![
                op_put("b", "1"),
                RequestOp {
                    request: Some(cairn_proto::etcdserverpb::request_op::Request::RequestPut(
                        PutRequest {
                            key: b"c".to_vec(),
                            lease: 42,
                            ..Default::default()
                        },
                    )),
                },
            ],
            KvError::LeaseNotFound,
        ),
        (
            vec![
                op_put("b", "1"),
                RequestOp {
                    request: Some(cairn_proto::etcdserverpb::request_op::Request::RequestPut(
                        PutRequest {
                            key: b"missing".to_vec(),
                            ignore_value: true,
                            ..Default::default()
                        },
                    )),
                },
            ],
            KvError::KeyNotFound,
        ),
    ];
    for (ops, want) in cases {
        assert_eq!(run(&s, txn(vec![], ops, vec![])), Err(want.clone()));
        assert_eq!(s.current_revision(), 2, "{want:?} left a write behind");
        assert_eq!(s.get("b"), None);
    }
    // Checks only cover the branch taken.
    let r = run(
        &s,
        txn(
            vec![cmp("a", T::Version, R::Equal, U::Version(1))],
            vec![op_put("b", "ok")],
            vec![op_range(RangeRequest {
                revision: 99,
                ..range_req("a", "")
            })],
        ),
    )
    .unwrap();
    assert!(r.succeeded);
    // A compacted revision in a read-only branch.
    s.put("a", "2");
    s.compact(3).unwrap();
    let t = txn(
        vec![],
        vec![op_range(RangeRequest {
            revision: 2,
            ..range_req("a", "")
        })],
        vec![],
    );
    assert_eq!(run(&s, t.clone()), Err(KvError::Compacted));
    assert_eq!(s.txn_read_only(&t), Err(KvError::Compacted));
}

#[test]
fn read_only_txn_without_raft() {
    let s = TestStore::new();
    s.put("a", "1");
    s.put("b", "2");
    let t = txn(
        vec![cmp("a", T::Value, R::Equal, U::Value(b"1".to_vec()))],
        vec![op_range(range_req("a", "\0")), op_range(range_req("b", ""))],
        vec![op_range(range_req("zzz", ""))],
    );
    assert!(crate::is_txn_read_only(&t));
    let local = s.txn_read_only(&t).unwrap();
    let applied = run(&s, t).unwrap();
    assert_eq!(local, applied, "local evaluation equals the applied one");
    assert_eq!(local.header.unwrap().revision, 3);
    assert_eq!(range_of(&local, 1), [("b".into(), "2".into())]);

    let writes = txn(vec![], vec![op_put("c", "3")], vec![]);
    assert!(!crate::is_txn_read_only(&writes));
    assert!(s.txn_read_only(&writes).is_err());
    assert_eq!(s.get("c"), None);
    // A nested txn makes it a write txn, as in etcd.
    assert!(!crate::is_txn_read_only(&txn(
        vec![],
        vec![op_txn(txn(vec![], vec![], vec![]))],
        vec![]
    )));
}

#[test]
fn delete_then_put_same_key_in_one_txn() {
    // etcd's duplicate-key check misses a `\0` range end, so this reaches apply.
    let s = TestStore::new();
    s.put("k", "old");
    let r = run(
        &s,
        txn(vec![], vec![op_del("a", "\0"), op_put("k", "new")], vec![]),
    )
    .unwrap();
    assert_eq!(r.header.unwrap().revision, 3);
    let k = s.get("k").unwrap();
    assert_eq!(
        (k.value.as_slice(), k.create_revision, k.version),
        (&b"new"[..], 3, 1)
    );
}
