//! [`PublishSpace`]: store a topic's latest message and notify its subscribers, atomically.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use super::frame::{self, Mode, Stamp};
use super::names;
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::marshal::{Commands, ReemMarshal, PUBLISHER_FIELD, SEQ_FIELD};

/// Messages whose stored fields take at most this many bytes travel inside the
/// notification; larger ones are read from the topic's key by the subscribers.
///
/// Measured with `examples/pubsub_timing.rs` (Redis 7.0 on loopback, release build, a busy
/// 2-core machine): inside the notification, publish → decoded value takes 0.6× the time of
/// a read from the key at 1 KiB, 0.7× at 8 KiB, 0.85× at 16 KiB, but 1.07× at 32 KiB, 1.4×
/// at 64 KiB and 4.3× at 1 MiB: an inline message crosses to the server twice (as fields and
/// as notification), which soon costs more than the subscriber's extra round trip.
/// `docs/FORMAT.md` has the table.
pub const DEFAULT_INLINE_LIMIT: usize = 16 * 1024;

/// The key suffix of a topic whose marshaller stores something else than one hash: its
/// stamp is kept there, in the topic's cluster slot.
pub(crate) const STAMP_SUFFIX: &str = "@stamp";

/// Publishes typed messages on topics, on one [`RedisInterface`].
///
/// `publish(topic, value)` is one atomic step and one round trip: one `MULTI … EXEC` that
/// replaces the hash at the key `topic` (the layout of
/// [`KeyValueStore::set`](crate::KeyValueStore::set), so
/// [`KeyValueStore::get`](crate::KeyValueStore::get) of the topic reads the latest message),
/// adds its stamp (`@pub`, this publisher's id, and `@seq`, its sequence number) and
/// `PUBLISH`es the notification:
///
/// - a message whose fields take at most [`inline_limit`](Self::inline_limit) bytes travels
///   whole in the notification; subscribers decode it without a round trip;
/// - a larger message's notification carries only the stamp; subscribers read the key (one
///   `HGETALL` per message for all the subscribers of a process).
///
/// **Sequence numbers** are kept by the publisher, not read back from Redis: each
/// `PublishSpace` (and its clones) has a random 64-bit id and counts its publishes on each
/// topic from 1, like a DDS writer. Subscribers detect gaps and duplicates per publisher.
/// Publishes of one `PublishSpace` on one topic are serialized, so their numbers follow the
/// order Redis applies them in.
///
/// **Errors.** If the server refuses any command of the transaction (a user without
/// `PUBLISH` permission, say), nothing was applied. If the connection fails after the
/// transaction was sent, the error is [`Error::Unconfirmed`]: it may or may not have been
/// applied, and it is not sent again.
///
/// The channel of a topic is the topic itself in database 0 (`@n:<topic>` in database `n`,
/// as channels are shared by all databases, and `@0:<topic>` for a topic that starts with
/// `@`). On a Redis Cluster the notification is `SPUBLISH`ed on the sharded channel named
/// like the topic, from the master that holds the topic's key. `docs/FORMAT.md` specifies
/// the notification.
///
/// ```no_run
/// use reem::{PublishSpace, RedisInterface, ReemMarshal};
///
/// #[derive(ReemMarshal, Debug, Clone, PartialEq)]
/// struct Pose2 { x: f64, y: f64, theta: f64 }
///
/// let iface = RedisInterface::new("redis://127.0.0.1:6379")?;
/// let pubs = PublishSpace::new(&iface);
/// pubs.publish("robot/pose", &Pose2 { x: 1.0, y: 2.0, theta: 0.5 })?;
/// # Ok::<(), reem::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PublishSpace {
    iface: RedisInterface,
    inline_limit: usize,
    publisher: u64,
    /// The last sequence number of each topic; a topic's lock is held while it publishes.
    topics: Arc<Mutex<HashMap<String, Arc<Mutex<u64>>>>>,
}

impl PublishSpace {
    /// A publisher on `iface` (shares its connections), with a new random id.
    pub fn new(iface: &RedisInterface) -> Self {
        Self {
            iface: iface.clone(),
            inline_limit: DEFAULT_INLINE_LIMIT,
            publisher: random_id(),
            topics: Default::default(),
        }
    }

    /// Sets how many bytes of stored fields a message may have and still travel inside its
    /// notification (default [`DEFAULT_INLINE_LIMIT`]; `0` makes every subscriber read the
    /// key, `usize::MAX` sends every message inline).
    pub fn with_inline_limit(mut self, bytes: usize) -> Self {
        self.inline_limit = bytes;
        self
    }

    /// The inline limit in bytes (see [`with_inline_limit`](Self::with_inline_limit)).
    pub fn inline_limit(&self) -> usize {
        self.inline_limit
    }

    /// This publisher's id, as stored in `@pub` (16 hex digits).
    pub fn publisher_id(&self) -> String {
        format!("{:016x}", self.publisher)
    }

    /// The interface this publisher uses.
    pub fn interface(&self) -> &RedisInterface {
        &self.iface
    }

    /// Stores `value` as the latest message of `topic` and notifies its subscribers, in one
    /// atomic step (one round trip). An error means nothing changed, except
    /// [`Error::Unconfirmed`] (the reply was lost: it may have been applied).
    pub fn publish<T: ReemMarshal>(&self, topic: &str, value: &T) -> Result<()> {
        let mut cmds = Commands::new();
        value.write(topic, &mut cmds)?;
        let counter = self.counter(topic);
        let mut last = counter.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = Stamp {
            publisher: self.publisher,
            seq: *last + 1,
        };
        let note = if T::stores_one_hash() {
            self.stamp_hash(topic, &stamp, &mut cmds)
        } else {
            self.stamp_companion(topic, &stamp, &mut cmds)?
        };
        let cluster = self.iface.is_cluster();
        let channel = names::channel(self.iface.db(), topic, cluster);
        // On a Redis Cluster, sharded: the notification goes from the topic's own master, in
        // the same transaction (a plain PUBLISH would be broadcast to every node).
        cmds.cmd(if cluster { "SPUBLISH" } else { "PUBLISH" })
            .arg(channel.as_bytes())
            .arg(note);
        let replies = self.iface.transport().transaction(topic, &cmds);
        // The number is used up once the transaction may have been applied.
        if matches!(&replies, Ok(_) | Err(Error::Unconfirmed { .. })) {
            *last = stamp.seq;
        }
        match replies?.into_iter().find_map(|r| match r {
            redis::Value::ServerError(e) => Some(e),
            _ => None,
        }) {
            Some(e) => Err(Error::from_server_error(topic, &e)),
            None => Ok(()),
        }
    }

    /// Adds the stamp to the message's hash; returns the notification: the whole hash when
    /// it is small enough, else the stamp alone.
    fn stamp_hash(&self, topic: &str, stamp: &Stamp, cmds: &mut Commands<'_>) -> Vec<u8> {
        let seq = itoa::Buffer::new().format(stamp.seq).to_owned();
        cmds.cmd("HSET")
            .arg(topic)
            .arg(PUBLISHER_FIELD)
            .arg(stamp.publisher_hex())
            .arg(SEQ_FIELD)
            .arg(&seq);
        // The stored pairs: the arguments after `HSET key` of every HSET on the topic.
        let hsets = || {
            cmds.iter()
                .filter(|c| c.is("HSET") && c.args().next() == Some(topic.as_bytes()))
        };
        let size: usize = hsets()
            .map(|c| c.args().skip(1).map(<[u8]>::len).sum::<usize>())
            .sum();
        if size > self.inline_limit {
            return stamp.header(Mode::ReadKey);
        }
        let mut note = stamp.header(Mode::Inline);
        note.reserve(size + 8 * hsets().map(|c| c.args().len()).sum::<usize>());
        for c in hsets() {
            for item in c.args().skip(1) {
                frame::put_item(&mut note, item);
            }
        }
        note
    }

    /// Keeps the stamp of a message stored by a hand-written marshaller in the topic's
    /// companion key; returns the notification.
    fn stamp_companion(
        &self,
        topic: &str,
        stamp: &Stamp,
        cmds: &mut Commands<'_>,
    ) -> Result<Vec<u8>> {
        let key = names::same_slot_key(topic, STAMP_SUFFIX, self.iface.is_cluster())?;
        cmds.cmd("HSET")
            .arg(key)
            .arg(PUBLISHER_FIELD)
            .arg(stamp.publisher_hex())
            .arg(SEQ_FIELD)
            .arg(itoa::Buffer::new().format(stamp.seq));
        Ok(stamp.header(Mode::ReadMarshalled))
    }

    fn counter(&self, topic: &str) -> Arc<Mutex<u64>> {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(topics.entry(topic.to_owned()).or_default())
    }
}

/// A random 64-bit publisher id (from the standard library's randomly seeded hasher, the
/// time and the process id: unique with overwhelming probability).
fn random_id() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}
