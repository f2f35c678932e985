//! The control channel into a shard: a crossbeam channel paired with a
//! waker, so a shard awaits control messages like any other event and never
//! blocks its executor in `recv`. Senders live on any thread (the CLI's main
//! thread, the controller); each shard owns one receiver. [`Reply`] is the
//! way back: an answer tagged with the shard that gives it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use futures_util::task::AtomicWaker;

/// The sending side, cloneable and usable from any thread.
pub struct ControlSender<T> {
    tx: Sender<T>,
    waker: Arc<AtomicWaker>,
}

impl<T> Clone for ControlSender<T> {
    fn clone(&self) -> Self {
        ControlSender {
            tx: self.tx.clone(),
            waker: self.waker.clone(),
        }
    }
}

/// The receiving side, owned by one shard.
pub struct ControlReceiver<T> {
    rx: Receiver<T>,
    waker: Arc<AtomicWaker>,
}

/// A control channel (unbounded: control messages are few).
pub fn channel<T>() -> (ControlSender<T>, ControlReceiver<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let waker = Arc::new(AtomicWaker::new());
    (
        ControlSender {
            tx,
            waker: waker.clone(),
        },
        ControlReceiver { rx, waker },
    )
}

impl<T> ControlSender<T> {
    /// Sends a message and wakes the shard; false when the shard is gone.
    pub fn send(&self, msg: T) -> bool {
        let ok = self.tx.send(msg).is_ok();
        self.waker.wake();
        ok
    }
}

impl<T> ControlReceiver<T> {
    /// The next message; `None` once every sender is gone.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { rx: self }
    }

    /// The next message, waiting at most `timeout` (blocks the thread: not
    /// for a shard); `None` when none came or every sender is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<T> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// A message if one is waiting.
    pub fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// The future returned by [`ControlReceiver::recv`].
pub struct Recv<'a, T> {
    rx: &'a ControlReceiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let rx = self.rx;
        match rx.rx.try_recv() {
            Ok(m) => return Poll::Ready(Some(m)),
            Err(TryRecvError::Disconnected) => return Poll::Ready(None),
            Err(TryRecvError::Empty) => {}
        }
        rx.waker.register(cx.waker());
        // A message may have arrived between the first look and the registration.
        match rx.rx.try_recv() {
            Ok(m) => Poll::Ready(Some(m)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }
}

/// Where a shard answers a control message: the reply channel, tagged with
/// the shard it was sent to so that fan-outs come back in shard order.
pub struct Reply<T> {
    pub(super) shard: usize,
    pub(super) tx: ControlSender<(usize, T)>,
}

impl<T> Reply<T> {
    /// Sends the answer (dropped when nobody waits for it any more).
    pub fn send(self, answer: T) {
        self.tx.send((self.shard, answer));
    }
}
