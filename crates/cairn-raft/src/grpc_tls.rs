//! TLS for gRPC channels to `https://` peers, made here with rustls instead of
//! by tonic: the configuration is the peer stream's, offering HTTP/2, so the
//! certificate this member presents is the one its files hold when each
//! connection is made (renewed certificates need no restart), as for the
//! peer stream and the peer port.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;

/// Makes TLS connections for a tonic channel (`Endpoint::connect_with_connector_lazy`,
/// which bounds each with the endpoint's connect timeout).
#[derive(Clone)]
pub(crate) struct TlsConnect {
    config: Arc<rustls::ClientConfig>,
}

impl TlsConnect {
    /// `stream`: the peer stream's client configuration; gRPC also offers
    /// HTTP/2 by ALPN.
    pub(crate) fn new(stream: &rustls::ClientConfig) -> TlsConnect {
        let mut config = stream.clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        TlsConnect {
            config: Arc::new(config),
        }
    }
}

type Connecting =
    Pin<Box<dyn Future<Output = Result<TokioIo<TlsStream<TcpStream>>, std::io::Error>> + Send>>;

impl tonic::codegen::Service<Uri> for TlsConnect {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        Box::pin(async move {
            let invalid =
                |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
            let host = uri
                .host()
                .ok_or_else(|| invalid(format!("peer URL {uri} has no host")))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let name = ServerName::try_from(host.clone())
                .map_err(|e| invalid(format!("peer URL {uri}: {e}")))?;
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            Ok(TokioIo::new(connector.connect(name, tcp).await?))
        })
    }
}
