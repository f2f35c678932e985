//! `shardwamp-bench`: the load generator (see `shardwamp::loadgen`).
//!
//! ```text
//! shardwamp-bench fanout --url ws://127.0.0.1:8080/ws --subscribers 1000 --cpus 1 --router-pid PID
//! shardwamp-bench rpc --url rs://127.0.0.1:8081 --serializer msgpack --callers 4 --outstanding 64
//! shardwamp-bench sessions --sessions 100000 --rate 5000/s --source-ips 127.0.0.1-127.0.0.8
//! shardwamp-bench --scenario benches/scenarios/fanout-1k.toml --duration 30s
//! ```
//!
//! Prints a progress line a second to stderr, then a human summary and one
//! JSON line to stdout (`--json`: the JSON line only). Exits 0 when the run
//! passed, 1 when it failed (delivery ratio below 1.0 without
//! `--allow-drops`, or no traffic), 2 when it could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use shardwamp::loadgen::{self, Scenario, Settings};

/// A thread-per-core WAMP load generator (fanout, rpc, sessions, mixed).
#[derive(Parser)]
#[command(
    name = "shardwamp-bench",
    version,
    about = "A thread-per-core WAMP load generator: fanout, rpc, sessions, mixed"
)]
struct Cli {
    /// The scenario (may come from --scenario instead).
    #[arg(value_enum)]
    scenario: Option<Scenario>,
    /// A TOML scenario file: the same options as the flags (`subscribers =
    /// 1000`, `scenario = "fanout"`); flags given too override it.
    #[arg(long = "scenario", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print only the JSON line to stdout.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    settings: Settings,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut flags = cli.settings;
    flags.scenario = cli.scenario;
    let settings = match &cli.file {
        Some(path) => match Settings::from_file(path) {
            Ok(file) => file.overlay(flags),
            Err(e) => {
                eprintln!("shardwamp-bench: {e}");
                return ExitCode::from(2);
            }
        },
        None => flags,
    };
    let mut opts = match settings.resolve() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shardwamp-bench: {e}");
            return ExitCode::from(2);
        }
    };
    opts.progress = !cli.quiet;
    let report = match loadgen::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shardwamp-bench: {e}");
            // The generator's shard threads are parked for good: leave now.
            std::process::exit(2);
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if !cli.json {
        let _ = write!(out, "{}", report.summary());
    }
    let _ = writeln!(out, "{}", report.json());
    let _ = out.flush();
    // Exit without running thread-local destructors on the parked shards.
    std::process::exit(if report.passed { 0 } else { 1 })
}
