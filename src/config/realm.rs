//! A realm as the configuration describes it (Crossbar.io's realm shape):
//! its name, options, roles, event store and shardwamp's limits, and which
//! shard is its home. The state a shard keeps for a realm is
//! `router::realm`'s.

use serde::{Deserialize, Serialize};

use super::role::RoleConfig;
use crate::wamp::uri::{MatchPolicy, UriCheck};

/// Crossbar.io's realm-name rule (`checkconfig.check_realm_name`, the regular
/// expression `^[A-Za-z][A-Za-z0-9_\-@\.]{2,254}$`): a letter, then 2 to 254
/// letters, digits, `_`, `-`, `@` or `.`. The one rule for realm names, in the
/// configuration and in the controller's `start_router_realm`.
pub const REALM_NAME_RULE: &str =
    "a letter, then 2 to 254 letters, digits, '_', '-', '@' or '.' (Crossbar.io's ^[A-Za-z][A-Za-z0-9_\\-@\\.]{2,254}$)";

/// Checks a realm name against [`REALM_NAME_RULE`]; the error says why.
pub fn check_realm_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | '.'));
    let len = name.chars().count();
    if first_ok && rest_ok && (3..=255).contains(&len) {
        Ok(())
    } else {
        Err(format!("must be {REALM_NAME_RULE}"))
    }
}

/// A realm, as in Crossbar.io's router config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    /// The realm's name (a URI).
    pub name: String,
    /// Realm options.
    #[serde(default)]
    pub options: RealmOptions,
    /// The roles sessions of this realm may take.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// Event store: Crossbar.io's `store` (`{"type": "memory", "event-history": [...]}`).
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// shardwamp's limits (not in Crossbar.io).
    #[serde(default)]
    pub limits: RealmLimits,
    /// The shard that owns the realm's authoritative state; by default a hash of its name.
    #[serde(default)]
    pub home_shard: Option<u16>,
    /// Router-to-router links of this realm (Crossbar.io's `rlinks`; docs/links.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlinks: Vec<super::rlink::RLinkConfig>,
}

/// Crossbar.io's realm options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmOptions {
    /// Offer the `wamp.session.*`, `wamp.subscription.*` and `wamp.registration.*` meta API.
    #[serde(default = "yes")]
    pub enable_meta_api: bool,
    /// Forward meta events over router links.
    #[serde(default)]
    pub bridge_meta_api: bool,
    /// How many events a shard delivers before yielding (runtime hint).
    #[serde(default = "default_chunk")]
    pub event_dispatching_chunk_size: u32,
    /// URI validation: strict or loose.
    #[serde(default)]
    pub uri_check: UriCheck,
    /// Honour `disclose_me` in PUBLISH and CALL options (shardwamp; the spec lets
    /// a router refuse it with `wamp.error.option_disallowed.disclose_me`).
    #[serde(default = "yes")]
    pub allow_disclose_me: bool,
    /// Let sessions authenticated as `anonymous` join (shardwamp; the
    /// management realm sets it false unless its config allows them).
    #[serde(default = "yes")]
    pub allow_anonymous: bool,
    /// Time, in ms, a role's dynamic authorizer has to answer (shardwamp;
    /// default 10 s); no answer in time refuses the action with
    /// `wamp.error.authorization_failed`.
    #[serde(default = "default_authorizer_timeout")]
    pub authorizer_timeout: u64,
}

/// Default of [`RealmOptions::authorizer_timeout`], ms.
pub const DEFAULT_AUTHORIZER_TIMEOUT_MS: u64 = 10_000;

fn default_authorizer_timeout() -> u64 {
    DEFAULT_AUTHORIZER_TIMEOUT_MS
}

fn yes() -> bool {
    true
}

fn default_chunk() -> u32 {
    100
}

impl Default for RealmOptions {
    fn default() -> Self {
        RealmOptions {
            enable_meta_api: true,
            bridge_meta_api: false,
            event_dispatching_chunk_size: 100,
            uri_check: UriCheck::Strict,
            allow_disclose_me: true,
            allow_anonymous: true,
            authorizer_timeout: DEFAULT_AUTHORIZER_TIMEOUT_MS,
        }
    }
}

/// How many events a history keeps when neither its entry nor the store
/// says (Crossbar.io's `MemoryEventStore.GLOBAL_HISTORY_LIMIT`).
pub const DEFAULT_HISTORY_LIMIT: usize = 100;

/// Crossbar.io's realm `store`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Only `"memory"` is supported.
    #[serde(rename = "type", default = "memory")]
    pub kind: String,
    /// How many events each history keeps unless its entry says (default
    /// [`DEFAULT_HISTORY_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Topics whose events are kept, with how many.
    #[serde(rename = "event-history", default)]
    pub event_history: Vec<EventHistoryConfig>,
}

fn memory() -> String {
    "memory".into()
}

/// One event history: the topics it keeps events of, and how many.
///
/// As in Crossbar.io, one history is kept per entry, not per topic: with a
/// `prefix` or `wildcard` match, the events of every matching topic share
/// the entry's `limit`, so memory stays bounded however many topics match.
/// A publication is kept by the first entry that matches its topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventHistoryConfig {
    /// The topic, or the pattern of topics.
    pub uri: String,
    /// `exact` (the default), `prefix` or `wildcard`.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<MatchPolicy>,
    /// How many events to keep (default: the store's `limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Per-realm limits; each refused with an error when reached, never a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmLimits {
    /// Most sessions joined to the realm at once (0 = unlimited).
    #[serde(default)]
    pub max_sessions: usize,
    /// Most subscriptions one session may hold (0 = unlimited).
    #[serde(default = "default_subs")]
    pub max_subscriptions_per_session: usize,
    /// Most registrations one session may hold (0 = unlimited).
    #[serde(default = "default_regs")]
    pub max_registrations_per_session: usize,
    /// Most invocations outstanding at one callee (0 = unlimited).
    #[serde(default = "default_pending")]
    pub max_pending_invocations_per_callee: usize,
    /// Largest payload (encoded bytes of arguments) accepted in PUBLISH, CALL, YIELD, ERROR (0 = unlimited).
    #[serde(default = "default_payload")]
    pub max_payload_size: usize,
}

fn default_subs() -> usize {
    10_000
}
fn default_regs() -> usize {
    10_000
}
fn default_pending() -> usize {
    10_000
}
fn default_payload() -> usize {
    16 * 1024 * 1024
}

impl Default for RealmLimits {
    fn default() -> Self {
        RealmLimits {
            max_sessions: 0,
            max_subscriptions_per_session: default_subs(),
            max_registrations_per_session: default_regs(),
            max_pending_invocations_per_callee: default_pending(),
            max_payload_size: default_payload(),
        }
    }
}

impl RealmConfig {
    /// A realm with default options and the given roles.
    pub fn new(name: &str, roles: Vec<RoleConfig>) -> RealmConfig {
        RealmConfig {
            name: name.into(),
            options: RealmOptions::default(),
            roles,
            store: None,
            limits: RealmLimits::default(),
            home_shard: None,
            rlinks: Vec::new(),
        }
    }

    /// The home shard among `shards`: configured, or a stable hash of the name.
    pub fn home(&self, shards: u16) -> u16 {
        let n = shards.max(1);
        match self.home_shard {
            Some(h) => h % n,
            None => {
                // FNV-1a: stable across runs and builds.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in self.name.as_bytes() {
                    h ^= u64::from(*b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                (h % u64::from(n)) as u16
            }
        }
    }

    /// The event history a topic's events are kept in, if any: the index
    /// of the first `event-history` entry that matches it, and how many
    /// events that history keeps.
    pub fn history_slot(&self, topic: &str) -> Option<(usize, usize)> {
        let store = self.store.as_ref()?;
        store
            .event_history
            .iter()
            .position(|h| {
                crate::wamp::uri::matches(&h.uri, h.match_.unwrap_or(MatchPolicy::Exact), topic)
            })
            .map(|i| {
                let limit = store.event_history[i]
                    .limit
                    .or(store.limit)
                    .unwrap_or(DEFAULT_HISTORY_LIMIT);
                (i, limit)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_stable_and_in_range() {
        let r = RealmConfig::new("realm1", vec![]);
        for n in 1..8 {
            assert!(r.home(n) < n);
            assert_eq!(r.home(n), r.home(n));
        }
        let mut pinned = RealmConfig::new("x", vec![]);
        pinned.home_shard = Some(3);
        assert_eq!(pinned.home(4), 3);
        assert_eq!(pinned.home(2), 1);
    }
}
