"""Sockets and the connection pool shared by both clients.

Who calls it: kt.kyoto and kt.tyrant.  It knows nothing about the protocols:
a request is bytes to send (or a kt.protocol.buffer.Pieces, sent piece by
piece as it is encoded) plus a *parse function* from kt.protocol that
reads the reply from the connection's ReceiveBuffer.

Rules it enforces:

* One request at a time per connection: a connection is checked out of the
  pool for the whole request and back in afterwards, so threads and
  greenlets never share a socket mid-request.
* Any error during a request discards that connection (its socket is
  closed and its buffer dropped); the next request opens a new one.
* Fork safety: a pool notices that it runs in a forked child (a counter
  bumped by ``os.register_at_fork``, so no system call per request) and
  drops the parent's connections there (without sending anything on them).
* Errors: OSError and timeouts become ServerConnectionError naming
  ``host:port``; parsers raise ProtocolError / ServerError themselves.
* A connection that sat idle in the pool may have been closed by the server
  (ktserver closes idle connections after its ``-tout``).  Connections idle
  longer than ``max_idle_time`` (counted from their last checkout) are
  dropped at checkout, and a request the caller marks *idempotent* is
  retried once on a fresh connection when a reused connection turns out to
  be closed (or reset while the request was sent) before any reply byte
  arrived.

The socket module is a parameter (``socket_module``), so tests and gevent
users can inject their own; by default it is looked up in ``socket`` at
connect time, which is what gevent's monkey-patching replaces.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from types import ModuleType
from typing import Any, Callable, Final, List, Optional, TypeVar

from kt.errors import ServerConnectionError
from kt.protocol.buffer import Payload, ReceiveBuffer

T = TypeVar("T")
_T = TypeVar("_T")

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # pragma: no cover - pure build without mypy installed
    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[_T], _T]:
        def keep(cls: _T) -> _T:
            return cls
        return keep

__all__ = ["Connection", "ConnectionPool", "PoolSettings", "format_address", "mypyc_attr",
           "read_error"]

#: Bytes asked of the kernel by the first recv() of a reply.  Kept small:
#: CPython allocates the whole size for every call, and a large allocation
#: (an mmap) costs more than the round trip of a small request.  Reads that
#: fill it grow the size fourfold, up to RECV_MAX, for the rest of that reply.
RECV_SIZE: Final = 16 * 1024
RECV_MAX: Final = 1024 * 1024


# Incremented in every forked child (os.register_at_fork), so that pools and
# connections can tell "we are in a child now" without a getpid() system
# call per request.
_fork_epoch: Final = [0]

#: Bound once: mypyc keeps Final module names in C statics, so the hot path
#: reads the clock without a lookup in the module's globals.
_monotonic: Final = time.monotonic


def _after_fork_in_child() -> None:
    _fork_epoch[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def fork_epoch() -> int:
    """Changes in a child process after fork (cheap fork detection)."""
    return _fork_epoch[0]


class _ClosedBeforeReply(ServerConnectionError):
    """The peer closed the connection before sending any byte of the reply."""


class Connection:
    """One TCP connection with its receive buffer."""

    __slots__ = ("host", "port", "timeout", "connect_timeout", "sock", "buf",
                 "pid", "epoch", "last_used", "requests", "generation", "_socket_module")

    def __init__(self, settings: PoolSettings, generation: int) -> None:
        """A connection (not opened yet) to the server of the pool
        ``settings``, in the pool's ``generation``."""
        self.host = settings.host
        self.port = settings.port
        self.timeout = settings.timeout
        connect_timeout = settings.connect_timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else settings.timeout
        self.sock: Optional[Any] = None
        self.buf = ReceiveBuffer()
        self.pid = os.getpid()
        self.epoch = _fork_epoch[0]
        self.last_used = _monotonic()
        self.requests = 0
        self.generation = generation
        self._socket_module = settings.socket_module

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def connect(self) -> Any:
        mod = self._socket_module if self._socket_module is not None else socket
        try:
            sock = mod.create_connection((self.host, self.port), self.connect_timeout)
        except OSError as exc:
            raise ServerConnectionError(
                "cannot connect to %s: %s" % (self.address, _describe(exc))
            ) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
        except OSError as exc:
            sock.close()
            raise ServerConnectionError(
                "cannot set up the connection to %s: %s" % (self.address, _describe(exc))
            ) from exc
        self.sock = sock
        self.pid = os.getpid()
        self.epoch = _fork_epoch[0]
        return sock

    def send(self, data: Payload) -> None:
        """Send ``data`` whole (connects first if needed): bytes in one
        call, a Pieces piece by piece as they are encoded."""
        sock = self.sock
        if sock is None:
            sock = self.connect()
        try:
            if isinstance(data, bytes):
                sock.sendall(data)
            else:
                sendall = sock.sendall
                for piece in data.pieces():
                    sendall(piece)
        except OSError as exc:
            raise read_error(self.address, exc, False, self.timeout) from exc

    def read(self, parse: Callable[[ReceiveBuffer], Optional[T]]) -> T:
        """Read until ``parse`` returns a result."""
        sock = self.sock
        if sock is None:
            raise ServerConnectionError("%s: read on a connection that is not open" % self.address)
        buf = self.buf
        received = len(buf) > 0
        if received:
            result = parse(buf)
            if result is not None:
                return result
        recv = sock.recv
        size = RECV_SIZE
        while True:
            try:
                chunk = recv(size)
            except OSError as exc:
                raise read_error(self.address, exc, received, self.timeout) from exc
            if not chunk:
                raise read_error(self.address, None, received, self.timeout)
            received = True
            if len(chunk) == size and size < RECV_MAX:
                size *= 4
            buf.feed(chunk)
            result = parse(buf)
            if result is not None:
                return result

    def request(self, data: Payload, parse: Callable[[ReceiveBuffer], Optional[T]]) -> T:
        """Send ``data`` and read the reply with ``parse``."""
        self.send(data)
        result = self.read(parse)
        self.requests += 1
        return result

    def close(self) -> None:
        sock = self.sock
        self.sock = None
        self.buf.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def __repr__(self) -> str:
        state = "open" if self.sock is not None else "closed"
        return "<Connection %s %s>" % (self.address, state)


def format_address(host: str, port: int) -> str:
    """``host:port`` as error messages name it (IPv6 hosts in brackets)."""
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def read_error(address: str, exc: Optional[OSError], received: bool,
               timeout: Optional[float]) -> ServerConnectionError:
    """The error for a failed read of a reply: ``exc`` is the OSError (None
    when the server closed the connection); ``received`` says whether any
    byte of the reply had arrived.  A connection closed or reset before the
    reply gives _ClosedBeforeReply, which a pool may retry."""
    if exc is None:
        if not received:
            return _ClosedBeforeReply(
                "connection to %s was closed by the server before the reply" % address)
        return ServerConnectionError(
            "connection to %s was closed by the server in the middle of a reply" % address)
    if not received and _is_reset(exc):
        return _ClosedBeforeReply("connection to %s was reset before the reply" % address)
    if isinstance(exc, socket.timeout):
        return ServerConnectionError("request to %s timed out after %s seconds"
                                     % (address, timeout))
    return ServerConnectionError("connection to %s lost: %s" % (address, _describe(exc)))


def _describe(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


def _is_reset(exc: OSError) -> bool:
    return isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))


@mypyc_attr(allow_interpreted_subclasses=True)
class PoolSettings:
    """What both pools (ConnectionPool, and kt.aio_connection's asyncio
    twin) keep: the server's address, limits and timeouts, and how many
    connections are checked out (``in_use_count``: the asyncio pool counts
    them, ConnectionPool derives them from what it made and retired).  The
    parameters are ConnectionPool's."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        max_connections: Optional[int] = None,
        pool_timeout: Optional[float] = None,
        max_idle_time: Optional[float] = 20.0,
        socket_module: Optional[ModuleType] = None,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self.max_idle_time = max_idle_time
        self.socket_module = socket_module  # the sync pool's connections use it
        self._in_use = 0
        self._generation = 0
        self._reset()

    def _reset(self) -> None:
        """Set up (or start over) the pool's own state."""

    @property
    def address(self) -> str:
        return "%s:%d" % (self.host, self.port)

    @property
    def in_use_count(self) -> int:
        """Connections checked out (by requests or cursors)."""
        return self._in_use


class ConnectionPool(PoolSettings):
    """A LIFO pool of connections to one server, safe for threads, greenlets
    and forked children.

    ``max_connections`` bounds the connections open at once (None: no
    bound); when they are all busy, a checkout waits up to ``pool_timeout``
    seconds (None: forever) and then raises ServerConnectionError.
    ``max_idle_time`` drops connections that sat unused longer than that.
    """

    def _reset(self) -> None:
        self._epoch = _fork_epoch[0]
        self._lock = threading.Lock()
        # Only a bounded pool waits for connections to come back.
        self._cond: Optional[threading.Condition] = (
            threading.Condition(self._lock) if self.max_connections is not None else None)
        self._idle: List[Connection] = []
        # Connections made and retired (closed for good), counted under the
        # lock; those in use are the rest of the made ones, less the idle.
        self._made = 0
        self._retired = 0
        self._generation = 0
        # connections given up by finalizers (see abandon), not yet counted
        self._abandoned: List[int] = []

    def _check_fork(self) -> None:
        if self._epoch != _fork_epoch[0]:
            # A forked child: the parent's sockets must never carry our
            # requests.  Close only our copies of the file descriptors.
            for conn in self._idle:
                conn.close()
            self._reset()

    def acquire(self) -> Connection:
        """Check a connection out (it may not be connected yet).

        An unbounded pool takes an idle connection without its lock: popping
        from a list is atomic (one C call, under the GIL), so two threads
        never get the same connection.  Everything that counts connections
        happens under the lock."""
        if self._epoch != _fork_epoch[0]:
            self._check_fork()
        conn: Optional[Connection] = None
        if self._cond is None and self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:  # another thread took the last one
                conn = None
        if conn is None or conn.generation != self._generation:
            if conn is not None:  # idle across a close_all()
                self._retire(conn)
            conn = self._checkout()
            if conn is None:
                return Connection(self, self._generation)
        max_idle = self.max_idle_time
        if max_idle is not None:
            # Idle time counts from the last checkout (one clock read per
            # request): it errs on the long side, which only reconnects early.
            now = _monotonic()
            if now - conn.last_used > max_idle:
                conn.close()
            conn.last_used = now
        return conn

    def _checkout(self) -> Optional[Connection]:
        """Under the lock: an idle connection, or None after counting a new
        one (a bounded pool first waits for room)."""
        with self._lock:
            if self._abandoned:
                self._settle()
            if not self._idle and self._cond is not None:
                self._wait_for_room()
            if self._idle:
                return self._idle.pop()
            self._made += 1
            return None

    def _retire(self, conn: Connection) -> None:
        """Close a checked-out connection for good and count it."""
        conn.close()
        with self._lock:
            self._retired += 1
            if self._cond is not None:
                self._cond.notify()

    def abandon(self, conn: Connection) -> None:
        """Give up a checked-out connection from a finalizer (``__del__``).

        A finalizer may run during cyclic garbage collection, after the
        collector has already closed the connection's socket, and in any
        thread, even one that holds this pool's lock: so the connection is
        never handed back, no request is sent, and the lock is only tried,
        never waited for.  The socket is closed (a no-op when the collector
        closed it first); the pool counts the connection as gone at once,
        or at its next checkout if the lock is busy."""
        conn.close()
        if conn.epoch != _fork_epoch[0] or self._epoch != _fork_epoch[0]:
            return  # the pool starts over in a forked child anyway
        self._abandoned.append(1)  # atomic: no lock needed
        if self._lock.acquire(False):
            try:
                self._settle()
            finally:
                self._lock.release()

    def _settle(self) -> None:
        # Called with the lock held: count the abandoned connections as gone.
        abandoned = self._abandoned
        n = len(abandoned)
        if n:
            del abandoned[:n]
            self._retired += n
            if self._cond is not None:
                self._cond.notify(n)

    def _wait_for_room(self) -> None:
        # Called with the lock held, in a bounded pool.
        cond = self._cond
        assert cond is not None and self.max_connections is not None
        deadline: Optional[float] = None
        while not self._idle and self._made - self._retired >= self.max_connections:
            if self._abandoned:
                self._settle()
                continue
            if deadline is None and self.pool_timeout is not None:
                deadline = time.monotonic() + self.pool_timeout
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ServerConnectionError(
                    "no free connection to %s within %s seconds (max_connections=%d)"
                    % (self.address, self.pool_timeout, self.max_connections)
                )
            cond.wait(remaining)

    def release(self, conn: Connection) -> None:
        """Check a healthy connection back in (an unbounded pool without
        its lock: appending to a list is atomic)."""
        epoch = _fork_epoch[0]
        if conn.epoch != epoch or self._epoch != epoch:
            conn.close()
            self._check_fork()
            return
        if conn.sock is None or conn.generation != self._generation:
            self._retire(conn)
        elif self._cond is None:
            self._idle.append(conn)
        else:
            with self._lock:
                self._idle.append(conn)
                self._cond.notify()

    def discard(self, conn: Connection) -> None:
        """Close a connection that failed and forget it."""
        if self._epoch != _fork_epoch[0]:
            conn.close()
            self._check_fork()
            return
        self._retire(conn)

    def execute(
        self,
        data: Payload,
        parse: Callable[[ReceiveBuffer], Optional[T]],
        idempotent: bool = False,
        reusable: Optional[Callable[[T], bool]] = None,
    ) -> T:
        """Send one request and return its parsed reply.

        ``parse`` must be a fresh parse function for this request.  A
        request marked ``idempotent`` is retried once on a new connection
        when a reused connection turns out to be closed by the server.
        ``reusable(result)`` returning False (e.g. an HTTP reply with
        ``Connection: close``) closes the connection instead of pooling it.
        """
        conn = self.acquire()
        reused = conn.sock is not None
        try:
            result = conn.request(data, parse)
        except _ClosedBeforeReply:
            self.discard(conn)
            if not (reused and idempotent):
                raise
            conn = self.acquire()
            conn.close()
            try:
                result = conn.request(data, parse)
            except BaseException:
                self.discard(conn)
                raise
        except BaseException:
            self.discard(conn)
            raise
        if reusable is not None and not reusable(result):
            self.discard(conn)
        else:
            self.release(conn)
        return result

    def send_only(self, data: Payload) -> None:
        """Send a request that has no reply (no-reply flag, putnr)."""
        conn = self.acquire()
        try:
            conn.send(data)
        except BaseException:
            self.discard(conn)
            raise
        self.release(conn)

    def close_idle(self, older_than: float = 0.0) -> int:
        """Close idle connections unused for more than ``older_than`` seconds;
        returns how many were closed."""
        self._check_fork()
        now = _monotonic()
        closing: List[Connection] = []
        with self._lock:
            # pop them one by one: a lock-free checkout or checkin may run
            # meanwhile, and each connection must end up in one place
            keep: List[Connection] = []
            idle = self._idle
            while idle:
                try:
                    conn = idle.pop()
                except IndexError:
                    break
                (closing if now - conn.last_used >= older_than else keep).append(conn)
            idle.extend(reversed(keep))
            self._retired += len(closing)
        for conn in closing:
            conn.close()
        return len(closing)

    def close_all(self) -> int:
        """Close every idle connection; connections in use are closed when
        they come back.  Returns how many idle ones were closed."""
        with self._lock:
            self._generation += 1
        return self.close_idle(0.0)

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    @property
    def in_use_count(self) -> int:
        """Connections checked out (by requests or cursors)."""
        return self._made - self._retired - len(self._idle) - len(self._abandoned)

    def __repr__(self) -> str:
        return "<ConnectionPool %s idle=%d in_use=%d>" % (
            self.address, len(self._idle), self.in_use_count)
