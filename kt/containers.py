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
    """A record of a Kyoto Tycoon database handled by kt's Lua helper library.

    The base of Hash, Set, List and Queue; the client makes them
    (``KyotoTycoon.Hash(key, db)``...).  Nothing is sent until a method is
    called.

    Args:
        client: the KyotoTycoon client whose server runs the helper library.
        key: the record's key (str or bytes).
        db: the database index (None: the client's default database).

    Raises:
        TypeError: ``key`` is not str or bytes, or ``db`` not an int.
        ValueError: ``db`` is outside 0..65535.
    """

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
        """Remove the whole record (the client's ``remove``).

        Returns:
            1 when the record existed, else 0 (also when the server has no
            database ``db``).

        Raises:
            ServerError: the server answered with an error reply.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return self.client.remove(self.key, db=self.db) or 0

    def __repr__(self) -> str:
        return "<%s %r db=%d>" % (type(self).__name__, self.key, self.db)


class Hash(_Container):
    """A map of fields to values kept in one record (hset, hget, ...).

    Made by ``KyotoTycoon.Hash(key, db=None)``; supports ``hash[field]``,
    ``hash[field] = value``, ``del hash[field]`` (KeyError when absent),
    ``field in hash``, ``len(hash)`` and iteration over the fields.  Values
    go through the client's serializer.
    """

    _key_arg = b"table_key"

    def __setitem__(self, field: Key, value: Any) -> None:
        self._call("hset", {b"key": _raw(field), b"value": self._encode(value)})

    def setnx(self, field: Key, value: Any) -> bool:
        """Set ``field`` to ``value`` unless the field exists (hsetnx).

        Args:
            field: the field's name (str or bytes).
            value: the value, serialized with the client's serializer.

        Returns:
            True when the field was set, False when it existed.

        Raises:
            TypeError: the serializer cannot encode ``value``; nothing is sent.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        out = self._call("hsetnx", {b"key": _raw(field), b"value": self._encode(value)})
        return _number(out, b"num") == 1

    def get(self, field: Key, default: Any = None) -> Any:
        """The value of ``field`` (hget).

        Args:
            field: the field's name (str or bytes).
            default: what to return when the field is absent.

        Returns:
            The value, deserialized, or ``default``.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
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
        """Set several fields in one call (hmset).

        Fields named "table_key", "db", "key" or "value" (which the procedures
        read as their own inputs) are set one by one with hset.

        Args:
            data: a mapping of field names to values (optional).
            **kwargs: more fields, as keyword arguments.

        Returns:
            How many fields were written.

        Raises:
            TypeError: a value of ``data`` or ``kwargs`` cannot be serialized.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        fields: Dict[bytes, bytes] = {}
        if __data:
            fields.update((_raw(k), self._encode(v)) for k, v in __data.items())
        fields.update((_raw(k), self._encode(v)) for k, v in kwargs.items())
        reserved = [f for f in fields if f in _RESERVED]
        for field in reserved:
            self._call("hset", {b"key": field, b"value": fields.pop(field)})
        return (_number(self._call("hmset", fields), b"num") if fields else 0) + len(reserved)

    def get_many(self, fields: Iterable[Key]) -> Dict[Any, Any]:
        """The values of several fields in one call (hmget).

        Args:
            fields: the field names wanted (each str or bytes).

        Returns:
            A dict of the fields present to their values, deserialized; absent
            fields are left out.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
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
        """Every field and its value (hgetall).

        Returns:
            A dict of field names to values, deserialized (empty when the record
            does not exist).

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        out = self._call("hgetall")
        return {self.client._key_out(k): self._decode(v) for k, v in out.items()}

    def keys(self) -> list[Any]:
        """The field names (one hgetall).

        Returns:
            The names of the hash's fields, as a list.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return list(self.to_dict())

    def values(self) -> list[Any]:
        """The values of every field (one hgetall).

        Returns:
            A list of the values, each deserialized with the client's serializer.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return list(self.to_dict().values())

    def items(self) -> list[Any]:
        """The (field, value) pairs (one hgetall).

        Returns:
            A list of (field, value) tuples, values deserialized.

        Raises:
            ServerConnectionError: the server cannot be reached or the connection broke.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return list(self.to_dict().items())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())


_MISSING = object()


class Set(_Container):
    """A set of values kept in one record (sadd, srem, ...).

    Made by ``KyotoTycoon.Set(key, db=None)``; supports ``value in set``,
    ``len(set)`` and iteration.  Members are compared by their serialized
    form.
    """

    def add(self, *values: Any) -> int:
        """Add values to the set (sadd).

        Args:
            *values: the values to add, serialized with the client's serializer.

        Returns:
            How many of them were not members yet (0 when none are given).

        Raises:
            TypeError: the client's serializer cannot encode one of ``values``.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return _number(self._call("sadd", self._values(values)), b"num") if values else 0

    def remove(self, *values: Any) -> int:
        """Remove values from the set (srem).

        Args:
            *values: the values to remove.

        Returns:
            How many of them were members (0 when none are given).

        Raises:
            TypeError: a value has a type the serializer does not accept.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return _number(self._call("srem", self._values(values)), b"num") if values else 0

    def __contains__(self, value: object) -> bool:
        return _number(self._call("sismember", {b"value": self._encode(value)}), b"num") == 1

    def __len__(self) -> int:
        return _number(self._call("scard"), b"num")

    def members(self) -> list[Any]:
        """Every member (smembers).

        Returns:
            A list of the members, deserialized, in the byte order of their
            serialized form.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return [self._decode(v) for v in _numbered(self._call("smembers"))]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.members())

    def pop(self) -> Any:
        """Remove some member and return it (spop).

        Returns:
            The member removed, deserialized.

        Raises:
            KeyError: the set is empty.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
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
        """The members that are in this set and in all the others (sinter).

        Args:
            *others: the other sets: Set objects or record keys.
            dest: a record key to store the result in as a set, instead of
                returning it.

        Returns:
            A list of the members, deserialized; with ``dest``, their number.

        Raises:
            ServerError: the procedure failed (no helper library, or no database
                ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return self._combine("sinter", others, dest)

    def union(self, *others: Union["Set", Key], dest: Optional[Key] = None) -> Any:
        """The members that are in any of the sets (sunion).

        Args:
            *others: the other sets: Set objects or record keys.
            dest: a record key to store the result in, instead of returning it.

        Returns:
            A list of the members, deserialized; with ``dest``, how many there
            are.

        Raises:
            ServerConnectionError: the server cannot be reached or the connection broke.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return self._combine("sunion", others, dest)

    def difference(self, *others: Union["Set", Key], dest: Optional[Key] = None) -> Any:
        """The members of this set that are in none of the others (sdiff).

        Args:
            *others: the other sets: Set objects or record keys.
            dest: a record key where the result is stored instead of returned.

        Returns:
            A list of the members, deserialized, or their count with ``dest``.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return self._combine("sdiff", others, dest)

    # _call puts self.key under "key"; the combining procedures take keys as
    # "0".."n" and ignore it.


class List(_Container):
    """A list of values kept in one record (lpush, rpush, lrange, ...).

    Made by ``KyotoTycoon.List(key, db=None)``; supports ``list[i]``,
    ``list[i:j]`` (no step), ``list[i] = value``, ``len(list)`` and
    iteration; indexes may be negative, as in Python.
    """

    def append(self, value: Any) -> int:
        """Add ``value`` at the end (rpush).

        Args:
            value: the value, serialized with the client's serializer.

        Returns:
            The new length.

        Raises:
            TypeError: ``value`` is of a type the client's serializer refuses.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return _number(self._call("rpush", {b"value": self._encode(value)}), b"num")

    def appendleft(self, value: Any) -> int:
        """Add ``value`` at the front (lpush).

        Args:
            value: the value to put first, serialized.

        Returns:
            The length of the list with the new value.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
            TypeError: ``value`` has a type the serializer does not accept.
        """
        return _number(self._call("lpush", {b"value": self._encode(value)}), b"num")

    def extend(self, values: Iterable[Any]) -> int:
        """Add values at the end, in one call (rpush).

        Args:
            values: the values to add (each serialized with the client's serializer).

        Returns:
            The new length (asked with llen when ``values`` is empty).

        Raises:
            TypeError: one of ``values`` cannot be serialized.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        args = self._values(values)
        return _number(self._call("rpush", args), b"num") if args else len(self)

    def insert(self, index: int, value: Any) -> int:
        """Insert ``value`` before ``index``, as ``list.insert`` does (linsert).

        An index past the end appends; a negative one counts from the end.

        Args:
            index: the position (int).
            value: the value, serialized with the client's serializer.

        Returns:
            The new length.

        Raises:
            TypeError: ``index`` is not a number, or the client's serializer
                cannot encode ``value``.
            ValueError: ``index`` is a str that is not an integer.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        args = {b"index": _raw(int(index)), b"value": self._encode(value)}
        return _number(self._call("linsert", args), b"num")

    def pop(self, index: int = -1) -> Any:
        """Remove and return the last (index -1) or the first (index 0) value.

        Args:
            index: -1 (rpop) or 0 (lpop).

        Returns:
            The value, deserialized.

        Raises:
            ValueError: ``index`` is neither 0 nor -1.
            IndexError: the list is empty.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        if index not in (0, -1):
            raise ValueError("List.pop takes index 0 or -1")
        out = self._call("lpop" if index == 0 else "rpop")
        if b"value" not in out:
            raise IndexError("pop from an empty list")
        return self._decode(out[b"value"])

    def popleft(self) -> Any:
        """Remove and return the first value (``pop(0)``, lpop).

        Returns:
            The first value of the list, deserialized.

        Raises:
            IndexError: the list is empty.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
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
    """A first-in first-out queue: one record per item (queue_add, ...).

    Made by ``KyotoTycoon.Queue(key, db=None)``; ``len(queue)`` is
    ``count()``.  Items go through the client's serializer.
    """

    _key_arg = b"queue"

    def add(self, item: Any) -> int:
        """Append ``item`` at the back of the queue (queue_add).

        Args:
            item: the item, serialized with the client's serializer.

        Returns:
            The item's id (int), increasing with each item added.

        Raises:
            TypeError: the client's serializer cannot encode ``item``.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return _number(self._call("queue_add", {b"data": self._encode(item)}), b"id")

    def extend(self, items: Iterable[Any]) -> int:
        """Append several items at the back, in one call (queue_madd).

        Args:
            items: the items, each serialized with the client's serializer.

        Returns:
            How many items were added.

        Raises:
            TypeError: the client's serializer cannot encode an item.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        args = self._values(items)
        return _number(self._call("queue_madd", args), b"num") if args else 0

    def _items(self, procedure: str, n: int) -> Any:
        raw = _numbered(self._call(procedure, {b"n": _raw(_check_n(n))}))
        return _items_result([self._decode(v) for v in raw], n)

    def pop(self, n: int = 1) -> Any:
        """Remove and return the item at the front (queue_pop).

        Args:
            n: how many items: 1 gives one item or None; any other number a
                list of up to ``n`` items (-1: all).

        Returns:
            With ``n`` 1, the item (deserialized) or None when the queue is
            empty; otherwise a list of items.

        Raises:
            TypeError: ``n`` is not an int.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return self._items("queue_pop", n)

    def rpop(self, n: int = 1) -> Any:
        """Remove and return the item at the back (queue_rpop).

        Args:
            n: 1 for the last item (None when the queue is empty); another
                number for a list of up to ``n`` items from the back (-1: all).

        Returns:
            The last item, deserialized, or None; a list when ``n`` is not 1.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            TypeError: ``n`` is not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return self._items("queue_rpop", n)

    def peek(self, n: int = 1) -> Any:
        """The item at the front, left in the queue (queue_peek).

        Args:
            n: as for ``pop``: 1 for one item or None, another number for a list
                (-1: every item).

        Returns:
            The first item (or None), or a list of the first ``n`` items.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            TypeError: ``n`` is not an int.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return self._items("queue_peek", n)

    def rpeek(self, n: int = 1) -> Any:
        """The item at the back, left in the queue (queue_rpeek).

        Args:
            n: as for ``rpop``.

        Returns:
            The last item (or None when the queue is empty); with ``n`` other
            than 1, a list of up to ``n`` items from the back.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
            TypeError: ``n`` is not an int.
        """
        return self._items("queue_rpeek", n)

    def remove(self, item: Any, n: Optional[int] = None) -> int:
        """Remove the items equal to ``item``, searching from the front (queue_remove).

        Args:
            item: the item to remove (compared serialized).
            n: the most items to remove (None: all of them).

        Returns:
            How many items were removed.

        Raises:
            TypeError: the serializer cannot encode ``item``, or ``n`` is not a
                number.
            ValueError: ``n`` is a str that is not an integer.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        args = {b"data": self._encode(item), b"n": _raw(-1 if n is None else int(n))}
        return _number(self._call("queue_remove", args), b"num")

    def rremove(self, item: Any, n: Optional[int] = None) -> int:
        """Remove items equal to ``item``, searching from the back (queue_rremove).

        Args:
            item: the item to remove (compared in its serialized form).
            n: how many to remove at most (None: every one).

        Returns:
            The number of items removed.

        Raises:
            ValueError: ``n`` is a str that is not an integer.
            TypeError: ``item`` cannot be serialized, or ``n`` is not a number.
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        args = {b"data": self._encode(item), b"n": _raw(-1 if n is None else int(n))}
        return _number(self._call("queue_rremove", args), b"num")

    def count(self) -> int:
        """The number of items in the queue (queue_size); also ``len(queue)``.

        Returns:
            The count (int).

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return _number(self._call("queue_size"), b"num")

    __len__ = count

    def clear(self) -> int:
        """Remove every item (queue_clear).

        Returns:
            How many items there were.

        Raises:
            ServerError: the procedure failed (no helper library, or no database ``db``).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return _number(self._call("queue_clear"), b"num")


def parse_netstrings(data: bytes) -> list[bytes]:
    """Split the "<length>:<bytes>" sequence that tyrant.lua returns.

    Args:
        data: the function's result: netstrings back to back.

    Returns:
        The items, as a list of bytes.

    Raises:
        ProtocolError: ``data`` is not a sequence of netstrings (a bad
            length, or one that runs past the end).
    """
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
    """A queue on a Tokyo Tyrant server running kt's tyrant.lua.

    Made by ``TokyoTyrant.Queue(key)``; ``len(queue)`` is ``count()``.
    Items go through the client's serializer.  Nothing is sent until a
    method is called.

    Args:
        client: the TokyoTyrant client whose server runs tyrant.lua
            (``ttserver -ext``).
        key: the queue's name (str or bytes).

    Raises:
        TypeError: ``key`` is not str or bytes.
    """

    def __init__(self, client: "TokyoTyrant", key: Key) -> None:
        if not isinstance(key, (str, bytes)):
            raise TypeError("key must be str or bytes, not %s" % type(key).__name__)
        self.client = client
        self.key = key

    def _call(self, name: str, value: bytes = b"") -> bytes:
        result: bytes = self.client.script(name, self.key, value, encode_value=False)
        return result

    def add(self, item: Any) -> int:
        """Append ``item`` at the back of the queue.

        Args:
            item: the item, serialized with the client's serializer.

        Returns:
            The item's id (int).

        Raises:
            TypeError: the client's serializer cannot encode ``item``.
            TokyoTyrantError: the function failed (the server does not run tyrant.lua).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return int(self._call("queue_add", self.client.serializer.encode(item)))

    def extend(self, items: Iterable[Any]) -> int:
        """Append several items at the back, one call per item.

        Args:
            items: the items to append; each is serialized.

        Returns:
            The number of items appended.

        Raises:
            TypeError: the client's serializer cannot encode an item.
            TokyoTyrantError: the function failed (the server does not run tyrant.lua).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return sum(1 for item in items if self.add(item))

    def pop(self, n: int = 1) -> Any:
        """Remove the first item, or the first ``n``, and return them.

        Args:
            n: 1 for one item, or None when the queue is empty; another number
                for a list of up to ``n`` items (-1: all).

        Returns:
            The item (deserialized) or None; with ``n`` other than 1, a list.

        Raises:
            TokyoTyrantError: the function failed (the server does not run tyrant.lua).
            TypeError: ``n`` is not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        raw = parse_netstrings(self._call("queue_pop", _raw(_check_n(n))))
        return _items_result([self.client.serializer.decode(v) for v in raw], n)

    def peek(self, n: int = 1) -> Any:
        """Read the first item, or the first ``n``, leaving them in the queue.

        Args:
            n: as for ``pop``.

        Returns:
            What ``pop`` would return.

        Raises:
            TokyoTyrantError: the function failed (the server does not run tyrant.lua).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
            TypeError: ``n`` is not an int.
        """
        raw = parse_netstrings(self._call("queue_peek", _raw(_check_n(n))))
        return _items_result([self.client.serializer.decode(v) for v in raw], n)

    def count(self) -> int:
        """The number of items in the queue; also ``len(queue)``.

        Returns:
            The count (int).

        Raises:
            TokyoTyrantError: the function failed (the server does not run tyrant.lua).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return int(self._call("queue_size"))

    __len__ = count

    def clear(self) -> int:
        """Remove every item.

        Returns:
            How many items there were before.

        Raises:
            TokyoTyrantError: the function failed (the server does not run tyrant.lua).
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid (the connection is discarded).
        """
        return int(self._call("queue_clear"))

    def __repr__(self) -> str:
        return "<TTQueue %r>" % (self.key,)
