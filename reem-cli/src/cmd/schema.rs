//! `reem schema`: what a stored message says it holds.

use std::io::Write;

use reem::dynamic::{self, describe_type};
use reem::schema::{FieldSchema, FieldType};
use reem::RedisInterface;

use super::{fetch, message_hash};
use crate::args::SchemaArgs;
use crate::fail::Result;
use crate::out::{printable, show_key, Palette, Table};

pub fn run(iface: &RedisInterface, args: &SchemaArgs, out: &mut impl Write, p: Palette) -> Result {
    let reply = fetch(iface, &args.key)?;
    let hash = message_hash(&args.key, &reply)?;
    let schema = dynamic::read_schema(&args.key, &hash)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &schema).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}  {}  {}",
        p.strong(&show_key(args.key.as_bytes())),
        p.good(&printable(&schema.label)),
        p.dim(&format!(
            "schema {}, format {}, {} field{}",
            schema.fingerprint_hex,
            schema.format,
            schema.fields.len(),
            if schema.fields.len() == 1 { "" } else { "s" }
        ))
    )?;
    let mut table = Table::default();
    rows("", &schema.fields, &mut table, p);
    table.write(out, "  ", |n| p.name(n))?;
    Ok(())
}

/// One row per field; a list's element fields follow it as `NAME.*.field`.
fn rows(prefix: &str, fields: &[FieldSchema], table: &mut Table, p: Palette) {
    for f in fields {
        let name = match (prefix.is_empty(), f.name.is_empty()) {
            (true, true) => "value".to_owned(),
            (true, false) => f.name.clone(),
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{}", f.name),
        };
        let optional = if f.optional {
            format!("  {}", p.dim("optional"))
        } else {
            String::new()
        };
        match &f.ty {
            FieldType::List { items } => {
                table.push(name.clone(), format!("list{optional}"));
                let element = if prefix.is_empty() && f.name.is_empty() {
                    "*".to_owned()
                } else {
                    format!("{name}.*")
                };
                rows(&element, items, table, p);
            }
            ty => table.push(name, format!("{}{optional}", printable(&describe_type(ty)))),
        }
    }
}
