//! `reem::aio`: concurrency on one connection, `Stream` subscribers, cancellation at random
//! points, a Redis restart, threads, hostile data and refusals; on the cluster, a failover
//! and a slot moved under load. The tests listed in `on_both!` run on one server and on the
//! Redis Cluster. (The key-value round trips of every message kind run on both faces and
//! both topologies in `tests/kv.rs`.)

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{on_both, Harness};
use futures_util::StreamExt;
use reem::{aio, Delivery, Error, RedisInterface, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Tick {
    n: u64,
    label: String,
}

fn tick(n: u64) -> Tick {
    Tick {
        n,
        label: format!("tick {n}"),
    }
}

/// A 1 MiB message that says what it should hold: `data` is `len` bytes all equal to
/// `n % 251`.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Big {
    n: u64,
    len: u64,
    data: Vec<u8>,
}

fn big(n: u64) -> Big {
    Big {
        n,
        len: 1 << 20,
        data: vec![(n % 251) as u8; 1 << 20],
    }
}

fn is_whole(b: &Big) -> bool {
    b.data.len() as u64 == b.len && b.data.iter().all(|&x| x == (b.n % 251) as u8)
}

/// Detects a hang; never a measure of speed.
const HANG: Duration = Duration::from_secs(60);

/// Tests share the process; the thread-counting test runs alone.
static SERIAL: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    SERIAL.read().unwrap_or_else(|e| e.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The `CLIENT LIST` lines of the server's RESP3 clients (reem's async and subscriber
/// connections; the harness's raw connections speak RESP2).
fn resp3_clients(h: &Harness) -> Vec<String> {
    resp3_clients_of(&mut h.raw())
}

fn resp3_clients_of(con: &mut impl redis::ConnectionLike) -> Vec<String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(con).unwrap();
    list.lines()
        .filter(|l| l.contains("resp=3"))
        .map(str::to_owned)
        .collect()
}

/// For each master (the server itself on one node): how many of its RESP3 connections
/// (reem's; the harness's raw ones speak RESP2) `CLIENT LIST` shows with a line that `is`.
fn resp3_per_master(h: &Harness, is: impl Fn(&str) -> bool) -> Vec<usize> {
    let count = |lines: Vec<String>| lines.iter().filter(|l| is(l)).count();
    match &h.server {
        common::Server::Single(_) => vec![count(resp3_clients(h))],
        common::Server::Cluster(c) => c
            .masters()
            .unwrap()
            .into_iter()
            .map(|m| {
                count(resp3_clients_of(
                    &mut redis::Client::open(c.nodes()[m].url())
                        .unwrap()
                        .get_connection()
                        .unwrap(),
                ))
            })
            .collect(),
    }
}

/// reem's async store connections on each master (RESP3, not in pub/sub mode).
fn async_connections(h: &Harness) -> Vec<usize> {
    resp3_per_master(h, |l| !l.contains("flags=P"))
}

/// Asserts that one async connection (per master) carried every request.
fn one_async_connection(h: &Harness) {
    let per_master = async_connections(h);
    assert!(
        per_master.iter().all(|&n| n == 1),
        "one multiplexed connection (per master) carried every task: {per_master:?}"
    );
}

/// An interface for a new ACL user `name` (password `pw`) with these `rules`.
fn user(h: &Harness, name: &str, rules: &[&str]) -> RedisInterface {
    let setuser = |con: &mut dyn redis::ConnectionLike| {
        redis::cmd("ACL")
            .arg(&["SETUSER", name, "on", ">pw"])
            .arg(rules)
            .exec(con)
            .unwrap()
    };
    let url = |port: u16| format!("redis://{name}:pw@127.0.0.1:{port}");
    match &h.server {
        common::Server::Single(server) => {
            setuser(&mut h.raw());
            RedisInterface::new(&url(server.port())).unwrap()
        }
        // Every node: a cluster has no shared ACL.
        common::Server::Cluster(c) => {
            for node in c.nodes() {
                setuser(
                    &mut redis::Client::open(node.url())
                        .unwrap()
                        .get_connection()
                        .unwrap(),
                );
            }
            let urls: Vec<String> = c.nodes().iter().map(|n| url(n.port())).collect();
            RedisInterface::cluster(&urls).unwrap()
        }
    }
}

/// A subscriber to `topic` keeping up to 8 messages.
async fn queued(h: &Harness, topic: &str) -> aio::Subscriber<Tick> {
    aio::Subscriber::with_delivery(&h.iface, topic, Delivery::Queue(8))
        .await
        .unwrap()
}

/// Publishes `value` on `topic` with a new publisher.
async fn publish<T: ReemMarshal + Sync>(h: &Harness, topic: &str, value: &T) {
    aio::PublishSpace::new(&h.iface)
        .publish(topic, value)
        .await
        .unwrap();
}

// The tests that run on one server (`name::server`) and on the cluster (`name::cluster`).
on_both!(
    tasks_256_doing_set_and_get_on_distinct_keys_share_one_connection,
    stores_and_publishers_of_one_interface_and_its_clones_share_the_connection,
    a_stream_receives_1000_publishes_in_order_and_the_counters_add_up,
    a_late_stream_starts_with_the_stored_latest_value_and_latest_wins_by_default,
    a_dropped_recv_loses_nothing,
    decode_errors_are_items_and_the_stream_goes_on,
    publishes_aborted_at_random_points_never_tear_a_message_nor_disturb_other_tasks,
    sets_dropped_at_random_points_leave_the_old_message_or_the_new_one,
    hostile_data_gives_typed_errors_and_bounded_reads,
    a_store_outlives_the_runtime_that_first_used_it,
    outside_a_runtime_a_call_is_an_error_not_a_panic,
    a_hundred_async_subscribers_add_one_thread_and_one_connection,
    a_user_without_multi_is_refused_before_anything_is_sent,
    a_paused_server_makes_a_write_unconfirmed_and_a_read_time_out_then_both_work,
);

fn tasks_256_doing_set_and_get_on_distinct_keys_share_one_connection(h: Harness) {
    let kv = aio::KeyValueStore::new(&h.iface);
    runtime().block_on(async {
        let tasks: Vec<_> = (0..256u64)
            .map(|i| {
                let kv = kv.clone();
                tokio::spawn(async move {
                    let key = format!("task/{i}");
                    for round in 0..4 {
                        let value = tick(i * 1000 + round);
                        kv.set(&key, &value).await?;
                        let back: Tick = kv.get(&key).await?;
                        assert_eq!(back, value, "task {i} round {round}");
                    }
                    Ok::<u64, Error>(i)
                })
            })
            .collect();
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.unwrap().unwrap());
        }
        assert_eq!(done, (0..256).collect::<Vec<_>>());
        one_async_connection(&h);
    });
    for i in [0u64, 99, 255] {
        assert_eq!(
            h.kv.get::<Tick>(&format!("task/{i}")).unwrap().n,
            i * 1000 + 3
        );
    }
}

fn stores_and_publishers_of_one_interface_and_its_clones_share_the_connection(h: Harness) {
    let clone = h.iface.clone();
    runtime().block_on(async {
        aio::KeyValueStore::new(&h.iface)
            .set("a", &tick(1))
            .await
            .unwrap();
        aio::KeyValueStore::new(&clone)
            .set("b", &tick(2))
            .await
            .unwrap();
        aio::PublishSpace::new(&clone)
            .publish("c", &tick(3))
            .await
            .unwrap();
        one_async_connection(&h);
    });
}

fn a_stream_receives_1000_publishes_in_order_and_the_counters_add_up(h: Harness) {
    let _serial = shared();
    runtime().block_on(async {
        let mut sub =
            aio::Subscriber::<Tick>::with_delivery(&h.iface, "ticks", Delivery::Queue(2000))
                .await
                .unwrap();
        assert_eq!(sub.latest(), None, "nothing stored yet");
        let pubs = aio::PublishSpace::new(&h.iface);
        let publisher = tokio::spawn(async move {
            for n in 1..=1000 {
                pubs.publish("ticks", &tick(n)).await.unwrap();
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 1000 {
            let item = tokio::time::timeout(HANG, sub.next())
                .await
                .expect("no hang")
                .expect("the stream never ends");
            seen.push(item.unwrap().n);
        }
        publisher.await.unwrap();
        assert_eq!(seen, (1..=1000).collect::<Vec<_>>());
        let c = sub.counters();
        assert_eq!(
            (c.received, c.skipped, c.decode_errors, c.dropped),
            (1000, 0, 0, 0)
        );
        assert_eq!(sub.latest(), Some(tick(1000)));
    });
}

fn a_late_stream_starts_with_the_stored_latest_value_and_latest_wins_by_default(h: Harness) {
    let _serial = shared();
    runtime().block_on(async {
        let pubs = aio::PublishSpace::new(&h.iface);
        for n in 1..=3 {
            pubs.publish("t", &tick(n)).await.unwrap();
        }
        let mut sub = aio::Subscriber::<Tick>::new(&h.iface, "t").await.unwrap();
        assert_eq!(
            sub.latest(),
            Some(tick(3)),
            "a late joiner has a value at once"
        );
        assert_eq!(sub.recv().await.unwrap(), tick(3));
        // Latest wins: a burst not taken leaves only its last message.
        for n in 4..=50 {
            pubs.publish("t", &tick(n)).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + HANG;
        while sub.latest() != Some(tick(50)) {
            assert!(tokio::time::Instant::now() < deadline, "no hang");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(sub.recv().await.unwrap(), tick(50));
        let c = sub.counters();
        assert_eq!(c.received, 48, "{c:?}");
        assert_eq!(c.dropped, 46, "{c:?}");
        assert_eq!(c.received + c.skipped, 48, "{c:?}");
    });
}

fn a_dropped_recv_loses_nothing(h: Harness) {
    let _serial = shared();
    runtime().block_on(async {
        let mut sub = queued(&h, "t").await;
        // Nothing yet: the recv loses the race and is dropped.
        tokio::select! {
            _ = sub.recv() => panic!("nothing was published"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        publish(&h, "t", &tick(1)).await;
        let item = tokio::time::timeout(HANG, sub.recv())
            .await
            .expect("no hang");
        assert_eq!(item.unwrap(), tick(1));
    });
}

fn decode_errors_are_items_and_the_stream_goes_on(h: Harness) {
    let _serial = shared();
    runtime().block_on(async {
        let mut sub = queued(&h, "t").await;
        // Garbage on the channel, then another type's message on the topic.
        redis::cmd(h.publish_command())
            .arg("t")
            .arg(&b"reem2 h 0123456789abcdef 1\n999999999:x"[..])
            .exec(&mut h.raw())
            .unwrap();
        publish(&h, "t", &1.5f64).await;
        publish(&h, "t", &tick(7)).await;
        let mut errors = 0;
        loop {
            match tokio::time::timeout(HANG, sub.next())
                .await
                .expect("no hang")
            {
                Some(Ok(t)) => {
                    assert_eq!(t, tick(7));
                    break;
                }
                Some(Err(e)) => {
                    assert!(!e.is_connection(), "{e:?}");
                    errors += 1;
                }
                None => panic!("the stream ended"),
            }
        }
        assert_eq!(errors, 2);
        assert_eq!(sub.counters().decode_errors, 2);
        assert!(sub.last_decode_error().unwrap().contains("f64"));
    });
}

#[test]
fn a_refused_subscription_is_an_error_from_new() {
    let _serial = shared();
    let h = Harness::start();
    let iface = user(
        &h,
        "reader",
        &["~robot/*", "resetchannels", "&robot/*", "+@all"],
    );
    runtime().block_on(async {
        let err = aio::Subscriber::<Tick>::new(&iface, "other/topic")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Refused { code, .. } if code == "NOPERM"),
            "{err:?}"
        );
        // The same interface still subscribes where it may.
        aio::Subscriber::<Tick>::new(&iface, "robot/pose")
            .await
            .unwrap();
    });
}

/// A tiny deterministic generator for the random abort points.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn publishes_aborted_at_random_points_never_tear_a_message_nor_disturb_other_tasks(h: Harness) {
    let _serial = shared();
    let iface = h.iface.clone();
    runtime().block_on(async move {
        let kv = aio::KeyValueStore::new(&iface);
        let pubs = aio::PublishSpace::new(&iface);
        let stop = Arc::new(AtomicBool::new(false));
        // 4 readers: every read is a whole message (or, before the first, none).
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (kv, stop) = (kv.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut whole = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        match kv.get::<Big>("big").await {
                            Ok(b) => {
                                assert!(is_whole(&b), "a torn message: n = {}", b.n);
                                whole += 1;
                            }
                            Err(e) if e.is_not_found() => tokio::task::yield_now().await,
                            Err(e) => panic!("a read failed: {e:?}"),
                        }
                    }
                    whole
                })
            })
            .collect();
        // Another task's set/get on the same interface keeps succeeding.
        let other = {
            let (kv, stop) = (kv.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    kv.set("other", &tick(n)).await.expect("set");
                    assert_eq!(kv.get::<Tick>("other").await.expect("get"), tick(n));
                }
                n
            })
        };
        // The publisher, aborted 200 times at random points.
        let next = Arc::new(AtomicU64::new(1));
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut finished = 0;
        for _ in 0..200 {
            let (pubs, next) = (pubs.clone(), Arc::clone(&next));
            let task = tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    pubs.publish("big", &big(n)).await.expect("publish");
                }
            });
            tokio::time::sleep(Duration::from_micros(rng.below(4000))).await;
            task.abort();
            match task.await {
                Err(e) if e.is_cancelled() => {}
                other => panic!("the publisher ended otherwise: {other:?}"),
            }
            finished += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let mut whole = 0;
        for r in readers {
            whole += tokio::time::timeout(HANG, r)
                .await
                .expect("no hang")
                .unwrap();
        }
        let others = tokio::time::timeout(HANG, other)
            .await
            .expect("no hang")
            .unwrap();
        assert_eq!(finished, 200);
        assert!(whole > 0 && others > 0, "{whole} reads, {others} set/get");
        // The next calls work, on the same connection.
        let last = next.fetch_add(1, Ordering::Relaxed);
        pubs.publish("big", &big(last)).await.unwrap();
        let b = kv.get::<Big>("big").await.unwrap();
        assert!(is_whole(&b) && b.n == last);
        one_async_connection(&h);
    });
}

fn sets_dropped_at_random_points_leave_the_old_message_or_the_new_one(h: Harness) {
    let kv = aio::KeyValueStore::new(&h.iface);
    runtime().block_on(async {
        kv.set("big", &big(0)).await.unwrap();
        let mut rng = XorShift(7);
        for n in 1..=100 {
            let value = big(n);
            // A `select!` whose other branch wins at a random point.
            tokio::select! {
                r = kv.set("big", &value) => r.unwrap(),
                _ = tokio::time::sleep(Duration::from_micros(rng.below(3000))) => {}
            }
            let b = kv.get::<Big>("big").await.unwrap();
            assert!(is_whole(&b) && b.n <= n, "n = {n}: read {}", b.n);
        }
    });
}

/// The dispatcher threads (`reem-pubsub`) of this process.
fn dispatchers() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    let names = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok());
    names.filter(|name| name.trim() == "reem-pubsub").count()
}

fn a_hundred_async_subscribers_add_one_thread_and_one_connection(h: Harness) {
    let _alone = SERIAL.write().unwrap_or_else(|e| e.into_inner());
    let rt = runtime();
    let before = dispatchers();
    let subs = rt.block_on(async {
        let mut subs = Vec::new();
        for i in 0..100 {
            subs.push(
                aio::Subscriber::<Tick>::new(&h.iface, &format!("t{}", i % 10))
                    .await
                    .unwrap(),
            );
        }
        publish(&h, "t3", &tick(3)).await;
        let item = tokio::time::timeout(HANG, subs[13].recv())
            .await
            .expect("no hang");
        assert_eq!(item.unwrap(), tick(3));
        subs
    });
    assert_eq!(dispatchers(), before + 1, "one dispatcher thread");
    // One subscriber connection (on a cluster: one per master that holds some of the 10
    // topics, made by the crate's cluster connection).
    let subscribers = resp3_per_master(&h, |l| l.contains("flags=P"));
    assert!(
        subscribers.iter().all(|&n| n <= 1) && subscribers.contains(&1),
        "one subscriber connection (per master): {subscribers:?}"
    );
    // Dropped on the runtime (not joined there), the dispatcher ends by itself.
    rt.block_on(async move { drop(subs) });
    let deadline = std::time::Instant::now() + HANG;
    while dispatchers() != before {
        assert!(std::time::Instant::now() < deadline, "the dispatcher ended");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_stream_survives_a_redis_restart() {
    let _serial = shared();
    let mut h = Harness::start();
    let rt = runtime();
    let pubs = aio::PublishSpace::new(&h.iface);
    let kv = aio::KeyValueStore::new(&h.iface);
    let mut sub = rt.block_on(async {
        pubs.publish("t", &tick(1)).await.unwrap();
        let mut sub = aio::Subscriber::<Tick>::with_delivery(&h.iface, "t", Delivery::Queue(64))
            .await
            .unwrap();
        assert_eq!(sub.recv().await.unwrap(), tick(1));
        sub
    });
    // A publisher that keeps going through the outage, errors and all; its messages are
    // numbered from 1000 once the server is back.
    let (stop, restarted) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let publisher = {
        let (pubs, stop, restarted) = (pubs.clone(), Arc::clone(&stop), Arc::clone(&restarted));
        rt.spawn(async move {
            let (mut n, mut published) = (2, 0);
            while !stop.load(Ordering::Relaxed) {
                if restarted.load(Ordering::Relaxed) && n < 1000 {
                    n = 1000;
                }
                match pubs.publish("t", &tick(n)).await {
                    Ok(()) => {
                        n += 1;
                        published += 1;
                    }
                    Err(e) => assert!(e.is_connection(), "{e:?}"),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            published
        })
    };
    rt.block_on(async {
        tokio::time::timeout(HANG, sub.recv())
            .await
            .unwrap()
            .unwrap()
    });
    h.server.kill();
    std::thread::sleep(Duration::from_millis(300));
    h.server.restart().unwrap();
    restarted.store(true, Ordering::Relaxed);
    rt.block_on(async {
        // Within 10 s: a connection error as an item at most, then messages again.
        let mut errors = 0;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("messages again within 10 s")
            {
                Some(Ok(t)) if t.n >= 1000 => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    assert!(e.is_connection(), "{e:?}");
                    errors += 1;
                }
                None => panic!("the stream ended"),
            }
        }
        assert!(errors <= 1, "{errors} connection errors");
        // The store works again on the same interface.
        kv.set("after", &tick(9)).await.unwrap();
        assert_eq!(kv.get::<Tick>("after").await.unwrap(), tick(9));
    });
    stop.store(true, Ordering::Relaxed);
    assert!(rt.block_on(publisher).unwrap() > 1);
}

/// How many times the server ran `command` (`INFO commandstats`).
fn calls(con: &mut impl redis::ConnectionLike, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

fn a_paused_server_makes_a_write_unconfirmed_and_a_read_time_out_then_both_work(h: Harness) {
    let builder = match &h.server {
        common::Server::Single(s) => RedisInterface::builder(&s.url()),
        common::Server::Cluster(c) => RedisInterface::cluster_builder(&c.urls()),
    };
    let iface = builder
        .response_timeout(Some(Duration::from_millis(300)))
        .connect()
        .unwrap();
    let kv = aio::KeyValueStore::new(&iface);
    // The server, or the master of the key's slot.
    let mut node = match &h.server {
        common::Server::Single(_) => h.raw(),
        common::Server::Cluster(c) => common::Raw::Node(
            redis::Client::open(c.nodes()[c.master_of_key("p").unwrap()].url())
                .unwrap()
                .get_connection()
                .unwrap(),
        ),
    };
    runtime().block_on(async {
        kv.set("p", &tick(1)).await.unwrap();
        let before = (calls(&mut node, "hset"), calls(&mut node, "hgetall"));
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(1500)
            .arg("ALL")
            .exec(&mut node)
            .unwrap();
        let write = kv.set("p", &tick(2)).await.unwrap_err();
        assert!(matches!(write, Error::Unconfirmed { .. }), "{write:?}");
        let read = kv.get::<Tick>("p").await.unwrap_err();
        assert!(read.is_timeout(), "{read:?}");
        tokio::time::sleep(Duration::from_millis(1600)).await;
        // Each was sent once (the read is not sent again after a timeout), and the write was
        // applied after the pause.
        let after = (calls(&mut node, "hset"), calls(&mut node, "hgetall"));
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
        assert_eq!(kv.get::<Tick>("p").await.unwrap(), tick(2));
        kv.set("p", &tick(3)).await.unwrap();
        assert_eq!(kv.get::<Tick>("p").await.unwrap(), tick(3));
    });
}

fn a_user_without_multi_is_refused_before_anything_is_sent(h: Harness) {
    let kv = aio::KeyValueStore::new(&user(&h, "nomulti", &["~*", "+@all", "-multi"]));
    h.kv.set("p", &tick(1)).unwrap();
    runtime().block_on(async {
        let err = kv.set("p", &tick(2)).await.unwrap_err();
        assert!(
            matches!(&err, Error::Refused { code, .. } if code == "NOPERM"),
            "{err:?}"
        );
        assert!(err.to_string().contains("MULTI"), "{err}");
        assert_eq!(kv.get::<Tick>("p").await.unwrap(), tick(1), "reads work");
    });
    assert_eq!(h.kv.get::<Tick>("p").unwrap(), tick(1), "nothing written");
}

fn hostile_data_gives_typed_errors_and_bounded_reads(h: Harness) {
    let builder = match &h.server {
        common::Server::Single(s) => RedisInterface::builder(&s.url()),
        common::Server::Cluster(c) => RedisInterface::cluster_builder(&c.urls()),
    };
    let iface = builder.max_message_size(4096).connect().unwrap();
    let kv = aio::KeyValueStore::new(&iface);
    redis::cmd("SET")
        .arg("string")
        .arg("x")
        .exec(&mut h.raw())
        .unwrap();
    h.write_raw("garbage", &[("n", b"not a number"), ("label", b"\xff\xfe")]);
    h.write_raw("huge", &[("n", &[b'7'; 10_000][..])]);
    h.write_raw(
        "lie",
        &[
            ("@label", b"Tick"),
            ("@fp", b"0000000000000000"),
            ("@schema", b"{\"format\":99}"),
        ],
    );
    runtime().block_on(async {
        let e = kv.get::<Tick>("string").await.unwrap_err();
        assert!(matches!(e, Error::WrongRedisType { .. }), "{e:?}");
        let e = kv.get::<Tick>("garbage").await.unwrap_err();
        assert!(matches!(e, Error::InvalidField { .. }), "{e:?}");
        let e = kv.get::<Tick>("huge").await.unwrap_err();
        assert!(matches!(e, Error::TooLarge { limit: 4096, .. }), "{e:?}");
        let e = kv.get::<Tick>("lie").await.unwrap_err();
        assert!(e.is_schema_mismatch(), "{e:?}");
        let e = kv
            .get_field("string", &Tick::fields().n())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::WrongRedisType { .. }), "{e:?}");
        // And the connection is fine.
        kv.set("ok", &tick(1)).await.unwrap();
        assert_eq!(kv.get::<Tick>("ok").await.unwrap(), tick(1));
    });
}

fn a_store_outlives_the_runtime_that_first_used_it(h: Harness) {
    let kv = aio::KeyValueStore::new(&h.iface);
    for n in 0..3 {
        // Each runtime opens its own connection, which goes with it; the store carries on.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            kv.set("k", &tick(n)).await.unwrap();
            assert_eq!(kv.get::<Tick>("k").await.unwrap(), tick(n));
        });
    }
    // Two runtimes at once, one of them idle: the other's calls do not wait for it.
    let idle = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    idle.block_on(kv.set("k", &tick(10))).unwrap();
    let busy = runtime();
    busy.block_on(async {
        tokio::time::timeout(HANG, kv.get::<Tick>("k"))
            .await
            .expect("no hang")
            .unwrap();
    });
    assert_eq!(idle.block_on(kv.get::<Tick>("k")).unwrap(), tick(10));
}

fn outside_a_runtime_a_call_is_an_error_not_a_panic(h: Harness) {
    let kv = aio::KeyValueStore::new(&h.iface);
    let mut call = Box::pin(kv.get::<Tick>("k"));
    let mut cx = Context::from_waker(Waker::noop());
    match call.as_mut().poll(&mut cx) {
        Poll::Ready(Err(Error::Io { source, .. })) => {
            assert!(source.to_string().contains("tokio runtime"), "{source}")
        }
        other => panic!("{other:?}"),
    }
}

use reem::Fields as _;
use std::future::Future as _;

/// The commands the server ran while `f` ran, as `MONITOR` shows them (arguments quoted),
/// without the client's address.
fn monitored(h: &Harness, f: impl FnOnce()) -> Vec<String> {
    let mut monitor = h.raw();
    redis::cmd("MONITOR").exec(&mut monitor).unwrap();
    f();
    redis::cmd("ECHO")
        .arg("end of the sample")
        .exec(&mut h.raw())
        .unwrap();
    let mut lines = Vec::new();
    loop {
        let line = match monitor.recv_response().unwrap() {
            redis::Value::SimpleString(s) | redis::Value::VerbatimString { text: s, .. } => s,
            redis::Value::Okay => continue,
            other => panic!("{other:?}"),
        };
        if line.contains("end of the sample") {
            return lines;
        }
        lines.push(
            line.split_once("] ")
                .map_or(line.clone(), |(_, c)| c.to_owned()),
        );
    }
}

#[test]
fn both_faces_send_the_same_commands() {
    let h = Harness::start();
    let aio_kv = aio::KeyValueStore::new(&h.iface);
    let rt = runtime();
    rt.block_on(aio_kv.exists("warm-up")).unwrap(); // the async connection is open
    let x = Tick::fields().n();
    let blocking = monitored(&h, || {
        h.kv.set("k", &tick(1)).unwrap();
        h.kv.get::<Tick>("k").unwrap();
        h.kv.get_field("k", &x).unwrap();
        h.kv.set_field("k", &x, &2).unwrap();
        h.kv.delete("k").unwrap();
    });
    let async_face = monitored(&h, || {
        rt.block_on(async {
            aio_kv.set("k", &tick(1)).await.unwrap();
            aio_kv.get::<Tick>("k").await.unwrap();
            aio_kv.get_field("k", &x).await.unwrap();
            aio_kv.set_field("k", &x, &2).await.unwrap();
            aio_kv.delete("k").await.unwrap();
        })
    });
    assert!(blocking.len() >= 10, "{blocking:#?}");
    assert_eq!(blocking, async_face);
}

fn is_tick(t: &Tick) -> bool {
    *t == tick(t.n)
}

/// On the cluster: the topic's slot moves to another master while an async publisher
/// publishes 2,000 messages at full speed, a `Stream` listens and 4 async readers `get` the
/// key. The transactions follow `MOVED`/`ASK`; the stream follows the slot and ends with the
/// last message; nothing is torn.
#[test]
fn on_the_cluster_a_slot_moved_under_load_tears_nothing_and_the_stream_follows() {
    let h = Harness::cluster();
    let _serial = shared();
    let common::Server::Cluster(cluster) = &h.server else {
        unreachable!()
    };
    let cluster: &'static reem_server::RedisCluster = cluster;
    let topic = "reshard/aio";
    let slot = cluster.slot_of(topic).unwrap();
    let from = cluster.master_of_key(topic).unwrap();
    let to = cluster
        .masters()
        .unwrap()
        .into_iter()
        .find(|&m| m != from)
        .unwrap();
    let rt = runtime();
    let published = Arc::new(AtomicU64::new(0));
    let mover = {
        let published = Arc::clone(&published);
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + HANG;
            while published.load(Ordering::Relaxed) < 300 {
                assert!(std::time::Instant::now() < deadline, "no hang");
                std::thread::sleep(Duration::from_millis(1));
            }
            cluster.migrate_slot(slot, to).unwrap()
        })
    };
    let iface = h.iface.clone();
    let (seen, failed, last_ok, torn, reads, read_errors, counters) = rt.block_on(async move {
        let pubs = aio::PublishSpace::new(&iface);
        let kv = aio::KeyValueStore::new(&iface);
        pubs.publish(topic, &tick(0)).await.unwrap();
        let mut sub =
            aio::Subscriber::<Tick>::with_delivery(&iface, topic, Delivery::Queue(1 << 16))
                .await
                .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (kv, stop) = (kv.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    let (mut torn, mut reads, mut errors) = (0u64, 0u64, Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        match kv.get::<Tick>(topic).await {
                            Ok(t) if is_tick(&t) => {}
                            Ok(_) => torn += 1,
                            Err(e) => errors.push(e.to_string()),
                        }
                        reads += 1;
                    }
                    (torn, reads, errors)
                })
            })
            .collect();
        let mut failed = Vec::new();
        let mut last_ok = 0;
        for i in 1..=2000u64 {
            match pubs.publish(topic, &tick(i)).await {
                Ok(()) => last_ok = i,
                Err(e) => failed.push(format!("publish {i}: {e}")),
            }
            published.store(i, Ordering::Relaxed);
        }
        // The stream ends with the last message.
        let mut seen = Vec::new();
        while seen.last() != Some(&last_ok) {
            match tokio::time::timeout(HANG, sub.next()).await {
                Ok(Some(Ok(t))) => seen.push(if is_tick(&t) { t.n } else { u64::MAX }),
                Ok(Some(Err(e))) => assert!(e.is_connection(), "{e:?}"),
                Ok(None) => panic!("the stream ended"),
                Err(_) => panic!("the stream never got {last_ok}: {:?}", seen.last()),
            }
        }
        stop.store(true, Ordering::Relaxed);
        let (mut torn, mut reads, mut read_errors) = (0, 0, Vec::new());
        for r in readers {
            let (t, n, e) = r.await.unwrap();
            torn += t;
            reads += n;
            read_errors.extend(e);
        }
        (
            seen,
            failed,
            last_ok,
            torn,
            reads,
            read_errors,
            sub.counters(),
        )
    });
    let keys_moved = mover.join().unwrap();
    assert_eq!(cluster.master_of_key(topic).unwrap(), to, "the slot moved");
    eprintln!(
        "aio resharding: slot {slot} ({keys_moved} key) moved from node {from} to node {to}; \
         publishes failed: {} of 2000 {:?}; the stream yielded {} messages, counters {counters:?}; \
         {reads} reads by 4 readers, {} failed {:?}, {torn} torn",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>(),
        seen.len(),
        read_errors.len(),
        read_errors.iter().take(3).collect::<Vec<_>>(),
    );
    assert_eq!(last_ok, 2000, "the last publish went through: {failed:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "sequence not strictly increasing (or a torn message, u64::MAX): {seen:?}"
    );
    assert_eq!(torn, 0, "torn reads");
    assert!(reads > 0);
}

/// On the cluster: the master of a topic's slot is killed. Once its replica is promoted,
/// the same interface's async store sets and gets again and its publisher publishes, within
/// 10 s; meanwhile every call fails with a typed error naming the key; the `Stream` yields
/// the next publish.
#[test]
fn on_the_cluster_a_failover_is_ridden_out() {
    let _serial = shared();
    let mut cluster = reem_server::RedisCluster::start().unwrap();
    let iface = RedisInterface::cluster(&cluster.urls()).unwrap();
    let rt = runtime();
    let kv = aio::KeyValueStore::new(&iface);
    let pubs = aio::PublishSpace::new(&iface);
    let topic = "failover/aio";
    let mut sub = rt.block_on(async {
        pubs.publish(topic, &tick(1)).await.unwrap();
        let mut sub = aio::Subscriber::<Tick>::with_delivery(&iface, topic, Delivery::Queue(64))
            .await
            .unwrap();
        assert_eq!(sub.recv().await.unwrap(), tick(1));
        sub
    });
    let master = cluster.master_of_key(topic).unwrap();
    // The replica has the message before its master dies.
    let _: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query(
            &mut redis::Client::open(cluster.nodes()[master].url())
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap();
    let killed = std::time::Instant::now();
    cluster.kill_node(master);
    let slot = cluster.slot_of(topic).unwrap();
    let promoted = {
        let cluster = &cluster;
        std::thread::scope(|scope| {
            let promoted = scope.spawn(move || {
                let deadline = std::time::Instant::now() + HANG;
                loop {
                    if cluster.master_of_slot(slot).is_ok_and(|m| m != master) {
                        return std::time::Instant::now();
                    }
                    assert!(std::time::Instant::now() < deadline, "never promoted");
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
            let (back, errors, n) = rt.block_on(async {
                let mut errors = Vec::new();
                let mut n = 1;
                loop {
                    assert!(
                        killed.elapsed() < HANG,
                        "not back after the kill: {} errors, the last {:?}",
                        errors.len(),
                        errors.last()
                    );
                    n += 1;
                    let outcome = async {
                        kv.set("failover/kv", &tick(n)).await?;
                        assert_eq!(kv.get::<Tick>("failover/kv").await?, tick(n));
                        pubs.publish(topic, &tick(n)).await
                    };
                    match outcome.await {
                        Ok(()) => break (std::time::Instant::now(), errors, n),
                        Err(e) => {
                            errors.push(common::outage_error(&e, "failover/"));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            });
            let promoted = promoted.join().unwrap();
            (promoted, back, errors, n)
        })
    };
    let (promoted, back, errors, n) = promoted;
    // The stream yields message n (connection errors as items on the way, at most a few).
    let delivered = rt.block_on(async {
        loop {
            match tokio::time::timeout(HANG, sub.next()).await {
                Ok(Some(Ok(t))) if t.n >= n => break std::time::Instant::now(),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => assert!(e.is_connection(), "{e:?}"),
                Ok(None) => panic!("the stream ended"),
                Err(_) => panic!("the stream never yielded {n}"),
            }
        }
    });
    eprintln!(
        "aio failover: the replica was promoted {:?} after the kill; set+get+publish worked \
         again {:?} after the kill ({:?} after the promotion was seen); the stream had message \
         {n} {:?} after the kill; {} failed calls meanwhile, e.g. {:?}",
        promoted - killed,
        back - killed,
        back.saturating_duration_since(promoted),
        delivered - killed,
        errors.len(),
        errors.iter().take(2).collect::<Vec<_>>(),
    );
    assert!(
        back.saturating_duration_since(promoted) < Duration::from_secs(10),
        "set/get/publish came back {:?} after the promotion",
        back.saturating_duration_since(promoted)
    );
    // And keeps working: the next one arrives as a notification.
    rt.block_on(async {
        pubs.publish(topic, &tick(n + 1)).await.unwrap();
        let t = tokio::time::timeout(HANG, sub.recv())
            .await
            .expect("no hang");
        assert_eq!(t.unwrap(), tick(n + 1));
    });
}
