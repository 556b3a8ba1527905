//! `RawSubscriber` and `CallbackSubscriber`: messages of a topic as they are published.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use reem::dynamic::DynMessage;
use reem::{Counters, Delivery};

use crate::convert::to_py;
use crate::errors::IntoPy;
use crate::store::RedisInterface;

/// How long a blocking wait sleeps between checks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

fn delivery(queue: Option<usize>) -> PyResult<Delivery> {
    match queue {
        None => Ok(Delivery::Latest),
        Some(0) => Err(PyValueError::new_err("queue must hold at least 1 message")),
        Some(n) => Ok(Delivery::Queue(n)),
    }
}

fn counters_dict<'py>(
    py: Python<'py>,
    c: Counters,
    callback_errors: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("received", c.received)?;
    d.set_item("skipped", c.skipped)?;
    d.set_item("decode_errors", c.decode_errors)?;
    d.set_item("dropped", c.dropped)?;
    if let Some(n) = callback_errors {
        d.set_item("callback_errors", n)?;
    }
    Ok(d)
}

/// A message received, as Python sees it: the value (arrays moved into numpy when the
/// message is not shared, else copied once).
fn message_to_py(py: Python<'_>, m: Arc<DynMessage>) -> PyResult<Py<PyAny>> {
    let m = Arc::try_unwrap(m).unwrap_or_else(|shared| (*shared).clone());
    to_py(py, m.value)
}

/// Receives a topic's messages in the background; `value()` is the newest, `recv()` waits
/// for the next.
#[pyclass(module = "reem")]
pub struct RawSubscriber {
    inner: reem::RawSubscriber<DynMessage>,
}

#[pymethods]
impl RawSubscriber {
    #[new]
    #[pyo3(signature = (iface, topic, *, queue = None))]
    fn new(iface: &RedisInterface, topic: &str, queue: Option<usize>) -> PyResult<Self> {
        let inner =
            reem::RawSubscriber::with_delivery(&iface.inner, topic, delivery(queue)?).py_err()?;
        Ok(RawSubscriber { inner })
    }

    /// Starts receiving: returns once the topic is subscribed and its stored latest message
    /// (if any) has been read.
    fn listen(&mut self, py: Python<'_>) -> PyResult<()> {
        let inner = &mut self.inner;
        py.detach(|| inner.listen()).py_err()
    }

    /// The newest message received, or None.
    fn value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.latest() {
            Some(m) => message_to_py(py, m),
            None => Ok(py.None()),
        }
    }

    /// The next message not yet taken, waiting up to `timeout` seconds (for ever with
    /// None); None when the time is up. Ctrl-C interrupts the wait.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let deadline = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => {
                Some(Instant::now() + Duration::from_secs_f64(t.min(1e9)))
            }
            Some(_) => return Err(PyValueError::new_err("timeout must be >= 0 seconds")),
            None => None,
        };
        loop {
            let wait = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let got = py.detach(|| self.inner.recv_timeout(wait)).py_err()?;
            if let Some(m) = got {
                return message_to_py(py, m);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(py.None());
            }
            py.check_signals()?;
        }
    }

    /// The next message not yet taken if one is waiting, else None.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.try_recv() {
            Some(m) => message_to_py(py, m),
            None => Ok(py.None()),
        }
    }

    /// `received`, `skipped`, `decode_errors`, `dropped`.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counters_dict(py, self.inner.counters(), None)
    }

    /// Why the most recent message that did not decode was refused, or None.
    fn last_decode_error(&self) -> Option<String> {
        self.inner.last_decode_error()
    }

    #[getter]
    fn topic(&self) -> String {
        self.inner.topic().to_owned()
    }
}

/// Calls a Python function with each message of a topic, on a thread of its own. A call
/// that raises is reported (`sys.unraisablehook`) and counted in `callback_errors`; the
/// next message is delivered as usual.
#[pyclass(module = "reem")]
pub struct CallbackSubscriber {
    inner: Mutex<Option<reem::CallbackSubscriber<DynMessage>>>,
    errors: Arc<AtomicU64>,
    topic: String,
}

#[pymethods]
impl CallbackSubscriber {
    #[new]
    #[pyo3(signature = (iface, topic, callback, *, queue = None))]
    fn new(
        iface: &RedisInterface,
        topic: &str,
        callback: Py<PyAny>,
        queue: Option<usize>,
    ) -> PyResult<Self> {
        let errors = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&errors);
        let f = move |m: DynMessage| {
            // The interpreter may be finalizing: then there is no one left to call.
            let _ = Python::try_attach(|py| {
                let outcome = to_py(py, m.value).and_then(|v| callback.call1(py, (v,)));
                if let Err(e) = outcome {
                    count.fetch_add(1, Ordering::Relaxed);
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            });
        };
        let inner =
            reem::CallbackSubscriber::with_delivery(&iface.inner, topic, delivery(queue)?, f)
                .py_err()?;
        Ok(CallbackSubscriber {
            inner: Mutex::new(Some(inner)),
            errors,
            topic: topic.to_owned(),
        })
    }

    /// Starts receiving and calling the function (first with the stored latest message, if
    /// any).
    fn listen(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            match guard.as_mut() {
                Some(sub) => sub.listen(),
                None => Err(reem::Error::Io {
                    context: format!("subscribing to topic {:?}", self.topic),
                    source: std::io::Error::other("the subscriber was stopped"),
                }),
            }
        })
        .py_err()
    }

    /// Stops receiving; waits for a call in progress to return.
    fn stop(&self, py: Python<'_>) {
        let sub = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(move || drop(sub));
    }

    /// `received`, `skipped`, `decode_errors`, `dropped`, `callback_errors`.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|s| s.counters())
            .unwrap_or_default();
        counters_dict(py, c, Some(self.errors.load(Ordering::Relaxed)))
    }

    #[getter]
    fn topic(&self) -> String {
        self.topic.clone()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<Py<PyAny>>,
        _v: Option<Py<PyAny>>,
        _tb: Option<Py<PyAny>>,
    ) {
        self.stop(py)
    }
}

impl Drop for CallbackSubscriber {
    /// Dropping the Rust subscriber joins its thread, which may be waiting for the GIL:
    /// release the GIL while it ends.
    fn drop(&mut self) {
        let sub = self
            .inner
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if sub.is_some() {
            let _ = Python::try_attach(|py| py.detach(move || drop(sub)));
        }
    }
}
