//! The "direct RESP" floor: the bytes of a request written to a `TcpStream` with no client
//! library, and the reply read straight into a buffer the caller already owns.
//!
//! This is what the physics of the machine allows for the same Redis commands: a write is
//! one vectored `write` of hand-built RESP headers around the array's own memory (nothing
//! copied in user space), a read parses the `HGETALL` reply and reads the array's bulk
//! string straight from the socket into a reused, already faulted element buffer (nothing
//! allocated, nothing copied in user space). A library that hands the caller a fresh owned
//! array cannot go below it: it must at least fault in that array's pages.

use std::io::{self, BufRead, BufReader, IoSlice, Read, Write};
use std::net::TcpStream;

/// One hand-driven connection.
pub struct Direct {
    r: BufReader<TcpStream>,
    w: TcpStream,
    line: Vec<u8>,
    head: Vec<u8>,
}

fn header(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    header(out, b'$', b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn command(out: &mut Vec<u8>, parts: &[&[u8]]) {
    header(out, b'*', parts.len());
    parts.iter().for_each(|p| bulk(out, p));
}

impl Direct {
    /// Connects to `redis://host:port` (TCP_NODELAY on, as reem and the raw code have it).
    pub fn connect(url: &str) -> Self {
        let hostport = url
            .strip_prefix("redis://")
            .expect("a redis:// URL")
            .trim_end_matches('/');
        let w = TcpStream::connect(hostport).expect("connect");
        w.set_nodelay(true).unwrap();
        let r = BufReader::with_capacity(64 * 1024, w.try_clone().unwrap());
        Direct {
            r,
            w,
            line: Vec::with_capacity(64),
            head: Vec::with_capacity(1024),
        }
    }

    /// `MULTI; UNLINK key; HSET key small…; HSET key field <large>; EXEC`, the large value
    /// written from its own memory by one vectored write; checks the replies.
    pub fn write_large(&mut self, key: &str, small: &[(&str, &[u8])], field: &str, large: &[u8]) {
        let h = &mut self.head;
        h.clear();
        command(h, &[b"MULTI"]);
        command(h, &[b"UNLINK", key.as_bytes()]);
        header(h, b'*', 2 + 2 * small.len());
        bulk(h, b"HSET");
        bulk(h, key.as_bytes());
        for (k, v) in small {
            bulk(h, k.as_bytes());
            bulk(h, v);
        }
        header(h, b'*', 4);
        bulk(h, b"HSET");
        bulk(h, key.as_bytes());
        bulk(h, field.as_bytes());
        header(h, b'$', large.len());
        let tail = b"\r\n*1\r\n$4\r\nEXEC\r\n";
        write_all_vectored(&mut self.w, &[&self.head, large, tail]).unwrap();
        for _ in 0..4 {
            self.expect_status(); // +OK, +QUEUED ×3
        }
        let n = self.array_len();
        for _ in 0..n {
            self.skip_value();
        }
    }

    /// `HGETALL key`, reading the value of `field` straight into `out` (which must have the
    /// exact size); every other value is skipped.
    pub fn read_large(&mut self, key: &str, field: &str, out: &mut [u8]) {
        self.head.clear();
        command(&mut self.head, &[b"HGETALL", key.as_bytes()]);
        self.w.write_all(&self.head).unwrap();
        let n = self.array_len();
        assert!(n > 0 && n.is_multiple_of(2), "a hash");
        let mut found = false;
        for _ in 0..n / 2 {
            let len = self.bulk_len();
            let mut name = vec![0u8; len];
            self.r.read_exact(&mut name).unwrap();
            self.crlf();
            let len = self.bulk_len();
            if name == field.as_bytes() {
                assert_eq!(len, out.len(), "the array's size");
                self.r.read_exact(out).unwrap();
                found = true;
            } else {
                io::copy(&mut (&mut self.r).take(len as u64), &mut io::sink()).unwrap();
            }
            self.crlf();
        }
        assert!(found, "field {field} in {key}");
    }

    fn read_line(&mut self) -> &[u8] {
        self.line.clear();
        self.r.read_until(b'\n', &mut self.line).unwrap();
        assert!(self.line.ends_with(b"\r\n"), "a RESP line");
        let n = self.line.len();
        &self.line[..n - 2]
    }

    fn number(&mut self, tag: u8) -> usize {
        let line = self.read_line();
        assert_eq!(line[0], tag, "{}", String::from_utf8_lossy(line));
        std::str::from_utf8(&line[1..]).unwrap().parse().unwrap()
    }

    fn array_len(&mut self) -> usize {
        self.number(b'*')
    }

    fn bulk_len(&mut self) -> usize {
        self.number(b'$')
    }

    fn crlf(&mut self) {
        let mut c = [0u8; 2];
        self.r.read_exact(&mut c).unwrap();
        assert_eq!(&c, b"\r\n");
    }

    fn expect_status(&mut self) {
        let line = self.read_line();
        assert_eq!(line[0], b'+', "{}", String::from_utf8_lossy(line));
    }

    fn skip_value(&mut self) {
        let line = self.read_line().to_vec();
        match line[0] {
            b'+' | b':' => {}
            b'$' => {
                let len: i64 = std::str::from_utf8(&line[1..]).unwrap().parse().unwrap();
                if len >= 0 {
                    io::copy(&mut (&mut self.r).take(len as u64 + 2), &mut io::sink()).unwrap();
                }
            }
            b'*' => {
                let n: i64 = std::str::from_utf8(&line[1..]).unwrap().parse().unwrap();
                for _ in 0..n.max(0) {
                    self.skip_value();
                }
            }
            _ => panic!("reply {}", String::from_utf8_lossy(&line)),
        }
    }
}

/// Writes every byte of `parts` with vectored writes.
fn write_all_vectored(w: &mut TcpStream, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        let n = w.write_vectored(bufs)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}
