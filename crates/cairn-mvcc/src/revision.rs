//! Revisions and their on-disk encoding.
//!
//! A revision is (main, sub): `main` counts write transactions, `sub` counts the
//! changes inside one. The `kv` table is keyed exactly like etcd's `key` bucket:
//! 8 bytes big-endian main, a `_`, 8 bytes big-endian sub (17 bytes), plus a
//! trailing `t` (18 bytes) when the entry is a deletion (tombstone). Keeping etcd's
//! bytes lets `hash_kv` hash the same input etcd hashes.

/// Length of an encoded revision without the tombstone mark.
pub(crate) const REV_BYTES_LEN: usize = 17;
/// Length of an encoded revision with the tombstone mark.
pub(crate) const MARKED_REV_BYTES_LEN: usize = 18;
const SEPARATOR: u8 = b'_';
const TOMBSTONE_MARK: u8 = b't';

/// One point in the store's history; ordered by main, then sub.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub(crate) fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }
}

/// Encodes a revision as a `kv` table key.
pub(crate) fn encode(rev: Revision, tombstone: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(MARKED_REV_BYTES_LEN);
    out.extend_from_slice(&(rev.main as u64).to_be_bytes());
    out.push(SEPARATOR);
    out.extend_from_slice(&(rev.sub as u64).to_be_bytes());
    if tombstone {
        out.push(TOMBSTONE_MARK);
    }
    out
}

/// Decodes a `kv` table key into its revision and tombstone flag; `None` if the
/// bytes are not a well-formed key.
pub(crate) fn decode(bytes: &[u8]) -> Option<(Revision, bool)> {
    let tombstone = match bytes.len() {
        REV_BYTES_LEN => false,
        MARKED_REV_BYTES_LEN if bytes[REV_BYTES_LEN] == TOMBSTONE_MARK => true,
        _ => return None,
    };
    if bytes[8] != SEPARATOR {
        return None;
    }
    let main = u64::from_be_bytes(bytes[0..8].try_into().ok()?) as i64;
    let sub = u64::from_be_bytes(bytes[9..17].try_into().ok()?) as i64;
    Some((Revision { main, sub }, tombstone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_etcd_layout() {
        let b = encode(Revision::new(0x0102, 3), false);
        assert_eq!(
            b,
            [0, 0, 0, 0, 0, 0, 1, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 3].to_vec()
        );
        let t = encode(Revision::new(5, 0), true);
        assert_eq!(t.len(), 18);
        assert_eq!(t[17], b't');
    }

    #[test]
    fn decode_round_trips_and_rejects_garbage() {
        for (rev, tomb) in [
            (Revision::new(1, 0), false),
            (Revision::new(77, 12), true),
            (Revision::new(i64::MAX, 0), false),
        ] {
            assert_eq!(decode(&encode(rev, tomb)), Some((rev, tomb)));
        }
        assert_eq!(decode(b"short"), None);
        let mut bad = encode(Revision::new(1, 1), false);
        bad[8] = b'x';
        assert_eq!(decode(&bad), None);
        let mut bad_mark = encode(Revision::new(1, 1), true);
        bad_mark[17] = b'q';
        assert_eq!(decode(&bad_mark), None);
    }

    #[test]
    fn byte_order_is_revision_order() {
        let revs = [
            Revision::new(1, 0),
            Revision::new(1, 1),
            Revision::new(2, 0),
            Revision::new(256, 0),
            Revision::new(256, 300),
        ];
        for w in revs.windows(2) {
            assert!(encode(w[0], true) < encode(w[1], false));
            assert!(encode(w[0], false) < encode(w[1], true));
        }
    }
}
