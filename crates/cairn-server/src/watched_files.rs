//! A value made from files and made again when any of them changes (its
//! modification time, size or inode), looked at each time it is used (each
//! TLS handshake). The served certificate (tls.rs) and the revocation list
//! (revocation.rs) are read this way, as etcd reads them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What tells that a file changed: its modification time, size and inode.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamps(Vec<Option<(std::time::SystemTime, u64, u64)>>);

impl FileStamps {
    fn of(paths: &[PathBuf]) -> FileStamps {
        use std::os::unix::fs::MetadataExt;
        FileStamps(
            paths
                .iter()
                .map(|p| {
                    let m = std::fs::metadata(p).ok()?;
                    Some((m.modified().ok()?, m.len(), m.ino()))
                })
                .collect(),
        )
    }
}

/// A value and the stamps of the files it was made from.
#[derive(Debug)]
pub struct Watched<T> {
    paths: Vec<PathBuf>,
    current: Mutex<(FileStamps, T)>,
}

impl<T: Clone> Watched<T> {
    /// Notes the files' stamps, then makes the first value.
    pub fn load<E>(paths: &[&Path], make: impl FnOnce() -> Result<T, E>) -> Result<Watched<T>, E> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
        let stamps = FileStamps::of(&paths);
        let value = make()?;
        Ok(Watched {
            paths,
            current: Mutex::new((stamps, value)),
        })
    }

    /// The value now. If a file changed since the last look, `remake` first
    /// gets the value to replace (or keep, when the files cannot be used). It
    /// is called once per change: files that cannot be used are not read
    /// again until they change again.
    pub fn get(&self, remake: impl FnOnce(&mut T)) -> T {
        let stamps = FileStamps::of(&self.paths);
        let mut current = match self.current.lock() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.0 != stamps {
            current.0 = stamps;
            remake(&mut current.1);
        }
        current.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remade_once_per_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "one").unwrap();
        let watched = Watched::load(&[&file], || {
            Ok::<_, ()>(std::fs::read_to_string(&file).unwrap())
        })
        .unwrap();
        let mut remakes = 0;
        let mut read = |value: &mut String| {
            remakes += 1;
            *value = std::fs::read_to_string(&file).unwrap();
        };
        assert_eq!(watched.get(&mut read), "one");
        std::fs::write(&file, "three").unwrap();
        assert_eq!(watched.get(&mut read), "three");
        assert_eq!(watched.get(&mut read), "three");
        assert_eq!(remakes, 1);
        // A removed file is a change too; the value kept is the remake's call.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(watched.get(|_| ()), "three");
    }

    #[test]
    fn a_failed_first_load_is_the_error() {
        let missing = Path::new("/nonexistent/cairn-watched");
        assert!(Watched::<String>::load(&[missing], || Err("no file")).is_err());
    }
}
