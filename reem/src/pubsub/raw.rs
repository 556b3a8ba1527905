//! [`RawSubscriber`]: the newest message of a topic, and a blocking `recv()`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::inbox::{Delivery, Inbox, Item};
use super::member::{Counters, Outlet};
use super::subscriber::{core_accessors, Core};
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::lock::lock;
use crate::marshal::ReemMarshal;

/// Receives the messages of one topic in the background: the newest with
/// [`value`](Self::value), or one after the other with [`recv`](Self::recv).
///
/// [`listen`](Self::listen) subscribes first, then reads the topic's stored latest message,
/// so a subscriber that starts late has a value at once, and nothing published in between is
/// lost or delivered twice (sequence numbers). Decoding happens on the shared dispatcher
/// thread, once per message; the decoded message is kept behind an [`Arc`], so `recv()` and
/// [`latest`](Self::latest) hand it out without copying (and `value()` clones it).
///
/// `recv()` takes from an inbox that never grows beyond its [`Delivery`] policy: by default
/// it holds only the newest message not yet taken. `T` must be `Sync` (plain data always
/// is), as one decoded message is shared by `value()`, `latest()` and `recv()`.
///
/// ```no_run
/// use reem::{RawSubscriber, RedisInterface, ReemMarshal};
///
/// #[derive(ReemMarshal, Debug, Clone, PartialEq)]
/// struct Pose2 { x: f64, y: f64, theta: f64 }
///
/// let iface = RedisInterface::new("redis://127.0.0.1:6379")?;
/// let mut sub = RawSubscriber::<Pose2>::new(&iface, "robot/pose")?;
/// sub.listen()?;
/// let latest: Option<Pose2> = sub.value();          // the stored one, if any
/// let next = sub.recv()?;                           // the next one not taken yet:
///                                                   // the stored one first
/// println!("x = {}", next.x);
/// # Ok::<(), reem::Error>(())
/// ```
///
/// Dropping the subscriber unsubscribes it; subscribers of one [`RedisInterface`] share one
/// connection and one thread, which stop with the last of them.
pub struct RawSubscriber<T: ReemMarshal + Sync> {
    core: Core<T, Latest<T>>,
}

/// The newest message, plus the inbox of `recv()` (of an async subscriber's stream when the
/// inbox holds `Result`s).
pub(crate) struct Latest<T, M = Arc<T>> {
    value: Mutex<Option<Arc<T>>>,
    pub(crate) inbox: Inbox<M>,
}

impl<T, M> Latest<T, M> {
    pub(crate) fn new(delivery: Delivery) -> Self {
        Latest {
            value: Mutex::new(None),
            inbox: Inbox::new(delivery),
        }
    }

    /// The newest message, shared.
    pub(crate) fn latest(&self) -> Option<Arc<T>> {
        lock(&self.value).clone()
    }
}

impl<T: Send + Sync + 'static, M: Item<T>> Outlet<T> for Latest<T, M> {
    fn put(&self, value: T) -> bool {
        let value = Arc::new(value);
        *lock(&self.value) = Some(Arc::clone(&value));
        self.inbox
            .push(M::message(value))
            .is_some_and(|old| old.is_message())
    }

    fn fail(&self, error: Error) {
        if let Some(item) = M::error(error) {
            self.inbox.push(item);
        }
    }

    fn keeps_one(&self) -> bool {
        self.inbox.keeps_one()
    }
}

impl<T: ReemMarshal + Sync> RawSubscriber<T> {
    /// A subscriber to `topic` (not listening yet: call [`listen`](Self::listen)), with
    /// [`Delivery::Latest`].
    pub fn new(iface: &RedisInterface, topic: &str) -> Result<Self> {
        Self::with_delivery(iface, topic, Delivery::default())
    }

    /// A subscriber to `topic` whose [`recv`](Self::recv) takes messages as `delivery` says.
    pub fn with_delivery(iface: &RedisInterface, topic: &str, delivery: Delivery) -> Result<Self> {
        Ok(Self {
            core: Core::new(iface, topic, Latest::new(delivery)),
        })
    }

    /// Starts with the last `k` messages of the topic's history (kept by a publisher made
    /// [`PublishSpace::with_history`](crate::PublishSpace::with_history)), then the live ones,
    /// in order, none twice and none missing at the seam; after a reconnection, the
    /// messages published meanwhile are read from the history (as far as it reaches back)
    /// and delivered in order before the live ones, and only what the history no longer
    /// holds counts in [`Counters::skipped`](crate::Counters::skipped). Call it before
    /// `listen`.
    ///
    /// A subscriber that keeps only the newest message
    /// ([`Delivery::Latest`](crate::Delivery::Latest), or a queue of one) has no use for
    /// older ones: it reads only the stored latest message, as without history. A topic
    /// without history behaves as without this call.
    pub fn with_history(self, k: usize) -> Self {
        self.core.member.set_history(k);
        self
    }

    /// Starts receiving in the background. Returns once the topic is subscribed and its
    /// stored latest message (if any) has been read; fails if the subscriber connection
    /// cannot be made, if the server refuses the subscription ([`Error::Refused`]: an ACL
    /// without the topic's channel), or if the subscription is not active within 10 s (the
    /// subscriber then stays idle, and `listen` may be called again). Calling it again while
    /// listening does nothing.
    ///
    /// [`Error::Refused`]: crate::Error::Refused
    pub fn listen(&mut self) -> Result<()> {
        self.core.start()
    }

    /// True once [`listen`](Self::listen) succeeded.
    pub fn is_listening(&self) -> bool {
        self.core.is_listening()
    }

    /// The newest message received (the stored latest one for a late joiner), cloned.
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        self.latest().map(|v| T::clone(&v))
    }

    /// The newest message received, shared (no copy).
    pub fn latest(&self) -> Option<Arc<T>> {
        self.core.member.out.latest()
    }

    /// The next message not yet taken, waiting for one if needed. Starts listening if
    /// [`listen`](Self::listen) was not called.
    pub fn recv(&self) -> Result<Arc<T>> {
        self.core.start()?;
        // The inbox of a RawSubscriber is never closed: `take` returns with a message.
        loop {
            if let Some(value) = self.core.member.out.inbox.take(None) {
                return Ok(value);
            }
        }
    }

    /// Like [`recv`](Self::recv), but gives `Ok(None)` if no message arrives within
    /// `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Arc<T>>> {
        self.core.start()?;
        Ok(self
            .core
            .member
            .out
            .inbox
            .take(Some(Instant::now() + timeout)))
    }

    /// The next message not yet taken, if one is waiting.
    pub fn try_recv(&self) -> Option<Arc<T>> {
        self.core.member.out.inbox.try_take()
    }

    /// What this subscriber has received, skipped and failed to decode so far.
    pub fn counters(&self) -> Counters {
        self.core.counters()
    }

    core_accessors!();
}

impl<T: ReemMarshal + Sync> std::fmt::Debug for RawSubscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.debug("RawSubscriber", f)
    }
}
