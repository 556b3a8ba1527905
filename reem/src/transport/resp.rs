//! RESP2: the bytes of queued [`Commands`], and replies parsed from a socket.
//!
//! Encoding computes the exact size first. A [`Request`] holds the framing and the small
//! arguments in one buffer and borrows every large argument where it is, for a vectored
//! write (an array being stored is not copied in memory at all); [`pipeline`] and
//! [`transaction`] copy everything once into one buffer. Parsing reads replies into [`redis::Value`]s with bounds: a
//! reply whose string values add up to more than the caller's budget is refused before the
//! bytes are read (the connection is then closed), nesting is limited, and a bulk string
//! longer than the read buffer is read straight from the socket into a vector of its exact
//! size: the thread's spare buffer when one fits (`recycle`: memory an earlier large read
//! already touched, so no page faults), else a new one.

use std::io::{self, BufRead, IoSlice, Read};

use redis::Value;

use crate::marshal::{Command, Commands};
use crate::recycle;

/// Appends one RESP array header `*n\r\n`.
fn header(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn header_len(n: usize) -> usize {
    1 + itoa::Buffer::new().format(n).len() + 2
}

fn command_len(cmd: &Command<'_>) -> usize {
    header_len(cmd.parts().len())
        + cmd
            .parts()
            .map(|a| header_len(a.len()) + a.len() + 2)
            .sum::<usize>()
}

fn put_command(out: &mut Vec<u8>, cmd: &Command<'_>) {
    header(out, b'*', cmd.parts().len());
    for arg in cmd.parts() {
        header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

/// Arguments at least this long are not copied into a [`Request`]: they are written from
/// where they are (the array being stored) by a vectored write.
pub(crate) const BORROW_FROM: usize = 16 * 1024;

/// The bytes of a request, for a vectored write: the framing and every small argument in
/// one buffer, each large argument (at least [`BORROW_FROM`] bytes) borrowed where it is,
/// so that an array being stored is never copied in memory on its way to the socket.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    small: Vec<u8>,
    /// Each large argument and where it goes: before `small[at..]`.
    large: Vec<(usize, &'a [u8])>,
}

impl<'a> Request<'a> {
    fn with_capacity(small: usize) -> Self {
        Request {
            small: Vec::with_capacity(small),
            large: Vec::new(),
        }
    }

    fn put_command(&mut self, cmd: &Command<'a>) {
        header(&mut self.small, b'*', cmd.parts().len());
        for arg in cmd.parts() {
            header(&mut self.small, b'$', arg.len());
            if arg.len() >= BORROW_FROM {
                self.large.push((self.small.len(), arg));
            } else {
                self.small.extend_from_slice(arg);
            }
            self.small.extend_from_slice(b"\r\n");
        }
    }

    /// The pieces to write, in order.
    pub(crate) fn slices(&self) -> Vec<IoSlice<'_>> {
        let mut out = Vec::with_capacity(2 * self.large.len() + 1);
        let mut from = 0;
        for (at, large) in &self.large {
            out.push(IoSlice::new(&self.small[from..*at]));
            out.push(IoSlice::new(large));
            from = *at;
        }
        out.push(IoSlice::new(&self.small[from..]));
        out
    }

    /// All the bytes in one buffer (tests, and transports that need one).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }
}

/// Small bytes of `cmd` in a [`Request`]: the framing, plus the arguments not borrowed.
fn small_len(cmd: &Command<'_>) -> usize {
    header_len(cmd.parts().len())
        + cmd
            .parts()
            .map(|a| header_len(a.len()) + if a.len() >= BORROW_FROM { 0 } else { a.len() } + 2)
            .sum::<usize>()
}

/// `cmds` as one transaction (`MULTI`, the commands, `EXEC`), large arguments borrowed.
pub(crate) fn transaction_request<'a>(cmds: &'a Commands<'_>) -> Request<'a> {
    let size = MULTI.len() + EXEC.len() + cmds.iter().map(|c| small_len(&c)).sum::<usize>();
    let mut out = Request::with_capacity(size);
    out.small.extend_from_slice(MULTI);
    cmds.iter().for_each(|c| out.put_command(&c));
    out.small.extend_from_slice(EXEC);
    out
}

/// `cmds` as a pipeline, large arguments borrowed.
pub(crate) fn pipeline_request<'a>(cmds: &'a Commands<'_>) -> Request<'a> {
    let mut out = Request::with_capacity(cmds.iter().map(|c| small_len(&c)).sum());
    cmds.iter().for_each(|c| out.put_command(&c));
    out
}

/// The bytes of `cmds` as a pipeline: every command after the other.
pub(crate) fn pipeline(cmds: &Commands<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmds.iter().map(|c| command_len(&c)).sum());
    cmds.iter().for_each(|c| put_command(&mut out, &c));
    out
}

/// The bytes of `cmds` as one transaction: `MULTI`, the commands, `EXEC`, in one buffer (for
/// a transport that cannot write a [`Request`]).
#[allow(dead_code)]
pub(crate) fn transaction(cmds: &Commands<'_>) -> Vec<u8> {
    let size = MULTI.len() + EXEC.len() + cmds.iter().map(|c| command_len(&c)).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MULTI);
    cmds.iter().for_each(|c| put_command(&mut out, &c));
    out.extend_from_slice(EXEC);
    out
}

/// Deepest nesting of arrays accepted in a reply (reem's deepest is an `EXEC` array holding
/// `HGETALL` arrays).
const MAX_DEPTH: usize = 8;

/// Why a reply could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The socket failed or closed (the reply may be partly read: the connection is lost).
    Io(io::Error),
    /// The bytes are not RESP2 (a protocol error: the connection is lost).
    Protocol(String),
    /// The reply's string values add up to more than the budget (announced `size`); nothing
    /// beyond the announcement was read, and the connection must be closed.
    TooLarge { size: u64 },
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads one reply. `budget` bounds the bytes of all string values in it.
pub(crate) fn read_reply<R: BufRead>(r: &mut R, budget: &mut u64) -> Result<Value, ReadError> {
    let start = *budget;
    // One buffer for every line of the reply (the headers of its values).
    let mut line = Vec::with_capacity(64);
    read_value(r, budget, 0, &mut line).map_err(|e| match e {
        // Report everything the reply announced so far, not only the value that crossed.
        ReadError::TooLarge { size } => ReadError::TooLarge {
            size: size + (start - *budget),
        },
        other => other,
    })
}

fn read_value<R: BufRead>(
    r: &mut R,
    budget: &mut u64,
    depth: usize,
    line: &mut Vec<u8>,
) -> Result<Value, ReadError> {
    line.clear();
    read_line(r, line)?;
    let (tag, rest) = line
        .split_first()
        .ok_or_else(|| ReadError::Protocol("an empty reply line".to_owned()))?;
    match *tag {
        b'+' => Ok(match rest {
            b"OK" => Value::Okay,
            _ => Value::SimpleString(String::from_utf8_lossy(rest).into_owned()),
        }),
        b'-' => Ok(Value::ServerError(server_error(rest))),
        b':' => Ok(Value::Int(integer(rest)?)),
        b'$' => {
            let len = integer(rest)?;
            if len < 0 {
                return Ok(Value::Nil);
            }
            let len = len as u64;
            if len > *budget {
                return Err(ReadError::TooLarge { size: len });
            }
            *budget -= len;
            // Straight from the socket into a vector of the exact size (this thread's spare
            // buffer for large values, whose pages are already in memory): the read buffer's
            // bytes are copied first, then the rest is read without going through it.
            let mut bytes = recycle::take(len as usize);
            r.read_exact(&mut bytes)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            if &crlf != b"\r\n" {
                return Err(ReadError::Protocol(
                    "a bulk string not ended by CRLF".to_owned(),
                ));
            }
            Ok(Value::BulkString(bytes))
        }
        b'*' => {
            let n = integer(rest)?;
            if n < 0 {
                return Ok(Value::Nil);
            }
            if depth >= MAX_DEPTH {
                return Err(ReadError::Protocol("a reply nested too deeply".to_owned()));
            }
            // Each element takes at least 3 bytes (`:0\r\n`), so a count larger than what the
            // budget allows is refused before allocating for it.
            let n = n as u64;
            let mut items = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                items.push(read_value(r, budget, depth + 1, line)?);
            }
            Ok(Value::Array(items))
        }
        _ => Err(ReadError::Protocol(format!(
            "an unknown reply type {:?}",
            *tag as char
        ))),
    }
}

/// Longest line accepted (a status, an error, a number).
const MAX_LINE: usize = 64 * 1024;

fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> Result<(), ReadError> {
    let n = r.by_ref().take(MAX_LINE as u64).read_until(b'\n', line)?;
    if n == 0 {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    if !line.ends_with(b"\r\n") {
        return Err(ReadError::Protocol(
            "a reply line not ended by CRLF".to_owned(),
        ));
    }
    line.truncate(line.len() - 2);
    Ok(())
}

fn integer(text: &[u8]) -> Result<i64, ReadError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ReadError::Protocol("a bad number in a reply".to_owned()))
}

/// A `-CODE detail` error line as the redis crate's [`redis::ServerError`].
fn server_error(text: &[u8]) -> redis::ServerError {
    // The crate parses error lines itself; reuse it so that codes map to its kinds.
    let mut line = Vec::with_capacity(text.len() + 3);
    line.push(b'-');
    line.extend_from_slice(text);
    line.extend_from_slice(b"\r\n");
    match redis::parse_redis_value(&line) {
        Ok(Value::ServerError(e)) => e,
        _ => match redis::parse_redis_value(b"-ERR unreadable error reply\r\n") {
            Ok(Value::ServerError(e)) => e,
            _ => unreachable!("a constant error line parses"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn read(bytes: &[u8], budget: u64) -> Result<Value, ReadError> {
        let mut budget = budget;
        read_reply(&mut io::BufReader::with_capacity(4, bytes), &mut budget)
    }

    #[test]
    fn a_transaction_is_framed_by_multi_and_exec() {
        let big = vec![b'x'; 5];
        let mut cmds = Commands::new();
        cmds.cmd("HSET")
            .arg("k")
            .arg("f")
            .arg_large(Cow::Borrowed(&big));
        assert_eq!(
            transaction(&cmds),
            b"*1\r\n$5\r\nMULTI\r\n*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$1\r\nf\r\n$5\r\nxxxxx\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        let p = pipeline(&cmds);
        assert_eq!(p.len(), p.capacity(), "sized exactly");
        assert_eq!(transaction_request(&cmds).to_vec(), transaction(&cmds));
        assert_eq!(pipeline_request(&cmds).to_vec(), p);
    }

    #[test]
    fn large_arguments_are_borrowed_not_copied() {
        let big = vec![7u8; BORROW_FROM];
        let other = vec![8u8; BORROW_FROM + 1];
        let mut cmds = Commands::new();
        cmds.cmd("HSET")
            .arg("k")
            .arg("a")
            .arg_large(Cow::Borrowed(&big))
            .arg("b")
            .arg(&other);
        cmds.cmd("PUBLISH").arg("c").arg("n");
        let req = transaction_request(&cmds);
        let slices = req.slices();
        assert_eq!(slices.len(), 5);
        assert!(
            std::ptr::eq(slices[1].as_ptr(), big.as_ptr()),
            "written from where it is"
        );
        assert_eq!(slices[3].len(), other.len());
        assert_eq!(req.small.len(), req.small.capacity(), "sized exactly");
        assert_eq!(req.to_vec(), transaction(&cmds));
        assert!(slices[4].ends_with(EXEC));
    }

    #[test]
    fn replies_parse_with_bulk_strings_larger_than_the_buffer() {
        let v = read(b"*3\r\n$10\r\n0123456789\r\n:-5\r\n$-1\r\n", 100).unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::BulkString(b"0123456789".to_vec()),
                Value::Int(-5),
                Value::Nil
            ])
        );
        assert_eq!(read(b"+OK\r\n", 0).unwrap(), Value::Okay);
        assert!(matches!(
            read(b"-WRONGTYPE Operation against a key\r\n", 0).unwrap(),
            Value::ServerError(e) if e.code() == "WRONGTYPE"
        ));
    }

    #[test]
    fn oversized_truncated_and_garbled_replies_are_errors() {
        assert!(matches!(
            read(b"$1000000000000\r\n", 1 << 20),
            Err(ReadError::TooLarge {
                size: 1_000_000_000_000
            })
        ));
        assert!(matches!(
            read(b"*2\r\n$3\r\nabc\r\n$3\r\nabc\r\n", 5),
            Err(ReadError::TooLarge { .. })
        ));
        assert!(matches!(read(b"$5\r\nab", 100), Err(ReadError::Io(_))));
        assert!(matches!(
            read(b"$2\r\nabXY", 100),
            Err(ReadError::Protocol(_))
        ));
        assert!(matches!(read(b"?x\r\n", 100), Err(ReadError::Protocol(_))));
        assert!(matches!(read(b"$x\r\n", 100), Err(ReadError::Protocol(_))));
        assert!(matches!(
            read(&b"*1\r\n".repeat(20), 100),
            Err(ReadError::Protocol(_))
        ));
        assert!(matches!(read(b"", 100), Err(ReadError::Io(_))));
    }
}
