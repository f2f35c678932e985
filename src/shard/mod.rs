//! The runtime: one glommio executor per core (a *shard*), each owning its
//! connections and one [`RouterCore`](crate::router::RouterCore); the channel
//! mesh between shards; the control channel into each shard; timers; and
//! graceful shutdown. Listeners and serving connections are the transports'
//! ([`crate::transport`]); a shard is their [`Host`](crate::transport::Host).
//!
//! The core does no I/O: a shard feeds it frames, peer messages and the
//! clock, and carries out what it asks (frames to write, connections to close,
//! messages for peer shards).
//!
//! | file | owns |
//! | --- | --- |
//! | `start.rs` | [`start`]: checks, the executor pool, waiting for every shard; [`StartError`] |
//! | `spec.rs` | [`RouterSpec`]: what the runtime runs, from the config |
//! | `os.rs` | io_uring probe, memlock and nofile limits, CPU placement, [`RING_DEPTH`] |
//! | `mesh.rs` | the mesh between shards behind one typed API, with per-peer overflow queues |
//! | `channel.rs` | the control channel (a crossbeam channel with a waker) and [`Reply`], the way back |
//! | `control.rs` | [`ControlMsg`] and [`RouterHandle`] (`ask`, `ask_all`, `on_all`) |
//! | `ops.rs` | the typed operations on a shard's core ([`CoreOp`]) and their error ([`OpError`]) |
//! | `state.rs` | the `Shard` value its tasks share, carrying out the core's outputs, and its [`Host`](crate::transport::Host) side |
//! | `run.rs` | the shard loop: start-up on its executor, the peer, timer and figures tasks, listeners, the control loop |
//! | `components.rs` | the components and router links running on a shard |
//! | `component_host.rs` | the shard as a [`ComponentHost`](crate::component::ComponentHost): a component's messages go to the core directly |
//! | `timer.rs` | the wake-up of the task that waits for the core's next deadline |

mod channel;
mod component_host;
mod components;
pub mod control;
mod mesh;
mod ops;
mod os;
mod run;
mod spec;
mod start;
mod state;
mod timer;
mod web;

pub use channel::{channel, ControlReceiver, ControlSender, Reply};
pub use control::{ControlMsg, RouterHandle};
pub use ops::{CoreOp, OpError};
pub(crate) use os::now_ms;
pub use os::{probe_io_uring, raise_memlock, raise_nofile, RING_DEPTH};
pub use spec::RouterSpec;
pub use start::{start, StartError};
pub(crate) use state::Shard;
