//! WAMP-CRA's computations, as the spec (`rfc/text/advanced/authentication_wampcra.md`)
//! and Autobahn define them: the signature of a challenge and the salted key
//! derivation. Both sides compute them — the router to verify an
//! AUTHENTICATE (`router::auth`), a client to answer a CHALLENGE
//! (`client::auth`) — so they live here, once, with the protocol.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `HMAC-SHA256(key, message)`. HMAC takes keys of any length, so this is
/// `None` never in practice; callers treat `None` as a failed check.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(message);
    Some(mac.finalize().into_bytes().into())
}

/// A WAMP-CRA signature: `base64(HMAC-SHA256(key, challenge))`, standard
/// alphabet with padding, as Autobahn's `compute_wcs` returns it.
///
/// `key` is the secret's UTF-8 bytes, or for a salted user the ASCII bytes of
/// the base64 text [`derive_key`] returns.
pub fn sign(key: &[u8], challenge: &str) -> String {
    match hmac_sha256(key, challenge.as_bytes()) {
        Some(sig) => STANDARD.encode(sig),
        None => String::new(),
    }
}

/// A salted WAMP-CRA key, as Autobahn's `derive_key` computes it:
/// `base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen))` over the UTF-8
/// bytes of `secret` and `salt`. The returned base64 text (not its decoded bytes)
/// is the HMAC key: pass `derived.as_bytes()` to [`sign`].
///
/// `iterations` of 0 is treated as 1.
pub fn derive_key(secret: &str, salt: &str, iterations: u32, keylen: usize) -> String {
    let mut key = vec![0u8; keylen];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        secret.as_bytes(),
        salt.as_bytes(),
        iterations.max(1),
        &mut key,
    );
    STANDARD.encode(&key)
}

/// The challenge of the test vectors, computed with Autobahn|Python 26.10.2
/// (`autobahn.wamp.auth.derive_key` and `compute_wcs`).
#[cfg(test)]
pub(crate) const AUTOBAHN_CHALLENGE: &str = r#"{"authid": "peter", "authrole": "user", "authmethod": "wampcra", "authprovider": "static", "nonce": "LHRTC9zeOIrt_9U3", "timestamp": "2014-06-22T16:36:25.448Z", "session": 3251278072152162}"#;

#[cfg(test)]
mod tests {
    use super::*;
    const CHALLENGE: &str = AUTOBAHN_CHALLENGE;

    #[test]
    fn autobahn_vectors() {
        let key = derive_key("secret123", "salt123", 1000, 32);
        assert_eq!(key, "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=");
        assert_eq!(
            sign(key.as_bytes(), CHALLENGE),
            "q3lfFraPoc8Q5G9Ta0RWPDY/NGa9ZuMxoHrlq7lAsPE="
        );
        assert_eq!(
            sign(b"secret123", CHALLENGE),
            "UnTPoEDY8DVGrtap82ZvtLGEw4yOG7NLvQZaC/+66Gw="
        );
        let key = derive_key("p\u{e4}ss", "s", 10, 16);
        assert_eq!(key, "qzDl1UTrvFGLyAKMOrT3xw==");
        assert_eq!(
            sign(key.as_bytes(), "challenge"),
            "u904EhhEbJiwhR50RbOYfgGd/ag/8f8vfPws7z53kQM="
        );
    }
}
