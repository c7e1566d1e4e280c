//! The peer stream's wire format. A connection opens with [`MAGIC`] from the
//! client and [`ACK`] from the server (both in the clear, before any TLS
//! handshake), then carries one request frame and one answer frame at a time:
//! a 4-byte big-endian body length, a 1-byte tag, the body. A request's tag is
//! its [`Kind`] and its body a protobuf message; an answer's tag is
//! [`ANSWER_OK`] with the protobuf answer, or [`ANSWER_ERROR`] with a 4-byte
//! gRPC status code and the status message.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::network::MAX_PEER_MESSAGE;

/// What a client sends first: as long as HTTP/2's connection preface, so that
/// a member of an older version (a gRPC server, plain or TLS) reads it whole,
/// finds it is not what it expects and closes the connection. An HTTP/2
/// client's first 24 bytes are that preface and a TLS client's a handshake
/// record, so the peer port tells the three apart from the first 24 bytes.
pub const MAGIC: &[u8; 24] = b"CAIRN PEER STREAM v1\r\n\r\n";

/// What a server that speaks the peer stream answers to [`MAGIC`].
pub const ACK: &[u8; 8] = b"CAIRNOK1";

/// The answer tag of a successful call.
pub const ANSWER_OK: u8 = 0;

/// The answer tag of a call the server refused (a gRPC status).
pub const ANSWER_ERROR: u8 = 1;

/// The calls the peer stream carries: the hot ones of the `cairnpb.Peer`
/// service, with the same request and answer messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// `Peer.Raft`: `RaftMessage` → `RaftMessage`.
    Raft = 1,
    /// `Peer.ReadIndex`: `ReadIndexRequest` → `ReadIndexResponse`.
    ReadIndex = 2,
}

impl Kind {
    pub fn from_tag(tag: u8) -> Option<Kind> {
        match tag {
            1 => Some(Kind::Raft),
            2 => Some(Kind::ReadIndex),
            _ => None,
        }
    }
}

/// A frame holding the protobuf `msg`, encoded straight into the frame's
/// buffer so that it goes out in one write.
pub fn message<M: prost::Message>(tag: u8, msg: &M) -> io::Result<Vec<u8>> {
    let mut frame = header(tag, msg.encoded_len())?;
    msg.encode(&mut frame)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(frame)
}

/// A frame holding `body` as it is.
pub fn raw(tag: u8, body: &[u8]) -> io::Result<Vec<u8>> {
    let mut frame = header(tag, body.len())?;
    frame.extend_from_slice(body);
    Ok(frame)
}

/// A frame's header in a buffer with room for its body.
fn header(tag: u8, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_PEER_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("peer message of {len} bytes is over the limit of {MAX_PEER_MESSAGE}"),
        ));
    }
    let mut frame = Vec::with_capacity(5 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.push(tag);
    Ok(frame)
}

/// An error answer's body: the status code, then its message.
pub fn encode_status(status: &tonic::Status) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + status.message().len());
    body.extend_from_slice(&(status.code() as i32).to_be_bytes());
    body.extend_from_slice(status.message().as_bytes());
    body
}

/// The status an error answer's body holds.
pub fn decode_status(body: &[u8]) -> io::Result<tonic::Status> {
    let (code, message) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("an error answer shorter than its status code"))?;
    Ok(tonic::Status::new(
        tonic::Code::from_i32(i32::from_be_bytes(*code)),
        String::from_utf8_lossy(message).into_owned(),
    ))
}

/// Sends a frame made by [`message`] or [`raw`].
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> io::Result<()> {
    w.write_all(frame).await?;
    w.flush().await
}

/// The next frame, or None when the other side closed the connection between
/// frames. A connection closed inside a frame is an error. The body is read as
/// it arrives, so a bogus length cannot make the reader allocate it up front.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    let first = r.read(&mut header).await?;
    if first == 0 {
        return Ok(None);
    }
    r.read_exact(&mut header[first..]).await?;
    let [l0, l1, l2, l3, tag] = header;
    let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    if len > MAX_PEER_MESSAGE {
        return Err(bad(format!(
            "a peer frame of {len} bytes is over the limit of {MAX_PEER_MESSAGE}"
        )));
    }
    // Read in pieces of at most 1 MiB, each allocated when the one before
    // has arrived.
    let mut body = Vec::new();
    while body.len() < len {
        let start = body.len();
        body.resize(start + (len - start).min(1 << 20), 0);
        r.read_exact(&mut body[start..]).await?;
    }
    Ok(Some((tag, body)))
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}
