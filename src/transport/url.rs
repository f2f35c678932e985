//! Client URLs: the one parser of the URLs that name a router to dial, used
//! by the blocking dialer ([`super::blocking`]: `shardwamp ctl`, tools,
//! tests) and by the load generator (`shardwamp-bench --url`). It parses
//! only; each user dials what it can (the load generator dials TCP only).
//!
//! | URL | transport |
//! | --- | --- |
//! | `ws://host[:port]/path` | WebSocket over TCP (port 80 by default) |
//! | `ws+unix:///path/to.sock` | WebSocket over a Unix socket, HTTP path `/ws` (`?path=/other` for another) |
//! | `rs://host:port`, `rawsocket://host:port`, `tcp://host:port` | RawSocket over TCP |
//! | `rs+unix:///path/to.sock`, `unix:///path/to.sock`, `unix:/path/to.sock` | RawSocket over a Unix socket |
//! | `wss://` (port 443 by default), `wss+unix://`, `rss://`, `rss+unix://` | the same over TLS |
//!
//! Schemes are case-insensitive; an IPv6 host is written in brackets
//! (`ws://[::1]:8080/ws`).

use std::fmt;
use std::path::PathBuf;

/// Where a URL points: a TCP host and port, or a Unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP host (an IPv6 address without its brackets) and port.
    Tcp(String, u16),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// What a URL asks to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// WebSocket at `address`, with the HTTP request for `path`.
    WebSocket {
        /// Where to connect.
        address: Address,
        /// The HTTP request's path (with its query, if any).
        path: String,
    },
    /// RawSocket at `address`.
    RawSocket(Address),
}

impl Target {
    /// Where the target is.
    pub fn address(&self) -> &Address {
        match self {
            Target::WebSocket { address, .. } | Target::RawSocket(address) => address,
        }
    }
}

/// A parsed client URL: what to dial, and whether over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUrl {
    /// The transport and address.
    pub target: Target,
    /// A TLS scheme (`wss`, `wss+unix`, `rss`, `rss+unix`).
    pub tls: bool,
}

/// The URL schemes [`parse`] accepts, for help texts and errors.
pub const URL_SCHEMES: &str = "ws://HOST:PORT/PATH, ws+unix:///SOCKET[?path=/ws], \
rs://HOST:PORT (or tcp://, rawsocket://), rs+unix:///SOCKET (or unix:///SOCKET, unix:SOCKET), \
and over TLS wss://, wss+unix://, rss://, rss+unix://";

/// Why a URL was refused; it shows as `URL: why (expected SCHEMES)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (expected {URL_SCHEMES})", self.url, self.why)
    }
}

impl std::error::Error for UrlError {}

/// Parses a client URL (the table in this module's docs).
pub fn parse(url: &str) -> Result<ClientUrl, UrlError> {
    let bad = |why: &'static str| UrlError {
        url: url.to_owned(),
        why,
    };
    let (scheme, rest) = url.split_once(':').ok_or_else(|| bad("no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    let (scheme, tls) = match scheme.as_str() {
        "wss" => ("ws", true),
        "wss+unix" => ("ws+unix", true),
        "rss" => ("rs", true),
        "rss+unix" => ("rs+unix", true),
        other => (other, false),
    };
    let target = match scheme {
        "ws" => {
            let (address, path) = tcp(rest, Some(if tls { 443 } else { 80 })).map_err(bad)?;
            Target::WebSocket { address, path }
        }
        "ws+unix" => {
            let (sock, path) = match rest.split_once("?path=") {
                Some((sock, path)) if path.starts_with('/') => (sock, path.to_owned()),
                Some(_) => return Err(bad("?path= must start with /")),
                None => (rest, "/ws".to_owned()),
            };
            Target::WebSocket {
                address: Address::Unix(unix_path(sock).map_err(bad)?),
                path,
            }
        }
        "rs" | "rawsocket" | "tcp" => {
            let (address, path) = tcp(rest, None).map_err(bad)?;
            if path != "/" {
                return Err(bad("a RawSocket URL has no path"));
            }
            Target::RawSocket(address)
        }
        "rs+unix" | "unix" => Target::RawSocket(Address::Unix(unix_path(rest).map_err(bad)?)),
        _ => return Err(bad("unknown scheme")),
    };
    Ok(ClientUrl { target, tls })
}

/// `///path` (an empty host) or `/path`.
fn unix_path(rest: &str) -> Result<PathBuf, &'static str> {
    let p = rest.strip_prefix("//").unwrap_or(rest);
    if !p.starts_with('/') || p.len() < 2 {
        return Err("a Unix socket URL needs an absolute path");
    }
    Ok(PathBuf::from(p))
}

/// `//HOST:PORT/PATH` (the path `/` when none); without a port,
/// `default_port` or an error.
fn tcp(rest: &str, default_port: Option<u16>) -> Result<(Address, String), &'static str> {
    let hostport = rest.strip_prefix("//").ok_or("expected //HOST:PORT")?;
    let (hostport, path) = match hostport.find('/') {
        Some(i) => (&hostport[..i], hostport[i..].to_owned()),
        None => (hostport, "/".to_owned()),
    };
    // `[v6]`, `[v6]:port`, `host`, `host:port` (and `v6:port` unbracketed).
    let (host, port) = if let Some(inside) = hostport.strip_prefix('[') {
        let (host, after) = inside.split_once(']').ok_or("expected HOST:PORT")?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or("expected HOST:PORT")?),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match (port, default_port) {
        (Some(p), _) => p.parse().map_err(|_| "bad port")?,
        (None, Some(d)) => d,
        (None, None) => return Err("expected HOST:PORT"),
    };
    if host.is_empty() {
        return Err("no host");
    }
    Ok((Address::Tcp(host.to_owned(), port), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp(host.into(), port)
    }

    fn unix(p: &str) -> Address {
        Address::Unix(PathBuf::from(p))
    }

    fn ws(address: Address, path: &str) -> Target {
        Target::WebSocket {
            address,
            path: path.into(),
        }
    }

    #[test]
    fn every_form_parses() {
        for (url, want, tls) in [
            (
                "ws://127.0.0.1:8080/ws",
                ws(tcp("127.0.0.1", 8080), "/ws"),
                false,
            ),
            ("ws://h:1", ws(tcp("h", 1), "/"), false),
            ("ws://h:1/ws?x=1", ws(tcp("h", 1), "/ws?x=1"), false),
            ("ws://h/ws", ws(tcp("h", 80), "/ws"), false),
            ("WS://h:2/ws", ws(tcp("h", 2), "/ws"), false),
            ("ws://[::1]:9/x/y", ws(tcp("::1", 9), "/x/y"), false),
            ("ws://[::1]/x", ws(tcp("::1", 80), "/x"), false),
            ("ws://::1:9/x", ws(tcp("::1", 9), "/x"), false),
            (
                "ws+unix:///run/s.sock",
                ws(unix("/run/s.sock"), "/ws"),
                false,
            ),
            ("ws+unix:/run/s.sock", ws(unix("/run/s.sock"), "/ws"), false),
            (
                "ws+unix:///run/s.sock?path=/wamp",
                ws(unix("/run/s.sock"), "/wamp"),
                false,
            ),
            (
                "rs://localhost:8081",
                Target::RawSocket(tcp("localhost", 8081)),
                false,
            ),
            (
                "rs://[::1]:8081",
                Target::RawSocket(tcp("::1", 8081)),
                false,
            ),
            (
                "tcp://10.0.0.1:1",
                Target::RawSocket(tcp("10.0.0.1", 1)),
                false,
            ),
            ("rawsocket://h:2/", Target::RawSocket(tcp("h", 2)), false),
            (
                "rs+unix:///run/c.sock",
                Target::RawSocket(unix("/run/c.sock")),
                false,
            ),
            (
                "unix:///run/c.sock",
                Target::RawSocket(unix("/run/c.sock")),
                false,
            ),
            (
                "unix:/run/c.sock",
                Target::RawSocket(unix("/run/c.sock")),
                false,
            ),
            ("wss://h:443/ws", ws(tcp("h", 443), "/ws"), true),
            ("wss://h/ws", ws(tcp("h", 443), "/ws"), true),
            ("wss+unix:///s", ws(unix("/s"), "/ws"), true),
            ("rss://h:1", Target::RawSocket(tcp("h", 1)), true),
            ("RSS://h:1", Target::RawSocket(tcp("h", 1)), true),
            ("rss+unix:///s", Target::RawSocket(unix("/s")), true),
        ] {
            assert_eq!(parse(url), Ok(ClientUrl { target: want, tls }), "{url}");
        }
    }

    #[test]
    fn bad_urls_say_why_and_name_the_schemes() {
        for (url, why) in [
            ("http://h:1/", "unknown scheme"),
            ("nothing", "no scheme"),
            ("127.0.0.1:8080", "unknown scheme"),
            ("ws:h:1/ws", "expected //HOST:PORT"),
            ("ws://:1/ws", "no host"),
            ("ws://h:x/ws", "bad port"),
            ("ws://h:99999/ws", "bad port"),
            ("ws://[::1/ws", "expected HOST:PORT"),
            ("ws://[::1]x/ws", "expected HOST:PORT"),
            ("rs://h", "expected HOST:PORT"),
            ("rs://127.0.0.1", "expected HOST:PORT"),
            ("rs://h:1/path", "a RawSocket URL has no path"),
            (
                "rs+unix://relative",
                "a Unix socket URL needs an absolute path",
            ),
            ("unix:/", "a Unix socket URL needs an absolute path"),
            ("ws+unix:///s?path=ws", "?path= must start with /"),
        ] {
            let e = parse(url).expect_err(url);
            assert_eq!(e.why, why, "{url}");
            let shown = e.to_string();
            assert!(shown.starts_with(url), "{shown}");
            assert!(shown.contains("rs+unix://"), "{shown}");
        }
    }
}
