//! `Option<T>`: `Some` stores `T`'s fields, `None` stores nothing.
//!
//! Reading gives `None` when no field is stored at or below the path. Hence a type that may
//! itself store nothing (`Option<Option<T>>`, a struct whose fields are all optional or
//! skipped) reads `Some(nothing)` back as `None`; see `docs/FORMAT.md`.

use super::{FieldReader, FieldWriter, ReemField};
use crate::error::Result;
use crate::schema::SchemaBuilder;

impl<T: ReemField> ReemField for Option<T> {
    fn describe(schema: &mut SchemaBuilder) {
        schema.optional(T::describe)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        match self {
            Some(v) => v.encode(w),
            None => Ok(()),
        }
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        if r.has_any() {
            T::decode(r).map(Some)
        } else {
            Ok(None)
        }
    }
}
