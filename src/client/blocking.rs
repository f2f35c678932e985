//! A small blocking WAMP client, for `shardwamp ctl` and tools: join a realm
//! (anonymous, ticket or WAMP-CRA), call procedures, and leave with GOODBYE.
//! It drives a [`ClientSession`] over a [`Wire`], a framed connection;
//! dialing one (WebSocket or RawSocket, TCP or a Unix socket, by URL) is the
//! transports' job: `transport::blocking::connect`.

use std::time::Duration;

use bytes::Bytes;

use super::auth::{Anonymous, ClientAuthenticator, Cryptosign, Ticket, WampCra};
use super::session::{values_of, CallError, ClientSession, Event, Reply, Roles, SessionError};
use crate::codec::Serializer;
use crate::wamp::message::{Message, Payload};
use crate::wamp::value::{Dict, Value};

/// How to authenticate. `Debug` shows no ticket, secret or private key.
#[derive(Clone)]
pub enum Credentials {
    /// Anonymous.
    Anonymous,
    /// Ticket: authid and ticket.
    Ticket(String, String),
    /// WAMP-CRA: authid and secret (or derived key for salted users: the client derives it).
    WampCra(String, String),
    /// WAMP-cryptosign: the authid (none: the router infers it from the
    /// public key) and the private key.
    Cryptosign(Option<String>, crate::wamp::cryptosign::PrivateKey),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Ticket(authid, _) => write!(f, "Ticket({authid:?}, <redacted>)"),
            Credentials::WampCra(authid, _) => write!(f, "WampCra({authid:?}, <redacted>)"),
            Credentials::Cryptosign(authid, key) => write!(f, "Cryptosign({authid:?}, {key:?})"),
        }
    }
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
            Credentials::Cryptosign(authid, key) => {
                Box::new(Cryptosign::new(key.clone(), authid.clone()))
            }
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

/// How long the client waits for the GOODBYE and closing handshake when
/// leaving.
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

    /// The session's ID (from WELCOME).
    pub fn session_id(&self) -> u64 {
        self.session
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
