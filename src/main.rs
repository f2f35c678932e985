//! The `shardwamp` command line: `run` the router (with the embedded default
//! configuration when no file is given), `check` a configuration, `init` to
//! print a commented example configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shardwamp::config::{Config, EXAMPLE_CONFIG};
use shardwamp::shard::{self, EndpointSpec, RouterSpec};

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
    let _ = b.try_init();
}

fn load(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        None => Ok(Config::default_embedded()),
        Some(p) => Config::from_file(p).map_err(|e| format!("{}: {e}", p.display())),
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
        let serializers: Vec<&str> = l.serializers.iter().map(|s| s.name()).collect();
        let (kind, path) = match &l.kind {
            shard::ListenerKind::WebSocket(o) => ("websocket", o.path.as_str()),
            shard::ListenerKind::RawSocket(_) => ("rawsocket", ""),
        };
        let at = match &l.endpoint {
            EndpointSpec::Tcp(a) => format!("{a}{path}"),
            EndpointSpec::Unix(p) => format!("unix:{}", p.display()),
        };
        lines.push(format!(
            "transport '{}': {kind} on {at} ({})",
            l.name,
            serializers.join(", ")
        ));
    }
    lines
}

/// Blocks SIGINT and SIGTERM in this thread (and the shards it spawns) so
/// that only [`wait_for_signal`] receives them.
fn block_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is filled by sigemptyset before use; the calls
    // only touch the set passed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
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
    let handle = shard::start(spec.clone()).map_err(|e| e.to_string())?;
    println!(
        "shardwamp {} running: {} shard(s)",
        env!("CARGO_PKG_VERSION"),
        handle.shards()
    );
    for b in handle.bound() {
        let at = match &b.endpoint {
            EndpointSpec::Tcp(a) => {
                let path = spec
                    .listeners
                    .iter()
                    .find(|l| l.name == b.name)
                    .and_then(|l| match &l.kind {
                        shard::ListenerKind::WebSocket(o) => Some(o.path.clone()),
                        shard::ListenerKind::RawSocket(_) => None,
                    });
                match path {
                    Some(p) => format!("ws://{a}{p}"),
                    None => format!("rs://{a}"),
                }
            }
            EndpointSpec::Unix(p) => format!("unix:{}", p.display()),
        };
        println!("listening: {} ({}) on {at}", b.name, b.kind);
    }
    let sig = wait_for_signal(&signals);
    log::info!("signal {sig}: shutting down");
    println!("shutting down");
    handle.shutdown(shardwamp::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
    handle.join()?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run { config } => run(cli.log_level.as_deref(), config.as_ref()),
        Command::Check { config } => load(Some(config)).and_then(|c| {
            let spec = RouterSpec::from_config(&c).map_err(|e| e.to_string())?;
            println!("{}: ok", config.display());
            for line in describe(&spec) {
                println!("  {line}");
            }
            Ok(())
        }),
        Command::Init => {
            print!("{EXAMPLE_CONFIG}");
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardwamp: {e}");
            ExitCode::FAILURE
        }
    }
}
