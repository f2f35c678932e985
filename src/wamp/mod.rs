//! The WAMP v2 protocol as code, with no I/O: messages, values, URIs, IDs,
//! the spec's URIs, the serializers' identities, and WAMP-CRA's and
//! WAMP-cryptosign's computations.
//! It imports nothing else of the crate.
pub mod cra;
pub mod cryptosign;
pub mod id;
pub mod message;
pub mod serializer;
pub mod uri;
pub mod uris;
pub mod value;
