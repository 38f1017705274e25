"""The asyncio twin of kt.connection: connections and a pool for the
asyncio clients (kt.aio).  Standard library only; works on any asyncio
event loop, uvloop included.

Who calls it: kt.aio.  Like kt.connection it knows nothing about the
protocols: a request is bytes to send plus a parse function from
kt.protocol that reads the reply from the connection's ReceiveBuffer.

Rules it enforces (the same as the synchronous pool's):

* One request at a time per connection: a connection is checked out for
  the whole request, so tasks never share a socket mid-request.
* Replies are parsed as their bytes arrive (an asyncio Protocol feeding
  the connection's ReceiveBuffer), so a request costs one future.
* Any error during a request -- a timeout, a bad reply, and the task being
  cancelled -- discards that connection (its transport is closed and its
  buffer dropped), so a half-read reply never reaches the next caller.
* ``max_connections`` bounds the connections open at once; a checkout
  waits up to ``pool_timeout`` seconds for a free one.
* ``timeout`` bounds each request (connect, send and the whole reply).
* A pool belongs to the event loop that first used it; used from another
  loop (e.g. a new ``asyncio.run``) it drops the old loop's connections.
* A request marked *idempotent* is retried once on a fresh connection
  when a reused connection turns out to be closed before any reply byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any, Awaitable, Callable, List, Optional, TypeVar

from kt.connection import (
    RECV_MAX,
    RECV_SIZE,
    PoolSettings,
    _ClosedBeforeReply,
    format_address,
    read_error,
)
from kt.errors import ServerConnectionError
from kt.protocol.buffer import Payload, ReceiveBuffer

__all__ = ["AsyncConnection", "AsyncConnectionPool"]

T = TypeVar("T")
Parse = Callable[[ReceiveBuffer], Optional[Any]]


async def _within(awaitable: Awaitable[T], timeout: Optional[float]) -> T:
    if timeout is None:
        return await awaitable
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout):
            return await awaitable
    return await asyncio.wait_for(awaitable, timeout)  # pragma: no cover - Python 3.10


class _ReplyProtocol(asyncio.Protocol):
    """Hands the transport's events to its AsyncConnection."""

    def __init__(self, conn: "AsyncConnection") -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        self.conn._data_received(data)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.conn._connection_lost(exc)

    def pause_writing(self) -> None:
        self.conn._paused = True

    def resume_writing(self) -> None:
        self.conn._resume_writing()


class AsyncConnection:
    """One TCP connection (an asyncio transport and protocol) with its
    receive buffer.  Replies are parsed as bytes arrive (``parse`` runs in
    ``data_received``), and the waiting request gets the result through one
    future: no stream reader in between."""

    __slots__ = ("host", "port", "timeout", "connect_timeout", "transport", "buf", "loop",
                 "last_used", "requests", "generation", "_parse", "_waiter", "_received",
                 "_paused", "_drained")

    def __init__(self, host: str, port: int, timeout: Optional[float] = None,
                 connect_timeout: Optional[float] = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else timeout
        self.transport: Optional[asyncio.Transport] = None
        self.buf = ReceiveBuffer()
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.last_used = time.monotonic()
        self.requests = 0
        self.generation = 0
        self._parse: Optional[Parse] = None
        self._waiter: Optional["asyncio.Future[Any]"] = None
        self._received = False
        self._paused = False
        self._drained: Optional["asyncio.Future[None]"] = None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def is_open(self) -> bool:
        return self.transport is not None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await _within(
                loop.create_connection(lambda: _ReplyProtocol(self), self.host, self.port),
                self.connect_timeout)
        except asyncio.TimeoutError:
            raise ServerConnectionError("cannot connect to %s: timed out" % self.address) from None
        except OSError as exc:
            raise ServerConnectionError("cannot connect to %s: %s" % (
                self.address, exc.strerror or exc)) from exc
        self.transport = transport
        self.loop = loop

    async def request(self, data: Payload, parse: Parse) -> Any:
        """Send ``data`` and read the reply with ``parse`` (within ``timeout``)."""
        if self.timeout is None:
            result = await self._request(data, parse)
        else:
            try:
                result = await _within(self._request(data, parse), self.timeout)
            except asyncio.TimeoutError:
                raise ServerConnectionError("request to %s timed out after %s seconds"
                                            % (self.address, self.timeout)) from None
        self.requests += 1
        return result

    async def send(self, data: Payload) -> None:
        """Send ``data`` whole (connects first if needed)."""
        try:
            await _within(self._send(data), self.timeout)
        except asyncio.TimeoutError:
            raise ServerConnectionError("sending to %s timed out after %s seconds"
                                        % (self.address, self.timeout)) from None

    async def _send(self, data: Payload) -> None:
        if self.transport is None:
            await self.connect()
        transport = self.transport
        assert transport is not None
        if isinstance(data, bytes):
            transport.write(data)
        else:  # written as encoded: the kernel sends each piece at once when it has room
            for piece in data.pieces():
                transport.write(piece)
        if self._paused:  # the kernel's buffer is full: wait for room
            assert self.loop is not None
            self._drained = self.loop.create_future()
            await self._drained

    async def _request(self, data: Payload, parse: Parse) -> Any:
        buf = self.buf
        self._received = len(buf) > 0
        if self._received:  # bytes left over (never from a healthy server)
            result = parse(buf)
            if result is not None:
                return result
        await self._send(data)
        if self.transport is None:
            raise read_error(self.address, None, self._received, self.timeout)
        assert self.loop is not None
        waiter = self.loop.create_future()
        self._parse = parse
        self._waiter = waiter
        try:
            return await waiter
        finally:
            self._waiter = None
            self._parse = None

    def _data_received(self, data: bytes) -> None:
        self.buf.feed(data)
        self._received = True
        waiter = self._waiter
        parse = self._parse
        if waiter is None or parse is None or waiter.done():
            return
        try:
            result = parse(self.buf)
        except Exception as exc:  # ProtocolError, ServerError: the request's
            waiter.set_exception(exc)
            return
        if result is not None:
            waiter.set_result(result)

    def _connection_lost(self, exc: Optional[Exception]) -> None:
        self.transport = None
        error = read_error(self.address, exc if isinstance(exc, OSError) else None,
                           self._received, self.timeout)
        for future in (self._waiter, self._drained):
            if future is not None and not future.done():
                future.set_exception(error)

    def _resume_writing(self) -> None:
        self._paused = False
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def close(self) -> None:
        transport, self.transport = self.transport, None
        self.buf.clear()
        if transport is not None and not transport.is_closing():
            with contextlib.suppress(RuntimeError):  # its loop may be closed already
                transport.close()

    def __repr__(self) -> str:
        return "<AsyncConnection %s %s>" % (self.address, "open" if self.transport else "closed")


class AsyncConnectionPool(PoolSettings):
    """A LIFO pool of asyncio connections to one server, shared by the
    tasks of one event loop.  Parameters as for kt.connection.ConnectionPool."""

    def _reset(self) -> None:
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._idle: List[AsyncConnection] = []
        self._room: Optional[asyncio.Semaphore] = None

    @property
    def idle_count(self) -> int:
        """Connections waiting in the pool."""
        return len(self._idle)

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        # First use, or a new event loop: the old loop's connections are
        # unusable here; drop them and start over.
        for conn in self._idle:
            conn.close()
        self._reset()
        self._in_use = 0
        self._generation += 1
        self._loop = loop
        self._room = (asyncio.Semaphore(self.max_connections)
                      if self.max_connections is not None else None)

    async def acquire(self) -> AsyncConnection:
        """Check a connection out (it may not be connected yet)."""
        self._check_loop()
        room = self._room
        if room is not None:
            try:
                await _within(room.acquire(), self.pool_timeout)
            except asyncio.TimeoutError:
                raise ServerConnectionError(
                    "no free connection to %s within %s seconds (max_connections=%s)"
                    % (self.address, self.pool_timeout, self.max_connections)) from None
        self._in_use += 1
        idle = self._idle
        if idle:
            conn = idle.pop()
            if (self.max_idle_time is not None
                    and time.monotonic() - conn.last_used > self.max_idle_time):
                conn.close()
            return conn
        conn = AsyncConnection(self.host, self.port, self.timeout, self.connect_timeout)
        conn.generation = self._generation
        return conn

    def _give_back(self) -> None:
        self._in_use -= 1
        if self._room is not None:
            self._room.release()

    def release(self, conn: AsyncConnection) -> None:
        """Check a healthy connection back in."""
        if conn.loop is not None and conn.loop is not self._loop:
            conn.close()  # checked out on another event loop
            return
        if conn.generation != self._generation:
            conn.close()
            self._give_back()
            return
        conn.last_used = time.monotonic()
        if conn.is_open:
            self._idle.append(conn)
        self._give_back()

    def discard(self, conn: AsyncConnection) -> None:
        """Close a connection that failed (or whose task was cancelled)."""
        conn.close()
        if conn.loop is not None and conn.loop is not self._loop:
            return
        self._give_back()

    def abandon(self, conn: AsyncConnection) -> None:
        """Give up a checked-out connection from a finalizer: ``discard``
        runs later on the pool's event loop (thread-safe scheduling, no
        network I/O here); nothing when that loop is closed."""
        loop = self._loop
        if loop is None or loop.is_closed() or (conn.loop is not None and conn.loop is not loop):
            return
        try:
            loop.call_soon_threadsafe(self.discard, conn)
        except RuntimeError:  # closed meanwhile
            pass

    async def execute(self, data: Payload, parse: Parse, idempotent: bool = False,
                      reusable: Optional[Callable[[Any], bool]] = None) -> Any:
        """Send one request and return its parsed reply (see
        kt.connection.ConnectionPool.execute)."""
        retry = idempotent
        while True:
            conn = await self.acquire()
            if not retry and idempotent:
                conn.close()  # the retry: on a new connection
            reused = conn.is_open
            try:
                result = await conn.request(data, parse)
                break
            except _ClosedBeforeReply:
                # a reused connection the server had closed: once more, anew
                self.discard(conn)
                if not (retry and reused):
                    raise
                retry = False
            except BaseException:  # cancellation included
                self.discard(conn)
                raise
        if reusable is None or reusable(result):
            self.release(conn)
        else:
            self.discard(conn)
        return result

    async def send_only(self, data: Payload) -> None:
        """Send a request that has no reply."""
        conn = await self.acquire()
        try:
            await conn.send(data)
        except BaseException:
            self.discard(conn)
            raise
        self.release(conn)

    def close_idle(self, older_than: float = 0.0) -> int:
        """Close idle connections unused for more than ``older_than`` seconds."""
        now = time.monotonic()
        stale = [c for c in self._idle if now - c.last_used >= older_than]
        self._idle = [c for c in self._idle if now - c.last_used < older_than]
        for conn in stale:
            conn.close()
        return len(stale)

    def close_all(self) -> int:
        """Close every idle connection (and, when they come back, those in
        use); returns how many were idle."""
        self._generation += 1
        return self.close_idle(0.0)

    def __repr__(self) -> str:
        return "<AsyncConnectionPool %s: %d idle, %d in use>" % (
            self.address, self.idle_count, self._in_use)
