//! The peer-stream client against small servers written here: reuse of
//! connections, a peer that closed an idle one, a late answer never taken for
//! the next call's, refused calls, and peers that do not speak the stream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{LaneClient, LaneError, Target};
use crate::peer_lane::frame::{self, Kind, ACK, ANSWER_ERROR, ANSWER_OK, MAGIC};

const SECOND: Duration = Duration::from_secs(1);

/// How a test server answers one request body.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Echo every body; a body of "slow" is answered after 300 ms.
    Echo,
    /// Answer the first call on each connection, then close it.
    CloseAfterOne,
    /// Refuse every call with a status.
    Refuse,
}

/// A peer-stream server; returns its URL and a count of accepted connections.
async fn stream_server(behaviour: Behaviour) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(tcp, behaviour));
        }
    });
    (url, accepted)
}

async fn serve(mut tcp: TcpStream, behaviour: Behaviour) {
    let mut magic = [0u8; MAGIC.len()];
    if tcp.read_exact(&mut magic).await.is_err() || &magic != MAGIC {
        return;
    }
    tcp.write_all(ACK).await.expect("ack");
    while let Ok(Some((tag, body))) = frame::read(&mut tcp).await {
        assert_eq!(tag, Kind::Raft as u8);
        let text = Vec::<u8>::decode(body.as_slice()).expect("a bytes message");
        let answer = match behaviour {
            Behaviour::Refuse => {
                let status = tonic::Status::failed_precondition("etcdserver: not leader");
                frame::raw(ANSWER_ERROR, &frame::encode_status(&status))
            }
            Behaviour::Echo | Behaviour::CloseAfterOne => {
                if text == b"slow" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                frame::message(ANSWER_OK, &text)
            }
        };
        frame::write(&mut tcp, &answer.expect("frame"))
            .await
            .expect("write");
        if matches!(behaviour, Behaviour::CloseAfterOne) {
            return;
        }
    }
}

/// Calls with `text` (a protobuf bytes message) and returns the answer's text.
async fn call(client: &LaneClient, url: &str, text: &[u8], timeout: Duration) -> Vec<u8> {
    match client.call(url, Kind::Raft, &text.to_vec(), timeout).await {
        Ok(answer) => Vec::<u8>::decode(answer.as_slice()).expect("a bytes message"),
        Err(e) => panic!("call failed: {e:?}"),
    }
}

#[tokio::test]
async fn calls_share_one_connection() {
    let (url, accepted) = stream_server(Behaviour::Echo).await;
    let client = LaneClient::new(None);
    for i in 0..5u8 {
        assert_eq!(call(&client, &url, &[i; 3], SECOND).await, vec![i; 3]);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert!(!client.uses_grpc(&url));
}

#[tokio::test]
async fn a_connection_the_peer_closed_while_idle_is_replaced() {
    let (url, accepted) = stream_server(Behaviour::CloseAfterOne).await;
    let client = LaneClient::new(None);
    assert_eq!(call(&client, &url, b"one", SECOND).await, b"one");
    // Let the server's close reach this side.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(call(&client, &url, b"two", SECOND).await, b"two");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_late_answer_is_never_taken_for_the_next_calls() {
    let (url, accepted) = stream_server(Behaviour::Echo).await;
    let client = LaneClient::new(None);
    let late = client
        .call(
            &url,
            Kind::Raft,
            &b"slow".to_vec(),
            Duration::from_millis(50),
        )
        .await;
    match late {
        Err(LaneError::Status(status)) => {
            assert_eq!(status.code(), tonic::Code::Cancelled);
            assert_eq!(status.message(), "Timeout expired");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The slow answer arrives on the first connection while this call runs.
    assert_eq!(call(&client, &url, b"next", SECOND).await, b"next");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(call(&client, &url, b"after", SECOND).await, b"after");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_call_gives_the_peers_status() {
    let (url, _) = stream_server(Behaviour::Refuse).await;
    let client = LaneClient::new(None);
    match client.call(&url, Kind::Raft, &b"x".to_vec(), SECOND).await {
        Err(LaneError::Status(status)) => {
            assert_eq!(status.code(), tonic::Code::FailedPrecondition);
            assert_eq!(status.message(), "etcdserver: not leader");
        }
        other => panic!("expected the peer's status, got {other:?}"),
    }
    // A refusal is an answer: the connection stays usable.
    assert!(client
        .call(&url, Kind::Raft, &b"y".to_vec(), SECOND)
        .await
        .is_err());
}

/// A server that reads the opening bytes and closes, as an HTTP/2 or TLS
/// server of an older member does on bytes it does not understand.
async fn closing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut opening = [0u8; 24];
            let _ = tcp.read_exact(&mut opening).await;
            let _ = tcp.write_all(b"\x00\x00\x08\x07\x00\x00\x00\x00\x00").await;
        }
    });
    url
}

#[tokio::test]
async fn a_peer_that_does_not_speak_the_stream_is_called_over_grpc() {
    let url = closing_server().await;
    let client = LaneClient::new(None);
    assert!(!client.uses_grpc(&url));
    assert!(matches!(
        client.call(&url, Kind::Raft, &b"x".to_vec(), SECOND).await,
        Err(LaneError::Unsupported)
    ));
    assert!(client.uses_grpc(&url));
}

#[tokio::test]
async fn an_unreachable_peer_is_a_connect_error() {
    // Bound, then closed: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = LaneClient::new(None);
    match client.call(&url, Kind::Raft, &b"x".to_vec(), SECOND).await {
        Err(LaneError::Status(status)) => {
            assert!(
                status.message().starts_with("tcp connect error"),
                "{status:?}"
            )
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert!(!client.uses_grpc(&url));
}

#[test]
fn peer_urls_are_parsed_with_their_default_ports() {
    let parse = |url: &str| Target::parse(url);
    assert_eq!(
        parse("https://10.0.0.1:2380"),
        Ok(Target {
            host: "10.0.0.1".into(),
            port: 2380,
            https: true
        })
    );
    assert_eq!(
        parse("http://[::1]:2380"),
        Ok(Target {
            host: "::1".into(),
            port: 2380,
            https: false
        })
    );
    assert_eq!(parse("http://m1").map(|t| t.port), Ok(80));
    assert!(parse("unix:///tmp/sock").is_err());
    assert!(parse("not a url").is_err());
}

#[tokio::test]
async fn frames_with_a_bad_length_or_cut_short_are_errors() {
    // Over the limit: refused before reading the body.
    let mut oversize: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1];
    assert!(frame::read(&mut oversize).await.is_err());
    // A body shorter than its length.
    let mut short: &[u8] = &[0, 0, 0, 10, 1, b'a', b'b'];
    let err = frame::read(&mut short).await.expect_err("cut short");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    // Closed between frames: no frame, no error.
    let mut empty: &[u8] = &[];
    assert!(frame::read(&mut empty).await.expect("clean end").is_none());
    // A whole frame.
    let bytes = frame::raw(7, b"body").expect("encode");
    assert_eq!(
        frame::read(&mut bytes.as_slice()).await.expect("read"),
        Some((7, b"body".to_vec()))
    );
    // A body read in several pieces.
    let big: Vec<u8> = (0..(5 << 19) + 7).map(|i| (i % 251) as u8).collect();
    let bytes = frame::raw(2, &big).expect("encode");
    assert_eq!(
        frame::read(&mut bytes.as_slice()).await.expect("read"),
        Some((2, big))
    );
    let status = tonic::Status::unavailable("gone");
    let back = frame::decode_status(&frame::encode_status(&status)).expect("status");
    assert_eq!(
        (back.code(), back.message()),
        (tonic::Code::Unavailable, "gone")
    );
}
