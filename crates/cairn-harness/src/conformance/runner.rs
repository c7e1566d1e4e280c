//! Runs a parsed conformance script with one CLI binary (`etcdctl` or
//! `cairnctl`) against a cluster, recording each line's stdout, stderr and
//! exit code exactly as produced.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::conformance::script::{ScriptLine, Target, LEASE_PLACEHOLDER};
use crate::error::{HarnessError, Result};

/// How long one CLI invocation may take before it is killed.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// What one invocation produced, unmodified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOutcome {
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Exit code; `None` when killed by a signal or by the deadline.
    pub code: Option<i32>,
}

/// Runs every line of `script` with `cli` against `cluster`. Also returns the
/// IDs of the leases the script granted, in order (hex, as etcdctl prints them).
pub fn run_script(
    cli: &Path,
    cluster: &Cluster,
    script: &[ScriptLine],
) -> Result<(Vec<RawOutcome>, Vec<String>)> {
    let mut leases: Vec<String> = Vec::new();
    let mut outcomes = Vec::new();
    for line in script {
        let mut line = line.clone();
        if let Some(last) = leases.last() {
            for arg in &mut line.args {
                *arg = arg.replace(LEASE_PLACEHOLDER, last);
            }
        }
        let outcome = run_line(cli, cluster, &line)?;
        if line
            .args
            .starts_with(&["lease".to_string(), "grant".to_string()])
        {
            leases.extend(granted_lease(&outcome.stdout));
        }
        outcomes.push(outcome);
    }
    Ok((outcomes, leases))
}

/// The lease ID a `lease grant` printed, as hex: from `lease ID granted with
/// TTL(..)`, or from the `"ID":N` of its JSON output.
fn granted_lease(stdout: &str) -> Option<String> {
    for l in stdout.lines() {
        if let Some((id, _)) = l
            .strip_prefix("lease ")
            .and_then(|rest| rest.split_once(" granted with TTL("))
        {
            return Some(id.to_string());
        }
        if let Some(rest) = l.split_once("\"ID\":").map(|(_, r)| r) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(id) = digits.parse::<i64>() {
                return Some(format!("{id:016x}"));
            }
        }
    }
    None
}

/// Runs one line.
pub fn run_line(cli: &Path, cluster: &Cluster, line: &ScriptLine) -> Result<RawOutcome> {
    let endpoints = match line.target {
        Target::All => cluster.client_endpoints(),
        Target::Member(i) if i < cluster.len() => cluster.endpoint(i),
        Target::Member(i) => {
            return Err(HarnessError::Other(format!(
                "script line {} targets member {i}, cluster has {}",
                line.line_no,
                cluster.len()
            )))
        }
    };
    let mut command = Command::new(cli);
    command
        .arg(format!("--endpoints={endpoints}"))
        .args(&line.args)
        .stdin(if line.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCDCTL_") {
            command.env_remove(&key);
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| HarnessError::io(format!("spawning {}", cli.display()), e))?;
    if let (Some(input), Some(mut pipe)) = (&line.stdin, child.stdin.take()) {
        // A CLI that exits without reading its input is not an error here.
        let _ = pipe.write_all(input.as_bytes());
    }
    // Read the pipes on threads so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let start = Instant::now();
    let mut terminated = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if line.run_for.is_some_and(|d| start.elapsed() >= d) && !terminated => {
                // SAFETY: kill(2) on our own child's pid, which has not been reaped.
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                }
                terminated = true;
            }
            Ok(None) if start.elapsed() < COMMAND_DEADLINE => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => {
                return Err(HarnessError::io(
                    format!("waiting for {}", cli.display()),
                    e,
                ))
            }
        }
    };
    let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let mut stderr = collect(stderr);
    if status.is_none() {
        stderr.push_str(&format!(
            "<cairn-harness: killed after {COMMAND_DEADLINE:?}>\n"
        ));
    }
    Ok(RawOutcome {
        stdout: collect(stdout),
        stderr,
        code: status.and_then(|s| s.code()),
    })
}

fn read_in_background<R: std::io::Read + Send + 'static>(
    mut pipe: R,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

#[cfg(test)]
mod tests {
    use super::granted_lease;

    #[test]
    fn lease_ids_are_read_from_text_and_json() {
        assert_eq!(
            granted_lease("lease 694d7a2f3c1fd20b granted with TTL(10s)\n").as_deref(),
            Some("694d7a2f3c1fd20b")
        );
        assert_eq!(
            granted_lease("{\"cluster_id\":1,\"ID\":255,\"TTL\":5,\"Error\":\"\"}").as_deref(),
            Some("00000000000000ff")
        );
        assert_eq!(granted_lease("Error: bad TTL"), None);
    }
}
