//! What the control plane sends a shard ([`ControlMsg`]: typed operations
//! only) over its control channel (`channel.rs`), and the [`RouterHandle`]
//! that sends them and gathers the answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::router::stats::ShardStats;
use crate::router::TransportId;
use crate::transport::{AdminSite, Bound, EndpointSpec, ListenerSpec};

use super::channel::{channel, ControlSender, Reply};
use super::ops::{CoreOp, OpError};

/// Messages the control plane sends a shard: typed operations only.
pub enum ControlMsg {
    /// Stop listening, say GOODBYE to every session, flush, and stop.
    Shutdown {
        /// GOODBYE reason.
        reason: String,
    },
    /// An operation on the shard's router core.
    Core(CoreOp),
    /// Start accepting on a new transport (its authentication is set on the core first).
    StartListener {
        /// The transport.
        spec: Box<ListenerSpec>,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
    /// Stop accepting on a transport; with `close`, GOODBYE its sessions.
    StopListener {
        /// The transport.
        id: TransportId,
        /// Close the sessions that came through it.
        close: Option<String>,
        /// Where to answer.
        reply: Reply<()>,
    },
    /// Start the admin HTTP listener on this shard; answers where it listens.
    StartAdmin {
        /// Where to listen (port 0: any).
        addr: SocketAddr,
        /// What it serves.
        site: Arc<dyn AdminSite>,
        /// Where to answer.
        reply: Reply<Result<SocketAddr, OpError>>,
    },
    /// Start a component on this shard.
    StartComponent {
        /// The component's config.
        config: Box<crate::config::ComponentConfig>,
        /// Where its class is registered.
        registry: Arc<crate::component::Registry>,
        /// The internal transport it joins through.
        transport: TransportId,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
    /// Stop a component on this shard.
    StopComponent {
        /// The component's id.
        id: String,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
    /// Start a router link on this shard (its local leg joins through
    /// `spec.transport`, made internal here with the link's role).
    StartLink {
        /// What the link runs.
        spec: Box<crate::link::LinkSpec>,
        /// Its figures, which the controller reads.
        stats: Arc<crate::link::LinkStats>,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
    /// Stop a router link (by realm and id): its legs close.
    StopLink {
        /// The local realm.
        realm: String,
        /// The link's id.
        id: String,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
    /// This shard's figures of each bridge service it has served, by the path's transport id.
    BridgeFigures {
        /// Where to answer.
        reply: Reply<Vec<(TransportId, crate::bridge::BridgeFigures)>>,
    },
    /// Tell the core the transport of a web path about to be mounted (its
    /// authentication, or a bridge's internal role). Unmounting one is
    /// [`ControlMsg::StopListener`] with the path's id.
    StartWebPath {
        /// The path.
        spec: std::sync::Arc<crate::transport::web::PathSpec>,
        /// Where to answer.
        reply: Reply<Result<(), OpError>>,
    },
}

/// A running router.
pub struct RouterHandle {
    controls: Vec<ControlSender<ControlMsg>>,
    threads: Mutex<Option<glommio::PoolThreadHandles<()>>>,
    done: crossbeam_channel::Receiver<()>,
    bound: Vec<Bound>,
    shards: usize,
}

impl RouterHandle {
    pub(crate) fn new(
        controls: Vec<ControlSender<ControlMsg>>,
        threads: glommio::PoolThreadHandles<()>,
        done: crossbeam_channel::Receiver<()>,
        bound: Vec<Bound>,
        shards: usize,
    ) -> RouterHandle {
        RouterHandle {
            controls,
            threads: Mutex::new(Some(threads)),
            done,
            bound,
            shards,
        }
    }

    /// Where each transport listens (port 0 resolved).
    pub fn bound(&self) -> &[Bound] {
        &self.bound
    }

    /// The TCP address of a transport, by config id.
    pub fn tcp_addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound.iter().find_map(|b| match &b.endpoint {
            EndpointSpec::Tcp(a) if b.name == name => Some(*a),
            _ => None,
        })
    }

    /// How many shards run.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Sends the message `make` builds to shard `shard` and awaits its
    /// answer; `None` when the shard is gone (or never was).
    pub async fn ask<T: Send + 'static>(
        &self,
        shard: usize,
        make: impl FnOnce(Reply<T>) -> ControlMsg,
    ) -> Option<T> {
        let c = self.controls.get(shard)?;
        let (tx, rx) = channel();
        c.send(make(Reply { shard, tx }));
        rx.recv().await.map(|(_, answer)| answer)
    }

    /// [`RouterHandle::ask`] from a thread that is not a shard, waiting at
    /// most `timeout`; `None` when the shard is gone or did not answer in time.
    pub fn ask_blocking<T: Send + 'static>(
        &self,
        shard: usize,
        make: impl FnOnce(Reply<T>) -> ControlMsg,
        timeout: Duration,
    ) -> Option<T> {
        let c = self.controls.get(shard)?;
        let (tx, rx) = channel();
        c.send(make(Reply { shard, tx }));
        rx.recv_timeout(timeout).map(|(_, answer)| answer)
    }

    /// Sends a message built per shard to every shard and awaits the answers,
    /// in shard order (a shard that is gone gives none). Callers that must
    /// not block (a task on a shard: the management component) await it;
    /// other threads may `block_on` it.
    pub async fn ask_all<T: Send + 'static>(
        &self,
        mut make: impl FnMut(Reply<T>) -> ControlMsg,
    ) -> Vec<T> {
        let (tx, rx) = channel();
        for (shard, c) in self.controls.iter().enumerate() {
            c.send(make(Reply {
                shard,
                tx: tx.clone(),
            }));
        }
        drop(tx);
        let mut out = Vec::with_capacity(self.controls.len());
        while out.len() < self.controls.len() {
            match rx.recv().await {
                Some(r) => out.push(r),
                None => break,
            }
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// Runs a core operation on every shard and collects the answers in
    /// shard order (Seastar's `invoke_on_all`; the caller reduces).
    pub async fn on_all<T: Send + 'static>(
        &self,
        mut op: impl FnMut(Reply<T>) -> CoreOp,
    ) -> Vec<T> {
        self.ask_all(|reply| ControlMsg::Core(op(reply))).await
    }

    /// Every shard's counters, in shard order, from a thread that is not a
    /// shard (tests, the CLI).
    pub fn shard_stats(&self) -> Vec<ShardStats> {
        futures_lite::future::block_on(self.on_all(|reply| CoreOp::ShardStats { reply }))
    }

    /// Asks every shard to shut down (GOODBYE `reason` to every session).
    pub fn shutdown(&self, reason: &str) {
        for c in &self.controls {
            c.send(ControlMsg::Shutdown {
                reason: reason.into(),
            });
        }
    }

    /// Waits for every shard to stop (their threads stay parked until the
    /// process exits; see `start`).
    pub fn join(self) -> Result<(), String> {
        self.wait_stopped()
    }

    /// Waits for every shard to stop, after [`RouterHandle::shutdown`].
    pub fn wait_stopped(&self) -> Result<(), String> {
        let threads = match self.threads.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        let Some(threads) = threads else {
            return Ok(());
        };
        let mut stopped = 0;
        while stopped < self.shards {
            match self.done.recv_timeout(Duration::from_secs(30)) {
                Ok(()) => stopped += 1,
                Err(_) => {
                    return Err(format!(
                        "{} shard(s) did not stop within 30 s",
                        self.shards - stopped
                    ))
                }
            }
        }
        // The threads are parked for good: never join them.
        std::mem::forget(threads);
        Ok(())
    }
}

impl Drop for RouterHandle {
    fn drop(&mut self) {
        let running = self.threads.get_mut().map(|t| t.is_some()).unwrap_or(false);
        if running {
            self.shutdown(crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
            let _ = self.wait_stopped();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_an_executor_from_another_thread() {
        let (tx, rx) = channel::<u32>();
        let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).spawn(
            move || async move {
                let mut got = Vec::new();
                while let Some(v) = rx.recv().await {
                    got.push(v);
                    if got.len() == 3 {
                        break;
                    }
                }
                got
            },
        );
        let handle = ex.expect("a glommio executor (io_uring)");
        for i in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            assert!(tx.send(i));
        }
        assert_eq!(handle.join().unwrap(), vec![0, 1, 2]);
    }
}
