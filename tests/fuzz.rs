//! Decoders under arbitrary input: any `redis::Value` tree and any hash contents given to
//! `interpret_read` of built-in and derived marshallers must give a value or an error —
//! never a panic, a hang, or an allocation far beyond the input's own size.
//!
//! The number of cases is bounded for the test suite (`REEM_FUZZ_CASES`, default 2000 per
//! property); run longer with e.g. `REEM_FUZZ_CASES=200000 cargo test --release --test fuzz`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use redis::Value;
use reem::{Json, ReemMarshal};

// ---- a counting allocator: peak bytes allocated by this thread while a decode runs ----

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwards the caller's layout, which the caller guarantees is valid.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as `GlobalAlloc::realloc`, forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn track(delta: isize) {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add_signed(delta);
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns how many bytes it allocated at most at one time.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get) - base
}

/// The memory a reply occupies: its nodes plus their heap bytes.
fn size_of_value(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::BulkString(b) => b.len(),
            Value::SimpleString(s) => s.len(),
            Value::Array(a) | Value::Set(a) => a.iter().map(size_of_value).sum(),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| size_of_value(k) + size_of_value(v))
                .sum(),
            _ => 0,
        }
}

// ---- message types covering every kind of encoding ----

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

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Rich {
    seq: u64,
    small: u8,
    name: String,
    mode: Mode,
    base: Pose2,
    maybe: Option<Pose2>,
    path: Vec<Pose2>,
    tags: Vec<String>,
    ranges: Vec<f32>,
    flags: Vec<bool>,
    nested: Vec<Vec<i32>>,
    fixed: [u16; 3],
    letter: char,
    #[reem(json)]
    extra: BTreeMap<String, f64>,
    wrapped: Json<Vec<u8>>,
    #[reem(default)]
    note: Option<String>,
}

/// Decodes `reply` as every type under test, checking memory stays bounded.
fn decode_all(reply: &Value) {
    let limit = 16 * size_of_value(reply) + (64 << 10);
    macro_rules! each {
        ($($t:ty),*) => {$(
            let peak = peak_of(|| { let _ = <$t as ReemMarshal>::interpret_read("fuzz", reply.clone()); });
            assert!(peak <= limit + size_of_value(reply), "{} allocated {peak} bytes for a {}-byte reply", stringify!($t), size_of_value(reply));
        )*};
    }
    each!(
        f64,
        u8,
        i128,
        bool,
        char,
        String,
        Mode,
        Pose2,
        Rich,
        Option<Pose2>,
        Vec<f64>,
        Vec<String>,
        Vec<Pose2>,
        [u8; 4],
        Json<serde_json::Value>
    );
}

// ---- strategies ----

fn value_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<i64>().prop_map(Value::Int),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(Value::BulkString),
        "[a-z@.0-9]{0,8}".prop_map(|s| Value::BulkString(s.into_bytes())),
        ".{0,8}".prop_map(Value::SimpleString),
        Just(Value::Okay),
        any::<f64>().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((inner.clone(), inner.clone()), 0..6).prop_map(Value::Map),
            prop::collection::vec(inner, 0..6).prop_map(Value::Set),
        ]
    })
}

/// Names a decoder may look for, so that random hashes get past the first lookup.
const NAMES: &[&str] = &[
    "@label",
    "@fp",
    "@schema",
    "value",
    "len",
    "0",
    "1",
    "2",
    "arr",
    "dtype",
    "shape",
    "strides",
    "seq",
    "small",
    "name",
    "mode",
    "base.x",
    "base.y",
    "base.theta",
    "maybe.x",
    "maybe.y",
    "maybe.theta",
    "path.len",
    "path.0.x",
    "path.0.y",
    "path.0.theta",
    "tags.len",
    "tags.0",
    "ranges.arr",
    "ranges.dtype",
    "ranges.shape",
    "flags.arr",
    "flags.dtype",
    "flags.shape",
    "nested.len",
    "nested.0.arr",
    "nested.0.dtype",
    "nested.0.shape",
    "fixed.arr",
    "fixed.dtype",
    "fixed.shape",
    "letter",
    "extra",
    "wrapped",
    "note",
    "x",
    "y",
    "theta",
];

fn plausible_value() -> impl Strategy<Value = Vec<u8>> {
    let rich = <Rich as ReemMarshal>::schema().unwrap();
    let texts: Vec<Vec<u8>> = [
        "1",
        "0",
        "-1",
        "300",
        "40000",
        "65536",
        "nan",
        "inf",
        "1e308",
        "18446744073709551616",
        "Idle",
        "Driving",
        "a",
        "ab",
        "true",
        "(2,)",
        "(3,)",
        "()",
        "(0,)",
        "(1, 2)",
        "(99999999999,)",
        "(4611686018427387904,)",
        "float32",
        "float64",
        "int32",
        "bool",
        "uint16",
        "uint8",
        ">f4",
        "<f8",
        "|b1",
        "__import__('os')",
        "{}",
        "[]",
        "{\"a\":1}",
        "[1,2]",
        "Rich",
        "Pose2",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([
        rich.label.clone().into_bytes(),
        rich.fingerprint_hex.clone().into_bytes(),
        rich.json.clone().into_bytes(),
    ])
    .collect();
    prop_oneof![
        prop::sample::select(texts),
        prop::collection::vec(any::<u8>(), 0..24),
        prop::collection::vec(
            prop::sample::select(vec![0u8, 1, 2, 0x3f, 0x80, 0xff]),
            0..24
        ),
    ]
}

fn hash_contents() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        4 => prop::sample::select(NAMES).prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    prop::collection::vec((name, plausible_value()), 0..40).prop_map(|pairs| {
        Value::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [Value::BulkString(k), Value::BulkString(v)])
                .collect(),
        )
    })
}

fn cases() -> u32 {
    std::env::var("REEM_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn arbitrary_reply_trees_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&value_tree(), |v| {
            decode_all(&v);
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_hash_contents_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&hash_contents(), |v| {
            decode_all(&v);
            Ok(())
        })
        .unwrap();
}

#[test]
fn corrupting_one_field_of_a_valid_message_gives_a_value_or_an_error() {
    // Start from a real message so every decoder path is reached, then damage one field.
    let msg = Rich {
        seq: 1,
        small: 2,
        name: "n".into(),
        mode: Mode::Driving,
        base: Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 3.0,
        },
        maybe: Some(Pose2 {
            x: 4.0,
            y: 5.0,
            theta: 6.0,
        }),
        path: vec![Pose2 {
            x: 7.0,
            y: 8.0,
            theta: 9.0,
        }],
        tags: vec!["t".into()],
        ranges: vec![1.0, 2.0],
        flags: vec![true],
        nested: vec![vec![1], vec![]],
        fixed: [1, 2, 3],
        letter: 'z',
        extra: BTreeMap::from([("k".into(), 1.0)]),
        wrapped: Json(vec![1, 2]),
        note: None,
    };
    let mut out = reem::marshal::Commands::new();
    msg.write("k", &mut out).unwrap();
    let hset = out.get(1).unwrap().args().skip(1).map(<[u8]>::to_vec);
    let pairs: Vec<Vec<u8>> = hset.collect();
    let valid = Value::Array(pairs.iter().cloned().map(Value::BulkString).collect());
    assert_eq!(
        <Rich as ReemMarshal>::interpret_read("k", valid).unwrap(),
        msg
    );

    let n = pairs.len() / 2;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(
            &(0..n, plausible_value(), any::<bool>()),
            |(i, value, drop)| {
                let mut p = pairs.clone();
                if drop {
                    p.drain(2 * i..2 * i + 2);
                } else {
                    p[2 * i + 1] = value;
                }
                let reply = Value::Array(p.into_iter().map(Value::BulkString).collect());
                decode_all(&reply);
                Ok(())
            },
        )
        .unwrap();
}

// ---- stored schemas and nested lists: typed errors, bounded memory, bounded stack ----
//
// One writable key must not freeze, forge or crash anyone. Every decode below runs on a
// thread with a 256 KiB stack (a recursion driven by stored data overflows it and aborts the
// test), under the counting allocator (at most 16 × the reply's size + 64 KiB), and must give
// a value or a typed error.

use reem::dynamic::{self, Arrays};
use reem::marshal::HashView;
use reem::schema::{FieldSchema, FieldType, Schema};

/// The stack every decode of stored data must fit in.
const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a thread with a [`SMALL_STACK`]; a panic there fails the test here.
fn on_small_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Checks that `f`, run on a small stack, allocates at most the promised bound for `reply`.
fn bounded(what: &str, reply: &Value, f: impl FnOnce() + Send) {
    let size = size_of_value(reply);
    let limit = 16 * size + (64 << 10);
    let peak = on_small_stack(|| peak_of(f));
    assert!(
        peak <= limit,
        "{what} allocated {peak} bytes for a {size}-byte reply (limit {limit})"
    );
}

/// A reader of the label the generated schemas carry, so that a read checks compatibility
/// (its fingerprint differs from theirs) and then decodes nested lists.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "Fuzz")]
struct FuzzReader {
    a: Vec<Vec<Option<String>>>,
    b: Option<Vec<Option<Vec<u8>>>>,
    c: Option<String>,
}

/// Names as schemas write them, sometimes thousands of segments deep.
fn dotted_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "ab", "x"]), 1..4)
            .prop_map(|s| s.join(".")),
        1 => Just(String::new()),
        1 => (1usize..40).prop_map(|n| vec!["s"; n].join(".")),
        1 => (1usize..6000).prop_map(|n| vec!["s"; n].join(".")),
    ]
}

fn leaf_type() -> impl Strategy<Value = FieldType> {
    let array = |dtype: &str, ndim: Option<usize>| FieldType::Array {
        dtype: dtype.into(),
        ndim,
        shape: None,
    };
    prop_oneof![
        Just(FieldType::U8),
        Just(FieldType::F64),
        Just(FieldType::I128),
        Just(FieldType::Bool),
        Just(FieldType::Char),
        Just(FieldType::String),
        Just(FieldType::Json),
        Just(FieldType::enum_of(&["A", "B"])),
        (0usize..3000).prop_map(|n| FieldType::Enum {
            variants: (0..n).map(|i| format!("V{i}")).collect()
        }),
        Just(array("uint8", Some(2))),
        Just(array("float64", None)),
        Just(array("complex64", None)),
        Just(FieldType::Custom {
            format: "raw".into()
        }),
    ]
}

/// A field: a scalar, or lists nested a few levels, each level several fields wide.
fn field_schema() -> impl Strategy<Value = FieldSchema> {
    let leaf = (dotted_name(), leaf_type(), any::<bool>())
        .prop_map(|(name, ty, optional)| FieldSchema { name, ty, optional });
    leaf.prop_recursive(6, 48, 6, |inner| {
        (
            dotted_name(),
            prop::collection::vec(inner, 0..6),
            any::<bool>(),
        )
            .prop_map(|(name, items, optional)| FieldSchema {
                name,
                ty: FieldType::List { items },
                optional,
            })
    })
}

/// A chain of `levels` lists of one element field each, around `inner`.
fn chain(levels: usize, name: &str, inner: FieldSchema) -> FieldSchema {
    (0..levels).fold(inner, |item, _| FieldSchema {
        name: name.to_owned(),
        ty: FieldType::List { items: vec![item] },
        optional: false,
    })
}

/// Schemas deep and wide: a few generated fields, lists nested up to 40 deep, up to 2000
/// optional fields (in groups up to 40 deep), names of thousands of segments.
fn schema_fields() -> impl Strategy<Value = Vec<FieldSchema>> {
    (
        prop::collection::vec(field_schema(), 0..6),
        0usize..40,
        prop::sample::select(vec!["", "a", "a.b"]),
        field_schema(),
        prop_oneof![Just(0usize), 0usize..50, 0usize..2000],
        prop_oneof![Just(0usize), 0usize..40],
    )
        .prop_map(|(mut fields, levels, name, inner, wide, deep)| {
            fields.push(chain(levels, name, inner));
            let group = ".s".repeat(deep);
            fields.extend((0..wide).map(|i| FieldSchema {
                name: format!("w{i}{group}"),
                ty: FieldType::F64,
                optional: true,
            }));
            fields
        })
}

/// List lengths a writer may claim.
const CLAIMED: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "300",
    "65536",
    "1000000",
    "4294967296",
    "18446744073709551615",
    "-1",
    "x",
];

/// Values for scalar fields and arrays.
const VALUES: &[&[u8]] = &[
    b"1",
    b"A",
    b"V7",
    b"2.5",
    b"[[[[1]]]]",
    b"{}",
    b"\xff",
    b"",
    b"(2, 2)",
    b"(4000000000000000000, 0)",
    b"(0,)",
    b"uint8",
    b"float64",
];

/// Decisions drawn from proptest's bytes, in turn.
struct Choices<'a>(&'a [u8], usize);

impl Choices<'_> {
    fn pick<'t, T>(&mut self, from: &'t [T]) -> &'t T {
        let b = self.0[self.1 % self.0.len()];
        self.1 += 1;
        &from[usize::from(b) % from.len()]
    }
}

/// Stored fields for `fields` below `prefix`: some present, list lengths claimed, the first
/// few elements stored. Recursion here is on the test's own main thread.
fn store(fields: &[FieldSchema], prefix: &str, c: &mut Choices, out: &mut Vec<(String, Vec<u8>)>) {
    for f in fields {
        if out.len() > 400 {
            return;
        }
        let path = match (prefix.is_empty(), f.name.is_empty()) {
            (true, _) => f.name.clone(),
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{}", f.name),
        };
        if !*c.pick(&[true, true, false]) {
            continue;
        }
        let child = |n: &str| {
            if path.is_empty() {
                n.to_owned()
            } else {
                format!("{path}.{n}")
            }
        };
        match &f.ty {
            FieldType::List { items } => {
                let len = *c.pick(CLAIMED);
                out.push((child("len"), len.as_bytes().to_vec()));
                let stored = len.parse::<usize>().unwrap_or(0).min(3);
                for i in 0..stored {
                    store(items, &child(&i.to_string()), c, out);
                }
            }
            FieldType::Array { .. } => {
                for part in ["dtype", "shape", "strides", "arr"] {
                    out.push((child(part), c.pick(VALUES).to_vec()));
                }
            }
            _ => out.push((
                if path.is_empty() {
                    "value".into()
                } else {
                    path.clone()
                },
                c.pick(VALUES).to_vec(),
            )),
        }
    }
}

/// A hash holding a message of a generated schema: its `@schema` (sometimes with junk nested
/// hundreds of levels deep, or another fingerprint), and fields.
fn schema_messages() -> impl Strategy<Value = Value> {
    (
        schema_fields(),
        prop::collection::vec(any::<u8>(), 16..128),
        prop_oneof![4 => Just(0usize), 1 => 0usize..300],
        any::<bool>(),
    )
        .prop_map(|(fields, choices, junk, forge)| {
            let mut out = Vec::new();
            store(&fields, "", &mut Choices(&choices, 0), &mut out);
            let schema = Schema::new("Fuzz".into(), fields);
            let mut json = schema.json.clone();
            if junk > 0 {
                let nest = format!("{}{}", "[".repeat(junk), "]".repeat(junk));
                json = json.replacen('{', &format!("{{\"junk\":{nest},"), 1);
            }
            let fp = if forge {
                "0123456789abcdef".to_owned()
            } else {
                schema.fingerprint_hex.clone()
            };
            let header = [
                ("@label", "Fuzz".to_owned()),
                ("@fp", fp),
                ("@schema", json),
            ];
            Value::Array(
                header
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.into_bytes()))
                    .chain(out)
                    .flat_map(|(k, v)| [Value::BulkString(k.into_bytes()), Value::BulkString(v)])
                    .collect(),
            )
        })
}

/// A sink that counts what is written and refuses more than `cap` bytes.
struct Counted {
    written: usize,
    cap: usize,
}

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len();
        if self.written > self.cap {
            return Err(std::io::Error::other("output beyond its bound"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes a message of a stored schema every way it is read: dynamically (summarised and in
/// full, then printed as JSON) and by a typed reader of its label (compatibility check, then
/// nested lists).
fn decode_schema_message(reply: &Value) {
    for arrays in [Arrays::Summary, Arrays::Full] {
        bounded("dynamic::decode", reply, || {
            let Ok(hash) = HashView::from_hgetall("fuzz", reply) else {
                return;
            };
            if let Ok(msg) = dynamic::decode("fuzz", &hash, arrays) {
                // What is printed is bounded by what is stored.
                let cap = 64 * size_of_value(reply) + (64 << 10);
                let mut out = Counted { written: 0, cap };
                if let Err(e) = serde_json::to_writer(&mut out, &msg.value) {
                    assert!(!e.is_io(), "JSON output beyond {cap} bytes");
                }
            }
        });
    }
    bounded("interpret_read::<FuzzReader>", reply, || {
        let _ = FuzzReader::interpret_read("fuzz", reply.clone());
    });
}

/// Lengths claimed at the paths a nested list type reads, values at a few elements.
fn nested_list_replies() -> impl Strategy<Value = Value> {
    let path = prop::collection::vec(
        prop_oneof![
            4 => (0usize..3).prop_map(|i| i.to_string()),
            1 => Just("len".to_owned()),
            1 => Just("x".to_owned()),
        ],
        0..4,
    )
    .prop_map(|segments| segments.join("."));
    let name = path.prop_map(|p| {
        if p.is_empty() || p.ends_with("len") || p.ends_with('x') {
            p
        } else {
            format!("{p}.len")
        }
    });
    let value = prop_oneof![
        prop::sample::select(CLAIMED).prop_map(|s| s.as_bytes().to_vec()),
        prop::sample::select(VALUES).prop_map(|s| s.to_vec()),
    ];
    (
        prop::collection::vec((name, value), 1..60),
        prop::sample::select(CLAIMED),
    )
        .prop_map(|(pairs, top)| {
            Value::Array(
                std::iter::once(("len".to_owned(), top.as_bytes().to_vec()))
                    .chain(pairs)
                    .flat_map(|(k, v)| [Value::BulkString(k.into_bytes()), Value::BulkString(v)])
                    .collect(),
            )
        })
}

/// Decodes `reply` as nested list types, each on a small stack with bounded memory.
fn decode_nested_lists(reply: &Value) {
    macro_rules! each {
        ($($t:ty),*) => {$(
            bounded(stringify!($t), reply, || {
                let _ = <$t as ReemMarshal>::interpret_read("fuzz", reply.clone());
            });
        )*};
    }
    each!(
        Vec<Vec<Option<String>>>,
        Vec<Option<Vec<Option<u8>>>>,
        Vec<Vec<Vec<Option<bool>>>>,
        Vec<Option<Pose2>>,
        Vec<Vec<f64>>,
        Vec<Option<Option<Pose2>>>
    );
}

/// Cases for the slower properties (schemas thousands of segments deep, lists of lists).
fn schema_cases() -> u32 {
    (cases() / 8).max(1)
}

#[test]
fn stored_schemas_deep_and_wide_give_typed_errors_in_bounded_memory_and_stack() {
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(schema_cases()));
    runner
        .run(&schema_messages(), |reply| {
            decode_schema_message(&reply);
            Ok(())
        })
        .unwrap();
}

#[test]
fn nested_list_replies_give_typed_errors_in_bounded_memory_and_stack() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&nested_list_replies(), |reply| {
            decode_nested_lists(&reply);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_worst_nested_lists_stay_within_the_bound() {
    // The reply of the issue: 400 inner lists each claiming 65 000 `None`s (the old bound
    // of one list), 5 kilobytes that decoded into 26 million elements.
    let mut pairs = vec![("len".to_owned(), b"400".to_vec())];
    pairs.extend((0..400).map(|i| (format!("{i}.len"), b"65000".to_vec())));
    let reply = Value::Array(
        pairs
            .into_iter()
            .flat_map(|(k, v)| [Value::BulkString(k.into_bytes()), Value::BulkString(v)])
            .collect(),
    );
    decode_nested_lists(&reply);
    let err = <Vec<Vec<Option<String>>>>::interpret_read("k", reply).unwrap_err();
    assert!(matches!(err, reem::Error::InvalidField { .. }), "{err}");
}

/// A message of `schema` with the stored `fields`, as a reply.
fn message(schema: &Schema, fields: &[(String, Vec<u8>)]) -> Value {
    let header = [
        ("@label", schema.label.as_bytes()),
        ("@fp", schema.fingerprint_hex.as_bytes()),
        ("@schema", schema.json.as_bytes()),
    ];
    Value::Array(
        header
            .iter()
            .map(|(k, v)| (k.as_bytes(), *v))
            .chain(fields.iter().map(|(k, v)| (k.as_bytes(), v.as_slice())))
            .flat_map(|(k, v)| [Value::BulkString(k.to_vec()), Value::BulkString(v.to_vec())])
            .collect(),
    )
}

#[test]
fn the_deepest_stored_schemas_decode_or_are_refused_on_a_small_stack() {
    let leaf = |name: &str| FieldSchema {
        name: name.to_owned(),
        ty: FieldType::U8,
        optional: false,
    };
    // The deepest a schema may be: lists nested 10 deep (24 levels of JSON), names 32
    // segments deep. Such messages decode and print, on a small stack.
    let name = |n: usize| vec!["s"; n].join(".");
    let mut deepest = vec![(
        Schema::new("Fuzz".into(), vec![leaf(&name(32))]),
        vec![(name(32), b"1".to_vec())],
    )];
    for (levels, list) in [(10, ""), (10, "a"), (5, "a.b.c.d.e")] {
        let schema = Schema::new("Fuzz".into(), vec![chain(levels, list, leaf(""))]);
        let mut fields = Vec::new();
        let mut path = String::new();
        for _ in 0..levels {
            path = [path.as_str(), list]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(".");
            let len = if path.is_empty() {
                "len".to_owned()
            } else {
                format!("{path}.len")
            };
            fields.push((len, b"1".to_vec()));
            path = if path.is_empty() {
                "0".to_owned()
            } else {
                format!("{path}.0")
            };
        }
        fields.push((path, b"7".to_vec()));
        deepest.push((schema, fields));
    }
    for (schema, fields) in &deepest {
        let reply = message(schema, fields);
        decode_schema_message(&reply);
        let json = on_small_stack(|| {
            let hash = HashView::from_hgetall("fuzz", &reply).unwrap();
            let msg = dynamic::decode("fuzz", &hash, Arrays::Full).unwrap();
            serde_json::to_string(&msg.value).unwrap()
        });
        assert!(json.contains('1') || json.contains('7'), "{json}");
    }
    // One level deeper, or thousands of segments: refused, on a small stack too.
    let mut refused: Vec<Vec<FieldSchema>> = vec![vec![leaf(&name(33))], vec![leaf(&name(20_000))]];
    for levels in [11, 40, 60] {
        refused.push(vec![chain(levels, "", leaf(""))]);
        refused.push(vec![chain(levels, "a", leaf(""))]);
    }
    for fields in refused {
        let schema = Schema::new("Fuzz".into(), fields);
        let reply = message(&schema, &[("len".into(), b"1".to_vec())]);
        decode_schema_message(&reply);
        let err = on_small_stack(|| {
            let hash = HashView::from_hgetall("fuzz", &reply).unwrap();
            dynamic::decode("fuzz", &hash, Arrays::Full).map(|_| ())
        })
        .unwrap_err();
        assert!(
            matches!(&err, reem::Error::InvalidField { field, .. } if field == "@schema"),
            "{err}"
        );
    }
}
