//! Fault-injection runs: a register workload whose every operation is
//! recorded (call and return times, outcome) runs against a cluster while a
//! nemesis driven by a seed kills, pauses and restarts members; afterwards the
//! history is checked for linearizability (`cairn-linearizability`), the
//! cluster must take writes again soon after the faults heal, and on failure
//! the history, the verdict and every member's log are left in a folder so the
//! seed can be replayed.
//!
//! Process-level faults only for now: network partitions (netns), latency and
//! membership changes are not injected yet.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_linearizability::{check, KvInput, KvModel, KvOutput, Operation, Verdict, PENDING};
use cairn_proto::etcdserverpb::{
    compare, request_op, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::client::Client;
use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};

/// One kind of fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// SIGKILL a random member, start it again after a while.
    KillMember,
    /// SIGKILL the leader, start it again after a while.
    KillLeader,
    /// SIGSTOP a random member, SIGCONT it after a while.
    PauseMember,
    /// SIGKILL every member, then start them all.
    RestartAll,
}

/// Every fault kind.
pub const ALL_FAULTS: [FaultKind; 4] = [
    FaultKind::KillMember,
    FaultKind::KillLeader,
    FaultKind::PauseMember,
    FaultKind::RestartAll,
];

/// What to run.
#[derive(Debug, Clone)]
pub struct FaultRunConfig {
    pub seed: u64,
    /// How long the workload and the nemesis run.
    pub duration: Duration,
    pub clients: usize,
    /// Keys the registers live on (`reg/000`...).
    pub keys: usize,
    pub faults: Vec<FaultKind>,
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
            check_budget: Duration::from_secs(60),
        }
    }
}

/// What a run found.
#[derive(Debug)]
pub struct FaultRunReport {
    pub seed: u64,
    pub verdict: Verdict,
    pub history: Vec<Operation<KvInput, KvOutput>>,
    /// The faults injected, in order, as text.
    pub faults: Vec<String>,
    /// Time from healing everything to the first acknowledged write.
    pub recovery: Option<Duration>,
}

impl FaultRunReport {
    /// Operations that completed with a definite answer.
    pub fn completed(&self) -> usize {
        self.history.iter().filter(|o| !o.is_pending()).count()
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
            Err(_) => {
                // Whether it took effect is unknown: it may have, at any later time.
                history.push(Operation {
                    client: id as u64,
                    input,
                    call,
                    output: KvOutput::Unknown,
                    ret: PENDING,
                });
                client = None;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(2..12))).await;
    }
    history
}

/// Resumes paused members and starts stopped ones.
fn heal(cluster: &mut Cluster) -> Result<()> {
    for i in 0..cluster.len() {
        if cluster.is_paused(i) {
            cluster.resume(i)?;
        }
        if !cluster.is_running(i) {
            cluster.start_member(i)?;
        }
    }
    Ok(())
}

/// Injects one fault, waits `hold`, heals it. Returns what it did.
async fn inject(
    cluster: &mut Cluster,
    rng: &mut StdRng,
    kind: FaultKind,
    hold: Duration,
) -> Result<String> {
    let size = cluster.len();
    let what = match kind {
        FaultKind::KillMember => {
            let i = rng.gen_range(0..size);
            cluster.kill(i)?;
            format!("kill m{i}")
        }
        FaultKind::KillLeader => match cluster.find_leader().await {
            Some(i) => {
                cluster.kill(i)?;
                format!("kill leader m{i}")
            }
            None => "kill leader: no leader to kill".to_string(),
        },
        FaultKind::PauseMember => {
            let i = rng.gen_range(0..size);
            cluster.pause(i)?;
            format!("pause m{i}")
        }
        FaultKind::RestartAll => {
            for i in 0..size {
                cluster.kill(i)?;
            }
            "kill all".to_string()
        }
    };
    tokio::time::sleep(hold).await;
    heal(cluster)?;
    Ok(format!("{what} for {hold:?}"))
}

/// Runs the workload and the nemesis on `cluster`, then checks the history.
pub async fn run(cluster: &mut Cluster, cfg: &FaultRunConfig) -> Result<FaultRunReport> {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let endpoints = cluster.endpoints();
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
    while start.elapsed() < cfg.duration && !cfg.faults.is_empty() {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..2500))).await;
        let kind = cfg.faults[rng.gen_range(0..cfg.faults.len())];
        let hold = Duration::from_millis(rng.gen_range(500..2500));
        match inject(cluster, &mut rng, kind, hold).await {
            Ok(done) => faults.push(format!("{:>6.1}s {done}", start.elapsed().as_secs_f64())),
            Err(e) => {
                nemesis_error = Some(e);
                break;
            }
        }
    }
    if cfg.faults.is_empty() {
        tokio::time::sleep(cfg.duration).await;
    }
    heal(cluster)?;
    stop.store(true, Ordering::SeqCst);
    let mut history = Vec::new();
    for c in clients {
        history.extend(
            c.await
                .map_err(|e| HarnessError::Other(format!("client task: {e}")))?,
        );
    }
    if let Some(e) = nemesis_error {
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
        recovery,
    })
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
