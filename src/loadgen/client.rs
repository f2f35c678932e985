//! The generator's connections: [`crate::transport::dial`] over glommio's
//! `TcpStream` (optionally bound to a source address; TLS over it for
//! `wss://` and `rss://`, with one rustls config per thread), joined and set up
//! (SUBSCRIBE, REGISTER) through the sans-IO [`ClientSession`]. The hot loops
//! then use the dialer's frame level directly: [`Sender::push`] queues
//! messages for the writer's one-flush-per-batch, and
//! [`Receiver::next_frame`] hands out frames still encoded, so
//! `loadgen::wire` can scan EVENT arguments straight from them.

use std::cell::RefCell;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

use super::options::{Target, Transport};
use crate::client::session::{ClientSession, Event, Reply, SessionError};
use crate::codec::Serializer;
use crate::transport::dial::{self, DialError, DialOptions};
use crate::wamp::message::Id;

pub(crate) use crate::transport::dial::{Receiver as DialReceiver, Sender};

/// The receiving half of a generator connection.
pub(crate) type Receiver = DialReceiver<Stream>;

/// A generator connection's stream: plain TCP, or TLS over it.
pub(crate) enum Stream {
    /// `ws://`, `rs://`.
    Plain(TcpStream),
    /// `wss://`, `rss://`.
    Tls(Box<dial::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

thread_local! {
    /// This thread's TLS dialer (built once: reading the CA file and making
    /// a rustls config is not what a connection should cost).
    static TLS: RefCell<Option<dial::TlsDialer>> = const { RefCell::new(None) };
}

/// This thread's TLS dialer for `target`.
fn tls_dialer(target: &Target) -> Result<Option<dial::TlsDialer>, DialError> {
    let Some(options) = &target.tls else {
        return Ok(None);
    };
    TLS.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = Some(dial::TlsDialer::new(
                options,
                &target.addr.ip().to_string(),
            )?);
        }
        Ok(cell.clone())
    })
}

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
    let tcp = dial::connect_tcp(target.addr, source).await?;
    let (stream, conn_channel) = match tls_dialer(target)? {
        None => (Stream::Plain(tcp), None),
        Some(d) => {
            let tls = d
                .connect(tcp)
                .await
                .map_err(|e| DialError(format!("{}: {e}", target.url)))?;
            let channel = dial::tls_channel(&tls);
            (Stream::Tls(Box::new(tls)), Some(channel))
        }
    };
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
    let mut authenticator = auth.authenticator();
    authenticator
        .connected(conn_channel.as_ref())
        .map_err(|e| DialError(format!("{}: {e}", target.url)))?;
    let mut wamp = ClientSession::new(realm, authenticator);
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
