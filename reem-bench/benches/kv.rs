//! Micro-benchmarks of the key-value store's hot paths (W1, W2), reem and raw side by side.
//! `cargo bench -p reem-bench`; the full report is `cargo run --release -p reem-bench`.

use std::sync::OnceLock;

use reem::{KeyValueStore, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Ten {
    x: f64,
    y: f64,
    z: f64,
    roll: f64,
    yaw: f64,
    seq: i64,
    stamp_ns: i64,
    count: i64,
    frame: String,
    child: String,
}

fn msg() -> Ten {
    Ten {
        x: 1.25,
        y: -0.5,
        z: 3.25,
        roll: 0.001,
        yaw: -2.5e-3,
        seq: 1,
        stamp_ns: 1_732_000_000,
        count: 7,
        frame: "map".into(),
        child: "base".into(),
    }
}

struct Env {
    url: String,
    kv: KeyValueStore,
}

/// The private server, if one was started: stopped at the end of `main` (a `static` is never
/// dropped, and the server must not outlive the benchmark).
static SERVER: std::sync::Mutex<Option<reem_server::RedisServer>> = std::sync::Mutex::new(None);

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let (url, server) = reem_server::url_or_start().unwrap();
        *SERVER.lock().unwrap() = server;
        let kv = KeyValueStore::new(&reem::RedisInterface::new(&url).unwrap());
        kv.set("bench/ten", &msg()).unwrap();
        Env { url, kv }
    })
}

#[divan::bench]
fn w1_set_reem() {
    env().kv.set("bench/ten", &msg()).unwrap();
}

#[divan::bench]
fn w2_get_reem() -> Ten {
    env().kv.get("bench/ten").unwrap()
}

#[divan::bench]
fn w2_get_raw(bencher: divan::Bencher) {
    let mut con = redis::Client::open(env().url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    bencher.bench_local(|| {
        let h: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg("bench/ten")
            .query(&mut con)
            .unwrap();
        h
    });
}

#[divan::bench]
fn encode_only(bencher: divan::Bencher) {
    let m = msg();
    bencher.bench_local(|| {
        let mut out = reem::marshal::Commands::new();
        m.write("k", &mut out).unwrap();
        out.len()
    });
}

/// The reply `HGETALL` gives for `value` as reem stores it: the fields of its `HSET`s.
fn reply(value: &impl ReemMarshal) -> redis::Value {
    let mut out = reem::marshal::Commands::new();
    value.write("k", &mut out).unwrap();
    redis::Value::Array(
        out.iter()
            .filter(|c| c.is("HSET"))
            .flat_map(|c| c.args().skip(1))
            .map(|a| redis::Value::BulkString(a.to_vec()))
            .collect(),
    )
}

/// The 10-field message decoded from its `HGETALL` reply (what W2 and an inline
/// notification decode).
#[divan::bench]
fn decode_only(bencher: divan::Bencher) {
    let r = reply(&msg());
    bencher
        .with_inputs(|| r.clone())
        .bench_local_values(|r| <Ten as ReemMarshal>::interpret_read("k", r).unwrap());
}

/// One 1 MiB `f64` array decoded from an owned reply (the copy into the element vector).
#[divan::bench]
fn decode_1mib_f64(bencher: divan::Bencher) {
    let r = reply(&ndarray::Array1::from_iter((0..131_072).map(|i| i as f64)));
    bencher.with_inputs(|| r.clone()).bench_local_values(|r| {
        <ndarray::Array1<f64> as ReemMarshal>::interpret_read("k", r).unwrap()
    });
}

fn main() {
    divan::main();
    drop(SERVER.lock().unwrap().take());
}
