//! `reem play`: the messages of a recording published again, with their recorded timing,
//! like `ros2 bag play`.
//!
//! Messages are read from the file as a stream and published through a `PublishSpace`
//! (the same transaction as any publish: subscribers and `kv.get` see live data), each
//! when its log time says, relative to the first one played. A file's messages are in the
//! order they were written, which may differ a little from their log times (a recorder
//! reads topics in turns): they are put in log time order within a window of
//! [`REORDER`] of log time (and at most [`REORDER_BYTES`] held).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use reem::marshal::StoredHash;
use reem::record::{decode_hash, Recorded, Recording, REEM_ENCODING};
use reem::{PublishSpace, RedisInterface, ReemMarshal};

use super::record::{file_failure, stop_on_signals};
use crate::fail::{Code, Failure, Result};

/// Messages are put in log time order within this much log time.
const REORDER: u64 = 2_000_000_000;
/// ... holding at most this many payload bytes.
const REORDER_BYTES: usize = 256 << 20;

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The MCAP file
    pub file: PathBuf,
    /// Speed factor: 2 plays twice as fast, 0.5 at half speed
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Play the file again and again, until Ctrl-C
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Play only these topics (as recorded, before --remap)
    #[arg(long, num_args = 1.., value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Publish topic FROM as TO (repeatable)
    #[arg(long, value_name = "FROM:=TO")]
    pub remap: Vec<String>,
    /// Skip the first SECONDS of the recording
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub start: f64,
    /// Keep the last N messages of each topic in its history while publishing
    #[arg(long, value_name = "N")]
    pub history: Option<usize>,
}

/// A message waiting in the reorder window: by log time, then file order.
struct Pending(u64, u64, Recorded);

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

pub fn run(iface: &RedisInterface, args: &PlayArgs, err: &mut impl Write) -> Result {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(Failure::new(
            Code::Usage,
            format!(
                "--rate {}: give a positive factor, like 1 or 0.5",
                args.rate
            ),
        ));
    }
    let skip = crate::listen::seconds(Some(args.start))?
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut remap = HashMap::new();
    for r in &args.remap {
        let Some((from, to)) = r.split_once(":=") else {
            return Err(Failure::new(
                Code::Usage,
                format!("--remap {r:?}: write it FROM:=TO"),
            ));
        };
        remap.insert(from.to_owned(), to.to_owned());
    }
    let stop = stop_on_signals();
    let mut pubs = PublishSpace::new(iface);
    if let Some(n) = args.history {
        pubs = pubs.with_history(n);
    }
    let mut played = 0u64;
    let mut not_replayable = 0u64;
    let started = Instant::now();
    loop {
        let mut rec = Recording::open(&args.file).map_err(file_failure)?;
        let mut heap: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
        let (mut held, mut order, mut newest) = (0usize, 0u64, 0u64);
        let mut first: Option<u64> = None;
        let mut clock: Option<(Instant, u64)> = None;
        let mut ended = false;
        while !stop.load(Ordering::SeqCst) {
            // Fill the window.
            while !ended {
                let window_full = heap
                    .peek()
                    .is_some_and(|Reverse(p)| newest.saturating_sub(p.0) > REORDER)
                    || held > REORDER_BYTES;
                if window_full {
                    break;
                }
                match rec.next_message() {
                    Some(m) => {
                        if !args.topics.is_empty() && !args.topics.contains(&m.channel.topic) {
                            continue;
                        }
                        first = Some(first.map_or(m.log_time, |f| f.min(m.log_time)));
                        newest = newest.max(m.log_time);
                        held += m.data.len();
                        order += 1;
                        heap.push(Reverse(Pending(m.log_time, order, m)));
                    }
                    None => ended = true,
                }
            }
            let Some(Reverse(Pending(at, _, m))) = heap.pop() else {
                break;
            };
            held -= m.data.len();
            if at < first.unwrap_or(0).saturating_add(skip) {
                continue;
            }
            if m.channel.message_encoding != REEM_ENCODING {
                not_replayable += 1;
                continue;
            }
            // Wait for the message's time (in short naps, to notice Ctrl-C).
            let (wall, base) = *clock.get_or_insert((Instant::now(), at));
            let due =
                wall + Duration::from_secs_f64(at.saturating_sub(base) as f64 / 1e9 / args.rate);
            loop {
                let now = Instant::now();
                if now >= due || stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(50)));
            }
            let topic = remap
                .get(&m.channel.topic)
                .cloned()
                .unwrap_or_else(|| m.channel.topic.clone());
            let msg = decode_hash(&topic, &m.data)
                .and_then(|reply| StoredHash::interpret_read(&topic, reply))?;
            pubs.publish(&topic, &msg)?;
            played += 1;
        }
        if let Some(d) = rec.damage() {
            writeln!(
                err,
                "played {played} messages in {:.1} s",
                started.elapsed().as_secs_f64()
            )?;
            return Err(Failure::new(
                Code::Damaged,
                format!(
                    "{} is damaged {d}; every message before it was played",
                    args.file.display()
                ),
            ));
        }
        if !args.repeat || stop.load(Ordering::SeqCst) {
            break;
        }
    }
    writeln!(
        err,
        "played {played} message{} in {:.1} s{}",
        if played == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64(),
        if not_replayable > 0 {
            format!(" ({not_replayable} JSON messages left out: only reem-hash channels replay)")
        } else {
            String::new()
        }
    )?;
    Ok(())
}
