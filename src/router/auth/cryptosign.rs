//! The `cryptosign` method (WAMP-cryptosign, spec:
//! `rfc/text/advanced/authentication_cryptosign.md`): static principals
//! `{authid: {authorized_keys, role, realm}}`, the `CHALLENGE` with 32
//! random bytes, TLS channel binding, router authentication, and the
//! signature check, with the computations both sides share
//! ([`crate::wamp::cryptosign`]).
//!
//! * `HELLO.Details.authextra.pubkey` (hex, 32 bytes) is required. Without
//!   `authid` the principal is the one whose `authorized_keys` hold the key
//!   (a key listed under two authids identifies neither).
//! * `authextra.channel_binding`: `tls-exporter` (RFC 9266, TLS 1.2 and 1.3)
//!   or `tls-unique` (RFC 5929, TLS 1.2 only; the channel id is SHA-256 of
//!   the Finished message, as Autobahn computes it; the TLS transport never
//!   has it, since rustls does not expose the Finished message, so a client
//!   asking for it is refused and told to use `tls-exporter`). The challenge is then
//!   signed XOR the connection's channel id. A binding asked for on a
//!   connection without TLS (a plain one, or TLS terminated in front of the
//!   router), or one the TLS connection does not have, is refused with
//!   `ABORT wamp.error.authentication_failed`: never silently unbound.
//! * `authextra.challenge` (hex, 32 bytes) asks the router to authenticate
//!   itself: `CHALLENGE.Extra` then carries the router's `pubkey` and its
//!   `signature` over that challenge (XOR the channel id when bound), made
//!   with the router's key (`[router] node_key`). A router without a key
//!   refuses with `wamp.error.authentication_failed`.
//! * `authextra.trustroot` (certificate chains) is not supported and ignored.
//!
//! **Unknown keys and authids are not revealed** (the parent module's
//! policy): an unknown authid, a key not among the principal's
//! `authorized_keys`, a principal of another realm, or a key nobody lists
//! gets a `CHALLENGE` of the same shape, and whatever it answers is denied
//! with the same `wamp.error.authentication_denied` and message as a wrong
//! signature, after the same work (one strict Ed25519 verification). When
//! the client named no authid, the denial names none either.

use std::collections::HashMap;
use std::fmt;

use ed25519_dalek::VerifyingKey;
use rand::RngCore;

use super::{abort, decoy_mac, AuthStep, Authenticator, PendingAuth, PendingKind, TlsInfo};
use crate::config::auth::{CryptosignStatic, METHOD_CRYPTOSIGN};
use crate::wamp::cryptosign::{
    self as cs, PrivateKey, BINDING_TLS_EXPORTER, BINDING_TLS_UNIQUE, LEN,
};
use crate::wamp::uris::{
    ERROR_AUTHENTICATION_FAILED, ERROR_AUTHENTICATION_REQUIRED, ERROR_PROTOCOL_VIOLATION,
};
use crate::wamp::value::{Dict, Value};

/// A TLS channel id: a per-connection value, never printed.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct ChannelId(pub(super) [u8; LEN]);

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelId(<redacted>)")
    }
}

/// A cryptosign HELLO, checked (see [`Authenticator::cryptosign_hello`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsHello {
    /// The client's public key.
    pub(super) pubkey: [u8; LEN],
    /// The channel binding it asked for.
    pub(super) binding: Option<String>,
    /// The channel id when bound (redacted in `Debug`).
    pub(super) channel_id: Option<ChannelId>,
    /// The router's public key and signature over the client's challenge.
    pub(super) router_auth: Option<(String, String)>,
}

/// The challenge for a checked HELLO: 32 random bytes, and the CHALLENGE's
/// extra (`challenge`, `channel_binding`, and the router's `pubkey` and
/// `signature` when the client challenged the router).
pub(super) fn cryptosign_challenge<R: RngCore + ?Sized>(
    parts: &CsHello,
    rng: &mut R,
) -> ([u8; LEN], Dict) {
    let mut challenge = [0u8; LEN];
    rng.fill_bytes(&mut challenge);
    let mut out = Dict::new();
    out.insert("challenge".into(), Value::from(cs::encode_hex(&challenge)));
    out.insert(
        "channel_binding".into(),
        parts
            .binding
            .as_deref()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    if let Some((pubkey, signature)) = &parts.router_auth {
        out.insert("pubkey".into(), Value::from(pubkey.clone()));
        out.insert("signature".into(), Value::from(signature.clone()));
    }
    (challenge, out)
}

/// Whether `signature` answers `challenge` (XOR the channel id) under `pubkey`.
pub(super) fn signed_by(
    pubkey: &[u8; LEN],
    challenge: &[u8; LEN],
    channel_id: Option<&ChannelId>,
    signature: &str,
) -> bool {
    match VerifyingKey::from_bytes(pubkey) {
        Ok(key) => cs::verify(&key, challenge, channel_id.map(|c| &c.0), signature),
        Err(_) => false,
    }
}

/// One configured principal.
#[derive(Debug, Clone)]
pub(super) struct CsEntry {
    keys: Vec<[u8; LEN]>,
    role: String,
    realm: Option<String>,
}

/// The compiled static principals of a transport.
#[derive(Debug, Clone, Default)]
pub(super) struct CsTable {
    principals: HashMap<String, CsEntry>,
    /// Public key → its principal; `None` where two principals list the key.
    by_key: HashMap<[u8; LEN], Option<String>>,
}

impl CsTable {
    /// Compiles a checked configuration (keys that do not parse are skipped:
    /// `TransportAuth::check` refuses them first).
    pub(super) fn new(config: &CryptosignStatic) -> CsTable {
        let mut t = CsTable::default();
        for (authid, p) in &config.principals {
            let keys: Vec<[u8; LEN]> = p
                .authorized_keys
                .iter()
                .filter_map(|k| cs::decode_hex::<LEN>(k, "authorized_keys").ok())
                .collect();
            for k in &keys {
                t.by_key
                    .entry(*k)
                    .and_modify(|owner| {
                        if owner.as_deref() != Some(authid.as_str()) {
                            *owner = None;
                        }
                    })
                    .or_insert_with(|| Some(authid.clone()));
            }
            t.principals.insert(
                authid.clone(),
                CsEntry {
                    keys,
                    role: p.role.clone(),
                    realm: p.realm.clone(),
                },
            );
        }
        t
    }

    /// The principal `authid` if it may authenticate with `key` in `realm`.
    fn lookup(&self, authid: &str, key: &[u8; LEN], realm: &str) -> Option<&CsEntry> {
        self.principals
            .get(authid)
            .filter(|p| p.keys.iter().any(|k| k == key))
            .filter(|p| p.realm.as_deref().is_none_or(|r| r == realm))
    }
}

/// Why a HELLO is refused: the ABORT's reason and message.
struct Refused(&'static str, String);

impl From<Refused> for AuthStep {
    fn from(r: Refused) -> AuthStep {
        abort(r.0, r.1)
    }
}

/// A string in `authextra`, if present: `Err` aborts (not a string).
fn extra_str<'a>(extra: &'a Dict, key: &str) -> Result<Option<&'a str>, Refused> {
    match extra.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(Refused(
            ERROR_PROTOCOL_VIOLATION,
            format!(
                "HELLO.Details.authextra.{key} must be a string, found a {}",
                other.type_name()
            ),
        )),
    }
}

/// 32 bytes as hex in `authextra`: `Err` aborts (malformed).
fn extra_hex(extra: &Dict, key: &'static str) -> Result<Option<[u8; LEN]>, Refused> {
    match extra_str(extra, key)? {
        None => Ok(None),
        Some(s) => cs::decode_hex::<LEN>(s, key).map(Some).map_err(|e| {
            Refused(
                ERROR_PROTOCOL_VIOLATION,
                format!("HELLO.Details.authextra.{key}: {e}"),
            )
        }),
    }
}

/// The channel id of the binding the client asked for, from the connection's TLS.
fn bound_channel(binding: &str, tls: Option<&TlsInfo>) -> Result<[u8; LEN], Refused> {
    let failed = |m: String| Err(Refused(ERROR_AUTHENTICATION_FAILED, m));
    if binding != BINDING_TLS_EXPORTER && binding != BINDING_TLS_UNIQUE {
        return failed(format!(
            "cryptosign channel binding {binding:?} is not supported (supported: \"tls-exporter\", \"tls-unique\")"
        ));
    }
    let Some(tls) = tls else {
        return failed(format!(
            "cryptosign channel binding {binding:?} was requested, but this connection is not TLS (the router must terminate TLS itself for channel binding)"
        ));
    };
    match cs::channel_id(
        binding,
        tls.tls_exporter.as_ref(),
        tls.tls_unique.as_deref(),
    ) {
        Some(id) => Ok(id),
        None => failed(format!(
            "cryptosign channel binding {binding:?} was requested, but this {} connection has no such value (this router's TLS, rustls, does not expose tls-unique, and TLS 1.3 defines none; use \"tls-exporter\")",
            if tls.version.is_empty() { "TLS" } else { tls.version.as_str() }
        )),
    }
}

impl Authenticator {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hello_cryptosign<R: RngCore + ?Sized>(
        &self,
        realm: &str,
        authid: Option<&str>,
        details: &Dict,
        tls: Option<&TlsInfo>,
        session_id: u64,
        rng: &mut R,
    ) -> AuthStep {
        let Some(table) = &self.cryptosign else {
            return abort(
                ERROR_AUTHENTICATION_FAILED,
                "cryptosign authentication is not configured".to_owned(),
            );
        };
        let parts = match self.cryptosign_hello(details, tls) {
            Ok(p) => p,
            Err(step) => return step,
        };
        let (pubkey, channel_id) = (parts.pubkey, parts.channel_id.clone());
        // The principal: named, or inferred from the key. Anything else is a
        // decoy, challenged alike and denied at AUTHENTICATE.
        let (principal, found) = match authid {
            Some(a) => (a.to_owned(), table.lookup(a, &pubkey, realm)),
            None => match table.by_key.get(&pubkey) {
                Some(Some(a)) => (a.clone(), table.lookup(a, &pubkey, realm)),
                _ => (cs::encode_hex(&pubkey), None),
            },
        };
        let (challenge, out) = cryptosign_challenge(&parts, rng);
        AuthStep::Challenge {
            method: METHOD_CRYPTOSIGN.to_owned(),
            extra: out,
            pending: PendingAuth {
                kind: PendingKind::Cryptosign {
                    challenge,
                    channel_id,
                    pubkey,
                    named: authid.is_some(),
                },
                authid: principal,
                authrole: found.map(|p| p.role.clone()).unwrap_or_default(),
                realm: realm.to_owned(),
                session_id,
                decoy: found.is_none(),
            },
        }
    }

    /// What a cryptosign HELLO asks for, checked: the client's key, the
    /// channel binding (refused where the connection cannot give it), and
    /// the router's answer to the client's own challenge, if it sent one.
    #[allow(clippy::result_large_err)] // the refusal is the HELLO's answer, once per HELLO
    pub(super) fn cryptosign_hello(
        &self,
        details: &Dict,
        tls: Option<&TlsInfo>,
    ) -> Result<CsHello, AuthStep> {
        let empty = Dict::new();
        let extra = match details.get("authextra") {
            None | Some(Value::Null) => &empty,
            Some(Value::Dict(d)) => d,
            Some(other) => {
                return Err(abort(
                    ERROR_PROTOCOL_VIOLATION,
                    format!(
                        "HELLO.Details.authextra must be a dict, found a {}",
                        other.type_name()
                    ),
                ))
            }
        };
        let pubkey = match extra_hex(extra, "pubkey") {
            Ok(Some(k)) => k,
            Ok(None) => {
                return Err(abort(
                    ERROR_AUTHENTICATION_REQUIRED,
                    "cryptosign authentication requires HELLO.Details.authextra.pubkey".to_owned(),
                ))
            }
            Err(refused) => return Err(refused.into()),
        };
        let binding = extra_str(extra, "channel_binding")?;
        let channel_id = binding.map(|b| bound_channel(b, tls)).transpose()?;
        let client_challenge = extra_hex(extra, "challenge")?;
        let router_auth = match (client_challenge, &self.router_key) {
            (None, _) => None,
            (Some(c), Some(key)) => Some((
                key.public_hex(),
                cs::sign(key.signing_key(), &c, channel_id.as_ref()),
            )),
            (Some(_), None) => {
                return Err(abort(
                    ERROR_AUTHENTICATION_FAILED,
                    "router authentication was requested (authextra.challenge), but this router has no key (router.node_key)".to_owned(),
                ))
            }
        };
        Ok(CsHello {
            pubkey,
            binding: binding.map(str::to_owned),
            channel_id: channel_id.map(ChannelId),
            router_auth,
        })
    }

    /// Whether `signature` is the principal's key's signature over the
    /// challenge (XOR the channel id); a decoy, or a principal or key removed
    /// since the challenge, is verified all the same and fails.
    pub(super) fn check_cryptosign(
        &self,
        pending: &PendingAuth,
        challenge: &[u8; LEN],
        channel_id: Option<&ChannelId>,
        pubkey: &[u8; LEN],
        signature: &str,
    ) -> bool {
        let real = self
            .cryptosign
            .as_ref()
            .and_then(|t| t.lookup(&pending.authid, pubkey, &pending.realm))
            .filter(|_| !pending.decoy)
            .is_some();
        // A key that is not a curve point is nobody's: verify with a decoy key.
        let key = VerifyingKey::from_bytes(pubkey).unwrap_or_else(|_| {
            PrivateKey::from_seed(&decoy_mac(&self.decoy_key, &[b"cryptosign", pubkey]))
                .public_key()
        });
        let good = cs::verify(&key, challenge, channel_id.map(|c| &c.0), signature);
        good & real
    }

    /// The router's key for router authentication (`[router] node_key`).
    pub fn set_router_key(&mut self, key: Option<PrivateKey>) {
        self.router_key = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::auth::TransportAuth;
    use crate::dict;
    use crate::router::auth::AuthInfo;
    use crate::wamp::uris::ERROR_AUTHENTICATION_DENIED;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const NOW: &str = "2026-12-07T18:00:00.000Z";

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_seed(&[n; 32])
    }

    fn auth() -> Authenticator {
        let cfg: TransportAuth = serde_json::from_value(serde_json::json!({
            "cryptosign": {"type": "static", "principals": {
                "alice": {"authorized_keys": [key(1).public_hex(), key(2).public_hex()], "role": "user"},
                "bob": {"authorized_keys": [key(3).public_hex()], "role": "backend", "realm": "realm1"},
                "carol": {"authorized_keys": [key(4).public_hex()], "role": "user"},
                "dave": {"authorized_keys": [key(4).public_hex()], "role": "user"},
            }}
        }))
        .unwrap();
        Authenticator::new(&cfg).unwrap()
    }

    fn hello_on(
        a: &Authenticator,
        realm: &str,
        authid: Option<&str>,
        extra: Dict,
        tls: Option<&TlsInfo>,
    ) -> AuthStep {
        let mut d =
            dict! {"authmethods" => Value::List(vec!["cryptosign".into()]), "authextra" => extra};
        if let Some(a) = authid {
            d.insert("authid".into(), Value::from(a));
        }
        a.hello(realm, &d, tls, 99, NOW, &mut StdRng::seed_from_u64(1))
    }

    fn hello(a: &Authenticator, authid: Option<&str>, extra: Dict) -> AuthStep {
        hello_on(a, "realm1", authid, extra, None)
    }

    fn challenged(step: AuthStep) -> (Dict, PendingAuth) {
        match step {
            AuthStep::Challenge {
                method,
                extra,
                pending,
            } => {
                assert_eq!(method, "cryptosign");
                (extra, pending)
            }
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn aborted(step: &AuthStep) -> (&'static str, String) {
        match step {
            AuthStep::Abort { reason, message } => (reason, message.clone()),
            other => panic!("expected an abort, got {other:?}"),
        }
    }

    fn welcomed(step: AuthStep) -> AuthInfo {
        match step {
            AuthStep::Welcome(info) => info,
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    fn challenge_of(extra: &Dict) -> [u8; 32] {
        cs::decode_hex(extra.get("challenge").and_then(Value::as_str).unwrap(), "c").unwrap()
    }

    fn answer(k: &PrivateKey, extra: &Dict, channel: Option<&[u8; 32]>) -> String {
        cs::sign(k.signing_key(), &challenge_of(extra), channel)
    }

    fn with_pubkey(k: &PrivateKey) -> Dict {
        dict! {"pubkey" => k.public_hex()}
    }

    /// Dynamic cryptosign: the authenticator is asked with HELLO's authextra,
    /// must answer with the client's key, and the router challenges and
    /// verifies; another key in the answer, or a wrong signature, is denied.
    #[test]
    fn a_dynamic_authenticator_vouches_for_a_key() {
        let cfg: TransportAuth = serde_json::from_value(serde_json::json!({
            "cryptosign": {"type": "dynamic", "authenticator": "com.example.auth"}
        }))
        .unwrap();
        let a = Authenticator::new(&cfg).unwrap();
        let ask = |k: &PrivateKey| match hello(&a, None, with_pubkey(k)) {
            AuthStep::Ask(q) => {
                let extra = q.details.get("authextra").and_then(Value::as_dict).unwrap();
                assert_eq!(extra.get("pubkey"), Some(&Value::from(k.public_hex())));
                q.pending
            }
            other => panic!("expected a question, got {other:?}"),
        };
        let answer_with = |k: &PrivateKey| {
            Ok(Value::Dict(dict! {
                "pubkey" => k.public_hex(), "authid" => "device-7", "role" => "user"
            }))
        };
        let mut rng = StdRng::seed_from_u64(3);
        // The key the authenticator vouches for signs: welcome.
        let step = a.answer(ask(&key(1)), answer_with(&key(1)), NOW, &mut rng);
        let (extra, pending) = challenged(step);
        let info = welcomed(a.authenticate(pending, &answer(&key(1), &extra, None), &Dict::new()));
        assert_eq!(
            (
                info.authid.as_str(),
                info.authrole.as_str(),
                info.authprovider.as_str()
            ),
            ("device-7", "user", "dynamic")
        );
        assert_eq!(info.authmethod, "cryptosign");
        // Another signature: denied.
        let (extra, pending) =
            challenged(a.answer(ask(&key(1)), answer_with(&key(1)), NOW, &mut rng));
        let step = a.authenticate(pending, &answer(&key(2), &extra, None), &Dict::new());
        assert_eq!(aborted(&step).0, ERROR_AUTHENTICATION_DENIED);
        // The authenticator names another key: denied before any challenge.
        let step = a.answer(ask(&key(1)), answer_with(&key(2)), NOW, &mut rng);
        assert_eq!(aborted(&step).0, ERROR_AUTHENTICATION_DENIED);
    }

    #[test]
    fn named_and_inferred_principals_join() {
        let a = auth();
        assert!(a.offers("cryptosign"));
        assert_eq!(a.methods().collect::<Vec<_>>(), ["cryptosign"]);
        for (authid, k) in [(Some("alice"), key(2)), (None, key(1)), (None, key(3))] {
            let (extra, pending) = challenged(hello(&a, authid, with_pubkey(&k)));
            assert_eq!(extra.get("channel_binding"), Some(&Value::Null));
            assert_eq!(extra.len(), 2, "{extra:?}");
            assert_eq!(pending.method(), "cryptosign");
            let sig = answer(&k, &extra, None);
            let info = welcomed(a.authenticate(pending, &sig, &Dict::new()));
            assert_eq!(info.authmethod, "cryptosign");
            assert_eq!(info.authprovider, "static");
            if k.public_hex() == key(3).public_hex() {
                assert_eq!(
                    (info.authid.as_str(), info.authrole.as_str()),
                    ("bob", "backend")
                );
            } else {
                assert_eq!(
                    (info.authid.as_str(), info.authrole.as_str()),
                    ("alice", "user")
                );
            }
        }
    }

    /// Every way of not being a principal is denied like a wrong signature.
    #[test]
    fn wrong_and_unknown_keys_are_denied_alike() {
        let a = auth();
        let cases: Vec<(Option<&str>, PrivateKey, PrivateKey, &str)> = vec![
            // (authid, announced key, signing key, realm)
            (Some("alice"), key(1), key(2), "realm1"), // wrong signature
            (Some("alice"), key(3), key(3), "realm1"), // bob's key for alice
            (Some("nobody"), key(1), key(1), "realm1"), // unknown authid
            (None, key(9), key(9), "realm1"),          // unknown key
            (None, key(4), key(4), "realm1"),          // a key two principals list
            (Some("bob"), key(3), key(3), "realm2"),   // bob belongs to realm1
        ];
        let mut messages = Vec::new();
        for (authid, announced, signer, realm) in cases {
            let (extra, pending) =
                challenged(hello_on(&a, realm, authid, with_pubkey(&announced), None));
            assert_eq!(extra.len(), 2);
            let sig = answer(&signer, &extra, None);
            let (reason, message) = aborted(&a.authenticate(pending, &sig, &Dict::new()));
            assert_eq!(reason, ERROR_AUTHENTICATION_DENIED);
            messages.push(match authid {
                Some(a) => message.replace(a, "X"),
                None => message,
            });
        }
        // The named cases say the same; the unnamed ones name no authid.
        assert!(messages
            .iter()
            .all(|m| m.ends_with("failed: invalid signature")));
        assert_eq!(messages[0], messages[2]);
        assert_eq!(messages[3], messages[4]);
        assert!(!messages[3].contains("carol") && !messages[3].contains("dave"));
        // Named carol with her key works even though dave lists the same key.
        let (extra, pending) = challenged(hello(&a, Some("carol"), with_pubkey(&key(4))));
        welcomed(a.authenticate(pending, &answer(&key(4), &extra, None), &Dict::new()));
    }

    #[test]
    fn bad_signature_lengths_and_replays_are_denied() {
        let a = auth();
        let (extra, pending) = challenged(hello(&a, Some("alice"), with_pubkey(&key(1))));
        let good = answer(&key(1), &extra, None);
        for bad in [
            String::new(),
            good[..128].to_owned(),
            good[..190].to_owned(),
            format!("{good}00"),
            "zz".repeat(96),
            // The signature over another challenge.
            cs::sign(key(1).signing_key(), &[0; 32], None),
        ] {
            let (reason, _) = aborted(&a.authenticate(pending.clone(), &bad, &Dict::new()));
            assert_eq!(reason, ERROR_AUTHENTICATION_DENIED, "{}", bad.len());
        }
        welcomed(a.authenticate(pending, &good, &Dict::new()));
    }

    #[test]
    fn malformed_hello_extra() {
        let a = auth();
        let (r, m) = aborted(&hello(&a, Some("alice"), Dict::new()));
        assert_eq!(r, ERROR_AUTHENTICATION_REQUIRED);
        assert!(m.contains("pubkey"), "{m}");
        for extra in [
            dict! {"pubkey" => "abcd"},
            dict! {"pubkey" => 5u64},
            dict! {"pubkey" => "zz".repeat(32)},
            dict! {"pubkey" => key(1).public_hex(), "challenge" => "00"},
            dict! {"pubkey" => key(1).public_hex(), "channel_binding" => 1u64},
        ] {
            let (r, _) = aborted(&hello(&a, Some("alice"), extra.clone()));
            assert_eq!(r, ERROR_PROTOCOL_VIOLATION, "{extra:?}");
        }
        let d = dict! {"authmethods" => Value::List(vec!["cryptosign".into()]), "authextra" => "x"};
        let step = a.hello("realm1", &d, None, 1, NOW, &mut StdRng::seed_from_u64(1));
        assert_eq!(aborted(&step).0, ERROR_PROTOCOL_VIOLATION);
    }

    #[test]
    fn binding_without_tls_or_without_the_value_aborts() {
        let a = auth();
        for binding in ["tls-unique", "tls-exporter"] {
            let extra = dict! {"pubkey" => key(1).public_hex(), "channel_binding" => binding};
            let (r, m) = aborted(&hello(&a, Some("alice"), extra.clone()));
            assert_eq!(r, ERROR_AUTHENTICATION_FAILED);
            assert!(m.contains("not TLS"), "{m}");
            let tls13 = TlsInfo {
                version: "TLSv1.3".into(),
                ..TlsInfo::default()
            };
            let (r, m) = aborted(&hello_on(&a, "realm1", Some("alice"), extra, Some(&tls13)));
            assert_eq!(r, ERROR_AUTHENTICATION_FAILED);
            assert!(m.contains("TLSv1.3") && m.contains("no such value"), "{m}");
        }
        let extra =
            dict! {"pubkey" => key(1).public_hex(), "channel_binding" => "tls-server-end-point"};
        let (r, m) = aborted(&hello(&a, Some("alice"), extra));
        assert_eq!(r, ERROR_AUTHENTICATION_FAILED);
        assert!(m.contains("not supported"), "{m}");
    }

    #[test]
    fn channel_binding_signs_challenge_xor_channel_id() {
        let a = auth();
        let tls = TlsInfo {
            version: "TLSv1.2".into(),
            tls_exporter: Some([0x5a; 32]),
            tls_unique: Some(vec![7; 12]),
            ..TlsInfo::default()
        };
        for (binding, id) in [
            ("tls-exporter", [0x5a; 32]),
            (
                "tls-unique",
                cs::channel_id("tls-unique", None, Some(&[7; 12])).unwrap(),
            ),
        ] {
            let extra = dict! {"pubkey" => key(1).public_hex(), "channel_binding" => binding};
            let step = hello_on(&a, "realm1", None, extra.clone(), Some(&tls));
            let (ch, pending) = challenged(step);
            assert_eq!(ch.get("channel_binding"), Some(&Value::from(binding)));
            // Unbound, or bound to another channel: denied.
            for wrong in [None, Some([0u8; 32])] {
                let sig = answer(&key(1), &ch, wrong.as_ref());
                let step = a.authenticate(pending.clone(), &sig, &Dict::new());
                assert_eq!(aborted(&step).0, ERROR_AUTHENTICATION_DENIED);
            }
            let sig = answer(&key(1), &ch, Some(&id));
            assert_eq!(
                welcomed(a.authenticate(pending.clone(), &sig, &Dict::new())).authid,
                "alice"
            );
            // The channel id never shows in Debug output.
            let dbg = format!("{pending:?}");
            assert!(
                dbg.contains("redacted") && !dbg.contains(&cs::encode_hex(&id)),
                "{dbg}"
            );
        }
        // Without binding on a TLS connection, the plain challenge is signed.
        let (ch, pending) = challenged(hello_on(
            &a,
            "realm1",
            None,
            with_pubkey(&key(1)),
            Some(&tls),
        ));
        welcomed(a.authenticate(pending, &answer(&key(1), &ch, None), &Dict::new()));
    }

    #[test]
    fn router_authentication() {
        let mut a = auth();
        let client_challenge = [0x11u8; 32];
        let extra = dict! {"pubkey" => key(1).public_hex(), "challenge" => cs::encode_hex(&client_challenge)};
        // No router key: refused.
        let (r, m) = aborted(&hello(&a, None, extra.clone()));
        assert_eq!(r, ERROR_AUTHENTICATION_FAILED);
        assert!(m.contains("node_key"), "{m}");
        let router = key(42);
        a.set_router_key(Some(router.clone()));
        let (ch, pending) = challenged(hello(&a, None, extra.clone()));
        assert_eq!(ch.get("pubkey"), Some(&Value::from(router.public_hex())));
        let sig = ch.get("signature").and_then(Value::as_str).unwrap();
        assert!(cs::verify(
            &router.public_key(),
            &client_challenge,
            None,
            sig
        ));
        welcomed(a.authenticate(pending, &answer(&key(1), &ch, None), &Dict::new()));
        // A decoy gets the router's signature too (same shape).
        let unknown = dict! {"pubkey" => key(9).public_hex(), "challenge" => cs::encode_hex(&client_challenge)};
        let (ch, _) = challenged(hello(&a, None, unknown));
        assert_eq!(ch.len(), 4);
        // Bound: the router signs the client's challenge XOR the channel id.
        let tls = TlsInfo {
            version: "TLSv1.3".into(),
            tls_exporter: Some([3; 32]),
            ..TlsInfo::default()
        };
        let mut bound = extra;
        bound.insert("channel_binding".into(), Value::from("tls-exporter"));
        let (ch, _) = challenged(hello_on(&a, "realm1", None, bound, Some(&tls)));
        let sig = ch.get("signature").and_then(Value::as_str).unwrap();
        assert!(cs::verify(
            &router.public_key(),
            &client_challenge,
            Some(&[3; 32]),
            sig
        ));
        assert!(!cs::verify(
            &router.public_key(),
            &client_challenge,
            None,
            sig
        ));
        // The router's private key is in no Debug output.
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(&cs::encode_hex(&[42u8; 32])), "{dbg}");
    }

    #[test]
    fn challenges_are_fresh() {
        let a = auth();
        let d = dict! {"authmethods" => Value::List(vec!["cryptosign".into()]), "authextra" => with_pubkey(&key(1))};
        let mut rng = StdRng::seed_from_u64(5);
        let (c1, p1) = challenged(a.hello("realm1", &d, None, 1, NOW, &mut rng));
        let (c2, _) = challenged(a.hello("realm1", &d, None, 2, NOW, &mut rng));
        assert_ne!(c1.get("challenge"), c2.get("challenge"));
        // An answer to one challenge does not answer another.
        let sig = answer(&key(1), &c2, None);
        assert_eq!(
            aborted(&a.authenticate(p1, &sig, &Dict::new())).0,
            ERROR_AUTHENTICATION_DENIED
        );
    }

    /// Prints what a real and a decoy cryptosign challenge and answer cost
    /// (`cargo test --release cryptosign_cost -- --nocapture`).
    #[test]
    fn cryptosign_cost() {
        let a = auth();
        let n = 50u32;
        let time = |k: &PrivateKey| {
            let t = std::time::Instant::now();
            for _ in 0..n {
                let (extra, pending) = challenged(hello(&a, None, with_pubkey(k)));
                let sig = answer(&key(1), &extra, None);
                let _ = a.authenticate(pending, &sig, &Dict::new());
            }
            t.elapsed() / n
        };
        let real = time(&key(1));
        let decoy = time(&key(9));
        println!("cryptosign HELLO+AUTHENTICATE (client signing included): real {real:?}, decoy {decoy:?}");
    }
}
