//! Wire types for Cairn: etcd v3.5's client API (`etcdserverpb`, `mvccpb`,
//! `authpb`) byte-for-byte, plus Cairn's own Raft log command format (`cairnpb`).
//! Everything here is generated from `proto/` by `build.rs`.

/// etcd's MVCC types: `KeyValue`, `Event`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// etcd's auth records: `User`, `Role`, `Permission`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// etcd's v3 gRPC services and their messages.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// Cairn's replicated command format (entries of the Raft log).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod cairnpb {
    tonic::include_proto!("cairnpb");
}

/// The values of `InspectResponse.pending_action` (the member writes them,
/// `cairnctl recover` reads them): a reset or a rejoin accepted and not yet
/// carried out.
pub const PENDING_RESET: &str = "reset";
pub const PENDING_REJOIN: &str = "rejoin";

/// The `Unavailable` message a member gives every etcd API call before it has
/// published itself through Raft (its start gate). Clients and tests match on
/// it to know the request was refused before anything was proposed.
pub const NOT_JOINED_YET: &str =
    "cairn: member has not joined its cluster yet (waiting for Raft to publish it; no quorum?)";

/// Encoded `FileDescriptorSet` of every compiled proto (for gRPC reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/cairn_descriptor.bin"));

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn key_value_encodes_like_etcd() {
        let kv = mvccpb::KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            value: b"bar".to_vec(),
            lease: 0,
        };
        let expected = [
            0x0a, 0x03, 0x66, 0x6f, 0x6f, 0x10, 0x02, 0x18, 0x03, 0x20, 0x02, 0x2a, 0x03, 0x62,
            0x61, 0x72,
        ];
        assert_eq!(kv.encode_to_vec(), expected);
        assert_eq!(mvccpb::KeyValue::decode(&expected[..]).unwrap(), kv);
    }

    #[test]
    fn services_are_generated() {
        struct Unimplemented;
        impl etcdserverpb::kv_server::Kv for Unimplemented {}
        let _server = etcdserverpb::kv_server::KvServer::new(Unimplemented);
        let _client: Option<etcdserverpb::kv_client::KvClient<tonic::transport::Channel>> = None;
        assert!(!FILE_DESCRIPTOR_SET.is_empty());
    }
}

/// The standard gRPC health-checking service (`grpc.health.v1.Health`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod grpc_health_v1 {
    tonic::include_proto!("grpc.health.v1");
}
