//! [`PublishSpace`]: store a topic's latest message and notify its subscribers, as a future.

use std::future::Future;

use crate::error::Result;
use crate::interface::RedisInterface;
use crate::marshal::ReemMarshal;
use crate::pubsub::publish::{Message, Publisher};
use crate::transport::aio::run;

/// Publishes typed messages on topics, on one [`RedisInterface`], as futures: the async
/// face of [`crate::PublishSpace`], with the same transaction (`MULTI; UNLINK; HSET …; HSET
/// @pub @seq; PUBLISH; EXEC`), notifications, sequence numbers and errors. On a Redis
/// Cluster the notification is `SPUBLISH` (sharded), in the same transaction, on the master
/// of the topic's slot.
///
/// Cheap to clone (`Clone + Send + Sync + 'static`); clones share the publisher id and the
/// per-topic sequence numbers. Publishes of one `PublishSpace` on one topic are serialized
/// (an async lock per topic, held while the publish is in flight), so their numbers follow
/// the order Redis applies them in; publishes on different topics run concurrently on the
/// interface's one connection.
///
/// ```
/// use reem::{aio, RedisInterface, ReemMarshal};
///
/// #[derive(ReemMarshal, Debug, Clone, PartialEq)]
/// struct Pose2 { x: f64, y: f64, theta: f64 }
///
/// # let server = reem_server::RedisServer::start().expect("a private redis-server");
/// # let iface = RedisInterface::new(&server.url())?;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let pubs = aio::PublishSpace::new(&iface);
/// pubs.publish("robot/pose", &Pose2 { x: 1.0, y: 2.0, theta: 0.5 }).await?;
/// let kv = aio::KeyValueStore::new(&iface);
/// assert_eq!(kv.get::<Pose2>("robot/pose").await?.x, 1.0);   // the latest, stored
/// # Ok::<(), reem::Error>(())
/// # }).unwrap();
/// # Ok::<(), reem::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PublishSpace {
    core: Publisher<tokio::sync::Mutex<u64>>,
}

impl PublishSpace {
    /// A publisher on `iface` (shares its connections), with a new random id.
    pub fn new(iface: &RedisInterface) -> Self {
        Self {
            core: Publisher::new(iface),
        }
    }

    /// The interface this publisher uses.
    pub fn interface(&self) -> &RedisInterface {
        &self.core.iface
    }

    /// Stores `value` as the latest message of `topic` and notifies its subscribers, in one
    /// atomic step (one round trip), as [`crate::PublishSpace::publish`]. An error means
    /// nothing changed, except [`Error::Unconfirmed`](crate::Error::Unconfirmed) (the reply
    /// was lost: it may have been applied).
    ///
    /// `value` is encoded when this is called, before the future is first polled.
    ///
    /// **`Send` and cancellation-safe.** Dropped while it waits for the topic's lock, nothing
    /// happened. Dropped later, the transaction was handed whole to the connection or not
    /// at all, and its sequence number stays used either way: subscribers may count one
    /// message in [`Counters::skipped`](crate::Counters::skipped) (a gap), never see a
    /// number twice. The lock is released, and the next publish works.
    pub fn publish<'a, T: ReemMarshal>(
        &'a self,
        topic: &'a str,
        value: &'a T,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let message = Message::of(topic, value);
        let counter = self.core.counter(topic);
        async move {
            let mut last = counter.lock().await;
            let plan = self.core.plan(topic, message, &mut last);
            run(self.core.iface.aio_transport(), plan).await
        }
    }

    /// This publisher's id, as stored in `@pub` (16 hex digits).
    pub fn publisher_id(&self) -> String {
        self.core.publisher_id()
    }

    /// Sets how many bytes of stored fields a message may have and still travel inside its
    /// notification ([`crate::PublishSpace::with_inline_limit`]; default
    /// [`DEFAULT_INLINE_LIMIT`](crate::pubsub::DEFAULT_INLINE_LIMIT)); see
    /// [`inline_limit`](Self::inline_limit).
    pub fn with_inline_limit(mut self, bytes: usize) -> Self {
        self.core.inline_limit = bytes;
        self
    }

    /// The inline limit in bytes.
    pub fn inline_limit(&self) -> usize {
        self.core.inline_limit
    }

    /// Keeps about the last `n` messages of each topic in its history stream, appended in
    /// the publish transaction, as [`crate::PublishSpace::with_history`] (`0`: off).
    pub fn with_history(mut self, n: usize) -> Self {
        self.core.history = (n > 0).then_some(n);
        self
    }
}
