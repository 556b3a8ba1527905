"""The interface's URL forms, ACL users and databases, as in Rust."""

import pytest

import reem


@pytest.fixture
def robot_user(raw):
    raw.execute_command("ACL", "SETUSER", "robot", "reset", "on", ">pw", "~robot/*", "&robot/*", "+@all")
    yield
    raw.execute_command("ACL", "DELUSER", "robot")


def test_an_acl_user_works_within_its_keys_and_channels_and_is_refused_outside(server, robot_user):
    for scheme in ("unix", "redis+unix"):
        iface = reem.RedisInterface(f"{scheme}://{server}?user=robot&pass=pw")
        kv = reem.KeyValueStore(iface)
        kv.set("robot/x", {"a": 1.0})
        assert kv.get("robot/x") == {"a": 1.0}
        with pytest.raises(reem.Refused, match="NOPERM"):
            kv.set("other", {"a": 1.0})
        with pytest.raises(reem.Refused, match="NOPERM"):
            reem.PublishSpace(iface).publish("other", {"a": 1.0})
        sub = reem.RawSubscriber(iface, "other")
        with pytest.raises(reem.Error):
            sub.listen()
    with pytest.raises(reem.Refused, match="WRONGPASS"):
        reem.RedisInterface(f"unix://{server}?user=robot&pass=wrong")


def test_databases_are_apart(server, url):
    db2 = reem.KeyValueStore(reem.RedisInterface(f"unix://{server}?db=2"))
    db0 = reem.KeyValueStore(reem.RedisInterface(url))
    db2.set("k", {"db": 2})
    assert not db0.exists("k")
    assert db2.get("k") == {"db": 2}
    db2.delete("k")


def test_a_cluster_and_a_url_together_are_refused():
    with pytest.raises(reem.InvalidUrl):
        reem.RedisInterface("redis://127.0.0.1:1", cluster=["redis://127.0.0.1:2"])
