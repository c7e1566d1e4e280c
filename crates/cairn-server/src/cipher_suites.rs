//! `--cipher-suites`: the cipher suites the client and peer ports accept,
//! and that this member offers when it calls other members, named as Go (and
//! so etcd 3.5) names them. As in etcd 3.5.1, giving the flag turns TLS 1.3
//! off (Go has no setting for TLS 1.3's suites, so etcd caps the version at
//! TLS 1.2 when a list is given): only the listed TLS 1.2 suites remain, and
//! TLS 1.3 names in the list change nothing.
//!
//! The list becomes the process's rustls crypto provider, so every TLS
//! configuration built after start-up (tonic's for gRPC, the peer stream's)
//! uses it. Go knows suites rustls does not implement (CBC, RC4, 3DES and
//! RSA key exchange); naming one is accepted, as etcd accepts it, but it is
//! never negotiated, and start-up logs which ones. etcd also refuses to
//! start with TLS when the list lacks an ECDHE AES-128-GCM suite (Go's HTTP/2
//! requires one); Cairn does not need it.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedCipherSuite};

/// What a name etcd accepts stands for here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    /// A TLS 1.2 suite rustls implements.
    Tls12(CipherSuite),
    /// A TLS 1.3 suite: Go accepts the name; with TLS 1.3 off it does nothing.
    Tls13,
    /// A suite Go has and rustls does not.
    NotImplemented,
}

/// Every name etcd 3.5.1 accepts in `--cipher-suites` (Go 1.16's suites,
/// plus etcd's short names for the two ChaCha20 ones). Checked against the
/// etcd binary by `tests/tls_cipher_suites.rs`.
const NAMES: [(&str, Meaning); 27] = {
    use CipherSuite as C;
    use Meaning::{NotImplemented as No, Tls12, Tls13};
    [
        ("TLS_AES_128_GCM_SHA256", Tls13),
        ("TLS_AES_256_GCM_SHA384", Tls13),
        ("TLS_CHACHA20_POLY1305_SHA256", Tls13),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Tls12(C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Tls12(C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Tls12(C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            Tls12(C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Tls12(C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            Tls12(C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            Tls12(C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            Tls12(C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        ("TLS_RSA_WITH_RC4_128_SHA", No),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", No),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", No),
        ("TLS_RSA_WITH_AES_256_CBC_SHA", No),
        ("TLS_RSA_WITH_AES_128_CBC_SHA256", No),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", No),
        ("TLS_RSA_WITH_AES_256_GCM_SHA384", No),
        ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", No),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", No),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", No),
        ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", No),
        ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", No),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", No),
        ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", No),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", No),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", No),
    ]
};

/// A name etcd would refuse, with etcd's words.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unexpected TLS cipher suite {0:?}")]
pub struct UnknownCipherSuite(pub String);

/// The provider for a `--cipher-suites` list, and the named suites that will
/// never be negotiated because rustls does not implement them.
#[derive(Debug)]
pub struct Restricted {
    pub provider: CryptoProvider,
    pub not_implemented: Vec<String>,
}

impl Restricted {
    /// Whether no suite is left, so that no TLS handshake can succeed.
    pub fn none_left(&self) -> bool {
        self.provider.cipher_suites.is_empty()
    }
}

/// The crypto provider for `names` (the flag's comma-separated items; none
/// means no restriction).
pub fn provider_for(names: &[String]) -> Result<Restricted, UnknownCipherSuite> {
    let mut provider = rustls::crypto::ring::default_provider();
    let mut not_implemented = Vec::new();
    if names.is_empty() {
        return Ok(Restricted {
            provider,
            not_implemented,
        });
    }
    let mut wanted = Vec::new();
    for name in names {
        match NAMES.iter().find(|(known, _)| known == name) {
            None => return Err(UnknownCipherSuite(name.clone())),
            Some((_, Meaning::Tls12(suite))) => wanted.push(*suite),
            Some((_, Meaning::Tls13)) => {}
            Some((_, Meaning::NotImplemented)) => not_implemented.push(name.clone()),
        }
    }
    provider.cipher_suites.retain(|suite| match suite {
        SupportedCipherSuite::Tls13(_) => false,
        SupportedCipherSuite::Tls12(_) => wanted.contains(&suite.suite()),
    });
    Ok(Restricted {
        provider,
        not_implemented,
    })
}

/// Checks `names` (the flag's items) and makes the provider they give the
/// one every TLS configuration of this process uses, logging the named
/// suites that will never be negotiated. Called once, at start-up, before any
/// configuration is built. Fails on a name etcd refuses, and when the member
/// serves TLS (`serves_tls`) but the list leaves nothing to negotiate.
pub fn install_for(names: &[String], serves_tls: bool) -> Result<(), String> {
    let restricted = provider_for(names).map_err(|e| e.to_string())?;
    if serves_tls && restricted.none_left() {
        return Err("--cipher-suites names no TLS 1.2 cipher suite Cairn implements (ECDHE with AES-GCM or ChaCha20-Poly1305), so no TLS connection could be made".into());
    }
    for name in &restricted.not_implemented {
        tracing::warn!(
            "--cipher-suites names {name}, which Cairn's TLS (rustls) does not implement: it will not be negotiated"
        );
    }
    // Only fails if one is installed already, which start-up never does.
    if restricted.provider.install_default().is_err() {
        tracing::warn!(
            "a TLS crypto provider was already installed; --cipher-suites may not apply"
        );
    }
    Ok(())
}

/// The provider TLS configurations are built with: the installed one, or
/// rustls' default (ring) if none was installed.
pub fn current() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn tls12_suites(provider: &CryptoProvider) -> Vec<CipherSuite> {
        provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .map(|s| s.suite())
            .collect()
    }

    fn tls13_count(provider: &CryptoProvider) -> usize {
        provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .count()
    }

    #[test]
    fn no_list_leaves_every_suite_on() {
        let all = rustls::crypto::ring::default_provider();
        let got = provider_for(&[]).expect("no list is valid");
        assert_eq!(got.provider.cipher_suites.len(), all.cipher_suites.len());
        assert_eq!(tls13_count(&got.provider), 3);
        assert!(got.not_implemented.is_empty());
    }

    #[test]
    fn a_list_keeps_its_tls12_suites_and_turns_tls13_off() {
        let got = provider_for(&names(&[
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ]))
        .expect("valid names");
        assert_eq!(
            tls12_suites(&got.provider),
            vec![
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        );
        assert_eq!(tls13_count(&got.provider), 0);
        assert!(!got.none_left());
    }

    #[test]
    fn suites_rustls_lacks_are_reported_and_left_out() {
        let got = provider_for(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
        ]))
        .expect("names etcd accepts");
        assert!(got.none_left());
        assert_eq!(
            got.not_implemented,
            names(&[
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                "TLS_RSA_WITH_AES_128_GCM_SHA256"
            ])
        );
    }

    #[test]
    fn names_etcd_refuses_are_refused_with_its_words() {
        for bad in [
            "nope",
            "tls_ecdhe_rsa_with_aes_128_gcm_sha256",
            " TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        ] {
            let err = provider_for(&names(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", bad]))
                .expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!("unexpected TLS cipher suite {bad:?}")
            );
        }
    }

    #[test]
    fn every_rustls_tls12_suite_has_a_go_name() {
        let named: Vec<CipherSuite> = NAMES
            .iter()
            .filter_map(|(_, m)| match m {
                Meaning::Tls12(s) => Some(*s),
                _ => None,
            })
            .collect();
        for suite in tls12_suites(&rustls::crypto::ring::default_provider()) {
            assert!(named.contains(&suite), "{suite:?} has no Go name here");
        }
    }
}
