//! Randomized histories: simulate a linearizable register store with random
//! concurrent timings, failures and timeouts (the checker must accept every
//! such history), then inject one stale read (it must be rejected).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cairn_linearizability::{check, KvInput, KvModel, KvOutput, Operation, Verdict, PENDING};

type Op = Operation<KvInput, KvOutput>;

/// splitmix64: small, deterministic, good enough for test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Fate {
    Done,
    Failed,
    TimedOutApplied,
    TimedOutLost,
}

struct Slot {
    client: u64,
    call: u64,
    point: u64,
    ret: u64,
    fate: Fate,
}

/// A history of `clients` clients doing `ops_per_client` operations each on
/// `keys` keys, produced by a store that applies each operation atomically at
/// a random point between its call and its return.
fn simulate(seed: u64, clients: u64, ops_per_client: u64, keys: u64) -> Vec<Op> {
    let mut rng = Rng(seed);
    // Timing skeleton: each client issues operations one after another.
    let mut slots = Vec::new();
    for client in 0..clients {
        let mut t = rng.below(20);
        for _ in 0..ops_per_client {
            let call = t + rng.below(20);
            let duration = 1 + rng.below(60);
            let point = call + rng.below(duration + 1);
            let ret = call + duration;
            let fate = match rng.below(100) {
                0..=84 => Fate::Done,
                85..=91 => Fate::Failed,
                92..=95 => Fate::TimedOutApplied,
                _ => Fate::TimedOutLost,
            };
            slots.push(Slot {
                client,
                call,
                point,
                ret,
                fate,
            });
            t = ret;
        }
    }
    // Apply operations in the order of their linearization points, choosing
    // inputs as we go so that CASes succeed reasonably often.
    slots.sort_by_key(|s| s.point);
    let mut store: HashMap<String, Option<String>> = HashMap::new();
    let mut written: HashMap<String, Vec<String>> = HashMap::new();
    let mut history = Vec::new();
    for (n, slot) in slots.into_iter().enumerate() {
        let key = format!("k{}", rng.below(keys));
        let current = store.get(&key).cloned().flatten();
        let value = format!("v{n}");
        let input = match rng.below(10) {
            0..=3 => KvInput::Get { key: key.clone() },
            4..=6 => KvInput::Put {
                key: key.clone(),
                value,
            },
            7..=8 => {
                let old = written.get(&key).filter(|w| !w.is_empty());
                let expect_value = match (rng.below(3), old) {
                    (0, _) | (_, None) => current.clone(),
                    (1, Some(w)) => Some(w[rng.below(w.len() as u64) as usize].clone()),
                    _ => None,
                };
                KvInput::Cas {
                    key: key.clone(),
                    expect_value,
                    new_value: value,
                }
            }
            _ => KvInput::Delete { key: key.clone() },
        };
        let applies = matches!(slot.fate, Fate::Done | Fate::TimedOutApplied);
        let mut output = match &input {
            KvInput::Get { .. } => KvOutput::Get(current.clone()),
            KvInput::Put { value, .. } => {
                if applies {
                    store.insert(key.clone(), Some(value.clone()));
                    written.entry(key.clone()).or_default().push(value.clone());
                }
                KvOutput::Put
            }
            KvInput::Cas {
                expect_value,
                new_value,
                ..
            } => {
                let holds = *expect_value == current;
                if applies && holds {
                    store.insert(key.clone(), Some(new_value.clone()));
                    written
                        .entry(key.clone())
                        .or_default()
                        .push(new_value.clone());
                }
                KvOutput::Cas(holds)
            }
            KvInput::Delete { .. } => {
                if applies {
                    store.insert(key.clone(), None);
                }
                KvOutput::Delete(i64::from(current.is_some()))
            }
        };
        let mut ret = slot.ret;
        match slot.fate {
            Fate::Done => {}
            Fate::Failed => output = KvOutput::Failed,
            Fate::TimedOutApplied | Fate::TimedOutLost => {
                output = KvOutput::Unknown;
                ret = PENDING;
            }
        }
        history.push(Operation {
            client: slot.client,
            input,
            call: slot.call,
            output,
            ret,
        });
    }
    history
}

/// The value a definite, completed write left behind, if it wrote one.
fn wrote(op: &Op) -> Option<Option<&str>> {
    match (&op.input, &op.output) {
        (KvInput::Put { value, .. }, KvOutput::Put) => Some(Some(value)),
        (KvInput::Cas { new_value, .. }, KvOutput::Cas(true)) => Some(Some(new_value)),
        (KvInput::Delete { .. }, KvOutput::Delete(1)) => Some(None),
        _ => None,
    }
}

/// Makes one definite read return a value that was certainly overwritten
/// before the read began: a write `p` of `v`, then (strictly later in real
/// time) a completed write `w` of something else, then the read. Values are
/// unique, so no linearization can have the read see `v`. Returns the read's
/// index.
fn inject_stale_read(history: &mut [Op]) -> Option<usize> {
    for (g, read) in history.iter().enumerate() {
        if !matches!(
            (&read.input, &read.output),
            (KvInput::Get { .. }, KvOutput::Get(_))
        ) {
            continue;
        }
        let key = read.input.key();
        let same_key = |op: &Op| op.input.key() == key;
        for p in history.iter().filter(|p| same_key(p)) {
            let Some(Some(v)) = wrote(p) else { continue };
            let overwritten = history.iter().any(|w| {
                same_key(w)
                    && w.call > p.ret
                    && w.ret < read.call
                    && wrote(w).is_some_and(|left| left != Some(v))
            });
            if overwritten && read.output != KvOutput::Get(Some(v.to_owned())) {
                let stale = KvOutput::Get(Some(v.to_owned()));
                history[g].output = stale;
                return Some(g);
            }
        }
    }
    None
}

const BUDGET: Duration = Duration::from_secs(30);

#[test]
fn simulated_linearizable_histories_pass() {
    for seed in 0..40 {
        let history = simulate(seed, 5, 40, 3);
        assert_eq!(
            check(&KvModel, &history, BUDGET),
            Verdict::Ok,
            "seed {seed}: {history:#?}"
        );
    }
}

#[test]
fn one_injected_stale_read_is_caught() {
    let mut injected = 0;
    for seed in 100..160 {
        let mut history = simulate(seed, 5, 40, 3);
        let Some(g) = inject_stale_read(&mut history) else {
            continue;
        };
        injected += 1;
        match check(&KvModel, &history, BUDGET) {
            Verdict::Illegal { longest_prefix, .. } => {
                assert!(
                    !longest_prefix.contains(&g),
                    "seed {seed}: the stale read {g} was linearized"
                );
            }
            other => panic!("seed {seed}: stale read {g} not caught: {other:?}"),
        }
    }
    assert!(
        injected >= 30,
        "only {injected} seeds had a stale-read site"
    );
}

/// Not a pass/fail test: prints how long bigger histories take (run with
/// `--ignored --nocapture`, in release mode for meaningful numbers).
#[test]
#[ignore]
fn timing_of_larger_histories() {
    for (clients, ops, keys) in [
        (10, 100, 10),
        (10, 1000, 10),
        (50, 200, 5),
        (5, 200, 1),
        (5, 1000, 1),
        (20, 50, 1),
        (20, 100, 1),
    ] {
        let history = simulate(7, clients, ops, keys);
        let start = Instant::now();
        let verdict = check(&KvModel, &history, Duration::from_secs(20));
        println!(
            "{clients} clients x {ops} ops on {keys} keys ({} ops): {verdict:?} in {:?}",
            history.len(),
            start.elapsed()
        );
    }
}
