//! A small blocking WAMP client, for `shardwamp ctl` and tools: join a realm
//! (anonymous, ticket or WAMP-CRA), call procedures, and leave with GOODBYE.
//! It drives a [`ClientSession`] over a [`Wire`]: WebSocket here, over TCP or
//! a Unix socket; RawSocket in `transport::blocking`, whose `connect` dials
//! every URL [`parse_url`] accepts.
//!
//! | URL | transport |
//! | --- | --- |
//! | `ws://host:port/path` | WebSocket over TCP |
//! | `ws+unix:///path/to.sock` | WebSocket over a Unix socket, HTTP path `/ws` (`?path=/other` for another) |
//! | `rs://host:port`, `rawsocket://host:port`, `tcp://host:port` | RawSocket over TCP |
//! | `rs+unix:///path/to.sock`, `unix:///path/to.sock`, `unix:/path/to.sock` | RawSocket over a Unix socket |

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tungstenite::client::IntoClientRequest;

use super::auth::{Anonymous, ClientAuthenticator, Ticket, WampCra};
use super::session::{values_of, CallError, ClientSession, Event, Reply, Roles, SessionError};
use crate::codec::Serializer;
use crate::wamp::message::{Message, Payload};
use crate::wamp::value::{Dict, Value};

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Anonymous.
    Anonymous,
    /// Ticket: authid and ticket.
    Ticket(String, String),
    /// WAMP-CRA: authid and secret (or derived key for salted users: the client derives it).
    WampCra(String, String),
}

impl Credentials {
    /// The authenticator for these credentials.
    pub fn authenticator(&self) -> Box<dyn ClientAuthenticator> {
        match self {
            Credentials::Anonymous => Box::new(Anonymous::default()),
            Credentials::Ticket(authid, ticket) => Box::new(Ticket {
                authid: authid.clone(),
                ticket: ticket.clone(),
            }),
            Credentials::WampCra(authid, secret) => Box::new(WampCra {
                authid: authid.clone(),
                secret: secret.clone(),
            }),
        }
    }
}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed.
    #[error("connection: {0}")]
    Connect(String),
    /// The router refused the session.
    #[error("session refused: {0}")]
    Refused(String),
    /// A call failed.
    #[error("{0}")]
    Call(CallError),
    /// The router closed the connection.
    #[error("the router closed the connection")]
    Closed,
}

/// Where a URL points: a TCP host and port, or a Unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP host and port.
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
        /// The HTTP request's path.
        path: String,
    },
    /// RawSocket at `address`.
    RawSocket(Address),
}

/// The URL schemes [`parse_url`] accepts, for help texts and errors.
pub const URL_SCHEMES: &str = "ws://HOST:PORT/PATH, ws+unix:///SOCKET[?path=/ws], \
rs://HOST:PORT (or tcp://, rawsocket://), rs+unix:///SOCKET (or unix:///SOCKET, unix:SOCKET)";

/// Parses a client URL (the table in this module's docs).
pub fn parse_url(url: &str) -> Result<Target, ClientError> {
    let bad = |why: &str| ClientError::Connect(format!("{url}: {why} (expected {URL_SCHEMES})"));
    let (scheme, rest) = url.split_once(':').ok_or_else(|| bad("no scheme"))?;
    let unix_path = |rest: &str| -> Result<PathBuf, ClientError> {
        // `///path` (an empty host) or `/path`
        let p = rest.strip_prefix("//").unwrap_or(rest);
        if !p.starts_with('/') || p.len() < 2 {
            return Err(bad("a Unix socket URL needs an absolute path"));
        }
        Ok(PathBuf::from(p))
    };
    let tcp = |rest: &str| -> Result<(Address, String), ClientError> {
        let hostport = rest
            .strip_prefix("//")
            .ok_or_else(|| bad("expected //HOST:PORT"))?;
        let (hostport, path) = match hostport.find('/') {
            Some(i) => (&hostport[..i], hostport[i..].to_owned()),
            None => (hostport, "/".to_owned()),
        };
        let (host, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT"))?;
        let port = port.parse().map_err(|_| bad("bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok((Address::Tcp(host.to_owned(), port), path))
    };
    match scheme.to_ascii_lowercase().as_str() {
        "ws" => {
            let (address, path) = tcp(rest)?;
            Ok(Target::WebSocket { address, path })
        }
        "ws+unix" => {
            let (sock, path) = match rest.split_once("?path=") {
                Some((sock, path)) if path.starts_with('/') => (sock, path.to_owned()),
                Some(_) => return Err(bad("?path= must start with /")),
                None => (rest, "/ws".to_owned()),
            };
            Ok(Target::WebSocket {
                address: Address::Unix(unix_path(sock)?),
                path,
            })
        }
        "rs" | "rawsocket" | "tcp" => {
            let (address, path) = tcp(rest)?;
            if path != "/" && !path.is_empty() {
                return Err(bad("a RawSocket URL has no path"));
            }
            Ok(Target::RawSocket(address))
        }
        "rs+unix" | "unix" => Ok(Target::RawSocket(Address::Unix(unix_path(rest)?))),
        "wss" | "rss" => Err(bad("TLS is not supported by this client")),
        _ => Err(bad("unknown scheme")),
    }
}

/// A connected byte stream: TCP or a Unix socket.
pub trait Stream: Read + Write + Send {
    /// Sets how long a read waits.
    fn set_timeout(&self, d: Duration);
    /// Shuts down both directions.
    fn shutdown(&self);
}

impl Stream for TcpStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
    fn shutdown(&self) {
        let _ = TcpStream::shutdown(self, std::net::Shutdown::Both);
    }
}

impl Stream for UnixStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
    fn shutdown(&self) {
        let _ = UnixStream::shutdown(self, std::net::Shutdown::Both);
    }
}

/// Opens the stream an [`Address`] names, reads timing out after `timeout`.
pub fn open(address: &Address, timeout: Duration) -> Result<Box<dyn Stream>, ClientError> {
    let s: Box<dyn Stream> = match address {
        Address::Tcp(host, port) => {
            let s = TcpStream::connect((host.as_str(), *port))
                .map_err(|e| ClientError::Connect(format!("{host}:{port}: {e}")))?;
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
        Address::Unix(path) => Box::new(
            UnixStream::connect(path)
                .map_err(|e| ClientError::Connect(format!("{}: {e}", path.display())))?,
        ),
    };
    s.set_timeout(timeout);
    Ok(s)
}

/// A connected, framed transport the client speaks WAMP over.
pub trait Wire {
    /// Sends one serialized message.
    fn send(&mut self, frame: Vec<u8>) -> std::io::Result<()>;
    /// The next serialized message; an error when the connection ended.
    fn recv(&mut self) -> std::io::Result<Bytes>;
    /// Sets how long a read waits.
    fn set_timeout(&mut self, d: Duration);
    /// Ends the connection cleanly (WebSocket: the closing handshake).
    fn close(&mut self);
}

/// WebSocket (text frames: the client speaks JSON).
struct WebSocket(tungstenite::WebSocket<Box<dyn Stream>>);

impl Wire for WebSocket {
    fn send(&mut self, frame: Vec<u8>) -> std::io::Result<()> {
        let text = String::from_utf8(frame).map_err(std::io::Error::other)?;
        self.0
            .send(tungstenite::Message::Text(text.into()))
            .map_err(std::io::Error::other)
    }

    fn recv(&mut self) -> std::io::Result<Bytes> {
        loop {
            match self.0.read() {
                Ok(tungstenite::Message::Text(t)) => return Ok(Bytes::from(t.as_str().to_owned())),
                Ok(tungstenite::Message::Binary(b)) => return Ok(b),
                Ok(_) => continue,
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
    }

    fn set_timeout(&mut self, d: Duration) {
        self.0.get_ref().set_timeout(d);
    }

    fn close(&mut self) {
        // Send our Close (or answer the router's) and read until the router's
        // Close arrives and the connection ends.
        let _ = self.0.close(None);
        while self.0.read().is_ok() {}
        let _ = self.0.flush();
        self.0.get_ref().shutdown();
    }
}

/// Opens a WebSocket connection on `stream` (`host` names the router in the
/// request), asking for JSON.
fn websocket(
    stream: Box<dyn Stream>,
    host: &str,
    path: &str,
    serializer: Serializer,
) -> Result<WebSocket, ClientError> {
    let uri = format!("ws://{host}{path}");
    let mut req = uri
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let proto = serializer
        .subprotocol()
        .parse()
        .map_err(|_| ClientError::Connect("subprotocol".into()))?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", proto);
    let (ws, _) =
        tungstenite::client(req, stream).map_err(|e| ClientError::Connect(e.to_string()))?;
    Ok(WebSocket(ws))
}

/// How long the client waits for the router: each read of a call, and the
/// GOODBYE and closing handshake when leaving.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

/// A joined session.
pub struct Client {
    wire: Box<dyn Wire>,
    serializer: Serializer,
    wamp: ClientSession,
    /// The session id.
    pub session: u64,
    /// Whether the connection was closed (by [`Client::leave`] or a drop).
    ended: bool,
}

impl Client {
    /// Connects to a WebSocket `url` (`ws://host:port/path`,
    /// `ws+unix:///path/to.sock`) and joins `realm`. RawSocket URLs are dialed
    /// by `transport::blocking::connect`, which takes every URL.
    pub fn connect(url: &str, realm: &str, creds: &Credentials) -> Result<Client, ClientError> {
        Client::connect_with(url, realm, creds.authenticator())
    }

    /// Connects to a WebSocket `url` and joins `realm`, authenticating with `auth`.
    pub fn connect_with(
        url: &str,
        realm: &str,
        auth: Box<dyn ClientAuthenticator>,
    ) -> Result<Client, ClientError> {
        let serializer = Serializer::Json;
        let (address, path) = match parse_url(url)? {
            Target::WebSocket { address, path } => (address, path),
            Target::RawSocket(_) => {
                return Err(ClientError::Connect(format!(
                    "{url}: a RawSocket URL (dial it with shardwamp::transport::blocking::connect)"
                )))
            }
        };
        let host = match &address {
            Address::Tcp(h, p) if h.contains(':') => format!("[{h}]:{p}"),
            Address::Tcp(h, p) => format!("{h}:{p}"),
            Address::Unix(_) => "localhost".to_owned(),
        };
        let stream = open(&address, READ_TIMEOUT)?;
        let ws = websocket(stream, &host, &path, serializer)
            .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?;
        Client::over(Box::new(ws), serializer, realm, auth)
    }

    /// Joins `realm` over a connected `wire` speaking `serializer`.
    pub fn over(
        wire: Box<dyn Wire>,
        serializer: Serializer,
        realm: &str,
        auth: Box<dyn ClientAuthenticator>,
    ) -> Result<Client, ClientError> {
        let roles = Roles {
            caller: true,
            subscriber: true,
            publisher: false,
            callee: false,
        };
        let mut c = Client {
            wire,
            serializer,
            wamp: ClientSession::with_details(realm, auth, roles, Dict::new()),
            session: 0,
            ended: false,
        };
        c.flush()?;
        loop {
            let msg = c.recv()?;
            match c.wamp.receive(msg) {
                Ok(()) => {}
                Err(SessionError::Auth(e)) => {
                    let _ = c.flush();
                    return Err(ClientError::Refused(e.to_string()));
                }
                Err(e) => {
                    let _ = c.flush();
                    return Err(ClientError::Refused(e.to_string()));
                }
            }
            c.flush()?;
            while let Some(ev) = c.wamp.poll_event() {
                match ev {
                    Event::Joined { session, .. } => {
                        c.session = session;
                        return Ok(c);
                    }
                    Event::Closed(close) => {
                        c.end();
                        return Err(ClientError::Refused(format!(
                            "{} {}",
                            close.reason,
                            close.message()
                        )));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Sends what the session queued.
    fn flush(&mut self) -> Result<(), ClientError> {
        while let Some(m) = self.wamp.poll_transmit() {
            self.send(&m)?;
        }
        Ok(())
    }

    fn send(&mut self, m: &Message) -> Result<(), ClientError> {
        let frame = self
            .serializer
            .encode(m)
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        self.wire.send(frame).map_err(|_| ClientError::Closed)
    }

    fn recv(&mut self) -> Result<Message, ClientError> {
        match self.wire.recv() {
            Ok(b) => self
                .serializer
                .decode(&b)
                .map_err(|e| ClientError::Connect(e.to_string())),
            Err(_) => {
                self.wamp.transport_closed();
                Err(ClientError::Closed)
            }
        }
    }

    /// Calls a procedure and returns its positional and keyword results.
    pub fn call(
        &mut self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<(Vec<Value>, Dict), ClientError> {
        let request = self
            .wamp
            .call(
                procedure,
                Dict::new(),
                Payload::Values {
                    args,
                    kwargs: Some(kwargs),
                },
            )
            .map_err(|_| ClientError::Closed)?;
        self.flush()?;
        loop {
            let msg = self.recv()?;
            let r = self.wamp.receive(msg);
            let _ = self.flush();
            if r.is_err() {
                return Err(ClientError::Closed);
            }
            while let Some(ev) = self.wamp.poll_event() {
                match ev {
                    Event::Reply { request: r, reply } if r == request => {
                        return match reply {
                            Ok(Reply::Result { payload, .. }) => Ok(values_of(&payload)),
                            Ok(_) => Ok((Vec::new(), Dict::new())),
                            Err(_) if self.wamp.is_closed() => Err(ClientError::Closed),
                            Err(e) => Err(ClientError::Call(e)),
                        };
                    }
                    Event::Closed(_) => return Err(ClientError::Closed),
                    _ => {}
                }
            }
        }
    }

    /// Leaves the realm: sends GOODBYE, waits (a few seconds at most) for
    /// the router's GOODBYE, then closes the connection cleanly (for
    /// WebSocket, the closing handshake). Dropping a client does the same.
    pub fn leave(mut self) {
        self.end();
    }

    /// Says GOODBYE when the session is open, then closes the connection.
    fn end(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.wire.set_timeout(LEAVE_TIMEOUT);
        if self.wamp.leave(crate::wamp::uris::CLOSE_NORMAL).is_ok() && self.flush().is_ok() {
            'wait: while let Ok(msg) = self.recv() {
                if self.wamp.receive(msg).is_err() {
                    break;
                }
                let _ = self.flush();
                while let Some(ev) = self.wamp.poll_event() {
                    if matches!(ev, Event::Closed(_)) {
                        break 'wait;
                    }
                }
                if self.wamp.is_closed() {
                    break;
                }
            }
        }
        self.wire.close();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp(host.into(), port)
    }

    #[test]
    fn every_scheme_parses() {
        let ws = |address, path: &str| Target::WebSocket {
            address,
            path: path.into(),
        };
        let unix = |p: &str| Address::Unix(PathBuf::from(p));
        for (url, want) in [
            ("ws://127.0.0.1:8080/ws", ws(tcp("127.0.0.1", 8080), "/ws")),
            ("ws://[::1]:9/x/y", ws(tcp("::1", 9), "/x/y")),
            ("ws+unix:///run/s.sock", ws(unix("/run/s.sock"), "/ws")),
            (
                "ws+unix:///run/s.sock?path=/wamp",
                ws(unix("/run/s.sock"), "/wamp"),
            ),
            (
                "rs://localhost:8081",
                Target::RawSocket(tcp("localhost", 8081)),
            ),
            ("tcp://10.0.0.1:1", Target::RawSocket(tcp("10.0.0.1", 1))),
            ("rawsocket://h:2/", Target::RawSocket(tcp("h", 2))),
            (
                "rs+unix:///run/c.sock",
                Target::RawSocket(unix("/run/c.sock")),
            ),
            ("unix:///run/c.sock", Target::RawSocket(unix("/run/c.sock"))),
            ("unix:/run/c.sock", Target::RawSocket(unix("/run/c.sock"))),
        ] {
            assert_eq!(parse_url(url).ok(), Some(want), "{url}");
        }
    }

    #[test]
    fn bad_urls_name_the_schemes() {
        for url in [
            "http://h:1/",
            "wss://h:1/ws",
            "ws://h/ws",
            "ws://:1/ws",
            "rs://h:1/path",
            "rs+unix://relative",
            "ws+unix:///s?path=ws",
            "nothing",
        ] {
            match parse_url(url) {
                Err(ClientError::Connect(e)) => assert!(e.contains("rs+unix://"), "{url}: {e}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
