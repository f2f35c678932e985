//! [`TlsInfo`]: what a TLS connection tells authentication about itself.
//!
//! The transport that terminated TLS fills it in once the handshake is done
//! and hands it to the router with the connection; the router keeps it with
//! the connection for the methods that need it: WAMP-cryptosign's channel
//! binding (`tls-exporter`, RFC 9266; `tls-unique`, RFC 5929, TLS 1.2 only)
//! and the `tls` method (the client certificate's fingerprint). A plain
//! connection has none.

use std::fmt;

/// What authentication may learn from a TLS connection.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The negotiated protocol version, as `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// The `tls-exporter` channel binding (RFC 9266): 32 bytes exported with
    /// the label `EXPORTER-Channel-Binding` and no context.
    pub tls_exporter: Option<[u8; 32]>,
    /// The `tls-unique` channel binding (RFC 5929): the first Finished
    /// message of the handshake; TLS 1.2 only (undefined in TLS 1.3).
    pub tls_unique: Option<Vec<u8>>,
    /// The SHA-1 fingerprint of the client's certificate, upper-case hex
    /// bytes joined by `:` as Crossbar.io's `certificate-sha1` principals
    /// write it, when the client presented a verified certificate.
    pub client_certificate_sha1: Option<String>,
    /// The client certificate's subject, for the `tls` method's details.
    pub client_certificate_subject: Option<String>,
}

impl fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Channel-binding values are per-connection secrets of sorts: never printed.
        f.debug_struct("TlsInfo")
            .field("version", &self.version)
            .field("tls_exporter", &self.tls_exporter.map(|_| "<32 bytes>"))
            .field("tls_unique", &self.tls_unique.as_ref().map(|_| "<bytes>"))
            .field("client_certificate_sha1", &self.client_certificate_sha1)
            .field(
                "client_certificate_subject",
                &self.client_certificate_subject,
            )
            .finish()
    }
}
