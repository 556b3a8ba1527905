"""Rust writes → Python reads and Python writes → Rust reads, for every message kind of the
Rust interop tests; publish/subscribe across the two languages, both ways."""

import math
import threading

import numpy as np
import pytest

import reem


def pose2():
    return {"x": 1.5, "y": -0.25, "theta": 0.785}


def sensors():
    r, c, k = np.meshgrid(np.arange(4), np.arange(5), np.arange(3), indexing="ij")
    return {
        "seq": np.uint64(3),
        "image": (r * 15 + c * 3 + k).astype(np.uint8),
        "depth": np.array([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]], dtype=np.float32),
        "ranges": np.array([0.5, 0.25, 1e-300]),
        "counts": np.array([-7, 0, 7, 300], dtype=np.int16),
        "calib": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        "pose": {"translation": np.array([1.0, 2.0, 3.0]), "rotation": np.array([0.0, 0.0, 0.0, 1.0])},
    }


def camera(rotation):
    r, c = np.meshgrid(np.arange(480), np.arange(640), indexing="ij")
    image = np.stack([r % 256, c % 256, (r ^ c) % 256], axis=-1).astype(np.uint8)
    return {
        "stamp": 1712000000.25,
        "seq": np.uint64(42),
        "frame_id": "map",
        "pose": {"translation": np.array([1.0, 2.0, 0.5]), "rotation": rotation},
        "image": image,
    }


ARRAYS = {
    "u8_3d": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    "f32_2d": np.array([[1.5, -2.0], [0.0, 3.25]], dtype=np.float32),
    "f64_vec": np.array([0.5, 1.5, -2.0]),
    "i16_2d": np.array([[-1, 2], [300, -400]], dtype=np.int16),
    "f64_0d": np.array(-0.75),
    "matrix": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    "dvector": np.array([1.0, 2.0, 3.0]),
}


def same(got, want):
    """Deep equality of decoded messages, numpy arrays compared exactly (dtype and shape)."""
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), got
        assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
        assert np.array_equal(got, want), (got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (got, want)
        for k in want:
            same(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
    elif isinstance(want, float):
        assert isinstance(got, float) and got == want, (got, want)
    else:
        assert got == want and type(got) is type(want), (got, want)


def test_python_reads_every_message_kind_rust_writes(kv, url, rust_side):
    rust_side(url, "write")
    same(kv.get("rs/pose2"), pose2())
    same(kv.get("rs/imu"), {"id": 7, "temp": -40, "count": 100000, "scale": 0.5, "ok": True, "t": -5})
    assert kv.label("rs/pose2") == "test.Pose2"
    status = kv.get("rs/status")
    same(status, {
        "stamp": 1712000000.25, "seq": 42, "frame_id": "map", "ok": True, "mode": "Driving",
        "base": {"x": 1.0, "y": 2.0, "theta": 0.5}, "battery": 0.75, "tags": ["a", "b"],
        "path": [{"x": 0.0, "y": 0.0, "theta": 0.0}, {"x": 1.0, "y": 1.0, "theta": 1.5}],
        "meta": [1, 2, 3],
    })
    want = sensors()
    want["seq"] = 3
    same(kv.get("rs/sensors"), want)
    # 90° about z, as nalgebra computes it (within rounding of sqrt(0.5)).
    rotation = kv.get("rs/camera", field="pose.rotation")
    assert np.allclose(rotation, [0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)], rtol=0, atol=1e-15)
    want = camera(rotation)
    want["seq"] = 42
    same(kv.get("rs/camera"), want)
    for name, a in ARRAYS.items():
        same(kv.get(f"rs/{name}"), a)
    # One field at a time.
    assert kv.get("rs/status", field="base.x") == 1.0
    assert kv.get("rs/status", field="path.1.theta") == 1.5
    same(kv.get("rs/sensors", field="pose.rotation"), np.array([0.0, 0.0, 0.0, 1.0]))
    with pytest.raises(reem.SchemaMismatch, match="no field"):
        kv.get("rs/status", field="base.z")


def test_rust_reads_every_message_kind_python_writes(kv, raw, url, rust_side):
    rust_side(url, "write")  # for the labels of the array types, and rs/status to copy
    kv.set("py/pose2", pose2(), label="test.Pose2")
    # numpy scalars say the integer widths and f32 of the Rust struct.
    kv.set("py/imu", {"id": np.uint8(7), "temp": np.int16(-40), "count": np.uint32(100000),
                      "scale": np.float32(0.5), "ok": True, "t": np.int32(-5)}, label="test.Imu")
    kv.set("py/sensors", sensors(), label="test.Sensors")
    kv.set("py/camera", camera(kv.get("rs/camera", field="pose.rotation")), label="robot.CameraFrame")
    for name, a in ARRAYS.items():
        kv.set(f"py/{name}", a, label=kv.label(f"rs/{name}"))
    # Enums and JSON fields come from a stored schema: write against it.
    raw.copy("rs/status", "py/status")
    kv.set("py/status", {
        "stamp": 1712000000.25, "seq": 43, "frame_id": "map", "ok": True, "mode": "Idle",
        "base": {"x": 1.0, "y": 2.0, "theta": 0.5}, "battery": None, "tags": ["a", "b"],
        "path": [{"x": 0.0, "y": 0.0, "theta": 0.0}, {"x": 1, "y": 1, "theta": 1.5}],
        "meta": [1, 2, 3],
    }, as_stored=True)
    kv.set("py/not_a_pose", {"x": 1, "y": 2, "theta": 3}, label="test.Pose2")  # ints: i64
    assert rust_side(url, "check").strip() == "ok"


def test_a_stored_schema_write_is_type_checked(kv, url, rust_side):
    rust_side(url, "write")
    before = kv.get("rs/status")
    for bad in [{"seq": -1}, {"mode": "Flying"}, {"ok": 1}, {"stamp": "soon"}, {"nope": 1}]:
        value = dict(before, **bad)
        with pytest.raises(reem.EncodeError):
            kv.set("rs/status", value, as_stored=True)
    same(kv.get("rs/status"), before)
    kv.set_fields("rs/status", {"base.x": 2.5, "seq": 44, "mode": "Idle"})
    assert kv.get("rs/status", field="base.x") == 2.5
    assert kv.get("rs/status", field="mode") == "Idle"
    with pytest.raises(reem.EncodeError):
        kv.set_fields("rs/status", {"seq": 1.5})


def test_python_receives_what_rust_publishes(iface, url, rust_side):
    sub = reem.RawSubscriber(iface, "interop/pose", queue=100)
    sub.listen()
    rust_side(url, "publish", "interop/pose", "20")
    got = [sub.recv(timeout=10) for _ in range(20)]
    assert [g["x"] for g in got] == [float(i) for i in range(1, 21)]
    assert got[0] == {"x": 1.0, "y": -1.0, "theta": 0.5}
    assert sub.counters()["decode_errors"] == 0
    assert sub.value()["x"] == 20.0


def test_rust_receives_what_python_publishes(iface, url, rust_side):
    exe_out = []

    def run():
        exe_out.append(rust_side(url, "subscribe", "interop/py", "10"))

    # rust_side blocks: run it in a thread and publish once its topic has a subscriber.
    t = threading.Thread(target=run)
    t.start()
    import redis as redis_py
    r = redis_py.Redis.from_url(url)
    for _ in range(500):
        if r.pubsub_numsub("interop/py")[0][1] > 0:
            break
        threading.Event().wait(0.02)
    pubs = reem.PublishSpace(iface)
    for i in range(1, 11):
        pubs.publish("interop/py", {"x": float(i), "y": -float(i), "theta": 0.5}, label="test.Pose2")
    t.join(30)
    lines = exe_out[0].splitlines()
    assert lines[0] == "ready"
    xs = [float(l.split()[0]) for l in lines[1:11]]
    # The stored latest value read at start may come first if a publish raced the
    # subscription; every message arrives in order.
    assert xs[-1] == 10.0 and xs == sorted(xs)
    assert lines[-1] == "decode_errors 0"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_python_pub_sub_and_callbacks(iface):
    pubs = reem.PublishSpace(iface)
    got = []
    done = threading.Event()

    def on_message(v):
        got.append(v)
        if v["n"] == 2:
            raise RuntimeError("a callback that raises")
        if v["n"] == 5:
            done.set()

    with reem.CallbackSubscriber(iface, "cb/topic", on_message, queue=10) as cb:
        cb.listen()
        for n in range(1, 6):
            pubs.publish("cb/topic", {"n": n, "img": np.full((2, 2), n, dtype=np.uint8)})
        assert done.wait(10)
        c = cb.counters()
    assert [v["n"] for v in got] == [1, 2, 3, 4, 5]
    assert c["callback_errors"] == 1 and c["decode_errors"] == 0
    same(got[-1]["img"], np.full((2, 2), 5, dtype=np.uint8))

    late = reem.RawSubscriber(iface, "cb/topic")
    late.listen()
    assert late.value()["n"] == 5  # a late joiner has the stored latest value at once
    assert late.recv(timeout=0.05)["n"] == 5
    assert late.recv(timeout=0.05) is None


def test_the_python_example_reads_what_the_rust_publisher_publishes(url, rust_side):
    """examples/python/camera_and_pose.py against examples/publisher.rs."""
    import os
    import subprocess
    import sys

    exe = os.path.join(os.path.dirname(rust_side.exe), "publisher")
    pub = subprocess.Popen([exe, "demo/pose", "20", "6"], env=dict(os.environ, REEM_URL=url),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        r = __import__("redis").Redis.from_url(url)
        for _ in range(300):
            if r.exists("demo/pose/camera"):
                break
            threading.Event().wait(0.02)
        example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "camera_and_pose.py")
        out = subprocess.run([sys.executable, example, "1.5"], env=dict(os.environ, REEM_URL=url, MPLBACKEND="Agg"),
                             capture_output=True, text=True, timeout=60, cwd=os.path.dirname(__file__))
        assert out.returncode == 0, out.stderr
        assert "image (480, 640, 3) uint8 writeable: False" in out.stdout, out.stdout
        assert "robot.CameraFrame" in out.stdout
    finally:
        pub.kill()
        pub.wait()


def test_a_field_is_read_alone_once_the_schema_is_known(kv, raw, url, rust_side):
    rust_side(url, "write")
    kv.get("rs/camera")  # learns the schema
    raw.config_resetstat()
    assert kv.get("rs/camera", field="stamp") == 1712000000.25
    assert kv.get("rs/camera", field="pose")["translation"].tolist() == [1.0, 2.0, 0.5]
    stats = raw.info("commandstats")
    assert "cmdstat_hgetall" not in stats and stats["cmdstat_hmget"]["calls"] == 2
    # The message changed type meanwhile: the whole message is read again, and the field found.
    raw.copy("rs/pose2", "rs/camera", replace=True)
    assert kv.get("rs/camera", field="x") == 1.5
    with pytest.raises(reem.SchemaMismatch, match="no field"):
        kv.get("rs/camera", field="stamp")
    # Lists and list elements are read with the whole message.
    assert kv.get("rs/status", field="path.1.theta") == 1.5
    assert kv.get("rs/status", field="tags") == ["a", "b"]
