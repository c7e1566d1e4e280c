//! The peer port's check of where a client certificate is used from, as
//! etcd's peer listener does unless `--experimental-peer-skip-client-san-verification`
//! is given: after the handshake, the certificate a member presents must name
//! the address it connects from, among its IP subject alternative names or
//! through one of its DNS names (resolved now). A certificate with neither
//! kind of name passes. A peer certificate copied to another host is thus
//! refused there.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cairn_raft::peer_lane::PeerClientCheck;
use rustls::pki_types::CertificateDer;

use crate::x509_fields::subject_alt_names;

/// How long one DNS name of a certificate may take to resolve: a slow
/// resolver delays only the connection being checked, and not for long.
const LOOKUP_DEADLINE: Duration = Duration::from_secs(5);

/// The check, for the peer port's TLS settings.
pub fn check() -> PeerClientCheck {
    Arc::new(|cert, remote| Box::pin(async move { names_address(&cert, remote).await }))
}

/// Whether `cert` names `remote`, with etcd's reasons when it does not.
async fn names_address(cert: &CertificateDer<'static>, remote: IpAddr) -> Result<(), String> {
    let remote = canonical(remote);
    let Some((ips, dns_names)) = subject_alt_names(cert) else {
        return Err("tls: cannot read the certificate's subject alternative names".into());
    };
    if ips.is_empty() && dns_names.is_empty() {
        return Ok(());
    }
    if ips.iter().any(|ip| canonical(*ip) == remote) {
        return Ok(());
    }
    if dns_names.is_empty() {
        let valid: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        return Err(format!(
            "x509: certificate is valid for {}, not {remote}",
            valid.join(", ")
        ));
    }
    let mut lookup_errors = Vec::new();
    for name in &dns_names {
        let lookup = tokio::net::lookup_host((name.as_str(), 0));
        match tokio::time::timeout(LOOKUP_DEADLINE, lookup).await {
            Ok(Ok(addrs)) => {
                if addrs.map(|a| canonical(a.ip())).any(|ip| ip == remote) {
                    return Ok(());
                }
            }
            Ok(Err(e)) => lookup_errors.push(format!("{name}: {e}")),
            Err(_) => lookup_errors.push(format!(
                "{name}: no answer within {}s",
                LOOKUP_DEADLINE.as_secs()
            )),
        }
    }
    let detail = if lookup_errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", lookup_errors.join("; "))
    };
    Err(format!(
        "tls: {:?} does not match any of DNSNames {dns_names:?}{detail}",
        remote.to_string()
    ))
}

/// IPv4 addresses written as IPv6 (`::ffff:a.b.c.d`) as IPv4, as Go compares them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(names: &[&str]) -> CertificateDer<'static> {
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[tokio::test]
    async fn the_connecting_address_must_be_named() {
        let loopback = ip("127.0.0.1");
        assert_eq!(names_address(&cert(&["127.0.0.1"]), loopback).await, Ok(()));
        assert_eq!(
            names_address(&cert(&["127.0.0.1"]), ip("::ffff:127.0.0.1")).await,
            Ok(())
        );
        assert_eq!(names_address(&cert(&["localhost"]), loopback).await, Ok(()));
        assert_eq!(names_address(&cert(&[]), loopback).await, Ok(()));
        let e = names_address(&cert(&["10.1.2.3"]), loopback)
            .await
            .expect_err("another IP");
        assert_eq!(e, "x509: certificate is valid for 10.1.2.3, not 127.0.0.1");
        let e = names_address(&cert(&["10.1.2.3", "no-such-host.invalid"]), loopback)
            .await
            .expect_err("a name that does not resolve");
        assert!(
            e.starts_with(
                r#"tls: "127.0.0.1" does not match any of DNSNames ["no-such-host.invalid"]"#
            ),
            "{e}"
        );
    }
}
