//! The shard's timer wake-up: [`Notify`] wakes the one task that waits for
//! the router core's next deadline, early when the core sets an earlier one.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Wakes one waiting task, with a deadline it may be asked to move earlier.
#[derive(Default)]
pub(crate) struct Notify {
    waker: RefCell<Option<Waker>>,
    target: Cell<u64>,
    notified: Cell<bool>,
}

impl Notify {
    /// Wakes the waiter if it waits for a later deadline than `at`.
    pub fn notify_if_earlier(&self, at: u64) {
        if at < self.target.get() {
            self.notified.set(true);
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Waits until notified (the waiter's deadline is `target`).
    pub async fn wait(&self, target: u64) {
        self.target.set(target);
        self.notified.set(false);
        Wait { n: self }.await;
        self.target.set(u64::MAX);
    }

    /// Waits for `d` to pass or a notification for a deadline earlier than `target`.
    pub async fn wait_until(&self, target: u64, d: Duration) {
        self.target.set(target);
        self.notified.set(false);
        futures_lite::future::or(Wait { n: self }, glommio::timer::sleep(d)).await;
        self.target.set(u64::MAX);
    }
}

struct Wait<'a> {
    n: &'a Notify,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.n.notified.replace(false) {
            return Poll::Ready(());
        }
        *self.n.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}
