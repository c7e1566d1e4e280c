//! What a benchmark sends: the request each workload (`put`, `range`,
//! `txn-put`) makes for the i-th operation, with etcd `tools/benchmark`'s
//! key shapes (a Go varint of the key's number, zero-padded to `--key-size`)
//! and one random value of `--val-size` bytes reused by every write.

use cairn_proto::etcdserverpb::{request_op, PutRequest, RangeRequest, RequestOp, TxnRequest};

/// One request ready to send.
#[derive(Clone, Debug)]
pub enum BenchRequest {
    Put(PutRequest),
    Range(RangeRequest),
    Txn(TxnRequest),
}

/// How the keys written by `put` and `txn-put` are chosen.
#[derive(Clone, Debug)]
pub struct KeySpace {
    /// Bytes per key (the varint is zero-padded to this).
    pub key_size: usize,
    /// Number of distinct keys.
    pub size: u64,
    /// Key `i % size` for the i-th operation instead of a random one.
    pub sequential: bool,
}

impl KeySpace {
    /// Checks that every key number fits in `key_size` bytes.
    pub fn validate(&self) -> Result<(), String> {
        if self.size == 0 {
            return Err("--key-space-size must be positive".into());
        }
        if varint(self.size - 1).len() > self.key_size {
            return Err(format!(
                "--key-size {} is too small for --key-space-size {}",
                self.key_size, self.size
            ));
        }
        Ok(())
    }

    /// The key numbered `n` (`n < size`).
    pub fn key(&self, n: u64) -> Vec<u8> {
        let mut key = varint(n);
        key.resize(self.key_size.max(key.len()), 0);
        key
    }
}

/// A workload: produces the request for each operation.
#[derive(Clone, Debug)]
pub enum Workload {
    Put {
        keys: KeySpace,
        value: Vec<u8>,
    },
    Range(RangeRequest),
    TxnPut {
        keys: KeySpace,
        value: Vec<u8>,
        ops_per_txn: u64,
    },
}

impl Workload {
    /// The request of operation `index`, drawing random keys from `rng`.
    pub fn request(&self, index: u64, rng: &mut Rng) -> BenchRequest {
        match self {
            Workload::Put { keys, value } => {
                let n = if keys.sequential {
                    index % keys.size
                } else {
                    rng.below(keys.size)
                };
                BenchRequest::Put(PutRequest {
                    key: keys.key(n),
                    value: value.clone(),
                    ..Default::default()
                })
            }
            Workload::Range(req) => BenchRequest::Range(req.clone()),
            Workload::TxnPut {
                keys,
                value,
                ops_per_txn,
            } => {
                // Consecutive keys from a random start: a txn may not put the
                // same key twice (etcd rejects it), so they must be distinct.
                let first = rng.below(keys.size);
                let success = (0..*ops_per_txn)
                    .map(|j| RequestOp {
                        request: Some(request_op::Request::RequestPut(PutRequest {
                            key: keys.key((first + j) % keys.size),
                            value: value.clone(),
                            ..Default::default()
                        })),
                    })
                    .collect();
                BenchRequest::Txn(TxnRequest {
                    compare: Vec::new(),
                    success,
                    failure: Vec::new(),
                })
            }
        }
    }
}

/// Go's `binary.PutVarint`: zig-zag, then 7 bits per byte, low first.
pub fn varint(n: u64) -> Vec<u8> {
    let signed = n as i64;
    let mut z = ((signed << 1) ^ (signed >> 63)) as u64;
    let mut out = Vec::with_capacity(10);
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
    out
}

/// A small fast PRNG (splitmix64); benchmark keys need no more.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A rng seeded from the clock and `salt` (e.g. the client number).
    pub fn from_clock(salt: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng(nanos ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_matches_go() {
        assert_eq!(varint(0), [0]);
        assert_eq!(varint(1), [2]);
        assert_eq!(varint(5), [10]);
        assert_eq!(varint(64), [0x80, 0x01]);
    }

    #[test]
    fn keys_are_padded_and_validated() {
        let keys = KeySpace {
            key_size: 8,
            size: 100,
            sequential: true,
        };
        assert_eq!(keys.key(1), [2, 0, 0, 0, 0, 0, 0, 0]);
        assert!(keys.validate().is_ok());
        let tiny = KeySpace {
            key_size: 1,
            size: 1000,
            sequential: false,
        };
        assert!(tiny.validate().is_err());
    }

    #[test]
    fn txn_put_keys_are_distinct() {
        let w = Workload::TxnPut {
            keys: KeySpace {
                key_size: 8,
                size: 3,
                sequential: false,
            },
            value: vec![1],
            ops_per_txn: 3,
        };
        let mut rng = Rng::new(7);
        for i in 0..20 {
            let BenchRequest::Txn(txn) = w.request(i, &mut rng) else {
                panic!("not a txn");
            };
            let mut keys: Vec<Vec<u8>> = txn
                .success
                .iter()
                .filter_map(|op| match &op.request {
                    Some(request_op::Request::RequestPut(p)) => Some(p.key.clone()),
                    _ => None,
                })
                .collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), 3);
        }
    }
}
