"""KyotoTycoon client against a server (built-in, and real ktserver when
installed).  Every test taking ``client`` or ``connect`` runs twice: with
KyotoTycoon and with AsyncKyotoTycoon (see tests/mirror.py)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable

import pytest

from kt import (
    KT_BINARY,
    KT_JSON,
    KT_MSGPACK,
    KT_NONE,
    KT_PICKLE,
    KyotoTycoon,
    ProtocolError,
    ServerConnectionError,
    ServerError,
)
from concurrency import concurrency_tests
from mirror import client_fixture, connect_fixture, is_async, restart_test, seed_common_features
from servers import RunningServer

connect = connect_fixture("kyoto")
client = client_fixture("kt_server", (0, 1))


# --- the seed's documented examples ------------------------------------------


def test_seed_common_features(client: KyotoTycoon) -> None:
    seed_common_features(client, stored=1, bulk_stored=3, bulk_removed=3)
    assert client.update({"k1": "v1", "k2": "v2", "k3": "v3"}) == 3
    assert client.pop("k1") == "v1"
    assert client.pop("k1") is None
    assert ("k1" in client) is False
    assert len(client) == 2
    assert client.clear() is True
    assert len(client) == 0


def test_seed_pickle_serializer(kt_server: RunningServer, connect: Callable[..., Any]) -> None:
    client = connect(port=kt_server.port, serializer=KT_PICKLE)
    assert client.set("k1", {"this": "is", "a": ["python object"]}) == 1
    assert client.get("k1") == {"this": "is", "a": ["python object"]}


def test_seed_expiration(client: KyotoTycoon) -> None:
    client.set("k1", "v1", expire_time=1)
    assert client.get("k1") == "v1"
    time.sleep(2.2)
    assert client.get("k1") is None


def test_seed_multiple_databases(kt_server: RunningServer, client: KyotoTycoon,
                                 connect: Callable[..., Any]) -> None:
    client.set("k1", "v1", db=1)
    assert client.get("k1", db=0) is None
    assert client.get("k1", db=1) == "v1"
    other = connect(port=kt_server.port, default_db=1)
    assert other.get("k1") == "v1"
    c3 = connect(port=kt_server.port)
    c3.set_database(1)
    assert c3.get("k1") == "v1"
    client["k1", 1] = "v1"
    assert client["k1", 1] == "v1"
    client["k2"] = ("v2", 10)
    client["k2", 0] = ("v2", 20)
    assert client.get_bulk_details(["k2"])[0][3] is not None
    del client["k1", 1]
    assert client.get("k1", db=1) is None
    assert ("k2", 0) in client
    assert ("k2", 1) not in client


# --- serializers -----------------------------------------------------------


@pytest.mark.parametrize("serializer, value", [
    (KT_BINARY, "unicode \u00e9\u4e2d"),
    (KT_BINARY, b"\xff\x00raw"),
    (KT_JSON, {"a": [1, 2.5, None, "x"]}),
    (KT_MSGPACK, {"a": [1, 2, b"bin"]}),
    (KT_PICKLE, ("tuple", {1, 2})),
    (KT_NONE, b"\x00\x01\x02"),
])
def test_serializers_round_trip(kt_server: RunningServer, connect: Callable[..., Any],
                               serializer: object, value: object) -> None:
    c = connect(port=kt_server.port, serializer=serializer)
    c.set("s", value)
    assert c.get("s") == value
    assert c.get_bulk(["s"]) == {"s": value}


def test_kt_none_takes_text_refuses_others_before_sending(kt_server: RunningServer,
                                                         connect: Callable[..., Any]) -> None:
    c = connect(port=kt_server.port, serializer=KT_NONE)
    assert c.set("k", "text \u00e9") == 1  # str as UTF-8, as the original library did
    assert c.get("k") == "text \u00e9".encode("utf-8")
    with pytest.raises(TypeError):
        c.set("k", 1)
    with pytest.raises(TypeError):
        c.set_bulk({"k": 1.5})


def test_binary_keys_and_values(client: KyotoTycoon) -> None:
    weird = b"\x00\t\n\r\xff key"
    client.set(weird, b"\x00\t\n\xff")
    assert client.get_raw(weird) == b"\x00\t\n\xff"
    assert client.get(weird) == b"\x00\t\n\xff"  # not UTF-8: bytes come back
    assert client.exists(weird)
    assert client.append(weird, b"\x01")
    assert client.get_raw(weird) == b"\x00\t\n\xff\x01"
    keys = list(client.keys())
    assert keys == [weird]
    raw = KyotoTycoon(port=client.port, decode_keys=False)
    assert raw.get_bulk_raw([weird]) == {weird: b"\x00\t\n\xff\x01"}
    assert client.match_prefix(b"\x00") == [weird]


def test_wrong_argument_types(client: KyotoTycoon) -> None:
    with pytest.raises(TypeError):
        client.get(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.set("k", 1.5)
    with pytest.raises(TypeError):
        client.get("k", db="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.get("k", db=-1)
    with pytest.raises(TypeError):
        client.incr("k", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.set("k", "v", expire_time="soon")  # type: ignore[arg-type]


# --- every method ----------------------------------------------------------------


def test_add_replace_append(client: KyotoTycoon) -> None:
    assert client.add("a", "1") is True
    assert client.add("a", "2") is False
    assert client.get("a") == "1"
    assert client.replace("a", "3") is True
    assert client.replace("missing", "x") is False
    assert client.get("missing") is None
    assert client.append("a", "4") is True
    assert client.append("new", "5") is True
    assert client.get_bulk(["a", "new"]) == {"a": "34", "new": "5"}


def test_seize_and_cas(client: KyotoTycoon) -> None:
    client.set("k", "v")
    assert client.seize("k") == "v"
    assert client.seize("k") is None
    assert client.cas("k", None, "first") is True  # only when absent
    assert client.cas("k", None, "again") is False
    assert client.cas("k", "first", "second") is True
    assert client.cas("k", "wrong", "third") is False
    assert client.get("k") == "second"
    assert client.cas("k", "second", None) is True  # remove
    assert client.exists("k") is False


def test_incr_and_incr_double(client: KyotoTycoon) -> None:
    assert client.incr("n") == 1
    assert client.incr("n", 10) == 11
    assert client.incr("n", -20) == -9
    assert client.incr("o", 1, orig=100) == 101
    assert client.incr_double("d", 1.5) == 1.5
    assert client.incr_double("d", -0.25) == 1.25
    client.set("text", "not a number")
    with pytest.raises(ServerError) as info:
        client.incr("text")
    assert info.value.code == 450
    with pytest.raises(ServerError):
        client.incr_double("text")


def test_bulk_operations(client: KyotoTycoon) -> None:
    data = {"key-%04d" % i: "value-%d" % i for i in range(1000)}
    assert client.set_bulk(data) == 1000
    assert client.get_bulk(list(data)) == data
    assert client.count() == 1000
    assert client.set_bulk(x="1", y="2", db=1) == 2
    assert client.get_bulk(["x", "y"], db=1) == {"x": "1", "y": "2"}
    # The mapping is positional only: ``data`` and ``name`` are record keys.
    assert client.set_bulk({"x": "3"}, data="4", name="5", db=1) == 3
    assert client.get_bulk(["x", "data", "name"], db=1) == {"x": "3", "data": "4", "name": "5"}
    assert client.remove_bulk(list(data)[:500]) == 500
    assert client.count() == 500
    assert client.get_bulk([]) == {}
    assert client.set_bulk({}) == 0


def test_no_reply_writes_are_explicit(client: KyotoTycoon) -> None:
    assert client.set("nr", "v", no_reply=True) is None
    assert client.set_bulk({"nr2": "v"}, no_reply=True) is None
    # a later request on the pool is answered after the no-reply ones
    assert client.get("nr") == "v"
    assert client.remove("nr", no_reply=True) is None
    assert client.remove_bulk(["nr2"], no_reply=True) is None
    assert client.get_bulk(["nr", "nr2"]) == {}


def test_read_your_writes_across_transports(client: KyotoTycoon) -> None:
    for i in range(50):
        client["ryw%d" % i] = "v"
        assert "ryw%d" % i in client  # HTTP check right after a binary set


def test_expiration_details(client: KyotoTycoon) -> None:
    now = time.time()
    client.set("e", "v", expire_time=100)
    client.set("forever", "v")
    details = {k: (db, v, xt) for db, k, v, xt in client.get_bulk_details(["e", "forever"])}
    assert details["forever"] == (0, "v", None)
    db, value, xt = details["e"]
    assert value == "v" and xt is not None and now + 90 < xt < now + 110
    assert client.expire_time("e") == xt
    assert client.expire_time("forever") is None
    assert client.length("e") == 1
    assert client.length("missing") is None


def test_status_report_and_properties(kt_server: RunningServer, client: KyotoTycoon) -> None:
    client.set_bulk({"a": "1", "b": "2"})
    status = client.status()
    assert status["count"] == "2"
    assert int(status["size"]) >= 0
    assert "path" in status
    assert client.path == "*"
    assert isinstance(client.size, int)
    assert client.status(db=1)["path"] == "%"
    report = client.report()
    assert "db_0" in report and "db_1" in report
    assert client.synchronize() is True
    assert client.vacuum() is True
    assert client.vacuum(step=1) is True


def test_match_procedures(client: KyotoTycoon) -> None:
    client.set_bulk({"apple": "1", "apricot": "2", "banana": "3", "applied": "4"}, db=1)
    assert client.match_prefix("ap", db=1) == ["apple", "applied", "apricot"]
    assert client.match_prefix("ap", max_keys=2, db=1) == ["apple", "applied"]
    assert client.match_prefix("zz", db=1) == []
    assert client.match_regex("an+a$", db=1) == ["banana"]
    assert sorted(client.match_regex("^ap", db=1)) == ["apple", "applied", "apricot"]
    assert sorted(client.match_similar("appla", 1, db=1)) == ["apple"]
    assert sorted(client.match_similar("apple", 2, db=1)) == ["apple", "applied"]


def test_iteration_tree_and_hash(client: KyotoTycoon) -> None:
    tree = {"k%03d" % i: "v%d" % i for i in range(120)}
    client.set_bulk(tree, db=1)
    assert list(client.keys(db=1)) == sorted(tree)
    assert list(client.items(db=1)) == sorted(tree.items())
    assert list(client.values(db=1)) == [tree[k] for k in sorted(tree)]
    client.set_bulk(tree, db=0)
    keys = list(client.keys(db=0))
    assert sorted(keys) == sorted(tree) and len(keys) == len(set(keys))
    assert sorted(client) == sorted(tree)
    client.clear(db=0)
    assert list(client.keys(db=0)) == []
    assert list(client.items(db=0)) == []


def test_values_keep_records_that_decode_to_none(kt_server: RunningServer,
                                                 connect: Callable[..., Any]) -> None:
    # issue 14: values() stopped at the first stored null
    c = connect(port=kt_server.port, serializer=KT_JSON)
    c.clear(db=1)
    records = {"a": 0, "b": None, "c": "", "f": "last"}
    c.set_bulk(records, db=1)
    assert list(c.values(db=1)) == [0, None, "", "last"]
    assert list(c.items(db=1)) == list(records.items())
    assert list(c.keys(db=1)) == list(records)


def test_iteration_in_pages(client: KyotoTycoon) -> None:
    # more records than one get_bulk page, on the tree and on the hash
    tree = {"p%05d" % i: "v%d" % i for i in range(2500)}
    client.set_bulk(tree, db=1)
    assert list(client.items(db=1)) == sorted(tree.items())
    assert list(client.values(db=1)) == [tree[k] for k in sorted(tree)]
    client.set_bulk(tree, db=0)
    assert dict(client.items(db=0)) == tree
    assert client.pool.in_use_count == 0
    # a cursor still walks record by record from a position
    with client.cursor(db=1) as cur:
        assert cur.jump("p02498")
        assert list(cur) == [("p02498", "v2498"), ("p02499", "v2499")]


def test_iteration_skips_records_removed_meanwhile(client: KyotoTycoon) -> None:
    client.set_bulk({"k%04d" % i: "v" for i in range(1500)}, db=1)
    it = iter(client.items(db=1))
    assert next(it) == ("k0000", "v")
    if not is_async(client):  # the async face reads everything at once
        client.remove_bulk(["k%04d" % i for i in range(1000, 1500)], db=1)
        assert len(list(it)) == 999


def test_cursor(client: KyotoTycoon) -> None:
    client.set_bulk({"a": "1", "b": "2", "c": "3"}, db=1)
    with client.cursor(db=1) as cur:
        assert cur.jump() is True
        assert cur.key() == "a"
        assert cur.value() == "1"
        assert cur.get() == ("a", "1")
        assert cur.step() is True
        assert cur.get() == ("b", "2")
        assert cur.step_back() is True
        assert cur.key() == "a"
        assert cur.jump_back() is True
        assert cur.key() == "c"
        assert cur.jump("b") is True
        assert cur.set_value("B") is True
        assert cur.get(step=True) == ("b", "B")
        assert cur.key() == "c"
        assert cur.remove() is True
        assert cur.get() is None  # moved past the end
        assert cur.jump("a") is True
        assert cur.seize() == ("a", "1")
    assert client.get_bulk(["a", "b", "c"], db=1) == {"b": "B"}
    assert list(client.cursor(db=1)) == [("b", "B")]
    empty = client.cursor(db=0)
    assert empty.jump() is False
    assert list(empty) == []
    assert client.pool.in_use_count == 0


def test_cursor_holds_its_connection(client: KyotoTycoon) -> None:
    client.set_bulk({"a": "1", "b": "2"}, db=1)
    cur = client.cursor(db=1)
    assert cur.jump()
    # other requests in between use other connections and do not disturb it
    client.set("other", "x")
    assert client.get("other") == "x"
    assert cur.step()
    assert cur.key() == "b"
    cur.close()
    assert client.pool.in_use_count == 0


def test_script_without_scripts(client: KyotoTycoon) -> None:
    with pytest.raises(ServerError):
        client.script("nothing", {"a": "b"})
    with pytest.raises(ServerError):
        client.lua.nothing(a="b")


def test_ulog_without_update_log(client: KyotoTycoon) -> None:
    with pytest.raises(ServerError):
        client.ulog_list()


# --- concurrency ---------------------------------------------------------------


(test_sixteen_threads_share_one_client, test_gevent_two_hundred_greenlets,
 test_fork_child_never_reuses_parent_sockets) = concurrency_tests("KyotoTycoon", "client",
                                                                  "kt_server")


# --- failures --------------------------------------------------------------------


def test_connection_refused_names_address(connect: Callable[..., Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = connect(port=port, timeout=2)
    with pytest.raises(ServerConnectionError) as info:
        c.get("k")
    assert "127.0.0.1:%d" % port in str(info.value)


test_server_killed_then_back = restart_test("kyoto", stored=1)


class FakeServer:
    """Accepts connections and answers every request with canned bytes."""

    def __init__(self, reply: bytes, close_after: bool = True) -> None:
        self.reply = reply
        self.close_after = close_after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                    if not self.close_after:
                        time.sleep(5)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("reply, error, method", [
    # binary protocol (get): every bad reply discards the connection
    (b"garbage that is not a reply", ProtocolError, "get"),
    (b"\xba\x00\x00\x00\x02\x00\x00", ServerConnectionError, "get"),  # closed mid-reply
    (b"", ServerConnectionError, "get"),  # closed before replying
    (b"\xbf", ServerError, "get"),  # the binary error reply
    # HTTP RPC (exists)
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", ServerConnectionError, "exists"),
    (b"NOT HTTP AT ALL\r\n\r\n", ProtocolError, "exists"),
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", ServerError, "exists"),
])
def test_fake_server(reply: bytes, error: type, method: str, connect: Callable[..., Any]) -> None:
    fake = FakeServer(reply)
    try:
        c = connect(port=fake.port, timeout=3)
        with pytest.raises(error):
            getattr(c, method)("k")
        if method == "get":
            assert c.pool.idle_count == 0  # the connection was discarded
    finally:
        fake.close()


def test_timeout_is_a_connection_error(connect: Callable[..., Any]) -> None:
    fake = FakeServer(b"", close_after=False)
    try:
        c = connect(port=fake.port, timeout=0.5)
        with pytest.raises(ServerConnectionError) as info:
            c.get("k")
        assert "timed out" in str(info.value)
    finally:
        fake.close()


def test_pool_management(client: KyotoTycoon) -> None:
    client.set("a", "1")
    assert client.pool.idle_count >= 1
    assert client.close_idle(older_than=3600) == 0
    assert client.close_all() >= 1
    assert client.pool.idle_count == 0
    assert client.get("a") == "1"  # reconnects
    client.checkin()
    with KyotoTycoon(port=client.port) as c2:
        assert c2.get("a") == "1"
    assert c2.pool.idle_count == 0


def test_bounded_pool(kt_server: RunningServer, connect: Callable[..., Any]) -> None:
    c = connect(port=kt_server.port, max_connections=2, pool_timeout=0.2)
    cur1 = c.cursor()
    cur2 = c.cursor()
    cur1.jump()
    cur2.jump()
    with pytest.raises(ServerConnectionError):
        c.get("k")  # both connections are held by the cursors
    cur1.close()
    assert c.get("k") is None
    cur2.close()
