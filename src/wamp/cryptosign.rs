//! WAMP-cryptosign's computations (spec:
//! `rfc/text/advanced/authentication_cryptosign.md`), Ed25519 with
//! ed25519-dalek: the message a challenge asks to be signed (the 32-byte
//! challenge, XORed with the TLS channel id when the session is bound to its
//! channel), the signature as it travels (hex of the 64-byte signature
//! followed by the 32 bytes signed), its strict verification, the channel id
//! of each binding type, and the private key files both sides read. Both
//! sides compute them — the router to verify an AUTHENTICATE and to sign a
//! client's challenge (`router::auth`), a client to answer a CHALLENGE and to
//! check the router's signature (`client::auth`) — so they live here, once.
//!
//! **Key files** ([`parse_private_key`]): Crossbar.io's node key
//! (`.crossbar/key.priv`) and Autobahn's key files — `tag: value` lines with
//! the seed under `private-key-ed25519` (comment lines before the first
//! blank line are skipped; a `public-key-ed25519` line, when present, must
//! match the seed) — or a raw seed: 64 hex characters, or a file of exactly
//! 32 bytes (Autobahn's `CryptosignKey.from_file`).
//!
//! **Channel ids** ([`channel_id`]): `tls-exporter` is the 32 bytes exported
//! with the label `EXPORTER-Channel-Binding` (RFC 9266), used as they are;
//! `tls-unique` is SHA-256 of the RFC 5929 value (the first Finished
//! message), as Autobahn computes it (its `transport_channel_id`), since the
//! Finished message is 12 bytes long and the XOR needs 32.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// `HELLO.Details.authextra.channel_binding` for RFC 9266's exporter binding.
pub const BINDING_TLS_EXPORTER: &str = "tls-exporter";
/// `HELLO.Details.authextra.channel_binding` for RFC 5929's `tls-unique` (TLS 1.2 only).
pub const BINDING_TLS_UNIQUE: &str = "tls-unique";

/// Length of a challenge, a channel id and a public key or seed, in bytes.
pub const LEN: usize = 32;
/// Length of a signature as sent in AUTHENTICATE, in bytes (signature 64 + message 32).
pub const SIGNED_LEN: usize = 96;

/// Why a key, a challenge or a signature could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptosignError {
    /// Not hex, or not the length the field has.
    #[error("{what} must be {len} bytes as hex ({} characters)", len * 2)]
    BadHex {
        /// What was read (`pubkey`, `challenge`, ...).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// Not an Ed25519 public key (a point that is not on the curve).
    #[error("pubkey is not an Ed25519 public key")]
    BadPublicKey,
    /// A key file that is none of the formats read.
    #[error("not a key file: expected a 'private-key-ed25519: HEX' line (Crossbar.io's key.priv), 64 hex characters or 32 raw bytes")]
    BadKeyFile,
    /// A key file whose `public-key-ed25519` is not the public key of its private key.
    #[error("the key file's public-key-ed25519 does not match its private-key-ed25519")]
    KeyMismatch,
}

/// Decodes `text` as hex of exactly `N` bytes (either case, surrounding
/// whitespace ignored).
pub fn decode_hex<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], CryptosignError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|_| CryptosignError::BadHex { what, len: N })?;
    Ok(out)
}

/// Lower-case hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The public key written as `HELLO.Details.authextra.pubkey` carries it.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, CryptosignError> {
    let bytes: [u8; LEN] = decode_hex(text, "pubkey")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| CryptosignError::BadPublicKey)
}

/// `challenge XOR channel_id`, or the challenge itself without a binding:
/// the 32 bytes a signature covers.
pub fn message(challenge: &[u8; LEN], channel_id: Option<&[u8; LEN]>) -> [u8; LEN] {
    let mut m = *challenge;
    if let Some(id) = channel_id {
        for (b, k) in m.iter_mut().zip(id) {
            *b ^= k;
        }
    }
    m
}

/// Signs `challenge` (XORed with `channel_id` when bound) and returns what
/// AUTHENTICATE carries: hex of the signature (64 bytes) followed by the
/// message signed (32 bytes).
pub fn sign(key: &SigningKey, challenge: &[u8; LEN], channel_id: Option<&[u8; LEN]>) -> String {
    let m = message(challenge, channel_id);
    let sig = key.sign(&m);
    let mut out = [0u8; SIGNED_LEN];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64..].copy_from_slice(&m);
    encode_hex(&out)
}

/// Whether `signed` (as [`sign`] returns it) is `key`'s strict Ed25519
/// signature (RFC 8032, no small-order or non-canonical points) over exactly
/// `challenge` XOR `channel_id`. A signature of any other length, or not hex,
/// is false. The comparison of the signed message is constant-time.
pub fn verify(
    key: &VerifyingKey,
    challenge: &[u8; LEN],
    channel_id: Option<&[u8; LEN]>,
    signed: &str,
) -> bool {
    let Ok(bytes) = decode_hex::<SIGNED_LEN>(signed, "signature") else {
        return false;
    };
    let expected = message(challenge, channel_id);
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&bytes[..64]);
    let sig = Signature::from_bytes(&sig);
    let same = subtle::ConstantTimeEq::ct_eq(&bytes[64..], &expected[..]);
    // The signature is checked over the expected message: a signature over
    // anything else fails, whatever the last 32 bytes say.
    let good = key.verify_strict(&expected, &sig).is_ok();
    bool::from(same) & good
}

/// The 32-byte channel id of a binding type, from what the TLS connection
/// gave: for `tls-exporter` the exported bytes, for `tls-unique`
/// SHA-256 of the Finished message (see the module docs).
pub fn channel_id(
    binding: &str,
    exporter: Option<&[u8; LEN]>,
    unique: Option<&[u8]>,
) -> Option<[u8; LEN]> {
    match binding {
        BINDING_TLS_EXPORTER => exporter.copied(),
        BINDING_TLS_UNIQUE => unique.map(|u| Sha256::digest(u).into()),
        _ => None,
    }
}

/// An Ed25519 private key read from a key file: the signing key, whose
/// `Debug` shows only the public key (ed25519-dalek zeroes it when dropped).
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl PrivateKey {
    /// The key of a 32-byte seed.
    pub fn from_seed(seed: &[u8; LEN]) -> PrivateKey {
        PrivateKey(SigningKey::from_bytes(seed))
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The public key as hex, as `authextra.pubkey` and `authorized_keys` write it.
    pub fn public_hex(&self) -> String {
        encode_hex(self.0.verifying_key().as_bytes())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

/// Reads a private key file's bytes (formats in the module docs).
pub fn parse_private_key(bytes: &[u8]) -> Result<PrivateKey, CryptosignError> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let trimmed = text.trim();
        if trimmed.len() == 2 * LEN && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(PrivateKey::from_seed(&decode_hex(trimmed, "private key")?));
        }
        let mut private = None;
        let mut public = None;
        for line in text.lines() {
            let Some((tag, value)) = line.split_once(':') else {
                continue;
            };
            match tag.trim().to_ascii_lowercase().as_str() {
                "private-key-ed25519" => private = Some(value.trim()),
                "public-key-ed25519" => public = Some(value.trim()),
                _ => {}
            }
        }
        if let Some(private) = private {
            let key = PrivateKey::from_seed(&decode_hex(private, "private-key-ed25519")?);
            if let Some(public) = public {
                let given: [u8; LEN] = decode_hex(public, "public-key-ed25519")?;
                if given != *key.public_key().as_bytes() {
                    return Err(CryptosignError::KeyMismatch);
                }
            }
            return Ok(key);
        }
    }
    if let Ok(seed) = <[u8; LEN]>::try_from(bytes) {
        return Ok(PrivateKey::from_seed(&seed));
    }
    Err(CryptosignError::BadKeyFile)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's test vectors: (channel_id, private_key, challenge, signature).
    const VECTORS: [(Option<&str>, &str, &str, &str); 6] = [
        (None, "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
         "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        (None, "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
         "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
         "d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d"),
        (None, "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
         "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
         "7beb282184baadd08f166f16dd683b39cab53816ed81e6955def951cb2ddad1ec184e206746fd82bda075af03711d3d5658fc84a76196b0fa8d1ebc92ef9f30bb05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2"),
        (Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
         "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
         "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "9b6f41540c9b95b4b7b281c3042fa9c54cef43c842d62ea3fd6030fcb66e70b3e80d49d44c29d1635da9348d02ec93f3ed1ef227dfb59a07b580095c2b82f80f9d16ca518aa0c2b707f2b2a609edeca73bca8dd59817a633f35574ac6fd80d00"),
        (Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
         "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
         "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
         "305aaa3ac25e98f651427688b3fc43fe7d8a68a7ec1d7d61c61517c519bd4a427c3015599d83ca28b4c652333920223844ef0725eb5dc2febfd6af7677b73f01d0852a29b460fc92ec943242ac638a053bbacc200512b18b30d15083cbdc9282"),
        (Some("62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff"),
         "6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b",
         "b05e6b8ad4d69abf74aa3be3c0ee40ae07d66e1895b9ab09285a2f1192d562d2",
         "ee3c7644fd8070532bc1fde3d70d742267da545d8c8f03e63bda63f1ad4214f4d2c4bfdb4eb9526def42deeb7e31602a6ff99eba893e0a4ad4d45892ca75e608d2b75e24a189a7f78ca776ba36fc53f6c3e31c32f251f2c524f0a44202f2902d"),
    ];

    #[test]
    fn spec_test_vectors_sign_and_verify() {
        for (channel, private, challenge, expected) in VECTORS {
            let key = parse_private_key(private.as_bytes()).unwrap();
            let challenge: [u8; 32] = decode_hex(challenge, "challenge").unwrap();
            let channel: Option<[u8; 32]> = channel.map(|c| decode_hex(c, "channel").unwrap());
            let signed = sign(key.signing_key(), &challenge, channel.as_ref());
            assert_eq!(signed, expected, "{private} {channel:?}");
            assert!(verify(
                &key.public_key(),
                &challenge,
                channel.as_ref(),
                expected
            ));
            // Upper-case hex verifies too; the unbound signature does not verify a bound challenge.
            assert!(verify(
                &key.public_key(),
                &challenge,
                channel.as_ref(),
                &expected.to_uppercase()
            ));
            let other = if channel.is_some() {
                None
            } else {
                Some([0x62; 32])
            };
            assert!(!verify(
                &key.public_key(),
                &challenge,
                other.as_ref(),
                expected
            ));
        }
    }

    #[test]
    fn verify_refuses_tampering_and_bad_lengths() {
        let (_, private, challenge, good) = VECTORS[0];
        let key = parse_private_key(private.as_bytes()).unwrap();
        let challenge: [u8; 32] = decode_hex(challenge, "c").unwrap();
        let pk = key.public_key();
        assert!(verify(&pk, &challenge, None, good));
        // A flipped bit in the signature, or in the message part.
        for at in [0, 100, 190] {
            let mut b = good.as_bytes().to_vec();
            b[at] = if b[at] == b'0' { b'1' } else { b'0' };
            assert!(!verify(
                &pk,
                &challenge,
                None,
                std::str::from_utf8(&b).unwrap()
            ));
        }
        // Wrong lengths: only the signature, one byte short or long, empty, not hex.
        for bad in [
            &good[..128],
            &good[..190],
            &format!("{good}00"),
            "",
            &"zz".repeat(96),
        ] {
            assert!(!verify(&pk, &challenge, None, bad), "{}", bad.len());
        }
        // Another key.
        let other = PrivateKey::from_seed(&[7; 32]);
        assert!(!verify(&other.public_key(), &challenge, None, good));
    }

    #[test]
    fn channel_ids() {
        let exporter = [5u8; 32];
        assert_eq!(
            channel_id(BINDING_TLS_EXPORTER, Some(&exporter), None),
            Some(exporter)
        );
        assert_eq!(
            channel_id(BINDING_TLS_EXPORTER, None, Some(b"finished")),
            None
        );
        let unique = channel_id(BINDING_TLS_UNIQUE, None, Some(&[1u8; 12])).unwrap();
        assert_eq!(unique, <[u8; 32]>::from(Sha256::digest([1u8; 12])));
        assert_eq!(channel_id(BINDING_TLS_UNIQUE, Some(&exporter), None), None);
        assert_eq!(
            channel_id("tls-server-end-point", Some(&exporter), Some(b"x")),
            None
        );
    }

    #[test]
    fn key_files() {
        let seed = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
        let raw = parse_private_key(format!("{seed}\n").as_bytes()).unwrap();
        let public = raw.public_hex();
        // Crossbar.io's node key file.
        let node = format!(
            "Crossbar.io node private key - KEEP THIS SAFE!\n\ncreator: me@host\ncreated-at: 2026-01-01T00:00:00.000Z\nmachine-id: abc\npublic-key-ed25519: {public}\nprivate-key-ed25519: {seed}\n"
        );
        assert_eq!(
            parse_private_key(node.as_bytes()).unwrap().public_hex(),
            public
        );
        // Without the public key line, and with upper-case tags.
        let node = format!("PRIVATE-KEY-ED25519: {}\n", seed.to_uppercase());
        assert_eq!(
            parse_private_key(node.as_bytes()).unwrap().public_hex(),
            public
        );
        // 32 raw bytes.
        let bytes: [u8; 32] = decode_hex(seed, "s").unwrap();
        assert_eq!(parse_private_key(&bytes).unwrap().public_hex(), public);
        // A public key that is not the private key's.
        let wrong = format!(
            "public-key-ed25519: {}\nprivate-key-ed25519: {seed}\n",
            "00".repeat(32)
        );
        assert_eq!(
            parse_private_key(wrong.as_bytes()).unwrap_err(),
            CryptosignError::KeyMismatch
        );
        for bad in ["", "hello", &seed[..62], "private-key-ed25519: 1234"] {
            assert!(parse_private_key(bad.as_bytes()).is_err(), "{bad}");
        }
        // The Debug output names the public key only.
        let dbg = format!("{raw:?}");
        assert!(dbg.contains(&public) && !dbg.contains(seed), "{dbg}");
    }

    #[test]
    fn public_keys() {
        let key = PrivateKey::from_seed(&[3; 32]);
        assert_eq!(
            parse_public_key(&key.public_hex()).unwrap(),
            key.public_key()
        );
        assert!(parse_public_key("abcd").is_err());
        assert!(parse_public_key(&"g".repeat(64)).is_err());
    }
}
