//! [`RedisServer`]: one private `redis-server`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::resp::{info_field, Conn, Value};
use crate::watchdog::Watchdog;
use crate::{Error, Result};

/// How long a starting server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many free ports are tried before giving up.
const ATTEMPTS: usize = 5;

/// A private `redis-server` process; stopped, and its directory removed, on drop or when the
/// process that started it ends in any way.
///
/// ```no_run
/// let server = reem_server::RedisServer::start()?;
/// println!("{} and {}", server.url(), server.unix_url());
/// # Ok::<(), reem_server::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    watchdog: Watchdog,
    pid: Option<u32>,
    dir: PathBuf,
    port: u16,
    tls: bool,
    cluster: bool,
    args: Vec<String>,
    program: String,
}

/// Options for a [`RedisServer`].
#[derive(Debug, Clone)]
pub struct RedisServerBuilder {
    args: Vec<String>,
    tcp: bool,
    tls: bool,
    port: Option<u16>,
    cluster: bool,
}

impl RedisServerBuilder {
    /// Adds `redis-server` command-line arguments (`["--appendonly", "yes"]`), after the
    /// builder's own (so they win).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Listens on TCP only if `false` is not given (TCP is on by default; turn it off to
    /// serve the unix socket only).
    pub fn tcp(mut self, on: bool) -> Self {
        self.tcp = on;
        self
    }

    /// Listens on this TCP port instead of a free one (starting fails if it is taken: an
    /// answer from another server on it is never taken for this one's).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Serves TLS instead of plain TCP on the port (the unix socket stays plain), with this
    /// server certificate and key, requiring clients to present a certificate signed by `ca`
    /// (all PEM files). [`RedisServer::url`] is then `rediss://…`.
    pub fn tls(mut self, cert: &Path, key: &Path, ca: &Path) -> Self {
        self.tls = true;
        for (name, path) in [
            ("--tls-cert-file", cert),
            ("--tls-key-file", key),
            ("--tls-ca-cert-file", ca),
        ] {
            self.args.push(name.to_owned());
            self.args.push(path.display().to_string());
        }
        self
    }

    /// A cluster node: `--cluster-enabled yes`, its config file in its directory, a port
    /// whose cluster bus port (port + 10000) is free too.
    pub(crate) fn cluster_node(mut self) -> Self {
        self.cluster = true;
        self
    }

    /// Starts the server in a fresh private directory and waits until it answers, over the
    /// unix socket in that directory, as the process just started (and, on plain TCP, until
    /// the port is served by that same process).
    pub fn start(self) -> Result<RedisServer> {
        let program =
            std::env::var("REEM_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        // Fresh and exclusive: a new random name, created with mkdir (which fails on anything
        // already there, a symlink included), readable by this user only.
        let tmp = tempfile::Builder::new()
            .prefix("reem-redis-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| Error::new(format!("cannot create a private directory: {e}")))?;
        let watchdog = Watchdog::spawn(tmp.path())?;
        // The watchdog removes it from now on (also if this process dies).
        let dir = tmp.keep();
        let mut server = RedisServer {
            watchdog,
            pid: None,
            dir,
            port: 0,
            tls: self.tls,
            cluster: self.cluster,
            args: self.args,
            program,
        };
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            server.port = match (self.tcp, self.port) {
                (false, _) => 0,
                (true, Some(p)) => p,
                (true, None) => free_port(self.cluster)?,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) if e.missing_program => return Err(e),
                Err(e) => last = e.to_string(),
            }
            if self.port.is_some() {
                break;
            }
        }
        Err(Error::new(last))
    }
}

impl RedisServer {
    /// Starts a server with persistence off, on a free port and a unix socket.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// Options for a server.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder {
            args: Vec::new(),
            tcp: true,
            tls: false,
            port: None,
            cluster: false,
        }
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// `unix:///…/redis.sock`.
    pub fn unix_url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The TCP port (0 if TCP is off).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's private directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The unix socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The PID of the running `redis-server` (`None` after [`kill`](Self::kill)).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The PID of the watchdog that stops the server and removes its directory when the
    /// process that started it ends.
    pub fn watchdog_pid(&self) -> u32 {
        self.watchdog.pid()
    }

    /// Kills the server at once (SIGKILL), as a crash would; its directory stays.
    pub fn kill(&mut self) {
        if self.pid.take().is_some() {
            self.watchdog.kill();
        }
    }

    /// Starts the server again on the same port, socket and directory.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                // The old socket may linger in TIME_WAIT for a moment.
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.pid.is_some() && self.watchdog.alive()
    }

    fn argv(&self) -> Vec<String> {
        let mut argv = vec![self.program.clone()];
        let port = self.port.to_string();
        if self.tls {
            argv.extend(["--tls-port".into(), port, "--port".into(), "0".into()]);
        } else {
            argv.extend(["--port".into(), port]);
        }
        argv.extend(
            [
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--unixsocketperm",
                "700",
            ]
            .map(String::from),
        );
        let path = |p: PathBuf| p.display().to_string();
        argv.extend([
            "--unixsocket".into(),
            path(self.socket()),
            "--dir".into(),
            path(self.dir.clone()),
            "--logfile".into(),
            path(self.dir.join("redis.log")),
        ]);
        if self.cluster {
            argv.extend([
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                path(self.dir.join("nodes.conf")),
            ]);
        }
        argv.extend(self.args.iter().cloned());
        argv
    }

    fn spawn(&mut self) -> Result<()> {
        let pid = self.watchdog.start(&self.argv())?;
        self.pid = Some(pid);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            match self.identify(pid) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => {
                    self.kill();
                    return Err(Error::new(e));
                }
            }
            if !self.watchdog.alive() {
                self.pid = None;
                return Err(self.exit_error());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        Err(Error::new(format!(
            "{} did not answer on {} within {} s",
            self.program,
            self.socket().display(),
            START_TIMEOUT.as_secs()
        )))
    }

    /// `Ok(true)` once the process `pid` answers on the unix socket in our directory and, on
    /// plain TCP, the port is served by that same process; `Ok(false)` while it is not ready
    /// yet; `Err` when something else answers.
    fn identify(&self, pid: u32) -> std::result::Result<bool, String> {
        let Ok(mut unix) = Conn::unix(&self.socket()) else {
            return Ok(false);
        };
        let info = match unix.call(&["INFO", "server"]) {
            Ok(Value::Bulk(b)) => String::from_utf8_lossy(&b).into_owned(),
            // The socket is in our private directory: only our server can have made it. With a
            // password set (`--requirepass`), INFO is refused and that is the proof we get.
            Ok(Value::Error(e)) if e.starts_with("NOAUTH") => return Ok(true),
            Ok(Value::Error(e)) if e.starts_with("LOADING") => return Ok(false),
            Ok(other) => return Err(format!("unexpected INFO reply {other:?}")),
            Err(_) => return Ok(false),
        };
        let process_id = info_field(&info, "process_id").unwrap_or("?");
        if process_id != pid.to_string() {
            return Err(format!(
                "the server on {} is process {process_id}, not the {pid} just started \
                 (REEM_REDIS_SERVER must run redis-server itself, or `exec` it)",
                self.socket().display()
            ));
        }
        if self.port == 0 || self.tls {
            return Ok(true);
        }
        let run_id = info_field(&info, "run_id").unwrap_or_default().to_owned();
        let tcp_info = Conn::tcp(self.port)
            .and_then(|mut c| c.call(&["INFO", "server"]))
            .map_err(|e| format!("port {} does not answer: {e}", self.port))?
            .text()
            .map_err(|e| format!("port {}: {e}", self.port))?;
        match info_field(&tcp_info, "run_id") {
            Some(id) if id == run_id => Ok(true),
            other => Err(format!(
                "port {} is served by another redis-server (run_id {other:?}, ours {run_id})",
                self.port
            )),
        }
    }

    fn exit_error(&self) -> Error {
        let stderr = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        let logged = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let tail: Vec<&str> = logged.lines().rev().take(3).collect();
        let mut e = Error::new(format!(
            "{} exited: {} {}",
            self.program,
            stderr.trim(),
            tail.join(" | ")
        ));
        // The shell reports a program it cannot find with status 127 and "not found".
        if stderr.contains("not found") || stderr.contains("No such file") {
            e = Error::new(format!(
                "cannot run {:?} ({}); install it (apt-get install redis-server) or set \
                 REEM_REDIS_SERVER",
                self.program,
                stderr.trim()
            ));
            e.missing_program = true;
        }
        e
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Synchronous: the server is killed and the directory removed before this returns.
        self.watchdog.finish();
    }
}

/// A free loopback port; for a cluster node, one whose bus port (port + 10000) is free too.
fn free_port(cluster: bool) -> Result<u16> {
    let bind = |p: u16| TcpListener::bind(("127.0.0.1", p));
    for _ in 0..200 {
        let l = bind(0).map_err(|e| Error::new(format!("no free port: {e}")))?;
        let port = l
            .local_addr()
            .map_err(|e| Error::new(format!("no free port: {e}")))?
            .port();
        if !cluster {
            return Ok(port);
        }
        if let Some(bus) = port.checked_add(10000) {
            if bind(bus).is_ok() {
                return Ok(port);
            }
        }
    }
    Err(Error::new("no free port pair (port, port + 10000)"))
}
