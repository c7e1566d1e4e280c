//! `cairnctl bench`: a load generator like etcd's `tools/benchmark`. It
//! speaks only the etcd v3 gRPC API, so the same run can be pointed at Cairn
//! or at etcd. This module checks the flags and ties the parts together:
//! `args` (flags), `workload` (requests), `conn` (connections), `runner`
//! (concurrency and pacing), `watch` (the watch workload), `lease` (the
//! lease-keepalive workload), `progress` (the bar) and `report` (output).

pub mod args;
pub mod conn;
pub mod lease;
pub mod progress;
pub mod report;
pub mod runner;
pub mod watch;
pub mod workload;

use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use cairn_proto::etcdserverpb::RangeRequest;

use self::args::{
    BenchArgs, BenchCommand, PutBenchArgs, RangeBenchArgs, TxnPutBenchArgs, WatchBenchArgs,
};
use self::report::Report;
use self::runner::Plan;
use self::workload::{KeySpace, Rng, Workload};
use crate::commands::Ctx;
use crate::error::CtlError;

/// What to run.
enum Job {
    /// Independent requests from `--clients` clients.
    Requests(Arc<Workload>),
    Watch(watch::WatchPlan),
    /// Lease renewals from `--clients` clients.
    LeaseKeepalive,
}

/// How the report is written (`-w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Simple,
    Json,
}

/// Runs the workload named by `args.command`.
pub fn run(ctx: &mut Ctx<'_>, args: &BenchArgs, command: &BenchCommand) -> Result<(), CtlError> {
    let output = match ctx.globals.args.write_out.as_str() {
        "simple" => Output::Simple,
        "json" => Output::Json,
        other => {
            return Err(CtlError::bad_args(format!(
                "bench supports -w simple or -w json, not {other:?}"
            )))
        }
    };
    let plan = plan(args)?;
    let job = match command {
        BenchCommand::Watch(a) => Job::Watch(watch_plan(a, plan.total)?),
        BenchCommand::LeaseKeepalive(a) => {
            if !a.args.is_empty() {
                return Err(CtlError::bad_args(
                    "bench lease-keepalive takes no arguments",
                ));
            }
            Job::LeaseKeepalive
        }
        other => Job::Requests(Arc::new(workload(other)?)),
    };
    let (settings, _) = ctx.globals.client_config(ctx.err)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::error(format!("cannot start the async runtime: {e}")))?;
    let conns = usize_flag("conns", args.conns)?;
    let channels = runtime.block_on(conn::connect_all(&settings, conns))?;
    let done = Arc::new(AtomicU64::new(0));
    let bar = std::io::stderr().is_terminal();
    let err = &mut *ctx.err;
    let outcome = match job {
        Job::Requests(workload) => {
            let work = runner::run(channels, workload, plan, done.clone());
            runtime.block_on(progress::drive(err, bar, &done, plan.total, work))
        }
        Job::Watch(watch) => {
            let events = watch.puts.saturating_mul(watch.watchers as u64);
            let work = watch::run(channels, watch, done.clone());
            runtime.block_on(progress::drive(err, bar, &done, events, work))?
        }
        Job::LeaseKeepalive => {
            let work = lease::run(channels, plan, done.clone());
            runtime.block_on(progress::drive(err, bar, &done, plan.total, work))
        }
    };
    drop(runtime);

    let report = Report::new(outcome);
    let text = match output {
        Output::Simple => report.simple(),
        Output::Json => format!("{}\n", report.json()),
    };
    ctx.out
        .write_all(text.as_bytes())
        .map_err(|e| CtlError::error(format!("cannot write the report: {e}")))
}

fn usize_flag(name: &str, value: i64) -> Result<usize, CtlError> {
    match usize::try_from(value) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(CtlError::bad_args(format!(
            "--{name} must be positive, got {value}"
        ))),
    }
}

fn u64_flag(name: &str, value: i64) -> Result<u64, CtlError> {
    u64::try_from(value)
        .map_err(|_| CtlError::bad_args(format!("--{name} must not be negative, got {value}")))
}

fn plan(args: &BenchArgs) -> Result<Plan, CtlError> {
    Ok(Plan {
        total: u64_flag("total", args.total)?,
        clients: usize_flag("clients", args.clients)?,
        rate: u64_flag("rate", args.rate)?,
    })
}

fn workload(command: &BenchCommand) -> Result<Workload, CtlError> {
    match command {
        BenchCommand::Put(a) => put_workload(a),
        BenchCommand::Range(a) => range_workload(a),
        BenchCommand::TxnPut(a) => txn_put_workload(a),
        BenchCommand::Watch(_) | BenchCommand::LeaseKeepalive(_) => {
            Err(CtlError::error("not a key-value request workload"))
        }
    }
}

fn key_space(key_size: i64, size: i64, sequential: bool) -> Result<KeySpace, CtlError> {
    let keys = KeySpace {
        key_size: usize_flag("key-size", key_size)?,
        size: u64_flag("key-space-size", size)?,
        sequential,
    };
    keys.validate().map_err(CtlError::bad_args)?;
    Ok(keys)
}

fn value(size: i64) -> Result<Vec<u8>, CtlError> {
    let size = usize::try_from(size)
        .map_err(|_| CtlError::bad_args(format!("--val-size must not be negative, got {size}")))?;
    Ok(Rng::from_clock(u64::MAX).bytes(size))
}

fn put_workload(a: &PutBenchArgs) -> Result<Workload, CtlError> {
    Ok(Workload::Put {
        keys: key_space(a.key_size, a.key_space_size, a.sequential_keys)?,
        value: value(a.val_size)?,
    })
}

fn range_workload(a: &RangeBenchArgs) -> Result<Workload, CtlError> {
    if a.args.is_empty() || a.args.len() > 2 {
        return Err(CtlError::bad_args(
            "bench range needs a key and an optional range end",
        ));
    }
    let serializable = match a.consistency.as_str() {
        "l" => false,
        "s" => true,
        other => {
            return Err(CtlError::bad_args(format!(
                "unknown consistency flag {other:?}"
            )))
        }
    };
    Ok(Workload::Range(RangeRequest {
        key: a.args[0].as_bytes().to_vec(),
        range_end: a.args.get(1).map_or(Vec::new(), |e| e.as_bytes().to_vec()),
        limit: a.limit,
        serializable,
        ..Default::default()
    }))
}

fn txn_put_workload(a: &TxnPutBenchArgs) -> Result<Workload, CtlError> {
    let keys = key_space(a.key_size, a.key_space_size, false)?;
    let ops_per_txn = u64_flag("txn-ops", a.txn_ops)?;
    if ops_per_txn == 0 || ops_per_txn > keys.size {
        return Err(CtlError::bad_args(format!(
            "--txn-ops must be between 1 and --key-space-size ({}), got {ops_per_txn}",
            keys.size
        )));
    }
    Ok(Workload::TxnPut {
        keys,
        value: value(a.val_size)?,
        ops_per_txn,
    })
}

fn watch_plan(a: &WatchBenchArgs, puts: u64) -> Result<watch::WatchPlan, CtlError> {
    Ok(watch::WatchPlan {
        puts,
        watchers: usize_flag("watchers", a.watchers)?,
        streams: usize_flag("streams", a.streams)?,
        put_rate: u64_flag("put-rate", a.put_rate)?,
        val_size: usize::try_from(a.val_size).map_err(|_| {
            CtlError::bad_args(format!(
                "--val-size must not be negative, got {}",
                a.val_size
            ))
        })?,
    })
}
