"""TokyoTyrant client against a server (built-in, and real ttserver when installed)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from typing import Iterator, List

import pytest

from kt import (
    KT_JSON,
    KT_NONE,
    KT_PICKLE,
    ServerConnectionError,
    TokyoTyrant,
    TokyoTyrantError,
)
from servers import RunningServer, server_kinds


@pytest.fixture
def client(tt_server: RunningServer) -> Iterator[TokyoTyrant]:
    c = TokyoTyrant(port=tt_server.port, timeout=10)
    c.clear()
    yield c
    c.close()


@pytest.fixture
def hclient(tt_hash_server: RunningServer) -> Iterator[TokyoTyrant]:
    c = TokyoTyrant(port=tt_hash_server.port, timeout=10)
    c.clear()
    yield c
    c.close()


# --- the seed's examples ------------------------------------------------------


def test_seed_common_features(hclient: TokyoTyrant) -> None:
    client = hclient
    assert client.set("k1", "v1") is True
    assert client.get("k1") == "v1"
    assert client.remove("k1") == 1
    assert client.get("not-here") is None
    assert client.remove("not-here") == 0
    client.set("k1", "v1")
    assert client.exists("k1") is True
    assert client.exists("not-here") is False
    assert client.set_bulk({"k1": "v1", "k2": "v2", "k3": "v3"}) is True
    assert client.get_bulk(["k1", "k2", "k3", "not-here"]) == {"k1": "v1", "k2": "v2", "k3": "v3"}
    assert client.remove_bulk(["k1", "k2", "k3"]) is True
    client["k1"] = "v1"
    assert client["k1"] == "v1"
    del client["k1"]
    assert "k1" not in client
    client.update({"k1": "v1", "k2": "v2"})
    assert len(client) == 2
    assert client.clear() is True
    assert len(client) == 0


# --- records ------------------------------------------------------------------------


def test_writes(client: TokyoTyrant) -> None:
    assert client.add("a", "1") is True
    assert client.add("a", "2") is False
    assert client.append("a", "3") is True
    assert client.get("a") == "13"
    assert client.append("new", "x") is True
    assert client.addshl("a", "456", 3) is True
    assert client.get("a") == "456"
    client.setnr("nr", "fire")
    client.setnr_bulk({"nr1": "a", "nr2": "b"})
    assert client.get_bulk(["nr", "nr1", "nr2"]) == {"nr": "fire", "nr1": "a", "nr2": "b"}


def test_length_and_get_part(client: TokyoTyrant) -> None:
    client.set("k", "abcdef")
    assert client.length("k") == 6
    assert client.length("missing") is None
    assert client.get_part("k", 2, 3) == "cde"
    assert client.get_part("k", 4) == "ef"
    assert client.get_part("k", 10) is None
    assert client.get_part("missing", 0) is None


def test_incr(client: TokyoTyrant) -> None:
    assert client.incr("i") == 1
    assert client.incr("i", 41) == 42
    assert client.incr("i", -50) == -8
    assert client.incr_double("d", 0.5) == 0.5
    assert client.incr_double("d", 1.25) == 1.75
    client.set("text", "abc")
    with pytest.raises(TokyoTyrantError) as info:
        client.incr("text")
    assert info.value.code == 6
    with pytest.raises(TokyoTyrantError):
        client.incr_double("text")


def test_duplicates_on_b_tree(client: TokyoTyrant) -> None:
    client.set("k", "v1")
    assert client.setup("k", "v2") is True
    assert client.setupback("k", "v0") is True
    assert client.get("k") == "v0"
    assert client.misc("getlist", ["k"]) == [b"k", b"v0", b"k", b"v1", b"k", b"v2"]
    assert client.misc("get", ["k"]) == [b"v0", b"v1", b"v2"]
    assert client.remove("k") == 1
    assert client.get("k") == "v1"


def test_ranges_and_matches(client: TokyoTyrant) -> None:
    client.set_bulk({"a": "1", "b": "2", "c": "3", "d": "4", "ab": "5"})
    assert client.get_range("b", "d") == {"b": "2", "c": "3"}
    assert client["ab":"c"] == {"ab": "5", "b": "2"}
    assert client.get_range("b", max_keys=2) == {"b": "2", "c": "3"}
    assert client.iter_from("c") == {"c": "3", "d": "4"}
    assert client.match_prefix("a") == ["a", "ab"]
    assert client.match_prefix("a", 1) == ["a"]
    assert client.match_regex("^[ab]$") == ["a", "b"]
    assert list(client.keys()) == ["a", "ab", "b", "c", "d"]
    assert list(client.items()) == [("a", "1"), ("ab", "5"), ("b", "2"), ("c", "3"), ("d", "4")]
    assert list(client.values()) == ["1", "5", "2", "3", "4"]
    assert sorted(client) == ["a", "ab", "b", "c", "d"]


def test_bulk_1000(hclient: TokyoTyrant) -> None:
    data = {"key-%04d" % i: "v%d" % i for i in range(1000)}
    assert hclient.set_bulk(data)
    assert hclient.get_bulk(list(data)) == data
    assert sorted(hclient.keys()) == sorted(data)
    assert dict(hclient.items()) == data
    assert hclient.remove_bulk(list(data)[:400])
    assert len(hclient) == 600


@pytest.mark.parametrize("serializer, value", [
    (KT_JSON, {"a": [1, 2]}), (KT_PICKLE, {1, 2}), (KT_NONE, b"\x00\xff")])
def test_serializers(tt_hash_server: RunningServer, serializer: object, value: object) -> None:
    c = TokyoTyrant(port=tt_hash_server.port, serializer=serializer)  # type: ignore[arg-type]
    c.set("s", value)
    assert c.get("s") == value


def test_binary_data(hclient: TokyoTyrant) -> None:
    key = b"\x00\t\n\xff"
    hclient.set(key, b"\x00\x01\xff")
    assert hclient.get_raw(key) == b"\x00\x01\xff"
    assert hclient.get_bulk_raw([key]) == {key: b"\x00\x01\xff"}


def test_database_operations(tt_server: RunningServer, client: TokyoTyrant) -> None:
    client.set_bulk({"a": "1", "b": "2"})
    status = client.status()
    assert status["rnum"] == "2"
    assert "version" in status and "type" in status
    assert client.count() == 2
    assert client.size > 0
    assert client.synchronize() is True
    assert client.optimize() is True
    client.get("missing")  # the database remembers its last error
    assert client.error == (22, "no record found")
    copy = os.path.join(tt_server.workdir, "copy.tcb")
    assert client.copy(copy) is True
    assert os.path.exists(copy)


def test_errors(hclient: TokyoTyrant) -> None:
    with pytest.raises(TokyoTyrantError) as info:
        hclient.script("no_such_function", "k", "v")
    assert info.value.code == 9999
    assert hclient.misc("no_such_misc") is None
    with pytest.raises(TypeError):
        hclient.get(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hclient.set("k", 1.5)


def test_threads(hclient: TokyoTyrant) -> None:
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(100):
                key = "t%d-%d" % (n, i)
                hclient.set(key, key * 2)
                assert hclient.get(key) == key * 2
                assert hclient.get_bulk([key]) == {key: key * 2}
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(hclient) == 1600


def test_gevent(tt_hash_server: RunningServer) -> None:
    pytest.importorskip("gevent")
    code = textwrap.dedent("""
        from gevent import monkey; monkey.patch_all()
        import gevent
        from kt import TokyoTyrant
        client = TokyoTyrant(port=%d, timeout=20)
        def work(n):
            for i in range(20):
                key = 'g%%d-%%d' %% (n, i)
                client.set(key, key)
                assert client.get(key) == key
            return n
        jobs = [gevent.spawn(work, n) for n in range(200)]
        gevent.joinall(jobs, raise_error=True)
        print('ok')
    """) % tt_hash_server.port
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork(hclient: TokyoTyrant) -> None:
    hclient.set("before", "x")
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for i in range(30):
                hclient.set("child%d" % i, "c")
                if hclient.get("child%d" % i) != "c":
                    code = 3
        except BaseException:
            code = 4
        os._exit(code)
    for i in range(30):
        hclient.set("parent%d" % i, "p")
        assert hclient.get("parent%d" % i) == "p"
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert hclient.get("child29") == "c"


@pytest.mark.parametrize("impl", server_kinds("tyrant"))
def test_server_killed_then_back(impl: str) -> None:
    server = RunningServer("tyrant", impl, databases=["*"]).start()
    try:
        c = TokyoTyrant(port=server.port, timeout=5)
        c.set("k", "v")
        port = server.port
        server.stop()
        with pytest.raises(ServerConnectionError):
            c.get("k")
        server.start(port)
        assert c.get("k") is None
        assert c.set("k", "w") is True
        assert c.get("k") == "w"
    finally:
        server.stop()
