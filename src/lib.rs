//! # shardwamp
//!
//! A WAMP v2 router built thread-per-core on io_uring: one glommio executor per
//! CPU core (a *shard*) owns its connections and the realm state placed on it;
//! publications and calls cross shards over a lock-free channel mesh. It runs
//! what Crossbar.io's router worker runs — realms, roles, transports, embedded
//! components, router links — with a controller API to manage them at run time.
//!
//! ## Layout
//!
//! | module | owns |
//! | --- | --- |
//! | [`wamp`] | the protocol as code, no I/O: [`wamp::message`] (every message, its code, who may send it), [`wamp::value`] (the value model), [`wamp::uri`] (validation and matching), [`wamp::id`] (ID scopes), [`wamp::uris`] (the spec's error and close URIs), [`wamp::serializer`] (which serializer), [`wamp::cra`] (WAMP-CRA's computations), [`wamp::cryptosign`] (WAMP-cryptosign's); imports nothing else of the crate |
//! | [`codec`] | JSON, MessagePack and CBOR: frames to messages and back, payload pass-through and transcoding |
//! | [`router`] | the sans-IO router core: realms, sessions, authentication, authorization, broker, dealer, meta API, over shards |
//! | [`sim`] | the deterministic harness: router cores, the mesh as seeded queues, a clock, and in-process clients on the client session |
//! | [`shard`] | the glommio runtime: one executor per core, the channel mesh, the control channel and its typed operations, the shard loop |
//! | [`transport`] | listeners and their options, admission, outboxes, serving WebSocket/RawSocket connections over any stream, the web and universal transports (HTTP paths, the WebSocket upgrade, RawSocket by its first byte), RawSocket framing, and dialing ([`transport::dial`]) |
//! | [`config`] | the TOML configuration (Crossbar.io's router config, one to one): the one owner of the schema |
//! | [`control`] | the controller (RouterController operations), management realm, admin HTTP |
//! | [`bridge`] | the HTTP bridge: `publisher`, `caller` and `webhook` services on a web transport's paths, each an in-process session of its realm |
//! | [`component`] | router components: in-process sessions running Rust code, on the client session |
//! | [`link`] | router-to-router links: a local in-process leg and a dialed remote leg mirroring subscriptions and registrations both ways |
//! | [`client`] | the WAMP client stack: the sans-IO [`client::session`], authenticators ([`client::auth`]), a blocking client (`shardwamp ctl`) |
//! | [`loadgen`] | the glommio load generator behind `shardwamp-bench` |
//!
//! The walls between them (who may import whom) are in docs/ARCHITECTURE.md
//! and checked by `tests/walls.rs`.
//!
//! ## Example
//!
//! ```
//! use bytes::Bytes;
//! use shardwamp::codec::Serializer;
//! use shardwamp::wamp::message::Message;
//!
//! // A PUBLISH arrives as JSON; its payload stays encoded ...
//! let frame = Bytes::from_static(br#"[16, 1, {}, "com.example.topic", [1, 2, 3]]"#);
//! let msg = Serializer::Json.decode(&frame).unwrap();
//! assert!(matches!(msg, Message::Publish { .. }));
//! // ... and is transcoded only for a subscriber that speaks another serializer.
//! let as_msgpack = Serializer::MsgPack.encode(&msg).unwrap();
//! let back = Serializer::MsgPack.decode(&Bytes::from(as_msgpack)).unwrap();
//! assert_eq!(back, msg);
//! ```
#![warn(missing_docs)]

pub mod bridge;
pub mod client;
pub mod codec;
pub mod component;
pub mod config;
pub mod control;
pub mod link;
pub mod loadgen;
pub mod router;
pub mod shard;
pub mod sim;
pub mod transport;
pub mod wamp;
