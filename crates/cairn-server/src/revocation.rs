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
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::watched_files::Watched;

/// The CA check with the revocation list in `crl_file`, read again when the
/// file changes.
#[derive(Debug)]
pub struct RevocationList {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    crl_file: PathBuf,
    checked: Watched<Loaded>,
}

/// The check with a list, or why the list could not be used.
type Loaded = Result<Arc<dyn ClientCertVerifier>, String>;

impl RevocationList {
    /// The check of client certificates signed by `roots` and not revoked by
    /// the list in `crl_file`; fails if the list cannot be used.
    pub fn load(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
        crl_file: &Path,
    ) -> Result<RevocationList> {
        let checked = Watched::load(&[crl_file], || {
            with_crl(&roots, &provider, crl_file).map(Ok)
        })?;
        Ok(RevocationList {
            roots,
            provider,
            crl_file: crl_file.to_path_buf(),
            checked,
        })
    }

    /// The check to apply now, with the list read again if its file changed.
    pub fn current(&self) -> Loaded {
        self.checked.get(|loaded| {
            *loaded = with_crl(&self.roots, &self.provider, &self.crl_file)
                .map_err(|e| format!("{e:#}"));
            match loaded {
                Ok(_) => tracing::info!(
                    crl = %self.crl_file.display(),
                    "certificate revocation list changed; checking client certificates against the new one"
                ),
                Err(e) => tracing::warn!(
                    "certificate revocation list changed but cannot be used; refusing client certificates until it is mended: {e}"
                ),
            }
        })
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
