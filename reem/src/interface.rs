//! [`RedisInterface`]: the connection(s) to one Redis, and the registry of marshallers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::io::tcp::TcpSettings;
use redis::{Client, Connection, ConnectionAddr, IntoConnectionInfo};

use crate::error::{Error, Result};
use crate::marshal::Marshaller;

/// Connections kept open for reuse; more may be open at once while many threads work.
const MAX_IDLE: usize = 16;

/// A handle on one Redis server: what [`KeyValueStore`](crate::KeyValueStore),
/// [`PublishSpace`](crate::PublishSpace) and subscribers are built on.
///
/// Cheap to clone, `Send + Sync`: clones share the same connections and ships. Connections
/// are opened on demand, kept in a small pool and reused; a connection that failed is
/// dropped and the next call opens a fresh one, so the interface outlives a Redis restart.
/// TCP_NODELAY is on (Nagle's algorithm costs milliseconds on large messages).
///
/// ```no_run
/// let iface = reem::RedisInterface::new("redis://127.0.0.1:6379")?;
/// let also = reem::RedisInterface::new("unix:///run/redis/redis.sock")?;
/// # Ok::<(), reem::Error>(())
/// ```
#[derive(Clone)]
pub struct RedisInterface {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    url: String,
    idle: Mutex<Vec<Connection>>,
    ships: Vec<Box<dyn Marshaller>>,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    max_message_size: u64,
    /// The publish/subscribe dispatcher shared by this interface's subscribers.
    pubsub: crate::pubsub::HubSlot,
}

/// The default [`RedisInterfaceBuilder::max_message_size`]: 512 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 512 << 20;

/// Builds a [`RedisInterface`] with options: extra marshallers ("ships"), timeouts, TLS.
pub struct RedisInterfaceBuilder {
    url: String,
    ships: Vec<Box<dyn Marshaller>>,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    tls_ca: Option<PathBuf>,
    tls_client: Option<(PathBuf, PathBuf)>,
    max_message_size: u64,
}

impl RedisInterfaceBuilder {
    /// Registers a marshaller, as the seed's `RedisInterface(ships=[...])`.
    pub fn ship(mut self, ship: impl Marshaller) -> Self {
        self.ships.push(Box::new(ship));
        self
    }

    /// How long opening a connection may take (default 5 s).
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
    /// reconnections) uses the same address, credentials, TLS settings and timeouts.
    pub fn connect(self) -> Result<RedisInterface> {
        let info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| Error::InvalidUrl {
                url: redact(&self.url),
                reason: e.to_string(),
            })?;
        let info = match info.addr() {
            ConnectionAddr::Unix(_) => info,
            _ => info.set_tcp_settings(TcpSettings::default().set_nodelay(true)),
        };
        let client = self.client(info)?;
        let iface = RedisInterface {
            inner: Arc::new(Inner {
                client,
                url: redact(&self.url),
                idle: Mutex::new(Vec::new()),
                ships: self.ships,
                connect_timeout: self.connect_timeout,
                response_timeout: self.response_timeout,
                max_message_size: self.max_message_size,
                pubsub: Default::default(),
            }),
        };
        let con = iface.open()?;
        iface.give_back(con);
        Ok(iface)
    }
}

impl RedisInterfaceBuilder {
    fn client(&self, info: redis::ConnectionInfo) -> Result<Client> {
        if self.tls_ca.is_none() && self.tls_client.is_none() {
            return Ok(Client::open(info)?);
        }
        self.tls_client(info)
    }

    #[cfg(feature = "tls")]
    fn tls_client(&self, info: redis::ConnectionInfo) -> Result<Client> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| Error::InvalidUrl {
                url: redact(&self.url),
                reason: format!("cannot read {}: {e}", path.display()),
            })
        };
        let certs = redis::TlsCertificates {
            client_tls: match &self.tls_client {
                Some((cert, key)) => Some(redis::ClientTlsConfig {
                    client_cert: read(cert)?,
                    client_key: read(key)?,
                }),
                None => None,
            },
            root_cert: self.tls_ca.as_ref().map(read).transpose()?,
        };
        Ok(Client::build_with_tls(info, certs)?)
    }

    #[cfg(not(feature = "tls"))]
    fn tls_client(&self, _: redis::ConnectionInfo) -> Result<Client> {
        Err(Error::InvalidUrl {
            url: redact(&self.url),
            reason: "TLS certificates were given but reem was built without its `tls` feature"
                .to_owned(),
        })
    }
}

impl RedisInterface {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`,
    /// `rediss://…` for TLS, `unix:///path/redis.sock`). Fails at once if the server cannot be
    /// reached.
    pub fn new(url: &str) -> Result<Self> {
        Self::builder(url).connect()
    }

    /// Starts building an interface with options.
    pub fn builder(url: &str) -> RedisInterfaceBuilder {
        RedisInterfaceBuilder {
            url: url.to_owned(),
            ships: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Some(Duration::from_secs(30)),
            tls_ca: None,
            tls_client: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// The URL this interface connects to, without its password.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The largest message a read accepts, in bytes.
    pub fn max_message_size(&self) -> u64 {
        self.inner.max_message_size
    }

    /// The underlying `redis` client (for subscriber connections and raw commands).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The registered marshallers, in registration order.
    pub fn ships(&self) -> &[Box<dyn Marshaller>] {
        &self.inner.ships
    }

    /// The registered marshaller with `label`.
    pub fn ship_for_label(&self, label: &[u8]) -> Option<&dyn Marshaller> {
        self.inner
            .ships
            .iter()
            .find(|s| s.get_label().as_bytes() == label)
            .map(|s| &**s)
    }

    /// The first registered marshaller whose `check_fit` accepts `value`.
    pub fn ship_for_value(&self, value: &dyn std::any::Any) -> Option<&dyn Marshaller> {
        self.inner
            .ships
            .iter()
            .find(|s| s.check_fit(value))
            .map(|s| &**s)
    }

    /// Runs `f` on a pooled connection. A connection whose call failed for a reason other
    /// than the server's answer is not reused; if it had been sitting in the pool (so the
    /// server most likely restarted meanwhile), the other idle connections are dropped too
    /// and `f` runs once more on a fresh connection. Timeouts are not retried.
    pub fn with_connection<R>(
        &self,
        mut f: impl FnMut(&mut Connection) -> redis::RedisResult<R>,
    ) -> Result<R> {
        let (mut con, pooled) = self.take()?;
        let result = f(&mut con);
        match &result {
            Err(e) if is_broken(e) => {
                if pooled && !e.is_timeout() {
                    self.inner
                        .idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clear();
                    let mut fresh = self.open()?;
                    let again = f(&mut fresh);
                    if !matches!(&again, Err(e) if is_broken(e)) {
                        self.give_back(fresh);
                    }
                    return again.map_err(Error::from);
                }
            }
            _ => self.give_back(con),
        }
        result.map_err(Error::from)
    }

    /// Sends a whole `MULTI … EXEC` transaction given as RESP bytes (`queued` commands
    /// between `MULTI` and `EXEC`) and checks every reply; errors name `key`.
    pub(crate) fn exec_packed(&self, key: &str, packed: &[u8], queued: usize) -> Result<()> {
        let mut replies = self
            .with_connection(|c| {
                redis::ConnectionLike::req_packed_commands(c, packed, queued + 1, 1)
            })
            .map_err(|e| e.at_key(key))?;
        match replies.pop() {
            Some(redis::Value::Array(results)) => results.into_iter().try_for_each(|r| match r {
                redis::Value::ServerError(e) => Err(Error::from_redis(key, e.into())),
                _ => Ok(()),
            }),
            Some(redis::Value::ServerError(e)) => Err(Error::from_redis(key, e.into())),
            other => Err(Error::WrongRedisType {
                key: key.to_owned(),
                found: format!("an unexpected reply to EXEC: {other:?}"),
            }),
        }
    }

    /// Opens a new connection with this interface's settings (not pooled).
    pub fn open(&self) -> Result<Connection> {
        let con = self
            .inner
            .client
            .get_connection_with_timeout(self.inner.connect_timeout)?;
        con.set_read_timeout(self.inner.response_timeout)?;
        con.set_write_timeout(self.inner.response_timeout)?;
        Ok(con)
    }

    /// How long opening a connection may take.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// How long a reply may take (`None`: for ever).
    pub(crate) fn response_timeout(&self) -> Option<Duration> {
        self.inner.response_timeout
    }

    /// Where the subscribers of this interface find their shared dispatcher.
    pub(crate) fn pubsub_hub(&self) -> &crate::pubsub::HubSlot {
        &self.inner.pubsub
    }

    /// A connection, and whether it came from the pool.
    fn take(&self) -> Result<(Connection, bool)> {
        let pooled = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        match pooled {
            Some(con) => Ok((con, true)),
            None => Ok((self.open()?, false)),
        }
    }

    fn give_back(&self, con: Connection) {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(con);
        }
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

/// True if the connection that gave `e` cannot be trusted any more.
fn is_broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

/// The URL with any password replaced by `***`.
fn redact(url: &str) -> String {
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
