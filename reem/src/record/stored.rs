//! [`StoredMessage`]: a message as the hash stored in Redis, without its Rust type.

use std::borrow::Cow;

use redis::Value;

use crate::error::{Error, Result};
use crate::marshal::{Commands, ReemMarshal, PUBLISHER_FIELD, SEQ_FIELD};

/// Values at least this long are sent from their own memory (as the derived marshallers
/// send array bytes).
const LARGE: usize = 4096;

/// A message as its stored hash: field names and values, `@label`, `@fp` and `@schema`
/// included. Publishing it stores the same hash again (with the new publisher's stamp:
/// a recorded `@pub`/`@seq` is left out), so subscribers of the message's own type read it
/// as if its first publisher had sent it. Reading one takes any hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredMessage {
    /// Field names and values, in stored order.
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl StoredMessage {
    /// The message in a reply shaped as `HGETALL`'s (a flat array, or a map).
    pub fn from_reply(key: &str, reply: Value) -> Result<Self> {
        let not_hash = |found: &str| Error::InvalidField {
            key: key.to_owned(),
            field: String::new(),
            expected: "a hash of field names and values".to_owned(),
            found: found.to_owned(),
        };
        let items: Vec<(Value, Value)> = match reply {
            Value::Array(items) if items.len() % 2 == 0 => {
                let mut it = items.into_iter();
                std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
            }
            Value::Map(items) => items,
            Value::Array(_) => return Err(not_hash("an odd number of items")),
            _ => return Err(not_hash("another reply")),
        };
        let mut pairs = Vec::with_capacity(items.len());
        for (name, value) in items {
            match (name, value) {
                (Value::BulkString(n), Value::BulkString(v)) => pairs.push((n, v)),
                _ => return Err(not_hash("a name or value that is not a string")),
            }
        }
        Ok(StoredMessage { pairs })
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

impl ReemMarshal for StoredMessage {
    fn get_label() -> Cow<'static, str> {
        Cow::Borrowed("reem.StoredMessage")
    }

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> Result<()> {
        out.cmd("UNLINK").arg(key);
        let stamp = |n: &[u8]| n == PUBLISHER_FIELD.as_bytes() || n == SEQ_FIELD.as_bytes();
        let small: Vec<_> = self
            .pairs
            .iter()
            .filter(|(n, v)| !stamp(n) && v.len() < LARGE)
            .collect();
        if !small.is_empty() {
            out.cmd("HSET").arg(key);
            for (n, v) in small {
                out.arg(n).arg(v);
            }
        }
        for (n, v) in self
            .pairs
            .iter()
            .filter(|(n, v)| !stamp(n) && v.len() >= LARGE)
        {
            out.cmd("HSET")
                .arg(key)
                .arg(n)
                .arg_large(Cow::Borrowed(v.as_slice()));
        }
        Ok(())
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        crate::marshal::hash::read(key, out)
    }

    fn interpret_read(key: &str, reply: Value) -> Result<Self> {
        if matches!(&reply, Value::Nil) {
            return Err(Error::NotFound {
                key: key.to_owned(),
            });
        }
        Self::from_reply(key, reply)
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        crate::marshal::hash::delete(key, out)
    }

    fn stores_one_hash() -> bool {
        true
    }
}
