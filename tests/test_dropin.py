"""Issue 18: code written against the original kt runs on this library.

Two bugs found by running such code (a cursor finalized by the cyclic
garbage collector; B+ tree duplicates lost by TokyoTyrant.items()), and the
original's later names and conventions this library accepts as aliases
(docs/migration.md lists them).  Every test runs against the built-in
servers and, when installed, the real ones; tests taking ``connect`` run
with the sync and the asyncio clients (tests/mirror.py).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Callable, Iterator, List

import pytest

from kt import KyotoTycoon, TokyoTyrant
from kt.aio import AsyncKyotoTycoon
from mirror import client_fixture, connect_fixture
from servers import RunningServer, real_server_path, server_kinds

connect = connect_fixture("kyoto")
tt_connect = connect_fixture("tyrant")


client = client_fixture("kt_server", (0, 1))
tt = client_fixture("tt_server", connect="tt_connect")  # B+ tree: duplicates allowed
tt_hash = client_fixture("tt_hash_server", connect="tt_connect")


# --- bug 1: finalizers never do I/O nor hand connections back -----------------


class _Holder:
    """Something that refers to a cursor and to itself (like a frame of a
    traceback kept by a failed assertion)."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.me = self


def _open_cursor_in_cycle(client: Any) -> None:
    cur = client.cursor(db=1)
    assert cur.jump() is True
    # The cursor, its connection and socket get old (as in a long test
    # run); then a young cycle refers to the cursor.  Collected together,
    # CPython finalizes the cursor first and the socket after it: a
    # cursor that handed its connection back to the pool left a closed
    # socket there ("Bad file descriptor" on the next request).
    gc.collect()
    _Holder(cur)


def test_cursor_collected_in_a_cycle_leaves_the_pool_usable(kt_server: RunningServer) -> None:
    client = KyotoTycoon(port=kt_server.port, timeout=10, max_connections=2, pool_timeout=5)
    client.set_bulk({"a": "1", "b": "2"}, db=1)
    for _ in range(10):
        gc.disable()
        try:
            _open_cursor_in_cycle(client)
            assert client.pool.in_use_count == 1
        finally:
            gc.enable()
        gc.collect()
        # the connection was neither handed back nor left counted as used
        assert client.pool.in_use_count == 0
        assert client.pool.idle_count <= 1
        assert client.get("a", db=1) == "1"
        assert client.get_bulk(["a", "b"], db=1) == {"a": "1", "b": "2"}
    client.close()


class _SpySocket:
    """A socket that records what is sent through it."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.sent: List[bytes] = []
        self.closed = False

    def sendall(self, data: bytes) -> None:  # pragma: no cover - must not be called
        self.sent.append(data)
        self.sock.sendall(data)

    def recv(self, size: int) -> bytes:  # pragma: no cover
        return bytes(self.sock.recv(size))

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def test_cursor_finalizer_sends_nothing(kt_server: RunningServer) -> None:
    client = KyotoTycoon(port=kt_server.port, timeout=10)
    client.set("a", "1", db=1)
    cur = client.cursor(db=1)
    assert cur.jump()
    conn = cur._conn
    assert conn is not None
    spy = _SpySocket(conn.sock)
    conn.sock = spy
    del cur
    gc.collect()
    assert spy.sent == []
    assert spy.closed
    assert conn.sock is None  # closed: the server drops its cursor
    assert client.pool.in_use_count == 0
    assert client.get("a", db=1) == "1"


def test_cursor_loop_left_early_gives_the_connection_up(client: KyotoTycoon) -> None:
    client.set_bulk({"a": "1", "b": "2", "c": "3"}, db=1)
    for key, _ in client.cursor(db=1):
        if key == "b":
            break
    gc.collect()
    assert client.pool.in_use_count == 0
    assert client.get("c", db=1) == "3"
    assert list(client.cursor(db=1)) == [("a", "1"), ("b", "2"), ("c", "3")]


def test_async_cursor_collected_in_a_cycle(kt_server: RunningServer) -> None:
    async def main() -> None:
        client = AsyncKyotoTycoon(port=kt_server.port, timeout=10, max_connections=1,
                                  pool_timeout=5)
        await client.set("a", "1", db=1)
        cur = client.cursor(db=1)
        assert await cur.jump() is True
        gc.collect()
        _Holder(cur)
        del cur
        gc.collect()
        await asyncio.sleep(0)  # the discard runs on the loop
        assert client.pool.in_use_count == 0
        assert await client.get("a", db=1) == "1"  # max_connections=1: the slot is free
        await client.close()

    asyncio.run(main())


def test_embedded_server_finalizer_does_not_wait() -> None:
    from kt import EmbeddedServer

    server = EmbeddedServer(server="builtin")
    server.run()
    proc = server._proc
    assert proc is not None
    server.__del__()
    assert server._proc is None
    assert proc.wait(10) is not None


# --- bug 2: B+ tree duplicates in items() / values() ------------------------------


def _duplicates(tt: Any) -> List[Any]:
    """Records with duplicates, in the B+ tree's order (key, then the order
    setdup/setdupback left them in)."""
    tt.set("b", "b1")
    tt.setdup("b", "b2")
    tt.setdup("b", "b3")
    tt.setdupback("b", "b0")
    tt.set("a", "a1")
    for i in range(7):
        tt.setdup("c", "c%d" % i)
    tt.set("d", "d1")
    tt.setdup("d", "d2")
    return ([("a", "a1")] + [("b", "b%d" % i) for i in range(4)]
            + [("c", "c%d" % i) for i in range(7)] + [("d", "d1"), ("d", "d2")])


@pytest.mark.parametrize("page", [1000, 1, 2, 3, 5])
def test_items_and_values_keep_btree_duplicates(tt: Any, page: int) -> None:
    expected = _duplicates(tt)
    tt._range_page = page  # pages that end inside a run of duplicates
    assert len(tt) == len(expected)
    assert list(tt.items()) == expected
    assert list(tt.values()) == [v for _, v in expected]
    assert list(tt.keys()) == ["a", "b", "c", "d"]  # fwmkeys: each key once


def test_items_order_matches_the_server_iterator(tt: Any) -> None:
    _duplicates(tt)
    tt._range_page = 2
    # the server's own (shared) iterator: the order items() must follow
    walked: List[Any] = []
    reply = tt.misc("iterinit", [])
    assert reply is not None
    while True:
        pair = tt.misc("iternext", [])
        if not pair:
            break
        walked.append((pair[0].decode(), pair[1].decode()))
    assert list(tt.items()) == walked


def test_items_on_hash_database_falls_back(tt_hash: Any) -> None:
    tt_hash.set_bulk({"k%d" % i: "v%d" % i for i in range(25)})
    tt_hash._range_page = 4
    assert sorted(tt_hash.items()) == sorted(("k%d" % i, "v%d" % i) for i in range(25))
    assert sorted(tt_hash.values()) == sorted("v%d" % i for i in range(25))


# --- the original's names and arguments ------------------------------------------------

#: kt.constants of the original library: names and values.
ORIGINAL_CONSTANTS = {
    "OP_STR_EQ": 0, "OP_STR_CONTAINS": 1, "OP_STR_STARTSWITH": 2, "OP_STR_ENDSWITH": 3,
    "OP_STR_ALL": 4, "OP_STR_ANY": 5, "OP_STR_ANYEXACT": 6, "OP_STR_REGEX": 7,
    "OP_NUM_EQ": 8, "OP_NUM_GT": 9, "OP_NUM_GE": 10, "OP_NUM_LT": 11, "OP_NUM_LE": 12,
    "OP_NUM_BETWEEN": 13, "OP_NUM_ANYEXACT": 14, "OP_FTS_PHRASE": 15, "OP_FTS_ALL": 16,
    "OP_FTS_ANY": 17, "OP_FTS_EXPRESSION": 18, "OP_NEGATE": 1 << 24, "OP_NOINDEX": 1 << 25,
    "ORDER_STR_ASC": 0, "ORDER_STR_DESC": 1, "ORDER_NUM_ASC": 2, "ORDER_NUM_DESC": 3,
    "INDEX_STR": 0, "INDEX_NUM": 1, "INDEX_TOKEN": 2, "INDEX_QGRAM": 3,
    "IOP_OPTIMIZE": 9998, "IOP_DELETE": 9999, "IOP_KEEP": 1 << 24,
}


def test_constants_module_has_the_originals() -> None:
    import kt
    import kt.constants

    assert sorted(kt.constants.__all__) == sorted(ORIGINAL_CONSTANTS)
    for name, value in ORIGINAL_CONSTANTS.items():
        assert getattr(kt.constants, name) == value, name
        if hasattr(kt, name):  # the top-level names are the same constants
            assert getattr(kt, name) == value, name


def test_constants_drive_the_table_database(tt_table_server: RunningServer,
                                            tt_connect: Callable[..., Any]) -> None:
    from kt import TT_TABLE
    from kt.constants import INDEX_STR, IOP_DELETE, IOP_KEEP, IOP_OPTIMIZE, OP_STR_EQ

    db = tt_connect(port=tt_table_server.port, serializer=TT_TABLE)
    db.clear()
    db.set_bulk({"a": {"name": "x"}, "b": {"name": "y"}})
    assert db.set_index("name", INDEX_STR) is True
    assert db.set_index("name", INDEX_STR | IOP_KEEP) is False  # exists already
    assert db.set_index("name", IOP_OPTIMIZE) is True
    assert db.search([("addcond", "name", OP_STR_EQ, "y")]) == ["b"]
    assert db.set_index("name", IOP_DELETE) is True
    db.clear()


def test_kt_original_names(client: Any) -> None:
    assert client.set_bytes("k", b"\xff\x00") == 1
    assert client.get_bytes("k") == b"\xff\x00"
    assert client.set_bytes("t", "\u00e9", db=1, expire_time=60) == 1
    assert client.get_bytes("t", db=1) == "\u00e9".encode("utf-8")
    assert client.set_bytes("n", b"x", no_reply=True) is None
    assert client.get_bytes("missing") is None
    with pytest.raises(TypeError):
        client.set_bytes("k", 1)
    client.set_bulk({"a": "1", "b": "2"}, db=1)
    assert client.keys_nonlazy(db=1) == ["a", "b", "t"]
    assert sorted(client.keys_nonlazy()) == ["k", "n"]


def test_cursor_is_valid(client: Any) -> None:
    client.set_bulk({"a": "1", "b": "2"}, db=1)
    with client.cursor(db=1) as cur:
        assert cur.is_valid() is False  # not positioned yet
        assert cur.jump() is True and cur.is_valid() is True
        assert cur.get(step=True) == ("a", "1") and cur.is_valid() is True
        assert cur.step() is False and cur.is_valid() is False  # past "b"
        assert cur.key() is None and cur.is_valid() is False
        assert cur.jump("b") is True and cur.is_valid() is True
    assert cur.is_valid() is False  # closed


def test_tt_original_names(tt: Any) -> None:
    assert tt.set_bytes("k", b"\xff\x00") is True
    assert tt.get_bytes("k") == b"\xff\x00"
    assert tt.set_bytes("t", "\u00e9") is True
    assert tt.get_bytes("t") == "\u00e9".encode("utf-8")
    assert tt.set_bytes("n", b"x", True) is None
    assert tt.get_bytes("n") == b"x"  # read-your-writes: the same connection
    assert tt.get_bytes("missing") is None
    assert tt.set("p", "v", True) is None  # no_reply: the third positional argument
    assert tt.set("q", "w", False) is True
    assert tt.get("p") == "v"
    assert tt.setdup("q", "w2") is True
    assert tt.setdupback("q", "w0") is True
    assert tt.keys_fast() == ["k", "n", "p", "q", "t"]
    assert tt.items_fast() == [("k", "\xff\x00".encode("latin-1")), ("n", "x"), ("p", "v"),
                               ("q", "w0"), ("q", "w"), ("q", "w2"), ("t", "\u00e9")]
    assert tt.seize("p") == "v"
    assert tt.seize("p") is None


@pytest.mark.parametrize("pooled", [True, False])
def test_clients_take_connection_pool(kt_server: RunningServer, tt_server: RunningServer,
                                      connect: Callable[..., Any],
                                      tt_connect: Callable[..., Any], pooled: bool) -> None:
    kc = connect(port=kt_server.port, connection_pool=pooled)
    kc.set("cp", "1")
    assert kc.get("cp") == "1"
    tc = tt_connect(port=tt_server.port, connection_pool=pooled)
    tc.set("cp", "1")
    assert tc.get("cp") == "1"


def test_kt_none_takes_str(tt: Any, tt_server: RunningServer,
                           tt_connect: Callable[..., Any]) -> None:
    from kt import KT_NONE

    raw = tt_connect(port=tt_server.port, serializer=KT_NONE)
    assert raw.set("k", "\u00e9") is True
    assert raw.get("k") == "\u00e9".encode("utf-8")
    assert raw.set_bulk({"a": "x", "b": b"y"}) is True
    assert raw.get_bulk(["a", "b"]) == {"a": b"x", "b": b"y"}
    with pytest.raises(TypeError):
        raw.set("k", 1)


# --- embedded servers take the original's keyword arguments -----------------------


@pytest.mark.parametrize("impl", server_kinds("kyoto"))
def test_embedded_server_original_arguments(impl: str, capsys: Any) -> None:
    from kt import KT_JSON, EmbeddedServer

    server = EmbeddedServer(server=real_server_path("kyoto") if impl == "real" else impl,
                            serializer=KT_JSON,
                            quiet=True, connection_pool=True)
    with server:
        assert server.client.serializer is KT_JSON
        server.client.set("k", {"a": [1]})
        assert server.client.get("k") == {"a": [1]}
    assert capsys.readouterr().err == ""  # quiet: nothing printed


@pytest.mark.parametrize("impl", server_kinds("tyrant"))
def test_embedded_tyrant_server_original_arguments(impl: str, capsys: Any) -> None:
    from kt import KT_PICKLE, EmbeddedTokyoTyrantServer

    executable = real_server_path("tyrant") if impl == "real" else impl
    server = EmbeddedTokyoTyrantServer(server=executable, database="+",
                                       serializer=KT_PICKLE, quiet=False,
                                       connection_pool=False)
    with server:
        server.client.set("k", {1, 2})
        assert server.client.get("k") == {1, 2}
        printed = server.output.splitlines()[0]
    # quiet=False: the server's output is copied to stderr too
    assert printed and printed in capsys.readouterr().err


# --- the original's Lua helper conventions, with scripts of our own ----------------
#
# The original library's helper scripts take numbers as text (n=1, db=0),
# select a database with db=, give lists back as maps keyed "0", "1", ...
# and counts as {"num": "2"}; callers pass encode_values=False for raw
# bytes.  These procedures follow those conventions (Lua for the real
# servers, the same in Python for the built-in ones).

KT_LUA = '''kt = __kyototycoon__
function _db(inmap)
  if inmap.db then return kt.dbs[tonumber(inmap.db) + 1] end
  return kt.db
end
function count(inmap, outmap)
  outmap.num = _db(inmap):count()
  return kt.RVSUCCESS
end
function first_keys(inmap, outmap)
  local cur = _db(inmap):cursor()
  cur:jump()
  for i = 0, tonumber(inmap.n) - 1 do
    local key = cur:get_key(true)
    if not key then break end
    outmap[tostring(i)] = key
  end
  cur:disable()
  return kt.RVSUCCESS
end
function add(inmap, outmap)
  outmap.sum = tostring(tonumber(inmap.a) + tonumber(inmap.b))
  return kt.RVSUCCESS
end
'''

KT_PY = '''
def _db(ctx, inmap):
    return ctx.database(int(inmap[b"db"])) if b"db" in inmap else ctx.db

def count(ctx, inmap):
    return {"num": _db(ctx, inmap).count()}

def first_keys(ctx, inmap):
    keys = sorted(k for k, v, xt in _db(ctx, inmap).items())[:int(inmap[b"n"])]
    return {str(i): k for i, k in enumerate(keys)}

def add(ctx, inmap):
    total = float(inmap[b"a"]) + float(inmap[b"b"])
    return {"sum": int(total) if total == int(total) else total}
'''

TT_LUA = '''
function count_to(key, value)
  local out = {}
  for i = 1, tonumber(value) do out[#out + 1] = tostring(i) end
  return table.concat(out, "\\n")
end
function twice(key, value)
  return tonumber(value) * 2
end
function kv(key, value)
  return key .. "\\t" .. value .. "\\n" .. value .. "\\t" .. key .. "\\n"
end
'''

TT_PY = '''
def count_to(key, value):
    return "\\n".join(str(i) for i in range(1, int(value) + 1))

def twice(key, value):
    total = float(value) * 2
    return str(int(total) if total == int(total) else total)

def kv(key, value):
    return key + b"\\t" + value + b"\\n" + value + b"\\t" + key + b"\\n"
'''


def _scripted(kind: str, impl: str, tmp: Any, databases: List[str]) -> RunningServer:
    option, source, ext = {
        ("kyoto", True): ("-scr", KT_PY, "py"), ("kyoto", False): ("-scr", KT_LUA, "lua"),
        ("tyrant", True): ("-ext", TT_PY, "py"), ("tyrant", False): ("-ext", TT_LUA, "lua"),
    }[(kind, impl == "builtin")]
    path = tmp / ("procs." + ext)
    path.write_text(source)
    return RunningServer(kind, impl, databases=databases, args=[option, str(path)],
                         workdir=str(tmp))


@pytest.fixture(scope="module", params=server_kinds("kyoto"))
def kt_scripted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RunningServer]:
    with _scripted("kyoto", request.param, tmp_path_factory.mktemp("scr"),
                   ["*", "%"]) as server:
        yield server


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def tt_scripted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RunningServer]:
    with _scripted("tyrant", request.param, tmp_path_factory.mktemp("ext"), ["*"]) as server:
        yield server


def test_kt_lua_conventions(kt_scripted: RunningServer, connect: Callable[..., Any]) -> None:
    client = connect(port=kt_scripted.port, timeout=10)
    client.clear(db=0)
    client.clear(db=1)
    client.set_bulk({"c": "3", "a": "1", "b": "2"}, db=1)
    client.set("z", "0", db=0)
    lua = client.lua
    assert lua.count(db=1) == {"num": "3"}  # db=1 goes as "1"
    assert lua.count(db=0) == {"num": "1"}
    assert lua.count() == {"num": "1"}
    assert lua.first_keys(n=2, db=1) == {"0": "a", "1": "b"}  # a list as a map
    assert client.script("first_keys", {"n": 5, "db": 1}) == {"0": "a", "1": "b", "2": "c"}
    assert lua.add(a=1.5, b=2) == {"sum": "3.5"}  # floats as decimal text
    assert lua.add(a=-1, b=1) == {"sum": "0"}
    assert lua.add(a=0.25, b=7, encode_values=False) == {"sum": b"7.25"}
    assert client.script("first_keys", {"n": 1, "db": 1}, encode_values=False) == {"0": b"a"}


def test_tt_lua_conventions(tt_scripted: RunningServer, tt_connect: Callable[..., Any]) -> None:
    client = tt_connect(port=tt_scripted.port, timeout=10)
    assert client.script("twice", "k", 21, as_int=True) == 42  # value 21 goes as "21"
    assert client.lua.twice("k", 1.25, decode_value=True) == "2.5"
    assert client.script("twice", None, "4") == b"8"
    assert client.script("count_to", "", 3, as_list=True) == [b"1", b"2", b"3"]
    assert client.lua.count_to("", 2, decode_value=True, as_list=True) == ["1", "2"]
    assert client.script("count_to", "", 0, as_list=True) == []
    assert client.script("kv", "a", "b", as_dict=True, decode_value=True) == \
        {"a": "b", "b": "a"}
    assert client.script("kv", 1, 2, as_dict=True) == {b"1": b"2", b"2": b"1"}


# --- the migration notes name what exists -------------------------------------------


def test_migration_notes_list_every_alias() -> None:
    import re
    from pathlib import Path

    from kt import Cursor
    from kt.aio import AsyncCursor, AsyncTokyoTyrant

    notes = (Path(__file__).resolve().parent.parent / "docs" / "migration.md").read_text()
    table = notes[notes.index("## Names and arguments"):notes.index("## Not supported")]
    classes = {"KyotoTycoon": [KyotoTycoon, AsyncKyotoTycoon],
               "TokyoTyrant": [TokyoTyrant, AsyncTokyoTyrant], "Cursor": [Cursor, AsyncCursor]}
    named = re.findall(r"`(KyotoTycoon|TokyoTyrant|Cursor)\.(\w+)", table)
    named += [("TokyoTyrant", m) for m in re.findall(r"`(setdupback)`", table)]
    assert len(named) >= 12
    for cls, method in named:
        for impl in classes[cls]:
            assert callable(getattr(impl, method)), (impl, method)
    for name in ["get_bytes", "set_bytes", "keys_nonlazy", "keys_fast", "items_fast", "setdup",
                 "setdupback", "is_valid", "seize", "kt.constants", "decode_value", "as_int",
                 "KT_NONE", "quiet", "connection_pool", "serializer="]:
        assert name in table, name


def test_misc_functions_named_in_the_notes(tt: Any) -> None:
    _duplicates(tt)
    flat = tt.misc("range", ["c", "-1"])
    assert flat[:4] == [b"c", b"c0", b"c", b"c1"] and len(flat) == 18
    assert tt.misc("regex", ["^d", "-1"]) == [b"d", b"d1", b"d", b"d2"]
