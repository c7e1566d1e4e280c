//! Durability, crash recovery, corrupt files, snapshots and read consistency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::cairnpb::{InternalRequest, MemberAttributes};
use cairn_proto::etcdserverpb::{LeaseGrantRequest, PutRequest};

use super::*;
use crate::StoreError;

fn put_cmd(key: &str, value: &str) -> InternalRequest {
    InternalRequest {
        proposal_id: 0,
        request: Some(Cmd::Put(put_req(key, value))),
    }
}

const CRASH_DIR: &str = "CAIRN_MVCC_CRASH_DIR";

/// Run as a child process by `crash_loses_only_unsynced_batches`: applies a
/// synced batch and an unsynced one, then dies without any cleanup.
#[test]
#[ignore = "helper: runs only as a child process of another test"]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let store = Store::open(&std::path::Path::new(&dir).join("state.redb")).unwrap();
    let first = put_cmd("durable", "yes");
    store
        .apply_batch(
            &[ApplyEntry {
                index: 1,
                request: Some(&first),
            }],
            b"synced",
        )
        .unwrap();
    store.sync().unwrap();
    let second = put_cmd("volatile", "yes");
    store
        .apply_batch(
            &[ApplyEntry {
                index: 2,
                request: Some(&second),
            }],
            b"unsynced",
        )
        .unwrap();
    assert!(store.get_volatile_for_test());
    std::process::abort();
}

impl Store {
    fn get_volatile_for_test(&self) -> bool {
        self.range(&range_req("volatile", ""))
            .map(|r| r.kvs.len() == 1)
            .unwrap_or(false)
    }
}

#[test]
fn crash_loses_only_unsynced_batches() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([
            "tests::durability::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        // SIGABRT from the abort at its end; a panic earlier would exit with 101.
        assert_eq!(
            status.signal(),
            Some(6),
            "the child must reach its abort: {status:?}"
        );
    }
    let store = Store::open(&dir.path().join("state.redb")).unwrap();
    assert_eq!(store.raft_state().unwrap(), Some(b"synced".to_vec()));
    assert_eq!(store.applied_index(), 1);
    assert_eq!(store.current_revision(), 2);
    assert_eq!(store.range(&range_req("durable", "")).unwrap().kvs.len(), 1);
    assert!(!store.get_volatile_for_test());
}

#[test]
fn reopen_after_sync_keeps_everything() {
    let s = TestStore::new();
    s.put("a", "1");
    s.exec(Cmd::LeaseGrant(LeaseGrantRequest { ttl: 9, id: 4 }))
        .unwrap();
    s.exec(Cmd::MemberAttributes(MemberAttributes {
        member_id: 1,
        name: "m1".into(),
        client_urls: vec!["http://127.0.0.1:2379".into()],
    }))
    .unwrap();
    s.del("a", "");
    s.put("b", "2");
    s.compact(3).unwrap();
    s.sync().unwrap();
    let before = (
        s.current_revision(),
        s.compact_revision(),
        s.applied_index(),
        s.raft_state().unwrap(),
        s.members(),
        s.lease_info(4),
        s.hash_kv(0).unwrap(),
    );
    let path = s.path();
    let TestStore { dir, store } = s;
    drop(store);
    let s = Store::open(&path).unwrap();
    let after = (
        s.current_revision(),
        s.compact_revision(),
        s.applied_index(),
        s.raft_state().unwrap(),
        s.members(),
        s.lease_info(4),
        s.hash_kv(0).unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(s.range(&range_req("b", "")).unwrap().kvs[0].value, b"2");
    assert!(s.db_size() > 0);
    assert!(s.db_size_in_use() > 0);
    drop(dir);
}

#[test]
fn the_revision_survives_compacting_away_a_tombstone() {
    let s = TestStore::new();
    s.put("a", "1");
    s.del("a", ""); // 3: the newest entry is a tombstone, removed by compaction
    s.compact(3).unwrap();
    s.sync().unwrap();
    let path = s.path();
    let TestStore { dir, store } = s;
    drop(store);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.current_revision(), 3);
    match s.apply_batch(
        &[ApplyEntry {
            index: 9,
            request: Some(&put_cmd("x", "y")),
        }],
        b"",
    ) {
        Ok(r) => match &r[0] {
            Ok(ApplyResponse::Put(p)) => assert_eq!(p.header.as_ref().unwrap().revision, 4),
            other => panic!("{other:?}"),
        },
        Err(e) => panic!("{e}"),
    }
    drop(dir);
}

fn assert_corrupt(result: Result<Store, StoreError>, path: &std::path::Path) {
    match result {
        Err(StoreError::Corrupt { path: p, detail }) => {
            assert_eq!(p, path);
            assert!(!detail.is_empty());
            let shown = StoreError::Corrupt { path: p, detail }.to_string();
            assert!(shown.contains(&path.display().to_string()), "{shown}");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a damaged file was opened"),
    }
}

#[test]
fn garbage_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let junk: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, junk).unwrap();
    assert_corrupt(Store::open(&path), &path);
}

#[test]
fn truncated_file_is_refused() {
    let s = TestStore::new();
    for i in 0..200 {
        s.put(&format!("key-{i:04}"), &"v".repeat(100));
    }
    s.sync().unwrap();
    let path = s.path();
    let TestStore { dir, store } = s;
    drop(store);
    let len = std::fs::metadata(&path).unwrap().len();
    for keep in [len / 2, 700, 17] {
        let cut = dir.path().join(format!("cut-{keep}.redb"));
        std::fs::copy(&path, &cut).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cut)
            .unwrap()
            .set_len(keep)
            .unwrap();
        assert_corrupt(Store::open(&cut), &cut);
    }
}

#[test]
fn foreign_or_garbled_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A redb file of some other program.
    let other = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&other).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("things");
            let mut t = txn.open_table(def).unwrap();
            t.insert("x", &1).unwrap();
        }
        txn.commit().unwrap();
    }
    assert_corrupt(Store::open(&other), &other);

    // Our layout with a garbled meta record.
    let bad_meta = dir.path().join("bad-meta.redb");
    drop(Store::open(&bad_meta).unwrap());
    {
        let db = redb::Database::create(&bad_meta).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(crate::backend::META).unwrap();
            t.insert("current_revision", &b"\x01\x02"[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    assert_corrupt(Store::open(&bad_meta), &bad_meta);

    // A kv entry that is not a KeyValue.
    let bad_kv = dir.path().join("bad-kv.redb");
    drop(Store::open(&bad_kv).unwrap());
    {
        let db = redb::Database::create(&bad_kv).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(crate::backend::KV).unwrap();
            let key = crate::revision::encode(crate::revision::Revision::new(1, 0), false);
            t.insert(key.as_slice(), &b"\xff\xff\xff"[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    assert_corrupt(Store::open(&bad_kv), &bad_kv);

    // A missing directory is an I/O error, not corruption.
    let missing = dir.path().join("no/such/dir/state.redb");
    assert!(matches!(Store::open(&missing), Err(StoreError::Io { .. })));
}

#[test]
fn snapshot_replaces_everything() {
    let a = TestStore::new();
    a.exec(Cmd::LeaseGrant(LeaseGrantRequest { ttl: 30, id: 77 }))
        .unwrap();
    a.exec(Cmd::Put(PutRequest {
        key: b"leased".to_vec(),
        value: b"v".to_vec(),
        lease: 77,
        ..Default::default()
    }))
    .unwrap();
    for i in 0..20 {
        a.put(&format!("k{i}"), &format!("v{i}"));
    }
    a.del("k1", "k3");
    a.compact(10).unwrap();
    a.exec(Cmd::MemberAttributes(MemberAttributes {
        member_id: 3,
        name: "three".into(),
        client_urls: vec![],
    }))
    .unwrap();
    let (blob, raft_state) = a.export_snapshot_with_raft_state().unwrap();
    assert_eq!(raft_state, a.raft_state().unwrap());

    let b = TestStore::new();
    b.put("only-in-b", "x");
    b.exec(Cmd::LeaseGrant(LeaseGrantRequest { ttl: 5, id: 1 }))
        .unwrap();
    b.install_snapshot(&blob).unwrap();
    let all = range_req("\0", "\0");
    assert_eq!(b.pairs(&all), a.pairs(&all));
    assert_eq!(b.hash_kv(0).unwrap(), a.hash_kv(0).unwrap());
    assert_eq!(b.hash_kv(15).unwrap(), a.hash_kv(15).unwrap());
    assert_eq!(b.current_revision(), a.current_revision());
    assert_eq!(b.compact_revision(), 10);
    assert_eq!(b.applied_index(), a.applied_index());
    assert_eq!(b.raft_state().unwrap(), a.raft_state().unwrap());
    assert_eq!(b.members(), a.members());
    assert_eq!(b.lease_ids(), vec![77]);
    assert_eq!(b.lease_info(77).unwrap().keys, vec![b"leased".to_vec()]);
    assert_eq!(b.get_at("k5", 12), a.get_at("k5", 12));

    // Installed state is durable.
    let path = b.path();
    let TestStore { dir, store } = b;
    drop(store);
    let reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.hash_kv(0).unwrap(), a.hash_kv(0).unwrap());

    // A damaged blob changes nothing.
    let mut bad = blob.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(reopened.install_snapshot(&bad).is_err());
    assert!(reopened.install_snapshot(&blob[..blob.len() - 3]).is_err());
    assert_eq!(reopened.hash_kv(0).unwrap(), a.hash_kv(0).unwrap());
    drop(dir);
}

#[test]
fn readers_never_see_half_a_batch() {
    let s = Arc::new(TestStore::new());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (s, stop) = (Arc::clone(&s), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let pairs = s.pairs(&range_req("x", "z"));
                if let [(_, vx), (_, vy)] = pairs.as_slice() {
                    assert_eq!(vx, vy, "a read saw half of a batch");
                    reads += 1;
                } else {
                    assert!(pairs.is_empty(), "{pairs:?}");
                }
            }
            reads
        })
    };
    for i in 0..300 {
        let v = i.to_string();
        let (x, y) = (put_cmd("x", &v), put_cmd("y", &v));
        let index = s.applied_index();
        s.apply_batch(
            &[
                ApplyEntry {
                    index: index + 1,
                    request: Some(&x),
                },
                ApplyEntry {
                    index: index + 2,
                    request: Some(&y),
                },
            ],
            b"",
        )
        .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(s.current_revision(), 601);
}

#[test]
fn store_is_send_sync_and_cheap_to_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Store>();
    let s = TestStore::new();
    let other = s.store.clone();
    s.put("shared", "1");
    assert_eq!(other.current_revision(), 2);
}

#[test]
fn snapshot_builder_restores_etcd_key_bucket_rows() {
    use cairn_proto::mvccpb::KeyValue;
    use prost::Message;

    use crate::revision::{encode, Revision};

    // What etcd's key bucket holds after: put a 1; put b 2; put a 3; del b.
    let row = |main: i64, tomb: bool, kv: KeyValue| {
        (encode(Revision::new(main, 0), tomb), kv.encode_to_vec())
    };
    let kv = |k: &str, v: &str, c: i64, m: i64, ver: i64| KeyValue {
        key: k.into(),
        value: v.into(),
        create_revision: c,
        mod_revision: m,
        version: ver,
        lease: 0,
    };
    let rows = [
        row(2, false, kv("a", "1", 2, 2, 1)),
        row(3, false, kv("b", "2", 3, 3, 1)),
        row(4, false, kv("a", "3", 2, 4, 2)),
        row(
            5,
            true,
            KeyValue {
                key: b"b".to_vec(),
                ..Default::default()
            },
        ),
    ];
    let mut builder = crate::SnapshotBuilder::new();
    for (k, v) in &rows {
        builder.key_bucket_row(k, v).unwrap();
    }
    builder.lease(12, 100).unwrap();
    let (blob, _) = builder.finish(None, -1, 0, None).unwrap();

    let restored = TestStore::new();
    restored.install_snapshot(&blob).unwrap();
    let replayed = TestStore::new();
    replayed.put("a", "1");
    replayed.put("b", "2");
    replayed.put("a", "3");
    replayed.del("b", "");
    assert_eq!(restored.current_revision(), 5);
    assert_eq!(restored.hash_kv(0).unwrap(), replayed.hash_kv(0).unwrap());
    assert_eq!(restored.get_at("b", 3), replayed.get_at("b", 3));
    assert_eq!(restored.lease_ids(), vec![12]);
    // The restored store keeps going from there.
    assert_eq!(restored.put("a", "4"), 6);
    assert_eq!(restored.get("a").unwrap().version, 3);

    let mut bad = crate::SnapshotBuilder::new();
    assert!(bad.key_bucket_row(b"not a revision", b"").is_err());
}
