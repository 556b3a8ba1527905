//! [`FieldWriter`]: where field encodings put their stored fields.

use std::borrow::Cow;

use super::commands::Commands;
use crate::error::Error;
use crate::schema::FieldPath;

/// Values at least this long are held back and sent after every small field, each in an
/// `HSET` of its own: Redis handles a large argument faster at the end of a command
/// (measured ~2× for 8 MiB), and the small fields stay together in one command.
pub const LARGE_VALUE: usize = 4096;

/// Collects the `field value` pairs of one message and appends them to the last queued
/// command (an `HSET key`, started by the caller).
///
/// Small values (numbers formatted as text, names) are appended at once; large values
/// (array bytes) stay borrowed from the message and go last, each in its own
/// `HSET key name value`, queued by [`FieldWriter::finish`]: an array is copied exactly once,
/// by the transport, into the bytes it sends.
pub struct FieldWriter<'w, 'a> {
    key: &'w str,
    out: &'w mut Commands<'a>,
    path: FieldPath,
    large: Vec<(String, Cow<'a, [u8]>)>,
    pairs: usize,
}

impl<'w, 'a> FieldWriter<'w, 'a> {
    /// A writer appending pairs to the last command of `out`, for a message at `key`,
    /// starting at `path`.
    pub fn new(key: &'w str, out: &'w mut Commands<'a>, path: FieldPath) -> Self {
        Self {
            key,
            out,
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

    crate::schema::walks_paths!(path);

    /// Stores `value` in the field named by the current path (see [`FieldPath::leaf`]).
    pub fn put(&mut self, value: &[u8]) {
        self.out.arg(self.path.leaf()).arg(value);
        self.pairs += 1;
    }

    /// Stores `value` in the field `segment` below the current path.
    pub fn put_child(&mut self, segment: &str, value: &[u8]) {
        let mark = self.path.enter(segment);
        self.put(value);
        self.path.leave(mark);
    }

    /// Stores a possibly large value in the field `segment` below the current path; values
    /// of [`LARGE_VALUE`] bytes or more are sent after all small fields, borrowed until then.
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

    /// Appends the held-back large values to the same command, after the small pairs (for a
    /// script that takes every pair as its arguments), and returns how many pairs were
    /// written in all.
    pub fn finish_inline(self) -> usize {
        for (name, value) in self.large {
            self.out.arg(name).arg_large(value);
        }
        self.pairs
    }

    /// Queues the held-back large values, each in its own `HSET`, and returns how many
    /// `field value` pairs were written in all.
    pub fn finish(self) -> usize {
        for (name, value) in self.large {
            self.out
                .cmd("HSET")
                .arg(self.key)
                .arg(name)
                .arg_large(value);
        }
        self.pairs
    }
}
