//! Crash consistency: with `appendonly yes` and `appendfsync always`, neither a writer
//! killed mid-stream nor a server killed and restarted leaves half a message; concurrent
//! readers never see a torn one.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reem::{KeyValueStore, RedisInterface, ReemMarshal};
use reem_server::RedisServer;

/// Every field is derived from `n`, so any mix of two messages is detectable.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Tick {
    n: u64,
    double: u64,
    text: String,
    half: f64,
    items: Vec<u32>,
    names: Vec<String>,
    parity: Option<bool>,
}

impl Tick {
    fn new(n: u64) -> Self {
        Tick {
            n,
            double: n * 2,
            text: format!("tick {n}"),
            half: n as f64 / 2.0,
            items: vec![n as u32; 64 + (n % 512) as usize],
            names: (0..n % 5).map(|i| format!("{n}.{i}")).collect(),
            parity: (!n.is_multiple_of(3)).then_some(n.is_multiple_of(2)),
        }
    }
}

const KEYS: usize = 4;

fn durable_server() -> RedisServer {
    RedisServer::builder()
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .start()
        .expect("start redis-server")
}

/// Reads every key and checks each message is whole; returns how many were found.
fn check_all(kv: &KeyValueStore) -> usize {
    let mut found = 0;
    for k in 0..KEYS {
        match kv.get::<Tick>(&format!("crash/{k}")) {
            Ok(t) => {
                assert_eq!(t, Tick::new(t.n), "torn message at crash/{k}");
                found += 1;
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("crash/{k}: {e}"),
        }
    }
    found
}

fn hammer(kv: &KeyValueStore, stop: &AtomicBool, start: u64) -> u64 {
    let mut n = start;
    while !stop.load(Ordering::Relaxed) {
        if kv
            .set(&format!("crash/{}", n as usize % KEYS), &Tick::new(n))
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        n += 1;
    }
    n - start
}

/// Not a test of its own: the writer process that `writer_killed_mid_stream…` kills.
#[test]
#[ignore = "run as a child process by writer_killed_mid_stream_leaves_only_whole_messages"]
fn crash_writer_child() {
    let Ok(url) = std::env::var("REEM_CRASH_URL") else {
        return;
    };
    let kv = KeyValueStore::new(&RedisInterface::new(&url).unwrap());
    hammer(&kv, &AtomicBool::new(false), 0);
}

#[test]
fn writer_killed_mid_stream_leaves_only_whole_messages() {
    let server = durable_server();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_writer_child", "--ignored", "--nocapture"])
        .env("REEM_CRASH_URL", server.url())
        .spawn()
        .unwrap();
    let kv = KeyValueStore::new(&RedisInterface::new(&server.url()).unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while check_all(&kv) < KEYS {
        assert!(
            Instant::now() < deadline,
            "the writer never wrote every key"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL, in the middle of whatever it was sending
    child.wait().unwrap();
    assert_eq!(check_all(&kv), KEYS);
}

#[test]
fn server_killed_and_restarted_keeps_only_whole_messages() {
    let mut server = durable_server();
    let iface = RedisInterface::builder(&server.url())
        .response_timeout(Some(Duration::from_secs(2)))
        .connect()
        .unwrap();
    let kv = KeyValueStore::new(&iface);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (kv, stop) = (kv.clone(), stop.clone());
        std::thread::spawn(move || hammer(&kv, &stop, 1))
    };
    std::thread::sleep(Duration::from_millis(500));
    server.kill(); // SIGKILL of redis-server, mid-transaction for all we know
    std::thread::sleep(Duration::from_millis(100));
    server.restart().unwrap(); // replays the append-only file
    let found = check_all(&kv);
    assert!(found > 0, "acknowledged writes survive the crash");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    assert_eq!(
        check_all(&kv),
        KEYS,
        "the writer carried on after the restart"
    );
}

#[test]
fn concurrent_readers_never_see_a_torn_message() {
    let h = common::Harness::start();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    for k in 0..KEYS {
        h.kv.set(&format!("crash/{k}"), &Tick::new(k as u64))
            .unwrap();
    }
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (kv, stop) = (h.kv.clone(), stop.clone());
            std::thread::spawn(move || hammer(&kv, &stop, w * 1_000_000))
        })
        .collect();
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (kv, stop, reads) = (h.kv.clone(), stop.clone(), reads.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    check_all(&kv);
                    reads.fetch_add(KEYS as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    readers.into_iter().for_each(|r| r.join().unwrap());
    println!(
        "{written} writes, {} reads, no torn message",
        reads.load(Ordering::Relaxed)
    );
    assert!(written > 100 && reads.load(Ordering::Relaxed) > 100);
}
