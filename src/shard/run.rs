//! A shard: the [`Shard`] value its tasks share (the router core, the
//! connections' outboxes, the mesh) and how it carries out what the core asks
//! (frames to outboxes, closes, peer messages); the [`Host`] it is to the
//! transports; and the shard loop — start-up on its executor, the peer,
//! timer and figures tasks, listeners, and the control loop until shutdown.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use glommio::channels::channel_mesh::{Full, MeshBuilder};

use crate::codec::Serializer;
use crate::router::peer::PeerMsg;
use crate::router::{ConnId, Output, RouterCore, ShardId, TlsInfo, TransportId};
use crate::transport::web::{HttpService, ServiceSpec};
use crate::transport::{
    spawn_admin, spawn_listener, CloseReason, Host, ListenerSpec, Listening, Outbox, QueueLimits,
};
use crate::wamp::value::Dict;

use super::channel::ControlReceiver;
use super::components::Components;
use super::control::ControlMsg;
use super::mesh::Mesh;
use super::ops::OpError;
use super::os::now_ms;
use super::timer::Notify;
use super::{RouterSpec, StartError};

/// A shard's runtime state, shared by its tasks.
pub(crate) struct Shard {
    pub id: ShardId,
    pub core: RefCell<RouterCore>,
    pub conns: RefCell<crate::router::HashMap<ConnId, Rc<Outbox>>>,
    next_conn: std::cell::Cell<ConnId>,
    mesh: Mesh,
    scratch: RefCell<Vec<Output>>,
    timer: Notify,
    /// Set when the shard is shutting down: no new connections.
    pub stopping: std::cell::Cell<bool>,
    /// Set while the sessions of a stopped listener are closed: their
    /// connections close as "going away".
    going_away: std::cell::Cell<bool>,
    /// The HTTP bridge services of web paths, by path transport id, built on first use.
    http: RefCell<HashMap<TransportId, Rc<crate::bridge::Bridge<Shard>>>>,
}

impl Shard {
    /// Registers a new connection with the core; returns its id and outbox.
    pub fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        details: Dict,
        tls: Option<TlsInfo>,
        limits: QueueLimits,
    ) -> (ConnId, Rc<Outbox>) {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        let ob = Rc::new(Outbox::new(limits));
        self.conns.borrow_mut().insert(id, ob.clone());
        self.core
            .borrow_mut()
            .open(id, serializer, transport, details, tls.map(Arc::new));
        self.pump();
        (id, ob)
    }

    /// A frame arrived on a connection.
    pub fn frame(&self, conn: ConnId, frame: &bytes::Bytes) {
        {
            let mut core = self.core.borrow_mut();
            // The core's clock (call timeouts, timestamps) moves with every input.
            core.advance(now_ms());
            core.receive_frame(conn, frame);
        }
        self.pump();
    }

    /// A connection is gone.
    pub fn closed(&self, conn: ConnId) {
        self.conns.borrow_mut().remove(&conn);
        self.core.borrow_mut().close(conn);
        self.pump();
    }

    /// Carries out what the core asked for.
    pub fn pump(&self) {
        let mut outs = std::mem::take(&mut *self.scratch.borrow_mut());
        {
            let mut core = self.core.borrow_mut();
            std::mem::swap(&mut outs, core.outputs());
        }
        let mut dropped = 0u64;
        {
            let conns = self.conns.borrow();
            for o in outs.drain(..) {
                match o {
                    Output::Send { conn, frame, ty } => {
                        if let Some(ob) = conns.get(&conn) {
                            if !ob.push(frame, ty) {
                                dropped += 1;
                            }
                        }
                    }
                    Output::Close { conn } => {
                        if let Some(ob) = conns.get(&conn) {
                            // At shutdown, or when a listener is stopped with its
                            // sessions, the router is the one going away.
                            ob.close_with(if self.stopping.get() || self.going_away.get() {
                                CloseReason::GoingAway
                            } else {
                                CloseReason::Normal
                            });
                        }
                    }
                    Output::Peer { to, msg } => self.mesh.send(to, *msg),
                }
            }
        }
        *self.scratch.borrow_mut() = outs;
        if dropped > 0 {
            self.core.borrow_mut().note_dropped(dropped);
        }
        if let Some(at) = self.core.borrow().next_deadline() {
            self.timer.notify_if_earlier(at);
        }
    }
}

impl Host for Shard {
    fn shard(&self) -> ShardId {
        self.id
    }

    fn stopping(&self) -> bool {
        self.stopping.get()
    }

    fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        details: Dict,
        tls: Option<TlsInfo>,
        limits: QueueLimits,
    ) -> (ConnId, Rc<Outbox>) {
        Shard::open(self, serializer, transport, details, tls, limits)
    }

    fn frame(&self, conn: ConnId, frame: &bytes::Bytes) {
        Shard::frame(self, conn, frame)
    }

    fn closed(&self, conn: ConnId) {
        Shard::closed(self, conn)
    }

    fn note_transport_protocol_error(&self) {
        self.core.borrow_mut().note_transport_protocol_error();
    }

    fn note_oversize_message(&self) {
        self.core.borrow_mut().note_oversize_message();
    }

    fn note_connection_refused(&self) {
        self.core.borrow_mut().note_connection_refused();
    }

    fn note_tls_handshake_failure(&self) {
        self.core.borrow_mut().note_tls_handshake_failure();
    }

    fn http_service(self: &Rc<Self>, spec: &ServiceSpec) -> Option<Rc<dyn HttpService>> {
        if let Some(s) = self.http.borrow().get(&spec.id) {
            return Some(s.clone());
        }
        let s = Rc::new(crate::bridge::Bridge::new(self, spec));
        self.http.borrow_mut().insert(spec.id, s.clone());
        Some(s)
    }
}

/// One shard's life: join the mesh, set up the core, start the peer, timer,
/// figures and listener tasks, then serve control messages until shutdown.
pub(crate) async fn shard_main(
    spec: Arc<RouterSpec>,
    mesh: MeshBuilder<PeerMsg, Full>,
    receivers: Arc<Mutex<Vec<Option<ControlReceiver<ControlMsg>>>>>,
    ready: crossbeam_channel::Sender<Result<(), StartError>>,
    seed: u64,
) -> Result<(), StartError> {
    let (mesh, inbox) = Mesh::join(mesh, spec.shards.max(1))
        .await
        .ok_or_else(|| StartError::Shard("cannot join the channel mesh".into()))?;
    let id = usize::from(mesh.id());
    let shards = spec.shards.max(1);
    let control = receivers
        .lock()
        .map_err(|_| StartError::Shard("control channels poisoned".into()))?
        .get_mut(id)
        .and_then(Option::take)
        .ok_or_else(|| StartError::Shard(format!("no control channel for shard {id}")))?;
    let mut core = RouterCore::new(id as ShardId, shards as u16, seed);
    core.advance(now_ms());
    core.set_router_key(spec.router_key.clone());
    for (i, r) in spec.realms.iter().enumerate() {
        core.start_realm(i as u32, r.clone())
            .map_err(|e| StartError::Config(format!("realm '{}': {e}", r.name)))?;
        if let Some((_, only)) = spec.realm_transports.iter().find(|(n, _)| *n == r.name) {
            core.limit_realm_to(i as u32, Some(only.clone()));
        }
    }
    for l in &spec.listeners {
        super::web::set_up_transports(&mut core, l)
            .map_err(|e| StartError::Config(format!("transport '{}': {e}", l.name)))?;
    }
    let shard = Rc::new(Shard {
        id: id as ShardId,
        core: RefCell::new(core),
        conns: RefCell::new(crate::router::HashMap::default()),
        next_conn: std::cell::Cell::new(1),
        mesh,
        scratch: RefCell::new(Vec::new()),
        timer: Notify::default(),
        stopping: std::cell::Cell::new(false),
        going_away: std::cell::Cell::new(false),
        http: RefCell::new(HashMap::new()),
    });

    // Peer messages.
    let mut tasks = {
        let shard = shard.clone();
        inbox.spawn(move |from, msg| {
            {
                let mut core = shard.core.borrow_mut();
                core.advance(now_ms());
                core.peer(from, msg);
            }
            shard.pump();
        })
    };
    // Timers.
    {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            loop {
                let next = shard.core.borrow().next_deadline();
                match next {
                    None => shard.timer.wait(u64::MAX).await,
                    Some(at) => {
                        let now = now_ms();
                        if at > now {
                            shard
                                .timer
                                .wait_until(at, Duration::from_millis(at - now))
                                .await;
                        }
                    }
                }
                shard.core.borrow_mut().advance(now_ms());
                shard.pump();
            }
        }));
    }
    // Runtime figures: outgoing queue depth and loop stalls, sampled every 100 ms.
    {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            let mut stalls = 0u64;
            let (ev, call) = (
                crate::wamp::message::MessageType::Event.index(),
                crate::wamp::message::MessageType::Call.index(),
            );
            let mut window: VecDeque<(u64, u64)> = VecDeque::new();
            loop {
                let before = Instant::now();
                glommio::timer::sleep(Duration::from_millis(100)).await;
                if before.elapsed() > Duration::from_millis(150) {
                    stalls += 1;
                }
                let queued: usize = shard.conns.borrow().values().map(|o| o.len()).sum();
                let mut core = shard.core.borrow_mut();
                core.note_runtime(queued as u64, stalls);
                let now = (core.stats().sent[ev], core.stats().received[call]);
                window.push_back(now);
                if window.len() > 11 {
                    window.pop_front();
                }
                if let Some(first) = window.front() {
                    // samples are 100 ms apart: a window of n samples spans (n - 1) / 10 s
                    let spans = (window.len() as u64 - 1).max(1);
                    core.note_rates(
                        (now.0 - first.0) * 10 / spans,
                        (now.1 - first.1) * 10 / spans,
                    );
                }
            }
        }));
    }
    // Listeners.
    let mut listeners: HashMap<TransportId, (Listening, ListenerSpec)> = HashMap::new();
    for l in &spec.listeners {
        if let Some(task) = spawn_listener(&shard, l)? {
            listeners.insert(l.id, (task, l.clone()));
        }
    }
    // Components: the start-up ones arrive as control messages.
    let mut components = Components::default();
    let mut links = super::components::Links::default();
    let _ = ready.send(Ok(()));
    log::debug!("shard {id} running");

    // The control loop.
    while let Some(msg) = control.recv().await {
        match msg {
            ControlMsg::Core(op) => {
                op.run(&mut shard.core.borrow_mut());
                shard.pump();
            }
            ControlMsg::StartListener { spec, reply } => {
                reply.send(start_listener(&shard, &spec, &mut listeners));
            }
            ControlMsg::StopListener { id, close, reply } => {
                let ids = match listeners.remove(&id) {
                    Some((_, spec)) => spec.session_transports(),
                    None => vec![id],
                };
                // A bridge's session goes with its path, whatever `close` says.
                let bridges: Vec<TransportId> = ids
                    .iter()
                    .copied()
                    .filter(|i| shard.http.borrow_mut().remove(i).is_some())
                    .collect();
                if close.is_none() && !bridges.is_empty() {
                    for i in bridges {
                        shard
                            .core
                            .borrow_mut()
                            .close_transport(i, crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
                    }
                    shard.pump();
                }
                if let Some(reason) = close {
                    for i in ids {
                        shard.core.borrow_mut().close_transport(i, &reason);
                    }
                    shard.going_away.set(true);
                    shard.pump();
                    shard.going_away.set(false);
                }
                reply.send(());
            }
            ControlMsg::StartAdmin { addr, site, reply } => {
                reply.send(match spawn_admin(addr, site) {
                    Ok((bound, task)) => {
                        tasks.push(task);
                        Ok(bound)
                    }
                    Err(e) => Err(OpError::Admin {
                        addr,
                        error: e.to_string(),
                    }),
                });
            }
            ControlMsg::StartComponent {
                config,
                registry,
                transport,
                reply,
            } => {
                reply.send(components.start(&shard, &config, &registry, transport));
            }
            ControlMsg::StopComponent { id, reply } => {
                reply.send(components.stop(&id));
            }
            ControlMsg::StartLink { spec, stats, reply } => {
                reply.send(links.start(&shard, *spec, stats));
            }
            ControlMsg::StopLink { realm, id, reply } => {
                reply.send(links.stop(&realm, &id));
            }
            ControlMsg::BridgeFigures { reply } => {
                let figures = shard
                    .http
                    .borrow()
                    .iter()
                    .map(|(id, b)| (*id, b.figures()))
                    .collect();
                reply.send(figures);
            }
            ControlMsg::StartWebPath { spec, reply } => {
                reply.send(super::web::set_up_path(&mut shard.core.borrow_mut(), &spec));
            }
            ControlMsg::Shutdown { reason } => {
                shard.stopping.set(true);
                drop(std::mem::take(&mut listeners));
                components.stop_all();
                links.stop_all();
                shard.core.borrow_mut().shutdown(&reason);
                shard.pump();
                // Let the writers flush their GOODBYEs, within a bound.
                let deadline = Instant::now() + Duration::from_secs(3);
                while !shard.conns.borrow().is_empty() && Instant::now() < deadline {
                    glommio::timer::sleep(Duration::from_millis(5)).await;
                }
                break;
            }
        }
    }
    // Every shard lets go of its mesh ends before any executor exits: a channel
    // end dropped after its peer's executor is gone touches freed memory.
    drop(tasks);
    shard.mesh.close();
    drop(shard);
    log::debug!("shard {id} stopped");
    Ok(())
}

/// Sets a new transport's authentication on the core and starts accepting
/// on it (when it is for this shard).
fn start_listener(
    shard: &Rc<Shard>,
    spec: &ListenerSpec,
    listeners: &mut HashMap<TransportId, (Listening, ListenerSpec)>,
) -> Result<(), OpError> {
    super::web::set_up_transports(&mut shard.core.borrow_mut(), spec)?;
    if let Some(task) = spawn_listener(shard, spec)? {
        listeners.insert(spec.id, (task, spec.clone()));
    }
    Ok(())
}
