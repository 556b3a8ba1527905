//! What a publish sends on the topic's channel, and the stamp of a message.
//!
//! A notification is one line of ASCII, `reem2 <mode> <publisher> <seq>\n`, followed for mode
//! `h` by the stored hash itself: every field name and value as `<length>:<bytes>`, in turn.
//! Everything here parses untrusted bytes: each length is checked against the bytes that are
//! really there before anything is allocated.

use redis::Value;

use crate::marshal::{PUBLISHER_FIELD, SEQ_FIELD};

const MAGIC: &[u8] = b"reem2 ";
/// Longest header accepted: the magic, a mode letter, 16 hex digits and a 20-digit number.
const MAX_HEADER: usize = 64;
/// Most digits a length or a number may have (`u64::MAX` has 20).
const MAX_DIGITS: usize = 20;

/// Where a message stands in its publisher's history.
///
/// Each [`PublishSpace`](crate::PublishSpace) has a random 64-bit id and numbers its
/// publishes on each topic from 1: two stamps of one publisher order its messages; stamps of
/// different publishers do not compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub publisher: u64,
    pub seq: u64,
}

impl Stamp {
    /// The publisher id as stored: 16 lowercase hex digits.
    pub(crate) fn publisher_hex(&self) -> String {
        format!("{:016x}", self.publisher)
    }

    /// The notification header of a message with this stamp, sent in `mode`.
    pub(crate) fn header(&self, mode: Mode) -> Vec<u8> {
        let letter = match mode {
            Mode::Inline => 'h',
            Mode::ReadKey => 'k',
            Mode::ReadMarshalled => 'm',
        };
        format!(
            "reem2 {letter} {} {}\n",
            self.publisher_hex(),
            itoa::Buffer::new().format(self.seq)
        )
        .into_bytes()
    }
}

/// How a subscriber gets the message a notification announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `h`: the stored hash travels in the notification.
    Inline,
    /// `k`: read the hash at the topic's key (`HGETALL`).
    ReadKey,
    /// `m`: read with the marshaller's own `read`; the stamp is kept next to the message.
    ReadMarshalled,
}

/// A parsed notification, borrowing the payload.
#[derive(Debug)]
pub(crate) struct Notification<'a> {
    pub mode: Mode,
    pub stamp: Stamp,
    /// For [`Mode::Inline`]: the encoded fields (see [`inline_hash`]); empty otherwise.
    pub body: &'a [u8],
}

/// Parses the header of a notification.
pub(crate) fn parse(payload: &[u8]) -> Result<Notification<'_>, String> {
    let rest = payload
        .strip_prefix(MAGIC)
        .ok_or("not a reem notification (no `reem2` header)")?;
    let end = rest
        .iter()
        .take(MAX_HEADER)
        .position(|&b| b == b'\n')
        .ok_or("the notification header has no end of line")?;
    let (header, body) = (&rest[..end], &rest[end + 1..]);
    let mut parts = header.split(|&b| b == b' ');
    let mode = match parts.next() {
        Some(b"h") => Mode::Inline,
        Some(b"k") => Mode::ReadKey,
        Some(b"m") => Mode::ReadMarshalled,
        _ => return Err("unknown notification mode".to_owned()),
    };
    let publisher = parts.next().and_then(hex64).ok_or("bad publisher id")?;
    let seq = parts.next().and_then(number).ok_or("bad sequence number")?;
    if parts.next().is_some() {
        return Err("extra words in the notification header".to_owned());
    }
    if mode != Mode::Inline && !body.is_empty() {
        return Err("unexpected bytes after the notification header".to_owned());
    }
    Ok(Notification {
        mode,
        stamp: Stamp { publisher, seq },
        body,
    })
}

/// Appends one item of an inline notification's body: `<length>:<bytes>`.
pub(crate) fn put_item(body: &mut Vec<u8>, item: &[u8]) {
    body.extend_from_slice(itoa::Buffer::new().format(item.len()).as_bytes());
    body.push(b':');
    body.extend_from_slice(item);
}

/// Turns the body of an inline notification into the reply `HGETALL` would have given
/// (a flat array of field names and values), which any hash marshaller's `interpret_read`
/// decodes. Copies the bytes once.
pub(crate) fn inline_hash(mut body: &[u8]) -> Result<Value, String> {
    let mut items = Vec::new();
    while !body.is_empty() {
        let colon = body
            .iter()
            .take(MAX_DIGITS + 1)
            .position(|&b| b == b':')
            .ok_or("an item has no length")?;
        let len = number(&body[..colon]).ok_or("an item has a bad length")?;
        let rest = &body[colon + 1..];
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= rest.len())
            .ok_or_else(|| format!("an item claims {len} bytes, only {} are there", rest.len()))?;
        items.push(Value::BulkString(rest[..len].to_vec()));
        body = &rest[len..];
    }
    if items.is_empty() || items.len() % 2 != 0 {
        return Err(format!(
            "the message holds {} items, not field/value pairs",
            items.len()
        ));
    }
    Ok(Value::Array(items))
}

/// The stamp stored in a hash reply (`@pub` and `@seq`), if it has a valid one.
pub(crate) fn stamp_in(reply: &Value) -> Option<Stamp> {
    let (mut seq, mut publisher) = (None, None);
    let mut see = |name: &Value, value: &Value| {
        if let (Value::BulkString(name), Value::BulkString(value)) = (name, value) {
            if name == SEQ_FIELD.as_bytes() {
                seq = number(value);
            } else if name == PUBLISHER_FIELD.as_bytes() {
                publisher = hex64(value);
            }
        }
    };
    match reply {
        Value::Array(items) => items.chunks_exact(2).for_each(|p| see(&p[0], &p[1])),
        Value::Map(items) => items.iter().for_each(|(k, v)| see(k, v)),
        _ => {}
    }
    Some(Stamp {
        publisher: publisher?,
        seq: seq?,
    })
}

/// The stamp in the reply to `HMGET <companion> @pub @seq` (hand-written marshallers).
pub(crate) fn stamp_of_pair(reply: &Value) -> Option<Stamp> {
    match reply {
        Value::Array(items) => match items.as_slice() {
            [Value::BulkString(publisher), Value::BulkString(seq)] => Some(Stamp {
                publisher: hex64(publisher)?,
                seq: number(seq)?,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// True for the reply to reading a key that does not exist.
pub(crate) fn is_absent(reply: &Value) -> bool {
    match reply {
        Value::Nil => true,
        Value::Array(items) => items.is_empty(),
        Value::Map(items) => items.is_empty(),
        _ => false,
    }
}

/// Exactly 16 hex digits (lowercase or uppercase), nothing else.
fn hex64(text: &[u8]) -> Option<u64> {
    if text.len() != 16 || !text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(text).ok()?, 16).ok()
}

/// A decimal number of at most 20 digits, nothing else.
fn number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > MAX_DIGITS || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(items: &[&[u8]]) -> Value {
        Value::Array(
            items
                .iter()
                .map(|b| Value::BulkString(b.to_vec()))
                .collect(),
        )
    }

    #[test]
    fn inline_notification_parses_into_a_hash_reply() {
        let n = parse(b"reem2 h 00000000000000ff 42\n6:@label1:x1:x3:1.5").unwrap();
        assert_eq!(n.mode, Mode::Inline);
        assert_eq!(
            n.stamp,
            Stamp {
                publisher: 255,
                seq: 42
            }
        );
        assert_eq!(
            inline_hash(n.body).unwrap(),
            bulk(&[b"@label", b"x", b"x", b"1.5"])
        );
    }

    #[test]
    fn items_written_are_items_read() {
        let mut body = Vec::new();
        for item in [&b"@label"[..], b"x", b"", b"1:2\n"] {
            put_item(&mut body, item);
        }
        assert_eq!(body, b"6:@label1:x0:4:1:2\n");
        assert_eq!(
            inline_hash(&body).unwrap(),
            bulk(&[b"@label", b"x", b"", b"1:2\n"])
        );
    }

    #[test]
    fn values_may_hold_any_bytes() {
        let v = inline_hash(b"1:a4:\n:\x0011:b0:").unwrap();
        assert_eq!(v, bulk(&[b"a", b"\n:\x001", b"b", b""]));
    }

    #[test]
    fn read_modes_carry_no_body() {
        const P: &str = "0123456789abcdef";
        let k = format!("reem2 k {P} 2\n");
        assert_eq!(parse(k.as_bytes()).unwrap().mode, Mode::ReadKey);
        let m = format!("reem2 m {P} 2\n");
        assert_eq!(parse(m.as_bytes()).unwrap().mode, Mode::ReadMarshalled);
        assert!(parse(format!("reem2 k {P} 2\nextra").as_bytes()).is_err());
        let stamp = Stamp {
            publisher: 0x0123456789abcdef,
            seq: 2,
        };
        assert_eq!(stamp.header(Mode::ReadKey), k.as_bytes());
        assert_eq!(parse(&stamp.header(Mode::Inline)).unwrap().stamp, stamp);
    }

    #[test]
    fn hostile_notifications_are_errors() {
        for bad in [
            &b""[..],
            b"garbage",
            b"reem2 ",
            b"reem1 h 00000000000000ff 2\n1:a1:b",
            b"reem2 h 00000000000000ff 2",
            b"reem2 x 00000000000000ff 2\n",
            b"reem2 h ff 2\n",
            b"reem2 h 00000000000000fg 2\n",
            b"reem2 h 000000000000000ff 2\n",
            b"reem2 h 00000000000000ff -2\n",
            b"reem2 h 00000000000000ff +2\n",
            b"reem2 h 00000000000000ff 99999999999999999999999\n",
            b"reem2 h 00000000000000ff 2 3\n",
            b"reem2 h 00000000000000ff 2\n",
            b"reem2 h 00000000000000ff 2\r\n",
        ] {
            let parsed = parse(bad).and_then(|n| inline_hash(n.body));
            assert!(parsed.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        for bad in [
            &b"3:ab"[..],
            b"1:a",
            b"99999999999999999999:x",
            b"18446744073709551615:x1:y",
            b"x:1",
            b"1:a1",
        ] {
            assert!(
                inline_hash(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn stamp_is_read_from_a_stored_hash() {
        let reply = bulk(&[b"x", b"1", b"@seq", b"7", b"@pub", b"0000000000000063"]);
        assert_eq!(
            stamp_in(&reply),
            Some(Stamp {
                publisher: 99,
                seq: 7
            })
        );
        let forged = bulk(&[b"@seq", b"9007199254740992", b"@pub", b"0000000000000063\n"]);
        assert_eq!(
            stamp_in(&forged),
            None,
            "a stored id must be exactly 16 hex digits"
        );
        assert_eq!(stamp_in(&bulk(&[b"x", b"1"])), None);
        assert_eq!(
            stamp_in(&bulk(&[b"@seq", b"x", b"@pub", b"0000000000000001"])),
            None
        );
        assert_eq!(
            stamp_of_pair(&bulk(&[b"0000000000000005", b"3"])),
            Some(Stamp {
                publisher: 5,
                seq: 3
            })
        );
        assert_eq!(
            stamp_of_pair(&Value::Array(vec![Value::Nil, Value::Nil])),
            None
        );
    }
}
