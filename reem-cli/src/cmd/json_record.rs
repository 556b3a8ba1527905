//! `reem record --encoding json`: messages as JSON objects with a JSON Schema, the way
//! Foxglove Studio and Rerun read JSON channels (byte arrays as base64 text, other arrays as
//! nested lists of numbers).

use reem::dynamic::{ArrayBody, DynMessage, DynValue, Elements};
use serde_json::{json, Map, Value};

/// The message as a JSON object (a top-level scalar, array or list under `value`).
pub fn message(msg: &DynMessage) -> Value {
    match value(&msg.value) {
        Value::Object(o) => Value::Object(o),
        other => json!({ "value": other }),
    }
}

/// The JSON Schema of the messages [`message`] makes from messages like `msg`.
pub fn schema_of(msg: &DynMessage) -> Vec<u8> {
    let body = match &msg.value {
        DynValue::Struct(_) => schema_value(&msg.value),
        other => json!({"type": "object", "properties": {"value": schema_value(other)}}),
    };
    let mut root = match body {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    root.insert(
        "$schema".to_owned(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("title".to_owned(), json!(msg.label));
    serde_json::to_vec(&Value::Object(root)).unwrap_or_default()
}

fn value(v: &DynValue) -> Value {
    match v {
        DynValue::Struct(fields) => {
            Value::Object(fields.iter().map(|(k, v)| (k.clone(), value(v))).collect())
        }
        DynValue::List(items) => Value::Array(items.iter().map(value).collect()),
        DynValue::Array(a) => match &a.body {
            ArrayBody::Full(Elements::U8(bytes)) => Value::String(base64(bytes)),
            _ => serde_json::to_value(a).unwrap_or(Value::Null),
        },
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

fn schema_value(v: &DynValue) -> Value {
    match v {
        DynValue::Struct(fields) => {
            let props: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), schema_value(v)))
                .collect();
            json!({"type": "object", "properties": props})
        }
        DynValue::List(items) => match items.first() {
            Some(first) => json!({"type": "array", "items": schema_value(first)}),
            None => json!({"type": "array"}),
        },
        DynValue::Array(a) => match &a.body {
            ArrayBody::Full(Elements::U8(_)) => {
                json!({"type": "string", "contentEncoding": "base64"})
            }
            _ => json!({"type": "array"}),
        },
        DynValue::Bool(_) => json!({"type": "boolean"}),
        DynValue::Int(_) | DynValue::UInt(_) => json!({"type": "integer"}),
        // Non-finite floats are written as the strings "nan", "inf", "-inf".
        DynValue::F32(_) | DynValue::F64(_) => json!({"type": ["number", "string"]}),
        DynValue::Char(_) | DynValue::String(_) | DynValue::Enum(_) => json!({"type": "string"}),
        _ => json!({}),
    }
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[255, 0, 128]), "/wCA");
    }
}
