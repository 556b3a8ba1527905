//! The schema data model and its JSON form.

use serde::de::value::MapDeserializer;
use serde::{Deserialize, Serialize};

use super::fnv1a64;

/// Version of the stored format described in `docs/FORMAT.md`.
pub const FORMAT_VERSION: u32 = 1;

/// A stored schema nesting JSON arrays and objects deeper than this is refused before it is
/// parsed: parsing recurses once per level (about 4 KiB of stack per level in debug builds),
/// and a schema may come from any writer. 24 levels hold lists nested 10 deep.
pub const MAX_SCHEMA_NESTING: usize = 24;

/// A stored schema naming a field more than this many segments deep (`a.b.c` is 3; every
/// enclosing list adds its own name's segments and one for the element index) is refused:
/// a decoded message nests a group per segment, which decoding, printing and dropping walk.
pub const MAX_FIELD_DEPTH: usize = 32;

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
///
/// Read from JSON member by member into `StoredField`, never buffered whole first (as
/// `#[serde(flatten)]` would), so that a stored schema costs a few times its size to read
/// and a small stack frame per level of nesting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StoredField")]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// A [`FieldSchema`] as stored: every member any type may have (unknown ones ignored).
#[derive(Deserialize)]
struct StoredField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    variants: Option<Vec<String>>,
    dtype: Option<String>,
    ndim: Option<usize>,
    shape: Option<Vec<usize>>,
    items: Option<Vec<FieldSchema>>,
    format: Option<String>,
    #[serde(default)]
    optional: bool,
}

impl TryFrom<StoredField> for FieldSchema {
    type Error = String;

    fn try_from(f: StoredField) -> Result<Self, String> {
        let missing = |member: &str| format!("missing field `{member}` for type `{}`", f.ty);
        let ty = match f.ty.as_str() {
            "enum" => FieldType::Enum {
                variants: f.variants.ok_or_else(|| missing("variants"))?,
            },
            "array" => FieldType::Array {
                dtype: f.dtype.ok_or_else(|| missing("dtype"))?,
                ndim: f.ndim,
                shape: f.shape,
            },
            "list" => FieldType::List {
                items: f.items.ok_or_else(|| missing("items"))?,
            },
            "custom" => FieldType::Custom {
                format: f.format.ok_or_else(|| missing("format"))?,
            },
            // A type without parameters: serde's own names and errors.
            unit => FieldType::deserialize(MapDeserializer::<_, serde::de::value::Error>::new(
                std::iter::once(("type", unit)),
            ))
            .map_err(|e| e.to_string())?,
        };
        Ok(FieldSchema {
            name: f.name,
            ty,
            optional: f.optional,
        })
    }
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

    /// Parses a stored `@schema` value. Besides invalid JSON and unknown types, a schema
    /// nesting deeper than [`MAX_SCHEMA_NESTING`] or naming a field deeper than
    /// [`MAX_FIELD_DEPTH`] is refused (with bounded work and stack).
    pub fn parse(stored: &[u8]) -> Result<Self, String> {
        let nesting = json_nesting(stored);
        if nesting > MAX_SCHEMA_NESTING {
            return Err(format!(
                "JSON nested {nesting} levels deep (at most {MAX_SCHEMA_NESTING})"
            ));
        }
        let mut s: Schema = serde_json::from_slice(stored).map_err(|e| e.to_string())?;
        check_depth(&s.fields)?;
        s.fingerprint = Self::fingerprint_of(&s.fields);
        s.fingerprint_hex = format!("{:016x}", s.fingerprint);
        Ok(s)
    }

    /// `label (schema fingerprint)`, as error messages name a message type.
    pub fn describe(&self) -> String {
        format!("{} (schema {})", self.label, self.fingerprint_hex)
    }
}

/// The deepest nesting of arrays and objects in a JSON text (strings skipped), in one pass
/// without recursion. Not a validation: the text is parsed afterwards.
fn json_nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut bytes = text.iter();
    while let Some(b) = bytes.next() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => {
                while let Some(c) = bytes.next() {
                    match c {
                        b'\\' => {
                            bytes.next();
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    deepest
}

/// Refuses field names deeper than [`MAX_FIELD_DEPTH`] segments, counting enclosing lists
/// (their names and element indices). Iterative: lists nest as deep as the JSON allows.
fn check_depth(fields: &[FieldSchema]) -> Result<(), String> {
    let mut todo: Vec<(&[FieldSchema], usize)> = vec![(fields, 0)];
    while let Some((fields, above)) = todo.pop() {
        for f in fields {
            let segments = if f.name.is_empty() {
                0
            } else {
                f.name.split('.').count()
            };
            let depth = above + segments;
            if depth > MAX_FIELD_DEPTH {
                return Err(format!(
                    "the field {:?} is nested {depth} segments deep (at most {MAX_FIELD_DEPTH})",
                    crate::error::show_bytes(f.name.as_bytes())
                ));
            }
            if let FieldType::List { items } = &f.ty {
                todo.push((items, depth + 1));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings() {
        assert_eq!(json_nesting(b"1"), 0);
        assert_eq!(json_nesting(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(json_nesting(br#"{"a":"[[[[\"[[[{"}"#), 1);
        assert_eq!(json_nesting(b"]]]]{"), 1);
    }

    fn nested_lists(levels: usize, name: &str) -> String {
        let mut field = format!(r#"{{"name":"{name}","type":"u8"}}"#);
        for _ in 0..levels {
            field = format!(r#"{{"name":"{name}","type":"list","items":[{field}]}}"#);
        }
        format!(r#"{{"format":1,"label":"X","fields":[{field}]}}"#)
    }

    #[test]
    fn every_field_type_reads_back_as_written() {
        let fields = vec![
            FieldSchema {
                name: "e".into(),
                ty: FieldType::enum_of(&["A", "B"]),
                optional: true,
            },
            FieldSchema {
                name: "a".into(),
                ty: FieldType::Array {
                    dtype: "float64".into(),
                    ndim: Some(2),
                    shape: Some(vec![3, 3]),
                },
                optional: false,
            },
            FieldSchema {
                name: "l".into(),
                ty: FieldType::List {
                    items: vec![FieldSchema {
                        name: String::new(),
                        ty: FieldType::Custom {
                            format: "raw".into(),
                        },
                        optional: false,
                    }],
                },
                optional: false,
            },
        ];
        let units = [
            FieldType::Bool,
            FieldType::U8,
            FieldType::U16,
            FieldType::U32,
            FieldType::U64,
            FieldType::U128,
            FieldType::I8,
            FieldType::I16,
            FieldType::I32,
            FieldType::I64,
            FieldType::I128,
            FieldType::F32,
            FieldType::F64,
            FieldType::Char,
            FieldType::String,
            FieldType::Json,
        ];
        let fields: Vec<FieldSchema> = fields
            .into_iter()
            .chain(units.into_iter().enumerate().map(|(i, ty)| FieldSchema {
                name: format!("u{i}"),
                ty,
                optional: false,
            }))
            .collect();
        let schema = Schema::new("All".into(), fields);
        assert_eq!(
            Schema::parse(schema.json.as_bytes()).unwrap(),
            schema_without_json(&schema)
        );
        for bad in [
            r#"{"name":"x","type":"enum"}"#,
            r#"{"name":"x","type":"u9"}"#,
            r#"{"name":"x","type":"list"}"#,
            r#"{"type":"u8"}"#,
        ] {
            let text = format!(r#"{{"format":1,"label":"X","fields":[{bad}]}}"#);
            assert!(Schema::parse(text.as_bytes()).is_err(), "{bad}");
        }
        // Members of other types, and unknown ones, are ignored.
        let text = r#"{"format":1,"label":"X","fields":[{"name":"x","type":"u8","dtype":"f","junk":[[1]]}]}"#;
        assert_eq!(
            Schema::parse(text.as_bytes()).unwrap().fields[0].ty,
            FieldType::U8
        );
    }

    fn schema_without_json(s: &Schema) -> Schema {
        Schema {
            json: String::new(),
            ..s.clone()
        }
    }

    #[test]
    fn deep_schemas_are_refused_with_a_reason() {
        assert!(Schema::parse(nested_lists(10, "").as_bytes()).is_ok());
        let err = Schema::parse(nested_lists(11, "").as_bytes()).unwrap_err();
        assert!(err.contains("nested 25 levels"), "{err}");
        // 20 000 segments in one name: one level of JSON, refused by its depth.
        let long = vec!["a"; 20_000].join(".");
        let err = Schema::parse(nested_lists(0, &long).as_bytes()).unwrap_err();
        assert!(err.contains("20000 segments"), "{err}");
        // Segments add up across lists: 4 lists of 6-segment names are 4 × 7 + 6 deep.
        let name = ["b"; 6].join(".");
        assert!(Schema::parse(nested_lists(3, &name).as_bytes()).is_ok());
        let err = Schema::parse(nested_lists(4, &name).as_bytes()).unwrap_err();
        assert!(err.contains("34 segments"), "{err}");
    }
}
