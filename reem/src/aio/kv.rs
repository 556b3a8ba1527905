//! [`KeyValueStore`]: typed messages at keys, as futures.

use std::any::Any;
use std::future::Future;

use redis::Value;

use crate::error::Result;
use crate::handle::FieldHandle;
use crate::interface::RedisInterface;
use crate::kv::{plan, ships};
use crate::marshal::{ReemField, ReemMarshal};
use crate::transport::aio::run;
use crate::transport::plan::Plan;

/// Typed messages stored at keys, on one [`RedisInterface`], as futures: the async face of
/// [`crate::KeyValueStore`], with the same commands, stored layout, semantics and errors.
///
/// Cheap to clone (`Clone + Send + Sync + 'static`): move a clone into each task. All the
/// stores of one interface share its one async connection, pipelined (on a Redis Cluster,
/// one connection per node, each request sent to the master of its key's slot, following
/// `MOVED` and `ASK`).
///
/// **Cancellation.** Every method's future is `Send` and may be dropped at any await point:
/// a write is one request holding its whole `MULTI … EXEC`, handed whole to the connection
/// or not at all (a dropped `set` leaves the old message or the new one, never a mix), and
/// a dropped call never disturbs other tasks' calls on the shared connection.
///
/// ```
/// use reem::{aio, RedisInterface, ReemMarshal};
///
/// #[derive(ReemMarshal, Debug, Clone, PartialEq)]
/// struct Pose2 { x: f64, y: f64, theta: f64 }
///
/// # let server = reem_server::RedisServer::start().expect("a private redis-server");
/// # let iface = RedisInterface::new(&server.url())?;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let kv = aio::KeyValueStore::new(&iface);
/// let tasks: Vec<_> = (0..8)
///     .map(|i| {
///         let kv = kv.clone();
///         tokio::spawn(async move {
///             let key = format!("robot/{i}/pose");
///             kv.set(&key, &Pose2 { x: i as f64, y: 0.0, theta: 0.0 }).await?;
///             kv.get::<Pose2>(&key).await
///         })
///     })
///     .collect();
/// for (i, task) in tasks.into_iter().enumerate() {
///     assert_eq!(task.await.unwrap()?.x, i as f64);
/// }
/// # Ok::<(), reem::Error>(())
/// # }).unwrap();
/// # Ok::<(), reem::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyValueStore {
    /// The blocking store of the same interface: its interface and label cache.
    blocking: crate::KeyValueStore,
}

/// The async face of a blocking store: the same interface and label cache.
impl From<crate::KeyValueStore> for KeyValueStore {
    fn from(blocking: crate::KeyValueStore) -> Self {
        KeyValueStore { blocking }
    }
}

impl KeyValueStore {
    /// A store on `iface` (shares its connections).
    pub fn new(iface: &RedisInterface) -> Self {
        crate::KeyValueStore::new(iface).into()
    }

    /// The blocking face of this store (the same interface and label cache), for code that
    /// runs outside the runtime.
    pub fn blocking(&self) -> &crate::KeyValueStore {
        &self.blocking
    }

    /// The interface this store uses.
    pub fn interface(&self) -> &RedisInterface {
        self.blocking.interface()
    }

    fn labels(&self) -> &ships::LabelCache {
        &self.blocking.labels
    }

    /// Runs `plan` on the interface's async transport.
    fn run<'a, P>(&'a self, plan: P) -> impl Future<Output = Result<P::Output>> + Send + 'a
    where
        P: Plan + Send + 'a,
        P::Output: Send,
    {
        run(self.interface().aio_transport(), plan)
    }

    /// Stores `value` at `key`, replacing whatever message was there, in one `MULTI … EXEC`
    /// ([`crate::KeyValueStore::set`]).
    ///
    /// The commands are built (and `value` encoded) when this is called, before the future
    /// is first polled. The future is `Send` and cancellation-safe: dropped, the transaction
    /// was sent whole or not at all; if its reply may have been lost, the error is
    /// [`Error::Unconfirmed`](crate::Error::Unconfirmed) and it is not sent again.
    pub fn set<'a, T: ReemMarshal>(
        &'a self,
        key: &'a str,
        value: &'a T,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        self.run(plan::set(key, value))
    }

    /// Reads the message at `key` as a `T`, in one command ([`crate::KeyValueStore::get`]:
    /// [`Error::NotFound`](crate::Error::NotFound),
    /// [`Error::SchemaMismatch`](crate::Error::SchemaMismatch), …).
    ///
    /// The future is `Send` and cancellation-safe: a read changes nothing, and the shared
    /// connection discards the reply of a dropped call.
    pub fn get<'a, T: ReemMarshal>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        self.run(plan::get::<T>(key, self.interface().max_message_size()))
    }

    /// Reads one field of the message at `key`, transferring only that field's stored values
    /// ([`crate::KeyValueStore::get_field`]: one `HMGET`, a second one with the stored schema
    /// when it is another version's, or one script for a list).
    ///
    /// The future is `Send` and cancellation-safe: reads only.
    pub fn get_field<'a, R: ReemField, T: ReemField>(
        &'a self,
        key: &'a str,
        field: &'a FieldHandle<R, T>,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        let limit = self.interface().max_message_size();
        self.run(plan::GetField::new(key, field, limit))
    }

    /// Replaces one field of the message at `key`, atomically, leaving the rest untouched
    /// ([`crate::KeyValueStore::set_field`]: one script that checks the stored schema).
    ///
    /// The future is `Send` and cancellation-safe: one command, sent whole or not at all; a
    /// lost reply is [`Error::Unconfirmed`](crate::Error::Unconfirmed).
    pub fn set_field<'a, R: ReemField, T: ReemField>(
        &'a self,
        key: &'a str,
        field: &'a FieldHandle<R, T>,
        value: &'a T,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        self.run(plan::set_field(key, field, value))
    }

    /// Deletes the key (`UNLINK`); true if it existed. The future is `Send` and
    /// cancellation-safe like [`set`](Self::set).
    pub fn delete<'a>(&'a self, key: &'a str) -> impl Future<Output = Result<bool>> + Send + 'a {
        self.run(plan::delete(key))
    }

    /// Deletes the message at `key` as `T`'s marshaller deletes it; true if there was
    /// something to delete. The future is `Send` and cancellation-safe like
    /// [`set`](Self::set).
    pub fn delete_as<'a, T: ReemMarshal>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = Result<bool>> + Send + 'a {
        self.run(plan::delete_as::<T>(key))
    }

    /// True if something is stored at `key`. The future is `Send` and cancellation-safe:
    /// reads only.
    pub fn exists<'a>(&'a self, key: &'a str) -> impl Future<Output = Result<bool>> + Send + 'a {
        self.run(plan::exists(key, self.interface().max_message_size()))
    }

    /// The stored hash at `key`, undecoded (the reply to `HGETALL`: a map, as the async
    /// connection speaks RESP3). The future is `Send` and cancellation-safe: reads only.
    pub fn get_hash<'a>(&'a self, key: &'a str) -> impl Future<Output = Result<Value>> + Send + 'a {
        self.run(plan::get_hash(key, self.interface().max_message_size()))
    }

    /// Stores `value` with the first registered ship whose `check_fit` accepts it
    /// ([`crate::KeyValueStore::set_dyn`]). The future is `Send` and cancellation-safe like
    /// [`set`](Self::set).
    pub fn set_dyn<'a>(
        &'a self,
        key: &'a str,
        value: &'a dyn Any,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        self.run(ships::set_dyn(self.interface(), self.labels(), key, value))
    }

    /// Reads the value at `key` with the ship named by its stored `@label`
    /// ([`crate::KeyValueStore::get_dyn`]). The future is `Send` and cancellation-safe:
    /// reads only.
    pub fn get_dyn<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = Result<Box<dyn Any + Send>>> + Send + 'a {
        self.run(ships::GetDyn::new(self.interface(), self.labels(), key))
    }
}
