//! A router-to-router link as the configuration describes it: Crossbar.io's
//! `rlinks` entry of a realm (`RLinkConfig.parse` in Crossbar.io's
//! `worker/rlink.py`), with shardwamp's additions — how the link
//! authenticates to the other router and its reconnect backoff. The link
//! itself runs in `crate::link`; docs/links.md describes both.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::auth::Secret;

/// One link of a realm: `[[realms.rlinks]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RLinkConfig {
    /// The link's id; absent: `rlink001`, `rlink002`, ... by position in the
    /// realm (as Crossbar.io numbers them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The realm to join on the other router.
    pub realm: String,
    /// How to reach the other router (a connecting transport).
    pub transport: RLinkTransport,
    /// The authid the remote leg asks for; absent: the router gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authid: Option<String>,
    /// Authids the events forwarded to the other router exclude (applied on
    /// the remote leg only, as in Crossbar.io).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_authid: Vec<String>,
    /// Forward events published here to the other router's subscribers.
    #[serde(default = "yes")]
    pub forward_local_events: bool,
    /// Forward events published there to subscribers here.
    #[serde(default = "yes")]
    pub forward_remote_events: bool,
    /// Let the other router's callers call procedures registered here.
    #[serde(default = "yes")]
    pub forward_local_invocations: bool,
    /// Let callers here call procedures registered there.
    #[serde(default = "yes")]
    pub forward_remote_invocations: bool,
    /// How the remote leg authenticates (shardwamp; Crossbar.io always
    /// uses cryptosign with the node's key). Anonymous when empty.
    #[serde(default)]
    pub authentication: RLinkAuth,
    /// Reconnect backoff (shardwamp; Crossbar.io's fixed values by default).
    #[serde(default)]
    pub reconnect: Backoff,
    /// The most a leg queues toward a router that is behind, in bytes
    /// (shardwamp): past it events are dropped and calls refused, past
    /// twice it the link reconnects (docs/links.md, "Queues").
    #[serde(default = "queue_limit")]
    pub queue_limit_bytes: u64,
}

/// The default `queue_limit_bytes`: 8 MiB.
pub const DEFAULT_QUEUE_LIMIT_BYTES: u64 = 8 << 20;

/// The smallest `queue_limit_bytes` accepted.
pub const MIN_QUEUE_LIMIT_BYTES: u64 = 4096;

fn queue_limit() -> u64 {
    DEFAULT_QUEUE_LIMIT_BYTES
}

fn yes() -> bool {
    true
}

impl RLinkConfig {
    /// The link's id: its own, or Crossbar.io's default for position `index`.
    pub fn id_at(&self, index: usize) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("rlink{:03}", index + 1))
    }

    /// A copy with the credentials replaced by `"<redacted>"`.
    pub fn redacted(&self) -> RLinkConfig {
        let mut c = self.clone();
        if c.authentication.ticket.is_some() {
            c.authentication.ticket = Some(super::REDACTED.into());
        }
        if c.authentication.secret.is_some() {
            c.authentication.secret = Some(super::REDACTED.into());
        }
        c
    }

    /// Every problem of this link's settings, as (key, message); the key is
    /// relative to the link's table. The messages name no credential.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(e) = super::realm::check_realm_name(&self.realm) {
            out.push((
                "realm",
                format!("invalid remote realm name {:?}: {e}", self.realm),
            ));
        }
        if let Some(id) = &self.id {
            if id.is_empty() {
                out.push(("id", "a link's id cannot be empty".to_owned()));
            }
        }
        let t = &self.transport;
        match &t.endpoint {
            ConnectEndpoint::Tcp {
                host, port, tls, ..
            } => {
                if let Some(tls) = tls {
                    out.extend(tls.problems());
                }
                if host.is_empty() {
                    out.push(("transport.endpoint.host", "host cannot be empty".to_owned()));
                }
                if *port == 0 {
                    out.push((
                        "transport.endpoint.port",
                        "a connecting endpoint needs the port to dial (not 0)".to_owned(),
                    ));
                }
            }
            ConnectEndpoint::Unix { path } => {
                if path.as_os_str().is_empty() {
                    out.push(("transport.endpoint.path", "path cannot be empty".to_owned()));
                }
            }
        }
        if let Some(url) = &t.url {
            let scheme_ok = match t.kind {
                RLinkTransportKind::Websocket => {
                    url.starts_with("ws://") || url.starts_with("wss://")
                }
                RLinkTransportKind::Rawsocket => true,
            };
            if !scheme_ok {
                out.push((
                    "transport.url",
                    format!("a websocket link's url must start with ws:// or wss://, not {url:?}"),
                ));
            }
        }
        if let Err(e) = t.serializer_names() {
            out.push(("transport.serializers", e));
        }
        if t.serializer.is_some() && t.serializers.is_some() {
            out.push((
                "transport.serializer",
                "give `serializer` or `serializers`, not both".to_owned(),
            ));
        }
        let a = &self.authentication;
        let given = [a.ticket.is_some(), a.secret.is_some(), a.key.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if given > 1 {
            out.push((
                "authentication",
                "give one of `ticket`, `secret` (WAMP-CRA) or `key` (cryptosign)".to_owned(),
            ));
        }
        if (a.ticket.is_some() || a.secret.is_some()) && self.authid.is_none() {
            out.push((
                "authid",
                "a link that authenticates with a ticket or secret needs the `authid` to authenticate as".to_owned(),
            ));
        }
        if a.ticket.as_ref().is_some_and(Secret::is_empty) {
            out.push(("authentication.ticket", "the ticket is empty".to_owned()));
        }
        if a.secret.as_ref().is_some_and(Secret::is_empty) {
            out.push(("authentication.secret", "the secret is empty".to_owned()));
        }
        if let Some(path) = &a.key {
            // The message names the file and what is wrong, never the key.
            if let Err(e) = super::keyfile::read_key_file(path) {
                out.push(("authentication.key", e.to_string()));
            }
        }
        if let Some(k) = &a.router_key {
            if a.key.is_none() {
                out.push((
                    "authentication.router_key",
                    "router authentication is cryptosign's: give `key` too".to_owned(),
                ));
            }
            if crate::wamp::cryptosign::parse_public_key(k).is_err() {
                out.push((
                    "authentication.router_key",
                    "expected an Ed25519 public key as 64 hex digits".to_owned(),
                ));
            }
        }
        if let Some(b) = &a.channel_binding {
            if a.key.is_none() {
                out.push((
                    "authentication.channel_binding",
                    "a channel binding is cryptosign's: give `key` too".to_owned(),
                ));
            }
            if b != crate::wamp::cryptosign::BINDING_TLS_EXPORTER {
                out.push((
                    "authentication.channel_binding",
                    format!("unsupported channel binding {b:?} (supported: \"tls-exporter\")"),
                ));
            }
            let over_tls = matches!(&t.endpoint, ConnectEndpoint::Tcp { tls: Some(_), .. });
            if !over_tls {
                out.push((
                    "authentication.channel_binding",
                    "a channel binding needs TLS: set transport.endpoint.tls".to_owned(),
                ));
            }
        }
        if self.queue_limit_bytes < MIN_QUEUE_LIMIT_BYTES {
            out.push((
                "queue_limit_bytes",
                format!("must be at least {MIN_QUEUE_LIMIT_BYTES} bytes"),
            ));
        }
        let b = &self.reconnect;
        if b.initial_delay_ms == 0 {
            out.push((
                "reconnect.initial_delay_ms",
                "must be at least 1 ms".to_owned(),
            ));
        }
        if !(b.growth.is_finite() && b.growth >= 1.0) {
            out.push(("reconnect.growth", "must be at least 1.0".to_owned()));
        }
        if b.max_delay_ms < b.initial_delay_ms {
            out.push((
                "reconnect.max_delay_ms",
                "must not be below initial_delay_ms".to_owned(),
            ));
        }
        if !(0.0..=1.0).contains(&b.jitter) {
            out.push(("reconnect.jitter", "must be from 0.0 to 1.0".to_owned()));
        }
        out
    }
}

/// The link's connecting transport, Crossbar.io's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RLinkTransport {
    /// `websocket` or `rawsocket`.
    #[serde(rename = "type")]
    pub kind: RLinkTransportKind,
    /// Where to connect.
    pub endpoint: ConnectEndpoint,
    /// The WebSocket URL (its path is requested; Crossbar.io requires it
    /// for WebSocket); absent: `ws://host:port/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The serializers to offer, first preferred (WebSocket offers them all;
    /// RawSocket uses the first). Default: cbor, msgpack, json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serializers: Option<Vec<String>>,
    /// Crossbar.io's RawSocket form: one serializer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serializer: Option<String>,
}

impl RLinkTransport {
    /// The serializer names to offer, in order; an error names an unknown one.
    pub fn serializer_names(&self) -> Result<Vec<String>, String> {
        let names: Vec<String> = match (&self.serializer, &self.serializers) {
            (Some(s), _) => vec![s.clone()],
            (None, Some(list)) => list.clone(),
            (None, None) => vec!["cbor".into(), "msgpack".into(), "json".into()],
        };
        if names.is_empty() {
            return Err("list at least one serializer".into());
        }
        for n in &names {
            if !matches!(n.as_str(), "json" | "msgpack" | "cbor") {
                return Err(format!(
                    "unknown serializer {n:?}, expected one of json, msgpack, cbor"
                ));
            }
        }
        Ok(names)
    }
}

/// `websocket` or `rawsocket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RLinkTransportKind {
    /// WebSocket.
    Websocket,
    /// RawSocket.
    Rawsocket,
}

/// A connecting endpoint, Crossbar.io's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ConnectEndpoint {
    /// `type = "tcp"`: `host`, `port`.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// Crossbar.io's `version` (4 or 6); the host decides here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u8>,
        /// Crossbar.io's connect timeout in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<u32>,
        /// Crossbar.io's connecting TLS (`hostname`, `ca_certificates`,
        /// `certificate`, `key`): the link dials TLS (`wss://`, or RawSocket
        /// over TLS).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<RLinkTls>,
    },
    /// `type = "unix"`: `path`.
    Unix {
        /// The socket's path.
        path: PathBuf,
    },
}

/// A link's connecting TLS: Crossbar.io's keys (`check_connecting_endpoint_tls`
/// in its `checkconfig.py`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RLinkTls {
    /// The name the other router's certificate must carry (Crossbar.io
    /// requires it; here it defaults to the endpoint's `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// CA certificates (PEM files) to trust; none: the Mozilla roots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<PathBuf>,
    /// A client certificate (PEM) to show, with `key` (for the other
    /// router's `tls` authentication or a listener that requires one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl RLinkTls {
    /// Its problems, as (key, message): files that cannot be read or parsed
    /// (named, never their content), a certificate without its key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.hostname.as_deref() == Some("") {
            out.push((
                "transport.endpoint.tls.hostname",
                "hostname cannot be empty".to_owned(),
            ));
        }
        for ca in &self.ca_certificates {
            if let Err(e) = super::tls::read_certificates(ca) {
                out.push(("transport.endpoint.tls.ca_certificates", e));
            }
        }
        match (&self.certificate, &self.key) {
            (Some(c), Some(k)) => {
                if let Err(e) = super::tls::read_certificates(c) {
                    out.push(("transport.endpoint.tls.certificate", e));
                }
                if let Err(e) = super::tls::read_private_key(k) {
                    out.push(("transport.endpoint.tls.key", e));
                }
            }
            (Some(_), None) => out.push((
                "transport.endpoint.tls.key",
                "a client certificate needs its key".to_owned(),
            )),
            (None, Some(_)) => out.push((
                "transport.endpoint.tls.certificate",
                "a client key needs its certificate".to_owned(),
            )),
            (None, None) => {}
        }
        out
    }
}

impl fmt::Display for ConnectEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectEndpoint::Tcp { host, port, .. } => write!(f, "tcp:{host}:{port}"),
            ConnectEndpoint::Unix { path } => write!(f, "unix:{}", path.display()),
        }
    }
}

/// How the remote leg authenticates: one of these, or anonymous.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RLinkAuth {
    /// A ticket (`ticket` authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Secret>,
    /// A WAMP-CRA secret (the derived key when the user is salted: the
    /// client derives it from the CHALLENGE's salt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Cryptosign: the path of an Ed25519 key file, Crossbar.io's node key
    /// (`.crossbar/key.priv`) or another format `config::keyfile` reads;
    /// the authid may be left to the other router to infer from the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Cryptosign router authentication: the other router's public key
    /// (64 hex digits, its node key's public half). The link sends a
    /// challenge in HELLO and refuses a router that does not sign it with
    /// this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_key: Option<String>,
    /// Cryptosign channel binding over TLS: `"tls-exporter"` (RFC 9266) signs
    /// the challenge bound to this TLS connection. Absent: no binding
    /// (Crossbar.io accepts only `tls-unique`, which rustls cannot give).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_binding: Option<String>,
}

impl fmt::Debug for RLinkAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLinkAuth")
            .field("ticket", &self.ticket.as_ref().map(|_| "<redacted>"))
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key)
            .field("router_key", &self.router_key)
            .field("channel_binding", &self.channel_binding)
            .finish()
    }
}

/// Reconnect backoff: the first retry after `initial_delay_ms`, each next
/// one `growth` times later, at most `max_delay_ms`, each spread by ±`jitter`
/// (a fraction). Crossbar.io's values by default: 1 s, 1.5, 60 s, 0.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// The first delay, ms.
    #[serde(default = "initial")]
    pub initial_delay_ms: u64,
    /// Growth factor per failed try.
    #[serde(default = "growth")]
    pub growth: f64,
    /// The longest delay, ms.
    #[serde(default = "max_delay")]
    pub max_delay_ms: u64,
    /// Random spread, a fraction of the delay (0.0 to 1.0).
    #[serde(default = "jitter")]
    pub jitter: f64,
}

fn initial() -> u64 {
    1000
}
fn growth() -> f64 {
    1.5
}
fn max_delay() -> u64 {
    60_000
}
fn jitter() -> f64 {
    0.1
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial_delay_ms: initial(),
            growth: growth(),
            max_delay_ms: max_delay(),
            jitter: jitter(),
        }
    }
}

impl Backoff {
    /// The delay before try `attempt` (0 = the first retry), before jitter.
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let d = self.initial_delay_ms as f64 * self.growth.powi(attempt.min(1000) as i32);
        if !d.is_finite() || d > self.max_delay_ms as f64 {
            self.max_delay_ms
        } else {
            d as u64
        }
    }

    /// [`Backoff::delay_ms`] spread by the jitter: `unit` is a random number
    /// in [0, 1).
    pub fn jittered_ms(&self, attempt: u32, unit: f64) -> u64 {
        let d = self.delay_ms(attempt) as f64;
        let spread = d * self.jitter * (unit * 2.0 - 1.0);
        (d + spread).max(1.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(toml_text: &str) -> RLinkConfig {
        toml::from_str(toml_text).expect("link")
    }

    #[test]
    fn crossbar_defaults_and_backoff() {
        let l = link(
            r#"realm = "realm1"
               transport = { type = "websocket", url = "ws://localhost:8001/ws", endpoint = { type = "tcp", host = "localhost", port = 8001 } }"#,
        );
        assert!(l.forward_local_events && l.forward_remote_events);
        assert!(l.forward_local_invocations && l.forward_remote_invocations);
        assert_eq!(l.id_at(0), "rlink001");
        assert!(l.problems().is_empty(), "{:?}", l.problems());
        let b = Backoff::default();
        assert_eq!(b.delay_ms(0), 1000);
        assert_eq!(b.delay_ms(1), 1500);
        assert_eq!(b.delay_ms(100), 60_000);
        assert!((900..=1100).contains(&b.jittered_ms(0, 0.0)));
        assert!((900..=1100).contains(&b.jittered_ms(0, 0.999)));
    }

    #[test]
    fn problems_name_the_key_and_no_secret() {
        let l = link(
            r#"realm = "r"
               authentication = { ticket = "sekrit", secret = "sekrit2" }
               transport = { type = "websocket", url = "http://x", serializers = ["xml"], endpoint = { type = "tcp", host = "", port = 0, tls = { hostname = "", ca_certificates = ["/nonexistent/ca.pem"], certificate = "/nonexistent/c.pem" } } }"#,
        );
        let p = l.problems();
        let keys: Vec<&str> = p.iter().map(|(k, _)| *k).collect();
        for k in [
            "realm",
            "transport.endpoint.host",
            "transport.endpoint.port",
            "transport.endpoint.tls.hostname",
            "transport.endpoint.tls.ca_certificates",
            "transport.endpoint.tls.key",
            "transport.url",
            "transport.serializers",
            "authentication",
            "authid",
        ] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
        for (_, m) in &p {
            assert!(!m.contains("sekrit"), "{m}");
        }
        assert!(!format!("{l:?}").contains("sekrit"));
        let r = l.redacted();
        assert!(!toml::to_string(&r).unwrap().contains("sekrit"));
    }

    #[test]
    fn router_key_and_channel_binding_are_checked() {
        let l = link(
            r#"realm = "realm1"
               authentication = { router_key = "abc", channel_binding = "tls-unique" }
               transport = { type = "rawsocket", endpoint = { type = "tcp", host = "h", port = 1 } }"#,
        );
        let p = l.problems();
        let n = |k: &str| p.iter().filter(|(key, _)| *key == k).count();
        // Each needs `key`; the router key is no key; tls-unique is not
        // supported; a binding needs TLS.
        assert_eq!(n("authentication.router_key"), 2, "{p:?}");
        assert_eq!(n("authentication.channel_binding"), 3, "{p:?}");
        let good = link(&format!(
            r#"realm = "realm1"
               authentication = {{ key = "/nonexistent", router_key = "{}", channel_binding = "tls-exporter" }}
               transport = {{ type = "rawsocket", endpoint = {{ type = "tcp", host = "h", port = 1, tls = {{ hostname = "h" }} }} }}"#,
            crate::wamp::cryptosign::PrivateKey::from_seed(&[9; 32]).public_hex()
        ));
        let p = good.problems();
        assert!(
            p.iter().all(|(k, _)| *k == "authentication.key"),
            "only the missing key file: {p:?}"
        );
    }
}
