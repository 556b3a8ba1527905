//! A minimal RESP2 client for talking to the servers this crate starts (readiness, identity,
//! cluster administration): one blocking connection, short timeouts, no dependency on reem.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long one connect, read or write may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Nesting limit for replies (`CLUSTER SLOTS` needs 3).
const MAX_DEPTH: usize = 8;
/// Largest bulk reply accepted (administration replies are small).
const MAX_BULK: usize = 64 << 20;

/// A reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
}

impl Value {
    /// The reply as text (status or bulk), or an error naming what came instead.
    pub(crate) fn text(self) -> Result<String, String> {
        match self {
            Value::Status(s) => Ok(s),
            Value::Bulk(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Value::Error(e) => Err(e),
            other => Err(format!("unexpected reply {other:?}")),
        }
    }

    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// One connection.
pub(crate) struct Conn(BufReader<Stream>);

impl Conn {
    /// Plain TCP to `127.0.0.1:port`.
    pub(crate) fn tcp(port: u16) -> io::Result<Conn> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Conn(BufReader::new(Stream::Tcp(s))))
    }

    /// The unix socket at `path`.
    pub(crate) fn unix(path: &Path) -> io::Result<Conn> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        Ok(Conn(BufReader::new(Stream::Unix(s))))
    }

    /// Sends one command and reads its reply (an error reply is `Ok(Value::Error)`).
    pub(crate) fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Value> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.0.get_mut().write_all(&out)?;
        read_value(&mut self.0, 0)
    }

    /// [`Conn::call`], with an error reply or an I/O error as one message.
    pub(crate) fn ask<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value, String> {
        let name = args
            .iter()
            .take(2)
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        match self.call(args) {
            Ok(Value::Error(e)) => Err(format!("{name}: {e}")),
            Ok(v) => Ok(v),
            Err(e) => Err(format!("{name}: {e}")),
        }
    }
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_value(r: &mut impl BufRead, depth: usize) -> io::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(bad("reply nested too deeply"));
    }
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(bad("connection closed mid-reply"));
    }
    line.truncate(line.len() - 2);
    let (kind, rest) = line.split_first().ok_or_else(|| bad("empty reply line"))?;
    let text = String::from_utf8_lossy(rest).into_owned();
    let number = || {
        text.parse::<i64>()
            .map_err(|_| bad(format!("bad length {text:?}")))
    };
    Ok(match kind {
        b'+' => Value::Status(text),
        b'-' => Value::Error(text),
        b':' => Value::Int(number()?),
        b'$' => {
            let n = number()?;
            if n < 0 {
                return Ok(Value::Nil);
            }
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= MAX_BULK)
                .ok_or_else(|| bad(format!("bulk reply of {n} bytes")))?;
            let mut data = vec![0; n + 2];
            r.read_exact(&mut data)?;
            if !data.ends_with(b"\r\n") {
                return Err(bad("bulk reply without its CRLF"));
            }
            data.truncate(n);
            Value::Bulk(data)
        }
        b'*' => {
            let n = number()?;
            if n < 0 {
                return Ok(Value::Nil);
            }
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(read_value(r, depth + 1)?);
            }
            Value::Array(items)
        }
        other => return Err(bad(format!("unknown reply type {:?}", *other as char))),
    })
}

/// The `key:value` lines of an `INFO` or `CLUSTER INFO` reply.
pub(crate) fn info_field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<Value> {
        read_value(&mut BufReader::new(bytes), 0)
    }

    #[test]
    fn parses_every_reply_kind() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Value::Status("OK".into()));
        assert_eq!(
            parse(b"-ERR no\r\n").unwrap(),
            Value::Error("ERR no".into())
        );
        assert_eq!(parse(b":-3\r\n").unwrap(), Value::Int(-3));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Value::Nil);
        assert_eq!(
            parse(b"*2\r\n$4\r\na\r\nc\r\n:1\r\n").unwrap(),
            Value::Array(vec![Value::Bulk(b"a\r\nc".to_vec()), Value::Int(1)])
        );
    }

    #[test]
    fn refuses_truncated_and_deep_replies() {
        assert!(parse(b"$5\r\nab").is_err());
        assert!(parse(b"$2\r\nabc\r\n").is_err());
        assert!(parse(b"+OK").is_err());
        assert!(parse(b"$99999999999\r\n").is_err());
        assert!(parse(&b"*1\r\n".repeat(20)).is_err());
    }

    #[test]
    fn finds_info_fields() {
        let info = "# Server\r\nrun_id:abc\r\nprocess_id:42\r\n";
        assert_eq!(info_field(info, "process_id"), Some("42"));
        assert_eq!(info_field(info, "run"), None);
    }
}
