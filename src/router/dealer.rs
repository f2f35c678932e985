//! The dealer: REGISTER/UNREGISTER through the realm's home shard; CALL
//! decided on the caller's shard (invocation policy over its replica) and
//! invoked on the callee's shard; YIELD/ERROR straight back to the caller's
//! shard. Progressive results and invocations, canceling (skip, kill,
//! killnowait), timeouts run by the dealer, and callers or callees leaving
//! with calls in flight. It owns the open calls and invocations
//! ([`Dealer`]); the registrations it routes by are the realm's, owned by
//! `registrations.rs` (`Registrations`, `HomeRegistrations`) and changed
//! only through their methods.

use std::sync::Arc;

use rand::Rng;

use super::authz::{decide, Action, Granted};
use super::book::Entry;
use super::limits::ERROR_LIMIT_EXCEEDED;
use super::options::{flag, forward_for, match_policy, InvokePolicy};
use super::peer::{CallFailure, CalleeRef, CancelMode, Invoke, PeerMsg, RegisterDone, ReplicaOp};
use super::realm::{Continuation, Realm};
use super::registrations::HomeReg;
use super::{
    CallId, ConnId, HashMap, RealmId, RegId, RouterCore, Session, SessionId, SessionInfo, ShardId,
    TimerKind,
};
use crate::codec::Serializer;
use crate::wamp::message::{Id, Message, MessageType, Payload};
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::uris;
use crate::wamp::value::{Dict, Value};

/// The dealer's state on one shard: the calls its sessions made that are
/// still open, and the invocations open at its callees. The registrations
/// are per realm (`registrations.rs`: the replica, and the home shard's book).
pub(crate) struct Dealer {
    /// Calls whose caller is on this shard.
    calls: HashMap<CallId, CallerCall>,
    next_call: CallId,
    /// Invocations open on this shard, by (caller shard, call) → (callee conn, INVOCATION request id).
    invocations: HashMap<(ShardId, CallId), (ConnId, Id)>,
}

impl Dealer {
    pub fn new() -> Dealer {
        Dealer {
            calls: HashMap::default(),
            next_call: 1,
            invocations: HashMap::default(),
        }
    }

    /// Opens a call made on this shard: its id.
    pub fn open_call(&mut self, call: CallerCall) -> CallId {
        let id = self.next_call;
        self.next_call += 1;
        self.calls.insert(id, call);
        id
    }

    /// An open call made on this shard.
    pub fn call_mut(&mut self, id: CallId) -> Option<&mut CallerCall> {
        self.calls.get_mut(&id)
    }

    /// How many calls are open (the leak check).
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// How many invocations are open (the leak check).
    pub fn open_invocations(&self) -> usize {
        self.invocations.len()
    }
}

/// What waits for an internal call's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Internal {
    /// A connection waiting for its dynamic authenticator (`session`: the id it will get).
    Authenticate {
        /// The connection.
        conn: ConnId,
        /// The session id the authentication is for.
        session: SessionId,
    },
    /// A joined session's message waiting for its role's authorizer.
    Authorize {
        /// The connection.
        conn: ConnId,
        /// The session.
        session: SessionId,
    },
}

/// A call whose caller is on this shard.
pub(crate) struct CallerCall {
    pub conn: ConnId,
    pub request: Id,
    pub realm: RealmId,
    pub procedure: String,
    /// The callee chosen; `None` for a meta API call answered by the home shard.
    pub callee: Option<CalleeRef>,
    /// Callees that bounced the call.
    pub tried: Vec<CalleeRef>,
    pub receive_progress: bool,
    pub timeout: u64,
    pub timer: Option<(u64, u64)>,
    /// The caller, when disclosed to the callee.
    pub caller: Option<Arc<SessionInfo>>,
    /// The links that relayed the call (CALL `forward_for`).
    pub forward_for: Option<Vec<Value>>,
    /// Progressive call invocation still open (more CALLs may follow).
    pub progressive: bool,
    /// Kept to re-invoke another callee if the chosen one bounces.
    pub payload: Payload,
    /// The router's own call (`internal.rs`): its outcome goes there, not to a session.
    pub internal: Option<Internal>,
}

/// An invocation open at a callee on this shard.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub caller_shard: ShardId,
    pub call: CallId,
    pub registration: RegId,
    /// The caller canceled: whatever the callee answers is dropped.
    pub discard: bool,
}

/// The ERROR for a payload that could not be transcoded for its receiver.
fn untranscodable(
    what: &str,
    serializer: Option<Serializer>,
    e: &crate::codec::EncodeError,
) -> CallFailure {
    let to = serializer.map_or("the receiver's serializer", Serializer::name);
    CallFailure::message(
        uris::ERROR_INVALID_ARGUMENT,
        format!("{what} cannot be transcoded to {to}: {e}"),
    )
}

/// Picks a callee from a replica entry by its invocation policy, skipping `tried`.
pub(crate) fn pick(
    realm: &Realm,
    procedure: &str,
    tried: &[CalleeRef],
    rng: &mut impl Rng,
) -> Option<(RegId, MatchPolicy, CalleeRef)> {
    let (_, policy, e) = realm.regs.best_match(procedure)?;
    let candidates = e.callees().iter().filter(|c| !tried.contains(c));
    let callee = match e.invoke() {
        InvokePolicy::Single | InvokePolicy::First => candidates.copied().next(),
        InvokePolicy::Last => candidates.copied().last(),
        InvokePolicy::Roundrobin => {
            let live: Vec<CalleeRef> = candidates.copied().collect();
            if live.is_empty() {
                None
            } else {
                let n = e.rotate();
                Some(live[n % live.len()])
            }
        }
        InvokePolicy::Random => {
            let live: Vec<CalleeRef> = candidates.copied().collect();
            if live.is_empty() {
                None
            } else {
                Some(live[rng.random_range(0..live.len())])
            }
        }
    }?;
    Some((e.id(), policy, callee))
}

impl RouterCore {
    // ---- register -------------------------------------------------------------

    pub(crate) fn on_register(
        &mut self,
        conn: ConnId,
        request: Id,
        options: &Dict,
        procedure: String,
        granted: Option<&Granted>,
    ) {
        const T: MessageType = MessageType::Register;
        let Some(s) = self.session(conn) else { return };
        let (realm_id, session, role, held) = (
            s.realm,
            s.info.session,
            s.info.authrole.clone(),
            s.regs.len(),
        );
        let policy = match match_policy(options) {
            Ok(p) => p,
            Err(m) => return self.error(conn, T, request, uris::ERROR_INVALID_ARGUMENT, Some(&m)),
        };
        let invoke = match options.get("invoke") {
            None | Some(Value::Null) => InvokePolicy::Single,
            Some(Value::Str(s)) => match InvokePolicy::from_option(Some(s)) {
                Some(p) => p,
                None => {
                    return self.error(
                        conn,
                        T,
                        request,
                        uris::ERROR_INVALID_ARGUMENT,
                        Some(&format!("unknown invocation policy '{s}'")),
                    )
                }
            },
            Some(_) => {
                return self.error(
                    conn,
                    T,
                    request,
                    uris::ERROR_INVALID_ARGUMENT,
                    Some("option 'invoke' must be a string"),
                )
            }
        };
        let Some(realm) = self.realm(realm_id) else {
            return;
        };
        if let Some((error, message)) =
            RouterCore::refusal(realm, &role, &procedure, policy, Action::Register, granted)
        {
            return self.error(conn, T, request, error, Some(&message));
        }
        let max = realm.config.limits.max_registrations_per_session;
        if max > 0 && held >= max {
            return self.error(
                conn,
                T,
                request,
                ERROR_LIMIT_EXCEEDED,
                Some(&format!("a session may hold {max} registrations")),
            );
        }
        let home = realm.home;
        if let Some(s) = self.session_mut(conn) {
            s.registering += 1;
        }
        self.send_peer(
            home,
            PeerMsg::Register {
                realm: realm_id,
                conn,
                session,
                request,
                uri: procedure,
                policy,
                invoke,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn home_register(
        &mut self,
        from: ShardId,
        realm_id: RealmId,
        conn: ConnId,
        session: SessionId,
        request: Id,
        uri: String,
        policy: MatchPolicy,
        invoke: InvokePolicy,
    ) {
        let now = self.now_iso();
        let mut done = RegisterDone {
            shard: from,
            conn,
            session,
            request,
            result: Ok(0),
            uri: uri.clone(),
            policy,
        };
        // Decide with the home state borrowed, act after.
        let decision: Result<(RegId, Option<Value>), &'static str> = (|| {
            let realm = self.realm_mut(realm_id).ok_or(uris::ERROR_NO_SUCH_REALM)?;
            let max = realm.config.limits.max_registrations_per_session;
            let h = realm.home_state.as_mut().ok_or(uris::ERROR_NO_SUCH_REALM)?;
            let rec = h
                .sessions
                .get(&session)
                .ok_or(uris::ERROR_NO_SUCH_SESSION)?;
            if max > 0 && rec.regs.len() >= max {
                return Err(ERROR_LIMIT_EXCEEDED);
            }
            let (id, details) = h
                .regs
                .add_callee(&mut h.ids, &uri, policy, invoke, &now, session, from)?;
            if let Some(rec) = h.sessions.get_mut(&session) {
                rec.regs.push(id);
            }
            Ok((id, details.map(Value::Dict)))
        })();
        match decision {
            Err(e) if e == uris::ERROR_NO_SUCH_SESSION => {} // the callee left meanwhile
            Err(e) => {
                done.result = Err(e);
                self.send_peer(from, PeerMsg::Registered(done));
            }
            Ok((reg, details)) => {
                done.result = Ok(reg);
                if let Some(details) = details {
                    self.meta_event(
                        realm_id,
                        HomeReg::ON_CREATE,
                        vec![Value::UInt(session), details],
                    );
                }
                let op = ReplicaOp::RegAddCallee {
                    reg,
                    uri,
                    policy,
                    invoke,
                    callee: CalleeRef {
                        shard: from,
                        session,
                    },
                };
                self.home_update(realm_id, op, vec![Continuation::Registered(done)], None);
                self.meta_event(
                    realm_id,
                    "wamp.registration.on_register",
                    vec![Value::UInt(session), Value::UInt(reg)],
                );
            }
        }
    }

    pub(crate) fn on_registered(&mut self, done: RegisterDone) {
        let conn = done.conn;
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        if s.info.session != done.session {
            return;
        }
        s.registering = s.registering.saturating_sub(1);
        let deferred = if s.registering == 0 {
            s.extra_mut()
                .map(|x| std::mem::take(&mut x.deferred))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        match done.result {
            Ok(reg) => {
                s.regs.insert(reg, (done.uri, done.policy));
                self.send(
                    conn,
                    &Message::Registered {
                        request: done.request,
                        registration: reg,
                    },
                );
            }
            Err(e) => self.error(conn, MessageType::Register, done.request, e, None),
        }
        // Invocations that overtook their REGISTERED: deliver (or bounce) them now.
        for inv in deferred {
            self.on_invoke(inv);
        }
    }

    // ---- unregister -----------------------------------------------------------

    pub(crate) fn on_unregister(&mut self, conn: ConnId, request: Id, reg: RegId) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let (realm_id, session) = (s.realm, s.info.session);
        if s.regs.remove(&reg).is_none() {
            return self.error(
                conn,
                MessageType::Unregister,
                request,
                uris::ERROR_NO_SUCH_REGISTRATION,
                None,
            );
        }
        let Some(home) = self.realm(realm_id).map(|r| r.home) else {
            return;
        };
        // UNREGISTERED is sent once every replica has dropped the callee.
        self.send_peer(
            home,
            PeerMsg::Unregister {
                realm: realm_id,
                conn,
                session,
                reg,
                request,
            },
        );
    }

    pub(crate) fn home_unregister(
        &mut self,
        from: ShardId,
        realm_id: RealmId,
        conn: ConnId,
        session: SessionId,
        reg: RegId,
        request: Id,
    ) {
        if let Some(rec) = self
            .realm_mut(realm_id)
            .and_then(|r| r.home_state.as_mut())
            .and_then(|h| h.sessions.get_mut(&session))
        {
            rec.regs.retain(|r| *r != reg);
        }
        self.home_drop_callee(
            realm_id,
            session,
            from,
            reg,
            Some(Continuation::Unregistered {
                shard: from,
                conn,
                session,
                request,
            }),
        );
    }

    /// Removes a callee from a registration (UNREGISTER or the session left).
    pub(crate) fn home_drop_callee(
        &mut self,
        realm_id: RealmId,
        session: SessionId,
        shard: ShardId,
        reg: RegId,
        then: Option<Continuation>,
    ) {
        let found = self
            .realm_mut(realm_id)
            .and_then(|r| r.home_state.as_mut())
            .and_then(|h| h.regs.remove_callee(reg, session));
        let Some(deleted) = found else {
            if let Some(then) = then {
                self.run_continuation(realm_id, then);
            }
            return;
        };
        let op = ReplicaOp::RegRemoveCallee {
            reg,
            callee: CalleeRef { shard, session },
        };
        self.home_update(realm_id, op, then.into_iter().collect(), None);
        self.member_removed::<HomeReg>(realm_id, session, reg, deleted);
    }

    // ---- call (caller's shard) ------------------------------------------------

    pub(crate) fn on_call(
        &mut self,
        conn: ConnId,
        request: Id,
        options: Dict,
        procedure: String,
        payload: Payload,
        granted: Option<&Granted>,
    ) {
        const T: MessageType = MessageType::Call;
        let Some(s) = self.session(conn) else { return };
        let (realm_id, info) = (s.realm, s.info.clone());
        let progress = match flag(&options, "progress") {
            Ok(p) => p.unwrap_or(false),
            Err(m) => return self.error(conn, T, request, uris::ERROR_INVALID_ARGUMENT, Some(&m)),
        };
        if let Some(call_id) = s.extra_ref().and_then(|x| x.calls.get(&request)).copied() {
            return self.call_more(conn, request, call_id, progress, payload);
        }
        let Some(realm) = self.realms.get(realm_id as usize).and_then(Option::as_ref) else {
            return;
        };
        if let Err(e) = uri::validate(
            &procedure,
            realm.config.options.uri_check,
            MatchPolicy::Exact,
        ) {
            return self.error(
                conn,
                T,
                request,
                uris::ERROR_INVALID_URI,
                Some(&format!("invalid procedure '{procedure}': {e}")),
            );
        }
        let decision = match decide(
            &realm.roles,
            &info.authrole,
            &procedure,
            Action::Call,
            granted,
        ) {
            Ok(d) => d,
            Err((error, message)) => return self.error(conn, T, request, error, Some(&message)),
        };
        let max = realm.config.limits.max_payload_size;
        if max > 0 && payload.raw_len().unwrap_or(0) > max {
            return self.error(
                conn,
                T,
                request,
                uris::ERROR_PAYLOAD_SIZE_EXCEEDED,
                Some(&format!("payload larger than {max} bytes")),
            );
        }
        let relays = self.may_relay(conn, &info);
        let parsed = (|| -> Result<_, String> {
            let timeout = match options.get("timeout") {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_u64()
                    .ok_or("option 'timeout' must be a non-negative integer (milliseconds)")?,
            };
            Ok((
                flag(&options, "receive_progress")?.unwrap_or(false),
                flag(&options, "disclose_me")?.unwrap_or(false),
                timeout,
                if relays { forward_for(&options)? } else { None },
            ))
        })();
        let (receive_progress, disclose_me, timeout, forward_for) = match parsed {
            Ok(p) => p,
            Err(m) => return self.error(conn, T, request, uris::ERROR_INVALID_ARGUMENT, Some(&m)),
        };
        if disclose_me && !realm.config.options.allow_disclose_me {
            return self.error(
                conn,
                T,
                request,
                uris::ERROR_OPTION_DISALLOWED_DISCLOSE_ME,
                None,
            );
        }
        if uri::is_reserved(&procedure) && realm.config.options.enable_meta_api {
            return self.on_meta_call(conn, request, realm_id, procedure, payload, &info);
        }
        let Some((registration, reg_policy, callee)) = pick(realm, &procedure, &[], &mut self.rng)
        else {
            return self.error(
                conn,
                T,
                request,
                uris::ERROR_NO_SUCH_PROCEDURE,
                Some(&format!("no callee registered for '{procedure}'")),
            );
        };
        let call = self.dealer.next_call;
        self.dealer.next_call += 1;
        let timer = (timeout > 0).then(|| {
            self.set_timer(
                self.now_ms.saturating_add(timeout),
                TimerKind::CallTimeout(call),
            )
        });
        let caller = (disclose_me || decision.disclose).then(|| info.clone());
        let invoke = Invoke {
            realm: realm_id,
            call,
            caller_shard: self.shard,
            caller: caller.clone(),
            forward_for: forward_for.clone(),
            registration,
            callee: callee.session,
            procedure: (reg_policy != MatchPolicy::Exact).then(|| procedure.clone()),
            receive_progress,
            progress,
            timeout,
            payload: payload.clone(),
        };
        self.dealer.calls.insert(
            call,
            CallerCall {
                conn,
                request,
                realm: realm_id,
                procedure,
                callee: Some(callee),
                tried: Vec::new(),
                receive_progress,
                timeout,
                timer,
                caller,
                forward_for,
                progressive: progress,
                payload,
                internal: None,
            },
        );
        if let Some(s) = self.session_mut(conn) {
            s.extra().calls.insert(request, call);
        }
        self.send_peer(callee.shard, PeerMsg::Invoke(Box::new(invoke)));
    }

    /// A further CALL with the same request id: a progressive call invocation.
    fn call_more(
        &mut self,
        conn: ConnId,
        request: Id,
        call_id: CallId,
        progress: bool,
        payload: Payload,
    ) {
        let Some(call) = self.dealer.calls.get_mut(&call_id) else {
            return;
        };
        if !call.progressive {
            return self.protocol_violation(
                conn,
                &format!("CALL reuses request id {request} of a call in progress"),
            );
        }
        call.progressive = progress;
        let Some(callee) = call.callee else { return };
        self.send_peer(
            callee.shard,
            PeerMsg::InvokeMore {
                call: call_id,
                caller_shard: self.shard,
                callee: callee.session,
                progress,
                payload,
            },
        );
    }

    /// The chosen callee could not take the call: try another, or fail.
    pub(crate) fn on_bounce(
        &mut self,
        call_id: CallId,
        callee: CalleeRef,
        failure: super::peer::CallFailure,
    ) {
        let Some(call) = self.dealer.calls.get_mut(&call_id) else {
            return;
        };
        call.tried.push(callee);
        let tried = call.tried.clone();
        let (realm_id, procedure) = (call.realm, call.procedure.clone());
        let rng = &mut self.rng;
        let picked = self
            .realms
            .get(realm_id as usize)
            .and_then(Option::as_ref)
            .and_then(|r| pick(r, &procedure, &tried, rng));
        let Some((registration, reg_policy, next)) = picked else {
            return self.finish_call(call_id, Err(failure));
        };
        let Some(call) = self.dealer.calls.get_mut(&call_id) else {
            return;
        };
        call.callee = Some(next);
        let invoke = Invoke {
            realm: realm_id,
            call: call_id,
            caller_shard: self.shard,
            caller: call.caller.clone(),
            forward_for: call.forward_for.clone(),
            registration,
            callee: next.session,
            procedure: (reg_policy != MatchPolicy::Exact).then_some(procedure),
            receive_progress: call.receive_progress,
            progress: call.progressive,
            timeout: call.timeout,
            payload: call.payload.clone(),
        };
        self.send_peer(next.shard, PeerMsg::Invoke(Box::new(invoke)));
    }

    /// A result from the callee's shard.
    pub(crate) fn on_result(&mut self, call_id: CallId, progress: bool, payload: Payload) {
        let Some(call) = self.dealer.calls.get(&call_id) else {
            return;
        };
        if progress && !call.receive_progress {
            // The caller did not ask for progressive results: drop them.
            return;
        }
        if progress {
            let (conn, request) = (call.conn, call.request);
            let details = crate::dict! { "progress" => true };
            let msg = Message::Result {
                request,
                details,
                payload,
            };
            if let Err(e) = self.try_send(conn, &msg) {
                // The caller cannot receive this result: end the call with an
                // ERROR it can read, and stop the callee.
                self.transcode_failed(1, format_args!("progressive RESULT for conn {conn}: {e}"));
                let failure = untranscodable("the result", self.serializer_of(conn), &e);
                self.abandon_call(call_id, failure);
            }
        } else {
            self.finish_call(call_id, Ok(payload));
        }
    }

    pub(crate) fn on_call_error(&mut self, call_id: CallId, failure: CallFailure) {
        self.finish_call(call_id, Err(failure));
    }

    /// Ends a call: sends RESULT or ERROR to the caller and forgets the call.
    pub(crate) fn finish_call(&mut self, call_id: CallId, result: Result<Payload, CallFailure>) {
        let Some(call) = self.dealer.calls.remove(&call_id) else {
            return;
        };
        if let Some(t) = call.timer {
            self.cancel_timer(t);
        }
        if let Some(purpose) = call.internal {
            return self.internal_done(purpose, &call.procedure, call.timeout, result);
        }
        if let Some(s) = self.session_mut(call.conn) {
            if let Some(x) = s.extra_mut() {
                x.calls.remove(&call.request);
            }
        } else {
            return;
        }
        let (conn, request) = (call.conn, call.request);
        let (msg, what) = match result {
            Ok(payload) => (
                Message::Result {
                    request,
                    details: Dict::new(),
                    payload,
                },
                "the result",
            ),
            Err(f) => (
                Message::Error {
                    request_type: MessageType::Call,
                    request,
                    details: f.details,
                    error: f.error,
                    payload: f.payload,
                },
                "the error's arguments",
            ),
        };
        if let Err(e) = self.try_send(conn, &msg) {
            // Never leave the caller waiting: answer with an ERROR it can read.
            let ty = msg.message_type().name();
            self.transcode_failed(1, format_args!("{ty} for conn {conn}: {e}"));
            let f = untranscodable(what, self.serializer_of(conn), &e);
            self.error_from(conn, MessageType::Call, request, f);
        }
    }

    /// Ends a call with `failure` at once and cancels its invocation (killnowait).
    pub(crate) fn abandon_call(&mut self, call_id: CallId, failure: CallFailure) {
        let Some(call) = self.dealer.calls.get(&call_id) else {
            return;
        };
        if let Some(callee) = call.callee {
            self.send_peer(
                callee.shard,
                PeerMsg::Cancel {
                    call: call_id,
                    caller_shard: self.shard,
                    callee: callee.session,
                    mode: CancelMode::KillNoWait,
                },
            );
        }
        self.finish_call(call_id, Err(failure));
    }

    /// The serializer of a local connection.
    fn serializer_of(&self, conn: ConnId) -> Option<Serializer> {
        self.conns.get(&conn).map(|c| c.serializer)
    }

    pub(crate) fn on_cancel(&mut self, conn: ConnId, request: Id, options: &Dict) {
        let Some(s) = self.session(conn) else { return };
        let Some(call_id) = s.extra_ref().and_then(|x| x.calls.get(&request)).copied() else {
            // The call already ended: nothing to cancel.
            return;
        };
        let mode = match options.get("mode") {
            None | Some(Value::Null) => CancelMode::KillNoWait,
            Some(Value::Str(m)) => match CancelMode::from_option(Some(m)) {
                Some(mode) => mode,
                None => {
                    return self.error(
                        conn,
                        MessageType::Cancel,
                        request,
                        uris::ERROR_INVALID_ARGUMENT,
                        Some(&format!("unknown cancel mode '{m}'")),
                    )
                }
            },
            Some(_) => {
                return self.error(
                    conn,
                    MessageType::Cancel,
                    request,
                    uris::ERROR_INVALID_ARGUMENT,
                    Some("option 'mode' must be a string"),
                )
            }
        };
        self.cancel_call(call_id, mode, uris::ERROR_CANCELED);
    }

    /// Cancels a call in `mode`, answering the caller with `error` unless the
    /// mode waits for the callee.
    fn cancel_call(&mut self, call_id: CallId, mode: CancelMode, error: &str) {
        let Some(call) = self.dealer.calls.get_mut(&call_id) else {
            return;
        };
        let Some(callee) = call.callee else {
            // A meta call: answer now; its late result is dropped.
            return self.finish_call(call_id, Err(CallFailure::uri(error)));
        };
        self.send_peer(
            callee.shard,
            PeerMsg::Cancel {
                call: call_id,
                caller_shard: self.shard,
                callee: callee.session,
                mode,
            },
        );
        if mode != CancelMode::Kill {
            self.finish_call(call_id, Err(CallFailure::uri(error)));
        }
    }

    pub(crate) fn on_cancel_skipped(&mut self, call_id: CallId) {
        self.finish_call(call_id, Err(CallFailure::uri(uris::ERROR_CANCELED)));
    }

    pub(crate) fn on_call_timeout(&mut self, call_id: CallId) {
        let Some(call) = self.dealer.calls.get_mut(&call_id) else {
            return;
        };
        call.timer = None;
        // Spec: the cancel mode is killnowait if the callee supports canceling, else skip
        // (the callee's shard knows which); the caller gets wamp.error.timeout.
        self.cancel_call(call_id, CancelMode::KillNoWait, uris::ERROR_TIMEOUT);
    }

    /// The caller left: cancel its calls (killnowait, or skip where the callee cannot be interrupted).
    pub(crate) fn caller_left(&mut self, session: &Session) {
        for call_id in session
            .extra_ref()
            .into_iter()
            .flat_map(|x| x.calls.values())
        {
            if let Some(call) = self.dealer.calls.remove(call_id) {
                if let Some(t) = call.timer {
                    self.cancel_timer(t);
                }
                if let Some(callee) = call.callee {
                    self.send_peer(
                        callee.shard,
                        PeerMsg::Cancel {
                            call: *call_id,
                            caller_shard: self.shard,
                            callee: callee.session,
                            mode: CancelMode::KillNoWait,
                        },
                    );
                }
            }
        }
    }

    // ---- invocation (callee's shard) ------------------------------------------

    pub(crate) fn on_invoke(&mut self, inv: Invoke) {
        let realm_id = inv.realm;
        let conn = self
            .realm(realm_id)
            .and_then(|r| r.local_sessions.get(&inv.callee).copied());
        let max = self
            .realm(realm_id)
            .map_or(0, |r| r.config.limits.max_pending_invocations_per_callee);
        let me = CalleeRef {
            shard: self.shard,
            session: inv.callee,
        };
        let bounce = |core: &mut RouterCore, failure: CallFailure| {
            core.send_peer(
                inv.caller_shard,
                PeerMsg::Bounce {
                    call: inv.call,
                    callee: me,
                    failure,
                },
            );
        };
        let Some(conn) = conn else {
            return bounce(
                self,
                CallFailure::message(uris::ERROR_NO_SUCH_PROCEDURE, "the callee left"),
            );
        };
        let Some(s) = self.session_mut(conn) else {
            return bounce(
                self,
                CallFailure::message(uris::ERROR_NO_SUCH_PROCEDURE, "the callee left"),
            );
        };
        if !s.regs.contains_key(&inv.registration) && s.registering > 0 {
            // The caller's shard learnt of the registration before this session
            // was told: hold the invocation until REGISTERED has been sent.
            s.extra().deferred.push(inv);
            return;
        }
        if !s.regs.contains_key(&inv.registration) {
            return bounce(
                self,
                CallFailure::message(uris::ERROR_NO_SUCH_PROCEDURE, "the callee unregistered"),
            );
        }
        if max > 0 && s.extra_ref().map_or(0, |x| x.invocations.len()) >= max {
            return bounce(
                self,
                CallFailure::message(
                    ERROR_LIMIT_EXCEEDED,
                    format!("the callee has {max} invocations pending"),
                ),
            );
        }
        // A callee that relays (a router link) is told the call's timeout
        // (the spec's callee-initiated timeout, ap_11: the dealer MAY pass
        // it), so the next router runs it too; this dealer still runs its own.
        let pass_timeout = inv.timeout > 0
            && self
                .session(conn)
                .is_some_and(|s| self.may_relay(conn, &s.info));
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let request = s.requests.next();
        s.extra().invocations.insert(
            request,
            Invocation {
                caller_shard: inv.caller_shard,
                call: inv.call,
                registration: inv.registration,
                discard: false,
            },
        );
        self.dealer
            .invocations
            .insert((inv.caller_shard, inv.call), (conn, request));
        let mut details = Dict::new();
        if let Some(p) = inv.procedure {
            details.insert("procedure".into(), Value::Str(p));
        }
        if let Some(c) = &inv.caller {
            // A relayed call discloses its original caller, the first entry
            // of `forward_for` (as Crossbar.io), not the link's session.
            let origin = inv.forward_for.as_ref().and_then(|f| match f.first() {
                Some(Value::Dict(d)) => Some(d),
                _ => None,
            });
            if let Some(o) = origin {
                for (from, to) in [
                    ("session", "caller"),
                    ("authid", "caller_authid"),
                    ("authrole", "caller_authrole"),
                ] {
                    if let Some(v) = o.get(from) {
                        details.insert(to.into(), v.clone());
                    }
                }
            } else {
                details.insert("caller".into(), Value::UInt(c.session));
                details.insert("caller_authid".into(), Value::from(c.authid.as_str()));
                details.insert("caller_authrole".into(), Value::from(c.authrole.as_str()));
            }
        }
        if let Some(f) = inv.forward_for {
            details.insert("forward_for".into(), Value::List(f));
        }
        if inv.receive_progress {
            details.insert("receive_progress".into(), Value::Bool(true));
        }
        if pass_timeout {
            details.insert("timeout".into(), Value::UInt(inv.timeout));
        }
        if inv.progress {
            details.insert("progress".into(), Value::Bool(true));
        }
        let msg = Message::Invocation {
            request,
            registration: inv.registration,
            details,
            payload: inv.payload,
        };
        if let Err(e) = self.try_send(conn, &msg) {
            // The callee cannot receive the arguments: the caller hears of it.
            self.transcode_failed(1, format_args!("INVOCATION for conn {conn}: {e}"));
            if let Some(s) = self.session_mut(conn) {
                if let Some(x) = s.extra_mut() {
                    x.invocations.remove(&request);
                }
            }
            self.dealer
                .invocations
                .remove(&(inv.caller_shard, inv.call));
            let failure = untranscodable("the call's arguments", self.serializer_of(conn), &e);
            self.send_peer(
                inv.caller_shard,
                PeerMsg::CallError {
                    call: inv.call,
                    failure,
                },
            );
        }
    }

    pub(crate) fn on_invoke_more(
        &mut self,
        caller_shard: ShardId,
        call: CallId,
        callee: SessionId,
        progress: bool,
        payload: Payload,
    ) {
        let Some(&(conn, request)) = self.dealer.invocations.get(&(caller_shard, call)) else {
            return;
        };
        let Some(s) = self.session(conn) else { return };
        let Some(inv) = s.extra_ref().and_then(|x| x.invocations.get(&request)) else {
            return;
        };
        if inv.discard {
            return;
        }
        let registration = inv.registration;
        let mut details = Dict::new();
        if progress {
            details.insert("progress".into(), Value::Bool(true));
        }
        let msg = Message::Invocation {
            request,
            registration,
            details,
            payload,
        };
        if let Err(e) = self.try_send(conn, &msg) {
            // As for the first INVOCATION; the callee's invocation is dropped
            // (interrupted where it can be) and its late YIELD ignored.
            self.transcode_failed(1, format_args!("INVOCATION for conn {conn}: {e}"));
            self.on_interrupt(caller_shard, call, callee, CancelMode::KillNoWait);
            let failure = untranscodable("the call's arguments", self.serializer_of(conn), &e);
            self.send_peer(caller_shard, PeerMsg::CallError { call, failure });
        }
    }

    pub(crate) fn on_yield(&mut self, conn: ConnId, request: Id, options: &Dict, payload: Payload) {
        let progress = matches!(options.get("progress"), Some(Value::Bool(true)));
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let realm_id = s.realm;
        let Some(inv) = s
            .extra_ref()
            .and_then(|x| x.invocations.get(&request))
            .cloned()
        else {
            // Unknown or canceled invocation: the spec has the router ignore it.
            return;
        };
        if !progress {
            if let Some(x) = s.extra_mut() {
                x.invocations.remove(&request);
            }
            self.dealer
                .invocations
                .remove(&(inv.caller_shard, inv.call));
        }
        if inv.discard {
            return;
        }
        let max = self
            .realm(realm_id)
            .map_or(0, |r| r.config.limits.max_payload_size);
        if max > 0 && payload.raw_len().unwrap_or(0) > max {
            let f = CallFailure::message(
                uris::ERROR_PAYLOAD_SIZE_EXCEEDED,
                format!("result larger than {max} bytes"),
            );
            return self.send_peer(
                inv.caller_shard,
                PeerMsg::CallError {
                    call: inv.call,
                    failure: f,
                },
            );
        }
        self.send_peer(
            inv.caller_shard,
            PeerMsg::Yield {
                call: inv.call,
                progress,
                payload,
            },
        );
    }

    pub(crate) fn on_invocation_error(
        &mut self,
        conn: ConnId,
        request: Id,
        details: Dict,
        error: String,
        payload: Payload,
    ) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let Some(inv) = s.extra_mut().and_then(|x| x.invocations.remove(&request)) else {
            return;
        };
        self.dealer
            .invocations
            .remove(&(inv.caller_shard, inv.call));
        if inv.discard {
            return;
        }
        self.send_peer(
            inv.caller_shard,
            PeerMsg::CallError {
                call: inv.call,
                failure: CallFailure {
                    error,
                    details,
                    payload,
                },
            },
        );
    }

    /// The caller's shard cancels an invocation here.
    pub(crate) fn on_interrupt(
        &mut self,
        caller_shard: ShardId,
        call: CallId,
        _callee: SessionId,
        mode: CancelMode,
    ) {
        let Some(&(conn, request)) = self.dealer.invocations.get(&(caller_shard, call)) else {
            return;
        };
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        let supports = s.info.features.callee_call_canceling;
        let Some(inv) = s.extra_mut().and_then(|x| x.invocations.get_mut(&request)) else {
            return;
        };
        let interrupt = match mode {
            CancelMode::Skip => {
                inv.discard = true;
                false
            }
            CancelMode::KillNoWait => {
                inv.discard = true;
                supports
            }
            CancelMode::Kill if supports => true,
            CancelMode::Kill => {
                inv.discard = true;
                self.send_peer(caller_shard, PeerMsg::CancelSkipped { call });
                false
            }
        };
        if interrupt {
            let options = crate::dict! { "mode" => mode.as_str() };
            self.send(conn, &Message::Interrupt { request, options });
        }
    }

    /// The callee left: its open invocations fail at their callers.
    pub(crate) fn callee_left(&mut self, _conn: ConnId, session: &Session) {
        for inv in session
            .extra_ref()
            .into_iter()
            .flat_map(|x| x.invocations.values())
        {
            self.dealer
                .invocations
                .remove(&(inv.caller_shard, inv.call));
            if !inv.discard {
                let f = CallFailure::message(uris::ERROR_CANCELED, "the callee left");
                self.send_peer(
                    inv.caller_shard,
                    PeerMsg::CallError {
                        call: inv.call,
                        failure: f,
                    },
                );
            }
        }
        for inv in session
            .extra_ref()
            .into_iter()
            .flat_map(|x| x.deferred.iter())
        {
            let f = CallFailure::message(uris::ERROR_CANCELED, "the callee left");
            self.send_peer(
                inv.caller_shard,
                PeerMsg::CallError {
                    call: inv.call,
                    failure: f,
                },
            );
        }
    }
}
