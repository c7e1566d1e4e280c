//! Member and cluster IDs, derived exactly as etcd derives them so that the same
//! `--initial-cluster` and `--initial-cluster-token` always give the same IDs.
//!
//! member ID  = first 8 bytes (big-endian) of SHA-1(sorted peer URLs joined + token)
//! cluster ID = first 8 bytes (big-endian) of SHA-1(sorted member IDs as 8-byte big-endian)

use sha1::{Digest, Sha1};

use crate::types::MemberId;

/// The ID etcd gives a member of a newly bootstrapped cluster.
pub fn member_id(peer_urls: &[String], cluster_token: &str) -> MemberId {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut hasher = Sha1::new();
    hasher.update(urls.concat().as_bytes());
    hasher.update(cluster_token.as_bytes());
    first_u64(&hasher.finalize())
}

/// The ID etcd gives a cluster made of these members.
pub fn cluster_id(member_ids: &[MemberId]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut hasher = Sha1::new();
    for id in ids {
        hasher.update(id.to_be_bytes());
    }
    first_u64(&hasher.finalize())
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    // IDs printed by a real etcd 3.5.1 started with
    // `--initial-cluster default=http://localhost:2380` and the default token.
    #[test]
    fn default_member_matches_etcd() {
        let id = member_id(&["http://localhost:2380".to_string()], "etcd-cluster");
        assert_eq!(format!("{id:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[id])), "cdf818194e3a8c32");
    }

    #[test]
    fn order_of_urls_does_not_matter() {
        let a = member_id(&["http://b:1".into(), "http://a:1".into()], "t");
        let b = member_id(&["http://a:1".into(), "http://b:1".into()], "t");
        assert_eq!(a, b);
        assert_ne!(
            a,
            member_id(&["http://a:1".into(), "http://b:1".into()], "u")
        );
    }
}
