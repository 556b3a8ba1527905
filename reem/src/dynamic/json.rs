//! The JSON (serde) form of decoded messages.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::*;

/// Serialises as JSON-friendly data: structs as maps in schema order, lists as sequences,
/// `Absent` as `null`, non-finite floats as the strings `"nan"`, `"inf"`, `"-inf"`, arrays
/// as nested sequences ([`ArrayBody::Full`]) or as a summary map with `dtype`, `shape`,
/// `min`, `max`, `mean` (and `nan` when NaNs were skipped).
impl Serialize for DynValue {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            DynValue::Absent => s.serialize_none(),
            DynValue::Bool(b) => s.serialize_bool(*b),
            DynValue::Int(i) => match i64::try_from(*i) {
                Ok(i) => s.serialize_i64(i),
                Err(_) => s.serialize_i128(*i),
            },
            DynValue::UInt(u) => match u64::try_from(*u) {
                Ok(u) => s.serialize_u64(u),
                Err(_) => s.serialize_u128(*u),
            },
            DynValue::F32(f) => float(shortest_f64(*f), s),
            DynValue::F64(f) => float(*f, s),
            DynValue::Char(c) => s.serialize_char(*c),
            DynValue::String(t) | DynValue::Enum(t) => s.serialize_str(t),
            DynValue::Json(j) => j.serialize(s),
            DynValue::Array(a) => a.serialize(s),
            DynValue::List(items) => items.serialize(s),
            DynValue::Struct(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            DynValue::Custom { format, fields } => {
                let mut m = s.serialize_map(Some(fields.len() + 1))?;
                m.serialize_entry("@custom", format)?;
                for (k, v) in fields {
                    m.serialize_entry(k, &String::from_utf8_lossy(v))?;
                }
                m.end()
            }
        }
    }
}

/// A float as a JSON number, or as a string for the non-finite ones.
fn float<S: Serializer>(v: f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("nan")
    } else if v.is_infinite() {
        s.serialize_str(if v < 0.0 { "-inf" } else { "inf" })
    } else {
        s.serialize_f64(v)
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Number::Int(i) => DynValue::Int(*i).serialize(s),
            Number::Float(f) => float(*f, s),
        }
    }
}

/// A summary as a map, a full array as nested sequences.
impl Serialize for DynArray {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.body {
            ArrayBody::Summary(st) => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("dtype", &self.dtype)?;
                m.serialize_entry("shape", &self.shape)?;
                m.serialize_entry("min", &st.min)?;
                m.serialize_entry("max", &st.max)?;
                m.serialize_entry("mean", &st.mean.map(Number::Float))?;
                if st.nan > 0 {
                    m.serialize_entry("nan", &st.nan)?;
                }
                m.end()
            }
            ArrayBody::Full(e) => serialize_elements(e, &self.shape, s),
            ArrayBody::Bytes(_) => match self.elements() {
                Some(e) => serialize_elements(&e, &self.shape, s),
                None => Err(serde::ser::Error::custom(format!(
                    "the bytes of an array of {} do not hold its shape {:?}",
                    self.dtype, self.shape
                ))),
            },
        }
    }
}

/// Empty lists a full array with no elements may print (its shape's axes before the first
/// zero-length one): `(3, 0)` prints `[[], [], []]`, but `(4000000000000000000, 0)` would
/// print 10^19 bytes for an array that stores none, and is refused.
pub(crate) const MAX_EMPTY_LISTS: usize = 1 << 16;

/// How many lists (`[…]`) the nested form of an array of `shape` prints, saturating.
fn lists_printed(shape: &[usize]) -> usize {
    let mut level = 1usize;
    let mut total = 1usize;
    for d in shape.iter().take(shape.len().saturating_sub(1)) {
        level = level.saturating_mul(*d);
        total = total.saturating_add(level);
    }
    total
}

fn serialize_elements<S: Serializer>(
    e: &Elements,
    shape: &[usize],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    struct Level<'a, T> {
        items: &'a [T],
        shape: &'a [usize],
    }
    impl<T: DynElement> Serialize for Level<'_, T> {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            match self.shape.split_first() {
                None => match self.items.first() {
                    Some(x) => x.value().serialize(s),
                    None => s.serialize_none(),
                },
                Some((&n, rest)) => {
                    let step = rest.iter().product::<usize>();
                    let mut seq = s.serialize_seq(Some(n))?;
                    for i in 0..n {
                        let start = i.saturating_mul(step).min(self.items.len());
                        let end = start.saturating_add(step).min(self.items.len());
                        seq.serialize_element(&Level {
                            items: &self.items[start..end],
                            shape: rest,
                        })?;
                    }
                    seq.end()
                }
            }
        }
    }
    struct Nested<'a, S> {
        shape: &'a [usize],
        s: S,
    }
    impl<S: Serializer> ElementsVisitor for Nested<'_, S> {
        type Out = std::result::Result<S::Ok, S::Error>;
        fn visit<A: DynElement>(self, items: &[A]) -> Self::Out {
            // With elements, every axis is at least 1 long: the lists printed are at most
            // ndim per element. Without, only the axes before the first empty one print.
            if items.is_empty() && lists_printed(self.shape) > MAX_EMPTY_LISTS {
                return Err(serde::ser::Error::custom(format!(
                    "an array of shape {} has no elements but would print {} empty lists \
                     (at most {MAX_EMPTY_LISTS})",
                    array::format_tuple(self.shape),
                    lists_printed(self.shape)
                )));
            }
            Level {
                items,
                shape: self.shape,
            }
            .serialize(self.s)
        }
    }
    e.visit(Nested { shape, s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_printed_count_the_nested_brackets() {
        assert_eq!(lists_printed(&[]), 1);
        assert_eq!(lists_printed(&[5]), 1);
        assert_eq!(lists_printed(&[3, 0]), 4);
        assert_eq!(lists_printed(&[2, 3, 4]), 1 + 2 + 6);
        assert_eq!(lists_printed(&[0, usize::MAX]), 1);
        assert_eq!(
            lists_printed(&[4_000_000_000_000_000_000, 0]),
            4_000_000_000_000_000_001
        );
        assert_eq!(lists_printed(&[usize::MAX, usize::MAX, 0]), usize::MAX);
    }
}
