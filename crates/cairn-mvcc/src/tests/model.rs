//! Property test: random puts, deletes, txns and compactions against a simple
//! model that keeps a full copy of the key space for every revision. At every
//! step, every readable revision must read the same as the model, compacted
//! revisions must be refused, and a reopened store must read the same.

use std::collections::BTreeMap;

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use cairn_proto::etcdserverpb::request_op::Request as Op;
use cairn_proto::etcdserverpb::{RangeRequest, TxnRequest};
use proptest::prelude::*;

use super::*;
use crate::KvError;

const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

#[derive(Clone, Debug)]
enum Step {
    Put(usize, u8),
    /// Delete [key, end): end None = single key; Some(None) = to the end of the key space.
    Delete(usize, Option<Option<usize>>),
    /// If KEYS[key] has `version`, run `then`, else `otherwise`.
    Txn {
        key: usize,
        version: i64,
        then: Vec<Step>,
        otherwise: Vec<Step>,
    },
    /// Compact at a revision chosen as a fraction (per mille) of the current one.
    Compact(u16),
}

fn simple_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..KEYS.len(), any::<u8>()).prop_map(|(k, v)| Step::Put(k, v)),
        1 => (0..KEYS.len(), prop::option::of(prop::option::of(0..=KEYS.len())))
            .prop_map(|(k, end)| Step::Delete(k, end)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => simple_step(),
        2 => (
            0..KEYS.len(),
            0i64..3,
            prop::collection::vec(simple_step(), 0..4),
            prop::collection::vec(simple_step(), 0..4)
        )
            .prop_map(|(key, version, then, otherwise)| Step::Txn { key, version, then, otherwise }),
        1 => (0u16..=1000).prop_map(Step::Compact),
    ]
}

/// What the model knows of one key.
#[derive(Clone, Debug, PartialEq)]
struct ModelKv {
    value: Vec<u8>,
    create: i64,
    modified: i64,
    version: i64,
}

type Space = BTreeMap<Vec<u8>, ModelKv>;

struct Model {
    /// `revs[r]` is the key space at revision r (index 0 unused).
    revs: Vec<Space>,
    compact: i64,
}

impl Model {
    fn current(&self) -> i64 {
        self.revs.len() as i64 - 1
    }

    fn span_keys(space: &Space, key: usize, end: Option<Option<usize>>) -> Vec<Vec<u8>> {
        let start = KEYS[key].as_bytes().to_vec();
        space
            .keys()
            .filter(|k| match end {
                None => **k == start,
                Some(None) => **k >= start,
                Some(Some(e)) => {
                    let end = KEYS.get(e).map_or(b"z".to_vec(), |s| s.as_bytes().to_vec());
                    **k >= start && **k < end
                }
            })
            .cloned()
            .collect()
    }

    /// Applies simple steps to `space` as part of revision `rev`; true if changed.
    fn apply_simple(space: &mut Space, rev: i64, s: &Step) -> bool {
        match s {
            Step::Put(k, v) => {
                let key = KEYS[*k].as_bytes().to_vec();
                let (create, version) = match space.get(&key) {
                    Some(old) => (old.create, old.version + 1),
                    None => (rev, 1),
                };
                space.insert(
                    key,
                    ModelKv {
                        value: vec![*v],
                        create,
                        modified: rev,
                        version,
                    },
                );
                true
            }
            Step::Delete(k, end) => {
                let keys = Self::span_keys(space, *k, *end);
                for key in &keys {
                    space.remove(key);
                }
                !keys.is_empty()
            }
            _ => false,
        }
    }

    fn step(&mut self, s: &Step) {
        let rev = self.current() + 1;
        let mut space = self.revs[self.current() as usize].clone();
        let changed = match s {
            Step::Txn {
                key,
                version,
                then,
                otherwise,
            } => {
                let have = space.get(KEYS[*key].as_bytes()).map_or(0, |kv| kv.version);
                let ops = if have == *version { then } else { otherwise };
                let mut changed = false;
                for op in ops {
                    changed |= Self::apply_simple(&mut space, rev, op);
                }
                changed
            }
            Step::Compact(_) => false,
            simple => Self::apply_simple(&mut space, rev, simple),
        };
        if changed {
            self.revs.push(space);
        }
    }
}

fn request_of(s: &Step) -> Op {
    match s {
        Step::Put(k, v) => Op::RequestPut(cairn_proto::etcdserverpb::PutRequest {
            key: KEYS[*k].into(),
            value: vec![*v],
            ..Default::default()
        }),
        Step::Delete(k, end) => {
            let range_end = match end {
                None => Vec::new(),
                Some(None) => vec![0],
                Some(Some(e)) => KEYS
                    .get(*e)
                    .map_or(b"z".to_vec(), |s| s.as_bytes().to_vec()),
            };
            Op::RequestDeleteRange(cairn_proto::etcdserverpb::DeleteRangeRequest {
                key: KEYS[*k].into(),
                range_end,
                prev_kv: false,
            })
        }
        _ => unreachable!("only simple steps become txn operations"),
    }
}

fn command_of(s: &Step, current: i64) -> Cmd {
    match s {
        Step::Put(..) | Step::Delete(..) => match request_of(s) {
            Op::RequestPut(p) => Cmd::Put(p),
            Op::RequestDeleteRange(d) => Cmd::DeleteRange(d),
            _ => unreachable!(),
        },
        Step::Txn {
            key,
            version,
            then,
            otherwise,
        } => {
            let ops = |steps: &Vec<Step>| {
                steps
                    .iter()
                    .map(|s| RequestOp {
                        request: Some(request_of(s)),
                    })
                    .collect()
            };
            Cmd::Txn(TxnRequest {
                compare: vec![cmp(
                    KEYS[*key],
                    CompareTarget::Version,
                    CompareResult::Equal,
                    TargetUnion::Version(*version),
                )],
                success: ops(then),
                failure: ops(otherwise),
            })
        }
        Step::Compact(permille) => Cmd::Compaction(cairn_proto::etcdserverpb::CompactionRequest {
            revision: (current * i64::from(*permille) / 1000).max(1),
            physical: true,
        }),
    }
}

fn check(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.current_revision(), model.current());
    prop_assert_eq!(store.compact_revision(), model.compact);
    for rev in 1..=model.current() {
        let all = RangeRequest {
            revision: rev,
            ..range_req("\0", "\0")
        };
        if rev < model.compact {
            prop_assert_eq!(store.range(&all), Err(KvError::Compacted));
            continue;
        }
        let resp = store
            .range(&all)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Vec<(Vec<u8>, ModelKv)> = resp
            .kvs
            .into_iter()
            .map(|kv| {
                (
                    kv.key,
                    ModelKv {
                        value: kv.value,
                        create: kv.create_revision,
                        modified: kv.mod_revision,
                        version: kv.version,
                    },
                )
            })
            .collect();
        let want: Vec<(Vec<u8>, ModelKv)> = model.revs[rev as usize].clone().into_iter().collect();
        prop_assert_eq!(&got, &want, "at revision {}", rev);
        prop_assert_eq!(resp.count, want.len() as i64);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(steps in prop::collection::vec(step(), 1..40)) {
        let s = TestStore::new();
        let mut model = Model { revs: vec![Space::new(), Space::new()], compact: -1 };
        for st in &steps {
            let cmd = command_of(st, model.current());
            let result = s.exec(cmd.clone());
            if let Cmd::Compaction(c) = &cmd {
                if c.revision <= model.compact {
                    prop_assert_eq!(result, Err(KvError::Compacted));
                } else {
                    prop_assert!(result.is_ok());
                    model.compact = c.revision;
                }
            } else {
                prop_assert!(result.is_ok(), "{:?}", result);
                model.step(st);
            }
            check(&s, &model)?;
        }
        s.sync().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = s.path();
        let hash = s.hash_kv(0).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let TestStore { dir, store } = s;
        drop(store);
        let reopened = Store::open(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(&reopened, &model)?;
        prop_assert_eq!(reopened.hash_kv(0).map_err(|e| TestCaseError::fail(e.to_string()))?, hash);
        drop(dir);
    }
}
