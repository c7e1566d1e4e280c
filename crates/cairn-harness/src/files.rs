//! Looking at data dirs from tests: a digest of every file, to show that a
//! command left a directory exactly as it was.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Every file under `dir` (recursively, sorted) with a hash of its contents.
pub fn tree_digest(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(tree_digest(&p));
            } else {
                let mut h = DefaultHasher::new();
                std::fs::read(&p).unwrap_or_default().hash(&mut h);
                out.push((p, h.finish()));
            }
        }
    }
    out.sort();
    out
}
