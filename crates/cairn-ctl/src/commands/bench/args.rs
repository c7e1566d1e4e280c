//! The flags of `cairnctl bench` and its workloads, named and defaulted as
//! in etcd's `tools/benchmark` (`--clients`, `--conns`, `--total`, `--rate`
//! on the root; per-workload key/value shapes on each subcommand).

use std::ffi::OsString;

use clap::{ArgAction, Args, Subcommand};

use crate::golang;

fn go_bool(s: &str) -> Result<bool, String> {
    golang::parse_bool(s)
}

fn go_int(s: &str) -> Result<i64, String> {
    golang::parse_int(s, 0)
}

/// `bench`: the flags shared by every workload, then the workload.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, global = true, value_name = "uint", default_value = "1",
          value_parser = go_int, help = "Total number of gRPC clients")]
    pub clients: i64,

    #[arg(long, global = true, value_name = "uint", default_value = "1",
          value_parser = go_int, help = "Total number of gRPC connections")]
    pub conns: i64,

    #[arg(long, global = true, value_name = "int", default_value = "10000",
          value_parser = go_int, help = "Total number of requests")]
    pub total: i64,

    #[arg(long, global = true, value_name = "int", default_value = "0",
          value_parser = go_int, help = "Maximum requests per second (0 is no limit)")]
    pub rate: i64,

    #[command(subcommand)]
    pub command: Option<BenchCommand>,
}

/// The workloads.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    #[command(
        about = "Benchmark put",
        override_usage = "put [options]",
        long_about = "Benchmark put: writes values of --val-size bytes to keys of --key-size bytes\nchosen (randomly, or in order with --sequential-keys) among --key-space-size keys.\n"
    )]
    Put(PutBenchArgs),

    #[command(
        about = "Benchmark range",
        override_usage = "range <key> [end-range] [options]"
    )]
    Range(RangeBenchArgs),

    #[command(
        name = "txn-put",
        about = "Benchmark txn-put",
        override_usage = "txn-put [options]"
    )]
    TxnPut(TxnPutBenchArgs),

    #[command(
        about = "Benchmark watch event delivery latency",
        override_usage = "watch [options]",
        long_about = "Benchmark watch: --watchers watchers of one key over --streams Watch streams;\none writer puts the key --total times at --put-rate puts/s. Each (put, watcher)\npair is one result, timed from the put's acknowledgement to the event's arrival.\n"
    )]
    Watch(WatchBenchArgs),

    #[command(
        name = "lease-keepalive",
        about = "Benchmark lease keepalive",
        override_usage = "lease-keepalive [options]",
        long_about = "Benchmark lease-keepalive: each client grants a lease, then renews it --total\ntimes overall over a LeaseKeepAlive stream, one request at a time, timing each\nrenewal from request to answer.\n"
    )]
    LeaseKeepalive(LeaseKeepaliveBenchArgs),
}

#[derive(Args, Debug)]
pub struct PutBenchArgs {
    #[arg(long, value_name = "int", default_value = "8", value_parser = go_int,
          help = "Key size of put request")]
    pub key_size: i64,

    #[arg(long, value_name = "int", default_value = "8", value_parser = go_int,
          help = "Value size of put request")]
    pub val_size: i64,

    #[arg(long, value_name = "int", default_value = "1", value_parser = go_int,
          help = "Maximum possible keys")]
    pub key_space_size: i64,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Use sequential keys")]
    pub sequential_keys: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct RangeBenchArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "l",
        allow_hyphen_values = true,
        help = "Linearizable(l) or Serializable(s)"
    )]
    pub consistency: String,

    #[arg(long, value_name = "int64", default_value = "0", value_parser = go_int,
          help = "Maximum number of results")]
    pub limit: i64,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct TxnPutBenchArgs {
    #[arg(long, value_name = "int", default_value = "8", value_parser = go_int,
          help = "Key size of txn put")]
    pub key_size: i64,

    #[arg(long, value_name = "int", default_value = "8", value_parser = go_int,
          help = "Value size of txn put")]
    pub val_size: i64,

    #[arg(long, value_name = "int", default_value = "1", value_parser = go_int,
          help = "Maximum possible keys")]
    pub key_space_size: i64,

    #[arg(long, value_name = "int", default_value = "1", value_parser = go_int,
          help = "Number of puts per txn")]
    pub txn_ops: i64,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct WatchBenchArgs {
    #[arg(long, value_name = "int", default_value = "100", value_parser = go_int,
          help = "Total number of watchers (all watching one key)")]
    pub watchers: i64,

    #[arg(long, value_name = "int", default_value = "10", value_parser = go_int,
          help = "Total number of watch streams")]
    pub streams: i64,

    #[arg(long, value_name = "int", default_value = "100", value_parser = go_int,
          help = "Number of puts per second (0 is no limit)")]
    pub put_rate: i64,

    #[arg(long, value_name = "int", default_value = "32", value_parser = go_int,
          help = "Value size of put request")]
    pub val_size: i64,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct LeaseKeepaliveBenchArgs {
    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}
