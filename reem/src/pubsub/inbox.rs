//! [`Inbox`]: the bounded queue between the dispatcher and a subscriber's `recv()` or
//! callback, and the [`Delivery`] policy that bounds it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::task::Waker;
#[cfg(feature = "tokio")]
use std::task::{Context, Poll};
use std::time::Instant;

use crate::error::Error;
use crate::lock::lock;

/// How a subscriber hands messages to [`recv`](crate::RawSubscriber::recv) or to its
/// callback when they arrive faster than they are taken. Memory stays bounded either way:
/// the dispatcher never waits for a slow consumer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Keep only the newest message not yet taken: a newer one replaces it (the replaced
    /// one counts in [`Counters::dropped`](crate::Counters::dropped)). The default, because a robot acts on the
    /// newest state of the world, not on a backlog.
    #[default]
    Latest,
    /// Keep up to this many messages (at least 1) in arrival order; when the queue is full
    /// the oldest is discarded (and counted in [`Counters::dropped`](crate::Counters::dropped)).
    Queue(usize),
}

impl Delivery {
    fn capacity(self) -> usize {
        match self {
            Delivery::Latest => 1,
            Delivery::Queue(n) => n.max(1),
        }
    }
}

/// What an inbox of messages of type `T` holds: the message alone (`Arc<T>`: errors are
/// not delivered, only counted), or messages and errors in arrival order
/// (`Result<Arc<T>>`: an async subscriber's stream items).
pub(crate) trait Item<T>: Send + Sized + 'static {
    /// A decoded message.
    fn message(value: Arc<T>) -> Self;

    /// An error to deliver in line, if this kind of inbox delivers errors.
    fn error(error: Error) -> Option<Self>;

    /// True for a message (not an error).
    fn is_message(&self) -> bool;
}

impl<T: Send + Sync + 'static> Item<T> for Arc<T> {
    fn message(value: Arc<T>) -> Self {
        value
    }

    fn error(_: Error) -> Option<Self> {
        None
    }

    fn is_message(&self) -> bool {
        true
    }
}

impl<T: Send + Sync + 'static> Item<T> for crate::Result<Arc<T>> {
    fn message(value: Arc<T>) -> Self {
        Ok(value)
    }

    fn error(error: Error) -> Option<Self> {
        Some(Err(error))
    }

    fn is_message(&self) -> bool {
        self.is_ok()
    }
}

/// A bounded queue of decoded messages with a blocking take, and an async one.
pub(crate) struct Inbox<M> {
    state: Mutex<InboxState<M>>,
    arrived: Condvar,
    capacity: usize,
}

struct InboxState<M> {
    items: VecDeque<M>,
    closed: bool,
    /// The task waiting in [`Inbox::poll_take`].
    waker: Option<Waker>,
}

impl<M> Inbox<M> {
    pub(crate) fn new(delivery: Delivery) -> Self {
        Self {
            state: Mutex::new(InboxState {
                items: VecDeque::new(),
                closed: false,
                waker: None,
            }),
            arrived: Condvar::new(),
            capacity: delivery.capacity(),
        }
    }

    /// True when at most one message is kept (latest wins).
    pub(crate) fn keeps_one(&self) -> bool {
        self.capacity == 1
    }

    /// Adds a message; returns the older one that had to make room, if any.
    pub(crate) fn push(&self, item: M) -> Option<M> {
        let mut state = lock(&self.state);
        let evicted = if state.items.len() >= self.capacity {
            state.items.pop_front()
        } else {
            None
        };
        state.items.push_back(item);
        let waker = state.waker.take();
        drop(state);
        self.arrived.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
        evicted
    }

    /// The oldest message, or `Pending` (and the task is woken by the next `push`).
    /// `Ready(None)` once the inbox is closed.
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        let mut state = lock(&self.state);
        if state.closed {
            return Poll::Ready(None);
        }
        match state.items.pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None => {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The oldest message, waiting for one until `deadline` (for ever if `None`). `None`
    /// when the deadline passed or the inbox was closed.
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Option<M> {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return None;
            }
            if let Some(item) = state.items.pop_front() {
                return Some(item);
            }
            state = match deadline {
                None => self.arrived.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    self.arrived
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// The oldest message, if one is waiting.
    pub(crate) fn try_take(&self) -> Option<M> {
        lock(&self.state).items.pop_front()
    }

    /// Wakes every waiting `take` for good and discards what is left.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.items.clear();
        let waker = state.waker.take();
        drop(state);
        self.arrived.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
