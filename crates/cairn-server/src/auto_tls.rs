//! `--auto-tls` and `--peer-auto-tls`: when no certificate is given for the
//! port, the member makes a self-signed one, as etcd does, in
//! `<data-dir>/fixtures/client` or `<data-dir>/fixtures/peer` (`cert.pem`,
//! `key.pem`), valid for the hosts of the port's listen URLs for
//! `--self-signed-cert-validity` years. A pair already there is used again.
//!
//! As in etcd, the self-signed settings replace the port's TLS settings
//! (no CA, no client-certificate check), and a member calls peers whose
//! certificates are self-signed without checking them: the traffic is
//! encrypted, not authenticated.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use url::Url;

use crate::config::ServerConfig;
use crate::tls::TlsFiles;

/// Applies `--auto-tls` and `--peer-auto-tls` to `cfg`'s TLS settings.
pub fn apply(cfg: &mut ServerConfig) -> Result<()> {
    let validity = cfg.self_signed_cert_validity;
    let fixtures = cfg.data_dir.join("fixtures");
    if cfg.client_auto_tls {
        auto_tls_for(
            &mut cfg.client_tls,
            "client",
            &fixtures.join("client"),
            &cfg.listen_client_urls,
            validity,
        )?;
    }
    if cfg.peer_auto_tls {
        auto_tls_for(
            &mut cfg.peer_tls,
            "peer",
            &fixtures.join("peer"),
            &cfg.listen_peer_urls,
            validity,
        )?;
    }
    Ok(())
}

fn auto_tls_for(
    tls: &mut TlsFiles,
    port: &str,
    dir: &Path,
    urls: &[Url],
    validity_years: u64,
) -> Result<()> {
    if tls.cert_file.is_some() || tls.key_file.is_some() {
        tracing::warn!("ignoring {port} auto TLS since certs given");
        return Ok(());
    }
    if tls.client_cert_auth || tls.trusted_ca_file.is_some() {
        tracing::warn!(
            "{port} auto TLS replaces the {port} port's CA and client-certificate settings: self-signed certificates are not checked"
        );
    }
    let hosts: Vec<String> = urls
        .iter()
        .filter_map(|u| u.host_str())
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
        .collect();
    let (cert, key) = self_signed(dir, &hosts, validity_years)?;
    *tls = TlsFiles {
        cert_file: Some(cert),
        key_file: Some(key),
        self_signed: true,
        ..TlsFiles::default()
    };
    Ok(())
}

/// The longest `--self-signed-cert-validity` accepted, in years: from today
/// it stays before the year 9999, where X.509 dates end.
const MAX_VALIDITY_YEARS: u64 = 7000;

/// The self-signed pair in `dir`, made there first if it is not there yet.
pub fn self_signed(
    dir: &Path,
    hosts: &[String],
    validity_years: u64,
) -> Result<(PathBuf, PathBuf)> {
    // X.509 dates end with the year 9999; a validity past it cannot be written.
    if validity_years == 0 || validity_years > MAX_VALIDITY_YEARS {
        bail!(
            "--self-signed-cert-validity must be between 1 and {MAX_VALIDITY_YEARS} (years), not {validity_years}"
        );
    }
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        tracing::info!(cert = %cert_path.display(), "using the self-signed certificate made earlier");
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut params =
        rcgen::CertificateParams::new(hosts.to_vec()).context("self-signed certificate hosts")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "etcd");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    // At most 7,000 years of days: far inside what `time` adds without overflow.
    params.not_after = now + time::Duration::days(365 * validity_years as i64);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = rcgen::KeyPair::generate().context("self-signed certificate key")?;
    let cert = params
        .self_signed(&key)
        .context("self-signed certificate")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    tracing::info!(cert = %cert_path.display(), hosts = ?hosts, "made a self-signed certificate");
    Ok((cert_path, key_path))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    #[test]
    fn made_once_for_the_hosts_then_used_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fixtures = dir.path().join("fixtures/client");
        let hosts = vec!["127.0.0.1".to_string(), "node1.example".to_string()];
        let (cert, key) = self_signed(&fixtures, &hosts, 2).expect("made");
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let der = CertificateDer::from_pem_file(&cert).expect("PEM certificate");
        let parsed = rustls::server::ParsedCertificate::try_from(&der).expect("parsed");
        for host in ["127.0.0.1", "node1.example"] {
            let name = ServerName::try_from(host).expect("name");
            rustls::client::verify_server_name(&parsed, &name).expect(host);
        }
        let first = std::fs::read(&cert).expect("read");
        self_signed(&fixtures, &hosts, 2).expect("again");
        assert_eq!(std::fs::read(&cert).expect("read"), first, "made again");
    }

    #[test]
    fn zero_and_absurd_validities_are_refused_without_panicking() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(self_signed(dir.path(), &[], 0).is_err());
        assert!(self_signed(dir.path(), &[], MAX_VALIDITY_YEARS + 1).is_err());
        assert!(self_signed(dir.path(), &[], u64::MAX).is_err());
        assert!(!dir.path().join("cert.pem").exists());
        self_signed(dir.path(), &["127.0.0.1".into()], MAX_VALIDITY_YEARS).expect("longest");
    }
}
