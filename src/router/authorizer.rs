//! Dynamic authorizers: a role `{name, authorizer = URI}` has no
//! permissions; each PUBLISH, SUBSCRIBE, CALL and REGISTER of a session of
//! that role asks the procedure, as Crossbar.io does
//! (`crossbar/router/role.py`, `RouterRoleDynamicAuth`), before the broker or
//! the dealer acts on it.
//!
//! **The call.** `authorize(session, uri, action, options)` on the session's
//! own realm, made by the core as an internal call (`internal.rs`): `session`
//! is `{session, authid, authrole, authmethod, authprovider, authextra,
//! transport}`, `action` one of `publish`, `subscribe`, `call`, `register`,
//! `options` the message's options. The bound is the realm option
//! `authorizer_timeout` (ms, default 10 s).
//!
//! **The answer.** `true`/`false`, or a dict `{allow, disclose, cache,
//! validate}`: `allow` (required) decides; `disclose` discloses the caller or
//! publisher (as a permission's `disclose`); `cache` keeps the decision in the
//! realm's cache by (authrole, uri, action) ([`super::authz::AuthzCache`]); `validate`
//! (Crossbar.io's payload validation) is accepted and ignored. A denial is
//! the spec's `wamp.error.not_authorized` for the action; an authorizer that
//! fails — no callee registered, an error raised, no answer in time, an
//! answer of another shape — refuses the action with the spec's
//! `wamp.error.authorization_failed` and a message saying why (counted in
//! `authorizer_failures`, logged at most every 10 s per shard). For a
//! PUBLISH, as for every publish error, the publisher hears of it only when
//! it asked for acknowledgement.
//!
//! **The cache** is per realm on each shard (each shard asks at most once per
//! key, no shard waits for another). It is dropped for a role when the role
//! is set or removed (`start_router_realm_role`, `stop_router_realm_role`,
//! on every shard), and for a realm or one of its roles on demand by the
//! `clear_authorizer_cache` control operation. Entries do not expire
//! otherwise (as in Crossbar.io).
//!
//! **Order.** While one of a session's messages waits for the authorizer,
//! every later message of that session waits behind it, whatever its type
//! (YIELD, CANCEL and GOODBYE included), and they are handled in arrival
//! order once it is decided: a session's messages are never reordered, so
//! a PUBLISH is never overtaken by the CALL it preceded, nor a CALL by its
//! CANCEL. The price is head-of-line blocking within that one session only
//! (other sessions go on), and the rule that follows from it: an authorizer
//! must not wait on the session it is authorizing (an authorizer that calls
//! that session's procedures times out). Cached decisions are synchronous:
//! nothing waits. At most [`MAX_HELD`] messages wait per session; one more
//! aborts the session with `shardwamp.error.limit_exceeded`.
//!
//! Testaments of a leaving session with a dynamic role are published only
//! to topics its role's cached decisions allow (the session is gone: there
//! is no one to hold a message for).

use super::authz::{Action, Decision, Granted, Verdict};
use super::dealer::Internal;
use super::internal::InternalFailure;
use super::limits::ERROR_LIMIT_EXCEEDED;
use super::options::match_policy;
use super::{CallId, ConnId, RealmId, RouterCore, SessionId};
use crate::dict;
use crate::wamp::message::Message;
use crate::wamp::uri::{self, MatchPolicy};
use crate::wamp::value::Value;

/// Most messages a session may have waiting behind one that waits for its authorizer.
pub const MAX_HELD: usize = 1024;

/// A session's message waiting for its authorizer.
pub(crate) struct AuthzWait {
    /// The internal call asking the authorizer.
    pub call: CallId,
    msg: Message,
    action: Action,
    uri: String,
    role: String,
    authorizer: String,
}

/// The action and URI a message asks to be authorized for, and its options.
fn subject(msg: &Message) -> Option<(Action, &str, &crate::wamp::value::Dict)> {
    match msg {
        Message::Publish { topic, options, .. } => Some((Action::Publish, topic, options)),
        Message::Subscribe { topic, options, .. } => Some((Action::Subscribe, topic, options)),
        Message::Call {
            procedure, options, ..
        } => Some((Action::Call, procedure, options)),
        Message::Register {
            procedure, options, ..
        } => Some((Action::Register, procedure, options)),
        _ => None,
    }
}

impl RouterCore {
    /// Before a joined session's message is handled: `Some` with what its
    /// role's authorizer decided (none for a static role, or a message that
    /// needs no authorization) to handle it now; `None` when it waits for the
    /// authorizer's answer.
    pub(crate) fn authorize_gate(
        &mut self,
        conn: ConnId,
        msg: Message,
    ) -> Option<(Message, Option<Granted>)> {
        let Some((action, uri, options)) = subject(&msg) else {
            return Some((msg, None));
        };
        let Some(s) = self.session(conn) else {
            return Some((msg, None));
        };
        if let Message::Call { request, .. } = &msg {
            if s.extra_ref().is_some_and(|x| x.calls.contains_key(request)) {
                return Some((msg, None)); // a progressive call's next chunk
            }
        }
        let (realm_id, info) = (s.realm, s.info.clone());
        let Some(realm) = self.realm(realm_id) else {
            return Some((msg, None));
        };
        let authorizer = match realm.roles.verdict(&info.authrole, uri, action) {
            Verdict::Decided(_) => return Some((msg, None)),
            Verdict::Ask(a) => a.to_owned(),
        };
        // What the handler refuses before authorizing is not asked about.
        let policy = match action {
            Action::Subscribe | Action::Register => match match_policy(options) {
                Ok(p) => p,
                Err(_) => return Some((msg, None)),
            },
            Action::Publish | Action::Call => MatchPolicy::Exact,
        };
        if uri::validate(uri, realm.config.options.uri_check, policy).is_err()
            || (matches!(action, Action::Publish | Action::Register) && uri::is_reserved(uri))
        {
            return Some((msg, Some(Granted::Decided(Decision::DENY))));
        }
        if let Some(d) = realm.authz_cache.get(&info.authrole, uri, action) {
            self.stats.authorizer_cache_hits += 1;
            return Some((msg, Some(Granted::Decided(d))));
        }
        let timeout = realm.config.options.authorizer_timeout;
        let session = dict! {
            "session" => info.session,
            "authid" => info.authid.as_str(),
            "authrole" => info.authrole.as_str(),
            "authmethod" => info.authmethod.as_str(),
            "authprovider" => info.authprovider.as_str(),
            "authextra" => info.authextra.clone().map_or(Value::Null, Value::Dict),
            "transport" => Value::Dict(info.transport.to_dict()),
        };
        let args = vec![
            Value::Dict(session),
            Value::from(uri),
            Value::from(action.as_str()),
            Value::Dict(options.clone()),
        ];
        let uri = uri.to_owned();
        self.stats.authorizer_calls += 1;
        let purpose = Internal::Authorize {
            conn,
            session: info.session,
        };
        match self.internal_call(realm_id, &authorizer, args, timeout, purpose) {
            Err(m) => {
                let m = format!("authorizer unavailable: {m}");
                self.authorizer_failed(&m);
                Some((msg, Some(Granted::Failed(m))))
            }
            Ok(call) => {
                if let Some(s) = self.session_mut(conn) {
                    s.authz_wait = Some(Box::new(AuthzWait {
                        call,
                        msg,
                        action,
                        uri,
                        role: info.authrole.clone(),
                        authorizer,
                    }));
                }
                None
            }
        }
    }

    /// Counts and logs (at most every 10 s per shard) an authorizer failure.
    fn authorizer_failed(&mut self, message: &str) {
        self.stats.authorizer_failures += 1;
        if let Some(suppressed) = self.authz_log.allow(self.now_ms) {
            log::warn!(
                "shard {}: action refused: {message} ({suppressed} more since the last such line)",
                self.shard
            );
        }
    }

    /// A message arrived while an earlier one of the session waits for the
    /// authorizer: it waits too (or, past [`MAX_HELD`], the session is aborted).
    pub(crate) fn hold(&mut self, conn: ConnId, msg: Message) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        if s.extra_ref().map_or(0, |x| x.held.len()) >= MAX_HELD {
            let m = format!("more than {MAX_HELD} messages waiting for the authorizer");
            return self.abort(conn, ERROR_LIMIT_EXCEEDED, &m);
        }
        s.extra().held.push_back(msg);
    }

    /// The authorizer answered (or failed to) for `conn`'s waiting message:
    /// handle it with that decision, then the messages held behind it.
    pub(crate) fn on_authorizer_answer(
        &mut self,
        conn: ConnId,
        session: SessionId,
        outcome: Result<Value, InternalFailure>,
    ) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        if s.info.session != session {
            return;
        }
        let Some(wait) = s.authz_wait.take() else {
            return;
        };
        let realm_id = s.realm;
        let (granted, cache) = match outcome {
            Ok(Value::Bool(allow)) => (
                Granted::Decided(Decision {
                    allow,
                    disclose: false,
                }),
                false,
            ),
            Ok(Value::Dict(d)) => match d.get("allow") {
                Some(Value::Bool(allow)) => {
                    let flag = |k: &str| matches!(d.get(k), Some(Value::Bool(true)));
                    let disclose = *allow
                        && flag("disclose")
                        && matches!(wait.action, Action::Call | Action::Publish);
                    (
                        Granted::Decided(Decision {
                            allow: *allow,
                            disclose,
                        }),
                        flag("cache"),
                    )
                }
                _ => (
                    Granted::Failed(format!(
                        "authorizer '{}' answered a dict without a boolean 'allow'",
                        wait.authorizer
                    )),
                    false,
                ),
            },
            Ok(other) => (
                Granted::Failed(format!(
                    "authorizer '{}' answered a {}, not a bool or a dict",
                    wait.authorizer,
                    other.type_name()
                )),
                false,
            ),
            Err(f) if f.from_callee => (
                Granted::Failed(format!(
                    "authorizer '{}' raised {}{}",
                    wait.authorizer,
                    f.error,
                    if f.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", f.message)
                    }
                )),
                false,
            ),
            Err(f) => (Granted::Failed(format!("authorizer {}", f.message)), false),
        };
        if let Granted::Failed(m) = &granted {
            let m = m.clone();
            self.authorizer_failed(&m);
        }
        if let (true, Granted::Decided(d)) = (cache, &granted) {
            // Only while the role still asks this authorizer: a role set
            // meanwhile dropped the cache, and a stale answer must not refill it.
            if let Some(r) = self.realm_mut(realm_id) {
                let current = r
                    .roles
                    .get(&wait.role)
                    .and_then(|role| role.authorizer())
                    .is_some_and(|a| a == wait.authorizer);
                if current {
                    r.authz_cache.insert(&wait.role, &wait.uri, wait.action, *d);
                }
            }
        }
        self.dispatch_session(conn, wait.msg, Some(granted));
        self.release_held(conn);
    }

    /// Handles the messages held behind an authorization, in order, until
    /// one of them waits for the authorizer again.
    fn release_held(&mut self, conn: ConnId) {
        let Some(s) = self.session_mut(conn) else {
            return;
        };
        if s.authz_wait.is_some() {
            return;
        }
        let Some(x) = s.extra_mut() else {
            return;
        };
        let mut queue = std::mem::take(&mut x.held);
        while let Some(msg) = queue.pop_front() {
            // After a GOODBYE the connection is back to waiting for HELLO:
            // the rest goes through the connection's state machine.
            self.handle(conn, msg);
            if let Some(s) = self.session_mut(conn) {
                if s.authz_wait.is_some() {
                    let x = s.extra();
                    queue.append(&mut x.held);
                    x.held = queue;
                    return;
                }
            }
        }
    }

    /// Whether a leaving session of a dynamic role may publish its testament
    /// to `topic`: only where a cached answer allows it.
    pub(crate) fn testament_allowed(&self, realm_id: RealmId, role: &str, topic: &str) -> bool {
        self.realm(realm_id)
            .is_some_and(|r| match r.roles.verdict(role, topic, Action::Publish) {
                Verdict::Decided(d) => d.allow,
                Verdict::Ask(_) => r
                    .authz_cache
                    .get(role, topic, Action::Publish)
                    .is_some_and(|d| d.allow),
            })
    }

    /// Drops a realm's cached authorizer answers (one role's, or all);
    /// returns how many were dropped on this shard.
    pub fn clear_authorizer_cache(&mut self, realm: RealmId, role: Option<&str>) -> usize {
        self.realm_mut(realm).map_or(0, |r| match role {
            Some(role) => r.authz_cache.clear_role(role),
            None => r.authz_cache.clear(),
        })
    }

    /// How many authorizer answers a realm caches on this shard.
    pub fn authorizer_cache_len(&self, realm: RealmId) -> usize {
        self.realm(realm).map_or(0, |r| r.authz_cache.len())
    }
}
