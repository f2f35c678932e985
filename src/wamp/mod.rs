//! The WAMP v2 protocol as code, with no I/O: messages, values, URIs, IDs and the spec's URIs.
pub mod id;
pub mod message;
pub mod serializer;
pub mod uri;
pub mod uris;
pub mod value;
