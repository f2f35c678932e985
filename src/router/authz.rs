//! Authorization by role permissions: the compiled form [`Role`] of a
//! realm's `roles` configuration ([`RoleConfig`], owned by
//! `crate::config::role`) and the run-time set of roles [`Roles`].
//!
//! A role is a list of permissions, each a URI pattern with a match policy and
//! the actions it allows:
//!
//! ```json
//! {"name": "frontend", "permissions": [
//!     {"uri": "com.example.", "match": "prefix",
//!      "allow": {"call": true, "subscribe": true},
//!      "disclose": {"caller": true}}
//! ]}
//! ```
//!
//! Semantics, as in Crossbar.io (`crossbar/router/role.py`):
//!
//! * a URI no permission matches is denied (and not disclosed), unless the
//!   role has no permissions and `allow-by-default = true`, which allows it;
//! * absent `match`, a trailing `*` on `uri` means a prefix match on the URI
//!   without the `*` (`"*"` alone is the prefix `""`, which matches everything);
//!   otherwise the match is exact;
//! * when several permissions match, the most specific decides: an exact match
//!   beats everything; then wildcard patterns (`com..update`), the most specific
//!   first ([`WildcardPattern::specificity_cmp`]); then prefixes, the longest first.
//!
//! A role with a dynamic authorizer (`"authorizer": "com.example.authorize"`)
//! has no permissions: [`Roles::verdict`] answers [`Verdict::Ask`] for it, and
//! the core asks the authorizer (`router/authorizer.rs`), keeping cacheable
//! answers in [`AuthzCache`].

use super::HashMap;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::role::{Allow, AuthzError, Disclose, RoleConfig};
use crate::wamp::uri::{MatchPolicy, WildcardPattern};

/// An action a session asks to perform on a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Call a procedure (`CALL`).
    Call,
    /// Register a procedure (`REGISTER`).
    Register,
    /// Publish to a topic (`PUBLISH`).
    Publish,
    /// Subscribe to a topic (`SUBSCRIBE`).
    Subscribe,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 4] = [
        Action::Call,
        Action::Register,
        Action::Publish,
        Action::Subscribe,
    ];

    /// The name used in configuration and by authorizers: `"call"`, `"register"`,
    /// `"publish"` or `"subscribe"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allow: bool,
    /// Whether to disclose the session's identity: `disclose.caller` for
    /// [`Action::Call`], `disclose.publisher` for [`Action::Publish`], false
    /// otherwise and whenever the action is denied.
    pub disclose: bool,
}

impl Decision {
    /// Denied, not disclosed.
    pub const DENY: Decision = Decision {
        allow: false,
        disclose: false,
    };
}

/// Whether a permission's `allow` table grants `action`.
pub const fn allows(allow: &Allow, action: Action) -> bool {
    match action {
        Action::Call => allow.call,
        Action::Register => allow.register,
        Action::Publish => allow.publish,
        Action::Subscribe => allow.subscribe,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grant {
    allow: Allow,
    disclose: Disclose,
}

impl Grant {
    fn decide(self, action: Action) -> Decision {
        let allow = allows(&self.allow, action);
        let disclose = allow
            && match action {
                Action::Call => self.disclose.caller,
                Action::Publish => self.disclose.publisher,
                Action::Register | Action::Subscribe => false,
            };
        Decision { allow, disclose }
    }
}

/// A role compiled for fast lookups: exact permissions in a hash map, wildcard
/// patterns grouped by component count and ordered most specific first,
/// prefixes ordered longest first.
#[derive(Debug, Clone)]
pub struct Role {
    config: RoleConfig,
    /// The dynamic authorizer, if the role has one (then it has no permissions).
    authorizer: Option<String>,
    exact: HashMap<String, Grant>,
    /// Component count → patterns with that many components, most specific first.
    wildcards: HashMap<usize, Vec<(WildcardPattern, Grant)>>,
    /// Longest first.
    prefixes: Vec<(String, Grant)>,
    /// What a URI no permission matches gets: denied, or with
    /// `allow-by-default` (a role without permissions) allowed, undisclosed.
    fallback: Decision,
}

impl Role {
    /// Builds a role from its configuration; fails where [`RoleConfig::check`] does.
    pub fn new(config: RoleConfig) -> Result<Role, AuthzError> {
        config.check()?;
        let mut exact = HashMap::default();
        let mut wildcards: HashMap<usize, Vec<(WildcardPattern, Grant)>> = HashMap::default();
        let mut prefixes: Vec<(String, Grant)> = Vec::new();
        for perm in &config.permissions {
            let (policy, uri) = perm.effective();
            let grant = Grant {
                allow: perm.allow,
                disclose: perm.disclose,
            };
            // `check` refused duplicates: each pattern is new to its table.
            match policy {
                MatchPolicy::Exact => {
                    exact.insert(uri.to_owned(), grant);
                }
                MatchPolicy::Prefix => prefixes.push((uri.to_owned(), grant)),
                MatchPolicy::Wildcard => {
                    let pattern = WildcardPattern::new(uri);
                    wildcards
                        .entry(pattern.component_count())
                        .or_default()
                        .push((pattern, grant));
                }
            }
        }
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        for group in wildcards.values_mut() {
            group.sort_by(|a, b| b.0.specificity_cmp(&a.0));
        }
        let fallback = Decision {
            allow: config.allow_by_default,
            disclose: false,
        };
        Ok(Role {
            authorizer: config.authorizer.clone(),
            config,
            exact,
            wildcards,
            prefixes,
            fallback,
        })
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The configuration the role was built from.
    pub fn config(&self) -> &RoleConfig {
        &self.config
    }

    /// The role's dynamic authorizer procedure, if it has one.
    pub fn authorizer(&self) -> Option<&str> {
        self.authorizer.as_deref()
    }

    fn grant_for(&self, uri: &str) -> Option<Grant> {
        if let Some(g) = self.exact.get(uri) {
            return Some(*g);
        }
        if !self.wildcards.is_empty() {
            let components = uri.bytes().filter(|&b| b == b'.').count() + 1;
            if let Some(group) = self.wildcards.get(&components) {
                if let Some((_, g)) = group.iter().find(|(p, _)| p.matches(uri)) {
                    return Some(*g);
                }
            }
        }
        self.prefixes
            .iter()
            .find(|(p, _)| uri.starts_with(p.as_str()))
            .map(|(_, g)| *g)
    }

    /// Whether a session of this role may perform `action` on `uri`, and
    /// whether its identity is disclosed; decided by the most specific matching
    /// permission (see the module docs). No match: [`Decision::DENY`].
    pub fn authorize(&self, uri: &str, action: Action) -> Decision {
        match self.grant_for(uri) {
            Some(g) => g.decide(action),
            None => self.fallback,
        }
    }
}

/// The roles of one realm by name; roles can be added, replaced and removed at
/// run time (`start_router_realm_role` / `stop_router_realm_role`).
#[derive(Debug, Clone, Default)]
pub struct Roles {
    roles: HashMap<String, Role>,
}

impl Roles {
    /// No roles.
    pub fn new() -> Roles {
        Roles::default()
    }

    /// Builds every role of a realm's `roles` list; names must be unique.
    pub fn from_configs(
        configs: impl IntoIterator<Item = RoleConfig>,
    ) -> Result<Roles, AuthzError> {
        let mut roles = Roles::new();
        for config in configs {
            let role = Role::new(config)?;
            if roles.contains(role.name()) {
                return Err(AuthzError::DuplicateRole(role.name().to_owned()));
            }
            roles.insert(role);
        }
        Ok(roles)
    }

    /// The role named `name`.
    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Whether a role named `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }

    /// Adds `role`, replacing (and returning) any role of the same name.
    pub fn insert(&mut self, role: Role) -> Option<Role> {
        self.roles.insert(role.name().to_owned(), role)
    }

    /// Removes and returns the role named `name`.
    pub fn remove(&mut self, name: &str) -> Option<Role> {
        self.roles.remove(name)
    }

    /// Number of roles.
    pub fn len(&self) -> usize {
        self.roles.len()
    }

    /// Whether there are no roles.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }

    /// The roles, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Role> + '_ {
        self.roles.values()
    }

    /// Authorizes `action` on `uri` for a session of role `role` by the
    /// role's permissions; an unknown role is denied, and so is a role with
    /// a dynamic authorizer (it has no permissions): use [`Roles::verdict`]
    /// where the authorizer can be asked.
    pub fn authorize(&self, role: &str, uri: &str, action: Action) -> Decision {
        match self.get(role) {
            Some(r) => r.authorize(uri, action),
            None => Decision::DENY,
        }
    }

    /// The decision on `action` on `uri` for a session of role `role`, or
    /// the authorizer to ask when the role has one.
    pub fn verdict(&self, role: &str, uri: &str, action: Action) -> Verdict<'_> {
        match self.get(role) {
            Some(r) => match r.authorizer() {
                Some(a) => Verdict::Ask(a),
                None => Verdict::Decided(r.authorize(uri, action)),
            },
            None => Verdict::Decided(Decision::DENY),
        }
    }
}

/// What the authorizer said about a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Granted {
    /// Allowed or denied (with disclosure).
    Decided(Decision),
    /// The authorizer failed; the message says how.
    Failed(String),
}

/// The decision on `action` on `uri` for a session of `role`: by the role's
/// permissions (`granted` none) or by what its authorizer said; `Err` with
/// the error URI and message to refuse with.
pub fn decide(
    roles: &Roles,
    role: &str,
    uri: &str,
    action: Action,
    granted: Option<&Granted>,
) -> Result<Decision, (&'static str, String)> {
    let denied = |by: &str| {
        Err((
            crate::wamp::uris::ERROR_NOT_AUTHORIZED,
            format!("role '{role}' may not {} '{uri}'{by}", action.as_str()),
        ))
    };
    match granted {
        None => {
            let d = roles.authorize(role, uri, action);
            if d.allow {
                Ok(d)
            } else {
                denied("")
            }
        }
        Some(Granted::Decided(d)) if d.allow => Ok(*d),
        Some(Granted::Decided(_)) => denied(" (denied by the authorizer)"),
        Some(Granted::Failed(m)) => Err((crate::wamp::uris::ERROR_AUTHORIZATION_FAILED, m.clone())),
    }
}

/// What the roles say about an action: decided by permissions, or a
/// question for the role's dynamic authorizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Decided by the role's permissions (or denied: no such role).
    Decided(Decision),
    /// Ask this authorizer procedure.
    Ask(&'a str),
}

/// A realm's cache of dynamic authorizers' answers that said `cache`, by
/// (authrole, uri, action), on one shard (Crossbar.io's key, the realm
/// being the cache's owner). Entries never expire; they are dropped when
/// their role is set or removed ([`AuthzCache::clear_role`]), on demand
/// (the `clear_authorizer_cache` control operation), and all at once when
/// the cache would exceed [`AuthzCache::MAX_ENTRIES`].
#[derive(Debug, Default)]
pub struct AuthzCache {
    /// authrole → uri → decision per action (in [`Action::ALL`]'s order).
    by_role: HashMap<String, HashMap<String, [Option<Decision>; 4]>>,
    entries: usize,
}

impl AuthzCache {
    /// Most entries one realm's cache holds on one shard; one more clears it.
    pub const MAX_ENTRIES: usize = 100_000;

    fn slot(action: Action) -> usize {
        match action {
            Action::Call => 0,
            Action::Register => 1,
            Action::Publish => 2,
            Action::Subscribe => 3,
        }
    }

    /// The cached decision, if any.
    pub fn get(&self, role: &str, uri: &str, action: Action) -> Option<Decision> {
        self.by_role.get(role)?.get(uri)?[Self::slot(action)]
    }

    /// Caches a decision.
    pub fn insert(&mut self, role: &str, uri: &str, action: Action, decision: Decision) {
        if self.entries >= Self::MAX_ENTRIES {
            self.clear();
        }
        let slots = self
            .by_role
            .entry(role.to_owned())
            .or_default()
            .entry(uri.to_owned())
            .or_default();
        let slot = &mut slots[Self::slot(action)];
        if slot.is_none() {
            self.entries += 1;
        }
        *slot = Some(decision);
    }

    /// Drops a role's entries; how many.
    pub fn clear_role(&mut self, role: &str) -> usize {
        let n = self.by_role.remove(role).map_or(0, |uris| {
            uris.values()
                .map(|s| s.iter().filter(|d| d.is_some()).count())
                .sum()
        });
        self.entries -= n;
        n
    }

    /// Drops every entry; how many.
    pub fn clear(&mut self) -> usize {
        let n = self.entries;
        self.by_role.clear();
        self.entries = 0;
        n
    }

    /// How many entries are cached.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::role::Permission;
    use proptest::prelude::*;

    fn perm(uri: &str, policy: Option<MatchPolicy>, allow: Allow) -> Permission {
        Permission {
            uri: uri.to_owned(),
            match_: policy,
            allow,
            disclose: Disclose::default(),
            cache: false,
        }
    }

    const CALL_ONLY: Allow = Allow {
        call: true,
        register: false,
        publish: false,
        subscribe: false,
    };
    const SUB_ONLY: Allow = Allow {
        call: false,
        register: false,
        publish: false,
        subscribe: true,
    };
    const NONE: Allow = Allow {
        call: false,
        register: false,
        publish: false,
        subscribe: false,
    };

    fn role(perms: Vec<Permission>) -> Role {
        Role::new(RoleConfig {
            name: "r".into(),
            permissions: perms,
            authorizer: None,
            allow_by_default: false,
        })
        .unwrap()
    }

    fn allowed(r: &Role, uri: &str, action: Action) -> bool {
        r.authorize(uri, action).allow
    }

    #[test]
    fn parses_crossbar_json() {
        let cfg: RoleConfig = serde_json::from_str(
            r#"{"name": "frontend", "permissions": [
                {"uri": "com.example.", "match": "prefix",
                 "allow": {"call": true, "subscribe": true},
                 "disclose": {"caller": true, "publisher": false}, "cache": true},
                {"uri": "com.example.add2", "allow": {"call": false}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(cfg.permissions[0].match_, Some(MatchPolicy::Prefix));
        assert!(cfg.permissions[0].cache);
        assert_eq!(cfg.permissions[1].allow, Allow::default());
        let back: RoleConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
        let r = Role::new(cfg).unwrap();
        assert_eq!(r.name(), "frontend");
        assert!(allowed(&r, "com.example.mul2", Action::Call));
        assert!(!allowed(&r, "com.example.add2", Action::Call));
        for bad in [
            r#"{"name": "x", "permissions": [{"uri": "a", "alow": {}}]}"#,
            r#"{"name": "x", "permissions": [{"uri": "a", "allow": {"cal": true}}]}"#,
            r#"{"name": "x", "permissions": [{"uri": "a", "match": "regex"}]}"#,
            r#"{"name": "x", "perms": []}"#,
        ] {
            assert!(serde_json::from_str::<RoleConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_deny() {
        let r = role(vec![perm("com.example.a", None, Allow::ALL)]);
        for action in Action::ALL {
            assert_eq!(r.authorize("com.example.b", action), Decision::DENY);
            assert_eq!(r.authorize("com.example.a.b", action), Decision::DENY);
        }
        let empty = role(vec![]);
        assert_eq!(empty.authorize("anything", Action::Call), Decision::DENY);
    }

    #[test]
    fn exact_beats_prefix_and_wildcard() {
        let r = role(vec![
            perm("com.example.", Some(MatchPolicy::Prefix), Allow::ALL),
            perm("com..add2", Some(MatchPolicy::Wildcard), Allow::ALL),
            perm("com.example.add2", Some(MatchPolicy::Exact), NONE),
        ]);
        for action in Action::ALL {
            assert!(!allowed(&r, "com.example.add2", action));
            assert!(allowed(&r, "com.example.add3", action));
            assert!(allowed(&r, "com.other.add2", action));
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let r = role(vec![
            perm("com.", Some(MatchPolicy::Prefix), CALL_ONLY),
            perm("com.example.secret.", Some(MatchPolicy::Prefix), NONE),
            perm("com.example.", Some(MatchPolicy::Prefix), SUB_ONLY),
        ]);
        assert!(allowed(&r, "com.other", Action::Call));
        assert!(!allowed(&r, "com.example.x", Action::Call));
        assert!(allowed(&r, "com.example.x", Action::Subscribe));
        assert!(!allowed(&r, "com.example.secret.x", Action::Subscribe));
        assert!(!allowed(&r, "com.example.secret.x", Action::Call));
        // Prefixes are plain string prefixes.
        assert!(allowed(&r, "com.example.secretive", Action::Subscribe));
    }

    #[test]
    fn wildcard_beats_prefix() {
        let r = role(vec![
            perm("com.example.", Some(MatchPolicy::Prefix), CALL_ONLY),
            perm("com.example..update", Some(MatchPolicy::Wildcard), SUB_ONLY),
        ]);
        // Longer prefix is irrelevant: any matching wildcard wins over any prefix.
        assert!(allowed(&r, "com.example.user.update", Action::Subscribe));
        assert!(!allowed(&r, "com.example.user.update", Action::Call));
        // Wildcard needs the same component count; then the prefix applies.
        assert!(allowed(&r, "com.example.user.update.x", Action::Call));
        assert!(allowed(&r, "com.example.user.delete", Action::Call));
    }

    #[test]
    fn most_specific_wildcard_wins() {
        let r = role(vec![
            perm("..c.d", Some(MatchPolicy::Wildcard), Allow::ALL),
            perm("a...d", Some(MatchPolicy::Wildcard), NONE),
            perm("a.b..", Some(MatchPolicy::Wildcard), CALL_ONLY),
        ]);
        // All three match a.b.c.d; "a.b.." has the longest literal run first.
        assert!(allowed(&r, "a.b.c.d", Action::Call));
        assert!(!allowed(&r, "a.b.c.d", Action::Subscribe));
        // "a...d" beats "..c.d" ([1, 0, 0, 1] > [0, 0, 2]).
        assert!(!allowed(&r, "a.x.c.d", Action::Call));
        assert!(allowed(&r, "z.x.c.d", Action::Publish));
        // Insertion order does not matter.
        let r2 = role(vec![
            perm("a.b..", Some(MatchPolicy::Wildcard), CALL_ONLY),
            perm("a...d", Some(MatchPolicy::Wildcard), NONE),
            perm("..c.d", Some(MatchPolicy::Wildcard), Allow::ALL),
        ]);
        for uri in ["a.b.c.d", "a.x.c.d", "z.x.c.d", "a.b.x.y"] {
            for action in Action::ALL {
                assert_eq!(r.authorize(uri, action), r2.authorize(uri, action), "{uri}");
            }
        }
    }

    #[test]
    fn empty_prefix_matches_everything() {
        let r = role(vec![perm("", Some(MatchPolicy::Prefix), SUB_ONLY)]);
        for uri in ["a", "com.example.x", "wamp.session.on_join"] {
            assert!(allowed(&r, uri, Action::Subscribe));
            assert!(!allowed(&r, uri, Action::Call));
        }
    }

    #[test]
    fn trailing_star_shorthand() {
        let p = perm("com.example.*", None, CALL_ONLY);
        assert_eq!(p.effective(), (MatchPolicy::Prefix, "com.example."));
        let r = role(vec![p, perm("*", None, SUB_ONLY)]);
        assert!(allowed(&r, "com.example.x.y", Action::Call));
        assert!(!allowed(&r, "com.example.x.y", Action::Subscribe));
        assert!(allowed(&r, "org.other", Action::Subscribe));
        // Without a star and without `match`: exact.
        let p = perm("com.example", None, CALL_ONLY);
        assert_eq!(p.effective(), (MatchPolicy::Exact, "com.example"));
        let r = role(vec![p]);
        assert!(allowed(&r, "com.example", Action::Call));
        assert!(!allowed(&r, "com.example.x", Action::Call));
        // With an explicit `match`, the star is not stripped.
        let p = perm("com.*", Some(MatchPolicy::Exact), CALL_ONLY);
        assert_eq!(p.effective(), (MatchPolicy::Exact, "com.*"));
    }

    #[test]
    fn disclose_flags() {
        let r = role(vec![Permission {
            uri: "com.".into(),
            match_: Some(MatchPolicy::Prefix),
            allow: Allow::ALL,
            disclose: Disclose {
                caller: true,
                publisher: false,
            },
            cache: false,
        }]);
        let d = |a| r.authorize("com.x", a);
        assert_eq!(
            d(Action::Call),
            Decision {
                allow: true,
                disclose: true
            }
        );
        assert_eq!(
            d(Action::Publish),
            Decision {
                allow: true,
                disclose: false
            }
        );
        assert_eq!(
            d(Action::Register),
            Decision {
                allow: true,
                disclose: false
            }
        );
        assert_eq!(
            d(Action::Subscribe),
            Decision {
                allow: true,
                disclose: false
            }
        );
        let r = role(vec![Permission {
            uri: "com.".into(),
            match_: Some(MatchPolicy::Prefix),
            allow: Allow {
                publish: true,
                ..NONE
            },
            disclose: Disclose {
                caller: true,
                publisher: true,
            },
            cache: false,
        }]);
        assert_eq!(
            r.authorize("com.x", Action::Publish),
            Decision {
                allow: true,
                disclose: true
            }
        );
        // Denied actions are never disclosed.
        assert_eq!(r.authorize("com.x", Action::Call), Decision::DENY);
    }

    #[test]
    fn cache_by_role_uri_action() {
        let mut c = AuthzCache::default();
        let allow = Decision {
            allow: true,
            disclose: false,
        };
        c.insert("r", "com.a", Action::Call, allow);
        c.insert("r", "com.a", Action::Call, allow);
        c.insert("r", "com.a", Action::Publish, Decision::DENY);
        c.insert("s", "com.a", Action::Call, Decision::DENY);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("r", "com.a", Action::Call), Some(allow));
        assert_eq!(c.get("r", "com.a", Action::Publish), Some(Decision::DENY));
        assert_eq!(c.get("r", "com.a", Action::Subscribe), None);
        assert_eq!(c.get("r", "com.b", Action::Call), None);
        assert_eq!(c.clear_role("r"), 2);
        assert_eq!(c.get("r", "com.a", Action::Call), None);
        assert_eq!(c.get("s", "com.a", Action::Call), Some(Decision::DENY));
        assert_eq!(c.clear(), 1);
        assert!(c.is_empty());
    }

    #[test]
    fn verdict_asks_the_authorizer() {
        let roles = Roles::from_configs([
            RoleConfig {
                name: "dyn".into(),
                permissions: vec![],
                authorizer: Some("com.example.authorize".into()),
                allow_by_default: false,
            },
            RoleConfig {
                name: "static".into(),
                permissions: vec![perm("", Some(MatchPolicy::Prefix), Allow::ALL)],
                authorizer: None,
                allow_by_default: false,
            },
        ])
        .unwrap();
        assert_eq!(
            roles.verdict("dyn", "com.x", Action::Call),
            Verdict::Ask("com.example.authorize")
        );
        assert_eq!(
            roles.authorize("dyn", "com.x", Action::Call),
            Decision::DENY
        );
        assert!(matches!(
            roles.verdict("static", "com.x", Action::Call),
            Verdict::Decided(Decision { allow: true, .. })
        ));
        assert_eq!(
            roles.verdict("none", "com.x", Action::Call),
            Verdict::Decided(Decision::DENY)
        );
    }

    #[test]
    fn allow_by_default_allows_what_a_role_without_permissions_is_asked() {
        let open = Role::new(RoleConfig {
            name: "open".into(),
            permissions: vec![],
            authorizer: None,
            allow_by_default: true,
        })
        .unwrap();
        for action in [
            Action::Call,
            Action::Register,
            Action::Publish,
            Action::Subscribe,
        ] {
            assert_eq!(
                open.authorize("com.any", action),
                Decision {
                    allow: true,
                    disclose: false
                }
            );
        }
        let closed = Role::new(RoleConfig {
            name: "closed".into(),
            permissions: vec![],
            authorizer: None,
            allow_by_default: false,
        })
        .unwrap();
        assert_eq!(closed.authorize("com.any", Action::Call), Decision::DENY);
        // With permissions it is refused: Crossbar.io would ignore it.
        let err = Role::new(RoleConfig {
            name: "both".into(),
            permissions: vec![perm("com.", Some(MatchPolicy::Prefix), Allow::ALL)],
            authorizer: None,
            allow_by_default: true,
        })
        .unwrap_err();
        assert!(matches!(
            err,
            AuthzError::AllowByDefaultWithPermissions { .. }
        ));
        assert!(err.to_string().contains("remove it"), "{err}");
    }

    #[test]
    fn build_errors() {
        let dynamic = Role::new(RoleConfig {
            name: "dyn".into(),
            permissions: vec![],
            authorizer: Some("com.example.authorize".into()),
            allow_by_default: false,
        })
        .unwrap();
        assert_eq!(dynamic.authorizer(), Some("com.example.authorize"));
        let err = Role::new(RoleConfig {
            name: "dyn".into(),
            permissions: vec![perm("com.a", None, Allow::ALL)],
            authorizer: Some("com.example.authorize".into()),
            allow_by_default: false,
        })
        .unwrap_err();
        assert!(matches!(err, AuthzError::InvalidAuthorizer { .. }));
        assert!(err.to_string().contains("not both"));
        let err = Role::new(RoleConfig {
            name: "dyn".into(),
            permissions: vec![],
            authorizer: Some("com..bad".into()),
            allow_by_default: false,
        })
        .unwrap_err();
        assert!(matches!(err, AuthzError::InvalidAuthorizer { .. }));
        let cfg = |perms| RoleConfig {
            name: "r".into(),
            permissions: perms,
            authorizer: None,
            allow_by_default: false,
        };
        assert!(matches!(
            Role::new(cfg(vec![perm("", None, Allow::ALL)])),
            Err(AuthzError::InvalidUri { .. })
        ));
        assert!(matches!(
            Role::new(cfg(vec![perm(
                "a..b",
                Some(MatchPolicy::Exact),
                Allow::ALL
            )])),
            Err(AuthzError::InvalidUri { .. })
        ));
        assert!(matches!(
            Role::new(cfg(vec![
                perm("com.x.*", None, Allow::ALL),
                perm("com.x.", Some(MatchPolicy::Prefix), NONE)
            ])),
            Err(AuthzError::DuplicatePermission { .. })
        ));
        assert!(matches!(
            Role::new(cfg(vec![
                perm("a..b", Some(MatchPolicy::Wildcard), Allow::ALL),
                perm("a..b", Some(MatchPolicy::Wildcard), NONE)
            ])),
            Err(AuthzError::DuplicatePermission { .. })
        ));
        // The same URI under different policies is fine.
        assert!(Role::new(cfg(vec![
            perm("com.x", None, Allow::ALL),
            perm("com.x", Some(MatchPolicy::Prefix), NONE),
            perm("com.x", Some(MatchPolicy::Wildcard), NONE),
        ]))
        .is_ok());
    }

    #[test]
    fn roles_add_replace_remove() {
        let mk = |name: &str, allow| {
            Role::new(RoleConfig {
                name: name.into(),
                permissions: vec![perm("", Some(MatchPolicy::Prefix), allow)],
                authorizer: None,
                allow_by_default: false,
            })
            .unwrap()
        };
        let mut roles = Roles::from_configs([mk("a", CALL_ONLY).config().clone()]).unwrap();
        assert!(roles.authorize("a", "x", Action::Call).allow);
        assert_eq!(roles.authorize("b", "x", Action::Call), Decision::DENY);
        assert!(roles.insert(mk("b", SUB_ONLY)).is_none());
        assert!(roles.authorize("b", "x", Action::Subscribe).allow);
        let old = roles.insert(mk("a", SUB_ONLY)).unwrap();
        assert!(old.authorize("x", Action::Call).allow);
        assert!(!roles.authorize("a", "x", Action::Call).allow);
        assert_eq!(roles.len(), 2);
        assert!(roles.remove("a").is_some());
        assert!(roles.get("a").is_none());
        assert!(!roles.contains("a"));
        assert_eq!(roles.iter().count(), 1);
        assert_eq!(
            Roles::from_configs([
                mk("a", NONE).config().clone(),
                mk("a", NONE).config().clone()
            ])
            .unwrap_err(),
            AuthzError::DuplicateRole("a".into())
        );
    }

    fn component() -> impl Strategy<Value = String> {
        prop_oneof![Just("a".to_owned()), Just("b".to_owned()), "[a-c]{1,2}"]
    }

    fn uri() -> impl Strategy<Value = String> {
        prop::collection::vec(component(), 1..5).prop_map(|c| c.join("."))
    }

    fn allow() -> impl Strategy<Value = Allow> {
        any::<[bool; 4]>().prop_map(|[call, register, publish, subscribe]| Allow {
            call,
            register,
            publish,
            subscribe,
        })
    }

    /// An arbitrary permission: exact on a uri, prefix of a uri, or a uri with
    /// some components blanked into a wildcard pattern.
    fn permission() -> impl Strategy<Value = Permission> {
        (
            uri(),
            0..3u8,
            any::<u8>(),
            0..6usize,
            allow(),
            any::<[bool; 2]>(),
        )
            .prop_map(|(u, kind, mask, cut, allow, [caller, publisher])| {
                let (uri, policy) = match kind {
                    0 => (u, MatchPolicy::Exact),
                    1 => (u[..cut.min(u.len())].to_owned(), MatchPolicy::Prefix),
                    _ => (
                        u.split('.')
                            .enumerate()
                            .map(|(i, c)| if mask & (1 << i) != 0 { "" } else { c })
                            .collect::<Vec<_>>()
                            .join("."),
                        MatchPolicy::Wildcard,
                    ),
                };
                Permission {
                    uri,
                    match_: Some(policy),
                    allow,
                    disclose: Disclose { caller, publisher },
                    cache: false,
                }
            })
    }

    proptest! {
        #[test]
        fn exact_permission_always_decides(
            others in prop::collection::vec(permission(), 0..12),
            target in uri(),
            allow in allow(),
            disclose in any::<[bool; 2]>(),
        ) {
            // Keep the first of any duplicate (pattern, policy), drop exact ones on target.
            let mut perms: Vec<Permission> = Vec::new();
            for p in others {
                let dup = perms.iter().any(|q| q.effective() == p.effective());
                let on_target = p.effective() == (MatchPolicy::Exact, target.as_str());
                if !dup && !on_target {
                    perms.push(p);
                }
            }
            let mine = Permission {
                uri: target.clone(),
                match_: None,
                allow,
                disclose: Disclose { caller: disclose[0], publisher: disclose[1] },
                cache: false,
            };
            let pos = perms.len() / 2;
            perms.insert(pos, mine);
            let r = role(perms);
            for action in Action::ALL {
                let d = r.authorize(&target, action);
                prop_assert_eq!(d.allow, allows(&allow, action));
                let expected_disclose = d.allow && match action {
                    Action::Call => disclose[0],
                    Action::Publish => disclose[1],
                    _ => false,
                };
                prop_assert_eq!(d.disclose, expected_disclose);
            }
        }
    }
}
