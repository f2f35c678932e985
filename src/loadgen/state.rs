//! The state of a run: its phases (set by the main thread, read by every
//! shard), what every shard shares with the main thread ([`Shared`]:
//! options, counters, the first error) and each shard's own ([`Local`]: its
//! latency histograms). The shards (`runtime.rs`) and the scenarios
//! (`scenarios.rs`) both use it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::options::Options;
use super::stats::{hists, Counters, Hists, Part};

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Connecting, joining, subscribing, registering.
    Setup = 0,
    /// Traffic flows; nothing is counted.
    Warmup = 1,
    /// Traffic flows and is counted.
    Measure = 2,
    /// No new traffic; what is in flight is drained.
    Stop = 3,
    /// Close everything and send the histograms.
    Done = 4,
}

/// What every shard shares with the main thread.
pub(crate) struct Shared {
    pub opts: Options,
    /// The clock every timestamp is taken against (one host, one clock).
    pub epoch: Instant,
    phase: AtomicU8,
    pub counters: Vec<Counters>,
    /// Subscribers per topic.
    pub matching: Vec<u64>,
    first_error: Mutex<Option<String>>,
    next_shard: AtomicUsize,
}

impl Shared {
    pub fn new(opts: Options) -> Shared {
        let f = &opts.fanout;
        let mut matching = vec![0u64; f.topics.max(1)];
        for s in 0..f.subscribers {
            matching[s % f.topics.max(1)] += 1;
        }
        Shared {
            counters: (0..opts.shards).map(|_| Counters::default()).collect(),
            opts,
            epoch: Instant::now(),
            phase: AtomicU8::new(Phase::Setup as u8),
            matching,
            first_error: Mutex::new(None),
            next_shard: AtomicUsize::new(0),
        }
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Setup,
            1 => Phase::Warmup,
            2 => Phase::Measure,
            3 => Phase::Stop,
            _ => Phase::Done,
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Release);
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Keeps the first error message for the report.
    pub fn note_error(&self, msg: impl FnOnce() -> String) {
        if let Ok(mut e) = self.first_error.lock() {
            if e.is_none() {
                *e = Some(msg());
            }
        }
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }

    /// The index of the next shard to start.
    pub fn next_shard(&self) -> usize {
        self.next_shard.fetch_add(1, Ordering::AcqRel)
    }
}

/// A shard's own state.
pub(crate) struct Local {
    pub idx: usize,
    pub shared: Arc<Shared>,
    hists: RefCell<Hists>,
    interval: RefCell<Hists>,
}

impl Local {
    /// Shard `idx`'s state, its histograms empty.
    pub fn new(idx: usize, shared: Arc<Shared>) -> Local {
        Local {
            idx,
            shared,
            hists: RefCell::new(hists()),
            interval: RefCell::new(hists()),
        }
    }

    /// The latencies recorded since the last call (for the progress line).
    pub fn take_interval(&self) -> Hists {
        self.interval.replace(hists())
    }

    /// The run's histograms.
    pub fn take_hists(&self) -> Hists {
        self.hists.replace(hists())
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters[self.idx]
    }

    pub fn phase(&self) -> Phase {
        self.shared.phase()
    }

    /// Records a latency: always for the progress line, and in the run's
    /// histogram when `measured`.
    #[inline]
    pub fn record(&self, part: Part, ns: u64, measured: bool) {
        let ns = ns.max(1);
        self.interval.borrow_mut()[part as usize].saturating_record(ns);
        if measured {
            self.hists.borrow_mut()[part as usize].saturating_record(ns);
        }
    }

    /// Waits until the run reaches `p`.
    pub async fn until(&self, p: Phase) {
        while self.phase() < p {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }
}
