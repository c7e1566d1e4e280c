//! TLS for the client and peer ports, with etcd's flags: `--cert-file`,
//! `--key-file`, `--trusted-ca-file`, `--client-cert-auth` for clients and their
//! `--peer-*` twins for members. With client-cert auth on, a connection must
//! present a certificate signed by the trusted CA or the handshake fails. A
//! member presents its peer certificate to other members and checks theirs
//! against `--peer-trusted-ca-file`.
//!
//! As etcd does, the certificate and key are read again when their files
//! change, so renewed certificates are served without a restart: by the
//! client port, the peer port, and this member's calls to other members. The
//! CA file is read at start-up, as in etcd 3.5, and so is the client
//! certificate `--join` presents (once, at start-up).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::allowed_identity::{AllowedIdentity, IdentityCheckedServers};
use crate::watched_files::Watched;

/// The TLS files of one port (client or peer), as given by the flags.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    pub client_cert_auth: bool,
    /// `--client-crl-file` / `--peer-crl-file`: revoked client certificates.
    pub crl_file: Option<PathBuf>,
    /// `--peer-cert-allowed-cn`, `--peer-cert-allowed-hostname`,
    /// `--client-cert-allowed-hostname`: the identity verified certificates
    /// must carry.
    pub allowed: Option<AllowedIdentity>,
    /// The certificate is self-signed (`--auto-tls`, `--peer-auto-tls`):
    /// calls to peers do not check their certificates, as in etcd.
    pub self_signed: bool,
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
        if self.crl_file.is_some() && !self.client_cert_auth {
            tracing::warn!(
                "--{port}-crl-file has no effect without --{flag_prefix}client-cert-auth: clients present no certificate to check"
            );
        }
        if self.allowed.is_some() && !self.client_cert_auth {
            tracing::warn!(
                "the allowed certificate name of the {port} port has no effect on connections to this member without --{flag_prefix}client-cert-auth: they present no certificate to check"
            );
        }
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

    /// The client side, for talking to other members: our certificate as the
    /// client certificate, and their server certificates checked against the CA.
    pub fn client_config(&self) -> Result<ClientTlsConfig> {
        let mut config = ClientTlsConfig::new().identity(self.identity()?);
        if let Some(ca) = self.ca()? {
            config = config.ca_certificate(ca);
        }
        Ok(config)
    }
    /// The server side in rustls' form, for the client port and the peer port
    /// (gRPC and the peer stream): the certificate, read again when its files
    /// change, and with client-cert auth on, the check against the CA.
    /// `alpn`: the protocols to offer (HTTP/2 for gRPC).
    pub fn rustls_server_config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>> {
        let provider = crate::cipher_suites::current();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?;
        let builder = match (self.client_cert_auth, self.roots()?) {
            (true, Some(roots)) => builder.with_client_cert_verifier(Arc::new(
                crate::client_cert_check::ClientCertCheck::new(
                    Arc::new(roots),
                    provider,
                    self.crl_file.as_deref(),
                    self.allowed.clone(),
                )?,
            )),
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(self.reloading_certificate()?);
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// The client side in rustls' form, for calls to other members (gRPC and
    /// the peer stream): the same CA as [`Self::client_config`] (and the
    /// allowed identity, if any, for their certificates), and the certificate
    /// read again when its files change.
    pub fn rustls_client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        let provider = crate::cipher_suites::current();
        let roots = Arc::new(self.roots()?.unwrap_or_else(rustls::RootCertStore::empty));
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?;
        let builder = if self.self_signed {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(
                    cairn_raft::accept_any_server::AcceptAnyServer(provider),
                ))
        } else if let Some(allowed) = &self.allowed {
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .context("server certificate check")?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(IdentityCheckedServers {
                    inner,
                    allowed: allowed.clone(),
                }))
        } else {
            builder.with_root_certificates(roots)
        };
        let config = builder.with_client_cert_resolver(self.reloading_certificate()?);
        Ok(Arc::new(config))
    }

    fn reloading_certificate(&self) -> Result<Arc<ReloadingCertificate>> {
        let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) else {
            bail!("no certificate and key given");
        };
        Ok(Arc::new(ReloadingCertificate::load(cert, key)?))
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

/// A certificate and key that are read again when either file changes (its
/// modification time, size or inode), checked at each handshake. A changed
/// pair that cannot be used (a file half-written, a key that does not match)
/// leaves the previous pair in use, with a warning.
#[derive(Debug)]
struct ReloadingCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    key: Watched<Arc<CertifiedKey>>,
}

impl ReloadingCertificate {
    fn load(cert_file: &Path, key_file: &Path) -> Result<ReloadingCertificate> {
        let key = Watched::load(&[cert_file, key_file], || {
            certified_key(cert_file, key_file).map(Arc::new)
        })?;
        Ok(ReloadingCertificate {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            key,
        })
    }

    /// The pair to present now.
    fn get(&self) -> Arc<CertifiedKey> {
        self.key
            .get(|key| match certified_key(&self.cert_file, &self.key_file) {
                Ok(new) => {
                    tracing::info!(
                        cert = %self.cert_file.display(),
                        "certificate files changed; serving the new certificate"
                    );
                    *key = Arc::new(new);
                }
                Err(e) => tracing::warn!(
                    "certificate files changed but cannot be used, keeping the previous certificate: {e:#}"
                ),
            })
    }
}

impl rustls::server::ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

impl rustls::client::ResolvesClientCert for ReloadingCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The certificate chain and key in `cert_file` and `key_file`, checked to
/// belong together.
fn certified_key(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey> {
    let certs = CertificateDer::pem_slice_iter(&read(cert_file, "certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("certificate {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        bail!("certificate {} holds no certificate", cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_file, "key")?)
        .map_err(|e| anyhow!("key {}: {e}", key_file.display()))?;
    let provider = crate::cipher_suites::current();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| anyhow!("key {}: {e}", key_file.display()))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified.keys_match().map_err(|e| {
        anyhow!(
            "certificate {} and key {} do not match: {e}",
            cert_file.display(),
            key_file.display()
        )
    })?;
    Ok(certified)
}
