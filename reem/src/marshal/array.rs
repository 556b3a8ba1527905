//! The array wire format shared by numeric lists, `ndarray` and `nalgebra`.
//!
//! An array at path `NAME` is four fields, named as the seed's `NumpyMarshaller` names them
//! (at the root of a message, without the `NAME.` prefix):
//!
//! | field         | content                                                        |
//! |---------------|----------------------------------------------------------------|
//! | `NAME.dtype`  | numpy's name of the element type, `str(a.dtype)`: `float64`     |
//! | `NAME.shape`  | `str(a.shape)`: `(480, 640, 3)`, `(5,)`, `()`                   |
//! | `NAME.strides`| numpy's byte strides of the C-contiguous array: `(15360, 24, 8)`|
//! | `NAME.arr`    | the elements, little-endian, C (row-major) order, no padding    |
//!
//! so `np.frombuffer(h["arr"], np.dtype(h["dtype"])).reshape(shape)` reads it.
//!
//! **Copies.** Writing a contiguous little-endian array borrows its bytes; the key-value
//! store sends them from where they are (`arr` after all small fields, one vectored write:
//! no copy). Reading checks `product(shape) × itemsize == len(arr)` with overflow-checked
//! arithmetic *before* allocating; then one-byte elements take the reply's buffer as their
//! own (a whole-message read moves it out of the reply: no copy), and wider elements are
//! copied once into an aligned element vector, written once without zeroing it first
//! (swapping bytes for big-endian `>f8`-style dtypes); the reply's buffer then goes back to
//! the thread's spare for its next large read, so that only the element vector is fresh
//! memory. `dtype` and `shape` are parsed against fixed rules; nothing stored is ever
//! evaluated.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::marker::PhantomData;

use super::{FieldReader, FieldWriter};
use crate::error::Result;
use crate::schema::{FieldType, SchemaBuilder};

/// Field holding the element bytes.
pub const ARR: &str = "arr";
/// Field holding the numpy dtype name.
pub const DTYPE: &str = "dtype";
/// Field holding the shape text.
pub const SHAPE: &str = "shape";
/// Field holding the strides text.
pub const STRIDES: &str = "strides";

/// More dimensions than this is refused (numpy allows 64).
pub const MAX_NDIM: usize = 64;

mod sealed {
    pub trait Sealed {}
}

/// An array element type: a number or `bool`, with its numpy dtype.
pub trait Element: Copy + Default + Send + Sync + 'static + sealed::Sealed {
    /// numpy's name for this type (`str(np.dtype(...))` for a native array): `float64`.
    const DTYPE: &'static str;
    /// numpy's kind character: `b`, `i`, `u` or `f`.
    const KIND: u8;
    /// Bytes per element.
    const SIZE: usize;

    /// The elements as little-endian bytes: borrowed on little-endian machines.
    fn as_bytes(items: &[Self]) -> Cow<'_, [u8]>;

    /// Appends one element's little-endian bytes.
    fn extend_le(out: &mut Vec<u8>, item: Self);

    /// Copies `bytes` (elements stored in the given byte order) into a new vector; `None` if
    /// `bytes` is not a whole number of elements or a stored value is not valid for the type
    /// (a `bool` byte not 0 or 1).
    fn from_bytes(bytes: &[u8], big_endian: bool) -> Option<Vec<Self>>;

    /// Like [`from_bytes`](Element::from_bytes), but may reuse `bytes`' own buffer instead
    /// of copying it (one-byte types: the reply's buffer becomes the array's).
    fn from_owned(bytes: Vec<u8>, big_endian: bool) -> Option<Vec<Self>> {
        Self::from_bytes(&bytes, big_endian)
    }

    /// Reads one element from its `SIZE` stored bytes; `None` if `chunk` is not `SIZE`
    /// bytes long or not a valid value (a `bool` byte not 0 or 1).
    fn read_one(chunk: &[u8], big_endian: bool) -> Option<Self>;
}

/// Reverses every element's bytes when they were stored in the other byte order.
fn swapped<T: bytemuck::Pod>(mut v: Vec<T>, big_endian: bool) -> Vec<T> {
    if big_endian != cfg!(target_endian = "big") && std::mem::size_of::<T>() > 1 {
        for x in &mut v {
            bytemuck::bytes_of_mut(x).reverse();
        }
    }
    v
}

/// Calls the macro `$m` once with every array element type, one entry per type, in the
/// order `bool`, unsigned, signed, floats:
///
/// ```text
/// $m! { bool => "bool", b'b', Bool; u8 => "uint8", b'u', U8; … f64 => "float64", b'f', F64; }
/// ```
///
/// (Rust type, numpy dtype name, numpy kind character, and the name of the variant of
/// [`FieldType`] and of `dynamic::Elements` for that type.) This is the one list of element
/// types: the [`Element`] impls, [`Dtype::parse`], and the dynamic decoder's element
/// tables, values and texts are all expanded from it.
macro_rules! for_each_element {
    ($m:ident) => {
        $m! {
            bool => "bool", b'b', Bool;
            u8 => "uint8", b'u', U8;
            u16 => "uint16", b'u', U16;
            u32 => "uint32", b'u', U32;
            u64 => "uint64", b'u', U64;
            i8 => "int8", b'i', I8;
            i16 => "int16", b'i', I16;
            i32 => "int32", b'i', I32;
            i64 => "int64", b'i', I64;
            f32 => "float32", b'f', F32;
            f64 => "float64", b'f', F64;
        }
    };
}
pub(crate) use for_each_element;

/// The [`Element`] impl of one element type: `bool` (kind `b'b'`: one byte, 0 or 1) or a
/// number.
macro_rules! element_impl {
    (b'b', $t:ty, $name:literal) => {
        impl sealed::Sealed for $t {}

        impl Element for $t {
            const DTYPE: &'static str = $name;
            const KIND: u8 = b'b';
            const SIZE: usize = 1;

            fn as_bytes(items: &[Self]) -> Cow<'_, [u8]> {
                Cow::Borrowed(bytemuck::cast_slice(items))
            }

            fn extend_le(out: &mut Vec<u8>, item: Self) {
                out.push(u8::from(item));
            }

            fn from_bytes(bytes: &[u8], _big_endian: bool) -> Option<Vec<Self>> {
                bytes
                    .iter()
                    .map(|b| match b {
                        0 => Some(false),
                        1 => Some(true),
                        _ => None,
                    })
                    .collect()
            }

            fn read_one(chunk: &[u8], _big_endian: bool) -> Option<Self> {
                match chunk {
                    [0] => Some(false),
                    [1] => Some(true),
                    _ => None,
                }
            }
        }
    };
    ($kind:tt, $t:ty, $name:literal) => {
        impl sealed::Sealed for $t {}

        impl Element for $t {
            const DTYPE: &'static str = $name;
            const KIND: u8 = $kind;
            const SIZE: usize = std::mem::size_of::<$t>();

            fn as_bytes(items: &[Self]) -> Cow<'_, [u8]> {
                if cfg!(target_endian = "little") {
                    Cow::Borrowed(bytemuck::cast_slice(items))
                } else {
                    let mut out = Vec::with_capacity(items.len() * Self::SIZE);
                    items.iter().for_each(|x| Self::extend_le(&mut out, *x));
                    Cow::Owned(out)
                }
            }

            fn extend_le(out: &mut Vec<u8>, item: Self) {
                out.extend_from_slice(&item.to_le_bytes());
            }

            fn from_bytes(bytes: &[u8], big_endian: bool) -> Option<Vec<Self>> {
                let chunks = bytes.chunks_exact(Self::SIZE);
                if !chunks.remainder().is_empty() {
                    return None; // a partial element
                }
                // One pass over memory that is written once: no zeroing first (a vector
                // of zeros then overwritten costs a second pass over fresh pages).
                let mut v = Vec::with_capacity(chunks.len());
                let one = |c: &[u8]| -> [u8; Self::SIZE] { c.try_into().unwrap_or_default() };
                if big_endian {
                    v.extend(chunks.map(|c| <$t>::from_be_bytes(one(c))));
                } else {
                    v.extend(chunks.map(|c| <$t>::from_le_bytes(one(c))));
                }
                Some(v)
            }

            fn from_owned(bytes: Vec<u8>, big_endian: bool) -> Option<Vec<Self>> {
                // Succeeds when the buffer's alignment and length suit the type (always for
                // 1-byte types); otherwise `from_bytes` copies (or refuses a partial
                // element), and the buffer goes back to the thread's spare for the next read.
                match bytemuck::allocation::try_cast_vec::<u8, $t>(bytes) {
                    Ok(v) => Some(swapped(v, big_endian)),
                    Err((_, bytes)) => {
                        let v = Self::from_bytes(&bytes, big_endian);
                        crate::recycle::give_back(bytes);
                        v
                    }
                }
            }

            fn read_one(chunk: &[u8], big_endian: bool) -> Option<Self> {
                let bytes = chunk.try_into().ok()?;
                Some(if big_endian {
                    <$t>::from_be_bytes(bytes)
                } else {
                    <$t>::from_le_bytes(bytes)
                })
            }
        }
    };
}

macro_rules! element_impls {
    ($($t:ty => $name:literal, $kind:tt, $variant:ident;)*) => {
        $(element_impl!($kind, $t, $name);)*

        /// numpy's names of the element types, with their kind and size.
        const ELEMENT_DTYPES: &[(&str, u8, usize)] = &[$(($name, $kind, std::mem::size_of::<$t>())),*];
    };
}

for_each_element!(element_impls);

/// numpy dtype names reem parses but has no element type for.
const OTHER_DTYPES: &[(&str, u8, usize)] = &[
    ("float16", b'f', 2),
    ("complex64", b'c', 8),
    ("complex128", b'c', 16),
];

/// A stored dtype, parsed: numpy's name (`float64`) or type string (`<f8`, `>i2`, `|u1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtype {
    /// `b`, `i`, `u`, `f`, or another numpy kind character reem cannot represent.
    pub kind: u8,
    /// Bytes per element.
    pub size: usize,
    /// True for `>`-style big-endian type strings.
    pub big_endian: bool,
}

impl Dtype {
    /// Parses a stored dtype text; `None` if it is not a dtype numpy prints for a plain
    /// numeric array.
    pub fn parse(text: &[u8]) -> Option<Self> {
        let named = |kind, size| {
            Some(Dtype {
                kind,
                size,
                big_endian: false,
            })
        };
        if let Some((_, kind, size)) = ELEMENT_DTYPES
            .iter()
            .chain(OTHER_DTYPES)
            .find(|(name, _, _)| name.as_bytes() == text)
        {
            return named(*kind, *size);
        }
        let (order, rest) = match text.first()? {
            b'<' | b'=' | b'|' => (false, &text[1..]),
            b'>' => (true, &text[1..]),
            _ => (false, text),
        };
        let (&kind, digits) = rest.split_first()?;
        if !matches!(kind, b'b' | b'i' | b'u' | b'f' | b'c')
            || digits.is_empty()
            || digits.len() > 2
        {
            return None;
        }
        let size = std::str::from_utf8(digits).ok()?.parse::<usize>().ok()?;
        (size > 0).then_some(Dtype {
            kind,
            size,
            big_endian: order && size > 1,
        })
    }

    /// True if elements of type `A` can be read from this dtype.
    pub fn holds<A: Element>(&self) -> bool {
        self.kind == A::KIND && self.size == A::SIZE
    }
}

/// Parses numpy's `str(shape)`: `(480, 640, 3)`, `(5,)` or `()`.
pub fn parse_shape(text: &[u8]) -> Option<Vec<usize>> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let inner = text.strip_prefix('(')?.strip_suffix(')')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    let inner = inner.strip_suffix(',').unwrap_or(inner);
    let dims: Option<Vec<usize>> = inner
        .split(',')
        .map(|d| {
            let d = d.trim();
            (!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .then(|| d.parse().ok())
                .flatten()
        })
        .collect();
    let dims = dims?;
    // `(5)` is not a tuple in Python: one dimension needs its trailing comma.
    if dims.len() == 1 && !text.trim_end_matches(')').trim_end().ends_with(',') {
        return None;
    }
    (dims.len() <= MAX_NDIM).then_some(dims)
}

/// Formats a shape (or strides) the way Python prints a tuple.
pub fn format_tuple(dims: &[usize]) -> String {
    let mut s = String::from("(");
    for (i, d) in dims.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{d}");
    }
    if dims.len() == 1 {
        s.push(',');
    }
    s.push(')');
    s
}

/// numpy's byte strides of a C-contiguous array of `shape` with `itemsize`-byte elements.
pub fn c_strides(shape: &[usize], itemsize: usize) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut step = itemsize;
    for (s, d) in strides.iter_mut().zip(shape).rev() {
        *s = step;
        step = step.saturating_mul(*d);
    }
    strides
}

/// Declares an array field of `A` at the builder's path.
pub fn describe<A: Element>(
    schema: &mut SchemaBuilder,
    ndim: Option<usize>,
    shape: Option<Vec<usize>>,
) {
    schema.field(FieldType::Array {
        dtype: A::DTYPE.to_owned(),
        ndim,
        shape,
    })
}

/// Writes an array of `A` with `shape` whose little-endian C-order bytes are `bytes`.
pub fn encode<'a, A: Element>(w: &mut FieldWriter<'_, 'a>, shape: &[usize], bytes: Cow<'a, [u8]>) {
    w.put_child(DTYPE, A::DTYPE.as_bytes());
    w.put_child(SHAPE, format_tuple(shape).as_bytes());
    w.put_child(STRIDES, format_tuple(&c_strides(shape, A::SIZE)).as_bytes());
    w.put_child_large(ARR, bytes);
}

/// An array read back: its shape and its elements in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<A> {
    /// The shape, one entry per dimension.
    pub shape: Vec<usize>,
    /// The elements, C (row-major) order.
    pub data: Vec<A>,
}

/// A stored array of `A` whose fields have been checked, its bytes still borrowed from the
/// reply: what [`decode_raw`] returns, for encodings that copy the elements straight into a
/// buffer of their own (a column-major matrix, say).
///
/// The element type is part of the type: the bytes were checked for `A` (a whole number of
/// `A`s, valid `bool` bytes), so the elements can only be read back as `A`.
///
/// ```
/// # fn f(raw: reem::marshal::array::RawArray<'_, u8>) {
/// let bytes: Vec<u8> = raw.to_vec();
/// # }
/// ```
///
/// ```compile_fail
/// # fn f(raw: reem::marshal::array::RawArray<'_, u8>) {
/// let wider: Vec<u16> = raw.to_vec(); // checked as u8: no other element type
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RawArray<'v, A> {
    /// The shape, one entry per dimension.
    pub shape: Vec<usize>,
    bytes: Cow<'v, [u8]>,
    big_endian: bool,
    element: PhantomData<A>,
}

impl<'v, A: Element> RawArray<'v, A> {
    /// The stored element bytes (C order, in the stored byte order).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True if the stored elements are big-endian (a `>f8`-style dtype).
    pub fn big_endian(&self) -> bool {
        self.big_endian
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / A::SIZE
    }

    /// True when the array has no element (a zero-length axis).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Copies the elements, in C order, into a new vector (the one copy of a read).
    pub fn to_vec(&self) -> Vec<A> {
        // `decode_raw::<A>` checked the length and (for `bool`) every byte, so this is never
        // the empty fallback.
        A::from_bytes(&self.bytes, self.big_endian).unwrap_or_default()
    }

    /// The elements in C order, in the stored bytes' own buffer when the reader owned the
    /// reply and the element type allows it (`u8`, `i8`: no copy at all), else copied once.
    pub fn into_vec(self) -> Vec<A> {
        match self.bytes {
            Cow::Owned(bytes) => A::from_owned(bytes, self.big_endian),
            Cow::Borrowed(bytes) => A::from_bytes(bytes, self.big_endian),
        }
        .unwrap_or_default()
    }

    /// The element bytes, little-endian, in the stored bytes' own buffer when the reader
    /// owned the reply (no copy), else copied once; big-endian elements are swapped in place.
    pub fn into_le_bytes(self) -> Vec<u8> {
        let mut bytes = self.bytes.into_owned();
        if self.big_endian && A::SIZE > 1 {
            for chunk in bytes.chunks_exact_mut(A::SIZE) {
                chunk.reverse();
            }
        }
        bytes
    }

    /// Done with the stored bytes: a buffer moved out of the reply goes back to the thread's
    /// spare for its next large read.
    #[cfg(feature = "nalgebra")]
    pub(crate) fn recycle(self) {
        if let Cow::Owned(bytes) = self.bytes {
            crate::recycle::give_back(bytes);
        }
    }

    /// The elements in C order, decoded one by one from the stored bytes.
    pub fn elements(&self) -> impl ExactSizeIterator<Item = A> + '_ {
        let big_endian = self.big_endian;
        self.bytes
            .chunks_exact(A::SIZE)
            .map(move |c| A::read_one(c, big_endian).unwrap_or_default())
    }
}

/// Reads an array of `A` at the reader's path; with `ndim`, the stored shape must have that
/// many dimensions.
pub fn decode<A: Element>(r: &mut FieldReader<'_, '_>, ndim: Option<usize>) -> Result<Decoded<A>> {
    let raw = decode_raw::<A>(r, ndim)?;
    let shape = raw.shape.clone();
    Ok(Decoded {
        shape,
        data: raw.into_vec(),
    })
}

/// Checks the array of `A` at the reader's path (dtype, shape, `ndim` if given, byte count,
/// `bool` bytes) without copying its elements.
///
/// The size check uses overflow-checked arithmetic and also refuses shapes whose element
/// count does not fit `isize` (as numpy and ndarray do), even with a zero-length axis.
pub fn decode_raw<'v, A: Element>(
    r: &mut FieldReader<'_, 'v>,
    ndim: Option<usize>,
) -> Result<RawArray<'v, A>> {
    let dtype_raw = r.require_child(DTYPE)?;
    let dtype = Dtype::parse(dtype_raw).ok_or_else(|| {
        r.invalid_child(
            DTYPE,
            "a numpy dtype name such as float64 or <f8",
            dtype_raw,
        )
    })?;
    if !dtype.holds::<A>() {
        return Err(r.invalid_child(
            DTYPE,
            format!("{} (the element type read)", A::DTYPE),
            dtype_raw,
        ));
    }
    let shape_raw = r.require_child(SHAPE)?;
    let shape = parse_shape(shape_raw).ok_or_else(|| {
        r.invalid_child(
            SHAPE,
            "a shape such as (480, 640, 3), (5,) or ()",
            shape_raw,
        )
    })?;
    if let Some(n) = ndim {
        if shape.len() != n {
            return Err(r.invalid_child(SHAPE, format!("a shape of {n} dimensions"), shape_raw));
        }
    }
    let expected = byte_len(&shape, A::SIZE)
        .ok_or_else(|| r.invalid_child(SHAPE, "a shape whose size fits in memory", shape_raw))?;
    let shape_text = String::from_utf8_lossy(shape_raw).into_owned();
    let bytes = r.take_child(ARR)?;
    if expected != bytes.len() {
        let found = format!(
            "{} bytes, for a shape {shape_text} of {}-byte elements that needs {expected}",
            bytes.len(),
            A::SIZE
        );
        return Err(r.invalid_at(
            &r.path().child(ARR),
            "exactly the bytes the shape needs",
            found,
        ));
    }
    if A::KIND == b'b' && bytes.iter().any(|b| *b > 1) {
        return Err(r.invalid_at(
            &r.path().child(ARR),
            format!("valid {} values", A::DTYPE),
            "a byte that is not 0 or 1".to_owned(),
        ));
    }
    Ok(RawArray {
        shape,
        bytes,
        big_endian: dtype.big_endian,
        element: PhantomData,
    })
}

/// The number of bytes of an array of `shape` with `itemsize`-byte elements, if its element
/// count (zero-length axes aside) and byte size fit `isize`.
fn byte_len(shape: &[usize], itemsize: usize) -> Option<usize> {
    let nonzero = shape
        .iter()
        .filter(|d| **d != 0)
        .try_fold(itemsize, |acc, d| acc.checked_mul(*d))
        .filter(|n| isize::try_from(*n).is_ok())?;
    Some(if shape.contains(&0) { 0 } else { nonzero })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_as_python_prints_them() {
        assert_eq!(parse_shape(b"(480, 640, 3)"), Some(vec![480, 640, 3]));
        assert_eq!(parse_shape(b"(5,)"), Some(vec![5]));
        assert_eq!(parse_shape(b"()"), Some(vec![]));
        for bad in [
            &b"(5)"[..],
            b"(-1,)",
            b"(1,,2)",
            b"[1, 2]",
            b"(a,)",
            b"",
            b"(1, 2",
            b"(+3,)",
        ] {
            assert_eq!(parse_shape(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_shape(b"(99999999999999999999999,)"), None);
    }

    #[test]
    fn tuples_format_as_python_prints_them() {
        assert_eq!(format_tuple(&[480, 640, 3]), "(480, 640, 3)");
        assert_eq!(format_tuple(&[5]), "(5,)");
        assert_eq!(format_tuple(&[]), "()");
        assert_eq!(c_strides(&[480, 640, 3], 1), vec![1920, 3, 1]);
    }

    #[test]
    fn dtypes_parse_names_and_type_strings() {
        assert!(Dtype::parse(b"float64").unwrap().holds::<f64>());
        assert!(Dtype::parse(b"<f8").unwrap().holds::<f64>());
        assert!(Dtype::parse(b">f8").unwrap().big_endian);
        assert!(Dtype::parse(b"|u1").unwrap().holds::<u8>());
        assert!(!Dtype::parse(b">u1").unwrap().big_endian);
        assert!(Dtype::parse(b"__import__('os').system('x')").is_none());
        assert!(Dtype::parse(b"float16").is_some_and(|d| !d.holds::<f32>()));
        assert!(Dtype::parse(b"<U8").is_none());
    }

    #[test]
    fn sizes_that_overflow_are_refused_even_with_an_empty_axis() {
        assert_eq!(byte_len(&[480, 640, 3], 1), Some(921_600));
        assert_eq!(byte_len(&[], 8), Some(8));
        assert_eq!(byte_len(&[0, 5], 8), Some(0));
        assert_eq!(byte_len(&[usize::MAX, 2], 1), None);
        assert_eq!(byte_len(&[0, usize::MAX / 2], 8), None);
        assert_eq!(byte_len(&[1 << 62], 2), None);
    }

    #[test]
    fn single_elements_read_in_either_byte_order() {
        assert_eq!(i16::read_one(&[1, 2], false), Some(0x0201));
        assert_eq!(i16::read_one(&[1, 2], true), Some(0x0102));
        assert_eq!(i16::read_one(&[1], false), None);
        assert_eq!(bool::read_one(&[2], false), None);
    }

    #[test]
    fn big_endian_bytes_are_swapped() {
        let v = f64::from_bytes(&1.5f64.to_be_bytes(), true).unwrap();
        assert_eq!(v, vec![1.5]);
        assert_eq!(bool::from_bytes(&[0, 1, 2], false), None);
    }

    #[test]
    fn partial_elements_are_refused_not_a_panic() {
        assert_eq!(u16::from_bytes(&[1, 2, 3], false), None);
        assert_eq!(f64::from_bytes(&[0; 9], true), None);
        assert_eq!(i32::from_owned(vec![1, 2, 3, 4, 5], false), None);
        assert_eq!(u16::from_bytes(&[1, 0], false), Some(vec![1]));
        assert_eq!(u8::from_owned(vec![1, 2, 3], false), Some(vec![1, 2, 3]));
    }
}
