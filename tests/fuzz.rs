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
