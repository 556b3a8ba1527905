//! `reem::aio` against hand-written async `redis` code (a `MultiplexedConnection`) sending
//! the same commands, on one tokio runtime, alternating round by round.
//!
//! | row | what |
//! |-----|------|
//! | A1–A4 | W1–W4 (set/get of a 10-field message, a 1 MiB `Array1<f64>`, an 8 MiB `Array2<u8>`) through `aio::KeyValueStore` |
//! | A5 | publish → item of a `Stream` subscriber, 10-field message (raw: the same store-and-publish transaction; "A5 bare": a bare `PUBLISH`, as W5) |
//! | A6 | sets per second of 64 concurrent tasks on one interface vs 64 tasks on one raw multiplexed connection |
//! | D1 | the design question, raw vs raw: a set through a connection whose driver runs on a private runtime thread, against one whose driver runs on the caller's runtime |

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::{Array1, Array2};
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, Value};
use reem::{aio, ReemMarshal};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::measure::{compare, throughput, Row};
use crate::workloads::{raw_stamp, raw_store, row, scale, take_field, Bench, Ten};

/// A current-thread runtime: each operation is one `block_on`, for reem and raw alike, so
/// both drive their connection on the measuring thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A raw multiplexed connection with TCP_NODELAY and reem's default response timeout
/// (30 s; the crate's own is 500 ms), opened on the current runtime.
async fn raw_connection(url: &str) -> MultiplexedConnection {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .unwrap()
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    redis::Client::open(info)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// The raw side's set of `msg`, encoded each time as reem does: `MULTI; UNLINK key; HSET
/// key <header> <fields>; EXEC`.
fn raw_set(key: &str, schema: &reem::schema::Schema, msg: &Ten) -> redis::Pipeline {
    let mut p = raw_store(key, schema);
    msg.args(&mut p);
    p.ignore();
    p
}

/// The raw side's set of an array, the commands reem sends:
/// `MULTI; UNLINK key; HSET key <header> <small>; HSET key arr <bytes>; EXEC`.
fn raw_set_array(
    key: &str,
    schema: &reem::schema::Schema,
    small: &[(&str, &[u8])],
    bytes: &[u8],
) -> redis::Pipeline {
    let mut p = raw_store(key, schema);
    for (k, v) in small {
        p.arg(*k).arg(*v);
    }
    p.ignore()
        .cmd("HSET")
        .arg(key)
        .arg("arr")
        .arg(bytes)
        .ignore();
    p
}

pub fn rows(b: &mut Bench) -> Vec<Row> {
    let rt = runtime();
    let kv = aio::KeyValueStore::new(&b.iface);
    let mut raw = rt.block_on(raw_connection(&b.url));
    let mut rows = Vec::new();

    // A1/A2: the 10-field message.
    let msg = Ten::new(1);
    let schema = Ten::schema().unwrap();
    let set = compare(
        scale(b.quick, 20),
        100,
        || rt.block_on(kv.set("a1", &msg)).unwrap(),
        || {
            let p = raw_set("a1", schema, &msg);
            rt.block_on(p.query_async::<()>(&mut raw)).unwrap();
        },
    );
    rows.push(row(
        "A1",
        "aio set, 10-field message",
        set,
        "≤ 1.10",
        "raw: MultiplexedConnection, MULTI/UNLINK/HSET/EXEC",
    ));
    let get = compare(
        scale(b.quick, 20),
        100,
        || assert_eq!(rt.block_on(kv.get::<Ten>("a1")).unwrap(), msg),
        || {
            let v: Value = rt
                .block_on(redis::cmd("HGETALL").arg("a1").query_async(&mut raw))
                .unwrap();
            assert_eq!(Ten::from_value(&v), msg);
        },
    );
    rows.push(row(
        "A2",
        "aio get, 10-field message",
        get,
        "≤ 1.10",
        "raw: HGETALL into a Value, the pairs matched by name and parsed",
    ));

    // A3: 1 MiB Array1<f64>.
    let arr = Array1::from_iter((0..131_072).map(|i| i as f64 * 0.5));
    let schema = <Array1<f64> as ReemMarshal>::schema().unwrap();
    let bytes: &[u8] = bytemuck::cast_slice(arr.as_slice().unwrap());
    let set = compare(
        scale(b.quick, 10),
        50,
        || rt.block_on(kv.set("a3", &arr)).unwrap(),
        || {
            let p = raw_set_array(
                "a3raw",
                schema,
                &[
                    ("dtype", b"float64"),
                    ("shape", b"(131072,)"),
                    ("strides", b"(8,)"),
                ],
                bytes,
            );
            rt.block_on(p.query_async::<()>(&mut raw)).unwrap();
        },
    );
    rows.push(row(
        "A3 set",
        "aio set, 1 MiB Array1<f64>",
        set,
        "≤ 1.10",
        "raw: MULTI/UNLINK/HSET/HSET arr/EXEC",
    ));
    let get = compare(
        scale(b.quick, 10),
        50,
        || {
            assert_eq!(
                rt.block_on(kv.get::<Array1<f64>>("a3")).unwrap().len(),
                131_072
            )
        },
        || {
            let h: Value = rt
                .block_on(redis::cmd("HGETALL").arg("a3").query_async(&mut raw))
                .unwrap();
            let v: Vec<f64> = bytemuck::pod_collect_to_vec(&take_field(h, b"arr"));
            assert_eq!(v.len(), 131_072);
        },
    );
    rows.push(row(
        "A3 get",
        "aio get, 1 MiB Array1<f64>",
        get,
        "≤ 1.10",
        "raw: HGETALL into a Value, arr cast into a Vec<f64>",
    ));

    // A4: 8 MiB Array2<u8>.
    let img = Array2::from_shape_fn((2048, 4096), |(i, j)| (i * 31 + j) as u8);
    let schema = <Array2<u8> as ReemMarshal>::schema().unwrap();
    let set = compare(
        scale(b.quick, 5),
        10,
        || rt.block_on(kv.set("a4", &img)).unwrap(),
        || {
            let p = raw_set_array(
                "a4raw",
                schema,
                &[
                    ("dtype", b"uint8"),
                    ("shape", b"(2048, 4096)"),
                    ("strides", b"(4096, 1)"),
                ],
                img.as_slice().unwrap(),
            );
            rt.block_on(p.query_async::<()>(&mut raw)).unwrap();
        },
    );
    rows.push(row(
        "A4 set",
        "aio set, 8 MiB Array2<u8>",
        set,
        "≤ 1.10",
        "raw: MULTI/UNLINK/HSET/HSET arr/EXEC",
    ));
    let get = compare(
        scale(b.quick, 5),
        10,
        || {
            assert_eq!(
                rt.block_on(kv.get::<Array2<u8>>("a4")).unwrap().dim(),
                (2048, 4096)
            )
        },
        || {
            let h: Value = rt
                .block_on(redis::cmd("HGETALL").arg("a4").query_async(&mut raw))
                .unwrap();
            assert_eq!(
                Array2::from_shape_vec((2048, 4096), take_field(h, b"arr"))
                    .unwrap()
                    .dim(),
                (2048, 4096)
            );
        },
    );
    rows.push(row(
        "A4 get",
        "aio get, 8 MiB Array2<u8>",
        get,
        "≤ 1.10",
        "raw: HGETALL into a Value, arr moved into the array",
    ));

    rows.extend(publish_to_stream(b, &rt, &mut raw));
    rows.push(concurrent_sets(b));
    rows.push(driver_placement(b));
    rows
}

/// A5: publish → the item of a `Stream` subscriber.
fn publish_to_stream(
    b: &Bench,
    rt: &tokio::runtime::Runtime,
    raw: &mut MultiplexedConnection,
) -> Vec<Row> {
    let msg = Ten::new(5);
    let pubs = aio::PublishSpace::new(&b.iface);
    let mut sub = rt
        .block_on(aio::Subscriber::<Ten>::new(&b.iface, "a5"))
        .unwrap();
    // The raw subscriber: a RESP3 multiplexed connection whose pushes go to a channel, its
    // driver on the measuring runtime ("near") or on a private runtime thread ("far", one
    // hop between threads, like reem's shared dispatcher).
    let (tx, mut near) = tokio::sync::mpsc::unbounded_channel();
    let raw_sub = rt.block_on(push_subscriber(&b.url, "a5raw", tx));
    let (tx, mut far) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let url = b.url.clone();
    let far_thread = std::thread::spawn(move || {
        runtime().block_on(async move {
            let _sub = push_subscriber(&url, "a5far", tx).await;
            ready_tx.send(()).unwrap();
            let _ = stop_rx.await;
        })
    });
    ready_rx.recv().unwrap();
    let schema = Ten::schema().unwrap();
    let mut measure = |store: bool, channel: &str, rx: &mut UnboundedReceiver<PushInfo>| {
        compare(
            scale(b.quick, 10),
            50,
            || {
                rt.block_on(async {
                    pubs.publish("a5", &msg).await.unwrap();
                    // The stored message was yielded at start; each publish is one new item.
                    loop {
                        if sub.recv().await.unwrap() == msg {
                            break;
                        }
                    }
                })
            },
            || {
                rt.block_on(async {
                    let mut p = if store {
                        let mut p = raw_set(channel, schema, &msg);
                        raw_stamp(&mut p, channel, 0);
                        p
                    } else {
                        redis::pipe()
                    };
                    p.cmd("PUBLISH").arg(channel).arg(msg.payload(0)).ignore();
                    p.exec_async(&mut *raw).await.unwrap();
                    loop {
                        let push = rx.recv().await.unwrap();
                        if push.kind == redis::PushKind::Message {
                            if let Some(redis::Value::BulkString(p)) = push.data.get(1) {
                                assert_eq!(Ten::from_payload(p), msg);
                                break;
                            }
                        }
                    }
                })
            },
        )
    };
    let same = measure(true, "a5raw", &mut near);
    let bare = measure(false, "a5raw", &mut near);
    let hop = measure(true, "a5far", &mut far);
    drop(raw_sub);
    let _ = stop_tx.send(());
    far_thread.join().unwrap();
    vec![
        row(
            "A5",
            "aio publish → Stream item, 10-field message",
            same,
            "≤ 1.25",
            "raw: the same MULTI/UNLINK/HSET/HSET @pub @seq/PUBLISH/EXEC, the message as payload, decoded from a RESP3 push on the caller's runtime",
        ),
        row(
            "A5 bare",
            "aio publish → Stream item vs a bare PUBLISH",
            bare,
            "(as W5)",
            "raw: PUBLISH alone (nothing stored), as W5's raw side",
        ),
        row(
            "A5 hop",
            "aio publish → Stream item vs raw with a hop",
            hop,
            "(design)",
            "raw: as A5, its subscriber connection on another thread (one hop between threads, as reem's shared dispatcher)",
        ),
    ]
}

/// A raw RESP3 connection subscribed to `channel`, its pushes sent to `tx`.
async fn push_subscriber(
    url: &str,
    channel: &str,
    tx: tokio::sync::mpsc::UnboundedSender<PushInfo>,
) -> MultiplexedConnection {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .unwrap()
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings)).unwrap();
    let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
    let mut c = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    c.subscribe(channel).await.unwrap();
    c
}

/// A6: sets per second of 64 concurrent tasks on one interface, against 64 tasks on one raw
/// multiplexed connection, in alternating slices.
fn concurrent_sets(b: &Bench) -> Row {
    let rt = concurrent_runtime();
    let raw = rt.block_on(raw_connection(&b.url));
    concurrent_sets_on(&rt, "A6", &b.iface, raw, b.quick, "MultiplexedConnection")
}

/// The runtime of the concurrent rows: 2 worker threads.
pub fn concurrent_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The concurrent-sets row `id`: 64 tasks on `iface` against 64 tasks sharing the raw
/// connection `raw` (a `raw_name`, opened on `rt`).
pub fn concurrent_sets_on<C>(
    rt: &tokio::runtime::Runtime,
    id: &str,
    iface: &reem::RedisInterface,
    raw: C,
    quick: bool,
    raw_name: &str,
) -> Row
where
    C: redis::aio::ConnectionLike + Clone + Send + 'static,
{
    const TASKS: usize = 64;
    let secs = if quick { 0.5 } else { 4.0 };
    let rounds = if quick { 2 } else { 16 };
    let slice = Duration::from_secs_f64(secs / rounds as f64);
    let kv = aio::KeyValueStore::new(iface);
    let schema = Ten::schema().unwrap();
    // One slice: `TASKS` tasks, each made by `spawn(i, stop, count)`, run until the slice
    // is over; (operations, elapsed).
    let run_slice = |spawn: &dyn Fn(usize, Arc<AtomicBool>, Arc<AtomicU64>) -> JoinHandle<()>| {
        rt.block_on(async {
            let count = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let start = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| spawn(i, stop.clone(), count.clone()))
                .collect();
            tokio::time::sleep(slice).await;
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                t.await.unwrap();
            }
            (count.load(Ordering::Relaxed), start.elapsed())
        })
    };
    let reem_slice = || {
        run_slice(&|i, stop, count| {
            let kv = kv.clone();
            tokio::spawn(async move {
                let (key, msg) = (format!("a6/{i}"), Ten::new(i as i64));
                while !stop.load(Ordering::Relaxed) {
                    kv.set(&key, &msg).await.unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
    };
    let raw_slice = || {
        run_slice(&|i, stop, count| {
            let mut con = raw.clone();
            tokio::spawn(async move {
                let (key, msg) = (format!("a6raw/{i}"), Ten::new(i as i64));
                while !stop.load(Ordering::Relaxed) {
                    let p = raw_set(&key, schema, &msg);
                    p.query_async::<()>(&mut con).await.unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
    };
    let (mut reem_n, mut reem_t, mut raw_n, mut raw_t) = (0, Duration::ZERO, 0, Duration::ZERO);
    // The ratio of each round's two slices, taken back to back: the VM's speed swings over
    // seconds, and the median of these is steadier than the ratio of the totals.
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (reem_round, raw_round) = if round % 2 == 0 {
            (reem_slice(), raw_slice())
        } else {
            let raw_round = raw_slice();
            (reem_slice(), raw_round)
        };
        (reem_n, reem_t) = (reem_n + reem_round.0, reem_t + reem_round.1);
        (raw_n, raw_t) = (raw_n + raw_round.0, raw_t + raw_round.1);
        let rate = |(n, t): (u64, Duration)| n as f64 / t.as_secs_f64();
        ratios.push(rate(reem_round) / rate(raw_round));
    }
    ratios.sort_by(f64::total_cmp);
    let reem = throughput(reem_n, reem_t, reem_n);
    let raw_stats = throughput(raw_n, raw_t, raw_n);
    let total = reem.ops_per_s / raw_stats.ops_per_s;
    Row {
        id: id.into(),
        what: format!("sets/s, {TASKS} tasks on one interface, {secs} s"),
        reem,
        raw: raw_stats,
        direct: None,
        raw_warm: None,
        hwm_kib: None,
        ratio: ratios[ratios.len() / 2],
        target: "≥ 0.9".into(),
        note: format!(
            "median of {rounds} per-round rate ratios (ratio of the totals {total:.2}); raw: 64 tasks on one \
             {raw_name}, same MULTI/UNLINK/HSET/EXEC; alternating slices"
        ),
    }
}

/// D1: where a connection's driver lives. Raw against raw: sets through a connection opened
/// on a private runtime thread (the caller on another runtime), against one opened on the
/// caller's runtime.
fn driver_placement(b: &Bench) -> Row {
    let rt = runtime();
    let here = rt.block_on(raw_connection(&b.url));
    let private = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (con_tx, con_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let url = b.url.clone();
    let thread = std::thread::spawn(move || {
        private.block_on(async move {
            con_tx.send(raw_connection(&url).await).unwrap();
            let _ = stop_rx.await;
        })
    });
    let there = con_rx.recv().unwrap();
    let msg = Ten::new(1);
    let schema = Ten::schema().unwrap();
    let set = |mut con: MultiplexedConnection| {
        let p = raw_set("d1", schema, &msg);
        rt.block_on(async move { p.query_async::<()>(&mut con).await })
            .unwrap()
    };
    let lat = compare(
        scale(b.quick, 20),
        100,
        || set(there.clone()),
        || set(here.clone()),
    );
    let _ = stop_tx.send(());
    thread.join().unwrap();
    row(
        "D1",
        "raw set: driver on a private thread vs on the caller's runtime",
        lat,
        "(design)",
        "why reem::aio opens its connection on the caller's runtime",
    )
}

/// Threads of this process: all of them, and those named `reem-*`.
fn threads() -> (usize, usize) {
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .collect()
        })
        .unwrap_or_default();
    let reem = names
        .iter()
        .filter(|n| matches!(n.trim(), "reem-pubsub" | "reem-callback"))
        .count();
    (names.len(), reem)
}

/// How many threads a process has with 100 async subscribers on one interface (on a
/// 2-worker multi-thread runtime), printed with the report.
pub fn thread_count(b: &Bench) -> String {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = threads();
    let subs = rt.block_on(async {
        let mut subs = Vec::new();
        for i in 0..100 {
            subs.push(
                aio::Subscriber::<Ten>::new(&b.iface, &format!("threads/{i}"))
                    .await
                    .unwrap(),
            );
        }
        subs
    });
    let with = threads();
    rt.block_on(async move { drop(subs) });
    format!(
        "100 async subscribers on one interface: {} threads in the process, {} more than before them \
         (main + a 2-worker tokio runtime + the report's own: {}); reem-* threads: {}",
        with.0,
        with.0 - before.0,
        before.0,
        with.1
    )
}
