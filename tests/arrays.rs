//! Arrays: `ndarray` and `nalgebra` values round-trip through a private Redis in numpy's
//! layout (`arr`, `dtype`, `shape`, `strides`), and hostile stored arrays are errors. Each
//! test taking a `Harness` runs on a private redis-server and on a local Redis Cluster.

mod common;

use common::{on_both, Harness};
use nalgebra::{
    DMatrix, DVector, Isometry3, Matrix2x3, Matrix3, Point3, SMatrix, SVector, Translation3,
    UnitQuaternion, Vector3,
};
use ndarray::{arr0, array, s, Array0, Array1, Array2, Array3, Array4, ArrayD, IxDyn};
use reem::Fields;
use reem::{Error, ReemMarshal};

/// The little-endian bytes of `values`, as numpy's `tobytes()` gives them.
fn le_f64(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn le_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Asserts an `InvalidField` error on `field`, and returns its message.
fn assert_invalid(err: Error, field: &str) -> String {
    match &err {
        Error::InvalidField { field: f, .. } => assert_eq!(f, field, "{err}"),
        other => panic!("expected InvalidField on {field}, got {other:?}"),
    }
    err.to_string()
}

macro_rules! element_round_trip {
    ($($name:ident: $t:ty => $dtype:literal, [$($v:expr),*];)*) => {$(
        on_both!($name);
        fn $name(h: Harness) {
            let a: Array1<$t> = array![$($v),*];
            h.kv.set("a", &a).unwrap();
            assert_eq!(h.kv.get::<Array1<$t>>("a").unwrap(), a);
            assert_eq!(h.hget("a", "dtype").unwrap(), $dtype.as_bytes());
            let le: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(h.hget("a", "arr").unwrap(), le);
            let stride = format!("({},)", std::mem::size_of::<$t>());
            assert_eq!(h.hget("a", "strides").unwrap(), stride.as_bytes());
        }
    )*};
}

element_round_trip! {
    u8_array_round_trips: u8 => "uint8", [0, 1, 255];
    u16_array_round_trips: u16 => "uint16", [0, 258, u16::MAX];
    u32_array_round_trips: u32 => "uint32", [0, 0x0102_0304, u32::MAX];
    u64_array_round_trips: u64 => "uint64", [0, 0x0102_0304_0506_0708, u64::MAX];
    i8_array_round_trips: i8 => "int8", [i8::MIN, -1, i8::MAX];
    i16_array_round_trips: i16 => "int16", [i16::MIN, -2, i16::MAX];
    i32_array_round_trips: i32 => "int32", [i32::MIN, -3, i32::MAX];
    i64_array_round_trips: i64 => "int64", [i64::MIN, -4, i64::MAX];
    f32_array_round_trips: f32 => "float32", [f32::MIN_POSITIVE, -0.5, f32::INFINITY];
    f64_array_round_trips: f64 => "float64", [f64::MIN_POSITIVE, -0.5, f64::NEG_INFINITY];
}

on_both!(
    bool_array_round_trips_as_numpy_bool,
    nan_payloads_round_trip_bit_for_bit,
    every_dimension_round_trips_with_numpy_shape_and_strides,
    dynamic_dimension_arrays_round_trip_at_any_rank,
    empty_arrays_round_trip,
    transposed_array_is_written_in_c_order,
    sliced_array_with_steps_is_written_in_c_order,
    views_are_written_with_set_view_and_read_back_owned,
    struct_fields_hold_arrays_under_their_names,
    optional_array_field_none_stores_nothing_and_reads_none,
    large_image_round_trips,
    non_symmetric_matrix_is_stored_row_major,
    matrix_stored_by_numpy_reads_with_the_same_indices,
    vectors_are_one_dimensional_and_read_column_arrays_too,
    square_and_dynamic_matrices_of_both_float_types_round_trip,
    poses_round_trip_with_quaternion_in_xyzw_order,
    quaternion_stored_unnormalized_is_normalized_and_zero_is_refused,
    big_endian_arrays_are_byte_swapped,
    type_string_dtypes_are_accepted,
    reading_another_element_type_is_an_error,
    dtypes_reem_cannot_represent_are_named_in_the_error,
    shape_claiming_ten_to_the_22_elements_is_refused_without_allocating,
    negative_empty_and_malformed_shapes_are_refused,
    code_in_dtype_is_refused_and_never_run,
    arr_length_not_a_multiple_of_the_item_size_is_refused,
    arr_too_short_or_too_long_is_refused,
    wrong_number_of_dimensions_for_a_fixed_dimension_array_is_refused,
    matrix_of_the_wrong_static_size_is_refused,
    bool_bytes_other_than_zero_and_one_are_refused,
    missing_array_fields_are_named,
    hostile_array_inside_a_struct_names_the_nested_field,
);

fn bool_array_round_trips_as_numpy_bool(h: Harness) {
    let a = array![[true, false], [false, true]];
    h.kv.set("b", &a).unwrap();
    assert_eq!(h.kv.get::<Array2<bool>>("b").unwrap(), a);
    assert_eq!(h.hget("b", "dtype").unwrap(), b"bool");
    assert_eq!(h.hget("b", "arr").unwrap(), [1, 0, 0, 1]);
}

fn nan_payloads_round_trip_bit_for_bit(h: Harness) {
    let a = array![f64::NAN, -f64::NAN, f64::from_bits(0x7ff8_0000_dead_beef)];
    h.kv.set("nan", &a).unwrap();
    let back = h.kv.get::<Array1<f64>>("nan").unwrap();
    let bits = |x: &Array1<f64>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&a));
}

fn every_dimension_round_trips_with_numpy_shape_and_strides(h: Harness) {
    let a0: Array0<f64> = arr0(2.5);
    let a1 = Array1::from_iter((0..5).map(f64::from));
    let a2 = Array2::from_shape_fn((2, 3), |(i, j)| (10 * i + j) as i32);
    let a3 = Array3::from_shape_fn((4, 3, 2), |(i, j, k)| (i * 6 + j * 2 + k) as u8);
    let a4 = Array4::from_shape_fn((2, 3, 4, 5), |(i, j, k, l)| (i + j + k + l) as f32);
    h.kv.set("a0", &a0).unwrap();
    h.kv.set("a1", &a1).unwrap();
    h.kv.set("a2", &a2).unwrap();
    h.kv.set("a3", &a3).unwrap();
    h.kv.set("a4", &a4).unwrap();
    assert_eq!(h.kv.get::<Array0<f64>>("a0").unwrap(), a0);
    assert_eq!(h.kv.get::<Array1<f64>>("a1").unwrap(), a1);
    assert_eq!(h.kv.get::<Array2<i32>>("a2").unwrap(), a2);
    assert_eq!(h.kv.get::<Array3<u8>>("a3").unwrap(), a3);
    assert_eq!(h.kv.get::<Array4<f32>>("a4").unwrap(), a4);
    for (key, shape, strides) in [
        ("a0", "()", "()"),
        ("a1", "(5,)", "(8,)"),
        ("a2", "(2, 3)", "(12, 4)"),
        ("a3", "(4, 3, 2)", "(6, 2, 1)"),
        ("a4", "(2, 3, 4, 5)", "(240, 80, 20, 4)"),
    ] {
        assert_eq!(h.hget(key, "shape").unwrap(), shape.as_bytes(), "{key}");
        assert_eq!(h.hget(key, "strides").unwrap(), strides.as_bytes(), "{key}");
    }
    assert_eq!(h.hget("a0", "arr").unwrap(), 2.5f64.to_le_bytes());
    assert_eq!(
        h.hkeys("a3"),
        ["@fp", "@label", "@schema", "arr", "dtype", "shape", "strides"]
    );
}

fn dynamic_dimension_arrays_round_trip_at_any_rank(h: Harness) {
    for shape in [vec![], vec![3], vec![2, 2], vec![1, 2, 3, 2, 1]] {
        let n: usize = shape.iter().product();
        let a = ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| i as i64).collect()).unwrap();
        h.kv.set("d", &a).unwrap();
        assert_eq!(h.kv.get::<ArrayD<i64>>("d").unwrap(), a);
    }
}

fn empty_arrays_round_trip(h: Harness) {
    let a = Array2::<f64>::zeros((0, 4));
    h.kv.set("e", &a).unwrap();
    assert_eq!(h.kv.get::<Array2<f64>>("e").unwrap(), a);
    assert_eq!(h.hget("e", "shape").unwrap(), b"(0, 4)");
    assert_eq!(h.hget("e", "arr").unwrap(), b"");
}

fn transposed_array_is_written_in_c_order(h: Harness) {
    let a = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let t = a.t().to_owned(); // an owned array in Fortran order
    assert!(t.as_slice().is_none());
    h.kv.set("t", &t).unwrap();
    assert_eq!(h.hget("t", "shape").unwrap(), b"(3, 2)");
    assert_eq!(
        h.hget("t", "arr").unwrap(),
        le_f64(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
    );
    assert_eq!(h.kv.get::<Array2<f64>>("t").unwrap(), t);
}

fn sliced_array_with_steps_is_written_in_c_order(h: Harness) {
    let big = Array2::from_shape_fn((6, 8), |(i, j)| (i * 8 + j) as u16);
    let sliced = big.slice(s![1..5;2, ..;3]).to_owned();
    let mut owned_strided = big.clone();
    owned_strided.slice_collapse(s![1..5;2, ..;3]);
    assert!(owned_strided.as_slice().is_none());
    h.kv.set("s", &owned_strided).unwrap();
    let back = h.kv.get::<Array2<u16>>("s").unwrap();
    assert_eq!(back, sliced);
    assert_eq!(back, array![[8, 11, 14], [24, 27, 30]]);
}

fn views_are_written_with_set_view_and_read_back_owned(h: Harness) {
    let m = Array2::from_shape_fn((4, 5), |(i, j)| (i * 5 + j) as f32);
    h.kv.set_view("rows", &m.slice(s![1..3, ..])).unwrap();
    h.kv.set_view("cols", &m.slice(s![.., 1..3])).unwrap();
    h.kv.set_view("t", &m.t()).unwrap();
    h.kv.set_view("whole", &m).unwrap();
    assert_eq!(
        h.kv.get::<Array2<f32>>("rows").unwrap(),
        m.slice(s![1..3, ..])
    );
    assert_eq!(
        h.kv.get::<Array2<f32>>("cols").unwrap(),
        m.slice(s![.., 1..3])
    );
    assert_eq!(h.kv.get::<Array2<f32>>("t").unwrap(), m.t());
    assert_eq!(h.kv.get::<Array2<f32>>("whole").unwrap(), m);
    assert_eq!(
        h.hget("cols", "arr").unwrap(),
        le_f32(&[1., 2., 6., 7., 11., 12., 16., 17.])
    );
    // A view stores what `set` stores for the owned array, label and schema included.
    h.kv.set("owned", &m.t().to_owned()).unwrap();
    for field in [
        "@label", "@fp", "@schema", "shape", "strides", "dtype", "arr",
    ] {
        assert_eq!(h.hget("t", field), h.hget("owned", field), "{field}");
    }
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.CameraFrame")]
struct CameraFrame {
    seq: u64,
    image: Array3<u8>,
    depth: Option<Array2<f32>>,
    pose: Isometry3<f64>,
    points: Vec<f64>,
}

fn frame(depth: Option<Array2<f32>>) -> CameraFrame {
    CameraFrame {
        seq: 9,
        image: Array3::from_shape_fn((4, 6, 3), |(i, j, k)| (i * 18 + j * 3 + k) as u8),
        depth,
        pose: Isometry3::new(Vector3::new(1.0, 2.0, 3.0), Vector3::new(0.1, -0.2, 0.3)),
        points: vec![0.5, 1.5],
    }
}

fn struct_fields_hold_arrays_under_their_names(h: Harness) {
    let f = frame(Some(Array2::from_elem((2, 3), 0.25)));
    h.kv.set("cam", &f).unwrap();
    assert_eq!(h.kv.get::<CameraFrame>("cam").unwrap(), f);
    assert_eq!(
        h.hkeys("cam"),
        [
            "@fp",
            "@label",
            "@schema",
            "depth.arr",
            "depth.dtype",
            "depth.shape",
            "depth.strides",
            "image.arr",
            "image.dtype",
            "image.shape",
            "image.strides",
            "points.arr",
            "points.dtype",
            "points.shape",
            "points.strides",
            "pose.rotation.arr",
            "pose.rotation.dtype",
            "pose.rotation.shape",
            "pose.rotation.strides",
            "pose.translation.arr",
            "pose.translation.dtype",
            "pose.translation.shape",
            "pose.translation.strides",
            "seq",
        ]
    );
    assert_eq!(h.hget("cam", "image.shape").unwrap(), b"(4, 6, 3)");
    assert_eq!(h.hget("cam", "depth.dtype").unwrap(), b"float32");
    assert_eq!(h.hget("cam", "points.shape").unwrap(), b"(2,)");
}

fn optional_array_field_none_stores_nothing_and_reads_none(h: Harness) {
    let f = frame(None);
    h.kv.set("cam", &f).unwrap();
    assert!(!h.hkeys("cam").iter().any(|k| k.starts_with("depth")));
    assert_eq!(h.kv.get::<CameraFrame>("cam").unwrap().depth, None);
    let image: Array3<u8> =
        h.kv.get_field("cam", &CameraFrame::fields().image())
            .unwrap();
    assert_eq!(image, f.image);
}

fn large_image_round_trips(h: Harness) {
    let image = Array3::from_shape_fn((480, 640, 3), |(i, j, k)| (i ^ j ^ k) as u8);
    h.kv.set("big", &image).unwrap();
    assert_eq!(h.kv.get::<Array3<u8>>("big").unwrap(), image);
    assert_eq!(h.hget("big", "strides").unwrap(), b"(1920, 3, 1)");
}

on_both!(large_reads_one_after_another_see_their_own_bytes);
/// Large reads on one thread reuse one read buffer (reem keeps the reply buffer of a copied
/// array for the next large read): every read must see its own bytes, never an earlier
/// reply's, whatever the element type, size and byte order of the reads around it.
fn large_reads_one_after_another_see_their_own_bytes(h: Harness) {
    let n = 100_000; // 800 KiB of f64: above the size whose buffer is kept
    let a = Array1::from_shape_fn(n, |i| i as f64 + 0.5);
    let b = Array1::from_shape_fn(n, |i| -(i as f64) * 3.0);
    h.kv.set("a", &a).unwrap();
    h.kv.set("b", &b).unwrap();
    for _ in 0..3 {
        assert_eq!(h.kv.get::<Array1<f64>>("a").unwrap(), a);
        assert_eq!(h.kv.get::<Array1<f64>>("b").unwrap(), b);
    }
    // Slightly shorter: the kept buffer is cut to size; the tail of the earlier reply
    // must not show.
    let short = Array1::from_shape_fn(n - 1000, |i| (i % 7) as f64);
    h.kv.set("short", &short).unwrap();
    assert_eq!(h.kv.get::<Array1<f64>>("short").unwrap(), short);
    // The same bytes as other element types and a big-endian array.
    let f32s = Array2::from_shape_fn((400, 500), |(i, j)| (i * 500 + j) as f32 * 0.25);
    h.kv.set("f32", &f32s).unwrap();
    assert_eq!(h.kv.get::<Array2<f32>>("f32").unwrap(), f32s);
    let be: Vec<u8> = (0..n).flat_map(|i| (i as f64).to_be_bytes()).collect();
    let shape = format!("({n},)");
    h.write_raw(
        "be",
        &[("arr", &be), ("dtype", b">f8"), ("shape", shape.as_bytes())],
    );
    let back = h.kv.get::<Array1<f64>>("be").unwrap();
    assert!(back.iter().enumerate().all(|(i, v)| *v == i as f64));
    // nalgebra: a large dynamic vector and matrix (the matrix decoded element by element).
    let v = DVector::from_fn(n, |i, _| i as f64 * 0.125);
    let m = DMatrix::from_fn(300, 200, |i, j| (i * 1000 + j) as f64);
    h.kv.set("v", &v).unwrap();
    h.kv.set("m", &m).unwrap();
    for _ in 0..2 {
        assert_eq!(h.kv.get::<DVector<f64>>("v").unwrap(), v);
        assert_eq!(h.kv.get::<DMatrix<f64>>("m").unwrap(), m);
    }
    // A one-byte array takes a reply buffer as its own: the next read still decodes.
    let image = Array1::from_shape_fn(7 * n, |i| (i % 251) as u8);
    h.kv.set("image", &image).unwrap();
    assert_eq!(h.kv.get::<Array1<u8>>("image").unwrap(), image);
    assert_eq!(h.kv.get::<Array1<f64>>("a").unwrap(), a);
    assert_eq!(h.kv.get::<Array1<u8>>("image").unwrap(), image);
}

fn non_symmetric_matrix_is_stored_row_major(h: Harness) {
    let m = Matrix2x3::new(1.0, 2.0, 3.0, 4.0, 5.0, 6.0);
    h.kv.set("m", &m).unwrap();
    assert_eq!(h.hget("m", "shape").unwrap(), b"(2, 3)");
    assert_eq!(h.hget("m", "strides").unwrap(), b"(24, 8)");
    assert_eq!(
        h.hget("m", "arr").unwrap(),
        le_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert_eq!(h.kv.get::<Matrix2x3<f64>>("m").unwrap(), m);

    let d = DMatrix::from_row_slice(3, 2, &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
    h.kv.set("d", &d).unwrap();
    assert_eq!(h.hget("d", "shape").unwrap(), b"(3, 2)");
    assert_eq!(
        h.hget("d", "arr").unwrap(),
        le_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert_eq!(h.kv.get::<DMatrix<f32>>("d").unwrap(), d);
}

fn matrix_stored_by_numpy_reads_with_the_same_indices(h: Harness) {
    h.write_raw(
        "np",
        &[
            ("arr", &le_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
            ("dtype", b"float64"),
            ("shape", b"(2, 3)"),
            ("strides", b"(24, 8)"),
        ],
    );
    let m = h.kv.get::<Matrix2x3<f64>>("np").unwrap();
    assert_eq!(m[(0, 2)], 3.0);
    assert_eq!(m[(1, 0)], 4.0);
    let d = h.kv.get::<DMatrix<f64>>("np").unwrap();
    assert_eq!(
        d,
        DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    let a = h.kv.get::<Array2<f64>>("np").unwrap();
    assert_eq!(a[[1, 0]], 4.0);
}

fn vectors_are_one_dimensional_and_read_column_arrays_too(h: Harness) {
    let v = SVector::<f64, 4>::new(1.0, 2.0, 3.0, 4.0);
    h.kv.set("v", &v).unwrap();
    assert_eq!(h.hget("v", "shape").unwrap(), b"(4,)");
    assert_eq!(h.kv.get::<SVector<f64, 4>>("v").unwrap(), v);
    let d = DVector::from_vec(vec![1u16, 2, 3]);
    h.kv.set("d", &d).unwrap();
    assert_eq!(h.hget("d", "shape").unwrap(), b"(3,)");
    assert_eq!(h.kv.get::<DVector<u16>>("d").unwrap(), d);
    h.write_raw(
        "col",
        &[
            ("arr", &le_f32(&[1.0, 2.0, 3.0])),
            ("dtype", b"float32"),
            ("shape", b"(3, 1)"),
        ],
    );
    assert_eq!(
        h.kv.get::<DVector<f32>>("col").unwrap(),
        DVector::from_vec(vec![1.0, 2.0, 3.0])
    );
    assert_eq!(
        h.kv.get::<SVector<f32, 3>>("col").unwrap(),
        SVector::<f32, 3>::new(1.0, 2.0, 3.0)
    );
}

fn square_and_dynamic_matrices_of_both_float_types_round_trip(h: Harness) {
    let m3 = Matrix3::from_fn(|i, j| (i * 3 + j) as f32 - 0.5);
    h.kv.set("m3", &m3).unwrap();
    assert_eq!(h.kv.get::<Matrix3<f32>>("m3").unwrap(), m3);
    let dm = DMatrix::from_fn(5, 7, |i, j| (i as f64) * 1e3 - j as f64);
    h.kv.set("dm", &dm).unwrap();
    assert_eq!(h.kv.get::<DMatrix<f64>>("dm").unwrap(), dm);
    let sm = SMatrix::<i32, 1, 4>::new(1, -2, 3, -4);
    h.kv.set("row", &sm).unwrap();
    assert_eq!(h.hget("row", "shape").unwrap(), b"(1, 4)");
    assert_eq!(h.kv.get::<SMatrix<i32, 1, 4>>("row").unwrap(), sm);
}

fn poses_round_trip_with_quaternion_in_xyzw_order(h: Harness) {
    let q = UnitQuaternion::from_euler_angles(0.3, -0.2, 1.1);
    h.kv.set("q", &q).unwrap();
    assert_eq!(h.hget("q", "shape").unwrap(), b"(4,)");
    assert_eq!(
        h.hget("q", "arr").unwrap(),
        le_f64(&[q.i, q.j, q.k, q.w]),
        "x, y, z, w"
    );
    assert_eq!(h.kv.get::<UnitQuaternion<f64>>("q").unwrap(), q);

    let t = Translation3::new(1.0f32, -2.0, 3.5);
    h.kv.set("t", &t).unwrap();
    assert_eq!(h.hget("t", "arr").unwrap(), le_f32(&[1.0, -2.0, 3.5]));
    assert_eq!(h.kv.get::<Translation3<f32>>("t").unwrap(), t);

    let p = Point3::new(0.25, 0.5, -1.0);
    h.kv.set("p", &p).unwrap();
    assert_eq!(h.hget("p", "shape").unwrap(), b"(3,)");
    assert_eq!(h.kv.get::<Point3<f64>>("p").unwrap(), p);

    let pose = Isometry3::from_parts(Translation3::new(1.0, 2.0, 3.0), q);
    h.kv.set("pose", &pose).unwrap();
    assert_eq!(
        h.hget("pose", "translation.arr").unwrap(),
        le_f64(&[1.0, 2.0, 3.0])
    );
    assert_eq!(
        h.hget("pose", "rotation.arr").unwrap(),
        le_f64(&[q.i, q.j, q.k, q.w])
    );
    assert_eq!(h.kv.get::<Isometry3<f64>>("pose").unwrap(), pose);
    let pose32: Isometry3<f32> = pose.cast();
    h.kv.set("pose32", &pose32).unwrap();
    assert_eq!(h.kv.get::<Isometry3<f32>>("pose32").unwrap(), pose32);
}

fn quaternion_stored_unnormalized_is_normalized_and_zero_is_refused(h: Harness) {
    let raw = |q: [f64; 4]| {
        h.write_raw(
            "q",
            &[
                ("arr", &le_f64(&q)),
                ("dtype", b"float64"),
                ("shape", b"(4,)"),
            ],
        )
    };
    raw([0.0, 0.0, 0.0, 2.0]);
    assert_eq!(
        h.kv.get::<UnitQuaternion<f64>>("q").unwrap(),
        UnitQuaternion::identity()
    );
    raw([0.0; 4]);
    assert_invalid(h.kv.get::<UnitQuaternion<f64>>("q").unwrap_err(), "arr");
    raw([f64::NAN, 0.0, 0.0, 1.0]);
    assert_invalid(h.kv.get::<UnitQuaternion<f64>>("q").unwrap_err(), "arr");
}

// ---- stored by another writer: byte orders and dtype spellings ----

fn big_endian_arrays_are_byte_swapped(h: Harness) {
    let values = [1.5f64, -2.0, 1e300];
    let be: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    h.write_raw("be", &[("arr", &be), ("dtype", b">f8"), ("shape", b"(3,)")]);
    assert_eq!(
        h.kv.get::<Array1<f64>>("be").unwrap(),
        array![1.5, -2.0, 1e300]
    );
    let be16: Vec<u8> = [-2i16, 300].iter().flat_map(|v| v.to_be_bytes()).collect();
    h.write_raw(
        "be16",
        &[("arr", &be16), ("dtype", b">i2"), ("shape", b"(2,)")],
    );
    assert_eq!(h.kv.get::<Vec<i16>>("be16").unwrap(), vec![-2, 300]);
}

fn type_string_dtypes_are_accepted(h: Harness) {
    for (dtype, bytes) in [
        (&b"<f8"[..], le_f64(&[0.5, 1.0])),
        (b"=f8", le_f64(&[0.5, 1.0])),
        (b"float64", le_f64(&[0.5, 1.0])),
    ] {
        h.write_raw(
            "f",
            &[("arr", &bytes), ("dtype", dtype), ("shape", b"(2,)")],
        );
        assert_eq!(h.kv.get::<Array1<f64>>("f").unwrap(), array![0.5, 1.0]);
    }
    h.write_raw(
        "u",
        &[("arr", &[7, 8]), ("dtype", b"|u1"), ("shape", b"(1, 2)")],
    );
    assert_eq!(h.kv.get::<Array2<u8>>("u").unwrap(), array![[7, 8]]);
}

fn reading_another_element_type_is_an_error(h: Harness) {
    h.kv.set("f32", &Array2::<f32>::zeros((2, 2))).unwrap();
    let err = h.kv.get::<Array2<f64>>("f32").unwrap_err();
    assert!(err.is_schema_mismatch(), "{err}");

    h.write_raw(
        "raw",
        &[
            ("arr", &[0; 16]),
            ("dtype", b"float32"),
            ("shape", b"(2, 2)"),
        ],
    );
    let msg = assert_invalid(h.kv.get::<Array2<f64>>("raw").unwrap_err(), "dtype");
    assert!(msg.contains("float32") && msg.contains("float64"), "{msg}");
    let msg = assert_invalid(h.kv.get::<Array2<i32>>("raw").unwrap_err(), "dtype");
    assert!(msg.contains("int32"), "{msg}");
}

fn dtypes_reem_cannot_represent_are_named_in_the_error(h: Harness) {
    for dtype in ["complex128", "float16", "<U4", "object", "datetime64[ns]"] {
        h.write_raw(
            "x",
            &[
                ("arr", &[0; 16]),
                ("dtype", dtype.as_bytes()),
                ("shape", b"(1,)"),
            ],
        );
        let msg = assert_invalid(h.kv.get::<Array1<f64>>("x").unwrap_err(), "dtype");
        assert!(msg.contains(dtype), "{msg}");
    }
}

// ---- hostile stored arrays: an error, never a panic, hang or huge allocation ----

/// Writes an array hash with the given `shape`, `dtype` and `arr`.
fn hostile(h: &Harness, shape: &[u8], dtype: &[u8], arr: &[u8]) {
    h.write_raw(
        "bad",
        &[
            ("arr", arr),
            ("dtype", dtype),
            ("shape", shape),
            ("strides", b"(8,)"),
        ],
    );
}

fn shape_claiming_ten_to_the_22_elements_is_refused_without_allocating(h: Harness) {
    for shape in [
        &b"(10000000000, 1000000000000)"[..],
        b"(100000000000, 100000000000, 1000000)",
        b"(10000000000000000000000,)",
        b"(0, 9223372036854775807)",
        b"(4294967296, 4294967296)",
    ] {
        hostile(&h, shape, b"float64", &[0; 16]);
        assert_invalid(h.kv.get::<ArrayD<f64>>("bad").unwrap_err(), "shape");
        assert!(h.kv.get::<DMatrix<f64>>("bad").is_err());
    }
    hostile(&h, b"(2305843009213693952,)", b"float64", &[0; 16]);
    assert_invalid(h.kv.get::<Array1<f64>>("bad").unwrap_err(), "shape");
    assert!(h.kv.get::<DVector<f64>>("bad").is_err());
}

fn negative_empty_and_malformed_shapes_are_refused(h: Harness) {
    for shape in [
        &b"(-1,)"[..],
        b"(-2, 1)",
        b"",
        b"(",
        b"(2, 3",
        b"2, 3",
        b"[2, 3]",
        b"(2,,3)",
        b"(1)",
        b"(a, b)",
        b"(1.0,)",
        b"(0x10,)",
        b"(\xff,)",
    ] {
        hostile(&h, shape, b"float64", &[0; 16]);
        assert_invalid(h.kv.get::<ArrayD<f64>>("bad").unwrap_err(), "shape");
    }
}

fn code_in_dtype_is_refused_and_never_run(h: Harness) {
    let marker = std::path::Path::new("PWNED");
    assert!(!marker.exists());
    let code = b"__import__('os').system('touch PWNED')";
    hostile(&h, b"(2,)", code, &[0; 16]);
    let msg = assert_invalid(h.kv.get::<Array1<f64>>("bad").unwrap_err(), "dtype");
    assert!(msg.contains("__import__"), "{msg}");
    assert!(h.kv.get::<DVector<f64>>("bad").is_err());
    assert!(!marker.exists(), "a dtype was executed");
}

fn arr_length_not_a_multiple_of_the_item_size_is_refused(h: Harness) {
    hostile(&h, b"(2,)", b"float64", &[0; 15]);
    let msg = assert_invalid(h.kv.get::<Array1<f64>>("bad").unwrap_err(), "arr");
    assert!(msg.contains("15 bytes") && msg.contains("16"), "{msg}");
}

fn arr_too_short_or_too_long_is_refused(h: Harness) {
    for len in [0, 8, 24, 1 << 16] {
        hostile(&h, b"(2,)", b"float64", &vec![0; len]);
        assert_invalid(h.kv.get::<Array1<f64>>("bad").unwrap_err(), "arr");
        assert_invalid(h.kv.get::<SVector<f64, 2>>("bad").unwrap_err(), "arr");
    }
}

fn wrong_number_of_dimensions_for_a_fixed_dimension_array_is_refused(h: Harness) {
    hostile(&h, b"(4, 4)", b"uint8", &[0; 16]);
    let msg = assert_invalid(h.kv.get::<Array3<u8>>("bad").unwrap_err(), "shape");
    assert!(msg.contains("3 dimensions"), "{msg}");
    hostile(&h, b"(2, 2, 2, 2)", b"uint8", &[0; 16]);
    assert_invalid(h.kv.get::<Array3<u8>>("bad").unwrap_err(), "shape");
    assert_invalid(h.kv.get::<DMatrix<u8>>("bad").unwrap_err(), "shape");
    hostile(&h, b"(16,)", b"uint8", &[0; 16]);
    assert_invalid(h.kv.get::<DMatrix<u8>>("bad").unwrap_err(), "shape");
    // A reem-written 2-D array read as 3-D is refused by its schema.
    h.kv.set("two", &Array2::<u8>::zeros((4, 4))).unwrap();
    assert!(h.kv.get::<Array3<u8>>("two").is_err());
}

fn matrix_of_the_wrong_static_size_is_refused(h: Harness) {
    hostile(&h, b"(3, 2)", b"float64", &[0; 48]);
    let msg = assert_invalid(h.kv.get::<Matrix2x3<f64>>("bad").unwrap_err(), "shape");
    assert!(msg.contains("(2, 3)") && msg.contains("(3, 2)"), "{msg}");
    assert!(h.kv.get::<DMatrix<f64>>("bad").is_ok());
    hostile(&h, b"(6,)", b"float64", &[0; 48]);
    assert_invalid(h.kv.get::<Matrix2x3<f64>>("bad").unwrap_err(), "shape");
    assert_invalid(h.kv.get::<Vector3<f64>>("bad").unwrap_err(), "shape");
    assert_invalid(h.kv.get::<UnitQuaternion<f64>>("bad").unwrap_err(), "shape");
    hostile(&h, b"(2, 3)", b"float64", &[0; 48]);
    assert_invalid(h.kv.get::<SVector<f64, 6>>("bad").unwrap_err(), "shape");
    // Written by reem as another size: the schema already says so.
    h.kv.set("m", &DMatrix::<f64>::zeros(3, 2)).unwrap();
    assert!(h.kv.get::<Matrix2x3<f64>>("m").is_err());
}

fn bool_bytes_other_than_zero_and_one_are_refused(h: Harness) {
    hostile(&h, b"(3,)", b"bool", &[0, 1, 2]);
    assert_invalid(h.kv.get::<Array1<bool>>("bad").unwrap_err(), "arr");
    hostile(&h, b"(1, 3)", b"bool", &[0, 1, 2]);
    assert_invalid(h.kv.get::<DMatrix<bool>>("bad").unwrap_err(), "arr");
}

fn missing_array_fields_are_named(h: Harness) {
    h.write_raw("m", &[("dtype", b"float64"), ("shape", b"(1,)")]);
    match h.kv.get::<Array1<f64>>("m").unwrap_err() {
        Error::MissingField { field, .. } => assert_eq!(field, "arr"),
        e => panic!("{e:?}"),
    }
    let f = frame(None);
    h.kv.set("cam", &f).unwrap();
    redis::cmd("HDEL")
        .arg("cam")
        .arg("pose.rotation.dtype")
        .exec(&mut h.raw())
        .unwrap();
    match h.kv.get::<CameraFrame>("cam").unwrap_err() {
        Error::MissingField { field, .. } => assert_eq!(field, "pose.rotation.dtype"),
        e => panic!("{e:?}"),
    }
}

fn hostile_array_inside_a_struct_names_the_nested_field(h: Harness) {
    h.kv.set("cam", &frame(None)).unwrap();
    h.hset(
        "cam",
        "image.shape",
        b"(100000000000, 100000000000, 1000000)",
    );
    assert_invalid(h.kv.get::<CameraFrame>("cam").unwrap_err(), "image.shape");
    h.kv.set("cam", &frame(None)).unwrap();
    h.hset("cam", "pose.translation.arr", &[0; 7]);
    assert_invalid(
        h.kv.get::<CameraFrame>("cam").unwrap_err(),
        "pose.translation.arr",
    );
}

#[test]
fn array_type_labels_name_the_rust_type() {
    assert_eq!(Array3::<u8>::get_label(), "Array3<u8>");
    assert_eq!(ArrayD::<f64>::get_label(), "ArrayD<f64>");
    assert_eq!(Matrix2x3::<f64>::get_label(), "SMatrix<f64, 2, 3>");
    assert_eq!(DVector::<f32>::get_label(), "DVector<f32>");
    assert_eq!(Isometry3::<f64>::get_label(), "Isometry3<f64>");
    assert_eq!(UnitQuaternion::<f32>::get_label(), "UnitQuaternion<f32>");
}

#[test]
fn byte_arrays_take_the_reply_buffer_without_copying() {
    let image = ndarray::Array2::from_shape_fn((48, 64), |(i, j)| (i + j) as u8);
    let bytes = image.as_slice().unwrap().to_vec();
    let address = bytes.as_ptr();
    let field = |s: &str| redis::Value::BulkString(s.as_bytes().to_vec());
    let reply = redis::Value::Array(vec![
        field("dtype"),
        field("uint8"),
        field("shape"),
        field("(48, 64)"),
        field("arr"),
        redis::Value::BulkString(bytes),
    ]);
    let back = <ndarray::Array2<u8> as ReemMarshal>::interpret_read("k", reply).unwrap();
    assert_eq!(back, image);
    assert_eq!(
        back.as_ptr(),
        address,
        "the array owns the reply's buffer: zero copies"
    );
}
