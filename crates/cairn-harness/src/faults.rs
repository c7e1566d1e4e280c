//! Fault-injection runs: a register workload whose every operation is
//! recorded (call and return times, outcome) and a few watch streams run
//! against a cluster while a nemesis driven by a seed kills, pauses and
//! restarts members, partitions and shapes the network (network-namespace
//! mode) and replaces members (`nemesis`); afterwards the history is checked
//! for linearizability (`cairn-linearizability`), every watch stream is
//! compared with the committed history (`watchers`), the cluster must take
//! writes again soon after the faults heal, and on failure the history, the
//! verdict, the watch anomalies and every member's log are left in a folder
//! so the seed can be replayed.

mod nemesis;
mod watchers;

pub use nemesis::{FaultKind, ALL_FAULTS};
pub use watchers::WatchRecord;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_linearizability::{check, KvInput, KvModel, KvOutput, Operation, Verdict, PENDING};
use cairn_proto::etcdserverpb::{
    compare, request_op, Compare, DeleteRangeRequest, HashKvRequest, PutRequest, RangeRequest,
    RequestOp, TxnRequest,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::client::Client;
use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};
use watchers::WatchStop;

/// How long watchers get, once the cluster is healed, to deliver everything
/// committed.
const WATCH_CATCH_UP: Duration = Duration::from_secs(30);

/// What to run.
#[derive(Debug, Clone)]
pub struct FaultRunConfig {
    pub seed: u64,
    /// How long the workload and the nemesis run.
    pub duration: Duration,
    pub clients: usize,
    /// Keys the registers live on (`reg/000`...).
    pub keys: usize,
    /// The kinds the nemesis picks from, in a seeded order: it takes them
    /// round-robin from a shuffled list, so every listed kind is injected
    /// once the run is long enough for that many faults.
    pub faults: Vec<FaultKind>,
    /// Keep injecting past `duration` until every listed kind had its turn
    /// (schedules that must cover their kinds).
    pub inject_each: bool,
    /// Watch streams on `reg/` (0 for none).
    pub watchers: usize,
    /// Time budget of the linearizability check.
    pub check_budget: Duration,
}

impl FaultRunConfig {
    /// A run of `duration` with every fault kind and the default workload.
    pub fn new(seed: u64, duration: Duration) -> FaultRunConfig {
        FaultRunConfig {
            seed,
            duration,
            clients: 6,
            keys: 40,
            faults: ALL_FAULTS.to_vec(),
            inject_each: false,
            watchers: 3,
            check_budget: Duration::from_secs(60),
        }
    }

    /// The same with only the faults of `faults`.
    pub fn with_faults(mut self, faults: &[FaultKind]) -> FaultRunConfig {
        self.faults = faults.to_vec();
        self
    }
}

/// What a run found.
#[derive(Debug)]
pub struct FaultRunReport {
    pub seed: u64,
    pub verdict: Verdict,
    pub history: Vec<Operation<KvInput, KvOutput>>,
    /// The faults injected, in order, as text (seconds since the workload
    /// started, when the fault was injected).
    pub faults: Vec<String>,
    /// The kinds injected, in order.
    pub kinds: Vec<FaultKind>,
    /// Time from healing everything to the first acknowledged write.
    pub recovery: Option<Duration>,
    /// What each watcher received.
    pub watches: Vec<WatchRecord>,
    /// Revision the watchers started from.
    pub watch_from: i64,
    /// Last committed revision the watchers were checked up to.
    pub watch_until: i64,
    /// One line per watch anomaly (empty: every stream equals the committed
    /// history).
    pub watch_anomalies: Vec<String>,
    /// Each member's `HashKV` at `watch_until` (after the run, healed), or
    /// why it has none; the run fails unless all are equal.
    pub member_hashes: Vec<std::result::Result<u32, String>>,
}

impl FaultRunReport {
    /// Operations that completed with a definite answer.
    pub fn completed(&self) -> usize {
        self.history.iter().filter(|o| !o.is_pending()).count()
    }

    /// Whether every member has the same key-value history up to
    /// `watch_until` (equal `HashKV`; vacuously true without watchers).
    pub fn members_agree(&self) -> bool {
        let Some(Ok(first)) = self.member_hashes.first() else {
            return self.member_hashes.is_empty();
        };
        self.member_hashes.iter().all(|h| h == &Ok(*first))
    }

    /// Whether the run found nothing wrong: a linearizable history, no watch
    /// anomaly, members that agree, and a write within `recovery_limit` of
    /// healing.
    pub fn passed(&self, recovery_limit: Duration) -> bool {
        self.verdict == Verdict::Ok
            && self.watch_anomalies.is_empty()
            && self.members_agree()
            && self.recovery.is_some_and(|r| r < recovery_limit)
    }
}

fn nanos(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

/// One client: random register operations on random keys through a random
/// member, recording each; after an error it moves to another member.
async fn client_loop(
    id: usize,
    seed: u64,
    endpoints: Vec<String>,
    keys: usize,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Operation<KvInput, KvOutput>> {
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut history = Vec::new();
    let mut client: Option<Client> = None;
    let mut last_seen: Vec<Option<String>> = vec![None; keys];
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if client.is_none() {
            let e = &endpoints[rng.gen_range(0..endpoints.len())];
            client =
                Client::connect_with_timeout(e, Duration::from_millis(500), Duration::from_secs(2))
                    .await
                    .ok();
            if client.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let k = rng.gen_range(0..keys);
        let key = format!("reg/{k:03}");
        n += 1;
        let value = format!("c{id}-{n}");
        let roll = rng.gen_range(0..100);
        let call = nanos(start);
        let (input, result): (KvInput, std::result::Result<KvOutput, tonic::Status>) = if roll < 40
        {
            let r =
                c.kv.range(RangeRequest {
                    key: key.clone().into_bytes(),
                    ..Default::default()
                })
                .await
                .map(|r| {
                    let v = r
                        .into_inner()
                        .kvs
                        .into_iter()
                        .next()
                        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                    last_seen[k] = v.clone();
                    KvOutput::Get(v)
                });
            (KvInput::Get { key: key.clone() }, r)
        } else if roll < 70 {
            let r =
                c.kv.put(PutRequest {
                    key: key.clone().into_bytes(),
                    value: value.clone().into_bytes(),
                    ..Default::default()
                })
                .await
                .map(|_| KvOutput::Put);
            (
                KvInput::Put {
                    key: key.clone(),
                    value: value.clone(),
                },
                r,
            )
        } else if roll < 92 {
            let expect = last_seen[k].clone();
            let compare = match &expect {
                Some(v) => Compare {
                    result: compare::CompareResult::Equal as i32,
                    target: compare::CompareTarget::Value as i32,
                    key: key.clone().into_bytes(),
                    target_union: Some(compare::TargetUnion::Value(v.clone().into_bytes())),
                    ..Default::default()
                },
                None => Compare {
                    result: compare::CompareResult::Equal as i32,
                    target: compare::CompareTarget::Create as i32,
                    key: key.clone().into_bytes(),
                    target_union: Some(compare::TargetUnion::CreateRevision(0)),
                    ..Default::default()
                },
            };
            let r =
                c.kv.txn(TxnRequest {
                    compare: vec![compare],
                    success: vec![RequestOp {
                        request: Some(request_op::Request::RequestPut(PutRequest {
                            key: key.clone().into_bytes(),
                            value: value.clone().into_bytes(),
                            ..Default::default()
                        })),
                    }],
                    ..Default::default()
                })
                .await
                .map(|r| KvOutput::Cas(r.into_inner().succeeded));
            (
                KvInput::Cas {
                    key: key.clone(),
                    expect_value: expect,
                    new_value: value.clone(),
                },
                r,
            )
        } else {
            let r =
                c.kv.delete_range(DeleteRangeRequest {
                    key: key.clone().into_bytes(),
                    ..Default::default()
                })
                .await
                .map(|r| KvOutput::Delete(r.into_inner().deleted));
            (KvInput::Delete { key: key.clone() }, r)
        };
        match result {
            Ok(output) => history.push(Operation {
                client: id as u64,
                input,
                call,
                output,
                ret: nanos(start),
            }),
            Err(status) => {
                // A failed read changes nothing, and a member that has not
                // published itself refuses before doing anything: both are left
                // out of the history. Any other failed write may have taken
                // effect, at any later time: its outcome is unknown.
                let no_effect = matches!(input, KvInput::Get { .. })
                    || status.message() == cairn_proto::NOT_JOINED_YET;
                if !no_effect {
                    history.push(Operation {
                        client: id as u64,
                        input,
                        call,
                        output: KvOutput::Unknown,
                        ret: PENDING,
                    });
                }
                client = None;
                // Back off: a client spraying requests at a cluster without a
                // leader only adds unknown outcomes, which make the check
                // exponentially harder.
                tokio::time::sleep(Duration::from_millis(rng.gen_range(100..300))).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(2..12))).await;
    }
    history
}

/// Runs the workload and the nemesis on `cluster`, then checks the history.
pub async fn run(cluster: &mut Cluster, cfg: &FaultRunConfig) -> Result<FaultRunReport> {
    if cluster.network().is_none() {
        if let Some(k) = cfg.faults.iter().find(|k| k.needs_network()) {
            return Err(HarnessError::Other(format!(
                "fault {k} needs network namespaces (ClusterSpec::network_namespaces, --netns)"
            )));
        }
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let endpoints = cluster.endpoints();
    // Watchers start after the last revision committed before the run.
    let watch_from = current_revision(&endpoints, Duration::from_secs(30)).await? + 1;
    let watch_stop = WatchStop::default();
    let watch_tasks: Vec<_> = (0..cfg.watchers)
        .map(|w| {
            tokio::spawn(watchers::watch_loop(
                w,
                cfg.seed,
                endpoints.clone(),
                watch_from,
                watch_stop.clone(),
            ))
        })
        .collect();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..cfg.clients)
        .map(|id| {
            tokio::spawn(client_loop(
                id,
                cfg.seed,
                endpoints.clone(),
                cfg.keys,
                start,
                stop.clone(),
            ))
        })
        .collect();

    let mut faults = Vec::new();
    let mut nemesis_error = None;
    let mut order = cfg.faults.clone();
    order.shuffle(&mut rng);
    let mut turn = 0;
    let mut kinds = Vec::new();
    while !order.is_empty()
        && (start.elapsed() < cfg.duration || (cfg.inject_each && turn < order.len()))
    {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..2500))).await;
        let kind = order[turn % order.len()];
        turn += 1;
        let hold = Duration::from_millis(rng.gen_range(500..2500));
        // Operation times in the history are nanoseconds since `start`.
        let at = start.elapsed().as_secs_f64();
        match nemesis::inject(cluster, &mut rng, kind, hold).await {
            Ok(done) => {
                faults.push(format!("{at:>6.1}s {done}"));
                kinds.push(kind);
            }
            Err(e) => {
                nemesis_error = Some(e);
                break;
            }
        }
    }
    if cfg.faults.is_empty() {
        tokio::time::sleep(cfg.duration).await;
    }
    let healing = nemesis::heal(cluster);
    stop.store(true, Ordering::SeqCst);
    let mut history = Vec::new();
    for c in clients {
        history.extend(
            c.await
                .map_err(|e| HarnessError::Other(format!("client task: {e}")))?,
        );
    }
    if let Some(e) = nemesis_error.or(healing.err()) {
        watch_stop.give_up.store(true, Ordering::SeqCst);
        return Err(e);
    }

    // Healed: the cluster must take a write within a few election timeouts.
    let healed = Instant::now();
    let mut recovery = None;
    while healed.elapsed() < Duration::from_secs(30) {
        let e = &endpoints[rng.gen_range(0..endpoints.len())];
        if let Ok(mut c) =
            Client::connect_with_timeout(e, Duration::from_millis(500), Duration::from_secs(1))
                .await
        {
            if c.put("reg/healed", "yes").await.is_ok() {
                recovery = Some(healed.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every watcher must deliver everything committed up to now.
    let (watches, watch_until, watch_anomalies) =
        finish_watches(&endpoints, watch_from, &watch_stop, watch_tasks).await?;

    let member_hashes = if watch_until > 0 {
        member_hashes(&endpoints, watch_until).await
    } else {
        Vec::new()
    };

    let budget = cfg.check_budget;
    let checked = history.clone();
    let verdict = tokio::task::spawn_blocking(move || check(&KvModel, &checked, budget))
        .await
        .map_err(|e| HarnessError::Other(format!("checker: {e}")))?;
    Ok(FaultRunReport {
        seed: cfg.seed,
        verdict,
        history,
        faults,
        kinds,
        recovery,
        watches,
        watch_from,
        watch_until,
        watch_anomalies,
        member_hashes,
    })
}

/// Each member's `HashKV` at `revision`, waiting up to 30 s for it to have
/// applied that far.
async fn member_hashes(
    endpoints: &[String],
    revision: i64,
) -> Vec<std::result::Result<u32, String>> {
    let mut hashes = Vec::new();
    let start = Instant::now();
    for e in endpoints {
        let mut last = String::from("no answer");
        let hash = loop {
            let attempt = async {
                let mut c =
                    Client::connect_with_timeout(e, Duration::from_secs(1), Duration::from_secs(5))
                        .await
                        .map_err(|err| err.to_string())?;
                c.maintenance
                    .hash_kv(HashKvRequest { revision })
                    .await
                    .map(|r| r.into_inner().hash)
                    .map_err(|s| s.message().to_string())
            }
            .await;
            match attempt {
                Ok(h) => break Ok(h),
                Err(err) if start.elapsed() > Duration::from_secs(30) => {
                    break Err(format!("{e}: HashKV at {revision}: {err} (last: {last})"))
                }
                Err(err) => last = err,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        hashes.push(hash);
    }
    hashes
}

/// The cluster's current revision (a linearizable read through any member).
async fn current_revision(endpoints: &[String], deadline: Duration) -> Result<i64> {
    let start = Instant::now();
    let mut last = String::from("no attempt");
    while start.elapsed() < deadline {
        for e in endpoints {
            let attempt = async {
                let mut c =
                    Client::connect_with_timeout(e, Duration::from_secs(1), Duration::from_secs(5))
                        .await?;
                let r = c
                    .range(RangeRequest {
                        key: watchers::PREFIX.to_vec(),
                        count_only: true,
                        ..Default::default()
                    })
                    .await?;
                r.header
                    .map(|h| h.revision)
                    .ok_or_else(|| HarnessError::Other("Range answer without a header".into()))
            }
            .await;
            match attempt {
                Ok(rev) => return Ok(rev),
                Err(err) => last = err.to_string(),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(HarnessError::Other(format!(
        "no member answered a linearizable read within {deadline:?}: {last}"
    )))
}

/// Tells the watchers where to stop (the current revision), waits up to
/// [`WATCH_CATCH_UP`] for them, reads the committed history and checks every
/// stream against it. Returns the records, the last revision and the anomalies.
async fn finish_watches(
    endpoints: &[String],
    from: i64,
    stop: &WatchStop,
    tasks: Vec<tokio::task::JoinHandle<WatchRecord>>,
) -> Result<(Vec<WatchRecord>, i64, Vec<String>)> {
    if tasks.is_empty() {
        return Ok((Vec::new(), 0, Vec::new()));
    }
    let until = match current_revision(endpoints, Duration::from_secs(30)).await {
        Ok(rev) => rev,
        Err(e) => {
            stop.give_up.store(true, Ordering::SeqCst);
            return Err(e);
        }
    };
    stop.until.store(until.max(1), Ordering::SeqCst);
    let give_up = stop.give_up.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(WATCH_CATCH_UP).await;
        give_up.store(true, Ordering::SeqCst);
    });
    let mut records = Vec::new();
    for t in tasks {
        records.push(
            t.await
                .map_err(|e| HarnessError::Other(format!("watch task: {e}")))?,
        );
    }
    timer.abort();
    let committed = watchers::committed_history(endpoints, from, until, WATCH_CATCH_UP).await?;
    let anomalies = watchers::check_all(&records, &committed, from, until);
    Ok((records, until, anomalies))
}

/// Writes the history, the verdict, the faults and every member's log to
/// `test-artifacts/faults/<name>/`; returns the folder.
pub fn save_artifacts(name: &str, cluster: &Cluster, report: &FaultRunReport) -> PathBuf {
    let dir = crate::binaries::workspace_root()
        .join("test-artifacts/faults")
        .join(name);
    let _ = std::fs::create_dir_all(&dir);
    let mut text = format!(
        "seed {}\nverdict {:?}\nrecovery {:?}\nfaults:\n",
        report.seed, report.verdict, report.recovery
    );
    for f in &report.faults {
        let _ = writeln!(text, "  {f}");
    }
    let _ = writeln!(
        text,
        "watches from revision {} to {}: {} anomalies",
        report.watch_from,
        report.watch_until,
        report.watch_anomalies.len()
    );
    for a in &report.watch_anomalies {
        let _ = writeln!(text, "  {a}");
    }
    let _ = writeln!(
        text,
        "members agree at revision {}: {} (HashKV per member: {:?})",
        report.watch_until,
        report.members_agree(),
        report.member_hashes
    );
    let mut watches = String::new();
    for w in &report.watches {
        let _ = writeln!(
            watches,
            "# watcher {}: {} events, {} reconnects, error {:?}",
            w.watcher,
            w.events.len(),
            w.reconnects,
            w.error
        );
        for (rev, e) in &w.events {
            let _ = writeln!(
                watches,
                "{} {rev} {:?} {} {}",
                w.watcher, e.kind, e.key, e.value
            );
        }
    }
    let _ = std::fs::write(dir.join("watches.txt"), watches);
    let _ = std::fs::write(dir.join("summary.txt"), text);
    let mut ops = String::new();
    for op in &report.history {
        let ret = if op.is_pending() {
            "pending".to_string()
        } else {
            op.ret.to_string()
        };
        let _ = writeln!(
            ops,
            "{} {} {} {:?} {:?}",
            op.client, op.call, ret, op.input, op.output
        );
    }
    let _ = std::fs::write(dir.join("history.txt"), ops);
    for i in 0..cluster.len() {
        let _ = std::fs::write(
            dir.join(format!("{}.log", cluster.name(i))),
            cluster.read_log(i),
        );
    }
    dir
}
