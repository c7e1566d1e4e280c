//! The on-disk layout of a member's data dir and the identity file written once
//! when a member is created. Every other module takes its paths from here.
//!
//!   member/identity.json   member ID, cluster ID, name, bootstrap members
//!   member/wal/*.seg       the Raft log's entries (append-only segments)
//!   member/wal/log.redb    the Raft vote, purge point and commit index
//!   member/snap/db         the MVCC state machine
//!   member/snap/raft.snap.incoming-N
//!                          Raft snapshots being received

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::errors::NodeError;
use crate::types::{MemberId, PeerNode};

/// Paths inside one data dir.
#[derive(Clone, Debug)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }
    pub fn member_dir(&self) -> PathBuf {
        self.root.join("member")
    }
    pub fn wal_dir(&self) -> PathBuf {
        self.member_dir().join("wal")
    }
    pub fn snap_dir(&self) -> PathBuf {
        self.member_dir().join("snap")
    }
    pub fn identity_path(&self) -> PathBuf {
        self.member_dir().join("identity.json")
    }
    pub fn db_path(&self) -> PathBuf {
        self.snap_dir().join("db")
    }

    /// True when the member directory exists and holds at least one entry.
    pub fn has_member_files(&self) -> bool {
        std::fs::read_dir(self.member_dir())
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    }

    pub fn read_identity(&self) -> Result<Identity, NodeError> {
        let path = self.identity_path();
        let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            NodeError::Config(format!("{}: corrupt member identity: {e}", path.display()))
        })
    }

    pub fn write_identity(&self, identity: &Identity) -> Result<(), NodeError> {
        let bytes =
            serde_json::to_vec_pretty(identity).map_err(|e| NodeError::Config(e.to_string()))?;
        write_file_durably(&self.identity_path(), &bytes)
    }
}

/// What is written once when a member is created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Identity {
    pub member_id: MemberId,
    pub cluster_id: u64,
    pub name: String,
    /// Members of the cluster as bootstrapped (id → raft attributes); empty for a
    /// member that joined a running cluster.
    pub initial_members: BTreeMap<MemberId, PeerNode>,
    /// Set on a cluster made from a member of another one (force-new-cluster,
    /// recovery): that cluster's ID. Its members are told they were superseded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_cluster_id: Option<u64>,
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> NodeError {
    NodeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a file through a temporary file, fsyncing the file and its directory.
pub(crate) fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(dir, e))?;
    }
    Ok(())
}
