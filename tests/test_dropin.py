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
from mirror import cleared, connect_fixture
from servers import RunningServer

connect = connect_fixture("kyoto")
tt_connect = connect_fixture("tyrant")


@pytest.fixture
def client(kt_server: RunningServer, connect: Callable[..., Any]) -> Iterator[KyotoTycoon]:
    yield from cleared(connect(port=kt_server.port, timeout=10), (0, 1))


@pytest.fixture
def tt(tt_server: RunningServer, tt_connect: Callable[..., Any]) -> Iterator[TokyoTyrant]:
    """A client of a B+ tree database (duplicates allowed)."""
    yield from cleared(tt_connect(port=tt_server.port, timeout=10))


@pytest.fixture
def tt_hash(tt_hash_server: RunningServer, tt_connect: Callable[..., Any]
            ) -> Iterator[TokyoTyrant]:
    yield from cleared(tt_connect(port=tt_hash_server.port, timeout=10))


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
