//! `put [options] <key> <value>`: writes a key; the value may come from stdin.

use std::io::Read;

use cairn_proto::etcdserverpb::PutRequest;

use super::{arg_bytes, Ctx};
use crate::cli::PutArgs;
use crate::error::CtlError;

const NEEDS_ARGS: &str = "put command needs 1 argument and input from stdin or 2 arguments";

/// Builds the Put request for `put`'s flags and arguments, reading the value
/// from `stdin` when it is not given (also used for `put` lines in `txn`).
pub fn put_request(a: &PutArgs, stdin: &mut dyn Read) -> Result<PutRequest, CtlError> {
    let args = arg_bytes(&a.args);
    if args.is_empty() {
        return Err(CtlError::bad_args(NEEDS_ARGS));
    }
    if a.ignore_value && args.len() > 1 {
        return Err(CtlError::bad_args(
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let mut value = Vec::new();
    if !a.ignore_value {
        match args.get(1) {
            Some(v) => value = v.clone(),
            None => {
                if stdin.read_to_end(&mut value).is_err() || value.is_empty() {
                    return Err(CtlError::bad_args(NEEDS_ARGS));
                }
            }
        }
    }
    let lease = crate::golang::parse_int(&a.lease, 16)
        .map_err(|e| CtlError::bad_args(format!("bad lease ID ({e}), expecting ID in Hex")))?;
    Ok(PutRequest {
        key: args[0].clone(),
        value,
        lease,
        prev_kv: a.prev_kv,
        ignore_value: a.ignore_value,
        ignore_lease: a.ignore_lease,
    })
}

pub fn run(ctx: &mut Ctx<'_>, a: &PutArgs) -> Result<(), CtlError> {
    let req = put_request(a, &mut *ctx.stdin)?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = crate::client::Client::new(settings);
    let resp = ctx
        .block_on(client.put(timeout, req))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.put(&mut ctx.sink(), &resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> PutArgs {
        PutArgs {
            lease: "0".into(),
            args: list.iter().map(OsString::from).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn value_from_stdin() {
        let r = put_request(&args(&["k"]), &mut &b"v\n"[..]).unwrap();
        assert_eq!(r.value, b"v\n");
        assert_eq!(
            put_request(&args(&["k"]), &mut &b""[..]),
            Err(CtlError::bad_args(NEEDS_ARGS))
        );
    }

    #[test]
    fn lease_is_hex() {
        let mut a = args(&["k", "v"]);
        a.lease = "ff".into();
        assert_eq!(put_request(&a, &mut std::io::empty()).unwrap().lease, 255);
        a.lease = "xyz".into();
        assert_eq!(
            put_request(&a, &mut std::io::empty()),
            Err(CtlError::bad_args(
                "bad lease ID (strconv.ParseInt: parsing \"xyz\": invalid syntax), expecting ID in Hex"
            ))
        );
    }
}
