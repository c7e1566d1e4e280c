//! `lease grant|revoke|timetolive|list|keep-alive`: the Lease service.

use super::{arg_bytes, keepalive, Ctx};
use crate::cli::{LeaseKeepAliveArgs, LeaseTimeToLiveArgs, PlainArgs};
use crate::client::Client;
use crate::error::{exit, CtlError};
use crate::printer::Format;

/// A lease ID argument: hex, as etcdctl's `leaseFromArgs` reads it.
pub fn lease_id(arg: &[u8]) -> Result<i64, CtlError> {
    crate::golang::parse_int(&String::from_utf8_lossy(arg), 16)
        .map_err(|e| CtlError::bad_args(format!("bad lease ID arg ({e}), expecting ID in Hex")))
}

pub fn grant(ctx: &mut Ctx<'_>, a: &PlainArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    if args.len() != 1 {
        return Err(CtlError::bad_args("lease grant command needs TTL argument"));
    }
    let ttl = crate::golang::parse_int(&String::from_utf8_lossy(&args[0]), 10)
        .map_err(|e| CtlError::bad_args(format!("bad TTL ({e})")))?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.lease_grant(Some(timeout), ttl))?
        .map_err(|e| CtlError::error(format!("failed to grant lease ({e})")))?;
    printer.lease_grant(&mut ctx.sink(), &resp)
}

pub fn revoke(ctx: &mut Ctx<'_>, a: &PlainArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    if args.len() != 1 {
        return Err(CtlError::bad_args("lease revoke command needs 1 argument"));
    }
    let id = lease_id(&args[0])?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.lease_revoke(Some(timeout), id))?
        .map_err(|e| CtlError::error(format!("failed to revoke lease ({e})")))?;
    printer.lease_revoke(&mut ctx.sink(), id, &resp)
}

pub fn time_to_live(ctx: &mut Ctx<'_>, a: &LeaseTimeToLiveArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "lease timetolive command needs lease ID as argument",
        ));
    }
    // etcdctl connects before it reads the ID.
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let id = lease_id(&args[0])?;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.lease_time_to_live(id, a.keys))?
        .map_err(|e| CtlError::new(exit::BAD_CONNECTION, e.message))?;
    printer.lease_time_to_live(&mut ctx.sink(), &resp, a.keys)
}

pub fn list(ctx: &mut Ctx<'_>) -> Result<(), CtlError> {
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let mut client = Client::new(settings);
    let resp = ctx
        .block_on(client.lease_leases())?
        .map_err(|e| CtlError::new(exit::BAD_CONNECTION, e.message))?;
    printer.lease_leases(&mut ctx.sink(), &resp)
}

pub fn keep_alive(ctx: &mut Ctx<'_>, a: &LeaseKeepAliveArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    if args.len() != 1 {
        return Err(CtlError::bad_args(
            "lease keep-alive command needs lease ID as argument",
        ));
    }
    let id = lease_id(&args[0])?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let first_timeout = settings.dial_timeout.to_std() + std::time::Duration::from_secs(1);
    let mut client = Client::new(settings);
    if a.once {
        let resp = ctx
            .block_on(async {
                let channel = client.channel().await?;
                keepalive::once(channel, id).await
            })?
            .map_err(|e| CtlError::new(exit::BAD_CONNECTION, e.message))?;
        return printer.lease_keep_alive(&mut ctx.sink(), &resp);
    }
    let mut responses = ctx
        .block_on(async {
            let channel = client.channel().await?;
            Ok::<_, crate::client::RpcError>(keepalive::spawn(channel, id, first_timeout))
        })?
        .map_err(|e| CtlError::new(exit::BAD_CONNECTION, e.message))?;
    while let Some(resp) = ctx.block_on(responses.recv())? {
        printer.lease_keep_alive(&mut ctx.sink(), &resp)?;
        let _ = ctx.out.flush();
    }
    if printer.format == Format::Simple {
        let _ = writeln!(ctx.out, "lease {id:016x} expired or revoked.");
    }
    Ok(())
}
