//! `--profile WHAT SECONDS`: one side of one workload in a loop, nothing else, for
//! `perf record -g -- target/release/reem-bench --profile get-f64-reem 5`.

use std::time::Instant;

use ndarray::{Array1, Array2};
use redis::Value;

use crate::workloads::{Bench, Ten};

/// What can be profiled.
pub const WHAT: &[&str] = &[
    "get-f64-reem",
    "get-f64-raw",
    "get-f64-direct",
    "get-u8-reem",
    "get-u8-raw",
    "set-f64-reem",
    "set-u8-reem",
    "publish-small-reem",
    "publish-small-raw",
];

pub fn run(b: &mut Bench, what: &str, secs: f64) {
    let f64s = Array1::from_iter((0..131_072).map(|i| i as f64 * 0.5));
    let u8s = Array2::from_shape_fn((2048, 4096), |(i, j)| (i * 31 + j) as u8);
    b.kv.set("p/f64", &f64s).unwrap();
    b.kv.set("p/u8", &u8s).unwrap();
    let mut floor = vec![0f64; 131_072];
    let pubs = reem::PublishSpace::new(&b.iface);
    let msg = Ten::new(1);
    let mut sub = reem::RawSubscriber::<Ten>::new(&b.iface, "p/pub").unwrap();
    sub.listen().unwrap();
    let mut op: Box<dyn FnMut(&mut Bench)> = match what {
        "get-f64-reem" => Box::new(|b| {
            b.kv.get::<Array1<f64>>("p/f64").unwrap();
        }),
        "get-f64-raw" => Box::new(|b| {
            let v: Value = redis::cmd("HGETALL")
                .arg("p/f64")
                .query(&mut b.raw)
                .unwrap();
            let Value::Array(items) = v else { panic!() };
            let Some(Value::BulkString(arr)) = items
                .into_iter()
                .skip_while(|k| *k != Value::BulkString(b"arr".to_vec()))
                .nth(1)
            else {
                panic!()
            };
            let _v: Vec<f64> = bytemuck::pod_collect_to_vec(&arr);
        }),
        "get-f64-direct" => Box::new(move |b| {
            b.direct
                .read_large("p/f64", "arr", bytemuck::cast_slice_mut(&mut floor));
        }),
        "get-u8-reem" => Box::new(|b| {
            b.kv.get::<Array2<u8>>("p/u8").unwrap();
        }),
        "get-u8-raw" => Box::new(|b| {
            let _v: Value = redis::cmd("HGETALL").arg("p/u8").query(&mut b.raw).unwrap();
        }),
        "set-f64-reem" => Box::new(move |b| b.kv.set("p/f64w", &f64s).unwrap()),
        "set-u8-reem" => Box::new(move |b| b.kv.set("p/u8w", &u8s).unwrap()),
        "publish-small-reem" => Box::new(move |_| {
            pubs.publish("p/pub", &msg).unwrap();
            while sub
                .recv_timeout(std::time::Duration::from_secs(2))
                .unwrap()
                .is_none()
            {}
        }),
        "publish-small-raw" => {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (rx, _, _t) = crate::workloads::raw_subscriber(
                &b.url.clone(),
                "p/pubraw",
                stop,
                crate::workloads::Ten::from_payload,
            );
            let schema = <Ten as reem::ReemMarshal>::schema().unwrap();
            let mut seq = 0;
            Box::new(move |b| {
                seq += 1;
                crate::workloads::raw_publish(&mut b.raw, "p/pubraw", &msg, seq, schema);
                rx.recv_timeout(std::time::Duration::from_secs(2)).unwrap();
            })
        }
        other => panic!("--profile {other}: one of {WHAT:?}"),
    };
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        op(b);
        n += 1;
    }
    eprintln!(
        "{what}: {n} ops in {:.1} s, {:.1} µs each",
        secs,
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
