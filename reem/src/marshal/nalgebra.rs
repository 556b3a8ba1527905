//! `nalgebra` matrices, vectors, points and poses, stored as numpy arrays.
//!
//! | type | stored as | shape |
//! |------|-----------|-------|
//! | matrices with owned storage ([`SMatrix`], [`DMatrix`], `OMatrix<T, R, C>`) | one array, **row-major** | `(rows, cols)` |
//! | column vectors ([`SVector`], [`DVector`], `Vector3`, …: `C = U1`) | one array | `(n,)` |
//! | [`Point`](nalgebra::OPoint) (`Point3`, …) | its coordinates | `(n,)` |
//! | [`Translation`] (`Translation3`, …) | its vector | `(n,)` |
//! | [`UnitQuaternion`] | its coordinates in **x, y, z, w** order | `(4,)` |
//! | [`Isometry3`] | `NAME.translation` (a `Translation3`) and `NAME.rotation` (a `UnitQuaternion`) | `(3,)` + `(4,)` |
//!
//! Each array is the four fields of [`array`](mod@super::array) (`NAME.arr`, `NAME.dtype`,
//! `NAME.shape`, `NAME.strides`), so numpy reads `m[i, j]` as nalgebra's `m[(i, j)]`: nalgebra
//! keeps matrices column-major in memory, reem puts them on the wire row-major, as numpy's
//! default C order. The quaternion order is nalgebra's own `coords` order and scipy's
//! `Rotation.from_quat` default; a pose at key `K` reads in Python as
//! `t = arr(h, "translation")`, `q = arr(h, "rotation")`.
//!
//! Elements are any [`Element`] (`u8`…`f64`, `bool`) for matrices, vectors, points and
//! translations; `f32` or `f64` for rotations and poses.
//!
//! **Reading** refuses a shape of the wrong number of dimensions, a static matrix or vector
//! whose stored shape differs from its size (an `SMatrix<f64, 2, 3>` reading `(3, 2)`), and
//! another element type. A column vector also reads an `(n, 1)` array. A quaternion is
//! normalized when its stored norm is not 1 within rounding; a zero or non-finite one is an
//! error.
//!
//! **Copies.** Writing a vector, or a matrix with one row or one column, borrows its memory;
//! a general matrix is gathered once into row-major order. Reading copies each element once,
//! from the reply into the matrix's own storage (transposing on the way).
//!
//! ```
//! use nalgebra::{Isometry3, Matrix2x3, Translation3, UnitQuaternion};
//! use reem::{KeyValueStore, RedisInterface};
//!
//! # let server = reem_server::RedisServer::start().expect("a private redis-server");
//! # let url = server.url();
//! let kv = KeyValueStore::new(&RedisInterface::new(&url)?); // url: "redis://127.0.0.1:6379"
//! let m = Matrix2x3::new(1.0, 2.0, 3.0,
//!                        4.0, 5.0, 6.0);
//! kv.set("calib/m", &m)?;          // arr = 1, 2, 3, 4, 5, 6 as float64; shape = (2, 3)
//! let pose = Isometry3::from_parts(Translation3::new(1.0, 2.0, 3.0), UnitQuaternion::identity());
//! kv.set("robot/pose", &pose)?;    // translation.arr = 1, 2, 3; rotation.arr = 0, 0, 0, 1
//! let back: Isometry3<f64> = kv.get("robot/pose")?;
//! assert_eq!((kv.get::<Matrix2x3<f64>>("calib/m")?, back), (m, pose));
//! # Ok::<(), reem::Error>(())
//! ```

use std::borrow::Cow;

use nalgebra::allocator::Allocator;
use nalgebra::{
    Const, DefaultAllocator, Dim, DimName, Isometry3, OMatrix, OPoint, Quaternion, RealField,
    Scalar, Translation, Unit, UnitQuaternion,
};
#[cfg(doc)]
use nalgebra::{DMatrix, DVector, SMatrix, SVector};

use super::array::{self, Element};
use super::hash::stored_as_hash;
use super::{FieldReader, FieldWriter, ReemField, ReemMarshal};
use crate::error::Result;
use crate::schema::SchemaBuilder;

/// `SMatrix<f64, 2, 3>`, `DMatrix<f32>`, `SVector<f64, 3>`, `DVector<u8>`, or
/// `OMatrix<f64, 3, Dyn>` for a partly dynamic matrix.
fn matrix_label<T, R: Dim, C: Dim>() -> Cow<'static, str> {
    let t = std::any::type_name::<T>();
    let (r, c) = (R::try_to_usize(), C::try_to_usize());
    Cow::Owned(match (r, c) {
        (None, Some(1)) => format!("DVector<{t}>"),
        (Some(n), Some(1)) => format!("SVector<{t}, {n}>"),
        (None, None) => format!("DMatrix<{t}>"),
        (Some(r), Some(c)) => format!("SMatrix<{t}, {r}, {c}>"),
        _ => format!("OMatrix<{t}, {}, {}>", dim_text::<R>(), dim_text::<C>()),
    })
}

fn type_label<T>(name: &str) -> Cow<'static, str> {
    Cow::Owned(format!("{name}<{}>", std::any::type_name::<T>()))
}

stored_as_hash! {
    impl [T, R, C] OMatrix<T, R, C>
        where [T: Element + Scalar, R: Dim, C: Dim, DefaultAllocator: Allocator<R, C>,
               OMatrix<T, R, C>: Send + 'static]
        => matrix_label::<T, R, C>();
    impl [T, D] OPoint<T, D>
        where [T: Element + Scalar, D: DimName, DefaultAllocator: Allocator<D>,
               OPoint<T, D>: Send + 'static, OMatrix<T, D, Const<1>>: Send + 'static]
        => type_label::<T>(&format!("Point{}", D::DIM));
    impl [T, const D: usize] Translation<T, D> where [T: Element + Scalar]
        => type_label::<T>(&format!("Translation{D}"));
    impl [T: Element + RealField] UnitQuaternion<T> where [] => type_label::<T>("UnitQuaternion");
    impl [T: Element + RealField] Isometry3<T> where [] => type_label::<T>("Isometry3");
}

/// Field of an [`Isometry3`] holding its translation.
pub const TRANSLATION: &str = "translation";
/// Field of an [`Isometry3`] holding its rotation.
pub const ROTATION: &str = "rotation";

/// True for column-vector types (`C = U1`), stored as 1-D arrays.
fn is_vector<C: Dim>() -> bool {
    C::try_to_usize() == Some(1)
}

/// The stored shape of an `R × C` matrix type, if fixed by the type.
fn static_shape<R: Dim, C: Dim>() -> Option<Vec<usize>> {
    let rows = R::try_to_usize()?;
    Some(if is_vector::<C>() {
        vec![rows]
    } else {
        vec![rows, C::try_to_usize()?]
    })
}

fn dim_text<D: Dim>() -> String {
    D::try_to_usize().map_or_else(|| "Dyn".to_owned(), |n| n.to_string())
}

impl<T, R, C> ReemField for OMatrix<T, R, C>
where
    T: Element + Scalar,
    R: Dim,
    C: Dim,
    DefaultAllocator: Allocator<R, C>,
    OMatrix<T, R, C>: Send + 'static,
{
    fn describe(schema: &mut SchemaBuilder) {
        let ndim = if is_vector::<C>() { 1 } else { 2 };
        array::describe::<T>(schema, Some(ndim), static_shape::<R, C>())
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        let (rows, cols) = self.shape();
        let items = self.as_slice();
        // With one row or one column, column-major order is row-major order.
        let bytes = if rows <= 1 || cols <= 1 {
            T::as_bytes(items)
        } else {
            let mut out = Vec::with_capacity(items.len() * T::SIZE);
            for i in 0..rows {
                for j in 0..cols {
                    T::extend_le(&mut out, items[i + j * rows]);
                }
            }
            Cow::Owned(out)
        };
        if is_vector::<C>() {
            array::encode::<T>(w, &[rows], bytes);
        } else {
            array::encode::<T>(w, &[rows, cols], bytes);
        }
        Ok(())
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let raw = array::decode_raw::<T>(r, None)?;
        let (rows, cols) = match (is_vector::<C>(), raw.shape.as_slice()) {
            (true, &[n]) => (n, 1),
            (_, &[rows, cols]) => (rows, cols),
            _ => (usize::MAX, usize::MAX),
        };
        let fits = |n: usize, d: Option<usize>| n != usize::MAX && d.is_none_or(|d| d == n);
        if !fits(rows, R::try_to_usize()) || !fits(cols, C::try_to_usize()) {
            let expected = match (static_shape::<R, C>(), is_vector::<C>()) {
                (Some(s), _) => format!("the shape {}", array::format_tuple(&s)),
                (None, true) => format!("a shape (n,) or (n, 1) for {}", Self::get_label()),
                (None, false) => format!("a shape (rows, cols) for {}", Self::get_label()),
            };
            return Err(r.invalid_at(
                &r.path().child(array::SHAPE),
                expected,
                array::format_tuple(&raw.shape),
            ));
        }
        let (nrows, ncols) = (R::from_usize(rows), C::from_usize(cols));
        let dynamic = R::try_to_usize().is_none() || C::try_to_usize().is_none();
        Ok(if dynamic && (rows <= 1 || cols <= 1) {
            // The reply's bytes become the storage: moved for one-byte elements, else
            // copied once (and the reply's buffer kept for the thread's next large read).
            OMatrix::from_vec_generic(nrows, ncols, raw.into_vec())
        } else {
            let m = OMatrix::from_row_iterator_generic(nrows, ncols, raw.elements());
            raw.recycle();
            m
        })
    }
}

impl<T, D> ReemField for OPoint<T, D>
where
    T: Element + Scalar,
    D: DimName,
    DefaultAllocator: Allocator<D>,
    OPoint<T, D>: Send + 'static,
    OMatrix<T, D, Const<1>>: Send + 'static,
{
    fn describe(schema: &mut SchemaBuilder) {
        <OMatrix<T, D, Const<1>>>::describe(schema)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        self.coords.encode(w)
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        Ok(OPoint::from(<OMatrix<T, D, Const<1>>>::decode(r)?))
    }
}

impl<T, const D: usize> ReemField for Translation<T, D>
where
    T: Element + Scalar,
{
    fn describe(schema: &mut SchemaBuilder) {
        <OMatrix<T, Const<D>, Const<1>>>::describe(schema)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        self.vector.encode(w)
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        Ok(Translation::from(<OMatrix<T, Const<D>, Const<1>>>::decode(
            r,
        )?))
    }
}

impl<T: Element + RealField> ReemField for UnitQuaternion<T> {
    fn describe(schema: &mut SchemaBuilder) {
        <OMatrix<T, Const<4>, Const<1>>>::describe(schema)
    }

    /// Writes `[x, y, z, w]` (nalgebra's `coords`).
    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        self.as_ref().coords.encode(w)
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let q = Quaternion::from(<OMatrix<T, Const<4>, Const<1>>>::decode(r)?);
        let norm = q.norm();
        if !norm.is_finite() || norm == T::zero() {
            return Err(r.invalid_at(
                &r.path().child(array::ARR),
                "a quaternion with a finite, non-zero norm",
                format!("the quaternion (x, y, z, w) = {:?}", q.coords.as_slice()),
            ));
        }
        let tolerance = T::default_epsilon() * nalgebra::convert::<f64, T>(8.0);
        Ok(if (norm - T::one()).abs() <= tolerance {
            // Unit within rounding: keep the stored components bit for bit.
            Unit::new_unchecked(q)
        } else {
            Unit::new_normalize(q)
        })
    }
}

impl<T: Element + RealField> ReemField for Isometry3<T> {
    fn describe(schema: &mut SchemaBuilder) {
        let mark = schema.enter(TRANSLATION);
        <Translation<T, 3>>::describe(schema);
        schema.leave(mark);
        let mark = schema.enter(ROTATION);
        <UnitQuaternion<T>>::describe(schema);
        schema.leave(mark);
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        let mark = w.enter(TRANSLATION);
        self.translation.encode(w)?;
        w.leave(mark);
        let mark = w.enter(ROTATION);
        self.rotation.encode(w)?;
        w.leave(mark);
        Ok(())
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let mark = r.enter(TRANSLATION);
        let translation = <Translation<T, 3>>::decode(r)?;
        r.leave(mark);
        let mark = r.enter(ROTATION);
        let rotation = <UnitQuaternion<T>>::decode(r)?;
        r.leave(mark);
        Ok(Isometry3::from_parts(translation, rotation))
    }
}
