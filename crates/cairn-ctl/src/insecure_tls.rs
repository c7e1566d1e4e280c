//! `--insecure-skip-tls-verify`: TLS that does not check the server's
//! certificate chain or name (signatures on the handshake are still checked),
//! as etcdctl's flag does. Used as a tonic connector: the channel itself speaks
//! plain HTTP/2 over the TLS stream this connector opens.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use cairn_raft::accept_any_server::AcceptAnyServer;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens TLS connections without verifying the server; presents the client
/// certificate when one is given.
#[derive(Clone, Debug)]
pub struct InsecureTlsConnector {
    config: Arc<rustls::ClientConfig>,
}

impl InsecureTlsConnector {
    /// `cert_and_key`: PEM client certificate chain and key, if any.
    pub fn new(cert_and_key: Option<(&[u8], &[u8])>) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)));
        let mut config = match cert_and_key {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("client certificate: {e}"))?;
                let key =
                    PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("client key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| e.to_string())?
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(InsecureTlsConnector {
            config: Arc::new(config),
        })
    }
}

impl tonic::codegen::Service<Uri> for InsecureTlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            let host = uri.host().ok_or("endpoint has no host")?.to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}
