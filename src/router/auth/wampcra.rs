//! The `wampcra` method (WAMP-CRA, salted or not): the challenge, the
//! decoy users that keep unknown authids from being revealed (see the
//! parent module's docs) and the signature check, with the computations
//! both sides share ([`crate::wamp::cra`]).

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::{abort, decoy_mac, AuthStep, Authenticator, PendingAuth, PendingKind, PROVIDER_STATIC};
use crate::config::auth::{Secret, DEFAULT_ANONYMOUS_ROLE, METHOD_WAMPCRA};
use crate::wamp::cra::hmac_sha256;
use crate::wamp::uris::{ERROR_AUTHENTICATION_FAILED, ERROR_AUTHENTICATION_REQUIRED};
use crate::wamp::value::{Dict, Value};

/// Base64 decoding that accepts the signature with or without padding.
pub(super) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A 64-character random nonce (48 random bytes, base64), as Autobahn's `newid(64)`.
pub(super) fn random_nonce<R: RngCore + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 48];
    rng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// A decoy salt of `len` characters (base64 of HMAC blocks), fixed for `authid`.
pub(super) fn decoy_salt(key: &[u8; 32], authid: &str, len: usize) -> String {
    let mut out = String::with_capacity(len + 44);
    let mut block: u32 = 0;
    while out.len() < len {
        let m = decoy_mac(key, &[b"salt", authid.as_bytes(), &block.to_le_bytes()]);
        out.push_str(&STANDARD.encode(m).replace(['+', '/', '='], ""));
        block += 1;
    }
    out.truncate(len);
    out
}

/// A WAMP-CRA challenge for `authid` under `role` vouched for by `provider`:
/// the challenge string and `CHALLENGE.Extra` (with the salt parameters of
/// a salted user). Shared by static and dynamic users.
pub(super) fn cra_challenge<R: RngCore + ?Sized>(
    authid: &str,
    role: &str,
    provider: &str,
    salt: Option<&(String, u32, u32)>,
    session_id: u64,
    now_iso8601: &str,
    rng: &mut R,
) -> Result<(String, Dict), Box<AuthStep>> {
    let nonce = random_nonce(rng);
    let challenge = CraChallenge {
        authid,
        authrole: role,
        authmethod: METHOD_WAMPCRA,
        authprovider: provider,
        nonce: &nonce,
        timestamp: now_iso8601,
        session: session_id,
    };
    let challenge = serde_json::to_string(&challenge).map_err(|e| {
        Box::new(abort(
            ERROR_AUTHENTICATION_FAILED,
            format!("could not build the wampcra challenge: {e}"),
        ))
    })?;
    let mut extra = Dict::new();
    extra.insert("challenge".into(), Value::from(challenge.as_str()));
    if let Some((salt, iterations, keylen)) = salt {
        extra.insert("salt".into(), Value::from(salt.as_str()));
        extra.insert("iterations".into(), Value::from(*iterations));
        extra.insert("keylen".into(), Value::from(*keylen));
    }
    Ok((challenge, extra))
}

/// Whether `signature` (base64, padded or not) is the HMAC-SHA256 of
/// `challenge` under `key`, compared in constant time; `None`: the HMAC
/// could not be computed.
pub(super) fn cra_verify(key: &str, challenge: &str, signature: &str) -> Option<bool> {
    let expected = hmac_sha256(key.as_bytes(), challenge.as_bytes())?;
    Some(match LENIENT_BASE64.decode(signature.trim()) {
        Ok(given) => bool::from(given.as_slice().ct_eq(expected.as_slice())),
        Err(_) => false,
    })
}

/// The WAMP-CRA challenge object, fields in the spec's order.
#[derive(Serialize)]
struct CraChallenge<'a> {
    authid: &'a str,
    authrole: &'a str,
    authmethod: &'a str,
    authprovider: &'a str,
    nonce: &'a str,
    timestamp: &'a str,
    session: u64,
}

#[derive(Clone)]
pub(super) struct CraEntry {
    /// The HMAC key: the configured secret (for salted users, the derived key text).
    pub(super) key: Secret,
    pub(super) role: String,
    /// `(salt, iterations, keylen)` for salted users.
    pub(super) salt: Option<(String, u32, u32)>,
}

impl fmt::Debug for CraEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CraEntry")
            .field("key", &"<redacted>")
            .field("role", &self.role)
            .field("salt", &self.salt)
            .finish()
    }
}

/// The shape a decoy WAMP-CRA principal copies from a configured user.
#[derive(Debug, Clone)]
pub(super) struct CraShape {
    pub(super) role: String,
    /// `(salt length, iterations, keylen)` for salted users.
    pub(super) salt: Option<(usize, u32, u32)>,
}

impl Authenticator {
    pub(super) fn hello_wampcra<R: RngCore + ?Sized>(
        &self,
        realm: &str,
        authid: Option<&str>,
        session_id: u64,
        now_iso8601: &str,
        rng: &mut R,
    ) -> AuthStep {
        let Some(users) = &self.wampcra else {
            return abort(
                ERROR_AUTHENTICATION_FAILED,
                "wampcra authentication is not configured".to_owned(),
            );
        };
        let Some(authid) = authid else {
            return abort(
                ERROR_AUTHENTICATION_REQUIRED,
                "wampcra authentication requires HELLO.Details.authid".to_owned(),
            );
        };
        // An unknown authid gets a decoy shaped like a configured user's challenge.
        // (The decoy is computed for known users too, so both cost the same.)
        let (decoy_role, decoy_salt) = self.decoy_cra_shape(authid);
        let (role, salt, decoy) = match users.get(authid) {
            Some(user) => (user.role.clone(), user.salt.clone(), false),
            None => (decoy_role, decoy_salt, true),
        };
        let (challenge, extra) = match cra_challenge(
            authid,
            &role,
            PROVIDER_STATIC,
            salt.as_ref(),
            session_id,
            now_iso8601,
            rng,
        ) {
            Ok(c) => c,
            Err(step) => return *step,
        };
        AuthStep::Challenge {
            method: METHOD_WAMPCRA.to_owned(),
            extra,
            pending: PendingAuth {
                kind: PendingKind::WampCra { challenge },
                authid: authid.to_owned(),
                authrole: role,
                realm: realm.to_owned(),
                session_id,
                decoy,
            },
        }
    }

    /// The role and `(salt, iterations, keylen)` of the decoy user `authid`: the
    /// shape of a configured user picked by a keyed hash of the authid, with
    /// a salt derived from it (see the module docs).
    pub(super) fn decoy_cra_shape(&self, authid: &str) -> (String, Option<(String, u32, u32)>) {
        let pick = decoy_mac(&self.decoy_key, &[b"wampcra-shape", authid.as_bytes()]);
        let mut idx = [0u8; 8];
        idx.copy_from_slice(&pick[..8]);
        let n = self.cra_shapes.len() as u64;
        let Some(shape) = (n > 0)
            .then(|| self.cra_shapes.get((u64::from_le_bytes(idx) % n) as usize))
            .flatten()
        else {
            return (DEFAULT_ANONYMOUS_ROLE.to_owned(), None);
        };
        let salt = shape.salt.map(|(len, iterations, keylen)| {
            (decoy_salt(&self.decoy_key, authid, len), iterations, keylen)
        });
        (shape.role.clone(), salt)
    }

    /// Whether `signature` signs `challenge` with `pending`'s user's key; a
    /// decoy (or a user removed since the challenge) is checked against the
    /// decoy secret, the same work, and fails. `None`: the signature could
    /// not be computed.
    pub(super) fn check_wampcra(
        &self,
        pending: &PendingAuth,
        challenge: &str,
        signature: &str,
        decoy_secret: &Secret,
    ) -> Option<bool> {
        let real = self
            .wampcra
            .as_ref()
            .and_then(|w| w.get(&pending.authid))
            .filter(|_| !pending.decoy);
        let key = match real {
            Some(u) => u.key.expose(),
            None => decoy_secret.expose(),
        };
        let matches = cra_verify(key, challenge, signature)?;
        Some(matches && real.is_some())
    }
}
