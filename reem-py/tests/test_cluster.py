"""The same calls on a Redis Cluster (3 private masters on loopback, no replicas)."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import numpy as np
import pytest

import reem


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def cluster():
    server = os.environ.get("REEM_REDIS_SERVER", "redis-server")
    cli = os.environ.get("REEM_REDIS_CLI", "redis-cli")
    if shutil.which(cli) is None:
        pytest.skip(f"{cli} is not installed")
    d = tempfile.mkdtemp(prefix="reem-py-cluster-")
    procs, ports = [], []
    try:
        for i in range(3):
            # Cluster bus ports are port + 10000: pick ports whose bus port is free too.
            while True:
                p = free_port()
                if p + 10000 < 65536:
                    break
            node = os.path.join(d, str(i))
            os.mkdir(node)
            procs.append(subprocess.Popen(
                [server, "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                 "--save", "", "--appendonly", "no", "--dir", node],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            ports.append(p)
        for p in ports:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", p), 0.1).close()
                    break
                except OSError:
                    time.sleep(0.02)
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        for _ in range(300):
            out = subprocess.run([cli, "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True).stdout
            if "cluster_state:ok" in out:
                break
            time.sleep(0.05)
        yield [f"redis://127.0.0.1:{p}" for p in ports]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_store_publish_and_subscribe_on_a_cluster(cluster):
    iface = reem.RedisInterface(cluster=cluster)
    assert iface.is_cluster
    kv = reem.KeyValueStore(iface)
    for i in range(20):  # keys on every master
        kv.set(f"robot{i}/pose", {"x": float(i), "img": np.full((2, 3), i, dtype=np.uint8)}, label="P")
    for i in range(20):
        got = kv.get(f"robot{i}/pose")
        assert got["x"] == float(i) and got["img"].tolist() == [[i] * 3] * 2
        assert kv.get(f"robot{i}/pose", field="x") == float(i)
    sub = reem.RawSubscriber(iface, "{robot1}/odom", queue=10)
    sub.listen()
    pubs = reem.PublishSpace(iface)
    for n in range(3):
        pubs.publish("{robot1}/odom", {"n": n})
    assert [sub.recv(timeout=5)["n"] for _ in range(3)] == [0, 1, 2]
