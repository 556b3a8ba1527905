//! Publish/subscribe: late joiners, bursts, exact topics, callbacks, restarts, threads,
//! hostile payloads. Each test taking a `Harness` runs twice (`on_both!`): on a private
//! redis-server of its own, and on a local Redis Cluster (sharded pub/sub); the others need
//! one server (databases, ACLs, restarts, raw `SUBSCRIBE`).

mod common;

use std::borrow::Cow;
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use common::{on_both, Harness};
use redis::Value;
use reem::marshal::Commands;
use reem::{
    CallbackSubscriber, ConnectionState, Delivery, Error, PublishSpace, RawSubscriber,
    RedisInterface, ReemMarshal,
};
use reem_server::RedisServer;

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Tick")]
struct Tick {
    n: u64,
    note: String,
}

fn tick(n: u64) -> Tick {
    Tick {
        n,
        note: format!("tick {n}"),
    }
}

/// A message with a hand-written marshaller that stores a plain Redis string.
#[derive(Debug, Clone, PartialEq)]
struct Text(String);

impl ReemMarshal for Text {
    fn get_label() -> Cow<'static, str> {
        "test.Text".into()
    }

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> reem::Result<()> {
        out.cmd("SET").arg(key).arg(&self.0);
        Ok(())
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        out.cmd("GET").arg(key);
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        out.cmd("DEL").arg(key);
    }

    fn interpret_read(key: &str, reply: Value) -> reem::Result<Self> {
        match reply {
            Value::BulkString(bytes) => {
                String::from_utf8(bytes)
                    .map(Text)
                    .map_err(|_| Error::WrongRedisType {
                        key: key.to_owned(),
                        found: "bytes that are not UTF-8".to_owned(),
                    })
            }
            Value::Nil => Err(Error::NotFound {
                key: key.to_owned(),
            }),
            other => Err(Error::WrongRedisType {
                key: key.to_owned(),
                found: format!("{other:?}"),
            }),
        }
    }
}

/// A hand-written marshaller that stores one hash (`text` field), as derived types do.
#[derive(Debug, Clone, PartialEq)]
struct Note(String);

impl ReemMarshal for Note {
    fn get_label() -> Cow<'static, str> {
        "test.Note".into()
    }

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> reem::Result<()> {
        out.cmd("UNLINK").arg(key);
        out.cmd("HSET").arg(key).arg("text").arg(&self.0);
        Ok(())
    }

    fn stores_one_hash() -> bool {
        true
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        out.cmd("HGETALL").arg(key);
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        out.cmd("DEL").arg(key);
    }

    fn interpret_read(key: &str, reply: Value) -> reem::Result<Self> {
        let hash = reem::marshal::HashView::from_hgetall(key, &reply)?;
        let text = hash.get(b"text").ok_or_else(|| Error::MissingField {
            key: key.to_owned(),
            field: "text".to_owned(),
        })?;
        Ok(Note(String::from_utf8_lossy(text).into_owned()))
    }
}

/// Tests share the process; the thread-counting test runs alone.
static SERIAL: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    SERIAL.read().unwrap_or_else(|e| e.into_inner())
}

/// Polls `done` until it holds or `limit` passes.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

const DEADLINE: Duration = Duration::from_secs(10);

fn latest_n(sub: &RawSubscriber<Tick>) -> Option<u64> {
    sub.latest().map(|t| t.n)
}

on_both!(
    late_joiner_sees_stored_value_without_a_new_publish,
    published_message_is_the_latest_value_kv_get_reads,
    burst_of_1000_last_arrives_and_counters_add_up,
    burst_read_from_the_key_counts_what_it_skipped,
    large_message_is_read_from_the_key_and_arrives_whole,
    topic_cam_never_sees_camera_or_cam_slash_x,
    topic_names_may_hold_any_text,
    publish_runs_no_script_so_a_script_flush_changes_nothing,
    two_subscribers_of_one_topic_both_receive,
    callback_that_panics_on_message_3_still_receives_4_to_10,
    slow_callback_gets_the_latest_message_and_memory_stays_bounded,
    slow_callback_with_a_bounded_queue_drops_the_oldest,
    recv_returns_every_message_in_order_with_a_queue,
    recv_starts_listening_and_gives_the_stored_value_first,
    hostile_payloads_are_counted_as_decode_errors_and_the_subscriber_carries_on,
    stored_values_that_do_not_decode_are_decode_errors_for_a_late_joiner,
    hand_written_one_hash_marshaller_keeps_its_stamp_inside_the_hash,
    hand_written_marshaller_publishes_and_subscribes,
    a_forged_stored_stamp_never_silences_a_subscriber,
);

#[test]
fn publishers_and_subscribers_can_be_shared_or_moved_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<PublishSpace>();
    send_sync::<RawSubscriber<Tick>>();
    send::<CallbackSubscriber<Tick>>();
}

fn late_joiner_sees_stored_value_without_a_new_publish(h: Harness) {
    let _serial = shared();
    let pose = Pose2 {
        x: 1.5,
        y: -2.0,
        theta: 0.25,
    };
    PublishSpace::new(&h.iface)
        .publish("robot/pose", &pose)
        .unwrap();

    let started = Instant::now();
    let mut sub = RawSubscriber::<Pose2>::new(&h.iface, "robot/pose").unwrap();
    assert_eq!(sub.status().state, ConnectionState::Idle);
    sub.listen().unwrap();
    assert!(wait_until(Duration::from_secs(1), || sub.value().is_some()));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(sub.value(), Some(pose));
    assert_eq!(sub.counters().received, 1);
    assert_eq!(sub.status().state, ConnectionState::Connected);
}

fn published_message_is_the_latest_value_kv_get_reads(h: Harness) {
    let _serial = shared();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("robot/tick", &tick(1)).unwrap();
    pubs.publish("robot/tick", &tick(2)).unwrap();
    assert_eq!(h.kv.get::<Tick>("robot/tick").unwrap(), tick(2));
    assert_eq!(
        h.hkeys("robot/tick"),
        ["@fp", "@label", "@pub", "@schema", "@seq", "n", "note"]
    );
    assert_eq!(h.hget("robot/tick", "@seq").unwrap(), b"2");
    let id = pubs.publisher_id();
    assert_eq!(h.hget("robot/tick", "@pub").unwrap(), id.as_bytes());
    // A kv.set in between replaces the message, stamp included; the publisher's own count
    // goes on (it never reads it back from Redis).
    h.kv.set("robot/tick", &tick(3)).unwrap();
    assert_eq!(h.hget("robot/tick", "@seq"), None);
    pubs.publish("robot/tick", &tick(4)).unwrap();
    assert_eq!(h.hget("robot/tick", "@seq").unwrap(), b"3");
    assert_eq!(h.hget("robot/tick", "@pub").unwrap(), id.as_bytes());
    // Another publisher has another id and its own count.
    let other = PublishSpace::new(&h.iface);
    assert_ne!(other.publisher_id(), id);
    other.publish("robot/tick", &tick(5)).unwrap();
    assert_eq!(h.hget("robot/tick", "@seq").unwrap(), b"1");
}

#[test]
fn notifications_carry_small_messages_and_announce_large_ones() {
    let _serial = shared();
    let h = Harness::start();
    let mut con = h.raw();
    let mut raw = con.as_pubsub();
    raw.set_read_timeout(Some(DEADLINE)).unwrap();
    raw.subscribe("t").unwrap();
    let pubs = PublishSpace::new(&h.iface);

    pubs.publish("t", &tick(1)).unwrap();
    let small = raw.get_message().unwrap();
    let small = small.get_payload_bytes();
    assert!(small.starts_with(b"reem2 h "), "{small:?}");
    let shown = String::from_utf8_lossy(small);
    assert!(shown.contains("4:note6:tick 1"), "{shown}");
    assert!(shown.contains("6:@label9:test.Tick"), "{shown}");

    let big = vec![0.5f64; 128 * 1024];
    pubs.publish("t", &big).unwrap();
    let announced = raw.get_message().unwrap();
    let announced = announced.get_payload_bytes();
    assert!(announced.starts_with(b"reem2 k "), "{announced:?}");
    assert!(announced.ends_with(b" 2\n"), "{announced:?}");
    assert!(announced.len() < 64);
}

fn burst_of_1000_last_arrives_and_counters_add_up(h: Harness) {
    let _serial = shared();
    let mut sub = RawSubscriber::<Tick>::new(&h.iface, "burst").unwrap();
    sub.listen().unwrap();
    let pubs = PublishSpace::new(&h.iface);
    for n in 1..=1000 {
        pubs.publish("burst", &tick(n)).unwrap();
    }
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(1000)));
    let c = sub.counters();
    assert_eq!(c.received + c.skipped, 1000, "{c:?}");
    assert_eq!(c.decode_errors, 0);
}

fn burst_read_from_the_key_counts_what_it_skipped(h: Harness) {
    let _serial = shared();
    let mut sub = RawSubscriber::<Tick>::new(&h.iface, "burst").unwrap();
    sub.listen().unwrap();
    let pubs = PublishSpace::new(&h.iface).with_inline_limit(0);
    for n in 1..=1000 {
        pubs.publish("burst", &tick(n)).unwrap();
    }
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(1000)));
    // Later notifications may still be in flight: they must add nothing.
    std::thread::sleep(Duration::from_millis(100));
    let c = sub.counters();
    assert_eq!(c.received + c.skipped, 1000, "{c:?}");
    assert_eq!(c.decode_errors, 0);
}

fn large_message_is_read_from_the_key_and_arrives_whole(h: Harness) {
    let _serial = shared();
    let sub = RawSubscriber::<Vec<f64>>::new(&h.iface, "cloud").unwrap();
    let big: Vec<f64> = (0..128 * 1024).map(|i| i as f64 * 0.5).collect();
    assert!(sub
        .recv_timeout(Duration::from_millis(50))
        .unwrap()
        .is_none());
    PublishSpace::new(&h.iface).publish("cloud", &big).unwrap();
    let got = sub
        .recv_timeout(DEADLINE)
        .unwrap()
        .expect("the large message");
    assert_eq!(*got, big);
}

fn topic_cam_never_sees_camera_or_cam_slash_x(h: Harness) {
    let _serial = shared();
    let mut cam = RawSubscriber::<Tick>::new(&h.iface, "cam").unwrap();
    let mut star = RawSubscriber::<Tick>::new(&h.iface, "cam*").unwrap();
    cam.listen().unwrap();
    star.listen().unwrap();
    let pubs = PublishSpace::new(&h.iface);
    for (n, other) in ["camera", "cam/x", "ca", "Cam", "cam ", "cam*x"]
        .iter()
        .enumerate()
    {
        pubs.publish(other, &tick(100 + n as u64)).unwrap();
    }
    pubs.publish("cam", &tick(7)).unwrap();
    pubs.publish("cam*", &tick(8)).unwrap();
    // One connection delivers in order: had anything leaked, it would have come first.
    assert!(wait_until(DEADLINE, || latest_n(&cam) == Some(7)));
    assert!(wait_until(DEADLINE, || latest_n(&star) == Some(8)));
    assert_eq!(cam.counters().received, 1);
    assert_eq!(star.counters().received, 1);
    assert_eq!(
        cam.counters().decode_errors + star.counters().decode_errors,
        0
    );
}

fn topic_names_may_hold_any_text(h: Harness) {
    let _serial = shared();
    let topic = "robot 1/cam*?[x]\n\t\u{0}é{tag}\\";
    let mut sub = RawSubscriber::<Tick>::new(&h.iface, topic).unwrap();
    sub.listen().unwrap();
    PublishSpace::new(&h.iface)
        .publish(topic, &tick(3))
        .unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(3)));
    assert_eq!(h.kv.get::<Tick>(topic).unwrap(), tick(3));
    let empty = RawSubscriber::<Tick>::new(&h.iface, "").unwrap();
    PublishSpace::new(&h.iface).publish("", &tick(4)).unwrap();
    assert_eq!(empty.recv_timeout(DEADLINE).unwrap().map(|t| t.n), Some(4));
}

#[test]
fn databases_of_one_server_keep_their_topics_apart() {
    let _serial = shared();
    let h = Harness::start();
    let db3 = RedisInterface::new(&format!("{}/3", h.server.url())).unwrap();
    let mut zero = RawSubscriber::<Tick>::new(&h.iface, "t").unwrap();
    let mut three = RawSubscriber::<Tick>::new(&db3, "t").unwrap();
    zero.listen().unwrap();
    three.listen().unwrap();
    PublishSpace::new(&db3).publish("t", &tick(3)).unwrap();
    PublishSpace::new(&h.iface).publish("t", &tick(0)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&zero) == Some(0)));
    assert!(wait_until(DEADLINE, || latest_n(&three) == Some(3)));
    assert_eq!(zero.counters().received, 1);
    assert_eq!(three.counters().received, 1);
    assert_eq!(h.kv.get::<Tick>("t").unwrap(), tick(0));
}

fn publish_runs_no_script_so_a_script_flush_changes_nothing(h: Harness) {
    let _serial = shared();
    let sub = RawSubscriber::<Tick>::new(&h.iface, "t").unwrap();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("t", &tick(1)).unwrap();
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .exec(&mut h.raw())
        .unwrap();
    pubs.publish("t", &tick(2)).unwrap();
    assert_eq!(sub.recv().unwrap().n, 2);
    assert_eq!(h.hget("t", "@seq").unwrap(), b"2");
}

fn two_subscribers_of_one_topic_both_receive(h: Harness) {
    let _serial = shared();
    let other_iface = h.another_iface();
    let mut a = RawSubscriber::<Tick>::new(&h.iface, "t").unwrap();
    let mut b = RawSubscriber::<Tick>::new(&other_iface, "t").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let mut c =
        CallbackSubscriber::with_delivery(&h.iface, "t", Delivery::Queue(16), move |t: Tick| {
            sink.lock().unwrap().push(t.n)
        })
        .unwrap();
    a.listen().unwrap();
    b.listen().unwrap();
    c.listen().unwrap();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("t", &tick(1)).unwrap();
    pubs.publish("t", &tick(2)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&a) == Some(2)));
    assert!(wait_until(DEADLINE, || latest_n(&b) == Some(2)));
    assert!(wait_until(DEADLINE, || seen.lock().unwrap().len() == 2));
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    for counters in [a.counters(), b.counters(), c.counters()] {
        assert_eq!((counters.received, counters.skipped), (2, 0));
    }
}

fn callback_that_panics_on_message_3_still_receives_4_to_10(h: Harness) {
    let _serial = shared();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let mut cb =
        CallbackSubscriber::with_delivery(&h.iface, "t", Delivery::Queue(32), move |t: Tick| {
            if t.n == 3 {
                panic!("message 3 is cursed");
            }
            sink.lock().unwrap().push(t.n);
        })
        .unwrap();
    cb.listen().unwrap();
    let pubs = PublishSpace::new(&h.iface);
    for n in 1..=10 {
        pubs.publish("t", &tick(n)).unwrap();
    }
    assert!(wait_until(DEADLINE, || seen.lock().unwrap().len() == 9));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 4, 5, 6, 7, 8, 9, 10]);
    let c = cb.counters();
    assert_eq!((c.received, c.panics, c.dropped), (10, 1, 0));
}

/// Blocks the callback until opened.
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, bool)>, // (entered, open)
    changed: Condvar,
}

impl Gate {
    fn enter_and_wait(&self) {
        let mut s = self.state.lock().unwrap();
        s.0 = true;
        self.changed.notify_all();
        while !s.1 {
            s = self.changed.wait(s).unwrap();
        }
    }

    fn wait_entered(&self) {
        let mut s = self.state.lock().unwrap();
        while !s.0 {
            s = self.changed.wait(s).unwrap();
        }
    }

    fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

fn slow_callback_gets_the_latest_message_and_memory_stays_bounded(h: Harness) {
    let _serial = shared();
    let gate = Arc::new(Gate::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (g, sink) = (Arc::clone(&gate), Arc::clone(&seen));
    let mut cb = CallbackSubscriber::new(&h.iface, "t", move |t: Tick| {
        if t.n == 1 {
            g.enter_and_wait();
        }
        sink.lock().unwrap().push(t.n);
    })
    .unwrap();
    cb.listen().unwrap();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("t", &tick(1)).unwrap();
    gate.wait_entered();
    // The callback is stuck in message 1 while 99 more arrive: only the newest waits.
    for n in 2..=100 {
        pubs.publish("t", &tick(n)).unwrap();
    }
    assert!(wait_until(DEADLINE, || cb.counters().received == 100));
    gate.open();
    assert!(wait_until(DEADLINE, || seen.lock().unwrap().last() == Some(&100)));
    assert_eq!(*seen.lock().unwrap(), [1, 100]);
    let c = cb.counters();
    assert_eq!((c.received, c.skipped, c.dropped), (100, 0, 98), "{c:?}");
}

fn slow_callback_with_a_bounded_queue_drops_the_oldest(h: Harness) {
    let _serial = shared();
    let gate = Arc::new(Gate::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (g, sink) = (Arc::clone(&gate), Arc::clone(&seen));
    let mut cb =
        CallbackSubscriber::with_delivery(&h.iface, "t", Delivery::Queue(5), move |t: Tick| {
            if t.n == 1 {
                g.enter_and_wait();
            }
            sink.lock().unwrap().push(t.n);
        })
        .unwrap();
    cb.listen().unwrap();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("t", &tick(1)).unwrap();
    gate.wait_entered();
    for n in 2..=20 {
        pubs.publish("t", &tick(n)).unwrap();
    }
    assert!(wait_until(DEADLINE, || cb.counters().received == 20));
    gate.open();
    assert!(wait_until(DEADLINE, || seen.lock().unwrap().last() == Some(&20)));
    assert_eq!(*seen.lock().unwrap(), [1, 16, 17, 18, 19, 20]);
    assert_eq!(cb.counters().dropped, 14);
}

fn recv_returns_every_message_in_order_with_a_queue(h: Harness) {
    let _serial = shared();
    let mut sub =
        RawSubscriber::<Tick>::with_delivery(&h.iface, "t", Delivery::Queue(100)).unwrap();
    sub.listen().unwrap();
    assert!(sub.try_recv().is_none());
    let pubs = PublishSpace::new(&h.iface);
    for n in 1..=10 {
        pubs.publish("t", &tick(n)).unwrap();
    }
    let got: Vec<u64> = (0..10).map(|_| sub.recv().unwrap().n).collect();
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
    assert!(sub
        .recv_timeout(Duration::from_millis(100))
        .unwrap()
        .is_none());
}

fn recv_starts_listening_and_gives_the_stored_value_first(h: Harness) {
    let _serial = shared();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("t", &tick(5)).unwrap();
    let sub = RawSubscriber::<Tick>::new(&h.iface, "t").unwrap();
    assert_eq!(sub.recv().unwrap().n, 5);
    assert!(sub.is_listening());
    pubs.publish("t", &tick(6)).unwrap();
    assert_eq!(sub.recv().unwrap().n, 6);
}

#[test]
fn subscriber_survives_a_redis_restart() {
    let _serial = shared();
    let mut h = Harness::start();
    let pubs = PublishSpace::new(&h.iface);
    let mut sub = RawSubscriber::<Tick>::new(&h.iface, "t").unwrap();
    sub.listen().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let mut cb =
        CallbackSubscriber::new(&h.iface, "t", move |t: Tick| sink.lock().unwrap().push(t.n))
            .unwrap();
    cb.listen().unwrap();
    pubs.publish("t", &tick(1)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(1)));

    h.server.kill();
    assert!(wait_until(DEADLINE, || sub.status().state
        == ConnectionState::Reconnecting));
    assert!(sub.status().last_error.is_some());
    h.server.restart().unwrap();
    pubs.publish("t", &tick(2)).unwrap();

    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(2)));
    assert!(wait_until(DEADLINE, || seen.lock().unwrap().last() == Some(&2)));
    assert!(wait_until(DEADLINE, || sub.status().state
        == ConnectionState::Connected));
    assert!(sub.status().reconnects >= 1);
    // And it keeps receiving.
    pubs.publish("t", &tick(3)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(3)));
}

/// An outage longer than the `redis` crate's connection manager kept trying (about 6 s):
/// the subscriber keeps trying until the server is back, then receives again.
#[test]
fn subscriber_survives_an_outage_of_several_seconds() {
    let _serial = shared();
    let mut h = Harness::start();
    let pubs = PublishSpace::new(&h.iface);
    let mut sub = RawSubscriber::<Tick>::new(&h.iface, "long").unwrap();
    sub.listen().unwrap();
    pubs.publish("long", &tick(1)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(1)));
    h.server.kill();
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(sub.status().state, ConnectionState::Reconnecting);
    h.server.restart().unwrap();
    pubs.publish("long", &tick(2)).unwrap();
    assert!(
        wait_until(DEADLINE, || latest_n(&sub) == Some(2)),
        "{:?}",
        sub.status()
    );
}

/// Threads of this process whose name starts with `reem-`.
fn reem_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("reem-"))
        .count()
}

#[test]
fn dropping_100_subscribers_leaves_no_thread_behind() {
    let _alone = SERIAL.write().unwrap_or_else(|e| e.into_inner());
    let h = Harness::start();
    let before = reem_threads();
    let mut raws = Vec::new();
    let mut callbacks = Vec::new();
    for i in 0..50 {
        let mut raw = RawSubscriber::<Tick>::new(&h.iface, &format!("t{}", i % 7)).unwrap();
        raw.listen().unwrap();
        raws.push(raw);
        let mut cb = CallbackSubscriber::new(&h.iface, &format!("t{i}"), |_: Tick| {}).unwrap();
        cb.listen().unwrap();
        callbacks.push(cb);
    }
    // A new thread names itself once it runs: allow it a moment.
    assert!(
        wait_until(DEADLINE, || reem_threads() == before + 1 + 50),
        "one dispatcher and one thread per callback expected, found {}",
        reem_threads() - before
    );
    PublishSpace::new(&h.iface).publish("t1", &tick(1)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&raws[1]) == Some(1)));
    drop(raws);
    drop(callbacks);
    assert!(
        wait_until(Duration::from_secs(2), || reem_threads() == before),
        "{} reem threads left",
        reem_threads() - before
    );
}

#[test]
fn subscribers_of_one_interface_share_one_connection() {
    let _serial = shared();
    let h = Harness::start();
    let clone = h.iface.clone();
    let mut subs = Vec::new();
    for i in 0..20 {
        let iface = if i % 2 == 0 { &h.iface } else { &clone };
        let mut sub = RawSubscriber::<Tick>::new(iface, &format!("topic/{i}")).unwrap();
        sub.listen().unwrap();
        subs.push(sub);
    }
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut h.raw())
        .unwrap();
    let subscribers = clients.lines().filter(|l| l.contains("flags=P")).count();
    assert_eq!(subscribers, 1, "{clients}");
}

fn hostile_payloads_are_counted_as_decode_errors_and_the_subscriber_carries_on(h: Harness) {
    let _serial = shared();
    let mut sub = RawSubscriber::<Tick>::new(&h.iface, "t").unwrap();
    sub.listen().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let mut cb =
        CallbackSubscriber::new(&h.iface, "t", move |t: Tick| sink.lock().unwrap().push(t.n))
            .unwrap();
    cb.listen().unwrap();

    // Each hostile message must be counted before the next is sent: a notification that
    // makes subscribers read the key may otherwise find a newer message there already.
    let mut errors = 0;
    let mut counted = |sub: &RawSubscriber<Tick>, cb: &CallbackSubscriber<Tick>| {
        errors += 1;
        let done =
            || sub.counters().decode_errors == errors && cb.counters().decode_errors == errors;
        assert!(wait_until(DEADLINE, done), "{:?}", sub.counters());
    };
    let mut raw = h.raw();
    let noise: Vec<u8> = (0..2 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let hostile: [&[u8]; 6] = [
        b"garbage",
        b"reem1 h 1 5\n3:abc",
        b"reem1 h 1 6\n99999999999:x",
        b"reem1 h 1 7\n1:a1:b",
        b"reem1 q 1 8\n",
        &noise,
    ];
    for payload in hostile {
        redis::cmd(h.publish_command())
            .arg("t")
            .arg(payload)
            .exec(&mut raw)
            .unwrap();
        counted(&sub, &cb);
    }
    // A string where the hash should be, announced as a large message.
    redis::cmd("SET")
        .arg("t")
        .arg("not a hash")
        .exec(&mut raw)
        .unwrap();
    redis::cmd(h.publish_command())
        .arg("t")
        .arg("reem1 k 1 9\n")
        .exec(&mut raw)
        .unwrap();
    counted(&sub, &cb);
    // Another type's message on the topic.
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish(
        "t",
        &Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
    )
    .unwrap();
    counted(&sub, &cb);
    let why = sub.last_decode_error().unwrap();
    assert!(why.contains("test.Tick"), "{why}");

    pubs.publish("t", &tick(42)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(42)));
    assert!(wait_until(DEADLINE, || seen.lock().unwrap().last() == Some(&42)));
    for c in [sub.counters(), cb.counters()] {
        assert_eq!((c.decode_errors, c.received), (8, 1), "{c:?}");
    }
    assert_eq!(sub.status().state, ConnectionState::Connected);
    assert_eq!(sub.status().reconnects, 0);
}

fn stored_values_that_do_not_decode_are_decode_errors_for_a_late_joiner(h: Harness) {
    let _serial = shared();
    h.write_raw(
        "garbled",
        &[
            ("@label", b"test.Tick"),
            ("n", b"not a number"),
            ("note", b"x"),
        ],
    );
    redis::cmd("SET")
        .arg("string")
        .arg("x")
        .exec(&mut h.raw())
        .unwrap();
    h.kv.set(
        "pose",
        &Pose2 {
            x: 0.0,
            y: 0.0,
            theta: 0.0,
        },
    )
    .unwrap();
    for topic in ["garbled", "string", "pose"] {
        let mut sub = RawSubscriber::<Tick>::new(&h.iface, topic).unwrap();
        sub.listen().unwrap();
        assert_eq!(sub.counters().decode_errors, 1, "{topic}");
        assert!(sub.value().is_none());
        PublishSpace::new(&h.iface)
            .publish(topic, &tick(1))
            .unwrap();
        assert!(
            wait_until(DEADLINE, || latest_n(&sub) == Some(1)),
            "{topic}"
        );
    }
}

fn hand_written_one_hash_marshaller_keeps_its_stamp_inside_the_hash(h: Harness) {
    let _serial = shared();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("note", &Note("one".into())).unwrap();
    let sub = RawSubscriber::<Note>::new(&h.iface, "note").unwrap();
    assert_eq!(sub.recv().unwrap().0, "one");
    pubs.publish("note", &Note("two".into())).unwrap();
    assert_eq!(sub.recv_timeout(DEADLINE).unwrap().unwrap().0, "two");
    assert_eq!(
        h.hget("note", "@seq").unwrap(),
        b"2",
        "the stamp is in the hash"
    );
    assert!(!h.kv.exists("note@seq").unwrap(), "no companion key");
    let c = sub.counters();
    assert_eq!((c.received, c.skipped, c.decode_errors), (2, 0, 0));
}

fn hand_written_marshaller_publishes_and_subscribes(h: Harness) {
    let _serial = shared();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("greeting", &Text("hello".into())).unwrap();
    assert_eq!(h.kv.get::<Text>("greeting").unwrap(), Text("hello".into()));

    let sub = RawSubscriber::<Text>::new(&h.iface, "greeting").unwrap();
    assert_eq!(sub.recv().unwrap().0, "hello");
    pubs.publish("greeting", &Text("world".into())).unwrap();
    assert_eq!(sub.recv_timeout(DEADLINE).unwrap().unwrap().0, "world");
    let c = sub.counters();
    assert_eq!((c.received, c.skipped, c.decode_errors), (2, 0, 0));
}

#[test]
fn url_options_apply_to_subscribers() {
    let _serial = shared();
    let server = RedisServer::builder()
        .args(["--user", "alice", "on", ">secret", "~*", "&*", "+@all"])
        .start()
        .unwrap();
    let url = format!("{}?db=3&user=alice&pass=secret", server.unix_url());
    let iface = RedisInterface::new(&url).unwrap();
    PublishSpace::new(&iface).publish("t", &tick(1)).unwrap();
    let mut sub = RawSubscriber::<Tick>::new(&iface, "t").unwrap();
    sub.listen().unwrap();
    assert_eq!(
        latest_n(&sub),
        Some(1),
        "the stored value is read from db 3"
    );
    PublishSpace::new(&iface).publish("t", &tick(2)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(2)));

    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    let subscriber = clients.lines().find(|l| l.contains("flags=P")).unwrap();
    assert!(subscriber.contains("user=alice"), "{subscriber}");
    let stored: Option<Vec<u8>> = redis::cmd("HGET")
        .arg("t")
        .arg("n")
        .query(&mut con)
        .unwrap();
    assert_eq!(stored, None, "db 0 is untouched");
}

// ---- One writable key or channel must not freeze, forge or crash anyone ----

/// Fault: a stored `@seq` of 2^53 (one `HSET` by another writer) made every later message
/// "already seen", and a newline in the stored stamp broke every notification. The
/// publisher no longer reads the stamp back, and subscribers judge numbers per publisher
/// with a window.
fn a_forged_stored_stamp_never_silences_a_subscriber(h: Harness) {
    let _serial = shared();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("forged", &tick(1)).unwrap();
    // Another writer forges the stamp of the stored message.
    h.hset("forged", "@seq", b"9007199254740992");
    h.hset("forged", "@epoch", b"1\n2");
    let mut sub =
        RawSubscriber::<Tick>::with_delivery(&h.iface, "forged", Delivery::Queue(64)).unwrap();
    sub.listen().unwrap();
    assert_eq!(
        sub.recv().unwrap().n,
        1,
        "the stored value, forged stamp and all"
    );
    for n in 2..=6 {
        pubs.publish("forged", &tick(n)).unwrap();
    }
    for n in 2..=6 {
        let got = sub.recv_timeout(DEADLINE).unwrap().expect("not silenced");
        assert_eq!(got.n, n);
    }
    assert_eq!(
        h.hget("forged", "@seq").unwrap(),
        b"6",
        "the publisher's own count"
    );
    let c = sub.counters();
    assert_eq!((c.received, c.decode_errors), (6, 0), "{c:?}");
    // A forged stamp that names the real publisher and a huge number: the next real
    // message still arrives.
    h.hset("forged", "@pub", pubs.publisher_id().as_bytes());
    h.hset("forged", "@seq", b"9007199254740992");
    let mut late = RawSubscriber::<Tick>::new(&h.iface, "forged").unwrap();
    late.listen().unwrap();
    pubs.publish("forged", &tick(7)).unwrap();
    assert!(wait_until(DEADLINE, || late.latest().map(|t| t.n) == Some(7)));
}

/// Fault: with the ACL pattern docs/SECURITY.md recommends, a refused SUBSCRIBE looked like
/// success (no error, no message ever), and reem's private control channel was refused too.
#[test]
fn a_refused_subscription_is_an_error_from_listen() {
    let _serial = shared();
    let h = Harness::start();
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("reader")
        .arg("on")
        .arg(">pw")
        .arg("~robot/*")
        .arg("resetchannels")
        .arg("&robot/*")
        .arg("+@all")
        .exec(&mut h.raw())
        .unwrap();
    let port = h.server.port();
    let iface = RedisInterface::new(&format!("redis://reader:pw@127.0.0.1:{port}")).unwrap();
    let mut sub = RawSubscriber::<Tick>::new(&iface, "other/topic").unwrap();
    let err = sub.listen().unwrap_err();
    assert!(
        matches!(&err, Error::Refused { code, .. } if code == "NOPERM"),
        "{err:?}"
    );
    assert!(err.to_string().contains("other/topic"), "{err}");
    assert!(!sub.is_listening());
}

/// The ACL recipe of docs/SECURITY.md works end to end, in database 0 and in another one:
/// keys `~robot/*`, channels `&robot/*` and `&@<db>:robot/*`.
#[test]
fn the_documented_acl_recipe_publishes_and_subscribes_in_any_database() {
    let _serial = shared();
    let h = Harness::start();
    for db in [0, 3] {
        let user = format!("robot{db}");
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg("on")
            .arg(">pw")
            .arg("resetkeys")
            .arg("~robot/*")
            .arg("resetchannels")
            .arg("&robot/*")
            .arg(format!("&@{db}:robot/*"))
            .arg("-@all")
            .arg("+@connection")
            .arg("+select")
            .arg("+hset")
            .arg("+hgetall")
            .arg("+unlink")
            .arg("+multi")
            .arg("+exec")
            .arg("+discard")
            .arg("+publish")
            .arg("+subscribe")
            .arg("+unsubscribe")
            .exec(&mut h.raw())
            .unwrap();
        let port = h.server.port();
        let iface =
            RedisInterface::new(&format!("redis://{user}:pw@127.0.0.1:{port}/{db}")).unwrap();
        let pubs = PublishSpace::new(&iface);
        pubs.publish("robot/pose", &tick(1)).unwrap();
        let mut sub = RawSubscriber::<Tick>::new(&iface, "robot/pose").unwrap();
        sub.listen().unwrap();
        assert_eq!(sub.latest().unwrap().n, 1, "db {db}: the stored value");
        pubs.publish("robot/pose", &tick(2)).unwrap();
        assert!(
            wait_until(DEADLINE, || latest_n(&sub) == Some(2)),
            "db {db}: {:?}",
            sub.status()
        );
        let status = sub.status();
        assert_eq!((status.reconnects, status.last_error), (0, None), "db {db}");
        // Only the topic's channel is subscribed: no private control channel to refuse.
        let channels: Vec<String> = redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .query(&mut h.raw())
            .unwrap();
        let expected = if db == 0 {
            "robot/pose".to_owned()
        } else {
            format!("@{db}:robot/pose")
        };
        assert_eq!(channels, [expected], "db {db}");
    }
}

/// Fault: topic `@1:foo` in database 0 had the channel of topic `foo` in database 1.
#[test]
fn channels_of_different_databases_never_collide() {
    let _serial = shared();
    let h = Harness::start();
    let db0 = RedisInterface::new(&format!("{}/0", h.server.url())).unwrap();
    let db1 = RedisInterface::new(&format!("{}/1", h.server.url())).unwrap();
    let mut sub = RawSubscriber::<Tick>::with_delivery(&db1, "foo", Delivery::Queue(8)).unwrap();
    sub.listen().unwrap();
    PublishSpace::new(&db0).publish("@1:foo", &tick(1)).unwrap();
    PublishSpace::new(&db1).publish("foo", &tick(2)).unwrap();
    assert_eq!(sub.recv_timeout(DEADLINE).unwrap().unwrap().n, 2);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        sub.try_recv().is_none(),
        "database 0's message never arrives"
    );
}

/// Fault: `with_inline_limit(usize::MAX)` (documented: every message inline) overflowed.
#[test]
fn an_unlimited_inline_limit_sends_every_message_inline() {
    let _serial = shared();
    let h = Harness::start();
    let mut con = h.raw();
    let mut raw = con.as_pubsub();
    raw.set_read_timeout(Some(DEADLINE)).unwrap();
    raw.subscribe("big").unwrap();
    let pubs = PublishSpace::new(&h.iface).with_inline_limit(usize::MAX);
    pubs.publish("big", &vec![0.5f64; 64 * 1024]).unwrap();
    let note = raw.get_message().unwrap();
    assert!(note.get_payload_bytes().starts_with(b"reem2 h "));
}

/// Fault: a subscriber's connection allowed replies 500 ms, so a 4 s server stall (well
/// under a 30 s response timeout) caused a reconnect. Liveness follows the interface's
/// timeouts.
#[test]
fn a_server_stall_within_the_response_timeout_causes_no_reconnect() {
    let _serial = shared();
    let server = RedisServer::builder()
        .args(["--enable-debug-command", "yes"])
        .start()
        .unwrap();
    let iface = RedisInterface::builder(&server.url())
        .response_timeout(Some(Duration::from_secs(30)))
        .connect()
        .unwrap();
    let pubs = PublishSpace::new(&iface);
    let mut sub = RawSubscriber::<Tick>::new(&iface, "stall").unwrap();
    sub.listen().unwrap();
    let url = server.url();
    let sleeper = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(4)
            .exec(&mut c)
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(4500));
    sleeper.join().unwrap();
    pubs.publish("stall", &tick(9)).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(9)));
    assert_eq!(sub.status().reconnects, 0, "{:?}", sub.status());
}

/// A message moved without its Rust type (a recorder replaying a file): read as stored
/// pairs, published as stored pairs, read back by its type.
#[test]
fn a_stored_hash_republished_is_read_by_its_type() {
    let _serial = shared();
    let h = Harness::start();
    let pubs = PublishSpace::new(&h.iface);
    pubs.publish("src", &tick(7)).unwrap();
    let stored: reem::marshal::StoredHash = h.kv.get("src").unwrap();
    assert_eq!(stored.label(), Some(&b"test.Tick"[..]));
    let mut sub = RawSubscriber::<Tick>::new(&h.iface, "dst").unwrap();
    sub.listen().unwrap();
    let replay = PublishSpace::new(&h.iface);
    replay.publish("dst", &stored).unwrap();
    assert!(wait_until(DEADLINE, || latest_n(&sub) == Some(7)));
    assert_eq!(h.kv.get::<Tick>("dst").unwrap(), tick(7));
    assert_eq!(
        h.hget("dst", "@pub").unwrap(),
        replay.publisher_id().as_bytes(),
        "the replaying publisher's stamp, not the recorded one"
    );
}
