//! Property: any value of a rich message type round-trips exactly through a real Redis.

mod common;

use common::Harness;
use proptest::prelude::*;
use reem::ReemMarshal;

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Point {
    x: f64,
    y: f32,
}

#[derive(ReemMarshal, Debug, Clone, Copy, PartialEq)]
enum Kind {
    A,
    B,
    C,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Rich {
    id: u64,
    delta: i128,
    small: i8,
    ratio: f64,
    flag: bool,
    letter: char,
    name: String,
    kind: Kind,
    origin: Point,
    path: Vec<Point>,
    maybe: Option<Point>,
    maybe_num: Option<i32>,
    samples: Vec<f32>,
    bytes: Vec<u8>,
    labels: Vec<String>,
    #[reem(json)]
    extra: std::collections::BTreeMap<String, i64>,
}

/// Floats without NaN (whose payload is not kept; NaN has its own test in kv.rs).
fn f64s() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("not NaN", |f| !f.is_nan())
}

fn f32s() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("not NaN", |f| !f.is_nan())
}

fn point() -> impl Strategy<Value = Point> {
    (f64s(), f32s()).prop_map(|(x, y)| Point { x, y })
}

fn rich() -> impl Strategy<Value = Rich> {
    let kind = prop_oneof![Just(Kind::A), Just(Kind::B), Just(Kind::C)];
    (
        (
            any::<u64>(),
            any::<i128>(),
            any::<i8>(),
            f64s(),
            any::<bool>(),
            any::<char>(),
            ".*",
            kind,
        ),
        (
            point(),
            prop::collection::vec(point(), 0..5),
            prop::option::of(point()),
            prop::option::of(any::<i32>()),
            prop::collection::vec(f32s(), 0..20),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(".*", 0..4),
            prop::collection::btree_map(".{0,8}", any::<i64>(), 0..4),
        ),
    )
        .prop_map(
            |(
                (id, delta, small, ratio, flag, letter, name, kind),
                (origin, path, maybe, maybe_num, samples, bytes, labels, extra),
            )| Rich {
                id,
                delta,
                small,
                ratio,
                flag,
                letter,
                name,
                kind,
                origin,
                path,
                maybe,
                maybe_num,
                samples,
                bytes,
                labels,
                extra,
            },
        )
}

/// Compares floats by bits, so that -0.0 and 0.0 are told apart.
fn same(a: &Rich, b: &Rich) -> bool {
    let pt =
        |p: &Point, q: &Point| p.x.to_bits() == q.x.to_bits() && p.y.to_bits() == q.y.to_bits();
    a == b
        && a.ratio.to_bits() == b.ratio.to_bits()
        && pt(&a.origin, &b.origin)
        && a.path.iter().zip(&b.path).all(|(p, q)| pt(p, q))
        && a.samples
            .iter()
            .zip(&b.samples)
            .all(|(p, q)| p.to_bits() == q.to_bits())
}

#[test]
fn rich_struct_of_random_values_round_trips_exactly() {
    let h = Harness::start();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    runner
        .run(&rich(), |value| {
            h.kv.set("prop", &value).unwrap();
            let back: Rich = h.kv.get("prop").unwrap();
            prop_assert!(same(&value, &back), "{value:?}\n!=\n{back:?}");
            Ok(())
        })
        .unwrap();
}
