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
    if let Some(stored) = element_text(ty, key, field, text) {
        return stored;
    }
    let refuse = |reason: String| refusal(key, field, reason);
    let number = |what: &str| refuse(format!("{} is not {what}", show_bytes(text.as_bytes())));
    match ty {
        FieldType::U128 => int_text::<u128>(key, field, text, "u128"),
        FieldType::I128 => int_text::<i128>(key, field, text, "i128"),
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
            Err(e) => Err(refuse(format!(
                "{} is not JSON text ({e})",
                show_bytes(text.as_bytes())
            ))),
        },
        _ => Err(refuse(format!(
            "it is {}, not a scalar: only numbers, bool, char, string, enum and JSON \
             fields can be set from text",
            describe_type(ty)
        ))),
    }
}

fn refusal(key: &str, field: &str, reason: String) -> Error {
    Error::Encode {
        key: key.to_owned(),
        field: field.to_owned(),
        reason,
    }
}

/// A `bool` field's text: `1`, `0`, `true`, `false` (any case), spaces around allowed.
pub(super) fn bool_text(key: &str, field: &str, text: &str) -> Result<Vec<u8>> {
    match text.trim() {
        "1" => stored(key, field, true),
        "0" => stored(key, field, false),
        t if t.eq_ignore_ascii_case("true") => stored(key, field, true),
        t if t.eq_ignore_ascii_case("false") => stored(key, field, false),
        _ => Err(refusal(
            key,
            field,
            format!(
                "{} is not a boolean (1, 0, true or false)",
                show_bytes(text.as_bytes())
            ),
        )),
    }
}

/// An integer field's text (`name` is its Rust type), spaces around allowed.
pub(super) fn int_text<T: ReemField + std::str::FromStr>(
    key: &str,
    field: &str,
    text: &str,
    name: &str,
) -> Result<Vec<u8>> {
    let value: T = text.trim().parse().map_err(|_| {
        refusal(
            key,
            field,
            format!(
                "{} is not an integer that fits {name}",
                show_bytes(text.as_bytes())
            ),
        )
    })?;
    stored(key, field, value)
}

/// A float field's text (`name` is its Rust type): `inf`, `-inf`, `nan` too, but not a
/// finite text too large for the type.
pub(super) fn float_text<T: ReemField + std::str::FromStr + Copy>(
    key: &str,
    field: &str,
    text: &str,
    name: &str,
    is_infinite: fn(T) -> bool,
) -> Result<Vec<u8>> {
    let t = text.trim();
    let number = |what: String| {
        refusal(
            key,
            field,
            format!("{} is not {what}", show_bytes(text.as_bytes())),
        )
    };
    let v: T = t
        .parse()
        .map_err(|_| number(format!("a number ({name})")))?;
    let spelled_inf = t
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .starts_with("inf");
    if is_infinite(v) && !spelled_inf {
        return Err(number(format!("a number within the range of {name}")));
    }
    stored(key, field, v)
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
    if let Some(name) = element_type_name(ty) {
        return name.into();
    }
    match ty {
        FieldType::U128 => "u128".into(),
        FieldType::I128 => "i128".into(),
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
        _ => "an unknown type".into(),
    }
}
