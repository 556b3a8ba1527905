//! `reem info`: what an MCAP recording holds, like `ros2 bag info`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use reem::record::{Info, Recording};
use serde_json::json;

use super::record::file_failure;
use crate::fail::{Code, Failure, Result};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The MCAP file
    pub file: PathBuf,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InfoArgs, out: &mut impl Write) -> Result {
    let info = Recording::open(&args.file).map_err(file_failure)?.info();
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &as_json(&info)).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        table(&info, out)?;
    }
    match &info.damage {
        None => Ok(()),
        Some(d) => Err(Failure::new(
            Code::Damaged,
            format!(
                "{} is damaged {d} (of {} bytes); the {} message{} before it {} read",
                args.file.display(),
                info.size,
                info.messages,
                if info.messages == 1 { "" } else { "s" },
                if info.messages == 1 { "was" } else { "were" },
            ),
        )),
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn duration(info: &Info) -> f64 {
    match (info.start, info.end) {
        (Some(s), Some(e)) => seconds(e.saturating_sub(s)),
        _ => 0.0,
    }
}

fn table(info: &Info, out: &mut impl Write) -> Result {
    let d = duration(info);
    writeln!(out, "File:      {}", info.path.display())?;
    writeln!(out, "Size:      {}", size(info.size))?;
    writeln!(out, "Duration:  {d:.3} s")?;
    if let (Some(s), Some(e)) = (info.start, info.end) {
        writeln!(out, "Start:     {} ({:.6})", utc(s), seconds(s))?;
        writeln!(out, "End:       {} ({:.6})", utc(e), seconds(e))?;
    }
    writeln!(out, "Messages:  {}", info.messages)?;
    match &info.damage {
        None => writeln!(out, "Damage:    none (read to the end)")?,
        Some(dmg) => writeln!(out, "Damage:    {dmg}; everything before it was read")?,
    }
    writeln!(out, "Topics:")?;
    let width = info.topics.iter().map(|t| t.topic.len()).max().unwrap_or(0);
    for t in &info.topics {
        let span = seconds(t.last.saturating_sub(t.first));
        let rate = if t.messages > 1 && span > 0.0 {
            format!("{:.1} Hz", (t.messages - 1) as f64 / span)
        } else {
            "-".to_owned()
        };
        writeln!(
            out,
            "  {:width$}  type {}  count {}  rate {}  size {}  encoding {}{}",
            t.topic,
            if t.label.is_empty() { "-" } else { &t.label },
            t.messages,
            rate,
            size(t.bytes),
            t.message_encoding,
            if t.gaps > 0 {
                format!("  sequence gaps {}", t.gaps)
            } else {
                String::new()
            },
        )?;
    }
    Ok(())
}

fn as_json(info: &Info) -> serde_json::Value {
    json!({
        "file": info.path.display().to_string(),
        "size": info.size,
        "messages": info.messages,
        "start_ns": info.start,
        "end_ns": info.end,
        "duration_s": duration(info),
        "damage": info.damage.as_ref().map(|d| json!({"offset": d.offset, "reason": d.reason})),
        "topics": info.topics.iter().map(|t| json!({
            "topic": t.topic,
            "type": t.label,
            "encoding": t.message_encoding,
            "count": t.messages,
            "bytes": t.bytes,
            "first_ns": t.first,
            "last_ns": t.last,
            "sequence_gaps": t.gaps,
        })).collect::<Vec<_>>(),
    })
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// `YYYY-MM-DD hh:mm:ss.mmm UTC` of a time in ns since the Unix epoch.
fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ns / 1_000_000 % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(
            utc(1_764_657_601_123_000_000),
            "2025-12-02 06:40:01.123 UTC"
        );
    }
}
