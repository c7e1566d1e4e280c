//! The client half of the peer stream: a few long-lived connections per peer
//! URL, each carrying one call at a time. A connection goes back to the idle
//! set only after its answer was read whole, and a call that fails or is
//! dropped (its deadline passed) drops its connection with it, so an answer
//! can never be taken for a later call's. A peer that does not answer the
//! opening bytes (a member of an older version) is called over gRPC instead.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tonic::Status;

use super::frame::{self, Kind, ACK, ANSWER_ERROR, ANSWER_OK, MAGIC};
use super::Io;

/// Idle connections kept per peer URL (calls in flight at once to one peer:
/// replication, heartbeats, read index, snapshot chunks).
const MAX_IDLE: usize = 8;

/// How long connecting (TCP, the opening bytes, TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a peer found not to speak the peer stream is called over gRPC
/// before the stream is tried again (it may have been upgraded).
const GRPC_FOR: Duration = Duration::from_secs(30);

type Connection = BufReader<Box<dyn Io>>;

/// Why a call over the peer stream did not get an answer.
#[derive(Debug)]
pub enum LaneError {
    /// The peer does not speak the peer stream: call it over gRPC.
    Unsupported,
    /// The peer refused the call, or the call failed: the same statuses a
    /// gRPC call gives.
    Status(Status),
}

impl From<Status> for LaneError {
    fn from(status: Status) -> LaneError {
        LaneError::Status(status)
    }
}

#[derive(Default)]
struct PeerState {
    idle: Vec<Connection>,
    /// Set when the peer did not answer the opening bytes.
    grpc_until: Option<Instant>,
    /// Whether the first connection was logged.
    announced: bool,
}

/// Connections to every peer, shared by all of a member's calls.
#[derive(Default)]
pub struct LaneClient {
    /// Used for `https://` peer URLs.
    tls: Option<Arc<rustls::ClientConfig>>,
    peers: Mutex<HashMap<String, PeerState>>,
}

impl LaneClient {
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>) -> LaneClient {
        LaneClient {
            tls,
            peers: Mutex::default(),
        }
    }

    fn peers(&self) -> MutexGuard<'_, HashMap<String, PeerState>> {
        // The map holds only connections and flags: a panic elsewhere while
        // it was held leaves nothing half-changed that matters.
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether calls to `url` go over gRPC for now.
    #[cfg(test)]
    pub fn uses_grpc(&self, url: &str) -> bool {
        matches!(self.checkout(url), Err(LaneError::Unsupported))
    }

    /// Calls `kind` with the protobuf `msg` at `url`, within `timeout`;
    /// returns the protobuf answer, or [`LaneError::Unsupported`] at once
    /// while the peer is called over gRPC.
    pub async fn call<M: prost::Message>(
        &self,
        url: &str,
        kind: Kind,
        msg: &M,
        timeout: Duration,
    ) -> Result<Vec<u8>, LaneError> {
        let idle = self.checkout(url)?;
        let request =
            frame::message(kind as u8, msg).map_err(|e| Status::invalid_argument(e.to_string()))?;
        match tokio::time::timeout(timeout, self.call_within(url, idle, &request)).await {
            Ok(answer) => answer,
            // The words of tonic's own deadline.
            Err(_elapsed) => Err(Status::cancelled("Timeout expired").into()),
        }
    }

    /// An idle connection to `url` if there is one (one lock per call), or
    /// Unsupported while the peer is called over gRPC.
    fn checkout(&self, url: &str) -> Result<Option<Connection>, LaneError> {
        let mut peers = self.peers();
        let Some(peer) = peers.get_mut(url) else {
            return Ok(None);
        };
        if peer.grpc_until.is_some_and(|until| Instant::now() < until) {
            return Err(LaneError::Unsupported);
        }
        Ok(peer.idle.pop())
    }

    async fn call_within(
        &self,
        url: &str,
        idle: Option<Connection>,
        request: &[u8],
    ) -> Result<Vec<u8>, LaneError> {
        if let Some(mut conn) = idle {
            match exchange(&mut conn, request).await {
                Ok(answer) => {
                    self.keep(url, conn);
                    return answer_of(answer);
                }
                // The peer closed it while it was idle (it restarted, say):
                // calls are safe to repeat (Raft messages and read index
                // requests are), so try once more on a new connection.
                Err(e) if closed_while_idle(&e) => {}
                Err(e) => return Err(transport(e)),
            }
        }
        let mut conn = self.connect(url).await?;
        let answer = exchange(&mut conn, request).await.map_err(transport)?;
        self.keep(url, conn);
        answer_of(answer)
    }

    /// Puts a connection whose answer was read whole back for the next call.
    /// Its peer's entry exists: [`Self::connect`] made it.
    fn keep(&self, url: &str, conn: Connection) {
        if let Some(peer) = self.peers().get_mut(url) {
            if peer.idle.len() < MAX_IDLE {
                peer.idle.push(conn);
            }
        }
    }

    async fn connect(&self, url: &str) -> Result<Connection, LaneError> {
        let target = Target::parse(url).map_err(Status::invalid_argument)?;
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, self.open(url, &target)).await;
        let conn = match connected {
            Ok(conn) => conn?,
            Err(_elapsed) => {
                return Err(Status::unavailable(format!(
                    "tcp connect error: connecting to {url} timed out"
                ))
                .into())
            }
        };
        let mut peers = self.peers();
        let peer = peers.entry(url.to_string()).or_default();
        if !peer.announced {
            peer.announced = true;
            tracing::info!(
                peer = url,
                "cairn: raft messages to this peer use the peer stream"
            );
        }
        Ok(conn)
    }

    async fn open(&self, url: &str, target: &Target) -> Result<Connection, LaneError> {
        let mut tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| Status::unavailable(format!("tcp connect error: {url}: {e}")))?;
        tcp.set_nodelay(true).map_err(transport)?;
        tcp.write_all(MAGIC).await.map_err(transport)?;
        let mut ack = [0u8; ACK.len()];
        // An older member closes the connection (or answers HTTP/2 or TLS
        // bytes) on seeing the opening bytes.
        if tcp.read_exact(&mut ack).await.is_err() || &ack != ACK {
            self.use_grpc(url);
            return Err(LaneError::Unsupported);
        }
        let io: Box<dyn Io> = if target.https {
            let tls = self.tls.clone().ok_or_else(|| {
                Status::failed_precondition(format!(
                    "peer URL {url} needs TLS but no --peer-cert-file/--peer-key-file were given"
                ))
            })?;
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| Status::invalid_argument(format!("peer URL {url}: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| Status::unavailable(format!("peer TLS handshake with {url}: {e}")))?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        Ok(BufReader::new(io))
    }

    fn use_grpc(&self, url: &str) {
        let mut peers = self.peers();
        let peer = peers.entry(url.to_string()).or_default();
        if peer.grpc_until.is_none() {
            tracing::info!(
                peer = url,
                "cairn: this peer does not speak the peer stream (an older version?); raft messages to it use gRPC"
            );
        }
        peer.grpc_until = Some(Instant::now() + GRPC_FOR);
        peer.idle.clear();
    }
}

/// Writes one request frame and reads its answer frame.
async fn exchange(conn: &mut Connection, request: &[u8]) -> io::Result<(u8, Vec<u8>)> {
    frame::write(conn, request).await?;
    frame::read(conn).await?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the peer closed the connection before answering",
        )
    })
}

fn closed_while_idle(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

fn answer_of((tag, body): (u8, Vec<u8>)) -> Result<Vec<u8>, LaneError> {
    match tag {
        ANSWER_OK => Ok(body),
        ANSWER_ERROR => Err(frame::decode_status(&body).map_err(transport)?.into()),
        other => Err(Status::internal(format!("peer answered with unknown tag {other}")).into()),
    }
}

/// A connection that failed mid-call: whether the peer acted on the call is
/// unknown. tonic's words for the same case, which the callers classify.
fn transport(e: io::Error) -> LaneError {
    Status::unavailable(format!("transport error: {e}")).into()
}

/// Where a peer URL points.
#[derive(Debug, PartialEq)]
struct Target {
    host: String,
    port: u16,
    https: bool,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let uri: tonic::codegen::http::Uri = url
            .parse()
            .map_err(|e| format!("bad peer URL {url}: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "bad peer URL {url}: the scheme must be http or https"
                ))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("bad peer URL {url}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target { host, port, https })
    }
}

#[cfg(test)]
mod tests;
