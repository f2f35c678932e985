//! TLS with rustls (crypto: ring), both ways: the listening side's
//! [`TlsServer`] (Crossbar.io's endpoint keys `key`, `certificate`,
//! `chain_certificates`, `ca_certificates`, `ciphers`, `dhparam`; reloadable
//! without a restart) and the dialing side's [`TlsClientOptions`] (`hostname`,
//! `ca_certificates`, a client `certificate` and `key`), plus what a finished
//! handshake tells authentication ([`server_tls_info`]: the router's [`TlsInfo`]).
//!
//! One [`TlsServer`] per transport is shared by every shard's copy of the
//! [`super::ListenerSpec`]: each accepted connection takes the current rustls
//! config (an `Arc` clone under a read lock); [`TlsServer::reload`] builds a
//! new one from the same files and swaps it in, so connections accepted after
//! it see the new certificate and those already open keep theirs. A reload
//! that fails leaves the running config in place.
//!
//! Channel bindings: `tls-exporter` (RFC 9266) is exported for TLS 1.3 and
//! TLS 1.2 (the server requires the extended master secret in TLS 1.2,
//! which RFC 9266 asks for). `tls-unique` (RFC 5929) is never filled: it is the
//! first Finished message, which rustls does not expose.
//!
//! Private keys never reach a log line or a `Debug` output: errors name the
//! key's file, never its content.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, CommonState, RootCertStore, ServerConfig};
use sha1::{Digest, Sha1};

use crate::config::tls::{key_file_warning, openssl_ciphers, read_certificates, read_private_key};
use crate::config::TlsConfig;
use crate::router::TlsInfo;

/// The label of the `tls-exporter` channel binding (RFC 9266).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// A transport's TLS server side: its files and the rustls config built from
/// them, swapped on reload.
pub struct TlsServer {
    transport: String,
    files: TlsConfig,
    current: RwLock<Loaded>,
}

#[derive(Clone)]
struct Loaded {
    config: Arc<ServerConfig>,
    certificate_sha1: String,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("transport", &self.transport)
            .field("certificate", &self.files.certificate)
            .field("key", &"<file>")
            .field("certificate_sha1", &self.certificate_sha1())
            .finish()
    }
}

impl PartialEq for TlsServer {
    fn eq(&self, other: &TlsServer) -> bool {
        self.transport == other.transport && self.files == other.files
    }
}

/// rustls's *ring* provider. rustls 0.23.48 deprecates it because it has no
/// post-quantum key exchange (X25519MLKEM768): aws-lc-rs has, at the cost of
/// a C/CMake build; *ring* is kept for a light build (docs/tls.md).
///
/// Key exchange prefers X25519, then P-256: the provider's own order puts
/// P-384 first, which *ring* computes with generic big-number code (several
/// ms a handshake on both ends, and a HelloRetryRequest for a client whose
/// key share is X25519). P-384 stays offered, last.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    let mut p = rustls::crypto::ring::default_provider();
    p.kx_groups = vec![X25519, SECP256R1, SECP384R1];
    p
}

/// The ring provider, limited to the suites `ciphers` selects.
fn provider(ciphers: Option<&str>) -> Result<CryptoProvider, String> {
    let mut p = ring_provider();
    if let Some(s) = ciphers {
        let choice = openssl_ciphers(s)?;
        if !choice.dropped.is_empty() {
            log::warn!(
                "tls.ciphers: rustls has no suite for {} (dropped)",
                choice.dropped.join(", ")
            );
        }
        p.cipher_suites.retain(|suite| {
            let name = suite.suite().as_str().unwrap_or("");
            let wanted = match suite {
                rustls::SupportedCipherSuite::Tls12(_) => &choice.tls12,
                rustls::SupportedCipherSuite::Tls13(_) => &choice.tls13,
            };
            // rustls names the TLS 1.3 suites TLS13_*, IANA TLS_*.
            let iana = match name.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => name.to_owned(),
            };
            wanted.is_empty() || wanted.contains(&iana.as_str())
        });
    }
    Ok(p)
}

/// Trust anchors from PEM files.
fn roots(files: &[PathBuf], key: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for (i, f) in files.iter().enumerate() {
        for c in read_certificates(f).map_err(|e| format!("tls.{key}[{i}]: {e}"))? {
            roots
                .add(c)
                .map_err(|e| format!("tls.{key}[{i}]: {}: {e}", f.display()))?;
        }
    }
    Ok(roots)
}

/// Upper-case hex bytes joined by `:` (Crossbar.io's `certificate-sha1`).
pub fn sha1_fingerprint(der: &[u8]) -> String {
    let digest = Sha1::digest(der);
    let mut out = String::with_capacity(59);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

fn build(files: &TlsConfig) -> Result<Loaded, String> {
    if let Some(w) = key_file_warning(&files.key) {
        log::warn!("tls.key: {w}");
    }
    if files.dhparam.is_some() {
        log::warn!("tls.dhparam is ignored: rustls has no finite-field Diffie-Hellman (ECDHE and X25519 only)");
    }
    let key = read_private_key(&files.key).map_err(|e| format!("tls.key: {e}"))?;
    let mut chain =
        read_certificates(&files.certificate).map_err(|e| format!("tls.certificate: {e}"))?;
    let certificate_sha1 = chain
        .first()
        .map(|c| sha1_fingerprint(c))
        .unwrap_or_default();
    for (i, f) in files.chain_certificates.iter().enumerate() {
        chain
            .extend(read_certificates(f).map_err(|e| format!("tls.chain_certificates[{i}]: {e}"))?);
    }
    let provider =
        Arc::new(provider(files.ciphers.as_deref()).map_err(|e| format!("tls.ciphers: {e}"))?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("tls.ciphers: {e}"))?;
    let builder = if files.ca_certificates.is_empty() {
        builder.with_no_client_auth()
    } else {
        let roots = roots(&files.ca_certificates, "ca_certificates")?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("tls.ca_certificates: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        // rustls says which of the two is wrong, never the key's content.
        .map_err(|e| format!("tls.key / tls.certificate: {e}"))?;
    // TLS 1.2 only with the extended master secret (RFC 7627), which
    // RFC 9266 requires for the tls-exporter channel binding to be unique.
    config.require_ems = true;
    Ok(Loaded {
        config: Arc::new(config),
        certificate_sha1,
    })
}

impl TlsServer {
    /// Loads transport `transport`'s TLS files; the error names the key
    /// (`tls.certificate: cannot read ...`).
    pub fn load(transport: &str, files: &TlsConfig) -> Result<TlsServer, String> {
        let loaded = build(files).map_err(|e| format!("transport '{transport}': {e}"))?;
        Ok(TlsServer {
            transport: transport.to_owned(),
            files: files.clone(),
            current: RwLock::new(loaded),
        })
    }

    /// Reads the files again and serves new connections with them; on error
    /// the running certificate stays. Returns the new certificate's SHA-1.
    pub fn reload(&self) -> Result<String, String> {
        let loaded =
            build(&self.files).map_err(|e| format!("transport '{}': {e}", self.transport))?;
        let sha1 = loaded.certificate_sha1.clone();
        match self.current.write() {
            Ok(mut cur) => *cur = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
        log::info!(
            "transport '{}': TLS certificate and key reloaded (certificate SHA-1 {sha1})",
            self.transport
        );
        Ok(sha1)
    }

    fn current(&self) -> Loaded {
        match self.current.read() {
            Ok(cur) => cur.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The SHA-1 fingerprint of the certificate new connections get.
    pub fn certificate_sha1(&self) -> String {
        self.current().certificate_sha1
    }

    /// Whether clients must present a certificate (`ca_certificates` set).
    pub fn requires_client_certificates(&self) -> bool {
        !self.files.ca_certificates.is_empty()
    }

    /// An acceptor with the current config.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current().config)
    }
}

/// What a finished server handshake tells authentication.
pub fn server_tls_info(conn: &rustls::ServerConnection) -> TlsInfo {
    let exporter = conn
        .export_keying_material([0u8; 32], EXPORTER_LABEL, None)
        .ok();
    tls_info(conn, exporter)
}

/// What a finished client handshake tells (the client's channel binding,
/// the server's certificate as `client_certificate_*`: the peer's).
pub fn client_tls_info(conn: &rustls::ClientConnection) -> TlsInfo {
    let exporter = conn
        .export_keying_material([0u8; 32], EXPORTER_LABEL, None)
        .ok();
    tls_info(conn, exporter)
}

/// What a finished client handshake offers the client's authenticator for
/// channel binding (`client::auth::TlsChannel`).
pub fn client_tls_channel(conn: &rustls::ClientConnection) -> crate::client::auth::TlsChannel {
    let info = client_tls_info(conn);
    crate::client::auth::TlsChannel {
        version: info.version,
        tls_exporter: info.tls_exporter,
        tls_unique: info.tls_unique,
    }
}

fn tls_info(conn: &CommonState, tls_exporter: Option<[u8; 32]>) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS",
    };
    let peer = conn.peer_certificates().and_then(|c| c.first());
    TlsInfo {
        version: version.to_owned(),
        tls_exporter,
        // rustls does not expose the Finished message tls-unique is made of.
        tls_unique: None,
        client_certificate_sha1: peer.map(|c| sha1_fingerprint(c)),
        client_certificate_subject: peer.and_then(subject),
    }
}

/// A certificate's subject as RFC 4514 text.
fn subject(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

/// TLS for a dialer: whom to trust and which certificate to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsClientOptions {
    /// The name the server's certificate must carry (default: the URL's host).
    pub hostname: Option<String>,
    /// CA certificates (PEM files) to trust; empty: the Mozilla roots
    /// (webpki-roots).
    pub ca_certificates: Vec<PathBuf>,
    /// A client certificate (PEM) to present, with `key`.
    pub certificate: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key: Option<PathBuf>,
}

impl TlsClientOptions {
    /// The rustls client config these options describe.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let roots = if self.ca_certificates.is_empty() {
            RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }
        } else {
            roots(&self.ca_certificates, "ca_certificates")?
        };
        let provider = Arc::new(ring_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match (&self.certificate, &self.key) {
            (Some(c), Some(k)) => {
                let chain = read_certificates(c).map_err(|e| format!("tls certificate: {e}"))?;
                let key = read_private_key(k).map_err(|e| format!("tls key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("tls certificate / key: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("a client certificate needs both a certificate and a key".into()),
        };
        // As the server side: the tls-exporter binding needs it in TLS 1.2.
        config.require_ems = true;
        Ok(Arc::new(config))
    }

    /// The server name to check: `hostname`, else `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, String> {
        let name = self.hostname.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_owned()).map_err(|e| format!("TLS server name {name:?}: {e}"))
    }

    /// A connector for the glommio dialer.
    pub fn connector(&self) -> Result<TlsConnector, String> {
        Ok(TlsConnector::from(self.client_config()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    struct Files {
        dir: PathBuf,
        server: TlsConfig,
        client: TlsClientOptions,
        client_cert: PathBuf,
    }

    /// A CA, a server certificate for `localhost` and a client certificate,
    /// as PEM files.
    fn files(name: &str) -> Files {
        let dir =
            std::env::temp_dir().join(format!("shardwamp-tls-unit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let write = |stem: &str, names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca, &ca_key)
                .unwrap();
            let (c, k) = (
                dir.join(format!("{stem}.crt")),
                dir.join(format!("{stem}.key")),
            );
            std::fs::write(&c, cert.pem()).unwrap();
            std::fs::write(&k, key.serialize_pem()).unwrap();
            (c, k)
        };
        let ca_file = dir.join("ca.crt");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let (sc, sk) = write("server", vec!["localhost".into()]);
        let (cc, ck) = write("client", vec!["client".into()]);
        Files {
            server: TlsConfig {
                key: sk,
                certificate: sc,
                chain_certificates: Vec::new(),
                ciphers: None,
                ca_certificates: vec![ca_file.clone()],
                dhparam: None,
            },
            client: TlsClientOptions {
                hostname: None,
                ca_certificates: vec![ca_file],
                certificate: Some(cc.clone()),
                key: Some(ck),
            },
            client_cert: cc,
            dir,
        }
    }

    /// Runs a handshake in memory.
    fn handshake(client: &mut rustls::ClientConnection, server: &mut rustls::ServerConnection) {
        for _ in 0..20 {
            let mut buf = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
            }
            server.process_new_packets().unwrap();
            let mut buf = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
            }
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.is_handshaking() {
                return;
            }
        }
        panic!("the handshake did not finish");
    }

    fn connect(f: &Files, client_config: Arc<ClientConfig>) -> (TlsInfo, TlsInfo) {
        let server = TlsServer::load("t", &f.server).unwrap();
        let mut s = rustls::ServerConnection::new(server.current().config).unwrap();
        let name = f.client.server_name("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(client_config, name).unwrap();
        handshake(&mut c, &mut s);
        (server_tls_info(&s), client_tls_info(&c))
    }

    #[test]
    fn both_ends_agree_on_the_exporter_and_the_server_sees_the_certificate() {
        let f = files("agree");
        let (server, client) = connect(&f, f.client.client_config().unwrap());
        assert_eq!(server.version, "TLSv1.3");
        assert!(server.tls_exporter.is_some());
        assert_eq!(server.tls_exporter, client.tls_exporter);
        assert_eq!(server.tls_unique, None);
        let der = read_certificates(&f.client_cert).unwrap();
        let want = sha1_fingerprint(&der[0]);
        assert_eq!(
            server.client_certificate_sha1.as_deref(),
            Some(want.as_str())
        );
        assert_eq!(want.len(), 59);
        assert!(want
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        // the binding is never printed
        assert!(format!("{server:?}").contains("<32 bytes>"));
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn key_exchange_is_x25519() {
        let f = files("kx");
        let server = TlsServer::load("t", &f.server).unwrap();
        let mut s = rustls::ServerConnection::new(server.current().config).unwrap();
        let name = f.client.server_name("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(f.client.client_config().unwrap(), name).unwrap();
        handshake(&mut c, &mut s);
        let group = s.negotiated_key_exchange_group().map(|g| g.name());
        assert_eq!(group, Some(rustls::NamedGroup::X25519));
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn tls12_has_the_exporter_too() {
        let f = files("tls12");
        let provider = Arc::new(ring_provider());
        let roots = roots(&f.client.ca_certificates, "ca").unwrap();
        let chain = read_certificates(f.client.certificate.as_ref().unwrap()).unwrap();
        let key = read_private_key(f.client.key.as_ref().unwrap()).unwrap();
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        let (server, client) = connect(&f, Arc::new(config));
        assert_eq!(server.version, "TLSv1.2");
        assert!(server.tls_exporter.is_some());
        assert_eq!(server.tls_exporter, client.tls_exporter);
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn ciphers_limit_the_tls12_suites() {
        let mut f = files("ciphers");
        f.server.ciphers = Some("ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA".into());
        let server = TlsServer::load("t", &f.server).unwrap();
        let config = server.current().config;
        let suites: Vec<&str> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .filter_map(|s| s.suite().as_str())
            .collect();
        assert!(
            suites.contains(&"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
            "{suites:?}"
        );
        assert!(
            !suites.contains(&"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            "{suites:?}"
        );
        // TLS 1.3 untouched by a TLS 1.2 list
        assert!(suites.contains(&"TLS13_AES_128_GCM_SHA256"), "{suites:?}");
        f.server.ciphers = Some("TLS_AES_256_GCM_SHA384".into());
        let config = TlsServer::load("t", &f.server).unwrap().current().config;
        let suites: Vec<&str> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .filter_map(|s| s.suite().as_str())
            .collect();
        assert!(suites.contains(&"TLS13_AES_256_GCM_SHA384"), "{suites:?}");
        assert!(!suites.contains(&"TLS13_AES_128_GCM_SHA256"), "{suites:?}");
        f.server.ciphers = Some("RC4-MD5".into());
        let e = TlsServer::load("t", &f.server).unwrap_err();
        assert!(e.contains("transport 't': tls.ciphers"), "{e}");
        let _ = std::fs::remove_dir_all(&f.dir);
    }

    #[test]
    fn errors_name_the_key_never_its_content() {
        let mut f = files("errors");
        let key_text = std::fs::read_to_string(&f.server.key).unwrap();
        f.server.certificate = f.server.key.clone();
        let e = TlsServer::load("t", &f.server).unwrap_err();
        assert!(e.contains("tls.certificate"), "{e}");
        assert!(!e.contains(key_text.lines().nth(1).unwrap()), "{e}");
        let _ = std::fs::remove_dir_all(&f.dir);
    }
}
