//! Changing scalar fields of a stored message in place (what `reem set` and the Python
//! package's `set_fields` do): each change is checked against the message's stored schema
//! and encoded exactly as the Rust type writes that value, so the schema, hence `@fp`, stays
//! valid; [`KeyValueStore::set_stored_fields`](crate::KeyValueStore::set_stored_fields)
//! then writes them all, only if the message still has the fingerprint that was checked.

use super::*;

/// One checked change: `field` (as given) is stored as `stored`, whose value becomes `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The field as the caller named it (`base.x`, `path.0.x`, `value`).
    pub field: String,
    /// Its stored name.
    pub stored: String,
    /// The stored value now.
    pub old: Vec<u8>,
    /// The stored value to write.
    pub new: Vec<u8>,
}

/// Why a change was refused; nothing is written.
#[derive(Debug)]
#[non_exhaustive]
pub enum Refusal {
    /// The stored schema has no such field.
    UnknownField,
    /// The field is not stored: an optional field that is `None`, or a list element past
    /// the end (its absence is part of the value: filling in one field of a `None` struct
    /// would leave it half there).
    NotStored,
    /// The text does not fit the field's type, or the field is not a scalar
    /// ([`encode_text`]'s [`Error::Encode`]).
    Value(Error),
}

/// Checks that the message at `key` (its stored `hash`, whose schema is `schema`) can have
/// its field `field` set to `text`, and returns the change.
pub fn assignment(
    key: &str,
    schema: &Schema,
    hash: &HashView<'_>,
    field: &str,
    text: &str,
) -> std::result::Result<Assignment, Refusal> {
    let (stored, fs) = resolve(schema, field).ok_or(Refusal::UnknownField)?;
    let new = encode_text(key, field, &fs.ty, text).map_err(Refusal::Value)?;
    let old = hash.get(stored.as_bytes()).ok_or(Refusal::NotStored)?;
    Ok(Assignment {
        field: field.to_owned(),
        old: old.to_vec(),
        stored,
        new,
    })
}
