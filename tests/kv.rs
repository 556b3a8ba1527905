//! The key-value store: typed round trips, one-hash layout, field access, overwrites.

mod common;

use common::Harness;
use reem::{Error, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[test]
fn pose_round_trips_and_is_readable_field_by_field() {
    let h = Harness::start();
    let p = Pose2 {
        x: 1.5,
        y: -2.25,
        theta: 0.1,
    };
    h.kv.set("robot/pose", &p).unwrap();
    assert_eq!(h.kv.get::<Pose2>("robot/pose").unwrap(), p);
    assert_eq!(h.hget("robot/pose", "x").unwrap(), b"1.5");
    assert_eq!(h.hget("robot/pose", "theta").unwrap(), b"0.1");
    assert_eq!(
        h.hkeys("robot/pose"),
        ["@fp", "@label", "@schema", "theta", "x", "y"]
    );
    let x: f64 = h.kv.get_field("robot/pose", &Pose2::fields().x()).unwrap();
    assert_eq!(x, 1.5);
}

#[test]
fn missing_key_is_not_found() {
    let h = Harness::start();
    let err = h.kv.get::<Pose2>("nothing/here").unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref key } if key == "nothing/here"),
        "{err}"
    );
    assert!(err.is_not_found());
}
