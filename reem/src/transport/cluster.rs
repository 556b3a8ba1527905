//! [`Cluster`]: the transport to a Redis Cluster, on the `redis` crate's cluster connection.
//!
//! **Who does what.** The crate's sync [`ClusterConnection`] keeps the slot map, sends each
//! request to the master of its slot and follows `MOVED` (refreshing the map) and `ASK`
//! (`ASKING` first); reem writes no routing of its own. What reem brings is the per-node
//! connection the crate drives ([`NodeConn`], plugged in with the crate's
//! `ClusterClient::get_generic_connection`, public but `#[doc(hidden)]` in redis 1.8): it
//! is reem's own [`Connection`](super::conn::Connection), so a cluster node is reached
//! exactly as a single server is (TCP_NODELAY, TLS settings, credentials, timeouts, bounded
//! replies, and a check that a pooled connection is still open *before* anything is sent
//! on it).
//!
//! **Sent once.** The crate sends a request again by itself after a timeout or a closed
//! connection, even when the request was written and may have run (measured on redis 1.8.1:
//! one transaction applied 3 and 17 times). [`NodeConn`] takes that decision away from it:
//! once reem's request is written, a failure to read its replies is an error the crate
//! never retries, and reem reports it ([`Error::Unconfirmed`] for a write). Only failures
//! before the last byte left (connect refused, a pooled connection found closed, a failed
//! write: `EXEC` never arrived) reach the crate as the connection errors it retries on.
//!
//! **Replies past the crate.** A request is handed to the crate as the packed bytes of the
//! whole `MULTI … EXEC` (offset 0: with an offset the crate turns `MOVED` into an aborted
//! transaction and never refreshes its map), so that it routes on the first key and sees
//! the `MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `LOADING` or `READONLY`
//! answered to the queued commands (then `EXEC` aborted: nothing ran, and the crate
//! redirects or waits and sends it again). Any other answer is the outcome: [`NodeConn`]
//! keeps the real replies for reem (in a thread-local slot, filled and emptied within one
//! call on the calling thread) and hands the crate placeholders, so that errors inside the
//! `EXEC` reply (a script's refusal, `WRONGTYPE`) are never taken for a reason to resend.
//!
//! **Failover.** The crate's sync connection never recovers from a master that vanished
//! (it keeps reconnecting to the dead address and never refreshes its map: measured), so a
//! request that failed for a reason that proves nothing was applied (a node refused the
//! connection, the cluster is down or reconfiguring, `MOVED` after the crate's own
//! retries) drops the connection and every idle one, and is tried again on a new one with
//! backoff, for at most the interface's connect timeout. Connections are pooled
//! ([`MAX_IDLE`]); each holds one connection per node.
//!
//! **One slot per request.** Every key of a request must hash to one slot: reem checks it
//! before sending ([`one_slot`]) and refuses with `CROSSSLOT`, since the crate would
//! otherwise bounce a transaction whose keys live on two masters between them.
//!
//! **Not through the crate:** `SCAN` and the reads of the keys it finds go to one named
//! master ([`Transport::pipeline_on`]); the crate has no call that sends reem's bytes to a
//! given node, so each master gets a [`Node`] transport of its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConnection, Connect};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    ConnectionAddr, ConnectionInfo, ConnectionLike, ErrorKind, IntoConnectionInfo, RedisError,
    RedisResult, Value,
};

use super::conn::{ConnError, Connection};
use super::node::Node;
use super::{cmd_of, exec_replies, resp, Endpoint, Resend, Settings, Transport};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::marshal::{Command, Commands};

/// Cluster connections kept for reuse.
pub(crate) const MAX_IDLE: usize = 8;
/// How many times the crate itself redirects or waits on one request (`MOVED`, then `ASK`,
/// then `TRYAGAIN`…); at least 1, or it never refreshes its slot map.
const CRATE_RETRIES: u32 = 4;
/// The crate's wait between its own tries, in ms (its default starts at 1.28 s).
const CRATE_MIN_WAIT_MS: u64 = 5;
const CRATE_MAX_WAIT_MS: u64 = 100;
/// reem's wait before trying again on a new cluster connection, doubled up to the maximum.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);
/// The same for the crate's async cluster connections (subscriber link, `reem::aio`).
const ASYNC_CRATE_MIN_WAIT_MS: u64 = 10;
const ASYNC_CRATE_MAX_WAIT_MS: u64 = 200;
/// Number of hash slots.
const SLOTS: u16 = 16384;

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";

/// Server errors that mean "not run here, nothing applied, the crate knows what to do":
/// redirect, wait, or refresh the slot map and send again.
const FOR_THE_CRATE: [&str; 7] = [
    "MOVED",
    "ASK",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "LOADING",
    "READONLY",
];

/// The transport to a Redis Cluster.
pub(crate) struct Cluster {
    client: ClusterClient,
    settings: Arc<Settings>,
    /// The seeds, for error messages.
    seeds: String,
    /// Connections to named masters (`SCAN`).
    tls: bool,
    idle: Mutex<Vec<ClusterConnection<NodeConn>>>,
    nodes: Mutex<HashMap<String, Arc<Node>>>,
}

impl Cluster {
    /// The transport to the cluster that `seeds` belong to; connects once to check that it
    /// answers and to learn its slot map.
    pub(crate) fn connect(seeds: Vec<ConnectionInfo>, settings: Settings) -> Result<Self> {
        let tls = seeds
            .first()
            .is_some_and(|s| matches!(s.addr(), ConnectionAddr::TcpTls { .. }));
        let names = seed_names(&seeds);
        let client = ClusterClient::builder(seeds)
            .retries(CRATE_RETRIES)
            .min_retry_wait(CRATE_MIN_WAIT_MS)
            .max_retry_wait(CRATE_MAX_WAIT_MS)
            .connection_timeout(settings.connect_timeout)
            .build()
            .map_err(|e| Error::from_redis("", e))?;
        let cluster = Cluster {
            client,
            settings: Arc::new(settings),
            seeds: names,
            tls,
            idle: Mutex::new(Vec::new()),
            nodes: Mutex::new(HashMap::new()),
        };
        // Fails at once if no seed answers (as one server's interface does).
        let scope = Scope::enter(&cluster.settings);
        let con = cluster.take().map_err(|e| match cluster.error("", e) {
            Error::Io { source, .. } => Error::Io {
                context: format!("connecting to the Redis Cluster of {}", cluster.seeds),
                source,
            },
            other => other,
        })?;
        drop(scope);
        cluster.give_back(con);
        Ok(cluster)
    }

    /// A pooled cluster connection, or a new one (within a [`Scope`]).
    fn take(&self) -> RedisResult<ClusterConnection<NodeConn>> {
        let pooled = lock(&self.idle).pop();
        match pooled {
            Some(con) => Ok(con),
            None => self.client.get_generic_connection::<NodeConn>(),
        }
    }

    fn give_back(&self, con: ClusterConnection<NodeConn>) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(con);
        }
    }

    /// Runs `f` on a cluster connection, following the retry rule of the module: sent
    /// again on a new connection, with backoff and within the connect timeout, only when
    /// the error proves that nothing was applied; a lost reply only if `resend` allows it
    /// (once, not after a timeout).
    fn with_connection<T>(
        &self,
        key: &str,
        resend: Resend,
        mut f: impl FnMut(&mut ClusterConnection<NodeConn>) -> RedisResult<T>,
    ) -> Result<Outcome<T>> {
        let deadline = Instant::now() + self.settings.connect_timeout;
        let mut pause = FIRST_PAUSE;
        let mut resent = false;
        loop {
            let scope = Scope::enter(&self.settings);
            let (con, result) = match self.take() {
                Ok(mut con) => {
                    let result = f(&mut con);
                    (Some(con), result)
                }
                Err(e) => (None, Err(e)),
            };
            let e = match (result, scope.outcome()) {
                (Ok(value), answer) => {
                    self.give_back_some(con);
                    return Ok(match answer {
                        Some(Answer::Replies(replies)) => Outcome::Replies(replies, value),
                        // Every answer to reem's request goes through `NodeConn`: a call of
                        // the crate's own.
                        _ => Outcome::Value(value),
                    });
                }
                (Err(_), Some(Answer::Lost(e))) => {
                    // The node's connection is marked broken; the crate replaces it.
                    self.give_back_some(con);
                    let timeout = matches!(&e, ConnError::NoReply(io) if is_timeout(io));
                    if resend == Resend::IfLost && !resent && !timeout {
                        resent = true;
                        continue;
                    }
                    return Err(lost(key, e, resend, &self.settings));
                }
                (Err(_), Some(Answer::NoMulti(e))) => {
                    self.give_back_some(con);
                    return Err(super::multi_refused(
                        key,
                        e.code(),
                        e.details().unwrap_or(""),
                    ));
                }
                (Err(e), _) => e,
            };
            if !nothing_applied_and_may_pass(&e) {
                self.give_back_some(con);
                return Err(self.error(key, e));
            }
            // The cluster changed (a node vanished, a failover, a reconfiguration): the
            // crate's view in this connection and the idle ones may be stale.
            drop(con);
            lock(&self.idle).clear();
            if Instant::now() + pause >= deadline {
                return Err(self.error(key, e));
            }
            drop(scope);
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    fn give_back_some(&self, con: Option<ClusterConnection<NodeConn>>) {
        if let Some(con) = con {
            self.give_back(con);
        }
    }

    /// Sends reem's request `bytes` (`n` replies expected, `MULTI` and `EXEC` included) to
    /// the master of its slot.
    fn request(&self, key: &str, bytes: &[u8], n: usize, resend: Resend) -> Result<Vec<Value>> {
        match self.with_connection(key, resend, |con| con.req_packed_commands(bytes, 0, n))? {
            Outcome::Replies(replies, _) => Ok(replies),
            // Every answer goes through `NodeConn`, which keeps it: not reached.
            Outcome::Value(values) => Ok(values),
        }
    }

    /// Sends reem's one command `cmd` to the master of `slot` (a random node without one),
    /// routed by reem: the crate does not parse it back to find its key.
    fn request_one(
        &self,
        key: &str,
        cmd: &Command<'_>,
        slot: Option<u16>,
        resend: Resend,
    ) -> Result<Vec<Value>> {
        let packed = cmd_of(cmd);
        let route = RoutingInfo::SingleNode(match slot {
            Some(slot) => SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master)),
            None => SingleNodeRoutingInfo::Random,
        });
        let outcome = self.with_connection(key, resend, |con| {
            CALL.with(|c| c.borrow_mut().request = identity(&packed));
            con.route_command(&packed, route.clone())
        })?;
        match outcome {
            Outcome::Replies(replies, _) => Ok(replies),
            Outcome::Value(value) => Ok(vec![value]),
        }
    }

    fn error(&self, key: &str, e: RedisError) -> Error {
        cluster_error(key, e, &self.seeds)
    }

    /// The transport to the master named `node` (`host:port`).
    fn node(&self, node: &str) -> Result<Arc<Node>> {
        let mut nodes = lock(&self.nodes);
        if let Some(n) = nodes.get(node) {
            return Ok(Arc::clone(n));
        }
        let (host, port) = node
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse().ok()?)))
            .ok_or_else(|| Error::InvalidUrl {
                url: node.to_owned(),
                reason: "not a cluster node (host:port)".to_owned(),
            })?;
        let endpoint = if self.tls {
            Endpoint::Tls {
                host: host.to_owned(),
                port,
            }
        } else {
            Endpoint::Tcp {
                host: host.to_owned(),
                port,
            }
        };
        let transport = Arc::new(Node::connect(endpoint, (*self.settings).clone())?);
        nodes.insert(node.to_owned(), Arc::clone(&transport));
        Ok(transport)
    }
}

/// The seed nodes' addresses, for error messages (`host:port, host:port`).
pub(crate) fn seed_names(seeds: &[ConnectionInfo]) -> String {
    seeds
        .iter()
        .map(|s| s.addr().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The crate's async cluster client for `iface`'s seeds, as reem's async connections to a
/// cluster use it: RESP3 (a node connection that dies reports it, and the crate reconnects
/// it at once), TCP_NODELAY, the interface's timeouts and TLS certificates, and short waits
/// between the crate's own tries ([`CRATE_RETRIES`] of them).
pub(crate) fn async_client_builder(
    seeds: &[ConnectionInfo],
    #[cfg(feature = "tls")] certs: Option<&redis::TlsCertificates>,
    iface: &crate::RedisInterface,
) -> redis::cluster::ClusterClientBuilder {
    let mut builder = redis::cluster::ClusterClientBuilder::new(seeds.to_vec())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .retries(CRATE_RETRIES)
        .min_retry_wait(ASYNC_CRATE_MIN_WAIT_MS)
        .max_retry_wait(ASYNC_CRATE_MAX_WAIT_MS)
        .connection_timeout(iface.connect_timeout())
        .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    if let Some(t) = iface.response_timeout() {
        // Per reply from a node only. The crate would also use it as a timeout of the whole
        // request (retries included) that races the node's: when it fires first, the
        // request is dropped with a plain timeout error that does not say whether it was
        // sent (measured: a paused master's transaction sent 2 and 3 times), so there is
        // none; the crate's tries are bounded by their count.
        builder = builder.response_timeout(t).overall_response_timeout(None);
    }
    #[cfg(feature = "tls")]
    if let Some(certs) = certs {
        builder = builder.certs(certs.clone());
    }
    builder
}

/// What a call through the crate produced.
enum Outcome<T> {
    /// reem's request was answered: its real replies (and what the crate returned).
    Replies(Vec<Value>, T),
    /// A call of the crate's own (no request of reem's inside).
    Value(T),
}

impl Transport for Cluster {
    fn transaction(&self, key: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        one_slot(key, cmds)?;
        // The crate routes it on its first command after `MULTI` (it parses it back).
        let bytes = resp::transaction(cmds);
        let replies = self.request(key, &bytes, cmds.len() + 2, Resend::Never)?;
        exec_replies(key, replies)
    }

    fn pipeline(&self, key: &str, cmds: &Commands<'_>, resend: Resend) -> Result<Vec<Value>> {
        let slot = one_slot(key, cmds)?;
        if let (1, Some(cmd)) = (cmds.len(), cmds.get(0)) {
            return self.request_one(key, &cmd, slot, resend);
        }
        let bytes = resp::pipeline(cmds);
        self.request(key, &bytes, cmds.len(), resend)
    }

    fn masters(&self) -> Result<Vec<String>> {
        let slots = redis::cmd("CLUSTER").arg("SLOTS").to_owned();
        let reply = match self.with_connection("", Resend::IfLost, |con| {
            con.route_command(
                &slots,
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
        })? {
            Outcome::Replies(mut r, _) => r.pop().unwrap_or(Value::Nil),
            Outcome::Value(v) => v,
        };
        let fallback_host = self.client_host().unwrap_or_else(|| "127.0.0.1".to_owned());
        masters_in(&reply, &fallback_host)
    }

    fn pipeline_on(&self, node: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        self.node(node)?.pipeline("", cmds, Resend::IfLost)
    }

    fn db(&self) -> i64 {
        0
    }

    fn is_cluster(&self) -> bool {
        true
    }
}

impl Cluster {
    /// The host of the first seed (for a `CLUSTER SLOTS` entry without one).
    fn client_host(&self) -> Option<String> {
        self.seeds
            .split(", ")
            .next()
            .and_then(|s| s.rsplit_once(':'))
            .map(|(h, _)| h.to_owned())
    }
}

/// The masters (`host:port`, sorted, each once) in a `CLUSTER SLOTS` reply.
fn masters_in(reply: &Value, fallback_host: &str) -> Result<Vec<String>> {
    let bad = |what: &str| Error::WrongRedisType {
        key: String::new(),
        found: format!("an unexpected reply to CLUSTER SLOTS: {what}"),
    };
    let Value::Array(ranges) = reply else {
        return Err(bad(&format!("{reply:?}")));
    };
    let mut masters = Vec::new();
    for range in ranges {
        let master = match range {
            Value::Array(r) => r.get(2),
            _ => None,
        };
        let Some(Value::Array(master)) = master else {
            return Err(bad("a range without its master"));
        };
        let host = match master.first() {
            Some(Value::BulkString(h)) if !h.is_empty() && h != b"?" => {
                String::from_utf8_lossy(h).into_owned()
            }
            Some(Value::SimpleString(h)) if !h.is_empty() && h != "?" => h.clone(),
            _ => fallback_host.to_owned(),
        };
        let Some(Value::Int(port)) = master.get(1) else {
            return Err(bad("a master without its port"));
        };
        let name = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        masters.push(name);
    }
    masters.sort();
    masters.dedup();
    Ok(masters)
}

/// The error for the crate's error `e` about `key`, naming the cluster by its `seeds`.
pub(crate) fn cluster_error(key: &str, e: RedisError, seeds: &str) -> Error {
    match Error::from_redis(key, e) {
        Error::Io { context, source } => Error::Io {
            context: format!("{context} on the Redis Cluster of {seeds}"),
            source,
        },
        Error::Timeout { context } => Error::Timeout {
            context: format!("{context} on the Redis Cluster of {seeds}"),
        },
        Error::Redis(e) => Error::Io {
            context: format!("key {key:?} on the Redis Cluster of {seeds}"),
            source: io::Error::other(e.to_string()),
        },
        other => other,
    }
}

/// True if the crate's error proves that reem's request was not applied, and another try
/// on a new connection may pass: a node could not be reached or its connection was found
/// closed before sending, the cluster is down or reconfiguring, or the slot kept moving.
pub(crate) fn nothing_applied_and_may_pass(e: &RedisError) -> bool {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        return true;
    }
    if matches!(e.code(), Some(code) if FOR_THE_CRATE.contains(&code)) {
        return true;
    }
    // "No connections found", "Slot refresh error": the crate lost its view of the cluster.
    matches!(
        e.kind(),
        ErrorKind::ClusterConnectionNotFound | ErrorKind::Client
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The error for reem's request whose replies were lost after it was sent.
fn lost(key: &str, e: ConnError, resend: Resend, settings: &Settings) -> Error {
    let context = format!("key {key:?} on the Redis Cluster");
    match e {
        ConnError::NoReply(io) if resend == Resend::Never => Error::Unconfirmed {
            key: key.to_owned(),
            reason: if is_timeout(&io) {
                "no reply within the response timeout".to_owned()
            } else {
                io.to_string()
            },
        },
        ConnError::NoReply(io) | ConnError::NotSent(io) if is_timeout(&io) => {
            Error::Timeout { context }
        }
        ConnError::NoReply(io) | ConnError::NotSent(io) => Error::Io {
            context,
            source: io,
        },
        ConnError::Protocol(p) => Error::Io {
            context,
            source: io::Error::new(io::ErrorKind::InvalidData, p),
        },
        ConnError::TooLarge { size } => Error::TooLarge {
            key: key.to_owned(),
            size,
            limit: settings.max_reply,
        },
        ConnError::Handshake(e) => Error::from_server_error(key, &e),
    }
}

// ---------------------------------------------------------------------------------------
// One slot per request.

/// The hash slot of `key`: CRC16 (XMODEM) of its hash tag, or of the whole key, mod 16384.
pub(crate) fn slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key).unwrap_or(key)) % SLOTS
}

/// The part of `key` Redis Cluster hashes: the bytes between the first `{` and the first `}`
/// after it, when not empty.
pub(crate) fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let close = key[open + 1..].iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Commands whose every argument is a key.
const ALL_KEYS: [&str; 6] = ["UNLINK", "DEL", "EXISTS", "MGET", "TOUCH", "WATCH"];
/// Commands with `numkeys` keys after their first argument.
const COUNTED_KEYS: [&str; 6] = [
    "EVAL",
    "EVALSHA",
    "EVAL_RO",
    "EVALSHA_RO",
    "FCALL",
    "FCALL_RO",
];
/// Commands without keys (`PUBLISH`'s channel is cluster-wide).
const NO_KEYS: [&str; 35] = [
    "PUBLISH",
    "PING",
    "ECHO",
    "MULTI",
    "EXEC",
    "DISCARD",
    "INFO",
    "TIME",
    "SCRIPT",
    "FUNCTION",
    "CONFIG",
    "CLIENT",
    "CLUSTER",
    "COMMAND",
    "ACL",
    "SELECT",
    "AUTH",
    "HELLO",
    "READONLY",
    "READWRITE",
    "ASKING",
    "DBSIZE",
    "FLUSHALL",
    "FLUSHDB",
    "KEYS",
    "SCAN",
    "RANDOMKEY",
    "WAIT",
    "MEMORY",
    "LATENCY",
    "SLOWLOG",
    "DEBUG",
    "LASTSAVE",
    "SAVE",
    "BGSAVE",
];

/// Calls `f` with each key of one command, as Redis Cluster sees them (for the one-slot
/// check): every argument of the multi-key deletes and reads, the declared keys of a
/// script, none for commands without keys, else the first argument (`MSET`: every other).
fn each_key<'c>(cmd: &Command<'c>, mut f: impl FnMut(&'c [u8]) -> Result<()>) -> Result<()> {
    let is = |names: &[&str]| names.iter().any(|n| cmd.is(n));
    let mut args = cmd.args();
    if is(&ALL_KEYS) {
        args.try_for_each(f)
    } else if is(&["MSET", "MSETNX"]) {
        args.step_by(2).try_for_each(f)
    } else if is(&COUNTED_KEYS) {
        let n = args
            .clone()
            .nth(1)
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        args.skip(2).take(n).try_for_each(f)
    } else if is(&NO_KEYS) {
        Ok(())
    } else {
        args.next().map_or(Ok(()), &mut f)
    }
}

/// The one slot of a request's keys (`None` if it has none); refuses (`CROSSSLOT`, nothing
/// sent) a request whose keys do not all hash to one slot.
pub(crate) fn one_slot(key: &str, cmds: &Commands<'_>) -> Result<Option<u16>> {
    let mut first: Option<(&[u8], u16)> = None;
    for cmd in cmds.iter() {
        each_key(&cmd, |k| {
            let s = slot(k);
            match first {
                None => first = Some((k, s)),
                Some((_, f)) if f == s => {}
                Some((fk, f)) => {
                    return Err(Error::Refused {
                        key: key.to_owned(),
                        code: "CROSSSLOT".to_owned(),
                        message: format!(
                            "the keys {:?} (slot {f}) and {:?} (slot {s}) of one request are in \
                             different slots of the Redis Cluster; nothing was sent (keys that \
                             share a {{hash tag}} share a slot)",
                            String::from_utf8_lossy(fk),
                            String::from_utf8_lossy(k),
                        ),
                    })
                }
            }
            Ok(())
        })?;
    }
    Ok(first.map(|(_, slot)| slot))
}

// ---------------------------------------------------------------------------------------
// The per-node connection the crate drives.

thread_local! {
    /// The call in progress on this thread: the settings connections are opened with, and
    /// what became of reem's request. Set and emptied by [`Scope`].
    static CALL: RefCell<Call> = const {
        RefCell::new(Call {
            settings: None,
            answer: None,
            request: 0,
        })
    };
}

struct Call {
    settings: Option<Arc<Settings>>,
    answer: Option<Answer>,
    /// The address of reem's one-command request ([`identity`]), 0 if none: the crate
    /// hands it to [`NodeConn`] as given, its own commands are other values.
    request: usize,
}

/// Tells a command apart from the crate's own: its address (compared, never dereferenced).
fn identity(cmd: &redis::Cmd) -> usize {
    cmd as *const redis::Cmd as usize
}

/// What became of reem's request, seen by [`NodeConn`].
enum Answer {
    /// Answered: the real replies (the crate got placeholders).
    Replies(Vec<Value>),
    /// Sent, and its replies lost: the crate got an error it never retries.
    Lost(ConnError),
    /// Not sent: this user may not run `MULTI` on the node.
    NoMulti(redis::ServerError),
}

/// One call into the crate on this thread.
struct Scope;

impl Scope {
    fn enter(settings: &Arc<Settings>) -> Scope {
        CALL.with(|c| {
            let mut c = c.borrow_mut();
            c.settings = Some(Arc::clone(settings));
            c.answer = None;
            c.request = 0;
        });
        Scope
    }

    fn outcome(&self) -> Option<Answer> {
        CALL.with(|c| c.borrow_mut().answer.take())
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CALL.with(|c| {
            let mut c = c.borrow_mut();
            c.settings = None;
            c.answer = None;
            c.request = 0;
        });
    }
}

fn record(answer: Answer) {
    CALL.with(|c| c.borrow_mut().answer = Some(answer));
}

/// reem's connection to one node, as the crate's cluster connection drives it.
///
/// `req_packed_commands` carries reem's requests (the crate calls it for nothing else);
/// `req_packed_command` the crate's own commands (`PING`, `CLUSTER SLOTS`, `ASKING`).
pub(crate) struct NodeConn {
    con: Connection,
    max_reply: u64,
    /// Where a command handed over by the crate is packed.
    buf: Vec<u8>,
}

/// The error for a request not sent: the crate reconnects and may send it.
fn not_sent(why: &str) -> RedisError {
    io::Error::new(io::ErrorKind::BrokenPipe, why.to_owned()).into()
}

impl Connect for NodeConn {
    fn connect<T: IntoConnectionInfo>(info: T, _timeout: Option<Duration>) -> RedisResult<Self> {
        let info = info.into_connection_info()?;
        let endpoint = match Endpoint::of(info.addr()) {
            Some(endpoint @ (Endpoint::Tcp { .. } | Endpoint::Tls { .. })) => endpoint,
            _ => {
                return Err(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "cluster nodes are reached over TCP",
                )))
            }
        };
        let settings = CALL.with(|c| c.borrow().settings.clone()).ok_or_else(|| {
            RedisError::from((
                ErrorKind::Client,
                "reem: a cluster connection was opened outside a call",
            ))
        })?;
        match Connection::open(&endpoint, &settings) {
            Ok(con) => Ok(NodeConn {
                con,
                max_reply: settings.max_reply,
                buf: Vec::new(),
            }),
            Err(ConnError::NotSent(e) | ConnError::NoReply(e)) => Err(e.into()),
            Err(ConnError::Handshake(e)) => Err(e.into()),
            Err(ConnError::Protocol(p)) => {
                Err(io::Error::new(io::ErrorKind::InvalidData, p).into())
            }
            Err(ConnError::TooLarge { size }) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a handshake reply of {size} bytes"),
            )
            .into()),
        }
    }

    fn send_packed_command(&mut self, cmd: &[u8]) -> RedisResult<()> {
        if self.con.is_stale() {
            return Err(not_sent("the connection was closed"));
        }
        self.con
            .request(cmd, 0, 0)
            .map(drop)
            .map_err(internal_error)
    }

    fn set_write_timeout(&self, _: Option<Duration>) -> RedisResult<()> {
        // The interface's timeouts are set when the connection is opened.
        Ok(())
    }

    fn set_read_timeout(&self, _: Option<Duration>) -> RedisResult<()> {
        Ok(())
    }

    fn recv_response(&mut self) -> RedisResult<Value> {
        self.con
            .request(&[], 1, self.max_reply)
            .map(|mut v| v.pop().unwrap_or(Value::Nil))
            .map_err(internal_error)
    }
}

/// An error of one of the crate's own commands (idempotent: the crate may resend them).
fn internal_error(e: ConnError) -> RedisError {
    match e {
        ConnError::NotSent(e) | ConnError::NoReply(e) => e.into(),
        ConnError::Protocol(p) => io::Error::new(io::ErrorKind::ConnectionAborted, p).into(),
        ConnError::TooLarge { size } => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("a reply of {size} bytes is over the limit"),
        )
        .into(),
        ConnError::Handshake(e) => e.into(),
    }
}

impl ConnectionLike for NodeConn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        if self.con.is_stale() {
            return Err(not_sent("the connection was closed"));
        }
        self.con
            .request(cmd, 1, self.max_reply)
            .map(|mut v| v.pop().unwrap_or(Value::Nil))
            .map_err(internal_error)
    }

    fn req_command(&mut self, cmd: &redis::Cmd) -> RedisResult<Value> {
        let ours = CALL.with(|c| c.borrow().request == identity(cmd));
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        cmd.write_packed_command(&mut buf);
        let reply = if ours {
            self.request(&buf, 0, 1)
                .map(|mut v| v.pop().unwrap_or(Value::Nil))
        } else {
            self.req_packed_command(&buf)
        };
        self.buf = buf;
        reply
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.request(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        0
    }

    fn check_connection(&mut self) -> bool {
        !self.con.is_stale()
            && matches!(
                self.con
                    .request(b"*1\r\n$4\r\nPING\r\n", 1, 1024)
                    .as_deref(),
                Ok([Value::SimpleString(_)])
            )
    }

    fn is_open(&self) -> bool {
        // Checked before every use (`is_stale`, which needs `&mut`).
        true
    }
}

impl NodeConn {
    /// reem's request `cmd` (`offset + count` replies, the crate wants the last `count`):
    /// sent once; a lost reply is an error the crate never retries; the replies go past the
    /// crate unless they are a refusal the crate acts on.
    fn request(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        if self.con.is_stale() {
            return Err(not_sent("the connection was closed"));
        }
        let transaction = cmd.starts_with(MULTI);
        if transaction {
            if let Err(e) = self.con.transactions() {
                record(Answer::NoMulti(e.clone()));
                return Err(RedisError::from((
                    ErrorKind::Client,
                    "reem: this user may not run MULTI",
                )));
            }
        }
        let mut values = match self.con.request(cmd, offset + count, self.max_reply) {
            Ok(values) => values,
            // The request's last byte never left: `EXEC` never arrived, nothing ran.
            Err(ConnError::NotSent(e)) => return Err(e.into()),
            Err(e) => {
                record(Answer::Lost(e));
                return Err(RedisError::from((
                    ErrorKind::Client,
                    "reem: the request was sent and its reply lost",
                )));
            }
        };
        let refused_before_running =
            !transaction || matches!(values.last(), Some(Value::ServerError(_)));
        let for_the_crate = refused_before_running
            && values
                .iter()
                .any(|v| matches!(v, Value::ServerError(e) if FOR_THE_CRATE.contains(&e.code())));
        if for_the_crate {
            return Ok(values.split_off(offset.min(values.len())));
        }
        if transaction
            && matches!(values.last(), Some(Value::ServerError(e)) if e.code() != "EXECABORT")
        {
            // `EXEC` itself was refused: the connection may still be inside `MULTI`.
            self.con.set_broken();
        }
        record(Answer::Replies(values));
        Ok(vec![Value::Nil; count])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_redis_cluster_slots() {
        // CRC16/XMODEM check value, and slots Redis gives (CLUSTER KEYSLOT).
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
    }

    #[test]
    fn one_request_one_slot() {
        let mut cmds = Commands::new();
        cmds.cmd("UNLINK").arg("{a}x");
        cmds.cmd("HSET").arg("{a}x").arg("f").arg("v");
        cmds.cmd("EVAL")
            .arg("return 1")
            .arg("1")
            .arg("{a}y")
            .arg("z");
        cmds.cmd("PUBLISH").arg("elsewhere").arg("n");
        cmds.cmd("SPUBLISH").arg("{a}").arg("n");
        assert!(one_slot("{a}x", &cmds).is_ok());
        cmds.cmd("HSET").arg("b").arg("f").arg("v");
        match one_slot("{a}x", &cmds) {
            Err(Error::Refused { code, message, .. }) => {
                assert_eq!(code, "CROSSSLOT");
                assert!(message.contains("\"b\""), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn masters_come_from_cluster_slots() {
        let node = |host: &[u8], port| {
            Value::Array(vec![
                Value::BulkString(host.to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(5), node(b"10.0.0.2", 7001)]),
            Value::Array(vec![Value::Int(6), Value::Int(9), node(b"", 7000)]),
            Value::Array(vec![
                Value::Int(10),
                Value::Int(16383),
                node(b"10.0.0.2", 7001),
            ]),
        ]);
        assert_eq!(
            masters_in(&reply, "h").unwrap(),
            ["10.0.0.2:7001", "h:7000"]
        );
        assert!(masters_in(&Value::Int(1), "h").is_err());
    }
}
