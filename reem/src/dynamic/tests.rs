use super::*;
use redis::Value;

fn f(name: &str, ty: FieldType) -> FieldSchema {
    FieldSchema {
        name: name.into(),
        ty,
        optional: false,
    }
}

fn opt(name: &str, ty: FieldType) -> FieldSchema {
    FieldSchema {
        optional: true,
        ..f(name, ty)
    }
}

fn f64_array(ndim: Option<usize>) -> FieldType {
    FieldType::Array {
        dtype: "float64".into(),
        ndim,
        shape: None,
    }
}

/// The `HGETALL` reply of a message with `schema` (header included) and `pairs`.
fn stored(schema: &Schema, pairs: &[(&str, &[u8])]) -> Value {
    let header: [(&str, &[u8]); 3] = [
        (LABEL_FIELD, schema.label.as_bytes()),
        (FINGERPRINT_FIELD, schema.fingerprint_hex.as_bytes()),
        (SCHEMA_FIELD, schema.json.as_bytes()),
    ];
    raw(header.iter().chain(pairs))
}

fn raw<'a>(pairs: impl Iterator<Item = &'a (&'a str, &'a [u8])>) -> Value {
    Value::Array(
        pairs
            .flat_map(|(f, v)| [f.as_bytes().to_vec(), v.to_vec()])
            .map(Value::BulkString)
            .collect(),
    )
}

fn decode_reply(reply: &Value, arrays: Arrays) -> Result<DynMessage> {
    decode("k", &HashView::from_hgetall("k", reply)?, arrays)
}

fn le_f64(xs: &[f64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn scalars_decode_as_typed_reads_decode_them() {
    let schema = Schema::new(
        "All".into(),
        vec![
            f("b", FieldType::Bool),
            f("u", FieldType::U8),
            f("i", FieldType::I64),
            f("big", FieldType::U128),
            f("x", FieldType::F32),
            f("y", FieldType::F64),
            f("c", FieldType::Char),
            f("s", FieldType::String),
            f("mode", FieldType::enum_of(&["Idle", "Driving"])),
            f("cfg", FieldType::Json),
        ],
    );
    let reply = stored(
        &schema,
        &[
            ("b", b"true"),
            ("u", b"255"),
            ("i", b"-7"),
            ("big", b"340282366920938463463374607431768211455"),
            ("x", b"0.1"),
            ("y", b"-inf"),
            ("c", "é".as_bytes()),
            ("s", b"map"),
            ("mode", b"Driving"),
            ("cfg", br#"{"k":[1,2]}"#),
        ],
    );
    let msg = decode_reply(&reply, Arrays::Summary).unwrap();
    assert_eq!(msg.label, "All");
    let v = &msg.value;
    assert_eq!(v.get("b"), Some(&DynValue::Bool(true)));
    assert_eq!(v.get("u"), Some(&DynValue::UInt(255)));
    assert_eq!(v.get("i"), Some(&DynValue::Int(-7)));
    assert_eq!(v.get("big"), Some(&DynValue::UInt(u128::MAX)));
    assert_eq!(v.get("x"), Some(&DynValue::F32(0.1)));
    assert_eq!(v.get("y"), Some(&DynValue::F64(f64::NEG_INFINITY)));
    assert_eq!(v.get("c"), Some(&DynValue::Char('é')));
    assert_eq!(v.get("s"), Some(&DynValue::String("map".into())));
    assert_eq!(v.get("mode"), Some(&DynValue::Enum("Driving".into())));
    assert_eq!(
        v.get("cfg"),
        Some(&DynValue::Json(serde_json::json!({"k": [1, 2]})))
    );
    assert_eq!(
        serde_json::to_string(v).unwrap(),
        r#"{"b":true,"u":255,"i":-7,"big":340282366920938463463374607431768211455,"x":0.1,"y":"-inf","c":"é","s":"map","mode":"Driving","cfg":{"k":[1,2]}}"#
    );
}

#[test]
fn dotted_names_become_a_tree_in_schema_order() {
    let schema = Schema::new(
        "R".into(),
        vec![
            f("stamp", FieldType::F64),
            f("base.x", FieldType::F64),
            f("base.pose.theta", FieldType::F64),
            f("name", FieldType::String),
        ],
    );
    let reply = stored(
        &schema,
        &[
            ("stamp", b"1.5"),
            ("base.x", b"2"),
            ("base.pose.theta", b"0.5"),
            ("name", b"r1"),
        ],
    );
    let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
    assert_eq!(v.get("base.pose.theta"), Some(&DynValue::F64(0.5)));
    assert_eq!(v.get("base.nope"), None);
    let DynValue::Struct(top) = &v else {
        panic!("{v:?}")
    };
    let names: Vec<&str> = top.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["stamp", "base", "name"]);
}

#[test]
fn absent_optional_fields_are_absent_and_absent_groups_collapse() {
    let schema = Schema::new(
        "R".into(),
        vec![
            opt("batt", FieldType::F32),
            opt("goal.x", FieldType::F64),
            opt("goal.y", FieldType::F64),
            opt("depth", f64_array(Some(2))),
            opt("tags", FieldType::List { items: vec![] }),
        ],
    );
    let v = decode_reply(&stored(&schema, &[]), Arrays::Summary)
        .unwrap()
        .value;
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"batt":null,"goal":null,"depth":null,"tags":null}"#
    );
}

#[test]
fn a_missing_required_field_is_an_error_naming_it() {
    let schema = Schema::new("R".into(), vec![f("base.x", FieldType::F64)]);
    let err = decode_reply(&stored(&schema, &[]), Arrays::Summary).unwrap_err();
    assert!(
        matches!(&err, Error::MissingField { key, field } if key == "k" && field == "base.x"),
        "{err}"
    );
}

#[test]
fn bad_stored_text_is_an_invalid_field_error() {
    let schema = Schema::new(
        "R".into(),
        vec![
            f("x", FieldType::F64),
            f("mode", FieldType::enum_of(&["Idle"])),
        ],
    );
    let err = decode_reply(
        &stored(&schema, &[("x", b"fast"), ("mode", b"Idle")]),
        Arrays::Summary,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "x"),
        "{err}"
    );
    let err = decode_reply(
        &stored(&schema, &[("x", b"1"), ("mode", b"Flying")]),
        Arrays::Summary,
    )
    .unwrap_err();
    assert!(err.to_string().contains("Idle"), "{err}");
    assert!(err.to_string().contains("Flying"), "{err}");
}

#[test]
fn arrays_are_summarised_or_given_in_full() {
    let schema = Schema::new("A".into(), vec![f("m", f64_array(Some(2)))]);
    let bytes = le_f64(&[3.0, f64::NAN, 1.0, 2.0]);
    let reply = stored(
        &schema,
        &[
            ("m.dtype", b"float64"),
            ("m.shape", b"(2, 2)"),
            ("m.strides", b"(16, 8)"),
            ("m.arr", &bytes),
        ],
    );
    let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
    let Some(DynValue::Array(a)) = v.get("m") else {
        panic!("{v:?}")
    };
    assert_eq!(
        (a.dtype.as_str(), a.shape.as_slice()),
        ("float64", &[2, 2][..])
    );
    let ArrayBody::Summary(st) = &a.body else {
        panic!("{a:?}")
    };
    assert_eq!((st.count, st.nan), (3, 1));
    assert_eq!(st.min, Some(Number::Float(1.0)));
    assert_eq!(st.max, Some(Number::Float(3.0)));
    assert_eq!(st.mean, Some(2.0));
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"m":{"dtype":"float64","shape":[2,2],"min":1.0,"max":3.0,"mean":2.0,"nan":1}}"#
    );
    let full = decode_reply(&reply, Arrays::Full).unwrap().value;
    assert_eq!(
        serde_json::to_string(&full).unwrap(),
        r#"{"m":[[3.0,"nan"],[1.0,2.0]]}"#
    );
}

#[test]
fn integer_and_f32_summaries_stay_exact() {
    let schema = Schema::new(
        "A".into(),
        vec![
            f(
                "t",
                FieldType::Array {
                    dtype: "uint64".into(),
                    ndim: Some(1),
                    shape: None,
                },
            ),
            f(
                "r",
                FieldType::Array {
                    dtype: "float32".into(),
                    ndim: Some(1),
                    shape: None,
                },
            ),
        ],
    );
    let t: Vec<u8> = [u64::MAX, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    let r: Vec<u8> = [0.1f32, 0.2].iter().flat_map(|x| x.to_le_bytes()).collect();
    let reply = stored(
        &schema,
        &[
            ("t.dtype", b"uint64"),
            ("t.shape", b"(2,)"),
            ("t.arr", &t),
            ("r.dtype", b"<f4"),
            ("r.shape", b"(2,)"),
            ("r.arr", &r),
        ],
    );
    let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.contains(r#""max":18446744073709551615"#), "{json}");
    assert!(json.contains(r#""min":0.1,"max":0.2"#), "{json}");
}

#[test]
fn a_shape_larger_than_the_bytes_is_refused_before_allocating() {
    let schema = Schema::new("A".into(), vec![f("m", f64_array(None))]);
    for shape in [&b"(1000000000000,)"[..], b"(99999999999, 99999999999)"] {
        let reply = stored(
            &schema,
            &[
                ("m.dtype", b"float64"),
                ("m.shape", shape),
                ("m.arr", &[0u8; 16]),
            ],
        );
        for arrays in [Arrays::Summary, Arrays::Full] {
            let err = decode_reply(&reply, arrays).unwrap_err();
            assert!(matches!(err, Error::InvalidField { .. }), "{err}");
        }
    }
}

#[test]
fn a_dtype_other_than_the_schema_says_is_refused() {
    let schema = Schema::new("A".into(), vec![f("m", f64_array(None))]);
    let reply = stored(
        &schema,
        &[
            ("m.dtype", b"int64"),
            ("m.shape", b"(1,)"),
            ("m.arr", &[0u8; 8]),
        ],
    );
    let err = decode_reply(&reply, Arrays::Summary).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "m.dtype"),
        "{err}"
    );
    let schema = Schema::new(
        "A".into(),
        vec![f(
            "m",
            FieldType::Array {
                dtype: "complex128".into(),
                ndim: None,
                shape: None,
            },
        )],
    );
    let err = decode_reply(&stored(&schema, &[]), Arrays::Summary).unwrap_err();
    assert!(err.to_string().contains("complex128"), "{err}");
}

#[test]
fn lists_decode_element_by_element() {
    let schema = Schema::new(
        "L".into(),
        vec![
            f(
                "path",
                FieldType::List {
                    items: vec![f("x", FieldType::F64), opt("note", FieldType::String)],
                },
            ),
            f(
                "tags",
                FieldType::List {
                    items: vec![f("", FieldType::String)],
                },
            ),
        ],
    );
    let reply = stored(
        &schema,
        &[
            ("path.len", b"2"),
            ("path.0.x", b"1"),
            ("path.1.x", b"2"),
            ("path.1.note", b"goal"),
            ("tags.len", b"1"),
            ("tags.0", b"a"),
        ],
    );
    let v = decode_reply(&reply, Arrays::Summary).unwrap().value;
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"path":[{"x":1.0,"note":null},{"x":2.0,"note":"goal"}],"tags":["a"]}"#
    );
    assert_eq!(v.get("path.1.note"), Some(&DynValue::String("goal".into())));
    assert_eq!(v.get("path.01.x"), None);
}

#[test]
fn hostile_list_lengths_and_schemas_are_refused_quickly() {
    let schema = Schema::new(
        "L".into(),
        vec![f(
            "p",
            FieldType::List {
                items: (0..50)
                    .map(|i| opt(&format!("f{i}"), FieldType::F64))
                    .collect(),
            },
        )],
    );
    let err = decode_reply(
        &stored(&schema, &[("p.len", b"18446744073709551615")]),
        Arrays::Summary,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "p.len"),
        "{err}"
    );
    // More elements than the stored fields and the allowance for absent values allow.
    let err = decode_reply(&stored(&schema, &[("p.len", b"60000")]), Arrays::Summary).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "p.len"),
        "{err}"
    );
    // Allowed by the length bound, but 50 absent fields per element exceed the allowance.
    let start = std::time::Instant::now();
    let err = decode_reply(&stored(&schema, &[("p.len", b"1000")]), Arrays::Summary).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field.starts_with("p.")),
        "{err}"
    );
    assert!(err.to_string().contains("allowance"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_message_without_a_valid_schema_is_refused() {
    let none = raw([("x", &b"1"[..])].iter());
    let err = decode_reply(&none, Arrays::Summary).unwrap_err();
    assert!(
        matches!(&err, Error::MissingField { field, .. } if field == "@schema"),
        "{err}"
    );
    let broken = raw([("@schema", &b"{not json"[..]), ("x", b"1")].iter());
    let err = decode_reply(&broken, Arrays::Summary).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "@schema"),
        "{err}"
    );
    let schema = Schema::new("P".into(), vec![f("x", FieldType::F64)]);
    let forged = raw([
        ("@schema", schema.json.as_bytes()),
        ("@fp", &b"0000000000000000"[..]),
        ("x", b"1"),
    ]
    .iter());
    let err = decode_reply(&forged, Arrays::Summary).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidField { field, .. } if field == "@fp"),
        "{err}"
    );
    let newer = schema.json.replace(r#""format":1"#, r#""format":2"#);
    let newer = raw([("@schema", newer.as_bytes()), ("x", b"1")].iter());
    let err = decode_reply(&newer, Arrays::Summary).unwrap_err();
    assert!(err.to_string().contains("format version 2"), "{err}");
}

#[test]
fn overlapping_schema_names_are_refused() {
    let schema = Schema::new(
        "P".into(),
        vec![f("a", FieldType::F64), f("a.b", FieldType::F64)],
    );
    let err = decode_reply(
        &stored(&schema, &[("a", b"1"), ("a.b", b"2")]),
        Arrays::Summary,
    )
    .unwrap_err();
    assert!(err.to_string().contains("overlap"), "{err}");
}

#[test]
fn a_top_level_scalar_is_the_value_itself() {
    let schema = Schema::new("f64".into(), vec![f("", FieldType::F64)]);
    let msg = decode_reply(&stored(&schema, &[("value", b"2.5")]), Arrays::Summary).unwrap();
    assert_eq!(msg.value, DynValue::F64(2.5));
    for path in ["", "value"] {
        let (stored_name, _) = resolve(&msg.schema, path).unwrap();
        assert_eq!(stored_name, "value");
    }
}

#[test]
fn paths_resolve_to_stored_fields_through_lists() {
    let schema = Schema::new(
        "L".into(),
        vec![
            f("base.x", FieldType::F64),
            f(
                "path",
                FieldType::List {
                    items: vec![f("x", FieldType::F64)],
                },
            ),
            f(
                "tags",
                FieldType::List {
                    items: vec![f("", FieldType::String)],
                },
            ),
        ],
    );
    let name = |p: &str| resolve(&schema, p).map(|(n, f)| (n, f.ty.clone()));
    assert_eq!(name("base.x"), Some(("base.x".into(), FieldType::F64)));
    assert_eq!(name("path.3.x"), Some(("path.3.x".into(), FieldType::F64)));
    assert_eq!(name("tags.0"), Some(("tags.0".into(), FieldType::String)));
    assert!(matches!(name("path"), Some((_, FieldType::List { .. }))));
    for missing in [
        "base",
        "base.y",
        "path.x",
        "path.03.x",
        "path.-1.x",
        "tags.0.x",
    ] {
        assert_eq!(name(missing), None, "{missing}");
    }
}

#[test]
fn text_is_encoded_as_the_typed_encoder_writes_it() {
    let enc = |ty: FieldType, text: &str| encode_text("k", "f", &ty, text);
    let ok = |ty: FieldType, text: &str| String::from_utf8(enc(ty, text).unwrap()).unwrap();
    assert_eq!(ok(FieldType::F64, " 2.50 "), "2.5");
    assert_eq!(ok(FieldType::F64, "1e300"), "1e300");
    assert_eq!(ok(FieldType::F64, "-inf"), "-inf");
    assert_eq!(ok(FieldType::F32, "0.1"), "0.1");
    assert_eq!(ok(FieldType::F32, "NaN"), "nan");
    assert_eq!(ok(FieldType::U8, "255"), "255");
    assert_eq!(
        ok(FieldType::I128, "-170141183460469231731687303715884105728"),
        "-170141183460469231731687303715884105728"
    );
    assert_eq!(ok(FieldType::Bool, "TRUE"), "1");
    assert_eq!(ok(FieldType::Bool, "0"), "0");
    assert_eq!(ok(FieldType::Char, "é"), "é");
    assert_eq!(ok(FieldType::String, " keep spaces "), " keep spaces ");
    assert_eq!(ok(FieldType::enum_of(&["Idle", "Driving"]), "Idle"), "Idle");
    assert_eq!(ok(FieldType::Json, r#"{"a": 1}"#), r#"{"a": 1}"#);
    for (ty, text, why) in [
        (FieldType::F64, "fast", "a number (f64)"),
        (FieldType::F32, "1e40", "within the range of f32"),
        (FieldType::U8, "300", "fits u8"),
        (FieldType::U8, "-1", "fits u8"),
        (FieldType::I32, "1.5", "fits i32"),
        (FieldType::Bool, "yes", "a boolean"),
        (FieldType::Char, "ab", "one character"),
        (FieldType::enum_of(&["Idle"]), "idle", "Idle"),
        (FieldType::Json, "{", "not JSON"),
        (f64_array(None), "1", "not a scalar"),
    ] {
        let err = enc(ty, text).unwrap_err();
        assert!(
            matches!(&err, Error::Encode { key, field, .. } if key == "k" && field == "f"),
            "{err}"
        );
        assert!(err.to_string().contains(why), "{text}: {err}");
    }
}

#[test]
fn types_are_described_briefly() {
    assert_eq!(
        describe_type(&FieldType::enum_of(&["A", "B"])),
        "enum (A | B)"
    );
    assert_eq!(describe_type(&f64_array(Some(2))), "array float64, 2-D");
    assert_eq!(
        describe_type(&FieldType::List {
            items: vec![f("x", FieldType::F64), opt("n", FieldType::String)]
        }),
        "list of {x: f64, n?: string}"
    );
}

#[test]
fn long_lists_of_custom_and_enum_elements_decode_in_linear_time() {
    // Element `i` of a list of custom fields finds its stored fields by binary search, and
    // a large enum's variants are looked up in a set: neither costs the size of the hash
    // (or of the variant list) per element.
    let n = 30_000;
    let variants: Vec<String> = (0..n).map(|i| format!("V{i}")).collect();
    let schema = Schema::new(
        "Q".into(),
        vec![
            f(
                "c",
                FieldType::List {
                    items: vec![f(
                        "",
                        FieldType::Custom {
                            format: "raw".into(),
                        },
                    )],
                },
            ),
            f(
                "e",
                FieldType::List {
                    items: vec![f("", FieldType::Enum { variants })],
                },
            ),
        ],
    );
    let names: Vec<(String, String)> = (0..n)
        .flat_map(|i| {
            [
                (format!("c.{i}.raw"), "x".to_owned()),
                (format!("e.{i}"), format!("V{}", n - 1 - i)),
            ]
        })
        .chain([
            ("c.len".into(), n.to_string()),
            ("e.len".into(), n.to_string()),
        ])
        .collect();
    let pairs: Vec<(&str, &[u8])> = names
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let reply = stored(&schema, &pairs);
    let start = std::time::Instant::now();
    let msg = decode_reply(&reply, Arrays::Summary).unwrap();
    let took = start.elapsed();
    assert_eq!(
        msg.value.get(&format!("c.{}", n - 1)),
        Some(&DynValue::Custom {
            format: "raw".into(),
            fields: vec![(format!("c.{}.raw", n - 1), b"x".to_vec())],
        })
    );
    assert_eq!(
        msg.value.get("e.0"),
        Some(&DynValue::Enum(format!("V{}", n - 1)))
    );
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}

#[test]
fn decode_owned_moves_array_bytes_out_of_the_reply() {
    let schema = Schema::new("A".into(), vec![f("m", f64_array(Some(1)))]);
    let xs: Vec<f64> = (0..4096).map(f64::from).collect();
    let le = le_f64(&xs);
    let be: Vec<u8> = xs.iter().flat_map(|x| x.to_be_bytes()).collect();
    for (dtype, bytes) in [(&b"float64"[..], &le), (&b">f8"[..], &be)] {
        let reply = stored(
            &schema,
            &[
                ("m.dtype", dtype),
                ("m.shape", b"(4096,)"),
                ("m.strides", b"(8,)"),
                ("m.arr", bytes),
            ],
        );
        let Value::Array(items) = &reply else {
            unreachable!()
        };
        let at = items
            .iter()
            .position(|v| matches!(v, Value::BulkString(n) if n == b"m.arr"))
            .unwrap();
        let Value::BulkString(buffer) = &items[at + 1] else {
            unreachable!()
        };
        let reply_buffer = buffer.as_ptr();
        let msg = decode_owned("k", reply, Arrays::Bytes).unwrap();
        let Some(DynValue::Array(a)) = msg.value.get("m") else {
            panic!("{:?}", msg.value)
        };
        let ArrayBody::Bytes(b) = &a.body else {
            panic!("{a:?}")
        };
        // The reply's own buffer (big-endian elements swapped in place), not a copy.
        assert_eq!(
            b.as_ptr(),
            reply_buffer,
            "{}",
            String::from_utf8_lossy(dtype)
        );
        assert_eq!(b, &le);
    }
}

#[test]
fn inferred_types_can_be_given_by_name() {
    let v = DynValue::Struct(vec![
        ("id".into(), DynValue::UInt(7)),
        ("t".into(), DynValue::Int(-5)),
    ]);
    let types = [("id".to_owned(), FieldType::U8)];
    let m = DynMessage::infer_with_types("k", "Imu", v, &types).unwrap();
    let expected = Schema::new(
        "Imu".into(),
        vec![f("id", FieldType::U8), f("t", FieldType::I64)],
    );
    assert_eq!(
        (&m.schema.json, &m.schema.fingerprint_hex),
        (&expected.json, &expected.fingerprint_hex)
    );
}
