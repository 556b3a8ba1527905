//! [`HashView`] and [`FieldReader`]: how encodings find their stored fields in a reply.

use std::borrow::Cow;

use redis::Value;

use crate::error::{show_bytes, Error, Result};
use crate::schema::{FieldPath, SEPARATOR};

/// One stored field: its name and its value.
type Entry<'v> = (Cow<'v, [u8]>, Cow<'v, [u8]>);

/// A Redis hash as returned by `HGETALL` (or assembled from `HMGET`): field names sorted for
/// lookup. Values are borrowed from a reply ([`HashView::from_hgetall`]) or moved out of it
/// ([`HashView::from_reply`]: nothing copied, and a decoder may then
/// [`take`](HashView::take) a large value, e.g. an image's bytes, instead of copying it).
#[derive(Debug)]
pub struct HashView<'v> {
    entries: Vec<Entry<'v>>,
    /// The memory the reply took, as [`HashView::reply_size`] counts it.
    reply_size: usize,
}

/// What one reply node (a field name or value) occupies besides its bytes.
const NODE_SIZE: usize = std::mem::size_of::<Value>();

/// The allowance of a decode for values that store nothing (see [`FieldReader::spend`]):
/// this many bytes, plus [`SPARE_PER_REPLY_BYTE`] per byte of the reply.
pub(crate) const MIN_SPARE: usize = 16 << 10;

/// See [`MIN_SPARE`].
pub(crate) const SPARE_PER_REPLY_BYTE: usize = 4;

impl<'v> HashView<'v> {
    /// Views the reply to `HGETALL key` (a RESP2 flat array or a RESP3 map), borrowing it.
    ///
    /// An empty reply is [`Error::NotFound`]; a reply that is not a hash of byte strings is
    /// [`Error::WrongRedisType`].
    pub fn from_hgetall(key: &str, reply: &'v Value) -> Result<Self> {
        match reply {
            Value::Array(items) if items.len() % 2 == 0 => {
                Self::of_pairs(key, items.chunks_exact(2).map(|p| (&p[0], &p[1])), borrowed)
            }
            Value::Map(items) => Self::of_pairs(key, items.iter().map(|(k, v)| (k, v)), borrowed),
            other => Self::of_other(key, other),
        }
    }

    /// Like [`from_hgetall`](Self::from_hgetall), but moves the values out of the reply, so
    /// that decoders can take them without a copy.
    pub fn from_reply(key: &str, reply: Value) -> Result<HashView<'static>> {
        match reply {
            Value::Array(items) if items.len() % 2 == 0 => {
                let mut items = items.into_iter();
                let pairs = std::iter::from_fn(move || Some((items.next()?, items.next()?)));
                HashView::of_pairs(key, pairs, owned)
            }
            Value::Map(items) => HashView::of_pairs(key, items.into_iter(), owned),
            other => HashView::of_other(key, &other),
        }
    }

    /// A view of `(name, value)` replies, each made bytes by `bytes`.
    fn of_pairs<V>(
        key: &str,
        pairs: impl Iterator<Item = (V, V)>,
        bytes: fn(V) -> Option<Cow<'v, [u8]>>,
    ) -> Result<Self> {
        let entries = pairs
            .map(|(k, v)| match (bytes(k), bytes(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                (None, _) => Err(wrong(key, "a non-string field name")),
                (_, None) => Err(wrong(key, "a non-string field value")),
            })
            .collect::<Result<Vec<_>>>()?;
        Self::checked(key, entries)
    }

    /// A reply that is no array of pairs nor map: nil (no such key) is empty, anything else
    /// is not a hash.
    fn of_other(key: &str, reply: &Value) -> Result<Self> {
        match reply {
            Value::Nil => Self::checked(key, Vec::new()),
            Value::Array(_) => Err(wrong(key, "an array of odd length")),
            Value::ServerError(e) if e.code() == "WRONGTYPE" => {
                Err(wrong(key, "another Redis type (WRONGTYPE)"))
            }
            other => Err(wrong(key, &describe_value(other))),
        }
    }

    /// Views `(field, value)` pairs (e.g. names zipped with an `HMGET` reply, nil values
    /// left out).
    pub fn from_pairs(pairs: Vec<(&'v [u8], &'v [u8])>) -> Self {
        Self::sorted(
            pairs
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
                .collect(),
        )
    }

    fn checked(key: &str, entries: Vec<Entry<'v>>) -> Result<Self> {
        if entries.is_empty() {
            return Err(Error::NotFound {
                key: key.to_owned(),
            });
        }
        Ok(Self::sorted(entries))
    }

    fn sorted(mut entries: Vec<Entry<'v>>) -> Self {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let reply_size = entries.iter().fold(0usize, |n, (k, v)| {
            n.saturating_add(k.len() + v.len() + 2 * NODE_SIZE)
        });
        Self {
            entries,
            reply_size,
        }
    }

    /// The memory the reply took: every field name and value, with the size of its reply
    /// node (a [`redis::Value`]). Decoders size their allowance for values that store
    /// nothing by it (see [`FieldReader::spare`]).
    pub fn reply_size(&self) -> usize {
        self.reply_size
    }

    fn index(&self, name: &[u8]) -> Option<usize> {
        self.entries
            .binary_search_by(|e| e.0.as_ref().cmp(name))
            .ok()
    }

    /// The value of the field `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.index(name).map(|i| self.entries[i].1.as_ref())
    }

    /// Moves the value of the field `name` out of the view (a borrowed view gives a borrow);
    /// the field then reads as empty.
    pub fn take(&mut self, name: &[u8]) -> Option<Cow<'v, [u8]>> {
        let i = self.index(name)?;
        Some(std::mem::take(&mut self.entries[i].1))
    }

    /// Number of stored fields (reserved ones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the hash has no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All `(field, value)` pairs, sorted by field name.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// All `(field, value)` pairs, sorted by field name, owned (moved out when the view owns
    /// them, copied when it borrows them).
    pub fn into_entries(self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + 'v {
        self.entries
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
    }

    /// True if the hash holds the field `path` itself or any field below it (`path.…`); at
    /// the root, any field that is not reserved.
    pub fn has_under(&self, path: &str) -> bool {
        self.under(path).next().is_some()
    }

    /// The fields that are `path` itself or below it (`path.…`; at the root, every field
    /// that is not reserved), sorted by name. Found by binary search: the cost is the
    /// number of names that start with `path`, not the size of the hash.
    pub fn under<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let p = path.as_bytes();
        let start = self.entries.partition_point(|e| e.0.as_ref() < p);
        self.entries[start..]
            .iter()
            .take_while(move |e| e.0.starts_with(p))
            .filter(move |e| match e.0.get(p.len()) {
                _ if p.is_empty() => !e.0.starts_with(b"@"),
                None => true,
                Some(b) => *b == SEPARATOR as u8,
            })
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

/// The allowance of a decode of `hash` for values that store nothing.
fn allowance(hash: &HashView<'_>) -> usize {
    hash.reply_size()
        .saturating_mul(SPARE_PER_REPLY_BYTE)
        .saturating_add(MIN_SPARE)
}

fn wrong(key: &str, what: &str) -> Error {
    Error::WrongRedisType {
        key: key.to_owned(),
        found: what.to_owned(),
    }
}

fn borrowed(v: &Value) -> Option<Cow<'_, [u8]>> {
    bulk(v).map(Cow::Borrowed)
}

fn owned(v: Value) -> Option<Cow<'static, [u8]>> {
    match v {
        Value::BulkString(b) => Some(Cow::Owned(b)),
        Value::SimpleString(s) => Some(Cow::Owned(s.into_bytes())),
        _ => None,
    }
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A short description of a reply's shape, for error messages.
pub(crate) fn describe_value(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => format!("the integer {i}"),
        Value::BulkString(b) => format!("the string {}", show_bytes(b)),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::SimpleString(s) => format!("the status {}", show_bytes(s.as_bytes())),
        Value::Okay => "OK".into(),
        Value::Map(m) => format!("a map of {} entries", m.len()),
        Value::Set(s) => format!("a set of {} items", s.len()),
        Value::Double(d) => format!("the double {d}"),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::ServerError(e) => format!("the server error {e:?}"),
        _ => "an unexpected reply".into(),
    }
}

/// Reads the stored fields of one message, following a [`FieldPath`] as encodings nest.
///
/// A reader carries the allowance of its decode for values that store nothing (list
/// elements and optional fields found absent): such values cost memory that no stored byte
/// pays for, so one decode may spend at most [`spare`](FieldReader::spare) bytes on them,
/// across every list and every level of nesting; the stored fields bound everything else.
pub struct FieldReader<'h, 'v> {
    key: &'h str,
    hash: Access<'h, 'v>,
    path: FieldPath,
    spare: usize,
}

/// A reader sees the hash, or owns the right to take values out of it.
enum Access<'h, 'v> {
    Shared(&'h HashView<'v>),
    Exclusive(&'h mut HashView<'v>),
}

impl<'h, 'v> FieldReader<'h, 'v> {
    /// A reader over `hash` (the message at `key`), starting at `path`.
    pub fn new(key: &'h str, hash: &'h HashView<'v>, path: FieldPath) -> Self {
        Self {
            key,
            spare: allowance(hash),
            hash: Access::Shared(hash),
            path,
        }
    }

    /// A reader that may move large values out of `hash` ([`FieldReader::take_child`])
    /// instead of copying them.
    pub fn exclusive(key: &'h str, hash: &'h mut HashView<'v>, path: FieldPath) -> Self {
        Self {
            key,
            spare: allowance(hash),
            hash: Access::Exclusive(hash),
            path,
        }
    }

    /// Bytes this decode may still spend on values that store nothing: 16 KiB plus four
    /// times the [reply size](HashView::reply_size) at the start.
    pub fn spare(&self) -> usize {
        self.spare
    }

    /// Spends `bytes` of the allowance on a value that stores nothing at the current path;
    /// [`Error::InvalidField`] naming that path once the allowance is used up.
    pub(crate) fn spend(&mut self, bytes: usize) -> Result<()> {
        match self.spare.checked_sub(bytes) {
            Some(left) => {
                self.spare = left;
                Ok(())
            }
            None => Err(self.invalid_at(
                self.path.leaf(),
                "lists and optional fields whose absent values fit the message's allowance",
                format!(
                    "more absent values than {} bytes of {} stored fields allow",
                    self.hash().reply_size(),
                    self.hash().len()
                ),
            )),
        }
    }

    /// Moves the reader to `path`, returning where it was.
    pub(crate) fn set_path(&mut self, path: FieldPath) -> FieldPath {
        std::mem::replace(&mut self.path, path)
    }

    /// The key of the message being read.
    pub fn key(&self) -> &str {
        self.key
    }

    /// The hash being read.
    pub fn hash(&self) -> &HashView<'v> {
        match &self.hash {
            Access::Shared(h) => h,
            Access::Exclusive(h) => h,
        }
    }

    /// The current path.
    pub fn path(&self) -> &FieldPath {
        &self.path
    }

    crate::schema::walks_paths!(path);

    /// The value stored at the current path, if any.
    pub fn get(&self) -> Option<&[u8]> {
        self.hash().get(self.path.leaf().as_bytes())
    }

    /// The value stored at the current path, or [`Error::MissingField`].
    pub fn require(&self) -> Result<&[u8]> {
        self.get().ok_or_else(|| self.missing())
    }

    /// The value of `segment` below the current path, if any.
    pub fn get_child(&self, segment: &str) -> Option<&[u8]> {
        self.hash().get(self.path.child(segment).as_bytes())
    }

    /// The value of `segment` below the current path, or [`Error::MissingField`].
    pub fn require_child(&self, segment: &str) -> Result<&[u8]> {
        self.get_child(segment)
            .ok_or_else(|| self.missing_at(&self.path.child(segment)))
    }

    /// The value of `segment` below the current path, moved out of the hash when this reader
    /// is [`exclusive`](Self::exclusive) (no copy), else borrowed; [`Error::MissingField`]
    /// if absent.
    pub fn take_child(&mut self, segment: &str) -> Result<Cow<'v, [u8]>> {
        let name = self.path.child(segment);
        let found = match &mut self.hash {
            Access::Exclusive(h) => h.take(name.as_bytes()),
            Access::Shared(h) => match h.index(name.as_bytes()) {
                Some(i) => Some(match &h.entries[i].1 {
                    Cow::Borrowed(b) => Cow::Borrowed(*b),
                    Cow::Owned(v) => Cow::Owned(v.clone()),
                }),
                None => None,
            },
        };
        found.ok_or_else(|| self.missing_at(&name))
    }

    /// True if anything is stored at or below the current path.
    pub fn has_any(&self) -> bool {
        self.hash().has_under(self.path.as_str())
    }

    /// [`Error::MissingField`] for the current path.
    pub fn missing(&self) -> Error {
        self.missing_at(self.path.leaf())
    }

    fn missing_at(&self, field: &str) -> Error {
        Error::MissingField {
            key: self.key.to_owned(),
            field: field.to_owned(),
        }
    }

    /// [`Error::InvalidField`] for the current path: `expected` versus the stored `found`.
    pub fn invalid(&self, expected: impl Into<String>, found: &[u8]) -> Error {
        self.invalid_at(self.path.leaf(), expected, show_bytes(found))
    }

    /// [`Error::InvalidField`] for the field `segment` below the current path.
    pub fn invalid_child(&self, segment: &str, expected: impl Into<String>, found: &[u8]) -> Error {
        self.invalid_at(&self.path.child(segment), expected, show_bytes(found))
    }

    /// [`Error::InvalidField`] with a free-form description of what was found.
    pub fn invalid_at(&self, field: &str, expected: impl Into<String>, found: String) -> Error {
        Error::InvalidField {
            key: self.key.to_owned(),
            field: field.to_owned(),
            expected: expected.into(),
            found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bs(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn finds_fields_and_prefixes() {
        let reply = Value::Array(vec![
            bs("base.x"),
            bs("1"),
            bs("based"),
            bs("2"),
            bs("@label"),
            bs("P"),
        ]);
        let h = HashView::from_hgetall("k", &reply).unwrap();
        assert_eq!(h.get(b"base.x"), Some(&b"1"[..]));
        assert!(h.has_under("base"));
        assert!(h.has_under("based"));
        assert!(!h.has_under("bas"));
        assert!(!h.has_under("base.y"));
        assert!(h.has_under(""));
    }

    #[test]
    fn odd_arrays_and_non_strings_are_wrong_type() {
        let odd = Value::Array(vec![bs("a")]);
        assert!(matches!(
            HashView::from_hgetall("k", &odd),
            Err(Error::WrongRedisType { .. })
        ));
        let int = Value::Array(vec![bs("a"), Value::Int(3)]);
        assert!(matches!(
            HashView::from_hgetall("k", &int),
            Err(Error::WrongRedisType { .. })
        ));
        assert!(matches!(
            HashView::from_hgetall("k", &Value::Array(vec![])),
            Err(Error::NotFound { .. })
        ));
    }
}
