//! [`SchemaBuilder`]: how encodings describe what they store.

use super::path::FieldPath;
use super::{FieldSchema, FieldType};

/// Collects the [`FieldSchema`]s of a message as its encodings nest (the describing twin of
/// [`FieldWriter`](crate::marshal::FieldWriter)).
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    path: FieldPath,
    optional: u32,
    fields: Vec<FieldSchema>,
}

impl SchemaBuilder {
    /// An empty builder at the root.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder whose fields are named below `path` (what one field of a message stores).
    pub fn at(path: &str) -> Self {
        Self {
            path: FieldPath::at(path),
            ..Self::default()
        }
    }

    /// A builder naming fields relative to a list element (`""` for a scalar element).
    pub(crate) fn for_item() -> Self {
        Self::default()
    }

    crate::schema::walks_paths!(path);

    /// Declares the field at the current path as stored with `ty`.
    pub fn field(&mut self, ty: FieldType) {
        self.fields.push(FieldSchema {
            name: self.path.as_str().to_owned(),
            ty,
            optional: self.optional > 0,
        });
    }

    /// Describes, with `f`, fields that a reader may find absent.
    pub fn optional(&mut self, f: impl FnOnce(&mut Self)) {
        self.optional += 1;
        f(self);
        self.optional -= 1;
    }

    /// The fields described.
    pub fn finish(self) -> Vec<FieldSchema> {
        self.fields
    }
}
