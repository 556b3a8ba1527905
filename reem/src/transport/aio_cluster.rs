//! [`AsyncCluster`]: the async transport to a Redis Cluster (feature `tokio`), on the
//! `redis` crate's `cluster_async::ClusterConnection`.
//!
//! **Who does what.** The crate keeps the slot map, sends each request to the master of its
//! slot and follows `MOVED` (rebuilding its map) and `ASK` (`ASKING` first); it waits and
//! sends again on `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN` and `LOADING`, and reconnects a
//! node whose connection died (RESP3: the node connection reports its own death). reem
//! routes each request itself, to the master of the one slot of its keys ([`one_slot`]
//! refuses `CROSSSLOT` before sending), so the crate never parses reem's commands back.
//!
//! **The transaction.** A write is the plain pipeline `MULTI, commands…, EXEC` (offset 0,
//! as on one server): every reply comes back, so the crate sees a `MOVED`, `ASK` or
//! `TRYAGAIN` answered to a queued command (then `EXEC` aborted and nothing ran) and
//! redirects or waits, then sends the whole transaction again. An error inside `EXEC`'s
//! reply (the commands ran) is not looked at by the crate: it is the outcome.
//!
//! **Sent once.** Left alone, the crate sends a request again after a timeout or a dropped
//! connection, even when it was written and may have run. Each node connection it drives is
//! reem's [`NodeConn`] (plugged in with `ClusterClient::get_async_generic_connection`,
//! public but `#[doc(hidden)]` in redis 1.8, as the blocking transport does): once a
//! transaction was handed to a node's connection, a failure to read its replies becomes an
//! error the crate never retries ([`LOST`]), and reem reports it as
//! [`Error::Unconfirmed`]; a read with no reply within the response timeout is not sent
//! again either ([`Error::Timeout`]). The crate's overall request timeout is off (see
//! `cluster::async_client_builder`): it raced the node's and dropped a sent request with an
//! error that does not say so. A node connection already known dead refuses before sending
//! (the crate reconnects and sends it: nothing reached a server). reem itself sends a request
//! again, with backoff and within the interface's connect timeout, only when the crate's
//! error proves nothing ran (no connection, the cluster down or reconfiguring, the slot
//! still moving after the crate's own tries).
//!
//! **Cancellation.** A request is handed whole to the crate's driver task (one message on a
//! channel), or not at all; the driver hands it whole to the node's multiplexed connection,
//! which reads every reply whether anybody still waits or not.
//!
//! Like [`AsyncNode`](super::aio::AsyncNode), there is one cluster connection per tokio
//! runtime that uses the interface ([`Runtimes`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::{ClusterConnection, Connect};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult,
    Value,
};

use super::aio::{probe_transactions, Live, Probe, Runtimes, Watch, Watcher};
use super::cluster::{cluster_error, nothing_applied_and_may_pass, one_slot};
use super::{cmd_of, exec_replies, multi_refused, pipeline_of, transaction_of, Resend};
use crate::error::{Error, Result};
use crate::interface::{RedisInterface, SubscriberConfig};
use crate::marshal::Commands;

/// reem's wait before sending a request that provably did not run again, doubled up to
/// the maximum.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// The code of the error [`NodeConn`] hands the crate for a transaction that was sent and
/// whose replies were lost (the crate never retries an unknown code).
const LOST: &str = "REEM-UNCONFIRMED";
/// The same, when the reason was the response timeout.
const LOST_TIMEOUT: &str = "REEM-UNCONFIRMED-TIMEOUT";
/// The code of the error for a transaction refused before sending: this user may not run
/// `MULTI` on the node.
const NO_MULTI: &str = "REEM-NOMULTI";
/// The code of the error [`NodeConn`] hands the crate for a read (or a command of the
/// crate's own) with no reply within the response timeout: the crate would send it again at
/// once, doubling the wait on a slow server (the read rule: not after a timeout).
const TIMED_OUT: &str = "REEM-TIMEOUT";

/// The async transport to a Redis Cluster.
pub(crate) struct AsyncCluster {
    client: std::result::Result<ClusterClient, String>,
    /// The seeds, for error messages.
    seeds: String,
    connect_timeout: Duration,
    runtimes: Runtimes<Conn>,
}

/// The cluster connection of one runtime.
#[derive(Clone)]
struct Conn {
    cluster: ClusterConnection<NodeConn>,
    /// Killed when the runtime that runs the connection's driver shuts down.
    watch: Arc<Watch>,
    /// Ends the task that watches the runtime when the last clone is dropped.
    _gone: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl Live for Conn {
    fn is_dead(&self) -> bool {
        self.watch.is_dead()
    }
}

impl AsyncCluster {
    pub(crate) fn new(iface: &RedisInterface) -> Self {
        let (client, seeds) = match iface.subscriber_config() {
            SubscriberConfig::Cluster {
                seeds,
                #[cfg(feature = "tls")]
                certs,
            } => (
                super::cluster::async_client_builder(
                    seeds,
                    #[cfg(feature = "tls")]
                    certs.as_ref(),
                    iface,
                )
                .build()
                .map_err(|e| e.to_string()),
                super::cluster::seed_names(seeds),
            ),
            SubscriberConfig::Node(_) => (
                Err("not a Redis Cluster".to_owned()),
                iface.url().to_owned(),
            ),
        };
        AsyncCluster {
            client,
            seeds,
            connect_timeout: iface.connect_timeout(),
            runtimes: Runtimes::default(),
        }
    }

    pub(crate) async fn transaction(&self, key: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        let route = route(one_slot(key, cmds)?);
        let count = cmds.len() + 2;
        let replies = self
            .request(key, Resend::Never, |mut cluster| {
                let pipe = transaction_of(cmds);
                let route = route.clone();
                async move { cluster.route_pipeline(pipe, 0, count, route).await }
            })
            .await?;
        exec_replies(key, replies)
    }

    pub(crate) async fn pipeline(
        &self,
        key: &str,
        cmds: &Commands<'_>,
        resend: Resend,
    ) -> Result<Vec<Value>> {
        let route = route(one_slot(key, cmds)?);
        if let (1, Some(c)) = (cmds.len(), cmds.get(0)) {
            return self
                .request(key, resend, |mut cluster| {
                    let cmd = cmd_of(&c);
                    let route = RoutingInfo::SingleNode(route.clone());
                    async move { cluster.route_command(cmd, route).await.map(|v| vec![v]) }
                })
                .await;
        }
        let count = cmds.len();
        self.request(key, resend, |mut cluster| {
            let pipe = pipeline_of(cmds, false);
            let route = route.clone();
            async move { cluster.route_pipeline(pipe, 0, count, route).await }
        })
        .await
    }

    /// Sends a request (`send` makes it on a cluster connection, once per try), following
    /// the retry rule of the module.
    async fn request<F>(
        &self,
        key: &str,
        resend: Resend,
        mut send: impl FnMut(ClusterConnection<NodeConn>) -> F,
    ) -> Result<Vec<Value>>
    where
        F: std::future::Future<Output = RedisResult<Vec<Value>>>,
    {
        let deadline = Instant::now() + self.connect_timeout;
        let mut pause = FIRST_PAUSE;
        loop {
            // Opening tries every seed node within the connect timeout (and fails outside a
            // runtime): its error is the outcome.
            let conn = self.connection(key).await?;
            let e = match send(conn.cluster).await {
                Ok(values) => return Ok(values),
                Err(e) => e,
            };
            match e.code() {
                Some(LOST) => {
                    return Err(Error::Unconfirmed {
                        key: key.to_owned(),
                        reason: e.detail().unwrap_or("the connection failed").to_owned(),
                    })
                }
                Some(LOST_TIMEOUT) => {
                    return Err(Error::Unconfirmed {
                        key: key.to_owned(),
                        reason: "no reply within the response timeout".to_owned(),
                    })
                }
                Some(TIMED_OUT) => {
                    return Err(Error::Timeout {
                        context: format!("key {key:?} on the Redis Cluster of {}", self.seeds),
                    })
                }
                Some(NO_MULTI) => {
                    let refusal = e.detail().unwrap_or("NOPERM");
                    let (code, message) = refusal.split_once(' ').unwrap_or((refusal, ""));
                    return Err(multi_refused(key, code, message));
                }
                _ => {}
            }
            // A read that timed out is not sent again (the server is slow: another try
            // would double the wait); a write's error here proves it did not run.
            let again =
                nothing_applied_and_may_pass(&e) && !(resend == Resend::IfLost && e.is_timeout());
            if !again || Instant::now() + pause >= deadline {
                return Err(self.gave_up(key, e));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    fn error(&self, key: &str, e: RedisError) -> Error {
        cluster_error(key, e, &self.seeds)
    }

    /// The error once the crate and reem gave up: a redirection still answered after every
    /// try means the slot's master cannot be reached (the crate reconnects to a dead
    /// address and the other nodes keep pointing there) or the slot kept moving.
    fn gave_up(&self, key: &str, e: RedisError) -> Error {
        match e.code() {
            Some("MOVED" | "ASK") => Error::Io {
                context: format!("key {key:?} on the Redis Cluster of {}", self.seeds),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!(
                        "the master of the key's slot could not be reached, or the slot kept \
                         moving ({e})"
                    ),
                ),
            },
            _ => self.error(key, e),
        }
    }

    /// This runtime's cluster connection: the open one, or a new one.
    async fn connection(&self, key: &str) -> Result<Conn> {
        self.runtimes.get(key, || self.open()).await
    }

    /// Opens a cluster connection on the current runtime (the crate spawns its driver
    /// there), and a task that notices when that runtime shuts down.
    async fn open(&self) -> Result<Conn> {
        let client = self.client.as_ref().map_err(|e| Error::InvalidUrl {
            url: self.seeds.clone(),
            reason: e.clone(),
        })?;
        let cluster = client
            .get_async_generic_connection::<NodeConn>()
            .await
            .map_err(|e| match self.error("", e) {
                Error::Io { source, .. } => Error::Io {
                    context: format!("connecting to the Redis Cluster of {}", self.seeds),
                    source,
                },
                other => other,
            })?;
        let watch = Arc::new(Watch::default());
        let (gone, closed) = tokio::sync::oneshot::channel::<()>();
        let watcher = Watcher(Arc::clone(&watch));
        let mut closed = closed;
        // Dropped with its runtime (then `watcher` kills `watch`), or ends when the last
        // clone of the connection is dropped.
        tokio::spawn(async move {
            let _watcher = watcher;
            let _ = (&mut closed).await;
        });
        Ok(Conn {
            cluster,
            watch,
            _gone: Arc::new(gone),
        })
    }
}

/// The route to the master of `slot` (any node for a request without keys).
fn route(slot: Option<u16>) -> SingleNodeRoutingInfo {
    match slot {
        Some(slot) => SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master)),
        None => SingleNodeRoutingInfo::Random,
    }
}

// ---------------------------------------------------------------------------------------
// The node connection the crate drives.

/// reem's connection to one cluster node, as the crate's async cluster connection drives
/// it: the crate's multiplexed connection, with reem's rule for transactions.
#[derive(Clone)]
pub(crate) struct NodeConn {
    mux: MultiplexedConnection,
    /// Set once a request failed on the connection: it is dead, and nothing more is sent on
    /// it (the crate reconnects the node).
    dead: Arc<AtomicBool>,
    /// Whether this user may run `MULTI` here (probed when the connection is opened): the
    /// refusal's code and message.
    no_multi: Option<Arc<str>>,
}

impl Connect for NodeConn {
    fn connect_with_config<'a, T>(info: T, config: AsyncConnectionConfig) -> RedisFuture<'a, Self>
    where
        T: IntoConnectionInfo + Send + 'a,
    {
        Box::pin(async move {
            let mut mux = MultiplexedConnection::connect_with_config(info, config).await?;
            let no_multi = match probe_transactions(&mut mux).await? {
                Probe::Allowed => None,
                Probe::NoMulti(e) => Some(
                    format!("{} {}", e.code(), e.details().unwrap_or(""))
                        .trim_end()
                        .into(),
                ),
                // The connection may be stuck inside a transaction: it is not used.
                Probe::ExecRefused(e) => {
                    return Err(RedisError::from((
                        redis::ErrorKind::Io,
                        "reem: EXEC refused on a new connection",
                        format!("{} {}", e.code(), e.details().unwrap_or("")),
                    )))
                }
            };
            Ok(NodeConn {
                mux,
                dead: Arc::new(AtomicBool::new(false)),
                no_multi,
            })
        })
    }
}

/// The error for a request not sent on a dead connection: the crate reconnects the node and
/// may send it.
fn not_sent() -> RedisError {
    std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "reem: the node's connection had failed; nothing was sent",
    )
    .into()
}

impl NodeConn {
    fn failed(&self, e: &RedisError) {
        if !e.is_timeout() {
            self.dead.store(true, Ordering::Release);
        }
    }

    /// The error of a read or of a command of the crate's own: marks the connection dead
    /// if it failed, and turns a timeout into one the crate does not retry.
    fn read_error(&self, e: RedisError) -> RedisError {
        self.failed(&e);
        if e.is_timeout() {
            redis::make_extension_error(TIMED_OUT.to_owned(), Some(e.to_string()))
        } else {
            e
        }
    }

    async fn transaction(
        &mut self,
        pipe: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        if let Some(refusal) = &self.no_multi {
            return Err(redis::make_extension_error(
                NO_MULTI.to_owned(),
                Some(refusal.to_string()),
            ));
        }
        match self.mux.send_packed_commands(pipe, offset, count).await {
            Ok(values) => {
                if matches!(values.last(), Some(Value::ServerError(e)) if e.code() != "EXECABORT") {
                    // `EXEC` itself was refused: the connection may still be inside `MULTI`.
                    self.dead.store(true, Ordering::Release);
                }
                Ok(values)
            }
            Err(e) => {
                self.failed(&e);
                let code = if e.is_timeout() { LOST_TIMEOUT } else { LOST };
                Err(redis::make_extension_error(
                    code.to_owned(),
                    Some(e.to_string()),
                ))
            }
        }
    }
}

/// True if `pipe` is one of reem's transactions (`MULTI` first).
fn is_transaction(pipe: &Pipeline) -> bool {
    pipe.cmd_iter()
        .next()
        .and_then(|c| c.args_iter().next())
        .is_some_and(
            |a| matches!(a, redis::Arg::Simple(name) if name.eq_ignore_ascii_case(b"MULTI")),
        )
}

impl ConnectionLike for NodeConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            if self.dead.load(Ordering::Acquire) {
                return Err(not_sent());
            }
            self.mux
                .req_packed_command(cmd)
                .await
                .map_err(|e| self.read_error(e))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            if self.dead.load(Ordering::Acquire) {
                return Err(not_sent());
            }
            if is_transaction(pipe) {
                return self.transaction(pipe, offset, count).await;
            }
            self.mux
                .req_packed_commands(pipe, offset, count)
                .await
                .map_err(|e| self.read_error(e))
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reem_transactions_are_held_to_the_write_rule() {
        let mut cmds = Commands::new();
        cmds.cmd("HSET").arg("k").arg("f").arg("v");
        assert!(is_transaction(&transaction_of(&cmds)));
        assert!(!is_transaction(&pipeline_of(&cmds, false)));
        let mut read = Commands::new();
        read.cmd("HGETALL").arg("k");
        assert!(!is_transaction(&pipeline_of(&read, false)));
        assert!(!is_transaction(&redis::pipe()));
    }

    #[test]
    fn a_request_goes_to_the_master_of_its_slot() {
        assert_eq!(
            route(Some(12182)),
            SingleNodeRoutingInfo::SpecificNode(Route::new(12182, SlotAddr::Master))
        );
        assert_eq!(route(None), SingleNodeRoutingInfo::Random);
    }
}
