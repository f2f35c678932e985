//! Limits and what reaching one looks like: a transport's session-opening
//! rules ([`SessionLimits`], from its `ConnectionLimits` config) and the
//! error URI every configured limit answers with ([`ERROR_LIMIT_EXCEEDED`]).
//! The per-realm limits themselves are configuration (`config::realm::RealmLimits`).

use crate::config::ConnectionLimits;

/// The error for a configured limit reached (no spec URI fits; see docs/ARCHITECTURE.md).
pub const ERROR_LIMIT_EXCEEDED: &str = "shardwamp.error.limit_exceeded";

/// A transport's session-opening rules, in milliseconds (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionLimits {
    /// Time a connection has to send HELLO, once open and again after each GOODBYE.
    pub hello_timeout_ms: u64,
    /// Time a challenged connection has to send AUTHENTICATE.
    pub auth_timeout_ms: u64,
    /// Failed authentications one IP address may make within
    /// `auth_failure_window_ms` on this transport before its HELLOs are refused
    /// until the window ends (0 = no limit). Counted by each shard on its own.
    pub max_auth_failures: u32,
    /// The window of `max_auth_failures`.
    pub auth_failure_window_ms: u64,
}

impl From<ConnectionLimits> for SessionLimits {
    fn from(l: ConnectionLimits) -> SessionLimits {
        SessionLimits {
            hello_timeout_ms: l.hello_timeout,
            auth_timeout_ms: l.auth_timeout,
            max_auth_failures: l.max_auth_failures_per_address,
            auth_failure_window_ms: l.auth_failure_window,
        }
    }
}
