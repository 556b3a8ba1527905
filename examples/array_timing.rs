//! Times array writes and reads through reem against the plain `redis` crate doing the same
//! Redis work, in one run, interleaved, on one private redis-server (or `$REEM_URL`).
//!
//! ```text
//! cargo run --release --example array_timing
//! ```
//!
//! - reem: `kv.set` (`MULTI; UNLINK; HSET k @label @fp @schema dtype shape strides arr; EXEC`)
//!   and `kv.get` (`HGETALL`, checks, one copy into the array).
//! - raw: a `redis` pipeline `MULTI; HSET k dtype shape strides arr; EXEC` with the array's
//!   bytes, and `HGETALL` into a `redis::Value` (no decoding), with TCP_NODELAY on as reem
//!   has it.
//! - raw + copy (gets only): the raw `HGETALL`, then the one copy of `arr` into an array that
//!   any reader needs to own the elements.
//!
//! Prints the median of each operation and the ratios. Allocating and freeing megabytes is
//! part of what is measured: where page faults are costly, glibc's default of returning freed
//! memory to the system shows (try `MALLOC_TRIM_THRESHOLD_=1073741824
//! MALLOC_MMAP_THRESHOLD_=67108864`).

use std::time::{Duration, Instant};

use ndarray::{Array1, Array2};
use redis::io::tcp::TcpSettings;
use redis::{IntoConnectionInfo, Value};
use reem::marshal::array::Element;
use reem::KeyValueStore;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

struct Row {
    what: String,
    reem: Duration,
    raw: Duration,
    raw_copy: Option<Duration>,
}

/// Times `n` rounds of set and get of `value` through reem and through raw `redis`.
fn time<A, D>(
    kv: &KeyValueStore,
    raw: &mut redis::Connection,
    what: &str,
    value: &ndarray::Array<A, D>,
    n: usize,
) -> [Row; 2]
where
    A: Element,
    D: ndarray::Dimension + 'static,
{
    let bytes = A::as_bytes(value.as_slice().expect("a C-contiguous array"));
    let shape = reem::marshal::array::format_tuple(value.shape());
    let strides = reem::marshal::array::format_tuple(&reem::marshal::array::c_strides(
        value.shape(),
        A::SIZE,
    ));
    let (mut rs, mut rg, mut ws, mut wg, mut wc) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let t = Instant::now();
        kv.set("t/reem", value).unwrap();
        rs.push(t.elapsed());

        let t = Instant::now();
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg("t/raw")
            .arg("dtype")
            .arg(A::DTYPE)
            .arg("shape")
            .arg(&shape)
            .arg("strides")
            .arg(&strides)
            .arg("arr")
            .arg(bytes.as_ref())
            .ignore()
            .exec(raw)
            .unwrap();
        ws.push(t.elapsed());

        let t = Instant::now();
        let back: ndarray::Array<A, D> = kv.get("t/reem").unwrap();
        rg.push(t.elapsed());
        assert_eq!(back.len(), value.len());

        let t = Instant::now();
        let reply: Value = redis::cmd("HGETALL").arg("t/raw").query(raw).unwrap();
        wg.push(t.elapsed());
        assert!(matches!(reply, Value::Array(_) | Value::Map(_)));

        let t = Instant::now();
        let reply: Value = redis::cmd("HGETALL").arg("t/raw").query(raw).unwrap();
        let arr = arr_field(&reply).expect("an arr field");
        let data = A::from_bytes(arr, false).unwrap();
        let copied = ndarray::Array::from_shape_vec(value.raw_dim(), data).unwrap();
        drop(reply);
        wc.push(t.elapsed());
        assert_eq!(copied.len(), value.len());
    }
    [
        Row {
            what: format!("{what} set ×{n}"),
            reem: median(rs),
            raw: median(ws),
            raw_copy: None,
        },
        Row {
            what: format!("{what} get ×{n}"),
            reem: median(rg),
            raw: median(wg),
            raw_copy: Some(median(wc)),
        },
    ]
}

/// The value of the `arr` field in an `HGETALL` reply.
fn arr_field(reply: &Value) -> Option<&[u8]> {
    let Value::Array(items) = reply else {
        return None;
    };
    items.chunks_exact(2).find_map(|kv| match kv {
        [Value::BulkString(k), Value::BulkString(v)] if k == b"arr" => Some(&v[..]),
        _ => None,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = reem_server::url_or_start()?;
    let iface = reem::RedisInterface::new(&url)?;
    let kv = KeyValueStore::new(&iface);
    let info = url
        .as_str()
        .into_connection_info()?
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let mut raw = redis::Client::open(info)?.get_connection()?;

    let image = Array2::from_shape_fn((2048, 4096), |(i, j)| (i * 31 + j) as u8);
    let floats = Array1::from_shape_fn(128 * 1024, |i| i as f64 * 0.5);
    // Warm up connections and allocator.
    time(&kv, &mut raw, "warm-up", &floats, 5);

    let mut rows = Vec::new();
    rows.extend(time(&kv, &mut raw, "8 MiB Array2<u8>", &image, 50));
    rows.extend(time(&kv, &mut raw, "1 MiB Array1<f64>", &floats, 500));

    println!(
        "{:<26} {:>11} {:>11} {:>11} {:>9} {:>14}",
        "median of", "reem", "raw", "raw+copy", "reem/raw", "reem/raw+copy"
    );
    for r in rows {
        let ratio = |d: Duration| format!("{:.2}", r.reem.as_secs_f64() / d.as_secs_f64());
        println!(
            "{:<26} {:>11.2?} {:>11.2?} {:>11} {:>9} {:>14}",
            r.what,
            r.reem,
            r.raw,
            r.raw_copy.map_or("-".into(), |d| format!("{d:.2?}")),
            ratio(r.raw),
            r.raw_copy.map_or("-".into(), ratio),
        );
    }
    Ok(())
}
