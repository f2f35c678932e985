//! The load generator behind `shardwamp-bench`: thread-per-core on glommio
//! like the router, so that one core of load can saturate one core of router,
//! and speaking plain WAMP (WebSocket or RawSocket; JSON, MessagePack or
//! CBOR), so the same scenarios run against any router, Crossbar.io included.
//!
//! # Scenarios
//!
//! - [`Scenario::Fanout`]: publishers publish to topics that subscribers
//!   subscribe to, within an acknowledged window or at a fixed rate;
//!   latency is publish to receive, per event.
//! - [`Scenario::Rpc`]: callers keep calls outstanding on a procedure that
//!   callees share under an invocation policy, optionally with progressive
//!   results; latency is call to final result.
//! - [`Scenario::Sessions`]: sessions are opened at a rate, spread over source
//!   addresses (`127.0.0.x`) so that ephemeral ports last, and held;
//!   latency is connect to WELCOME.
//! - [`Scenario::Mixed`]: fanout and rpc at once, beside `--sessions` idle
//!   sessions opened first.
//! - [`Scenario::Echo`]: bare WebSocket round trips (no WAMP) against the
//!   echo server of `benches/matrix/echo`, at a fixed rate or with messages
//!   in flight, one hop or a call's two; the floor under rpc's latency
//!   (figures in the rpc part, counted in round trips).
//!
//! With `--sink-url`, subscribers and callees join that router while
//! publishers and callers join `--url`: the figures are then across a router
//! link (benches/links/run), the link's mirrors made during the warm-up.
//!
//! # A run
//!
//! The generator's shards connect and set up every session (every
//! subscription and registration is acknowledged before traffic starts),
//! then traffic flows for the warm-up, which is not counted, then for the
//! measured interval. Each publication and call carries whether it was sent
//! in the measured interval, so the delivery ratio counts exactly the
//! measured traffic: after the interval no new traffic is sent, and what is
//! in flight is waited for (at most `--drain`). The ratio is exactly 1.0 when
//! nothing is lost; below that the run fails, unless drops are allowed
//! (`--allow-drops`) or shardwamp's own count of events dropped for slow
//! consumers (read from its admin `/metrics` with `--router-metrics`) covers
//! every missing event: shardwamp drops by policy and counts it.
//!
//! Throughput counts what was received during the measured interval (a
//! backlog drained afterwards does not count); latency counts each measured
//! event or call. An acknowledged window bounds what a publisher has
//! unacknowledged, not what is queued towards subscribers: with a window the
//! latency is mostly queueing (window × fan-out ÷ throughput); use `--rate`
//! to measure latency at a given load.
//!
//! ```no_run
//! use shardwamp::loadgen::{self, Options, Scenario};
//!
//! let mut opts = Options::new(Scenario::Fanout, "ws://127.0.0.1:8080/ws")?;
//! opts.fanout.subscribers = 1000;
//! let report = loadgen::run(&opts)?;
//! print!("{}", report.summary());
//! println!("{}", report.json());
//! # Ok::<(), loadgen::Error>(())
//! ```
//!
//! Each call to [`run`] starts its own executors, whose threads park for good
//! afterwards (glommio 0.9's executor teardown is unsafe with two or more
//! executors; see `src/shard/mod.rs`): a process runs a handful of runs, not
//! thousands.

mod client;
mod echo;
pub mod options;
pub mod report;
mod runtime;
mod scenarios;
mod state;
pub mod stats;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use options::{
    Auth, FanoutOptions, InvokePolicy, MetricsUrl, Options, Pace, RpcOptions, Scenario,
    SessionsOptions, Settings, Target, Transport,
};
pub use report::{FanoutFigures, Report, RouterUsage, RpcFigures, SessionFigures};
pub use stats::Latency;

use runtime::ShardMsg;
use state::{Phase, Shared};
use stats::{hists, sum, Hists, Part, C};

/// Why a run could not be made (a run that was made but lost traffic is a
/// [`Report`] with `passed == false`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The options are invalid.
    #[error("{0}")]
    Options(String),
    /// The generator's executors could not start.
    #[error("cannot start the generator: {0}")]
    Start(String),
    /// A session could not be set up (connect, join, subscribe, register).
    #[error("setup failed: {0}")]
    Setup(String),
    /// The run broke down.
    #[error("{0}")]
    Run(String),
}

/// Raises the soft limit on open files to the hard limit (the sessions
/// scenario holds one descriptor per session).
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Receives what the shards send.
struct Collector {
    rx: crossbeam_channel::Receiver<ShardMsg>,
    shards: usize,
    ticks: Vec<Option<Box<Hists>>>,
    finals: Vec<Option<Box<Hists>>>,
    ready: usize,
    setup_error: Option<String>,
}

impl Collector {
    fn take(&mut self, m: ShardMsg) {
        match m {
            ShardMsg::Ready(i, r) => {
                self.ready += 1;
                if let Err(e) = r {
                    self.setup_error
                        .get_or_insert_with(|| format!("shard {i}: {e}"));
                }
            }
            ShardMsg::Tick(i, h) => self.ticks[i] = Some(h),
            ShardMsg::Final(i, h) => self.finals[i] = Some(h),
        }
    }

    /// Takes whatever arrives until `deadline`.
    fn until(&mut self, deadline: Instant) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(m) => self.take(m),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(deadline - now);
                    return;
                }
            }
        }
    }

    /// Waits until `done` holds or `deadline` passes, taking messages meanwhile.
    fn wait(&mut self, deadline: Instant, mut done: impl FnMut(&Collector) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.until((Instant::now() + Duration::from_millis(5)).min(deadline));
        }
    }

    /// The latest second's latency histograms, merged over shards.
    fn last_second(&self) -> Hists {
        let mut out = hists();
        for h in self.ticks.iter().flatten() {
            for (o, i) in out.iter_mut().zip(h.iter()) {
                let _ = o.add(i);
            }
        }
        out
    }
}

/// The progress line, once a second, to stderr.
struct Progress {
    on: bool,
    start: Instant,
    next: Instant,
    last: (u64, u64),
    last_at: Instant,
}

impl Progress {
    fn new(on: bool) -> Progress {
        let now = Instant::now();
        Progress {
            on,
            start: now,
            next: now + Duration::from_secs(1),
            last: (0, 0),
            last_at: now,
        }
    }

    /// Sleeps until `until`, printing a line every second.
    fn run_until(&mut self, until: Instant, shared: &Shared, col: &mut Collector, tag: &str) {
        loop {
            let stop = self.next.min(until);
            col.until(stop);
            if Instant::now() >= self.next {
                self.next += Duration::from_secs(1);
                self.print(shared, col, tag);
            }
            if Instant::now() >= until {
                return;
            }
        }
    }

    fn print(&mut self, shared: &Shared, col: &Collector, tag: &str) {
        let c = &shared.counters;
        let now = Instant::now();
        let dt = now.duration_since(self.last_at).as_secs_f64().max(1e-3);
        let (ev, calls) = (sum(c, C::EventsAll), sum(c, C::ResultsAll));
        let (ev_rate, call_rate) = (
            (ev - self.last.0) as f64 / dt,
            (calls - self.last.1) as f64 / dt,
        );
        self.last = (ev, calls);
        self.last_at = now;
        if !self.on {
            return;
        }
        let h = col.last_second();
        let p99 = |part: Part| {
            let h = &h[part as usize];
            if h.is_empty() {
                "-".to_string()
            } else {
                report::time_us(h.value_at_quantile(0.99) as f64 / 1000.0)
            }
        };
        let o = &shared.opts;
        let mut parts = Vec::new();
        if o.scenario.has_fanout() {
            parts.push(format!(
                "{} ev/s p99 {}",
                report::si(ev_rate),
                p99(Part::Fanout)
            ));
        }
        if o.scenario.has_rpc() || o.scenario == Scenario::Echo {
            parts.push(format!(
                "{} {}/s p99 {}",
                report::si(call_rate),
                if o.scenario == Scenario::Echo {
                    "round trips"
                } else {
                    "calls"
                },
                p99(Part::Rpc)
            ));
        }
        if o.sessions.sessions > 0 {
            parts.push(format!(
                "{} sessions open, {} failed, connect p99 {}",
                sum(c, C::SessionsOpen),
                sum(c, C::SessionsFailed),
                p99(Part::Sessions)
            ));
        }
        let errors = total_errors(c);
        let err = if errors > 0 {
            format!(" errors {errors}")
        } else {
            String::new()
        };
        eprintln!(
            "[{}s{tag}] {}{err}",
            now.duration_since(self.start).as_secs(),
            parts.join(" | ")
        );
    }
}

fn total_errors(c: &[stats::Counters]) -> u64 {
    [
        C::PublishErrors,
        C::OutOfOrder,
        C::CallErrors,
        C::SessionsFailed,
        C::SessionsLost,
        C::Disconnects,
        C::Protocol,
    ]
    .into_iter()
    .map(|k| sum(c, k))
    .sum()
}

fn ratio(got: u64, want: u64) -> f64 {
    if want == 0 {
        0.0
    } else {
        got as f64 / want as f64
    }
}

/// Runs one scenario and reports on it. Prints nothing unless
/// `opts.progress` (a line a second to stderr).
pub fn run(opts: &Options) -> Result<Report, Error> {
    opts.check()?;
    if opts.sessions.sessions > 0 {
        raise_nofile();
    }
    let shared = Arc::new(Shared::new(opts.clone()));
    let (tx, rx) = crossbeam_channel::unbounded();
    runtime::start(shared.clone(), tx).map_err(Error::Start)?;
    let n = opts.shards;
    let mut col = Collector {
        rx,
        shards: n,
        ticks: (0..n).map(|_| None).collect(),
        finals: (0..n).map(|_| None).collect(),
        ready: 0,
        setup_error: None,
    };
    let finish = |col: &mut Collector| {
        shared.set_phase(Phase::Done);
        col.wait(Instant::now() + Duration::from_secs(10), |c| {
            c.finals.iter().all(Option::is_some)
        });
    };

    // Setup: every session connected, subscribed, registered (idle sessions
    // of mixed opened at their rate).
    let mut setup_limit = Duration::from_secs(60);
    if opts.scenario == Scenario::Mixed && opts.sessions.sessions > 0 {
        setup_limit += Duration::from_secs_f64(opts.sessions.sessions as f64 / opts.sessions.rate);
    }
    let all_ready = col.wait(Instant::now() + setup_limit, |c| {
        c.ready == c.shards || c.setup_error.is_some()
    });
    if let Some(e) = col.setup_error.take() {
        finish(&mut col);
        return Err(Error::Setup(e));
    }
    if !all_ready {
        finish(&mut col);
        return Err(Error::Setup(format!(
            "not every shard was set up within {} s",
            setup_limit.as_secs()
        )));
    }

    let c = &shared.counters;
    let mut progress = Progress::new(opts.progress);
    if opts.scenario == Scenario::Sessions {
        let before = opts.router_pid.and_then(stats::sample);
        let gen_before = stats::self_cpu();
        shared.set_phase(Phase::Measure);
        let t0 = Instant::now();
        let want = opts.sessions.sessions;
        // Each session's subscriptions and registrations take a round trip
        // each, after the join: allow them 1 ms apiece beyond the ramp.
        let setup = (opts.sessions.subscriptions + opts.sessions.registrations) as f64;
        let limit = t0
            + Duration::from_secs_f64(
                want as f64 / opts.sessions.rate + 30.0 + want as f64 * setup / 1000.0,
            );
        loop {
            let settled = sum(c, C::SessionsOpened) + sum(c, C::SessionsFailed) >= want;
            if settled || Instant::now() >= limit {
                break;
            }
            progress.run_until(
                (Instant::now() + Duration::from_millis(10)).min(limit),
                &shared,
                &mut col,
                "",
            );
        }
        // CPU is what the ramp cost (the hold is idle); memory is read after
        // the hold, when every session is settled.
        let ramp_s = t0.elapsed().as_secs_f64();
        let after = opts.router_pid.and_then(stats::sample);
        let gen_cpu_s = stats::self_cpu() - gen_before;
        progress.run_until(
            Instant::now() + opts.sessions.hold,
            &shared,
            &mut col,
            " hold",
        );
        let held = sum(c, C::SessionsOpen);
        let m = Measured {
            secs: ramp_s,
            ramp_s,
            held,
            before,
            after,
            memory: opts.router_pid.and_then(stats::sample),
            cpu_secs: ramp_s,
            gen_cpu_s,
            router_dropped: None,
        };
        shared.set_phase(Phase::Stop);
        finish(&mut col);
        return Ok(build(&shared, &col, m));
    }

    // Warm-up, then the measured interval.
    let drops_before = opts.router_metrics.as_ref().and_then(stats::router_dropped);
    shared.set_phase(Phase::Warmup);
    progress.run_until(Instant::now() + opts.warmup, &shared, &mut col, " warm-up");
    let before = opts.router_pid.and_then(stats::sample);
    let gen_before = stats::self_cpu();
    shared.set_phase(Phase::Measure);
    let t0 = Instant::now();
    progress.run_until(t0 + opts.duration, &shared, &mut col, "");
    shared.set_phase(Phase::Stop);
    let secs = t0.elapsed().as_secs_f64();
    let mut m = Measured {
        secs,
        ramp_s: 0.0,
        held: sum(c, C::SessionsOpen),
        before,
        after: opts.router_pid.and_then(stats::sample),
        memory: None,
        cpu_secs: secs,
        gen_cpu_s: stats::self_cpu() - gen_before,
        router_dropped: None,
    };

    // Drain: once every shard has seen Stop, what it sent is counted; wait
    // for the answers.
    let drain_end = Instant::now() + opts.drain;
    col.wait(drain_end, |_| {
        c.iter()
            .all(|s| s.stopped.load(std::sync::atomic::Ordering::Acquire) == 1)
    });
    col.wait(drain_end, |_| {
        let fanout = sum(c, C::Delivered) + sum(c, C::ExpectedLost) >= sum(c, C::Expected);
        let rpc = sum(c, C::Results) + sum(c, C::CallErrors) >= sum(c, C::Calls);
        fanout && rpc
    });
    let drops_after = opts.router_metrics.as_ref().and_then(stats::router_dropped);
    m.router_dropped = drops_before
        .zip(drops_after)
        .map(|(b, a)| a.saturating_sub(b));
    finish(&mut col);
    Ok(build(&shared, &col, m))
}

/// What the main thread measured, for [`build`].
struct Measured {
    /// The measured interval (the ramp, for sessions), seconds.
    secs: f64,
    /// The sessions' ramp, seconds.
    ramp_s: f64,
    /// Sessions open at the end.
    held: u64,
    /// The router sampled at the start and end of `cpu_secs`.
    before: Option<stats::ProcSample>,
    after: Option<stats::ProcSample>,
    /// The router sampled for its memory when that is later than `after`
    /// (sessions: after the hold).
    memory: Option<stats::ProcSample>,
    /// The interval CPU use is measured over, seconds.
    cpu_secs: f64,
    /// The generator's CPU seconds over it.
    gen_cpu_s: f64,
    /// Events the router counted as dropped from warm-up to the end of the drain.
    router_dropped: Option<u64>,
}

fn build(shared: &Shared, col: &Collector, m: Measured) -> Report {
    let Measured {
        secs: measured,
        ramp_s,
        held,
        before,
        after,
        memory,
        cpu_secs,
        gen_cpu_s,
        router_dropped,
    } = m;
    let o = &shared.opts;
    let c = &shared.counters;
    let mut merged = hists();
    for h in col.finals.iter().flatten() {
        for (m, x) in merged.iter_mut().zip(h.iter()) {
            let _ = m.add(x);
        }
    }
    let per_s = |v: u64| v as f64 / measured.max(1e-9);
    let fanout = o.scenario.has_fanout().then(|| {
        let (expected, delivered) = (sum(c, C::Expected), sum(c, C::Delivered));
        FanoutFigures {
            publications: sum(c, C::Publications),
            publications_per_s: per_s(sum(c, C::Publications)),
            expected,
            delivered,
            delivery_ratio: ratio(delivered, expected),
            events_per_s: per_s(sum(c, C::EventsInWindow)),
            latency: Latency::of(&merged[Part::Fanout as usize]),
            publish_errors: sum(c, C::PublishErrors),
            out_of_order: sum(c, C::OutOfOrder),
        }
    });
    let rpc = (o.scenario.has_rpc() || o.scenario == Scenario::Echo).then(|| {
        let (calls, results) = (sum(c, C::Calls), sum(c, C::Results));
        RpcFigures {
            calls,
            results,
            delivery_ratio: ratio(results, calls),
            calls_per_s: per_s(sum(c, C::ResultsInWindow)),
            latency: Latency::of(&merged[Part::Rpc as usize]),
            call_errors: sum(c, C::CallErrors),
            progressive_results: sum(c, C::Progressive),
        }
    });
    let sessions = (o.sessions.sessions > 0).then(|| {
        let opened = sum(c, C::SessionsOpened);
        SessionFigures {
            tried: sum(c, C::SessionsTried),
            opened,
            failed: sum(c, C::SessionsFailed),
            lost: sum(c, C::SessionsLost),
            held,
            delivery_ratio: ratio(held, o.sessions.sessions),
            ramp_s,
            opens_per_s: if ramp_s > 0.0 {
                opened as f64 / ramp_s
            } else {
                0.0
            },
            latency: Latency::of(&merged[Part::Sessions as usize]),
        }
    });
    let (throughput, unit, latency) = match (&fanout, &rpc, &sessions) {
        (Some(f), _, _) => (f.events_per_s, "events", f.latency.clone()),
        (None, Some(r), _) if o.scenario == Scenario::Echo => {
            (r.calls_per_s, "round trips", r.latency.clone())
        }
        (None, Some(r), _) => (r.calls_per_s, "calls", r.latency.clone()),
        (None, None, Some(s)) => (s.opens_per_s, "sessions", s.latency.clone()),
        _ => (0.0, "", Latency::default()),
    };
    let delivery_ratio = [
        fanout.as_ref().map(|f| f.delivery_ratio),
        rpc.as_ref().map(|r| r.delivery_ratio),
        sessions.as_ref().map(|s| s.delivery_ratio),
    ]
    .into_iter()
    .flatten()
    .fold(f64::INFINITY, f64::min);
    let delivery_ratio = if delivery_ratio.is_finite() {
        delivery_ratio
    } else {
        0.0
    };
    let errors = total_errors(c);
    // Events lost in the fanout part; the other parts cannot lose anything by policy.
    let missing = fanout
        .as_ref()
        .map_or(0, |f| f.expected.saturating_sub(f.delivered));
    let others_whole = rpc.as_ref().is_none_or(|r| r.delivery_ratio >= 1.0)
        && sessions.as_ref().is_none_or(|s| s.delivery_ratio >= 1.0);
    let accounted = missing > 0 && others_whole && router_dropped.is_some_and(|d| d >= missing);
    let nothing_sent = fanout.as_ref().is_some_and(|f| f.publications == 0)
        || rpc.as_ref().is_some_and(|r| r.calls == 0);
    let failure = if nothing_sent {
        Some("nothing was published or called in the measured interval".to_string())
    } else if throughput <= 0.0 {
        Some("no traffic was delivered in the measured interval".to_string())
    } else if delivery_ratio < 1.0 && !o.allow_drops && !accounted {
        let counted = match router_dropped {
            Some(d) => format!("; the router counted {d} dropped event(s) for {missing} missing"),
            None => String::new(),
        };
        Some(format!(
            "delivery ratio {delivery_ratio} < 1.0{counted} (--allow-drops accepts drops; --router-metrics reads shardwamp's count)"
        ))
    } else {
        None
    };
    let router = match (o.router_pid, before, after) {
        (Some(pid), Some(b), Some(a)) => {
            let cpu_s = (a.cpu_s - b.cpu_s).max(0.0);
            let mem = memory.as_ref().unwrap_or(&a);
            Some(RouterUsage {
                pid,
                cpu_s,
                cpu_pct: 100.0 * cpu_s / cpu_secs.max(1e-9),
                peak_rss_bytes: mem.peak_rss,
                rss_bytes: mem.rss,
            })
        }
        _ => None,
    };
    Report {
        scenario: o.scenario.name(),
        passed: failure.is_none(),
        failure,
        duration_s: measured,
        throughput,
        throughput_unit: unit,
        latency,
        delivery_ratio,
        errors,
        router_dropped,
        first_error: shared.first_error(),
        fanout,
        rpc,
        sessions,
        router,
        generator_cpu_pct: 100.0 * gen_cpu_s / cpu_secs.max(1e-9),
        params: o.clone(),
        version: env!("CARGO_PKG_VERSION"),
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}
