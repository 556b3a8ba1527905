//! The key-value store: typed round trips, the one-hash layout seen through raw `redis`,
//! field access, overwrites and schema evolution.

mod common;

use std::collections::BTreeMap;

use common::faces::Kv;
use common::{on_both, Harness};
use reem::Fields as _;
use reem::{Error, FieldHandle, Json, ReemMarshal};
use serde::{Deserialize, Serialize};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, Copy, PartialEq, Default)]
enum Mode {
    #[default]
    Idle,
    Driving,
    #[reem(rename = "e-stop")]
    EmergencyStop,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
struct Calibration {
    gains: Vec<f64>,
    name: String,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.Status")]
struct Status {
    stamp: f64,
    seq: u64,
    frame_id: String,
    base: Pose2,
    mode: Mode,
    #[reem(rename = "batt")]
    battery: Option<f32>,
    waypoints: Vec<Pose2>,
    tags: Vec<String>,
    ranges: Vec<f32>,
    #[reem(json)]
    calibration: Calibration,
    #[reem(skip)]
    scratch: Vec<u8>,
}

fn status() -> Status {
    Status {
        stamp: 1712.25,
        seq: 42,
        frame_id: "map".into(),
        base: Pose2 {
            x: 1.0,
            y: 2.0,
            theta: -0.5,
        },
        mode: Mode::EmergencyStop,
        battery: Some(0.75),
        waypoints: vec![
            Pose2 {
                x: 3.0,
                y: 4.0,
                theta: 0.0,
            },
            Pose2 {
                x: 5.0,
                y: 6.0,
                theta: 1.0,
            },
        ],
        tags: vec!["front".into(), "".into(), "ünïcödé".into()],
        ranges: vec![0.5, 1.5, f32::INFINITY],
        calibration: Calibration {
            gains: vec![0.1, 0.2],
            name: "cam0".into(),
        },
        scratch: vec![],
    }
}

faces!(pose_round_trips_and_is_readable_field_by_field);
fn pose_round_trips_and_is_readable_field_by_field<K: Kv>(h: &Harness, kv: &K) {
    let p = Pose2 {
        x: 1.5,
        y: -2.25,
        theta: 0.1,
    };
    kv.set("robot/pose", &p).unwrap();
    assert_eq!(kv.get::<Pose2>("robot/pose").unwrap(), p);
    assert_eq!(h.hget("robot/pose", "x").unwrap(), b"1.5");
    assert_eq!(h.hget("robot/pose", "theta").unwrap(), b"0.1");
    assert_eq!(
        h.hkeys("robot/pose"),
        ["@fp", "@label", "@schema", "theta", "x", "y"]
    );
    assert_eq!(h.hget("robot/pose", "@label").unwrap(), b"Pose2");
}

faces!(rich_struct_round_trips);
fn rich_struct_round_trips<K: Kv>(_: &Harness, kv: &K) {
    let s = status();
    kv.set("robot/status", &s).unwrap();
    assert_eq!(kv.get::<Status>("robot/status").unwrap(), s);
}

faces!(nested_structs_flatten_into_dotted_names);
fn nested_structs_flatten_into_dotted_names<K: Kv>(h: &Harness, kv: &K) {
    kv.set("s", &status()).unwrap();
    assert_eq!(h.hget("s", "base.x").unwrap(), b"1.0");
    assert_eq!(h.hget("s", "base.theta").unwrap(), b"-0.5");
    assert_eq!(h.hget("s", "waypoints.len").unwrap(), b"2");
    assert_eq!(h.hget("s", "waypoints.1.y").unwrap(), b"6.0");
    assert_eq!(h.hget("s", "tags.2").unwrap(), "ünïcödé".as_bytes());
    assert_eq!(h.hget("s", "mode").unwrap(), b"e-stop");
    assert_eq!(h.hget("s", "batt").unwrap(), b"0.75");
    assert_eq!(
        h.hget("s", "calibration").unwrap(),
        br#"{"gains":[0.1,0.2],"name":"cam0"}"#
    );
    assert_eq!(
        h.hget("s", "scratch"),
        None,
        "skipped fields are not stored"
    );
    assert_eq!(h.hget("s", "@label").unwrap(), b"robot.Status");
}

faces!(numeric_vec_is_a_numpy_style_array);
fn numeric_vec_is_a_numpy_style_array<K: Kv>(h: &Harness, kv: &K) {
    kv.set("s", &status()).unwrap();
    assert_eq!(h.hget("s", "ranges.dtype").unwrap(), b"float32");
    assert_eq!(h.hget("s", "ranges.shape").unwrap(), b"(3,)");
    assert_eq!(h.hget("s", "ranges.strides").unwrap(), b"(4,)");
    let bytes: Vec<u8> = [0.5f32, 1.5, f32::INFINITY]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    assert_eq!(h.hget("s", "ranges.arr").unwrap(), bytes);
}

faces!(overwrite_leaves_no_stale_field);
fn overwrite_leaves_no_stale_field<K: Kv>(h: &Harness, kv: &K) {
    let mut s = status();
    kv.set("s", &s).unwrap();
    s.battery = None;
    s.waypoints.truncate(1);
    kv.set("s", &s).unwrap();
    assert_eq!(h.hget("s", "batt"), None);
    assert_eq!(h.hget("s", "waypoints.1.x"), None);
    assert_eq!(kv.get::<Status>("s").unwrap(), s);
}

faces!(hincrby_on_a_stored_integer_is_read_back);
fn hincrby_on_a_stored_integer_is_read_back<K: Kv>(h: &Harness, kv: &K) {
    kv.set("s", &status()).unwrap();
    let n: i64 = redis::cmd("HINCRBY")
        .arg("s")
        .arg("seq")
        .arg(8)
        .query(&mut h.raw())
        .unwrap();
    assert_eq!(n, 50);
    let _: f64 = redis::cmd("HINCRBYFLOAT")
        .arg("s")
        .arg("base.x")
        .arg(0.5)
        .query(&mut h.raw())
        .unwrap();
    let back = kv.get::<Status>("s").unwrap();
    assert_eq!(back.seq, 50);
    assert_eq!(back.base.x, 1.5);
}

faces!(get_field_reads_one_scalar_and_one_nested_struct);
fn get_field_reads_one_scalar_and_one_nested_struct<K: Kv>(_: &Harness, kv: &K) {
    kv.set("s", &status()).unwrap();
    let seq: u64 = kv.get_field("s", &Status::fields().seq()).unwrap();
    assert_eq!(seq, 42);
    let base: Pose2 = kv.get_field("s", &Status::fields().base()).unwrap();
    assert_eq!(base, status().base);
    let theta = kv
        .get_field("s", &Status::fields().base().then(Pose2::fields().theta()))
        .unwrap();
    assert_eq!(theta, -0.5);
    let wps: Vec<Pose2> = kv.get_field("s", &Status::fields().waypoints()).unwrap();
    assert_eq!(wps, status().waypoints);
    let battery = kv.get_field("s", &Status::fields().battery()).unwrap();
    assert_eq!(battery, Some(0.75));
}

faces!(set_field_replaces_one_field_only);
fn set_field_replaces_one_field_only<K: Kv>(h: &Harness, kv: &K) {
    let mut s = status();
    kv.set("s", &s).unwrap();
    let new_base = Pose2 {
        x: 9.0,
        y: 8.0,
        theta: 7.0,
    };
    kv.set_field("s", &Status::fields().base(), &new_base)
        .unwrap();
    kv.set_field("s", &Status::fields().battery(), &None)
        .unwrap();
    kv.set_field("s", &Status::fields().tags(), &vec!["only".to_owned()])
        .unwrap();
    s.base = new_base;
    s.battery = None;
    s.tags = vec!["only".into()];
    assert_eq!(kv.get::<Status>("s").unwrap(), s);
    assert_eq!(h.hget("s", "tags.1"), None, "old list elements are removed");
    assert_eq!(h.hget("s", "batt"), None);
}

faces!(set_field_refuses_another_message_type);
fn set_field_refuses_another_message_type<K: Kv>(_: &Harness, kv: &K) {
    kv.set(
        "p",
        &Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
    )
    .unwrap();
    let err = kv.set_field("p", &Status::fields().seq(), &1).unwrap_err();
    assert!(err.is_schema_mismatch(), "{err}");
    assert_eq!(kv.get::<Pose2>("p").unwrap().x, 1.0);
    let missing = kv
        .set_field("nope", &Status::fields().seq(), &1)
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

faces!(get_field_of_missing_key_is_not_found);
fn get_field_of_missing_key_is_not_found<K: Kv>(_: &Harness, kv: &K) {
    let err = kv.get_field("nope", &Pose2::fields().x()).unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

faces!(untyped_path_handle_reads_a_field);
fn untyped_path_handle_reads_a_field<K: Kv>(_: &Harness, kv: &K) {
    kv.set("s", &status()).unwrap();
    let h2: FieldHandle<Status, f64> = FieldHandle::new("waypoints.1.x");
    assert_eq!(kv.get_field("s", &h2).unwrap(), 5.0);
}

faces!(missing_key_is_not_found);
fn missing_key_is_not_found<K: Kv>(_: &Harness, kv: &K) {
    let err = kv.get::<Pose2>("nothing/here").unwrap_err();
    assert!(
        matches!(err, Error::NotFound { ref key } if key == "nothing/here"),
        "{err}"
    );
    assert!(err.is_not_found());
}

faces!(delete_removes_the_message);
fn delete_removes_the_message<K: Kv>(_: &Harness, kv: &K) {
    kv.set(
        "p",
        &Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
    )
    .unwrap();
    assert!(kv.exists("p").unwrap());
    assert!(kv.delete("p").unwrap());
    assert!(!kv.delete("p").unwrap());
    assert!(kv.get::<Pose2>("p").unwrap_err().is_not_found());
}

#[test]
fn unix_socket_urls_work() {
    let h = Harness::start();
    let iface = reem::RedisInterface::new(&h.server.unix_url()).unwrap();
    let kv = reem::KeyValueStore::new(&iface);
    kv.set(
        "p",
        &Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
    )
    .unwrap();
    assert_eq!(h.kv.get::<Pose2>("p").unwrap().theta, 3.0);
}

on_both!(interface_is_shared_across_threads);
fn interface_is_shared_across_threads(h: Harness) {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let kv = reem::KeyValueStore::new(&h.iface);
            std::thread::spawn(move || {
                for j in 0..50 {
                    let p = Pose2 {
                        x: i as f64,
                        y: j as f64,
                        theta: 0.0,
                    };
                    kv.set(&format!("t/{i}"), &p).unwrap();
                    assert_eq!(kv.get::<Pose2>(&format!("t/{i}")).unwrap(), p);
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = reem::RedisInterface::new(&format!("redis://127.0.0.1:{port}")).unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(
        err.to_string().contains(&port.to_string()),
        "names the address: {err}"
    );
    let bad = reem::RedisInterface::new("http://nowhere").unwrap_err();
    assert!(matches!(bad, Error::InvalidUrl { .. }), "{bad}");
}

// ---- every supported type, edge values ----

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Scalars {
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: u128,
    f: usize,
    g: i8,
    h: i16,
    i: i32,
    j: i64,
    k: i128,
    l: isize,
    m: f32,
    n: f64,
    o: bool,
    p: char,
    q: String,
}

fn extremes(max: bool) -> Scalars {
    if max {
        Scalars {
            a: u8::MAX,
            b: u16::MAX,
            c: u32::MAX,
            d: u64::MAX,
            e: u128::MAX,
            f: usize::MAX,
            g: i8::MAX,
            h: i16::MAX,
            i: i32::MAX,
            j: i64::MAX,
            k: i128::MAX,
            l: isize::MAX,
            m: f32::MAX,
            n: f64::MAX,
            o: true,
            p: '🦀',
            q: "line\nbreak\0nul \"quotes\" ✓".into(),
        }
    } else {
        Scalars {
            a: 0,
            b: 0,
            c: 0,
            d: 0,
            e: 0,
            f: 0,
            g: i8::MIN,
            h: i16::MIN,
            i: i32::MIN,
            j: i64::MIN,
            k: i128::MIN,
            l: isize::MIN,
            m: f32::MIN_POSITIVE,
            n: -f64::MIN_POSITIVE / 4.0,
            o: false,
            p: '\0',
            q: String::new(),
        }
    }
}

faces!(scalar_extremes_round_trip);
fn scalar_extremes_round_trip<K: Kv>(h: &Harness, kv: &K) {
    for max in [true, false] {
        let v = extremes(max);
        kv.set("x", &v).unwrap();
        assert_eq!(kv.get::<Scalars>("x").unwrap(), v);
    }
    assert_eq!(h.hget("x", "k").unwrap(), i128::MIN.to_string().as_bytes());
}

faces!(floats_round_trip_bit_exactly_including_non_finite);
fn floats_round_trip_bit_exactly_including_non_finite<K: Kv>(h: &Harness, kv: &K) {
    let values = [
        0.0,
        -0.0,
        0.1,
        1.0 / 3.0,
        f64::EPSILON,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        123_456_789.123_456_79,
    ];
    for v in values {
        kv.set("f", &v).unwrap();
        let back: f64 = kv.get("f").unwrap();
        assert_eq!(back.to_bits(), v.to_bits(), "{v:e}");
    }
    kv.set("f", &f64::NAN).unwrap();
    assert_eq!(h.hget("f", "value").unwrap(), b"nan");
    assert!(kv.get::<f64>("f").unwrap().is_nan());
    kv.set("f", &f64::NEG_INFINITY).unwrap();
    assert_eq!(h.hget("f", "value").unwrap(), b"-inf");
    for v in [0.1f32, f32::MAX, f32::MIN_POSITIVE, 1e-45, f32::INFINITY] {
        kv.set("f", &v).unwrap();
        assert_eq!(kv.get::<f32>("f").unwrap().to_bits(), v.to_bits());
    }
}

faces!(top_level_scalars_strings_and_lists);
fn top_level_scalars_strings_and_lists<K: Kv>(h: &Harness, kv: &K) {
    kv.set("n", &-7i32).unwrap();
    assert_eq!(h.hget("n", "value").unwrap(), b"-7");
    assert_eq!(kv.get::<i32>("n").unwrap(), -7);
    kv.set("s", &"hello".to_owned()).unwrap();
    assert_eq!(kv.get::<String>("s").unwrap(), "hello");
    let names = vec!["a".to_owned(), "b".to_owned()];
    kv.set("l", &names).unwrap();
    assert_eq!(h.hget("l", "len").unwrap(), b"2");
    assert_eq!(h.hget("l", "1").unwrap(), b"b");
    assert_eq!(kv.get::<Vec<String>>("l").unwrap(), names);
    kv.set("b", &vec![1u8, 2, 255]).unwrap();
    assert_eq!(h.hget("b", "arr").unwrap(), [1, 2, 255]);
    assert_eq!(kv.get::<Vec<u8>>("b").unwrap(), vec![1, 2, 255]);
    kv.set("o", &Some(3u8)).unwrap();
    assert_eq!(kv.get::<Option<u8>>("o").unwrap(), Some(3));
    kv.set("o", &None::<u8>).unwrap();
    assert_eq!(kv.get::<Option<u8>>("o").unwrap(), None);
    kv.set("e", &Mode::Driving).unwrap();
    assert_eq!(kv.get::<Mode>("e").unwrap(), Mode::Driving);
}

faces!(empty_and_nested_lists_round_trip);
fn empty_and_nested_lists_round_trip<K: Kv>(h: &Harness, kv: &K) {
    let empty: Vec<f64> = vec![];
    kv.set("e", &empty).unwrap();
    assert_eq!(h.hget("e", "shape").unwrap(), b"(0,)");
    assert_eq!(kv.get::<Vec<f64>>("e").unwrap(), empty);
    let nested = vec![vec![1i64, 2], vec![], vec![3]];
    kv.set("n", &nested).unwrap();
    assert_eq!(kv.get::<Vec<Vec<i64>>>("n").unwrap(), nested);
    let bools = vec![true, false, true];
    kv.set("b", &bools).unwrap();
    assert_eq!(h.hget("b", "dtype").unwrap(), b"bool");
    assert_eq!(kv.get::<Vec<bool>>("b").unwrap(), bools);
    let opts = vec![Some(1.0f64), None, Some(3.0)];
    kv.set("o", &opts).unwrap();
    assert_eq!(kv.get::<Vec<Option<f64>>>("o").unwrap(), opts);
    let fixed = [1u16, 2, 3];
    kv.set("a", &fixed).unwrap();
    assert_eq!(kv.get::<[u16; 3]>("a").unwrap(), fixed);
    assert!(
        kv.get::<[u16; 4]>("a").is_err(),
        "a fixed-size list of the wrong length is an error"
    );
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Stamped<T> {
    stamp: f64,
    data: T,
}

faces!(generic_structs_work_and_label_their_parameters);
fn generic_structs_work_and_label_their_parameters<K: Kv>(h: &Harness, kv: &K) {
    let v = Stamped {
        stamp: 2.0,
        data: Pose2 {
            x: 1.0,
            y: 1.0,
            theta: 1.0,
        },
    };
    kv.set("g", &v).unwrap();
    assert_eq!(kv.get::<Stamped<Pose2>>("g").unwrap(), v);
    assert_eq!(h.hget("g", "@label").unwrap(), b"Stamped<Pose2>");
    assert_eq!(h.hget("g", "data.x").unwrap(), b"1.0");
    let err = kv.get::<Stamped<f64>>("g").unwrap_err();
    assert!(err.is_schema_mismatch(), "{err}");
    let scalar = Stamped {
        stamp: 1.0,
        data: 5u32,
    };
    kv.set("g2", &scalar).unwrap();
    assert_eq!(h.hget("g2", "data").unwrap(), b"5");
    assert_eq!(kv.get::<Stamped<u32>>("g2").unwrap(), scalar);
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct WithJson {
    params: Json<BTreeMap<String, f64>>,
    #[reem(default)]
    note: String,
}

faces!(json_wrapper_and_default_fields);
fn json_wrapper_and_default_fields<K: Kv>(h: &Harness, kv: &K) {
    let v = WithJson {
        params: Json(BTreeMap::from([("k".into(), 1.5)])),
        note: "n".into(),
    };
    kv.set("j", &v).unwrap();
    assert_eq!(h.hget("j", "params").unwrap(), br#"{"k":1.5}"#);
    assert_eq!(kv.get::<WithJson>("j").unwrap(), v);
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Empty;

faces!(unit_struct_is_an_empty_message);
fn unit_struct_is_an_empty_message<K: Kv>(h: &Harness, kv: &K) {
    kv.set("u", &Empty).unwrap();
    assert_eq!(kv.get::<Empty>("u").unwrap(), Empty);
    assert_eq!(h.hkeys("u"), ["@fp", "@label", "@schema"]);
}

faces!(hash_written_by_another_program_is_decoded_field_by_field);
fn hash_written_by_another_program_is_decoded_field_by_field<K: Kv>(h: &Harness, kv: &K) {
    h.write_raw("py", &[("x", b"1"), ("y", b"2.5"), ("theta", b"-1e-3")]);
    assert_eq!(
        kv.get::<Pose2>("py").unwrap(),
        Pose2 {
            x: 1.0,
            y: 2.5,
            theta: -1e-3
        }
    );
}

/// A user type named like the derive's helper names must not clash with them.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Fields {
    fields: u8,
}

faces!(a_struct_named_fields_works);
fn a_struct_named_fields_works<K: Kv>(_: &Harness, kv: &K) {
    kv.set("f", &Fields { fields: 3 }).unwrap();
    assert_eq!(kv.get_field("f", &Fields::fields().fields()).unwrap(), 3);
}

/// A user type with its own `fields()` method: the handles come through `reem::Fields`.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Odometry {
    distance: f64,
}

impl Odometry {
    fn fields(&self) -> usize {
        1
    }
}

faces!(a_user_method_named_fields_does_not_clash_with_the_handles);
fn a_user_method_named_fields_does_not_clash_with_the_handles<K: Kv>(_: &Harness, kv: &K) {
    let odo = Odometry { distance: 2.5 };
    assert_eq!(odo.fields(), 1);
    kv.set("odo", &odo).unwrap();
    let handle = <Odometry as reem::Fields>::fields().distance();
    assert_eq!(kv.get_field("odo", &handle).unwrap(), 2.5);
}
