//! `txn [options]`: reads compares, success operations and failure
//! operations from stdin (blank-line separated; see `txn_parse.rs`) and
//! commits them as one transaction. `-i` prints etcdctl's prompts.

use cairn_proto::etcdserverpb::{Compare, RequestOp, TxnRequest};

use super::Ctx;
use crate::cli::TxnArgs;
use crate::error::CtlError;
use crate::txn_parse::{parse_compare, parse_op, trim_space};

/// Reads one line like Go's `bufio.Reader.ReadString('\n')`: a final line
/// without a newline is an `EOF` error.
fn read_line(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, CtlError> {
    let mut line = Vec::new();
    match ctx.stdin.read_until(b'\n', &mut line) {
        Ok(_) if line.ends_with(b"\n") => Ok(line),
        Ok(_) => Err(CtlError::invalid_input("EOF")),
        Err(e) => Err(CtlError::invalid_input(e.to_string())),
    }
}

fn prompt(ctx: &mut Ctx<'_>, interactive: bool, text: &str) {
    if interactive {
        let _ = writeln!(ctx.out, "{text}");
        let _ = ctx.out.flush();
    }
}

fn read_compares(ctx: &mut Ctx<'_>) -> Result<Vec<Compare>, CtlError> {
    let mut compares = Vec::new();
    loop {
        let line = read_line(ctx)?;
        let line = trim_space(&line);
        if line.is_empty() {
            return Ok(compares);
        }
        compares.push(parse_compare(line)?);
    }
}

fn read_ops(ctx: &mut Ctx<'_>) -> Result<Vec<RequestOp>, CtlError> {
    let mut ops = Vec::new();
    loop {
        let line = read_line(ctx)?;
        let line = trim_space(&line);
        if line.is_empty() {
            return Ok(ops);
        }
        ops.push(parse_op(line)?);
    }
}

pub fn run(ctx: &mut Ctx<'_>, a: &TxnArgs) -> Result<(), CtlError> {
    if !a.args.is_empty() {
        return Err(CtlError::bad_args("txn command does not accept argument"));
    }
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let mut client = crate::client::Client::new(settings);
    prompt(ctx, a.interactive, "compares:");
    let compare = read_compares(ctx)?;
    prompt(ctx, a.interactive, "success requests (get, put, del):");
    let success = read_ops(ctx)?;
    prompt(ctx, a.interactive, "failure requests (get, put, del):");
    let failure = read_ops(ctx)?;
    let req = TxnRequest {
        compare,
        success,
        failure,
    };
    let resp = ctx
        .block_on(client.txn(req))?
        .map_err(|e| CtlError::error(e.message))?;
    printer.txn(&mut ctx.sink(), &resp)
}
