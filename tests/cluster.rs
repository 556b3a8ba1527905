//! Redis Cluster only: what a single server cannot show. A topic's slot moved to another
//! master while it is published at full speed and read; its master killed (failover); the
//! refusals a cluster adds (`CROSSSLOT`, `TRYAGAIN`, `CLUSTERDOWN`, a vanished node) as
//! typed errors naming the key; hash tags; `scan` over every master. The refusals and the
//! lost reply run on both faces, blocking and `reem::aio` (`cluster_faces!`); the async
//! face's resharding and failover tests are in `tests/aio.rs`. (The key-value, array, pub/sub
//! and async tests run on a cluster too: `on_both!`/`faces!` in their files.)

mod common;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::faces::Kv;
use common::Harness;
use redis::Value;
use reem::marshal::Commands;
use reem::{
    CallbackSubscriber, Delivery, Error, KeyValueStore, PublishSpace, RawSubscriber,
    RedisInterface, ReemMarshal,
};
use reem_server::RedisCluster;

/// A message whose fields all follow from `i`: a torn read shows.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Step")]
struct Step {
    i: u64,
    twice: u64,
    text: String,
    samples: Vec<f64>,
}

fn step(i: u64) -> Step {
    Step {
        i,
        twice: 2 * i,
        text: format!("step {i}"),
        samples: vec![i as f64; 64],
    }
}

fn whole(s: &Step) -> bool {
    *s == step(s.i)
}

/// Polls `done` until it holds or `limit` passes (a hang detector, not a timing check).
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
    true
}

const DEADLINE: Duration = Duration::from_secs(20);

fn node_con(cluster: &RedisCluster, i: usize) -> redis::Connection {
    redis::Client::open(cluster.nodes()[i].url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// How many subscribers node `i` has on the sharded channel `channel`.
fn shard_subscribers(cluster: &RedisCluster, i: usize, channel: &str) -> i64 {
    let reply: Vec<Value> = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(channel)
        .query(&mut node_con(cluster, i))
        .unwrap();
    match reply.get(1) {
        Some(Value::Int(n)) => *n,
        other => panic!("PUBSUB SHARDNUMSUB said {other:?}"),
    }
}

fn other_master(cluster: &RedisCluster, not: usize) -> usize {
    cluster
        .masters()
        .unwrap()
        .into_iter()
        .find(|&m| m != not)
        .unwrap()
}

/// Acceptance (a): the topic's slot moves to another master while a publisher publishes
/// 2,000 messages at full speed, a subscriber listens and 4 readers `get` the key.
#[test]
fn resharding_under_load_tears_nothing_and_the_subscriber_follows() {
    let h = Harness::cluster();
    let common::Server::Cluster(cluster) = &h.server else {
        unreachable!()
    };
    let topic = "reshard/pose";
    let slot = cluster.slot_of(topic).unwrap();
    let from = cluster.master_of_key(topic).unwrap();
    let to = other_master(cluster, from);

    let pubs = PublishSpace::new(&h.iface);
    pubs.publish(topic, &step(0)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
    let sink = Arc::clone(&seen);
    let mut sub = CallbackSubscriber::with_delivery(
        &h.iface,
        topic,
        Delivery::Queue(1 << 16),
        move |s: Step| {
            sink.lock()
                .unwrap()
                .push(if whole(&s) { s.i } else { u64::MAX })
        },
    )
    .unwrap();
    sub.listen().unwrap();
    assert!(wait_until(DEADLINE, || !seen.lock().unwrap().is_empty()));

    let stop = Arc::new(AtomicBool::new(false));
    let torn = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let read_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let kv = KeyValueStore::new(&h.iface);
            let (stop, torn, reads, errors) = (
                stop.clone(),
                torn.clone(),
                reads.clone(),
                read_errors.clone(),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match kv.get::<Step>(topic) {
                        Ok(s) if whole(&s) => {}
                        Ok(_) => {
                            torn.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => errors.lock().unwrap().push(e.to_string()),
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let published = Arc::new(AtomicU64::new(0));
    let mover = {
        let published = published.clone();
        let cluster: &'static RedisCluster = cluster;
        thread::spawn(move || {
            assert!(wait_until(DEADLINE, || published.load(Ordering::Relaxed) >= 300));
            let t = Instant::now();
            let keys = cluster.migrate_slot(slot, to).unwrap();
            (keys, t.elapsed(), published.load(Ordering::Relaxed))
        })
    };
    let mut failed = Vec::new();
    let mut last_ok = 0;
    for i in 1..=2000u64 {
        match pubs.publish(topic, &step(i)) {
            Ok(()) => last_ok = i,
            Err(e) => failed.push(format!("publish {i}: {e}")),
        }
        published.store(i, Ordering::Relaxed);
    }
    let (keys_moved, took, at) = mover.join().unwrap();
    assert_eq!(cluster.master_of_key(topic).unwrap(), to, "the slot moved");

    // The subscriber ends with the last message.
    let ended = wait_until(DEADLINE, || seen.lock().unwrap().last() == Some(&last_ok));
    stop.store(true, Ordering::Relaxed);
    readers.into_iter().for_each(|r| r.join().unwrap());
    let seen = seen.lock().unwrap().clone();
    let read_errors = read_errors.lock().unwrap().clone();
    eprintln!(
        "resharding: slot {slot} ({keys_moved} key) moved from node {from} to node {to} in \
         {took:?}, started after publish {at}; publishes failed: {} of 2000 {:?}; the \
         subscriber received {} messages, counters {:?}; {} reads by 4 readers, {} failed {:?}, \
         {} torn",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>(),
        seen.len(),
        sub.counters(),
        reads.load(Ordering::Relaxed),
        read_errors.len(),
        read_errors.iter().take(3).collect::<Vec<_>>(),
        torn.load(Ordering::Relaxed),
    );
    assert!(
        ended,
        "the subscriber ended with {:?}, not {last_ok}",
        seen.last()
    );
    assert_eq!(last_ok, 2000, "the last publish went through: {failed:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "sequence not strictly increasing (or a torn message, u64::MAX): {seen:?}"
    );
    assert_eq!(torn.load(Ordering::Relaxed), 0, "torn reads");
    assert!(reads.load(Ordering::Relaxed) > 0);

    // It listens on the new master now: a new message comes as a notification from there.
    assert!(wait_until(DEADLINE, || shard_subscribers(
        cluster, to, topic
    ) == 1));
    assert_eq!(shard_subscribers(cluster, from, topic), 0);
    pubs.publish(topic, &step(2001)).unwrap();
    assert!(wait_until(DEADLINE, || {
        sub.counters().received as usize == seen.len() + 1
    }));
}

/// Acceptance (b): the master of a topic's slot is killed; once its replica is promoted, the
/// same interface sets, gets and publishes again, and the subscriber receives the next
/// publish. Meanwhile every call fails with a typed error naming the key.
#[test]
fn failover_of_a_topics_master_is_ridden_out() {
    let mut cluster = RedisCluster::start().unwrap();
    let iface = RedisInterface::cluster(&cluster.urls()).unwrap();
    let kv = KeyValueStore::new(&iface);
    let pubs = PublishSpace::new(&iface);
    let topic = "failover/pose";
    pubs.publish(topic, &step(1)).unwrap();
    let mut sub = RawSubscriber::<Step>::new(&iface, topic).unwrap();
    sub.listen().unwrap();
    assert_eq!(sub.value().map(|s| s.i), Some(1));
    let master = cluster.master_of_key(topic).unwrap();
    // The replica has the message before its master dies.
    let _: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query(&mut node_con(&cluster, master))
        .unwrap();

    let killed = Instant::now();
    cluster.kill_node(master);
    let slot = cluster.slot_of(topic).unwrap();
    let cluster = &cluster;
    let (promoted, back, errors, n) = thread::scope(|scope| {
        // When the cluster names another master for the slot.
        let promoted = scope.spawn(move || {
            let gone = |m: reem_server::Result<usize>| m.is_ok_and(|m| m != master);
            wait_until(Duration::from_secs(60), || {
                gone(cluster.master_of_slot(slot))
            })
            .then(Instant::now)
        });
        // Every call fails with a typed error naming the key until set, get and publish
        // work again.
        let mut errors = Vec::new();
        let mut n = 1;
        let back = loop {
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "not back 60 s after the kill: {} errors, the last {:?}",
                errors.len(),
                errors.last()
            );
            n += 1;
            let set = kv.set("failover/kv", &step(n));
            let get = set.and_then(|()| kv.get::<Step>("failover/kv"));
            let publish = get.and_then(|s| {
                assert_eq!(s, step(n));
                pubs.publish(topic, &step(n))
            });
            match publish {
                Ok(()) => break Instant::now(),
                Err(e) => errors.push(common::outage_error(&e, "failover/")),
            }
        };
        let promoted = promoted.join().unwrap().expect("the replica was promoted");
        (promoted, back, errors, n)
    });
    let received = wait_until(DEADLINE, || sub.latest().is_some_and(|s| s.i == n));
    let delivered = Instant::now();
    eprintln!(
        "failover: the replica was promoted {:?} after the kill; set+get+publish worked again \
         {:?} after the kill ({:?} after the promotion was seen); the subscriber had message \
         {n} {:?} after the kill; {} failed calls meanwhile, e.g. {:?}; subscriber status {:?}",
        promoted - killed,
        back - killed,
        back.saturating_duration_since(promoted),
        delivered - killed,
        errors.len(),
        errors.iter().take(2).collect::<Vec<_>>(),
        sub.status(),
    );
    assert!(received, "the subscriber did not receive message {n}");
    // Within 10 s of the promotion (a hang detector: the loop above never waits on purpose).
    assert!(
        back.saturating_duration_since(promoted) < Duration::from_secs(10),
        "set/get/publish came back {:?} after the promotion",
        back.saturating_duration_since(promoted)
    );
    // And keeps working: the next one arrives as a notification.
    pubs.publish(topic, &step(n + 1)).unwrap();
    assert!(wait_until(DEADLINE, || sub
        .latest()
        .is_some_and(|s| s.i == n + 1)));
}

// Acceptance (d): keys of one request in two slots are refused before anything is sent; on
// both faces.
cluster_faces!(cross_slot_requests_are_refused_before_sending);
fn cross_slot_requests_are_refused_before_sending<K: Kv>(h: &Harness, kv: &K) {
    let err = h
        .iface
        .raw_query(redis::cmd("DEL").arg("cross/a").arg("cross/b"))
        .unwrap_err();
    match &err {
        Error::Refused { key, code, message } => {
            assert_eq!(code, "CROSSSLOT");
            assert_eq!(key, "cross/a");
            assert!(message.contains("cross/b"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A hand-written marshaller that writes two keys of two slots: refused, nothing written.
    let err = kv.set("cross/a", &TwoKeys).unwrap_err();
    assert!(
        matches!(&err, Error::Refused { code, key, .. } if code == "CROSSSLOT" && key == "cross/a"),
        "{err:?}"
    );
    assert!(!kv.exists("cross/a").unwrap());
    // With a hash tag they share a slot.
    kv.set("{cross}/a", &TwoKeys).unwrap();
    assert!(kv.exists("{cross}/a").unwrap());
    assert!(kv.exists("{cross}/a:extra").unwrap());
}

/// Writes `key` and `key:extra`.
struct TwoKeys;

impl ReemMarshal for TwoKeys {
    fn get_label() -> Cow<'static, str> {
        "test.TwoKeys".into()
    }

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> reem::Result<()> {
        out.cmd("SET").arg(key).arg("1");
        out.cmd("SET").arg(format!("{key}:extra")).arg("2");
        Ok(())
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        out.cmd("GET").arg(key);
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        out.cmd("DEL").arg(key);
    }

    fn interpret_read(_key: &str, _reply: Value) -> reem::Result<Self> {
        Ok(TwoKeys)
    }
}

/// Acceptance (d): user keys and topics with `{hash tags}` keep working, and a topic's extra
/// keys share its slot.
#[test]
fn hash_tags_keep_working() {
    let h = Harness::cluster();
    let common::Server::Cluster(cluster) = &h.server else {
        unreachable!()
    };
    for key in ["{robot1}/pose", "{robot1}/status", "x{robot1}y", "{}/plain"] {
        h.kv.set(key, &step(7)).unwrap();
        assert_eq!(h.kv.get::<Step>(key).unwrap(), step(7));
    }
    assert_eq!(
        cluster.slot_of("{robot1}/pose").unwrap(),
        cluster.slot_of("x{robot1}y").unwrap()
    );
    // A tagged topic: published and received.
    let mut sub = RawSubscriber::<Step>::new(&h.iface, "{fleet}/pose").unwrap();
    sub.listen().unwrap();
    PublishSpace::new(&h.iface)
        .publish("{fleet}/pose", &step(3))
        .unwrap();
    assert!(wait_until(DEADLINE, || sub
        .latest()
        .is_some_and(|s| s.i == 3)));
    // `SCAN` finds the keys on whichever master holds them.
    let mut found = Vec::new();
    h.iface
        .scan("*", |keys, _| {
            found.extend(keys.into_iter().map(|k| String::from_utf8(k).unwrap()));
            Ok(())
        })
        .unwrap();
    found.sort();
    found.dedup();
    assert_eq!(
        found,
        [
            "x{robot1}y",
            "{fleet}/pose",
            "{robot1}/pose",
            "{robot1}/status",
            "{}/plain"
        ]
    );
}

/// `scan` walks every master, and `NodeReads` reads the keys it found on their node.
#[test]
fn scan_walks_every_master() {
    let h = Harness::cluster();
    let common::Server::Cluster(cluster) = &h.server else {
        unreachable!()
    };
    let keys: Vec<String> = (0..60).map(|i| format!("scan/{i}")).collect();
    for k in &keys {
        h.kv.set(k, &step(1)).unwrap();
    }
    let owners: std::collections::BTreeSet<usize> = keys
        .iter()
        .map(|k| cluster.master_of_key(k).unwrap())
        .collect();
    assert_eq!(owners.len(), 3, "the keys are spread over the 3 masters");
    let mut found = Vec::new();
    let mut nodes = std::collections::BTreeSet::new();
    h.iface
        .scan("scan/*", |batch, node| {
            nodes.insert(node.node().to_owned());
            let mut cmds = Commands::new();
            for k in &batch {
                cmds.cmd("HGET").arg(k).arg("i");
            }
            for reply in node.query(&cmds)? {
                assert_eq!(reply, Value::BulkString(b"1".to_vec()));
            }
            found.extend(batch);
            Ok(())
        })
        .unwrap();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    found.sort();
    found.dedup();
    assert_eq!(found.len(), 60);
}

/// A subscription the cluster refuses (an ACL without the channel) is an error from
/// `listen()`, as on one server.
#[test]
fn a_refused_sharded_subscription_is_an_error_from_listen() {
    let h = Harness::cluster();
    let common::Server::Cluster(cluster) = &h.server else {
        unreachable!()
    };
    let user = [
        "ACL", "SETUSER", "robot", "on", ">pw", "~*", "&robot/*", "+@all",
    ];
    for i in 0..cluster.nodes().len() {
        redis::cmd(user[0])
            .arg(&user[1..])
            .exec(&mut node_con(cluster, i))
            .unwrap();
    }
    let urls: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.replace("redis://", "redis://robot:pw@"))
        .collect();
    let iface = RedisInterface::cluster(&urls).unwrap();
    let mut ok = RawSubscriber::<Step>::new(&iface, "robot/pose").unwrap();
    ok.listen().unwrap();
    let mut refused = RawSubscriber::<Step>::new(&iface, "other/pose").unwrap();
    let err = refused.listen().unwrap_err();
    for i in 0..cluster.nodes().len() {
        redis::cmd("ACL")
            .arg("DELUSER")
            .arg("robot")
            .exec(&mut node_con(cluster, i))
            .unwrap();
    }
    match &err {
        Error::Refused { key, code, .. } => {
            assert_eq!(key, "other/pose");
            assert_eq!(code, "NOPERM");
        }
        other => panic!("{other:?}"),
    }
}

/// Acceptance (d): `TRYAGAIN` (a multi-key command while its keys are split by a migration),
/// `CLUSTERDOWN` (a master and its replica gone) and a vanished node are typed errors naming
/// the key, within the interface's connect timeout (no hang), never a panic: on both faces,
/// each on a cluster of its own.
mod tryagain_clusterdown_and_a_vanished_node_are_typed_errors {
    #[test]
    fn cluster() {
        super::tryagain_clusterdown_and_a_vanished_node_are_typed_errors(|iface| {
            reem::KeyValueStore::new(iface)
        });
    }

    #[test]
    fn aio_cluster() {
        super::tryagain_clusterdown_and_a_vanished_node_are_typed_errors(
            super::common::faces::Aio::new,
        );
    }
}

fn tryagain_clusterdown_and_a_vanished_node_are_typed_errors<K: Kv>(
    store: impl FnOnce(&RedisInterface) -> K,
) {
    let mut cluster = RedisCluster::start().unwrap();
    let iface = RedisInterface::cluster_builder(&cluster.urls())
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .unwrap();
    let kv = store(&iface);
    let bounded = |t: Instant| t.elapsed() < Duration::from_secs(15);

    // TRYAGAIN: {t}a moved to the importing node, {t}b still on the migrating one.
    kv.set("{t}a", &step(1)).unwrap();
    kv.set("{t}b", &step(2)).unwrap();
    let slot = cluster.slot_of("{t}").unwrap();
    let from = cluster.master_of_key("{t}").unwrap();
    let to = other_master(&cluster, from);
    let (from_id, to_id) = (
        cluster.nodes()[from].id().to_owned(),
        cluster.nodes()[to].id().to_owned(),
    );
    redis::cmd("CLUSTER")
        .arg(&["SETSLOT", &slot.to_string(), "IMPORTING", &from_id])
        .exec(&mut node_con(&cluster, to))
        .unwrap();
    redis::cmd("CLUSTER")
        .arg(&["SETSLOT", &slot.to_string(), "MIGRATING", &to_id])
        .exec(&mut node_con(&cluster, from))
        .unwrap();
    redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(cluster.nodes()[to].port())
        .arg("{t}a")
        .arg(0)
        .arg(5000)
        .exec(&mut node_con(&cluster, from))
        .unwrap();
    // One key each side: ASK followed, reads work.
    assert_eq!(kv.get::<Step>("{t}a").unwrap(), step(1));
    assert_eq!(kv.get::<Step>("{t}b").unwrap(), step(2));
    let t = Instant::now();
    let err = iface
        .raw_query(redis::cmd("EXISTS").arg("{t}a").arg("{t}b"))
        .unwrap_err();
    assert!(bounded(t), "{:?}", t.elapsed());
    assert!(
        matches!(&err, Error::Refused { key, code, .. } if key == "{t}a" && code == "TRYAGAIN"),
        "{err:?}"
    );
    eprintln!("TRYAGAIN: {err} after {:?}", t.elapsed());

    // A vanished node: its keys fail with a connection error naming the key.
    let victim_key = "vanished/k";
    kv.set(victim_key, &step(3)).unwrap();
    let victim = cluster.master_of_key(victim_key).unwrap();
    let survivor_key = (0..)
        .map(|i| format!("alive/{i}"))
        .find(|k| cluster.master_of_key(k).unwrap() != victim)
        .unwrap();
    let replica = (0..cluster.nodes().len())
        .find(|&i| {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut node_con(&cluster, i))
                .unwrap();
            info.contains(&format!("master_port:{}", cluster.nodes()[victim].port()))
        })
        .expect("the victim's replica");
    cluster.kill_node(victim);
    cluster.kill_node(replica);
    let t = Instant::now();
    let err = kv.get::<Step>(victim_key).unwrap_err();
    assert!(bounded(t), "{:?}", t.elapsed());
    assert!(err.to_string().contains(victim_key), "{err}");
    assert!(
        err.is_connection() || matches!(err, Error::Refused { .. }),
        "{err:?}"
    );
    eprintln!("vanished node: {err} after {:?}", t.elapsed());

    // CLUSTERDOWN: with a master and its replica gone, the cluster refuses every key once it
    // notices (after the node timeout).
    let down = wait_until(Duration::from_secs(30), || {
        let t = Instant::now();
        let r = kv.get::<Step>(&survivor_key);
        assert!(bounded(t), "{:?}", t.elapsed());
        match r {
            Err(Error::Refused { key, code, .. }) if code == "CLUSTERDOWN" => {
                assert_eq!(key, survivor_key);
                true
            }
            Ok(_) | Err(_) => false,
        }
    });
    assert!(down, "no CLUSTERDOWN for {survivor_key}");
    let t = Instant::now();
    let err = kv.set(&survivor_key, &step(4)).unwrap_err();
    assert!(bounded(t), "{:?}", t.elapsed());
    assert!(
        matches!(&err, Error::Refused { code, key, .. } if code == "CLUSTERDOWN" && *key == survivor_key),
        "{err:?}"
    );
    eprintln!("CLUSTERDOWN: {err} after {:?}", t.elapsed());
}

/// Increments the counter at its key and reads a large value beside it, in one transaction.
struct CountAndRead;

impl ReemMarshal for CountAndRead {
    fn get_label() -> Cow<'static, str> {
        "test.CountAndRead".into()
    }

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> reem::Result<()> {
        out.cmd("INCR").arg(key);
        out.cmd("GET").arg(format!("{key}:big"));
        Ok(())
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        out.cmd("GET").arg(key);
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        out.cmd("DEL").arg(key);
    }

    fn interpret_read(_key: &str, _reply: Value) -> reem::Result<Self> {
        Ok(CountAndRead)
    }
}

// The retry rule: a write whose reply is lost after it ran is `Unconfirmed` and never sent
// again (the `redis` crate's cluster connections, sync and async, left to themselves,
// would run it up to 5 times here: once per retry). The node closes the connection while
// replying, as a server does to a client over its output buffer limit. On both faces.
cluster_faces!(a_write_whose_reply_is_lost_is_unconfirmed_and_applied_once);
fn a_write_whose_reply_is_lost_is_unconfirmed_and_applied_once<K: Kv>(h: &Harness, kv: &K) {
    let common::Server::Cluster(cluster) = &h.server else {
        unreachable!()
    };
    let key = "{lost}counter";
    redis::cmd("SET")
        .arg(format!("{key}:big"))
        .arg(vec![b'x'; 64 * 1024])
        .exec(&mut h.raw())
        .unwrap();
    let node = cluster.master_of_key(key).unwrap();
    let limit = |value: &str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("client-output-buffer-limit")
            .arg(value)
            .exec(&mut node_con(cluster, node))
            .unwrap()
    };
    limit("normal 4096 0 0");
    let result = kv.set(key, &CountAndRead);
    // A single command (routed by reem, not parsed back by the crate): the same rule.
    let script = "redis.call('INCR', KEYS[1]); return redis.call('GET', KEYS[2])";
    let big = format!("{key}:big");
    let raw = h
        .iface
        .raw_query(redis::cmd("EVAL").arg(script).arg(2).arg(key).arg(&big));
    limit("normal 0 0 0");
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::Unconfirmed { key: k, .. } if k == key),
        "{err:?}"
    );
    let err = raw.unwrap_err();
    assert!(matches!(&err, Error::Unconfirmed { .. }), "{err:?}");
    let count: i64 = redis::cmd("GET").arg(key).query(&mut h.raw()).unwrap();
    assert_eq!(count, 2, "each run once");
    // The interface carries on.
    kv.set(key, &CountAndRead).unwrap();
    let count: i64 = redis::cmd("GET").arg(key).query(&mut h.raw()).unwrap();
    assert_eq!(count, 3);
}
