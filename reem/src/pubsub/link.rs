//! [`Link`]: the one connection that carries all the subscriptions of an interface, and the
//! reads that go with them.
//!
//! It is the `redis` crate's RESP3 connection with a push channel: on one server a
//! [`ConnectionManager`](redis::aio::ConnectionManager), which reconnects by itself and
//! subscribes again to every channel (reem asks it to try for ever, with a backoff capped at
//! 2 s); on a Redis Cluster the crate's async
//! [`ClusterConnection`](redis::cluster_async::ClusterConnection), with sharded channels
//! (`SSUBSCRIBE`, each on the master of its slot). Subscribing is a command with a reply, so a
//! subscription the server refuses (an ACL without the channel) is an error, not a silence.
//!
//! **What the cluster connection does not do** (redis 1.8.1, measured): it subscribes a
//! sharded channel again neither after its slot moved (the old owner's `SUNSUBSCRIBE` push
//! removes it from the crate's own list) nor after a failover (it keeps reconnecting to the
//! dead master). The dispatcher (`hub.rs`) does it: it calls [`Link::subscribe`] again.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{PushInfo, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Error, Result};
use crate::interface::{RedisInterface, SubscriberConfig};
use crate::marshal::Commands;
use crate::transport::{exec_replies, pipeline_of};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often the cluster connection itself redirects or waits on one request, and its
/// waits in ms (the crate's default starts at 1.28 s).
const CLUSTER_RETRIES: u32 = 4;
const CLUSTER_MIN_WAIT_MS: u64 = 10;
const CLUSTER_MAX_WAIT_MS: u64 = 200;

/// The subscriber connection of one interface.
pub(crate) enum Link {
    /// One Redis server: plain `SUBSCRIBE`.
    Node(ConnectionManager),
    /// A Redis Cluster: sharded `SSUBSCRIBE`.
    Cluster(ClusterConnection),
}

impl Link {
    /// Connects with the interface's settings (address, credentials, TLS, timeouts); pushed
    /// messages (and the crate's `Disconnection` notices) go to `pushes`.
    pub(crate) async fn open(
        iface: &RedisInterface,
        pushes: UnboundedSender<PushInfo>,
    ) -> Result<Self> {
        let client = match iface.subscriber_config() {
            SubscriberConfig::Node(client) => client,
            SubscriberConfig::Cluster {
                seeds,
                #[cfg(feature = "tls")]
                certs,
            } => {
                let mut builder = redis::cluster::ClusterClientBuilder::new(seeds.clone())
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(pushes)
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(CLUSTER_MIN_WAIT_MS)
                    .max_retry_wait(CLUSTER_MAX_WAIT_MS)
                    .connection_timeout(iface.connect_timeout())
                    .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
                if let Some(t) = iface.response_timeout() {
                    builder = builder.response_timeout(t);
                }
                #[cfg(feature = "tls")]
                if let Some(certs) = certs {
                    builder = builder.certs(certs.clone());
                }
                let cluster = builder
                    .build()
                    .map_err(|e| Error::from_redis("", e))?
                    .get_async_connection()
                    .await
                    .map_err(|e| Error::from_redis("", e))?;
                return Ok(Link::Cluster(cluster));
            }
        };
        let info = client.get_connection_info().clone();
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
            Link::Cluster(c) => c
                .ssubscribe(channel)
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
            Link::Cluster(c) => c
                .sunsubscribe(channel)
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
        match self {
            Link::Node(c) => {
                let mut pipe = pipeline_of(cmds, atomic);
                pipe.ignore_errors();
                pipe.query_async(c)
                    .await
                    .map_err(|e| Error::from_redis(topic, e))
            }
            Link::Cluster(c) => {
                // The crate's atomic pipelines turn `MOVED` into an aborted transaction it
                // never redirects: MULTI and EXEC go in as plain commands (offset 0), and
                // the crate routes on the topic's key and follows `MOVED` and `ASK`.
                let mut pipe = redis::Pipeline::with_capacity(cmds.len() + 2);
                if atomic {
                    pipe.cmd("MULTI");
                }
                for c in cmds.iter() {
                    let mut cmd = redis::Cmd::new();
                    c.parts().for_each(|part| {
                        cmd.arg(part);
                    });
                    pipe.add_command(cmd);
                }
                if atomic {
                    pipe.cmd("EXEC");
                }
                pipe.ignore_errors();
                let replies: Vec<Value> = pipe
                    .query_async(c)
                    .await
                    .map_err(|e| Error::from_redis(topic, e))?;
                if atomic {
                    exec_replies(topic, replies)
                } else {
                    Ok(replies)
                }
            }
        }
    }

    /// Checks that the server answers (and makes the connection manager reconnect if not);
    /// on a cluster, the master of each of `channels`' slots.
    pub(crate) async fn ping(&mut self, channels: impl Iterator<Item = &str>) -> Result<()> {
        match self {
            Link::Node(c) => redis::cmd("PING")
                .query_async::<Value>(c)
                .await
                .map(drop)
                .map_err(|e| Error::from_redis("", e)),
            Link::Cluster(c) => {
                let slots: std::collections::BTreeSet<u16> = channels
                    .map(|ch| crate::transport::cluster::slot(ch.as_bytes()))
                    .collect();
                for slot in slots {
                    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                        Route::new(slot, SlotAddr::Master),
                    ));
                    c.route_command(redis::cmd("PING"), route)
                        .await
                        .map_err(|e| Error::from_redis("", e))?;
                }
                Ok(())
            }
        }
    }

    /// True on a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        match self {
            Link::Node(_) => false,
            Link::Cluster(_) => true,
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
