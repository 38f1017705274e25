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
from kt.connection import fork_epoch
from kt.errors import ServerConnectionError, ShardingError
from kt.ketama import Continuum
from kt.kyoto import KyotoMethods, KyotoTycoon
from kt.protocol.convert import to_bytes
from kt.tyrant import TokyoTyrant

__all__ = ["Shard", "ShardedKyotoTycoon", "ShardedTokyoTyrant", "ShardedMethods",
           "ShardedKyotoMethods", "ShardedTyrantMethods"]

Key = Union[str, bytes]
Address = Union[str, Tuple[str, int]]
ServerSpec = Union[str, Tuple[Any, ...], List[Any], "Shard"]
Merge = Callable[[List[Any]], Any]
Kwargs = Optional[Dict[str, Any]]


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
    if isinstance(spec, list):  # [master, replica, ...]
        if not spec:
            raise ValueError("a shard given as a list needs its master first")
        return Shard(spec[0], spec[1:])
    if isinstance(spec, tuple) and len(spec) == 3:
        return Shard((spec[0], spec[1]), weight=spec[2])
    return Shard(_address(spec))


class _Server:
    """One server of a shard: its client and its health."""

    __slots__ = ("address", "client", "role", "failures", "down_until", "error")

    def __init__(self, address: str, client: Any, role: str) -> None:
        self.address = address
        self.client = client
        self.role = role
        self.failures = 0
        self.down_until = 0.0
        self.error = ""


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
        self._single = len(shards) == 1
        self._groups: List[List[_Server]] = []
        for shard in shards:
            # Each server is named as its client names it in errors
            # (``host:port``, IPv6 hosts in brackets).
            group: List[_Server] = []
            for role, (host, port) in [("master", shard.master)] + [
                    ("replica", replica) for replica in shard.replicas]:
                client = self._client_class(host, port, **client_kwargs)
                group.append(_Server(client.address, client, role))
            self._groups.append(group)

    # -- placement -----------------------------------------------------------------

    @property
    def shards(self) -> List[Shard]:
        """The shards, in the order they were given."""
        return list(self._shards)

    def _shard_of(self, key: Any) -> int:
        if self._single:
            return 0  # (the client checks the key's type)
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
        return self._continuum.name(to_bytes(key, "key"))

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
        return self._groups[self._continuum.index(to_bytes(key, "key"))][0].client

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
                exc: ServerConnectionError) -> None:
        """Mark a server down for its back-off, remembering why."""
        server.failures += 1
        delay = min(self.retry_after * 2.0 ** (server.failures - 1), self.max_retry_after)
        server.down_until = self._clock() + delay
        server.error = "%s %s of shard %r failed (%s); marked down for %.1f s" % (
            server.role, server.address, self._shards[shard].name, exc, delay)

    @staticmethod
    def _answered(server: _Server, result: Any) -> Any:
        if server.failures:
            server.failures = 0
            server.down_until = 0.0
        return result

    def _unreachable(self, shard: int, name: str, tried: List[_Server]) -> ServerConnectionError:
        """The error when every server tried for a request failed."""
        return ServerConnectionError("%s: %s" % (name, "; ".join(s.error for s in tried)))

    # -- what the methods are made of -----------------------------------------------

    def _one(self, shard: int, write: bool, name: str, args: Optional[Tuple[Any, ...]],
             kwargs: Kwargs = None) -> Any:
        raise NotImplementedError

    def _each(self, calls: List[Tuple[int, Tuple[Any, ...]]], write: bool, name: str,
              finish: Merge, kwargs: Kwargs = None) -> Any:
        raise NotImplementedError

    def _iterate(self, merged: Any) -> Any:
        raise NotImplementedError

    def _everywhere(self, write: bool, name: str, args: Optional[Tuple[Any, ...]],
                    finish: Merge, kwargs: Kwargs = None) -> Any:
        calls = [(i, args) for i in range(len(self._groups))]
        return self._each(calls, write, name, finish, kwargs)  # type: ignore[arg-type]

    def _by_shard(self, results: List[Any]) -> Dict[str, Any]:
        return {shard.name: result for shard, result in zip(self._shards, results)}

    def _split_keys(self, keys: Iterable[Key]) -> Dict[int, List[Any]]:
        if isinstance(keys, (str, bytes)):
            raise TypeError("keys must be an iterable of keys, not a single %s"
                            % type(keys).__name__)
        if self._single:
            return {0: list(keys)}
        index = self._continuum.index
        split: Dict[int, List[Any]] = {}
        for key in keys:
            split.setdefault(index(to_bytes(key, "key")), []).append(key)
        return split

    def _split_items(self, items: Mapping[Any, Any]) -> Dict[int, Dict[Any, Any]]:
        if self._single:
            return {0: dict(items)}
        split: Dict[int, Dict[Any, Any]] = {}
        for key, value in items.items():
            split.setdefault(self._shard_of(key), {})[key] = value
        return split

    def _bulk_keys(self, keys: Iterable[Key], write: bool, name: str, rest: Tuple[Any, ...],
                   kwargs: Kwargs, finish: Merge) -> Any:
        calls = [(shard, (part,) + rest) for shard, part in self._split_keys(keys).items()]
        return self._each(calls, write, name, finish, kwargs)

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


def _invoke(client: Any, name: str, args: Optional[Tuple[Any, ...]], kwargs: Kwargs) -> Any:
    """``client.name(*args, **kwargs)``, or the property ``client.name``
    when ``args`` is None."""
    attr = getattr(client, name)
    if args is None:
        return attr
    return attr(*args, **kwargs) if kwargs else attr(*args)


def _sync_one(self: ShardedMethods, shard: int, write: bool, name: str,
              args: Optional[Tuple[Any, ...]], kwargs: Kwargs) -> Any:
    targets = self._targets(shard, write, name)
    for server in targets:
        try:
            return self._answered(server, _materialize(_invoke(server.client, name, args, kwargs)))
        except ServerConnectionError as exc:
            self._failed(server, shard, name, exc)
    raise self._unreachable(shard, name, targets)


class _SyncShards(ShardedMethods):
    """The synchronous transport: shards asked concurrently from threads."""

    _executor: Optional[ThreadPoolExecutor] = None
    _executor_epoch = -1

    def _one(self, shard: int, write: bool, name: str, args: Optional[Tuple[Any, ...]],
             kwargs: Kwargs = None) -> Any:
        return _sync_one(self, shard, write, name, args, kwargs)

    def _each(self, calls: List[Tuple[int, Tuple[Any, ...]]], write: bool, name: str,
              finish: Merge, kwargs: Kwargs = None) -> Any:
        if len(calls) <= 1:
            return finish([_sync_one(self, s, write, name, a, kwargs) for s, a in calls])
        executor = self._executor
        if executor is None or self._executor_epoch != fork_epoch():
            # (a forked child inherits the executor but not its threads)
            executor = self._executor = ThreadPoolExecutor(len(self._groups), "kt-shards")
            self._executor_epoch = fork_epoch()
        futures = [executor.submit(_sync_one, self, s, write, name, a, kwargs)
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
        if executor is not None and self._executor_epoch == fork_epoch():
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


# -- the methods that only forward: made from a description ------------------------

_READ_RAISES = "ServerConnectionError: no server of the shard answered (master, then replicas)."
_WRITE_RAISES = ("ServerConnectionError: the shard's master could not be reached; writes never "
                 "go to replicas or to other shards.  The message names the master.")
_FAN_RAISES = "ServerConnectionError: no server of one of the shards answered."
_FAN_WRITE_RAISES = ("ServerConnectionError: a shard's master could not be reached (the other "
                     "shards did their part).")


def _doc(summary: str, single: str, name: str, first: str, returns: str, raises: str) -> str:
    """A Google-style docstring for a forwarding method (``single``: the
    single-server client classes, separated by "|")."""
    args = "    %s\n" % first if first else ""
    same = " or ".join("``%s.%s``" % (cls, name) for cls in single.split("|"))
    return ("%s\n\nArgs:\n%s    *args: the other arguments of %s.\n"
            "    **kwargs: the same, by name.\n\n"
            "Returns:\n    %s\n\nRaises:\n    %s\n" % (summary, args, same, returns, raises))


def _keyed(single: str, name: str, write: bool, summary: str, returns: str,
           target: Optional[str] = None) -> Callable[..., Any]:
    """A method of one key: run ``target`` (default ``name``) of the
    single-server client on the key's shard."""
    remote = target or name

    def method(self: ShardedMethods, key: Any, *args: Any, **kwargs: Any) -> Any:
        return self._one(self._shard_of(key), write, remote, (key,) + args, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = _doc(summary, single, remote, "key: the key (str or bytes): it picks the "
                          "shard.", returns, _WRITE_RAISES if write else _READ_RAISES)
    return method


def _bulk(single: str, name: str, write: bool, summary: str, returns: str,
          merge: Merge) -> Callable[..., Any]:
    """A method of many keys: split per shard, run concurrently, merged."""

    def method(self: ShardedMethods, keys: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        return self._bulk_keys(keys, write, name, args, kwargs, merge)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = _doc(summary, single, name, "keys: the keys; each shard gets its own.",
                          returns, _FAN_WRITE_RAISES if write else _FAN_RAISES)
    return method


def _fanned(single: str, name: str, write: bool, summary: str, returns: str, merge: Merge,
            target: Optional[str] = None, lazy: bool = False) -> Callable[..., Any]:
    """A method of the whole database: run on every shard, merged (as an
    iterator when ``lazy``, like the single-server client's)."""
    remote = target or name

    def method(self: ShardedMethods, *args: Any, **kwargs: Any) -> Any:
        merged = self._everywhere(write, remote, args, merge, kwargs)
        return self._iterate(merged) if lazy else merged

    method.__name__ = method.__qualname__ = name
    method.__doc__ = _doc(summary, single, remote, "", returns,
                          _FAN_WRITE_RAISES if write else _FAN_RAISES)
    return method


_EITHER = "KyotoTycoon|TokyoTyrant"


class _SameOnBoth(ShardedMethods):
    """The sharded methods that take the same arguments on both kinds of
    server (those of the single-server clients' method of the same name)."""

    get = _keyed(_EITHER, "get", False, "The value stored at a key.",
                 "The deserialized value, or None when missing.")
    get_raw = _keyed(_EITHER, "get_raw", False, "The stored bytes of a key.",
                     "The bytes, or None when missing.")
    get_bytes = _keyed(_EITHER, "get_bytes", False, "Same as ``get_raw``.",
                       "The bytes, or None when missing.", "get_raw")
    exists = _keyed(_EITHER, "exists", False, "Whether a key exists.", "True or False.")
    length = _keyed(_EITHER, "length", False, "Size in bytes of a key's value.",
                    "The size, or None when missing.")
    set = _keyed(_EITHER, "set", True, "Store a value.",
                 "1 (Kyoto Tycoon) or True (Tokyo Tyrant); None with ``no_reply=True``.")
    set_bytes = _keyed(_EITHER, "set_bytes", True,
                       "Store bytes (str as UTF-8) as they are, bypassing the serializer.",
                       "As ``set``.")
    remove = _keyed(_EITHER, "remove", True, "Remove a key.",
                    "The number of records removed (0 or 1).")
    add = _keyed(_EITHER, "add", True, "Store a value only if the key is absent.",
                 "True if stored.")
    append = _keyed(_EITHER, "append", True, "Append to the stored bytes.",
                    "True if stored.")
    incr = _keyed(_EITHER, "incr", True, "Add to an integer record.", "The new value.")
    incr_double = _keyed(_EITHER, "incr_double", True, "Add to a decimal record.",
                         "The new value.")
    get_bulk = _bulk(_EITHER, "get_bulk", False, "The values of many keys.",
                     "A dict of the keys found and their values.", _merge_dicts)
    get_bulk_raw = _bulk(_EITHER, "get_bulk_raw", False, "The stored bytes of many keys.",
                         "A dict of the keys found and their bytes.", _merge_dicts)
    keys = _fanned(_EITHER, "keys", False, "Every key of every shard.",
                   "An iterator (``async for`` on the asyncio client).", _concat, lazy=True)
    values = _fanned(_EITHER, "values", False, "Every value of every shard.",
                     "An iterator (``async for`` on the asyncio client).", _concat, lazy=True)
    count = _fanned(_EITHER, "count", False, "Number of records over every shard.",
                    "The sum of the shards' counts.", _total)
    clear = _fanned(_EITHER, "clear", True, "Remove every record, on every master.",
                    "True when every master did.", _all_true)
    synchronize = _fanned(_EITHER, "synchronize", True,
                          "Write the database to its file, on every master.",
                          "True when every master did.", _all_true)


_MATCH_RETURNS = ("The keys, sorted by their bytes.  With ``max_keys`` each shard gives its "
                  "first keys in its database's order and the merge keeps the first "
                  "``max_keys``: on tree databases, the first ones of all.")


def _matching(single: str, name: str, default_max: Optional[int],
              summary: str) -> Callable[..., Any]:
    """A key search (prefix, regex) on every shard, merged in key order."""

    def method(self: ShardedMethods, pattern: Any, max_keys: Optional[int] = default_max,
               *args: Any, **kwargs: Any) -> Any:
        return self._everywhere(False, name, (pattern, max_keys) + args, _SortedKeys(max_keys),
                                kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = _doc(summary, single, name, "pattern: the prefix or regular expression.\n"
                          "    max_keys: how many keys at most (None: all).", _MATCH_RETURNS, _FAN_RAISES)
    return method


class ShardedKyotoMethods(_SameOnBoth):
    """The methods of the sharded Kyoto Tycoon clients, written once
    (``ShardedKyotoTycoon`` runs them synchronously,
    ``kt.AsyncShardedKyotoTycoon`` awaits them).  Each takes the arguments
    of the ``KyotoTycoon`` method of the same name and returns what it
    returns."""

    expire_time = _keyed("KyotoTycoon", "expire_time", False,
                         "The absolute UNIX time at which a key expires.",
                         "The time, or None (never expires, or missing).")
    replace = _keyed("KyotoTycoon", "replace", True, "Store a value only if the key exists.",
                     "True if stored.")
    seize = _keyed("KyotoTycoon", "seize", True, "Get a value and remove its record.",
                   "The value, or None when missing.")
    pop = _keyed("KyotoTycoon", "pop", True, "Same as ``seize``.",
                 "The value, or None when missing.", "seize")
    cas = _keyed("KyotoTycoon", "cas", True, "Compare and swap.", "True on success.")

    get_bulk_details = _bulk("KyotoTycoon", "get_bulk_details", False,
                             "(db, key, value, expire_at) of many keys.",
                             "A list of tuples, shard after shard.", _concat)
    remove_bulk = _bulk("KyotoTycoon", "remove_bulk", True, "Remove many keys.",
                        "How many records were removed (None with ``no_reply``).", _total)

    items = _fanned("KyotoTycoon", "items", False, "Every (key, value) of every shard.",
                    "An iterator (``async for`` on the asyncio client).", _concat, lazy=True)
    vacuum = _fanned("KyotoTycoon", "vacuum", True, "Remove expired records, on every master.",
                     "True when every master did.", _all_true)

    def status(self, db: Optional[int] = None) -> Any:
        """The status fields of a database, from every shard.

        Args:
            db: database index (None: the clients' default).

        Returns:
            A dict of shard name to that shard's status dict.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "status", (db,), self._by_shard)

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, db: Optional[int] = None,
                 expire_time: Optional[int] = None, no_reply: bool = False,
                 **kwargs: Any) -> Any:
        """Store many records: one request per shard, concurrently.  Every
        value is checked (serialized) before any shard is sent anything.

        Args:
            data: a mapping of keys to values.
            db: database index (None: the clients' default).
            expire_time: seconds from now (negative: minus a UNIX time).
            no_reply: send without waiting for the replies.
            **kwargs: more records.

        Returns:
            How many records were stored, or None with ``no_reply``.

        Raises:
            ServerConnectionError: a shard's master could not be reached (the
                other shards stored their records).
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (db, expire_time, no_reply),
                                _total)

    def update(self, __data: Optional[Mapping[Any, Any]] = None, db: Optional[int] = None,
               expire_time: Optional[int] = None, **kwargs: Any) -> Any:
        """Same as ``set_bulk`` (waiting for the replies).

        Args:
            data: a mapping of keys to values.
            db: database index (None: the clients' default).
            expire_time: as for ``set_bulk``.
            **kwargs: more records.

        Returns:
            How many records were stored.

        Raises:
            ServerConnectionError: a shard's master could not be reached.
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (db, expire_time, False), _total)

    match_prefix = _matching("KyotoTycoon", "match_prefix", None,
                             "Keys starting with a prefix, from every shard.")
    match_regex = _matching("KyotoTycoon", "match_regex", None,
                            "Keys matching a regular expression, from every shard.")

    def keys_nonlazy(self, db: Optional[int] = None) -> Any:
        """Every key of every shard as one sorted list (the original
        library's name).

        Args:
            db: database index (None: the clients' default).

        Returns:
            A sorted list of keys.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self.match_prefix(b"", None, db)

    @property
    def size(self) -> Any:
        """Size in bytes of the default database, summed over the shards."""
        return self._everywhere(False, "size", None, _total)

    def set_database(self, db: int) -> Any:
        """Make ``db`` the default database of every server's client.

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


class ShardedTyrantMethods(_SameOnBoth):
    """The methods of the sharded Tokyo Tyrant clients, written once
    (``ShardedTokyoTyrant`` runs them synchronously,
    ``kt.AsyncShardedTokyoTyrant`` awaits them).  Each takes the arguments
    of the ``TokyoTyrant`` method of the same name and returns what it
    returns."""

    get_part = _keyed("TokyoTyrant", "get_part", False, "Part of a key's value (getpart).",
                      "The part, or None.")
    setnr = _keyed("TokyoTyrant", "setnr", True, "Store without waiting for a reply (putnr).",
                   "None.")
    addshl = _keyed("TokyoTyrant", "addshl", True,
                    "Append, keeping the last ``width`` bytes (putshl).", "True if stored.")
    setup = _keyed("TokyoTyrant", "setup", True, "Store a duplicate after the key's records.",
                   "True if stored.")
    setupback = _keyed("TokyoTyrant", "setupback", True,
                       "Store a duplicate before the key's records.", "True if stored.")
    setdup = _keyed("TokyoTyrant", "setdup", True, "Same as ``setup``.", "True if stored.",
                    "setup")
    setdupback = _keyed("TokyoTyrant", "setdupback", True, "Same as ``setupback``.",
                        "True if stored.", "setupback")
    pop = _keyed("TokyoTyrant", "pop", True, "Get a value and remove its record.",
                 "The value, or None when missing.")
    seize = _keyed("TokyoTyrant", "seize", True, "Same as ``pop``.",
                   "The value, or None when missing.", "pop")

    remove_bulk = _bulk("TokyoTyrant", "remove_bulk", True, "Remove many keys (outlist).",
                        "True when every shard's request succeeded.", _all_true)

    items = _fanned("TokyoTyrant", "items", False, "Every record of every shard.",
                    "An iterator (``async for`` on the asyncio client).", _concat,
                    "items_fast", lazy=True)
    items_fast = _fanned("TokyoTyrant", "items_fast", False,
                         "Every record of every shard, as a list.",
                         "A list of (key, value), shard after shard.", _concat)
    optimize = _fanned("TokyoTyrant", "optimize", True, "Optimize the database, on every master.",
                       "True when every master did.", _all_true)

    def status(self) -> Any:
        """The status fields of every shard's server.

        Returns:
            A dict of shard name to that shard's status dict.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "status", (), self._by_shard)

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, update_log: bool = True,
                 **kwargs: Any) -> Any:
        """Store many records: one putlist per shard, concurrently.  Every
        value is checked (serialized) before any shard is sent anything.

        Args:
            data: a mapping of keys to values.
            update_log: write the servers' update logs.
            **kwargs: more records.

        Returns:
            True when every shard stored its records.

        Raises:
            ServerConnectionError: a shard's master could not be reached (the
                other shards stored their records).
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (update_log,), _all_true)

    def update(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Same as ``set_bulk``.

        Args:
            data: a mapping of keys to values.
            **kwargs: more records.

        Returns:
            True when every shard stored its records.

        Raises:
            ServerConnectionError: a shard's master could not be reached.
        """
        return self._bulk_items(__data, kwargs, "set_bulk", (True,), _all_true)

    def setnr_bulk(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Store many records without waiting for replies, shard by shard.

        Args:
            data: a mapping of keys to values.
            **kwargs: more records.

        Returns:
            None.

        Raises:
            ServerConnectionError: a shard's master could not be reached.
        """
        return self._bulk_items(__data, kwargs, "setnr_bulk", (), _nothing)

    match_prefix = _matching("TokyoTyrant", "match_prefix", 1024,
                             "Keys starting with a prefix, from every shard (fwmkeys).")
    match_regex = _matching("TokyoTyrant", "match_regex", 1024,
                            "Keys matching a regular expression, from every shard.")

    def get_range(self, start: Optional[Key] = None, stop: Optional[Key] = None,
                  max_keys: int = 0) -> Any:
        """Records with ``start <= key < stop`` from every shard (B+ tree
        databases), in key order.

        Args:
            start: first key (None: from the first).
            stop: key to stop before (None: to the last).
            max_keys: how many records at most (0: all).

        Returns:
            A dict in key order.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self._everywhere(False, "get_range", (start, stop, max_keys),
                                _SortedItems(max_keys if max_keys > 0 else None))

    def keys_fast(self) -> Any:
        """Every key of every shard as one sorted list (the original
        library's name).

        Returns:
            A sorted list of keys.

        Raises:
            ServerConnectionError: no server of one of the shards answered.
        """
        return self.match_prefix(b"", None)

    @property
    def size(self) -> Any:
        """Size of the databases in bytes, summed over the shards."""
        return self._everywhere(False, "size", None, _total)

    # -- dict interface -----------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        """``client[key]`` (``get``) or ``client[start:stop]`` (``get_range``)."""
        if not isinstance(key, slice):
            return self.get(key)
        if key.step is None:
            return self.get_range(key.start, key.stop)
        raise ValueError("slices of a Tokyo Tyrant database take no step")

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
            ``(host, port, weight)``, a list ``[master, replica, ...]`` of
            addresses, or ``Shard`` objects (a master plus replicas, a
            weight, a name).
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
            ``(host, port, weight)``, a list ``[master, replica, ...]`` of
            addresses, or ``Shard`` objects.
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
