"""Sharded clients: one client over several servers, each key on one shard.

Who calls it: users (``kt.ShardedKyotoTycoon``, ``kt.ShardedTokyoTyrant``,
``kt.Shard``), kt.aio_sharding (the asyncio twins reuse these methods).

A shard is a master server and, optionally, replicas of it (servers that
replicate from it).  Keys are placed on shards with ketama consistent
hashing (kt.ketama), so other ketama clients given the same shard names and
weights agree, and adding a shard moves about 1/N of the keys.

Layout, as in kt.client / kt.aio: the methods of the sharded clients are
written once, in ``ShardedKyotoMethods`` and ``ShardedTyrantMethods``, in
terms of three transport methods:

* ``_one(shard, write, name, args, finish)``: call method ``name`` of one
  shard's client (the master; for reads, a replica when the master cannot
  be reached) and shape the result with ``finish``;
* ``_each(calls, write, name, finish)``: ``_one`` on several shards at once
  (threads here, ``asyncio.gather`` in kt.aio_sharding), ``finish`` merges
  the list of results;
* ``_iterate(result)``: an iterator over a merged list (``async for`` in
  the asyncio clients).

Failover: a server that raises ServerConnectionError is marked down and
not asked again until its back-off has passed (1 s, doubling up to 30 s by
default, on an injectable clock); then one request tries it again.  Reads
go to the first server of the shard that is not marked down, master first;
writes only ever go to the master, and fail with ServerConnectionError
naming it.  Nothing is ever sent to another shard.
"""

from __future__ import annotations

import time
import types
from concurrent.futures import ThreadPoolExecutor
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from kt.client import merge_items
from kt.errors import ServerConnectionError, ShardingError
from kt.ketama import Continuum
from kt.kyoto import KyotoMethods, KyotoTycoon
from kt.protocol.convert import to_bytes
from kt.tyrant import TokyoTyrant

__all__ = ["Shard", "ShardedKyotoTycoon", "ShardedTokyoTyrant", "ShardedMethods",
           "ShardedKyotoMethods", "ShardedTyrantMethods"]

Key = Union[str, bytes]
Address = Union[str, Tuple[str, int]]
ServerSpec = Union[str, Tuple[Any, ...], "Shard"]
Merge = Callable[[List[Any]], Any]


def _address(spec: Any) -> Tuple[str, int]:
    """(host, port) of ``"host:port"`` or ``(host, port)``."""
    if isinstance(spec, str):
        host, sep, port = spec.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("a server address must be 'host:port', not %r" % (spec,))
        return host.strip("[]"), int(port)
    if (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)
            and isinstance(spec[1], int) and not isinstance(spec[1], bool)):
        return spec[0], spec[1]
    raise TypeError("a server address must be 'host:port' or (host, port), not %r" % (spec,))


class Shard:
    """One shard: a master server and the replicas that follow it.

    Args:
        master: the master's address, ``"host:port"`` or ``(host, port)``.
        replicas: addresses of servers replicating from the master; reads
            go to them when the master cannot be reached.
        weight: the shard's ketama weight (a positive int; a shard of
            weight 2 gets twice the keys of a shard of weight 1).
        name: the shard's name on the ketama continuum; by default the
            master's ``host:port``, as libmemcached names servers.  Give
            names to keep placements when a master moves.

    Raises:
        TypeError: an address or weight of the wrong type.
        ValueError: a malformed address.
    """

    def __init__(self, master: Address, replicas: Sequence[Address] = (), weight: int = 1,
                 name: Optional[str] = None) -> None:
        self.master = _address(master)
        self.replicas = [_address(r) for r in replicas]
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise TypeError("weight must be an int, not %s" % type(weight).__name__)
        self.weight = weight
        self.name = name if name is not None else "%s:%d" % self.master

    def __repr__(self) -> str:
        return "Shard(%r, replicas=%r, weight=%d, name=%r)" % (
            "%s:%d" % self.master, ["%s:%d" % r for r in self.replicas], self.weight, self.name)


def _shard(spec: ServerSpec) -> Shard:
    """A Shard from any of the constructor's server forms."""
    if isinstance(spec, Shard):
        return spec
    if isinstance(spec, tuple) and len(spec) == 3:
        return Shard((spec[0], spec[1]), weight=spec[2])
    return Shard(_address(spec))


class _Server:
    """One server of a shard: its client and its health."""

    __slots__ = ("address", "client", "role", "failures", "down_until")

    def __init__(self, address: str, client: Any, role: str) -> None:
        self.address = address
        self.client = client
        self.role = role
        self.failures = 0
        self.down_until = 0.0


# -- merging the results of several shards ------------------------------------------

def _merge_dicts(results: List[Any]) -> Dict[Any, Any]:
    merged: Dict[Any, Any] = {}
    for result in results:
        merged.update(result)
    return merged


def _concat(results: List[Any]) -> List[Any]:
    return [item for result in results for item in result]


def _total(results: List[Any]) -> Any:
    if any(r is None for r in results):  # no_reply writes
        return None
    return sum(results)


def _all_true(results: List[Any]) -> bool:
    return all(results)


def _sort_key(key: Any) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


class _SortedKeys:
    """Merge lists of keys in key (byte) order, cut at ``limit``."""

    def __init__(self, limit: Optional[int]) -> None:
        self.limit = limit if limit is not None and limit >= 0 else None

    def __call__(self, results: List[Any]) -> List[Any]:
        keys = sorted(_concat(results), key=_sort_key)
        return keys if self.limit is None else keys[:self.limit]


class _SortedItems:
    """Merge dicts of records in key order, cut at ``limit`` records."""

    def __init__(self, limit: Optional[int]) -> None:
        self.limit = limit

    def __call__(self, results: List[Any]) -> Dict[Any, Any]:
        items = sorted(((k, v) for r in results for k, v in r.items()),
                       key=lambda kv: _sort_key(kv[0]))
        return dict(items if self.limit is None else items[:self.limit])


def _materialize(value: Any) -> Any:
    """A generator (a client's lazy keys()/items()) as a list."""
    return list(value) if isinstance(value, types.GeneratorType) else value


_UNSHARDABLE: Dict[str, str] = {
    "cursor": "a cursor walks one server's database",
    "script": "a procedure may read or write keys of any shard",
    "lua": "a procedure may read or write keys of any shard",
    "ulog_list": "update logs belong to each server",
    "ulog_remove": "update logs belong to each server",
    "match_similar": "use match_prefix or match_regex",
    "report": "each server has its own report",
    "iter_from": "the server iterator's order means nothing across shards",
    "misc": "a misc function may touch keys of any shard",
    "search": "table searches with order and limit cannot be merged",
    "set_index": "indexes belong to each server",
    "optimize_index": "indexes belong to each server",
    "delete_index": "indexes belong to each server",
    "genuid": "each server has its own id sequence",
    "copy": "backups belong to each server",
    "restore": "update logs belong to each server",
    "set_master": "replication is configured per server",
    "error": "each server has its own last error",
    "Hash": "run it on client_for(key)",
    "Set": "run it on client_for(key)",
    "List": "run it on client_for(key)",
    "Queue": "run it on client_for(key)",
    "_search_keys": "table searches (QueryBuilder) with order and limit cannot be merged",
    "_search_records": "table searches (QueryBuilder) with order and limit cannot be merged",
    "_search_delete": "table searches (QueryBuilder) with order and limit cannot be merged",
    "_search_count": "table searches (QueryBuilder) with order and limit cannot be merged",
    "_search_hint": "table searches (QueryBuilder) with order and limit cannot be merged",
}


class ShardedMethods:
    """Placement, health and failover of the sharded clients, shared by
    the synchronous and the asyncio ones (the transport methods ``_one``,
    ``_each`` and ``_iterate`` are theirs)."""

    _client_class: Any = None

    def __init__(self, servers: Sequence[ServerSpec], retry_after: float = 1.0,
                 max_retry_after: float = 30.0, clock: Optional[Callable[[], float]] = None,
                 **client_kwargs: Any) -> None:
        if isinstance(servers, (str, Shard)) or not servers:
            raise ValueError("servers must be a non-empty list of shards")
        for arg in ("host", "port"):
            if arg in client_kwargs:
                raise TypeError("%s is given by the servers list, not as a keyword" % arg)
        if retry_after <= 0 or max_retry_after < retry_after:
            raise ValueError("need 0 < retry_after <= max_retry_after")
        shards = [_shard(s) for s in servers]
        self.retry_after = float(retry_after)
        self.max_retry_after = float(max_retry_after)
        self._clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._continuum = Continuum([s.name for s in shards], [s.weight for s in shards])
        self._shards = shards
        self._groups: List[List[_Server]] = []
        for shard in shards:
            group = [_Server("%s:%d" % shard.master, self._client_class(
                shard.master[0], shard.master[1], **client_kwargs), "master")]
            for host, port in shard.replicas:
                group.append(_Server("%s:%d" % (host, port),
                                     self._client_class(host, port, **client_kwargs), "replica"))
            self._groups.append(group)

    # -- placement -----------------------------------------------------------------

    @property
    def shards(self) -> List[Shard]:
        """The shards, in the order they were given."""
        return list(self._shards)

    def _shard_of(self, key: Any) -> int:
        return self._continuum.index(to_bytes(key, "key"))

    def shard_of(self, key: Key) -> str:
        """The name of the shard a key belongs to.

        Args:
            key: the key (str as UTF-8, or bytes).

        Returns:
            The shard's name (``host:port`` of its master by default).

        Raises:
            TypeError: the key is neither str nor bytes.
        """
        return self._continuum.names[self._shard_of(key)]

    def client_for(self, key: Key) -> Any:
        """The single-server client of the master of a key's shard, for what
        cannot be sharded (scripts, containers, cursors) but concerns that
        key.

        Args:
            key: the key (str as UTF-8, or bytes).

        Returns:
            The master's client (same class as the non-sharded client).

        Raises:
            TypeError: the key is neither str nor bytes.
        """
        return self._groups[self._shard_of(key)][0].client

    def clients(self) -> List[Any]:
        """Every server's client: each shard's master, then its replicas.

        Returns:
            A list of single-server clients.
        """
        return [server.client for group in self._groups for server in group]

    def down(self) -> List[str]:
        """The servers marked down now (their back-off has not passed).

        Returns:
            Their ``host:port`` addresses.
        """
        now = self._clock()
        return [s.address for group in self._groups for s in group if s.down_until > now]

    # -- health ------------------------------------------------------------------------

    def _targets(self, shard: int, write: bool, name: str) -> List[_Server]:
        """The servers to try, in order; ServerConnectionError if none may be."""
        group = self._groups[shard]
        now = self._clock()
        if write:
            master = group[0]
            if master.down_until > now:
                raise ServerConnectionError(
                    "%s: master %s of shard %r is marked down for %.1f s more (writes never "
                    "go to replicas or other shards)"
                    % (name, master.address, self._shards[shard].name, master.down_until - now))
            return [master]
        up = [s for s in group if s.down_until <= now]
        if not up:
            raise ServerConnectionError("%s: every server of shard %r is marked down (%s)" % (
                name, self._shards[shard].name, ", ".join(s.address for s in group)))
        return up

    def _failed(self, server: _Server, shard: int, name: str,
                exc: ServerConnectionError) -> ServerConnectionError:
        """Mark a server down; the error to raise if no other server answers."""
        server.failures += 1
        delay = min(self.retry_after * 2.0 ** (server.failures - 1), self.max_retry_after)
        server.down_until = self._clock() + delay
        return ServerConnectionError("%s: %s %s of shard %r failed (%s); marked down for %.1f s"
                                     % (name, server.role, server.address,
                                        self._shards[shard].name, exc, delay))

    @staticmethod
    def _recovered(server: _Server) -> None:
        server.failures = 0
        server.down_until = 0.0

    @staticmethod
    def _unreachable(errors: List[ServerConnectionError]) -> ServerConnectionError:
        if len(errors) == 1:
            return errors[0]
        return ServerConnectionError("; ".join(str(e) for e in errors))

    # -- what the methods are made of -----------------------------------------------

    def _one(self, shard: int, write: bool, name: str, args: Optional[Tuple[Any, ...]],
             finish: Optional[Callable[[Any], Any]] = None) -> Any:
        raise NotImplementedError

    def _each(self, calls: List[Tuple[int, Tuple[Any, ...]]], write: bool, name: str,
              finish: Merge) -> Any:
        raise NotImplementedError

    def _iterate(self, merged: Any) -> Any:
        raise NotImplementedError

    def _read(self, key: Any, name: str, args: Tuple[Any, ...],
              finish: Optional[Callable[[Any], Any]] = None) -> Any:
        return self._one(self._shard_of(key), False, name, args, finish)

    def _write(self, key: Any, name: str, args: Tuple[Any, ...]) -> Any:
        return self._one(self._shard_of(key), True, name, args)

    def _everywhere(self, write: bool, name: str, args: Tuple[Any, ...], finish: Merge) -> Any:
        return self._each([(i, args) for i in range(len(self._groups))], write, name, finish)

    def _by_shard(self, results: List[Any]) -> Dict[str, Any]:
        return {shard.name: result for shard, result in zip(self._shards, results)}

    def _split_keys(self, keys: Iterable[Key]) -> Dict[int, List[Any]]:
        if isinstance(keys, (str, bytes)):
            raise TypeError("keys must be an iterable of keys, not a single %s"
                            % type(keys).__name__)
        split: Dict[int, List[Any]] = {}
        for key in keys:
            split.setdefault(self._shard_of(key), []).append(key)
        return split

    def _split_items(self, items: Mapping[Any, Any]) -> Dict[int, Dict[Any, Any]]:
        split: Dict[int, Dict[Any, Any]] = {}
        for key, value in items.items():
            split.setdefault(self._shard_of(key), {})[key] = value
        return split

    def _bulk_keys(self, keys: Iterable[Key], write: bool, name: str,
                   rest: Tuple[Any, ...], finish: Merge) -> Any:
        calls = [(shard, (part,) + rest) for shard, part in self._split_keys(keys).items()]
        return self._each(calls, write, name, finish)

    def _check_values(self, items: Mapping[Any, Any]) -> None:
        """Serialize every value once before any shard is sent its part, so
        that a bad value raises before anything is stored anywhere."""
        client = self._groups[0][0].client
        if client._text_values is not None:  # KT_BINARY, KT_NONE: str or bytes
            for value in items.values():
                to_bytes(value, "value")
        else:
            encode = client._encode
            for value in items.values():
                encode(value)

    def _bulk_items(self, data: Optional[Mapping[Any, Any]], kwargs: Mapping[str, Any],
                    name: str, rest: Tuple[Any, ...], finish: Merge) -> Any:
        items = merge_items(data, kwargs)
        self._check_values(items)
        split = self._split_items(items)
        calls = [(shard, (part,) + rest) for shard, part in split.items()]
        return self._each(calls, True, name, finish)

    def __getattr__(self, name: str) -> Any:
        reason = _UNSHARDABLE.get(name)
        if reason is None:
            raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))
        raise ShardingError("%s() cannot be sharded (%s): run it on one server, with "
                            "client_for(key) or clients()" % (name.lstrip("_"), reason))

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, ", ".join(s.name for s in self._shards))


def _sync_one(self: ShardedMethods, shard: int, write: bool, name: str,
              args: Optional[Tuple[Any, ...]], finish: Optional[Callable[[Any], Any]]) -> Any:
    errors: List[ServerConnectionError] = []
    for server in self._targets(shard, write, name):
        try:
            attr = getattr(server.client, name)
            result = _materialize(attr if args is None else attr(*args))
        except ServerConnectionError as exc:
            errors.append(self._failed(server, shard, name, exc))
            continue
        if server.failures:
            self._recovered(server)
        return result if finish is None else finish(result)
    raise self._unreachable(errors)


class _SyncShards(ShardedMethods):
    """The synchronous transport: shards asked concurrently from threads."""

    _executor: Optional[ThreadPoolExecutor] = None

    def _one(self, shard: int, write: bool, name: str, args: Optional[Tuple[Any, ...]],
             finish: Optional[Callable[[Any], Any]] = None) -> Any:
        return _sync_one(self, shard, write, name, args, finish)

    def _each(self, calls: List[Tuple[int, Tuple[Any, ...]]], write: bool, name: str,
              finish: Merge) -> Any:
        if len(calls) <= 1:
            return finish([_sync_one(self, s, write, name, a, None) for s, a in calls])
        if self._executor is None:
            self._executor = ThreadPoolExecutor(len(self._groups), "kt-shards")
        futures = [self._executor.submit(_sync_one, self, s, write, name, a, None)
                   for s, a in calls]
        return finish([f.result() for f in futures])

    def _iterate(self, merged: Any) -> Any:
        return iter(merged)

    def close(self) -> None:
        """Close every server's idle connections and the worker threads; the
        client stays usable."""
        for client in self.clients():
            client.close()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        n: int = self.count()
        return n

    def __iter__(self) -> Any:
        return self.keys()

    def __contains__(self, key: Any) -> bool:
        return bool(self._contains(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._setitem(key, value)

    def __delitem__(self, key: Any) -> None:
        self._delitem(key)


class ShardedKyotoMethods(ShardedMethods):
    """The methods of the sharded Kyoto Tycoon clients, written once
    (``ShardedKyotoTycoon`` runs them synchronously,
    ``kt.AsyncShardedKyotoTycoon`` awaits them).  Each takes the arguments
    of the same ``KyotoTycoon`` method and returns what it returns."""

    # -- one key: reads (master, else a replica) --------------------------------------

    def get(self, key: Key, db: Optional[int] = None) -> Any:
        """The value stored at a key, read from the key's shard.

        Args:
            key: the key (str or bytes).
            db: database index (None: the clients' default database).

        Returns:
            The deserialized value, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "get", (key, db))

    def get_raw(self, key: Key, db: Optional[int] = None) -> Any:
        """The stored bytes of a key (not deserialized).

        Args:
            key: the key.
            db: database index (None: the default).

        Returns:
            The bytes, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "get_raw", (key, db))

    def get_bytes(self, key: Key, db: Optional[int] = None) -> Any:
        """Same as ``get_raw`` (the original library's name).

        Args:
            key: the key.
            db: database index (None: the default).

        Returns:
            The bytes, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "get_raw", (key, db))

    def exists(self, key: Key, db: Optional[int] = None) -> Any:
        """Whether a key exists.

        Args:
            key: the key.
            db: database index (None: the default).

        Returns:
            True or False.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "exists", (key, db))

    def length(self, key: Key, db: Optional[int] = None) -> Any:
        """Size in bytes of a key's stored value.

        Args:
            key: the key.
            db: database index (None: the default).

        Returns:
            The size, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "length", (key, db))

    def expire_time(self, key: Key, db: Optional[int] = None) -> Any:
        """The absolute UNIX time at which a key expires.

        Args:
            key: the key.
            db: database index (None: the default).

        Returns:
            The time, or None when the key never expires or is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "expire_time", (key, db))

    # -- one key: writes (master only) --------------------------------------------------

    def set(self, key: Key, value: Any, db: Optional[int] = None,
            expire_time: Optional[int] = None, no_reply: bool = False) -> Any:
        """Store a value on the key's shard master.

        Args:
            key: the key.
            value: the value (serialized with the clients' serializer).
            db: database index (None: the default).
            expire_time: seconds from now (negative: minus a UNIX time);
                None: never.
            no_reply: send without waiting for the reply.

        Returns:
            1, or None with ``no_reply``.

        Raises:
            ServerConnectionError: the shard's master could not be reached
                (writes never go elsewhere); the message names it.
        """
        return self._write(key, "set", (key, value, db, expire_time, no_reply))

    def set_bytes(self, key: Key, value: Union[str, bytes], db: Optional[int] = None,
                  expire_time: Optional[int] = None, no_reply: bool = False) -> Any:
        """Store bytes as they are (str as UTF-8), bypassing the serializer.

        Args:
            key: the key.
            value: bytes or str.
            db: database index (None: the default).
            expire_time: as for ``set``.
            no_reply: send without waiting for the reply.

        Returns:
            1, or None with ``no_reply``.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "set_bytes", (key, value, db, expire_time, no_reply))

    def remove(self, key: Key, db: Optional[int] = None, no_reply: bool = False) -> Any:
        """Remove a key.

        Args:
            key: the key.
            db: database index (None: the default).
            no_reply: send without waiting for the reply.

        Returns:
            The number of records removed (0 or 1), or None with ``no_reply``.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "remove", (key, db, no_reply))

    def add(self, key: Key, value: Any, db: Optional[int] = None,
            expire_time: Optional[int] = None) -> Any:
        """Store a value only if the key does not exist.

        Args:
            key: the key.
            value: the value.
            db: database index (None: the default).
            expire_time: as for ``set``.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "add", (key, value, db, expire_time))

    def replace(self, key: Key, value: Any, db: Optional[int] = None,
                expire_time: Optional[int] = None) -> Any:
        """Store a value only if the key exists.

        Args:
            key: the key.
            value: the value.
            db: database index (None: the default).
            expire_time: as for ``set``.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "replace", (key, value, db, expire_time))

    def append(self, key: Key, value: Any, db: Optional[int] = None,
               expire_time: Optional[int] = None) -> Any:
        """Append to the stored bytes (like ``set`` when the key is missing).

        Args:
            key: the key.
            value: the value to append.
            db: database index (None: the default).
            expire_time: as for ``set``.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "append", (key, value, db, expire_time))

    def seize(self, key: Key, db: Optional[int] = None) -> Any:
        """Get a key's value and remove the record atomically.

        Args:
            key: the key.
            db: database index (None: the default).

        Returns:
            The value, or None when the key is missing.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "seize", (key, db))

    def pop(self, key: Key, db: Optional[int] = None) -> Any:
        """Same as ``seize``.

        Args:
            key: the key.
            db: database index (None: the default).

        Returns:
            The value, or None when the key is missing.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "seize", (key, db))

    def cas(self, key: Key, old_val: Any, new_val: Any, db: Optional[int] = None,
            expire_time: Optional[int] = None) -> Any:
        """Compare and swap on the key's shard master.

        Args:
            key: the key.
            old_val: the expected value (None: only if the key is absent).
            new_val: the new value (None: remove the record).
            db: database index (None: the default).
            expire_time: as for ``set``.

        Returns:
            True on success.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "cas", (key, old_val, new_val, db, expire_time))

    def incr(self, key: Key, n: int = 1, orig: Optional[int] = None, db: Optional[int] = None,
             expire_time: Optional[int] = None) -> Any:
        """Add to the integer stored at a key.

        Args:
            key: the key.
            n: the number to add.
            orig: the starting value of a missing record (default 0).
            db: database index (None: the default).
            expire_time: as for ``set``.

        Returns:
            The new value.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
            ServerError: the record is not an integer record.
        """
        return self._write(key, "incr", (key, n, orig, db, expire_time))

    def incr_double(self, key: Key, n: float = 1.0, orig: Optional[float] = None,
                    db: Optional[int] = None, expire_time: Optional[int] = None) -> Any:
        """Add to the decimal number stored at a key.

        Args:
            key: the key.
            n: the number to add.
            orig: the starting value of a missing record (default 0).
            db: database index (None: the default).
            expire_time: as for ``set``.

        Returns:
            The new value (float).

        Raises:
            ServerConnectionError: the shard's master could not be reached.
            ServerError: the record is not a decimal record.
        """
        return self._write(key, "incr_double", (key, n, orig, db, expire_time))

    # -- bulk: split per shard, run concurrently, merged ------------------------------

    def get_bulk(self, keys: Iterable[Key], db: Optional[int] = None) -> Any:
        """The values of many keys, each shard asked for its keys at once.

        Args:
            keys: the keys.
            db: database index (None: the default).

        Returns:
            A dict of the keys found and their values.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._bulk_keys(keys, False, "get_bulk", (db,), _merge_dicts)

    def get_bulk_raw(self, keys: Iterable[Key], db: Optional[int] = None) -> Any:
        """The stored bytes of many keys.

        Args:
            keys: the keys.
            db: database index (None: the default).

        Returns:
            A dict of the keys found and their bytes.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._bulk_keys(keys, False, "get_bulk_raw", (db,), _merge_dicts)

    def get_bulk_details(self, keys: Iterable[Key], db: Optional[int] = None,
                         decode_values: bool = True) -> Any:
        """``(db, key, value, expire_at)`` of many keys.

        Args:
            keys: the keys.
            db: database index (None: the default).
            decode_values: deserialize the values.

        Returns:
            A list of tuples, shard after shard.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._bulk_keys(keys, False, "get_bulk_details", (db, decode_values), _concat)

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, db: Optional[int] = None,
                 expire_time: Optional[int] = None, no_reply: bool = False,
                 **kwargs: Any) -> Any:
        """Store many records, one request per shard, concurrently.

        Args:
            __data: a mapping of keys to values.
            db: database index (None: the default).
            expire_time: as for ``set``.
            no_reply: send without waiting for the replies.
            **kwargs: more records.

        Returns:
            How many records were stored, or None with ``no_reply``.

        Raises:
            ServerConnectionError: the master of one of the shards could not
                be reached (the other shards' records are stored).
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (db, expire_time, no_reply),
                                _total)

    def update(self, __data: Optional[Mapping[Any, Any]] = None, db: Optional[int] = None,
               expire_time: Optional[int] = None, **kwargs: Any) -> Any:
        """Same as ``set_bulk``.

        Args:
            __data: a mapping of keys to values.
            db: database index (None: the default).
            expire_time: as for ``set``.
            **kwargs: more records.

        Returns:
            How many records were stored.

        Raises:
            ServerConnectionError: the master of one of the shards could not
                be reached.
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (db, expire_time, False), _total)

    def remove_bulk(self, keys: Iterable[Key], db: Optional[int] = None,
                    no_reply: bool = False) -> Any:
        """Remove many keys, one request per shard, concurrently.

        Args:
            keys: the keys.
            db: database index (None: the default).
            no_reply: send without waiting for the replies.

        Returns:
            How many records were removed, or None with ``no_reply``.

        Raises:
            ServerConnectionError: the master of one of the shards could not
                be reached.
        """
        return self._bulk_keys(keys, True, "remove_bulk", (db, no_reply), _total)

    # -- scans: every shard, merged -------------------------------------------------

    def match_prefix(self, prefix: Key, max_keys: Optional[int] = None,
                     db: Optional[int] = None) -> Any:
        """Keys starting with a prefix, from every shard.

        Args:
            prefix: the prefix.
            max_keys: at most this many keys (None: all).
            db: database index (None: the default).

        Returns:
            The keys in byte order (the first ``max_keys`` of them).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "match_prefix", (prefix, max_keys, db),
                                _SortedKeys(max_keys))

    def match_regex(self, regex: Key, max_keys: Optional[int] = None,
                    db: Optional[int] = None) -> Any:
        """Keys matching a regular expression, from every shard.

        Args:
            regex: the regular expression.
            max_keys: at most this many keys (None: all).
            db: database index (None: the default).

        Returns:
            The keys in byte order (the first ``max_keys`` of them).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "match_regex", (regex, max_keys, db),
                                _SortedKeys(max_keys))

    def keys_nonlazy(self, db: Optional[int] = None) -> Any:
        """Every key of every shard, as a list.

        Args:
            db: database index (None: the default).

        Returns:
            The keys in byte order.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "match_prefix", (b"", None, db), _SortedKeys(None))

    def keys(self, db: Optional[int] = None) -> Any:
        """Every key of every shard (each shard's keys in its order).

        Args:
            db: database index (None: the default).

        Returns:
            An iterator (``async for`` on the asyncio client).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._iterate(self._everywhere(False, "keys", (db,), _concat))

    def values(self, db: Optional[int] = None) -> Any:
        """Every value of every shard.

        Args:
            db: database index (None: the default).

        Returns:
            An iterator (``async for`` on the asyncio client).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._iterate(self._everywhere(False, "values", (db,), _concat))

    def items(self, db: Optional[int] = None) -> Any:
        """Every (key, value) of every shard.

        Args:
            db: database index (None: the default).

        Returns:
            An iterator (``async for`` on the asyncio client).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._iterate(self._everywhere(False, "items", (db,), _concat))

    def count(self, db: Optional[int] = None) -> Any:
        """Number of records over every shard.

        Args:
            db: database index (None: the default).

        Returns:
            The sum of the shards' counts.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "count", (db,), _total)

    @property
    def size(self) -> Any:
        """Size in bytes of the default database, summed over the shards."""
        return self._everywhere(False, "size", None, _total)  # type: ignore[arg-type]

    def status(self, db: Optional[int] = None) -> Any:
        """The status fields of a database on every shard.

        Args:
            db: database index (None: the default).

        Returns:
            A dict of shard name to that shard's status dict.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "status", (db,), self._by_shard)

    def clear(self, db: Optional[int] = None) -> Any:
        """Remove every record of a database on every shard's master.

        Args:
            db: database index (None: the default).

        Returns:
            True when every master cleared it.

        Raises:
            ServerConnectionError: a master could not be reached (the others
                are cleared).
        """
        return self._everywhere(True, "clear", (db,), _all_true)

    def synchronize(self, hard: bool = False, command: Optional[str] = None,
                    db: Optional[int] = None) -> Any:
        """Write the database to its file on every shard's master.

        Args:
            hard: to the device too.
            command: a command of the servers' -cmd directory to run after.
            db: database index (None: the default).

        Returns:
            True when every master did.

        Raises:
            ServerConnectionError: a master could not be reached.
        """
        return self._everywhere(True, "synchronize", (hard, command, db), _all_true)

    def vacuum(self, step: int = 0, db: Optional[int] = None) -> Any:
        """Remove expired records on every shard's master.

        Args:
            step: records to look at (0: the whole database).
            db: database index (None: the default).

        Returns:
            True when every master did.

        Raises:
            ServerConnectionError: a master could not be reached.
        """
        return self._everywhere(True, "vacuum", (step, db), _all_true)

    def set_database(self, db: int) -> Any:
        """Make a database the default of every server's client.

        Args:
            db: database index.

        Returns:
            This client.

        Raises:
            TypeError: ``db`` is not an int.
            ValueError: ``db`` is out of range.
        """
        db = KyotoMethods._check_db(db)
        for client in self.clients():
            client.default_db = db
        return self

    # -- dict interface ---------------------------------------------------------------

    _split_key = staticmethod(KyotoMethods._split_key)

    def __getitem__(self, key_or_keydb: Any) -> Any:
        """``client[key]`` or ``client[key, db]``: ``get``."""
        key, db = self._split_key(key_or_keydb)
        return self.get(key, db)

    def _setitem(self, key_or_keydb: Any, value_or_valueexp: Any) -> Any:
        key, db = self._split_key(key_or_keydb)
        expire_time = None
        if isinstance(value_or_valueexp, tuple):
            if len(value_or_valueexp) != 2:
                raise TypeError("a tuple value must be (value, expire_time)")
            value_or_valueexp, expire_time = value_or_valueexp
        return self.set(key, value_or_valueexp, db, expire_time)

    def _delitem(self, key_or_keydb: Any) -> Any:
        key, db = self._split_key(key_or_keydb)
        return self.remove(key, db)

    def _contains(self, key_or_keydb: Any) -> Any:
        key, db = self._split_key(key_or_keydb)
        return self.exists(key, db)


class ShardedTyrantMethods(ShardedMethods):
    """The methods of the sharded Tokyo Tyrant clients, written once
    (``ShardedTokyoTyrant`` runs them synchronously,
    ``kt.AsyncShardedTokyoTyrant`` awaits them).  Each takes the arguments
    of the same ``TokyoTyrant`` method and returns what it returns."""

    # -- one key: reads --------------------------------------------------------------

    def get(self, key: Key) -> Any:
        """The value stored at a key, read from the key's shard.

        Args:
            key: the key (str or bytes).

        Returns:
            The deserialized value, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "get", (key,))

    def get_raw(self, key: Key) -> Any:
        """The stored bytes of a key.

        Args:
            key: the key.

        Returns:
            The bytes, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "get_raw", (key,))

    def get_bytes(self, key: Key) -> Any:
        """Same as ``get_raw`` (the original library's name).

        Args:
            key: the key.

        Returns:
            The bytes, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "get_raw", (key,))

    def exists(self, key: Key) -> Any:
        """Whether a key exists.

        Args:
            key: the key.

        Returns:
            True or False.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "exists", (key,))

    def length(self, key: Key) -> Any:
        """Size in bytes of a key's stored value.

        Args:
            key: the key.

        Returns:
            The size, or None when the key is missing.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "length", (key,))

    def get_part(self, key: Key, start: Optional[int] = None, end: Optional[int] = None) -> Any:
        """Part of a key's value (ttserver's getpart).

        Args:
            key: the key.
            start: offset of the first byte (None: 0).
            end: number of bytes wanted (None: to the end).

        Returns:
            The part (deserialized), or None.

        Raises:
            ServerConnectionError: no server of the key's shard answered.
        """
        return self._read(key, "get_part", (key, start, end))

    # -- one key: writes (master only) ----------------------------------------------

    def set(self, key: Key, value: Any, no_reply: bool = False) -> Any:
        """Store a value on the key's shard master.

        Args:
            key: the key.
            value: the value (serialized with the clients' serializer).
            no_reply: send without waiting for the reply.

        Returns:
            True when stored, None with ``no_reply``.

        Raises:
            ServerConnectionError: the shard's master could not be reached
                (writes never go elsewhere); the message names it.
        """
        return self._write(key, "set", (key, value, no_reply))

    def set_bytes(self, key: Key, value: Union[str, bytes], no_reply: bool = False) -> Any:
        """Store bytes as they are (str as UTF-8), bypassing the serializer.

        Args:
            key: the key.
            value: bytes or str.
            no_reply: send without waiting for the reply.

        Returns:
            True when stored, None with ``no_reply``.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "set_bytes", (key, value, no_reply))

    def setnr(self, key: Key, value: Any) -> Any:
        """Store without waiting for a reply.

        Args:
            key: the key.
            value: the value.

        Returns:
            None.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "setnr", (key, value))

    def add(self, key: Key, value: Any) -> Any:
        """Store a value only if the key is absent (putkeep).

        Args:
            key: the key.
            value: the value.

        Returns:
            True if stored, False when the key exists.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "add", (key, value))

    def append(self, key: Key, value: Any) -> Any:
        """Append to the stored bytes (putcat).

        Args:
            key: the key.
            value: the value to append.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "append", (key, value))

    def addshl(self, key: Key, value: Any, width: int) -> Any:
        """Append, then keep only the last ``width`` bytes (putshl).

        Args:
            key: the key.
            value: the value to append.
            width: bytes to keep.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "addshl", (key, value, width))

    def setup(self, key: Key, value: Any) -> Any:
        """Store a duplicate after the key's records (B+ tree databases).

        Args:
            key: the key.
            value: the value.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "setup", (key, value))

    def setupback(self, key: Key, value: Any) -> Any:
        """Store a duplicate before the key's records (B+ tree databases).

        Args:
            key: the key.
            value: the value.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "setupback", (key, value))

    def setdup(self, key: Key, value: Any) -> Any:
        """Same as ``setup`` (the original library's name).

        Args:
            key: the key.
            value: the value.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "setup", (key, value))

    def setdupback(self, key: Key, value: Any) -> Any:
        """Same as ``setupback`` (the original library's name).

        Args:
            key: the key.
            value: the value.

        Returns:
            True if stored.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "setupback", (key, value))

    def remove(self, key: Key) -> Any:
        """Remove a key (out).

        Args:
            key: the key.

        Returns:
            The number of records removed (0 or 1).

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "remove", (key,))

    def pop(self, key: Key) -> Any:
        """Get a key's value and remove the record in one round trip.

        Args:
            key: the key.

        Returns:
            The value, or None when the key is missing.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "pop", (key,))

    def seize(self, key: Key) -> Any:
        """Same as ``pop`` (the original library's name).

        Args:
            key: the key.

        Returns:
            The value, or None when the key is missing.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
        """
        return self._write(key, "pop", (key,))

    def incr(self, key: Key, n: int = 1) -> Any:
        """Add to the integer record at a key (addint).

        Args:
            key: the key.
            n: the number to add.

        Returns:
            The sum.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
            TokyoTyrantError: the record is not an integer record.
        """
        return self._write(key, "incr", (key, n))

    def incr_double(self, key: Key, n: float = 1.0) -> Any:
        """Add to the decimal record at a key (adddouble).

        Args:
            key: the key.
            n: the number to add.

        Returns:
            The sum.

        Raises:
            ServerConnectionError: the shard's master could not be reached.
            TokyoTyrantError: the record is not a decimal record.
        """
        return self._write(key, "incr_double", (key, n))

    # -- bulk ----------------------------------------------------------------------------

    def get_bulk(self, keys: Iterable[Key]) -> Any:
        """The values of many keys (one mget per shard, concurrently).

        Args:
            keys: the keys.

        Returns:
            A dict of the keys found and their values.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._bulk_keys(keys, False, "get_bulk", (), _merge_dicts)

    def get_bulk_raw(self, keys: Iterable[Key]) -> Any:
        """The stored bytes of many keys.

        Args:
            keys: the keys.

        Returns:
            A dict of the keys found and their bytes.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._bulk_keys(keys, False, "get_bulk_raw", (), _merge_dicts)

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, update_log: bool = True,
                 **kwargs: Any) -> Any:
        """Store many records (one putlist per shard, concurrently).

        Args:
            __data: a mapping of keys to values.
            update_log: write the servers' update logs.
            **kwargs: more records.

        Returns:
            True when every shard stored its records.

        Raises:
            ServerConnectionError: the master of one of the shards could not
                be reached (the other shards' records are stored).
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (update_log,), _all_true)

    def update(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Same as ``set_bulk``.

        Args:
            __data: a mapping of keys to values.
            **kwargs: more records.

        Returns:
            True when every shard stored its records.

        Raises:
            ServerConnectionError: the master of one of the shards could not
                be reached.
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (True,), _all_true)

    def setnr_bulk(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Store many records without waiting for replies.

        Args:
            __data: a mapping of keys to values.
            **kwargs: more records.

        Returns:
            None.

        Raises:
            ServerConnectionError: the master of one of the shards could not
                be reached.
        """
        return self._bulk_items(__data, kwargs, "setnr_bulk", (), _nothing)

    def remove_bulk(self, keys: Iterable[Key], update_log: bool = True) -> Any:
        """Remove many keys (one outlist per shard, concurrently).

        Args:
            keys: the keys.
            update_log: write the servers' update logs.

        Returns:
            True when every shard's request succeeded.

        Raises:
            ServerConnectionError: the master of one of the shards could not
                be reached.
        """
        return self._bulk_keys(keys, True, "remove_bulk", (update_log,), _all_true)

    # -- scans -----------------------------------------------------------------------

    def match_prefix(self, prefix: Key, max_keys: Optional[int] = 1024) -> Any:
        """Keys starting with a prefix, from every shard (fwmkeys).

        Args:
            prefix: the prefix.
            max_keys: at most this many keys (None: all).

        Returns:
            The keys in byte order (the first ``max_keys`` of them).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "match_prefix", (prefix, max_keys),
                                _SortedKeys(max_keys))

    def match_regex(self, regex: Key, max_keys: Optional[int] = 1024) -> Any:
        """Keys matching a regular expression, from every shard.

        Args:
            regex: the regular expression.
            max_keys: at most this many keys (None: all).

        Returns:
            The keys in byte order (the first ``max_keys`` of them).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "match_regex", (regex, max_keys),
                                _SortedKeys(max_keys))

    def get_range(self, start: Optional[Key] = None, stop: Optional[Key] = None,
                  max_keys: int = 0) -> Any:
        """Records with ``start <= key < stop`` from every shard (B+ tree
        databases).

        Args:
            start: first key (None: from the start).
            stop: key to stop before (None: to the end).
            max_keys: at most this many records (0: all).

        Returns:
            A dict in key order.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "get_range", (start, stop, max_keys),
                                _SortedItems(max_keys if max_keys > 0 else None))

    def keys_fast(self) -> Any:
        """Every key of every shard, as a list.

        Returns:
            The keys in byte order.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "match_prefix", (b"", None), _SortedKeys(None))

    def keys(self) -> Any:
        """Every key of every shard (each shard's keys in its order).

        Returns:
            An iterator (``async for`` on the asyncio client).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._iterate(self._everywhere(False, "keys", (), _concat))

    def items(self) -> Any:
        """Every record of every shard, as (key, value).

        Returns:
            An iterator (``async for`` on the asyncio client).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._iterate(self._everywhere(False, "items_fast", (), _concat))

    def items_fast(self) -> Any:
        """Every record of every shard, as a list of (key, value).

        Returns:
            The list, shard after shard.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "items_fast", (), _concat)

    def values(self) -> Any:
        """Every value of every shard.

        Returns:
            An iterator (``async for`` on the asyncio client).

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._iterate(self._everywhere(False, "values", (), _concat))

    def count(self) -> Any:
        """Number of records over every shard.

        Returns:
            The sum of the shards' counts.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "count", (), _total)

    @property
    def size(self) -> Any:
        """Size of the databases in bytes, summed over the shards."""
        return self._everywhere(False, "size", None, _total)  # type: ignore[arg-type]

    def status(self) -> Any:
        """The status fields of every shard.

        Returns:
            A dict of shard name to that shard's status dict.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "status", (), self._by_shard)

    def clear(self) -> Any:
        """Remove every record on every shard's master (vanish).

        Returns:
            True when every master did.

        Raises:
            ServerConnectionError: a master could not be reached (the others
                are cleared).
        """
        return self._everywhere(True, "clear", (), _all_true)

    def synchronize(self) -> Any:
        """Write the database to its file on every shard's master.

        Returns:
            True when every master did.

        Raises:
            ServerConnectionError: a master could not be reached.
        """
        return self._everywhere(True, "synchronize", (), _all_true)

    def optimize(self, options: Union[str, bytes] = b"") -> Any:
        """Optimize the database of every shard's master.

        Args:
            options: tuning options (e.g. "bnum=1000").

        Returns:
            True when every master did.

        Raises:
            ServerConnectionError: a master could not be reached.
        """
        return self._everywhere(True, "optimize", (options,), _all_true)

    # -- dict interface -----------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        """``client[key]`` (``get``) or ``client[start:stop]`` (``get_range``)."""
        if isinstance(key, slice):
            if key.step is not None:
                raise ValueError("slices of a Tokyo Tyrant database take no step")
            return self.get_range(key.start, key.stop)
        return self.get(key)

    def _setitem(self, key: Key, value: Any) -> Any:
        return self.set(key, value)

    def _delitem(self, key: Key) -> Any:
        return self.remove(key)

    def _contains(self, key: Key) -> Any:
        return self.exists(key)


def _nothing(results: List[Any]) -> None:
    return None


class ShardedKyotoTycoon(_SyncShards, ShardedKyotoMethods):
    """A Kyoto Tycoon client over several servers (shards), keys placed by
    ketama consistent hashing, with failover to replicas for reads.

    Args:
        servers: the shards: ``"host:port"``, ``(host, port)``,
            ``(host, port, weight)`` or ``Shard`` objects (a master plus
            replicas, a weight, a name).
        retry_after: seconds a failed server is left alone before it is
            tried again; doubles at each failure in a row.
        max_retry_after: the longest back-off.
        clock: a function returning seconds (default ``time.monotonic``;
            tests inject their own).
        **client_kwargs: the ``KyotoTycoon`` arguments for every server
            (``serializer``, ``timeout``, ``max_connections``, ...).

    Raises:
        TypeError: a server or argument of the wrong type.
        ValueError: no servers, a malformed address or duplicate names.
    """

    _client_class = KyotoTycoon


class ShardedTokyoTyrant(_SyncShards, ShardedTyrantMethods):
    """A Tokyo Tyrant client over several servers (shards), keys placed by
    ketama consistent hashing, with failover to replicas for reads.

    Args:
        servers: the shards: ``"host:port"``, ``(host, port)``,
            ``(host, port, weight)`` or ``Shard`` objects.
        retry_after: seconds a failed server is left alone before it is
            tried again; doubles at each failure in a row.
        max_retry_after: the longest back-off.
        clock: a function returning seconds (default ``time.monotonic``).
        **client_kwargs: the ``TokyoTyrant`` arguments for every server.

    Raises:
        TypeError: a server or argument of the wrong type.
        ValueError: no servers, a malformed address or duplicate names.
    """

    _client_class = TokyoTyrant
