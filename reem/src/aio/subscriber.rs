//! [`Subscriber`]: a topic's messages as a [`Stream`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::Result;
use crate::interface::RedisInterface;
use crate::marshal::ReemMarshal;
use crate::pubsub::raw::Latest;
use crate::pubsub::subscriber::Core;
use crate::pubsub::{Counters, Delivery};

/// The messages of one topic as a [`Stream`] of `reem::Result<T>`: the async face of
/// [`crate::RawSubscriber`].
///
/// [`new`](Self::new) subscribes, then reads the topic's stored latest message: the stream
/// starts with it (a late joiner has a value at once), then yields each message published
/// after, judged per publisher by its sequence number (nothing twice, gaps counted in
/// [`Counters::skipped`]). Messages wait in a bounded inbox ([`Delivery`]): by default only
/// the newest one not yet taken ([`Delivery::Latest`]); [`with_delivery`](Self::with_delivery)
/// and [`Delivery::Queue`] keep a backlog.
///
/// Errors are items and the stream goes on: a message that does not decode (another type,
/// garbage) is an `Err` item (and counted in [`Counters::decode_errors`]); a lost
/// connection is one [`Error::Io`](crate::Error::Io) item, after which the messages come
/// again once the shared connection is back (the stored latest message first). The stream
/// never ends while the subscriber lives.
///
/// On a Redis Cluster the subscription is sharded (`SSUBSCRIBE`, on the master of the
/// topic's slot); it follows the slot when it moves to another master or its master fails
/// over, and reads the stored latest message again after each move (a gap is counted in
/// [`Counters::skipped`]), as the blocking subscribers do.
///
/// Decoding happens on the interface's shared dispatcher thread (`reem-pubsub`), which
/// wakes the task polling the stream. Each message is kept for [`latest`](Self::latest)
/// too, so a message yielded while it is still the latest is cloned once.
///
/// ```
/// use std::time::Duration;
/// use reem::{aio, RedisInterface, ReemMarshal};
///
/// #[derive(ReemMarshal, Debug, Clone, PartialEq)]
/// struct Tick { n: u64 }
///
/// # let server = reem_server::RedisServer::start().expect("a private redis-server");
/// # let iface = RedisInterface::new(&server.url())?;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut sub = aio::Subscriber::<Tick>::with_delivery(&iface, "clock", reem::Delivery::Queue(16)).await?;
/// let pubs = aio::PublishSpace::new(&iface);
/// for n in 1..=3 {
///     pubs.publish("clock", &Tick { n }).await?;
/// }
/// for n in 1..=3 {
///     let tick = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("in time")?;
///     assert_eq!(tick.n, n);
/// }
/// assert_eq!(sub.latest(), Some(Tick { n: 3 }));
/// assert_eq!(sub.counters().received, 3);
/// # Ok::<(), reem::Error>(())
/// # }).unwrap();
/// # Ok::<(), reem::Error>(())
/// ```
///
/// `Send + 'static`: move it into a task. Dropping it unsubscribes it; the dispatcher thread
/// stops with the last subscriber of the interface (without blocking the dropping task).
pub struct Subscriber<T: ReemMarshal + Sync> {
    core: Core<T, Latest<T, Result<Arc<T>>>>,
}

impl<T: ReemMarshal + Sync> Subscriber<T> {
    /// Subscribes to `topic` with [`Delivery::Latest`]; returns once the topic is
    /// subscribed and its stored latest message (if any) was read, without blocking the
    /// thread. Fails like [`RawSubscriber::listen`](crate::RawSubscriber::listen): the
    /// subscriber connection cannot be made, the server refuses the subscription
    /// ([`Error::Refused`](crate::Error::Refused)), or it is not active within 10 s.
    ///
    /// The future is `Send` and cancellation-safe: dropped before it returns, the
    /// subscription is undone.
    pub fn new<'a>(
        iface: &'a RedisInterface,
        topic: &'a str,
    ) -> impl Future<Output = Result<Self>> + Send + 'a {
        Self::with_delivery(iface, topic, Delivery::default())
    }

    /// [`new`](Self::new), with the messages not yet taken kept as `delivery` says.
    pub fn with_delivery<'a>(
        iface: &'a RedisInterface,
        topic: &'a str,
        delivery: Delivery,
    ) -> impl Future<Output = Result<Self>> + Send + 'a {
        Self::with_history(iface, topic, delivery, 0)
    }

    /// [`with_delivery`](Self::with_delivery), starting with the last `k` messages of the
    /// topic's history (kept by a publisher made
    /// [`PublishSpace::with_history`](crate::PublishSpace::with_history)), then the live ones,
    /// in order, none twice and none missing at the seam; after a reconnection the messages
    /// published meanwhile come from the history, as far as it reaches back, exactly as for
    /// [`RawSubscriber::with_history`](crate::RawSubscriber::with_history). With a
    /// `delivery` that keeps only the newest message (the default, or a queue of one) the
    /// history is not used. The future is `Send` and cancellation-safe, like
    /// [`new`](Self::new)'s.
    pub fn with_history<'a>(
        iface: &'a RedisInterface,
        topic: &'a str,
        delivery: Delivery,
        k: usize,
    ) -> impl Future<Output = Result<Self>> + Send + 'a {
        let subscriber = Subscriber {
            core: Core::new(iface, topic, Latest::new(delivery)),
        };
        subscriber.core.member.set_history(k);
        async move {
            subscriber.core.start_async().await?;
            Ok(subscriber)
        }
    }

    /// The next item: a message, or an error (the stream goes on after it).
    ///
    /// The future is `Send` and cancellation-safe: an item is taken only when this returns
    /// it, so dropping the future (a `tokio::select!` branch that lost) loses nothing.
    pub fn recv(&mut self) -> impl Future<Output = Result<T>> + Send + '_
    where
        T: Clone,
    {
        std::future::poll_fn(move |cx| match self.poll_item(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(item),
            _ => Poll::Pending,
        })
    }

    /// The newest message received (the stored latest one for a late joiner), whether or
    /// not the stream has yielded it yet.
    pub fn latest(&self) -> Option<T>
    where
        T: Clone,
    {
        self.core.member.out.latest().map(|v| T::clone(&v))
    }

    /// What this subscriber has received, skipped, failed to decode and dropped so far.
    pub fn counters(&self) -> Counters {
        self.core.counters()
    }

    crate::pubsub::subscriber::core_accessors!();

    fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>>
    where
        T: Clone,
    {
        self.core.member.out.inbox.poll_take(cx).map(|item| {
            // Shared with `latest()` while it is the newest: cloned once, then.
            item.map(|item| item.map(|v| Arc::try_unwrap(v).unwrap_or_else(|v| T::clone(&v))))
        })
    }
}

/// The messages as they come, errors as items; never ends while the subscriber lives.
impl<T: ReemMarshal + Sync + Clone> Stream for Subscriber<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        self.poll_item(cx)
    }
}

impl<T: ReemMarshal + Sync> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.debug("aio::Subscriber", f)
    }
}
