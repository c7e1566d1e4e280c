//! `del [options] <key> [range_end]`: deletes a key or a range.

use cairn_proto::etcdserverpb::DeleteRangeRequest;

use super::{apply_range_flags, arg_bytes, Ctx};
use crate::cli::DelArgs;
use crate::error::CtlError;

/// Builds the DeleteRange request for `del`'s flags and arguments (also used
/// for `del` lines in `txn`).
pub fn delete_request(a: &DelArgs) -> Result<DeleteRangeRequest, CtlError> {
    let args = arg_bytes(&a.args);
    if args.is_empty() || args.len() > 2 {
        return Err(CtlError::bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    if a.prefix && a.from_key {
        return Err(CtlError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let mut req = DeleteRangeRequest {
        key: args[0].clone(),
        prev_kv: a.prev_kv,
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
    apply_range_flags(&mut req.key, &mut req.range_end, a.prefix, a.from_key);
    Ok(req)
}

pub fn run(ctx: &mut Ctx<'_>, a: &DelArgs) -> Result<(), CtlError> {
    let req = delete_request(a)?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = crate::client::Client::new(settings);
    let resp = ctx
        .block_on(client.delete_range(timeout, req))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.del(&mut ctx.sink(), &resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn prefix_delete() {
        let a = DelArgs {
            prefix: true,
            args: vec![OsString::from("a")],
            ..Default::default()
        };
        assert_eq!(delete_request(&a).unwrap().range_end, b"b");
        let a = DelArgs {
            args: vec!["a".into(), "b".into(), "c".into()],
            ..Default::default()
        };
        assert!(delete_request(&a).is_err());
    }
}
