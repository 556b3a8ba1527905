//! The async transport (feature `tokio`): what `reem::aio` runs its [`Plan`]s on.
//!
//! [`AsyncTransport`] has the two calls of the blocking [`Transport`](super::Transport) that
//! the stores use, as futures: [`transaction`](AsyncTransport::transaction) (one `MULTI …
//! EXEC`) and [`pipeline`](AsyncTransport::pipeline) (reads). [`AioTransport`] is the one an
//! interface holds, an enum with one arm per topology:
//!
//! | arm | connection |
//! |-----|------------|
//! | [`AsyncNode`] | one server: the `redis` crate's RESP3 [`MultiplexedConnection`], shared by every task |
//! | [`AsyncCluster`](super::aio_cluster::AsyncCluster) | a Redis Cluster: the crate's `cluster_async::ClusterConnection` driving reem's node connections (see `aio_cluster`) |
//!
//! # Where the connection lives
//! A `MultiplexedConnection` is a handle on a driver task that owns the socket; the task
//! runs on the tokio runtime that opened the connection. [`AsyncNode`] opens one connection
//! per runtime that uses the interface, lazily, on that runtime: a program with one runtime
//! has one connection, pipelined for all its tasks, and every request is written and its
//! reply read by a task of the caller's own runtime (no hop to another thread: measured in
//! `reem-bench`, a driver on a private runtime thread costs about 40 µs more per request).
//! A connection is never used from another runtime, so a runtime that is not being driven
//! (a `current_thread` runtime between two `block_on`s) or that was shut down stalls nobody
//! else; the connection of a runtime that is gone is dropped the next time one is opened.
//!
//! # The retry rule, and cancellation
//! As on the blocking transport (see [`super`]): a connection found dead (its driver saw
//! the socket close, or its runtime is gone) is replaced before anything is sent on it; a
//! connection that could not be opened is tried once more; a read whose connection failed
//! is sent once more on a fresh connection (not after a timeout); a write whose reply was
//! lost is [`Error::Unconfirmed`], never sent again. A request is one buffer (a whole
//! `MULTI … EXEC`) handed to the driver at once: a dropped future leaves either the whole
//! request or nothing to the driver, which reads every reply in order whether its caller
//! still waits or not, so no other task's replies are shifted.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};

use super::plan::{Plan, Step};
use super::{cmd_of, exec_replies, pipeline_of, transaction_of, Resend};
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::lock::lock;
use crate::marshal::Commands;

/// How long to wait before asking a server that is loading its data again.
const LOADING_PAUSE: Duration = Duration::from_millis(50);

/// The async seam between reem and the wire: the blocking [`Transport`](super::Transport)'s
/// two request calls, as `Send` futures.
pub(crate) trait AsyncTransport: Send + Sync + 'static {
    /// Runs `cmds` as one `MULTI … EXEC` on the node that owns `key`, like
    /// [`Transport::transaction`](super::Transport::transaction).
    fn transaction<'a>(
        &'a self,
        key: &'a str,
        cmds: &'a Commands<'a>,
    ) -> impl Future<Output = Result<Vec<Value>>> + Send + 'a;

    /// Sends `cmds` in one round trip to the node that owns `key`, like
    /// [`Transport::pipeline`](super::Transport::pipeline).
    fn pipeline<'a>(
        &'a self,
        key: &'a str,
        cmds: &'a Commands<'a>,
        resend: Resend,
    ) -> impl Future<Output = Result<Vec<Value>>> + Send + 'a;
}

/// Runs `plan` on the async `transport`.
pub(crate) async fn run<P: Plan + Send>(
    transport: &impl AsyncTransport,
    mut plan: P,
) -> Result<P::Output> {
    let mut replies = None;
    loop {
        replies = Some(match plan.step(replies.take()) {
            Step::Done(outcome) => return outcome,
            Step::Transaction(r) => transport.transaction(r.key, r.cmds).await,
            Step::Read(r) => transport.pipeline(r.key, r.cmds, Resend::IfLost).await,
        });
    }
}

/// The async transport of an interface: one arm per topology.
pub(crate) enum AioTransport {
    /// One Redis server.
    Node(Box<AsyncNode>),
    /// A Redis Cluster.
    Cluster(Box<super::aio_cluster::AsyncCluster>),
}

impl AioTransport {
    /// The async transport of `iface` (opens nothing yet).
    pub(crate) fn new(iface: &RedisInterface) -> Self {
        match iface.subscriber_config() {
            crate::interface::SubscriberConfig::Node(client) => {
                AioTransport::Node(Box::new(AsyncNode::new(iface, client)))
            }
            crate::interface::SubscriberConfig::Cluster { .. } => {
                AioTransport::Cluster(Box::new(super::aio_cluster::AsyncCluster::new(iface)))
            }
        }
    }
}

impl AsyncTransport for AioTransport {
    async fn transaction(&self, key: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        match self {
            AioTransport::Node(node) => node.transaction(key, cmds).await,
            AioTransport::Cluster(cluster) => cluster.transaction(key, cmds).await,
        }
    }

    async fn pipeline(&self, key: &str, cmds: &Commands<'_>, resend: Resend) -> Result<Vec<Value>> {
        match self {
            AioTransport::Node(node) => node.pipeline(key, cmds, resend).await,
            AioTransport::Cluster(cluster) => cluster.pipeline(key, cmds, resend).await,
        }
    }
}

/// One Redis server, over one RESP3 [`MultiplexedConnection`] per tokio runtime that uses
/// it (see the module documentation).
pub(crate) struct AsyncNode {
    /// The interface's client (address, credentials, TLS), speaking RESP3 so that the
    /// connection reports its own death (a `Disconnection` push).
    client: std::result::Result<redis::Client, String>,
    url: String,
    config: AsyncConnectionConfig,
    response_timeout: Option<Duration>,
    runtimes: Runtimes<Conn>,
}

/// Connections of type `C`, one per tokio runtime that uses them, opened lazily on that
/// runtime (see the module documentation).
pub(crate) struct Runtimes<C> {
    list: Mutex<Vec<PerRuntime<C>>>,
}

/// A connection that knows when it is dead (its driver task is gone).
pub(crate) trait Live: Clone {
    fn is_dead(&self) -> bool;
}

/// The connection of one runtime.
struct PerRuntime<C> {
    runtime: tokio::runtime::Id,
    conn: Option<C>,
    /// Held while a connection is opened, so that concurrent callers wait for it instead of
    /// opening their own.
    opening: Arc<tokio::sync::Mutex<()>>,
}

impl<C> Default for Runtimes<C> {
    fn default() -> Self {
        Runtimes {
            list: Mutex::new(Vec::new()),
        }
    }
}

impl<C: Live> Runtimes<C> {
    /// The caller's runtime's connection: the open one, or a new one from `open`.
    pub(crate) async fn get<F>(&self, key: &str, open: impl FnOnce() -> F) -> Result<C>
    where
        F: Future<Output = Result<C>>,
    {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Io {
                context: format!("key {key:?}"),
                source: std::io::Error::other(
                    "reem::aio is called outside a tokio runtime (run it in a task, or inside \
                     a runtime's block_on)",
                ),
            })?
            .id();
        let opening = {
            let mut list = lock(&self.list);
            let at = match list.iter().position(|r| r.runtime == runtime) {
                Some(at) => at,
                None => {
                    list.push(PerRuntime {
                        runtime,
                        conn: None,
                        opening: Default::default(),
                    });
                    list.len() - 1
                }
            };
            match &list[at].conn {
                Some(conn) if !conn.is_dead() => return Ok(conn.clone()),
                _ => Arc::clone(&list[at].opening),
            }
        };
        let _opening = opening.lock().await;
        if let Some(conn) = self.current(runtime) {
            return Ok(conn); // opened by another task meanwhile
        }
        let conn = open().await?;
        let mut list = lock(&self.list);
        // Forget the connections of runtimes that are gone (their driver is dead), and
        // those that failed to open with nobody trying again.
        list.retain(|r| {
            r.runtime == runtime
                || r.conn.as_ref().is_some_and(|c| !c.is_dead())
                || Arc::strong_count(&r.opening) > 1
        });
        if let Some(entry) = list.iter_mut().find(|r| r.runtime == runtime) {
            entry.conn = Some(conn.clone());
        }
        Ok(conn)
    }

    /// The open, live connection of `runtime`, if any.
    fn current(&self, runtime: tokio::runtime::Id) -> Option<C> {
        lock(&self.list)
            .iter()
            .find(|r| r.runtime == runtime)
            .and_then(|r| r.conn.clone())
            .filter(|c| !c.is_dead())
    }

    /// How many runtimes have an entry (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.list).len()
    }
}

/// An open connection.
#[derive(Clone)]
struct Conn {
    mux: MultiplexedConnection,
    watch: Arc<Watch>,
    /// Whether this user may run `MULTI` (probed once when the connection is opened).
    transactions: std::result::Result<(), redis::ServerError>,
}

impl Live for Conn {
    fn is_dead(&self) -> bool {
        self.watch.is_dead()
    }
}

/// Whether a connection is known to be dead.
#[derive(Default)]
pub(crate) struct Watch {
    dead: AtomicBool,
}

impl Watch {
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    pub(crate) fn kill(&self) {
        self.dead.store(true, Ordering::Release);
    }
}

/// The push sender of a connection: the driver calls it with a `Disconnection` push when
/// the socket fails, and drops it when the driver task ends (the runtime shut down).
pub(crate) struct Watcher(pub(crate) Arc<Watch>);

impl AsyncPushSender for Watcher {
    fn send(&self, info: PushInfo) -> std::result::Result<(), SendError> {
        if info.kind == PushKind::Disconnection {
            self.0.kill();
        }
        Ok(())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// A request, as the `redis` crate sends it.
enum Packed {
    /// One command (a read): its one reply.
    One(redis::Cmd),
    /// A pipeline of this many commands: all their replies.
    Pipeline(redis::Pipeline, usize),
}

impl Packed {
    async fn send(&self, mux: &mut MultiplexedConnection) -> redis::RedisResult<Vec<Value>> {
        match self {
            Packed::One(cmd) => mux.send_packed_command(cmd).await.map(|v| vec![v]),
            Packed::Pipeline(pipe, count) => mux.send_packed_commands(pipe, 0, *count).await,
        }
    }
}

/// What a request failure means for the retry rule.
enum Failure {
    /// Nothing was sent: the connection could not be opened.
    NotSent(Error),
    /// The request may have reached the server.
    Sent(redis::RedisError),
}

impl AsyncNode {
    fn new(iface: &RedisInterface, client: &redis::Client) -> Self {
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let client =
            redis::Client::open(info.set_redis_settings(settings)).map_err(|e| e.to_string());
        AsyncNode {
            client,
            url: iface.url().to_owned(),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(iface.connect_timeout()))
                .set_response_timeout(iface.response_timeout()),
            response_timeout: iface.response_timeout(),
            runtimes: Runtimes::default(),
        }
    }

    async fn transaction(&self, key: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        let packed = Packed::Pipeline(transaction_of(cmds), cmds.len() + 2);
        let replies = self.request(key, &packed, Resend::Never, true).await?;
        exec_replies(key, replies)
    }

    async fn pipeline(&self, key: &str, cmds: &Commands<'_>, resend: Resend) -> Result<Vec<Value>> {
        let packed = match (cmds.len(), cmds.get(0)) {
            (1, Some(c)) => Packed::One(cmd_of(&c)),
            (n, _) => Packed::Pipeline(pipeline_of(cmds, false), n),
        };
        self.request(key, &packed, resend, false).await
    }

    /// Sends `packed` following the retry rule.
    async fn request(
        &self,
        key: &str,
        packed: &Packed,
        resend: Resend,
        transaction: bool,
    ) -> Result<Vec<Value>> {
        let loading_deadline = self.response_timeout.map(|t| Instant::now() + t);
        let mut tries = 0;
        loop {
            tries += 1;
            let failure = match self.connection(key).await {
                Err(e) => Failure::NotSent(e),
                Ok(mut conn) => {
                    if transaction {
                        if let Err(e) = &conn.transactions {
                            return Err(super::multi_refused(
                                key,
                                e.code(),
                                e.details().unwrap_or(""),
                            ));
                        }
                    }
                    match packed.send(&mut conn.mux).await {
                        Ok(values) if is_loading(&values) && !past(loading_deadline) => {
                            // The server is loading its data after a restart and refused the
                            // whole request: nothing was applied, wait and send it again.
                            tries = 0;
                            tokio::time::sleep(LOADING_PAUSE).await;
                            continue;
                        }
                        Ok(values) => {
                            if transaction
                                && matches!(values.last(), Some(Value::ServerError(e)) if e.code() != "EXECABORT")
                            {
                                // `EXEC` itself was refused: the connection may still be
                                // inside `MULTI`; the next request opens another.
                                conn.watch.kill();
                            }
                            return Ok(values);
                        }
                        Err(e) => {
                            if !e.is_timeout() {
                                conn.watch.kill();
                            }
                            Failure::Sent(e)
                        }
                    }
                }
            };
            let again = match &failure {
                Failure::NotSent(e) => e.is_connection(),
                Failure::Sent(e) => resend == Resend::IfLost && !e.is_timeout(),
            };
            if !again || tries >= 2 {
                return Err(match failure {
                    Failure::NotSent(e) => e,
                    Failure::Sent(e) => self.error(key, e, resend),
                });
            }
        }
    }

    /// The error for a request that failed after it was handed to the connection.
    fn error(&self, key: &str, e: redis::RedisError, resend: Resend) -> Error {
        let lost = e.is_timeout() || e.is_io_error() || e.is_connection_dropped();
        if lost && resend == Resend::Never {
            return Error::Unconfirmed {
                key: key.to_owned(),
                reason: if e.is_timeout() {
                    "no reply within the response timeout".to_owned()
                } else {
                    e.to_string()
                },
            };
        }
        match Error::from_redis(key, e) {
            Error::Io { context, source } => Error::Io {
                context: format!("{context} on {}", self.url),
                source,
            },
            Error::Timeout { context } => Error::Timeout {
                context: format!("{context} on {}", self.url),
            },
            other => other,
        }
    }

    /// This runtime's connection: the open one, or a new one.
    async fn connection(&self, key: &str) -> Result<Conn> {
        self.runtimes.get(key, || self.open(key)).await
    }

    /// Opens a connection on the current runtime, and finds out whether this user may run
    /// transactions (`MULTI` then `EXEC`, nothing in between): if `MULTI` is refused, the
    /// commands of a transaction would run one by one, unprotected, so writes are refused
    /// before anything is sent.
    async fn open(&self, key: &str) -> Result<Conn> {
        let client = self.client.as_ref().map_err(|e| Error::InvalidUrl {
            url: self.url.clone(),
            reason: e.clone(),
        })?;
        let watch = Arc::new(Watch::default());
        let config = self
            .config
            .clone()
            .set_push_sender(Watcher(Arc::clone(&watch)));
        let connect_error = |e: redis::RedisError| match Error::from_redis(key, e) {
            Error::Io { source, .. } => Error::Io {
                context: format!("connecting to {}", self.url),
                source,
            },
            Error::Timeout { .. } => Error::Timeout {
                context: format!("connecting to {}", self.url),
            },
            Error::Refused { key, code, message } => Error::Refused {
                key,
                code,
                message: format!("{message} (while connecting to {})", self.url),
            },
            other => other,
        };
        let mut mux = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(connect_error)?;
        let transactions = match probe_transactions(&mut mux).await.map_err(connect_error)? {
            Probe::Allowed => Ok(()),
            Probe::NoMulti(e) => Err(e),
            // The connection may be stuck inside a transaction: it is not used.
            Probe::ExecRefused(e) => {
                return Err(super::multi_refused(
                    key,
                    e.code(),
                    e.details().unwrap_or(""),
                ))
            }
        };
        Ok(Conn {
            mux,
            watch,
            transactions,
        })
    }
}

/// Whether a user may run transactions on a connection.
pub(crate) enum Probe {
    Allowed,
    /// `MULTI` was refused: the commands of a transaction would run one by one, unprotected,
    /// so writes are refused before anything is sent.
    NoMulti(redis::ServerError),
    /// `MULTI` was accepted but not `EXEC`: the connection may be stuck inside a transaction.
    ExecRefused(redis::ServerError),
}

/// Sends `MULTI` then `EXEC` (nothing in between) on a new connection, to find out whether
/// this user may run transactions.
pub(crate) async fn probe_transactions(
    mux: &mut MultiplexedConnection,
) -> redis::RedisResult<Probe> {
    let mut probe = redis::pipe();
    probe.cmd("MULTI").cmd("EXEC");
    let replies = mux.send_packed_commands(&probe, 0, 2).await?;
    Ok(match replies.as_slice() {
        [Value::ServerError(e), ..] => Probe::NoMulti(e.clone()),
        [_, Value::ServerError(e)] => Probe::ExecRefused(e.clone()),
        _ => Probe::Allowed,
    })
}

/// True if the first reply is `LOADING`: the server refused the whole request.
fn is_loading(values: &[Value]) -> bool {
    matches!(values.first(), Some(Value::ServerError(e)) if e.code() == "LOADING")
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Polls `dead` for a while: the driver notices on its own task.
    fn becomes_dead(watch: &Watch) -> bool {
        (0..2000).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            watch.is_dead()
        })
    }

    #[test]
    fn a_connection_is_known_dead_once_its_runtime_is_gone() {
        let server = reem_server::RedisServer::start().unwrap();
        let iface = RedisInterface::new(&server.url()).unwrap();
        let crate::interface::SubscriberConfig::Node(client) = iface.subscriber_config() else {
            unreachable!("one server")
        };
        let node = AsyncNode::new(&iface, client);
        let rt = runtime();
        let conn = rt.block_on(node.connection("k")).unwrap();
        assert!(!conn.watch.is_dead());
        drop(rt);
        assert!(becomes_dead(&conn.watch));
        // Another runtime gets a connection of its own, and the dead one is forgotten.
        let rt = runtime();
        let again = rt.block_on(node.connection("k")).unwrap();
        assert!(!Arc::ptr_eq(&again.watch, &conn.watch));
        assert_eq!(node.runtimes.len(), 1);
    }

    #[test]
    fn a_connection_closed_by_the_server_is_known_dead_and_replaced_before_a_write() {
        let server = reem_server::RedisServer::start().unwrap();
        let iface = RedisInterface::new(&server.url()).unwrap();
        let crate::interface::SubscriberConfig::Node(client) = iface.subscriber_config() else {
            unreachable!("one server")
        };
        let node = AsyncNode::new(&iface, client);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let conn = rt.block_on(node.connection("k")).unwrap();
        let mut raw = redis::Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .exec(&mut raw)
            .unwrap();
        assert!(becomes_dead(&conn.watch));
        let mut cmds = Commands::new();
        cmds.cmd("SET").arg("k").arg("v");
        // Sent on a new connection: applied, and confirmed.
        rt.block_on(node.transaction("k", &cmds)).unwrap();
        let v: String = redis::cmd("GET").arg("k").query(&mut raw).unwrap();
        assert_eq!(v, "v");
    }
}
