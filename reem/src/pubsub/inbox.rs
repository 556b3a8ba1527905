//! [`Inbox`]: the bounded queue between the dispatcher and a subscriber's `recv()` or
//! callback, and the [`Delivery`] policy that bounds it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

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

/// A bounded queue of decoded messages with a blocking take.
pub(crate) struct Inbox<M> {
    state: Mutex<InboxState<M>>,
    arrived: Condvar,
    capacity: usize,
}

struct InboxState<M> {
    items: VecDeque<M>,
    closed: bool,
}

impl<M> Inbox<M> {
    pub(crate) fn new(delivery: Delivery) -> Self {
        Self {
            state: Mutex::new(InboxState {
                items: VecDeque::new(),
                closed: false,
            }),
            arrived: Condvar::new(),
            capacity: delivery.capacity(),
        }
    }

    /// Adds a message; returns true if an older one had to make room.
    pub(crate) fn push(&self, item: M) -> bool {
        let mut state = lock(&self.state);
        let full = state.items.len() >= self.capacity;
        if full {
            state.items.pop_front();
        }
        state.items.push_back(item);
        drop(state);
        self.arrived.notify_one();
        full
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
        drop(state);
        self.arrived.notify_all();
    }
}
