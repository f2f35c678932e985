//! The control plane: Crossbar.io's `RouterController` operations on a running
//! router — realms, roles, transports, components, `kill_by_authid`,
//! `has_realm`, `has_role`, realm statistics — plus per-shard statistics and
//! the running configuration read back as TOML.
//!
//! The [`Controller`] fans each operation out to the shards over their control
//! channels and reduces the answers (Seastar's `invoke_on_all` /
//! `map_reduce`). Every operation is `async` so that it can run on a shard
//! (the management component answers `shardwamp.router.<operation>` WAMP
//! calls); [`Controller::call_blocking`] serves other threads (the CLI, tests).

pub mod admin;
pub mod events;
pub mod management;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bridge::BridgeFigures;
use crate::component::Registry;
use crate::config::realm::RealmConfig;
use crate::config::role::RoleConfig;
use crate::config::{ComponentConfig, Config, TransportConfig};
use crate::router::stats::{RealmStats, ShardStats};
use crate::router::{RealmId, TransportId};
use crate::shard::{self, ControlMsg, CoreOp, OpError, RouterHandle, RouterSpec, StartError};
use crate::transport::{self, Bound, EndpointSpec, ListenerSpec};
use crate::wamp::message::MessageType;
use crate::wamp::value::{Dict, Value};

/// Transport ids from here up are the components' internal transports.
pub const COMPONENT_TRANSPORT_BASE: TransportId = 1 << 30;

/// A failed control operation. Each kind answers with its error URI
/// ([`CtlError::uri`]) and a message ([`CtlError::message`]); shown as
/// `uri: message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CtlError {
    /// No such realm, role, transport or component.
    #[error("{ERROR_NO_SUCH_OBJECT}: {0}")]
    NoSuchObject(String),
    /// The id is already running.
    #[error("{ERROR_ALREADY_RUNNING}: {0}")]
    AlreadyRunning(String),
    /// An object of this id or name already exists (Crossbar.io's
    /// `crossbar.error.already_exists`, for roles).
    #[error("{ERROR_ALREADY_EXISTS}: {0}")]
    AlreadyExists(String),
    /// The configuration given is not valid.
    #[error("{ERROR_INVALID_CONFIGURATION}: {0}")]
    InvalidConfiguration(String),
    /// The arguments are not what the operation takes.
    #[error("{ERROR_INVALID_ARGUMENT}: {0}")]
    InvalidArgument(String),
    /// No operation of this name.
    #[error("{uri}: {0}", uri = crate::wamp::uris::ERROR_NO_SUCH_PROCEDURE)]
    NoSuchOperation(String),
    /// A shard refused or failed the operation.
    #[error("{ERROR_FAILED}: {0}")]
    Shard(#[from] OpError),
    /// The operation failed here (not on a shard).
    #[error("{ERROR_FAILED}: {0}")]
    Failed(String),
}

impl CtlError {
    /// The error URI the management realm answers with.
    pub fn uri(&self) -> &'static str {
        match self {
            CtlError::NoSuchObject(_) => ERROR_NO_SUCH_OBJECT,
            CtlError::AlreadyRunning(_) => ERROR_ALREADY_RUNNING,
            CtlError::AlreadyExists(_) => ERROR_ALREADY_EXISTS,
            CtlError::InvalidConfiguration(_) => ERROR_INVALID_CONFIGURATION,
            CtlError::InvalidArgument(_) => ERROR_INVALID_ARGUMENT,
            CtlError::NoSuchOperation(_) => crate::wamp::uris::ERROR_NO_SUCH_PROCEDURE,
            CtlError::Shard(_) | CtlError::Failed(_) => ERROR_FAILED,
        }
    }

    /// What went wrong.
    pub fn message(&self) -> String {
        match self {
            CtlError::NoSuchObject(m)
            | CtlError::AlreadyRunning(m)
            | CtlError::AlreadyExists(m)
            | CtlError::InvalidConfiguration(m)
            | CtlError::InvalidArgument(m)
            | CtlError::NoSuchOperation(m)
            | CtlError::Failed(m) => m.clone(),
            CtlError::Shard(e) => e.to_string(),
        }
    }
}

/// No such realm, role, transport or component.
pub const ERROR_NO_SUCH_OBJECT: &str = "shardwamp.error.no_such_object";
/// The id is already running.
pub const ERROR_ALREADY_RUNNING: &str = "shardwamp.error.already_running";
/// An object of this id or name already exists.
pub const ERROR_ALREADY_EXISTS: &str = "shardwamp.error.already_exists";
/// The configuration given is not valid.
pub const ERROR_INVALID_CONFIGURATION: &str = "shardwamp.error.invalid_configuration";
/// The arguments are not what the operation takes.
pub const ERROR_INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
/// The operation failed on a shard.
pub const ERROR_FAILED: &str = "shardwamp.error.operation_failed";

/// Converts a serde_json value into a WAMP value.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::UInt(u),
            (_, Some(i), _) => Value::from(i),
            (_, _, Some(f)) => Value::Float(f),
            _ => Value::Null,
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Dict(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Converts a WAMP value into a serde_json value (bytes become base64 strings).
pub fn to_json(v: &Value) -> serde_json::Value {
    use base64::Engine as _;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Bytes(b) => {
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Dict(d) => {
            serde_json::Value::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn serialize<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t)
        .map(|j| from_json(&j))
        .unwrap_or(Value::Null)
}

/// A configuration of just these transports and components, secrets redacted
/// ([`Config::redacted`]).
/// A web path's config with its secrets redacted.
fn redacted_path(p: &crate::config::web::WebPath) -> crate::config::web::WebPath {
    use crate::config::web::WebPath;
    let mut c = p.clone();
    match &mut c {
        WebPath::Publisher(b) | WebPath::Caller(b) | WebPath::Webhook(b) => {
            b.options = b.options.redacted();
        }
        WebPath::Websocket(w) => {
            let t = TransportConfig::Websocket(crate::config::WebSocketTransport {
                id: String::new(),
                endpoint: crate::config::Endpoint::Tcp(crate::config::TcpEndpoint::new(0)),
                url: "/".into(),
                serializers: w.serializers.clone(),
                options: w.options.clone(),
                auth: w.auth.clone(),
            });
            if let Some(TransportConfig::Websocket(r)) =
                redacted(vec![t], Vec::new()).transports.into_iter().next()
            {
                w.auth = r.auth;
            }
        }
    }
    c
}

fn redacted(transports: Vec<TransportConfig>, components: Vec<ComponentConfig>) -> Config {
    Config {
        transports,
        components,
        ..Config::default()
    }
    .redacted()
}

fn deserialize<T: DeserializeOwned>(v: &Value, what: &str) -> Result<T, CtlError> {
    serde_json::from_value(to_json(v))
        .map_err(|e| CtlError::InvalidConfiguration(format!("{what}: {e}")))
}

/// A running realm.
#[derive(Debug, Clone)]
struct RealmEntry {
    rid: RealmId,
    /// Its configuration; `config.roles` are the roles it runs.
    config: RealmConfig,
    created: String,
    /// Its roles by run-time id (a configured role's id is its name).
    roles: BTreeMap<String, RoleEntry>,
}

impl RealmEntry {
    fn new(rid: RealmId, config: RealmConfig, created: String) -> RealmEntry {
        let roles = config
            .roles
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    RoleEntry {
                        name: r.name.clone(),
                        created: created.clone(),
                    },
                )
            })
            .collect();
        RealmEntry {
            rid,
            config,
            created,
            roles,
        }
    }

    /// The role of run-time id `id`: its detail, `{id, config, created}` as
    /// Crossbar.io's `RouterRealmRole.marshal()`.
    fn role_detail(&self, id: &str) -> Option<Value> {
        let entry = self.roles.get(id)?;
        let config = self.config.roles.iter().find(|c| c.name == entry.name)?;
        Some(Value::Dict(crate::dict! {
            "id" => id,
            "config" => serialize(config),
            "created" => entry.created.as_str(),
        }))
    }
}

/// A running role: its name (the authrole) and when it started.
#[derive(Debug, Clone)]
struct RoleEntry {
    name: String,
    created: String,
}

/// A running transport.
#[derive(Debug, Clone)]
struct TransportEntry {
    tid: TransportId,
    config: TransportConfig,
    bound: Bound,
    created: String,
    /// Its TLS (shared with every shard's listener), for reloads.
    tls: Option<Arc<transport::TlsServer>>,
    /// A web or universal transport's listener spec (its path table), for
    /// starting and stopping its services.
    web: Option<ListenerSpec>,
}

/// A running router link.
#[derive(Debug, Clone)]
struct LinkEntry {
    config: crate::config::rlink::RLinkConfig,
    shard: usize,
    started: String,
    /// Who started it: `{"source": "config"}` or `{"source": "controller"}`.
    started_by: &'static str,
    stats: Arc<crate::link::LinkStats>,
}

/// A running component.
#[derive(Debug, Clone)]
struct ComponentEntry {
    config: ComponentConfig,
    shard: usize,
    created: String,
}

#[derive(Debug, Default)]
struct State {
    realms: BTreeMap<String, RealmEntry>,
    next_realm: RealmId,
    transports: BTreeMap<String, TransportEntry>,
    next_transport: TransportId,
    components: BTreeMap<String, ComponentEntry>,
    next_component: TransportId,
    /// Router links by (realm id, link id).
    links: BTreeMap<(String, String), LinkEntry>,
}

/// Controls a running router. See the module docs.
pub struct Controller {
    handle: RouterHandle,
    state: Mutex<State>,
    base: Config,
    registry: Arc<Registry>,
    admin_addr: Mutex<Option<std::net::SocketAddr>>,
    /// Who hears the controller's events (the management component).
    events: events::Events,
}

fn now_iso() -> String {
    crate::router::iso8601(shard::now_ms())
}

/// Every operation, by Crossbar.io's name.
/// One controller operation: its name (served as `shardwamp.router.<name>`),
/// its arguments in order (`[name]` when optional) and what it does. The one
/// list that the management component registers, `shardwamp ctl --help` prints
/// and docs/operations.md documents.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The operation's name (Crossbar.io's).
    pub name: &'static str,
    /// Its arguments, in order; `[name]` is optional.
    pub args: &'static [&'static str],
    /// What it does, in a few words.
    pub summary: &'static str,
}

/// Every operation the controller serves.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "get_router_realms",
        args: &[],
        summary: "the ids of the running realms",
    },
    Operation {
        name: "get_router_realm",
        args: &["realm_id"],
        summary: "a realm's detail",
    },
    Operation {
        name: "get_router_realm_by_name",
        args: &["realm_name"],
        summary: "a realm's detail, by its name",
    },
    Operation {
        name: "get_router_realm_stats",
        args: &["[realm_id]"],
        summary: "session and message counts, of one realm or all",
    },
    Operation {
        name: "start_router_realm",
        args: &["realm_id", "realm_config"],
        summary: "starts a realm",
    },
    Operation {
        name: "stop_router_realm",
        args: &["realm_id", "[close_sessions]"],
        summary: "stops a realm",
    },
    Operation {
        name: "has_realm",
        args: &["realm"],
        summary: "whether a realm of this name runs",
    },
    Operation {
        name: "get_router_realm_roles",
        args: &["realm_id"],
        summary: "the ids of a realm's roles",
    },
    Operation {
        name: "get_router_realm_role",
        args: &["realm_id", "role_id"],
        summary: "a role's detail",
    },
    Operation {
        name: "start_router_realm_role",
        args: &["realm_id", "role_id", "role_config"],
        summary: "adds a role to a realm",
    },
    Operation {
        name: "stop_router_realm_role",
        args: &["realm_id", "role_id"],
        summary: "removes a role from a realm",
    },
    Operation {
        name: "has_role",
        args: &["realm", "authrole"],
        summary: "whether a realm has a role of this name",
    },
    Operation {
        name: "clear_authorizer_cache",
        args: &["realm_id", "[role_id]"],
        summary: "drops the cached answers of dynamic authorizers, of a realm or one role",
    },
    Operation {
        name: "get_router_transports",
        args: &[],
        summary: "the ids of the running transports",
    },
    Operation {
        name: "get_router_transport",
        args: &["transport_id"],
        summary: "a transport's detail",
    },
    Operation {
        name: "start_router_transport",
        args: &["transport_id", "config", "[create_paths]"],
        summary: "starts a transport (a web transport: with create_paths, every path of its config; else its root path only)",
    },
    Operation {
        name: "stop_router_transport",
        args: &["transport_id", "[close_sessions]"],
        summary: "stops a transport",
    },
    Operation {
        name: "get_web_transport_services",
        args: &["transport_id"],
        summary: "the paths a web transport serves",
    },
    Operation {
        name: "get_web_transport_service",
        args: &["transport_id", "path"],
        summary: "the service on a web transport's path",
    },
    Operation {
        name: "start_web_transport_service",
        args: &["transport_id", "path", "config"],
        summary: "starts a service (websocket, publisher, caller, webhook) on a web transport's path",
    },
    Operation {
        name: "stop_web_transport_service",
        args: &["transport_id", "path"],
        summary: "stops the service on a web transport's path (its sessions are closed)",
    },
    Operation {
        name: "get_router_components",
        args: &[],
        summary: "the ids of the running components",
    },
    Operation {
        name: "get_router_component",
        args: &["component_id"],
        summary: "a component's detail",
    },
    Operation {
        name: "start_router_component",
        args: &["component_id", "config"],
        summary: "starts a component",
    },
    Operation {
        name: "stop_router_component",
        args: &["component_id"],
        summary: "stops a component",
    },
    Operation {
        name: "get_router_realm_links",
        args: &["realm_id"],
        summary: "the ids of a realm's router links",
    },
    Operation {
        name: "get_router_realm_link",
        args: &["realm_id", "link_id"],
        summary: "a router link's detail and figures",
    },
    Operation {
        name: "start_router_realm_link",
        args: &["realm_id", "link_id", "link_config"],
        summary: "starts a router link",
    },
    Operation {
        name: "stop_router_realm_link",
        args: &["realm_id", "link_id"],
        summary: "stops a router link, removing what it mirrored",
    },
    Operation {
        name: "kill_by_authid",
        args: &["realm_id", "authid", "[reason]", "[message]"],
        summary: "closes every session of an authid",
    },
    Operation {
        name: "get_router_shard_stats",
        args: &[],
        summary: "each shard's counters",
    },
    Operation {
        name: "get_running_config",
        args: &[],
        summary: "the running configuration, as TOML",
    },
    Operation {
        name: "reload_router_transport_tls",
        args: &["[transport_id]"],
        summary: "reads TLS certificates and keys again, of one transport or all",
    },
];

/// The operation of this name.
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == name)
}

/// Every operation with its arguments, one a line (`ctl --help`, and `ctl`'s
/// answer to an unknown operation).
pub fn operations_help() -> String {
    let lines: Vec<String> = OPERATIONS
        .iter()
        .map(|o| {
            let sig = std::iter::once(o.name)
                .chain(o.args.iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            format!("  {sig:<56} {}", o.summary)
        })
        .collect();
    lines.join("\n")
}

impl Controller {
    /// Starts a router from a configuration: shards, realms, transports, then
    /// the configured components (the management component on the
    /// management realm first, when one is configured).
    pub fn start(config: Config, registry: Registry) -> Result<Arc<Controller>, StartError> {
        let mut spec = RouterSpec::from_config(&config)?;
        if let Some(m) = &config.management {
            for r in &mut spec.realms {
                if r.name == m.realm {
                    // The management realm is closed to anonymous sessions unless the config allows them.
                    if !m.allow_anonymous {
                        r.options.allow_anonymous = false;
                    }
                    // The management component's own role: it registers the procedures.
                    r.roles.push(management::role());
                }
            }
            // Only through its transport, when one is named: elsewhere the
            // management realm does not exist.
            if let Some(t) = &m.transport {
                if let Some(i) = config.transports.iter().position(|c| c.id() == t) {
                    // A web or universal transport's sessions come through its paths' ids.
                    let ids = spec
                        .listeners
                        .iter()
                        .find(|l| l.id == i as TransportId)
                        .map_or_else(|| vec![i as TransportId], |l| l.session_transports());
                    spec.realm_transports.push((m.realm.clone(), ids));
                }
            }
        }
        let handle = shard::start(spec.clone())?;
        let now = now_iso();
        let mut state = State::default();
        for (i, r) in spec.realms.iter().enumerate() {
            let mut config = r.clone();
            config.roles.retain(|role| role.name != management::ROLE);
            state.realms.insert(
                r.name.clone(),
                RealmEntry::new(i as RealmId, config, now.clone()),
            );
        }
        state.next_realm = spec.realms.len() as RealmId;
        for (i, t) in config.transports.iter().enumerate() {
            let bound = handle
                .bound()
                .iter()
                .find(|b| b.transport == i as TransportId)
                .cloned();
            if let Some(bound) = bound {
                state.transports.insert(
                    t.id().to_owned(),
                    TransportEntry {
                        tid: i as TransportId,
                        config: t.clone(),
                        bound,
                        created: now.clone(),
                        tls: spec
                            .listeners
                            .iter()
                            .find(|l| l.id == i as TransportId)
                            .and_then(|l| l.tls.clone()),
                        web: spec
                            .listeners
                            .iter()
                            .find(|l| l.id == i as TransportId)
                            .filter(|l| l.web().is_some())
                            .cloned(),
                    },
                );
            }
        }
        state.next_transport = config.transports.len() as TransportId;
        state.next_component = COMPONENT_TRANSPORT_BASE;
        let components = config.components.clone();
        let management = config.management.clone();
        let controller = Arc::new_cyclic(|weak: &Weak<Controller>| {
            let mut registry = registry;
            management::register(&mut registry, weak.clone());
            Controller {
                handle,
                state: Mutex::new(state),
                base: config,
                registry: Arc::new(registry),
                admin_addr: Mutex::new(None),
                events: events::Events::default(),
            }
        });
        if let Some(m) = management {
            let c = ComponentConfig {
                id: management::COMPONENT_ID.into(),
                kind: crate::config::ComponentKind::Class,
                realm: m.realm.clone(),
                role: management::ROLE.into(),
                classname: management::CLASSNAME.into(),
                extra: Default::default(),
            };
            futures_lite::future::block_on(controller.start_router_component(&c.id.clone(), c))
                .map_err(|e| StartError::Config(e.to_string()))?;
            // Ready once every shard routes the management procedures.
            let realm = m.realm.clone();
            let last = management::procedure(OPERATIONS[OPERATIONS.len() - 1].name);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let routed = futures_lite::future::block_on(controller.handle.on_all(|reply| {
                    CoreOp::RoutesProcedure {
                        realm: realm.clone(),
                        procedure: last.clone(),
                        reply,
                    }
                }));
                if routed.into_iter().all(|b| b) {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(StartError::Config(
                        "the management component did not register its procedures".into(),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        for c in components {
            futures_lite::future::block_on(controller.start_router_component(&c.id.clone(), c))
                .map_err(|e| StartError::Config(e.to_string()))?;
        }
        // Links last; start-up does not wait for them to connect (as Crossbar.io).
        let mut links: Vec<(String, String, crate::config::rlink::RLinkConfig)> = Vec::new();
        for (id, r) in controller.lock().realms.iter_mut() {
            for (i, l) in r.config.rlinks.iter_mut().enumerate() {
                // Crossbar.io's default ids, made explicit: they stay put
                // when a link before them is stopped.
                l.id = Some(l.id_at(i));
                links.push((id.clone(), l.id_at(i), l.clone()));
            }
        }
        for (realm, id, l) in links {
            futures_lite::future::block_on(controller.start_link(&realm, &id, l, "config"))
                .map_err(|e| StartError::Config(e.to_string()))?;
        }
        if controller.base.admin.enabled {
            admin::start(&controller).map_err(StartError::Config)?;
        }
        Ok(controller)
    }

    /// The runtime handle (listening addresses, shutdown).
    pub fn handle(&self) -> &RouterHandle {
        &self.handle
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn realm(&self, id: &str) -> Result<RealmEntry, CtlError> {
        self.lock()
            .realms
            .get(id)
            .cloned()
            .ok_or_else(|| CtlError::NoSuchObject(format!("no realm '{id}'")))
    }

    // ---- realms ------------------------------------------------------------

    /// Ids of the running realms.
    pub fn get_router_realms(&self) -> Vec<String> {
        self.lock().realms.keys().cloned().collect()
    }

    /// A realm: id, name, created, config, session count and its roles'
    /// details (as [`Controller::get_router_realm_role`] answers them).
    pub async fn get_router_realm(&self, id: &str) -> Result<Value, CtlError> {
        let r = self.realm(id)?;
        let rid = r.rid;
        let sessions: usize = self
            .handle
            .on_all(|reply| CoreOp::LocalSessionCount { realm: rid, reply })
            .await
            .into_iter()
            .sum();
        let mut d = Dict::new();
        d.insert("id".into(), Value::from(id));
        d.insert("name".into(), Value::from(r.config.name.as_str()));
        d.insert("created".into(), Value::Str(r.created.clone()));
        d.insert("sessions".into(), Value::UInt(sessions as u64));
        let mut config = r.config.clone();
        for l in &mut config.rlinks {
            *l = l.redacted();
        }
        d.insert("config".into(), serialize(&config));
        let roles = r.roles.keys().filter_map(|k| r.role_detail(k)).collect();
        d.insert("roles".into(), Value::List(roles));
        Ok(Value::Dict(d))
    }

    /// A realm by name.
    pub async fn get_router_realm_by_name(&self, name: &str) -> Result<Value, CtlError> {
        let id = self
            .lock()
            .realms
            .iter()
            .find(|(_, r)| r.config.name == name)
            .map(|(id, _)| id.clone());
        match id {
            Some(id) => self.get_router_realm(&id).await,
            None => Err(CtlError::NoSuchObject(format!("no realm named '{name}'"))),
        }
    }

    /// Crossbar.io's realm stats, reduced over shards, by realm id (all realms when `None`).
    pub async fn get_router_realm_stats(&self, id: Option<&str>) -> Result<Value, CtlError> {
        let realms: Vec<(String, RealmEntry)> = match id {
            Some(id) => vec![(id.to_owned(), self.realm(id)?)],
            None => self
                .lock()
                .realms
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let mut out = Dict::new();
        for (id, r) in realms {
            let rid = r.rid;
            let per_shard = self
                .handle
                .on_all(|reply| CoreOp::RealmStats { realm: rid, reply })
                .await;
            let mut total = RealmStats::default();
            for s in &per_shard {
                total.merge(s);
            }
            out.insert(id, Value::Dict(total.to_crossbar(r.config.roles.len())));
        }
        Ok(Value::Dict(out))
    }

    /// Starts a realm on every shard.
    pub async fn start_router_realm(
        &self,
        id: &str,
        config: RealmConfig,
    ) -> Result<Value, CtlError> {
        crate::config::realm::check_realm_name(&config.name).map_err(|e| {
            CtlError::InvalidConfiguration(format!("invalid realm name {:?}: {e}", config.name))
        })?;
        crate::router::authz::Roles::from_configs(config.roles.clone())
            .map_err(|e| CtlError::InvalidConfiguration(e.to_string()))?;
        let rid = {
            let mut st = self.lock();
            if st.realms.contains_key(id)
                || st.realms.values().any(|r| r.config.name == config.name)
            {
                return Err(CtlError::AlreadyRunning(format!(
                    "realm '{id}' ({}) is running",
                    config.name
                )));
            }
            let rid = st.next_realm;
            st.next_realm += 1;
            st.realms.insert(
                id.to_owned(),
                RealmEntry::new(rid, config.clone(), now_iso()),
            );
            rid
        };
        let results = self
            .handle
            .on_all(|reply| CoreOp::StartRealm {
                realm: rid,
                config: Box::new(config.clone()),
                reply,
            })
            .await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            self.lock().realms.remove(id);
            return Err(CtlError::Shard(e));
        }
        self.get_router_realm(id).await
    }

    /// Stops a realm: no new sessions; existing ones get GOODBYE
    /// `wamp.close.close_realm` when `close_sessions`. Answers as Crossbar.io:
    /// `{id, name, detached_sessions}`, the ids of the sessions closed, sorted.
    pub async fn stop_router_realm(
        &self,
        id: &str,
        close_sessions: bool,
    ) -> Result<Value, CtlError> {
        let r = self.realm(id)?;
        let rid = r.rid;
        for link in self.get_router_realm_links(id)? {
            self.stop_router_realm_link(id, &link).await?;
        }
        let mut detached: Vec<u64> = self
            .handle
            .on_all(|reply| CoreOp::StopRealm {
                realm: rid,
                close_sessions,
                reply,
            })
            .await
            .into_iter()
            .flatten()
            .collect();
        detached.sort_unstable();
        self.lock().realms.remove(id);
        Ok(Value::Dict(crate::dict! {
            "id" => id,
            "name" => r.config.name.as_str(),
            "detached_sessions" => Value::List(detached.into_iter().map(Value::UInt).collect()),
        }))
    }

    /// Whether a realm of this name runs.
    pub fn has_realm(&self, name: &str) -> bool {
        self.lock().realms.values().any(|r| r.config.name == name)
    }

    // ---- roles ---------------------------------------------------------------

    /// Role ids of a realm (a configured role's id is its name).
    pub fn get_router_realm_roles(&self, realm: &str) -> Result<Vec<String>, CtlError> {
        Ok(self.realm(realm)?.roles.keys().cloned().collect())
    }

    /// A role: `{id, config, created}`.
    pub fn get_router_realm_role(&self, realm: &str, role: &str) -> Result<Value, CtlError> {
        self.realm(realm)?
            .role_detail(role)
            .ok_or_else(|| CtlError::NoSuchObject(format!("no role '{role}' on realm '{realm}'")))
    }

    /// Starts a role under run-time id `role_id`, named `config.name` (the
    /// authrole; `role_id` when empty); it governs from the next action on.
    /// Refuses an id or a name the realm already has, as Crossbar.io does
    /// (`already_exists`). Answers the role's detail.
    pub async fn start_router_realm_role(
        &self,
        realm: &str,
        role_id: &str,
        mut config: RoleConfig,
    ) -> Result<Value, CtlError> {
        if config.name.is_empty() {
            config.name = role_id.to_owned();
        }
        crate::router::authz::Role::new(config.clone())
            .map_err(|e| CtlError::InvalidConfiguration(e.to_string()))?;
        let rid = {
            let mut st = self.lock();
            let management_realm = self.base.management.as_ref().map(|m| m.realm.as_str());
            let r = st
                .realms
                .get_mut(realm)
                .ok_or_else(|| CtlError::NoSuchObject(format!("no realm '{realm}'")))?;
            if r.roles.contains_key(role_id) {
                return Err(CtlError::AlreadyExists(format!(
                    "a role with id '{role_id}' already exists on realm '{realm}'"
                )));
            }
            let reserved =
                management_realm == Some(r.config.name.as_str()) && config.name == management::ROLE;
            if reserved || r.config.roles.iter().any(|c| c.name == config.name) {
                return Err(CtlError::AlreadyExists(format!(
                    "a role named '{}' already exists on realm '{realm}'",
                    config.name
                )));
            }
            // Reserved now, so that a concurrent start sees it.
            r.roles.insert(
                role_id.to_owned(),
                RoleEntry {
                    name: config.name.clone(),
                    created: now_iso(),
                },
            );
            r.config.roles.push(config.clone());
            r.rid
        };
        let results = self
            .handle
            .on_all(|reply| CoreOp::SetRole {
                realm: rid,
                role: Box::new(config.clone()),
                reply,
            })
            .await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            self.handle
                .on_all(|reply| CoreOp::RemoveRole {
                    realm: rid,
                    name: config.name.clone(),
                    reply,
                })
                .await;
            if let Some(r) = self.lock().realms.get_mut(realm) {
                r.roles.remove(role_id);
                r.config.roles.retain(|c| c.name != config.name);
            }
            return Err(CtlError::Shard(e));
        }
        self.get_router_realm_role(realm, role_id)
    }

    /// Stops a role (by run-time id); answers its detail.
    pub async fn stop_router_realm_role(
        &self,
        realm: &str,
        role_id: &str,
    ) -> Result<Value, CtlError> {
        let r = self.realm(realm)?;
        let (Some(entry), Some(detail)) = (r.roles.get(role_id), r.role_detail(role_id)) else {
            return Err(CtlError::NoSuchObject(format!(
                "no role '{role_id}' on realm '{realm}'"
            )));
        };
        let name = entry.name.clone();
        let rid = r.rid;
        self.handle
            .on_all(|reply| CoreOp::RemoveRole {
                realm: rid,
                name: name.clone(),
                reply,
            })
            .await;
        if let Some(r) = self.lock().realms.get_mut(realm) {
            r.roles.remove(role_id);
            r.config.roles.retain(|c| c.name != name);
        }
        Ok(detail)
    }

    /// Drops the cached answers of dynamic authorizers on every shard, of a
    /// realm or (with `role_id`) of one of its roles; answers
    /// `{"realm", "role", "dropped"}`, `dropped` the entries dropped in all.
    pub async fn clear_authorizer_cache(
        &self,
        realm: &str,
        role_id: Option<&str>,
    ) -> Result<Value, CtlError> {
        let (rid, name) = {
            let r = self.realm(realm)?;
            let name = match role_id {
                None => None,
                Some(id) => match r.roles.get(id) {
                    Some(entry) => Some(entry.name.clone()),
                    None => {
                        return Err(CtlError::NoSuchObject(format!(
                            "no role '{id}' on realm '{realm}'"
                        )))
                    }
                },
            };
            (r.rid, name)
        };
        let dropped: usize = self
            .handle
            .on_all(|reply| CoreOp::ClearAuthorizerCache {
                realm: rid,
                role: name.clone(),
                reply,
            })
            .await
            .into_iter()
            .sum();
        Ok(Value::Dict(crate::dict! {
            "realm" => realm,
            "role" => role_id.map_or(Value::Null, Value::from),
            "dropped" => dropped as u64,
        }))
    }

    /// Whether realm `realm` (by name) has role `authrole`.
    pub fn has_role(&self, realm: &str, authrole: &str) -> bool {
        self.lock()
            .realms
            .values()
            .any(|r| r.config.name == realm && r.config.roles.iter().any(|c| c.name == authrole))
    }

    // ---- transports ------------------------------------------------------------

    /// Ids of the running transports.
    pub fn get_router_transports(&self) -> Vec<String> {
        self.lock().transports.keys().cloned().collect()
    }

    fn describe_transport(id: &str, t: &TransportEntry) -> Value {
        let listening = match &t.bound.endpoint {
            EndpointSpec::Tcp(a) => a.to_string(),
            EndpointSpec::Unix(p) => format!("unix:{}", p.display()),
        };
        let redacted = redacted(vec![t.config.clone()], Vec::new())
            .transports
            .into_iter()
            .next();
        let mut d = crate::dict! {
            "id" => id,
            "type" => t.config.kind(),
            "created" => t.created.as_str(),
            "listening" => listening,
            "config" => redacted.map(|c| serialize(&c)).unwrap_or(Value::Null),
        };
        if let Some(tls) = &t.tls {
            // What new connections get (after reloads), never the key.
            d.insert(
                "tls".into(),
                Value::Dict(crate::dict! {
                    "certificate_sha1" => tls.certificate_sha1(),
                    "client_certificates" => tls.requires_client_certificates(),
                }),
            );
        }
        Value::Dict(d)
    }

    /// Reads the TLS certificates and keys of transport `id` (of every TLS
    /// transport when `None`) again; connections accepted from now on get
    /// them. Answers `[{"id", "certificate_sha1"}, ...]`. A transport whose
    /// files do not load keeps its running certificate, and the operation
    /// fails naming it (the others are reloaded).
    pub fn reload_router_transport_tls(&self, id: Option<&str>) -> Result<Value, CtlError> {
        let servers: Vec<(String, Arc<transport::TlsServer>)> = {
            let st = self.lock();
            match id {
                Some(id) => {
                    let t = st
                        .transports
                        .get(id)
                        .ok_or_else(|| CtlError::NoSuchObject(format!("no transport '{id}'")))?;
                    let tls = t.tls.clone().ok_or_else(|| {
                        CtlError::InvalidArgument(format!("transport '{id}' does not serve TLS"))
                    })?;
                    vec![(id.to_owned(), tls)]
                }
                None => st
                    .transports
                    .iter()
                    .filter_map(|(id, t)| t.tls.clone().map(|tls| (id.clone(), tls)))
                    .collect(),
            }
        };
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for (id, tls) in servers {
            match tls.reload() {
                Ok(sha1) => done.push(Value::Dict(crate::dict! {
                    "id" => id.as_str(),
                    "certificate_sha1" => sha1,
                })),
                Err(e) => failed.push(e),
            }
        }
        if !failed.is_empty() {
            return Err(CtlError::Failed(failed.join("; ")));
        }
        Ok(Value::List(done))
    }

    /// A transport: id, type, where it listens, created, config (secrets redacted).
    pub fn get_router_transport(&self, id: &str) -> Result<Value, CtlError> {
        let st = self.lock();
        let t = st
            .transports
            .get(id)
            .ok_or_else(|| CtlError::NoSuchObject(format!("no transport '{id}'")))?;
        Ok(Self::describe_transport(id, t))
    }

    /// Starts a transport: binds a listener on every shard. A web or
    /// universal transport starts with its root path (`/`) only, as
    /// Crossbar.io's without `create_paths`: see
    /// [`Controller::start_router_transport_paths`].
    pub async fn start_router_transport(
        &self,
        id: &str,
        config: TransportConfig,
    ) -> Result<Value, CtlError> {
        self.start_router_transport_paths(id, config, false).await
    }

    /// Starts a transport; with `create_paths`, a web or universal
    /// transport's services on every path of its config, else on its root
    /// path only (the others are started with `start_web_transport_service`).
    pub async fn start_router_transport_paths(
        &self,
        id: &str,
        mut config: TransportConfig,
        create_paths: bool,
    ) -> Result<Value, CtlError> {
        config.set_id(id);
        if !create_paths {
            let root = |p: &String| crate::config::web::normalize_path(p) == "/";
            match &mut config {
                TransportConfig::Web(w) => w.paths.retain(|p, _| root(p)),
                TransportConfig::Universal(u) => {
                    if let Some(w) = &mut u.web {
                        w.paths.retain(|p, _| root(p));
                    }
                    if let Some(ws) = &mut u.websocket {
                        ws.retain(|p, _| root(p));
                    }
                }
                _ => {}
            }
        }
        if let Err(e) = self.check_web_paths(&config) {
            return Err(CtlError::InvalidConfiguration(format!(
                "transport '{id}': {e}"
            )));
        }
        let tid = {
            let mut st = self.lock();
            if st.transports.contains_key(id) {
                return Err(CtlError::AlreadyRunning(format!(
                    "transport '{id}' is running"
                )));
            }
            // The same rule as the config check: no two transports (nor the
            // admin endpoint) on one port or path.
            let admin = self
                .base
                .admin
                .enabled
                .then_some(("the admin endpoint", &self.base.admin.endpoint));
            let running = st
                .transports
                .iter()
                .map(|(other, t)| (other.as_str(), t.config.endpoint()));
            if let Some((other, _)) = running
                .chain(admin)
                .find(|(_, e)| crate::config::endpoints_clash(e, config.endpoint()))
            {
                return Err(CtlError::InvalidConfiguration(format!(
                    "transport '{id}': its endpoint is already used by '{other}'"
                )));
            }
            let t = st.next_transport;
            st.next_transport += 1;
            t
        };
        let mut spec = ListenerSpec::from_transport(tid, &config)
            .map_err(|e| CtlError::InvalidConfiguration(e.to_string()))?;
        crate::router::auth::Authenticator::new(&spec.auth)
            .map_err(|e| CtlError::InvalidConfiguration(e.to_string()))?;
        transport::check_free(&spec.endpoint).map_err(|e| {
            CtlError::InvalidConfiguration(format!("transport '{id}': cannot listen there: {e}"))
        })?;
        let mut reservation = None;
        if let EndpointSpec::Tcp(addr) = &mut spec.endpoint {
            if addr.port() == 0 {
                let (local, sock) =
                    transport::reserve(*addr).map_err(|e| CtlError::Failed(e.to_string()))?;
                *addr = local;
                reservation = Some(sock);
            }
        }
        let session_ids = spec.session_transports();
        let answers = self
            .handle
            .ask_all(|reply| ControlMsg::StartListener {
                spec: Box::new(spec.clone()),
                reply,
            })
            .await;
        drop(reservation);
        if let Some(Err(e)) = answers.into_iter().find(Result::is_err) {
            self.handle
                .ask_all(|reply| ControlMsg::StopListener {
                    id: tid,
                    close: None,
                    reply,
                })
                .await;
            return Err(CtlError::Shard(e));
        }
        let bound = Bound {
            transport: tid,
            name: id.to_owned(),
            kind: config.kind(),
            endpoint: spec.endpoint.clone(),
        };
        let entry = TransportEntry {
            tid,
            config,
            bound,
            created: now_iso(),
            tls: spec.tls.clone(),
            web: spec.web().is_some().then(|| spec.clone()),
        };
        let v = Self::describe_transport(id, &entry);
        let gate = {
            let mut st = self.lock();
            st.transports.insert(id.to_owned(), entry);
            match &self.base.management {
                Some(m) if m.transport.as_deref() == Some(id) => {
                    st.realms.get(&m.realm).map(|r| r.rid)
                }
                _ => None,
            }
        };
        if let Some(rid) = gate {
            // The management transport started again: the management realm
            // is reachable through it (and still only through it).
            self.handle
                .on_all(|reply| CoreOp::LimitRealmTo {
                    realm: rid,
                    transports: Some(session_ids.clone()),
                    reply,
                })
                .await;
        }
        Ok(v)
    }

    /// Stops a transport; with `close_sessions`, its sessions get GOODBYE `wamp.close.system_shutdown`.
    pub async fn stop_router_transport(
        &self,
        id: &str,
        close_sessions: bool,
    ) -> Result<Value, CtlError> {
        let t = self
            .lock()
            .transports
            .get(id)
            .cloned()
            .ok_or_else(|| CtlError::NoSuchObject(format!("no transport '{id}'")))?;
        let close = close_sessions.then(|| crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN.to_owned());
        self.handle
            .ask_all(|reply| ControlMsg::StopListener {
                id: t.tid,
                close: close.clone(),
                reply,
            })
            .await;
        self.lock().transports.remove(id);
        Ok(Value::Dict(crate::dict! { "id" => id }))
    }

    /// Checks a web or universal transport's paths as the config check
    /// does: the paths themselves, and that each bridge's realm and role exist.
    fn check_web_paths(&self, config: &TransportConfig) -> Result<(), String> {
        let paths = match config {
            TransportConfig::Web(w) => w.paths.clone(),
            TransportConfig::Universal(u) => u.all_paths(),
            _ => return Ok(()),
        };
        if let Some((p, why)) = crate::config::web::check_paths(&paths).into_iter().next() {
            return Err(format!("path {p:?}: {why}"));
        }
        let st = self.lock();
        for (p, svc) in &paths {
            use crate::config::web::WebPath;
            match svc {
                WebPath::Publisher(b) | WebPath::Caller(b) | WebPath::Webhook(b) => {
                    let Some(r) = st.realms.get(&b.realm) else {
                        return Err(format!("path {p:?}: no realm {:?}", b.realm));
                    };
                    let _ = r;
                }
                WebPath::Websocket(w) => {
                    crate::router::auth::Authenticator::new(&w.auth)
                        .map_err(|e| format!("path {p:?}: {e}"))?;
                }
            }
        }
        Ok(())
    }

    fn web_transport(&self, transport_id: &str) -> Result<ListenerSpec, CtlError> {
        let st = self.lock();
        let t = st
            .transports
            .get(transport_id)
            .ok_or_else(|| CtlError::NoSuchObject(format!("no transport '{transport_id}'")))?;
        t.web.clone().ok_or_else(|| {
            CtlError::InvalidArgument(format!(
                "transport '{transport_id}' is not a web transport (it is {})",
                t.config.kind()
            ))
        })
    }

    /// Starts a service (`websocket`, `publisher`, `caller`, `webhook`) on
    /// path `path` of web or universal transport `transport_id`: every
    /// shard learns the path's transport, then the path is mounted.
    pub async fn start_web_transport_service(
        &self,
        transport_id: &str,
        path: &str,
        config: crate::config::web::WebPath,
    ) -> Result<Value, CtlError> {
        let parent = self.web_transport(transport_id)?;
        let Some(web) = parent.web() else {
            return Err(CtlError::Failed("not a web transport".into()));
        };
        let norm = crate::config::web::normalize_path(path);
        if web.paths.get(&norm).is_some() {
            return Err(CtlError::AlreadyRunning(format!(
                "transport '{transport_id}': a service is already running on path {norm}"
            )));
        }
        let wrapped = TransportConfig::Web(crate::config::web::WebTransport {
            id: transport_id.to_owned(),
            endpoint: crate::config::Endpoint::Tcp(crate::config::TcpEndpoint::new(0)),
            paths: [(norm.clone(), config.clone())].into_iter().collect(),
            options: Default::default(),
        });
        self.check_web_paths(&wrapped).map_err(|e| {
            CtlError::InvalidConfiguration(format!("transport '{transport_id}': {e}"))
        })?;
        self.events.publish(events::Event {
            name: events::WEB_SERVICE_STARTING,
            args: vec![Value::from(transport_id), Value::from(norm.as_str())],
        });
        let spec = web
            .paths
            .prepare(&parent, &norm, &config)
            .map_err(|e| CtlError::InvalidConfiguration(e.to_string()))?;
        let shared = Arc::new(spec.clone());
        let answers = self
            .handle
            .ask_all(|reply| ControlMsg::StartWebPath {
                spec: shared.clone(),
                reply,
            })
            .await;
        if let Some(Err(e)) = answers.into_iter().find(Result::is_err) {
            return Err(CtlError::Shard(e));
        }
        web.paths
            .insert(spec, &norm)
            .map_err(CtlError::AlreadyRunning)?;
        {
            let mut st = self.lock();
            if let Some(t) = st.transports.get_mut(transport_id) {
                match &mut t.config {
                    TransportConfig::Web(w) => {
                        w.paths.insert(norm.clone(), config.clone());
                    }
                    TransportConfig::Universal(u) => {
                        u.web
                            .get_or_insert_with(Default::default)
                            .paths
                            .insert(norm.clone(), config.clone());
                    }
                    _ => {}
                }
            }
        }
        let started = Value::Dict(crate::dict! {
            "transport_id" => transport_id,
            "path" => norm.as_str(),
            "config" => serialize(&redacted_path(&config)),
        });
        self.events.publish(events::Event {
            name: events::WEB_SERVICE_STARTED,
            args: vec![
                Value::from(transport_id),
                Value::from(norm.as_str()),
                started.clone(),
            ],
        });
        Ok(started)
    }

    /// Stops the service on path `path` of web transport `transport_id`:
    /// unmounted at once; its WebSocket sessions and bridge session get
    /// GOODBYE `wamp.close.system_shutdown`.
    pub async fn stop_web_transport_service(
        &self,
        transport_id: &str,
        path: &str,
    ) -> Result<Value, CtlError> {
        let parent = self.web_transport(transport_id)?;
        let Some(web) = parent.web() else {
            return Err(CtlError::Failed("not a web transport".into()));
        };
        let norm = crate::config::web::normalize_path(path);
        if web.paths.get(&norm).is_some() {
            self.events.publish(events::Event {
                name: events::WEB_SERVICE_STOPPING,
                args: vec![Value::from(transport_id), Value::from(norm.as_str())],
            });
        }
        let Some(gone) = web.paths.remove(&norm) else {
            return Err(CtlError::NoSuchObject(format!(
                "transport '{transport_id}': no service running on path {norm}"
            )));
        };
        let close = Some(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN.to_owned());
        self.handle
            .ask_all(|reply| ControlMsg::StopListener {
                id: gone.id(),
                close: close.clone(),
                reply,
            })
            .await;
        {
            let mut st = self.lock();
            if let Some(t) = st.transports.get_mut(transport_id) {
                let same = |p: &String| crate::config::web::normalize_path(p) == norm;
                match &mut t.config {
                    TransportConfig::Web(w) => w.paths.retain(|p, _| !same(p)),
                    TransportConfig::Universal(u) => {
                        if let Some(w) = &mut u.web {
                            w.paths.retain(|p, _| !same(p));
                        }
                        if let Some(ws) = &mut u.websocket {
                            ws.retain(|p, _| !same(p));
                        }
                    }
                    _ => {}
                }
            }
        }
        let stopped = Value::Dict(crate::dict! {
            "transport_id" => transport_id,
            "path" => norm.as_str(),
        });
        self.events.publish(events::Event {
            name: events::WEB_SERVICE_STOPPED,
            args: vec![
                Value::from(transport_id),
                Value::from(norm.as_str()),
                stopped.clone(),
            ],
        });
        Ok(stopped)
    }

    /// Every mounted bridge service's figures, added up over the shards:
    /// (transport id, path, type, figures), sorted by transport and path.
    pub async fn bridge_figures(&self) -> Vec<(String, String, &'static str, BridgeFigures)> {
        let services: Vec<crate::transport::web::ServiceSpec> = {
            let st = self.lock();
            st.transports
                .values()
                .filter_map(|t| t.web.as_ref())
                .filter_map(|l| l.web().map(|w| w.paths.specs()))
                .flatten()
                .filter_map(|p| match &*p {
                    crate::transport::web::PathSpec::Service(s) => Some(s.clone()),
                    crate::transport::web::PathSpec::WebSocket(_) => None,
                })
                .collect()
        };
        let answers = self
            .handle
            .ask_all(|reply| ControlMsg::BridgeFigures { reply })
            .await;
        let mut out: Vec<_> = services
            .into_iter()
            .map(|s| {
                let mut f = BridgeFigures::default();
                for (id, one) in answers.iter().flatten() {
                    if *id == s.id {
                        f.add(one);
                    }
                }
                (s.transport, s.path, s.kind, f)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// The service on path `path` of web transport `transport_id`:
    /// `{path, type, config}` (secrets redacted), and for a bridge service
    /// its figures (`served`, `wamp_errors`, `refused` by reason,
    /// `refused_total`), added up over the shards.
    pub async fn get_web_transport_service(
        &self,
        transport_id: &str,
        path: &str,
    ) -> Result<Value, CtlError> {
        let mut v = self.web_transport_service(transport_id, path)?;
        let norm = crate::config::web::normalize_path(path);
        let figures = self
            .bridge_figures()
            .await
            .into_iter()
            .find(|(t, p, _, _)| t == transport_id && *p == norm);
        if let (Value::Dict(d), Some((_, _, _, f))) = (&mut v, figures) {
            d.insert("served".into(), Value::UInt(f.served));
            d.insert("wamp_errors".into(), Value::UInt(f.wamp_errors));
            d.insert("refused_total".into(), Value::UInt(f.refused_total()));
            d.insert(
                "refused".into(),
                Value::Dict(
                    f.refused
                        .iter()
                        .map(|(r, n)| (r.as_str().to_owned(), Value::UInt(*n)))
                        .collect(),
                ),
            );
        }
        Ok(v)
    }

    fn web_transport_service(&self, transport_id: &str, path: &str) -> Result<Value, CtlError> {
        let parent = self.web_transport(transport_id)?;
        let norm = crate::config::web::normalize_path(path);
        let found = parent.web().and_then(|w| w.paths.get(&norm));
        let Some(found) = found else {
            return Err(CtlError::NoSuchObject(format!(
                "transport '{transport_id}': no service running on path {norm}"
            )));
        };
        let st = self.lock();
        let config = st.transports.get(transport_id).and_then(|t| {
            let paths = match &t.config {
                TransportConfig::Web(w) => w.paths.clone(),
                TransportConfig::Universal(u) => u.all_paths(),
                _ => Default::default(),
            };
            paths
                .into_iter()
                .find(|(p, _)| crate::config::web::normalize_path(p) == norm)
                .map(|(_, c)| serialize(&redacted_path(&c)))
        });
        Ok(Value::Dict(crate::dict! {
            "path" => norm.as_str(),
            "type" => found.kind(),
            "config" => config.unwrap_or(Value::Null),
        }))
    }

    /// The paths web transport `transport_id` serves, sorted.
    pub fn get_web_transport_services(&self, transport_id: &str) -> Result<Vec<String>, CtlError> {
        let parent = self.web_transport(transport_id)?;
        Ok(parent
            .web()
            .map(|w| w.paths.list().into_iter().map(|(p, _)| p).collect())
            .unwrap_or_default())
    }

    /// Where a transport listens (TCP), for tests and the CLI.
    pub fn transport_addr(&self, id: &str) -> Option<std::net::SocketAddr> {
        match &self.lock().transports.get(id)?.bound.endpoint {
            EndpointSpec::Tcp(a) => Some(*a),
            EndpointSpec::Unix(_) => None,
        }
    }

    // ---- components ------------------------------------------------------------

    /// Ids of the running components.
    pub fn get_router_components(&self) -> Vec<String> {
        self.lock().components.keys().cloned().collect()
    }

    /// A component: `{id, config, created}` as Crossbar.io's (config secrets
    /// redacted), and its class, realm, role and shard.
    pub fn get_router_component(&self, id: &str) -> Result<Value, CtlError> {
        let st = self.lock();
        let c = st
            .components
            .get(id)
            .ok_or_else(|| CtlError::NoSuchObject(format!("no component '{id}'")))?;
        let config = redacted(Vec::new(), vec![c.config.clone()])
            .components
            .into_iter()
            .next();
        Ok(Value::Dict(crate::dict! {
            "id" => id,
            "config" => config.map(|c| serialize(&c)).unwrap_or(Value::Null),
            "classname" => c.config.classname.as_str(),
            "realm" => c.config.realm.as_str(),
            "role" => c.config.role.as_str(),
            "shard" => c.shard as u64,
            "created" => c.created.as_str(),
        }))
    }

    /// Starts a component (on shard 0).
    pub async fn start_router_component(
        &self,
        id: &str,
        mut config: ComponentConfig,
    ) -> Result<Value, CtlError> {
        config.id = id.to_owned();
        let internal = config.classname == management::CLASSNAME && config.role == management::ROLE;
        if !internal
            && !self.lock().realms.values().any(|r| {
                r.config.name == config.realm
                    && r.config.roles.iter().any(|x| x.name == config.role)
            })
        {
            return Err(CtlError::InvalidConfiguration(format!(
                "component '{id}': no role '{}' on a realm '{}'",
                config.role, config.realm
            )));
        }
        self.registry
            .build(&config)
            .map_err(CtlError::InvalidConfiguration)?;
        let transport = {
            let mut st = self.lock();
            if st.components.contains_key(id) {
                return Err(CtlError::AlreadyRunning(format!(
                    "component '{id}' is running"
                )));
            }
            let t = st.next_component;
            st.next_component += 1;
            t
        };
        let shard = 0;
        let answer = self
            .handle
            .ask(shard, |reply| ControlMsg::StartComponent {
                config: Box::new(config.clone()),
                registry: self.registry.clone(),
                transport,
                reply,
            })
            .await
            .unwrap_or(Err(OpError::ShardGone));
        if let Err(e) = answer {
            return Err(CtlError::Shard(e));
        }
        self.lock().components.insert(
            id.to_owned(),
            ComponentEntry {
                config,
                shard,

                created: now_iso(),
            },
        );
        self.get_router_component(id)
    }

    /// Stops a component: its session leaves.
    pub async fn stop_router_component(&self, id: &str) -> Result<Value, CtlError> {
        if id == management::COMPONENT_ID && self.base.management.is_some() {
            return Err(CtlError::InvalidArgument(format!(
                    "component '{id}' serves the controller API: stopping it would leave the router unmanageable until restarted"
                )));
        }
        let c = self
            .lock()
            .components
            .get(id)
            .cloned()
            .ok_or_else(|| CtlError::NoSuchObject(format!("no component '{id}'")))?;
        let r = self
            .handle
            .ask(c.shard, |reply| ControlMsg::StopComponent {
                id: id.to_owned(),
                reply,
            })
            .await;
        self.lock().components.remove(id);
        match r {
            Some(Err(e)) => Err(CtlError::Shard(e)),
            _ => Ok(Value::Dict(crate::dict! { "id" => id })),
        }
    }

    // ---- router links ------------------------------------------------------------

    /// A new listener for the controller's events ([`events::Event`]):
    /// the management component publishes what it hears.
    pub fn listen(&self) -> shard::ControlReceiver<events::Event> {
        self.events.listen()
    }

    /// The ids of realm `realm`'s links (Crossbar.io: a list of ids).
    pub fn get_router_realm_links(&self, realm: &str) -> Result<Vec<String>, CtlError> {
        self.realm(realm)?;
        Ok(self
            .lock()
            .links
            .keys()
            .filter(|(r, _)| r == realm)
            .map(|(_, id)| id.clone())
            .collect())
    }

    /// A link: Crossbar.io's `RLink.marshal()` (`id`, `config` with secrets
    /// redacted, `started`, `started_by`, `connected`) and shardwamp's
    /// figures (`state`, `reconnects`, `last_error`, events and calls
    /// forwarded each way, ...).
    pub fn get_router_realm_link(&self, realm: &str, id: &str) -> Result<Value, CtlError> {
        let st = self.lock();
        let l = st
            .links
            .get(&(realm.to_owned(), id.to_owned()))
            .ok_or_else(|| CtlError::NoSuchObject(format!("no link '{id}' in realm '{realm}'")))?;
        let mut d = crate::dict! {
            "id" => id,
            "realm" => realm,
            "config" => serialize(&l.config.redacted()),
            "started" => l.started.as_str(),
            "started_by" => Value::Dict(crate::dict! { "source" => l.started_by }),
            "shard" => l.shard as u64,
            "remote" => l.config.transport.endpoint.to_string(),
            "remote_realm" => l.config.realm.as_str(),
        };
        d.extend(l.stats.to_dict());
        Ok(Value::Dict(d))
    }

    /// Every running link's figures: (realm id, link id, figures).
    pub fn link_stats(&self) -> Vec<(String, String, Arc<crate::link::LinkStats>)> {
        self.lock()
            .links
            .iter()
            .map(|((r, id), l)| (r.clone(), id.clone(), l.stats.clone()))
            .collect()
    }

    /// Starts a link of realm `realm` (on the shard
    /// [`crate::link::placement::shard_for`] names); the answer is its detail.
    pub async fn start_router_realm_link(
        &self,
        realm: &str,
        id: &str,
        config: crate::config::rlink::RLinkConfig,
    ) -> Result<Value, CtlError> {
        self.start_link(realm, id, config, "controller").await
    }

    async fn start_link(
        &self,
        realm: &str,
        id: &str,
        mut config: crate::config::rlink::RLinkConfig,
        started_by: &'static str,
    ) -> Result<Value, CtlError> {
        config.id = Some(id.to_owned());
        if let Some((key, m)) = config.problems().into_iter().next() {
            return Err(CtlError::InvalidConfiguration(format!(
                "link '{id}': {key}: {m}"
            )));
        }
        let (rid, realm_name, transport) = {
            let mut st = self.lock();
            let r = st
                .realms
                .get(realm)
                .ok_or_else(|| CtlError::NoSuchObject(format!("no realm '{realm}'")))?;
            let (rid, name) = (r.rid, r.config.name.clone());
            if st.links.contains_key(&(realm.to_owned(), id.to_owned())) {
                return Err(CtlError::AlreadyRunning(format!(
                    "link '{id}' of realm '{realm}' is running"
                )));
            }
            let t = st.next_component;
            st.next_component += 1;
            (rid, name, t)
        };
        // The local leg's role (internal, not listed among the realm's roles).
        let results = self
            .handle
            .on_all(|reply| CoreOp::SetRole {
                realm: rid,
                role: Box::new(crate::link::local_role()),
                reply,
            })
            .await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            return Err(CtlError::Shard(e));
        }
        let stats = Arc::new(crate::link::LinkStats::default());
        let shard = crate::link::placement::shard_for(realm, id, self.handle.shards());
        let spec = crate::link::LinkSpec {
            id: id.to_owned(),
            realm: realm_name,
            config: config.clone(),
            transport,
        };
        let answer = self
            .handle
            .ask(shard, |reply| ControlMsg::StartLink {
                spec: Box::new(spec),
                stats: stats.clone(),
                reply,
            })
            .await
            .unwrap_or(Err(OpError::ShardGone));
        answer.map_err(CtlError::Shard)?;
        {
            let mut st = self.lock();
            // The running configuration lists it (ids are explicit there).
            if let Some(r) = st.realms.get_mut(realm) {
                if !r.config.rlinks.iter().any(|l| l.id.as_deref() == Some(id)) {
                    r.config.rlinks.push(config.clone());
                }
            }
            st.links.insert(
                (realm.to_owned(), id.to_owned()),
                LinkEntry {
                    config,
                    shard,
                    started: now_iso(),
                    started_by,
                    stats,
                },
            );
        }
        let detail = self.get_router_realm_link(realm, id)?;
        self.events.publish(events::Event {
            name: events::LINK_STARTED,
            args: vec![detail.clone()],
        });
        Ok(detail)
    }

    /// Stops a link at run time (Crossbar.io raises NotImplementedError):
    /// both legs close, so each router withdraws what the link mirrored.
    pub async fn stop_router_realm_link(&self, realm: &str, id: &str) -> Result<Value, CtlError> {
        let detail = self.get_router_realm_link(realm, id)?;
        let shard = self
            .lock()
            .links
            .get(&(realm.to_owned(), id.to_owned()))
            .map(|l| l.shard)
            .unwrap_or(0);
        let r = self
            .handle
            .ask(shard, |reply| ControlMsg::StopLink {
                realm: self
                    .lock()
                    .realms
                    .get(realm)
                    .map(|r| r.config.name.clone())
                    .unwrap_or_default(),
                id: id.to_owned(),
                reply,
            })
            .await;
        {
            let mut st = self.lock();
            st.links.remove(&(realm.to_owned(), id.to_owned()));
            if let Some(r) = st.realms.get_mut(realm) {
                r.config.rlinks.retain(|l| l.id.as_deref() != Some(id));
            }
        }
        match r {
            Some(Err(e)) => Err(CtlError::Shard(e)),
            _ => {
                // The detail as it was last, stopped (Crossbar.io's `marshal()`
                // of the stopped link).
                let detail = match detail {
                    Value::Dict(mut d) => {
                        d.insert("state".into(), Value::from("stopped"));
                        d.insert("connected".into(), Value::Bool(false));
                        Value::Dict(d)
                    }
                    other => other,
                };
                self.events.publish(events::Event {
                    name: events::LINK_STOPPED,
                    args: vec![detail.clone()],
                });
                Ok(detail)
            }
        }
    }

    // ---- sessions and statistics ---------------------------------------------

    /// Closes every session of `authid` on realm `realm` (an id), on whichever
    /// shard it lives, with GOODBYE `reason` and `message`; returns their ids.
    pub async fn kill_by_authid(
        &self,
        realm: &str,
        authid: &str,
        reason: &str,
        message: Option<String>,
    ) -> Result<Value, CtlError> {
        crate::wamp::uri::validate(
            reason,
            crate::wamp::uri::UriCheck::Loose,
            crate::wamp::uri::MatchPolicy::Exact,
        )
        .map_err(|e| CtlError::InvalidArgument(format!("reason: {e}")))?;
        let rid = self.realm(realm)?.rid;
        let killed = self
            .handle
            .on_all(|reply| CoreOp::Kill {
                realm: rid,
                authid: Some(authid.to_owned()),
                authrole: None,
                reason: reason.to_owned(),
                message: message.clone(),
                reply,
            })
            .await;
        let mut ids: Vec<u64> = killed.into_iter().flatten().collect();
        ids.sort_unstable();
        Ok(Value::List(ids.into_iter().map(Value::UInt).collect()))
    }

    /// Per-shard figures: sessions, messages, bytes, dropped events, errors.
    pub async fn shard_stats(&self) -> Vec<ShardStats> {
        self.handle
            .on_all(|reply| CoreOp::ShardStats { reply })
            .await
    }

    /// Realm statistics reduced over shards, by realm name.
    pub async fn realm_stats_by_name(&self) -> Vec<(String, RealmStats)> {
        let realms: Vec<(String, RealmId)> = self
            .lock()
            .realms
            .values()
            .map(|r| (r.config.name.clone(), r.rid))
            .collect();
        let mut out = Vec::new();
        for (name, rid) in realms {
            let per_shard = self
                .handle
                .on_all(|reply| CoreOp::RealmStats { realm: rid, reply })
                .await;
            let mut total = RealmStats::default();
            for s in &per_shard {
                total.merge(s);
            }
            out.push((name, total));
        }
        out
    }

    /// Where the admin HTTP listener listens, when it runs.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin_addr.lock().ok().and_then(|g| *g)
    }

    /// Per-shard figures as a value.
    pub async fn get_router_shard_stats(&self) -> Value {
        let stats = self.shard_stats().await;
        Value::List(
            stats
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let by = |c: &[u64; 24]| {
                        Value::Dict(
                            MessageType::ALL
                                .iter()
                                .filter(|t| c[t.index()] > 0)
                                .map(|t| (t.name().to_owned(), Value::UInt(c[t.index()])))
                                .collect(),
                        )
                    };
                    Value::Dict(crate::dict! {
                        "shard" => i as u64,
                        "sessions" => s.sessions,
                        "connections_opened" => s.connections_opened,
                        "bytes_sent" => s.bytes_sent,
                        "bytes_received" => s.bytes_received,
                        "events_dropped" => s.events_dropped,
                        "transport_protocol_errors" => s.transport_protocol_errors,
                        "oversize_messages" => s.oversize_messages,
                        "tls_handshake_failures" => s.tls_handshake_failures,
                        "queued_frames" => s.queued_frames,
                        "loop_stalls" => s.loop_stalls,
                        "events_per_sec" => s.events_per_sec,
                        "calls_per_sec" => s.calls_per_sec,
                        "protocol_violations" => s.protocol_violations,
                        "decode_errors" => s.decode_errors,
                        "transcode_failures" => s.transcode_failures,
                        "auth_failures" => s.auth_failures,
                        "connections_refused" => s.connections_refused,
                        "hello_timeouts" => s.hello_timeouts,
                        "auth_timeouts" => s.auth_timeouts,
                        "auth_lockouts" => s.auth_lockouts,
                        "peer_sent" => s.peer_sent,
                        "sent" => by(&s.sent),
                        "received" => by(&s.received),
                    })
                })
                .collect(),
        )
    }

    /// The running configuration (secrets redacted).
    pub fn running_config(&self) -> Config {
        let st = self.lock();
        let mut c = self.base.clone();
        c.realms = st.realms.values().map(|r| r.config.clone()).collect();
        c.transports = st.transports.values().map(|t| t.config.clone()).collect();
        c.components = st
            .components
            .values()
            .filter(|c| c.config.classname != management::CLASSNAME)
            .map(|c| c.config.clone())
            .collect();
        c.redacted()
    }

    /// The running configuration as TOML (secrets redacted).
    pub fn get_running_config(&self) -> Result<String, CtlError> {
        self.running_config()
            .to_toml_string()
            .map_err(|e| CtlError::Failed(e.to_string()))
    }

    // ---- by name -------------------------------------------------------------

    /// Runs an operation by its Crossbar.io name with positional and keyword
    /// arguments (as the management realm's procedures and `shardwamp ctl` pass them).
    pub async fn call(&self, op: &str, args: &[Value], kwargs: &Dict) -> Result<Value, CtlError> {
        let arg = |i: usize, name: &str| -> Result<&Value, CtlError> {
            args.get(i).or_else(|| kwargs.get(name)).ok_or_else(|| {
                CtlError::InvalidArgument(format!("{op}: missing argument '{name}'"))
            })
        };
        let text = |i: usize, name: &str| -> Result<String, CtlError> {
            arg(i, name)?.as_str().map(str::to_owned).ok_or_else(|| {
                CtlError::InvalidArgument(format!("{op}: '{name}' must be a string"))
            })
        };
        let opt_text = |i: usize, name: &str| -> Option<String> {
            args.get(i)
                .or_else(|| kwargs.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let flag = |i: usize, name: &str, default: bool| -> bool {
            args.get(i)
                .or_else(|| kwargs.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        let list = |v: Vec<String>| Value::List(v.into_iter().map(Value::Str).collect());
        match op {
            "get_router_realms" => Ok(list(self.get_router_realms())),
            "get_router_realm" => self.get_router_realm(&text(0, "realm_id")?).await,
            "get_router_realm_by_name" => {
                self.get_router_realm_by_name(&text(0, "realm_name")?).await
            }
            "get_router_realm_stats" => {
                self.get_router_realm_stats(opt_text(0, "realm_id").as_deref())
                    .await
            }
            "start_router_realm" => {
                let id = text(0, "realm_id")?;
                let config: RealmConfig = deserialize(arg(1, "realm_config")?, "realm_config")?;
                self.start_router_realm(&id, config).await
            }
            "stop_router_realm" => {
                self.stop_router_realm(&text(0, "realm_id")?, flag(1, "close_sessions", true))
                    .await
            }
            "has_realm" => Ok(Value::Bool(self.has_realm(&text(0, "realm")?))),
            "get_router_realm_roles" => {
                Ok(list(self.get_router_realm_roles(&text(0, "realm_id")?)?))
            }
            "get_router_realm_role" => {
                self.get_router_realm_role(&text(0, "realm_id")?, &text(1, "role_id")?)
            }
            "start_router_realm_role" => {
                let (realm, role) = (text(0, "realm_id")?, text(1, "role_id")?);
                let mut v = arg(2, "role_config")?.clone();
                if let Value::Dict(d) = &mut v {
                    d.entry("name".into())
                        .or_insert_with(|| Value::from(role.as_str()));
                }
                let config: RoleConfig = deserialize(&v, "role_config")?;
                self.start_router_realm_role(&realm, &role, config).await
            }
            "stop_router_realm_role" => {
                self.stop_router_realm_role(&text(0, "realm_id")?, &text(1, "role_id")?)
                    .await
            }
            "has_role" => Ok(Value::Bool(
                self.has_role(&text(0, "realm")?, &text(1, "authrole")?),
            )),
            "clear_authorizer_cache" => {
                self.clear_authorizer_cache(
                    &text(0, "realm_id")?,
                    opt_text(1, "role_id").as_deref(),
                )
                .await
            }
            "get_router_transports" => Ok(list(self.get_router_transports())),
            "get_router_transport" => self.get_router_transport(&text(0, "transport_id")?),
            "start_router_transport" => {
                let id = text(0, "transport_id")?;
                let mut v = arg(1, "config")?.clone();
                if let Value::Dict(d) = &mut v {
                    d.entry("id".into())
                        .or_insert_with(|| Value::from(id.as_str()));
                }
                let config: TransportConfig = deserialize(&v, "config")?;
                self.start_router_transport_paths(&id, config, flag(2, "create_paths", false))
                    .await
            }
            "get_web_transport_services" => Ok(list(
                self.get_web_transport_services(&text(0, "transport_id")?)?,
            )),
            "get_web_transport_service" => {
                self.get_web_transport_service(&text(0, "transport_id")?, &text(1, "path")?)
                    .await
            }
            "start_web_transport_service" => {
                let config: crate::config::web::WebPath = deserialize(arg(2, "config")?, "config")?;
                self.start_web_transport_service(
                    &text(0, "transport_id")?,
                    &text(1, "path")?,
                    config,
                )
                .await
            }
            "stop_web_transport_service" => {
                self.stop_web_transport_service(&text(0, "transport_id")?, &text(1, "path")?)
                    .await
            }
            "stop_router_transport" => {
                self.stop_router_transport(
                    &text(0, "transport_id")?,
                    flag(1, "close_sessions", false),
                )
                .await
            }
            "get_router_components" => Ok(list(self.get_router_components())),
            "get_router_component" => self.get_router_component(&text(0, "component_id")?),
            "start_router_component" => {
                let id = text(0, "component_id")?;
                let mut v = arg(1, "config")?.clone();
                if let Value::Dict(d) = &mut v {
                    d.entry("id".into())
                        .or_insert_with(|| Value::from(id.as_str()));
                    d.entry("type".into())
                        .or_insert_with(|| Value::from("class"));
                }
                let config: ComponentConfig = deserialize(&v, "config")?;
                self.start_router_component(&id, config).await
            }
            "stop_router_component" => self.stop_router_component(&text(0, "component_id")?).await,
            "get_router_realm_links" => {
                Ok(list(self.get_router_realm_links(&text(0, "realm_id")?)?))
            }
            "get_router_realm_link" => {
                self.get_router_realm_link(&text(0, "realm_id")?, &text(1, "link_id")?)
            }
            "start_router_realm_link" => {
                let (realm, id) = (text(0, "realm_id")?, text(1, "link_id")?);
                let config = deserialize(arg(2, "link_config")?, "link_config")?;
                self.start_router_realm_link(&realm, &id, config).await
            }
            "stop_router_realm_link" => {
                self.stop_router_realm_link(&text(0, "realm_id")?, &text(1, "link_id")?)
                    .await
            }
            "kill_by_authid" => {
                let (realm, authid) = (text(0, "realm_id")?, text(1, "authid")?);
                let reason = opt_text(2, "reason")
                    .unwrap_or_else(|| crate::wamp::uris::CLOSE_KILLED.to_owned());
                self.kill_by_authid(&realm, &authid, &reason, opt_text(3, "message"))
                    .await
            }
            "get_router_shard_stats" => Ok(self.get_router_shard_stats().await),
            "get_running_config" => Ok(Value::Str(self.get_running_config()?)),
            "reload_router_transport_tls" => {
                self.reload_router_transport_tls(opt_text(0, "transport_id").as_deref())
            }
            other => Err(CtlError::NoSuchOperation(format!("no operation '{other}'"))),
        }
    }

    /// [`Controller::call`] from a thread that is not a shard.
    pub fn call_blocking(
        &self,
        op: &str,
        args: &[Value],
        kwargs: &Dict,
    ) -> Result<Value, CtlError> {
        futures_lite::future::block_on(self.call(op, args, kwargs))
    }

    /// Stops the router: GOODBYE `wamp.close.system_shutdown` to every session.
    pub fn shutdown(&self) {
        self.handle
            .shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_kind_answers_with_its_uri_and_message() {
        let e = CtlError::NoSuchObject("no realm 'r'".into());
        assert_eq!(e.uri(), "shardwamp.error.no_such_object");
        assert_eq!(e.message(), "no realm 'r'");
        assert_eq!(
            e.to_string(),
            "shardwamp.error.no_such_object: no realm 'r'"
        );
        let e = CtlError::from(OpError::ShardGone);
        assert_eq!(e.uri(), ERROR_FAILED);
        assert_eq!(e.message(), "the shard is gone");
        assert_eq!(
            e.to_string(),
            "shardwamp.error.operation_failed: the shard is gone"
        );
        let e = CtlError::NoSuchOperation("no operation 'x'".into());
        assert_eq!(e.uri(), crate::wamp::uris::ERROR_NO_SUCH_PROCEDURE);
        assert_eq!(
            e.to_string(),
            "wamp.error.no_such_procedure: no operation 'x'"
        );
        assert_eq!(
            CtlError::InvalidArgument("m".into()).uri(),
            "wamp.error.invalid_argument"
        );
        assert_eq!(
            CtlError::AlreadyRunning("m".into()).uri(),
            "shardwamp.error.already_running"
        );
        assert_eq!(
            CtlError::AlreadyExists("m".into()).uri(),
            "shardwamp.error.already_exists"
        );
        assert_eq!(
            CtlError::InvalidConfiguration("m".into()).uri(),
            "shardwamp.error.invalid_configuration"
        );
    }
}
