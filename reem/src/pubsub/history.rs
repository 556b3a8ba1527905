//! A topic's history: the last messages of a topic kept in a bounded Redis Stream next to
//! it, appended by the publish transaction, read by subscribers (start with the last `k`,
//! fill the gap after a reconnection) and by recorders.
//!
//! The stream is `{T}@history` (or `T@history` when `T` has a hash tag: the same cluster
//! slot as the topic's key). Each entry holds exactly the stored hash of one message, its
//! stamp (`@pub`, `@seq`) included, as field/value pairs; its ID is given by the server
//! (`*`), so its first part is the server's time of the publish, in milliseconds.
//! `docs/FORMAT.md` ("Topic history") specifies it.

use redis::Value;

use super::frame::{self, Stamp};
use super::hub::load;
use super::link::Link;
use super::member::Member;
use super::names;
use super::sequence::Arrival;
use crate::error::{Error, Result};
use crate::marshal::Commands;

/// The key suffix of a topic's history stream.
pub const HISTORY_SUFFIX: &str = "@history";

/// Entries read per `XRANGE` / `XREVRANGE` when walking a history: a page of large
/// messages (1 MiB images) stays a few tens of MiB.
pub(crate) const PAGE: usize = 16;

/// At most this many entries are walked back to find where a reconnected subscriber left
/// off: a bound on the work a hostile or huge stream can cause.
const RECOVER_LIMIT: usize = 100_000;

/// The key of `topic`'s history stream, in the topic's cluster slot (`cluster`: refused for
/// a topic with braces but no hash tag, as for the companion `{T}@stamp` key).
pub fn history_key(topic: &str, cluster: bool) -> Result<String> {
    names::same_slot_key(topic, HISTORY_SUFFIX, cluster)
}

/// Appends `XADD <history> MAXLEN ~ <n> * <pairs>` to a publish transaction, the pairs being
/// every field and value the transaction stores in the topic's hash (its `HSET`s on
/// `topic`, stamp included), without copying large values again.
pub(crate) fn append(
    cmds: &mut Commands<'_>,
    topic: &str,
    n: usize,
    one_hash: bool,
    cluster: bool,
) -> Result<()> {
    if !one_hash {
        return Err(Error::Encode {
            key: topic.to_owned(),
            field: String::new(),
            reason: "a topic history keeps messages stored as one hash; this type's \
                     hand-written marshaller stores something else (publish it without \
                     history)"
                .to_owned(),
        });
    }
    let key = history_key(topic, cluster)?;
    let hsets: Vec<usize> = cmds
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is("HSET") && c.args().next() == Some(topic.as_bytes()))
        .map(|(i, _)| i)
        .collect();
    cmds.cmd("XADD")
        .arg(key)
        .arg("MAXLEN")
        .arg("~")
        .arg(itoa::Buffer::new().format(n))
        .arg("*");
    for i in hsets {
        cmds.repeat_args(i, 1);
    }
    Ok(())
}

/// A stream entry ID: milliseconds (server time of the `XADD`) and a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    /// The server's Unix time of the append, in milliseconds.
    pub ms: u64,
    /// The entry's number within that millisecond.
    pub seq: u64,
}

impl EntryId {
    /// Parses `<ms>-<seq>`.
    pub fn parse(text: &[u8]) -> Option<EntryId> {
        let text = std::str::from_utf8(text).ok()?;
        let (ms, seq) = text.split_once('-')?;
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// `(<ms>-<seq>`: the exclusive bound of `XRANGE` after (or `XREVRANGE` before) this ID.
    pub fn exclusive(&self) -> String {
        format!("({}-{}", self.ms, self.seq)
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One history entry: its ID and the message hash, shaped like the reply to `HGETALL`.
#[derive(Debug)]
pub struct Entry {
    /// The stream entry ID (server time of the publish).
    pub id: EntryId,
    /// The message's fields and values, a flat [`Value::Array`] as `HGETALL` returns.
    pub hash: Value,
}

impl Entry {
    /// The stamp stored in the entry, if it has a valid one.
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        frame::stamp_in(&self.hash)
    }

    /// The publisher id and sequence number stored in the entry.
    pub fn publisher_seq(&self) -> Option<(u64, u64)> {
        self.stamp().map(|s| (s.publisher, s.seq))
    }
}

/// The entries of a reply to `XRANGE` / `XREVRANGE`, in the reply's order. Entries that are
/// not shaped as the server sends them (untrusted bytes) are left out; a server error is
/// an error naming `key`.
pub fn entries(key: &str, reply: Value) -> Result<Vec<Entry>> {
    let items = match reply {
        Value::Array(items) => items,
        Value::Nil => return Ok(Vec::new()),
        Value::ServerError(e) => return Err(Error::from_server_error(key, &e)),
        _ => return Ok(Vec::new()),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(parts) = item else { continue };
        let mut parts = parts.into_iter();
        let (Some(Value::BulkString(id)), Some(fields)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(id) = EntryId::parse(&id) else {
            continue;
        };
        let hash = match fields {
            Value::Array(f) if f.len() % 2 == 0 => Value::Array(f),
            Value::Map(m) => Value::Array(m.into_iter().flat_map(|(k, v)| [k, v]).collect()),
            _ => continue,
        };
        out.push(Entry { id, hash });
    }
    Ok(out)
}

/// Brings `member` up to date after it (re)subscribed. The subscription is already
/// active, so what is published from now on is announced; what came before is read here:
/// when the member asked for history and the topic has one, the entries it has not seen
/// (the last `k` at start, the gap after a reconnection), in order, up to the stream's end
/// at the time of reading; otherwise (or when the history is empty) the stored latest
/// message. Reading the latest message after the history would jump over messages whose
/// notifications are still on their way; the sequence numbers keep anything from being
/// delivered twice at the seam.
pub(crate) async fn catch_up(link: &mut Link, member: &dyn Member) -> Result<()> {
    let k = member.history();
    if k > 0 {
        match replay(link, member, k).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(topic = %member.topic(), error = %e, "reem subscriber: reading the topic's history failed")
            }
        }
    }
    load(link, member, Arrival::Load).await
}

/// Offers `member` the history entries it misses: walks back from the newest entry to the
/// first one it already has (at most `k` entries when it has none yet, at most
/// [`RECOVER_LIMIT`] otherwise); when they fit in one page ([`PAGE`]) they are offered as
/// read (one round trip for a start with `k <= PAGE` or a short gap), else it reads forward
/// from there to the end, a page at a time. False when the history is empty (or absent).
async fn replay(link: &mut Link, member: &dyn Member, k: usize) -> Result<bool> {
    let topic = member.topic().to_owned();
    let key = history_key(&topic, link.is_cluster())?;
    let fresh = !member.has_seen_any();
    let limit = if fresh { k } else { RECOVER_LIMIT.max(k) };
    let read = |cmd: &str, a: &str, b: &str, count: usize| {
        let mut cmds = Commands::new();
        cmds.cmd(cmd)
            .arg(&key)
            .arg(a)
            .arg(b)
            .arg("COUNT")
            .arg(itoa::Buffer::new().format(count));
        cmds
    };
    // Walk back: find where the forward read starts. The entries walked past are the ones
    // to deliver: while they fit in one page they are kept, and delivered from here without
    // reading the same (possibly large) messages a second time.
    let mut walked = 0usize;
    let mut oldest: Option<EntryId> = None;
    let mut after_known: Option<EntryId> = None;
    let mut kept: Option<Vec<Entry>> = Some(Vec::new());
    'back: while walked < limit {
        let count = PAGE.min(limit - walked);
        let end = oldest.map_or_else(|| "+".to_owned(), |id| id.exclusive());
        let cmds = read("XREVRANGE", &end, "-", count);
        let reply = link.run(&topic, &cmds, false).await?.pop();
        let page = entries(&key, reply.unwrap_or(Value::Nil))?;
        let last_page = page.len() < count;
        for entry in page {
            if !fresh && entry.stamp().is_some_and(|s| member.knows(s)) {
                after_known = Some(entry.id);
                break 'back;
            }
            walked += 1;
            oldest = Some(entry.id);
            match &mut kept {
                Some(k) if k.len() < PAGE => k.push(entry),
                _ => kept = None,
            }
        }
        if last_page {
            break;
        }
    }
    let mut from = match (after_known, oldest) {
        (Some(known), _) => known.exclusive(),
        (None, Some(oldest)) => oldest.to_string(),
        (None, None) => return Ok(false),
    };
    if let Some(kept) = kept {
        // Up to the stream's end when it was read, as the forward read below: what came
        // after is announced (the subscription is already active).
        for entry in kept.into_iter().rev() {
            member.offer(entry.stamp(), Arrival::History, entry.hash);
        }
        return Ok(true);
    }
    // Forward to the end (bounded: a stream written faster than it is read is left to the
    // live notifications after this many).
    let mut budget = limit.saturating_add(RECOVER_LIMIT);
    while budget > 0 {
        let cmds = read("XRANGE", &from, "+", PAGE);
        let reply = link.run(&topic, &cmds, false).await?.pop();
        let page = entries(&key, reply.unwrap_or(Value::Nil))?;
        let full = page.len() == PAGE;
        let Some(last) = page.last().map(|e| e.id) else {
            break;
        };
        budget = budget.saturating_sub(page.len());
        for entry in page {
            let stamp = entry.stamp();
            member.offer(stamp, Arrival::History, entry.hash);
        }
        if !full {
            break;
        }
        from = last.exclusive();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_shares_the_topics_slot() {
        assert_eq!(
            history_key("robot/pose", true).unwrap(),
            "{robot/pose}@history"
        );
        assert_eq!(history_key("{r1}/pose", true).unwrap(), "{r1}/pose@history");
    }

    #[test]
    fn the_entry_repeats_the_stored_pairs() {
        let big = vec![7u8; 5000];
        let mut cmds = Commands::new();
        cmds.cmd("MULTI");
        cmds.cmd("UNLINK").arg("t");
        cmds.cmd("HSET")
            .arg("t")
            .arg("@label")
            .arg("L")
            .arg("x")
            .arg("1");
        cmds.cmd("HSET")
            .arg("t")
            .arg("a.arr")
            .arg_large(std::borrow::Cow::Borrowed(&big));
        cmds.cmd("HSET").arg("other").arg("y").arg("2");
        cmds.cmd("HSET")
            .arg("t")
            .arg("@pub")
            .arg("p")
            .arg("@seq")
            .arg("3");
        append(&mut cmds, "t", 100, true, false).unwrap();
        let xadd = cmds.last().unwrap();
        let parts: Vec<&[u8]> = xadd.parts().collect();
        assert_eq!(
            &parts[..6],
            &[&b"XADD"[..], b"{t}@history", b"MAXLEN", b"~", b"100", b"*"]
        );
        assert_eq!(
            &parts[6..],
            &[
                &b"@label"[..],
                b"L",
                b"x",
                b"1",
                b"a.arr",
                &big[..],
                b"@pub",
                b"p",
                b"@seq",
                b"3"
            ]
        );
        assert!(append(&mut cmds, "t", 100, false, false).is_err());
    }

    #[test]
    fn malformed_entries_are_left_out() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            Value::Array(vec![bulk("5-1"), Value::Array(vec![bulk("x"), bulk("1")])]),
            Value::Array(vec![bulk("nope"), Value::Array(vec![])]),
            Value::Array(vec![bulk("6-0"), Value::Array(vec![bulk("odd")])]),
            bulk("garbage"),
        ]);
        let got = entries("t", reply).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, EntryId { ms: 5, seq: 1 });
        assert!(EntryId::parse(b"18446744073709551616-0").is_none());
    }
}
