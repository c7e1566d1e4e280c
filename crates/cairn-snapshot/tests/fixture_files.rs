//! A snapshot saved by real etcd 3.4.23 (Debian's etcd-server), stored as a fixture
//! with what etcd reported about it, so the 3.4 format is checked on every run even
//! where no 3.4 binary is installed. The fixture was made with: a single-member etcd
//! 3.4.23; `put k/000..k/039`, a 10 KiB `big` value, `compact 20`, `del k/005`,
//! `put k/007 again`, a 900 s lease attached to `leased`; then `etcdctl snapshot save`,
//! `etcdctl get "" --prefix -w json` (`*.kvs.json`) and `etcdctl snapshot status -w json`
//! (`*.status.json`).

use std::collections::BTreeMap;

use base64::Engine;
use cairn_snapshot::schema::{parse_revision_key, KeyValue};
use cairn_snapshot::{read_etcd, status, verify, with_trailer, write_etcd};
use serde_json::Value;

const SNAP: &[u8] = include_bytes!("fixtures/etcd-3.4.23.snap");
const KVS: &str = include_str!("fixtures/etcd-3.4.23.kvs.json");
const STATUS: &str = include_str!("fixtures/etcd-3.4.23.status.json");

type Live = BTreeMap<Vec<u8>, (i64, i64, i64, Vec<u8>, i64)>;

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .expect("base64")
}

#[test]
fn etcd_34_snapshot_status_matches_etcdctl() {
    let expected: Value = serde_json::from_str(STATUS).expect("status JSON");
    let st = status(SNAP).expect("status");
    assert_eq!(Some(i64::from(st.hash)), expected["hash"].as_i64());
    assert_eq!(Some(st.revision), expected["revision"].as_i64());
    assert_eq!(Some(st.total_keys), expected["totalKey"].as_u64());
    assert_eq!(Some(st.total_size), expected["totalSize"].as_u64());
}

#[test]
fn etcd_34_snapshot_holds_every_key() {
    let db = verify(SNAP, false).expect("trailer");
    let data = read_etcd(db).expect("read_etcd");
    let expected: Value = serde_json::from_str(KVS).expect("kvs JSON");
    let mut want = Live::new();
    for kv in expected["kvs"].as_array().expect("kvs") {
        let n = |f: &str| kv[f].as_i64().unwrap_or(0);
        want.insert(
            b64(&kv["key"]),
            (
                n("create_revision"),
                n("mod_revision"),
                n("version"),
                b64(&kv["value"]),
                n("lease"),
            ),
        );
    }
    let mut got = Live::new();
    for (k, v) in &data.kvs {
        let (_, _, tombstone) = parse_revision_key(k).expect("revision key");
        let kv = KeyValue::decode(v).expect("KeyValue");
        if tombstone {
            got.remove(&kv.key);
        } else {
            got.insert(
                kv.key,
                (
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    kv.value,
                    kv.lease,
                ),
            );
        }
    }
    assert_eq!(got, want);
    assert_eq!(got[&b"big".to_vec()].3.len(), 10 * 1024);
    assert_eq!(data.compact_revision, Some(20));
    assert_eq!(data.term, 0, "3.4 has no term key");
    assert_eq!(data.cluster_version.as_deref(), Some("3.4.0"));
    let lease = got[&b"leased".to_vec()].4;
    assert!(data.leases.contains(&(lease, 900)));
    assert_eq!(data.members.len(), 1);
    assert_eq!(data.members[0].name, "f1");

    // Written back, the file has the same entries, hence the same status.
    let ours = with_trailer(write_etcd(&data).expect("write_etcd"));
    let (a, b) = (
        status(SNAP).expect("status"),
        status(&ours).expect("status"),
    );
    assert_eq!(
        (a.hash, a.revision, a.total_keys),
        (b.hash, b.revision, b.total_keys)
    );
}
