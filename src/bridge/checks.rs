//! The checks a bridge request passes before it is served, as Crossbar.io
//! makes them (crossbar/bridge/rest/common.py): content type and charset,
//! GitHub's webhook signature, signed requests (`key`, `timestamp`, `seq`,
//! `nonce`, `signature`: HMAC-SHA256 over key, timestamp, seq, nonce and
//! body), the client address (`require_ip`) and TLS (`require_tls`), UTF-8.
//! Each refusal is a status and a message for the bridge's error body.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::figures::Reason;
use crate::config::web::{in_network, parse_network, BridgeOptions};
use crate::transport::web::HttpRequest;

/// A refused request: the status and the `error` text.
pub(crate) type Refusal = (u16, String, Reason);

fn refuse(reason: Reason, status: u16, why: impl Into<String>) -> Refusal {
    (status, why.into(), reason)
}

/// A bridge path's options, parsed once.
pub(crate) struct Checks {
    key: Option<String>,
    secret: Option<Vec<u8>>,
    timestamp_delta_limit: u64,
    require_ip: Option<Vec<(std::net::IpAddr, u8)>>,
    require_tls: bool,
    github_secret: Option<Vec<u8>>,
}

impl Checks {
    pub fn new(o: &BridgeOptions) -> Checks {
        Checks {
            key: o.key.clone(),
            secret: o.secret.as_ref().map(|s| s.as_bytes().to_vec()),
            timestamp_delta_limit: o.timestamp_delta_limit,
            require_ip: o
                .require_ip
                .as_ref()
                .map(|nets| nets.iter().filter_map(|n| parse_network(n)).collect()),
            require_tls: o.require_tls,
            github_secret: o
                .github_secret
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec()),
        }
    }

    /// Every check, in Crossbar.io's order; `json`: the body must be
    /// `application/json` when a content type is given. `now`: Unix seconds.
    pub fn check(&self, req: &HttpRequest, json: bool, now: f64) -> Result<(), Refusal> {
        content_type(req, json)?;
        if let Some(secret) = &self.github_secret {
            if !github_signature_ok(req, secret) {
                return Err(refuse(
                    Reason::BadSignature,
                    400,
                    "invalid or missing X-Hub-Signature",
                ));
            }
        }
        self.signed(req, now)?;
        if let Some(nets) = &self.require_ip {
            let allowed = req
                .peer
                .is_some_and(|p| nets.iter().any(|n| in_network(p.ip(), *n)));
            if !allowed {
                return Err(refuse(
                    Reason::RequireIp,
                    400,
                    "request denied based on IP address",
                ));
            }
        }
        if self.require_tls && !req.secure {
            return Err(refuse(
                Reason::RequireTls,
                400,
                "request denied because not using TLS",
            ));
        }
        if std::str::from_utf8(&req.body).is_err() {
            return Err(refuse(
                Reason::BadJson,
                400,
                "request body is not valid UTF-8",
            ));
        }
        Ok(())
    }

    /// The signed-request parameters: required with a secret, checked when given.
    fn signed(&self, req: &HttpRequest, now: f64) -> Result<(), Refusal> {
        let params = req.query_params();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let need = |k: &str| -> Result<Option<&str>, Refusal> {
            match get(k) {
                Some(v) => Ok(Some(v)),
                None if self.secret.is_some() => Err(refuse(
                    Reason::BadSignature,
                    400,
                    format!("signed request required, but mandatory '{k}' field missing"),
                )),
                None => Ok(None),
            }
        };
        let key = need("key")?;
        let timestamp = need("timestamp")?;
        if let Some(ts) = timestamp {
            let Some(at) = parse_timestamp(ts) else {
                return Err(refuse(Reason::BadSignature,
                    400,
                    format!(
                        "invalid timestamp '{ts}' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')"
                    ),
                ));
            };
            if self.timestamp_delta_limit > 0
                && (at - now).abs() > self.timestamp_delta_limit as f64
            {
                return Err(refuse(
                    Reason::Expired,
                    400,
                    "request expired (delta too large)",
                ));
            }
        }
        let seq = need("seq")?;
        if let Some(s) = seq {
            if s.parse::<i64>().is_err() {
                return Err(refuse(
                    Reason::BadSignature,
                    400,
                    format!("invalid sequence number '{s}' (must be an integer)"),
                ));
            }
        }
        let nonce = need("nonce")?;
        if let Some(n) = nonce {
            if n.parse::<i64>().is_err() {
                return Err(refuse(
                    Reason::BadSignature,
                    400,
                    format!("invalid nonce '{n}' (must be an integer)"),
                ));
            }
        }
        let signature = need("signature")?;
        let Some(secret) = &self.secret else {
            return Ok(());
        };
        let (Some(key), Some(ts), Some(seq), Some(nonce), Some(sig)) =
            (key, timestamp, seq, nonce, signature)
        else {
            return Err(refuse(Reason::BadSignature, 400, "signed request required"));
        };
        if Some(key) != self.key.as_deref() {
            return Err(refuse(
                Reason::BadSignature,
                401,
                format!("unknown key '{key}' in signed request"),
            ));
        }
        let expected = sign(secret, key, ts, seq, nonce, &req.body);
        if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
            return Err(refuse(
                Reason::BadSignature,
                401,
                "invalid request signature",
            ));
        }
        Ok(())
    }
}

/// A signed request's signature: base64url(HMAC-SHA256(secret, key | timestamp | seq | nonce | body)).
pub fn sign(
    secret: &[u8],
    key: &str,
    timestamp: &str,
    seq: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    for part in [
        key.as_bytes(),
        timestamp.as_bytes(),
        seq.as_bytes(),
        nonce.as_bytes(),
        body,
    ] {
        m.update(part);
    }
    base64::engine::general_purpose::URL_SAFE.encode(m.finalize().into_bytes())
}

/// The content type, when given, must be `application/json` (for JSON
/// bodies) and its charset UTF-8.
fn content_type(req: &HttpRequest, json: bool) -> Result<(), Refusal> {
    let Some(ct) = req.header("content-type") else {
        return Ok(());
    };
    let parts: Vec<String> = ct
        .split(';')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    if json && parts.first().is_some_and(|p| p != "application/json") {
        return Err(refuse(
            Reason::ContentType,
            400,
            format!(
                "bad or missing content type, should be 'application/json', was '{}'",
                parts[0]
            ),
        ));
    }
    for p in parts.iter().skip(1) {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim() == "charset" && !matches!(v.trim().trim_matches('"'), "utf-8" | "utf8") {
                return Err(refuse(
                    Reason::ContentType,
                    400,
                    "mandatory charset encoding is UTF-8",
                ));
            }
        }
    }
    Ok(())
}

/// GitHub's `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`.
fn github_signature_ok(req: &HttpRequest, secret: &[u8]) -> bool {
    let Some(given) = req.header("x-hub-signature") else {
        return false;
    };
    let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    m.update(&req.body);
    let ours = format!("sha1={}", hex::encode(m.finalize().into_bytes()));
    bool::from(
        ours.as_bytes()
            .ct_eq(given.trim().to_ascii_lowercase().as_bytes()),
    )
}

/// `2011-10-14T16:59:51.123Z` (fraction optional) as Unix seconds.
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((h, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            (h, format!("0.{f}").parse::<f64>().ok()?)
        }
        Some(_) => return None,
        None => (time, 0.0),
    };
    let mut t = hms.split(':');
    let (h, mi, se): (u32, u32, u32) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if t.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(mo) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(da) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + i64::from(h * 3600 + mi * 60 + se)) as f64 + frac)
}

/// `2011-10-14T16:59:51.123Z` for Unix seconds `t` (for tests and clients).
pub fn format_timestamp(t: f64) -> String {
    let total_ms = (t * 1000.0).round() as i64;
    let (secs, ms) = (total_ms.div_euclid(1000), total_ms.rem_euclid(1000));
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_and_format() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_timestamp("2011-10-14T16:59:51.123Z").map(|t| (t * 1000.0).round() as i64),
            Some(1_318_611_591_123)
        );
        assert_eq!(
            format_timestamp(1_318_611_591.123),
            "2011-10-14T16:59:51.123Z"
        );
        assert_eq!(parse_timestamp("2011-10-14 16:59:51Z"), None);
        assert_eq!(parse_timestamp("2011-13-14T16:59:51Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        let t = 1_765_000_000.5;
        assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t));
    }

    #[test]
    fn signatures_are_base64url_hmac_sha256() {
        // Computed with Python: base64.urlsafe_b64encode(hmac.new(b"secret",
        // b"key" b"2011-10-14T16:59:51.123Z" b"1" b"7" b"{}", hashlib.sha256).digest())
        let s = sign(
            b"secret",
            "key",
            "2011-10-14T16:59:51.123Z",
            "1",
            "7",
            b"{}",
        );
        assert_eq!(s, "2icbC1NKny0mtU8JawUn0NVtGXlDI2x5yF-3pE9jpys=");
        assert_ne!(
            s,
            sign(
                b"secret",
                "key",
                "2011-10-14T16:59:51.123Z",
                "1",
                "8",
                b"{}"
            )
        );
    }
}
