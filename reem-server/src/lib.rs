//! # reem-server — private Redis servers for tests, examples and demos
//!
//! - [`RedisServer`]: one private `redis-server` in a fresh directory of its own (mode 0700),
//!   on a free loopback port and a unix socket there, persistence off unless asked.
//! - [`RedisCluster`]: a local Redis Cluster (3 masters, 3 replicas by default) of such
//!   servers, with the slot map, failover and manual resharding ([`RedisCluster::migrate_slot`])
//!   that cluster tests need.
//! - [`url_or_start`]: `$REEM_URL` if it answers, else a private server (for demos).
//!
//! They never touch a server they did not start, and never outlive the process that started
//! them: each server runs under a tiny `sh` watchdog whose stdin is a pipe held only by this
//! process. When the value is dropped the server is killed and its directory removed at once;
//! when the process ends without dropping it — `std::process::exit`, a panic that aborts,
//! SIGINT, SIGTERM, even SIGKILL — the kernel closes the pipe, and the watchdog kills the server
//! and removes the directory.
//!
//! ```no_run
//! let server = reem_server::RedisServer::start()?;
//! let url = server.url(); // redis://127.0.0.1:PORT; server.unix_url() for the socket
//! # Ok::<(), reem_server::Error>(())
//! ```
//!
//! Environment: `REEM_REDIS_SERVER` and `REEM_REDIS_CLI` name the programs to run (default
//! `redis-server`, `redis-cli`, Debian packages `redis-server` and `redis-tools`).
//!
//! This crate is unix-only (unix sockets, `/bin/sh`); it does not depend on `reem`, so `reem`
//! itself can use it in its doctests.

#![cfg(unix)]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cluster;
mod resp;
mod server;
mod watchdog;

pub use cluster::{ClusterNode, RedisCluster, RedisClusterBuilder};
pub use server::{RedisServer, RedisServerBuilder};

use std::time::Duration;

/// Why a server or cluster could not be started or driven: one line, for a human (its
/// `Debug` is that line too, so `main() -> Result<(), Box<dyn Error>>` prints it as is).
#[derive(Clone)]
pub struct Error {
    message: String,
    missing_program: bool,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            missing_program: false,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reem-server: {}", self.message)
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The URL of `$REEM_URL` if it is set and answers `PING`, or of a private server started
/// for the caller (returned with it: keep it alive as long as the URL is used).
///
/// For examples and demos that must work on a fresh machine:
///
/// ```no_run
/// let (url, _server) = reem_server::url_or_start()?;
/// // reem::RedisInterface::new(&url)?
/// # Ok::<(), reem_server::Error>(())
/// ```
pub fn url_or_start() -> Result<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("REEM_URL") {
        match ping(&url) {
            Ok(()) => return Ok((url, None)),
            Err(e) => {
                eprintln!("REEM_URL={url} is not reachable ({e}); starting a private redis-server")
            }
        }
    }
    let server = RedisServer::start()?;
    Ok((server.url(), Some(server)))
}

/// `PING` at `url`, through the `redis` crate (which parses every URL form reem accepts).
fn ping(url: &str) -> std::result::Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    redis::cmd("PING").query::<String>(&mut con).map(drop)
}
