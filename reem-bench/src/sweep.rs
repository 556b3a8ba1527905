//! How cost grows: get and set latency from 1 KiB to 64 MiB (reem, raw, direct floor), CPU
//! per delivered message with 1 to 1,000 subscribers of one topic in one process, and the
//! peak resident memory of one large get.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sides::{self, Spec};
use crate::workloads::{raw_connection, Bench, Ten};

/// Median latencies of one size, µs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizePoint {
    pub bytes: usize,
    pub op: String,
    pub reem_us: f64,
    pub raw_us: f64,
    pub raw_warm_us: f64,
    pub direct_us: f64,
    pub reem_faults: f64,
    pub raw_faults: f64,
}

/// The sizes of the sweep: 1 KiB to 64 MiB, ×4.
pub fn sizes(quick: bool) -> Vec<usize> {
    let top = if quick { 16 << 20 } else { 64 << 20 };
    std::iter::successors(Some(1024usize), |s| Some(s * 4))
        .take_while(|s| *s <= top)
        .collect()
}

/// Get and set of an `Array1<f64>` of every size, each side in its own process.
pub fn sizes_sweep(b: &mut Bench) -> Vec<SizePoint> {
    let mut out = Vec::new();
    for bytes in sizes(b.quick) {
        // About 64 MiB moved per side and round, at least 3 operations and at most 200.
        let per_round = ((64 << 20) / bytes).clamp(3, 200);
        let rounds = if b.quick { 2 } else { 6 };
        for op in ["get", "set"] {
            eprintln!("  {op} {} KiB", bytes >> 10);
            let key = format!("sweep{bytes}");
            let r = crate::workloads::large(b, op, "f64", &[bytes / 8], &key, rounds, per_round);
            out.push(SizePoint {
                bytes,
                op: op.to_owned(),
                reem_us: r[0].stats.median_us,
                raw_us: r[1].stats.median_us,
                raw_warm_us: r[2].stats.median_us,
                direct_us: r[3].stats.median_us,
                reem_faults: r[0].stats.faults_per_op,
                raw_faults: r[1].stats.faults_per_op,
            });
        }
        b.kv.delete(&format!("sweep{bytes}")).unwrap();
    }
    out
}

/// Peak resident memory one process adds for `ops` gets of an 8 MiB `Array2<u8>` and of a
/// 1 MiB `Array1<f64>`, per side, KiB.
#[derive(Debug, Clone, Serialize)]
pub struct PeakRss {
    pub what: &'static str,
    pub ops: usize,
    pub reem_kib: u64,
    pub raw_kib: u64,
    pub raw_warm_kib: u64,
    pub direct_kib: u64,
}

pub fn peak_rss(b: &mut Bench) -> Vec<PeakRss> {
    let mut out = Vec::new();
    for (what, dtype, shape) in [
        ("get, 8 MiB Array2<u8>", "u8", vec![2048usize, 4096]),
        ("get, 1 MiB Array1<f64>", "f64", vec![131_072]),
    ] {
        let key = format!("rss-{dtype}");
        match dtype {
            "u8" => sides::store::<u8>(&b.kv, &key, &shape),
            _ => sides::store::<f64>(&b.kv, &key, &shape),
        }
        for ops in [1, 20] {
            let mut kib = [0u64; 4];
            for (i, side) in ["reem", "raw", "raw-warm", "direct"]
                .into_iter()
                .enumerate()
            {
                let spec = Spec {
                    side,
                    op: "get",
                    dtype: if dtype == "u8" { "u8" } else { "f64" },
                    shape: shape.clone(),
                    key: key.clone(),
                };
                kib[i] = sides::peak_added(&b.url, &spec, ops);
            }
            out.push(PeakRss {
                what,
                ops,
                reem_kib: kib[0],
                raw_kib: kib[1],
                raw_warm_kib: kib[2],
                direct_kib: kib[3],
            });
        }
    }
    out
}

/// CPU time of the subscriber side per delivered message, with `n` subscribers of one topic
/// in one process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutPoint {
    pub subscribers: usize,
    pub messages: u64,
    /// CPU of reem's dispatcher thread per (message × subscriber), µs.
    pub reem_cpu_us: f64,
    /// CPU of the raw subscriber thread per (message × subscriber), µs.
    pub raw_cpu_us: f64,
    /// Deliveries that arrived, of messages × subscribers.
    pub reem_delivered: u64,
    pub raw_delivered: u64,
}

/// Publishes `messages` 10-field messages on one topic read by `n` subscribers in this
/// process, and measures the CPU of the receiving thread: reem's dispatcher (one connection,
/// each message decoded once per subscriber, as reem does), and a raw subscriber thread
/// doing the same with the `redis` crate's sync `PubSub` (one connection, the payload
/// decoded once per subscriber and handed to each subscriber's slot).
pub fn fanout(b: &mut Bench) -> Vec<FanoutPoint> {
    let counts: &[usize] = if b.quick {
        &[1, 10, 100]
    } else {
        &[1, 10, 100, 1000]
    };
    let mut out = Vec::new();
    for &n in counts {
        let messages: u64 = if b.quick {
            200
        } else {
            (20_000 / n as u64).clamp(200, 2000)
        };
        eprintln!("  {n} subscribers, {messages} messages");
        out.push(fanout_one(b, n, messages));
    }
    out
}

fn fanout_one(b: &mut Bench, n: usize, messages: u64) -> FanoutPoint {
    let msg = Ten::new(9);
    let topic = format!("fan{n}");
    let pubs = reem::PublishSpace::new(&b.iface);
    // A fresh interface: its own dispatcher thread, measured alone.
    let iface = reem::RedisInterface::new(&b.url).unwrap();
    let mut subs: Vec<reem::RawSubscriber<Ten>> = (0..n)
        .map(|_| reem::RawSubscriber::new(&iface, &topic).unwrap())
        .collect();
    subs.iter_mut().for_each(|s| s.listen().unwrap());
    let delivered = |subs: &[reem::RawSubscriber<Ten>]| -> u64 {
        subs.iter().map(|s| s.counters().received).sum()
    };
    let base = delivered(&subs);
    let cpu0 = crate::cpu::thread_named_us("reem-pubsub");
    for _ in 0..messages {
        pubs.publish(&topic, &msg).unwrap();
    }
    let want = base + messages * n as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered(&subs) < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let reem_cpu = crate::cpu::thread_named_us("reem-pubsub") - cpu0;
    let reem_delivered = delivered(&subs) - base;
    drop(subs);

    // Raw: one sync PubSub connection; each payload decoded once per subscriber.
    let channel = format!("fanraw{n}");
    let stop = Arc::new(AtomicBool::new(false));
    let got = Arc::new(AtomicU64::new(0));
    let mut con = raw_connection(&b.url);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let t = {
        let (stop, got, channel) = (stop.clone(), got.clone(), channel.clone());
        std::thread::Builder::new()
            .name("raw-fanout".into())
            .spawn(move || {
                let slots: Vec<std::sync::Mutex<Option<Arc<Ten>>>> =
                    (0..n).map(|_| std::sync::Mutex::new(None)).collect();
                con.set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let mut ps = con.as_pubsub();
                ps.subscribe(&channel).unwrap();
                ready_tx.send(()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(m) = ps.get_message() {
                        for slot in &slots {
                            let v = Ten::from_payload(m.get_payload_bytes());
                            *slot.lock().unwrap() = Some(Arc::new(v));
                            got.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
            .unwrap()
    };
    ready_rx.recv().unwrap();
    let cpu0 = crate::cpu::thread_named_us("raw-fanout");
    let schema = <Ten as reem::ReemMarshal>::schema().unwrap();
    for seq in 1..=messages {
        crate::workloads::raw_publish(&mut b.raw, &channel, &msg, seq, schema);
    }
    let want = messages * n as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let raw_cpu = crate::cpu::thread_named_us("raw-fanout") - cpu0;
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    let per = |cpu: f64, count: u64| cpu / count.max(1) as f64;
    let raw_delivered = got.load(Ordering::Relaxed);
    FanoutPoint {
        subscribers: n,
        messages,
        reem_cpu_us: per(reem_cpu, reem_delivered),
        raw_cpu_us: per(raw_cpu, raw_delivered),
        reem_delivered,
        raw_delivered,
    }
}
