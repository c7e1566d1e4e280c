//! How a port with client-certificate auth (`--client-cert-auth`,
//! `--peer-client-cert-auth`) checks the certificate a connection presents:
//! signed by the trusted CA, not on the revocation list if one is given
//! (revocation.rs), and carrying the allowed identity if one is given
//! (allowed_identity.rs), in that order.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::allowed_identity::AllowedIdentity;
use crate::revocation::RevocationList;

#[derive(Debug)]
pub struct ClientCertCheck {
    /// The CA check alone; also the hints and the handshake signature
    /// checks, which neither the list nor the identity changes.
    ca: Arc<dyn ClientCertVerifier>,
    crl: Option<RevocationList>,
    allowed: Option<AllowedIdentity>,
}

impl ClientCertCheck {
    /// Fails if the revocation list cannot be used.
    pub fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
        crl_file: Option<&Path>,
        allowed: Option<AllowedIdentity>,
    ) -> Result<ClientCertCheck> {
        let ca = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .context("client certificate check")?;
        let crl = crl_file
            .map(|file| RevocationList::load(roots, provider, file))
            .transpose()?;
        Ok(ClientCertCheck { ca, crl, allowed })
    }
}

impl ClientCertVerifier for ClientCertCheck {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The list's check includes the CA's.
        let verified = match &self.crl {
            Some(crl) => match crl.current() {
                Ok(check) => check.verify_client_cert(end_entity, intermediates, now)?,
                Err(e) => return Err(rustls::Error::General(e)),
            },
            None => self.ca.verify_client_cert(end_entity, intermediates, now)?,
        };
        if let Some(allowed) = &self.allowed {
            allowed.check(end_entity)?;
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.ca.supported_verify_schemes()
    }
}
