//! Messages read without their Rust type, from the schema they carry.
//!
//! Every message reem writes stores its schema in `@schema` (`docs/FORMAT.md` §4), so a
//! program that does not have the Rust type (the `reem` command-line tool, a monitor, a
//! debugger) can still read every field: [`decode`] turns a stored hash into a
//! [`DynMessage`], whose [`DynValue`] tree holds structs by field name, lists by index,
//! scalars, JSON and arrays.
//!
//! ```
//! use reem::dynamic::{self, Arrays, DynValue};
//! use reem::marshal::HashView;
//! use reem::schema::{FieldSchema, FieldType, Schema};
//!
//! let schema = Schema::new("Pose2".into(), vec![
//!     FieldSchema { name: "x".into(), ty: FieldType::F64, optional: false },
//!     FieldSchema { name: "base.y".into(), ty: FieldType::I32, optional: false },
//! ]);
//! let reply = redis::Value::Array(
//!     [("@schema", schema.json.as_str()), ("@fp", &schema.fingerprint_hex), ("x", "1.5"), ("base.y", "-2")]
//!         .iter()
//!         .flat_map(|(f, v)| [f.as_bytes().to_vec(), v.as_bytes().to_vec()])
//!         .map(redis::Value::BulkString)
//!         .collect(),
//! );
//! let hash = HashView::from_hgetall("robot/pose", &reply)?;
//! let msg = dynamic::decode("robot/pose", &hash, Arrays::Summary)?;
//! assert_eq!(msg.value.get("base.y"), Some(&DynValue::Int(-2)));
//! assert_eq!(serde_json::to_string(&msg.value).unwrap(), r#"{"x":1.5,"base":{"y":-2}}"#);
//! # Ok::<(), reem::Error>(())
//! ```
//!
//! **Strictness and cost.** Scalars are decoded by the same code as typed reads, with the
//! same errors. Arrays get the same checks as typed arrays (dtype, shape, byte count, all
//! before anything is allocated); with [`Arrays::Summary`] their elements are never copied,
//! only summarised (min, max, mean) in one pass over the stored bytes, while
//! [`Arrays::Full`] copies them once. Lists are bounded as typed reads bound them, and the
//! whole decode does work proportional to the number of stored fields (plus a fixed
//! allowance for absent optional fields), whatever the stored schema claims. A message
//! whose stored schema is unreadable, of a newer format, or does not match its `@fp` is an
//! [`Error::InvalidField`] naming `@schema` or `@fp`.
//!
//! [`encode_text`] goes the other way for one scalar field (what `reem set` does): a text a
//! person typed becomes the field's stored text, checked against the field's stored type, so
//! the message stays readable by its Rust type and its fingerprint stays valid.

use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::{show_bytes, Error, Result};
use crate::marshal::array::{self, Dtype, Element};
use crate::marshal::{
    decode_json, FieldPath, FieldReader, FieldWriter, HashView, ReemField, FINGERPRINT_FIELD,
    LABEL_FIELD, ROOT_LEAF, SCHEMA_FIELD, SEPARATOR,
};
use crate::schema::{FieldSchema, FieldType, Schema, FORMAT_VERSION};

/// Decoding work allowed beyond twice the number of stored fields: list elements and
/// optional fields found absent cost one step each, without reading a stored field.
const SPARE_STEPS: usize = 1 << 17;

/// What [`decode`] does with arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrays {
    /// Summarise each array (min, max, mean) without copying its elements.
    #[default]
    Summary,
    /// Copy every element.
    Full,
}

/// A message decoded with the schema stored in it.
#[derive(Debug, Clone, PartialEq)]
pub struct DynMessage {
    /// The stored `@label` (or, without one, the schema's label).
    pub label: String,
    /// The stored schema; its fingerprint equals the stored `@fp`.
    pub schema: Schema,
    /// The fields: a [`DynValue::Struct`] for a struct message, the value itself for a
    /// top-level scalar, array or list.
    pub value: DynValue,
}

/// One decoded value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DynValue {
    /// An optional field that is not stored (`None`).
    Absent,
    /// `bool`.
    Bool(bool),
    /// A signed integer (`i8` … `i128`).
    Int(i128),
    /// An unsigned integer (`u8` … `u128`).
    UInt(u128),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `char`.
    Char(char),
    /// `String`.
    String(String),
    /// The variant name of a unit-only enum.
    Enum(String),
    /// A JSON field.
    Json(serde_json::Value),
    /// An n-dimensional array.
    Array(DynArray),
    /// A list, element by element.
    List(Vec<DynValue>),
    /// Named fields, in schema order.
    Struct(Vec<(String, DynValue)>),
    /// A field of a hand-written encoding that describes itself by name only: its stored
    /// fields, raw.
    Custom {
        /// The format name the encoding declared.
        format: String,
        /// Stored field names (full) and values.
        fields: Vec<(String, Vec<u8>)>,
    },
}

/// A decoded array.
#[derive(Debug, Clone, PartialEq)]
pub struct DynArray {
    /// numpy's name of the element type (`float64`).
    pub dtype: String,
    /// The shape, one entry per dimension.
    pub shape: Vec<usize>,
    /// A summary or every element.
    pub body: ArrayBody,
}

/// What a [`DynArray`] holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayBody {
    /// Statistics only ([`Arrays::Summary`]).
    Summary(Stats),
    /// Every element, C order ([`Arrays::Full`]).
    Full(Elements),
}

/// Summary statistics of an array's elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Elements counted (NaNs excluded).
    pub count: usize,
    /// NaN elements (floats only).
    pub nan: usize,
    /// Smallest element, if any was counted.
    pub min: Option<Number>,
    /// Largest element, if any was counted.
    pub max: Option<Number>,
    /// Mean of the counted elements (`true` counts as 1), if any.
    pub mean: Option<f64>,
}

/// An array element as a number: integers (and `bool` as 0 / 1) exactly, floats as `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer element.
    Int(i128),
    /// A float element.
    Float(f64),
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// Every element of an array, in C order, typed as stored.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // one variant per numpy dtype, named after it
pub enum Elements {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Array element types the dynamic decoder knows.
trait DynElement: Element + PartialOrd {
    fn number(self) -> Number;
    fn to_f64(self) -> f64;
    fn wrap(items: Vec<Self>) -> Elements;
}

macro_rules! dyn_elements {
    (int: $($t:ty => $v:ident),*; float: $($f:ty => $fv:ident),*) => {
        $(impl DynElement for $t {
            fn number(self) -> Number {
                Number::Int(i128::from(self))
            }
            fn to_f64(self) -> f64 {
                i128::from(self) as f64
            }
            fn wrap(items: Vec<Self>) -> Elements {
                Elements::$v(items)
            }
        })*
        $(impl DynElement for $f {
            fn number(self) -> Number {
                Number::Float(shortest_f64(self))
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn wrap(items: Vec<Self>) -> Elements {
                Elements::$fv(items)
            }
        })*
    };
}

dyn_elements! {
    int: bool => Bool, u8 => U8, u16 => U16, u32 => U32, u64 => U64,
         i8 => I8, i16 => I16, i32 => I32, i64 => I64;
    float: f32 => F32, f64 => F64
}

/// The `f64` whose shortest text is the shortest text of `x` (`0.1f32` becomes `0.1`, not
/// `0.10000000149011612`), so that an `f32` prints as it was written.
fn shortest_f64<F: Into<f64> + std::fmt::Display + Copy>(x: F) -> f64 {
    let wide: f64 = x.into();
    if wide.is_finite() {
        x.to_string().parse().unwrap_or(wide)
    } else {
        wide
    }
}

impl Stats {
    /// One pass over the elements; NaNs are counted apart.
    fn of<A: DynElement>(items: impl Iterator<Item = A>) -> Self {
        let (mut count, mut nan, mut sum) = (0usize, 0usize, 0.0f64);
        let (mut lo, mut hi): (Option<A>, Option<A>) = (None, None);
        for x in items {
            // Only NaN is not equal to itself.
            #[allow(clippy::eq_op)]
            if x != x {
                nan += 1;
                continue;
            }
            count += 1;
            sum += x.to_f64();
            if lo.is_none_or(|m| x < m) {
                lo = Some(x);
            }
            if hi.is_none_or(|m| x > m) {
                hi = Some(x);
            }
        }
        Stats {
            count,
            nan,
            min: lo.map(A::number),
            max: hi.map(A::number),
            mean: (count > 0).then(|| sum / count as f64),
        }
    }
}

impl DynValue {
    /// The value at a dotted path below this one: struct fields by name, list elements by
    /// index (`path.0.x`); `""` is the value itself.
    pub fn get(&self, path: &str) -> Option<&DynValue> {
        if path.is_empty() {
            return Some(self);
        }
        path.split(SEPARATOR).try_fold(self, |v, seg| match v {
            DynValue::Struct(fields) => fields.iter().find(|(n, _)| n == seg).map(|(_, v)| v),
            DynValue::List(items) => canonical_index(seg).and_then(|i| items.get(i)),
            _ => None,
        })
    }
}

/// `seg` as a list index, if it is written as reem writes indices (no sign, no leading 0).
fn canonical_index(seg: &str) -> Option<usize> {
    let canonical = !seg.is_empty()
        && seg.bytes().all(|b| b.is_ascii_digit())
        && (seg == "0" || !seg.starts_with('0'));
    canonical.then(|| seg.parse().ok()).flatten()
}

/// Reads and checks the stored schema of a message: `@schema` must be present and parse,
/// be of a format this version reads, and match `@fp` when that is stored.
pub fn read_schema(key: &str, hash: &HashView<'_>) -> Result<Schema> {
    let invalid = |field: &str, expected: String, found: String| Error::InvalidField {
        key: key.to_owned(),
        field: field.to_owned(),
        expected,
        found,
    };
    let text = hash
        .get(SCHEMA_FIELD.as_bytes())
        .ok_or_else(|| Error::MissingField {
            key: key.to_owned(),
            field: SCHEMA_FIELD.to_owned(),
        })?;
    let schema = Schema::parse(text).map_err(|e| {
        invalid(
            SCHEMA_FIELD,
            "a reem schema (JSON, docs/FORMAT.md §4)".to_owned(),
            format!("{} ({e})", show_bytes(text)),
        )
    })?;
    if schema.format > FORMAT_VERSION {
        return Err(invalid(
            SCHEMA_FIELD,
            format!("format version {FORMAT_VERSION} or older"),
            format!("format version {} (written by a newer reem)", schema.format),
        ));
    }
    if let Some(fp) = hash.get(FINGERPRINT_FIELD.as_bytes()) {
        if fp != schema.fingerprint_hex.as_bytes() {
            return Err(invalid(
                FINGERPRINT_FIELD,
                format!(
                    "the fingerprint of the stored schema ({})",
                    schema.fingerprint_hex
                ),
                show_bytes(fp),
            ));
        }
    }
    Ok(schema)
}

/// Decodes the message in `hash` (stored at `key`) with the schema stored in it.
///
/// Errors: [`Error::MissingField`] naming `@schema` for a hash that carries no schema (one
/// written by another program); [`Error::InvalidField`] for an unreadable schema, a
/// fingerprint that does not match it, or a stored field that does not decode as its
/// schema says; [`Error::MissingField`] for a required field that is absent.
pub fn decode(key: &str, hash: &HashView<'_>, arrays: Arrays) -> Result<DynMessage> {
    let schema = read_schema(key, hash)?;
    let label = hash
        .get(LABEL_FIELD.as_bytes())
        .and_then(|l| std::str::from_utf8(l).ok())
        .map_or_else(|| schema.label.clone(), str::to_owned);
    let mut d = Decoder {
        key,
        hash,
        arrays,
        steps: 0,
        limit: hash.len().saturating_mul(2).saturating_add(SPARE_STEPS),
    };
    let value = d.fields("", &schema.fields)?;
    Ok(DynMessage {
        label,
        schema,
        value,
    })
}

struct Decoder<'h, 'v> {
    key: &'h str,
    hash: &'h HashView<'v>,
    arrays: Arrays,
    steps: usize,
    limit: usize,
}

impl Decoder<'_, '_> {
    /// The fields `fields` (names relative to `prefix`) as one value.
    fn fields(&mut self, prefix: &str, fields: &[FieldSchema]) -> Result<DynValue> {
        let mut tree = Tree::default();
        for f in fields {
            let path = join(prefix, &f.name);
            let value = self.field(&path, f)?;
            tree.insert(&f.name, value)
                .map_err(|why| Error::InvalidField {
                    key: self.key.to_owned(),
                    field: SCHEMA_FIELD.to_owned(),
                    expected: "a schema whose field names do not overlap".to_owned(),
                    found: why,
                })?;
        }
        Ok(tree.finish(!prefix.is_empty()))
    }

    fn step(&mut self, path: &str) -> Result<()> {
        self.steps += 1;
        if self.steps > self.limit {
            return Err(Error::InvalidField {
                key: self.key.to_owned(),
                field: FieldPath::at(path).leaf().to_owned(),
                expected: "lists and optional fields that fit the stored fields".to_owned(),
                found: format!(
                    "a schema needing more than {} decoding steps for {} stored fields",
                    self.limit,
                    self.hash.len()
                ),
            });
        }
        Ok(())
    }

    fn field(&mut self, path: &str, f: &FieldSchema) -> Result<DynValue> {
        self.step(path)?;
        if f.optional && !self.hash.has_under(path) {
            return Ok(DynValue::Absent);
        }
        let mut r = FieldReader::new(self.key, self.hash, FieldPath::at(path));
        let r = &mut r;
        Ok(match &f.ty {
            FieldType::Bool => DynValue::Bool(bool::decode(r)?),
            FieldType::U8 => DynValue::UInt(u8::decode(r)?.into()),
            FieldType::U16 => DynValue::UInt(u16::decode(r)?.into()),
            FieldType::U32 => DynValue::UInt(u32::decode(r)?.into()),
            FieldType::U64 => DynValue::UInt(u64::decode(r)?.into()),
            FieldType::U128 => DynValue::UInt(u128::decode(r)?),
            FieldType::I8 => DynValue::Int(i8::decode(r)?.into()),
            FieldType::I16 => DynValue::Int(i16::decode(r)?.into()),
            FieldType::I32 => DynValue::Int(i32::decode(r)?.into()),
            FieldType::I64 => DynValue::Int(i64::decode(r)?.into()),
            FieldType::I128 => DynValue::Int(i128::decode(r)?),
            FieldType::F32 => DynValue::F32(f32::decode(r)?),
            FieldType::F64 => DynValue::F64(f64::decode(r)?),
            FieldType::Char => DynValue::Char(char::decode(r)?),
            FieldType::String => DynValue::String(String::decode(r)?),
            FieldType::Enum { variants } => {
                let raw = r.require()?;
                match std::str::from_utf8(raw) {
                    Ok(v) if variants.iter().any(|x| x == v) => DynValue::Enum(v.to_owned()),
                    _ => return Err(r.invalid(one_of(variants), raw)),
                }
            }
            FieldType::Json => DynValue::Json(decode_json(r)?),
            FieldType::Array { dtype, ndim, shape } => {
                DynValue::Array(self.array(r, dtype, *ndim, shape.as_deref())?)
            }
            FieldType::List { items } => self.list(r, items)?,
            FieldType::Custom { format } => {
                let leaf = r.path().leaf().to_owned();
                let below = format!("{path}{SEPARATOR}");
                let fields: Vec<(String, Vec<u8>)> = self
                    .hash
                    .entries()
                    .filter(|(n, _)| {
                        !n.starts_with(b"@")
                            && (*n == leaf.as_bytes()
                                || path.is_empty()
                                || n.starts_with(below.as_bytes()))
                    })
                    .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.to_vec()))
                    .collect();
                if fields.is_empty() {
                    return Err(r.missing());
                }
                DynValue::Custom {
                    format: format.clone(),
                    fields,
                }
            }
        })
    }

    fn array(
        &self,
        r: &mut FieldReader<'_, '_>,
        dtype: &str,
        ndim: Option<usize>,
        shape: Option<&[usize]>,
    ) -> Result<DynArray> {
        let unknown = || Error::InvalidField {
            key: self.key.to_owned(),
            field: SCHEMA_FIELD.to_owned(),
            expected: "an array dtype reem reads (bool, int8 … int64, uint8 … uint64, \
                       float32, float64)"
                .to_owned(),
            found: format!("{dtype:?} for field {:?}", r.path().as_str()),
        };
        let d = Dtype::parse(dtype.as_bytes()).ok_or_else(unknown)?;
        let arrays = self.arrays;
        match (d.kind, d.size) {
            (b'b', 1) => typed_array::<bool>(r, ndim, shape, arrays),
            (b'u', 1) => typed_array::<u8>(r, ndim, shape, arrays),
            (b'u', 2) => typed_array::<u16>(r, ndim, shape, arrays),
            (b'u', 4) => typed_array::<u32>(r, ndim, shape, arrays),
            (b'u', 8) => typed_array::<u64>(r, ndim, shape, arrays),
            (b'i', 1) => typed_array::<i8>(r, ndim, shape, arrays),
            (b'i', 2) => typed_array::<i16>(r, ndim, shape, arrays),
            (b'i', 4) => typed_array::<i32>(r, ndim, shape, arrays),
            (b'i', 8) => typed_array::<i64>(r, ndim, shape, arrays),
            (b'f', 4) => typed_array::<f32>(r, ndim, shape, arrays),
            (b'f', 8) => typed_array::<f64>(r, ndim, shape, arrays),
            _ => Err(unknown()),
        }
    }

    fn list(&mut self, r: &mut FieldReader<'_, '_>, items: &[FieldSchema]) -> Result<DynValue> {
        let len = crate::marshal::read_list_len(r)?;
        let stored = self.hash.len();
        let path = r.path().as_str().to_owned();
        let mut out = Vec::with_capacity(len.min(stored));
        for i in 0..len {
            let element = join(&path, itoa::Buffer::new().format(i));
            self.step(&element)?;
            out.push(self.fields(&element, items)?);
        }
        Ok(DynValue::List(out))
    }
}

fn typed_array<A: DynElement>(
    r: &mut FieldReader<'_, '_>,
    ndim: Option<usize>,
    shape: Option<&[usize]>,
    arrays: Arrays,
) -> Result<DynArray> {
    let raw = array::decode_raw::<A>(r, ndim)?;
    if let Some(fixed) = shape {
        if raw.shape != fixed {
            return Err(r.invalid_at(
                &r.path().child(array::SHAPE),
                format!("the shape {} its schema fixes", array::format_tuple(fixed)),
                array::format_tuple(&raw.shape),
            ));
        }
    }
    let body = match arrays {
        Arrays::Summary => ArrayBody::Summary(Stats::of(raw.elements::<A>())),
        Arrays::Full => ArrayBody::Full(A::wrap(raw.to_vec::<A>())),
    };
    Ok(DynArray {
        dtype: A::DTYPE.to_owned(),
        shape: raw.shape,
        body,
    })
}

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}{SEPARATOR}{name}"),
    }
}

fn one_of(variants: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = format!("one of the variants {}", {
        let shown: Vec<&str> = variants.iter().take(SHOWN).map(String::as_str).collect();
        shown.join(", ")
    });
    if variants.len() > SHOWN {
        s.push_str(&format!(" (… {} in all)", variants.len()));
    }
    s
}

/// Builds the value tree from dotted schema names.
#[derive(Default)]
struct Tree {
    leaf: Option<DynValue>,
    children: Vec<(String, Tree)>,
    index: HashMap<String, usize>,
}

impl Tree {
    fn insert(&mut self, name: &str, value: DynValue) -> std::result::Result<(), String> {
        let conflict = || format!("the field {name:?} overlaps another");
        let mut node = self;
        if !name.is_empty() {
            for seg in name.split(SEPARATOR) {
                if node.leaf.is_some() {
                    return Err(conflict());
                }
                let i = match node.index.get(seg) {
                    Some(i) => *i,
                    None => {
                        node.index.insert(seg.to_owned(), node.children.len());
                        node.children.push((seg.to_owned(), Tree::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[i].1;
            }
        }
        if node.leaf.is_some() || !node.children.is_empty() {
            return Err(conflict());
        }
        node.leaf = Some(value);
        Ok(())
    }

    /// The value; a group whose fields are all absent is itself absent, unless it is the
    /// message (`collapse` false).
    fn finish(self, collapse: bool) -> DynValue {
        if let Some(v) = self.leaf {
            return v;
        }
        let fields: Vec<(String, DynValue)> = self
            .children
            .into_iter()
            .map(|(n, t)| (n, t.finish(true)))
            .collect();
        if collapse && !fields.is_empty() && fields.iter().all(|(_, v)| *v == DynValue::Absent) {
            DynValue::Absent
        } else {
            DynValue::Struct(fields)
        }
    }
}

/// Where a dotted field path lands in a message of `schema`: the stored field name and its
/// schema entry. List elements are named by index (`path.3.x`); a top-level scalar is `""` or
/// `value` (its stored name).
///
/// `None` if the schema has no such field. The path may name a group (an array, a list, a
/// custom field) as well as a scalar.
pub fn resolve<'s>(schema: &'s Schema, path: &str) -> Option<(String, &'s FieldSchema)> {
    resolve_in(&schema.fields, "", path)
        .or_else(|| {
            (path == ROOT_LEAF)
                .then(|| resolve_in(&schema.fields, "", ""))
                .flatten()
        })
        .map(|(stored, f)| (FieldPath::at(&stored).leaf().to_owned(), f))
}

fn resolve_in<'s>(
    fields: &'s [FieldSchema],
    prefix: &str,
    rest: &str,
) -> Option<(String, &'s FieldSchema)> {
    fields.iter().find_map(|f| {
        if f.name == rest {
            return Some((join(prefix, &f.name), f));
        }
        let FieldType::List { items } = &f.ty else {
            return None;
        };
        let below = if f.name.is_empty() {
            rest
        } else {
            rest.strip_prefix(f.name.as_str())?
                .strip_prefix(SEPARATOR)?
        };
        let (index, tail) = below.split_once(SEPARATOR).unwrap_or((below, ""));
        canonical_index(index)?;
        resolve_in(items, &join(&join(prefix, &f.name), index), tail)
    })
}

/// The stored text of `text` in a scalar field of type `ty` (`key` and `field` name it in
/// errors), exactly as the Rust encoder of that type writes it.
///
/// Numbers and `bool` may be surrounded by spaces; `bool` accepts `1`, `0`, `true`,
/// `false`; floats accept `inf`, `-inf`, `nan`, but a finite text too large for the type
/// (`1e40` for an `f32`) is refused; an enum takes one of its variant names; a JSON field
/// takes any valid JSON text, stored as given (the shape the Rust type expects cannot be
/// checked without it). Arrays, lists and custom fields are refused with
/// [`Error::Encode`], as is every text that does not fit the type.
///
/// ```
/// use reem::schema::FieldType;
/// assert_eq!(reem::dynamic::encode_text("k", "x", &FieldType::F64, " 2.50 ")?, b"2.5");
/// assert!(reem::dynamic::encode_text("k", "x", &FieldType::F64, "fast").is_err());
/// # Ok::<(), reem::Error>(())
/// ```
pub fn encode_text(key: &str, field: &str, ty: &FieldType, text: &str) -> Result<Vec<u8>> {
    let refuse = |reason: String| Error::Encode {
        key: key.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let shown = show_bytes(text.as_bytes());
    let number = |what: &str| refuse(format!("{shown} is not {what}"));
    let t = text.trim();
    macro_rules! int {
        ($t:ty) => {
            stored::<$t>(
                key,
                field,
                t.parse()
                    .map_err(|_| number(concat!("an integer that fits ", stringify!($t))))?,
            )
        };
    }
    macro_rules! float {
        ($t:ty) => {{
            let v: $t = t
                .parse()
                .map_err(|_| number(concat!("a number (", stringify!($t), ")")))?;
            let spelled_inf = t
                .trim_start_matches(['+', '-'])
                .to_ascii_lowercase()
                .starts_with("inf");
            if v.is_infinite() && !spelled_inf {
                return Err(number(concat!(
                    "a number within the range of ",
                    stringify!($t)
                )));
            }
            stored::<$t>(key, field, v)
        }};
    }
    match ty {
        FieldType::Bool => match t {
            "1" => stored(key, field, true),
            "0" => stored(key, field, false),
            _ if t.eq_ignore_ascii_case("true") => stored(key, field, true),
            _ if t.eq_ignore_ascii_case("false") => stored(key, field, false),
            _ => Err(number("a boolean (1, 0, true or false)")),
        },
        FieldType::U8 => int!(u8),
        FieldType::U16 => int!(u16),
        FieldType::U32 => int!(u32),
        FieldType::U64 => int!(u64),
        FieldType::U128 => int!(u128),
        FieldType::I8 => int!(i8),
        FieldType::I16 => int!(i16),
        FieldType::I32 => int!(i32),
        FieldType::I64 => int!(i64),
        FieldType::I128 => int!(i128),
        FieldType::F32 => float!(f32),
        FieldType::F64 => float!(f64),
        FieldType::Char => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => stored(key, field, c),
                _ => Err(number("exactly one character")),
            }
        }
        FieldType::String => Ok(text.as_bytes().to_vec()),
        FieldType::Enum { variants } => {
            if variants.iter().any(|v| v == text) {
                Ok(text.as_bytes().to_vec())
            } else {
                Err(number(&one_of(variants)))
            }
        }
        FieldType::Json => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Ok(text.as_bytes().to_vec()),
            Err(e) => Err(refuse(format!("{shown} is not JSON text ({e})"))),
        },
        FieldType::Array { .. } | FieldType::List { .. } | FieldType::Custom { .. } => {
            Err(refuse(format!(
                "it is {}, not a scalar: only numbers, bool, char, string, enum and JSON \
                 fields can be set from text",
                describe_type(ty)
            )))
        }
    }
}

/// The stored text of `value`, from the type's own encoder (it writes into a scratch
/// command whose last argument is the value).
fn stored<T: ReemField>(key: &str, field: &str, value: T) -> Result<Vec<u8>> {
    let mut pipe = redis::pipe();
    pipe.cmd("HSET");
    let mut w = FieldWriter::new(key, &mut pipe, FieldPath::at(field));
    value.encode(&mut w)?;
    w.finish();
    let last = pipe.cmd_iter().last().and_then(|c| c.args_iter().last());
    match last {
        Some(redis::Arg::Simple(bytes)) => Ok(bytes.to_vec()),
        _ => Err(Error::Encode {
            key: key.to_owned(),
            field: field.to_owned(),
            reason: "the encoder wrote no value".to_owned(),
        }),
    }
}

/// A short human description of a stored type: `f64`, `enum (Idle, Driving)`,
/// `array float32, 2-D`, `list of 3 fields`.
pub fn describe_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Bool => "bool".into(),
        FieldType::U8 => "u8".into(),
        FieldType::U16 => "u16".into(),
        FieldType::U32 => "u32".into(),
        FieldType::U64 => "u64".into(),
        FieldType::U128 => "u128".into(),
        FieldType::I8 => "i8".into(),
        FieldType::I16 => "i16".into(),
        FieldType::I32 => "i32".into(),
        FieldType::I64 => "i64".into(),
        FieldType::I128 => "i128".into(),
        FieldType::F32 => "f32".into(),
        FieldType::F64 => "f64".into(),
        FieldType::Char => "char".into(),
        FieldType::String => "string".into(),
        FieldType::Enum { variants } => format!("enum ({})", variants.join(" | ")),
        FieldType::Json => "json".into(),
        FieldType::Array { dtype, ndim, shape } => match (shape, ndim) {
            (Some(s), _) => format!("array {dtype} {}", array::format_tuple(s)),
            (None, Some(n)) => format!("array {dtype}, {n}-D"),
            (None, None) => format!("array {dtype}"),
        },
        FieldType::List { items } => match items.as_slice() {
            [one] if one.name.is_empty() => format!("list of {}", describe_type(&one.ty)),
            _ => format!("list of {{{}}}", {
                let parts: Vec<String> = items
                    .iter()
                    .map(|f| {
                        let opt = if f.optional { "?" } else { "" };
                        format!("{}{opt}: {}", f.name, describe_type(&f.ty))
                    })
                    .collect();
                parts.join(", ")
            }),
        },
        FieldType::Custom { format } => format!("custom ({format})"),
    }
}

// ---- JSON (serde) form ----------------------------------------------------------------

/// Serialises as JSON-friendly data: structs as maps in schema order, lists as sequences,
/// `Absent` as `null`, non-finite floats as the strings `"nan"`, `"inf"`, `"-inf"`, arrays
/// as nested sequences ([`ArrayBody::Full`]) or as a summary map with `dtype`, `shape`,
/// `min`, `max`, `mean` (and `nan` when NaNs were skipped).
impl Serialize for DynValue {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            DynValue::Absent => s.serialize_none(),
            DynValue::Bool(b) => s.serialize_bool(*b),
            DynValue::Int(i) => match i64::try_from(*i) {
                Ok(i) => s.serialize_i64(i),
                Err(_) => s.serialize_i128(*i),
            },
            DynValue::UInt(u) => match u64::try_from(*u) {
                Ok(u) => s.serialize_u64(u),
                Err(_) => s.serialize_u128(*u),
            },
            DynValue::F32(f) => float(shortest_f64(*f), s),
            DynValue::F64(f) => float(*f, s),
            DynValue::Char(c) => s.serialize_char(*c),
            DynValue::String(t) | DynValue::Enum(t) => s.serialize_str(t),
            DynValue::Json(j) => j.serialize(s),
            DynValue::Array(a) => a.serialize(s),
            DynValue::List(items) => items.serialize(s),
            DynValue::Struct(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            DynValue::Custom { format, fields } => {
                let mut m = s.serialize_map(Some(fields.len() + 1))?;
                m.serialize_entry("@custom", format)?;
                for (k, v) in fields {
                    m.serialize_entry(k, &String::from_utf8_lossy(v))?;
                }
                m.end()
            }
        }
    }
}

/// A float as a JSON number, or as a string for the non-finite ones.
fn float<S: Serializer>(v: f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("nan")
    } else if v.is_infinite() {
        s.serialize_str(if v < 0.0 { "-inf" } else { "inf" })
    } else {
        s.serialize_f64(v)
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Number::Int(i) => DynValue::Int(*i).serialize(s),
            Number::Float(f) => float(*f, s),
        }
    }
}

/// A summary as a map, a full array as nested sequences.
impl Serialize for DynArray {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.body {
            ArrayBody::Summary(st) => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("dtype", &self.dtype)?;
                m.serialize_entry("shape", &self.shape)?;
                m.serialize_entry("min", &st.min)?;
                m.serialize_entry("max", &st.max)?;
                m.serialize_entry("mean", &st.mean.map(Number::Float))?;
                if st.nan > 0 {
                    m.serialize_entry("nan", &st.nan)?;
                }
                m.end()
            }
            ArrayBody::Full(e) => serialize_elements(e, &self.shape, s),
        }
    }
}

fn serialize_elements<S: Serializer>(
    e: &Elements,
    shape: &[usize],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    fn nested<T, S: Serializer>(
        items: &[T],
        shape: &[usize],
        s: S,
        one: fn(&T) -> DynValue,
    ) -> std::result::Result<S::Ok, S::Error> {
        struct Level<'a, T> {
            items: &'a [T],
            shape: &'a [usize],
            one: fn(&T) -> DynValue,
        }
        impl<T> Serialize for Level<'_, T> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                match self.shape.split_first() {
                    None => match self.items.first() {
                        Some(x) => (self.one)(x).serialize(s),
                        None => s.serialize_none(),
                    },
                    Some((&n, rest)) => {
                        let step = rest.iter().product::<usize>();
                        let mut seq = s.serialize_seq(Some(n))?;
                        for i in 0..n {
                            let start = i.saturating_mul(step).min(self.items.len());
                            let end = start.saturating_add(step).min(self.items.len());
                            seq.serialize_element(&Level {
                                items: &self.items[start..end],
                                shape: rest,
                                one: self.one,
                            })?;
                        }
                        seq.end()
                    }
                }
            }
        }
        Level { items, shape, one }.serialize(s)
    }
    match e {
        Elements::Bool(v) => nested(v, shape, s, |x| DynValue::Bool(*x)),
        Elements::U8(v) => nested(v, shape, s, |x| DynValue::UInt((*x).into())),
        Elements::U16(v) => nested(v, shape, s, |x| DynValue::UInt((*x).into())),
        Elements::U32(v) => nested(v, shape, s, |x| DynValue::UInt((*x).into())),
        Elements::U64(v) => nested(v, shape, s, |x| DynValue::UInt((*x).into())),
        Elements::I8(v) => nested(v, shape, s, |x| DynValue::Int((*x).into())),
        Elements::I16(v) => nested(v, shape, s, |x| DynValue::Int((*x).into())),
        Elements::I32(v) => nested(v, shape, s, |x| DynValue::Int((*x).into())),
        Elements::I64(v) => nested(v, shape, s, |x| DynValue::Int((*x).into())),
        Elements::F32(v) => nested(v, shape, s, |x| DynValue::F32(*x)),
        Elements::F64(v) => nested(v, shape, s, |x| DynValue::F64(*x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn f(name: &str, ty: FieldType) -> FieldSchema {
        FieldSchema {
            name: name.into(),
            ty,
            optional: false,
        }
    }

    fn opt(name: &str, ty: FieldType) -> FieldSchema {
        FieldSchema {
            optional: true,
            ..f(name, ty)
        }
    }

    fn f64_array(ndim: Option<usize>) -> FieldType {
        FieldType::Array {
            dtype: "float64".into(),
            ndim,
            shape: None,
        }
    }

    /// The `HGETALL` reply of a message with `schema` (header included) and `pairs`.
    fn stored(schema: &Schema, pairs: &[(&str, &[u8])]) -> Value {
        let header: [(&str, &[u8]); 3] = [
            (LABEL_FIELD, schema.label.as_bytes()),
            (FINGERPRINT_FIELD, schema.fingerprint_hex.as_bytes()),
            (SCHEMA_FIELD, schema.json.as_bytes()),
        ];
        raw(header.iter().chain(pairs))
    }

    fn raw<'a>(pairs: impl Iterator<Item = &'a (&'a str, &'a [u8])>) -> Value {
        Value::Array(
            pairs
                .flat_map(|(f, v)| [f.as_bytes().to_vec(), v.to_vec()])
                .map(Value::BulkString)
                .collect(),
        )
    }

    fn decode_reply(reply: &Value, arrays: Arrays) -> Result<DynMessage> {
        decode("k", &HashView::from_hgetall("k", reply)?, arrays)
    }

    fn le_f64(xs: &[f64]) -> Vec<u8> {
        xs.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn scalars_decode_as_typed_reads_decode_them() {
        let schema = Schema::new(
            "All".into(),
            vec![
                f("b", FieldType::Bool),
                f("u", FieldType::U8),
                f("i", FieldType::I64),
                f("big", FieldType::U128),
                f("x", FieldType::F32),
                f("y", FieldType::F64),
                f("c", FieldType::Char),
                f("s", FieldType::String),
                f("mode", FieldType::enum_of(&["Idle", "Driving"])),
                f("cfg", FieldType::Json),
            ],
        );
        let reply = stored(
            &schema,
            &[
                ("b", b"true"),
                ("u", b"255"),
                ("i", b"-7"),
                ("big", b"340282366920938463463374607431768211455"),
                ("x", b"0.1"),
                ("y", b"-inf"),
                ("c", "é".as_bytes()),
                ("s", b"map"),
                ("mode", b"Driving"),
                ("cfg", br#"{"k":[1,2]}"#),
            ],
        );
        let msg = decode_reply(&reply, Arrays::Summary).unwrap();
        assert_eq!(msg.label, "All");
        let v = &msg.value;
        assert_eq!(v.get("b"), Some(&DynValue::Bool(true)));
        assert_eq!(v.get("u"), Some(&DynValue::UInt(255)));
        assert_eq!(v.get("i"), Some(&DynValue::Int(-7)));
        assert_eq!(v.get("big"), Some(&DynValue::UInt(u128::MAX)));
        assert_eq!(v.get("x"), Some(&DynValue::F32(0.1)));
        assert_eq!(v.get("y"), Some(&DynValue::F64(f64::NEG_INFINITY)));
        assert_eq!(v.get("c"), Some(&DynValue::Char('é')));
        assert_eq!(v.get("s"), Some(&DynValue::String("map".into())));
        assert_eq!(v.get("mode"), Some(&DynValue::Enum("Driving".into())));
        assert_eq!(
            v.get("cfg"),
            Some(&DynValue::Json(serde_json::json!({"k": [1, 2]})))
        );
        assert_eq!(
            serde_json::to_string(v).unwrap(),
            r#"{"b":true,"u":255,"i":-7,"big":340282366920938463463374607431768211455,"x":0.1,"y":"-inf","c":"é","s":"map","mode":"Driving","cfg":{"k":[1,2]}}"#
        );
    }

    #[test]
    fn dotted_names_become_a_tree_in_schema_order() {
        let schema = Schema::new(
            "R".into(),
            vec![
                f("stamp", FieldType::F64),
                f("base.x", FieldType::F64),
                f("base.pose.theta", FieldType::F64),
                f("name", FieldType::String),
            ],
        );
        let reply = stored(
            &schema,
            &[
                ("stamp", b"1.5"),
                ("base.x", b"2"),
                ("base.pose.theta", b"0.5"),
                ("name", b"r1"),
            ],
        );
        let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
        assert_eq!(v.get("base.pose.theta"), Some(&DynValue::F64(0.5)));
        assert_eq!(v.get("base.nope"), None);
        let DynValue::Struct(top) = &v else {
            panic!("{v:?}")
        };
        let names: Vec<&str> = top.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["stamp", "base", "name"]);
    }

    #[test]
    fn absent_optional_fields_are_absent_and_absent_groups_collapse() {
        let schema = Schema::new(
            "R".into(),
            vec![
                opt("batt", FieldType::F32),
                opt("goal.x", FieldType::F64),
                opt("goal.y", FieldType::F64),
                opt("depth", f64_array(Some(2))),
                opt("tags", FieldType::List { items: vec![] }),
            ],
        );
        let v = decode_reply(&stored(&schema, &[]), Arrays::Summary)
            .unwrap()
            .value;
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"batt":null,"goal":null,"depth":null,"tags":null}"#
        );
    }

    #[test]
    fn a_missing_required_field_is_an_error_naming_it() {
        let schema = Schema::new("R".into(), vec![f("base.x", FieldType::F64)]);
        let err = decode_reply(&stored(&schema, &[]), Arrays::Summary).unwrap_err();
        assert!(
            matches!(&err, Error::MissingField { key, field } if key == "k" && field == "base.x"),
            "{err}"
        );
    }

    #[test]
    fn bad_stored_text_is_an_invalid_field_error() {
        let schema = Schema::new(
            "R".into(),
            vec![
                f("x", FieldType::F64),
                f("mode", FieldType::enum_of(&["Idle"])),
            ],
        );
        let err = decode_reply(
            &stored(&schema, &[("x", b"fast"), ("mode", b"Idle")]),
            Arrays::Summary,
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidField { field, .. } if field == "x"),
            "{err}"
        );
        let err = decode_reply(
            &stored(&schema, &[("x", b"1"), ("mode", b"Flying")]),
            Arrays::Summary,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Idle"), "{err}");
        assert!(err.to_string().contains("Flying"), "{err}");
    }

    #[test]
    fn arrays_are_summarised_or_given_in_full() {
        let schema = Schema::new("A".into(), vec![f("m", f64_array(Some(2)))]);
        let bytes = le_f64(&[3.0, f64::NAN, 1.0, 2.0]);
        let reply = stored(
            &schema,
            &[
                ("m.dtype", b"float64"),
                ("m.shape", b"(2, 2)"),
                ("m.strides", b"(16, 8)"),
                ("m.arr", &bytes),
            ],
        );
        let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
        let Some(DynValue::Array(a)) = v.get("m") else {
            panic!("{v:?}")
        };
        assert_eq!(
            (a.dtype.as_str(), a.shape.as_slice()),
            ("float64", &[2, 2][..])
        );
        let ArrayBody::Summary(st) = &a.body else {
            panic!("{a:?}")
        };
        assert_eq!((st.count, st.nan), (3, 1));
        assert_eq!(st.min, Some(Number::Float(1.0)));
        assert_eq!(st.max, Some(Number::Float(3.0)));
        assert_eq!(st.mean, Some(2.0));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"m":{"dtype":"float64","shape":[2,2],"min":1.0,"max":3.0,"mean":2.0,"nan":1}}"#
        );
        let full = decode_reply(&reply, Arrays::Full).unwrap().value;
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"m":[[3.0,"nan"],[1.0,2.0]]}"#
        );
    }

    #[test]
    fn integer_and_f32_summaries_stay_exact() {
        let schema = Schema::new(
            "A".into(),
            vec![
                f(
                    "t",
                    FieldType::Array {
                        dtype: "uint64".into(),
                        ndim: Some(1),
                        shape: None,
                    },
                ),
                f(
                    "r",
                    FieldType::Array {
                        dtype: "float32".into(),
                        ndim: Some(1),
                        shape: None,
                    },
                ),
            ],
        );
        let t: Vec<u8> = [u64::MAX, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
        let r: Vec<u8> = [0.1f32, 0.2].iter().flat_map(|x| x.to_le_bytes()).collect();
        let reply = stored(
            &schema,
            &[
                ("t.dtype", b"uint64"),
                ("t.shape", b"(2,)"),
                ("t.arr", &t),
                ("r.dtype", b"<f4"),
                ("r.shape", b"(2,)"),
                ("r.arr", &r),
            ],
        );
        let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
        let json = serde_json::to_string(&v).unwrap();
        assert!(json.contains(r#""max":18446744073709551615"#), "{json}");
        assert!(json.contains(r#""min":0.1,"max":0.2"#), "{json}");
    }

    #[test]
    fn a_shape_larger_than_the_bytes_is_refused_before_allocating() {
        let schema = Schema::new("A".into(), vec![f("m", f64_array(None))]);
        for shape in [&b"(1000000000000,)"[..], b"(99999999999, 99999999999)"] {
            let reply = stored(
                &schema,
                &[
                    ("m.dtype", b"float64"),
                    ("m.shape", shape),
                    ("m.arr", &[0u8; 16]),
                ],
            );
            for arrays in [Arrays::Summary, Arrays::Full] {
                let err = decode_reply(&reply, arrays).unwrap_err();
                assert!(matches!(err, Error::InvalidField { .. }), "{err}");
            }
        }
    }

    #[test]
    fn a_dtype_other_than_the_schema_says_is_refused() {
        let schema = Schema::new("A".into(), vec![f("m", f64_array(None))]);
        let reply = stored(
            &schema,
            &[
                ("m.dtype", b"int64"),
                ("m.shape", b"(1,)"),
                ("m.arr", &[0u8; 8]),
            ],
        );
        let err = decode_reply(&reply, Arrays::Summary).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidField { field, .. } if field == "m.dtype"),
            "{err}"
        );
        let schema = Schema::new(
            "A".into(),
            vec![f(
                "m",
                FieldType::Array {
                    dtype: "complex128".into(),
                    ndim: None,
                    shape: None,
                },
            )],
        );
        let err = decode_reply(&stored(&schema, &[]), Arrays::Summary).unwrap_err();
        assert!(err.to_string().contains("complex128"), "{err}");
    }

    #[test]
    fn lists_decode_element_by_element() {
        let schema = Schema::new(
            "L".into(),
            vec![
                f(
                    "path",
                    FieldType::List {
                        items: vec![f("x", FieldType::F64), opt("note", FieldType::String)],
                    },
                ),
                f(
                    "tags",
                    FieldType::List {
                        items: vec![f("", FieldType::String)],
                    },
                ),
            ],
        );
        let reply = stored(
            &schema,
            &[
                ("path.len", b"2"),
                ("path.0.x", b"1"),
                ("path.1.x", b"2"),
                ("path.1.note", b"goal"),
                ("tags.len", b"1"),
                ("tags.0", b"a"),
            ],
        );
        let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"path":[{"x":1.0,"note":null},{"x":2.0,"note":"goal"}],"tags":["a"]}"#
        );
        assert_eq!(v.get("path.1.note"), Some(&DynValue::String("goal".into())));
        assert_eq!(v.get("path.01.x"), None);
    }

    #[test]
    fn hostile_list_lengths_and_schemas_are_refused_quickly() {
        let schema = Schema::new(
            "L".into(),
            vec![f(
                "p",
                FieldType::List {
                    items: (0..50)
                        .map(|i| opt(&format!("f{i}"), FieldType::F64))
                        .collect(),
                },
            )],
        );
        let err = decode_reply(
            &stored(&schema, &[("p.len", b"18446744073709551615")]),
            Arrays::Summary,
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidField { field, .. } if field == "p.len"),
            "{err}"
        );
        // Allowed by the length bound, but 50 absent fields per element exceed the budget.
        let start = std::time::Instant::now();
        let err =
            decode_reply(&stored(&schema, &[("p.len", b"60000")]), Arrays::Summary).unwrap_err();
        assert!(err.to_string().contains("decoding steps"), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_message_without_a_valid_schema_is_refused() {
        let none = raw([("x", &b"1"[..])].iter());
        let err = decode_reply(&none, Arrays::Summary).unwrap_err();
        assert!(
            matches!(&err, Error::MissingField { field, .. } if field == "@schema"),
            "{err}"
        );
        let broken = raw([("@schema", &b"{not json"[..]), ("x", b"1")].iter());
        let err = decode_reply(&broken, Arrays::Summary).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidField { field, .. } if field == "@schema"),
            "{err}"
        );
        let schema = Schema::new("P".into(), vec![f("x", FieldType::F64)]);
        let forged = raw([
            ("@schema", schema.json.as_bytes()),
            ("@fp", &b"0000000000000000"[..]),
            ("x", b"1"),
        ]
        .iter());
        let err = decode_reply(&forged, Arrays::Summary).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidField { field, .. } if field == "@fp"),
            "{err}"
        );
        let newer = schema.json.replace(r#""format":1"#, r#""format":2"#);
        let newer = raw([("@schema", newer.as_bytes()), ("x", b"1")].iter());
        let err = decode_reply(&newer, Arrays::Summary).unwrap_err();
        assert!(err.to_string().contains("format version 2"), "{err}");
    }

    #[test]
    fn overlapping_schema_names_are_refused() {
        let schema = Schema::new(
            "P".into(),
            vec![f("a", FieldType::F64), f("a.b", FieldType::F64)],
        );
        let err = decode_reply(
            &stored(&schema, &[("a", b"1"), ("a.b", b"2")]),
            Arrays::Summary,
        )
        .unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
    }

    #[test]
    fn a_top_level_scalar_is_the_value_itself() {
        let schema = Schema::new("f64".into(), vec![f("", FieldType::F64)]);
        let msg = decode_reply(&stored(&schema, &[("value", b"2.5")]), Arrays::Summary).unwrap();
        assert_eq!(msg.value, DynValue::F64(2.5));
        for path in ["", "value"] {
            let (stored_name, _) = resolve(&msg.schema, path).unwrap();
            assert_eq!(stored_name, "value");
        }
    }

    #[test]
    fn paths_resolve_to_stored_fields_through_lists() {
        let schema = Schema::new(
            "L".into(),
            vec![
                f("base.x", FieldType::F64),
                f(
                    "path",
                    FieldType::List {
                        items: vec![f("x", FieldType::F64)],
                    },
                ),
                f(
                    "tags",
                    FieldType::List {
                        items: vec![f("", FieldType::String)],
                    },
                ),
            ],
        );
        let name = |p: &str| resolve(&schema, p).map(|(n, f)| (n, f.ty.clone()));
        assert_eq!(name("base.x"), Some(("base.x".into(), FieldType::F64)));
        assert_eq!(name("path.3.x"), Some(("path.3.x".into(), FieldType::F64)));
        assert_eq!(name("tags.0"), Some(("tags.0".into(), FieldType::String)));
        assert!(matches!(name("path"), Some((_, FieldType::List { .. }))));
        for missing in [
            "base",
            "base.y",
            "path.x",
            "path.03.x",
            "path.-1.x",
            "tags.0.x",
        ] {
            assert_eq!(name(missing), None, "{missing}");
        }
    }

    #[test]
    fn text_is_encoded_as_the_typed_encoder_writes_it() {
        let enc = |ty: FieldType, text: &str| encode_text("k", "f", &ty, text);
        let ok = |ty: FieldType, text: &str| String::from_utf8(enc(ty, text).unwrap()).unwrap();
        assert_eq!(ok(FieldType::F64, " 2.50 "), "2.5");
        assert_eq!(ok(FieldType::F64, "1e300"), "1e300");
        assert_eq!(ok(FieldType::F64, "-inf"), "-inf");
        assert_eq!(ok(FieldType::F32, "0.1"), "0.1");
        assert_eq!(ok(FieldType::F32, "NaN"), "nan");
        assert_eq!(ok(FieldType::U8, "255"), "255");
        assert_eq!(
            ok(FieldType::I128, "-170141183460469231731687303715884105728"),
            "-170141183460469231731687303715884105728"
        );
        assert_eq!(ok(FieldType::Bool, "TRUE"), "1");
        assert_eq!(ok(FieldType::Bool, "0"), "0");
        assert_eq!(ok(FieldType::Char, "é"), "é");
        assert_eq!(ok(FieldType::String, " keep spaces "), " keep spaces ");
        assert_eq!(ok(FieldType::enum_of(&["Idle", "Driving"]), "Idle"), "Idle");
        assert_eq!(ok(FieldType::Json, r#"{"a": 1}"#), r#"{"a": 1}"#);
        for (ty, text, why) in [
            (FieldType::F64, "fast", "a number (f64)"),
            (FieldType::F32, "1e40", "within the range of f32"),
            (FieldType::U8, "300", "fits u8"),
            (FieldType::U8, "-1", "fits u8"),
            (FieldType::I32, "1.5", "fits i32"),
            (FieldType::Bool, "yes", "a boolean"),
            (FieldType::Char, "ab", "one character"),
            (FieldType::enum_of(&["Idle"]), "idle", "Idle"),
            (FieldType::Json, "{", "not JSON"),
            (f64_array(None), "1", "not a scalar"),
        ] {
            let err = enc(ty, text).unwrap_err();
            assert!(
                matches!(&err, Error::Encode { key, field, .. } if key == "k" && field == "f"),
                "{err}"
            );
            assert!(err.to_string().contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn types_are_described_briefly() {
        assert_eq!(
            describe_type(&FieldType::enum_of(&["A", "B"])),
            "enum (A | B)"
        );
        assert_eq!(describe_type(&f64_array(Some(2))), "array float64, 2-D");
        assert_eq!(
            describe_type(&FieldType::List {
                items: vec![f("x", FieldType::F64), opt("n", FieldType::String)]
            }),
            "list of {x: f64, n?: string}"
        );
    }
}
