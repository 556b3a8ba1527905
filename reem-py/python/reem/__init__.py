"""reem for Python: typed robot messages in Redis, read and written by reem's Rust core.

The names of the original REEM::

    import reem
    iface = reem.RedisInterface("redis://127.0.0.1:6379")
    kv = reem.KeyValueStore(iface)
    kv.set("robot/pose", {"x": 1.5, "y": -0.25, "theta": 0.785}, label="Pose2")
    kv.get("robot/pose")                    # {'x': 1.5, 'y': -0.25, 'theta': 0.785}
    kv.get("robot/pose", field="x")         # 1.5

Messages are dicts (nested dicts for nested structs), arrays are numpy arrays that share the
buffer of Redis' reply (read-only: ``a.copy()`` for a writable one). See docs/PYTHON.md.
"""

from ._reem import (
    CallbackSubscriber,
    ConnectionError,
    EncodeError,
    Error,
    InvalidData,
    InvalidUrl,
    KeyValueStore,
    NotFound,
    PublishSpace,
    RawSubscriber,
    RedisInterface,
    Refused,
    SchemaMismatch,
    Timeout,
    TooLarge,
    Unconfirmed,
    __version__,
)

__all__ = [
    "CallbackSubscriber",
    "ConnectionError",
    "EncodeError",
    "Error",
    "InvalidData",
    "InvalidUrl",
    "KeyValueStore",
    "NotFound",
    "PublishSpace",
    "RawSubscriber",
    "RedisInterface",
    "Refused",
    "SchemaMismatch",
    "Timeout",
    "TooLarge",
    "Unconfirmed",
    "__version__",
]
