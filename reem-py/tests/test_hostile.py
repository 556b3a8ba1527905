"""Bad input gets a clear reem.Error, nothing else: garbage hashes, hostile shapes and
dtypes, broken schemas, huge counts; values Python cannot store; the 8 MiB read that shares
its buffer."""

import json
import threading
import tracemalloc

import numpy as np
import pytest

import reem


def fingerprint(fields_json: str) -> str:
    h = 0xCBF29CE484222325
    for b in fields_json.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def message(raw, key, fields, values):
    """Writes a hash with a valid schema of `fields` and the raw `values`."""
    fj = json.dumps(fields, separators=(",", ":"))
    schema = '{"format":1,"label":"T","fields":' + fj + "}"
    raw.delete(key)
    raw.hset(key, mapping={"@label": "T", "@fp": fingerprint(fj), "@schema": schema, **values})


ARRAY = [{"name": "a", "type": "array", "dtype": "float64"}]


def array_fields(dtype="float64", shape="(2,)", arr=b"\0" * 16):
    return {"a.dtype": dtype, "a.shape": shape, "a.strides": "(8,)", "a.arr": arr}


HOSTILE = [
    # (name, writes the key, expected exception, text in the message)
    ("string at the key", lambda r: r.set("k", "x"), reem.InvalidData, "does not hold a reem message"),
    ("list at the key", lambda r: r.rpush("k", "x"), reem.InvalidData, "does not hold a reem message"),
    ("garbage hash", lambda r: r.hset("k", mapping={"junk": b"\xff\x00" * 50}), reem.InvalidData, "@schema"),
    ("schema not JSON", lambda r: r.hset("k", mapping={"@schema": "{not json", "x": "1"}), reem.InvalidData, "@schema"),
    ("schema nested 10000 deep", lambda r: r.hset("k", mapping={"@schema": "[" * 10000}), reem.InvalidData, "@schema"),
    ("forged fingerprint", lambda r: r.hset("k", mapping={
        "@schema": '{"format":1,"label":"T","fields":[{"name":"x","type":"f64"}]}', "@fp": "0000000000000000", "x": "1"}),
        reem.InvalidData, "@fp"),
    ("newer format", lambda r: r.hset("k", mapping={"@schema": '{"format":99,"label":"T","fields":[]}'}), reem.InvalidData, "newer"),
    ("unknown field type", lambda r: r.hset("k", mapping={
        "@schema": '{"format":1,"label":"T","fields":[{"name":"x","type":"quaternion9"}]}'}), reem.InvalidData, "@schema"),
    ("text in a number", lambda r: message(r, "k", [{"name": "x", "type": "f64"}], {"x": "fast"}), reem.InvalidData, '"x"'),
    ("out of range", lambda r: message(r, "k", [{"name": "x", "type": "u8"}], {"x": "300"}), reem.InvalidData, '"x"'),
    ("invalid utf-8", lambda r: message(r, "k", [{"name": "s", "type": "string"}], {"s": b"\xff\xfe"}), reem.InvalidData, '"s"'),
    ("missing field", lambda r: message(r, "k", [{"name": "x", "type": "f64"}, {"name": "y", "type": "f64"}], {"x": "1"}),
     reem.InvalidData, '"y"'),
    ("list of 10^18", lambda r: message(r, "k", [{"name": "l", "type": "list", "items": [{"name": "", "type": "string"}]}],
                                        {"l.len": str(10**18)}), reem.InvalidData, "l.len"),
    ("shape of 10^12 elements", lambda r: message(r, "k", ARRAY, array_fields(shape="(1000000000000,)")), reem.InvalidData, "a.arr"),
    ("shape that overflows", lambda r: message(r, "k", ARRAY, array_fields(shape=f"({2**40}, {2**40}, 0)")), reem.InvalidData, "a.shape"),
    ("negative shape", lambda r: message(r, "k", ARRAY, array_fields(shape="(-2,)")), reem.InvalidData, "a.shape"),
    ("the seed's eval", lambda r: message(r, "k", ARRAY, array_fields(dtype="__import__('os').system('true')")), reem.InvalidData, "a.dtype"),
    ("object dtype", lambda r: message(r, "k", [{"name": "a", "type": "array", "dtype": "object"}], array_fields(dtype="object")),
     reem.InvalidData, "@schema"),
    ("dtype of another size", lambda r: message(r, "k", ARRAY, array_fields(dtype="float32")), reem.InvalidData, "a.dtype"),
    ("bool byte 2", lambda r: message(r, "k", [{"name": "a", "type": "array", "dtype": "bool"}],
                                      array_fields(dtype="bool", arr=b"\x00\x02")), reem.InvalidData, "a.arr"),
    ("untagged array with a hostile shape", lambda r: r.hset("k", mapping={"arr": b"\0" * 16, "dtype": "float64", "shape": "(99999999999,)"}),
     reem.InvalidData, "shape"),
]


@pytest.mark.parametrize("name,write,exc,text", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_hashes_raise_a_reem_error(kv, raw, name, write, exc, text):
    write(raw)
    with pytest.raises(exc) as e:
        kv.get("k")
    assert isinstance(e.value, reem.Error)
    assert text in str(e.value), str(e.value)
    # A subscriber counts such a message as a decode error, and goes on.
    sub = reem.RawSubscriber(reem.RedisInterface(kv_url(raw)), "k")
    sub.listen()
    assert sub.value() is None


def kv_url(raw):
    return "unix://" + raw.connection_pool.connection_kwargs["path"]


def test_an_untagged_seed_array_is_read(kv, raw):
    a = np.arange(6, dtype=">i4").reshape(2, 3)
    raw.hset("seed", mapping={"arr": a.tobytes(), "dtype": str(a.dtype), "shape": str(a.shape), "strides": str(a.strides)})
    got = kv.get("seed")
    assert got.dtype == np.dtype("<i4") and np.array_equal(got, a)


def test_garbage_notifications_are_counted_and_the_subscriber_goes_on(iface, raw):
    sub = reem.RawSubscriber(iface, "t", queue=10)
    sub.listen()
    for junk in [b"", b"reem2", b"reem2 h 0123456789abcdef 1\n5:@l", b"reem2 h zz 1\n", b"\xff" * 1000,
                 b"reem2 h 0123456789abcdef 99999999999999999999999\n"]:
        raw.publish("t", junk)
    reem.PublishSpace(iface).publish("t", {"ok": True})
    assert sub.recv(timeout=5) == {"ok": True}
    assert sub.counters()["decode_errors"] >= 5
    assert sub.last_decode_error()


class Opaque:
    pass


BAD_VALUES = [
    ({1: 2}, "dict key"),
    ({"a.b": 1}, "not a field name"),
    ({"@label": 1}, "not a field name"),
    ({"x": Opaque()}, "Opaque"),
    ({"x": np.zeros(2, dtype=np.complex128)}, "complex128"),
    ({"x": np.zeros(2, dtype="U3")}, "U3"),
    ({"x": [1, "a"]}, "same fields"),
    ({"x": [None]}, "absent"),
    ({"x": 2**200}, "128 bits"),
    (None, "absent"),
]


@pytest.mark.parametrize("value,text", BAD_VALUES, ids=[t for _, t in BAD_VALUES])
def test_values_reem_cannot_store_raise_encode_error(kv, value, text):
    with pytest.raises(reem.EncodeError, match=text):
        kv.set("k", value)
    assert not kv.exists("k")


def test_a_deeply_nested_value_is_an_error_not_a_crash(kv):
    v = {}
    for _ in range(100000):
        v = {"a": v}
    with pytest.raises(reem.EncodeError, match="nested"):
        kv.set("k", v)


def test_limits_and_connections(url, kv):
    kv.set("big", {"a": np.zeros(1 << 17)})
    small = reem.KeyValueStore(reem.RedisInterface(url, max_message_size=4096))
    with pytest.raises(reem.TooLarge):
        small.get("big")
    with pytest.raises(reem.ConnectionError):
        reem.RedisInterface("redis://127.0.0.1:1", connect_timeout=2)
    with pytest.raises(reem.InvalidUrl):
        reem.RedisInterface("http://example.invalid")
    with pytest.raises(reem.NotFound, match='"nope" not found'):
        kv.get("nope")


def test_an_8_mib_read_shares_the_reply_buffer(kv, url, rust_side):
    rust_side(url, "write")  # rs/big: 2^20 float64 written by Rust
    tracemalloc.start()
    try:
        a = kv.get("rs/big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert a.shape == (1 << 20,) and a.dtype == np.float64 and a.nbytes == 8 << 20
    assert a[12345] == 12345.0
    # numpy reports its own allocations to tracemalloc: no 8 MiB copy was made.
    assert peak < 1 << 20, peak
    assert not a.flags.owndata and not a.flags.writeable
    base = a
    while isinstance(base.base, np.ndarray):
        base = base.base
    assert base.__array_interface__["data"][0] == a.__array_interface__["data"][0]
    assert not base.flags.owndata  # the buffer belongs to the Rust reply, not to numpy
    with pytest.raises(ValueError):
        a[0] = 1.0
    b = a.copy()  # a writable array, on request
    b[0] = 1.0
    # Written back from Python, read by Rust's typed reader: the same 8 MiB.
    kv.set("py/big", a, label=kv.label("rs/big"))
    assert np.array_equal(kv.get("py/big"), a)


def test_the_gil_is_released_while_waiting(iface):
    sub = reem.RawSubscriber(iface, "gil")
    sub.listen()
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.01)

    t = threading.Thread(target=spin)
    t.start()
    assert sub.recv(timeout=0.5) is None
    stop.set()
    t.join()
    assert len(ticks) >= 10  # the other thread ran during the wait
