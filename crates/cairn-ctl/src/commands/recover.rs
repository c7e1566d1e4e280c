//! `cairnctl recover`: one-command recovery from quorum loss.
//!
//! - Online (`--endpoints`, the default): inspects every reachable member through
//!   Cairn's Recovery service (other members' URLs are learned from the
//!   membership), prints the plan and, with `--yes`, carries it out: the freshest
//!   survivor becomes a one-member cluster, the other survivors move their data
//!   aside and rejoin as learners.
//! - Offline (`--data-dir D`), for when no member process is running: the same to
//!   one stopped survivor's data dir.
//! - `--from-snapshot FILE --data-dir D`, for when every data dir is lost.
//!
//! The kept data is everything the chosen member applied plus every entry of its
//! log; the revision is bumped and marked compacted. Members of the old cluster
//! that come back are told their cluster was superseded. Without `--yes` nothing
//! is changed: the plan is the dry run.

use std::time::Instant;

use cairn_proto::cairnpb::InspectResponse;
use cairn_raft::bootstrap;

use super::Ctx;
use crate::cli::RecoverArgs;
use crate::error::CtlError;

fn io(e: std::io::Error) -> CtlError {
    CtlError::error(e.to_string())
}

pub fn recover(ctx: &mut Ctx<'_>, a: &RecoverArgs) -> Result<(), CtlError> {
    if !a.from_snapshot.is_empty() {
        return from_snapshot(ctx, a);
    }
    if a.data_dir.is_empty() {
        return plan_online(ctx, a);
    }
    if a.bump_revision < 0 {
        return Err(CtlError::bad_args("--bump-revision must not be negative"));
    }
    let dir = std::path::PathBuf::from(&a.data_dir);
    let r = bootstrap::inspect(&dir).map_err(|e| CtlError::error(e.to_string()))?;
    let id = &r.identity;
    let unapplied = r.last_log_index.saturating_sub(r.applied_index);
    let not_known_committed = r.last_log_index.saturating_sub(r.committed_index);
    let bumped = r.revision.saturating_add(a.bump_revision);
    let mut plan = String::new();
    plan.push_str(&format!(
        "Data dir {}: member {:x} ({:?}) of cluster {:x}\n",
        dir.display(),
        id.member_id,
        id.name,
        id.cluster_id
    ));
    plan.push_str(&format!(
        "  applied index {}, committed index {}, last log index {}\n  revision {} (compacted at {}), {} keys\n",
        r.applied_index, r.committed_index, r.last_log_index, r.revision, r.compact_revision, r.keys
    ));
    plan.push_str(&format!(
        "  membership it last applied ({} members):\n",
        r.members.len()
    ));
    for (mid, urls, voter) in &r.members {
        plan.push_str(&format!(
            "    {mid:x} {} {}\n",
            urls.join(","),
            if *voter { "voter" } else { "learner" }
        ));
    }
    plan.push_str(
        "\nWhat is kept: every write this member holds: the ones it applied and every entry of its log.\n",
    );
    plan.push_str(
        "What may be lost: writes the old cluster acknowledged that only unreachable members hold; \
         run this on the member whose log is freshest (highest last log term, then index).\n",
    );
    plan.push_str("\nPlan:\n");
    plan.push_str(&format!(
        "  1. apply the {unapplied} log entries not applied yet ({not_known_committed} of them not known committed: a write that never committed was never acknowledged, so keeping it is allowed)\n"
    ));
    plan.push_str(&format!(
        "  2. make member {:x} a one-member cluster with a new cluster ID (its member ID is kept)\n",
        id.member_id
    ));
    if a.bump_revision > 0 {
        plan.push_str(&format!(
            "  3. move the revision from {} to {bumped} and mark it compacted: clients and watchers see a compaction, never a revision going backwards\n",
            r.revision
        ));
    } else {
        plan.push_str("  3. keep the revision as it is (--bump-revision 0)\n");
    }
    plan.push_str(&format!(
        "  4. record that cluster {:x} was superseded: its members that come back stop instead of serving\n",
        id.cluster_id
    ));
    plan.push_str(
        "Afterwards: start cairn on this data dir as before, then add members with empty data dirs \
         (`cairn --join <this member's client URL>` or `member add`). Other members' old data dirs \
         must be moved aside before they rejoin.\n",
    );
    if !show_plan(ctx, &plan, a.yes)? {
        return Ok(());
    }
    let started = Instant::now();
    let bump = (a.bump_revision > 0).then_some(a.bump_revision);
    let identity =
        bootstrap::force_new_cluster(&dir, bump).map_err(|e| CtlError::error(e.to_string()))?;
    report_done(ctx, started, &identity, r.revision, &dir)
}

/// Prints the plan; without `--yes` says nothing changed. Returns whether to
/// carry it out.
fn show_plan(ctx: &mut Ctx<'_>, plan: &str, yes: bool) -> Result<bool, CtlError> {
    ctx.out.write_all(plan.as_bytes()).map_err(io)?;
    if !yes {
        writeln!(
            ctx.out,
            "\nNothing was changed. Run again with --yes to carry out this plan."
        )
        .map_err(io)?;
    }
    Ok(yes)
}

/// The closing line of an offline recovery: what `dir` holds now.
fn report_done(
    ctx: &mut Ctx<'_>,
    started: Instant,
    identity: &cairn_raft::datadir::Identity,
    revision_before: i64,
    dir: &std::path::Path,
) -> Result<(), CtlError> {
    let after = bootstrap::inspect(dir).map_err(|e| CtlError::error(e.to_string()))?;
    writeln!(
        ctx.out,
        "\nDone in {:?}: member {:x} is now the one-member cluster {:x}; revision {} -> {} (compacted at {}), {} keys.",
        started.elapsed(),
        identity.member_id,
        identity.cluster_id,
        revision_before,
        after.revision,
        after.compact_revision,
        after.keys
    )
    .map_err(io)
}

/// `--from-snapshot FILE --data-dir D`: when every data dir is lost, builds
/// `D` from an etcd snapshot as a one-member cluster (new cluster ID), with the
/// revision bumped and marked compacted; other members then `--join` it.
fn from_snapshot(ctx: &mut Ctx<'_>, a: &RecoverArgs) -> Result<(), CtlError> {
    if a.data_dir.is_empty() {
        return Err(CtlError::bad_args(
            "--from-snapshot needs --data-dir (the new member's data dir, which must not exist yet)",
        ));
    }
    if a.bump_revision < 0 {
        return Err(CtlError::bad_args("--bump-revision must not be negative"));
    }
    let file = std::path::PathBuf::from(&a.from_snapshot);
    let bytes =
        std::fs::read(&file).map_err(|e| CtlError::error(format!("{}: {e}", file.display())))?;
    let status = cairn_snapshot::file::status(&bytes)
        .map_err(|e| CtlError::error(format!("{}: {e}", file.display())))?;
    let urls: Vec<String> = a
        .initial_advertise_peer_urls
        .split(',')
        .map(str::to_string)
        .collect();
    let mut plan = format!(
        "Snapshot {}: revision {}, {} entries, hash {:x}\n\nPlan:\n",
        file.display(),
        status.revision,
        status.total_keys,
        status.hash
    );
    plan.push_str(&format!(
        "  1. create {} as member {:?} ({}) of a new one-member cluster holding the snapshot's data\n",
        a.data_dir, a.name, a.initial_advertise_peer_urls
    ));
    if a.bump_revision > 0 {
        plan.push_str(&format!(
            "  2. move the revision forward by {} and mark it compacted: clients and watchers see a compaction, never a revision going backwards\n",
            a.bump_revision
        ));
    } else {
        plan.push_str("  2. keep the snapshot's revision (--bump-revision 0)\n");
    }
    plan.push_str(&format!(
        "Afterwards: start cairn with --name {} --data-dir {} --initial-advertise-peer-urls {} (and its client URLs), \
         then start the other members with empty data dirs and `--join <its client URL>`.\n\
         What is lost: every write after the snapshot was taken.\n",
        a.name, a.data_dir, a.initial_advertise_peer_urls
    ));
    if !show_plan(ctx, &plan, a.yes)? {
        return Ok(());
    }
    let started = Instant::now();
    let target = bootstrap::RestoreTarget {
        data_dir: std::path::PathBuf::from(&a.data_dir),
        name: a.name.clone(),
        initial_cluster: vec![(a.name.clone(), urls.clone())],
        initial_cluster_token: format!("cairn-recovered-{}", status.hash),
        initial_advertise_peer_urls: urls,
    };
    let identity = super::snapshot::restore_into(
        ctx,
        &file,
        &bytes,
        &target,
        false,
        a.bump_revision,
        a.bump_revision > 0,
    )?;
    report_done(ctx, started, &identity, status.revision, &target.data_dir)
}

/// What the members answered to `Recovery.Inspect`.
struct Survey {
    /// (endpoint, answer), sorted by endpoint.
    seen: Vec<(String, InspectResponse)>,
    /// "endpoint (why)" for every endpoint that did not answer.
    unreachable: Vec<String>,
    /// Client URLs learned from the membership rather than given.
    learned: Vec<String>,
}

/// `url` without its scheme and trailing slash, to compare endpoints.
fn bare(url: &str) -> &str {
    url.trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
}

/// Asks `endpoints`, then every client URL the members that answer know from
/// the membership (so one reachable endpoint is enough). Endpoints are asked
/// in waves, all of a wave at once, so that dead members cost one probe
/// timeout together rather than one each.
fn survey(
    ctx: &mut Ctx<'_>,
    parent: &crate::client::Client,
    endpoints: &[String],
) -> Result<Survey, CtlError> {
    // A member that is down refuses the connection, and the client (as
    // etcdctl's) retries that until the command timeout. The Recovery service
    // answers without quorum, within its own peer probe (at most 500 ms, see
    // cairn-raft inspect.rs), so two seconds are plenty for a member that is up.
    let timeout = ctx.globals.args.command_timeout;
    let probe_timeout =
        crate::golang::GoDuration(timeout.0.min(2 * crate::golang::GoDuration::SECOND));
    let mut found = Survey {
        seen: Vec::new(),
        unreachable: Vec::new(),
        learned: Vec::new(),
    };
    let mut queue: Vec<String> = endpoints.to_vec();
    let mut asked: Vec<String> = Vec::new();
    while !queue.is_empty() {
        let mut wave: Vec<String> = Vec::new();
        while let Some(ep) = queue.pop() {
            if !asked.iter().any(|a| bare(a) == bare(&ep)) {
                asked.push(ep.clone());
                wave.push(ep);
            }
        }
        let probes = wave.into_iter().map(|ep| {
            let mut client = parent.for_endpoint(&ep);
            async move {
                let answer = client.inspect(probe_timeout).await;
                (ep, answer)
            }
        });
        for (ep, answer) in ctx.block_on(futures::future::join_all(probes))? {
            match answer {
                Ok(r) => {
                    for url in r.members.iter().flat_map(|m| m.client_urls.iter()) {
                        if !asked.iter().any(|a| bare(a) == bare(url))
                            && !queue.iter().any(|q| bare(q) == bare(url))
                        {
                            found.learned.push(url.clone());
                            queue.push(url.clone());
                        }
                    }
                    found.seen.push((ep, r));
                }
                Err(e) => found.unreachable.push(format!("{ep} ({})", e.message)),
            }
        }
    }
    found.seen.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// The survey as the plan's first lines.
fn describe(found: &Survey) -> String {
    let mut out = String::new();
    if !found.learned.is_empty() {
        out.push_str(&format!(
            "Endpoints learned from the membership: {}\n",
            found.learned.join(", ")
        ));
    }
    out.push_str("Reachable members:\n");
    for (ep, r) in &found.seen {
        out.push_str(&format!(
            "  {ep}: member {:x} ({:?}) of cluster {:x}: last log index {}, commit index {}, applied index {}, revision {}, term {}, leader {}\n",
            r.member_id, r.name, r.cluster_id, r.last_log_index, r.commit_index, r.applied_index,
            r.revision, r.term,
            if r.leader == 0 { "none".to_string() } else { format!("{:x}", r.leader) }
        ));
        match r.pending_action.as_str() {
            "" => {}
            cairn_proto::PENDING_REJOIN => out.push_str(&format!(
                "    it accepted a rejoin through {} from an earlier recovery and is restarting to carry it out\n",
                r.pending_join_url
            )),
            other => out.push_str(&format!(
                "    it accepted a {other} from an earlier recovery and is restarting to carry it out\n"
            )),
        }
    }
    for u in &found.unreachable {
        out.push_str(&format!("  unreachable: {u}\n"));
    }
    out
}

/// Whether `join_url` reaches the member that answered `r` at `ep`.
fn reaches(join_url: &str, ep: &str, r: &InspectResponse) -> bool {
    bare(join_url) == bare(ep)
        || r.members
            .iter()
            .filter(|m| m.id == r.member_id)
            .flat_map(|m| m.client_urls.iter())
            .any(|u| bare(u) == bare(join_url))
}

/// The members of the old cluster that an earlier run already told to rejoin
/// through `target` (at `target_ep`); they restart on their own and need no
/// second message. An error if one of them rejoins through another member.
fn already_rejoining(
    members: &[(String, InspectResponse)],
    old_cluster: u64,
    target_ep: &str,
    target: &InspectResponse,
) -> Result<Vec<InspectResponse>, CtlError> {
    let mut rejoining = Vec::new();
    for (ep, r) in members {
        if r.cluster_id != old_cluster || r.pending_action != cairn_proto::PENDING_REJOIN {
            continue;
        }
        if !reaches(&r.pending_join_url, target_ep, target) {
            return Err(CtlError::error(format!(
                "member {:x} at {ep} is already rejoining through {}, but this run would keep member {:x} at {target_ep}; \
                 wait until it has restarted, then run recover again",
                r.member_id, r.pending_join_url, target.member_id
            )));
        }
        rejoining.push(r.clone());
    }
    Ok(rejoining)
}

/// The online form: inspects every `--endpoints` member through the Recovery
/// service (it answers without quorum), says whether the cluster has quorum,
/// which member is freshest and why, what may be lost, and the steps to take;
/// with `--yes` carries them out through the members themselves. A run that
/// finds the traces of an earlier, interrupted one (a member that accepted an
/// action but has not restarted yet, or a member already reset) finishes that
/// recovery instead of starting another.
fn plan_online(ctx: &mut Ctx<'_>, a: &RecoverArgs) -> Result<(), CtlError> {
    let (settings, _printer) = ctx.globals.client_config(ctx.err)?;
    let parent = crate::client::Client::new(settings.clone());
    let mut found = survey(ctx, &parent, &settings.endpoints)?;
    // A member that accepted a reset restarts as the new cluster within a
    // second: wait for that, then look again and finish the earlier run. What
    // the first look saw is kept for members that stop answering meanwhile (a
    // member told to rejoin restarts and is silent until it has joined).
    let pending_reset = found
        .seen
        .iter()
        .find(|(_, r)| r.pending_action == cairn_proto::PENDING_RESET)
        .cloned();
    if let Some((reset_ep, before)) = pending_reset {
        ctx.out.write_all(describe(&found).as_bytes()).map_err(io)?;
        writeln!(
            ctx.out,
            "\nMember {:x} at {reset_ep} is restarting to become a one-member cluster (an earlier recovery reset it); waiting for it.",
            before.member_id
        )
        .map_err(io)?;
        let reset = wait_for_reset(ctx, &parent, &reset_ep, &before)?;
        let first_look = std::mem::take(&mut found.seen);
        found = survey(ctx, &parent, &settings.endpoints)?;
        for (ep, r) in first_look {
            if !found.seen.iter().any(|(_, o)| o.member_id == r.member_id) {
                found.seen.push((ep, r));
            }
        }
        return finish_earlier_recovery(ctx, a, &parent, &found, &reset_ep, &reset);
    }
    // A member that superseded the cluster other reachable members still belong
    // to: an earlier recovery got that far. Finish it instead of starting over.
    let resumed = found
        .seen
        .iter()
        .find(|(_, r)| {
            r.superseded_cluster_id != 0
                && found
                    .seen
                    .iter()
                    .any(|(_, o)| o.cluster_id == r.superseded_cluster_id)
        })
        .cloned();
    if let Some((new_ep, new)) = resumed {
        return finish_earlier_recovery(ctx, a, &parent, &found, &new_ep, &new);
    }
    let seen = &found.seen;
    let mut out = describe(&found);
    let Some((_, first)) = seen.first() else {
        ctx.out.write_all(out.as_bytes()).map_err(io)?;
        return Err(CtlError::error(
            "no member answered; for stopped members use recover --data-dir",
        ));
    };
    let voters: Vec<u64> = first
        .members
        .iter()
        .filter(|m| !m.is_learner)
        .map(|m| m.id)
        .collect();
    let mut alive: std::collections::BTreeSet<u64> =
        seen.iter().map(|(_, r)| r.member_id).collect();
    for (_, r) in seen {
        alive.extend(r.reachable_peers.iter().copied());
    }
    let alive_voters = voters.iter().filter(|v| alive.contains(v)).count();
    let leader = seen
        .iter()
        .map(|(_, r)| r.leader)
        .find(|l| *l != 0 && alive.contains(l));
    let has_quorum = leader.is_some() && alive_voters > voters.len() / 2;
    if has_quorum {
        out.push_str(&format!(
            "\nThe cluster has quorum: {alive_voters} of {} voters are up and member {:x} leads. Recovery is for quorum loss; replace dead members with member remove/add instead.\n",
            voters.len(),
            leader.unwrap_or(0)
        ));
        ctx.out.write_all(out.as_bytes()).map_err(io)?;
        if !a.force {
            return Err(CtlError::error(
                "the cluster has quorum; refusing to recover (--force overrides)",
            ));
        }
    }
    // A member about to rejoin moves its data aside when it restarts: it
    // cannot be the one kept.
    let Some((fresh_ep, fresh)) = seen
        .iter()
        .filter(|(_, r)| r.pending_action.is_empty())
        // Raft's "more up-to-date log" order: the last entry's term, then the
        // log's length. Every entry of the chosen log is kept.
        .max_by_key(|(_, r)| {
            (
                r.last_log_term,
                r.last_log_index,
                r.commit_index,
                r.applied_index,
            )
        })
        .cloned()
    else {
        ctx.out.write_all(out.as_bytes()).map_err(io)?;
        return Err(CtlError::error(
            "every reachable member is restarting to rejoin after an earlier recovery; \
             bring back the member they rejoin through, then run recover again",
        ));
    };
    let rejoining = already_rejoining(seen, fresh.cluster_id, &fresh_ep, &fresh)?;
    let lost: Vec<String> = voters
        .iter()
        .filter(|v| !seen.iter().any(|(_, r)| r.member_id == **v))
        .map(|v| format!("{v:x}"))
        .collect();
    out.push_str(&format!(
        "\nFreshest: member {:x} at {fresh_ep} (last log term {}, last log index {}, commit index {}): by Raft's rule (last term, then length) its log is the most up to date of the reachable members; recovery keeps every entry of it.\n",
        fresh.member_id, fresh.last_log_term, fresh.last_log_index, fresh.commit_index
    ));
    out.push_str(&format!(
        "What may be lost: writes the old cluster acknowledged that only the unreachable members [{}] hold cannot be recovered.\n",
        lost.join(" ")
    ));
    out.push_str(&format!(
        "\nPlan:\n  1. stop cairn on every member, and make sure the unreachable ones stay down\n  2. on member {:x}: cairnctl recover --data-dir <its data dir> --yes (one-member cluster, every write it holds, revision bumped by {} and marked compacted)\n  3. start it; move the other members' data dirs aside and start them with --join {fresh_ep}\n",
        fresh.member_id, a.bump_revision
    ));
    if !show_plan(ctx, &out, a.yes)? {
        return Ok(());
    }
    let others: Vec<(String, InspectResponse)> = seen
        .iter()
        .filter(|(_, r)| r.member_id != fresh.member_id && r.pending_action.is_empty())
        .cloned()
        .collect();
    carry_out(ctx, a, &parent, &fresh_ep, &fresh, &others, &rejoining)
}

/// Finishes a recovery an earlier run began: `new` (at `new_ep`) already
/// leads the cluster that superseded the old one; the old cluster's reachable
/// members rejoin it, unless they already are.
fn finish_earlier_recovery(
    ctx: &mut Ctx<'_>,
    a: &RecoverArgs,
    parent: &crate::client::Client,
    found: &Survey,
    new_ep: &str,
    new: &InspectResponse,
) -> Result<(), CtlError> {
    let old = new.superseded_cluster_id;
    let rejoining = already_rejoining(&found.seen, old, new_ep, new)?;
    let stragglers: Vec<(String, InspectResponse)> = found
        .seen
        .iter()
        .filter(|(_, o)| o.cluster_id == old && o.pending_action.is_empty())
        .cloned()
        .collect();
    let mut out = describe(found);
    out.push_str(&format!(
        "\nAn earlier recovery made member {:x} at {new_ep} the cluster {:x}, superseding {old:x}; {} reachable members of the old cluster still have to rejoin it and {} are already rejoining.\nPlan:\n  1. move their data dirs aside and have them rejoin through {new_ep}\n",
        new.member_id,
        new.cluster_id,
        stragglers.len(),
        rejoining.len()
    ));
    if !show_plan(ctx, &out, a.yes)? {
        return Ok(());
    }
    let started = Instant::now();
    send_rejoins(ctx, parent, new_ep, &stragglers, "[1/2]")?;
    let expected = expected_voters(new, &stragglers, &rejoining);
    say_waiting(ctx, "[2/2]", &expected)?;
    wait_and_report(ctx, parent, new_ep, new, new, &expected, started)
}

/// Polls `ep` until the member that answered `before` is back as the leader
/// of a new one-member cluster (two minutes at most); returns what it answers
/// then.
fn wait_for_reset(
    ctx: &mut Ctx<'_>,
    parent: &crate::client::Client,
    ep: &str,
    before: &InspectResponse,
) -> Result<InspectResponse, CtlError> {
    use std::time::Duration;
    let timeout = ctx.globals.args.command_timeout;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut client = parent.for_endpoint(ep);
        if let Ok(r) = ctx.block_on(client.inspect(timeout))? {
            if r.cluster_id != before.cluster_id && r.leader == r.member_id {
                return Ok(r);
            }
        }
        if Instant::now() >= deadline {
            return Err(CtlError::error(format!(
                "member {:x} did not come back as a one-member cluster within 2 minutes; run recover again",
                before.member_id
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `endpoint` as a URL a joining member can use.
fn join_url(endpoint: &str, tls: bool) -> String {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint.to_string()
    } else if tls {
        format!("https://{endpoint}")
    } else {
        format!("http://{endpoint}")
    }
}

/// Carries out the online plan, step by step, and reports. `rejoining` are
/// members an earlier run already told to rejoin through `fresh`.
fn carry_out(
    ctx: &mut Ctx<'_>,
    a: &RecoverArgs,
    parent: &crate::client::Client,
    fresh_ep: &str,
    fresh: &InspectResponse,
    others: &[(String, InspectResponse)],
    rejoining: &[InspectResponse],
) -> Result<(), CtlError> {
    let started = Instant::now();
    let timeout = ctx.globals.args.command_timeout;
    let fail = |e: crate::client::RpcError| CtlError::error(e.message);

    // The others are told first: they restart with their data moved aside and
    // keep asking the survivor to add them until it is reset. (Told afterwards,
    // they could learn from the reset survivor that their cluster was
    // superseded and stop before the message reached them.)
    writeln!(ctx.out).map_err(io)?;
    send_rejoins(ctx, parent, fresh_ep, others, "[1/3]")?;
    pause_for_tests(ctx, "rejoin")?;

    writeln!(
        ctx.out,
        "[2/3] resetting member {:x} to a one-member cluster",
        fresh.member_id
    )
    .map_err(io)?;
    let mut client = parent.for_endpoint(fresh_ep);
    ctx.block_on(client.recovery_reset(timeout, fresh.cluster_id, a.bump_revision))?
        .map_err(fail)?;
    pause_for_tests(ctx, "reset")?;
    let reset = wait_for_reset(ctx, parent, fresh_ep, fresh)?;
    writeln!(
        ctx.out,
        "      now cluster {:x}; revision {} -> {}",
        reset.cluster_id, fresh.revision, reset.revision
    )
    .map_err(io)?;
    let expected = expected_voters(fresh, others, rejoining);
    say_waiting(ctx, "[3/3]", &expected)?;
    wait_and_report(ctx, parent, fresh_ep, fresh, &reset, &expected, started)
}

/// Test hook: with `CAIRN_TEST_PAUSE_RECOVER=<step>`, `recover --yes` stops
/// after that step and waits forever, so a test can kill it at a known point
/// and check that running it again completes the recovery.
fn pause_for_tests(ctx: &mut Ctx<'_>, step: &str) -> Result<(), CtlError> {
    if std::env::var("CAIRN_TEST_PAUSE_RECOVER").ok().as_deref() != Some(step) {
        return Ok(());
    }
    writeln!(
        ctx.out,
        "      paused after {step} (CAIRN_TEST_PAUSE_RECOVER)"
    )
    .map_err(io)?;
    ctx.out.flush().map_err(io)?;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Tells every member in `others` to move its data aside and join `new_ep`.
fn send_rejoins(
    ctx: &mut Ctx<'_>,
    parent: &crate::client::Client,
    new_ep: &str,
    others: &[(String, InspectResponse)],
    step: &str,
) -> Result<(), CtlError> {
    let timeout = ctx.globals.args.command_timeout;
    let tls = ctx.globals.tls()?.is_some() || ctx.globals.args.insecure_skip_tls_verify;
    let url = join_url(new_ep, tls);
    writeln!(
        ctx.out,
        "{step} {} other reachable members rejoin through {url}",
        others.len()
    )
    .map_err(io)?;
    for (ep, r) in others {
        let mut client = parent.for_endpoint(ep);
        let moved_to = ctx
            .block_on(client.recovery_rejoin(timeout, r.cluster_id, url.clone()))?
            .map_err(|e| CtlError::error(e.message))?;
        writeln!(
            ctx.out,
            "      member {:x} at {ep}: old data moved to {moved_to}",
            r.member_id
        )
        .map_err(io)?;
    }
    Ok(())
}

/// The names of the members the new cluster should end up with as voters:
/// the one kept, those told to rejoin now and those already rejoining.
fn expected_voters(
    kept: &InspectResponse,
    told: &[(String, InspectResponse)],
    rejoining: &[InspectResponse],
) -> Vec<String> {
    std::iter::once(kept)
        .chain(told.iter().map(|(_, r)| r))
        .chain(rejoining)
        .map(|r| r.name.clone())
        .collect()
}

/// The waiting step's line: which members must become voters.
fn say_waiting(ctx: &mut Ctx<'_>, step: &str, expected: &[String]) -> Result<(), CtlError> {
    writeln!(
        ctx.out,
        "{step} waiting for {} voters: {}",
        expected.len(),
        expected.join(", ")
    )
    .map_err(io)
}

/// Waits until every member named in `expected` is a started voter of the
/// cluster at `new_ep` (the caller says so first), then reports. `before` is the survivor as it was
/// before the reset.
fn wait_and_report(
    ctx: &mut Ctx<'_>,
    parent: &crate::client::Client,
    new_ep: &str,
    before: &InspectResponse,
    reset: &InspectResponse,
    expected: &[String],
    started: Instant,
) -> Result<(), CtlError> {
    use std::time::Duration;
    let timeout = ctx.globals.args.command_timeout;
    let fresh = before;
    let deadline = Instant::now() + Duration::from_secs(180);
    let members = loop {
        let mut client = parent.for_endpoint(new_ep);
        if let Ok(list) = ctx.block_on(client.member_list(timeout))? {
            let ready = expected.iter().all(|name| {
                list.members
                    .iter()
                    .any(|m| &m.name == name && !m.is_learner)
            });
            if ready {
                break list.members;
            }
        }
        if Instant::now() >= deadline {
            return Err(CtlError::error(
                "the other members did not all rejoin within 3 minutes; check their logs, then run recover again",
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    writeln!(
        ctx.out,
        "\nRecovered in {:?}: cluster {:x}, revision {} -> {}, members:",
        started.elapsed(),
        reset.cluster_id,
        fresh.revision,
        reset.revision
    )
    .map_err(io)?;
    for m in members {
        writeln!(
            ctx.out,
            "  {:x} {} {}",
            m.id,
            m.name,
            m.client_ur_ls.join(",")
        )
        .map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
