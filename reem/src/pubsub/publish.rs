//! [`PublishSpace`]: store a topic's latest message and notify its subscribers, atomically.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use redis::Value;

use super::frame::{self, Mode, Stamp};
use super::history;
use super::names;
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::lock::lock;
use crate::marshal::{Commands, ReemMarshal, PUBLISHER_FIELD, SEQ_FIELD};
use crate::transport::plan::{misused, run, written, Plan, Request, Step};

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
    core: Publisher<Mutex<u64>>,
}

impl PublishSpace {
    /// A publisher on `iface` (shares its connections), with a new random id.
    pub fn new(iface: &RedisInterface) -> Self {
        Self {
            core: Publisher::new(iface),
        }
    }

    /// Sets how many bytes of stored fields a message may have and still travel inside its
    /// notification (default [`DEFAULT_INLINE_LIMIT`]; `0` makes every subscriber read the
    /// key, `usize::MAX` sends every message inline).
    pub fn with_inline_limit(mut self, bytes: usize) -> Self {
        self.core.inline_limit = bytes;
        self
    }

    /// The inline limit in bytes (see [`with_inline_limit`](Self::with_inline_limit)).
    pub fn inline_limit(&self) -> usize {
        self.core.inline_limit
    }

    /// Keeps about the last `n` messages of every topic this publisher publishes on, in a
    /// Redis Stream next to the topic (`{topic}@history`, in the topic's cluster slot),
    /// appended in the same transaction as the message (`XADD … MAXLEN ~ n`). Subscribers
    /// made [`with_history`](crate::RawSubscriber::with_history) start from it and fill
    /// reconnection gaps from it; `reem record` reads it, so nothing is lost at full rate.
    ///
    /// Off by default: it costs Redis memory, about `n` × the message's size (a 1 MiB image
    /// with `n = 100` keeps ~100 MiB; `MAXLEN ~` trims by whole stream nodes, so a few more
    /// may stay). `n = 0` turns it off. Only for messages stored as one hash (every derived
    /// type); a hand-written multi-key marshaller's publish is then an [`Error::Encode`].
    /// `docs/RECORDING.md` has the details.
    pub fn with_history(mut self, n: usize) -> Self {
        self.core.history = (n > 0).then_some(n);
        self
    }

    /// How many messages per topic the history keeps (`None`: no history).
    pub fn history(&self) -> Option<usize> {
        self.core.history
    }

    /// This publisher's id, as stored in `@pub` (16 hex digits).
    pub fn publisher_id(&self) -> String {
        self.core.publisher_id()
    }

    /// The interface this publisher uses.
    pub fn interface(&self) -> &RedisInterface {
        &self.core.iface
    }

    /// Stores `value` as the latest message of `topic` and notifies its subscribers, in one
    /// atomic step (one round trip). An error means nothing changed, except
    /// [`Error::Unconfirmed`] (the reply was lost: it may have been applied).
    pub fn publish<T: ReemMarshal>(&self, topic: &str, value: &T) -> Result<()> {
        let message = Message::of(topic, value);
        let counter = self.core.counter(topic);
        let mut last = lock(&counter);
        run(
            self.core.iface.transport(),
            self.core.plan(topic, message, &mut last),
        )
    }
}

/// What the blocking and async publishers share: the interface, the inline limit, the id,
/// and one sequence counter per topic behind a lock of type `L`, held while a publish on
/// the topic is in flight (a `std` mutex for the blocking face, a `tokio` one for the
/// async face).
#[derive(Debug)]
pub(crate) struct Publisher<L> {
    pub(crate) iface: RedisInterface,
    pub(crate) inline_limit: usize,
    /// Messages kept in each topic's history stream (`None`: none).
    pub(crate) history: Option<usize>,
    publisher: u64,
    /// The last sequence number of each topic.
    topics: Arc<Mutex<HashMap<String, Arc<L>>>>,
}

impl<L> Clone for Publisher<L> {
    fn clone(&self) -> Self {
        Publisher {
            iface: self.iface.clone(),
            inline_limit: self.inline_limit,
            history: self.history,
            publisher: self.publisher,
            topics: Arc::clone(&self.topics),
        }
    }
}

impl<L: Default> Publisher<L> {
    pub(crate) fn new(iface: &RedisInterface) -> Self {
        Publisher {
            iface: iface.clone(),
            inline_limit: DEFAULT_INLINE_LIMIT,
            history: None,
            publisher: random_id(),
            topics: Default::default(),
        }
    }

    pub(crate) fn publisher_id(&self) -> String {
        format!("{:016x}", self.publisher)
    }

    /// The lock around the last sequence number of `topic`.
    pub(crate) fn counter(&self, topic: &str) -> Arc<L> {
        let mut topics = lock(&self.topics);
        Arc::clone(topics.entry(topic.to_owned()).or_default())
    }

    /// The plan of one publish of `message` on `topic`, whose last sequence number is
    /// `last` (locked by the caller until the plan is over).
    pub(crate) fn plan<'a>(
        &'a self,
        topic: &'a str,
        message: Message<'a>,
        last: &'a mut u64,
    ) -> Publish<'a> {
        Publish {
            topic,
            inline_limit: self.inline_limit,
            history: self.history,
            publisher: self.publisher,
            db: self.iface.db(),
            cluster: self.iface.is_cluster(),
            message: Some(message),
            cmds: Commands::new(),
            last,
            seq: 0,
        }
    }
}

/// A message to publish, written by its marshaller before any lock is taken.
pub(crate) struct Message<'a> {
    cmds: Result<Commands<'a>>,
    /// The marshaller stores one hash at the key (the stamp goes inside it).
    one_hash: bool,
}

impl<'a> Message<'a> {
    pub(crate) fn of<T: ReemMarshal>(topic: &str, value: &'a T) -> Self {
        let mut cmds = Commands::new();
        Message {
            cmds: value.write(topic, &mut cmds).map(|()| cmds),
            one_hash: T::stores_one_hash(),
        }
    }
}

/// One publish: `MULTI`, the message's commands, its stamp, `PUBLISH`, `EXEC`.
///
/// **Sequence numbers.** The number is taken (`*last` advanced) when the transaction is
/// built, before it is handed to the transport, and given back only when the transaction
/// was provably not applied (refused, or never sent). If the plan is abandoned in between
/// (an async publish dropped while in flight), the number stays used: subscribers see a
/// gap, counted in `skipped`, never a number used twice.
pub(crate) struct Publish<'a> {
    topic: &'a str,
    inline_limit: usize,
    history: Option<usize>,
    publisher: u64,
    db: i64,
    cluster: bool,
    message: Option<Message<'a>>,
    /// The transaction in flight.
    cmds: Commands<'a>,
    last: &'a mut u64,
    seq: u64,
}

impl<'a> Publish<'a> {
    /// Adds the stamp to the message's hash; returns the notification: the whole hash when
    /// it is small enough, else the stamp alone.
    fn stamp_hash(&self, stamp: &Stamp, cmds: &mut Commands<'_>) -> Vec<u8> {
        let topic = self.topic;
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
    fn stamp_companion(&self, stamp: &Stamp, cmds: &mut Commands<'_>) -> Result<Vec<u8>> {
        let key = names::same_slot_key(self.topic, STAMP_SUFFIX, self.cluster)?;
        cmds.cmd("HSET")
            .arg(key)
            .arg(PUBLISHER_FIELD)
            .arg(stamp.publisher_hex())
            .arg(SEQ_FIELD)
            .arg(itoa::Buffer::new().format(stamp.seq));
        Ok(stamp.header(Mode::ReadMarshalled))
    }

    /// The whole transaction, with the next sequence number (taken).
    fn transaction(&mut self, message: Message<'a>) -> Result<Commands<'a>> {
        let mut cmds = message.cmds?;
        let stamp = Stamp {
            publisher: self.publisher,
            seq: *self.last + 1,
        };
        let note = if message.one_hash {
            self.stamp_hash(&stamp, &mut cmds)
        } else {
            self.stamp_companion(&stamp, &mut cmds)?
        };
        if let Some(n) = self.history {
            history::append(&mut cmds, self.topic, n, message.one_hash, self.cluster)?;
        }
        let channel = names::channel(self.db, self.topic, self.cluster);
        // On a Redis Cluster, sharded: the notification goes from the topic's own master, in
        // the same transaction (a plain PUBLISH would be broadcast to every node).
        cmds.cmd(if self.cluster { "SPUBLISH" } else { "PUBLISH" })
            .arg(channel.as_bytes())
            .arg(note);
        self.seq = stamp.seq;
        *self.last = stamp.seq;
        Ok(cmds)
    }
}

impl Plan for Publish<'_> {
    type Output = ();

    fn step(&mut self, replies: Option<Result<Vec<Value>>>) -> Step<'_, ()> {
        match (self.message.take(), replies) {
            (Some(message), None) => match self.transaction(message) {
                Ok(cmds) => {
                    self.cmds = cmds;
                    Step::Transaction(Request {
                        key: self.topic,
                        cmds: &self.cmds,
                    })
                }
                Err(e) => Step::Done(Err(e)),
            },
            (None, Some(replies)) if self.seq > 0 => {
                // The number stays used once the transaction may have been applied.
                if matches!(&replies, Err(e) if !matches!(e, Error::Unconfirmed { .. })) {
                    *self.last = self.seq - 1;
                }
                self.seq = 0;
                Step::Done(replies.and_then(|r| written(self.topic, r)))
            }
            _ => Step::Done(Err(misused(self.topic))),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(message: Message<'a>, last: &'a mut u64) -> Publish<'a> {
        Publish {
            topic: "t",
            inline_limit: DEFAULT_INLINE_LIMIT,
            history: None,
            publisher: 7,
            db: 0,
            cluster: false,
            message: Some(message),
            cmds: Commands::new(),
            last,
            seq: 0,
        }
    }

    fn unconfirmed() -> Error {
        Error::Unconfirmed {
            key: "t".into(),
            reason: "lost".into(),
        }
    }

    #[test]
    fn a_sequence_number_is_given_back_only_when_nothing_was_applied() {
        let pose = 1.5f64;
        let mut last = 4;
        // Applied: the number is used.
        let mut p = plan(Message::of("t", &pose), &mut last);
        let Step::Transaction(request) = p.step(None) else {
            panic!("a transaction")
        };
        let cmds = format!("{:?}", request.cmds);
        assert!(cmds.contains("\"@seq\", \"5\""), "{cmds}");
        assert!(matches!(p.step(Some(Ok(vec![]))), Step::Done(Ok(()))));
        assert_eq!(last, 5);
        // Refused before EXEC: nothing applied, the number is given back.
        let mut p = plan(Message::of("t", &pose), &mut last);
        assert!(matches!(p.step(None), Step::Transaction(_)));
        let refused = Error::Refused {
            key: "t".into(),
            code: "NOPERM".into(),
            message: "no".into(),
        };
        assert!(matches!(p.step(Some(Err(refused))), Step::Done(Err(_))));
        assert_eq!(last, 5);
        // Unconfirmed: it may have been applied, the number stays used.
        let mut p = plan(Message::of("t", &pose), &mut last);
        assert!(matches!(p.step(None), Step::Transaction(_)));
        assert!(matches!(
            p.step(Some(Err(unconfirmed()))),
            Step::Done(Err(_))
        ));
        assert_eq!(last, 6);
        // Abandoned in flight (a dropped async publish): the number stays used.
        let mut p = plan(Message::of("t", &pose), &mut last);
        assert!(matches!(p.step(None), Step::Transaction(_)));
        drop(p);
        assert_eq!(last, 7);
    }
}
