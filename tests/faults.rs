//! Dead and stuck servers, and credentials: a call fails within its timeout with a clear
//! error, and the same interface works again once the server is back.

mod common;

use std::time::{Duration, Instant};

use common::Harness;
use reem::Fields;
use reem::{Error, KeyValueStore, RedisInterface, ReemMarshal};
use reem_server::RedisServer;

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

const P: Pose2 = Pose2 {
    x: 1.0,
    y: 2.0,
    theta: 3.0,
};

fn quick(url: &str) -> KeyValueStore {
    let iface = RedisInterface::builder(url)
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Some(Duration::from_millis(300)))
        .connect()
        .unwrap();
    KeyValueStore::new(&iface)
}

#[test]
fn paused_server_gives_an_error_within_the_timeout_then_works_again() {
    let h = Harness::start();
    let kv = quick(&h.server.url());
    kv.set("p", &P).unwrap();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .exec(&mut h.raw())
        .unwrap();
    let t = Instant::now();
    let err = kv.get::<Pose2>("p").unwrap_err();
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "took {:?}",
        t.elapsed()
    );
    assert!(err.is_timeout(), "{err:?}");
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(
        kv.get::<Pose2>("p").unwrap(),
        P,
        "the same interface works after the pause"
    );
}

#[test]
fn sleeping_server_gives_an_error_within_the_timeout() {
    let server = RedisServer::builder()
        .args(["--enable-debug-command", "yes"])
        .start()
        .unwrap();
    let kv = quick(&server.url());
    kv.set("p", &P).unwrap();
    let url = server.url();
    let sleeper = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(1)
            .exec(&mut c)
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert!(kv.get::<Pose2>("p").is_err());
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "took {:?}",
        t.elapsed()
    );
    sleeper.join().unwrap();
    assert_eq!(kv.get::<Pose2>("p").unwrap(), P);
}

#[test]
fn dead_server_is_an_error_and_a_restart_needs_no_new_interface() {
    let mut server = RedisServer::start().unwrap();
    let kv = quick(&server.url());
    kv.set("p", &P).unwrap();
    server.kill();
    let t = Instant::now();
    let err = kv.get::<Pose2>("p").unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert!(err.is_connection(), "{err:?}");
    server.restart().unwrap();
    // Persistence is off: the server comes back empty, but the interface reconnects.
    assert!(kv.get::<Pose2>("p").unwrap_err().is_not_found());
    kv.set("p", &P).unwrap();
    assert_eq!(kv.get::<Pose2>("p").unwrap(), P);
}

/// Creates a user `robot` allowed reem's commands on keys `robot/*`, without `publish`.
fn acl_user(h: &Harness) {
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("robot")
        .arg("on")
        .arg(">s3cret")
        .arg("~robot/*")
        .arg("resetchannels")
        .arg("&robot/*")
        .arg("-@all")
        .arg("+@connection")
        .arg("+hset")
        .arg("+hget")
        .arg("+hmget")
        .arg("+hgetall")
        .arg("+hkeys")
        .arg("+hstrlen")
        .arg("+hdel")
        .arg("+unlink")
        .arg("+del")
        .arg("+exists")
        .arg("+multi")
        .arg("+exec")
        .arg("+discard")
        .arg("+eval")
        .exec(&mut h.raw())
        .unwrap();
}

#[test]
fn acl_user_works_within_its_keys() {
    let h = Harness::start();
    acl_user(&h);
    let port = h.server.port();
    let kv = KeyValueStore::new(
        &RedisInterface::new(&format!("redis://robot:s3cret@127.0.0.1:{port}")).unwrap(),
    );
    kv.set("robot/pose", &P).unwrap();
    assert_eq!(kv.get::<Pose2>("robot/pose").unwrap(), P);
    assert_eq!(
        kv.get_field("robot/pose", &Pose2::fields().x()).unwrap(),
        1.0
    );
    kv.set_field("robot/pose", &Pose2::fields().y(), &5.0)
        .unwrap();
    let err = kv.set("other/pose", &P).unwrap_err();
    assert!(
        err.to_string().contains("NOPERM") || err.to_string().to_lowercase().contains("permission"),
        "{err}"
    );
}

#[test]
fn wrong_password_is_a_clear_error() {
    let h = Harness::start();
    acl_user(&h);
    let port = h.server.port();
    let err = RedisInterface::new(&format!("redis://robot:wrong@127.0.0.1:{port}")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("WRONGPASS") || text.to_lowercase().contains("auth"),
        "{text}"
    );
    assert!(
        !text.contains("wrong@"),
        "the password is not echoed: {text}"
    );
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Blob {
    id: u32,
    data: Vec<u8>,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Names {
    names: Vec<String>,
}

#[test]
fn message_over_the_read_limit_is_refused() {
    let h = Harness::start();
    let small = RedisInterface::builder(&h.server.url())
        .max_message_size(4096)
        .connect()
        .unwrap();
    let kv = KeyValueStore::new(&small);
    h.kv.set(
        "blob",
        &Blob {
            id: 7,
            data: vec![1; 10_000],
        },
    )
    .unwrap();
    let err = kv.get::<Blob>("blob").unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size, limit: 4096, .. } if size > 10_000),
        "{err:?}"
    );
    let err = kv.get_field("blob", &Blob::fields().data()).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size, .. } if size >= 10_000),
        "{err:?}"
    );
    // A list field is read by a script, which refuses it on the server before sending it.
    h.kv.set(
        "names",
        &Names {
            names: vec!["x".repeat(3000); 3],
        },
    )
    .unwrap();
    let err = kv.get_field("names", &Names::fields().names()).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size: 9001, .. }),
        "the server counted the values: {err:?}"
    );
    assert_eq!(
        kv.get_field("blob", &Blob::fields().id()).unwrap(),
        7,
        "small fields still read"
    );
    assert_eq!(
        h.kv.get::<Blob>("blob").unwrap().data.len(),
        10_000,
        "the default limit is generous"
    );
}

#[test]
fn after_a_restart_the_first_call_works_even_with_many_pooled_connections() {
    let mut server = RedisServer::start().unwrap();
    let kv = quick(&server.url());
    // Fill the pool with several idle connections.
    std::thread::scope(|s| {
        for i in 0..6 {
            let kv = &kv;
            s.spawn(move || {
                for _ in 0..20 {
                    kv.set(&format!("p{i}"), &P).unwrap();
                }
            });
        }
    });
    server.kill();
    server.restart().unwrap();
    kv.set("p", &P)
        .expect("the first call after the restart succeeds");
    assert_eq!(kv.get::<Pose2>("p").unwrap(), P);
}

#[test]
fn acl_user_without_publish_gets_a_clear_error_not_a_hang() {
    let h = Harness::start();
    acl_user(&h); // reem's key-value commands, but no PUBLISH
    let port = h.server.port();
    let iface = RedisInterface::new(&format!("redis://robot:s3cret@127.0.0.1:{port}")).unwrap();
    let t = Instant::now();
    let err = reem::PublishSpace::new(&iface)
        .publish("robot/pose", &P)
        .unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains("noperm") && text.contains("publish"),
        "{text}"
    );
    assert!(
        h.kv.get::<Pose2>("robot/pose").unwrap_err().is_not_found(),
        "nothing was stored"
    );
}

#[test]
fn acl_user_with_the_pubsub_commands_publishes_and_subscribes() {
    let h = Harness::start();
    acl_user(&h);
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("robot")
        .arg("+publish")
        .arg("+subscribe")
        .arg("+unsubscribe")
        .exec(&mut h.raw())
        .unwrap();
    let port = h.server.port();
    let iface = RedisInterface::new(&format!("redis://robot:s3cret@127.0.0.1:{port}")).unwrap();
    let pubs = reem::PublishSpace::new(&iface);
    pubs.publish("robot/pose", &P).unwrap();
    let mut sub = reem::RawSubscriber::<Pose2>::new(&iface, "robot/pose").unwrap();
    sub.listen().unwrap();
    assert_eq!(sub.value(), Some(P), "the stored latest value");
    let next = Pose2 { x: 9.0, ..P };
    let deadline = Instant::now() + Duration::from_secs(5);
    while sub.value() != Some(next.clone()) {
        assert!(
            Instant::now() < deadline,
            "the subscriber connection authenticated and subscribed: {:?}",
            sub.status()
        );
        pubs.publish("robot/pose", &next).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = sub.status();
    assert_eq!(
        status.reconnects, 0,
        "no failing connection behind the scenes: {status:?}"
    );
    assert_eq!(status.last_error, None);
}

/// Fault: a user without `+multi` made `kv.set` panic inside the redis crate ("attempt to
/// subtract with overflow"), and the transaction's commands would have run one by one. reem
/// finds out on connecting and refuses to write, sending nothing.
#[test]
fn a_user_without_multi_gets_a_refusal_and_nothing_is_written() {
    let h = Harness::start();
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("nomulti")
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("+@all")
        .arg("-multi")
        .exec(&mut h.raw())
        .unwrap();
    let port = h.server.port();
    let kv = KeyValueStore::new(
        &RedisInterface::new(&format!("redis://nomulti:pw@127.0.0.1:{port}")).unwrap(),
    );
    h.kv.set("robot/pose", &P).unwrap();
    let err = kv.set("robot/pose", &Pose2 { x: 9.0, ..P }).unwrap_err();
    assert!(
        matches!(&err, Error::Refused { code, .. } if code == "NOPERM"),
        "{err:?}"
    );
    assert!(err.to_string().contains("MULTI"), "{err}");
    assert_eq!(
        h.kv.get::<Pose2>("robot/pose").unwrap(),
        P,
        "nothing written"
    );
    assert_eq!(
        kv.get::<Pose2>("robot/pose").unwrap(),
        P,
        "reads still work"
    );
}
