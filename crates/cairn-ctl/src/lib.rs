//! cairnctl: a drop-in replacement for etcdctl 3.5.1 that speaks only the
//! etcd v3 gRPC API. Commands, flags, output formats, error messages and
//! exit codes follow etcdctl's byte for byte; `run` is the whole program.

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod global;
pub mod golang;
pub mod insecure_tls;
pub mod printer;
pub mod tabwriter;
pub mod txn_parse;
pub mod usage;
pub mod zaplog;

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{BufRead, Write};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::{
    AlarmCommand, Cli, Command, EndpointCommand, LeaseCommand, MemberCommand, SnapshotCommand,
};
use crate::commands::Ctx;
use crate::error::CtlError;
use crate::global::{Globals, GLOBAL_FLAGS};

/// The deepest subcommand's matches and the names on the way there.
fn leaf(matches: &ArgMatches) -> (&ArgMatches, Vec<String>) {
    let mut cur = matches;
    let mut path = Vec::new();
    while let Some((name, sub)) = cur.subcommand() {
        path.push(name.to_string());
        cur = sub;
    }
    (cur, path)
}

/// Whether argument `id` was given on the command line.
fn given(matches: &ArgMatches, id: &str) -> bool {
    // try_get_raw guards against ids a subcommand does not define.
    matches.try_get_raw(id).is_ok() && matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// Runs cairnctl with `args` (including the program name) and returns the
/// exit code.
pub fn run(
    args: Vec<OsString>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    // etcdctl switches API versions on ETCDCTL_API and then forgets it.
    let api = std::env::var_os("ETCDCTL_API");
    std::env::remove_var("ETCDCTL_API");
    if let Some(api) = api {
        if !api.is_empty() && api != "3" {
            let _ = writeln!(stderr, "unsupported API version: {}", api.to_string_lossy());
            return error::exit::ERROR;
        }
    }

    let raw_args = args.clone();
    let root = usage::prepare(Cli::command());
    let matches = match root.clone().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let failure = usage::parse_failure(&root, &args, &e);
            let _ = stderr.write_all(&failure.stderr_before);
            let _ = stdout.write_all(&failure.stdout);
            let _ = stdout.flush();
            let _ = stderr.write_all(&failure.stderr_after);
            return failure.code;
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = writeln!(stderr, "Error: {e}");
            return error::exit::ERROR;
        }
    };
    let (leaf_matches, path) = leaf(&matches);
    let mut explicit: HashSet<String> = GLOBAL_FLAGS
        .iter()
        .filter(|name| given(leaf_matches, &name.replace('-', "_")))
        .map(|name| name.to_string())
        .collect();
    let mut cluster = None;
    let cluster_flag = match &cli.command {
        Some(Command::Endpoint(ep)) => Some(ep.cluster),
        Some(Command::Defrag(d)) => Some(d.cluster),
        _ => None,
    };
    if let Some(value) = cluster_flag {
        cluster = Some(value);
        if given(leaf_matches, "cluster") {
            explicit.insert("cluster".into());
        }
    }
    if cli.global.help {
        let _ = stdout.write_all(usage::render(&root, &path).as_bytes());
        return error::exit::SUCCESS;
    }
    let mut args = cli.global.clone();
    // pflag's string slices take comma-separated values.
    args.endpoints = args
        .endpoints
        .iter()
        .flat_map(|e| e.split(','))
        .map(str::to_string)
        .collect();
    let globals = Globals {
        args,
        cluster,
        explicit,
        watch: matches!(cli.command, Some(Command::Watch(_))),
    };
    let mut ctx = Ctx::new(globals, stdout, stderr, stdin);
    ctx.raw_args = raw_args;
    let result = dispatch(&mut ctx, &root, cli.command, &path);
    let _ = ctx.out.flush();
    match result {
        Ok(()) => error::exit::SUCCESS,
        Err(e) => e.report(ctx.err),
    }
}

fn dispatch(
    ctx: &mut Ctx<'_>,
    root: &clap::Command,
    command: Option<Command>,
    path: &[String],
) -> Result<(), CtlError> {
    let show_usage = |ctx: &mut Ctx<'_>, path: &[String]| {
        let _ = ctx.out.write_all(usage::render(root, path).as_bytes());
        Ok(())
    };
    match command {
        None => show_usage(ctx, path),
        Some(Command::Bench(b)) => match &b.command {
            Some(workload) => commands::bench::run(ctx, &b, workload),
            None => show_usage(ctx, path),
        },
        Some(Command::Get(a)) => commands::get::run(ctx, &a),
        Some(Command::Put(a)) => commands::put::run(ctx, &a),
        Some(Command::Del(a)) => commands::del::run(ctx, &a),
        Some(Command::Txn(a)) => commands::txn::run(ctx, &a),
        Some(Command::Compaction(a)) => commands::compaction::run(ctx, &a),
        Some(Command::Version(_)) => commands::version::run(ctx),
        Some(Command::Member(m)) => match m.command {
            Some(MemberCommand::List(_)) => commands::member::list(ctx),
            Some(MemberCommand::Add(a)) => commands::member::add(ctx, &a),
            Some(MemberCommand::Remove(a)) => commands::member::remove(ctx, &a),
            Some(MemberCommand::Update(a)) => commands::member::update(ctx, &a),
            Some(MemberCommand::Promote(a)) => commands::member::promote(ctx, &a),
            None => show_usage(ctx, path),
        },
        Some(Command::Alarm(a)) => match a.command {
            Some(AlarmCommand::List(_)) => commands::maintenance::alarm_list(ctx),
            Some(AlarmCommand::Disarm(_)) => commands::maintenance::alarm_disarm(ctx),
            None => show_usage(ctx, path),
        },
        Some(Command::Lease(l)) => match l.command {
            Some(LeaseCommand::Grant(a)) => commands::lease::grant(ctx, &a),
            Some(LeaseCommand::Revoke(a)) => commands::lease::revoke(ctx, &a),
            Some(LeaseCommand::Timetolive(a)) => commands::lease::time_to_live(ctx, &a),
            Some(LeaseCommand::List(_)) => commands::lease::list(ctx),
            Some(LeaseCommand::KeepAlive(a)) => commands::lease::keep_alive(ctx, &a),
            None => show_usage(ctx, path),
        },
        Some(Command::Watch(a)) => commands::watch::run(ctx, &a),
        Some(Command::MakeMirror(a)) => commands::make_mirror::run(ctx, &a),
        Some(Command::Lock(a)) => commands::lock::run(ctx, &a),
        Some(Command::Elect(a)) => commands::elect::run(ctx, &a),
        Some(Command::Recover(a)) => commands::recover::recover(ctx, &a),
        Some(Command::Settings(a)) => commands::settings::run(ctx, &a),
        Some(Command::Defrag(a)) => commands::maintenance::defrag(ctx, &a.data_dir),
        Some(Command::MoveLeader(a)) => commands::maintenance::move_leader(ctx, &a.args),
        Some(Command::Snapshot(sn)) => match sn.command {
            Some(SnapshotCommand::Save(a)) => commands::snapshot::save(ctx, &a.args),
            Some(SnapshotCommand::Status(a)) => commands::snapshot::status(ctx, &a.args),
            Some(SnapshotCommand::Restore(a)) => commands::snapshot::restore(ctx, &a),
            None => show_usage(ctx, path),
        },
        Some(Command::Endpoint(e)) => match e.command {
            Some(EndpointCommand::Health(_)) => commands::endpoint::health(ctx),
            Some(EndpointCommand::Status(_)) => commands::endpoint::status(ctx),
            Some(EndpointCommand::Hashkv(a)) => commands::endpoint::hashkv(ctx, &a),
            None => show_usage(ctx, path),
        },
        Some(Command::Auth(_) | Command::Check(_) | Command::Role(_) | Command::User(_)) => {
            Err(CtlError::error(format!(
                "etcdctl's `{}` command is not implemented by cairnctl yet",
                path.first().map_or("", String::as_str)
            )))
        }
        Some(Command::Help(h)) => {
            let topic: Vec<String> = h
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let (found, unknown) = usage::find_path(root, &h.args);
            if found.is_empty() && unknown.is_some() {
                let _ = writeln!(ctx.err, "Unknown help topic {}", backquoted_list(&topic));
                return show_usage(ctx, &[]);
            }
            show_usage(ctx, &found)
        }
    }
}

/// Go's `%#q` of a `[]string`, as cobra prints an unknown help topic.
fn backquoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|t| format!("`{t}`")).collect();
    format!("[{}]", quoted.join(" "))
}
