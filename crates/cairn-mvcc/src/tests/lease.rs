//! Lease grant and revoke.

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest, PutRequest};

use super::*;
use crate::{KvError, MAX_LEASE_TTL};

fn grant(s: &TestStore, id: i64, ttl: i64) -> ApplyResult {
    s.exec(Cmd::LeaseGrant(LeaseGrantRequest { ttl, id }))
}

fn revoke(s: &TestStore, id: i64) -> ApplyResult {
    s.exec(Cmd::LeaseRevoke(LeaseRevokeRequest { id }))
}

fn put_with_lease(s: &TestStore, key: &str, lease: i64) {
    s.exec(Cmd::Put(PutRequest {
        key: key.into(),
        value: b"v".to_vec(),
        lease,
        ..Default::default()
    }))
    .unwrap();
}

#[test]
fn grant_rules() {
    let s = TestStore::new();
    match grant(&s, 10, 30) {
        Ok(ApplyResponse::LeaseGrant(r)) => {
            assert_eq!((r.id, r.ttl, r.error.as_str()), (10, 30, ""));
            assert_eq!(r.header.unwrap().revision, 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(s.lease_exists(10));
    assert_eq!(grant(&s, 10, 5), Err(KvError::LeaseExists));
    assert_eq!(grant(&s, 0, 5), Err(KvError::LeaseNotFound));
    assert_eq!(
        grant(&s, 11, MAX_LEASE_TTL + 1),
        Err(KvError::LeaseTtlTooLarge)
    );
    assert!(grant(&s, 11, MAX_LEASE_TTL).is_ok());
    assert_eq!(s.lease_ids(), vec![10, 11]);
    assert_eq!(s.current_revision(), 1, "granting makes no revision");
}

#[test]
fn revoke_deletes_attached_keys_in_one_revision() {
    let s = TestStore::new();
    grant(&s, 1, 60).unwrap();
    grant(&s, 2, 60).unwrap();
    put_with_lease(&s, "c", 1); // 2
    put_with_lease(&s, "a", 1); // 3
    put_with_lease(&s, "b", 2); // 4
    put_with_lease(&s, "moved", 1); // 5
    put_with_lease(&s, "moved", 2); // 6: now on lease 2
    s.put("gone", "x"); // 7
    put_with_lease(&s, "gone", 1); // 8
    s.del("gone", ""); // 9: detached by the delete
    assert_eq!(
        s.lease_info(1).unwrap().keys,
        vec![b"a".to_vec(), b"c".to_vec()]
    );
    match revoke(&s, 1) {
        Ok(ApplyResponse::LeaseRevoke(r)) => assert_eq!(r.header.unwrap().revision, 10),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.current_revision(), 10);
    assert!(!s.lease_exists(1));
    assert_eq!(s.get("a"), None);
    assert_eq!(s.get("c"), None);
    assert!(s.get("b").is_some());
    assert!(s.get("moved").is_some());
    assert_eq!(s.get_at("a", 9).unwrap().lease, 1);
    assert_eq!(revoke(&s, 1), Err(KvError::LeaseNotFound));

    // A lease without keys is revoked without a new revision.
    grant(&s, 3, 60).unwrap();
    revoke(&s, 3).unwrap();
    assert_eq!(s.current_revision(), 10);
}

#[test]
fn attachments_are_rebuilt_at_open() {
    let s = TestStore::new();
    grant(&s, 5, 60).unwrap();
    put_with_lease(&s, "x", 5);
    put_with_lease(&s, "y", 5);
    s.put("y", "no lease now");
    s.sync().unwrap();
    let path = s.path();
    let TestStore { dir, store } = s;
    drop(store);
    let reopened = Store::open(&path).unwrap();
    let info = reopened.lease_info(5).unwrap();
    assert_eq!((info.ttl, info.keys), (60, vec![b"x".to_vec()]));
    drop(dir);
}
