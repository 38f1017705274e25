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

import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Final,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
    final,
)

from kt.client import (Finish, LuaHelper, Parse, Plan, PooledClient, Request, merge_items, mypyc_attr,
                       number_text)
from kt.connection import Connection, PoolSettings, fork_epoch
from kt.errors import KyotoTycoonError, ProtocolError, ServerConnectionError, ServerError
from kt.protocol import kt_binary as kb
from kt.protocol import kt_http as kh
from kt.protocol import kt_repl as kr
from kt.protocol.buffer import Payload, ReceiveBuffer
from kt.protocol.convert import texts, to_bytes
from kt.serializers import KT_BINARY, Serializer

__all__ = ["KyotoTycoon", "KyotoMethods", "Change", "Cursor", "CursorMethods", "LuaHelper"]

if TYPE_CHECKING:  # the Lua helper containers (kt.containers) import this module
    from kt import containers as _containers

Key = Union[str, bytes]

_XT_NONE: Final = kb.XT_NONE
_XT_MAX: Final = kb.XT_MAX
# the parse functions of the hottest replies, read from statics (no module attribute lookup)
_PARSE_SET: Final = kb.parse_set_bulk_reply
_PARSE_REMOVE: Final = kb.parse_remove_bulk_reply
_TRUE: Final = b"true"


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


def _first_raw(values: List[bytes], arg: Any) -> Optional[bytes]:
    return values[0] if values else None


class Change(NamedTuple):
    """One change read from a Kyoto Tycoon update log (``replicate``).

    ``op`` is "set", "remove", "clear" or "unknown" (a record this library
    cannot decode; its bytes are the ``value``).  ``key`` is None for
    clear, ``value`` None for remove and clear.  Keys and values are
    decoded as the client decodes them (``decode_keys``, the serializer)
    unless ``replicate(raw=True)`` asked for bytes.  ``expire_time`` is the
    absolute UNIX time a set record expires at, None for never.
    """

    ts: int
    sid: int
    db: int
    op: str
    key: Any
    value: Any
    expire_time: Optional[int]


_PAGE: Final = 1000
_KEYS: Final = 0
_VALUES: Final = 1
_ITEMS: Final = 2


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
        """The value stored at ``key``, deserialized.

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            db: database index (None: the client's ``default_db``).

        Returns:
            The value, or None when there is no such record (or it has expired).

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database does not exist on the server.
        """
        data = kb.encode_get(_key_bytes(key), self.default_db if db is None else self._check_db(db))
        return self._call(data, kb.GetValueParser().parse, True, None, self._value_of_first, None)

    def _first_value(self, values: List[bytes], arg: Any) -> Any:
        return self._decode(values[0]) if values else None

    def get_raw(self, key: Key, db: Optional[int] = None) -> Any:
        """The bytes stored at ``key``, without the serializer.

        Args:
            key: the key to look up.
            db: database index (None: the client's ``default_db``).

        Returns:
            The stored bytes, or None when there is no such record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: there is no database ``db`` on the server.
        """
        data = kb.encode_get(_key_bytes(key), self.default_db if db is None else self._check_db(db))
        return self._call(data, kb.GetValueParser().parse, True, None, _first_raw, None)

    def _write_reply(self, data: Payload, no_reply: bool, parse: Parse) -> Any:
        if no_reply:
            return self._send(data)
        return self._call(data, parse, True, None, None, None)

    def set(self, key: Key, value: Any, db: Optional[int] = None,
            expire_time: Optional[int] = None, no_reply: bool = False) -> Any:
        """Store ``value`` at ``key``, replacing any record there.

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            value: the value, encoded by the client's serializer.
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.
            no_reply: send without waiting for the server's answer.

        Returns:
            1 (the number of records stored), or None with ``no_reply=True``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``key`` is not str or bytes, or the serializer cannot encode ``value``.
            ServerError: the server refused the write (e.g. an unknown ``db``).
        """
        return self._set(_key_bytes(key), self._encode(value), db, expire_time, no_reply)

    def _set(self, key: bytes, value: bytes, db: Optional[int], expire_time: Optional[int],
             no_reply: bool) -> Any:
        data = kb.encode_set(
            key, value, self.default_db if db is None else self._check_db(db),
            _XT_NONE if expire_time is None else _xt_arg(expire_time),
            kb.FLAG_NO_REPLY if no_reply else 0)
        return self._write_reply(data, no_reply, _PARSE_SET)

    def get_bytes(self, key: Key, db: Optional[int] = None) -> Any:
        """The original library's name for :meth:`get_raw`.

        Args:
            key: the record's key, str or bytes.
            db: database index (None: the client's ``default_db``).

        Returns:
            The stored bytes (not deserialized), or None.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server has no such database.
        """
        return self.get_raw(key, db)

    def set_bytes(self, key: Key, value: Union[str, bytes], db: Optional[int] = None,
                  expire_time: Optional[int] = None, no_reply: bool = False) -> Any:
        """Store ``value`` as it is, bypassing the serializer (the original library's name).

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            value: bytes, or str (stored as UTF-8).
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.
            no_reply: send without waiting for the server's answer.

        Returns:
            1, or None with ``no_reply=True``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``key`` or ``value`` is neither str nor bytes.
            ServerError: the server refused the write.
        """
        return self._set(_key_bytes(key), to_bytes(value, "value"), db, expire_time, no_reply)

    def remove(self, key: Key, db: Optional[int] = None, no_reply: bool = False) -> Any:
        """Remove the record at ``key``.

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            db: database index (None: the client's ``default_db``).
            no_reply: send without waiting for the server's answer.

        Returns:
            The number of records removed (0 or 1), or None with ``no_reply=True``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: an unknown database index.
        """
        data = kb.encode_remove(_key_bytes(key), self.default_db if db is None else self._check_db(db),
                                kb.FLAG_NO_REPLY if no_reply else 0)
        return self._write_reply(data, no_reply, _PARSE_REMOVE)

    def _get_bulk(self, keys: Iterable[Key], db: Optional[int], finish: Finish, arg: Any) -> Any:
        data = kb.get_bulk_payload(keys, self._db(db))
        return self._call(data, kb.GetBulkReplyParser().parse, True, None, finish, arg)

    def get_bulk(self, keys: Iterable[Key], db: Optional[int] = None) -> Any:
        """Fetch many records in one request.

        Args:
            keys: the keys to look up (str or bytes each).
            db: database index (None: the client's ``default_db``).

        Returns:
            A dict of the keys found and their deserialized values; missing keys are left out.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: a key is neither str nor bytes.
            ServerError: ``db`` names no database of the server.
        """
        if self._text_values is not None:  # KT_BINARY, KT_NONE: the parser builds the dict
            return self._get_dict(keys, db, self._text_values)
        return self._get_bulk(keys, db, self._bulk_dict, None)

    def _bulk_dict(self, recs: kb.BulkRecords, arg: Any) -> Dict[Any, Any]:
        decode = self._decode
        found = texts(recs.keys) if self.decode_keys else recs.keys
        return {k: decode(v) for k, v in zip(found, recs.values)}

    def get_bulk_raw(self, keys: Iterable[Key], db: Optional[int] = None) -> Any:
        """Fetch many records in one request, values as stored.

        Args:
            keys: the keys to look up.
            db: database index (None: the client's ``default_db``).

        Returns:
            A dict of the keys found and their stored bytes.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: a key is neither str nor bytes.
            ServerError: the server failed the request (no such database, for instance).
        """
        return self._get_dict(keys, db, False)

    def _get_dict(self, keys: Iterable[Key], db: Optional[int], text_values: bool) -> Any:
        data = kb.get_bulk_payload(keys, self._db(db))
        return self._call(data, kb.GetBulkDictParser(self.decode_keys, text_values).parse, True,
                          None, None, None)

    def get_bulk_details(self, keys: Iterable[Key], db: Optional[int] = None,
                         decode_values: bool = True) -> Any:
        """Fetch many records with their database and expiration time.

        Args:
            keys: the keys to look up.
            db: database index (None: the client's ``default_db``).
            decode_values: deserialize the values (False: the stored bytes).

        Returns:
            A list of ``(db, key, value, expire_at)`` for every key found, where
            ``expire_at`` is the absolute UNIX time the record expires, or None.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: a key is neither str nor bytes.
        """
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
        """Store many records in one request.

        Args:
            data: a mapping of keys to values.
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the records expire (a negative number is minus an
                absolute UNIX time); None: never.
            no_reply: send without waiting for the server's answer.
            **kwargs: more records, as keyword arguments (key=value).

        Returns:
            The number of records stored, or None with ``no_reply=True``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: a key is neither str nor bytes, or a value cannot be encoded.
            ServerError: the server refused the write.
        """
        items = merge_items(__data, kwargs)
        flags = kb.FLAG_NO_REPLY if no_reply else 0
        if self._text_values is not None:  # KT_BINARY, KT_NONE: str as UTF-8
            data = kb.set_bulk_payload(items, True, self._db(db), _xt_arg(expire_time), flags)
        else:
            encode = self._encode
            encoded = {k: encode(v) for k, v in items.items()}
            data = kb.set_bulk_payload(encoded, False, self._db(db), _xt_arg(expire_time), flags)
        return self._write_reply(data, no_reply, _PARSE_SET)

    def remove_bulk(self, keys: Iterable[Key], db: Optional[int] = None,
                    no_reply: bool = False) -> Any:
        """Remove many records in one request.

        Args:
            keys: the keys to remove.
            db: database index (None: the client's ``default_db``).
            no_reply: send without waiting for the server's answer.

        Returns:
            The number of records removed, or None with ``no_reply=True``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: a key is neither str nor bytes.
        """
        data = kb.remove_bulk_payload(keys, self._db(db), kb.FLAG_NO_REPLY if no_reply else 0)
        return self._write_reply(data, no_reply, _PARSE_REMOVE)

    # -- scripts -------------------------------------------------------------

    def script(self, name: str, __data: Optional[Mapping[Any, Any]] = None,
               encode_values: bool = True, no_reply: bool = False,
               **kwargs: Any) -> Any:
        """Call the server-side procedure ``name`` (``ktserver -scr``, or a built-in server's script).

        Args:
            name: the procedure's name.
            data: its input, a mapping of keys to values.
            encode_values: serialize input values and deserialize output values with the
                client's serializer; False: values go as they are (str as UTF-8) and come
                back as bytes.  int and float inputs go as decimal text either way.
            no_reply: send without waiting for the result.
            **kwargs: more input, as keyword arguments.

        Returns:
            The procedure's output map (keys decoded as the client decodes keys), or None with ``no_reply=True``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: no such procedure, no script loaded, or the procedure failed
                (the message names the procedure).
        """
        items = merge_items(__data, kwargs)
        encode = self._encode if encode_values else _key_bytes
        pairs: List[Tuple[bytes, bytes]] = []
        for k, v in items.items():
            number = number_text(v)
            pairs.append((_key_bytes(k), encode(v) if number is None else number))
        request = kb.encode_play_script(_key_bytes(name), pairs,
                                     kb.FLAG_NO_REPLY if no_reply else 0)
        if no_reply:
            return self._send(request)
        parser = _ScriptReplyParser(name, self._pool.address)
        return self._call(request, parser.parse, False, None, self._script_out, encode_values)

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
        """Store ``value`` only if ``key`` has no record.

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            value: what to store; the client's serializer encodes it.
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.

        Returns:
            True if stored, False when the record already existed.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``key`` is not str or bytes, or ``value`` cannot be encoded.
            ServerError: the server failed (an unknown ``db``, for instance).
        """
        return self._write("add", key, value, db, expire_time)

    def replace(self, key: Key, value: Any, db: Optional[int] = None,
                expire_time: Optional[int] = None) -> Any:
        """Store ``value`` only if ``key`` already has a record.

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            db: database index (None: the client's ``default_db``).
            value: the new value (the serializer encodes it first).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.

        Returns:
            True if stored, False when there was no record to replace.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database index is beyond the server's databases.
            TypeError: a bad ``key``, or a ``value`` the serializer refuses.
        """
        return self._write("replace", key, value, db, expire_time)

    def append(self, key: Key, value: Any, db: Optional[int] = None,
               expire_time: Optional[int] = None) -> Any:
        """Append to the stored value; store ``value`` when the key has no record.

        Args:
            key: the record to extend.
            value: what to append: the serializer's encoding of it is
                appended to the stored bytes.
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.

        Returns:
            True.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``key`` has the wrong type or ``value`` cannot be encoded.
        """
        return self._write("append", key, value, db, expire_time)

    def _check(self, key: Key, db: Optional[int], finish: Finish) -> Any:
        return self._rpc("check", [(b"key", _key_bytes(key))], db, True, finish)

    def exists(self, key: Key, db: Optional[int] = None) -> Any:
        """Whether ``key`` has a record (RPC ``check``).

        Args:
            key: the key to check for.
            db: database index (None: the client's ``default_db``).

        Returns:
            True or False.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database does not exist on the server.
        """
        return self._check(key, db, self._ok)

    def length(self, key: Key, db: Optional[int] = None) -> Any:
        """The size in bytes of the value stored at ``key``.

        Args:
            key: whose value to measure.
            db: database index (None: the client's ``default_db``).

        Returns:
            The size, or None when there is no such record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: there is no database ``db`` on the server.
        """
        return self._check(key, db, self._length_of)

    def _length_of(self, resp: kh.HttpResponse, procedure: str) -> Optional[int]:
        status, out = self._rpc_result(resp, procedure)
        return self._int(out, b"vsiz", procedure) if status == 200 else None

    def expire_time(self, key: Key, db: Optional[int] = None) -> Any:
        """When the record at ``key`` expires.

        Args:
            key: the record to ask about (a str is sent as UTF-8).
            db: database index (None: the client's ``default_db``).

        Returns:
            The absolute UNIX time, or None when it never expires or does not exist.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server has no such database.
        """
        return self._check(key, db, self._expire_time_of)

    def _expire_time_of(self, resp: kh.HttpResponse, procedure: str) -> Optional[int]:
        status, out = self._rpc_result(resp, procedure)
        if status != 200 or b"xt" not in out:
            return None
        return _xt_out(self._int(out, b"xt", procedure))

    def seize(self, key: Key, db: Optional[int] = None) -> Any:
        """Get the value at ``key`` and remove the record, atomically.

        Args:
            key: the record to take.
            db: database index (None: the client's ``default_db``).

        Returns:
            The deserialized value, or None when there was no record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: an unknown database index.
        """
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
        """Compare and swap: store ``new_val`` if the current value equals ``old_val``.

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            old_val: the expected value; None means "only if there is no record".
            new_val: the value to store; None removes the record.
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.

        Returns:
            True on success, False when the current value is not ``old_val``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``key`` is not str or bytes, or a value cannot be encoded.
        """
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
        """Add ``n`` to the integer record at ``key`` (RPC ``increment``).

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            n: the amount to add (may be negative).
            orig: the starting value of a missing record (None: 0).
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.

        Returns:
            The new value (int).

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``n`` or ``orig`` is not an int.
            ServerError: code 450 when the stored value is not an integer record
                (Kyoto Tycoon keeps counters as 8-byte big-endian numbers).
        """
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
        """Add ``n`` to the decimal record at ``key`` (RPC ``increment_double``).

        Args:
            key: the record's key (str, sent as UTF-8, or bytes).
            n: the amount to add (int or float).
            orig: what a missing record starts from, before ``n`` is added (None: 0.0).
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.

        Returns:
            The new value, a float.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``n`` or ``orig`` is neither an int nor a float.
            ServerError: code 450 when the stored value is not a decimal record.
        """
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
        """The status of a database.

        Args:
            db: database index (None: the client's ``default_db``).

        Returns:
            A dict of str: ``count``, ``size``, ``path``, ``type`` and the other fields the server reports.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: ``db`` names no database of the server.
        """
        return self._rpc("status", [], db, True, self._text_map)

    def report(self) -> Any:
        """The server's report: every database, connection and command counters.

        Returns:
            A dict of str to str, as the server sends it.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
        """
        return self._rpc("report", [], None, True, self._text_map)

    def clear(self, db: Optional[int] = None) -> Any:
        """Remove every record of a database.

        Args:
            db: database index (None: the client's ``default_db``).

        Returns:
            True.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server failed the request (no such database, for instance).
        """
        return self._rpc("clear", [], db, True, self._ok)

    def synchronize(self, hard: bool = False, command: Optional[str] = None,
                    db: Optional[int] = None) -> Any:
        """Write a database to its file, then optionally run a command on the server.

        Args:
            hard: write through to the device (fsync), not just to the file.
            command: a command file in the server's ``-cmd`` directory to run afterwards.
            db: database index (None: the client's ``default_db``).

        Returns:
            True on success, False when the command failed.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database does not exist, or no ``-cmd`` directory is set.
        """
        pairs: List[Tuple[bytes, bytes]] = []
        if hard:
            pairs.append((b"hard", _TRUE))
        if command is not None:
            pairs.append((b"command", _key_bytes(command)))
        return self._rpc("synchronize", pairs, db, True, self._ok)

    def vacuum(self, step: int = 0, db: Optional[int] = None) -> Any:
        """Remove expired records now rather than as they are met.

        Args:
            step: how many records to examine (0: the whole database).
            db: database index (None: the client's ``default_db``).

        Returns:
            True once the records are examined.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server has no database ``db``.
        """
        pairs: List[Tuple[bytes, bytes]] = []
        if step:
            pairs.append((b"step", b"%d" % step))
        return self._rpc("vacuum", pairs, db, True, self._ok)

    def count(self, db: Optional[int] = None) -> Any:
        """The number of records in a database.

        Args:
            db: database index (None: the client's ``default_db``).

        Returns:
            The count (int).

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database index is beyond the server's databases.
        """
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
        """Make ``db`` the default database of this client.

        Args:
            db: the database index.

        Returns:
            The client itself (for chaining).

        Raises:
            TypeError: ``db`` is not an int.
            ValueError: ``db`` is outside 0 to 65535.
        """
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
        """The keys that start with ``prefix``, in the database's order.

        Args:
            prefix: the prefix (str or bytes).
            max_keys: at most this many keys (None: all).
            db: database index (None: the client's ``default_db``).

        Returns:
            A list of keys.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database does not exist on the server.
        """
        pairs = self._match_pairs([(b"prefix", _key_bytes(prefix))], max_keys)
        return self._rpc("match_prefix", pairs, db, True, self._matched)

    def match_regex(self, regex: Key, max_keys: Optional[int] = None,
                    db: Optional[int] = None) -> Any:
        """The keys that match a regular expression (ktserver's POSIX extended syntax).

        Args:
            regex: the expression.
            max_keys: stop after this many matches; None for no limit.
            db: database index (None: the client's ``default_db``).

        Returns:
            A list of the matching keys, in the database's order.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the expression is invalid or the database does not exist.
        """
        pairs = self._match_pairs([(b"regex", _key_bytes(regex))], max_keys)
        return self._rpc("match_regex", pairs, db, True, self._matched)

    def match_similar(self, origin: Key, distance: Optional[int] = None,
                      max_keys: Optional[int] = None, db: Optional[int] = None,
                      utf: bool = False) -> Any:
        """The keys within a Levenshtein distance of ``origin``.

        Args:
            origin: the key to compare with.
            distance: the largest distance (None: 1).
            max_keys: at most this many keys (None: all).
            db: database index (None: the client's ``default_db``).
            utf: count the distance in characters instead of bytes.

        Returns:
            A list of keys, nearest first.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: there is no database ``db`` on the server.
        """
        pairs = [(b"origin", _key_bytes(origin))]
        if distance is not None:
            pairs.append((b"range", b"%d" % distance))
        if utf:
            pairs.append((b"utf", _TRUE))
        return self._rpc("match_similar", self._match_pairs(pairs, max_keys), db, True,
                         self._matched)

    def ulog_list(self) -> Any:
        """The server's update log files.

        Returns:
            A list of ``(path, size, timestamp)``, oldest first.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server keeps no update log (started without ``-ulog``).
        """
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
        """Remove update log files.

        Args:
            max_ts: remove the files whose records are all older than this time stamp
                (None: every file but the current one).

        Returns:
            True.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server keeps no update log.
        """
        pairs: List[Tuple[bytes, bytes]] = []
        if max_ts is not None:
            pairs.append((b"ts", b"%d" % max_ts))
        return self._rpc("ulog_remove", pairs, None, True, self._ok)

    def tune_replication(self, host: Optional[str] = None, port: Optional[int] = None,
                         timestamp: Optional[Union[int, str]] = None,
                         interval: Optional[float] = None) -> Any:
        """Point a replication slave at another master (the server needs
        ``-rts``).

        Args:
            host: the new master's host; None or "" stops replicating.
            port: the new master's port (None: 1978).
            timestamp: where to resume, a time stamp or "now" (None: where
                the slave is).
            interval: ktserver's ``-riv``, milliseconds of pause per
                message (None: unchanged).

        Returns:
            True.

        Raises:
            ServerError: the server has no RTS file (status 501).
        """
        pairs: List[Tuple[bytes, bytes]] = [(b"host", (host or "").encode("utf-8"))]
        if port is not None:
            pairs.append((b"port", b"%d" % port))
        if timestamp is not None:
            pairs.append((b"ts", b"now" if timestamp == "now" else b"%d" % int(timestamp)))
        if interval is not None:
            pairs.append((b"iv", repr(float(interval)).encode("ascii")))
        return self._rpc("tune_replication", pairs, None, False, self._ok)

    # -- the change stream ------------------------------------------------------

    def replicate(self, since: int = 0, sid: int = 65535, only_sid: bool = False,
                  stop_when_caught_up: bool = False, raw: bool = False,
                  persistent: bool = False, max_retries: Optional[int] = None,
                  retry_delay: float = 0.1, retry_max: float = 5.0,
                  timeout: Optional[float] = 30.0) -> Any:
        """Read the server's update log as a stream of changes.

        The server must keep an update log (``ktserver -ulog DIR -sid N``,
        the built-in server alike).  The stream uses a connection of its
        own, answers the server's heartbeats, and after a lost connection
        reconnects and resumes after the last time stamp seen, so no change
        is yielded twice or skipped.  Iterate it (``async for`` on the
        asyncio client); it ends only with ``stop_when_caught_up``.

        Args:
            since: yield the changes with a time stamp above this one (0:
                from the oldest the server still has).  A ``Change.ts``
                resumes right after that change.
            sid: the server id this reader stands for: changes made first
                by that server are left out (the master's own id would
                leave out everything written to it).
            only_sid: yield only the changes made first by server ``sid``.
            stop_when_caught_up: end the iteration once the server says it
                has nothing more, instead of waiting for new changes.
            raw: keys and values as bytes, not decoded.
            persistent: the server's databases store no expiration times
                (ktserver's ``#ktopts=p``).
            max_retries: reconnections in a row before giving up (None:
                forever; 0: never reconnect).
            retry_delay: seconds before the first reconnection, doubled
                for each failed one up to ``retry_max``.
            retry_max: the longest wait between reconnections.
            timeout: seconds of silence after which the connection counts
                as lost (the server sends a heartbeat ten times a second).

        Returns:
            An iterator of ``Change`` (time stamp, server id, database
            index, operation, key, value, expiration time).

        Raises:
            ServerError: the server refused (it keeps no update log).
            ServerConnectionError: the connection was lost and the retries
                are used up.
            ProtocolError: the server sent bytes that are not a stream.
            TypeError, ValueError: bad arguments (before connecting).
        """
        for name, value in (("since", since), ("sid", sid)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
        if not 0 <= since < (1 << 64):
            raise ValueError("since must be a time stamp from 0 to 2**64-1, not %d" % since)
        if not 0 <= sid <= 0xFFFF:
            raise ValueError("sid must be a server id from 0 to 65535, not %d" % sid)
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must be None or at least 0")
        if retry_delay < 0 or retry_max < 0:
            raise ValueError("retry_delay and retry_max must not be negative")
        stream = kr.ReplicationStream(since, sid, kb.FLAG_WHITE_SID if only_sid else 0,
                                      persistent, -1 if max_retries is None else max_retries,
                                      float(retry_delay), float(retry_max))
        return self._replicate(stream, raw, stop_when_caught_up, timeout)

    def _changes(self, stream: kr.ReplicationStream, raw: bool) -> List[Change]:
        """The entries the stream parsed, as the caller sees them."""
        out: List[Change] = []
        for entry in stream.take():
            op = entry.op
            xt = None if entry.xt >= _XT_MAX else entry.xt
            key: Any = entry.key
            value: Any = entry.value
            if op == "clear":
                key = None
            elif not raw:
                key = self._key_out(key)
                if op == "set" and value is not None:
                    value = self._decode(value)
            out.append(Change(entry.ts, entry.sid, entry.db, op, key, value, xt))
        return out

    def _replicate(self, stream: kr.ReplicationStream, raw: bool, stop: bool,
                   timeout: Optional[float]) -> Iterator[Change]:
        """The synchronous transport of ``replicate`` (kt.aio has its own):
        one connection of its own, a new one after ``stream.lost``'s
        delay, until ``stop`` and caught up."""
        pool = self._pool
        settings = PoolSettings(self.host, self.port, timeout=timeout,
                                connect_timeout=pool.connect_timeout,
                                socket_module=pool.socket_module)
        delay = 0.0
        while True:
            time.sleep(delay)
            conn = Connection(settings, 0)
            send = stream.start()
            try:
                while not (stop and stream.caught_up):
                    if send:
                        conn.send(send)
                    send = conn.read(stream.parse)
                    yield from self._changes(stream, raw)
                return
            except ServerConnectionError as exc:
                delay = stream.lost(exc)
            finally:
                conn.close()

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
        """Same as :meth:`set_bulk` (the dict method's name).

        Args:
            data: a mapping of keys to values.
            db: database index (None: the client's ``default_db``).
            expire_time: seconds until the records expire (a negative number is minus an
                absolute UNIX time); None: never.
            **kwargs: more records, as keyword arguments.

        Returns:
            The number of records stored.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: a key or value cannot be encoded.
        """
        return self.set_bulk(__data, db, expire_time, **kwargs)

    def pop(self, key: Key, db: Optional[int] = None) -> Any:
        """Same as :meth:`seize` (the dict method's name).

        Args:
            key: what to remove.
            db: database index (None: the client's ``default_db``).

        Returns:
            The value, or None when there was no record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database does not exist.
        """
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
        """Every key of a database as a list, in one request (the original library's name).

        Args:
            db: database index (None: the client's ``default_db``).

        Returns:
            A list of keys.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server has no such database.
        """
        return self.match_prefix(b"", None, db)

    def keys(self, db: Optional[int] = None) -> Any:
        """Every key of a database, lazily.

        The key list comes in one request; walk a huge database record by record
        with a :meth:`cursor` instead.

        Args:
            db: database index (None: the client's ``default_db``).

        Returns:
            An iterator of keys (an async iterator in the asyncio client).

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: an unknown database index.
        """
        return self._stream(self._pages(self._db(db), _KEYS))

    def values(self, db: Optional[int] = None) -> Any:
        """Every value of a database, lazily.

        Records removed while iterating are skipped.

        Args:
            db: database index (None: the client's ``default_db``).

        Returns:
            An iterator of deserialized values, fetched in pages of 1,000.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: ``db`` names no database of the server.
        """
        return self._stream(self._pages(self._db(db), _VALUES))

    def items(self, db: Optional[int] = None) -> Any:
        """Every record of a database, lazily.

        Records removed while iterating are skipped.

        Args:
            db: the database to read (None: ``default_db``).

        Returns:
            An iterator of ``(key, value)``.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server failed the request (no such database, for instance).
        """
        return self._stream(self._pages(self._db(db), _ITEMS))

    def __iter__(self) -> Any:
        return self.keys()

    def __repr__(self) -> str:
        return "<%s %s db=%d>" % (type(self).__name__, self._pool.address, self.default_db)


class KyotoTycoon(KyotoMethods):
    """Client for a Kyoto Tycoon server (ktserver, or kt's built-in one).

    Hot operations (get, set, remove, their bulk forms, scripts) use the binary
    protocol; everything else uses HTTP TSV-RPC, over one pool of connections.
    Thread-safe: threads share the pool; a cursor keeps one connection to itself.

    Errors, whatever the method: ``TypeError``/``ValueError`` for a bad argument
    (before anything is sent); :class:`~kt.ServerError` when the server answers
    that the request failed (``code`` is the HTTP status for RPC calls, None for
    the binary protocol's error reply); :class:`~kt.ServerConnectionError` when
    the server cannot be reached, the connection breaks or a request times out
    (a request that is safe to repeat is retried once on a fresh connection);
    :class:`~kt.ProtocolError` when the reply is not valid Kyoto Tycoon (the
    connection is discarded).  All derive from :class:`~kt.KyotoTycoonError`.

    Args:
        host: server host name or address.
        port: server port.
        serializer: how values are stored: ``KT_BINARY`` (default), ``KT_JSON``,
            ``KT_MSGPACK``, ``KT_PICKLE``, ``KT_NONE``, or any object with
            ``encode``/``decode`` methods.
        decode_keys: give keys back as ``str`` (UTF-8; bytes when not valid UTF-8)
            rather than bytes.
        timeout: socket timeout in seconds for each request (None: wait forever).
        default_db: database index used when a method gets ``db=None``.
        max_connections: bound on the connections open at once (None: no bound).
        pool_timeout: how long a request waits for a free connection when
            ``max_connections`` are busy (None: forever).
        connect_timeout: timeout for establishing a connection (None: ``timeout``).
        max_idle_time: connections unused for longer are reopened (ktserver closes
            idle connections after its ``-tout``, 30 s by default).
        socket_module: module providing ``create_connection`` (for tests, or gevent
            without monkey-patching).
        connection_pool: accepted for code written for the original library;
            connections are always pooled.

    Raises:
        TypeError: ``host``, ``port``, ``serializer`` or ``default_db`` has the wrong type.
        ValueError: ``default_db`` is outside 0 to 65535.
        ImproperlyConfigured: ``KT_MSGPACK`` without the msgpack package.
    """

    def cursor(self, db: Optional[int] = None, cursor_id: Optional[int] = None) -> "Cursor":
        """A server-side cursor over a database (no request is sent yet).

        Args:
            db: database index (None: the client's ``default_db``).
            cursor_id: the cursor's number on the connection (None: a fresh one).

        Returns:
            A :class:`Cursor`.

        Raises:
            TypeError: ``db`` is not an int.
            ValueError: ``db`` is out of range.
        """
        return Cursor(self, self._db(db), cursor_id)

    # -- containers of the Lua helper library (kt.containers) ------------------

    def Hash(self, key: Key, db: Optional[int] = None) -> "_containers.Hash":
        """A hash (field to value) kept in the record at ``key``.

        Args:
            key: the record holding the hash.
            db: database index (None: the client's ``default_db``).

        Returns:
            A :class:`kt.containers.Hash`.  Its methods call procedures of kt's
            ``kyoto.lua`` (see :func:`kt.lua_script_path`), which the server must load.

        Raises:
            TypeError: ``key`` is neither str nor bytes, or ``db`` is not an int.
        """
        from kt.containers import Hash
        return Hash(self, key, db)

    def Set(self, key: Key, db: Optional[int] = None) -> "_containers.Set":
        """A set of members kept in one record.

        Args:
            key: its record.
            db: the database (None: the default one).

        Returns:
            A :class:`kt.containers.Set` over ``kyoto.lua``'s set procedures.

        Raises:
            TypeError: a key that is not str or bytes.
        """
        from kt.containers import Set
        return Set(self, key, db)

    def List(self, key: Key, db: Optional[int] = None) -> "_containers.List":
        """A list of values kept in the record at ``key`` (``kyoto.lua`` on the server).

        Args:
            key: the record.
            db: which database holds it; None for ``default_db``.

        Returns:
            A :class:`kt.containers.List`.

        Raises:
            TypeError: if ``key`` is not a str or bytes or ``db`` not an int.
        """
        from kt.containers import List
        return List(self, key, db)

    def Queue(self, key: Key, db: Optional[int] = None) -> "_containers.Queue":
        """A queue named ``key``, one record per item (``kyoto.lua`` on the server).

        Args:
            key: the queue's name, the prefix of its records.
            db: database index (None: the client's ``default_db``).

        Returns:
            A :class:`kt.containers.Queue`.

        Raises:
            TypeError: a name or a database index of the wrong type.
        """
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
        """Whether the cursor's last call found a record (no request is sent).

        Returns:
            False before the first positioning call and after :meth:`close`.
        """
        return self._valid

    def jump(self, key: Optional[Key] = None) -> Any:
        """Position the cursor at ``key``, or at the first record after it.

        Args:
            key: where to go (None: the first record).

        Returns:
            True when the cursor points at a record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``key`` is neither str nor bytes.
        """
        pairs = [] if key is None else [(b"key", _key_bytes(key))]
        return self._cur("cur_jump", pairs, self._ok)

    def jump_back(self, key: Optional[Key] = None) -> Any:
        """Position the cursor at ``key``, or the last record before it, for a backward scan.

        Args:
            key: the key to go to; None goes to the last record.

        Returns:
            True when the cursor points at a record; :meth:`step_back` then walks backwards.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database cannot scan backwards (hash databases: code 501).
        """
        pairs = [] if key is None else [(b"key", _key_bytes(key))]
        return self._cur("cur_jump_back", pairs, self._ok)

    def step(self) -> Any:
        """Move the cursor to the next record.

        Returns:
            True when it points at a record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the cursor's database is unknown to the server.
        """
        return self._cur("cur_step", [], self._ok)

    def step_back(self) -> Any:
        """Move the cursor to the previous record.

        Returns:
            True when it points at a record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the database cannot scan backwards (code 501).
        """
        return self._cur("cur_step_back", [], self._ok)

    def _step_pairs(self, step: bool) -> List[Tuple[bytes, bytes]]:
        return [(b"step", _TRUE)] if step else []

    def _record(self, resp: kh.HttpResponse, procedure: str) -> Optional[Dict[bytes, bytes]]:
        status, out = self._client._rpc_result(resp, procedure)
        self._valid = status == 200
        return out if status == 200 else None

    def key(self, step: bool = False) -> Any:
        """The current record's key.

        Args:
            step: advance the cursor after reading.

        Returns:
            The key (str or bytes, as the client decodes keys), or None past the last record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the cursor's database does not exist.
        """
        return self._cur("cur_get_key", self._step_pairs(step), self._field_of)

    def _field_of(self, resp: kh.HttpResponse, procedure: str) -> Any:
        """The key (cur_get_key) or the value (cur_get_value) of a reply."""
        out = self._record(resp, procedure)
        if out is None:
            return None
        if procedure == "cur_get_key":
            return self._client._key_out(out.get(b"key", b""))
        return self._client._decode(out.get(b"value", b""))

    def value(self, step: bool = False) -> Any:
        """The current record's value, deserialized.

        Args:
            step: then step forward (saves a request when scanning).

        Returns:
            The value, or None when the cursor points at no record.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server has no database of that index.
        """
        return self._cur("cur_get_value", self._step_pairs(step), self._field_of)

    def get(self, step: bool = False) -> Any:
        """The current record.

        Args:
            step: move on to the next record once it is read.

        Returns:
            ``(key, value)``, or None when there is none.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: no such database.
        """
        return self._cur("cur_get", self._step_pairs(step), self._item_of)

    def _item_of(self, resp: kh.HttpResponse, procedure: str) -> Optional[Tuple[Any, Any]]:
        out = self._record(resp, procedure)
        if out is None:
            return None
        return (self._client._key_out(out.get(b"key", b"")),
                self._client._decode(out.get(b"value", b"")))

    def get_details(self, step: bool = False) -> Any:
        """The current record with its expiration time.

        Args:
            step: move to the next record afterwards.

        Returns:
            ``(key, value, expire_at)`` (``expire_at`` an absolute UNIX time or None), or None.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the server failed the request (an unknown database, for one).
        """
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
        """Replace the current record's value.

        Args:
            value: the new value, encoded by the client's serializer.
            step: move to the next record afterwards.
            expire_time: seconds until the record expires (a negative number is minus an
                absolute UNIX time); None: never.

        Returns:
            True when a record was updated.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            TypeError: ``value`` cannot be encoded.
            ServerError: the database is unknown.
        """
        pairs = [(b"value", self._client._encode(value))] + self._step_pairs(step)
        if expire_time is not None:
            pairs.append((b"xt", b"%d" % _xt_arg(expire_time)))
        return self._cur("cur_set_value", pairs, self._ok)

    def remove(self) -> Any:
        """Remove the current record; the cursor moves to the next one.

        Returns:
            True when a record was removed.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: the request failed on the server (e.g. no such database).
        """
        return self._cur("cur_remove", [], self._ok)

    def seize(self) -> Any:
        """The current record, removed as it is read; the cursor moves to the next one.

        Returns:
            ``(key, value)``, or None when there is none.

        Raises:
            ServerConnectionError, ProtocolError: see :class:`KyotoTycoon`.
            ServerError: a database the server does not have.
        """
        return self._cur("cur_seize", [], self._item_of)

    def __repr__(self) -> str:
        return "<%s %d db=%d>" % (type(self).__name__, self.cursor_id, self.db)


class Cursor(CursorMethods):
    """A cursor of the server, bound to one database (from :meth:`KyotoTycoon.cursor`).

    ktserver keeps cursors per connection, so a Cursor holds one connection of
    the pool until :meth:`close` (also called by ``with`` and at the end of
    iteration).  Positioning methods return True when the cursor points at a
    record; reading methods return None when it does not.  Errors are those of
    :class:`KyotoTycoon`.

    Args:
        client: the client whose pool the cursor draws its connection from.
        db: the database index.
        cursor_id: the cursor's number on the connection (None: a fresh one).
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
        """Delete the server-side cursor and give the connection back to the pool (never raises)."""
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
