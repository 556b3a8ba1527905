//! [`PublishSpace`]: store a topic's latest message and notify its subscribers, atomically.

use redis::{Connection, Pipeline, RedisResult};

use super::frame;
use super::sink::companion_key;
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::marshal::{resp_bulk, resp_command, ReemMarshal};

/// Messages whose stored fields take at most this many bytes travel inside the
/// notification; larger ones are read from the topic's key by the subscribers.
///
/// Measured with `examples/pubsub_timing.rs` (Redis 7.0 on loopback, release build, a busy
/// 2-core machine): inside the notification, publish → decoded value takes 0.6× the time of
/// a read from the key at 1 KiB, 0.7× at 8 KiB, 0.85× at 16 KiB, but 1.07× at 32 KiB, 1.4×
/// at 64 KiB and 4.3× at 1 MiB: an inline message passes through the publish script (Lua
/// copies it) and crosses to the server twice (as fields and as notification), which soon
/// costs more than the subscriber's extra round trip. `docs/FORMAT.md` has the table.
pub const DEFAULT_INLINE_LIMIT: usize = 16 * 1024;

/// Publishes typed messages on topics, on one [`RedisInterface`].
///
/// `publish(topic, value)` is one atomic step and one round trip. The stored hash has the
/// layout of [`KeyValueStore::set`](crate::KeyValueStore::set) (so
/// [`KeyValueStore::get`](crate::KeyValueStore::get) of the topic reads the latest message)
/// plus the topic's sequence stamp, `@seq` and `@epoch`, computed by the server:
///
/// one MULTI/EXEC of a script that replaces the hash by its next stamp and publishes the
/// notification, then the `HSET`s of the fields (sent as one buffer, each array copied once):
///
/// - a message whose fields take at most [`inline_limit`](Self::inline_limit) bytes travels
///   whole in the notification; subscribers decode it without a round trip;
/// - a larger message's notification carries only the stamp; subscribers read the key (one
///   `HGETALL` per message for all the subscribers of a process).
///
/// The key of a topic is the topic itself, and so is its channel (in database 0; in database
/// `n` the channel is `@n:<topic>`, as channels are shared by all databases): one message
/// stays one key (one Redis Cluster slot). A type with a hand-written marshaller that stores
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
    /// The interface's database, which names the channels.
    db: i64,
}

impl PublishSpace {
    /// A publisher on `iface` (shares its connections).
    pub fn new(iface: &RedisInterface) -> Self {
        Self {
            iface: iface.clone(),
            inline_limit: DEFAULT_INLINE_LIMIT,
            db: iface.client().get_connection_info().redis_settings().db(),
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
    /// atomic step (one round trip).
    ///
    /// A pooled connection broken by a Redis restart is replaced and the publish is tried
    /// once more on a fresh connection.
    pub fn publish<T: ReemMarshal>(&self, topic: &str, value: &T) -> Result<()> {
        let channel = frame::channel(self.db, topic);
        // Encoded as for a large message first, straight into the bytes sent (each array
        // copied once); a small message is then sent again with itself in the notification,
        // which costs little because it is small.
        let mut packed = Vec::new();
        stamp_command(&mut packed, topic, &channel, b"");
        let fields_start = packed.len();
        let Some(hsets) = value.write_packed(topic, &mut packed)? else {
            let pipe = if T::stores_one_hash() {
                one_hash(topic, &channel, value)?
            } else {
                marshalled(topic, &channel, value)?
            };
            return self.run(topic, |c| pipe.query(c));
        };
        // The RESP bytes overestimate the pairs' size a little: check exactly when close.
        if packed.len() - fields_start <= 2 * self.inline_limit {
            if let Some(body) = inline_body(&packed[fields_start..], self.inline_limit) {
                // The same transaction, with the whole message in the notification.
                let mut small = Vec::with_capacity(packed.len() + body.len() + 512);
                stamp_command(&mut small, topic, &channel, &body);
                small.extend_from_slice(&packed[fields_start..]);
                resp_command(&mut small, 1);
                resp_bulk(&mut small, b"EXEC");
                return self.iface.exec_packed(topic, &small, 1 + hsets);
            }
        }
        resp_command(&mut packed, 1);
        resp_bulk(&mut packed, b"EXEC");
        self.iface.exec_packed(topic, &packed, 1 + hsets)
    }

    /// Runs `op` on a pooled connection (which is retried once on a fresh connection if the
    /// pooled one was broken, e.g. by a Redis restart).
    fn run(&self, topic: &str, op: impl Fn(&mut Connection) -> RedisResult<()>) -> Result<()> {
        self.iface.with_connection(&op).map_err(|e| e.at_key(topic))
    }
}

/// The notification body of the pairs of the `HSET` commands in `hsets` (RESP bytes as
/// [`ReemMarshal::write_packed`] writes them), each name and value as `<length>:<bytes>`,
/// if they take at most `limit` bytes.
fn inline_body(hsets: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut rest = hsets;
    let mut pairs = Vec::new();
    while !rest.is_empty() {
        let (args, after) = resp_line(rest.strip_prefix(b"*")?)?;
        rest = after;
        for i in 0..args {
            let (len, after) = resp_line(rest.strip_prefix(b"$")?)?;
            let (arg, after) = (after.get(..len)?, after.get(len + 2..)?);
            rest = after;
            if i >= 2 {
                pairs.push(arg); // after `HSET` and the key
            }
        }
    }
    let size: usize = pairs.iter().map(|p| p.len()).sum();
    if size > limit {
        return None;
    }
    let mut body = Vec::with_capacity(size + 8 * pairs.len());
    for item in pairs {
        frame::put_item(&mut body, item);
    }
    Some(body)
}

/// The decimal number that starts `bytes`, ended by CRLF, and what follows it.
fn resp_line(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let end = bytes.iter().position(|b| *b == b'\r')?;
    let n = std::str::from_utf8(&bytes[..end]).ok()?.parse().ok()?;
    Some((n, bytes.get(end + 2..)?))
}

/// Appends `MULTI` and the [`PUBLISH_STAMP`] script call that opens a publish transaction;
/// the message's `HSET`s and `EXEC` follow.
fn stamp_command(out: &mut Vec<u8>, topic: &str, channel: &str, body: &[u8]) {
    resp_command(out, 1);
    resp_bulk(out, b"MULTI");
    resp_command(out, 6);
    for arg in [
        &b"EVAL"[..],
        PUBLISH_STAMP.as_bytes(),
        b"1",
        topic.as_bytes(),
        channel.as_bytes(),
        body,
    ] {
        resp_bulk(out, arg);
    }
}

/// The transaction for a hand-written marshaller that stores one hash
/// ([`ReemMarshal::stores_one_hash`]) but no packed form: the stamp script, then its
/// [`write_fields`](ReemMarshal::write_fields) in an `HSET` (subscribers read the key).
fn one_hash<T: ReemMarshal>(topic: &str, channel: &str, value: &T) -> Result<Pipeline> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("EVAL")
        .arg(PUBLISH_STAMP)
        .arg(1)
        .arg(topic)
        .arg(channel)
        .arg("")
        .ignore();
    pipe.cmd("HSET").arg(topic);
    if !value.write_fields(topic, &mut pipe)? {
        return Err(Error::Encode {
            key: topic.to_owned(),
            field: String::new(),
            reason: "a marshaller that stores one hash must fill write_fields".to_owned(),
        });
    }
    pipe.ignore();
    Ok(pipe)
}

/// The transaction for a marshaller that stores something else than one hash: its own
/// `write`, then the count and notification of [`NOTIFY_MARSHALLED`].
fn marshalled<T: ReemMarshal>(topic: &str, channel: &str, value: &T) -> Result<Pipeline> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    value.write(topic, &mut pipe)?;
    pipe.cmd("EVAL")
        .arg(NOTIFY_MARSHALLED)
        .arg(1)
        .arg(companion_key(topic))
        .arg(channel)
        .ignore();
    Ok(pipe)
}

/// Lua that sets `seq` and `epoch` to the next stamp of the hash at `KEYS[1]`: one more than
/// its `@seq` in the same `@epoch`, or 1 in a new epoch (the server's clock in microseconds)
/// when the key holds no stamp (or no hash at all).
macro_rules! next_stamp {
    () => {
        r"
local k = KEYS[1]
local h = redis.pcall('HMGET', k, '@seq', '@epoch')
local seq, epoch = tonumber(h[1]), h[2]
if seq and epoch then
  seq = seq + 1
else
  local t = redis.call('TIME')
  seq, epoch = 1, t[1] .. string.format('%06d', tonumber(t[2]))
end
seq = string.format('%d', seq)
redis.call('UNLINK', k)
"
    };
}

/// `KEYS[1]` = topic, `ARGV[1]` = channel, `ARGV[2]` = the notification body (empty for a
/// large message). First command of a publish transaction: replaces the message by its
/// next stamp and publishes the stamp, with the whole message inline (mode `h`) when a body
/// is given, else alone (mode `k`: subscribers read the key). The fields follow in `HSET`s
/// of the same transaction, before any subscriber can read. The fields never pass through
/// Lua (marshalling them as script arguments cost more than all the rest). Sent whole
/// (`EVAL`): inside MULTI/EXEC, a script the server does not know yet would fail alone
/// while the `HSET`s went ahead.
const PUBLISH_STAMP: &str = concat!(
    next_stamp!(),
    r"
redis.call('HSET', k, '@seq', seq, '@epoch', epoch)
if #ARGV[2] > 0 then
  redis.call('PUBLISH', ARGV[1], 'reem1 h ' .. epoch .. ' ' .. seq .. '\n' .. ARGV[2])
else
  redis.call('PUBLISH', ARGV[1], 'reem1 k ' .. epoch .. ' ' .. seq .. '\n')
end
"
);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_body_takes_the_pairs_of_every_hset() {
        let mut hsets = Vec::new();
        for args in [
            &[&b"HSET"[..], b"k", b"a", b"1", b"b", b""][..],
            &[b"HSET", b"k", b"big", b"xyz"],
        ] {
            resp_command(&mut hsets, args.len());
            args.iter().for_each(|a| resp_bulk(&mut hsets, a));
        }
        assert_eq!(inline_body(&hsets, 100).unwrap(), b"1:a1:11:b0:3:big3:xyz");
        assert_eq!(inline_body(&hsets, 7), None, "over the limit");
        assert_eq!(inline_body(b"*2\r\n$4\r\nHSET", 100), None, "truncated");
    }
}
