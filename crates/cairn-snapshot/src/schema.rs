//! etcd's schema inside the bbolt file: the ten buckets, the revision-keyed `key`
//! bucket, meta/auth/cluster scalars, leases and members. `read_etcd` decodes a
//! database image into [`EtcdData`]; `write_etcd` encodes one back, and
//! `write_etcd_with_key_rows` does so taking the `key` bucket's rows as they are
//! read. Values etcd stores as protobuf that Cairn does not need to interpret
//! (key-values, users, roles, alarms) are carried as raw bytes; small protobuf
//! helpers are provided for `mvccpb.KeyValue` and `leasepb.Lease`.

use serde::{Deserialize, Serialize};

use crate::bbolt::{BoltBuilder, BoltReader, BucketWriter};
use crate::error::{lossy, SnapshotError};

/// Raw `(key, value)` pairs of one bucket.
pub type RawEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// `(key, value)` pairs of one bucket, borrowed from the database image.
pub type BorrowedEntries<'a> = Vec<(&'a [u8], &'a [u8])>;

pub const BUCKET_ALARM: &[u8] = b"alarm";
pub const BUCKET_AUTH: &[u8] = b"auth";
pub const BUCKET_AUTH_ROLES: &[u8] = b"authRoles";
pub const BUCKET_AUTH_USERS: &[u8] = b"authUsers";
pub const BUCKET_CLUSTER: &[u8] = b"cluster";
pub const BUCKET_KEY: &[u8] = b"key";
pub const BUCKET_LEASE: &[u8] = b"lease";
pub const BUCKET_MEMBERS: &[u8] = b"members";
pub const BUCKET_MEMBERS_REMOVED: &[u8] = b"members_removed";
pub const BUCKET_META: &[u8] = b"meta";

/// The ten buckets etcd creates, in on-disk order.
pub const ETCD_BUCKETS: [&[u8]; 10] = [
    BUCKET_ALARM,
    BUCKET_AUTH,
    BUCKET_AUTH_ROLES,
    BUCKET_AUTH_USERS,
    BUCKET_CLUSTER,
    BUCKET_KEY,
    BUCKET_LEASE,
    BUCKET_MEMBERS,
    BUCKET_MEMBERS_REMOVED,
    BUCKET_META,
];

const META_CONSISTENT_INDEX: &[u8] = b"consistent_index";
const META_TERM: &[u8] = b"term";
const META_FINISHED_COMPACT: &[u8] = b"finishedCompactRev";
const META_SCHEDULED_COMPACT: &[u8] = b"scheduledCompactRev";
const META_STORAGE_VERSION: &[u8] = b"storageVersion";
const AUTH_ENABLED: &[u8] = b"authEnabled";
const AUTH_REVISION: &[u8] = b"authRevision";
const CLUSTER_VERSION: &[u8] = b"clusterVersion";

/// A cluster member as etcd stores it (JSON in the `members` bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Member {
    pub id: u64,
    #[serde(rename = "peerURLs", default, deserialize_with = "null_as_empty")]
    pub peer_urls: Vec<String>,
    #[serde(rename = "isLearner", default, skip_serializing_if = "is_false")]
    pub is_learner: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(
        rename = "clientURLs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub client_urls: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Everything of etcd's schema a snapshot carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EtcdData {
    /// `key` bucket: 17/18-byte revision key → `mvccpb.KeyValue` bytes (may be empty).
    pub kvs: RawEntries,
    /// `lease` bucket: (lease id, TTL in seconds).
    pub leases: Vec<(i64, i64)>,
    pub members: Vec<Member>,
    /// `members_removed` bucket: hex id → `removed`.
    pub members_removed: RawEntries,
    pub consistent_index: u64,
    /// Raft term (etcd 3.5+; 0 when absent, and then not written).
    pub term: u64,
    pub compact_revision: Option<i64>,
    pub scheduled_compact_revision: Option<i64>,
    /// Written only when true (etcd writes `authEnabled` only once auth was toggled).
    pub auth_enabled: bool,
    /// Written only when non-zero.
    pub auth_revision: u64,
    pub cluster_version: Option<String>,
    /// `authUsers` bucket, raw `authpb.User` values.
    pub auth_users: RawEntries,
    /// `authRoles` bucket, raw `authpb.Role` values.
    pub auth_roles: RawEntries,
    /// `alarm` bucket, raw `AlarmMember` keys (values empty).
    pub alarms: RawEntries,
    /// Entries not modelled above, as (bucket, key, value): e.g. `meta/confState`,
    /// other keys of `meta`, `auth`, `cluster`, and buckets etcd does not define.
    /// `meta/storageVersion` is kept here on read but never written.
    pub extra: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

/// Encodes a revision key: `main BE | '_' | sub BE`, plus `'t'` for a tombstone.
pub fn revision_key(main: i64, sub: i64, tombstone: bool) -> Vec<u8> {
    let mut k = Vec::with_capacity(18);
    k.extend_from_slice(&main.to_be_bytes());
    k.push(b'_');
    k.extend_from_slice(&sub.to_be_bytes());
    if tombstone {
        k.push(b't');
    }
    k
}

/// Decodes a revision key into (main, sub, tombstone).
pub fn parse_revision_key(k: &[u8]) -> Option<(i64, i64, bool)> {
    if (k.len() != 17 && k.len() != 18) || k[8] != b'_' {
        return None;
    }
    let tombstone = match k.get(17) {
        None => false,
        Some(b't') => true,
        Some(_) => return None,
    };
    let main = i64::from_be_bytes(k[0..8].try_into().ok()?);
    let sub = i64::from_be_bytes(k[9..17].try_into().ok()?);
    Some((main, sub, tombstone))
}

// ---- tiny protobuf helpers ----

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_int_field(out: &mut Vec<u8>, field: u32, v: i64) {
    if v != 0 {
        put_varint(out, u64::from(field) << 3);
        put_varint(out, v as u64);
    }
}

fn put_bytes_field(out: &mut Vec<u8>, field: u32, v: &[u8]) {
    if !v.is_empty() {
        put_varint(out, (u64::from(field) << 3) | 2);
        put_varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A protobuf field as this module needs it: varint or length-delimited.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Iterates (field number, value) over a protobuf message; `None` on malformed input.
fn fields(b: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let tag = get_varint(b, &mut pos)?;
        let field = match tag & 7 {
            0 => Field::Varint(get_varint(b, &mut pos)?),
            2 => {
                let len = usize::try_from(get_varint(b, &mut pos)?).ok()?;
                let s = b.get(pos..pos.checked_add(len)?)?;
                pos += len;
                Field::Bytes(s)
            }
            1 => {
                pos = pos.checked_add(8).filter(|p| *p <= b.len())?;
                continue;
            }
            5 => {
                pos = pos.checked_add(4).filter(|p| *p <= b.len())?;
                continue;
            }
            _ => return None,
        };
        out.push((tag >> 3, field));
    }
    Some(out)
}

/// `mvccpb.KeyValue`, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub value: Vec<u8>,
    pub lease: i64,
}

impl KeyValue {
    /// Protobuf encoding, as etcd writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.key.len() + self.value.len() + 40);
        put_bytes_field(&mut out, 1, &self.key);
        put_int_field(&mut out, 2, self.create_revision);
        put_int_field(&mut out, 3, self.mod_revision);
        put_int_field(&mut out, 4, self.version);
        put_bytes_field(&mut out, 5, &self.value);
        put_int_field(&mut out, 6, self.lease);
        out
    }

    /// Decodes protobuf bytes; `None` when malformed.
    pub fn decode(b: &[u8]) -> Option<KeyValue> {
        let mut kv = KeyValue::default();
        for (num, f) in fields(b)? {
            match (num, f) {
                (1, Field::Bytes(s)) => kv.key = s.to_vec(),
                (2, Field::Varint(v)) => kv.create_revision = v as i64,
                (3, Field::Varint(v)) => kv.mod_revision = v as i64,
                (4, Field::Varint(v)) => kv.version = v as i64,
                (5, Field::Bytes(s)) => kv.value = s.to_vec(),
                (6, Field::Varint(v)) => kv.lease = v as i64,
                _ => {}
            }
        }
        Some(kv)
    }
}

/// `leasepb.Lease` {1 ID, 2 TTL, 3 RemainingTTL} encoding.
pub fn encode_lease(id: i64, ttl: i64, remaining_ttl: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    put_int_field(&mut out, 1, id);
    put_int_field(&mut out, 2, ttl);
    put_int_field(&mut out, 3, remaining_ttl);
    out
}

/// Decodes `leasepb.Lease` into (id, ttl, remaining_ttl).
pub fn decode_lease(b: &[u8]) -> Option<(i64, i64, i64)> {
    let (mut id, mut ttl, mut rem) = (0, 0, 0);
    for (num, f) in fields(b)? {
        match (num, f) {
            (1, Field::Varint(v)) => id = v as i64,
            (2, Field::Varint(v)) => ttl = v as i64,
            (3, Field::Varint(v)) => rem = v as i64,
            _ => {}
        }
    }
    Some((id, ttl, rem))
}

// ---- read / write ----

fn bad_value(bucket: &[u8], key: &[u8], reason: &str) -> SnapshotError {
    SnapshotError::BadSchemaValue {
        bucket: lossy(bucket),
        key: lossy(key),
        reason: reason.to_string(),
    }
}

fn be_u64(bucket: &[u8], key: &[u8], v: &[u8]) -> Result<u64, SnapshotError> {
    let a: [u8; 8] = v
        .try_into()
        .map_err(|_| bad_value(bucket, key, "expected 8 bytes"))?;
    Ok(u64::from_be_bytes(a))
}

fn compact_rev(key: &[u8], v: &[u8]) -> Result<i64, SnapshotError> {
    // etcd stores these as revision keys; only the main revision matters.
    let main = v
        .get(..8)
        .ok_or_else(|| bad_value(BUCKET_META, key, "revision shorter than 8 bytes"))?;
    Ok(i64::from_be_bytes(main.try_into().unwrap_or([0; 8])))
}

/// The entries of bucket `bucket`, borrowed from the image; `budget` is how many
/// key/value bytes may still be taken (the file's size: a sound file never holds
/// more, a hostile one could by making buckets share pages).
fn collect<'a>(
    reader: &BoltReader<'a>,
    bucket: &[u8],
    budget: &mut usize,
) -> Result<BorrowedEntries<'a>, SnapshotError> {
    let mut out = Vec::new();
    reader.for_each(bucket, |k, v| {
        let n = k.len() + v.len();
        if n > *budget {
            return Err(bad_value(
                bucket,
                k,
                "buckets share pages (more data than the file holds)",
            ));
        }
        *budget -= n;
        out.push((k, v));
        Ok(())
    })?;
    Ok(out)
}

fn owned(entries: BorrowedEntries<'_>) -> RawEntries {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Decodes etcd's schema from a bbolt image (no trailer). Missing buckets and
/// missing 3.5-only keys are tolerated, as are empty values in the `key` bucket.
pub fn read_etcd(db: &[u8]) -> Result<EtcdData, SnapshotError> {
    let (mut data, kvs) = read_etcd_borrowed(db)?;
    data.kvs = owned(kvs);
    Ok(data)
}

/// [`read_etcd`] without copying the `key` bucket (by far the largest): its rows
/// are returned apart, borrowed from `db`, and the returned `kvs` is empty. Every
/// bucket is checked as [`read_etcd`] checks it.
#[allow(clippy::type_complexity)]
pub fn read_etcd_borrowed(db: &[u8]) -> Result<(EtcdData, Vec<(&[u8], &[u8])>), SnapshotError> {
    let reader = BoltReader::new(db)?;
    let mut data = EtcdData::default();
    let mut kvs = Vec::new();
    let mut budget = db.len();
    for name in reader.buckets()? {
        let borrowed = collect(&reader, &name, &mut budget)?;
        if name == BUCKET_KEY {
            kvs = borrowed;
            continue;
        }
        let entries = owned(borrowed);
        match name.as_slice() {
            BUCKET_ALARM => data.alarms = entries,
            BUCKET_AUTH_USERS => data.auth_users = entries,
            BUCKET_AUTH_ROLES => data.auth_roles = entries,
            BUCKET_MEMBERS_REMOVED => data.members_removed = entries,
            BUCKET_LEASE => {
                for (k, v) in entries {
                    let (id, ttl, _) = decode_lease(&v)
                        .ok_or_else(|| bad_value(&name, &k, "bad leasepb.Lease"))?;
                    data.leases.push((id, ttl));
                }
            }
            BUCKET_MEMBERS => {
                for (k, v) in entries {
                    let m: Member = serde_json::from_slice(&v)
                        .map_err(|e| bad_value(&name, &k, &e.to_string()))?;
                    data.members.push(m);
                }
            }
            BUCKET_META => {
                for (k, v) in entries {
                    match k.as_slice() {
                        META_CONSISTENT_INDEX => data.consistent_index = be_u64(&name, &k, &v)?,
                        META_TERM => data.term = be_u64(&name, &k, &v)?,
                        META_FINISHED_COMPACT => data.compact_revision = Some(compact_rev(&k, &v)?),
                        META_SCHEDULED_COMPACT => {
                            data.scheduled_compact_revision = Some(compact_rev(&k, &v)?)
                        }
                        _ => data.extra.push((name.clone(), k, v)),
                    }
                }
            }
            BUCKET_AUTH => {
                for (k, v) in entries {
                    match k.as_slice() {
                        AUTH_ENABLED => data.auth_enabled = v.first().is_some_and(|b| *b != 0),
                        AUTH_REVISION => data.auth_revision = be_u64(&name, &k, &v)?,
                        _ => data.extra.push((name.clone(), k, v)),
                    }
                }
            }
            BUCKET_CLUSTER => {
                for (k, v) in entries {
                    if k == CLUSTER_VERSION {
                        data.cluster_version = Some(lossy(&v));
                    } else {
                        data.extra.push((name.clone(), k, v));
                    }
                }
            }
            _ => {
                for (k, v) in entries {
                    data.extra.push((name.clone(), k, v));
                }
            }
        }
    }
    Ok((data, kvs))
}

/// Encodes `data` as a bbolt image (no trailer) with all ten etcd buckets and no
/// `storageVersion`. Rows may come in any order.
pub fn write_etcd(data: &EtcdData) -> Result<Vec<u8>, SnapshotError> {
    // Rows `extra` gives the `key` bucket join the revisions.
    let extra_key_rows = data.extra.iter().filter(|(b, _, _)| b == BUCKET_KEY);
    let mut kvs: BorrowedEntries<'_> = data
        .kvs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .chain(extra_key_rows.map(|(_, k, v)| (k.as_slice(), v.as_slice())))
        .collect();
    kvs.sort_by(|a, b| a.0.cmp(b.0));
    write_image(data, |bucket| {
        bucket.expect_entries(kvs.len() as u64);
        kvs.iter().try_for_each(|(k, v)| bucket.put(k, v))
    })
}

/// [`write_etcd`] with the `key` bucket's rows put by `key_rows`, in strictly
/// ascending key order, as they are read: of that bucket only the page image is
/// held (telling it how many rows to expect saves regrowing the image). `data`
/// must carry no `key` bucket rows itself (`kvs` empty, none in `extra`).
pub fn write_etcd_with_key_rows<E: From<SnapshotError>>(
    data: &EtcdData,
    key_rows: impl FnOnce(&mut BucketWriter<'_>) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    if !data.kvs.is_empty() || data.extra.iter().any(|(b, _, _)| b == BUCKET_KEY) {
        return Err(SnapshotError::InvalidInput(
            "key bucket rows given both in the data and as a stream".into(),
        )
        .into());
    }
    write_image(data, key_rows)
}

/// Lays out the buckets of `data` in name order, the `key` bucket's rows put by
/// `key_rows` (those in `data` are not looked at).
fn write_image<E: From<SnapshotError>>(
    data: &EtcdData,
    key_rows: impl FnOnce(&mut BucketWriter<'_>) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let mut before_key = other_buckets(data)?;
    let after_key = before_key.split_off(BUCKET_KEY);
    let mut builder = BoltBuilder::new();
    for (name, entries) in before_key {
        put_sorted(&mut builder, &name, entries)?;
    }
    builder.bucket(BUCKET_KEY, key_rows)?;
    for (name, entries) in after_key {
        put_sorted(&mut builder, &name, entries)?;
    }
    Ok(builder.finish()?)
}

/// Adds bucket `name` with `entries`, sorted first.
fn put_sorted(
    builder: &mut BoltBuilder,
    name: &[u8],
    mut entries: RawEntries,
) -> Result<(), SnapshotError> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    builder.bucket(name, |bucket| {
        entries.iter().try_for_each(|(k, v)| bucket.put(k, v))
    })
}

/// Every bucket but `key` (etcd's nine plus any named in `extra`), by name, with
/// its entries unsorted.
fn other_buckets(
    data: &EtcdData,
) -> Result<std::collections::BTreeMap<Vec<u8>, RawEntries>, SnapshotError> {
    let mut buckets: std::collections::BTreeMap<Vec<u8>, RawEntries> = ETCD_BUCKETS
        .iter()
        .filter(|b| **b != BUCKET_KEY)
        .map(|b| (b.to_vec(), Vec::new()))
        .collect();
    let mut put = |bucket: &[u8], k: Vec<u8>, v: Vec<u8>| {
        buckets.entry(bucket.to_vec()).or_default().push((k, v));
    };
    for (bucket, entries) in [
        (BUCKET_ALARM, &data.alarms),
        (BUCKET_AUTH_USERS, &data.auth_users),
        (BUCKET_AUTH_ROLES, &data.auth_roles),
        (BUCKET_MEMBERS_REMOVED, &data.members_removed),
    ] {
        for (k, v) in entries {
            put(bucket, k.clone(), v.clone());
        }
    }
    for (id, ttl) in &data.leases {
        put(
            BUCKET_LEASE,
            id.to_be_bytes().to_vec(),
            encode_lease(*id, *ttl, 0),
        );
    }
    for m in &data.members {
        let json = serde_json::to_vec(m).map_err(|e| SnapshotError::InvalidInput(e.to_string()))?;
        put(BUCKET_MEMBERS, format!("{:x}", m.id).into_bytes(), json);
    }
    put(
        BUCKET_META,
        META_CONSISTENT_INDEX.to_vec(),
        data.consistent_index.to_be_bytes().to_vec(),
    );
    if data.term != 0 {
        put(
            BUCKET_META,
            META_TERM.to_vec(),
            data.term.to_be_bytes().to_vec(),
        );
    }
    if let Some(rev) = data.compact_revision {
        put(
            BUCKET_META,
            META_FINISHED_COMPACT.to_vec(),
            revision_key(rev, 0, false),
        );
    }
    if let Some(rev) = data.scheduled_compact_revision {
        put(
            BUCKET_META,
            META_SCHEDULED_COMPACT.to_vec(),
            revision_key(rev, 0, false),
        );
    }
    if data.auth_enabled {
        put(BUCKET_AUTH, AUTH_ENABLED.to_vec(), vec![1]);
    }
    if data.auth_revision != 0 {
        put(
            BUCKET_AUTH,
            AUTH_REVISION.to_vec(),
            data.auth_revision.to_be_bytes().to_vec(),
        );
    }
    if let Some(v) = &data.cluster_version {
        put(
            BUCKET_CLUSTER,
            CLUSTER_VERSION.to_vec(),
            v.as_bytes().to_vec(),
        );
    }
    for (b, k, v) in &data.extra {
        if b == BUCKET_KEY || (b == BUCKET_META && k == META_STORAGE_VERSION) {
            continue;
        }
        put(b, k.clone(), v.clone());
    }
    Ok(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_keys() {
        let k = revision_key(5, 1, false);
        assert_eq!(k.len(), 17);
        assert_eq!(parse_revision_key(&k), Some((5, 1, false)));
        let t = revision_key(7, 0, true);
        assert_eq!(t.len(), 18);
        assert_eq!(parse_revision_key(&t), Some((7, 0, true)));
        assert_eq!(parse_revision_key(b"short"), None);
    }

    #[test]
    fn protobuf_helpers() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            create_revision: 2,
            mod_revision: 300,
            version: 1,
            value: vec![0; 200],
            lease: -1,
        };
        assert_eq!(KeyValue::decode(&kv.encode()), Some(kv));
        // Known encoding: {1:"a", 2:2} = 0a 01 61 10 02.
        let small = KeyValue {
            key: b"a".to_vec(),
            create_revision: 2,
            ..Default::default()
        };
        assert_eq!(small.encode(), vec![0x0a, 0x01, 0x61, 0x10, 0x02]);
        assert_eq!(decode_lease(&encode_lease(42, 60, 0)), Some((42, 60, 0)));
        assert_eq!(KeyValue::decode(&[0x0a, 0x05, 0x61]), None);
    }

    #[test]
    fn member_json_shape() {
        let m = Member {
            id: 10276657743932975437,
            peer_urls: vec!["http://localhost:2380".into()],
            is_learner: false,
            name: "default".into(),
            client_urls: vec!["http://localhost:2379".into()],
        };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(
            s,
            r#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default","clientURLs":["http://localhost:2379"]}"#
        );
        let back: Member = serde_json::from_str(r#"{"id":1,"peerURLs":null}"#).unwrap();
        assert_eq!(back.id, 1);
        assert!(back.peer_urls.is_empty());
    }

    /// A little of everything the schema holds.
    fn sample_data() -> EtcdData {
        EtcdData {
            kvs: vec![
                (
                    revision_key(2, 0, false),
                    KeyValue {
                        key: b"a".to_vec(),
                        create_revision: 2,
                        mod_revision: 2,
                        version: 1,
                        value: b"1".to_vec(),
                        lease: 0,
                    }
                    .encode(),
                ),
                (
                    revision_key(3, 0, true),
                    KeyValue {
                        key: b"a".to_vec(),
                        ..Default::default()
                    }
                    .encode(),
                ),
                (revision_key(4, 0, false), Vec::new()),
            ],
            leases: vec![(0x1234, 60)],
            members: vec![Member {
                id: 0xabc,
                peer_urls: vec!["http://127.0.0.1:2380".into()],
                name: "n1".into(),
                ..Default::default()
            }],
            consistent_index: 9,
            term: 2,
            compact_revision: Some(3),
            scheduled_compact_revision: Some(3),
            auth_revision: 1,
            cluster_version: Some("3.5.0".into()),
            extra: vec![(
                b"meta".to_vec(),
                b"confState".to_vec(),
                br#"{"voters":[1]}"#.to_vec(),
            )],
            ..Default::default()
        }
    }

    #[test]
    fn etcd_round_trip() {
        let data = sample_data();
        let db = write_etcd(&data).unwrap();
        let reader = BoltReader::new(&db).unwrap();
        let names = reader.buckets().unwrap();
        assert_eq!(
            names,
            ETCD_BUCKETS.iter().map(|b| b.to_vec()).collect::<Vec<_>>()
        );
        assert_eq!(read_etcd(&db).unwrap(), data);

        let mut with_version = data.clone();
        with_version.extra.push((
            b"meta".to_vec(),
            META_STORAGE_VERSION.to_vec(),
            b"3.6.0".to_vec(),
        ));
        assert_eq!(
            read_etcd(&write_etcd(&with_version).unwrap()).unwrap(),
            data
        );
    }

    fn put_all(bucket: &mut BucketWriter<'_>, rows: &RawEntries) -> Result<(), SnapshotError> {
        rows.iter().try_for_each(|(k, v)| bucket.put(k, v))
    }

    #[test]
    fn key_rows_put_as_read_give_the_same_file() {
        let mut data = sample_data();
        // Enough rows for a `key` bucket of several pages, given out of order.
        data.kvs.extend((5..400).rev().map(|rev| {
            let value = vec![rev as u8; 100 + rev as usize % 300];
            (revision_key(rev, 0, rev % 7 == 0), value)
        }));
        let whole = write_etcd(&data).unwrap();
        let mut rows = std::mem::take(&mut data.kvs);
        rows.sort();
        let streamed = write_etcd_with_key_rows(&data, |b| put_all(b, &rows)).unwrap();
        assert_eq!(streamed, whole);
        let mut for_rows = data.clone();
        for_rows.kvs = rows.clone();
        assert_eq!(read_etcd(&streamed).unwrap(), for_rows);

        // Rows out of order, or also present in the data, are refused.
        let mut unsorted = rows.clone();
        unsorted.swap(10, 11);
        let res = write_etcd_with_key_rows(&data, |b| put_all(b, &unsorted));
        assert!(
            matches!(res, Err(SnapshotError::InvalidInput(_))),
            "{res:?}"
        );
        let res = write_etcd_with_key_rows(&for_rows, |b| put_all(b, &rows));
        assert!(
            matches!(res, Err(SnapshotError::InvalidInput(_))),
            "{res:?}"
        );
    }
}
