//! Session lifecycle and authentication on a connection's shard: the
//! connection and session state, the HELLO and AUTHENTICATE deadlines and
//! the failed-authentication limit, HELLO → CHALLENGE → WELCOME (or ABORT),
//! joining through the realm's home shard, and leaving.

use std::sync::Arc;

use super::auth::{AskFailure, AuthInfo, AuthStep, DynamicAsk, DynamicPending, PendingAuth};
use super::dealer::Internal;
use super::internal::InternalFailure;
use super::peer::{self, PeerMsg};
use super::realm::Realm;
use super::{dealer, meta};
use super::{
    CallId, ClientFeatures, ConnId, HashMap, RealmId, RegId, RouterCore, SessionId, SessionInfo,
    SubId, TimerKind, TransportId,
};
use crate::codec::Serializer;
use crate::config::auth::METHOD_ANONYMOUS;
use crate::dict;
use crate::wamp::id::ScopeIdGen;
use crate::wamp::message::{Id, Message};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

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
    /// REGISTERs sent to the home shard and not yet answered.
    pub registering: usize,
    /// The message waiting for the role's dynamic authorizer, if any
    /// (`authorizer.rs`).
    pub authz_wait: Option<Box<super::authorizer::AuthzWait>>,
    /// What most sessions never use (open calls and invocations,
    /// testaments, deferred and held messages): allocated on first use, so
    /// that an idle session's `Session` is a third of its size.
    extra: Option<Box<SessionExtra>>,
}

/// The rarely used parts of a [`Session`], boxed once one is used.
#[derive(Default)]
pub(crate) struct SessionExtra {
    /// Calls this session made that are still open: CALL request id → call.
    pub calls: HashMap<Id, CallId>,
    /// Invocations this session (as callee) has open: INVOCATION request id → state.
    pub invocations: HashMap<Id, dealer::Invocation>,
    /// Testaments, by scope.
    pub testaments: meta::Testaments,
    /// Invocations that arrived for a registration this session has not yet
    /// been told of (REGISTERED is on its way): delivered after it.
    pub deferred: Vec<peer::Invoke>,
    /// Messages the session sent after the one waiting for its authorizer:
    /// handled in order once it is decided.
    pub held: std::collections::VecDeque<Message>,
}

impl Session {
    /// The rarely used parts, allocated here on first use.
    pub(crate) fn extra(&mut self) -> &mut SessionExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The rarely used parts, if any was ever used.
    pub(crate) fn extra_ref(&self) -> Option<&SessionExtra> {
        self.extra.as_deref()
    }

    /// The rarely used parts, if any was ever used (allocates nothing).
    pub(crate) fn extra_mut(&mut self) -> Option<&mut SessionExtra> {
        self.extra.as_deref_mut()
    }
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
    /// Waiting for a dynamic authenticator's answer (`call`, an internal call).
    Authenticating {
        realm: RealmId,
        session: SessionId,
        call: CallId,
        pending: Box<DynamicPending>,
        details: Dict,
    },
    /// Authenticated; waiting for the home shard to admit the session.
    Joining { info: Arc<SessionInfo> },
    /// A joined session.
    Joined(Box<Session>),
    /// The router said GOODBYE: waiting for the client's GOODBYE (any other
    /// message is ignored, the spec's SHUTTING DOWN state) at most
    /// [`GOODBYE_REPLY_WAIT_MS`], then the connection is closed.
    ShuttingDown,
    /// Closed by the router; waiting for the runtime to drop it.
    Closing,
}

/// A local connection.
pub(crate) struct Conn {
    pub serializer: Serializer,
    pub transport: TransportId,
    pub transport_details: Arc<super::TransportDetails>,
    /// What the connection's TLS tells authentication; none on a plain connection.
    pub tls: Option<Arc<super::TlsInfo>>,
    pub state: ConnState,
    /// The HELLO or AUTHENTICATE deadline armed, or the wait for the
    /// client's GOODBYE, if any.
    pub deadline: Option<(u64, u64)>,
    /// Closed because the router (shutdown) or its transport (stopped with
    /// its sessions) goes away: the runtime closes it as "going away".
    pub going_away: bool,
}

impl Conn {
    /// The peer's IP (from the transport details' `peer`), for the
    /// failed-authentication limit; computed when asked for, which is only
    /// where that limit is on.
    pub(crate) fn peer_ip(&self) -> Option<String> {
        self.transport_details.peer().map(peer_ip)
    }
}

/// How long the router waits for a client's GOODBYE after its own (kill,
/// realm or transport stopped, shutdown) before it closes the connection.
pub const GOODBYE_REPLY_WAIT_MS: u64 = 2000;

/// Failed authentications from one address on one transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FailureWindow {
    /// When the window began.
    pub since_ms: u64,
    /// Failures in it.
    pub count: u32,
}

impl RouterCore {
    /// Arms a connection's HELLO (or, `auth`, AUTHENTICATE) deadline, if its transport has one.
    pub(crate) fn arm_deadline(&mut self, conn: ConnId, auth: bool) {
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

    pub(crate) fn disarm_deadline(&mut self, conn: ConnId) {
        if let Some(key) = self.conns.get_mut(&conn).and_then(|c| c.deadline.take()) {
            self.cancel_timer(key);
        }
    }

    /// The client did not answer the router's GOODBYE in time: close.
    pub(crate) fn on_goodbye_wait(&mut self, key: (u64, u64), conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.deadline != Some(key) || !matches!(c.state, ConnState::ShuttingDown) {
            return;
        }
        c.deadline = None;
        log::debug!(
            "shard {}: conn {conn}: no GOODBYE within {GOODBYE_REPLY_WAIT_MS} ms: closing",
            self.shard
        );
        self.drop_conn(conn);
    }

    /// A HELLO or AUTHENTICATE deadline passed: ABORT `wamp.error.timeout` and close.
    pub(crate) fn on_deadline(&mut self, key: (u64, u64), conn: ConnId, auth: bool) {
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
    pub(crate) fn locked_out(&mut self, conn: ConnId) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        let limits = self.limits.get(&c.transport).copied().unwrap_or_default();
        if limits.max_auth_failures == 0 {
            return false;
        }
        let Some(ip) = c.peer_ip() else {
            return false;
        };
        let key = (c.transport, ip);
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
    pub(crate) fn note_auth_failure(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let limits = self.limits.get(&c.transport).copied().unwrap_or_default();
        if limits.max_auth_failures == 0 {
            return;
        }
        let Some(ip) = c.peer_ip() else {
            return;
        };
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

    // ---- session establishment ---------------------------------------------

    pub(crate) fn on_hello(&mut self, conn: ConnId, realm_name: String, details: Dict) {
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
                    .and_then(|c| c.peer_ip())
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
        let found = self.realm_for(conn, &realm_name);
        let Some(realm_id) = found else {
            self.stats.auth_failures += 1;
            self.abort(
                conn,
                uris::ERROR_NO_SUCH_REALM,
                &format!("no realm named '{realm_name}'"),
            );
            return;
        };
        let Some((transport, tls)) = self.conns.get(&conn).map(|c| (c.transport, c.tls.clone()))
        else {
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
        let step = auth.hello(
            &realm_name,
            &details,
            tls.as_deref(),
            session,
            &now,
            &mut self.rng,
        );
        self.on_auth_step(conn, realm_id, session, details, step);
    }

    /// The realm named `name`, if it runs and `conn`'s transport may reach it
    /// (the management realm's gate, `RouterCore::limit_realm_to`).
    fn realm_for(&self, conn: ConnId, name: &str) -> Option<RealmId> {
        let transport = self.conns.get(&conn).map(|c| c.transport);
        let gated = |r: &Realm| {
            r.only_through.as_ref().is_some_and(|only| {
                transport.is_none_or(|t| !self.internal_transport(t) && !only.contains(&t))
            })
        };
        self.realm_by_name
            .get(name)
            .copied()
            .filter(|id| self.realm(*id).is_some_and(|r| !gated(r)))
    }

    pub(crate) fn on_authenticate(&mut self, conn: ConnId, signature: &str, extra: &Dict) {
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

    pub(crate) fn on_auth_step(
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
            AuthStep::Deny { reason, message } => {
                self.stats.auth_failures += 1;
                self.abort(conn, &reason, &message);
            }
            AuthStep::Ask(ask) => self.ask_authenticator(conn, realm_id, session, details, *ask),
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

    /// Calls a dynamic authenticator for `conn` (see `auth::dynamic`); the
    /// connection waits in [`ConnState::Authenticating`] for the answer.
    fn ask_authenticator(
        &mut self,
        conn: ConnId,
        realm_id: RealmId,
        session: SessionId,
        details: Dict,
        ask: DynamicAsk,
    ) {
        let DynamicAsk {
            procedure,
            realm: auth_realm,
            role,
            timeout_ms,
            details: mut call_details,
            pending,
        } = ask;
        let auth_realm = auth_realm.unwrap_or_else(|| pending.realm().to_owned());
        let fail = |core: &mut RouterCore, message: String| {
            core.stats.auth_failures += 1;
            core.note_auth_failure(conn);
            log::warn!(
                "shard {}: conn {conn}: dynamic authentication ({}) failed: {message}",
                core.shard,
                pending.method()
            );
            core.abort(conn, uris::ERROR_AUTHENTICATION_FAILED, &message);
        };
        let Some(auth_realm_id) = self.realm_id(&auth_realm) else {
            return fail(
                self,
                format!("the authenticator's realm '{auth_realm}' is not running"),
            );
        };
        if let Some(role) = &role {
            let verdict = self.realm(auth_realm_id).map(|r| {
                (
                    r.roles.contains(role),
                    r.roles
                        .authorize(role, &procedure, super::authz::Action::Call)
                        .allow,
                )
            });
            match verdict {
                Some((true, true)) => {}
                Some((true, false)) => {
                    return fail(
                        self,
                        format!("role '{role}' may not call the authenticator '{procedure}' on realm '{auth_realm}'"),
                    )
                }
                _ => {
                    return fail(
                        self,
                        format!("the authenticator's role '{role}' does not exist on realm '{auth_realm}'"),
                    )
                }
            }
        }
        let Some(transport) = self.conns.get(&conn).map(|c| c.transport_details.clone()) else {
            return;
        };
        call_details.insert("session".into(), Value::UInt(session));
        call_details.insert("transport".into(), Value::Dict(transport.to_dict()));
        let args = vec![
            Value::from(pending.realm()),
            pending.authid().map_or(Value::Null, Value::from),
            Value::Dict(call_details),
        ];
        self.stats.authenticator_calls += 1;
        let purpose = Internal::Authenticate { conn, session };
        match self.internal_call(auth_realm_id, &procedure, args, timeout_ms, purpose) {
            Err(m) => fail(self, format!("dynamic authenticator unavailable: {m}")),
            Ok(call) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = ConnState::Authenticating {
                        realm: realm_id,
                        session,
                        call,
                        pending: Box::new(pending),
                        details,
                    };
                }
            }
        }
    }

    /// A dynamic authenticator answered (or failed to) for `conn`.
    pub(crate) fn on_authenticator_answer(
        &mut self,
        conn: ConnId,
        session: SessionId,
        outcome: Result<Value, InternalFailure>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !matches!(&c.state, ConnState::Authenticating { session: s, .. } if *s == session) {
            return; // the connection moved on (closed); a late answer
        }
        let state = std::mem::replace(&mut c.state, ConnState::Closing);
        let transport = c.transport;
        let ConnState::Authenticating {
            realm,
            session,
            pending,
            details,
            ..
        } = state
        else {
            return;
        };
        let Some(auth) = self.transports.get(&transport).cloned() else {
            return self.abort(conn, uris::ERROR_AUTHENTICATION_FAILED, "transport stopped");
        };
        let outcome = outcome.map_err(|f| AskFailure {
            error: f.error,
            message: f.message,
            by_callee: f.from_callee,
        });
        if let Err(f) = &outcome {
            if !f.by_callee {
                log::warn!(
                    "shard {}: conn {conn}: dynamic authenticator for {} failed: {}",
                    self.shard,
                    pending.method(),
                    f.message
                );
            }
        }
        let now = self.now_iso();
        let step = auth.answer(*pending, outcome, &now, &mut self.rng);
        if matches!(step, AuthStep::Abort { .. } | AuthStep::Deny { .. }) {
            self.note_auth_failure(conn);
        }
        self.on_auth_step(conn, realm, session, details, step);
    }

    /// Authentication succeeded: check the role, then ask the home shard to admit the session.
    pub(crate) fn admit(
        &mut self,
        conn: ConnId,
        realm_id: RealmId,
        session: SessionId,
        details: &Dict,
        info: AuthInfo,
    ) {
        let realm_id = match &info.realm {
            None => realm_id,
            Some(name) => match self.realm_for(conn, name) {
                Some(id) => id,
                None => {
                    self.stats.auth_failures += 1;
                    let m = format!("no realm named '{name}' (assigned by the authenticator)");
                    return self.abort(conn, uris::ERROR_NO_SUCH_REALM, &m);
                }
            },
        };
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
            authextra: info.authextra,
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
    pub(crate) fn welcome_details(info: &SessionInfo) -> Dict {
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
        let mut d = dict! {
            "realm" => info.realm.as_str(),
            "authid" => info.authid.as_str(),
            "authrole" => info.authrole.as_str(),
            "authmethod" => info.authmethod.as_str(),
            "authprovider" => info.authprovider.as_str(),
            "roles" => Value::Dict(dict! { "broker" => Value::Dict(broker), "dealer" => Value::Dict(dealer) }),
        };
        if let Some(extra) = &info.authextra {
            d.insert("authextra".into(), Value::Dict(extra.clone()));
        }
        d
    }

    /// The home shard answered a join.
    pub(crate) fn on_join_done(
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
                registering: 0,
                authz_wait: None,
                extra: None,
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
        let session = match state {
            ConnState::Joined(session) => session,
            ConnState::Authenticating { call, .. } => return self.abandon_internal(call),
            _ => return,
        };
        let session = *session;
        if let Some(wait) = &session.authz_wait {
            self.abandon_internal(wait.call);
        }
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
                realm.subs.remove_local(sub, conn);
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
}

/// The IP part of a transport's `peer` (`"ip:port"`, `"[v6]:port"`); anything
/// else (a Unix socket's peer, say) is taken whole.
pub(crate) fn peer_ip(peer: &str) -> String {
    match peer.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}
