//! shardwamp
#![warn(missing_docs)]
pub mod codec;
pub mod wamp;
