//! Recovery actions that need the member to start over: the Recovery service
//! writes what to do into `<data-dir>/cairn-recover.json` and asks the server to
//! stop; `main` then re-executes the binary with the same arguments (same PID,
//! same flags), and start-up carries the action out before Raft starts:
//! - `reset`: this member's data becomes a one-member cluster (revision bumped);
//! - `rejoin`: the `member` dir is moved aside and the member joins `join_url`.
//!
//! The marker is written durably before the member stops, so an interrupted
//! action is finished by the next start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// What the next start must do first.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum PendingAction {
    Reset { bump_revision: i64 },
    Rejoin { join_url: String, moved_to: String },
}

/// Lets a service ask the server to stop and start over.
#[derive(Clone, Default)]
pub struct RestartSignal(Arc<Notify>);

impl RestartSignal {
    pub fn request(&self) {
        self.0.notify_one();
    }
    pub async fn requested(&self) {
        self.0.notified().await
    }
}

fn marker(data_dir: &Path) -> PathBuf {
    data_dir.join("cairn-recover.json")
}

/// Records the action durably.
pub fn write_pending(data_dir: &Path, action: &PendingAction) -> Result<()> {
    use std::io::Write;
    let path = marker(data_dir);
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(action)?;
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(())
}

/// The recorded action, if any.
pub fn read_pending(data_dir: &Path) -> Result<Option<PendingAction>> {
    let path = marker(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is damaged", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Forgets the action once it is done.
pub fn clear_pending(data_dir: &Path) -> Result<()> {
    let path = marker(data_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Replaces this process with a fresh run of the same binary and arguments.
pub fn reexec() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return anyhow::anyhow!("cannot find the cairn binary to restart: {e}"),
    };
    // A binary replaced on disk while it runs (an upgrade) shows as
    // "<path> (deleted)": start what is at <path> now.
    let exe = exe
        .to_str()
        .and_then(|s| s.strip_suffix(" (deleted)"))
        .map(PathBuf::from)
        .unwrap_or(exe);
    tracing::info!("restarting to carry out a recovery action");
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::anyhow!("cannot restart: {err}")
}
