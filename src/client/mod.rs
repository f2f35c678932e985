//! The WAMP client stack: one sans-IO session and thin adapters over it.
//!
//! | module | owns |
//! | --- | --- |
//! | [`session`] | the sans-IO client session: HELLO and roles, authentication, request ids, pending requests (progressive results, cancel), subscriptions, registrations, GOODBYE/ABORT |
//! | [`auth`] | client authenticators (anonymous, ticket, WAMP-CRA) behind [`auth::ClientAuthenticator`], and the WAMP-CRA signing primitives |
//! | [`blocking`] | a blocking client (WebSocket over TCP or Unix sockets; the [`blocking::Wire`] RawSocket plugs into), its URL schemes, for `shardwamp ctl` and tools |
//!
//! The other adapters live with what they adapt to: the glommio dialer in
//! [`crate::transport::dial`] (and the blocking RawSocket in
//! [`crate::transport::blocking`]), the in-process session of router components in
//! [`crate::component`], the simulation's clients in [`crate::sim`]. The client
//! stack does not import the router.

pub mod auth;
pub mod blocking;
pub mod session;

pub use blocking::{Client, ClientError, Credentials};
pub use session::{CallError, ClientSession, Event, Reply, Roles, SessionError};
