//! # The async API, on tokio (feature `tokio`)
//!
//! The same messages, marshallers, wire bytes and errors as the blocking API, as futures and
//! streams for a tokio program. Every type is made from a [`RedisInterface`](crate::RedisInterface) (the same URL,
//! TLS, ACL user, timeouts and registered ships) and shares its connections:
//!
//! | type | does | like |
//! |------|------|------|
//! | [`KeyValueStore`] | `set`, `get`, `get_field`, `set_field`, … as futures | [`crate::KeyValueStore`] |
//! | [`PublishSpace`] | `publish(topic, &value)` as a future | [`crate::PublishSpace`] |
//! | [`Subscriber`] | a [`Stream`](futures_core::Stream) of a topic's messages, starting with the stored latest one | [`crate::RawSubscriber`] |
//!
//! ```
//! use std::time::Duration;
//! use reem::{aio, Fields, RedisInterface, ReemMarshal};
//!
//! #[derive(ReemMarshal, Debug, Clone, PartialEq)]
//! struct Pose2 { x: f64, y: f64, theta: f64 }
//!
//! # let server = reem_server::RedisServer::start().expect("a private redis-server");
//! # let url = server.url();
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let iface = RedisInterface::new(&url)?;           // blocking: one connection, at start-up
//! let kv = aio::KeyValueStore::new(&iface);
//! kv.set("robot/pose", &Pose2 { x: 1.0, y: 2.0, theta: 0.5 }).await?;
//! let x: f64 = kv.get_field("robot/pose", &Pose2::fields().x()).await?;
//! assert_eq!(x, 1.0);
//!
//! let mut sub = aio::Subscriber::<Pose2>::new(&iface, "robot/pose").await?;
//! let pubs = aio::PublishSpace::new(&iface);
//! tokio::spawn(async move { pubs.publish("robot/pose", &Pose2 { x: 3.0, y: 0.0, theta: 0.0 }).await });
//! let mut seen = Vec::new();
//! while seen.len() < 2 {
//!     tokio::select! {
//!         pose = sub.recv() => seen.push(pose?.x),      // the stored pose first, then 3.0
//!         _ = tokio::time::sleep(Duration::from_secs(5)) => break,
//!     }
//! }
//! assert_eq!(seen, [1.0, 3.0]);
//! # Ok::<(), reem::Error>(())
//! # }).unwrap();
//! ```
//!
//! # One connection for every task
//! All the async stores and publishers of one interface (and its clones) send their
//! requests on one multiplexed connection (the `redis` crate's RESP3
//! `MultiplexedConnection`): concurrent calls are pipelined on it, with no pool of sockets.
//! It is opened by the first call, on the caller's tokio runtime, whose tasks then write
//! every request and read every reply: no hop to another thread on the way. A program that
//! runs several runtimes gets one connection per runtime that uses the interface, so that a
//! runtime that is not running (or was shut down) never stalls another one's calls. A
//! connection that died (the server restarted) is replaced by the next call, before
//! anything is sent on it. On a Redis Cluster it is one connection per node, through the
//! `redis` crate's async cluster connection (see [Topologies](#topologies)).
//!
//! Subscribers use the interface's subscriber dispatcher, shared with the blocking
//! subscribers: one thread (`reem-pubsub`) and one RESP3 connection carry every subscription
//! of the interface, blocking and async alike. A process with 100 async subscribers on one
//! interface has one reem thread besides its runtime's. On a Redis Cluster that connection
//! is the crate's async cluster connection: still one thread, and one subscriber connection
//! per master that holds a subscribed topic (tested with 100 subscribers on 10 topics).
//!
//! # Cancellation
//! Every future here is `Send` and may be dropped at any point (a `tokio::select!` branch
//! that lost, a `tokio::time::timeout`, an aborted task):
//!
//! - a write (`set`, `set_field`, `publish`, …) is one request holding its whole `MULTI …
//!   EXEC`; dropped, it was either handed whole to the connection (and is applied, or not,
//!   as one transaction) or not at all: no reader ever sees half a message;
//! - the shared connection reads every reply in order whether its caller still waits or
//!   not, so a dropped call never shifts another task's replies, and the next call works;
//! - a dropped `publish` may have used its sequence number without sending it:
//!   subscribers then count one message in [`Counters::skipped`](crate::Counters::skipped),
//!   never a number used twice;
//! - dropping [`Subscriber::new`] before it returns unsubscribes it; [`Subscriber::recv`]
//!   and the stream lose nothing when dropped (a message is taken only when returned).
//!
//! # Errors and faults
//! The errors are [`crate::Error`]s, as in the blocking API, with the same retry rule: a
//! write whose reply was lost is [`Error::Unconfirmed`](crate::Error::Unconfirmed), never
//! sent again; a read whose connection failed is sent once more on a new connection. Bytes
//! from Redis are untrusted alike: the same decoding, the same typed errors, the same size
//! limit ([`RedisInterfaceBuilder::max_message_size`](crate::RedisInterfaceBuilder::max_message_size)).
//! When the subscriber connection is lost, each [`Subscriber`] yields one
//! [`Error::Io`](crate::Error::Io) item, then the messages again once the connection is made
//! again (the stored latest message first); the stream never ends by itself.
//!
//! # Topologies
//! One Redis server ([`RedisInterface::new`](crate::RedisInterface::new)) or a Redis Cluster
//! ([`RedisInterface::cluster`](crate::RedisInterface::cluster)), with the same calls, the
//! same tests and the same guarantees. On a cluster:
//!
//! - the stores and publishers of an interface share one `redis` crate async cluster
//!   connection per runtime (one multiplexed connection per node): each request goes to the
//!   master of its key's slot, and follows `MOVED` and `ASK` (a slot being moved), waits out
//!   `TRYAGAIN`, `CLUSTERDOWN` and `LOADING`, and reaches the promoted replica after a
//!   failover; a request whose keys are in two slots is refused (`CROSSSLOT`) before
//!   anything is sent;
//! - a write is sent again only when its bytes provably reached no server (the crate would
//!   resend a transaction whose reply was lost: reem stops it, and the error is
//!   [`Error::Unconfirmed`](crate::Error::Unconfirmed)); a request that provably did not run
//!   is tried again, with backoff, within the interface's connect timeout;
//! - [`PublishSpace`] notifies with `SPUBLISH` in the same transaction, and [`Subscriber`]s
//!   listen with `SSUBSCRIBE` on the topic's shard, follow the slot when it moves or fails
//!   over, and read the stored latest message again after each move (the gap is counted).
//!
//! # Runtime
//! Call these futures from tasks of a tokio runtime with its I/O and time drivers enabled
//! (`#[tokio::main]`, `Builder::enable_all`), multi-thread or current-thread. Called from
//! outside any runtime they return an [`Error::Io`](crate::Error::Io) naming the problem.

mod kv;
mod publish;
mod subscriber;

pub use kv::KeyValueStore;
pub use publish::PublishSpace;
pub use subscriber::Subscriber;

/// What the documentation promises, checked by the compiler: the stores are `Clone + Send +
/// Sync + 'static`, a subscriber is `Send + 'static`, and every future is `Send` (even for a
/// message type that is not `Sync`).
const _: () = {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    fn send<T: Send>(_: T) {}
    #[allow(dead_code)]
    fn check<T: crate::ReemField + Clone>(
        kv: &KeyValueStore,
        pubs: &PublishSpace,
        iface: &crate::RedisInterface,
        value: &T,
        field: &crate::FieldHandle<T, T>,
    ) {
        shared::<KeyValueStore>();
        shared::<PublishSpace>();
        send(kv.set("k", value));
        send(kv.get::<T>("k"));
        send(kv.get_field("k", field));
        send(kv.set_field("k", field, value));
        send(kv.set_dyn("k", value));
        send(kv.get_dyn("k"));
        send(pubs.publish("k", value));
        send(Subscriber::<f64>::new(iface, "k"));
        fn subscriber<T: Send + 'static>(_: Option<T>) {}
        subscriber::<Subscriber<f64>>(None);
        fn recv(sub: &mut Subscriber<f64>) {
            send(sub.recv());
        }
    }
};
