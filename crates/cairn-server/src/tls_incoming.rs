//! TLS connections of the client port, for tonic: each accepted connection
//! makes its handshake in a task of its own, with a deadline, so a slow or
//! silent client never holds up the others; finished handshakes are handed
//! to the server. Refused handshakes are logged, as etcd logs them.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connections `listener` accepts, after their TLS handshake with `config`.
pub fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> impl tokio_stream::Stream<Item = std::io::Result<TlsStream<TcpStream>>> {
    let (ready, connections) = mpsc::channel(64);
    tokio::spawn(accept(
        listener,
        tokio_rustls::TlsAcceptor::from(config),
        ready,
    ));
    tokio_stream::wrappers::ReceiverStream::new(connections)
}

async fn accept(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    ready: mpsc::Sender<std::io::Result<TlsStream<TcpStream>>>,
) {
    loop {
        let (tcp, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("accepting a client connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if ready.is_closed() {
            return;
        }
        // Nagle's algorithm off: gRPC answers are small writes, and with it
        // on they wait for the client's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("TCP_NODELAY on a client connection: {e}");
        }
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the server has stopped.
                    let _ = ready.send(Ok(tls)).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(remote_addr = %from, "rejected connection: {e}");
                }
                Err(_) => {
                    tracing::warn!(remote_addr = %from, "rejected connection: no TLS handshake within {HANDSHAKE_TIMEOUT:?}");
                }
            }
        });
    }
}
