//! Joining a running cluster (`--initial-cluster-state existing` with an empty
//! data dir), as etcd does it: ask the other members listed in
//! `--initial-cluster` who they are, find this member (added beforehand with
//! `member add`) in their membership by its peer URLs, and adopt its member ID and
//! the cluster ID. The leader then replicates the cluster's state to it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_proto::cairnpb::{IdentifyRequest, IdentifyResponse};

use crate::datadir::Identity;
use crate::errors::NodeError;
use crate::network::PeerChannels;
use crate::node::NodeConfig;

/// How long a joining member keeps asking before giving up.
const DISCOVERY_DEADLINE: Duration = Duration::from_secs(15);

fn sorted(urls: &[String]) -> Vec<String> {
    let mut v = urls.to_vec();
    v.sort();
    v
}

/// Learns this member's identity from the running cluster.
pub(crate) async fn discover_identity(
    cfg: &NodeConfig,
    channels: &PeerChannels,
) -> Result<Identity, NodeError> {
    let mine = sorted(&cfg.initial_advertise_peer_urls);
    let others: Vec<&Vec<String>> = cfg
        .initial_cluster
        .iter()
        .filter(|(_, urls)| sorted(urls) != mine)
        .map(|(_, urls)| urls)
        .collect();
    if others.is_empty() {
        return Err(NodeError::Config(
            "--initial-cluster-state existing: --initial-cluster lists no other member to join through"
                .into(),
        ));
    }
    let deadline = Instant::now() + DISCOVERY_DEADLINE;
    let mut last_error = String::new();
    loop {
        // A member that does not list us yet may simply not have applied our
        // `member add` (a learner that joined a moment ago): ask the others,
        // and ask again until the deadline.
        let mut not_listed = None;
        for urls in &others {
            match identify(channels, urls).await {
                Ok(reply) => match identity_from(cfg, &mine, reply) {
                    Ok(identity) => return Ok(identity),
                    Err(e) => not_listed = Some(e),
                },
                Err(e) => last_error = format!("{}: {e}", urls.join(",")),
            }
        }
        if Instant::now() >= deadline {
            return Err(not_listed.unwrap_or_else(|| {
                NodeError::Config(format!(
                    "could not retrieve cluster information from the given URLs (last error: {last_error})"
                ))
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks one peer who it is. The deadline covers connecting too: a peer whose
/// port is bound but not served yet (a member still joining) accepts the TCP
/// connection and then never completes the TLS or HTTP/2 handshake.
async fn identify(channels: &PeerChannels, urls: &[String]) -> Result<IdentifyResponse, String> {
    const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(2);
    let mut client = channels.client(urls)?;
    let mut request = tonic::Request::new(IdentifyRequest {});
    request.set_timeout(IDENTIFY_TIMEOUT);
    match tokio::time::timeout(IDENTIFY_TIMEOUT, client.identify(request)).await {
        Ok(answer) => answer
            .map(|r| r.into_inner())
            .map_err(|s| s.message().to_string()),
        Err(_) => Err(format!("no answer within {IDENTIFY_TIMEOUT:?}")),
    }
}

/// Asks every peer this member knows (its bootstrap members and
/// `--initial-cluster`) who they are; fails if one belongs to a cluster that
/// superseded ours. Unreachable peers are skipped: a partitioned survivor cannot
/// warn us (see docs/recovery.md).
pub(crate) async fn check_not_superseded(
    cfg: &NodeConfig,
    identity: &Identity,
) -> Result<(), NodeError> {
    let channels = PeerChannels::new(cfg.peer_tls.clone());
    let mut peers: Vec<Vec<String>> = identity
        .initial_members
        .iter()
        .filter(|(id, _)| **id != identity.member_id)
        .map(|(_, n)| n.peer_urls.clone())
        .collect();
    let mine = sorted(&cfg.initial_advertise_peer_urls);
    for (_, urls) in &cfg.initial_cluster {
        if sorted(urls) != mine && !peers.iter().any(|p| sorted(p) == sorted(urls)) {
            peers.push(urls.clone());
        }
    }
    let checks = peers.iter().map(|urls| identify(&channels, urls));
    for reply in futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
    {
        if reply.cluster_id != identity.cluster_id
            && reply.superseded_cluster_id == identity.cluster_id
        {
            return Err(NodeError::Superseded(
                crate::peer_service::superseded_message(identity.cluster_id, reply.cluster_id),
            ));
        }
    }
    Ok(())
}

fn identity_from(
    cfg: &NodeConfig,
    mine: &[String],
    reply: IdentifyResponse,
) -> Result<Identity, NodeError> {
    let me = reply
        .members
        .iter()
        .find(|m| sorted(&m.peer_urls) == mine)
        .ok_or_else(|| {
            NodeError::Config(format!(
                "member {} with peer URLs {} is not in cluster {:x}; add it first with `member add` \
                 (or check --initial-advertise-peer-urls)",
                cfg.name,
                mine.join(","),
                reply.cluster_id
            ))
        })?;
    tracing::info!(
        member = format!("{:x}", me.id),
        cluster = format!("{:x}", reply.cluster_id),
        "joining a running cluster"
    );
    Ok(Identity {
        member_id: me.id,
        cluster_id: reply.cluster_id,
        name: cfg.name.clone(),
        initial_members: BTreeMap::new(),
        superseded_cluster_id: None,
    })
}
