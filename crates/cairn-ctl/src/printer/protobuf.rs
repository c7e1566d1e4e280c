//! `-w protobuf`: the response's protobuf encoding, written as is.

use std::io::Write;

pub fn print(out: &mut dyn Write, message: &impl prost::Message) -> std::io::Result<()> {
    out.write_all(&message.encode_to_vec())
}

/// The protobuf message etcdctl builds from clientv3's watch response: no
/// watch ID, cancel reason or fragment flag.
pub fn watch(w: &super::Watched) -> cairn_proto::etcdserverpb::WatchResponse {
    cairn_proto::etcdserverpb::WatchResponse {
        header: Some(w.header),
        events: w.events.clone(),
        compact_revision: w.compact_revision,
        canceled: w.canceled,
        created: w.created,
        ..Default::default()
    }
}
