"""Typed client helpers over the procedures of kt's Lua helper library.

Who calls it: users, through ``KyotoTycoon.Hash/Set/List/Queue(key)`` and
``TokyoTyrant.Queue(name)``.  The server must run the helper library
(``ktserver -scr`` / ``ttserver -ext`` with ``kt.lua_script_path(...)``; the
built-in servers load it the same way).  Values go through the client's
serializer; names, counts and indexes are sent as text.  Each method is
one procedure call, atomic on the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, Mapping, Optional, Union

from kt.errors import ProtocolError, ServerError

if TYPE_CHECKING:  # pragma: no cover
    from kt.kyoto import KyotoTycoon
    from kt.tyrant import TokyoTyrant

__all__ = ["Hash", "List", "Queue", "Set", "TTQueue", "parse_netstrings"]

Key = Union[str, bytes]

# Inputs the hash procedures read themselves: such field names cannot be
# passed as name=value entries (hmset, hmget) and go one at a time.
_RESERVED = frozenset([b"table_key", b"db", b"key", b"value"])


def _raw(value: Union[str, bytes, int]) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(value).encode("ascii")


def _number(out: Mapping[bytes, bytes], name: bytes) -> int:
    raw = out.get(name)
    try:
        return int(float(raw)) if raw is not None else 0
    except ValueError:
        raise ProtocolError("procedure answered %s=%r, not a number" % (name.decode(), raw)) from None


def _numbered(out: Mapping[bytes, bytes]) -> list[bytes]:
    """The values of "0", "1", ... in order."""
    values: list[bytes] = []
    while True:
        value = out.get(str(len(values)).encode("ascii"))
        if value is None:
            return values
        values.append(value)


def _items_result(values: list[Any], n: int) -> Any:
    """What pop/peek return: one item or None for n == 1, else a list."""
    if n == 1:
        return values[0] if values else None
    return values


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("n must be an int, not %s" % type(n).__name__)
    return n


class _Container:
    """A record of a Kyoto Tycoon database handled by the helper library."""

    _key_arg = b"key"

    def __init__(self, client: "KyotoTycoon", key: Key, db: Optional[int] = None) -> None:
        if not isinstance(key, (str, bytes)):
            raise TypeError("key must be str or bytes, not %s" % type(key).__name__)
        self.client = client
        self.key = key
        self.db = client.default_db if db is None else client._check_db(db)
        self._encode = client.serializer.encode
        self._decode = client.serializer.decode

    def _call(self, procedure: str, args: Optional[Dict[bytes, bytes]] = None) -> Dict[bytes, bytes]:
        data: Dict[bytes, bytes] = dict(args) if args else {}
        data[self._key_arg] = _raw(self.key)
        data[b"db"] = _raw(self.db)
        out = self.client.script(procedure, data, encode_values=False)
        assert out is not None
        return {(k if isinstance(k, bytes) else k.encode("utf-8")): v for k, v in out.items()}

    def _values(self, values: Iterable[Any]) -> Dict[bytes, bytes]:
        return {_raw(i): self._encode(v) for i, v in enumerate(values)}

    def delete(self) -> int:
        """Remove the whole record; returns 1 if it existed, else 0."""
        return self.client.remove(self.key, db=self.db) or 0

    def __repr__(self) -> str:
        return "<%s %r db=%d>" % (type(self).__name__, self.key, self.db)


class Hash(_Container):
    """A map of fields to values kept in one record (hset, hget, ...)."""

    _key_arg = b"table_key"

    def __setitem__(self, field: Key, value: Any) -> None:
        self._call("hset", {b"key": _raw(field), b"value": self._encode(value)})

    def setnx(self, field: Key, value: Any) -> bool:
        """Set ``field`` unless it exists; True when it was set."""
        out = self._call("hsetnx", {b"key": _raw(field), b"value": self._encode(value)})
        return _number(out, b"num") == 1

    def get(self, field: Key, default: Any = None) -> Any:
        """The value of ``field``, or ``default`` when it is absent."""
        out = self._call("hget", {b"key": _raw(field)})
        value = out.get(b"value")
        return default if value is None else self._decode(value)

    def __getitem__(self, field: Key) -> Any:
        out = self._call("hget", {b"key": _raw(field)})
        if b"value" not in out:
            raise KeyError(field)
        return self._decode(out[b"value"])

    def __delitem__(self, field: Key) -> None:
        if _number(self._call("hdel", {b"key": _raw(field)}), b"num") == 0:
            raise KeyError(field)

    def __contains__(self, field: object) -> bool:
        if not isinstance(field, (str, bytes)):
            return False
        return _number(self._call("hcontains", {b"key": _raw(field)}), b"num") == 1

    def __len__(self) -> int:
        return _number(self._call("hlen"), b"num")

    def update(self, __data: Optional[Mapping[Key, Any]] = None, **kwargs: Any) -> int:
        """Set several fields in one call; returns how many were written."""
        fields: Dict[bytes, bytes] = {}
        if __data:
            fields.update((_raw(k), self._encode(v)) for k, v in __data.items())
        fields.update((_raw(k), self._encode(v)) for k, v in kwargs.items())
        reserved = [f for f in fields if f in _RESERVED]
        for field in reserved:
            self._call("hset", {b"key": field, b"value": fields.pop(field)})
        return (_number(self._call("hmset", fields), b"num") if fields else 0) + len(reserved)

    def get_many(self, fields: Iterable[Key]) -> Dict[Any, Any]:
        """The present fields among ``fields``, as a dict."""
        wanted = [_raw(f) for f in fields]
        out = self._call("hmget", {f: b"" for f in wanted if f not in _RESERVED})
        result = {self.client._key_out(f): self._decode(out[f]) for f in wanted if f in out}
        for field in wanted:
            if field in _RESERVED:
                value = self.get(field, _MISSING)
                if value is not _MISSING:
                    result[self.client._key_out(field)] = value
        return result

    def to_dict(self) -> Dict[Any, Any]:
        """Every field and value."""
        out = self._call("hgetall")
        return {self.client._key_out(k): self._decode(v) for k, v in out.items()}

    def keys(self) -> list[Any]:
        """The field names (one hgetall)."""
        return list(self.to_dict())

    def values(self) -> list[Any]:
        """The values (one hgetall)."""
        return list(self.to_dict().values())

    def items(self) -> list[Any]:
        """(field, value) pairs (one hgetall)."""
        return list(self.to_dict().items())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())


_MISSING = object()


class Set(_Container):
    """A set of (serialized) values kept in one record (sadd, srem, ...)."""

    def add(self, *values: Any) -> int:
        """Add values; returns how many were not there yet."""
        return _number(self._call("sadd", self._values(values)), b"num") if values else 0

    def remove(self, *values: Any) -> int:
        """Remove values; returns how many were there."""
        return _number(self._call("srem", self._values(values)), b"num") if values else 0

    def __contains__(self, value: object) -> bool:
        return _number(self._call("sismember", {b"value": self._encode(value)}), b"num") == 1

    def __len__(self) -> int:
        return _number(self._call("scard"), b"num")

    def members(self) -> list[Any]:
        """The members (in the byte order of their serialized form)."""
        return [self._decode(v) for v in _numbered(self._call("smembers"))]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.members())

    def pop(self) -> Any:
        """Remove and return some member; KeyError when the set is empty."""
        out = self._call("spop")
        if b"value" not in out:
            raise KeyError("pop from an empty set")
        return self._decode(out[b"value"])

    def _combine(self, procedure: str, others: Iterable[Union["Set", Key]],
                 dest: Optional[Key]) -> Any:
        keys = [self.key] + [o.key if isinstance(o, Set) else o for o in others]
        args = {_raw(i): _raw(k) for i, k in enumerate(keys)}
        if dest is not None:
            args[b"dest"] = _raw(dest)
        out = self._call(procedure, args)
        if dest is not None:
            return _number(out, b"num")
        return [self._decode(v) for v in _numbered(out)]

    def intersection(self, *others: Union["Set", Key], dest: Optional[Key] = None) -> Any:
        """Members in this set and all others (a list); with ``dest``,
        stored in that record and the count returned."""
        return self._combine("sinter", others, dest)

    def union(self, *others: Union["Set", Key], dest: Optional[Key] = None) -> Any:
        """Members in any of the sets (see ``intersection`` for ``dest``)."""
        return self._combine("sunion", others, dest)

    def difference(self, *others: Union["Set", Key], dest: Optional[Key] = None) -> Any:
        """Members of this set in none of the others."""
        return self._combine("sdiff", others, dest)

    # _call puts self.key under "key"; the combining procedures take keys as
    # "0".."n" and ignore it.


class List(_Container):
    """A list of values kept in one record (lpush, rpush, lrange, ...)."""

    def append(self, value: Any) -> int:
        """Add at the end; returns the new length."""
        return _number(self._call("rpush", {b"value": self._encode(value)}), b"num")

    def appendleft(self, value: Any) -> int:
        """Add at the front; returns the new length."""
        return _number(self._call("lpush", {b"value": self._encode(value)}), b"num")

    def extend(self, values: Iterable[Any]) -> int:
        """Add values at the end; returns the new length."""
        args = self._values(values)
        return _number(self._call("rpush", args), b"num") if args else len(self)

    def insert(self, index: int, value: Any) -> int:
        """Insert before ``index`` as list.insert does; returns the new length."""
        args = {b"index": _raw(int(index)), b"value": self._encode(value)}
        return _number(self._call("linsert", args), b"num")

    def pop(self, index: int = -1) -> Any:
        """Remove and return the last (index -1) or first (index 0) value;
        IndexError when the list is empty."""
        if index not in (0, -1):
            raise ValueError("List.pop takes index 0 or -1")
        out = self._call("lpop" if index == 0 else "rpop")
        if b"value" not in out:
            raise IndexError("pop from an empty list")
        return self._decode(out[b"value"])

    def popleft(self) -> Any:
        """Remove and return the first value (``pop(0)``)."""
        return self.pop(0)

    def __getitem__(self, index: Union[int, slice]) -> Any:
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise ValueError("List slices take no step")
            args: Dict[bytes, bytes] = {}
            if index.start is not None:
                args[b"start"] = _raw(int(index.start))
            if index.stop is not None:
                args[b"stop"] = _raw(int(index.stop))
            return [self._decode(v) for v in _numbered(self._call("lrange", args))]
        out = self._call("lindex", {b"index": _raw(int(index))})
        if b"value" not in out:
            raise IndexError("list index out of range")
        return self._decode(out[b"value"])

    def __setitem__(self, index: int, value: Any) -> None:
        try:
            self._call("lset", {b"index": _raw(int(index)), b"value": self._encode(value)})
        except ServerError:
            if not -len(self) <= index < len(self):
                raise IndexError("list assignment index out of range") from None
            raise

    def __len__(self) -> int:
        return _number(self._call("llen"), b"num")

    def __iter__(self) -> Iterator[Any]:
        return iter(self[:])


class Queue(_Container):
    """A first-in first-out queue: one record per item (queue_add, ...)."""

    _key_arg = b"queue"

    def add(self, item: Any) -> int:
        """Append an item; returns its id."""
        return _number(self._call("queue_add", {b"data": self._encode(item)}), b"id")

    def extend(self, items: Iterable[Any]) -> int:
        """Append items; returns how many."""
        args = self._values(items)
        return _number(self._call("queue_madd", args), b"num") if args else 0

    def _items(self, procedure: str, n: int) -> Any:
        raw = _numbered(self._call(procedure, {b"n": _raw(_check_n(n))}))
        return _items_result([self._decode(v) for v in raw], n)

    def pop(self, n: int = 1) -> Any:
        """Remove and return the first item (None when empty), or with
        ``n`` other than 1 a list of up to n items (-1: all)."""
        return self._items("queue_pop", n)

    def rpop(self, n: int = 1) -> Any:
        """Like ``pop`` from the back."""
        return self._items("queue_rpop", n)

    def peek(self, n: int = 1) -> Any:
        """Like ``pop`` without removing."""
        return self._items("queue_peek", n)

    def rpeek(self, n: int = 1) -> Any:
        """Like ``rpop`` without removing."""
        return self._items("queue_rpeek", n)

    def remove(self, item: Any, n: Optional[int] = None) -> int:
        """Remove up to ``n`` (default all) items equal to ``item``, from the
        front; returns how many."""
        args = {b"data": self._encode(item), b"n": _raw(-1 if n is None else int(n))}
        return _number(self._call("queue_remove", args), b"num")

    def rremove(self, item: Any, n: Optional[int] = None) -> int:
        """Like ``remove`` from the back."""
        args = {b"data": self._encode(item), b"n": _raw(-1 if n is None else int(n))}
        return _number(self._call("queue_rremove", args), b"num")

    def count(self) -> int:
        """The number of items (also ``len(queue)``)."""
        return _number(self._call("queue_size"), b"num")

    __len__ = count

    def clear(self) -> int:
        """Remove every item; returns how many."""
        return _number(self._call("queue_clear"), b"num")


def parse_netstrings(data: bytes) -> list[bytes]:
    """Split the "<length>:<bytes>" sequence tyrant.lua returns."""
    items: list[bytes] = []
    pos = 0
    while pos < len(data):
        colon = data.find(b":", pos)
        if colon < 0 or not data[pos:colon].isdigit():
            raise ProtocolError("bad netstring list at byte %d: %r" % (pos, data[pos:pos + 20]))
        end = colon + 1 + int(data[pos:colon])
        if end > len(data):
            raise ProtocolError("netstring list truncated at byte %d" % pos)
        items.append(data[colon + 1:end])
        pos = end
    return items


class TTQueue:
    """A queue on a Tokyo Tyrant server running tyrant.lua."""

    def __init__(self, client: "TokyoTyrant", key: Key) -> None:
        if not isinstance(key, (str, bytes)):
            raise TypeError("key must be str or bytes, not %s" % type(key).__name__)
        self.client = client
        self.key = key

    def _call(self, name: str, value: bytes = b"") -> bytes:
        result: bytes = self.client.script(name, self.key, value, encode_value=False)
        return result

    def add(self, item: Any) -> int:
        """Append an item; returns its id."""
        return int(self._call("queue_add", self.client.serializer.encode(item)))

    def extend(self, items: Iterable[Any]) -> int:
        """Append items (one call each); returns how many."""
        return sum(1 for item in items if self.add(item))

    def pop(self, n: int = 1) -> Any:
        """Remove and return the first item (None when empty), or with
        ``n`` other than 1 a list of up to n items (-1: all)."""
        raw = parse_netstrings(self._call("queue_pop", _raw(_check_n(n))))
        return _items_result([self.client.serializer.decode(v) for v in raw], n)

    def peek(self, n: int = 1) -> Any:
        """Like ``pop`` without removing."""
        raw = parse_netstrings(self._call("queue_peek", _raw(_check_n(n))))
        return _items_result([self.client.serializer.decode(v) for v in raw], n)

    def count(self) -> int:
        """The number of items (also ``len(queue)``)."""
        return int(self._call("queue_size"))

    __len__ = count

    def clear(self) -> int:
        """Remove every item; returns how many."""
        return int(self._call("queue_clear"))

    def __repr__(self) -> str:
        return "<TTQueue %r>" % (self.key,)
