//! `lock <lockname> [exec-command arg1 ...]`: takes the named lock (the
//! client-side recipe in `session.rs`), prints its key, then holds it until
//! SIGINT/SIGTERM, or runs the command with `ETCD_LOCK_KEY`/`ETCD_LOCK_REV`
//! and releases it.

use tokio::signal::unix::{signal, SignalKind};

use super::session::{self, Session};
use super::{arg_bytes, exec, Ctx};
use crate::cli::LockArgs;
use crate::client::Client;
use crate::error::CtlError;

/// Resolves at the first SIGINT or SIGTERM (handled from the start, as
/// etcdctl's `signal.Notify` does).
pub fn interrupted() -> Result<impl std::future::Future<Output = ()>, CtlError> {
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| CtlError::error(format!("cannot handle signals: {e}")))?;
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CtlError::error(format!("cannot handle signals: {e}")))?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// A runtime of its own, so that output can be written while it runs.
pub fn runtime() -> Result<tokio::runtime::Runtime, CtlError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::error(format!("cannot start the async runtime: {e}")))
}

pub fn run(ctx: &mut Ctx<'_>, a: &LockArgs) -> Result<(), CtlError> {
    let args = arg_bytes(&a.args);
    let Some(name) = args.first().cloned() else {
        return Err(CtlError::bad_args(
            "lock takes a lock name argument and an optional command to execute",
        ));
    };
    let command = args[1..].to_vec();
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let mut client = Client::new(settings);
    let ttl = a.ttl;
    let out = &mut *ctx.out;
    let err = &mut *ctx.err;
    let rt = runtime()?;
    rt.block_on(async move {
        let stop = interrupted()?;
        tokio::pin!(stop);
        let fail = |e: crate::client::RpcError| CtlError::error(e.message);
        let mut session = Session::new(&mut client, ttl).await.map_err(fail)?;
        let mutex = tokio::select! {
            m = session::lock(&mut client, &session, &name) => m.map_err(fail)?,
            _ = &mut stop => {
                // etcdctl's lock wait ends with its context canceled.
                return Err(CtlError::error("context canceled"));
            }
        };
        if !command.is_empty() {
            let env = vec![
                (
                    "ETCD_LOCK_KEY".to_string(),
                    String::from_utf8_lossy(&mutex.key).into_owned(),
                ),
                (
                    "ETCD_LOCK_REV".to_string(),
                    mutex.header.revision.to_string(),
                ),
            ];
            let _ = out.flush();
            let ran = exec::run(&command, &env, true).await;
            let unlocked = session::unlock(&mut client, &mutex.key).await;
            return match (ran, unlocked) {
                (Err(e), _) => Err(CtlError::new(
                    e.exit_code.unwrap_or(crate::error::exit::ERROR),
                    e.message,
                )),
                (Ok(()), Err(e)) => Err(fail(e)),
                (Ok(()), Ok(())) => Ok(()),
            };
        }
        let held = session::get(&mut client, &mutex.key).await.map_err(fail)?;
        if held.kvs.is_empty() {
            return Err(CtlError::error("lock lost on init"));
        }
        printer.get(&mut crate::printer::Sink { out, err }, &held)?;
        let _ = out.flush();
        tokio::select! {
            _ = &mut stop => session::unlock(&mut client, &mutex.key).await.map_err(fail),
            _ = session.expired() => Err(CtlError::error("session expired")),
        }
    })
}
