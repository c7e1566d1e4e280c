//! Runs a user's command (`watch ... -- cmd`, `lock name cmd`) with the
//! process's standard output and error, and describes its failure the way
//! Go's `os/exec` does (`exit status 3`, `fork/exec /x: no such file or
//! directory`, `exec: "x": executable file not found in $PATH`).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

/// Why the command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecError {
    /// Go's `err.Error()`.
    pub message: String,
    /// The command's exit code, when it ran and exited with one.
    pub exit_code: Option<i32>,
}

/// Go's names of the signals (`syscall.Signal.String()`) a command may die of.
fn signal_name(signal: i32) -> String {
    match signal {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        3 => "quit".into(),
        4 => "illegal instruction".into(),
        5 => "trace/breakpoint trap".into(),
        6 => "aborted".into(),
        7 => "bus error".into(),
        8 => "floating point exception".into(),
        9 => "killed".into(),
        10 => "user defined signal 1".into(),
        11 => "segmentation fault".into(),
        12 => "user defined signal 2".into(),
        13 => "broken pipe".into(),
        14 => "alarm clock".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

/// Runs `args[0]` with `args[1..]`, adding `env` to the environment (a
/// variable already set is kept when `keep_existing`, as Go keeps the last
/// of duplicate entries), stdin empty, stdout and stderr shared.
pub async fn run(
    args: &[Vec<u8>],
    env: &[(String, String)],
    keep_existing: bool,
) -> Result<(), ExecError> {
    let Some(name) = args.first() else {
        return Ok(());
    };
    let name_text = String::from_utf8_lossy(name).into_owned();
    let mut cmd = tokio::process::Command::new(OsString::from_vec(name.clone()));
    cmd.args(args[1..].iter().map(|a| OsString::from_vec(a.clone())))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        if keep_existing && std::env::var_os(k).is_some() {
            continue;
        }
        cmd.env(k, v);
    }
    let status = match cmd.status().await {
        Ok(status) => status,
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            let message = if !name_text.contains('/') && e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "exec: {}: executable file not found in $PATH",
                    crate::golang::quote(name)
                )
            } else {
                format!("fork/exec {name_text}: {reason}")
            };
            return Err(ExecError {
                message,
                exit_code: None,
            });
        }
    };
    if status.success() {
        return Ok(());
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => Err(ExecError {
            message: format!("exit status {code}"),
            exit_code: Some(code),
        }),
        (None, Some(signal)) => Err(ExecError {
            message: format!("signal: {}", signal_name(signal)),
            exit_code: Some(-1),
        }),
        _ => Err(ExecError {
            message: "exit status -1".to_string(),
            exit_code: Some(-1),
        }),
    }
}

/// Go's `%q` of a `[]string`: `["echo" "hi"]`.
pub fn quoted_list(args: &[Vec<u8>]) -> String {
    let items: Vec<String> = args.iter().map(|a| crate::golang::quote(a)).collect();
    format!("[{}]", items.join(" "))
}
