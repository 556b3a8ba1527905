//! `reem set`: change scalar fields of a stored message, type-checked, atomically.
//!
//! Every `FIELD=VALUE` is checked against the message's stored schema before anything is
//! written: the field must exist, be a scalar (number, bool, char, string, enum, JSON) and be
//! stored (an optional field that is `None` cannot be set: its absence is part of the
//! value, and filling in one field of a `None` struct would leave it half there); the text
//! must fit the type and is stored exactly as the Rust encoder writes that value. Then one
//! Lua script writes all the fields, only if the message still has the fingerprint that was
//! checked and still stores every field. Values change, the schema does not, so `@fp`
//! stays valid and typed readers keep reading the message.

use std::io::Write;

use reem::dynamic;
use reem::marshal::FINGERPRINT_FIELD;
use reem::{KeyValueStore, RedisInterface};

use super::{fetch, message_hash};
use crate::args::SetArgs;
use crate::fail::{one_line, Code, Failure, Result};
use crate::out::{printable, Palette};

pub fn run(iface: &RedisInterface, args: &SetArgs, out: &mut impl Write, p: Palette) -> Result {
    let key = args.key.as_str();
    let reply = fetch(iface, key)?;
    let hash = message_hash(key, &reply)?;
    let schema = dynamic::read_schema(key, &hash)?;
    let fp = hash.get(FINGERPRINT_FIELD.as_bytes()).ok_or_else(|| {
        Failure::new(
            Code::NotReem,
            format!("key {key:?}: the message has no {FINGERPRINT_FIELD}, so it cannot be edited safely"),
        )
    })?;
    let refuse = |msg: String| {
        Failure::new(
            Code::Refused,
            format!("key {key:?}: {msg}; nothing was written"),
        )
    };
    let mut changes = Vec::new();
    for a in &args.assignments {
        let Some((field, text)) = a.split_once('=') else {
            return Err(Failure::new(
                Code::Usage,
                format!("{a:?} is not an assignment: write FIELD=VALUE, e.g. x=1.5"),
            ));
        };
        let change = dynamic::assignment(key, &schema, &hash, field, text).map_err(|r| {
            refuse(match r {
                dynamic::Refusal::UnknownField => format!(
                    "its message ({}) has no field {field:?} (`reem schema {key}` lists them)",
                    printable(&schema.label)
                ),
                dynamic::Refusal::NotStored => format!(
                    "field {field:?} is not stored (an optional field that is None, or a list \
                     element past the end): `reem set` changes stored values only"
                ),
                dynamic::Refusal::Value(e) => strip_key(key, &e.to_string()),
                _ => format!("field {field:?} cannot be set"),
            })
        })?;
        changes.push(change);
    }
    let pairs: Vec<(&str, &[u8])> = changes
        .iter()
        .map(|c| (c.stored.as_str(), c.new.as_slice()))
        .collect();
    write_checked(iface, key, fp, &pairs, &schema.fingerprint_hex)?;
    let width = changes
        .iter()
        .map(|c| c.field.chars().count())
        .max()
        .unwrap_or(0);
    for c in &changes {
        let pad = width - c.field.chars().count();
        writeln!(
            out,
            "{}{:pad$}  {} {} {}",
            p.name(&printable(&c.field)),
            "",
            p.dim(&brief(&String::from_utf8_lossy(&c.old))),
            p.dim("→"),
            brief(&String::from_utf8_lossy(&c.new)),
        )?;
    }
    Ok(())
}

/// Writes `pairs` into the message at `key` in one script, only if its `@fp` is still `fp`
/// and every field is still stored.
fn write_checked(
    iface: &RedisInterface,
    key: &str,
    fp: &[u8],
    pairs: &[(&str, &[u8])],
    fp_hex: &str,
) -> Result {
    let changed = |why: String| {
        Err(Failure::new(
            Code::Changed,
            format!("key {key:?}: {why} while it was being set; nothing was written"),
        ))
    };
    match KeyValueStore::new(iface).set_stored_fields(key, fp, pairs) {
        Ok(()) => Ok(()),
        Err(reem::Error::SchemaMismatch { stored, .. }) => changed(format!(
            "the message changed type (schema {fp_hex} became {stored})"
        )),
        Err(reem::Error::MissingField { field, .. }) => {
            changed(format!("the field {field:?} disappeared"))
        }
        Err(reem::Error::NotFound { .. }) | Err(reem::Error::WrongRedisType { .. }) => {
            changed("the message was deleted or replaced".to_owned())
        }
        Err(e) => Err(e.into()),
    }
}

/// A value shortened to one line of at most 60 characters, for the report.
fn brief(text: &str) -> String {
    let line = printable(&one_line(text)).into_owned();
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else {
        line
    }
}

/// An error text without its leading `key "…": `, for messages that name the key first.
fn strip_key(key: &str, text: &str) -> String {
    let prefix = format!("key {key:?}: ");
    text.strip_prefix(&prefix).unwrap_or(text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reem_server::RedisServer;

    fn hash(iface: &RedisInterface, key: &str, pairs: &[(&str, &str)]) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key);
        for (f, v) in pairs {
            cmd.arg(*f).arg(*v);
        }
        iface.raw_query(&cmd).unwrap();
    }

    fn field(iface: &RedisInterface, key: &str, f: &str) -> Option<String> {
        match iface.raw_query(redis::cmd("HGET").arg(key).arg(f)).unwrap() {
            redis::Value::BulkString(b) => Some(String::from_utf8(b).unwrap()),
            _ => None,
        }
    }

    #[test]
    fn the_script_writes_nothing_when_the_message_changed_meanwhile() {
        let server = RedisServer::start().unwrap();
        let iface = RedisInterface::new(&server.url()).unwrap();
        hash(
            &iface,
            "m",
            &[("@fp", "00000000000000aa"), ("x", "1"), ("y", "2")],
        );
        let err =
            write_checked(&iface, "m", b"00000000000000bb", &[("x", b"5")], "bb").unwrap_err();
        assert_eq!(err.code, Code::Changed, "{}", err.message);
        assert!(err.message.contains("changed type"), "{}", err.message);
        let err = write_checked(
            &iface,
            "m",
            b"00000000000000aa",
            &[("x", b"5"), ("z", b"1")],
            "aa",
        )
        .unwrap_err();
        assert_eq!(err.code, Code::Changed, "{}", err.message);
        assert!(err.message.contains("\"z\" disappeared"), "{}", err.message);
        assert_eq!(field(&iface, "m", "x").as_deref(), Some("1"));
        let err =
            write_checked(&iface, "gone", b"00000000000000aa", &[("x", b"5")], "aa").unwrap_err();
        assert_eq!(err.code, Code::Changed, "{}", err.message);
        write_checked(
            &iface,
            "m",
            b"00000000000000aa",
            &[("x", b"5"), ("y", b"6")],
            "aa",
        )
        .unwrap();
        assert_eq!(field(&iface, "m", "x").as_deref(), Some("5"));
        assert_eq!(field(&iface, "m", "y").as_deref(), Some("6"));
    }
}
