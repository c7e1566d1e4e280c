//! `-w simple` (the default): etcdctl's human-oriented output. Keys and
//! values are written as raw bytes, one per line, or as `\x..` escapes with
//! `--hex`; list-like results are comma-separated rows.

use std::io::Write;

use cairn_proto::etcdserverpb::{
    response_op, DeleteRangeResponse, MemberListResponse, PutResponse, RangeResponse, TxnResponse,
};
use cairn_proto::mvccpb::KeyValue;

use super::{EpHashKv, EpHealth, EpStatus};

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
