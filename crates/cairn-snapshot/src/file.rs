//! The snapshot file around the bbolt image: the 32-byte SHA-256 trailer (present when
//! `len % 512 == 32`), its verification with etcd's error messages, and the figures
//! `etcdutl snapshot status` prints.

use sha2::{Digest, Sha256};

use crate::bbolt::BoltReader;
use crate::error::SnapshotError;

/// Length of the SHA-256 trailer.
pub const TRAILER_LEN: usize = 32;

/// Splits `file` into database bytes and trailer when it has one (`len % 512 == 32`).
pub fn split_trailer(file: &[u8]) -> Option<(&[u8], [u8; 32])> {
    if file.len() % 512 != TRAILER_LEN {
        return None;
    }
    let (db, tail) = file.split_at(file.len() - TRAILER_LEN);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(tail);
    Some((db, hash))
}

/// Formats bytes the way Go's `%v` prints a `[]byte`: `[1 2 3]`.
fn go_bytes(b: &[u8]) -> String {
    let parts: Vec<String> = b.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(" "))
}

/// Checks the trailer as `etcdutl snapshot restore` does and returns the database
/// bytes. A file without a trailer is accepted only with `skip_hash_check`; with it,
/// a present trailer is stripped without being checked.
pub fn verify(file: &[u8], skip_hash_check: bool) -> Result<&[u8], SnapshotError> {
    let db = database(file, skip_hash_check)?;
    if !skip_hash_check {
        check_hash(file)?;
    }
    Ok(db)
}

/// [`verify`] without hashing: the database bytes of `file`, or the error
/// `verify` gives for a file whose trailer is missing. A caller that uses this
/// must call [`check_hash`] (unless `skip_hash_check`) before trusting them.
pub fn database(file: &[u8], skip_hash_check: bool) -> Result<&[u8], SnapshotError> {
    match split_trailer(file) {
        Some((db, _)) => Ok(db),
        None if skip_hash_check => Ok(file),
        None => Err(SnapshotError::MissingTrailer),
    }
}

/// The hash half of [`verify`]: `file` must end with the SHA-256 of the rest.
pub fn check_hash(file: &[u8]) -> Result<(), SnapshotError> {
    let (db, expected) = split_trailer(file).ok_or(SnapshotError::MissingTrailer)?;
    let actual = Sha256::digest(db);
    if actual.as_slice() != expected {
        return Err(SnapshotError::HashMismatch {
            expected: go_bytes(&expected),
            actual: go_bytes(&actual),
        });
    }
    Ok(())
}

/// [`verify`] (without `skip_hash_check`) for a file that arrives in pieces, so
/// that it can be written out and hashed as it arrives: the last 32 bytes seen
/// are held back from the hash, as they may be the trailer.
#[derive(Default)]
pub struct StreamVerifier {
    hasher: Sha256,
    /// The last (at most 32) bytes seen, not yet hashed.
    tail: Vec<u8>,
    len: u64,
}

impl StreamVerifier {
    pub fn new() -> StreamVerifier {
        StreamVerifier::default()
    }

    /// Takes the next piece of the file.
    pub fn update(&mut self, piece: &[u8]) {
        self.len += piece.len() as u64;
        if piece.len() >= TRAILER_LEN {
            let (body, tail) = piece.split_at(piece.len() - TRAILER_LEN);
            self.hasher.update(&self.tail);
            self.hasher.update(body);
            self.tail.clear();
            self.tail.extend_from_slice(tail);
        } else {
            self.tail.extend_from_slice(piece);
            let extra = self.tail.len().saturating_sub(TRAILER_LEN);
            self.hasher.update(&self.tail[..extra]);
            self.tail.drain(..extra);
        }
    }

    /// Checks the whole file as [`verify`] does.
    pub fn finish(self) -> Result<(), SnapshotError> {
        if self.len % 512 != TRAILER_LEN as u64 {
            return Err(SnapshotError::MissingTrailer);
        }
        let actual = self.hasher.finalize();
        if actual.as_slice() != self.tail.as_slice() {
            return Err(SnapshotError::HashMismatch {
                expected: go_bytes(&self.tail),
                actual: go_bytes(&actual),
            });
        }
        Ok(())
    }
}

/// Appends the SHA-256 of `db` to it.
pub fn with_trailer(mut db: Vec<u8>) -> Vec<u8> {
    let hash = Sha256::digest(&db);
    db.extend_from_slice(&hash);
    db
}

/// What `etcdutl snapshot status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// CRC-32C over each bucket's name followed by its keys and values.
    pub hash: u32,
    /// Main revision of the last entry of the `key` bucket.
    pub revision: i64,
    /// Entries in all buckets.
    pub total_keys: u64,
    /// Database size (`pgid * page_size`), trailer excluded.
    pub total_size: u64,
}

/// Computes the status of a snapshot file (trailer optional, not checked), the way
/// etcd's `snapshot status` does.
pub fn status(file: &[u8]) -> Result<Status, SnapshotError> {
    let reader = BoltReader::new(file)?;
    let mut crc = 0u32;
    let mut revision = 0i64;
    let mut total_keys = 0u64;
    for name in reader.buckets()? {
        crc = crc32c::crc32c_append(crc, &name);
        let is_key = name == b"key";
        reader.for_each(&name, |k, v| {
            crc = crc32c::crc32c_append(crc, k);
            crc = crc32c::crc32c_append(crc, v);
            if is_key {
                if let Some(main) = k.get(..8) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(main);
                    revision = i64::from_be_bytes(b);
                }
            }
            total_keys += 1;
            Ok(())
        })?;
    }
    Ok(Status {
        hash: crc,
        revision,
        total_keys,
        total_size: reader.size(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_round_trip_and_errors() {
        let db = vec![7u8; 4096 * 3];
        let file = with_trailer(db.clone());
        assert_eq!(file.len() % 512, 32);
        assert_eq!(verify(&file, false).unwrap(), &db[..]);
        let (d, h) = split_trailer(&file).unwrap();
        assert_eq!(d, &db[..]);
        assert_eq!(&h[..], &file[db.len()..]);

        let mut bad = file.clone();
        bad[10] ^= 1;
        let err = verify(&bad, false).unwrap_err().to_string();
        assert!(err.starts_with("expected sha256 ["), "{err}");
        assert!(err.contains("], got ["), "{err}");
        assert_eq!(verify(&bad, true).unwrap().len(), db.len());

        assert_eq!(
            verify(&db, false).unwrap_err().to_string(),
            "snapshot missing hash but --skip-hash-check=false"
        );
        assert_eq!(verify(&db, true).unwrap(), &db[..]);

        // The two halves of `verify`, for a caller that hashes meanwhile.
        assert_eq!(database(&bad, false).unwrap(), &bad[..db.len()]);
        assert_eq!(
            check_hash(&bad).unwrap_err().to_string(),
            verify(&bad, false).unwrap_err().to_string()
        );
        check_hash(&file).unwrap();
        assert_eq!(
            database(&db, false).unwrap_err().to_string(),
            verify(&db, false).unwrap_err().to_string()
        );
        assert_eq!(database(&db, true).unwrap(), &db[..]);
    }

    #[test]
    fn stream_verifier_agrees_with_verify() {
        let file = with_trailer(vec![7u8; 4096 * 3]);
        for piece in [1, 5, 31, 32, 33, 512, 4096, file.len()] {
            let mut v = StreamVerifier::new();
            file.chunks(piece).for_each(|c| v.update(c));
            assert!(v.finish().is_ok(), "pieces of {piece}");
        }
        let mut bad = file.clone();
        bad[10] ^= 1;
        let mut v = StreamVerifier::new();
        bad.chunks(100).for_each(|c| v.update(c));
        assert_eq!(
            v.finish().unwrap_err().to_string(),
            verify(&bad, false).unwrap_err().to_string()
        );
        let mut v = StreamVerifier::new();
        v.update(&file[..file.len() - 1]);
        assert_eq!(
            v.finish().unwrap_err().to_string(),
            "snapshot missing hash but --skip-hash-check=false"
        );
    }

    #[test]
    fn go_byte_format() {
        assert_eq!(go_bytes(&[1, 0, 255]), "[1 0 255]");
    }
}
