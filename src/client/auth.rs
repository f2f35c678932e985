//! Client-side authentication: what a client announces in HELLO
//! (`authmethods`, `authid`, `authextra`) and how it answers a CHALLENGE,
//! behind one trait, [`ClientAuthenticator`]: [`Anonymous`], [`Ticket`],
//! [`WampCra`] and [`Cryptosign`].
//!
//! WAMP-CRA's signature and key derivation and WAMP-cryptosign's signature
//! are the protocol's ([`crate::wamp::cra`], [`crate::wamp::cryptosign`]),
//! shared with the router, which verifies with them.

use std::fmt;

use ed25519_dalek::VerifyingKey;

use crate::wamp::cra;
use crate::wamp::cryptosign::{self as cs, PrivateKey, LEN};
use crate::wamp::value::{Dict, Value};

/// What a client sends in AUTHENTICATE.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// `AUTHENTICATE.Signature`.
    pub signature: String,
    /// `AUTHENTICATE.Extra`.
    pub extra: Dict,
}

/// Why a client could not answer a CHALLENGE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The router challenged with a method this authenticator does not speak.
    #[error("unexpected challenge '{0}'")]
    UnexpectedMethod(String),
    /// The CHALLENGE's extra lacks something the method needs, or holds it malformed.
    #[error("malformed '{method}' challenge: {reason}")]
    Malformed {
        /// The method challenged.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// Cryptosign router authentication or channel binding failed: the
    /// router is not the one expected, or did not bind the session to the
    /// channel as asked.
    #[error("the router failed cryptosign's checks: {0}")]
    RouterNotAuthenticated(String),
    /// A channel binding was asked for, but the connection has none of that
    /// type (a plain connection, or a binding its TLS library does not give).
    #[error("no channel binding: {0}")]
    NoChannelBinding(String),
}

/// What a dialed TLS connection offers for channel binding, as the dialer
/// found it after the handshake (`transport::dial::tls_channel`,
/// `transport::blocking::connect_tls`). `Debug` hides the values: a channel
/// binding is a secret of the connection.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsChannel {
    /// The negotiated version: `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    /// The `tls-exporter` channel binding (RFC 9266): 32 bytes exported
    /// with the label `EXPORTER-Channel-Binding`, no context.
    pub tls_exporter: Option<[u8; LEN]>,
    /// The `tls-unique` channel binding (RFC 5929), where the TLS library
    /// gives it (rustls does not; TLS 1.3 has none).
    pub tls_unique: Option<Vec<u8>>,
}

impl fmt::Debug for TlsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsChannel")
            .field("version", &self.version)
            .field("tls_exporter", &self.tls_exporter.map(|_| "<32 bytes>"))
            .field("tls_unique", &self.tls_unique.as_ref().map(|_| "<bytes>"))
            .finish()
    }
}

/// A client authentication method: what HELLO announces and how a CHALLENGE
/// is answered.
///
/// `challenge` gets the CHALLENGE's `AuthMethod` and `Extra` and returns the
/// signature and AUTHENTICATE extra: WAMP-CRA signs `extra.challenge`;
/// cryptosign signs `extra.challenge` (XOR the channel id when bound) with
/// its private key.
pub trait ClientAuthenticator {
    /// `HELLO.Details.authmethods`; empty leaves the key out (anonymous).
    fn authmethods(&self) -> Vec<String>;
    /// `HELLO.Details.authid`, if any.
    fn authid(&self) -> Option<String>;
    /// `HELLO.Details.authextra` (cryptosign sends its public key here); empty leaves it out.
    fn authextra(&self) -> Dict {
        Dict::new()
    }
    /// Answers a CHALLENGE.
    fn challenge(&mut self, method: &str, extra: &Dict) -> Result<Signature, AuthError>;
    /// Told by the dialer, before HELLO, what the connection is: its TLS
    /// channel (`Some`) or a plain connection (`None`). An authenticator
    /// that was asked to bind the session to the channel takes its channel
    /// id here, and fails when the connection has none. The default does
    /// nothing.
    fn connected(&mut self, tls: Option<&TlsChannel>) -> Result<(), AuthError> {
        let _ = tls;
        Ok(())
    }
}

/// No authentication: HELLO announces no method (the router's anonymous
/// authentication, or a transport that authenticates by itself). An authid may
/// still be asked for.
#[derive(Debug, Clone, Default)]
pub struct Anonymous {
    /// The authid to ask for, if any.
    pub authid: Option<String>,
}

impl ClientAuthenticator for Anonymous {
    fn authmethods(&self) -> Vec<String> {
        Vec::new()
    }

    fn authid(&self) -> Option<String> {
        self.authid.clone()
    }

    fn challenge(&mut self, method: &str, _extra: &Dict) -> Result<Signature, AuthError> {
        Err(AuthError::UnexpectedMethod(method.to_owned()))
    }
}

/// TLS client-certificate authentication (`tls`): the certificate the TLS
/// connection presented is the credential, so there is no CHALLENGE to
/// answer. An authid may be asked for (it must be the certificate's principal).
#[derive(Debug, Clone, Default)]
pub struct TlsCertificate {
    /// The authid to ask for, if any.
    pub authid: Option<String>,
}

impl ClientAuthenticator for TlsCertificate {
    fn authmethods(&self) -> Vec<String> {
        vec!["tls".to_owned()]
    }

    fn authid(&self) -> Option<String> {
        self.authid.clone()
    }

    fn challenge(&mut self, method: &str, _extra: &Dict) -> Result<Signature, AuthError> {
        Err(AuthError::UnexpectedMethod(method.to_owned()))
    }
}

/// Ticket authentication: the ticket is the signature.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The authid.
    pub authid: String,
    /// The ticket.
    pub ticket: String,
}

impl ClientAuthenticator for Ticket {
    fn authmethods(&self) -> Vec<String> {
        vec!["ticket".into()]
    }

    fn authid(&self) -> Option<String> {
        Some(self.authid.clone())
    }

    fn challenge(&mut self, method: &str, _extra: &Dict) -> Result<Signature, AuthError> {
        if method != "ticket" {
            return Err(AuthError::UnexpectedMethod(method.to_owned()));
        }
        Ok(Signature {
            signature: self.ticket.clone(),
            extra: Dict::new(),
        })
    }
}

/// WAMP-CRA: signs `extra.challenge` with the secret, or for a salted user
/// (`extra.salt`, `iterations`, `keylen`) with the key derived from it.
#[derive(Debug, Clone)]
pub struct WampCra {
    /// The authid.
    pub authid: String,
    /// The secret (the password for salted users: the key is derived here).
    pub secret: String,
}

impl ClientAuthenticator for WampCra {
    fn authmethods(&self) -> Vec<String> {
        vec!["wampcra".into()]
    }

    fn authid(&self) -> Option<String> {
        Some(self.authid.clone())
    }

    fn challenge(&mut self, method: &str, extra: &Dict) -> Result<Signature, AuthError> {
        if method != "wampcra" {
            return Err(AuthError::UnexpectedMethod(method.to_owned()));
        }
        let malformed = |reason: &str| AuthError::Malformed {
            method: method.to_owned(),
            reason: reason.to_owned(),
        };
        let challenge = match extra.get("challenge") {
            Some(Value::Str(s)) => s.as_str(),
            Some(_) => return Err(malformed("challenge is not a string")),
            // As Autobahn does, an absent challenge signs the empty string.
            None => "",
        };
        let key = match extra.get("salt") {
            None => self.secret.clone(),
            Some(Value::Str(salt)) => {
                let iterations = extra
                    .get("iterations")
                    .and_then(Value::as_u64)
                    .unwrap_or(1000);
                let keylen = extra.get("keylen").and_then(Value::as_u64).unwrap_or(32);
                let iterations =
                    u32::try_from(iterations).map_err(|_| malformed("iterations out of range"))?;
                if keylen == 0 || keylen > 1024 {
                    return Err(malformed("keylen out of range"));
                }
                cra::derive_key(&self.secret, salt, iterations, keylen as usize)
            }
            Some(_) => return Err(malformed("salt is not a string")),
        };
        Ok(Signature {
            signature: cra::sign(key.as_bytes(), challenge),
            extra: Dict::new(),
        })
    }
}

/// WAMP-cryptosign: announces the public key, signs the router's challenge
/// with the private key (a key file read with
/// `config::keyfile::read_key_file`, or any [`PrivateKey`]).
///
/// Optionally:
/// * [`Cryptosign::bind_to_tls`]: binds the session to the TLS channel of
///   the connection it is dialed over (the dialer gives the channel id, see
///   [`ClientAuthenticator::connected`]); the CHALLENGE must then say the
///   same binding. [`Cryptosign::channel_binding`] takes the channel id
///   itself.
/// * [`Cryptosign::authenticate_router`]: sends a random challenge and
///   checks that the CHALLENGE carries the expected router key and its
///   signature over it.
#[derive(Clone)]
pub struct Cryptosign {
    authid: Option<String>,
    key: PrivateKey,
    /// `(binding type, channel id)`.
    binding: Option<(String, [u8; LEN])>,
    /// The binding type to take from the dialed connection (`bind_to_tls`).
    wanted: Option<String>,
    /// The router's expected key and the challenge sent to it.
    router: Option<(VerifyingKey, [u8; LEN])>,
}

impl fmt::Debug for Cryptosign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cryptosign")
            .field("authid", &self.authid)
            .field("key", &self.key)
            .field("binding", &self.binding.as_ref().map(|(b, _)| b))
            .field("wanted", &self.wanted)
            .field("router", &self.router.as_ref().map(|(k, _)| k))
            .finish()
    }
}

impl Cryptosign {
    /// Authenticates with `key`, as `authid` or (none) as whoever the router
    /// finds the public key listed for.
    pub fn new(key: PrivateKey, authid: Option<String>) -> Cryptosign {
        Cryptosign {
            authid,
            key,
            binding: None,
            wanted: None,
            router: None,
        }
    }

    /// Binds the session to the TLS channel it is dialed over, with the
    /// binding type `binding` (`tls-exporter`; `tls-unique` where the TLS
    /// library has it, which rustls does not). The dialer gives the channel
    /// id ([`ClientAuthenticator::connected`]); dialing a plain connection,
    /// or one without that binding, fails before HELLO.
    pub fn bind_to_tls(mut self, binding: &str) -> Cryptosign {
        self.wanted = Some(binding.to_owned());
        self
    }

    /// Binds the session to the TLS channel: `binding` is `tls-exporter` or
    /// `tls-unique`, `channel_id` its 32-byte channel id
    /// ([`crate::wamp::cryptosign::channel_id`] of the connection's values).
    pub fn channel_binding(mut self, binding: &str, channel_id: [u8; LEN]) -> Cryptosign {
        self.binding = Some((binding.to_owned(), channel_id));
        self
    }

    /// Asks the router to authenticate itself with the key `router`: a random
    /// challenge goes in HELLO, and a CHALLENGE without `router`'s signature
    /// over it is refused.
    pub fn authenticate_router(mut self, router: VerifyingKey) -> Cryptosign {
        self.router = Some((router, rand::random()));
        self
    }

    /// The public key, as hex.
    pub fn public_hex(&self) -> String {
        self.key.public_hex()
    }
}

impl ClientAuthenticator for Cryptosign {
    fn authmethods(&self) -> Vec<String> {
        vec!["cryptosign".into()]
    }

    fn authid(&self) -> Option<String> {
        self.authid.clone()
    }

    fn authextra(&self) -> Dict {
        let mut d = Dict::new();
        d.insert("pubkey".into(), Value::from(self.key.public_hex()));
        if let Some((binding, _)) = &self.binding {
            d.insert("channel_binding".into(), Value::from(binding.as_str()));
        }
        if let Some((_, challenge)) = &self.router {
            d.insert("challenge".into(), Value::from(cs::encode_hex(challenge)));
        }
        d
    }

    fn challenge(&mut self, method: &str, extra: &Dict) -> Result<Signature, AuthError> {
        if method != "cryptosign" {
            return Err(AuthError::UnexpectedMethod(method.to_owned()));
        }
        let malformed = |reason: String| AuthError::Malformed {
            method: method.to_owned(),
            reason,
        };
        let challenge = match extra.get("challenge") {
            Some(Value::Str(s)) => {
                cs::decode_hex::<LEN>(s, "challenge").map_err(|e| malformed(e.to_string()))?
            }
            _ => return Err(malformed("no challenge string".into())),
        };
        let said = extra.get("channel_binding").and_then(Value::as_str);
        let channel_id = match &self.binding {
            Some((binding, id)) if said == Some(binding.as_str()) => Some(id),
            Some((binding, _)) => {
                return Err(AuthError::RouterNotAuthenticated(format!(
                    "channel binding {binding:?} was asked for, the router answered {said:?}"
                )))
            }
            None => None,
        };
        if let Some((router, mine)) = &self.router {
            let pubkey = extra.get("pubkey").and_then(Value::as_str).unwrap_or("");
            let signature = extra.get("signature").and_then(Value::as_str).unwrap_or("");
            let same_key =
                cs::decode_hex::<LEN>(pubkey, "pubkey").is_ok_and(|k| k == *router.as_bytes());
            if !same_key || !cs::verify(router, mine, channel_id, signature) {
                return Err(AuthError::RouterNotAuthenticated(
                    "the CHALLENGE does not carry the expected router key's signature of our challenge".into(),
                ));
            }
        }
        Ok(Signature {
            signature: cs::sign(self.key.signing_key(), &challenge, channel_id),
            extra: Dict::new(),
        })
    }

    fn connected(&mut self, tls: Option<&TlsChannel>) -> Result<(), AuthError> {
        let Some(binding) = &self.wanted else {
            return Ok(());
        };
        let Some(tls) = tls else {
            return Err(AuthError::NoChannelBinding(format!(
                "channel binding {binding:?} needs a TLS connection (wss://, rss://); this one is plain"
            )));
        };
        let id = cs::channel_id(
            binding,
            tls.tls_exporter.as_ref(),
            tls.tls_unique.as_deref(),
        )
        .ok_or_else(|| {
            AuthError::NoChannelBinding(format!(
                "this {} connection has no {binding:?} channel binding (use \"tls-exporter\")",
                tls.version
            ))
        })?;
        self.binding = Some((binding.clone(), id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    #[test]
    fn wampcra_authenticator_signs_plain_and_salted() {
        let mut a = WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        };
        assert_eq!(a.authmethods(), vec!["wampcra".to_owned()]);
        let s = a
            .challenge(
                "wampcra",
                &dict! { "challenge" => crate::wamp::cra::AUTOBAHN_CHALLENGE },
            )
            .unwrap();
        assert_eq!(s.signature, "UnTPoEDY8DVGrtap82ZvtLGEw4yOG7NLvQZaC/+66Gw=");
        let salted = dict! { "challenge" => crate::wamp::cra::AUTOBAHN_CHALLENGE, "salt" => "salt123", "iterations" => 1000u64, "keylen" => 32u64 };
        let s = a.challenge("wampcra", &salted).unwrap();
        assert_eq!(s.signature, "q3lfFraPoc8Q5G9Ta0RWPDY/NGa9ZuMxoHrlq7lAsPE=");
        assert!(matches!(
            a.challenge("ticket", &Dict::new()),
            Err(AuthError::UnexpectedMethod(_))
        ));
        assert!(matches!(
            a.challenge("wampcra", &dict! { "challenge" => 1u64 }),
            Err(AuthError::Malformed { .. })
        ));
        let bad = dict! { "challenge" => "x", "salt" => "s", "keylen" => 0u64 };
        assert!(matches!(
            a.challenge("wampcra", &bad),
            Err(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn cryptosign_signs_the_spec_vector_and_checks_the_router() {
        // The spec's first test vector.
        let key = cs::parse_private_key(
            b"4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
        )
        .unwrap();
        let mut c = Cryptosign::new(key.clone(), None);
        assert_eq!(c.authmethods(), vec!["cryptosign".to_owned()]);
        assert_eq!(c.authid(), None);
        assert_eq!(c.authextra(), dict! { "pubkey" => key.public_hex() });
        let ch = dict! { "challenge" => "ff".repeat(32), "channel_binding" => Value::Null };
        let s = c.challenge("cryptosign", &ch).unwrap();
        assert_eq!(s.signature, "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
        // Bound (the spec's vector with a channel id).
        let id: [u8; 32] = cs::decode_hex(
            "62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff",
            "id",
        )
        .unwrap();
        let mut bound = Cryptosign::new(key.clone(), None).channel_binding("tls-unique", id);
        assert_eq!(
            bound.authextra().get("channel_binding"),
            Some(&Value::from("tls-unique"))
        );
        // A router that does not confirm the binding is refused.
        assert!(matches!(
            bound.challenge("cryptosign", &ch),
            Err(AuthError::RouterNotAuthenticated(_))
        ));
        let ch_bound = dict! { "challenge" => "ff".repeat(32), "channel_binding" => "tls-unique" };
        assert_eq!(bound.challenge("cryptosign", &ch_bound).unwrap().signature, "9b6f41540c9b95b4b7b281c3042fa9c54cef43c842d62ea3fd6030fcb66e70b3e80d49d44c29d1635da9348d02ec93f3ed1ef227dfb59a07b580095c2b82f80f9d16ca518aa0c2b707f2b2a609edeca73bca8dd59817a633f35574ac6fd80d00");
        // Router authentication: the router's signature over our challenge.
        let router = PrivateKey::from_seed(&[9; 32]);
        let mut r =
            Cryptosign::new(key, Some("alice".into())).authenticate_router(router.public_key());
        let mine: [u8; 32] = cs::decode_hex(
            r.authextra()
                .get("challenge")
                .and_then(Value::as_str)
                .unwrap(),
            "c",
        )
        .unwrap();
        let good = dict! {
            "challenge" => "ff".repeat(32),
            "pubkey" => router.public_hex(),
            "signature" => cs::sign(router.signing_key(), &mine, None),
        };
        assert!(r.challenge("cryptosign", &good).is_ok());
        let impostor = PrivateKey::from_seed(&[8; 32]);
        for bad in [
            dict! { "challenge" => "ff".repeat(32) },
            dict! { "challenge" => "ff".repeat(32), "pubkey" => impostor.public_hex(), "signature" => cs::sign(impostor.signing_key(), &mine, None) },
            dict! { "challenge" => "ff".repeat(32), "pubkey" => router.public_hex(), "signature" => cs::sign(router.signing_key(), &[0; 32], None) },
        ] {
            assert!(matches!(
                r.challenge("cryptosign", &bad),
                Err(AuthError::RouterNotAuthenticated(_))
            ));
        }
        // Malformed challenges, other methods.
        assert!(matches!(
            r.challenge("cryptosign", &dict! { "challenge" => "00" }),
            Err(AuthError::Malformed { .. })
        ));
        assert!(matches!(
            r.challenge("ticket", &Dict::new()),
            Err(AuthError::UnexpectedMethod(_))
        ));
        // No private key in Debug.
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("4d57d97a"), "{dbg}");
    }

    #[test]
    fn ticket_and_anonymous() {
        let mut t = Ticket {
            authid: "joe".into(),
            ticket: "secret!".into(),
        };
        assert_eq!(t.authid().as_deref(), Some("joe"));
        assert_eq!(
            t.challenge("ticket", &Dict::new()).unwrap().signature,
            "secret!"
        );
        assert!(t.challenge("wampcra", &Dict::new()).is_err());
        let mut a = Anonymous::default();
        assert!(a.authmethods().is_empty());
        assert!(a.challenge("ticket", &Dict::new()).is_err());
    }

    #[test]
    fn cryptosign_takes_its_channel_id_from_the_dialer() {
        let key = PrivateKey::from_seed(&[1; 32]);
        let tls = TlsChannel {
            version: "TLSv1.3".into(),
            tls_exporter: Some([0x5a; LEN]),
            tls_unique: None,
        };
        assert!(!format!("{tls:?}").contains("90"), "{tls:?}");
        let mut a = Cryptosign::new(key.clone(), None).bind_to_tls("tls-exporter");
        a.connected(Some(&tls)).unwrap();
        assert_eq!(
            a.authextra().get("channel_binding"),
            Some(&Value::from("tls-exporter"))
        );
        let ch = dict! { "challenge" => "ff".repeat(32), "channel_binding" => "tls-exporter" };
        let sig = a.challenge("cryptosign", &ch).unwrap();
        let expected = cs::sign(key.signing_key(), &[0xff; LEN], Some(&[0x5a; LEN]));
        assert_eq!(sig.signature, expected);
        // Plain connection, or a binding the connection lacks: refused before HELLO.
        let mut a = Cryptosign::new(key.clone(), None).bind_to_tls("tls-exporter");
        assert!(matches!(
            a.connected(None),
            Err(AuthError::NoChannelBinding(_))
        ));
        let mut a = Cryptosign::new(key.clone(), None).bind_to_tls("tls-unique");
        assert!(matches!(
            a.connected(Some(&tls)),
            Err(AuthError::NoChannelBinding(_))
        ));
        // Unbound: nothing to take.
        let mut a = Cryptosign::new(key, None);
        a.connected(None).unwrap();
        assert!(!a.authextra().contains_key("channel_binding"));
    }
}
