//! A small blocking WAMP client over WebSocket, for `shardwamp ctl` and tools:
//! join a realm (anonymous, ticket or WAMP-CRA) and call procedures. It drives
//! a [`ClientSession`] over a tungstenite socket.

use std::net::TcpStream;
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

/// A joined session.
pub struct Client {
    ws: Box<tungstenite::WebSocket<TcpStream>>,
    serializer: Serializer,
    wamp: ClientSession,
    /// The session id.
    pub session: u64,
}

impl Client {
    /// Connects to `url` (`ws://host:port/path`) and joins `realm`.
    pub fn connect(url: &str, realm: &str, creds: &Credentials) -> Result<Client, ClientError> {
        Client::connect_with(url, realm, creds.authenticator())
    }

    /// Connects to `url` and joins `realm`, authenticating with `auth`.
    pub fn connect_with(
        url: &str,
        realm: &str,
        auth: Box<dyn ClientAuthenticator>,
    ) -> Result<Client, ClientError> {
        let serializer = Serializer::Json;
        let mut req = url
            .into_client_request()
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let proto = serializer
            .subprotocol()
            .parse()
            .map_err(|_| ClientError::Connect("subprotocol".into()))?;
        req.headers_mut().insert("Sec-WebSocket-Protocol", proto);
        let host = req.uri().host().unwrap_or("127.0.0.1").to_owned();
        let port = req.uri().port_u16().unwrap_or(80);
        let stream = TcpStream::connect((host.as_str(), port))
            .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let (ws, _) =
            tungstenite::client(req, stream).map_err(|e| ClientError::Connect(e.to_string()))?;
        let roles = Roles {
            caller: true,
            subscriber: true,
            publisher: false,
            callee: false,
        };
        let mut c = Client {
            ws: Box::new(ws),
            serializer,
            wamp: ClientSession::with_details(realm, auth, roles, Dict::new()),
            session: 0,
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
                        return Err(ClientError::Refused(format!(
                            "{} {}",
                            close.reason,
                            close.message()
                        )))
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
        let text = String::from_utf8(frame).map_err(|e| ClientError::Connect(e.to_string()))?;
        self.ws
            .send(tungstenite::Message::Text(text.into()))
            .map_err(|_| ClientError::Closed)
    }

    fn recv(&mut self) -> Result<Message, ClientError> {
        loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return self
                        .serializer
                        .decode(&Bytes::from(t.as_str().to_owned()))
                        .map_err(|e| ClientError::Connect(e.to_string()))
                }
                Ok(tungstenite::Message::Binary(b)) => {
                    return self
                        .serializer
                        .decode(&b)
                        .map_err(|e| ClientError::Connect(e.to_string()))
                }
                Ok(_) => continue,
                Err(_) => {
                    self.wamp.transport_closed();
                    return Err(ClientError::Closed);
                }
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

    /// Leaves the realm.
    pub fn leave(mut self) {
        if self.wamp.leave(crate::wamp::uris::CLOSE_NORMAL).is_ok() {
            let _ = self.flush();
            let _ = self.recv();
        }
    }
}
