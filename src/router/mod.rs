//! The sans-IO router core: realms, sessions, broker, dealer, authentication,
//! authorization and the meta API, spread over shards.
//!
//! Each shard owns one [`RouterCore`]. It does no I/O and knows nothing of the
//! runtime: its inputs are
//!
//! - a local connection opening ([`RouterCore::open`]), sending a frame
//!   ([`RouterCore::receive_frame`]) or a decoded message
//!   ([`RouterCore::receive`]), and closing ([`RouterCore::close`]);
//! - a message from a peer shard ([`RouterCore::peer`]);
//! - the clock ([`RouterCore::advance`]), which fires due timers;
//!
//! and its outputs, collected in [`RouterCore::outputs`], are frames for
//! local connections, connections to close, and messages for peer shards.
//! [`RouterCore::next_deadline`] says when the runtime should call back.
//!
//! Every realm has a *home shard* that owns its authoritative state (session
//! directory, subscription and registration ids, retained events, history).
//! Every shard keeps a *replica* of the routing tables, updated by the home
//! shard; SUBSCRIBED and REGISTERED are sent only once every replica knows
//! the change, so a publication or call made after them anywhere finds the
//! new subscriber or callee. Publications cross to each interested shard
//! once, not once per subscriber; EVENT is encoded once per (subscription,
//! serializer) and its bytes shared between subscribers.
//!
//! # Layout
//!
//! This file holds [`RouterCore`] and its public API. The rest, by concern:
//!
//! | file | owns |
//! |---|---|
//! | `session.rs` | connections and sessions: deadlines, HELLO/AUTHENTICATE, join, leave |
//! | `dispatch.rs` | a joined session's messages and peer shards' messages to their handlers |
//! | `replica.rs` | the home shard's session directory (join, leave) and replica updates |
//! | `output.rs` | frames, peer messages, timers, ERROR/ABORT/GOODBYE |
//! | `broker.rs` | subscribe, publish, event delivery (`Broker`: the fan-out scratch list) |
//! | `subscriptions.rs` | the broker's per-realm state: `Subscriptions` (replica, local subscribers), `HomeSubscriptions` (book, retained events, history) |
//! | `dealer.rs` | register, call, invocation, cancel (`Dealer`: open calls and invocations) |
//! | `registrations.rs` | the dealer's per-realm state: `Registrations` (replica), `HomeRegistrations` (book) |
//! | `book.rs` | the home shard's subscription / registration bookkeeping and the replica's, written once |
//! | `meta.rs` | the meta API and testaments |
//! | `realm.rs` | what a shard holds for a realm: roles, local sessions, home state (session directory, ids, pending replica updates), composing the broker's and dealer's state |
//! | `peer.rs` | the mesh messages |
//! | `internal.rs` | the router's own calls (to dynamic authenticators and authorizers): an invocation without a calling session |
//! | `authorizer.rs` | dynamic authorizers: asking them, the order of a session's messages while one waits, the cache's upkeep |
//! | `transport_details.rs` | a connection's transport details, compact, rendered into a `Dict` when asked for |
//! | `options.rs`, `limits.rs` | option parsing and limits both broker and dealer use |
//! | [`auth`], [`authz`], [`matcher`], [`stats`] | authentication, authorization, pattern tables, counters |
//!
//! The core imports only `crate::wamp`, `crate::codec` and `crate::config`
//! (the schema it is configured with). Its modules import each other
//! without a cycle (each uses this file's ids and `RouterCore`).

pub mod auth;
mod authorizer;
pub mod authz;
mod book;
mod broker;
mod dealer;
mod dispatch;
mod internal;
mod limits;
pub mod matcher;
mod meta;
pub mod options;
mod output;
pub mod peer;
pub mod realm;
mod registrations;
mod replica;
mod session;
pub mod stats;
mod subscriptions;
mod transport_details;

use std::collections::{BTreeMap, VecDeque};
/// Hash maps of the core: foldhash, randomly seeded per map (keys such as request ids come from clients).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::codec::Serializer;
use crate::dict;
use crate::wamp::message::{Message, MessageType};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

use crate::config::realm::RealmConfig;
use crate::config::role::{AuthzError, RoleConfig};
use auth::Authenticator;
use authz::Roles;
use peer::PeerMsg;
use realm::Realm;

pub use auth::TlsInfo;
pub use limits::{SessionLimits, ERROR_LIMIT_EXCEEDED};
pub use transport_details::{NetworkKind, TransportDetails};

/// The authrole of a router link's session on the router it dials
/// (Crossbar.io's `rlink`): such a session may relay (`forward_for`).
pub const RLINK_ROLE: &str = "rlink";
pub use session::GOODBYE_REPLY_WAIT_MS;
pub(crate) use session::{Conn, ConnState, FailureWindow, Session};
use stats::{RealmStats, ShardStats};

/// A shard's index, 0..shards.
pub type ShardId = u16;
/// A connection on one shard, chosen by the runtime.
pub type ConnId = u64;
/// A WAMP session id (global scope).
pub type SessionId = u64;
/// A subscription id (router scope, from the realm's home shard).
pub type SubId = u64;
/// A registration id (router scope, from the realm's home shard).
pub type RegId = u64;
/// A call, as the caller's shard numbers it.
pub type CallId = u64;
/// A realm's index, the same on every shard.
pub type RealmId = u32;
/// A transport's index, the same on every shard.
pub type TransportId = u32;

/// What the router knows of a joined session; shared between shards.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// The session id.
    pub session: SessionId,
    /// The realm's name.
    pub realm: String,
    /// The authenticated identity.
    pub authid: String,
    /// The role it holds.
    pub authrole: String,
    /// How it authenticated.
    pub authmethod: String,
    /// Who authenticated it.
    pub authprovider: String,
    /// `WELCOME.Details.authextra` (what the authenticator gave, or HELLO's for anonymous).
    pub authextra: Option<Dict>,
    /// Transport details (kind, peer address, serializer, TLS), shared
    /// with the connection: one copy per connection, whatever joins on it;
    /// rendered into a `Dict` only when asked for ([`TransportDetails::to_dict`]).
    pub transport: Arc<TransportDetails>,
    /// What the client announced in HELLO.Details.roles.
    pub features: ClientFeatures,
}

/// The client features the router acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFeatures {
    /// The callee announced call_canceling.
    pub callee_call_canceling: bool,
    /// The callee announced progressive_call_results (it may YIELD with progress).
    pub callee_progressive_call_results: bool,
}

impl ClientFeatures {
    fn from_hello(details: &Dict) -> ClientFeatures {
        let feature = |role: &str, f: &str| {
            details
                .get("roles")
                .and_then(Value::as_dict)
                .and_then(|r| r.get(role))
                .and_then(Value::as_dict)
                .and_then(|r| r.get("features"))
                .and_then(Value::as_dict)
                .and_then(|fs| fs.get(f))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        ClientFeatures {
            callee_call_canceling: feature("callee", "call_canceling"),
            callee_progressive_call_results: feature("callee", "progressive_call_results"),
        }
    }

    /// The session announced as a dict (for the meta API).
    fn to_dict(&self) -> Dict {
        dict! { "callee_call_canceling" => self.callee_call_canceling }
    }
}

impl SessionInfo {
    /// The session's details as the meta API reports them.
    pub fn to_dict(&self) -> Dict {
        dict! {
            "session" => self.session,
            "realm" => self.realm.as_str(),
            "authid" => self.authid.as_str(),
            "authrole" => self.authrole.as_str(),
            "authmethod" => self.authmethod.as_str(),
            "authprovider" => self.authprovider.as_str(),
            "transport" => Value::Dict(self.transport.to_dict()),
            "features" => Value::Dict(self.features.to_dict()),
        }
    }
}

/// What the core asks the runtime to do.
#[derive(Debug)]
pub enum Output {
    /// Send an encoded frame on a local connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame, in the connection's serializer.
        frame: Bytes,
        /// What the frame holds (a runtime may drop EVENTs for a slow consumer, nothing else).
        ty: MessageType,
    },
    /// Close a local connection once what was sent before it is flushed.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Send a message to a peer shard.
    Peer {
        /// The shard.
        to: ShardId,
        /// The message (boxed: it is large, and frames are the common output).
        msg: Box<PeerMsg>,
    },
}

/// A timer the core runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// A call's timeout.
    CallTimeout(CallId),
    /// A connection waiting for HELLO ran out of time.
    Hello(ConnId),
    /// A connection challenged ran out of time to AUTHENTICATE.
    Auth(ConnId),
    /// A connection the router said GOODBYE to ran out of time to answer.
    GoodbyeReply(ConnId),
}

/// One shard's router core. See the module docs.
pub struct RouterCore {
    shard: ShardId,
    shards: u16,
    now_ms: u64,
    rng: StdRng,
    realms: Vec<Option<Realm>>,
    realm_by_name: HashMap<String, RealmId>,
    transports: HashMap<TransportId, Arc<Authenticator>>,
    limits: HashMap<TransportId, SessionLimits>,
    /// Key of the decoy principals, the same on every shard (from the seed).
    decoy_key: [u8; 32],
    /// The router's Ed25519 key (`[router] node_key`), for cryptosign's
    /// router authentication; given to every transport's authenticator.
    router_key: Option<crate::wamp::cryptosign::PrivateKey>,
    /// Failed authentications by (transport, peer IP).
    auth_failures: HashMap<(TransportId, String), FailureWindow>,
    /// When expired entries of `auth_failures` are next swept.
    next_failure_sweep: u64,
    /// When a refused HELLO from a locked-out address was last logged.
    last_lockout_log: Option<u64>,
    conns: HashMap<ConnId, Conn>,
    /// Calls and invocations open on this shard.
    dealer: dealer::Dealer,
    timers: BTreeMap<(u64, u64), TimerKind>,
    next_timer: u64,
    out: Vec<Output>,
    self_queue: VecDeque<PeerMsg>,
    stats: ShardStats,
    realm_stats: Vec<RealmStats>,
    broker: broker::Broker,
    /// Rate limit of the log line for payloads that could not be transcoded.
    transcode_log: stats::LogLimiter,
    /// Rate limit of the log line for failed dynamic authorizers.
    authz_log: stats::LogLimiter,
}

impl RouterCore {
    /// A core for shard `shard` of `shards`, its randomness seeded (session and
    /// publication ids, `random` invocation) for reproducible tests.
    pub fn new(shard: ShardId, shards: u16, seed: u64) -> RouterCore {
        RouterCore {
            shard,
            shards: shards.max(1),
            now_ms: 0,
            rng: StdRng::seed_from_u64(seed ^ (u64::from(shard) << 48)),
            realms: Vec::new(),
            realm_by_name: HashMap::default(),
            transports: HashMap::default(),
            limits: HashMap::default(),
            decoy_key: Self::decoy_key(seed),
            router_key: None,
            auth_failures: HashMap::default(),
            next_failure_sweep: 0,
            last_lockout_log: None,
            conns: HashMap::default(),
            dealer: dealer::Dealer::new(),
            timers: BTreeMap::new(),
            next_timer: 1,
            out: Vec::new(),
            self_queue: VecDeque::new(),
            stats: ShardStats::default(),
            realm_stats: Vec::new(),
            broker: broker::Broker::default(),
            transcode_log: stats::LogLimiter::default(),
            authz_log: stats::LogLimiter::default(),
        }
    }

    /// The decoy-principal key: derived from the seed, which every shard of a
    /// router shares (random in production), so that all shards answer an
    /// unknown authid with the same decoy.
    fn decoy_key(seed: u64) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"shardwamp decoy principals\0");
        h.update(seed.to_le_bytes());
        h.finalize().into()
    }

    /// This core's shard.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// The outputs produced so far; the runtime drains them after each input.
    pub fn outputs(&mut self) -> &mut Vec<Output> {
        &mut self.out
    }

    /// Takes the outputs produced so far.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Starts a realm on this shard (every shard must start it with the same id).
    pub fn start_realm(&mut self, id: RealmId, config: RealmConfig) -> Result<(), AuthzError> {
        let roles = Roles::from_configs(config.roles.clone())?;
        let name = config.name.clone();
        let realm = Realm::new(config, roles, self.shard, self.shards);
        let idx = id as usize;
        if self.realms.len() <= idx {
            self.realms.resize_with(idx + 1, || None);
            self.realm_stats.resize_with(idx + 1, RealmStats::default);
        }
        self.realms[idx] = Some(realm);
        self.realm_stats[idx] = RealmStats::default();
        self.realm_by_name.insert(name, id);
        Ok(())
    }

    /// Lets sessions join realm `id` only through `transports` (and the
    /// internal transports, [`Authenticator::internal`]); through any other
    /// transport the realm answers as if it did not exist. `None` lifts the limit.
    pub fn limit_realm_to(&mut self, id: RealmId, transports: Option<Vec<TransportId>>) {
        if let Some(r) = self.realm_mut(id) {
            r.only_through = transports;
        }
    }

    /// Stops a realm: refuses new sessions and closes the existing ones with
    /// GOODBYE `wamp.close.close_realm` (when `close_sessions`).
    /// Returns the ids of the sessions it closed (none unless `close_sessions`).
    pub fn stop_realm(&mut self, id: RealmId, close_sessions: bool) -> Vec<SessionId> {
        let Some(realm) = self.realm_mut(id) else {
            return Vec::new();
        };
        realm.stopping = true;
        let (ids, conns): (Vec<SessionId>, Vec<ConnId>) =
            realm.local_sessions.iter().map(|(s, c)| (*s, *c)).unzip();
        let name = realm.config.name.clone();
        let detached = if close_sessions { ids } else { Vec::new() };
        if close_sessions {
            for conn in conns {
                self.goodbye_and_close(conn, uris::CLOSE_CLOSE_REALM, Some("realm stopped".into()));
            }
            self.realm_by_name.remove(&name);
            if let Some(slot) = self.realms.get_mut(id as usize) {
                *slot = None;
            }
        } else {
            self.realm_by_name.remove(&name);
        }
        self.flush_self();
        detached
    }

    /// Adds or replaces a role of a running realm; it governs from the next action on.
    pub fn set_role(&mut self, realm: RealmId, role: &RoleConfig) -> Result<(), AuthzError> {
        let compiled = authz::Role::new(role.clone())?;
        if let Some(r) = self.realm_mut(realm) {
            r.authz_cache.clear_role(&role.name);
            r.roles.insert(compiled);
            if let Some(c) = r.config.roles.iter_mut().find(|c| c.name == role.name) {
                *c = role.clone();
            } else {
                r.config.roles.push(role.clone());
            }
        }
        Ok(())
    }

    /// Removes a role of a running realm.
    pub fn remove_role(&mut self, realm: RealmId, name: &str) {
        if let Some(r) = self.realm_mut(realm) {
            r.authz_cache.clear_role(name);
            r.roles.remove(name);
            r.config.roles.retain(|c| c.name != name);
        }
    }

    /// The id of a running realm.
    pub fn realm_id(&self, name: &str) -> Option<RealmId> {
        self.realm_by_name.get(name).copied()
    }

    /// Sets the router's key (cryptosign router authentication) for the
    /// transports set from now on: set it before [`RouterCore::set_transport`].
    pub fn set_router_key(&mut self, key: Option<crate::wamp::cryptosign::PrivateKey>) {
        self.router_key = key;
    }

    /// Sets (or replaces) a transport's authentication.
    pub fn set_transport(&mut self, id: TransportId, mut auth: Authenticator) {
        auth.set_decoy_key(self.decoy_key);
        auth.set_router_key(self.router_key.clone());
        self.transports.insert(id, Arc::new(auth));
    }

    /// Whether `transport` is internal (a component's): its sessions are
    /// trusted ([`Authenticator::internal`]).
    fn internal_transport(&self, transport: TransportId) -> bool {
        self.transports
            .get(&transport)
            .is_some_and(|a| a.is_internal())
    }

    /// Whether the session on `conn` may relay messages for other routers
    /// (set PUBLISH/CALL `forward_for`): a trusted session (a link's local
    /// leg joins through an internal transport) or one of authrole
    /// [`RLINK_ROLE`] (a link's remote leg, as Crossbar.io names it).
    pub(crate) fn may_relay(&self, conn: ConnId, info: &SessionInfo) -> bool {
        info.authrole == RLINK_ROLE
            || self
                .conns
                .get(&conn)
                .is_some_and(|c| self.internal_transport(c.transport))
    }

    /// Sets (or replaces) a transport's session-opening deadlines and
    /// failed-authentication limit (none until set: components' transports).
    /// They apply to connections opened from now on.
    pub fn set_transport_limits(&mut self, id: TransportId, limits: SessionLimits) {
        self.limits.insert(id, limits);
    }

    /// The runtime's own figures: frames queued for writing, loop stalls so far.
    pub fn note_runtime(&mut self, queued_frames: u64, loop_stalls: u64) {
        self.stats.queued_frames = queued_frames;
        self.stats.loop_stalls = loop_stalls;
    }

    /// The runtime's rates over the last second.
    pub fn note_rates(&mut self, events_per_sec: u64, calls_per_sec: u64) {
        self.stats.events_per_sec = events_per_sec;
        self.stats.calls_per_sec = calls_per_sec;
    }

    /// The runtime closed a connection at accept: a transport's cap was reached.
    pub fn note_connection_refused(&mut self) {
        self.stats.connections_refused += 1;
    }

    /// The runtime dropped `n` events for full subscriber queues.
    pub fn note_dropped(&mut self, n: u64) {
        self.stats.events_dropped += n;
    }

    /// The runtime failed a connection whose peer broke the transport's
    /// protocol (WebSocket framing or UTF-8, RawSocket framing).
    pub fn note_transport_protocol_error(&mut self) {
        self.stats.transport_protocol_errors += 1;
    }

    /// The runtime closed a connection whose TLS handshake failed or timed out.
    pub fn note_tls_handshake_failure(&mut self) {
        self.stats.tls_handshake_failures += 1;
    }

    /// The runtime failed a connection that sent a message over the
    /// transport's size limit.
    pub fn note_oversize_message(&mut self) {
        self.stats.oversize_messages += 1;
    }

    /// Per-shard statistics.
    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    /// This shard's statistics for a realm.
    pub fn realm_stats(&self, realm: RealmId) -> Option<&RealmStats> {
        self.realm_stats.get(realm as usize)
    }

    /// How many connections (joined or not) this shard holds.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// State this shard still holds beyond its configuration: empty once every
    /// session has left and the mesh is quiet (the simulation checks it).
    pub fn leftovers(&self) -> Vec<String> {
        let mut l = Vec::new();
        if !self.conns.is_empty() {
            l.push(format!("{} connections", self.conns.len()));
        }
        if self.dealer.open_calls() != 0 {
            l.push(format!("{} calls", self.dealer.open_calls()));
        }
        if self.dealer.open_invocations() != 0 {
            l.push(format!("{} invocations", self.dealer.open_invocations()));
        }
        if !self.timers.is_empty() {
            l.push(format!("{} timers", self.timers.len()));
        }
        if !self.self_queue.is_empty() {
            l.push(format!("{} queued self-messages", self.self_queue.len()));
        }
        for r in self.realms.iter().flatten() {
            let name = &r.config.name;
            if r.subs.local_len() != 0 {
                l.push(format!(
                    "{name}: {} local subscriptions",
                    r.subs.local_len()
                ));
            }
            if !r.local_sessions.is_empty() {
                l.push(format!("{name}: {} local sessions", r.local_sessions.len()));
            }
            if !r.subs.replica_is_empty() {
                l.push(format!(
                    "{name}: {} replica subscriptions",
                    r.subs.replica_len()
                ));
            }
            if !r.regs.is_empty() {
                l.push(format!("{name}: {} replica registrations", r.regs.len()));
            }
            if let Some(h) = &r.home_state {
                if !h.sessions.is_empty()
                    || !h.subs.book().is_empty()
                    || !h.regs.book().is_empty()
                    || !h.pending.is_empty()
                {
                    l.push(format!(
                        "{name}: home holds {} sessions, {} subscriptions, {} registrations, {} pending updates",
                        h.sessions.len(),
                        h.subs.book().len(),
                        h.regs.book().len(),
                        h.pending.len()
                    ));
                }
                if h.subs.book().index_len() != 0 || h.regs.book().index_len() != 0 {
                    l.push(format!(
                        "{name}: home index holds {} + {} entries",
                        h.subs.book().index_len(),
                        h.regs.book().index_len()
                    ));
                }
            }
        }
        l
    }

    pub(crate) fn realm(&self, id: RealmId) -> Option<&Realm> {
        self.realms.get(id as usize).and_then(Option::as_ref)
    }

    pub(crate) fn realm_mut(&mut self, id: RealmId) -> Option<&mut Realm> {
        self.realms.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub(crate) fn session(&self, conn: ConnId) -> Option<&Session> {
        match &self.conns.get(&conn)?.state {
            ConnState::Joined(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn session_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        match &mut self.conns.get_mut(&conn)?.state {
            ConnState::Joined(s) => Some(s),
            _ => None,
        }
    }

    // ---- inputs -------------------------------------------------------------

    /// A connection opened on this shard's transport `transport`, speaking `serializer`.
    /// `details` describe the transport for the meta API (peer address, ...);
    /// `tls` is what a TLS connection tells authentication (none on a plain one).
    pub fn open(
        &mut self,
        conn: ConnId,
        serializer: Serializer,
        transport: TransportId,
        details: TransportDetails,
        tls: Option<Arc<TlsInfo>>,
    ) {
        self.stats.connections_opened += 1;
        self.conns.insert(
            conn,
            Conn {
                serializer,
                transport,
                transport_details: Arc::new(details),
                tls,
                state: ConnState::Fresh,
                deadline: None,
                going_away: false,
            },
        );
        self.arm_deadline(conn, false);
    }

    /// A frame arrived on a connection: decode it and act on it.
    pub fn receive_frame(&mut self, conn: ConnId, frame: &Bytes) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        self.stats.bytes_received += frame.len() as u64;
        match c.serializer.decode(frame) {
            Ok(msg) => self.receive(conn, msg),
            Err(e) => {
                self.stats.decode_errors += 1;
                self.protocol_violation(conn, &format!("malformed message: {e}"));
            }
        }
    }

    /// A decoded message arrived on a connection.
    pub fn receive(&mut self, conn: ConnId, msg: Message) {
        let ty = msg.message_type();
        self.stats.received[ty.index()] += 1;
        self.handle(conn, msg);
        self.flush_self();
    }

    /// Acts on a message by the connection's state (counted already).
    pub(crate) fn handle(&mut self, conn: ConnId, msg: Message) {
        let ty = msg.message_type();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !ty.client_may_send() {
            self.protocol_violation(conn, &format!("a client may not send {}", ty.name()));
            return;
        }
        match &c.state {
            ConnState::Fresh => match msg {
                Message::Hello { realm, details } => {
                    self.disarm_deadline(conn);
                    self.on_hello(conn, realm, details)
                }
                Message::Abort { .. } => self.drop_conn(conn),
                other => self.protocol_violation(
                    conn,
                    &format!("{} before HELLO", other.message_type().name()),
                ),
            },
            ConnState::Challenged { .. } => match msg {
                Message::Authenticate { signature, extra } => {
                    self.disarm_deadline(conn);
                    self.on_authenticate(conn, &signature, &extra)
                }
                Message::Abort { .. } => self.drop_conn(conn),
                other => self.protocol_violation(
                    conn,
                    &format!("{} while authenticating", other.message_type().name()),
                ),
            },
            ConnState::Authenticating { .. } => match msg {
                Message::Abort { .. } => self.drop_conn(conn),
                other => self.protocol_violation(
                    conn,
                    &format!(
                        "{} while the router authenticates",
                        other.message_type().name()
                    ),
                ),
            },
            ConnState::Joining { .. } => match msg {
                Message::Abort { .. } => self.close(conn),
                other => self.protocol_violation(
                    conn,
                    &format!("{} before WELCOME", other.message_type().name()),
                ),
            },
            ConnState::Closing => {}
            // After the router's GOODBYE: the client's GOODBYE (or ABORT)
            // ends the wait and the connection; anything else is ignored
            // (the spec's session statechart, SHUTTING DOWN).
            ConnState::ShuttingDown => {
                if matches!(msg, Message::Goodbye { .. } | Message::Abort { .. }) {
                    self.disarm_deadline(conn);
                    self.drop_conn(conn);
                }
            }
            ConnState::Joined(s) => {
                let realm = s.realm;
                if s.authz_wait.is_some() {
                    return self.hold(conn, msg);
                }
                if let Some(rs) = self.realm_stats.get_mut(realm as usize) {
                    rs.received[ty.index()] += 1;
                }
                self.on_session_message(conn, msg);
            }
        }
    }

    /// A connection closed (by the peer, the network, or after [`Output::Close`]).
    pub fn close(&mut self, conn: ConnId) {
        self.disarm_deadline(conn);
        self.leave(conn);
        self.conns.remove(&conn);
        self.flush_self();
    }

    /// A message from a peer shard (or from this shard to itself).
    pub fn peer(&mut self, from: ShardId, msg: PeerMsg) {
        self.on_peer(from, msg);
        self.flush_self();
    }

    /// The clock moved to `now_ms`: fire the timers that are due.
    pub fn advance(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        while let Some((&(at, id), _)) = self.timers.iter().next() {
            if at > self.now_ms {
                break;
            }
            if let Some(kind) = self.timers.remove(&(at, id)) {
                match kind {
                    TimerKind::CallTimeout(call) => self.on_call_timeout(call),
                    TimerKind::Hello(conn) => self.on_deadline((at, id), conn, false),
                    TimerKind::Auth(conn) => self.on_deadline((at, id), conn, true),
                    TimerKind::GoodbyeReply(conn) => self.on_goodbye_wait((at, id), conn),
                }
            }
        }
        self.flush_self();
    }

    /// When [`RouterCore::advance`] should next be called, if any timer is set.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Closes every session with GOODBYE `reason` (system shutdown); each
    /// connection closes as "going away" ([`RouterCore::going_away`]) once
    /// the GOODBYE is written, without waiting for the client's: a router
    /// that is stopping does not wait up to [`GOODBYE_REPLY_WAIT_MS`] for
    /// clients that never answer (a stopped listener's sessions do wait).
    pub fn shutdown(&mut self, reason: &str) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.going_away = true;
            }
            self.goodbye_and_close(conn, reason, None);
            if self
                .conns
                .get(&conn)
                .is_some_and(|c| matches!(c.state, ConnState::ShuttingDown))
            {
                self.drop_conn(conn);
            }
        }
        self.flush_self();
    }

    /// Whether connection `conn`, closed by the router ([`Output::Close`]),
    /// closes because the router or its transport goes away (WebSocket
    /// close code 1001) rather than after an ordinary GOODBYE or ABORT.
    pub fn going_away(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.going_away)
    }

    /// Closes every connection that came through transport `transport` (GOODBYE
    /// `reason`); each closes as "going away" after the client's GOODBYE or
    /// [`GOODBYE_REPLY_WAIT_MS`].
    pub fn close_transport(&mut self, transport: TransportId, reason: &str) {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.transport == transport)
            .map(|(id, _)| *id)
            .collect();
        for conn in conns {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.going_away = true;
            }
            self.goodbye_and_close(conn, reason, Some("transport stopped".into()));
        }
        self.flush_self();
    }

    /// Whether this shard's replica routes calls of `procedure` on realm `name`.
    pub fn routes_procedure(&self, name: &str, procedure: &str) -> bool {
        self.realm_by_name
            .get(name)
            .and_then(|id| self.realm(*id))
            .is_some_and(|r| r.regs.best_match(procedure).is_some())
    }

    /// The names of a realm's roles.
    pub fn role_names(&self, realm: RealmId) -> Vec<String> {
        self.realm(realm)
            .map(|r| r.config.roles.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    }

    /// A role's configuration.
    pub fn role_config(&self, realm: RealmId, role: &str) -> Option<RoleConfig> {
        self.realm(realm)?
            .config
            .roles
            .iter()
            .find(|c| c.name == role)
            .cloned()
    }

    /// Sessions of `realm` joined on this shard.
    pub fn local_session_count(&self, realm: RealmId) -> usize {
        self.realm(realm).map_or(0, |r| r.local_sessions.len())
    }

    /// Kills every local session of `realm` with this authid (`kill_by_authid`),
    /// returning the session ids closed.
    pub fn kill_local_by(
        &mut self,
        realm: RealmId,
        authid: Option<&str>,
        authrole: Option<&str>,
        reason: &str,
        message: Option<String>,
    ) -> Vec<SessionId> {
        let targets: Vec<(ConnId, SessionId)> = self
            .conns
            .iter()
            .filter_map(|(c, conn)| match &conn.state {
                ConnState::Joined(s)
                    if s.realm == realm
                        && authid.is_none_or(|a| s.info.authid == a)
                        && authrole.is_none_or(|a| s.info.authrole == a) =>
                {
                    Some((*c, s.info.session))
                }
                _ => None,
            })
            .collect();
        for (conn, _) in &targets {
            self.goodbye_and_close(*conn, reason, message.clone());
        }
        self.flush_self();
        targets.into_iter().map(|(_, s)| s).collect()
    }
}

/// Formats milliseconds since the Unix epoch as ISO 8601 UTC (`2026-11-24T23:34:09.123Z`).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests;
