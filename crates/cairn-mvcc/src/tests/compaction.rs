//! Compaction and HashKV, with hashes recorded from a real etcd 3.5.1 running the
//! same history (`etcdctl endpoint hashkv --rev=N`).

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::TxnRequest;

use super::*;
use crate::KvError;

/// The history the etcd hashes were recorded on.
fn history(s: &TestStore) {
    s.put("a", "1"); // 2
    s.put("b", "2"); // 3
    s.put("a", "3"); // 4
    s.del("b", ""); // 5
    s.exec(Cmd::Txn(TxnRequest {
        compare: vec![],
        success: vec![op_put("d", "5"), op_put("e", "6")],
        failure: vec![],
    }))
    .unwrap(); // 6
    s.del("a", "c"); // 7
    s.put("b", "7"); // 8
    s.put("a", "8"); // 9
}

fn hash(s: &TestStore, rev: i64) -> Result<(u32, i64, i64), KvError> {
    s.hash_kv(rev)
        .map(|h| (h.hash, h.compact_revision, h.revision))
}

#[test]
fn hash_kv_equals_etcd() {
    let s = TestStore::new();
    assert_eq!(hash(&s, 0), Ok((1084519789, -1, 1)), "empty store");
    history(&s);
    let etcd: [(i64, u32); 10] = [
        (0, 1047654199),
        (1, 1084519789),
        (2, 2587454935),
        (3, 1827592406),
        (4, 2069675932),
        (5, 1125682900),
        (6, 3404462193),
        (7, 2068757165),
        (8, 1802266424),
        (9, 1047654199),
    ];
    for (rev, want) in etcd {
        assert_eq!(hash(&s, rev), Ok((want, -1, 9)), "hash at {rev}");
    }
    assert_eq!(hash(&s, 10), Err(KvError::FutureRev));

    s.compact(5).unwrap();
    assert_eq!(hash(&s, 5), Err(KvError::Compacted));
    for (rev, want) in [
        (0, 1409383168),
        (6, 3506051001),
        (7, 403783338),
        (8, 3431272285),
        (9, 1409383168),
    ] {
        assert_eq!(
            hash(&s, rev),
            Ok((want, 5, 9)),
            "after compact 5, hash at {rev}"
        );
    }
    s.compact(7).unwrap();
    for (rev, want) in [(0, 3696046000), (8, 14169385), (9, 3696046000)] {
        assert_eq!(
            hash(&s, rev),
            Ok((want, 7, 9)),
            "after compact 7, hash at {rev}"
        );
    }
    // Everything deleted: etcd hashes all remaining entries (its keep set is empty).
    assert_eq!(s.del("\0", "\0"), (4, 10));
    assert_eq!(hash(&s, 0), Ok((2741318700, 7, 10)));
    s.compact(10).unwrap();
    assert_eq!(hash(&s, 0), Ok((1084519789, 10, 10)));
    assert_eq!(s.pairs(&range_req("\0", "\0")), vec![]);
}

#[test]
fn hash_survives_reopen() {
    let s = TestStore::new();
    history(&s);
    s.compact(5).unwrap();
    s.sync().unwrap();
    let path = s.path();
    let dir = s.dir;
    drop(s.store);
    let reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.hash_kv(0).unwrap().hash, 1409383168);
    assert_eq!(reopened.hash_kv(7).unwrap().hash, 403783338);
    assert_eq!(reopened.compact_revision(), 5);
    drop(dir);
}

#[test]
fn compaction_errors_and_revision() {
    let s = TestStore::new();
    s.put("a", "1");
    s.put("a", "2");
    assert_eq!(s.compact(4), Err(KvError::FutureRev));
    match s.compact(2) {
        Ok(ApplyResponse::Compaction(r)) => assert_eq!(r.header.unwrap().revision, 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.current_revision(),
        3,
        "compaction does not make a revision"
    );
    assert_eq!(s.compact_revision(), 2);
    assert_eq!(s.compact(2), Err(KvError::Compacted));
    assert_eq!(s.compact(1), Err(KvError::Compacted));
    assert!(s.compact(3).is_ok());
}

#[test]
fn compaction_keeps_latest_live_revision_per_key() {
    let s = TestStore::new();
    s.put("live", "1"); // 2
    s.put("live", "2"); // 3
    s.put("dead", "1"); // 4
    s.del("dead", ""); // 5
    s.put("late", "1"); // 6
    s.compact(5).unwrap();
    // Reads at or after the compact revision are unchanged.
    assert_eq!(s.get_at("live", 5).unwrap().value, b"2");
    assert_eq!(s.get_at("dead", 5), None);
    assert_eq!(s.get_at("late", 5), None);
    assert_eq!(s.get_at("late", 6).unwrap().version, 1);
    // Version and create revision survive compaction.
    s.put("live", "3");
    let live = s.get("live").unwrap();
    assert_eq!((live.create_revision, live.version), (2, 3));
    // A deleted key starts over after compaction.
    s.put("dead", "again");
    let dead = s.get("dead").unwrap();
    assert_eq!((dead.create_revision, dead.version), (8, 1));
}
