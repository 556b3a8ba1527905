//! [`CallbackSubscriber`]: a function called with every message of a topic, on its own
//! thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::inbox::{Delivery, Inbox};
use super::member::{Counters, Member, Outlet};
use super::subscriber::{core_accessors, Core};
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::marshal::ReemMarshal;

type Callback<T> = Box<dyn FnMut(T) + Send>;

/// Calls a function with each message of one topic, on a thread of its own.
///
/// [`listen`](Self::listen) subscribes, reads the topic's stored latest message (the first
/// call gets it) and starts the callback thread. The callback never runs on the shared
/// dispatcher thread, so a slow callback delays nobody else; what it has not taken yet
/// waits in an inbox bounded by the [`Delivery`] policy. The default,
/// [`Delivery::Latest`], keeps only the newest message: a callback slower than the
/// publisher sees the newest state each time it is ready, and memory stays constant. Use
/// [`with_delivery`](Self::with_delivery) and [`Delivery::Queue`] to see every message up
/// to a backlog.
///
/// A panic in the callback is caught and reported through `tracing` (and in
/// [`Counters::panics`]); the next message is delivered as usual.
///
/// ```no_run
/// use reem::{CallbackSubscriber, RedisInterface, ReemMarshal};
///
/// #[derive(ReemMarshal, Debug, Clone, PartialEq)]
/// struct Pose2 { x: f64, y: f64, theta: f64 }
///
/// let iface = RedisInterface::new("redis://127.0.0.1:6379")?;
/// let mut cb = CallbackSubscriber::new(&iface, "robot/pose", |p: Pose2| println!("{p:?}"))?;
/// cb.listen()?;
/// # Ok::<(), reem::Error>(())
/// ```
///
/// Dropping the subscriber unsubscribes it, lets a running call finish, discards what is
/// still waiting and joins the thread.
pub struct CallbackSubscriber<T: ReemMarshal> {
    core: Core<T, Inbox<T>>,
    callback: Option<Callback<T>>,
    worker: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Outlet<T> for Inbox<T> {
    fn put(&self, value: T) -> bool {
        self.push(value).is_some()
    }

    fn keeps_one(&self) -> bool {
        Inbox::keeps_one(self)
    }
}

impl<T: ReemMarshal> CallbackSubscriber<T> {
    /// A subscriber to `topic` that will call `f` with each message (not listening yet:
    /// call [`listen`](Self::listen)), with [`Delivery::Latest`].
    pub fn new<F>(iface: &RedisInterface, topic: &str, f: F) -> Result<Self>
    where
        F: FnMut(T) + Send + 'static,
    {
        Self::with_delivery(iface, topic, Delivery::default(), f)
    }

    /// A subscriber to `topic` that will call `f` with the messages `delivery` keeps.
    pub fn with_delivery<F>(
        iface: &RedisInterface,
        topic: &str,
        delivery: Delivery,
        f: F,
    ) -> Result<Self>
    where
        F: FnMut(T) + Send + 'static,
    {
        Ok(Self {
            core: Core::new(iface, topic, Inbox::new(delivery)),
            callback: Some(Box::new(f)),
            worker: None,
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

    /// Starts receiving and calling the callback. Returns once the topic is subscribed and
    /// its stored latest message (if any) has been read; fails if the subscriber connection
    /// cannot be made, or the subscription is not active within 10 s (then nothing runs,
    /// and `listen` may be called again). Calling it again while listening does nothing.
    pub fn listen(&mut self) -> Result<()> {
        if self.core.is_listening() {
            return Ok(());
        }
        if self.callback.is_none() {
            return Err(Error::Io {
                context: format!("subscribing to topic {:?}", self.topic()),
                source: std::io::Error::other(
                    "the callback thread could not be started; make a new subscriber",
                ),
            });
        }
        self.core.start()?;
        let Some(mut callback) = self.callback.take() else {
            return Ok(());
        };
        let sink = Arc::clone(&self.core.member);
        let worker = thread::Builder::new()
            .name("reem-callback".to_owned())
            .spawn(move || {
                while let Some(value) = sink.out.take(None) {
                    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| callback(value))) {
                        sink.count_panic();
                        tracing::error!(
                            topic = %sink.topic(),
                            panic = panic_message(&*panic),
                            "reem subscriber callback panicked; the next message will be delivered"
                        );
                    }
                }
            })
            .map_err(|e| {
                self.core.stop();
                Error::Io {
                    context: "starting the callback thread".to_owned(),
                    source: e,
                }
            })?;
        self.worker = Some(worker);
        Ok(())
    }

    /// True once [`listen`](Self::listen) succeeded.
    pub fn is_listening(&self) -> bool {
        self.core.is_listening()
    }

    /// What this subscriber has received, skipped, failed to decode, dropped, and how often
    /// the callback panicked.
    pub fn counters(&self) -> Counters {
        self.core.counters()
    }

    core_accessors!();
}

impl<T: ReemMarshal> Drop for CallbackSubscriber<T> {
    fn drop(&mut self) {
        self.core.stop();
        self.core.member.out.close();
        if let Some(worker) = self.worker.take() {
            // Dropped from inside its own callback: the thread ends when the call returns.
            if worker.thread().id() != thread::current().id() {
                let _ = worker.join();
            }
        }
    }
}

impl<T: ReemMarshal> std::fmt::Debug for CallbackSubscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.debug("CallbackSubscriber", f)
    }
}

/// The text of a panic's payload, if it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-text panic payload")
}
