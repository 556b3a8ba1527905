//! Times publish → decoded value through reem against raw `redis` with the payload inside
//! `PUBLISH`, in one run, on one private redis-server (or `$REEM_URL`).
//!
//! ```text
//! cargo run --release --example pubsub_timing
//! ```
//!
//! - latency: the time from calling `publish` to holding the decoded message on the
//!   receiving thread (reem: `RawSubscriber::recv`; raw: a thread reading its own
//!   subscriber connection, decoding and handing the value over a channel), median of many
//!   one-at-a-time round trips, for a 10-field message (5 `f64`, 3 `i64`, 2 short strings)
//!   and a 1 MiB `Vec<f64>`. The two sides take turns, sample by sample, so that a busy
//!   machine slows both alike.
//! - inline or read: the same latency through reem for arrays of growing size, with the
//!   message inside the notification (`with_inline_limit(usize::MAX)`) and read from the
//!   key (`with_inline_limit(0)`); where they cross is where
//!   `reem::pubsub::DEFAULT_INLINE_LIMIT` belongs.
//! - throughput: publishes per second of one publisher calling `publish` in a loop with one
//!   subscriber attached, and what that subscriber got; reem and raw take turns in windows
//!   of 250 ms.
//!
//! reem does more than the raw side for its time: the message is also stored as the topic's
//! latest value (a hash `kv.get` reads), sequence-numbered, and checked against its schema.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use redis::io::tcp::TcpSettings;
use redis::{Client, IntoConnectionInfo};
use reem::{Delivery, PublishSpace, RawSubscriber, RedisInterface, ReemMarshal};

/// The 10-field message: 5 `f64`, 3 `i64`, 2 short strings.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "timing.Status")]
struct Status {
    stamp: f64,
    x: f64,
    y: f64,
    theta: f64,
    battery: f64,
    seq: i64,
    mode: i64,
    errors: i64,
    frame_id: String,
    state: String,
}

impl Status {
    fn new(seq: i64) -> Self {
        Status {
            stamp: 1_700_000_000.0 + seq as f64 * 0.01,
            x: 1.25 + seq as f64,
            y: -3.5,
            theta: 0.785,
            battery: 0.93,
            seq,
            mode: 2,
            errors: 0,
            frame_id: "map".into(),
            state: "driving".into(),
        }
    }

    /// The raw side's encoding: the ten values as text, one per line.
    fn encode(&self) -> Vec<u8> {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.stamp,
            self.x,
            self.y,
            self.theta,
            self.battery,
            self.seq,
            self.mode,
            self.errors,
            self.frame_id,
            self.state
        )
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut v = text.split('\n');
        let mut f = || v.next();
        Some(Status {
            stamp: f()?.parse().ok()?,
            x: f()?.parse().ok()?,
            y: f()?.parse().ok()?,
            theta: f()?.parse().ok()?,
            battery: f()?.parse().ok()?,
            seq: f()?.parse().ok()?,
            mode: f()?.parse().ok()?,
            errors: f()?.parse().ok()?,
            frame_id: f()?.to_owned(),
            state: f()?.to_owned(),
        })
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// A raw subscriber on its own thread: decodes every message of `channel` with `decode`
/// and sends the value back.
fn raw_subscriber<T: Send + 'static>(
    client: &Client,
    channel: &str,
    decode: fn(&[u8]) -> Option<T>,
) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut con = client
        .get_connection()
        .expect("a raw subscriber connection");
    let channel = channel.to_owned();
    thread::spawn(move || {
        let mut ps = con.as_pubsub();
        ps.subscribe(&channel).unwrap();
        ready_tx.send(()).unwrap();
        while let Ok(msg) = ps.get_message() {
            let value = decode(msg.get_payload_bytes()).expect("a decodable payload");
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    ready_rx.recv().unwrap();
    rx
}

fn floats_from_bytes(bytes: &[u8]) -> Option<Vec<f64>> {
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    )
}

fn floats_to_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// One way of getting a message from a publisher to a decoded value on another thread:
/// each call of `sample` sends one message and waits for it.
struct Probe<'a> {
    sample: Box<dyn FnMut() -> Duration + 'a>,
}

impl<'a> Probe<'a> {
    /// Through reem: `publish`, then `RawSubscriber::recv` of the decoded message.
    fn reem<T: ReemMarshal + Sync>(pubs: &'a PublishSpace, topic: &str, message: T) -> Self {
        let sub = RawSubscriber::<T>::with_delivery(pubs.interface(), topic, Delivery::Queue(4))
            .expect("a subscriber");
        // recv_timeout starts listening, from a shared reference.
        sub.recv_timeout(Duration::from_millis(1))
            .expect("listening");
        let topic = topic.to_owned();
        Probe {
            sample: Box::new(move || {
                let t = Instant::now();
                pubs.publish(&topic, &message).expect("publish");
                let got = sub.recv().expect("a message");
                let elapsed = t.elapsed();
                drop(got);
                assert_eq!(sub.counters().decode_errors, 0);
                elapsed
            }),
        }
    }

    /// Through raw `redis`: `PUBLISH channel payload`, and a thread reading its own
    /// subscriber connection, decoding, and handing the value over a channel.
    fn raw<T: Send + 'static>(
        client: &Client,
        channel: &str,
        payload: Vec<u8>,
        decode: fn(&[u8]) -> Option<T>,
    ) -> Self {
        let rx = raw_subscriber(client, channel, decode);
        let mut con = client.get_connection().expect("a raw connection");
        let channel = channel.to_owned();
        Probe {
            sample: Box::new(move || {
                let t = Instant::now();
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(payload.as_slice())
                    .exec(&mut con)
                    .expect("PUBLISH");
                let got = rx.recv().expect("a message");
                let elapsed = t.elapsed();
                drop(got);
                elapsed
            }),
        }
    }
}

/// Medians of `n` samples of each probe, taken in turn so that a busy machine slows all
/// of them alike (after `n / 10` rounds of warm-up).
fn interleaved(probes: &mut [Probe<'_>], n: usize) -> Vec<Duration> {
    let mut samples = vec![Vec::with_capacity(n); probes.len()];
    for round in 0..n + n / 10 {
        for (probe, samples) in probes.iter_mut().zip(&mut samples) {
            let d = (probe.sample)();
            if round >= n / 10 {
                samples.push(d);
            }
        }
    }
    samples.into_iter().map(median).collect()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = reem_server::url_or_start()?;
    let iface = RedisInterface::new(&url)?;
    let info = url
        .as_str()
        .into_connection_info()?
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let client = Client::open(info)?;
    let mut raw = client.get_connection()?;
    let pubs = PublishSpace::new(&iface);
    let inline = pubs.clone().with_inline_limit(usize::MAX);
    let by_key = pubs.clone().with_inline_limit(0);
    println!("publish → decoded value, medians (one run, {url})\n");

    let n = 4000;
    let medians = interleaved(
        &mut [
            Probe::reem(&pubs, "t/small", Status::new(1)),
            Probe::raw(
                &client,
                "raw/small",
                Status::new(1).encode(),
                Status::decode,
            ),
        ],
        n,
    );
    println!(
        "10-field message ×{n}:  reem {:>9}   raw {:>9}   reem/raw {:.2}",
        micros(medians[0]),
        micros(medians[1]),
        ratio(medians[0], medians[1])
    );

    let floats: Vec<f64> = (0..128 * 1024).map(|i| i as f64 * 0.5).collect();
    let n = 300;
    let medians = interleaved(
        &mut [
            Probe::reem(&pubs, "t/big", floats.clone()),
            Probe::raw(
                &client,
                "raw/big",
                floats_to_bytes(&floats),
                floats_from_bytes,
            ),
        ],
        n,
    );
    println!(
        "1 MiB Vec<f64> ×{n}:     reem {:>9}   raw {:>9}   reem/raw {:.2}",
        micros(medians[0]),
        micros(medians[1]),
        ratio(medians[0], medians[1])
    );

    println!("\ninside the notification vs read from the key, reem, Vec<f64>:");
    for kib in [1usize, 4, 8, 16, 32, 64, 128, 1024] {
        let values: Vec<f64> = (0..kib * 128).map(|i| i as f64).collect();
        let n = (16_000 / kib).clamp(100, 2000);
        let medians = interleaved(
            &mut [
                Probe::reem(&inline, &format!("t/inline/{kib}"), values.clone()),
                Probe::reem(&by_key, &format!("t/key/{kib}"), values.clone()),
            ],
            n,
        );
        println!(
            "  {kib:>5} KiB ×{n:<5} inline {:>9}   by key {:>9}   inline/key {:.2}",
            micros(medians[0]),
            micros(medians[1]),
            ratio(medians[0], medians[1])
        );
    }

    println!(
        "\nthroughput, one publisher publishing in a loop, one subscriber attached (reem and raw"
    );
    println!("take turns: 12 windows of 250 ms each):");
    let sub = RawSubscriber::<Status>::new(&iface, "t/rate")?;
    sub.recv_timeout(Duration::from_millis(1))?;
    let rx = raw_subscriber(&client, "raw/rate", Status::decode);
    let counter = thread::spawn(move || rx.iter().take_while(|s| s.seq >= 0).count());
    let small = Status::new(1).encode();
    let window = Duration::from_millis(250);
    let (mut reem_sent, mut raw_sent) = (0i64, 0usize);
    let (mut reem_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..12 {
        let start = Instant::now();
        while start.elapsed() < window {
            reem_sent += 1;
            pubs.publish("t/rate", &Status::new(reem_sent))?;
        }
        reem_time += start.elapsed();
        let start = Instant::now();
        while start.elapsed() < window {
            redis::cmd("PUBLISH")
                .arg("raw/rate")
                .arg(small.as_slice())
                .exec(&mut raw)?;
            raw_sent += 1;
        }
        raw_time += start.elapsed();
    }
    redis::cmd("PUBLISH")
        .arg("raw/rate")
        .arg(Status::new(-1).encode())
        .exec(&mut raw)?;
    let raw_got = counter.join().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sub.latest().map(|s| s.seq) != Some(reem_sent) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let c = sub.counters();
    let arrived = sub.latest().map(|s| s.seq) == Some(reem_sent);
    let last = if arrived { "arrived" } else { "missing" };
    println!(
        "  reem: {:.0} publishes/s; the subscriber received {} and skipped {} of {reem_sent}",
        reem_sent as f64 / reem_time.as_secs_f64(),
        c.received,
        c.skipped,
    );
    println!("        (the last one: {last})");
    println!(
        "  raw PUBLISH (nothing stored): {:.0} publishes/s; the subscriber got {raw_got} of {}",
        raw_sent as f64 / raw_time.as_secs_f64(),
        raw_sent
    );
    Ok(())
}
