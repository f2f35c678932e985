//! The sans-IO WAMP client session: no sockets, no runtime. Feed it the
//! messages the router sent ([`ClientSession::receive`]), take the messages it
//! wants sent ([`ClientSession::poll_transmit`]) and what happened
//! ([`ClientSession::poll_event`]).
//!
//! It owns what every WAMP client needs and every adapter would otherwise
//! write again: HELLO with the roles and features it announces ([`Roles`]),
//! CHALLENGE/AUTHENTICATE through a [`ClientAuthenticator`], request ids
//! (session scope), pending requests with progressive results and
//! cancellation, the subscriptions and registrations that incoming EVENTs and
//! INVOCATIONs belong to, publish with or without acknowledgement, GOODBYE
//! both ways and ABORT.
//!
//! ```
//! use shardwamp::client::auth::Anonymous;
//! use shardwamp::client::session::{ClientSession, Event, Reply};
//! use shardwamp::wamp::message::{Message, Payload};
//! use shardwamp::wamp::value::Dict;
//!
//! let mut s = ClientSession::new("realm1", Box::new(Anonymous::default()));
//! assert!(matches!(s.poll_transmit(), Some(Message::Hello { .. })));
//! s.receive(Message::Welcome { session: 7, details: Dict::new() }).unwrap();
//! assert!(matches!(s.poll_event(), Some(Event::Joined { session: 7, .. })));
//! let call = s.call("com.example.add", Dict::new(), Payload::Empty).unwrap();
//! assert!(matches!(s.poll_transmit(), Some(Message::Call { .. })));
//! s.receive(Message::Result { request: call, details: Dict::new(), payload: Payload::Empty }).unwrap();
//! assert!(matches!(s.poll_event(), Some(Event::Reply { reply: Ok(Reply::Result { .. }), .. })));
//! ```

use std::collections::{HashMap, VecDeque};

use super::auth::{AuthError, ClientAuthenticator};
use crate::dict;
use crate::wamp::message::{Id, Message, MessageType, Payload};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

/// The client roles (and their features) a session announces in HELLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Publisher (with `publisher_exclusion`).
    pub publisher: bool,
    /// Subscriber (with `pattern_based_subscription`).
    pub subscriber: bool,
    /// Caller (with `progressive_call_results`, `call_canceling`).
    pub caller: bool,
    /// Callee (with `progressive_call_results`, `call_canceling`).
    pub callee: bool,
}

impl Default for Roles {
    fn default() -> Roles {
        Roles::all()
    }
}

impl Roles {
    /// Every client role.
    pub const fn all() -> Roles {
        Roles {
            publisher: true,
            subscriber: true,
            caller: true,
            callee: true,
        }
    }

    /// `HELLO.Details.roles`: each announced role with the features this
    /// client implements.
    pub fn to_dict(self) -> Dict {
        let f = |features: Dict| Value::Dict(dict! { "features" => Value::Dict(features) });
        let mut d = Dict::new();
        if self.publisher {
            d.insert(
                "publisher".into(),
                f(dict! { "publisher_exclusion" => true }),
            );
        }
        if self.subscriber {
            d.insert(
                "subscriber".into(),
                f(dict! { "pattern_based_subscription" => true }),
            );
        }
        if self.caller {
            d.insert(
                "caller".into(),
                f(dict! { "progressive_call_results" => true, "call_canceling" => true }),
            );
        }
        if self.callee {
            d.insert(
                "callee".into(),
                f(dict! { "progressive_call_results" => true, "call_canceling" => true }),
            );
        }
        d
    }
}

/// An ERROR reply (or a failure the session reports in its place): the
/// error URI with its details and arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    /// The error URI.
    pub uri: String,
    /// ERROR.Details.
    pub details: Dict,
    /// ERROR.Arguments (empty when absent or undecodable).
    pub args: Vec<Value>,
    /// ERROR.ArgumentsKw (empty when absent or undecodable).
    pub kwargs: Dict,
}

impl CallError {
    /// An error with just a URI.
    pub fn uri(uri: &str) -> CallError {
        CallError {
            uri: uri.into(),
            details: Dict::new(),
            args: Vec::new(),
            kwargs: Dict::new(),
        }
    }

    /// An error with a URI and a message argument.
    pub fn message(uri: &str, message: impl Into<String>) -> CallError {
        CallError {
            args: vec![Value::Str(message.into())],
            ..CallError::uri(uri)
        }
    }

    fn from_error(error: String, details: Dict, payload: &Payload) -> CallError {
        let (args, kwargs) = values_of(payload);
        CallError {
            uri: error,
            details,
            args,
            kwargs,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{a:?}"))
            })
            .collect();
        write!(f, "{}: {}", self.uri, text.join(" "))
    }
}

impl std::error::Error for CallError {}

/// A payload's positional and keyword arguments as values (empty when absent
/// or undecodable).
pub fn values_of(p: &Payload) -> (Vec<Value>, Dict) {
    match p.to_values() {
        Ok(Payload::Values { args, kwargs }) => (args, kwargs.unwrap_or_default()),
        _ => (Vec::new(), Dict::new()),
    }
}

/// Why the session refused an operation or a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// The operation needs a joined session.
    #[error("the session is not joined")]
    NotJoined,
    /// The session is closed (or closing).
    #[error("the session is closed")]
    Closed,
    /// No pending call has this request id.
    #[error("no pending call {0}")]
    NoSuchRequest(Id),
    /// The router sent something the protocol does not allow here; the
    /// session answered with ABORT and is closed.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
    /// A CHALLENGE could not be answered; the session sent ABORT and is closed.
    #[error("authentication: {0}")]
    Auth(#[from] AuthError),
}

/// The session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// HELLO sent, waiting for WELCOME, CHALLENGE or ABORT.
    Establishing,
    /// AUTHENTICATE sent, waiting for WELCOME or ABORT.
    Authenticating,
    /// Joined.
    Established,
    /// GOODBYE sent, waiting for the router's GOODBYE.
    ShuttingDown,
    /// Over: left, aborted or the transport closed.
    Closed,
}

/// The successful answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The final RESULT of a CALL.
    Result {
        /// RESULT.Details.
        details: Dict,
        /// The result's payload, as received.
        payload: Payload,
    },
    /// SUBSCRIBED.
    Subscribed(Id),
    /// UNSUBSCRIBED.
    Unsubscribed,
    /// PUBLISHED (acknowledged publications only).
    Published(Id),
    /// REGISTERED.
    Registered(Id),
    /// UNREGISTERED.
    Unregistered,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Close {
    /// The GOODBYE or ABORT reason.
    pub reason: String,
    /// Its details.
    pub details: Dict,
    /// ABORT (the session was refused or broken), not GOODBYE.
    pub abort: bool,
    /// The router ended the session (else the client did, or the transport closed).
    pub by_router: bool,
}

impl Close {
    /// `details.message`, when the router gave one.
    pub fn message(&self) -> &str {
        self.details
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Something that happened, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// WELCOME: the session is joined.
    Joined {
        /// The session id.
        session: Id,
        /// WELCOME.Details.
        details: Dict,
    },
    /// The final answer to a request (CALL, SUBSCRIBE, UNSUBSCRIBE,
    /// acknowledged PUBLISH, REGISTER, UNREGISTER).
    Reply {
        /// The request id the operation returned.
        request: Id,
        /// The answer.
        reply: Result<Reply, CallError>,
    },
    /// A progressive RESULT of a call that asked for them (the call stays pending).
    Progress {
        /// The call's request id.
        request: Id,
        /// RESULT.Details.
        details: Dict,
        /// The partial result.
        payload: Payload,
    },
    /// An EVENT on one of this session's subscriptions.
    Event {
        /// The subscription.
        subscription: Id,
        /// The publication.
        publication: Id,
        /// EVENT.Details.
        details: Dict,
        /// The event's payload, as received.
        payload: Payload,
    },
    /// An INVOCATION of one of this session's registrations: answer it with
    /// [`ClientSession::yield_result`] or [`ClientSession::invocation_error`].
    Invocation {
        /// The invocation's request id.
        request: Id,
        /// The registration.
        registration: Id,
        /// INVOCATION.Details.
        details: Dict,
        /// The call's payload, as received.
        payload: Payload,
    },
    /// INTERRUPT of a pending invocation (the caller canceled).
    Interrupt {
        /// The invocation's request id.
        request: Id,
        /// INTERRUPT.Options.
        options: Dict,
    },
    /// The router ended a subscription (UNSUBSCRIBED with details).
    SubscriptionRevoked {
        /// The subscription.
        subscription: Id,
        /// UNSUBSCRIBED.Details.
        details: Dict,
    },
    /// The router ended a registration (UNREGISTERED with details).
    RegistrationRevoked {
        /// The registration.
        registration: Id,
        /// UNREGISTERED.Details.
        details: Dict,
    },
    /// The session ended.
    Closed(Close),
}

/// What a request waits for.
#[derive(Debug, Clone)]
enum Pending {
    Call,
    Subscribe,
    Unsubscribe(Id),
    Publish,
    Register,
    Unregister(Id),
}

impl Pending {
    fn request_type(&self) -> MessageType {
        match self {
            Pending::Call => MessageType::Call,
            Pending::Subscribe => MessageType::Subscribe,
            Pending::Unsubscribe(_) => MessageType::Unsubscribe,
            Pending::Publish => MessageType::Publish,
            Pending::Register => MessageType::Register,
            Pending::Unregister(_) => MessageType::Unregister,
        }
    }
}

/// A WAMP client session, sans I/O.
pub struct ClientSession {
    state: State,
    auth: Box<dyn ClientAuthenticator>,
    id: Id,
    welcome: Dict,
    next_request: Id,
    pending: HashMap<Id, Pending>,
    /// Subscription id -> how many SUBSCRIBEs returned it (a router answers
    /// a second SUBSCRIBE to the same topic with the same id).
    subscriptions: HashMap<Id, u32>,
    registrations: HashMap<Id, ()>,
    /// Invocations received and not yet answered.
    invocations: HashMap<Id, Id>,
    transmit: VecDeque<Message>,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("state", &self.state)
            .field("id", &self.id)
            .field("pending", &self.pending.len())
            .field("subscriptions", &self.subscriptions.len())
            .field("registrations", &self.registrations.len())
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    /// A session that joins `realm` with every role, authenticating with `auth`;
    /// its HELLO is queued at once.
    pub fn new(realm: &str, auth: Box<dyn ClientAuthenticator>) -> ClientSession {
        ClientSession::with_details(realm, auth, Roles::all(), Dict::new())
    }

    /// A session announcing `roles`, with `details` (extra HELLO details,
    /// kept as given: a `roles` or `authmethods` entry there wins).
    pub fn with_details(
        realm: &str,
        auth: Box<dyn ClientAuthenticator>,
        roles: Roles,
        mut details: Dict,
    ) -> ClientSession {
        details
            .entry("roles".into())
            .or_insert_with(|| Value::Dict(roles.to_dict()));
        let methods = auth.authmethods();
        if !methods.is_empty() {
            details
                .entry("authmethods".into())
                .or_insert_with(|| Value::List(methods.into_iter().map(Value::Str).collect()));
        }
        if let Some(authid) = auth.authid() {
            details
                .entry("authid".into())
                .or_insert_with(|| Value::Str(authid));
        }
        let extra = auth.authextra();
        if !extra.is_empty() {
            details
                .entry("authextra".into())
                .or_insert_with(|| Value::Dict(extra));
        }
        let mut s = ClientSession {
            state: State::Establishing,
            auth,
            id: 0,
            welcome: Dict::new(),
            next_request: 1,
            pending: HashMap::new(),
            subscriptions: HashMap::new(),
            registrations: HashMap::new(),
            invocations: HashMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        };
        s.transmit.push_back(Message::Hello {
            realm: realm.into(),
            details,
        });
        s
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The session id (0 until joined).
    pub fn id(&self) -> Id {
        self.id
    }

    /// WELCOME.Details (empty until joined).
    pub fn welcome_details(&self) -> &Dict {
        &self.welcome
    }

    /// Whether the session is joined.
    pub fn is_joined(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The next message to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// Whether messages are waiting to be sent.
    pub fn has_transmit(&self) -> bool {
        !self.transmit.is_empty()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether a request is still waiting for its final answer.
    pub fn is_pending(&self, request: Id) -> bool {
        self.pending.contains_key(&request)
    }

    /// The subscriptions this session holds.
    pub fn subscriptions(&self) -> impl Iterator<Item = Id> + '_ {
        self.subscriptions.keys().copied()
    }

    /// The registrations this session holds.
    pub fn registrations(&self) -> impl Iterator<Item = Id> + '_ {
        self.registrations.keys().copied()
    }

    fn next_request(&mut self) -> Id {
        let id = self.next_request;
        // Session scope: 1..=2^53, wrapping back to 1.
        self.next_request = if id >= 1 << 53 { 1 } else { id + 1 };
        id
    }

    fn joined(&self) -> Result<(), SessionError> {
        match self.state {
            State::Established => Ok(()),
            State::Establishing | State::Authenticating => Err(SessionError::NotJoined),
            State::ShuttingDown | State::Closed => Err(SessionError::Closed),
        }
    }

    fn request(&mut self, pending: Option<Pending>) -> Result<Id, SessionError> {
        self.joined()?;
        let id = self.next_request();
        if let Some(p) = pending {
            self.pending.insert(id, p);
        }
        Ok(id)
    }

    /// CALL; returns the request id. Ask for progressive results with
    /// `options.receive_progress = true`.
    pub fn call(
        &mut self,
        procedure: &str,
        options: Dict,
        payload: Payload,
    ) -> Result<Id, SessionError> {
        let request = self.request(Some(Pending::Call))?;
        self.transmit.push_back(Message::Call {
            request,
            options,
            procedure: procedure.into(),
            payload,
        });
        Ok(request)
    }

    /// CANCEL of a pending call (`mode` "skip", "kill" or "killnowait"; None
    /// leaves it to the router). The call stays pending until its final
    /// answer (ERROR `wamp.error.canceled`, or a RESULT that was faster).
    pub fn cancel(&mut self, request: Id, mode: Option<&str>) -> Result<(), SessionError> {
        self.joined()?;
        if !matches!(self.pending.get(&request), Some(Pending::Call)) {
            return Err(SessionError::NoSuchRequest(request));
        }
        let options = match mode {
            Some(m) => dict! { "mode" => m },
            None => Dict::new(),
        };
        self.transmit
            .push_back(Message::Cancel { request, options });
        Ok(())
    }

    /// SUBSCRIBE; returns the request id.
    pub fn subscribe(&mut self, topic: &str, options: Dict) -> Result<Id, SessionError> {
        let request = self.request(Some(Pending::Subscribe))?;
        self.transmit.push_back(Message::Subscribe {
            request,
            options,
            topic: topic.into(),
        });
        Ok(request)
    }

    /// UNSUBSCRIBE; returns the request id.
    pub fn unsubscribe(&mut self, subscription: Id) -> Result<Id, SessionError> {
        let request = self.request(Some(Pending::Unsubscribe(subscription)))?;
        self.transmit.push_back(Message::Unsubscribe {
            request,
            subscription,
        });
        Ok(request)
    }

    /// PUBLISH; returns the request id. With `acknowledge` the option is set
    /// and a [`Reply::Published`] (or an error) follows; without, nothing does.
    pub fn publish(
        &mut self,
        topic: &str,
        mut options: Dict,
        payload: Payload,
        acknowledge: bool,
    ) -> Result<Id, SessionError> {
        let request = self.request(acknowledge.then_some(Pending::Publish))?;
        if acknowledge {
            options.insert("acknowledge".into(), Value::Bool(true));
        }
        self.transmit.push_back(Message::Publish {
            request,
            options,
            topic: topic.into(),
            payload,
        });
        Ok(request)
    }

    /// REGISTER; returns the request id.
    pub fn register(&mut self, procedure: &str, options: Dict) -> Result<Id, SessionError> {
        let request = self.request(Some(Pending::Register))?;
        self.transmit.push_back(Message::Register {
            request,
            options,
            procedure: procedure.into(),
        });
        Ok(request)
    }

    /// UNREGISTER; returns the request id.
    pub fn unregister(&mut self, registration: Id) -> Result<Id, SessionError> {
        let request = self.request(Some(Pending::Unregister(registration)))?;
        self.transmit.push_back(Message::Unregister {
            request,
            registration,
        });
        Ok(request)
    }

    /// YIELD for an invocation: `progress` sends a progressive result (the
    /// invocation stays open), else the final one.
    pub fn yield_result(
        &mut self,
        request: Id,
        payload: Payload,
        progress: bool,
    ) -> Result<(), SessionError> {
        self.joined()?;
        if !self.invocations.contains_key(&request) {
            return Err(SessionError::NoSuchRequest(request));
        }
        let options = if progress {
            dict! { "progress" => true }
        } else {
            self.invocations.remove(&request);
            Dict::new()
        };
        self.transmit.push_back(Message::Yield {
            request,
            options,
            payload,
        });
        Ok(())
    }

    /// ERROR for an invocation.
    pub fn invocation_error(
        &mut self,
        request: Id,
        error: &str,
        details: Dict,
        payload: Payload,
    ) -> Result<(), SessionError> {
        self.joined()?;
        if self.invocations.remove(&request).is_none() {
            return Err(SessionError::NoSuchRequest(request));
        }
        self.transmit.push_back(Message::Error {
            request_type: MessageType::Invocation,
            request,
            details,
            error: error.into(),
            payload,
        });
        Ok(())
    }

    /// GOODBYE with `reason` (e.g. `wamp.close.normal`); the session closes when
    /// the router answers (or the transport closes).
    pub fn leave(&mut self, reason: &str) -> Result<(), SessionError> {
        self.joined()?;
        self.state = State::ShuttingDown;
        self.transmit.push_back(Message::Goodbye {
            details: Dict::new(),
            reason: reason.into(),
        });
        Ok(())
    }

    /// ABORT: ends the session at once (before or after joining).
    pub fn abort(&mut self, reason: &str, message: &str) {
        if self.state == State::Closed {
            return;
        }
        let details = if message.is_empty() {
            Dict::new()
        } else {
            dict! { "message" => message }
        };
        self.transmit.push_back(Message::Abort {
            details: details.clone(),
            reason: reason.into(),
        });
        self.close(Close {
            reason: reason.into(),
            details,
            abort: true,
            by_router: false,
        });
    }

    /// The transport closed: the session is over; pending requests fail.
    pub fn transport_closed(&mut self) {
        self.close(Close {
            reason: "transport closed".into(),
            details: Dict::new(),
            abort: true,
            by_router: false,
        });
    }

    fn close(&mut self, close: Close) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        let mut pending: Vec<Id> = self.pending.drain().map(|(id, _)| id).collect();
        pending.sort_unstable();
        for request in pending {
            self.events.push_back(Event::Reply {
                request,
                reply: Err(CallError::message(
                    uris::ERROR_CANCELED,
                    "the session closed",
                )),
            });
        }
        self.invocations.clear();
        self.events.push_back(Event::Closed(close));
    }

    fn violation(&mut self, why: String) -> SessionError {
        self.abort(uris::ERROR_PROTOCOL_VIOLATION, &why);
        SessionError::ProtocolViolation(why)
    }

    fn reply(&mut self, request: Id, reply: Result<Reply, CallError>) {
        self.events.push_back(Event::Reply { request, reply });
    }

    /// A message from the router. An error means the session answered with
    /// ABORT (a protocol violation, a CHALLENGE it cannot answer) and is closed.
    ///
    /// Answers to requests this session no longer waits for (a RESULT racing
    /// a CANCEL, say) and EVENTs of subscriptions it no longer holds are
    /// dropped; what a router may never send, or not in this state, is a
    /// protocol violation.
    pub fn receive(&mut self, msg: Message) -> Result<(), SessionError> {
        let ty = msg.message_type();
        if !ty.router_may_send() {
            if self.state == State::Closed {
                return Ok(());
            }
            return Err(self.violation(format!("a router may not send {}", ty.name())));
        }
        match self.state {
            State::Closed => Ok(()),
            State::Establishing | State::Authenticating => self.receive_joining(msg),
            State::Established | State::ShuttingDown => self.receive_joined(msg),
        }
    }

    fn receive_joining(&mut self, msg: Message) -> Result<(), SessionError> {
        match msg {
            Message::Welcome { session, details } => {
                self.state = State::Established;
                self.id = session;
                self.welcome = details.clone();
                self.events.push_back(Event::Joined { session, details });
                Ok(())
            }
            Message::Challenge { auth_method, extra } if self.state == State::Establishing => {
                match self.auth.challenge(&auth_method, &extra) {
                    Ok(sig) => {
                        self.state = State::Authenticating;
                        self.transmit.push_back(Message::Authenticate {
                            signature: sig.signature,
                            extra: sig.extra,
                        });
                        Ok(())
                    }
                    Err(e) => {
                        self.abort(uris::ERROR_AUTHENTICATION_FAILED, &e.to_string());
                        Err(SessionError::Auth(e))
                    }
                }
            }
            Message::Abort { details, reason } => {
                self.close(Close {
                    reason,
                    details,
                    abort: true,
                    by_router: true,
                });
                Ok(())
            }
            other => Err(self.violation(format!(
                "{} before the session was joined",
                other.message_type().name()
            ))),
        }
    }

    fn receive_joined(&mut self, msg: Message) -> Result<(), SessionError> {
        match msg {
            Message::Welcome { .. } | Message::Challenge { .. } => {
                Err(self.violation(format!("{} on a joined session", msg.message_type().name())))
            }
            Message::Abort { details, reason } => {
                self.close(Close {
                    reason,
                    details,
                    abort: true,
                    by_router: true,
                });
                Ok(())
            }
            Message::Goodbye { details, reason } => {
                let by_router = self.state == State::Established;
                if by_router {
                    self.transmit.push_back(Message::Goodbye {
                        details: Dict::new(),
                        reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
                    });
                }
                self.close(Close {
                    reason,
                    details,
                    abort: false,
                    by_router,
                });
                Ok(())
            }
            Message::Error {
                request_type,
                request,
                details,
                error,
                payload,
            } => {
                match self.pending.get(&request) {
                    Some(p) if p.request_type() == request_type => {}
                    Some(p) => {
                        return Err(self.violation(format!(
                            "ERROR for {} request {request}, which is a {}",
                            request_type.name(),
                            p.request_type().name()
                        )))
                    }
                    None => return Ok(()),
                }
                self.pending.remove(&request);
                let e = CallError::from_error(error, details, &payload);
                self.reply(request, Err(e));
                Ok(())
            }
            Message::Result {
                request,
                details,
                payload,
            } => {
                if !matches!(self.pending.get(&request), Some(Pending::Call)) {
                    return Ok(());
                }
                if details.get("progress").and_then(Value::as_bool) == Some(true) {
                    self.events.push_back(Event::Progress {
                        request,
                        details,
                        payload,
                    });
                } else {
                    self.pending.remove(&request);
                    self.reply(request, Ok(Reply::Result { details, payload }));
                }
                Ok(())
            }
            Message::Subscribed {
                request,
                subscription,
            } => {
                if !self.take_pending(request, |p| matches!(p, Pending::Subscribe)) {
                    return Ok(());
                }
                *self.subscriptions.entry(subscription).or_insert(0) += 1;
                self.reply(request, Ok(Reply::Subscribed(subscription)));
                Ok(())
            }
            Message::Unsubscribed {
                details: Some(details),
                ..
            } if details.contains_key("subscription") => {
                let Some(subscription) = details.get("subscription").and_then(Value::as_u64) else {
                    return Err(self.violation("UNSUBSCRIBED without a subscription".into()));
                };
                if self.subscriptions.remove(&subscription).is_some() {
                    self.events.push_back(Event::SubscriptionRevoked {
                        subscription,
                        details,
                    });
                }
                Ok(())
            }
            Message::Unsubscribed { request, .. } => {
                let Some(Pending::Unsubscribe(sub)) = self.pending.get(&request).cloned() else {
                    return Ok(());
                };
                self.pending.remove(&request);
                if let Some(n) = self.subscriptions.get_mut(&sub) {
                    *n -= 1;
                    if *n == 0 {
                        self.subscriptions.remove(&sub);
                    }
                }
                self.reply(request, Ok(Reply::Unsubscribed));
                Ok(())
            }
            Message::Published {
                request,
                publication,
            } => {
                if self.take_pending(request, |p| matches!(p, Pending::Publish)) {
                    self.reply(request, Ok(Reply::Published(publication)));
                }
                Ok(())
            }
            Message::Registered {
                request,
                registration,
            } => {
                if self.take_pending(request, |p| matches!(p, Pending::Register)) {
                    self.registrations.insert(registration, ());
                    self.reply(request, Ok(Reply::Registered(registration)));
                }
                Ok(())
            }
            Message::Unregistered {
                details: Some(details),
                ..
            } if details.contains_key("registration") => {
                let Some(registration) = details.get("registration").and_then(Value::as_u64) else {
                    return Err(self.violation("UNREGISTERED without a registration".into()));
                };
                if self.registrations.remove(&registration).is_some() {
                    self.events.push_back(Event::RegistrationRevoked {
                        registration,
                        details,
                    });
                }
                Ok(())
            }
            Message::Unregistered { request, .. } => {
                let Some(Pending::Unregister(reg)) = self.pending.get(&request).cloned() else {
                    return Ok(());
                };
                self.pending.remove(&request);
                self.registrations.remove(&reg);
                self.reply(request, Ok(Reply::Unregistered));
                Ok(())
            }
            Message::Event {
                subscription,
                publication,
                details,
                payload,
            } => {
                if self.subscriptions.contains_key(&subscription) {
                    self.events.push_back(Event::Event {
                        subscription,
                        publication,
                        details,
                        payload,
                    });
                }
                Ok(())
            }
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } => {
                if self.state == State::ShuttingDown {
                    return Ok(());
                }
                if !self.registrations.contains_key(&registration) {
                    self.transmit.push_back(Message::Error {
                        request_type: MessageType::Invocation,
                        request,
                        details: Dict::new(),
                        error: uris::ERROR_NO_SUCH_REGISTRATION.into(),
                        payload: Payload::Empty,
                    });
                    return Ok(());
                }
                self.invocations.insert(request, registration);
                self.events.push_back(Event::Invocation {
                    request,
                    registration,
                    details,
                    payload,
                });
                Ok(())
            }
            Message::Interrupt { request, options } => {
                if self.invocations.contains_key(&request) {
                    self.events.push_back(Event::Interrupt { request, options });
                }
                Ok(())
            }
            other => Err(self.violation(format!(
                "unexpected {} on a joined session",
                other.message_type().name()
            ))),
        }
    }

    fn take_pending(&mut self, request: Id, is: impl Fn(&Pending) -> bool) -> bool {
        match self.pending.get(&request) {
            Some(p) if is(p) => {
                self.pending.remove(&request);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
