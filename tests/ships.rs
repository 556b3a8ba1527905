//! Registered marshallers ("ships"): `check_fit` picks one for a value, the stored label
//! picks one for decoding, as in the seed.

mod common;

use common::Harness;
use reem::marshal::Commands;
use reem::{ship, Error, KeyValueStore, RedisInterface, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Twist {
    v: f64,
    w: f64,
}

fn store(h: &Harness) -> KeyValueStore {
    let iface = RedisInterface::builder(&h.server.url())
        .ship(ship::<Pose2>())
        .ship(ship::<Twist>())
        .connect()
        .unwrap();
    KeyValueStore::new(&iface)
}

#[test]
fn check_fit_picks_the_ship_and_the_label_picks_it_back() {
    let h = Harness::start();
    let kv = store(&h);
    let pose = Pose2 {
        x: 1.0,
        y: 2.0,
        theta: 3.0,
    };
    kv.set_dyn("a", &pose).unwrap();
    kv.set_dyn("b", &Twist { v: 0.5, w: 0.1 }).unwrap();
    assert_eq!(*kv.get_dyn("a").unwrap().downcast::<Pose2>().unwrap(), pose);
    assert!(kv.get_dyn("b").unwrap().is::<Twist>());
    // What the ships store is what the typed store reads.
    assert_eq!(h.kv.get::<Pose2>("a").unwrap(), pose);
}

#[test]
fn a_key_that_changed_type_is_read_with_its_new_ship() {
    let h = Harness::start();
    let kv = store(&h);
    kv.set_dyn(
        "k",
        &Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
    )
    .unwrap();
    assert!(kv.get_dyn("k").unwrap().is::<Pose2>());
    // Another program replaces the message behind this store's back.
    h.kv.set("k", &Twist { v: 1.0, w: 2.0 }).unwrap();
    assert_eq!(
        *kv.get_dyn("k").unwrap().downcast::<Twist>().unwrap(),
        Twist { v: 1.0, w: 2.0 }
    );
}

#[test]
fn value_without_a_ship_is_refused() {
    let h = Harness::start();
    let kv = store(&h);
    let err = kv.set_dyn("k", &42u32).unwrap_err();
    assert!(matches!(err, Error::NoMarshaller { .. }), "{err}");
}

#[test]
fn stored_label_without_a_ship_is_refused() {
    let h = Harness::start();
    let kv = store(&h);
    h.kv.set("k", &7u8).unwrap();
    let err = kv.get_dyn("k").unwrap_err();
    assert!(
        matches!(err, Error::NoMarshaller { ref what, .. } if what.contains("u8")),
        "{err}"
    );
    assert!(kv.get_dyn("missing").unwrap_err().is_not_found());
}

#[test]
fn typed_marshaller_queues_exactly_one_read_command() {
    let mut out = Commands::new();
    <Pose2 as ReemMarshal>::read("k", &mut out);
    assert_eq!(out.len(), 1);
    assert!(out.last().unwrap().is("HGETALL"));
    let pose = Pose2 {
        x: 0.0,
        y: 0.0,
        theta: 0.0,
    };
    let mut out = Commands::new();
    pose.write("k", &mut out).unwrap();
    let names: Vec<&[u8]> = out.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [&b"UNLINK"[..], b"HSET"],
        "a write first removes the old message"
    );
    assert!(<Pose2 as ReemMarshal>::check_fit(&Pose2 {
        x: 0.0,
        y: 0.0,
        theta: 0.0
    }));
    assert!(!<Pose2 as ReemMarshal>::check_fit(&1.0f64));
    assert_eq!(<Pose2 as ReemMarshal>::get_label(), "Pose2");
}
