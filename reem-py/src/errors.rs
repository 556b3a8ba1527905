//! reem's errors as Python exceptions: one class per kind, all under `reem.Error`, each
//! with the Rust error's message.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(reem, Error, PyException, "Every error reem raises.");
create_exception!(reem, NotFound, Error, "The key does not exist.");
create_exception!(
    reem,
    SchemaMismatch,
    Error,
    "The stored message is of another type or an incompatible version, or has no such field."
);
create_exception!(
    reem,
    InvalidData,
    Error,
    "What is stored does not decode: a missing or invalid field, a broken schema, not a hash."
);
create_exception!(
    reem,
    EncodeError,
    Error,
    "A value cannot be stored as given (a bad field name, a value that does not fit its field)."
);
create_exception!(
    reem,
    TooLarge,
    Error,
    "A message is larger than the interface's limit."
);
create_exception!(
    reem,
    InvalidUrl,
    Error,
    "The Redis URL or TLS settings are not usable."
);
create_exception!(
    reem,
    ConnectionError,
    Error,
    "Redis could not be reached, or the connection failed; nothing was applied."
);
create_exception!(
    reem,
    Timeout,
    ConnectionError,
    "No reply came within the response timeout."
);
create_exception!(
    reem,
    Unconfirmed,
    ConnectionError,
    "A write was sent but its reply was lost: it may or may not have been applied."
);
create_exception!(
    reem,
    Refused,
    Error,
    "The server refused a command (NOPERM, OOM, READONLY, …); nothing was applied."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("SchemaMismatch", py.get_type::<SchemaMismatch>())?;
    m.add("InvalidData", py.get_type::<InvalidData>())?;
    m.add("EncodeError", py.get_type::<EncodeError>())?;
    m.add("TooLarge", py.get_type::<TooLarge>())?;
    m.add("InvalidUrl", py.get_type::<InvalidUrl>())?;
    m.add("ConnectionError", py.get_type::<ConnectionError>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("Unconfirmed", py.get_type::<Unconfirmed>())?;
    m.add("Refused", py.get_type::<Refused>())?;
    Ok(())
}

/// The Python exception of a reem error, with its message.
pub fn to_py(e: reem::Error) -> PyErr {
    use reem::Error as E;
    let msg = e.to_string();
    match e {
        E::NotFound { .. } => NotFound::new_err(msg),
        E::SchemaMismatch { .. } => SchemaMismatch::new_err(msg),
        E::MissingField { .. } | E::InvalidField { .. } | E::WrongRedisType { .. } => {
            InvalidData::new_err(msg)
        }
        E::Encode { .. } | E::NoMarshaller { .. } => EncodeError::new_err(msg),
        E::TooLarge { .. } => TooLarge::new_err(msg),
        E::InvalidUrl { .. } => InvalidUrl::new_err(msg),
        E::Timeout { .. } => Timeout::new_err(msg),
        E::Unconfirmed { .. } => Unconfirmed::new_err(msg),
        E::Refused { .. } => Refused::new_err(msg),
        E::Io { .. } | E::Redis(_) => ConnectionError::new_err(msg),
        _ => Error::new_err(msg),
    }
}

/// `Result<T, reem::Error>` → `PyResult<T>`.
pub trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for reem::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
