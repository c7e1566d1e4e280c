//! The command tree: every command, flag and default of etcdctl 3.5.1 that
//! cairnctl implements, declared with clap. Besides parsing, these
//! declarations feed the etcdctl-style help text (`usage.rs`):
//! `about` is cobra's Short, `long_about` its Long, `override_usage` its Use,
//! and each flag's `value_name` is its pflag type (`string`, `bool`,
//! `duration`, `int64`, `stringSlice`), which decides how its default prints.
//! Flag values are parsed with Go's rules so that bad values produce
//! etcdctl's messages.

use std::ffi::OsString;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::golang::{self, GoDuration};

fn go_bool(s: &str) -> Result<bool, String> {
    golang::parse_bool(s)
}

fn go_int64(s: &str) -> Result<i64, String> {
    golang::parse_int(s, 0)
}

fn go_duration(s: &str) -> Result<GoDuration, String> {
    golang::parse_duration(s)
}

/// `etcdctl` itself.
#[derive(Parser, Debug)]
#[command(
    name = "etcdctl",
    about = "A simple command line client for etcd3.",
    override_usage = "etcdctl",
    disable_help_flag = true,
    disable_help_subcommand = true,
    disable_version_flag = true,
    infer_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command inherits (cobra's persistent flags of the root).
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    #[arg(long, global = true, value_name = "stringSlice", default_value = "127.0.0.1:2379",
          action = ArgAction::Append, allow_hyphen_values = true, help = "gRPC endpoints")]
    pub endpoints: Vec<String>,

    #[arg(long, global = true, value_name = "bool", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          action = ArgAction::Set, value_parser = go_bool,
          help = "enable client-side debug logging")]
    pub debug: bool,

    #[arg(
        short = 'w',
        long,
        global = true,
        value_name = "string",
        default_value = "simple",
        allow_hyphen_values = true,
        help = "set the output format (fields, json, protobuf, simple, table)"
    )]
    pub write_out: String,

    #[arg(long, global = true, value_name = "bool", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          action = ArgAction::Set, value_parser = go_bool,
          help = "print byte strings as hex encoded strings")]
    pub hex: bool,

    #[arg(long, global = true, value_name = "duration", default_value = "2s",
          allow_hyphen_values = true, value_parser = go_duration,
          help = "dial timeout for client connections")]
    pub dial_timeout: GoDuration,

    #[arg(long, global = true, value_name = "duration", default_value = "5s",
          allow_hyphen_values = true, value_parser = go_duration,
          help = "timeout for short running command (excluding dial timeout)")]
    pub command_timeout: GoDuration,

    #[arg(long, global = true, value_name = "duration", default_value = "2s",
          allow_hyphen_values = true, value_parser = go_duration,
          help = "keepalive time for client connections")]
    pub keepalive_time: GoDuration,

    #[arg(long, global = true, value_name = "duration", default_value = "6s",
          allow_hyphen_values = true, value_parser = go_duration,
          help = "keepalive timeout for client connections")]
    pub keepalive_timeout: GoDuration,

    #[arg(long, global = true, value_name = "bool", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          action = ArgAction::Set, value_parser = go_bool,
          help = "disable transport security for client connections")]
    pub insecure_transport: bool,

    #[arg(long, global = true, value_name = "bool", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          action = ArgAction::Set, value_parser = go_bool,
          help = "accept insecure SRV records describing cluster endpoints")]
    pub insecure_discovery: bool,

    #[arg(long, global = true, value_name = "bool", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          action = ArgAction::Set, value_parser = go_bool,
          help = "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)")]
    pub insecure_skip_tls_verify: bool,

    #[arg(
        long,
        global = true,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "identify secure client using this TLS certificate file"
    )]
    pub cert: String,

    #[arg(
        long,
        global = true,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "identify secure client using this TLS key file"
    )]
    pub key: String,

    #[arg(
        long,
        global = true,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "verify certificates of TLS-enabled secure servers using this CA bundle"
    )]
    pub cacert: String,

    #[arg(
        long,
        global = true,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "username[:password] for authentication (prompt if password is not supplied)"
    )]
    pub user: String,

    #[arg(
        long,
        global = true,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "password for authentication (if this option is used, --user option shouldn't include password)"
    )]
    pub password: String,

    #[arg(
        short = 'd',
        long,
        global = true,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "domain name to query for SRV records describing cluster endpoints"
    )]
    pub discovery_srv: String,

    #[arg(
        long,
        global = true,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "service name to query when using DNS discovery"
    )]
    pub discovery_srv_name: String,

    /// cobra's per-command `-h, --help`; rendered by `usage.rs` per command.
    #[arg(short = 'h', long, global = true, value_name = "bool", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          action = ArgAction::Set, value_parser = go_bool, hide = true)]
    pub help: bool,
}

/// The top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    // Not an etcdctl command (etcd's `tools/benchmark`); hidden so that the
    // help text stays identical to etcdctl's.
    #[command(
        hide = true,
        about = "Benchmarks the cluster (like etcd's tools/benchmark)",
        override_usage = "bench [options] <workload>"
    )]
    Bench(crate::commands::bench::args::BenchArgs),

    #[command(
        about = "Alarm related commands",
        override_usage = "alarm <subcommand>"
    )]
    Alarm(AlarmArgs),

    #[command(
        about = "Defragments the storage of the etcd members with given endpoints",
        override_usage = "defrag"
    )]
    Defrag(DefragArgs),

    #[command(
        about = "Removes the specified key or range of keys [key, range_end)",
        override_usage = "del [options] <key> [range_end]"
    )]
    Del(DelArgs),

    #[command(
        about = "Compacts the event history in etcd",
        override_usage = "compaction [options] <revision>"
    )]
    Compaction(CompactionArgs),

    #[command(
        about = "Endpoint related commands",
        override_usage = "endpoint <subcommand>"
    )]
    Endpoint(EndpointArgs),

    #[command(
        about = "Gets the key or a range of keys",
        override_usage = "get [options] <key> [range_end]"
    )]
    Get(GetArgs),

    #[command(about = "Help about any command", override_usage = "help [command]")]
    Help(HelpArgs),

    #[command(
        about = "Observes and participates in leader election",
        override_usage = "elect <election-name> [proposal]"
    )]
    Elect(ElectArgs),

    #[command(
        about = "Lease related commands",
        override_usage = "lease <subcommand>"
    )]
    Lease(LeaseArgs),

    #[command(
        about = "Acquires a named lock",
        override_usage = "lock <lockname> [exec-command arg1 arg2 ...]"
    )]
    Lock(LockArgs),

    #[command(
        about = "Membership related commands",
        override_usage = "member <subcommand>"
    )]
    Member(MemberArgs),

    #[command(
        name = "move-leader",
        about = "Transfers leadership to another etcd cluster member.",
        override_usage = "move-leader <transferee-member-id>"
    )]
    MoveLeader(PlainArgs),

    #[command(
        about = "Puts the given key into the store",
        override_usage = "put [options] <key> <value> (<value> can also be given from stdin)",
        long_about = PUT_LONG
    )]
    Put(PutArgs),

    // Cairn's own: one-command recovery from quorum loss (offline form). Hidden
    // so that the help text stays identical to etcdctl's.
    #[command(
        hide = true,
        about = "Recovers a cluster that lost quorum from a surviving member's data dir (Cairn only)",
        override_usage = "recover [--data-dir <dir>] [--bump-revision N] [--yes] [--force]"
    )]
    Recover(RecoverArgs),

    // Cairn's own: cluster-wide settings. Hidden so that the help text stays
    // identical to etcdctl's.
    #[command(
        hide = true,
        about = "Shows or changes Cairn's cluster settings (Cairn only)",
        override_usage = "settings [--manual-learner-promotion[=true|false]]"
    )]
    Settings(SettingsArgs),

    #[command(
        name = "make-mirror",
        about = "Makes a mirror at the destination etcd cluster",
        override_usage = "make-mirror [options] <destination>"
    )]
    MakeMirror(MakeMirrorArgs),

    #[command(
        about = "Manages etcd node snapshots",
        override_usage = "snapshot <subcommand>"
    )]
    Snapshot(SnapshotArgs),

    #[command(
        about = "Txn processes all the requests in one transaction",
        override_usage = "txn [options]"
    )]
    Txn(TxnArgs),

    #[command(about = "Prints the version of etcdctl", override_usage = "version")]
    Version(VersionArgs),

    #[command(
        about = "Watches events stream on keys or prefixes",
        override_usage = "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]"
    )]
    Watch(WatchArgs),

    // etcdctl commands cairnctl does not offer yet. Declared (hidden) so that
    // command-name prefixes and suggestions resolve as they do in etcdctl.
    #[command(hide = true)]
    Auth(NotImplemented),
    #[command(hide = true)]
    Check(NotImplemented),
    #[command(hide = true)]
    Role(NotImplemented),
    #[command(hide = true)]
    User(NotImplemented),
}

/// Arguments of a command cairnctl does not implement yet: anything.
#[derive(Args, Debug)]
pub struct NotImplemented {
    #[arg(value_name = "args", trailing_var_arg = true, allow_hyphen_values = true,
          value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

const PUT_LONG: &str = "
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
";

/// `get`'s flags (shared with txn's `get` operations).
#[derive(Args, Debug, Clone, Default)]
pub struct GetArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "l",
        allow_hyphen_values = true,
        help = "Linearizable(l) or Serializable(s)"
    )]
    pub consistency: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Order of results; ASCEND or DESCEND (ASCEND by default)"
    )]
    pub order: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION"
    )]
    pub sort_by: String,

    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, help = "Maximum number of results")]
    pub limit: i64,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Get keys with matching prefix")]
    pub prefix: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool,
          help = "Get keys that are greater than or equal to the given key using byte compare")]
    pub from_key: bool,

    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, help = "Specify the kv revision")]
    pub rev: i64,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Get only the keys")]
    pub keys_only: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Get only the count")]
    pub count_only: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool,
          help = "Only write values when using the \"simple\" output format")]
    pub print_value_only: bool,

    // Range filters of the gRPC API that etcdctl 3.5 does not expose; kept
    // out of the help text so it stays identical to etcdctl's.
    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, hide = true)]
    pub min_mod_revision: i64,

    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, hide = true)]
    pub max_mod_revision: i64,

    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, hide = true)]
    pub min_create_revision: i64,

    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, hide = true)]
    pub max_create_revision: i64,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

/// `put`'s flags (shared with txn's `put` operations).
#[derive(Args, Debug, Clone, Default)]
pub struct PutArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "0",
        allow_hyphen_values = true,
        help = "lease ID (in hexadecimal) to attach to the key"
    )]
    pub lease: String,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "return the previous key-value pair before modification")]
    pub prev_kv: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "updates the key using its current value")]
    pub ignore_value: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "updates the key using its current lease")]
    pub ignore_lease: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

/// `del`'s flags (shared with txn's `del` operations).
#[derive(Args, Debug, Clone, Default)]
pub struct DelArgs {
    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "delete keys with matching prefix")]
    pub prefix: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "return deleted key-value pairs")]
    pub prev_kv: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool,
          help = "delete keys that are greater than or equal to the given key using byte compare")]
    pub from_key: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct TxnArgs {
    #[arg(short = 'i', long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Input transaction in interactive mode")]
    pub interactive: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct CompactionArgs {
    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool,
          help = "'true' to wait for compaction to physically remove all old revisions")]
    pub physical: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct MemberArgs {
    #[command(subcommand)]
    pub command: Option<MemberCommand>,
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    #[command(
        about = "Adds a member into the cluster",
        override_usage = "add <memberName> [options]"
    )]
    Add(MemberAddArgs),

    #[command(
        about = "Promotes a non-voting member in the cluster",
        override_usage = "promote <memberID>",
        long_about = "Promotes a non-voting learner member to a voting one in the cluster.\n"
    )]
    Promote(PlainArgs),

    #[command(
        about = "Removes a member from the cluster",
        override_usage = "remove <memberID>"
    )]
    Remove(PlainArgs),

    #[command(
        about = "Updates a member in the cluster",
        override_usage = "update <memberID> [options]"
    )]
    Update(MemberUpdateArgs),

    #[command(
        about = "Lists all members in the cluster",
        override_usage = "list",
        long_about = "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
"
    )]
    List(PlainArgs),
}

#[derive(Args, Debug)]
pub struct SettingsArgs {
    #[arg(long, value_name = "bool", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool,
          help = "Members started with `cairn --join` stay learners until `member promote` (true), or are promoted once caught up (false, the default)")]
    pub manual_learner_promotion: Option<bool>,
}

#[derive(Args, Debug)]
pub struct RecoverArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "",
        help = "Data dir of the surviving member to recover from (its cairn must be stopped), or to create with --from-snapshot"
    )]
    pub data_dir: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        help = "Rebuild from this etcd snapshot file when no member has usable data: creates --data-dir as a one-member cluster"
    )]
    pub from_snapshot: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "default",
        help = "With --from-snapshot: the member's name (cairn's --name)"
    )]
    pub name: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "http://localhost:2380",
        help = "With --from-snapshot: the member's peer URLs (cairn's --initial-advertise-peer-urls)"
    )]
    pub initial_advertise_peer_urls: String,

    #[arg(long, value_name = "int", default_value = "1000000000", allow_hyphen_values = true,
          value_parser = go_int64,
          help = "How far to move the revision forward (and mark it compacted); 0 keeps it")]
    pub bump_revision: i64,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Carry out the plan (without it, only print the plan)")]
    pub yes: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Plan a recovery even though the cluster has quorum")]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct AlarmArgs {
    #[command(subcommand)]
    pub command: Option<AlarmCommand>,
}

#[derive(Subcommand, Debug)]
pub enum AlarmCommand {
    #[command(about = "Disarms all alarms", override_usage = "disarm")]
    Disarm(PlainArgs),

    #[command(about = "Lists all alarms", override_usage = "list")]
    List(PlainArgs),
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub command: Option<SnapshotCommand>,
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    #[command(
        about = "Restores an etcd member snapshot to an etcd directory",
        override_usage = "restore <filename> [options]"
    )]
    Restore(SnapshotRestoreArgs),

    #[command(
        about = "Stores an etcd node backend snapshot to a given file",
        override_usage = "save <filename>"
    )]
    Save(PlainArgs),

    #[command(
        about = "[deprecated] Gets backend snapshot status of a given file",
        override_usage = "status <filename>"
    )]
    Status(PlainArgs),
}

#[derive(Args, Debug)]
pub struct SnapshotRestoreArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "",
        help = "Path to the data directory"
    )]
    pub data_dir: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "default=http://localhost:2380",
        help = "Initial cluster configuration for restore bootstrap"
    )]
    pub initial_cluster: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "etcd-cluster",
        help = "Initial cluster token for the etcd cluster during restore bootstrap"
    )]
    pub initial_cluster_token: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "http://localhost:2380",
        help = "List of this member's peer URLs to advertise to the rest of the cluster"
    )]
    pub initial_advertise_peer_urls: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "default",
        help = "Human-readable name for this member"
    )]
    pub name: String,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Ignore snapshot integrity hash value (required if copied from data directory)")]
    pub skip_hash_check: bool,

    #[arg(
        long,
        value_name = "uint",
        default_value = "0",
        help = "How much to increase the latest revision after restore"
    )]
    pub bump_revision: u64,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Mark the latest revision after restore as the point of scheduled compaction (required if --bump-revision > 0, disallowed otherwise)")]
    pub mark_compacted: bool,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        help = "Path to the WAL directory (use --data-dir if none given)"
    )]
    pub wal_dir: String,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct MemberAddArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "comma separated peer URLs for the new member."
    )]
    pub peer_urls: String,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "indicates if the new member is raft learner")]
    pub learner: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct MemberUpdateArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "comma separated peer URLs for the updated member."
    )]
    pub peer_urls: String,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct EndpointArgs {
    #[arg(long, global = true, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "use all endpoints from the cluster member list")]
    pub cluster: bool,

    #[command(subcommand)]
    pub command: Option<EndpointCommand>,
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    #[command(
        about = "Prints the KV history hash for each endpoint in --endpoints",
        override_usage = "hashkv"
    )]
    Hashkv(HashkvArgs),

    #[command(
        about = "Checks the healthiness of endpoints specified in `--endpoints` flag",
        override_usage = "health"
    )]
    Health(PlainArgs),

    #[command(
        about = "Prints out the status of endpoints specified in `--endpoints` flag",
        override_usage = "status",
        long_about = "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
"
    )]
    Status(PlainArgs),
}

#[derive(Args, Debug)]
pub struct HashkvArgs {
    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, help = "maximum revision to hash (default: all revisions)")]
    pub rev: i64,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct LeaseArgs {
    #[command(subcommand)]
    pub command: Option<LeaseCommand>,
}

#[derive(Subcommand, Debug)]
pub enum LeaseCommand {
    #[command(about = "Creates leases", override_usage = "grant <ttl>")]
    Grant(PlainArgs),

    #[command(
        name = "keep-alive",
        about = "Keeps leases alive (renew)",
        override_usage = "keep-alive [options] <leaseID>"
    )]
    KeepAlive(LeaseKeepAliveArgs),

    #[command(about = "List all active leases", override_usage = "list")]
    List(PlainArgs),

    #[command(about = "Revokes leases", override_usage = "revoke <leaseID>")]
    Revoke(PlainArgs),

    #[command(
        about = "Get lease information",
        override_usage = "timetolive <leaseID> [options]"
    )]
    Timetolive(LeaseTimeToLiveArgs),
}

#[derive(Args, Debug)]
pub struct LeaseTimeToLiveArgs {
    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Get keys attached to this lease")]
    pub keys: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct LeaseKeepAliveArgs {
    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool,
          help = "Resets the keep-alive time to its original value and cobrautl.Exits immediately")]
    pub once: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

/// `make-mirror`'s flags.
#[derive(Args, Debug, Clone, Default)]
pub struct MakeMirrorArgs {
    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Key-value prefix to mirror"
    )]
    pub prefix: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "destination prefix to mirror a prefix to a different prefix in the destination cluster"
    )]
    pub dest_prefix: String,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "mirror key-values to the root of the destination cluster")]
    pub no_dest_prefix: bool,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Identify secure client using this TLS certificate file for the destination cluster"
    )]
    pub dest_cert: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Identify secure client using this TLS key file"
    )]
    pub dest_key: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Verify certificates of TLS enabled secure servers using this CA bundle"
    )]
    pub dest_cacert: String,

    #[arg(long, value_name = "bool", default_value = "true", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Disable transport security for client connections")]
    pub dest_insecure_transport: bool,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Destination username[:password] for authentication (prompt if password is not supplied)"
    )]
    pub dest_user: String,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Destination password for authentication (if this option is used, --user option shouldn't include password)"
    )]
    pub dest_password: String,

    #[arg(value_name = "destination", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

/// `watch`'s flags. In interactive mode each `watch` line brings its own.
#[derive(Args, Debug, Clone, Default)]
pub struct WatchArgs {
    #[arg(short = 'i', long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Interactive mode")]
    pub interactive: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "Watch on a prefix if prefix is set")]
    pub prefix: bool,

    #[arg(long, value_name = "int64", default_value = "0", allow_hyphen_values = true,
          value_parser = go_int64, help = "Revision to start watching")]
    pub rev: i64,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "get the previous key-value pair before the event happens")]
    pub prev_kv: bool,

    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "get periodic watch progress notification from server")]
    pub progress_notify: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct LockArgs {
    #[arg(long, value_name = "int", default_value = "10", allow_hyphen_values = true,
          value_parser = go_int64, help = "timeout for session")]
    pub ttl: i64,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct ElectArgs {
    #[arg(short = 'l', long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "observation mode")]
    pub listen: bool,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

/// `defrag`'s flags.
#[derive(Args, Debug)]
pub struct DefragArgs {
    #[arg(long, value_name = "bool", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set,
          value_parser = go_bool, help = "use all endpoints from the cluster member list")]
    pub cluster: bool,

    #[arg(
        long,
        value_name = "string",
        default_value = "",
        allow_hyphen_values = true,
        help = "Optional. If present, defragments a data directory not in use by etcd."
    )]
    pub data_dir: String,

    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

/// A command without flags of its own; extra arguments are ignored, as cobra does.
#[derive(Args, Debug)]
pub struct PlainArgs {
    #[arg(value_name = "args", value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

pub type VersionArgs = PlainArgs;
pub type HelpArgs = PlainArgs;
