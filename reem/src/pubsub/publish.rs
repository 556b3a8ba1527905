//! [`PublishSpace`]: store a topic's latest message and notify its subscribers, atomically.

use redis::{Arg, Pipeline};

use super::frame::Mode;
use super::sink::companion_key;
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::marshal::ReemMarshal;

/// Messages whose stored fields take at most this many bytes travel inside the
/// notification; larger ones are read from the topic's key by the subscribers.
///
/// Measured on loopback (Redis 7.0, release build, `examples/pubsub_timing.rs`): inside
/// the notification a message arrives in about half the time up to a few tens of KiB, both
/// ways cost the same around 64–128 KiB, and beyond that the second trip of the bytes
/// (client → Redis → subscriber, instead of a read that moves them once more from Redis
/// only) makes inline slower (1 MiB: 1.5 ms inline vs 1.3 ms read).
pub const DEFAULT_INLINE_LIMIT: usize = 64 * 1024;

/// Publishes typed messages on topics, on one [`RedisInterface`].
///
/// `publish(topic, value)` does, in one MULTI/EXEC (one round trip, atomic):
///
/// 1. a script that reads the topic's sequence number (`@seq`, `@epoch` in the stored
///    hash), deletes the old message and starts the new hash with the next number;
/// 2. `HSET topic @label … @fp … @schema … fields…`: the same layout as
///    [`KeyValueStore::set`](crate::KeyValueStore::set), so
///    [`KeyValueStore::get`](crate::KeyValueStore::get) of the topic reads the latest
///    message;
/// 3. a script that publishes on the channel named like the topic: the whole hash when it
///    is at most [`inline_limit`](Self::inline_limit) bytes (subscribers decode without a
///    round trip), otherwise only the sequence number (subscribers read the key).
///
/// The key of a topic is the topic itself, and so is its channel: one message stays one
/// key (one Redis Cluster slot). A type with a hand-written marshaller that stores
/// something else than one hash is stored with its own `write`; its sequence number is kept
/// at the key `<topic>@seq` and subscribers read the message back with its own `read`.
/// `docs/FORMAT.md` specifies the notification.
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
}

impl PublishSpace {
    /// A publisher on `iface` (shares its connections).
    pub fn new(iface: &RedisInterface) -> Self {
        Self {
            iface: iface.clone(),
            inline_limit: DEFAULT_INLINE_LIMIT,
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

    /// The interface this publisher uses.
    pub fn interface(&self) -> &RedisInterface {
        &self.iface
    }

    /// Stores `value` as the latest message of `topic` and notifies its subscribers, in one
    /// atomic transaction.
    ///
    /// A pooled connection broken by a Redis restart is replaced and the publish is tried
    /// once more on a fresh connection.
    pub fn publish<T: ReemMarshal>(&self, topic: &str, value: &T) -> Result<()> {
        let pipe = self.transaction(topic, value)?;
        match self.iface.with_connection(|c| pipe.query::<()>(c)) {
            Err(Error::Redis(e)) if e.is_connection_dropped() => {
                let mut con = self.iface.open()?;
                pipe.query::<()>(&mut con)
                    .map_err(|e| Error::from_redis(topic, e))
            }
            Err(Error::Redis(e)) => Err(Error::from_redis(topic, e)),
            other => other,
        }
    }

    fn transaction<T: ReemMarshal>(&self, topic: &str, value: &T) -> Result<Pipeline> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("EVAL").arg(BEGIN).arg(1).arg(topic).ignore();
        pipe.cmd("HSET").arg(topic);
        if value.write_fields(topic, &mut pipe)? {
            pipe.ignore();
            let mode = if stored_bytes(&pipe) <= self.inline_limit {
                Mode::Inline
            } else {
                Mode::ReadKey
            };
            pipe.cmd("EVAL")
                .arg(NOTIFY)
                .arg(1)
                .arg(topic)
                .arg(topic)
                .arg(mode.letter())
                .ignore();
            return Ok(pipe);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        value.write(topic, &mut pipe)?;
        pipe.cmd("EVAL")
            .arg(NOTIFY_MARSHALLED)
            .arg(1)
            .arg(companion_key(topic))
            .arg(topic)
            .ignore();
        Ok(pipe)
    }
}

/// The bytes of the `field value` pairs in the last queued command (the `HSET`), its name
/// and key left out.
fn stored_bytes(pipe: &Pipeline) -> usize {
    pipe.cmd_iter().last().map_or(0, |cmd| {
        cmd.args_iter()
            .skip(2)
            .map(|arg| match arg {
                Arg::Simple(bytes) => bytes.len(),
                _ => 0,
            })
            .sum()
    })
}

/// `KEYS[1]` = topic. Starts the topic's next message: reads `@seq`/`@epoch` of the stored
/// hash (a new epoch, from the server clock, when there is none), deletes the key and writes
/// the next stamp. The fields follow in an `HSET` of the same transaction.
const BEGIN: &str = r"
local k = KEYS[1]
local seq, epoch = 1, nil
if redis.call('TYPE', k).ok == 'hash' then
  local h = redis.call('HMGET', k, '@seq', '@epoch')
  local s = tonumber(h[1])
  if s and h[2] then seq, epoch = s + 1, h[2] end
end
if not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%06d', tonumber(t[2]))
end
redis.call('UNLINK', k)
redis.call('HSET', k, '@seq', string.format('%d', seq), '@epoch', epoch)
";

/// `KEYS[1]` = topic, `ARGV` = channel, mode (`h`: the whole hash inline, `k`: only the
/// stamp). Publishes the notification of the message just stored.
const NOTIFY: &str = r"
local k = KEYS[1]
local h = redis.call('HMGET', k, '@seq', '@epoch')
local parts = {'reem1 ', ARGV[2], ' ', h[2], ' ', h[1], '\n'}
if ARGV[2] == 'h' then
  for _, v in ipairs(redis.call('HGETALL', k)) do
    parts[#parts + 1] = #v
    parts[#parts + 1] = ':'
    parts[#parts + 1] = v
  end
end
redis.call('PUBLISH', ARGV[1], table.concat(parts))
";

/// `KEYS[1]` = the companion key `<topic>@seq`, `ARGV[1]` = channel. For marshallers that
/// store something else than one hash: counts the publish in the companion hash and
/// publishes the stamp (mode `m`).
const NOTIFY_MARSHALLED: &str = r"
local k = KEYS[1]
local seq = redis.call('HINCRBY', k, 'seq', 1)
local epoch = redis.call('HGET', k, 'epoch')
if seq == 1 or not epoch then
  local t = redis.call('TIME')
  epoch = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('HSET', k, 'epoch', epoch)
end
redis.call('PUBLISH', ARGV[1], 'reem1 m ' .. epoch .. ' ' .. string.format('%d', seq) .. '\n')
";
