//! A connection's outgoing queue: bounded in messages and bytes, written by
//! its writer task in batches (the writer wakes, pops and feeds every frame
//! queued, including those queued while it writes, then flushes once), with
//! the slow-consumer policy applied when it is full.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::wamp::message::MessageType;

/// What to do with a subscriber whose queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Drop events for it (and count them); other messages disconnect it.
    Drop,
    /// Disconnect it.
    Disconnect,
}

/// Bounds of one connection's outgoing queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most frames queued.
    pub max_messages: usize,
    /// Most bytes queued.
    pub max_bytes: usize,
    /// The policy when full.
    pub policy: SlowConsumer,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_messages: 10_000,
            max_bytes: 16 * 1024 * 1024,
            policy: SlowConsumer::Drop,
        }
    }
}

/// An item for the writer.
#[derive(Debug)]
pub enum Out {
    /// A WAMP frame.
    Frame(Bytes),
}

/// Why the router closes a connection gracefully: the transport tells its
/// peer (a WebSocket close code: 1000 or 1001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseReason {
    /// The session ended (GOODBYE, ABORT): WebSocket 1000, normal closure.
    #[default]
    Normal,
    /// The router or the transport is going away (shutdown, a stopped
    /// listener): WebSocket 1001, going away.
    GoingAway,
}

/// A connection's outgoing queue.
pub struct Outbox {
    queue: RefCell<VecDeque<Out>>,
    bytes: Cell<usize>,
    closing: Cell<Option<CloseReason>>,
    killed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    limits: QueueLimits,
    dropped: Cell<u64>,
    poked: Cell<bool>,
}

impl Outbox {
    /// An empty queue with these limits.
    pub fn new(limits: QueueLimits) -> Outbox {
        Outbox {
            queue: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
            closing: Cell::new(None),
            killed: Cell::new(false),
            waker: RefCell::new(None),
            limits,
            dropped: Cell::new(0),
            poked: Cell::new(false),
        }
    }

    fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Queues a frame; false when it was dropped (slow consumer).
    ///
    /// Under [`SlowConsumer::Drop`], an EVENT that does not fit is dropped and
    /// counted; any other message (a RESULT cannot be dropped) may use up to
    /// twice the bounds before the connection is disconnected. Under
    /// [`SlowConsumer::Disconnect`], anything that does not fit disconnects.
    pub fn push(&self, frame: Bytes, ty: MessageType) -> bool {
        if self.closing.get().is_some() || self.killed.get() {
            return true;
        }
        let (len, bytes) = (self.queue.borrow().len(), self.bytes.get() + frame.len());
        let full = len >= self.limits.max_messages || bytes > self.limits.max_bytes;
        if full {
            let hard = len >= self.limits.max_messages.saturating_mul(2)
                || bytes > self.limits.max_bytes.saturating_mul(2);
            match (self.limits.policy, ty) {
                (SlowConsumer::Drop, MessageType::Event) => {
                    self.dropped.set(self.dropped.get() + 1);
                    return false;
                }
                (SlowConsumer::Drop, _) if !hard => {}
                _ => {
                    log::info!(
                        "disconnecting a slow consumer ({len} frames, {} bytes queued)",
                        self.bytes.get()
                    );
                    self.kill();
                    return true;
                }
            }
        }
        self.bytes.set(bytes);
        self.queue.borrow_mut().push_back(Out::Frame(frame));
        self.wake();
        true
    }

    /// Wakes the writer with nothing queued (it has transport-level work, a PONG).
    pub fn wake_writer(&self) {
        self.poked.set(true);
        self.wake();
    }

    /// Closes once what is queued is written (a normal closure).
    pub fn close(&self) {
        self.close_with(CloseReason::Normal);
    }

    /// Closes once what is queued is written, telling the peer why. The first
    /// reason given stands.
    pub fn close_with(&self, reason: CloseReason) {
        if self.closing.get().is_none() {
            self.closing.set(Some(reason));
        }
        self.wake();
    }

    /// Closes now, dropping what is queued.
    pub fn kill(&self) {
        self.killed.set(true);
        self.queue.borrow_mut().clear();
        self.bytes.set(0);
        self.wake();
    }

    /// Whether the connection was killed (slow consumer).
    pub fn killed(&self) -> bool {
        self.killed.get()
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Frames queued now.
    pub fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    /// Takes the oldest queued frame, if any: the writer pops frames one by
    /// one after [`Batch::Write`], so no batch is copied out of the queue.
    pub fn pop(&self) -> Option<Bytes> {
        let Out::Frame(f) = self.queue.borrow_mut().pop_front()?;
        self.bytes.set(self.bytes.get().saturating_sub(f.len()));
        Some(f)
    }

    /// Waits for work: [`Batch::Write`] when frames are queued (take them
    /// with [`Outbox::pop`]) or the writer was poked, else how to close.
    pub fn next_batch(&self) -> NextBatch<'_> {
        NextBatch { ob: self }
    }
}

/// What the writer does next.
#[derive(Debug)]
pub enum Batch {
    /// Pop and write the queued frames ([`Outbox::pop`]), then flush.
    Write,
    /// Close gracefully (everything was written), for this reason.
    Close(CloseReason),
    /// Close now.
    Kill,
}

/// The future of [`Outbox::next_batch`].
pub struct NextBatch<'a> {
    ob: &'a Outbox,
}

impl Future for NextBatch<'_> {
    type Output = Batch;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Batch> {
        let ob = self.ob;
        if ob.killed.get() {
            return Poll::Ready(Batch::Kill);
        }
        if !ob.queue.borrow().is_empty() {
            ob.poked.set(false);
            return Poll::Ready(Batch::Write);
        }
        if let Some(reason) = ob.closing.get() {
            return Poll::Ready(Batch::Close(reason));
        }
        if ob.poked.replace(false) {
            return Poll::Ready(Batch::Write);
        }
        *ob.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_queue_drops_events_and_kills_on_other_messages() {
        let ob = Outbox::new(QueueLimits {
            max_messages: 2,
            max_bytes: 1000,
            policy: SlowConsumer::Drop,
        });
        assert!(ob.push(Bytes::from_static(b"a"), MessageType::Event));
        assert!(ob.push(Bytes::from_static(b"b"), MessageType::Event));
        assert!(!ob.push(Bytes::from_static(b"c"), MessageType::Event));
        assert_eq!(ob.dropped(), 1);
        assert_eq!(ob.len(), 2);
        assert!(!ob.killed());
        // a RESULT cannot be dropped: it may use the headroom up to twice the bound
        assert!(ob.push(Bytes::from_static(b"d"), MessageType::Result));
        assert!(ob.push(Bytes::from_static(b"e"), MessageType::Result));
        assert!(!ob.killed());
        assert_eq!(ob.len(), 4);
        // beyond that the consumer is disconnected
        assert!(ob.push(Bytes::from_static(b"f"), MessageType::Result));
        assert!(ob.killed());
        assert!(ob.is_empty());
    }

    #[test]
    fn byte_bound_and_disconnect_policy() {
        let ob = Outbox::new(QueueLimits {
            max_messages: 100,
            max_bytes: 4,
            policy: SlowConsumer::Disconnect,
        });
        assert!(ob.push(Bytes::from_static(b"abc"), MessageType::Event));
        assert!(ob.push(Bytes::from_static(b"de"), MessageType::Event));
        assert!(ob.killed());
    }

    #[test]
    fn frames_are_popped_in_order_and_free_their_bytes() {
        let ob = Outbox::new(QueueLimits {
            max_messages: 100,
            max_bytes: 5,
            policy: SlowConsumer::Drop,
        });
        assert!(ob.push(Bytes::from_static(b"abc"), MessageType::Event));
        assert!(!ob.push(Bytes::from_static(b"def"), MessageType::Event));
        assert_eq!(ob.pop().as_deref(), Some(&b"abc"[..]));
        assert_eq!(ob.pop(), None);
        // the popped frame's bytes no longer count against the bound
        assert!(ob.push(Bytes::from_static(b"def"), MessageType::Event));
        assert!(ob.push(Bytes::from_static(b"gh"), MessageType::Event));
        assert_eq!(ob.pop().as_deref(), Some(&b"def"[..]));
        assert_eq!(ob.pop().as_deref(), Some(&b"gh"[..]));
        assert_eq!(ob.dropped(), 1);
    }
}
