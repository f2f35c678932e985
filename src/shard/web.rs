//! The shard's side of web transports: the core learns each path's
//! transport (a WebSocket path's authentication and limits; a bridge
//! path's internal transport, whose anonymous authentication gives its
//! session the configured role and the authid `bridge:<transport><path>`),
//! and the bridge services are built on first use ([`super::run`]'s
//! `Host::http_service`).

use crate::config::auth::{AnonymousStatic, AuthMethodConfig, TransportAuth};
use crate::config::ConnectionLimits;
use crate::router::auth::Authenticator;
use crate::router::{RouterCore, TransportId};
use crate::transport::web::PathSpec;
use crate::transport::{ListenerKind, ListenerSpec};

use super::ops::OpError;

fn set_one(
    core: &mut RouterCore,
    id: TransportId,
    auth: &TransportAuth,
    limits: ConnectionLimits,
) -> Result<(), OpError> {
    let auth = Authenticator::new(auth)?;
    core.set_transport(id, auth);
    core.set_transport_limits(id, limits.into());
    Ok(())
}

/// Tells the core every transport a listener's sessions come through: its
/// own, a universal transport's RawSocket part, each web path.
pub(crate) fn set_up_transports(core: &mut RouterCore, l: &ListenerSpec) -> Result<(), OpError> {
    set_one(core, l.id, &l.auth, l.limits)?;
    if let ListenerKind::Universal(u) = &l.kind {
        if let Some(rs) = &u.rawsocket {
            set_one(core, rs.id, &rs.auth, rs.limits)?;
        }
    }
    if let Some(web) = l.web() {
        for p in web.paths.specs() {
            set_up_path(core, &p)?;
        }
    }
    Ok(())
}

/// Tells the core the transport of one web path.
pub(crate) fn set_up_path(core: &mut RouterCore, p: &PathSpec) -> Result<(), OpError> {
    match p {
        PathSpec::WebSocket(ws) => set_one(core, ws.id, &ws.auth, ws.limits),
        PathSpec::Service(s) => {
            let auth = TransportAuth {
                anonymous: Some(AuthMethodConfig::Static(AnonymousStatic {
                    role: s.config.role.clone(),
                    authid: Some(crate::bridge::authid(s)),
                    realm: None,
                })),
                ..Default::default()
            };
            let auth = Authenticator::new(&auth)?;
            core.set_transport(s.id, auth.internal());
            Ok(())
        }
    }
}
