//! Marshallers: how a value is laid out in Redis, and read back.
//!
//! Two faces of one concept, both sans-IO like the seed's marshallers (they only queue
//! commands on a [`redis::Pipeline`] and decode [`redis::Value`]s, so they run unchanged on
//! any transport):
//!
//! - [`ReemMarshal`], the typed face: what `#[derive(ReemMarshal)]` gives a struct and what
//!   [`KeyValueStore::get`](crate::KeyValueStore::get) uses. Every [`ReemField`] type is a
//!   `ReemMarshal` (stored as one hash with `@label`, `@fp`, `@schema` and its fields);
//!   a hand-written marshaller for your own type implements `ReemMarshal` directly.
//! - [`Marshaller`], the object-safe face: the seed's "ships", registered on a
//!   [`RedisInterface`](crate::RedisInterface); `check_fit` picks one for a value and the
//!   stored `@label` picks one for decoding.
//!
//! [`ReemField`] is the field encoding they compose from: every encoding writes its fields
//! under a [`FieldPath`], so a nested struct, an array or a list inside a struct lands in the
//! same hash as `field.sub`.

mod json;
mod list;

pub(crate) use list::read_len as read_list_len;
mod option;
mod path;
mod reader;
mod scalar;
mod writer;

pub(crate) use writer::{resp_bulk, resp_command};

pub mod array;
#[cfg(feature = "nalgebra")]
pub mod nalgebra;
#[cfg(feature = "ndarray")]
pub mod ndarray;

pub use json::Json;
pub use path::{FieldPath, Mark, ROOT_LEAF, SEPARATOR};
pub use reader::{FieldReader, HashView};
pub use writer::{FieldWriter, LARGE_VALUE};

#[doc(hidden)]
pub use json::{decode_json, describe_json, encode_json};

use std::any::Any;
use std::borrow::Cow;

use redis::{Pipeline, Value};

use crate::error::{Error, Result};
use crate::schema::{check_compatible, schema_of, Schema, SchemaBuilder};

/// Reserved field: the marshaller label of the stored message.
pub const LABEL_FIELD: &str = "@label";
/// Reserved field: the schema fingerprint (16 hex digits).
pub const FINGERPRINT_FIELD: &str = "@fp";
/// Reserved field: the schema as JSON.
pub const SCHEMA_FIELD: &str = "@schema";

/// A field encoding: how one Rust type is stored as fields of a Redis hash, under a path.
///
/// Implemented for primitives, `String`, `char`, `Option<T>`, `Vec<T>`, `[T; N]`,
/// [`Json<T>`], arrays (with the `ndarray` / `nalgebra` features) and, by
/// `#[derive(ReemMarshal)]`, for structs and unit-only enums. Implement it by hand to store a
/// type of your own inside derived structs; keep `describe`, `encode` and `decode` in step.
///
/// Lists go through [`ReemField::encode_list`] and friends so that the element type decides
/// how a `Vec` of it is stored: numbers as one array (raw bytes, numpy-readable), anything
/// else element by element (`NAME.len`, `NAME.0…`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by reem: it does not implement `ReemField`",
    label = "not a reem field type",
    note = "arrays and matrices (`ndarray::Array…`, `nalgebra::…`) need reem's `ndarray` / `nalgebra` feature: they are default features, so enable the feature if reem is used with `default-features = false` (`features = [\"ndarray\", \"nalgebra\"]`)",
    note = "for a type of your own: `#[derive(ReemMarshal)]` on it, wrap it in `reem::Json<T>` (serde), or implement `ReemField` by hand"
)]
pub trait ReemField: Sized {
    /// The label of this type when it is a whole message (`robot.CameraFrame`, `f64`).
    fn label() -> Cow<'static, str>;

    /// Declares the fields this type stores below the builder's current path.
    fn describe(schema: &mut SchemaBuilder);

    /// Writes the fields of `self` below the writer's current path.
    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()>;

    /// Reads a value from the fields below the reader's current path.
    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self>;

    /// Declares the fields of a `Vec<Self>`.
    fn describe_list(schema: &mut SchemaBuilder) {
        list::describe_indexed::<Self>(schema)
    }

    /// Writes a list of values (a `Vec<Self>` or `[Self; N]`).
    fn encode_list<'a>(items: &'a [Self], w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        list::encode_indexed(items, w)
    }

    /// Reads a list of values.
    fn decode_list(r: &mut FieldReader<'_, '_>) -> Result<Vec<Self>> {
        list::decode_indexed(r)
    }
}

/// The typed marshaller: the seed's six methods for one Rust type.
///
/// Every [`ReemField`] type (every derived struct) is a `ReemMarshal`. Implement it by hand
/// for a type whose layout you want to choose entirely; the methods must stay sans-IO.
pub trait ReemMarshal: Sized + Send + 'static {
    /// The label that identifies this marshaller in stored data.
    fn get_label() -> Cow<'static, str>;

    /// True if this marshaller handles `value` (by default: if it is a `Self`).
    fn check_fit(value: &dyn Any) -> bool {
        value.is::<Self>()
    }

    /// Queues the commands that store `self` at `key`. The caller runs them in one
    /// MULTI/EXEC; on `Err`, the pipeline must be discarded.
    fn write(&self, key: &str, pipe: &mut Pipeline) -> Result<()>;

    /// Queues exactly ONE command whose reply holds everything `interpret_read` needs.
    fn read(key: &str, pipe: &mut Pipeline);

    /// Queues the commands that delete what `write` stored at `key`.
    fn delete(key: &str, pipe: &mut Pipeline);

    /// Turns the reply to the command queued by `read` into a value.
    fn interpret_read(key: &str, reply: Value) -> Result<Self>;

    /// The schema this marshaller writes, if it describes one (derived types do).
    fn schema() -> Option<&'static Schema> {
        None
    }

    /// True if what `write` stores is exactly one hash at the key, read whole by `read`
    /// (`HGETALL`), as for every [`ReemField`] type. Publishing then keeps a topic's
    /// sequence stamp inside that hash and subscribers read it from there; otherwise the
    /// stamp lives in a companion key (see `docs/FORMAT.md`, §7). A hand-written marshaller
    /// that answers `true` must also fill [`write_fields`](Self::write_fields).
    fn stores_one_hash() -> bool {
        false
    }

    /// Appends `self` as the `field value` pairs of ONE hash (the reserved `@label`, `@fp`,
    /// `@schema` first) to the last command queued on `pipe` and returns `Ok(true)`, for a
    /// marshaller whose [`read`](Self::read) is `HGETALL key` of exactly that hash. Publishing
    /// uses it to store a message in its own server-side step
    /// ([`PublishSpace`](crate::PublishSpace)).
    ///
    /// The default returns `Ok(false)` and appends nothing: the message is stored with
    /// [`write`](Self::write) instead. Every [`ReemField`] type (every derived struct) returns
    /// `Ok(true)`.
    fn write_fields(&self, key: &str, pipe: &mut Pipeline) -> Result<bool> {
        let _ = (key, pipe);
        Ok(false)
    }

    /// The transport's fast path for the commands that [`write_fields`](Self::write_fields)
    /// fills: appends, as RESP bytes, the `HSET` commands that store `self` as one hash at
    /// `key` (every large value copied exactly once, into `out`), and returns how many
    /// commands it appended. The caller wraps them in its transaction (`MULTI`, `UNLINK` or
    /// a stamp script, …, `EXEC`). The default returns `Ok(None)`: the transport then uses
    /// [`write`](Self::write).
    #[doc(hidden)]
    fn write_packed(&self, key: &str, out: &mut Vec<u8>) -> Result<Option<usize>> {
        let _ = (key, out);
        Ok(None)
    }
}

impl<T: ReemField + Send + 'static> ReemMarshal for T {
    fn get_label() -> Cow<'static, str> {
        Cow::Borrowed(schema_of::<T>().label.as_str())
    }

    fn write(&self, key: &str, pipe: &mut Pipeline) -> Result<()> {
        pipe.cmd("UNLINK").arg(key).ignore();
        pipe.cmd("HSET").arg(key);
        self.write_fields(key, pipe)?;
        pipe.ignore();
        Ok(())
    }

    fn write_fields(&self, key: &str, pipe: &mut Pipeline) -> Result<bool> {
        write_header(schema_of::<T>(), pipe);
        let mut w = FieldWriter::new(key, pipe, FieldPath::root());
        self.encode(&mut w)?;
        w.finish();
        Ok(true)
    }

    fn write_packed(&self, key: &str, out: &mut Vec<u8>) -> Result<Option<usize>> {
        let schema = schema_of::<T>();
        let mut small = Vec::with_capacity(256);
        let mut w = FieldWriter::packed(key, &mut small, FieldPath::root());
        self.encode(&mut w)?;
        let (pairs, large) = w.finish_packed();
        let large_bytes: usize = large.iter().map(|(n, v)| n.len() + v.len() + 64).sum();
        out.reserve(small.len() + schema.json.len() + large_bytes + 256);
        writer::resp_command(out, 2 + 2 * (3 + pairs));
        writer::resp_bulk(out, b"HSET");
        writer::resp_bulk(out, key.as_bytes());
        for (field, value) in [
            (LABEL_FIELD, &schema.label),
            (FINGERPRINT_FIELD, &schema.fingerprint_hex),
            (SCHEMA_FIELD, &schema.json),
        ] {
            writer::resp_bulk(out, field.as_bytes());
            writer::resp_bulk(out, value.as_bytes());
        }
        out.extend_from_slice(&small);
        // Large values (array bytes) each in an HSET of their own, after every small field:
        // the command's length is known before its bytes are copied, once, from the message.
        for (name, value) in &large {
            writer::resp_command(out, 4);
            for arg in [&b"HSET"[..], key.as_bytes(), name.as_bytes(), value] {
                writer::resp_bulk(out, arg);
            }
        }
        Ok(Some(1 + large.len()))
    }

    fn read(key: &str, pipe: &mut Pipeline) {
        pipe.cmd("HGETALL").arg(key);
    }

    fn delete(key: &str, pipe: &mut Pipeline) {
        pipe.cmd("DEL").arg(key).ignore();
    }

    fn interpret_read(key: &str, reply: Value) -> Result<Self> {
        // The reply's values are moved, not copied, into the view; arrays of bytes then take
        // them as their own buffers.
        let mut hash = HashView::from_reply(key, reply)?;
        check_header(key, schema_of::<T>(), &hash)?;
        T::decode(&mut FieldReader::exclusive(
            key,
            &mut hash,
            FieldPath::root(),
        ))
    }

    fn schema() -> Option<&'static Schema> {
        Some(schema_of::<T>())
    }

    fn stores_one_hash() -> bool {
        true
    }
}

/// Appends the reserved `@label`, `@fp`, `@schema` pairs to the last queued command.
pub(crate) fn write_header(schema: &Schema, pipe: &mut Pipeline) {
    pipe.arg(LABEL_FIELD)
        .arg(&schema.label)
        .arg(FINGERPRINT_FIELD)
        .arg(&schema.fingerprint_hex)
        .arg(SCHEMA_FIELD)
        .arg(&schema.json);
}

/// Accepts a message stored with `schema`'s label and a compatible schema. A hash without
/// `@label` and `@fp` (written by another program) is accepted: its fields are still
/// type-checked one by one as they decode.
pub(crate) fn check_header(key: &str, schema: &Schema, hash: &HashView<'_>) -> Result<()> {
    let label = hash.get(LABEL_FIELD.as_bytes());
    let fp = hash.get(FINGERPRINT_FIELD.as_bytes());
    if label.is_none() && fp.is_none() {
        return Ok(());
    }
    let stored = || {
        format!(
            "{} (schema {})",
            String::from_utf8_lossy(label.unwrap_or(b"<no label>")),
            String::from_utf8_lossy(fp.unwrap_or(b"<none>"))
        )
    };
    let mismatch = |reason: String| Error::SchemaMismatch {
        key: key.to_owned(),
        stored: stored(),
        expected: schema.describe(),
        reason,
    };
    if label != Some(schema.label.as_bytes()) {
        return Err(mismatch("the labels differ".to_owned()));
    }
    if let Some(stored) = hash.get(SCHEMA_FIELD.as_bytes()) {
        check_format(stored).map_err(mismatch)?;
    }
    match fp {
        Some(fp) if fp == schema.fingerprint_hex.as_bytes() => Ok(()),
        _ => check_compatible(
            schema,
            fp.unwrap_or_default(),
            hash.get(SCHEMA_FIELD.as_bytes()),
        )
        .map_err(mismatch),
    }
}

/// Refuses a stored schema of a newer format than this reader's (FORMAT.md: "a reader that
/// meets a higher version must refuse the message"). reem writes `{"format":1,` first, so
/// the usual case is a prefix comparison; anything else is parsed.
fn check_format(stored: &[u8]) -> std::result::Result<(), String> {
    const OURS: &[u8] = concat!("{\"format\":", 1, ",").as_bytes();
    if stored.starts_with(OURS) {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Format {
        format: u32,
    }
    match serde_json::from_slice::<Format>(stored) {
        Ok(f) if f.format <= crate::schema::FORMAT_VERSION => Ok(()),
        Ok(f) => Err(format!(
            "it was written in format {}, newer than this reader's {}",
            f.format,
            crate::schema::FORMAT_VERSION
        )),
        Err(e) => Err(format!("its stored schema is unreadable ({e})")),
    }
}

/// The object-safe marshaller: one of the seed's "ships", registered on a
/// [`RedisInterface`](crate::RedisInterface) and chosen at run time.
///
/// What it stores at `key` must be a Redis hash (the store adds the `@label` field to it in
/// the same transaction, which is how a stored value finds its marshaller again).
pub trait Marshaller: Send + Sync + 'static {
    /// True if this marshaller handles `value`.
    fn check_fit(&self, value: &dyn Any) -> bool;

    /// A unique label, stored with every value this marshaller writes.
    fn get_label(&self) -> Cow<'_, str>;

    /// Queues the commands that store `value` (which passed `check_fit`) at `key`.
    fn write(&self, key: &str, value: &dyn Any, pipe: &mut Pipeline) -> Result<()>;

    /// Queues exactly ONE command that reads what `write` stored.
    fn read(&self, key: &str, pipe: &mut Pipeline);

    /// Queues the commands that delete what `write` stored.
    fn delete(&self, key: &str, pipe: &mut Pipeline);

    /// Turns the reply to `read`'s command into a value.
    fn interpret_read(&self, key: &str, reply: Value) -> Result<Box<dyn Any + Send>>;
}

/// A [`Marshaller`] for any [`ReemMarshal`] type: `ship::<Pose2>()`.
pub struct Ship<T>(std::marker::PhantomData<fn() -> T>);

/// The ship (object-safe marshaller) of a typed marshaller, to register on a
/// [`RedisInterface`](crate::RedisInterface).
pub fn ship<T: ReemMarshal>() -> Ship<T> {
    Ship(std::marker::PhantomData)
}

impl<T: ReemMarshal> Marshaller for Ship<T> {
    fn check_fit(&self, value: &dyn Any) -> bool {
        T::check_fit(value)
    }

    fn get_label(&self) -> Cow<'_, str> {
        T::get_label()
    }

    fn write(&self, key: &str, value: &dyn Any, pipe: &mut Pipeline) -> Result<()> {
        match value.downcast_ref::<T>() {
            Some(v) => v.write(key, pipe),
            None => Err(Error::NoMarshaller {
                key: key.to_owned(),
                what: format!("a value that is not {}", T::get_label()),
            }),
        }
    }

    fn read(&self, key: &str, pipe: &mut Pipeline) {
        T::read(key, pipe)
    }

    fn delete(&self, key: &str, pipe: &mut Pipeline) {
        T::delete(key, pipe)
    }

    fn interpret_read(&self, key: &str, reply: Value) -> Result<Box<dyn Any + Send>> {
        Ok(Box::new(T::interpret_read(key, reply)?))
    }
}
