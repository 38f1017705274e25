"""Run the synchronous client suites against the asyncio clients too.

The client suites (test_kyoto_client, test_tyrant_client, test_table) take
their clients from the ``connect`` fixture, parametrised by ``FLAVOURS``:
"sync" gives KyotoTycoon / TokyoTyrant, "async" gives an
AsyncKyotoTycoon / AsyncTokyoTyrant wrapped in ``Blocking``, which runs
each awaitable on an event loop in a background thread (uvloop's when
``KT_TEST_UVLOOP=1`` and uvloop is installed) and turns ``async for``
iteration into lists.  So every case of the synchronous suites runs,
unchanged, through the asyncio clients: same arguments, same errors, same
results.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import pytest

from kt import AsyncKyotoTycoon, AsyncTokyoTyrant, KyotoTycoon, ServerConnectionError, TokyoTyrant
from kt.aio import AsyncCursor
from servers import RunningServer, server_kinds

FLAVOURS = ["sync", "async"]

_CLASSES: Dict[str, Dict[str, Any]] = {
    "sync": {"kyoto": KyotoTycoon, "tyrant": TokyoTyrant},
    "async": {"kyoto": AsyncKyotoTycoon, "tyrant": AsyncTokyoTyrant},
}


def new_loop() -> asyncio.AbstractEventLoop:
    if os.environ.get("KT_TEST_UVLOOP") == "1":
        import uvloop

        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    return asyncio.new_event_loop()


class _LoopThread:
    def __init__(self) -> None:
        self.loop = new_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Any) -> Any:
        async def wrap() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(60)


_runner: Optional[_LoopThread] = None
_runner_lock = threading.Lock()


def runner() -> _LoopThread:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = _LoopThread()
        return _runner


async def _collect(iterator: Any) -> List[Any]:
    return [item async for item in iterator]


def _blocking(value: Any) -> Any:
    """A value of an async client as the sync client would give it."""
    if inspect.isawaitable(value):
        value = runner().run(value)
    if isinstance(value, AsyncCursor):
        return BlockingCursor(value)
    if isinstance(value, (AsyncKyotoTycoon, AsyncTokyoTyrant)):
        return Blocking(value)
    if hasattr(value, "__aiter__") and not isinstance(value, Blocking):
        return iter(runner().run(_collect(value)))
    if type(value).__name__ in ("LuaHelper", "TTLuaHelper"):
        return Blocking(value)
    return value


class Blocking:
    """A synchronous face of an asyncio client (or cursor, or helper)."""

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            def call(*args: Any, **kwargs: Any) -> Any:
                return _blocking(value(*args, **kwargs))

            return call
        return _blocking(value)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def _split(self, key: Any) -> List[Any]:
        if hasattr(self._target, "_split_key"):
            return list(self._target._split_key(key))
        return [key]

    def __getitem__(self, key: Any) -> Any:
        return _blocking(self._target[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        runner().run(self._target._setitem(key, value))

    def __delitem__(self, key: Any) -> None:
        runner().run(self._target.remove(*self._split(key)))

    def __contains__(self, key: Any) -> bool:
        return bool(runner().run(self._target.exists(*self._split(key))))

    def __len__(self) -> int:
        return int(runner().run(self._target.count()))

    def __iter__(self) -> Iterator[Any]:
        return iter(runner().run(_collect(self._target.__aiter__())))

    def __enter__(self) -> "Blocking":
        return self

    def __exit__(self, *exc: object) -> None:
        runner().run(self._target.close())

    def __repr__(self) -> str:
        return "<Blocking %r>" % (self._target,)


class BlockingCursor(Blocking):
    """``with`` and ``for`` over an AsyncCursor."""

    def __len__(self) -> int:
        raise TypeError("a cursor has no length")


def client_for(flavour: str, kind: str, **kwargs: Any) -> Any:
    """A client of ``kind`` ("kyoto" or "tyrant") in ``flavour``."""
    client = _CLASSES[flavour][kind](**kwargs)
    return client if flavour == "sync" else Blocking(client)


def connector(flavour: str, kind: str) -> Callable[..., Any]:
    def connect(**kwargs: Any) -> Any:
        return client_for(flavour, kind, **kwargs)

    return connect


def connect_fixture(kind: str) -> Any:
    """The ``connect`` fixture of a client suite: makes a client of
    ``kind``, sync or (behind a Blocking face) async."""

    @pytest.fixture(params=FLAVOURS)
    def connect(request: pytest.FixtureRequest) -> Callable[..., Any]:
        return connector(request.param, kind)

    return connect


def client_fixture(server: str, dbs: Sequence[int] = (), connect: str = "connect",
                   **options: Any) -> Any:
    """A fixture yielding a client (sync or async, from the module's
    ``connect`` fixture) of the server fixture named ``server``, its
    databases ``dbs`` (or its only one) cleared first; ``options`` go to
    the client's constructor."""

    def client(**fixtures: Any) -> Iterator[Any]:
        make = fixtures[connect]
        yield from cleared(make(port=fixtures[server].port, timeout=10, **options), dbs)

    # pytest reads the fixtures a fixture needs from its signature.
    client.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
         for name in (connect, server)])
    return pytest.fixture(client)


def restart_test(kind: str, stored: object) -> Any:
    """A test of a client surviving its server's restart: requests fail
    with ServerConnectionError (naming no other error) while the server is
    down, and work again, on fresh connections, once it is back on its port
    (``stored`` is what ``set`` answers)."""

    @pytest.mark.parametrize("impl", server_kinds(kind))
    def test_server_killed_then_back(impl: str, connect: Callable[..., Any]) -> None:
        server = RunningServer(kind, impl, databases=["*"]).start()
        try:
            c = connect(port=server.port, timeout=5)
            c.set("k", "v")
            assert c.get("k") == "v"
            port = server.port
            server.stop()
            with pytest.raises(ServerConnectionError):
                c.get("k")
            with pytest.raises(ServerConnectionError):
                c.set("k", "v")
            server.start(port)
            assert c.get("k") is None  # on-memory database: empty after the restart
            assert c.set("k", "again") == stored
            assert c.get("k") == "again"
            assert c.exists("k")
        finally:
            server.stop()

    return test_server_killed_then_back


def seed_common_features(client: Any, stored: object, bulk_stored: object,
                         bulk_removed: object) -> None:
    """The "common features" example of the original library's docs, which
    both clients follow; ``stored`` and the bulk results are what each
    protocol answers (a count for Kyoto Tycoon, True for Tokyo Tyrant)."""
    def same(got: object, expected: object) -> bool:  # True is not 1 here
        return type(got) is type(expected) and got == expected

    assert same(client.set("k1", "v1"), stored)
    assert client.get("k1") == "v1"
    assert client.remove("k1") == 1
    assert client.get("not-here") is None
    assert client.remove("not-here") == 0
    client.set("k1", "v1")
    assert client.exists("k1") is True
    assert client.exists("not-here") is False
    assert same(client.set_bulk({"k1": "v1", "k2": "v2", "k3": "v3"}), bulk_stored)
    assert client.get_bulk(["k1", "k2", "k3", "not-here"]) == {"k1": "v1", "k2": "v2", "k3": "v3"}
    assert same(client.remove_bulk(["k1", "k2", "k3", "not-here"]), bulk_removed)
    client["k1"] = "v1"
    assert client["k1"] == "v1"
    del client["k1"]


def cleared(client: Any, dbs: Sequence[int] = ()) -> Iterator[Any]:
    """Yield ``client`` with its databases cleared, then close it."""
    if dbs:
        for db in dbs:
            client.clear(db=db)
    else:
        client.clear()
    yield client
    client.close()


def is_async(client: Any) -> bool:
    return isinstance(client, Blocking)
