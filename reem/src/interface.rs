//! [`RedisInterface`]: the transport to one Redis (or one Redis Cluster), and the registry
//! of ships.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo, Value};

use crate::error::{Error, Result};
use crate::marshal::{Commands, Ship};
use crate::transport::cluster::Cluster;
use crate::transport::{node::Node, Endpoint, Settings, SharedTransport, Transport};

/// A handle on one Redis server, or on one Redis Cluster: what
/// [`KeyValueStore`](crate::KeyValueStore), [`PublishSpace`](crate::PublishSpace) and
/// subscribers are built on.
///
/// Cheap to clone, `Send + Sync`: clones share the same connections and ships. Connections
/// are opened on demand, kept in a small pool and reused; a connection found closed is
/// dropped before anything is sent on it, so the interface outlives a Redis restart.
/// TCP_NODELAY is on (Nagle's algorithm costs milliseconds on large messages).
///
/// ```no_run
/// let iface = reem::RedisInterface::new("redis://127.0.0.1:6379")?;
/// let also = reem::RedisInterface::new("unix:///run/redis/redis.sock")?;
/// let cluster = reem::RedisInterface::cluster(&["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?;
/// # Ok::<(), reem::Error>(())
/// ```
///
/// **On a Redis Cluster** ([`RedisInterface::cluster`]) every operation works as on one
/// server, on the node that owns the key's slot: a message is one hash, so one slot, and the
/// extra keys reem uses for a topic share it. Slot moves (`MOVED`, `ASK`) are followed, a
/// failover is ridden out (the interface reconnects to the promoted replica by itself),
/// topics use sharded publish/subscribe (`SPUBLISH`/`SSUBSCRIBE`), and
/// [`scan`](Self::scan) walks every master. There is only database 0. `docs/FORMAT.md`
/// ("Redis Cluster", "Delivery and retries") has the details.
#[derive(Clone)]
pub struct RedisInterface {
    inner: Arc<Inner>,
}

struct Inner {
    transport: SharedTransport,
    /// For the subscriber connection, made by the `redis` crate.
    subscriber: SubscriberConfig,
    url: String,
    ships: Vec<Box<dyn Ship>>,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    max_message_size: u64,
    /// The publish/subscribe dispatcher shared by this interface's subscribers.
    pubsub: crate::pubsub::HubSlot,
    /// The async transport of `reem::aio`, made on first use.
    #[cfg(feature = "tokio")]
    aio: std::sync::OnceLock<crate::transport::aio::AioTransport>,
}

/// The default [`RedisInterfaceBuilder::max_message_size`]: 512 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 512 << 20;

/// How the subscriber connection of an interface is made (by the `redis` crate).
pub(crate) enum SubscriberConfig {
    /// One server: the crate's client with the interface's settings.
    Node(redis::Client),
    /// A Redis Cluster: its seed nodes (with the credentials) and the TLS certificates.
    Cluster {
        seeds: Vec<redis::ConnectionInfo>,
        #[cfg(feature = "tls")]
        certs: Option<redis::TlsCertificates>,
    },
}

/// Builds a [`RedisInterface`] with options: extra marshallers ("ships"), timeouts, TLS.
///
/// [`RedisInterface::builder`] starts one for one server, [`RedisInterface::cluster_builder`]
/// for a Redis Cluster; the options are the same.
pub struct RedisInterfaceBuilder {
    url: String,
    /// The seed nodes of a Redis Cluster (`None`: one server at `url`).
    cluster: Option<Vec<String>>,
    ships: Vec<Box<dyn Ship>>,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    tls_ca: Option<PathBuf>,
    tls_client: Option<(PathBuf, PathBuf)>,
    max_message_size: u64,
}

impl RedisInterfaceBuilder {
    /// Registers a marshaller, as the seed's `RedisInterface(ships=[...])`.
    pub fn ship(mut self, ship: impl Ship) -> Self {
        self.ships.push(Box::new(ship));
        self
    }

    /// How long opening a connection may take (default 5 s). On a Redis Cluster it also
    /// bounds how long a request that provably did not run (a node gone, the cluster down
    /// or reconfiguring) is tried again, on a fresh view of the cluster, before its error is
    /// returned (`docs/FORMAT.md`, "Delivery and retries").
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a reply may take before the call fails (default 30 s; `None`: wait for
    /// ever).
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The largest message (sum of its stored field values, in bytes) a read accepts
    /// (default [`DEFAULT_MAX_MESSAGE_SIZE`]). One-field reads of lists check it on the server,
    /// before anything is sent; other reads check the reply before decoding it, so a hostile
    /// huge value never gets its decoded copy.
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Trusts the CA certificate(s) in this PEM file for `rediss://` URLs, instead of the
    /// system's roots (needs the `tls` feature).
    pub fn tls_ca_file(mut self, pem: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(pem.into());
        self
    }

    /// Authenticates with this client certificate and private key (PEM files) on
    /// `rediss://` URLs: mutual TLS (needs the `tls` feature).
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl Into<PathBuf>,
        key_pem: impl Into<PathBuf>,
    ) -> Self {
        self.tls_client = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Opens one connection to check the server is there, and returns the interface.
    ///
    /// Every connection the interface opens later (pooled ones, subscriber connections,
    /// reconnections) uses the same address, credentials, TLS settings and timeouts. For a
    /// Redis Cluster, the first seed node that answers tells the slot map, and every node is
    /// reached with the credentials and TLS settings of the seeds.
    pub fn connect(self) -> Result<RedisInterface> {
        if let Some(seeds) = &self.cluster {
            let seeds = seeds.clone();
            return self.connect_cluster(&seeds);
        }
        let info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| self.invalid(e.to_string()))?;
        let endpoint = Endpoint::of(info.addr())
            .ok_or_else(|| self.invalid("an unsupported address".to_owned()))?;
        let settings = self.settings(&info, matches!(endpoint, Endpoint::Tls { .. }))?;
        let client = self.client(info)?;
        let transport: SharedTransport = Arc::new(Node::connect(endpoint, settings)?);
        Ok(self.finish(transport, SubscriberConfig::Node(client)))
    }

    /// The settings of reem's own connections to the address `info` (`tls`: over TLS):
    /// its credentials and database, and the builder's timeouts, reply limit and TLS files.
    fn settings(&self, info: &redis::ConnectionInfo, tls: bool) -> Result<Settings> {
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        let redis = info.redis_settings();
        Ok(Settings {
            username: redis.username().map(str::to_owned),
            password: redis.password().map(str::to_owned),
            db: redis.db(),
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            max_reply: self.max_message_size,
            #[cfg(feature = "tls")]
            tls: if tls {
                Some(self.rustls_config()?)
            } else {
                None
            },
        })
    }

    fn finish(self, transport: SharedTransport, subscriber: SubscriberConfig) -> RedisInterface {
        RedisInterface {
            inner: Arc::new(Inner {
                transport,
                subscriber,
                url: redact(&self.url),
                ships: self.ships,
                connect_timeout: self.connect_timeout,
                response_timeout: self.response_timeout,
                max_message_size: self.max_message_size,
                pubsub: Default::default(),
                #[cfg(feature = "tokio")]
                aio: Default::default(),
            }),
        }
    }

    /// The interface to the Redis Cluster of the seed nodes `urls`.
    fn connect_cluster(self, urls: &[String]) -> Result<RedisInterface> {
        let mut seeds = Vec::with_capacity(urls.len());
        for url in urls {
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| self.invalid(format!("{}: {e}", redact(url))))?;
            match info.addr() {
                ConnectionAddr::Tcp(..) | ConnectionAddr::TcpTls { .. } => {}
                _ => {
                    return Err(self.invalid(format!(
                        "{}: the nodes of a Redis Cluster are reached over TCP (redis:// or \
                         rediss://)",
                        redact(url)
                    )))
                }
            }
            if info.redis_settings().db() != 0 {
                return Err(self.invalid(format!(
                    "{}: a Redis Cluster has only database 0",
                    redact(url)
                )));
            }
            seeds.push(info);
        }
        let Some(first) = seeds.first() else {
            return Err(self.invalid("no seed node given".to_owned()));
        };
        let tls = matches!(first.addr(), ConnectionAddr::TcpTls { .. });
        if seeds
            .iter()
            .any(|s| matches!(s.addr(), ConnectionAddr::TcpTls { .. }) != tls)
        {
            return Err(self.invalid(
                "the seed nodes mix redis:// and rediss://: a cluster is reached one way"
                    .to_owned(),
            ));
        }
        let settings = self.settings(first, tls)?;
        #[cfg(not(feature = "tls"))]
        if self.tls_ca.is_some() || self.tls_client.is_some() {
            return Err(self.invalid(
                "TLS certificates were given but reem was built without its `tls` feature"
                    .to_owned(),
            ));
        }
        let subscriber = SubscriberConfig::Cluster {
            seeds: seeds.clone(),
            #[cfg(feature = "tls")]
            certs: self.tls_certificates()?,
        };
        let transport: SharedTransport = Arc::new(Cluster::connect(seeds, settings)?);
        Ok(self.finish(transport, subscriber))
    }

    fn invalid(&self, reason: String) -> Error {
        Error::InvalidUrl {
            url: redact(&self.url),
            reason,
        }
    }
}

impl RedisInterfaceBuilder {
    fn client(&self, info: redis::ConnectionInfo) -> Result<redis::Client> {
        let info = match info.addr() {
            ConnectionAddr::Unix(_) => info,
            _ => info.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true)),
        };
        if self.tls_ca.is_none() && self.tls_client.is_none() {
            return Ok(redis::Client::open(info)?);
        }
        self.tls_client(info)
    }

    #[cfg(feature = "tls")]
    fn read_file(&self, path: &PathBuf) -> Result<Vec<u8>> {
        std::fs::read(path)
            .map_err(|e| self.invalid(format!("cannot read {}: {e}", path.display())))
    }

    #[cfg(feature = "tls")]
    fn tls_client(&self, info: redis::ConnectionInfo) -> Result<redis::Client> {
        let certs = self.tls_certificates()?.unwrap_or(redis::TlsCertificates {
            client_tls: None,
            root_cert: None,
        });
        Ok(redis::Client::build_with_tls(info, certs)?)
    }

    /// The certificate files given, read (`None` if none was given).
    #[cfg(feature = "tls")]
    fn tls_certificates(&self) -> Result<Option<redis::TlsCertificates>> {
        if self.tls_ca.is_none() && self.tls_client.is_none() {
            return Ok(None);
        }
        Ok(Some(redis::TlsCertificates {
            client_tls: match &self.tls_client {
                Some((cert, key)) => Some(redis::ClientTlsConfig {
                    client_cert: self.read_file(cert)?,
                    client_key: self.read_file(key)?,
                }),
                None => None,
            },
            root_cert: self
                .tls_ca
                .as_ref()
                .map(|p| self.read_file(p))
                .transpose()?,
        }))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_client(&self, _: redis::ConnectionInfo) -> Result<redis::Client> {
        Err(self.invalid(
            "TLS certificates were given but reem was built without its `tls` feature".to_owned(),
        ))
    }

    /// The TLS configuration of reem's own connections: the given CA (or the system's roots)
    /// and the client certificate, if any.
    #[cfg(feature = "tls")]
    fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pem_error = |path: &PathBuf, e: rustls::pki_types::pem::Error| {
            self.invalid(format!("cannot read {}: {e}", path.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        match &self.tls_ca {
            Some(ca) => {
                for cert in CertificateDer::pem_slice_iter(&self.read_file(ca)?) {
                    roots
                        .add(cert.map_err(|e| pem_error(ca, e))?)
                        .map_err(|e| self.invalid(format!("bad CA certificate: {e}")))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.invalid(format!("TLS: {e}")))?
            .with_root_certificates(roots);
        let config = match &self.tls_client {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(&self.read_file(cert)?)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| pem_error(cert, e))?;
                let key_der = PrivateKeyDer::from_pem_slice(&self.read_file(key)?)
                    .map_err(|e| pem_error(key, e))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| self.invalid(format!("bad client certificate: {e}")))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

impl RedisInterface {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`,
    /// `rediss://…` for TLS, `unix:///path/redis.sock`). Fails at once if the server cannot be
    /// reached.
    pub fn new(url: &str) -> Result<Self> {
        Self::builder(url).connect()
    }

    /// Connects to the Redis Cluster that the seed nodes `nodes` belong to
    /// (`redis://[user:password@]host:port`, or `rediss://…` for TLS, all alike; one node
    /// that answers is enough, the others are tried in turn). Fails at once if no seed node
    /// can be reached. Options (TLS files, timeouts, ships): [`cluster_builder`](Self::cluster_builder).
    ///
    /// ```no_run
    /// let iface = reem::RedisInterface::cluster(&["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])?;
    /// assert!(iface.is_cluster());
    /// # Ok::<(), reem::Error>(())
    /// ```
    pub fn cluster<S: AsRef<str>>(nodes: &[S]) -> Result<Self> {
        Self::cluster_builder(nodes).connect()
    }

    /// Starts building an interface to a Redis Cluster, with the same options as
    /// [`builder`](Self::builder) (the TLS files apply to every node).
    pub fn cluster_builder<S: AsRef<str>>(nodes: &[S]) -> RedisInterfaceBuilder {
        let nodes: Vec<String> = nodes.iter().map(|n| n.as_ref().to_owned()).collect();
        RedisInterfaceBuilder {
            url: nodes.join(","),
            cluster: Some(nodes),
            ..Self::builder("")
        }
    }

    /// Starts building an interface with options.
    pub fn builder(url: &str) -> RedisInterfaceBuilder {
        RedisInterfaceBuilder {
            url: url.to_owned(),
            cluster: None,
            ships: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Some(Duration::from_secs(30)),
            tls_ca: None,
            tls_client: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// The URL this interface connects to, without its password (for a cluster, the seed
    /// nodes' URLs separated by commas).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The largest message a read accepts, in bytes.
    pub fn max_message_size(&self) -> u64 {
        self.inner.max_message_size
    }

    /// The registered ships, in registration order.
    pub fn ships(&self) -> &[Box<dyn Ship>] {
        &self.inner.ships
    }

    /// The registered ship with `label`.
    pub fn ship_for_label(&self, label: &[u8]) -> Option<&dyn Ship> {
        self.inner
            .ships
            .iter()
            .find(|s| s.get_label().as_bytes() == label)
            .map(|s| &**s)
    }

    /// The first registered ship whose `check_fit` accepts `value`.
    pub fn ship_for_value(&self, value: &dyn std::any::Any) -> Option<&dyn Ship> {
        self.inner
            .ships
            .iter()
            .find(|s| s.check_fit(value))
            .map(|s| &**s)
    }

    /// True if this interface talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.transport.is_cluster()
    }

    /// The database number (0 on a cluster).
    pub fn db(&self) -> i64 {
        self.inner.transport.db()
    }

    /// Runs one raw Redis command and returns its reply: the escape hatch for what reem does
    /// not wrap (`INFO`, `CONFIG GET`, a command on a key of your own). On a cluster it goes to
    /// the node owning the command's first key. It is sent once, never again after a failure
    /// (it may be a write); a server error reply is an [`Error::Refused`] (or
    /// [`Error::WrongRedisType`]).
    ///
    /// ```no_run
    /// # let iface = reem::RedisInterface::new("redis://127.0.0.1:6379")?;
    /// let info = iface.raw_query(redis::cmd("INFO").arg("server"))?;
    /// # Ok::<(), reem::Error>(())
    /// ```
    pub fn raw_query(&self, cmd: &redis::Cmd) -> Result<Value> {
        let mut cmds = Commands::new();
        for (i, arg) in cmd.args_iter().enumerate() {
            let redis::Arg::Simple(bytes) = arg else {
                return Err(self.invalid_command("a cursor argument"));
            };
            if i == 0 {
                cmds.cmd(&String::from_utf8_lossy(bytes));
            } else {
                cmds.arg(bytes);
            }
        }
        if cmds.is_empty() {
            return Err(self.invalid_command("an empty command"));
        }
        let key = cmds
            .get(0)
            .and_then(|c| c.args().next())
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let reply = self
            .inner
            .transport
            .pipeline(&key, &cmds, crate::transport::Resend::Never)?
            .pop()
            .unwrap_or(Value::Nil);
        match reply {
            Value::ServerError(e) => Err(Error::from_server_error(&key, &e)),
            other => Ok(other),
        }
    }

    /// Lists the keys matching `pattern` (a `SCAN … MATCH` glob) on every node (every master
    /// of a cluster), a batch at a time: `f` gets each batch's keys, all held by one node,
    /// with a [`NodeReads`] to read them in pipelined round trips on that node. A key may
    /// appear more than once (`SCAN`'s promise is "at least once").
    ///
    /// ```no_run
    /// # let iface = reem::RedisInterface::new("redis://127.0.0.1:6379")?;
    /// let mut n = 0;
    /// iface.scan("robot/*", |keys, _node| {
    ///     n += keys.len();
    ///     Ok(())
    /// })?;
    /// # Ok::<(), reem::Error>(())
    /// ```
    pub fn scan(
        &self,
        pattern: &str,
        mut f: impl FnMut(Vec<Vec<u8>>, NodeReads<'_>) -> Result<()>,
    ) -> Result<()> {
        let transport = self.transport();
        for node in transport.masters()? {
            let mut cursor = b"0".to_vec();
            loop {
                let mut cmds = Commands::new();
                cmds.cmd("SCAN")
                    .arg(&cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg("500");
                let reply = transport.pipeline_on(&node, &cmds)?.pop();
                let (next, keys) = match reply {
                    Some(Value::Array(mut parts)) if parts.len() == 2 => {
                        let keys = parts.pop();
                        (parts.pop(), keys)
                    }
                    Some(Value::ServerError(e)) => {
                        return Err(Error::from_server_error(pattern, &e))
                    }
                    other => {
                        return Err(Error::WrongRedisType {
                            key: pattern.to_owned(),
                            found: format!("an unexpected reply to SCAN: {other:?}"),
                        })
                    }
                };
                let keys: Vec<Vec<u8>> = match keys {
                    Some(Value::Array(keys)) => keys
                        .into_iter()
                        .filter_map(|k| match k {
                            Value::BulkString(k) => Some(k),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if !keys.is_empty() {
                    f(
                        keys,
                        NodeReads {
                            iface: self,
                            node: &node,
                        },
                    )?;
                }
                match next {
                    Some(Value::BulkString(c)) if c != b"0" => cursor = c,
                    _ => break,
                }
            }
        }
        Ok(())
    }

    fn invalid_command(&self, what: &str) -> Error {
        Error::Encode {
            key: String::new(),
            field: String::new(),
            reason: format!("raw_query cannot send {what}"),
        }
    }

    /// The transport every store of this interface uses.
    pub(crate) fn transport(&self) -> &dyn Transport {
        &*self.inner.transport
    }

    /// How the subscriber connection is made (the `redis` crate's client or cluster seeds).
    pub(crate) fn subscriber_config(&self) -> &SubscriberConfig {
        &self.inner.subscriber
    }

    /// How long opening a connection may take.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// How long a reply may take (`None`: for ever).
    pub(crate) fn response_timeout(&self) -> Option<Duration> {
        self.inner.response_timeout
    }

    /// The async transport every `reem::aio` store of this interface uses.
    #[cfg(feature = "tokio")]
    pub(crate) fn aio_transport(&self) -> &crate::transport::aio::AioTransport {
        self.inner
            .aio
            .get_or_init(|| crate::transport::aio::AioTransport::new(self))
    }

    /// Where the subscribers of this interface find their shared dispatcher.
    pub(crate) fn pubsub_hub(&self) -> &crate::pubsub::HubSlot {
        &self.inner.pubsub
    }
}

/// Pipelined reads on one node, for the keys [`RedisInterface::scan`] found there.
#[derive(Clone, Copy)]
pub struct NodeReads<'i> {
    iface: &'i RedisInterface,
    node: &'i str,
}

impl NodeReads<'_> {
    /// The node (`host:port`).
    pub fn node(&self) -> &str {
        self.node
    }

    /// Sends `cmds` (reads of keys this node holds) in one round trip and returns their
    /// replies, server errors included as values.
    pub fn query(&self, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        self.iface.transport().pipeline_on(self.node, cmds)
    }
}

impl std::fmt::Debug for RedisInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisInterface")
            .field("url", &self.inner.url)
            .field(
                "ships",
                &self
                    .inner
                    .ships
                    .iter()
                    .map(|s| s.get_label().into_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The URL with any password replaced by `***` (each URL of a comma-separated list).
fn redact(url: &str) -> String {
    if url.contains(',') {
        return url.split(',').map(redact).collect::<Vec<_>>().join(",");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("redis://bob:secret@h:1/0"), "redis://bob:***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn interface_is_clone_send_sync() {
        fn check<T: Clone + Send + Sync>() {}
        check::<RedisInterface>();
    }
}
