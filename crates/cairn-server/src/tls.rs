//! TLS for the client and peer ports, with etcd's flags: `--cert-file`,
//! `--key-file`, `--trusted-ca-file`, `--client-cert-auth` for clients and their
//! `--peer-*` twins for members. With client-cert auth on, a connection must
//! present a certificate signed by the trusted CA or the handshake fails. A
//! member presents its peer certificate to other members and checks theirs
//! against `--peer-trusted-ca-file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The TLS files of one port (client or peer), as given by the flags.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    pub client_cert_auth: bool,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
        bail!("{what} {} is not a PEM file", path.display());
    }
    Ok(bytes)
}

impl TlsFiles {
    /// Whether any TLS flag was given for this port.
    pub fn is_set(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some() || self.trusted_ca_file.is_some()
    }

    /// Checks the flags against the URLs they serve (`port`: "client" or "peer"),
    /// as etcd does at start-up.
    pub fn check(&self, port: &str, flag_prefix: &str, https: bool) -> Result<()> {
        if https && (self.cert_file.is_none() || self.key_file.is_none()) {
            bail!(
                "TLS key/cert (--{flag_prefix}cert-file, --{flag_prefix}key-file) must be provided for {port} URLs with https"
            );
        }
        if self.client_cert_auth && self.trusted_ca_file.is_none() {
            bail!("--{flag_prefix}client-cert-auth requires --{flag_prefix}trusted-ca-file");
        }
        if https {
            self.identity()?;
            self.ca()?;
        }
        Ok(())
    }

    fn identity(&self) -> Result<Identity> {
        let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) else {
            bail!("no certificate and key given");
        };
        Ok(Identity::from_pem(
            read(cert, "certificate")?,
            read(key, "key")?,
        ))
    }

    fn ca(&self) -> Result<Option<Certificate>> {
        self.trusted_ca_file
            .as_ref()
            .map(|p| read(p, "trusted CA file").map(Certificate::from_pem))
            .transpose()
    }

    /// The server side: our certificate, and the CA client certificates must be
    /// signed by when client-cert auth is on.
    pub fn server_config(&self) -> Result<ServerTlsConfig> {
        let mut config = ServerTlsConfig::new().identity(self.identity()?);
        if self.client_cert_auth {
            if let Some(ca) = self.ca()? {
                config = config.client_ca_root(ca);
            }
        }
        Ok(config)
    }

    /// The client side, for talking to other members: our certificate as the
    /// client certificate, and their server certificates checked against the CA.
    pub fn client_config(&self) -> Result<ClientTlsConfig> {
        let mut config = ClientTlsConfig::new().identity(self.identity()?);
        if let Some(ca) = self.ca()? {
            config = config.ca_certificate(ca);
        }
        Ok(config)
    }
    /// The server side in rustls' form, for the peer stream: the same
    /// certificate and client-certificate check as [`Self::server_config`].
    pub fn stream_server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let provider = crate::cipher_suites::current();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?;
        let builder = match (self.client_cert_auth, self.roots()?) {
            (true, Some(roots)) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .context("client certificate check")?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let (certs, key) = self.chain_and_key()?;
        let config = builder
            .with_single_cert(certs, key)
            .context("certificate and key")?;
        Ok(Arc::new(config))
    }

    /// The client side in rustls' form, for the peer stream: the same
    /// certificate and CA as [`Self::client_config`].
    pub fn stream_client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        let provider = crate::cipher_suites::current();
        let (certs, key) = self.chain_and_key()?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(self.roots()?.unwrap_or_else(rustls::RootCertStore::empty))
            .with_client_auth_cert(certs, key)
            .context("certificate and key")?;
        Ok(Arc::new(config))
    }

    fn chain_and_key(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) else {
            bail!("no certificate and key given");
        };
        let certs = CertificateDer::pem_slice_iter(&read(cert, "certificate")?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("certificate {}: {e}", cert.display()))?;
        let key = PrivateKeyDer::from_pem_slice(&read(key, "key")?)
            .map_err(|e| anyhow!("key {}: {e}", key.display()))?;
        Ok((certs, key))
    }

    fn roots(&self) -> Result<Option<rustls::RootCertStore>> {
        let Some(path) = &self.trusted_ca_file else {
            return Ok(None);
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&read(path, "trusted CA file")?) {
            let cert = cert.map_err(|e| anyhow!("trusted CA file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("trusted CA file {}", path.display()))?;
        }
        Ok(Some(roots))
    }
}
