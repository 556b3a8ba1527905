//! Cluster rows: W1–W4 (set and get of a 10-field message, a 1 MiB and an 8 MiB array) on a
//! local Redis Cluster (3 masters, 3 replicas), through reem and through the raw `redis`
//! crate's own sync `ClusterConnection` (TCP_NODELAY, `Value` replies) sending the same
//! commands (`C-W…`); and through `reem::aio` against the crate's async
//! `cluster_async::ClusterConnection` (RESP3, TCP_NODELAY) sending the same commands, each
//! operation one `block_on` of a current-thread runtime on both sides (`CA-W…`), and sets
//! per second of 64 concurrent tasks (`CA6`, as `A6`).

use ndarray::{Array1, Array2};
use redis::cluster::{ClusterClientBuilder, ClusterConnection};
use redis::{ConnectionLike, Value};
use reem::{KeyValueStore, RedisInterface, ReemMarshal};

use crate::measure::{compare, Row};
use crate::workloads::{header, raw_stamp, row, scale, take_field, Ten};

/// `MULTI; UNLINK key; HSET key <header> <fields>; [HSET key <large> <bytes>]; [HSET key @pub
/// <id> @seq 0; SPUBLISH key <payload>]; EXEC`, as a plain pipeline (sent with offset 0: with an offset the crate
/// would not follow `MOVED`); `fields` writes the value's fields into the open `HSET`.
fn raw_transaction(
    key: &str,
    schema: &reem::schema::Schema,
    fields: impl FnOnce(&mut redis::Pipeline),
    large: Option<(&str, &[u8])>,
    payload: Option<&[u8]>,
) -> redis::Pipeline {
    let mut p = redis::pipe();
    p.cmd("MULTI").cmd("UNLINK").arg(key).cmd("HSET").arg(key);
    for (k, v) in header(schema) {
        p.arg(k).arg(v);
    }
    fields(&mut p);
    if let Some((k, v)) = large {
        p.cmd("HSET").arg(key).arg(k).arg(v);
    }
    if let Some(payload) = payload {
        raw_stamp(&mut p, key, 0);
        p.cmd("SPUBLISH").arg(key).arg(payload);
    }
    p.cmd("EXEC");
    p
}

/// Writes `small`'s `name value` pairs into the open `HSET`.
fn pairs<'a>(small: &'a [(&str, &[u8])]) -> impl FnOnce(&mut redis::Pipeline) + 'a {
    move |p| {
        for (k, v) in small {
            p.arg(*k).arg(*v);
        }
    }
}

/// What the W rows do with reem: the blocking store, or `reem::aio`'s on a runtime.
trait Reem {
    fn set<T: ReemMarshal>(&self, key: &str, value: &T);
    fn get<T: ReemMarshal>(&self, key: &str) -> T;
}

impl Reem for KeyValueStore {
    fn set<T: ReemMarshal>(&self, key: &str, value: &T) {
        KeyValueStore::set(self, key, value).unwrap()
    }

    fn get<T: ReemMarshal>(&self, key: &str) -> T {
        KeyValueStore::get(self, key).unwrap()
    }
}

/// `reem::aio`'s store, each call one `block_on` of a current-thread runtime.
struct Aio<'r>(&'r tokio::runtime::Runtime, reem::aio::KeyValueStore);

impl Reem for Aio<'_> {
    fn set<T: ReemMarshal>(&self, key: &str, value: &T) {
        self.0.block_on(self.1.set(key, value)).unwrap()
    }

    fn get<T: ReemMarshal>(&self, key: &str) -> T {
        self.0.block_on(self.1.get(key)).unwrap()
    }
}

/// What the W rows do with the raw crate: its sync cluster connection, or its async one on
/// a runtime.
trait Raw {
    /// Sends the plain pipeline `p` (offset 0) and checks that `EXEC` answered.
    fn transaction(&mut self, p: &redis::Pipeline);
    /// `HGETALL key` as a `Value`.
    fn hgetall(&mut self, key: &str) -> Value;
}

fn check_exec(replies: &[Value]) {
    assert!(
        matches!(replies.last(), Some(Value::Array(_))),
        "{replies:?}"
    );
}

impl Raw for ClusterConnection {
    fn transaction(&mut self, p: &redis::Pipeline) {
        // Packed whole: the crate's sync cluster connection refuses `Pipeline::query`.
        let replies = self
            .req_packed_commands(&p.get_packed_pipeline(), 0, p.len())
            .unwrap();
        check_exec(&replies);
    }

    fn hgetall(&mut self, key: &str) -> Value {
        redis::cmd("HGETALL").arg(key).query(self).unwrap()
    }
}

/// The crate's async cluster connection, each call one `block_on` of a current-thread
/// runtime.
struct AsyncRaw<'r>(
    &'r tokio::runtime::Runtime,
    redis::cluster_async::ClusterConnection,
);

impl Raw for AsyncRaw<'_> {
    fn transaction(&mut self, p: &redis::Pipeline) {
        use redis::aio::ConnectionLike as _;
        let replies = self
            .0
            .block_on(self.1.req_packed_commands(p, 0, p.len()))
            .unwrap();
        check_exec(&replies);
    }

    fn hgetall(&mut self, key: &str) -> Value {
        self.0
            .block_on(redis::cmd("HGETALL").arg(key).query_async(&mut self.1))
            .unwrap()
    }
}

/// The cluster rows; `None` (with the reason on stderr) if no cluster could be started.
pub fn rows(quick: bool) -> Vec<Row> {
    let cluster = match reem_server::RedisCluster::start() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("no cluster rows: {e}");
            return Vec::new();
        }
    };
    let urls = cluster.urls();
    let iface = RedisInterface::cluster(&urls).unwrap();
    let mut raw = ClusterClientBuilder::new(urls.clone())
        .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
        .build()
        .unwrap()
        .get_connection()
        .unwrap();
    let mut rows = w_rows(
        ("C", "cluster", "ClusterConnection"),
        &KeyValueStore::new(&iface),
        &mut raw,
        quick,
    );
    rows.extend(aio_rows(&urls, &iface, quick));
    rows
}

/// W1–W4 through `reem` against `raw`, as the rows `{prefix}-W…` ("{face}: set, …"), the
/// raw side named `raw_name` in the notes.
fn w_rows(
    (prefix, face, raw_name): (&str, &str, &str),
    reem: &impl Reem,
    raw: &mut impl Raw,
    quick: bool,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |id: &str, what: &str, stats, note: &str| {
        rows.push(row(
            &format!("{prefix}-{id}"),
            &format!("{face}: {what}"),
            stats,
            "≤ 1.10",
            &format!("raw {raw_name}: {note}"),
        ))
    };
    let key = |w: &str| format!("{}/{w}", prefix.to_lowercase());
    let raw_key = |w: &str| format!("{}/{w}raw", prefix.to_lowercase());

    // W1/W2: a 10-field message.
    let msg = Ten::new(1);
    let schema = Ten::schema().unwrap();
    let (k, rk) = (key("w1"), raw_key("w1"));
    let set = compare(
        scale(quick, 20),
        100,
        || reem.set(&k, &msg),
        // Encoded each time, as reem does.
        || raw.transaction(&raw_transaction(&rk, schema, |p| msg.args(p), None, None)),
    );
    push(
        "W1",
        "set, 10-field message",
        set,
        "MULTI, UNLINK, HSET of the same fields (numbers as arguments), EXEC",
    );
    let get = compare(
        scale(quick, 20),
        100,
        || assert_eq!(reem.get::<Ten>(&k), msg),
        || assert_eq!(Ten::from_value(&raw.hgetall(&rk)), msg),
    );
    push(
        "W2",
        "get, 10-field message",
        get,
        "HGETALL as a Value, the pairs matched by name and parsed",
    );

    // W3: a 1 MiB Array1<f64>.
    let arr = Array1::from_iter((0..131_072).map(|i| i as f64 * 0.5));
    let schema = <Array1<f64> as ReemMarshal>::schema().unwrap();
    let bytes: &[u8] = bytemuck::cast_slice(arr.as_slice().unwrap());
    let small: [(&str, &[u8]); 3] = [
        ("dtype", b"float64"),
        ("shape", b"(131072,)"),
        ("strides", b"(8,)"),
    ];
    let (k, rk) = (key("w3"), raw_key("w3"));
    let set = compare(
        scale(quick, 10),
        30,
        || reem.set(&k, &arr),
        || {
            let large = Some(("arr", bytes));
            raw.transaction(&raw_transaction(&rk, schema, pairs(&small), large, None))
        },
    );
    push(
        "W3 set",
        "set, 1 MiB Array1<f64>",
        set,
        "the same MULTI … EXEC",
    );
    let get = compare(
        scale(quick, 10),
        30,
        || assert_eq!(reem.get::<Array1<f64>>(&k).len(), 131_072),
        || {
            let v: Vec<f64> = bytemuck::pod_collect_to_vec(&take_field(raw.hgetall(&rk), b"arr"));
            assert_eq!(Array1::from_vec(v).len(), 131_072);
        },
    );
    push(
        "W3 get",
        "get, 1 MiB Array1<f64>",
        get,
        "HGETALL as a Value, bytes cast into a Vec<f64>",
    );

    // W4: an 8 MiB Array2<u8>.
    let image = Array2::from_shape_fn((2048, 4096), |(i, j)| (i * 31 + j) as u8);
    let schema = <Array2<u8> as ReemMarshal>::schema().unwrap();
    let small: [(&str, &[u8]); 3] = [
        ("dtype", b"uint8"),
        ("shape", b"(2048, 4096)"),
        ("strides", b"(4096, 1)"),
    ];
    let (k, rk) = (key("w4"), raw_key("w4"));
    let set = compare(
        scale(quick, 5),
        10,
        || reem.set(&k, &image),
        || {
            let bytes = image.as_slice().unwrap();
            let large = Some(("arr", bytes));
            raw.transaction(&raw_transaction(&rk, schema, pairs(&small), large, None))
        },
    );
    push(
        "W4 set",
        "set, 8 MiB Array2<u8>",
        set,
        "the same MULTI … EXEC",
    );
    let get = compare(
        scale(quick, 5),
        10,
        || assert_eq!(reem.get::<Array2<u8>>(&k).dim(), (2048, 4096)),
        || {
            let v = take_field(raw.hgetall(&rk), b"arr");
            assert_eq!(
                Array2::from_shape_vec((2048, 4096), v).unwrap().dim(),
                (2048, 4096)
            );
        },
    );
    push(
        "W4 get",
        "get, 8 MiB Array2<u8>",
        get,
        "HGETALL as a Value, the bytes as the array",
    );
    rows
}

/// The raw side of the `CA…` rows: the crate's async cluster connection (RESP3, as reem's,
/// TCP_NODELAY, reem's default response timeout of 30 s), its driver on `rt`.
fn raw_async(
    rt: &tokio::runtime::Runtime,
    urls: &[String],
) -> redis::cluster_async::ClusterConnection {
    rt.block_on(
        ClusterClientBuilder::new(urls.to_vec())
            .use_protocol(redis::ProtocolVersion::RESP3)
            .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
            .response_timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap()
            .get_async_connection(),
    )
    .unwrap()
}

/// CA5: `aio::PublishSpace::publish` → the item of an `aio::Subscriber`, against the raw
/// async cluster connection sending the same store-and-`SPUBLISH` transaction (the message
/// as payload) and a raw RESP3 cluster connection `SSUBSCRIBE`d on the caller's runtime.
fn publish_to_stream(
    rt: &tokio::runtime::Runtime,
    urls: &[String],
    iface: &RedisInterface,
    raw: &mut redis::cluster_async::ClusterConnection,
    quick: bool,
) -> Row {
    use redis::aio::ConnectionLike as _;
    let msg = Ten::new(5);
    let pubs = reem::aio::PublishSpace::new(iface);
    let mut sub = rt
        .block_on(reem::aio::Subscriber::<Ten>::new(iface, "ca5"))
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<redis::PushInfo>();
    let mut raw_sub = rt
        .block_on(
            ClusterClientBuilder::new(urls.to_vec())
                .use_protocol(redis::ProtocolVersion::RESP3)
                .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
                .push_sender(tx)
                .build()
                .unwrap()
                .get_async_connection(),
        )
        .unwrap();
    rt.block_on(raw_sub.ssubscribe("ca5raw")).unwrap();
    let schema = Ten::schema().unwrap();
    let stats = compare(
        scale(quick, 10),
        50,
        || {
            rt.block_on(async {
                pubs.publish("ca5", &msg).await.unwrap();
                // The stored message was yielded at start; each publish is one new item.
                while sub.recv().await.unwrap() != msg {}
            })
        },
        || {
            rt.block_on(async {
                let payload = msg.payload(0);
                let p = raw_transaction(
                    "ca5raw",
                    schema,
                    |p| msg.args(p),
                    None,
                    Some(payload.as_bytes()),
                );
                let n = p.len();
                raw.req_packed_commands(&p, 0, n).await.unwrap();
                loop {
                    let push = rx.recv().await.unwrap();
                    if push.kind == redis::PushKind::SMessage {
                        if let Some(Value::BulkString(p)) = push.data.get(1) {
                            assert_eq!(Ten::from_payload(p), msg);
                            break;
                        }
                    }
                }
            })
        },
    );
    row(
        "CA5",
        "cluster, aio: publish → Stream item, 10-field message",
        stats,
        "≤ 1.25",
        "raw async ClusterConnection: the same MULTI/UNLINK/HSET/HSET @pub @seq/SPUBLISH/EXEC, the message as \
         payload, decoded from a RESP3 push of a raw SSUBSCRIBEd cluster connection on the \
         caller's runtime",
    )
}

/// The `CA…` rows: `reem::aio` on the cluster against the raw async cluster connection.
fn aio_rows(urls: &[String], iface: &RedisInterface, quick: bool) -> Vec<Row> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut raw = AsyncRaw(&rt, raw_async(&rt, urls));
    let mut rows = w_rows(
        ("CA", "cluster, aio", "async ClusterConnection"),
        &Aio(&rt, reem::aio::KeyValueStore::new(iface)),
        &mut raw,
        quick,
    );

    // CA5: publish → the item of a `Stream` subscriber (sharded pub/sub).
    rows.push(publish_to_stream(&rt, urls, iface, &mut raw.1, quick));

    // CA6: 64 tasks doing small sets on one interface (A6 on the cluster).
    let rt = crate::aio::concurrent_runtime();
    let raw = raw_async(&rt, urls);
    rows.push(crate::aio::concurrent_sets_on(
        &rt,
        "CA6",
        iface,
        raw,
        quick,
        "async ClusterConnection",
    ));
    rows
}
