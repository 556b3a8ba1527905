//! Publish/subscribe: typed messages on topics, as they change.
//!
//! | type | does | Redis work |
//! |------|------|------------|
//! | [`PublishSpace`] | stores a topic's latest message and notifies | one MULTI/EXEC (`UNLINK`, `HSET`s, `PUBLISH`; `SPUBLISH` on a cluster): 1 round trip |
//! | [`RawSubscriber`] | keeps the newest message; `recv()` for control loops | shared `SUBSCRIBE` (`SSUBSCRIBE` on a cluster); `HGETALL` at start and for large messages |
//! | [`CallbackSubscriber`] | calls a function with each message on its own thread | same |
//!
//! ```no_run
//! use reem::{CallbackSubscriber, PublishSpace, RawSubscriber, RedisInterface, ReemMarshal};
//!
//! #[derive(ReemMarshal, Debug, Clone, PartialEq)]
//! struct Pose2 { x: f64, y: f64, theta: f64 }
//!
//! let iface = RedisInterface::new("redis://127.0.0.1:6379")?;
//! let pubs = PublishSpace::new(&iface);
//! pubs.publish("robot/pose", &Pose2 { x: 1.0, y: 2.0, theta: 0.5 })?;
//!
//! let mut sub = RawSubscriber::<Pose2>::new(&iface, "robot/pose")?;
//! sub.listen()?;                                    // late joiner: has the stored pose now
//! assert_eq!(sub.value().map(|p| p.x), Some(1.0));
//!
//! let mut cb = CallbackSubscriber::new(&iface, "robot/pose", |p: Pose2| println!("{p:?}"))?;
//! cb.listen()?;
//! # Ok::<(), reem::Error>(())
//! ```
//!
//! # Topics, keys and channels
//! A topic's latest message is stored at the key named like the topic, in the layout of
//! [`KeyValueStore::set`](crate::KeyValueStore::set) plus its stamp, `@pub` (the publisher's
//! id) and `@seq` (its sequence number); so [`KeyValueStore::get`](crate::KeyValueStore::get)
//! of the topic reads it. Notifications go on the channel named like the topic (`@n:<topic>`
//! in database `n` ≠ 0, as channels are shared by all databases, and `@0:<topic>` for a
//! topic starting with `@`: no two (database, topic) pairs share a channel). Subscriptions
//! are exact (`SUBSCRIBE`, never a pattern): `cam` never sees `camera` or `cam/x`, and a
//! topic may hold any text.
//!
//! # What a subscriber receives
//! `listen()` subscribes first, then reads the stored latest message: a subscriber that starts
//! late has a value at once, and nothing published in between is lost. Every message carries
//! its publisher's id and sequence number, so nothing is delivered twice and what was missed
//! is counted per publisher ([`Counters::skipped`]). Small messages travel inside the
//! notification and decode without a round trip; messages above [`DEFAULT_INLINE_LIMIT`]
//! are read from the key (one `HGETALL` per message for all the subscribers of a process).
//! Messages that do not decode (garbage, another type, an incompatible schema) are counted
//! ([`Counters::decode_errors`]), reported through `tracing`, and skipped; the subscriber
//! carries on. Stamps are untrusted like everything else read from Redis: no stored or
//! published stamp can make a subscriber drop the messages that follow it.
//!
//! # Threads and connections
//! All subscribers made from one [`RedisInterface`](crate::RedisInterface) (and its clones)
//! share one subscriber connection (RESP3, the `redis` crate's connection manager) and one
//! dispatcher thread (`reem-pubsub`, running a small tokio runtime), which decodes each
//! message once per subscriber. A [`CallbackSubscriber`] adds one thread (`reem-callback`)
//! for its callback. Dropping a subscriber unsubscribes it and joins its thread; the
//! dispatcher stops with the last subscriber. Publishing uses the interface's pooled
//! connections.
//!
//! # Faults
//! A subscription the server refuses (an ACL without the topic's channel) is an
//! [`Error::Refused`](crate::Error::Refused) from `listen()`. When the connection is lost, it
//! is made again (backoff up to 2 s, for ever), every channel is subscribed again and every
//! topic's latest message re-read; [`Status`] shows the state and the last error. A silent
//! connection is checked with `PING` every 3 s, allowed the interface's response timeout.
//! The subscriber connection uses the interface's URL (user, password, database, unix
//! socket, TLS) and timeouts.
//!
//! # On a Redis Cluster
//! Topics use sharded publish/subscribe: `publish` ends its transaction with `SPUBLISH` on
//! the master that holds the topic's key, and subscribers `SSUBSCRIBE` there, through the
//! `redis` crate's async cluster connection (one per interface, one connection per node).
//! A subscriber follows its topic: when the topic's slot moves to another master, or its
//! master fails and a replica is promoted, it subscribes again on the slot's master (with
//! backoff until that master answers) and re-reads the stored latest message, counting what
//! it missed meanwhile in [`Counters::skipped`]. `docs/FORMAT.md` ("Redis Cluster") has the
//! details.

mod callback;
pub(crate) mod frame;
pub mod history;
mod hub;
mod inbox;
mod link;
mod member;
mod names;
pub(crate) mod publish;
pub(crate) mod raw;
mod sequence;
pub(crate) mod subscriber;

pub use callback::CallbackSubscriber;
pub use hub::{ConnectionState, Status};
pub use inbox::Delivery;
pub use member::Counters;
pub use publish::{PublishSpace, DEFAULT_INLINE_LIMIT};
pub use raw::RawSubscriber;

pub(crate) use hub::HubSlot;
