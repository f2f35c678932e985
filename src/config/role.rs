//! A realm's `roles` as the configuration describes them (Crossbar.io's
//! shape): each role's permissions (URI pattern, match policy, `allow`,
//! `disclose`) and the checks a role must pass before the router compiles it
//! (`router::authz::Role`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::wamp::uri::{validate, MatchPolicy, UriCheck, UriError};

/// A permission's `allow` table: which actions it grants (each default false).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Allow {
    /// May call procedures.
    pub call: bool,
    /// May register procedures.
    pub register: bool,
    /// May publish to topics.
    pub publish: bool,
    /// May subscribe to topics.
    pub subscribe: bool,
}

impl Allow {
    /// Every action allowed.
    pub const ALL: Allow = Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    };
}

/// A permission's `disclose` table: whether the router discloses the caller to
/// callees and the publisher to subscribers (each default false).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Disclose {
    /// Disclose the caller's identity on `INVOCATION`.
    pub caller: bool,
    /// Disclose the publisher's identity on `EVENT`.
    pub publisher: bool,
}

/// One permission of a role: `{"uri", "match", "allow", "disclose", "cache"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// The URI or pattern (`""` with prefix matching matches everything).
    pub uri: String,
    /// `exact`, `prefix` or `wildcard`; absent: prefix when `uri` ends in `*`
    /// (the `*` is stripped), else exact.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<MatchPolicy>,
    /// The actions granted.
    #[serde(default)]
    pub allow: Allow,
    /// The identities disclosed.
    #[serde(default)]
    pub disclose: Disclose,
    /// Whether a session may cache the decision (meaningful for dynamic
    /// authorizers; kept for configuration round-trips).
    #[serde(default)]
    pub cache: bool,
}

impl Permission {
    /// The effective match policy and pattern, with the trailing-`*` shorthand applied.
    pub fn effective(&self) -> (MatchPolicy, &str) {
        match self.match_ {
            Some(policy) => (policy, self.uri.as_str()),
            None => match self.uri.strip_suffix('*') {
                Some(prefix) => (MatchPolicy::Prefix, prefix),
                None => (MatchPolicy::Exact, self.uri.as_str()),
            },
        }
    }
}

/// A role as configured: `{"name", "permissions": [...]}` or
/// `{"name", "authorizer": "com.example.authorize"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role's name (what `authrole` refers to).
    pub name: String,
    /// The role's static permissions.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// A dynamic authorizer procedure, called as `(session, uri, action,
    /// options)` on the session's realm for every action of a session of this
    /// role (`router::authorizer`); a role has either this or `permissions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<String>,
    /// Crossbar.io's `allow-by-default`: a role without permissions (and
    /// without an authorizer) allows every action on every URI, disclosing
    /// nothing. Crossbar.io ignores it on a role with permissions, which
    /// deny what they do not match; so that no migrated role quietly differs,
    /// [`RoleConfig::check`] refuses it there.
    #[serde(
        rename = "allow-by-default",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub allow_by_default: bool,
}

impl RoleConfig {
    /// Checks the role can be built. Permission URIs are checked with the
    /// loose rules for their match policy (a strict realm simply never
    /// presents a URI a non-strict pattern would match). Fails on an empty
    /// name, an invalid URI, two permissions with the same effective pattern
    /// and policy, and an authorizer that is not a procedure URI or comes with
    /// permissions (which it would silently override).
    pub fn check(&self) -> Result<(), AuthzError> {
        if self.name.is_empty() {
            return Err(AuthzError::EmptyRoleName);
        }
        if let Some(authorizer) = &self.authorizer {
            let bad = |problem: String| AuthzError::InvalidAuthorizer {
                role: self.name.clone(),
                authorizer: authorizer.clone(),
                problem,
            };
            if let Err(e) = validate(authorizer, UriCheck::Loose, MatchPolicy::Exact) {
                return Err(bad(format!("not a procedure URI: {e}")));
            }
            if !self.permissions.is_empty() {
                return Err(bad(
                    "a role has either an authorizer or permissions, not both".to_owned(),
                ));
            }
            if self.allow_by_default {
                return Err(bad(
                    "allow-by-default does not apply to a role with an authorizer".to_owned(),
                ));
            }
        }
        if self.allow_by_default && !self.permissions.is_empty() {
            return Err(AuthzError::AllowByDefaultWithPermissions {
                role: self.name.clone(),
            });
        }
        let mut seen: HashSet<(MatchPolicy, &str)> = HashSet::with_capacity(self.permissions.len());
        for perm in &self.permissions {
            let (policy, uri) = perm.effective();
            validate(uri, UriCheck::Loose, policy).map_err(|source| AuthzError::InvalidUri {
                role: self.name.clone(),
                uri: uri.to_owned(),
                policy,
                source,
            })?;
            if !seen.insert((policy, uri)) {
                return Err(AuthzError::DuplicatePermission {
                    role: self.name.clone(),
                    uri: uri.to_owned(),
                    policy,
                });
            }
        }
        Ok(())
    }
}

/// Why a role cannot be built, or a set of roles assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    /// The role's dynamic authorizer cannot be used.
    #[error("role {role:?}: authorizer {authorizer:?}: {problem}")]
    InvalidAuthorizer {
        /// The role.
        role: String,
        /// The configured authorizer procedure.
        authorizer: String,
        /// What is wrong.
        problem: String,
    },
    /// The role's name is empty.
    #[error("a role has an empty name")]
    EmptyRoleName,
    /// A permission's URI is not a valid pattern for its match policy.
    #[error("role {role:?}: invalid {policy} permission URI {uri:?}: {source}")]
    InvalidUri {
        /// The role.
        role: String,
        /// The pattern (after the trailing-`*` shorthand).
        uri: String,
        /// The effective match policy.
        policy: MatchPolicy,
        /// What is wrong with it.
        source: UriError,
    },
    /// Two permissions of a role have the same pattern and match policy.
    #[error("role {role:?}: more than one {policy} permission for {uri:?}")]
    DuplicatePermission {
        /// The role.
        role: String,
        /// The pattern (after the trailing-`*` shorthand).
        uri: String,
        /// The effective match policy.
        policy: MatchPolicy,
    },
    /// `allow-by-default` on a role that also has permissions.
    #[error("role {role:?}: allow-by-default applies only to a role without permissions (Crossbar.io ignores it when there are permissions, which deny what they do not match); remove it, or add a permission {{uri = \"\", match = \"prefix\", allow = {{...}}}} for what the role should do by default")]
    AllowByDefaultWithPermissions {
        /// The role.
        role: String,
    },
    /// Two roles of one realm have the same name.
    #[error("more than one role named {0:?}")]
    DuplicateRole(String),
}
