//! `RedisInterface`, `KeyValueStore`, `PublishSpace`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use redis::Value;
use reem::dynamic::{self, DynMessage, DynValue};
use reem::marshal::{array, HashView, FINGERPRINT_FIELD, SCHEMA_FIELD};
use reem::schema::{FieldSchema, FieldType, Schema, ROOT_LEAF};

use crate::convert::{to_dyn, to_py};
use crate::errors::{self, IntoPy};

/// A connection to one Redis server or a Redis Cluster (shared by every store and
/// subscriber made from it).
#[pyclass(module = "reem", frozen)]
pub struct RedisInterface {
    pub(crate) inner: reem::RedisInterface,
}

#[pymethods]
impl RedisInterface {
    #[new]
    #[pyo3(signature = (url = None, *, cluster = None, connect_timeout = None,
        response_timeout = None, max_message_size = None, tls_ca_file = None,
        tls_client_cert = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: Option<String>,
        cluster: Option<Vec<String>>,
        connect_timeout: Option<f64>,
        response_timeout: Option<f64>,
        max_message_size: Option<u64>,
        tls_ca_file: Option<String>,
        tls_client_cert: Option<(String, String)>,
    ) -> PyResult<Self> {
        let mut b = match (&url, &cluster) {
            (Some(u), None) => reem::RedisInterface::builder(u),
            (None, Some(nodes)) => reem::RedisInterface::cluster_builder(nodes),
            (None, None) => reem::RedisInterface::builder("redis://127.0.0.1:6379"),
            (Some(_), Some(_)) => {
                return Err(errors::InvalidUrl::new_err(
                    "give either a url or cluster=[seed urls], not both",
                ))
            }
        };
        let secs = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| errors::InvalidUrl::new_err(format!("{what} must be >= 0 seconds")))
        };
        if let Some(s) = connect_timeout {
            b = b.connect_timeout(secs(s, "connect_timeout")?);
        }
        if let Some(s) = response_timeout {
            b = b.response_timeout(Some(secs(s, "response_timeout")?));
        }
        if let Some(n) = max_message_size {
            b = b.max_message_size(n);
        }
        if let Some(ca) = tls_ca_file {
            b = b.tls_ca_file(ca);
        }
        if let Some((cert, key)) = tls_client_cert {
            b = b.tls_client_cert(cert, key);
        }
        let inner = py.detach(|| b.connect()).py_err()?;
        Ok(RedisInterface { inner })
    }

    /// The URL (password removed).
    #[getter]
    fn url(&self) -> String {
        self.inner.url().to_owned()
    }

    /// True on a Redis Cluster.
    #[getter]
    fn is_cluster(&self) -> bool {
        self.inner.is_cluster()
    }

    fn __repr__(&self) -> String {
        format!("reem.RedisInterface({:?})", self.inner.url())
    }
}

/// Messages at keys: `set(key, dict)`, `get(key)`.
#[pyclass(module = "reem", frozen)]
pub struct KeyValueStore {
    inner: reem::KeyValueStore,
    /// The stored schema last seen at each key (fingerprint, schema), for reads of one
    /// field in one `HMGET`. Bounded: emptied when it holds [`MAX_SCHEMAS`] keys.
    schemas: Mutex<HashMap<String, KnownSchema>>,
}

/// A stored fingerprint and its schema.
type KnownSchema = (Vec<u8>, Arc<Schema>);

/// Keys whose schema a store remembers for `get(key, field=…)`.
const MAX_SCHEMAS: usize = 1024;

/// The stored names holding the field at the dotted `path` of a message of `schema`
/// (those of one scalar or array, or of every field of a nested struct), and the schema
/// entries that describe them; `None` if the field is a list or inside one (its stored
/// names depend on its length), or not in the schema.
fn field_names(schema: &Schema, path: &str) -> Option<(Vec<String>, Vec<FieldSchema>)> {
    let entries: Vec<&FieldSchema> = schema
        .fields
        .iter()
        .filter(|f| {
            f.name == path
                || path.is_empty()
                || (f.name.len() > path.len()
                    && f.name.starts_with(path)
                    && f.name.as_bytes()[path.len()] == b'.')
        })
        .collect();
    if entries.is_empty() {
        return None;
    }
    let mut names = Vec::new();
    for f in &entries {
        let leaf = if f.name.is_empty() {
            ROOT_LEAF
        } else {
            f.name.as_str()
        };
        match &f.ty {
            FieldType::List { .. } | FieldType::Custom { .. } => return None,
            FieldType::Array { .. } => {
                let prefix = if f.name.is_empty() {
                    String::new()
                } else {
                    format!("{}.", f.name)
                };
                for part in [array::ARR, array::DTYPE, array::SHAPE, array::STRIDES] {
                    names.push(format!("{prefix}{part}"));
                }
            }
            _ => names.push(leaf.to_owned()),
        }
    }
    Some((names, entries.into_iter().cloned().collect()))
}

/// Reads one field of the message at `key` with one `HMGET` of its stored names and `@fp`
/// when `known` is the message's schema; `Ok(None)` when it is not (another fingerprint is
/// stored) or the field cannot be read alone.
fn get_field_with(
    iface: &reem::RedisInterface,
    key: &str,
    fp: &[u8],
    schema: &Schema,
    path: &str,
) -> reem::Result<Option<DynValue>> {
    let Some((names, entries)) = field_names(schema, path) else {
        return Ok(None);
    };
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(key).arg(FINGERPRINT_FIELD);
    for n in &names {
        cmd.arg(n);
    }
    let Value::Array(values) = iface.raw_query(&cmd)? else {
        return Ok(None);
    };
    let mut values = values.into_iter();
    match values.next() {
        Some(Value::BulkString(stored)) if stored == fp => {}
        _ => return Ok(None),
    }
    // The selected fields as a message of their own: their schema entries, their values.
    let sub = Schema::new(schema.label.clone(), entries);
    let mut pairs = vec![
        Value::BulkString(SCHEMA_FIELD.as_bytes().to_vec()),
        Value::BulkString(sub.json.clone().into_bytes()),
    ];
    for (name, value) in names.into_iter().zip(values) {
        if let Value::BulkString(v) = value {
            pairs.push(Value::BulkString(name.into_bytes()));
            pairs.push(Value::BulkString(v));
        }
    }
    let msg = dynamic::decode_owned(key, Value::Array(pairs), dynamic::Arrays::Bytes)?;
    Ok(take_path(msg.value, path))
}

/// The label of a value written without one: `dict` for a dict, else its Python type name.
fn default_label(value: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(value.get_type().name()?.to_string())
}

/// The message at `key` decoded with its stored schema. A hash without a schema that holds
/// an array as the seed's `NumpyMarshaller` writes it (`arr`, `dtype`, `shape`) is read as
/// that array.
fn get_message(kv: &reem::KeyValueStore, key: &str) -> reem::Result<DynMessage> {
    let mut reply = kv.get_hash(key)?;
    // A look at the names only (the decode below checks everything): no schema, but the
    // seed's array fields?
    let untagged_array = {
        let pairs: Box<dyn Iterator<Item = (&Value, &Value)>> = match &reply {
            Value::Array(items) => Box::new(items.chunks_exact(2).map(|p| (&p[0], &p[1]))),
            Value::Map(items) => Box::new(items.iter().map(|(k, v)| (k, v))),
            _ => Box::new(std::iter::empty()),
        };
        let (mut schema, mut arr, mut dtype) = (false, false, None);
        for (k, v) in pairs {
            match k {
                Value::BulkString(n) if n == SCHEMA_FIELD.as_bytes() => schema = true,
                Value::BulkString(n) if n == array::ARR.as_bytes() => arr = true,
                Value::BulkString(n) if n == array::DTYPE.as_bytes() => {
                    if let Value::BulkString(d) = v {
                        dtype = Some(String::from_utf8_lossy(d).into_owned());
                    }
                }
                _ => {}
            }
        }
        dtype.filter(|_| arr && !schema)
    };
    if let Some(dtype) = untagged_array {
        // numpy's name of the stored dtype (`<f8` → `float64`), as reem's schemas name it.
        let canonical = array::Dtype::parse(dtype.as_bytes())
            .and_then(|d| dynamic::element_type(&d))
            .map_or(dtype, |(name, _)| name.to_owned());
        let schema = reem::schema::Schema::new(
            "ndarray".to_owned(),
            vec![reem::schema::FieldSchema {
                name: String::new(),
                ty: reem::schema::FieldType::Array {
                    dtype: canonical,
                    ndim: None,
                    shape: None,
                },
                optional: false,
            }],
        );
        let pairs = [
            (SCHEMA_FIELD, schema.json.into_bytes()),
            (FINGERPRINT_FIELD, schema.fingerprint_hex.into_bytes()),
        ];
        match &mut reply {
            Value::Array(items) => {
                for (n, v) in pairs {
                    items.push(Value::BulkString(n.as_bytes().to_vec()));
                    items.push(Value::BulkString(v));
                }
            }
            Value::Map(items) => {
                for (n, v) in pairs {
                    items.push((
                        Value::BulkString(n.as_bytes().to_vec()),
                        Value::BulkString(v),
                    ));
                }
            }
            _ => {}
        }
    }
    dynamic::decode_owned(key, reply, dynamic::Arrays::Bytes)
}

/// Reads the message at `key` (one `HGETALL`) and gives its hash and checked stored schema
/// to `f`; a missing key is [`reem::Error::NotFound`].
fn with_stored<R>(
    kv: &reem::KeyValueStore,
    key: &str,
    f: impl FnOnce(&HashView<'_>, Schema) -> reem::Result<R>,
) -> reem::Result<R> {
    let reply = kv.get_hash(key)?;
    let hash = HashView::from_hgetall(key, &reply)?;
    if hash.is_empty() {
        return Err(reem::Error::NotFound {
            key: key.to_owned(),
        });
    }
    let schema = dynamic::read_schema(key, &hash)?;
    f(&hash, schema)
}

/// Takes the value at the dotted `path` out of `v`.
fn take_path(v: DynValue, path: &str) -> Option<DynValue> {
    if path.is_empty() {
        return Some(v);
    }
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    match v {
        DynValue::Struct(fields) => fields
            .into_iter()
            .find(|(n, _)| n == head)
            .and_then(|(_, v)| take_path(v, rest)),
        DynValue::List(items) => {
            let i: usize = head.parse().ok()?;
            items.into_iter().nth(i).and_then(|v| take_path(v, rest))
        }
        _ => None,
    }
}

/// A Python scalar as the text `reem set` would be given.
fn scalar_text(v: &Bound<'_, PyAny>) -> PyResult<String> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
    if v.is_instance_of::<PyBool>() {
        return Ok(if v.extract::<bool>()? {
            "true"
        } else {
            "false"
        }
        .to_owned());
    }
    if v.is_instance_of::<PyInt>() || v.is_instance_of::<PyString>() {
        return v.str()?.extract();
    }
    if v.is_instance_of::<PyFloat>() {
        // Python's repr is the shortest text that reads back as the same float.
        return v.repr()?.extract();
    }
    Err(errors::EncodeError::new_err(format!(
        "set_fields takes bool, int, float and str values, not {}",
        v.get_type().name()?
    )))
}

impl KeyValueStore {
    /// Remembers the schema of the message just read at `key`.
    fn remember(&self, key: &str, msg: &DynMessage) {
        let mut m = self.schemas.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_SCHEMAS && !m.contains_key(key) {
            m.clear();
        }
        m.insert(
            key.to_owned(),
            (
                msg.schema.fingerprint_hex.as_bytes().to_vec(),
                Arc::clone(&msg.schema),
            ),
        );
    }
}

#[pymethods]
impl KeyValueStore {
    #[new]
    fn new(iface: &RedisInterface) -> Self {
        KeyValueStore {
            inner: reem::KeyValueStore::new(&iface.inner),
            schemas: Mutex::new(HashMap::new()),
        }
    }

    /// Stores `value` at `key`, replacing what was there, in one atomic transaction.
    #[pyo3(signature = (key, value, label = None, *, as_stored = false))]
    fn set(
        &self,
        py: Python<'_>,
        key: &str,
        value: &Bound<'_, PyAny>,
        label: Option<String>,
        as_stored: bool,
    ) -> PyResult<()> {
        let (v, hints) = to_dyn(value).map_err(|e| errors::EncodeError::new_err(e.to_string()))?;
        if as_stored {
            let kv = &self.inner;
            return py
                .detach(|| {
                    let msg =
                        with_stored(kv, key, |_, schema| DynMessage::conform(key, &schema, v))?;
                    kv.set(key, &msg)
                })
                .py_err();
        }
        let label = match label {
            Some(l) => l,
            None => default_label(value)?,
        };
        let msg = DynMessage::infer_with_types(key, &label, v, &hints).py_err()?;
        py.detach(|| self.inner.set(key, &msg)).py_err()
    }

    /// The message at `key` as a dict (or the value itself for a top-level scalar, list or
    /// array); with `field`, only that field (`"base.x"`, `"path.0"`).
    #[pyo3(signature = (key, field = None))]
    fn get(&self, py: Python<'_>, key: &str, field: Option<&str>) -> PyResult<Py<PyAny>> {
        let Some(f) = field else {
            let msg = py.detach(|| get_message(&self.inner, key)).py_err()?;
            self.remember(key, &msg);
            return to_py(py, msg.value);
        };
        // A schema seen at this key before: one HMGET of the field's names, if the message
        // still has that schema.
        let known = self
            .schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        if let Some((fp, schema)) = known {
            let iface = self.inner.interface();
            if let Some(v) = py
                .detach(|| get_field_with(iface, key, &fp, &schema, f))
                .py_err()?
            {
                return to_py(py, v);
            }
        }
        let msg = py.detach(|| get_message(&self.inner, key)).py_err()?;
        self.remember(key, &msg);
        let label = msg.label.clone();
        let value = take_path(msg.value, f).ok_or_else(|| {
            errors::SchemaMismatch::new_err(format!(
                "key {key:?}: its message ({label}) has no field {f:?}"
            ))
        })?;
        to_py(py, value)
    }

    /// The stored label of the message at `key`.
    fn label(&self, py: Python<'_>, key: &str) -> PyResult<String> {
        let msg = py.detach(|| get_message(&self.inner, key)).py_err()?;
        Ok(msg.label)
    }

    /// Changes scalar fields of the stored message, checked against its stored schema and
    /// written atomically only if the message has not changed type meanwhile (what
    /// `reem set KEY FIELD=VALUE …` does).
    fn set_fields(&self, py: Python<'_>, key: &str, fields: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut texts = Vec::new();
        for (k, v) in fields.iter() {
            texts.push((k.extract::<String>()?, scalar_text(&v)?));
        }
        let kv = &self.inner;
        py.detach(|| {
            with_stored(kv, key, |hash, schema| {
                let fp = hash.get(FINGERPRINT_FIELD.as_bytes()).ok_or_else(|| {
                    reem::Error::MissingField {
                        key: key.to_owned(),
                        field: FINGERPRINT_FIELD.to_owned(),
                    }
                })?;
                let mut changes = Vec::new();
                for (field, text) in &texts {
                    let refuse = |reason: String| reem::Error::Encode {
                        key: key.to_owned(),
                        field: field.clone(),
                        reason,
                    };
                    let change = dynamic::assignment(key, &schema, hash, field, text).map_err(
                        |r| match r {
                            dynamic::Refusal::UnknownField => {
                                refuse(format!("its message ({}) has no such field", schema.label))
                            }
                            dynamic::Refusal::NotStored => refuse(
                                "the field is not stored (an optional field that is None, or a \
                             list element past the end)"
                                    .to_owned(),
                            ),
                            dynamic::Refusal::Value(e) => e,
                            _ => refuse("the field cannot be set".to_owned()),
                        },
                    )?;
                    changes.push((change.stored, change.new));
                }
                let pairs: Vec<(&str, &[u8])> = changes
                    .iter()
                    .map(|(s, n)| (s.as_str(), n.as_slice()))
                    .collect();
                kv.set_stored_fields(key, fp, &pairs)
            })
        })
        .py_err()
    }

    /// Deletes `key`; True if it existed.
    fn delete(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        py.detach(|| self.inner.delete(key)).py_err()
    }

    /// True if something is stored at `key`.
    fn exists(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        py.detach(|| self.inner.exists(key)).py_err()
    }

    fn __getitem__(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        self.get(py, key, None)
    }

    fn __setitem__(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set(py, key, value, None, false)
    }
}

/// Publishes messages: stores each as its topic's latest value and notifies subscribers,
/// in one atomic step.
#[pyclass(module = "reem", frozen)]
pub struct PublishSpace {
    inner: reem::PublishSpace,
}

#[pymethods]
impl PublishSpace {
    #[new]
    fn new(iface: &RedisInterface) -> Self {
        PublishSpace {
            inner: reem::PublishSpace::new(&iface.inner),
        }
    }

    /// Publishes `value` on `topic` (label: as for `KeyValueStore.set`).
    #[pyo3(signature = (topic, value, label = None))]
    fn publish(
        &self,
        py: Python<'_>,
        topic: &str,
        value: &Bound<'_, PyAny>,
        label: Option<String>,
    ) -> PyResult<()> {
        let (v, hints) = to_dyn(value).map_err(|e| errors::EncodeError::new_err(e.to_string()))?;
        let label = match label {
            Some(l) => l,
            None => default_label(value)?,
        };
        let msg = DynMessage::infer_with_types(topic, &label, v, &hints).py_err()?;
        py.detach(|| self.inner.publish(topic, &msg)).py_err()
    }

    /// This publisher's id (`@pub`, 16 hex digits).
    #[getter]
    fn publisher_id(&self) -> String {
        self.inner.publisher_id()
    }

    fn __setitem__(&self, py: Python<'_>, topic: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.publish(py, topic, value, None)
    }
}
