//! Marshallers: how a value is laid out in Redis, and read back.
//!
//! | concept | name | what it is |
//! |---------|------|------------|
//! | marshaller | [`ReemMarshal`] | the seed's six methods for one Rust type: `check_fit`, `write`, `read`, `delete`, `interpret_read`, `get_label` |
//! | field encoding | [`ReemField`] | how a type stores its fields under a path, so that it nests inside other messages |
//! | ship | [`Ship`] | an object-safe marshaller registered on a [`RedisInterface`](crate::RedisInterface), chosen at run time by `check_fit` or by the stored label |
//! | commands | [`Commands`] | what a marshaller's `write`, `read` and `delete` queue: the one sink, run by the transport |
//!
//! Marshallers are sans-IO, like the seed's: they only queue commands on [`Commands`] and
//! decode [`redis::Value`] replies, so each runs unchanged on every transport (one node, a
//! cluster, async). `#[derive(ReemMarshal)]` implements both [`ReemMarshal`] (delegating to
//! [`hash`], the shared code that stores a message as one Redis hash) and [`ReemField`];
//! built-in types (numbers, `String`, `Vec`, `Option`, arrays, matrices) do the same.
//!
//! [`ReemField`] composes: every encoding writes its fields under a [`FieldPath`](crate::schema::FieldPath), so a
//! nested struct, an array or a list inside a struct lands in the same hash as `field.sub`.

mod commands;
pub mod hash;
mod json;
mod list;

pub(crate) use list::read_len as read_list_len;
pub(crate) use list::LEN_FIELD as LIST_LEN_FIELD;
mod option;
mod reader;
mod scalar;
mod stored;
mod writer;

pub mod array;
#[cfg(feature = "nalgebra")]
pub mod nalgebra;
#[cfg(feature = "ndarray")]
pub mod ndarray;

pub use commands::{Command, Commands};
pub use json::Json;
pub use reader::{FieldReader, HashView};
pub use stored::StoredHash;
pub use writer::{FieldWriter, LARGE_VALUE};

#[doc(hidden)]
pub use json::{decode_json, describe_json, encode_json};

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use redis::Value;

use crate::error::{Error, Result};
use crate::schema::{check_compatible, Schema, SchemaBuilder};

/// Reserved fields start with this character, which cannot start a Rust identifier; the
/// derive refuses stored names that do.
pub const RESERVED_PREFIX: char = '@';
/// Reserved field: the marshaller label of the stored message.
pub const LABEL_FIELD: &str = "@label";
/// Reserved field: the schema fingerprint (16 hex digits).
pub const FINGERPRINT_FIELD: &str = "@fp";
/// Reserved field: the schema as JSON.
pub const SCHEMA_FIELD: &str = "@schema";
/// Reserved field of a published message: its publisher's sequence number.
pub const SEQ_FIELD: &str = "@seq";
/// Reserved field of a published message: the id of its publisher.
pub const PUBLISHER_FIELD: &str = "@pub";

/// A field encoding: how one Rust type is stored as fields of a Redis hash, under a path.
///
/// Implemented for primitives, `String`, `char`, `Option<T>`, `Vec<T>`, `[T; N]`,
/// [`Json<T>`], arrays (`ndarray` and `nalgebra`, default features) and, by
/// `#[derive(ReemMarshal)]`, for structs and unit-only enums. Every field encoding is also a
/// [`ReemMarshal`] that stores the type as one whole message (see [`hash`]).
///
/// Implement it by hand to store a type of your own inside derived structs; keep
/// `describe`, `encode` and `decode` in step, and implement [`ReemMarshal`] with the
/// functions of [`hash`].
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
pub trait ReemField: ReemMarshal {
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

/// The marshaller of one Rust type: the seed's six methods, sans-IO.
///
/// `#[derive(ReemMarshal)]` implements it for a struct, storing it as one Redis hash (see
/// [`hash`]). Implement it by hand for a type whose layout you choose entirely: `write` and
/// `delete` queue any number of commands, which the store runs in one MULTI/EXEC; `read`
/// queues exactly ONE command, whose reply `interpret_read` turns into the value.
/// `examples/custom_marshaller.rs` stores a value as a plain hash of its own.
pub trait ReemMarshal: Sized + Send + 'static {
    /// The label that identifies this marshaller in stored data (`robot.CameraFrame`, `f64`).
    fn get_label() -> Cow<'static, str>;

    /// True if this marshaller handles `value` (by default: if it is a `Self`).
    fn check_fit(value: &dyn Any) -> bool {
        value.is::<Self>()
    }

    /// Queues the commands that store `self` at `key`, replacing what was there. Large
    /// arguments may borrow from `self` ([`Commands::arg_large`]). The caller runs them in
    /// one MULTI/EXEC; on `Err` nothing is sent.
    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> Result<()>;

    /// Queues exactly ONE command whose reply holds everything `interpret_read` needs.
    fn read(key: &str, out: &mut Commands<'_>);

    /// Queues the commands that delete what `write` stored at `key`.
    fn delete(key: &str, out: &mut Commands<'_>);

    /// Turns the reply to the command queued by `read` into a value. The reply is untrusted
    /// (any program may have written the key): bad data is an [`Error`], never a panic.
    fn interpret_read(key: &str, reply: Value) -> Result<Self>;

    /// The schema of what `write` stores, for marshallers that store one hash with reem's
    /// reserved fields (every derived type and every [`ReemField`] does).
    fn schema() -> Option<&'static Schema> {
        None
    }

    /// True if what `write` stores is exactly one hash at the key, and `read` reads it whole
    /// (`HGETALL`): publishing then keeps the message's sequence stamp (`@pub`, `@seq`) in
    /// that hash, and a small message travels inside its notification; otherwise the stamp
    /// lives in a companion key (`docs/FORMAT.md`). By default: when there is a
    /// [`schema`](Self::schema).
    fn stores_one_hash() -> bool {
        Self::schema().is_some()
    }
}

/// The schema of `T`, built once per type (from [`ReemField::describe`] and
/// [`ReemMarshal::get_label`]) and kept for the life of the process.
pub fn schema_of<T: ReemField>() -> &'static Schema {
    static CACHE: OnceLock<RwLock<HashMap<TypeId, &'static Schema>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    if let Some(s) = cache
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
    {
        return s;
    }
    let mut b = SchemaBuilder::new();
    T::describe(&mut b);
    let built = Schema::new(T::get_label().into_owned(), b.finish());
    let mut w = cache.write().unwrap_or_else(PoisonError::into_inner);
    // One leaked schema per message type: the set of types is fixed at compile time.
    w.entry(id).or_insert_with(|| Box::leak(Box::new(built)))
}

/// Appends the reserved `@label`, `@fp`, `@schema` pairs to the last queued command.
pub(crate) fn write_header(schema: &Schema, out: &mut Commands<'_>) {
    out.arg(LABEL_FIELD)
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

/// A ship: an object-safe marshaller registered on a
/// [`RedisInterface`](crate::RedisInterface) (the seed's `RedisInterface(ships=[...])`),
/// chosen at run time: `check_fit` picks one for a value, the stored `@label` picks one for
/// decoding ([`KeyValueStore::set_dyn`](crate::KeyValueStore::set_dyn),
/// [`get_dyn`](crate::KeyValueStore::get_dyn)).
///
/// [`ship::<T>()`](ship) makes one of any [`ReemMarshal`]. What a ship stores at `key` must be
/// a Redis hash: the store adds the `@label` field to it in the same transaction, which is
/// how a stored value finds its ship again.
pub trait Ship: Send + Sync + 'static {
    /// True if this ship handles `value`.
    fn check_fit(&self, value: &dyn Any) -> bool;

    /// A unique label, stored with every value this ship writes.
    fn get_label(&self) -> Cow<'_, str>;

    /// Queues the commands that store `value` (which passed `check_fit`) at `key`.
    fn write<'a>(&self, key: &str, value: &'a dyn Any, out: &mut Commands<'a>) -> Result<()>;

    /// Queues exactly ONE command that reads what `write` stored.
    fn read(&self, key: &str, out: &mut Commands<'_>);

    /// Queues the commands that delete what `write` stored.
    fn delete(&self, key: &str, out: &mut Commands<'_>);

    /// Turns the reply to `read`'s command into a value.
    fn interpret_read(&self, key: &str, reply: Value) -> Result<Box<dyn Any + Send>>;
}

/// The [`Ship`] of a typed marshaller: what [`ship`] returns.
pub struct ShipOf<T>(std::marker::PhantomData<fn() -> T>);

/// The ship of the marshaller of `T`, to register on a
/// [`RedisInterface`](crate::RedisInterface): `builder(url).ship(ship::<Pose2>())`.
pub fn ship<T: ReemMarshal>() -> ShipOf<T> {
    ShipOf(std::marker::PhantomData)
}

impl<T: ReemMarshal> Ship for ShipOf<T> {
    fn check_fit(&self, value: &dyn Any) -> bool {
        T::check_fit(value)
    }

    fn get_label(&self) -> Cow<'_, str> {
        T::get_label()
    }

    fn write<'a>(&self, key: &str, value: &'a dyn Any, out: &mut Commands<'a>) -> Result<()> {
        match value.downcast_ref::<T>() {
            Some(v) => v.write(key, out),
            None => Err(Error::NoMarshaller {
                key: key.to_owned(),
                what: format!("a value that is not {}", T::get_label()),
            }),
        }
    }

    fn read(&self, key: &str, out: &mut Commands<'_>) {
        T::read(key, out)
    }

    fn delete(&self, key: &str, out: &mut Commands<'_>) {
        T::delete(key, out)
    }

    fn interpret_read(&self, key: &str, reply: Value) -> Result<Box<dyn Any + Send>> {
        Ok(Box::new(T::interpret_read(key, reply)?))
    }
}
