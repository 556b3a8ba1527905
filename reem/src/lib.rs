//! # reem — a typed, fast, shared memory of the world for robots, over Redis
//!
//! reem re-creates the Python library REEM (Redis Extendable Efficient Middleware) in Rust:
//! a key-value store of typed messages, publish/subscribe, and marshallers that decide
//! exactly how each type is laid out in Redis.
//!
//! ```no_run
//! use reem::{Fields, KeyValueStore, RedisInterface, ReemMarshal};
//!
//! #[derive(ReemMarshal, Debug, Clone, PartialEq)]
//! struct Pose2 { x: f64, y: f64, theta: f64 }
//!
//! #[derive(ReemMarshal, Debug, Clone, PartialEq)]
//! #[reem(label = "robot.Status")]
//! struct Status {
//!     stamp: f64,
//!     seq: u64,
//!     frame_id: String,
//!     base: Pose2,                        // stored as base.x, base.y, base.theta
//!     #[reem(rename = "batt")] battery: Option<f32>,
//!     #[reem(skip)] scratch: Vec<u8>,     // not stored; Default on read
//! }
//!
//! let iface = RedisInterface::new("redis://127.0.0.1:6379")?;
//! let kv = KeyValueStore::new(&iface);
//! let status = Status { stamp: 1.5, seq: 7, frame_id: "map".into(),
//!     base: Pose2 { x: 1.0, y: 2.0, theta: 0.1 }, battery: Some(0.8), scratch: vec![] };
//! kv.set("robot/status", &status)?;                  // one atomic MULTI/EXEC
//! let back: Status = kv.get("robot/status")?;        // one HGETALL, typed errors
//! let x = kv.get_field("robot/status", &Status::fields().base().then(Pose2::fields().x()))?;
//! # Ok::<(), reem::Error>(())
//! ```
//!
//! A message is one Redis hash at its key: one field per scalar (`stamp`, `base.x`), four
//! per array (`image.arr`, `image.dtype`, `image.shape`, `image.strides`, readable by numpy),
//! and three reserved fields naming its type (`@label`, `@fp`, `@schema`). `docs/FORMAT.md`
//! in the repository specifies it.
//!
//! # Glossary
//! One concept, one name:
//!
//! | name | what it is |
//! |------|------------|
//! | message | one value stored at one key, as one Redis hash (one cluster slot) |
//! | marshaller ([`ReemMarshal`]) | how a Rust type is stored and read back: the seed's `check_fit`, `write`, `read`, `delete`, `interpret_read`, `get_label` |
//! | field encoding ([`ReemField`]) | how a type stores its fields under a path, so that it nests inside other messages |
//! | label | the name a marshaller stores with a message (`@label`): `robot.CameraFrame` |
//! | schema ([`schema::Schema`]) | the stored fields and their types (`@schema`), and its fingerprint (`@fp`) |
//! | ship ([`Ship`]) | a marshaller registered on an interface, chosen at run time ([`ship`]) |
//! | commands ([`marshal::Commands`]) | what a marshaller queues: the one sink that every write goes through |
//! | transport | the one place that turns commands into bytes, sends them and reads replies (one node, a cluster) |
//! | field handle ([`FieldHandle`], [`Fields`]) | a typed name for one field, to read or write it alone |
//! | topic | a key whose latest message is also published: its channel carries notifications |
//! | notification | what a publish sends on the topic's channel: the stamp, and a small message itself |
//! | stamp | a published message's publisher id (`@pub`) and sequence number (`@seq`) |
//! | dynamic value ([`dynamic::DynValue`]) | a message decoded from its stored schema, without its Rust type; a [`dynamic::DynMessage`] is also written like one (the Python package) |
//! | history | the last N messages of a topic, kept in a bounded Redis Stream beside it (`PublishSpace::with_history`) |
//! | recording | topics' messages in an MCAP file: `record` (feature `record`) and the CLI's `reem record` / `play` / `info` |
//!
//! # Modules
//! Dependencies point one way: `schema` ← `marshal` ← transport ← `kv`, `pubsub` ← the CLI
//! and the benchmarks. Marshallers never do I/O: they queue [`marshal::Commands`] and decode
//! replies, so each runs unchanged on every transport.
//!
//! | module | concept |
//! |--------|---------|
//! | [`marshal`] | the marshaller traits ([`ReemMarshal`], [`ReemField`], [`Ship`]), [`marshal::Commands`], built-in encodings |
//! | [`schema`] | labels, schemas, fingerprints, compatibility |
//! | [`RedisInterface`] | the transport to one Redis server or a Redis Cluster, and the registered ships |
//! | [`KeyValueStore`] | typed messages at keys |
//! | [`pubsub`] | [`PublishSpace`], [`RawSubscriber`], [`CallbackSubscriber`]: messages as they change |
//! | [`dynamic`] | messages read and written without their Rust type, from their stored or an inferred schema (the CLI's decoder, the Python package) |
//! | `aio` | the key-value store, the publisher and `Stream` subscribers on tokio (feature `tokio`) |
//! | `record` | recordings: MCAP files of topics' messages, written and read back typed (feature `record`) |
//!
//! The key-value store and the publisher are written once, as sans-IO plans (the commands
//! to send, what the replies mean) that each face runs on its transport: the blocking types
//! above on reem's own connections, `reem::aio`'s futures on an async one.
//!
//! Features: `ndarray` and `nalgebra` (array and matrix fields; on by default, left out with
//! `default-features = false`), `tls` (`rediss://` with rustls, custom CA, client
//! certificates), `tokio` (the async API, `reem::aio`; off by default), `record` (MCAP
//! recordings, `reem::record`; off by default).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cache;
mod error;
mod handle;
mod interface;
mod kv;
mod lock;
mod recycle;
mod transport;

#[cfg(feature = "tokio")]
pub mod aio;
pub mod dynamic;
pub mod marshal;
pub mod pubsub;
#[cfg(feature = "record")]
pub mod record;
pub mod schema;

pub use error::{Error, Result};
pub use handle::{FieldHandle, Fields};
pub use interface::{NodeReads, RedisInterface, RedisInterfaceBuilder, DEFAULT_MAX_MESSAGE_SIZE};
pub use kv::KeyValueStore;
pub use marshal::{ship, Json, ReemField, ReemMarshal, Ship};
pub use pubsub::{
    CallbackSubscriber, ConnectionState, Counters, Delivery, PublishSpace, RawSubscriber, Status,
};

/// Derives [`ReemMarshal`], [`ReemField`] and [`Fields`] for a struct with named fields
/// ([`ReemMarshal`] and [`ReemField`] for a unit-only enum). See the crate documentation for
/// the attributes.
pub use reem_derive::ReemMarshal;

/// Re-exports for code generated by `#[derive(ReemMarshal)]`; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use redis::Value;
    pub use serde::{de::DeserializeOwned, Serialize};
    pub use std::borrow::Cow;
    pub use std::marker::PhantomData;
    pub use std::result::Result::{Err, Ok};
    pub use std::{concat, format, stringify};
}
