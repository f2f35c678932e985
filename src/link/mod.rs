//! Router-to-router links (Crossbar.io's rlinks): a realm spanning routers.
//! docs/links.md is the user's page; this module owns a link at run time.
//!
//! A link is two sessions: the **local leg**, an in-process session of the
//! local realm on the shard the link runs on (joined through an internal
//! transport, like a component: [`crate::component::open_session`]), and the
//! **remote leg**, a session dialed to the other router
//! ([`crate::transport::dial::Session`]). When either ends, both are closed
//! — which withdraws everything the link mirrored on both routers — and the
//! link dials again after a backoff (Crossbar.io's: 1 s, ×1.5, at most 60 s,
//! with jitter).
//!
//! Mirroring runs in two [`mirror::Mirror`]s, one per watched router:
//!
//! | config flag | watches | mirrors onto | what then flows |
//! | --- | --- | --- | --- |
//! | `forward_local_events` | local subscriptions | remote | remote events to local subscribers |
//! | `forward_remote_events` | remote subscriptions | local | local events to remote subscribers |
//! | `forward_local_invocations` | local registrations | remote | remote calls to local callees |
//! | `forward_remote_invocations` | remote registrations | local | local calls to remote callees |
//!
//! A subscription or registration is mirrored while it has a member that
//! is interest by the topology rule ([`topology::Topology::is_interest`]: a
//! client, or another link's leg whose far router is not linked to the
//! other router; never the link's own leg), with its match policy (exact, prefix,
//! wildcard) and, for registrations, its invocation policy. Existing ones are
//! listed when the legs join (`wamp.subscription.list`, ...), later ones
//! follow the meta events; every change re-reads the one entry it names, so
//! the order meta events arrive in does not matter.
//!
//! Loops: events and calls are relayed with `exclude_me` and `forward_for`
//! extended by the relaying leg; a link drops what already carries an entry
//! of one of its own legs (it has crossed this link before), and
//! `forward_for` is bounded ([`crate::router::options`]'s
//! `MAX_FORWARD_HOPS`). Exactly-once on any tree of full meshes comes from
//! [`topology`]: interest and events are not relayed toward a router that
//! hears them directly. [`placement`] picks a link's shard. docs/links.md
//! says why and what that gives per topology.

pub mod mirror;
pub mod placement;
pub mod queue;
pub mod remote;
pub mod topology;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::auth::Anonymous;
use crate::component::ComponentHost;
use crate::config::rlink::RLinkConfig;
use crate::router::TransportId;
use crate::transport::dial::Session;
use crate::wamp::value::{Dict, Value};

/// The internal role a link's local leg joins under: it may do everything
/// on the realm (it acts for the other router's sessions, whose own router
/// authorized them).
pub const LOCAL_ROLE: &str = "shardwamp.rlink";

/// The internal role's configuration (the controller adds it to a realm
/// that has links).
pub fn local_role() -> crate::config::role::RoleConfig {
    crate::config::role::RoleConfig {
        name: LOCAL_ROLE.into(),
        permissions: Vec::new(),
        authorizer: None,
        allow_by_default: true,
    }
}

/// The most a link queues for the other router by default (its
/// `queue_limit_bytes`): past it, events are dropped and calls refused;
/// [`queue`] says what else.
pub const MAX_BACKLOG_BYTES: usize = crate::config::rlink::DEFAULT_QUEUE_LIMIT_BYTES as usize;

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Dialing the other router and joining both legs.
    Connecting = 0,
    /// Both legs joined: mirroring.
    Connected = 1,
    /// Waiting before the next try.
    Backoff = 2,
    /// Stopped.
    Stopped = 3,
}

impl LinkState {
    /// The state's name in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Backoff => "backoff",
            LinkState::Stopped => "stopped",
        }
    }
}

/// A link's figures, shared with the controller (any thread reads them).
#[derive(Debug, Default)]
pub struct LinkStats {
    state: AtomicU8,
    /// Times the link connected again after being connected.
    pub reconnects: AtomicU64,
    /// Tries to connect that failed.
    pub connect_failures: AtomicU64,
    /// Events published here and relayed to the other router.
    pub events_local_to_remote: AtomicU64,
    /// Events published there and relayed here.
    pub events_remote_to_local: AtomicU64,
    /// Calls made here and relayed to a callee there.
    pub calls_local_to_remote: AtomicU64,
    /// Calls made there and relayed to a callee here.
    pub calls_remote_to_local: AtomicU64,
    /// Events and calls not relayed because they had crossed this link before.
    pub loops_dropped: AtomicU64,
    /// Events not relayed because the other router was too far behind
    /// (the leg's queue over `queue_limit_bytes`).
    pub events_dropped: AtomicU64,
    /// Calls not relayed because the other router was too far behind
    /// (answered with [`queue::ERROR_LINK_BEHIND`]).
    pub calls_dropped: AtomicU64,
    /// Times the link closed because the other router stopped reading
    /// (the remote leg's queue over twice `queue_limit_bytes`).
    pub queue_overflows: AtomicU64,
    /// Bytes the remote leg has queued and not written, now.
    pub queued_bytes: AtomicU64,
    /// Subscriptions mirrored now (both ways).
    pub subscriptions_mirrored: AtomicU64,
    /// Registrations mirrored now (both ways).
    pub registrations_mirrored: AtomicU64,
    /// Mirrors the other router refused (a registration that exists there, say).
    pub mirror_failures: AtomicU64,
    /// The remote leg's session id (0 when not connected).
    pub remote_session: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl LinkStats {
    /// The link's state.
    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Relaxed) {
            0 => LinkState::Connecting,
            1 => LinkState::Connected,
            2 => LinkState::Backoff,
            _ => LinkState::Stopped,
        }
    }

    /// Sets the state.
    pub fn set_state(&self, s: LinkState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// The last error (dialing, joining, the connection ending).
    pub fn last_error(&self) -> Option<String> {
        match self.last_error.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_error(&self, e: String) {
        match self.last_error.lock() {
            Ok(mut g) => *g = Some(e),
            Err(p) => *p.into_inner() = Some(e),
        }
    }

    /// The figures as a dict (the controller's link detail).
    pub fn to_dict(&self) -> Dict {
        let n = |a: &AtomicU64| Value::UInt(a.load(Ordering::Relaxed));
        crate::dict! {
            "state" => self.state().as_str(),
            "connected" => self.state() == LinkState::Connected,
            "reconnects" => n(&self.reconnects),
            "connect_failures" => n(&self.connect_failures),
            "last_error" => self.last_error().map_or(Value::Null, Value::Str),
            "remote_session" => n(&self.remote_session),
            "events_forwarded" => Value::Dict(crate::dict! {
                "local_to_remote" => n(&self.events_local_to_remote),
                "remote_to_local" => n(&self.events_remote_to_local),
            }),
            "calls_forwarded" => Value::Dict(crate::dict! {
                "local_to_remote" => n(&self.calls_local_to_remote),
                "remote_to_local" => n(&self.calls_remote_to_local),
            }),
            "loops_dropped" => n(&self.loops_dropped),
            "events_dropped" => n(&self.events_dropped),
            "calls_dropped" => n(&self.calls_dropped),
            "queue_overflows" => n(&self.queue_overflows),
            "queued_bytes" => n(&self.queued_bytes),
            "subscriptions_mirrored" => n(&self.subscriptions_mirrored),
            "registrations_mirrored" => n(&self.registrations_mirrored),
            "mirror_failures" => n(&self.mirror_failures),
        }
    }
}

/// What a link needs to run.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// The link's id.
    pub id: String,
    /// The local realm.
    pub realm: String,
    /// Its configuration.
    pub config: RLinkConfig,
    /// The internal transport its local leg joins through.
    pub transport: TransportId,
}

/// The two legs of a connected link.
#[derive(Clone)]
struct Legs {
    local: Session,
    remote: Session,
}

impl Legs {
    /// Closes both legs at once: each router removes what the leg held.
    fn close(&self) {
        self.local.abort();
        self.remote.abort();
    }
}

/// A running link; [`Running::stop`] ends it and removes its mirrors.
pub struct Running {
    legs: Rc<RefCell<Option<Legs>>>,
    stats: Arc<LinkStats>,
    task: Option<glommio::Task<()>>,
}

impl Running {
    /// Stops the link: both legs close (each router withdraws what they
    /// mirrored) and it dials no more.
    pub fn stop(mut self) {
        self.task.take();
        if let Some(l) = self.legs.borrow_mut().take() {
            l.close();
        }
        self.stats.set_state(LinkState::Stopped);
        self.stats.remote_session.store(0, Ordering::Relaxed);
    }
}

/// Starts link `spec` on `host` (its shard); `stats` are its figures.
pub fn start<H: ComponentHost + 'static>(
    host: &Rc<H>,
    spec: LinkSpec,
    stats: Arc<LinkStats>,
) -> Running {
    let legs = Rc::new(RefCell::new(None));
    let task = {
        let host = host.clone();
        let legs = legs.clone();
        let stats = stats.clone();
        glommio::spawn_local(async move { run(host, spec, stats, legs).await })
    };
    Running {
        legs,
        stats,
        task: Some(task),
    }
}

/// Connects, serves until a leg ends, and again after a backoff, forever.
async fn run<H: ComponentHost + 'static>(
    host: Rc<H>,
    spec: LinkSpec,
    stats: Arc<LinkStats>,
    slot: Rc<RefCell<Option<Legs>>>,
) {
    let mut attempt: u32 = 0;
    let mut was_connected = false;
    loop {
        stats.set_state(LinkState::Connecting);
        match connect(&host, &spec).await {
            Ok(legs) => {
                attempt = 0;
                if was_connected {
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                was_connected = true;
                stats
                    .remote_session
                    .store(legs.remote.id(), Ordering::Relaxed);
                stats.set_state(LinkState::Connected);
                log::info!(
                    "link '{}' of realm '{}' connected to {} (realm '{}')",
                    spec.id,
                    spec.realm,
                    spec.config.transport.endpoint,
                    spec.config.realm
                );
                *slot.borrow_mut() = Some(legs.clone());
                let why = serve(&spec, &legs, &stats).await;
                slot.borrow_mut().take();
                legs.close();
                stats.remote_session.store(0, Ordering::Relaxed);
                log::warn!("link '{}' of realm '{}' lost: {why}", spec.id, spec.realm);
                stats.set_error(why);
            }
            Err(e) => {
                stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "link '{}' of realm '{}' could not connect to {}: {e}",
                    spec.id,
                    spec.realm,
                    spec.config.transport.endpoint
                );
                stats.set_error(e);
            }
        }
        stats.set_state(LinkState::Backoff);
        let unit: f64 = rand::random();
        let delay = spec.config.reconnect.jittered_ms(attempt, unit);
        attempt = attempt.saturating_add(1);
        glommio::timer::sleep(Duration::from_millis(delay)).await;
    }
}

/// Mirrors both ways until either leg ends; answers why it ended.
async fn serve(spec: &LinkSpec, legs: &Legs, stats: &Arc<LinkStats>) -> String {
    let c = &spec.config;
    let limit = usize::try_from(c.queue_limit_bytes).unwrap_or(usize::MAX);
    let own = Rc::new([legs.local.id(), legs.remote.id()]);
    let topology =
        topology::Topology::start(legs.local.clone(), legs.remote.clone(), &spec.id).await;
    // Watches the local router: its subscriptions and registrations are
    // mirrored on the remote one.
    let at_local = mirror::Mirror::start(mirror::Setup {
        watch: legs.local.clone(),
        act: legs.remote.clone(),
        subscriptions: c.forward_local_events,
        registrations: c.forward_local_invocations,
        exclude_authid: Vec::new(),
        own: own.clone(),
        stats: stats.clone(),
        toward_local: true,
        link: spec.id.clone(),
        queue_limit: limit,
        topology: topology.clone(),
        watched: topology::Side::Local,
    });
    let at_remote = mirror::Mirror::start(mirror::Setup {
        watch: legs.remote.clone(),
        act: legs.local.clone(),
        subscriptions: c.forward_remote_events,
        registrations: c.forward_remote_invocations,
        exclude_authid: c.exclude_authid.clone(),
        own,
        stats: stats.clone(),
        toward_local: false,
        link: spec.id.clone(),
        queue_limit: limit,
        topology: topology.clone(),
        watched: topology::Side::Remote,
    });
    let local = async {
        let c = legs.local.closed().await;
        format!("the local leg ended ({})", c.reason)
    };
    let remote = async {
        let c = legs.remote.closed().await;
        format!("the remote leg ended ({} {})", c.reason, c.message())
    };
    let stalled = queue::overflow(&legs.remote, limit, stats);
    let why = futures_lite::future::or(futures_lite::future::or(local, remote), stalled).await;
    stats.queued_bytes.store(0, Ordering::Relaxed);
    at_local.stop();
    at_remote.stop();
    topology.stop();
    why
}

/// Joins the local leg, then dials and joins the remote one.
async fn connect<H: ComponentHost + 'static>(
    host: &Rc<H>,
    spec: &LinkSpec,
) -> Result<Legs, String> {
    let details = crate::dict! { "type" => "rlink", "rlink" => spec.id.as_str() };
    let local = crate::component::open_session(
        host,
        &spec.realm,
        spec.transport,
        details,
        Box::new(Anonymous::default()),
        // The remote leg's serializer: payloads relayed either way then go
        // on as they came, without transcoding.
        remote::serializer(&spec.config),
    )
    .await
    .map_err(|e| format!("local leg: {e}"))?;
    match remote::dial(&spec.config).await {
        Ok(remote) => Ok(Legs { local, remote }),
        Err(e) => {
            local.abort();
            Err(e)
        }
    }
}
