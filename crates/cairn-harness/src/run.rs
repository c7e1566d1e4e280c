//! Running the command-line tools from tests: a command that must succeed,
//! and what it printed.

use std::process::Command;

/// Runs `cmd`, which must exit successfully, and returns its stdout. This is
/// test support: any failure panics with the command, its stdout and stderr.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
