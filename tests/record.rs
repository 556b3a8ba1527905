//! `reem::record`: reading recordings in Rust (typed, schema-checked), and damaged files
//! (cut anywhere, bytes flipped) read up to the damage, never a panic.

mod common;

use std::path::{Path, PathBuf};

use common::Harness;
use reem::marshal::StoredHash;
use reem::pubsub::history::{entries, history_key};
use reem::record::{
    decode_hash, encode_hash, RecordWriter, Recording, WriterOptions, REEM_ENCODING,
    REEM_SCHEMA_ENCODING,
};
use reem::{PublishSpace, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Pose2")]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Pose2")]
struct Pose2WithMode {
    x: f64,
    y: f64,
    theta: f64,
    mode: String,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Scan")]
struct Scan {
    n: u64,
    ranges: Vec<f32>,
}

fn pose(i: u64) -> Pose2 {
    Pose2 {
        x: i as f64,
        y: 0.5,
        theta: -(i as f64),
    }
}

fn scan(i: u64) -> Scan {
    Scan {
        n: i,
        ranges: (0..2000).map(|k| ((k * 7 + i) % 1000) as f32).collect(),
    }
}

fn file(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("record-lib-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", std::process::id()))
}

/// Publishes `n` poses and `n` scans with history, and writes what the histories hold into
/// a recording, as `reem record` does: one channel per topic, the stored hash as payload.
fn recording(h: &Harness, name: &str, n: u64, chunk: u64) -> PathBuf {
    let pubs = PublishSpace::new(&h.iface).with_history(10_000);
    for i in 1..=n {
        pubs.publish("robot/pose", &pose(i)).unwrap();
        pubs.publish("robot/scan", &scan(i)).unwrap();
    }
    let path = file(name);
    let mut options = WriterOptions::default();
    options.chunk_size = chunk;
    let mut w = RecordWriter::create(&path, options).unwrap();
    for topic in ["robot/pose", "robot/scan"] {
        let key = history_key(topic, h.is_cluster()).unwrap();
        let reply = h
            .iface
            .raw_query(redis::cmd("XRANGE").arg(&key).arg("-").arg("+"))
            .unwrap();
        for e in entries(&key, reply).unwrap() {
            let (_, seq) = e.publisher_seq().unwrap();
            let msg = StoredHash::interpret_read(topic, e.hash).unwrap();
            let ch = w
                .channel(
                    topic,
                    std::str::from_utf8(msg.label().unwrap()).unwrap(),
                    REEM_SCHEMA_ENCODING,
                    msg.get(b"@schema").unwrap(),
                    REEM_ENCODING,
                )
                .unwrap();
            let payload = encode_hash(msg.pairs.iter().map(|(a, b)| (&a[..], &b[..])));
            let t = e.id.ms * 1_000_000 + e.id.seq;
            w.write(ch, seq, t, t, &payload).unwrap();
        }
    }
    w.finish().unwrap();
    path
}

#[test]
fn typed_messages_of_a_topic_read_back_in_order() {
    let h = Harness::start();
    let path = recording(&h, "typed.mcap", 50, 4096);
    let mut rec = Recording::open(&path).unwrap();
    let poses: Vec<Pose2> = rec
        .messages::<Pose2>("robot/pose")
        .map(|m| m.unwrap().1)
        .collect();
    assert_eq!(poses, (1..=50).map(pose).collect::<Vec<_>>());
    assert!(rec.damage().is_none());
    let scans: Vec<Scan> = Recording::open(&path)
        .unwrap()
        .messages::<Scan>("robot/scan")
        .map(|m| m.unwrap().1)
        .collect();
    assert_eq!(scans, (1..=50).map(scan).collect::<Vec<_>>());
    let info = Recording::open(&path).unwrap().info();
    assert_eq!(info.messages, 100);
    assert_eq!(info.topics.len(), 2);
    assert!(info.topics.iter().all(|t| t.gaps == 0 && t.messages == 50));
    // A recorded message republishes as it was stored.
    let mut rec = Recording::open(&path).unwrap();
    let m = rec.next_message().unwrap();
    let stored = StoredHash::interpret_read("t", decode_hash("t", &m.data).unwrap()).unwrap();
    PublishSpace::new(&h.iface)
        .publish("replayed", &stored)
        .unwrap();
    assert_eq!(h.kv.get::<Pose2>("replayed").unwrap(), pose(1));
}

#[test]
fn a_recording_read_as_another_type_is_a_schema_mismatch() {
    let h = Harness::start();
    let path = recording(&h, "mismatch.mcap", 3, 4096);
    let mut rec = Recording::open(&path).unwrap();
    let first = rec.messages::<Scan>("robot/pose").next().unwrap();
    assert!(
        matches!(first, Err(reem::Error::SchemaMismatch { .. })),
        "{first:?}"
    );
    // A changed version of the type that needs a field the recording lacks.
    let mut rec = Recording::open(&path).unwrap();
    let first = rec.messages::<Pose2WithMode>("robot/pose").next().unwrap();
    assert!(
        matches!(first, Err(reem::Error::SchemaMismatch { .. })),
        "{first:?}"
    );
}

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Reads a damaged copy: never a panic, never more messages than the original, and a
/// damage report unless the bytes that changed do not matter.
fn read_damaged(bytes: &[u8], path: &Path, total: u64) -> (u64, bool) {
    std::fs::write(path, bytes).unwrap();
    let info = Recording::open(path).unwrap().info();
    assert!(info.messages <= total, "{} > {total}", info.messages);
    (info.messages, info.damage.is_some())
}

#[test]
fn cut_and_flipped_files_are_read_up_to_the_damage() {
    let h = Harness::start();
    // Small chunks: many of them, so that cuts land everywhere.
    let path = recording(&h, "whole.mcap", 100, 16 * 1024);
    let whole = std::fs::read(&path).unwrap();
    let total = Recording::open(&path).unwrap().info().messages;
    assert_eq!(total, 200);
    let damaged = file("damaged.mcap");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Cuts: a prefix reads as far as its complete chunks go, and says it is damaged.
    let mut last = (0, 0);
    let mut cuts: Vec<usize> = (0..150)
        .map(|_| rng.below(whole.len() as u64) as usize)
        .collect();
    cuts.sort_unstable();
    for cut in cuts {
        let (n, damage) = read_damaged(&whole[..cut], &damaged, total);
        assert!(damage, "a file cut at {cut} of {} is damaged", whole.len());
        assert!(
            n >= last.1,
            "more bytes never read fewer messages ({cut}: {n} < {last:?})"
        );
        last = (cut, n);
    }
    // Flipped bytes: anything from all messages (a byte of an index) to a damage report.
    for _ in 0..150 {
        let mut bytes = whole.clone();
        let at = rng.below(bytes.len() as u64) as usize;
        bytes[at] ^= 1 << rng.below(8);
        read_damaged(&bytes, &damaged, total);
    }
    // A length field claiming 2^64 bytes: refused, not allocated.
    let mut bytes = whole.clone();
    bytes[9..17].copy_from_slice(&u64::MAX.to_le_bytes());
    let (_, damage) = read_damaged(&bytes, &damaged, total);
    assert!(damage);
    // Garbage that is not MCAP at all.
    let (n, damage) = read_damaged(b"not an mcap file at all", &damaged, total);
    assert_eq!((n, damage), (0, true));
}
