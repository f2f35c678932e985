//! What a load-generator run does: [`Settings`] as given (command-line flags
//! or a TOML scenario file, every field optional) and [`Options`] resolved
//! from them with defaults and checked.

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer as SerdeSerializer};

use super::Error;
use crate::codec::Serializer;

/// How the generator's sessions authenticate (`--auth`). `Debug` and the
/// report show no ticket or private key: only the authid or the public key.
#[derive(Clone, Default)]
pub enum Auth {
    /// No authentication (the router's anonymous method).
    #[default]
    Anonymous,
    /// A ticket.
    Ticket {
        /// The authid.
        authid: String,
        /// The ticket.
        ticket: String,
    },
    /// WAMP-cryptosign with a key file's key, the authid inferred.
    Cryptosign(crate::wamp::cryptosign::PrivateKey),
    /// WAMP-cryptosign bound to the TLS channel (`tls-exporter`; `wss://`
    /// and `rss://` only).
    CryptosignBound(crate::wamp::cryptosign::PrivateKey),
}

impl Auth {
    /// Parses `anonymous`, `ticket:AUTHID` (ticket from `SHARDWAMP_TICKET`)
    /// `cryptosign:KEYFILE` or `cryptosign-bound:KEYFILE` (channel binding
    /// `tls-exporter`). A key file its group or others may read gets a
    /// warning on stderr.
    pub fn parse(text: &str) -> Result<Auth, Error> {
        let bad = |m: String| Error::Options(format!("--auth {text}: {m}"));
        match text.split_once(':') {
            None if text == "anonymous" => Ok(Auth::Anonymous),
            Some(("ticket", authid)) if !authid.is_empty() => Ok(Auth::Ticket {
                authid: authid.to_owned(),
                ticket: std::env::var("SHARDWAMP_TICKET")
                    .map_err(|_| bad("set SHARDWAMP_TICKET to the ticket".into()))?,
            }),
            Some((method @ ("cryptosign" | "cryptosign-bound"), path)) => {
                let (key, warning) = crate::config::keyfile::read_key_file(Path::new(path))
                    .map_err(|e| bad(e.to_string()))?;
                if let Some(w) = warning {
                    eprintln!("shardwamp-bench: warning: {w}");
                }
                Ok(if method == "cryptosign" {
                    Auth::Cryptosign(key)
                } else {
                    Auth::CryptosignBound(key)
                })
            }
            _ => Err(bad(
                "expected anonymous, ticket:AUTHID, cryptosign:KEYFILE or cryptosign-bound:KEYFILE"
                    .into(),
            )),
        }
    }

    /// What the report shows: the method and the authid or public key.
    pub fn describe(&self) -> String {
        match self {
            Auth::Anonymous => "anonymous".into(),
            Auth::Ticket { authid, .. } => format!("ticket:{authid}"),
            Auth::Cryptosign(key) => format!("cryptosign:{}", key.public_hex()),
            Auth::CryptosignBound(key) => format!("cryptosign-bound:{}", key.public_hex()),
        }
    }

    /// The client authenticator of one session.
    pub fn authenticator(&self) -> Box<dyn crate::client::auth::ClientAuthenticator> {
        use crate::client::auth::{Anonymous, Cryptosign, Ticket};
        match self {
            Auth::Anonymous => Box::new(Anonymous::default()),
            Auth::Ticket { authid, ticket } => Box::new(Ticket {
                authid: authid.clone(),
                ticket: ticket.clone(),
            }),
            Auth::Cryptosign(key) => Box::new(Cryptosign::new(key.clone(), None)),
            Auth::CryptosignBound(key) => Box::new(
                Cryptosign::new(key.clone(), None)
                    .bind_to_tls(crate::wamp::cryptosign::BINDING_TLS_EXPORTER),
            ),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PartialEq for Auth {
    fn eq(&self, other: &Auth) -> bool {
        self.describe() == other.describe()
    }
}

impl Serialize for Auth {
    fn serialize<S: SerdeSerializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.describe())
    }
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Publishers publish to topics that subscribers subscribe to.
    Fanout,
    /// Callers call a procedure that callees register.
    Rpc,
    /// Sessions are opened at a rate and held.
    Sessions,
    /// `fanout` and `rpc` at once, with `--sessions` idle sessions held beside them.
    Mixed,
    /// Bare WebSocket round trips, no WAMP, against an echo server
    /// (benches/matrix/echo): `--callers` connections send `--payload`-byte
    /// messages at `--rate` (or keep `--outstanding` in flight); with
    /// `--callees N` each message takes a call's two hops (caller → server →
    /// one of N callee connections → server → caller).
    Echo,
}

impl Scenario {
    /// The scenario's name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Rpc => "rpc",
            Scenario::Sessions => "sessions",
            Scenario::Mixed => "mixed",
            Scenario::Echo => "echo",
        }
    }

    /// Whether the scenario publishes events.
    pub fn has_fanout(self) -> bool {
        matches!(self, Scenario::Fanout | Scenario::Mixed)
    }

    /// Whether the scenario calls procedures.
    pub fn has_rpc(self) -> bool {
        matches!(self, Scenario::Rpc | Scenario::Mixed)
    }
}

/// The options of a run as given: command-line flags or the keys of a TOML
/// scenario file (the same names: `--payload 64` is `payload = 64`). Every
/// field is optional; [`Settings::resolve`] fills in the defaults.
///
/// Durations are written `10s`, `500ms`, `2m` or a number of seconds; rates
/// `5000/s`, `5000` or `5k/s`.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// The scenario (scenario files only; on the command line it is the first argument).
    #[arg(skip)]
    pub scenario: Option<Scenario>,
    /// The router: `ws://HOST:PORT/PATH` (WebSocket) or `rs://HOST:PORT` (RawSocket);
    /// `wss://` and `rss://` over TLS. [default: ws://127.0.0.1:8080/ws]
    #[arg(long)]
    pub url: Option<String>,
    /// Another router for the subscribers and callees (fanout, rpc, mixed),
    /// to measure across a router link: publishers and callers join `--url`,
    /// subscribers and callees this one (same forms as `--url`). [default: --url]
    #[arg(long)]
    pub sink_url: Option<String>,
    /// TLS: a CA certificate (PEM) to trust instead of the Mozilla roots.
    #[arg(long)]
    pub tls_ca: Option<String>,
    /// json, msgpack or cbor. [default: json]
    #[arg(long)]
    pub serializer: Option<String>,
    /// The realm to join. [default: realm1]
    #[arg(long)]
    pub realm: Option<String>,
    /// How every session authenticates: `anonymous`, `ticket:AUTHID` (the
    /// ticket from SHARDWAMP_TICKET), `cryptosign:KEYFILE` (the authid
    /// inferred from the key) or `cryptosign-bound:KEYFILE` (the same, bound
    /// to the TLS channel with `tls-exporter`: wss://, rss://). [default: anonymous]
    #[arg(long)]
    pub auth: Option<String>,
    /// How long to measure (fanout, rpc, mixed). [default: 10s]
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub duration: Option<String>,
    /// Traffic before measuring starts, not counted. [default: 2s]
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub warmup: Option<String>,
    /// After measuring, how long to wait for what is still in flight before
    /// counting it missing. [default: 5s]
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub drain: Option<String>,
    /// Generator shards (one glommio executor each). [default: the number of --cpus, else 1]
    #[arg(long)]
    pub shards: Option<usize>,
    /// CPUs to pin the generator's shards to, one each in turn: `1,2` or `2-5`.
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub cpus: Option<String>,
    /// The router's process id, to report its CPU time and peak RSS.
    #[arg(long)]
    pub router_pid: Option<u32>,
    /// shardwamp's admin `/metrics` URL (`http://127.0.0.1:9090/metrics`): the
    /// events it dropped for slow consumers during the run are read from it,
    /// and a delivery ratio below 1.0 that they account for does not fail the run.
    #[arg(long)]
    pub router_metrics: Option<String>,
    /// Do not fail the run when the delivery ratio is below 1.0 (the router
    /// dropped events to slow consumers by policy and counted them).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub allow_drops: Option<bool>,

    /// Publishers (fanout). [default: 1]
    #[arg(long)]
    pub publishers: Option<usize>,
    /// Subscribers (fanout), spread over the topics. [default: 100]
    #[arg(long)]
    pub subscribers: Option<usize>,
    /// Topics (fanout): subscriber i subscribes to topic i % topics; each
    /// publisher publishes to every topic in turn. [default: 1]
    #[arg(long)]
    pub topics: Option<usize>,
    /// Approximate encoded size of each payload (Arguments and ArgumentsKw), bytes. [default: 64]
    #[arg(long)]
    pub payload: Option<usize>,
    /// Acknowledged window (fanout): unacknowledged publications in flight per publisher. [default: 64]
    #[arg(long, conflicts_with = "rate")]
    pub window: Option<u64>,
    /// Fixed rate instead of a window: publications per second over all
    /// publishers (fanout and mixed), calls per second over all callers
    /// (rpc), round trips per second over all connections (echo), or
    /// session opens per second (sessions).
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub rate: Option<String>,

    /// Callers (rpc; echo: connections). [default: 4]
    #[arg(long)]
    pub callers: Option<usize>,
    /// Outstanding calls per caller (rpc, closed loop: a call is made when
    /// one returns; ignored at a fixed call rate). [default: 64]
    #[arg(long)]
    pub outstanding: Option<usize>,
    /// The shortest sleep of a fixed-rate sender (publisher or caller): what
    /// fell due meanwhile goes out together, each message still timed from
    /// when it was due. Longer ticks send burstier traffic that both sides
    /// can batch. [default: 20us]
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub tick: Option<String>,
    /// Fixed call rate instead of outstanding calls: calls per second over
    /// all callers, each timed from when it was due (rpc: the same as --rate;
    /// mixed: the rpc part's rate).
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub call_rate: Option<String>,
    /// Callees (rpc), sharing one registration; echo: the connections that
    /// answer in the two-hop shape (0: the server echoes). [default: 1; echo: 0]
    #[arg(long)]
    pub callees: Option<usize>,
    /// Invocation policy: single, roundrobin, random, first or last. [default: roundrobin]
    #[arg(long)]
    pub invoke: Option<String>,
    /// Progressive results per call before the final one (`--progressive` alone: 1). [default: 0]
    #[arg(long, num_args = 0..=1, default_missing_value = "1")]
    pub progressive: Option<u32>,

    /// Sessions to open (sessions; in mixed, idle sessions held beside the traffic). [default: 1000; mixed: 0]
    #[arg(long)]
    pub sessions: Option<u64>,
    /// Session opens per second in mixed (sessions uses --rate). [default: 1000/s]
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub session_rate: Option<String>,
    /// How long to hold the sessions once all are open. [default: 10s]
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub hold: Option<String>,
    /// Source addresses for the sessions, used in turn: `127.0.0.1-127.0.0.8`
    /// or `127.0.0.1,127.0.0.2`. [default: chosen by the OS]
    #[arg(long)]
    #[serde(default, deserialize_with = "text")]
    pub source_ips: Option<String>,
    /// Subscriptions each held session makes after it joins and before the
    /// hold, each to a topic of its own (sessions; in mixed, the idle
    /// sessions). [default: 0]
    #[arg(long)]
    pub subscriptions_per_session: Option<usize>,
    /// Registrations each held session makes after its subscriptions, each
    /// of a procedure of its own (sessions; in mixed, the idle sessions). [default: 0]
    #[arg(long)]
    pub registrations_per_session: Option<usize>,
}

/// Accepts a string or a number where a duration, rate or list is expected.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        S(String),
        U(u64),
        F(f64),
        L(Vec<u64>),
    }
    Ok(Some(match Text::deserialize(d)? {
        Text::S(s) => s,
        Text::U(u) => u.to_string(),
        Text::F(f) => f.to_string(),
        Text::L(l) => l.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
    }))
}

macro_rules! overlay {
    ($base:ident, $over:ident, $($f:ident),+) => {
        $( if $over.$f.is_some() { $base.$f = $over.$f; } )+
    };
}

impl Settings {
    /// Reads a TOML scenario file (keys as the long flags, `scenario = "fanout"`).
    pub fn from_file(path: &Path) -> Result<Settings, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Options(format!("{}: {e}", path.display())))?;
        Settings::from_toml(&text).map_err(|e| match e {
            Error::Options(m) => Error::Options(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses the text of a TOML scenario file.
    pub fn from_toml(text: &str) -> Result<Settings, Error> {
        toml::from_str(text).map_err(|e| Error::Options(e.to_string()))
    }

    /// These settings with every field that `over` sets taken from `over`
    /// (command-line flags over a scenario file).
    pub fn overlay(mut self, over: Settings) -> Settings {
        // A window on the command line replaces a file's rate, and the reverse.
        if over.window.is_some() {
            self.window = over.window;
            if over.rate.is_none() {
                self.rate = None;
            }
        } else if over.rate.is_some() {
            self.window = None;
        }
        overlay!(
            self,
            over,
            scenario,
            url,
            sink_url,
            tls_ca,
            serializer,
            realm,
            auth,
            duration,
            warmup,
            drain,
            shards,
            cpus,
            router_pid,
            router_metrics,
            allow_drops,
            publishers,
            subscribers,
            topics,
            payload,
            rate,
            callers,
            outstanding,
            tick,
            call_rate,
            callees,
            invoke,
            progressive,
            sessions,
            session_rate,
            hold,
            source_ips,
            subscriptions_per_session,
            registrations_per_session
        );
        self
    }

    /// The options these settings describe, with defaults for what is not
    /// given; errors name the offending option.
    pub fn resolve(&self) -> Result<Options, Error> {
        let scenario = self
            .scenario
            .ok_or_else(|| Error::Options("no scenario given".into()))?;
        let url = self
            .url
            .clone()
            .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
        let parse = |url: &str| {
            let mut target = Target::parse(url)?;
            if let (Some(tls), Some(ca)) = (&mut target.tls, &self.tls_ca) {
                tls.ca_certificates = vec![ca.into()];
            }
            Ok::<Target, Error>(target)
        };
        let target = parse(&url)?;
        let sink = match &self.sink_url {
            None => None,
            Some(u) => Some(parse(u)?),
        };
        let serializer = match &self.serializer {
            None => Serializer::Json,
            Some(s) => Serializer::from_name(s).ok_or_else(|| {
                Error::Options(format!("--serializer {s}: expected json, msgpack or cbor"))
            })?,
        };
        let cpus = match &self.cpus {
            None => None,
            Some(c) => Some(parse_cpus(c)?),
        };
        let shards = self
            .shards
            .or(cpus.as_ref().map(Vec::len))
            .unwrap_or(1)
            .max(1);
        let dur = |name: &str, v: &Option<String>, default: Duration| match v {
            None => Ok(default),
            Some(s) => parse_duration(s).map_err(|e| Error::Options(format!("--{name} {s}: {e}"))),
        };
        let rate = |name: &str, v: &Option<String>| match v {
            None => Ok(None),
            Some(s) => parse_rate(s)
                .map(Some)
                .map_err(|e| Error::Options(format!("--{name} {s}: {e}"))),
        };
        let payload = self.payload.unwrap_or(64);
        let fanout_rate = if scenario == Scenario::Sessions {
            None
        } else {
            rate("rate", &self.rate)?
        };
        let pace = match (self.window, fanout_rate) {
            (Some(_), Some(_)) => {
                return Err(Error::Options(
                    "--window and --rate exclude each other".into(),
                ))
            }
            (_, Some(r)) => Pace::Rate(r),
            (w, None) => Pace::Window(w.unwrap_or(64).max(1)),
        };
        let fanout = FanoutOptions {
            publishers: self.publishers.unwrap_or(1),
            subscribers: self.subscribers.unwrap_or(100),
            topics: self.topics.unwrap_or(1).max(1),
            payload,
            pace,
        };
        let invoke = match &self.invoke {
            None => InvokePolicy::RoundRobin,
            Some(s) => InvokePolicy::from_name(s).ok_or_else(|| {
                Error::Options(format!(
                    "--invoke {s}: expected single, roundrobin, random, first or last"
                ))
            })?,
        };
        let call_rate = match scenario {
            Scenario::Rpc | Scenario::Echo => {
                rate("call-rate", &self.call_rate)?.or(rate("rate", &self.rate)?)
            }
            Scenario::Mixed => rate("call-rate", &self.call_rate)?,
            _ => None,
        };
        let rpc = RpcOptions {
            callers: self.callers.unwrap_or(4),
            outstanding: self.outstanding.unwrap_or(64).max(1),
            rate: call_rate,
            // echo: 0 callees is the plain echo (one hop)
            callees: self
                .callees
                .unwrap_or(if scenario == Scenario::Echo { 0 } else { 1 }),
            invoke,
            progressive: self.progressive.unwrap_or(0),
            payload,
        };
        let session_rate = if scenario == Scenario::Sessions {
            rate("rate", &self.rate)?.or(rate("session-rate", &self.session_rate)?)
        } else {
            rate("session-rate", &self.session_rate)?
        };
        let sessions = SessionsOptions {
            sessions: self.sessions.unwrap_or(match scenario {
                Scenario::Sessions => 1000,
                _ => 0,
            }),
            rate: session_rate.unwrap_or(1000.0),
            hold: dur("hold", &self.hold, Duration::from_secs(10))?,
            source_ips: match &self.source_ips {
                None => Vec::new(),
                Some(s) => parse_source_ips(s)?,
            },
            subscriptions: self.subscriptions_per_session.unwrap_or(0),
            registrations: self.registrations_per_session.unwrap_or(0),
        };
        let opts = Options {
            scenario,
            target,
            sink,
            serializer,
            realm: self.realm.clone().unwrap_or_else(|| "realm1".into()),
            auth: match &self.auth {
                None => Auth::Anonymous,
                Some(a) => Auth::parse(a)?,
            },
            duration: dur("duration", &self.duration, Duration::from_secs(10))?,
            warmup: dur("warmup", &self.warmup, Duration::from_secs(2))?,
            drain: dur("drain", &self.drain, Duration::from_secs(5))?,
            tick: dur("tick", &self.tick, Duration::from_micros(20))?,
            shards,
            cpus,
            router_pid: self.router_pid,
            router_metrics: match &self.router_metrics {
                None => None,
                Some(u) => Some(MetricsUrl::parse(u)?),
            },
            allow_drops: self.allow_drops.unwrap_or(false),
            progress: false,
            fanout,
            rpc,
            sessions,
        };
        opts.check()?;
        Ok(opts)
    }
}

/// How publishers pace their publications.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pace {
    /// At most this many unacknowledged publications (`acknowledge: true`)
    /// in flight per publisher.
    Window(u64),
    /// This many publications per second over all publishers, paced; a
    /// publication's latency counts from when it was due, not when it was
    /// sent (no coordinated omission).
    Rate(f64),
}

/// The shared registration's invocation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvokePolicy {
    /// One callee (not a shared registration).
    Single,
    /// Callees in turn.
    RoundRobin,
    /// A random callee.
    Random,
    /// The first callee registered.
    First,
    /// The last callee registered.
    Last,
}

impl InvokePolicy {
    /// The policy's WAMP name (`REGISTER.Options.invoke`).
    pub fn name(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }

    /// The policy for a WAMP name.
    pub fn from_name(name: &str) -> Option<InvokePolicy> {
        [
            InvokePolicy::Single,
            InvokePolicy::RoundRobin,
            InvokePolicy::Random,
            InvokePolicy::First,
            InvokePolicy::Last,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// The `fanout` part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanoutOptions {
    /// Publisher sessions.
    pub publishers: usize,
    /// Subscriber sessions; subscriber `i` subscribes to topic `i % topics`.
    pub subscribers: usize,
    /// Topics; publisher `p`'s `k`-th publication goes to topic `(p + k) % topics`.
    pub topics: usize,
    /// Approximate encoded payload size, bytes.
    pub payload: usize,
    /// Window or rate.
    pub pace: Pace,
}

/// The `rpc` part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcOptions {
    /// Caller sessions.
    pub callers: usize,
    /// Calls in flight per caller (closed loop, when `rate` is `None`).
    pub outstanding: usize,
    /// Calls per second over all callers (open loop), instead of `outstanding`.
    pub rate: Option<f64>,
    /// Callee sessions, sharing one registration.
    pub callees: usize,
    /// The registration's invocation policy.
    pub invoke: InvokePolicy,
    /// Progressive results per call before the final result.
    pub progressive: u32,
    /// Approximate encoded payload size, bytes (echoed by the callee).
    pub payload: usize,
}

/// The `sessions` part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionsOptions {
    /// Sessions to open and hold.
    pub sessions: u64,
    /// Opens per second.
    pub rate: f64,
    /// How long they are held once all are open.
    #[serde(serialize_with = "secs")]
    pub hold: Duration,
    /// Source addresses, used in turn (empty: the OS chooses).
    pub source_ips: Vec<Ipv4Addr>,
    /// Subscriptions each session makes once joined, to topics of its own.
    pub subscriptions: usize,
    /// Registrations each session makes once subscribed, of procedures of its own.
    pub registrations: usize,
}

/// How to reach the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket; the URL's path is requested.
    WebSocket,
    /// RawSocket over TCP.
    RawSocket,
}

/// The router's address, as given by `--url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// The transport it names.
    pub transport: Transport,
    /// The address it resolves to.
    pub addr: SocketAddr,
    /// TLS (`wss://`, `rss://`): whom to trust, the name to check (the URL's host).
    pub tls: Option<crate::transport::TlsClientOptions>,
}

impl Target {
    /// Parses `--url` with the one client URL parser
    /// ([`crate::transport::url`]: `ws[s]://HOST[:PORT]/PATH`, `rs[s]://HOST:PORT`,
    /// also `rawsocket://` and `tcp://`) and resolves the host; the
    /// generator dials TCP only, so the Unix socket forms are refused.
    pub fn parse(url: &str) -> Result<Target, Error> {
        use crate::transport::url::{self, Address, Target as UrlTarget};
        let parsed = url::parse(url).map_err(|e| Error::Options(format!("--url {e}")))?;
        let bad = |why: &str| Error::Options(format!("--url {url}: {why}"));
        let transport = match &parsed.target {
            UrlTarget::WebSocket { .. } => Transport::WebSocket,
            UrlTarget::RawSocket(_) => Transport::RawSocket,
        };
        let Address::Tcp(host, port) = parsed.target.address() else {
            return Err(bad("the load generator dials TCP only, not a Unix socket"));
        };
        let addr = (host.as_str(), *port)
            .to_socket_addrs()
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("the host resolves to no address"))?;
        Ok(Target {
            url: url.to_owned(),
            transport,
            addr,
            tls: parsed.tls.then(|| crate::transport::TlsClientOptions {
                hostname: Some(host.clone()),
                ..Default::default()
            }),
        })
    }
}

/// A resolved, checked run description: see [`Settings::resolve`], or build
/// one by hand (tests do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    /// What runs.
    pub scenario: Scenario,
    /// The router.
    #[serde(rename = "url", serialize_with = "target_url")]
    pub target: Target,
    /// The router of the subscribers and callees, when not [`Options::target`]
    /// (across a router link).
    #[serde(rename = "sink_url", serialize_with = "sink_url")]
    pub sink: Option<Target>,
    /// The serializer every session speaks.
    #[serde(serialize_with = "serializer_name")]
    pub serializer: Serializer,
    /// The realm every session joins.
    pub realm: String,
    /// How every session authenticates.
    pub auth: Auth,
    /// The measured interval (fanout, rpc, mixed).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Uncounted traffic before it.
    #[serde(serialize_with = "secs")]
    pub warmup: Duration,
    /// The longest wait for in-flight traffic after it.
    #[serde(serialize_with = "secs")]
    pub drain: Duration,
    /// The shortest sleep of a fixed-rate sender.
    #[serde(serialize_with = "secs")]
    pub tick: Duration,
    /// Generator shards.
    pub shards: usize,
    /// CPUs the shards are pinned to, in turn (unpinned when `None`).
    pub cpus: Option<Vec<usize>>,
    /// The router's pid, for its CPU time and peak RSS.
    pub router_pid: Option<u32>,
    /// shardwamp's `/metrics` URL, for the events it dropped.
    #[serde(serialize_with = "metrics_url")]
    pub router_metrics: Option<MetricsUrl>,
    /// Whether a delivery ratio below 1.0 is accepted.
    pub allow_drops: bool,
    /// Whether to print a progress line to stderr every second.
    #[serde(skip)]
    pub progress: bool,
    /// The fanout part (fanout, mixed).
    pub fanout: FanoutOptions,
    /// The rpc part (rpc, mixed).
    pub rpc: RpcOptions,
    /// The sessions part (sessions; mixed when `sessions.sessions > 0`).
    pub sessions: SessionsOptions,
}

impl Options {
    /// Options for `scenario` against `url` with every default (as
    /// [`Settings::resolve`] gives them).
    pub fn new(scenario: Scenario, url: &str) -> Result<Options, Error> {
        Settings {
            scenario: Some(scenario),
            url: Some(url.to_owned()),
            ..Settings::default()
        }
        .resolve()
    }

    /// Checks the options make a run.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::Options(m.to_owned()));
        if self.scenario.has_fanout() {
            if self.fanout.publishers == 0 || self.fanout.subscribers == 0 {
                return bad("fanout needs at least one publisher and one subscriber");
            }
            if let Pace::Rate(r) = self.fanout.pace {
                if r.is_nan() || r <= 0.0 {
                    return bad("--rate must be positive");
                }
            }
        }
        if self.scenario.has_rpc() {
            if self.rpc.callers == 0 || self.rpc.callees == 0 {
                return bad("rpc needs at least one caller and one callee");
            }
            if self.rpc.invoke == InvokePolicy::Single && self.rpc.callees > 1 {
                return bad("--invoke single allows one callee only");
            }
            if let Some(r) = self.rpc.rate {
                if r.is_nan() || r <= 0.0 {
                    return bad("the call rate must be positive");
                }
            }
        }
        if self.scenario == Scenario::Echo {
            if self.rpc.callers == 0 {
                return bad("echo needs at least one caller connection");
            }
            if self.target.transport != Transport::WebSocket || self.target.tls.is_some() {
                return bad("echo needs a ws:// URL (an echo server, no WAMP)");
            }
            if self.rpc.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
                return bad("the rate must be positive");
            }
            if self.sink.is_some() {
                return bad("--sink-url is not for echo");
            }
        }
        if self.scenario == Scenario::Sessions && self.sink.is_some() {
            return bad(
                "--sink-url is for fanout, rpc and mixed (sessions has no subscribers or callees)",
            );
        }
        if self.scenario == Scenario::Sessions && self.sessions.sessions == 0 {
            return bad("--sessions must be at least 1");
        }
        if self.sessions.sessions > 0 && (self.sessions.rate.is_nan() || self.sessions.rate <= 0.0)
        {
            return bad("the session rate must be positive");
        }
        if self.scenario != Scenario::Sessions && self.duration.is_zero() {
            return bad("--duration must be positive");
        }
        Ok(())
    }
}

fn metrics_url<S: SerdeSerializer>(u: &Option<MetricsUrl>, s: S) -> Result<S::Ok, S::Error> {
    match u {
        Some(u) => s.serialize_str(&u.url),
        None => s.serialize_none(),
    }
}

/// An `http://HOST:PORT/PATH` URL to read Prometheus metrics from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsUrl {
    /// The URL as given.
    pub url: String,
    /// `HOST:PORT`, for the `Host` header.
    pub authority: String,
    /// The path requested.
    pub path: String,
    /// The address it resolves to.
    pub addr: SocketAddr,
}

impl MetricsUrl {
    /// Parses and resolves `http://HOST[:PORT][/PATH]` (path default `/metrics`).
    pub fn parse(url: &str) -> Result<MetricsUrl, Error> {
        let bad = |why: &str| Error::Options(format!("--router-metrics {url}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("expected http://HOST:PORT/metrics"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/metrics"),
        };
        let with_port = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("the host resolves to no address"))?;
        Ok(MetricsUrl {
            url: url.to_owned(),
            authority: authority.to_owned(),
            path: path.to_owned(),
            addr,
        })
    }
}

fn secs<S: SerdeSerializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn target_url<S: SerdeSerializer>(t: &Target, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.url)
}

fn sink_url<S: SerdeSerializer>(t: &Option<Target>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.url),
        None => s.serialize_none(),
    }
}

fn serializer_name<S: SerdeSerializer>(v: &Serializer, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

/// Parses `10s`, `500ms`, `250us`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| "expected a duration such as 10s or 500ms".to_string())?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit '{other}' (s, ms, us, m, h)")),
    };
    Duration::try_from_secs_f64(n * scale).map_err(|e| e.to_string())
}

/// Parses a rate: `5000`, `5000/s`, `5k/s`, `1.5M`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let (num, scale) = if let Some(n) = t.strip_suffix(['k', 'K']) {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix('M') {
        (n, 1e6)
    } else {
        (t, 1.0)
    };
    let r: f64 = num
        .trim()
        .parse()
        .map_err(|_| "expected a rate such as 5000/s or 5k/s".to_string())?;
    if r.is_nan() || r <= 0.0 || !r.is_finite() {
        return Err("the rate must be positive".into());
    }
    Ok(r * scale)
}

/// Parses a CPU list: `1,2`, `2-5`, `0,4-6`.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, Error> {
    let bad = || Error::Options(format!("--cpus {s}: expected a list such as 1,2 or 2-5"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: usize = a.trim().parse().map_err(|_| bad())?;
                let b: usize = b.trim().parse().map_err(|_| bad())?;
                if b < a {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Parses source addresses: `127.0.0.1-127.0.0.8` (a range) or a comma list.
pub fn parse_source_ips(s: &str) -> Result<Vec<Ipv4Addr>, Error> {
    let bad = || {
        Error::Options(format!(
            "--source-ips {s}: expected 127.0.0.1-127.0.0.8 or a comma list of IPv4 addresses"
        ))
    };
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
                let b: Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
                let (a, b) = (u32::from(a), u32::from(b));
                if b < a || b - a > 65_535 {
                    return Err(bad());
                }
                out.extend((a..=b).map(Ipv4Addr::from));
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_methods() {
        assert_eq!(Auth::parse("anonymous").unwrap(), Auth::Anonymous);
        let path =
            std::env::temp_dir().join(format!("shardwamp-loadgen-key-{}", std::process::id()));
        std::fs::write(&path, "5b".repeat(32)).unwrap();
        let a = Auth::parse(&format!("cryptosign:{}", path.display())).unwrap();
        let public = crate::wamp::cryptosign::PrivateKey::from_seed(&[0x5b; 32]).public_hex();
        // The report and Debug show the public key, never the seed.
        assert_eq!(a.describe(), format!("cryptosign:{public}"));
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains(&"5b".repeat(32)) && !format!("{a:?}").contains(&"5b".repeat(32)));
        assert_eq!(a.authenticator().authmethods(), ["cryptosign"]);
        let b = Auth::parse(&format!("cryptosign-bound:{}", path.display())).unwrap();
        assert_eq!(b.describe(), format!("cryptosign-bound:{public}"));
        // Bound: the dialer must give a TLS channel.
        assert!(b.authenticator().connected(None).is_err());
        std::fs::remove_file(&path).unwrap();
        for bad in ["", "ticket:", "cryptosign:/nonexistent", "scram:x"] {
            assert!(Auth::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_rates_lists() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
        assert_eq!(parse_rate("5000/s"), Ok(5000.0));
        assert_eq!(parse_rate("5k/s"), Ok(5000.0));
        assert_eq!(parse_rate("1.5M"), Ok(1_500_000.0));
        assert!(parse_rate("0").is_err());
        assert_eq!(parse_cpus("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_cpus("4-2").is_err());
        let ips = parse_source_ips("127.0.0.1-127.0.0.3").unwrap();
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[2], Ipv4Addr::new(127, 0, 0, 3));
        assert!(parse_source_ips("localhost").is_err());
    }

    #[test]
    fn urls() {
        let t = Target::parse("ws://127.0.0.1:8080/ws").unwrap();
        assert_eq!(t.transport, Transport::WebSocket);
        assert_eq!(t.addr.port(), 8080);
        let t = Target::parse("rs://127.0.0.1:8081").unwrap();
        assert_eq!(t.transport, Transport::RawSocket);
        assert!(Target::parse("rs://127.0.0.1").is_err());
        let t = Target::parse("wss://localhost:8443/ws").unwrap();
        assert_eq!(t.tls.unwrap().hostname.as_deref(), Some("localhost"));
        assert!(Target::parse("rss://127.0.0.1:9").unwrap().tls.is_some());
        assert!(Target::parse("127.0.0.1:8080").is_err());
    }

    #[test]
    fn urls_through_the_one_parser() {
        // Without a port, WebSocket takes the scheme's.
        let t = Target::parse("ws://127.0.0.1/ws").unwrap();
        assert_eq!((t.transport, t.addr.port()), (Transport::WebSocket, 80));
        let t = Target::parse("wss://127.0.0.1/ws").unwrap();
        assert_eq!(t.addr.port(), 443);
        assert_eq!(t.tls.unwrap().hostname.as_deref(), Some("127.0.0.1"));
        // IPv6 in brackets; the TLS name is the bare address.
        let t = Target::parse("rss://[::1]:9").unwrap();
        assert!(t.addr.is_ipv6() && t.addr.port() == 9);
        assert_eq!(t.tls.unwrap().hostname.as_deref(), Some("::1"));
        for url in [
            "tcp://127.0.0.1:7",
            "rawsocket://127.0.0.1:7",
            "RS://127.0.0.1:7",
        ] {
            assert_eq!(Target::parse(url).unwrap().transport, Transport::RawSocket);
        }
        // Errors name the flag, the URL, why, and the accepted schemes.
        let e = Target::parse("rs://127.0.0.1:7/x").unwrap_err().to_string();
        assert!(
            e.starts_with("--url rs://127.0.0.1:7/x: a RawSocket URL has no path"),
            "{e}"
        );
        assert!(e.contains("rs+unix://"), "{e}");
        // Unix sockets parse but are not for the generator.
        for url in ["rs+unix:///tmp/s", "ws+unix:///tmp/s", "unix:/tmp/s"] {
            let e = Target::parse(url).unwrap_err().to_string();
            assert!(e.contains("TCP only"), "{url}: {e}");
        }
    }

    #[test]
    fn sink_url_for_subscribers_and_callees() {
        // Without it, every session joins --url.
        let o = Options::new(Scenario::Fanout, "ws://127.0.0.1:8080/ws").unwrap();
        assert!(o.sink.is_none());
        let file = Settings::from_toml(
            r#"
            scenario = "rpc"
            url = "ws://127.0.0.1:8080/ws"
            sink-url = "rs://127.0.0.1:9081"
            "#,
        )
        .unwrap();
        let o = file.resolve().unwrap();
        let sink = o.sink.as_ref().expect("a sink");
        assert_eq!(sink.transport, Transport::RawSocket);
        assert_eq!(sink.addr.port(), 9081);
        assert_eq!(o.target.addr.port(), 8080);
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["sink_url"], "rs://127.0.0.1:9081");
        assert_eq!(json["url"], "ws://127.0.0.1:8080/ws");
        // A flag overrides the file's; a bad one names itself.
        let flags = Settings {
            sink_url: Some("ws://127.0.0.1:9080/ws".into()),
            ..Settings::default()
        };
        let o = file.clone().overlay(flags).resolve().unwrap();
        assert_eq!(o.sink.unwrap().addr.port(), 9080);
        let bad = Settings {
            sink_url: Some("127.0.0.1:9".into()),
            ..Settings::default()
        };
        assert!(file.clone().overlay(bad).resolve().is_err());
        // sessions has no subscribers or callees to place.
        let sessions = Settings {
            scenario: Some(Scenario::Sessions),
            sink_url: Some("ws://127.0.0.1:9080/ws".into()),
            ..Settings::default()
        };
        assert!(sessions.resolve().is_err());
    }

    #[test]
    fn file_then_flags() {
        let file = Settings::from_toml(
            r#"
            scenario = "fanout"
            url = "rs://127.0.0.1:8081"
            serializer = "msgpack"
            duration = 5
            subscribers = 1000
            rate = "10k/s"
            cpus = "1"
            "#,
        )
        .unwrap();
        let flags = Settings {
            subscribers: Some(10),
            window: Some(8),
            ..Settings::default()
        };
        let o = file.overlay(flags).resolve().unwrap();
        assert_eq!(o.scenario, Scenario::Fanout);
        assert_eq!(o.serializer, Serializer::MsgPack);
        assert_eq!(o.duration, Duration::from_secs(5));
        assert_eq!(o.fanout.subscribers, 10);
        assert_eq!(o.fanout.pace, Pace::Window(8));
        assert_eq!(o.shards, 1);
        assert_eq!(o.cpus, Some(vec![1]));
        assert!(Settings::from_toml("subscriber = 3").is_err());
        let o = Options::new(Scenario::Sessions, "ws://127.0.0.1:1/ws").unwrap();
        assert_eq!(o.sessions.sessions, 1000);
        let o = Options::new(Scenario::Mixed, "ws://127.0.0.1:1/ws").unwrap();
        assert_eq!(o.sessions.sessions, 0);
    }

    #[test]
    fn call_rates() {
        let rpc = |text: &str| Settings::from_toml(text).unwrap().resolve().unwrap().rpc;
        // rpc: --rate (or --call-rate) is calls per second; without, a closed loop
        assert_eq!(
            rpc("scenario = \"rpc\"\nrate = \"5k/s\"").rate,
            Some(5000.0)
        );
        assert_eq!(rpc("scenario = \"rpc\"\ncall-rate = 700").rate, Some(700.0));
        assert_eq!(rpc("scenario = \"rpc\"\noutstanding = 3").rate, None);
        // mixed: --rate paces the publications, --call-rate the calls
        let o = Settings::from_toml("scenario = \"mixed\"\nrate = 100\ncall-rate = 50")
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!((o.fanout.pace, o.rpc.rate), (Pace::Rate(100.0), Some(50.0)));
        let o = Settings::from_toml("scenario = \"mixed\"\nrate = 100")
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(o.rpc.rate, None);
        assert!(Settings::from_toml("scenario = \"rpc\"\nrate = 0")
            .unwrap()
            .resolve()
            .is_err());
        // the pacing tick: 20 µs unless given
        let o = Settings::from_toml("scenario = \"rpc\"\ntick = \"250us\"")
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(o.tick, Duration::from_micros(250));
        let o = Options::new(Scenario::Rpc, "ws://127.0.0.1:1/ws").unwrap();
        assert_eq!(o.tick, Duration::from_micros(20));
    }

    #[test]
    fn echo_options() {
        let s = Settings {
            scenario: Some(Scenario::Echo),
            url: Some("ws://127.0.0.1:1/".into()),
            rate: Some("50k/s".into()),
            ..Settings::default()
        };
        let o = s.resolve().unwrap();
        assert_eq!(o.scenario.name(), "echo");
        assert_eq!(
            (o.rpc.rate, o.rpc.callees, o.rpc.callers),
            (Some(50_000.0), 0, 4)
        );
        assert!(!o.scenario.has_rpc() && !o.scenario.has_fanout());
        for url in ["rs://127.0.0.1:1", "wss://127.0.0.1:1/"] {
            let bad = Settings {
                url: Some(url.into()),
                ..s.clone()
            };
            assert!(bad.resolve().is_err(), "{url}");
        }
        let none = Settings {
            callers: Some(0),
            ..s
        };
        assert!(none.resolve().is_err());
    }
}
