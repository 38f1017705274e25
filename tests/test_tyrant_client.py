"""TokyoTyrant client against a server (built-in, and real ttserver when
installed).  Every test taking a client or ``connect`` runs twice: with
TokyoTyrant and with AsyncTokyoTyrant (see tests/mirror.py)."""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest

from kt import (
    KT_JSON,
    KT_NONE,
    KT_PICKLE,
    OP_NUM_GE,
    OP_STR_STARTSWITH,
    ORDER_NUM_DESC,
    QueryBuilder,
    TT_TABLE,
    TokyoTyrant,
    TokyoTyrantError,
)
from concurrency import concurrency_tests
from mirror import client_fixture, connect_fixture, is_async, restart_test, seed_common_features
from servers import RunningServer

connect = connect_fixture("tyrant")
client = client_fixture("tt_server")
hclient = client_fixture("tt_hash_server")
tclient = client_fixture("tt_table_server", serializer=TT_TABLE)


# --- the seed's examples ------------------------------------------------------


def test_seed_common_features(hclient: TokyoTyrant) -> None:
    client = hclient
    seed_common_features(client, stored=True, bulk_stored=True, bulk_removed=True)
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
    for increment in (client.incr, client.incr_double):
        with pytest.raises(TokyoTyrantError) as info:
            increment("text")
        assert info.value.code == 6


def test_duplicates_on_b_tree(client: TokyoTyrant) -> None:
    client.set("k", "v1")
    assert client.setup("k", "v2") is True
    assert client.setupback("k", "v0") is True
    assert client.get("k") == "v0"
    assert client.misc("getlist", ["k"]) == [b"k", b"v0", b"k", b"v1", b"k", b"v2"]
    assert client.misc(b"get", ["k"]) == [b"v0", b"v1", b"v2"]  # the name as bytes too
    with pytest.raises(TypeError):
        client.misc(7, ["k"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.misc("g\u00e9t", ["k"])
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


def test_pop(hclient: TokyoTyrant, client: TokyoTyrant) -> None:
    # issue 14: the documented dict interface has pop()
    for c in (hclient, client):
        c.set("k1", "v1")
        assert c.pop("k1") == "v1"
        assert c.pop("k1") is None
        assert "k1" not in c
        assert c.pop("never") is None
    assert hclient.get("k1") is None


def test_iter_from_uses_the_servers_iterator(hclient: TokyoTyrant, client: TokyoTyrant) -> None:
    # issue 14: iter_from works on a hash database too, from that key in
    # storage order (key order on the B+ tree), in more than one batch
    data = {"k%03d" % i: "v%d" % i for i in range(250)}
    client.set_bulk(data)
    assert list(client.iter_from("k240").items()) == [
        ("k%03d" % i, "v%d" % i) for i in range(240, 250)]
    assert client.iter_from("k") == data
    assert client.iter_from("zzz") == {}
    hclient.set_bulk(data)
    order = list(hclient.iter_from(next(iter(hclient.keys()))))
    assert sorted(order) == sorted(data) and len(order) == 250
    middle = order[100]
    assert list(hclient.iter_from(middle)) == order[100:]
    assert hclient.iter_from("not-there") == {}


def test_search_accepts_tuple_expressions(tclient: TokyoTyrant) -> None:
    # issue 14: the original library's QueryBuilder expressions
    tclient.set_bulk({"alice": {"name": "Alice", "age": "34"},
                      "anna": {"name": "Anna", "age": "41"},
                      "bob": {"name": "Bob", "age": "27"}})
    conds = [("addcond", "name", OP_STR_STARTSWITH, "A"), ("addcond", "age", OP_NUM_GE, 30),
             ("setorder", "age", ORDER_NUM_DESC)]
    assert tclient.search(conds) == ["anna", "alice"]
    assert tclient.search(conds + [("setlimit", 1, 1)]) == ["alice"]
    assert tclient.search(conds, "count") == 2
    assert tclient.search([("addcond", "age", OP_NUM_GE, "40")], "get") == [
        ("anna", {"name": "Anna", "age": "41"})]
    raw = [b"addcond\x00name\x00%d\x00A" % OP_STR_STARTSWITH]
    assert sorted(tclient.search(raw)) == ["alice", "anna"]
    assert tclient.search(raw + [("setorder", "name", 0)]) == ["alice", "anna"]
    assert QueryBuilder().filter("age", OP_NUM_GE, 30).order_by("age").execute(tclient) == [
        "alice", "anna"]
    for bad, error in [(("addcond", "age", OP_NUM_GE), ValueError),
                       (("frobnicate", 1, 2), ValueError),
                       (("addcond", "age", "ge", 3), TypeError),
                       ((), ValueError), (12, TypeError)]:
        with pytest.raises(error):
            tclient.search([bad])
    assert tclient.search(conds, "out") is True
    assert tclient.keys() is not None and sorted(tclient.keys()) == ["bob"]


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
def test_serializers(tt_hash_server: RunningServer, connect: Callable[..., Any],
                     serializer: object, value: object) -> None:
    c = connect(port=tt_hash_server.port, serializer=serializer)
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


test_threads, test_gevent, test_fork = concurrency_tests("TokyoTyrant", "hclient",
                                                        "tt_hash_server")


test_server_killed_then_back = restart_test("tyrant", stored=True)
