//! A fixed-size set of small integers: which operations of a partition have
//! been linearized so far. It is part of the search's memo key, so it hashes
//! and compares by value.

/// A set of operation numbers in `0..len`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// An empty set able to hold `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub(crate) fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::Bitset;

    #[test]
    fn insert_remove_and_equality() {
        let mut a = Bitset::new(130);
        let mut b = Bitset::new(130);
        a.insert(0);
        a.insert(64);
        a.insert(129);
        assert!(a.contains(0) && a.contains(64) && a.contains(129));
        assert!(!a.contains(1) && !a.contains(128));
        assert_ne!(a, b);
        b.insert(129);
        b.insert(64);
        b.insert(0);
        assert_eq!(a, b);
        a.remove(64);
        assert!(!a.contains(64));
        assert_ne!(a, b);
    }
}
