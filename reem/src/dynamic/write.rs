//! Messages written without their Rust type: a [`DynMessage`] is a marshaller too.
//!
//! Two ways to make one:
//! - [`DynMessage::infer`]: the schema is inferred from the value (what the Python package
//!   does with a dict): `bool` → `bool`, [`DynValue::Int`] → `i64`, [`DynValue::UInt`] →
//!   `u64`, `f32`/`f64` as they are, strings → `string`, arrays → `array` with their dtype
//!   and number of dimensions, structs → their fields under `NAME.`, lists → `list` whose
//!   elements must all have the same inferred schema, [`DynValue::Absent`] → not stored.
//! - [`DynMessage::conform`]: the schema is the one stored at the key (what `reem set` and
//!   the Python package's `set(..., like_stored=True)` do): every value must fit its stored
//!   field's type (an integer in an `u8` field is range-checked, text in a number field is
//!   refused), and a field the stored schema does not have is refused.
//!
//! Either way, [`ReemMarshal::write`] stores exactly the bytes the Rust type of that schema
//! would: the same `@label`, `@fp` and `@schema`, scalars through the same text encoders as
//! [`encode_text`], arrays as raw little-endian bytes (sent straight from the value, no
//! copy). So a message written with the label and fields of a derived struct is read by
//! that struct with `kv.get::<T>()`, and one that does not match it is the same
//! [`Error::SchemaMismatch`] as any other.
//!
//! Reading ([`ReemMarshal::interpret_read`]) decodes with the stored schema, arrays as
//! [`ArrayBody::Bytes`] moved out of the reply (no copy).

use std::any::Any;
use std::borrow::Cow;

use redis::Value;

use super::*;
use crate::marshal::{hash, write_header, Commands, ReemField, ReemMarshal, LIST_LEN_FIELD};
use crate::schema::MAX_FIELD_DEPTH;

impl DynMessage {
    /// A message of `value` with the label `label` and a schema inferred from the value (see
    /// the module documentation). `key` names the message in errors.
    ///
    /// Errors ([`Error::Encode`]): a field name that is empty, contains `.`, or starts
    /// with `@` or a digit; a list whose elements differ in type, or holds `Absent`; a
    /// summarised array; a custom field; a message nested deeper than readers accept.
    ///
    /// ```
    /// use reem::dynamic::{DynMessage, DynValue};
    /// let v = DynValue::Struct(vec![("x".into(), DynValue::F64(1.5)), ("n".into(), DynValue::Int(2))]);
    /// let m = DynMessage::infer("k", "Pose", v)?;
    /// assert_eq!(m.schema.json, r#"{"format":1,"label":"Pose","fields":[{"name":"x","type":"f64"},{"name":"n","type":"i64"}]}"#);
    /// # Ok::<(), reem::Error>(())
    /// ```
    pub fn infer(key: &str, label: &str, value: DynValue) -> Result<DynMessage> {
        Self::infer_with_types(key, label, value, &[])
    }

    /// [`DynMessage::infer`], with the field types `types` (by stored name) in place of the
    /// inferred ones: what Python's numpy scalars say (`np.uint8(3)` is a `u8` field, not an
    /// `i64`). A name that is not an inferred field is ignored; each value is checked
    /// against its field's type when it is written. The schema is built once per distinct
    /// label, fields and types, like any inferred schema.
    pub fn infer_with_types(
        key: &str,
        label: &str,
        value: DynValue,
        types: &[(String, FieldType)],
    ) -> Result<DynMessage> {
        let mut fields = Vec::new();
        match &value {
            DynValue::Struct(_) => infer_fields(key, "", &value, &mut fields)?,
            DynValue::Absent => {
                return Err(refuse(key, "", "a message cannot be absent (None)".into()))
            }
            v => fields.push(FieldSchema {
                name: String::new(),
                ty: infer_type(key, "", v)?,
                optional: false,
            }),
        }
        for (name, ty) in types {
            if let Some(f) = fields.iter_mut().find(|f| &f.name == name) {
                f.ty = ty.clone();
            }
        }
        let schema = inferred_schema(key, label, fields)?;
        Ok(DynMessage {
            label: label.to_owned(),
            schema,
            value,
        })
    }

    /// A message of `value` with the label and schema `stored` (read from the message at
    /// `key` with [`read_schema`]): a field of `value` that `stored` does not have is an
    /// [`Error::Encode`]; each value is checked against its field's type when it is written.
    pub fn conform(key: &str, stored: &Schema, value: DynValue) -> Result<DynMessage> {
        check_known(key, &stored.fields, "", &value)?;
        Ok(DynMessage {
            label: stored.label.clone(),
            schema: Arc::new(stored.clone()),
            value,
        })
    }
}

/// The marshaller of messages without a Rust type: [`write`](ReemMarshal::write) stores the
/// message's own label and schema (see the module documentation), `read` is `HGETALL`,
/// [`interpret_read`](ReemMarshal::interpret_read) is [`decode_owned`] with
/// [`Arrays::Bytes`]. So `kv.set`, `kv.get`, `publish` and the subscribers take it like any
/// message type.
impl ReemMarshal for DynMessage {
    /// `reem.dynamic`; the label stored with each message is its own
    /// ([`DynMessage::label`]).
    fn get_label() -> Cow<'static, str> {
        Cow::Borrowed("reem.dynamic")
    }

    fn check_fit(value: &dyn Any) -> bool {
        value.is::<DynMessage>()
    }

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> Result<()> {
        out.cmd("UNLINK").arg(key);
        out.cmd("HSET").arg(key);
        // A schema parsed from a stored message has no JSON text of its own yet.
        let rebuilt;
        let schema = if self.schema.json.is_empty() {
            rebuilt = Schema::new(self.schema.label.clone(), self.schema.fields.clone());
            &rebuilt
        } else {
            &self.schema
        };
        write_header(schema, out);
        let mut w = FieldWriter::new(key, out, FieldPath::root());
        encode_fields(&mut w, &self.schema.fields, &self.value)?;
        w.finish();
        Ok(())
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        hash::read(key, out)
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        hash::delete(key, out)
    }

    fn interpret_read(key: &str, reply: Value) -> Result<Self> {
        decode_owned(key, reply, Arrays::Bytes)
    }

    fn stores_one_hash() -> bool {
        true
    }
}

/// The schema of `label` and `fields`, built once per distinct pair (a writer of many
/// messages of one shape builds its schema, JSON and fingerprint once). Bounded: about 128
/// schemas.
fn inferred_schema(key: &str, label: &str, fields: Vec<FieldSchema>) -> Result<Arc<Schema>> {
    type Cache = crate::cache::BoundedCache<(String, Vec<FieldSchema>), Arc<Schema>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| crate::cache::BoundedCache::new(64));
    let id = (label.to_owned(), fields);
    if let Some(s) = cache.get(&id) {
        return Ok(s);
    }
    let schema = Arc::new(Schema::new(id.0.clone(), id.1.clone()));
    // What readers would refuse (too deep, too nested) is refused before it is written.
    Schema::parse(schema.json.as_bytes()).map_err(|why| refuse(key, "", why))?;
    cache.insert(id, Arc::clone(&schema));
    Ok(schema)
}

fn refuse(key: &str, field: &str, reason: String) -> Error {
    Error::Encode {
        key: key.to_owned(),
        field: field.to_owned(),
        reason,
    }
}

/// A field name as a struct may give it: what the derive accepts as a rename.
fn check_name(key: &str, prefix: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.contains(SEPARATOR)
        || name.starts_with(crate::marshal::RESERVED_PREFIX)
        || name.starts_with(|c: char| c.is_ascii_digit());
    if bad {
        return Err(refuse(
            key,
            &join(prefix, name),
            format!(
                "{} is not a field name: names cannot be empty, contain '.', or start \
                 with '@' or a digit",
                show_bytes(name.as_bytes())
            ),
        ));
    }
    if prefix.split(SEPARATOR).count() >= MAX_FIELD_DEPTH {
        return Err(refuse(
            key,
            prefix,
            format!("a message nests at most {MAX_FIELD_DEPTH} levels"),
        ));
    }
    Ok(())
}

fn infer_fields(
    key: &str,
    prefix: &str,
    value: &DynValue,
    out: &mut Vec<FieldSchema>,
) -> Result<()> {
    let DynValue::Struct(fields) = value else {
        return Ok(());
    };
    for (name, v) in fields {
        check_name(key, prefix, name)?;
        let full = join(prefix, name);
        match v {
            DynValue::Absent => {}
            DynValue::Struct(_) => infer_fields(key, &full, v, out)?,
            _ => out.push(FieldSchema {
                ty: infer_type(key, &full, v)?,
                name: full,
                optional: false,
            }),
        }
    }
    Ok(())
}

fn infer_type(key: &str, name: &str, v: &DynValue) -> Result<FieldType> {
    Ok(match v {
        DynValue::Bool(_) => FieldType::Bool,
        DynValue::Int(i) if i64::try_from(*i).is_ok() => FieldType::I64,
        DynValue::Int(_) => FieldType::I128,
        DynValue::UInt(u) if u64::try_from(*u).is_ok() => FieldType::U64,
        DynValue::UInt(_) => FieldType::U128,
        DynValue::F32(_) => FieldType::F32,
        DynValue::F64(_) => FieldType::F64,
        DynValue::Char(_) => FieldType::Char,
        DynValue::String(_) | DynValue::Enum(_) => FieldType::String,
        DynValue::Json(_) => FieldType::Json,
        DynValue::Array(a) => {
            if matches!(a.body, ArrayBody::Summary(_)) {
                return Err(refuse(
                    key,
                    name,
                    "a summarised array cannot be written".into(),
                ));
            }
            FieldType::Array {
                dtype: a.dtype.clone(),
                ndim: Some(a.shape.len()),
                shape: None,
            }
        }
        DynValue::List(items) => {
            let element = |item: &DynValue| -> Result<Vec<FieldSchema>> {
                let element = join(name, "0");
                match item {
                    DynValue::Absent => Err(refuse(
                        key,
                        &element,
                        "a list element cannot be absent (None)".into(),
                    )),
                    DynValue::Struct(_) => {
                        let mut fields = Vec::new();
                        infer_fields(key, &element, item, &mut fields)?;
                        // Names relative to the element.
                        for f in &mut fields {
                            f.name = f.name[element.len() + 1..].to_owned();
                        }
                        Ok(fields)
                    }
                    v => Ok(vec![FieldSchema {
                        name: String::new(),
                        ty: infer_type(key, &element, v)?,
                        optional: false,
                    }]),
                }
            };
            let first = match items.first() {
                Some(item) => element(item)?,
                None => Vec::new(),
            };
            for (i, item) in items.iter().enumerate().skip(1) {
                if element(item)? != first {
                    return Err(refuse(
                        key,
                        &join(name, itoa::Buffer::new().format(i)),
                        "every element of a list must have the same fields and types \
                         as the first"
                            .into(),
                    ));
                }
            }
            FieldType::List { items: first }
        }
        DynValue::Absent | DynValue::Struct(_) | DynValue::Custom { .. } => {
            return Err(refuse(
                key,
                name,
                format!("{} cannot be written", describe_value(v)),
            ))
        }
    })
}

/// Refuses a field of `value` that `fields` (below `prefix`) do not name.
fn check_known(key: &str, fields: &[FieldSchema], prefix: &str, value: &DynValue) -> Result<()> {
    let DynValue::Struct(children) = value else {
        return Ok(());
    };
    for (name, child) in children {
        let path = join(prefix, name);
        if let Some(f) = fields.iter().find(|f| f.name == path) {
            if let (FieldType::List { items }, DynValue::List(elements)) = (&f.ty, child) {
                for e in elements {
                    check_known(key, items, "", e)?;
                }
            }
        } else if fields.iter().any(|f| {
            f.name.len() > path.len()
                && f.name.starts_with(path.as_str())
                && f.name[path.len()..].starts_with(SEPARATOR)
        }) {
            check_known(key, fields, &path, child)?;
        } else {
            return Err(refuse(
                key,
                &path,
                "the stored message has no such field".into(),
            ));
        }
    }
    Ok(())
}

/// What a value is, for errors.
fn describe_value(v: &DynValue) -> String {
    match v {
        DynValue::Absent => "None (absent)".into(),
        DynValue::Bool(_) => "a bool".into(),
        DynValue::Int(_) | DynValue::UInt(_) => "an integer".into(),
        DynValue::F32(_) | DynValue::F64(_) => "a float".into(),
        DynValue::Char(_) | DynValue::String(_) | DynValue::Enum(_) => "a string".into(),
        DynValue::Json(_) => "JSON".into(),
        DynValue::Array(a) => format!("an array of {}", a.dtype),
        DynValue::List(_) => "a list".into(),
        DynValue::Struct(_) => "a struct (dict)".into(),
        DynValue::Custom { format, .. } => format!("a custom field ({format})"),
    }
}

fn encode_fields<'a>(
    w: &mut FieldWriter<'_, 'a>,
    fields: &'a [FieldSchema],
    value: &'a DynValue,
) -> Result<()> {
    for f in fields {
        let v = value.get(&f.name);
        if f.name.is_empty() {
            encode_field(w, f, v)?;
        } else {
            let mark = w.enter(&f.name);
            encode_field(w, f, v)?;
            w.leave(mark);
        }
    }
    Ok(())
}

fn encode_field<'a>(
    w: &mut FieldWriter<'_, 'a>,
    f: &'a FieldSchema,
    v: Option<&'a DynValue>,
) -> Result<()> {
    let v = match v {
        None | Some(DynValue::Absent) if f.optional => return Ok(()),
        None | Some(DynValue::Absent) => {
            return Err(w.error(format!(
                "a value of type {} is required",
                describe_type(&f.ty)
            )))
        }
        Some(v) => v,
    };
    let mismatch = || {
        w.error(format!(
            "its type is {}, the value is {}",
            describe_type(&f.ty),
            describe_value(v)
        ))
    };
    match (&f.ty, v) {
        (FieldType::Array { dtype, ndim, shape }, DynValue::Array(a)) => {
            encode_array(w, a, dtype, *ndim, shape.as_deref())
        }
        (FieldType::List { items }, DynValue::List(elements)) => {
            w.put_child(
                LIST_LEN_FIELD,
                itoa::Buffer::new().format(elements.len()).as_bytes(),
            );
            for (i, e) in elements.iter().enumerate() {
                let mark = w.enter_index(i);
                encode_fields(w, items, e)?;
                w.leave(mark);
            }
            Ok(())
        }
        (FieldType::Json, DynValue::Json(j)) => {
            let text = serde_json::to_vec(j).map_err(|e| w.error(e))?;
            w.put(&text);
            Ok(())
        }
        (FieldType::Json, _) => {
            let text = serde_json::to_vec(v).map_err(|e| w.error(e))?;
            w.put(&text);
            Ok(())
        }
        // The usual cases (a value inferred for its field) through the types' own encoders.
        (FieldType::F64, DynValue::F64(x)) => x.encode(w),
        (FieldType::F32, DynValue::F32(x)) => x.encode(w),
        (FieldType::Bool, DynValue::Bool(b)) => b.encode(w),
        (FieldType::String, DynValue::String(t)) => t.encode(w),
        // Integers as their encoders write them: decimal.
        (FieldType::I64, DynValue::Int(i)) if i64::try_from(*i).is_ok() => {
            w.put(itoa::Buffer::new().format(*i).as_bytes());
            Ok(())
        }
        (FieldType::U64, DynValue::UInt(u)) if u64::try_from(*u).is_ok() => {
            w.put(itoa::Buffer::new().format(*u).as_bytes());
            Ok(())
        }
        (ty, _) => {
            let text = scalar_text(ty, v).ok_or_else(mismatch)?;
            let key = w.key().to_owned();
            let stored = encode_text(&key, w.path().leaf(), ty, &text)?;
            w.put(&stored);
            Ok(())
        }
    }
}

/// The text of a scalar value for a field of type `ty`, if its kind fits: numbers in
/// number fields (integers in float fields too, never floats in integer fields), `bool` in
/// `bool` fields, text in string, char and enum fields.
fn scalar_text<'v>(ty: &FieldType, v: &'v DynValue) -> Option<Cow<'v, str>> {
    use FieldType as T;
    let float = matches!(ty, T::F32 | T::F64);
    let int = matches!(
        ty,
        T::U8 | T::U16 | T::U32 | T::U64 | T::U128 | T::I8 | T::I16 | T::I32 | T::I64 | T::I128
    );
    match v {
        DynValue::Int(i) if int || float => Some(Cow::Owned(i.to_string())),
        DynValue::UInt(u) if int || float => Some(Cow::Owned(u.to_string())),
        DynValue::F64(x) if float => Some(Cow::Owned(x.to_string())),
        DynValue::F32(x) if float => Some(Cow::Owned(x.to_string())),
        DynValue::Bool(b) if matches!(ty, T::Bool) => {
            Some(Cow::Borrowed(if *b { "1" } else { "0" }))
        }
        DynValue::String(s) | DynValue::Enum(s)
            if matches!(ty, T::String | T::Char | T::Enum { .. }) =>
        {
            Some(Cow::Borrowed(s))
        }
        DynValue::Char(c) if matches!(ty, T::String | T::Char | T::Enum { .. }) => {
            Some(Cow::Owned(c.to_string()))
        }
        _ => None,
    }
}

/// The bytes of every element of `e`, little-endian.
struct LeBytes;

impl ElementsVisitor for LeBytes {
    type Out = Vec<u8>;
    fn visit<A: DynElement>(self, items: &[A]) -> Vec<u8> {
        A::as_bytes(items).into_owned()
    }
}

fn encode_array<'a>(
    w: &mut FieldWriter<'_, 'a>,
    a: &'a DynArray,
    dtype: &str,
    ndim: Option<usize>,
    shape: Option<&[usize]>,
) -> Result<()> {
    if a.dtype != dtype {
        return Err(w.error(format!("its dtype is {dtype}, the array's is {}", a.dtype)));
    }
    if ndim.is_some_and(|n| n != a.shape.len()) || shape.is_some_and(|s| s != a.shape) {
        return Err(w.error(format!(
            "the array's shape {} does not fit the field ({})",
            array::format_tuple(&a.shape),
            describe_type(&FieldType::Array {
                dtype: dtype.to_owned(),
                ndim,
                shape: shape.map(<[usize]>::to_vec),
            })
        )));
    }
    let d = Dtype::parse(dtype.as_bytes())
        .filter(|d| element_type(d).is_some())
        .ok_or_else(|| w.error(format!("{dtype} is not an element type reem stores")))?;
    let bytes: Cow<'a, [u8]> = match &a.body {
        ArrayBody::Bytes(b) => Cow::Borrowed(b),
        ArrayBody::Full(e) => Cow::Owned(e.visit(LeBytes)),
        ArrayBody::Summary(_) => return Err(w.error("a summarised array cannot be written")),
    };
    let expected = a
        .shape
        .iter()
        .try_fold(d.size, |n, &dim| n.checked_mul(dim));
    if expected != Some(bytes.len()) {
        return Err(w.error(format!(
            "{} bytes do not hold an array of shape {} of {dtype}",
            bytes.len(),
            array::format_tuple(&a.shape)
        )));
    }
    if d.kind == b'b' && bytes.iter().any(|b| *b > 1) {
        return Err(w.error("a bool array holds a byte that is not 0 or 1"));
    }
    // `d` is an element type (checked above): the array is written.
    encode_array_of(&d, w, &a.shape, bytes);
    Ok(())
}
