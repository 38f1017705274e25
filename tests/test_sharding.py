"""The sharded clients against real data on three servers of each kind
(built-in, and ktserver/ttserver when installed), sync and async (the async
clients behind tests/mirror.py's Blocking face): every sharded method, with
each record checked to live on its own shard and nowhere else; what cannot
be sharded raises ShardingError; sync and async give the same results."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from kt import (KT_JSON, AsyncShardedKyotoTycoon, AsyncShardedTokyoTyrant, KyotoTycoon,
                QueryBuilder, ServerError, ShardedKyotoTycoon, ShardedTokyoTyrant, ShardingError,
                TokyoTyrant)
from mirror import FLAVOURS, Blocking
from servers import RunningServer, server_kinds

CLASSES = {
    ("sync", "kyoto"): ShardedKyotoTycoon, ("async", "kyoto"): AsyncShardedKyotoTycoon,
    ("sync", "tyrant"): ShardedTokyoTyrant, ("async", "tyrant"): AsyncShardedTokyoTyrant,
}


def sharded(flavour: str, kind: str, servers: List[Any], **kwargs: Any) -> Any:
    """A sharded client of ``kind`` in ``flavour`` (async behind Blocking)."""
    client = CLASSES[flavour, kind](servers, **kwargs)
    return client if flavour == "sync" else Blocking(client)


@pytest.fixture(scope="module", params=server_kinds("kyoto"))
def kt_three(request: pytest.FixtureRequest) -> Iterator[List[RunningServer]]:
    servers = [RunningServer("kyoto", request.param, databases=["*", "%"]).start()
               for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def tt_three(request: pytest.FixtureRequest) -> Iterator[List[RunningServer]]:
    servers = [RunningServer("tyrant", request.param, databases=["casket.tcb"]).start()
               for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def _addresses(servers: List[RunningServer]) -> List[str]:
    return ["127.0.0.1:%d" % s.port for s in servers]


@pytest.fixture(params=FLAVOURS)
def kt(request: pytest.FixtureRequest, kt_three: List[RunningServer]
       ) -> Iterator[Tuple[Any, Dict[str, KyotoTycoon]]]:
    """(sharded client, {address: plain client of that server}), cleared."""
    plain = {a: KyotoTycoon(port=int(a.rpartition(":")[2])) for a in _addresses(kt_three)}
    for c in plain.values():
        c.clear(db=0)
        c.clear(db=1)
    client = sharded(request.param, "kyoto", _addresses(kt_three))
    yield client, plain
    client.close()
    for c in plain.values():
        c.close()


@pytest.fixture(params=FLAVOURS)
def tt(request: pytest.FixtureRequest, tt_three: List[RunningServer]
       ) -> Iterator[Tuple[Any, Dict[str, TokyoTyrant]]]:
    plain = {a: TokyoTyrant(port=int(a.rpartition(":")[2])) for a in _addresses(tt_three)}
    for c in plain.values():
        c.clear()
    client = sharded(request.param, "tyrant", _addresses(tt_three))
    yield client, plain
    client.close()
    for c in plain.values():
        c.close()


def where(plain: Dict[str, Any], key: str, **kw: Any) -> List[str]:
    """The servers holding ``key``."""
    return [a for a, c in plain.items() if c.exists(key, **kw)]


KEYS = ["user:%d" % i for i in range(60)]


# -- Kyoto Tycoon -----------------------------------------------------------------


def test_kt_each_key_lives_on_its_shard_only(kt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = kt
    for i, key in enumerate(KEYS):
        assert client.set(key, "v%d" % i) == 1
    for i, key in enumerate(KEYS):
        assert client.get(key) == "v%d" % i
        assert where(plain, key) == [client.shard_of(key)]
    counts = [c.count() for c in plain.values()]
    assert sum(counts) == len(KEYS) and min(counts) > 0
    assert client.count() == len(KEYS) == len(client)


def test_kt_single_key_methods(kt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = kt
    assert client.get("missing") is None and client.get_raw("missing") is None
    assert client.set_bytes("raw", b"\x00\x01") == 1
    assert client.get_raw("raw") == client.get_bytes("raw") == b"\x00\x01"
    assert client.exists("raw") and not client.exists("missing")
    assert client.length("raw") == 2 and client.length("missing") is None
    assert client.set("xt", "v", expire_time=100) == 1
    assert client.expire_time("xt") is not None and client.expire_time("raw") is None
    assert client.add("a", "1") is True and client.add("a", "2") is False
    assert client.replace("a", "3") is True and client.replace("nope", "3") is False
    assert client.append("a", "4") is True and client.get("a") == "34"
    assert client.cas("a", "34", "5") is True and client.cas("a", "34", "6") is False
    assert client.seize("a") == "5" and client.get("a") is None
    client.set("b", "7")
    assert client.pop("b") == "7" and client.pop("b") is None
    assert client.incr("n") == 1 and client.incr("n", 5) == 6
    assert client.incr_double("d", 1.5) == 1.5
    with pytest.raises(ServerError):
        client.incr("raw")
    assert client.remove("n") == 1 and client.remove("n") == 0
    assert client.set("db1", "x", db=1) == 1
    assert client.get("db1") is None and client.get("db1", db=1) == "x"
    assert where(plain, "db1", db=1) == [client.shard_of("db1")]
    client.set("quiet", "q", no_reply=True)
    client.remove("quiet", no_reply=True)
    assert client.get("quiet") is None


def test_kt_dict_interface(kt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = kt
    client["k"] = "v"
    client["k", 1] = ("w", 100)
    assert client["k"] == "v" and client["k", 1] == "w"
    assert "k" in client and ("k", 1) in client and "z" not in client
    assert client.expire_time("k", 1) is not None
    del client["k"]
    assert client["k"] is None
    assert list(client) == [] and list(client.keys(1)) == ["k"]


def test_kt_bulk_operations(kt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = kt
    data = {k: "v-" + k for k in KEYS}
    assert client.set_bulk(data) == len(KEYS)
    for key in KEYS[::7]:
        assert where(plain, key) == [client.shard_of(key)]
    assert client.get_bulk(KEYS + ["missing"]) == data
    assert client.get_bulk_raw(KEYS[:5]) == {k: data[k].encode() for k in KEYS[:5]}
    details = client.get_bulk_details(KEYS[:10])
    assert sorted((k, v, xt) for _, k, v, xt in details) == sorted(
        (k, data[k], None) for k in KEYS[:10])
    assert client.get_bulk([]) == {} and client.set_bulk({}) == 0
    assert client.update({"u1": "1"}, u2="2") == 2
    assert client.set_bulk({"e1": "x"}, db=1, expire_time=100) == 1
    assert client.get_bulk(["e1"], db=1) == {"e1": "x"}
    assert client.remove_bulk(KEYS[:30] + ["missing"]) == 30
    assert client.count() == 32
    assert client.set_bulk({"nr": "1"}, no_reply=True) is None
    with pytest.raises(TypeError):
        client.set_bulk({"bad": 1, "good": "x"})  # KT_BINARY stores str or bytes
    assert client.get("good") is None  # nothing was sent
    with pytest.raises(TypeError):
        client.get_bulk("abc")


def test_kt_scans_are_merged(kt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = kt
    client.set_bulk({k: k for k in KEYS})
    client.set_bulk({"other:%d" % i: "o" for i in range(5)})
    expected = sorted(KEYS)
    assert client.match_prefix("user:") == expected
    # max_keys: each shard's first keys in its database's order, merged in
    # key order, so on tree databases (db 1) the first keys of all
    first = client.match_prefix("user:", 10)
    assert len(first) == 10 and first == sorted(first) and set(first) <= set(KEYS)
    client.set_bulk({k: k for k in KEYS}, db=1)
    assert client.match_prefix("user:", 10, db=1) == expected[:10]
    assert client.match_regex("^user:[0-9]$") == ["user:%d" % i for i in range(10)]
    assert client.match_regex("^user:", 3, db=1) == expected[:3]
    assert sorted(client.keys()) == sorted(KEYS + ["other:%d" % i for i in range(5)])
    assert sorted(client.keys_nonlazy()) == sorted(client.keys())
    assert sorted(client.items())[:2] == [("other:0", "o"), ("other:1", "o")]
    assert sorted(client.values()).count("o") == 5
    assert client.count() == 65 and client.count(db=1) == 60
    assert client.size == sum(c.size for c in plain.values())
    status = client.status()
    assert sorted(status) == sorted(plain) and sum(int(s["count"]) for s in status.values()) == 65
    assert client.synchronize() is True and client.vacuum() is True
    assert client.clear() is True and client.count() == 0


def test_kt_set_database(kt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = kt
    client.set_database(1)
    try:
        client.set("d", "one")
        assert client.get("d") == "one" and client.get("d", db=0) is None
        assert where(plain, "d", db=1) == [client.shard_of("d")]
    finally:
        client.set_database(0)
    with pytest.raises(ValueError):
        client.set_database(-1)


@pytest.mark.parametrize("method, args", [
    ("script", ("proc",)), ("cursor", ()), ("ulog_list", ()), ("match_similar", ("x",)),
    ("Hash", ("h",)), ("report", ()),
])
def test_kt_what_cannot_be_sharded(kt: Tuple[Any, Dict[str, Any]], method: str,
                                   args: Tuple[Any, ...]) -> None:
    client, plain = kt
    with pytest.raises(ShardingError, match=method):
        getattr(client, method)(*args)
    with pytest.raises(AttributeError):
        client.no_such_method  # noqa: B018


def test_kt_client_for_runs_what_cannot_be_sharded(kt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = kt
    client.set("c", "v")
    if isinstance(client, Blocking):
        pytest.skip("client_for gives the asyncio client itself")
    single = client.client_for("c")
    assert single.address == client.shard_of("c") and single.get("c") == "v"
    with single.cursor() as cursor:
        assert cursor.jump() and cursor.get() == ("c", "v")


def test_kt_serializer_and_options_reach_every_server(kt_three: List[RunningServer]) -> None:
    client = ShardedKyotoTycoon(_addresses(kt_three), serializer=KT_JSON, timeout=5.0)
    try:
        client.clear()
        client.set_bulk({k: {"n": i} for i, k in enumerate(KEYS)})
        assert client.get("user:3") == {"n": 3}
        assert client.get_bulk(["user:1", "user:2"]) == {"user:1": {"n": 1}, "user:2": {"n": 2}}
    finally:
        client.clear()
        client.close()


# -- Tokyo Tyrant -----------------------------------------------------------------


def test_tt_each_key_lives_on_its_shard_only(tt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = tt
    for i, key in enumerate(KEYS):
        assert client.set(key, "v%d" % i) is True
    for i, key in enumerate(KEYS):
        assert client.get(key) == "v%d" % i
        assert where(plain, key) == [client.shard_of(key)]
    assert client.count() == len(KEYS) == len(client)


def test_tt_single_key_methods(tt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = tt
    assert client.get("missing") is None
    assert client.set_bytes("raw", b"abc") is True
    assert client.get_raw("raw") == client.get_bytes("raw") == b"abc"
    assert client.exists("raw") and client.length("raw") == 3
    assert client.get_part("raw", 1, 1) == "b"
    assert client.add("a", "1") is True and client.add("a", "2") is False
    assert client.append("a", "23") is True and client.get("a") == "123"
    assert client.addshl("a", "45", 3) is True and client.get("a") == "345"
    assert client.incr("n") == 1 and client.incr("n", 4) == 5
    assert client.incr_double("d", 0.5) == 0.5
    assert client.setup("dup", "1") and client.setdup("dup", "2")
    assert client.setupback("dup", "0") and client.setdupback("dup", "-1")
    assert [v for k, v in client.items() if k == "dup"] == ["-1", "0", "1", "2"]
    assert client.pop("a") == "345" and client.seize("a") is None
    assert client.remove("n") == 1 and client.remove("n") == 0
    client.setnr("nr", "x")
    client.set("nr2", "y", no_reply=True)
    assert client.get("nr") == "x" and client.get("nr2") == "y"
    client["k"] = "v"
    assert client["k"] == "v" and "k" in client
    del client["k"]
    assert "k" not in client


def test_tt_bulk_and_scans(tt: Tuple[Any, Dict[str, Any]]) -> None:
    client, plain = tt
    data = {k: "v-" + k for k in KEYS}
    assert client.set_bulk(data) is True
    for key in KEYS[::7]:
        assert where(plain, key) == [client.shard_of(key)]
    assert client.get_bulk(KEYS + ["missing"]) == data
    assert client.get_bulk_raw(KEYS[:3]) == {k: data[k].encode() for k in KEYS[:3]}
    assert client.update({"u1": "1"}, u2="2") is True
    client.setnr_bulk({"n1": "1", "n2": "2"})
    assert client.get_bulk(["n1", "n2"]) == {"n1": "1", "n2": "2"}
    assert client.match_prefix("user:") == sorted(KEYS)
    assert client.match_prefix("user:", 5) == sorted(KEYS)[:5]
    assert client.match_regex("^user:1[0-9]$") == ["user:%d" % i for i in range(10, 20)]
    assert sorted(client.keys()) == sorted(KEYS + ["u1", "u2", "n1", "n2"])
    assert client.keys_fast() == sorted(client.keys())
    assert dict(client.items()) == dict(client.items_fast())
    assert len(list(client.values())) == 64
    assert client.get_range("user:1", "user:2") == {
        k: data[k] for k in sorted(KEYS) if "user:1" <= k < "user:2"}
    assert list(client.get_range("user:", max_keys=3)) == sorted(KEYS)[:3]
    assert client["user:1":"user:11"] == {"user:1": data["user:1"], "user:10": data["user:10"]}
    assert client.remove_bulk(KEYS[:20]) is True and client.count() == 44
    assert client.size == sum(c.size for c in plain.values())
    assert sorted(client.status()) == sorted(plain)
    assert client.synchronize() is True and client.optimize() is True
    assert client.clear() is True and client.count() == 0
    assert client.get_bulk([]) == {} and client.set_bulk({}) is True


@pytest.mark.parametrize("method, args", [
    ("script", ("f",)), ("iter_from", ("k",)), ("misc", ("putlist",)), ("search", ([],)),
    ("genuid", ()), ("set_index", ("c", 0)), ("Queue", ("q",)),
])
def test_tt_what_cannot_be_sharded(tt: Tuple[Any, Dict[str, Any]], method: str,
                                   args: Tuple[Any, ...]) -> None:
    client, plain = tt
    with pytest.raises(ShardingError, match=method):
        getattr(client, method)(*args)


def test_tt_table_queries_cannot_be_sharded(tt_three: List[RunningServer]) -> None:
    client = ShardedTokyoTyrant(_addresses(tt_three))
    with pytest.raises(ShardingError, match="search"):
        QueryBuilder().execute(client)
    with pytest.raises(ShardingError, match="search"):
        QueryBuilder().count(client)


# -- sync/async parity --------------------------------------------------------------

KT_SCRIPT: List[Tuple[str, Tuple[Any, ...]]] = [
    ("set_bulk", ({k: k.upper() for k in KEYS},)), ("get", ("user:7",)),
    ("get_bulk", (KEYS[::3],)), ("remove_bulk", (KEYS[:9],)), ("count", ()),
    ("match_prefix", ("user:1", 4)), ("add", ("user:1", "x")), ("incr", ("ctr", 3)),
    ("seize", ("user:20",)), ("keys_nonlazy", ()), ("clear", ()), ("count", ()),
]
TT_SCRIPT: List[Tuple[str, Tuple[Any, ...]]] = [
    ("set_bulk", ({k: k.upper() for k in KEYS},)), ("get", ("user:7",)),
    ("get_bulk", (KEYS[::3],)), ("remove_bulk", (KEYS[:9],)), ("count", ()),
    ("match_prefix", ("user:1", 4)), ("add", ("user:1", "x")), ("incr", ("ctr", 3)),
    ("pop", ("user:20",)), ("get_range", ("user:3", "user:4")), ("keys_fast", ()),
    ("clear", ()), ("count", ()),
]


@pytest.mark.parametrize("kind", ["kyoto", "tyrant"])
def test_sync_and_async_give_the_same_results(kind: str, kt_three: List[RunningServer],
                                              tt_three: List[RunningServer]) -> None:
    servers = _addresses(kt_three if kind == "kyoto" else tt_three)
    script = KT_SCRIPT if kind == "kyoto" else TT_SCRIPT
    results: Dict[str, List[Any]] = {}
    for flavour in FLAVOURS:
        client = sharded(flavour, kind, servers)
        client.clear()
        results[flavour] = [getattr(client, name)(*args) for name, args in script]
        client.close()
    assert results["sync"] == results["async"]
    assert results["sync"][-1] == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sync_client_works_in_a_forked_child(kt_three: List[RunningServer]) -> None:
    client = ShardedKyotoTycoon(_addresses(kt_three))
    client.set_bulk({k: k for k in KEYS[:20]})
    assert len(client.get_bulk(KEYS[:20])) == 20  # the worker threads exist now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            ok = client.get_bulk(KEYS[:20]) == {k: k for k in KEYS[:20]}
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert client.remove_bulk(KEYS[:20]) == 20
    client.close()
