//! Counters a shard keeps, shaped so the control plane can add them up over
//! shards into Crossbar.io's realm-stats shape
//! (`{"roles": n, "sessions": n, "messages": {"sent": {TYPE: n}, "received": {TYPE: n}}}`).

use crate::wamp::message::MessageType;
use crate::wamp::value::{Dict, Value};

/// Messages counted by type, indexed by [`MessageType::index`].
pub type ByType = [u64; 24];

/// One shard's counters, over all realms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardStats {
    /// Messages sent, by type.
    pub sent: ByType,
    /// Messages received, by type.
    pub received: ByType,
    /// Bytes of frames sent.
    pub bytes_sent: u64,
    /// Bytes of frames received.
    pub bytes_received: u64,
    /// Sessions joined now.
    pub sessions: u64,
    /// Connections opened since start.
    pub connections_opened: u64,
    /// Frames that did not decode.
    pub decode_errors: u64,
    /// Messages not sent to a receiver because their payload could not be
    /// transcoded into its serializer (one per receiver missed).
    pub transcode_failures: u64,
    /// Protocol violations answered with ABORT.
    pub protocol_violations: u64,
    /// Failed session openings (authentication, unknown realm or role).
    pub auth_failures: u64,
    /// Connections closed at accept: a transport's connection or handshake cap was reached.
    pub connections_refused: u64,
    /// Connections closed for not sending HELLO in time.
    pub hello_timeouts: u64,
    /// Connections closed for not answering a CHALLENGE in time.
    pub auth_timeouts: u64,
    /// HELLOs refused because their address failed to authenticate too often.
    pub auth_lockouts: u64,
    /// Calls made to dynamic authenticators.
    pub authenticator_calls: u64,
    /// Calls made to dynamic authorizers.
    pub authorizer_calls: u64,
    /// Actions decided by a cached authorizer answer.
    pub authorizer_cache_hits: u64,
    /// Actions refused because the authorizer failed (no callee, error, timeout, bad answer).
    pub authorizer_failures: u64,
    /// Messages sent to peer shards.
    pub peer_sent: u64,
    /// Messages received from peer shards (and from itself).
    pub peer_received: u64,
    /// Events not delivered because a subscriber's queue was full.
    pub events_dropped: u64,
    /// Connections failed for breaking the transport protocol (WebSocket
    /// framing or invalid UTF-8, RawSocket framing).
    pub transport_protocol_errors: u64,
    /// Connections failed for sending a message over the transport's size limit.
    pub oversize_messages: u64,
    /// Connections closed because their TLS handshake failed or timed out.
    pub tls_handshake_failures: u64,
    /// Frames waiting in this shard's outgoing queues (sampled by the runtime).
    pub queued_frames: u64,
    /// Times the shard's event loop was late by more than 50 ms (sampled by the runtime).
    pub loop_stalls: u64,
    /// EVENTs sent per second over the last second (sampled by the runtime).
    pub events_per_sec: u64,
    /// CALLs received per second over the last second (sampled by the runtime).
    pub calls_per_sec: u64,
}

/// Lets a repeated log line through at most once per [`LogLimiter::INTERVAL_MS`],
/// counting the ones held back.
#[derive(Debug, Clone, Default)]
pub struct LogLimiter {
    /// When the next line may be written (shard clock, ms); `None` before the first.
    next_ms: Option<u64>,
    /// Lines held back since the last one written.
    suppressed: u64,
}

impl LogLimiter {
    /// The shortest time between two lines.
    pub const INTERVAL_MS: u64 = 10_000;

    /// Whether to write a line now; if so, how many were held back before it.
    pub fn allow(&mut self, now_ms: u64) -> Option<u64> {
        if self.next_ms.is_some_and(|next| now_ms < next) {
            self.suppressed += 1;
            return None;
        }
        self.next_ms = Some(now_ms.saturating_add(Self::INTERVAL_MS));
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// One shard's counters for one realm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RealmStats {
    /// Messages sent, by type.
    pub sent: ByType,
    /// Messages received, by type.
    pub received: ByType,
    /// Sessions of the realm joined on this shard now.
    pub sessions: u64,
}

impl RealmStats {
    /// Adds another shard's counters to these.
    pub fn merge(&mut self, other: &RealmStats) {
        for i in 0..self.sent.len() {
            self.sent[i] += other.sent[i];
            self.received[i] += other.received[i];
        }
        self.sessions += other.sessions;
    }

    /// Crossbar.io's shape, given the realm's role count.
    pub fn to_crossbar(&self, roles: usize) -> Dict {
        let by_type = |counts: &ByType| {
            let mut d = Dict::new();
            for t in MessageType::ALL {
                d.insert(t.name().to_owned(), Value::UInt(counts[t.index()]));
            }
            Value::Dict(d)
        };
        let mut messages = Dict::new();
        messages.insert("sent".into(), by_type(&self.sent));
        messages.insert("received".into(), by_type(&self.received));
        let mut d = Dict::new();
        d.insert("roles".into(), Value::UInt(roles as u64));
        d.insert("sessions".into(), Value::UInt(self.sessions));
        d.insert("messages".into(), Value::Dict(messages));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_lets_one_line_through_per_interval() {
        let mut l = LogLimiter::default();
        assert_eq!(l.allow(5), Some(0));
        assert_eq!(l.allow(6), None);
        assert_eq!(l.allow(5 + LogLimiter::INTERVAL_MS - 1), None);
        assert_eq!(l.allow(5 + LogLimiter::INTERVAL_MS), Some(2));
        assert_eq!(l.allow(5 + LogLimiter::INTERVAL_MS), None);
    }

    #[test]
    fn merge_and_shape() {
        let mut a = RealmStats::default();
        a.sent[MessageType::Event.index()] = 3;
        a.sessions = 1;
        let mut b = RealmStats::default();
        b.sent[MessageType::Event.index()] = 4;
        b.received[MessageType::Publish.index()] = 2;
        b.sessions = 2;
        a.merge(&b);
        let d = a.to_crossbar(2);
        assert_eq!(d.get("sessions"), Some(&Value::UInt(3)));
        assert_eq!(d.get("roles"), Some(&Value::UInt(2)));
        let sent = d
            .get("messages")
            .and_then(Value::as_dict)
            .and_then(|m| m.get("sent"))
            .and_then(Value::as_dict)
            .unwrap();
        assert_eq!(sent.get("EVENT"), Some(&Value::UInt(7)));
        let received = d
            .get("messages")
            .and_then(Value::as_dict)
            .and_then(|m| m.get("received"))
            .and_then(Value::as_dict)
            .unwrap();
        assert_eq!(received.get("PUBLISH"), Some(&Value::UInt(2)));
    }
}
