//! The workloads W1–W7, each written twice: through reem, and as the hand-written raw
//! `redis` code that sends the same commands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ndarray::{Array1, Array2};
use redis::Connection;
use reem::Fields;
use reem::{KeyValueStore, PublishSpace, RawSubscriber, RedisInterface, ReemMarshal};

use crate::measure::{compare, throughput, Row};

/// W1/W2/W5/W6: a 10-field message (5 f64, 3 i64, 2 short strings).
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
pub struct Ten {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub roll: f64,
    pub yaw: f64,
    pub seq: i64,
    pub stamp_ns: i64,
    pub count: i64,
    pub frame: String,
    pub child: String,
}

impl Ten {
    pub fn new(i: i64) -> Self {
        Ten {
            x: 1.25 + i as f64,
            y: -0.5,
            z: 3.25,
            roll: 0.001,
            yaw: -2.5e-3,
            seq: i,
            stamp_ns: 1_732_000_000_000_000_000 + i,
            count: 7,
            frame: "map".into(),
            child: "base_link".into(),
        }
    }

    /// The raw side's encoding of the same fields: `name value` pairs.
    pub(crate) fn pairs(&self) -> [(&'static str, String); 10] {
        [
            ("x", self.x.to_string()),
            ("y", self.y.to_string()),
            ("z", self.z.to_string()),
            ("roll", self.roll.to_string()),
            ("yaw", self.yaw.to_string()),
            ("seq", self.seq.to_string()),
            ("stamp_ns", self.stamp_ns.to_string()),
            ("count", self.count.to_string()),
            ("frame", self.frame.clone()),
            ("child", self.child.clone()),
        ]
    }

    /// The raw side's decoding of a `field → text` map.
    pub(crate) fn from_map(h: &HashMap<String, String>) -> Self {
        let f = |k: &str| h[k].parse::<f64>().unwrap();
        let i = |k: &str| h[k].parse::<i64>().unwrap();
        Ten {
            x: f("x"),
            y: f("y"),
            z: f("z"),
            roll: f("roll"),
            yaw: f("yaw"),
            seq: i("seq"),
            stamp_ns: i("stamp_ns"),
            count: i("count"),
            frame: h["frame"].clone(),
            child: h["child"].clone(),
        }
    }

    /// The raw side's payload for payload-in-PUBLISH: `name=value` lines.
    pub(crate) fn payload(&self) -> Vec<u8> {
        self.pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>()
            .into_bytes()
    }

    pub(crate) fn from_payload(p: &[u8]) -> Self {
        let text = std::str::from_utf8(p).unwrap();
        let map = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self::from_map(&map)
    }
}

/// W7: a struct whose 1 MiB array must not cross the network for a one-field read.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
pub struct Scan {
    pub stamp: f64,
    pub seq: u64,
    pub ranges: Array1<f64>,
}

/// Everything a workload needs: the server's URL, reem's store, a raw connection.
pub struct Bench {
    pub url: String,
    pub iface: RedisInterface,
    pub kv: KeyValueStore,
    pub raw: Connection,
    pub quick: bool,
}

impl Bench {
    pub fn new(url: &str, quick: bool) -> Self {
        let iface = RedisInterface::new(url).unwrap();
        Bench {
            url: url.to_owned(),
            kv: KeyValueStore::new(&iface),
            iface,
            raw: raw_connection(url),
            quick,
        }
    }
}

/// `n` rounds, or a tenth of them for a quick run.
pub(crate) fn scale(quick: bool, n: usize) -> usize {
    if quick {
        (n / 10).max(2)
    } else {
        n
    }
}

/// A raw `redis` connection with the same TCP_NODELAY setting reem uses.
pub fn raw_connection(url: &str) -> Connection {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .unwrap()
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info).unwrap().get_connection().unwrap()
}

pub(crate) fn row(
    id: &str,
    what: &str,
    (reem, raw): (crate::measure::Stats, crate::measure::Stats),
    target: &str,
    note: &str,
) -> Row {
    let ratio = reem.median_us / raw.median_us;
    Row {
        id: id.into(),
        what: what.into(),
        reem,
        raw,
        ratio,
        target: target.into(),
        note: note.into(),
    }
}

/// The header reem writes, so that the raw side sends the same commands.
fn header(schema: &reem::schema::Schema) -> [(&'static str, &str); 3] {
    [
        ("@label", &schema.label),
        ("@fp", &schema.fingerprint_hex),
        ("@schema", &schema.json),
    ]
}

pub fn w1_w2(b: &mut Bench) -> Vec<Row> {
    let msg = Ten::new(1);
    let schema = Ten::schema().unwrap();
    let (kv, raw) = (&b.kv, &mut b.raw);
    let set = compare(
        scale(b.quick, 20),
        100,
        || kv.set("w1", &msg).unwrap(),
        || {
            let mut p = redis::pipe();
            p.atomic()
                .cmd("UNLINK")
                .arg("w1")
                .ignore()
                .cmd("HSET")
                .arg("w1");
            for (k, v) in header(schema) {
                p.arg(k).arg(v);
            }
            for (k, v) in msg.pairs() {
                p.arg(k).arg(v);
            }
            p.ignore().query::<()>(raw).unwrap();
        },
    );
    let get = compare(
        scale(b.quick, 20),
        100,
        || assert_eq!(kv.get::<Ten>("w1").unwrap(), msg),
        || {
            let h: HashMap<String, String> = redis::cmd("HGETALL").arg("w1").query(raw).unwrap();
            assert_eq!(Ten::from_map(&h), msg);
        },
    );
    vec![
        row(
            "W1",
            "set, 10-field message",
            set,
            "≤ 1.10",
            "raw: MULTI, UNLINK, HSET of the same fields, EXEC",
        ),
        row(
            "W2",
            "get, 10-field message",
            get,
            "≤ 1.10",
            "raw: HGETALL into a HashMap, fields parsed by hand",
        ),
    ]
}

pub fn w3(b: &mut Bench) -> Vec<Row> {
    let arr = Array1::from_iter((0..131_072).map(|i| i as f64 * 0.5)); // 1 MiB
    let schema = <Array1<f64> as ReemMarshal>::schema().unwrap();
    let (kv, raw) = (&b.kv, &mut b.raw);
    let set = compare(
        scale(b.quick, 10),
        50,
        || kv.set("w3", &arr).unwrap(),
        || {
            let bytes: &[u8] = bytemuck::cast_slice(arr.as_slice().unwrap());
            let mut p = redis::pipe();
            p.atomic()
                .cmd("UNLINK")
                .arg("w3")
                .ignore()
                .cmd("HSET")
                .arg("w3");
            for (k, v) in header(schema) {
                p.arg(k).arg(v);
            }
            p.arg("dtype")
                .arg("float64")
                .arg("shape")
                .arg("(131072,)")
                .arg("strides")
                .arg("(8,)")
                .arg("arr")
                .arg(bytes);
            p.ignore().query::<()>(raw).unwrap();
        },
    );
    let get = compare(
        scale(b.quick, 10),
        50,
        || assert_eq!(kv.get::<Array1<f64>>("w3").unwrap().len(), 131_072),
        || {
            let mut h: HashMap<String, Vec<u8>> =
                redis::cmd("HGETALL").arg("w3").query(raw).unwrap();
            let v: Vec<f64> = bytemuck::pod_collect_to_vec(&h.remove("arr").unwrap());
            assert_eq!(Array1::from_vec(v).len(), 131_072);
        },
    );
    vec![
        row(
            "W3 set",
            "set, 1 MiB Array1<f64>",
            set,
            "≤ 1.10",
            "raw: MULTI, UNLINK, HSET of the same fields, EXEC",
        ),
        row(
            "W3 get",
            "get, 1 MiB Array1<f64>",
            get,
            "≤ 1.10",
            "raw: HGETALL, bytes cast into a Vec<f64>",
        ),
    ]
}

pub fn w4(b: &mut Bench) -> Vec<Row> {
    let arr = Array2::from_shape_fn((2048, 4096), |(i, j)| (i * 31 + j) as u8); // 8 MiB
    let (kv, raw) = (&b.kv, &mut b.raw);
    let set = compare(
        scale(b.quick, 5),
        10,
        || kv.set("w4", &arr).unwrap(),
        || {
            redis::cmd("HSET")
                .arg("w4raw")
                .arg("arr")
                .arg(arr.as_slice().unwrap())
                .exec(raw)
                .unwrap();
        },
    );
    let get = compare(
        scale(b.quick, 5),
        10,
        || assert_eq!(kv.get::<Array2<u8>>("w4").unwrap().dim(), (2048, 4096)),
        || {
            let v: Vec<u8> = redis::cmd("HGET")
                .arg("w4raw")
                .arg("arr")
                .query(raw)
                .unwrap();
            assert_eq!(
                Array2::from_shape_vec((2048, 4096), v).unwrap().dim(),
                (2048, 4096)
            );
        },
    );
    vec![
        row(
            "W4 set",
            "set, 8 MiB Array2<u8>",
            set,
            "≤ 1.10",
            "raw: one HSET key arr <bytes>",
        ),
        row(
            "W4 get",
            "get, 8 MiB Array2<u8>",
            get,
            "≤ 1.10",
            "raw: one HGET key arr",
        ),
    ]
}

/// A raw subscriber thread: decodes every message on `channel` with `decode` and hands it
/// over; stops when `stop` is set.
fn raw_subscriber<T: Send + 'static>(
    url: &str,
    channel: &str,
    stop: Arc<AtomicBool>,
    decode: fn(&[u8]) -> T,
) -> (
    mpsc::Receiver<T>,
    Arc<AtomicU64>,
    std::thread::JoinHandle<()>,
) {
    let mut con = raw_connection(url);
    let (tx, rx) = mpsc::channel();
    let count = Arc::new(AtomicU64::new(0));
    let (channel, c2) = (channel.to_owned(), count.clone());
    let (ready_tx, ready_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        con.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut ps = con.as_pubsub();
        ps.subscribe(&channel).unwrap();
        ready_tx.send(()).unwrap();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(msg) = ps.get_message() {
                let v = decode(msg.get_payload_bytes());
                c2.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(v);
            }
        }
    });
    ready_rx.recv().unwrap();
    (rx, count, t)
}

pub fn w5(b: &mut Bench) -> Vec<Row> {
    let pubs = PublishSpace::new(&b.iface);
    let mut rows = Vec::new();
    {
        let mut sub = RawSubscriber::<Ten>::new(&b.iface, "w5").unwrap();
        sub.listen().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (rx, _, t) = raw_subscriber(&b.url, "w5raw", stop.clone(), Ten::from_payload);
        let msg = Ten::new(5);
        let raw = &mut b.raw;
        let lat = compare(
            scale(b.quick, 10),
            50,
            || {
                pubs.publish("w5", &msg).unwrap();
                while sub.recv_timeout(Duration::from_secs(2)).unwrap().is_none() {}
            },
            || {
                redis::cmd("PUBLISH")
                    .arg("w5raw")
                    .arg(msg.payload())
                    .exec(raw)
                    .unwrap();
                rx.recv_timeout(Duration::from_secs(2)).unwrap();
            },
        );
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        rows.push(row(
            "W5 small",
            "publish → decoded value, 10-field message",
            lat,
            "≤ 1.25",
            "raw: PUBLISH with the message as payload, decoded by a raw subscriber",
        ));
    }
    {
        let arr: Vec<f64> = (0..131_072).map(|i| i as f64).collect();
        let mut sub = RawSubscriber::<Vec<f64>>::new(&b.iface, "w5big").unwrap();
        sub.listen().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (rx, _, t) = raw_subscriber(&b.url, "w5bigraw", stop.clone(), |p| {
            bytemuck::pod_collect_to_vec::<u8, f64>(p)
        });
        let raw = &mut b.raw;
        let lat = compare(
            scale(b.quick, 6),
            25,
            || {
                pubs.publish("w5big", &arr).unwrap();
                while sub.recv_timeout(Duration::from_secs(2)).unwrap().is_none() {}
            },
            || {
                redis::cmd("PUBLISH")
                    .arg("w5bigraw")
                    .arg(bytemuck::cast_slice::<f64, u8>(&arr))
                    .exec(raw)
                    .unwrap();
                rx.recv_timeout(Duration::from_secs(2)).unwrap();
            },
        );
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        rows.push(row(
            "W5 1 MiB",
            "publish → decoded value, 1 MiB Vec<f64>",
            lat,
            "≤ 1.25",
            "raw: PUBLISH with the bytes as payload, cast by a raw subscriber",
        ));
    }
    rows
}

pub fn w6(b: &mut Bench) -> Vec<Row> {
    let secs = if b.quick { 0.5 } else { 2.0 };
    let rounds = if b.quick { 2 } else { 8 };
    let slice = secs / rounds as f64;
    let msg = Ten::new(6);
    let pubs = PublishSpace::new(&b.iface);
    let mut sub = RawSubscriber::<Ten>::new(&b.iface, "w6").unwrap();
    sub.listen().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (_rx, count, t) = raw_subscriber(&b.url, "w6raw", stop.clone(), Ten::from_payload);
    let schema = Ten::schema().unwrap();
    let raw = &mut b.raw;
    let mut raw_publish = || {
        let mut p = redis::pipe();
        p.atomic()
            .cmd("UNLINK")
            .arg("w6raw")
            .ignore()
            .cmd("HSET")
            .arg("w6raw");
        for (k, v) in header(schema) {
            p.arg(k).arg(v);
        }
        for (k, v) in msg.pairs() {
            p.arg(k).arg(v);
        }
        p.ignore()
            .cmd("PUBLISH")
            .arg("w6raw")
            .arg(msg.payload())
            .ignore();
        p.query::<()>(raw).unwrap();
    };
    // Both sides publish for `secs` in all, in alternating slices, so that machine noise
    // over time hits both; both subscribers listen throughout.
    let (mut reem_sent, mut reem_time, mut raw_sent, mut raw_time) =
        (0, Duration::ZERO, 0, Duration::ZERO);
    for round in 0..rounds {
        let reem_slice = || run_for(slice, || pubs.publish("w6", &msg).unwrap());
        if round % 2 == 0 {
            let (n, d) = reem_slice();
            (reem_sent, reem_time) = (reem_sent + n, reem_time + d);
            let (n, d) = run_for(slice, &mut raw_publish);
            (raw_sent, raw_time) = (raw_sent + n, raw_time + d);
        } else {
            let (n, d) = run_for(slice, &mut raw_publish);
            (raw_sent, raw_time) = (raw_sent + n, raw_time + d);
            let (n, d) = reem_slice();
            (reem_sent, reem_time) = (reem_sent + n, reem_time + d);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    let reem = throughput(reem_sent, reem_time, sub.counters().received);
    let raw_stats = throughput(raw_sent, raw_time, count.load(Ordering::Relaxed));
    let ratio = reem.ops_per_s / raw_stats.ops_per_s;
    vec![Row {
        id: "W6".into(),
        what: format!("publishes/s for {secs} s, one subscriber"),
        reem,
        raw: raw_stats,
        ratio,
        target: "≥ 0.8".into(),
        note: "ratio of rates; raw: store + PUBLISH with payload pipelined in one MULTI/EXEC per message; alternating slices".into(),
    }]
}

fn run_for(secs: f64, mut f: impl FnMut()) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < secs {
        f();
        n += 1;
    }
    (n, start.elapsed())
}

pub fn w7(b: &mut Bench) -> Vec<Row> {
    let scan = Scan {
        stamp: 12.5,
        seq: 3,
        ranges: Array1::from_elem(131_072, 1.0),
    };
    b.kv.set("w7", &scan).unwrap();
    let (kv, raw) = (&b.kv, &mut b.raw);
    let field = Scan::fields().stamp();
    let get = compare(
        scale(b.quick, 20),
        100,
        || assert_eq!(kv.get_field("w7", &field).unwrap(), 12.5),
        || {
            let v: Option<String> = redis::cmd("HGET")
                .arg("w7")
                .arg("stamp")
                .query(raw)
                .unwrap();
            assert_eq!(v.unwrap().parse::<f64>().unwrap(), 12.5);
        },
    );
    // Evidence that the array does not cross the network: the server's output bytes.
    let before = net_output_bytes(raw);
    for _ in 0..100 {
        kv.get_field("w7", &field).unwrap();
    }
    let per_op = net_output_bytes(raw).saturating_sub(before) / 100;
    let note = format!("the server sent ~{per_op} bytes per get_field; the array is 1048576 bytes. raw: HGET key stamp");
    vec![row(
        "W7",
        "get_field of one f64 beside a 1 MiB array",
        get,
        "no array transfer",
        &note,
    )]
}

/// `total_net_output_bytes` of the server (the INFO reply itself adds a few kB, paid once).
fn net_output_bytes(raw: &mut Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(raw).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
