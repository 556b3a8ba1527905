//! Messages written without a Rust type (`reem::dynamic`, what the Python package writes):
//! a schema inferred from the value, or the one stored at the key; read back by the derived
//! Rust type, or refused with the same errors.

mod common;

use common::Harness;
use ndarray::{array, Array1, Array2};
use reem::dynamic::{read_schema, ArrayBody, DynArray, DynMessage, DynValue};
use reem::marshal::HashView;
use reem::{Error, PublishSpace, RawSubscriber, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Status")]
struct Status {
    stamp: f64,
    seq: u64,
    frame_id: String,
    ok: bool,
    base: Pose2,
    battery: Option<f32>,
    depth: Array2<f32>,
    tags: Vec<String>,
    path: Vec<Pose2>,
}

fn s(fields: Vec<(&str, DynValue)>) -> DynValue {
    DynValue::Struct(fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
}

fn pose(x: f64, y: f64, theta: f64) -> DynValue {
    s(vec![
        ("x", DynValue::F64(x)),
        ("y", DynValue::F64(y)),
        ("theta", DynValue::F64(theta)),
    ])
}

fn bytes_array<T: Copy>(
    dtype: &str,
    shape: &[usize],
    items: &[T],
    le: impl Fn(T) -> Vec<u8>,
) -> DynValue {
    DynValue::Array(DynArray {
        dtype: dtype.to_owned(),
        shape: shape.to_vec(),
        body: ArrayBody::Bytes(items.iter().flat_map(|&x| le(x)).collect()),
    })
}

fn status_value() -> DynValue {
    s(vec![
        ("stamp", DynValue::F64(1.25)),
        ("seq", DynValue::UInt(7)),
        ("frame_id", DynValue::String("map".into())),
        ("ok", DynValue::Bool(true)),
        ("base", pose(1.0, -2.5, 0.1)),
        ("battery", DynValue::F32(0.5)),
        (
            "depth",
            bytes_array("float32", &[2, 2], &[1.0f32, 2.0, 3.5, -4.0], |x| {
                x.to_le_bytes().to_vec()
            }),
        ),
        (
            "tags",
            DynValue::List(vec![
                DynValue::String("a".into()),
                DynValue::String("b".into()),
            ]),
        ),
        (
            "path",
            DynValue::List(vec![pose(0.0, 0.0, 0.0), pose(1.0, 1.0, 1.0)]),
        ),
    ])
}

fn status() -> Status {
    Status {
        stamp: 1.25,
        seq: 7,
        frame_id: "map".into(),
        ok: true,
        base: Pose2 {
            x: 1.0,
            y: -2.5,
            theta: 0.1,
        },
        battery: Some(0.5),
        depth: array![[1.0, 2.0], [3.5, -4.0]],
        tags: vec!["a".into(), "b".into()],
        path: vec![
            Pose2 {
                x: 0.0,
                y: 0.0,
                theta: 0.0,
            },
            Pose2 {
                x: 1.0,
                y: 1.0,
                theta: 1.0,
            },
        ],
    }
}

#[test]
fn an_inferred_message_is_read_by_the_derived_struct_of_the_same_label_and_fields() {
    let h = Harness::start();
    let msg = DynMessage::infer("dyn/pose", "Pose2", pose(1.5, -0.25, 0.785)).unwrap();
    // The same schema, byte for byte: the fingerprint is the derived type's.
    assert_eq!(msg.schema.json, Pose2::schema().unwrap().json);
    h.kv.set("dyn/pose", &msg).unwrap();
    assert_eq!(
        h.kv.get::<Pose2>("dyn/pose").unwrap(),
        Pose2 {
            x: 1.5,
            y: -0.25,
            theta: 0.785
        }
    );

    let msg = DynMessage::infer("dyn/status", "test.Status", status_value()).unwrap();
    h.kv.set("dyn/status", &msg).unwrap();
    assert_eq!(h.kv.get::<Status>("dyn/status").unwrap(), status());
}

#[test]
fn what_rust_writes_reads_back_dynamically_with_arrays_moved_out_of_the_reply() {
    let h = Harness::start();
    h.kv.set("rs/status", &status()).unwrap();
    let msg: DynMessage = h.kv.get("rs/status").unwrap();
    assert_eq!(msg.label, "test.Status");
    let Some(DynValue::Array(depth)) = msg.value.get("depth") else {
        panic!("{msg:?}")
    };
    assert_eq!(
        (depth.dtype.as_str(), depth.shape.as_slice()),
        ("float32", &[2, 2][..])
    );
    assert!(matches!(&depth.body, ArrayBody::Bytes(b) if b.len() == 16));
    assert_eq!(msg.value.get("path.1.theta"), Some(&DynValue::F64(1.0)));
    assert_eq!(msg.value.get("seq"), Some(&DynValue::UInt(7)));
    // Written again as it was read: the same message.
    h.kv.set("rs/again", &msg).unwrap();
    assert_eq!(h.kv.get::<Status>("rs/again").unwrap(), status());
}

#[test]
fn a_mismatch_is_the_same_schema_mismatch_as_in_rust() {
    let h = Harness::start();
    // seq as i64 (a Python int) where Status has u64.
    let mut v = status_value();
    if let DynValue::Struct(f) = &mut v {
        f[1].1 = DynValue::Int(7);
    }
    h.kv.set(
        "dyn/bad",
        &DynMessage::infer("k", "test.Status", v).unwrap(),
    )
    .unwrap();
    let err = h.kv.get::<Status>("dyn/bad").unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    assert!(err.to_string().contains("seq"), "{err}");
    // Another label.
    h.kv.set(
        "dyn/other",
        &DynMessage::infer("k", "Pose3", pose(1.0, 2.0, 3.0)).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        h.kv.get::<Pose2>("dyn/other").unwrap_err(),
        Error::SchemaMismatch { .. }
    ));
}

#[test]
fn top_level_values_are_stored_as_rust_stores_them() {
    let h = Harness::start();
    let v = bytes_array("float64", &[3], &[0.5f64, 1.5, -2.0], |x| {
        x.to_le_bytes().to_vec()
    });
    h.kv.set(
        "dyn/vec",
        &DynMessage::infer("k", "Vec<f64>", v.clone()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        h.kv.get::<Vec<f64>>("dyn/vec").unwrap(),
        vec![0.5, 1.5, -2.0]
    );
    let err = h.kv.get::<Array1<f64>>("dyn/vec").unwrap_err();
    assert!(err.to_string().contains("labels differ"), "{err}");
    let m = DynMessage::infer("k", "Array1<f64>", v).unwrap();
    h.kv.set("dyn/arr", &m).unwrap();
    assert_eq!(
        h.kv.get::<Array1<f64>>("dyn/arr").unwrap(),
        array![0.5, 1.5, -2.0]
    );
    h.kv.set(
        "dyn/f",
        &DynMessage::infer("k", "f64", DynValue::F64(0.1)).unwrap(),
    )
    .unwrap();
    assert_eq!(h.kv.get::<f64>("dyn/f").unwrap(), 0.1);
    let strings = DynValue::List(vec![DynValue::String("x".into())]);
    h.kv.set(
        "dyn/l",
        &DynMessage::infer("k", "Vec<string>", strings).unwrap(),
    )
    .unwrap();
    assert_eq!(
        h.kv.get::<Vec<String>>("dyn/l").unwrap(),
        vec!["x".to_owned()]
    );
}

#[test]
fn values_that_cannot_be_inferred_are_encode_errors() {
    let bad = [
        s(vec![("a.b", DynValue::Int(1))]),
        s(vec![("@label", DynValue::Int(1))]),
        s(vec![("", DynValue::Int(1))]),
        s(vec![("9x", DynValue::Int(1))]),
        s(vec![(
            "l",
            DynValue::List(vec![DynValue::Int(1), DynValue::String("x".into())]),
        )]),
        s(vec![("l", DynValue::List(vec![DynValue::Absent]))]),
        DynValue::Absent,
    ];
    for v in bad {
        let err = DynMessage::infer("k", "L", v.clone()).unwrap_err();
        assert!(matches!(err, Error::Encode { .. }), "{v:?}: {err}");
    }
    // An array whose bytes do not hold its shape is refused when written.
    let h = Harness::start();
    let v = bytes_array("float64", &[3], &[1u8, 2], |x| vec![x]);
    let err =
        h.kv.set("k", &DynMessage::infer("k", "A", v).unwrap())
            .unwrap_err();
    assert!(matches!(err, Error::Encode { .. }), "{err}");
    assert!(!h.kv.exists("k").unwrap());
}

#[test]
fn writing_against_the_stored_schema_checks_every_value() {
    let h = Harness::start();
    h.kv.set("st", &status()).unwrap();
    let reply = h.kv.get_hash("st").unwrap();
    let schema = read_schema("st", &HashView::from_hgetall("st", &reply).unwrap()).unwrap();
    // A Python int in the u64 field and an int in the f64 field fit; the message keeps its type.
    let mut v = status_value();
    if let DynValue::Struct(f) = &mut v {
        f[1].1 = DynValue::Int(8);
        f[0].1 = DynValue::Int(2);
    }
    h.kv.set("st", &DynMessage::conform("st", &schema, v).unwrap())
        .unwrap();
    let back = h.kv.get::<Status>("st").unwrap();
    assert_eq!((back.seq, back.stamp), (8, 2.0));
    // Out of range, wrong kind, unknown field, missing required field: refused, nothing written.
    let with = |i: usize, x: DynValue| {
        let mut v = status_value();
        if let DynValue::Struct(f) = &mut v {
            f[i].1 = x;
        }
        v
    };
    for v in [
        with(1, DynValue::Int(-1)),
        with(0, DynValue::String("1.0".into())),
        with(3, DynValue::Int(1)),
        with(2, DynValue::Absent),
        with(
            6,
            bytes_array("float64", &[1], &[1.0f64], |x| x.to_le_bytes().to_vec()),
        ),
    ] {
        let m = DynMessage::conform("st", &schema, v).unwrap();
        let err = h.kv.set("st", &m).unwrap_err();
        assert!(matches!(err, Error::Encode { .. }), "{err}");
    }
    let unknown = s(vec![("nope", DynValue::Int(1))]);
    assert!(matches!(
        DynMessage::conform("st", &schema, unknown),
        Err(Error::Encode { .. })
    ));
    assert_eq!(h.kv.get::<Status>("st").unwrap(), back);
}

#[test]
fn a_dynamic_message_is_published_and_received_by_a_typed_subscriber_and_back() {
    let h = Harness::start();
    let pubs = PublishSpace::new(&h.iface);
    let mut typed = RawSubscriber::<Pose2>::new(&h.iface, "topic/pose").unwrap();
    typed.listen().unwrap();
    let mut dynamic = RawSubscriber::<DynMessage>::new(&h.iface, "topic/pose").unwrap();
    dynamic.listen().unwrap();
    let msg = DynMessage::infer("topic/pose", "Pose2", pose(3.0, 4.0, 5.0)).unwrap();
    pubs.publish("topic/pose", &msg).unwrap();
    let got = typed
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert_eq!(
        *got,
        Pose2 {
            x: 3.0,
            y: 4.0,
            theta: 5.0
        }
    );
    let got = dynamic
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert_eq!(got.value, pose(3.0, 4.0, 5.0));
    assert_eq!(got.label, "Pose2");
}
