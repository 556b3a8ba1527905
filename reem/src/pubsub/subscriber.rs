//! [`Core`]: what every subscriber face shares: its member on the dispatcher, its
//! subscription, and the accessors built on them.

use std::sync::{Arc, Mutex};

use super::hub::{Status, Subscription};
use super::member::{Counters, Member, Outlet, TypedMember};
use crate::error::Result;
use crate::interface::RedisInterface;
use crate::lock::lock;
use crate::marshal::ReemMarshal;

/// The accessors every subscriber face has, written once: `topic`, `status`,
/// `last_decode_error` (on a type whose field `core` is a [`Core`]).
macro_rules! core_accessors {
    () => {
        /// The topic.
        pub fn topic(&self) -> &str {
            self.core.topic()
        }

        /// The state of the (shared) connection.
        pub fn status(&self) -> $crate::pubsub::Status {
            self.core.status()
        }

        /// Why the most recent message that did not decode was refused.
        pub fn last_decode_error(&self) -> Option<String> {
            self.core.last_decode_error()
        }
    };
}
pub(crate) use core_accessors;

/// A subscriber to `T` messages delivering to `O`, listening or not.
pub(crate) struct Core<T, O> {
    iface: RedisInterface,
    pub(crate) member: Arc<TypedMember<T, O>>,
    subscription: Mutex<Option<Subscription>>,
}

impl<T: ReemMarshal, O: Outlet<T>> Core<T, O> {
    pub(crate) fn new(iface: &RedisInterface, topic: &str, out: O) -> Self {
        Self {
            iface: iface.clone(),
            member: Arc::new(TypedMember::new(topic, out)),
            subscription: Mutex::new(None),
        }
    }

    pub(crate) fn topic(&self) -> &str {
        self.member.topic()
    }

    /// Subscribes (once): returns when the topic is subscribed and its stored value read.
    pub(crate) fn start(&self) -> Result<()> {
        let mut subscription = lock(&self.subscription);
        if subscription.is_none() {
            let member: Arc<dyn Member> = Arc::clone(&self.member) as _;
            *subscription = Some(Subscription::start(&self.iface, member)?);
        }
        Ok(())
    }

    /// [`start`](Self::start) for async callers: returns when the topic is subscribed and
    /// its stored value read, without blocking the thread.
    #[cfg(feature = "tokio")]
    pub(crate) async fn start_async(&self) -> Result<()> {
        if self.is_listening() {
            return Ok(());
        }
        let member: Arc<dyn Member> = Arc::clone(&self.member) as _;
        let subscription = Subscription::start_async(&self.iface, member).await?;
        *lock(&self.subscription) = Some(subscription);
        Ok(())
    }

    /// Unsubscribes.
    pub(crate) fn stop(&self) {
        lock(&self.subscription).take();
    }

    pub(crate) fn is_listening(&self) -> bool {
        lock(&self.subscription).is_some()
    }

    pub(crate) fn counters(&self) -> Counters {
        self.member.counters()
    }

    pub(crate) fn status(&self) -> Status {
        lock(&self.subscription)
            .as_ref()
            .map_or_else(Status::idle, Subscription::status)
    }

    pub(crate) fn last_decode_error(&self) -> Option<String> {
        self.member.last_decode_error()
    }

    /// The `Debug` output of a subscriber named `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("topic", &self.topic())
            .field("type", &T::get_label())
            .field("listening", &self.is_listening())
            .field("counters", &self.counters())
            .finish()
    }
}
