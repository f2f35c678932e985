//! The router's own calls: a dynamic authenticator or authorizer is an
//! ordinary procedure some session registered, and the core calls it as a
//! caller without a session.
//!
//! **Why this path.** Components (`src/component`) are sessions of shard 0
//! joined through an internal transport, and the management realm is served
//! by one of them; making the router's questions through such a session
//! would send every HELLO and every authorized action of every shard to
//! shard 0 and back through the client stack, with a session per
//! (realm, role) to keep alive. Instead the core that holds the waiting
//! connection opens the call itself in its dealer ([`super::dealer`]): it
//! picks a callee from its own replica of the realm's registrations, by the
//! registration's invocation policy, and sends `Invoke` to the callee's
//! shard exactly as for a client's CALL, so the callee sees a plain
//! INVOCATION (caller not disclosed), bounces go to the next callee, and
//! YIELD or ERROR come straight back over the mesh. The call's
//! [`CallerCall::internal`](super::dealer::CallerCall) names what waits for
//! it ([`Internal`], the dealer's); the dealer's call timeout is the answer's bound.
//! Nothing blocks: the connection or message waits in its own state and the
//! shard goes on with everything else.
//!
//! If what waits goes away first (the connection closes), the call is
//! abandoned (killnowait to the callee) and a late answer is dropped.

use super::dealer::{self, CallerCall, Internal};
use super::peer::{CallFailure, Invoke, PeerMsg};
use super::{CallId, RealmId, RouterCore, TimerKind};
use crate::wamp::message::Payload;
use crate::wamp::uri::MatchPolicy;
use crate::wamp::uris;
use crate::wamp::value::Value;

/// Why an internal call brought no answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InternalFailure {
    /// The error URI.
    pub error: String,
    /// The error's first argument, or the router's own text.
    pub message: String,
    /// Whether the callee raised it (else the router failed to get an answer).
    pub from_callee: bool,
}

/// The URIs the dealer fails a call with itself (no callee, timeout, the
/// callee left or is full, a payload that cannot reach it): an internal
/// call's failure with one of them is the router's, any other the callee's.
/// (A callee that raises one of these is taken for the router: the denial
/// then carries `authentication_failed` with the URI in its message.)
const ROUTER_FAILURES: [&str; 6] = [
    uris::ERROR_TIMEOUT,
    uris::ERROR_CANCELED,
    uris::ERROR_NO_SUCH_PROCEDURE,
    uris::ERROR_INVALID_ARGUMENT,
    uris::ERROR_PAYLOAD_SIZE_EXCEEDED,
    super::limits::ERROR_LIMIT_EXCEEDED,
];

impl InternalFailure {
    fn from_call(f: CallFailure, procedure: &str, timeout_ms: u64) -> InternalFailure {
        let from_callee = !ROUTER_FAILURES.contains(&f.error.as_str());
        let text = match f.payload.to_values() {
            Ok(Payload::Values { args, .. }) => args.first().map(|v| match v {
                Value::Str(s) => s.clone(),
                other => format!("{other:?}"),
            }),
            _ => None,
        };
        let message = if from_callee {
            text.unwrap_or_default()
        } else if f.error == uris::ERROR_TIMEOUT {
            format!("'{procedure}' did not answer within {timeout_ms} ms")
        } else {
            format!(
                "'{procedure}' failed: {}{}",
                f.error,
                text.map(|t| format!(": {t}")).unwrap_or_default()
            )
        };
        InternalFailure {
            error: f.error,
            message,
            from_callee,
        }
    }
}

impl RouterCore {
    /// Calls `procedure` on realm `realm_id` as the router, with positional
    /// `args`, to be answered within `timeout_ms`; its outcome goes to
    /// `purpose`. `Err` with a message when no callee is registered.
    pub(crate) fn internal_call(
        &mut self,
        realm_id: RealmId,
        procedure: &str,
        args: Vec<Value>,
        timeout_ms: u64,
        purpose: Internal,
    ) -> Result<CallId, String> {
        let Some(realm) = self.realms.get(realm_id as usize).and_then(Option::as_ref) else {
            return Err("the realm is not running".to_owned());
        };
        let Some((registration, reg_policy, callee)) =
            dealer::pick(realm, procedure, &[], &mut self.rng)
        else {
            return Err(format!(
                "no callee registered for '{procedure}' on realm '{}'",
                realm.config.name
            ));
        };
        let payload = Payload::args(args);
        let (conn, session) = match purpose {
            Internal::Authenticate { conn, session } | Internal::Authorize { conn, session } => {
                (conn, session)
            }
        };
        let call = self.dealer.open_call(CallerCall {
            conn,
            request: session,
            realm: realm_id,
            procedure: procedure.to_owned(),
            callee: Some(callee),
            tried: Vec::new(),
            receive_progress: false,
            timeout: timeout_ms,
            timer: None,
            caller: None,
            forward_for: None,
            progressive: false,
            payload: payload.clone(),
            internal: Some(purpose),
        });
        if timeout_ms > 0 {
            let timer = self.set_timer(
                self.now_ms.saturating_add(timeout_ms),
                TimerKind::CallTimeout(call),
            );
            if let Some(c) = self.dealer.call_mut(call) {
                c.timer = Some(timer);
            }
        }
        let invoke = Invoke {
            realm: realm_id,
            call,
            caller_shard: self.shard,
            caller: None,
            forward_for: None,
            registration,
            callee: callee.session,
            procedure: (reg_policy != MatchPolicy::Exact).then(|| procedure.to_owned()),
            receive_progress: false,
            progress: false,
            timeout: timeout_ms,
            payload,
        };
        self.send_peer(callee.shard, PeerMsg::Invoke(Box::new(invoke)));
        Ok(call)
    }

    /// Abandons an internal call whose waiter went away (killnowait to the callee).
    pub(crate) fn abandon_internal(&mut self, call: CallId) {
        self.abandon_call(
            call,
            CallFailure::message(uris::ERROR_CANCELED, "the waiter left"),
        );
    }

    /// An internal call ended: its answer (the first positional argument of
    /// the result, else its keyword arguments as a dict, else null) or its
    /// failure goes to what waits for it.
    pub(crate) fn internal_done(
        &mut self,
        purpose: Internal,
        procedure: &str,
        timeout_ms: u64,
        result: Result<Payload, CallFailure>,
    ) {
        let outcome = match result {
            Ok(payload) => match payload.to_values() {
                Ok(Payload::Values { args, kwargs }) => Ok(args
                    .into_iter()
                    .next()
                    .or(kwargs.map(Value::Dict))
                    .unwrap_or(Value::Null)),
                Ok(_) => Ok(Value::Null),
                Err(e) => Err(InternalFailure {
                    error: uris::ERROR_INVALID_ARGUMENT.to_owned(),
                    message: format!("'{procedure}' answered an undecodable result: {e}"),
                    from_callee: false,
                }),
            },
            Err(f) => Err(InternalFailure::from_call(f, procedure, timeout_ms)),
        };
        match purpose {
            Internal::Authenticate { conn, session } => {
                self.on_authenticator_answer(conn, session, outcome)
            }
            Internal::Authorize { conn, session } => {
                self.on_authorizer_answer(conn, session, outcome)
            }
        }
    }
}
