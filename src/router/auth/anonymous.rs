//! The `anonymous` method: welcomed at once under the configured role, with
//! the configured `authid` or a random serial number as Crossbar.io gives.
//!
//! With a `realm` configured, anonymous access is for that realm only: a
//! HELLO for another realm is denied (`wamp.error.authentication_denied`).
//! Crossbar.io accepts the key and ignores it, admitting anonymous sessions
//! to any realm; shardwamp does what the key says (docs/migrating.md).

use rand::RngCore;

use super::{abort, AuthInfo, AuthStep, Authenticator, PROVIDER_STATIC};
use crate::config::auth::METHOD_ANONYMOUS;
use crate::wamp::uris::{ERROR_AUTHENTICATION_DENIED, ERROR_AUTHENTICATION_FAILED};
use crate::wamp::value::{Dict, Value};

/// The characters of Autobahn's `generate_serial_number` (`DEFAULT_TOKEN_CHARS`).
pub(super) const SERIAL_CHARS: &[u8] = b"345679ACEFGHJKLMNPQRSTUVWXY";

/// A random `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX` serial (114 bits), the authid
/// Crossbar.io gives anonymous sessions.
pub(super) fn random_serial<R: RngCore + ?Sized>(rng: &mut R) -> String {
    let mut out = String::with_capacity(29);
    for i in 0..24 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // Rejection sampling for a uniform pick among 27 characters.
        let c = loop {
            let b = (rng.next_u32() & 0xff) as u8;
            if b < 243 {
                break SERIAL_CHARS[usize::from(b % 27)];
            }
        };
        out.push(char::from(c));
    }
    out
}

impl Authenticator {
    pub(super) fn hello_anonymous<R: RngCore + ?Sized>(
        &self,
        realm: &str,
        details: &Dict,
        rng: &mut R,
    ) -> AuthStep {
        let Some(cfg) = &self.anonymous else {
            return abort(
                ERROR_AUTHENTICATION_FAILED,
                "anonymous authentication is not configured".to_owned(),
            );
        };
        if let Some(only) = &cfg.realm {
            if only != realm {
                return abort(
                    ERROR_AUTHENTICATION_DENIED,
                    "anonymous access on this transport is not for this realm".to_owned(),
                );
            }
        }
        let authid = match &cfg.authid {
            Some(a) => a.clone(),
            None => random_serial(rng),
        };
        // Crossbar.io hands the client's HELLO.Details.authextra back in WELCOME.
        let authextra = details.get("authextra").and_then(Value::as_dict).cloned();
        AuthStep::Welcome(AuthInfo {
            authid,
            authrole: cfg.role.clone(),
            authmethod: METHOD_ANONYMOUS.to_owned(),
            authprovider: PROVIDER_STATIC.to_owned(),
            authextra,
            realm: None,
        })
    }
}
