"""The asyncio sharded clients: ``AsyncShardedKyotoTycoon`` and
``AsyncShardedTokyoTyrant``.

Who calls it: users (``from kt import AsyncShardedKyotoTycoon``).

They are the sharded clients' methods (kt.sharding.ShardedKyotoMethods,
ShardedTyrantMethods: placement, splitting, merging, failover, written
once) over the asyncio clients (kt.aio): the transport below awaits one
shard's client, and runs several shards with ``asyncio.gather``.  Same
arguments, errors and results as the synchronous sharded clients, as
awaitables; ``keys()``, ``values()`` and ``items()`` are ``async for``.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, AsyncIterator, List, Optional, Tuple

from kt.aio import AsyncKyotoTycoon, AsyncTokyoTyrant, AwaitedOnly
from kt.errors import ServerConnectionError
from kt.sharding import (Kwargs, Merge, ShardedKyotoMethods, ShardedMethods, ShardedTyrantMethods,
                         _invoke)

__all__ = ["AsyncShardedKyotoTycoon", "AsyncShardedTokyoTyrant"]


async def _settle(value: Any) -> Any:
    """What an asyncio client's method gives, awaited or collected."""
    if inspect.isawaitable(value):
        return await value
    if hasattr(value, "__aiter__"):
        return [item async for item in value]
    return value


async def _items(merged: Any) -> AsyncIterator[Any]:
    for item in await merged:
        yield item


async def _async_one(self: ShardedMethods, shard: int, write: bool, name: str,
                     args: Optional[Tuple[Any, ...]], kwargs: Kwargs) -> Any:
    targets = self._targets(shard, write, name)
    left = list(targets)
    while left:
        server = left.pop(0)
        try:
            result = await _settle(_invoke(server.client, name, args, kwargs))
        except ServerConnectionError as exc:
            self._failed(server, shard, name, exc)
        else:
            return self._answered(server, result)
    raise self._unreachable(shard, name, targets)


class _AsyncShards(AwaitedOnly, ShardedMethods):
    """The asyncio transport: shards awaited together."""

    def _one(self, shard: int, write: bool, name: str, args: Optional[Tuple[Any, ...]],
             kwargs: Kwargs = None) -> Any:
        return _async_one(self, shard, write, name, args, kwargs)

    async def _each(self, calls: List[Tuple[int, Tuple[Any, ...]]], write: bool, name: str,
                    finish: Merge, kwargs: Kwargs = None) -> Any:
        results = await asyncio.gather(
            *[_async_one(self, s, write, name, a, kwargs) for s, a in calls],
            return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return finish(results)

    def _iterate(self, merged: Any) -> Any:
        return _items(merged)

    async def close(self) -> None:
        """Close every server's idle connections; the client stays usable."""
        for client in self.clients():
            await client.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncShardedKyotoTycoon(_AsyncShards, ShardedKyotoMethods):
    """asyncio twin of ``ShardedKyotoTycoon``: it takes the same arguments as
    :class:`ShardedKyotoTycoon` (``client_kwargs`` go to each
    ``AsyncKyotoTycoon``) and has its methods, errors and results, awaitable."""

    _client_class = AsyncKyotoTycoon


class AsyncShardedTokyoTyrant(_AsyncShards, ShardedTyrantMethods):
    """asyncio twin of ``ShardedTokyoTyrant``: it takes the same arguments as
    :class:`ShardedTokyoTyrant` (``client_kwargs`` go to each
    ``AsyncTokyoTyrant``) and has its methods, errors and results, awaitable."""

    _client_class = AsyncTokyoTyrant
