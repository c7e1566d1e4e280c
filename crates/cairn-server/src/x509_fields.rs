//! The few fields of an X.509 certificate Cairn reads itself (rustls checks
//! chains, signatures and names; it does not expose these): the subject's
//! common name (`--peer-cert-allowed-cn`) and the subject alternative names
//! (the peer port's client-address check). Read with `yasna`; anything that
//! does not parse is reported as absent.

use std::net::IpAddr;

use rustls::pki_types::CertificateDer;

/// The subject's common name (the last one, as Go reads it), if any.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    const COMMON_NAME: &[u64] = &[2, 5, 4, 3];
    let subject = tbs_parts(cert.as_ref())?.subject;
    let mut found = None;
    yasna::parse_der(&subject, |r| {
        r.read_sequence_of(|rdn| {
            rdn.read_set_of(|attribute| {
                attribute.read_sequence(|a| {
                    let oid = a.next().read_oid()?;
                    let value = a.next().read_tagged_der()?;
                    if oid.components().as_slice() == COMMON_NAME {
                        found = directory_string(value.tag().tag_number, value.value());
                    }
                    Ok(())
                })
            })
        })
    })
    .ok()?;
    found
}

/// The parts of a certificate's to-be-signed body read here.
struct TbsParts {
    /// The subject name's DER.
    subject: Vec<u8>,
    /// The contents of the `[3]` extensions field (a SEQUENCE OF Extension), if any.
    extensions: Option<Vec<u8>>,
}

/// Walks a certificate's to-be-signed body.
fn tbs_parts(cert: &[u8]) -> Option<TbsParts> {
    yasna::parse_der(cert, |r| {
        r.read_sequence(|certificate| {
            let parts = certificate.next().read_sequence(|tbs| {
                // [0] version (optional), serial, signature algorithm, issuer,
                // validity, then the subject and the key.
                tbs.read_optional(|r| r.read_tagged(yasna::Tag::context(0), |r| r.read_der()))?;
                for _ in 0..4 {
                    tbs.next().read_der()?;
                }
                let subject = tbs.next().read_der()?;
                tbs.next().read_der()?;
                // Then optional [1] and [2] unique IDs and [3] extensions.
                let mut extensions = None;
                while let Some(field) = tbs.read_optional(|r| r.read_tagged_der())? {
                    if field.tag() == yasna::Tag::context(3) {
                        extensions = Some(field.value().to_vec());
                    }
                }
                Ok(TbsParts {
                    subject,
                    extensions,
                })
            })?;
            certificate.next().read_der()?; // signature algorithm
            certificate.next().read_der()?; // signature
            Ok(parts)
        })
    })
    .ok()
}

/// A certificate's subject alternative names: IP addresses and DNS names.
/// A certificate without the extension has none.
pub fn subject_alt_names(cert: &CertificateDer<'_>) -> Option<(Vec<IpAddr>, Vec<String>)> {
    const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
    let mut ips = Vec::new();
    let mut dns_names = Vec::new();
    let Some(extensions) = tbs_parts(cert.as_ref())?.extensions else {
        return Some((ips, dns_names));
    };
    let mut names = None;
    yasna::parse_der(&extensions, |r| {
        r.read_sequence(|list| {
            while let Some(()) = list.read_optional(|r| {
                r.read_sequence(|e| {
                    let oid = e.next().read_oid()?;
                    e.read_optional(|r| r.read_bool())?;
                    let value = e.next().read_bytes()?;
                    if oid.components().as_slice() == SUBJECT_ALT_NAME {
                        names = Some(value);
                    }
                    Ok(())
                })
            })? {}
            Ok(())
        })
    })
    .ok()?;
    let Some(names) = names else {
        return Some((ips, dns_names));
    };
    yasna::parse_der(&names, |r| {
        r.read_sequence_of(|name| {
            let name = name.read_tagged_der()?;
            match name.tag() {
                t if t == yasna::Tag::context(2) => {
                    if let Ok(dns) = String::from_utf8(name.value().to_vec()) {
                        dns_names.push(dns);
                    }
                }
                t if t == yasna::Tag::context(7) => match name.value().len() {
                    4 => {
                        let b: [u8; 4] = name.value().try_into().unwrap_or_default();
                        ips.push(IpAddr::from(b));
                    }
                    16 => {
                        let b: [u8; 16] = name.value().try_into().unwrap_or_default();
                        ips.push(IpAddr::from(b));
                    }
                    _ => {}
                },
                _ => {}
            }
            Ok(())
        })
    })
    .ok()?;
    Some((ips, dns_names))
}

/// An X.520 DirectoryString's text, by its universal tag number.
fn directory_string(tag_number: u64, bytes: &[u8]) -> Option<String> {
    match tag_number {
        // UTF8String, PrintableString, IA5String
        12 | 19 | 22 => String::from_utf8(bytes.to_vec()).ok(),
        // TeletexString: read as Latin-1, as Go does
        20 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16, big-endian
        30 => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32, big-endian
        28 => bytes
            .chunks_exact(4)
            .map(|quad| char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]])))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(names: &[&str], with_cn: bool) -> CertificateDer<'static> {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        if with_cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "member");
        }
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    #[test]
    fn subject_alt_names_are_ips_and_dns_names() {
        let c = cert(&["10.0.0.1", "m1.example", "::1", "*.pods.local"], true);
        let (ips, dns) = subject_alt_names(&c).expect("parsed");
        assert_eq!(
            ips,
            vec![
                "10.0.0.1".parse::<IpAddr>().expect("ip"),
                "::1".parse::<IpAddr>().expect("ip")
            ]
        );
        assert_eq!(
            dns,
            vec!["m1.example".to_string(), "*.pods.local".to_string()]
        );
        assert_eq!(common_name(&c).as_deref(), Some("member"));
        // No extension at all, and no subject.
        let bare = cert(&[], false);
        assert_eq!(subject_alt_names(&bare), Some((vec![], vec![])));
        assert_eq!(common_name(&bare), None);
        assert_eq!(
            subject_alt_names(&CertificateDer::from(vec![0x30, 0x00])),
            None
        );
    }

    #[test]
    fn directory_strings_of_every_kind() {
        assert_eq!(directory_string(12, "é".as_bytes()).as_deref(), Some("é"));
        assert_eq!(directory_string(19, b"abc").as_deref(), Some("abc"));
        assert_eq!(directory_string(20, &[0xe9]).as_deref(), Some("é"));
        assert_eq!(
            directory_string(30, &[0, 0x61, 0, 0xe9]).as_deref(),
            Some("aé")
        );
        assert_eq!(directory_string(28, &[0, 0, 0, 0x61]).as_deref(), Some("a"));
        assert_eq!(directory_string(4, b"abc"), None);
    }
}
