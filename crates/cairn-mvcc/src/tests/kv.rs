//! Put, DeleteRange and Range.

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use cairn_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest};

use super::*;
use crate::KvError;

#[test]
fn revisions_versions_and_generations() {
    let s = TestStore::new();
    assert_eq!(s.current_revision(), 1, "an empty store is at revision 1");
    assert_eq!(s.compact_revision(), -1);
    assert_eq!(s.put("a", "1"), 2);
    assert_eq!(s.put("a", "2"), 3);
    assert_eq!(s.put("b", "x"), 4);
    let a = s.get("a").unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 3, 2));
    assert_eq!(s.del("a", ""), (1, 5));
    assert_eq!(s.get("a"), None);
    // Recreated: a new generation starts at version 1.
    assert_eq!(s.put("a", "3"), 6);
    let a = s.get("a").unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (6, 6, 1));
    // History stays readable.
    assert_eq!(s.get_at("a", 3).unwrap().value, b"2");
    assert_eq!(s.get_at("a", 5), None);
    assert_eq!(s.get_at("a", 1), None);
    assert_eq!(s.current_revision(), 6);
}

#[test]
fn delete_of_nothing_keeps_the_revision() {
    let s = TestStore::new();
    s.put("a", "1");
    assert_eq!(s.del("zz", ""), (0, 2));
    assert_eq!(s.del("b", "c"), (0, 2));
    assert_eq!(s.current_revision(), 2);
    assert_eq!(s.del("a", "\0"), (1, 3));
}

#[test]
fn delete_range_with_prev_kvs() {
    let s = TestStore::new();
    for k in ["a", "b", "c", "d"] {
        s.put(k, k);
    }
    let resp = match s.exec(Cmd::DeleteRange(DeleteRangeRequest {
        key: b"b".to_vec(),
        range_end: b"d".to_vec(),
        prev_kv: true,
    })) {
        Ok(ApplyResponse::DeleteRange(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(resp.deleted, 2);
    assert_eq!(resp.header.unwrap().revision, 6);
    let prev: Vec<_> = resp.prev_kvs.iter().map(|kv| text(&kv.key)).collect();
    assert_eq!(prev, ["b", "c"]);
    // One revision for both deletions, sub revisions in key order.
    assert_eq!(
        s.pairs(&range_req("a", "\0")),
        [("a".into(), "a".into()), ("d".into(), "d".into())]
    );
    assert_eq!(s.get_at("c", 5).unwrap().value, b"c");
}

#[test]
fn put_prev_kv_ignore_value_and_ignore_lease() {
    let s = TestStore::new();
    s.exec(Cmd::LeaseGrant(
        cairn_proto::etcdserverpb::LeaseGrantRequest { ttl: 60, id: 7 },
    ))
    .unwrap();
    let put = |req: PutRequest| match s.exec(Cmd::Put(req)) {
        Ok(ApplyResponse::Put(r)) => Ok(r),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    let ignore = PutRequest {
        key: b"k".to_vec(),
        ignore_value: true,
        ..Default::default()
    };
    assert_eq!(put(ignore.clone()), Err(KvError::KeyNotFound));
    assert_eq!(s.current_revision(), 1, "a failed put writes nothing");

    let first = put(PutRequest {
        key: b"k".to_vec(),
        value: b"v1".to_vec(),
        lease: 7,
        prev_kv: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(first.prev_kv, None);
    let r = put(PutRequest {
        prev_kv: true,
        ignore_lease: true,
        value: b"v2".to_vec(),
        ..ignore.clone()
    })
    .unwrap();
    // ignore_value keeps v1 even though v2 was sent; ignore_lease keeps lease 7.
    let prev = r.prev_kv.unwrap();
    assert_eq!(
        (prev.value.as_slice(), prev.lease, prev.version),
        (&b"v1"[..], 7, 1)
    );
    let now = s.get("k").unwrap();
    assert_eq!(
        (now.value.as_slice(), now.lease, now.version),
        (&b"v1"[..], 7, 2)
    );
    assert_eq!(s.lease_info(7).unwrap().keys, vec![b"k".to_vec()]);

    // A plain put drops the lease.
    put(PutRequest {
        key: b"k".to_vec(),
        value: b"v3".to_vec(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.get("k").unwrap().lease, 0);
    assert!(s.lease_info(7).unwrap().keys.is_empty());

    assert_eq!(
        put(PutRequest {
            key: b"k".to_vec(),
            lease: 99,
            ..Default::default()
        }),
        Err(KvError::LeaseNotFound)
    );
}

fn fill(s: &TestStore) {
    // key: version, value
    s.put("a", "3");
    s.put("b", "1");
    s.put("b", "1b");
    s.put("c", "2");
    s.put("c", "2b");
    s.put("c", "2c");
    s.put("d", "0");
    s.put("e\0", "x");
}

#[test]
fn range_end_forms() {
    let s = TestStore::new();
    fill(&s);
    let keys =
        |req: RangeRequest| -> Vec<String> { s.pairs(&req).into_iter().map(|p| p.0).collect() };
    assert_eq!(keys(range_req("b", "")), ["b"]);
    assert_eq!(keys(range_req("b", "d")), ["b", "c"]);
    assert_eq!(keys(range_req("c", "\0")), ["c", "d", "e\0"]);
    assert_eq!(keys(range_req("\0", "\0")).len(), 5);
    assert_eq!(keys(range_req("d", "b")), Vec::<String>::new());
    assert_eq!(keys(range_req("zz", "")), Vec::<String>::new());
    // Prefix "e" + 1 = "f".
    assert_eq!(keys(range_req("e", "f")), ["e\0"]);
}

#[test]
fn a_large_range_returns_values_in_key_order_whatever_order_they_were_written_in() {
    // Enough keys that the values are fetched in revision order and put back.
    let s = TestStore::new();
    let key = |i: usize| format!("k{i:03}");
    for n in 0..200 {
        s.put(&key(n * 37 % 200), &format!("v{n}"));
    }
    let at = s.current_revision();
    for n in (0..200).step_by(3) {
        s.put(&key(n), &format!("w{n}"));
    }
    let latest = s.pairs(&range_req("k", "l"));
    let expected: Vec<(String, String)> = (0..200)
        .map(|i| {
            let first = (0..200).find(|n| n * 37 % 200 == i).unwrap();
            let value = if i % 3 == 0 {
                format!("w{i}")
            } else {
                format!("v{first}")
            };
            (key(i), value)
        })
        .collect();
    assert_eq!(latest, expected);
    let before = s.pairs(&RangeRequest {
        revision: at,
        ..range_req("k", "l")
    });
    let expected_before: Vec<(String, String)> = (0..200)
        .map(|i| {
            let first = (0..200).find(|n| n * 37 % 200 == i).unwrap();
            (key(i), format!("v{first}"))
        })
        .collect();
    assert_eq!(before, expected_before);
    let limited = s.pairs(&RangeRequest {
        limit: 150,
        ..range_req("k", "l")
    });
    assert_eq!(limited, expected[..150]);
}

#[test]
fn limit_count_more_keys_only_count_only() {
    let s = TestStore::new();
    fill(&s);
    let resp = s
        .range(&RangeRequest {
            limit: 2,
            ..range_req("a", "\0")
        })
        .unwrap();
    assert_eq!(pairs_of(&resp).len(), 2);
    assert!(resp.more);
    assert_eq!(resp.count, 5);
    assert_eq!(resp.header.unwrap().revision, 9);

    let resp = s
        .range(&RangeRequest {
            limit: 5,
            ..range_req("a", "\0")
        })
        .unwrap();
    assert!(!resp.more);

    let resp = s
        .range(&RangeRequest {
            count_only: true,
            limit: 1,
            ..range_req("a", "\0")
        })
        .unwrap();
    assert!(resp.kvs.is_empty());
    assert_eq!((resp.count, resp.more), (5, false));

    let resp = s
        .range(&RangeRequest {
            keys_only: true,
            ..range_req("c", "")
        })
        .unwrap();
    assert_eq!(resp.kvs[0].key, b"c");
    assert!(resp.kvs[0].value.is_empty());
    assert_eq!(resp.kvs[0].version, 3);
}

#[test]
fn sorting_and_filters() {
    let s = TestStore::new();
    fill(&s);
    let keys =
        |req: RangeRequest| -> Vec<String> { s.pairs(&req).into_iter().map(|p| p.0).collect() };
    let all = range_req("a", "\0");
    // A target without an order sorts ascending.
    assert_eq!(
        keys(RangeRequest {
            sort_target: SortTarget::Value as i32,
            ..all.clone()
        }),
        ["d", "b", "c", "a", "e\0"]
    );
    assert_eq!(
        keys(RangeRequest {
            sort_target: SortTarget::Version as i32,
            sort_order: SortOrder::Descend as i32,
            limit: 2,
            ..all.clone()
        }),
        ["c", "b"]
    );
    assert_eq!(
        keys(RangeRequest {
            sort_target: SortTarget::Mod as i32,
            sort_order: SortOrder::Descend as i32,
            ..all.clone()
        }),
        ["e\0", "d", "c", "b", "a"]
    );
    assert_eq!(
        keys(RangeRequest {
            sort_order: SortOrder::Descend as i32,
            ..all.clone()
        }),
        ["e\0", "d", "c", "b", "a"]
    );
    let resp = s
        .range(&RangeRequest {
            min_create_revision: 3,
            max_mod_revision: 7,
            ..all.clone()
        })
        .unwrap();
    // b (created 3, mod 4) and c (created 5, mod 7) pass; count ignores filters.
    assert_eq!(
        pairs_of(&resp)
            .iter()
            .map(|p| p.0.as_str())
            .collect::<Vec<_>>(),
        ["b", "c"]
    );
    assert_eq!(resp.count, 5);
    let resp = s
        .range(&RangeRequest {
            min_mod_revision: 8,
            limit: 1,
            ..all
        })
        .unwrap();
    assert_eq!(pairs_of(&resp).len(), 1);
    assert!(resp.more, "two keys pass the filter, one is returned");
}

#[test]
fn range_revision_errors() {
    let s = TestStore::new();
    fill(&s);
    let at = |rev: i64| {
        s.range(&RangeRequest {
            revision: rev,
            ..range_req("c", "")
        })
    };
    assert_eq!(at(10), Err(KvError::FutureRev));
    assert_eq!(at(6).unwrap().kvs[0].value, b"2b");
    assert_eq!(
        at(6).unwrap().header.unwrap().revision,
        9,
        "header carries the current revision"
    );
    s.compact(6).unwrap();
    assert_eq!(at(5), Err(KvError::Compacted));
    assert_eq!(
        at(6).unwrap().kvs[0].value,
        b"2b",
        "the compact revision itself is readable"
    );
    assert_eq!(at(0).unwrap().kvs[0].value, b"2c");
    let e = at(5).unwrap_err();
    assert_eq!(
        e.to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(e.code(), crate::KvErrorCode::OutOfRange);
}

#[test]
fn members_are_upserted_and_sorted() {
    use cairn_proto::cairnpb::MemberAttributes;
    let s = TestStore::new();
    let m = |id: u64, name: &str| MemberAttributes {
        member_id: id,
        name: name.into(),
        client_urls: vec![format!("http://{name}:2379")],
    };
    assert_eq!(
        s.exec(Cmd::MemberAttributes(m(9, "n9"))),
        Ok(ApplyResponse::None)
    );
    s.exec(Cmd::MemberAttributes(m(3, "n3"))).unwrap();
    s.exec(Cmd::MemberAttributes(m(9, "renamed"))).unwrap();
    let names: Vec<_> = s
        .members()
        .into_iter()
        .map(|m| (m.member_id, m.name))
        .collect();
    assert_eq!(names, [(3, "n3".to_string()), (9, "renamed".to_string())]);
    assert_eq!(
        s.current_revision(),
        1,
        "member attributes are not key-space writes"
    );
}

#[test]
fn entries_without_data_only_advance_the_applied_index() {
    let s = TestStore::new();
    let req = cairn_proto::cairnpb::InternalRequest {
        proposal_id: 0,
        request: Some(Cmd::Put(put_req("k", "v"))),
    };
    let results = s
        .apply_batch(
            &[
                ApplyEntry {
                    index: 5,
                    request: None,
                },
                ApplyEntry {
                    index: 6,
                    request: Some(&req),
                },
                ApplyEntry {
                    index: 7,
                    request: None,
                },
            ],
            b"state-7",
        )
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], Ok(ApplyResponse::None));
    assert!(matches!(results[1], Ok(ApplyResponse::Put(_))));
    assert_eq!(s.applied_index(), 7);
    assert_eq!(s.raft_state().unwrap(), Some(b"state-7".to_vec()));
    assert_eq!(s.current_revision(), 2);
}

#[test]
fn a_failed_entry_does_not_stop_the_batch() {
    let s = TestStore::new();
    let bad = cairn_proto::cairnpb::InternalRequest {
        proposal_id: 0,
        request: Some(Cmd::Put(PutRequest {
            key: b"k".to_vec(),
            lease: 5,
            ..Default::default()
        })),
    };
    let good = cairn_proto::cairnpb::InternalRequest {
        proposal_id: 0,
        request: Some(Cmd::Put(put_req("k", "v"))),
    };
    let results = s
        .apply_batch(
            &[
                ApplyEntry {
                    index: 1,
                    request: Some(&bad),
                },
                ApplyEntry {
                    index: 2,
                    request: Some(&good),
                },
            ],
            b"",
        )
        .unwrap();
    assert_eq!(results[0], Err(KvError::LeaseNotFound));
    match &results[1] {
        Ok(ApplyResponse::Put(r)) => assert_eq!(r.header.as_ref().unwrap().revision, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn try_range_answers_as_range_while_the_store_is_idle() {
    let s = TestStore::new();
    s.put("a", "1");
    s.put("a", "2");
    s.put("b", "x");
    for (key, rev) in [("a", 0), ("a", 2), ("b", 0), ("missing", 0)] {
        let req = RangeRequest {
            key: key.into(),
            revision: rev,
            ..Default::default()
        };
        let quick = s.try_range(&req).expect("idle store answers at once");
        assert_eq!(quick, s.range(&req), "{key}@{rev}");
    }
    // Errors come through too (a revision in the future).
    let future = RangeRequest {
        key: "a".into(),
        revision: 100,
        ..Default::default()
    };
    assert!(matches!(s.try_range(&future), Some(Err(_))));
}
