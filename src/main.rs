//! The `shardwamp` command line: `run` the router (with the embedded default
//! configuration when no file is given), `check` a configuration, `init` to
//! print a commented example configuration, `ctl` to run a controller
//! operation on a running router.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shardwamp::client::Credentials;
use shardwamp::component::Registry;
use shardwamp::config::{Config, EXAMPLE_CONFIG};
use shardwamp::control::{self, Controller};
use shardwamp::shard::RouterSpec;
use shardwamp::transport::{EndpointSpec, ListenerKind};
use shardwamp::wamp::value::{Dict, Value};

/// A thread-per-core WAMP v2 router.
#[derive(Parser)]
#[command(name = "shardwamp", version, about)]
struct Cli {
    /// Log level: off, error, warn, info, debug or trace (default: the
    /// config's `router.log_level`, or RUST_LOG).
    #[arg(short = 'v', long = "log-level", global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum ImportFrom {
    /// Convert the router worker of a Crossbar.io node config (config.json
    /// or config.yaml) to commented TOML, printed (or written with -o); what
    /// was changed or left out is said in the TOML's comments and on stderr,
    /// with the line, why, and what to do.
    Crossbar {
        /// The Crossbar.io config file (.json, .yaml or .yml).
        file: PathBuf,
        /// Which router worker to convert, by id or index (default: the first).
        #[arg(long)]
        worker: Option<String>,
        /// Write the TOML to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
// Parsed once at start: the size of `ctl`'s variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the router (with the embedded default configuration when no file is given).
    Run {
        /// The configuration file (TOML).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and print what it would run.
    Check {
        /// The configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Print a commented example configuration.
    Init,
    /// Convert another router's configuration to shardwamp's TOML.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
    /// Run a controller operation on a running router (its management realm)
    /// and print the result as JSON.
    #[command(after_help = ctl_after_help())]
    Ctl {
        /// The router transport to reach, by URL (`run` prints each transport's):
        ///   ws://HOST:PORT/PATH    WebSocket over TCP
        ///   ws+unix:///SOCKET      WebSocket over a Unix socket (HTTP path /ws;
        ///                          ws+unix:///SOCKET?path=/other for another)
        ///   rs://HOST:PORT         RawSocket over TCP (also tcp://, rawsocket://)
        ///   rs+unix:///SOCKET      RawSocket over a Unix socket (also
        ///                          unix:///SOCKET, unix:SOCKET)
        ///   wss://, wss+unix://, rss://, rss+unix://   the same over TLS
        #[arg(long, default_value = "ws://127.0.0.1:8080/ws", verbatim_doc_comment)]
        url: String,
        /// TLS: a CA certificate (PEM) to trust instead of the Mozilla roots
        /// (repeat for more).
        #[arg(long = "tls-ca")]
        tls_ca: Vec<PathBuf>,
        /// TLS: a client certificate (PEM) to present, with --tls-key.
        #[arg(long = "tls-cert")]
        tls_cert: Option<PathBuf>,
        /// TLS: the client certificate's private key (PEM).
        #[arg(long = "tls-key")]
        tls_key: Option<PathBuf>,
        /// TLS: the name the router's certificate must carry (default: the URL's host).
        #[arg(long = "tls-hostname")]
        tls_hostname: Option<String>,
        /// Authenticate with the TLS client certificate (the `tls` method;
        /// --authid optional) instead of a ticket or WAMP-CRA.
        #[arg(long = "tls-auth")]
        tls_auth: bool,
        /// The management realm.
        #[arg(long, default_value = "shardwamp.management")]
        realm: String,
        /// The authid to authenticate as (ticket or WAMP-CRA; optional with
        /// --key); anonymous without it or --key.
        #[arg(long)]
        authid: Option<String>,
        /// Authenticate with WAMP-cryptosign, with the Ed25519 private key in
        /// FILE: Crossbar.io's key.priv (a `private-key-ed25519: HEX` line),
        /// 64 hex characters, or 32 raw bytes. Without --authid the router
        /// finds the principal whose authorized_keys list the public key.
        #[arg(long, value_name = "FILE", conflicts_with = "wampcra")]
        key: Option<PathBuf>,
        /// With --key over wss:// or rss://: bind the cryptosign signature to
        /// the TLS channel with this binding type (`tls-exporter`, RFC 9266;
        /// rustls has no `tls-unique`). Fails on a plain connection.
        #[arg(long = "channel-binding", value_name = "TYPE", requires = "key")]
        channel_binding: Option<String>,
        /// Authenticate with WAMP-CRA (the secret is read from SHARDWAMP_SECRET)
        /// instead of a ticket (read from SHARDWAMP_TICKET).
        #[arg(long)]
        wampcra: bool,
        /// Print a table instead of JSON.
        #[arg(long)]
        table: bool,
        /// The operation (Crossbar.io's name, e.g. get_router_realms).
        operation: String,
        /// Positional arguments: JSON values (bare words are strings).
        args: Vec<String>,
        /// Keyword arguments: key=JSON.
        #[arg(long = "kw")]
        kwargs: Vec<String>,
    },
}

fn init_log(cli: Option<&str>, config: &Config) {
    let mut b = env_logger::Builder::new();
    match cli {
        Some(level) => {
            b.parse_filters(level);
        }
        None => match std::env::var("RUST_LOG") {
            Ok(f) => {
                b.parse_filters(&f);
            }
            Err(_) => {
                b.filter_level(config.router.log_level.to_level_filter());
            }
        },
    }
    b.format_timestamp_millis();
    let logger = b.build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(NoFrameTrace(logger))).is_ok() {
        log::set_max_level(max);
    }
}

/// Crates whose trace records carry whole WebSocket frames (and with them
/// the tickets and signatures of AUTHENTICATE, and the configs of controller
/// calls) or raw request headers.
const FRAME_LOGGERS: [&str; 2] = ["tungstenite", "async_tungstenite"];

/// The logger, less the frame-logging crates' trace records: no level, not
/// even `-v trace` or `RUST_LOG=tungstenite=trace`, puts a secret that a
/// client sends into the log.
struct NoFrameTrace(env_logger::Logger);

impl NoFrameTrace {
    fn allowed(metadata: &log::Metadata) -> bool {
        metadata.level() < log::Level::Trace
            || !FRAME_LOGGERS.iter().any(|m| {
                metadata
                    .target()
                    .strip_prefix(m)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
    }
}

impl log::Log for NoFrameTrace {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        Self::allowed(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if Self::allowed(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

fn load(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        None => Ok(Config::default_embedded()),
        Some(p) => {
            // what `run` builds components with (the management component
            // is registered by the controller itself)
            let registry = Registry::with_builtins();
            Config::check_file(p, |c| {
                if c.classname == control::management::CLASSNAME {
                    return Ok(());
                }
                registry.build(c).map(|_| ())
            })
            .map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

/// `init`'s output: the example configuration with a random secret in place
/// of each `${SHARDWAMP_...}` it reads, so that it runs as printed.
fn init_config() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let mut text = EXAMPLE_CONFIG.to_owned();
    let mut secrets: Vec<(String, String)> = Vec::new();
    while let Some(i) = text.find("\"${SHARDWAMP_") {
        let Some(len) = text[i + 1..].find('"') else {
            break;
        };
        let var = text[i + 1..i + 1 + len].to_owned();
        let secret = match secrets.iter().find(|(v, _)| *v == var) {
            Some((_, s)) => s.clone(),
            None => {
                let s = Alphanumeric.sample_string(&mut rand::rng(), 32);
                secrets.push((var.clone(), s.clone()));
                s
            }
        };
        text.replace_range(i + 1..i + 1 + len, &secret);
    }
    let names: Vec<&str> = secrets
        .iter()
        .map(|(v, _)| v.trim_start_matches("${").trim_end_matches('}'))
        .collect();
    format!(
        "# Generated by `shardwamp init`: a random secret stands in for each of\n\
         # {}\n\
         # (write `${{NAME}}` back in its place to read it from the environment).\n\n{text}",
        names.join(", ")
    )
}

/// The URL `ctl --url` takes for a transport of `kind` listening on `endpoint`.
fn ctl_url(endpoint: &EndpointSpec, kind: &ListenerKind, tls: bool) -> String {
    let url = plain_url(endpoint, kind);
    if !tls {
        return url;
    }
    // ws -> wss, rs -> rss, ws+unix -> wss+unix, rs+unix -> rss+unix
    match url.split_once(':') {
        Some((scheme, rest)) => match scheme.split_once('+') {
            Some((s, unix)) => format!("{s}s+{unix}:{rest}"),
            None => format!("{scheme}s:{rest}"),
        },
        None => url,
    }
}

fn plain_url(endpoint: &EndpointSpec, kind: &ListenerKind) -> String {
    match (endpoint, kind) {
        (EndpointSpec::Tcp(a), ListenerKind::WebSocket(o)) => format!("ws://{a}{}", o.path),
        (EndpointSpec::Tcp(a), ListenerKind::RawSocket(_)) => format!("rs://{a}"),
        (EndpointSpec::Unix(s), ListenerKind::WebSocket(o)) if o.path == "/ws" => {
            format!("ws+unix://{}", s.display())
        }
        (EndpointSpec::Unix(s), ListenerKind::WebSocket(o)) => {
            format!("ws+unix://{}?path={}", s.display(), o.path)
        }
        (EndpointSpec::Unix(s), ListenerKind::RawSocket(_)) => format!("rs+unix://{}", s.display()),
        // A web transport is reached through its first WebSocket path; a
        // universal one through RawSocket when it serves it.
        (_, ListenerKind::Universal(u)) if u.rawsocket.is_some() => {
            plain_url(endpoint, &ListenerKind::RawSocket(Default::default()))
        }
        (_, ListenerKind::Web(w))
        | (_, ListenerKind::Universal(shardwamp::transport::UniversalSpec { web: w, .. })) => {
            let ws = w.paths.specs().into_iter().find_map(|p| match &*p {
                shardwamp::transport::web::PathSpec::WebSocket(l) => Some(l.kind.clone()),
                _ => None,
            });
            match ws {
                Some(k) => plain_url(endpoint, &k),
                None => plain_url(endpoint, &ListenerKind::WebSocket(Default::default())),
            }
        }
    }
}

fn describe(spec: &RouterSpec) -> Vec<String> {
    let mut lines = vec![format!(
        "{} shard(s), realms: {}",
        spec.shards,
        spec.realms
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )];
    for l in &spec.listeners {
        let mut serves: Vec<String> = l.serializers.iter().map(|s| s.name().to_owned()).collect();
        if let Some(web) = l.web() {
            // A web transport: its paths and what each serves.
            serves.extend(
                web.paths
                    .list()
                    .into_iter()
                    .map(|(p, k)| format!("{p} {k}")),
            );
        }
        let kind = l.kind.name();
        let at = ctl_url(&l.endpoint, &l.kind, l.tls.is_some());
        lines.push(format!(
            "transport '{}': {kind} on {at} ({})",
            l.name,
            serves.join(", ")
        ));
    }
    if let Some(key) = &spec.router_key {
        // The public half only: what cryptosign clients may pin.
        lines.push(format!("node key (public): {}", key.public_hex()));
    }
    lines
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and the shards it
/// spawns) so that only [`wait_for_signal`] receives them.
fn block_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is filled by sigemptyset before use; the calls
    // only touch the set passed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) -> i32 {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is a valid signal set and `sig` a valid out-pointer.
    unsafe {
        libc::sigwait(set, &mut sig);
    }
    sig
}

fn run(cli_level: Option<&str>, path: Option<&PathBuf>) -> Result<(), String> {
    let config = load(path)?;
    init_log(cli_level, &config);
    let spec = RouterSpec::from_config(&config).map_err(|e| e.to_string())?;
    let signals = block_signals();
    let controller =
        Controller::start(config, Registry::with_builtins()).map_err(|e| e.to_string())?;
    let handle = controller.handle();
    println!(
        "shardwamp {} running: {} shard(s)",
        env!("CARGO_PKG_VERSION"),
        handle.shards()
    );
    for b in handle.bound() {
        let at = match spec.listeners.iter().find(|l| l.name == b.name) {
            Some(l) => ctl_url(&b.endpoint, &l.kind, l.tls.is_some()),
            None => b.endpoint.display(),
        };
        println!("listening: {} ({}) on {at}", b.name, b.kind);
    }
    if let Some(a) = controller.admin_addr() {
        println!("admin: http://{a}/metrics");
    }
    let sig = loop {
        let sig = wait_for_signal(&signals);
        if sig != libc::SIGHUP {
            break sig;
        }
        // SIGHUP: TLS certificates and keys are read again (docs/tls.md).
        match controller.reload_router_transport_tls(None) {
            Ok(v) => log::info!("SIGHUP: TLS reloaded: {}", control::to_json(&v)),
            Err(e) => log::error!("SIGHUP: TLS reload failed: {e}"),
        }
    };
    log::info!("signal {sig}: shutting down");
    println!("shutting down");
    controller.shutdown();
    controller.handle().wait_stopped()?;
    Ok(())
}

/// `import crossbar`: converts, writes the TOML, reports the notes and
/// whether the result loads.
fn import_crossbar(
    file: &PathBuf,
    worker: Option<&str>,
    output: Option<&PathBuf>,
) -> Result<(), String> {
    use shardwamp::config::crossbar::{self, Format, Verdict};
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let out = crossbar::import(
        &text,
        Format::from_path(file),
        &file.display().to_string(),
        worker,
    )
    .map_err(|e| format!("{}: {e}", file.display()))?;
    match output {
        Some(path) => std::fs::write(path, &out.toml)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => print!("{}", out.toml),
    }
    let changed = out
        .notes
        .iter()
        .filter(|n| n.verdict == Verdict::Changed)
        .count();
    let left_out = out.notes.len() - changed;
    eprintln!(
        "{}: converted; {changed} key(s) changed, {left_out} left out (each explained in the TOML):",
        file.display()
    );
    for n in &out.notes {
        eprintln!("  {n}");
    }
    if !out.env.is_empty() {
        eprintln!(
            "it reads these environment variables: {}",
            out.env.join(", ")
        );
    }
    // Whether it loads, with any value for the variables it reads.
    match Config::from_str_with_env(&out.toml, |_| Some("0".to_owned())) {
        Ok(_) => eprintln!("the converted configuration loads; run `shardwamp check -c FILE` on it where it will run"),
        Err(e) => eprintln!("the converted configuration does not load yet: {e}"),
    }
    Ok(())
}

/// A command-line argument as a value: JSON when it parses, else a string.
fn arg_value(s: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(j) => control::from_json(&j),
        Err(_) => Value::Str(s.to_owned()),
    }
}

fn table(v: &Value) -> String {
    let cell = |v: &Value| match v {
        Value::Str(s) => s.clone(),
        other => control::to_json(other).to_string(),
    };
    match v {
        Value::List(items) => items.iter().map(cell).collect::<Vec<_>>().join("\n"),
        Value::Dict(d) => {
            let w = d.keys().map(String::len).max().unwrap_or(0);
            d.iter()
                .map(|(k, v)| format!("{k:<w$}  {}", cell(v)))
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => cell(other),
    }
}

/// `ctl --help`'s list of operations.
fn ctl_after_help() -> String {
    format!(
        "Operations (arguments in order; [optional]; see docs/operations.md):\n{}",
        control::operations_help()
    )
}

#[allow(clippy::too_many_arguments)]
fn ctl(
    url: &str,
    tls: &shardwamp::transport::TlsClientOptions,
    tls_auth: bool,
    realm: &str,
    authid: Option<&str>,
    key: Option<&std::path::Path>,
    channel_binding: Option<&str>,
    wampcra: bool,
    as_table: bool,
    op: &str,
    args: &[String],
    kwargs: &[String],
) -> Result<(), String> {
    if control::operation(op).is_none() {
        return Err(format!(
            "no operation '{op}'; the operations are:\n{}",
            control::operations_help()
        ));
    }
    let creds = match (authid, key) {
        (authid, Some(path)) => {
            let (key, warning) =
                shardwamp::config::keyfile::read_key_file(path).map_err(|e| e.to_string())?;
            if let Some(w) = warning {
                eprintln!("shardwamp: warning: {w}");
            }
            Credentials::Cryptosign(authid.map(str::to_owned), key)
        }
        (None, None) => Credentials::Anonymous,
        (Some(id), None) if wampcra => Credentials::WampCra(
            id.into(),
            std::env::var("SHARDWAMP_SECRET")
                .map_err(|_| "set SHARDWAMP_SECRET to the WAMP-CRA secret")?,
        ),
        (Some(id), None) => Credentials::Ticket(
            id.into(),
            std::env::var("SHARDWAMP_TICKET").map_err(|_| "set SHARDWAMP_TICKET to the ticket")?,
        ),
    };
    let positional: Vec<Value> = args.iter().map(|a| arg_value(a)).collect();
    let mut kw = Dict::new();
    for k in kwargs {
        let (key, value) = k
            .split_once('=')
            .ok_or_else(|| format!("--kw {k}: expected key=value"))?;
        kw.insert(key.to_owned(), arg_value(value));
    }
    let auth: Box<dyn shardwamp::client::auth::ClientAuthenticator> = if tls_auth {
        Box::new(shardwamp::client::auth::TlsCertificate {
            authid: authid.map(str::to_owned),
        })
    } else if let (Credentials::Cryptosign(authid, key), Some(binding)) = (&creds, channel_binding)
    {
        Box::new(
            shardwamp::client::auth::Cryptosign::new(key.clone(), authid.clone())
                .bind_to_tls(binding),
        )
    } else {
        creds.authenticator()
    };
    let mut client = shardwamp::transport::blocking::connect_tls(url, realm, auth, tls)
        .map_err(|e| e.to_string())?;
    let (result, _) = client
        .call(&control::management::procedure(op), positional, kw)
        .map_err(|e| e.to_string())?;
    client.leave();
    let v = result.into_iter().next().unwrap_or(Value::Null);
    if as_table {
        println!("{}", table(&v));
    } else if let Value::Str(s) = &v {
        println!("{s}");
    } else {
        println!("{}", control::to_json(&v));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run { config } => run(cli.log_level.as_deref(), config.as_ref()),
        Command::Check { config } => load(Some(config)).and_then(|c| {
            // Warnings (a key file others may read, an ignored dhparam) on
            // stderr; info lines only when asked for.
            init_log(Some(cli.log_level.as_deref().unwrap_or("warn")), &c);
            let spec = RouterSpec::from_config(&c).map_err(|e| e.to_string())?;
            println!("{}: ok", config.display());
            for line in describe(&spec) {
                println!("  {line}");
            }
            Ok(())
        }),
        Command::Init => {
            print!("{}", init_config());
            Ok(())
        }
        Command::Import {
            from:
                ImportFrom::Crossbar {
                    file,
                    worker,
                    output,
                },
        } => import_crossbar(file, worker.as_deref(), output.as_ref()),
        Command::Ctl {
            url,
            tls_ca,
            tls_cert,
            tls_key,
            tls_hostname,
            tls_auth,
            realm,
            authid,
            key,
            channel_binding,
            wampcra,
            table,
            operation,
            args,
            kwargs,
        } => ctl(
            url,
            &shardwamp::transport::TlsClientOptions {
                hostname: tls_hostname.clone(),
                ca_certificates: tls_ca.clone(),
                certificate: tls_cert.clone(),
                key: tls_key.clone(),
            },
            *tls_auth,
            realm,
            authid.as_deref(),
            key.as_deref(),
            channel_binding.as_deref(),
            *wampcra,
            *table,
            operation,
            args,
            kwargs,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardwamp: {e}");
            ExitCode::FAILURE
        }
    }
}
