"""The Kyoto Tycoon client.

``KyotoMethods`` holds every method of the Kyoto Tycoon clients, written
once; ``KyotoTycoon`` runs them over the synchronous pool and
kt.aio.AsyncKyotoTycoon over the asyncio pool (see kt.client).  The client
speaks both of ktserver's protocols over one pool of
connections: the binary protocol for the hot operations (get, set, remove
and their bulk forms, scripts) and HTTP TSV-RPC for everything else.  The
codecs live in kt.protocol; sockets and pooling in kt.connection.

Semantics worth knowing:

* Every write waits for the server's reply unless the caller asks for
  ``no_reply=True`` explicitly, so a write is visible to the next read,
  whatever connection that read uses.
* ``expire_time`` is a number of seconds from now; a negative number is
  minus an absolute UNIX time (as ktserver reads it); None means never.
* Keys may be ``str`` (sent as UTF-8) or ``bytes``.  With ``decode_keys``
  (the default) keys read back are ``str``, or ``bytes`` when they are not
  valid UTF-8.
* Cursors live in the server's connection (session), so a ``Cursor`` keeps
  one connection to itself until it is closed.
* keys(), values() and items() fetch the key list in one request and the
  values in get_bulk pages; a cursor walks the database record by record.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    final,
)

from kt.client import (Finish, LuaHelper, Parse, Plan, PooledClient, Request, merge_items, mypyc_attr,
                       number_text)
from kt.connection import Connection, fork_epoch
from kt.errors import KyotoTycoonError, ProtocolError, ServerError
from kt.protocol import kt_binary as kb
from kt.protocol import kt_http as kh
from kt.protocol.buffer import ReceiveBuffer
from kt.protocol.convert import texts, to_bytes
from kt.serializers import KT_BINARY, Serializer

__all__ = ["KyotoTycoon", "KyotoMethods", "Cursor", "CursorMethods", "LuaHelper"]

if TYPE_CHECKING:  # the Lua helper containers (kt.containers) import this module
    from kt import containers as _containers

Key = Union[str, bytes]

_XT_NONE = kb.XT_NONE
_XT_MAX = kb.XT_MAX
_TRUE = b"true"


def _key_bytes(key: object) -> bytes:
    return to_bytes(key, "key")


def _keep_alive(resp: kh.HttpResponse) -> bool:
    return resp.keep_alive


def _xt_arg(expire_time: Optional[int]) -> int:
    if expire_time is None:
        return _XT_NONE
    if isinstance(expire_time, bool) or not isinstance(expire_time, (int, float)):
        raise TypeError("expire_time must be a number of seconds or None, not %s"
                        % type(expire_time).__name__)
    return int(expire_time)


def _xt_out(xt: int) -> Optional[int]:
    return None if xt >= _XT_MAX else xt


def _first_raw(recs: kb.BulkRecords, arg: Any) -> Optional[bytes]:
    return recs.values[0] if recs.values else None


_PAGE = 1000
_KEYS = 0
_VALUES = 1
_ITEMS = 2


@final
class _ScriptReplyParser:
    """play_script's reply parser, naming the procedure when it fails."""

    def __init__(self, name: str, address: str) -> None:
        self._parser = kb.PlayScriptReplyParser()
        self._name = name
        self._address = address

    def parse(self, buf: ReceiveBuffer) -> Optional[List[Tuple[bytes, bytes]]]:
        try:
            return self._parser.parse(buf)
        except ServerError as exc:
            raise ServerError(
                "script %r failed on %s (no such procedure, no -scr script loaded, "
                "or the procedure returned an error)" % (self._name, self._address),
                exc.code) from None


def _increment_pairs(key: Key, num: bytes, orig: Optional[bytes],
                     expire_time: Optional[int]) -> List[Tuple[bytes, bytes]]:
    """The input of RPC increment / increment_double."""
    pairs = [(b"key", _key_bytes(key)), (b"num", num)]
    if orig is not None:
        pairs.append((b"orig", orig))
    if expire_time is not None:
        pairs.append((b"xt", b"%d" % _xt_arg(expire_time)))
    return pairs


@mypyc_attr(allow_interpreted_subclasses=True)
class KyotoMethods(PooledClient):
    """Every method of the Kyoto Tycoon clients, written once: argument
    checking, request encoding and result shaping.  ``KyotoTycoon`` runs
    them synchronously, ``kt.aio.AsyncKyotoTycoon`` awaits them (see
    kt.client for the transport)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1978,
        serializer: Serializer = KT_BINARY,
        decode_keys: bool = True,
        timeout: Optional[float] = None,
        default_db: int = 0,
        max_connections: Optional[int] = None,
        pool_timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        max_idle_time: Optional[float] = 20.0,
        socket_module: Any = None,
        connection_pool: Optional[bool] = None,
    ) -> None:
        super().__init__(host, port, serializer, decode_keys, timeout, max_connections,
                         pool_timeout, connect_timeout, max_idle_time, socket_module)
        self.default_db = self._check_db(default_db)
        # bound once: get() is the hottest path
        self._value_of_first: Finish = self._first_value
        self._host_header = ("%s:%d" % (host, port)).encode("idna" if not host.isascii() else "ascii")

    # -- plumbing ----------------------------------------------------------

    @staticmethod
    def _check_db(db: object) -> int:
        if isinstance(db, bool) or not isinstance(db, int):
            raise TypeError("db must be a database index (int), not %s" % type(db).__name__)
        if db < 0 or db > 0xFFFF:
            raise ValueError("db must be a database index from 0 to 65535, not %d" % db)
        return db

    def _db(self, db: Optional[int]) -> int:
        if db is None:
            return self.default_db
        return self._check_db(db)

    def _rpc_data(self, procedure: str, pairs: List[Tuple[bytes, bytes]],
                  db: Optional[int]) -> bytes:
        pairs.append((b"DB", b"%d" % self._db(db)))
        return kh.encode_rpc_request(procedure, pairs, None, self._host_header)

    def _rpc(self, procedure: str, pairs: List[Tuple[bytes, bytes]], db: Optional[int],
             idempotent: bool, finish: Finish) -> Any:
        """Call an RPC procedure; ``finish(response, procedure)`` shapes the
        result (``_rpc_result`` checks the status)."""
        data = self._rpc_data(procedure, pairs, db)
        return self._call(data, kh.ResponseParser().parse, idempotent, _keep_alive,
                          finish, procedure)

    def _rpc_result(self, resp: kh.HttpResponse, procedure: str
                    ) -> Tuple[int, Dict[bytes, bytes]]:
        """(status, output map) of an RPC reply; statuses other than 200
        and 450 raise ServerError."""
        out = dict(resp.rpc_pairs())
        status = resp.status
        if status != 200 and status != 450:
            message = out.get(b"ERROR", resp.reason).decode("utf-8", "replace")
            raise ServerError("%s failed on %s: %s" % (procedure, self._pool.address, message),
                              status)
        return status, out

    def _ok(self, resp: kh.HttpResponse, procedure: str) -> bool:
        return self._rpc_result(resp, procedure)[0] == 200

    def _logical(self, procedure: str, status: int, out: Dict[bytes, bytes]) -> ServerError:
        message = out.get(b"ERROR", b"logical inconsistency").decode("utf-8", "replace")
        return ServerError("%s failed on %s: %s" % (procedure, self._pool.address, message),
                           status)

    # -- binary protocol: get / set / remove ---------------------------------

    def get(self, key: Key, db: Optional[int] = None) -> Any:
        """The value stored at ``key`` (deserialized), or None."""
        data = kb.encode_get(_key_bytes(key), self.default_db if db is None else self._check_db(db))
        return self._call(data, kb.GetBulkReplyParser().parse, True, None, self._value_of_first,
                          None)

    def _first_value(self, recs: kb.BulkRecords, arg: Any) -> Any:
        return self._decode(recs.values[0]) if recs.values else None

    def get_raw(self, key: Key, db: Optional[int] = None) -> Any:
        """The bytes stored at ``key``, or None."""
        data = kb.encode_get(_key_bytes(key), self.default_db if db is None else self._check_db(db))
        return self._call(data, kb.GetBulkReplyParser().parse, True, None, _first_raw, None)

    def _write_reply(self, data: bytes, no_reply: bool, parse: Parse) -> Any:
        if no_reply:
            return self._send(data)
        return self._call(data, parse, True, None, None, None)

    def set(self, key: Key, value: Any, db: Optional[int] = None,
            expire_time: Optional[int] = None, no_reply: bool = False) -> Any:
        """Store ``value`` at ``key``; returns the number of records stored
        (1), or None with ``no_reply=True`` (sent without waiting)."""
        return self._set(_key_bytes(key), self._encode(value), db, expire_time, no_reply)

    def _set(self, key: bytes, value: bytes, db: Optional[int], expire_time: Optional[int],
             no_reply: bool) -> Any:
        data = kb.encode_set(
            key, value, self.default_db if db is None else self._check_db(db),
            _XT_NONE if expire_time is None else _xt_arg(expire_time),
            kb.FLAG_NO_REPLY if no_reply else 0)
        return self._write_reply(data, no_reply, kb.parse_set_bulk_reply)

    def get_bytes(self, key: Key, db: Optional[int] = None) -> Any:
        """The original library's name for ``get_raw``: the stored bytes,
        not deserialized, or None."""
        return self.get_raw(key, db)

    def set_bytes(self, key: Key, value: Union[str, bytes], db: Optional[int] = None,
                  expire_time: Optional[int] = None, no_reply: bool = False) -> Any:
        """Store ``value`` as it is, bypassing the serializer (bytes, or str
        as UTF-8); otherwise like ``set`` (the original library's name)."""
        return self._set(_key_bytes(key), to_bytes(value, "value"), db, expire_time, no_reply)

    def remove(self, key: Key, db: Optional[int] = None, no_reply: bool = False) -> Any:
        """Remove ``key``; returns the number of records removed (0 or 1)."""
        data = kb.encode_remove(_key_bytes(key), self.default_db if db is None else self._check_db(db),
                                kb.FLAG_NO_REPLY if no_reply else 0)
        return self._write_reply(data, no_reply, kb.parse_remove_bulk_reply)

    def _get_bulk(self, keys: Iterable[Key], db: Optional[int], finish: Finish, arg: Any) -> Any:
        data = kb.encode_get_bulk_keys(keys, self._db(db))
        return self._call(data, kb.GetBulkReplyParser().parse, True, None, finish, arg)

    def get_bulk(self, keys: Iterable[Key], db: Optional[int] = None) -> Any:
        """A dict of the keys found and their (deserialized) values."""
        if self._text_values is not None:  # KT_BINARY, KT_NONE: the parser builds the dict
            return self._get_dict(keys, db, self._text_values)
        return self._get_bulk(keys, db, self._bulk_dict, None)

    def _bulk_dict(self, recs: kb.BulkRecords, arg: Any) -> Dict[Any, Any]:
        decode = self._decode
        found = texts(recs.keys) if self.decode_keys else recs.keys
        return {k: decode(v) for k, v in zip(found, recs.values)}

    def get_bulk_raw(self, keys: Iterable[Key], db: Optional[int] = None) -> Any:
        """A dict of the keys found and their stored bytes."""
        return self._get_dict(keys, db, False)

    def _get_dict(self, keys: Iterable[Key], db: Optional[int], text_values: bool) -> Any:
        data = kb.encode_get_bulk_keys(keys, self._db(db))
        return self._call(data, kb.GetBulkDictParser(self.decode_keys, text_values).parse, True,
                          None, None, None)

    def get_bulk_details(self, keys: Iterable[Key], db: Optional[int] = None,
                         decode_values: bool = True) -> Any:
        """``(db, key, value, expire_at)`` for every key found, where
        ``expire_at`` is the absolute UNIX time the record expires, or None."""
        return self._get_bulk(keys, db, self._bulk_details, decode_values)

    def _bulk_details(self, recs: kb.BulkRecords, decode_values: bool
                      ) -> List[Tuple[int, Any, Any, Optional[int]]]:
        decode = self._decode
        return [
            (d, self._key_out(k), decode(v) if decode_values else v, _xt_out(xt))
            for d, k, v, xt in zip(recs.dbs, recs.keys, recs.values, recs.xts)
        ]

    def set_bulk(self, __data: Optional[Mapping[Any, Any]] = None, db: Optional[int] = None,
                 expire_time: Optional[int] = None, no_reply: bool = False,
                 **kwargs: Any) -> Any:
        """Store many records; returns how many were stored (None with
        ``no_reply=True``)."""
        items = merge_items(__data, kwargs)
        flags = kb.FLAG_NO_REPLY if no_reply else 0
        if self._text_values is not None:  # KT_BINARY, KT_NONE: str as UTF-8
            data = kb.encode_set_bulk_items(items.items(), True, self._db(db),
                                            _xt_arg(expire_time), flags)
        else:
            encode = self._encode
            pairs = [(_key_bytes(k), encode(v)) for k, v in items.items()]
            data = kb.encode_set_bulk(pairs, self._db(db), _xt_arg(expire_time), flags)
        return self._write_reply(data, no_reply, kb.parse_set_bulk_reply)

    def remove_bulk(self, keys: Iterable[Key], db: Optional[int] = None,
                    no_reply: bool = False) -> Any:
        """Remove many keys; returns how many records were removed."""
        data = kb.encode_remove_bulk_keys(keys, self._db(db),
                                          kb.FLAG_NO_REPLY if no_reply else 0)
        return self._write_reply(data, no_reply, kb.parse_remove_bulk_reply)

    # -- scripts -------------------------------------------------------------

    def script(self, name: str, __data: Optional[Mapping[Any, Any]] = None,
               encode_values: bool = True, no_reply: bool = False,
               **kwargs: Any) -> Any:
        """Call the server-side procedure ``name`` with key/value input and
        return its output map.  With ``encode_values`` the input values are
        serialized and output values deserialized with the client's
        serializer; otherwise values go as they are (str as UTF-8) and come
        back as bytes.  Input values that are int or float go as their
        decimal text either way (``n=1``, ``db=0``: what Lua procedures
        read).  A procedure that fails raises ServerError."""
        items = merge_items(__data, kwargs)
        encode = self._encode if encode_values else _key_bytes
        pairs: List[Tuple[bytes, bytes]] = []
        for k, v in items.items():
            number = number_text(v)
            pairs.append((_key_bytes(k), encode(v) if number is None else number))
        data = kb.encode_play_script(_key_bytes(name), pairs,
                                     kb.FLAG_NO_REPLY if no_reply else 0)
        if no_reply:
            return self._send(data)
        parser = _ScriptReplyParser(name, self._pool.address)
        return self._call(data, parser.parse, False, None, self._script_out, encode_values)

    def _script_out(self, out: List[Tuple[bytes, bytes]], encode_values: bool) -> Dict[Any, Any]:
        if encode_values:
            decode = self._decode
            return {self._key_out(k): decode(v) for k, v in out}
        return {self._key_out(k): v for k, v in out}

    @property
    def lua(self) -> "LuaHelper":
        """``client.lua.proc(**kw)`` calls ``client.script('proc', kw)``."""
        return LuaHelper(self)

    # -- HTTP RPC: record operations -------------------------------------------

    def _write(self, procedure: str, key: Key, value: Any, db: Optional[int],
               expire_time: Optional[int]) -> Any:
        pairs = [(b"key", _key_bytes(key)), (b"value", self._encode(value))]
        if expire_time is not None:
            pairs.append((b"xt", b"%d" % _xt_arg(expire_time)))
        return self._rpc(procedure, pairs, db, False, self._ok)

    def add(self, key: Key, value: Any, db: Optional[int] = None,
            expire_time: Optional[int] = None) -> Any:
        """Store only if ``key`` does not exist; True if stored."""
        return self._write("add", key, value, db, expire_time)

    def replace(self, key: Key, value: Any, db: Optional[int] = None,
                expire_time: Optional[int] = None) -> Any:
        """Store only if ``key`` exists; True if stored."""
        return self._write("replace", key, value, db, expire_time)

    def append(self, key: Key, value: Any, db: Optional[int] = None,
               expire_time: Optional[int] = None) -> Any:
        """Append to the stored bytes (like set when the key is missing)."""
        return self._write("append", key, value, db, expire_time)

    def _check(self, key: Key, db: Optional[int], finish: Finish) -> Any:
        return self._rpc("check", [(b"key", _key_bytes(key))], db, True, finish)

    def exists(self, key: Key, db: Optional[int] = None) -> Any:
        """Whether ``key`` exists."""
        return self._check(key, db, self._ok)

    def length(self, key: Key, db: Optional[int] = None) -> Any:
        """Size in bytes of the stored value, or None when missing."""
        return self._check(key, db, self._length_of)

    def _length_of(self, resp: kh.HttpResponse, procedure: str) -> Optional[int]:
        status, out = self._rpc_result(resp, procedure)
        return self._int(out, b"vsiz", procedure) if status == 200 else None

    def expire_time(self, key: Key, db: Optional[int] = None) -> Any:
        """Absolute UNIX time at which ``key`` expires; None when it never
        expires or does not exist."""
        return self._check(key, db, self._expire_time_of)

    def _expire_time_of(self, resp: kh.HttpResponse, procedure: str) -> Optional[int]:
        status, out = self._rpc_result(resp, procedure)
        if status != 200 or b"xt" not in out:
            return None
        return _xt_out(self._int(out, b"xt", procedure))

    def seize(self, key: Key, db: Optional[int] = None) -> Any:
        """Get the value of ``key`` and remove the record atomically; None
        when missing."""
        return self._rpc("seize", [(b"key", _key_bytes(key))], db, False, self._seized)

    def _seized(self, resp: kh.HttpResponse, procedure: str) -> Any:
        status, out = self._rpc_result(resp, procedure)
        if status != 200:
            return None
        if b"value" not in out:
            raise ProtocolError("seize reply from %s has no value" % self._pool.address)
        return self._decode(out[b"value"])

    def cas(self, key: Key, old_val: Any, new_val: Any, db: Optional[int] = None,
            expire_time: Optional[int] = None) -> Any:
        """Compare and swap: store ``new_val`` if the current value equals
        ``old_val``.  ``old_val=None`` means "only if the record is absent";
        ``new_val=None`` removes the record.  True on success."""
        pairs = [(b"key", _key_bytes(key))]
        if old_val is not None:
            pairs.append((b"oval", self._encode(old_val)))
        if new_val is not None:
            pairs.append((b"nval", self._encode(new_val)))
        if expire_time is not None:
            pairs.append((b"xt", b"%d" % _xt_arg(expire_time)))
        return self._rpc("cas", pairs, db, False, self._ok)

    def incr(self, key: Key, n: int = 1, orig: Optional[int] = None, db: Optional[int] = None,
             expire_time: Optional[int] = None) -> Any:
        """Add ``n`` to the integer stored at ``key`` (``orig``, default 0,
        is the starting value of a missing record) and return the result.
        Raises ServerError (code 450) when the stored value is not an
        integer record."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("n must be an int, not %s" % type(n).__name__)
        if orig is not None and (isinstance(orig, bool) or not isinstance(orig, int)):
            raise TypeError("orig must be an int or None, not %s" % type(orig).__name__)
        pairs = _increment_pairs(key, b"%d" % n, None if orig is None else b"%d" % orig,
                                 expire_time)
        return self._rpc("increment", pairs, db, False, self._incremented)

    def _counter_out(self, resp: kh.HttpResponse, procedure: str) -> Dict[bytes, bytes]:
        status, out = self._rpc_result(resp, procedure)
        if status != 200:
            raise self._logical(procedure, status, out)
        return out

    def _incremented(self, resp: kh.HttpResponse, procedure: str) -> int:
        return self._int(self._counter_out(resp, procedure), b"num", procedure)

    def incr_double(self, key: Key, n: float = 1.0, orig: Optional[float] = None,
                    db: Optional[int] = None, expire_time: Optional[int] = None) -> Any:
        """Add ``n`` to the decimal number stored at ``key`` and return the
        result.  Raises ServerError (code 450) for an incompatible record."""
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            raise TypeError("n must be a number, not %s" % type(n).__name__)
        if orig is not None and (isinstance(orig, bool) or not isinstance(orig, (int, float))):
            raise TypeError("orig must be a number or None, not %s" % type(orig).__name__)
        pairs = _increment_pairs(key, repr(float(n)).encode("ascii"),
                                 None if orig is None else repr(float(orig)).encode("ascii"),
                                 expire_time)
        return self._rpc("increment_double", pairs, db, False, self._incremented_double)

    def _incremented_double(self, resp: kh.HttpResponse, procedure: str) -> float:
        out = self._counter_out(resp, procedure)
        try:
            return float(out[b"num"])
        except (KeyError, ValueError):
            raise ProtocolError("increment_double reply from %s has no valid num"
                                % self._pool.address) from None

    def _int(self, out: Dict[bytes, bytes], field: bytes, procedure: str) -> int:
        try:
            return int(out[field])
        except (KeyError, ValueError):
            raise ProtocolError("%s reply from %s has no valid %s" % (
                procedure, self._pool.address, field.decode())) from None

    # -- HTTP RPC: database operations ------------------------------------------

    def _text_map(self, resp: kh.HttpResponse, procedure: str) -> Dict[str, str]:
        out = self._rpc_result(resp, procedure)[1]
        return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in out.items()}

    def status(self, db: Optional[int] = None) -> Any:
        """The status fields of a database (count, size, path, type, ...)."""
        return self._rpc("status", [], db, True, self._text_map)

    def report(self) -> Any:
        """The server report (all databases, connections, counters)."""
        return self._rpc("report", [], None, True, self._text_map)

    def clear(self, db: Optional[int] = None) -> Any:
        """Remove every record of a database."""
        return self._rpc("clear", [], db, True, self._ok)

    def synchronize(self, hard: bool = False, command: Optional[str] = None,
                    db: Optional[int] = None) -> Any:
        """Write the database to its file (``hard``: to the device), then
        run ``command`` from the server's -cmd directory if given."""
        pairs: List[Tuple[bytes, bytes]] = []
        if hard:
            pairs.append((b"hard", _TRUE))
        if command is not None:
            pairs.append((b"command", _key_bytes(command)))
        return self._rpc("synchronize", pairs, db, True, self._ok)

    def vacuum(self, step: int = 0, db: Optional[int] = None) -> Any:
        """Remove expired records (``step`` 0: the whole database)."""
        pairs: List[Tuple[bytes, bytes]] = []
        if step:
            pairs.append((b"step", b"%d" % step))
        return self._rpc("vacuum", pairs, db, True, self._ok)

    def count(self, db: Optional[int] = None) -> Any:
        """Number of records in a database."""
        return self._rpc("status", [], db, True, self._count_of)

    def _count_of(self, resp: kh.HttpResponse, procedure: str) -> int:
        return self._int(self._rpc_result(resp, procedure)[1], b"count", procedure)

    def _size_of(self, resp: kh.HttpResponse, procedure: str) -> int:
        return self._int(self._rpc_result(resp, procedure)[1], b"size", procedure)

    def _path_of(self, resp: kh.HttpResponse, procedure: str) -> str:
        return self._rpc_result(resp, procedure)[1].get(b"path", b"").decode("utf-8", "replace")

    def __len__(self) -> int:
        n: int = self.count()
        return n

    @property
    def size(self) -> Any:
        """Size in bytes of the default database."""
        return self._rpc("status", [], None, True, self._size_of)

    @property
    def path(self) -> Any:
        """Path (or type symbol) of the default database."""
        return self._rpc("status", [], None, True, self._path_of)

    def set_database(self, db: int) -> Any:
        """Make ``db`` the default database of this client."""
        self.default_db = self._check_db(db)
        return self

    def _match_pairs(self, pairs: List[Tuple[bytes, bytes]],
                     max_keys: Optional[int]) -> List[Tuple[bytes, bytes]]:
        if max_keys is not None:
            pairs.append((b"max", b"%d" % max_keys))
        return pairs

    def _matched_bytes(self, resp: kh.HttpResponse, procedure: str) -> List[bytes]:
        out = self._rpc_result(resp, procedure)[1]
        found: List[Tuple[int, bytes]] = []
        for k, v in out.items():
            if k[:1] == b"_":
                try:
                    found.append((int(v), k[1:]))
                except ValueError:
                    raise ProtocolError("%s reply has a bad order %r" % (procedure, v)) from None
        found.sort()
        return [k for _, k in found]

    def _matched(self, resp: kh.HttpResponse, procedure: str) -> List[Any]:
        return [self._key_out(k) for k in self._matched_bytes(resp, procedure)]

    def match_prefix(self, prefix: Key, max_keys: Optional[int] = None,
                     db: Optional[int] = None) -> Any:
        """Keys starting with ``prefix`` (in the database's order)."""
        pairs = self._match_pairs([(b"prefix", _key_bytes(prefix))], max_keys)
        return self._rpc("match_prefix", pairs, db, True, self._matched)

    def match_regex(self, regex: Key, max_keys: Optional[int] = None,
                    db: Optional[int] = None) -> Any:
        """Keys matching the regular expression ``regex``."""
        pairs = self._match_pairs([(b"regex", _key_bytes(regex))], max_keys)
        return self._rpc("match_regex", pairs, db, True, self._matched)

    def match_similar(self, origin: Key, distance: Optional[int] = None,
                      max_keys: Optional[int] = None, db: Optional[int] = None,
                      utf: bool = False) -> Any:
        """Keys within ``distance`` (Levenshtein, default 1) of ``origin``;
        ``utf`` counts distance in characters instead of bytes."""
        pairs = [(b"origin", _key_bytes(origin))]
        if distance is not None:
            pairs.append((b"range", b"%d" % distance))
        if utf:
            pairs.append((b"utf", _TRUE))
        return self._rpc("match_similar", self._match_pairs(pairs, max_keys), db, True,
                         self._matched)

    def ulog_list(self) -> Any:
        """Update log files of the server as (path, size, timestamp)."""
        return self._rpc("ulog_list", [], None, True, self._ulog_files)

    def _ulog_files(self, resp: kh.HttpResponse, procedure: str) -> List[Tuple[str, int, int]]:
        out = self._rpc_result(resp, procedure)[1]
        files: List[Tuple[str, int, int]] = []
        for k, v in out.items():
            size, _, ts = v.partition(b":")
            try:
                files.append((k.decode("utf-8", "replace"), int(size), int(ts)))
            except ValueError:
                raise ProtocolError("ulog_list reply has a bad entry %r" % v) from None
        files.sort()
        return files

    def ulog_remove(self, max_ts: Optional[int] = None) -> Any:
        """Remove update log files older than ``max_ts`` (None: all but the
        current one)."""
        pairs: List[Tuple[bytes, bytes]] = []
        if max_ts is not None:
            pairs.append((b"ts", b"%d" % max_ts))
        return self._rpc("ulog_remove", pairs, None, True, self._ok)

    # -- dict interface ---------------------------------------------------------

    @staticmethod
    def _split_key(key_or_keydb: Any) -> Tuple[Any, Optional[int]]:
        if isinstance(key_or_keydb, tuple):
            if len(key_or_keydb) != 2:
                raise TypeError("a tuple key must be (key, db)")
            return key_or_keydb[0], key_or_keydb[1]
        return key_or_keydb, None

    def __getitem__(self, key_or_keydb: Any) -> Any:
        key, db = self._split_key(key_or_keydb)
        return self.get(key, db)

    def _setitem(self, key_or_keydb: Any, value_or_valueexp: Any) -> Any:
        key, db = self._split_key(key_or_keydb)
        if isinstance(value_or_valueexp, tuple):
            if len(value_or_valueexp) != 2:
                raise TypeError("a tuple value must be (value, expire_time)")
            return self.set(key, value_or_valueexp[0], db, value_or_valueexp[1])
        return self.set(key, value_or_valueexp, db)

    def __setitem__(self, key_or_keydb: Any, value_or_valueexp: Any) -> None:
        self._setitem(key_or_keydb, value_or_valueexp)

    def __delitem__(self, key_or_keydb: Any) -> None:
        key, db = self._split_key(key_or_keydb)
        self.remove(key, db)

    def __contains__(self, key_or_keydb: Any) -> bool:
        key, db = self._split_key(key_or_keydb)
        found: bool = self.exists(key, db)
        return found

    def update(self, __data: Optional[Mapping[Any, Any]] = None, db: Optional[int] = None,
               expire_time: Optional[int] = None, **kwargs: Any) -> Any:
        """Same as ``set_bulk``."""
        return self.set_bulk(__data, db, expire_time, **kwargs)

    def pop(self, key: Key, db: Optional[int] = None) -> Any:
        """Same as ``seize``."""
        return self.seize(key, db)

    # -- iteration: key list in one call, values in get_bulk pages ---------------

    def _pages(self, db: int, mode: int) -> Plan:
        """Plan of keys() / values() / items(): the whole key list in one
        match_prefix call, then the values by get_bulk pages of _PAGE
        records (records removed meanwhile are skipped)."""
        data = self._rpc_data("match_prefix", [(b"prefix", b"")], db)
        resp = yield Request(data, kh.ResponseParser().parse, True, _keep_alive)
        keys = self._matched_bytes(resp, "match_prefix")
        for i in range(0, len(keys), _PAGE):
            batch = keys[i:i + _PAGE]
            if mode == _KEYS:
                yield [self._key_out(k) for k in batch]
                continue
            recs = yield Request(kb.encode_get_bulk(batch, db), kb.GetBulkReplyParser().parse)
            yield self._page_items(batch, recs, mode)

    def _page_items(self, batch: List[bytes], recs: kb.BulkRecords, mode: int) -> List[Any]:
        found = dict(zip(recs.keys, recs.values))
        decode = self._decode
        if mode == _VALUES:
            return [decode(found[k]) for k in batch if k in found]
        return [(self._key_out(k), decode(found[k])) for k in batch if k in found]

    def keys_nonlazy(self, db: Optional[int] = None) -> Any:
        """Every key of a database, as a list, in one request (the original
        library's name; same as ``match_prefix("", db=db)``)."""
        return self.match_prefix(b"", None, db)

    def keys(self, db: Optional[int] = None) -> Any:
        """Every key of a database, lazily (the key list comes in one
        request; use a cursor to walk the database record by record)."""
        return self._stream(self._pages(self._db(db), _KEYS))

    def values(self, db: Optional[int] = None) -> Any:
        """Every value of a database, lazily, fetched in pages."""
        return self._stream(self._pages(self._db(db), _VALUES))

    def items(self, db: Optional[int] = None) -> Any:
        """Every (key, value) of a database, lazily, fetched in pages."""
        return self._stream(self._pages(self._db(db), _ITEMS))

    def __iter__(self) -> Any:
        return self.keys()

    def __repr__(self) -> str:
        return "<%s %s db=%d>" % (type(self).__name__, self._pool.address, self.default_db)


class KyotoTycoon(KyotoMethods):
    """Client for a Kyoto Tycoon server.

    :param host: server host.
    :param port: server port.
    :param serializer: how values are stored (``KT_BINARY``, ``KT_JSON``,
        ``KT_MSGPACK``, ``KT_PICKLE``, ``KT_NONE`` or any object with
        ``encode``/``decode`` methods).
    :param decode_keys: give keys back as ``str`` (UTF-8) rather than bytes.
    :param timeout: socket timeout in seconds for each request (None: wait
        forever).
    :param default_db: database index used when a method gets ``db=None``.
    :param max_connections: bound on the connections open at once (None: no
        bound); ``pool_timeout`` is how long a request waits for a free one.
    :param connect_timeout: timeout for establishing a connection (defaults
        to ``timeout``).
    :param max_idle_time: connections unused for longer are reopened
        (ktserver closes idle connections after its ``-tout``, 30 s by default).
    :param socket_module: module providing ``create_connection`` (tests,
        gevent without monkey-patching).
    :param connection_pool: accepted for code written for the original
        library; connections are always pooled.
    """

    def cursor(self, db: Optional[int] = None, cursor_id: Optional[int] = None) -> "Cursor":
        """A server-side cursor over a database (see ``Cursor``)."""
        return Cursor(self, self._db(db), cursor_id)

    # -- containers of the Lua helper library (kt.containers) ------------------

    def Hash(self, key: Key, db: Optional[int] = None) -> "_containers.Hash":
        """A hash kept in record ``key`` (needs kt's kyoto.lua on the server)."""
        from kt.containers import Hash
        return Hash(self, key, db)

    def Set(self, key: Key, db: Optional[int] = None) -> "_containers.Set":
        """A set kept in record ``key`` (needs kt's kyoto.lua on the server)."""
        from kt.containers import Set
        return Set(self, key, db)

    def List(self, key: Key, db: Optional[int] = None) -> "_containers.List":
        """A list kept in record ``key`` (needs kt's kyoto.lua on the server)."""
        from kt.containers import List
        return List(self, key, db)

    def Queue(self, key: Key, db: Optional[int] = None) -> "_containers.Queue":
        """A queue named ``key`` (needs kt's kyoto.lua on the server)."""
        from kt.containers import Queue
        return Queue(self, key, db)




_cursor_ids = iter(range(1, 1 << 62))


@mypyc_attr(allow_interpreted_subclasses=True)
class CursorMethods:
    """The methods of a server cursor, written once (request and result
    shaping); ``Cursor`` runs them synchronously, ``kt.aio.AsyncCursor``
    awaits them.  ``_exchange`` is the transport: it sends a request on the
    connection the cursor holds."""

    def __init__(self, client: KyotoMethods, db: int, cursor_id: Optional[int] = None) -> None:
        self._client = client
        self.db = db
        self.cursor_id = next(_cursor_ids) if cursor_id is None else cursor_id
        self._epoch = fork_epoch()
        self._valid = False

    def _request(self, procedure: str, pairs: List[Tuple[bytes, bytes]]) -> bytes:
        pairs.append((b"CUR", b"%d" % self.cursor_id))
        return self._client._rpc_data(procedure, pairs, self.db)

    def _exchange(self, procedure: str, data: bytes, finish: Finish) -> Any:
        raise NotImplementedError

    def _cur(self, procedure: str, pairs: List[Tuple[bytes, bytes]], finish: Finish) -> Any:
        return self._exchange(procedure, self._request(procedure, pairs), finish)

    def _ok(self, resp: kh.HttpResponse, procedure: str) -> bool:
        self._valid = self._client._rpc_result(resp, procedure)[0] == 200
        return self._valid

    def is_valid(self) -> bool:
        """Whether the cursor's last call found a record (the original
        library's name; no request is sent).  False before the first
        positioning call and after ``close()``."""
        return self._valid

    def jump(self, key: Optional[Key] = None) -> Any:
        """Go to ``key`` (or the first record after it), or to the first
        record when ``key`` is None."""
        pairs = [] if key is None else [(b"key", _key_bytes(key))]
        return self._cur("cur_jump", pairs, self._ok)

    def jump_back(self, key: Optional[Key] = None) -> Any:
        """Go to ``key`` (or the last record before it) for a backward scan,
        or to the last record when ``key`` is None (tree databases)."""
        pairs = [] if key is None else [(b"key", _key_bytes(key))]
        return self._cur("cur_jump_back", pairs, self._ok)

    def step(self) -> Any:
        """Go to the next record."""
        return self._cur("cur_step", [], self._ok)

    def step_back(self) -> Any:
        """Go to the previous record (tree databases)."""
        return self._cur("cur_step_back", [], self._ok)

    def _step_pairs(self, step: bool) -> List[Tuple[bytes, bytes]]:
        return [(b"step", _TRUE)] if step else []

    def _record(self, resp: kh.HttpResponse, procedure: str) -> Optional[Dict[bytes, bytes]]:
        status, out = self._client._rpc_result(resp, procedure)
        self._valid = status == 200
        return out if status == 200 else None

    def key(self, step: bool = False) -> Any:
        """Key of the current record (then step forward if ``step``)."""
        return self._cur("cur_get_key", self._step_pairs(step), self._key_of)

    def _key_of(self, resp: kh.HttpResponse, procedure: str) -> Any:
        out = self._record(resp, procedure)
        return None if out is None else self._client._key_out(out.get(b"key", b""))

    def value(self, step: bool = False) -> Any:
        """Value of the current record (then step forward if ``step``)."""
        return self._cur("cur_get_value", self._step_pairs(step), self._value_of)

    def _value_of(self, resp: kh.HttpResponse, procedure: str) -> Any:
        out = self._record(resp, procedure)
        return None if out is None else self._client._decode(out.get(b"value", b""))

    def get(self, step: bool = False) -> Any:
        """(key, value) of the current record (then step if ``step``)."""
        return self._cur("cur_get", self._step_pairs(step), self._item_of)

    def _item_of(self, resp: kh.HttpResponse, procedure: str) -> Optional[Tuple[Any, Any]]:
        out = self._record(resp, procedure)
        if out is None:
            return None
        return (self._client._key_out(out.get(b"key", b"")),
                self._client._decode(out.get(b"value", b"")))

    def get_details(self, step: bool = False) -> Any:
        """(key, value, expire_at) of the current record."""
        return self._cur("cur_get", self._step_pairs(step), self._details_of)

    def _details_of(self, resp: kh.HttpResponse, procedure: str
                    ) -> Optional[Tuple[Any, Any, Optional[int]]]:
        out = self._record(resp, procedure)
        if out is None:
            return None
        xt = out.get(b"xt")
        return (self._client._key_out(out.get(b"key", b"")),
                self._client._decode(out.get(b"value", b"")),
                _xt_out(int(xt)) if xt is not None else None)

    def set_value(self, value: Any, step: bool = False,
                  expire_time: Optional[int] = None) -> Any:
        """Replace the value of the current record."""
        pairs = [(b"value", self._client._encode(value))] + self._step_pairs(step)
        if expire_time is not None:
            pairs.append((b"xt", b"%d" % _xt_arg(expire_time)))
        return self._cur("cur_set_value", pairs, self._ok)

    def remove(self) -> Any:
        """Remove the current record (the cursor moves to the next one)."""
        return self._cur("cur_remove", [], self._ok)

    def seize(self) -> Any:
        """(key, value) of the current record, removing it."""
        return self._cur("cur_seize", [], self._item_of)

    def __repr__(self) -> str:
        return "<%s %d db=%d>" % (type(self).__name__, self.cursor_id, self.db)


class Cursor(CursorMethods):
    """A cursor of the server, bound to one database.

    ktserver keeps cursors per connection, so a Cursor holds one connection
    of the pool until ``close()`` (also called by ``with`` and at the end
    of iteration).  Positioning methods return True when the cursor points
    at a record; reading methods return None when it does not.
    """

    def __init__(self, client: KyotoMethods, db: int, cursor_id: Optional[int] = None) -> None:
        super().__init__(client, db, cursor_id)
        self._conn: Optional[Connection] = None

    def _exchange(self, procedure: str, data: bytes, finish: Finish) -> Any:
        conn = self._conn
        pool = self._client._pool
        if conn is None or self._epoch != fork_epoch():
            conn = pool.acquire()
            self._conn = conn
            self._epoch = fork_epoch()
        try:
            resp = conn.request(data, kh.ResponseParser().parse)
        except BaseException:
            self._conn = None
            pool.discard(conn)
            raise
        return finish(resp, procedure)

    def close(self) -> None:
        """Delete the server-side cursor and give the connection back."""
        self._valid = False
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if self._epoch != fork_epoch():
            return
        pool = self._client._pool
        try:
            resp = conn.request(self._request("cur_delete", []), kh.ResponseParser().parse)
            self._client._rpc_result(resp, "cur_delete")
        except KyotoTycoonError:
            pool.discard(conn)
            return
        pool.release(conn)

    def __iter__(self) -> Iterator[Tuple[Any, Any]]:
        """(key, value) from the current position (or the first record if
        the cursor was never positioned) to the end; closes the cursor.
        Leaving the loop early gives the connection up rather than closing
        the cursor on the server: an abandoned generator is closed by the
        garbage collector, where no request may be sent."""
        try:
            if self._conn is not None or self.jump():
                item = self.get(step=True)
                while item is not None:
                    yield item
                    item = self.get(step=True)
        except GeneratorExit:
            self._abandon()
            raise
        except BaseException:
            self.close()
            raise
        self.close()

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _abandon(self) -> None:
        # For finalizers: never send cur_delete nor hand the connection back
        # (under cyclic garbage collection its socket may already be
        # closed).  Closing the connection ends the server-side cursor too.
        conn = self._conn
        if conn is not None:
            self._conn = None
            if self._epoch == fork_epoch():
                self._client._pool.abandon(conn)

    def __del__(self) -> None:
        try:
            self._abandon()
        except Exception:  # pragma: no cover - never raise from a finalizer
            pass
