//! [`RedisCluster`]: a local Redis Cluster of private servers, for tests.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::resp::{info_field, Conn, Value};
use crate::{Error, RedisServer, Result};

/// Number of hash slots of a Redis Cluster.
const SLOTS: u32 = 16384;
/// How long a new cluster may take to agree on its slot map.
const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys moved per `MIGRATE`.
const BATCH: usize = 100;

/// A local Redis Cluster: `masters` × (1 + `replicas`) private `redis-server`s with
/// `--cluster-enabled yes`, joined by `redis-cli --cluster create`, each in its own private
/// directory, all stopped on drop or when the process that started them ends in any way
/// (each runs under the watchdog of [`RedisServer`]).
///
/// Nodes are numbered from 0 in start order; which of them are masters is decided by
/// `redis-cli` and changes on failover: ask [`masters`](Self::masters) or
/// [`master_of_key`](Self::master_of_key).
///
/// ```no_run
/// let cluster = reem_server::RedisCluster::start()?;  // 3 masters, 3 replicas
/// let seeds = cluster.urls();
/// let node = cluster.master_of_key("robot/pose")?;
/// println!("robot/pose is on {}", cluster.nodes()[node].url());
/// # Ok::<(), reem_server::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<ClusterNode>,
}

/// One node of a [`RedisCluster`].
#[derive(Debug)]
pub struct ClusterNode {
    server: RedisServer,
    id: String,
    killed: bool,
}

impl ClusterNode {
    /// The node's cluster ID (40 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its TCP port (its cluster bus is port + 10000).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Its private directory (`redis.log` and `nodes.conf` are there).
    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    /// The PID of its `redis-server` (`None` once killed).
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// The server itself.
    pub fn server(&self) -> &RedisServer {
        &self.server
    }

    /// True once [`RedisCluster::kill_node`] killed it.
    pub fn is_killed(&self) -> bool {
        self.killed
    }
}

/// Options for a [`RedisCluster`].
#[derive(Debug, Clone)]
pub struct RedisClusterBuilder {
    masters: usize,
    replicas: usize,
    node_timeout: Duration,
    args: Vec<String>,
}

impl RedisClusterBuilder {
    /// Number of masters (at least 3, what `redis-cli --cluster create` requires).
    pub fn masters(mut self, n: usize) -> Self {
        self.masters = n;
        self
    }

    /// Replicas per master.
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// `cluster-node-timeout`: how long a node may be unreachable before it is failed over
    /// (default 2 s, so failover tests are quick).
    pub fn node_timeout(mut self, t: Duration) -> Self {
        self.node_timeout = t;
        self
    }

    /// Extra `redis-server` arguments for every node.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Starts the nodes, joins them into a cluster and waits until every node reports
    /// `cluster_state:ok` and all agree on the slot map.
    pub fn start(self) -> Result<RedisCluster> {
        if self.masters < 3 {
            return Err(Error::new("a Redis Cluster needs at least 3 masters"));
        }
        let cli = redis_cli()?;
        let mut nodes = Vec::new();
        for _ in 0..self.masters * (1 + self.replicas) {
            let server = RedisServer::builder()
                .cluster_node()
                .args([
                    "--cluster-node-timeout".to_owned(),
                    self.node_timeout.as_millis().to_string(),
                    // Replicas sync at once instead of after the default 5 s delay.
                    "--repl-diskless-sync-delay".to_owned(),
                    "0".to_owned(),
                ])
                .args(self.args.iter().cloned())
                .start()?;
            nodes.push(ClusterNode {
                server,
                id: String::new(),
                killed: false,
            });
        }
        let mut create = Command::new(&cli);
        create.args(["--cluster", "create"]);
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port()));
        }
        let out = create
            .args([
                "--cluster-replicas",
                &self.replicas.to_string(),
                "--cluster-yes",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("cannot run {cli:?}: {e}")))?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            return Err(Error::new(format!(
                "redis-cli --cluster create failed ({}): {}",
                out.status,
                tail.join(" | ")
            )));
        }
        for n in &mut nodes {
            n.id = Conn::tcp(n.port())
                .map_err(|e| e.to_string())
                .and_then(|mut c| c.ask(&["CLUSTER", "MYID"])?.text())
                .map_err(|e| Error::new(format!("node {}: {e}", n.port())))?;
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok(FORM_TIMEOUT)?;
        Ok(cluster)
    }
}

/// `$REEM_REDIS_CLI` or `redis-cli`, checked to run.
fn redis_cli() -> Result<String> {
    let cli = std::env::var("REEM_REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned());
    match Command::new(&cli)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => Ok(cli),
        Ok(out) => Err(Error::new(format!(
            "{cli:?} --version failed ({}); a Redis Cluster needs a working redis-cli",
            out.status
        ))),
        Err(e) => Err(Error::new(format!(
            "cannot run {cli:?} ({e}); a Redis Cluster needs it: install it (apt-get install \
             redis-tools) or set REEM_REDIS_CLI"
        ))),
    }
}

/// One slot range and the port of its master.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Range {
    start: u32,
    end: u32,
    master: u16,
}

impl RedisCluster {
    /// Starts 3 masters and 3 replicas (see [`RedisCluster::builder`] for other shapes).
    pub fn start() -> Result<RedisCluster> {
        Self::builder().start()
    }

    /// Options for a cluster.
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder {
            masters: 3,
            replicas: 1,
            node_timeout: Duration::from_secs(2),
            args: Vec::new(),
        }
    }

    /// Seed URLs (`redis://127.0.0.1:PORT`) of every node not killed.
    pub fn urls(&self) -> Vec<String> {
        self.live().map(|i| self.nodes[i].url()).collect()
    }

    /// Every node, in start order (killed ones included).
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    /// Kills node `i` at once (SIGKILL), as a crash would; its replica takes over after the
    /// node timeout ([`wait_until_ok`](Self::wait_until_ok) waits for that).
    pub fn kill_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.server.kill();
        node.killed = true;
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&self, key: &str) -> Result<u16> {
        let i = self.any_live()?;
        let v = self.ask(i, &["CLUSTER", "KEYSLOT", key])?;
        v.int()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| Error::new(format!("CLUSTER KEYSLOT said {v:?}")))
    }

    /// The node serving `slot` as master, in the slot map of the first live node.
    pub fn master_of_slot(&self, slot: u16) -> Result<usize> {
        let map = self.slot_map(self.any_live()?)?;
        let range = map
            .iter()
            .find(|r| (r.start..=r.end).contains(&u32::from(slot)))
            .ok_or_else(|| Error::new(format!("slot {slot} is not served")))?;
        self.index_of_port(range.master)
    }

    /// The node serving `key` as master.
    pub fn master_of_key(&self, key: &str) -> Result<usize> {
        self.master_of_slot(self.slot_of(key)?)
    }

    /// The nodes that are masters of some slot now.
    pub fn masters(&self) -> Result<Vec<usize>> {
        let map = self.slot_map(self.any_live()?)?;
        let ports: BTreeSet<u16> = map.iter().map(|r| r.master).collect();
        ports.into_iter().map(|p| self.index_of_port(p)).collect()
    }

    /// Waits until every live node reports `cluster_state:ok`, knows every node, has its
    /// replication link up (replicas), and all agree on a slot map that covers every slot with
    /// live masters.
    pub fn wait_until_ok(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.check() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(Error::new(format!(
                        "cluster not ok after {timeout:?}: {}",
                        e.message
                    )))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Moves `slot` to master `to`, keys included, as `redis-cli --cluster reshard` does:
    /// `CLUSTER SETSLOT slot IMPORTING` on the target, `MIGRATING` on the source, every key
    /// moved with `MIGRATE … KEYS …` in batches, then `CLUSTER SETSLOT slot NODE target` on the
    /// target, the source and every other master; returns once every live node agrees. Clients
    /// may keep writing meanwhile (they get `ASK` redirections). Returns the number of keys moved.
    pub fn migrate_slot(&self, slot: u16, to: usize) -> Result<usize> {
        if u32::from(slot) >= SLOTS {
            return Err(Error::new(format!("no slot {slot}")));
        }
        let from = self.master_of_slot(slot)?;
        if from == to {
            return Ok(0);
        }
        let masters = self.masters()?;
        if !masters.contains(&to) || self.nodes[to].killed {
            return Err(Error::new(format!("node {to} is not a live master")));
        }
        let s = slot.to_string();
        let (src, dst) = (&self.nodes[from], &self.nodes[to]);
        self.ask(to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", src.id()])?;
        self.ask(from, &["CLUSTER", "SETSLOT", &s, "MIGRATING", dst.id()])?;
        let mut source = self.conn(from)?;
        let mut moved = 0;
        loop {
            let keys = match source
                .ask(&["CLUSTER", "GETKEYSINSLOT", &s, &BATCH.to_string()])
                .map_err(Error::new)?
            {
                Value::Array(keys) => keys,
                other => return Err(Error::new(format!("GETKEYSINSLOT said {other:?}"))),
            };
            if keys.is_empty() {
                break;
            }
            let port = dst.port().to_string();
            let mut cmd: Vec<Vec<u8>> = ["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"]
                .iter()
                .map(|a| a.as_bytes().to_vec())
                .collect();
            for k in &keys {
                match k {
                    Value::Bulk(k) => cmd.push(k.clone()),
                    other => return Err(Error::new(format!("GETKEYSINSLOT gave {other:?}"))),
                }
            }
            source.ask(&cmd).map_err(Error::new)?;
            moved += keys.len();
        }
        self.ask(to, &["CLUSTER", "SETSLOT", &s, "NODE", dst.id()])?;
        self.ask(from, &["CLUSTER", "SETSLOT", &s, "NODE", dst.id()])?;
        for m in masters {
            if m != from && m != to && !self.nodes[m].killed {
                self.ask(m, &["CLUSTER", "SETSLOT", &s, "NODE", dst.id()])?;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let agreed = self.live().all(|i| {
                self.slot_map(i).is_ok_and(|map| {
                    map.iter().any(|r| {
                        (r.start..=r.end).contains(&u32::from(slot)) && r.master == dst.port()
                    })
                })
            });
            if agreed {
                return Ok(moved);
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "slot {slot} moved, but the nodes did not all agree within 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| !self.nodes[i].killed)
    }

    fn any_live(&self) -> Result<usize> {
        self.live()
            .next()
            .ok_or_else(|| Error::new("every node was killed"))
    }

    fn index_of_port(&self, port: u16) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .ok_or_else(|| Error::new(format!("port {port} is not a node of this cluster")))
    }

    fn conn(&self, i: usize) -> Result<Conn> {
        Conn::tcp(self.nodes[i].port())
            .map_err(|e| Error::new(format!("node {i} (port {}): {e}", self.nodes[i].port())))
    }

    fn ask(&self, i: usize, args: &[&str]) -> Result<Value> {
        self.conn(i)?
            .ask(args)
            .map_err(|e| Error::new(format!("node {i}: {e}")))
    }

    /// Node `i`'s view of the slot map (from `CLUSTER SLOTS`), sorted.
    fn slot_map(&self, i: usize) -> Result<Vec<Range>> {
        let bad = |what: &str| Error::new(format!("node {i}: CLUSTER SLOTS: {what}"));
        let Value::Array(entries) = self.ask(i, &["CLUSTER", "SLOTS"])? else {
            return Err(bad("not an array"));
        };
        let mut map = Vec::new();
        for e in entries {
            let Value::Array(e) = e else {
                return Err(bad("entry is not an array"));
            };
            let master = match e.get(2) {
                Some(Value::Array(m)) => m.get(1).and_then(Value::int),
                _ => None,
            };
            match (
                e.first().and_then(Value::int),
                e.get(1).and_then(Value::int),
                master,
            ) {
                (Some(start), Some(end), Some(port)) => map.push(Range {
                    start: u32::try_from(start).map_err(|_| bad("slot"))?,
                    end: u32::try_from(end).map_err(|_| bad("slot"))?,
                    master: u16::try_from(port).map_err(|_| bad("port"))?,
                }),
                _ => return Err(bad("malformed entry")),
            }
        }
        map.sort();
        Ok(map)
    }

    fn check(&self) -> Result<()> {
        let mut agreed: Option<Vec<Range>> = None;
        for i in self.live() {
            let info = self
                .ask(i, &["CLUSTER", "INFO"])?
                .text()
                .map_err(Error::new)?;
            let field = |k| info_field(&info, k).unwrap_or("?").to_owned();
            if field("cluster_state") != "ok" {
                return Err(Error::new(format!(
                    "node {i}: cluster_state {}",
                    field("cluster_state")
                )));
            }
            if field("cluster_known_nodes") != self.nodes.len().to_string() {
                return Err(Error::new(format!(
                    "node {i} knows {} nodes of {}",
                    field("cluster_known_nodes"),
                    self.nodes.len()
                )));
            }
            let repl = self
                .ask(i, &["INFO", "replication"])?
                .text()
                .map_err(Error::new)?;
            if info_field(&repl, "role") == Some("slave")
                && info_field(&repl, "master_link_status") != Some("up")
            {
                return Err(Error::new(format!("node {i}: replication link down")));
            }
            let map = self.slot_map(i)?;
            let covered: u32 = map.iter().map(|r| r.end + 1 - r.start).sum();
            if covered != SLOTS {
                return Err(Error::new(format!("node {i}: {covered} slots served")));
            }
            for r in &map {
                let m = self.index_of_port(r.master)?;
                if self.nodes[m].killed {
                    return Err(Error::new(format!(
                        "node {i}: slots {}-{} still on killed node {m}",
                        r.start, r.end
                    )));
                }
            }
            match &agreed {
                None => agreed = Some(map),
                Some(first) if *first != map => {
                    return Err(Error::new(format!("node {i} disagrees on the slot map")))
                }
                Some(_) => {}
            }
        }
        if agreed.is_none() {
            return Err(Error::new("every node was killed"));
        }
        Ok(())
    }
}
