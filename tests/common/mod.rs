//! Shared harness: a private redis-server per test, or the local Redis Cluster of the test
//! binary, with raw `redis` access to either.
//!
//! Tests that run on both topologies are written once, as `fn name(h: Harness)`, and listed
//! in [`on_both!`]: `name::server` runs it on a private redis-server of its own,
//! `name::cluster` on the binary's Redis Cluster (3 masters, 3 replicas; started by the first
//! cluster test, shared by all, one test at a time, emptied before each).
#![allow(dead_code)]

pub mod faces;

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, OnceLock};

use reem::{KeyValueStore, RedisInterface};
use reem_server::{RedisCluster, RedisServer};

/// Generates, for each test function `fn name(h: Harness)`, the two tests `name::server` and
/// `name::cluster`.
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn server() {
                super::$name(super::common::Harness::start())
            }

            #[test]
            fn cluster() {
                super::$name(super::common::Harness::cluster())
            }
        }
    )+};
}
#[allow(unused_imports)]
pub(crate) use on_both;

/// What a test runs against; derefs to the single server (tests that need one).
pub enum Server {
    Single(RedisServer),
    Cluster(&'static RedisCluster),
}

impl Deref for Server {
    type Target = RedisServer;

    fn deref(&self) -> &RedisServer {
        match self {
            Server::Single(s) => s,
            Server::Cluster(_) => panic!("this test needs a single redis-server, not a cluster"),
        }
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut RedisServer {
        match self {
            Server::Single(s) => s,
            Server::Cluster(_) => panic!("this test needs a single redis-server, not a cluster"),
        }
    }
}

/// A private server (or the shared cluster), an interface and a store on it; a private
/// server stops when this drops.
pub struct Harness {
    pub server: Server,
    pub iface: RedisInterface,
    pub kv: KeyValueStore,
    /// Cluster tests take turns (they share the cluster and its keys).
    _turn: Option<MutexGuard<'static, ()>>,
}

static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

/// The local Redis Cluster of this test binary, started by the first test that asks (its
/// servers end with the process, however it ends).
pub fn shared_cluster() -> &'static RedisCluster {
    CLUSTER.get_or_init(|| RedisCluster::start().expect("start a local Redis Cluster"))
}

impl Harness {
    /// A private redis-server of its own.
    pub fn start() -> Self {
        let server = RedisServer::start().expect("start a private redis-server");
        let iface =
            RedisInterface::new(&server.url()).expect("connect to the private redis-server");
        let kv = KeyValueStore::new(&iface);
        Harness {
            server: Server::Single(server),
            iface,
            kv,
            _turn: None,
        }
    }

    /// The binary's Redis Cluster, emptied, for this test alone until it drops.
    pub fn cluster() -> Self {
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let cluster = shared_cluster();
        for m in cluster.masters().expect("the cluster's masters") {
            let mut con = redis::Client::open(cluster.nodes()[m].url())
                .unwrap()
                .get_connection()
                .unwrap();
            redis::cmd("FLUSHALL").exec(&mut con).unwrap();
            redis::cmd("SCRIPT").arg("FLUSH").exec(&mut con).unwrap();
        }
        let iface = RedisInterface::cluster(&cluster.urls()).expect("connect to the cluster");
        assert!(iface.is_cluster());
        let kv = KeyValueStore::new(&iface);
        Harness {
            server: Server::Cluster(cluster),
            iface,
            kv,
            _turn: Some(turn),
        }
    }

    /// True on the cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.server, Server::Cluster(_))
    }

    /// A new interface (its own connections and subscriber thread) to the same server or
    /// cluster.
    pub fn another_iface(&self) -> RedisInterface {
        match &self.server {
            Server::Single(s) => RedisInterface::new(&s.url()).unwrap(),
            Server::Cluster(c) => RedisInterface::cluster(&c.urls()).unwrap(),
        }
    }

    /// A plain `redis` connection to the same server (a cluster connection on the cluster),
    /// for writing and checking raw data.
    pub fn raw(&self) -> Raw {
        match &self.server {
            Server::Single(s) => Raw::Node(
                redis::Client::open(s.url())
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            ),
            Server::Cluster(c) => Raw::Cluster(Box::new(
                redis::cluster::ClusterClient::new(c.urls())
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            )),
        }
    }

    /// The command that notifies a topic's subscribers: `PUBLISH`, `SPUBLISH` on a cluster.
    pub fn publish_command(&self) -> &'static str {
        if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// `HGET key field` through the raw connection.
    pub fn hget(&self, key: &str, field: &str) -> Option<Vec<u8>> {
        redis::cmd("HGET")
            .arg(key)
            .arg(field)
            .query(&mut self.raw())
            .unwrap()
    }

    /// The stored field names of `key`, sorted.
    pub fn hkeys(&self, key: &str) -> Vec<String> {
        let mut k: Vec<String> = redis::cmd("HKEYS").arg(key).query(&mut self.raw()).unwrap();
        k.sort();
        k
    }

    /// Writes raw `field value` pairs as the hash at `key` (replacing it).
    pub fn write_raw(&self, key: &str, pairs: &[(&str, &[u8])]) {
        let mut con = self.raw();
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(key).ignore();
        pipe.cmd("HSET").arg(key);
        for (f, v) in pairs {
            pipe.arg(*f).arg(*v);
        }
        pipe.ignore();
        pipe.query::<()>(&mut con).unwrap();
    }

    /// Sets one field of an existing hash.
    pub fn hset(&self, key: &str, field: &str, value: &[u8]) {
        redis::cmd("HSET")
            .arg(key)
            .arg(field)
            .arg(value)
            .exec(&mut self.raw())
            .unwrap();
    }
}

/// Checks an error met during an outage (a failover): a typed connection error or refusal
/// that names a key starting with `prefix`; returns it as shown.
pub fn outage_error(e: &reem::Error, prefix: &str) -> String {
    let shown = e.to_string();
    assert!(shown.contains(prefix), "the error names the key: {shown}");
    assert!(
        matches!(
            e,
            reem::Error::Io { .. }
                | reem::Error::Timeout { .. }
                | reem::Error::Unconfirmed { .. }
                | reem::Error::Refused { .. }
        ),
        "{e:?}"
    );
    shown
}

/// A raw connection: to the one server, or to the cluster (routed by the crate).
pub enum Raw {
    Node(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Raw {
    /// Reads one more reply (after `MONITOR`) on the single server's connection.
    pub fn recv_response(&mut self) -> redis::RedisResult<redis::Value> {
        match self {
            Raw::Node(c) => c.recv_response(),
            Raw::Cluster(_) => panic!("this test needs a single redis-server, not a cluster"),
        }
    }

    /// The single server's connection in pub/sub mode.
    pub fn as_pubsub(&mut self) -> redis::PubSub<'_> {
        match self {
            Raw::Node(c) => c.as_pubsub(),
            Raw::Cluster(_) => panic!("this test needs a single redis-server, not a cluster"),
        }
    }
}

impl redis::ConnectionLike for Raw {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
        match self {
            Raw::Node(c) => c.req_packed_command(cmd),
            Raw::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        match self {
            Raw::Node(c) => c.req_packed_commands(cmd, offset, count),
            Raw::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        match self {
            Raw::Node(c) => c.req_command(cmd),
            Raw::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Raw::Node(c) => c.get_db(),
            Raw::Cluster(c) => c.get_db(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Raw::Node(c) => c.check_connection(),
            Raw::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Raw::Node(c) => c.is_open(),
            Raw::Cluster(c) => c.is_open(),
        }
    }
}
