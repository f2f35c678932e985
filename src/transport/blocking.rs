//! Dialing for the blocking client (`shardwamp ctl`, tools, tests): the
//! streams (TCP or a Unix socket), WebSocket (tungstenite) and RawSocket (the
//! sans-IO handshake and framing of [`super::rawsocket`]) as the client's
//! [`Wire`], and [`connect`], which dials any URL [`super::url`] parses and
//! joins; a TLS URL goes through [`connect_tls`] ([`super::TlsClientOptions`]
//! says whom to trust).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tungstenite::client::IntoClientRequest;

use super::rawsocket::{self, Frame, FrameKind};
use super::tls::TlsClientOptions;
use super::url::{parse as parse_url, Address, Target};
use crate::client::auth::ClientAuthenticator;
use crate::client::blocking::Wire;
use crate::client::{Client, ClientError, Credentials};
use crate::codec::Serializer;

/// How long a read waits for the router.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `url` (any scheme of [`super::url::URL_SCHEMES`]) and joins `realm`.
pub fn connect(url: &str, realm: &str, creds: &Credentials) -> Result<Client, ClientError> {
    connect_with(url, realm, creds.authenticator())
}

/// Connects to `url` and joins `realm`, authenticating with `auth`; a TLS
/// URL trusts the Mozilla roots (see [`connect_tls`] for more).
pub fn connect_with(
    url: &str,
    realm: &str,
    auth: Box<dyn ClientAuthenticator>,
) -> Result<Client, ClientError> {
    connect_tls(url, realm, auth, &TlsClientOptions::default())
}

/// Connects to `url` and joins `realm`, authenticating with `auth`; `tls`
/// (whom to trust, the name to check, a client certificate) is used when the
/// URL is a TLS one (`wss://`, `rss://`, ...).
pub fn connect_tls(
    url: &str,
    realm: &str,
    auth: Box<dyn ClientAuthenticator>,
    tls: &TlsClientOptions,
) -> Result<Client, ClientError> {
    let mut auth = auth;
    let serializer = Serializer::Json;
    let parsed = parse_url(url).map_err(|e| ClientError::Connect(e.to_string()))?;
    let secure = parsed.tls;
    let connect_err = |e: &dyn std::fmt::Display| ClientError::Connect(format!("{url}: {e}"));
    // The stream, and what its TLS offers for channel binding.
    type Opened = (Box<dyn Stream>, Option<crate::client::auth::TlsChannel>);
    let open = |address: &Address| -> Result<Opened, ClientError> {
        let stream = open(address, READ_TIMEOUT)?;
        if !secure {
            return Ok((stream, None));
        }
        let host = match address {
            Address::Tcp(h, _) => h.as_str(),
            Address::Unix(_) => "localhost",
        };
        let config = tls.client_config().map_err(|e| connect_err(&e))?;
        let name = tls.server_name(host).map_err(|e| connect_err(&e))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| connect_err(&e))?;
        let mut s = rustls::StreamOwned::new(conn, stream);
        // The handshake now, so that its failure is reported as such.
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| connect_err(&format!("TLS handshake: {e}")))?;
        }
        let channel = super::tls::client_tls_channel(&s.conn);
        Ok((Box::new(TlsStream(s)), Some(channel)))
    };
    let mut open = |address: &Address| -> Result<Box<dyn Stream>, ClientError> {
        let (stream, channel) = open(address)?;
        auth.connected(channel.as_ref())
            .map_err(|e| ClientError::Connect(format!("{url}: {e}")))?;
        Ok(stream)
    };
    match parsed.target {
        Target::WebSocket { address, path } => {
            let host = match &address {
                Address::Tcp(h, p) if h.contains(':') => format!("[{h}]:{p}"),
                Address::Tcp(h, p) => format!("{h}:{p}"),
                Address::Unix(_) => "localhost".to_owned(),
            };
            let stream = open(&address)?;
            let ws = websocket(stream, &host, &path, serializer).map_err(|e| connect_err(&e))?;
            Client::over(Box::new(ws), serializer, realm, auth)
        }
        Target::RawSocket(address) => {
            let stream = open(&address)?;
            let wire = RawSocket::handshake(stream, serializer)
                .map_err(|e| ClientError::Connect(format!("{url}: RawSocket handshake: {e}")))?;
            Client::over(Box::new(wire), serializer, realm, auth)
        }
    }
}

/// A TLS connection over a TCP or Unix stream.
struct TlsStream(rustls::StreamOwned<rustls::ClientConnection, Box<dyn Stream>>);

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Stream for TlsStream {
    fn set_timeout(&self, d: Duration) {
        self.0.sock.set_timeout(d);
    }
    fn shutdown(&self) {
        self.0.sock.shutdown();
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

/// A RawSocket connection, blocking.
pub struct RawSocket {
    stream: Box<dyn Stream>,
    peer_max: usize,
    decoder: rawsocket::FrameDecoder,
    buf: BytesMut,
}

impl RawSocket {
    /// The client's opening handshake on `stream`, asking for `serializer`
    /// and accepting messages up to 16 MiB.
    pub fn handshake(
        mut stream: Box<dyn Stream>,
        serializer: Serializer,
    ) -> std::io::Result<RawSocket> {
        stream.write_all(&rawsocket::client_handshake(24, serializer))?;
        stream.flush()?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply)?;
        let hs = rawsocket::parse_server_handshake(reply, serializer)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(RawSocket {
            stream,
            peer_max: hs.max_len(),
            decoder: rawsocket::FrameDecoder::new(rawsocket::MAX_FRAME_LEN),
            buf: BytesMut::new(),
        })
    }

    fn write_frame(&mut self, kind: FrameKind, payload: &[u8]) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        rawsocket::encode_frame(kind, payload, self.peer_max, &mut out)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.stream.write_all(&out)?;
        self.stream.flush()
    }
}

impl Wire for RawSocket {
    fn send(&mut self, frame: Vec<u8>) -> std::io::Result<()> {
        self.write_frame(FrameKind::Message, &frame)
    }

    fn recv(&mut self) -> std::io::Result<Bytes> {
        let mut chunk = [0u8; 8192];
        loop {
            match self
                .decoder
                .decode(&mut self.buf)
                .map_err(|e| std::io::Error::other(e.to_string()))?
            {
                Some(Frame::Message(m)) => return Ok(m),
                Some(Frame::Ping(p)) => self.write_frame(FrameKind::Pong, &p)?,
                Some(Frame::Pong(_)) => {}
                None => {
                    let n = self.stream.read(&mut chunk)?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }

    fn set_timeout(&mut self, d: Duration) {
        self.stream.set_timeout(d);
    }

    fn close(&mut self) {
        self.stream.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_refused_before_dialing_and_names_the_schemes() {
        for url in ["http://h:1/", "rs://h:1/path", "nothing"] {
            match connect(url, "realm1", &Credentials::Anonymous) {
                Err(ClientError::Connect(e)) => {
                    assert!(e.starts_with(url) && e.contains("rs+unix://"), "{url}: {e}")
                }
                Err(other) => panic!("{url}: {other}"),
                Ok(_) => panic!("{url}: connected"),
            }
        }
    }
}
