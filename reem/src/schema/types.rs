//! The schema data model and its JSON form.

use serde::{Deserialize, Serialize};

use super::{fnv1a64, SchemaBuilder};
use crate::marshal::ReemField;

/// Version of the stored format described in `docs/FORMAT.md`.
pub const FORMAT_VERSION: u32 = 1;

/// What one message type stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The marshaller label (`robot.CameraFrame`).
    pub label: String,
    /// The stored fields, in declaration order.
    pub fields: Vec<FieldSchema>,
    /// Fingerprint of `fields` (see [`Schema::fingerprint_of`]).
    #[serde(skip)]
    pub fingerprint: u64,
    /// The fingerprint as stored: 16 lowercase hex digits.
    #[serde(skip)]
    pub fingerprint_hex: String,
    /// The whole schema as stored in `@schema` (compact JSON).
    #[serde(skip)]
    pub json: String,
}

/// One stored field (or group of fields, for arrays and lists) of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSchema {
    /// Stored name (`base.x`); for list items, relative to the element (`""` for a scalar
    /// element).
    pub name: String,
    /// How it is stored.
    #[serde(flatten)]
    pub ty: FieldType,
    /// True if a reader may find it absent (inside an `Option`, or `#[reem(default)]`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// How a field is stored. In JSON, the variant is the `type` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldType {
    /// `1` or `0`.
    Bool,
    /// Decimal text.
    U8,
    /// Decimal text.
    U16,
    /// Decimal text.
    U32,
    /// Decimal text (also `usize`).
    U64,
    /// Decimal text.
    U128,
    /// Decimal text.
    I8,
    /// Decimal text.
    I16,
    /// Decimal text.
    I32,
    /// Decimal text (also `isize`).
    I64,
    /// Decimal text.
    I128,
    /// Shortest round-trip decimal text, `inf`, `-inf`, `nan`.
    F32,
    /// Shortest round-trip decimal text, `inf`, `-inf`, `nan`.
    F64,
    /// One Unicode scalar as UTF-8.
    Char,
    /// UTF-8 text.
    String,
    /// The variant's name as text.
    Enum {
        /// The variant names a reader accepts.
        variants: Vec<String>,
    },
    /// JSON text (`#[reem(json)]`).
    Json,
    /// An n-dimensional array: fields `NAME.arr` (bytes), `NAME.dtype`, `NAME.shape`,
    /// `NAME.strides`.
    Array {
        /// numpy dtype name of the elements (`float64`).
        dtype: String,
        /// Number of dimensions, if fixed by the type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ndim: Option<usize>,
        /// Shape, if fixed by the type (static nalgebra matrices).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shape: Option<Vec<usize>>,
    },
    /// A variable-length list: `NAME.len`, then element `i` under `NAME.i`.
    List {
        /// The fields of one element, named relative to the element.
        items: Vec<FieldSchema>,
    },
    /// A field written by a hand-written encoding that describes itself by name only.
    Custom {
        /// What the encoding calls its format.
        format: String,
    },
}

impl FieldType {
    /// An enum field accepting `variants` (used by derived unit-only enums).
    pub fn enum_of(variants: &[&str]) -> Self {
        FieldType::Enum {
            variants: variants.iter().map(|v| (*v).to_owned()).collect(),
        }
    }
}

impl Schema {
    /// Builds the schema of `T` (prefer [`schema_of`](super::schema_of), which caches it).
    pub fn of<T: ReemField>() -> Self {
        let mut b = SchemaBuilder::new();
        T::describe(&mut b);
        Self::new(T::get_label().into_owned(), b.finish())
    }

    /// A schema from its parts; computes the fingerprint and the stored JSON.
    pub fn new(label: String, fields: Vec<FieldSchema>) -> Self {
        let fingerprint = Self::fingerprint_of(&fields);
        let mut s = Schema {
            format: FORMAT_VERSION,
            label,
            fields,
            fingerprint,
            fingerprint_hex: format!("{fingerprint:016x}"),
            json: String::new(),
        };
        s.json = serde_json::to_string(&s).expect("a schema always serializes");
        s
    }

    /// FNV-1a 64 of the compact JSON of `fields` (as `serde_json` writes it: members in the
    /// order `name`, `type`, type parameters, `optional`).
    pub fn fingerprint_of(fields: &[FieldSchema]) -> u64 {
        fnv1a64(
            serde_json::to_string(fields)
                .expect("a schema always serializes")
                .as_bytes(),
        )
    }

    /// Parses a stored `@schema` value.
    pub fn parse(stored: &[u8]) -> Result<Self, String> {
        let mut s: Schema = serde_json::from_slice(stored).map_err(|e| e.to_string())?;
        s.fingerprint = Self::fingerprint_of(&s.fields);
        s.fingerprint_hex = format!("{:016x}", s.fingerprint);
        Ok(s)
    }

    /// `label (schema fingerprint)`, as error messages name a message type.
    pub fn describe(&self) -> String {
        format!("{} (schema {})", self.label, self.fingerprint_hex)
    }
}
