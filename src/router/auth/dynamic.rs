//! Dynamic authenticators (Crossbar.io's `{"type": "dynamic", "authenticator":
//! URI, "authenticator-realm", "authenticator-role"}`): the principal is not
//! in the configuration; a WAMP procedure some session registered is asked
//! for it.
//!
//! The authenticator is called as `(realm, authid, details)`: `realm` the
//! realm the client asked for, `authid` the one it announced (or null), and
//! `details` a dict with `session` (the id the session will get),
//! `transport` (the transport's details, as the meta API shows them),
//! `authmethod`, `authextra` (HELLO's, when sent) and, per method, what the
//! client proved: `ticket` for ticket. The core adds `session` and
//! `transport` and makes the call ([`AuthStep::Ask`]); this file says when to
//! ask and what the answer means ([`Authenticator::answer`]).
//!
//! When, per method:
//!
//! * **anonymous** — at HELLO; the answer welcomes (or denies) the session.
//! * **ticket** — the router sends `CHALLENGE("ticket", {})` at HELLO and asks
//!   at AUTHENTICATE with the ticket in `details.ticket`: the authenticator
//!   checks the ticket itself.
//! * **wampcra** — at HELLO (an `authid` is required); the answer carries the
//!   user's `secret` (with a salted user: the derived key, as a static user's,
//!   and `salt`, `iterations`, `keylen`); the router issues the challenge and
//!   checks the signature itself, as for a static user.
//! * **tls** — at HELLO, with the verified client certificate in
//!   `details.client_cert` (`sha1`, upper-case hex joined by `:`, and
//!   `subject`); the answer welcomes (or denies) the session. A connection
//!   without a client certificate is denied without asking.
//!
//! * **cryptosign** — at HELLO, once the HELLO is checked as for a static
//!   principal (the key, the channel binding, router authentication), with
//!   HELLO's `authextra` (`pubkey` in it); the answer must carry the
//!   principal's `pubkey`, which must be the client's; the router then sends
//!   the challenge and verifies the signature itself.
//!
//! Adding a method is an arm in [`Authenticator::hello_dynamic`] (when to
//! ask, what goes into `details`) and one in [`Authenticator::answer`] (what
//! the answer must carry).
//!
//! **The answer** is a role (a string) or a dict `{realm, authid, role,
//! extra, secret, salt, iterations, keylen}`, each optional but what the
//! method needs: `realm` redirects the session to another realm, `authid`
//! overrides the client's, `role` falls back to the entry's `default-role`,
//! `extra` becomes `WELCOME.Details.authextra`. As in Crossbar.io: no authid
//! → `wamp.error.no_such_principal`, no role → `wamp.error.no_such_role`
//! (the core also refuses a role or realm that does not exist), an answer of
//! another type → `wamp.error.authentication_failed`. The session's
//! `authprovider` is `dynamic`.
//!
//! **Failures.** An application error the authenticator raises aborts the
//! session with that error's URI and its first argument as the message
//! (Crossbar.io's behaviour: `wamp.error.not_authorized` stays
//! `wamp.error.not_authorized`). No callee registered, no answer within the
//! entry's `timeout` (default 10 s,
//! [`crate::config::auth::DEFAULT_AUTHENTICATOR_TIMEOUT_MS`]) or the callee
//! leaving abort with `wamp.error.authentication_failed` and a message that
//! says which. The ticket a client sent travels only in the call's
//! arguments: [`DynamicAsk`]'s `Debug` redacts it and no log line carries it.

use std::fmt;

use rand::RngCore;

use super::cryptosign::{cryptosign_challenge, CsHello};
use super::wampcra::cra_challenge;
use super::TlsInfo;
use super::{abort, AuthInfo, AuthStep, Authenticator, PendingAuth, PendingKind};
use crate::config::auth::{
    DynamicAuth, Secret, DEFAULT_ITERATIONS, DEFAULT_KEYLEN, METHOD_ANONYMOUS, METHOD_CRYPTOSIGN,
    METHOD_TICKET, METHOD_TLS, METHOD_WAMPCRA,
};
use crate::wamp::cryptosign::{self as cs, LEN};
use crate::wamp::uris::{
    ERROR_AUTHENTICATION_DENIED, ERROR_AUTHENTICATION_FAILED, ERROR_AUTHENTICATION_REQUIRED,
    ERROR_NO_SUCH_PRINCIPAL, ERROR_NO_SUCH_ROLE,
};
use crate::wamp::value::{Dict, Value};

/// `authprovider` of a principal a dynamic authenticator vouched for.
pub const PROVIDER_DYNAMIC: &str = "dynamic";

/// A question for a dynamic authenticator: the core calls `procedure` on
/// `realm` (absent: the realm the client asked for) as `(pending.realm,
/// authid, details)` with `session` and `transport` added to `details`,
/// and hands the answer to [`Authenticator::answer`] with `pending`.
#[derive(Clone, PartialEq)]
pub struct DynamicAsk {
    /// The authenticator procedure.
    pub procedure: String,
    /// The realm it is registered on; `None`: the realm the client asked for.
    pub realm: Option<String>,
    /// The role the router calls it under; `None`: trusted.
    pub role: Option<String>,
    /// How long it has to answer, in ms.
    pub timeout_ms: u64,
    /// The call's `details` (without `session` and `transport`, which the core adds).
    pub details: Dict,
    /// What to resume with.
    pub pending: DynamicPending,
}

impl fmt::Debug for DynamicAsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&String> = self.details.keys().collect();
        f.debug_struct("DynamicAsk")
            .field("procedure", &self.procedure)
            .field("realm", &self.realm)
            .field("role", &self.role)
            .field("timeout_ms", &self.timeout_ms)
            .field("details_keys", &keys)
            .field("pending", &self.pending)
            .finish()
    }
}

/// What a connection waiting for its authenticator keeps. Holds no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicPending {
    method: &'static str,
    realm: String,
    authid: Option<String>,
    session_id: u64,
    default_role: Option<String>,
    /// Cryptosign: the checked HELLO (key, binding, router authentication).
    cryptosign: Option<Box<CsHello>>,
}

impl DynamicPending {
    /// The method being performed.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The realm the client asked for (the call's first argument).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The authid the client announced (the call's second argument).
    pub fn authid(&self) -> Option<&str> {
        self.authid.as_deref()
    }
}

/// Why the authenticator gave no answer: an error it raised (`by_callee`:
/// its URI and first argument are the denial), or the router's own failure
/// (no callee, timeout, the callee left: the message says which).
#[derive(Debug, Clone, PartialEq)]
pub struct AskFailure {
    /// The error URI.
    pub error: String,
    /// Its message (the error's first argument, or the router's text).
    pub message: String,
    /// Whether the authenticator raised it (else the router failed to get an answer).
    pub by_callee: bool,
}

/// The principal an authenticator answered with.
struct Principal {
    realm: Option<String>,
    authid: Option<String>,
    role: Option<String>,
    extra: Option<Dict>,
    answer: Dict,
}

fn str_field(d: &Dict, key: &str) -> Result<Option<String>, String> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "'{key}' must be a non-empty string, found a {}",
            other.type_name()
        )),
    }
}

fn u32_field(d: &Dict, key: &str, default: u32) -> Result<u32, String> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("'{key}' must be a positive integer")),
    }
}

impl Principal {
    fn parse(answer: Value) -> Result<Principal, String> {
        match answer {
            Value::Str(role) => Ok(Principal {
                realm: None,
                authid: None,
                role: Some(role),
                extra: None,
                answer: Dict::new(),
            }),
            Value::Dict(d) => {
                let extra = match d.get("extra") {
                    None | Some(Value::Null) => None,
                    Some(Value::Dict(e)) => Some(e.clone()),
                    Some(other) => {
                        return Err(format!(
                            "'extra' must be a dict, found a {}",
                            other.type_name()
                        ))
                    }
                };
                Ok(Principal {
                    realm: str_field(&d, "realm")?,
                    authid: str_field(&d, "authid")?,
                    role: str_field(&d, "role")?,
                    extra,
                    answer: d,
                })
            }
            other => Err(format!(
                "the answer must be a role (string) or a dict, found a {}",
                other.type_name()
            )),
        }
    }
}

impl Authenticator {
    /// The dynamic entry of `method`, if the transport authenticates it dynamically.
    pub(super) fn dynamic_entry(&self, method: &str) -> Option<&DynamicAuth> {
        self.dynamic.get(method)
    }

    /// HELLO for a dynamically authenticated method: ask now, or challenge first.
    #[allow(clippy::too_many_arguments)] // HELLO's parts, as `hello` has them
    pub(super) fn hello_dynamic(
        &self,
        method: &'static str,
        entry: &DynamicAuth,
        realm: &str,
        authid: Option<&str>,
        details: &Dict,
        tls: Option<&TlsInfo>,
        session_id: u64,
    ) -> AuthStep {
        let authextra = details.get("authextra").and_then(Value::as_dict).cloned();
        let pending = DynamicPending {
            method,
            realm: realm.to_owned(),
            authid: authid.map(str::to_owned),
            session_id,
            default_role: entry.default_role.clone(),
            cryptosign: None,
        };
        match method {
            METHOD_TICKET => AuthStep::Challenge {
                method: METHOD_TICKET.to_owned(),
                extra: Dict::new(),
                pending: PendingAuth {
                    kind: PendingKind::DynTicket { authextra },
                    authid: authid.unwrap_or_default().to_owned(),
                    authrole: String::new(),
                    realm: realm.to_owned(),
                    session_id,
                    decoy: false,
                },
            },
            METHOD_WAMPCRA if authid.is_none() => abort(
                ERROR_AUTHENTICATION_REQUIRED,
                "wampcra authentication requires HELLO.Details.authid".to_owned(),
            ),
            METHOD_CRYPTOSIGN => {
                let parts = match self.cryptosign_hello(details, tls) {
                    Ok(p) => p,
                    Err(step) => return step,
                };
                let pending = DynamicPending {
                    cryptosign: Some(Box::new(parts)),
                    ..pending
                };
                AuthStep::Ask(Box::new(ask(entry, method, authextra, None, pending)))
            }
            METHOD_TLS => {
                let Some(sha1) = tls.and_then(|t| t.client_certificate_sha1.as_deref()) else {
                    return abort(
                        ERROR_AUTHENTICATION_DENIED,
                        "tls authentication needs a client certificate, and this connection presented none"
                            .to_owned(),
                    );
                };
                let mut cert = Dict::new();
                cert.insert("sha1".into(), Value::from(sha1.to_owned()));
                if let Some(subject) = tls.and_then(|t| t.client_certificate_subject.as_deref()) {
                    cert.insert("subject".into(), Value::from(subject.to_owned()));
                }
                let mut question = ask(entry, method, authextra, None, pending);
                question
                    .details
                    .insert("client_cert".into(), Value::Dict(cert));
                AuthStep::Ask(Box::new(question))
            }
            _ => AuthStep::Ask(Box::new(ask(entry, method, authextra, None, pending))),
        }
    }

    /// AUTHENTICATE for a ticket the authenticator checks: ask it.
    pub(super) fn ticket_ask(
        &self,
        pending: PendingAuth,
        ticket: &str,
        authextra: Option<Dict>,
    ) -> AuthStep {
        let Some(entry) = self.dynamic_entry(METHOD_TICKET) else {
            return abort(
                ERROR_AUTHENTICATION_FAILED,
                "ticket authentication is no longer dynamic on this transport".to_owned(),
            );
        };
        let authid = (!pending.authid.is_empty()).then_some(pending.authid);
        let dynamic = DynamicPending {
            method: METHOD_TICKET,
            realm: pending.realm,
            authid,
            session_id: pending.session_id,
            default_role: entry.default_role.clone(),
            cryptosign: None,
        };
        AuthStep::Ask(Box::new(ask(
            entry,
            METHOD_TICKET,
            authextra,
            Some(("ticket", ticket)),
            dynamic,
        )))
    }

    /// The authenticator answered (or failed to): `WELCOME`, a `CHALLENGE`
    /// (wampcra: the router checks the secret it was given), or a denial.
    /// `now_iso8601` and `rng` as for [`Authenticator::hello`].
    pub fn answer<R: RngCore + ?Sized>(
        &self,
        pending: DynamicPending,
        answer: Result<Value, AskFailure>,
        now_iso8601: &str,
        rng: &mut R,
    ) -> AuthStep {
        let answer = match answer {
            Ok(v) => v,
            Err(f) if f.by_callee => {
                return AuthStep::Deny {
                    reason: f.error,
                    message: f.message,
                }
            }
            Err(f) => {
                return abort(
                    ERROR_AUTHENTICATION_FAILED,
                    format!("dynamic authenticator failed: {}", f.message),
                )
            }
        };
        let p = match Principal::parse(answer) {
            Ok(p) => p,
            Err(m) => {
                return abort(
                    ERROR_AUTHENTICATION_FAILED,
                    format!("invalid answer from the dynamic authenticator: {m}"),
                )
            }
        };
        let authid = match p.authid.or(pending.authid) {
            Some(a) => a,
            None if pending.method == METHOD_ANONYMOUS => super::anonymous::random_serial(rng),
            None => {
                return abort(
                    ERROR_NO_SUCH_PRINCIPAL,
                    "the dynamic authenticator assigned no authid".to_owned(),
                )
            }
        };
        let Some(authrole) = p.role.or(pending.default_role) else {
            return abort(
                ERROR_NO_SUCH_ROLE,
                "the dynamic authenticator assigned no role".to_owned(),
            );
        };
        if pending.method == METHOD_CRYPTOSIGN {
            let Some(parts) = pending.cryptosign else {
                return abort(ERROR_AUTHENTICATION_FAILED, String::new());
            };
            // The principal's key must be the one the client signs with.
            let theirs = match str_field(&p.answer, "pubkey") {
                Ok(Some(k)) => k,
                Ok(None) => {
                    return abort(
                        ERROR_AUTHENTICATION_FAILED,
                        "invalid answer from the dynamic authenticator: the answer has no 'pubkey' (cryptosign needs the principal's public key)".to_owned(),
                    )
                }
                Err(m) => {
                    return abort(
                        ERROR_AUTHENTICATION_FAILED,
                        format!("invalid answer from the dynamic authenticator: {m}"),
                    )
                }
            };
            if cs::decode_hex::<LEN>(&theirs, "pubkey").ok() != Some(parts.pubkey) {
                return abort(
                    ERROR_AUTHENTICATION_DENIED,
                    "cryptosign authentication failed: the public key is not the principal's"
                        .to_owned(),
                );
            }
            let (challenge, extra) = cryptosign_challenge(&parts, rng);
            return AuthStep::Challenge {
                method: METHOD_CRYPTOSIGN.to_owned(),
                extra,
                pending: challenged(
                    PendingKind::DynCryptosign {
                        challenge,
                        channel_id: parts.channel_id,
                        pubkey: parts.pubkey,
                        redirect: p.realm,
                        authextra: p.extra,
                    },
                    authid,
                    authrole,
                    pending.realm,
                    pending.session_id,
                ),
            };
        }
        if pending.method == METHOD_WAMPCRA {
            let parsed = (|| -> Result<_, String> {
                let secret = str_field(&p.answer, "secret")?
                    .ok_or("the answer has no 'secret' (wampcra needs the user's secret)")?;
                let salt = match str_field(&p.answer, "salt")? {
                    Some(salt) => Some((
                        salt,
                        u32_field(&p.answer, "iterations", DEFAULT_ITERATIONS)?,
                        u32_field(&p.answer, "keylen", DEFAULT_KEYLEN)?,
                    )),
                    None => None,
                };
                Ok((Secret::new(secret), salt))
            })();
            let (key, salt) = match parsed {
                Ok(k) => k,
                Err(m) => {
                    return abort(
                        ERROR_AUTHENTICATION_FAILED,
                        format!("invalid answer from the dynamic authenticator: {m}"),
                    )
                }
            };
            let (challenge, extra) = match cra_challenge(
                &authid,
                &authrole,
                PROVIDER_DYNAMIC,
                salt.as_ref(),
                pending.session_id,
                now_iso8601,
                rng,
            ) {
                Ok(c) => c,
                Err(step) => return *step,
            };
            return AuthStep::Challenge {
                method: METHOD_WAMPCRA.to_owned(),
                extra,
                pending: challenged(
                    PendingKind::DynWampCra {
                        challenge,
                        key,
                        redirect: p.realm,
                        authextra: p.extra,
                    },
                    authid,
                    authrole,
                    pending.realm,
                    pending.session_id,
                ),
            };
        }
        AuthStep::Welcome(AuthInfo {
            authid,
            authrole,
            authmethod: pending.method.to_owned(),
            authprovider: PROVIDER_DYNAMIC.to_owned(),
            authextra: p.extra,
            realm: p.realm,
        })
    }
}

/// The pending authentication of a challenge issued on an authenticator's answer.
fn challenged(
    kind: PendingKind,
    authid: String,
    authrole: String,
    realm: String,
    session_id: u64,
) -> PendingAuth {
    PendingAuth {
        kind,
        authid,
        authrole,
        realm,
        session_id,
        decoy: false,
    }
}

fn ask(
    entry: &DynamicAuth,
    method: &'static str,
    authextra: Option<Dict>,
    proof: Option<(&str, &str)>,
    pending: DynamicPending,
) -> DynamicAsk {
    let mut details = Dict::new();
    details.insert("authmethod".into(), Value::from(method));
    details.insert(
        "authextra".into(),
        authextra.map_or(Value::Null, Value::Dict),
    );
    if let Some((k, v)) = proof {
        details.insert(k.into(), Value::from(v));
    }
    DynamicAsk {
        procedure: entry.authenticator.clone(),
        realm: entry.authenticator_realm.clone(),
        role: entry.authenticator_role.clone(),
        timeout_ms: entry.timeout_ms(),
        details,
        pending,
    }
}
