//! Client-side authentication: what a client announces in HELLO
//! (`authmethods`, `authid`, `authextra`) and how it answers a CHALLENGE,
//! behind one trait, [`ClientAuthenticator`], so that a new method (cryptosign
//! next) is one more implementation.
//!
//! WAMP-CRA's signature and key derivation are the protocol's
//! ([`crate::wamp::cra`]), shared with the router, which verifies with them.

use crate::wamp::cra;
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
