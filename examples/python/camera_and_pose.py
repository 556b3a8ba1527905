# %% [markdown]
# # A camera frame and a pose, from Python
#
# `examples/publisher.rs` publishes a robot's pose on `demo/pose` (10 Hz) and a camera frame
# on `demo/pose/camera` (2 Hz). This notebook-style script (run it whole, or cell by cell
# in VS Code / Jupyter) reads both with the `reem` package:
#
# ```text
# pip install ./reem-py                                  # once
# cargo run --example publisher                          # prints its REEM_URL
# REEM_URL=redis://127.0.0.1:PORT python examples/python/camera_and_pose.py
# ```

# %%
import os
import sys
import time

import numpy as np

import reem

url = os.environ.get("REEM_URL", "redis://127.0.0.1:6379")
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
iface = reem.RedisInterface(url)
kv = reem.KeyValueStore(iface)

# %% [markdown]
# ## The latest values, on demand
# A topic's latest message is stored at its key: `kv.get` reads it as a dict. Arrays are
# numpy arrays sharing the buffer Redis' reply arrived in (read-only, no copy).

# %%
frame = kv.get("demo/pose/camera")
image = frame["image"]
print(kv.label("demo/pose/camera"), "seq", frame["seq"], "stamp", round(frame["stamp"], 2))
print("image", image.shape, image.dtype, "writeable:", image.flags.writeable)
print("mean of each channel", image.reshape(-1, 3).mean(axis=0).round(1))
print("camera translation", frame["pose"]["translation"], "rotation (x, y, z, w)", frame["pose"]["rotation"].round(3))
print("just the pose's x:", kv.get("demo/pose", field="x"))

# %% [markdown]
# ## As they are published
# A `RawSubscriber` keeps the newest message (`value()`) and hands out the next one
# (`recv(timeout=…)`); a `CallbackSubscriber` calls a function on its own thread.

# %%
poses = reem.RawSubscriber(iface, "demo/pose", queue=100)
poses.listen()
frames = []
with reem.CallbackSubscriber(iface, "demo/pose/camera", lambda f: frames.append(f["seq"])) as cams:
    cams.listen()
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        pose = poses.recv(timeout=0.5)
        if pose is not None:
            n += 1
            if n % 5 == 0:
                print(f"pose #{pose['n']}: x {pose['x']:+.2f} y {pose['y']:+.2f} theta {pose['theta']:.2f}")
    print("frames seen:", frames)
print("pose counters", poses.counters())
assert n > 0, "no pose received: is examples/publisher.rs running on this REEM_URL?"

# %% [markdown]
# ## A picture
# With matplotlib installed, the frame is shown (or saved when there is no display).

# %%
try:
    import matplotlib

    if not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imshow(image)
    plt.title(f"frame {frame['seq']}")
    if os.environ.get("DISPLAY"):
        plt.show()
    else:
        plt.savefig("camera_frame.png")
        print("saved camera_frame.png")
except ImportError:
    print("matplotlib is not installed: no picture")
