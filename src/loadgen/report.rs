//! A run's results: [`Report`], printed as a human summary
//! ([`Report::summary`]) and as one JSON line ([`Report::json`]).

use serde::Serialize;

use super::options::{Options, Pace};
use super::stats::Latency;

/// The fanout part's figures (measured interval only).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FanoutFigures {
    /// Publications sent.
    pub publications: u64,
    /// Publications per second.
    pub publications_per_s: f64,
    /// Events those publications should deliver (publications × subscribers of their topic).
    pub expected: u64,
    /// Events delivered.
    pub delivered: u64,
    /// `delivered / expected`: exactly 1.0 when nothing was lost.
    pub delivery_ratio: f64,
    /// Events received per second during the measured interval (whenever
    /// they were published: a backlog drained afterwards does not count).
    pub events_per_s: f64,
    /// Publish to receive, per event.
    pub latency: Latency,
    /// Publications answered with ERROR.
    pub publish_errors: u64,
    /// Events received twice or out of order.
    pub out_of_order: u64,
}

/// The rpc part's figures (measured interval only).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RpcFigures {
    /// Calls sent.
    pub calls: u64,
    /// Calls answered with a final result (and the right number of progressive ones).
    pub results: u64,
    /// `results / calls`: exactly 1.0 when every call was answered.
    pub delivery_ratio: f64,
    /// Final results received per second during the measured interval.
    pub calls_per_s: f64,
    /// Call to final result.
    pub latency: Latency,
    /// Calls answered with ERROR or the wrong number of progressive results.
    pub call_errors: u64,
    /// Progressive results received.
    pub progressive_results: u64,
}

/// The sessions part's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionFigures {
    /// Sessions the generator tried to open.
    pub tried: u64,
    /// Sessions opened (WELCOME received, then the subscriptions and
    /// registrations each makes, if any).
    pub opened: u64,
    /// Sessions that could not be opened.
    pub failed: u64,
    /// Sessions the router closed while they were held.
    pub lost: u64,
    /// Sessions still open at the end of the hold.
    pub held: u64,
    /// `held / sessions asked for`.
    pub delivery_ratio: f64,
    /// Seconds from the first open to the last WELCOME.
    pub ramp_s: f64,
    /// Sessions opened per second over the ramp.
    pub opens_per_s: f64,
    /// Connect to WELCOME, per session.
    pub latency: Latency,
}

/// The router's resource use, from `/proc` (when `--router-pid` is given).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouterUsage {
    /// The pid sampled.
    pub pid: u32,
    /// CPU seconds (user + system) spent in the measured interval.
    pub cpu_s: f64,
    /// `cpu_s` over the interval's length, in percent (100 = one core).
    pub cpu_pct: f64,
    /// Peak resident set since the router started (VmHWM), bytes.
    pub peak_rss_bytes: u64,
    /// Resident set at the end, bytes.
    pub rss_bytes: u64,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Whether the run passed: delivery ratio 1.0 (or drops allowed) and traffic flowed.
    pub passed: bool,
    /// Why it did not.
    pub failure: Option<String>,
    /// Seconds measured (the ramp, for `sessions`).
    pub duration_s: f64,
    /// The headline rate: events/s (fanout, mixed), calls/s (rpc), opens/s (sessions).
    pub throughput: f64,
    /// What `throughput` counts.
    pub throughput_unit: &'static str,
    /// The headline latency (of what `throughput` counts).
    pub latency: Latency,
    /// The lowest delivery ratio of the parts run.
    pub delivery_ratio: f64,
    /// Every error counted: failed publications, calls and sessions, lost
    /// connections, events out of order, unexpected messages.
    pub errors: u64,
    /// Events the router counted as dropped for slow consumers, from the
    /// warm-up to the end of the drain (`--router-metrics`; `None` when not read).
    pub router_dropped: Option<u64>,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// The fanout part (fanout, mixed).
    pub fanout: Option<FanoutFigures>,
    /// The rpc part (rpc, mixed).
    pub rpc: Option<RpcFigures>,
    /// The sessions part (sessions; mixed with `--sessions`).
    pub sessions: Option<SessionFigures>,
    /// The router's CPU and memory, when its pid was given and readable.
    pub router: Option<RouterUsage>,
    /// The generator's own CPU use over the measured interval, percent of one core.
    pub generator_cpu_pct: f64,
    /// The run's parameters.
    pub params: Options,
    /// shardwamp's version.
    pub version: &'static str,
    /// When the run ended, seconds since the Unix epoch.
    pub timestamp: u64,
}

/// `1234567.0` as `1.23M`.
pub fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Microseconds as `850µs`, `1.25ms` or `2.10s`.
pub fn time_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2}s", us / 1e6)
    } else if us >= 1000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{us:.0}µs")
    }
}

fn latency_line(l: &Latency) -> String {
    if l.count == 0 {
        return "no samples".into();
    }
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n = {})",
        time_us(l.p50_us),
        time_us(l.p90_us),
        time_us(l.p99_us),
        time_us(l.p999_us),
        time_us(l.max_us),
        l.count
    )
}

impl Report {
    /// The run as one line of JSON (no newline).
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A human summary (several lines, ending with a newline).
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let p = &self.params;
        let mut s = String::new();
        let transport = match p.target.transport {
            super::options::Transport::WebSocket => "websocket",
            super::options::Transport::RawSocket => "rawsocket",
        };
        let _ = writeln!(
            s,
            "shardwamp-bench {}: {} {} {} (realm {}), {} generator shard(s){}",
            self.scenario,
            p.target.url,
            transport,
            p.serializer,
            p.realm,
            p.shards,
            p.cpus
                .as_ref()
                .map(|c| format!(" on CPU {c:?}"))
                .unwrap_or_default()
        );
        if let Some(sink) = &p.sink {
            let _ = writeln!(s, "  subscribers and callees on {}", sink.url);
        }
        if let Some(f) = &self.fanout {
            let pace = match p.fanout.pace {
                Pace::Window(w) => format!("window {w}"),
                Pace::Rate(r) => format!("rate {}/s (tick {:?})", si(r), p.tick),
            };
            let _ = writeln!(
                s,
                "fanout:   {} publisher(s) -> {} subscriber(s) on {} topic(s), payload {} B, {pace}",
                p.fanout.publishers, p.fanout.subscribers, p.fanout.topics, p.fanout.payload
            );
            let _ = writeln!(
                s,
                "  events  {}/s delivered ({} publications/s), ratio {:?} ({} / {}), errors {}, out of order {}",
                si(f.events_per_s),
                si(f.publications_per_s),
                f.delivery_ratio,
                f.delivered,
                f.expected,
                f.publish_errors,
                f.out_of_order
            );
            let _ = writeln!(s, "  latency {}", latency_line(&f.latency));
        }
        if let Some(r) = &self.rpc {
            let pace = match p.rpc.rate {
                None => format!("{} outstanding", p.rpc.outstanding),
                Some(r) => format!("rate {}/s (tick {:?})", si(r), p.tick),
            };
            let _ = writeln!(
                s,
                "rpc:      {} caller(s) x {pace} -> {} callee(s) ({}), payload {} B, {} progressive",
                p.rpc.callers,
                p.rpc.callees,
                p.rpc.invoke.name(),
                p.rpc.payload,
                p.rpc.progressive
            );
            let _ = writeln!(
                s,
                "  calls   {}/s, ratio {:?} ({} / {}), errors {}, progressive results {}",
                si(r.calls_per_s),
                r.delivery_ratio,
                r.results,
                r.calls,
                r.call_errors,
                r.progressive_results
            );
            let _ = writeln!(s, "  latency {}", latency_line(&r.latency));
        }
        if let Some(x) = &self.sessions {
            let held_for = if self.scenario == "sessions" {
                format!("held {:.1} s", p.sessions.hold.as_secs_f64())
            } else {
                "idle beside the traffic".to_string()
            };
            let each = if p.sessions.subscriptions + p.sessions.registrations > 0 {
                format!(
                    ", {} subscription(s) and {} registration(s) each",
                    p.sessions.subscriptions, p.sessions.registrations
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "sessions: {} at {}/s{each}, {held_for}, {} source address(es)",
                p.sessions.sessions,
                si(p.sessions.rate),
                p.sessions.source_ips.len().max(1)
            );
            let ramp = if x.ramp_s > 0.0 {
                format!(" in {:.2} s ({}/s)", x.ramp_s, si(x.opens_per_s))
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  opened  {}{ramp}, failed {}, lost {}, held {}, ratio {:?}",
                x.opened, x.failed, x.lost, x.held, x.delivery_ratio
            );
            let _ = writeln!(s, "  connect+join {}", latency_line(&x.latency));
        }
        let what = if self.scenario == "sessions" {
            "the ramp".to_string()
        } else {
            format!("after {:.1} s of warm-up", p.warmup.as_secs_f64())
        };
        let _ = writeln!(
            s,
            "measured {:.2} s ({what}): {} {}/s, generator CPU {:.0}%",
            self.duration_s,
            si(self.throughput),
            self.throughput_unit,
            self.generator_cpu_pct
        );
        match &self.router {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "router   pid {}: CPU {:.1}% ({:.2} s), peak RSS {:.1} MiB, RSS {:.1} MiB",
                    r.pid,
                    r.cpu_pct,
                    r.cpu_s,
                    r.peak_rss_bytes as f64 / 1048576.0,
                    r.rss_bytes as f64 / 1048576.0
                );
            }
            None if p.router_pid.is_some() => {
                let _ = writeln!(s, "router   pid {:?}: not readable", p.router_pid);
            }
            None => {}
        }
        if let Some(d) = self.router_dropped {
            let _ = writeln!(s, "router   counted {d} dropped event(s) (/metrics)");
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "errors   {} (first: {e})", self.errors);
        }
        let _ = writeln!(
            s,
            "result   {}",
            match &self.failure {
                None => "PASS".to_string(),
                Some(f) => format!("FAIL: {f}"),
            }
        );
        s
    }
}
