//! [`HashView`] and [`FieldReader`]: how encodings find their stored fields in a reply.

use redis::Value;

use super::path::{FieldPath, Mark, SEPARATOR};
use crate::error::{show_bytes, Error, Result};

/// A Redis hash as returned by `HGETALL` (or assembled from `HMGET`), borrowed from the
/// reply: field names sorted for lookup, values not copied.
#[derive(Debug)]
pub struct HashView<'v> {
    entries: Vec<(&'v [u8], &'v [u8])>,
}

impl<'v> HashView<'v> {
    /// Views the reply to `HGETALL key` (a RESP2 flat array or a RESP3 map).
    ///
    /// An empty reply is [`Error::NotFound`]; a reply that is not a hash of byte strings is
    /// [`Error::WrongRedisType`].
    pub fn from_hgetall(key: &str, reply: &'v Value) -> Result<Self> {
        let wrong = |what: &str| Error::WrongRedisType {
            key: key.to_owned(),
            found: what.to_owned(),
        };
        let mut entries = Vec::new();
        match reply {
            Value::Array(items) => {
                if items.len() % 2 != 0 {
                    return Err(wrong("an array of odd length"));
                }
                entries.reserve(items.len() / 2);
                for pair in items.chunks_exact(2) {
                    entries.push((
                        bulk(&pair[0]).ok_or_else(|| wrong("a non-string field name"))?,
                        bulk(&pair[1]).ok_or_else(|| wrong("a non-string field value"))?,
                    ));
                }
            }
            Value::Map(items) => {
                entries.reserve(items.len());
                for (k, v) in items {
                    entries.push((
                        bulk(k).ok_or_else(|| wrong("a non-string field name"))?,
                        bulk(v).ok_or_else(|| wrong("a non-string field value"))?,
                    ));
                }
            }
            Value::Nil => {}
            Value::ServerError(e) if e.code() == "WRONGTYPE" => {
                return Err(wrong("another Redis type (WRONGTYPE)"))
            }
            other => return Err(wrong(&describe_value(other))),
        }
        if entries.is_empty() {
            return Err(Error::NotFound {
                key: key.to_owned(),
            });
        }
        Ok(Self::from_entries(entries))
    }

    /// Views `names` zipped with the reply to `HMGET key names…`; nil values are absent.
    pub fn from_pairs(entries: Vec<(&'v [u8], &'v [u8])>) -> Self {
        Self::from_entries(entries)
    }

    fn from_entries(mut entries: Vec<(&'v [u8], &'v [u8])>) -> Self {
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Self { entries }
    }

    /// The value of the field `name`.
    pub fn get(&self, name: &[u8]) -> Option<&'v [u8]> {
        self.entries
            .binary_search_by(|e| e.0.cmp(name))
            .ok()
            .map(|i| self.entries[i].1)
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
    pub fn entries(&self) -> &[(&'v [u8], &'v [u8])] {
        &self.entries
    }

    /// True if the hash holds the field `path` itself or any field below it (`path.…`); at
    /// the root, any field that is not reserved.
    pub fn has_under(&self, path: &str) -> bool {
        if path.is_empty() {
            return self.entries.iter().any(|e| !e.0.starts_with(b"@"));
        }
        let p = path.as_bytes();
        let start = self.entries.partition_point(|e| e.0 < p);
        self.entries[start..]
            .iter()
            .take_while(|e| e.0.starts_with(p))
            .any(|e| e.0.len() == p.len() || e.0[p.len()] == SEPARATOR as u8)
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
pub struct FieldReader<'h, 'v> {
    key: &'h str,
    hash: &'h HashView<'v>,
    path: FieldPath,
}

impl<'h, 'v> FieldReader<'h, 'v> {
    /// A reader over `hash` (the message at `key`), starting at `path`.
    pub fn new(key: &'h str, hash: &'h HashView<'v>, path: FieldPath) -> Self {
        Self { key, hash, path }
    }

    /// The key of the message being read.
    pub fn key(&self) -> &str {
        self.key
    }

    /// The hash being read.
    pub fn hash(&self) -> &'h HashView<'v> {
        self.hash
    }

    /// The current path.
    pub fn path(&self) -> &FieldPath {
        &self.path
    }

    /// Descends into `segment`.
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

    /// The value stored at the current path, if any.
    pub fn get(&self) -> Option<&'v [u8]> {
        self.hash.get(self.path.leaf().as_bytes())
    }

    /// The value stored at the current path, or [`Error::MissingField`].
    pub fn require(&self) -> Result<&'v [u8]> {
        self.get().ok_or_else(|| self.missing())
    }

    /// The value of `segment` below the current path, or [`Error::MissingField`].
    pub fn require_child(&mut self, segment: &str) -> Result<&'v [u8]> {
        let mark = self.path.enter(segment);
        let v = self.require();
        self.path.leave(mark);
        v
    }

    /// The value of `segment` below the current path, if any.
    pub fn get_child(&mut self, segment: &str) -> Option<&'v [u8]> {
        let mark = self.path.enter(segment);
        let v = self.get();
        self.path.leave(mark);
        v
    }

    /// True if anything is stored at or below the current path.
    pub fn has_any(&self) -> bool {
        self.hash.has_under(self.path.as_str())
    }

    /// [`Error::MissingField`] for the current path.
    pub fn missing(&self) -> Error {
        Error::MissingField {
            key: self.key.to_owned(),
            field: self.path.leaf().to_owned(),
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
