"""The Tokyo Tyrant client.

``TyrantMethods`` holds every method of the Tokyo Tyrant clients, written
once; ``TokyoTyrant`` runs them over the synchronous pool and
kt.aio.AsyncTokyoTyrant over the asyncio pool (see kt.client).  The client
speaks ttserver's binary protocol (kt.protocol.tt_binary)
over the connection pool shared with the Kyoto Tycoon client
(kt.connection).  Table databases are served by the same class: use the
``TT_TABLE`` serializer for dict values and ``QueryBuilder`` (kt.table) for
queries.

Semantics worth knowing:

* ttserver answers every failure with the same status byte; kt reports a
  failed write as False, a missing record as None, and raises
  ``TokyoTyrantError`` (a ServerError carrying tcrdb's error code: 6 for
  "existing record", 7 for "no record found", 9999 otherwise) where no
  answer makes sense (``incr`` on a record that is not a number, a script
  that does not exist, a search the database cannot run).
* Only ``setnr`` / ``setnr_bulk`` are fire-and-forget; every other write
  waits for the reply.
* ``keys()`` uses ``fwmkeys``, and ``items()`` / ``values()`` pages of
  misc "range" (B+ tree databases: every record, duplicates included) or
  ``fwmkeys`` and ``mget`` (other databases), rather than the server's
  single shared iterator, so they never disturb (nor are disturbed by)
  another client iterating at the same time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Final, Iterable, List, Mapping, Optional, Tuple, Union, final

from kt.client import Finish, LuaHelper, Plan, PooledClient, Request, merge_items, mypyc_attr, number_text
from kt.errors import ProtocolError, TokyoTyrantError
from kt.protocol import tt_binary as tb
from kt.protocol.buffer import ReceiveBuffer
from kt.protocol.convert import keys_to_bytes, text, texts, to_bytes
from kt.serializers import KT_BINARY, Serializer
from kt.table import INDEX_DELETE, INDEX_KEEP, INDEX_OPTIMIZE, encode_expression

__all__ = ["TokyoTyrant", "TyrantMethods", "search_argument"]

if TYPE_CHECKING:  # the Lua helper containers (kt.containers) import this module
    from kt import containers as _containers

Key = Union[str, bytes]
_MGET_BATCH: Final = 1000


_ITER_BATCH: Final = 100
_RANGE_PAGE: Final = 1000
_SCRIPT_DECODE: Final = 1
_SCRIPT_INT: Final = 2
_SCRIPT_LIST: Final = 4
_SCRIPT_DICT: Final = 8
_KEYS: Final = 0
_VALUES: Final = 1
_ITEMS: Final = 2


def _key(key: object) -> bytes:
    return to_bytes(key, "key")


def _script_arg(value: object) -> bytes:
    number = number_text(value)
    return _key(value) if number is None else number


def _int_result(result: bytes, name: str) -> Optional[int]:
    if not result.strip():
        return None
    try:
        return int(result)
    except ValueError:
        raise ProtocolError("script %r: result %r is not an integer" % (name, result[:40])) \
            from None


def _is_zero(status: int, arg: Any) -> bool:
    return status == 0


def _same(data: bytes) -> bytes:
    return data


def _listed(items: List[Any], arg: Any) -> List[Any]:
    return items


def _misc_ok(reply: Tuple[int, List[bytes]], arg: Any) -> bool:
    return reply[0] == 0


def _misc_elements(reply: Tuple[int, List[bytes]], arg: Any) -> Optional[List[bytes]]:
    return reply[1] if reply[0] == 0 else None


def _size_or_none(reply: Tuple[int, int], arg: Any) -> Optional[int]:
    return reply[1] if reply[0] == 0 else None


def _found(reply: Tuple[int, int], arg: Any) -> bool:
    return reply[0] == 0


def _raw_or_none(reply: Tuple[int, bytes], arg: Any) -> Optional[bytes]:
    return reply[1] if reply[0] == 0 else None


def _one_if_zero(status: int, arg: Any) -> int:
    return 1 if status == 0 else 0


def _part(value: Any) -> bytes:
    if isinstance(value, bool):
        raise TypeError("a search expression part must be str, bytes or a number, not bool")
    if isinstance(value, (int, float)):
        return tb.format_number(value)
    return to_bytes(value, "search expression part")


def search_argument(expression: Any) -> bytes:
    """One argument of misc "search", encoded.

    Args:
        expression: a raw argument as it travels (str or bytes, e.g.
            ``addcond\\0col\\0op\\0expr``), or a tuple as the original
            library's QueryBuilder made them: ``('addcond', column, op, expr)``,
            ``('setorder', column, type)`` or ``('setlimit', limit, offset)``.

    Returns:
        The argument as bytes, its parts joined by NUL bytes.

    Raises:
        TypeError: a part is not str, bytes or a number (or is a bool).
        ValueError: the tuple is empty, names another function, has the wrong
            number of parts, or its condition does not fit its operator.
    """
    if not isinstance(expression, (tuple, list)):
        return to_bytes(expression, "search expression")
    if not expression:
        raise ValueError("empty search expression")
    name = _part(expression[0])
    parts = list(expression[1:])
    if name == b"addcond":
        if len(parts) != 3:
            raise ValueError("('addcond', column, op, expr) takes 3 arguments, got %d" % len(parts))
        op = parts[1]
        encoded = [_part(parts[0]), b"%d" % op, encode_expression(op, parts[2])]
    elif name in (b"setorder", b"setlimit"):
        if len(parts) != 2:
            raise ValueError("(%r, a, b) takes 2 arguments, got %d" % (name.decode(), len(parts)))
        encoded = [_part(p) for p in parts]
    else:
        raise ValueError("unknown search expression %r (addcond, setorder or setlimit)" % name)
    return b"\x00".join([name] + encoded)


@final
class _Pipeline:
    """Parser of several replies sent back to back: ``first`` then
    ``count`` misc replies (TT iter_from pipelines iterinit and iternext)."""

    def __init__(self, count: int) -> None:
        self._misc = tb.MiscReplyParser()
        self._count = count
        self._replies: List[Tuple[int, List[bytes]]] = []

    def parse(self, buf: ReceiveBuffer) -> Optional[List[Tuple[int, List[bytes]]]]:
        replies = self._replies
        while len(replies) < self._count:
            reply = self._misc.parse(buf)
            if reply is None:
                return None
            replies.append(reply)
        return replies


@final
class _PopParser:
    """get then out, sent together (pop): the get's reply, after the out's."""

    def __init__(self) -> None:
        self._value: Optional[Tuple[int, bytes]] = None

    def parse(self, buf: ReceiveBuffer) -> Optional[Tuple[int, bytes]]:
        if self._value is None:
            self._value = tb.parse_value_reply(buf)
            if self._value is None:
                return None
        if tb.parse_status_reply(buf) is None:
            return None
        return self._value


@mypyc_attr(allow_interpreted_subclasses=True)
class TyrantMethods(PooledClient):
    """Every method of the Tokyo Tyrant clients, written once.

    The methods check their arguments, encode the request and shape the
    result; ``TokyoTyrant`` runs them synchronously and
    ``kt.aio.AsyncTokyoTyrant`` over asyncio.  The constructor's arguments
    are described in full on ``TokyoTyrant``.

    Args:
        host: the server's host name or address.
        port: the server's port.
        serializer: converts values to stored bytes and back.
        decode_keys: give keys back as str rather than bytes.
        timeout: socket timeout in seconds, None for none.
        max_connections: the most connections open at once, None for no bound.
        pool_timeout: how long a request waits for a free connection.
        connect_timeout: timeout of a connection attempt (default: ``timeout``).
        max_idle_time: reopen connections idle for longer than this.
        socket_module: provides ``create_connection`` (tests, gevent).
        connection_pool: ignored; the original library's argument.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1978,
        serializer: Serializer = KT_BINARY,
        decode_keys: bool = True,
        timeout: Optional[float] = None,
        max_connections: Optional[int] = None,
        pool_timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        max_idle_time: Optional[float] = None,
        socket_module: Any = None,
        connection_pool: Optional[bool] = None,
    ) -> None:
        super().__init__(host, port, serializer, decode_keys, timeout, max_connections,
                         pool_timeout, connect_timeout, max_idle_time, socket_module)
        # bound once: get() is the hottest path
        self._value_of_reply: Finish = self._value_or_none
        # records per misc "range" page of items()/values() (tests lower it)
        self._range_page = _RANGE_PAGE

    # -- plumbing ----------------------------------------------------------

    def _error(self, what: str, cmd: int, status: int) -> TokyoTyrantError:
        code = tb.error_code(cmd, status)
        return TokyoTyrantError("%s failed on %s: %s" % (what, self._pool.address,
                                                          tb.error_message(code)), code)

    def _status(self, data: bytes, idempotent: bool = True) -> Any:
        return self._call(data, tb.parse_status_reply, idempotent, None, _is_zero, None)

    def _misc(self, name: str, args: List[bytes], update_log: bool, idempotent: bool,
              finish: Finish, arg: Any = None) -> Any:
        data = tb.encode_misc(name.encode("ascii"), args, 0 if update_log else tb.MISC_NO_ULOG)
        return self._call(data, tb.MiscReplyParser().parse, idempotent, None, finish, arg)

    def _checked(self, reply: Tuple[int, Any], what: Tuple[str, int]) -> Any:
        """The number (or map) of a reply, or TokyoTyrantError."""
        if reply[0] != 0:
            raise self._error(what[0], what[1], reply[0])
        return reply[1]

    # -- records -------------------------------------------------------------

    def get(self, key: Key) -> Any:
        """The value stored at ``key``.

        Args:
            key: the record's key (str as UTF-8, or bytes).

        Returns:
            The value, deserialized with the client's serializer, or None when
            there is no record (on a B+ tree, the first of its duplicates).

        Raises:
            TypeError: ``key`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_get(_key(key)), tb.parse_value_reply, True, None,
                          self._value_of_reply, None)

    def _value_or_none(self, reply: Tuple[int, bytes], arg: Any) -> Any:
        return self._decode(reply[1]) if reply[0] == 0 else None

    def get_raw(self, key: Key) -> Any:
        """The bytes stored at ``key``, not deserialized.

        Args:
            key: the record's key (str as UTF-8, or bytes).

        Returns:
            The stored bytes, or None when there is no record.

        Raises:
            TypeError: ``key`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_get(_key(key)), tb.parse_value_reply, True, None,
                          _raw_or_none, None)

    def seize(self, key: Key) -> Any:
        """The original library's name for ``pop``.

        Args:
            key: the record's key (str as UTF-8, or bytes).

        Returns:
            The removed record's value, deserialized, or None when there was none.

        Raises:
            TypeError: ``key`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self.pop(key)

    def pop(self, key: Key) -> Any:
        """Remove the record at ``key`` and give its value.

        The get and the out are sent together, in one round trip; the request
        is not retried when the connection breaks.

        Args:
            key: the record's key (str as UTF-8, or bytes).

        Returns:
            The value the record had, deserialized, or None when there was none.

        Raises:
            TypeError: ``key`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        k = _key(key)
        return self._call(tb.encode_get(k) + tb.encode_out(k), _PopParser().parse, False, None,
                          self._value_or_none, None)

    def set(self, key: Key, value: Any, no_reply: bool = False) -> Any:
        """Store ``value`` at ``key``, replacing any value there.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the value, serialized with the client's serializer.
            no_reply: send without waiting for the server's answer (``putnr``,
                like ``setnr``); also the original library's third positional
                argument.

        Returns:
            True when stored, False when the server refused; None with
            ``no_reply=True``.

        Raises:
            TypeError: ``key`` is not str or bytes, or the serializer cannot
                encode ``value``.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        if no_reply:
            return self._send(tb.encode_putnr(_key(key), self._encode(value)))
        return self._status(tb.encode_put(_key(key), self._encode(value)))

    def get_bytes(self, key: Key) -> Any:
        """The original library's name for ``get_raw``.

        Args:
            key: the record's key (str as UTF-8, or bytes).

        Returns:
            The stored bytes (not deserialized), or None when there is no record.

        Raises:
            TypeError: ``key`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self.get_raw(key)

    def set_bytes(self, key: Key, value: Union[str, bytes], no_reply: bool = False) -> Any:
        """Store ``value`` as it is, bypassing the serializer.

        The original library's name; otherwise like ``set``.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the bytes to store (str is stored as UTF-8).
            no_reply: send without waiting for the server's answer (``putnr``).

        Returns:
            True when stored, False when the server refused; None with
            ``no_reply=True``.

        Raises:
            TypeError: ``key`` or ``value`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        if no_reply:
            return self._send(tb.encode_putnr(_key(key), _key(value)))
        return self._status(tb.encode_put(_key(key), _key(value)))

    def add(self, key: Key, value: Any) -> Any:
        """Store ``value`` at ``key`` only if there is no record there (putkeep).

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the value, serialized with the client's serializer.

        Returns:
            True when stored, False when ``key`` already exists.

        Raises:
            TypeError: ``key`` is not str or bytes, or the serializer cannot
                encode ``value``.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._status(tb.encode_putkeep(_key(key), self._encode(value)), False)

    def append(self, key: Key, value: Any) -> Any:
        """Append the serialized ``value`` to the bytes stored at ``key`` (putcat).

        A missing record is created, as ``set`` would.  On a table database
        the columns of ``value`` are added to the record's.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the value to append, serialized with the client's serializer.

        Returns:
            True when stored, False when the server refused.

        Raises:
            TypeError: the key is neither str nor bytes, or ``value`` cannot be
                serialized.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._status(tb.encode_putcat(_key(key), self._encode(value)), False)

    def addshl(self, key: Key, value: Any, width: int) -> Any:
        """Append ``value``, then keep only the last ``width`` bytes (putshl).

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the value to append, serialized with the client's serializer.
            width: how many bytes of the result to keep.

        Returns:
            True when stored, False when the server refused.

        Raises:
            TypeError: ``key`` is not str or bytes, ``width`` is not an int, or
                the serializer cannot encode ``value``.
            ValueError: ``width`` is negative or above 2**31 - 1.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._status(tb.encode_putshl(_key(key), self._encode(value), width), False)

    def setnr(self, key: Key, value: Any) -> Any:
        """Store ``value`` at ``key`` without waiting for any reply (putnr).

        Fire and forget: a failure on the server goes unnoticed, and a read on
        another connection may not see the record yet.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the value, serialized with the client's serializer.

        Returns:
            None.

        Raises:
            TypeError: ``key`` is not str or bytes, or the serializer cannot
                encode ``value``.
            ServerConnectionError: the server cannot be reached or the request
                could not be sent.
        """
        return self._send(tb.encode_putnr(_key(key), self._encode(value)))

    def setnr_bulk(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Store many records without waiting for replies.

        One putnr command per record, all sent together; fire and forget, as
        ``setnr``.

        Args:
            data: a mapping of keys to values (optional).
            **kwargs: more records, as keyword arguments.

        Returns:
            None.

        Raises:
            TypeError: a key is not str or bytes, or the serializer cannot encode
                a value.
            ServerConnectionError: the server cannot be reached or the request
                could not be sent.
        """
        items = merge_items(__data, kwargs)
        encode = self._encode
        request = b"".join(tb.encode_putnr(_key(k), encode(v)) for k, v in items.items())
        return self._send(request) if request else self._done(None)

    def setup(self, key: Key, value: Any) -> Any:
        """Store ``value`` as one more record of ``key`` (misc putdup).

        The existing records of ``key`` are kept and the new one goes after
        them.  Only B+ tree file databases (``.tcb``) keep duplicates.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the value, serialized with the client's serializer.

        Returns:
            True when stored, False when the database refused (any database but
            a B+ tree file).

        Raises:
            TypeError: ``key`` is not str or bytes, or the serializer cannot
                encode ``value``.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._misc("putdup", [_key(key), self._encode(value)], True, False, _misc_ok)

    def setupback(self, key: Key, value: Any) -> Any:
        """Store ``value`` as one more record of ``key``, before the others.

        Misc putdupback; only B+ tree file databases (``.tcb``) keep duplicates.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the value, serialized with the client's serializer.

        Returns:
            True when stored; False on hash, table and on-memory databases.

        Raises:
            TypeError: ``key`` is not str or bytes, or ``value`` cannot be
                serialized.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._misc("putdupback", [_key(key), self._encode(value)], True, False, _misc_ok)

    def setdup(self, key: Key, value: Any) -> Any:
        """The original library's name for ``setup`` (misc putdup).

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the new duplicate's value (serialized).

        Returns:
            True when stored, False unless the database is a B+ tree file.

        Raises:
            TypeError: the key or the value has a type that cannot be sent.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self.setup(key, value)

    def setdupback(self, key: Key, value: Any) -> Any:
        """The original library's name for ``setupback`` (misc putdupback).

        Args:
            key: the record's key (str as UTF-8, or bytes).
            value: the new duplicate's value (serialized).

        Returns:
            True when stored, else False (only B+ tree files keep duplicates).

        Raises:
            TypeError: the key or the value has a type that cannot be sent.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self.setupback(key, value)

    def remove(self, key: Key) -> Any:
        """Remove the record at ``key`` (on a B+ tree, the first of its duplicates).

        Args:
            key: the record's key (str as UTF-8, or bytes).

        Returns:
            The number of records removed: 1, or 0 when there was none.

        Raises:
            TypeError: the key is neither str nor bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_out(_key(key)), tb.parse_status_reply, True, None,
                          _one_if_zero, None)

    def exists(self, key: Key) -> Any:
        """Whether there is a record at ``key``.

        Asked with vsiz: only the value's size travels, not the value.

        Args:
            key: the key to look for (str as UTF-8, or bytes).

        Returns:
            True or False.

        Raises:
            TypeError: ``key`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_vsiz(_key(key)), tb.parse_vsiz_reply, True, None, _found, None)

    def length(self, key: Key) -> Any:
        """The size of the value stored at ``key`` (vsiz).

        Args:
            key: the record's key (str as UTF-8, or bytes).

        Returns:
            The size in bytes (int), or None when there is no record.

        Raises:
            TypeError: the key has another type than str and bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_vsiz(_key(key)), tb.parse_vsiz_reply, True, None,
                          _size_or_none, None)

    def get_part(self, key: Key, start: Optional[int] = None, end: Optional[int] = None) -> Any:
        """Part of the value stored at ``key`` (misc getpart).

        As in ttserver's getpart, ``end`` is a number of bytes, not an offset.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            start: offset of the first byte wanted (None: 0).
            end: how many bytes are wanted (None: up to the end of the value).

        Returns:
            The part, deserialized with the client's serializer, or None when
            there is no record or ``start`` is past its end.

        Raises:
            TypeError: ``key`` is not str or bytes, or ``start`` or ``end`` is
                not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        args = [_key(key), b"%d" % (start or 0)]
        if end is not None:
            args.append(b"%d" % end)
        return self._misc("getpart", args, True, True, self._first_decoded)

    def _first_decoded(self, reply: Tuple[int, List[bytes]], arg: Any) -> Any:
        status, out = reply
        return self._decode(out[0]) if status == 0 and out else None

    def incr(self, key: Key, n: int = 1) -> Any:
        """Add ``n`` to the integer record at ``key`` (addint).

        A missing record is created at 0 first.  The record holds a 4-byte
        binary integer (the server's byte order), not decimal text.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            n: the amount to add (may be negative).

        Returns:
            The new value (int).

        Raises:
            TypeError: ``key`` is not str or bytes, or ``n`` is not an int.
            ValueError: ``n`` does not fit in a signed 32-bit integer.
            TokyoTyrantError: the record exists but is not a 4-byte integer
                (``code`` 6, "existing record").
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_addint(_key(key), n), tb.parse_addint_reply, False, None,
                          self._checked, ("incr of %r" % (key,), tb.CMD_ADDINT))

    def incr_double(self, key: Key, n: float = 1.0) -> Any:
        """Add ``n`` to the real-number record at ``key`` (adddouble).

        A missing record is created at 0 first.  The record holds a binary
        C double (8 bytes, the server's byte order), not decimal text.

        Args:
            key: the record's key (str as UTF-8, or bytes).
            n: the amount to add (int or float, may be negative).

        Returns:
            The new value (float).

        Raises:
            TypeError: ``key`` is not str or bytes, or ``n`` is not a number.
            ValueError: ``n`` is finite but beyond a signed 64-bit integer.
            TokyoTyrantError: the record exists but is not a real-number record
                (``code`` 6, "existing record").
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_adddouble(_key(key), n), tb.parse_adddouble_reply, False,
                          None, self._checked, ("incr_double of %r" % (key,), tb.CMD_ADDDOUBLE))

    # -- bulk -----------------------------------------------------------------

    def _mget(self, keys: List[bytes], finish: Finish) -> Any:
        return self._call(tb.encode_mget(keys), tb.MgetReplyParser().parse, True, None,
                          finish, None)

    def _records(self, reply: Tuple[int, List[Tuple[bytes, bytes]]]) -> List[Tuple[bytes, bytes]]:
        if reply[0] != 0:
            raise self._error("mget", tb.CMD_MGET, reply[0])
        return reply[1]

    def get_bulk(self, keys: Iterable[Key]) -> Any:
        """The values of several keys, in one request (mget).

        Args:
            keys: the keys wanted (each str or bytes).

        Returns:
            A dict of the keys found to their values, deserialized; missing keys
            are left out.

        Raises:
            TypeError: a key is not str or bytes.
            TokyoTyrantError: the server answered mget with a failure.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        if self._text_values is not None:  # KT_BINARY, KT_NONE: the parser builds the dict
            return self._mget_dict(keys, self._text_values)
        return self._mget(keys_to_bytes(keys), self._bulk_dict)

    def _bulk_dict(self, reply: Tuple[int, List[Tuple[bytes, bytes]]], arg: Any) -> Dict[Any, Any]:
        records = self._records(reply)
        decode = self._decode
        if self.decode_keys:
            return {text(k): decode(v) for k, v in records}
        return {k: decode(v) for k, v in records}

    def get_bulk_raw(self, keys: Iterable[Key]) -> Any:
        """The stored bytes of several keys, in one request (mget).

        Args:
            keys: the keys wanted (each str or bytes).

        Returns:
            A dict of the keys found to their stored bytes (not deserialized);
            missing keys are left out.

        Raises:
            TypeError: one of ``keys`` is not str or bytes.
            TokyoTyrantError: mget failed on the server.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._mget_dict(keys, False)

    def _mget_dict(self, keys: Iterable[Key], text_values: bool) -> Any:
        return self._call(tb.mget_payload(keys),
                          tb.MgetDictParser(self.decode_keys, text_values).parse, True, None,
                          self._checked, ("mget", tb.CMD_MGET))

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, update_log: bool = True,
                 **kwargs: Any) -> Any:
        """Store many records in one request (misc putlist).

        On a B+ tree database putlist adds duplicates next to existing
        records of the same keys, as ttserver does.

        Args:
            data: a mapping of keys to values (optional).
            update_log: record the writes in the server's update log (False:
                replication slaves do not see them).
            **kwargs: more records, as keyword arguments.

        Returns:
            True when stored (also when there is nothing to store), False when
            the server refused.

        Raises:
            TypeError: a key is not str or bytes, or the serializer cannot encode
                a value.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        items = merge_items(__data, kwargs)
        if not items:
            return self._done(True)
        if self._text_values is not None:  # KT_BINARY, KT_NONE: str as UTF-8
            data = tb.misc_items_payload(b"putlist", items, True,
                                         0 if update_log else tb.MISC_NO_ULOG)
        else:
            encode = self._encode
            encoded = {k: encode(v) for k, v in items.items()}
            data = tb.misc_items_payload(b"putlist", encoded, False,
                                         0 if update_log else tb.MISC_NO_ULOG)
        return self._call(data, tb.MiscReplyParser().parse, False, None, _misc_ok, None)

    def remove_bulk(self, keys: Iterable[Key], update_log: bool = True) -> Any:
        """Remove several keys in one request (misc outlist).

        Args:
            keys: the keys to remove (each str or bytes); missing ones are
                skipped.
            update_log: record the removals in the server's update log.

        Returns:
            True (also when some or all keys were missing or the list is empty),
            False when the server refused.

        Raises:
            TypeError: a key is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        args: List[object] = keys if isinstance(keys, list) else list(keys)
        if not args:
            return self._done(True)
        data = tb.misc_keys_payload(b"outlist", args, 0 if update_log else tb.MISC_NO_ULOG)
        return self._call(data, tb.MiscReplyParser().parse, False, None, _misc_ok, None)

    def update(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Store many records in one request: the same as ``set_bulk``.

        Args:
            data: a mapping of keys to values (optional).
            **kwargs: more records, as keyword arguments (``update_log=`` is
                passed to ``set_bulk`` rather than stored).

        Returns:
            True when stored, False when the server refused.

        Raises:
            TypeError: a key is not str or bytes, or the serializer cannot encode
                a value.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self.set_bulk(__data, **kwargs)

    # -- scripts ---------------------------------------------------------------

    def script(self, name: str, key: Any = None, value: Any = None,
               lock_records: bool = False, lock_all: bool = False,
               encode_value: bool = True, decode_result: bool = False,
               decode_value: Optional[bool] = None, as_int: bool = False,
               as_list: bool = False, as_dict: bool = False) -> Any:
        """Call the server's extension function ``name`` (ext, e.g. a Lua function).

        A key or value that is an int or float goes as its decimal text, as in
        the original library.  ``decode_value`` is the original library's name
        for ``decode_result``.  ``as_int``, ``as_list`` and ``as_dict`` are the
        original library's result shapes (``as_int`` wins over ``as_dict``,
        which wins over ``as_list``).

        Args:
            name: the function's name (str or bytes).
            key: the key argument (str, bytes or a number; None: empty).
            value: the value argument (None: empty), serialized unless
                ``encode_value`` is False.
            lock_records: lock the record of ``key`` while the function runs.
            lock_all: lock the whole database while the function runs.
            encode_value: serialize ``value`` with the client's serializer
                (False: send it as str or bytes).
            decode_result: deserialize the result (with ``as_list``/``as_dict``:
                each part).
            decode_value: the same as ``decode_result`` (wins when given).
            as_int: read the result as a decimal integer.
            as_list: split the result into lines.
            as_dict: split the result into lines of key TAB value.

        Returns:
            The function's result: bytes; deserialized with ``decode_result``;
            an int (None for an empty result) with ``as_int``; a list with
            ``as_list``; a dict with ``as_dict``.

        Raises:
            TypeError: ``name`` or ``key`` is not str or bytes (nor a number), or
                ``value`` cannot be encoded.
            TokyoTyrantError: the function failed or does not exist.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection
                discarded), or with ``as_int`` the result is not an integer.
        """
        opts = (tb.EXT_LOCK_RECORD if lock_records else 0) | (tb.EXT_LOCK_GLOBAL if lock_all else 0)
        kbytes = b"" if key is None else _script_arg(key)
        number = number_text(value)
        if value is None:
            vbytes = b""
        elif number is not None:
            vbytes = number
        elif encode_value:
            vbytes = self._encode(value)
        else:
            vbytes = _key(value)
        decode = decode_result if decode_value is None else decode_value
        shape = (_SCRIPT_INT if as_int else _SCRIPT_DICT if as_dict else
                 _SCRIPT_LIST if as_list else 0) | (_SCRIPT_DECODE if decode else 0)
        data = tb.encode_ext(to_bytes(name, "name"), kbytes, vbytes, opts)
        return self._call(data, tb.parse_value_reply, False, None, self._script_result,
                          (name, shape))

    def _script_result(self, reply: Tuple[int, bytes], arg: Tuple[str, int]) -> Any:
        status, result = reply
        if status != 0:
            raise self._error("script %r" % (arg[0],), tb.CMD_EXT, status)
        shape = arg[1]
        if shape & _SCRIPT_INT:
            return _int_result(result, arg[0])
        if shape & (_SCRIPT_LIST | _SCRIPT_DICT):
            return self._script_lines(result, shape)
        return self._decode(result) if shape & _SCRIPT_DECODE else result

    def _script_lines(self, result: bytes, shape: int) -> Any:
        lines = result.rstrip(b"\n").split(b"\n") if result else []
        decode = self._decode if shape & _SCRIPT_DECODE else _same
        if shape & _SCRIPT_LIST:
            return [decode(line) for line in lines]
        out: Dict[Any, Any] = {}
        for line in lines:
            k, tab, v = line.partition(b"\t")
            out[decode(k)] = decode(v)
        return out

    @property
    def lua(self) -> "TTLuaHelper":
        """``client.lua.name(key, value)`` calls ``client.script('name', ...)``."""
        return TTLuaHelper(self)

    # -- database -----------------------------------------------------------------

    def clear(self) -> Any:
        """Remove every record (vanish).

        Returns:
            True when done, False when the server refused.

        Raises:
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._status(tb.encode_vanish(), False)

    def status(self) -> Any:
        """The server's status report (stat).

        Returns:
            A dict of str to str, as ttserver reports it: ``version``, ``type``,
            ``path``, ``rnum``, ``size``, ``pid``, ``time``, the ``cnt_*``
            counters of each command...

        Raises:
            TokyoTyrantError: stat failed on the server.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_stat(), tb.parse_stat_reply, True, None, self._checked,
                          ("stat", tb.CMD_STAT))

    def count(self) -> Any:
        """The number of records in the database (rnum).

        Returns:
            The count (int); also ``len(client)``.

        Raises:
            TokyoTyrantError: the server answered rnum with a failure.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._call(tb.encode_rnum(), tb.parse_u64_reply, True, None, self._checked,
                          ("rnum", tb.CMD_RNUM))

    def __len__(self) -> int:
        n: int = self.count()
        return n

    @property
    def size(self) -> Any:
        """Size of the database in bytes."""
        return self._call(tb.encode_size(), tb.parse_u64_reply, True, None, self._checked,
                          ("size", tb.CMD_SIZE))

    @property
    def error(self) -> Any:
        """(code, message) of the database's last error, as ttserver's misc
        "error" reports it; None when the database does not keep one
        (on-memory databases)."""
        return self._misc("error", [], True, True, _last_error)

    def misc(self, cmd: Union[str, bytes], args: Optional[Iterable[Any]] = None,
             update_log: bool = True) -> Any:
        """Run one of the server's miscellaneous functions (misc).

        Args:
            cmd: the function's name, str or bytes ("putlist", "getlist",
                "range"...; see ``kt.protocol.tt_binary.encode_misc``).
            args: its arguments, each str or bytes.
            update_log: record the function's writes in the update log.

        Returns:
            The result elements (a list of bytes), or None when the server
            reports failure (including an unknown function).

        Raises:
            TypeError: ``cmd`` or an argument is not str or bytes.
            ValueError: ``cmd`` is not ASCII text without NUL bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        if isinstance(cmd, bytes):
            cmd = cmd.decode("ascii")
        elif not isinstance(cmd, str):
            raise TypeError("cmd must be str or bytes, not %s" % type(cmd).__name__)
        return self._misc(cmd, [_key(a) for a in (args or ())], update_log, False,
                          _misc_elements)

    def optimize(self, options: Union[str, bytes] = b"") -> Any:
        """Optimize (rebuild) the database with tuning ``options`` (optimize).

        Args:
            options: tuning parameters, e.g. "bnum=1000" (empty: the defaults).

        Returns:
            True when done, False when the server refused.

        Raises:
            TypeError: ``options`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._status(tb.encode_optimize(_key(options)), False)

    def synchronize(self) -> Any:
        """Write the database's pending updates to its file (sync).

        Returns:
            True once the server has synced, else False.

        Raises:
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._status(tb.encode_sync())

    def copy(self, path: Union[str, bytes]) -> Any:
        """Copy the database file to ``path`` on the server (copy).

        Args:
            path: the destination path on the server's machine, or "@command"
                to run that command instead (ttserver's convention).

        Returns:
            True when done, False when the server could not copy (e.g. on-memory
            databases, or a path it cannot write).

        Raises:
            TypeError: ``path`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._status(tb.encode_copy(_key(path)), False)

    def restore(self, path: Union[str, bytes], timestamp: int,
                check_consistency: bool = False) -> Any:
        """Replay the update log found in ``path`` from ``timestamp`` (restore).

        Args:
            path: the update log directory on the server's machine.
            timestamp: the first update to replay, in microseconds since the epoch.
            check_consistency: check that each update gives the result the log
                recorded, and fail otherwise.

        Returns:
            True when done, False when the server refused (e.g. no such log).

        Raises:
            TypeError: ``path`` is not str or bytes, or ``timestamp`` not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        opts = tb.RESTORE_CHECK_CONSISTENCY if check_consistency else 0
        return self._status(tb.encode_restore(_key(path), timestamp, opts), False)

    def set_master(self, host: Optional[str], port: int = 0, timestamp: int = 0,
                   check_consistency: bool = False) -> Any:
        """Make the server a replication slave of ``host:port`` (setmst).

        Args:
            host: the master's host, or None to stop replicating.
            port: the master's port.
            timestamp: replicate the updates from this time on (microseconds).
            check_consistency: check that each update gives the result the log
                recorded, and fail otherwise.

        Returns:
            True when done, False when the server refused.

        Raises:
            TypeError: ``host`` is not str or bytes (nor None), or ``port`` or
                ``timestamp`` is not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        opts = tb.RESTORE_CHECK_CONSISTENCY if check_consistency else 0
        return self._status(tb.encode_setmst(_key(host or b""), port, timestamp, opts), False)

    # -- ranges and matching -------------------------------------------------

    def get_range(self, start: Optional[Key] = None, stop: Optional[Key] = None,
                  max_keys: int = 0) -> Any:
        """The records with ``start <= key < stop``, in key order (misc range).

        Only tree databases (``+``, ``.tcb``) keep keys in order; other
        databases give an empty dict.  Of a key's duplicates the last one read
        stays in the dict.

        Args:
            start: the first key (None: from the first record).
            stop: the key to stop before (None: to the last record).
            max_keys: the most records to read (0: no bound).

        Returns:
            A dict of keys to values, deserialized.

        Raises:
            TypeError: ``start`` or ``stop`` is not str or bytes, or ``max_keys``
                is not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        args = [b"" if start is None else _key(start), b"%d" % (max_keys if max_keys > 0 else -1)]
        if stop is not None:
            args.append(_key(stop))
        return self._misc("range", args, True, True, self._pairs_to_dict)

    def _pairs_to_dict(self, reply: Tuple[int, List[bytes]], arg: Any) -> Dict[Any, Any]:
        items = reply[1] if reply[0] == 0 else []
        if len(items) % 2:
            raise ProtocolError("odd number of elements in a key/value reply")
        decode = self._decode
        return {self._key_out(items[i]): decode(items[i + 1]) for i in range(0, len(items), 2)}

    def iter_from(self, start_key: Key) -> Any:
        """The records from ``start_key`` to the end, in the server's iterator order.

        Key order on a tree database, hash order on a hash database.  This uses
        the server's single iterator (misc iterinit/iternext), which every client
        of the server shares: another client iterating at the same time disturbs
        it.

        Args:
            start_key: the key to start at (str or bytes).

        Returns:
            A dict of keys to values, deserialized.  On a hash database it is
            empty when ``start_key`` does not exist; on a tree database it starts
            at the first key not less than ``start_key``.

        Raises:
            TypeError: ``start_key`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._drive(self._iter_from(_key(start_key)), self._pairs_dict)

    def _pairs_dict(self, items: List[Tuple[Any, Any]], arg: Any) -> Dict[Any, Any]:
        return dict(items)

    def _iter_from(self, start: bytes) -> Plan:
        # iterinit and the first iternext calls are pipelined in one round
        # trip, then batches of iternext until the iterator runs out.
        init = tb.encode_misc(b"iterinit", [start], tb.MISC_NO_ULOG)
        batch = tb.encode_misc(b"iternext", [], tb.MISC_NO_ULOG) * _ITER_BATCH
        replies = yield Request(init + batch, _Pipeline(_ITER_BATCH + 1).parse, True)
        if replies[0][0] != 0:
            return
        replies = replies[1:]
        decode = self._decode
        while True:
            page: List[Tuple[Any, Any]] = []
            for status, elements in replies:
                if status != 0 or len(elements) != 2:
                    yield page
                    return
                page.append((self._key_out(elements[0]), decode(elements[1])))
            yield page
            replies = yield Request(batch, _Pipeline(_ITER_BATCH).parse, True)

    def match_prefix(self, prefix: Key, max_keys: Optional[int] = 1024) -> Any:
        """The keys that start with ``prefix`` (fwmkeys).

        Args:
            prefix: the prefix (str or bytes; empty: every key).
            max_keys: the most keys to return (None: all).

        Returns:
            A list of keys (str, or bytes when ``decode_keys`` is off or a key is
            not UTF-8), in the server's order.

        Raises:
            TypeError: ``prefix`` is not str or bytes, or ``max_keys`` not an int.
            TokyoTyrantError: the server answered fwmkeys with a failure.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        data = tb.encode_fwmkeys(_key(prefix), -1 if max_keys is None else max_keys)
        return self._call(data, tb.FwmkeysReplyParser().parse, True, None, self._prefixed, None)

    def _prefixed(self, reply: Tuple[int, List[bytes]], arg: Any) -> List[Any]:
        return [self._key_out(k) for k in self._checked(reply, ("fwmkeys", tb.CMD_FWMKEYS))]

    def match_regex(self, regex: Key, max_keys: Optional[int] = 1024) -> Any:
        """The keys that match the regular expression ``regex`` (misc regex).

        The server's regex library decides the syntax (POSIX extended on
        ttserver).

        Args:
            regex: the regular expression (str or bytes).
            max_keys: the most keys to return (None: all).

        Returns:
            A list of keys; empty when none match or the server cannot use the
            expression.

        Raises:
            TypeError: ``regex`` is not str or bytes, or ``max_keys`` not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        args = [_key(regex), b"%d" % (-1 if max_keys is None else max_keys)]
        return self._misc("regex", args, True, True, self._regex_keys)

    def _regex_keys(self, reply: Tuple[int, List[bytes]], arg: Any) -> List[Any]:
        out = reply[1] if reply[0] == 0 else []
        return [self._key_out(out[i]) for i in range(0, len(out) - 1, 2)]

    def _pages(self, mode: int) -> Plan:
        """Plan of keys() / values() / items(): every key with one fwmkeys
        call (so that concurrent iterations never share the server's single
        iterator), then values by mget pages."""
        reply = yield Request(tb.encode_fwmkeys(b"", -1), tb.FwmkeysReplyParser().parse)
        keys: List[bytes] = self._checked(reply, ("fwmkeys", tb.CMD_FWMKEYS))
        for i in range(0, len(keys), _MGET_BATCH):
            batch = keys[i:i + _MGET_BATCH]
            if mode == _KEYS:
                yield [self._key_out(k) for k in batch]
                continue
            reply = yield Request(tb.encode_mget(batch), tb.MgetReplyParser().parse)
            found = dict(self._records(reply))
            decode = self._decode
            if mode == _VALUES:
                yield [decode(found[k]) for k in batch if k in found]
            else:
                yield [(self._key_out(k), decode(found[k])) for k in batch if k in found]

    def _record_pages(self, mode: int) -> Plan:
        """Plan of values() / items(): every record in the server's order,
        duplicates of a B+ tree included, by pages of misc "range" (a
        cursor of its own on the server for each request, so nothing is
        shared with other clients).  A page restarts at the last key read
        and skips the records of that key it already gave; a key with more
        duplicates than a page makes the next request longer.  Databases
        without "range" (hash, table) fall back to the fwmkeys + mget plan,
        where a key has one record."""
        start = b""
        skip = 0
        while True:
            want = skip + self._range_page
            reply = yield Request(
                tb.encode_misc(b"range", [start, b"%d" % want], tb.MISC_NO_ULOG),
                tb.MiscReplyParser().parse)
            status, elements = reply
            if status != 0:
                if start or skip:
                    raise self._error("misc range", tb.CMD_MISC, status)
                yield from self._pages(mode)
                return
            count = len(elements) // 2
            if len(elements) % 2 or count < skip or any(
                    elements[2 * i] != start for i in range(skip)):
                raise ProtocolError("misc range: records out of order or unpaired")
            yield self._range_items(elements, skip, mode)
            if count < want:
                return
            start = elements[-2]
            skip = 1
            while skip < count and elements[2 * (count - skip - 1)] == start:
                skip += 1

    def _range_items(self, elements: List[bytes], skip: int, mode: int) -> List[Any]:
        decode = self._decode
        if mode == _VALUES:
            return [decode(elements[i + 1]) for i in range(2 * skip, len(elements), 2)]
        return [(self._key_out(elements[i]), decode(elements[i + 1]))
                for i in range(2 * skip, len(elements), 2)]

    def keys(self) -> Any:
        """Every key, lazily.

        Read with one fwmkeys request when iteration starts (never the
        server's shared iterator), so it is safe with other clients iterating.

        Returns:
            An iterator over the keys; the request is made, and errors raised,
            when it is first advanced.

        Raises:
            TokyoTyrantError: the server answered fwmkeys with a failure.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._stream(self._pages(_KEYS))

    def keys_fast(self) -> Any:
        """Every key as a list, in one request.

        The original library's name; the same as ``match_prefix("", None)``.

        Returns:
            A list of keys.

        Raises:
            TokyoTyrantError: the server answered fwmkeys with a failure.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self.match_prefix(b"", None)

    def items_fast(self) -> Any:
        """Every record as a list of (key, value), read as ``items()`` reads them.

        The original library's name.

        Returns:
            A list of (key, value) tuples, values deserialized.

        Raises:
            TokyoTyrantError: a range request failed after the first page.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._drive(self._record_pages(_ITEMS), _listed)

    def items(self) -> Any:
        """Every record as (key, value), lazily, in the server's order.

        On a tree database every duplicate too, in key order, by pages of
        misc "range" (each request has a cursor of its own on the server);
        on other databases the keys by one fwmkeys request, then the values
        by mget pages.  Never uses the server's shared iterator.

        Returns:
            An iterator over (key, value) tuples, values deserialized; requests
            are made, and errors raised, as it advances.

        Raises:
            TokyoTyrantError: a range request failed after the first page, or
                fwmkeys or mget failed.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._stream(self._record_pages(_ITEMS))

    def values(self) -> Any:
        """Every record's value, lazily, read as ``items()`` reads them.

        Returns:
            An iterator over the values, deserialized; requests are made, and
            errors raised, as it advances.

        Raises:
            TokyoTyrantError: the server failed a request: a range after the
                first page, or an fwmkeys or mget.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._stream(self._record_pages(_VALUES))

    def __iter__(self) -> Any:
        return self.keys()

    # -- dict interface ---------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            if key.step is not None:
                raise ValueError("slices of a Tokyo Tyrant database take no step")
            return self.get_range(key.start, key.stop)
        return self.get(key)

    def _setitem(self, key: Key, value: Any) -> Any:
        return self._call(tb.encode_put(_key(key), self._encode(value)), tb.parse_status_reply,
                          True, None, self._put_or_raise, key)

    def _put_or_raise(self, status: int, key: Any) -> None:
        if status != 0:
            raise TokyoTyrantError("put of %r failed on %s" % (key, self._pool.address),
                                   tb.TTEMISC)

    def __setitem__(self, key: Key, value: Any) -> None:
        self._setitem(key, value)

    def __delitem__(self, key: Key) -> None:
        self.remove(key)

    def __contains__(self, key: Key) -> bool:
        found: bool = self.exists(key)
        return found

    # -- table databases ------------------------------------------------------

    def _setindex(self, name: Key, kind: int) -> Any:
        return self._misc("setindex", [_key(name), b"%d" % kind], True, False, _misc_ok)

    def set_index(self, name: Key, index_type: int, check_exists: bool = False) -> Any:
        """Create an index on the column ``name`` of a table database (setindex).

        Args:
            name: the column (str or bytes).
            index_type: ``INDEX_STR``, ``INDEX_NUM``, ``INDEX_TOKEN`` or
                ``INDEX_QGRAM``.
            check_exists: fail when the column already has an index.

        Returns:
            True when done; False when the server refused (not a table database,
            or the index exists and ``check_exists`` is set).

        Raises:
            TypeError: ``name`` is not str or bytes, or ``index_type`` not an int.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._setindex(name, index_type | (INDEX_KEEP if check_exists else 0))

    def optimize_index(self, name: Key) -> Any:
        """Rebuild the index of the column ``name`` (setindex, optimize).

        Args:
            name: the column (str or bytes).

        Returns:
            True when done, False when the server refused (not a table database,
            or no index on that column).

        Raises:
            TypeError: ``name`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._setindex(name, INDEX_OPTIMIZE)

    def delete_index(self, name: Key) -> Any:
        """Drop the index of the column ``name`` (setindex, void).

        Args:
            name: the column whose index goes (str or bytes).

        Returns:
            True once the index is gone; False when there was none, or the
            database is not a table database.

        Raises:
            TypeError: ``name`` is not str or bytes.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        return self._setindex(name, INDEX_DELETE)

    def genuid(self) -> Any:
        """A new unique id from the table database's sequence (misc genuid).

        Returns:
            The id (int), for use as a primary key.

        Raises:
            TokyoTyrantError: the database is not a table database.
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant or the id not a
                number (connection discarded).
        """
        return self._misc("genuid", [], True, False, self._uid)

    def _uid(self, reply: Tuple[int, List[bytes]], arg: Any) -> int:
        status, out = reply
        if status != 0 or not out:
            raise TokyoTyrantError("genuid failed on %s (not a table database?)"
                                   % self._pool.address, tb.TTEMISC)
        try:
            return int(out[0])
        except ValueError:
            raise ProtocolError("genuid answered %r" % out[0]) from None

    def search(self, expressions: Iterable[Any], cmd: Optional[str] = None) -> Any:
        """Run a table search from raw arguments (misc search).

        Prefer ``QueryBuilder``, which checks conditions as they are added.

        Args:
            expressions: the search's arguments, each a raw string
                (``addcond\\0col\\0op\\0expr``, ``setorder...``, ``setlimit...``)
                or a tuple as the original library made them
                (``('addcond', column, op, expr)``, ``('setorder', column, type)``,
                ``('setlimit', limit, offset)``); see ``search_argument``.
            cmd: None for the keys, "get" for the records, "out" to delete the
                matching records, "count" for their number.

        Returns:
            With ``cmd`` None, a list of primary keys; "get", a list of
            (key, {column: value}) tuples; "out", True, or False when the server
            refused (not a table database); "count", an int.

        Raises:
            TypeError: an expression or one of its parts has the wrong type.
            ValueError: ``cmd`` is none of those, or an expression is malformed.
            TokyoTyrantError: the search failed (not a table database), except
                with "out".
            ServerConnectionError: the server cannot be reached or the connection broke.
            ProtocolError: the reply is not valid Tokyo Tyrant (connection discarded).
        """
        args = [search_argument(e) for e in expressions]
        if cmd is None:
            return self._misc("search", args, False, True, self._found_keys)
        if cmd == "get":
            return self._misc("search", args + [b"get"], False, True, self._found_records)
        if cmd == "out":
            return self._misc("search", args + [b"out"], True, False, _misc_ok)
        if cmd == "count":
            return self._misc("search", args + [b"count"], False, True, self._found_count)
        raise ValueError("cmd must be None, 'get', 'out' or 'count', not %r" % (cmd,))

    def _search_out(self, reply: Tuple[int, List[bytes]]) -> List[bytes]:
        if reply[0] != 0:
            raise TokyoTyrantError("search failed on %s (not a table database?)"
                                   % self._pool.address, tb.TTEMISC)
        return reply[1]

    def _run_search(self, search: tb.TTSearch, readonly: bool, finish: Finish) -> Any:
        args = tb.encode_search_args(search)
        name = search.misc_name().decode("ascii")
        return self._misc(name, args, not readonly, readonly, finish)

    def _found_keys(self, reply: Tuple[int, List[bytes]], arg: Any) -> List[Any]:
        return [self._key_out(k) for k in self._search_out(reply)]

    def _found_records(self, reply: Tuple[int, List[bytes]], arg: Any
                       ) -> List[Tuple[Any, Dict[Any, Any]]]:
        # Each element is a record's columns with the primary key under the
        # empty name; columns come back as str (bytes if not UTF-8), as
        # TT_TABLE gives them.
        records: List[Tuple[Any, Dict[Any, Any]]] = []
        for element in self._search_out(reply):
            columns = tb.decode_columns(element)
            pkey = columns.pop(b"", b"")
            records.append((self._key_out(pkey),
                            dict(zip(texts(list(columns)), texts(list(columns.values()))))))
        return records

    def _found_count(self, reply: Tuple[int, List[bytes]], arg: Any) -> int:
        out = self._search_out(reply)
        try:
            return int(out[0]) if out else 0
        except ValueError:
            raise ProtocolError("search count answered %r" % out[0]) from None

    def _deleted(self, reply: Tuple[int, List[bytes]], arg: Any) -> bool:
        self._search_out(reply)
        return True

    def _hint_of(self, reply: Tuple[int, List[bytes]], arg: Any) -> str:
        _, hint = tb.split_hint(self._search_out(reply))
        return hint.decode("utf-8", "replace")

    # QueryBuilder (kt.table) runs its searches through these.

    def _search_keys(self, search: tb.TTSearch) -> Any:
        return self._run_search(search, True, self._found_keys)

    def _search_records(self, search: tb.TTSearch) -> Any:
        return self._run_search(search, True, self._found_records)

    def _search_delete(self, search: tb.TTSearch) -> Any:
        return self._run_search(search, False, self._deleted)

    def _search_count(self, search: tb.TTSearch) -> Any:
        return self._run_search(search, True, self._found_count)

    def _search_hint(self, search: tb.TTSearch) -> Any:
        return self._run_search(search, True, self._hint_of)

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self._pool.address)


def _last_error(reply: Tuple[int, List[bytes]], arg: Any) -> Optional[Tuple[int, str]]:
    status, out = reply
    if status != 0 or not out:
        return None
    code, _, message = out[0].partition(b": ")
    try:
        return int(code), message.decode("utf-8", "replace")
    except ValueError:
        return -1, out[0].decode("utf-8", "replace")


class TokyoTyrant(TyrantMethods):
    """Client for a Tokyo Tyrant server (ttserver, or kt's built-in one).

    Methods check their arguments before anything is sent (TypeError,
    ValueError); a method that deserializes values also raises whatever the
    serializer raises for stored bytes it cannot decode.  Any error during a
    request discards the connection it happened on; the next request
    reconnects.  Table databases are served by this class too: use the
    ``TT_TABLE`` serializer and ``QueryBuilder``.

    Args:
        host: server host.
        port: server port.
        serializer: how values are stored (``KT_BINARY``, ``KT_JSON``,
            ``KT_MSGPACK``, ``KT_PICKLE``, ``KT_NONE``, ``TT_TABLE`` or any
            object with ``encode``/``decode``).
        decode_keys: give keys back as ``str`` (UTF-8; bytes when not valid
            UTF-8) rather than bytes.
        timeout: socket timeout in seconds (None: wait forever).
        max_connections: bound on the connections open at once (None: no
            bound).
        pool_timeout: with ``max_connections``, how long a request waits for a
            free connection before ServerConnectionError (None: forever).
        connect_timeout: timeout for establishing a connection (defaults to
            ``timeout``).
        max_idle_time: connections unused for longer are reopened.
        socket_module: module providing ``create_connection`` (tests, gevent
            without monkey-patching).
        connection_pool: accepted for code written for the original library;
            connections are always pooled.

    Raises:
        TypeError: ``host`` is not a str, ``port`` not an int, or
            ``serializer`` has no ``encode``/``decode``.
        ValueError: ``max_connections`` is less than 1.
        ImproperlyConfigured: ``KT_MSGPACK`` without the msgpack package.
    """

    def Queue(self, key: Key) -> "_containers.TTQueue":
        """A queue kept on the server by kt's Lua helper library.

        The server must run it (``ttserver -ext`` with
        ``kt.lua_script_path("tyrant")``).  Nothing is sent until the queue is
        used.

        Args:
            key: the queue's name (str or bytes).

        Returns:
            A ``kt.containers.TTQueue`` over this client.

        Raises:
            TypeError: ``key`` is not str or bytes.
        """
        from kt.containers import TTQueue
        return TTQueue(self, key)


#: The original library's name for the Tokyo Tyrant client's ``lua`` helper.
TTLuaHelper = LuaHelper
