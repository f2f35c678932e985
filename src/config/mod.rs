//! The router's TOML configuration: its types, how a file becomes a validated
//! [`Config`], the embedded default ([`DEFAULT_CONFIG`]) and the commented
//! example ([`EXAMPLE_CONFIG`]).
//!
//! The file maps **one to one** onto Crossbar.io's router worker config
//! (`shared/reference/crossbar-model.md`), so a `config.json` translates by
//! hand: every JSON object becomes a TOML table, every list of objects an
//! array of tables, and the keys keep their names.
//!
//! | TOML | Crossbar.io | type |
//! | --- | --- | --- |
//! | `[router]` | (worker options; shardwamp's own) | [`RouterConfig`] |
//! | `[[realms]]` | `realms` | [`RealmConfig`] (with `roles`, `store`, `options`, `limits`) |
//! | `[[transports]]` | `transports` | [`TransportConfig`] (`type = "websocket"`, `"rawsocket"`, `"web"` or `"universal"`) |
//! | `[transports.paths.*]` | `paths` (web) | [`web::WebPath`] (`websocket`, `publisher`, `caller`, `webhook`) |
//! | `[transports.endpoint]` | `endpoint` | [`Endpoint`] (`type = "tcp"` or `"unix"`) |
//! | `[transports.auth.*]` | `auth` | [`TransportAuth`] |
//! | `[[components]]` | `components` | [`ComponentConfig`] |
//! | `[admin]` | — | [`AdminConfig`]: `/metrics`, `/health`, `/ready` |
//! | `[management]` | the node management realm | [`ManagementConfig`] |
//!
//! ```toml
//! [[realms]]
//! name = "realm1"
//!
//! [[realms.roles]]
//! name = "anonymous"
//!
//! [[realms.roles.permissions]]
//! uri = ""
//! match = "prefix"
//! allow = { call = true, register = true, publish = true, subscribe = true }
//!
//! [[transports]]
//! type = "websocket"
//! id = "ws"
//! url = "/ws"
//! endpoint = { type = "tcp", port = 8080 }
//! ```
//!
//! # Loading
//!
//! [`Config::from_str_with_env`] (and [`Config::from_str`], which reads the
//! process environment, and [`Config::from_file`]) run four steps:
//!
//! 1. parse the TOML, keeping the position of every key and value;
//! 2. replace `${NAME}` in every string value (keys are taken as written)
//!    with the environment variable `NAME` (`$${NAME}` stands for a literal
//!    `${NAME}`); an unset variable is an error naming the variable and the
//!    key, never a value;
//! 3. deserialize into the typed [`Config`] (unknown keys are errors, so typos
//!    are caught);
//! 4. assign ids to transports and components without one (`transport001`,
//!    `component001`, ... as Crossbar.io does) and [validate](Config::validate).
//!
//! Every [`ConfigError`] names the key and, for a file, the line and column:
//!
//! ```text
//! line 12, column 15: transports[1].serializers: unknown serializer "xml", expected one of json, msgpack, cbor
//! ```
//!
//! No error text contains a ticket or a secret: a value substituted from the
//! environment is redacted wherever a type error would echo it, and
//! validation messages name only realms, roles, ids, URIs and `authid`s.
//! [`Config::to_toml_string`] writes `"<redacted>"` for tickets and secrets.
//!
//! ```
//! use shardwamp::config::Config;
//!
//! let text = r#"
//! [[realms]]
//! name = "realm1"
//! roles = [{ name = "anonymous", permissions = [{ uri = "", match = "prefix", allow = { subscribe = true } }] }]
//!
//! [[transports]]
//! type = "rawsocket"
//! id = "rs"
//! endpoint = { type = "tcp", port = 8081 }
//!
//! [transports.auth.ticket]
//! type = "static"
//! principals = { joe = { ticket = "${JOE_TICKET}", role = "anonymous" } }
//! "#;
//! let env = |name: &str| (name == "JOE_TICKET").then(|| "s3cret".to_owned());
//! let config = Config::from_str_with_env(text, env).unwrap();
//! assert_eq!(config.transports[0].id(), "rs");
//!
//! // Unset: the error names the variable and the key, never a value.
//! let err = Config::from_str_with_env(text, |_| None).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "line 13, column 33: transports[0].auth.ticket.principals.joe.ticket: \
//!      environment variable JOE_TICKET is not set"
//! );
//! ```

pub mod auth;
pub mod crossbar;
mod key_path;
pub mod keyfile;
pub mod realm;
pub mod rlink;
pub mod role;
mod source;
pub mod tls;
mod validate;
pub mod web;
pub(crate) use validate::clash as endpoints_clash;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer as SerdeSerializer};

use crate::wamp::serializer::Serializer;
use crate::wamp::uri::MatchPolicy;
use crate::wamp::value::{Dict, Value};
use auth::{AuthMethodConfig, TransportAuth, DEFAULT_ANONYMOUS_ROLE};
use realm::RealmConfig;
use role::{Allow, Disclose, Permission, RoleConfig};

/// The embedded default configuration, used by `shardwamp run` without a file:
/// realm `realm1` whose role `anonymous` may do everything, WebSocket on
/// `127.0.0.1:8080` at `/ws` and RawSocket on `127.0.0.1:8081`, both speaking
/// JSON, MessagePack and CBOR, both open to anonymous sessions.
///
/// [`Config::default_embedded`] is this text, parsed.
pub const DEFAULT_CONFIG: &str = r#"# shardwamp's default configuration (what `shardwamp run` uses without a file).
# `shardwamp init` prints a fully commented example of every section.

[router]
shards = "auto"          # one shard per available CPU

[[realms]]
name = "realm1"

# Anonymous sessions may call, register, publish and subscribe anything.
[[realms.roles]]
name = "anonymous"

[[realms.roles.permissions]]
uri = ""
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }

# No `auth` table: open to anonymous sessions under the role "anonymous".
[[transports]]
type = "websocket"
id = "ws"
url = "/ws"
serializers = ["json", "msgpack", "cbor"]
endpoint = { type = "tcp", interface = "127.0.0.1", port = 8080 }

[[transports]]
type = "rawsocket"
id = "rawsocket"
serializers = ["json", "msgpack", "cbor"]
endpoint = { type = "tcp", interface = "127.0.0.1", port = 8081 }
"#;

/// A fully commented configuration exercising every section (the text of
/// `examples/shardwamp.toml`); `shardwamp init` prints it.
///
/// It reads the secrets `SHARDWAMP_TICKET_BACKEND`, `SHARDWAMP_CRA_ALICE`,
/// `SHARDWAMP_CRA_BOB` and `SHARDWAMP_MGMT_TICKET` from the environment.
pub const EXAMPLE_CONFIG: &str = include_str!("../../examples/shardwamp.toml");

/// What replaces tickets and secrets in [`Config::redacted`] and [`Config::to_toml_string`].
pub const REDACTED: &str = "<redacted>";

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A position in a configuration file, both 1-based; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Where an error is: the key path (`transports[0].auth.ticket`) and, when
/// the configuration came from text, the line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    /// The key path, as `realms[1].roles[0].name`; empty for the whole document.
    pub path: String,
    /// The position in the text, when known.
    pub location: Option<Location>,
}

impl Place {
    fn new(path: String, location: Option<Location>) -> Place {
        Place { path, location }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.location, self.path.is_empty()) {
            (Some(loc), false) => write!(f, "{loc}: {}", self.path),
            (Some(loc), true) => write!(f, "{loc}"),
            (None, false) => f.write_str(&self.path),
            (None, true) => f.write_str("configuration"),
        }
    }
}

/// Why a configuration could not be loaded, or is not valid.
///
/// Display names the key and, for text, the line and column:
/// `line 12, column 15: transports[1].serializers: unknown serializer "xml", ...`.
/// No variant's text contains a ticket or a secret (see the module docs).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{at}: invalid TOML: {message}")]
    Syntax {
        /// Where.
        at: Place,
        /// What the TOML parser says.
        message: String,
    },
    /// A `${NAME}` names an environment variable that is not set.
    #[error("{at}: environment variable {var} is not set")]
    MissingEnv {
        /// The key whose value refers to it.
        at: Place,
        /// The variable's name.
        var: String,
    },
    /// A `${...}` is malformed (unterminated, or not a variable name).
    #[error("{at}: {message}")]
    Substitution {
        /// Where.
        at: Place,
        /// What is wrong.
        message: String,
    },
    /// A key has the wrong type or value, is unknown, or is missing.
    #[error("{at}: {message}")]
    Schema {
        /// Where.
        at: Place,
        /// What is wrong (values from the environment redacted).
        message: String,
    },
    /// The configuration is well formed but inconsistent ([`Config::validate`]).
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: Place,
        /// What is wrong.
        message: String,
    },
    /// The file is a Crossbar.io config (JSON or YAML), not TOML.
    #[error("{} is {format}, not TOML: if it is a Crossbar.io config, convert it with `shardwamp import crossbar {} -o shardwamp.toml` and run that", file.display(), file.display())]
    NotToml {
        /// The file.
        file: PathBuf,
        /// `JSON` or `YAML`.
        format: &'static str,
    },
    /// The configuration could not be written as TOML.
    #[error("cannot write the configuration as TOML: {0}")]
    Write(String),
}

impl ConfigError {
    /// Where the error is, when it is about a key.
    pub fn place(&self) -> Option<&Place> {
        match self {
            ConfigError::Syntax { at, .. }
            | ConfigError::MissingEnv { at, .. }
            | ConfigError::Substitution { at, .. }
            | ConfigError::Schema { at, .. }
            | ConfigError::Invalid { at, .. } => Some(at),
            ConfigError::Io { .. } | ConfigError::NotToml { .. } | ConfigError::Write(_) => None,
        }
    }

    /// The key path the error is about (`transports[1].serializers`), if any.
    pub fn path(&self) -> Option<&str> {
        self.place().map(|p| p.path.as_str())
    }

    /// The line (1-based) the error is on, when the configuration came from text.
    pub fn line(&self) -> Option<usize> {
        self.place().and_then(|p| p.location).map(|l| l.line)
    }
}

// ---------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------

/// A whole router configuration: the file's top-level tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// shardwamp's own settings: shards, CPUs, memory, logging.
    #[serde(default)]
    pub router: RouterConfig,
    /// The realms (`[[realms]]`), as in Crossbar.io.
    #[serde(default)]
    pub realms: Vec<RealmConfig>,
    /// The listening transports (`[[transports]]`).
    #[serde(default)]
    pub transports: Vec<TransportConfig>,
    /// Components run inside the router (`[[components]]`).
    #[serde(default)]
    pub components: Vec<ComponentConfig>,
    /// The HTTP listener for `/metrics`, `/health` and `/ready`.
    #[serde(default)]
    pub admin: AdminConfig,
    /// The management realm serving the controller API; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<ManagementConfig>,
}

impl Config {
    /// Parses, substitutes `${NAME}` from `env`, deserializes and validates.
    ///
    /// `env` returns a variable's value, or `None` when it is not set; tests
    /// pass a closure so that they need not touch the process environment.
    pub fn from_str_with_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        source::load(text, &env)
    }

    /// Reads and loads a file, substituting from the process environment.
    ///
    /// A Crossbar.io config (a `.json`, `.yaml` or `.yml` file, or text that
    /// starts with `{`) is refused with [`ConfigError::NotToml`], which says
    /// to convert it with `shardwamp import crossbar`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        read_toml(path.as_ref())?.parse()
    }

    /// Loads a file as [`Config::from_file`] does, then checks what `run`
    /// would refuse that loading cannot know: each component's class (and its
    /// `extra`) with `build_component` (the registry's, for `shardwamp
    /// check`), that each Unix socket's directory exists, and that each TLS
    /// endpoint's key and certificate files read as PEM. Errors name the key
    /// and the line.
    pub fn check_file(
        path: impl AsRef<Path>,
        build_component: impl Fn(&ComponentConfig) -> Result<(), String>,
    ) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = read_toml(path)?;
        let config: Config = text.parse()?;
        let invalid = |key: key_path::KeyPath, message: String| ConfigError::Invalid {
            at: Place::new(key.to_string(), source::locate(&text, &key)),
            message,
        };
        for (i, t) in config.transports.iter().enumerate() {
            if let Endpoint::Unix(u) = t.endpoint() {
                let dir = match u.path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                if !dir.is_dir() {
                    let key = key_path::KeyPath::root("transports")
                        .index(i)
                        .key("endpoint")
                        .key("path");
                    return Err(invalid(
                        key,
                        format!(
                            "the directory {} does not exist: create it, or put the socket in one that does",
                            dir.display()
                        ),
                    ));
                }
            }
        }
        for (i, t) in config.transports.iter().enumerate() {
            let Some(tls) = t.endpoint().tls() else {
                continue;
            };
            let at = key_path::KeyPath::root("transports")
                .index(i)
                .key("endpoint")
                .key("tls");
            if let Err(e) = tls::read_private_key(&tls.key) {
                return Err(invalid(at.key("key"), e));
            }
            if let Err(e) = tls::read_certificates(&tls.certificate) {
                return Err(invalid(at.key("certificate"), e));
            }
            for (key, files) in [
                ("chain_certificates", &tls.chain_certificates),
                ("ca_certificates", &tls.ca_certificates),
            ] {
                for (j, f) in files.iter().enumerate() {
                    if let Err(e) = tls::read_certificates(f) {
                        return Err(invalid(at.key(key).index(j), e));
                    }
                }
            }
        }
        for (i, c) in config.components.iter().enumerate() {
            if let Err(e) = build_component(c) {
                let key = key_path::KeyPath::root("components")
                    .index(i)
                    .key("classname");
                return Err(invalid(key, e));
            }
        }
        Ok(config)
    }

    /// The embedded default configuration ([`DEFAULT_CONFIG`], parsed).
    pub fn default_embedded() -> Config {
        let serializers = Serializer::ALL.to_vec();
        let localhost = |port| {
            Endpoint::Tcp(TcpEndpoint {
                interface: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                ..TcpEndpoint::new(port)
            })
        };
        let anonymous = RoleConfig {
            name: DEFAULT_ANONYMOUS_ROLE.to_owned(),
            permissions: vec![Permission {
                uri: String::new(),
                match_: Some(MatchPolicy::Prefix),
                allow: Allow::ALL,
                disclose: Disclose::default(),
                cache: false,
            }],
            authorizer: None,
            allow_by_default: false,
        };
        Config {
            router: RouterConfig::default(),
            realms: vec![RealmConfig::new("realm1", vec![anonymous])],
            transports: vec![
                TransportConfig::Websocket(WebSocketTransport {
                    id: "ws".into(),
                    endpoint: localhost(8080),
                    url: "/ws".into(),
                    serializers: serializers.clone(),
                    options: WebSocketOptions::default(),
                    auth: default_transport_auth(),
                }),
                TransportConfig::Rawsocket(RawSocketTransport {
                    id: "rawsocket".into(),
                    endpoint: localhost(8081),
                    serializers,
                    options: RawSocketOptions::default(),
                    auth: default_transport_auth(),
                }),
            ],
            components: Vec::new(),
            admin: AdminConfig::default(),
            management: None,
        }
    }

    /// Checks that the configuration is consistent: unique realm names,
    /// transport and component ids; roles that build (valid permission URIs,
    /// unique names); transports with serializers and usable `auth` tables;
    /// components and the management realm pointing at realms and roles that
    /// exist; no two listeners on one address; `home_shard` below `shards`.
    ///
    /// Returns the first problem found; [`Config::problems`] returns them all.
    /// Errors from this method carry the key path but no line (the
    /// configuration may have been built in code); loading from text adds it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Every problem [`Config::validate`] finds, in the order of the file's sections.
    pub fn problems(&self) -> Vec<ConfigError> {
        validate::problems(self)
            .into_iter()
            .map(|(path, message)| ConfigError::Invalid {
                at: Place::new(path.to_string(), None),
                message,
            })
            .collect()
    }

    /// A copy with every ticket and WAMP-CRA secret replaced by [`REDACTED`],
    /// and in components' `extra` every string under a key that names a
    /// secret (containing `secret`, `password`, `passwd`, `token`, `ticket`,
    /// `credential` or `key`, in any case).
    pub fn redacted(&self) -> Config {
        let mut copy = self.clone();
        for c in &mut copy.components {
            redact_table(&mut c.extra);
        }
        for r in &mut copy.realms {
            for l in &mut r.rlinks {
                *l = l.redacted();
            }
        }
        for t in &mut copy.transports {
            for auth in t.auths_mut() {
                if let Some(AuthMethodConfig::Static(s)) = &mut auth.ticket {
                    for p in s.principals.values_mut() {
                        p.ticket = REDACTED.into();
                    }
                }
                if let Some(AuthMethodConfig::Static(s)) = &mut auth.wampcra {
                    for u in s.users.values_mut() {
                        u.secret = REDACTED.into();
                    }
                }
            }
            let paths = match t {
                TransportConfig::Web(w) => Some(&mut w.paths),
                TransportConfig::Universal(u) => u.web.as_mut().map(|w| &mut w.paths),
                _ => None,
            };
            for p in paths.into_iter().flat_map(|p| p.values_mut()) {
                if let web::WebPath::Publisher(b)
                | web::WebPath::Caller(b)
                | web::WebPath::Webhook(b) = p
                {
                    b.options = b.options.redacted();
                }
            }
        }
        copy
    }

    /// The effective configuration as TOML, secrets redacted (see
    /// [`Config::redacted`]); loading it again gives an equal configuration
    /// when there were no secrets.
    ///
    /// Values substituted from the environment into other keys (a component's
    /// `extra.endpoint_url`, say) are written as they are.
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string(&self.redacted()).map_err(|e| ConfigError::Write(e.to_string()))
    }

    /// The realm named `name`.
    pub fn realm(&self, name: &str) -> Option<&RealmConfig> {
        self.realms.iter().find(|r| r.name == name)
    }

    /// The transport with id `id`.
    pub fn transport(&self, id: &str) -> Option<&TransportConfig> {
        self.transports.iter().find(|t| t.id() == id)
    }

    /// Gives transports and components without an id one, as Crossbar.io
    /// does: `transport001`, `component001`, ... by position (1-based).
    pub fn assign_ids(&mut self) {
        for (i, t) in self.transports.iter_mut().enumerate() {
            let id = match t {
                TransportConfig::Websocket(w) => &mut w.id,
                TransportConfig::Rawsocket(r) => &mut r.id,
                TransportConfig::Web(w) => &mut w.id,
                TransportConfig::Universal(u) => &mut u.id,
            };
            if id.is_empty() {
                *id = format!("transport{:03}", i + 1);
            }
        }
        for (i, c) in self.components.iter_mut().enumerate() {
            if c.id.is_empty() {
                c.id = format!("component{:03}", i + 1);
            }
        }
    }
}

/// Reads a configuration file, refusing a Crossbar.io JSON or YAML one.
fn read_toml(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: path.to_owned(),
        source,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match ext.as_deref() {
        Some("json") => Some("JSON"),
        Some("yaml" | "yml") => Some("YAML"),
        _ if text.trim_start().starts_with('{') => Some("JSON"),
        _ => None,
    };
    match format {
        Some(format) => Err(ConfigError::NotToml {
            file: path.to_owned(),
            format,
        }),
        None => Ok(text),
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// Loads `text`, substituting `${NAME}` from the process environment (a
    /// variable that is not valid UTF-8 counts as not set).
    fn from_str(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_with_env(text, |name| std::env::var(name).ok())
    }
}

impl Default for Config {
    /// [`Config::default_embedded`].
    fn default() -> Config {
        Config::default_embedded()
    }
}

// ---------------------------------------------------------------------------
// [router]
// ---------------------------------------------------------------------------

/// `[router]`: how shardwamp runs (no Crossbar.io counterpart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The router's name in its log (Crossbar.io's router worker `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How many shards (executors, one thread each): `"auto"` or a number.
    #[serde(default)]
    pub shards: Shards,
    /// CPUs to pin the shards to, shard `i` on `cpus[i]`; absent: one shard per
    /// CPU the process may use (its affinity mask: `taskset`, `CPUAffinity=`).
    /// With `shards = "auto"` there is one shard per listed CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Vec<usize>>,
    /// io_uring buffer memory per shard, in bytes (default 2 MiB).
    #[serde(default = "default_io_memory")]
    pub io_memory: usize,
    /// Log level: `off`, `error`, `warn`, `info` (default), `debug` or `trace`.
    #[serde(default)]
    pub log_level: LogLevel,
    /// The router's Ed25519 key file (Crossbar.io's node key,
    /// `.crossbar/key.priv`, or 64 hex characters of seed): cryptosign
    /// clients that send their own challenge get it signed with this key.
    /// A path relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_key: Option<PathBuf>,
}

fn default_io_memory() -> usize {
    2 * MIB
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            id: None,
            shards: Shards::Auto,
            cpus: None,
            io_memory: default_io_memory(),
            log_level: LogLevel::default(),
            node_key: None,
        }
    }
}

impl RouterConfig {
    /// The number of shards to run: the configured count, or with `"auto"`
    /// the number of listed CPUs, else the available parallelism (at least 1).
    pub fn shard_count(&self) -> u16 {
        match (self.shards, &self.cpus) {
            (Shards::Count(n), _) => n,
            (Shards::Auto, Some(cpus)) => clamp_shards(cpus.len()),
            (Shards::Auto, None) => clamp_shards(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
            ),
        }
    }
}

fn clamp_shards(n: usize) -> u16 {
    u16::try_from(n.max(1)).unwrap_or(u16::MAX)
}

/// `shards = "auto"` or `shards = N` (1 to 65535).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Shards {
    /// One shard per CPU (listed in `cpus`, or available).
    #[default]
    Auto,
    /// Exactly this many shards.
    Count(u16),
}

impl Serialize for Shards {
    fn serialize<S: SerdeSerializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Shards::Auto => s.serialize_str("auto"),
            Shards::Count(n) => s.serialize_u16(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Shards {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shards, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Shards;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""auto" or a shard count from 1 to 65535"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Shards, E> {
                if v == "auto" {
                    Ok(Shards::Auto)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Shards, E> {
                match u16::try_from(v) {
                    Ok(n) if n > 0 => Ok(Shards::Count(n)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Shards, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `log_level`; Crossbar.io's `none`, `critical` and `warning` are accepted
/// as `off`, `error` and `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Nothing.
    #[serde(alias = "none")]
    Off,
    /// Errors.
    #[serde(alias = "critical")]
    Error,
    /// Warnings and errors.
    #[serde(alias = "warning")]
    Warn,
    /// Informational messages and above (the default).
    #[default]
    Info,
    /// Debugging messages and above.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The `log` crate's filter for this level.
    pub fn to_level_filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

// ---------------------------------------------------------------------------
// [[transports]]
// ---------------------------------------------------------------------------

/// A listening transport, tagged by `type` as in Crossbar.io.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TransportConfig {
    /// `type = "websocket"`.
    Websocket(WebSocketTransport),
    /// `type = "rawsocket"`.
    Rawsocket(RawSocketTransport),
    /// `type = "web"`: WebSocket paths and HTTP bridge services on one port.
    Web(web::WebTransport),
    /// `type = "universal"`: RawSocket and web on one port.
    Universal(web::UniversalTransport),
}

/// The `auth` of a transport that has none of its own (a web transport's is each path's).
static NO_AUTH: std::sync::LazyLock<TransportAuth> =
    std::sync::LazyLock::new(TransportAuth::default);

impl TransportConfig {
    /// The transport's id.
    pub fn id(&self) -> &str {
        match self {
            TransportConfig::Websocket(w) => &w.id,
            TransportConfig::Rawsocket(r) => &r.id,
            TransportConfig::Web(w) => &w.id,
            TransportConfig::Universal(u) => &u.id,
        }
    }

    /// `"websocket"`, `"rawsocket"`, `"web"` or `"universal"`.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportConfig::Websocket(_) => "websocket",
            TransportConfig::Rawsocket(_) => "rawsocket",
            TransportConfig::Web(_) => "web",
            TransportConfig::Universal(_) => "universal",
        }
    }

    /// Where it listens.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            TransportConfig::Websocket(w) => &w.endpoint,
            TransportConfig::Rawsocket(r) => &r.endpoint,
            TransportConfig::Web(w) => &w.endpoint,
            TransportConfig::Universal(u) => &u.endpoint,
        }
    }

    /// The serializers it offers, in preference order (a universal
    /// transport's RawSocket part's; none for a web transport, whose paths
    /// each have their own).
    pub fn serializers(&self) -> &[Serializer] {
        match self {
            TransportConfig::Websocket(w) => &w.serializers,
            TransportConfig::Rawsocket(r) => &r.serializers,
            TransportConfig::Web(_) => &[],
            TransportConfig::Universal(u) => u.rawsocket.as_ref().map_or(&[], |r| &r.serializers),
        }
    }

    /// Its authentication methods (a universal transport's RawSocket
    /// part's; none for a web transport, whose WebSocket paths each have their own).
    pub fn auth(&self) -> &TransportAuth {
        match self {
            TransportConfig::Websocket(w) => &w.auth,
            TransportConfig::Rawsocket(r) => &r.auth,
            TransportConfig::Web(_) => &NO_AUTH,
            TransportConfig::Universal(u) => u.rawsocket.as_ref().map_or(&NO_AUTH, |r| &r.auth),
        }
    }

    /// Its connection limits and session-opening deadlines.
    pub fn limits(&self) -> ConnectionLimits {
        match self {
            TransportConfig::Websocket(w) => w.options.limits(),
            TransportConfig::Rawsocket(r) => r.options.limits(),
            TransportConfig::Web(w) => w.options.limits(),
            TransportConfig::Universal(u) => {
                let mut l = u.web_options().limits();
                if let Some(r) = &u.rawsocket {
                    let rl = r.options.limits();
                    l.hello_timeout = rl.hello_timeout;
                    l.auth_timeout = rl.auth_timeout;
                    l.max_auth_failures_per_address = rl.max_auth_failures_per_address;
                    l.auth_failure_window = rl.auth_failure_window;
                }
                l
            }
        }
    }

    /// Its outgoing queue limits.
    pub fn queue(&self) -> QueueConfig {
        match self {
            TransportConfig::Websocket(w) => w.options.queue(),
            TransportConfig::Rawsocket(r) => r.options.queue(),
            TransportConfig::Web(_) => WebSocketOptions::default().queue(),
            TransportConfig::Universal(u) => u.rawsocket.as_ref().map_or_else(
                || RawSocketOptions::default().queue(),
                |r| r.options.queue(),
            ),
        }
    }

    /// Sets the transport's id.
    pub fn set_id(&mut self, id: &str) {
        match self {
            TransportConfig::Websocket(w) => w.id = id.to_owned(),
            TransportConfig::Rawsocket(r) => r.id = id.to_owned(),
            TransportConfig::Web(w) => w.id = id.to_owned(),
            TransportConfig::Universal(u) => u.id = id.to_owned(),
        }
    }

    /// Every `auth` table it has: its own, or each WebSocket path's and the
    /// RawSocket part's.
    pub fn auths(&self) -> Vec<&TransportAuth> {
        match self {
            TransportConfig::Websocket(w) => vec![&w.auth],
            TransportConfig::Rawsocket(r) => vec![&r.auth],
            TransportConfig::Web(w) => web_auths(&w.paths).collect(),
            TransportConfig::Universal(u) => u
                .rawsocket
                .iter()
                .map(|r| &r.auth)
                .chain(u.websocket.iter().flat_map(|m| m.values().map(|w| &w.auth)))
                .chain(u.web.iter().flat_map(|w| web_auths(&w.paths)))
                .collect(),
        }
    }

    fn auths_mut(&mut self) -> Vec<&mut TransportAuth> {
        fn of(
            paths: &mut BTreeMap<String, web::WebPath>,
        ) -> impl Iterator<Item = &mut TransportAuth> {
            paths.values_mut().filter_map(|p| match p {
                web::WebPath::Websocket(w) => Some(&mut w.auth),
                _ => None,
            })
        }
        match self {
            TransportConfig::Websocket(w) => vec![&mut w.auth],
            TransportConfig::Rawsocket(r) => vec![&mut r.auth],
            TransportConfig::Web(w) => of(&mut w.paths).collect(),
            TransportConfig::Universal(u) => u
                .rawsocket
                .iter_mut()
                .map(|r| &mut r.auth)
                .chain(
                    u.websocket
                        .iter_mut()
                        .flat_map(|m| m.values_mut().map(|w| &mut w.auth)),
                )
                .chain(u.web.iter_mut().flat_map(|w| of(&mut w.paths)))
                .collect(),
        }
    }
}

fn web_auths(paths: &BTreeMap<String, web::WebPath>) -> impl Iterator<Item = &TransportAuth> {
    paths.values().filter_map(|p| match p {
        web::WebPath::Websocket(w) => Some(&w.auth),
        _ => None,
    })
}

/// The `auth` of a transport whose TOML has no `auth` table: anonymous
/// sessions under the role `anonymous`, as in Crossbar.io. An `auth` table
/// that is present (even empty) is taken as written, with no implicit
/// anonymous access.
pub fn default_transport_auth() -> TransportAuth {
    TransportAuth::anonymous_only(DEFAULT_ANONYMOUS_ROLE)
}

fn default_serializers() -> Vec<Serializer> {
    Serializer::ALL.to_vec()
}

fn default_url() -> String {
    "/".to_owned()
}

/// A WebSocket transport: `{id, endpoint, url, serializers, options, auth}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketTransport {
    /// The transport's id; absent: `transportNNN` by position.
    #[serde(default)]
    pub id: String,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// The HTTP path WebSocket upgrades are accepted on (default `/`).
    #[serde(default = "default_url")]
    pub url: String,
    /// Serializers offered, in preference order (default json, msgpack, cbor).
    #[serde(default = "default_serializers", with = "serializer_names")]
    pub serializers: Vec<Serializer>,
    /// WebSocket options.
    #[serde(default)]
    pub options: WebSocketOptions,
    /// Authentication; without an `auth` table: [`default_transport_auth`].
    #[serde(default = "default_transport_auth")]
    pub auth: TransportAuth,
}

/// A RawSocket transport: `{id, endpoint, serializers, options, auth}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSocketTransport {
    /// The transport's id; absent: `transportNNN` by position.
    #[serde(default)]
    pub id: String,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// Serializers offered, in preference order (default json, msgpack, cbor).
    #[serde(default = "default_serializers", with = "serializer_names")]
    pub serializers: Vec<Serializer>,
    /// RawSocket options.
    #[serde(default)]
    pub options: RawSocketOptions,
    /// Authentication; without an `auth` table: [`default_transport_auth`].
    #[serde(default = "default_transport_auth")]
    pub auth: TransportAuth,
}

/// What to do with a connection whose outgoing queue is full (`slow_consumer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlowConsumer {
    /// Drop events that do not fit (and count them); any other message that
    /// does not fit disconnects the session (the default).
    #[default]
    Drop,
    /// Disconnect the session.
    Disconnect,
}

/// A connection's outgoing queue bounds, from a transport's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueConfig {
    /// Most messages queued (0 = unlimited).
    pub max_messages: usize,
    /// Most bytes queued (0 = unlimited).
    pub max_bytes: usize,
    /// What to do when full.
    pub slow_consumer: SlowConsumer,
}

/// A transport's connection limits and session-opening deadlines (both
/// transport kinds' `options`; times in ms, 0 meaning none or unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnectionLimits {
    /// Time to send HELLO once the transport is open.
    pub hello_timeout: u64,
    /// Time to answer a CHALLENGE.
    pub auth_timeout: u64,
    /// Failed authentications one IP address may make within
    /// `auth_failure_window` (per shard) before its HELLOs are refused (0 = no limit).
    pub max_auth_failures_per_address: u32,
    /// The window of `max_auth_failures_per_address`, ms.
    pub auth_failure_window: u64,
    /// Most open connections, all shards together.
    pub max_connections: usize,
    /// Most open connections on one shard.
    pub max_connections_per_shard: usize,
    /// Most connections in the opening handshake, all shards together.
    pub max_handshakes: usize,
    /// Most connections in the opening handshake on one shard.
    pub max_handshakes_per_shard: usize,
}

fn default_hello_timeout() -> u64 {
    10_000
}
fn default_auth_timeout() -> u64 {
    10_000
}
fn default_auth_failure_window() -> u64 {
    60_000
}

fn default_queue_messages() -> usize {
    10_000
}
fn default_queue_bytes() -> usize {
    16 * MIB
}
fn default_max_message() -> usize {
    16 * MIB
}
fn default_open_handshake() -> u64 {
    10_000
}
fn default_close_handshake() -> u64 {
    1_000
}
fn default_ping_size() -> u8 {
    4
}
fn default_origins() -> Vec<String> {
    vec!["*".to_owned()]
}
fn yes() -> bool {
    true
}

/// WebSocket options, as in Crossbar.io (times in milliseconds, sizes in
/// bytes, 0 meaning "none" or "unlimited"), plus shardwamp's outgoing queue limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketOptions {
    /// Origins WebSocket clients may connect from: `["*"]` (the default)
    /// allows any; otherwise the `Origin` header must match an entry, `*` in
    /// an entry matching any run of characters as in Crossbar.io
    /// (`https://*.example.com`). An empty list is refused by validation: it
    /// would mean "no origin" in Crossbar.io but reads as "any" elsewhere.
    #[serde(default = "default_origins")]
    pub allowed_origins: Vec<String>,
    /// Let browsers whose `Origin` is `null` (pages from `file://`, sandboxed
    /// frames) connect even when `allowed_origins` would refuse them
    /// (default false; autobahn's default is true — set it where you relied on it).
    #[serde(default)]
    pub allow_null_origin: bool,
    /// Crossbar.io's status page for a plain HTTP GET on the WebSocket URL.
    /// Accepted for Crossbar.io configs; shardwamp serves no such page (such
    /// a GET fails as a WebSocket handshake), whatever it says: `/health`
    /// and `/metrics` on the admin listener serve that need.
    #[serde(default = "yes")]
    pub enable_webstatus: bool,
    /// When a connection is failed (a protocol violation, a message too
    /// big), drop TCP at once instead of sending a Close frame first
    /// (default false: the Close frame says why, with its RFC 6455 code).
    #[serde(default)]
    pub fail_by_drop: bool,
    /// autobahn's `echoCloseCodeReason`: answer a peer's Close with its
    /// code and reason. shardwamp's WebSocket library always answers with
    /// the peer's code and no reason, whatever this says.
    #[serde(default)]
    pub echo_close_codereason: bool,
    /// Time allowed for the opening handshake, ms (default 10000; 0 = none).
    #[serde(default = "default_open_handshake")]
    pub open_handshake_timeout: u64,
    /// Time the router waits for the peer's Close after sending its own, ms
    /// (default 1000); then it drops the TCP connection. 0: it sends its Close
    /// and does not wait.
    #[serde(default = "default_close_handshake")]
    pub close_handshake_timeout: u64,
    /// Check that text messages are valid UTF-8 (default true). shardwamp
    /// always does (its WebSocket library cannot be told not to), so `false`
    /// is refused by validation rather than silently ignored.
    #[serde(default = "yes")]
    pub validate_utf8: bool,
    /// Largest frame payload accepted (default 16 MiB; 0 = unlimited).
    #[serde(default = "default_max_message")]
    pub max_frame_size: usize,
    /// Largest message accepted, all frames together (default 16 MiB; 0 = unlimited).
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
    /// Send outgoing messages larger than this as fragments (a first frame and
    /// continuation frames) of at most this many payload bytes (default 0 = never).
    #[serde(default)]
    pub auto_fragment_size: usize,
    /// Send a ping after this long without traffic, ms (default 0 = never).
    #[serde(default)]
    pub auto_ping_interval: u64,
    /// Drop the connection when a ping is not answered within this, ms
    /// (default 0 = the interval).
    #[serde(default)]
    pub auto_ping_timeout: u64,
    /// Payload size of automatic pings, 4 to 125 bytes (default 4): random
    /// bytes, and only a pong that echoes them counts as an answer.
    #[serde(default = "default_ping_size")]
    pub auto_ping_size: u8,
    /// Set `TCP_NODELAY` (default true).
    #[serde(default = "yes")]
    pub tcp_nodelay: bool,
    /// Most bytes read from the socket at a time (shardwamp; default 2048,
    /// at least 256). A connection does not keep a buffer this large: what
    /// a read brings beyond what the framing takes waits in an allocation
    /// of its own, freed once taken (`transport/read_ahead.rs`). A larger
    /// value saves reads for connections that receive a lot (a larger
    /// message still arrives, in several reads).
    #[serde(default = "default_read_buffer")]
    pub read_buffer_size: usize,
    /// Crossbar.io's permessage-deflate settings (a bool or a table): only
    /// `false` (or leaving it out) is accepted; anything asking for
    /// compression is refused by validation, since shardwamp does not
    /// compress (compression costs more CPU than WAMP's small messages save).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<toml::Value>,
    /// Most messages queued for one connection (default 10000; 0 = unlimited).
    #[serde(default = "default_queue_messages")]
    pub max_queue_messages: usize,
    /// Most bytes queued for one connection (default 16 MiB; 0 = unlimited).
    #[serde(default = "default_queue_bytes")]
    pub max_queue_bytes: usize,
    /// Time a session has to send HELLO once the transport is open, ms
    /// (default 10000; 0 = none). A connection that has not said HELLO by
    /// then is closed.
    #[serde(default = "default_hello_timeout")]
    pub hello_timeout: u64,
    /// Time a session has to answer a CHALLENGE, ms (default 10000; 0 = none).
    #[serde(default = "default_auth_timeout")]
    pub auth_timeout: u64,
    /// Failed authentications (a wrong ticket or signature, an unknown
    /// authid) one IP address may make on this transport within
    /// `auth_failure_window` before its further HELLOs are refused with ABORT
    /// `wamp.error.authentication_failed` until the window ends (default 0 =
    /// no limit: off, since clients behind one NAT share an address and one
    /// attacker among them would lock the others out). Counted by each shard
    /// for the connections it serves, so an address may fail up to this many
    /// times on each shard.
    #[serde(default)]
    pub max_auth_failures_per_address: u32,
    /// The window of `max_auth_failures_per_address`, ms (default 60000),
    /// starting at an address's first failure.
    #[serde(default = "default_auth_failure_window")]
    pub auth_failure_window: u64,
    /// Most connections open on this transport, all shards together
    /// (default 0 = unlimited); a connection over it is closed at accept.
    #[serde(default)]
    pub max_connections: usize,
    /// Most connections open on this transport on one shard (default 0 = unlimited).
    #[serde(default)]
    pub max_connections_per_shard: usize,
    /// Most connections still in the transport's opening handshake, all
    /// shards together (default 0 = unlimited).
    #[serde(default)]
    pub max_handshakes: usize,
    /// Most connections still in the opening handshake on one shard (default 0 = unlimited).
    #[serde(default)]
    pub max_handshakes_per_shard: usize,
    /// What to do when a connection's queue is full (default `drop`).
    #[serde(default)]
    pub slow_consumer: SlowConsumer,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            allowed_origins: default_origins(),
            allow_null_origin: false,
            enable_webstatus: true,
            fail_by_drop: false,
            echo_close_codereason: false,
            open_handshake_timeout: default_open_handshake(),
            close_handshake_timeout: default_close_handshake(),
            validate_utf8: true,
            max_frame_size: default_max_message(),
            max_message_size: default_max_message(),
            auto_fragment_size: 0,
            auto_ping_interval: 0,
            auto_ping_timeout: 0,
            auto_ping_size: default_ping_size(),
            tcp_nodelay: true,
            read_buffer_size: default_read_buffer(),
            compression: None,
            max_queue_messages: default_queue_messages(),
            max_queue_bytes: default_queue_bytes(),
            hello_timeout: default_hello_timeout(),
            auth_timeout: default_auth_timeout(),
            max_auth_failures_per_address: 0,
            auth_failure_window: default_auth_failure_window(),
            max_connections: 0,
            max_connections_per_shard: 0,
            max_handshakes: 0,
            max_handshakes_per_shard: 0,
            slow_consumer: SlowConsumer::default(),
        }
    }
}

fn default_read_buffer() -> usize {
    2048
}

impl WebSocketOptions {
    /// The connection limits and session-opening deadlines.
    pub fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            hello_timeout: self.hello_timeout,
            auth_timeout: self.auth_timeout,
            max_auth_failures_per_address: self.max_auth_failures_per_address,
            auth_failure_window: self.auth_failure_window,
            max_connections: self.max_connections,
            max_connections_per_shard: self.max_connections_per_shard,
            max_handshakes: self.max_handshakes,
            max_handshakes_per_shard: self.max_handshakes_per_shard,
        }
    }

    /// The outgoing queue limits.
    pub fn queue(&self) -> QueueConfig {
        QueueConfig {
            max_messages: self.max_queue_messages,
            max_bytes: self.max_queue_bytes,
            slow_consumer: self.slow_consumer,
        }
    }
}

/// The smallest RawSocket message limit (length exponent 0).
pub const RAWSOCKET_MIN_MESSAGE: usize = 512;
/// The largest RawSocket message limit (length exponent 15).
pub const RAWSOCKET_MAX_MESSAGE: usize = 16 * MIB;

/// RawSocket options: Crossbar.io's `max_message_size`, plus shardwamp's
/// handshake timeout and outgoing queue limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSocketOptions {
    /// Largest message accepted, 512 B to 16 MiB (default 16 MiB). The
    /// handshake announces it as a power of two, so it is rounded down to one:
    /// see [`RawSocketOptions::length_exponent`].
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
    /// Time allowed for the opening handshake, ms (default 10000; 0 = none).
    #[serde(default = "default_open_handshake")]
    pub open_handshake_timeout: u64,
    /// Most bytes read from the socket at a time (default 2048, at least
    /// 256), as for WebSocket.
    #[serde(default = "default_read_buffer")]
    pub read_buffer_size: usize,
    /// Most messages queued for one connection (default 10000; 0 = unlimited).
    #[serde(default = "default_queue_messages")]
    pub max_queue_messages: usize,
    /// Most bytes queued for one connection (default 16 MiB; 0 = unlimited).
    #[serde(default = "default_queue_bytes")]
    pub max_queue_bytes: usize,
    /// Time a session has to send HELLO once the transport is open, ms
    /// (default 10000; 0 = none). A connection that has not said HELLO by
    /// then is closed.
    #[serde(default = "default_hello_timeout")]
    pub hello_timeout: u64,
    /// Time a session has to answer a CHALLENGE, ms (default 10000; 0 = none).
    #[serde(default = "default_auth_timeout")]
    pub auth_timeout: u64,
    /// Failed authentications (a wrong ticket or signature, an unknown
    /// authid) one IP address may make on this transport within
    /// `auth_failure_window` before its further HELLOs are refused with ABORT
    /// `wamp.error.authentication_failed` until the window ends (default 0 =
    /// no limit: off, since clients behind one NAT share an address and one
    /// attacker among them would lock the others out). Counted by each shard
    /// for the connections it serves, so an address may fail up to this many
    /// times on each shard.
    #[serde(default)]
    pub max_auth_failures_per_address: u32,
    /// The window of `max_auth_failures_per_address`, ms (default 60000),
    /// starting at an address's first failure.
    #[serde(default = "default_auth_failure_window")]
    pub auth_failure_window: u64,
    /// Most connections open on this transport, all shards together
    /// (default 0 = unlimited); a connection over it is closed at accept.
    #[serde(default)]
    pub max_connections: usize,
    /// Most connections open on this transport on one shard (default 0 = unlimited).
    #[serde(default)]
    pub max_connections_per_shard: usize,
    /// Most connections still in the transport's opening handshake, all
    /// shards together (default 0 = unlimited).
    #[serde(default)]
    pub max_handshakes: usize,
    /// Most connections still in the opening handshake on one shard (default 0 = unlimited).
    #[serde(default)]
    pub max_handshakes_per_shard: usize,
    /// What to do when a connection's queue is full (default `drop`).
    #[serde(default)]
    pub slow_consumer: SlowConsumer,
}

impl Default for RawSocketOptions {
    fn default() -> Self {
        RawSocketOptions {
            max_message_size: default_max_message(),
            open_handshake_timeout: default_open_handshake(),
            read_buffer_size: default_read_buffer(),
            max_queue_messages: default_queue_messages(),
            max_queue_bytes: default_queue_bytes(),
            hello_timeout: default_hello_timeout(),
            auth_timeout: default_auth_timeout(),
            max_auth_failures_per_address: 0,
            auth_failure_window: default_auth_failure_window(),
            max_connections: 0,
            max_connections_per_shard: 0,
            max_handshakes: 0,
            max_handshakes_per_shard: 0,
            slow_consumer: SlowConsumer::default(),
        }
    }
}

impl RawSocketOptions {
    /// The connection limits and session-opening deadlines.
    pub fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            hello_timeout: self.hello_timeout,
            auth_timeout: self.auth_timeout,
            max_auth_failures_per_address: self.max_auth_failures_per_address,
            auth_failure_window: self.auth_failure_window,
            max_connections: self.max_connections,
            max_connections_per_shard: self.max_connections_per_shard,
            max_handshakes: self.max_handshakes,
            max_handshakes_per_shard: self.max_handshakes_per_shard,
        }
    }

    /// The handshake's length exponent `n` (0 to 15): the largest with
    /// `2^(9+n) <= max_message_size`, clamped to the protocol's range.
    pub fn length_exponent(&self) -> u8 {
        let size = self
            .max_message_size
            .clamp(RAWSOCKET_MIN_MESSAGE, RAWSOCKET_MAX_MESSAGE);
        // size >= 512, so ilog2 >= 9; size <= 2^24, so the result <= 15.
        (size.ilog2() - 9) as u8
    }

    /// The limit actually enforced: `2^(9 + length_exponent)` bytes.
    pub fn effective_max_message_size(&self) -> usize {
        1usize << (9 + u32::from(self.length_exponent()))
    }

    /// The outgoing queue limits.
    pub fn queue(&self) -> QueueConfig {
        QueueConfig {
            max_messages: self.max_queue_messages,
            max_bytes: self.max_queue_bytes,
            slow_consumer: self.slow_consumer,
        }
    }
}

/// `serializers = ["json", "msgpack", "cbor"]`: names as in Crossbar.io.
mod serializer_names {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer as SerdeSerializer};

    use crate::wamp::serializer::Serializer;

    pub fn serialize<S: SerdeSerializer>(list: &[Serializer], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for ser in list {
            seq.serialize_element(ser.name())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Serializer>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|name| {
                Serializer::from_name(name).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown serializer {name:?}, expected one of json, msgpack, cbor"
                    ))
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

/// Where a transport listens, tagged by `type` as in Crossbar.io.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Endpoint {
    /// `type = "tcp"`.
    Tcp(TcpEndpoint),
    /// `type = "unix"`.
    Unix(UnixEndpoint),
}

impl Endpoint {
    /// The endpoint's TLS settings, when it serves TLS.
    pub fn tls(&self) -> Option<&TlsConfig> {
        match self {
            Endpoint::Tcp(t) => t.tls.as_ref(),
            Endpoint::Unix(u) => u.tls.as_ref(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(t) => write!(f, "tcp:{}", t.socket_addr()),
            Endpoint::Unix(u) => write!(f, "unix:{}", u.path.display()),
        }
    }
}

/// The IP version of a TCP endpoint: `version = 4` or `6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpVersion {
    /// IPv4 (the default).
    #[default]
    V4,
    /// IPv6.
    V6,
}

impl Serialize for IpVersion {
    fn serialize<S: SerdeSerializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        })
    }
}

impl<'de> Deserialize<'de> for IpVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IpVersion, D::Error> {
        match i64::deserialize(d)? {
            4 => Ok(IpVersion::V4),
            6 => Ok(IpVersion::V6),
            v => Err(serde::de::Error::custom(format!(
                "invalid IP version {v}, expected 4 or 6"
            ))),
        }
    }
}

fn default_backlog() -> u32 {
    1024
}

/// A TCP listening endpoint: `{type = "tcp", port, interface, version, backlog, shared, tls}`.
///
/// Every shard listens on it (`SO_REUSEPORT`), so `shared` is accepted for
/// Crossbar.io compatibility and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpEndpoint {
    /// The port; 0 picks any free port (tests use it). A string holding a
    /// number is taken too, so that `port = "${PORT}"` reads the
    /// environment as Crossbar.io's `"$PORT"` does.
    #[serde(deserialize_with = "port_number")]
    pub port: u16,
    /// The address to listen on; absent: every interface (`0.0.0.0`, or `::`
    /// with `version = 6`), as in Crossbar.io. Write `"127.0.0.1"` to accept
    /// local connections only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<IpAddr>,
    /// 4 (default) or 6.
    #[serde(default)]
    pub version: IpVersion,
    /// The listen backlog (default 1024).
    #[serde(default = "default_backlog")]
    pub backlog: u32,
    /// Crossbar.io's port sharing between workers (accepted, no effect).
    #[serde(default)]
    pub shared: bool,
    /// TLS (Crossbar.io's keys); the files are checked by the config check
    /// and loaded by the transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

impl TcpEndpoint {
    /// A plain TCP endpoint on `port`, every interface, IPv4.
    pub fn new(port: u16) -> TcpEndpoint {
        TcpEndpoint {
            port,
            interface: None,
            version: IpVersion::V4,
            backlog: default_backlog(),
            shared: false,
            tls: None,
        }
    }

    /// The interface, with the default for the IP version applied.
    pub fn interface_addr(&self) -> IpAddr {
        match (self.interface, self.version) {
            (Some(addr), _) => addr,
            (None, IpVersion::V4) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (None, IpVersion::V6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// The address to bind.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.interface_addr(), self.port)
    }
}

/// TLS files, as in Crossbar.io (paths as written in the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// The server's certificate (PEM).
    pub certificate: PathBuf,
    /// Intermediate certificates sent with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain_certificates: Vec<PathBuf>,
    /// Allowed cipher suites (OpenSSL syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphers: Option<String>,
    /// CA certificates client certificates are checked against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certificates: Vec<PathBuf>,
    /// Diffie-Hellman parameters file: accepted and ignored with a warning
    /// (rustls has no finite-field Diffie-Hellman).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhparam: Option<PathBuf>,
}

/// A port: a number, or a string holding one (as `${PORT}` gives).
fn port_number<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = u16;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port number from 0 to 65535")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u16, E> {
            u16::try_from(v)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u16, E> {
            u16::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u16, E> {
            v.trim()
                .parse::<u16>()
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_any(V)
}

/// A Unix domain socket endpoint: `{type = "unix", path, backlog, tls}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnixEndpoint {
    /// The socket's path.
    pub path: PathBuf,
    /// The listen backlog (default 1024).
    #[serde(default = "default_backlog")]
    pub backlog: u32,
    /// TLS over the Unix socket (as on a TCP endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

// ---------------------------------------------------------------------------
// [[components]], [admin], [management]
// ---------------------------------------------------------------------------

/// A component's `type`: only `"class"` (Rust code compiled into the router
/// and registered under `classname`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// `type = "class"`.
    Class,
}

/// A component run inside the router, joined to a realm under a role:
/// `{id, type = "class", realm, role, classname, extra}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// The component's id; absent: `componentNNN` by position.
    #[serde(default)]
    pub id: String,
    /// Always `"class"`.
    #[serde(rename = "type")]
    pub kind: ComponentKind,
    /// The realm it joins.
    pub realm: String,
    /// The role it joins under (must exist in the realm).
    pub role: String,
    /// The name the component's code is registered under.
    pub classname: String,
    /// Free-form settings handed to the component.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub extra: toml::Table,
}

impl ComponentConfig {
    /// `extra` as a WAMP dictionary (datetimes become strings).
    pub fn extra_dict(&self) -> Dict {
        self.extra
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_value(v)))
            .collect()
    }
}

/// Whether a key in `extra` names a secret.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passwd",
        "token",
        "ticket",
        "credential",
        "key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

fn redact_table(table: &mut toml::Table) {
    for (k, v) in table.iter_mut() {
        redact_value(v, is_secret_key(k));
    }
}

fn redact_value(v: &mut toml::Value, secret: bool) {
    match v {
        toml::Value::String(s) if secret => *s = REDACTED.to_owned(),
        toml::Value::Array(a) => a.iter_mut().for_each(|e| redact_value(e, secret)),
        toml::Value::Table(t) => redact_table(t),
        _ => {}
    }
}

fn toml_to_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => match u64::try_from(*i) {
            Ok(u) => Value::UInt(u),
            Err(_) => Value::Int(*i),
        },
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(a) => Value::List(a.iter().map(toml_to_value).collect()),
        toml::Value::Table(t) => Value::Dict(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_value(v)))
                .collect(),
        ),
    }
}

fn default_admin_endpoint() -> Endpoint {
    Endpoint::Tcp(TcpEndpoint {
        interface: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ..TcpEndpoint::new(9090)
    })
}

/// `[admin]`: the HTTP listener serving `/metrics` (Prometheus), `/health`
/// and `/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Whether to serve it (default false).
    #[serde(default)]
    pub enabled: bool,
    /// Where (default `127.0.0.1:9090`).
    #[serde(default = "default_admin_endpoint")]
    pub endpoint: Endpoint,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: false,
            endpoint: default_admin_endpoint(),
        }
    }
}

/// `[management]`: the realm the controller API (Crossbar.io's
/// `RouterController` procedures) is registered on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementConfig {
    /// The management realm, one of `[[realms]]` (its roles decide who may
    /// call the controller), e.g. `"shardwamp.management"`.
    pub realm: String,
    /// The id of the only transport on which the realm can be joined
    /// (a local or Unix socket, say); absent: any transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Let anonymous sessions join the management realm (default false).
    #[serde(default)]
    pub allow_anonymous: bool,
    /// The role the management component joins under (default: the realm's first role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}
