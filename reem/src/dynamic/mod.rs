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
//! [`Arrays::Full`] copies them once. Whatever the stored schema claims, the whole decode
//! does work and allocates memory in proportion to the stored hash: what no stored field
//! pays for (list elements and optional fields found absent, groups of dotted names) spends
//! one allowance shared by the whole decode, as in typed reads
//! ([`FieldReader::spare`]); and it recurses only as deep as a stored schema may nest
//! ([`MAX_SCHEMA_NESTING`](crate::schema::MAX_SCHEMA_NESTING),
//! [`MAX_FIELD_DEPTH`](crate::schema::MAX_FIELD_DEPTH)), so it fits a small stack. A message
//! whose stored schema is unreadable, too deep, of a newer format, or does not match its
//! `@fp` is an [`Error::InvalidField`] naming `@schema` or `@fp`.
//!
//! [`encode_text`] goes the other way for one scalar field: a text a person typed becomes the
//! field's stored text, checked against the field's stored type, so the message stays
//! readable by its Rust type and its fingerprint stays valid; [`assignment`] checks one such
//! change of a stored message (what `reem set` and Python's `set_fields` do).
//!
//! **Writing.** A [`DynMessage`] is a marshaller too ([`ReemMarshal`](crate::ReemMarshal)):
//! [`DynMessage::infer`] makes one from a value, with a schema inferred from it, and
//! [`DynMessage::conform`] one that takes the schema stored at its key;
//! [`KeyValueStore::set`](crate::KeyValueStore::set) and
//! [`PublishSpace::publish`](crate::PublishSpace::publish) write it exactly as the Rust
//! type of that schema would be written, and `kv.get::<DynMessage>` reads any message, its
//! arrays as bytes moved out of the reply ([`decode_owned`]). This is what the Python
//! package is made of.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use crate::error::{show_bytes, Error, Result};
use crate::marshal::array::{self, Dtype, Element};
use crate::marshal::{
    decode_json, FieldReader, FieldWriter, HashView, ReemField, FINGERPRINT_FIELD, LABEL_FIELD,
    SCHEMA_FIELD,
};
use crate::schema::{
    FieldPath, FieldSchema, FieldType, Schema, FORMAT_VERSION, ROOT_LEAF, SEPARATOR,
};

mod edit;
mod json;
mod text;
mod write;

#[cfg(test)]
mod tests;

pub use edit::{assignment, Assignment, Refusal};
pub use text::{describe_type, encode_text};

/// What [`decode`] does with arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrays {
    /// Summarise each array (min, max, mean) without copying its elements.
    #[default]
    Summary,
    /// Copy every element.
    Full,
    /// Keep every element's bytes, little-endian, C order ([`ArrayBody::Bytes`]): moved out
    /// of the reply by [`decode_owned`] (no copy), copied once by [`decode`].
    Bytes,
}

/// A message decoded with the schema stored in it.
#[derive(Debug, Clone, PartialEq)]
pub struct DynMessage {
    /// The stored `@label` (or, without one, the schema's label).
    pub label: String,
    /// The stored schema; its fingerprint equals the stored `@fp`. Shared: messages of one
    /// schema read (or written) one after another share one copy.
    pub schema: Arc<Schema>,
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
    /// Every element's bytes, little-endian, C order, `dtype`'s size each
    /// ([`Arrays::Bytes`]; what a dynamic write takes, see [`DynMessage::infer`]).
    Bytes(Vec<u8>),
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

/// Array element types the dynamic decoder knows: every [`Element`].
trait DynElement: Element + PartialOrd + ReemField {
    /// The element as a number, for summaries.
    fn number(self) -> Number;
    /// The element as an `f64`, for means.
    fn to_f64(self) -> f64;
    /// The element as a value (a scalar field of this type decodes to this too).
    fn value(self) -> DynValue;
    /// A vector of elements as [`Elements`].
    fn wrap(items: Vec<Self>) -> Elements;
    /// The stored text of `text` in a scalar field of this type (see [`encode_text`]).
    fn encode_text(key: &str, field: &str, text: &str) -> Result<Vec<u8>>;
}

/// Something done with the elements of an [`Elements`], whatever their type.
trait ElementsVisitor {
    type Out;
    fn visit<A: DynElement>(self, items: &[A]) -> Self::Out;
}

/// The parts of [`DynElement`] that differ by numpy kind (`b'b'`, `b'u'`, `b'i'`, `b'f'`).
macro_rules! by_kind {
    (number, b'f', $x:expr) => {
        Number::Float(shortest_f64($x))
    };
    (number, $kind:tt, $x:expr) => {
        Number::Int(i128::from($x))
    };
    (to_f64, b'f', $x:expr) => {
        f64::from($x)
    };
    (to_f64, $kind:tt, $x:expr) => {
        i128::from($x) as f64
    };
    (value, b'u', $v:ident, $x:expr) => {
        DynValue::UInt(u128::from($x))
    };
    (value, b'i', $v:ident, $x:expr) => {
        DynValue::Int(i128::from($x))
    };
    (value, $kind:tt, $v:ident, $x:expr) => {
        DynValue::$v($x)
    };
    (text, b'b', $t:ty, $key:expr, $field:expr, $text:expr) => {
        text::bool_text($key, $field, $text)
    };
    (text, b'f', $t:ty, $key:expr, $field:expr, $text:expr) => {
        text::float_text::<$t>($key, $field, $text, stringify!($t), <$t>::is_infinite)
    };
    (text, $kind:tt, $t:ty, $key:expr, $field:expr, $text:expr) => {
        text::int_text::<$t>($key, $field, $text, stringify!($t))
    };
}

macro_rules! dyn_elements {
    ($($t:ty => $name:literal, $kind:tt, $v:ident;)*) => {
        /// Every element of an array, in C order, typed as stored.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(missing_docs)] // one variant per numpy dtype, named after it
        pub enum Elements {
            $($v(Vec<$t>),)*
        }

        impl Elements {
            fn visit<V: ElementsVisitor>(&self, visitor: V) -> V::Out {
                match self {
                    $(Elements::$v(items) => visitor.visit(items),)*
                }
            }
        }

        $(impl DynElement for $t {
            fn number(self) -> Number {
                by_kind!(number, $kind, self)
            }
            fn to_f64(self) -> f64 {
                by_kind!(to_f64, $kind, self)
            }
            fn value(self) -> DynValue {
                by_kind!(value, $kind, $v, self)
            }
            fn wrap(items: Vec<Self>) -> Elements {
                Elements::$v(items)
            }
            fn encode_text(key: &str, field: &str, text: &str) -> Result<Vec<u8>> {
                by_kind!(text, $kind, $t, key, field, text)
            }
        })*

        /// The array at the reader's path, if `dtype` is an element type reem reads.
        fn typed_array_of(
            dtype: &Dtype,
            r: &mut FieldReader<'_, '_>,
            ndim: Option<usize>,
            shape: Option<&[usize]>,
            arrays: Arrays,
        ) -> Option<Result<DynArray>> {
            $(if dtype.holds::<$t>() {
                return Some(typed_array::<$t>(r, ndim, shape, arrays));
            })*
            None
        }

        /// The elements of little-endian C-order `bytes` of `dtype`; `None` if `dtype` is
        /// not an element type or the bytes are not a whole number of its elements.
        fn elements_of(dtype: &Dtype, bytes: &[u8]) -> Option<Elements> {
            $(if dtype.holds::<$t>() {
                return <$t as Element>::from_bytes(bytes, false).map(<$t>::wrap);
            })*
            None
        }

        /// numpy's name (`float64`) and the scalar field type (`f64`) of the element type
        /// `dtype` holds (`float64`, `<f8`, `>f8`); `None` if reem has no element type for it.
        ///
        /// ```
        /// use reem::dynamic::element_type;
        /// use reem::marshal::array::Dtype;
        /// use reem::schema::FieldType;
        /// assert_eq!(element_type(&Dtype::parse(b"<f8").unwrap()), Some(("float64", FieldType::F64)));
        /// assert_eq!(element_type(&Dtype::parse(b"float16").unwrap()), None);
        /// ```
        pub fn element_type(dtype: &Dtype) -> Option<(&'static str, FieldType)> {
            $(if dtype.holds::<$t>() {
                return Some(($name, FieldType::$v));
            })*
            None
        }

        /// Writes an array of `dtype` ([`array::encode`]) whose little-endian C-order bytes
        /// are `bytes`; false (nothing written) if `dtype` is not an element type.
        fn encode_array_of<'a>(
            dtype: &Dtype,
            w: &mut FieldWriter<'_, 'a>,
            shape: &[usize],
            bytes: std::borrow::Cow<'a, [u8]>,
        ) -> bool {
            $(if dtype.holds::<$t>() {
                array::encode::<$t>(w, shape, bytes);
                return true;
            })*
            false
        }

        /// A scalar field whose type is an element type, decoded; `None` for other types.
        fn element_field(ty: &FieldType, r: &mut FieldReader<'_, '_>) -> Option<Result<DynValue>> {
            match ty {
                $(FieldType::$v => Some(<$t as ReemField>::decode(r).map(<$t>::value)),)*
                _ => None,
            }
        }

        /// The Rust name of an element type (`f64`); `None` for other types.
        fn element_type_name(ty: &FieldType) -> Option<&'static str> {
            match ty {
                $(FieldType::$v => Some(stringify!($t)),)*
                _ => None,
            }
        }

        /// [`DynElement::encode_text`] of an element type; `None` for other types.
        fn element_text(
            ty: &FieldType,
            key: &str,
            field: &str,
            text: &str,
        ) -> Option<Result<Vec<u8>>> {
            match ty {
                $(FieldType::$v => Some(<$t>::encode_text(key, field, text)),)*
                _ => None,
            }
        }
    };
}

array::for_each_element!(dyn_elements);

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

impl DynArray {
    /// Every element, typed ([`ArrayBody::Full`]), of an array that holds them
    /// ([`ArrayBody::Full`] or [`ArrayBody::Bytes`]); `None` for a summary, or bytes that
    /// are not a whole number of `dtype`'s elements.
    pub fn elements(&self) -> Option<Elements> {
        match &self.body {
            ArrayBody::Full(e) => Some(e.clone()),
            ArrayBody::Bytes(b) => elements_of(&Dtype::parse(self.dtype.as_bytes())?, b),
            ArrayBody::Summary(_) => None,
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
    read_schema_shared(key, hash).map(Arc::unwrap_or_clone)
}

/// [`read_schema`], shared with every other read of the same stored schema.
fn read_schema_shared(key: &str, hash: &HashView<'_>) -> Result<Arc<Schema>> {
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
    let schema = parse_schema_cached(text).map_err(|e| {
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

/// Stored schemas up to this long are parsed once and kept ([`parse_schema_cached`]).
const MAX_CACHED_SCHEMA: usize = 16 << 10;

/// [`Schema::parse`], remembered per schema text (the same text always parses to the same
/// schema): a reader of many messages of one type parses its schema once. Bounded: at most
/// about 128 texts of at most [`MAX_CACHED_SCHEMA`] bytes.
fn parse_schema_cached(text: &[u8]) -> std::result::Result<Arc<Schema>, String> {
    static CACHE: OnceLock<crate::cache::BoundedCache<Vec<u8>, Arc<Schema>>> = OnceLock::new();
    if text.len() > MAX_CACHED_SCHEMA {
        return Schema::parse(text).map(Arc::new);
    }
    let cache = CACHE.get_or_init(|| crate::cache::BoundedCache::new(64));
    if let Some(s) = cache.get(text) {
        return Ok(s);
    }
    let s = Arc::new(Schema::parse(text)?);
    cache.insert(text.to_vec(), Arc::clone(&s));
    Ok(s)
}

/// Decodes the message in `hash` (stored at `key`) with the schema stored in it.
///
/// Errors: [`Error::MissingField`] naming `@schema` for a hash that carries no schema (one
/// written by another program); [`Error::InvalidField`] for an unreadable schema, a
/// fingerprint that does not match it, or a stored field that does not decode as its
/// schema says; [`Error::MissingField`] for a required field that is absent.
pub fn decode(key: &str, hash: &HashView<'_>, arrays: Arrays) -> Result<DynMessage> {
    let (schema, label) = header(key, hash)?;
    decode_fields(
        FieldReader::new(key, hash, FieldPath::root()),
        arrays,
        schema,
        label,
    )
}

/// [`decode`] of a whole reply to `HGETALL key`, taking its values: with
/// [`Arrays::Bytes`], each array's bytes are the reply's own buffer (no copy; big-endian
/// elements swapped in place). A missing key is [`Error::NotFound`].
pub fn decode_owned(key: &str, reply: redis::Value, arrays: Arrays) -> Result<DynMessage> {
    let mut hash = HashView::from_reply(key, reply)?;
    if hash.is_empty() {
        return Err(Error::NotFound {
            key: key.to_owned(),
        });
    }
    let (schema, label) = header(key, &hash)?;
    decode_fields(
        FieldReader::exclusive(key, &mut hash, FieldPath::root()),
        arrays,
        schema,
        label,
    )
}

/// The checked stored schema of a message, and its label: the stored `@label`, or, without
/// one, the schema's.
fn header(key: &str, hash: &HashView<'_>) -> Result<(Arc<Schema>, String)> {
    let schema = read_schema_shared(key, hash)?;
    let label = hash
        .get(LABEL_FIELD.as_bytes())
        .and_then(|l| std::str::from_utf8(l).ok())
        .map_or_else(|| schema.label.clone(), str::to_owned);
    Ok((schema, label))
}

/// The fields of a message read by `r` (at the root) as `schema` says.
fn decode_fields(
    r: FieldReader<'_, '_>,
    arrays: Arrays,
    schema: Arc<Schema>,
    label: String,
) -> Result<DynMessage> {
    let mut d = Decoder {
        r,
        arrays,
        enums: HashMap::new(),
    };
    let value = d.fields("", &schema.fields)?;
    Ok(DynMessage {
        label,
        schema,
        value,
    })
}

/// What an optional field found absent costs the decode's allowance besides its name: its
/// entry in the struct that holds it and in the tree that builds the struct.
const ABSENT_FIELD: usize =
    std::mem::size_of::<(String, DynValue)>() + std::mem::size_of::<(String, Tree)>();

/// What a group of fields (`base` in `base.x`) costs the decode's allowance besides its
/// name: the same. Names are at most 32 segments deep, but a schema may name many.
const GROUP: usize = ABSENT_FIELD;

/// Enums with more variants than this are looked up in a set, not a list.
const ENUM_SET: usize = 16;

struct Decoder<'h, 'v, 's> {
    /// One reader for the whole decode: its allowance for values that store nothing (list
    /// elements, absent optional fields) is shared by every list and every level.
    r: FieldReader<'h, 'v>,
    arrays: Arrays,
    /// Variant sets of large enums, by the address of their variant list.
    enums: HashMap<usize, HashSet<&'s str>>,
}

impl<'s> Decoder<'_, '_, 's> {
    /// The fields `fields` (names relative to `prefix`) as one value.
    fn fields(&mut self, prefix: &str, fields: &'s [FieldSchema]) -> Result<DynValue> {
        let mut tree = Tree::default();
        for f in fields {
            let path = join(prefix, &f.name);
            let saved = self.r.set_path(FieldPath::at(&path));
            let value = self.field(&path, f)?;
            let groups = tree
                .insert(&f.name, value)
                .map_err(|why| Error::InvalidField {
                    key: self.r.key().to_owned(),
                    field: SCHEMA_FIELD.to_owned(),
                    expected: "a schema whose field names do not overlap".to_owned(),
                    found: why,
                })?;
            if groups > 0 {
                self.r
                    .spend(groups.saturating_mul(GROUP).saturating_add(f.name.len()))?;
            }
            self.r.set_path(saved);
        }
        Ok(tree.finish(!prefix.is_empty()))
    }

    /// The field `f`, stored at `path` (where the reader stands).
    fn field(&mut self, path: &str, f: &'s FieldSchema) -> Result<DynValue> {
        if f.optional && !self.r.has_any() {
            self.r.spend(ABSENT_FIELD + path.len())?;
            return Ok(DynValue::Absent);
        }
        if let Some(value) = element_field(&f.ty, &mut self.r) {
            return value;
        }
        let r = &mut self.r;
        Ok(match &f.ty {
            FieldType::U128 => DynValue::UInt(u128::decode(r)?),
            FieldType::I128 => DynValue::Int(i128::decode(r)?),
            FieldType::Char => DynValue::Char(char::decode(r)?),
            FieldType::String => DynValue::String(String::decode(r)?),
            FieldType::Enum { variants } => {
                let raw = self.r.require()?;
                let known = match std::str::from_utf8(raw) {
                    Ok(v) if variants.len() > ENUM_SET => self
                        .enums
                        .entry(variants.as_ptr() as usize)
                        .or_insert_with(|| variants.iter().map(String::as_str).collect())
                        .contains(v),
                    Ok(v) => variants.iter().any(|x| x == v),
                    Err(_) => false,
                };
                if !known {
                    return Err(self.r.invalid(one_of(variants), raw));
                }
                DynValue::Enum(String::from_utf8_lossy(raw).into_owned())
            }
            FieldType::Json => DynValue::Json(decode_json(r)?),
            FieldType::Array { dtype, ndim, shape } => {
                DynValue::Array(self.array(dtype, *ndim, shape.as_deref())?)
            }
            FieldType::List { items } => self.list(path, items)?,
            FieldType::Custom { format } => {
                let fields: Vec<(String, Vec<u8>)> = r
                    .hash()
                    .under(path)
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
            _ => {
                return Err(r.invalid_at(
                    SCHEMA_FIELD,
                    "a field type this reader knows",
                    format!("{:?} for field {path:?}", describe_type(&f.ty)),
                ))
            }
        })
    }

    fn array(
        &mut self,
        dtype: &str,
        ndim: Option<usize>,
        shape: Option<&[usize]>,
    ) -> Result<DynArray> {
        let r = &mut self.r;
        let unknown = |r: &FieldReader<'_, '_>| {
            r.invalid_at(
                SCHEMA_FIELD,
                "an array dtype reem reads (bool, int8 … int64, uint8 … uint64, \
                 float32, float64)",
                format!("{dtype:?} for field {:?}", r.path().as_str()),
            )
        };
        let Some(d) = Dtype::parse(dtype.as_bytes()) else {
            return Err(unknown(r));
        };
        typed_array_of(&d, r, ndim, shape, self.arrays).unwrap_or_else(|| Err(unknown(r)))
    }

    /// The list stored at `path` (where the reader stands), element by element. An element
    /// that stores nothing spends its value and its name from the allowance; one that stores
    /// something has a stored field of its own.
    fn list(&mut self, path: &str, items: &'s [FieldSchema]) -> Result<DynValue> {
        let len = crate::marshal::read_list_len(&self.r)?;
        let mut out = Vec::with_capacity(len.min(self.r.hash().len()));
        for i in 0..len {
            let element = join(path, itoa::Buffer::new().format(i));
            self.r.set_path(FieldPath::at(&element));
            if !self.r.has_any() {
                self.r
                    .spend(std::mem::size_of::<DynValue>() + element.len())?;
            }
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
    let shape = raw.shape.clone();
    let body = match arrays {
        Arrays::Summary => ArrayBody::Summary(Stats::of(raw.elements())),
        Arrays::Full => ArrayBody::Full(A::wrap(raw.to_vec())),
        Arrays::Bytes => ArrayBody::Bytes(raw.into_le_bytes()),
    };
    Ok(DynArray {
        dtype: A::DTYPE.to_owned(),
        shape,
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
    /// Children by name, once there are more than [`Tree::INDEXED`].
    index: HashMap<String, usize>,
}

impl Tree {
    /// Children found by a linear search up to this many (no map for small groups).
    const INDEXED: usize = 8;

    /// Places `value` at the dotted `name`; the number of groups this created (each costs
    /// the decode's allowance [`GROUP`] bytes and its name).
    fn insert(&mut self, name: &str, value: DynValue) -> std::result::Result<usize, String> {
        let conflict = || format!("the field {} overlaps another", show_bytes(name.as_bytes()));
        let mut node = self;
        let mut created = 0;
        if !name.is_empty() {
            for seg in name.split(SEPARATOR) {
                if node.leaf.is_some() {
                    return Err(conflict());
                }
                let (i, new) = node.child(seg);
                created += usize::from(new);
                node = &mut node.children[i].1;
            }
        }
        if node.leaf.is_some() || !node.children.is_empty() {
            return Err(conflict());
        }
        node.leaf = Some(value);
        // The last segment is the field itself, not a group.
        Ok(created.saturating_sub(usize::from(!name.is_empty())))
    }

    /// The index of the child `seg`, and whether it was just created.
    fn child(&mut self, seg: &str) -> (usize, bool) {
        let found = if self.children.len() > Self::INDEXED {
            self.index.get(seg).copied()
        } else {
            self.children.iter().position(|(n, _)| n == seg)
        };
        if let Some(i) = found {
            return (i, false);
        }
        let i = self.children.len();
        self.children.push((seg.to_owned(), Tree::default()));
        if i == Self::INDEXED {
            self.index = (self.children.iter().enumerate())
                .map(|(i, (n, _))| (n.clone(), i))
                .collect();
        } else if i > Self::INDEXED {
            self.index.insert(seg.to_owned(), i);
        }
        (i, true)
    }

    /// The value; a group whose fields are all absent is itself absent, unless it is the
    /// message (`collapse` false).
    /// Iterative: a name may be 32 segments deep, and a stack frame per segment is too
    /// much for small stacks in debug builds.
    fn finish(self, collapse: bool) -> DynValue {
        /// A group being finished: its name, its children left, its fields done.
        struct Open {
            name: String,
            collapse: bool,
            left: std::vec::IntoIter<(String, Tree)>,
            done: Vec<(String, DynValue)>,
        }
        let mut open: Vec<Open> = Vec::new();
        let mut node = (String::new(), self, collapse);
        loop {
            let (name, tree, collapse) = node;
            let mut finished = match tree.leaf {
                Some(v) => Some((name, v)),
                None => {
                    open.push(Open {
                        name,
                        collapse,
                        done: Vec::with_capacity(tree.children.len()),
                        left: tree.children.into_iter(),
                    });
                    None
                }
            };
            // Hand the finished value to its group; close groups that are complete.
            loop {
                let Some(top) = open.last_mut() else {
                    return finished.map_or(DynValue::Absent, |(_, v)| v);
                };
                if let Some(field) = finished.take() {
                    top.done.push(field);
                }
                if let Some((n, t)) = top.left.next() {
                    node = (n, t, true);
                    break;
                }
                if let Some(group) = open.pop() {
                    finished = Some((group.name, group_value(group.done, group.collapse)));
                }
            }
        }
    }
}

/// A group of fields as one value: absent if every field is (and `collapse`), else a
/// struct.
fn group_value(fields: Vec<(String, DynValue)>, collapse: bool) -> DynValue {
    if collapse && !fields.is_empty() && fields.iter().all(|(_, v)| *v == DynValue::Absent) {
        DynValue::Absent
    } else {
        DynValue::Struct(fields)
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
