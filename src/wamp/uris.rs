//! The URIs the WAMP spec predefines: error URIs (`wamp.error.*`, sent in
//! `ERROR.Error` and as `ABORT.Reason`) and session close reasons (`wamp.close.*`,
//! sent as `GOODBYE.Reason` and `ABORT.Reason`).
//!
//! Sources: `rfc/text/basic/bp_08_uri_reference.md` (Basic Profile URIs),
//! `rfc/text/basic/bp_sessions.md` (closing), `rfc/text/advanced/ap_48_uris.md`
//! (Advanced Profile URIs), `ap_11_rpc_call_timeout.md`, `ap_12_rpc_call_canceling.md`,
//! `ap_session_meta_api.md`, plus the few that Autobahn|Python / Crossbar.io
//! define and clients in the wild rely on (marked as such).
//!
//! Closing a session: the peer that starts it sends `GOODBYE` with
//! [`CLOSE_SYSTEM_SHUTDOWN`], [`CLOSE_CLOSE_REALM`], [`CLOSE_NORMAL`] or
//! [`CLOSE_KILLED`]; the other peer replies with `GOODBYE` and
//! [`CLOSE_GOODBYE_AND_OUT`] — the router's GOODBYE reply reason. A protocol
//! violation is an `ABORT` with [`ERROR_PROTOCOL_VIOLATION`] (the spec has no
//! `wamp.close.protocol_violation`).

// ---------------------------------------------------------------------------
// Basic Profile: interaction
// ---------------------------------------------------------------------------

/// A peer provided an incorrect URI for a URI-based attribute of a WAMP message
/// (realm, topic, procedure, ...).
pub const ERROR_INVALID_URI: &str = "wamp.error.invalid_uri";

/// A Dealer could not perform a call, since no procedure is currently registered
/// under the given URI.
pub const ERROR_NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";

/// A procedure could not be registered, since a procedure with the given URI is
/// already registered.
pub const ERROR_PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";

/// A procedure could not be registered, since a procedure with the given URI is
/// already registered with a different invocation policy (shared registration;
/// Autobahn/Crossbar, not in the spec text).
pub const ERROR_PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY: &str =
    "wamp.error.procedure_exists_with_different_invocation_policy";

/// A Dealer could not perform an unregister, since the given registration is not active.
pub const ERROR_NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";

/// A Broker could not perform an unsubscribe, since the given subscription is not active.
pub const ERROR_NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";

/// No session with the given ID exists on the router (session meta API, e.g.
/// `wamp.session.get`, `wamp.session.kill`).
pub const ERROR_NO_SUCH_SESSION: &str = "wamp.error.no_such_session";

/// A call failed since the given argument types or values are not acceptable to
/// the called procedure, or a router's payload validation rejected a call,
/// result, error or publish.
pub const ERROR_INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";

/// The application payload could not be serialized (Autobahn/Crossbar).
pub const ERROR_INVALID_PAYLOAD: &str = "wamp.error.invalid_payload";

/// A message could not be delivered due to transport payload size limits.
pub const ERROR_PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";

/// A peer received an invalid WAMP protocol message (e.g. `HELLO` after the
/// session was established); used as an `ABORT` reason.
pub const ERROR_PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";

// ---------------------------------------------------------------------------
// Session close (wamp.close.*)
// ---------------------------------------------------------------------------

/// The peer is shutting down completely; a `GOODBYE` (or `ABORT`) reason.
pub const CLOSE_SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";

/// The peer wants to leave the realm; a `GOODBYE` reason.
pub const CLOSE_CLOSE_REALM: &str = "wamp.close.close_realm";

/// A peer acknowledges the ending of a session: the reason of the `GOODBYE`
/// sent in *reply* to a `GOODBYE` (what the router answers a client's GOODBYE with).
pub const CLOSE_GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";

/// A normal close; the default reason for the session meta API's
/// `wamp.session.kill*` procedures.
pub const CLOSE_NORMAL: &str = "wamp.close.normal";

/// The session was killed by another session (via `wamp.session.kill*`);
/// the reason Crossbar.io uses.
pub const CLOSE_KILLED: &str = "wamp.close.killed";

/// Legacy spelling of [`CLOSE_SYSTEM_SHUTDOWN`] from older drafts of the spec
/// (still in Autobahn's `ApplicationError`); accept it, send the `wamp.close.` one.
pub const ERROR_SYSTEM_SHUTDOWN: &str = "wamp.error.system_shutdown";

/// Legacy spelling of [`CLOSE_CLOSE_REALM`] from older drafts of the spec.
pub const ERROR_CLOSE_REALM: &str = "wamp.error.close_realm";

/// Legacy spelling of [`CLOSE_GOODBYE_AND_OUT`] from older drafts of the spec.
pub const ERROR_GOODBYE_AND_OUT: &str = "wamp.error.goodbye_and_out";

// ---------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------

/// A join, call, register, publish or subscribe failed, since the peer is not
/// authorized to perform the operation.
pub const ERROR_NOT_AUTHORIZED: &str = "wamp.error.not_authorized";

/// The router could not determine whether the peer is authorized, since the
/// authorization operation *itself* failed (e.g. a dynamic authorizer errored).
pub const ERROR_AUTHORIZATION_FAILED: &str = "wamp.error.authorization_failed";

/// The principal is not authorized to perform the action (Advanced Profile).
pub const ERROR_AUTHORIZATION_DENIED: &str = "wamp.error.authorization_denied";

/// Authorization of the principal is required to perform the action
/// (capability-based access control; Advanced Profile).
pub const ERROR_AUTHORIZATION_REQUIRED: &str = "wamp.error.authorization_required";

/// The peer wanted to join a non-existing realm (and the router did not
/// auto-create it).
pub const ERROR_NO_SUCH_REALM: &str = "wamp.error.no_such_realm";

/// The peer was to be authenticated under a role that does not (or no longer)
/// exist on the router — a router misconfiguration.
pub const ERROR_NO_SUCH_ROLE: &str = "wamp.error.no_such_role";

/// The client authenticated for a non-existing principal (`authid`).
pub const ERROR_NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";

// ---------------------------------------------------------------------------
// Authentication (Advanced Profile)
// ---------------------------------------------------------------------------

/// No authentication method the client offered is accepted (spec spelling).
pub const ERROR_NO_MATCHING_AUTH_METHOD: &str = "wamp.error.no_matching_auth_method";

/// No authentication method the client offered is available or active
/// (Autobahn/Crossbar spelling of [`ERROR_NO_MATCHING_AUTH_METHOD`]).
pub const ERROR_NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";

/// The authentication presented by the client is denied (e.g. wrong password).
pub const ERROR_AUTHENTICATION_DENIED: &str = "wamp.error.authentication_denied";

/// Authentication was rejected due to a technical runtime failure ("fail secure").
pub const ERROR_AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";

/// The client did not provide the required, non-anonymous, authentication information.
pub const ERROR_AUTHENTICATION_REQUIRED: &str = "wamp.error.authentication_required";

// ---------------------------------------------------------------------------
// Remote procedure calls (Advanced Profile)
// ---------------------------------------------------------------------------

/// A Dealer or Callee canceled a call previously issued (call canceling).
pub const ERROR_CANCELED: &str = "wamp.error.canceled";

/// A Dealer or Callee terminated a call that timed out (call timeout); the error
/// a Dealer MUST return to the Caller when `CALL.Options.timeout` expires.
pub const ERROR_TIMEOUT: &str = "wamp.error.timeout";

/// A peer requested an interaction with an option that was disallowed by the router.
pub const ERROR_OPTION_NOT_ALLOWED: &str = "wamp.error.option_not_allowed";

/// The router rejected a client's request to disclose its identity (`disclose_me`).
pub const ERROR_OPTION_DISALLOWED_DISCLOSE_ME: &str = "wamp.error.option_disallowed.disclose_me";

/// The router encountered a network failure.
pub const ERROR_NETWORK_FAILURE: &str = "wamp.error.network_failure";

/// A Callee cannot handle an invocation and asks the router to re-route the call
/// to another fitting Callee (call rerouting).
pub const ERROR_UNAVAILABLE: &str = "wamp.error.unavailable";

/// A procedure is registered, but all available registrations responded with
/// [`ERROR_UNAVAILABLE`].
pub const ERROR_NO_AVAILABLE_CALLEE: &str = "wamp.error.no_available_callee";

/// A procedure is registered, but caller exclusion / callee black- and
/// whitelisting excluded every Callee (Autobahn/Crossbar).
pub const ERROR_NO_ELIGIBLE_CALLEE: &str = "wamp.error.no_eligible_callee";

/// A Dealer received a `CALL` with advanced features the Callee cannot process.
pub const ERROR_FEATURE_NOT_SUPPORTED: &str = "wamp.error.feature_not_supported";

/// Every URI in this module, errors first, then close reasons.
pub const ALL: &[&str] = &[
    ERROR_INVALID_URI,
    ERROR_NO_SUCH_PROCEDURE,
    ERROR_PROCEDURE_ALREADY_EXISTS,
    ERROR_PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY,
    ERROR_NO_SUCH_REGISTRATION,
    ERROR_NO_SUCH_SUBSCRIPTION,
    ERROR_NO_SUCH_SESSION,
    ERROR_INVALID_ARGUMENT,
    ERROR_INVALID_PAYLOAD,
    ERROR_PAYLOAD_SIZE_EXCEEDED,
    ERROR_PROTOCOL_VIOLATION,
    ERROR_SYSTEM_SHUTDOWN,
    ERROR_CLOSE_REALM,
    ERROR_GOODBYE_AND_OUT,
    ERROR_NOT_AUTHORIZED,
    ERROR_AUTHORIZATION_FAILED,
    ERROR_AUTHORIZATION_DENIED,
    ERROR_AUTHORIZATION_REQUIRED,
    ERROR_NO_SUCH_REALM,
    ERROR_NO_SUCH_ROLE,
    ERROR_NO_SUCH_PRINCIPAL,
    ERROR_NO_MATCHING_AUTH_METHOD,
    ERROR_NO_AUTH_METHOD,
    ERROR_AUTHENTICATION_DENIED,
    ERROR_AUTHENTICATION_FAILED,
    ERROR_AUTHENTICATION_REQUIRED,
    ERROR_CANCELED,
    ERROR_TIMEOUT,
    ERROR_OPTION_NOT_ALLOWED,
    ERROR_OPTION_DISALLOWED_DISCLOSE_ME,
    ERROR_NETWORK_FAILURE,
    ERROR_UNAVAILABLE,
    ERROR_NO_AVAILABLE_CALLEE,
    ERROR_NO_ELIGIBLE_CALLEE,
    ERROR_FEATURE_NOT_SUPPORTED,
    CLOSE_SYSTEM_SHUTDOWN,
    CLOSE_CLOSE_REALM,
    CLOSE_GOODBYE_AND_OUT,
    CLOSE_NORMAL,
    CLOSE_KILLED,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wamp::uri::{is_reserved, validate, MatchPolicy, UriCheck};
    use std::collections::HashSet;

    #[test]
    fn all_are_strict_reserved_uris() {
        for uri in ALL {
            assert_eq!(
                validate(uri, UriCheck::Strict, MatchPolicy::Exact),
                Ok(()),
                "{uri}"
            );
            assert!(is_reserved(uri), "{uri}");
            assert!(
                uri.starts_with("wamp.error.") || uri.starts_with("wamp.close."),
                "{uri}"
            );
        }
    }

    #[test]
    fn all_are_unique() {
        let set: HashSet<&str> = ALL.iter().copied().collect();
        assert_eq!(set.len(), ALL.len());
    }

    #[test]
    fn all_is_complete() {
        // Every `pub const NAME: &str` in this file must be listed in ALL.
        let src = include_str!("uris.rs");
        let declared = src
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str"))
            .count();
        assert_eq!(declared, ALL.len());
    }

    #[test]
    fn goodbye_reply_reason() {
        assert_eq!(CLOSE_GOODBYE_AND_OUT, "wamp.close.goodbye_and_out");
        assert_eq!(ERROR_NOT_AUTHORIZED, "wamp.error.not_authorized");
    }
}
