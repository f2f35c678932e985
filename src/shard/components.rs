//! The components running on a shard: starting one (its class built from the
//! registry, its internal transport's anonymous authentication giving it its
//! configured authid and role, its session joined through
//! [`crate::component::start`]), stopping one, and stopping all at shutdown.

use std::collections::HashMap;
use std::rc::Rc;

use crate::component::{Registry, Running};
use crate::config::auth::{AnonymousStatic, AuthMethodConfig, TransportAuth};
use crate::config::ComponentConfig;
use crate::router::auth::Authenticator;
use crate::router::TransportId;

use super::ops::OpError;
use super::run::Shard;

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
