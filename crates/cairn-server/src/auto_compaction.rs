//! `--auto-compaction-mode` and `--auto-compaction-retention`: etcd's automatic
//! compaction of the key-value history, with etcd 3.5's schedule. Only the
//! leader compacts (a member that is not the leader keeps its clock running but
//! does nothing, as etcd's paused compactor does); the compaction is an ordinary
//! Compact request through Raft, so every member applies the same one.
//!
//! - `periodic` (default) with retention P: every P/10 (at most every 6 min)
//!   the current revision is noted; once P has passed, the revision noted P ago
//!   is compacted, and again every P (at most every hour). A plain number is
//!   hours, or a Go duration (`30m`, `1h30m`).
//! - `revision` with retention N: every 5 minutes, the current revision minus N
//!   is compacted, when it is positive and moved since the last time.
//!
//! A retention of 0 (the default) turns it off.

use std::collections::VecDeque;
use std::time::Duration;

use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::CompactionRequest;
use std::time::Instant;

use crate::context::{internal_request, ServerContext};

/// What to keep, as the two flags say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep this much time of history.
    Periodic(Duration),
    /// Keep this many revisions of history.
    Revision(i64),
}

const HOUR: Duration = Duration::from_secs(3600);
/// How often the revision mode looks (etcd's `revInterval`).
const REVISION_MODE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The shortest step of the periodic mode, so that a tiny retention cannot
/// spin (etcd's step is retention / 10, whatever it is).
const MIN_STEP: Duration = Duration::from_millis(10);

/// Reads the two flags as etcd 3.5 does. `Ok(None)`: turned off. The error is
/// (flag, reason).
pub fn parse(
    mode: &str,
    retention: &str,
) -> Result<Option<AutoCompaction>, (&'static str, String)> {
    let periodic = match mode {
        "periodic" | "" => true,
        "revision" => false,
        other => {
            return Err((
                "auto-compaction-mode",
                format!("unknown auto-compaction-mode {other:?}"),
            ))
        }
    };
    let retention_error = |reason: String| {
        (
            "auto-compaction-retention",
            format!("error parsing CompactionRetention: {reason}"),
        )
    };
    // A whole number is hours (periodic) or revisions; anything else must be a
    // Go duration, which the revision mode reads as a count of nanoseconds,
    // as etcd does.
    let policy = match retention.parse::<i64>() {
        Ok(n) if n >= 0 => {
            if periodic {
                AutoCompaction::Periodic(HOUR.saturating_mul(n.min(u32::MAX as i64) as u32))
            } else {
                AutoCompaction::Revision(n)
            }
        }
        _ => {
            let d = crate::config::parse_go_duration(retention)
                .ok_or_else(|| retention_error(format!("time: invalid duration {retention:?}")))?;
            if periodic {
                AutoCompaction::Periodic(d)
            } else {
                AutoCompaction::Revision(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            }
        }
    };
    Ok(match policy {
        AutoCompaction::Periodic(d) if d.is_zero() => None,
        AutoCompaction::Revision(0) => None,
        p => Some(p),
    })
}

/// Compacts at `revision` through Raft; Ok also when it already was.
async fn compact_at(ctx: &ServerContext, revision: i64) -> Result<(), String> {
    if revision <= ctx.node.store().compact_revision() {
        return Ok(());
    }
    let request = internal_request(Cmd::Compaction(CompactionRequest {
        revision,
        physical: false,
    }));
    match ctx.propose(request).await {
        Ok(_) => Ok(()),
        // Another compaction got there first.
        Err(status) if status.message().contains("has been compacted") => Ok(()),
        Err(status) => Err(status.message().to_string()),
    }
}

/// Runs `policy` on this member until the task is dropped.
pub async fn run(ctx: ServerContext, policy: AutoCompaction) {
    match policy {
        AutoCompaction::Periodic(period) => run_periodic(ctx, period).await,
        AutoCompaction::Revision(retention) => run_revision(ctx, retention).await,
    }
}

/// The periodic mode's schedule, apart from the clock (tested on its own).
struct PeriodicSchedule {
    compact_every: Duration,
    step: Duration,
    /// Revisions noted every `step`, oldest first; the oldest is the one from
    /// `period` ago.
    noted: VecDeque<i64>,
    keep: usize,
    last_success: Instant,
    /// The first compaction waits for the whole retention, later ones for
    /// `compact_every`.
    wait: Duration,
}

impl PeriodicSchedule {
    fn new(period: Duration, now: Instant) -> PeriodicSchedule {
        let compact_every = period.min(HOUR);
        let step = (compact_every / 10).max(MIN_STEP);
        let keep = (period.as_nanos() / step.as_nanos()).min(100_000) as usize + 1;
        PeriodicSchedule {
            compact_every,
            step,
            noted: VecDeque::with_capacity(keep + 1),
            keep,
            last_success: now,
            wait: period,
        }
    }

    fn note(&mut self, revision: i64) {
        self.noted.push_back(revision);
        if self.noted.len() > self.keep {
            self.noted.pop_front();
        }
    }

    /// After a step: the revision to compact now, if any.
    fn due(&mut self, now: Instant, is_leader: bool) -> Option<i64> {
        if !is_leader || now.saturating_duration_since(self.last_success) < self.wait {
            return None;
        }
        self.wait = self.compact_every;
        self.noted.front().copied()
    }

    fn succeeded(&mut self, now: Instant) {
        self.last_success = now;
    }
}

async fn run_periodic(ctx: ServerContext, period: Duration) {
    let mut schedule = PeriodicSchedule::new(period, Instant::now());
    let step = schedule.step;
    loop {
        schedule.note(ctx.node.store().current_revision());
        tokio::time::sleep(step).await;
        let Some(revision) = schedule.due(Instant::now(), ctx.node.is_leader()) else {
            continue;
        };
        tracing::info!(
            revision,
            compact_period = ?period,
            "starting auto periodic compaction"
        );
        let started = Instant::now();
        match compact_at(&ctx, revision).await {
            Ok(()) => {
                schedule.succeeded(Instant::now());
                tracing::info!(
                    revision,
                    compact_period = ?period,
                    took = ?started.elapsed(),
                    "completed auto periodic compaction"
                );
            }
            Err(error) => tracing::warn!(
                revision,
                compact_period = ?period,
                retry_interval = ?step,
                error,
                "failed auto periodic compaction"
            ),
        }
    }
}

/// The revision mode's choice, apart from the clock (tested on its own).
struct RevisionSchedule {
    retention: i64,
    last: i64,
}

impl RevisionSchedule {
    /// Every interval: the revision to compact now, if any.
    fn due(&self, current: i64, is_leader: bool) -> Option<i64> {
        let revision = current.saturating_sub(self.retention);
        (is_leader && revision > 0 && revision != self.last).then_some(revision)
    }
}

async fn run_revision(ctx: ServerContext, retention: i64) {
    let mut schedule = RevisionSchedule { retention, last: 0 };
    loop {
        tokio::time::sleep(REVISION_MODE_INTERVAL).await;
        let Some(revision) =
            schedule.due(ctx.node.store().current_revision(), ctx.node.is_leader())
        else {
            continue;
        };
        tracing::info!(
            revision,
            revision_compaction_retention = retention,
            "starting auto revision compaction"
        );
        let started = Instant::now();
        match compact_at(&ctx, revision).await {
            Ok(()) => {
                schedule.last = revision;
                tracing::info!(
                    revision,
                    revision_compaction_retention = retention,
                    took = ?started.elapsed(),
                    "completed auto revision compaction"
                );
            }
            Err(error) => tracing::warn!(
                revision,
                revision_compaction_retention = retention,
                retry_interval = ?REVISION_MODE_INTERVAL,
                error,
                "failed auto revision compaction"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
