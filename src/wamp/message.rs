//! Every WAMP v2 message as a typed enum with the spec's codes
//! (`rfc/text/basic/bp_messages.md`), the payload kept as encoded bytes for
//! pass-through, and the table of which role may send which message.

use bytes::Bytes;

use crate::wamp::serializer::Serializer;
use crate::wamp::value::{Dict, Value};

/// A WAMP ID (session, publication, subscription, registration, request): 1..=2^53.
pub type Id = u64;

/// The spec's message type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageType {
    /// `[HELLO, Realm|uri, Details|dict]`
    Hello = 1,
    /// `[WELCOME, Session|id, Details|dict]`
    Welcome = 2,
    /// `[ABORT, Details|dict, Reason|uri]`
    Abort = 3,
    /// `[CHALLENGE, AuthMethod|string, Extra|dict]`
    Challenge = 4,
    /// `[AUTHENTICATE, Signature|string, Extra|dict]`
    Authenticate = 5,
    /// `[GOODBYE, Details|dict, Reason|uri]`
    Goodbye = 6,
    /// `[ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, Arguments|list, ArgumentsKw|dict]`
    Error = 8,
    /// `[PUBLISH, Request|id, Options|dict, Topic|uri, Arguments|list, ArgumentsKw|dict]`
    Publish = 16,
    /// `[PUBLISHED, PUBLISH.Request|id, Publication|id]`
    Published = 17,
    /// `[SUBSCRIBE, Request|id, Options|dict, Topic|uri]`
    Subscribe = 32,
    /// `[SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id]`
    Subscribed = 33,
    /// `[UNSUBSCRIBE, Request|id, SUBSCRIBED.Subscription|id]`
    Unsubscribe = 34,
    /// `[UNSUBSCRIBED, UNSUBSCRIBE.Request|id, Details|dict]` (Details only when router-initiated)
    Unsubscribed = 35,
    /// `[EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict, Arguments|list, ArgumentsKw|dict]`
    Event = 36,
    /// `[CALL, Request|id, Options|dict, Procedure|uri, Arguments|list, ArgumentsKw|dict]`
    Call = 48,
    /// `[CANCEL, CALL.Request|id, Options|dict]`
    Cancel = 49,
    /// `[RESULT, CALL.Request|id, Details|dict, Arguments|list, ArgumentsKw|dict]`
    Result = 50,
    /// `[REGISTER, Request|id, Options|dict, Procedure|uri]`
    Register = 64,
    /// `[REGISTERED, REGISTER.Request|id, Registration|id]`
    Registered = 65,
    /// `[UNREGISTER, Request|id, REGISTERED.Registration|id]`
    Unregister = 66,
    /// `[UNREGISTERED, UNREGISTER.Request|id, Details|dict]` (Details only when router-initiated)
    Unregistered = 67,
    /// `[INVOCATION, Request|id, REGISTERED.Registration|id, Details|dict, Arguments|list, ArgumentsKw|dict]`
    Invocation = 68,
    /// `[INTERRUPT, INVOCATION.Request|id, Options|dict]`
    Interrupt = 69,
    /// `[YIELD, INVOCATION.Request|id, Options|dict, Arguments|list, ArgumentsKw|dict]`
    Yield = 70,
}

impl MessageType {
    /// Every message type, in code order.
    pub const ALL: [MessageType; 24] = [
        MessageType::Hello,
        MessageType::Welcome,
        MessageType::Abort,
        MessageType::Challenge,
        MessageType::Authenticate,
        MessageType::Goodbye,
        MessageType::Error,
        MessageType::Publish,
        MessageType::Published,
        MessageType::Subscribe,
        MessageType::Subscribed,
        MessageType::Unsubscribe,
        MessageType::Unsubscribed,
        MessageType::Event,
        MessageType::Call,
        MessageType::Cancel,
        MessageType::Result,
        MessageType::Register,
        MessageType::Registered,
        MessageType::Unregister,
        MessageType::Unregistered,
        MessageType::Invocation,
        MessageType::Interrupt,
        MessageType::Yield,
    ];

    /// The type for a code, if the spec defines one.
    pub fn from_code(code: u64) -> Option<MessageType> {
        use MessageType::*;
        Some(match code {
            1 => Hello,
            2 => Welcome,
            3 => Abort,
            4 => Challenge,
            5 => Authenticate,
            6 => Goodbye,
            8 => Error,
            16 => Publish,
            17 => Published,
            32 => Subscribe,
            33 => Subscribed,
            34 => Unsubscribe,
            35 => Unsubscribed,
            36 => Event,
            48 => Call,
            49 => Cancel,
            50 => Result,
            64 => Register,
            65 => Registered,
            66 => Unregister,
            67 => Unregistered,
            68 => Invocation,
            69 => Interrupt,
            70 => Yield,
            _ => return None,
        })
    }

    /// The spec's numeric code.
    pub fn code(self) -> u64 {
        self as u8 as u64
    }

    /// The spec's upper-case name (`"PUBLISH"`), as Crossbar.io's stats use it.
    pub fn name(self) -> &'static str {
        use MessageType::*;
        match self {
            Hello => "HELLO",
            Welcome => "WELCOME",
            Abort => "ABORT",
            Challenge => "CHALLENGE",
            Authenticate => "AUTHENTICATE",
            Goodbye => "GOODBYE",
            Error => "ERROR",
            Publish => "PUBLISH",
            Published => "PUBLISHED",
            Subscribe => "SUBSCRIBE",
            Subscribed => "SUBSCRIBED",
            Unsubscribe => "UNSUBSCRIBE",
            Unsubscribed => "UNSUBSCRIBED",
            Event => "EVENT",
            Call => "CALL",
            Cancel => "CANCEL",
            Result => "RESULT",
            Register => "REGISTER",
            Registered => "REGISTERED",
            Unregister => "UNREGISTER",
            Unregistered => "UNREGISTERED",
            Invocation => "INVOCATION",
            Interrupt => "INTERRUPT",
            Yield => "YIELD",
        }
    }

    /// A dense index 0..24, for per-type counters.
    pub fn index(self) -> usize {
        // ALL is sorted by code, so a binary search finds the position.
        match Self::ALL.binary_search(&self) {
            Ok(i) => i,
            Err(i) => i,
        }
    }

    /// The roles that may send this message and the roles that may receive it
    /// (the spec's message-direction tables). `Router` stands for broker and dealer
    /// during session establishment.
    pub fn directions(self) -> (&'static [Role], &'static [Role]) {
        use MessageType::*;
        use Role::*;
        const CLIENTS: &[Role] = &[Publisher, Subscriber, Caller, Callee];
        const ROUTER: &[Role] = &[Broker, Dealer];
        const ANY: &[Role] = &[Publisher, Subscriber, Caller, Callee, Broker, Dealer];
        match self {
            Hello | Authenticate => (CLIENTS, ROUTER),
            Welcome | Challenge => (ROUTER, CLIENTS),
            Abort | Goodbye => (ANY, ANY),
            Error => (
                &[Broker, Dealer, Callee],
                &[Publisher, Subscriber, Caller, Callee, Dealer],
            ),
            Publish => (&[Publisher], &[Broker]),
            Published => (&[Broker], &[Publisher]),
            Subscribe | Unsubscribe => (&[Subscriber], &[Broker]),
            Subscribed | Unsubscribed | Event => (&[Broker], &[Subscriber]),
            Call | Cancel => (&[Caller], &[Dealer]),
            Result => (&[Dealer], &[Caller]),
            Register | Unregister | Yield => (&[Callee], &[Dealer]),
            Registered | Unregistered | Invocation | Interrupt => (&[Dealer], &[Callee]),
        }
    }

    /// Whether a client (publisher, subscriber, caller or callee) may send this
    /// message to a router. A router that receives anything else answers with
    /// ABORT/GOODBYE `wamp.error.protocol_violation`.
    pub fn client_may_send(self) -> bool {
        self.directions().0.iter().any(|r| r.is_client())
    }

    /// Whether a router (broker or dealer) may send this message to a client.
    pub fn router_may_send(self) -> bool {
        self.directions().0.iter().any(|r| !r.is_client())
    }
}

/// The roles of the spec: four client roles and two router roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Client role that publishes events.
    Publisher,
    /// Client role that receives events.
    Subscriber,
    /// Client role that calls procedures.
    Caller,
    /// Client role that implements procedures.
    Callee,
    /// Router role that routes events.
    Broker,
    /// Router role that routes calls.
    Dealer,
}

impl Role {
    /// The key used in `HELLO.Details.roles` / `WELCOME.Details.roles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
            Role::Caller => "caller",
            Role::Callee => "callee",
            Role::Broker => "broker",
            Role::Dealer => "dealer",
        }
    }

    /// Whether this is a client role.
    pub fn is_client(self) -> bool {
        !matches!(self, Role::Broker | Role::Dealer)
    }
}

/// Arguments and keyword arguments of PUBLISH, EVENT, CALL, INVOCATION,
/// YIELD, RESULT and ERROR.
///
/// The router never builds a value tree just to route a payload: a decoded
/// message keeps `Arguments|list` and `ArgumentsKw|dict` as the encoded bytes
/// they arrived as ([`Payload::Raw`]); the encoder splices them into the
/// outgoing message when the receiver uses the same serializer and transcodes
/// them only when it does not.
#[derive(Debug, Clone, Default)]
pub enum Payload {
    /// Neither `Arguments` nor `ArgumentsKw` is present.
    #[default]
    Empty,
    /// Built by the router: `Arguments` is always written, `ArgumentsKw` when present.
    Values {
        /// `Arguments|list`.
        args: Vec<Value>,
        /// `ArgumentsKw|dict`.
        kwargs: Option<Dict>,
    },
    /// As received: the encoded elements, in the serializer they came in.
    Raw(RawPayload),
}

/// The encoded `Arguments|list` and optional `ArgumentsKw|dict` of a message,
/// sliced without copying from the frame they arrived in.
#[derive(Debug, Clone)]
pub struct RawPayload {
    /// The serializer the bytes are encoded with.
    pub serializer: Serializer,
    /// The encoded `Arguments|list` element.
    pub args: Bytes,
    /// The encoded `ArgumentsKw|dict` element, when present.
    pub kwargs: Option<Bytes>,
}

impl Payload {
    /// A payload of positional arguments only.
    pub fn args(args: Vec<Value>) -> Payload {
        Payload::Values { args, kwargs: None }
    }

    /// Whether there is neither `Arguments` nor `ArgumentsKw`.
    pub fn is_empty(&self) -> bool {
        matches!(self, Payload::Empty)
    }

    /// The encoded size in bytes, when known without encoding (raw payloads).
    pub fn raw_len(&self) -> Option<usize> {
        match self {
            Payload::Raw(r) => Some(r.args.len() + r.kwargs.as_ref().map_or(0, |k| k.len())),
            Payload::Empty => Some(0),
            Payload::Values { .. } => None,
        }
    }
}

/// A WAMP message. Field names follow the spec's message definitions.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // fields are named as in the spec's message formats (see MessageType)
pub enum Message {
    Hello {
        realm: String,
        details: Dict,
    },
    Welcome {
        session: Id,
        details: Dict,
    },
    Abort {
        details: Dict,
        reason: String,
    },
    Challenge {
        auth_method: String,
        extra: Dict,
    },
    Authenticate {
        signature: String,
        extra: Dict,
    },
    Goodbye {
        details: Dict,
        reason: String,
    },
    Error {
        request_type: MessageType,
        request: Id,
        details: Dict,
        error: String,
        payload: Payload,
    },
    Publish {
        request: Id,
        options: Dict,
        topic: String,
        payload: Payload,
    },
    Published {
        request: Id,
        publication: Id,
    },
    Subscribe {
        request: Id,
        options: Dict,
        topic: String,
    },
    Subscribed {
        request: Id,
        subscription: Id,
    },
    Unsubscribe {
        request: Id,
        subscription: Id,
    },
    Unsubscribed {
        request: Id,
        details: Option<Dict>,
    },
    Event {
        subscription: Id,
        publication: Id,
        details: Dict,
        payload: Payload,
    },
    Call {
        request: Id,
        options: Dict,
        procedure: String,
        payload: Payload,
    },
    Cancel {
        request: Id,
        options: Dict,
    },
    Result {
        request: Id,
        details: Dict,
        payload: Payload,
    },
    Register {
        request: Id,
        options: Dict,
        procedure: String,
    },
    Registered {
        request: Id,
        registration: Id,
    },
    Unregister {
        request: Id,
        registration: Id,
    },
    Unregistered {
        request: Id,
        details: Option<Dict>,
    },
    Invocation {
        request: Id,
        registration: Id,
        details: Dict,
        payload: Payload,
    },
    Interrupt {
        request: Id,
        options: Dict,
    },
    Yield {
        request: Id,
        options: Dict,
        payload: Payload,
    },
}

impl Message {
    /// This message's type.
    pub fn message_type(&self) -> MessageType {
        use MessageType as T;
        match self {
            Message::Hello { .. } => T::Hello,
            Message::Welcome { .. } => T::Welcome,
            Message::Abort { .. } => T::Abort,
            Message::Challenge { .. } => T::Challenge,
            Message::Authenticate { .. } => T::Authenticate,
            Message::Goodbye { .. } => T::Goodbye,
            Message::Error { .. } => T::Error,
            Message::Publish { .. } => T::Publish,
            Message::Published { .. } => T::Published,
            Message::Subscribe { .. } => T::Subscribe,
            Message::Subscribed { .. } => T::Subscribed,
            Message::Unsubscribe { .. } => T::Unsubscribe,
            Message::Unsubscribed { .. } => T::Unsubscribed,
            Message::Event { .. } => T::Event,
            Message::Call { .. } => T::Call,
            Message::Cancel { .. } => T::Cancel,
            Message::Result { .. } => T::Result,
            Message::Register { .. } => T::Register,
            Message::Registered { .. } => T::Registered,
            Message::Unregister { .. } => T::Unregister,
            Message::Unregistered { .. } => T::Unregistered,
            Message::Invocation { .. } => T::Invocation,
            Message::Interrupt { .. } => T::Interrupt,
            Message::Yield { .. } => T::Yield,
        }
    }

    /// The payload, for the message types that carry one.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Message::Error { payload, .. }
            | Message::Publish { payload, .. }
            | Message::Event { payload, .. }
            | Message::Call { payload, .. }
            | Message::Result { payload, .. }
            | Message::Invocation { payload, .. }
            | Message::Yield { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// A mutable reference to the payload, for the message types that carry one.
    pub fn payload_mut(&mut self) -> Option<&mut Payload> {
        match self {
            Message::Error { payload, .. }
            | Message::Publish { payload, .. }
            | Message::Event { payload, .. }
            | Message::Call { payload, .. }
            | Message::Result { payload, .. }
            | Message::Invocation { payload, .. }
            | Message::Yield { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The request id the message carries or answers, if any.
    pub fn request_id(&self) -> Option<Id> {
        match self {
            Message::Error { request, .. }
            | Message::Publish { request, .. }
            | Message::Published { request, .. }
            | Message::Subscribe { request, .. }
            | Message::Subscribed { request, .. }
            | Message::Unsubscribe { request, .. }
            | Message::Unsubscribed { request, .. }
            | Message::Call { request, .. }
            | Message::Cancel { request, .. }
            | Message::Result { request, .. }
            | Message::Register { request, .. }
            | Message::Registered { request, .. }
            | Message::Unregister { request, .. }
            | Message::Unregistered { request, .. }
            | Message::Invocation { request, .. }
            | Message::Interrupt { request, .. }
            | Message::Yield { request, .. } => Some(*request),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_index_is_dense() {
        for (i, t) in MessageType::ALL.iter().enumerate() {
            assert_eq!(MessageType::from_code(t.code()), Some(*t));
            assert_eq!(t.index(), i);
        }
        assert_eq!(MessageType::from_code(7), None);
        assert_eq!(MessageType::from_code(0), None);
        assert_eq!(MessageType::Publish.code(), 16);
        assert_eq!(MessageType::Yield.name(), "YIELD");
    }

    #[test]
    fn role_table_matches_the_spec() {
        use MessageType::*;
        for t in [
            Hello,
            Authenticate,
            Publish,
            Subscribe,
            Unsubscribe,
            Call,
            Cancel,
            Register,
            Unregister,
            Yield,
            Error,
            Abort,
            Goodbye,
        ] {
            assert!(t.client_may_send(), "{t:?}");
        }
        for t in [
            Welcome,
            Challenge,
            Published,
            Subscribed,
            Unsubscribed,
            Event,
            Result,
            Registered,
            Unregistered,
            Invocation,
            Interrupt,
        ] {
            assert!(!t.client_may_send(), "{t:?}");
            assert!(t.router_may_send(), "{t:?}");
        }
        assert!(!Publish.router_may_send());
        assert!(!Hello.router_may_send());
        let (from, to) = Event.directions();
        assert_eq!(from, &[Role::Broker]);
        assert_eq!(to, &[Role::Subscriber]);
    }

    #[test]
    fn payload_equality_is_by_value() {
        let a = Payload::args(vec![Value::UInt(1)]);
        let raw = Payload::Raw(RawPayload {
            serializer: Serializer::Json,
            args: Bytes::from_static(b"[1]"),
            kwargs: None,
        });
        assert_eq!(a, raw);
        assert_ne!(Payload::Empty, raw);
    }
}
