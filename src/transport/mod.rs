//! Transports: WebSocket and RawSocket framing.

pub mod dial;
pub mod rawsocket;
mod serve;

pub(crate) use serve::serve;
