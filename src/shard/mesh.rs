//! The mesh between shards behind one typed API (in the spirit of glommio's
//! `channels/sharding.rs`): [`Mesh::send`] hands a [`PeerMsg`] to a peer
//! shard without ever blocking — over glommio's full channel mesh when its
//! channel has room, otherwise into a per-peer overflow queue that one task
//! per peer drains in order, so FIFO per pair of shards holds — and
//! [`Inbox::spawn`] runs the receive side, one task per peer.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use glommio::channels::channel_mesh::{Full, MeshBuilder, Receivers, Senders};
use glommio::{GlommioError, ResourceType};

use crate::router::peer::PeerMsg;
use crate::router::ShardId;

/// This shard's sending side of the mesh.
pub(crate) struct Mesh {
    inner: Rc<Inner>,
}

struct Inner {
    id: ShardId,
    senders: RefCell<Option<Rc<Senders<PeerMsg>>>>,
    overflow: RefCell<Vec<VecDeque<PeerMsg>>>,
    flushing: RefCell<Vec<bool>>,
}

/// This shard's receiving side of the mesh, until [`Inbox::spawn`] runs it.
pub(crate) struct Inbox(Receivers<PeerMsg>);

impl Mesh {
    /// Joins the mesh (`shards` peers, this one included); `None` when it cannot.
    pub async fn join(builder: MeshBuilder<PeerMsg, Full>, shards: usize) -> Option<(Mesh, Inbox)> {
        let (tx, rx) = builder.join().await.ok()?;
        let mesh = Mesh {
            inner: Rc::new(Inner {
                id: tx.peer_id() as ShardId,
                senders: RefCell::new(Some(Rc::new(tx))),
                overflow: RefCell::new((0..shards).map(|_| VecDeque::new()).collect()),
                flushing: RefCell::new(vec![false; shards]),
            }),
        };
        Some((mesh, Inbox(rx)))
    }

    /// This shard's place in the mesh.
    pub fn id(&self) -> ShardId {
        self.inner.id
    }

    /// Sends `msg` to shard `to`, in order after everything sent to it before;
    /// never waits.
    pub fn send(&self, to: ShardId, msg: PeerMsg) {
        let inner = &self.inner;
        let idx = to as usize;
        let mut overflow = inner.overflow.borrow_mut();
        if !overflow[idx].is_empty() {
            overflow[idx].push_back(msg);
            return;
        }
        let senders = inner.senders.borrow();
        let Some(mesh) = senders.as_ref() else {
            return;
        };
        match mesh.try_send_to(idx, msg) {
            Ok(()) => {}
            Err(GlommioError::WouldBlock(ResourceType::Channel(msg))) => {
                overflow[idx].push_back(msg);
                drop(overflow);
                drop(senders);
                Inner::start_flusher(inner, idx);
            }
            Err(e) => log::error!("shard {}: peer shard {to} unreachable: {e}", inner.id),
        }
    }

    /// Lets go of this shard's channel ends (every shard does so before any
    /// executor exits: a channel end dropped after its peer's executor is
    /// gone touches freed memory).
    pub fn close(&self) {
        if let Some(senders) = self.inner.senders.borrow_mut().take() {
            senders.close();
        }
    }
}

impl Inner {
    /// Drains a peer's overflow queue in order, waiting for channel space.
    fn start_flusher(me: &Rc<Inner>, idx: usize) {
        if std::mem::replace(&mut me.flushing.borrow_mut()[idx], true) {
            return;
        }
        let me = me.clone();
        glommio::spawn_local(async move {
            loop {
                let next = me.overflow.borrow_mut()[idx].pop_front();
                let Some(msg) = next else { break };
                let Some(mesh) = me.senders.borrow().clone() else {
                    break;
                };
                if mesh.send_to(idx, msg).await.is_err() {
                    log::error!("shard {}: peer shard {idx} closed its channel", me.id);
                    me.overflow.borrow_mut()[idx].clear();
                    break;
                }
            }
            me.flushing.borrow_mut()[idx] = false;
        })
        .detach();
    }
}

impl Inbox {
    /// Receives from every peer, one task each, calling `handle(from, msg)`
    /// for each message in the order its peer sent them.
    pub fn spawn<F>(mut self, handle: F) -> Vec<glommio::Task<()>>
    where
        F: Fn(ShardId, PeerMsg) + Clone + 'static,
    {
        self.0
            .streams()
            .into_iter()
            .map(|(from, stream)| {
                let handle = handle.clone();
                glommio::spawn_local(async move {
                    while let Some(msg) = stream.recv().await {
                        handle(from as ShardId, msg);
                    }
                })
            })
            .collect()
    }
}
