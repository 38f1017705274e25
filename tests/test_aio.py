"""What only the asyncio clients have: ``async for``, ``async with``,
async cursors, cancellation, the asyncio pool's bound and timeouts, event
loop changes, uvloop.  (Every method's behaviour is checked by the client
suites, which run each case with the async clients too: tests/mirror.py.)

Each test runs on the standard asyncio loop and, when installed, uvloop's.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Awaitable, Callable, Iterator, List

import pytest

from kt import (
    KT_JSON,
    OP_NUM_GE,
    TT_TABLE,
    AsyncKyotoTycoon,
    AsyncTokyoTyrant,
    KyotoTycoon,
    ProtocolError,
    QueryBuilder,
    ServerConnectionError,
    TokyoTyrant,
)
from servers import RunningServer, server_kinds

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the dev extra on CPython
    uvloop = None

LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    """Runs a coroutine to completion on a fresh loop of the given kind."""
    if request.param == "uvloop" and uvloop is None:
        pytest.skip("uvloop is not installed")

    def runner(main: Awaitable[Any]) -> Any:
        loop = uvloop.new_event_loop() if request.param == "uvloop" else asyncio.new_event_loop()
        try:
            return loop.run_until_complete(main)
        finally:
            loop.close()

    return runner


@pytest.fixture
def kt_port(kt_server: RunningServer) -> Iterator[int]:
    c = KyotoTycoon(port=kt_server.port)
    c.clear(db=0)
    c.clear(db=1)
    yield kt_server.port


@pytest.fixture
def tt_port(tt_hash_server: RunningServer) -> Iterator[int]:
    TokyoTyrant(port=tt_hash_server.port).clear()
    yield tt_hash_server.port


def test_async_iteration_and_context_managers(kt_port: int, run: Any) -> None:
    async def main() -> None:
        async with AsyncKyotoTycoon(port=kt_port, serializer=KT_JSON, timeout=10) as client:
            assert await client.set_bulk({"a": 1, "b": None, "c": [2]}, db=1) == 3
            assert [k async for k in client.keys(db=1)] == ["a", "b", "c"]
            assert [v async for v in client.values(db=1)] == [1, None, [2]]
            assert [i async for i in client.items(db=1)] == [("a", 1), ("b", None), ("c", [2])]
            client.set_database(1)
            assert [k async for k in client] == ["a", "b", "c"]
            assert await client["a"] == 1 and await client["a", 1] == 1
            async with client.cursor() as cur:
                assert await cur.jump("b") is True
                assert await cur.get(step=True) == ("b", None)
                assert await cur.key() == "c"
            assert [item async for item in client.cursor()] == [("a", 1), ("b", None), ("c", [2])]
            assert client.pool.in_use_count == 0
        assert client.pool.idle_count == 0  # closed by async with

    run(main())


def test_operators_that_cannot_be_awaited(kt_port: int, tt_port: int) -> None:
    for client in (AsyncKyotoTycoon(port=kt_port), AsyncTokyoTyrant(port=tt_port)):
        assert client  # truth does not ask len()
        with pytest.raises(TypeError, match="count"):
            len(client)
        with pytest.raises(TypeError, match="exists"):
            "k" in client
        with pytest.raises(TypeError, match="set"):
            client["k"] = "v"
        with pytest.raises(TypeError, match="remove"):
            del client["k"]
        with pytest.raises(TypeError, match="async for"):
            iter(client)
        with pytest.raises(TypeError, match="async with"):
            with client:
                pass


def test_bad_arguments_raise_before_anything_is_sent(kt_port: int) -> None:
    client = AsyncKyotoTycoon(port=kt_port)
    with pytest.raises(TypeError):
        client.get(123)  # type: ignore[arg-type]  # raised by the call, not the await
    with pytest.raises(ValueError):
        client.set("k", "v", db=-1)
    with pytest.raises(TypeError):
        client.keys(db="0")  # type: ignore[arg-type]
    assert client.pool.idle_count == 0 and client.pool.in_use_count == 0


def test_query_builder_and_search_on_async_tyrant(tt_table_server: RunningServer, run: Any) -> None:
    async def main() -> None:
        client = AsyncTokyoTyrant(port=tt_table_server.port, serializer=TT_TABLE)
        await client.clear()
        await client.set_bulk({"a": {"n": "1"}, "b": {"n": "5"}, "c": {"n": "9"}})
        query = QueryBuilder().filter("n", OP_NUM_GE, 5)
        assert await query.execute(client) == ["b", "c"]
        assert await query.count(client) == 2
        assert await client.search([("addcond", "n", OP_NUM_GE, 9)], "get") == [("c", {"n": "9"})]
        assert await query.delete(client) is True
        assert [k async for k in client.keys()] == ["a"]

    run(main())


def test_fifty_tasks_share_one_bounded_client(kt_port: int, tt_port: int, run: Any) -> None:
    async def work(client: Any, n: int) -> None:
        for i in range(20):
            key = "t%d-%d" % (n, i)
            await client.set(key, key * 2)
            assert await client.get(key) == key * 2
            assert await client.get_bulk([key, "missing"]) == {key: key * 2}
            assert await client.exists(key)

    async def main() -> None:
        for client in (AsyncKyotoTycoon(port=kt_port, max_connections=5, timeout=10),
                       AsyncTokyoTyrant(port=tt_port, max_connections=5, timeout=10)):
            await asyncio.gather(*[work(client, n) for n in range(50)])
            assert await client.count() == 1000
            assert client.pool.idle_count <= 5 and client.pool.in_use_count == 0

    run(main())


def test_bounded_pool_waits_then_times_out(kt_port: int, run: Any) -> None:
    async def main() -> None:
        client = AsyncKyotoTycoon(port=kt_port, max_connections=2, pool_timeout=0.2)
        cur1, cur2 = client.cursor(), client.cursor()
        await cur1.jump()
        await cur2.jump()
        with pytest.raises(ServerConnectionError, match="no free connection"):
            await client.get("k")
        waiting = asyncio.ensure_future(AsyncKyotoTycoon.get(client, "k"))
        await asyncio.sleep(0.05)
        await cur1.close()  # frees a connection for the waiting request
        assert await waiting is None
        await cur2.close()
        assert client.pool.in_use_count == 0

    run(main())


class DelayingProxy:
    """A TCP proxy to a server that holds the server's replies back while
    ``delay`` is set: a request in flight can be cancelled mid-reply."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.delay = 0.0
        self.connections = 0
        self.port = 0
        self._tasks: List["asyncio.Future[Any]"] = []

    async def start(self) -> "DelayingProxy":
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, slow: bool) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    if slow and self.delay:
                        await asyncio.sleep(self.delay)
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        both = asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))
        self._tasks.append(both)
        await both

    async def close(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


@pytest.mark.parametrize("kind", ["kyoto binary", "kyoto http", "tyrant"])
def test_cancelled_request_discards_its_connection(kind: str, kt_port: int, tt_port: int,
                                                   run: Any) -> None:
    port = tt_port if kind == "tyrant" else kt_port
    sync = TokyoTyrant(port=port) if kind == "tyrant" else KyotoTycoon(port=port)
    sync.set_bulk({"k1": "first", "k2": "second"})

    async def main() -> None:
        proxy = await DelayingProxy(port).start()
        cls = AsyncTokyoTyrant if kind == "tyrant" else AsyncKyotoTycoon
        client = cls(port=proxy.port, max_connections=1, timeout=10)
        read = client.seize if kind == "kyoto http" else client.get
        assert await client.get("k1") == "first"  # one pooled connection
        proxy.delay = 0.5
        task = asyncio.ensure_future(client.get("k1"))
        await asyncio.sleep(0.15)  # the request is out, its reply held back
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        proxy.delay = 0.0
        assert client.pool.in_use_count == 0 and client.pool.idle_count == 0
        # the next request gets its own answer, not the late "first"
        assert await read("k2") == "second"
        assert proxy.connections == 2
        await client.close()
        await proxy.close()

    run(main())


def test_timeout_and_bad_reply_discard_the_connection(run: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    replies: List[bytes] = [b"", b"garbage that is not a reply"]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            reply = replies.pop(0) if replies else b""
            conn.recv(65536)
            if reply:
                conn.sendall(reply)
            threading.Timer(3, conn.close).start()

    threading.Thread(target=serve, daemon=True).start()

    async def main() -> None:
        client = AsyncKyotoTycoon(port=port, timeout=0.3)
        with pytest.raises(ServerConnectionError, match="timed out"):
            await client.get("k")
        assert client.pool.idle_count == 0 and client.pool.in_use_count == 0
        with pytest.raises(ProtocolError):
            await client.get("k")
        assert client.pool.idle_count == 0 and client.pool.in_use_count == 0

    try:
        run(main())
    finally:
        listener.close()


def test_one_client_across_event_loops(kt_port: int) -> None:
    client = AsyncKyotoTycoon(port=kt_port)
    assert asyncio.run(client.set("k", "v")) == 1
    assert client.pool.idle_count == 1
    # a new loop: the old loop's connection is dropped, a new one opened
    assert asyncio.run(client.get("k")) == "v"
    assert client.pool.idle_count == 1


@pytest.mark.parametrize("impl", server_kinds("kyoto"))
def test_server_restart_with_async_client(impl: str, run: Any) -> None:
    server = RunningServer("kyoto", impl, databases=["*"]).start()

    async def main() -> None:
        client = AsyncKyotoTycoon(port=server.port, timeout=5)
        assert await client.set("k", "v") == 1
        server.restart()
        assert await client.get("k") is None  # reconnects (idempotent retry)
        assert await client.set("k", "w") == 1

    try:
        run(main())
    finally:
        server.stop()
