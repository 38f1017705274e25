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

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union, final

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
_MGET_BATCH = 1000


_ITER_BATCH = 100
_RANGE_PAGE = 1000
_SCRIPT_DECODE = 1
_SCRIPT_INT = 2
_SCRIPT_LIST = 4
_SCRIPT_DICT = 8
_KEYS = 0
_VALUES = 1
_ITEMS = 2


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
    """One argument of misc "search": a raw string (``addcond\\0col\\0op\\0expr``
    ...) as it is, or a tuple as the original library's QueryBuilder made
    them: ``('addcond', column, op, expr)``, ``('setorder', column, type)``,
    ``('setlimit', limit, offset)``."""
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
    """Every method of the Tokyo Tyrant clients, written once: argument
    checking, request encoding and result shaping.  ``TokyoTyrant`` runs
    them synchronously, ``kt.aio.AsyncTokyoTyrant`` awaits them."""

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
        """The value stored at ``key`` (deserialized), or None."""
        return self._call(tb.encode_get(_key(key)), tb.parse_value_reply, True, None,
                          self._value_of_reply, None)

    def _value_or_none(self, reply: Tuple[int, bytes], arg: Any) -> Any:
        return self._decode(reply[1]) if reply[0] == 0 else None

    def get_raw(self, key: Key) -> Any:
        """The bytes stored at ``key``, or None."""
        return self._call(tb.encode_get(_key(key)), tb.parse_value_reply, True, None,
                          _raw_or_none, None)

    def seize(self, key: Key) -> Any:
        """The original library's name for ``pop``."""
        return self.pop(key)

    def pop(self, key: Key) -> Any:
        """The value at ``key`` (or None), removing the record: get and out
        sent together in one round trip."""
        k = _key(key)
        return self._call(tb.encode_get(k) + tb.encode_out(k), _PopParser().parse, False, None,
                          self._value_or_none, None)

    def set(self, key: Key, value: Any, no_reply: bool = False) -> Any:
        """Store ``value`` at ``key``; True when stored.  ``no_reply=True``
        (also the original library's third positional argument) sends it
        without waiting, as ``setnr`` does, and returns None."""
        if no_reply:
            return self._send(tb.encode_putnr(_key(key), self._encode(value)))
        return self._status(tb.encode_put(_key(key), self._encode(value)))

    def get_bytes(self, key: Key) -> Any:
        """The original library's name for ``get_raw``: the stored bytes,
        not deserialized, or None."""
        return self.get_raw(key)

    def set_bytes(self, key: Key, value: Union[str, bytes], no_reply: bool = False) -> Any:
        """Store ``value`` as it is, bypassing the serializer (bytes, or str
        as UTF-8); otherwise like ``set`` (the original library's name)."""
        if no_reply:
            return self._send(tb.encode_putnr(_key(key), _key(value)))
        return self._status(tb.encode_put(_key(key), _key(value)))

    def add(self, key: Key, value: Any) -> Any:
        """Store only if ``key`` is absent; False when it exists."""
        return self._status(tb.encode_putkeep(_key(key), self._encode(value)), False)

    def append(self, key: Key, value: Any) -> Any:
        """Append to the stored bytes (like set when ``key`` is absent)."""
        return self._status(tb.encode_putcat(_key(key), self._encode(value)), False)

    def addshl(self, key: Key, value: Any, width: int) -> Any:
        """Append, then keep only the last ``width`` bytes."""
        return self._status(tb.encode_putshl(_key(key), self._encode(value), width), False)

    def setnr(self, key: Key, value: Any) -> Any:
        """Store without waiting for any reply (fire and forget)."""
        return self._send(tb.encode_putnr(_key(key), self._encode(value)))

    def setnr_bulk(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Store many records without waiting for replies (one round of
        putnr commands sent together)."""
        items = merge_items(__data, kwargs)
        encode = self._encode
        data = b"".join(tb.encode_putnr(_key(k), encode(v)) for k, v in items.items())
        return self._send(data) if data else self._done(None)

    def setup(self, key: Key, value: Any) -> Any:
        """Store, keeping existing records of ``key`` (a duplicate after them,
        B+ tree databases only)."""
        return self._misc("putdup", [_key(key), self._encode(value)], True, False, _misc_ok)

    def setupback(self, key: Key, value: Any) -> Any:
        """Store a duplicate before the existing records of ``key`` (B+ tree
        databases only)."""
        return self._misc("putdupback", [_key(key), self._encode(value)], True, False, _misc_ok)

    def setdup(self, key: Key, value: Any) -> Any:
        """The original library's name for ``setup``."""
        return self.setup(key, value)

    def setdupback(self, key: Key, value: Any) -> Any:
        """The original library's name for ``setupback``."""
        return self.setupback(key, value)

    def remove(self, key: Key) -> Any:
        """Remove ``key``; returns the number of records removed (0 or 1)."""
        return self._call(tb.encode_out(_key(key)), tb.parse_status_reply, True, None,
                          _one_if_zero, None)

    def exists(self, key: Key) -> Any:
        """Whether ``key`` exists."""
        return self._call(tb.encode_vsiz(_key(key)), tb.parse_vsiz_reply, True, None, _found, None)

    def length(self, key: Key) -> Any:
        """Size in bytes of the stored value, or None when missing."""
        return self._call(tb.encode_vsiz(_key(key)), tb.parse_vsiz_reply, True, None,
                          _size_or_none, None)

    def get_part(self, key: Key, start: Optional[int] = None, end: Optional[int] = None) -> Any:
        """``length`` bytes of the value from offset ``start``: ``end`` is the
        number of bytes wanted (not an offset), as in ttserver's getpart.
        Returns None when the record is missing or ``start`` is past its end."""
        args = [_key(key), b"%d" % (start or 0)]
        if end is not None:
            args.append(b"%d" % end)
        return self._misc("getpart", args, True, True, self._first_decoded)

    def _first_decoded(self, reply: Tuple[int, List[bytes]], arg: Any) -> Any:
        status, out = reply
        return self._decode(out[0]) if status == 0 and out else None

    def incr(self, key: Key, n: int = 1) -> Any:
        """Add ``n`` to the integer record at ``key`` (created at 0) and
        return the sum.  Raises TokyoTyrantError when the record exists but
        is not a 4-byte integer record."""
        return self._call(tb.encode_addint(_key(key), n), tb.parse_addint_reply, False, None,
                          self._checked, ("incr of %r" % (key,), tb.CMD_ADDINT))

    def incr_double(self, key: Key, n: float = 1.0) -> Any:
        """Add ``n`` to the decimal record at ``key`` and return the sum."""
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
        """A dict of the keys found and their (deserialized) values."""
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
        """A dict of the keys found and their stored bytes."""
        return self._mget_dict(keys, False)

    def _mget_dict(self, keys: Iterable[Key], text_values: bool) -> Any:
        return self._call(tb.encode_mget_keys(keys),
                          tb.MgetDictParser(self.decode_keys, text_values).parse, True, None,
                          self._checked, ("mget", tb.CMD_MGET))

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, update_log: bool = True,
                 **kwargs: Any) -> Any:
        """Store many records in one request (misc putlist)."""
        items = merge_items(__data, kwargs)
        if not items:
            return self._done(True)
        if self._text_values is not None:  # KT_BINARY, KT_NONE: str as UTF-8
            data = tb.encode_misc_items(b"putlist", items.items(), True,
                                        0 if update_log else tb.MISC_NO_ULOG)
        else:
            encode = self._encode
            pairs = [(_key(k), encode(v)) for k, v in items.items()]
            data = tb.encode_misc_items(b"putlist", pairs, False,
                                        0 if update_log else tb.MISC_NO_ULOG)
        return self._call(data, tb.MiscReplyParser().parse, False, None, _misc_ok, None)

    def remove_bulk(self, keys: Iterable[Key], update_log: bool = True) -> Any:
        """Remove many keys in one request (misc outlist)."""
        args: List[object] = keys if isinstance(keys, list) else list(keys)
        if not args:
            return self._done(True)
        data = tb.encode_misc_keys(b"outlist", args, 0 if update_log else tb.MISC_NO_ULOG)
        return self._call(data, tb.MiscReplyParser().parse, False, None, _misc_ok, None)

    def update(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> Any:
        """Same as ``set_bulk``."""
        return self.set_bulk(__data, **kwargs)

    # -- scripts ---------------------------------------------------------------

    def script(self, name: str, key: Any = None, value: Any = None,
               lock_records: bool = False, lock_all: bool = False,
               encode_value: bool = True, decode_result: bool = False,
               decode_value: Optional[bool] = None, as_int: bool = False,
               as_list: bool = False, as_dict: bool = False) -> Any:
        """Call the server's extension function ``name`` with ``key`` and
        ``value``; returns its result (bytes, or deserialized with
        ``decode_result``; ``decode_value`` is the original library's name
        for it).  The original library's result shapes: ``as_int=True``
        reads the result as an integer (None for an empty result);
        ``as_list=True`` splits it into lines, ``as_dict=True`` into lines
        of key TAB value (each part deserialized with ``decode_result``).
        A key or value that is an int or float goes as its decimal text.
        Raises TokyoTyrantError when the function fails or does not exist."""
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
        """Remove every record (vanish)."""
        return self._status(tb.encode_vanish(), False)

    def status(self) -> Any:
        """The server's status fields (version, rnum, size, type, ...)."""
        return self._call(tb.encode_stat(), tb.parse_stat_reply, True, None, self._checked,
                          ("stat", tb.CMD_STAT))

    def count(self) -> Any:
        """Number of records."""
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

    def misc(self, cmd: str, args: Optional[Iterable[Any]] = None,
             update_log: bool = True) -> Any:
        """Run a misc function; returns its result elements, or None when
        the server reports failure.  ``args`` items may be str or bytes."""
        return self._misc(cmd, [_key(a) for a in (args or ())], update_log, False,
                          _misc_elements)

    def optimize(self, options: Union[str, bytes] = b"") -> Any:
        """Optimize the database with tuning ``options`` (e.g. "bnum=1000")."""
        return self._status(tb.encode_optimize(_key(options)), False)

    def synchronize(self) -> Any:
        """Write the database to its file."""
        return self._status(tb.encode_sync())

    def copy(self, path: Union[str, bytes]) -> Any:
        """Copy the database file to ``path`` on the server (or run the
        command given as "@command")."""
        return self._status(tb.encode_copy(_key(path)), False)

    def restore(self, path: Union[str, bytes], timestamp: int,
                check_consistency: bool = False) -> Any:
        """Replay the update log in ``path`` from ``timestamp`` (microseconds)."""
        opts = tb.RESTORE_CHECK_CONSISTENCY if check_consistency else 0
        return self._status(tb.encode_restore(_key(path), timestamp, opts), False)

    def set_master(self, host: Optional[str], port: int = 0, timestamp: int = 0,
                   check_consistency: bool = False) -> Any:
        """Make the server replicate from ``host:port`` from ``timestamp``
        (host None stops replication)."""
        opts = tb.RESTORE_CHECK_CONSISTENCY if check_consistency else 0
        return self._status(tb.encode_setmst(_key(host or b""), port, timestamp, opts), False)

    # -- ranges and matching -------------------------------------------------

    def get_range(self, start: Optional[Key] = None, stop: Optional[Key] = None,
                  max_keys: int = 0) -> Any:
        """Records with ``start <= key < stop`` (B+ tree databases), at
        most ``max_keys`` of them (0: all)."""
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
        """The records from ``start_key`` to the end, in the order of the
        server's iterator (storage order: key order on a B+ tree, hash order
        on a hash database), as a dict.  Uses the server's single iterator
        (misc iterinit/iternext), which other clients share."""
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
        """Keys starting with ``prefix`` (at most ``max_keys``; None: all)."""
        data = tb.encode_fwmkeys(_key(prefix), -1 if max_keys is None else max_keys)
        return self._call(data, tb.FwmkeysReplyParser().parse, True, None, self._prefixed, None)

    def _prefixed(self, reply: Tuple[int, List[bytes]], arg: Any) -> List[Any]:
        return [self._key_out(k) for k in self._checked(reply, ("fwmkeys", tb.CMD_FWMKEYS))]

    def match_regex(self, regex: Key, max_keys: Optional[int] = 1024) -> Any:
        """Keys matching the regular expression ``regex``."""
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
        """Every key (fetched with one fwmkeys call)."""
        return self._stream(self._pages(_KEYS))

    def keys_fast(self) -> Any:
        """Every key as a list, in one request (the original library's name;
        same as ``match_prefix("", None)``)."""
        return self.match_prefix(b"", None)

    def items_fast(self) -> Any:
        """Every record as a list of (key, value), as ``items()`` reads them
        (the original library's name)."""
        return self._drive(self._record_pages(_ITEMS), _listed)

    def items(self) -> Any:
        """Every record as (key, value), lazily, in the server's order: on a
        B+ tree every duplicate too, in key order (pages of misc "range");
        on other databases by fwmkeys then mget pages.  Never uses the
        server's shared iterator."""
        return self._stream(self._record_pages(_ITEMS))

    def values(self) -> Any:
        """Every record's value, as ``items()`` reads them."""
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
        """Create an index on column ``name`` (INDEX_STR, INDEX_NUM,
        INDEX_TOKEN, INDEX_QGRAM); with ``check_exists`` fail if it exists."""
        return self._setindex(name, index_type | (INDEX_KEEP if check_exists else 0))

    def optimize_index(self, name: Key) -> Any:
        """Optimize the index of column ``name``."""
        return self._setindex(name, INDEX_OPTIMIZE)

    def delete_index(self, name: Key) -> Any:
        """Delete the index of column ``name``."""
        return self._setindex(name, INDEX_DELETE)

    def genuid(self) -> Any:
        """A new unique id from the table database's sequence."""
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
        """Run a table search from raw arguments: strings
        (``addcond\\0col\\0op\\0expr``, ``setorder...``, ``setlimit...``) or
        the original library's tuples (``('addcond', column, op, expr)``,
        ``('setorder', column, type)``, ``('setlimit', limit, offset)``),
        plus ``cmd``: None for the keys, "get" for (key, columns) pairs,
        "out" to delete (returns bool), "count" for the number.  Prefer
        ``QueryBuilder``."""
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
    """Client for a Tokyo Tyrant server.

    :param host: server host.
    :param port: server port.
    :param serializer: how values are stored (``KT_BINARY``, ``KT_JSON``,
        ``KT_MSGPACK``, ``KT_PICKLE``, ``KT_NONE``, ``TT_TABLE`` or any object
        with ``encode``/``decode``).
    :param decode_keys: give keys back as ``str`` (UTF-8) rather than bytes.
    :param timeout: socket timeout in seconds (None: wait forever).
    :param max_connections: bound on the connections open at once (None: no
        bound); ``pool_timeout`` is how long a request waits for a free one.
    :param pool_timeout: see ``max_connections``.
    :param connect_timeout: timeout for establishing a connection (defaults
        to ``timeout``).
    :param max_idle_time: connections unused for longer are reopened.
    :param socket_module: module providing ``create_connection`` (tests,
        gevent without monkey-patching).
    :param connection_pool: accepted for code written for the original
        library; connections are always pooled.
    """

    def Queue(self, key: Key) -> "_containers.TTQueue":
        """A queue named ``key`` (needs kt's tyrant.lua on the server)."""
        from kt.containers import TTQueue
        return TTQueue(self, key)


#: The original library's name for the Tokyo Tyrant client's ``lua`` helper.
TTLuaHelper = LuaHelper
