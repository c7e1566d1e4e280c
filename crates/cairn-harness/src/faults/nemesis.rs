//! The nemesis: the fault kinds, how one fault is injected and held, and how
//! everything is healed. Every random choice is drawn from the run's seeded
//! generator, whatever the cluster's state, so a seed replays the same
//! schedule (which member is the leader at a given moment may still differ).

use std::fmt;
use std::time::{Duration, Instant};

use cairn_proto::etcdserverpb::{MemberListRequest, MemberRemoveRequest};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::client::Client;
use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};
use crate::netns::{Network, Shape};

/// How long a replaced member may take to be a voter again.
const REJOIN_DEADLINE: Duration = Duration::from_secs(90);
/// How long removing a member may take (elections in between are retried).
const REMOVE_DEADLINE: Duration = Duration::from_secs(30);

/// One kind of fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// SIGKILL a random member, start it again after a while.
    KillMember,
    /// SIGKILL the leader, start it again after a while.
    KillLeader,
    /// SIGKILL the leader and start it again at once, before the others
    /// would campaign: it must not lead again in its old term.
    BounceLeader,
    /// SIGSTOP a random member, SIGCONT it after a while.
    PauseMember,
    /// SIGKILL every member, then start them all.
    RestartAll,
    /// Cut one member off from every other member (the leader half of the
    /// time). Network namespaces only.
    IsolateMember,
    /// Split the members in two: 1|2 on 3 members, 1|4 or 2|3 on 5.
    /// Network namespaces only.
    Partition,
    /// One member can no longer send to another (see `netns` for what that
    /// does to TCP). Network namespaces only.
    OneWayCut,
    /// `tc netem` delay, jitter and loss on one member's interface (a `tbf`
    /// rate limit on kernels without `sch_netem`). Network namespaces only.
    Netem,
    /// Remove a member through a live one, wipe its data dir, start it empty
    /// with `--join`, wait until it is a voter again. Cairn only.
    ReplaceMember,
}

/// Every fault kind.
pub const ALL_FAULTS: [FaultKind; 10] = [
    FaultKind::KillMember,
    FaultKind::KillLeader,
    FaultKind::BounceLeader,
    FaultKind::PauseMember,
    FaultKind::RestartAll,
    FaultKind::IsolateMember,
    FaultKind::Partition,
    FaultKind::OneWayCut,
    FaultKind::Netem,
    FaultKind::ReplaceMember,
];

impl FaultKind {
    /// The name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillMember => "kill",
            FaultKind::KillLeader => "kill-leader",
            FaultKind::BounceLeader => "bounce-leader",
            FaultKind::PauseMember => "pause",
            FaultKind::RestartAll => "restart-all",
            FaultKind::IsolateMember => "isolate",
            FaultKind::Partition => "partition",
            FaultKind::OneWayCut => "one-way",
            FaultKind::Netem => "netem",
            FaultKind::ReplaceMember => "replace",
        }
    }

    /// The kind named `name` (see [`FaultKind::name`]).
    pub fn parse(name: &str) -> Option<FaultKind> {
        ALL_FAULTS.into_iter().find(|k| k.name() == name)
    }

    /// Parses a comma-separated list (`kill,partition,...`; `all` for every kind).
    pub fn parse_list(list: &str) -> Result<Vec<FaultKind>> {
        if list.trim() == "all" {
            return Ok(ALL_FAULTS.to_vec());
        }
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                FaultKind::parse(s).ok_or_else(|| {
                    let known: Vec<&str> = ALL_FAULTS.iter().map(|k| k.name()).collect();
                    HarnessError::Other(format!(
                        "unknown fault {s:?}; known: {} (or all)",
                        known.join(", ")
                    ))
                })
            })
            .collect()
    }

    /// Whether the fault needs network namespaces.
    pub fn needs_network(self) -> bool {
        matches!(
            self,
            FaultKind::IsolateMember
                | FaultKind::Partition
                | FaultKind::OneWayCut
                | FaultKind::Netem
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn network(cluster: &mut Cluster, kind: FaultKind) -> Result<&mut Network> {
    cluster.network_mut().ok_or_else(|| {
        HarnessError::Other(format!(
            "fault {kind} needs network namespaces (ClusterSpec::network_namespaces, --netns)"
        ))
    })
}

/// Removes every network fault, resumes paused members and starts stopped ones.
pub(crate) fn heal(cluster: &mut Cluster) -> Result<()> {
    if let Some(network) = cluster.network_mut() {
        network.heal()?;
    }
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
pub(crate) async fn inject(
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
        FaultKind::BounceLeader => match cluster.find_leader().await {
            Some(i) => {
                cluster.kill(i)?;
                cluster.start_member(i)?;
                format!("kill leader m{i} and start it again at once")
            }
            None => "bounce leader: no leader to kill".to_string(),
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
        FaultKind::IsolateMember => {
            let pick_leader = rng.gen_bool(0.5);
            let random = rng.gen_range(0..size);
            let (i, which) = match pick_leader {
                true => match cluster.find_leader().await {
                    Some(l) => (l, "leader "),
                    None => (random, ""),
                },
                false => (random, ""),
            };
            let rest: Vec<usize> = (0..size).filter(|&j| j != i).collect();
            network(cluster, kind)?.partition(&[i], &rest)?;
            format!("isolate {which}m{i}")
        }
        FaultKind::Partition => {
            let mut all: Vec<usize> = (0..size).collect();
            all.shuffle(rng);
            let minority = rng.gen_range(1..=(size.saturating_sub(1) / 2).max(1));
            let (a, b) = all.split_at(minority.min(size.saturating_sub(1)));
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort_unstable();
            b.sort_unstable();
            network(cluster, kind)?.partition(&a, &b)?;
            format!("partition {a:?} | {b:?}")
        }
        FaultKind::OneWayCut => {
            let from = rng.gen_range(0..size);
            let to = (from + rng.gen_range(1..size.max(2))) % size;
            network(cluster, kind)?.cut(from, to)?;
            format!("cut m{from} -> m{to} (one way)")
        }
        FaultKind::Netem => {
            let i = rng.gen_range(0..size);
            let delay_ms = rng.gen_range(20..150);
            let shape = Shape {
                delay_ms,
                jitter_ms: delay_ms / 5,
                loss_percent: f64::from(rng.gen_range(0..=8u32)),
                fallback_rate_kbit: rng.gen_range(128..1024),
            };
            let applied = network(cluster, kind)?.shape(i, shape)?;
            format!("shape m{i}: {applied}")
        }
        FaultKind::ReplaceMember => {
            let i = rng.gen_range(0..size);
            let via = (i + rng.gen_range(1..size.max(2))) % size;
            replace(cluster, i, via, hold).await?
        }
    };
    if kind != FaultKind::ReplaceMember {
        tokio::time::sleep(hold).await;
    }
    heal(cluster)?;
    Ok(format!("{what} for {hold:?}"))
}

/// A client for member `i` with short timeouts (it may be unreachable).
async fn quick_client(cluster: &Cluster, i: usize) -> Result<Client> {
    Client::connect_with_timeout(
        &cluster.endpoint(i),
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .await
}

/// Removes member `i` through member `via`, holds `hold` with it gone, then
/// starts it with an empty data dir and `--join <via>` and waits until it is
/// a voter again.
async fn replace(cluster: &mut Cluster, i: usize, via: usize, hold: Duration) -> Result<String> {
    if i == via {
        return Err(HarnessError::Other(
            "replace needs at least two members".into(),
        ));
    }
    let name = cluster.name(i).to_string();
    let start = Instant::now();
    let removed_id = loop {
        let attempt = async {
            let mut c = quick_client(cluster, via).await?;
            let list = c
                .cluster
                .member_list(MemberListRequest { linearizable: true })
                .await
                .map_err(|s| HarnessError::Other(format!("MemberList: {s}")))?
                .into_inner();
            let Some(id) = list.members.iter().find(|m| m.name == name).map(|m| m.id) else {
                // An earlier attempt whose answer was lost did remove it.
                return Ok(None);
            };
            c.cluster
                .member_remove(MemberRemoveRequest { id })
                .await
                .map_err(|s| HarnessError::Other(format!("MemberRemove {id:x}: {s}")))?;
            Ok::<_, HarnessError>(Some(id))
        }
        .await;
        match attempt {
            Ok(id) => break id,
            Err(e) if start.elapsed() > REMOVE_DEADLINE => {
                return Err(HarnessError::Other(format!(
                    "replace m{i}: could not remove it through m{via} in {REMOVE_DEADLINE:?}: {e}"
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    };
    if cluster.is_running(i) {
        cluster.kill(i)?;
    }
    tokio::time::sleep(hold).await;
    let data = cluster.data_dir(i).to_path_buf();
    match std::fs::remove_dir_all(&data) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(HarnessError::io(format!("wiping {}", data.display()), e)),
    }
    let join_url = cluster.endpoint(via);
    cluster.set_join(i, String::new())?;
    cluster.set_member_args(i, vec!["--join".into(), join_url])?;
    cluster.start_member(i)?;
    let rejoin = Instant::now();
    cluster.wait_healthy(i, REJOIN_DEADLINE).await?;
    loop {
        let voter = async {
            let mut c = quick_client(cluster, via).await.ok()?;
            let list = c
                .cluster
                .member_list(MemberListRequest { linearizable: true })
                .await
                .ok()?
                .into_inner();
            list.members
                .iter()
                .find(|m| m.name == name)
                .map(|m| !m.is_learner)
        }
        .await;
        // The member list shows the role asked for; the member itself says
        // whether it was promoted.
        let promoted = async {
            let mut c = quick_client(cluster, i).await.ok()?;
            c.status().await.ok().map(|s| !s.is_learner)
        };
        if voter == Some(true) && promoted.await == Some(true) {
            break;
        }
        if rejoin.elapsed() > REJOIN_DEADLINE {
            return Err(HarnessError::Member {
                index: i,
                problem: format!(
                    "rejoined with --join but not a voter after {REJOIN_DEADLINE:?} \
                     (member list entry: {voter:?}); tail of its log:\n{}",
                    cluster.log_tail(i, 30)
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let removed = removed_id.map_or_else(|| "?".to_string(), |id| format!("{id:x}"));
    Ok(format!(
        "replace m{i} (id {removed} removed through m{via}, rejoined empty with --join, voter after {:.1}s)",
        rejoin.elapsed().as_secs_f64()
    ))
}
