//! Starting the router: checks before any thread starts (io_uring, limits,
//! authenticators, free endpoints, port-0 reservations), the executor pool,
//! the mesh and control channels handed to each shard, and waiting until
//! every shard listens. [`StartError`] says why it could not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use glommio::channels::channel_mesh::{Full, MeshBuilder};
use glommio::LocalExecutorPoolBuilder;

use crate::router::auth::Authenticator;
use crate::router::peer::PeerMsg;
use crate::transport::{check_free, reserve, Bound, EndpointSpec, ListenError, ListenerSpec};

use super::channel;
use super::control::RouterHandle;
use super::os::{placement, probe_io_uring, raise_memlock, raise_nofile, RING_DEPTH};
use super::run::shard_main;
use super::RouterSpec;

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// io_uring cannot be used here.
    #[error("io_uring is not available ({0}): shardwamp needs Linux 5.8+ with io_uring allowed (containers may forbid it with seccomp)")]
    NoIoUring(String),
    /// Locked memory is limited below what the shards need.
    #[error("RLIMIT_MEMLOCK is {have} bytes but {need} are needed: raise it (ulimit -l unlimited, LimitMEMLOCK=infinity in the systemd unit, or memlock in /etc/security/limits.conf)")]
    Memlock {
        /// The limit in force.
        have: u64,
        /// What the shards need.
        need: u64,
    },
    /// A listener could not bind.
    #[error("transport '{name}': cannot listen on {endpoint}: {error}")]
    Bind {
        /// The transport.
        name: String,
        /// The endpoint.
        endpoint: String,
        /// The OS error.
        error: String,
    },
    /// A realm or transport configuration the core refused.
    #[error("{0}")]
    Config(String),
    /// A shard failed while starting.
    #[error("shard failed to start: {0}")]
    Shard(String),
}

impl From<ListenError> for StartError {
    fn from(e: ListenError) -> StartError {
        match e {
            ListenError::Config(m) => StartError::Config(m),
            ListenError::Bind {
                name,
                endpoint,
                error,
            } => StartError::Bind {
                name,
                endpoint,
                error,
            },
        }
    }
}

/// Starts the router: the shards, their mesh and listeners. Returns once every
/// shard listens (or the first error).
pub fn start(mut spec: RouterSpec) -> Result<RouterHandle, StartError> {
    let shards = spec.shards.max(1);
    // glommio registers each shard's io_memory with three rings.
    let need = (spec.io_memory as u64)
        .saturating_mul(3)
        .saturating_mul(shards as u64);
    probe_io_uring()?;
    raise_memlock(need)?;
    raise_nofile();
    // Check the authenticators before any thread starts.
    for l in &spec.listeners {
        Authenticator::new(&l.auth)
            .map_err(|e| StartError::Config(format!("transport '{}': {e}", l.name)))?;
    }
    // Port 0: choose one port for every shard. A fixed port must be free: the
    // shards bind with SO_REUSEPORT, which would otherwise let a second router
    // silently share the port with a first one.
    let mut reservations = Vec::new();
    for l in &mut spec.listeners {
        if let Err(e) = check_free(&l.endpoint) {
            return Err(StartError::Bind {
                name: l.name.clone(),
                endpoint: l.endpoint.display(),
                error: e.to_string(),
            });
        }
        if let EndpointSpec::Tcp(addr) = &mut l.endpoint {
            if addr.port() == 0 {
                let (local, sock) = reserve(*addr).map_err(|e| StartError::Bind {
                    name: l.name.clone(),
                    endpoint: addr.to_string(),
                    error: e.to_string(),
                })?;
                *addr = local;
                reservations.push(sock);
            }
        }
    }
    let bound: Vec<Bound> = spec.listeners.iter().map(ListenerSpec::bound).collect();
    let seed = spec.seed.unwrap_or_else(rand::random);
    let spec = Arc::new(spec);
    // glommio's MeshBuilder holds an `Rc` and is `Send` only by an unsafe
    // impl: cloning it on the shard threads (as this code once did, inside
    // `on_all_shards`) raced on the non-atomic count and corrupted the heap
    // now and then at start-up with two or more shards. Every clone is made
    // here, on this thread, and the original is leaked so that the shards'
    // drops (in `join`, possibly concurrent) can never bring the count to zero.
    let mesh: MeshBuilder<PeerMsg, Full> = MeshBuilder::full(shards, 4096);
    let meshes: Vec<Option<MeshBuilder<PeerMsg, Full>>> =
        (0..shards).map(|_| Some(mesh.clone())).collect();
    std::mem::forget(mesh);
    let meshes = Arc::new(Mutex::new(meshes));
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<()>();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..shards {
        let (tx, rx) = channel::channel();
        senders.push(tx);
        receivers.push(Some(rx));
    }
    let receivers = Arc::new(Mutex::new(receivers));
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded::<Result<(), StartError>>();
    let placement = placement(shards, spec.cpus.as_deref());
    let builder = LocalExecutorPoolBuilder::new(placement)
        .io_memory(spec.io_memory)
        .ring_depth(RING_DEPTH)
        .name("shardwamp");
    let threads = builder
        .on_all_shards(move || {
            let spec = spec.clone();
            let meshes = meshes.clone();
            let receivers = receivers.clone();
            let ready = ready_tx.clone();
            let done = done_tx.clone();
            async move {
                // Moving a clone out of the list touches no count.
                let mesh = meshes
                    .lock()
                    .ok()
                    .and_then(|mut m| m.iter_mut().find_map(Option::take));
                let started = match mesh {
                    Some(mesh) => shard_main(spec, mesh, receivers, ready.clone(), seed).await,
                    None => Err(StartError::Shard(
                        "no channel mesh left for this shard".into(),
                    )),
                };
                if let Err(e) = started {
                    let _ = ready.send(Err(e));
                }
                // The shard's work is done. Its thread parks instead of returning:
                // tearing down glommio executors corrupts the heap in about half
                // of the runs with two or more executors (seen with glommio
                // 0.9.0: glibc aborts in tcache_thread_shutdown), so shard
                // threads live until the process exits.
                let _ = done.send(());
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| StartError::Shard(format!("cannot place {shards} shard(s): {e}")))?;
    let handle = RouterHandle::new(senders, threads, done_rx, bound, shards);
    for _ in 0..shards {
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                handle.shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
                return Err(e);
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                // Every shard's sender is gone without an answer: glommio
                // could not create an executor (io_uring or its locked memory).
                handle.shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
                return Err(StartError::Shard(
                    "a shard's executor could not be created (io_uring set-up failed: out of memory or locked memory?)".into(),
                ));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                handle.shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
                return Err(StartError::Shard(
                    "a shard did not start within 30 s".into(),
                ));
            }
        }
    }
    drop(reservations);
    Ok(handle)
}
