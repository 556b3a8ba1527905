//! `reem get`: one message, decoded with its stored schema.

use std::io::Write;

use reem::dynamic::{DynMessage, DynValue};
use reem::RedisInterface;

use super::{arrays, read_message};
use crate::args::GetArgs;
use crate::fail::{Code, Failure, Result};
use crate::out::{printable, show_key, Table, View};

pub fn run(iface: &RedisInterface, args: &GetArgs, out: &mut impl Write, view: View) -> Result {
    let stored = read_message(iface, &args.key, arrays(args.full))?;
    let msg = &stored.msg;
    let (name, value) = match &args.field {
        Some(path) => (path.as_str(), field(&args.key, msg, path)?),
        None => ("", &msg.value),
    };
    if args.json {
        serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    if args.field.is_some() && !is_group(value) {
        // One value alone, for `$(reem get KEY --field x)`: texts unquoted.
        match value {
            DynValue::String(s) => writeln!(out, "{s}")?,
            v => writeln!(out, "{}", view.scalar(v))?,
        }
        return Ok(());
    }
    let p = view.palette;
    let indent = if args.field.is_none() {
        let mut head = format!(
            "{}  {}  {}",
            p.strong(&show_key(args.key.as_bytes())),
            p.good(&printable(&msg.label)),
            p.dim(&format!("schema {}", msg.schema.fingerprint_hex))
        );
        if let Some(seq) = &stored.seq {
            head.push_str(&format!("  {}", p.dim(&format!("seq {seq}"))));
        }
        writeln!(out, "{head}")?;
        "  "
    } else {
        ""
    };
    let mut table = Table::default();
    view.rows(name, value, &mut table);
    table.write(out, indent, |n| p.name(n))?;
    Ok(())
}

/// The value at `path` (`value` names a message that is one scalar, array or list, as it is
/// stored), or a failure naming the key, the label and the path.
pub fn field<'m>(key: &str, msg: &'m DynMessage, path: &str) -> Result<&'m DynValue> {
    let whole = path == "value" && !matches!(msg.value, DynValue::Struct(_));
    let found = if whole {
        Some(&msg.value)
    } else {
        msg.value.get(path)
    };
    found.ok_or_else(|| {
        Failure::new(
            Code::NotFound,
            format!(
                "key {key:?}: its message ({}) has no field {path:?} (`reem schema {key}` lists them)",
                printable(&msg.label)
            ),
        )
    })
}

fn is_group(v: &DynValue) -> bool {
    matches!(v, DynValue::Struct(f) if !f.is_empty())
        || matches!(v, DynValue::List(i) if !i.is_empty())
        || matches!(v, DynValue::Custom { .. })
}
