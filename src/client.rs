//! A small blocking WAMP client over WebSocket, for `shardwamp ctl` and tools:
//! join a realm (anonymous, ticket or WAMP-CRA) and call procedures.

use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use tungstenite::client::IntoClientRequest;

use crate::codec::Serializer;
use crate::dict;
use crate::router::peer::CallFailure;
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
    #[error("{}: {}", .0.error, describe(&.0.payload))]
    Call(CallFailure),
    /// The router closed the connection.
    #[error("the router closed the connection")]
    Closed,
}

fn describe(p: &Payload) -> String {
    match p.to_values() {
        Ok(Payload::Values { args, .. }) => args
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{a:?}"))
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// A joined session.
pub struct Client {
    ws: Box<tungstenite::WebSocket<TcpStream>>,
    serializer: Serializer,
    next: u64,
    /// The session id.
    pub session: u64,
}

impl Client {
    /// Connects to `url` (`ws://host:port/path`) and joins `realm`.
    pub fn connect(url: &str, realm: &str, creds: &Credentials) -> Result<Client, ClientError> {
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
        let mut c = Client {
            ws: Box::new(ws),
            serializer,
            next: 1,
            session: 0,
        };
        let mut details = dict! { "roles" => Value::Dict(dict! { "caller" => Value::Dict(Dict::new()), "subscriber" => Value::Dict(Dict::new()) }) };
        match creds {
            Credentials::Anonymous => {}
            Credentials::Ticket(id, _) => {
                details.insert("authmethods".into(), Value::List(vec!["ticket".into()]));
                details.insert("authid".into(), Value::from(id.as_str()));
            }
            Credentials::WampCra(id, _) => {
                details.insert("authmethods".into(), Value::List(vec!["wampcra".into()]));
                details.insert("authid".into(), Value::from(id.as_str()));
            }
        }
        c.send(&Message::Hello {
            realm: realm.into(),
            details,
        })?;
        loop {
            match c.recv()? {
                Message::Welcome { session, .. } => {
                    c.session = session;
                    return Ok(c);
                }
                Message::Challenge { auth_method, extra } => {
                    let signature = match (creds, auth_method.as_str()) {
                        (Credentials::Ticket(_, t), "ticket") => t.clone(),
                        (Credentials::WampCra(_, secret), "wampcra") => {
                            let challenge =
                                extra.get("challenge").and_then(Value::as_str).unwrap_or("");
                            let key = match extra.get("salt").and_then(Value::as_str) {
                                Some(salt) => {
                                    let iterations = extra
                                        .get("iterations")
                                        .and_then(Value::as_u64)
                                        .unwrap_or(1000)
                                        as u32;
                                    let keylen =
                                        extra.get("keylen").and_then(Value::as_u64).unwrap_or(32)
                                            as usize;
                                    crate::router::auth::wampcra_derive_key(
                                        secret, salt, iterations, keylen,
                                    )
                                }
                                None => secret.clone(),
                            };
                            crate::router::auth::wampcra_sign(key.as_bytes(), challenge)
                        }
                        _ => {
                            return Err(ClientError::Refused(format!(
                                "unexpected challenge '{auth_method}'"
                            )))
                        }
                    };
                    c.send(&Message::Authenticate {
                        signature,
                        extra: Dict::new(),
                    })?;
                }
                Message::Abort { reason, details } => {
                    let m = details.get("message").and_then(Value::as_str).unwrap_or("");
                    return Err(ClientError::Refused(format!("{reason} {m}")));
                }
                _ => {}
            }
        }
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
                Err(_) => return Err(ClientError::Closed),
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
        let request = self.next;
        self.next += 1;
        self.send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            payload: Payload::Values {
                args,
                kwargs: Some(kwargs),
            },
        })?;
        loop {
            match self.recv()? {
                Message::Result {
                    request: r,
                    payload,
                    ..
                } if r == request => {
                    return match payload.to_values() {
                        Ok(Payload::Values { args, kwargs }) => {
                            Ok((args, kwargs.unwrap_or_default()))
                        }
                        _ => Ok((Vec::new(), Dict::new())),
                    }
                }
                Message::Error {
                    request: r,
                    error,
                    details,
                    payload,
                    ..
                } if r == request => {
                    return Err(ClientError::Call(CallFailure {
                        error,
                        details,
                        payload,
                    }))
                }
                Message::Goodbye { .. } | Message::Abort { .. } => return Err(ClientError::Closed),
                _ => {}
            }
        }
    }

    /// Leaves the realm.
    pub fn leave(mut self) {
        let _ = self.send(&Message::Goodbye {
            details: Dict::new(),
            reason: crate::wamp::uris::CLOSE_NORMAL.into(),
        });
        let _ = self.recv();
    }
}
