//! `--client-crl-file` and `--peer-crl-file`: client certificates checked
//! against a certificate revocation list as well as the CA. As etcd reads
//! the file at each connection, the list is read again when its file changes
//! (modification time, size or inode), checked at each handshake, so a newly
//! revoked certificate is refused without a restart.
//!
//! The list may be PEM or DER. It must be signed by the CA that issued the
//! certificates it names (rustls checks the list's signature and issuer; etcd
//! compares serial numbers only). Only the client's own certificate is looked
//! up, not the intermediates of its chain. A list that cannot be read or
//! parsed refuses every client certificate until it is mended, as in etcd;
//! at start-up it stops the member instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::tls::FileStamps;

/// The CA check plus the revocation list in `crl_file`.
#[derive(Debug)]
pub struct RevocationChecked {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    crl_file: PathBuf,
    /// The CA check alone: the hints and signature checks, which the list
    /// does not change.
    base: Arc<dyn ClientCertVerifier>,
    /// The check with the list as last read, and the file's stamps then.
    current: Mutex<(FileStamps, Loaded)>,
}

/// The check with a list, or why the list could not be used.
type Loaded = Result<Arc<dyn ClientCertVerifier>, String>;

impl RevocationChecked {
    /// The verifier for client certificates signed by `roots` and not
    /// revoked by the list in `crl_file`; fails if the list cannot be used.
    pub fn load(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
        crl_file: &Path,
    ) -> Result<Arc<dyn ClientCertVerifier>> {
        let base = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .context("client certificate check")?;
        let stamps = FileStamps::of(&[crl_file]);
        let checked = with_crl(&roots, &provider, crl_file)?;
        Ok(Arc::new(RevocationChecked {
            roots,
            provider,
            crl_file: crl_file.to_path_buf(),
            base,
            current: Mutex::new((stamps, Ok(checked))),
        }))
    }

    /// The check to apply now, reading the list again if its file changed.
    fn current(&self) -> Loaded {
        let stamps = FileStamps::of(&[&self.crl_file]);
        let mut current = match self.current.lock() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.0 != stamps {
            current.0 = stamps;
            current.1 =
                with_crl(&self.roots, &self.provider, &self.crl_file).map_err(|e| format!("{e:#}"));
            match &current.1 {
                Ok(_) => tracing::info!(
                    crl = %self.crl_file.display(),
                    "certificate revocation list changed; checking client certificates against the new one"
                ),
                Err(e) => tracing::warn!(
                    "certificate revocation list changed but cannot be used; refusing client certificates until it is mended: {e}"
                ),
            }
        }
        current.1.clone()
    }
}

/// The CA check with the list in `crl_file`.
fn with_crl(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    crl_file: &Path,
) -> Result<Arc<dyn ClientCertVerifier>> {
    let bytes = std::fs::read(crl_file).with_context(|| {
        format!(
            "cannot read certificate revocation list {}",
            crl_file.display()
        )
    })?;
    let crls = if String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
        CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("certificate revocation list {}: {e}", crl_file.display()))?
    } else {
        vec![CertificateRevocationListDer::from(bytes)]
    };
    if crls.is_empty() {
        return Err(anyhow!(
            "certificate revocation list {} holds no list",
            crl_file.display()
        ));
    }
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
        .map_err(|e| anyhow!("certificate revocation list {}: {e}", crl_file.display()))
}

impl ClientCertVerifier for RevocationChecked {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.base.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.current() {
            Ok(check) => check.verify_client_cert(end_entity, intermediates, now),
            Err(e) => Err(rustls::Error::General(e)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.base.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.base.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.base.supported_verify_schemes()
    }
}
