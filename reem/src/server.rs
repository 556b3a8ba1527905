//! [`RedisServer`]: a private `redis-server` for tests, examples and demos.
//!
//! It runs in its own temporary directory, listens on a free loopback port and on a unix
//! socket there, keeps nothing on disk unless asked, and is stopped (and its directory
//! removed) when the value is dropped. It never touches a server it did not start.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a starting server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A private `redis-server` process; stopped on drop.
///
/// ```no_run
/// let server = reem::server::RedisServer::start()?;
/// let iface = reem::RedisInterface::new(&server.url())?;
/// # Ok::<(), reem::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    tls: bool,
    args: Vec<String>,
    program: String,
}

/// Options for a [`RedisServer`]: extra `redis-server` arguments.
#[derive(Debug, Default)]
pub struct RedisServerBuilder {
    args: Vec<String>,
    tcp: bool,
    tls: bool,
}

impl RedisServerBuilder {
    /// Adds `redis-server` command-line arguments (`["--appendonly", "yes"]`), after
    /// reem's own (so they win).
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

    /// Starts the server and waits until it answers.
    pub fn start(self) -> Result<RedisServer> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let program =
            std::env::var("REEM_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let dir = std::env::temp_dir().join(format!(
            "reem-redis-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Server(format!("cannot create {}: {e}", dir.display())))?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = if self.tcp { free_port()? } else { 0 };
            let mut server = RedisServer {
                child: None,
                dir: dir.clone(),
                port,
                tls: self.tls,
                args: self.args.clone(),
                program: program.clone(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::Server(last))
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

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
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
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    fn spawn(&mut self) -> Result<()> {
        let log = self.dir.join("redis.log");
        let mut cmd = Command::new(&self.program);
        if self.tls {
            cmd.arg("--tls-port")
                .arg(self.port.to_string())
                .args(["--port", "0"]);
        } else {
            cmd.arg("--port").arg(self.port.to_string());
        }
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
        .arg("--unixsocket")
        .arg(self.socket())
        .args(["--unixsocketperm", "700"])
        .arg("--dir")
        .arg(&self.dir)
        .arg("--logfile")
        .arg(&log)
        .args(&self.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| {
            Error::Server(format!(
                "cannot run {:?} ({e}); install it (apt-get install redis-server) or set REEM_REDIS_SERVER",
                self.program
            ))
        })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.ping() {
                return Ok(());
            }
            if !self.is_running() {
                let mut err = String::new();
                if let Some(mut c) = self.child.take() {
                    if let Some(mut s) = c.stderr.take() {
                        let _ = s.read_to_string(&mut err);
                    }
                }
                let logged = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = logged.lines().rev().take(3).collect();
                return Err(Error::Server(format!(
                    "redis-server exited: {} {}",
                    err.trim(),
                    tail.join(" | ")
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        Err(Error::Server(
            "redis-server did not answer PING within 10 s".to_owned(),
        ))
    }

    fn ping(&self) -> bool {
        fn ask(mut s: impl Read + Write) -> bool {
            let mut buf = [0u8; 64];
            s.write_all(b"PING\r\n").is_ok()
                && s.read(&mut buf)
                    .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
        }
        let timeout = Some(Duration::from_millis(500));
        if let Ok(s) = UnixStream::connect(self.socket()) {
            let _ = s.set_read_timeout(timeout);
            return ask(s);
        }
        if self.port != 0 && !self.tls {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(timeout);
                return ask(s);
            }
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Server(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Server(format!("no free port: {e}")))
}

/// Connects to `$REEM_URL` if it is set and answers; otherwise starts a private server.
///
/// For examples and demos that must work on a fresh machine: keep the returned server
/// alive as long as the interface is used (it stops when dropped).
///
/// ```no_run
/// let (iface, _server) = reem::server::connect_or_start()?;
/// # Ok::<(), reem::Error>(())
/// ```
pub fn connect_or_start() -> Result<(crate::RedisInterface, Option<RedisServer>)> {
    let (url, server) = url_or_start()?;
    Ok((crate::RedisInterface::new(&url)?, server))
}

/// The URL of `$REEM_URL` if it is set and answers, or of a private server started for the
/// caller (returned with it: keep it alive).
pub fn url_or_start() -> Result<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("REEM_URL") {
        match crate::RedisInterface::new(&url) {
            Ok(_) => return Ok((url, None)),
            Err(e) => {
                eprintln!("REEM_URL={url} is not reachable ({e}); starting a private redis-server")
            }
        }
    }
    let server = RedisServer::start()?;
    Ok((server.url(), Some(server)))
}
