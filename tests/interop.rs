//! Interop with the real Python `redis` and `numpy`: arrays reem writes are read by the
//! seed's `NumpyMarshaller.interpret_read` logic (`tests/python/seed_numpy.py`), and arrays
//! the seed's `NumpyMarshaller.write` stores are read by reem, both through a private Redis.
//!
//! Python comes from `$REEM_PYTHON` (set by `scripts/test.sh`), else from
//! `scripts/interop-env.sh` (a venv with `redis` and `numpy`). When neither works the tests
//! print a loud SKIPPED message and pass, unless `REEM_INTEROP_REQUIRED=1`, which makes
//! them fail instead.

mod common;

#[path = "../examples/camera.rs"]
#[allow(dead_code)]
mod camera;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::Harness;
use nalgebra::{DMatrix, DVector, Isometry3, Matrix2x3, Vector3};
use ndarray::{arr0, array, Array0, Array1, Array2, Array3, ArrayD};
use reem::ReemMarshal;
use serde_json::Value;

const SEED_NUMPY: &str = "tests/python/seed_numpy.py";

/// The Python interpreter with `redis` and `numpy`, or `None` (after a loud message).
fn python() -> Option<&'static str> {
    static PYTHON: OnceLock<Option<String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let reason = match std::env::var("REEM_PYTHON") {
            Ok(p) if !p.is_empty() => return Some(p),
            _ => match Command::new("scripts/interop-env.sh").output() {
                Ok(out) if out.status.success() => {
                    return Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
                }
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                Err(e) => format!("cannot run scripts/interop-env.sh: {e}"),
            },
        };
        if std::env::var("REEM_INTEROP_REQUIRED").is_ok_and(|v| v == "1") {
            panic!("REEM_INTEROP_REQUIRED=1 but Python is unavailable: {reason}");
        }
        // Straight to stderr: the test harness would hide `eprintln!` of a passing test.
        let bang = "!".repeat(78);
        let _ = writeln!(
            std::io::stderr(),
            "\n{bang}\n!!! PYTHON INTEROP TESTS SKIPPED: no Python with redis and numpy\n\
             !!! reason: {reason}\n{bang}"
        );
        None
    });
    if found.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "!!! SKIPPED: no Python with redis and numpy"
        );
    }
    found.as_deref()
}

/// Runs `python args…` and returns its standard output; panics with its stderr on failure.
fn run(python: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// What the seed's `interpret_read` made of an array: numpy's dtype, shape and values
/// (flattened in C order; floats as Python's `repr`).
#[derive(Debug)]
struct Seen {
    dtype: String,
    shape: Vec<usize>,
    values: Vec<Value>,
}

impl Seen {
    fn floats(&self) -> Vec<f64> {
        self.values
            .iter()
            .map(|v| v.as_str().and_then(|s| s.parse().ok()).expect("a float"))
            .collect()
    }

    fn ints(&self) -> Vec<i64> {
        self.values
            .iter()
            .map(|v| v.as_i64().expect("an integer"))
            .collect()
    }

    fn is(&self, dtype: &str, shape: &[usize]) {
        assert_eq!((self.dtype.as_str(), self.shape.as_slice()), (dtype, shape));
    }
}

/// Reads every `spec` (a key, or `key:field`) with the seed's reading logic in Python.
fn python_reads(python: &str, h: &Harness, specs: &[&str]) -> Vec<Seen> {
    let url = h.server.url();
    let mut args = vec![SEED_NUMPY, url.as_str(), "read"];
    args.extend_from_slice(specs);
    let out: Value = serde_json::from_str(&run(python, &args)).expect("json from python");
    specs
        .iter()
        .map(|s| {
            let v = &out[*s];
            Seen {
                dtype: v["dtype"].as_str().expect("dtype").to_owned(),
                shape: serde_json::from_value(v["shape"].clone()).expect("shape"),
                values: v["values"].as_array().expect("values").clone(),
            }
        })
        .collect()
}

fn widen<T: Copy + Into<f64>>(values: impl IntoIterator<Item = T>) -> Vec<f64> {
    values.into_iter().map(Into::into).collect()
}

fn image() -> Array3<u8> {
    Array3::from_shape_fn((4, 5, 3), |(i, j, k)| {
        ((i * 15 + j * 3 + k) * 7 % 256) as u8
    })
}

fn depth() -> Array2<f32> {
    Array2::from_shape_fn((3, 4), |(i, j)| i as f32 - 0.1 * j as f32)
}

fn pose() -> Isometry3<f64> {
    Isometry3::new(Vector3::new(1.0, -2.0, 0.5), Vector3::new(0.1, 0.2, -0.3))
}

fn calib() -> Matrix2x3<f64> {
    Matrix2x3::new(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
}

#[test]
fn python_reads_top_level_arrays_written_by_reem() {
    let Some(py) = python() else { return };
    let h = Harness::start();
    let f64_1d = array![0.1, -2.5, 1e300, f64::MIN_POSITIVE, f64::INFINITY];
    let i16_2d = array![[i16::MIN, -1, 0], [1, 2, i16::MAX]];
    let transposed = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].reversed_axes();
    let dvec = DVector::from_vec(vec![7u32, 8, 9]);
    h.kv.set("rs/u8_3d", &image()).unwrap();
    h.kv.set("rs/f32_2d", &depth()).unwrap();
    h.kv.set("rs/f64_1d", &f64_1d).unwrap();
    h.kv.set("rs/i16_2d", &i16_2d).unwrap();
    h.kv.set("rs/f64_0d", &arr0(-0.75)).unwrap();
    h.kv.set("rs/transposed", &transposed).unwrap();
    h.kv.set("rs/matrix", &calib()).unwrap();
    h.kv.set("rs/dvector", &dvec).unwrap();
    h.kv.set("rs/quaternion", &pose().rotation).unwrap();

    let seen = python_reads(
        py,
        &h,
        &[
            "rs/u8_3d",
            "rs/f32_2d",
            "rs/f64_1d",
            "rs/i16_2d",
            "rs/f64_0d",
            "rs/transposed",
            "rs/matrix",
            "rs/dvector",
            "rs/quaternion",
        ],
    );
    seen[0].is("uint8", &[4, 5, 3]);
    assert_eq!(
        seen[0].ints(),
        image().iter().map(|v| i64::from(*v)).collect::<Vec<_>>()
    );
    seen[1].is("float32", &[3, 4]);
    assert_eq!(seen[1].floats(), widen(depth().iter().copied()));
    seen[2].is("float64", &[5]);
    assert_eq!(seen[2].floats(), f64_1d.to_vec());
    seen[3].is("int16", &[2, 3]);
    assert_eq!(seen[3].ints(), [-32768, -1, 0, 1, 2, 32767]);
    seen[4].is("float64", &[]);
    assert_eq!(seen[4].floats(), [-0.75]);
    seen[5].is("float64", &[3, 2]);
    assert_eq!(seen[5].floats(), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    seen[6].is("float64", &[2, 3]);
    assert_eq!(
        seen[6].floats(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "row-major"
    );
    seen[7].is("uint32", &[3]);
    assert_eq!(seen[7].ints(), [7, 8, 9]);
    let q = pose().rotation;
    seen[8].is("float64", &[4]);
    assert_eq!(seen[8].floats(), [q.i, q.j, q.k, q.w], "x, y, z, w");
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Sensors")]
struct Sensors {
    seq: u64,
    image: Array3<u8>,
    depth: Option<Array2<f32>>,
    ranges: Vec<f64>,
    counts: Array1<i16>,
    calib: Matrix2x3<f64>,
    pose: Isometry3<f64>,
}

#[test]
fn python_reads_array_fields_of_a_reem_struct() {
    let Some(py) = python() else { return };
    let h = Harness::start();
    let fields = Sensors {
        seq: 3,
        image: image(),
        depth: Some(depth()),
        ranges: vec![0.5, 0.25, 1e-300],
        counts: array![-7, 0, 7, 300],
        calib: calib(),
        pose: pose(),
    };
    h.kv.set("rs/fields", &fields).unwrap();
    assert_eq!(h.kv.get::<Sensors>("rs/fields").unwrap(), fields);
    let seen = python_reads(
        py,
        &h,
        &[
            "rs/fields:image",
            "rs/fields:depth",
            "rs/fields:ranges",
            "rs/fields:counts",
            "rs/fields:calib",
            "rs/fields:pose.translation",
            "rs/fields:pose.rotation",
        ],
    );
    seen[0].is("uint8", &[4, 5, 3]);
    assert_eq!(
        seen[0].ints(),
        image().iter().map(|v| i64::from(*v)).collect::<Vec<_>>()
    );
    seen[1].is("float32", &[3, 4]);
    assert_eq!(seen[1].floats(), widen(depth().iter().copied()));
    seen[2].is("float64", &[3]);
    assert_eq!(seen[2].floats(), fields.ranges);
    seen[3].is("int16", &[4]);
    assert_eq!(seen[3].ints(), [-7, 0, 7, 300]);
    seen[4].is("float64", &[2, 3]);
    assert_eq!(
        seen[4].floats(),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "row-major"
    );
    seen[5].is("float64", &[3]);
    assert_eq!(seen[5].floats(), [1.0, -2.0, 0.5]);
    let q = fields.pose.rotation;
    seen[6].is("float64", &[4]);
    assert_eq!(seen[6].floats(), [q.i, q.j, q.k, q.w], "x, y, z, w");
}

#[test]
fn reem_reads_arrays_written_by_the_seed_numpy_marshaller() {
    let Some(py) = python() else { return };
    let h = Harness::start();
    let written = run(py, &[SEED_NUMPY, &h.server.url(), "write", "py"]);
    assert!(written.contains("be_f8"), "{written}");

    let f64_2d = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64 / 4.0 - 1.0);
    assert_eq!(h.kv.get::<Array2<f64>>("py/f64_2d").unwrap(), f64_2d);
    let m = h.kv.get::<DMatrix<f64>>("py/f64_2d").unwrap();
    assert_eq!((m.nrows(), m.ncols(), m[(1, 0)]), (3, 4, 0.0));
    assert!(h.kv.get::<Array2<f32>>("py/f64_2d").is_err());

    let u8_3d = Array3::from_shape_fn((4, 5, 3), |(i, j, k)| {
        ((i * 15 + j * 3 + k) * 7 % 256) as u8
    });
    assert_eq!(h.kv.get::<Array3<u8>>("py/u8_3d").unwrap(), u8_3d);

    let i16_1d = array![-32768i16, -1, 0, 1, 32767];
    assert_eq!(h.kv.get::<Array1<i16>>("py/i16_1d").unwrap(), i16_1d);
    assert_eq!(h.kv.get::<Vec<i16>>("py/i16_1d").unwrap(), i16_1d.to_vec());
    assert_eq!(
        h.kv.get::<DVector<i16>>("py/i16_1d").unwrap().as_slice(),
        i16_1d.as_slice().unwrap()
    );

    assert_eq!(h.kv.get::<Array0<f64>>("py/f64_0d").unwrap(), arr0(3.25));
    assert_eq!(h.kv.get::<ArrayD<f64>>("py/f64_0d").unwrap().ndim(), 0);

    assert_eq!(h.hget("py/be_f8", "dtype").unwrap(), b">f8");
    assert_eq!(
        h.kv.get::<Array1<f64>>("py/be_f8").unwrap(),
        array![1.5, -2.0, 1e300, 0.1]
    );
    assert_eq!(h.hget("py/be_i4_2d", "dtype").unwrap(), b">i4");
    assert_eq!(
        h.kv.get::<Array2<i32>>("py/be_i4_2d").unwrap(),
        array![[1, -2], [70000, -70000]]
    );

    // numpy's transposed view: the seed stores C-order bytes with Fortran strides.
    assert_eq!(h.hget("py/f32_transposed", "strides").unwrap(), b"(4, 12)");
    assert_eq!(
        h.kv.get::<Array2<f32>>("py/f32_transposed").unwrap(),
        array![[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    );
    assert_eq!(
        h.kv.get::<Array1<bool>>("py/bool_1d").unwrap(),
        array![true, false, true]
    );
}

/// The Python snippet in `examples/camera.rs`'s docs (copied to the README), with `url`.
fn camera_snippet(url: &str) -> String {
    let source = std::fs::read_to_string(Path::new("examples/camera.rs")).unwrap();
    let snippet: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .skip_while(|l| *l != "```python")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect();
    assert!(
        (3..=10).contains(&snippet.len()),
        "snippet of {} lines",
        snippet.len()
    );
    snippet.join("\n").replace("redis://127.0.0.1:6379", url)
}

#[test]
fn camera_example_snippet_reads_the_frame_in_python() {
    let Some(py) = python() else { return };
    let h = Harness::start();
    let frame = camera::sample_frame();
    h.kv.set(camera::KEY, &frame).unwrap();
    let out = run(py, &["-c", &camera_snippet(&h.server.url())]);
    // shape, dtype, pixel [10, 20], translation x y z, rotation x y z w (90° about z)
    let expected = "(480, 640, 3) uint8 [10 20 30] [1.  2.  0.5] [0.         0.         0.70710678 0.70710678]";
    assert_eq!(out.trim(), expected);
}
