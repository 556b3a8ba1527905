//! A message stored as one Redis hash: the marshaller of every derived struct and every
//! built-in field type.
//!
//! `#[derive(ReemMarshal)]` writes an `impl ReemMarshal` whose methods call the functions
//! here; so do the built-in types listed below. What they store at key `K`:
//!
//! | call | commands |
//! |------|----------|
//! | [`write()`] | `UNLINK K`, `HSET K @label … @fp … @schema … <fields…>`, then one `HSET K <name> <bytes>` per large value (array bytes of 4 KiB or more) |
//! | [`read`] | `HGETALL K` |
//! | [`delete`] | `UNLINK K` |
//!
//! [`interpret_read`] checks the stored label and schema against the type's, then decodes
//! the fields, moving large values out of the reply (no copy of a `u8` image).
//!
//! Every type that can be a whole message with this layout: the numbers, `bool`, `char`,
//! `String`, `Vec<T>`, `[T; N]`, `Option<T>`, [`Json<T>`](super::Json), ndarray's `Array<A, D>`,
//! nalgebra's matrices, vectors, points, translations, `UnitQuaternion` and `Isometry3`, and
//! every derived struct or enum.

use std::any::Any;
use std::borrow::Cow;

use redis::Value;

use super::{check_header, schema_of, write_header, Commands, FieldReader, FieldWriter};
use super::{HashView, ReemField};
use crate::error::Result;
use crate::schema::FieldPath;

/// `check_fit`: true if `value` is a `T`.
pub fn check_fit<T: 'static>(value: &dyn Any) -> bool {
    value.is::<T>()
}

/// `write`: replaces the message at `key` by `value`, as one hash.
pub fn write<'a, T: ReemField>(value: &'a T, key: &str, out: &mut Commands<'a>) -> Result<()> {
    out.cmd("UNLINK").arg(key);
    write_fields(value, key, out)
}

/// The `HSET`s of [`write()`] without its `UNLINK`: adds `value`'s fields (and its reserved
/// `@label`, `@fp`, `@schema`) to the hash at `key`.
pub fn write_fields<'a, T: ReemField>(
    value: &'a T,
    key: &str,
    out: &mut Commands<'a>,
) -> Result<()> {
    out.cmd("HSET").arg(key);
    write_header(schema_of::<T>(), out);
    let mut w = FieldWriter::new(key, out, FieldPath::root());
    value.encode(&mut w)?;
    w.finish();
    Ok(())
}

/// `read`: `HGETALL key`.
pub fn read(key: &str, out: &mut Commands<'_>) {
    out.cmd("HGETALL").arg(key);
}

/// `delete`: `UNLINK key`.
pub fn delete(key: &str, out: &mut Commands<'_>) {
    out.cmd("UNLINK").arg(key);
}

/// `interpret_read`: decodes the reply to `HGETALL key` as a `T`, after checking the stored
/// label and schema. The reply's values are moved, not copied, into the view; arrays of
/// bytes then take them as their own buffers.
pub fn interpret_read<T: ReemField>(key: &str, reply: Value) -> Result<T> {
    let mut hash = HashView::from_reply(key, reply)?;
    check_header(key, schema_of::<T>(), &hash)?;
    T::decode(&mut FieldReader::exclusive(
        key,
        &mut hash,
        FieldPath::root(),
    ))
}

/// Implements [`ReemMarshal`](super::ReemMarshal) for a [`ReemField`] type with the functions
/// of this module: `impl [generics] Type where [bounds] => label expression`.
macro_rules! stored_as_hash {
    ($(impl [$($g:tt)*] $t:ty where [$($w:tt)*] => $label:expr;)*) => {$(
        impl<$($g)*> $crate::ReemMarshal for $t where $($w)* {
            fn get_label() -> ::std::borrow::Cow<'static, str> {
                $label
            }

            fn check_fit(value: &dyn ::std::any::Any) -> bool {
                $crate::marshal::hash::check_fit::<Self>(value)
            }

            fn write<'a>(
                &'a self,
                key: &str,
                out: &mut $crate::marshal::Commands<'a>,
            ) -> $crate::Result<()> {
                $crate::marshal::hash::write(self, key, out)
            }

            fn read(key: &str, out: &mut $crate::marshal::Commands<'_>) {
                $crate::marshal::hash::read(key, out)
            }

            fn delete(key: &str, out: &mut $crate::marshal::Commands<'_>) {
                $crate::marshal::hash::delete(key, out)
            }

            fn interpret_read(key: &str, reply: ::redis::Value) -> $crate::Result<Self> {
                $crate::marshal::hash::interpret_read(key, reply)
            }

            fn schema() -> Option<&'static $crate::schema::Schema> {
                Some($crate::marshal::schema_of::<Self>())
            }
        }
    )*};
}

pub(crate) use stored_as_hash;

fn borrowed(label: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(label)
}

stored_as_hash! {
    impl [] u8 where [] => borrowed("u8");
    impl [] u16 where [] => borrowed("u16");
    impl [] u32 where [] => borrowed("u32");
    impl [] u64 where [] => borrowed("u64");
    impl [] u128 where [] => borrowed("u128");
    impl [] usize where [] => borrowed("u64");
    impl [] i8 where [] => borrowed("i8");
    impl [] i16 where [] => borrowed("i16");
    impl [] i32 where [] => borrowed("i32");
    impl [] i64 where [] => borrowed("i64");
    impl [] i128 where [] => borrowed("i128");
    impl [] isize where [] => borrowed("i64");
    impl [] f32 where [] => borrowed("f32");
    impl [] f64 where [] => borrowed("f64");
    impl [] bool where [] => borrowed("bool");
    impl [] char where [] => borrowed("char");
    impl [] String where [] => borrowed("string");
    impl [T: ReemField] Vec<T> where [] => Cow::Owned(format!("Vec<{}>", T::get_label()));
    impl [T: ReemField, const N: usize] [T; N] where []
        => Cow::Owned(format!("[{}; {N}]", T::get_label()));
    impl [T: ReemField] Option<T> where [] => Cow::Owned(format!("Option<{}>", T::get_label()));
    impl [T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static] super::Json<T>
        where [] => borrowed("json");
}
