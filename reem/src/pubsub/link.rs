//! [`Link`]: the one connection that carries all the subscriptions of an interface, and the
//! reads that go with them.
//!
//! It is the `redis` crate's RESP3 connection with a push channel: on one server a
//! [`ConnectionManager`](redis::aio::ConnectionManager), which reconnects by itself and
//! subscribes again to every channel (reem asks it to try for ever, with a backoff capped at
//! 2 s). Subscribing is a command with a reply, so a subscription the server refuses (an
//! ACL without the channel) is an error, not a silence.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::marshal::Commands;
use crate::transport::pipeline_of;

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The subscriber connection of one interface.
pub(crate) enum Link {
    /// One Redis server: plain `SUBSCRIBE`.
    Node(ConnectionManager),
}

impl Link {
    /// Connects with the interface's settings (address, credentials, TLS, timeouts); pushed
    /// messages (and the crate's `Disconnection` notices) go to `pushes`.
    pub(crate) async fn open(
        iface: &RedisInterface,
        pushes: UnboundedSender<PushInfo>,
    ) -> Result<Self> {
        let info = iface.client().get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| Error::from_redis("", e))?;
        let config = ConnectionManagerConfig::new()
            .set_push_sender(pushes)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(iface.connect_timeout()))
            .set_response_timeout(iface.response_timeout())
            .set_number_of_retries(usize::MAX)
            .set_max_delay(MAX_BACKOFF);
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| Error::from_redis("", e))?;
        Ok(Link::Node(manager))
    }

    /// Subscribes `channel`; an error if the server refuses.
    pub(crate) async fn subscribe(&mut self, topic: &str, channel: &str) -> Result<()> {
        match self {
            Link::Node(c) => c
                .subscribe(channel)
                .await
                .map_err(|e| refused(topic, channel, e)),
        }
    }

    /// Unsubscribes `channel`.
    pub(crate) async fn unsubscribe(&mut self, topic: &str, channel: &str) -> Result<()> {
        match self {
            Link::Node(c) => c
                .unsubscribe(channel)
                .await
                .map_err(|e| Error::from_redis(topic, e)),
        }
    }

    /// Runs `cmds` (reads of `topic`), in one transaction if `atomic`, and returns their
    /// replies.
    pub(crate) async fn run(
        &mut self,
        topic: &str,
        cmds: &Commands<'_>,
        atomic: bool,
    ) -> Result<Vec<Value>> {
        let pipe = pipeline_of(cmds, atomic);
        let mut pipe = pipe;
        pipe.ignore_errors();
        match self {
            Link::Node(c) => pipe
                .query_async(c)
                .await
                .map_err(|e| Error::from_redis(topic, e)),
        }
    }

    /// Checks that the server answers (and makes the connection manager reconnect if not).
    pub(crate) async fn ping(&mut self) -> Result<()> {
        match self {
            Link::Node(c) => redis::cmd("PING")
                .query_async::<Value>(c)
                .await
                .map(drop)
                .map_err(|e| Error::from_redis("", e)),
        }
    }

    /// True on a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        match self {
            Link::Node(_) => false,
        }
    }
}

/// A refused subscription: [`Error::Refused`] naming the topic and its channel.
fn refused(topic: &str, channel: &str, e: redis::RedisError) -> Error {
    match Error::from_redis(topic, e) {
        Error::Refused { key, code, message } => Error::Refused {
            key,
            code,
            message: format!("{message} (subscribing to the channel {channel:?})"),
        },
        other => other,
    }
}
