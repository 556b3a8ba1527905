//! Scalars: numbers, `bool`, `char` and `String`, each stored as text in one field.
//!
//! Integers are decimal (so `HINCRBY` works on them), floats the shortest text that reads
//! back to the same bits (`inf`, `-inf`, `nan` for the non-finite ones; a NaN's payload is
//! not kept), `bool` is `1`/`0`, strings are UTF-8. Reading copies nothing but the `String`.

use std::str::FromStr;

use super::array::{self, Element};
use super::{FieldReader, FieldWriter, ReemField};
use crate::error::Result;
use crate::schema::{FieldType, SchemaBuilder};

/// Parses the text at the reader's path as `T`, naming `expected` on failure.
fn parse_text<T: FromStr>(r: &FieldReader<'_, '_>, expected: &str) -> Result<T> {
    let raw = r.require()?;
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| r.invalid(expected, raw))
}

/// Numbers stored as one array when they form a list (`Vec<u8>`, `Vec<f64>`, …).
macro_rules! array_lists {
    () => {
        fn describe_list(schema: &mut SchemaBuilder) {
            array::describe::<Self>(schema, Some(1), None)
        }

        fn encode_list<'a>(items: &'a [Self], w: &mut FieldWriter<'_, 'a>) -> Result<()> {
            array::encode::<Self>(w, &[items.len()], Self::as_bytes(items));
            Ok(())
        }

        fn decode_list(r: &mut FieldReader<'_, '_>) -> Result<Vec<Self>> {
            Ok(array::decode::<Self>(r, Some(1))?.data)
        }
    };
}

/// Integers: decimal text. Those with an array element type (`$($lists)?`) store a list as
/// one array; `u128`, `i128`, `usize`, `isize` store it element by element.
macro_rules! integers {
    ($($t:ty => $kind:ident, $label:literal $(, $lists:ident)?;)*) => {$(
        impl ReemField for $t {
            fn describe(schema: &mut SchemaBuilder) {
                schema.field(FieldType::$kind)
            }

            fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
                w.put(itoa::Buffer::new().format(*self).as_bytes());
                Ok(())
            }

            fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
                parse_text(r, concat!("an integer that fits ", $label))
            }

            $($lists!();)?
        }
    )*};
}

integers! {
    u8 => U8, "u8", array_lists;
    u16 => U16, "u16", array_lists;
    u32 => U32, "u32", array_lists;
    u64 => U64, "u64", array_lists;
    i8 => I8, "i8", array_lists;
    i16 => I16, "i16", array_lists;
    i32 => I32, "i32", array_lists;
    i64 => I64, "i64", array_lists;
    u128 => U128, "u128";
    i128 => I128, "i128";
    usize => U64, "u64";
    isize => I64, "i64";
}

/// Writes a float as the shortest text that parses back to the same value.
fn put_float<F: ryu::Float + Copy>(
    w: &mut FieldWriter<'_, '_>,
    v: F,
    finite: bool,
    nan: bool,
    neg: bool,
) {
    if finite {
        w.put(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if nan {
        w.put(b"nan");
    } else if neg {
        w.put(b"-inf");
    } else {
        w.put(b"inf");
    }
}

macro_rules! floats {
    ($($t:ty => $kind:ident, $label:literal;)*) => {$(
        impl ReemField for $t {
            fn describe(schema: &mut SchemaBuilder) {
                schema.field(FieldType::$kind)
            }

            fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
                put_float(w, *self, self.is_finite(), self.is_nan(), self.is_sign_negative());
                Ok(())
            }

            fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
                parse_text(r, concat!("a number (", $label, ")"))
            }

            array_lists!();
        }
    )*};
}

floats! {
    f32 => F32, "f32";
    f64 => F64, "f64";
}

impl ReemField for bool {
    fn describe(schema: &mut SchemaBuilder) {
        schema.field(FieldType::Bool)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        w.put(if *self { b"1" } else { b"0" });
        Ok(())
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let raw = r.require()?;
        match raw {
            b"1" => Ok(true),
            b"0" => Ok(false),
            t if t.eq_ignore_ascii_case(b"true") => Ok(true),
            t if t.eq_ignore_ascii_case(b"false") => Ok(false),
            _ => Err(r.invalid("a boolean (1 or 0)", raw)),
        }
    }

    array_lists!();
}

impl ReemField for char {
    fn describe(schema: &mut SchemaBuilder) {
        schema.field(FieldType::Char)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        w.put(self.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let raw = r.require()?;
        let mut chars = std::str::from_utf8(raw).ok().map(str::chars);
        match chars.as_mut().map(|c| (c.next(), c.next())) {
            Some((Some(c), None)) => Ok(c),
            _ => Err(r.invalid("exactly one character", raw)),
        }
    }
}

impl ReemField for String {
    fn describe(schema: &mut SchemaBuilder) {
        schema.field(FieldType::String)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        w.put(self.as_bytes());
        Ok(())
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        let raw = r.require()?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(r.invalid("UTF-8 text", raw)),
        }
    }
}
