//! [`Node`]: the transport to one Redis server, over a small pool of reem's connections.

use std::sync::Mutex;

use redis::Value;

use super::conn::{ConnError, Connection};
use super::{exec_replies, resp, Endpoint, Resend, Settings, Transport};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::marshal::Commands;

/// Connections kept open for reuse; more may be open at once while many threads work.
const MAX_IDLE: usize = 16;

/// One Redis server: connections are opened on demand, kept in a small pool and reused. A
/// pooled connection found closed (the server restarted) is dropped with all the idle ones
/// before anything is sent on it.
pub(crate) struct Node {
    endpoint: Endpoint,
    settings: Settings,
    idle: Mutex<Vec<Connection>>,
}

impl Node {
    /// The transport to `endpoint`; opens one connection to check that it answers.
    pub(crate) fn connect(endpoint: Endpoint, settings: Settings) -> Result<Self> {
        let node = Node {
            endpoint,
            settings,
            idle: Mutex::new(Vec::new()),
        };
        let con = node.open()?;
        node.give_back(con);
        Ok(node)
    }

    fn open(&self) -> Result<Connection> {
        Connection::open(&self.endpoint, &self.settings)
            .map_err(|e| self.error(None, e, Resend::IfLost))
    }

    /// An idle connection that is still open, or a new one.
    fn take(&self) -> Result<Connection> {
        loop {
            let pooled = lock(&self.idle).pop();
            let Some(mut con) = pooled else {
                return self.open();
            };
            if !con.is_stale() {
                return Ok(con);
            }
            // Closed while idle: the server most likely restarted, so the other idle
            // connections are closed too. Nothing was sent on any of them.
            lock(&self.idle).clear();
        }
    }

    fn give_back(&self, con: Connection) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(con);
        }
    }

    /// Sends `bytes` (`replies` replies expected) following the retry rule of [`super`].
    fn request(
        &self,
        key: &str,
        bytes: &resp::Request<'_>,
        replies: usize,
        resend: Resend,
        transaction: bool,
        check: impl Fn(&Connection) -> Result<()>,
    ) -> Result<Vec<Value>> {
        let mut tries = 0;
        let loading_deadline = self
            .settings
            .response_timeout
            .map(|t| std::time::Instant::now() + t);
        loop {
            tries += 1;
            let mut con = self.take()?;
            check(&con)?;
            match con.request_vectored(bytes, replies, self.settings.max_reply) {
                Ok(values) if is_loading(&values) && !past(loading_deadline) => {
                    // The server is loading its data after a restart and refused everything
                    // (a refused `MULTI` means the commands after it were refused too):
                    // nothing was applied, wait and send it again.
                    self.give_back(con);
                    tries = 0;
                    std::thread::sleep(LOADING_PAUSE);
                }
                Ok(values) => {
                    if transaction && matches!(values.last(), Some(Value::ServerError(_))) {
                        // `EXEC` itself was refused: the connection may still be inside
                        // `MULTI`, so it is not reused.
                        con.set_broken();
                    } else {
                        self.give_back(con);
                    }
                    return Ok(values);
                }
                Err(e) => {
                    let again = match &e {
                        ConnError::NotSent(_) => true,
                        ConnError::NoReply(io) => resend == Resend::IfLost && !is_timeout(io),
                        _ => false,
                    };
                    if !again || tries >= 2 {
                        return Err(self.error(Some(key), e, resend));
                    }
                }
            }
        }
    }

    fn error(&self, key: Option<&str>, e: ConnError, resend: Resend) -> Error {
        let context = match key {
            Some(key) => format!("key {key:?} on {}", self.endpoint),
            None => format!("connecting to {}", self.endpoint),
        };
        match e {
            ConnError::NoReply(io) if resend == Resend::Never => Error::Unconfirmed {
                key: key.unwrap_or_default().to_owned(),
                reason: if is_timeout(&io) {
                    "no reply within the response timeout".to_owned()
                } else {
                    io.to_string()
                },
            },
            ConnError::NotSent(io) | ConnError::NoReply(io) if is_timeout(&io) => {
                Error::Timeout { context }
            }
            ConnError::NotSent(io) | ConnError::NoReply(io) => Error::Io {
                context,
                source: io,
            },
            ConnError::Protocol(p) => Error::Io {
                context,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, p),
            },
            ConnError::TooLarge { size } => Error::TooLarge {
                key: key.unwrap_or_default().to_owned(),
                size,
                limit: self.settings.max_reply,
            },
            ConnError::Handshake(e) => Error::Refused {
                key: key.unwrap_or_default().to_owned(),
                code: e.code().to_owned(),
                message: format!(
                    "{} (while connecting to {})",
                    e.details().unwrap_or(""),
                    self.endpoint
                ),
            },
        }
    }
}

/// How long to wait before asking a server that is loading its data again.
const LOADING_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// True if the first reply is `LOADING`: the server refused the whole request.
fn is_loading(values: &[Value]) -> bool {
    matches!(values.first(), Some(Value::ServerError(e)) if e.code() == "LOADING")
}

fn past(deadline: Option<std::time::Instant>) -> bool {
    deadline.is_some_and(|d| std::time::Instant::now() >= d)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

impl Transport for Node {
    fn transaction(&self, key: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        let bytes = resp::transaction_request(cmds);
        let replies = self.request(key, &bytes, cmds.len() + 2, Resend::Never, true, |con| {
            con.transactions()
                .map_err(|e| super::multi_refused(key, e.code(), e.details().unwrap_or("")))
        })?;
        exec_replies(key, replies)
    }

    fn pipeline(&self, key: &str, cmds: &Commands<'_>, resend: Resend) -> Result<Vec<Value>> {
        let bytes = resp::pipeline_request(cmds);
        self.request(key, &bytes, cmds.len(), resend, false, |_| Ok(()))
    }

    fn masters(&self) -> Result<Vec<String>> {
        Ok(vec![self.endpoint.to_string()])
    }

    fn pipeline_on(&self, _node: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
        self.pipeline("", cmds, Resend::IfLost)
    }

    fn db(&self) -> i64 {
        self.settings.db
    }

    fn is_cluster(&self) -> bool {
        false
    }
}
