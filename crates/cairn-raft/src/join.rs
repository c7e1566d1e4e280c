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
        for urls in &others {
            match identify(channels, urls).await {
                Ok(reply) => return identity_from(cfg, &mine, reply),
                Err(e) => last_error = format!("{}: {e}", urls.join(",")),
            }
        }
        if Instant::now() >= deadline {
            return Err(NodeError::Config(format!(
                "could not retrieve cluster information from the given URLs (last error: {last_error})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn identify(channels: &PeerChannels, urls: &[String]) -> Result<IdentifyResponse, String> {
    let mut client = channels.client(urls)?;
    let mut request = tonic::Request::new(IdentifyRequest {});
    request.set_timeout(Duration::from_secs(2));
    client
        .identify(request)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| s.message().to_string())
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
    })
}
