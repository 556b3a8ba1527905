//! The key-value operations as sans-IO [`Plan`]s: the commands each sends and what its
//! replies mean, shared by the blocking [`KeyValueStore`](crate::KeyValueStore) and
//! `reem::aio`'s store.

use std::marker::PhantomData;

use redis::Value;

use super::scripts;
use crate::error::{Error, Result};
use crate::handle::FieldHandle;
use crate::marshal::SCHEMA_FIELD;
use crate::marshal::{array, check_header, schema_of, FieldReader, FieldWriter, HashView};
use crate::marshal::{Commands, ReemField, ReemMarshal, FINGERPRINT_FIELD, LABEL_FIELD};
use crate::schema::{FieldPath, FieldType, Schema, SchemaBuilder};
use crate::transport::plan::{misused, one_reply, written, Once, Plan, Request, Step};

/// `set`: the commands of `value`'s marshaller in one `MULTI … EXEC`.
pub(crate) fn set<'a, T: ReemMarshal>(key: &'a str, value: &'a T) -> impl Plan<Output = ()> + 'a {
    let mut cmds = Commands::new();
    let cmds = value.write(key, &mut cmds).map(|()| cmds);
    write(key, cmds)
}

/// Runs commands built by a marshaller in one `MULTI … EXEC`; an error reply among them is
/// the outcome.
pub(crate) fn write<'a>(key: &'a str, cmds: Result<Commands<'a>>) -> impl Plan<Output = ()> + 'a {
    Once::transaction(key, cmds, |key: &str, replies: Result<Vec<Value>>| {
        written(key, replies?)
    })
}

/// `get`: the one command of `T`'s `read`, its reply decoded by `interpret_read`.
pub(crate) fn get<T: ReemMarshal>(key: &str, limit: u64) -> impl Plan<Output = T> + '_ {
    let mut cmds = Commands::new();
    T::read(key, &mut cmds);
    Once::read(key, cmds, move |key: &str, replies: Result<Vec<Value>>| {
        T::interpret_read(key, one_reply(key, replies?, limit)?)
    })
}

/// `delete_as`: `T`'s `delete` commands in one transaction; true if any removed something.
pub(crate) fn delete_as<T: ReemMarshal>(key: &str) -> impl Plan<Output = bool> + '_ {
    let mut cmds = Commands::new();
    T::delete(key, &mut cmds);
    Once::transaction(key, Ok(cmds), |_: &str, replies: Result<Vec<Value>>| {
        Ok(replies?
            .iter()
            .any(|r| matches!(r, Value::Int(n) if *n > 0)))
    })
}

/// `delete`: `UNLINK key`; true if it existed.
pub(crate) fn delete(key: &str) -> impl Plan<Output = bool> + '_ {
    let mut cmds = Commands::new();
    cmds.cmd("UNLINK").arg(key);
    Once::transaction(key, Ok(cmds), |_: &str, replies: Result<Vec<Value>>| {
        Ok(matches!(replies?.first(), Some(Value::Int(n)) if *n > 0))
    })
}

/// `exists`: `EXISTS key`.
pub(crate) fn exists(key: &str, limit: u64) -> impl Plan<Output = bool> + '_ {
    let mut cmds = Commands::new();
    cmds.cmd("EXISTS").arg(key);
    Once::read(key, cmds, move |key: &str, replies: Result<Vec<Value>>| {
        Ok(matches!(one_reply(key, replies?, limit)?, Value::Int(n) if n > 0))
    })
}

/// `key_type`: `TYPE key`.
pub(crate) fn key_type(key: &str, limit: u64) -> impl Plan<Output = String> + '_ {
    let mut cmds = Commands::new();
    cmds.cmd("TYPE").arg(key);
    Once::read(
        key,
        cmds,
        move |key: &str, replies: Result<Vec<Value>>| match one_reply(key, replies?, limit)? {
            Value::SimpleString(s) => Ok(s),
            Value::Okay => Ok("OK".to_owned()),
            other => Err(Error::WrongRedisType {
                key: key.to_owned(),
                found: format!("an unexpected reply to TYPE: {other:?}"),
            }),
        },
    )
}

/// `get_hash`: `HGETALL key`, undecoded.
pub(crate) fn get_hash(key: &str, limit: u64) -> impl Plan<Output = Value> + '_ {
    let mut cmds = Commands::new();
    cmds.cmd("HGETALL").arg(key);
    Once::read(key, cmds, move |key: &str, replies: Result<Vec<Value>>| {
        one_reply(key, replies?, limit)
    })
}

/// `set_field`: one script that checks the stored schema and replaces the field.
pub(crate) fn set_field<'a, R, T>(
    key: &'a str,
    field: &'a FieldHandle<R, T>,
    value: &'a T,
) -> impl Plan<Output = ()> + 'a
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
    let encoded = value.encode(&mut w).map(|()| {
        // Large values go in the script's arguments too: one command.
        w.finish_inline();
    });
    let cmds = encoded.map(|()| cmds);
    Once::transaction(key, cmds, move |key: &str, replies: Result<Vec<Value>>| {
        scripts::set_fields_outcome(key, replies?, || schema.describe())
    })
}

/// `set_stored_fields`: one script that checks the stored fingerprint and that every field
/// exists, then writes the raw values.
pub(crate) fn set_stored_fields<'a>(
    key: &'a str,
    fp: &'a [u8],
    pairs: &[(&str, &[u8])],
) -> impl Plan<Output = ()> + 'a {
    let mut cmds = Commands::new();
    scripts::SET_FIELDS.queue(&mut cmds, key);
    cmds.arg("").arg(fp).arg("");
    for (field, value) in pairs {
        cmds.arg(field).arg(value);
    }
    Once::transaction(
        key,
        Ok(cmds),
        move |key: &str, replies: Result<Vec<Value>>| {
            scripts::set_fields_outcome(key, replies?, || {
                format!("the schema {}", String::from_utf8_lossy(fp))
            })
        },
    )
}

/// `get_field`: one field of the message at a key, transferring only its stored values.
///
/// A field whose stored names are known from its type is one `HMGET key @label @fp
/// <names>`; when the stored fingerprint is another version's, a second `HMGET` reads the
/// field again with `@schema`, and that one consistent reply decides. A field holding a
/// variable-length list is one script ([`scripts::GET_FIELD`]) that selects the names on
/// the server.
pub(crate) struct GetField<'a, R, T> {
    key: &'a str,
    path: &'a str,
    limit: u64,
    /// `@label`, `@fp` and the field's stored names, if its type fixes them.
    names: Option<Vec<String>>,
    /// The request in flight.
    cmds: Commands<'a>,
    stage: Stage,
    _types: PhantomData<fn() -> (R, T)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    /// The first `HMGET` was sent.
    Names,
    /// The second, with `@schema`, was sent.
    NamesWithSchema,
    /// The script was sent.
    Script,
    Over,
}

impl<'a, R: ReemField, T: ReemField> GetField<'a, R, T> {
    pub(crate) fn new(key: &'a str, field: &'a FieldHandle<R, T>, limit: u64) -> Self {
        let names = stored_names::<T>(field.path()).map(|mut names| {
            names.splice(0..0, [LABEL_FIELD.to_owned(), FINGERPRINT_FIELD.to_owned()]);
            names
        });
        GetField {
            key,
            path: field.path(),
            limit,
            names,
            cmds: Commands::new(),
            stage: Stage::Start,
            _types: PhantomData,
        }
    }

    fn hmget(key: &str, names: &[String]) -> Commands<'a> {
        let mut cmds = Commands::new();
        cmds.cmd("HMGET").arg(key);
        names.iter().for_each(|n| {
            cmds.arg(n);
        });
        cmds
    }

    /// Asks for `cmds`, kept until their replies come.
    fn read(&mut self, cmds: Commands<'a>, next: Stage) -> Step<'_, T> {
        self.cmds = cmds;
        self.stage = next;
        Step::Read(Request {
            key: self.key,
            cmds: &self.cmds,
        })
    }

    /// The values of an `HMGET` of `names`, one per name.
    fn values(&self, replies: Result<Vec<Value>>, names: usize) -> Result<Vec<Value>> {
        match one_reply(self.key, replies?, self.limit)? {
            Value::Array(values) if values.len() == names => Ok(values),
            other => Err(Error::WrongRedisType {
                key: self.key.to_owned(),
                found: format!("an unexpected reply to HMGET: {other:?}"),
            }),
        }
    }

    /// Decodes a flat field/value reply holding the field and the message's header.
    fn decode(&self, reply: Value) -> Result<T> {
        let hash = HashView::from_hgetall(self.key, &reply)?;
        check_header(self.key, schema_of::<R>(), &hash)?;
        T::decode(&mut FieldReader::new(
            self.key,
            &hash,
            FieldPath::at(self.path),
        ))
    }

    fn decode_names(&mut self, values: Vec<Value>) -> Result<T> {
        let names = self.names.take().unwrap_or_default();
        let mut pairs = Vec::with_capacity(2 * names.len());
        for (name, value) in names.into_iter().zip(values) {
            if value != Value::Nil {
                pairs.push(Value::BulkString(name.into_bytes()));
                pairs.push(value);
            }
        }
        self.decode(Value::Array(pairs))
    }

    /// After the first `HMGET`: decodes, or reads again with `@schema` when the stored
    /// fingerprint is not `R`'s.
    fn first(&mut self, values: Vec<Value>) -> Step<'_, T> {
        let schema: &Schema = schema_of::<R>();
        let same_schema = match values.get(1) {
            Some(Value::BulkString(fp)) => fp.as_slice() == schema.fingerprint_hex.as_bytes(),
            _ => true, // no fingerprint: not written by reem, fields are checked one by one
        };
        if same_schema {
            return Step::Done(self.decode_names(values));
        }
        let Some(names) = self.names.as_mut() else {
            return Step::Done(Err(misused(self.key)));
        };
        names.push(SCHEMA_FIELD.to_owned());
        let cmds = Self::hmget(self.key, names);
        self.read(cmds, Stage::NamesWithSchema)
    }
}

impl<R: ReemField, T: ReemField> Plan for GetField<'_, R, T> {
    type Output = T;

    fn step(&mut self, replies: Option<Result<Vec<Value>>>) -> Step<'_, T> {
        let stage = std::mem::replace(&mut self.stage, Stage::Over);
        let count = self.names.as_ref().map_or(0, Vec::len);
        match (stage, replies) {
            (Stage::Start, None) => match &self.names {
                Some(names) => {
                    let cmds = Self::hmget(self.key, names);
                    self.read(cmds, Stage::Names)
                }
                None => {
                    let mut cmds = Commands::new();
                    scripts::GET_FIELD.queue(&mut cmds, self.key);
                    cmds.arg(self.path)
                        .arg(itoa::Buffer::new().format(self.limit));
                    self.read(cmds, Stage::Script)
                }
            },
            (Stage::Names, Some(replies)) => match self.values(replies, count) {
                Ok(values) => self.first(values),
                Err(e) => Step::Done(Err(e)),
            },
            (Stage::NamesWithSchema, Some(replies)) => Step::Done(
                self.values(replies, count)
                    .and_then(|values| self.decode_names(values)),
            ),
            (Stage::Script, Some(replies)) => Step::Done(
                replies
                    .and_then(|r| one_reply(self.key, r, self.limit))
                    .map_err(|e| scripts::too_large(e, self.limit))
                    .and_then(|reply| self.decode(reply)),
            ),
            _ => Step::Done(Err(misused(self.key))),
        }
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
