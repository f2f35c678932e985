//! Session authentication, sans-IO: the [`Authenticator`] compiled from a
//! transport's `auth` configuration ([`TransportAuth`], owned by
//! `crate::config::auth`), the state machine that turns a
//! `HELLO` into a `WELCOME`, a `CHALLENGE` or an `ABORT`, and an `AUTHENTICATE`
//! into a `WELCOME` or an `ABORT`.
//!
//! Methods (spec: `rfc/text/advanced/ap_authentication*.md`):
//!
//! * **anonymous** — welcomed at once under the configured role (default
//!   `anonymous`) and `authid` (default: a random serial number such as
//!   `JKQC-PPGA-9EAC-JXK9-7KHA-MJLP`, as Crossbar.io generates).
//! * **ticket** — `CHALLENGE("ticket", {})`; the `AUTHENTICATE` signature is the
//!   ticket itself, compared in constant time.
//! * **wampcra** — `CHALLENGE("wampcra", {"challenge": ...})`, the challenge a JSON
//!   object with `authid`, `authrole`, `authmethod`, `authprovider`, `nonce`,
//!   `timestamp` and `session`; the signature is
//!   `base64(HMAC-SHA256(secret, challenge))`, see [`crate::wamp::cra::sign`].
//! * **cryptosign** — `CHALLENGE("cryptosign", {"challenge": HEX, "channel_binding"})`,
//!   32 random bytes the client signs with its Ed25519 key, XOR the TLS
//!   channel id when bound; router authentication when the client sends its
//!   own challenge. See `cryptosign.rs` and [`crate::wamp::cryptosign`].
//! * **tls** — no challenge: the verified TLS client certificate's SHA-1
//!   fingerprint names the principal (Crossbar.io's `certificate-sha1`).
//!
//! **Salted WAMP-CRA users.** As in the spec ("the password itself is never
//! stored, but only a key derived from the password and a password salt. This
//! derived key is then practically working as the new shared secret") and in
//! Crossbar.io (`crossbar/router/auth/wampcra.py` signs with `user['secret']`
//! whether or not a salt is set), the configured `secret` of a user with a
//! `salt` **is the derived key**: the base64 text [`crate::wamp::cra::derive_key`]
//! returns for the password. The router signs with it directly and sends
//! `salt`, `iterations` and `keylen` in the challenge so that the client can
//! derive the same key from its password. A Crossbar.io `config.json` thus
//! translates one to one.
//!
//! The client's `HELLO.Details.authmethods` order is honoured: the first method
//! the transport offers is used (no fall-through to later methods when it
//! fails). Absent or empty, the list is `["anonymous"]`.
//!
//! Error URIs follow the spec (`rfc/text/advanced/ap_48_uris.md`):
//! no offered method → `wamp.error.no_matching_auth_method` (Crossbar.io says
//! `wamp.error.no_auth_method`); missing `authid` →
//! `wamp.error.authentication_required`; wrong ticket or signature →
//! `wamp.error.authentication_denied` ("wrong password"; Crossbar.io says
//! `wamp.error.not_authorized`).
//!
//! **Unknown principals are not revealed.** The spec's
//! `wamp.error.no_such_principal` (and Crossbar.io, which denies at `HELLO`)
//! would let anyone enumerate the configured authids. Here an unknown `authid`
//! gets a *decoy* challenge shaped like a real one and, whatever it answers,
//! the same `wamp.error.authentication_denied` with the same message text as a
//! wrong password, after the same work (one HMAC-SHA256 and a constant-time
//! comparison). For ticket the challenge is the same `{}` as for everyone. For
//! WAMP-CRA the decoy copies the shape of one configured user, picked by a
//! keyed hash of the authid: its `authrole` in the challenge string, whether
//! the challenge is salted, its `iterations` and `keylen`, and its salt's
//! length, the salt itself being derived from the authid. So repeated HELLOs
//! for one unknown authid see the same role and salt, as for a real user, and
//! the decoys' roles and salt shapes are distributed like the real users'.
//! What still differs: a decoy's salt characters are base64 whatever the real
//! salts look like, and an attacker who knows a user's role can tell a decoy
//! that names another. The decoy key ([`Authenticator::set_decoy_key`]) is
//! router-wide, so that every shard answers one authid alike.
//!
//! Not done here, by the caller: checking that the realm and the role exist
//! (`wamp.error.no_such_realm`, `wamp.error.no_such_role`) and timing out a
//! pending authentication ("the `AUTHENTICATE` message was sent in due time").
//! No secret appears in any `Debug` output or message text: secrets are held
//! in [`Secret`], whose `Debug` is redacted.
//!
//! This file holds the [`Authenticator`], method selection and the
//! challenge/answer types; each method is a file of its own: `anonymous.rs`,
//! `ticket.rs`, `wampcra.rs` (with the WAMP-CRA primitives), `cryptosign.rs`,
//! `tls.rs` (the client certificate's fingerprint, no challenge), and
//! `dynamic.rs` for methods configured `"type": "dynamic"` (the
//! authenticator procedure is asked: [`AuthStep::Ask`], then
//! [`Authenticator::answer`]). A new method is a new file beside them, a
//! [`PendingAuth`] kind and an arm in [`Authenticator::hello`] and
//! [`Authenticator::authenticate`], and for its dynamic form an arm in
//! `dynamic.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::auth::{
    AnonymousStatic, AuthConfigError, AuthMethodConfig, DynamicAuth, Secret, TransportAuth,
    DEFAULT_ITERATIONS, DEFAULT_KEYLEN, METHOD_ANONYMOUS, METHOD_CRYPTOSIGN, METHOD_TICKET,
    METHOD_TLS, METHOD_WAMPCRA,
};
use crate::wamp::cryptosign::PrivateKey;
use crate::wamp::uris::{
    ERROR_AUTHENTICATION_DENIED, ERROR_AUTHENTICATION_FAILED, ERROR_NO_MATCHING_AUTH_METHOD,
    ERROR_PROTOCOL_VIOLATION,
};
use crate::wamp::value::{Dict, Value};

mod anonymous;
mod channel;
mod cryptosign;
pub mod dynamic;
mod ticket;
mod tls;
mod wampcra;

pub use channel::TlsInfo;
use cryptosign::{ChannelId, CsTable};
pub use dynamic::{AskFailure, DynamicAsk, DynamicPending, PROVIDER_DYNAMIC};
use ticket::TicketEntry;
use wampcra::{CraEntry, CraShape};

/// `authprovider` of every static (configured) principal.
pub const PROVIDER_STATIC: &str = "static";

/// The dynamic entry of a method's configuration, if it is dynamic.
fn dynamic_of<S>(cfg: &Option<AuthMethodConfig<S>>) -> Option<&DynamicAuth> {
    match cfg {
        Some(AuthMethodConfig::Dynamic(d)) => Some(d),
        _ => None,
    }
}

/// HMAC-SHA256 of `parts` (joined with NUL) under the decoy key: the
/// deterministic material of a decoy principal.
fn decoy_mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        mac.update(p);
        mac.update(&[0]);
    }
    mac.finalize().into_bytes().into()
}

// ---------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------

/// The authentication a session got: what `WELCOME.Details` carries.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthInfo {
    /// The authentication ID the session is authenticated as.
    pub authid: String,
    /// The role the session is authenticated under.
    pub authrole: String,
    /// The method used: `anonymous`, `ticket`, `wampcra` or `cryptosign`.
    pub authmethod: String,
    /// Who vouched for the principal: `static` for configured principals.
    pub authprovider: String,
    /// Extra data for `WELCOME.Details.authextra`.
    pub authextra: Option<Dict>,
    /// The realm the session joins instead of the one it asked for (a
    /// dynamic authenticator may redirect it); `None`: the realm asked for.
    pub realm: Option<String>,
}

impl AuthInfo {
    /// The authentication part of `WELCOME.Details`: `authid`, `authrole`,
    /// `authmethod`, `authprovider` and, when present, `authextra`.
    pub fn welcome_details(&self) -> Dict {
        let mut d = Dict::new();
        d.insert("authid".into(), Value::from(self.authid.as_str()));
        d.insert("authrole".into(), Value::from(self.authrole.as_str()));
        d.insert("authmethod".into(), Value::from(self.authmethod.as_str()));
        d.insert(
            "authprovider".into(),
            Value::from(self.authprovider.as_str()),
        );
        if let Some(extra) = &self.authextra {
            d.insert("authextra".into(), Value::Dict(extra.clone()));
        }
        d
    }
}

#[derive(Debug, Clone, PartialEq)]
enum PendingKind {
    Ticket,
    WampCra {
        challenge: String,
    },
    Cryptosign {
        /// The 32 random bytes sent.
        challenge: [u8; 32],
        /// The TLS channel id when bound (redacted in `Debug`).
        channel_id: Option<ChannelId>,
        /// The public key the client announced.
        pubkey: [u8; 32],
        /// Whether the client named its authid (else it was inferred, and a
        /// denial must not name it).
        named: bool,
    },
    /// A ticket the dynamic authenticator will check (asked at AUTHENTICATE).
    DynTicket {
        authextra: Option<Dict>,
    },
    /// A WAMP-CRA challenge under a secret a dynamic authenticator gave.
    DynWampCra {
        challenge: String,
        /// The user's key (redacted in `Debug`).
        key: Secret,
        redirect: Option<String>,
        authextra: Option<Dict>,
    },
}

/// A challenge sent and not yet answered: the state the session keeps between
/// `CHALLENGE` and `AUTHENTICATE`. Holds no secret but, for a dynamic
/// WAMP-CRA user, the key its authenticator gave (a [`Secret`], redacted in
/// `Debug`).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAuth {
    kind: PendingKind,
    authid: String,
    authrole: String,
    realm: String,
    session_id: u64,
    /// The authid is not a configured principal: the challenge is a decoy and
    /// any answer is denied.
    decoy: bool,
}

impl PendingAuth {
    /// The method being performed (`ticket`, `wampcra` or `cryptosign`).
    pub fn method(&self) -> &'static str {
        match self.kind {
            PendingKind::Ticket | PendingKind::DynTicket { .. } => METHOD_TICKET,
            PendingKind::WampCra { .. } | PendingKind::DynWampCra { .. } => METHOD_WAMPCRA,
            PendingKind::Cryptosign { .. } => METHOD_CRYPTOSIGN,
        }
    }

    /// The `authid` the client asked for.
    pub fn authid(&self) -> &str {
        &self.authid
    }

    /// The role the client will get when it authenticates.
    pub fn authrole(&self) -> &str {
        &self.authrole
    }

    /// The realm named in `HELLO`.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The session ID announced to the client (in the WAMP-CRA challenge).
    pub fn session_id(&self) -> u64 {
        self.session_id
    }
}

/// What the router answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthStep {
    /// Send `WELCOME` with these details.
    Welcome(AuthInfo),
    /// Send `CHALLENGE(method, extra)` and keep `pending` for the `AUTHENTICATE`.
    Challenge {
        /// The method, `CHALLENGE.AuthMethod`.
        method: String,
        /// `CHALLENGE.Extra`.
        extra: Dict,
        /// State to hand to [`Authenticator::authenticate`].
        pending: PendingAuth,
    },
    /// Send `ABORT(reason)` with `{"message": message}` and close.
    Abort {
        /// A `wamp.error.*` URI.
        reason: &'static str,
        /// Human-readable detail (never contains a secret).
        message: String,
    },
    /// Call a dynamic authenticator, then hand its answer to
    /// [`Authenticator::answer`].
    Ask(Box<DynamicAsk>),
    /// Send `ABORT(reason)`, an error URI a dynamic authenticator raised.
    Deny {
        /// The authenticator's error URI.
        reason: String,
        /// Its message.
        message: String,
    },
}

fn abort(reason: &'static str, message: String) -> AuthStep {
    AuthStep::Abort { reason, message }
}

/// The compiled `auth` table of one transport; answers `HELLO` and
/// `AUTHENTICATE`. Immutable: replace it to change the configuration.
#[derive(Clone)]
pub struct Authenticator {
    anonymous: Option<AnonymousStatic>,
    ticket: Option<HashMap<String, TicketEntry>>,
    wampcra: Option<HashMap<String, CraEntry>>,
    /// The `tls` principals by certificate fingerprint (40 upper-case hex digits).
    tls: Option<HashMap<String, tls::TlsEntry>>,
    /// The configured WAMP-CRA users' shapes, in authid order (decoys copy one).
    cra_shapes: Vec<CraShape>,
    cryptosign: Option<CsTable>,
    /// The router's own key, for cryptosign's router authentication (`Debug`
    /// shows only its public half).
    router_key: Option<PrivateKey>,
    /// Key of the decoy principals (never logged).
    decoy_key: [u8; 32],
    /// Whether sessions through this transport are the router's own
    /// (components' internal transports): see [`Authenticator::internal`].
    internal: bool,
    /// Methods authenticated by a dynamic authenticator, by name.
    dynamic: BTreeMap<&'static str, DynamicAuth>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("anonymous", &self.anonymous)
            .field("ticket", &self.ticket)
            .field("wampcra", &self.wampcra)
            .field("cryptosign", &self.cryptosign)
            .field("router_key", &self.router_key)
            .field("tls", &self.tls)
            .field("decoy_key", &"<redacted>")
            .field("internal", &self.internal)
            .field("dynamic", &self.dynamic)
            .finish()
    }
}

impl Authenticator {
    /// Compiles a transport's `auth` table; fails where
    /// [`TransportAuth::check`] does.
    pub fn new(config: &TransportAuth) -> Result<Authenticator, AuthConfigError> {
        config.check()?;
        let anonymous = match &config.anonymous {
            Some(AuthMethodConfig::Static(a)) => Some(a.clone()),
            _ => None,
        };
        let ticket = match &config.ticket {
            Some(AuthMethodConfig::Static(t)) => {
                let mut map = HashMap::with_capacity(t.principals.len());
                for (authid, p) in &t.principals {
                    map.insert(
                        authid.clone(),
                        TicketEntry {
                            ticket: p.ticket.clone(),
                            role: p.role.clone(),
                        },
                    );
                }
                Some(map)
            }
            _ => None,
        };
        let mut cra_shapes = Vec::new();
        let wampcra = match &config.wampcra {
            Some(AuthMethodConfig::Static(w)) => {
                let mut map = HashMap::with_capacity(w.users.len());
                for (authid, u) in &w.users {
                    let salt = u.salt.as_ref().map(|salt| {
                        (
                            salt.clone(),
                            u.iterations.unwrap_or(DEFAULT_ITERATIONS),
                            u.keylen.unwrap_or(DEFAULT_KEYLEN),
                        )
                    });
                    cra_shapes.push(CraShape {
                        role: u.role.clone(),
                        salt: salt.as_ref().map(|(s, i, k)| (s.len(), *i, *k)),
                    });
                    map.insert(
                        authid.clone(),
                        CraEntry {
                            key: u.secret.clone(),
                            role: u.role.clone(),
                            salt,
                        },
                    );
                }
                Some(map)
            }
            _ => None,
        };
        let tls = match &config.tls {
            Some(AuthMethodConfig::Static(t)) => Some(tls::compile(t)),
            _ => None,
        };
        let cryptosign = match &config.cryptosign {
            Some(AuthMethodConfig::Static(c)) => Some(CsTable::new(c)),
            _ => None,
        };
        let mut dynamic = BTreeMap::new();
        for (method, entry) in [
            (METHOD_ANONYMOUS, dynamic_of(&config.anonymous)),
            (METHOD_TICKET, dynamic_of(&config.ticket)),
            (METHOD_WAMPCRA, dynamic_of(&config.wampcra)),
        ] {
            if let Some(d) = entry {
                dynamic.insert(method, d.clone());
            }
        }
        Ok(Authenticator {
            anonymous,
            ticket,
            wampcra,
            tls,
            cra_shapes,
            cryptosign,
            router_key: None,
            decoy_key: rand::random(),
            internal: false,
            dynamic,
        })
    }

    /// Marks the transport as internal: the control plane says so when it
    /// registers a component's in-process transport. The router trusts the
    /// sessions that join through an internal transport: they pass a realm's
    /// transport gate (`RouterCore::limit_realm_to`) and join even where
    /// anonymous sessions may not (`RealmOptions::allow_anonymous`).
    pub fn internal(mut self) -> Authenticator {
        self.internal = true;
        self
    }

    /// Whether the transport is internal (see [`Authenticator::internal`]).
    pub fn is_internal(&self) -> bool {
        self.internal
    }

    /// Sets the key decoy principals are derived from (random by default).
    /// The router gives every shard's authenticators the same key, so that an
    /// unknown authid gets the same decoy salt and role whichever shard answers.
    pub fn set_decoy_key(&mut self, key: [u8; 32]) {
        self.decoy_key = key;
    }

    /// Whether this transport offers `method`.
    pub fn offers(&self, method: &str) -> bool {
        if self.dynamic.contains_key(method) {
            return true;
        }
        match method {
            METHOD_ANONYMOUS => self.anonymous.is_some(),
            METHOD_TICKET => self.ticket.is_some(),
            METHOD_WAMPCRA => self.wampcra.is_some(),
            METHOD_CRYPTOSIGN => self.cryptosign.is_some(),
            METHOD_TLS => self.tls.is_some(),
            _ => false,
        }
    }

    /// The methods this transport offers, in the order `anonymous`, `ticket`,
    /// `wampcra`, `cryptosign`, `tls`.
    pub fn methods(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            METHOD_ANONYMOUS,
            METHOD_TICKET,
            METHOD_WAMPCRA,
            METHOD_CRYPTOSIGN,
            METHOD_TLS,
        ]
        .into_iter()
        .filter(move |m| self.offers(m))
    }

    /// Answers a `HELLO` for `realm` with `details` (`HELLO.Details`).
    ///
    /// `tls` is what the connection's TLS tells authentication (none on a
    /// plain connection): cryptosign's channel binding reads it. `session_id` is the ID the session will get (it is bound into the
    /// WAMP-CRA challenge), `now_iso8601` the current UTC time such as
    /// `2014-06-22T16:51:41.643Z`, and `rng` a cryptographically secure source
    /// for nonces and anonymous authids.
    ///
    /// The first method in `details.authmethods` (default `["anonymous"]`) that
    /// the transport offers is performed; none → `ABORT`
    /// `wamp.error.no_matching_auth_method`. A malformed `authmethods` or
    /// `authid` is `wamp.error.protocol_violation`. `tls` is what the
    /// connection's TLS told (none on a plain connection): the `tls` method
    /// reads the client certificate's fingerprint from it.
    pub fn hello<R: RngCore + ?Sized>(
        &self,
        realm: &str,
        details: &Dict,
        tls: Option<&TlsInfo>,
        session_id: u64,
        now_iso8601: &str,
        rng: &mut R,
    ) -> AuthStep {
        let requested: Vec<&str> = match details.get("authmethods") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::List(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_str() {
                        Some(s) => out.push(s),
                        None => {
                            return abort(
                                ERROR_PROTOCOL_VIOLATION,
                                format!(
                                    "HELLO.Details.authmethods must be a list of strings, found a {} in it",
                                    item.type_name()
                                ),
                            )
                        }
                    }
                }
                out
            }
            Some(other) => {
                return abort(
                    ERROR_PROTOCOL_VIOLATION,
                    format!(
                        "HELLO.Details.authmethods must be a list, found a {}",
                        other.type_name()
                    ),
                )
            }
        };
        let authid = match details.get("authid") {
            None | Some(Value::Null) => None,
            Some(Value::Str(s)) => Some(s.as_str()),
            Some(other) => {
                return abort(
                    ERROR_PROTOCOL_VIOLATION,
                    format!(
                        "HELLO.Details.authid must be a string, found a {}",
                        other.type_name()
                    ),
                )
            }
        };
        let requested = if requested.is_empty() {
            vec![METHOD_ANONYMOUS]
        } else {
            requested
        };
        let Some(method) = requested.iter().copied().find(|m| self.offers(m)) else {
            let offered: Vec<&str> = self.methods().collect();
            return abort(
                ERROR_NO_MATCHING_AUTH_METHOD,
                format!(
                    "none of the authentication methods {requested:?} is offered on this transport (offered: {offered:?})"
                ),
            );
        };
        if let Some((method, entry)) = self.dynamic.get_key_value(method) {
            return self.hello_dynamic(method, entry, realm, authid, details, session_id);
        }
        match method {
            METHOD_ANONYMOUS => self.hello_anonymous(realm, details, rng),
            METHOD_TICKET => self.hello_ticket(realm, authid, session_id),
            METHOD_CRYPTOSIGN => {
                self.hello_cryptosign(realm, authid, details, tls, session_id, rng)
            }
            METHOD_TLS => self.hello_tls(authid, tls),
            _ => self.hello_wampcra(realm, authid, session_id, now_iso8601, rng),
        }
    }

    /// The secret a decoy principal is checked against (never matched: the
    /// comparison runs only so that a decoy costs what a real principal does).
    fn decoy_secret(&self, authid: &str) -> Secret {
        Secret::new(STANDARD.encode(decoy_mac(
            &self.decoy_key,
            &[b"decoy-secret", authid.as_bytes()],
        )))
    }

    /// Answers an `AUTHENTICATE(signature, extra)` to the challenge `pending`
    /// came from: `WELCOME`, or `ABORT` `wamp.error.authentication_denied` when
    /// the ticket or signature is wrong. Comparisons run in constant time.
    ///
    /// `extra` (`AUTHENTICATE.Extra`) is not used by ticket, WAMP-CRA and cryptosign.
    pub fn authenticate(&self, pending: PendingAuth, signature: &str, extra: &Dict) -> AuthStep {
        let _ = extra;
        let pending = match pending.kind {
            PendingKind::DynTicket { authextra } => {
                let p = PendingAuth {
                    kind: PendingKind::Ticket,
                    ..pending
                };
                return self.ticket_ask(p, signature, authextra);
            }
            PendingKind::DynWampCra {
                ref challenge,
                ref key,
                ..
            } => {
                return match wampcra::cra_verify(key.expose(), challenge, signature) {
                    None => abort(
                        ERROR_AUTHENTICATION_FAILED,
                        "could not compute the wampcra signature".to_owned(),
                    ),
                    Some(false) => abort(
                        ERROR_AUTHENTICATION_DENIED,
                        format!(
                            "wampcra authentication as {:?} failed: invalid signature",
                            pending.authid
                        ),
                    ),
                    Some(true) => {
                        let PendingKind::DynWampCra {
                            redirect,
                            authextra,
                            ..
                        } = pending.kind
                        else {
                            return abort(ERROR_AUTHENTICATION_FAILED, String::new());
                        };
                        AuthStep::Welcome(AuthInfo {
                            authid: pending.authid,
                            authrole: pending.authrole,
                            authmethod: METHOD_WAMPCRA.to_owned(),
                            authprovider: PROVIDER_DYNAMIC.to_owned(),
                            authextra,
                            realm: redirect,
                        })
                    }
                };
            }
            _ => pending,
        };
        // A decoy, or a principal removed since the challenge, is checked
        // against a decoy secret (the same work) and denied like a wrong password.
        // The decoy secret is derived for real principals too, so both cost the same.
        let decoy_secret = self.decoy_secret(&pending.authid);
        let ok = match &pending.kind {
            PendingKind::Ticket
            | PendingKind::DynTicket { .. }
            | PendingKind::DynWampCra { .. } => {
                self.check_ticket(&pending, signature, &decoy_secret)
            }
            PendingKind::WampCra { challenge } => {
                match self.check_wampcra(&pending, challenge, signature, &decoy_secret) {
                    Some(ok) => ok,
                    None => {
                        return abort(
                            ERROR_AUTHENTICATION_FAILED,
                            "could not compute the wampcra signature".to_owned(),
                        )
                    }
                }
            }
            PendingKind::Cryptosign {
                challenge,
                channel_id,
                pubkey,
                ..
            } => self.check_cryptosign(&pending, challenge, channel_id.as_ref(), pubkey, signature),
        };
        if !ok {
            let what = match pending.kind {
                PendingKind::Ticket | PendingKind::DynTicket { .. } => "ticket",
                PendingKind::WampCra { .. }
                | PendingKind::DynWampCra { .. }
                | PendingKind::Cryptosign { .. } => "signature",
            };
            let message = match pending.kind {
                // An inferred authid is not named: that would tell which
                // principal a public key belongs to.
                PendingKind::Cryptosign { named: false, .. } => {
                    format!("{} authentication failed: invalid {what}", pending.method())
                }
                _ => format!(
                    "{} authentication as {:?} failed: invalid {what}",
                    pending.method(),
                    pending.authid,
                ),
            };
            return abort(ERROR_AUTHENTICATION_DENIED, message);
        }
        let authmethod = pending.method().to_owned();
        AuthStep::Welcome(AuthInfo {
            authid: pending.authid,
            authrole: pending.authrole,
            authmethod,
            authprovider: PROVIDER_STATIC.to_owned(),
            authextra: None,
            realm: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::anonymous::SERIAL_CHARS;
    use super::*;
    use crate::dict;
    use crate::wamp::cra::{derive_key as wampcra_derive_key, sign as wampcra_sign};
    use crate::wamp::uris::ERROR_AUTHENTICATION_REQUIRED;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const NOW: &str = "2014-06-22T16:36:25.448Z";

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn config() -> TransportAuth {
        serde_json::from_str(
            r#"{
                "anonymous": {"type": "static", "role": "public"},
                "ticket": {"type": "static", "principals": {
                    "joe": {"ticket": "secret!!!", "role": "user"}
                }},
                "wampcra": {"type": "static", "users": {
                    "peter": {"secret": "secret1", "role": "frontend"},
                    "joe": {"secret": "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=",
                            "role": "backend", "salt": "salt123",
                            "iterations": 1000, "keylen": 32}
                }}
            }"#,
        )
        .unwrap()
    }

    fn auth() -> Authenticator {
        Authenticator::new(&config()).unwrap()
    }

    fn hello(a: &Authenticator, details: Dict) -> AuthStep {
        a.hello("realm1", &details, None, 3251278072152162, NOW, &mut rng())
    }

    fn tls_auth() -> Authenticator {
        Authenticator::new(
            &serde_json::from_str(
                r#"{"tls": {"type": "static", "principals": {
                    "client_0": {"certificate-sha1": "b6:e5:e6:f2:2a:bb:6f:c2:79:b8:c1:5c:b7:62:4e:66:79:6c:6f:54", "role": "backend"}
                }}}"#,
            )
            .unwrap(),
        )
        .unwrap()
    }

    fn with_cert(sha1: &str) -> TlsInfo {
        TlsInfo {
            version: "TLSv1.3".into(),
            client_certificate_sha1: Some(sha1.into()),
            client_certificate_subject: Some("CN=client_0".into()),
            ..TlsInfo::default()
        }
    }

    const CERT: &str = "B6:E5:E6:F2:2A:BB:6F:C2:79:B8:C1:5C:B7:62:4E:66:79:6C:6F:54";

    #[test]
    fn tls_welcomes_the_principal_of_the_certificate() {
        let a = tls_auth();
        let d = dict! { "authmethods" => Value::List(vec![Value::from("tls")]) };
        let info = with_cert(CERT);
        match a.hello("realm1", &d, Some(&info), 1, NOW, &mut rng()) {
            AuthStep::Welcome(w) => {
                assert_eq!(
                    (w.authid.as_str(), w.authrole.as_str()),
                    ("client_0", "backend")
                );
                assert_eq!(w.authmethod, "tls");
                let extra = w.authextra.unwrap();
                assert_eq!(extra.get("certificate-sha1"), Some(&Value::from(CERT)));
            }
            other => panic!("{other:?}"),
        }
        // the right authid may be named; another may not
        let named = |authid: &str| {
            let d = dict! { "authmethods" => Value::List(vec![Value::from("tls")]), "authid" => authid };
            a.hello("realm1", &d, Some(&info), 1, NOW, &mut rng())
        };
        assert!(matches!(named("client_0"), AuthStep::Welcome(_)));
        assert!(matches!(
            named("admin"),
            AuthStep::Abort {
                reason: ERROR_AUTHENTICATION_DENIED,
                ..
            }
        ));
    }

    #[test]
    fn tls_denies_no_certificate_and_an_unknown_one() {
        let a = tls_auth();
        let d = dict! { "authmethods" => Value::List(vec![Value::from("tls")]) };
        let other = with_cert("00:E5:E6:F2:2A:BB:6F:C2:79:B8:C1:5C:B7:62:4E:66:79:6C:6F:54");
        let no_cert = TlsInfo::default();
        for tls in [None, Some(&no_cert), Some(&other)] {
            assert!(
                matches!(
                    a.hello("realm1", &d, tls, 1, NOW, &mut rng()),
                    AuthStep::Abort {
                        reason: ERROR_AUTHENTICATION_DENIED,
                        ..
                    }
                ),
                "{tls:?}"
            );
        }
    }

    #[test]
    fn tls_principals_need_a_fingerprint() {
        let bad: TransportAuth = serde_json::from_str(
            r#"{"tls": {"type": "static", "principals": {"x": {"certificate-sha1": "B6:E5", "role": "r"}}}}"#,
        )
        .unwrap();
        assert!(matches!(
            Authenticator::new(&bad),
            Err(AuthConfigError::InvalidFingerprint { .. })
        ));
    }

    fn methods(list: &[&str]) -> Value {
        Value::List(list.iter().map(|m| Value::from(*m)).collect())
    }

    fn challenge(step: AuthStep) -> (String, Dict, PendingAuth) {
        match step {
            AuthStep::Challenge {
                method,
                extra,
                pending,
            } => (method, extra, pending),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn reason(step: &AuthStep) -> &'static str {
        match step {
            AuthStep::Abort { reason, .. } => reason,
            other => panic!("expected an abort, got {other:?}"),
        }
    }

    fn welcome(step: AuthStep) -> AuthInfo {
        match step {
            AuthStep::Welcome(info) => info,
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    #[test]
    fn anonymous_is_the_default_method() {
        let info = welcome(hello(&auth(), Dict::new()));
        assert_eq!(info.authmethod, "anonymous");
        assert_eq!(info.authrole, "public");
        assert_eq!(info.authprovider, "static");
        // Random serial, Autobahn's format.
        assert_eq!(info.authid.len(), 29);
        assert_eq!(info.authid.split('-').count(), 6);
        assert!(info
            .authid
            .bytes()
            .all(|b| b == b'-' || SERIAL_CHARS.contains(&b)));
        // Empty list also means anonymous.
        let info = welcome(hello(&auth(), dict! {"authmethods" => methods(&[])}));
        assert_eq!(info.authmethod, "anonymous");
    }

    #[test]
    fn anonymous_with_a_realm_is_for_that_realm_only() {
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"anonymous": {"type": "static", "role": "public", "realm": "realm1"}}"#,
        )
        .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        assert_eq!(welcome(hello(&a, Dict::new())).authrole, "public");
        let other = a.hello("realm2", &Dict::new(), None, 1, NOW, &mut rng());
        assert_eq!(reason(&other), ERROR_AUTHENTICATION_DENIED);
    }

    #[test]
    fn anonymous_fixed_authid_and_default_role() {
        let cfg: TransportAuth =
            serde_json::from_str(r#"{"anonymous": {"type": "static", "authid": "guest"}}"#)
                .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        let info = welcome(hello(
            &a,
            dict! {"authid" => "someone", "authextra" => dict!{"x" => 1u64}},
        ));
        assert_eq!(info.authid, "guest");
        assert_eq!(info.authrole, "anonymous");
        assert_eq!(info.authextra, Some(dict! {"x" => 1u64}));
        let d = info.welcome_details();
        assert_eq!(d.get("authid"), Some(&Value::from("guest")));
        assert_eq!(d.get("authmethod"), Some(&Value::from("anonymous")));
        assert!(d.contains_key("authextra"));
    }

    #[test]
    fn ticket_ok() {
        let a = auth();
        let (method, extra, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["ticket"]), "authid" => "joe"},
        ));
        assert_eq!(method, "ticket");
        assert!(extra.is_empty());
        assert_eq!(pending.method(), "ticket");
        assert_eq!(pending.realm(), "realm1");
        let info = welcome(a.authenticate(pending, "secret!!!", &Dict::new()));
        assert_eq!(
            info,
            AuthInfo {
                authid: "joe".into(),
                authrole: "user".into(),
                authmethod: "ticket".into(),
                authprovider: "static".into(),
                authextra: None,
                realm: None,
            }
        );
    }

    #[test]
    fn ticket_bad() {
        let a = auth();
        for bad in ["secret!!", "secret!!!!", "", "SECRET!!!"] {
            let (_, _, pending) = challenge(hello(
                &a,
                dict! {"authmethods" => methods(&["ticket"]), "authid" => "joe"},
            ));
            let step = a.authenticate(pending, bad, &Dict::new());
            assert_eq!(reason(&step), ERROR_AUTHENTICATION_DENIED);
        }
    }

    #[test]
    fn ticket_unknown_or_missing_principal() {
        let a = auth();
        // An unknown authid is challenged like a known one, then denied like a wrong ticket.
        let (method, extra, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["ticket"]), "authid" => "nobody"},
        ));
        assert_eq!((method.as_str(), extra.len()), ("ticket", 0));
        let unknown = a.authenticate(pending, "secret!!!", &Dict::new());
        let (_, _, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["ticket"]), "authid" => "joe"},
        ));
        let wrong = a.authenticate(pending, "guess", &Dict::new());
        assert_eq!(reason(&unknown), ERROR_AUTHENTICATION_DENIED);
        assert_eq!(reason(&wrong), ERROR_AUTHENTICATION_DENIED);
        let text = |s: &AuthStep| match s {
            AuthStep::Abort { message, .. } => message.replace("nobody", "joe"),
            _ => String::new(),
        };
        assert_eq!(text(&unknown), text(&wrong));
        let step = hello(&a, dict! {"authmethods" => methods(&["ticket"])});
        assert_eq!(reason(&step), ERROR_AUTHENTICATION_REQUIRED);
    }

    fn cra_challenge_string(extra: &Dict) -> String {
        extra
            .get("challenge")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    #[test]
    fn wampcra_unsalted_ok() {
        let a = auth();
        let (method, extra, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["wampcra"]), "authid" => "peter"},
        ));
        assert_eq!(method, "wampcra");
        assert_eq!(extra.len(), 1, "no salt parameters for an unsalted user");
        let ch = cra_challenge_string(&extra);
        let obj: serde_json::Value = serde_json::from_str(&ch).unwrap();
        assert_eq!(obj["authid"], "peter");
        assert_eq!(obj["authrole"], "frontend");
        assert_eq!(obj["authmethod"], "wampcra");
        assert_eq!(obj["authprovider"], "static");
        assert_eq!(obj["timestamp"], NOW);
        assert_eq!(obj["session"], 3251278072152162u64);
        assert_eq!(obj["nonce"].as_str().unwrap().len(), 64);
        let sig = wampcra_sign(b"secret1", &ch);
        let info = welcome(a.authenticate(pending, &sig, &Dict::new()));
        assert_eq!(info.authid, "peter");
        assert_eq!(info.authrole, "frontend");
        assert_eq!(info.authmethod, "wampcra");
    }

    #[test]
    fn wampcra_unpadded_signature_accepted() {
        let a = auth();
        let (_, extra, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["wampcra"]), "authid" => "peter"},
        ));
        let sig = wampcra_sign(b"secret1", &cra_challenge_string(&extra));
        let sig = sig.trim_end_matches('=');
        welcome(a.authenticate(pending, sig, &Dict::new()));
    }

    #[test]
    fn wampcra_unsalted_bad() {
        let a = auth();
        for sig in [
            wampcra_sign(b"secret2", "whatever"),
            String::new(),
            "not base64 !!".to_owned(),
        ] {
            let (_, extra, pending) = challenge(hello(
                &a,
                dict! {"authmethods" => methods(&["wampcra"]), "authid" => "peter"},
            ));
            let _ = extra;
            let step = a.authenticate(pending, &sig, &Dict::new());
            assert_eq!(reason(&step), ERROR_AUTHENTICATION_DENIED);
        }
        // Signing with the right key but over another challenge fails too.
        let (_, _, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["wampcra"]), "authid" => "peter"},
        ));
        let step = a.authenticate(pending, &wampcra_sign(b"secret1", "{}"), &Dict::new());
        assert_eq!(reason(&step), ERROR_AUTHENTICATION_DENIED);
        // Unknown user: a decoy challenge, then denied.
        let (_, extra, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["wampcra"]), "authid" => "mallory"},
        ));
        let sig = wampcra_sign(b"secret1", &cra_challenge_string(&extra));
        let step = a.authenticate(pending, &sig, &Dict::new());
        assert_eq!(reason(&step), ERROR_AUTHENTICATION_DENIED);
    }

    fn challenge_keys(extra: &Dict) -> (Vec<String>, Vec<String>) {
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&cra_challenge_string(extra)).unwrap();
        (
            extra.keys().cloned().collect(),
            obj.keys().cloned().collect(),
        )
    }

    #[test]
    fn wampcra_decoys_look_like_users() {
        // Unsalted users only: decoys are unsalted and name a configured role.
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"wampcra": {"type": "static", "users": {"peter": {"secret": "s", "role": "frontend"}}}}"#,
        )
        .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        let cra = |a: &Authenticator, who: &str| {
            challenge(hello(
                a,
                dict! {"authmethods" => methods(&["wampcra"]), "authid" => who},
            ))
            .1
        };
        let real = cra(&a, "peter");
        let fake = cra(&a, "mallory");
        assert_eq!(challenge_keys(&real), challenge_keys(&fake));
        let obj: serde_json::Value = serde_json::from_str(&cra_challenge_string(&fake)).unwrap();
        assert_eq!(obj["authrole"], "frontend");
        assert_eq!(obj["authid"], "mallory");
        // Salted users only: decoys are salted alike, the salt fixed per authid
        // under one key (every shard) and different for another authid.
        let mut a = auth_salted();
        a.set_decoy_key([9; 32]);
        let real = cra(&a, "joe");
        let fake = cra(&a, "mallory");
        assert_eq!(challenge_keys(&real), challenge_keys(&fake));
        for k in ["iterations", "keylen"] {
            assert_eq!(real.get(k), fake.get(k), "{k}");
        }
        let salt = |e: &Dict| e.get("salt").and_then(Value::as_str).unwrap().to_owned();
        assert_eq!(salt(&fake).len(), salt(&real).len());
        let mut b = auth_salted();
        b.set_decoy_key([9; 32]);
        assert_eq!(salt(&cra(&b, "mallory")), salt(&fake));
        assert_ne!(salt(&cra(&a, "eve")), salt(&fake));
        b.set_decoy_key([8; 32]);
        assert_ne!(salt(&cra(&b, "mallory")), salt(&fake));
    }

    fn auth_salted() -> Authenticator {
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"wampcra": {"type": "static", "users": {"joe": {
                "secret": "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=", "role": "backend",
                "salt": "salt123", "iterations": 1000, "keylen": 32}}}}"#,
        )
        .unwrap();
        Authenticator::new(&cfg).unwrap()
    }

    /// Prints what a real and a decoy WAMP-CRA challenge and denial cost (no
    /// assertion on time: `cargo test --release wampcra_decoy_cost -- --nocapture`).
    #[test]
    fn wampcra_decoy_cost() {
        let a = auth_salted();
        let n = 200u32;
        let mut r = rng();
        let mut time = |who: &str| {
            let t = std::time::Instant::now();
            let mut pendings = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let d = dict! {"authmethods" => methods(&["wampcra"]), "authid" => who};
                let (_, _, p) = challenge(a.hello("realm1", &d, None, 1, NOW, &mut r));
                pendings.push(p);
            }
            let hello = t.elapsed() / n;
            let t = std::time::Instant::now();
            for p in pendings {
                assert_eq!(
                    reason(&a.authenticate(p, "bm9wZQ==", &Dict::new())),
                    ERROR_AUTHENTICATION_DENIED
                );
            }
            (hello, t.elapsed() / n)
        };
        let real = time("joe");
        let fake = time("mallory");
        println!(
            "wampcra challenge+denial per attempt: real {:?} + {:?}, decoy {:?} + {:?}",
            real.0, real.1, fake.0, fake.1
        );
    }

    #[test]
    fn wampcra_salted_ok_and_bad() {
        // The configured secret of "joe" is derive_key("secret123", "salt123", 1000, 32)
        // (Autobahn|Python 26.10.2); the client knows only the password.
        let a = auth();
        let (_, extra, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["wampcra"]), "authid" => "joe"},
        ));
        assert_eq!(extra.get("salt"), Some(&Value::from("salt123")));
        assert_eq!(extra.get("iterations"), Some(&Value::UInt(1000)));
        assert_eq!(extra.get("keylen"), Some(&Value::UInt(32)));
        let ch = cra_challenge_string(&extra);
        let salt = extra.get("salt").and_then(Value::as_str).unwrap();
        let iterations = extra.get("iterations").and_then(Value::as_u64).unwrap() as u32;
        let keylen = extra.get("keylen").and_then(Value::as_u64).unwrap() as usize;
        let key = wampcra_derive_key("secret123", salt, iterations, keylen);
        let info = welcome(a.authenticate(
            pending.clone(),
            &wampcra_sign(key.as_bytes(), &ch),
            &Dict::new(),
        ));
        assert_eq!(info.authrole, "backend");
        // Signing with the password itself instead of the derived key fails.
        let step = a.authenticate(pending, &wampcra_sign(b"secret123", &ch), &Dict::new());
        assert_eq!(reason(&step), ERROR_AUTHENTICATION_DENIED);
    }

    #[test]
    fn salted_defaults_are_sent() {
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"wampcra": {"type": "static", "users": {"u": {"secret": "k", "role": "r", "salt": "s"}}}}"#,
        )
        .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        let (_, extra, _) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["wampcra"]), "authid" => "u"},
        ));
        assert_eq!(extra.get("iterations"), Some(&Value::UInt(1000)));
        assert_eq!(extra.get("keylen"), Some(&Value::UInt(32)));
    }

    #[test]
    fn method_order_is_honoured() {
        let a = auth();
        let (method, _, _) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["ticket", "anonymous"]), "authid" => "joe"},
        ));
        assert_eq!(method, "ticket");
        let info = welcome(hello(
            &a,
            dict! {"authmethods" => methods(&["anonymous", "ticket"]), "authid" => "joe"},
        ));
        assert_eq!(info.authmethod, "anonymous");
        // Methods the transport does not offer are skipped.
        let (method, _, _) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["cryptosign", "scram", "wampcra", "ticket"]), "authid" => "joe"},
        ));
        assert_eq!(method, "wampcra");
    }

    #[test]
    fn no_offered_method_aborts() {
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "role": "r"}}}}"#,
        )
        .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        // Absent authmethods means ["anonymous"], which this transport does not offer.
        assert_eq!(
            reason(&hello(&a, Dict::new())),
            ERROR_NO_MATCHING_AUTH_METHOD
        );
        assert_eq!(
            reason(&hello(
                &a,
                dict! {"authmethods" => methods(&["wampcra", "cryptosign"])}
            )),
            ERROR_NO_MATCHING_AUTH_METHOD
        );
        // An empty auth table offers nothing.
        let empty = Authenticator::new(&TransportAuth::default()).unwrap();
        assert_eq!(empty.methods().count(), 0);
        assert_eq!(
            reason(&hello(&empty, Dict::new())),
            ERROR_NO_MATCHING_AUTH_METHOD
        );
    }

    #[test]
    fn malformed_hello_details() {
        let a = auth();
        assert_eq!(
            reason(&hello(&a, dict! {"authmethods" => "ticket"})),
            ERROR_PROTOCOL_VIOLATION
        );
        assert_eq!(
            reason(&hello(
                &a,
                dict! {"authmethods" => Value::List(vec![Value::UInt(1)])}
            )),
            ERROR_PROTOCOL_VIOLATION
        );
        assert_eq!(
            reason(&hello(
                &a,
                dict! {"authmethods" => methods(&["ticket"]), "authid" => 5u64}
            )),
            ERROR_PROTOCOL_VIOLATION
        );
    }

    #[test]
    fn secrets_not_in_debug() {
        let cfg = config();
        let a = Authenticator::new(&cfg).unwrap();
        let (_, _, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["ticket"]), "authid" => "joe"},
        ));
        let bad = a.authenticate(pending.clone(), "wrong", &Dict::new());
        let texts = [
            format!("{cfg:?}"),
            format!("{cfg:#?}"),
            format!("{a:?}"),
            format!("{pending:?}"),
            format!("{bad:?}"),
        ];
        for text in &texts {
            for secret in ["secret!!!", "secret1", "Eu7CQLfR"] {
                assert!(!text.contains(secret), "{secret} leaked in {text}");
            }
            assert!(!text.contains("wrong"));
        }
        assert!(texts[0].contains("redacted"));
        // The secret is still there for the configuration to round-trip.
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains("secret!!!"));
        let back: TransportAuth = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn dynamic_is_a_typed_error_and_cryptosign_compiles() {
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"ticket": {"type": "dynamic", "authenticator": "com.example.authenticate"}}"#,
        )
        .unwrap();
        assert!(Authenticator::new(&cfg).unwrap().offers("ticket"));
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"ticket": {"type": "dynamic", "authenticator": "com.example.authenticate", "timeout": 0}}"#,
        )
        .unwrap();
        let err = Authenticator::new(&cfg).unwrap_err();
        assert!(
            matches!(
                err,
                AuthConfigError::InvalidDynamic {
                    method: "ticket",
                    key: "timeout",
                    ..
                }
            ),
            "{err:?}"
        );
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"cryptosign": {"type": "static", "principals": {"alice": {
                "authorized_keys": ["545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122"],
                "role": "user", "realm": "realm1"}}}}"#,
        )
        .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        assert_eq!(a.methods().collect::<Vec<_>>(), ["cryptosign"]);
        // A key that is not 32 bytes of hex is refused.
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"cryptosign": {"type": "static", "principals": {"alice": {
                "authorized_keys": ["545efb0a"], "role": "user"}}}}"#,
        )
        .unwrap();
        assert!(matches!(
            Authenticator::new(&cfg).unwrap_err(),
            AuthConfigError::BadAuthorizedKey { index: 0, .. }
        ));
    }

    #[test]
    fn dynamic_secrets_not_in_debug() {
        let cfg: TransportAuth = serde_json::from_str(
            r#"{"ticket": {"type": "dynamic", "authenticator": "com.auth"},
                "wampcra": {"type": "dynamic", "authenticator": "com.auth"}}"#,
        )
        .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        let (_, _, pending) = challenge(hello(
            &a,
            dict! {"authmethods" => methods(&["ticket"]), "authid" => "joe"},
        ));
        let ask = a.authenticate(pending, "tick3t!!", &Dict::new());
        assert!(matches!(ask, AuthStep::Ask(_)), "{ask:?}");
        assert!(!format!("{ask:?}").contains("tick3t!!"));
        let AuthStep::Ask(ask) = hello(
            &a,
            dict! {"authmethods" => methods(&["wampcra"]), "authid" => "joe"},
        ) else {
            panic!("wampcra asks at HELLO")
        };
        let step = a.answer(
            ask.pending,
            Ok(Value::Dict(dict! {"secret" => "s3cr3t!!", "role" => "r"})),
            NOW,
            &mut rng(),
        );
        let (method, _, pending) = challenge(step.clone());
        assert_eq!(method, "wampcra");
        for text in [
            format!("{step:?}"),
            format!("{pending:?}"),
            format!("{a:?}"),
        ] {
            assert!(!text.contains("s3cr3t!!"), "{text}");
        }
    }

    #[test]
    fn config_is_strict() {
        for bad in [
            r#"{"tikcet": {"type": "static", "principals": {}}}"#,
            r#"{"ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "role": "r", "x": 1}}}}"#,
            r#"{"ticket": {"type": "magic"}}"#,
            r#"{"anonymous": {"type": "static", "role": "r", "extra": 1}}"#,
            r#"{"ticket": {"type": "dynamic", "authenticator": "a", "x": 1}}"#,
        ] {
            assert!(serde_json::from_str::<TransportAuth>(bad).is_err(), "{bad}");
        }
        for (bad, expected) in [
            (
                r#"{"ticket": {"type": "static", "principals": {"joe": {"ticket": "", "role": "r"}}}}"#,
                AuthConfigError::EmptySecret {
                    method: "ticket",
                    authid: "joe".into(),
                },
            ),
            (
                r#"{"wampcra": {"type": "static", "users": {"joe": {"secret": "s", "role": ""}}}}"#,
                AuthConfigError::EmptyRole {
                    method: "wampcra",
                    authid: "joe".into(),
                },
            ),
            (
                r#"{"wampcra": {"type": "static", "users": {"joe": {"secret": "s", "role": "r", "salt": "x", "iterations": 0}}}}"#,
                AuthConfigError::InvalidPbkdf2Parameter {
                    authid: "joe".into(),
                    field: "iterations",
                },
            ),
        ] {
            let cfg: TransportAuth = serde_json::from_str(bad).unwrap();
            assert_eq!(Authenticator::new(&cfg).unwrap_err(), expected, "{bad}");
        }
    }

    #[test]
    fn anonymous_only_constructor() {
        let a = Authenticator::new(&TransportAuth::anonymous_only("anonymous")).unwrap();
        assert_eq!(a.methods().collect::<Vec<_>>(), ["anonymous"]);
        assert_eq!(welcome(hello(&a, Dict::new())).authrole, "anonymous");
    }

    #[test]
    fn works_with_dyn_rng() {
        let a = auth();
        let mut r = rng();
        let dyn_rng: &mut dyn RngCore = &mut r;
        let step = a.hello("realm1", &Dict::new(), None, 1, NOW, dyn_rng);
        welcome(step);
    }
}
