"""The Tokyo Tyrant client.

``TokyoTyrant`` speaks ttserver's binary protocol (kt.protocol.tt_binary)
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
* ``keys()`` and ``items()`` use ``fwmkeys`` and ``mget`` rather than the
  server's single shared iterator, so they never disturb (nor are
  disturbed by) another client iterating at the same time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from kt.client import PooledClient, merge_items
from kt.errors import ProtocolError, TokyoTyrantError
from kt.protocol import tt_binary as tb
from kt.protocol.convert import items_to_pairs, keys_to_bytes, pairs_dict, text, texts, to_bytes
from kt.serializers import KT_BINARY, Serializer
from kt.table import INDEX_DELETE, INDEX_KEEP, INDEX_OPTIMIZE

__all__ = ["TokyoTyrant"]

if TYPE_CHECKING:  # the Lua helper containers (kt.containers) import this module
    from kt import containers as _containers

Key = Union[str, bytes]
_MGET_BATCH = 1000


def _key(key: object) -> bytes:
    return to_bytes(key, "key")


class TokyoTyrant(PooledClient):
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
    ) -> None:
        super().__init__(host, port, serializer, decode_keys, timeout, max_connections,
                         pool_timeout, connect_timeout, max_idle_time, socket_module)

    # -- plumbing ----------------------------------------------------------

    def _error(self, what: str, cmd: int, status: int) -> TokyoTyrantError:
        code = tb.error_code(cmd, status)
        return TokyoTyrantError("%s failed on %s: %s" % (what, self._pool.address,
                                                          tb.error_message(code)), code)

    def _status(self, data: bytes, idempotent: bool = True) -> bool:
        return self._pool.execute(data, tb.parse_status_reply, idempotent) == 0

    def _misc(self, name: str, args: List[bytes], update_log: bool = True,
              idempotent: bool = False) -> Optional[List[bytes]]:
        data = tb.encode_misc(name.encode("ascii"), args, 0 if update_log else tb.MISC_NO_ULOG)
        status, elements = self._pool.execute(data, tb.MiscReplyParser().parse, idempotent)
        return elements if status == 0 else None

    # -- records -------------------------------------------------------------

    def get(self, key: Key) -> Any:
        """The value stored at ``key`` (deserialized), or None."""
        status, value = self._pool.execute(tb.encode_get(_key(key)), tb.parse_value_reply, True)
        return self._decode(value) if status == 0 else None

    def get_raw(self, key: Key) -> Optional[bytes]:
        """The bytes stored at ``key``, or None."""
        status, value = self._pool.execute(tb.encode_get(_key(key)), tb.parse_value_reply, True)
        return value if status == 0 else None

    def set(self, key: Key, value: Any) -> bool:
        """Store ``value`` at ``key``."""
        return self._status(tb.encode_put(_key(key), self._encode(value)))

    def add(self, key: Key, value: Any) -> bool:
        """Store only if ``key`` is absent; False when it exists."""
        return self._status(tb.encode_putkeep(_key(key), self._encode(value)), False)

    def append(self, key: Key, value: Any) -> bool:
        """Append to the stored bytes (like set when ``key`` is absent)."""
        return self._status(tb.encode_putcat(_key(key), self._encode(value)), False)

    def addshl(self, key: Key, value: Any, width: int) -> bool:
        """Append, then keep only the last ``width`` bytes."""
        return self._status(tb.encode_putshl(_key(key), self._encode(value), width), False)

    def setnr(self, key: Key, value: Any) -> None:
        """Store without waiting for any reply (fire and forget)."""
        self._pool.send_only(tb.encode_putnr(_key(key), self._encode(value)))

    def setnr_bulk(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> None:
        """Store many records without waiting for replies (one round of
        putnr commands sent together)."""
        items = merge_items(__data, kwargs)
        encode = self._encode
        data = b"".join(tb.encode_putnr(_key(k), encode(v)) for k, v in items.items())
        if data:
            self._pool.send_only(data)

    def setup(self, key: Key, value: Any) -> bool:
        """Store, keeping existing records of ``key`` (a duplicate after them,
        B+ tree databases only)."""
        return self._misc("putdup", [_key(key), self._encode(value)]) is not None

    def setupback(self, key: Key, value: Any) -> bool:
        """Store a duplicate before the existing records of ``key`` (B+ tree
        databases only)."""
        return self._misc("putdupback", [_key(key), self._encode(value)]) is not None

    def remove(self, key: Key) -> int:
        """Remove ``key``; returns the number of records removed (0 or 1)."""
        return 1 if self._status(tb.encode_out(_key(key))) else 0

    def exists(self, key: Key) -> bool:
        """Whether ``key`` exists."""
        return self.length(key) is not None

    def length(self, key: Key) -> Optional[int]:
        """Size in bytes of the stored value, or None when missing."""
        status, size = self._pool.execute(tb.encode_vsiz(_key(key)), tb.parse_vsiz_reply, True)
        return size if status == 0 else None

    def get_part(self, key: Key, start: Optional[int] = None, end: Optional[int] = None) -> Any:
        """``length`` bytes of the value from offset ``start``: ``end`` is the
        number of bytes wanted (not an offset), as in ttserver's getpart.
        Returns None when the record is missing or ``start`` is past its end."""
        args = [_key(key), b"%d" % (start or 0)]
        if end is not None:
            args.append(b"%d" % end)
        out = self._misc("getpart", args, idempotent=True)
        if not out:
            return None
        return self._decode(out[0])

    def incr(self, key: Key, n: int = 1) -> int:
        """Add ``n`` to the integer record at ``key`` (created at 0) and
        return the sum.  Raises TokyoTyrantError when the record exists but
        is not a 4-byte integer record."""
        status, total = self._pool.execute(tb.encode_addint(_key(key), n), tb.parse_addint_reply)
        if status != 0:
            raise self._error("incr of %r" % (key,), tb.CMD_ADDINT, status)
        return total

    def incr_double(self, key: Key, n: float = 1.0) -> float:
        """Add ``n`` to the decimal record at ``key`` and return the sum."""
        status, total = self._pool.execute(tb.encode_adddouble(_key(key), n),
                                           tb.parse_adddouble_reply)
        if status != 0:
            raise self._error("incr_double of %r" % (key,), tb.CMD_ADDDOUBLE, status)
        return total

    # -- bulk -----------------------------------------------------------------

    def _mget(self, keys: List[bytes]) -> List[Tuple[bytes, bytes]]:
        status, records = self._pool.execute(tb.encode_mget(keys), tb.MgetReplyParser().parse, True)
        if status != 0:
            raise self._error("mget", tb.CMD_MGET, status)
        return records

    def get_bulk(self, keys: Iterable[Key]) -> Dict[Any, Any]:
        """A dict of the keys found and their (deserialized) values."""
        records = self._mget(keys_to_bytes(keys))
        if self._text_values is not None:
            return pairs_dict(records, self.decode_keys, self._text_values)
        decode = self._decode
        if self.decode_keys:
            return {text(k): decode(v) for k, v in records}
        return {k: decode(v) for k, v in records}

    def get_bulk_raw(self, keys: Iterable[Key]) -> Dict[Any, bytes]:
        """A dict of the keys found and their stored bytes."""
        records = self._mget(keys_to_bytes(keys))
        if self.decode_keys:
            return {text(k): v for k, v in records}
        return dict(records)

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, update_log: bool = True,
                 **kwargs: Any) -> bool:
        """Store many records in one request (misc putlist)."""
        items = merge_items(__data, kwargs)
        if self._text_values is not None:
            pairs = items_to_pairs(items.items(), self._text_values)
        else:
            encode = self._encode
            pairs = [(_key(k), encode(v)) for k, v in items.items()]
        args: List[bytes] = [x for pair in pairs for x in pair]
        if not args:
            return True
        return self._misc("putlist", args, update_log) is not None

    def remove_bulk(self, keys: Iterable[Key], update_log: bool = True) -> bool:
        """Remove many keys in one request (misc outlist)."""
        args = keys_to_bytes(keys)
        if not args:
            return True
        return self._misc("outlist", args, update_log) is not None

    def update(self, __data: Optional[Mapping[Any, Any]] = None, **kwargs: Any) -> bool:
        """Same as ``set_bulk``."""
        return self.set_bulk(__data, **kwargs)

    # -- scripts ---------------------------------------------------------------

    def script(self, name: str, key: Optional[Key] = None, value: Any = None,
               lock_records: bool = False, lock_all: bool = False,
               encode_value: bool = True, decode_result: bool = False) -> Any:
        """Call the server's extension function ``name`` with ``key`` and
        ``value``; returns its result (bytes, or deserialized with
        ``decode_result``).  Raises TokyoTyrantError when the function fails
        or does not exist."""
        opts = (tb.EXT_LOCK_RECORD if lock_records else 0) | (tb.EXT_LOCK_GLOBAL if lock_all else 0)
        kbytes = b"" if key is None else _key(key)
        if value is None:
            vbytes = b""
        elif encode_value:
            vbytes = self._encode(value)
        else:
            vbytes = _key(value)
        data = tb.encode_ext(to_bytes(name, "name"), kbytes, vbytes, opts)
        status, result = self._pool.execute(data, tb.parse_value_reply)
        if status != 0:
            raise self._error("script %r" % (name,), tb.CMD_EXT, status)
        return self._decode(result) if decode_result else result

    @property
    def lua(self) -> "TTLuaHelper":
        """``client.lua.name(key, value)`` calls ``client.script('name', ...)``."""
        return TTLuaHelper(self)

    # -- database -----------------------------------------------------------------

    def clear(self) -> bool:
        """Remove every record (vanish)."""
        return self._status(tb.encode_vanish(), False)

    def status(self) -> Dict[str, str]:
        """The server's status fields (version, rnum, size, type, ...)."""
        status, stats = self._pool.execute(tb.encode_stat(), tb.parse_stat_reply, True)
        if status != 0:
            raise self._error("stat", tb.CMD_STAT, status)
        return stats

    def count(self) -> int:
        """Number of records."""
        status, n = self._pool.execute(tb.encode_rnum(), tb.parse_u64_reply, True)
        if status != 0:
            raise self._error("rnum", tb.CMD_RNUM, status)
        return n

    def __len__(self) -> int:
        return self.count()

    @property
    def size(self) -> int:
        """Size of the database in bytes."""
        status, n = self._pool.execute(tb.encode_size(), tb.parse_u64_reply, True)
        if status != 0:
            raise self._error("size", tb.CMD_SIZE, status)
        return n

    @property
    def error(self) -> Optional[Tuple[int, str]]:
        """(code, message) of the database's last error, as ttserver's misc
        "error" reports it; None when the database does not keep one
        (on-memory databases)."""
        out = self._misc("error", [], idempotent=True)
        if not out:
            return None
        code, _, message = out[0].partition(b": ")
        try:
            return int(code), message.decode("utf-8", "replace")
        except ValueError:
            return -1, out[0].decode("utf-8", "replace")

    def misc(self, cmd: str, args: Optional[Iterable[Any]] = None,
             update_log: bool = True) -> Optional[List[bytes]]:
        """Run a misc function; returns its result elements, or None when
        the server reports failure.  ``args`` items may be str or bytes."""
        return self._misc(cmd, [_key(a) for a in (args or ())], update_log)

    def optimize(self, options: Union[str, bytes] = b"") -> bool:
        """Optimize the database with tuning ``options`` (e.g. "bnum=1000")."""
        return self._status(tb.encode_optimize(_key(options)), False)

    def synchronize(self) -> bool:
        """Write the database to its file."""
        return self._status(tb.encode_sync())

    def copy(self, path: Union[str, bytes]) -> bool:
        """Copy the database file to ``path`` on the server (or run the
        command given as "@command")."""
        return self._status(tb.encode_copy(_key(path)), False)

    def restore(self, path: Union[str, bytes], timestamp: int,
                check_consistency: bool = False) -> bool:
        """Replay the update log in ``path`` from ``timestamp`` (microseconds)."""
        opts = tb.RESTORE_CHECK_CONSISTENCY if check_consistency else 0
        return self._status(tb.encode_restore(_key(path), timestamp, opts), False)

    def set_master(self, host: Optional[str], port: int = 0, timestamp: int = 0,
                   check_consistency: bool = False) -> bool:
        """Make the server replicate from ``host:port`` from ``timestamp``
        (host None stops replication)."""
        opts = tb.RESTORE_CHECK_CONSISTENCY if check_consistency else 0
        return self._status(tb.encode_setmst(_key(host or b""), port, timestamp, opts), False)

    # -- ranges and matching -------------------------------------------------

    def get_range(self, start: Optional[Key] = None, stop: Optional[Key] = None,
                  max_keys: int = 0) -> Dict[Any, Any]:
        """Records with ``start <= key < stop`` (B+ tree databases), at
        most ``max_keys`` of them (0: all)."""
        args = [b"" if start is None else _key(start), b"%d" % (max_keys if max_keys > 0 else -1)]
        if stop is not None:
            args.append(_key(stop))
        out = self._misc("range", args, idempotent=True)
        return self._pairs_to_dict(out or [])

    def iter_from(self, start_key: Key) -> Dict[Any, Any]:
        """Records from ``start_key`` to the end (B+ tree databases)."""
        return self.get_range(start_key)

    def _pairs_to_dict(self, items: List[bytes]) -> Dict[Any, Any]:
        if len(items) % 2:
            raise ProtocolError("odd number of elements in a key/value reply")
        decode = self._decode
        return {self._key_out(items[i]): decode(items[i + 1]) for i in range(0, len(items), 2)}

    def match_prefix(self, prefix: Key, max_keys: Optional[int] = 1024) -> List[Any]:
        """Keys starting with ``prefix`` (at most ``max_keys``; None: all)."""
        data = tb.encode_fwmkeys(_key(prefix), -1 if max_keys is None else max_keys)
        status, keys = self._pool.execute(data, tb.FwmkeysReplyParser().parse, True)
        if status != 0:
            raise self._error("fwmkeys", tb.CMD_FWMKEYS, status)
        return [self._key_out(k) for k in keys]

    def match_regex(self, regex: Key, max_keys: Optional[int] = 1024) -> List[Any]:
        """Keys matching the regular expression ``regex``."""
        args = [_key(regex), b"%d" % (-1 if max_keys is None else max_keys)]
        out = self._misc("regex", args, idempotent=True) or []
        return [self._key_out(out[i]) for i in range(0, len(out) - 1, 2)]

    def keys(self) -> Iterator[Any]:
        """Every key (fetched with one fwmkeys call)."""
        for key in self.match_prefix(b"", None):
            yield key

    def items(self) -> Iterator[Tuple[Any, Any]]:
        """Every (key, value), fetching values in batches with mget."""
        status, keys = self._pool.execute(tb.encode_fwmkeys(b"", -1),
                                          tb.FwmkeysReplyParser().parse, True)
        if status != 0:
            raise self._error("fwmkeys", tb.CMD_FWMKEYS, status)
        decode = self._decode
        for i in range(0, len(keys), _MGET_BATCH):
            batch = keys[i:i + _MGET_BATCH]
            found = dict(self._mget(batch))
            for k in batch:
                if k in found:
                    yield self._key_out(k), decode(found[k])

    def values(self) -> Iterator[Any]:
        """Every value."""
        for _, value in self.items():
            yield value

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    # -- dict interface ---------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            if key.step is not None:
                raise ValueError("slices of a Tokyo Tyrant database take no step")
            return self.get_range(key.start, key.stop)
        return self.get(key)

    def __setitem__(self, key: Key, value: Any) -> None:
        if not self.set(key, value):
            raise TokyoTyrantError("put of %r failed on %s" % (key, self._pool.address),
                                   tb.TTEMISC)

    def __delitem__(self, key: Key) -> None:
        self.remove(key)

    def __contains__(self, key: Key) -> bool:
        return self.exists(key)

    # -- table databases ------------------------------------------------------

    def set_index(self, name: Key, index_type: int, check_exists: bool = False) -> bool:
        """Create an index on column ``name`` (INDEX_STR, INDEX_NUM,
        INDEX_TOKEN, INDEX_QGRAM); with ``check_exists`` fail if it exists."""
        kind = index_type | (INDEX_KEEP if check_exists else 0)
        return self._misc("setindex", [_key(name), b"%d" % kind]) is not None

    def optimize_index(self, name: Key) -> bool:
        """Optimize the index of column ``name``."""
        return self._misc("setindex", [_key(name), b"%d" % INDEX_OPTIMIZE]) is not None

    def delete_index(self, name: Key) -> bool:
        """Delete the index of column ``name``."""
        return self._misc("setindex", [_key(name), b"%d" % INDEX_DELETE]) is not None

    def genuid(self) -> int:
        """A new unique id from the table database's sequence."""
        out = self._misc("genuid", [])
        if not out:
            raise TokyoTyrantError("genuid failed on %s (not a table database?)"
                                   % self._pool.address, tb.TTEMISC)
        try:
            return int(out[0])
        except ValueError:
            raise ProtocolError("genuid answered %r" % out[0]) from None

    def search(self, expressions: Iterable[Any], cmd: Optional[str] = None) -> Any:
        """Run a table search from raw arguments (``addcond\\0col\\0op\\0expr``,
        ``setorder...``, ``setlimit...``) plus ``cmd``: None for the keys,
        "get" for (key, columns) pairs, "out" to delete (returns bool),
        "count" for the number.  Prefer ``QueryBuilder``."""
        args = [_key(e) for e in expressions]
        if cmd is None:
            out = self._search_misc(args, True)
            return [self._key_out(k) for k in out]
        if cmd == "get":
            return self._records(self._search_misc(args + [b"get"], True))
        if cmd == "out":
            return self._misc("search", args + [b"out"]) is not None
        if cmd == "count":
            out = self._search_misc(args + [b"count"], True)
            return int(out[0]) if out else 0
        raise ValueError("cmd must be None, 'get', 'out' or 'count', not %r" % (cmd,))

    def _search_misc(self, args: List[bytes], readonly: bool) -> List[bytes]:
        out = self._misc("search", args, update_log=not readonly, idempotent=readonly)
        if out is None:
            raise TokyoTyrantError("search failed on %s (not a table database?)"
                                   % self._pool.address, tb.TTEMISC)
        return out

    def _run_search(self, search: tb.TTSearch, readonly: bool) -> List[bytes]:
        args = tb.encode_search_args(search)
        name = search.misc_name().decode("ascii")
        out = self._misc(name, args, update_log=not readonly, idempotent=readonly)
        if out is None:
            raise TokyoTyrantError("search failed on %s (not a table database?)"
                                   % self._pool.address, tb.TTEMISC)
        return out

    def _records(self, elements: List[bytes]) -> List[Tuple[Any, Dict[Any, Any]]]:
        # Each element is a record's columns with the primary key under the
        # empty name; columns come back as str (bytes if not UTF-8), as
        # TT_TABLE gives them.
        records: List[Tuple[Any, Dict[Any, Any]]] = []
        for element in elements:
            columns = tb.decode_columns(element)
            pkey = columns.pop(b"", b"")
            records.append((self._key_out(pkey),
                            dict(zip(texts(list(columns)), texts(list(columns.values()))))))
        return records

    def _search_keys(self, search: tb.TTSearch) -> List[Any]:
        return [self._key_out(k) for k in self._run_search(search, True)]

    def _search_records(self, search: tb.TTSearch) -> List[Tuple[Any, Dict[Any, Any]]]:
        return self._records(self._run_search(search, True))

    def _search_delete(self, search: tb.TTSearch) -> bool:
        self._run_search(search, False)
        return True

    def _search_count(self, search: tb.TTSearch) -> int:
        out = self._run_search(search, True)
        try:
            return int(out[0]) if out else 0
        except ValueError:
            raise ProtocolError("search count answered %r" % out[0]) from None

    def _search_hint(self, search: tb.TTSearch) -> str:
        _, hint = tb.split_hint(self._run_search(search, True))
        return hint.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return "<TokyoTyrant %s>" % self._pool.address

    def Queue(self, key: Key) -> "_containers.TTQueue":
        """A queue named ``key`` (needs kt's tyrant.lua on the server)."""
        from kt.containers import TTQueue
        return TTQueue(self, key)


class TTLuaHelper:
    """``client.lua.name(key=None, value=None, **options)`` runs ``script``."""

    def __init__(self, client: TokyoTyrant) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        client = self._client

        def call(key: Optional[Key] = None, value: Any = None, **kwargs: Any) -> Any:
            return client.script(name, key, value, **kwargs)

        call.__name__ = name
        return call
