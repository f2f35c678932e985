//! From the TOML [`Config`] to what the runtime runs ([`RouterSpec`]).

use crate::config::realm::RealmConfig;
use crate::config::Config;
use crate::router::TransportId;
use crate::transport::ListenerSpec;

use super::StartError;

/// What the runtime runs.
#[derive(Debug, Clone)]
pub struct RouterSpec {
    /// Number of shards (executors).
    pub shards: usize,
    /// CPUs to pin the shards to, when given.
    pub cpus: Option<Vec<usize>>,
    /// io_uring registered buffer memory per shard.
    pub io_memory: usize,
    /// Realms.
    pub realms: Vec<RealmConfig>,
    /// Listeners.
    pub listeners: Vec<ListenerSpec>,
    /// Seed for ids (None: from the OS).
    pub seed: Option<u64>,
    /// Realms (by name) that sessions may join only through the listed
    /// transports; set before any listener accepts (the management realm).
    pub realm_transports: Vec<(String, Vec<TransportId>)>,
    /// The router's Ed25519 key (`[router] node_key`), for cryptosign's
    /// router authentication; `Debug` shows only its public half.
    pub router_key: Option<crate::wamp::cryptosign::PrivateKey>,
}

impl RouterSpec {
    /// The runtime's view of a validated configuration.
    pub fn from_config(c: &Config) -> Result<RouterSpec, StartError> {
        c.validate()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let mut listeners = Vec::new();
        for (i, t) in c.transports.iter().enumerate() {
            listeners.push(ListenerSpec::from_transport(i as u32, t)?);
        }
        let router_key = match &c.router.node_key {
            None => None,
            Some(path) => Some(
                crate::config::keyfile::read_key_file(path)
                    .map_err(|e| StartError::Config(format!("router.node_key: {e}")))?
                    .0,
            ),
        };
        Ok(RouterSpec {
            router_key,
            shards: usize::from(c.router.shard_count()),
            cpus: c.router.cpus.clone(),
            io_memory: c.router.io_memory,
            realms: c.realms.clone(),
            listeners,
            seed: None,
            realm_transports: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{EndpointSpec, ListenerKind};

    #[test]
    fn the_default_config_maps_onto_two_listeners() {
        let spec = RouterSpec::from_config(&Config::default_embedded()).unwrap();
        assert_eq!(spec.realms.len(), 1);
        assert_eq!(spec.listeners.len(), 2);
        assert_eq!(
            spec.listeners[0].endpoint,
            EndpointSpec::Tcp("127.0.0.1:8080".parse().unwrap())
        );
        assert!(matches!(&spec.listeners[0].kind, ListenerKind::WebSocket(o) if o.path == "/ws"));
        assert_eq!(
            spec.listeners[1].endpoint,
            EndpointSpec::Tcp("127.0.0.1:8081".parse().unwrap())
        );
    }

    #[test]
    fn backlog_and_read_buffer_come_from_the_config() {
        let text = r#"
[[realms]]
name = "realm1"

[[transports]]
type = "websocket"
id = "ws"
endpoint = { type = "tcp", port = 0, backlog = 4096 }
options = { read_buffer_size = 100 }

[[transports]]
type = "rawsocket"
id = "rs"
endpoint = { type = "tcp", port = 0 }
options = { read_buffer_size = 16384 }
"#;
        let c: Config = text.parse().unwrap();
        let spec = RouterSpec::from_config(&c).unwrap();
        assert_eq!(spec.listeners[0].backlog, 4096);
        assert_eq!(spec.listeners[1].backlog, 1024, "the default");
        // below the minimum: raised to 256
        assert!(
            matches!(&spec.listeners[0].kind, ListenerKind::WebSocket(o) if o.read_buffer_size == 256)
        );
        assert!(
            matches!(&spec.listeners[1].kind, ListenerKind::RawSocket(o) if o.read_buffer_size == 16384)
        );
        let d = RouterSpec::from_config(&Config::default_embedded()).unwrap();
        assert!(
            matches!(&d.listeners[0].kind, ListenerKind::WebSocket(o) if o.read_buffer_size == 2048)
        );
    }

    #[test]
    fn every_websocket_option_is_carried_to_the_runtime() {
        let text = r#"
[[realms]]
name = "realm1"

[[transports]]
type = "websocket"
id = "ws"
endpoint = { type = "tcp", port = 0 }
options = { close_handshake_timeout = 250, auto_fragment_size = 4096, auto_ping_interval = 500, auto_ping_timeout = 300, auto_ping_size = 32, max_frame_size = 0, max_message_size = 2048, open_handshake_timeout = 700, tcp_nodelay = false }
"#;
        let c: Config = text.parse().unwrap();
        let spec = RouterSpec::from_config(&c).unwrap();
        let ListenerKind::WebSocket(o) = &spec.listeners[0].kind else {
            panic!("a WebSocket listener");
        };
        assert_eq!(o.close_handshake_timeout, 250);
        assert_eq!(o.auto_fragment_size, 4096);
        assert_eq!((o.auto_ping_interval, o.auto_ping_timeout), (500, 300));
        assert_eq!(o.auto_ping_size, 32);
        assert_eq!((o.max_frame_size, o.max_message_size), (0, 2048));
        assert_eq!(o.open_handshake_timeout, 700);
        assert!(!o.tcp_nodelay);
        let d = RouterSpec::from_config(&Config::default_embedded()).unwrap();
        let ListenerKind::WebSocket(o) = &d.listeners[0].kind else {
            panic!("a WebSocket listener");
        };
        assert_eq!(
            (
                o.close_handshake_timeout,
                o.auto_fragment_size,
                o.auto_ping_size
            ),
            (1000, 0, 4)
        );
    }
}
