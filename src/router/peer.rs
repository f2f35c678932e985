//! What shards say to each other: the messages of the mesh.
//!
//! Every message is `Send` (it crosses threads in the runtime) and cheap to
//! move: payloads are `Bytes` slices of the frame they arrived in, and a
//! publication sent to several shards is shared behind an `Arc`.

use std::sync::Arc;

use super::options::InvokePolicy;
use super::{CallId, ConnId, RealmId, RegId, SessionId, SessionInfo, ShardId, SubId};
use crate::wamp::message::{Id, Payload};
use crate::wamp::uri::MatchPolicy;
use crate::wamp::value::{Dict, Value};

/// A callee somewhere in the router: its shard and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CalleeRef {
    /// The shard the callee's session lives on.
    pub shard: ShardId,
    /// The callee's session.
    pub session: SessionId,
}

/// One publication, shared by every shard it is delivered on.
#[derive(Debug)]
pub struct Publication {
    /// The realm.
    pub realm: RealmId,
    /// The publication id (global scope).
    pub id: Id,
    /// The topic published to.
    pub topic: String,
    /// The publisher; `None` for events the router itself publishes (meta events).
    pub publisher: Option<Arc<SessionInfo>>,
    /// Whether the publisher is disclosed to subscribers.
    pub disclose: bool,
    /// Exclude the publisher from receivers (`exclude_me`, default true).
    pub exclude_me: bool,
    /// Receiver black- and white-lists, when given.
    pub filters: Option<Box<Filters>>,
    /// Whether this is a retained event being replayed to a new subscriber.
    pub retained: bool,
    /// The links that relayed it (PUBLISH `forward_for`, from a link's session).
    pub forward_for: Option<Vec<Value>>,
    /// Arguments and keyword arguments, as received.
    pub payload: Payload,
}

/// PUBLISH.Options exclude/eligible lists (by session id, authid, authrole).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Filters {
    /// `exclude`: session ids that must not receive the event.
    pub exclude: Vec<SessionId>,
    /// `exclude_authid`.
    pub exclude_authid: Vec<String>,
    /// `exclude_authrole`.
    pub exclude_authrole: Vec<String>,
    /// `eligible`: when present, only these sessions may receive it.
    pub eligible: Option<Vec<SessionId>>,
    /// `eligible_authid`.
    pub eligible_authid: Option<Vec<String>>,
    /// `eligible_authrole`.
    pub eligible_authrole: Option<Vec<String>>,
}

impl Filters {
    /// Whether a session with this identity may receive the event.
    pub fn admits(&self, session: SessionId, authid: &str, authrole: &str) -> bool {
        if self.exclude.contains(&session)
            || self.exclude_authid.iter().any(|a| a == authid)
            || self.exclude_authrole.iter().any(|a| a == authrole)
        {
            return false;
        }
        if let Some(e) = &self.eligible {
            if !e.contains(&session) {
                return false;
            }
        }
        if let Some(e) = &self.eligible_authid {
            if !e.iter().any(|a| a == authid) {
                return false;
            }
        }
        if let Some(e) = &self.eligible_authrole {
            if !e.iter().any(|a| a == authrole) {
                return false;
            }
        }
        true
    }
}

/// A change to the routing replica every shard keeps, made by the home shard.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaOp {
    /// `shard` now has subscribers of `sub`.
    SubAddShard {
        /// The subscription.
        sub: SubId,
        /// Its topic pattern.
        uri: String,
        /// Its match policy.
        policy: MatchPolicy,
        /// The shard.
        shard: ShardId,
    },
    /// `shard` no longer has subscribers of `sub`.
    SubRemoveShard {
        /// The subscription.
        sub: SubId,
        /// The shard.
        shard: ShardId,
    },
    /// A callee joined a registration.
    RegAddCallee {
        /// The registration.
        reg: RegId,
        /// Its procedure pattern.
        uri: String,
        /// Its match policy.
        policy: MatchPolicy,
        /// Its invocation policy.
        invoke: InvokePolicy,
        /// The callee.
        callee: CalleeRef,
    },
    /// A callee left a registration.
    RegRemoveCallee {
        /// The registration.
        reg: RegId,
        /// The callee.
        callee: CalleeRef,
    },
}

/// The home shard's answer to a SUBSCRIBE.
#[derive(Debug, Clone)]
pub struct SubscribeDone {
    /// The subscriber's shard.
    pub shard: ShardId,
    /// Its connection there.
    pub conn: ConnId,
    /// The subscriber.
    pub session: SessionId,
    /// The SUBSCRIBE request id.
    pub request: Id,
    /// The subscription, or the error URI.
    pub result: Result<SubId, &'static str>,
    /// The subscription's pattern (for the local table).
    pub uri: String,
    /// Its match policy.
    pub policy: MatchPolicy,
    /// The retained events to replay, when asked for and present.
    pub retained: Vec<Arc<Publication>>,
}

/// The home shard's answer to a REGISTER.
#[derive(Debug, Clone)]
pub struct RegisterDone {
    /// The callee's shard.
    pub shard: ShardId,
    /// Its connection there.
    pub conn: ConnId,
    /// The callee.
    pub session: SessionId,
    /// The REGISTER request id.
    pub request: Id,
    /// The registration, or the error URI.
    pub result: Result<RegId, &'static str>,
    /// The procedure pattern.
    pub uri: String,
    /// Its match policy.
    pub policy: MatchPolicy,
}

/// Why a call failed: an error URI with optional details and payload.
#[derive(Debug, Clone)]
pub struct CallFailure {
    /// The error URI.
    pub error: String,
    /// ERROR.Details.
    pub details: Dict,
    /// ERROR arguments.
    pub payload: Payload,
}

impl CallFailure {
    /// A failure with just an error URI.
    pub fn uri(error: &str) -> CallFailure {
        CallFailure {
            error: error.into(),
            details: Dict::new(),
            payload: Payload::Empty,
        }
    }

    /// A failure with an error URI and a message argument.
    pub fn message(error: &str, message: impl Into<String>) -> CallFailure {
        CallFailure {
            error: error.into(),
            details: Dict::new(),
            payload: Payload::args(vec![crate::wamp::value::Value::Str(message.into())]),
        }
    }
}

/// An invocation sent from the caller's shard to the callee's shard.
#[derive(Debug)]
pub struct Invoke {
    /// The realm.
    pub realm: RealmId,
    /// The call, as the caller's shard knows it.
    pub call: CallId,
    /// The caller's shard.
    pub caller_shard: ShardId,
    /// The caller, when disclosed.
    pub caller: Option<Arc<SessionInfo>>,
    /// The links that relayed the call (CALL `forward_for`, from a link's session).
    pub forward_for: Option<Vec<Value>>,
    /// The registration.
    pub registration: RegId,
    /// The chosen callee.
    pub callee: SessionId,
    /// The procedure called, for pattern registrations.
    pub procedure: Option<String>,
    /// The caller asked for progressive results.
    pub receive_progress: bool,
    /// This invocation is progressive (more CALL messages follow).
    pub progress: bool,
    /// The call timeout in ms, forwarded for information.
    pub timeout: u64,
    /// Arguments, as received.
    pub payload: Payload,
}

/// Who waits for the home shard to store an acknowledged publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreAck {
    /// The publisher's connection.
    pub conn: ConnId,
    /// The publisher's session.
    pub session: SessionId,
    /// The PUBLISH request id.
    pub request: Id,
}

/// Messages between shards.
#[derive(Debug)]
pub enum PeerMsg {
    /// To the home shard: a session wants to join.
    Join {
        /// The realm.
        realm: RealmId,
        /// The session's connection on its shard.
        conn: ConnId,
        /// The session.
        info: Arc<SessionInfo>,
    },
    /// From the home shard: the join is accepted (`Ok`) or refused (error URI and message).
    JoinDone {
        /// The realm.
        realm: RealmId,
        /// The session's connection.
        conn: ConnId,
        /// The session id.
        session: SessionId,
        /// Accepted, or why not.
        result: Result<(), (&'static str, String)>,
    },
    /// To the home shard: a session left (its local state is already gone).
    Leave {
        /// The realm.
        realm: RealmId,
        /// The session.
        session: SessionId,
    },
    /// To the home shard: SUBSCRIBE.
    Subscribe {
        /// The realm.
        realm: RealmId,
        /// The subscriber's connection.
        conn: ConnId,
        /// The subscriber.
        session: SessionId,
        /// The SUBSCRIBE request id.
        request: Id,
        /// Topic pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// Replay the retained event.
        get_retained: bool,
    },
    /// From the home shard: SUBSCRIBE is done (or refused).
    Subscribed(SubscribeDone),
    /// To the home shard: UNSUBSCRIBE (the local subscriber is already removed).
    Unsubscribe {
        /// The realm.
        realm: RealmId,
        /// The subscriber.
        session: SessionId,
        /// The subscription.
        sub: SubId,
    },
    /// A publication to deliver to this shard's subscribers of `subs`.
    Publish {
        /// The publication.
        publication: Arc<Publication>,
        /// The subscriptions it matched that have subscribers on the receiving shard.
        subs: Vec<SubId>,
    },
    /// To the home shard: keep this publication as retained and/or in history.
    Store {
        /// The publication.
        publication: Arc<Publication>,
        /// Keep it as the topic's retained event.
        retain: bool,
        /// An acknowledged publication: PUBLISHED waits for the store, so
        /// that a subscriber the publisher tells of it finds it retained.
        ack: Option<StoreAck>,
    },
    /// From the home shard: a publication is stored; send PUBLISHED.
    Stored {
        /// The publisher's connection, session, and PUBLISH request id.
        ack: StoreAck,
        /// The publication's id.
        publication: Id,
    },
    /// To the home shard: REGISTER.
    Register {
        /// The realm.
        realm: RealmId,
        /// The callee's connection.
        conn: ConnId,
        /// The callee.
        session: SessionId,
        /// The REGISTER request id.
        request: Id,
        /// Procedure pattern.
        uri: String,
        /// Match policy.
        policy: MatchPolicy,
        /// Invocation policy.
        invoke: InvokePolicy,
    },
    /// From the home shard: REGISTER is done (or refused).
    Registered(RegisterDone),
    /// To the home shard: UNREGISTER (`request` is `None` when the session left).
    Unregister {
        /// The realm.
        realm: RealmId,
        /// The callee's connection.
        conn: ConnId,
        /// The callee.
        session: SessionId,
        /// The registration.
        reg: RegId,
        /// The UNREGISTER request id.
        request: Id,
    },
    /// From the home shard: UNREGISTER is done.
    Unregistered {
        /// The callee's connection.
        conn: ConnId,
        /// The callee (the connection may hold another session by now).
        session: SessionId,
        /// The UNREGISTER request id.
        request: Id,
    },
    /// Caller's shard → callee's shard: invoke.
    Invoke(Box<Invoke>),
    /// Caller's shard → callee's shard: one more progressive CALL for an invocation.
    InvokeMore {
        /// The call.
        call: CallId,
        /// The caller's shard.
        caller_shard: ShardId,
        /// The callee.
        callee: SessionId,
        /// More calls follow.
        progress: bool,
        /// Arguments.
        payload: Payload,
    },
    /// Callee's shard → caller's shard: the callee is gone or refused; pick another.
    Bounce {
        /// The call.
        call: CallId,
        /// The callee that could not take it.
        callee: CalleeRef,
        /// Why, if no other callee can take it.
        failure: CallFailure,
    },
    /// Callee's shard → caller's shard: a (progressive or final) result.
    Yield {
        /// The call.
        call: CallId,
        /// More results follow.
        progress: bool,
        /// Arguments.
        payload: Payload,
    },
    /// Callee's shard → caller's shard: the call failed.
    CallError {
        /// The call.
        call: CallId,
        /// Why.
        failure: CallFailure,
    },
    /// Caller's shard → callee's shard: cancel (`skip`, `kill` or `killnowait`).
    Cancel {
        /// The call.
        call: CallId,
        /// The caller's shard.
        caller_shard: ShardId,
        /// The callee.
        callee: SessionId,
        /// The cancel mode.
        mode: CancelMode,
    },
    /// Callee's shard → caller's shard: the callee does not support canceling; answer the caller now.
    CancelSkipped {
        /// The call.
        call: CallId,
    },
    /// A replica update, from the home shard.
    Replica {
        /// The realm.
        realm: RealmId,
        /// The update's sequence number.
        seq: u64,
        /// The change.
        op: ReplicaOp,
    },
    /// To the home shard: a replica update is applied.
    ReplicaAck {
        /// The realm.
        realm: RealmId,
        /// The update's sequence number.
        seq: u64,
    },
    /// To the home shard: a meta API call.
    MetaCall {
        /// The realm.
        realm: RealmId,
        /// The call, as the caller's shard knows it.
        call: CallId,
        /// The caller's shard.
        caller_shard: ShardId,
        /// The caller.
        caller: SessionId,
        /// The procedure.
        procedure: String,
        /// The arguments, decoded.
        args: Vec<crate::wamp::value::Value>,
        /// The keyword arguments, decoded.
        kwargs: Dict,
    },
    /// From the home shard: a meta API result.
    MetaResult {
        /// The call.
        call: CallId,
        /// The result.
        result: Result<Payload, CallFailure>,
    },
    /// To a session's shard: close it.
    Kill {
        /// The realm.
        realm: RealmId,
        /// The session.
        session: SessionId,
        /// GOODBYE reason.
        reason: String,
        /// GOODBYE message.
        message: Option<String>,
    },
}

/// CANCEL.Options.mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// Answer the caller now; no INTERRUPT.
    Skip,
    /// INTERRUPT the callee and answer the caller with the callee's response.
    Kill,
    /// Answer the caller now and INTERRUPT the callee.
    KillNoWait,
}

impl CancelMode {
    /// Parses CANCEL.Options.mode (default `killnowait`, as Crossbar.io).
    pub fn from_option(s: Option<&str>) -> Option<CancelMode> {
        Some(match s {
            None | Some("killnowait") => CancelMode::KillNoWait,
            Some("kill") => CancelMode::Kill,
            Some("skip") => CancelMode::Skip,
            Some(_) => return None,
        })
    }

    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f = Filters {
            exclude: vec![1],
            eligible_authrole: Some(vec!["a".into()]),
            ..Filters::default()
        };
        assert!(!f.admits(1, "x", "a"));
        assert!(f.admits(2, "x", "a"));
        assert!(!f.admits(2, "x", "b"));
        assert!(Filters::default().admits(5, "", ""));
    }

    #[test]
    fn cancel_modes() {
        assert_eq!(CancelMode::from_option(None), Some(CancelMode::KillNoWait));
        assert_eq!(
            CancelMode::from_option(Some("skip")),
            Some(CancelMode::Skip)
        );
        assert_eq!(CancelMode::from_option(Some("x")), None);
    }
}
