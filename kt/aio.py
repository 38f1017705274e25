"""The asyncio clients: ``AsyncKyotoTycoon`` and ``AsyncTokyoTyrant``.

Who calls it: users (``from kt import AsyncKyotoTycoon``), the pytest
plugin (kt.pytest_plugin).

They are the synchronous clients' methods (kt.kyoto.KyotoMethods,
kt.tyrant.TyrantMethods: argument checking, encoding and result shaping,
written once) run by an asyncio transport: ``_call``, ``_send``,
``_done``, ``_drive``, ``_stream`` and ``_open_transport`` below replace the synchronous ones of
kt.client.PooledClient and await the asyncio pool (kt.aio_connection).
So every method takes the same arguments, raises the same errors before
sending anything, and returns the same values -- as an awaitable:

    async with AsyncKyotoTycoon(port=1978) as client:
        await client.set("k", "v")
        async for key in client.keys():
            ...

Iteration is ``async for`` (keys(), values(), items(), cursors); the
operators that cannot be awaited (``len()``, ``in``, ``client[k] = v``,
``del client[k]``, plain ``for``) raise TypeError naming the method to
await instead.  ``await client[k]`` works.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Optional, Tuple

from kt.aio_connection import AsyncConnection, AsyncConnectionPool
from kt.client import Finish, Parse, Plan, Request, advance
from kt.errors import KyotoTycoonError, ServerConnectionError
from kt.kyoto import Change, CursorMethods, KyotoMethods
from kt.protocol import kt_http as kh
from kt.protocol.buffer import Payload
from kt.protocol import kt_repl as kr
from kt.tyrant import TyrantMethods

__all__ = ["AsyncKyotoTycoon", "AsyncTokyoTyrant", "AsyncCursor"]


def _not_awaitable(what: str, instead: str) -> TypeError:
    return TypeError("%s cannot be awaited on an asyncio client: use %s" % (what, instead))


class AwaitedOnly:
    """The operators of an asyncio client: those that cannot be awaited
    raise TypeError naming the method to await instead (kt.aio_sharding's
    clients use it too)."""

    def __enter__(self) -> Any:
        raise _not_awaitable("'with'", "'async with'")

    def __exit__(self, *exc: object) -> None:
        raise _not_awaitable("'with'", "'async with'")

    def __len__(self) -> int:
        raise _not_awaitable("len()", "'await client.count()'")

    def __bool__(self) -> bool:
        return True  # not len(): a client is true whatever its count

    def __contains__(self, key: Any) -> bool:
        raise _not_awaitable("'in'", "'await client.exists(key)'")

    def __setitem__(self, key: Any, value: Any) -> None:
        raise _not_awaitable("'client[key] = value'", "'await client.set(key, value)'")

    def __delitem__(self, key: Any) -> None:
        raise _not_awaitable("'del client[key]'", "'await client.remove(key)'")

    def __aiter__(self) -> Any:
        return self.keys()  # type: ignore[attr-defined]

    def __iter__(self) -> Any:
        raise _not_awaitable("'for'", "'async for key in client'")


class _AsyncTransport(AwaitedOnly):
    """The asyncio transport of the shared client methods."""

    _apool: AsyncConnectionPool

    def _open_transport(self, timeout: Optional[float], connect_timeout: Optional[float],
                        max_connections: Optional[int], pool_timeout: Optional[float],
                        max_idle_time: Optional[float]) -> None:
        self._apool = AsyncConnectionPool(
            self.host, self.port, timeout=timeout,  # type: ignore[attr-defined]
            connect_timeout=connect_timeout, max_connections=max_connections,
            pool_timeout=pool_timeout, max_idle_time=max_idle_time)

    @property
    def pool(self) -> AsyncConnectionPool:
        """The asyncio connection pool of this client."""
        return self._apool

    async def _call(self, data: Payload, parse: Parse, idempotent: bool,
                    reusable: Optional[Callable[[Any], bool]], finish: Optional[Finish],
                    arg: Any) -> Any:
        reply = await self._apool.execute(data, parse, idempotent, reusable)
        return reply if finish is None else finish(reply, arg)

    async def _send(self, data: Payload) -> None:
        await self._apool.send_only(data)

    async def _done(self, value: Any) -> Any:
        return value

    async def _drive(self, plan: Plan, finish: Finish) -> Any:
        return finish([item async for item in self._stream(plan)], None)

    async def _stream(self, plan: Plan) -> AsyncIterator[Any]:
        reply: Any = None
        while (step := advance(plan, reply)) is not None:
            reply = None
            if not isinstance(step, Request):
                for item in step:
                    yield item
                continue
            reply = await self._apool.execute(step.data, step.parse, step.idempotent,
                                              step.reusable)

    async def close(self) -> None:
        """Close the idle connections (used ones close when they come back)."""
        self._apool.close_all()

    async def close_all(self) -> int:
        """Close every pooled connection (those in use close when they come back).

        Returns:
            How many idle connections were closed.
        """
        return self._apool.close_all()

    async def close_idle(self, older_than: float = 0.0) -> int:
        """Close the connections that have been idle for a while.

        Args:
            older_than: idle for more than this many seconds (0: every idle one).

        Returns:
            How many connections were closed.
        """
        return self._apool.close_idle(older_than)

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncKyotoTycoon(_AsyncTransport, KyotoMethods):  # type: ignore[misc]
    """asyncio client for a Kyoto Tycoon server.

    It takes the same arguments as :class:`KyotoTycoon` (``socket_module`` is
    not used) and has its methods, arguments, serializers, errors and return
    values; every method that talks to the server is a coroutine, ``keys()``,
    ``values()`` and ``items()`` are async iterators, and the client is an
    ``async with`` context manager.
    """

    def cursor(self, db: Optional[int] = None, cursor_id: Optional[int] = None) -> "AsyncCursor":
        """A server-side cursor over a database (no request is sent yet).

        Args:
            db: the database (None: ``default_db``).
            cursor_id: a number for the cursor, unique on its connection (None: a new one).

        Returns:
            An :class:`AsyncCursor`, to use with ``async with`` or ``async for``.

        Raises:
            TypeError: ``db`` is not an int.
            ValueError: ``db`` is outside 0 to 65535.
        """
        return AsyncCursor(self, self._db(db), cursor_id)

    async def _replicate(self, stream: kr.ReplicationStream, raw: bool,  # type: ignore[override]
                         stop: bool, timeout: Optional[float]) -> AsyncIterator[Change]:
        """The asyncio transport of ``replicate`` (see KyotoMethods._replicate)."""
        conn = AsyncConnection(self.host, self.port, timeout, self._apool.connect_timeout)
        send = stream.start()
        try:
            while not (stop and stream.caught_up):
                try:
                    send = await conn.request(send, stream.parse)
                except ServerConnectionError as exc:
                    conn.close()
                    await asyncio.sleep(stream.lost(exc))
                    send = stream.start()
                    continue
                for change in self._changes(stream, raw):
                    yield change
        finally:
            conn.close()


class AsyncTokyoTyrant(_AsyncTransport, TyrantMethods):  # type: ignore[misc]
    """asyncio client for a Tokyo Tyrant server.

    It takes the same arguments as :class:`TokyoTyrant` and has its methods,
    arguments, serializers, errors and return values; every method that talks
    to the server is a coroutine.  :class:`QueryBuilder` works with it too:
    ``await query.execute(client)``.
    """


class AsyncCursor(CursorMethods):
    """A cursor of the server (see :class:`kt.Cursor`), awaitable.

    It takes the same arguments as :class:`kt.Cursor` and holds one connection of
    the pool until ``await cursor.close()`` (also done by ``async with`` and at
    the end of ``async for``).  Use one cursor from one task at a time.
    """

    def __init__(self, client: AsyncKyotoTycoon, db: int, cursor_id: Optional[int] = None) -> None:
        super().__init__(client, db, cursor_id)
        self._pool = client._apool
        self._conn: Optional[AsyncConnection] = None

    async def _exchange(self, procedure: str, data: bytes, finish: Finish) -> Any:
        conn = self._conn
        if conn is None:
            conn = await self._pool.acquire()
            self._conn = conn
        try:
            resp = await conn.request(data, kh.ResponseParser().parse)
        except BaseException:
            self._conn = None
            self._pool.discard(conn)
            raise
        return finish(resp, procedure)

    async def close(self) -> None:
        """Delete the server-side cursor and give the connection back to the pool (never raises)."""
        self._valid = False
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        try:
            resp = await conn.request(self._request("cur_delete", []), kh.ResponseParser().parse)
            self._client._rpc_result(resp, "cur_delete")
        except KyotoTycoonError:
            self._pool.discard(conn)
            return
        except BaseException:
            self._pool.discard(conn)
            raise
        self._pool.release(conn)

    async def __aiter__(self) -> AsyncIterator[Tuple[Any, Any]]:
        """(key, value) from the current position (or the first record) to
        the end; closes the cursor."""
        try:
            if self._conn is None and not await self.jump():
                return
            while True:
                item = await self.get(step=True)
                if item is None:
                    return
                yield item
        finally:
            await self.close()

    async def __aenter__(self) -> "AsyncCursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self) -> None:
        # A cursor left open: the connection is discarded later, by its
        # event loop (a finalizer may run in any thread, during garbage
        # collection); no request is sent.  Nothing to do when that loop is
        # closed: the pool starts over on the next loop.
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._pool.abandon(conn)
