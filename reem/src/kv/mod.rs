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
//! [`Error::Unconfirmed`](crate::Error::Unconfirmed) instead of sending it again (`docs/FORMAT.md`, "Delivery and
//! retries"). Reads are sent once more on a fresh connection when the connection failed.

pub(crate) mod plan;
pub(crate) mod scripts;
pub(crate) mod ships;

use std::any::Any;

use redis::Value;

use crate::error::Result;
use crate::handle::FieldHandle;
use crate::interface::RedisInterface;
use crate::marshal::{ReemField, ReemMarshal};
use crate::transport::plan::{run, Plan};

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
    pub(crate) labels: ships::LabelCache,
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

    /// Runs `plan` on the interface's transport.
    fn run<P: Plan>(&self, plan: P) -> Result<P::Output> {
        run(self.iface.transport(), plan)
    }

    /// Stores `value` at `key`, replacing whatever message was there, in one MULTI/EXEC.
    pub fn set<T: ReemMarshal>(&self, key: &str, value: &T) -> Result<()> {
        self.run(plan::set(key, value))
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
        let mut cmds = crate::marshal::Commands::new();
        let cmds = crate::marshal::ndarray::write_view(a, key, &mut cmds).map(|()| cmds);
        self.run(plan::write(key, cmds))
    }

    /// Reads the message at `key` as a `T`, in one command.
    ///
    /// A missing key is [`Error::NotFound`]; another type's message, or an incompatible
    /// version of `T`'s, is [`Error::SchemaMismatch`]; bad stored bytes are
    /// [`Error::InvalidField`] / [`Error::MissingField`].
    ///
    /// [`Error::NotFound`]: crate::Error::NotFound
    /// [`Error::SchemaMismatch`]: crate::Error::SchemaMismatch
    /// [`Error::InvalidField`]: crate::Error::InvalidField
    /// [`Error::MissingField`]: crate::Error::MissingField
    pub fn get<T: ReemMarshal>(&self, key: &str) -> Result<T> {
        self.run(plan::get::<T>(key, self.iface.max_message_size()))
    }

    /// Deletes the message at `key` (as `T`'s marshaller deletes it); true if there was
    /// something to delete.
    pub fn delete_as<T: ReemMarshal>(&self, key: &str) -> Result<bool> {
        self.run(plan::delete_as::<T>(key))
    }

    /// Deletes the key (`UNLINK`); true if it existed.
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.run(plan::delete(key))
    }

    /// True if something is stored at `key`.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.run(plan::exists(key, self.iface.max_message_size()))
    }

    /// The Redis type of `key` (`hash` for a reem message, `none` if absent).
    pub fn key_type(&self, key: &str) -> Result<String> {
        self.run(plan::key_type(key, self.iface.max_message_size()))
    }

    /// The stored hash at `key`, undecoded (the reply to `HGETALL`), for decoding without the
    /// Rust type ([`reem::dynamic`](crate::dynamic)). A missing key is an empty reply.
    pub fn get_hash(&self, key: &str) -> Result<Value> {
        self.run(plan::get_hash(key, self.iface.max_message_size()))
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
        let limit = self.iface.max_message_size();
        self.run(plan::GetField::new(key, field, limit))
    }

    /// Replaces one field of the message at `key`, atomically, leaving the rest untouched.
    ///
    /// The stored message must carry `R`'s exact schema (otherwise
    /// [`Error::SchemaMismatch`](crate::Error::SchemaMismatch): write the whole message with
    /// [`set`](Self::set) first).
    pub fn set_field<R, T>(&self, key: &str, field: &FieldHandle<R, T>, value: &T) -> Result<()>
    where
        R: ReemField,
        T: ReemField,
    {
        self.run(plan::set_field(key, field, value))
    }

    /// Writes raw stored values into fields the message at `key` already stores, atomically,
    /// only if its fingerprint is still `fp` (what `reem set` does after checking each value
    /// against the stored schema: the schema does not change, so `@fp` stays valid).
    ///
    /// Refused, with nothing written: [`Error::NotFound`](crate::Error::NotFound) if the key
    /// is gone, [`Error::SchemaMismatch`](crate::Error::SchemaMismatch) if its fingerprint
    /// changed, [`Error::MissingField`](crate::Error::MissingField) if a field is not stored.
    pub fn set_stored_fields(&self, key: &str, fp: &[u8], pairs: &[(&str, &[u8])]) -> Result<()> {
        self.run(plan::set_stored_fields(key, fp, pairs))
    }

    /// Stores `value` with the first registered ship whose `check_fit` accepts it, adding
    /// the ship's label to the stored hash, in one MULTI/EXEC.
    pub fn set_dyn(&self, key: &str, value: &dyn Any) -> Result<()> {
        self.run(ships::set_dyn(&self.iface, &self.labels, key, value))
    }

    /// Reads the value at `key` with the ship named by its stored `@label`.
    ///
    /// One round trip when this store has seen the key's label before (it reads the label
    /// and the ship's one command in one MULTI/EXEC), two otherwise.
    pub fn get_dyn(&self, key: &str) -> Result<Box<dyn Any + Send>> {
        self.run(ships::GetDyn::new(&self.iface, &self.labels, key))
    }
}
