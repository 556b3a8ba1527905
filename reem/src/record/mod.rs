//! Recordings of topics in MCAP files (cargo feature `record`): what `reem record` writes,
//! `reem play` republishes and `reem info` summarises, readable by any MCAP tool (Foxglove
//! Studio, Rerun, the Python `mcap` package).
//!
//! | type | does |
//! |------|------|
//! | [`RecordWriter`] | writes messages into an MCAP file: one channel per topic (and message schema), one schema record per stored `@schema`, chunked and zstd-compressed |
//! | [`Recording`] | reads a file as a stream, a record at a time (bounded memory), up to the end or to the first damage, which it reports with its byte offset |
//! | [`Recording::messages`] | typed messages `T: ReemMarshal` of one topic, checked against `T`'s schema as a live read is ([`Error::SchemaMismatch`](crate::Error::SchemaMismatch)) |
//! | [`StoredHash`](crate::marshal::StoredHash) | a recorded message without its Rust type (`StoredHash::interpret_read` of [`decode_hash`]'s reply): republishes through [`PublishSpace`](crate::PublishSpace) unchanged |
//!
//! ```no_run
//! use reem::record::Recording;
//! # #[derive(reem::ReemMarshal, Debug)] struct Pose2 { x: f64, y: f64, theta: f64 }
//!
//! let mut rec = Recording::open("run.mcap")?;
//! for message in rec.messages::<Pose2>("robot/pose") {
//!     let (at, pose) = message?;
//!     println!("{} ns: {pose:?}", at.log_time);
//! }
//! # Ok::<(), reem::Error>(())
//! ```
//!
//! # Encodings
//! A channel's `message_encoding` is [`REEM_ENCODING`] (`reem-hash`): each message is the
//! topic's stored hash, every field name and value in turn as `<length>:<bytes>` (the body of
//! an inline notification), so it decodes exactly as a message read from Redis, and its
//! schema record (encoding [`REEM_SCHEMA_ENCODING`], `reem-schema`) is the stored `@schema`
//! text, named by the `@label`. With `reem record --encoding json` the messages are JSON
//! (`json`, schema encoding `jsonschema`) for tools that plot fields. `docs/FORMAT.md`
//! ("Recordings") specifies both.
//!
//! # Times
//! `log_time` is the server's time of the message in nanoseconds since the Unix epoch: the
//! history stream entry's ID (milliseconds) when recorded from a topic's history, else the
//! server's `TIME` at the recorder's start plus the recorder's own clock since.
//! `publish_time` is the same instant, and `sequence` the publisher's sequence number
//! (`@seq`, modulo 2³²; the hash keeps the whole number).

mod reader;
mod writer;

pub use reader::{ChannelInfo, Damage, Info, Recorded, Recording, TopicInfo, TypedMessages};
pub use writer::{RecordWriter, WriterOptions};

/// The `message_encoding` of channels whose messages are stored hashes.
pub const REEM_ENCODING: &str = "reem-hash";
/// The `encoding` of schema records holding a stored `@schema`.
pub const REEM_SCHEMA_ENCODING: &str = "reem-schema";
/// The `message_encoding` of JSON channels.
pub const JSON_ENCODING: &str = "json";
/// The `encoding` of the schemas of JSON channels.
pub const JSON_SCHEMA_ENCODING: &str = "jsonschema";

/// The largest record a reader accepts (a chunk, or one message): a corrupt length cannot
/// make it allocate more.
pub const MAX_RECORD: usize = 1 << 30;

/// A message's stored hash as a recorded payload: every name and value in turn, each as
/// `<length in decimal>:<bytes>`.
pub fn encode_hash<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in pairs {
        crate::pubsub::frame::put_item(&mut out, name);
        crate::pubsub::frame::put_item(&mut out, value);
    }
    out
}

/// A recorded payload as the reply `HGETALL` would give (a flat array of names and values);
/// an error naming `topic` when the bytes are not such a payload.
pub fn decode_hash(topic: &str, payload: &[u8]) -> crate::Result<redis::Value> {
    crate::pubsub::frame::inline_hash(payload).map_err(|why| crate::Error::InvalidField {
        key: topic.to_owned(),
        field: String::new(),
        expected: "a recorded reem message (`<length>:<bytes>` items)".to_owned(),
        found: why,
    })
}
