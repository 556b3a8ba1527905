//! `reem echo`: every message of a topic as it arrives.

use std::io::Write;
use std::time::{Duration, Instant};

use reem::RedisInterface;

use crate::args::EchoArgs;
use crate::fail::{Code, Failure, Result};
use crate::listen::{seconds, subscribe, Heard};
use crate::out::{printable, show_key, Palette, Table, View};

/// How long one wait for a message lasts before the loop looks at the counters again.
const POLL: Duration = Duration::from_millis(500);

pub fn run(
    iface: &RedisInterface,
    args: &EchoArgs,
    out: &mut impl Write,
    view: View,
    err: &mut impl Write,
    err_palette: Palette,
) -> Result {
    if args.full {
        listen::<true>(iface, args, out, view, err, err_palette)
    } else {
        listen::<false>(iface, args, out, view, err, err_palette)
    }
}

fn listen<const FULL: bool>(
    iface: &RedisInterface,
    args: &EchoArgs,
    out: &mut impl Write,
    view: View,
    err: &mut impl Write,
    ep: Palette,
) -> Result {
    let timeout = seconds(args.timeout)?;
    let sub = subscribe::<Heard<FULL>>(iface, &args.topic, args.new)?;
    let limit = if args.once { Some(1) } else { args.count };
    let mut printed = 0u64;
    let (mut missed, mut undecoded) = (0, 0);
    let mut last_heard = Instant::now();
    loop {
        let deadline = timeout.map(|t| last_heard + t);
        let wait = deadline.map_or(POLL, |d| {
            d.saturating_duration_since(Instant::now()).min(POLL)
        });
        let heard = sub.recv_timeout(wait)?;
        let c = sub.counters();
        // Notes go to stderr, in order with the messages printed so far.
        out.flush()?;
        let now_missed = c.skipped + c.dropped;
        if now_missed > missed {
            writeln!(
                err,
                "{}",
                ep.dim(&format!(
                    "topic {:?}: {} message(s) not shown (replaced before they were read, or \
                     published faster than printed)",
                    args.topic,
                    now_missed - missed
                ))
            )?;
            missed = now_missed;
        }
        // Notifications the subscriber itself could not use (malformed, unreadable key).
        if c.decode_errors > undecoded {
            let why = sub.last_decode_error().unwrap_or_default();
            writeln!(
                err,
                "{} {} message(s) could not be read: {}",
                ep.bad("error:"),
                c.decode_errors - undecoded,
                printable(&why)
            )?;
            undecoded = c.decode_errors;
        }
        let Some(heard) = heard else {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Failure::new(
                    Code::Timeout,
                    format!(
                        "topic {:?}: no message for {} s",
                        args.topic,
                        args.timeout.unwrap_or_default()
                    ),
                ));
            }
            continue;
        };
        last_heard = Instant::now();
        let seq = heard.seq.as_deref().unwrap_or("-");
        match &heard.decoded {
            Ok(msg) if args.json => {
                serde_json::to_writer(&mut *out, &msg.value).map_err(std::io::Error::from)?;
                writeln!(out)?;
            }
            Ok(msg) => {
                let p = view.palette;
                writeln!(
                    out,
                    "{} {}  {}  {}",
                    p.dim("---"),
                    p.strong(&show_key(args.topic.as_bytes())),
                    p.good(&printable(&msg.label)),
                    p.dim(&format!("seq {seq}"))
                )?;
                let mut table = Table::default();
                view.rows("", &msg.value, &mut table);
                table.write(out, "  ", |n| p.name(n))?;
            }
            Err(f) if limit == Some(1) => {
                return Err(Failure::new(f.code, format!("seq {seq}: {}", f.message)))
            }
            Err(f) => writeln!(
                err,
                "{} seq {seq}: {}",
                ep.bad("error:"),
                printable(&f.message)
            )?,
        }
        out.flush()?;
        printed += 1;
        if limit.is_some_and(|n| printed >= n) {
            return Ok(());
        }
    }
}
