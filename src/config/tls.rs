//! What a TLS endpoint's files and `ciphers` mean, checked once here for the
//! config check (with the key and line) and for the transport that loads
//! them (at start and at every reload): reading PEM certificates and private
//! keys, the key file's permissions, and Crossbar.io's OpenSSL `ciphers`
//! string mapped onto the cipher suites rustls offers.
//!
//! rustls has no finite-field Diffie-Hellman, no CBC, no RC4 and no static
//! RSA key exchange, so OpenSSL names of such suites map to nothing: they are
//! dropped with a warning, and a string in which no name maps is refused.
//! OpenSSL's `ciphers` never limits TLS 1.3 (its suites are set apart, by
//! `ciphersuites`): here too the TLS 1.3 suites stay on unless the string names
//! some of them.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// OpenSSL's names of the TLS 1.2 suites rustls offers, with their IANA names.
const TLS12_SUITES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The TLS 1.3 suites (OpenSSL and IANA use the same names).
const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// OpenSSL's aggregate words that stand for "every suite rustls offers"
/// (rustls offers only strong, forward-secret AEAD suites).
const ALL_WORDS: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "ECDHE", "EECDH", "AESGCM", "CHACHA20", "AES", "kECDHE", "aRSA",
    "aECDSA", "ECDSA", "RSA", "SECURE", "FIPS",
];

/// The suites a `ciphers` string selects, by IANA name; an empty list means
/// every suite of that version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CipherChoice {
    /// TLS 1.2 suites (empty: all).
    pub tls12: Vec<&'static str>,
    /// TLS 1.3 suites (empty: all).
    pub tls13: Vec<&'static str>,
    /// Names that were dropped because rustls has no such suite (logged as a warning).
    pub dropped: Vec<String>,
}

/// Maps an OpenSSL cipher string (`ECDHE-RSA-AES128-GCM-SHA256:!aNULL:...`)
/// onto the suites rustls offers. Exclusions (`!X`, `-X`), `+X` and
/// `@STRENGTH` are accepted and change nothing (what they exclude rustls
/// does not have, or the order is rustls's own). An error when no name in the
/// string maps to a suite: the message lists the names rustls knows.
pub fn openssl_ciphers(s: &str) -> Result<CipherChoice, String> {
    let mut choice = CipherChoice::default();
    let mut all = false;
    for token in s.split([':', ',', ' ']).map(str::trim) {
        if token.is_empty()
            || token.starts_with(['!', '-', '+', '@'])
            || token.eq_ignore_ascii_case("COMPLEMENTOFDEFAULT")
        {
            continue;
        }
        if ALL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(token)) {
            all = true;
        } else if token.contains('+') {
            // OpenSSL's `A+B`: the suites that are both A and B.
            let picked: Vec<&'static str> = TLS12_SUITES
                .iter()
                .filter(|(openssl, _)| token.split('+').all(|part| is_a(openssl, part)))
                .map(|(_, iana)| *iana)
                .collect();
            if picked.is_empty() {
                choice.dropped.push(token.to_owned());
            }
            for iana in picked {
                if !choice.tls12.contains(&iana) {
                    choice.tls12.push(iana);
                }
            }
        } else if let Some((_, iana)) = TLS12_SUITES
            .iter()
            .find(|(o, i)| o.eq_ignore_ascii_case(token) || i.eq_ignore_ascii_case(token))
        {
            if !choice.tls12.contains(iana) {
                choice.tls12.push(iana);
            }
        } else if let Some(name) = TLS13_SUITES.iter().find(|n| n.eq_ignore_ascii_case(token)) {
            if !choice.tls13.contains(name) {
                choice.tls13.push(name);
            }
        } else {
            choice.dropped.push(token.to_owned());
        }
    }
    if all {
        choice.tls12.clear();
        choice.tls13.clear();
    } else if choice.tls12.is_empty() && choice.tls13.is_empty() {
        let known: Vec<&str> = TLS12_SUITES
            .iter()
            .map(|(o, _)| *o)
            .chain(TLS13_SUITES.iter().copied())
            .collect();
        return Err(format!(
            "no cipher in {s:?} is one rustls offers (rustls has no DHE, CBC, RC4 or static-RSA suites); use some of {}",
            known.join(", ")
        ));
    }
    Ok(choice)
}

/// Whether the TLS 1.2 suite named `openssl` (`ECDHE-RSA-AES128-GCM-SHA256`)
/// belongs to OpenSSL's alias `part` (`ECDH`, `AESGCM`, `AES256`, `aRSA`, ...);
/// aliases of what rustls lacks (DH, 3DES, CBC digests) match nothing.
fn is_a(openssl: &str, part: &str) -> bool {
    let has = |x: &str| openssl.split('-').any(|c| c == x);
    match part.to_ascii_uppercase().as_str() {
        "ECDH" | "ECDHE" | "EECDH" | "KECDHE" => has("ECDHE"),
        "RSA" | "ARSA" => has("RSA"),
        "ECDSA" | "AECDSA" => has("ECDSA"),
        "AESGCM" => openssl.contains("-GCM-"),
        "AES" => openssl.contains("-AES"),
        "AES128" => has("AES128"),
        "AES256" => has("AES256"),
        "CHACHA20" => has("CHACHA20"),
        "SHA256" => openssl.ends_with("SHA256"),
        "SHA384" => openssl.ends_with("SHA384"),
        "HIGH" | "ALL" | "DEFAULT" | "SECURE" => true,
        _ => false,
    }
}

/// The certificates in a PEM file (at least one).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate (a PEM `BEGIN CERTIFICATE` block) in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC). The error
/// never quotes the file's content.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        format!(
            "{}: no private key (a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block) in it",
            path.display()
        )
    })
}

/// A warning when a private key file may be read by its group or by others.
pub fn key_file_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| {
        format!(
            "the private key file {} can be read by {} (mode {:o}): chmod 600 it",
            path.display(),
            if mode & 0o004 != 0 {
                "anyone"
            } else {
                "its group"
            },
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossbar_default_string_keeps_what_rustls_has() {
        let c = openssl_ciphers(
            "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:DHE-RSA-AES128-SHA",
        )
        .unwrap();
        assert_eq!(c.tls12, vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
        assert!(c.tls13.is_empty());
        assert_eq!(c.dropped.len(), 5);
    }

    #[test]
    fn aggregates_and_exclusions() {
        let c = openssl_ciphers("HIGH:!aNULL:!MD5:@STRENGTH").unwrap();
        assert!(c.tls12.is_empty() && c.tls13.is_empty() && c.dropped.is_empty());
        let c = openssl_ciphers("TLS_AES_256_GCM_SHA384").unwrap();
        assert_eq!(c.tls13, vec!["TLS_AES_256_GCM_SHA384"]);
    }

    #[test]
    fn plus_combinations_select_what_both_name() {
        // ButterflyDNS's string (tests/crossbar_corpus): DH and 3DES have no
        // rustls suite; ECDH+AESGCM, ECDH+AES256 and ECDH+AES128 do.
        let c = openssl_ciphers(
            "ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:ECDH+3DES:DH+3DES:RSA+AESGCM:RSA+AES:RSA+3DES:!aNULL:!MD5:!DSS",
        )
        .unwrap();
        assert!(c.tls12.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(c.tls12.contains(&"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"));
        assert!(!c.tls12.iter().any(|s| s.contains("CHACHA20")));
        assert!(c.dropped.contains(&"DH+AESGCM".to_owned()));
    }

    #[test]
    fn nothing_known_is_refused() {
        let e = openssl_ciphers("DHE-RSA-AES128-SHA:RC4-MD5").unwrap_err();
        assert!(e.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{e}");
    }

    #[test]
    fn missing_and_empty_files() {
        let dir = std::env::temp_dir().join(format!("shardwamp-tlscfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read_certificates(&dir.join("nope.pem")).is_err());
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "hello").unwrap();
        assert!(read_certificates(&empty)
            .unwrap_err()
            .contains("no certificate"));
        assert!(read_private_key(&empty)
            .unwrap_err()
            .contains("no private key"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
