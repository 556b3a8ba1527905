//! [`KeyValueStore`]: typed messages at keys.
//!
//! | call | Redis work | round trips |
//! |------|-----------|-------------|
//! | [`set`](KeyValueStore::set) | `MULTI; UNLINK k; HSET k @label … fields…; EXEC` | 1 |
//! | [`get`](KeyValueStore::get) | `HGETALL k` | 1 |
//! | [`get_field`](KeyValueStore::get_field) | `HMGET k @label @fp <the field's names>` (a list: one script selecting them) | 1 (2 when the stored schema is another version) |
//! | [`set_field`](KeyValueStore::set_field) | one script: check `@label`/`@fp`, `HDEL` the old, `HSET` the new | 1 |
//! | [`set_stored_fields`](KeyValueStore::set_stored_fields) | one script: check `@fp` and that the fields exist, `HSET` them | 1 |
//! | [`delete`](KeyValueStore::delete) | `UNLINK k` | 1 |
//!
//! A `set` replaces the whole message atomically: no field of the previous message
//! survives (an `Option` that became `None` is gone), and no reader sees half of it.
//!
//! Writes are sent once: if the connection fails after a write was sent, the call returns
//! [`Error::Unconfirmed`] instead of sending it again (`docs/FORMAT.md`, "Delivery and
//! retries"). Reads are sent once more on a fresh connection when the connection failed.

pub(crate) mod scripts;
mod ships;

use redis::Value;

use crate::error::{Error, Result};
use crate::handle::FieldHandle;
use crate::interface::RedisInterface;
use crate::marshal::SCHEMA_FIELD;
use crate::marshal::{array, check_header, schema_of, FieldReader, FieldWriter, HashView};
use crate::marshal::{Commands, ReemField, ReemMarshal, FINGERPRINT_FIELD, LABEL_FIELD};
use crate::schema::{FieldPath, FieldType, Schema, SchemaBuilder};
use crate::transport::Resend;

/// Typed messages stored at keys, on one [`RedisInterface`].
///
/// ```no_run
/// use reem::{Fields, KeyValueStore, RedisInterface, ReemMarshal};
///
/// #[derive(ReemMarshal, Debug, PartialEq)]
/// struct Pose2 { x: f64, y: f64, theta: f64 }
///
/// let iface = RedisInterface::new("redis://127.0.0.1:6379")?;
/// let kv = KeyValueStore::new(&iface);
/// kv.set("robot/pose", &Pose2 { x: 1.0, y: 2.0, theta: 0.5 })?;
/// let pose: Pose2 = kv.get("robot/pose")?;
/// let x: f64 = kv.get_field("robot/pose", &Pose2::fields().x())?;
/// # Ok::<(), reem::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyValueStore {
    iface: RedisInterface,
    labels: ships::LabelCache,
}

impl KeyValueStore {
    /// A store on `iface` (shares its connections).
    pub fn new(iface: &RedisInterface) -> Self {
        Self {
            iface: iface.clone(),
            labels: Default::default(),
        }
    }

    /// The interface this store uses.
    pub fn interface(&self) -> &RedisInterface {
        &self.iface
    }

    /// Stores `value` at `key`, replacing whatever message was there, in one MULTI/EXEC.
    pub fn set<T: ReemMarshal>(&self, key: &str, value: &T) -> Result<()> {
        let mut cmds = Commands::new();
        value.write(key, &mut cmds)?;
        self.write(key, &cmds)
    }

    /// Stores the array `a` (an [`ArrayView`](ndarray::ArrayView), a slice of an array, an
    /// `&Array`) at `key` in one MULTI/EXEC, exactly as [`set`](Self::set) stores the owned
    /// `Array<A, D>`, without first copying it into one: a C-contiguous view is borrowed, a
    /// strided one gathered once in C order. It reads back as `Array<A, D>`.
    ///
    /// ```
    /// use ndarray::{s, Array2};
    /// # let server = reem_server::RedisServer::start().expect("a private redis-server");
    /// # let kv = reem::KeyValueStore::new(&reem::RedisInterface::new(&server.url())?);
    /// let m = Array2::<f64>::eye(4);
    /// kv.set_view("m/top", &m.slice(s![..2, ..]))?;   // borrowed
    /// kv.set_view("m/t", &m.t())?;                    // gathered
    /// let top: Array2<f64> = kv.get("m/top")?;
    /// assert_eq!(top, m.slice(s![..2, ..]));
    /// # Ok::<(), reem::Error>(())
    /// ```
    #[cfg(feature = "ndarray")]
    pub fn set_view<A, D>(&self, key: &str, a: &ndarray::ArrayRef<A, D>) -> Result<()>
    where
        A: crate::marshal::array::Element,
        D: ndarray::Dimension + 'static,
    {
        let mut cmds = Commands::new();
        crate::marshal::ndarray::write_view(a, key, &mut cmds)?;
        self.write(key, &cmds)
    }

    /// Reads the message at `key` as a `T`, in one command.
    ///
    /// A missing key is [`Error::NotFound`]; another type's message, or an incompatible
    /// version of `T`'s, is [`Error::SchemaMismatch`]; bad stored bytes are
    /// [`Error::InvalidField`] / [`Error::MissingField`].
    pub fn get<T: ReemMarshal>(&self, key: &str) -> Result<T> {
        let mut cmds = Commands::new();
        T::read(key, &mut cmds);
        let reply = self.read_one(key, &cmds)?;
        T::interpret_read(key, reply)
    }

    /// Deletes the message at `key` (as `T`'s marshaller deletes it); true if there was
    /// something to delete.
    pub fn delete_as<T: ReemMarshal>(&self, key: &str) -> Result<bool> {
        let mut cmds = Commands::new();
        T::delete(key, &mut cmds);
        let replies = self.iface.transport().transaction(key, &cmds)?;
        Ok(replies.iter().any(|r| matches!(r, Value::Int(n) if *n > 0)))
    }

    /// Deletes the key (`UNLINK`); true if it existed.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let mut cmds = Commands::new();
        cmds.cmd("UNLINK").arg(key);
        let replies = self.iface.transport().transaction(key, &cmds)?;
        Ok(matches!(replies.first(), Some(Value::Int(n)) if *n > 0))
    }

    /// True if something is stored at `key`.
    pub fn exists(&self, key: &str) -> Result<bool> {
        let mut cmds = Commands::new();
        cmds.cmd("EXISTS").arg(key);
        Ok(matches!(self.read_one(key, &cmds)?, Value::Int(n) if n > 0))
    }

    /// The Redis type of `key` (`hash` for a reem message, `none` if absent).
    pub fn key_type(&self, key: &str) -> Result<String> {
        let mut cmds = Commands::new();
        cmds.cmd("TYPE").arg(key);
        match self.read_one(key, &cmds)? {
            Value::SimpleString(s) => Ok(s),
            Value::Okay => Ok("OK".to_owned()),
            other => Err(Error::WrongRedisType {
                key: key.to_owned(),
                found: format!("an unexpected reply to TYPE: {other:?}"),
            }),
        }
    }

    /// The stored hash at `key`, undecoded (the reply to `HGETALL`), for decoding without the
    /// Rust type ([`reem::dynamic`](crate::dynamic)). A missing key is an empty reply.
    pub fn get_hash(&self, key: &str) -> Result<Value> {
        let mut cmds = Commands::new();
        cmds.cmd("HGETALL").arg(key);
        self.read_one(key, &cmds)
    }

    /// Reads one field (a scalar, an array, a nested struct, a list) of the message at
    /// `key`, transferring only that field's stored values.
    ///
    /// A field whose stored names are known from its type is one `HMGET` (with `@label` and
    /// `@fp`, checked against `R`; when the stored fingerprint is another version's, a second
    /// `HMGET` reads the field again with the stored `@schema`, and that one consistent reply
    /// decides); a field holding a variable-length list is one script that selects the names
    /// on the server.
    pub fn get_field<R, T>(&self, key: &str, field: &FieldHandle<R, T>) -> Result<T>
    where
        R: ReemField,
        T: ReemField,
    {
        let schema = schema_of::<R>();
        let reply = match stored_names::<T>(field.path()) {
            Some(names) => self.read_names(key, schema, names)?,
            None => {
                let mut cmds = Commands::new();
                scripts::GET_FIELD.queue(&mut cmds, key);
                cmds.arg(field.path())
                    .arg(itoa::Buffer::new().format(self.iface.max_message_size()));
                self.read_one(key, &cmds)
                    .map_err(|e| scripts::too_large(e, self.iface.max_message_size()))?
            }
        };
        let hash = HashView::from_hgetall(key, &reply)?;
        check_header(key, schema, &hash)?;
        T::decode(&mut FieldReader::new(
            key,
            &hash,
            FieldPath::at(field.path()),
        ))
    }

    /// `HMGET key @label @fp names…` as a flat field/value reply (nil values left out); read
    /// again with `@schema` when the fingerprint differs from `schema`'s.
    fn read_names(&self, key: &str, schema: &Schema, mut names: Vec<String>) -> Result<Value> {
        names.splice(0..0, [LABEL_FIELD.to_owned(), FINGERPRINT_FIELD.to_owned()]);
        let hmget = |names: &[String]| -> Result<Vec<Value>> {
            let mut cmds = Commands::new();
            cmds.cmd("HMGET").arg(key);
            names.iter().for_each(|n| {
                cmds.arg(n);
            });
            match self.read_one(key, &cmds)? {
                Value::Array(values) if values.len() == names.len() => Ok(values),
                other => Err(Error::WrongRedisType {
                    key: key.to_owned(),
                    found: format!("an unexpected reply to HMGET: {other:?}"),
                }),
            }
        };
        let mut values = hmget(&names)?;
        let same_schema = match &values[1] {
            Value::BulkString(fp) => fp.as_slice() == schema.fingerprint_hex.as_bytes(),
            _ => true, // no fingerprint: not written by reem, fields are checked one by one
        };
        if !same_schema {
            names.push(SCHEMA_FIELD.to_owned());
            values = hmget(&names)?;
        }
        let mut pairs = Vec::with_capacity(2 * names.len());
        for (name, value) in names.into_iter().zip(values) {
            if value != Value::Nil {
                pairs.push(Value::BulkString(name.into_bytes()));
                pairs.push(value);
            }
        }
        Ok(Value::Array(pairs))
    }

    /// Replaces one field of the message at `key`, atomically, leaving the rest untouched.
    ///
    /// The stored message must carry `R`'s exact schema (otherwise
    /// [`Error::SchemaMismatch`]: write the whole message with [`set`](Self::set) first).
    pub fn set_field<R, T>(&self, key: &str, field: &FieldHandle<R, T>, value: &T) -> Result<()>
    where
        R: ReemField,
        T: ReemField,
    {
        let schema = schema_of::<R>();
        let mut cmds = Commands::new();
        scripts::SET_FIELDS.queue(&mut cmds, key);
        cmds.arg(&schema.label)
            .arg(&schema.fingerprint_hex)
            .arg(field.path());
        let mut w = FieldWriter::new(key, &mut cmds, FieldPath::at(field.path()));
        value.encode(&mut w)?;
        // Large values go in the script's arguments too: one command.
        w.finish_inline();
        let reply = self.iface.transport().transaction(key, &cmds)?;
        scripts::set_fields_outcome(key, reply, || schema.describe())
    }

    /// Writes raw stored values into fields the message at `key` already stores, atomically,
    /// only if its fingerprint is still `fp` (what `reem set` does after checking each value
    /// against the stored schema: the schema does not change, so `@fp` stays valid).
    ///
    /// Refused, with nothing written: [`Error::NotFound`] if the key is gone,
    /// [`Error::SchemaMismatch`] if its fingerprint changed, [`Error::MissingField`] if a
    /// field is not stored.
    pub fn set_stored_fields(&self, key: &str, fp: &[u8], pairs: &[(&str, &[u8])]) -> Result<()> {
        let mut cmds = Commands::new();
        scripts::SET_FIELDS.queue(&mut cmds, key);
        cmds.arg("").arg(fp).arg("");
        for (field, value) in pairs {
            cmds.arg(field).arg(value);
        }
        let reply = self.iface.transport().transaction(key, &cmds)?;
        scripts::set_fields_outcome(key, reply, || {
            format!("the schema {}", String::from_utf8_lossy(fp))
        })
    }

    /// Refuses a reply larger than the interface's limit, before anything decodes it (the
    /// single-node transport refuses it while reading; this also covers the cluster's).
    fn check_size(&self, key: &str, reply: &Value) -> Result<()> {
        fn size(v: &Value) -> u64 {
            match v {
                Value::BulkString(b) => b.len() as u64,
                Value::Array(a) => a.iter().map(size).sum(),
                Value::Map(m) => m.iter().map(|(k, v)| size(k) + size(v)).sum(),
                _ => 0,
            }
        }
        let (size, limit) = (size(reply), self.iface.max_message_size());
        if size > limit {
            return Err(Error::TooLarge {
                key: key.to_owned(),
                size,
                limit,
            });
        }
        Ok(())
    }

    /// Runs a write transaction; its replies are not needed, but an error among them is
    /// reported.
    pub(crate) fn write(&self, key: &str, cmds: &Commands<'_>) -> Result<()> {
        let replies = self.iface.transport().transaction(key, cmds)?;
        match replies.into_iter().find_map(|r| match r {
            Value::ServerError(e) => Some(e),
            _ => None,
        }) {
            Some(e) => Err(Error::from_server_error(key, &e)),
            None => Ok(()),
        }
    }

    /// Runs exactly one read command and returns its reply (a `WRONGTYPE` reply as
    /// [`Error::WrongRedisType`]).
    fn read_one(&self, key: &str, cmds: &Commands<'_>) -> Result<Value> {
        let reply = self
            .iface
            .transport()
            .pipeline(key, cmds, Resend::IfLost)?
            .pop()
            .unwrap_or(Value::Nil);
        if let Value::ServerError(e) = &reply {
            return Err(Error::from_server_error(key, e));
        }
        self.check_size(key, &reply)?;
        Ok(reply)
    }
}

/// The stored field names a `T` at `path` occupies, if its type fixes them (no
/// variable-length list, no hand-written encoding).
fn stored_names<T: ReemField>(path: &str) -> Option<Vec<String>> {
    let mut b = SchemaBuilder::at(path);
    T::describe(&mut b);
    let mut names = Vec::new();
    for f in b.finish() {
        let at = FieldPath::at(&f.name);
        match f.ty {
            FieldType::List { .. } | FieldType::Custom { .. } => return None,
            FieldType::Array { .. } => names.extend(
                [array::ARR, array::DTYPE, array::SHAPE, array::STRIDES].map(|s| at.child(s)),
            ),
            _ => names.push(at.leaf().to_owned()),
        }
    }
    Some(names)
}
