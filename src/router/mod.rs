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

pub mod auth;
pub mod authz;
mod book;
mod broker;
mod dealer;
mod limits;
pub mod matcher;
mod meta;
pub mod options;
pub mod peer;
pub mod realm;
pub mod stats;

use std::collections::{BTreeMap, VecDeque};
/// Hash maps of the core: foldhash, randomly seeded per map (keys such as request ids come from clients).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::codec::Serializer;
use crate::dict;
use crate::wamp::id::ScopeIdGen;
use crate::wamp::message::{Id, Message, MessageType};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

use crate::config::auth::METHOD_ANONYMOUS;
use crate::config::realm::RealmConfig;
use crate::config::role::{AuthzError, RoleConfig};
use auth::{AuthInfo, AuthStep, Authenticator, PendingAuth};
use authz::Roles;
use peer::{CallFailure, PeerMsg};
use realm::Realm;

pub use limits::{SessionLimits, ERROR_LIMIT_EXCEEDED};
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
    /// Transport details (peer address, transport id, serializer), shared
    /// with the connection: one copy per connection, whatever joins on it.
    pub transport: Arc<Dict>,
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
            "transport" => Value::Dict((*self.transport).clone()),
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

/// A local session's state.
pub(crate) struct Session {
    pub info: Arc<SessionInfo>,
    pub realm: RealmId,
    /// Request ids for messages the router sends this session (INVOCATION).
    pub requests: ScopeIdGen,
    /// Subscriptions held: id → pattern.
    pub subs: HashMap<SubId, (String, crate::wamp::uri::MatchPolicy)>,
    /// Registrations held: id → pattern.
    pub regs: HashMap<RegId, (String, crate::wamp::uri::MatchPolicy)>,
    /// Calls this session made that are still open: CALL request id → call.
    pub calls: HashMap<Id, CallId>,
    /// Invocations this session (as callee) has open: INVOCATION request id → state.
    pub invocations: HashMap<Id, dealer::Invocation>,
    /// Testaments, by scope.
    pub testaments: meta::Testaments,
    /// REGISTERs sent to the home shard and not yet answered.
    pub registering: usize,
    /// Invocations that arrived for a registration this session has not yet
    /// been told of (REGISTERED is on its way): delivered after it.
    pub deferred: Vec<peer::Invoke>,
}

/// Where a local connection is in its life.
pub(crate) enum ConnState {
    /// Waiting for HELLO.
    Fresh,
    /// CHALLENGE sent, waiting for AUTHENTICATE.
    Challenged {
        realm: RealmId,
        session: SessionId,
        pending: Box<PendingAuth>,
        details: Dict,
    },
    /// Authenticated; waiting for the home shard to admit the session.
    Joining { info: Arc<SessionInfo> },
    /// A joined session.
    Joined(Box<Session>),
    /// Closed by the router; waiting for the runtime to drop it.
    Closing,
}

/// A local connection.
pub(crate) struct Conn {
    pub serializer: Serializer,
    pub transport: TransportId,
    pub transport_details: Arc<Dict>,
    pub state: ConnState,
    /// The peer's IP (from the transport details' `peer`), for the
    /// failed-authentication limit.
    pub peer_ip: Option<String>,
    /// The HELLO or AUTHENTICATE deadline armed, if any.
    pub deadline: Option<(u64, u64)>,
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
}

/// Failed authentications from one address on one transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FailureWindow {
    /// When the window began.
    pub since_ms: u64,
    /// Failures in it.
    pub count: u32,
}

/// One shard's router core. See the module docs.
pub struct RouterCore {
    pub(crate) shard: ShardId,
    pub(crate) shards: u16,
    pub(crate) now_ms: u64,
    pub(crate) rng: StdRng,
    pub(crate) realms: Vec<Option<Realm>>,
    pub(crate) realm_by_name: HashMap<String, RealmId>,
    pub(crate) transports: HashMap<TransportId, Arc<Authenticator>>,
    pub(crate) limits: HashMap<TransportId, SessionLimits>,
    /// Key of the decoy principals, the same on every shard (from the seed).
    pub(crate) decoy_key: [u8; 32],
    /// Failed authentications by (transport, peer IP).
    pub(crate) auth_failures: HashMap<(TransportId, String), FailureWindow>,
    /// When expired entries of `auth_failures` are next swept.
    pub(crate) next_failure_sweep: u64,
    /// When a refused HELLO from a locked-out address was last logged.
    pub(crate) last_lockout_log: Option<u64>,
    pub(crate) conns: HashMap<ConnId, Conn>,
    /// Calls and invocations open on this shard.
    pub(crate) dealer: dealer::Dealer,
    pub(crate) timers: BTreeMap<(u64, u64), TimerKind>,
    pub(crate) next_timer: u64,
    pub(crate) out: Vec<Output>,
    pub(crate) self_queue: VecDeque<PeerMsg>,
    pub(crate) stats: ShardStats,
    pub(crate) realm_stats: Vec<RealmStats>,
    pub(crate) broker: broker::Broker,
    /// Rate limit of the log line for payloads that could not be transcoded.
    pub(crate) transcode_log: stats::LogLimiter,
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
    pub fn stop_realm(&mut self, id: RealmId, close_sessions: bool) {
        let Some(realm) = self.realm_mut(id) else {
            return;
        };
        realm.stopping = true;
        let conns: Vec<ConnId> = realm.local_sessions.values().copied().collect();
        let name = realm.config.name.clone();
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
    }

    /// Adds or replaces a role of a running realm; it governs from the next action on.
    pub fn set_role(&mut self, realm: RealmId, role: &RoleConfig) -> Result<(), AuthzError> {
        let compiled = authz::Role::new(role.clone())?;
        if let Some(r) = self.realm_mut(realm) {
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
            r.roles.remove(name);
            r.config.roles.retain(|c| c.name != name);
        }
    }

    /// The id of a running realm.
    pub fn realm_id(&self, name: &str) -> Option<RealmId> {
        self.realm_by_name.get(name).copied()
    }

    /// Sets (or replaces) a transport's authentication.
    pub fn set_transport(&mut self, id: TransportId, mut auth: Authenticator) {
        auth.set_decoy_key(self.decoy_key);
        self.transports.insert(id, Arc::new(auth));
    }

    /// Whether `transport` is internal (a component's): its sessions are
    /// trusted ([`Authenticator::internal`]).
    fn internal_transport(&self, transport: TransportId) -> bool {
        self.transports
            .get(&transport)
            .is_some_and(|a| a.is_internal())
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
            if !r.local_subs.is_empty() {
                l.push(format!(
                    "{name}: {} local subscriptions",
                    r.local_subs.len()
                ));
            }
            if !r.local_sessions.is_empty() {
                l.push(format!("{name}: {} local sessions", r.local_sessions.len()));
            }
            if !r.subs.is_empty() || !r.sub_keys.is_empty() {
                l.push(format!("{name}: {} replica subscriptions", r.subs.len()));
            }
            if !r.regs.is_empty() || !r.reg_keys.is_empty() {
                l.push(format!("{name}: {} replica registrations", r.regs.len()));
            }
            if let Some(h) = &r.home_state {
                if !h.sessions.is_empty()
                    || !h.subs.is_empty()
                    || !h.regs.is_empty()
                    || !h.pending.is_empty()
                {
                    l.push(format!(
                        "{name}: home holds {} sessions, {} subscriptions, {} registrations, {} pending updates",
                        h.sessions.len(),
                        h.subs.len(),
                        h.regs.len(),
                        h.pending.len()
                    ));
                }
                if h.subs.index_len() != 0 || h.regs.index_len() != 0 {
                    l.push(format!(
                        "{name}: home index holds {} + {} entries",
                        h.subs.index_len(),
                        h.regs.index_len()
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
    /// `details` describe the transport for the meta API (peer address, ...).
    pub fn open(
        &mut self,
        conn: ConnId,
        serializer: Serializer,
        transport: TransportId,
        mut details: Dict,
    ) {
        self.stats.connections_opened += 1;
        details.insert("serializer".into(), Value::from(serializer.name()));
        let peer_ip = details.get("peer").and_then(Value::as_str).map(peer_ip);
        self.conns.insert(
            conn,
            Conn {
                serializer,
                transport,
                transport_details: Arc::new(details),
                state: ConnState::Fresh,
                peer_ip,
                deadline: None,
            },
        );
        self.arm_deadline(conn, false);
    }

    /// Arms a connection's HELLO (or, `auth`, AUTHENTICATE) deadline, if its transport has one.
    fn arm_deadline(&mut self, conn: ConnId, auth: bool) {
        self.disarm_deadline(conn);
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let limits = self.limits.get(&c.transport).copied().unwrap_or_default();
        let (ms, kind) = if auth {
            (limits.auth_timeout_ms, TimerKind::Auth(conn))
        } else {
            (limits.hello_timeout_ms, TimerKind::Hello(conn))
        };
        if ms == 0 {
            return;
        }
        let key = self.set_timer(self.now_ms.saturating_add(ms), kind);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.deadline = Some(key);
        }
    }

    fn disarm_deadline(&mut self, conn: ConnId) {
        if let Some(key) = self.conns.get_mut(&conn).and_then(|c| c.deadline.take()) {
            self.cancel_timer(key);
        }
    }

    /// A HELLO or AUTHENTICATE deadline passed: ABORT `wamp.error.timeout` and close.
    fn on_deadline(&mut self, key: (u64, u64), conn: ConnId, auth: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let due = match c.state {
            ConnState::Fresh => !auth,
            ConnState::Challenged { .. } => auth,
            _ => false,
        };
        if c.deadline != Some(key) || !due {
            return;
        }
        c.deadline = None;
        let limits = self.limits.get(&c.transport).copied().unwrap_or_default();
        let (what, ms) = if auth {
            self.stats.auth_timeouts += 1;
            ("AUTHENTICATE", limits.auth_timeout_ms)
        } else {
            self.stats.hello_timeouts += 1;
            ("HELLO", limits.hello_timeout_ms)
        };
        log::info!(
            "shard {}: conn {conn}: no {what} within {ms} ms, closing",
            self.shard
        );
        self.abort(
            conn,
            uris::ERROR_TIMEOUT,
            &format!("no {what} within {ms} ms"),
        );
    }

    /// Whether `conn`'s address is locked out of `transport` for failed authentications.
    fn locked_out(&mut self, conn: ConnId) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        let limits = self.limits.get(&c.transport).copied().unwrap_or_default();
        let Some(ip) = &c.peer_ip else {
            return false;
        };
        if limits.max_auth_failures == 0 {
            return false;
        }
        let key = (c.transport, ip.clone());
        match self.auth_failures.get(&key) {
            Some(w) if self.now_ms < w.since_ms.saturating_add(limits.auth_failure_window_ms) => {
                w.count >= limits.max_auth_failures
            }
            Some(_) => {
                self.auth_failures.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Counts a failed authentication against `conn`'s address.
    fn note_auth_failure(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let limits = self.limits.get(&c.transport).copied().unwrap_or_default();
        let Some(ip) = &c.peer_ip else {
            return;
        };
        if limits.max_auth_failures == 0 {
            return;
        }
        let now = self.now_ms;
        let window = limits.auth_failure_window_ms;
        let transport = c.transport;
        let w = self
            .auth_failures
            .entry((transport, ip.clone()))
            .or_insert(FailureWindow {
                since_ms: now,
                count: 0,
            });
        if now >= w.since_ms.saturating_add(window) {
            *w = FailureWindow {
                since_ms: now,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
        if w.count == limits.max_auth_failures {
            log::info!(
                "shard {}: {ip} failed to authenticate {} times on transport {transport}: its HELLOs are refused for {window} ms",
                self.shard,
                w.count
            );
        }
        // Sweep expired windows now and then (the longest window of any transport).
        if now >= self.next_failure_sweep {
            let longest = self
                .limits
                .values()
                .map(|l| l.auth_failure_window_ms)
                .max()
                .unwrap_or(0);
            self.auth_failures
                .retain(|_, w| now < w.since_ms.saturating_add(longest));
            self.next_failure_sweep = now.saturating_add(longest.max(1000));
        }
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
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !ty.client_may_send() {
            self.protocol_violation(conn, &format!("a client may not send {}", ty.name()));
            self.flush_self();
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
            ConnState::Joining { .. } => match msg {
                Message::Abort { .. } => self.close(conn),
                other => self.protocol_violation(
                    conn,
                    &format!("{} before WELCOME", other.message_type().name()),
                ),
            },
            ConnState::Closing => {}
            ConnState::Joined(s) => {
                let realm = s.realm;
                if let Some(rs) = self.realm_stats.get_mut(realm as usize) {
                    rs.received[ty.index()] += 1;
                }
                self.on_session_message(conn, msg);
            }
        }
        self.flush_self();
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
                }
            }
        }
        self.flush_self();
    }

    /// When [`RouterCore::advance`] should next be called, if any timer is set.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Closes every session with GOODBYE `reason` (system shutdown).
    pub fn shutdown(&mut self, reason: &str) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.goodbye_and_close(conn, reason, None);
        }
        self.flush_self();
    }

    /// Closes every connection that came through transport `transport` (GOODBYE `reason`).
    pub fn close_transport(&mut self, transport: TransportId, reason: &str) {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.transport == transport)
            .map(|(id, _)| *id)
            .collect();
        for conn in conns {
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

    // ---- plumbing -------------------------------------------------------------

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
    /// transcoded, and logs at most one line per [`stats::LogLimiter::INTERVAL_MS`].
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

    /// Sends GOODBYE and closes the connection (router-initiated close).
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
        }
        self.leave(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Closing;
        }
        self.out.push(Output::Close { conn });
    }

    fn drop_conn(&mut self, conn: ConnId) {
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
        if !realm.roles.authorize(role, uri, action).allow {
            return Some((
                uris::ERROR_NOT_AUTHORIZED,
                format!("role '{role}' may not {} '{uri}'", action.as_str()),
            ));
        }
        None
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

    // ---- session establishment ---------------------------------------------

    fn on_hello(&mut self, conn: ConnId, realm_name: String, details: Dict) {
        if self.locked_out(conn) {
            self.stats.auth_lockouts += 1;
            let quiet = self
                .last_lockout_log
                .is_some_and(|t| self.now_ms < t.saturating_add(10_000));
            if !quiet {
                self.last_lockout_log = Some(self.now_ms);
                let peer = self
                    .conns
                    .get(&conn)
                    .and_then(|c| c.peer_ip.clone())
                    .unwrap_or_default();
                log::info!(
                    "shard {}: HELLO from {peer} refused: too many failed authentications ({} refused so far; logged at most every 10 s)",
                    self.shard,
                    self.stats.auth_lockouts
                );
            }
            self.abort(
                conn,
                uris::ERROR_AUTHENTICATION_FAILED,
                "too many failed authentications from this address, try again later",
            );
            return;
        }
        let roles_ok = details
            .get("roles")
            .and_then(Value::as_dict)
            .is_some_and(|r| !r.is_empty());
        if !roles_ok {
            self.protocol_violation(conn, "HELLO.Details.roles must announce at least one role");
            return;
        }
        let transport = self.conns.get(&conn).map(|c| c.transport);
        let gated = |r: &Realm| {
            r.only_through.as_ref().is_some_and(|only| {
                transport.is_none_or(|t| !self.internal_transport(t) && !only.contains(&t))
            })
        };
        let found = self
            .realm_by_name
            .get(&realm_name)
            .copied()
            .filter(|id| self.realm(*id).is_some_and(|r| !gated(r)));
        let Some(realm_id) = found else {
            self.stats.auth_failures += 1;
            self.abort(
                conn,
                uris::ERROR_NO_SUCH_REALM,
                &format!("no realm named '{realm_name}'"),
            );
            return;
        };
        let Some(transport) = self.conns.get(&conn).map(|c| c.transport) else {
            return;
        };
        let Some(auth) = self.transports.get(&transport).cloned() else {
            self.abort(
                conn,
                uris::ERROR_NO_AUTH_METHOD,
                "this transport accepts no authentication method",
            );
            return;
        };
        let session = crate::wamp::id::global_id(&mut self.rng);
        let now = self.now_iso();
        let step = auth.hello(&realm_name, &details, session, &now, &mut self.rng);
        self.on_auth_step(conn, realm_id, session, details, step);
    }

    fn on_authenticate(&mut self, conn: ConnId, signature: &str, extra: &Dict) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let state = std::mem::replace(&mut c.state, ConnState::Closing);
        let transport = c.transport;
        let ConnState::Challenged {
            realm,
            session,
            pending,
            details,
        } = state
        else {
            return;
        };
        let Some(auth) = self.transports.get(&transport).cloned() else {
            return;
        };
        let step = auth.authenticate(*pending, signature, extra);
        if matches!(step, AuthStep::Abort { .. }) {
            self.note_auth_failure(conn);
        }
        self.on_auth_step(conn, realm, session, details, step);
    }

    fn on_auth_step(
        &mut self,
        conn: ConnId,
        realm_id: RealmId,
        session: SessionId,
        details: Dict,
        step: AuthStep,
    ) {
        match step {
            AuthStep::Abort { reason, message } => {
                self.stats.auth_failures += 1;
                self.abort(conn, reason, &message);
            }
            AuthStep::Challenge {
                method,
                extra,
                pending,
            } => {
                self.send(
                    conn,
                    &Message::Challenge {
                        auth_method: method,
                        extra,
                    },
                );
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = ConnState::Challenged {
                        realm: realm_id,
                        session,
                        pending: Box::new(pending),
                        details,
                    };
                }
                self.arm_deadline(conn, true);
            }
            AuthStep::Welcome(info) => self.admit(conn, realm_id, session, &details, info),
        }
    }

    /// Authentication succeeded: check the role, then ask the home shard to admit the session.
    fn admit(
        &mut self,
        conn: ConnId,
        realm_id: RealmId,
        session: SessionId,
        details: &Dict,
        info: AuthInfo,
    ) {
        let Some(realm) = self.realm(realm_id) else {
            self.abort(conn, uris::ERROR_NO_SUCH_REALM, "realm stopped");
            return;
        };
        if realm.stopping {
            self.abort(conn, uris::ERROR_NO_SUCH_REALM, "realm is stopping");
            return;
        }
        let trusted = self
            .conns
            .get(&conn)
            .is_some_and(|c| self.internal_transport(c.transport));
        if !realm.config.options.allow_anonymous && info.authmethod == METHOD_ANONYMOUS && !trusted
        {
            let m = format!(
                "realm '{}' does not admit anonymous sessions",
                realm.config.name
            );
            self.stats.auth_failures += 1;
            self.abort(conn, uris::ERROR_NOT_AUTHORIZED, &m);
            return;
        }
        if realm.roles.get(&info.authrole).is_none() {
            let m = format!(
                "no role '{}' on realm '{}'",
                info.authrole, realm.config.name
            );
            self.stats.auth_failures += 1;
            self.abort(conn, uris::ERROR_NO_SUCH_ROLE, &m);
            return;
        }
        let home = realm.home;
        let realm_name = realm.config.name.clone();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let transport = c.transport_details.clone();
        let info = Arc::new(SessionInfo {
            session,
            realm: realm_name,
            authid: info.authid,
            authrole: info.authrole,
            authmethod: info.authmethod,
            authprovider: info.authprovider,
            transport,
            features: ClientFeatures::from_hello(details),
        });
        c.state = ConnState::Joining { info: info.clone() };
        self.send_peer(
            home,
            PeerMsg::Join {
                realm: realm_id,
                conn,
                info,
            },
        );
    }

    /// WELCOME.Details.roles: the router's roles and exactly the features implemented.
    fn welcome_details(info: &SessionInfo) -> Dict {
        let broker = dict! {
            "features" => Value::Dict(dict! {
                "publisher_identification" => true,
                "publisher_exclusion" => true,
                "subscriber_blackwhite_listing" => true,
                "pattern_based_subscription" => true,
                "event_retention" => true,
                "event_history" => true,
                "session_meta_api" => true,
                "subscription_meta_api" => true,
                "testament_meta_api" => true,
            })
        };
        let dealer = dict! {
            "features" => Value::Dict(dict! {
                "caller_identification" => true,
                "pattern_based_registration" => true,
                "shared_registration" => true,
                "progressive_call_results" => true,
                "progressive_call_invocations" => true,
                "call_canceling" => true,
                "call_timeout" => true,
                "session_meta_api" => true,
                "registration_meta_api" => true,
                "testament_meta_api" => true,
            })
        };
        dict! {
            "realm" => info.realm.as_str(),
            "authid" => info.authid.as_str(),
            "authrole" => info.authrole.as_str(),
            "authmethod" => info.authmethod.as_str(),
            "authprovider" => info.authprovider.as_str(),
            "roles" => Value::Dict(dict! { "broker" => Value::Dict(broker), "dealer" => Value::Dict(dealer) }),
        }
    }

    /// The home shard answered a join.
    fn on_join_done(
        &mut self,
        realm_id: RealmId,
        conn: ConnId,
        session: SessionId,
        result: Result<(), (&'static str, String)>,
    ) {
        let info = match self.conns.get(&conn).map(|c| &c.state) {
            Some(ConnState::Joining { info, .. }) if info.session == session => info.clone(),
            _ => {
                // The connection went away while joining: tell the home shard.
                if result.is_ok() {
                    if let Some(home) = self.realm(realm_id).map(|r| r.home) {
                        self.send_peer(
                            home,
                            PeerMsg::Leave {
                                realm: realm_id,
                                session,
                            },
                        );
                    }
                }
                return;
            }
        };
        if let Err((reason, message)) = result {
            self.abort(conn, reason, &message);
            return;
        }
        let welcome = Message::Welcome {
            session,
            details: Self::welcome_details(&info),
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Joined(Box::new(Session {
                info,
                realm: realm_id,
                requests: ScopeIdGen::new(),
                subs: HashMap::default(),
                regs: HashMap::default(),
                calls: HashMap::default(),
                invocations: HashMap::default(),
                testaments: meta::Testaments::default(),
                registering: 0,
                deferred: Vec::new(),
            }));
        }
        if let Some(r) = self.realm_mut(realm_id) {
            r.local_sessions.insert(session, conn);
        }
        self.stats.sessions += 1;
        if let Some(rs) = self.realm_stats.get_mut(realm_id as usize) {
            rs.sessions += 1;
        }
        self.send(conn, &welcome);
    }

    /// The session on `conn` ends (GOODBYE, ABORT, kill, or the connection dropped):
    /// publish its testaments, clean its local state and tell the home shard.
    pub(crate) fn leave(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let state = std::mem::replace(&mut c.state, ConnState::Closing);
        let ConnState::Joined(session) = state else {
            return;
        };
        let session = *session;
        let realm_id = session.realm;
        let sid = session.info.session;
        self.stats.sessions = self.stats.sessions.saturating_sub(1);
        if let Some(rs) = self.realm_stats.get_mut(realm_id as usize) {
            rs.sessions = rs.sessions.saturating_sub(1);
        }
        self.publish_testaments(&session);
        // local subscriptions
        if let Some(realm) = self.realm_mut(realm_id) {
            realm.local_sessions.remove(&sid);
            for sub in session.subs.keys() {
                if let Some(l) = realm.local_subs.get_mut(sub) {
                    l.conns.retain(|(c, _, _)| *c != conn);
                    if l.conns.is_empty() {
                        realm.local_subs.remove(sub);
                    }
                }
            }
        }
        self.caller_left(&session);
        self.callee_left(conn, &session);
        if let Some(home) = self.realm(realm_id).map(|r| r.home) {
            self.send_peer(
                home,
                PeerMsg::Leave {
                    realm: realm_id,
                    session: sid,
                },
            );
        }
    }

    fn on_session_message(&mut self, conn: ConnId, msg: Message) {
        match msg {
            Message::Goodbye { .. } => {
                self.send(
                    conn,
                    &Message::Goodbye {
                        details: Dict::new(),
                        reason: uris::CLOSE_GOODBYE_AND_OUT.into(),
                    },
                );
                // The transport outlives the session: back to waiting for
                // HELLO (spec statechart: CLOSED, then HELLO again).
                self.leave(conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = ConnState::Fresh;
                }
                self.arm_deadline(conn, false);
            }
            Message::Abort { .. } => self.drop_conn(conn),
            Message::Hello { .. } => self.protocol_violation(conn, "HELLO on a joined session"),
            Message::Authenticate { .. } => {
                self.protocol_violation(conn, "AUTHENTICATE on a joined session")
            }
            Message::Publish {
                request,
                options,
                topic,
                payload,
            } => self.on_publish(conn, request, options, topic, payload),
            Message::Subscribe {
                request,
                options,
                topic,
            } => self.on_subscribe(conn, request, &options, topic),
            Message::Unsubscribe {
                request,
                subscription,
            } => self.on_unsubscribe(conn, request, subscription),
            Message::Call {
                request,
                options,
                procedure,
                payload,
            } => self.on_call(conn, request, options, procedure, payload),
            Message::Cancel { request, options } => self.on_cancel(conn, request, &options),
            Message::Register {
                request,
                options,
                procedure,
            } => self.on_register(conn, request, &options, procedure),
            Message::Unregister {
                request,
                registration,
            } => self.on_unregister(conn, request, registration),
            Message::Yield {
                request,
                options,
                payload,
            } => self.on_yield(conn, request, &options, payload),
            Message::Error {
                request_type,
                request,
                details,
                error,
                payload,
            } => {
                if request_type == MessageType::Invocation {
                    self.on_invocation_error(conn, request, details, error, payload);
                } else {
                    self.protocol_violation(
                        conn,
                        &format!("ERROR for {} from a client", request_type.name()),
                    );
                }
            }
            other => self
                .protocol_violation(conn, &format!("unexpected {}", other.message_type().name())),
        }
    }

    fn on_peer(&mut self, from: ShardId, msg: PeerMsg) {
        self.stats.peer_received += 1;
        match msg {
            PeerMsg::Join { realm, conn, info } => self.home_join(from, realm, conn, info),
            PeerMsg::JoinDone {
                realm,
                conn,
                session,
                result,
            } => self.on_join_done(realm, conn, session, result),
            PeerMsg::Leave { realm, session } => self.home_leave(realm, session),
            PeerMsg::Subscribe {
                realm,
                conn,
                session,
                request,
                uri,
                policy,
                get_retained,
            } => self.home_subscribe(
                from,
                realm,
                conn,
                session,
                request,
                uri,
                policy,
                get_retained,
            ),
            PeerMsg::Subscribed(done) => self.on_subscribed(done),
            PeerMsg::Unsubscribe {
                realm,
                session,
                sub,
            } => self.home_unsubscribe(realm, session, sub),
            PeerMsg::Publish { publication, subs } => self.deliver(&publication, &subs),
            PeerMsg::Store {
                publication,
                retain,
                ack,
            } => {
                let id = publication.id;
                self.home_store(publication, retain);
                if let Some(ack) = ack {
                    self.send_peer(
                        from,
                        PeerMsg::Stored {
                            ack,
                            publication: id,
                        },
                    );
                }
            }
            PeerMsg::Stored { ack, publication } => {
                if self
                    .session(ack.conn)
                    .is_some_and(|s| s.info.session == ack.session)
                {
                    self.send(
                        ack.conn,
                        &Message::Published {
                            request: ack.request,
                            publication,
                        },
                    );
                }
            }
            PeerMsg::Register {
                realm,
                conn,
                session,
                request,
                uri,
                policy,
                invoke,
            } => self.home_register(from, realm, conn, session, request, uri, policy, invoke),
            PeerMsg::Registered(done) => self.on_registered(done),
            PeerMsg::Unregister {
                realm,
                conn,
                session,
                reg,
                request,
            } => self.home_unregister(from, realm, conn, session, reg, request),
            PeerMsg::Unregistered {
                conn,
                session,
                request,
            } => {
                if self
                    .session(conn)
                    .is_some_and(|s| s.info.session == session)
                {
                    self.send(
                        conn,
                        &Message::Unregistered {
                            request,
                            details: None,
                        },
                    );
                }
            }
            PeerMsg::Invoke(inv) => self.on_invoke(*inv),
            PeerMsg::InvokeMore {
                call,
                caller_shard,
                callee,
                progress,
                payload,
            } => self.on_invoke_more(caller_shard, call, callee, progress, payload),
            PeerMsg::Bounce {
                call,
                callee,
                failure,
            } => self.on_bounce(call, callee, failure),
            PeerMsg::Yield {
                call,
                progress,
                payload,
            } => self.on_result(call, progress, payload),
            PeerMsg::CallError { call, failure } => self.on_call_error(call, failure),
            PeerMsg::Cancel {
                call,
                caller_shard,
                callee,
                mode,
            } => self.on_interrupt(caller_shard, call, callee, mode),
            PeerMsg::CancelSkipped { call } => self.on_cancel_skipped(call),
            PeerMsg::Replica { realm, seq, op } => {
                if let Some(r) = self.realm_mut(realm) {
                    r.apply(&op);
                    let home = r.home;
                    self.send_peer(home, PeerMsg::ReplicaAck { realm, seq });
                }
            }
            PeerMsg::ReplicaAck { realm, seq } => self.home_ack(realm, seq),
            PeerMsg::MetaCall {
                realm,
                call,
                caller_shard,
                caller,
                procedure,
                args,
                kwargs,
            } => {
                let result = self.home_meta(realm, caller, &procedure, &args, &kwargs);
                self.send_peer(caller_shard, PeerMsg::MetaResult { call, result });
            }
            PeerMsg::MetaResult { call, result } => self.on_meta_result(call, result),
            PeerMsg::Kill {
                realm,
                session,
                reason,
                message,
            } => {
                let conn = self
                    .realm(realm)
                    .and_then(|r| r.local_sessions.get(&session).copied());
                if let Some(conn) = conn {
                    self.goodbye_and_close(conn, &reason, message);
                }
            }
        }
    }

    // ---- home shard: session directory and replica updates -------------------

    fn home_join(
        &mut self,
        from: ShardId,
        realm_id: RealmId,
        conn: ConnId,
        info: Arc<SessionInfo>,
    ) {
        let session = info.session;
        let result = match self.realm_mut(realm_id) {
            None => Err((uris::ERROR_NO_SUCH_REALM, "realm stopped".to_string())),
            Some(r) if r.stopping => {
                Err((uris::ERROR_NO_SUCH_REALM, "realm is stopping".to_string()))
            }
            Some(r) => {
                let max = r.config.limits.max_sessions;
                match r.home_state.as_mut() {
                    None => Err((
                        uris::ERROR_NO_SUCH_REALM,
                        "not the realm's home shard".to_string(),
                    )),
                    Some(h) if max > 0 && h.sessions.len() >= max => Err((
                        ERROR_LIMIT_EXCEEDED,
                        format!("the realm holds its maximum of {max} sessions"),
                    )),
                    Some(h) if h.sessions.contains_key(&session) => Err((
                        uris::ERROR_AUTHENTICATION_FAILED,
                        "session id collision".to_string(),
                    )),
                    Some(h) => {
                        h.sessions.insert(
                            session,
                            realm::SessionRecord {
                                shard: from,
                                info: info.clone(),
                                subs: Vec::new(),
                                regs: Vec::new(),
                            },
                        );
                        Ok(())
                    }
                }
            }
        };
        let ok = result.is_ok();
        self.send_peer(
            from,
            PeerMsg::JoinDone {
                realm: realm_id,
                conn,
                session,
                result,
            },
        );
        if ok {
            self.meta_event(
                realm_id,
                "wamp.session.on_join",
                vec![Value::Dict(info.to_dict())],
            );
        }
    }

    fn home_leave(&mut self, realm_id: RealmId, session: SessionId) {
        let Some(rec) = self
            .realm_mut(realm_id)
            .and_then(|r| r.home_state.as_mut())
            .and_then(|h| h.sessions.remove(&session))
        else {
            return;
        };
        for sub in &rec.subs {
            self.home_drop_subscriber(realm_id, session, rec.shard, *sub);
        }
        for reg in &rec.regs {
            self.home_drop_callee(realm_id, session, rec.shard, *reg, None);
        }
        self.meta_event(
            realm_id,
            "wamp.session.on_leave",
            vec![
                Value::UInt(session),
                Value::from(rec.info.authid.as_str()),
                Value::from(rec.info.authrole.as_str()),
            ],
        );
    }

    /// Starts a replica update on every shard; `then` runs once all have applied it.
    pub(crate) fn home_update(
        &mut self,
        realm_id: RealmId,
        op: peer::ReplicaOp,
        then: Vec<realm::Continuation>,
        mark: Option<(SubId, ShardId)>,
    ) -> Option<u64> {
        let shards = self.shards;
        let h = self.realm_mut(realm_id)?.home_state.as_mut()?;
        let seq = h.next_seq;
        h.next_seq += 1;
        h.pending.insert(
            seq,
            realm::PendingUpdate {
                acks_left: shards,
                then,
                mark,
            },
        );
        self.broadcast(|| PeerMsg::Replica {
            realm: realm_id,
            seq,
            op: op.clone(),
        });
        Some(seq)
    }

    /// Adds a continuation to a pending replica update (or runs it now if none is pending).
    pub(crate) fn home_after(
        &mut self,
        realm_id: RealmId,
        seq: Option<u64>,
        then: realm::Continuation,
    ) {
        if let Some(seq) = seq {
            if let Some(p) = self
                .realm_mut(realm_id)
                .and_then(|r| r.home_state.as_mut())
                .and_then(|h| h.pending.get_mut(&seq))
            {
                p.then.push(then);
                return;
            }
        }
        self.run_continuation(realm_id, then);
    }

    fn home_ack(&mut self, realm_id: RealmId, seq: u64) {
        let Some(h) = self.realm_mut(realm_id).and_then(|r| r.home_state.as_mut()) else {
            return;
        };
        let done = match h.pending.get_mut(&seq) {
            Some(p) => {
                p.acks_left = p.acks_left.saturating_sub(1);
                p.acks_left == 0
            }
            None => false,
        };
        if done {
            if let Some(p) = h.pending.remove(&seq) {
                if let Some((sub, shard)) = p.mark {
                    if let Some(presence) =
                        h.subs.get_mut(&sub).and_then(|s| s.shards.get_mut(&shard))
                    {
                        if presence.pending == Some(seq) {
                            presence.pending = None;
                        }
                    }
                }
                for then in p.then {
                    self.run_continuation(realm_id, then);
                }
            }
        }
    }

    pub(crate) fn run_continuation(&mut self, realm_id: RealmId, then: realm::Continuation) {
        match then {
            realm::Continuation::Subscribed(done) => {
                let shard = done.shard;
                if let Ok(sub) = done.result {
                    // on_subscribe once the subscription is routable everywhere
                    self.meta_event(
                        realm_id,
                        "wamp.subscription.on_subscribe",
                        vec![Value::UInt(done.session), Value::UInt(sub)],
                    );
                }
                self.send_peer(shard, PeerMsg::Subscribed(done));
            }
            realm::Continuation::Registered(done) => {
                let shard = done.shard;
                self.send_peer(shard, PeerMsg::Registered(done));
            }
            realm::Continuation::Unregistered {
                shard,
                conn,
                session,
                request,
            } => {
                self.send_peer(
                    shard,
                    PeerMsg::Unregistered {
                        conn,
                        session,
                        request,
                    },
                );
            }
        }
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
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_995_249_123), "2026-11-29T23:34:09.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}

/// The IP part of a transport's `peer` ("ip:port", "[v6]:port"); anything
/// else (a Unix socket's peer, say) is taken whole.
fn peer_ip(peer: &str) -> String {
    match peer.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

#[cfg(test)]
mod core_tests;
