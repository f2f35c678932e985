//! Counting: per-shard counters the main thread reads while the run goes on,
//! per-shard hdrhistograms merged at the end, latency summaries, and the
//! router's CPU time and peak RSS read from `/proc`.

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

/// What a shard counts. Counters marked *measured* count only traffic sent
/// during the measured interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum C {
    /// Publications sent (measured).
    Publications,
    /// Events the measured publications should deliver.
    Expected,
    /// Events that measured publications answered with ERROR would have delivered.
    ExpectedLost,
    /// Events of measured publications received.
    Delivered,
    /// Every event received (for the progress line).
    EventsAll,
    /// Events received during the measured interval (for the throughput).
    EventsInWindow,
    /// Events received twice or out of order.
    OutOfOrder,
    /// Publications answered with ERROR.
    PublishErrors,
    /// Calls sent (measured).
    Calls,
    /// Final results of measured calls received.
    Results,
    /// Every final result received (for the progress line).
    ResultsAll,
    /// Final results received during the measured interval (for the throughput).
    ResultsInWindow,
    /// Measured calls answered with ERROR or with the wrong number of progressive results.
    CallErrors,
    /// Progressive results received for measured calls.
    Progressive,
    /// Invocations answered by callees.
    Invocations,
    /// Sessions the sessions part tried to open.
    SessionsTried,
    /// Sessions opened so far.
    SessionsOpened,
    /// Sessions open now.
    SessionsOpen,
    /// Sessions that could not be opened.
    SessionsFailed,
    /// Sessions the router closed while they were held.
    SessionsLost,
    /// Connections of the fanout or rpc parts lost before the end.
    Disconnects,
    /// Other protocol errors (unexpected messages, undecodable payloads).
    Protocol,
}

const COUNTERS: usize = C::Protocol as usize + 1;

/// One shard's counters, on their own cache lines. Each is written by its
/// shard's thread only (a load and a store, no locked instruction) and read
/// by the main thread.
#[repr(align(128))]
pub(crate) struct Counters {
    c: [AtomicU64; COUNTERS],
    /// Set by the shard once it has seen the Stop phase: every measured
    /// publication or call it made is counted by then.
    pub stopped: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            c: std::array::from_fn(|_| AtomicU64::new(0)),
            stopped: AtomicU64::new(0),
        }
    }
}

impl Counters {
    /// Adds `n` (the owning shard's thread only).
    #[inline]
    pub fn add(&self, c: C, n: u64) {
        let a = &self.c[c as usize];
        a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Release);
    }

    /// Subtracts `n` (the owning shard's thread only).
    #[inline]
    pub fn sub(&self, c: C, n: u64) {
        let a = &self.c[c as usize];
        a.store(a.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Release);
    }

    /// The current value.
    pub fn get(&self, c: C) -> u64 {
        self.c[c as usize].load(Ordering::Acquire)
    }
}

/// Sums a counter over shards.
pub(crate) fn sum(shards: &[Counters], c: C) -> u64 {
    shards.iter().map(|s| s.get(c)).sum()
}

/// Which latency a histogram holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Part {
    /// Publish to event received, per event.
    Fanout,
    /// Call to final result, per call.
    Rpc,
    /// Connect to WELCOME, per session.
    Sessions,
}

/// A latency histogram in nanoseconds: 1 ns to 100 s, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Per-part histograms.
pub(crate) type Hists = [Histogram<u64>; 3];

/// Three empty histograms.
pub(crate) fn hists() -> Hists {
    [histogram(), histogram(), histogram()]
}

/// A latency distribution in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Samples recorded.
    pub count: u64,
    /// Smallest, µs.
    pub min_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Largest, µs.
    pub max_us: f64,
}

impl Latency {
    /// Summarises a histogram of nanoseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.len(),
            min_us: us(h.min()),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// CPU time and memory of a process, from `/proc/PID/stat` and `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcSample {
    /// utime + stime, seconds.
    pub cpu_s: f64,
    /// VmHWM: the peak resident set since the process started, bytes.
    pub peak_rss: u64,
    /// VmRSS now, bytes.
    pub rss: u64,
}

/// Samples a process; `None` when it cannot be read (gone, not Linux).
pub(crate) fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14 and stime field 15 (1-based).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let tick = if tick > 0 { tick as f64 } else { 100.0 };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Some(ProcSample {
        cpu_s: (utime + stime) as f64 / tick,
        peak_rss: kb("VmHWM:"),
        rss: kb("VmRSS:"),
    })
}

/// The sum of every `shardwamp_events_dropped_total` sample on a
/// Prometheus `/metrics` page (blocking; `None` when it cannot be read).
pub(crate) fn router_dropped(url: &super::options::MetricsUrl) -> Option<u64> {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(2);
    let mut s = std::net::TcpStream::connect_timeout(&url.addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    )
    .ok()?;
    let mut body = String::new();
    s.take(16 << 20).read_to_string(&mut body).ok()?;
    let (head, body) = body.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.") || head.split_whitespace().nth(1) != Some("200") {
        return None;
    }
    dropped_in(body)
}

/// The sum of the `shardwamp_events_dropped_total` samples of a metrics page.
pub(crate) fn dropped_in(page: &str) -> Option<u64> {
    let mut found = false;
    let mut total = 0u64;
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("shardwamp_events_dropped_total") else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value = rest.rsplit(' ').next()?;
        total += value.parse::<f64>().ok()? as u64;
        found = true;
    }
    found.then_some(total)
}

/// This process's CPU time (user + system), seconds.
pub(crate) fn self_cpu() -> f64 {
    // SAFETY: a zeroed rusage is a valid out-parameter for getrusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_and_self_sample() {
        let mut h = histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!(l.count, 1000);
        assert!((l.p50_us - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.p99_us - 990.0).abs() < 1.0, "{l:?}");
        assert!((l.max_us - 1000.0).abs() < 1.0, "{l:?}");
        assert_eq!(Latency::of(&histogram()), Latency::default());
        let me = sample(std::process::id()).expect("/proc/self readable");
        assert!(me.peak_rss > 0 && me.rss > 0);
        let page = "# HELP shardwamp_events_dropped_total x\n# TYPE shardwamp_events_dropped_total counter\nshardwamp_events_dropped_total{shard=\"0\"} 3\nshardwamp_events_dropped_total{shard=\"1\"} 4\nshardwamp_events_dropped_totalx 9\n";
        assert_eq!(dropped_in(page), Some(7));
        assert_eq!(dropped_in("shardwamp_sessions 3\n"), None);
        let c = Counters::default();
        c.add(C::Delivered, 3);
        c.sub(C::Delivered, 1);
        assert_eq!(c.get(C::Delivered), 2);
    }
}
