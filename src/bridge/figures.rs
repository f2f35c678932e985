//! A bridge service's figures on one shard: requests served, WAMP errors
//! answered, and requests refused by reason. The shard hands them to the
//! control plane on request (`ControlMsg::BridgeFigures`), which adds up
//! the shards' figures for `get_web_transport_service` and `/metrics`.

use std::collections::BTreeMap;

/// Why a bridge request was refused (the `reason` label of its counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// An HTTP method other than POST, PUT or OPTIONS (405).
    Method,
    /// A content type other than JSON, or a charset other than UTF-8.
    ContentType,
    /// A body that is not JSON, not a dict, not UTF-8, or lacks a field.
    BadJson,
    /// A signed request's fields missing or malformed, an unknown key, a
    /// wrong signature, or a webhook's wrong GitHub signature.
    BadSignature,
    /// A signed request's timestamp too far from now.
    Expired,
    /// The client's address is not in `require_ip`.
    RequireIp,
    /// Not over TLS on a `require_tls` path.
    RequireTls,
    /// The body is over `post_body_limit` (413).
    BodyTooLarge,
    /// The body's framing is wrong (a bad length, a malformed chunk, the
    /// connection closed early).
    BadBody,
    /// The body did not arrive within the request timeout (408).
    BodyTimeout,
    /// The bridge's role may not publish or call this (`wamp.error.not_authorized`).
    NotAuthorized,
    /// The bridge's session could not join its realm (500).
    Unavailable,
}

impl Reason {
    /// The label: `bad_json`, `bad_signature`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Method => "method",
            Reason::ContentType => "content_type",
            Reason::BadJson => "bad_json",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::RequireIp => "require_ip",
            Reason::RequireTls => "require_tls",
            Reason::BodyTooLarge => "body_too_large",
            Reason::BadBody => "bad_body",
            Reason::BodyTimeout => "body_timeout",
            Reason::NotAuthorized => "not_authorized",
            Reason::Unavailable => "unavailable",
        }
    }

    /// The reason of a refusal made before the bridge saw the request (reading its body), by status.
    pub fn of_body_status(status: u16) -> Reason {
        match status {
            413 => Reason::BodyTooLarge,
            408 => Reason::BodyTimeout,
            _ => Reason::BadBody,
        }
    }
}

/// A bridge service's figures (one shard's, or added up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeFigures {
    /// Requests answered with the service's result (a publication's id, a call's result, a webhook's 202).
    pub served: u64,
    /// Requests answered with a WAMP error (no such procedure, a callee's error, ...), `not_authorized` aside.
    pub wamp_errors: u64,
    /// Requests refused, by reason.
    pub refused: BTreeMap<Reason, u64>,
}

impl BridgeFigures {
    /// Counts a refusal.
    pub fn refuse(&mut self, why: Reason) {
        *self.refused.entry(why).or_default() += 1;
    }

    /// Adds `other`'s figures to these.
    pub fn add(&mut self, other: &BridgeFigures) {
        self.served += other.served;
        self.wamp_errors += other.wamp_errors;
        for (r, n) in &other.refused {
            *self.refused.entry(*r).or_default() += n;
        }
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_add_up() {
        let mut a = BridgeFigures {
            served: 2,
            ..Default::default()
        };
        a.refuse(Reason::BadJson);
        let mut b = BridgeFigures {
            wamp_errors: 1,
            ..Default::default()
        };
        b.refuse(Reason::BadJson);
        b.refuse(Reason::Expired);
        a.add(&b);
        assert_eq!(a.served, 2);
        assert_eq!(a.wamp_errors, 1);
        assert_eq!(a.refused.get(&Reason::BadJson), Some(&2));
        assert_eq!(a.refused_total(), 3);
        assert_eq!(Reason::of_body_status(413).as_str(), "body_too_large");
    }
}
