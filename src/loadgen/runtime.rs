//! The generator's shards: one glommio executor per shard, each running
//! its scenarios' set-up and then following the run's phases
//! (`state.rs`), and what a shard sends back (ready, a latency snapshot
//! every second, its histograms at the end).
//!
//! Like the router's shards, a generator shard's thread never returns once
//! its work is done: it parks until the process exits, because tearing down
//! glommio 0.9 executors corrupts the heap in about half of the runs with two
//! or more of them.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorPoolBuilder, PoolPlacement};

use super::state::{Local, Phase, Shared};
use super::stats::Hists;

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
    let idx = shared.next_shard();
    let local = Rc::new(Local::new(idx, shared.clone()));
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
            let h = local.take_interval();
            let _ = tx.send(ShardMsg::Tick(idx, Box::new(h)));
        }
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    // Cancel every task (closing its connections) and let the cancellations run.
    drop(tasks);
    glommio::timer::sleep(Duration::from_millis(50)).await;
    let h = local.take_hists();
    let _ = tx.send(ShardMsg::Final(idx, Box::new(h)));
}
