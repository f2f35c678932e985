//! The typed operations the control plane runs on a shard's router core
//! ([`CoreOp`], each with the answer it expects), and [`OpError`], why an
//! operation failed on a shard. Nothing else of the control plane reaches a
//! core: there is no "run this closure" message.

use crate::config::auth::AuthConfigError;
use crate::config::realm::RealmConfig;
use crate::config::role::{AuthzError, RoleConfig};
use crate::router::stats::{RealmStats, ShardStats};
use crate::router::{RealmId, RouterCore, SessionId, TransportId};
use crate::transport::ListenError;

use super::channel::Reply;

/// Why an operation failed on a shard. The messages are what the controller
/// reports (`shardwamp.error.operation_failed`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    /// The core refused a realm's or a role's configuration.
    #[error(transparent)]
    Authz(#[from] AuthzError),
    /// A transport's authentication configuration cannot be used.
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    /// A listener could not be set up or bound.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// A component's class could not be built.
    #[error("{0}")]
    Component(String),
    /// No component of this id runs on the shard.
    #[error("no component '{0}' on this shard")]
    NoSuchComponent(String),
    /// No router link of this realm and id runs on the shard.
    #[error("no {0} on this shard")]
    NoSuchLink(String),
    /// The admin HTTP listener could not start.
    #[error("admin listener on {addr}: {error}")]
    Admin {
        /// Where it was to listen.
        addr: std::net::SocketAddr,
        /// The OS error.
        error: String,
    },
    /// The shard stopped before it answered.
    #[error("the shard is gone")]
    ShardGone,
}

/// An operation on a shard's router core, with where to send its answer.
pub enum CoreOp {
    /// Starts realm `realm` (every shard with the same id).
    StartRealm {
        /// The realm's id.
        realm: RealmId,
        /// Its configuration.
        config: Box<RealmConfig>,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
    /// Stops a realm; with `close_sessions`, GOODBYE its sessions.
    StopRealm {
        /// The realm's id.
        realm: RealmId,
        /// Close its sessions.
        close_sessions: bool,
        /// Where to answer: the ids of the sessions closed.
        reply: Reply<Vec<crate::router::SessionId>>,
    },
    /// Adds or replaces a role of a realm.
    SetRole {
        /// The realm's id.
        realm: RealmId,
        /// The role.
        role: Box<RoleConfig>,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
    /// Removes a role of a realm.
    RemoveRole {
        /// The realm's id.
        realm: RealmId,
        /// The role's name.
        name: String,
        /// Where to answer.
        reply: Reply<()>,
    },
    /// Drops a realm's cached dynamic-authorizer answers (one role's, or all).
    ClearAuthorizerCache {
        /// The realm's id.
        realm: RealmId,
        /// The role's name; `None`: every role.
        role: Option<String>,
        /// Where to answer: how many entries were dropped on this shard.
        reply: Reply<usize>,
    },
    /// Lets sessions join a realm only through these transports (`None`: any).
    LimitRealmTo {
        /// The realm's id.
        realm: RealmId,
        /// The transports.
        transports: Option<Vec<TransportId>>,
        /// Where to answer.
        reply: Reply<()>,
    },
    /// A realm's statistics on this shard (empty for an unknown realm).
    RealmStats {
        /// The realm's id.
        realm: RealmId,
        /// Where to answer.
        reply: Reply<RealmStats>,
    },
    /// How many sessions of a realm live on this shard.
    LocalSessionCount {
        /// The realm's id.
        realm: RealmId,
        /// Where to answer.
        reply: Reply<usize>,
    },
    /// Whether this shard routes calls to `procedure` on realm `realm` (by name).
    RoutesProcedure {
        /// The realm's name.
        realm: String,
        /// The procedure.
        procedure: String,
        /// Where to answer.
        reply: Reply<bool>,
    },
    /// Closes this shard's sessions of a realm with this authid and/or
    /// authrole with GOODBYE `reason`; answers their session ids.
    Kill {
        /// The realm's id.
        realm: RealmId,
        /// Only sessions of this authid.
        authid: Option<String>,
        /// Only sessions of this authrole.
        authrole: Option<String>,
        /// The GOODBYE reason.
        reason: String,
        /// The GOODBYE message.
        message: Option<String>,
        /// Where to answer.
        reply: Reply<Vec<SessionId>>,
    },
    /// This shard's counters.
    ShardStats {
        /// Where to answer.
        reply: Reply<ShardStats>,
    },
}

impl CoreOp {
    /// Runs the operation on `core` and answers it.
    pub(crate) fn run(self, core: &mut RouterCore) {
        match self {
            CoreOp::StartRealm {
                realm,
                config,
                reply,
            } => reply.send(core.start_realm(realm, *config).map_err(OpError::from)),
            CoreOp::StopRealm {
                realm,
                close_sessions,
                reply,
            } => {
                reply.send(core.stop_realm(realm, close_sessions));
            }
            CoreOp::SetRole { realm, role, reply } => {
                reply.send(core.set_role(realm, &role).map_err(OpError::from))
            }
            CoreOp::RemoveRole { realm, name, reply } => {
                core.remove_role(realm, &name);
                reply.send(());
            }
            CoreOp::ClearAuthorizerCache { realm, role, reply } => {
                reply.send(core.clear_authorizer_cache(realm, role.as_deref()))
            }
            CoreOp::LimitRealmTo {
                realm,
                transports,
                reply,
            } => {
                core.limit_realm_to(realm, transports);
                reply.send(());
            }
            CoreOp::RealmStats { realm, reply } => {
                reply.send(core.realm_stats(realm).cloned().unwrap_or_default())
            }
            CoreOp::LocalSessionCount { realm, reply } => {
                reply.send(core.local_session_count(realm))
            }
            CoreOp::RoutesProcedure {
                realm,
                procedure,
                reply,
            } => reply.send(core.routes_procedure(&realm, &procedure)),
            CoreOp::Kill {
                realm,
                authid,
                authrole,
                reason,
                message,
                reply,
            } => reply.send(core.kill_local_by(
                realm,
                authid.as_deref(),
                authrole.as_deref(),
                &reason,
                message,
            )),
            CoreOp::ShardStats { reply } => reply.send(core.stats().clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_the_controller_reported_them_before() {
        assert_eq!(
            OpError::NoSuchComponent("c1".into()).to_string(),
            "no component 'c1' on this shard"
        );
        assert_eq!(OpError::ShardGone.to_string(), "the shard is gone");
        let bind = ListenError::Bind {
            name: "ws".into(),
            endpoint: "127.0.0.1:1".into(),
            error: "in use".into(),
        };
        assert_eq!(
            OpError::from(bind).to_string(),
            "transport 'ws': cannot listen on 127.0.0.1:1: in use"
        );
        assert_eq!(
            OpError::Admin {
                addr: "127.0.0.1:9".parse().unwrap(),
                error: "denied".into()
            }
            .to_string(),
            "admin listener on 127.0.0.1:9: denied"
        );
    }
}
