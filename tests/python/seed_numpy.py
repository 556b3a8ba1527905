"""The seed's NumpyMarshaller, for reem's interop tests (tests/interop.rs).

`write` stores arrays exactly as the seed's NumpyMarshaller.write does; `interpret_read` is
the seed's reading logic with `np.dtype(name)` in place of `eval("np." + name)`.

Usage (URL is the private test server's, e.g. redis://127.0.0.1:PORT):
  seed_numpy.py URL read SPEC...   print JSON {SPEC: {dtype, shape, values}}; a SPEC is a
                                   key (a top-level array) or KEY:FIELD (an array field)
  seed_numpy.py URL write PREFIX   store the fixtures below at PREFIX/NAME; print their names
"""

import json
import sys

import numpy as np
import redis


def write(key, value, client):
    """The seed's NumpyMarshaller.write."""
    client.hset(key, "arr", memoryview(value.data).tobytes())
    client.hset(key, "dtype", str(value.dtype))
    client.hset(key, "shape", str(value.shape))
    client.hset(key, "strides", str(value.strides))


def interpret_read(responses):
    """The seed's NumpyMarshaller.interpret_read, without eval."""
    hash = responses[0]
    dtype = np.dtype(hash[b"dtype"].decode("utf-8"))
    shape = hash[b"shape"].decode("utf-8")[1:-1]
    shape = tuple([int(s) for s in shape.split(",") if len(s) > 0])
    arr = np.frombuffer(hash[b"arr"], dtype)
    arr = np.reshape(arr, shape)
    return arr


def field_hash(hash, field):
    """The four fields of the array stored in `field` of a reem message, renamed as the
    seed names them at the top level."""
    prefix = field.encode() + b"."
    return {k[len(prefix):]: v for k, v in hash.items() if k.startswith(prefix)}


def fixtures():
    """What `write` stores; tests/interop.rs expects exactly these."""
    return {
        "f64_2d": np.arange(12, dtype=np.float64).reshape(3, 4) / 4 - 1,
        "u8_3d": ((np.arange(4 * 5 * 3) * 7) % 256).astype(np.uint8).reshape(4, 5, 3),
        "i16_1d": np.array([-32768, -1, 0, 1, 32767], dtype=np.int16),
        "f64_0d": np.array(3.25),
        "be_f8": np.array([1.5, -2.0, 1e300, 0.1], dtype=">f8"),
        "be_i4_2d": np.array([[1, -2], [70000, -70000]], dtype=">i4"),
        "f32_transposed": np.arange(6, dtype=np.float32).reshape(2, 3).T,
        "bool_1d": np.array([True, False, True]),
    }


def describe(arr):
    values = [x if isinstance(x, (bool, int)) else repr(x) for x in arr.flatten().tolist()]
    return {"dtype": str(arr.dtype), "shape": list(arr.shape), "values": values}


def main(argv):
    url, command, args = argv[1], argv[2], argv[3:]
    client = redis.Redis.from_url(url)
    if command == "read":
        out = {}
        for spec in args:
            key, _, field = spec.partition(":")
            hash = client.hgetall(key)
            if field:
                hash = field_hash(hash, field)
            out[spec] = describe(interpret_read([hash]))
        print(json.dumps(out))
    elif command == "write":
        (prefix,) = args
        pipe = client.pipeline()
        for name, value in fixtures().items():
            write(f"{prefix}/{name}", value, pipe)
        pipe.execute()
        print(json.dumps(sorted(fixtures())))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
