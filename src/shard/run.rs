//! The shard loop: one shard's start-up on its executor (the core, its
//! realms and transports, the [`Shard`] value), the peer, timer and figures
//! tasks, the listeners, and the control loop until shutdown.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use glommio::channels::channel_mesh::{Full, MeshBuilder};

use crate::router::peer::PeerMsg;
use crate::router::{RouterCore, ShardId, TransportId};
use crate::transport::{spawn_admin, spawn_listener, ListenerSpec, Listening};

use super::channel::ControlReceiver;
use super::components::{Components, Links};
use super::control::ControlMsg;
use super::mesh::Mesh;
use super::ops::OpError;
use super::os::now_ms;
use super::state::Shard;
use super::{RouterSpec, StartError};

/// One shard's life: join the mesh, set up the core, start the peer, timer,
/// figures and listener tasks, then serve control messages until shutdown.
pub(crate) async fn shard_main(
    spec: Arc<RouterSpec>,
    mesh: MeshBuilder<PeerMsg, Full>,
    receivers: Arc<Mutex<Vec<Option<ControlReceiver<ControlMsg>>>>>,
    ready: crossbeam_channel::Sender<Result<(), StartError>>,
    seed: u64,
) -> Result<(), StartError> {
    let (mesh, inbox) = Mesh::join(mesh, spec.shards.max(1))
        .await
        .ok_or_else(|| StartError::Shard("cannot join the channel mesh".into()))?;
    let id = usize::from(mesh.id());
    let shards = spec.shards.max(1);
    let control = receivers
        .lock()
        .map_err(|_| StartError::Shard("control channels poisoned".into()))?
        .get_mut(id)
        .and_then(Option::take)
        .ok_or_else(|| StartError::Shard(format!("no control channel for shard {id}")))?;
    let mut core = RouterCore::new(id as ShardId, shards as u16, seed);
    core.advance(now_ms());
    core.set_router_key(spec.router_key.clone());
    for (i, r) in spec.realms.iter().enumerate() {
        core.start_realm(i as u32, r.clone())
            .map_err(|e| StartError::Config(format!("realm '{}': {e}", r.name)))?;
        if let Some((_, only)) = spec.realm_transports.iter().find(|(n, _)| *n == r.name) {
            core.limit_realm_to(i as u32, Some(only.clone()));
        }
    }
    for l in &spec.listeners {
        super::web::set_up_transports(&mut core, l)
            .map_err(|e| StartError::Config(format!("transport '{}': {e}", l.name)))?;
    }
    let shard = Rc::new(Shard::new(id as ShardId, core, mesh));

    // Peer messages.
    let mut tasks = {
        let shard = shard.clone();
        inbox.spawn(move |from, msg| {
            shard.core_now().peer(from, msg);
            shard.pump();
        })
    };
    // Timers.
    {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            loop {
                let next = shard.core.borrow().next_deadline();
                match next {
                    None => shard.timer.wait(u64::MAX).await,
                    Some(at) => {
                        let now = now_ms();
                        if at > now {
                            shard
                                .timer
                                .wait_until(at, Duration::from_millis(at - now))
                                .await;
                        }
                    }
                }
                drop(shard.core_now());
                shard.pump();
            }
        }));
    }
    // Runtime figures: outgoing queue depth and loop stalls, sampled every 100 ms.
    {
        let shard = shard.clone();
        tasks.push(glommio::spawn_local(async move {
            let mut stalls = 0u64;
            let (ev, call) = (
                crate::wamp::message::MessageType::Event.index(),
                crate::wamp::message::MessageType::Call.index(),
            );
            let mut window: VecDeque<(u64, u64)> = VecDeque::new();
            loop {
                let before = Instant::now();
                glommio::timer::sleep(Duration::from_millis(100)).await;
                if before.elapsed() > Duration::from_millis(150) {
                    stalls += 1;
                }
                let queued: usize = shard.conns.borrow().values().map(|o| o.len()).sum();
                let mut core = shard.core.borrow_mut();
                core.note_runtime(queued as u64, stalls);
                let now = (core.stats().sent[ev], core.stats().received[call]);
                window.push_back(now);
                if window.len() > 11 {
                    window.pop_front();
                }
                if let Some(first) = window.front() {
                    // samples are 100 ms apart: a window of n samples spans (n - 1) / 10 s
                    let spans = (window.len() as u64 - 1).max(1);
                    core.note_rates(
                        (now.0 - first.0) * 10 / spans,
                        (now.1 - first.1) * 10 / spans,
                    );
                }
            }
        }));
    }
    // Listeners.
    let mut listeners: HashMap<TransportId, (Listening, ListenerSpec)> = HashMap::new();
    for l in &spec.listeners {
        if let Some(task) = spawn_listener(&shard, l)? {
            listeners.insert(l.id, (task, l.clone()));
        }
    }
    // Components: the start-up ones arrive as control messages.
    let mut components = Components::default();
    let mut links = Links::default();
    let _ = ready.send(Ok(()));
    log::debug!("shard {id} running");

    // The control loop.
    while let Some(msg) = control.recv().await {
        match msg {
            ControlMsg::Core(op) => {
                op.run(&mut shard.core_now());
                shard.pump();
            }
            ControlMsg::StartListener { spec, reply } => {
                reply.send(start_listener(&shard, &spec, &mut listeners));
            }
            ControlMsg::StopListener { id, close, reply } => {
                let ids = match listeners.remove(&id) {
                    Some((_, spec)) => spec.session_transports(),
                    None => vec![id],
                };
                // A bridge's session goes with its path, whatever `close` says.
                let bridges: Vec<TransportId> = ids
                    .iter()
                    .copied()
                    .filter(|i| shard.http.borrow_mut().remove(i).is_some())
                    .collect();
                if close.is_none() && !bridges.is_empty() {
                    for i in bridges {
                        shard
                            .core_now()
                            .close_transport(i, crate::wamp::uris::CLOSE_SYSTEM_SHUTDOWN);
                    }
                    shard.pump();
                }
                if let Some(reason) = close {
                    for i in ids {
                        shard.core_now().close_transport(i, &reason);
                    }
                    shard.pump();
                }
                reply.send(());
            }
            ControlMsg::StartAdmin { addr, site, reply } => {
                reply.send(match spawn_admin(addr, site) {
                    Ok((bound, task)) => {
                        tasks.push(task);
                        Ok(bound)
                    }
                    Err(e) => Err(OpError::Admin {
                        addr,
                        error: e.to_string(),
                    }),
                });
            }
            ControlMsg::StartComponent {
                config,
                registry,
                transport,
                reply,
            } => {
                reply.send(components.start(&shard, &config, &registry, transport));
            }
            ControlMsg::StopComponent { id, reply } => {
                reply.send(components.stop(&id));
            }
            ControlMsg::StartLink { spec, stats, reply } => {
                reply.send(links.start(&shard, *spec, stats));
            }
            ControlMsg::StopLink { realm, id, reply } => {
                reply.send(links.stop(&realm, &id));
            }
            ControlMsg::BridgeFigures { reply } => {
                let figures = shard
                    .http
                    .borrow()
                    .iter()
                    .map(|(id, b)| (*id, b.figures()))
                    .collect();
                reply.send(figures);
            }
            ControlMsg::StartWebPath { spec, reply } => {
                reply.send(super::web::set_up_path(&mut shard.core.borrow_mut(), &spec));
            }
            ControlMsg::Shutdown { reason } => {
                shard.stopping.set(true);
                drop(std::mem::take(&mut listeners));
                components.stop_all();
                links.stop_all();
                shard.core_now().shutdown(&reason);
                shard.pump();
                // Let the writers flush their GOODBYEs, within a bound.
                let deadline = Instant::now() + Duration::from_secs(3);
                while !shard.conns.borrow().is_empty() && Instant::now() < deadline {
                    glommio::timer::sleep(Duration::from_millis(5)).await;
                }
                break;
            }
        }
    }
    // Every shard lets go of its mesh ends before any executor exits: a channel
    // end dropped after its peer's executor is gone touches freed memory.
    drop(tasks);
    shard.mesh.close();
    drop(shard);
    log::debug!("shard {id} stopped");
    Ok(())
}

/// Sets a new transport's authentication on the core and starts accepting
/// on it (when it is for this shard).
fn start_listener(
    shard: &Rc<Shard>,
    spec: &ListenerSpec,
    listeners: &mut HashMap<TransportId, (Listening, ListenerSpec)>,
) -> Result<(), OpError> {
    super::web::set_up_transports(&mut shard.core.borrow_mut(), spec)?;
    if let Some(task) = spawn_listener(shard, spec)? {
        listeners.insert(spec.id, (task, spec.clone()));
    }
    Ok(())
}
