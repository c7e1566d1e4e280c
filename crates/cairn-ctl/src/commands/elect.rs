//! `elect <election-name> [proposal]` and `elect -l <election-name>`:
//! campaigns until elected and prints the leader key (resigning on
//! SIGINT/SIGTERM), or prints every leader as it changes.

use super::lock::{interrupted, runtime};
use super::session::{self, Session};
use super::{arg_bytes, Ctx};
use crate::cli::ElectArgs;
use crate::client::Client;
use crate::error::CtlError;

pub fn run(ctx: &mut Ctx<'_>, a: &ElectArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    if args.len() != 1 && args.len() != 2 {
        return Err(CtlError::bad_args(
            "elect takes one election name argument and an optional proposal argument",
        ));
    }
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let proposal = args.get(1).cloned();
    match (&proposal, a.listen) {
        (None, false) => {
            return Err(CtlError::bad_args("no proposal argument but -l not set"));
        }
        (Some(_), true) => return Err(CtlError::bad_args("proposal given but -l is set")),
        _ => {}
    }
    let name = args[0].clone();
    let mut client = Client::new(settings);
    let out = &mut *ctx.out;
    let err = &mut *ctx.err;
    let rt = runtime()?;
    rt.block_on(async move {
        let stop = interrupted()?;
        tokio::pin!(stop);
        let fail = |e: crate::client::RpcError| CtlError::error(e.message);
        let mut session = Session::new(&mut client, 60).await.map_err(fail)?;
        let Some(value) = proposal else {
            let mut failure = None;
            let mut report = |r: &cairn_proto::etcdserverpb::RangeResponse| {
                if failure.is_none() {
                    failure = printer.get(&mut crate::printer::Sink { out, err }, r).err();
                    let _ = out.flush();
                }
            };
            // However the observation ends, etcdctl reports only that it did.
            tokio::select! {
                _ = session::observe(&mut client, &name, &mut report) => {}
                _ = &mut stop => return Ok(()),
            };
            return Err(failure.unwrap_or_else(|| CtlError::error("elect: observer lost")));
        };
        let me = tokio::select! {
            r = session::campaign(&mut client, &session, &name, &value) => r.map_err(fail)?,
            _ = &mut stop => return Err(CtlError::error("context canceled")),
        };
        let leader = session::get(&mut client, &me.key).await.map_err(fail)?;
        printer.get(&mut crate::printer::Sink { out, err }, &leader)?;
        let _ = out.flush();
        tokio::select! {
            _ = &mut stop => {}
            _ = session.expired() => return Err(CtlError::error("elect: session expired")),
        }
        session::resign(&mut client, &me).await.map_err(fail)
    })
}
