//! Alarms in the apply path: what NOSPACE and CORRUPT refuse, as etcd's capped
//! and corrupt appliers do, and that the alarms survive a reopen.

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::alarm_request::AlarmAction;
use cairn_proto::etcdserverpb::{
    AlarmRequest, CompactionRequest, LeaseGrantRequest, LeaseRevokeRequest,
};

use super::*;
use crate::{KvError, ALARM_CORRUPT, ALARM_NOSPACE};

fn alarm(s: &TestStore, action: AlarmAction, member_id: u64, alarm: i32) {
    match s.exec(Cmd::Alarm(AlarmRequest {
        action: action as i32,
        member_id,
        alarm,
    })) {
        Ok(ApplyResponse::Alarm(_)) => {}
        other => panic!("alarm: {other:?}"),
    }
}

fn writes(s: &TestStore) -> Vec<(&'static str, ApplyResult)> {
    vec![
        ("put", s.exec(Cmd::Put(put_req("k", "v2")))),
        (
            "delete",
            s.exec(Cmd::DeleteRange(
                cairn_proto::etcdserverpb::DeleteRangeRequest {
                    key: b"k".to_vec(),
                    ..Default::default()
                },
            )),
        ),
        (
            "txn",
            s.exec(Cmd::Txn(TxnRequest {
                success: vec![RequestOp {
                    request: Some(Op::RequestPut(put_req("t", "v"))),
                }],
                ..Default::default()
            })),
        ),
        (
            "compaction",
            s.exec(Cmd::Compaction(CompactionRequest {
                revision: 1,
                physical: false,
            })),
        ),
        (
            "lease grant",
            s.exec(Cmd::LeaseGrant(LeaseGrantRequest { ttl: 30, id: 7 })),
        ),
        (
            "lease revoke",
            s.exec(Cmd::LeaseRevoke(LeaseRevokeRequest { id: 5 })),
        ),
    ]
}

#[test]
fn corrupt_refuses_every_write_until_disarmed() {
    let s = TestStore::new();
    s.put("k", "v1");
    s.put("k", "v1b");
    s.exec(Cmd::LeaseGrant(LeaseGrantRequest { ttl: 30, id: 5 }))
        .expect("grant");
    let before = s.current_revision();
    alarm(&s, AlarmAction::Activate, 9, ALARM_CORRUPT);
    for (what, result) in writes(&s) {
        assert_eq!(result, Err(KvError::Corrupt), "{what} while CORRUPT");
    }
    assert_eq!(s.current_revision(), before, "nothing was written");
    assert_eq!(
        text(&s.get("k").expect("k").value),
        "v1b",
        "reads still work"
    );
    assert_eq!(s.alarms(), vec![(9, ALARM_CORRUPT)]);
    assert_eq!(KvError::Corrupt.to_string(), "etcdserver: corrupt cluster");
    assert_eq!(KvError::Corrupt.code(), crate::KvErrorCode::DataLoss);

    // The alarm is part of the state: it is still raised after a reopen.
    let path = s.path();
    let TestStore { dir, store } = s;
    drop(store);
    let s = TestStore {
        store: Store::open(&path).expect("reopen"),
        dir,
    };
    assert_eq!(s.exec(Cmd::Put(put_req("k", "v3"))), Err(KvError::Corrupt));

    alarm(&s, AlarmAction::Deactivate, 9, ALARM_CORRUPT);
    for (what, result) in writes(&s) {
        assert!(result.is_ok(), "{what} after disarming: {result:?}");
    }
}

#[test]
fn nospace_refuses_only_what_grows_the_database() {
    let s = TestStore::new();
    s.put("k", "v1");
    s.exec(Cmd::LeaseGrant(LeaseGrantRequest { ttl: 30, id: 5 }))
        .expect("grant");
    alarm(&s, AlarmAction::Activate, 9, ALARM_NOSPACE);
    let refused: Vec<&str> = writes(&s)
        .into_iter()
        .filter(|(_, r)| *r == Err(KvError::NoSpace))
        .map(|(what, _)| what)
        .collect();
    assert_eq!(refused, ["put", "txn", "lease grant"]);
    // With both raised, CORRUPT's error wins (etcd's corrupt applier is the outer one).
    alarm(&s, AlarmAction::Activate, 9, ALARM_CORRUPT);
    assert_eq!(s.exec(Cmd::Put(put_req("k", "v"))), Err(KvError::Corrupt));
}
