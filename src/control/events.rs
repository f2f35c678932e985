//! Controller events: what the controller tells the management realm when
//! something changes (Crossbar.io's `RouterController` publishes
//! `<prefix>.on_router_realm_link_started` and `..._stopped` with the
//! link's `marshal()`, and `on_web_transport_service_starting`,
//! `..._started`, `..._stopping`, `..._stopped` around a web path's start
//! and stop). This module owns the fan-out: an operation, on
//! whichever thread it runs, hands an [`Event`] to [`Events::publish`];
//! each listener (the management component, on its shard) receives it
//! through a control channel and publishes it as
//! `shardwamp.router.<name>` on the management realm.
//!
//! Events are few (one an operation), so the channels are unbounded; a
//! listener that is gone is dropped at the next publish.

use std::sync::Mutex;

use crate::shard::{channel, ControlReceiver, ControlSender};
use crate::wamp::value::Value;

/// `on_router_realm_link_started`: a link started; its detail.
pub const LINK_STARTED: &str = "on_router_realm_link_started";
/// `on_router_realm_link_stopped`: a link stopped; its detail.
pub const LINK_STOPPED: &str = "on_router_realm_link_stopped";

/// `on_web_transport_service_starting`: a web transport's path is about
/// to be mounted; `(transport_id, path)`.
pub const WEB_SERVICE_STARTING: &str = "on_web_transport_service_starting";
/// `on_web_transport_service_started`: a path was mounted; `(transport_id,
/// path, {transport_id, path, config})` (the config with secrets redacted).
pub const WEB_SERVICE_STARTED: &str = "on_web_transport_service_started";
/// `on_web_transport_service_stopping`: a path is about to be unmounted;
/// `(transport_id, path)`.
pub const WEB_SERVICE_STOPPING: &str = "on_web_transport_service_stopping";
/// `on_web_transport_service_stopped`: a path was unmounted; `(transport_id,
/// path, {transport_id, path})`.
pub const WEB_SERVICE_STOPPED: &str = "on_web_transport_service_stopped";

/// One controller event: its name (the topic is
/// `shardwamp.router.<name>`) and its positional arguments.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event's name, Crossbar.io's (`on_router_realm_link_started`).
    pub name: &'static str,
    /// Its arguments (Crossbar.io's: one, the object's detail).
    pub args: Vec<Value>,
}

impl Event {
    /// The topic it is published on.
    pub fn topic(&self) -> String {
        super::management::procedure(self.name)
    }
}

/// The controller's listeners.
#[derive(Default)]
pub struct Events {
    listeners: Mutex<Vec<ControlSender<Event>>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("listeners", &self.lock().len())
            .finish()
    }
}

impl Events {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ControlSender<Event>>> {
        match self.listeners.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A new listener: every event published from now on.
    pub fn listen(&self) -> ControlReceiver<Event> {
        let (tx, rx) = channel();
        self.lock().push(tx);
        rx
    }

    /// Hands `event` to every listener; drops those that are gone.
    pub fn publish(&self, event: Event) {
        self.lock().retain(|l| l.send(event.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listener_gets_each_event_and_gone_ones_are_dropped() {
        let events = Events::default();
        let a = events.listen();
        let b = events.listen();
        events.publish(Event {
            name: LINK_STARTED,
            args: vec![Value::from("x")],
        });
        assert_eq!(a.try_recv().map(|e| e.name), Some(LINK_STARTED));
        let e = b.try_recv().expect("b");
        assert_eq!(e.topic(), "shardwamp.router.on_router_realm_link_started");
        drop(b);
        events.publish(Event {
            name: LINK_STOPPED,
            args: Vec::new(),
        });
        assert_eq!(a.try_recv().map(|e| e.name), Some(LINK_STOPPED));
        assert_eq!(events.lock().len(), 1);
    }
}
