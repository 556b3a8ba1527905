//! [`Connection`]: one blocking connection to one Redis node, owned by reem.
//!
//! reem owns its sockets (rather than the `redis` crate's `Connection`) for two reasons the
//! transport needs: it can tell whether a pooled connection is still alive *before* sending
//! on it (a peek that never blocks), so that a write is only ever sent on a connection that
//! was open; and it reads replies with bounds and without intermediate copies
//! ([`resp`](super::resp)).

use std::io::{self, BufReader, IoSlice, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use redis::Value;

use super::resp::{self, ReadError};
use super::{Endpoint, Settings};

/// Read buffer size: small replies (the common case) arrive in one read.
const READ_BUFFER: usize = 64 * 1024;

/// A byte stream to Redis.
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            #[cfg(unix)]
            Stream::Unix(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Stream {
    fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            #[cfg(unix)]
            Stream::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.sock.set_read_timeout(t)?;
                s.sock.set_write_timeout(t)
            }
        }
    }

    /// True if the peer closed the connection or sent something unasked (which a
    /// request/reply connection never gets). Never blocks; whatever it reads, the connection
    /// is not used again.
    fn is_stale(&mut self) -> bool {
        /// Reads at most one byte without blocking: alive only if there is nothing to read.
        fn probe(
            set_nonblocking: impl Fn(bool) -> io::Result<()>,
            read: impl FnOnce() -> io::Result<usize>,
        ) -> bool {
            if set_nonblocking(true).is_err() {
                return true;
            }
            let alive = matches!(read(), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
            set_nonblocking(false).is_err() || !alive
        }
        let mut b = [0u8; 1];
        match self {
            Stream::Tcp(s) => {
                let t: &TcpStream = s;
                probe(|on| t.set_nonblocking(on), || (&*t).read(&mut b))
            }
            #[cfg(unix)]
            Stream::Unix(s) => {
                let u: &std::os::unix::net::UnixStream = s;
                probe(|on| u.set_nonblocking(on), || (&*u).read(&mut b))
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                // TLS servers may send records unasked (session tickets): let rustls read
                // whatever is there; the connection is stale if it fails, the peer closed it,
                // or application data arrived.
                let sock = s.sock.try_clone();
                let Ok(sock) = sock else { return true };
                let mut alive = false;
                let closed = probe(
                    |on| sock.set_nonblocking(on),
                    || {
                        let mut reader = &sock;
                        let r = s.conn.read_tls(&mut reader);
                        if let Ok(n) = r {
                            alive = n > 0
                                && s.conn.process_new_packets().is_ok_and(|st| {
                                    !st.peer_has_closed() && st.plaintext_bytes_to_read() == 0
                                });
                        }
                        r
                    },
                );
                closed && !alive
            }
        }
    }
}

/// What went wrong on a connection, and whether the request can have reached the server.
#[derive(Debug)]
pub(crate) enum ConnError {
    /// Nothing of the request was sent (connect failed, or the write failed before the
    /// request's last byte left).
    NotSent(io::Error),
    /// The request was sent; its reply did not (fully) arrive. The connection is lost.
    NoReply(io::Error),
    /// The reply is not RESP (the connection is lost).
    Protocol(String),
    /// The reply announced more bytes than allowed (the connection is lost).
    TooLarge { size: u64 },
    /// The server refused the handshake (AUTH, SELECT).
    Handshake(redis::ServerError),
}

/// One connection to one Redis node.
pub(crate) struct Connection {
    stream: BufReader<Stream>,
    /// The connection can no longer be used (a reply was lost or garbled).
    broken: bool,
    /// Whether `MULTI` is allowed (see [`Connection::handshake`]).
    transactions: Result<(), redis::ServerError>,
}

impl Connection {
    /// Connects to `endpoint` and authenticates / selects the database as `settings` say.
    pub(crate) fn open(endpoint: &Endpoint, settings: &Settings) -> Result<Self, ConnError> {
        let stream = connect(endpoint, settings).map_err(ConnError::NotSent)?;
        stream
            .set_timeouts(settings.response_timeout)
            .map_err(ConnError::NotSent)?;
        let mut con = Connection {
            stream: BufReader::with_capacity(READ_BUFFER, stream),
            broken: false,
            transactions: Ok(()),
        };
        con.handshake(settings)?;
        Ok(con)
    }

    /// Authenticates, selects the database, and finds out whether this user may run
    /// transactions (`MULTI` then `DISCARD`), all in one round trip. If `MULTI` is refused,
    /// the commands of a transaction would run one by one, unprotected: writes on such a
    /// connection are refused before anything is sent ([`Connection::transactions`]).
    fn handshake(&mut self, settings: &Settings) -> Result<(), ConnError> {
        let mut cmds = crate::marshal::Commands::new();
        if let Some(password) = &settings.password {
            cmds.cmd("AUTH");
            if let Some(user) = &settings.username {
                cmds.arg(user);
            }
            cmds.arg(password);
        }
        if settings.db != 0 {
            cmds.cmd("SELECT")
                .arg(itoa::Buffer::new().format(settings.db));
        }
        let setup = cmds.len();
        cmds.cmd("MULTI");
        cmds.cmd("DISCARD");
        let mut replies = self.request(&resp::pipeline(&cmds), cmds.len(), u64::MAX)?;
        let probe = replies.split_off(setup);
        if let Some(e) = replies.into_iter().find_map(|r| match r {
            Value::ServerError(e) => Some(e),
            _ => None,
        }) {
            return Err(ConnError::Handshake(e));
        }
        match probe.into_iter().next() {
            Some(Value::ServerError(e)) => self.transactions = Err(e),
            Some(Value::Okay) => {}
            other => {
                return Err(ConnError::Protocol(format!(
                    "an unexpected reply to MULTI: {other:?}"
                )))
            }
        }
        Ok(())
    }

    /// `Err` with the server's refusal if this connection's user may not run `MULTI`.
    pub(crate) fn transactions(&self) -> Result<(), &redis::ServerError> {
        self.transactions.as_ref().map(|_| ())
    }

    /// Marks the connection unusable (its state on the server is unknown).
    pub(crate) fn set_broken(&mut self) {
        self.broken = true;
    }

    /// True if the connection must not be used any more: a reply was lost, or the peer
    /// closed it while it sat idle. Never blocks.
    pub(crate) fn is_stale(&mut self) -> bool {
        self.broken || !self.stream.buffer().is_empty() || self.stream.get_mut().is_stale()
    }

    /// Sends `bytes` (`replies` commands) and reads that many replies; `budget` bounds the
    /// bytes of all string values in them.
    pub(crate) fn request(
        &mut self,
        bytes: &[u8],
        replies: usize,
        budget: u64,
    ) -> Result<Vec<Value>, ConnError> {
        self.send(&mut [IoSlice::new(bytes)], replies, budget)
    }

    /// Like [`request`](Self::request), with the bytes of `req` written by vectored writes
    /// (its large arguments straight from where they are).
    pub(crate) fn request_vectored(
        &mut self,
        req: &resp::Request<'_>,
        replies: usize,
        budget: u64,
    ) -> Result<Vec<Value>, ConnError> {
        self.send(&mut req.slices(), replies, budget)
    }

    fn send(
        &mut self,
        bytes: &mut [IoSlice<'_>],
        replies: usize,
        mut budget: u64,
    ) -> Result<Vec<Value>, ConnError> {
        if let Err(e) = write_all_vectored(self.stream.get_mut(), bytes) {
            self.broken = true;
            return Err(ConnError::NotSent(e));
        }
        let mut out = Vec::with_capacity(replies);
        for _ in 0..replies {
            match resp::read_reply(&mut self.stream, &mut budget) {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.broken = true;
                    return Err(match e {
                        ReadError::Io(e) => ConnError::NoReply(e),
                        ReadError::Protocol(p) => ConnError::Protocol(p),
                        ReadError::TooLarge { size } => ConnError::TooLarge { size },
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Writes every byte of `bufs` (`Write::write_all_vectored` is not stable yet). An error
/// means the last byte was not written.
fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn connect(endpoint: &Endpoint, settings: &Settings) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp { host, port } => Ok(Stream::Tcp(tcp(host, *port, settings)?)),
        #[cfg(unix)]
        Endpoint::Unix(path) => Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(path)?)),
        #[cfg(not(unix))]
        Endpoint::Unix(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "unix sockets are not available on this platform",
        )),
        #[cfg(feature = "tls")]
        Endpoint::Tls { host, port } => {
            let tcp = tcp(host, *port, settings)?;
            let config = settings.tls.clone().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no TLS configuration")
            })?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
            let mut stream = rustls::StreamOwned::new(tls, tcp);
            // Finish the handshake now, within the connect timeout.
            stream
                .sock
                .set_read_timeout(Some(settings.connect_timeout))?;
            stream
                .sock
                .set_write_timeout(Some(settings.connect_timeout))?;
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
            Ok(Stream::Tls(Box::new(stream)))
        }
        #[cfg(not(feature = "tls"))]
        Endpoint::Tls { .. } => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "rediss:// needs reem's `tls` feature",
        )),
    }
}

fn tcp(host: &str, port: u16, settings: &Settings) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, settings.connect_timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
