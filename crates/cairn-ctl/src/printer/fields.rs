//! `-w fields`: one `"Name" : value` line per field, Go `%q` for strings and
//! Go's default formatting for numbers, booleans and string lists.

use std::io::Write;

use cairn_proto::etcdserverpb::{
    response_op, DeleteRangeResponse, LeaseLeasesResponse, LeaseTimeToLiveResponse,
    MemberListResponse, PutResponse, RangeResponse, ResponseHeader, TxnResponse,
};
use cairn_proto::mvccpb::KeyValue;

use super::{EpHashKv, EpHealth, EpStatus, Watched};
use crate::golang::quote;

type Io = std::io::Result<()>;

fn kv(out: &mut dyn Write, prefix: &str, kv: &KeyValue) -> Io {
    writeln!(out, "\"{prefix}Key\" : {}", quote(&kv.key))?;
    writeln!(out, "\"{prefix}CreateRevision\" : {}", kv.create_revision)?;
    writeln!(out, "\"{prefix}ModRevision\" : {}", kv.mod_revision)?;
    writeln!(out, "\"{prefix}Version\" : {}", kv.version)?;
    writeln!(out, "\"{prefix}Value\" : {}", quote(&kv.value))?;
    writeln!(out, "\"{prefix}Lease\" : {}", kv.lease)
}

fn hdr(out: &mut dyn Write, h: &Option<ResponseHeader>) -> Io {
    let h = h.unwrap_or_default();
    writeln!(out, "\"ClusterID\" : {}", h.cluster_id)?;
    writeln!(out, "\"MemberID\" : {}", h.member_id)?;
    writeln!(out, "\"Revision\" : {}", h.revision)?;
    writeln!(out, "\"RaftTerm\" : {}", h.raft_term)
}

/// Go's `fmt.Println` rendering of a `[]string`.
fn go_string_list(values: &[String]) -> String {
    format!("[{}]", values.join(" "))
}

pub fn get(out: &mut dyn Write, r: &RangeResponse) -> Io {
    hdr(out, &r.header)?;
    for item in &r.kvs {
        kv(out, "", item)?;
    }
    writeln!(out, "\"More\" : {}", r.more)?;
    writeln!(out, "\"Count\" : {}", r.count)
}

pub fn put(out: &mut dyn Write, r: &PutResponse) -> Io {
    hdr(out, &r.header)?;
    if let Some(prev) = &r.prev_kv {
        kv(out, "Prev", prev)?;
    }
    Ok(())
}

pub fn del(out: &mut dyn Write, r: &DeleteRangeResponse) -> Io {
    hdr(out, &r.header)?;
    writeln!(out, "\"Deleted\" : {}", r.deleted)?;
    for prev in &r.prev_kvs {
        kv(out, "Prev", prev)?;
    }
    Ok(())
}

pub fn txn(out: &mut dyn Write, r: &TxnResponse) -> Io {
    hdr(out, &r.header)?;
    writeln!(out, "\"Succeeded\" : {}", r.succeeded)?;
    for resp in &r.responses {
        match &resp.response {
            Some(response_op::Response::ResponseDeleteRange(d)) => del(out, d)?,
            Some(response_op::Response::ResponsePut(p)) => put(out, p)?,
            Some(response_op::Response::ResponseRange(g)) => get(out, g)?,
            other => writeln!(
                out,
                "\"Unknown\" : {}",
                quote(format!("{other:?}").as_bytes())
            )?,
        }
    }
    Ok(())
}

/// Just the header (e.g. `lease revoke`).
pub fn header(out: &mut dyn Write, h: &Option<ResponseHeader>) -> Io {
    hdr(out, h)
}

/// `lease grant` and `lease keep-alive`.
pub fn lease_id_ttl(out: &mut dyn Write, h: &Option<ResponseHeader>, id: i64, ttl: i64) -> Io {
    hdr(out, h)?;
    writeln!(out, "\"ID\" : {id}")?;
    writeln!(out, "\"TTL\" : {ttl}")
}

pub fn lease_time_to_live(out: &mut dyn Write, r: &LeaseTimeToLiveResponse) -> Io {
    lease_id_ttl(out, &r.header, r.id, r.ttl)?;
    writeln!(out, "\"GrantedTTL\" : {}", r.granted_ttl)?;
    for k in &r.keys {
        writeln!(out, "\"Key\" : {}", quote(k))?;
    }
    Ok(())
}

pub fn lease_leases(out: &mut dyn Write, r: &LeaseLeasesResponse) -> Io {
    hdr(out, &r.header)?;
    for l in &r.leases {
        writeln!(out, "\"ID\" : {}", l.id)?;
    }
    Ok(())
}

pub fn watch(out: &mut dyn Write, w: &Watched) -> Io {
    hdr(out, &Some(w.header))?;
    for e in &w.events {
        writeln!(
            out,
            "\"Type\" : {}",
            super::simple::event_type_name(e.r#type)
        )?;
        if let Some(prev) = &e.prev_kv {
            kv(out, "Prev", prev)?;
        }
        kv(out, "", &e.kv.clone().unwrap_or_default())?;
    }
    Ok(())
}

pub fn member_list(out: &mut dyn Write, r: &MemberListResponse) -> Io {
    hdr(out, &r.header)?;
    for m in &r.members {
        writeln!(out, "\"ID\" : {}", m.id)?;
        writeln!(out, "\"Name\" : {}", quote(m.name.as_bytes()))?;
        for u in &m.peer_ur_ls {
            writeln!(out, "\"PeerURL\" : {}", quote(u.as_bytes()))?;
        }
        for u in &m.client_ur_ls {
            writeln!(out, "\"ClientURL\" : {}", quote(u.as_bytes()))?;
        }
        writeln!(out, "\"IsLearner\" : {}", m.is_learner)?;
        writeln!(out)?;
    }
    Ok(())
}

pub fn endpoint_health(out: &mut dyn Write, list: &[EpHealth]) -> Io {
    for h in list {
        writeln!(out, "\"Endpoint\" : {}", quote(h.ep.as_bytes()))?;
        writeln!(out, "\"Health\" : {}", h.health)?;
        writeln!(out, "\"Took\" : {}", h.took)?;
        writeln!(out, "\"Error\" : {}", h.error)?;
        writeln!(out)?;
    }
    Ok(())
}

pub fn endpoint_status(out: &mut dyn Write, list: &[EpStatus]) -> Io {
    for s in list {
        let r = &s.resp;
        hdr(out, &r.header)?;
        writeln!(out, "\"Version\" : {}", quote(r.version.as_bytes()))?;
        writeln!(out, "\"DBSize\" : {}", r.db_size)?;
        writeln!(out, "\"Leader\" : {}", r.leader)?;
        writeln!(out, "\"IsLearner\" : {}", r.is_learner)?;
        writeln!(out, "\"RaftIndex\" : {}", r.raft_index)?;
        writeln!(out, "\"RaftTerm\" : {}", r.raft_term)?;
        writeln!(out, "\"RaftAppliedIndex\" : {}", r.raft_applied_index)?;
        writeln!(out, "\"Errors\" : {}", go_string_list(&r.errors))?;
        writeln!(out, "\"Endpoint\" : {}", quote(s.ep.as_bytes()))?;
        writeln!(out)?;
    }
    Ok(())
}

pub fn endpoint_hashkv(out: &mut dyn Write, list: &[EpHashKv]) -> Io {
    for h in list {
        hdr(out, &h.resp.header)?;
        writeln!(out, "\"Endpoint\" : {}", quote(h.ep.as_bytes()))?;
        writeln!(out, "\"Hash\" : {}", h.resp.hash)?;
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_with_prev_kv() {
        let r = PutResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 3,
                raft_term: 4,
            }),
            prev_kv: Some(KeyValue {
                key: b"foo".to_vec(),
                value: b"x\"y".to_vec(),
                version: 1,
                ..Default::default()
            }),
        };
        let mut out = Vec::new();
        put(&mut out, &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"ClusterID\" : 1\n\"MemberID\" : 2\n\"Revision\" : 3\n\"RaftTerm\" : 4\n\
             \"PrevKey\" : \"foo\"\n\"PrevCreateRevision\" : 0\n\"PrevModRevision\" : 0\n\
             \"PrevVersion\" : 1\n\"PrevValue\" : \"x\\\"y\"\n\"PrevLease\" : 0\n"
        );
    }
}
