//! `cairnctl recover --data-dir D [--yes]`: the offline form of one-command
//! recovery from quorum loss, for when no member process is running. It reads the
//! chosen survivor's data dir, prints what it holds and the plan, and with
//! `--yes` turns it into a one-member cluster (new cluster ID, everything it
//! applied or knows committed, revision bumped and marked compacted). Members of
//! the old cluster that come back are told their cluster was superseded.
//! Without `--yes` nothing is changed: the plan is the dry run.

use std::time::Instant;

use cairn_raft::bootstrap;

use super::Ctx;
use crate::cli::RecoverArgs;
use crate::error::CtlError;

fn io(e: std::io::Error) -> CtlError {
    CtlError::error(e.to_string())
}

pub fn recover(ctx: &mut Ctx<'_>, a: &RecoverArgs) -> Result<(), CtlError> {
    if a.data_dir.is_empty() {
        return Err(CtlError::bad_args(
            "recover needs --data-dir (the online form through running members is not implemented yet)",
        ));
    }
    if a.bump_revision < 0 {
        return Err(CtlError::bad_args("--bump-revision must not be negative"));
    }
    let dir = std::path::PathBuf::from(&a.data_dir);
    let r = bootstrap::inspect(&dir).map_err(|e| CtlError::error(e.to_string()))?;
    let id = &r.identity;
    let unapplied = r.committed_index.saturating_sub(r.applied_index);
    let uncommitted = r.last_log_index.saturating_sub(r.committed_index);
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
    plan.push_str("\nWhat is kept: every write this member applied or knows to be committed.\n");
    plan.push_str(
        "What may be lost: writes the old cluster acknowledged that only unreachable members hold; \
         run this on the member with the highest committed index.\n",
    );
    plan.push_str("\nPlan:\n");
    plan.push_str(&format!(
        "  1. apply the {unapplied} committed entries not applied yet; drop {uncommitted} uncommitted entries\n"
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
    ctx.out.write_all(plan.as_bytes()).map_err(io)?;
    if !a.yes {
        writeln!(
            ctx.out,
            "\nNothing was changed. Run again with --yes to carry out this plan."
        )
        .map_err(io)?;
        return Ok(());
    }
    let started = Instant::now();
    let bump = (a.bump_revision > 0).then_some(a.bump_revision);
    let identity =
        bootstrap::force_new_cluster(&dir, bump).map_err(|e| CtlError::error(e.to_string()))?;
    let after = bootstrap::inspect(&dir).map_err(|e| CtlError::error(e.to_string()))?;
    writeln!(
        ctx.out,
        "\nDone in {:?}: member {:x} is now the one-member cluster {:x}; revision {} -> {} (compacted at {}), {} keys.",
        started.elapsed(),
        identity.member_id,
        identity.cluster_id,
        r.revision,
        after.revision,
        after.compact_revision,
        after.keys
    )
    .map_err(io)
}
