//! The transport: the one place that turns queued [`Commands`] into bytes, sends them to
//! Redis and reads the replies.
//!
//! Everything above it (`kv`, `pubsub`, the dynamic reads, the CLI) queues commands with the
//! marshallers and hands them to a [`Transport`]: one MULTI/EXEC ([`Transport::transaction`])
//! or a pipeline of reads ([`Transport::pipeline`]). Behind the trait:
//!
//! | transport | file | connections |
//! |-----------|------|-------------|
//! | one node | [`node`] | a pool of reem's own blocking connections ([`conn`]), RESP built by [`resp`] |
//! | Redis Cluster | [`cluster`] | the `redis` crate's cluster connection (slot map, `MOVED`/`ASK`) driving reem's connections, pooled |
//! | async, one node | `aio` (feature `tokio`) | the `redis` crate's RESP3 multiplexed connection, one per tokio runtime |
//! | async, Redis Cluster | `aio_cluster` (feature `tokio`) | the `redis` crate's async cluster connection (slot map, `MOVED`/`ASK`) driving reem's node connections, one per tokio runtime |
//!
//! What the stores send and how they read the replies is written once, as [`plan`]s that
//! each face runs on its transport: the blocking one here, the async one in `aio`.
//!
//! # When a request is sent again
//! A write is sent again only when its bytes provably reached no server: the connection
//! could not be opened, a pooled connection was found closed before anything was sent on it,
//! the write failed before its last byte (the server runs a transaction only at `EXEC`, its
//! last command), or the server refused it before running it (`MOVED`, `ASK`, `TRYAGAIN`,
//! `CLUSTERDOWN` answered to a queued command make `EXEC` abort). A write whose reply was
//! lost is [`Error::Unconfirmed`], never sent again. Reads are idempotent and are sent again
//! once on a fresh connection when the connection failed (not when it timed out: the server
//! is slow, and another try would double the wait). On a cluster, a request that provably
//! did not run is also sent again on a fresh view of the cluster, with backoff, within the
//! interface's connect timeout ([`cluster`]). `docs/FORMAT.md` ("Delivery and retries")
//! states the rule per operation.

#[cfg(feature = "tokio")]
pub(crate) mod aio;
#[cfg(feature = "tokio")]
pub(crate) mod aio_cluster;
pub(crate) mod cluster;
pub(crate) mod conn;
pub(crate) mod node;
pub(crate) mod plan;
pub(crate) mod resp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use crate::error::{Error, Result};
use crate::marshal::Commands;

/// Where a connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Tcp { host: String, port: u16 },
    Tls { host: String, port: u16 },
    Unix(PathBuf),
}

impl Endpoint {
    /// The endpoint of a parsed URL's address; `None` for an address kind reem does not
    /// connect to.
    pub(crate) fn of(addr: &redis::ConnectionAddr) -> Option<Endpoint> {
        match addr {
            redis::ConnectionAddr::Tcp(host, port) => Some(Endpoint::Tcp {
                host: host.clone(),
                port: *port,
            }),
            redis::ConnectionAddr::TcpTls { host, port, .. } => Some(Endpoint::Tls {
                host: host.clone(),
                port: *port,
            }),
            redis::ConnectionAddr::Unix(path) => Some(Endpoint::Unix(path.clone())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Tls { host, port } => write!(f, "{host}:{port} (TLS)"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What every connection of an interface uses: credentials, database, timeouts, TLS.
#[derive(Clone)]
pub(crate) struct Settings {
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub connect_timeout: Duration,
    pub response_timeout: Option<Duration>,
    /// The most bytes of string values one reply may hold.
    pub max_reply: u64,
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The seam between reem and the wire: a node, a cluster, (async transports have their own
/// trait with the same two calls).
pub(crate) trait Transport: Send + Sync + 'static {
    /// Runs `cmds` as one `MULTI … EXEC` on the node that owns their key, and returns the
    /// replies of the commands (server errors met while running them are
    /// `Value::ServerError`s: the others were applied). A command refused before `EXEC`
    /// (nothing applied) is an `Err`. `key` names the key in errors.
    fn transaction(&self, key: &str, cmds: &Commands<'_>) -> Result<Vec<Value>>;

    /// Sends `cmds` in one round trip to the node that owns their key and returns their
    /// replies, server errors included as values. With [`Resend::IfLost`] (reads) they are
    /// sent once more on a fresh connection if the connection failed.
    fn pipeline(&self, key: &str, cmds: &Commands<'_>, resend: Resend) -> Result<Vec<Value>>;

    /// One name per master node (`host:port`), for commands that go to every node (`SCAN`).
    fn masters(&self) -> Result<Vec<String>>;

    /// Like [`pipeline`](Self::pipeline), on the master named `node` (from [`masters`](Self::masters)).
    fn pipeline_on(&self, node: &str, cmds: &Commands<'_>) -> Result<Vec<Value>>;

    /// The database number (always 0 on a cluster).
    fn db(&self) -> i64;

    /// True for a Redis Cluster.
    fn is_cluster(&self) -> bool;
}

/// May a request be sent again when its reply was lost?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Yes, once (reads and idempotent commands): not after a timeout.
    IfLost,
    /// Never: it may have been applied.
    Never,
}

/// Checks the replies to `MULTI`, the queued commands and `EXEC` (`replies` holds all of
/// them), and returns the replies of the commands.
///
/// An error reply to a queued command means `EXEC` aborted: nothing was applied, and the
/// first such error is returned ([`refused_before_exec`] says whether another try may
/// work).
pub(crate) fn exec_replies(key: &str, replies: Vec<Value>) -> Result<Vec<Value>> {
    let mut replies = replies.into_iter();
    if let Some(Value::ServerError(e)) = replies.next() {
        return Err(Error::from_server_error(key, &e));
    }
    let mut queued: Vec<Value> = replies.collect();
    let exec = queued.pop();
    if let Some(e) = queued.iter().find_map(|r| match r {
        Value::ServerError(e) => Some(e),
        _ => None,
    }) {
        return Err(Error::from_server_error(key, e));
    }
    match exec {
        Some(Value::Array(results)) => Ok(results),
        Some(Value::ServerError(e)) => Err(Error::from_server_error(key, &e)),
        other => Err(Error::WrongRedisType {
            key: key.to_owned(),
            found: format!("an unexpected reply to EXEC: {other:?}"),
        }),
    }
}

/// True for a refusal that leaves nothing applied and that another try may get past: the
/// slot moved (`MOVED`, `ASK`), the cluster is busy or reconfiguring (`TRYAGAIN`,
/// `CLUSTERDOWN`, `MASTERDOWN`), or the server is loading its data (`LOADING`).
#[allow(dead_code)]
pub(crate) fn refused_before_exec(e: &Error) -> bool {
    matches!(e, Error::Refused { code, .. }
        if matches!(code.as_str(), "MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "MASTERDOWN"))
}

/// `cmds` as a `redis` crate pipeline, for the transports built on the crate's async and
/// cluster connections (each argument copied once more: they carry reads and small writes).
pub(crate) fn pipeline_of(cmds: &Commands<'_>, atomic: bool) -> redis::Pipeline {
    let mut pipe = redis::Pipeline::with_capacity(cmds.len());
    if atomic {
        pipe.atomic();
    }
    add_commands(&mut pipe, cmds);
    pipe
}

/// `cmds` as one `MULTI … EXEC` in a plain (not atomic) `redis` crate pipeline: every reply
/// comes back (`MULTI`'s, one per queued command, `EXEC`'s), as [`exec_replies`] reads
/// them.
pub(crate) fn transaction_of(cmds: &Commands<'_>) -> redis::Pipeline {
    let mut pipe = redis::Pipeline::with_capacity(cmds.len() + 2);
    pipe.cmd("MULTI");
    add_commands(&mut pipe, cmds);
    pipe.cmd("EXEC");
    pipe
}

fn add_commands(pipe: &mut redis::Pipeline, cmds: &Commands<'_>) {
    for c in cmds.iter() {
        pipe.add_command(cmd_of(&c));
    }
}

/// One queued command as a `redis` crate command.
pub(crate) fn cmd_of(c: &crate::marshal::Command<'_>) -> redis::Cmd {
    // Sized once: the crate's buffers grow by doubling otherwise (a reallocation and a copy
    // per doubling, on every write of the async and cluster faces).
    let parts = c.parts();
    let bytes = parts.clone().map(<[u8]>::len).sum();
    let mut cmd = redis::Cmd::with_capacity(parts.len(), bytes);
    parts.for_each(|part| {
        cmd.arg(part);
    });
    cmd
}

/// The refusal of a write on a connection whose user may not run `MULTI` (found out when
/// the connection was opened): nothing is sent.
pub(crate) fn multi_refused(key: &str, code: &str, details: &str) -> Error {
    Error::Refused {
        key: key.to_owned(),
        code: code.to_owned(),
        message: format!(
            "{details} (this Redis user may not run MULTI: reem writes every message in one \
             transaction, so nothing was sent)"
        ),
    }
}

/// The shared handle on a transport.
pub(crate) type SharedTransport = Arc<dyn Transport>;
