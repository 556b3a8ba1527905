//! Topic history: the bounded stream a publisher keeps next to a topic, subscribers that
//! start from it and fill reconnection gaps from it. Tests taking a `Harness` run on a
//! private redis-server and on the local Redis Cluster (`on_both!`).

mod common;

use std::time::{Duration, Instant};

use common::{on_both, Harness};
use redis::Value;
use reem::pubsub::history::{entries, history_key};
use reem::{CallbackSubscriber, Delivery, PublishSpace, RawSubscriber, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Tick")]
struct Tick {
    n: u64,
    note: String,
    samples: Vec<f32>,
}

fn tick(n: u64) -> Tick {
    Tick {
        n,
        note: format!("tick {n}"),
        samples: vec![n as f32; 4],
    }
}

/// The history entries of `topic`, oldest first.
fn history(h: &Harness, topic: &str) -> Vec<reem::pubsub::history::Entry> {
    let key = history_key(topic, h.is_cluster()).unwrap();
    let reply: Value = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .query(&mut h.raw())
        .unwrap();
    entries(&key, reply).unwrap()
}

/// Takes messages until `n` arrived or 10 s passed.
fn take(sub: &RawSubscriber<Tick>, n: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        if let Some(t) = sub.recv_timeout(Duration::from_millis(100)).unwrap() {
            got.push(t.n);
        }
    }
    got
}

fn history_keeps_the_last_n_messages_in_the_topics_slot(h: Harness) {
    let pubs = PublishSpace::new(&h.iface).with_history(100);
    assert_eq!(pubs.history(), Some(100));
    for n in 1..=300 {
        pubs.publish("robot/tick", &tick(n)).unwrap();
    }
    let kept = history(&h, "robot/tick");
    // MAXLEN ~ trims whole stream nodes (100 entries each by default): about 100 stay.
    assert!((100..=200).contains(&kept.len()), "{} kept", kept.len());
    let seqs: Vec<u64> = kept.iter().map(|e| e.publisher_seq().unwrap().1).collect();
    assert_eq!(*seqs.last().unwrap(), 300);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // Each entry is the stored message: it decodes as the type.
    let last = kept.into_iter().last().unwrap();
    let decoded = Tick::interpret_read("robot/tick", last.hash).unwrap();
    assert_eq!(decoded, tick(300));
    assert_eq!(h.kv.get::<Tick>("robot/tick").unwrap(), tick(300));
    // Without history, no stream.
    PublishSpace::new(&h.iface)
        .publish("robot/plain", &tick(1))
        .unwrap();
    assert!(history(&h, "robot/plain").is_empty());
}

fn a_subscriber_starts_with_the_last_k_then_live_ones(h: Harness) {
    let pubs = PublishSpace::new(&h.iface).with_history(100);
    for n in 1..=20 {
        pubs.publish("robot/tick", &tick(n)).unwrap();
    }
    let mut sub =
        RawSubscriber::<Tick>::with_delivery(&h.iface, "robot/tick", Delivery::Queue(100))
            .unwrap()
            .with_history(10);
    sub.listen().unwrap();
    for n in 21..=25 {
        pubs.publish("robot/tick", &tick(n)).unwrap();
    }
    assert_eq!(take(&sub, 15), (11..=25).collect::<Vec<_>>());
    let c = sub.counters();
    assert_eq!((c.received, c.skipped, c.decode_errors), (15, 0, 0));
    // A latest-wins subscriber keeps its meaning: only the stored latest.
    let mut latest = RawSubscriber::<Tick>::new(&h.iface, "robot/tick")
        .unwrap()
        .with_history(10);
    latest.listen().unwrap();
    assert_eq!(latest.counters().received, 1);
    assert_eq!(latest.value().map(|t| t.n), Some(25));
    // The same for a latest-wins callback subscriber.
    let mut callback = CallbackSubscriber::new(&h.iface, "robot/tick", |_: Tick| {})
        .unwrap()
        .with_history(10);
    callback.listen().unwrap();
    assert_eq!(callback.counters().received, 1);
}

fn an_async_stream_starts_with_the_last_k_then_live_ones(h: Harness) {
    let pubs = PublishSpace::new(&h.iface).with_history(100);
    for n in 1..=20 {
        pubs.publish("robot/atick", &tick(n)).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sub = reem::aio::Subscriber::<Tick>::with_history(
            &h.iface,
            "robot/atick",
            Delivery::Queue(100),
            10,
        )
        .await
        .unwrap();
        let apubs = reem::aio::PublishSpace::new(&h.iface).with_history(100);
        for n in 21..=25 {
            apubs.publish("robot/atick", &tick(n)).await.unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 15 {
            let item = tokio::time::timeout(Duration::from_secs(10), sub.recv())
                .await
                .expect("15 messages within 10 s");
            got.push(item.unwrap().n);
        }
        assert_eq!(got, (11..=25).collect::<Vec<_>>());
        let c = sub.counters();
        assert_eq!((c.received, c.skipped, c.decode_errors), (15, 0, 0));
        // Latest-wins (the default delivery): only the stored latest, history or not.
        let latest = reem::aio::Subscriber::<Tick>::with_history(
            &h.iface,
            "robot/atick",
            Delivery::default(),
            10,
        )
        .await
        .unwrap();
        assert_eq!(latest.counters().received, 1);
        assert_eq!(latest.latest().map(|t| t.n), Some(25));
    });
}

on_both!(
    history_keeps_the_last_n_messages_in_the_topics_slot,
    a_subscriber_starts_with_the_last_k_then_live_ones,
    an_async_stream_starts_with_the_last_k_then_live_ones,
);

/// Kills every subscriber connection of the server (`CLIENT KILL ID`), as an outage would,
/// and keeps new connections out (`maxclients`) while `during` runs (the publisher's
/// connection is already open), so that everything `during` publishes is published while
/// the subscriber is disconnected. Returns how many connections were killed.
fn outage(h: &Harness, during: impl FnOnce()) -> usize {
    let mut raw = h.raw();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut raw).unwrap();
    let field = |line: &str, name: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("0")
            .to_owned()
    };
    let subscribers: Vec<String> = list
        .lines()
        .filter(|line| field(line, "sub") != "0")
        .map(|line| field(line, "id"))
        .collect();
    // New connections are kept out before the subscriber's is killed: it cannot come back
    // between the kill and the limit.
    let open = list.lines().count() - subscribers.len();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg(open)
        .exec(&mut raw)
        .unwrap();
    for id in &subscribers {
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .exec(&mut raw)
            .unwrap();
    }
    let killed = subscribers.len();
    during();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg(1000)
        .exec(&mut raw)
        .unwrap();
    killed
}

/// A publisher keeping `history` messages of `robot/tick` (message 0 published), and a
/// listening subscriber on an interface of its own (so that `outage` kills only its
/// connection) that starts with the last message and fills gaps from the history.
fn outage_setup(
    h: &Harness,
    history: usize,
) -> (PublishSpace, RawSubscriber<Tick>, reem::RedisInterface) {
    let pubs = PublishSpace::new(&h.iface).with_history(history);
    pubs.publish("robot/tick", &tick(0)).unwrap();
    let sub_iface = h.another_iface();
    let mut sub =
        RawSubscriber::<Tick>::with_delivery(&sub_iface, "robot/tick", Delivery::Queue(1000))
            .unwrap()
            .with_history(1);
    sub.listen().unwrap();
    (pubs, sub, sub_iface)
}

/// Waits until the subscriber's connection is back.
fn wait_connected(sub: &RawSubscriber<Tick>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sub.status().state != reem::ConnectionState::Connected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(sub.status().reconnects >= 1, "{:?}", sub.status());
}

#[test]
fn messages_published_while_disconnected_are_recovered_from_history() {
    let h = Harness::start();
    let (pubs, sub, sub_iface) = outage_setup(&h, 100);
    // Both subscribers share one connection (one interface): one with history, one without
    // (which shows that the outage really made a gap).
    let (tx, rx) = std::sync::mpsc::channel();
    let mut plain = CallbackSubscriber::with_delivery(
        &sub_iface,
        "robot/tick",
        Delivery::Queue(1000),
        move |t: Tick| {
            let _ = tx.send(t.n);
        },
    )
    .unwrap();
    plain.listen().unwrap();
    assert_eq!(take(&sub, 1), vec![0]);

    let killed = outage(&h, || {
        for n in 1..=50 {
            pubs.publish("robot/tick", &tick(n)).unwrap();
        }
    });
    assert_eq!(killed, 1);
    assert_eq!(take(&sub, 50), (1..=50).collect::<Vec<_>>());
    let c = sub.counters();
    assert_eq!(
        (c.received, c.skipped, c.decode_errors),
        (51, 0, 0),
        "{c:?}"
    );
    wait_connected(&sub);
    // The subscriber without history saw the stored latest after reconnecting and counted
    // the rest as skipped (the gap was real).
    let deadline = Instant::now() + Duration::from_secs(10);
    while plain.counters().received + plain.counters().skipped < 51 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen: Vec<u64> = rx.try_iter().collect();
    assert!(plain.counters().skipped > 0, "{seen:?}");
    assert_eq!(seen.last(), Some(&50));
}

#[test]
fn a_gap_beyond_the_history_is_counted_as_skipped() {
    let h = Harness::start();
    let (pubs, sub, _) = outage_setup(&h, 10);
    assert_eq!(take(&sub, 1), vec![0]);
    // 500 messages: far more than the history keeps (about 10, a stream node at most).
    let killed = outage(&h, || {
        for n in 1..=500 {
            pubs.publish("robot/tick", &tick(n)).unwrap();
        }
    });
    assert_eq!(killed, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.last() != Some(&500) && Instant::now() < deadline {
        if let Some(t) = sub.recv_timeout(Duration::from_millis(100)).unwrap() {
            got.push(t.n);
        }
    }
    assert_eq!(got.last(), Some(&500));
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
    let c = sub.counters();
    assert_eq!(c.received + c.skipped, 501, "{c:?}");
    assert!(c.skipped > 0, "{c:?}");
}

#[test]
fn a_start_with_the_last_k_reads_each_entry_once() {
    let h = Harness::start();
    let pubs = PublishSpace::new(&h.iface).with_history(100);
    for n in 1..=20 {
        pubs.publish("robot/tick", &tick(n)).unwrap();
    }
    let mut raw = h.raw();
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .exec(&mut raw)
        .unwrap();
    let mut sub =
        RawSubscriber::<Tick>::with_delivery(&h.iface, "robot/tick", Delivery::Queue(100))
            .unwrap()
            .with_history(10);
    sub.listen().unwrap();
    assert_eq!(take(&sub, 10), (11..=20).collect::<Vec<_>>());
    // One page back (`XREVRANGE … COUNT 10`), and the same entries are not read again.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut raw)
        .unwrap();
    let calls = |name: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!((calls("xrevrange"), calls("xrange")), (1, 0), "{stats}");
}
