//! Builds an etcd-format snapshot (bbolt file in etcd's schema) from this
//! member's local state, without Raft: that is what operators need when quorum
//! is lost. Members are this member's view of the membership. The `key` bucket
//! is laid out row by row as it is read, from the same read transaction as the
//! rest of the store's part.

use cairn_raft::RaftNode;
use cairn_snapshot::{EtcdData, Member};

use crate::context::ETCD_CLUSTER_VERSION;

/// The bbolt database bytes (no SHA-256 trailer) of a snapshot of `node`.
pub fn build(node: &RaftNode) -> anyhow::Result<Vec<u8>> {
    let status = node.status();
    let members: Vec<Member> = node
        .members()
        .into_iter()
        .map(|m| Member {
            id: m.id,
            peer_urls: m.peer_urls,
            is_learner: m.is_learner,
            name: m.name,
            client_urls: m.client_urls,
        })
        .collect();
    let voters: Vec<u64> = members
        .iter()
        .filter(|m| !m.is_learner)
        .map(|m| m.id)
        .collect();
    let learners: Vec<u64> = members
        .iter()
        .filter(|m| m.is_learner)
        .map(|m| m.id)
        .collect();
    let mut conf_state = serde_json::json!({"voters": voters, "auto_leave": false});
    if !learners.is_empty() {
        conf_state["learners"] = serde_json::json!(learners);
    }
    node.store().visit_etcd_rows(|tables, key_rows| {
        let compact = (tables.compact_revision > 0).then_some(tables.compact_revision);
        let data = EtcdData {
            leases: tables.leases,
            members,
            consistent_index: tables.consistent_index,
            term: status.term,
            compact_revision: compact,
            scheduled_compact_revision: compact,
            cluster_version: Some(ETCD_CLUSTER_VERSION.to_string()),
            extra: vec![(
                b"meta".to_vec(),
                b"confState".to_vec(),
                conf_state.to_string().into_bytes(),
            )],
            ..Default::default()
        };
        let rows = key_rows.count()?;
        cairn_snapshot::write_etcd_with_key_rows(&data, |bucket| {
            bucket.expect_entries(rows);
            key_rows.for_each(|k, v| -> anyhow::Result<()> { Ok(bucket.put(k, v)?) })
        })
    })
}
