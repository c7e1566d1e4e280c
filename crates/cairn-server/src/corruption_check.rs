//! etcd's data corruption checks, comparing this member's HashKV with the other
//! members' (asked over the peer port, `cairn_raft::peer_hash`):
//!
//! - `--experimental-initial-corrupt-check`: at start-up, before serving
//!   clients, hash the local store at its current revision and ask every peer
//!   for its hash at that revision; a peer with the same compaction point and a
//!   different hash stops this member ("found data inconsistency with peers").
//!   Peers that cannot answer are skipped, as in etcd.
//! - `--experimental-corrupt-check-time`: every interval, the leader hashes its
//!   store, asks the peers for their hash at that revision, confirms it is still
//!   leader (a ReadIndex round), hashes again, and raises the CORRUPT alarm
//!   through Raft, naming the first member found inconsistent (etcd's
//!   `checkHashKV` rules). While the alarm is raised every member refuses writes
//!   with "etcdserver: corrupt cluster" (cairn-mvcc's apply) and `/health` fails.

use std::time::Duration;

use anyhow::{bail, Result};
use cairn_mvcc::{HashKv, ALARM_CORRUPT};
use cairn_proto::cairnpb::internal_request::Request as Cmd;
use cairn_proto::etcdserverpb::alarm_request::AlarmAction;
use cairn_proto::etcdserverpb::AlarmRequest;
use cairn_raft::peer_hash::{PeerHash, PeerHashError, PeerHashKv};
use cairn_raft::RaftNode;

use crate::context::{internal_request, ServerContext};

/// The start-up check; an error stops the member.
pub async fn initial_check(node: &RaftNode, timeout: Duration) -> Result<()> {
    let me = node.member_id();
    tracing::info!(
        local_member_id = format!("{me:x}"),
        ?timeout,
        "starting initial corruption check"
    );
    let local = match node.hash_kv(0).await {
        Ok(h) => h,
        Err(e) => bail!("{me:x} failed to fetch hash ({e})"),
    };
    let peers = node.peer_hashes(local.revision, timeout).await;
    let mismatches = initial_mismatches(&local, &peers);
    if mismatches > 0 {
        bail!("{me:x} found data inconsistency with peers");
    }
    tracing::info!(
        local_member_id = format!("{me:x}"),
        "initial corruption checking passed; no corruption"
    );
    Ok(())
}

/// How many peers disagree with `local` at the same compaction point; logs
/// each peer that could not be compared, as etcd does.
fn initial_mismatches(local: &HashKv, peers: &[PeerHash]) -> usize {
    let mut mismatches = 0;
    for peer in peers {
        let remote_peer_id = format!("{:x}", peer.member_id);
        match &peer.answer {
            Ok(remote) if remote.hash != local.hash => {
                if remote.compact_revision == local.compact_revision {
                    tracing::warn!(
                        remote_peer_id,
                        remote_peer_endpoints = ?peer.peer_urls,
                        local_member_revision = local.revision,
                        local_member_compact_revision = local.compact_revision,
                        local_member_hash = local.hash,
                        remote_peer_revision = remote.revision,
                        remote_peer_compact_revision = remote.compact_revision,
                        remote_peer_hash = remote.hash,
                        "found different hash values from remote peer"
                    );
                    mismatches += 1;
                } else {
                    tracing::warn!(
                        remote_peer_id,
                        local_member_compact_revision = local.compact_revision,
                        remote_peer_compact_revision = remote.compact_revision,
                        "found different compact revision values from remote peer"
                    );
                }
            }
            Ok(_) => {}
            Err(PeerHashError::FutureRev) => tracing::warn!(
                remote_peer_id,
                local_member_revision = local.revision,
                "cannot fetch hash from slow remote peer"
            ),
            Err(PeerHashError::Compacted) => tracing::warn!(
                remote_peer_id,
                local_member_revision = local.revision,
                "cannot fetch hash from remote peer; local member is behind"
            ),
            Err(PeerHashError::Failed(error)) => tracing::warn!(
                remote_peer_id,
                requested_revision = local.revision,
                error,
                "failed hash kv request"
            ),
        }
    }
    mismatches
}

/// The periodic check: runs on every member, acts only on the leader.
pub async fn run_periodic(ctx: ServerContext, interval: Duration, timeout: Duration) {
    tracing::info!(
        local_member_id = format!("{:x}", ctx.node.member_id()),
        ?interval,
        "enabled corruption checking"
    );
    loop {
        tokio::time::sleep(interval).await;
        if !ctx.node.is_leader() {
            continue;
        }
        if let Err(e) = check_once(&ctx, timeout).await {
            tracing::warn!("failed to check hash KV: {e:#}");
        }
    }
}

/// One leader check (etcd's `checkHashKV`); raises CORRUPT on a mismatch.
async fn check_once(ctx: &ServerContext, timeout: Duration) -> Result<()> {
    let first = ctx.node.hash_kv(0).await?;
    let peers = ctx.node.peer_hashes(first.revision, timeout).await;
    ctx.node.read_barrier().await?;
    let second = ctx.node.hash_kv(0).await?;
    let answered: Vec<(u64, PeerHashKv)> = peers
        .iter()
        .filter_map(|p| p.answer.as_ref().ok().map(|a| (p.member_id, *a)))
        .collect();
    if let Some(member_id) = leader_mismatch(ctx.node.member_id(), &first, &second, &answered) {
        raise_corrupt(ctx, member_id).await;
    }
    tracing::info!(
        number_of_peers_checked = answered.len(),
        "finished peer corruption check"
    );
    Ok(())
}

/// The first member etcd's leader check finds inconsistent, if any: the
/// leader itself when its own hash changed under an unchanged revision; a
/// peer ahead of the leader in revision or compaction point, or one with the
/// leader's compaction point and another hash.
fn leader_mismatch(
    me: u64,
    first: &HashKv,
    second: &HashKv,
    peers: &[(u64, PeerHashKv)],
) -> Option<u64> {
    let mut found = Vec::new();
    if second.hash != first.hash
        && second.revision == first.revision
        && second.compact_revision == first.compact_revision
    {
        tracing::warn!(
            revision_1 = first.revision,
            compact_revision_1 = first.compact_revision,
            hash_1 = first.hash,
            revision_2 = second.revision,
            compact_revision_2 = second.compact_revision,
            hash_2 = second.hash,
            "found hash mismatch"
        );
        found.push(me);
    }
    for (id, peer) in peers {
        let follower_peer_id = format!("{id:x}");
        if peer.revision > second.revision {
            tracing::warn!(
                leader_revision = second.revision,
                follower_revision = peer.revision,
                follower_peer_id,
                "revision from follower must be less than or equal to leader's"
            );
            found.push(*id);
        }
        if peer.compact_revision > second.compact_revision {
            tracing::warn!(
                leader_compact_revision = second.compact_revision,
                follower_compact_revision = peer.compact_revision,
                follower_peer_id,
                "compact revision from follower must be less than or equal to leader's"
            );
            found.push(*id);
        }
        if peer.compact_revision == first.compact_revision && peer.hash != first.hash {
            tracing::warn!(
                leader_compact_revision = second.compact_revision,
                leader_hash = first.hash,
                follower_compact_revision = peer.compact_revision,
                follower_hash = peer.hash,
                follower_peer_id,
                "same compact revision then hashes must match"
            );
            found.push(*id);
        }
    }
    found.first().copied()
}

/// Raises CORRUPT for `member_id` through Raft (every member applies it).
async fn raise_corrupt(ctx: &ServerContext, member_id: u64) {
    let raise = internal_request(Cmd::Alarm(AlarmRequest {
        action: AlarmAction::Activate as i32,
        member_id,
        alarm: ALARM_CORRUPT,
    }));
    if let Err(e) = ctx.node.propose(raise).await {
        tracing::error!("raising the CORRUPT alarm failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(hash: u32, revision: i64, compact_revision: i64) -> HashKv {
        HashKv {
            hash,
            revision,
            compact_revision,
            hash_revision: revision,
        }
    }

    fn peer(member_id: u64, answer: Result<PeerHashKv, PeerHashError>) -> PeerHash {
        PeerHash {
            member_id,
            peer_urls: vec![format!("http://127.0.0.1:{member_id}")],
            answer,
        }
    }

    fn answer(hash: u32, revision: i64, compact_revision: i64) -> PeerHashKv {
        PeerHashKv {
            hash,
            revision,
            compact_revision,
        }
    }

    #[test]
    fn initial_check_counts_only_same_compaction_point_differences() {
        let local = hash(7, 10, 3);
        let peers = [
            peer(1, Ok(answer(7, 12, 3))),
            peer(2, Ok(answer(8, 12, 3))),
            peer(3, Ok(answer(9, 12, 5))),
            peer(4, Err(PeerHashError::FutureRev)),
            peer(5, Err(PeerHashError::Compacted)),
            peer(6, Err(PeerHashError::Failed("connection refused".into()))),
        ];
        assert_eq!(initial_mismatches(&local, &peers), 1);
        assert_eq!(initial_mismatches(&local, &peers[..1]), 0);
        assert_eq!(initial_mismatches(&local, &[]), 0);
    }

    #[test]
    fn leader_check_names_the_first_inconsistent_member() {
        let me = 100;
        let steady = hash(7, 10, 3);
        // All agree.
        let agree = [(1, answer(7, 10, 3)), (2, answer(7, 9, 3))];
        assert_eq!(leader_mismatch(me, &steady, &steady, &agree), None);
        // A follower with the same compaction point and another hash.
        let differs = [(1, answer(7, 10, 3)), (2, answer(8, 10, 3))];
        assert_eq!(leader_mismatch(me, &steady, &steady, &differs), Some(2));
        // A follower ahead of the leader in revision, or in compaction.
        assert_eq!(
            leader_mismatch(me, &steady, &steady, &[(1, answer(7, 11, 3))]),
            Some(1)
        );
        assert_eq!(
            leader_mismatch(me, &steady, &steady, &[(1, answer(9, 10, 4))]),
            Some(1)
        );
        // Another compaction point (behind): hashes are not compared.
        assert_eq!(
            leader_mismatch(me, &steady, &steady, &[(1, answer(9, 10, 2))]),
            None
        );
        // The leader's own hash changed with nothing else changing: itself first.
        let moved = hash(8, 10, 3);
        assert_eq!(leader_mismatch(me, &steady, &moved, &differs), Some(me));
        // The store moved on between the two hashes: no self-mismatch.
        assert_eq!(leader_mismatch(me, &steady, &hash(8, 11, 3), &agree), None);
    }
}
