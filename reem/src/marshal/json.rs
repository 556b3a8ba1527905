//! JSON fields: any `serde` type stored as JSON text in one field (`#[reem(json)]`, or the
//! [`Json`] wrapper).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{FieldReader, FieldWriter, ReemField};
use crate::error::{show_bytes, Result};
use crate::schema::{FieldType, SchemaBuilder};

/// A value stored as JSON text in one field: `Json(my_config)`. A field marked
/// `#[reem(json)]` is stored the same way without the wrapper.
///
/// ```
/// use reem::{Json, ReemMarshal};
/// use std::collections::BTreeMap;
///
/// #[derive(ReemMarshal)]
/// struct Config {
///     params: Json<BTreeMap<String, f64>>,
///     #[reem(json)]
///     tags: BTreeMap<String, String>,
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Json<T>(pub T);

/// Declares a JSON field.
pub fn describe_json(schema: &mut SchemaBuilder) {
    schema.field(FieldType::Json)
}

/// Writes `value` as JSON text at the writer's path.
pub fn encode_json<T: Serialize>(value: &T, w: &mut FieldWriter<'_, '_>) -> Result<()> {
    let text = serde_json::to_vec(value).map_err(|e| w.error(e))?;
    w.put(&text);
    Ok(())
}

/// Reads JSON text at the reader's path as `T`.
pub fn decode_json<T: DeserializeOwned>(r: &mut FieldReader<'_, '_>) -> Result<T> {
    let raw = r.require()?;
    serde_json::from_slice(raw).map_err(|e| {
        r.invalid_at(
            r.path().leaf(),
            "JSON text",
            format!("{} ({e})", show_bytes(raw)),
        )
    })
}

impl<T: Serialize + DeserializeOwned + Send + 'static> ReemField for Json<T> {
    fn describe(schema: &mut SchemaBuilder) {
        describe_json(schema)
    }

    fn encode<'a>(&'a self, w: &mut FieldWriter<'_, 'a>) -> Result<()> {
        encode_json(&self.0, w)
    }

    fn decode(r: &mut FieldReader<'_, '_>) -> Result<Self> {
        decode_json(r).map(Json)
    }
}
