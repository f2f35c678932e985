//! A transport's `auth` table as the configuration describes it
//! (Crossbar.io's shape): one optional entry per method, the static
//! principals, their secrets, and the checks a table must pass before the
//! router's authenticator is built from it. The authentication itself is
//! `router::auth`'s.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The `anonymous` method's name in `HELLO.Details.authmethods` and `WELCOME.Details.authmethod`.
pub const METHOD_ANONYMOUS: &str = "anonymous";
/// The `ticket` method's name.
pub const METHOD_TICKET: &str = "ticket";
/// The WAMP-CRA method's name.
pub const METHOD_WAMPCRA: &str = "wampcra";
/// The WAMP-cryptosign method's name.
pub const METHOD_CRYPTOSIGN: &str = "cryptosign";
/// The TLS client-certificate method's name.
pub const METHOD_TLS: &str = "tls";

/// Default role of an anonymous session (Crossbar.io's default).
pub const DEFAULT_ANONYMOUS_ROLE: &str = "anonymous";
/// Default PBKDF2 iteration count of a salted WAMP-CRA user.
pub const DEFAULT_ITERATIONS: u32 = 1000;
/// Default PBKDF2 derived-key length, in bytes, of a salted WAMP-CRA user.
pub const DEFAULT_KEYLEN: u32 = 32;

/// A secret string (a ticket, a WAMP-CRA secret or derived key) whose `Debug`
/// output is redacted and whose equality is checked in constant time.
///
/// It serializes as the plain string (`#[serde(transparent)]`), so configuration
/// round-trips.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` is the secret, compared in constant time: both are
    /// hashed first, so neither the content nor the length leaks through timing.
    pub fn ct_eq(&self, candidate: &str) -> bool {
        let ha = Sha256::digest(self.0.as_bytes());
        let hb = Sha256::digest(candidate.as_bytes());
        bool::from(ha.as_slice().ct_eq(hb.as_slice()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.ct_eq(&other.0)
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_owned())
    }
}

/// One method's entry in a transport's `auth` table: `{"type": "static", ...}`
/// or `{"type": "dynamic", "authenticator": ...}`; `S` is the method's static shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AuthMethodConfig<S> {
    /// Principals listed in the configuration.
    Static(S),
    /// Principals looked up by calling a WAMP procedure, the dynamic
    /// authenticator (`router::auth::dynamic`).
    Dynamic(DynamicAuth),
}

/// Default time, in ms, a dynamic authenticator has to answer
/// ([`DynamicAuth::timeout`]).
pub const DEFAULT_AUTHENTICATOR_TIMEOUT_MS: u64 = 10_000;

/// `{"type": "dynamic", "authenticator": "com.example.authenticate",
/// "authenticator-realm": "auth", "authenticator-role": "authenticator"}`
/// (Crossbar.io's keys), plus shardwamp's `timeout`.
///
/// The procedure is called as `(realm, authid, details)` on the
/// authenticator realm, as an ordinary invocation of whichever session
/// registered it; see `router::auth::dynamic` for the answer it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicAuth {
    /// URI of the authenticator procedure.
    pub authenticator: String,
    /// The realm the authenticator is registered on; absent: the realm the
    /// client asked for in HELLO.
    #[serde(
        rename = "authenticator-realm",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authenticator_realm: Option<String>,
    /// The role the router calls the authenticator under (that role's
    /// permissions on the authenticator realm must allow the call); absent:
    /// the router calls it as itself, trusted.
    #[serde(
        rename = "authenticator-role",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authenticator_role: Option<String>,
    /// The role given when the authenticator's answer names none (Crossbar.io's `default-role`).
    #[serde(
        rename = "default-role",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_role: Option<String>,
    /// Time, in ms, the authenticator has to answer (shardwamp; default
    /// [`DEFAULT_AUTHENTICATOR_TIMEOUT_MS`]); no answer in time is a denial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl DynamicAuth {
    /// The answer deadline in ms ([`DEFAULT_AUTHENTICATOR_TIMEOUT_MS`] when not configured).
    pub fn timeout_ms(&self) -> u64 {
        self.timeout.unwrap_or(DEFAULT_AUTHENTICATOR_TIMEOUT_MS)
    }
}

/// Static anonymous access: `{"type": "static", "role", "authid"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymousStatic {
    /// Role of the anonymous session (default `anonymous`).
    #[serde(default = "default_anonymous_role")]
    pub role: String,
    /// Fixed `authid`; absent, each session gets a random serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authid: Option<String>,
    /// The one realm anonymous sessions may join through this transport;
    /// absent, any realm (Crossbar.io accepts this key and ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

fn default_anonymous_role() -> String {
    DEFAULT_ANONYMOUS_ROLE.to_owned()
}

/// Static tickets: `{"type": "static", "principals": {AUTHID: {"ticket", "role"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketStatic {
    /// The principals by `authid`.
    #[serde(default)]
    pub principals: BTreeMap<String, TicketPrincipal>,
}

/// One ticket principal: `{"ticket", "role"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPrincipal {
    /// The ticket the client must present (redacted in `Debug`).
    pub ticket: Secret,
    /// The role the principal is authenticated under.
    pub role: String,
}

/// Static WAMP-CRA users: `{"type": "static", "users": {AUTHID: {...}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WampCraStatic {
    /// The users by `authid`.
    #[serde(default)]
    pub users: BTreeMap<String, WampCraUser>,
}

/// One WAMP-CRA user: `{"secret", "role", "salt", "iterations", "keylen"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WampCraUser {
    /// The shared secret (redacted in `Debug`). With a `salt`, this is the
    /// derived key (`wamp::cra::derive_key` of the password), not the password.
    pub secret: Secret,
    /// The role the user is authenticated under.
    pub role: String,
    /// PBKDF2 salt the client derives its key with; absent: the password is the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// PBKDF2 iterations (default [`DEFAULT_ITERATIONS`]); used only with a salt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// PBKDF2 key length in bytes (default [`DEFAULT_KEYLEN`]); used only with a salt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keylen: Option<u32>,
}

/// Static cryptosign principals: `{"type": "static", "principals": {AUTHID: {...}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptosignStatic {
    /// The principals by `authid`.
    #[serde(default)]
    pub principals: BTreeMap<String, CryptosignPrincipal>,
}

/// One cryptosign principal: `{"authorized_keys", "role", "realm"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptosignPrincipal {
    /// Hex-encoded Ed25519 public keys (32 bytes each) the principal may
    /// authenticate with. Public, so not redacted.
    #[serde(default)]
    pub authorized_keys: Vec<String>,
    /// The role the principal is authenticated under.
    pub role: String,
    /// The only realm the principal may join (any realm when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

/// Static TLS client-certificate principals:
/// `{"type": "static", "principals": {AUTHID: {"certificate-sha1", "role"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsStatic {
    /// The principals by `authid`.
    #[serde(default)]
    pub principals: BTreeMap<String, TlsPrincipal>,
}

/// One TLS principal: `{"certificate-sha1", "role"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPrincipal {
    /// The SHA-1 fingerprint of the client's certificate, hex bytes joined
    /// by `:` (`B6:E5:E6:...`, as Crossbar.io and `openssl x509 -fingerprint
    /// -sha1` write it); case and the colons do not matter.
    #[serde(rename = "certificate-sha1")]
    pub certificate_sha1: String,
    /// The role the principal is authenticated under.
    pub role: String,
}

/// A fingerprint as 40 upper-case hex digits without separators, or `None`
/// when `s` is not 20 hex bytes (colons and spaces between them allowed).
pub fn normalize_sha1(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// A transport's `auth` table: one optional entry per method, keyed by the
/// method's name as in Crossbar.io (`"anonymous"`, `"ticket"`, `"wampcra"`,
/// `"cryptosign"`).
///
/// An empty table offers no method, so every `HELLO` is aborted. A transport
/// with no `auth` table at all is, in Crossbar.io, open to anonymous sessions
/// under the role `anonymous`: that is [`TransportAuth::anonymous_only`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportAuth {
    /// Anonymous access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<AuthMethodConfig<AnonymousStatic>>,
    /// Ticket authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<AuthMethodConfig<TicketStatic>>,
    /// WAMP-CRA authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wampcra: Option<AuthMethodConfig<WampCraStatic>>,
    /// Cryptosign authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptosign: Option<AuthMethodConfig<CryptosignStatic>>,
    /// TLS client-certificate authentication (the endpoint must ask for
    /// client certificates: `tls.ca_certificates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<AuthMethodConfig<TlsStatic>>,
}

impl TransportAuth {
    /// Static anonymous access only, under `role`, with random `authid`s.
    pub fn anonymous_only(role: &str) -> TransportAuth {
        TransportAuth {
            anonymous: Some(AuthMethodConfig::Static(AnonymousStatic {
                role: role.to_owned(),
                authid: None,
                realm: None,
            })),
            ..TransportAuth::default()
        }
    }

    /// Checks the table can be used: fails on a dynamic entry with an empty
    /// authenticator, realm or role or a zero timeout
    /// ([`AuthConfigError::InvalidDynamic`]), on empty authids, roles or
    /// secrets, zero PBKDF2 parameters, and cryptosign keys that are not 32
    /// bytes of hex. The router's authenticator is built only from a table
    /// that passes.
    pub fn check(&self) -> Result<(), AuthConfigError> {
        if let Some(AuthMethodConfig::Dynamic(_)) = &self.cryptosign {
            return Err(AuthConfigError::MethodNotSupported {
                method: "cryptosign (dynamic)",
            });
        }
        if let Some(AuthMethodConfig::Dynamic(_)) = &self.tls {
            return Err(AuthConfigError::MethodNotSupported {
                method: "tls (dynamic)",
            });
        }
        if let Some(c) = check_dynamic(METHOD_CRYPTOSIGN, &self.cryptosign)? {
            for (authid, p) in &c.principals {
                // A public key is no secret: any non-empty placeholder passes that check.
                check_principal(METHOD_CRYPTOSIGN, authid, &p.role, &Secret::new("-"))?;
                for (index, key) in p.authorized_keys.iter().enumerate() {
                    if let Err(e) = crate::wamp::cryptosign::parse_public_key(key) {
                        return Err(AuthConfigError::BadAuthorizedKey {
                            authid: authid.clone(),
                            index,
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        if let Some(a) = check_dynamic(METHOD_ANONYMOUS, &self.anonymous)? {
            if a.role.is_empty() {
                return Err(AuthConfigError::EmptyRole {
                    method: METHOD_ANONYMOUS,
                    authid: a.authid.clone().unwrap_or_default(),
                });
            }
            if a.authid.as_deref() == Some("") {
                return Err(AuthConfigError::EmptyAuthid {
                    method: METHOD_ANONYMOUS,
                });
            }
        }
        if let Some(t) = check_dynamic(METHOD_TICKET, &self.ticket)? {
            for (authid, p) in &t.principals {
                check_principal(METHOD_TICKET, authid, &p.role, &p.ticket)?;
            }
        }
        if let Some(t) = check_dynamic(METHOD_TLS, &self.tls)? {
            for (authid, p) in &t.principals {
                if authid.is_empty() {
                    return Err(AuthConfigError::EmptyAuthid { method: METHOD_TLS });
                }
                if p.role.is_empty() {
                    return Err(AuthConfigError::EmptyRole {
                        method: METHOD_TLS,
                        authid: authid.clone(),
                    });
                }
                if normalize_sha1(&p.certificate_sha1).is_none() {
                    return Err(AuthConfigError::InvalidFingerprint {
                        authid: authid.clone(),
                    });
                }
            }
        }
        if let Some(w) = check_dynamic(METHOD_WAMPCRA, &self.wampcra)? {
            for (authid, u) in &w.users {
                check_principal(METHOD_WAMPCRA, authid, &u.role, &u.secret)?;
                if u.salt.is_some() {
                    let iterations = u.iterations.unwrap_or(DEFAULT_ITERATIONS);
                    let keylen = u.keylen.unwrap_or(DEFAULT_KEYLEN);
                    for (field, v) in [("iterations", iterations), ("keylen", keylen)] {
                        if v == 0 {
                            return Err(AuthConfigError::InvalidPbkdf2Parameter {
                                authid: authid.clone(),
                                field,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why a transport's `auth` table cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// A method's `"type": "dynamic"` entry cannot be used.
    #[error("{method}: dynamic authenticator: {problem}")]
    InvalidDynamic {
        /// The method's name.
        method: &'static str,
        /// The key at fault (`authenticator`, `authenticator-realm`, ...).
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A method that is parsed but not implemented yet.
    #[error("authentication method {method:?} is not supported yet")]
    MethodNotSupported {
        /// The method's name.
        method: &'static str,
    },
    /// A principal's `role` is empty.
    #[error("{method} principal {authid:?} has an empty role")]
    EmptyRole {
        /// The method's name.
        method: &'static str,
        /// The principal.
        authid: String,
    },
    /// A principal's ticket or secret is empty (it would accept an empty signature).
    #[error("{method} principal {authid:?} has an empty secret")]
    EmptySecret {
        /// The method's name.
        method: &'static str,
        /// The principal.
        authid: String,
    },
    /// A principal's `authid` is empty.
    #[error("{method} has a principal with an empty authid")]
    EmptyAuthid {
        /// The method's name.
        method: &'static str,
    },
    /// A cryptosign principal's `authorized_keys` entry is not a public key.
    #[error("cryptosign principal {authid:?}: authorized_keys[{index}]: {reason}")]
    BadAuthorizedKey {
        /// The principal.
        authid: String,
        /// The entry's index in `authorized_keys`.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A `tls` principal's `certificate-sha1` is not 20 hex bytes.
    #[error("tls principal {authid:?}: certificate-sha1 must be 20 hex bytes (B6:E5:...)")]
    InvalidFingerprint {
        /// The principal.
        authid: String,
    },
    /// A salted WAMP-CRA user has `iterations` or `keylen` of 0.
    #[error("wampcra user {authid:?}: {field} must be at least 1")]
    InvalidPbkdf2Parameter {
        /// The user.
        authid: String,
        /// `"iterations"` or `"keylen"`.
        field: &'static str,
    },
}

fn check_dynamic<'a, S>(
    method: &'static str,
    cfg: &'a Option<AuthMethodConfig<S>>,
) -> Result<Option<&'a S>, AuthConfigError> {
    match cfg {
        None => Ok(None),
        Some(AuthMethodConfig::Static(s)) => Ok(Some(s)),
        Some(AuthMethodConfig::Dynamic(d)) => {
            check_dynamic_entry(method, d)?;
            Ok(None)
        }
    }
}

fn check_dynamic_entry(method: &'static str, d: &DynamicAuth) -> Result<(), AuthConfigError> {
    let bad = |key: &'static str, problem: String| AuthConfigError::InvalidDynamic {
        method,
        key,
        problem,
    };
    if let Err(e) = crate::wamp::uri::validate(
        &d.authenticator,
        crate::wamp::uri::UriCheck::Loose,
        crate::wamp::uri::MatchPolicy::Exact,
    ) {
        return Err(bad(
            "authenticator",
            format!("invalid procedure URI {:?}: {e}", d.authenticator),
        ));
    }
    for (key, v) in [
        ("authenticator-realm", &d.authenticator_realm),
        ("authenticator-role", &d.authenticator_role),
        ("default-role", &d.default_role),
    ] {
        if v.as_deref() == Some("") {
            return Err(bad(key, "must not be empty".to_owned()));
        }
    }
    if d.timeout == Some(0) {
        return Err(bad("timeout", "must be at least 1 ms".to_owned()));
    }
    Ok(())
}

fn check_principal(
    method: &'static str,
    authid: &str,
    role: &str,
    secret: &Secret,
) -> Result<(), AuthConfigError> {
    if authid.is_empty() {
        return Err(AuthConfigError::EmptyAuthid { method });
    }
    if role.is_empty() {
        return Err(AuthConfigError::EmptyRole {
            method,
            authid: authid.to_owned(),
        });
    }
    if secret.is_empty() {
        return Err(AuthConfigError::EmptySecret {
            method,
            authid: authid.to_owned(),
        });
    }
    Ok(())
}
