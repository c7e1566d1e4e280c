//! The openraft type configuration: what a log entry carries, what applying one
//! returns, and what Raft knows about a member.

use std::fmt;

use cairn_proto::cairnpb::{InternalRequest, InternalResponse};
use prost::Message;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A member ID, etcd-style (derived from peer URLs and the cluster token).
pub type MemberId = u64;

/// One client command in the Raft log: an etcd request in Cairn's internal format.
/// Serialized as its protobuf bytes so the log format is the proto schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request(pub InternalRequest);

/// What applying a [`Request`] produced. Only ever handed back to the local
/// proposer; serialized as protobuf bytes for completeness.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Response(pub InternalResponse);

fn serialize_proto<M: Message, S: Serializer>(m: &M, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(&m.encode_to_vec())
}

/// Decodes what `serialize_proto` wrote. Asked for as bytes, bincode hands
/// over the whole run at once (borrowed when reading from a slice, as the peer
/// service and the log do), where a `Vec<u8>` would be read one `u8` call at a
/// time; the bytes on the wire and on disk are the same either way. Decode
/// entries from a slice or with a bincode size limit: from an unlimited
/// reader, bincode allocates whatever length the input claims before reading.
fn deserialize_proto<'de, M: Message + Default, D: Deserializer<'de>>(d: D) -> Result<M, D::Error> {
    d.deserialize_bytes(ProtoVisitor(std::marker::PhantomData))
}

struct ProtoVisitor<M>(std::marker::PhantomData<M>);

impl<'de, M: Message + Default> serde::de::Visitor<'de> for ProtoVisitor<M> {
    type Value = M;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("protobuf bytes")
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<M, E> {
        M::decode(bytes).map_err(E::custom)
    }

    // Formats without a native byte string give a sequence of `u8`.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<M, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        M::decode(bytes.as_slice()).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_proto(&self.0, s)
    }
}
impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_proto(d).map(Request)
    }
}
impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_proto(&self.0, s)
    }
}
impl<'de> Deserialize<'de> for Response {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_proto(d).map(Response)
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use cairn_proto::cairnpb::internal_request::Request as R;
        let kind = match &self.0.request {
            Some(R::Put(_)) => "put",
            Some(R::DeleteRange(_)) => "delete_range",
            Some(R::Txn(_)) => "txn",
            Some(R::Compaction(_)) => "compaction",
            Some(R::LeaseGrant(_)) => "lease_grant",
            Some(R::LeaseRevoke(_)) => "lease_revoke",
            Some(R::MemberAttributes(_)) => "member_attributes",
            Some(R::Alarm(_)) => "alarm",
            Some(R::LeaseCheckpoint(_)) => "lease_checkpoint",
            Some(R::ClusterSettings(_)) => "cluster_settings",
            None => "empty",
        };
        write!(f, "{kind}")
    }
}

/// What Raft knows about a member: its name and peer URLs (etcd's raft attributes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    pub name: String,
    pub peer_urls: Vec<String>,
    /// Added by `member add` as a voter: it enters Raft as a learner and the leader
    /// promotes it once it has caught up. etcd lists it as a voter all along.
    #[serde(default)]
    pub pending_voter: bool,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.peer_urls.join(","))
    }
}

openraft::declare_raft_types!(
    /// Cairn's Raft types: one leader per term (etcd's model), u64 member IDs.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = MemberId,
        Node = PeerNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Membership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;

/// Bytes serialised in one piece. serde serialises a plain `&[u8]` as a
/// sequence, one `u8` call per byte; bincode encodes both as a `u64` length
/// and the bytes, so what is written (and read back as a `Vec<u8>`) is the
/// same, written ~10x faster.
pub(crate) struct RawBytes<'a>(pub &'a [u8]);

impl serde::Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// A put of `key` with a `value_len`-byte value, as a Raft entry carries it
/// (for tests of what stores and sends entries).
#[cfg(test)]
pub(crate) fn test_put(proposal_id: u64, key: &[u8], value_len: usize) -> Request {
    use cairn_proto::cairnpb::internal_request;
    use cairn_proto::etcdserverpb::PutRequest;
    Request(InternalRequest {
        proposal_id,
        request: Some(internal_request::Request::Put(PutRequest {
            key: key.to_vec(),
            value: (0..value_len).map(|i| i as u8).collect(),
            ..Default::default()
        })),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::{test_put, Request};

    fn put(value_len: usize) -> Request {
        test_put(42, b"key", value_len)
    }

    #[test]
    fn requests_are_stored_as_a_length_and_their_protobuf_bytes() {
        for len in [0, 1, 300, 70_000] {
            let request = put(len);
            let proto = request.0.encode_to_vec();
            // What every Cairn so far wrote and read: bincode's `Vec<u8>` layout.
            let stored = bincode::serialize(&proto).expect("encode");
            assert_eq!(bincode::serialize(&request).expect("encode"), stored);
            let back: Request = bincode::deserialize(&stored).expect("decode");
            assert_eq!(back, request);
            let from_reader: Request =
                bincode::deserialize_from(stored.as_slice()).expect("decode from a reader");
            assert_eq!(from_reader, request);
        }
    }

    #[test]
    fn formats_without_byte_strings_and_damaged_bytes() {
        let request = put(10);
        let json = serde_json::to_vec(&request).expect("json");
        let back: Request = serde_json::from_slice(&json).expect("json decode");
        assert_eq!(back, request);

        let stored = bincode::serialize(&request).expect("encode");
        for cut in 0..stored.len() {
            assert!(
                bincode::deserialize::<Request>(&stored[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut lying = stored.clone();
        lying[0] = 0xff; // a length far beyond the data
        assert!(bincode::deserialize::<Request>(&lying).is_err());
    }
}
