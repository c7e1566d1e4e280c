//! `-w protobuf`: the response's protobuf encoding, written as is.

use std::io::Write;

pub fn print(out: &mut dyn Write, message: &impl prost::Message) -> std::io::Result<()> {
    out.write_all(&message.encode_to_vec())
}
