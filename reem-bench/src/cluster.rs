//! Cluster rows: W1–W4 (set and get of a 10-field message, a 1 MiB and an 8 MiB array) on a
//! local Redis Cluster (3 masters, 3 replicas), through reem and through the raw `redis`
//! crate's own sync `ClusterConnection` (TCP_NODELAY, `Value` replies) sending the same
//! commands (`C-W…`); and through `reem::aio` against the crate's async
//! `cluster_async::ClusterConnection` (RESP3, TCP_NODELAY) sending the same commands, each
//! operation one `block_on` of a current-thread runtime on both sides (`CA-W…`), and sets
//! per second of 64 concurrent tasks (`CA6`, as `A6`).

use std::collections::HashMap;

use ndarray::{Array1, Array2};
use redis::cluster::{ClusterClientBuilder, ClusterConnection};
use redis::{ConnectionLike, Value};
use reem::{KeyValueStore, RedisInterface, ReemMarshal};

use crate::measure::{compare, Row, Stats};
use crate::workloads::Ten;

/// `n` rounds, or a tenth of them for a quick run.
fn scale(quick: bool, n: usize) -> usize {
    if quick {
        (n / 10).max(2)
    } else {
        n
    }
}

fn row(id: &str, what: &str, (reem, raw): (Stats, Stats), note: &str) -> Row {
    Row {
        id: id.into(),
        what: what.into(),
        ratio: reem.median_us / raw.median_us,
        reem,
        raw,
        direct: None,
        raw_warm: None,
        hwm_kib: None,
        target: "≤ 1.10".into(),
        note: note.into(),
    }
}

/// The fields reem writes first, so that the raw side sends the same commands.
fn header(schema: &reem::schema::Schema) -> [(&'static str, &str); 3] {
    [
        ("@label", &schema.label),
        ("@fp", &schema.fingerprint_hex),
        ("@schema", &schema.json),
    ]
}

/// The raw side's fields of a `Ten`, as text.
fn pairs(t: &Ten) -> [(&'static str, String); 10] {
    [
        ("x", t.x.to_string()),
        ("y", t.y.to_string()),
        ("z", t.z.to_string()),
        ("roll", t.roll.to_string()),
        ("yaw", t.yaw.to_string()),
        ("seq", t.seq.to_string()),
        ("stamp_ns", t.stamp_ns.to_string()),
        ("count", t.count.to_string()),
        ("frame", t.frame.clone()),
        ("child", t.child.clone()),
    ]
}

/// The fields of an `HGETALL` reply, by name.
fn fields(reply: Value) -> HashMap<Vec<u8>, Vec<u8>> {
    let items = match reply {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => panic!("HGETALL said {other:?}"),
    };
    let mut out = HashMap::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(Value::BulkString(k)), Some(Value::BulkString(v))) = (it.next(), it.next()) {
        out.insert(k, v);
    }
    out
}

/// The raw side's decoding of a `Ten` from its fields.
fn ten(h: &HashMap<Vec<u8>, Vec<u8>>) -> Ten {
    let text = |k: &str| std::str::from_utf8(&h[k.as_bytes()]).unwrap().to_owned();
    let f = |k: &str| text(k).parse::<f64>().unwrap();
    let i = |k: &str| text(k).parse::<i64>().unwrap();
    Ten {
        x: f("x"),
        y: f("y"),
        z: f("z"),
        roll: f("roll"),
        yaw: f("yaw"),
        seq: i("seq"),
        stamp_ns: i("stamp_ns"),
        count: i("count"),
        frame: text("frame"),
        child: text("child"),
    }
}

/// `MULTI; UNLINK key; HSET key <header> <pairs>; [HSET key <large> <bytes>]; [SPUBLISH key
/// <payload>]; EXEC`, as a plain pipeline (sent with offset 0: with an offset the crate
/// would not follow `MOVED`).
fn raw_transaction(
    key: &str,
    schema: &reem::schema::Schema,
    small: &[(&str, &[u8])],
    large: Option<(&str, &[u8])>,
) -> redis::Pipeline {
    raw_notifying(key, schema, small, large, None)
}

fn raw_notifying(
    key: &str,
    schema: &reem::schema::Schema,
    small: &[(&str, &[u8])],
    large: Option<(&str, &[u8])>,
    payload: Option<&[u8]>,
) -> redis::Pipeline {
    let mut p = redis::pipe();
    p.cmd("MULTI").cmd("UNLINK").arg(key).cmd("HSET").arg(key);
    for (k, v) in header(schema) {
        p.arg(k).arg(v);
    }
    for (k, v) in small {
        p.arg(*k).arg(*v);
    }
    if let Some((k, v)) = large {
        p.cmd("HSET").arg(key).arg(k).arg(v);
    }
    if let Some(payload) = payload {
        p.cmd("SPUBLISH").arg(key).arg(payload);
    }
    p.cmd("EXEC");
    p
}

/// [`raw_transaction`] on the raw sync cluster connection, packed whole (the crate's sync
/// cluster connection refuses `Pipeline::query`).
fn raw_set(
    raw: &mut ClusterConnection,
    key: &str,
    schema: &reem::schema::Schema,
    small: &[(&str, &[u8])],
    large: Option<(&str, &[u8])>,
) {
    let p = raw_transaction(key, schema, small, large);
    let n = p.len();
    let replies = raw
        .req_packed_commands(&p.get_packed_pipeline(), 0, n)
        .unwrap();
    assert!(
        matches!(replies.last(), Some(Value::Array(_))),
        "{replies:?}"
    );
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
    let kv = KeyValueStore::new(&iface);
    let mut raw = ClusterClientBuilder::new(urls.clone())
        .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
        .build()
        .unwrap()
        .get_connection()
        .unwrap();
    let raw = &mut raw;
    let mut rows = Vec::new();

    // W1/W2: a 10-field message.
    let msg = Ten::new(1);
    let schema = Ten::schema().unwrap();
    let text = pairs(&msg);
    let small: Vec<(&str, &[u8])> = text.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let set = compare(
        scale(quick, 20),
        100,
        || kv.set("c/w1", &msg).unwrap(),
        || raw_set(raw, "c/w1raw", schema, &small, None),
    );
    rows.push(row(
        "C-W1",
        "cluster: set, 10-field message",
        set,
        "raw ClusterConnection: MULTI, UNLINK, HSET of the same fields, EXEC",
    ));
    let get = compare(
        scale(quick, 20),
        100,
        || assert_eq!(kv.get::<Ten>("c/w1").unwrap(), msg),
        || {
            let reply: Value = redis::cmd("HGETALL").arg("c/w1raw").query(raw).unwrap();
            assert_eq!(ten(&fields(reply)), msg);
        },
    );
    rows.push(row(
        "C-W2",
        "cluster: get, 10-field message",
        get,
        "raw ClusterConnection: HGETALL as a Value, fields parsed by hand",
    ));

    // W3: a 1 MiB Array1<f64>.
    let arr = Array1::from_iter((0..131_072).map(|i| i as f64 * 0.5));
    let schema = <Array1<f64> as ReemMarshal>::schema().unwrap();
    let bytes: &[u8] = bytemuck::cast_slice(arr.as_slice().unwrap());
    let small: [(&str, &[u8]); 3] = [
        ("dtype", b"float64"),
        ("shape", b"(131072,)"),
        ("strides", b"(8,)"),
    ];
    let set = compare(
        scale(quick, 10),
        30,
        || kv.set("c/w3", &arr).unwrap(),
        || raw_set(raw, "c/w3raw", schema, &small, Some(("arr", bytes))),
    );
    rows.push(row(
        "C-W3 set",
        "cluster: set, 1 MiB Array1<f64>",
        set,
        "raw ClusterConnection: the same MULTI … EXEC",
    ));
    let get = compare(
        scale(quick, 10),
        30,
        || assert_eq!(kv.get::<Array1<f64>>("c/w3").unwrap().len(), 131_072),
        || {
            let reply: Value = redis::cmd("HGETALL").arg("c/w3raw").query(raw).unwrap();
            let v: Vec<f64> = bytemuck::pod_collect_to_vec(&fields(reply)[&b"arr"[..]]);
            assert_eq!(Array1::from_vec(v).len(), 131_072);
        },
    );
    rows.push(row(
        "C-W3 get",
        "cluster: get, 1 MiB Array1<f64>",
        get,
        "raw ClusterConnection: HGETALL as a Value, bytes cast into a Vec<f64>",
    ));

    // W4: an 8 MiB Array2<u8>.
    let image = Array2::from_shape_fn((2048, 4096), |(i, j)| (i * 31 + j) as u8);
    let schema = <Array2<u8> as ReemMarshal>::schema().unwrap();
    let small: [(&str, &[u8]); 3] = [
        ("dtype", b"uint8"),
        ("shape", b"(2048, 4096)"),
        ("strides", b"(4096, 1)"),
    ];
    let set = compare(
        scale(quick, 5),
        10,
        || kv.set("c/w4", &image).unwrap(),
        || {
            let bytes = image.as_slice().unwrap();
            raw_set(raw, "c/w4raw", schema, &small, Some(("arr", bytes)))
        },
    );
    rows.push(row(
        "C-W4 set",
        "cluster: set, 8 MiB Array2<u8>",
        set,
        "raw ClusterConnection: the same MULTI … EXEC",
    ));
    let get = compare(
        scale(quick, 5),
        10,
        || assert_eq!(kv.get::<Array2<u8>>("c/w4").unwrap().dim(), (2048, 4096)),
        || {
            let reply: Value = redis::cmd("HGETALL").arg("c/w4raw").query(raw).unwrap();
            let mut h = fields(reply);
            let v = h.remove(&b"arr"[..]).unwrap();
            assert_eq!(
                Array2::from_shape_vec((2048, 4096), v).unwrap().dim(),
                (2048, 4096)
            );
        },
    );
    rows.push(row(
        "C-W4 get",
        "cluster: get, 8 MiB Array2<u8>",
        get,
        "raw ClusterConnection: HGETALL as a Value, the bytes as the array",
    ));
    rows.extend(aio_rows(&urls, &iface, quick));
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
    let text = pairs(&msg);
    let small: Vec<(&str, &[u8])> = text.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
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
                let p = raw_notifying("ca5raw", schema, &small, None, Some(payload.as_bytes()));
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
    let mut r = row(
        "CA5",
        "cluster, aio: publish → Stream item, 10-field message",
        stats,
        "raw async ClusterConnection: the same MULTI/UNLINK/HSET/SPUBLISH/EXEC, the message as \
         payload, decoded from a RESP3 push of a raw SSUBSCRIBEd cluster connection on the \
         caller's runtime",
    );
    r.target = "≤ 1.25".into();
    r
}

/// The `CA-W…` rows: `reem::aio` on the cluster against the raw async cluster connection.
fn aio_rows(urls: &[String], iface: &RedisInterface, quick: bool) -> Vec<Row> {
    use redis::aio::ConnectionLike as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let kv = reem::aio::KeyValueStore::new(iface);
    let mut raw = raw_async(&rt, urls);
    let raw = &mut raw;
    let rt = &rt;
    let set_raw = |raw: &mut redis::cluster_async::ClusterConnection,
                   key: &str,
                   schema: &reem::schema::Schema,
                   small: &[(&str, &[u8])],
                   large: Option<(&str, &[u8])>| {
        let p = raw_transaction(key, schema, small, large);
        let n = p.len();
        let replies = rt.block_on(raw.req_packed_commands(&p, 0, n)).unwrap();
        assert!(
            matches!(replies.last(), Some(Value::Array(_))),
            "{replies:?}"
        );
    };
    let hgetall = |raw: &mut redis::cluster_async::ClusterConnection, key: &str| {
        let reply: Value = rt
            .block_on(redis::cmd("HGETALL").arg(key).query_async(raw))
            .unwrap();
        fields(reply)
    };
    let mut rows = Vec::new();

    let msg = Ten::new(1);
    let schema = Ten::schema().unwrap();
    let text = pairs(&msg);
    let small: Vec<(&str, &[u8])> = text.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let set = compare(
        scale(quick, 20),
        100,
        || rt.block_on(kv.set("ca/w1", &msg)).unwrap(),
        || set_raw(raw, "ca/w1raw", schema, &small, None),
    );
    rows.push(row(
        "CA-W1",
        "cluster, aio: set, 10-field message",
        set,
        "raw async ClusterConnection: MULTI, UNLINK, HSET of the same fields, EXEC",
    ));
    let get = compare(
        scale(quick, 20),
        100,
        || assert_eq!(rt.block_on(kv.get::<Ten>("ca/w1")).unwrap(), msg),
        || assert_eq!(ten(&hgetall(raw, "ca/w1raw")), msg),
    );
    rows.push(row(
        "CA-W2",
        "cluster, aio: get, 10-field message",
        get,
        "raw async ClusterConnection: HGETALL as a Value, fields parsed by hand",
    ));

    let arr = Array1::from_iter((0..131_072).map(|i| i as f64 * 0.5));
    let schema = <Array1<f64> as ReemMarshal>::schema().unwrap();
    let bytes: &[u8] = bytemuck::cast_slice(arr.as_slice().unwrap());
    let small: [(&str, &[u8]); 3] = [
        ("dtype", b"float64"),
        ("shape", b"(131072,)"),
        ("strides", b"(8,)"),
    ];
    let set = compare(
        scale(quick, 10),
        30,
        || rt.block_on(kv.set("ca/w3", &arr)).unwrap(),
        || set_raw(raw, "ca/w3raw", schema, &small, Some(("arr", bytes))),
    );
    rows.push(row(
        "CA-W3 set",
        "cluster, aio: set, 1 MiB Array1<f64>",
        set,
        "raw async ClusterConnection: the same MULTI … EXEC",
    ));
    let get = compare(
        scale(quick, 10),
        30,
        || {
            let a = rt.block_on(kv.get::<Array1<f64>>("ca/w3")).unwrap();
            assert_eq!(a.len(), 131_072)
        },
        || {
            let v: Vec<f64> = bytemuck::pod_collect_to_vec(&hgetall(raw, "ca/w3raw")[&b"arr"[..]]);
            assert_eq!(Array1::from_vec(v).len(), 131_072);
        },
    );
    rows.push(row(
        "CA-W3 get",
        "cluster, aio: get, 1 MiB Array1<f64>",
        get,
        "raw async ClusterConnection: HGETALL as a Value, bytes cast into a Vec<f64>",
    ));

    let image = Array2::from_shape_fn((2048, 4096), |(i, j)| (i * 31 + j) as u8);
    let schema = <Array2<u8> as ReemMarshal>::schema().unwrap();
    let small: [(&str, &[u8]); 3] = [
        ("dtype", b"uint8"),
        ("shape", b"(2048, 4096)"),
        ("strides", b"(4096, 1)"),
    ];
    let set = compare(
        scale(quick, 5),
        10,
        || rt.block_on(kv.set("ca/w4", &image)).unwrap(),
        || {
            let bytes = image.as_slice().unwrap();
            set_raw(raw, "ca/w4raw", schema, &small, Some(("arr", bytes)))
        },
    );
    rows.push(row(
        "CA-W4 set",
        "cluster, aio: set, 8 MiB Array2<u8>",
        set,
        "raw async ClusterConnection: the same MULTI … EXEC",
    ));
    let get = compare(
        scale(quick, 5),
        10,
        || {
            let a = rt.block_on(kv.get::<Array2<u8>>("ca/w4")).unwrap();
            assert_eq!(a.dim(), (2048, 4096))
        },
        || {
            let v = hgetall(raw, "ca/w4raw").remove(&b"arr"[..]).unwrap();
            assert_eq!(
                Array2::from_shape_vec((2048, 4096), v).unwrap().dim(),
                (2048, 4096)
            );
        },
    );
    rows.push(row(
        "CA-W4 get",
        "cluster, aio: get, 8 MiB Array2<u8>",
        get,
        "raw async ClusterConnection: HGETALL as a Value, the bytes as the array",
    ));

    // CA5: publish → the item of a `Stream` subscriber (sharded pub/sub).
    rows.push(publish_to_stream(rt, urls, iface, raw, quick));

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
