//! `reem ls`: the reem messages and topics of a Redis, one line each.
//!
//! Keys are walked with `SCAN` (never `KEYS`, which blocks the server), a few hundred at a
//! time; each batch is described in one pipelined round trip: `TYPE`, `HMGET` of the
//! reserved fields and `MEMORY USAGE` per key. A key that holds anything but a reem message
//! never stops the listing: it is counted (and listed with `--all`), and a reem message
//! whose schema is broken is listed with the reason.

use std::collections::HashSet;
use std::io::Write;

use redis::Value;
use reem::dynamic;
use reem::marshal::{Commands, HashView, FINGERPRINT_FIELD, LABEL_FIELD, SCHEMA_FIELD};
use reem::{NodeReads, RedisInterface};
use serde::Serialize;

use super::SEQ_FIELD;
use crate::args::LsArgs;
use crate::fail::Result;
use crate::out::{printable, show_key, Palette};

#[derive(Debug, Serialize)]
struct Entry {
    key: String,
    #[serde(skip)]
    raw_key: Vec<u8>,
    /// `message`, `topic`, `custom` (a hand-written marshaller's hash: a label, no schema),
    /// `broken`, or the Redis type of another program's key.
    kind: String,
    label: Option<String>,
    fields: Option<usize>,
    bytes: Option<u64>,
    seq: Option<u64>,
    problem: Option<String>,
}

impl Entry {
    fn is_reem(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "message" | "topic" | "broken" | "custom"
        )
    }
}

pub fn run(
    iface: &RedisInterface,
    args: &LsArgs,
    out: &mut impl Write,
    palette: Palette,
    note: &mut impl Write,
) -> Result {
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    iface.scan(&args.pattern, |keys, node| {
        // SCAN may return a key more than once.
        let fresh: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|k| seen.insert(k.clone()))
            .collect();
        if !fresh.is_empty() {
            entries.extend(describe(node, fresh)?);
        }
        Ok(())
    })?;
    entries.sort_by(|a, b| a.raw_key.cmp(&b.raw_key));
    let others = entries.iter().filter(|e| !e.is_reem()).count();
    if !args.all {
        entries.retain(Entry::is_reem);
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &entries).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        table(&entries, out, palette)?;
    }
    // The notes go to stderr: after the listing, also on a terminal.
    out.flush()?;
    if entries.is_empty() {
        writeln!(note, "no reem message matches {:?}", args.pattern)?;
    }
    if others > 0 && !args.all {
        writeln!(
            note,
            "{others} key{} that {} not reem messages left out (--all lists them)",
            if others == 1 { "" } else { "s" },
            if others == 1 { "is" } else { "are" },
        )?;
    }
    Ok(())
}

/// Describes a batch of keys (all on `node`) in one pipelined round trip.
fn describe(node: NodeReads<'_>, keys: Vec<Vec<u8>>) -> reem::Result<Vec<Entry>> {
    let mut cmds = Commands::new();
    for k in &keys {
        cmds.cmd("TYPE").arg(k);
        cmds.cmd("HMGET")
            .arg(k)
            .arg(LABEL_FIELD)
            .arg(FINGERPRINT_FIELD)
            .arg(SCHEMA_FIELD)
            .arg(SEQ_FIELD);
        cmds.cmd("MEMORY")
            .arg("USAGE")
            .arg(k)
            .arg("SAMPLES")
            .arg("0");
    }
    let replies = node.query(&cmds)?;
    Ok(keys
        .into_iter()
        .zip(replies.chunks(3))
        .filter_map(|(k, r)| entry(k, r))
        .collect())
}

/// One key's entry from its three replies; `None` if it vanished meanwhile.
fn entry(raw_key: Vec<u8>, replies: &[Value]) -> Option<Entry> {
    let [ty, reserved, memory] = replies else {
        return None;
    };
    let ty = text(ty)?;
    if ty == "none" {
        return None;
    }
    let bytes = match memory {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    };
    let key = String::from_utf8_lossy(&raw_key).into_owned();
    let mut e = Entry {
        key,
        raw_key,
        kind: ty.clone(),
        label: None,
        fields: None,
        bytes,
        seq: None,
        problem: None,
    };
    let Value::Array(values) = reserved else {
        return Some(e);
    };
    let names = [LABEL_FIELD, FINGERPRINT_FIELD, SCHEMA_FIELD, SEQ_FIELD];
    let pairs: Vec<(&[u8], &[u8])> = names
        .iter()
        .zip(values)
        .filter_map(|(n, v)| match v {
            Value::BulkString(b) => Some((n.as_bytes(), b.as_slice())),
            _ => None,
        })
        .collect();
    let view = HashView::from_pairs(pairs);
    let get = |f: &str| view.get(f.as_bytes());
    if ty != "hash"
        || [LABEL_FIELD, FINGERPRINT_FIELD, SCHEMA_FIELD]
            .iter()
            .all(|f| get(f).is_none())
    {
        return Some(e);
    }
    e.label = get(LABEL_FIELD).map(|l| String::from_utf8_lossy(l).into_owned());
    e.seq = get(SEQ_FIELD)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok());
    let topic = get(SEQ_FIELD).is_some();
    if e.label.is_some() && get(SCHEMA_FIELD).is_none() {
        // A registered hand-written marshaller ("ship") tags its hash with a label only.
        e.kind = "custom".to_owned();
        return Some(e);
    }
    match dynamic::read_schema(&e.key, &view) {
        Ok(schema) => {
            e.kind = if topic { "topic" } else { "message" }.to_owned();
            e.label.get_or_insert(schema.label);
            e.fields = Some(schema.fields.len());
        }
        Err(err) => {
            e.kind = "broken".to_owned();
            let text = err.to_string();
            let prefix = format!("key {:?}: ", e.key);
            e.problem = Some(text.strip_prefix(&prefix).unwrap_or(&text).to_owned());
        }
    }
    Some(e)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::SimpleString(s) => Some(s.clone()),
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

/// The listing for people: aligned columns, numbers to the right.
fn table(entries: &[Entry], out: &mut impl Write, p: Palette) -> std::io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let dash = || "-".to_owned();
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                show_key(&e.raw_key),
                e.kind.clone(),
                e.label
                    .as_deref()
                    .map_or_else(dash, |l| printable(l).into_owned()),
                e.fields.map_or_else(dash, |n| n.to_string()),
                e.bytes.map_or_else(dash, |n| n.to_string()),
                e.seq.map_or_else(dash, |n| n.to_string()),
            ]
        })
        .collect();
    let header = ["KEY", "KIND", "LABEL", "FIELDS", "BYTES", "SEQ"].map(str::to_owned);
    let right = [false, false, false, true, true, true];
    let mut width = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(60);
        }
    }
    // Pads each cell, then paints it (escape codes have no width).
    let line = |cells: &[String; 6], paint: &dyn Fn(usize, &str) -> String| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(width[i].saturating_sub(cell.chars().count()));
            if i > 0 {
                s.push_str("  ");
            }
            let painted = paint(i, cell);
            if right[i] {
                s.push_str(&pad);
                s.push_str(&painted);
            } else {
                s.push_str(&painted);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(&header, &|_, c| p.strong(c)))?;
    for (row, e) in rows.iter().zip(entries) {
        let mut s = line(row, &|i, c| match (i, e.kind.as_str()) {
            (0, _) => p.name(c),
            (1, "topic") => p.good(c),
            (1, "broken") => p.bad(c),
            (1, "message") => c.to_owned(),
            (1, _) => p.dim(c),
            _ => c.to_owned(),
        });
        if let Some(problem) = &e.problem {
            s.push_str("  ");
            s.push_str(&p.bad(&printable(problem)));
        }
        writeln!(out, "{s}")?;
    }
    Ok(())
}
