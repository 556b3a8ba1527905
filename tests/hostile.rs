//! Bytes from Redis are untrusted: whatever a key holds, `get` gives a value or a typed
//! error, never a panic. Every case writes its garbage with the raw `redis` crate.

mod common;

use common::Harness;
use reem::Fields;
use reem::{Error, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, Copy, PartialEq)]
enum Mode {
    Idle,
    Driving,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Gains {
    p: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Sample {
    small: u8,
    name: String,
    mode: Mode,
    #[reem(json)]
    gains: Gains,
    letter: char,
    flag: bool,
    tags: Vec<String>,
}

fn sample() -> Sample {
    Sample {
        small: 7,
        name: "ok".into(),
        mode: Mode::Idle,
        gains: Gains { p: 1.0 },
        letter: 'a',
        flag: true,
        tags: vec!["a".into()],
    }
}

/// Stores a valid `Sample`, then overwrites one field with raw bytes.
fn corrupt(h: &Harness, field: &str, value: &[u8]) -> Error {
    h.kv.set("k", &sample()).unwrap();
    h.hset("k", field, value);
    h.kv.get::<Sample>("k")
        .expect_err("corrupt data must not decode")
}

fn assert_invalid(err: &Error, field: &str) {
    match err {
        Error::InvalidField { key, field: f, .. } => {
            assert_eq!(key, "k");
            assert_eq!(f, field, "{err}");
        }
        other => panic!("expected InvalidField for {field}, got {other:?}"),
    }
}

#[test]
fn string_at_key_is_wrong_redis_type() {
    let h = Harness::start();
    redis::cmd("SET")
        .arg("k")
        .arg("hello")
        .exec(&mut h.raw())
        .unwrap();
    let err = h.kv.get::<Pose2>("k").unwrap_err();
    assert!(
        matches!(err, Error::WrongRedisType { ref key, .. } if key == "k"),
        "{err:?}"
    );
}

#[test]
fn list_at_key_is_wrong_redis_type() {
    let h = Harness::start();
    redis::cmd("RPUSH")
        .arg("k")
        .arg("a")
        .arg("b")
        .exec(&mut h.raw())
        .unwrap();
    let err = h.kv.get::<Pose2>("k").unwrap_err();
    assert!(matches!(err, Error::WrongRedisType { .. }), "{err:?}");
    let err = h.kv.get_field("k", &Pose2::fields().x()).unwrap_err();
    assert!(matches!(err, Error::WrongRedisType { .. }), "{err:?}");
}

#[test]
fn missing_field_is_named() {
    let h = Harness::start();
    h.kv.set("k", &sample()).unwrap();
    redis::cmd("HDEL")
        .arg("k")
        .arg("name")
        .exec(&mut h.raw())
        .unwrap();
    let err = h.kv.get::<Sample>("k").unwrap_err();
    assert!(
        matches!(err, Error::MissingField { ref field, .. } if field == "name"),
        "{err:?}"
    );
}

#[test]
fn text_in_a_number_field_is_invalid() {
    let h = Harness::start();
    assert_invalid(&corrupt(&h, "small", b"seven"), "small");
}

#[test]
fn out_of_range_integer_is_invalid() {
    let h = Harness::start();
    let err = corrupt(&h, "small", b"300");
    assert_invalid(&err, "small");
    assert!(err.to_string().contains("u8"), "{err}");
    assert_invalid(&corrupt(&h, "small", b"-1"), "small");
    assert_invalid(&corrupt(&h, "small", b" 7"), "small");
}

#[test]
fn invalid_utf8_in_a_string_field_is_invalid() {
    let h = Harness::start();
    assert_invalid(&corrupt(&h, "name", &[0xff, 0xfe, b'a']), "name");
    assert_invalid(&corrupt(&h, "tags.0", &[0xc3]), "tags.0");
}

#[test]
fn unknown_enum_variant_is_invalid() {
    let h = Harness::start();
    let err = corrupt(&h, "mode", b"Flying");
    assert_invalid(&err, "mode");
    assert!(err.to_string().contains("Idle, Driving"), "{err}");
}

#[test]
fn bad_json_is_invalid() {
    let h = Harness::start();
    assert_invalid(&corrupt(&h, "gains", b"{\"p\": "), "gains");
    assert_invalid(&corrupt(&h, "gains", b"{\"q\": 1}"), "gains");
}

#[test]
fn bad_char_and_bool_are_invalid() {
    let h = Harness::start();
    assert_invalid(&corrupt(&h, "letter", b"ab"), "letter");
    assert_invalid(&corrupt(&h, "letter", b""), "letter");
    assert_invalid(&corrupt(&h, "flag", b"yes"), "flag");
}

#[test]
fn hostile_list_length_is_refused_without_allocating() {
    let h = Harness::start();
    assert_invalid(&corrupt(&h, "tags.len", b"99999999999999"), "tags.len");
    assert_invalid(&corrupt(&h, "tags.len", b"-3"), "tags.len");
    let err = corrupt(&h, "tags.len", b"5");
    assert!(
        matches!(err, Error::MissingField { ref field, .. } if field == "tags.1"),
        "{err:?}"
    );
}

#[test]
fn hostile_numeric_array_is_refused() {
    let h = Harness::start();
    h.kv.set("v", &vec![1.0f64, 2.0]).unwrap();
    h.hset("v", "shape", b"(10000000000000000000000,)");
    assert!(matches!(
        h.kv.get::<Vec<f64>>("v").unwrap_err(),
        Error::InvalidField { .. }
    ));
    h.hset("v", "shape", b"(4611686018427387904,)");
    assert!(matches!(
        h.kv.get::<Vec<f64>>("v").unwrap_err(),
        Error::InvalidField { .. }
    ));
    h.hset("v", "shape", b"(2,)");
    h.hset("v", "dtype", b"__import__('os').system('touch PWNED')");
    assert!(matches!(
        h.kv.get::<Vec<f64>>("v").unwrap_err(),
        Error::InvalidField { .. }
    ));
    h.hset("v", "dtype", b"int64");
    let err = h.kv.get::<Vec<f64>>("v").unwrap_err();
    assert!(
        err.to_string().contains("float64"),
        "reading another element type is refused: {err}"
    );
}

#[test]
fn wrong_label_is_schema_mismatch_naming_both() {
    let h = Harness::start();
    h.kv.set(
        "k",
        &Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
    )
    .unwrap();
    let err = h.kv.get::<Sample>("k").unwrap_err();
    match &err {
        Error::SchemaMismatch {
            stored, expected, ..
        } => {
            assert!(stored.starts_with("Pose2"), "{err}");
            assert!(expected.starts_with("Sample"), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn forged_fingerprint_is_schema_mismatch() {
    let h = Harness::start();
    h.kv.set("k", &sample()).unwrap();
    h.hset("k", "@fp", b"0123456789abcdef");
    assert!(h.kv.get::<Sample>("k").unwrap_err().is_schema_mismatch());
    h.hset("k", "@schema", b"{{{{");
    assert!(h.kv.get::<Sample>("k").unwrap_err().is_schema_mismatch());
}

#[test]
fn label_without_schema_is_schema_mismatch() {
    let h = Harness::start();
    h.write_raw(
        "k",
        &[
            ("@label", b"Pose2"),
            ("x", b"1"),
            ("y", b"1"),
            ("theta", b"1"),
        ],
    );
    assert!(h.kv.get::<Pose2>("k").unwrap_err().is_schema_mismatch());
}

#[test]
fn huge_garbage_value_is_reported_shortened() {
    let h = Harness::start();
    let err = corrupt(&h, "small", &vec![b'9'; 1 << 20]);
    assert!(
        err.to_string().len() < 400,
        "error text stays short: {} bytes",
        err.to_string().len()
    );
}

// ---- schema evolution ----

mod v1 {
    #[derive(reem::ReemMarshal, Debug, PartialEq)]
    #[reem(label = "robot.Odom")]
    pub struct Odom {
        pub x: f64,
        pub seq: u32,
    }
}

mod v2 {
    #[derive(reem::ReemMarshal, Debug, PartialEq)]
    #[reem(label = "robot.Odom")]
    pub struct Odom {
        pub x: f64,
        pub seq: u32,
        pub covariance: Option<Vec<f64>>,
        #[reem(default)]
        pub frame: String,
    }
}

mod v3_changed_type {
    #[derive(reem::ReemMarshal, Debug, PartialEq)]
    #[reem(label = "robot.Odom")]
    pub struct Odom {
        pub x: f64,
        pub seq: i64,
    }
}

mod v3_new_required {
    #[derive(reem::ReemMarshal, Debug, PartialEq)]
    #[reem(label = "robot.Odom")]
    pub struct Odom {
        pub x: f64,
        pub seq: u32,
        pub y: f64,
    }
}

#[test]
fn added_optional_and_default_fields_read_old_messages() {
    let h = Harness::start();
    h.kv.set("odom", &v1::Odom { x: 1.0, seq: 3 }).unwrap();
    let new: v2::Odom = h.kv.get("odom").unwrap();
    assert_eq!(
        new,
        v2::Odom {
            x: 1.0,
            seq: 3,
            covariance: None,
            frame: String::new()
        }
    );
}

#[test]
fn old_reader_reads_new_messages_with_extra_fields() {
    let h = Harness::start();
    let msg = v2::Odom {
        x: 1.0,
        seq: 3,
        covariance: Some(vec![1.0]),
        frame: "odom".into(),
    };
    h.kv.set("odom", &msg).unwrap();
    assert_eq!(
        h.kv.get::<v1::Odom>("odom").unwrap(),
        v1::Odom { x: 1.0, seq: 3 }
    );
}

#[test]
fn changed_field_type_is_schema_mismatch_naming_the_field() {
    let h = Harness::start();
    h.kv.set("odom", &v1::Odom { x: 1.0, seq: 3 }).unwrap();
    let err = h.kv.get::<v3_changed_type::Odom>("odom").unwrap_err();
    match &err {
        Error::SchemaMismatch { reason, .. } => assert!(reason.contains("`seq`"), "{err}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn removed_required_field_is_schema_mismatch() {
    let h = Harness::start();
    h.kv.set("odom", &v1::Odom { x: 1.0, seq: 3 }).unwrap();
    let err = h.kv.get::<v3_new_required::Odom>("odom").unwrap_err();
    match &err {
        Error::SchemaMismatch { reason, .. } => assert!(reason.contains("`y`"), "{err}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn get_field_reads_an_older_compatible_message() {
    let h = Harness::start();
    h.kv.set("odom", &v1::Odom { x: 1.5, seq: 3 }).unwrap();
    assert_eq!(
        h.kv.get_field("odom", &v2::Odom::fields().x()).unwrap(),
        1.5
    );
    assert_eq!(
        h.kv.get_field("odom", &v2::Odom::fields().covariance())
            .unwrap(),
        None
    );
    let err =
        h.kv.get_field("odom", &v3_changed_type::Odom::fields().x())
            .unwrap_err();
    assert!(err.is_schema_mismatch(), "{err}");
}

#[test]
fn message_of_a_newer_format_is_refused() {
    let h = Harness::start();
    h.kv.set(
        "k",
        &Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
    )
    .unwrap();
    let stored = h.hget("k", "@schema").unwrap();
    let newer = String::from_utf8(stored)
        .unwrap()
        .replace("{\"format\":1,", "{\"format\":2,");
    h.hset("k", "@schema", newer.as_bytes());
    let err = h.kv.get::<Pose2>("k").unwrap_err();
    match &err {
        Error::SchemaMismatch { reason, .. } => assert!(reason.contains("format 2"), "{err}"),
        other => panic!("{other:?}"),
    }
    // The same schema written by another program, members in another order, still reads.
    let reordered = newer.replacen("{\"format\":2,", "{", 1);
    let reordered = format!("{},\"format\":1}}", reordered.trim_end_matches('}'));
    h.hset("k", "@schema", reordered.as_bytes());
    assert_eq!(h.kv.get::<Pose2>("k").unwrap().theta, 3.0, "{reordered}");
}

// ---- one writable key must not freeze, forge or crash anyone ----

/// `HGETALL key` through the raw connection, as the reply a decoder sees.
fn raw_reply(h: &Harness, key: &str) -> redis::Value {
    redis::cmd("HGETALL").arg(key).query(&mut h.raw()).unwrap()
}

#[test]
fn array_bytes_checked_for_one_element_type_read_only_as_that_type() {
    use reem::marshal::array::{decode_raw, Element};
    use reem::marshal::{FieldReader, HashView};
    use reem::schema::FieldPath;
    let h = Harness::start();
    let three: &[u8] = &[1, 2, 3];
    h.write_raw(
        "bytes3",
        &[
            ("arr", three),
            ("dtype", b"uint8"),
            ("shape", b"(3,)"),
            ("strides", b"(1,)"),
        ],
    );
    let reply = raw_reply(&h, "bytes3");
    let hash = HashView::from_hgetall("bytes3", &reply).unwrap();
    let mut r = FieldReader::new("bytes3", &hash, FieldPath::root());
    let raw = decode_raw::<u8>(&mut r, Some(1)).unwrap();
    let bytes: Vec<u8> = raw.to_vec();
    assert_eq!(bytes, three);
    // The public conversions of the sealed `Element` give `None` for a partial element,
    // never a panic (3 bytes are 1.5 `u16`s).
    assert_eq!(u16::from_bytes(raw.bytes(), false), None);
    assert_eq!(f64::from_bytes(raw.bytes(), true), None);
    assert_eq!(i32::from_owned(raw.bytes().to_vec(), false), None);
    assert_eq!(bool::from_bytes(raw.bytes(), false), None);
    // A typed read of another element type is a typed error naming the dtype.
    let err = h.kv.get::<Vec<u16>>("bytes3").unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "dtype"),
        "{err}"
    );
}

mod cache_v1 {
    #[derive(reem::ReemMarshal, Debug, PartialEq)]
    #[reem(label = "robot.Battery")]
    pub struct Battery {
        pub volts: f32,
    }
}

mod cache_v2 {
    #[derive(reem::ReemMarshal, Debug, PartialEq)]
    #[reem(label = "robot.Battery")]
    pub struct Battery {
        pub volts: f32,
        pub amps: Option<f32>,
    }
}

#[test]
fn a_junk_hash_with_a_real_fingerprint_does_not_poison_later_reads() {
    let h = Harness::start();
    let old = cache_v1::Battery::schema().unwrap();
    // One junk hash: the older version's real label and fingerprint, no schema.
    h.write_raw(
        "junk",
        &[
            ("@label", old.label.as_bytes()),
            ("@fp", old.fingerprint_hex.as_bytes()),
            ("volts", b"1"),
        ],
    );
    let err = h.kv.get::<cache_v2::Battery>("junk").unwrap_err();
    assert!(err.is_schema_mismatch(), "{err}");
    // Then a legitimate message of the older, compatible version, same fingerprint.
    h.kv.set("good", &cache_v1::Battery { volts: 12.5 })
        .unwrap();
    assert_eq!(
        h.kv.get::<cache_v2::Battery>("good").unwrap(),
        cache_v2::Battery {
            volts: 12.5,
            amps: None
        }
    );
    // The junk is still refused, and the good message still reads.
    assert!(h.kv.get::<cache_v2::Battery>("junk").is_err());
    assert_eq!(h.kv.get::<cache_v2::Battery>("good").unwrap().volts, 12.5);
}

/// Runs `f` on a thread with a 256 KiB stack: a recursion driven by stored data overflows
/// it (and aborts the test process) long before it would overflow a main thread's.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn a_schema_naming_a_field_20000_segments_deep_is_an_error_not_a_crash() {
    use reem::dynamic::{self, Arrays};
    use reem::marshal::HashView;
    use reem::schema::{FieldSchema, FieldType, Schema};
    let h = Harness::start();
    let name = vec!["a"; 20_000].join(".");
    let schema = Schema::new(
        "Deep".into(),
        vec![FieldSchema {
            name: name.clone(),
            ty: FieldType::U8,
            optional: false,
        }],
    );
    assert!(schema.json.len() > 40_000);
    h.write_raw(
        "deep",
        &[
            ("@label", b"Deep"),
            ("@fp", schema.fingerprint_hex.as_bytes()),
            ("@schema", schema.json.as_bytes()),
            (&name, b"1"),
        ],
    );
    let reply = raw_reply(&h, "deep");
    let err = on_small_stack(move || {
        let hash = HashView::from_hgetall("deep", &reply)?;
        dynamic::decode("deep", &hash, Arrays::Full).map(|_| ())
    })
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "@schema"),
        "{err}"
    );
    assert!(err.to_string().len() < 400, "{err}");
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Sparse {
    rows: Vec<Vec<Option<String>>>,
}

#[test]
fn nested_lists_of_absent_values_share_one_allowance() {
    let h = Harness::start();
    h.kv.set(
        "sparse",
        &Sparse {
            rows: vec![vec![None, Some("x".into())]],
        },
    )
    .unwrap();
    // 100 inner lists each claiming 65 000 `None`s: within the old bound of every list
    // (stored fields + 65 536), 6.5 million elements in all from a few kilobytes.
    let mut con = h.raw();
    let mut pipe = redis::pipe();
    pipe.cmd("HSET").arg("sparse").arg("rows.len").arg("100");
    for i in 0..100 {
        pipe.arg(format!("rows.{i}.len")).arg("65000");
    }
    pipe.query::<()>(&mut con).unwrap();
    let start = std::time::Instant::now();
    let err = match h.kv.get::<Sparse>("sparse") {
        Err(e) => e,
        Ok(s) => panic!(
            "decoded {} elements",
            s.rows.iter().map(Vec::len).sum::<usize>()
        ),
    };
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field.starts_with("rows.")),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    // A sparse list the allowance covers still reads.
    let ok = Sparse {
        rows: vec![vec![None; 500], vec![Some("y".into()), None]],
    };
    h.kv.set("sparse", &ok).unwrap();
    assert_eq!(h.kv.get::<Sparse>("sparse").unwrap(), ok);
}

#[test]
fn a_full_array_with_no_elements_prints_a_bounded_json() {
    use reem::dynamic::{self, Arrays};
    use reem::marshal::HashView;
    let h = Harness::start();
    h.kv.set("empty", &ndarray::Array2::<u8>::zeros((3, 0)))
        .unwrap();
    let json_of = |reply: &redis::Value| {
        let hash = HashView::from_hgetall("empty", reply).unwrap();
        let msg = dynamic::decode("empty", &hash, Arrays::Full).unwrap();
        let mut out = Capped(Vec::new());
        serde_json::to_writer(&mut out, &msg.value).map(|_| String::from_utf8(out.0).unwrap())
    };
    assert_eq!(json_of(&raw_reply(&h, "empty")).unwrap(), "[[],[],[]]");
    // A shape whose zero-length axis comes last: no element stored, 4·10^18 empty lists.
    h.hset("empty", "shape", b"(4000000000000000000, 0)");
    let err = json_of(&raw_reply(&h, "empty")).unwrap_err();
    assert!(err.to_string().contains("empty lists"), "{err}");
}

/// A writer that refuses to grow past 1 MiB (the unbounded output would never end).
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > 1 << 20 {
            return Err(std::io::Error::other("more than 1 MiB of output"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
