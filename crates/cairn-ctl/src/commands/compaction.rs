//! `compaction [options] <revision>`: compacts the key-value history.

use cairn_proto::etcdserverpb::CompactionRequest;

use super::{arg_bytes, Ctx};
use crate::cli::CompactionArgs;
use crate::error::CtlError;

pub fn run(ctx: &mut Ctx<'_>, a: &CompactionArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    if args.len() != 1 {
        return Err(CtlError::bad_args("compaction command needs 1 argument"));
    }
    let revision = crate::golang::parse_int(&String::from_utf8_lossy(&args[0]), 10)
        .map_err(CtlError::error)?;
    let (settings, _printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = crate::client::Client::new(settings);
    let req = CompactionRequest {
        revision,
        physical: a.physical,
    };
    ctx.block_on(client.compact(timeout, req))?
        .map_err(|e| CtlError::error(e.message))?;
    let _ = writeln!(ctx.out, "compacted revision {revision}");
    Ok(())
}
