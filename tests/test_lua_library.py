"""kt's Lua helper library (kt/lua/kyoto.lua, kt/lua/tyrant.lua) and the
client containers over it (kt.containers), against every server that can
run Lua: the real ktserver / ttserver when installed, the built-in ones
when they support Lua."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator

import pytest

from kt import KT_JSON, KT_PICKLE, KyotoTycoon, ServerError, TokyoTyrant, lua_script_path
from kt.containers import parse_netstrings
from kt.errors import ProtocolError
from lua_servers import lua_server
from servers import RunningServer, server_kinds


@pytest.fixture(scope="module", params=server_kinds("kyoto"))
def kt_lua(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RunningServer]:
    """db 0: cache hash "*", db 1: cache tree "%"."""
    yield from lua_server("kyoto", request.param, lua_script_path("kyoto"), ["*", "%"],
                          str(tmp_path_factory.mktemp("ktlua")))


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def tt_lua(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RunningServer]:
    yield from lua_server("tyrant", request.param, lua_script_path("tyrant"), ["casket.tcb"],
                          str(tmp_path_factory.mktemp("ttlua")))


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def tt_table_lua(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[RunningServer]:
    yield from lua_server("tyrant", request.param, lua_script_path("tyrant"), ["casket.tct"],
                          str(tmp_path_factory.mktemp("tttlua")))


@pytest.fixture
def kt(kt_lua: RunningServer) -> KyotoTycoon:
    client = KyotoTycoon(port=kt_lua.port)
    client.clear(db=0)
    client.clear(db=1)
    return client


def raw(client: KyotoTycoon, name: str, **kwargs: Any) -> Dict[str, bytes]:
    out = client.script(name, kwargs, encode_values=False)
    assert out is not None
    return out


def test_script_paths() -> None:
    for name in ("kyoto", "tyrant"):
        path = lua_script_path(name)
        assert os.path.isfile(path) and path.endswith(".lua")
    with pytest.raises(ValueError):
        lua_script_path("redis")


# -- Kyoto Tycoon: hashes -----------------------------------------------------


@pytest.mark.parametrize("db", [0, 1])
def test_hash(kt: KyotoTycoon, db: int) -> None:
    h = kt.Hash("h", db=db)
    assert len(h) == 0 and "a" not in h and h.get("a") is None
    h["a"] = "1"
    h["b"] = "\u00e9"
    assert h["a"] == "1" and h["b"] == "\u00e9" and "a" in h and len(h) == 2
    assert h.setnx("a", "x") is False and h.setnx("c", "3") is True
    assert h.update({"d": "4", "key": "k", "db": "d"}, e="5") == 4
    assert h.to_dict() == {"a": "1", "b": "\u00e9", "c": "3", "d": "4", "e": "5",
                           "key": "k", "db": "d"}
    assert h.get_many(["a", "e", "zz", "key"]) == {"a": "1", "e": "5", "key": "k"}
    assert sorted(h) == sorted(h.keys()) and len(h.values()) == len(h.items()) == 7
    del h["a"]
    with pytest.raises(KeyError):
        del h["a"]
    with pytest.raises(KeyError):
        h["a"]
    other_db = kt.Hash("h", db=1 - db)
    assert len(other_db) == 0
    assert h.delete() == 1 and len(h) == 0


def test_hash_procedures_raw(kt: KyotoTycoon) -> None:
    assert raw(kt, "hset", table_key="t", key="f", value="v") == {"num": b"1"}
    assert raw(kt, "hset", table_key="t", key="f", value="w") == {"num": b"0"}
    assert raw(kt, "hmset", table_key="t", g="1", h="2") == {"num": b"2"}
    assert raw(kt, "hmdel", table_key="t", g="", zz="") == {"num": b"1"}
    assert raw(kt, "hdel", table_key="t", key="h") == {"num": b"1"}
    assert raw(kt, "hgetall", table_key="t") == {"f": b"w"}
    assert raw(kt, "hlen", table_key="t") == {"num": b"1"}
    assert raw(kt, "hcontains", table_key="t", key="f") == {"num": b"1"}
    assert raw(kt, "hget", table_key="t", key="nope") == {}
    with pytest.raises(ServerError):
        raw(kt, "hset", key="f", value="v")  # no table_key
    with pytest.raises(ServerError):
        raw(kt, "hget", table_key="t")  # no key


# -- sets ---------------------------------------------------------------------


def test_set(kt: KyotoTycoon) -> None:
    s = kt.Set("s")
    assert s.add("a", "b", "c") == 3 and s.add("a") == 0
    assert len(s) == 3 and "a" in s and "z" not in s
    assert s.members() == ["a", "b", "c"] and sorted(s) == ["a", "b", "c"]
    assert s.remove("a", "z") == 1 and len(s) == 2
    t = kt.Set("t")
    t.add("b", "x")
    assert s.intersection(t) == ["b"]
    assert s.union("t") == ["b", "c", "x"]
    assert s.difference(t) == ["c"]
    assert s.union(t, dest="u") == 3 and kt.Set("u").members() == ["b", "c", "x"]
    assert kt.Set("s").intersection("t", "missing") == []
    popped = {s.pop(), s.pop()}
    assert popped == {"b", "c"} and len(s) == 0
    with pytest.raises(KeyError):
        s.pop()


def test_set_values_go_through_the_serializer(kt_lua: RunningServer) -> None:
    client = KyotoTycoon(port=kt_lua.port, serializer=KT_PICKLE)
    s = client.Set("pickled")
    s.delete()
    assert s.add((1, 2), b"\x00\x01\xff", 3) == 3
    assert (1, 2) in s and b"\x00\x01\xff" in s and 4 not in s
    assert sorted(map(repr, s.members())) == sorted(map(repr, [(1, 2), b"\x00\x01\xff", 3]))


def test_set_procedures_raw(kt: KyotoTycoon) -> None:
    assert raw(kt, "sadd", key="s", value="one") == {"num": b"1"}
    assert raw(kt, "sismember", key="s", value="one") == {"num": b"1"}
    assert raw(kt, "scard", key="s") == {"num": b"1"}
    assert raw(kt, "spop", key="s") == {"num": b"1", "value": b"one"}
    assert raw(kt, "spop", key="s") == {"num": b"0"}
    assert raw(kt, "srem", key="s", value="one") == {"num": b"0"}
    with pytest.raises(ServerError):
        raw(kt, "sinter")  # no keys


# -- lists --------------------------------------------------------------------


def test_list(kt: KyotoTycoon) -> None:
    lst = kt.List("l")
    assert len(lst) == 0 and lst[:] == []
    assert lst.append("b") == 1 and lst.appendleft("a") == 2
    assert lst.extend(["c", "d", "e"]) == 5
    assert list(lst) == ["a", "b", "c", "d", "e"]
    assert lst[0] == "a" and lst[-1] == "e"
    assert lst[1:3] == ["b", "c"] and lst[-2:] == ["d", "e"] and lst[:-3] == ["a", "b"]
    assert lst[10:] == [] and lst[-10:1] == ["a"]
    with pytest.raises(IndexError):
        lst[5]
    lst[1] = "B"
    lst[-1] = "E"
    with pytest.raises(IndexError):
        lst[9] = "x"
    assert lst.insert(0, "first") == 6 and lst.insert(-1, "before-last") == 7
    assert lst.insert(100, "last") == 8
    assert lst[:] == ["first", "a", "B", "c", "d", "before-last", "E", "last"]
    assert lst.pop() == "last" and lst.popleft() == "first" and lst.pop(0) == "a"
    assert len(lst) == 5
    with pytest.raises(ValueError):
        lst.pop(2)
    kt.List("empty").delete()
    with pytest.raises(IndexError):
        kt.List("empty").pop()


def test_list_procedures_raw(kt: KyotoTycoon) -> None:
    assert raw(kt, "rpush", key="l", value="x") == {"num": b"1"}
    assert raw(kt, "lpush", key="l", **{"0": "a", "1": "b"}) == {"num": b"3"}
    assert raw(kt, "lrange", key="l") == {"0": b"b", "1": b"a", "2": b"x"}
    assert raw(kt, "llpush", key="l", value="old-name") == {"num": b"4"}
    assert raw(kt, "lrpop", key="l") == {"value": b"x"}
    assert raw(kt, "llpop", key="l") == {"value": b"old-name"}
    assert raw(kt, "lrpush", key="l", value="y") == {"num": b"3"}
    assert raw(kt, "lindex", key="l", index="-1") == {"value": b"y"}
    assert raw(kt, "llen", key="l") == {"num": b"3"}
    with pytest.raises(ServerError):
        raw(kt, "lset", key="l", index="3", value="z")
    with pytest.raises(ServerError):
        raw(kt, "rpush", key="l")  # no value


# -- queues -------------------------------------------------------------------


@pytest.mark.parametrize("db", [0, 1])
def test_queue(kt: KyotoTycoon, db: int) -> None:
    q = kt.Queue("jobs", db=db)
    assert len(q) == 0 and q.pop() is None and q.peek() is None and q.pop(3) == []
    assert q.add("j1") == 1 and q.add("j2") == 2
    assert q.extend(["j%d" % i for i in range(3, 13)]) == 10
    assert len(q) == 12
    assert q.peek() == "j1" and q.rpeek() == "j12"
    assert q.peek(3) == ["j1", "j2", "j3"] and q.rpeek(2) == ["j12", "j11"]
    assert q.pop() == "j1" and q.rpop() == "j12"
    assert q.pop(2) == ["j2", "j3"] and q.rpop(2) == ["j11", "j10"]
    assert len(q) == 6
    q.extend(["dup", "x", "dup", "dup"])
    assert q.remove("dup", 1) == 1 and q.rremove("dup", 1) == 1
    assert q.peek(-1) == ["j4", "j5", "j6", "j7", "j8", "j9", "x", "dup"]
    assert q.remove("dup") == 1 and q.remove("nothing") == 0
    assert q.pop(-1) == ["j4", "j5", "j6", "j7", "j8", "j9", "x"]
    q.extend(["a", "b"])
    assert q.clear() == 2 and len(q) == 0
    assert q.add("again") == 1  # clear resets the ids


def test_queue_serializer_and_ordering(kt_lua: RunningServer) -> None:
    client = KyotoTycoon(port=kt_lua.port, serializer=KT_JSON)
    q = client.Queue("json-queue")
    q.clear()
    items = [{"n": i, "tags": ["x"] * (i % 3)} for i in range(15)]
    assert q.extend(items) == 15
    assert q.pop(-1) == items


def test_queue_requires_arguments(kt: KyotoTycoon) -> None:
    with pytest.raises(ServerError):
        raw(kt, "queue_add", queue="q")  # no data
    with pytest.raises(ServerError):
        raw(kt, "queue_pop", queue="q", n="many")
    assert raw(kt, "queue_madd", queue="q", **{"0": "a", "1": "b"}) == {"num": b"2"}
    assert raw(kt, "queue_size", queue="q") == {"num": b"2"}


# -- key helpers --------------------------------------------------------------


def test_key_helpers(kt: KyotoTycoon) -> None:
    kt.set_bulk({"k1": "v1", "k2": "v2", "k3": "v3", "other": "o"}, db=1)
    assert raw(kt, "move", src="k1", dest="moved", db="1") == {}
    assert kt.get("k1", db=1) is None and kt.get("moved", db=1) == "v1"
    with pytest.raises(ServerError):
        raw(kt, "move", src="k1", dest="x", db="1")
    assert raw(kt, "list", db="1") == {"k2": b"v2", "k3": b"v3", "moved": b"v1", "other": b"o"}
    assert raw(kt, "list", db="1", prefix="k") == {"k2": b"v2", "k3": b"v3"}
    assert raw(kt, "get_range", db="1", start="k2", stop="moved") == \
        {"k2": b"v2", "k3": b"v3", "moved": b"v1"}
    assert raw(kt, "get_range", db="1", start="m") == {"moved": b"v1", "other": b"o"}
    kt.set("text", "0123456789")
    assert raw(kt, "get_part", key="text", start="2", stop="5") == {"value": b"234"}
    assert raw(kt, "get_part", key="text", start="-3") == {"value": b"789"}
    assert raw(kt, "get_part", key="text", stop="-8") == {"value": b"01"}
    assert raw(kt, "get_part", key="missing") == {}
    murmur = raw(kt, "hash", a="hello", b="")
    fnv = raw(kt, "hash", method="fnv", a="hello")
    assert set(murmur) == {"a", "b"} and murmur["a"].isdigit() and murmur["a"] != murmur["b"]
    assert fnv["a"].isdigit() and fnv["a"] != murmur["a"]
    with pytest.raises(ServerError):
        raw(kt, "hash", method="md5", a="x")


def test_database_by_name(kt: KyotoTycoon) -> None:
    assert raw(kt, "rpush", key="named", value="v", db="%") == {"num": b"1"}
    assert kt.exists("named", db=1) and not kt.exists("named", db=0)


# -- Tokyo Tyrant -------------------------------------------------------------


def test_netstrings() -> None:
    assert parse_netstrings(b"") == []
    assert parse_netstrings(b"3:abc0:1:\x00") == [b"abc", b"", b"\x00"]
    for bad in (b"3:ab", b"x:abc", b"3abc"):
        with pytest.raises(ProtocolError):
            parse_netstrings(bad)


def test_tt_queue(tt_lua: RunningServer) -> None:
    client = TokyoTyrant(port=tt_lua.port)
    q = client.Queue("jobs")
    q.clear()
    assert len(q) == 0 and q.pop() is None and q.pop(2) == []
    assert q.add("a") == 1 and q.add("b\n\x00c") == 2
    assert q.extend(["c", "d", "e"]) == 3
    assert len(q) == 5 and q.peek() == "a" and q.peek(2) == ["a", "b\n\x00c"]
    assert q.pop() == "a" and q.pop(2) == ["b\n\x00c", "c"]
    assert q.pop(-1) == ["d", "e"] and len(q) == 0
    q.extend(["x", "y"])
    assert q.clear() == 2 and q.add("z") == 1


def test_tt_lock_seize_and_matching(tt_lua: RunningServer) -> None:
    client = TokyoTyrant(port=tt_lua.port)
    client.clear()
    assert client.script("lock", "res") == b"true"
    assert client.script("unlock", "res") == b"true"
    assert client.script("unlock", "res") == b"false"
    client.set_bulk({"apple": "red", "apply": "verb", "banana": "yellow", "grape": "red"})
    assert client.script("seize", "banana") == b"yellow"
    assert client.script("seize", "banana") == b""
    assert not client.exists("banana")
    assert parse_netstrings(client.script("match_pattern", "^app")) == \
        [b"apple", b"red", b"apply", b"verb"]
    assert parse_netstrings(client.script("match_pattern", "^app", "1")) == [b"apple", b"red"]
    assert parse_netstrings(client.script("match_regex", "e$")) == \
        [b"apple", b"red", b"grape", b"red"]
    assert parse_netstrings(client.script("match_regex", "^(apple|grape)$", "1")) == \
        [b"apple", b"red"]
    assert parse_netstrings(client.script("match_similar", "appla", "1")) == \
        [b"apple", b"red", b"apply", b"verb"]
    assert parse_netstrings(client.script("match_similar", "appla")) == []
    assert parse_netstrings(client.script("match_similar_value", "rad", "1")) == \
        [b"apple", b"red", b"grape", b"red"]


def test_tt_table_helpers(tt_table_lua: RunningServer) -> None:
    client = TokyoTyrant(port=tt_table_lua.port)
    client.clear()
    assert client.script("table_update", "u1", "name\x00ann\x00age\x0031",
                         encode_value=False) == b"true"
    assert client.script("table_update", "u1", "age\x0032\x00city\x00oslo",
                         encode_value=False) == b"true"
    assert client.script("table_update", "u1", "lonely", encode_value=False) == b"false"
    assert client.script("table_get", "u1", "age") == b"32"
    assert client.script("table_get", "u1", "nope") == b""
    assert client.script("table_get", "missing", "age") == b""
    assert client.script("table_pop", "u1", "city") == b"oslo"
    assert client.script("table_pop", "u1", "city") == b""
    assert client.script("table_get", "u1", "name") == b"ann"
    assert client.script("table_pop", "u1", "name") == b"ann"
    assert client.script("table_pop", "u1", "age") == b"32"
    assert not client.exists("u1")  # the last column took the record with it
