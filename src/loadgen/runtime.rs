//! The generator's shards: one glommio executor per shard, the run's phases
//! (set by the main thread, read by every shard), and what a shard sends back
//! (ready, a latency snapshot every second, its histograms at the end).
//!
//! Like the router's shards, a generator shard's thread never returns once
//! its work is done: it parks until the process exits, because tearing down
//! glommio 0.9 executors corrupts the heap in about half of the runs with two
//! or more of them.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use glommio::{LocalExecutorPoolBuilder, PoolPlacement};

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
}

/// A shard's own state.
pub(crate) struct Local {
    pub idx: usize,
    pub shared: Arc<Shared>,
    hists: RefCell<Hists>,
    interval: RefCell<Hists>,
}

impl Local {
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

/// What a shard sends the main thread.
pub(crate) enum ShardMsg {
    /// Setup finished (or failed, with why).
    Ready(usize, Result<(), String>),
    /// The latencies recorded since the last tick.
    Tick(usize, Box<Hists>),
    /// The run's histograms, after everything is closed.
    Final(usize, Box<Hists>),
}

/// Starts the generator's shards; each runs `setup` then waits for the
/// phases, reporting to `tx`.
pub(crate) fn start(
    shared: Arc<Shared>,
    tx: crossbeam_channel::Sender<ShardMsg>,
) -> Result<(), String> {
    let n = shared.opts.shards;
    let placement = match &shared.opts.cpus {
        Some(cpus) if !cpus.is_empty() => {
            let online = glommio::CpuSet::online().map_err(|e| e.to_string())?;
            let mut sets = Vec::with_capacity(n);
            for i in 0..n {
                let cpu = cpus[i % cpus.len()];
                let set = online.clone().filter(|l| l.cpu == cpu);
                if set.is_empty() {
                    return Err(format!("CPU {cpu} is not online"));
                }
                sets.push(set);
            }
            PoolPlacement::Custom(sets)
        }
        _ => PoolPlacement::Unbound(n),
    };
    let io_memory = 1 << 20;
    crate::shard::raise_memlock(io_memory as u64 * n as u64).map_err(|e| e.to_string())?;
    let threads = LocalExecutorPoolBuilder::new(placement)
        .io_memory(io_memory)
        .ring_depth(crate::shard::RING_DEPTH)
        .name("shardwamp-bench")
        .on_all_shards(move || {
            let shared = shared.clone();
            let tx = tx.clone();
            async move {
                shard_main(shared, tx).await;
                // Park for good: see the module docs.
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| e.to_string())?;
    // The threads never end: never join them.
    std::mem::forget(threads);
    Ok(())
}

async fn shard_main(shared: Arc<Shared>, tx: crossbeam_channel::Sender<ShardMsg>) {
    let idx = shared.next_shard.fetch_add(1, Ordering::AcqRel);
    let local = Rc::new(Local {
        idx,
        shared: shared.clone(),
        hists: RefCell::new(hists()),
        interval: RefCell::new(hists()),
    });
    let mut tasks = Vec::new();
    let setup = super::scenarios::setup(&local, &mut tasks).await;
    let _ = tx.send(ShardMsg::Ready(idx, setup));
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    loop {
        let p = shared.phase();
        if p >= Phase::Stop && local.counters().stopped.load(Ordering::Acquire) == 0 {
            // Every task of this shard that saw an earlier phase has finished
            // its turn (one thread, cooperative): what it sent is counted.
            local.counters().stopped.store(1, Ordering::Release);
        }
        if p >= Phase::Done {
            break;
        }
        if Instant::now() >= next_tick {
            next_tick += Duration::from_secs(1);
            let h = local.interval.replace(hists());
            let _ = tx.send(ShardMsg::Tick(idx, Box::new(h)));
        }
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    // Cancel every task (closing its connections) and let the cancellations run.
    drop(tasks);
    glommio::timer::sleep(Duration::from_millis(50)).await;
    let h = local.hists.replace(hists());
    let _ = tx.send(ShardMsg::Final(idx, Box::new(h)));
}
