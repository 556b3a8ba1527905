//! Python values ↔ [`DynValue`]: dicts are structs, lists are lists, numpy arrays are
//! arrays.
//!
//! **Reading** moves each array's bytes, taken out of the Redis reply without a copy
//! ([`ArrayBody::Bytes`]), into a numpy array that owns that Rust buffer
//! (`PyArray1::<u8>::from_vec`, no copy), viewed with the stored dtype and shape and made
//! read-only: the array you get shares the reply's buffer.
//!
//! **Writing** copies each numpy array's bytes once (as `ndarray.tobytes()` would), so that
//! the GIL can be released while the message is sent: no Python thread can change the
//! bytes in flight.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use reem::dynamic::{self, ArrayBody, DynArray, DynValue};
use reem::marshal::array::Dtype;
use reem::schema::FieldType;

/// Python values nest at most this deep (a dict in a list in a dict … counts each level);
/// reem's schemas nest less than this anyway.
const MAX_DEPTH: usize = 40;

/// A Python value as a [`DynValue`], and the exact types of the numpy scalars in it (by
/// dotted field name; not inside lists), for the schema: `np.uint8(3)` is a `u8` field.
pub fn to_dyn(v: &Bound<'_, PyAny>) -> PyResult<(DynValue, Vec<(String, FieldType)>)> {
    let np = numpy_module(v.py())?;
    let mut walk = Walk {
        np,
        hints: Vec::new(),
    };
    let value = walk.value(v, Some(String::new()), 0)?;
    Ok((value, walk.hints))
}

struct Walk<'py> {
    np: Bound<'py, PyModule>,
    hints: Vec<(String, FieldType)>,
}

impl<'py> Walk<'py> {
    /// `v` at the dotted `path` (`None` inside a list).
    fn value(
        &mut self,
        v: &Bound<'py, PyAny>,
        path: Option<String>,
        depth: usize,
    ) -> PyResult<DynValue> {
        if let Ok(d) = v.cast::<PyDict>() {
            if depth > MAX_DEPTH {
                return to_dyn_at(v, &self.np, depth);
            }
            let mut fields = Vec::with_capacity(d.len());
            for (k, item) in d.iter() {
                let name: String = k
                    .extract()
                    .map_err(|_| type_error("a dict key (field name) must be a str", &k))?;
                let below = path.as_ref().map(|p| {
                    if p.is_empty() {
                        name.clone()
                    } else {
                        format!("{p}.{name}")
                    }
                });
                fields.push((name, self.value(&item, below, depth + 1)?));
            }
            return Ok(DynValue::Struct(fields));
        }
        if let Some(p) = path {
            if !v.is_instance_of::<PyBool>()
                && !v.is_instance_of::<PyInt>()
                && !v.is_instance_of::<PyFloat>()
                && v.is_instance(&self.np.getattr("generic")?)?
            {
                let (value, ty) = numpy_scalar(v)?;
                self.hints.push((p, ty));
                return Ok(value);
            }
        }
        to_dyn_at(v, &self.np, depth)
    }
}

fn numpy_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

fn type_error(what: &str, v: &Bound<'_, PyAny>) -> PyErr {
    let name = v
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    PyTypeError::new_err(format!(
        "{what}: a value of type {name} cannot be stored by reem"
    ))
}

fn to_dyn_at(v: &Bound<'_, PyAny>, np: &Bound<'_, PyModule>, depth: usize) -> PyResult<DynValue> {
    if depth > MAX_DEPTH {
        return Err(PyTypeError::new_err(format!(
            "a value nested more than {MAX_DEPTH} levels deep cannot be stored by reem"
        )));
    }
    if v.is_none() {
        return Ok(DynValue::Absent);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(DynValue::Bool(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(DynValue::Int(i.into()));
        }
        if let Ok(i) = v.extract::<i128>() {
            return Ok(DynValue::Int(i));
        }
        if let Ok(u) = v.extract::<u128>() {
            return Ok(DynValue::UInt(u));
        }
        return Err(PyTypeError::new_err(
            "an int beyond 128 bits cannot be stored by reem",
        ));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(DynValue::F64(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(DynValue::String(v.extract()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut fields = Vec::with_capacity(d.len());
        for (k, item) in d.iter() {
            let name: String = k
                .extract()
                .map_err(|_| type_error("a dict key (field name) must be a str", &k))?;
            fields.push((name, to_dyn_at(&item, np, depth + 1)?));
        }
        return Ok(DynValue::Struct(fields));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in v.try_iter()? {
            items.push(to_dyn_at(&item?, np, depth + 1)?);
        }
        return Ok(DynValue::List(items));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        let bytes = b.as_bytes().to_vec();
        return Ok(DynValue::Array(DynArray {
            dtype: "uint8".to_owned(),
            shape: vec![bytes.len()],
            body: ArrayBody::Bytes(bytes),
        }));
    }
    if v.is_instance(&np.getattr("ndarray")?)? {
        return array_to_dyn(v, np);
    }
    if v.is_instance(&np.getattr("generic")?)? {
        return numpy_scalar(v).map(|(value, _)| value);
    }
    Err(type_error("reem stores None, bool, int, float, str, dict, list, tuple, bytes, numpy arrays and numpy scalars", v))
}

/// A numpy scalar, and the field type of its kind and width: `np.uint8` → `u8`,
/// `np.int32` → `i32`, `np.float32` → `f32`, `np.bool_` → `bool`.
fn numpy_scalar(v: &Bound<'_, PyAny>) -> PyResult<(DynValue, FieldType)> {
    let Some((d, ty)) = element_dtype(&v.getattr("dtype")?)? else {
        return Err(type_error("numpy scalars of kind b, i, u, f4, f8", v));
    };
    let item = v.call_method0("item")?;
    let value = match (d.kind, d.size) {
        (b'b', _) => DynValue::Bool(item.extract()?),
        (b'u', _) => DynValue::UInt(item.extract::<u64>()?.into()),
        (b'i', _) => DynValue::Int(item.extract::<i64>()?.into()),
        (_, 4) => DynValue::F32(item.extract()?),
        _ => DynValue::F64(item.extract()?),
    };
    Ok((value, ty))
}

/// A numpy dtype parsed, and the field type of its element, if reem has an element type
/// for it (the list is reem's: [`dynamic::element_type`]).
fn element_dtype(dtype: &Bound<'_, PyAny>) -> PyResult<Option<(Dtype, FieldType)>> {
    let text: String = dtype.getattr("str")?.extract()?;
    Ok(
        Dtype::parse(text.as_bytes())
            .and_then(|d| dynamic::element_type(&d).map(|(_, ty)| (d, ty))),
    )
}

/// A numpy array as its little-endian C-order bytes (one copy), its dtype name and shape.
fn array_to_dyn(v: &Bound<'_, PyAny>, np: &Bound<'_, PyModule>) -> PyResult<DynValue> {
    let dtype = v.getattr("dtype")?;
    if element_dtype(&dtype)?.is_none() {
        let name: String = dtype.str()?.extract()?;
        return Err(PyTypeError::new_err(format!(
            "an array of dtype {name} cannot be stored by reem: bool, int8 … int64, \
             uint8 … uint64, float32 and float64 can"
        )));
    }
    let le = dtype.call_method1("newbyteorder", ("<",))?;
    // `asarray(order="C")`, not `ascontiguousarray`, which makes a 0-d array 1-d.
    let order = [
        ("dtype", le),
        ("order", "C".into_pyobject(v.py())?.into_any()),
    ]
    .into_py_dict(v.py())?;
    let c = np.call_method("asarray", (v,), Some(&order))?;
    let shape: Vec<usize> = c.getattr("shape")?.extract()?;
    let name: String = c.getattr("dtype")?.getattr("name")?.extract()?;
    let flat = c
        .call_method1("reshape", (-1,))?
        .call_method1("view", (np.getattr("uint8")?,))?;
    let flat: PyReadonlyArray1<'_, u8> = flat.extract()?;
    let bytes = flat
        .as_slice()
        .map_err(|e| PyTypeError::new_err(e.to_string()))?
        .to_vec();
    Ok(DynValue::Array(DynArray {
        dtype: name,
        shape,
        body: ArrayBody::Bytes(bytes),
    }))
}

/// A [`DynValue`] as a Python value; arrays take their bytes' buffer (no copy).
pub fn to_py(py: Python<'_>, v: DynValue) -> PyResult<Py<PyAny>> {
    Ok(match v {
        DynValue::Absent => py.None(),
        DynValue::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        DynValue::Int(i) => match i64::try_from(i) {
            Ok(i) => i.into_pyobject(py)?.into_any().unbind(),
            Err(_) => i.into_pyobject(py)?.into_any().unbind(),
        },
        DynValue::UInt(u) => match u64::try_from(u) {
            Ok(u) => u.into_pyobject(py)?.into_any().unbind(),
            Err(_) => u.into_pyobject(py)?.into_any().unbind(),
        },
        DynValue::F32(x) => f64::from(x).into_pyobject(py)?.into_any().unbind(),
        DynValue::F64(x) => x.into_pyobject(py)?.into_any().unbind(),
        DynValue::Char(c) => c.to_string().into_pyobject(py)?.into_any().unbind(),
        DynValue::String(s) | DynValue::Enum(s) => s.into_pyobject(py)?.into_any().unbind(),
        DynValue::Json(j) => json_to_py(py, &j)?,
        DynValue::Array(a) => array_to_py(py, a)?,
        DynValue::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        DynValue::Struct(fields) => {
            let d = PyDict::new(py);
            for (name, value) in fields {
                d.set_item(name, to_py(py, value)?)?;
            }
            d.into_any().unbind()
        }
        DynValue::Custom { format, fields } => {
            let d = PyDict::new(py);
            d.set_item("format", format)?;
            let stored = PyDict::new(py);
            for (name, value) in fields {
                stored.set_item(name, PyBytes::new(py, &value))?;
            }
            d.set_item("fields", stored)?;
            d.into_any().unbind()
        }
        _ => py.None(),
    })
}

fn json_to_py(py: Python<'_>, j: &serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => py.None(),
        J::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else {
                n.as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
        }
        J::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        J::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        J::Object(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(k, json_to_py(py, v)?)?;
            }
            d.into_any().unbind()
        }
    })
}

/// A read-only numpy array of the stored dtype and shape over `a`'s bytes. With
/// [`ArrayBody::Bytes`] the buffer is moved into numpy, not copied.
fn array_to_py(py: Python<'_>, a: DynArray) -> PyResult<Py<PyAny>> {
    let dtype = Dtype::parse(a.dtype.as_bytes())
        .ok_or_else(|| PyTypeError::new_err(format!("unknown dtype {}", a.dtype)))?;
    // The decoder's bytes are little-endian: name the byte order, whatever the host's.
    let typestr = if dtype.size == 1 {
        format!("|{}1", dtype.kind as char)
    } else {
        format!("<{}{}", dtype.kind as char, dtype.size)
    };
    let ArrayBody::Bytes(bytes) = a.body else {
        return Err(PyTypeError::new_err(
            "an array decoded without its elements cannot be given to Python",
        ));
    };
    let raw = PyArray1::<u8>::from_vec(py, bytes);
    let read_only = [("write", false)].into_py_dict(py)?;
    raw.call_method("setflags", (), Some(&read_only))?;
    let shape = PyTuple::new(py, &a.shape)?;
    let typed = raw
        .call_method1("view", (typestr,))?
        .call_method1("reshape", (shape,))?;
    typed.call_method("setflags", (), Some(&read_only))?;
    Ok(typed.unbind())
}
