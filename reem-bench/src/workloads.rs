//! The workloads W1–W7, each written twice: through reem's public API, and as the fastest
//! straightforward raw `redis` code that sends the same commands; large values also a third
//! time, as the direct-RESP floor ([`crate::direct`]).
//!
//! The raw code, reviewed against the `redis` 1.8 documentation: TCP_NODELAY on (as reem
//! has it), replies read as `redis::Value` (no `HashMap` or `String` conversion a workload
//! does not need), numbers passed as arguments (`ToRedisArgs` formats them with `ryu` /
//! `itoa`), large values as `&[u8]` arguments, a byte buffer that becomes an array moved
//! (`u8`) or cast once (`bytemuck::pod_collect_to_vec`), transactions as an atomic
//! `redis::pipe()`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ndarray::{Array, Array1, Dimension};
use redis::{Connection, Value};
use reem::marshal::array::Element;
use reem::Fields;
use reem::{KeyValueStore, PublishSpace, RawSubscriber, RedisInterface, ReemMarshal};

use crate::direct::Direct;
use crate::measure::{compare, throughput, Row, Stats};

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

    /// The raw side's encoding: the fields as `name value` arguments of the current command
    /// (numbers formatted by the crate).
    pub(crate) fn args(&self, p: &mut redis::Pipeline) {
        p.arg("x")
            .arg(self.x)
            .arg("y")
            .arg(self.y)
            .arg("z")
            .arg(self.z)
            .arg("roll")
            .arg(self.roll)
            .arg("yaw")
            .arg(self.yaw)
            .arg("seq")
            .arg(self.seq)
            .arg("stamp_ns")
            .arg(self.stamp_ns)
            .arg("count")
            .arg(self.count)
            .arg("frame")
            .arg(&self.frame)
            .arg("child")
            .arg(&self.child);
    }

    /// The raw side's decoding of `name value` pairs; other names are skipped.
    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Self {
        let mut t = Ten::new(0);
        let f = |v: &[u8]| std::str::from_utf8(v).unwrap().parse::<f64>().unwrap();
        let i = |v: &[u8]| std::str::from_utf8(v).unwrap().parse::<i64>().unwrap();
        let s = |v: &[u8]| std::str::from_utf8(v).unwrap().to_owned();
        for (k, v) in pairs {
            match k {
                b"x" => t.x = f(v),
                b"y" => t.y = f(v),
                b"z" => t.z = f(v),
                b"roll" => t.roll = f(v),
                b"yaw" => t.yaw = f(v),
                b"seq" => t.seq = i(v),
                b"stamp_ns" => t.stamp_ns = i(v),
                b"count" => t.count = i(v),
                b"frame" => t.frame = s(v),
                b"child" => t.child = s(v),
                _ => {}
            }
        }
        t
    }

    /// The raw side's decoding of an `HGETALL` reply (RESP2 array or RESP3 map).
    pub(crate) fn from_value(v: &Value) -> Self {
        match v {
            Value::Map(m) => Self::from_pairs(m.iter().map(|(k, v)| (bulk(k), bulk(v)))),
            v => Self::from_pairs(pairs(v)),
        }
    }

    /// The raw side's payload for a notification: `name=value` lines.
    pub(crate) fn payload(&self, seq: u64) -> String {
        let mut s = String::with_capacity(160);
        let _ = write!(
            s,
            "x={}\ny={}\nz={}\nroll={}\nyaw={}\nseq={}\nstamp_ns={}\ncount={}\nframe={}\nchild={}\n@seq={seq}\n",
            self.x, self.y, self.z, self.roll, self.yaw, self.seq, self.stamp_ns, self.count,
            self.frame, self.child
        );
        s
    }

    pub fn from_payload(p: &[u8]) -> Self {
        Self::from_pairs(p.split(|b| *b == b'\n').filter_map(|l| {
            let eq = l.iter().position(|b| *b == b'=')?;
            Some((&l[..eq], &l[eq + 1..]))
        }))
    }
}

/// The hash inside a reem inline notification (`reem2 h <publisher> <seq>\n` then
/// `<length>:<bytes>` items, docs/FORMAT.md), as the reply `HGETALL` would give.
fn inline_notification(p: &[u8]) -> Value {
    let nl = p
        .iter()
        .position(|b| *b == b'\n')
        .expect("a notification header");
    assert!(p.starts_with(b"reem2 h "), "an inline notification");
    let mut body = &p[nl + 1..];
    let mut items = Vec::with_capacity(32);
    while !body.is_empty() {
        let colon = body.iter().position(|b| *b == b':').unwrap();
        let len: usize = std::str::from_utf8(&body[..colon])
            .unwrap()
            .parse()
            .unwrap();
        items.push(Value::BulkString(body[colon + 1..colon + 1 + len].to_vec()));
        body = &body[colon + 1 + len..];
    }
    Value::Array(items)
}

/// The `(name, value)` pairs of an `HGETALL` reply (RESP2 flat array).
fn pairs(v: &Value) -> impl Iterator<Item = (&[u8], &[u8])> {
    let items = match v {
        Value::Array(items) => items.as_slice(),
        other => panic!("not a hash: {other:?}"),
    };
    items.chunks_exact(2).map(|p| (bulk(&p[0]), bulk(&p[1])))
}

fn bulk(v: &Value) -> &[u8] {
    match v {
        Value::BulkString(b) => b,
        other => panic!("not a hash: {other:?}"),
    }
}

/// Moves the value of `field` out of an `HGETALL` reply (RESP2 array or RESP3 map).
pub fn take_field(v: Value, field: &[u8]) -> Vec<u8> {
    let hit = |k: &Value| matches!(k, Value::BulkString(k) if k == field);
    let found = match v {
        Value::Array(items) => {
            let mut it = items.into_iter();
            loop {
                match (it.next(), it.next()) {
                    (Some(k), Some(v)) if hit(&k) => break Some(v),
                    (Some(_), Some(_)) => {}
                    _ => break None,
                }
            }
        }
        Value::Map(m) => m.into_iter().find(|(k, _)| hit(k)).map(|(_, v)| v),
        other => panic!("not a hash: {other:?}"),
    };
    match found {
        Some(Value::BulkString(v)) => v,
        _ => panic!("no field {}", String::from_utf8_lossy(field)),
    }
}

/// W7: a struct whose 1 MiB array must not cross the network for a one-field read.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
pub struct Scan {
    pub stamp: f64,
    pub seq: u64,
    pub ranges: Array1<f64>,
}

/// Everything a workload needs: the server's URL, reem's store, a raw connection, a direct
/// one.
pub struct Bench {
    pub url: String,
    pub iface: RedisInterface,
    pub kv: KeyValueStore,
    pub raw: Connection,
    pub direct: Direct,
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
            direct: Direct::connect(url),
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
        direct: None,
        raw_warm: None,
        hwm_kib: None,
        ratio,
        target: target.into(),
        note: note.into(),
    }
}

fn row3(
    id: &str,
    what: &str,
    (reem, raw, direct): (Stats, Stats, Stats),
    target: &str,
    note: &str,
) -> Row {
    let mut r = row(id, what, (reem, raw), target, note);
    r.direct = Some(direct);
    r
}

/// The header reem writes, so that the raw side sends the same commands.
pub(crate) fn header(schema: &reem::schema::Schema) -> [(&'static str, &str); 3] {
    [
        ("@label", &schema.label),
        ("@fp", &schema.fingerprint_hex),
        ("@schema", &schema.json),
    ]
}

/// The raw side's store of `key`, as reem sends it: an atomic pipeline with `UNLINK key`
/// and `HSET key <header>` left open for the value's fields (the caller ends it with
/// `.ignore()`).
pub(crate) fn raw_store(key: &str, schema: &reem::schema::Schema) -> redis::Pipeline {
    let mut p = redis::pipe();
    p.atomic()
        .cmd("UNLINK")
        .arg(key)
        .ignore()
        .cmd("HSET")
        .arg(key);
    for (k, v) in header(schema) {
        p.arg(k).arg(v);
    }
    p
}

/// Appends the publisher stamp reem stores with a published message: `HSET key @pub <id>
/// @seq <seq>`.
pub(crate) fn raw_stamp(p: &mut redis::Pipeline, key: &str, seq: u64) {
    p.cmd("HSET")
        .arg(key)
        .arg("@pub")
        .arg("00000000c0ffee00")
        .arg("@seq")
        .arg(seq)
        .ignore();
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
            let mut p = raw_store("w1raw", schema);
            msg.args(&mut p);
            p.ignore().exec(raw).unwrap();
        },
    );
    let get = compare(
        scale(b.quick, 20),
        100,
        || assert_eq!(kv.get::<Ten>("w1").unwrap(), msg),
        || {
            let v: Value = redis::cmd("HGETALL").arg("w1").query(raw).unwrap();
            assert_eq!(Ten::from_value(&v), msg);
        },
    );
    vec![
        row(
            "W1",
            "set, 10-field message",
            set,
            "≤ 1.05",
            "raw: MULTI, UNLINK, HSET of the same fields (numbers as arguments), EXEC",
        ),
        row(
            "W2",
            "get, 10-field message",
            get,
            "≤ 1.05",
            "raw: HGETALL into a Value, the pairs matched by name and parsed",
        ),
    ]
}

/// The small fields reem stores with an array (its header, dtype, shape, strides).
pub fn array_fields<A: Element, D: Dimension + 'static>(
    a: &Array<A, D>,
) -> Vec<(&'static str, Vec<u8>)> {
    let schema = <Array<A, D> as ReemMarshal>::schema().unwrap();
    let mut v: Vec<(&'static str, Vec<u8>)> = header(schema)
        .iter()
        .map(|(k, v)| (*k, v.as_bytes().to_vec()))
        .collect();
    v.push(("dtype", A::DTYPE.as_bytes().to_vec()));
    v.push((
        "shape",
        reem::marshal::array::format_tuple(a.shape()).into_bytes(),
    ));
    v.push((
        "strides",
        reem::marshal::array::format_tuple(&reem::marshal::array::c_strides(a.shape(), A::SIZE))
            .into_bytes(),
    ));
    v
}

/// An element type the raw side can cast to.
pub trait Elem: Element + bytemuck::Pod {}
impl<T: Element + bytemuck::Pod> Elem for T {}

/// A large-value workload, each side in its own process ([`crate::sides`]): `op` (`get` or
/// `set`) of an array of `dtype` with `shape`.
///
/// - get: reem's `kv.get`; raw `HGETALL` into a `Value`, `arr` moved out and made the array
///   (moved for one-byte elements, else cast once); direct: the `HGETALL` reply read by
///   hand, `arr` straight into a reused element buffer. All read the key reem stored.
/// - set: reem's `kv.set`; raw `MULTI; UNLINK; HSET key <small fields>; HSET key arr
///   <bytes>; EXEC` (the commands reem sends) as an atomic pipeline; direct: the same RESP
///   by hand, the array written from its own memory by one vectored write.
pub fn large(
    b: &mut Bench,
    op: &'static str,
    dtype: &'static str,
    shape: &[usize],
    key: &str,
    rounds: usize,
    per_round: usize,
) -> Vec<crate::sides::SideResult> {
    if op == "get" {
        match dtype {
            "f64" => crate::sides::store::<f64>(&b.kv, key, shape),
            "f32" => crate::sides::store::<f32>(&b.kv, key, shape),
            "u16" => crate::sides::store::<u16>(&b.kv, key, shape),
            "u8" => crate::sides::store::<u8>(&b.kv, key, shape),
            other => panic!("dtype {other}"),
        }
    }
    let specs: Vec<crate::sides::Spec> = ["reem", "raw", "raw-warm", "direct"]
        .into_iter()
        .map(|side| crate::sides::Spec {
            side,
            op,
            dtype,
            shape: shape.to_vec(),
            key: key.to_owned(),
        })
        .collect();
    crate::sides::compare_procs(&b.url, rounds, per_round, &specs)
}

#[allow(clippy::too_many_arguments)]
fn large_row(
    b: &mut Bench,
    id: &str,
    what: &str,
    op: &'static str,
    dtype: &'static str,
    shape: &[usize],
    per_round: usize,
    target: &str,
    note: &str,
) -> Row {
    let rounds = scale(b.quick, 10);
    let mut sides = large(b, op, dtype, shape, id, rounds, per_round).into_iter();
    let mut next = || sides.next().unwrap();
    let (reem, raw, warm, direct) = (next(), next(), next(), next());
    let added = |s: &crate::sides::SideResult| s.hwm_end_kib.saturating_sub(s.hwm_start_kib);
    let hwm = [added(&reem), added(&raw), added(&warm), added(&direct)];
    let mut r = row3(
        id,
        what,
        (reem.stats, raw.stats, direct.stats),
        target,
        note,
    );
    r.raw_warm = Some(warm.stats);
    r.ratio = r.reem.median_us / r.raw_best().median_us;
    r.hwm_kib = Some(hwm);
    r
}

const NOTE_SET: &str = "raw: MULTI, UNLINK, HSET of the small fields, HSET arr, EXEC (atomic pipeline); direct: the same RESP by hand, one vectored write; each side in its own process";
const NOTE_GET: &str = "raw: HGETALL into a Value, arr moved (u8) or cast once into the element Vec, in a process with glibc's defaults and in one that keeps freed memory (the ratio is to the faster); direct: HGETALL read by hand, arr into a reused buffer; each side in its own process";

pub fn w3(b: &mut Bench) -> Vec<Row> {
    vec![
        large_row(
            b,
            "W3 set",
            "set, 1 MiB Array1<f64>",
            "set",
            "f64",
            &[131_072],
            50,
            "≤ 0.8",
            NOTE_SET,
        ),
        large_row(
            b,
            "W3 get",
            "get, 1 MiB Array1<f64>",
            "get",
            "f64",
            &[131_072],
            50,
            "≤ 1.0",
            NOTE_GET,
        ),
        large_row(
            b,
            "W3 get32",
            "get, 1 MiB Array1<f32>",
            "get",
            "f32",
            &[262_144],
            50,
            "≤ 1.0",
            NOTE_GET,
        ),
        large_row(
            b,
            "W3 get16",
            "get, 1 MiB Array1<u16>",
            "get",
            "u16",
            &[524_288],
            50,
            "≤ 1.0",
            NOTE_GET,
        ),
    ]
}

pub fn w4(b: &mut Bench) -> Vec<Row> {
    vec![
        large_row(
            b,
            "W4 set",
            "set, 8 MiB Array2<u8>",
            "set",
            "u8",
            &[2048, 4096],
            6,
            "≤ 0.8",
            NOTE_SET,
        ),
        large_row(
            b,
            "W4 get",
            "get, 8 MiB Array2<u8>",
            "get",
            "u8",
            &[2048, 4096],
            6,
            "≤ 0.9",
            NOTE_GET,
        ),
    ]
}

/// A raw subscriber thread (`raw-sub`): for every message on `channel`, `decode` (which may
/// use a second raw connection of its own) and hand the result over; stops when `stop` is
/// set.
pub fn raw_subscriber<T: Send + 'static>(
    url: &str,
    channel: &str,
    stop: Arc<AtomicBool>,
    mut decode: impl FnMut(&[u8]) -> T + Send + 'static,
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
    let t = std::thread::Builder::new()
        .name("raw-sub".into())
        .spawn(move || {
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
        })
        .unwrap();
    ready_rx.recv().unwrap();
    (rx, count, t)
}

/// The raw side of a publish, doing what reem's does: `MULTI; UNLINK k; HSET k <header>
/// <fields>; HSET k @pub <id> @seq <n>; PUBLISH k <payload>; EXEC`.
pub fn raw_publish(
    raw: &mut Connection,
    key: &str,
    msg: &Ten,
    seq: u64,
    schema: &reem::schema::Schema,
) {
    let mut p = raw_store(key, schema);
    msg.args(&mut p);
    p.ignore();
    raw_stamp(&mut p, key, seq);
    p.cmd("PUBLISH").arg(key).arg(msg.payload(seq)).ignore();
    p.exec(raw).unwrap();
}

pub fn w5(b: &mut Bench) -> Vec<Row> {
    let pubs = PublishSpace::new(&b.iface);
    let mut rows = Vec::new();
    {
        let mut sub = RawSubscriber::<Ten>::new(&b.iface, "w5").unwrap();
        sub.listen().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (rx, _, t) = raw_subscriber(&b.url, "w5raw", stop.clone(), Ten::from_payload);
        // The third side: reem's publish, received by a blocking redis-crate subscriber
        // thread that decodes reem's notification with reem's own `interpret_read` (what a
        // subscriber link without the async runtime would cost).
        let (brx, _, bt) = raw_subscriber(&b.url, "w5b", stop.clone(), |p| {
            Ten::interpret_read("w5b", inline_notification(p)).unwrap()
        });
        let msg = Ten::new(5);
        let schema = Ten::schema().unwrap();
        let raw = &mut b.raw;
        let mut seq = 0;
        let mut stats = crate::measure::compare_sides(
            scale(b.quick, 10),
            50,
            &mut [
                &mut || {
                    pubs.publish("w5", &msg).unwrap();
                    while sub.recv_timeout(Duration::from_secs(2)).unwrap().is_none() {}
                },
                &mut || {
                    seq += 1;
                    raw_publish(raw, "w5raw", &msg, seq, schema);
                    assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), msg);
                },
                &mut || {
                    pubs.publish("w5b", &msg).unwrap();
                    assert_eq!(brx.recv_timeout(Duration::from_secs(2)).unwrap(), msg);
                },
            ],
        )
        .into_iter();
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        bt.join().unwrap();
        let (reem, raw, blocking) = (
            stats.next().unwrap(),
            stats.next().unwrap(),
            stats.next().unwrap(),
        );
        rows.push(row(
            "W5 small",
            "publish → decoded value, 10-field message",
            (reem, raw.clone()),
            "≤ 1.15",
            "raw: MULTI, UNLINK, HSET fields, HSET stamp, PUBLISH fields as payload, EXEC; decoded by a raw subscriber (sync PubSub)",
        ));
        rows.push(row(
            "W5 proto",
            "the same, reem decoding on a blocking link",
            (blocking, raw),
            "-",
            "not reem's subscriber: reem's publish received by a redis-crate sync PubSub thread that decodes reem's notification with reem's interpret_read (no async runtime on the way)",
        ));
    }
    {
        let arr: Vec<f64> = (0..131_072).map(|i| i as f64).collect();
        let mut sub = RawSubscriber::<Vec<f64>>::new(&b.iface, "w5big").unwrap();
        sub.listen().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = raw_connection(&b.url);
        let (rx, _, t) = raw_subscriber(&b.url, "w5bigraw", stop.clone(), move |_note| {
            let v: Value = redis::cmd("HGETALL")
                .arg("w5bigraw")
                .query(&mut reader)
                .unwrap();
            bytemuck::pod_collect_to_vec::<u8, f64>(&take_field(v, b"arr"))
        });
        let schema = <Vec<f64> as ReemMarshal>::schema().unwrap();
        let small = [
            ("dtype", "float64".to_owned()),
            ("shape", "(131072,)".to_owned()),
            ("strides", "(8,)".to_owned()),
        ];
        let raw = &mut b.raw;
        let mut seq = 0u64;
        let lat = compare(
            scale(b.quick, 6),
            25,
            || {
                pubs.publish("w5big", &arr).unwrap();
                while sub.recv_timeout(Duration::from_secs(2)).unwrap().is_none() {}
            },
            || {
                seq += 1;
                let mut p = raw_store("w5bigraw", schema);
                for (k, v) in &small {
                    p.arg(*k).arg(v);
                }
                p.ignore()
                    .cmd("HSET")
                    .arg("w5bigraw")
                    .arg("arr")
                    .arg(bytemuck::cast_slice::<f64, u8>(&arr))
                    .ignore();
                raw_stamp(&mut p, "w5bigraw", seq);
                p.cmd("PUBLISH").arg("w5bigraw").arg(seq).ignore();
                p.exec(raw).unwrap();
                assert_eq!(
                    rx.recv_timeout(Duration::from_secs(2)).unwrap().len(),
                    arr.len()
                );
            },
        );
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        rows.push(row(
            "W5 1 MiB",
            "publish → decoded value, 1 MiB Vec<f64>",
            lat,
            "≤ 1.25",
            "raw: store + PUBLISH of the sequence number in one MULTI/EXEC; the raw subscriber reads the key (HGETALL) and casts",
        ));
    }
    rows
}

/// Where the time of one side's publishes went: CPU per publish, µs.
#[derive(Default, Clone, Copy)]
struct Spent {
    publisher: f64,
    subscriber: f64,
    server: f64,
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
    let mut info = raw_connection(&b.url);
    let raw = &mut b.raw;
    let mut seq = 0;
    let reem_seen = || {
        let c = sub.counters();
        c.received + c.skipped + c.decode_errors
    };
    let raw_seen = || count.load(Ordering::Relaxed);
    // One slice of one side: publish for `slice` seconds, then wait until its subscriber
    // has received everything (the time includes that wait: the rate is what the
    // subscriber sustains), noting the CPU of the publisher, the subscriber and the server.
    let mut run_slice = |reem: bool, spent: &mut Spent| -> (u64, Duration) {
        let (sub_name, seen): (&str, &dyn Fn() -> u64) = if reem {
            ("reem-pubsub", &reem_seen)
        } else {
            ("raw-sub", &raw_seen)
        };
        let before = seen();
        let (p0, s0, v0) = (
            crate::cpu::this_thread_us(),
            crate::cpu::thread_named_us(sub_name),
            crate::cpu::server_us(&mut info),
        );
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < slice {
            if reem {
                pubs.publish("w6", &msg).unwrap();
            } else {
                seq += 1;
                raw_publish(raw, "w6raw", &msg, seq, schema);
            }
            n += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen() - before < n && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let took = start.elapsed();
        spent.publisher += crate::cpu::this_thread_us() - p0;
        spent.subscriber += crate::cpu::thread_named_us(sub_name) - s0;
        spent.server += crate::cpu::server_us(&mut info) - v0;
        (n, took)
    };
    // Both sides publish for `secs` in all, in alternating slices, so that machine noise
    // over time hits both; both subscribers listen throughout.
    let (mut reem_sent, mut reem_time, mut raw_sent, mut raw_time) =
        (0, Duration::ZERO, 0, Duration::ZERO);
    let (mut reem_cpu, mut raw_cpu) = (Spent::default(), Spent::default());
    let received_before = sub.counters().received;
    for round in 0..rounds {
        for reem in if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        } {
            if reem {
                let (n, d) = run_slice(true, &mut reem_cpu);
                (reem_sent, reem_time) = (reem_sent + n, reem_time + d);
            } else {
                let (n, d) = run_slice(false, &mut raw_cpu);
                (raw_sent, raw_time) = (raw_sent + n, raw_time + d);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    let reem = throughput(
        reem_sent,
        reem_time,
        sub.counters().received - received_before,
    );
    let raw_stats = throughput(raw_sent, raw_time, count.load(Ordering::Relaxed));
    let ratio = reem.ops_per_s / raw_stats.ops_per_s;
    let per = |s: Spent, n: u64| {
        let n = n.max(1) as f64;
        format!(
            "publisher thread {:.1} µs, subscriber thread {:.1} µs, server {:.1} µs",
            s.publisher / n,
            s.subscriber / n,
            s.server / n
        )
    };
    vec![Row {
        id: "W6".into(),
        what: format!("publishes/s for {secs} s, one subscriber"),
        reem,
        raw: raw_stats,
        direct: None,
        raw_warm: None,
        hwm_kib: None,
        ratio,
        target: "≥ 0.9".into(),
        note: format!(
            "CPU per publish: reem {}; raw {}. Ratio of rates, each slice timed until its subscriber has everything; raw: the same MULTI/UNLINK/HSET/HSET/PUBLISH/EXEC per message, a raw subscriber decoding each; alternating slices",
            per(reem_cpu, reem_sent),
            per(raw_cpu, raw_sent)
        ),
    }]
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
            let v: Value = redis::cmd("HGET")
                .arg("w7")
                .arg("stamp")
                .query(raw)
                .unwrap();
            let Value::BulkString(v) = v else { panic!() };
            assert_eq!(
                std::str::from_utf8(&v).unwrap().parse::<f64>().unwrap(),
                12.5
            );
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
pub fn net_output_bytes(raw: &mut Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(raw).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
