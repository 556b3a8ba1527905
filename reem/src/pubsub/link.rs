//! [`Link`]: the one connection that carries all the subscriptions of an interface, and the
//! reads that go with them.
//!
//! It is the `redis` crate's RESP3 connection with a push channel: on one server a bare
//! [`MultiplexedConnection`](redis::aio::MultiplexedConnection), made again by the dispatcher
//! (`hub.rs`) when it reports a `Disconnection`; on a Redis Cluster the crate's async
//! [`ClusterConnection`](redis::cluster_async::ClusterConnection), with sharded channels
//! (`SSUBSCRIBE`, each on the master of its slot). Subscribing is a command with a reply, so a
//! subscription the server refuses (an ACL without the channel) is an error, not a silence.
//!
//! **Why not the crate's `ConnectionManager`** (redis 1.8.1, measured): it forwards every
//! pushed message through a task of its own (one more task switch per message: publish →
//! decoded value 1.15–1.27× raw with it), it stops reconnecting after about 6 s, and its
//! pushes may overtake replies. The dispatcher already subscribes again and re-reads the
//! stored values after a slot move or a failover on a cluster; one server is the same case.
//!
//! **What the cluster connection does not do** (redis 1.8.1, measured): it subscribes a
//! sharded channel again neither after its slot moved (the old owner's `SUNSUBSCRIBE` push
//! removes it from the crate's own list) nor after a failover (it keeps reconnecting to the
//! dead master). The dispatcher (`hub.rs`) does it: it calls [`Link::subscribe`] again.

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::AsyncConnectionConfig;
use redis::{PushInfo, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Error, Result};
use crate::interface::{RedisInterface, SubscriberConfig};
use crate::marshal::Commands;
use crate::transport::{exec_replies, pipeline_of, transaction_of};

/// The subscriber connection of one interface.
pub(crate) enum Link {
    /// One Redis server: plain `SUBSCRIBE`.
    Node(Box<NodeLink>),
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
                let builder = crate::transport::cluster::async_client_builder(
                    seeds,
                    #[cfg(feature = "tls")]
                    certs.as_ref(),
                    iface,
                )
                .push_sender(pushes);
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
        let config = AsyncConnectionConfig::new()
            .set_push_sender(pushes)
            .set_connection_timeout(Some(iface.connect_timeout()))
            .set_response_timeout(iface.response_timeout());
        let conn = NodeLink::connect(&client, &config).await?;
        Ok(Link::Node(Box::new(NodeLink {
            client,
            config,
            conn,
            dead: false,
        })))
    }

    /// Notes that the connection is lost (a `Disconnection` push, a failed `PING`): one
    /// server's is made again by [`revive`](Self::revive); a cluster's reconnects by itself.
    pub(crate) fn lost(&mut self) {
        if let Link::Node(node) = self {
            node.dead = true;
        }
    }

    /// Makes a lost connection to one server again (its subscriptions are gone: the caller
    /// subscribes every channel again).
    pub(crate) async fn revive(&mut self) -> Result<()> {
        if let Link::Node(node) = self {
            if node.dead {
                node.conn = NodeLink::connect(&node.client, &node.config).await?;
                node.dead = false;
            }
        }
        Ok(())
    }

    /// Subscribes `channel`; an error if the server refuses.
    pub(crate) async fn subscribe(&mut self, topic: &str, channel: &str) -> Result<()> {
        match self {
            Link::Node(node) => node
                .conn
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
            Link::Node(node) => node
                .conn
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
            Link::Node(node) => {
                let mut pipe = pipeline_of(cmds, atomic);
                pipe.ignore_errors();
                pipe.query_async(&mut node.conn)
                    .await
                    .map_err(|e| Error::from_redis(topic, e))
            }
            Link::Cluster(c) => {
                // The crate's atomic pipelines turn `MOVED` into an aborted transaction it
                // never redirects: MULTI and EXEC go in as plain commands (offset 0), and
                // the crate routes on the topic's key and follows `MOVED` and `ASK`.
                let mut pipe = if atomic {
                    transaction_of(cmds)
                } else {
                    pipeline_of(cmds, false)
                };
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
            Link::Node(node) => redis::cmd("PING")
                .query_async::<Value>(&mut node.conn)
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

/// The connection to one server, and how to make it again.
pub(crate) struct NodeLink {
    client: redis::Client,
    /// Carries the push sender: a new connection pushes to the same dispatcher.
    config: AsyncConnectionConfig,
    conn: MultiplexedConnection,
    /// Lost: to be made again before use.
    dead: bool,
}

impl NodeLink {
    async fn connect(
        client: &redis::Client,
        config: &AsyncConnectionConfig,
    ) -> Result<MultiplexedConnection> {
        client
            .get_multiplexed_async_connection_with_config(config)
            .await
            .map_err(|e| Error::from_redis("", e))
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
