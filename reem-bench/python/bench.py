"""W1–W6 from Python: the `reem` package vs redis-py doing the same commands (+ numpy) vs the
seed's Python REEM (PyPI `reem` 0.1.2).

    reem-bench/python/run.sh             # makes the two venvs, runs `report` twice
    python bench.py report [--quick]     # one run: a private redis-server, each side in its own process
    python bench.py side SIDE URL        # one side's figures as JSON (what `report` runs)

Sides:
- `reem`: this package (`reem.KeyValueStore`, `PublishSpace`, `RawSubscriber`).
- `raw`: redis-py + numpy sending reem's own commands (MULTI; UNLINK; HSET header + fields;
  HSET arr; [HSET @pub @seq; PUBLISH inline notification]; EXEC), the schema text prepared
  once, values formatted and parsed by hand: the fastest plain Python a user would write
  for the same bytes.
- `seed`: the seed's own code (`reem` 0.1.2, redis-py 3.5.3, rejson) in a separate venv.
  Its server side needs the RedisJSON module, which cannot be installed here, so its
  `rejson` client is patched to store each JSON document at the key root as a plain string
  (`JSON.SET k . doc` → `SET k doc`, `JSON.GET k .` → `GET k`); everything else (metadata
  keys, NumpyMarshaller hashes, keyspace-notification listener, pipelines, `eval` of the
  dtype) is the seed's code as published. This favours the seed a little (no server-side
  JSON parsing).

W1 set / W2 get of a 10-field message; W3 set / W4 get of a 1 MiB float64 array (plus a
stamp); W5 publish → received value latency (same process, subscriber thread); W6 publishes
per second (small message, no subscriber; the median of batches of 100). Medians; the sides
take turns three times and each figure is the median of its three rounds.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SMALL = {
    "stamp": 1712000000.25, "seq": 42, "x": 1.5, "y": -0.25, "z": 0.5,
    "qx": 0.0, "qy": 0.0, "qz": 0.7071067811865476, "qw": 0.7071067811865476, "frame_id": "map",
}


def timeit(f, n, warm=20):
    for _ in range(warm):
        f()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def rate(f, total, batch=100):
    """Calls per second: the median over batches of `batch` calls (robust to a busy machine)."""
    f()
    per = []
    for _ in range(max(1, total // batch)):
        t = time.perf_counter()
        for _ in range(batch):
            f()
        per.append(time.perf_counter() - t)
    return batch / statistics.median(per)


def counts(quick):
    return dict(small=300 if quick else 1000, big=30 if quick else 100, lat=200 if quick else 500,
                rate=500 if quick else 2000)


# ---------------------------------------------------------------- reem
def side_reem(url, n):
    import numpy as np

    import reem

    iface = reem.RedisInterface(url)
    kv = reem.KeyValueStore(iface)
    big = {"stamp": 1.0, "a": np.arange(131072, dtype=np.float64)}
    r = {}
    r["W1 set small"] = timeit(lambda: kv.set("b/small", SMALL, label="bench.Small"), n["small"])
    r["W2 get small"] = timeit(lambda: kv.get("b/small"), n["small"])
    r["W3 set 1 MiB"] = timeit(lambda: kv.set("b/big", big, label="bench.Big"), n["big"])
    r["W4 get 1 MiB"] = timeit(lambda: kv.get("b/big"), n["big"])
    pubs = reem.PublishSpace(iface)
    sub = reem.RawSubscriber(iface, "b/topic", queue=4)
    sub.listen()
    sub.recv(timeout=0.1)

    def roundtrip():
        pubs.publish("b/topic", SMALL, label="bench.Small")
        sub.recv(timeout=5)

    r["W5 pub→sub small"] = timeit(roundtrip, n["lat"])
    r["W6 publishes/s"] = rate(lambda: pubs.publish("b/rate", SMALL, label="bench.Small"), n["rate"])
    return r


# ---------------------------------------------------------------- raw redis-py
def fnv(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def header(label, fields):
    fj = json.dumps(fields, separators=(",", ":"))
    return {"@label": label, "@fp": fnv(fj),
            "@schema": '{"format":1,"label":"%s","fields":%s}' % (label, fj)}


def side_raw(url, n):
    import numpy as np
    import redis

    r_ = redis.Redis.from_url(url)
    types = {"stamp": "f64", "seq": "i64", "frame_id": "string"}
    small_fields = [{"name": k, "type": types.get(k, "f64")} for k in SMALL]
    small_head = header("bench.Small", small_fields)
    parse = {"f64": float, "i64": int, "string": bytes.decode}
    small_parse = [(k.encode(), parse[types.get(k, "f64")]) for k in SMALL]

    def small_pairs():
        d = dict(small_head)
        for k, v in SMALL.items():
            d[k] = repr(v) if isinstance(v, float) else str(v)
        return d

    def set_small():
        p = r_.pipeline(transaction=True)
        p.unlink("b/small")
        p.hset("b/small", mapping=small_pairs())
        p.execute()

    def get_small():
        h = r_.hgetall("b/small")
        return {k.decode(): f(h[k]) for k, f in small_parse}

    a = np.arange(131072, dtype=np.float64)
    big_head = header("bench.Big", [{"name": "stamp", "type": "f64"},
                                    {"name": "a", "type": "array", "dtype": "float64", "ndim": 1}])

    def set_big():
        p = r_.pipeline(transaction=True)
        p.unlink("b/big")
        p.hset("b/big", mapping={**big_head, "stamp": repr(1.0), "a.dtype": str(a.dtype),
                                 "a.shape": str(a.shape), "a.strides": str(a.strides)})
        p.hset("b/big", "a.arr", a.tobytes())
        p.execute()

    def get_big():
        h = r_.hgetall("b/big")
        dims = [int(d) for d in h[b"a.shape"].decode()[1:-1].split(",") if d.strip()]
        return {"stamp": float(h[b"stamp"]),
                "a": np.frombuffer(h[b"a.arr"], np.dtype(h[b"a.dtype"].decode())).reshape(dims)}

    r = {}
    r["W1 set small"] = timeit(set_small, n["small"])
    r["W2 get small"] = timeit(get_small, n["small"])
    r["W3 set 1 MiB"] = timeit(set_big, n["big"])
    r["W4 get 1 MiB"] = timeit(get_big, n["big"])

    seq = [0]
    pub_id = "0123456789abcdef"

    def publish(topic):
        seq[0] += 1
        pairs = small_pairs()
        pairs_stamp = {"@pub": pub_id, "@seq": str(seq[0])}
        body = bytearray(b"reem2 h %s %d\n" % (pub_id.encode(), seq[0]))
        for k, v in list(pairs.items()) + list(pairs_stamp.items()):
            for item in (k.encode(), v.encode()):
                body += b"%d:" % len(item) + item
        p = r_.pipeline(transaction=True)
        p.unlink(topic)
        p.hset(topic, mapping=pairs)
        p.hset(topic, mapping=pairs_stamp)
        p.publish(topic, bytes(body))
        p.execute()

    ps = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
    ps.subscribe("b/topic")
    got = []
    ready = threading.Event()

    def decode(m):
        head, _, body = m["data"].partition(b"\n")
        items = []
        while body:
            k, _, body = body.partition(b":")
            k = int(k)
            items.append(body[:k])
            body = body[k:]
        h = dict(zip(items[::2], items[1::2]))
        return {k.decode(): f(h[k]) for k, f in small_parse}

    def listen():
        ready.set()
        for m in ps.listen():
            if m["type"] == "message":
                got.append(decode(m))
                ev.set()

    ev = threading.Event()
    t = threading.Thread(target=listen, daemon=True)
    t.start()
    ready.wait()
    time.sleep(0.1)

    def roundtrip():
        ev.clear()
        publish("b/topic")
        ev.wait(5)

    r["W5 pub→sub small"] = timeit(roundtrip, n["lat"])
    r["W6 publishes/s"] = rate(lambda: publish("b/rate"), n["rate"])
    return r


# ---------------------------------------------------------------- the seed
def patch_rejson(url):
    """RedisJSON is not installable here: JSON documents at the key root as plain strings."""
    import rejson
    from rejson import client as rc

    host, port = url.split("//", 1)[1].rsplit(":", 1)
    init = rc.Client.__init__

    def __init__(self, *args, **kwargs):
        kwargs["host"], kwargs["port"] = host, int(port)
        init(self, *args, **kwargs)
        self.set_response_callback("GET", lambda s, **kw: self._decode(s) if s is not None else None)

    def jsonset(self, name, path, obj, nx=False, xx=False):
        if str(path) != ".":
            raise NotImplementedError("only root paths without RedisJSON")
        return self.execute_command("SET", name, self._encode(obj))

    def jsonget(self, name, *args, no_escape=False):
        if args and str(args[0]) != ".":
            raise NotImplementedError("only root paths without RedisJSON")
        return self.execute_command("GET", name)

    def jsondel(self, name, path="."):
        return self.execute_command("DEL", name)

    rc.Client.__init__ = __init__
    rc.Client.jsonset = jsonset
    rc.Client.jsonget = jsonget
    rc.Client.jsondel = jsondel
    return rejson


def side_seed(url, n):
    patch_rejson(url)
    import numpy as np

    import reem  # the seed

    iface = reem.RedisInterface(host="patched")
    kv = reem.KeyValueStore(iface)
    big = {"stamp": 1.0, "a": np.arange(131072, dtype=np.float64)}
    r = {}

    def set_small():
        kv["bsmall"] = SMALL

    def set_big():
        kv["bbig"] = big

    r["W1 set small"] = timeit(set_small, n["small"])
    r["W2 get small"] = timeit(lambda: kv["bsmall"].read(), n["small"])
    r["W3 set 1 MiB"] = timeit(set_big, n["big"])
    got = kv["bbig"].read()
    assert np.array_equal(got["a"], big["a"]) and got["stamp"] == 1.0
    r["W4 get 1 MiB"] = timeit(lambda: kv["bbig"].read(), n["big"])

    pubs = reem.PublishSpace(iface)
    ev = threading.Event()

    def cb(data, updated_path):
        ev.set()

    sub = reem.CallbackSubscriber("btopic", iface, cb, {})
    sub.listen()
    time.sleep(0.3)

    def roundtrip():
        ev.clear()
        pubs["btopic"] = SMALL
        ev.wait(5)

    r["W5 pub→sub small"] = timeit(roundtrip, n["lat"])
    def publish():
        pubs["brate"] = SMALL

    r["W6 publishes/s"] = rate(publish, n["rate"])
    return r


# ---------------------------------------------------------------- report
ROUNDS = 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def report(quick, pythons):
    port = free_port()
    d = tempfile.mkdtemp(prefix="reem-pybench-")
    server = subprocess.Popen(
        [os.environ.get("REEM_REDIS_SERVER", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", d],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        # Rounds: the sides take turns, ROUNDS times, and each figure is the median of its
        # rounds, so that a burst of load from other processes spoils one round, not a side.
        rounds = {}
        for _ in range(ROUNDS):
            for side, py in pythons.items():
                args = [py, os.path.abspath(__file__), "side", side, url] + (["--quick"] if quick else [])
                out = subprocess.run(args, capture_output=True, text=True, timeout=1800)
                if out.returncode != 0:
                    print(f"side {side} failed:\n{out.stderr}", file=sys.stderr)
                    continue
                rounds.setdefault(side, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
        results = {side: {w: statistics.median(r[w] for r in rs) for w in rs[0]} for side, rs in rounds.items()}
    finally:
        server.terminate()
        server.wait()
    rows = list(next(iter(results.values())))
    print("| workload | reem | raw redis-py + numpy | seed REEM (patched rejson) | reem vs raw | seed / reem |")
    print("|---|---|---|---|---|---|")
    for w in rows:
        def show(side):
            v = results.get(side, {}).get(w)
            if v is None:
                return "—"
            return f"{v:,.0f}/s" if "/s" in w else (f"{v * 1e6:,.0f} µs" if v < 1e-3 else f"{v * 1e3:.2f} ms")
        rv, raw, seed = (results.get(s, {}).get(w) for s in ("reem", "raw", "seed"))
        if "/s" in w:
            vs_raw = f"{raw / rv:.2f}×" if rv and raw else "—"  # time ratio = inverse of rate ratio
            seed_ratio = f"{rv / seed:.1f}×" if rv and seed else "—"
        else:
            vs_raw = f"{rv / raw:.2f}×" if rv and raw else "—"
            seed_ratio = f"{seed / rv:.1f}×" if rv and seed else "—"
        print(f"| {w} | {show('reem')} | {show('raw')} | {show('seed')} | {vs_raw} | {seed_ratio} |")
    print("\n(reem vs raw: reem's time / raw's time, ≤ 1.3 wanted; seed / reem: how many times"
          " faster reem is than the seed.)")
    return results


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    args = [a for a in args if a != "--quick"]
    if args[:1] == ["side"]:
        side, url = args[1], args[2]
        f = {"reem": side_reem, "raw": side_raw, "seed": side_seed}[side]
        print(json.dumps(f(url, counts(quick))))
    elif args[:1] == ["report"]:
        pythons = {"reem": os.environ.get("REEM_PY", sys.executable),
                   "raw": os.environ.get("REEM_PY", sys.executable)}
        if os.environ.get("SEED_PY"):
            pythons["seed"] = os.environ["SEED_PY"]
        report(quick, pythons)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
