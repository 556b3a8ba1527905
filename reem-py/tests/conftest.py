"""A private redis-server for the tests (a unix socket in a temporary directory; never the
machine's shared Redis), and the Rust side of the cross-language tests."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest
import redis as redis_py

import reem

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _start_server():
    d = tempfile.mkdtemp(prefix="reem-py-")
    sock = os.path.join(d, "redis.sock")
    server = os.environ.get("REEM_REDIS_SERVER", "redis-server")
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", d],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(sock):
            try:
                if redis_py.Redis(unix_socket_path=sock).ping():
                    return proc, d, sock
            except redis_py.exceptions.ConnectionError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"could not start {server}")


@pytest.fixture(scope="session")
def server():
    proc, d, sock = _start_server()
    yield sock
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def url(server):
    r = redis_py.Redis(unix_socket_path=server)
    r.flushall()
    return f"unix://{server}"


@pytest.fixture
def raw(server):
    return redis_py.Redis(unix_socket_path=server)


@pytest.fixture
def iface(url):
    return reem.RedisInterface(url)


@pytest.fixture
def kv(iface):
    return reem.KeyValueStore(iface)


@pytest.fixture(scope="session")
def rust_side():
    """The Rust half of the cross-language tests (examples/python_interop.rs), built once;
    `rust_side(url, "write"|"check"|..., ...)` runs it and returns its stdout."""
    exe = os.environ.get("REEM_PY_INTEROP_BIN")
    if not exe:
        out = subprocess.run(
            ["cargo", "build", "-q", "--example", "python_interop", "--example", "publisher",
             "--message-format", "json"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
        import json
        for line in out.splitlines():
            m = json.loads(line)
            if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "python_interop":
                exe = m["executable"]
    assert exe, "examples/python_interop did not build"

    class Rust:
        def __init__(self, exe):
            self.exe = exe

        def __call__(self, url, *args):
            p = subprocess.run([self.exe, url, *args], capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stderr
            return p.stdout

    return Rust(exe)
