//! `ndarray` arrays: [`Array<A, D>`](ndarray::Array) for every [`Element`] type `A`
//! (`u8`…`u64`, `i8`…`i64`, `f32`, `f64`, `bool`) and every dimension `D`, `IxDyn`
//! included.
//!
//! An array is stored as numpy stores it (see [`array`](mod@super::array) and `docs/FORMAT.md`):
//!
//! | field           | content                                           | example         |
//! |-----------------|---------------------------------------------------|-----------------|
//! | `NAME.dtype`    | numpy's dtype name                                | `uint8`         |
//! | `NAME.shape`    | Python's `str(a.shape)`                           | `(480, 640, 3)` |
//! | `NAME.strides`  | numpy's byte strides of the C-contiguous array    | `(1920, 3, 1)`  |
//! | `NAME.arr`      | the elements, little-endian, C (row-major) order  | 921 600 bytes   |
//!
//! At the root of a message (`kv.set("cam/image", &image)`) the fields are `arr`, `dtype`,
//! `shape`, `strides`, the names the seed's `NumpyMarshaller` uses, so that
//! `np.frombuffer(h[b"arr"], np.dtype(h[b"dtype"].decode())).reshape(shape)` reads it; in a
//! struct field `image` they are `image.arr`, `image.dtype`, ….
//!
//! **Copies.** Writing a C-contiguous array (the usual case: [`as_slice`](ndarray::ArrayRef::as_slice) is `Some`)
//! borrows its memory: [`KeyValueStore::set`](crate::KeyValueStore::set) sends it from
//! there (no copy). A non-contiguous array (sliced with a step,
//! transposed, Fortran order) is first gathered once into C order. Reading checks dtype, shape
//! and byte count before allocating; then a `u8`/`i8` array takes the reply's buffer as its
//! own (no copy at all), and other element types copy the bytes once from the reply into the
//! array's own aligned buffer ([`Array::from_shape_vec`], which keeps the vector), swapping
//! bytes for a `>f8`-style big-endian dtype.
//!
//! **Views.** [`KeyValueStore::set`](crate::KeyValueStore::set) takes an owned value; to
//! store an [`ArrayView`](ndarray::ArrayView) (or any `&ArrayRef`) without copying it into an
//! `Array` first, use [`KeyValueStore::set_view`](crate::KeyValueStore::set_view) (or [`write_view`], sans-IO). What they store
//! is exactly what `set` stores for the owned array, and reads back as `Array<A, D>`.
//!
//! ```
//! use ndarray::{s, Array2, Array3};
//! use reem::{KeyValueStore, RedisInterface};
//!
//! # let server = reem_server::RedisServer::start().expect("a private redis-server");
//! # let url = server.url();
//! let kv = KeyValueStore::new(&RedisInterface::new(&url)?); // url: "redis://127.0.0.1:6379"
//! let image = Array3::<u8>::zeros((480, 640, 3));
//! kv.set("cam/image", &image)?;
//! let back: Array3<u8> = kv.get("cam/image")?;
//! assert_eq!(back, image);
//!
//! let depth = Array2::<f32>::ones((480, 640));
//! kv.set_view("cam/roi", &depth.slice(s![100..200, 50..150]))?;
//! let roi: Array2<f32> = kv.get("cam/roi")?;
//! assert_eq!(roi.dim(), (100, 100));
//! # Ok::<(), reem::Error>(())
//! ```

use std::borrow::Cow;

use ndarray::{Array, ArrayRef, Dimension, IxDyn};

use super::array::{self, Element};
use super::hash::stored_as_hash;
use super::{schema_of, write_header, Commands, FieldReader, FieldWriter, ReemField};
use crate::error::Result;
use crate::schema::{FieldPath, SchemaBuilder};

impl<A: Element, D: Dimension + 'static> ReemField for Array<A, D> {
    fn describe(schema: &mut SchemaBuilder) {
        array::describe::<A>(schema, D::NDIM, None)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        encode_ref(self, w);
        Ok(())
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let decoded = array::decode::<A>(r, D::NDIM)?;
        let shape = D::from_dimension(&IxDyn(&decoded.shape));
        let array = shape.and_then(|dim| Array::from_shape_vec(dim, decoded.data).ok());
        array.ok_or_else(|| {
            r.invalid_at(
                &r.path().child(array::SHAPE),
                "a shape this array type can hold",
                array::format_tuple(&decoded.shape),
            )
        })
    }
}

stored_as_hash! {
    impl [A: Element, D: Dimension + 'static] Array<A, D> where []
        => Cow::Owned(match D::NDIM {
            Some(n) => format!("Array{n}<{}>", std::any::type_name::<A>()),
            None => format!("ArrayD<{}>", std::any::type_name::<A>()),
        });
}

/// Writes any array (owned, view, shared) at the writer's path: its memory as is when it is
/// C-contiguous, otherwise its elements gathered once in C order.
fn encode_ref<'a, A: Element, D: Dimension>(a: &'a ArrayRef<A, D>, w: &mut FieldWriter<'_, 'a>) {
    let bytes = match a.as_slice() {
        Some(items) => A::as_bytes(items),
        None => {
            let mut out = Vec::with_capacity(a.len() * A::SIZE);
            a.iter().for_each(|x| A::extend_le(&mut out, *x));
            Cow::Owned(out)
        }
    };
    array::encode::<A>(w, a.shape(), bytes);
}

/// Queues the commands that store the array `a` (an [`ArrayView`](ndarray::ArrayView), a
/// slice of an array, an `&Array`) at `key`, exactly as
/// [`ReemMarshal::write`](super::ReemMarshal::write) stores the owned `Array<A, D>`; it
/// reads back as `Array<A, D>`. Sans-IO: [`KeyValueStore::set_view`](crate::KeyValueStore::set_view)
/// runs it in one MULTI/EXEC.
///
/// A C-contiguous view is borrowed, not copied; a strided one is gathered once in C order.
///
/// ```
/// use ndarray::{s, Array1};
/// use reem::marshal::Commands;
///
/// let samples = Array1::from_iter(0..100u16);
/// let evens = samples.slice(s![..;10]);
/// let mut out = Commands::new();
/// reem::marshal::ndarray::write_view(&evens, "evens", &mut out)?;
/// assert!(out.iter().any(|c| c.is("HSET")));
/// # Ok::<(), reem::Error>(())
/// ```
pub fn write_view<'a, A: Element, D: Dimension + 'static>(
    a: &'a ArrayRef<A, D>,
    key: &str,
    out: &mut Commands<'a>,
) -> Result<()> {
    out.cmd("UNLINK").arg(key);
    out.cmd("HSET").arg(key);
    write_header(schema_of::<Array<A, D>>(), out);
    let mut w = FieldWriter::new(key, out, FieldPath::root());
    encode_ref(a, &mut w);
    w.finish();
    Ok(())
}
