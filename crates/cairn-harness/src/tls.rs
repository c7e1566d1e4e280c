//! Test certificates for TLS clusters: a CA and one certificate signed by it,
//! valid for 127.0.0.1 and localhost as a server and as a client, written as PEM
//! files. Members use it for the client port and the peer port alike (with
//! client-cert auth on both); tests use it as the client certificate. A second,
//! unrelated CA makes "certificate from another CA" cases. `renew` replaces
//! the certificate with a new one from the same CA, as a certificate rotation
//! does; `issue` makes more certificates from the CA (`issue_for` with a
//! chosen subject and names) and `write_crl` a revocation list naming some
//! of them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::error::{HarnessError, Result};

/// PEM files of one CA and one certificate it signed.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA's key, to sign renewed certificates.
    pub ca_key: PathBuf,
    label: String,
}

fn gen_err(e: rcgen::Error) -> HarnessError {
    HarnessError::Other(format!("generating test certificates: {e}"))
}

impl TlsFiles {
    /// Generates a CA and a certificate into `dir` as `<label>-ca.pem`,
    /// `<label>.pem` and `<label>-key.pem`.
    pub fn generate(dir: &Path, label: &str) -> Result<TlsFiles> {
        let ca_key = KeyPair::generate().map_err(gen_err)?;
        let ca = ca_params(label)?.self_signed(&ca_key).map_err(gen_err)?;
        let (cert, key, _) = leaf(label, &ca, &ca_key)?;
        let files = TlsFiles {
            ca: dir.join(format!("{label}-ca.pem")),
            cert: dir.join(format!("{label}.pem")),
            key: dir.join(format!("{label}-key.pem")),
            ca_key: dir.join(format!("{label}-ca-key.pem")),
            label: label.to_string(),
        };
        for (path, text) in [
            (&files.ca, ca.pem()),
            (&files.ca_key, ca_key.serialize_pem()),
            (&files.cert, cert),
            (&files.key, key),
        ] {
            write(path, &text)?;
        }
        Ok(files)
    }

    /// Replaces the certificate and key files with a new certificate (new key,
    /// new serial) from the same CA, each file written aside and renamed over
    /// the old one, as certificate renewal tools do. Returns the new
    /// certificate's DER bytes.
    pub fn renew(&self) -> Result<Vec<u8>> {
        let (ca, ca_key) = self.ca()?;
        let (cert, key, der) = leaf(&self.label, &ca, &ca_key)?;
        for (path, text) in [(&self.cert, &cert), (&self.key, &key)] {
            let aside = path.with_extension("new");
            write(&aside, text)?;
            std::fs::rename(&aside, path)
                .map_err(|e| HarnessError::io(format!("renaming {}", aside.display()), e))?;
        }
        Ok(der)
    }

    /// Issues another certificate from the same CA, with serial number
    /// `serial`, into `<dir>/<name>.pem` and `<dir>/<name>-key.pem`; returns a
    /// copy of these files with that certificate and key.
    pub fn issue(&self, dir: &Path, name: &str, serial: u64) -> Result<TlsFiles> {
        let (ca, ca_key) = self.ca()?;
        let (cert, key, _) = leaf_with_serial(&self.label, &ca, &ca_key, Some(serial))?;
        let mut files = self.clone();
        files.cert = dir.join(format!("{name}.pem"));
        files.key = dir.join(format!("{name}-key.pem"));
        write(&files.cert, &cert)?;
        write(&files.key, &key)?;
        Ok(files)
    }

    /// Issues another certificate from the same CA with this subject common
    /// name and these subject alternative names only (DNS names, or IP
    /// addresses when they parse as one), into `<dir>/<name>.pem` and
    /// `<dir>/<name>-key.pem`; returns a copy of these files with it.
    pub fn issue_for(
        &self,
        dir: &Path,
        name: &str,
        common_name: &str,
        alt_names: &[&str],
    ) -> Result<TlsFiles> {
        let (ca, ca_key) = self.ca()?;
        let key = KeyPair::generate().map_err(gen_err)?;
        let mut params =
            CertificateParams::new(alt_names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(gen_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(gen_err)?;
        let mut files = self.clone();
        files.cert = dir.join(format!("{name}.pem"));
        files.key = dir.join(format!("{name}-key.pem"));
        write(&files.cert, &cert.pem())?;
        write(&files.key, &key.serialize_pem())?;
        Ok(files)
    }

    /// The subject common name of the members' certificates.
    pub fn common_name(&self) -> String {
        format!("cairn test {}", self.label)
    }

    /// Writes to `path` (written aside and renamed) a CRL signed by the CA
    /// that revokes the certificates with these serial numbers, in PEM.
    pub fn write_crl(&self, path: &Path, revoked: &[u64]) -> Result<()> {
        let (ca, ca_key) = self.ca()?;
        let params = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2100, 1, 1),
            crl_number: rcgen::SerialNumber::from(revoked.len() as u64 + 1),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|serial| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(*serial),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&ca, &ca_key).map_err(gen_err)?;
        let aside = path.with_extension("new");
        write(&aside, &crl.pem().map_err(gen_err)?)?;
        std::fs::rename(&aside, path)
            .map_err(|e| HarnessError::io(format!("renaming {}", aside.display()), e))
    }

    /// The CA certificate, made again from its key, and the key.
    fn ca(&self) -> Result<(rcgen::Certificate, KeyPair)> {
        let pem = std::fs::read_to_string(&self.ca_key)
            .map_err(|e| HarnessError::io(format!("reading {}", self.ca_key.display()), e))?;
        let ca_key = KeyPair::from_pem(&pem).map_err(gen_err)?;
        let ca = ca_params(&self.label)?
            .self_signed(&ca_key)
            .map_err(gen_err)?;
        Ok((ca, ca_key))
    }

    /// `--cacert <ca> --cert <cert> --key <key>` for etcdctl and cairnctl.
    pub fn cli_args(&self) -> Vec<String> {
        vec![
            "--cacert".into(),
            self.ca.display().to_string(),
            "--cert".into(),
            self.cert.display().to_string(),
            "--key".into(),
            self.key.display().to_string(),
        ]
    }

    /// A member's TLS flags: client and peer TLS, both with client-cert auth.
    pub fn server_args(&self) -> Vec<String> {
        let (ca, cert, key) = (
            self.ca.display().to_string(),
            self.cert.display().to_string(),
            self.key.display().to_string(),
        );
        vec![
            "--cert-file".into(),
            cert.clone(),
            "--key-file".into(),
            key.clone(),
            "--trusted-ca-file".into(),
            ca.clone(),
            "--client-cert-auth".into(),
            "--peer-cert-file".into(),
            cert,
            "--peer-key-file".into(),
            key,
            "--peer-trusted-ca-file".into(),
            ca,
            "--peer-client-cert-auth".into(),
        ]
    }

    /// tonic client TLS with this certificate as the client certificate.
    pub fn client_config(&self) -> Result<ClientTlsConfig> {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| HarnessError::io(format!("reading {}", p.display()), e))
        };
        Ok(ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca)?))
            .identity(Identity::from_pem(read(&self.cert)?, read(&self.key)?)))
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
}

/// The test CA's parameters (the same each time, so that a CA certificate
/// made again from its key issues certificates the first one verifies).
fn ca_params(label: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("cairn test CA {label}"));
    Ok(params)
}

/// A new certificate for 127.0.0.1 and localhost, server and client use,
/// signed by `ca`: (certificate PEM, key PEM, certificate DER).
fn leaf(
    label: &str,
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> Result<(String, String, Vec<u8>)> {
    leaf_with_serial(label, ca, ca_key, None)
}

/// [`leaf`] with a chosen serial number (rcgen picks one otherwise).
fn leaf_with_serial(
    label: &str,
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
    serial: Option<u64>,
) -> Result<(String, String, Vec<u8>)> {
    let key = KeyPair::generate().map_err(gen_err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(gen_err)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    params
        .distinguished_name
        .push(DnType::CommonName, format!("cairn test {label}"));
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.serial_number = serial.map(rcgen::SerialNumber::from);
    let cert = params.signed_by(&key, ca, ca_key).map_err(gen_err)?;
    Ok((cert.pem(), key.serialize_pem(), cert.der().to_vec()))
}
