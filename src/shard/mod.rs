//! The runtime: one glommio executor per core (a *shard*), each owning its
//! connections and one [`RouterCore`]; the channel mesh between shards; the
//! control channel into each shard; listeners on every shard with
//! `SO_REUSEPORT`; bounded, batched outgoing queues per connection; timers;
//! and graceful shutdown.
//!
//! The core does no I/O: this module feeds it frames, peer messages and the
//! clock, and carries out what it asks (frames to write, connections to close,
//! messages for peer shards).

mod admission;
mod component_host;
pub mod control;
pub mod outbox;
mod spec;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use glommio::channels::channel_mesh::{Full, MeshBuilder, Senders};
use glommio::{GlommioError, LocalExecutorPoolBuilder, PoolPlacement, ResourceType};

use crate::codec::Serializer;
use crate::router::auth::{Authenticator, TransportAuth};
use crate::router::peer::PeerMsg;
use crate::router::realm::RealmConfig;
use crate::router::{ConnId, Output, RouterCore, ShardId, TransportId};
use crate::wamp::value::Dict;

pub use admission::ConnGauge;
pub(crate) use admission::{Admission, Gate};
pub use outbox::{CloseReason, Outbox, QueueLimits, SlowConsumer};

/// What a listener speaks.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenerKind {
    /// WAMP over WebSocket.
    WebSocket(WebSocketOptions),
    /// WAMP over RawSocket.
    RawSocket(RawSocketOptions),
}

/// WebSocket options (Crossbar.io's names; times in ms).
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketOptions {
    /// The URL path served (`/ws`).
    pub path: String,
    /// Allowed `Origin` patterns (`*` matches any run of characters); a request without
    /// an `Origin` header (a non-browser client) is not checked.
    pub allowed_origins: Vec<String>,
    /// Time allowed for the opening handshake (0: no limit).
    pub open_handshake_timeout: u64,
    /// Time the router waits for the peer's Close after sending its own,
    /// before it drops the TCP connection (0: it does not wait).
    pub close_handshake_timeout: u64,
    /// Largest frame payload accepted (0: unlimited); a larger one fails the
    /// connection with close code 1009.
    pub max_frame_size: usize,
    /// Largest message accepted, all frames together (0: unlimited); a larger
    /// one fails the connection with close code 1009.
    pub max_message_size: usize,
    /// Outgoing messages larger than this are sent as fragments (a first frame
    /// and continuation frames) of at most this many payload bytes (0: never).
    pub auto_fragment_size: usize,
    /// Send a ping every this long (0: never).
    pub auto_ping_interval: u64,
    /// Drop the connection when a ping is not answered within this long
    /// (0: the interval).
    pub auto_ping_timeout: u64,
    /// Payload bytes of each ping (random, 4 to 125); only a pong that echoes
    /// them counts as an answer.
    pub auto_ping_size: u8,
    /// Set TCP_NODELAY on accepted connections.
    pub tcp_nodelay: bool,
    /// Each connection's receive buffer, bytes (at least 256).
    pub read_buffer_size: usize,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            path: "/ws".into(),
            allowed_origins: vec!["*".into()],
            open_handshake_timeout: 10_000,
            close_handshake_timeout: 1_000,
            max_frame_size: 16 * 1024 * 1024,
            max_message_size: 16 * 1024 * 1024,
            auto_fragment_size: 0,
            auto_ping_interval: 0,
            auto_ping_timeout: 0,
            auto_ping_size: 4,
            tcp_nodelay: true,
            read_buffer_size: 2048,
        }
    }
}

/// RawSocket options.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSocketOptions {
    /// Largest message accepted (rounded down to a power of two, 512 B..16 MiB).
    pub max_message_size: usize,
    /// Time allowed for the opening handshake.
    pub open_handshake_timeout: u64,
    /// Bytes read at a time (at least 256).
    pub read_buffer_size: usize,
}

impl Default for RawSocketOptions {
    fn default() -> Self {
        RawSocketOptions {
            max_message_size: 16 * 1024 * 1024,
            open_handshake_timeout: 10_000,
            read_buffer_size: 2048,
        }
    }
}

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointSpec {
    /// TCP; port 0 picks a free port (the same on every shard).
    Tcp(SocketAddr),
    /// A Unix domain socket (served by shard 0).
    Unix(PathBuf),
}

/// One listening transport, as the runtime needs it.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// The transport's index (the same on every shard).
    pub id: TransportId,
    /// The transport's config id (`ws1`).
    pub name: String,
    /// WebSocket or RawSocket, with options.
    pub kind: ListenerKind,
    /// Where it listens.
    pub endpoint: EndpointSpec,
    /// The serializers it offers, in preference order.
    pub serializers: Vec<Serializer>,
    /// Its authentication.
    pub auth: TransportAuth,
    /// Outgoing queue limits and slow-consumer policy.
    pub queue: QueueLimits,
    /// Listen only on these shards (all when `None`); tests use it to place sessions.
    pub shards: Option<Vec<usize>>,
    /// The TCP listen backlog (the kernel caps it at `net.core.somaxconn`).
    pub backlog: u32,
    /// Connection caps and session-opening deadlines.
    pub limits: crate::config::ConnectionLimits,
    /// Its connections, all shards together (shared by every shard's copy).
    pub gauge: Arc<ConnGauge>,
}

/// What the runtime runs.
#[derive(Debug, Clone)]
pub struct RouterSpec {
    /// Number of shards (executors).
    pub shards: usize,
    /// CPUs to pin the shards to, when given.
    pub cpus: Option<Vec<usize>>,
    /// io_uring registered buffer memory per shard.
    pub io_memory: usize,
    /// Realms.
    pub realms: Vec<RealmConfig>,
    /// Listeners.
    pub listeners: Vec<ListenerSpec>,
    /// Seed for ids (None: from the OS).
    pub seed: Option<u64>,
    /// Realms (by name) that sessions may join only through the listed
    /// transports; set before any listener accepts (the management realm).
    pub realm_transports: Vec<(String, Vec<TransportId>)>,
}

/// Messages the control plane sends a shard.
pub enum ControlMsg {
    /// Stop listening, say GOODBYE to every session, flush, and stop.
    Shutdown {
        /// GOODBYE reason.
        reason: String,
    },
    /// Run a function on the shard's core (the controller's `invoke_on_all`).
    Invoke(Box<dyn FnOnce(&mut RouterCore) + Send>),
    /// Start accepting on a new transport (its authentication is set on the core first).
    StartListener {
        /// The transport.
        spec: Box<ListenerSpec>,
        /// Where to answer.
        reply: control::ControlSender<Result<(), String>>,
    },
    /// Stop accepting on a transport; with `close`, GOODBYE its sessions.
    StopListener {
        /// The transport.
        id: TransportId,
        /// Close the sessions that came through it.
        close: Option<String>,
        /// Where to answer.
        reply: control::ControlSender<Result<(), String>>,
    },
    /// Run a task on this shard (the admin HTTP listener, say).
    Spawn(Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send>),
    /// Start a component on this shard.
    StartComponent {
        /// The component's config.
        config: Box<crate::config::ComponentConfig>,
        /// Where its class is registered.
        registry: Arc<crate::component::Registry>,
        /// The internal transport it joins through.
        transport: TransportId,
        /// Where to answer (the component's session id once it runs).
        reply: control::ControlSender<Result<(), String>>,
    },
    /// Stop a component on this shard.
    StopComponent {
        /// The component's id.
        id: String,
        /// Where to answer.
        reply: control::ControlSender<Result<(), String>>,
    },
}

/// An address a transport is bound to.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// The transport's index.
    pub transport: TransportId,
    /// Its config id.
    pub name: String,
    /// `websocket` or `rawsocket`.
    pub kind: &'static str,
    /// Where it listens.
    pub endpoint: EndpointSpec,
}

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

/// A running router.
pub struct RouterHandle {
    controls: Vec<control::ControlSender<ControlMsg>>,
    threads: Mutex<Option<glommio::PoolThreadHandles<()>>>,
    done: crossbeam_channel::Receiver<()>,
    bound: Vec<Bound>,
    shards: usize,
}

impl RouterHandle {
    /// Where each transport listens (port 0 resolved).
    pub fn bound(&self) -> &[Bound] {
        &self.bound
    }

    /// The TCP address of a transport, by config id.
    pub fn tcp_addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound.iter().find_map(|b| match &b.endpoint {
            EndpointSpec::Tcp(a) if b.name == name => Some(*a),
            _ => None,
        })
    }

    /// How many shards run.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Runs `f` on every shard's core and collects the answers in shard order
    /// (Seastar's `map_reduce`, minus the reduce). Blocks the calling thread,
    /// which must not be a shard.
    pub fn invoke_on_all<R, F>(&self, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut RouterCore) -> R + Send + Sync + 'static,
    {
        futures_lite::future::block_on(self.invoke_on_all_async(f))
    }

    /// [`RouterHandle::invoke_on_all`] for callers that must not block: a task
    /// on a shard (the management component) awaits the answers.
    pub async fn invoke_on_all_async<R, F>(&self, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut RouterCore) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (tx, rx) = control::channel();
        for (i, c) in self.controls.iter().enumerate() {
            let f = f.clone();
            let tx = tx.clone();
            c.send(ControlMsg::Invoke(Box::new(move |core| {
                tx.send((i, f(core)));
            })));
        }
        drop(tx);
        let mut out = Vec::with_capacity(self.controls.len());
        while out.len() < self.controls.len() {
            match rx.recv().await {
                Some(r) => out.push(r),
                None => break,
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Sends a control message to one shard.
    pub fn send_to(&self, shard: usize, msg: ControlMsg) -> bool {
        self.controls.get(shard).is_some_and(|c| c.send(msg))
    }

    /// Sends a message built per shard to every shard and awaits each answer.
    pub async fn ask_all<T: Send + 'static>(
        &self,
        mut make: impl FnMut(control::ControlSender<T>) -> ControlMsg,
    ) -> Vec<T> {
        let (tx, rx) = control::channel();
        for c in &self.controls {
            c.send(make(tx.clone()));
        }
        drop(tx);
        let mut out = Vec::new();
        while let Some(r) = rx.recv().await {
            out.push(r);
            if out.len() == self.controls.len() {
                break;
            }
        }
        out
    }

    /// Asks every shard to shut down (GOODBYE `reason` to every session).
    pub fn shutdown(&self, reason: &str) {
        for c in &self.controls {
            c.send(ControlMsg::Shutdown {
                reason: reason.into(),
            });
        }
    }

    /// Waits for every shard to stop (their threads stay parked until the
    /// process exits; see `start`).
    pub fn join(self) -> Result<(), String> {
        self.wait_stopped()
    }

    /// Waits for every shard to stop, after [`RouterHandle::shutdown`].
    pub fn wait_stopped(&self) -> Result<(), String> {
        let threads = match self.threads.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        let Some(threads) = threads else {
            return Ok(());
        };
        let mut stopped = 0;
        while stopped < self.shards {
            match self.done.recv_timeout(Duration::from_secs(30)) {
                Ok(()) => stopped += 1,
                Err(_) => {
                    return Err(format!(
                        "{} shard(s) did not stop within 30 s",
                        self.shards - stopped
                    ))
                }
            }
        }
        // The threads are parked for good: never join them.
        std::mem::forget(threads);
        Ok(())
    }
}

impl Drop for RouterHandle {
    fn drop(&mut self) {
        let running = self.threads.get_mut().map(|t| t.is_some()).unwrap_or(false);
        if running {
            self.shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
            let _ = self.wait_stopped();
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Raises the soft RLIMIT_MEMLOCK to the hard limit and checks it covers `need` bytes.
pub fn raise_memlock(need: u64) -> Result<(), StartError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) != 0 {
            return Ok(());
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    let infinite = lim.rlim_cur == libc::RLIM_INFINITY;
    // root is exempt from the limit
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !infinite && !root && lim.rlim_cur < need {
        return Err(StartError::Memlock {
            have: lim.rlim_cur,
            need,
        });
    }
    Ok(())
}

/// Checks that this process may create an io_uring (a kernel without it, or a
/// container whose seccomp profile forbids it, fails here with a clear error
/// instead of deep inside an executor).
pub fn probe_io_uring() -> Result<(), StartError> {
    // In a thread of its own: closing a ring queues task work on the thread
    // that made it, which interrupts that thread's next blocking socket call
    // that has a timeout (EINTR) — the caller's thread must not pay for it.
    let probe = std::thread::spawn(|| {
        // struct io_uring_params is 120 bytes; zeroed means "defaults".
        let mut params = [0u8; 120];
        // SAFETY: io_uring_setup reads and writes only the params buffer passed.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        // SAFETY: fd is a descriptor this call just created.
        unsafe {
            libc::close(fd as libc::c_int);
        }
        Ok(())
    });
    match probe.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StartError::NoIoUring(format!("io_uring_setup: {e}"))),
        Err(_) => Err(StartError::NoIoUring("the io_uring probe failed".into())),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (every session is a descriptor).
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
        }
    }
}

/// The CPUs this process may run on (its affinity mask, as `taskset` sets it).
fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|c| libc::CPU_ISSET(*c, &set))
                .collect(),
        )
    }
}

/// Where the shards run: shard `i` pinned to `cpus[i]` when a CPU list is
/// given; otherwise spread over the CPUs the process may use (so `taskset`
/// and systemd's `CPUAffinity=` are honoured), one shard per CPU.
fn placement(shards: usize, cpus: Option<&[usize]>) -> PoolPlacement {
    let Ok(online) = glommio::CpuSet::online() else {
        return PoolPlacement::Unbound(shards);
    };
    match cpus {
        Some(cpus) if !cpus.is_empty() => {
            let sets = (0..shards)
                .map(|i| {
                    let cpu = cpus[i % cpus.len()];
                    online.clone().filter(|l| l.cpu == cpu)
                })
                .collect::<Vec<_>>();
            if sets.iter().any(|s| s.is_empty()) {
                log::warn!("router.cpus names a CPU that is not online: shards are not pinned");
                return PoolPlacement::Unbound(shards);
            }
            PoolPlacement::Custom(sets)
        }
        _ => match allowed_cpus() {
            Some(allowed) if !allowed.is_empty() && shards > allowed.len() => {
                // More shards than CPUs to run on: several shards share a CPU.
                let sets = (0..shards)
                    .map(|i| {
                        let cpu = allowed[i % allowed.len()];
                        online.clone().filter(|l| l.cpu == cpu)
                    })
                    .collect();
                PoolPlacement::Custom(sets)
            }
            Some(allowed) if !allowed.is_empty() => {
                PoolPlacement::MaxSpread(shards, Some(online.filter(|l| allowed.contains(&l.cpu))))
            }
            _ => PoolPlacement::MaxSpread(shards, None),
        },
    }
}

/// Picks a free TCP port for a port-0 endpoint and holds it (bound, not
/// listening, with SO_REUSEPORT) until every shard has bound it too.
/// Submission queue entries of each shard's main io_uring (glommio's default
/// is 128). The kernel sizes a ring's table of armed polls by its completion
/// queue (2 × this): `cq_entries / 32` buckets, at most 256. Every idle
/// connection keeps one poll armed, and glommio submits an async cancel on
/// each loop turn (its preemption timer), which walks one bucket: with 128
/// entries that is 8 buckets, so at 20 k sessions each cancel walked ~2,500
/// polls and 41% of the router's CPU went to `io_poll_find` while sessions
/// joined. 4096 gives the 256-bucket maximum for ~0.4 MiB per shard.
pub const RING_DEPTH: usize = 4096;

/// A bound, listening TCP socket as each shard makes one: SO_REUSEPORT
/// (every shard binds the same address), SO_REUSEADDR (a restarted router
/// binds its port at once, though the connections it closed wait in
/// TIME_WAIT for a minute; a port another socket *listens* on is still
/// refused, and [`start`] refuses a port in use before any shard binds it)
/// and the configured backlog (the kernel caps it at `net.core.somaxconn`);
/// glommio's own `bind` always listens with 1024.
pub fn listen_socket(addr: SocketAddr, backlog: u32) -> std::io::Result<socket2::Socket> {
    socket(addr, backlog, true)
}

fn socket(addr: SocketAddr, backlog: u32, reuse_port: bool) -> std::io::Result<socket2::Socket> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_port(reuse_port)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(s)
}

/// [`listen_socket`], handed to this shard's glommio reactor.
fn listen_tcp(addr: SocketAddr, backlog: u32) -> std::io::Result<glommio::net::TcpListener> {
    into_glommio(listen_socket(addr, backlog)?)
}

/// A listener that one shard alone serves (the admin HTTP endpoint): like
/// [`listen_socket`] but without SO_REUSEPORT, so a second router cannot
/// share its port; SO_REUSEADDR lets a restart bind it at once.
pub(crate) fn listen_tcp_alone(
    addr: SocketAddr,
    backlog: u32,
) -> std::io::Result<glommio::net::TcpListener> {
    into_glommio(socket(addr, backlog, false)?)
}

fn into_glommio(s: socket2::Socket) -> std::io::Result<glommio::net::TcpListener> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the descriptor is a bound, listening TCP socket whose ownership
    // moves into the glommio listener.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(s.into_raw_fd()) })
}

/// Fails when something already listens on `endpoint`: a fixed TCP port
/// bound by another socket (the shards bind with SO_REUSEPORT, which would
/// otherwise let a second listener silently share the port and split its
/// connections), or a Unix socket path that accepts connections (the shards
/// replace a stale socket file, never a live one). Port 0 is always free.
pub(crate) fn check_free(endpoint: &EndpointSpec) -> std::io::Result<()> {
    match endpoint {
        EndpointSpec::Tcp(addr) if addr.port() != 0 => std::net::TcpListener::bind(addr).map(drop),
        EndpointSpec::Tcp(_) => Ok(()),
        EndpointSpec::Unix(path) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "a socket is listening at this path",
            )),
            Err(_) => Ok(()),
        },
    }
}

pub(crate) fn reserve(addr: SocketAddr) -> std::io::Result<(SocketAddr, socket2::Socket)> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    let local = s
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("not an inet address"))?;
    Ok((local, s))
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
                endpoint: match &l.endpoint {
                    EndpointSpec::Tcp(a) => a.to_string(),
                    EndpointSpec::Unix(p) => p.display().to_string(),
                },
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
    let bound: Vec<Bound> = spec
        .listeners
        .iter()
        .map(|l| Bound {
            transport: l.id,
            name: l.name.clone(),
            kind: match l.kind {
                ListenerKind::WebSocket(_) => "websocket",
                ListenerKind::RawSocket(_) => "rawsocket",
            },
            endpoint: l.endpoint.clone(),
        })
        .collect();
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
        let (tx, rx) = control::channel();
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
    let mut handle = RouterHandle {
        controls: senders,
        threads: Mutex::new(Some(threads)),
        done: done_rx,
        bound,
        shards,
    };
    for _ in 0..shards {
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                handle.shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
                return Err(e);
            }
            Err(_) => {
                handle.shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
                return Err(StartError::Shard(
                    "a shard did not start within 30 s".into(),
                ));
            }
        }
    }
    drop(reservations);
    handle.shards = shards;
    Ok(handle)
}

/// A shard's runtime state, shared by its tasks.
pub(crate) struct Shard {
    pub id: ShardId,
    pub core: RefCell<RouterCore>,
    pub conns: RefCell<crate::router::HashMap<ConnId, Rc<Outbox>>>,
    next_conn: std::cell::Cell<ConnId>,
    mesh: RefCell<Option<Rc<Senders<PeerMsg>>>>,
    overflow: RefCell<Vec<VecDeque<PeerMsg>>>,
    flushing: RefCell<Vec<bool>>,
    scratch: RefCell<Vec<Output>>,
    timer: outbox::Notify,
    /// Set when the shard is shutting down: no new connections.
    pub stopping: std::cell::Cell<bool>,
    /// Set while the sessions of a stopped listener are closed: their
    /// connections close as "going away".
    going_away: std::cell::Cell<bool>,
}

impl Shard {
    /// Registers a new connection with the core; returns its id and outbox.
    pub fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        details: Dict,
        limits: QueueLimits,
    ) -> (ConnId, Rc<Outbox>) {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        let ob = Rc::new(Outbox::new(limits));
        self.conns.borrow_mut().insert(id, ob.clone());
        self.core
            .borrow_mut()
            .open(id, serializer, transport, details);
        self.pump();
        (id, ob)
    }

    /// A frame arrived on a connection.
    pub fn frame(&self, conn: ConnId, frame: &bytes::Bytes) {
        {
            let mut core = self.core.borrow_mut();
            // The core's clock (call timeouts, timestamps) moves with every input.
            core.advance(now_ms());
            core.receive_frame(conn, frame);
        }
        self.pump();
    }

    /// A connection is gone.
    pub fn closed(&self, conn: ConnId) {
        self.conns.borrow_mut().remove(&conn);
        self.core.borrow_mut().close(conn);
        self.pump();
    }

    /// Carries out what the core asked for.
    pub fn pump(&self) {
        let mut outs = std::mem::take(&mut *self.scratch.borrow_mut());
        {
            let mut core = self.core.borrow_mut();
            std::mem::swap(&mut outs, core.outputs());
        }
        let mut dropped = 0u64;
        {
            let conns = self.conns.borrow();
            for o in outs.drain(..) {
                match o {
                    Output::Send { conn, frame, ty } => {
                        if let Some(ob) = conns.get(&conn) {
                            if !ob.push(frame, ty) {
                                dropped += 1;
                            }
                        }
                    }
                    Output::Close { conn } => {
                        if let Some(ob) = conns.get(&conn) {
                            // At shutdown, or when a listener is stopped with its
                            // sessions, the router is the one going away.
                            ob.close_with(if self.stopping.get() || self.going_away.get() {
                                CloseReason::GoingAway
                            } else {
                                CloseReason::Normal
                            });
                        }
                    }
                    Output::Peer { to, msg } => self.send_peer(to, *msg),
                }
            }
        }
        *self.scratch.borrow_mut() = outs;
        if dropped > 0 {
            self.core.borrow_mut().note_dropped(dropped);
        }
        if let Some(at) = self.core.borrow().next_deadline() {
            self.timer.notify_if_earlier(at);
        }
    }

    fn send_peer(&self, to: ShardId, msg: PeerMsg) {
        let idx = to as usize;
        let mut overflow = self.overflow.borrow_mut();
        if !overflow[idx].is_empty() {
            overflow[idx].push_back(msg);
            return;
        }
        let Some(mesh) = self.mesh.borrow().clone() else {
            return;
        };
        match mesh.try_send_to(idx, msg) {
            Ok(()) => {}
            Err(GlommioError::WouldBlock(ResourceType::Channel(msg))) => {
                overflow[idx].push_back(msg);
                drop(overflow);
                self.start_flusher(idx);
            }
            Err(e) => log::error!("shard {}: peer shard {to} unreachable: {e}", self.id),
        }
    }

    /// Drains a peer's overflow queue in order, waiting for channel space.
    fn start_flusher(&self, idx: usize) {
        if std::mem::replace(&mut self.flushing.borrow_mut()[idx], true) {
            return;
        }
        let me = SHARD.with(|s| s.borrow().clone());
        let Some(me) = me else { return };
        glommio::spawn_local(async move {
            loop {
                let next = me.overflow.borrow_mut()[idx].pop_front();
                let Some(msg) = next else { break };
                let Some(mesh) = me.mesh.borrow().clone() else {
                    break;
                };
                if mesh.send_to(idx, msg).await.is_err() {
                    log::error!("shard {}: peer shard {idx} closed its channel", me.id);
                    me.overflow.borrow_mut()[idx].clear();
                    break;
                }
            }
            me.flushing.borrow_mut()[idx] = false;
        })
        .detach();
    }
}

thread_local! {
    static SHARD: RefCell<Option<Rc<Shard>>> = const { RefCell::new(None) };
}

async fn shard_main(
    spec: Arc<RouterSpec>,
    mesh: MeshBuilder<PeerMsg, Full>,
    receivers: Arc<Mutex<Vec<Option<control::ControlReceiver<ControlMsg>>>>>,
    ready: crossbeam_channel::Sender<Result<(), StartError>>,
    seed: u64,
) -> Result<(), StartError> {
    let (tx, mut rx) = mesh
        .join()
        .await
        .map_err(|_| StartError::Shard("cannot join the channel mesh".into()))?;
    let id = tx.peer_id();
    let shards = spec.shards.max(1);
    let control = receivers
        .lock()
        .map_err(|_| StartError::Shard("control channels poisoned".into()))?
        .get_mut(id)
        .and_then(Option::take)
        .ok_or_else(|| StartError::Shard(format!("no control channel for shard {id}")))?;
    let mut core = RouterCore::new(id as ShardId, shards as u16, seed);
    core.advance(now_ms());
    for (i, r) in spec.realms.iter().enumerate() {
        core.start_realm(i as u32, r.clone())
            .map_err(|e| StartError::Config(format!("realm '{}': {e}", r.name)))?;
        if let Some((_, only)) = spec.realm_transports.iter().find(|(n, _)| *n == r.name) {
            core.limit_realm_to(i as u32, Some(only.clone()));
        }
    }
    for l in &spec.listeners {
        let auth = Authenticator::new(&l.auth)
            .map_err(|e| StartError::Config(format!("transport '{}': {e}", l.name)))?;
        core.set_transport(l.id, auth);
        core.set_transport_limits(l.id, l.limits.into());
    }
    let shard = Rc::new(Shard {
        id: id as ShardId,
        core: RefCell::new(core),
        conns: RefCell::new(crate::router::HashMap::default()),
        next_conn: std::cell::Cell::new(1),
        mesh: RefCell::new(Some(Rc::new(tx))),
        overflow: RefCell::new((0..shards).map(|_| VecDeque::new()).collect()),
        flushing: RefCell::new(vec![false; shards]),
        scratch: RefCell::new(Vec::new()),
        timer: outbox::Notify::default(),
        stopping: std::cell::Cell::new(false),
        going_away: std::cell::Cell::new(false),
    });
    SHARD.with(|s| *s.borrow_mut() = Some(shard.clone()));

    // Peer messages.
    let mut tasks = Vec::new();
    for (from, stream) in rx.streams() {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            while let Some(msg) = stream.recv().await {
                {
                    let mut core = shard.core.borrow_mut();
                    core.advance(now_ms());
                    core.peer(from as ShardId, msg);
                }
                shard.pump();
            }
        }));
    }
    // Timers.
    {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            loop {
                let next = shard.core.borrow().next_deadline();
                match next {
                    None => shard.timer.wait(u64::MAX).await,
                    Some(at) => {
                        let now = now_ms();
                        if at > now {
                            shard
                                .timer
                                .wait_until(at, Duration::from_millis(at - now))
                                .await;
                        }
                    }
                }
                shard.core.borrow_mut().advance(now_ms());
                shard.pump();
            }
        }));
    }
    // Runtime figures: outgoing queue depth and loop stalls, sampled every 100 ms.
    {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            let mut stalls = 0u64;
            let (ev, call) = (
                crate::wamp::message::MessageType::Event.index(),
                crate::wamp::message::MessageType::Call.index(),
            );
            let mut window: VecDeque<(u64, u64)> = VecDeque::new();
            loop {
                let before = Instant::now();
                glommio::timer::sleep(Duration::from_millis(100)).await;
                if before.elapsed() > Duration::from_millis(150) {
                    stalls += 1;
                }
                let queued: usize = shard.conns.borrow().values().map(|o| o.len()).sum();
                let mut core = shard.core.borrow_mut();
                core.note_runtime(queued as u64, stalls);
                let now = (core.stats().sent[ev], core.stats().received[call]);
                window.push_back(now);
                if window.len() > 11 {
                    window.pop_front();
                }
                if let Some(first) = window.front() {
                    // samples are 100 ms apart: a window of n samples spans (n - 1) / 10 s
                    let spans = (window.len() as u64 - 1).max(1);
                    core.note_rates(
                        (now.0 - first.0) * 10 / spans,
                        (now.1 - first.1) * 10 / spans,
                    );
                }
            }
        }));
    }
    // Listeners.
    let mut listeners: HashMap<TransportId, glommio::Task<()>> = HashMap::new();
    for l in &spec.listeners {
        if let Some(task) = spawn_listener(&shard, l)? {
            listeners.insert(l.id, task);
        }
    }
    // Components: the start-up ones arrive as control messages.
    let mut components: HashMap<String, crate::component::Running> = HashMap::new();
    let _ = ready.send(Ok(()));
    log::debug!("shard {id} running");

    // The control loop.
    while let Some(msg) = control.recv().await {
        match msg {
            ControlMsg::Invoke(f) => {
                f(&mut shard.core.borrow_mut());
                shard.pump();
            }
            ControlMsg::StartListener { spec, reply } => {
                let r = match Authenticator::new(&spec.auth) {
                    Err(e) => Err(e.to_string()),
                    Ok(auth) => {
                        let mut core = shard.core.borrow_mut();
                        core.set_transport(spec.id, auth);
                        core.set_transport_limits(spec.id, spec.limits.into());
                        drop(core);
                        match spawn_listener(&shard, &spec) {
                            Ok(Some(task)) => {
                                listeners.insert(spec.id, task);
                                Ok(())
                            }
                            Ok(None) => Ok(()),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                };
                reply.send(r);
            }
            ControlMsg::Spawn(f) => {
                tasks.push(glommio::spawn_local(f()));
            }
            ControlMsg::StopListener { id, close, reply } => {
                drop(listeners.remove(&id));
                if let Some(reason) = close {
                    shard.core.borrow_mut().close_transport(id, &reason);
                    shard.going_away.set(true);
                    shard.pump();
                    shard.going_away.set(false);
                }
                reply.send(Ok(()));
            }
            ControlMsg::StartComponent {
                config,
                registry,
                transport,
                reply,
            } => {
                let r = match registry.build(&config) {
                    Err(e) => Err(e),
                    Ok(component) => {
                        let auth = crate::router::auth::TransportAuth {
                            anonymous: Some(crate::router::auth::AuthMethodConfig::Static(
                                crate::router::auth::AnonymousStatic {
                                    role: config.role.clone(),
                                    authid: Some(config.id.clone()),
                                },
                            )),
                            ..Default::default()
                        };
                        match Authenticator::new(&auth) {
                            Err(e) => Err(e.to_string()),
                            Ok(a) => {
                                shard.core.borrow_mut().set_transport(transport, a);
                                let running = crate::component::start(
                                    &shard,
                                    component,
                                    &config.realm,
                                    transport,
                                );
                                if let Some(old) = components.insert(config.id.clone(), running) {
                                    old.stop();
                                }
                                Ok(())
                            }
                        }
                    }
                };
                reply.send(r);
            }
            ControlMsg::StopComponent { id, reply } => {
                let r = match components.remove(&id) {
                    Some(c) => {
                        c.stop();
                        Ok(())
                    }
                    None => Err(format!("no component '{id}' on this shard")),
                };
                reply.send(r);
            }
            ControlMsg::Shutdown { reason } => {
                shard.stopping.set(true);
                drop(std::mem::take(&mut listeners));
                for (_, c) in components.drain() {
                    c.stop();
                }
                shard.core.borrow_mut().shutdown(&reason);
                shard.pump();
                // Let the writers flush their GOODBYEs, within a bound.
                let deadline = Instant::now() + Duration::from_secs(3);
                while !shard.conns.borrow().is_empty() && Instant::now() < deadline {
                    glommio::timer::sleep(Duration::from_millis(5)).await;
                }
                break;
            }
        }
    }
    // Every shard lets go of its mesh ends before any executor exits: a channel
    // end dropped after its peer's executor is gone touches freed memory.
    drop(tasks);
    SHARD.with(|s| *s.borrow_mut() = None);
    if let Some(mesh) = shard.mesh.borrow_mut().take() {
        mesh.close();
    }
    drop(shard);
    log::debug!("shard {id} stopped");
    Ok(())
}

/// Starts accepting on a listener on this shard (`None` when the listener is
/// not for this shard).
fn spawn_listener(
    shard: &Rc<Shard>,
    l: &ListenerSpec,
) -> Result<Option<glommio::Task<()>>, StartError> {
    let id = shard.id as usize;
    if let Some(only) = &l.shards {
        if !only.contains(&id) {
            return Ok(None);
        }
    }
    let l = Rc::new(l.clone());
    let gate = Gate::new(l.limits, l.gauge.clone());
    match &l.endpoint {
        EndpointSpec::Tcp(addr) => {
            let listener = listen_tcp(*addr, l.backlog).map_err(|e| StartError::Bind {
                name: l.name.clone(),
                endpoint: addr.to_string(),
                error: e.to_string(),
            })?;
            let shard = shard.clone();
            Ok(Some(glommio::spawn_local(async move {
                loop {
                    match listener.accept().await {
                        Ok(stream) => {
                            let Some(admission) = admit(&shard, &l, &gate) else {
                                drop(stream);
                                continue;
                            };
                            let nodelay = match &l.kind {
                                ListenerKind::WebSocket(o) => o.tcp_nodelay,
                                ListenerKind::RawSocket(_) => true,
                            };
                            let _ = stream.set_nodelay(nodelay);
                            let peer = stream
                                .peer_addr()
                                .map(|a| a.to_string())
                                .unwrap_or_default();
                            crate::transport::serve(
                                shard.clone(),
                                l.clone(),
                                stream,
                                peer,
                                admission,
                            );
                        }
                        Err(e) => {
                            log::warn!("shard {}: accept on '{}': {e}", shard.id, l.name);
                            glommio::timer::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })))
        }
        EndpointSpec::Unix(path) => {
            if id != 0 {
                return Ok(None);
            }
            let _ = std::fs::remove_file(path);
            let listener =
                glommio::net::UnixListener::bind(path).map_err(|e| StartError::Bind {
                    name: l.name.clone(),
                    endpoint: path.display().to_string(),
                    error: e.to_string(),
                })?;
            let shard = shard.clone();
            Ok(Some(glommio::spawn_local(async move {
                loop {
                    match listener.accept().await {
                        Ok(stream) => {
                            if let Some(admission) = admit(&shard, &l, &gate) {
                                crate::transport::serve(
                                    shard.clone(),
                                    l.clone(),
                                    stream,
                                    "unix".into(),
                                    admission,
                                );
                            }
                        }
                        Err(e) => {
                            log::warn!("shard {}: accept on '{}': {e}", shard.id, l.name);
                            glommio::timer::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })))
        }
    }
}

/// Admits an accepted connection under the transport's caps, or counts and
/// logs (at most every few seconds per listener) that it was refused.
fn admit(shard: &Shard, l: &ListenerSpec, gate: &Gate) -> Option<Admission> {
    match gate.admit() {
        Ok(a) => Some(a),
        Err(refused) => {
            shard.core.borrow_mut().note_connection_refused();
            if let Some(suppressed) = gate.may_log(Instant::now()) {
                log::warn!(
                    "shard {}: transport '{}': connection refused: {refused}{}",
                    shard.id,
                    l.name,
                    if suppressed > 0 {
                        format!(" ({suppressed} more refused since the last report)")
                    } else {
                        String::new()
                    }
                );
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_uring_probe_and_limits() {
        // io_uring works on this kind of machine: a failure is a regression in the probe.
        probe_io_uring().unwrap();
        raise_nofile();
        raise_memlock(1).unwrap();
        assert!(allowed_cpus().is_some_and(|c| !c.is_empty()));
        assert!(matches!(placement(2, Some(&[0])), PoolPlacement::Custom(v) if v.len() == 2));
    }
}
