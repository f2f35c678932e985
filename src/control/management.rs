//! The management component: every controller operation as a WAMP procedure
//! `shardwamp.router.<operation>` on the management realm (Crossbar.io's names
//! and arguments), for `shardwamp ctl` and any WAMP client with the right role,
//! and the controller's events ([`super::events`]) published as
//! `shardwamp.router.<event>` there.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Weak;

use super::{Controller, OPERATIONS};
use crate::component::{Component, Handler, Registry, Session};
use crate::router::peer::CallFailure;
use crate::wamp::message::Payload;
use crate::wamp::value::Dict;

/// The class name the management component is registered under.
pub const CLASSNAME: &str = "shardwamp.management";

/// The management component's id (it cannot be stopped: the router would
/// be left unmanageable until restarted).
pub const COMPONENT_ID: &str = "shardwamp.management";

/// The internal role the management component joins under: it may register
/// and publish `shardwamp.router.*` and nothing else. Who may *call* them is the realm's
/// configured roles' business.
pub const ROLE: &str = "shardwamp.controller";

/// The internal role's configuration.
pub fn role() -> crate::config::role::RoleConfig {
    use crate::config::role::{Allow, Disclose, Permission, RoleConfig};
    RoleConfig {
        name: ROLE.into(),
        permissions: vec![Permission {
            uri: "shardwamp.router.".into(),
            match_: Some(crate::wamp::uri::MatchPolicy::Prefix),
            allow: Allow {
                register: true,
                publish: true,
                ..Allow::default()
            },
            disclose: Disclose::default(),
            cache: false,
        }],
        authorizer: None,
        allow_by_default: false,
    }
}

/// The procedure for an operation.
pub fn procedure(op: &str) -> String {
    format!("shardwamp.router.{op}")
}

/// Registers the management component class, bound to `controller`.
pub fn register(r: &mut Registry, controller: Weak<Controller>) {
    r.add(CLASSNAME, move |_| {
        Ok(Box::new(Management {
            controller: controller.clone(),
        }))
    });
}

struct Management {
    controller: Weak<Controller>,
}

impl Component for Management {
    fn run(self: Box<Self>, session: Session) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            // Listens before the procedures are routed: the controller starts
            // the configured links once they are, and their events must not
            // be missed.
            let events = self.controller.upgrade().map(|c| c.listen());
            for op in OPERATIONS.iter().map(|o| o.name) {
                let controller = self.controller.clone();
                let handler: Handler = Rc::new(move |args, kwargs, _details| {
                    let controller = controller.clone();
                    Box::pin(async move {
                        let Some(c) = controller.upgrade() else {
                            return Err(CallFailure::message(
                                crate::wamp::uris::ERROR_UNAVAILABLE,
                                "the router is stopping",
                            ));
                        };
                        match c.call(op, &args, &kwargs).await {
                            Ok(v) => Ok(Payload::args(vec![v])),
                            Err(e) => Err(CallFailure::message(e.uri(), e.message())),
                        }
                    })
                });
                if let Err(e) = session.register(&procedure(op), handler).await {
                    log::error!("management: cannot register {}: {}", procedure(op), e.error);
                }
            }
            // The controller's events (`shardwamp.router.on_...`), published
            // as they come until the session ends.
            let publish = async {
                match &events {
                    Some(rx) => {
                        while let Some(ev) = rx.recv().await {
                            session.publish(&ev.topic(), ev.args, Dict::new());
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            futures_lite::future::or(session.closed(), publish).await;
        })
    }
}
