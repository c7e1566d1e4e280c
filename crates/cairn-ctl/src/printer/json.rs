//! `-w json`: what Go's `encoding/json` makes of etcd 3.5.1's gogo-generated
//! structs. Field names come from their `json:"..."` tags (snake_case for KV
//! messages, camelCase for some maintenance/cluster ones), every protobuf
//! field is `omitempty`, bytes are base64, integers are plain numbers, and
//! a oneof is an exported `Response` field holding a one-key object. Only
//! fields that exist in etcd 3.5.1 are printed.

use std::io::Write;

use base64::Engine as _;
use cairn_proto::etcdserverpb::{
    response_op, DeleteRangeResponse, HashKvResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, Member, MemberListResponse,
    PutResponse, RangeResponse, ResponseHeader, ResponseOp, StatusResponse, TxnResponse,
};
use cairn_proto::mvccpb::{Event, KeyValue};

use super::{EpHashKv, EpHealth, EpStatus, Watched};
use crate::golang::json_string_into;

/// Writes `json` and a newline, as etcdctl's `printJSON` does.
pub fn print(out: &mut dyn Write, json: &[u8]) -> std::io::Result<()> {
    out.write_all(json)?;
    out.write_all(b"\n")
}

/// Builds one JSON object, skipping zero values of `omitempty` fields.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, empty: true }
    }

    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        json_string_into(self.out, name.as_bytes());
        self.out.push(b':');
        self.out
    }

    fn raw(&mut self, name: &str, value: &[u8]) {
        self.key(name).extend_from_slice(value);
    }

    fn int(&mut self, name: &str, value: impl Into<i128>) {
        let value = value.into();
        if value != 0 {
            self.raw(name, value.to_string().as_bytes());
        }
    }

    fn flag(&mut self, name: &str, value: bool) {
        if value {
            self.raw(name, b"true");
        }
    }

    fn string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            json_string_into(self.key(name), value.as_bytes());
        }
    }

    fn bytes(&mut self, name: &str, value: &[u8]) {
        if !value.is_empty() {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            json_string_into(self.key(name), encoded.as_bytes());
        }
    }

    fn strings(&mut self, name: &str, values: &[String]) {
        if !values.is_empty() {
            let out = self.key(name);
            string_array(out, values);
        }
    }

    fn list<T>(&mut self, name: &str, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
        if !items.is_empty() {
            let out = self.key(name);
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                each(out, item);
            }
            out.push(b']');
        }
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

fn string_array(out: &mut Vec<u8>, values: &[String]) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string_into(out, v.as_bytes());
    }
    out.push(b']');
}

fn header(out: &mut Vec<u8>, h: &ResponseHeader) {
    let mut o = Obj::begin(out);
    o.int("cluster_id", h.cluster_id);
    o.int("member_id", h.member_id);
    o.int("revision", h.revision);
    o.int("raft_term", h.raft_term);
    o.end();
}

fn header_field(o: &mut Obj<'_>, h: &Option<ResponseHeader>) {
    if let Some(h) = h {
        header(o.key("header"), h);
    }
}

fn key_value(out: &mut Vec<u8>, kv: &KeyValue) {
    let mut o = Obj::begin(out);
    o.bytes("key", &kv.key);
    o.int("create_revision", kv.create_revision);
    o.int("mod_revision", kv.mod_revision);
    o.int("version", kv.version);
    o.bytes("value", &kv.value);
    o.int("lease", kv.lease);
    o.end();
}

fn range_into(out: &mut Vec<u8>, r: &RangeResponse) {
    let mut o = Obj::begin(out);
    header_field(&mut o, &r.header);
    o.list("kvs", &r.kvs, key_value);
    o.flag("more", r.more);
    o.int("count", r.count);
    o.end();
}

fn put_into(out: &mut Vec<u8>, r: &PutResponse) {
    let mut o = Obj::begin(out);
    header_field(&mut o, &r.header);
    if let Some(kv) = &r.prev_kv {
        key_value(o.key("prev_kv"), kv);
    }
    o.end();
}

fn delete_range_into(out: &mut Vec<u8>, r: &DeleteRangeResponse) {
    let mut o = Obj::begin(out);
    header_field(&mut o, &r.header);
    o.int("deleted", r.deleted);
    o.list("prev_kvs", &r.prev_kvs, key_value);
    o.end();
}

fn response_op(out: &mut Vec<u8>, op: &ResponseOp) {
    let mut o = Obj::begin(out);
    let inner = o.key("Response");
    match &op.response {
        None => inner.extend_from_slice(b"null"),
        Some(resp) => {
            let mut w = Obj::begin(inner);
            match resp {
                response_op::Response::ResponseRange(r) => range_into(w.key("response_range"), r),
                response_op::Response::ResponsePut(r) => put_into(w.key("response_put"), r),
                response_op::Response::ResponseDeleteRange(r) => {
                    delete_range_into(w.key("response_delete_range"), r)
                }
                response_op::Response::ResponseTxn(r) => txn_into(w.key("response_txn"), r),
            }
            w.end();
        }
    }
    o.end();
}

fn txn_into(out: &mut Vec<u8>, r: &TxnResponse) {
    let mut o = Obj::begin(out);
    header_field(&mut o, &r.header);
    o.flag("succeeded", r.succeeded);
    o.list("responses", &r.responses, response_op);
    o.end();
}

pub fn range(r: &RangeResponse) -> Vec<u8> {
    let mut out = Vec::new();
    range_into(&mut out, r);
    out
}

pub fn put(r: &PutResponse) -> Vec<u8> {
    let mut out = Vec::new();
    put_into(&mut out, r);
    out
}

pub fn delete_range(r: &DeleteRangeResponse) -> Vec<u8> {
    let mut out = Vec::new();
    delete_range_into(&mut out, r);
    out
}

pub fn txn(r: &TxnResponse) -> Vec<u8> {
    let mut out = Vec::new();
    txn_into(&mut out, r);
    out
}

/// The fields of a header embedded (as a pointer) in a clientv3 struct:
/// encoding/json lifts them into the outer object.
fn embedded_header(o: &mut Obj<'_>, h: &Option<ResponseHeader>) {
    if let Some(h) = h {
        o.int("cluster_id", h.cluster_id);
        o.int("member_id", h.member_id);
        o.int("revision", h.revision);
        o.int("raft_term", h.raft_term);
    }
}

/// `lease grant -w json` (clientv3's `LeaseGrantResponse`).
pub fn lease_grant(r: &LeaseGrantResponse) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    embedded_header(&mut o, &r.header);
    o.raw("ID", r.id.to_string().as_bytes());
    o.raw("TTL", r.ttl.to_string().as_bytes());
    json_string_into(o.key("Error"), r.error.as_bytes());
    o.end();
    out
}

/// `lease revoke -w json` (the protobuf message itself).
pub fn lease_revoke(r: &LeaseRevokeResponse) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    header_field(&mut o, &r.header);
    o.end();
    out
}

/// `lease keep-alive -w json` (clientv3's `LeaseKeepAliveResponse`).
pub fn lease_keep_alive(r: &LeaseKeepAliveResponse) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    embedded_header(&mut o, &r.header);
    o.raw("ID", r.id.to_string().as_bytes());
    o.raw("TTL", r.ttl.to_string().as_bytes());
    o.end();
    out
}

/// `lease timetolive -w json` (clientv3's `LeaseTimeToLiveResponse`; keys
/// are `null` when there are none, as the Go client leaves them nil).
pub fn lease_time_to_live(r: &LeaseTimeToLiveResponse) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    embedded_header(&mut o, &r.header);
    o.raw("id", r.id.to_string().as_bytes());
    o.raw("ttl", r.ttl.to_string().as_bytes());
    o.raw("granted-ttl", r.granted_ttl.to_string().as_bytes());
    let keys = o.key("keys");
    if r.keys.is_empty() {
        keys.extend_from_slice(b"null");
    } else {
        keys.push(b'[');
        for (i, k) in r.keys.iter().enumerate() {
            if i > 0 {
                keys.push(b',');
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(k);
            json_string_into(keys, encoded.as_bytes());
        }
        keys.push(b']');
    }
    o.end();
    out
}

/// `lease list -w json` (clientv3's `LeaseLeasesResponse`; an empty list is `[]`).
pub fn lease_leases(r: &LeaseLeasesResponse) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    embedded_header(&mut o, &r.header);
    let list = o.key("leases");
    list.push(b'[');
    for (i, l) in r.leases.iter().enumerate() {
        if i > 0 {
            list.push(b',');
        }
        list.extend_from_slice(format!("{{\"id\":{}}}", l.id).as_bytes());
    }
    list.push(b']');
    o.end();
    out
}

fn event(out: &mut Vec<u8>, e: &Event) {
    let mut o = Obj::begin(out);
    o.int("type", e.r#type);
    if let Some(kv) = &e.kv {
        key_value(o.key("kv"), kv);
    }
    if let Some(kv) = &e.prev_kv {
        key_value(o.key("prev_kv"), kv);
    }
    o.end();
}

/// `watch -w json` (clientv3's `WatchResponse`: a plain `Header`, events
/// always as an array, and the non-omitempty flags).
pub fn watch(w: &Watched) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    header(o.key("Header"), &w.header);
    let events = o.key("Events");
    events.push(b'[');
    for (i, e) in w.events.iter().enumerate() {
        if i > 0 {
            events.push(b',');
        }
        event(events, e);
    }
    events.push(b']');
    o.raw("CompactRevision", w.compact_revision.to_string().as_bytes());
    o.raw("Canceled", if w.canceled { b"true" } else { b"false" });
    o.raw("Created", if w.created { b"true" } else { b"false" });
    o.end();
    out
}

fn member(out: &mut Vec<u8>, m: &Member) {
    let mut o = Obj::begin(out);
    o.int("ID", m.id);
    o.string("name", &m.name);
    o.strings("peerURLs", &m.peer_ur_ls);
    o.strings("clientURLs", &m.client_ur_ls);
    o.flag("isLearner", m.is_learner);
    o.end();
}

pub fn member_list(r: &MemberListResponse) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    header_field(&mut o, &r.header);
    o.list("members", &r.members, member);
    o.end();
    out
}

/// `member add|remove|update|promote -w json`.
pub fn member_change(change: &super::MemberChange<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut o = Obj::begin(&mut out);
    header(o.key("header"), &change.header());
    if let super::MemberChange::Added(r) = change {
        if let Some(m) = &r.member {
            member(o.key("member"), m);
        }
    }
    o.list("members", change.members(), member);
    o.end();
    out
}

/// `member list -w json --hex`: etcdctl's hand-built variant with hex IDs.
/// Its quirks are kept: the raft term is hex but unquoted, the key is
/// `clientURLS`, names are not escaped, `isLearner` is absent.
pub fn member_list_hex(r: &MemberListResponse) -> Vec<u8> {
    let h = r.header.unwrap_or_default();
    let mut out = format!(
        "{{\"header\":{{\"cluster_id\":\"{:x}\",\"member_id\":\"{:x}\",\"raft_term\":{:x}}}",
        h.cluster_id, h.member_id, h.raft_term
    )
    .into_bytes();
    for (i, m) in r.members.iter().enumerate() {
        if i == 0 {
            out.extend_from_slice(b",\"members\":[{\"ID\":\"");
        } else {
            out.extend_from_slice(b",{\"ID\":\"");
        }
        out.extend_from_slice(format!("{:x}", m.id).as_bytes());
        out.extend_from_slice(b"\",\"name\":\"");
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(b"\",\"peerURLs\":");
        json_null_or_strings(&mut out, &m.peer_ur_ls);
        out.extend_from_slice(b",\"clientURLS\":");
        json_null_or_strings(&mut out, &m.client_ur_ls);
        out.push(b'}');
        if i + 1 == r.members.len() {
            out.push(b']');
        }
    }
    out.push(b'}');
    out
}

/// A Go `[]string` marshalled on its own: `null` when nil.
fn json_null_or_strings(out: &mut Vec<u8>, values: &[String]) {
    if values.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        string_array(out, values);
    }
}

fn status(out: &mut Vec<u8>, r: &StatusResponse) {
    let mut o = Obj::begin(out);
    header_field(&mut o, &r.header);
    o.string("version", &r.version);
    o.int("dbSize", r.db_size);
    o.int("leader", r.leader);
    o.int("raftIndex", r.raft_index);
    o.int("raftTerm", r.raft_term);
    o.int("raftAppliedIndex", r.raft_applied_index);
    o.strings("errors", &r.errors);
    o.int("dbSizeInUse", r.db_size_in_use);
    o.flag("isLearner", r.is_learner);
    o.end();
}

fn hashkv(out: &mut Vec<u8>, r: &HashKvResponse) {
    let mut o = Obj::begin(out);
    header_field(&mut o, &r.header);
    o.int("hash", r.hash);
    o.int("compact_revision", r.compact_revision);
    o.end();
}

fn array<T>(items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(&mut out, item);
    }
    out.push(b']');
    out
}

pub fn endpoint_health(list: &[EpHealth]) -> Vec<u8> {
    array(list, |out, h| {
        let mut o = Obj::begin(out);
        json_string_into(o.key("endpoint"), h.ep.as_bytes());
        o.raw("health", if h.health { b"true" } else { b"false" });
        json_string_into(o.key("took"), h.took.as_bytes());
        o.string("error", &h.error);
        o.end();
    })
}

pub fn endpoint_status(list: &[EpStatus]) -> Vec<u8> {
    array(list, |out, s| {
        let mut o = Obj::begin(out);
        json_string_into(o.key("Endpoint"), s.ep.as_bytes());
        status(o.key("Status"), &s.resp);
        o.end();
    })
}

pub fn endpoint_hashkv(list: &[EpHashKv]) -> Vec<u8> {
    array(list, |out, h| {
        let mut o = Obj::begin(out);
        json_string_into(o.key("Endpoint"), h.ep.as_bytes());
        hashkv(o.key("HashKV"), &h.resp);
        o.end();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: 324952591200643719,
            member_id: 3319814642761637952,
            revision,
            raft_term: 2,
        })
    }

    #[test]
    fn range_matches_etcdctl() {
        let r = RangeResponse {
            header: hdr(2),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: b"bar".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        assert_eq!(
            String::from_utf8(range(&r)).unwrap(),
            r#"{"header":{"cluster_id":324952591200643719,"member_id":3319814642761637952,"revision":2,"raft_term":2},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1,"value":"YmFy"}],"count":1}"#
        );
    }

    #[test]
    fn txn_matches_etcdctl() {
        let r = TxnResponse {
            header: hdr(26),
            succeeded: false,
            responses: vec![ResponseOp {
                response: Some(response_op::Response::ResponsePut(PutResponse {
                    header: Some(ResponseHeader {
                        revision: 26,
                        ..Default::default()
                    }),
                    prev_kv: None,
                })),
            }],
        };
        assert_eq!(
            String::from_utf8(txn(&r)).unwrap(),
            r#"{"header":{"cluster_id":324952591200643719,"member_id":3319814642761637952,"revision":26,"raft_term":2},"responses":[{"Response":{"response_put":{"header":{"revision":26}}}}]}"#
        );
    }

    #[test]
    fn member_list_hex_keeps_etcdctl_quirks() {
        let r = MemberListResponse {
            header: Some(ResponseHeader {
                cluster_id: 0x482b_7c72_3d1b_2b87,
                member_id: 0x2e12,
                revision: 0,
                raft_term: 18,
            }),
            members: vec![Member {
                id: 0x2e12,
                name: "default".into(),
                peer_ur_ls: vec!["http://127.0.0.1:23800".into()],
                client_ur_ls: vec![],
                is_learner: false,
            }],
        };
        assert_eq!(
            String::from_utf8(member_list_hex(&r)).unwrap(),
            r#"{"header":{"cluster_id":"482b7c723d1b2b87","member_id":"2e12","raft_term":12},"members":[{"ID":"2e12","name":"default","peerURLs":["http://127.0.0.1:23800"],"clientURLS":null}]}"#
        );
    }

    #[test]
    fn health_keeps_non_omitempty_fields() {
        let list = vec![EpHealth {
            ep: "127.0.0.1:2379".into(),
            health: false,
            took: "1ms".into(),
            error: String::new(),
        }];
        assert_eq!(
            String::from_utf8(endpoint_health(&list)).unwrap(),
            r#"[{"endpoint":"127.0.0.1:2379","health":false,"took":"1ms"}]"#
        );
        assert_eq!(endpoint_health(&[]), b"[]");
    }
}
