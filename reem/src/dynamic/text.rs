//! One scalar field as text: what a person types becomes its stored text, and a field's
//! type as a person reads it.

use super::*;
use crate::marshal::Commands;

/// The stored text of `text` in a scalar field of type `ty` (`key` and `field` name it in
/// errors), exactly as the Rust encoder of that type writes it.
///
/// Numbers and `bool` may be surrounded by spaces; `bool` accepts `1`, `0`, `true`,
/// `false`; floats accept `inf`, `-inf`, `nan`, but a finite text too large for the type
/// (`1e40` for an `f32`) is refused; an enum takes one of its variant names; a JSON field
/// takes any valid JSON text, stored as given (the shape the Rust type expects cannot be
/// checked without it). Arrays, lists and custom fields are refused with
/// [`Error::Encode`], as is every text that does not fit the type.
///
/// ```
/// use reem::schema::FieldType;
/// assert_eq!(reem::dynamic::encode_text("k", "x", &FieldType::F64, " 2.50 ")?, b"2.5");
/// assert!(reem::dynamic::encode_text("k", "x", &FieldType::F64, "fast").is_err());
/// # Ok::<(), reem::Error>(())
/// ```
pub fn encode_text(key: &str, field: &str, ty: &FieldType, text: &str) -> Result<Vec<u8>> {
    let refuse = |reason: String| Error::Encode {
        key: key.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let shown = show_bytes(text.as_bytes());
    let number = |what: &str| refuse(format!("{shown} is not {what}"));
    let t = text.trim();
    macro_rules! int {
        ($t:ty) => {
            stored::<$t>(
                key,
                field,
                t.parse()
                    .map_err(|_| number(concat!("an integer that fits ", stringify!($t))))?,
            )
        };
    }
    macro_rules! float {
        ($t:ty) => {{
            let v: $t = t
                .parse()
                .map_err(|_| number(concat!("a number (", stringify!($t), ")")))?;
            let spelled_inf = t
                .trim_start_matches(['+', '-'])
                .to_ascii_lowercase()
                .starts_with("inf");
            if v.is_infinite() && !spelled_inf {
                return Err(number(concat!(
                    "a number within the range of ",
                    stringify!($t)
                )));
            }
            stored::<$t>(key, field, v)
        }};
    }
    match ty {
        FieldType::Bool => match t {
            "1" => stored(key, field, true),
            "0" => stored(key, field, false),
            _ if t.eq_ignore_ascii_case("true") => stored(key, field, true),
            _ if t.eq_ignore_ascii_case("false") => stored(key, field, false),
            _ => Err(number("a boolean (1, 0, true or false)")),
        },
        FieldType::U8 => int!(u8),
        FieldType::U16 => int!(u16),
        FieldType::U32 => int!(u32),
        FieldType::U64 => int!(u64),
        FieldType::U128 => int!(u128),
        FieldType::I8 => int!(i8),
        FieldType::I16 => int!(i16),
        FieldType::I32 => int!(i32),
        FieldType::I64 => int!(i64),
        FieldType::I128 => int!(i128),
        FieldType::F32 => float!(f32),
        FieldType::F64 => float!(f64),
        FieldType::Char => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => stored(key, field, c),
                _ => Err(number("exactly one character")),
            }
        }
        FieldType::String => Ok(text.as_bytes().to_vec()),
        FieldType::Enum { variants } => {
            if variants.iter().any(|v| v == text) {
                Ok(text.as_bytes().to_vec())
            } else {
                Err(number(&one_of(variants)))
            }
        }
        FieldType::Json => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Ok(text.as_bytes().to_vec()),
            Err(e) => Err(refuse(format!("{shown} is not JSON text ({e})"))),
        },
        FieldType::Array { .. } | FieldType::List { .. } | FieldType::Custom { .. } => {
            Err(refuse(format!(
                "it is {}, not a scalar: only numbers, bool, char, string, enum and JSON \
                 fields can be set from text",
                describe_type(ty)
            )))
        }
    }
}

/// The stored text of `value`, from the type's own encoder (it writes into a scratch
/// command whose last argument is the value).
fn stored<T: ReemField>(key: &str, field: &str, value: T) -> Result<Vec<u8>> {
    let mut cmds = Commands::new();
    cmds.cmd("HSET");
    let mut w = FieldWriter::new(key, &mut cmds, FieldPath::at(field));
    value.encode(&mut w)?;
    w.finish();
    let last = cmds.last().and_then(|c| c.args().last());
    match last {
        Some(bytes) => Ok(bytes.to_vec()),
        _ => Err(Error::Encode {
            key: key.to_owned(),
            field: field.to_owned(),
            reason: "the encoder wrote no value".to_owned(),
        }),
    }
}

/// A short human description of a stored type: `f64`, `enum (Idle, Driving)`,
/// `array float32, 2-D`, `list of 3 fields`.
pub fn describe_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Bool => "bool".into(),
        FieldType::U8 => "u8".into(),
        FieldType::U16 => "u16".into(),
        FieldType::U32 => "u32".into(),
        FieldType::U64 => "u64".into(),
        FieldType::U128 => "u128".into(),
        FieldType::I8 => "i8".into(),
        FieldType::I16 => "i16".into(),
        FieldType::I32 => "i32".into(),
        FieldType::I64 => "i64".into(),
        FieldType::I128 => "i128".into(),
        FieldType::F32 => "f32".into(),
        FieldType::F64 => "f64".into(),
        FieldType::Char => "char".into(),
        FieldType::String => "string".into(),
        FieldType::Enum { variants } => format!("enum ({})", variants.join(" | ")),
        FieldType::Json => "json".into(),
        FieldType::Array { dtype, ndim, shape } => match (shape, ndim) {
            (Some(s), _) => format!("array {dtype} {}", array::format_tuple(s)),
            (None, Some(n)) => format!("array {dtype}, {n}-D"),
            (None, None) => format!("array {dtype}"),
        },
        FieldType::List { items } => match items.as_slice() {
            [one] if one.name.is_empty() => format!("list of {}", describe_type(&one.ty)),
            _ => format!("list of {{{}}}", {
                let parts: Vec<String> = items
                    .iter()
                    .map(|f| {
                        let opt = if f.optional { "?" } else { "" };
                        format!("{}{opt}: {}", f.name, describe_type(&f.ty))
                    })
                    .collect();
                parts.join(", ")
            }),
        },
        FieldType::Custom { format } => format!("custom ({format})"),
    }
}
