//! The blocking client's RawSocket (over TCP or a Unix socket) and [`connect`],
//! which dials every URL the blocking client accepts
//! ([`crate::client::blocking::parse_url`]): WebSocket URLs through the
//! client's own WebSocket, RawSocket URLs here, with the sans-IO handshake and
//! framing of [`super::rawsocket`].

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::rawsocket::{self, Frame, FrameKind};
use crate::client::blocking::{open, parse_url, Stream, Target, Wire};
use crate::client::{Client, ClientError, Credentials};
use crate::codec::Serializer;

/// Connects to `url` (any scheme of [`crate::client::blocking::URL_SCHEMES`])
/// and joins `realm`.
pub fn connect(url: &str, realm: &str, creds: &Credentials) -> Result<Client, ClientError> {
    match parse_url(url)? {
        Target::WebSocket { .. } => Client::connect(url, realm, creds),
        Target::RawSocket(address) => {
            let serializer = Serializer::Json;
            let stream = open(&address, Duration::from_secs(30))?;
            let wire = RawSocket::handshake(stream, serializer)
                .map_err(|e| ClientError::Connect(format!("{url}: RawSocket handshake: {e}")))?;
            Client::over(Box::new(wire), serializer, realm, creds.authenticator())
        }
    }
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
