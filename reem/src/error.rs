//! The one error type of reem.
//!
//! Every variant says which key (and, when it matters, which stored field) was involved and
//! what was expected versus found, so that a robot operator can act on the message alone.

use std::fmt;

/// The result type of every fallible reem call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to Redis or decoding what it holds.
///
/// Bytes read from Redis are untrusted: whatever a key holds, reading it gives a value or one
/// of these errors, never a panic.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The key does not exist (or holds an empty hash).
    NotFound {
        /// The key that was read.
        key: String,
    },
    /// The key exists but holds another Redis type than reem's hash (a string, a list, ...).
    WrongRedisType {
        /// The key that was read.
        key: String,
        /// What the reply looked like.
        found: String,
    },
    /// The stored message was written by another type, or by an incompatible version of
    /// this type.
    SchemaMismatch {
        /// The key that was read.
        key: String,
        /// Label and fingerprint of the stored message.
        stored: String,
        /// Label and fingerprint of the type asked for.
        expected: String,
        /// Which difference makes them incompatible.
        reason: String,
    },
    /// A field the type needs is absent from the stored hash.
    MissingField {
        /// The key that was read.
        key: String,
        /// The stored field name (`base.x`).
        field: String,
    },
    /// A stored field does not decode as the type asks.
    InvalidField {
        /// The key that was read.
        key: String,
        /// The stored field name (`base.x`).
        field: String,
        /// What the type needs (`u8`, `UTF-8 text`, `a shape like (480, 640, 3)`).
        expected: String,
        /// What is stored (shortened, printable).
        found: String,
    },
    /// A value could not be encoded for storage (e.g. a `#[reem(json)]` field whose
    /// `Serialize` impl failed).
    Encode {
        /// The key that was written.
        key: String,
        /// The stored field name.
        field: String,
        /// Why encoding failed.
        reason: String,
    },
    /// No registered marshaller ("ship") fits a value, or none is registered for a
    /// stored label.
    NoMarshaller {
        /// The key involved.
        key: String,
        /// The value's type name or the stored label.
        what: String,
    },
    /// A message or field is larger than the configured limit.
    TooLarge {
        /// The key involved.
        key: String,
        /// Size in bytes that was seen or announced.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The URL given to [`RedisInterface::new`](crate::RedisInterface::new) is not usable.
    InvalidUrl {
        /// The URL (password removed).
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The connection to Redis failed: the server could not be reached, closed the
    /// connection, or its reply was unreadable. Nothing was applied unless the error is
    /// [`Error::Unconfirmed`].
    Io {
        /// What was being done: the key, the server's address.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No reply came within the interface's response timeout.
    Timeout {
        /// What was being done: the key, the server's address.
        context: String,
    },
    /// A write was sent, but the connection failed before its reply arrived: it may or may
    /// not have been applied. reem never sends such a write again by itself (it could be
    /// applied twice); read the key to find out.
    Unconfirmed {
        /// The key written.
        key: String,
        /// What failed.
        reason: String,
    },
    /// The server refused a command (`NOPERM`, `CROSSSLOT`, `CLUSTERDOWN`, `READONLY`,
    /// `OOM`, …). A refused write was not applied.
    Refused {
        /// The key involved.
        key: String,
        /// The error code (`NOPERM`).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The `redis` crate reported an error (connection, protocol, server reply).
    Redis(redis::RedisError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { key } => write!(f, "key {key:?} not found"),
            Error::WrongRedisType { key, found } => {
                write!(
                    f,
                    "key {key:?} does not hold a reem message (a hash): found {found}"
                )
            }
            Error::SchemaMismatch {
                key,
                stored,
                expected,
                reason,
            } => write!(
                f,
                "key {key:?} holds {stored}, which cannot be read as {expected}: {reason}"
            ),
            Error::MissingField { key, field } => {
                write!(f, "key {key:?}: field {field:?} is missing")
            }
            Error::InvalidField {
                key,
                field,
                expected,
                found,
            } => write!(
                f,
                "key {key:?}: field {field:?} should be {expected}, found {found}"
            ),
            Error::Encode { key, field, reason } => {
                write!(f, "key {key:?}: cannot encode field {field:?}: {reason}")
            }
            Error::NoMarshaller { key, what } => {
                write!(f, "key {key:?}: no registered marshaller handles {what}")
            }
            Error::TooLarge { key, size, limit } => write!(
                f,
                "key {key:?}: {size} bytes exceed the limit of {limit} bytes"
            ),
            Error::InvalidUrl { url, reason } => write!(f, "invalid Redis URL {url:?}: {reason}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Timeout { context } => {
                write!(f, "{context}: no reply within the response timeout")
            }
            Error::Unconfirmed { key, reason } => write!(
                f,
                "key {key:?}: the write was sent but its reply was lost ({reason}); it may or \
                 may not have been applied"
            ),
            Error::Refused { key, code, message } => {
                write!(
                    f,
                    "key {key:?}: Redis refused the command: {code} {message}"
                )
            }
            Error::Redis(e) => write!(f, "redis: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

impl Error {
    /// True when the key was absent: the one error a caller may want to treat as "no
    /// value yet".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True for schema mismatches (another type, or an incompatible version of this one).
    pub fn is_schema_mismatch(&self) -> bool {
        matches!(self, Error::SchemaMismatch { .. })
    }

    /// True if no reply came in time ([`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// True if the connection to Redis failed ([`Error::Io`], [`Error::Timeout`],
    /// [`Error::Unconfirmed`]): trying again later may work.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::Timeout { .. } | Error::Unconfirmed { .. }
        )
    }

    /// Maps an error of the `redis` crate met while working on `key` (`what` says what was
    /// being done, for connection errors).
    pub(crate) fn from_redis(key: &str, e: redis::RedisError) -> Self {
        if let Some(errors) = e.clone().into_server_errors() {
            if let Some((_, first)) = errors.first() {
                return Error::from_server_error(key, first);
            }
        }
        let context = format!("key {key:?}");
        if e.is_timeout() {
            return Error::Timeout { context };
        }
        if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            let kind = if e.is_connection_refusal() {
                std::io::ErrorKind::ConnectionRefused
            } else if e.is_connection_dropped() {
                std::io::ErrorKind::ConnectionReset
            } else {
                std::io::ErrorKind::Other
            };
            return Error::Io {
                context,
                source: std::io::Error::new(kind, e.to_string()),
            };
        }
        Error::Redis(e)
    }

    /// The error for a server error reply `code message` met while working on `key`.
    pub(crate) fn from_reply(key: &str, code: &str, message: &str) -> Self {
        if code == "WRONGTYPE" {
            Error::WrongRedisType {
                key: key.to_owned(),
                found: "another Redis type (WRONGTYPE)".to_owned(),
            }
        } else {
            Error::Refused {
                key: key.to_owned(),
                code: code.to_owned(),
                message: message.to_owned(),
            }
        }
    }

    /// The error for a server error reply met while working on `key`.
    pub(crate) fn from_server_error(key: &str, e: &redis::ServerError) -> Self {
        Error::from_reply(key, e.code(), e.details().unwrap_or(""))
    }
}

/// Shortens untrusted bytes into printable text for error messages.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = &bytes[..bytes.len().min(MAX)];
    let mut s = format!("{:?}", String::from_utf8_lossy(cut));
    if bytes.len() > MAX {
        s.push_str(&format!(" (… {} bytes in all)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_std_error() {
        fn check<E: std::error::Error + Send + Sync + 'static>() {}
        check::<Error>();
    }

    #[test]
    fn long_untrusted_text_is_shortened() {
        let shown = show_bytes(&[b'a'; 1000]);
        assert!(shown.len() < 120, "{shown}");
        assert!(shown.contains("1000 bytes"));
    }
}
