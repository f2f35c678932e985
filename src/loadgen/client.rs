//! The generator's connections: [`crate::transport::dial`] over glommio's
//! `TcpStream` (optionally bound to a source address), joined and set up
//! (SUBSCRIBE, REGISTER) through the sans-IO [`ClientSession`]. The hot loops
//! then use the dialer's frame level directly: [`Sender::push`] queues
//! messages for the writer's one-flush-per-batch, and
//! [`Receiver::next_frame`] hands out frames still encoded, so
//! `loadgen::wire` can scan EVENT arguments straight from them.

use std::net::IpAddr;
use std::rc::Rc;

use glommio::net::TcpStream;

use super::options::{Target, Transport};
use crate::client::session::{ClientSession, Event, Reply, SessionError};
use crate::codec::Serializer;
use crate::transport::dial::{self, DialError, DialOptions};
use crate::wamp::message::Id;

pub(crate) use crate::transport::dial::{Receiver as DialReceiver, Sender};

/// The receiving half of a generator connection.
pub(crate) type Receiver = DialReceiver<TcpStream>;

/// An open, joined session.
pub(crate) struct Session {
    /// The sending half.
    pub tx: Rc<Sender>,
    /// The receiving half.
    pub rx: Receiver,
    /// The writer task: dropping it cancels it, and the socket closes once
    /// the receiver is dropped too.
    pub writer: glommio::Task<()>,
    /// The WAMP session that joined (and sets up subscriptions and registrations).
    pub wamp: ClientSession,
}

impl Session {
    /// Sends the request `start` queues on the session and waits for its
    /// answer (other messages are dropped): SUBSCRIBE or REGISTER at set-up.
    pub async fn request(
        &mut self,
        what: &str,
        start: impl FnOnce(&mut ClientSession) -> Result<Id, SessionError>,
    ) -> Result<Reply, String> {
        let request = start(&mut self.wamp).map_err(|e| format!("{what}: {e}"))?;
        loop {
            while let Some(m) = self.wamp.poll_transmit() {
                self.tx.push(&m);
            }
            while let Some(ev) = self.wamp.poll_event() {
                match ev {
                    Event::Reply { request: r, reply } if r == request => {
                        return reply.map_err(|e| format!("{what}: {}", e.uri))
                    }
                    Event::Closed(_) => return Err(format!("{what}: session closed")),
                    _ => {}
                }
            }
            match self.rx.next().await {
                Ok(Some(m)) => {
                    let _ = self.wamp.receive(m);
                }
                Ok(None) => return Err(format!("{what}: connection closed")),
                Err(e) => return Err(format!("{what}: {e}")),
            }
        }
    }
}

/// Connects, handshakes and joins `realm`, authenticating as `auth` says.
/// `read_buf` sizes the receive buffer.
pub(crate) async fn open(
    target: &Target,
    serializer: Serializer,
    realm: &str,
    auth: &super::options::Auth,
    source: Option<IpAddr>,
    read_buf: usize,
) -> Result<Session, DialError> {
    let stream = dial::connect_tcp(target.addr, source).await?;
    let transport = match target.transport {
        Transport::WebSocket => dial::Transport::WebSocket {
            url: target.url.clone(),
        },
        Transport::RawSocket => dial::Transport::RawSocket,
    };
    let options = DialOptions {
        transport,
        serializer,
        read_buf,
    };
    let mut conn = dial::handshake(stream, &options)
        .await
        .map_err(|e| DialError(format!("{}: {e}", target.url)))?;
    let mut wamp = ClientSession::new(realm, auth.authenticator());
    dial::join(&mut conn, &mut wamp)
        .await
        .map_err(|e| DialError(format!("joining '{realm}': {e}")))?;
    Ok(Session {
        tx: conn.tx,
        rx: conn.rx,
        writer: conn.writer,
        wamp,
    })
}
