//! Lists: `Vec<T>` and `[T; N]`.
//!
//! The element type chooses the layout ([`ReemField::encode_list`]): numbers and `bool`
//! are one array (see [`array`](super::array)); any other element is stored one by one,
//! `NAME.len` holding the length and element `i` stored under `NAME.i` (`tags.0`,
//! `waypoints.3.x`).
//!
//! Reading is bounded by what is stored: an element that stores something has a stored
//! field of its own, and elements that store nothing (`None`) spend the reader's
//! [allowance](FieldReader::spare), one for the whole message however its lists nest.

use super::{FieldReader, FieldWriter, ReemField};
use crate::error::Result;
use crate::schema::{FieldType, SchemaBuilder};

/// Name of the length field of an element-by-element list.
pub const LEN_FIELD: &str = "len";

pub(super) fn describe_indexed<T: ReemField>(schema: &mut SchemaBuilder) {
    let mut item = SchemaBuilder::for_item();
    T::describe(&mut item);
    schema.field(FieldType::List {
        items: item.finish(),
    });
}

pub(super) fn encode_indexed<'a, T: ReemField>(
    items: &'a [T],
    w: &mut FieldWriter<'_, 'a>,
) -> Result<()> {
    w.put_child(
        LEN_FIELD,
        itoa::Buffer::new().format(items.len()).as_bytes(),
    );
    for (i, item) in items.iter().enumerate() {
        let mark = w.enter_index(i);
        item.encode(w)?;
        w.leave(mark);
    }
    Ok(())
}

/// The stored length of an element-by-element list at the reader's path, refused when it
/// is larger than the stored fields allow: every element either stores a field of its own
/// or stores nothing and costs at least a byte of the reader's [allowance](FieldReader::spare).
pub(crate) fn read_len(r: &FieldReader<'_, '_>) -> Result<usize> {
    let raw = r.require_child(LEN_FIELD)?;
    let stored = r.hash().len();
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n <= stored.saturating_add(r.spare()))
        .ok_or_else(|| {
            r.invalid_child(
                LEN_FIELD,
                "a list length no larger than the stored fields allow",
                raw,
            )
        })
}

/// Reads the list at the reader's path element by element. An element that stores nothing
/// (`None`) spends its size from the reader's allowance, shared by every list of the
/// decode; one that stores something has a stored field of its own (its `len` if it is a
/// list), so the stored fields bound those.
pub(super) fn decode_indexed<T: ReemField>(r: &mut FieldReader<'_, '_>) -> Result<Vec<T>> {
    let len = read_len(r)?;
    let stored = r.hash().len();
    let empty = std::mem::size_of::<T>().max(1);
    let mut items = Vec::with_capacity(len.min(stored));
    for i in 0..len {
        let mark = r.enter_index(i);
        if !r.has_any() {
            r.spend(empty)?;
        }
        items.push(T::decode(r)?);
        r.leave(mark);
    }
    Ok(items)
}

impl<T: ReemField> ReemField for Vec<T> {
    fn describe(schema: &mut SchemaBuilder) {
        T::describe_list(schema)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        T::encode_list(self, w)
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        T::decode_list(r)
    }
}

impl<T: ReemField, const N: usize> ReemField for [T; N] {
    fn describe(schema: &mut SchemaBuilder) {
        T::describe_list(schema)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        T::encode_list(self, w)
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let items = T::decode_list(r)?;
        let found = items.len();
        items.try_into().map_err(|_| {
            r.invalid_at(
                r.path().leaf(),
                format!("a list of {N} elements"),
                format!("{found} elements"),
            )
        })
    }
}
