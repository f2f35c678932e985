//! Client-side authentication: what a client announces in HELLO
//! (`authmethods`, `authid`, `authextra`) and how it answers a CHALLENGE,
//! behind one trait, [`ClientAuthenticator`], so that a new method (cryptosign
//! next) is one more implementation.
//!
//! The WAMP-CRA signing primitives ([`wampcra_sign`], [`wampcra_derive_key`])
//! live here, beside the client that signs. The router's authentication keeps
//! its own copy for verification today (`router::auth`), computed the same way
//! (the Autobahn test vectors below hold for both) until it points here; the
//! client does not import the router.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
}

/// A client authentication method: what HELLO announces and how a CHALLENGE
/// is answered.
///
/// `challenge` gets the CHALLENGE's `AuthMethod` and `Extra` and returns the
/// signature and AUTHENTICATE extra: WAMP-CRA signs `extra.challenge`;
/// cryptosign will sign `extra.challenge` with its private key and return the
/// signature (and, with channel binding, say so in the extra).
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
                wampcra_derive_key(&self.secret, salt, iterations, keylen as usize)
            }
            Some(_) => return Err(malformed("salt is not a string")),
        };
        Ok(Signature {
            signature: wampcra_sign(key.as_bytes(), challenge),
            extra: Dict::new(),
        })
    }
}

/// A WAMP-CRA signature: `base64(HMAC-SHA256(key, challenge))`, standard
/// alphabet with padding, as Autobahn's `compute_wcs` returns it.
///
/// `key` is the secret's UTF-8 bytes, or for a salted user the ASCII bytes of
/// the base64 text [`wampcra_derive_key`] returns.
pub fn wampcra_sign(key: &[u8], challenge: &str) -> String {
    // HMAC takes keys of any length, so this never fails.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(challenge.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// A salted WAMP-CRA key, as Autobahn's `derive_key` computes it:
/// `base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen))` over the UTF-8
/// bytes of `secret` and `salt`. The returned base64 text (not its decoded bytes)
/// is the HMAC key: pass `derived.as_bytes()` to [`wampcra_sign`].
///
/// `iterations` of 0 is treated as 1.
pub fn wampcra_derive_key(secret: &str, salt: &str, iterations: u32, keylen: usize) -> String {
    let mut key = vec![0u8; keylen];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        secret.as_bytes(),
        salt.as_bytes(),
        iterations.max(1),
        &mut key,
    );
    STANDARD.encode(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    /// Test vectors computed with Autobahn|Python 26.10.2
    /// (`autobahn.wamp.auth.derive_key` and `compute_wcs`).
    const CHALLENGE: &str = r#"{"authid": "peter", "authrole": "user", "authmethod": "wampcra", "authprovider": "static", "nonce": "LHRTC9zeOIrt_9U3", "timestamp": "2014-06-22T16:36:25.448Z", "session": 3251278072152162}"#;

    #[test]
    fn wampcra_known_vectors() {
        let key = wampcra_derive_key("secret123", "salt123", 1000, 32);
        assert_eq!(key, "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=");
        assert_eq!(
            wampcra_sign(key.as_bytes(), CHALLENGE),
            "q3lfFraPoc8Q5G9Ta0RWPDY/NGa9ZuMxoHrlq7lAsPE="
        );
        assert_eq!(
            wampcra_sign(b"secret123", CHALLENGE),
            "UnTPoEDY8DVGrtap82ZvtLGEw4yOG7NLvQZaC/+66Gw="
        );
        assert_eq!(
            wampcra_derive_key("p\u{e4}ss", "s", 10, 16),
            "qzDl1UTrvFGLyAKMOrT3xw=="
        );
    }

    #[test]
    fn wampcra_authenticator_signs_plain_and_salted() {
        let mut a = WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        };
        assert_eq!(a.authmethods(), vec!["wampcra".to_owned()]);
        let s = a
            .challenge("wampcra", &dict! { "challenge" => CHALLENGE })
            .unwrap();
        assert_eq!(s.signature, "UnTPoEDY8DVGrtap82ZvtLGEw4yOG7NLvQZaC/+66Gw=");
        let salted = dict! { "challenge" => CHALLENGE, "salt" => "salt123", "iterations" => 1000u64, "keylen" => 32u64 };
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
}
