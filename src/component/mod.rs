//! Router components: Rust code joined to a realm under a role as an
//! in-process session that can register, subscribe, publish and call — what
//! Crossbar.io runs as `type = "class"` components. A component is compiled in
//! and registered by name in a [`Registry`]; config or the controller starts
//! and stops it on a shard.
//!
//! A component's session is an ordinary connection of its shard's router core
//! (same authorization, meta events and statistics as any client), driven by
//! the sans-IO client session ([`crate::client::session`]) in memory: what the
//! component sends is handed to the core as messages (no encoding), what the
//! core sends arrives as frames through the connection's outbox and is decoded.
//! The host (the shard) is reached only through [`ComponentHost`].
//!
//! Writing one:
//!
//! ```
//! use std::future::Future;
//! use std::pin::Pin;
//! use std::rc::Rc;
//! use shardwamp::component::{Component, Registry, Session};
//! use shardwamp::wamp::message::Payload;
//! use shardwamp::wamp::value::Value;
//!
//! struct Greeter;
//!
//! impl Component for Greeter {
//!     fn run(self: Box<Self>, session: Session) -> Pin<Box<dyn Future<Output = ()>>> {
//!         Box::pin(async move {
//!             let handler = Rc::new(|args: Vec<Value>, _kwargs, _details| {
//!                 let name = args.first().and_then(Value::as_str).unwrap_or("world").to_owned();
//!                 Box::pin(async move { Ok(Payload::args(vec![Value::from(format!("hello, {name}"))])) })
//!                     as shardwamp::component::HandlerFuture
//!             });
//!             let _ = session.register("com.example.greet", handler).await;
//!             session.closed().await;
//!         })
//!     }
//! }
//!
//! let mut registry = Registry::with_builtins();
//! registry.add("com.example.Greeter", |_config| Ok(Box::new(Greeter)));
//! ```

pub mod builtin;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::client::auth::Anonymous;
use crate::client::session::{self as wamp, values_of, ClientSession, Event, SessionError};
use crate::codec::Serializer;
use crate::config::ComponentConfig;
use crate::router::peer::CallFailure;
use crate::router::{ConnId, RegId, SubId, TransportId};
use crate::wamp::message::{Id, Message, Payload};
use crate::wamp::value::{Dict, Value};

/// What a procedure handler returns. When the caller cancels the call
/// (the router sends INTERRUPT, modes `kill` and `killnowait`), the future
/// is dropped where it waits, so a handler learns of the cancel by a drop
/// guard, and the router is answered ERROR `wamp.error.canceled`.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Payload, CallFailure>>>>;
/// A procedure handler: (arguments, keyword arguments, INVOCATION details).
pub type Handler = Rc<dyn Fn(Vec<Value>, Dict, Dict) -> HandlerFuture>;
/// An event handler: (arguments, keyword arguments, EVENT details).
pub type EventHandler = Rc<dyn Fn(Vec<Value>, Dict, Dict)>;

/// Code that runs inside the router as a session.
pub trait Component {
    /// Runs on the joined session; the component stops when this returns or
    /// when the session is closed (by the controller, say).
    fn run(self: Box<Self>, session: Session) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// Builds a component from its config (`extra` holds its settings).
pub type Factory =
    Box<dyn Fn(&ComponentConfig) -> Result<Box<dyn Component>, String> + Send + Sync>;

/// Components by class name.
#[derive(Default)]
pub struct Registry {
    factories: HashMap<String, Factory>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A registry holding the built-in components (see [`builtin`]).
    pub fn with_builtins() -> Registry {
        let mut r = Registry::new();
        builtin::register(&mut r);
        r
    }

    /// Registers a component class.
    pub fn add(
        &mut self,
        classname: &str,
        factory: impl Fn(&ComponentConfig) -> Result<Box<dyn Component>, String> + Send + Sync + 'static,
    ) {
        self.factories
            .insert(classname.to_owned(), Box::new(factory));
    }

    /// Builds a component.
    pub fn build(&self, config: &ComponentConfig) -> Result<Box<dyn Component>, String> {
        match self.factories.get(&config.classname) {
            Some(f) => f(config),
            None => Err(format!(
                "no component class '{}' (known: {})",
                config.classname,
                self.names().join(", ")
            )),
        }
    }

    /// The registered class names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.factories.keys().cloned().collect();
        n.sort();
        n
    }
}

/// What a component needs from the shard it runs on: a connection of the
/// router core, a way to hand the core a message on it, and a way to say it
/// is gone. The shard implements it (`shard/component_host.rs`).
pub trait ComponentHost {
    /// The frames the core sends to the connection.
    type Inbox: ComponentInbox + 'static;
    /// Opens a connection through `transport`; `details` describe it (the
    /// transport details the core reports).
    fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        details: Dict,
    ) -> (ConnId, Self::Inbox);
    /// Hands the core a message the component sent on `conn`.
    fn deliver(&self, conn: ConnId, msg: Message);
    /// The connection is gone.
    fn closed(&self, conn: ConnId);
}

/// The frames the core sends to a component's connection.
pub trait ComponentInbox {
    /// The next frames, in order; `None` when the core closed the connection.
    fn next_frames(&mut self) -> impl Future<Output = Option<Vec<Bytes>>>;
}

/// A one-shot slot a task awaits.
struct Slot<T> {
    value: RefCell<Option<T>>,
    waker: RefCell<Option<Waker>>,
}

impl<T> Slot<T> {
    fn new() -> Rc<Slot<T>> {
        Rc::new(Slot {
            value: RefCell::new(None),
            waker: RefCell::new(None),
        })
    }

    fn fill(&self, v: T) {
        *self.value.borrow_mut() = Some(v);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

struct SlotWait<T>(Rc<Slot<T>>);

impl<T> Future for SlotWait<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(v) = self.0.value.borrow_mut().take() {
            return Poll::Ready(v);
        }
        *self.0.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// What a request waits for.
type Reply = Result<(Id, Payload, Dict), CallFailure>;

struct Inner {
    wamp: RefCell<ClientSession>,
    deliver: Box<dyn Fn(Message)>,
    pending: RefCell<HashMap<Id, Rc<Slot<Reply>>>>,
    subscriptions: RefCell<HashMap<SubId, EventHandler>>,
    registrations: RefCell<HashMap<RegId, Handler>>,
    /// Handlers of REGISTERs not yet answered, by request id: REGISTERED
    /// files them under the registration as it arrives, before an
    /// INVOCATION right behind it can find none.
    registering: RefCell<HashMap<Id, Handler>>,
    /// The invocations being handled, by request id: filling one's slot
    /// (INTERRUPT) cancels its handler.
    invocations: RefCell<HashMap<Id, Rc<Slot<()>>>>,
    welcomed: Rc<Slot<bool>>,
    closed: Rc<Slot<()>>,
    is_closed: Cell<bool>,
}

/// A component's session: register, subscribe, publish, call.
#[derive(Clone)]
pub struct Session {
    inner: Rc<Inner>,
}

fn args_of(p: &Payload) -> (Vec<Value>, Dict) {
    values_of(p)
}

fn canceled() -> CallFailure {
    CallFailure::uri(crate::wamp::uris::ERROR_CANCELED)
}

/// A client-side error as the component API reports it.
fn failure(e: wamp::CallError) -> CallFailure {
    let payload = if e.args.is_empty() && e.kwargs.is_empty() {
        Payload::Empty
    } else {
        Payload::Values {
            kwargs: (!e.kwargs.is_empty()).then_some(e.kwargs),
            args: e.args,
        }
    };
    CallFailure {
        error: e.uri,
        details: e.details,
        payload,
    }
}

impl Session {
    /// The WAMP session id.
    pub fn id(&self) -> u64 {
        self.inner.wamp.borrow().id()
    }

    /// Hands the core what the session queued.
    fn flush(&self) {
        loop {
            let Some(m) = self.inner.wamp.borrow_mut().poll_transmit() else {
                return;
            };
            if self.inner.is_closed.get() {
                continue;
            }
            (self.inner.deliver)(m);
        }
    }

    /// Starts a request on the session and waits for its answer.
    async fn roundtrip(
        &self,
        start: impl FnOnce(&mut ClientSession) -> Result<Id, SessionError>,
    ) -> Reply {
        if self.inner.is_closed.get() {
            return Err(canceled());
        }
        let request = start(&mut self.inner.wamp.borrow_mut()).map_err(|_| canceled())?;
        let slot = Slot::new();
        self.inner
            .pending
            .borrow_mut()
            .insert(request, slot.clone());
        self.flush();
        let r = SlotWait(slot).await;
        self.inner.pending.borrow_mut().remove(&request);
        r
    }

    /// Calls a procedure.
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<(Vec<Value>, Dict), CallFailure> {
        let payload = Payload::Values {
            args,
            kwargs: Some(kwargs),
        };
        let (_, payload, _) = self
            .roundtrip(|w| w.call(procedure, Dict::new(), payload))
            .await?;
        Ok(args_of(&payload))
    }

    /// Registers a procedure.
    pub async fn register(&self, procedure: &str, handler: Handler) -> Result<RegId, CallFailure> {
        let mut request = None;
        let r = self
            .roundtrip(|w| {
                let id = w.register(procedure, Dict::new())?;
                self.inner.registering.borrow_mut().insert(id, handler);
                request = Some(id);
                Ok(id)
            })
            .await;
        if let Some(id) = request {
            self.inner.registering.borrow_mut().remove(&id);
        }
        let (id, _, _) = r?;
        Ok(id)
    }

    /// Subscribes to a topic.
    pub async fn subscribe(
        &self,
        topic: &str,
        options: Dict,
        handler: EventHandler,
    ) -> Result<SubId, CallFailure> {
        let (id, _, _) = self.roundtrip(|w| w.subscribe(topic, options)).await?;
        self.inner.subscriptions.borrow_mut().insert(id, handler);
        Ok(id)
    }

    /// Publishes an event (not acknowledged).
    pub fn publish(&self, topic: &str, args: Vec<Value>, kwargs: Dict) {
        if self.inner.is_closed.get() {
            return;
        }
        let payload = Payload::Values {
            args,
            kwargs: Some(kwargs),
        };
        let r = self
            .inner
            .wamp
            .borrow_mut()
            .publish(topic, Dict::new(), payload, false);
        if r.is_ok() {
            self.flush();
        }
    }

    /// Waits until the session is closed.
    pub async fn closed(&self) {
        if self.inner.is_closed.get() {
            return;
        }
        SlotWait(self.inner.closed.clone()).await
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed.get()
    }

    /// Leaves the realm (GOODBYE).
    pub fn leave(&self) {
        let r = self
            .inner
            .wamp
            .borrow_mut()
            .leave(crate::wamp::uris::CLOSE_NORMAL);
        if r.is_ok() {
            self.flush();
        }
    }

    fn on_close(&self) {
        if !self.inner.is_closed.replace(true) {
            let pending: Vec<Rc<Slot<Reply>>> = self
                .inner
                .pending
                .borrow_mut()
                .drain()
                .map(|(_, s)| s)
                .collect();
            for s in pending {
                s.fill(Err(CallFailure::message(
                    crate::wamp::uris::ERROR_CANCELED,
                    "the component's session closed",
                )));
            }
            self.inner.welcomed.fill(false);
            self.inner.closed.fill(());
        }
    }

    /// A message from the core: the session state machine first, then what
    /// it reported.
    fn receive(&self, msg: Message) {
        let _ = self.inner.wamp.borrow_mut().receive(msg);
        self.flush();
        loop {
            let Some(ev) = self.inner.wamp.borrow_mut().poll_event() else {
                return;
            };
            self.dispatch(ev);
        }
    }

    fn dispatch(&self, ev: Event) {
        let reply = |request: Id, r: Reply| {
            if let Some(slot) = self.inner.pending.borrow().get(&request) {
                slot.fill(r);
            }
        };
        match ev {
            Event::Joined { .. } => self.inner.welcomed.fill(true),
            Event::Reply { request, reply: r } => match r {
                Ok(wamp::Reply::Subscribed(subscription)) => {
                    reply(request, Ok((subscription, Payload::Empty, Dict::new())))
                }
                Ok(wamp::Reply::Registered(registration)) => {
                    let handler = self.inner.registering.borrow_mut().remove(&request);
                    if let Some(h) = handler {
                        self.inner
                            .registrations
                            .borrow_mut()
                            .insert(registration, h);
                    }
                    reply(request, Ok((registration, Payload::Empty, Dict::new())))
                }
                Ok(wamp::Reply::Result { details, payload }) => {
                    reply(request, Ok((0, payload, details)))
                }
                Ok(wamp::Reply::Published(id)) => {
                    reply(request, Ok((id, Payload::Empty, Dict::new())))
                }
                Ok(wamp::Reply::Unsubscribed | wamp::Reply::Unregistered) => {
                    reply(request, Ok((0, Payload::Empty, Dict::new())))
                }
                Err(e) => reply(request, Err(failure(e))),
            },
            Event::Event {
                subscription,
                details,
                payload,
                ..
            } => {
                let h = self
                    .inner
                    .subscriptions
                    .borrow()
                    .get(&subscription)
                    .cloned();
                if let Some(h) = h {
                    let (a, k) = args_of(&payload);
                    h(a, k, details);
                }
            }
            Event::Invocation {
                request,
                registration,
                details,
                payload,
            } => {
                let h = self
                    .inner
                    .registrations
                    .borrow()
                    .get(&registration)
                    .cloned();
                let me = self.clone();
                let interrupt = Slot::new();
                self.inner
                    .invocations
                    .borrow_mut()
                    .insert(request, interrupt.clone());
                glommio::spawn_local(async move {
                    let handle = async {
                        match h {
                            Some(h) => {
                                let (a, k) = args_of(&payload);
                                h(a, k, details).await
                            }
                            None => Err(CallFailure::uri(
                                crate::wamp::uris::ERROR_NO_SUCH_REGISTRATION,
                            )),
                        }
                    };
                    // INTERRUPT drops the handler's future where it waits.
                    let result = futures_lite::future::or(handle, async {
                        SlotWait(interrupt).await;
                        Err(canceled())
                    })
                    .await;
                    me.inner.invocations.borrow_mut().remove(&request);
                    let r = {
                        let mut w = me.inner.wamp.borrow_mut();
                        match result {
                            Ok(payload) => w.yield_result(request, payload, false),
                            Err(f) => w.invocation_error(request, &f.error, f.details, f.payload),
                        }
                    };
                    if r.is_ok() {
                        me.flush();
                    }
                })
                .detach();
            }
            Event::Interrupt { request, options } => {
                // `kill` and `killnowait` alike: the handler stops and the
                // router gets ERROR `wamp.error.canceled` (under `kill` it
                // waits for it; under `killnowait` it has answered the
                // caller already and drops it).
                let mode = options
                    .get("mode")
                    .and_then(Value::as_str)
                    .unwrap_or("kill");
                log::debug!("component session: invocation {request} interrupted ({mode})");
                let slot = self.inner.invocations.borrow().get(&request).cloned();
                if let Some(slot) = slot {
                    slot.fill(());
                }
            }
            Event::Closed(_) => self.on_close(),
            Event::Progress { .. }
            | Event::SubscriptionRevoked { .. }
            | Event::RegistrationRevoked { .. } => {}
        }
    }
}

/// A running component: stop it by dropping or calling [`Running::stop`].
pub struct Running {
    session: Session,
    task: Option<glommio::Task<()>>,
}

impl Running {
    /// The component's session id.
    pub fn session_id(&self) -> u64 {
        self.session.id()
    }

    /// Stops the component: its session leaves and its code stops running.
    pub fn stop(mut self) {
        self.session.leave();
        self.session.on_close();
        self.task.take();
    }
}

/// Starts a component on `host` (its shard): joins `realm` through
/// `transport` (an internal transport whose anonymous authentication gives
/// the component's authid and role), then runs it.
pub fn start<H: ComponentHost + 'static>(
    host: &Rc<H>,
    component: Box<dyn Component>,
    realm: &str,
    transport: TransportId,
) -> Running {
    // The core encodes what it sends the component with this serializer
    // (MessagePack: the cheapest to decode); what the component sends is
    // handed over as messages.
    let serializer = Serializer::MsgPack;
    let details = crate::dict! { "type" => "component" };
    let (conn, mut inbox) = host.open(serializer, transport, details);
    let deliver = {
        let host = host.clone();
        Box::new(move |m: Message| host.deliver(conn, m)) as Box<dyn Fn(Message)>
    };
    let welcomed = Slot::<bool>::new();
    let session = Session {
        inner: Rc::new(Inner {
            wamp: RefCell::new(ClientSession::new(realm, Box::new(Anonymous::default()))),
            deliver,
            pending: RefCell::new(HashMap::new()),
            subscriptions: RefCell::new(HashMap::new()),
            registrations: RefCell::new(HashMap::new()),
            registering: RefCell::new(HashMap::new()),
            invocations: RefCell::new(HashMap::new()),
            welcomed: welcomed.clone(),
            closed: Slot::new(),
            is_closed: Cell::new(false),
        }),
    };
    // The reader: frames the core sends the component.
    {
        let session = session.clone();
        let host = host.clone();
        glommio::spawn_local(async move {
            while let Some(frames) = inbox.next_frames().await {
                for f in frames {
                    if let Ok(m) = serializer.decode(&f) {
                        session.receive(m);
                    }
                }
            }
            session.inner.wamp.borrow_mut().transport_closed();
            session.on_close();
            host.closed(conn);
        })
        .detach();
    }
    // HELLO.
    session.flush();
    let task = {
        let session = session.clone();
        glommio::spawn_local(async move {
            if SlotWait(welcomed).await {
                let run = component.run(session.clone());
                futures_lite::future::or(run, session.closed()).await;
            } else {
                log::warn!("a component could not join its realm");
            }
        })
    };
    Running {
        session,
        task: Some(task),
    }
}

/// An in-process connection's sending side: messages go straight to the core.
struct InProcess<H: ComponentHost> {
    host: Rc<H>,
    conn: ConnId,
    closed: Cell<bool>,
}

impl<H: ComponentHost> crate::transport::dial::Outgoing for InProcess<H> {
    fn send(&self, msg: Message) -> bool {
        if self.closed.get() {
            return false;
        }
        self.host.deliver(self.conn, msg);
        true
    }

    fn close(&self) {
        if !self.closed.replace(true) {
            self.host.closed(self.conn);
        }
    }
}

/// A session dropped without closing (its task was canceled while joining,
/// say) still releases its connection of the core.
impl<H: ComponentHost> Drop for InProcess<H> {
    fn drop(&mut self) {
        if !self.closed.replace(true) {
            self.host.closed(self.conn);
        }
    }
}

/// Opens an in-process session on `host`'s router core through `transport`
/// (an internal transport: its authenticator gives the session its authid
/// and role) and joins `realm` with `auth`. The session has the dialed
/// session's API ([`crate::transport::dial::Session`]: options on every
/// request, progressive results, cancel, interrupts), which a router link's
/// local leg needs; `details` are the transport details the core reports.
/// The core encodes what it sends the session with `serializer`: a session
/// that passes payloads on to a connection (a router link's local leg) asks
/// for that connection's serializer, so that payloads go on as they came,
/// without transcoding; otherwise MessagePack, the cheapest to decode.
pub async fn open_session<H: ComponentHost + 'static>(
    host: &Rc<H>,
    realm: &str,
    transport: TransportId,
    details: Dict,
    auth: Box<dyn crate::client::auth::ClientAuthenticator>,
    serializer: Serializer,
) -> Result<crate::transport::dial::Session, crate::transport::dial::DialError> {
    use std::collections::VecDeque;
    let (conn, inbox) = host.open(serializer, transport, details);
    let out = Rc::new(InProcess {
        host: host.clone(),
        conn,
        closed: Cell::new(false),
    });
    let incoming: crate::transport::dial::Incoming = Box::pin(futures_lite::stream::unfold(
        (inbox, VecDeque::<Message>::new()),
        move |(mut inbox, mut queued)| async move {
            loop {
                if let Some(m) = queued.pop_front() {
                    return Some((m, (inbox, queued)));
                }
                let frames = inbox.next_frames().await?;
                for f in frames {
                    match serializer.decode(&f) {
                        Ok(m) => queued.push_back(m),
                        Err(e) => log::warn!("an in-process session could not decode a frame: {e}"),
                    }
                }
            }
        },
    ));
    let wamp = ClientSession::with_details(realm, auth, wamp::Roles::all(), Dict::new());
    crate::transport::dial::Session::join_over(wamp, out, incoming).await
}
