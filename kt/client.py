"""What the KyotoTycoon and TokyoTyrant clients have in common, and how
one client source serves both the synchronous and the asyncio client.

Who calls it: kt.kyoto and kt.tyrant (the clients' methods), kt.aio (the
asyncio clients).

``PooledClient`` checks the constructor arguments, sets up the serializer
and the connection pool (kt.connection), provides the connection management
methods of the documented API (checkin, close, close_all, close_idle, the
context manager) and the *synchronous transport*:

* ``_call(data, parse, idempotent, reusable, finish, arg)`` runs one
  request: ``data`` are the encoded bytes, ``parse`` reads the reply from
  the connection's buffer (kt.protocol), ``finish(reply, arg)`` shapes the
  result.  Every single-request method of both clients is written once as
  "check arguments, encode, then ``return self._call(...)``".
* ``_send(data)`` sends a request that has no reply.
* ``_stream(plan)`` and ``_drive(plan, finish)`` run a *plan*: a
  generator that yields ``Request`` objects and receives their parsed
  replies, and yields pages (lists) of items; ``_stream`` hands the items
  to the caller one by one (keys(), items()...), ``_drive`` collects them
  and returns ``finish(items, None)``.  Methods that need several round
  trips (paged iteration, TT iter_from) are written once as plans.

kt.aio's asyncio clients inherit the same methods and override only these
transport methods (and ``_done``, a result known without a request) with coroutines over an asyncio pool, so a method's
argument checking, encoding and result shaping exist in one place.
Because the shared methods return whatever the transport returns (a value,
or an awaitable), they are annotated ``Any``: mypyc would otherwise check
the return type of the compiled method and refuse a coroutine.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Generator, Iterator, List, Mapping, Optional, TypeVar

from kt.connection import ConnectionPool, mypyc_attr
from kt.protocol.buffer import Payload, ReceiveBuffer
from kt.protocol.convert import as_is, text, value_to_bytes
from kt.serializers import KT_BINARY, KT_MSGPACK, KT_NONE, Serializer

_C = TypeVar("_C", bound="PooledClient")

__all__ = ["LuaHelper", "PooledClient", "Request", "Plan", "advance", "merge_items",
           "mypyc_attr", "number_text"]

#: A plan: yields Request (answered with its parsed reply) or a list of
#: items (handed to the caller of an iterator or to ``_drive``'s finish).
Plan = Generator[Any, Any, Any]
Finish = Callable[[Any, Any], Any]
Parse = Callable[[ReceiveBuffer], Any]


class Request:
    """One request of a plan: the bytes and how to read the reply."""

    __slots__ = ("data", "parse", "idempotent", "reusable")

    def __init__(self, data: Payload, parse: Parse, idempotent: bool = True,
                 reusable: Optional[Callable[[Any], bool]] = None) -> None:
        self.data = data
        self.parse = parse
        self.idempotent = idempotent
        self.reusable = reusable


def merge_items(data: Optional[Mapping[Any, Any]], kwargs: Mapping[str, Any]) -> Mapping[Any, Any]:
    """The records of a ``(__data=None, **kwargs)`` call, as one mapping:
    a dict ``data`` itself when there are no keyword records (never
    modified: a large dict is not copied), else a new dict."""
    if not kwargs and isinstance(data, dict):
        return data
    items: Dict[Any, Any] = {}
    if data is not None:
        items.update(data)
    if kwargs:
        items.update(kwargs)
    return items


def number_text(value: object) -> Optional[bytes]:
    """An int or float as its decimal text (how script() sends numbers, as
    the original library did: ``n=1`` reaches a Lua procedure as "1"), or
    None for any other value (bool included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        return repr(value).encode("ascii")
    return None


def advance(plan: Plan, reply: Any) -> Any:
    """The next step of ``plan`` given the reply to its last request, or
    None when the plan is done."""
    try:
        return plan.send(reply)
    except StopIteration:
        return None


@mypyc_attr(allow_interpreted_subclasses=True)
class PooledClient:
    """Serializer, key decoding and a connection pool to one server."""

    def __init__(
        self,
        host: str,
        port: int,
        serializer: Serializer,
        decode_keys: bool,
        timeout: Optional[float],
        max_connections: Optional[int],
        pool_timeout: Optional[float],
        connect_timeout: Optional[float],
        max_idle_time: Optional[float],
        socket_module: Any,
    ) -> None:
        if not isinstance(host, str):
            raise TypeError("host must be a str, not %s" % type(host).__name__)
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError("port must be an int, not %s" % type(port).__name__)
        if not hasattr(serializer, "encode") or not hasattr(serializer, "decode"):
            raise TypeError("serializer must have encode() and decode() methods")
        if serializer is KT_MSGPACK:
            KT_MSGPACK.check()  # type: ignore[attr-defined]
        self.host = host
        self.port = port
        self.serializer = serializer
        self.decode_keys = decode_keys
        self.timeout = timeout
        self._encode = serializer.encode
        self._decode = serializer.decode
        if serializer is KT_BINARY or serializer is KT_NONE:
            # the same conversions, as compiled functions (the serializers'
            # methods are interpreted Python, called once per value)
            self._encode = value_to_bytes
            self._decode = text if serializer is KT_BINARY else as_is
        # KT_BINARY and KT_NONE values are converted in compiled loops
        # (kt.protocol.convert) rather than one serializer call per record.
        self._text_values: Optional[bool] = (
            True if serializer is KT_BINARY else False if serializer is KT_NONE else None)
        self._pool = ConnectionPool(
            host, port, timeout=timeout, connect_timeout=connect_timeout,
            max_connections=max_connections, pool_timeout=pool_timeout,
            max_idle_time=max_idle_time, socket_module=socket_module,
        )
        self._open_transport(timeout, connect_timeout, max_connections, pool_timeout,
                             max_idle_time)

    @property
    def pool(self) -> Any:
        """The connection pool of this client (kt.connection.ConnectionPool)."""
        return self._pool

    @property
    def address(self) -> str:
        """The server's address as ``host:port``, as error messages name it."""
        return self._pool.address

    def _key_out(self, key: bytes) -> Any:
        return text(key) if self.decode_keys else key

    # -- the synchronous transport (kt.aio overrides these) -------------------

    def _call(self, data: Payload, parse: Parse, idempotent: bool,
              reusable: Optional[Callable[[Any], bool]], finish: Optional[Finish],
              arg: Any) -> Any:
        reply = self._pool.execute(data, parse, idempotent, reusable)
        return reply if finish is None else finish(reply, arg)

    def _send(self, data: Payload) -> Any:
        self._pool.send_only(data)
        return None

    def _open_transport(self, timeout: Optional[float], connect_timeout: Optional[float],
                        max_connections: Optional[int], pool_timeout: Optional[float],
                        max_idle_time: Optional[float]) -> None:
        """Set up another transport's pool (the sync one is ``_pool``)."""

    def _done(self, value: Any) -> Any:
        """A result known without asking the server (e.g. an empty bulk)."""
        return value

    def _drive(self, plan: Plan, finish: Finish) -> Any:
        """Run a plan to its end: ``finish`` shapes the list of its items."""
        return finish(list(self._stream(plan)), None)

    def _stream(self, plan: Plan) -> Iterator[Any]:
        """Run a plan lazily, yielding the items of the pages it yields."""
        execute = self._pool.execute
        step = advance(plan, None)
        while step is not None:
            if isinstance(step, Request):
                step = advance(plan, execute(step.data, step.parse, step.idempotent,
                                             step.reusable))
            else:
                yield from step
                step = advance(plan, None)

    # -- connection management --------------------------------------------------

    def checkin(self) -> None:
        """Kept for compatibility: connections go back to the pool after each
        request already, so there is nothing to return."""

    def close(self) -> Any:
        """Close the idle connections of this client.

        Connections in use close when they come back.  The client stays usable:
        the next request reconnects.

        Returns:
            None.
        """
        self._pool.close_all()
        return None

    def close_all(self) -> Any:
        """Close every pooled connection (those in use close when they come back).

        Returns:
            How many idle connections were closed.
        """
        return self._pool.close_all()

    def close_idle(self, older_than: float = 0.0) -> Any:
        """Close the connections that have been idle for a while.

        Args:
            older_than: idle for more than this many seconds (0: every idle one).

        Returns:
            How many connections were closed.
        """
        return self._pool.close_idle(older_than)

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LuaHelper:
    """``client.lua.name(...)`` is ``client.script("name", ...)``: the
    server-side procedure (Kyoto Tycoon) or extension function (Tokyo
    Tyrant) ``name`` called with the same arguments as ``script``."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        return functools.partial(self._client.script, name)

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self.__getattr__(name)
