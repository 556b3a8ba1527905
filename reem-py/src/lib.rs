//! The `reem` Python package's native module, `reem._reem`: the seed's names
//! (`RedisInterface`, `KeyValueStore`, `PublishSpace`, `RawSubscriber`,
//! `CallbackSubscriber`) over reem's Rust core, messages as dicts decoded from their stored
//! schema ([`reem::dynamic`]), arrays as numpy arrays. `docs/PYTHON.md` is the user's guide.
//!
//! Every call that waits on Redis releases the GIL.

mod convert;
mod errors;
mod store;
mod subscribe;

use pyo3::prelude::*;

#[pymodule]
fn _reem(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<store::RedisInterface>()?;
    m.add_class::<store::KeyValueStore>()?;
    m.add_class::<store::PublishSpace>()?;
    m.add_class::<subscribe::RawSubscriber>()?;
    m.add_class::<subscribe::CallbackSubscriber>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
