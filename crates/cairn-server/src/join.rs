//! `--join <client-url>`: a new member with an empty data dir adds itself to a
//! running cluster through any member's client URL, then starts as
//! `--initial-cluster-state existing` with the membership the cluster returned.
//! No hand-written `--initial-cluster`.
//!
//! It enters as a learner either way. With the cluster setting
//! `manual_learner_promotion` off (the default) it is added as a voter, which
//! Cairn keeps a learner until it has caught up and then promotes; with it on,
//! it is added as a learner and stays one until `member promote`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cairn_proto::cairnpb::settings_client::SettingsClient;
use cairn_proto::cairnpb::SettingsGetRequest;
use cairn_proto::etcdserverpb::cluster_client::ClusterClient;
use cairn_proto::etcdserverpb::{Member, MemberAddRequest, MemberListRequest};
use tonic::transport::{Channel, Endpoint};

use crate::config::ServerConfig;

/// How long a joining member keeps asking (other members may still be starting).
const JOIN_DEADLINE: Duration = Duration::from_secs(180);

/// Answers that mean "not now, ask again": the cluster is not ready, or the
/// member asked went away mid-call (during recovery the member we join through
/// restarts as the new one-member cluster while we are already asking it).
fn retryable(status: &tonic::Status) -> bool {
    let m = status.message();
    m.contains("not enough started members")
        || m.contains("unhealthy cluster")
        || m.contains("no leader")
        || m.contains("request timed out")
        // Manual promotion and another learner not promoted yet.
        || m.contains("too many learner members in cluster")
        || matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        )
        || (status.code() == tonic::Code::Unknown && m.contains("transport error"))
}

async fn connect(cfg: &ServerConfig, url: &str) -> Result<Channel> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .with_context(|| format!("--join {url}: not a URL"))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30));
    if url.starts_with("https://") {
        endpoint = endpoint
            .tls_config(cfg.client_tls.client_config()?)
            .context("--join: client TLS")?;
    }
    Ok(endpoint.connect().await?)
}

/// Whether the cluster wants joining members to stay learners until promoted
/// by hand (Cairn's `manual_learner_promotion` setting).
async fn manual_promotion(channel: Channel) -> Result<bool, tonic::Status> {
    let answer = SettingsClient::new(channel)
        .get(SettingsGetRequest {})
        .await
        .map(|r| r.into_inner().manual_learner_promotion);
    match answer {
        // Not a Cairn member: etcd's behaviour, a member add.
        Err(s) if s.code() == tonic::Code::Unimplemented => Ok(false),
        other => other,
    }
}

/// Adds this member through `url` and fills in `--initial-cluster` and
/// `--initial-cluster-state existing` from the answer.
pub async fn join(cfg: &mut ServerConfig, url: &str) -> Result<()> {
    let mine: Vec<String> = cfg
        .initial_advertise_peer_urls
        .iter()
        .map(crate::config::url_string)
        .collect();
    let deadline = Instant::now() + JOIN_DEADLINE;
    let members: Vec<Member> = loop {
        let attempt = async {
            let channel = connect(cfg, url)
                .await
                .map_err(|e| tonic::Status::unavailable(format!("{e:#}")))?;
            let as_learner = manual_promotion(channel.clone()).await?;
            let mut client = ClusterClient::new(channel);
            // With automatic promotion, a member added as a voter: Cairn keeps it
            // a learner until it has caught up, then promotes it. With manual
            // promotion, a learner that stays one until `member promote`.
            let add = client
                .member_add(MemberAddRequest {
                    peer_ur_ls: mine.clone(),
                    is_learner: as_learner,
                })
                .await;
            match add {
                Ok(r) => Ok(r.into_inner().members),
                // Added by an earlier attempt that did not get to start: reuse it.
                Err(s) if s.message() == "etcdserver: Peer URLs already exists" => {
                    let list = client
                        .member_list(MemberListRequest { linearizable: true })
                        .await?
                        .into_inner()
                        .members;
                    let me = list.iter().find(|m| {
                        let mut a = m.peer_ur_ls.clone();
                        let mut b = mine.clone();
                        a.sort();
                        b.sort();
                        a == b
                    });
                    match me {
                        Some(m) if m.name.is_empty() => Ok(list),
                        _ => Err(tonic::Status::failed_precondition(
                            "a started member already uses these peer URLs",
                        )),
                    }
                }
                Err(s) => Err(s),
            }
        };
        match attempt.await {
            Ok(members) => break members,
            Err(s) if retryable(&s) && Instant::now() < deadline => {
                tracing::info!("--join {url}: {}; retrying", s.message());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(s) => bail!("--join {url}: {}", s.message()),
        }
    };
    cfg.initial_cluster = members
        .into_iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                cfg.name.clone()
            } else {
                m.name
            };
            (name, m.peer_ur_ls)
        })
        .collect();
    cfg.initial_cluster_state_new = false;
    tracing::info!("--join {url}: added to the cluster; joining");
    Ok(())
}
