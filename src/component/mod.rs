//! Router components: Rust code joined to a realm under a role as an
//! in-process session that can register, subscribe, publish and call — what
//! Crossbar.io runs as `type = "class"` components. A component is compiled in
//! and registered by name in a [`Registry`]; config or the controller starts
//! and stops it on a shard.
//!
//! A component's session is an ordinary connection of its shard's router core
//! (same authorization, meta events and statistics as any client); its frames
//! travel in memory instead of over a socket.
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

use crate::codec::Serializer;
use crate::config::ComponentConfig;
use crate::router::peer::CallFailure;
use crate::router::{ConnId, RegId, SubId, TransportId};
use crate::shard::outbox::{Batch, Out};
use crate::shard::{QueueLimits, Shard};
use crate::wamp::message::{Id, Message, MessageType, Payload};
use crate::wamp::value::{Dict, Value};

/// What a procedure handler returns.
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
    shard: Rc<Shard>,
    conn: ConnId,
    serializer: Serializer,
    session: Cell<u64>,
    next_request: Cell<Id>,
    pending: RefCell<HashMap<Id, Rc<Slot<Reply>>>>,
    subscriptions: RefCell<HashMap<SubId, EventHandler>>,
    registrations: RefCell<HashMap<RegId, Handler>>,
    /// Handlers of REGISTERs not yet answered, by request id: REGISTERED
    /// files them under the registration as it arrives, before an
    /// INVOCATION right behind it can find none.
    registering: RefCell<HashMap<Id, Handler>>,
    closed: Rc<Slot<()>>,
    is_closed: Cell<bool>,
}

/// A component's session: register, subscribe, publish, call.
#[derive(Clone)]
pub struct Session {
    inner: Rc<Inner>,
}

fn args_of(p: &Payload) -> (Vec<Value>, Dict) {
    match p.to_values() {
        Ok(Payload::Values { args, kwargs }) => (args, kwargs.unwrap_or_default()),
        _ => (Vec::new(), Dict::new()),
    }
}

impl Session {
    /// The WAMP session id.
    pub fn id(&self) -> u64 {
        self.inner.session.get()
    }

    fn send(&self, msg: &Message) {
        if self.inner.is_closed.get() {
            return;
        }
        if let Ok(frame) = self.inner.serializer.encode(msg) {
            self.inner.shard.frame(self.inner.conn, &Bytes::from(frame));
        }
    }

    fn request(&self) -> (Id, Rc<Slot<Reply>>) {
        let id = self.inner.next_request.get();
        self.inner.next_request.set(id + 1);
        let slot = Slot::new();
        self.inner.pending.borrow_mut().insert(id, slot.clone());
        (id, slot)
    }

    async fn roundtrip(&self, id: Id, slot: Rc<Slot<Reply>>, msg: Message) -> Reply {
        if self.inner.is_closed.get() {
            return Err(CallFailure::uri(crate::wamp::uris::ERROR_CANCELED));
        }
        self.send(&msg);
        let r = SlotWait(slot).await;
        self.inner.pending.borrow_mut().remove(&id);
        r
    }

    /// Calls a procedure.
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<(Vec<Value>, Dict), CallFailure> {
        let (request, slot) = self.request();
        let msg = Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            payload: Payload::Values {
                args,
                kwargs: Some(kwargs),
            },
        };
        let (_, payload, _) = self.roundtrip(request, slot, msg).await?;
        Ok(args_of(&payload))
    }

    /// Registers a procedure.
    pub async fn register(&self, procedure: &str, handler: Handler) -> Result<RegId, CallFailure> {
        let (request, slot) = self.request();
        let msg = Message::Register {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
        };
        self.inner.registering.borrow_mut().insert(request, handler);
        let r = self.roundtrip(request, slot, msg).await;
        self.inner.registering.borrow_mut().remove(&request);
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
        let (request, slot) = self.request();
        let msg = Message::Subscribe {
            request,
            options,
            topic: topic.into(),
        };
        let (id, _, _) = self.roundtrip(request, slot, msg).await?;
        self.inner.subscriptions.borrow_mut().insert(id, handler);
        Ok(id)
    }

    /// Publishes an event (not acknowledged).
    pub fn publish(&self, topic: &str, args: Vec<Value>, kwargs: Dict) {
        let request = self.inner.next_request.get();
        self.inner.next_request.set(request + 1);
        self.send(&Message::Publish {
            request,
            options: Dict::new(),
            topic: topic.into(),
            payload: Payload::Values {
                args,
                kwargs: Some(kwargs),
            },
        });
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
        self.send(&Message::Goodbye {
            details: Dict::new(),
            reason: crate::wamp::uris::CLOSE_NORMAL.into(),
        });
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
            self.inner.closed.fill(());
        }
    }

    fn dispatch(&self, msg: Message) {
        let reply = |request: Id, r: Reply| {
            if let Some(slot) = self.inner.pending.borrow().get(&request) {
                slot.fill(r);
            }
        };
        match msg {
            Message::Welcome { session, .. } => self.inner.session.set(session),
            Message::Subscribed {
                request,
                subscription,
            } => reply(request, Ok((subscription, Payload::Empty, Dict::new()))),
            Message::Registered {
                request,
                registration,
            } => {
                let handler = self.inner.registering.borrow_mut().remove(&request);
                if let Some(h) = handler {
                    self.inner
                        .registrations
                        .borrow_mut()
                        .insert(registration, h);
                }
                reply(request, Ok((registration, Payload::Empty, Dict::new())))
            }
            Message::Result {
                request,
                payload,
                details,
            } => reply(request, Ok((0, payload, details))),
            Message::Error {
                request,
                error,
                details,
                payload,
                ..
            } => reply(
                request,
                Err(CallFailure {
                    error,
                    details,
                    payload,
                }),
            ),
            Message::Event {
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
            Message::Invocation {
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
                glommio::spawn_local(async move {
                    let result = match h {
                        Some(h) => {
                            let (a, k) = args_of(&payload);
                            h(a, k, details).await
                        }
                        None => Err(CallFailure::uri(
                            crate::wamp::uris::ERROR_NO_SUCH_REGISTRATION,
                        )),
                    };
                    match result {
                        Ok(payload) => me.send(&Message::Yield {
                            request,
                            options: Dict::new(),
                            payload,
                        }),
                        Err(f) => me.send(&Message::Error {
                            request_type: MessageType::Invocation,
                            request,
                            details: f.details,
                            error: f.error,
                            payload: f.payload,
                        }),
                    }
                })
                .detach();
            }
            Message::Abort { .. } | Message::Goodbye { .. } => self.on_close(),
            _ => {}
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

/// Starts a component on this shard: joins `realm` through `transport` (an
/// internal transport whose anonymous authentication gives the component's
/// authid and role), then runs it.
pub(crate) fn start(
    shard: &Rc<Shard>,
    component: Box<dyn Component>,
    realm: &str,
    transport: TransportId,
) -> Running {
    let serializer = Serializer::MsgPack;
    let details = crate::dict! { "type" => "component" };
    let (conn, outbox) = shard.open(serializer, transport, details, QueueLimits::default());
    let session = Session {
        inner: Rc::new(Inner {
            shard: shard.clone(),
            conn,
            serializer,
            session: Cell::new(0),
            next_request: Cell::new(1),
            pending: RefCell::new(HashMap::new()),
            subscriptions: RefCell::new(HashMap::new()),
            registrations: RefCell::new(HashMap::new()),
            registering: RefCell::new(HashMap::new()),
            closed: Slot::new(),
            is_closed: Cell::new(false),
        }),
    };
    let welcomed = Slot::<bool>::new();
    // The reader: frames the core sends the component.
    {
        let session = session.clone();
        let welcomed = welcomed.clone();
        glommio::spawn_local(async move {
            while let Batch::Write(frames) = outbox.next_batch().await {
                for Out::Frame(f) in frames {
                    if let Ok(m) = serializer.decode(&f) {
                        let first = matches!(m, Message::Welcome { .. } | Message::Abort { .. });
                        let ok = matches!(m, Message::Welcome { .. });
                        session.dispatch(m);
                        if first {
                            welcomed.fill(ok);
                        }
                    }
                }
            }
            session.on_close();
            welcomed.fill(false);
            session.inner.shard.closed(conn);
        })
        .detach();
    }
    let roles = Value::Dict(crate::router::sim::all_roles());
    session.send(&Message::Hello {
        realm: realm.into(),
        details: crate::dict! { "roles" => roles },
    });
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
