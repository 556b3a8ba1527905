//! [`StoredHash`]: a message as its stored field/value pairs, for programs that move
//! messages without their Rust type (a recorder replaying a file, a bridge, a script).

use std::borrow::Cow;

use redis::Value;

use super::{Commands, HashView, ReemMarshal, LARGE_VALUE, PUBLISHER_FIELD, SEQ_FIELD};
use crate::error::Result;

/// A message as the hash reem stores: its `field value` pairs, reserved ones (`@label`,
/// `@fp`, `@schema`) included, in any order.
///
/// Reading one ([`KeyValueStore::get`](crate::KeyValueStore::get), a subscriber) takes the
/// hash as it is, whatever type wrote it (only its shape is checked: a hash of byte
/// strings). Writing one replaces the hash at the key by these pairs, exactly as stored,
/// except a publish stamp (`@pub`, `@seq`), which the writer leaves out (a
/// [`PublishSpace`](crate::PublishSpace) adds its own). So a message read here and written
/// there is the same message, readable by its Rust type.
///
/// ```
/// use reem::marshal::{Commands, StoredHash};
/// use reem::ReemMarshal;
///
/// let msg = StoredHash::new(vec![(b"@label".to_vec(), b"Pose2".to_vec()), (b"x".to_vec(), b"1.5".to_vec())]);
/// let mut out = Commands::new();
/// msg.write("robot/pose", &mut out)?;
/// assert_eq!(out.iter().map(|c| c.name()).collect::<Vec<_>>(), [&b"UNLINK"[..], b"HSET"]);
/// assert_eq!(msg.get(b"x"), Some(&b"1.5"[..]));
/// # Ok::<(), reem::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredHash {
    /// The `field value` pairs.
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl StoredHash {
    /// A message made of these pairs.
    pub fn new(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        Self { pairs }
    }

    /// The value of the field `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The stored label (`@label`), if any.
    pub fn label(&self) -> Option<&[u8]> {
        self.get(super::LABEL_FIELD.as_bytes())
    }
}

impl ReemMarshal for StoredHash {
    fn get_label() -> Cow<'static, str> {
        Cow::Borrowed("reem.StoredHash")
    }

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> Result<()> {
        out.cmd("UNLINK").arg(key);
        let stamp = |n: &[u8]| n == PUBLISHER_FIELD.as_bytes() || n == SEQ_FIELD.as_bytes();
        let kept = || self.pairs.iter().filter(|(n, _)| !stamp(n));
        if kept().next().is_none() {
            return Ok(());
        }
        // Small pairs in one HSET, large values after them each in its own (as `hash::write`).
        out.cmd("HSET").arg(key);
        for (name, value) in kept().filter(|(_, v)| v.len() < LARGE_VALUE) {
            out.arg(name).arg(value);
        }
        for (name, value) in kept().filter(|(_, v)| v.len() >= LARGE_VALUE) {
            out.cmd("HSET")
                .arg(key)
                .arg(name)
                .arg_large(Cow::Borrowed(value));
        }
        Ok(())
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        super::hash::read(key, out)
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        super::hash::delete(key, out)
    }

    fn interpret_read(key: &str, reply: Value) -> Result<Self> {
        let hash = HashView::from_reply(key, reply)?;
        Ok(StoredHash {
            pairs: hash.into_entries().collect(),
        })
    }

    fn stores_one_hash() -> bool {
        true
    }
}
