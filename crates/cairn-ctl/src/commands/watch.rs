//! `watch [options] [key or prefix] [range_end] [--] [exec-command arg1 ...]`
//! and `watch -i`: prints events as they come, optionally running a command
//! per event with `ETCD_WATCH_*` set. Arguments are taken apart the way
//! etcdctl's `parseWatchArgs` does, from the raw command line (it looks for
//! `--` there) and `ETCDCTL_WATCH_KEY`/`ETCDCTL_WATCH_RANGE_END`.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use cairn_proto::etcdserverpb::WatchCreateRequest;
use clap::{FromArgMatches, Parser, Subcommand};

use super::watcher::{Update, Watches};
use super::{apply_range_flags, arg_bytes, exec, Ctx};
use crate::cli::WatchArgs;
use crate::client::Client;
use crate::error::{exit, CtlError};
use crate::golang::quote;
use crate::printer::{Printer, Watched};
use crate::txn_parse::argify;

const BAD_ARGS_NUM: &str = "bad number of arguments";
const BAD_ARGS_CONFLICT_ENV: &str = "bad number of arguments (found conflicting environment key)";
const BAD_ARGS_SEPARATOR: &str = "bad number of arguments (found separator --, but no commands)";
const BAD_ARGS_INTERACTIVE: &str = "args[0] must be 'watch' for interactive calls";

/// What one watch is asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spec {
    /// Key (and range end) arguments.
    pub args: Vec<Vec<u8>>,
    /// The command to run per event.
    pub exec: Vec<Vec<u8>>,
    pub prefix: bool,
    pub rev: i64,
    pub prev_kv: bool,
    pub progress_notify: bool,
}

/// The `ETCDCTL_WATCH_*` variables.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
}

impl Env {
    fn from_process() -> Env {
        let get = |name: &str| {
            std::env::var_os(name)
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default()
        };
        Env {
            key: get("ETCDCTL_WATCH_KEY"),
            range_end: get("ETCDCTL_WATCH_RANGE_END"),
        }
    }
}

/// Byte-string arguments.
type Args = Vec<Vec<u8>>;

fn position(list: &[Vec<u8>], item: &[u8]) -> Option<usize> {
    list.iter().position(|a| a == item)
}

/// Prepends the environment's key and range end to `args`.
fn with_env(env: &Env, args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    if env.key.is_empty() {
        return args;
    }
    let mut out = vec![env.key.clone()];
    if !env.range_end.is_empty() {
        out.push(env.range_end.clone());
    }
    out.extend(args);
    out
}

/// Drops the exec command (which cobra left among the arguments) from `args`.
fn without_exec(mut args: Vec<Vec<u8>>, first_exec: &[u8]) -> Result<Vec<Vec<u8>>, CtlError> {
    match args.iter().rposition(|a| a == first_exec) {
        Some(end) => {
            args.truncate(end);
            Ok(args)
        }
        None => Err(CtlError::Panic(format!(
            "runtime error: slice bounds out of range [:-1] (watch arguments {})",
            args.len()
        ))),
    }
}

/// `parseWatchArgs` for the command line: `raw` is the whole command line,
/// `args` the positional arguments the parser kept.
pub fn parse_command_line(
    raw: &[Vec<u8>],
    args: &[Vec<u8>],
    env: &Env,
) -> Result<(Args, Args), CtlError> {
    let raw = match position(raw, b"watch") {
        Some(i) => &raw[i + 1..],
        None => raw,
    };
    let sep = position(raw, b"--");
    if sep.is_some_and(|i| i + 1 == raw.len()) {
        return Err(CtlError::bad_args(BAD_ARGS_SEPARATOR));
    }
    if sep.is_none() && raw.is_empty() && env.key.is_empty() {
        return Err(CtlError::bad_args(BAD_ARGS_NUM));
    }
    if let (Some(exec_idx), false) = (sep, env.key.is_empty()) {
        // The arguments that came before `--` conflict with the variable.
        let mut ridx = raw.len() as isize - 1;
        for arg in args.iter().rev() {
            if ridx >= 0 && *arg == raw[ridx as usize] {
                ridx -= 1;
                continue;
            }
            if ridx == exec_idx as isize {
                return Err(CtlError::bad_args(BAD_ARGS_CONFLICT_ENV));
            }
        }
    }
    if sep.is_none() && !args.is_empty() && !env.key.is_empty() {
        return Err(CtlError::bad_args(BAD_ARGS_CONFLICT_ENV));
    }
    let watch_args = with_env(env, args.to_vec());
    match sep {
        None => Ok((watch_args, Vec::new())),
        Some(i) => {
            let exec_args = raw[i + 1..].to_vec();
            Ok((without_exec(watch_args, &raw[i + 1])?, exec_args))
        }
    }
}

/// One `watch ...` line of interactive mode, parsed with watch's own flags.
#[derive(Parser, Debug)]
#[command(name = "line", no_binary_name = true)]
struct WatchLine {
    #[command(subcommand)]
    watch: LineCommand,
}

#[derive(Subcommand, Debug)]
enum LineCommand {
    Watch(WatchArgs),
}

fn parse_flags(line: &[Vec<u8>]) -> Result<WatchArgs, CtlError> {
    let os_args: Vec<OsString> = line.iter().cloned().map(OsString::from_vec).collect();
    let command = crate::usage::prepare(<WatchLine as clap::CommandFactory>::command());
    let matches = command
        .clone()
        .try_get_matches_from(&os_args)
        .map_err(|e| {
            let path = vec!["watch".to_string()];
            CtlError::bad_args(crate::usage::flag_error(&command, &path, &os_args[1..], &e))
        })?;
    let parsed =
        WatchLine::from_arg_matches(&matches).map_err(|e| CtlError::bad_args(e.to_string()))?;
    let LineCommand::Watch(a) = parsed.watch;
    Ok(a)
}

/// `parseWatchArgs` for a line of interactive mode (`line[0]` is `watch`).
pub fn parse_line(line: &[Vec<u8>], env: &Env) -> Result<Spec, CtlError> {
    if line.first().map(Vec::as_slice) != Some(b"watch") {
        return Err(CtlError::bad_args(BAD_ARGS_INTERACTIVE));
    }
    let rest = &line[1..];
    let sep = position(rest, b"--");
    if sep.is_some_and(|i| i + 1 == rest.len()) {
        return Err(CtlError::bad_args(BAD_ARGS_SEPARATOR));
    }
    let flags = parse_flags(line)?;
    let positional = arg_bytes(&flags.args);
    if sep.is_none() && env.key.is_empty() && positional.is_empty() {
        return Err(CtlError::bad_args(BAD_ARGS_NUM));
    }
    if sep.is_none() && !positional.is_empty() && !env.key.is_empty() {
        return Err(CtlError::bad_args(BAD_ARGS_CONFLICT_ENV));
    }
    let mut spec = Spec {
        prefix: flags.prefix,
        rev: flags.rev,
        prev_kv: flags.prev_kv,
        progress_notify: flags.progress_notify,
        ..Default::default()
    };
    let watch_args = with_env(env, positional);
    match sep {
        None => spec.args = watch_args,
        Some(i) => {
            spec.exec = rest[i + 1..].to_vec();
            spec.args = without_exec(watch_args, &rest[i + 1])?;
        }
    }
    Ok(spec)
}

/// `getWatchChan`'s checks and request.
pub fn create_request(spec: &Spec) -> Result<WatchCreateRequest, String> {
    let Some(key) = spec.args.first() else {
        return Err(BAD_ARGS_NUM.to_string());
    };
    let mut req = WatchCreateRequest {
        key: key.clone(),
        start_revision: spec.rev,
        prev_kv: spec.prev_kv,
        progress_notify: spec.progress_notify,
        ..Default::default()
    };
    if spec.args.len() == 2 {
        if spec.prefix {
            return Err("`range_end` and `--prefix` are mutually exclusive".to_string());
        }
        req.range_end = spec.args[1].clone();
    }
    apply_range_flags(&mut req.key, &mut req.range_end, spec.prefix, false);
    Ok(req)
}

/// Prints one response for a watcher and runs its command per event
/// (`printWatchCh`'s body). A failed command ends etcdctl with exit 1.
async fn show(
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
    printer: &Printer,
    resp: &Watched,
    cancel: Option<&str>,
    exec_args: &[Vec<u8>],
) -> Result<(), CtlError> {
    if resp.canceled {
        let _ = out.flush();
        let _ = writeln!(err, "watch was canceled ({})", cancel.unwrap_or_default());
    }
    if resp.is_progress_notify() {
        let _ = writeln!(out, "progress notify: {}", resp.header.revision);
    }
    printer.watch(&mut crate::printer::Sink { out, err }, resp)?;
    let _ = out.flush();
    for ev in &resp.events {
        if exec_args.is_empty() {
            break;
        }
        let kv = ev.kv.clone().unwrap_or_default();
        let env = vec![
            (
                "ETCD_WATCH_REVISION".to_string(),
                resp.header.revision.to_string(),
            ),
            (
                "ETCD_WATCH_EVENT_TYPE".to_string(),
                format!("\"{}\"", crate::printer::event_type_name(ev.r#type)),
            ),
            ("ETCD_WATCH_KEY".to_string(), quote(&kv.key)),
            ("ETCD_WATCH_VALUE".to_string(), quote(&kv.value)),
        ];
        if let Err(e) = exec::run(exec_args, &env, false).await {
            let _ = writeln!(
                err,
                "command {} error ({})",
                exec::quoted_list(exec_args),
                e.message
            );
            return Err(CtlError::Silent(exit::ERROR));
        }
    }
    Ok(())
}

pub fn run(ctx: &mut Ctx<'_>, a: &WatchArgs) -> Result<(), CtlError> {
    let env = Env::from_process();
    if env.key.is_empty() && !env.range_end.is_empty() {
        return Err(CtlError::bad_args(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={}",
            quote(&env.range_end)
        )));
    }
    if a.interactive {
        return interactive(ctx, &env);
    }
    let raw = arg_bytes(&ctx.raw_args);
    let (args, exec_args) = parse_command_line(&raw, &arg_bytes(&a.args), &env)?;
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let spec = Spec {
        args,
        exec: exec_args,
        prefix: a.prefix,
        rev: a.rev,
        prev_kv: a.prev_kv,
        progress_notify: a.progress_notify,
    };
    let create = create_request(&spec).map_err(CtlError::bad_args)?;
    let mut watches = Watches::new(Client::new(settings));
    let out = &mut *ctx.out;
    let err = &mut *ctx.err;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::error(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        watches.add(create).await;
        while let Some(update) = watches.next().await {
            if let Update::Response(_, resp, cancel) = update {
                show(out, err, &printer, &resp, cancel.as_deref(), &spec.exec).await?;
            }
        }
        Ok::<(), CtlError>(())
    })?;
    Err(CtlError::new(
        exit::INTERRUPTED,
        "watch is canceled by the server",
    ))
}

/// Reads stdin lines in a thread (stdin blocks) and hands them over.
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<Result<Vec<u8>, String>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut input = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            let result = match input.read_until(b'\n', &mut line) {
                Ok(_) if line.ends_with(b"\n") => Ok(line),
                Ok(_) => Err("EOF".to_string()),
                Err(e) => Err(e.to_string()),
            };
            let stop = result.is_err();
            if tx.send(result).is_err() || stop {
                return;
            }
        }
    });
    rx
}

fn interactive(ctx: &mut Ctx<'_>, env: &Env) -> Result<(), CtlError> {
    let (settings, printer) = ctx.globals.client_config(ctx.err)?;
    let mut watches = Watches::new(Client::new(settings));
    let mut execs: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut lines = stdin_lines();
    let out = &mut *ctx.out;
    let err = &mut *ctx.err;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::error(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        loop {
            tokio::select! {
                line = lines.recv() => {
                    let line = match line {
                        Some(Ok(l)) => l,
                        Some(Err(e)) => {
                            return Err(CtlError::invalid_input(format!(
                                "error reading watch request line: {e}"
                            )))
                        }
                        None => {
                            return Err(CtlError::invalid_input(
                                "error reading watch request line: EOF",
                            ))
                        }
                    };
                    let line = line.strip_suffix(b"\n").unwrap_or(&line).to_vec();
                    let text = String::from_utf8_lossy(&line).into_owned();
                    let args = argify(&line)?;
                    let _ = out.flush();
                    match args.first().map(Vec::as_slice) {
                        None => {
                            let _ = writeln!(
                                err,
                                "Invalid command: {text} (watch and progress supported)"
                            );
                        }
                        Some(b"watch") => {
                            if args.len() < 2 && env.key.is_empty() {
                                let _ = writeln!(
                                    err,
                                    "Invalid command {text} (command type or key is not provided)"
                                );
                                continue;
                            }
                            let spec = parse_line(&args, env)?;
                            match create_request(&spec) {
                                Ok(create) => {
                                    let index = watches.add(create).await;
                                    execs.resize(index + 1, Vec::new());
                                    execs[index] = spec.exec;
                                }
                                Err(e) => {
                                    let _ = writeln!(err, "Invalid command {text} ({e})");
                                }
                            }
                        }
                        Some(b"progress") => watches.request_progress().await,
                        Some(_) => {
                            let _ = writeln!(err, "Invalid command {text} (only support watch)");
                        }
                    }
                }
                update = watches.next(), if watches.active() => {
                    if let Some(Update::Response(i, resp, cancel)) = update {
                        let exec_args = execs.get(i).cloned().unwrap_or_default();
                        show(out, err, &printer, &resp, cancel.as_deref(), &exec_args).await?;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn command_line_with_exec() {
        let raw = v(&["etcdctl", "watch", "foo", "--rev", "1", "--", "echo", "hi"]);
        let (args, exec_args) =
            parse_command_line(&raw, &v(&["foo", "echo", "hi"]), &Env::default()).unwrap();
        assert_eq!(args, v(&["foo"]));
        assert_eq!(exec_args, v(&["echo", "hi"]));
    }

    #[test]
    fn command_line_errors() {
        let none = Env::default();
        assert_eq!(
            parse_command_line(&v(&["etcdctl", "watch"]), &[], &none),
            Err(CtlError::bad_args(BAD_ARGS_NUM))
        );
        assert_eq!(
            parse_command_line(&v(&["etcdctl", "watch", "a", "--"]), &v(&["a"]), &none),
            Err(CtlError::bad_args(BAD_ARGS_SEPARATOR))
        );
        let env = Env {
            key: b"k".to_vec(),
            range_end: Vec::new(),
        };
        assert_eq!(
            parse_command_line(&v(&["etcdctl", "watch", "a"]), &v(&["a"]), &env),
            Err(CtlError::bad_args(BAD_ARGS_CONFLICT_ENV))
        );
        let (args, exec_args) =
            parse_command_line(&v(&["etcdctl", "watch", "--", "echo"]), &v(&["echo"]), &env)
                .unwrap();
        assert_eq!((args, exec_args), (v(&["k"]), v(&["echo"])));
    }

    #[test]
    fn interactive_lines() {
        let spec = parse_line(
            &v(&["watch", "foo", "--prefix", "--", "echo", "x"]),
            &Env::default(),
        )
        .unwrap();
        assert_eq!(spec.args, v(&["foo"]));
        assert_eq!(spec.exec, v(&["echo", "x"]));
        assert!(spec.prefix);
        assert_eq!(
            parse_line(&v(&["watch", "foo", "--bogus"]), &Env::default()),
            Err(CtlError::bad_args("unknown flag: --bogus"))
        );
    }

    #[test]
    fn prefix_and_range_conflict() {
        let spec = Spec {
            args: v(&["a", "b"]),
            prefix: true,
            ..Default::default()
        };
        assert!(create_request(&spec).is_err());
        let spec = Spec {
            args: v(&[""]),
            prefix: true,
            ..Default::default()
        };
        let req = create_request(&spec).unwrap();
        assert_eq!((req.key, req.range_end), (vec![0], vec![0]));
    }
}
