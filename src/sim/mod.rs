//! A deterministic, single-threaded harness for the sharded core: `N`
//! [`RouterCore`]s, the mesh between them as FIFO queues per ordered shard
//! pair, a seeded scheduler that picks which queue delivers next (so every
//! interleaving the real mesh allows can happen, reproducibly), a clock, and
//! in-process clients whose frames go through the real codecs.
//!
//! Tests, the simulation test and `benches/router.rs` drive the core through it.
//! It is a harness over the router and the client stack, so it lives beside
//! them, not inside the router: a client joins through the sans-IO
//! [`ClientSession`] ([`Sim::join`], [`Sim::join_with`]) and may keep driving
//! it ([`Sim::drive`]), or sends raw messages ([`Sim::send`]) to probe the
//! router with what a well-behaved client would never send.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::client::auth::{Anonymous, ClientAuthenticator};
use crate::client::session::{ClientSession, Event, Roles};
use crate::codec::Serializer;
use crate::config::auth::TransportAuth;
use crate::config::realm::RealmConfig;
use crate::dict;
use crate::router::auth::Authenticator;
use crate::router::peer::PeerMsg;
use crate::router::{ConnId, Output, RealmId, RouterCore, ShardId, TransportId};
use crate::wamp::message::Message;
use crate::wamp::value::{Dict, Value};

/// A client of the simulated router.
pub type ClientId = usize;

/// One simulated client connection.
#[derive(Debug)]
pub struct Client {
    /// The shard its connection lives on.
    pub shard: ShardId,
    /// Its connection id there.
    pub conn: ConnId,
    /// Its serializer.
    pub serializer: Serializer,
    /// Messages received and not yet taken.
    pub inbox: VecDeque<Message>,
    /// The router closed the connection.
    pub closed: bool,
    /// The client session, once [`Sim::join`] or [`Sim::join_with`] opened one.
    pub wamp: Option<ClientSession>,
}

/// The simulated router: shards, mesh, clock and clients.
pub struct Sim {
    /// The shards' cores.
    pub cores: Vec<RouterCore>,
    mesh: HashMap<(ShardId, ShardId), VecDeque<PeerMsg>>,
    /// The clients, by id.
    pub clients: Vec<Client>,
    by_conn: HashMap<(ShardId, ConnId), ClientId>,
    next_conn: ConnId,
    rng: StdRng,
    /// Milliseconds since the simulation started.
    pub now_ms: u64,
    /// Peer messages delivered so far.
    pub delivered: u64,
}

/// The transport every simulated client connects through.
pub const TRANSPORT: TransportId = 0;

impl Sim {
    /// `shards` cores seeded with `seed`, with one anonymous-auth transport (role `anonymous`).
    pub fn new(shards: u16, seed: u64) -> Sim {
        let mut sim = Sim {
            cores: (0..shards)
                .map(|s| RouterCore::new(s, shards, seed))
                .collect(),
            mesh: HashMap::new(),
            clients: Vec::new(),
            by_conn: HashMap::new(),
            next_conn: 1,
            rng: StdRng::seed_from_u64(seed),
            now_ms: 1_795_995_249_000,
            delivered: 0,
        };
        sim.set_transport(TRANSPORT, &TransportAuth::anonymous_only("anonymous"));
        for c in &mut sim.cores {
            c.advance(1_795_995_249_000);
        }
        sim
    }

    /// Configures a transport's authentication on every shard.
    pub fn set_transport(&mut self, id: TransportId, auth: &TransportAuth) {
        for c in &mut self.cores {
            if let Ok(a) = Authenticator::new(auth) {
                c.set_transport(id, a);
            }
        }
    }

    /// Starts a realm on every shard.
    pub fn start_realm(&mut self, id: RealmId, config: RealmConfig) {
        for c in &mut self.cores {
            if let Err(e) = c.start_realm(id, config.clone()) {
                panic!("realm config: {e}");
            }
        }
    }

    /// Opens a connection on `shard` through [`TRANSPORT`].
    pub fn connect(&mut self, shard: ShardId, serializer: Serializer) -> ClientId {
        self.connect_via(shard, serializer, TRANSPORT)
    }

    /// Opens a connection on `shard` through transport `transport`.
    pub fn connect_via(
        &mut self,
        shard: ShardId,
        serializer: Serializer,
        transport: TransportId,
    ) -> ClientId {
        let peer = format!("sim:{}", self.clients.len());
        self.connect_from(shard, serializer, transport, &peer)
    }

    /// Opens a connection on `shard` through `transport` from the peer address `peer` ("ip:port").
    pub fn connect_from(
        &mut self,
        shard: ShardId,
        serializer: Serializer,
        transport: TransportId,
        peer: &str,
    ) -> ClientId {
        self.connect_with(shard, serializer, transport, peer, None)
    }

    /// Opens a connection as [`Sim::connect_from`] does, one that the
    /// transport says is TLS with what `tls` holds (channel bindings, ...).
    pub fn connect_tls(
        &mut self,
        shard: ShardId,
        serializer: Serializer,
        transport: TransportId,
        tls: crate::router::TlsInfo,
    ) -> ClientId {
        let peer = format!("sim:{}", self.clients.len());
        self.connect_with(shard, serializer, transport, &peer, Some(tls))
    }

    fn connect_with(
        &mut self,
        shard: ShardId,
        serializer: Serializer,
        transport: TransportId,
        peer: &str,
        tls: Option<crate::router::TlsInfo>,
    ) -> ClientId {
        let conn = self.next_conn;
        self.next_conn += 1;
        let id = self.clients.len();
        self.clients.push(Client {
            shard,
            conn,
            serializer,
            inbox: VecDeque::new(),
            closed: false,
            wamp: None,
        });
        self.by_conn.insert((shard, conn), id);
        self.cores[shard as usize].open(
            conn,
            serializer,
            transport,
            crate::router::TransportDetails::from_dict(
                dict! { "type" => "sim", "peer" => peer },
                serializer,
            ),
            tls.map(std::sync::Arc::new),
        );
        self.collect(shard);
        id
    }

    /// A client sends a message (encoded and decoded through its serializer, as on the wire).
    pub fn send(&mut self, client: ClientId, msg: &Message) {
        let c = &self.clients[client];
        if c.closed {
            return;
        }
        let (shard, conn, ser) = (c.shard, c.conn, c.serializer);
        match ser.encode(msg) {
            Ok(frame) => self.cores[shard as usize].receive_frame(conn, &Bytes::from(frame)),
            Err(e) => panic!("client encode: {e}"),
        }
        self.collect(shard);
    }

    /// A client sends raw bytes.
    pub fn send_raw(&mut self, client: ClientId, frame: &[u8]) {
        let c = &self.clients[client];
        let (shard, conn) = (c.shard, c.conn);
        self.cores[shard as usize].receive_frame(conn, &Bytes::copy_from_slice(frame));
        self.collect(shard);
    }

    /// A client's connection drops.
    pub fn disconnect(&mut self, client: ClientId) {
        let c = &mut self.clients[client];
        if c.closed {
            return;
        }
        c.closed = true;
        let (shard, conn) = (c.shard, c.conn);
        self.cores[shard as usize].close(conn);
        self.collect(shard);
    }

    /// Moves a core's outputs into client inboxes and mesh queues.
    fn collect(&mut self, shard: ShardId) {
        let outs = self.cores[shard as usize].take_outputs();
        let mut closes = Vec::new();
        for o in outs {
            match o {
                Output::Send { conn, frame, .. } => {
                    if let Some(&id) = self.by_conn.get(&(shard, conn)) {
                        let c = &mut self.clients[id];
                        match c.serializer.decode(&frame) {
                            Ok(m) => c.inbox.push_back(m),
                            Err(e) => panic!("router sent an undecodable frame: {e}"),
                        }
                    }
                }
                Output::Close { conn } => closes.push(conn),
                Output::Peer { to, msg } => {
                    self.mesh.entry((shard, to)).or_default().push_back(*msg)
                }
            }
        }
        for conn in closes {
            if let Some(&id) = self.by_conn.get(&(shard, conn)) {
                if !self.clients[id].closed {
                    self.clients[id].closed = true;
                    self.cores[shard as usize].close(conn);
                    // closing produces no frames for the closed conn, but may produce peer messages
                    let more = self.cores[shard as usize].take_outputs();
                    for o in more {
                        if let Output::Peer { to, msg } = o {
                            self.mesh.entry((shard, to)).or_default().push_back(*msg);
                        } else if let Output::Send { conn, frame, .. } = o {
                            if let Some(&other) = self.by_conn.get(&(shard, conn)) {
                                let c = &mut self.clients[other];
                                if let Ok(m) = c.serializer.decode(&frame) {
                                    c.inbox.push_back(m);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs `f` on a shard's core (a control operation, say) and routes what it produced.
    pub fn on_core<R>(&mut self, shard: ShardId, f: impl FnOnce(&mut RouterCore) -> R) -> R {
        let r = f(&mut self.cores[shard as usize]);
        self.collect(shard);
        r
    }

    /// Delivers one pending peer message, from a queue chosen at random; false when none is pending.
    pub fn step(&mut self) -> bool {
        let keys: Vec<(ShardId, ShardId)> = {
            let mut k: Vec<_> = self
                .mesh
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| *k)
                .collect();
            k.sort_unstable();
            k
        };
        if keys.is_empty() {
            return false;
        }
        let (from, to) = keys[self.rng.random_range(0..keys.len())];
        let Some(msg) = self.mesh.get_mut(&(from, to)).and_then(VecDeque::pop_front) else {
            return false;
        };
        self.delivered += 1;
        self.cores[to as usize].peer(from, msg);
        self.collect(to);
        true
    }

    /// Delivers the oldest message queued from `from` to `to`, if any.
    pub fn step_from(&mut self, from: ShardId, to: ShardId) -> bool {
        let Some(msg) = self.mesh.get_mut(&(from, to)).and_then(VecDeque::pop_front) else {
            return false;
        };
        self.delivered += 1;
        self.cores[to as usize].peer(from, msg);
        self.collect(to);
        true
    }

    /// Delivers peer messages until none is pending.
    pub fn run(&mut self) {
        let mut guard = 0u64;
        while self.step() {
            guard += 1;
            assert!(guard < 50_000_000, "the mesh never went quiet");
        }
    }

    /// How many peer messages are waiting.
    pub fn pending(&self) -> usize {
        self.mesh.values().map(VecDeque::len).sum()
    }

    /// Moves the clock forward, firing due timers on every shard.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        for s in 0..self.cores.len() {
            self.cores[s].advance(self.now_ms);
            self.collect(s as ShardId);
        }
    }

    /// Takes everything a client received.
    pub fn take(&mut self, client: ClientId) -> Vec<Message> {
        self.clients[client].inbox.drain(..).collect()
    }

    /// Takes the oldest message a client received.
    pub fn pop(&mut self, client: ClientId) -> Option<Message> {
        self.clients[client].inbox.pop_front()
    }

    /// HELLO with `details` (roles added when absent); runs the mesh; returns what came back.
    pub fn hello(&mut self, client: ClientId, realm: &str, mut details: Dict) -> Vec<Message> {
        details
            .entry("roles".into())
            .or_insert_with(|| Value::Dict(all_roles()));
        self.send(
            client,
            &Message::Hello {
                realm: realm.into(),
                details,
            },
        );
        self.run();
        self.take(client)
    }

    /// Connects and joins `realm` anonymously on `shard`; returns the client and its session id.
    pub fn join(&mut self, shard: ShardId, serializer: Serializer, realm: &str) -> (ClientId, u64) {
        let auth = Box::new(Anonymous::default());
        match self.join_with(shard, serializer, TRANSPORT, realm, auth) {
            Ok(joined) => joined,
            Err(other) => panic!("expected WELCOME, got {other:?}"),
        }
    }

    /// Connects on `shard` through `transport` and joins `realm` through a
    /// [`ClientSession`] authenticating with `auth` (CHALLENGE/AUTHENTICATE
    /// included); returns the client and its session id, or the events that
    /// came instead of WELCOME (an ABORT's [`Event::Closed`]).
    pub fn join_with(
        &mut self,
        shard: ShardId,
        serializer: Serializer,
        transport: TransportId,
        realm: &str,
        auth: Box<dyn ClientAuthenticator>,
    ) -> Result<(ClientId, u64), Vec<Event>> {
        let c = self.connect_via(shard, serializer, transport);
        self.clients[c].wamp = Some(ClientSession::with_details(
            realm,
            auth,
            Roles::all(),
            Dict::new(),
        ));
        let events = self.drive(c);
        match events.as_slice() {
            [Event::Joined { session, .. }] => Ok((c, *session)),
            _ => Err(events),
        }
    }

    /// Drives a client's [`ClientSession`]: sends what it queued, runs the
    /// mesh, feeds it what the client received, until it has nothing more to
    /// send; returns what it reported. A client without a session gets nothing.
    pub fn drive(&mut self, client: ClientId) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let Some(wamp) = self.clients[client].wamp.as_mut() else {
                return events;
            };
            let out: Vec<Message> = std::iter::from_fn(|| wamp.poll_transmit()).collect();
            for m in &out {
                self.send(client, m);
            }
            self.run();
            let received: Vec<Message> = self.take(client);
            let Some(wamp) = self.clients[client].wamp.as_mut() else {
                return events;
            };
            for m in received {
                let _ = wamp.receive(m);
            }
            events.extend(std::iter::from_fn(|| wamp.poll_event()));
            if !wamp.has_transmit() {
                return events;
            }
        }
    }
}

/// HELLO.Details.roles announcing every client role with the features the
/// client stack implements ([`Roles::all`]).
pub fn all_roles() -> Dict {
    Roles::all().to_dict()
}

#[cfg(test)]
mod tests;
