//! The `web` and `universal` transports' schema: a web transport's `paths`
//! (each a service: `websocket`, or an HTTP bridge service `publisher`,
//! `caller`, `webhook`), its HTTP `options`, the bridge services' options
//! (signed requests, body limit, client address and TLS requirements, the
//! webhook's topic and GitHub secret), and a universal transport's
//! `rawsocket`, `websocket` and `web` parts. Keys keep Crossbar.io's names
//! (crossbar/common/checkconfig.py); docs/web.md is the user's page.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wamp::serializer::Serializer;

use super::auth::TransportAuth;
use super::{
    default_serializers, default_transport_auth, serializer_names, ConnectionLimits, Endpoint,
    QueueConfig, RawSocketOptions, WebSocketOptions,
};

/// A web transport: `{id, endpoint, paths, options}`: one port serving
/// WebSocket WAMP on some paths and HTTP bridge services on others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebTransport {
    /// The transport's id; absent: `transportNNN` by position.
    #[serde(default)]
    pub id: String,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// The services by path: `"/"` is the root, `"ws"` (or `"/ws"`) serves `/ws`.
    #[serde(default)]
    pub paths: BTreeMap<String, WebPath>,
    /// HTTP options.
    #[serde(default)]
    pub options: WebOptions,
}

/// A service mounted on a web transport's path, tagged by `type`.
// Read once from the file; the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WebPath {
    /// `type = "websocket"`: WAMP over WebSocket on this path.
    Websocket(WebSocketPath),
    /// `type = "publisher"`: the HTTP bridge's publisher (POST publishes).
    Publisher(BridgePath),
    /// `type = "caller"`: the HTTP bridge's caller (POST calls).
    Caller(BridgePath),
    /// `type = "webhook"`: any POST becomes an event.
    Webhook(BridgePath),
}

impl WebPath {
    /// The service's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            WebPath::Websocket(_) => "websocket",
            WebPath::Publisher(_) => "publisher",
            WebPath::Caller(_) => "caller",
            WebPath::Webhook(_) => "webhook",
        }
    }
}

/// A `websocket` path: `{serializers, options, auth}` as a WebSocket transport's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketPath {
    /// Serializers offered, in preference order (default json, msgpack, cbor).
    #[serde(default = "default_serializers", with = "serializer_names")]
    pub serializers: Vec<Serializer>,
    /// WebSocket options (as a WebSocket transport's).
    #[serde(default)]
    pub options: WebSocketOptions,
    /// Authentication; without an `auth` table: anonymous under `anonymous`.
    #[serde(default = "default_transport_auth")]
    pub auth: TransportAuth,
}

/// A bridge path (`publisher`, `caller`, `webhook`): the realm and role its
/// session joins under, and its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgePath {
    /// The realm the bridge's session joins.
    pub realm: String,
    /// The role it acts under (authorization applies as to any client).
    pub role: String,
    /// Options.
    #[serde(default)]
    pub options: BridgeOptions,
}

fn default_timestamp_delta() -> u64 {
    300
}

/// A bridge service's options (Crossbar.io's names).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeOptions {
    /// Signed requests: the key a request names (`key` query parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Signed requests: the HMAC-SHA256 secret; with it every request must be signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Largest request body, bytes (0: the transport's `max_body_size` only).
    #[serde(default)]
    pub post_body_limit: usize,
    /// Largest difference between a signed request's `timestamp` and now, seconds (0: any).
    #[serde(default = "default_timestamp_delta")]
    pub timestamp_delta_limit: u64,
    /// Client addresses allowed (networks such as `10.0.0.0/8` or addresses); absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_ip: Option<Vec<String>>,
    /// Only requests over TLS.
    #[serde(default)]
    pub require_tls: bool,
    /// Crossbar.io's debug logging; accepted, shardwamp logs at debug level.
    #[serde(default)]
    pub debug: bool,
    /// Webhook: the topic events are published to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Webhook: the body answered on success (default `OK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_response: Option<String>,
    /// Webhook: the body answered on failure (default `NOT OK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_response: Option<String>,
    /// Webhook: GitHub's webhook secret; with it, `X-Hub-Signature` must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_secret: Option<String>,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            key: None,
            secret: None,
            post_body_limit: 0,
            timestamp_delta_limit: default_timestamp_delta(),
            require_ip: None,
            require_tls: false,
            debug: false,
            topic: None,
            success_response: None,
            error_response: None,
            github_secret: None,
        }
    }
}

impl std::fmt::Debug for BridgeOptions {
    /// Never shows `secret` or `github_secret`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| super::REDACTED);
        f.debug_struct("BridgeOptions")
            .field("key", &self.key)
            .field("secret", &hidden(&self.secret))
            .field("post_body_limit", &self.post_body_limit)
            .field("timestamp_delta_limit", &self.timestamp_delta_limit)
            .field("require_ip", &self.require_ip)
            .field("require_tls", &self.require_tls)
            .field("topic", &self.topic)
            .field("github_secret", &hidden(&self.github_secret))
            .finish_non_exhaustive()
    }
}

impl BridgeOptions {
    /// A copy with `secret` and `github_secret` replaced by [`super::REDACTED`].
    pub fn redacted(&self) -> BridgeOptions {
        let mut c = self.clone();
        for s in [&mut c.secret, &mut c.github_secret].into_iter().flatten() {
            *s = super::REDACTED.into();
        }
        c
    }
}

fn default_max_header() -> usize {
    16 * 1024
}
fn default_max_body() -> usize {
    1024 * 1024
}
fn default_request_timeout() -> u64 {
    10_000
}
fn default_keepalive() -> u64 {
    30_000
}
fn default_handshake() -> u64 {
    10_000
}
fn default_true() -> bool {
    true
}

/// A web transport's HTTP options: Crossbar.io's keys it takes, and
/// shardwamp's bounds and connection caps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebOptions {
    /// Crossbar.io's access log; accepted, requests are logged at debug level.
    #[serde(default)]
    pub access_log: bool,
    /// Crossbar.io's tracebacks in error pages; accepted, never shown.
    #[serde(default)]
    pub display_tracebacks: bool,
    /// Send `Strict-Transport-Security` (TLS endpoints).
    #[serde(default)]
    pub hsts: bool,
    /// `max-age` of `Strict-Transport-Security`, seconds.
    #[serde(default)]
    pub hsts_max_age: u64,
    /// Largest request head (request line and headers), bytes (default 16 KiB);
    /// a larger one is answered 431 and the connection closed.
    #[serde(default = "default_max_header")]
    pub max_header_size: usize,
    /// Largest request body, bytes (default 1 MiB); a larger one is answered 413.
    #[serde(default = "default_max_body")]
    pub max_body_size: usize,
    /// Time to receive a whole request once its first byte arrived, ms (default 10000).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: u64,
    /// Time an idle keep-alive connection is kept, ms (default 30000; 0: no keep-alive).
    #[serde(default = "default_keepalive")]
    pub keepalive_timeout: u64,
    /// Time for the TLS handshake and the first request, ms (default 10000).
    #[serde(default = "default_handshake")]
    pub open_handshake_timeout: u64,
    /// Set TCP_NODELAY on accepted connections (default true).
    #[serde(default = "default_true")]
    pub tcp_nodelay: bool,
    /// Most connections open on this transport, all shards together (0 = unlimited).
    #[serde(default)]
    pub max_connections: usize,
    /// Most connections open on one shard (0 = unlimited).
    #[serde(default)]
    pub max_connections_per_shard: usize,
    /// Most connections before their first request (or TLS handshake), all shards (0 = unlimited).
    #[serde(default)]
    pub max_handshakes: usize,
    /// Most connections before their first request on one shard (0 = unlimited).
    #[serde(default)]
    pub max_handshakes_per_shard: usize,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            access_log: false,
            display_tracebacks: false,
            hsts: false,
            hsts_max_age: 0,
            max_header_size: default_max_header(),
            max_body_size: default_max_body(),
            request_timeout: default_request_timeout(),
            keepalive_timeout: default_keepalive(),
            open_handshake_timeout: default_handshake(),
            tcp_nodelay: true,
            max_connections: 0,
            max_connections_per_shard: 0,
            max_handshakes: 0,
            max_handshakes_per_shard: 0,
        }
    }
}

impl WebOptions {
    /// The connection caps (the session deadlines are each WebSocket path's).
    pub fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            max_connections_per_shard: self.max_connections_per_shard,
            max_handshakes: self.max_handshakes,
            max_handshakes_per_shard: self.max_handshakes_per_shard,
            ..ConnectionLimits::default()
        }
    }
}

/// A universal transport: RawSocket and WebSocket/web on one port, told
/// apart by the first byte (RawSocket's magic 0x7F), as Crossbar.io's
/// (crossbar/router/unisocket.py).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniversalTransport {
    /// The transport's id; absent: `transportNNN` by position.
    #[serde(default)]
    pub id: String,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// RawSocket connections (first byte 0x7F); absent: refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rawsocket: Option<UniversalRawSocket>,
    /// WebSocket paths (Crossbar.io's `websocket`: path → settings), served
    /// beside `web`'s paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<BTreeMap<String, WebSocketPath>>,
    /// HTTP: `{paths, options}` as a web transport's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<UniversalWeb>,
}

/// A universal transport's `rawsocket` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniversalRawSocket {
    /// Serializers offered (default json, msgpack, cbor).
    #[serde(default = "default_serializers", with = "serializer_names")]
    pub serializers: Vec<Serializer>,
    /// RawSocket options.
    #[serde(default)]
    pub options: RawSocketOptions,
    /// Authentication; without an `auth` table: anonymous under `anonymous`.
    #[serde(default = "default_transport_auth")]
    pub auth: TransportAuth,
}

/// A universal transport's `web` part.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniversalWeb {
    /// The services by path.
    #[serde(default)]
    pub paths: BTreeMap<String, WebPath>,
    /// HTTP options.
    #[serde(default)]
    pub options: WebOptions,
}

impl UniversalTransport {
    /// Every path it serves over HTTP: `web.paths` and then `websocket`'s.
    pub fn all_paths(&self) -> BTreeMap<String, WebPath> {
        let mut all = self
            .web
            .as_ref()
            .map(|w| w.paths.clone())
            .unwrap_or_default();
        for (p, w) in self.websocket.iter().flatten() {
            all.insert(p.clone(), WebPath::Websocket(w.clone()));
        }
        all
    }

    /// Its HTTP options (`web.options`, or the defaults).
    pub fn web_options(&self) -> WebOptions {
        self.web
            .as_ref()
            .map(|w| w.options.clone())
            .unwrap_or_default()
    }
}

/// A path as requests name it: `"/"` for the root, `"ws"` and `"/ws/"` as `"/ws"`.
pub fn normalize_path(p: &str) -> String {
    let trimmed = p.trim_matches('/');
    format!("/{trimmed}")
}

/// The queue limits of a WebSocket path.
pub fn path_queue(w: &WebSocketPath) -> QueueConfig {
    w.options.queue()
}

/// Checks a web transport's paths: a path named twice once normalized,
/// bridge paths without a realm or role, a webhook without a topic,
/// `require_ip` entries that are not networks, a key without a secret.
pub fn check_paths(paths: &BTreeMap<String, WebPath>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (p, svc) in paths {
        let n = normalize_path(p);
        if let Some(first) = seen.insert(n.clone(), p) {
            out.push((
                p.clone(),
                format!("path {p:?} is the same path as {first:?} ({n})"),
            ));
        }
        match svc {
            WebPath::Websocket(w) => {
                if w.serializers.is_empty() {
                    out.push((
                        p.clone(),
                        "no serializers: list at least one of json, msgpack, cbor".into(),
                    ));
                }
            }
            WebPath::Publisher(b) | WebPath::Caller(b) | WebPath::Webhook(b) => {
                if b.realm.is_empty() || b.role.is_empty() {
                    out.push((p.clone(), "a bridge path needs a realm and a role".into()));
                }
                let o = &b.options;
                if matches!(svc, WebPath::Webhook(_)) && o.topic.as_deref().unwrap_or("").is_empty()
                {
                    out.push((
                        p.clone(),
                        "a webhook needs options.topic, the topic its events go to".into(),
                    ));
                }
                if o.key.is_some() != o.secret.is_some() {
                    out.push((
                        p.clone(),
                        "signed requests need both options.key and options.secret".into(),
                    ));
                }
                for net in o.require_ip.iter().flatten() {
                    if parse_network(net).is_none() {
                        out.push((
                            p.clone(),
                            format!(
                                "require_ip entry {net:?} is not an address or a network (10.0.0.0/8)"
                            ),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// An address or network (`10.0.0.0/8`, `::1`, `fd00::/8`): the address and prefix length.
pub fn parse_network(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: std::net::IpAddr = addr.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

/// Whether `ip` is in network `(net, len)` (an IPv4-mapped IPv6 address counts as IPv4).
pub fn in_network(ip: std::net::IpAddr, net: (std::net::IpAddr, u8)) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net.0) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(net.1)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(net.1)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize() {
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("ws"), "/ws");
        assert_eq!(normalize_path("/ws/"), "/ws");
        assert_eq!(normalize_path("a/b"), "/a/b");
    }

    #[test]
    fn networks() {
        let n = parse_network("10.0.0.0/8").unwrap();
        assert!(in_network("10.1.2.3".parse().unwrap(), n));
        assert!(!in_network("11.1.2.3".parse().unwrap(), n));
        assert!(in_network(
            "::ffff:10.1.2.3".parse().unwrap(),
            parse_network("10.0.0.0/8").unwrap()
        ));
        assert!(in_network(
            "127.0.0.1".parse().unwrap(),
            parse_network("127.0.0.1").unwrap()
        ));
        assert!(in_network(
            "1.2.3.4".parse().unwrap(),
            parse_network("0.0.0.0/0").unwrap()
        ));
        assert!(parse_network("10.0.0.0/33").is_none());
        assert!(parse_network("nope").is_none());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let o = BridgeOptions {
            key: Some("k".into()),
            secret: Some("s3cr3t".into()),
            github_secret: Some("gh-s3cr3t".into()),
            ..Default::default()
        };
        let d = format!("{o:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(!format!("{:?}", o.redacted()).contains("s3cr3t"));
    }
}
