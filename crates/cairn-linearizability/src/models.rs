//! Ready-made models of etcd's key space for [`crate::check`]:
//! [`KvModel`], one register per key.

use std::collections::BTreeMap;

use crate::history::Operation;
use crate::model::Model;

/// A client request against one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Range request for exactly one key.
    Get { key: String },
    /// Unconditional put.
    Put { key: String, value: String },
    /// Transaction "if value(key) == expect_value then put new_value"; an
    /// `expect_value` of `None` means "if the key does not exist" (etcd's
    /// `create_revision == 0` compare).
    Cas {
        key: String,
        expect_value: Option<String>,
        new_value: String,
    },
    /// Delete of exactly one key.
    Delete { key: String },
}

impl KvInput {
    /// The key the request is about.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Cas { key, .. }
            | KvInput::Delete { key } => key,
        }
    }
}

/// What a client got back. Each success variant belongs to the input of the
/// same name; pairing an input with another input's success variant is
/// treated as impossible.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// A `Get` succeeded and saw this value (`None`: key absent).
    Get(Option<String>),
    /// A `Put` succeeded.
    Put,
    /// A `Cas` succeeded; `true` if the compare held and the put was done.
    Cas(bool),
    /// A `Delete` succeeded and deleted this many keys (0 or 1).
    Delete(i64),
    /// A definite error: the request had no effect.
    Failed,
    /// No response (timeout, lost connection): the request may or may not
    /// have taken effect. Pair with `ret == PENDING`.
    Unknown,
}

/// etcd's key space seen as independent registers, one per key.
///
/// The state of a partition is the current value of its key (`None`: absent).
/// Partitions are keys in ascending order (a key appears only if it has at
/// least one operation that is checked). Operations that cannot constrain
/// anything are left out of every partition: those with a `Failed` output and
/// `Get`s with an `Unknown` output.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvModel;

impl KvModel {
    /// The key each partition of `history` is about, in partition order, so
    /// that [`crate::Verdict::Illegal`]'s `partition` can be named.
    pub fn partition_keys(&self, history: &[Operation<KvInput, KvOutput>]) -> Vec<String> {
        by_key(history).into_keys().map(str::to_owned).collect()
    }
}

fn constrains(op: &Operation<KvInput, KvOutput>) -> bool {
    !matches!(
        (&op.input, &op.output),
        (_, KvOutput::Failed) | (KvInput::Get { .. }, KvOutput::Unknown)
    )
}

fn by_key(history: &[Operation<KvInput, KvOutput>]) -> BTreeMap<&str, Vec<usize>> {
    let mut parts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.iter().enumerate() {
        if constrains(op) {
            parts.entry(op.input.key()).or_default().push(i);
        }
    }
    parts
}

impl Model for KvModel {
    type State = Option<String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        None
    }

    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State> {
        use KvInput as I;
        use KvOutput as O;
        match (input, output) {
            (_, O::Failed) => Some(state.clone()),

            (I::Get { .. }, O::Get(seen)) => (seen == state).then(|| state.clone()),
            (I::Get { .. }, O::Unknown) => Some(state.clone()),

            (I::Put { value, .. }, O::Put | O::Unknown) => Some(Some(value.clone())),

            (
                I::Cas {
                    expect_value,
                    new_value,
                    ..
                },
                outcome,
            ) => {
                let holds = state == expect_value;
                match outcome {
                    O::Cas(true) => holds.then(|| Some(new_value.clone())),
                    O::Cas(false) => (!holds).then(|| state.clone()),
                    // Applied if the compare holds here. "Compare held but it
                    // never ran" is the same as never having happened, which
                    // the search covers by placing it last (see search.rs).
                    O::Unknown if holds => Some(Some(new_value.clone())),
                    O::Unknown => Some(state.clone()),
                    _ => None,
                }
            }

            (I::Delete { .. }, O::Delete(deleted)) => {
                let expected = i64::from(state.is_some());
                (*deleted == expected).then_some(None)
            }
            (I::Delete { .. }, O::Unknown) => Some(None),

            _ => None,
        }
    }

    fn partition(&self, history: &[Operation<KvInput, KvOutput>]) -> Vec<Vec<usize>> {
        by_key(history).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{KvInput, KvModel, KvOutput};
    use crate::Model;

    fn v(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn step_follows_register_semantics() {
        let m = KvModel;
        let k = || "k".to_owned();
        let get = KvInput::Get { key: k() };
        assert_eq!(m.step(&None, &get, &KvOutput::Get(None)), Some(None));
        assert_eq!(m.step(&v("a"), &get, &KvOutput::Get(v("b"))), None);
        let cas = KvInput::Cas {
            key: k(),
            expect_value: v("a"),
            new_value: "b".into(),
        };
        assert_eq!(m.step(&v("a"), &cas, &KvOutput::Cas(true)), Some(v("b")));
        assert_eq!(m.step(&v("x"), &cas, &KvOutput::Cas(true)), None);
        assert_eq!(m.step(&v("a"), &cas, &KvOutput::Cas(false)), None);
        assert_eq!(m.step(&v("x"), &cas, &KvOutput::Cas(false)), Some(v("x")));
        assert_eq!(m.step(&v("x"), &cas, &KvOutput::Unknown), Some(v("x")));
        let del = KvInput::Delete { key: k() };
        assert_eq!(m.step(&v("a"), &del, &KvOutput::Delete(1)), Some(None));
        assert_eq!(m.step(&v("a"), &del, &KvOutput::Delete(0)), None);
        assert_eq!(m.step(&None, &del, &KvOutput::Delete(0)), Some(None));
        assert_eq!(m.step(&v("a"), &del, &KvOutput::Failed), Some(v("a")));
        // Mismatched output kinds are impossible.
        assert_eq!(m.step(&None, &get, &KvOutput::Put), None);
    }
}
