//! The components running on a shard: starting one (its class built from the
//! registry, its internal transport's anonymous authentication giving it its
//! configured authid and role, its session joined through
//! [`crate::component::start`]), stopping one, and stopping all at shutdown;
//! and the router links running on a shard ([`Links`]), which join their
//! local leg the same way.

use std::collections::HashMap;
use std::rc::Rc;

use crate::component::{Registry, Running};
use crate::config::auth::{AnonymousStatic, AuthMethodConfig, TransportAuth};
use crate::config::ComponentConfig;
use crate::router::auth::Authenticator;
use crate::router::TransportId;

use super::ops::OpError;
use super::state::Shard;

/// The components running on one shard, by id.
#[derive(Default)]
pub(crate) struct Components {
    running: HashMap<String, Running>,
}

impl Components {
    /// Starts component `config` on `shard`, joining through internal
    /// transport `transport`; a component of the same id already running is
    /// stopped.
    pub fn start(
        &mut self,
        shard: &Rc<Shard>,
        config: &ComponentConfig,
        registry: &Registry,
        transport: TransportId,
    ) -> Result<(), OpError> {
        let component = registry.build(config).map_err(OpError::Component)?;
        let auth = TransportAuth {
            anonymous: Some(AuthMethodConfig::Static(AnonymousStatic {
                role: config.role.clone(),
                authid: Some(config.id.clone()),
                realm: None,
            })),
            ..Default::default()
        };
        let auth = Authenticator::new(&auth)?;
        shard
            .core
            .borrow_mut()
            .set_transport(transport, auth.internal());
        let running = crate::component::start(shard, component, &config.realm, transport);
        if let Some(old) = self.running.insert(config.id.clone(), running) {
            old.stop();
        }
        Ok(())
    }

    /// Stops component `id`.
    pub fn stop(&mut self, id: &str) -> Result<(), OpError> {
        match self.running.remove(id) {
            Some(c) => {
                c.stop();
                Ok(())
            }
            None => Err(OpError::NoSuchComponent(id.to_owned())),
        }
    }

    /// Stops every component (at shutdown).
    pub fn stop_all(&mut self) {
        for (_, c) in self.running.drain() {
            c.stop();
        }
    }
}

/// The router links running on one shard, by (realm, id).
#[derive(Default)]
pub(crate) struct Links {
    running: HashMap<(String, String), crate::link::Running>,
}

impl Links {
    /// Starts a link on `shard`: its internal transport gives the local leg
    /// the link's role; a link of the same realm and id is stopped first.
    pub fn start(
        &mut self,
        shard: &Rc<Shard>,
        spec: crate::link::LinkSpec,
        stats: std::sync::Arc<crate::link::LinkStats>,
    ) -> Result<(), OpError> {
        let auth = TransportAuth {
            anonymous: Some(AuthMethodConfig::Static(AnonymousStatic {
                role: crate::link::LOCAL_ROLE.into(),
                authid: Some(format!("rlink:{}", spec.id)),
                realm: None,
            })),
            ..Default::default()
        };
        let auth = Authenticator::new(&auth)?;
        shard
            .core
            .borrow_mut()
            .set_transport(spec.transport, auth.internal());
        let key = (spec.realm.clone(), spec.id.clone());
        if let Some(old) = self.running.remove(&key) {
            old.stop();
        }
        let running = crate::link::start(shard, spec, stats);
        self.running.insert(key, running);
        Ok(())
    }

    /// Stops link `id` of `realm`.
    pub fn stop(&mut self, realm: &str, id: &str) -> Result<(), OpError> {
        match self.running.remove(&(realm.to_owned(), id.to_owned())) {
            Some(l) => {
                l.stop();
                Ok(())
            }
            None => Err(OpError::NoSuchLink(format!(
                "link '{id}' of realm '{realm}'"
            ))),
        }
    }

    /// Stops every link (at shutdown).
    pub fn stop_all(&mut self) {
        for (_, l) in self.running.drain() {
            l.stop();
        }
    }
}
