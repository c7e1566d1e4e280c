//! `-w simple` (the default): etcdctl's human-oriented output. Keys and
//! values are written as raw bytes, one per line, or as `\x..` escapes with
//! `--hex`; list-like results are comma-separated rows.

use std::io::Write;

use cairn_proto::etcdserverpb::{
    response_op, DeleteRangeResponse, LeaseLeasesResponse, LeaseTimeToLiveResponse,
    MemberListResponse, PutResponse, RangeResponse, TxnResponse,
};
use cairn_proto::mvccpb::{event, KeyValue};

use super::{EpHashKv, EpHealth, EpStatus, Watched};

/// `--hex` rendering: every byte as `\xNN`.
pub fn hex_escaped(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    for b in hex::encode(bytes).as_bytes().chunks(2) {
        out.extend_from_slice(b"\\x");
        out.extend_from_slice(b);
    }
    out
}

fn kv(out: &mut dyn Write, kv: &KeyValue, is_hex: bool, value_only: bool) -> std::io::Result<()> {
    let (key, value) = if is_hex {
        (hex_escaped(&kv.key), hex_escaped(&kv.value))
    } else {
        (kv.key.clone(), kv.value.clone())
    };
    if !value_only {
        out.write_all(&key)?;
        out.write_all(b"\n")?;
    }
    out.write_all(&value)?;
    out.write_all(b"\n")
}

pub fn get(
    out: &mut dyn Write,
    r: &RangeResponse,
    is_hex: bool,
    value_only: bool,
) -> std::io::Result<()> {
    for item in &r.kvs {
        kv(out, item, is_hex, value_only)?;
    }
    Ok(())
}

pub fn put(
    out: &mut dyn Write,
    r: &PutResponse,
    is_hex: bool,
    value_only: bool,
) -> std::io::Result<()> {
    writeln!(out, "OK")?;
    if let Some(prev) = &r.prev_kv {
        kv(out, prev, is_hex, value_only)?;
    }
    Ok(())
}

pub fn del(
    out: &mut dyn Write,
    r: &DeleteRangeResponse,
    is_hex: bool,
    value_only: bool,
) -> std::io::Result<()> {
    writeln!(out, "{}", r.deleted)?;
    for prev in &r.prev_kvs {
        kv(out, prev, is_hex, value_only)?;
    }
    Ok(())
}

pub fn txn(
    out: &mut dyn Write,
    r: &TxnResponse,
    is_hex: bool,
    value_only: bool,
) -> std::io::Result<()> {
    writeln!(out, "{}", if r.succeeded { "SUCCESS" } else { "FAILURE" })?;
    for resp in &r.responses {
        writeln!(out)?;
        match &resp.response {
            Some(response_op::Response::ResponseDeleteRange(d)) => del(out, d, is_hex, value_only)?,
            Some(response_op::Response::ResponsePut(p)) => put(out, p, is_hex, value_only)?,
            Some(response_op::Response::ResponseRange(g)) => get(out, g, is_hex, value_only)?,
            other => writeln!(out, "unexpected response {other:?}")?,
        }
    }
    Ok(())
}

/// The name Go prints for an event type (`mvccpb.Event_EventType`).
pub fn event_type_name(t: i32) -> String {
    match event::EventType::try_from(t) {
        Ok(event::EventType::Put) => "PUT".to_string(),
        Ok(event::EventType::Delete) => "DELETE".to_string(),
        Err(_) => t.to_string(),
    }
}

pub fn watch(out: &mut dyn Write, w: &Watched, is_hex: bool) -> std::io::Result<()> {
    for e in &w.events {
        writeln!(out, "{}", event_type_name(e.r#type))?;
        if let Some(prev) = &e.prev_kv {
            kv(out, prev, is_hex, false)?;
        }
        kv(out, &e.kv.clone().unwrap_or_default(), is_hex, false)?;
    }
    Ok(())
}

pub fn lease_time_to_live(
    out: &mut dyn Write,
    r: &LeaseTimeToLiveResponse,
    keys: bool,
) -> std::io::Result<()> {
    if r.granted_ttl == 0 && r.ttl == -1 {
        return writeln!(out, "lease {:016x} already expired", r.id);
    }
    let mut line = format!(
        "lease {:016x} granted with TTL({}s), remaining({}s)",
        r.id, r.granted_ttl, r.ttl
    )
    .into_bytes();
    if keys {
        line.extend_from_slice(b", attached keys([");
        for (i, k) in r.keys.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            line.extend_from_slice(k);
        }
        line.extend_from_slice(b"])");
    }
    line.push(b'\n');
    out.write_all(&line)
}

pub fn lease_leases(out: &mut dyn Write, r: &LeaseLeasesResponse) -> std::io::Result<()> {
    writeln!(out, "found {} leases", r.leases.len())?;
    for l in &r.leases {
        writeln!(out, "{:016x}", l.id)?;
    }
    Ok(())
}

fn rows(out: &mut dyn Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    for row in rows {
        writeln!(out, "{}", row.join(", "))?;
    }
    Ok(())
}

pub fn member_list(out: &mut dyn Write, r: &MemberListResponse) -> std::io::Result<()> {
    rows(out, &super::member_list_rows(r).1)
}

pub fn endpoint_health(
    out: &mut dyn Write,
    err: &mut dyn Write,
    list: &[EpHealth],
) -> std::io::Result<()> {
    for h in list {
        if h.error.is_empty() {
            writeln!(
                out,
                "{} is healthy: successfully committed proposal: took = {}",
                h.ep, h.took
            )?;
        } else {
            out.flush()?;
            writeln!(
                err,
                "{} is unhealthy: failed to commit proposal: {}",
                h.ep, h.error
            )?;
        }
    }
    Ok(())
}

pub fn endpoint_status(out: &mut dyn Write, list: &[EpStatus]) -> std::io::Result<()> {
    rows(out, &super::endpoint_status_rows(list).1)
}

pub fn endpoint_hashkv(out: &mut dyn Write, list: &[EpHashKv]) -> std::io::Result<()> {
    rows(out, &super::endpoint_hashkv_rows(list).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_escapes_every_byte() {
        assert_eq!(hex_escaped(b"fo\xff"), b"\\x66\\x6f\\xff");
        assert_eq!(hex_escaped(b""), b"");
    }

    #[test]
    fn get_prints_keys_and_values() {
        let r = RangeResponse {
            kvs: vec![KeyValue {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut out = Vec::new();
        get(&mut out, &r, false, false).unwrap();
        assert_eq!(out, b"k\nv\n");
        out.clear();
        get(&mut out, &r, true, true).unwrap();
        assert_eq!(out, b"\\x76\n");
    }
}
