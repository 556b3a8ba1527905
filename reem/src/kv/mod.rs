//! [`KeyValueStore`]: typed messages at keys.
//!
//! | call | Redis work | round trips |
//! |------|-----------|-------------|
//! | [`set`](KeyValueStore::set) | `MULTI; UNLINK k; HSET k @label … fields…; EXEC` | 1 |
//! | [`get`](KeyValueStore::get) | `HGETALL k` | 1 |
//! | [`get_field`](KeyValueStore::get_field) | `HMGET k @label @fp <the field's names>` (a list: one script selecting them) | 1 |
//! | [`set_field`](KeyValueStore::set_field) | one script: check `@fp`, `HDEL` the old, `HSET` the new | 1 |
//! | [`delete`](KeyValueStore::delete) | `DEL k` | 1 |
//!
//! A `set` replaces the whole message atomically: no field of the previous message
//! survives (an `Option` that became `None` is gone), and no reader sees half of it.

mod dynamic;
pub(crate) mod scripts;

use redis::{Pipeline, Value};

use crate::error::{server_error, Error, Result};
use crate::handle::FieldHandle;
use crate::interface::RedisInterface;
use crate::marshal::{
    array, resp_bulk, resp_command, FINGERPRINT_FIELD, LABEL_FIELD, SCHEMA_FIELD,
};
use crate::marshal::{
    check_header, FieldPath, FieldReader, FieldWriter, HashView, ReemField, ReemMarshal,
};
use crate::schema::{schema_of, FieldType, Schema, SchemaBuilder};

/// Typed messages stored at keys, on one [`RedisInterface`].
///
/// ```no_run
/// use reem::{KeyValueStore, RedisInterface, ReemMarshal};
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
    dynamic: dynamic::LabelCache,
}

impl KeyValueStore {
    /// A store on `iface` (shares its connections).
    pub fn new(iface: &RedisInterface) -> Self {
        Self {
            iface: iface.clone(),
            dynamic: Default::default(),
        }
    }

    /// The interface this store uses.
    pub fn interface(&self) -> &RedisInterface {
        &self.iface
    }

    /// Stores `value` at `key`, replacing whatever message was there, in one MULTI/EXEC.
    pub fn set<T: ReemMarshal>(&self, key: &str, value: &T) -> Result<()> {
        let mut packed = Vec::new();
        resp_command(&mut packed, 1);
        resp_bulk(&mut packed, b"MULTI");
        resp_command(&mut packed, 2);
        resp_bulk(&mut packed, b"UNLINK");
        resp_bulk(&mut packed, key.as_bytes());
        if let Some(hsets) = value.write_packed(key, &mut packed)? {
            resp_command(&mut packed, 1);
            resp_bulk(&mut packed, b"EXEC");
            return self.iface.exec_packed(key, &packed, 1 + hsets);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        value.write(key, &mut pipe)?;
        self.run(key, &pipe)
    }

    /// Reads the message at `key` as a `T`, in one command.
    ///
    /// A missing key is [`Error::NotFound`]; another type's message, or an incompatible
    /// version of `T`'s, is [`Error::SchemaMismatch`]; bad stored bytes are
    /// [`Error::InvalidField`] / [`Error::MissingField`].
    pub fn get<T: ReemMarshal>(&self, key: &str) -> Result<T> {
        let mut pipe = redis::pipe();
        T::read(key, &mut pipe);
        let reply = self.query_one(key, &pipe)?;
        self.check_size(key, &reply)?;
        T::interpret_read(key, reply)
    }

    /// Deletes the message at `key`; true if there was one.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let n: i64 = self
            .iface
            .with_connection(|c| redis::cmd("DEL").arg(key).query(c))
            .map_err(|e| e.at_key(key))?;
        Ok(n > 0)
    }

    /// True if something is stored at `key`.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.iface
            .with_connection(|c| redis::cmd("EXISTS").arg(key).query(c))
            .map_err(|e| e.at_key(key))
    }

    /// Reads one field (a scalar, an array, a nested struct, a list) of the message at
    /// `key`, transferring only that field's stored values.
    ///
    /// A field whose stored names are known from its type is one `HMGET` (with `@label` and
    /// `@fp`, checked against `R`); a field holding a variable-length list is one script
    /// that selects the names on the server.
    pub fn get_field<R, T>(&self, key: &str, field: &FieldHandle<R, T>) -> Result<T>
    where
        R: ReemField + 'static,
        T: ReemField,
    {
        let schema = schema_of::<R>();
        let reply = match stored_names::<T>(field.path()) {
            Some(names) => self.read_names(key, schema, names)?,
            None => self
                .iface
                .with_connection(|c| {
                    scripts::GET_FIELD.invoke_with(c, key, |p| {
                        p.arg(field.path()).arg(self.iface.max_message_size());
                    })
                })
                .map_err(|e| self.refused(key, e))?,
        };
        self.check_size(key, &reply)?;
        let hash = HashView::from_hgetall(key, &reply)?;
        check_header(key, schema, &hash)?;
        T::decode(&mut FieldReader::new(
            key,
            &hash,
            FieldPath::at(field.path()),
        ))
    }

    /// `HMGET key @label @fp names…` as a flat field/value reply (nil values left out), with
    /// `@schema` fetched too when the fingerprint differs from `schema`'s.
    fn read_names(&self, key: &str, schema: &Schema, mut names: Vec<String>) -> Result<Value> {
        names.splice(0..0, [LABEL_FIELD.to_owned(), FINGERPRINT_FIELD.to_owned()]);
        let values: Vec<Value> = self
            .iface
            .with_connection(|c| redis::cmd("HMGET").arg(key).arg(&names).query(c))
            .map_err(|e| e.at_key(key))?;
        let fp_differs = matches!(&values[..], [_, Value::BulkString(fp), ..] if fp.as_slice() != schema.fingerprint_hex.as_bytes());
        let mut pairs = Vec::with_capacity(2 * names.len() + 2);
        for (name, value) in names.into_iter().zip(values) {
            if value != Value::Nil {
                pairs.push(Value::BulkString(name.into_bytes()));
                pairs.push(value);
            }
        }
        if fp_differs {
            let stored: Value = self
                .iface
                .with_connection(|c| redis::cmd("HGET").arg(key).arg(SCHEMA_FIELD).query(c))
                .map_err(|e| e.at_key(key))?;
            if stored != Value::Nil {
                pairs.push(Value::BulkString(SCHEMA_FIELD.as_bytes().to_vec()));
                pairs.push(stored);
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
        R: ReemField + 'static,
        T: ReemField,
    {
        let schema = schema_of::<R>();
        let mut pipe = redis::pipe();
        scripts::SET_FIELD.queue(&mut pipe, key);
        pipe.arg(&schema.label)
            .arg(&schema.fingerprint_hex)
            .arg(field.path());
        let mut w = FieldWriter::new(key, &mut pipe, FieldPath::at(field.path()));
        value.encode(&mut w)?;
        w.finish();
        let result = self
            .iface
            .with_connection(|c| scripts::SET_FIELD.run::<()>(c, &pipe));
        let Err(Error::Redis(e)) = result else {
            return result;
        };
        match server_error(&e) {
            Some((code, detail)) if code == "REEMSCHEMA" => Err(Error::SchemaMismatch {
                key: key.to_owned(),
                stored: detail.unwrap_or_default(),
                expected: schema.describe(),
                reason: "set_field needs the stored message to have exactly this schema".to_owned(),
            }),
            Some((code, _)) if code == "REEMNOTFOUND" => Err(Error::NotFound {
                key: key.to_owned(),
            }),
            _ => Err(Error::from_redis(key, e)),
        }
    }

    /// Refuses a reply larger than the interface's limit, before anything decodes it.
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

    /// Maps the scripts' `REEMTOOLARGE size` refusal to [`Error::TooLarge`].
    fn refused(&self, key: &str, e: Error) -> Error {
        if let Error::Redis(r) = &e {
            if let Some((code, detail)) = server_error(r) {
                if code == "REEMTOOLARGE" {
                    let size = detail.and_then(|d| d.trim().parse().ok()).unwrap_or(0);
                    return Error::TooLarge {
                        key: key.to_owned(),
                        size,
                        limit: self.iface.max_message_size(),
                    };
                }
            }
        }
        e.at_key(key)
    }

    /// Runs the queued commands; their replies are not needed.
    fn run(&self, key: &str, pipe: &Pipeline) -> Result<()> {
        self.iface
            .with_connection(|c| pipe.query::<()>(c))
            .map_err(|e| e.at_key(key))
    }

    /// Runs a pipeline of exactly one command and returns its reply.
    fn query_one(&self, key: &str, pipe: &Pipeline) -> Result<Value> {
        let mut replies: Vec<Value> = self
            .iface
            .with_connection(|c| pipe.query(c))
            .map_err(|e| e.at_key(key))?;
        replies.pop().ok_or_else(|| Error::WrongRedisType {
            key: key.to_owned(),
            found: "no reply".to_owned(),
        })
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
