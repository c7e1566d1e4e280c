//! `--peer-cert-allowed-cn`, `--peer-cert-allowed-hostname` and
//! `--client-cert-allowed-hostname`: beyond being signed by the trusted CA, a
//! certificate must carry the allowed common name, or be valid for the allowed
//! hostname (a DNS or IP subject alternative name matching it, as Go checks
//! a hostname; the common name is not consulted).
//!
//! As in etcd 3.5, the check belongs to the port's TLS settings, so it
//! applies to every certificate this member verifies with them: the client
//! certificates presented to it and, on the peer port, the server
//! certificates of the members it calls. A certificate that fails it is
//! refused at the handshake with etcd's reason, "client certificate
//! authentication failed". The common name and the hostname are mutually
//! exclusive, as in etcd.

use std::sync::Arc;

use anyhow::{bail, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, SignatureScheme};

/// What etcd answers (and logs) when a certificate fails the check.
const REFUSED: &str = "client certificate authentication failed";

/// The identity a certificate must carry on one port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedIdentity {
    /// The subject's common name, exactly.
    CommonName(String),
    /// A name the certificate is valid for (checked to be a DNS name or an
    /// IP address when the flags are read).
    Hostname(ServerName<'static>),
}

impl AllowedIdentity {
    /// The check the flags ask for (an empty value is no value), or an error
    /// when both are given, with etcd's words.
    pub fn from_flags(
        common_name: Option<&str>,
        hostname: Option<&str>,
    ) -> Result<Option<AllowedIdentity>> {
        let common_name = common_name.filter(|s| !s.is_empty());
        let hostname = hostname.filter(|s| !s.is_empty());
        match (common_name, hostname) {
            (Some(cn), Some(host)) => bail!(
                "AllowedCN and AllowedHostname are mutually exclusive (cn={cn:?}, hostname={host:?})"
            ),
            (Some(cn), None) => Ok(Some(AllowedIdentity::CommonName(cn.to_string()))),
            (None, Some(host)) => match ServerName::try_from(host.to_string()) {
                Ok(name) => Ok(Some(AllowedIdentity::Hostname(name))),
                Err(e) => bail!("allowed hostname {host:?} is not a DNS name or an IP address: {e}"),
            },
            (None, None) => Ok(None),
        }
    }

    /// Whether `cert` (already verified against the CA) carries the identity.
    pub fn admits(&self, cert: &CertificateDer<'_>) -> bool {
        match self {
            AllowedIdentity::CommonName(allowed) => {
                crate::x509_fields::common_name(cert).is_some_and(|cn| cn == *allowed)
            }
            AllowedIdentity::Hostname(allowed) => ParsedCertificate::try_from(cert)
                .and_then(|parsed| rustls::client::verify_server_name(&parsed, allowed))
                .is_ok(),
        }
    }

    /// [`Self::admits`] as a handshake error with etcd's reason.
    pub fn check(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.admits(cert) {
            Ok(())
        } else {
            Err(rustls::Error::General(REFUSED.into()))
        }
    }
}

/// Server certificates of the members this one calls: the CA's and the
/// server name's checks, then the identity.
#[derive(Debug)]
pub struct IdentityCheckedServers {
    pub inner: Arc<dyn ServerCertVerifier>,
    pub allowed: AllowedIdentity,
}

impl ServerCertVerifier for IdentityCheckedServers {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.allowed.check(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate with these subject attributes and names.
    fn cert(common_names: &[&str], organization: &str, names: &[&str]) -> CertificateDer<'static> {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, organization);
        for cn in common_names {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, *cn);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    #[test]
    fn common_name_is_read_from_the_subject() {
        let c = cert(&["etcd.local"], "acme", &["m1.etcd.local"]);
        assert_eq!(
            crate::x509_fields::common_name(&c).as_deref(),
            Some("etcd.local")
        );
        let allowed = AllowedIdentity::CommonName("etcd.local".into());
        assert!(allowed.admits(&c));
        assert!(!AllowedIdentity::CommonName("m1.etcd.local".into()).admits(&c));
        assert!(!AllowedIdentity::CommonName("etcd.loca".into()).admits(&c));
        // No common name at all.
        let none = cert(&[], "acme", &["m1.etcd.local"]);
        assert_eq!(crate::x509_fields::common_name(&none), None);
        assert!(!allowed.admits(&none));
        // Garbage is no certificate.
        assert!(!allowed.admits(&CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])));
    }

    #[test]
    fn hostname_matches_subject_alternative_names_not_the_common_name() {
        let c = cert(
            &["ignored.example"],
            "acme",
            &["m1.etcd.local", "*.pods.local", "127.0.0.1"],
        );
        for ok in ["m1.etcd.local", "a.pods.local", "127.0.0.1"] {
            assert!(host(ok).admits(&c), "{ok}");
        }
        for refused in [
            "ignored.example",
            "m2.etcd.local",
            "a.b.pods.local",
            "127.0.0.2",
        ] {
            assert!(!host(refused).admits(&c), "{refused}");
        }
        // An empty hostname is no check at all, and one that is neither a DNS
        // name nor an address is refused when the flags are read.
        assert_eq!(
            AllowedIdentity::from_flags(None, Some("")).expect("ok"),
            None
        );
        let e = AllowedIdentity::from_flags(None, Some("not a host!")).expect_err("bad name");
        assert!(
            e.to_string().contains("not a DNS name or an IP address"),
            "{e}"
        );
    }

    fn host(name: &str) -> AllowedIdentity {
        AllowedIdentity::Hostname(ServerName::try_from(name.to_string()).expect("host name"))
    }

    #[test]
    fn both_flags_are_refused_and_empty_values_are_unset() {
        let e = AllowedIdentity::from_flags(Some("a"), Some("b")).expect_err("both");
        assert_eq!(
            e.to_string(),
            r#"AllowedCN and AllowedHostname are mutually exclusive (cn="a", hostname="b")"#
        );
        assert_eq!(
            AllowedIdentity::from_flags(Some(""), Some("")).expect("ok"),
            None
        );
        assert_eq!(
            AllowedIdentity::from_flags(Some("a"), Some("")).expect("ok"),
            Some(AllowedIdentity::CommonName("a".into()))
        );
        assert_eq!(
            AllowedIdentity::from_flags(None, Some("h")).expect("ok"),
            Some(host("h"))
        );
    }
}
