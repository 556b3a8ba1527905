//! [`FieldWriter`]: where encodings put their stored fields.

use std::borrow::Cow;

use redis::Pipeline;

use super::path::{FieldPath, Mark};
use crate::error::Error;

/// Values at least this long are held back and sent after every small field of the
/// command: Redis handles a large argument faster at the end of an `HSET` (measured ~2× for
/// 8 MiB), and the small fields stay in one contiguous buffer.
pub const LARGE_VALUE: usize = 4096;

/// A large value held back: its stored name and its bytes.
pub(crate) type Large<'a> = (String, Cow<'a, [u8]>);

/// Collects the `field value` pairs of one message and appends them to the last command
/// queued on a [`redis::Pipeline`] (an `HSET`, or a script call).
///
/// Small values (numbers formatted as text, names) are appended at once; large values (array
/// bytes) are borrowed from the message and appended last by [`FieldWriter::finish`], so an
/// array is copied exactly once, by the `redis` crate, into the command buffer.
pub struct FieldWriter<'p, 'a> {
    key: &'p str,
    sink: Sink<'p>,
    path: FieldPath,
    large: Vec<Large<'a>>,
    pairs: usize,
}

/// Where the pairs go: the last command of a pipeline, or RESP bytes the transport sends
/// itself (see [`FieldWriter::packed`]).
enum Sink<'p> {
    Pipeline(&'p mut Pipeline),
    Resp(&'p mut Vec<u8>),
}

impl<'p, 'a> FieldWriter<'p, 'a> {
    /// A writer appending to the last command of `pipe`, for a message at `key`, starting at
    /// `path`.
    pub fn new(key: &'p str, pipe: &'p mut Pipeline, path: FieldPath) -> Self {
        Self {
            key,
            sink: Sink::Pipeline(pipe),
            path,
            large: Vec::new(),
            pairs: 0,
        }
    }

    /// A writer encoding the small pairs as RESP bulk strings into `out`; the large values
    /// are handed back by [`FieldWriter::finish_packed`], still borrowed, so that the
    /// transport copies them once, straight into the bytes it sends.
    pub(crate) fn packed(key: &'p str, out: &'p mut Vec<u8>, path: FieldPath) -> Self {
        Self {
            key,
            sink: Sink::Resp(out),
            path,
            large: Vec::new(),
            pairs: 0,
        }
    }

    /// The key of the message being written (for error messages).
    pub fn key(&self) -> &str {
        self.key
    }

    /// The current path.
    pub fn path(&self) -> &FieldPath {
        &self.path
    }

    /// Descends into `segment` (a struct field's stored name).
    pub fn enter(&mut self, segment: &str) -> Mark {
        self.path.enter(segment)
    }

    /// Descends into list element `index`.
    pub fn enter_index(&mut self, index: usize) -> Mark {
        self.path.enter_index(index)
    }

    /// Returns to `mark`.
    pub fn leave(&mut self, mark: Mark) {
        self.path.leave(mark)
    }

    /// Stores `value` in the field named by the current path (see [`FieldPath::leaf`]).
    pub fn put(&mut self, value: &[u8]) {
        match &mut self.sink {
            Sink::Pipeline(pipe) => {
                pipe.arg(self.path.leaf()).arg(value);
            }
            Sink::Resp(out) => {
                resp_bulk(out, self.path.leaf().as_bytes());
                resp_bulk(out, value);
            }
        }
        self.pairs += 1;
    }

    /// Stores `value` in the field `segment` below the current path.
    pub fn put_child(&mut self, segment: &str, value: &[u8]) {
        let mark = self.path.enter(segment);
        self.put(value);
        self.path.leave(mark);
    }

    /// Stores a possibly large value in the field `segment` below the current path; values
    /// of [`LARGE_VALUE`] bytes or more are sent after all small fields.
    pub fn put_child_large(&mut self, segment: &str, value: Cow<'a, [u8]>) {
        if value.len() < LARGE_VALUE {
            self.put_child(segment, &value);
        } else {
            self.large.push((self.path.child(segment), value));
            self.pairs += 1;
        }
    }

    /// An [`Error::Encode`] for the field at the current path.
    pub fn error(&self, reason: impl std::fmt::Display) -> Error {
        Error::Encode {
            key: self.key.to_owned(),
            field: self.path.leaf().to_owned(),
            reason: reason.to_string(),
        }
    }

    /// Appends the held-back large values and returns how many `field value` pairs were
    /// written in all.
    pub fn finish(self) -> usize {
        match self.sink {
            Sink::Pipeline(pipe) => {
                for (name, value) in &self.large {
                    pipe.arg(name.as_str()).arg(value.as_ref());
                }
            }
            Sink::Resp(out) => {
                for (name, value) in &self.large {
                    resp_bulk(out, name.as_bytes());
                    resp_bulk(out, value);
                }
            }
        }
        self.pairs
    }

    /// For a [`packed`](Self::packed) writer: the number of small pairs written, and the
    /// large values held back.
    pub(crate) fn finish_packed(self) -> (usize, Vec<Large<'a>>) {
        (self.pairs - self.large.len(), self.large)
    }
}

/// Appends one RESP bulk string (`$len\r\nbytes\r\n`).
pub(crate) fn resp_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends a RESP array header for a command of `args` arguments (name included).
pub(crate) fn resp_command(out: &mut Vec<u8>, args: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args).as_bytes());
    out.extend_from_slice(b"\r\n");
}
