//! The server half of the peer port: one listener for gRPC and the peer stream.
//! Each accepted connection's first bytes say which it is; gRPC connections go
//! on to tonic with those bytes replayed (after their TLS handshake, made here
//! with the same configuration as the stream's), peer-stream
//! connections are answered here, one call at a time, by the same
//! `PeerService` methods gRPC calls reach.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cairn_proto::cairnpb::peer_server::Peer;
use cairn_proto::cairnpb::{RaftMessage, ReadIndexRequest};
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::{Request, Status};

use super::frame::{self, Kind, ACK, ANSWER_ERROR, ANSWER_OK, MAGIC};
use super::Io;
use crate::peer_service::PeerService;
use crate::RaftNode;

/// How long a new connection may take to send its first bytes, and a peer
/// stream its TLS handshake.
const OPENING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a peer-stream connection may sit idle before it is closed. A
/// member's own calls keep the connections it uses busy (heartbeats every
/// `--heartbeat-interval`); this ends those a peer left behind, such as one
/// cut off by a partition, whose close never arrived. A peer finding its idle
/// connection closed makes a new one.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// TLS of the peer port (`--peer-cert-file` and the rest), for gRPC and the
/// peer stream alike.
pub struct PeerPortTls {
    pub config: Arc<rustls::ServerConfig>,
    /// Run after each handshake with the certificate the member presented
    /// and the address it connects from; an error closes the connection.
    pub client_check: Option<PeerClientCheck>,
}

/// A check of a connecting member's certificate against its address.
pub type PeerClientCheck = Arc<
    dyn Fn(
            rustls::pki_types::CertificateDer<'static>,
            std::net::IpAddr,
        ) -> Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// The TLS side of the peer port: the handshake, then the client check.
#[derive(Clone)]
struct PeerAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    client_check: Option<PeerClientCheck>,
}

impl PeerAcceptor {
    /// The handshake on `io` from `remote`, bounded by [`OPENING_TIMEOUT`],
    /// then the client check; `None` (logged) when either fails.
    async fn accept<S>(
        &self,
        io: S,
        remote: Option<std::net::SocketAddr>,
        what: &str,
    ) -> Option<tokio_rustls::server::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let tls = match tokio::time::timeout(OPENING_TIMEOUT, self.acceptor.accept(io)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::warn!("{what} TLS handshake: {e}");
                return None;
            }
            Err(_) => return None,
        };
        let (Some(check), Some(remote)) = (&self.client_check, remote) else {
            return Some(tls);
        };
        let Some(cert) = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|cert| cert.clone().into_owned())
        else {
            return Some(tls);
        };
        match check(cert, remote.ip()).await {
            Ok(()) => Some(tls),
            Err(e) => {
                tracing::warn!(remote_addr = %remote, "rejected connection: {e}");
                None
            }
        }
    }
}

/// Serves the peer port on `listener` until the process ends.
pub fn serve_peer_port(listener: TcpListener, node: RaftNode, tls: Option<PeerPortTls>) {
    let service = Arc::new(PeerService::new(node));
    let mut builder = tonic::transport::Server::builder();
    let acceptor = tls.map(|tls| PeerAcceptor {
        acceptor: tokio_rustls::TlsAcceptor::from(tls.config),
        client_check: tls.client_check,
    });
    let (to_grpc, grpc_connections) = mpsc::channel::<GrpcConnection>(64);
    let incoming = futures::stream::unfold(grpc_connections, |mut rx| async move {
        rx.recv().await.map(|conn| (Ok::<_, io::Error>(conn), rx))
    });
    let grpc = builder.add_service(PeerService::grpc(service.clone()));
    tokio::spawn(async move {
        if let Err(e) = grpc.serve_with_incoming(incoming).await {
            tracing::error!("peer server stopped: {e}");
        }
    });
    tokio::spawn(accept(listener, service, acceptor, to_grpc));
}

async fn accept(
    listener: TcpListener,
    service: Arc<PeerService>,
    acceptor: Option<PeerAcceptor>,
    to_grpc: mpsc::Sender<GrpcConnection>,
) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _addr)) => tcp,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!("accepting a peer connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Raft messages are small writes that must not wait for the
        // other side's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("TCP_NODELAY on an accepted peer connection: {e}");
        }
        let (service, acceptor, to_grpc) = (service.clone(), acceptor.clone(), to_grpc.clone());
        tokio::spawn(async move { route(tcp, service, acceptor, to_grpc).await });
    }
}

/// Reads a connection's first bytes and hands it to the side that speaks them.
async fn route(
    mut tcp: TcpStream,
    service: Arc<PeerService>,
    acceptor: Option<PeerAcceptor>,
    to_grpc: mpsc::Sender<GrpcConnection>,
) {
    let mut opening = [0u8; MAGIC.len()];
    let got = match tokio::time::timeout(OPENING_TIMEOUT, read_up_to(&mut tcp, &mut opening)).await
    {
        Ok(Ok(got)) => got,
        Ok(Err(_)) | Err(_) => return,
    };
    if &opening[..got] == MAGIC.as_slice() {
        serve_stream(tcp, &service, acceptor).await;
    } else {
        let info = tcp.connect_info();
        // The bytes read to route the connection are read again before the rest.
        let (reader, writer) = tcp.into_split();
        let replayed = tokio::io::join(
            io::Cursor::new(opening[..got].to_vec()).chain(reader),
            writer,
        );
        let io: Box<dyn Io> = match acceptor {
            Some(acceptor) => {
                match acceptor
                    .accept(replayed, info.remote_addr(), "peer connection")
                    .await
                {
                    Some(tls) => Box::new(tls),
                    None => return,
                }
            }
            None => Box::new(replayed),
        };
        // Fails only when the gRPC server has stopped.
        let _ = to_grpc.send(GrpcConnection { io, info }).await;
    }
}

/// Fills `buf` unless the connection ends first; returns how much it read.
async fn read_up_to(tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match tcp.read(&mut buf[got..]).await? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

async fn serve_stream(mut tcp: TcpStream, service: &PeerService, acceptor: Option<PeerAcceptor>) {
    if tcp.write_all(ACK).await.is_err() {
        return;
    }
    let remote = tcp.peer_addr().ok();
    let io: Box<dyn Io> = match acceptor {
        Some(acceptor) => match acceptor.accept(tcp, remote, "peer stream").await {
            Some(tls) => Box::new(tls),
            None => return,
        },
        None => Box::new(tcp),
    };
    let mut conn = BufReader::new(io);
    loop {
        let (tag, body) = match tokio::time::timeout(IDLE_TIMEOUT, frame::read(&mut conn)).await {
            Ok(Ok(Some(frame))) => frame,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                tracing::debug!("peer stream: {e}");
                return;
            }
        };
        let answer = match answer(service, tag, &body).await {
            Ok(answer) => answer,
            Err(status) => frame::raw(ANSWER_ERROR, &frame::encode_status(&status)),
        };
        match answer {
            Ok(answer) if frame::write(&mut conn, &answer).await.is_ok() => {}
            _ => return,
        }
    }
}

/// The answer frame to a request frame.
async fn answer(
    service: &PeerService,
    tag: u8,
    body: &[u8],
) -> Result<io::Result<Vec<u8>>, Status> {
    match Kind::from_tag(tag) {
        Some(Kind::Raft) => {
            let msg = RaftMessage::decode(body).map_err(bad_request)?;
            let reply = service.raft(Request::new(msg)).await?;
            Ok(frame::message(ANSWER_OK, reply.get_ref()))
        }
        Some(Kind::ReadIndex) => {
            let msg = ReadIndexRequest::decode(body).map_err(bad_request)?;
            let reply = service.read_index(Request::new(msg)).await?;
            Ok(frame::message(ANSWER_OK, reply.get_ref()))
        }
        None => Err(Status::unimplemented(format!(
            "unknown peer stream call {tag}"
        ))),
    }
}

fn bad_request(e: prost::DecodeError) -> Status {
    Status::invalid_argument(format!("bad peer message: {e}"))
}

/// A gRPC connection for tonic: plain or TLS, with the addresses of its TCP
/// connection.
struct GrpcConnection {
    io: Box<dyn Io>,
    info: TcpConnectInfo,
}

impl AsyncRead for GrpcConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Connected for GrpcConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}
