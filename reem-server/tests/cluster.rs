//! RedisCluster: starts and agrees, serves keys where CLUSTER SLOTS says, moves a slot while a
//! client keeps writing to it, and fails over when a master is killed.

#![cfg(unix)]

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reem_server::RedisCluster;

fn con(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// `GET key` on one node, without following redirections.
fn get(url: &str, key: &str) -> redis::RedisResult<Option<String>> {
    redis::cmd("GET").arg(key).query(&mut con(url))
}

/// `SET key value` as a cluster client does: to the node it believes serves the key,
/// following `MOVED` (and updating its belief) and `ASK` (with `ASKING`, once).
fn set(node: &mut String, key: &str, value: &str) {
    for _ in 0..10 {
        let err = match redis::cmd("SET").arg(key).arg(value).exec(&mut con(node)) {
            Ok(()) => return,
            Err(e) => e,
        };
        let (addr, _slot) = err.redirect_node().expect("only redirections");
        let target = format!("redis://{addr}");
        if err.code() == Some("MOVED") {
            *node = target;
            continue;
        }
        assert_eq!(err.code(), Some("ASK"), "{err}");
        let mut c = con(&target);
        redis::cmd("ASKING").exec(&mut c).unwrap();
        match redis::cmd("SET").arg(key).arg(value).exec(&mut c) {
            Ok(()) => return,
            Err(e) if e.code() == Some("MOVED") => *node = target,
            Err(e) => panic!("SET {key} after ASK: {e}"),
        }
    }
    panic!("SET {key}: too many redirections");
}

#[test]
fn a_cluster_serves_moves_a_slot_under_load_and_fails_over() {
    let t = Instant::now();
    let mut cluster = RedisCluster::start().unwrap();
    eprintln!("cluster of 6 started and agreed in {:?}", t.elapsed());
    assert_eq!(cluster.urls().len(), 6);
    let masters = cluster.masters().unwrap();
    assert_eq!(masters.len(), 3, "{masters:?}");
    for n in cluster.nodes() {
        assert_eq!(n.id().len(), 40);
        assert!(n.dir().join("nodes.conf").is_file());
    }

    // The key lives on the master CLUSTER SLOTS names; the others redirect.
    let key = "{robot/pose}";
    let slot = cluster.slot_of(key).unwrap();
    let m = cluster.master_of_key(key).unwrap();
    assert_eq!(cluster.master_of_slot(slot).unwrap(), m);
    let mut node = cluster.nodes()[m].url();
    set(&mut node, key, "v1");
    assert_eq!(node, cluster.nodes()[m].url(), "no redirection");
    let other = *masters.iter().find(|&&o| o != m).unwrap();
    let moved = get(&cluster.nodes()[other].url(), key).unwrap_err();
    assert_eq!(moved.code(), Some("MOVED"));
    // redis-cli -c follows the redirection from any node.
    let out = Command::new("redis-cli")
        .args([
            "-c",
            "-p",
            &cluster.nodes()[other].port().to_string(),
            "GET",
            key,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v1");

    // Move the slot while a client keeps writing keys of it.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut node = node.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) || n < 200 {
                set(&mut node, &format!("{{robot/pose}}:{n}"), &n.to_string());
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let keys_moved = cluster.migrate_slot(slot, other).unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    eprintln!("migrated slot {slot} with {keys_moved} keys; {written} keys written meanwhile");
    assert!(keys_moved >= 1, "at least the first key moved");
    assert_eq!(cluster.master_of_key(key).unwrap(), other);
    let target = cluster.nodes()[other].url();
    assert_eq!(get(&target, key).unwrap().as_deref(), Some("v1"));
    for n in 0..written {
        let v = get(&target, &format!("{{robot/pose}}:{n}")).unwrap();
        assert_eq!(v, Some(n.to_string()), "key {n} of {written}");
    }
    let old = get(&cluster.nodes()[m].url(), key).unwrap_err();
    assert_eq!(old.code(), Some("MOVED"), "the old master redirects");
    assert_eq!(
        cluster.migrate_slot(slot, other).unwrap(),
        0,
        "already there"
    );
    cluster.wait_until_ok(Duration::from_secs(10)).unwrap();

    // Kill the master of the key: its replica takes over, with the data.
    let replicated: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query(&mut con(&target))
        .unwrap();
    assert_eq!(replicated, 1, "the replica has the keys");
    let t = Instant::now();
    cluster.kill_node(other);
    assert!(cluster.nodes()[other].is_killed());
    assert_eq!(cluster.urls().len(), 5);
    cluster.wait_until_ok(Duration::from_secs(60)).unwrap();
    eprintln!("failover took {:?}", t.elapsed());
    let new = cluster.master_of_key(key).unwrap();
    assert_ne!(new, other);
    assert_eq!(
        get(&cluster.nodes()[new].url(), key).unwrap().as_deref(),
        Some("v1")
    );
}

#[test]
fn a_cluster_needs_three_masters() {
    let err = RedisCluster::builder().masters(2).start().unwrap_err();
    assert!(err.to_string().contains("at least 3 masters"), "{err}");
}
