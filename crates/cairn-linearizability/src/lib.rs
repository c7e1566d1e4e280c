//! Checkers for histories recorded by fault-injection tests against a cluster
//! (etcd or Cairn).
//!
//! * [`check`] decides whether a history of concurrent operations is
//!   linearizable with respect to a sequential [`Model`], using the Wing & Gong
//!   search with Lowe's memoization, as in Porcupine.
//! * [`KvModel`] is a ready-made model of etcd's key space (one register per key).
//! * [`check_watch`] checks a recorded watch stream against the committed
//!   history: order, gaps, duplicates and contents.
//!
//! Module map: `history` (what a recorded operation is), `model` (what a
//! sequential specification is), `bitset` and `timeline` (data structures of the
//! search), `search` (the search over one partition), `checker` (partitions,
//! time budget, threads, verdict), `models` (the KV model), `watch` (the watch
//! checker).

mod bitset;
mod checker;
mod history;
mod model;
pub mod models;
mod search;
mod timeline;
mod watch;

pub use checker::{check, Verdict};
pub use history::{Operation, PENDING};
pub use model::Model;
pub use models::{KvInput, KvModel, KvOutput};
pub use watch::{check_watch, check_watch_complete, Event, EventKind, WatchAnomaly};
