//! The `tls` method (Crossbar.io's TLS client-certificate authentication):
//! the connection's verified client certificate is the credential. Its SHA-1
//! fingerprint ([`TlsInfo::client_certificate_sha1`]) is looked up among the
//! static principals' `certificate-sha1`; the principal found is welcomed at
//! once (no CHALLENGE), as its `authid` under its `role`. A client that names
//! an `authid` must name that principal. No certificate (a plain connection,
//! or TLS without client certificates) or an unknown one is
//! `wamp.error.authentication_denied`. The transport verified the certificate
//! against the endpoint's `ca_certificates` before any WAMP was read.

use std::collections::HashMap;

use super::{abort, AuthInfo, AuthStep, Authenticator, TlsInfo, PROVIDER_STATIC};
use crate::config::auth::{normalize_sha1, TlsStatic, METHOD_TLS};
use crate::wamp::uris::{ERROR_AUTHENTICATION_DENIED, ERROR_AUTHENTICATION_FAILED};
use crate::wamp::value::{Dict, Value};

/// One principal, found by its certificate's fingerprint.
#[derive(Debug, Clone)]
pub(super) struct TlsEntry {
    pub(super) authid: String,
    pub(super) role: String,
}

/// The principals by normalized fingerprint (40 upper-case hex digits).
pub(super) fn compile(t: &TlsStatic) -> HashMap<String, TlsEntry> {
    t.principals
        .iter()
        .filter_map(|(authid, p)| {
            let fp = normalize_sha1(&p.certificate_sha1)?;
            Some((
                fp,
                TlsEntry {
                    authid: authid.clone(),
                    role: p.role.clone(),
                },
            ))
        })
        .collect()
}

impl Authenticator {
    pub(super) fn hello_tls(&self, authid: Option<&str>, tls: Option<&TlsInfo>) -> AuthStep {
        let Some(principals) = &self.tls else {
            return abort(
                ERROR_AUTHENTICATION_FAILED,
                "tls authentication is not configured".to_owned(),
            );
        };
        let Some(fingerprint) = tls.and_then(|t| t.client_certificate_sha1.as_deref()) else {
            return abort(
                ERROR_AUTHENTICATION_DENIED,
                "tls authentication needs a client certificate, and this connection presented none"
                    .to_owned(),
            );
        };
        let found = normalize_sha1(fingerprint).and_then(|fp| principals.get(&fp));
        let Some(p) = found.filter(|p| authid.is_none_or(|a| a == p.authid)) else {
            return abort(
                ERROR_AUTHENTICATION_DENIED,
                format!("tls authentication failed: the client certificate {fingerprint} is not that of a principal{}",
                    authid.map(|a| format!(" named {a:?}")).unwrap_or_default()),
            );
        };
        let mut extra = Dict::new();
        extra.insert(
            "certificate-sha1".into(),
            Value::from(fingerprint.to_owned()),
        );
        if let Some(subject) = tls.and_then(|t| t.client_certificate_subject.as_deref()) {
            extra.insert("subject".into(), Value::from(subject.to_owned()));
        }
        AuthStep::Welcome(AuthInfo {
            authid: p.authid.clone(),
            authrole: p.role.clone(),
            authmethod: METHOD_TLS.to_owned(),
            authprovider: PROVIDER_STATIC.to_owned(),
            authextra: Some(extra),
            realm: None,
        })
    }
}
