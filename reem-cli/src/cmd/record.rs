//! `reem record`: topics into an MCAP file, like `ros2 bag record`.
//!
//! A topic with a history stream (`PublishSpace::with_history`) is read from it, in pages,
//! so nothing is lost at any publish rate; a topic without one is subscribed (reem's own
//! subscriber: what a slow recorder misses is what a subscriber would miss), and its history
//! is used as soon as it appears. One MCAP channel per topic, one schema record per stored
//! `@schema`; see `docs/RECORDING.md`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use redis::Value;
use reem::marshal::{Commands, HashView, StoredHash, PUBLISHER_FIELD, SCHEMA_FIELD, SEQ_FIELD};
use reem::pubsub::history::{entries, history_key, EntryId};
use reem::pubsub::Delivery;
use reem::record::{
    encode_hash, RecordWriter, WriterOptions, JSON_ENCODING, JSON_SCHEMA_ENCODING, REEM_ENCODING,
    REEM_SCHEMA_ENCODING,
};
use reem::{RawSubscriber, RedisInterface, ReemMarshal};

use crate::fail::{one_line, Code, Failure, Result};

/// Entries read from a history per request, at most; fewer for large messages, so that
/// a page holds about [`PAGE_BYTES`].
const PAGE: usize = 256;
const PAGE_BYTES: usize = 8 << 20;
/// Messages taken from a subscriber per turn.
const TURN: usize = 256;
/// Messages kept between a subscriber and the writer.
const QUEUE: usize = 65_536;
/// How often a topic without history is checked for one, and `--all` looks for new topics.
const PROBE: Duration = Duration::from_secs(1);
/// A chunk is written out at least this often, so that a killed recorder loses little.
const FLUSH: Duration = Duration::from_secs(2);
/// How often the progress line is redrawn.
const PROGRESS: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The MCAP file to write (replaced if it exists)
    #[arg(short, long, value_name = "FILE.mcap")]
    pub output: PathBuf,
    /// The topics to record
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub topics: Vec<String>,
    /// Record every topic: those stored now, and new ones as they appear
    #[arg(long)]
    pub all: bool,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Stop once the file reaches this many megabytes (10^6 bytes; within one chunk)
    #[arg(long, value_name = "MB")]
    pub max_size: Option<f64>,
    /// How messages are written: `reem` (the stored hash: decodes as its Rust type, replays
    /// exactly) or `json` (fields as JSON with a JSON Schema, for Foxglove Studio and Rerun)
    #[arg(long, value_enum, default_value_t = Encoding::Reem)]
    pub encoding: Encoding,
    /// Write chunks without compression (zstd otherwise)
    #[arg(long)]
    pub no_compression: bool,
}

/// How messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// The stored hash (`reem-hash`, schema `reem-schema`).
    Reem,
    /// JSON (`json`, schema `jsonschema`); arrays of bytes as base64.
    Json,
}

/// Set by Ctrl-C or SIGTERM: the running command finishes cleanly.
static STOP: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C and SIGTERM set the stop flag (once per process).
pub fn stop_on_signals() -> &'static AtomicBool {
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    &STOP
}

/// A message read from a subscriber, with when it arrived.
pub struct Heard {
    at: Instant,
    msg: StoredHash,
}

impl ReemMarshal for Heard {
    fn get_label() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("reem-cli.Recorded")
    }

    fn write(&self, key: &str, _: &mut Commands<'_>) -> reem::Result<()> {
        Err(reem::Error::NoMarshaller {
            key: key.to_owned(),
            what: "reem-cli.Recorded (read only)".to_owned(),
        })
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        reem::marshal::hash::read(key, out)
    }

    fn interpret_read(key: &str, reply: Value) -> reem::Result<Self> {
        Ok(Heard {
            at: Instant::now(),
            msg: StoredHash::interpret_read(key, reply)?,
        })
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        reem::marshal::hash::delete(key, out)
    }

    fn stores_one_hash() -> bool {
        true
    }
}

/// One recorded topic.
struct Topic {
    name: String,
    history: String,
    /// Reading the history from this exclusive bound (`-`: from its start).
    after: Option<String>,
    /// Subscribed while the topic has no history.
    live: Option<RawSubscriber<Heard>>,
    /// The stamps recorded live (the last [`LIVE_KEPT`]), so that the history, once it
    /// appears, records what the subscriber missed and nothing twice.
    live_stamps: RecentStamps,
    next_probe: Instant,
    messages: u64,
    bytes: u64,
    /// The last sequence number recorded from each publisher, and the numbers missing
    /// between recorded ones (messages the recording does not have).
    last_seq: HashMap<Vec<u8>, u64>,
    missed: u64,
    /// Entries to ask for in the next history page.
    page: usize,
}

/// Live stamps remembered per topic.
const LIVE_KEPT: usize = 4096;

/// The most recent stamps recorded from a subscriber.
#[derive(Default)]
struct RecentStamps {
    set: std::collections::HashSet<(Vec<u8>, u64)>,
    order: std::collections::VecDeque<(Vec<u8>, u64)>,
    /// The highest number recorded from each publisher.
    last: HashMap<Vec<u8>, u64>,
}

impl RecentStamps {
    fn insert(&mut self, publisher: &[u8], seq: u64) {
        let stamp = (publisher.to_vec(), seq);
        if self.set.insert(stamp.clone()) {
            self.order.push_back(stamp);
        }
        if self.order.len() > LIVE_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        let last = self.last.entry(publisher.to_vec()).or_insert(seq);
        *last = (*last).max(seq);
    }

    /// True if the message stamped so was recorded live (or is older than what is
    /// remembered of its publisher).
    fn recorded(&self, publisher: &[u8], seq: u64) -> bool {
        self.set.contains(&(publisher.to_vec(), seq))
            || self
                .last
                .get(publisher)
                .is_some_and(|&l| seq.saturating_add(LIVE_KEPT as u64) <= l)
    }
}

/// The server's clock: its time at the recorder's start, and the local instant then.
struct Clock {
    server_ns: u64,
    start: Instant,
}

impl Clock {
    fn read(iface: &RedisInterface) -> Result<Self> {
        let reply = iface.raw_query(&redis::cmd("TIME"))?;
        let start = Instant::now();
        let part = |v: Option<&Value>| match v {
            Some(Value::BulkString(b)) => std::str::from_utf8(b).ok()?.parse::<u64>().ok(),
            _ => None,
        };
        let (secs, micros) = match &reply {
            Value::Array(a) => (part(a.first()), part(a.get(1))),
            _ => (None, None),
        };
        let (Some(secs), Some(micros)) = (secs, micros) else {
            return Err(Failure::new(
                Code::Redis,
                format!("the server's TIME reply is not a time: {reply:?}"),
            ));
        };
        Ok(Clock {
            server_ns: secs * 1_000_000_000 + micros * 1000,
            start,
        })
    }

    fn at(&self, t: Instant) -> u64 {
        self.server_ns + t.saturating_duration_since(self.start).as_nanos() as u64
    }

    fn start_ms(&self) -> u64 {
        self.server_ns / 1_000_000
    }
}

/// The log time of a history entry: its server milliseconds, plus its number within the
/// millisecond as nanoseconds (so that entries of one millisecond keep their order).
fn entry_time(id: EntryId) -> u64 {
    id.ms * 1_000_000 + id.seq.min(999_999)
}

pub fn run(iface: &RedisInterface, args: &RecordArgs, err: &mut impl Write) -> Result {
    let stop = stop_on_signals();
    let deadline = crate::listen::seconds(args.duration)?.map(|d| Instant::now() + d);
    let max_bytes = match args.max_size {
        Some(mb) if mb.is_finite() && mb > 0.0 => Some((mb * 1e6) as u64),
        Some(mb) => {
            return Err(Failure::new(
                Code::Usage,
                format!("--max-size {mb}: give a number of megabytes, like 100 or 0.5"),
            ))
        }
        None => None,
    };
    let mut options = WriterOptions::default();
    options.compress = !args.no_compression;
    let mut writer = RecordWriter::create(&args.output, options).map_err(file_failure)?;
    let clock = Clock::read(iface)?;
    let mut rec = Recorder {
        iface,
        clock,
        encoding: args.encoding,
        topics: Vec::new(),
        json_schemas: HashMap::new(),
    };
    if args.all {
        rec.discover()?;
    } else {
        for t in &args.topics {
            rec.add(t)?;
        }
    }
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let (mut last_flush, mut last_progress, mut last_discover) = (started, started, started);
    let mut stopped_by = "Ctrl-C or SIGTERM";
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            stopped_by = "--duration";
            break;
        }
        if max_bytes.is_some_and(|m| writer.bytes_written() >= m) {
            stopped_by = "--max-size";
            break;
        }
        let mut busy = false;
        let mut turns = Ok(());
        for i in 0..rec.topics.len() {
            match rec.turn(i, &mut writer) {
                Ok(n) => busy |= n > 0,
                Err(e) => {
                    turns = Err(e);
                    break;
                }
            }
        }
        let now = Instant::now();
        if turns.is_ok() && args.all && now.duration_since(last_discover) >= PROBE {
            turns = rec.discover();
            last_discover = now;
        }
        if let Err(failure) = turns {
            // Redis failed (or the file): what was recorded stays readable.
            if tty {
                let _ = write!(err, "\r\x1b[K");
            }
            let line = rec.progress(&writer, started);
            let holds = match writer.finish() {
                Ok(()) => "holds what was recorded before it".to_owned(),
                Err(e) => format!("could not be finished ({e})"),
            };
            let _ = writeln!(
                err,
                "recording stopped by an error; {} {holds}: {line}",
                args.output.display()
            );
            return Err(failure);
        }
        if now.duration_since(last_flush) >= FLUSH {
            writer.flush().map_err(file_failure)?;
            last_flush = now;
        }
        if tty && now.duration_since(last_progress) >= PROGRESS {
            let _ = write!(err, "\r\x1b[K{}", rec.progress(&writer, started));
            last_progress = now;
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // What is already queued or stored is recorded before finishing.
    for _ in 0..64 {
        let mut busy = false;
        for i in 0..rec.topics.len() {
            // An error now only ends the draining: the file is finished below.
            busy |= rec.turn(i, &mut writer).unwrap_or(0) > 0;
        }
        if !busy {
            break;
        }
    }
    if tty {
        let _ = write!(err, "\r\x1b[K");
    }
    let messages = writer.messages();
    let line = rec.progress(&writer, started);
    writer.finish().map_err(file_failure)?;
    let size = std::fs::metadata(&args.output).map_or(0, |m| m.len());
    writeln!(
        err,
        "recorded {messages} message{} to {} ({:.1} MB; stopped by {stopped_by}): {line}",
        if messages == 1 { "" } else { "s" },
        args.output.display(),
        size as f64 / 1e6,
    )?;
    Ok(())
}

struct Recorder<'i> {
    iface: &'i RedisInterface,
    clock: Clock,
    encoding: Encoding,
    topics: Vec<Topic>,
    /// JSON Schemas made from stored schemas, by stored schema text.
    json_schemas: HashMap<Vec<u8>, Vec<u8>>,
}

impl Recorder<'_> {
    /// Starts recording `topic`: from its history after its newest entry, if it has one;
    /// else subscribed.
    fn add(&mut self, topic: &str) -> Result {
        if self.topics.iter().any(|t| t.name == topic) {
            return Ok(());
        }
        let history = history_key(topic, self.iface.is_cluster())?;
        let kind = self.iface.raw_query(redis::cmd("TYPE").arg(&history))?;
        let has_history = matches!(&kind, Value::SimpleString(t) if t == "stream");
        // From the recorder's start: a topic found later by --all loses nothing either.
        let newest = has_history.then(|| format!("{}-0", self.clock.start_ms()));
        let (after, live) = match newest {
            Some(from) => (Some(from), None),
            None => {
                let mut sub = RawSubscriber::<Heard>::with_delivery(
                    self.iface,
                    topic,
                    Delivery::Queue(QUEUE),
                )?;
                sub.listen()?;
                // The stored latest message was published before the start.
                while sub.try_recv().is_some() {}
                (None, Some(sub))
            }
        };
        self.topics.push(Topic {
            name: topic.to_owned(),
            history,
            after,
            live,
            live_stamps: RecentStamps::default(),
            next_probe: Instant::now() + PROBE,
            messages: 0,
            bytes: 0,
            last_seq: HashMap::new(),
            missed: 0,
            page: 16,
        });
        Ok(())
    }

    /// `--all`: every topic stored now (a hash with a publish stamp) or with a history.
    /// Two pipelined requests per page of scanned keys: their types, then the publish
    /// stamps of the hashes (a topic with a history is found by its stream).
    fn discover(&mut self) -> Result {
        let mut found = Vec::new();
        let cluster = self.iface.is_cluster();
        let known = |name: &str| self.topics.iter().any(|t| t.name == name);
        self.iface.scan("*", |keys, node| {
            let mut cmds = Commands::new();
            for k in &keys {
                cmds.cmd("TYPE").arg(k);
            }
            let types = node.query(&cmds)?;
            let mut hashes = Vec::new();
            for (k, ty) in keys.iter().zip(types) {
                let Ok(name) = std::str::from_utf8(k) else {
                    continue;
                };
                let ty = match &ty {
                    Value::SimpleString(s) => s.as_str(),
                    Value::Okay => "ok",
                    _ => "",
                };
                if ty == "stream" {
                    if let Some(topic) = name.strip_suffix("@history") {
                        let topic = match topic.strip_prefix('{').and_then(|t| t.strip_suffix('}'))
                        {
                            Some(t) if history_key(t, cluster).ok().as_deref() == Some(name) => t,
                            _ => topic,
                        };
                        if !known(topic) {
                            found.push(topic.to_owned());
                        }
                    }
                } else if ty == "hash" && !known(name) {
                    hashes.push(name);
                }
            }
            // A hash is a topic when it carries a publish stamp.
            if !hashes.is_empty() {
                let mut cmds = Commands::new();
                for name in &hashes {
                    cmds.cmd("HEXISTS").arg(*name).arg(PUBLISHER_FIELD);
                }
                let stamped = node.query(&cmds)?;
                for (name, yes) in hashes.into_iter().zip(stamped) {
                    if matches!(yes, Value::Int(1)) {
                        found.push(name.to_owned());
                    }
                }
            }
            Ok(())
        })?;
        for name in found {
            self.add(&name)?;
        }
        Ok(())
    }

    /// Records what topic `i` has now; returns how many messages.
    fn turn(&mut self, i: usize, writer: &mut RecordWriter) -> Result<usize> {
        if self.topics[i].after.is_some() {
            return self.read_history(i, writer);
        }
        let mut heard = Vec::new();
        if let Some(sub) = &self.topics[i].live {
            while heard.len() < TURN {
                match sub.try_recv() {
                    Some(h) => heard.push(h),
                    None => break,
                }
            }
        }
        let n = heard.len();
        for h in heard {
            let time = self.clock.at(h.at);
            let topic = &mut self.topics[i];
            if let (Some(p), Some(seq)) = (h.msg.get(PUBLISHER_FIELD.as_bytes()), seq_of(&h.msg)) {
                topic.live_stamps.insert(p, seq);
            }
            self.write(i, &h.msg, time, writer)?;
        }
        // A history appeared: read it from now on (it holds what the subscriber misses).
        let topic = &mut self.topics[i];
        if Instant::now() >= topic.next_probe {
            topic.next_probe = Instant::now() + PROBE;
            let exists = self
                .iface
                .raw_query(redis::cmd("EXISTS").arg(&topic.history));
            if matches!(exists, Ok(Value::Int(1))) {
                topic.after = Some("-".to_owned());
            }
        }
        Ok(n)
    }

    fn read_history(&mut self, i: usize, writer: &mut RecordWriter) -> Result<usize> {
        let topic = &self.topics[i];
        let Some(after) = topic.after.clone() else {
            return Ok(0);
        };
        let count = topic.page;
        let reply = self.iface.raw_query(
            redis::cmd("XRANGE")
                .arg(&topic.history)
                .arg(&after)
                .arg("+")
                .arg("COUNT")
                .arg(count),
        )?;
        let page = entries(&topic.history, reply)?;
        let n = page.len();
        let bytes: usize = page.iter().map(|e| payload_size(&e.hash)).sum();
        if let Some(each) = bytes.checked_div(n) {
            self.topics[i].page = (PAGE_BYTES / each.max(1)).clamp(1, PAGE);
        }
        let start_ms = self.clock.start_ms();
        for entry in page {
            self.topics[i].after = Some(entry.id.exclusive());
            if entry.id.ms < start_ms {
                continue;
            }
            let msg = StoredHash::interpret_read(&self.topics[i].name, entry.hash)?;
            let topic = &self.topics[i];
            let recorded_live = match (msg.get(PUBLISHER_FIELD.as_bytes()), seq_of(&msg)) {
                (Some(p), Some(seq)) => topic.live_stamps.recorded(p, seq),
                _ => false,
            };
            if recorded_live {
                continue;
            }
            self.write(i, &msg, entry_time(entry.id), writer)?;
        }
        // Once the history is read, the subscriber is not needed.
        if n < count {
            self.topics[i].live = None;
        }
        Ok(n)
    }

    fn write(
        &mut self,
        i: usize,
        msg: &StoredHash,
        time: u64,
        writer: &mut RecordWriter,
    ) -> Result {
        let topic = &self.topics[i].name;
        let label = msg.label().map(String::from_utf8_lossy).unwrap_or_default();
        let schema = msg.get(SCHEMA_FIELD.as_bytes()).unwrap_or_default();
        let seq = seq_of(msg).unwrap_or(0);
        let payload;
        let channel = match self.encoding {
            Encoding::Reem => {
                payload = encode_hash(msg.pairs.iter().map(|(n, v)| (&n[..], &v[..])));
                writer.channel(topic, &label, REEM_SCHEMA_ENCODING, schema, REEM_ENCODING)
            }
            Encoding::Json => {
                // The view borrows the message's values: a large array is not copied.
                let hash =
                    HashView::from_pairs(msg.pairs.iter().map(|(n, v)| (&n[..], &v[..])).collect());
                let decoded = reem::dynamic::decode(topic, &hash, reem::dynamic::Arrays::Full)?;
                payload = serde_json::to_vec(&super::json_record::message(&decoded))
                    .map_err(|e| Failure::new(Code::NotReem, e.to_string()))?;
                let json_schema = self
                    .json_schemas
                    .entry(schema.to_vec())
                    .or_insert_with(|| super::json_record::schema_of(&decoded));
                writer.channel(
                    topic,
                    &label,
                    JSON_SCHEMA_ENCODING,
                    json_schema,
                    JSON_ENCODING,
                )
            }
        }
        .map_err(file_failure)?;
        writer
            .write(channel, seq, time, time, &payload)
            .map_err(file_failure)?;
        let t = &mut self.topics[i];
        t.messages += 1;
        t.bytes += payload.len() as u64;
        if let (Some(p), Some(seq)) = (msg.get(PUBLISHER_FIELD.as_bytes()), seq_of(msg)) {
            match t.last_seq.get(p).copied() {
                Some(last) if seq > last => {
                    t.missed += seq - last - 1;
                    t.last_seq.insert(p.to_vec(), seq);
                }
                // A message the subscriber missed, recorded from the history after all.
                Some(_) => t.missed = t.missed.saturating_sub(1),
                None => {
                    t.last_seq.insert(p.to_vec(), seq);
                }
            }
        }
        Ok(())
    }

    /// `N msgs, X MB, S s | topic: n (r/s) ...`
    fn progress(&self, writer: &RecordWriter, started: Instant) -> String {
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let mut line = format!(
            "{} msgs, {:.1} MB written, {:.0} s",
            writer.messages(),
            writer.bytes_written() as f64 / 1e6,
            secs
        );
        for t in &self.topics {
            line.push_str(&format!(
                " | {} {} ({:.0}/s{}{})",
                t.name,
                t.messages,
                t.messages as f64 / secs,
                if t.after.is_some() { ", history" } else { "" },
                if t.missed > 0 {
                    format!(", {} missed", t.missed)
                } else {
                    String::new()
                }
            ));
        }
        line
    }
}

/// The bytes of a history entry's names and values.
fn payload_size(hash: &Value) -> usize {
    match hash {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::BulkString(b) => b.len(),
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

fn seq_of(msg: &StoredHash) -> Option<u64> {
    std::str::from_utf8(msg.get(SEQ_FIELD.as_bytes())?)
        .ok()?
        .parse()
        .ok()
}

/// A file error: where and why, on one line.
pub fn file_failure(e: reem::Error) -> Failure {
    Failure::new(Code::Redis, one_line(&e.to_string()))
}
