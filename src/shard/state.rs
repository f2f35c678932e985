//! The [`Shard`] value its tasks share (the router core, the connections'
//! outboxes, the mesh, the timer's wake-up, the bridge services of web
//! paths) and how it carries out what the core asks (frames to outboxes,
//! closes, peer messages); and the [`Host`] it is to the transports. The
//! shard loop (`run.rs`) builds it and the components and links
//! (`components.rs`) run on it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::codec::Serializer;
use crate::router::{
    ConnId, NetworkKind, Output, RouterCore, ShardId, TlsInfo, TransportDetails, TransportId,
};
use crate::transport::web::{HttpService, ServiceSpec};
use crate::transport::{CloseReason, Host, Outbox, QueueLimits, Wire};

use super::mesh::Mesh;
use super::os::now_ms;
use super::timer::Notify;

/// A shard's runtime state, shared by its tasks.
pub(crate) struct Shard {
    pub id: ShardId,
    pub core: RefCell<RouterCore>,
    pub conns: RefCell<crate::router::HashMap<ConnId, Rc<Outbox>>>,
    next_conn: std::cell::Cell<ConnId>,
    pub(super) mesh: Mesh,
    scratch: RefCell<Vec<Output>>,
    pub(super) timer: Notify,
    /// Set when the shard is shutting down: no new connections.
    pub stopping: std::cell::Cell<bool>,
    /// The HTTP bridge services of web paths, by path transport id, built on first use.
    pub(super) http: RefCell<HashMap<TransportId, Rc<crate::bridge::Bridge<Shard>>>>,
}

impl Shard {
    /// Shard `id`'s state around its `core` and its end of the `mesh`.
    pub(super) fn new(id: ShardId, core: RouterCore, mesh: Mesh) -> Shard {
        Shard {
            id,
            core: RefCell::new(core),
            conns: RefCell::new(crate::router::HashMap::default()),
            next_conn: std::cell::Cell::new(1),
            mesh,
            scratch: RefCell::new(Vec::new()),
            timer: Notify::default(),
            stopping: std::cell::Cell::new(false),
            http: RefCell::new(HashMap::new()),
        }
    }

    /// The core, its clock moved to now first: every input to the core goes
    /// through here, so that a deadline it arms (HELLO, AUTHENTICATE, call
    /// timeouts, GOODBYE replies) counts from now, not from the last input
    /// of a shard that has been idle.
    pub fn core_now(&self) -> std::cell::RefMut<'_, RouterCore> {
        let mut core = self.core.borrow_mut();
        core.advance(now_ms());
        core
    }

    /// Registers a new connection with the core; returns its id and outbox.
    pub fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        details: TransportDetails,
        tls: Option<Arc<TlsInfo>>,
        limits: QueueLimits,
    ) -> (ConnId, Rc<Outbox>) {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        let ob = Rc::new(Outbox::new(limits));
        self.conns.borrow_mut().insert(id, ob.clone());
        self.core_now()
            .open(id, serializer, transport, details, tls);
        self.pump();
        (id, ob)
    }

    /// A frame arrived on a connection.
    pub fn frame(&self, conn: ConnId, frame: &bytes::Bytes) {
        self.core_now().receive_frame(conn, frame);
        self.pump();
    }

    /// A connection is gone.
    pub fn closed(&self, conn: ConnId) {
        self.conns.borrow_mut().remove(&conn);
        self.core_now().close(conn);
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
                            let away = self.stopping.get() || self.core.borrow().going_away(conn);
                            ob.close_with(if away {
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
        wire: Wire,
        peer: &str,
        tls: Option<Arc<TlsInfo>>,
        limits: QueueLimits,
    ) -> (ConnId, Rc<Outbox>) {
        let details = TransportDetails::Network {
            kind: match wire {
                Wire::WebSocket => NetworkKind::WebSocket,
                Wire::RawSocket => NetworkKind::RawSocket,
            },
            peer: peer.into(),
            serializer,
            tls_version: tls.as_ref().map(|t| t.version.as_str().into()),
        };
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
