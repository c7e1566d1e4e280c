//! `get [options] <key> [range_end]`: reads a key or a range.

use cairn_proto::etcdserverpb::{range_request, RangeRequest};

use super::{apply_range_flags, arg_bytes, Ctx};
use crate::cli::GetArgs;
use crate::error::CtlError;
use crate::printer::Format;

/// Builds the Range request for `get`'s flags and arguments, with etcdctl's
/// argument errors (also used for `get` lines in `txn`).
pub fn range_request(a: &GetArgs) -> Result<RangeRequest, CtlError> {
    let args = arg_bytes(&a.args);
    if args.is_empty() {
        return Err(CtlError::bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    if a.prefix && a.from_key {
        return Err(CtlError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    if a.keys_only && a.count_only {
        return Err(CtlError::bad_args(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one",
        ));
    }
    let serializable = match a.consistency.as_str() {
        "s" => true,
        "l" => false,
        other => {
            return Err(CtlError::bad_feature(format!(
                "unknown consistency flag {}",
                crate::golang::quote(other.as_bytes())
            )))
        }
    };
    let mut req = RangeRequest {
        key: args[0].clone(),
        serializable,
        ..Default::default()
    };
    if args.len() > 1 {
        if a.prefix || a.from_key {
            return Err(CtlError::bad_args(
                "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
            ));
        }
        req.range_end = args[1].clone();
    }
    req.limit = a.limit;
    if a.rev > 0 {
        req.revision = a.rev;
    }
    let order = match a.order.to_uppercase().as_str() {
        "ASCEND" => range_request::SortOrder::Ascend,
        "DESCEND" => range_request::SortOrder::Descend,
        "" => range_request::SortOrder::None,
        _ => return Err(CtlError::bad_feature(format!("bad sort order {}", a.order))),
    };
    let target = match a.sort_by.to_uppercase().as_str() {
        "CREATE" => range_request::SortTarget::Create,
        "KEY" | "" => range_request::SortTarget::Key,
        "MODIFY" => range_request::SortTarget::Mod,
        "VALUE" => range_request::SortTarget::Value,
        "VERSION" => range_request::SortTarget::Version,
        _ => {
            return Err(CtlError::bad_feature(format!(
                "bad sort target {}",
                a.sort_by
            )))
        }
    };
    // Keys come back in ascending key order anyway; the client drops that sort.
    let order =
        if target == range_request::SortTarget::Key && order == range_request::SortOrder::Ascend {
            range_request::SortOrder::None
        } else {
            order
        };
    req.sort_order = order as i32;
    req.sort_target = target as i32;
    apply_range_flags(&mut req.key, &mut req.range_end, a.prefix, a.from_key);
    req.keys_only = a.keys_only;
    req.count_only = a.count_only;
    req.min_mod_revision = a.min_mod_revision;
    req.max_mod_revision = a.max_mod_revision;
    req.min_create_revision = a.min_create_revision;
    req.max_create_revision = a.max_create_revision;
    Ok(req)
}

pub fn run(ctx: &mut Ctx<'_>, a: &GetArgs) -> Result<(), CtlError> {
    let req = range_request(a)?;
    let (settings, mut printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = crate::client::Client::new(settings);
    let resp = ctx
        .block_on(client.range(timeout, req))?
        .map_err(|e| CtlError::error(e.message))?;
    if a.count_only && printer.format != Format::Fields {
        return Err(CtlError::bad_args(
            "--count-only is only for `--write-out=fields`",
        ));
    }
    if a.print_value_only {
        if printer.format != Format::Simple {
            return Err(CtlError::bad_args(
                "print-value-only is only for `--write-out=simple`",
            ));
        }
        printer.value_only = true;
    }
    printer.get(&mut ctx.sink(), &resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> GetArgs {
        GetArgs {
            consistency: "l".into(),
            args: list.iter().map(OsString::from).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn prefix_and_from_key_ranges() {
        let mut a = args(&["foo"]);
        a.prefix = true;
        assert_eq!(range_request(&a).unwrap().range_end, b"fop");
        let mut a = args(&[""]);
        a.prefix = true;
        let r = range_request(&a).unwrap();
        assert_eq!((r.key, r.range_end), (vec![0], vec![0]));
        let mut a = args(&["k"]);
        a.from_key = true;
        assert_eq!(range_request(&a).unwrap().range_end, vec![0]);
    }

    #[test]
    fn sort_key_ascend_is_dropped() {
        let mut a = args(&["k"]);
        a.order = "ascend".into();
        assert_eq!(range_request(&a).unwrap().sort_order, 0);
        a.sort_by = "value".into();
        let r = range_request(&a).unwrap();
        assert_eq!((r.sort_order, r.sort_target), (1, 4));
    }

    #[test]
    fn argument_errors() {
        assert_eq!(
            range_request(&args(&[])),
            Err(CtlError::bad_args(
                "get command needs one argument as key and an optional argument as range_end"
            ))
        );
        let mut a = args(&["k"]);
        a.consistency = "x".into();
        assert_eq!(
            range_request(&a),
            Err(CtlError::bad_feature("unknown consistency flag \"x\""))
        );
    }
}
