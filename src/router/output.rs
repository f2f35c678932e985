//! What the core sends: frames to local connections (encoded once, counted),
//! messages to peer shards (and to itself, queued), timers, and the
//! ERROR / ABORT / GOODBYE answers every handler uses.

use bytes::Bytes;

use super::authz;
use super::peer::{CallFailure, PeerMsg};
use super::realm::Realm;
use super::{iso8601, ConnState};
use super::{ConnId, Output, RouterCore, ShardId, TimerKind};
use crate::dict;
use crate::wamp::message::{Id, Message, MessageType};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

impl RouterCore {
    pub(crate) fn now_iso(&self) -> String {
        iso8601(self.now_ms)
    }

    /// Encodes `msg` for a local connection and queues it. A payload that
    /// cannot be transcoded for the receiver is counted and logged (rate-limited);
    /// callers that must answer for it use [`RouterCore::try_send`].
    pub(crate) fn send(&mut self, conn: ConnId, msg: &Message) {
        if let Err(e) = self.try_send(conn, msg) {
            let what = msg.message_type().name();
            self.transcode_failed(1, format_args!("{what} for conn {conn}: {e}"));
        }
    }

    /// Counts `n` messages not sent because their payload could not be
    /// transcoded, and logs at most one line per [`super::stats::LogLimiter::INTERVAL_MS`].
    pub(crate) fn transcode_failed(&mut self, n: u64, what: std::fmt::Arguments<'_>) {
        self.stats.transcode_failures += n;
        if let Some(suppressed) = self.transcode_log.allow(self.now_ms) {
            log::warn!(
                "shard {}: not sent, payload cannot be transcoded: {what} ({suppressed} more since the last such line)",
                self.shard
            );
        }
    }

    /// Encodes `msg` for a local connection and queues it; `Err` when its
    /// payload cannot be transcoded for the receiver (nothing is sent or counted).
    pub(crate) fn try_send(
        &mut self,
        conn: ConnId,
        msg: &Message,
    ) -> Result<(), crate::codec::EncodeError> {
        let Some(c) = self.conns.get(&conn) else {
            return Ok(());
        };
        let serializer = c.serializer;
        let realm = match &c.state {
            ConnState::Joined(s) => Some(s.realm),
            _ => None,
        };
        let frame = serializer.encode(msg)?;
        let ty = msg.message_type();
        self.stats.sent[ty.index()] += 1;
        self.stats.bytes_sent += frame.len() as u64;
        if let Some(rs) = realm.and_then(|r| self.realm_stats.get_mut(r as usize)) {
            rs.sent[ty.index()] += 1;
        }
        self.out.push(Output::Send {
            conn,
            frame: Bytes::from(frame),
            ty,
        });
        Ok(())
    }

    /// Sends a message to a shard; to this shard, it is handled after the current input.
    pub(crate) fn send_peer(&mut self, to: ShardId, msg: PeerMsg) {
        if to == self.shard {
            self.self_queue.push_back(msg);
        } else {
            self.stats.peer_sent += 1;
            self.out.push(Output::Peer {
                to,
                msg: Box::new(msg),
            });
        }
    }

    /// Sends a message to every shard (this one included).
    pub(crate) fn broadcast(&mut self, mut make: impl FnMut() -> PeerMsg) {
        for to in 0..self.shards {
            let msg = make();
            self.send_peer(to, msg);
        }
    }

    /// Handles the messages this shard sent itself.
    pub(crate) fn flush_self(&mut self) {
        while let Some(msg) = self.self_queue.pop_front() {
            self.on_peer(self.shard, msg);
        }
    }

    pub(crate) fn set_timer(&mut self, at_ms: u64, kind: TimerKind) -> (u64, u64) {
        let key = (at_ms, self.next_timer);
        self.next_timer += 1;
        self.timers.insert(key, kind);
        key
    }

    pub(crate) fn cancel_timer(&mut self, key: (u64, u64)) {
        self.timers.remove(&key);
    }

    /// ABORT with `wamp.error.protocol_violation` (before or after joining, as the spec says) and close.
    pub(crate) fn protocol_violation(&mut self, conn: ConnId, message: &str) {
        self.stats.protocol_violations += 1;
        log::info!(
            "shard {}: conn {conn}: protocol violation: {message}",
            self.shard
        );
        self.abort(conn, uris::ERROR_PROTOCOL_VIOLATION, message);
    }

    /// Sends ABORT and closes the connection.
    pub(crate) fn abort(&mut self, conn: ConnId, reason: &str, message: &str) {
        let msg = Message::Abort {
            details: dict! { "message" => message },
            reason: reason.into(),
        };
        self.send(conn, &msg);
        self.leave(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Closing;
        }
        self.out.push(Output::Close { conn });
    }

    /// Router-initiated close: a joined session is sent GOODBYE and its
    /// connection closes once the client's GOODBYE arrives, or after
    /// [`super::GOODBYE_REPLY_WAIT_MS`] (the spec: GOODBYE is answered);
    /// any other connection closes now.
    pub(crate) fn goodbye_and_close(
        &mut self,
        conn: ConnId,
        reason: &str,
        message: Option<String>,
    ) {
        let joined = matches!(
            self.conns.get(&conn).map(|c| &c.state),
            Some(ConnState::Joined(_))
        );
        if joined {
            let details = match message {
                Some(m) => dict! { "message" => m },
                None => Dict::new(),
            };
            self.send(
                conn,
                &Message::Goodbye {
                    details,
                    reason: reason.into(),
                },
            );
            self.leave(conn);
            self.disarm_deadline(conn);
            let at = self.now_ms.saturating_add(super::GOODBYE_REPLY_WAIT_MS);
            let key = self.set_timer(at, super::TimerKind::GoodbyeReply(conn));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::ShuttingDown;
                c.deadline = Some(key);
            }
            return;
        }
        self.drop_conn(conn);
    }

    pub(crate) fn drop_conn(&mut self, conn: ConnId) {
        self.leave(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Closing;
        }
        self.out.push(Output::Close { conn });
    }

    /// Checks a URI against the realm's URI rules and the session's role:
    /// `Some((error URI, message))` when the action must be refused.
    pub(crate) fn refusal(
        realm: &Realm,
        role: &str,
        uri: &str,
        policy: crate::wamp::uri::MatchPolicy,
        action: authz::Action,
        granted: Option<&authz::Granted>,
    ) -> Option<(&'static str, String)> {
        if let Err(e) = crate::wamp::uri::validate(uri, realm.config.options.uri_check, policy) {
            return Some((uris::ERROR_INVALID_URI, format!("invalid URI '{uri}': {e}")));
        }
        if matches!(action, authz::Action::Publish | authz::Action::Register)
            && crate::wamp::uri::is_reserved(uri)
        {
            return Some((
                uris::ERROR_INVALID_URI,
                format!("'{uri}' is reserved for the router"),
            ));
        }
        authz::decide(&realm.roles, role, uri, action, granted).err()
    }

    /// Sends ERROR for a request.
    pub(crate) fn error(
        &mut self,
        conn: ConnId,
        request_type: MessageType,
        request: Id,
        error: &str,
        message: Option<&str>,
    ) {
        let payload = match message {
            Some(m) => crate::wamp::message::Payload::args(vec![Value::from(m)]),
            None => crate::wamp::message::Payload::Empty,
        };
        self.send(
            conn,
            &Message::Error {
                request_type,
                request,
                details: Dict::new(),
                error: error.into(),
                payload,
            },
        );
    }

    /// Sends ERROR built from a call failure.
    pub(crate) fn error_from(
        &mut self,
        conn: ConnId,
        request_type: MessageType,
        request: Id,
        f: CallFailure,
    ) {
        self.send(
            conn,
            &Message::Error {
                request_type,
                request,
                details: f.details,
                error: f.error,
                payload: f.payload,
            },
        );
    }
}
