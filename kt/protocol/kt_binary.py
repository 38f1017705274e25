"""Kyoto Tycoon's binary protocol, both directions.

Who calls it: the KyotoTycoon client encodes requests and parses replies
(``encode_*`` / ``*ReplyParser``); the built-in server parses requests
(``RequestParser``) and encodes replies (``encode_*_reply``).

The protocol shares the HTTP port: a request whose first byte lies in
0xB0-0xBF is binary.  Integers are big-endian.  Commands:

* set_bulk 0xB8, remove_bulk 0xB9, get_bulk 0xBA: records carry their own
  database index (u16); set_bulk records carry an expiration time (i64).
* play_script 0xB4: a procedure name and key/value pairs, answered by pairs.
* replication 0xB1: asks for the update log from a time stamp; the server
  answers 0xB1 and then streams ``0xB1 ts size log`` messages, or
  ``0xB0 ts`` when it has caught up (the client answers the single byte 0xB1).
* Any failure is answered by the single byte 0xBF and nothing else; the
  server then closes the connection.

Flags: 0x01 asks for no reply (set_bulk, remove_bulk, play_script).

Expiration times: a positive ``xt`` is a number of seconds from now, a
negative one is minus an absolute UNIX time; anything at or above
``XT_MAX`` means "never".  get_bulk replies carry the absolute time, or
``XT_MAX`` for records that never expire.

Records of bulk messages are handed over as parallel lists (``BulkRecords``)
so that a client can build its result with a single ``zip``.

The clients' bulk requests come from the ``*_payload`` functions: a request
of more than PIECE_RECORDS records is a ``Pieces`` (kt.protocol.buffer),
sent while it is encoded, which ktserver stores record by record as they
arrive.
"""

from __future__ import annotations

import struct
from typing import (Any, Collection, Dict, Final, Iterable, List, Mapping, NoReturn, Optional, Sequence,
                    Tuple, cast, final)

from kt.errors import ProtocolError, ServerError
from kt.protocol.buffer import PIECE_RECORDS, FieldsRecord, Payload, Pieces, ReceiveBuffer
from kt.protocol.convert import Found, Text, bytes_in_place, common_length, to_bytes, value_bytes

MAGIC_NOP: Final = 0xB0
MAGIC_REPLICATION: Final = 0xB1
MAGIC_PLAY_SCRIPT: Final = 0xB4
MAGIC_SET_BULK: Final = 0xB8
MAGIC_REMOVE_BULK: Final = 0xB9
MAGIC_GET_BULK: Final = 0xBA
MAGIC_ERROR: Final = 0xBF

#: Flag of set_bulk / remove_bulk / play_script: the server sends nothing back.
FLAG_NO_REPLY: Final = 0x01
#: Flag of replication: send only the logs of the given server id.
FLAG_WHITE_SID: Final = 0x01

#: Expiration times at or above this value mean "never expires" (KT stores
#: expiration times in 40 bits).
XT_MAX: Final = (1 << 40) - 1
#: What the client sends for "no expiration" (the C++ client sends INT64_MAX).
XT_NONE: Final = (1 << 63) - 1
#: The largest key or value ktserver accepts (it refuses larger ones).
DATA_MAX: Final = 1 << 28

_U8: Final = struct.Struct(">B")
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_HEAD: Final = struct.Struct(">BII")  # magic, flags, rnum
_HEAD_SCRIPT: Final = struct.Struct(">BIII")  # magic, flags, nsiz, rnum
_HEAD_REPL: Final = struct.Struct(">BIQH")  # magic, flags, ts, sid
_COUNT: Final = struct.Struct(">BI")  # magic, count
_REC_KEY: Final = struct.Struct(">HI")  # dbidx, ksiz
_REC_FULL: Final = struct.Struct(">HIIq")  # dbidx, ksiz, vsiz, xt
_REC_PAIR: Final = struct.Struct(">II")  # ksiz, vsiz
_REPL_LOG: Final = struct.Struct(">BQI")  # magic, ts, size
_ONE_FULL: Final = struct.Struct(">BIIHIIq")  # head + one full record header
_ONE_KEY: Final = struct.Struct(">BIIHI")  # head + one key record header
_REPL_NOP: Final = struct.Struct(">BQ")  # magic, ts

_ERROR_REPLY: Final = b"\xbf"

def _probe() -> None:
    """Exists only so that its type tells whether this module is compiled."""


#: True when mypyc compiled this module: then fixed-width integers are read
#: by indexing bytes (native and about 2.5x faster than struct there);
#: pure Python keeps struct, which is faster for the interpreter.
_NATIVE: Final = type(_probe).__name__ != "function"

#: Pre-packed big-endian u32 lengths below 4096 and u16 database indexes
#: below 256: a list lookup instead of a struct call per record.
_LEN4: Final[List[bytes]] = [struct.pack(">I", i) for i in range(4096)]
_DB2: Final[List[bytes]] = [struct.pack(">H", i) for i in range(256)]
_XT_NONE8: Final = struct.pack(">q", (1 << 63) - 1)
_SET_ONE: Final = struct.pack(">BII", 0xB8, 0, 1)  # set_bulk, no flags, one record
_XT_MAX8: Final = struct.pack(">q", (1 << 40) - 1)


def _u16(data: bytes, p: int) -> int:
    return (data[p] << 8) | data[p + 1]


def _u32(data: bytes, p: int) -> int:
    return (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3]


def _i64(data: bytes, p: int) -> int:
    n = (_u32(data, p) << 32) | _u32(data, p + 4)
    if n >= 1 << 63:
        n -= 1 << 64
    return n


def _len4(n: int) -> bytes:
    return _LEN4[n] if n < 4096 else _U32.pack(n)


def _full_header(db: int, ksiz: int, vsiz: int, xt: int) -> bytes:
    if db < 256 and ksiz < 4096 and vsiz < 4096:
        if xt == XT_NONE:
            return _DB2[db] + _LEN4[ksiz] + _LEN4[vsiz] + _XT_NONE8
        if xt == XT_MAX:
            return _DB2[db] + _LEN4[ksiz] + _LEN4[vsiz] + _XT_MAX8
    return _REC_FULL.pack(db, ksiz, vsiz, xt)

_REPL_ACK: Final = b"\xb1"
#: The first 5 bytes of a get_bulk reply of n < 256 records.
_GET_BULK_COUNTS: Final[List[bytes]] = [_COUNT.pack(MAGIC_GET_BULK, i) for i in range(256)]

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1


@final
class BulkRecords(FieldsRecord):
    """Records of a bulk message as parallel lists.

    ``dbs[i]``, ``keys[i]``, ``values[i]`` and ``xts[i]`` describe record i.
    Messages without values (get_bulk / remove_bulk requests) leave
    ``values`` and ``xts`` empty.
    """

    dbs: List[int]
    keys: List[bytes]
    values: List[bytes]
    xts: List[int]

    def __init__(self) -> None:
        self.dbs = []
        self.keys = []
        self.values = []
        self.xts = []

    def __len__(self) -> int:
        return len(self.keys)

    def _fields(self) -> Tuple[object, ...]:
        return (self.dbs, self.keys, self.values, self.xts)

    def _field_names(self) -> Tuple[str, ...]:
        return ("dbs", "keys", "values", "xts")


@final
class BinaryRequest(FieldsRecord):
    """A binary request as the server sees it.

    ``magic`` tells the command.  ``records`` holds the records of set_bulk,
    get_bulk and remove_bulk; ``pairs`` the input of play_script (``name``
    is the procedure); ``ts`` and ``sid`` belong to replication.
    """

    magic: int
    flags: int
    records: BulkRecords
    name: bytes
    pairs: List[Tuple[bytes, bytes]]
    ts: int
    sid: int

    def __init__(self, magic: int, flags: int) -> None:
        self.magic = magic
        self.flags = flags
        self.records = BulkRecords()
        self.name = b""
        self.pairs = []
        self.ts = 0
        self.sid = 0

    @property
    def no_reply(self) -> bool:
        return bool(self.flags & FLAG_NO_REPLY) and self.magic != MAGIC_GET_BULK

    def _fields(self) -> Tuple[object, ...]:
        return (
            self.magic, self.flags, self.records, self.name, self.pairs, self.ts, self.sid
        )

    def __repr__(self) -> str:
        return "BinaryRequest(magic=0x%02x, flags=%d, records=%r, name=%r, pairs=%r, ts=%d, sid=%d)" % (
            self.magic,
            self.flags,
            self.records,
            self.name,
            self.pairs,
            self.ts,
            self.sid,
        )


# ---------------------------------------------------------------------------
# Argument checks (run before anything is encoded)


def _check_key(key: object, what: str) -> bytes:
    if not isinstance(key, bytes):
        raise TypeError("%s must be bytes, not %s" % (what, type(key).__name__))
    if len(key) > DATA_MAX:
        raise ValueError(
            "%s of %d bytes exceeds Kyoto Tycoon's limit of %d bytes"
            % (what, len(key), DATA_MAX)
        )
    return key


def _check_db(db: int) -> int:
    if not isinstance(db, int) or isinstance(db, bool):
        raise TypeError("db must be an int, not %s" % type(db).__name__)
    if db < 0 or db > 0xFFFF:
        raise ValueError("db must be a database index from 0 to 65535, not %d" % db)
    return db


def _check_xt(xt: int) -> int:
    if not isinstance(xt, int) or isinstance(xt, bool):
        raise TypeError("expiration time must be an int, not %s" % type(xt).__name__)
    if xt < _INT64_MIN or xt > _INT64_MAX:
        raise ValueError("expiration time %d does not fit in 64 bits" % xt)
    return xt


def _check_u32(n: int, what: str) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError("%s must be an int, not %s" % (what, type(n).__name__))
    if n < 0 or n > 0xFFFFFFFF:
        raise ValueError("%s must fit in 32 unsigned bits, not %d" % (what, n))
    return n


def _check_count(n: int) -> None:
    if n > 0xFFFFFFFF:
        raise ValueError("too many records for one request: %d" % n)


# ---------------------------------------------------------------------------
# Client side: requests


def encode_set_bulk(
    pairs: Sequence[Tuple[bytes, bytes]],
    db: int = 0,
    xt: int = XT_NONE,
    flags: int = 0,
) -> bytes:
    """set_bulk of ``pairs`` into one database with one expiration time."""
    items: List[Tuple[bytes, bytes]] = pairs if isinstance(pairs, list) else list(pairs)
    return _encode_set_bulk(items, len(items), False, False, db, xt, flags)


def encode_set_bulk_items(
    items: Collection[Tuple[object, object]],
    text_values: bool,
    db: int = 0,
    xt: int = XT_NONE,
    flags: int = 0,
) -> bytes:
    """``encode_set_bulk`` of a mapping's items as a client holds them,
    converted while they are encoded (kt.protocol.convert's rules): str
    keys travel as UTF-8, and so do str values with ``text_values``; any
    other value that is not bytes raises TypeError."""
    return _encode_set_bulk(items, len(items), True, text_values, db, xt, flags)


def _encode_set_bulk(items: Iterable[Tuple[object, object]], count: int, convert: bool,
                     text_values: bool, db: int, xt: int, flags: int) -> bytes:
    _check_db(db)
    _check_xt(xt)
    _check_u32(flags, "flags")
    _check_count(count)
    parts: List[bytes] = [_HEAD.pack(MAGIC_SET_BULK, flags, count)]
    small = db < 256 and (xt == XT_NONE or xt == XT_MAX)
    tail = _DB2[db] if small else b""
    xt8 = (_XT_NONE8 if xt == XT_NONE else _XT_MAX8) if small else b""
    # Records often share their key and value lengths (fixed-width keys,
    # fixed-size values): the previous record's header is then reused.
    last_k = -1
    last_v = -1
    header = b""
    key: bytes
    value: bytes
    for item_key, item_value in items:
        if isinstance(item_key, bytes):
            key = item_key
        else:
            key = to_bytes(item_key, "key") if convert else _check_key(item_key, "key")
        if isinstance(item_value, bytes):
            value = item_value
        else:
            value = value_bytes(item_value, text_values) if convert \
                else _check_key(item_value, "value")
        ksiz = len(key)
        vsiz = len(value)
        if ksiz == last_k and vsiz == last_v:
            parts.append(header)
        elif small and ksiz < 4096 and vsiz < 4096:
            header = tail + _LEN4[ksiz] + _LEN4[vsiz] + xt8
            last_k = ksiz
            last_v = vsiz
            parts.append(header)
        else:
            if ksiz > DATA_MAX or vsiz > DATA_MAX:
                _check_key(key, "key")
                _check_key(value, "value")
            header = _REC_FULL.pack(db, ksiz, vsiz, xt)
            last_k = ksiz
            last_v = vsiz
            parts.append(header)
        parts.append(key)
        parts.append(value)
    return b"".join(parts)


@final
class _RecordPieces(Pieces):
    """set_bulk records ``[db][ksiz][vsiz][xt][key][value]``, all in one
    database with one expiration time."""

    db: int
    xt: int

    def __init__(self, head: bytes, keys: List[bytes], values: List[bytes], piece: int,
                 db: int, xt: int) -> None:
        super().__init__(head, keys, values, piece)
        self.db = db
        self.xt = xt

    def _encode(self, parts: List[bytes], start: int, end: int) -> None:
        keys = self.keys
        values = self.values
        last_k = -1
        last_v = -1
        header = b""
        for i in range(start, end):
            key = keys[i]
            value = values[i]
            if len(key) != last_k or len(value) != last_v:
                last_k = len(key)
                last_v = len(value)
                header = _full_header(self.db, last_k, last_v, self.xt)
            parts.append(header)
            parts.append(key)
            parts.append(value)


@final
class _KeyPieces(Pieces):
    """get_bulk / remove_bulk keys ``[db][ksiz][key]``, all in one database."""

    db_field: bytes

    def __init__(self, head: bytes, keys: List[bytes], piece: int, db: int) -> None:
        super().__init__(head, keys, [], piece)
        self.db_field = _DB2[db] if db < 256 else _U16.pack(db)

    def _encode(self, parts: List[bytes], start: int, end: int) -> None:
        keys = self.keys
        last = -1
        header = b""
        for i in range(start, end):
            key = keys[i]
            if len(key) != last:
                last = len(key)
                header = self.db_field + _len4(last)
            parts.append(header)
            parts.append(key)


def set_bulk_payload(
    records: Mapping[Any, Any],
    text_values: bool,
    db: int = 0,
    xt: int = XT_NONE,
    flags: int = 0,
    piece: int = PIECE_RECORDS,
) -> Payload:
    """``encode_set_bulk_items`` of a mapping's records; more than ``piece``
    records come as Pieces (kt.protocol.buffer), every record checked and
    converted first."""
    if len(records) <= piece:
        return encode_set_bulk_items(records.items(), text_values, db, xt, flags)
    _check_db(db)
    _check_xt(xt)
    _check_u32(flags, "flags")
    _check_count(len(records))
    keys = bytes_in_place(list(records), True, "key", DATA_MAX, _check_key)
    values = bytes_in_place(list(records.values()), text_values, "value", DATA_MAX, _check_key)
    return _RecordPieces(_HEAD.pack(MAGIC_SET_BULK, flags, len(keys)), keys, values, piece, db, xt)


def _keys_payload(magic: int, keys: Iterable[object], db: int, flags: int, piece: int) -> Payload:
    items: List[object] = list(keys)
    if len(items) <= piece:
        return _encode_keys(magic, items, db, flags, True)
    _check_db(db)
    _check_u32(flags, "flags")
    _check_count(len(items))
    checked = bytes_in_place(items, True, "key", DATA_MAX, _check_key)
    return _KeyPieces(_HEAD.pack(magic, flags, len(checked)), checked, piece, db)


def get_bulk_payload(keys: Iterable[object], db: int = 0, piece: int = PIECE_RECORDS) -> Payload:
    """``encode_get_bulk_keys``; more than ``piece`` keys come as Pieces."""
    return _keys_payload(MAGIC_GET_BULK, keys, db, 0, piece)


def remove_bulk_payload(keys: Iterable[object], db: int = 0, flags: int = 0,
                        piece: int = PIECE_RECORDS) -> Payload:
    """``encode_remove_bulk_keys``; more than ``piece`` keys come as Pieces."""
    return _keys_payload(MAGIC_REMOVE_BULK, keys, db, flags, piece)


def encode_set(key: bytes, value: bytes, db: int = 0, xt: int = XT_NONE, flags: int = 0) -> bytes:
    """set_bulk of a single record (the same bytes as ``encode_set_bulk``)."""
    if not isinstance(key, bytes) or not isinstance(value, bytes) or len(key) > DATA_MAX \
            or len(value) > DATA_MAX:
        _check_key(key, "key")
        _check_key(value, "value")
    if xt == XT_NONE and flags == 0 and 0 <= db < 256 and type(db) is int \
            and type(flags) is int:  # the commonest set: its fields are at hand
        return b"".join((_SET_ONE, _DB2[db], _len4(len(key)), _len4(len(value)), _XT_NONE8,
                         key, value))
    if type(db) is not int or type(xt) is not int or type(flags) is not int \
            or db < 0 or db > 0xFFFF or xt < _INT64_MIN or xt > _INT64_MAX \
            or flags < 0 or flags > 0xFFFFFFFF:
        _check_db(db)
        _check_xt(xt)
        _check_u32(flags, "flags")
    return _ONE_FULL.pack(MAGIC_SET_BULK, flags, 1, db, len(key), len(value), xt) + key + value


def encode_get(key: bytes, db: int = 0) -> bytes:
    """get_bulk of a single key."""
    if not isinstance(key, bytes) or len(key) > DATA_MAX:
        _check_key(key, "key")
    if type(db) is not int or db < 0 or db > 0xFFFF:
        _check_db(db)
    return _ONE_KEY.pack(MAGIC_GET_BULK, 0, 1, db, len(key)) + key


def encode_remove(key: bytes, db: int = 0, flags: int = 0) -> bytes:
    """remove_bulk of a single key."""
    if not isinstance(key, bytes) or len(key) > DATA_MAX:
        _check_key(key, "key")
    if type(db) is not int or type(flags) is not int or db < 0 or db > 0xFFFF \
            or flags < 0 or flags > 0xFFFFFFFF:
        _check_db(db)
        _check_u32(flags, "flags")
    return _ONE_KEY.pack(MAGIC_REMOVE_BULK, flags, 1, db, len(key)) + key


def encode_set_bulk_records(records: BulkRecords, flags: int = 0) -> bytes:
    """set_bulk where every record names its own database and expiration."""
    _check_u32(flags, "flags")
    n = len(records.keys)
    if len(records.values) != n or len(records.dbs) != n or len(records.xts) != n:
        raise ValueError("records: dbs, keys, values and xts differ in length")
    _check_count(n)
    parts: List[bytes] = [_HEAD.pack(MAGIC_SET_BULK, flags, n)]
    for i in range(n):
        key = _check_key(records.keys[i], "key")
        value = _check_key(records.values[i], "value")
        parts.append(
            _REC_FULL.pack(
                _check_db(records.dbs[i]), len(key), len(value), _check_xt(records.xts[i])
            )
        )
        parts.append(key)
        parts.append(value)
    return b"".join(parts)


def _encode_keys(magic: int, keys: Iterable[object], db: int, flags: int, convert: bool) -> bytes:
    """``[db][ksiz][key]`` per key; with ``convert`` keys that are not bytes
    go through kt.protocol.convert's ``to_bytes``, else they are refused."""
    _check_db(db)
    _check_u32(flags, "flags")
    items: List[object] = keys if isinstance(keys, list) else list(keys)
    _check_count(len(items))
    head = _HEAD.pack(magic, flags, len(items))
    dbb = _DB2[db] if db < 256 else _U16.pack(db)
    width = common_length(items)
    if 0 <= width <= DATA_MAX:  # one header for all: it separates the keys
        header = dbb + _len4(width)
        return b"".join((head, header, header.join(cast(List[bytes], items))))
    parts: List[bytes] = [head]
    last = -1
    header = b""
    key: bytes
    for item in items:
        if isinstance(item, bytes):
            key = item
        else:
            key = to_bytes(item, "key") if convert else _check_key(item, "key")
        ksiz = len(key)
        if ksiz != last:  # keys often share a length: reuse the header
            if ksiz > DATA_MAX:
                _check_key(key, "key")
            header = dbb + _len4(ksiz)
            last = ksiz
        parts.append(header)
        parts.append(key)
    return b"".join(parts)


def _encode_key_records(magic: int, dbs: Sequence[int], keys: Sequence[bytes], flags: int) -> bytes:
    _check_u32(flags, "flags")
    if len(dbs) != len(keys):
        raise ValueError("records: dbs and keys differ in length")
    _check_count(len(keys))
    parts: List[bytes] = [_HEAD.pack(magic, flags, len(keys))]
    for i in range(len(keys)):
        key = _check_key(keys[i], "key")
        parts.append(_REC_KEY.pack(_check_db(dbs[i]), len(key)))
        parts.append(key)
    return b"".join(parts)


def encode_get_bulk(keys: Sequence[bytes], db: int = 0) -> bytes:
    """get_bulk of ``keys`` from one database."""
    return _encode_keys(MAGIC_GET_BULK, keys, db, 0, False)


def encode_get_bulk_keys(keys: Iterable[object], db: int = 0) -> bytes:
    """``encode_get_bulk`` of keys as a client holds them: str keys travel
    as UTF-8 (kt.protocol.convert's ``to_bytes``, converted while encoded)."""
    return _encode_keys(MAGIC_GET_BULK, keys, db, 0, True)


def encode_get_bulk_records(dbs: Sequence[int], keys: Sequence[bytes]) -> bytes:
    """get_bulk where every key names its own database."""
    return _encode_key_records(MAGIC_GET_BULK, dbs, keys, 0)


def encode_remove_bulk(keys: Sequence[bytes], db: int = 0, flags: int = 0) -> bytes:
    """remove_bulk of ``keys`` from one database."""
    return _encode_keys(MAGIC_REMOVE_BULK, keys, db, flags, False)


def encode_remove_bulk_keys(keys: Iterable[object], db: int = 0, flags: int = 0) -> bytes:
    """``encode_remove_bulk`` of keys as a client holds them (see
    ``encode_get_bulk_keys``)."""
    return _encode_keys(MAGIC_REMOVE_BULK, keys, db, flags, True)


def encode_remove_bulk_records(
    dbs: Sequence[int], keys: Sequence[bytes], flags: int = 0
) -> bytes:
    """remove_bulk where every key names its own database."""
    return _encode_key_records(MAGIC_REMOVE_BULK, dbs, keys, flags)


def _append_pairs(parts: List[bytes], pairs: Sequence[Tuple[bytes, bytes]]) -> None:
    """Append ``[ksiz u32][vsiz u32][key][value]`` per pair (checked)."""
    for key, value in pairs:
        _check_key(key, "key")
        _check_key(value, "value")
        parts.append(_REC_PAIR.pack(len(key), len(value)))
        parts.append(key)
        parts.append(value)


def encode_play_script(
    name: bytes, pairs: Sequence[Tuple[bytes, bytes]], flags: int = 0
) -> bytes:
    """play_script: call procedure ``name`` with the input ``pairs``."""
    _check_key(name, "procedure name")
    _check_u32(flags, "flags")
    _check_count(len(pairs))
    parts: List[bytes] = [_HEAD_SCRIPT.pack(MAGIC_PLAY_SCRIPT, flags, len(name), len(pairs)), name]
    _append_pairs(parts, pairs)
    return b"".join(parts)


def encode_replication(ts: int, sid: int, flags: int = 0) -> bytes:
    """replication: stream the update log from time stamp ``ts`` on."""
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise TypeError("ts must be an int, not %s" % type(ts).__name__)
    if ts < 0 or ts > 0xFFFFFFFFFFFFFFFF:
        raise ValueError("ts must fit in 64 unsigned bits, not %d" % ts)
    if not isinstance(sid, int) or isinstance(sid, bool):
        raise TypeError("sid must be an int, not %s" % type(sid).__name__)
    if sid < 0 or sid > 0xFFFF:
        raise ValueError("sid must be from 0 to 65535, not %d" % sid)
    _check_u32(flags, "flags")
    return _HEAD_REPL.pack(MAGIC_REPLICATION, flags, ts, sid)


def encode_replication_ack() -> bytes:
    """The byte a replication client sends after each 0xB0 message."""
    return _REPL_ACK


# ---------------------------------------------------------------------------
# Client side: replies


def _server_error(command: str) -> ServerError:
    return ServerError("Kyoto Tycoon reported an error for binary %s" % command)


def _check_magic(buf_first: int, expected: int, command: str) -> NoReturn:
    if buf_first == MAGIC_ERROR:
        raise _server_error(command)
    raise ProtocolError(
        "unexpected reply to binary %s: first byte 0x%02x, expected 0x%02x or 0xbf"
        % (command, buf_first, expected)
    )


def _parse_count(buf: ReceiveBuffer, magic: int, command: str) -> Optional[int]:
    if not buf.ensure(1):
        return None
    first = buf.data[buf.pos]
    if first != magic:
        if first == MAGIC_ERROR:
            buf.pos += 1
        _check_magic(first, magic, command)
    if not buf.ensure(5):
        return None
    p = buf.pos + 1
    n: int = _u32(buf.data, p) if _NATIVE else _U32.unpack_from(buf.data, p)[0]
    buf.pos = p + 4
    return n


def parse_set_bulk_reply(buf: ReceiveBuffer) -> Optional[int]:
    """Number of records stored, None while incomplete; ServerError on 0xBF."""
    return _parse_count(buf, MAGIC_SET_BULK, "set_bulk")


def parse_remove_bulk_reply(buf: ReceiveBuffer) -> Optional[int]:
    """Number of records removed, None while incomplete; ServerError on 0xBF."""
    return _parse_count(buf, MAGIC_REMOVE_BULK, "remove_bulk")


def _read_records(buf: ReceiveBuffer, records: Optional[BulkRecords], found: Optional[Found],
                  remaining: int, what: str, values: Optional[List[bytes]] = None) -> int:
    """Consume complete records ``[db u16][ksiz u32][vsiz u32][xt i64][key][value]``
    from ``buf``, at most ``remaining`` of them, into ``records``, else
    ``found`` (keys and values), else ``values`` (values only); returns
    how many are still to come (get_bulk replies, set_bulk requests)."""
    rec = _REC_FULL
    db = 0
    xt = 0
    while remaining > 0:
        if not buf.ensure(18):
            break
        ksiz: int
        vsiz: int
        data = buf.data
        p = buf.pos
        if _NATIVE:
            ksiz = (data[p + 2] << 24) | (data[p + 3] << 16) | (data[p + 4] << 8) | data[p + 5]
            vsiz = (data[p + 6] << 24) | (data[p + 7] << 16) | (data[p + 8] << 8) | data[p + 9]
            if records is not None:
                db = _u16(data, p)
                xt = _i64(data, p + 10)
        else:
            db, ksiz, vsiz, xt = rec.unpack_from(data, p)
        if ksiz > DATA_MAX or vsiz > DATA_MAX:
            raise ProtocolError("%s: record of %d+%d bytes is too large" % (what, ksiz, vsiz))
        if not buf.ensure(18 + ksiz + vsiz):
            break
        data = buf.data
        start = buf.pos + 18
        mid = start + ksiz
        end = mid + vsiz
        if records is not None:
            records.dbs.append(db)
            records.keys.append(data[start:mid])
            records.values.append(data[mid:end])
            records.xts.append(xt)
        elif found is not None:
            found.add(data[start:mid], data[mid:end])
        elif values is not None:
            values.append(data[mid:end])
        buf.pos = end
        remaining -= 1
    return remaining


class _GetBulkParser:
    """The record count of a get_bulk reply, then its records, consumed as
    soon as each is complete (linear time whatever the pieces the reply
    arrives in).  One parser per reply."""

    _remaining: int

    def __init__(self) -> None:
        self._remaining = -1

    def _read(self, buf: ReceiveBuffer, records: Optional[BulkRecords],
              found: Optional[Found], values: Optional[List[bytes]] = None) -> bool:
        """True once the whole reply has been read."""
        if self._remaining < 0:
            n = _parse_count(buf, MAGIC_GET_BULK, "get_bulk")
            if n is None:
                return False
            self._remaining = n
        self._remaining = _read_records(buf, records, found, self._remaining,
                                        "get_bulk reply", values)
        return self._remaining == 0


@final
class GetBulkReplyParser(_GetBulkParser):
    """Parses a get_bulk reply into ``BulkRecords``."""

    _result: BulkRecords

    def __init__(self) -> None:
        super().__init__()
        self._result = BulkRecords()

    def parse(self, buf: ReceiveBuffer) -> Optional[BulkRecords]:
        if self._read(buf, self._result, None):
            return self._result
        return None


@final
class GetValueParser(_GetBulkParser):
    """Parses the get_bulk reply to a request of one key into the list of
    the values it holds: ``[value]``, or ``[]`` when the key was not found
    (no BulkRecords to build for the commonest request)."""

    _values: List[bytes]

    def __init__(self) -> None:
        super().__init__()
        self._values = []

    def parse(self, buf: ReceiveBuffer) -> Optional[List[bytes]]:
        if self._read(buf, None, None, self._values):
            return self._values
        return None


@final
class GetBulkDictParser(_GetBulkParser):
    """Parses a get_bulk reply straight into {key: value}, keys as text
    with ``text_keys`` and values with ``text_values`` (kt.protocol.convert's
    ``text``), without the records' databases and expiration times: what
    the clients' get_bulk returns, without building BulkRecords first.  A
    key found twice keeps its last value."""

    _found: Found

    def __init__(self, text_keys: bool, text_values: bool) -> None:
        super().__init__()
        self._found = Found(text_keys, text_values)

    def parse(self, buf: ReceiveBuffer) -> Optional[Dict[Text, Text]]:
        if self._read(buf, None, self._found):
            return self._found.items
        return None


@final
class PlayScriptReplyParser:
    """Parses a play_script reply into a list of (key, value) pairs."""

    _remaining: int
    _result: List[Tuple[bytes, bytes]]

    def __init__(self) -> None:
        self._remaining = -1
        self._result = []

    def parse(self, buf: ReceiveBuffer) -> Optional[List[Tuple[bytes, bytes]]]:
        if self._remaining < 0:
            n = _parse_count(buf, MAGIC_PLAY_SCRIPT, "play_script")
            if n is None:
                return None
            self._remaining = n
        result = self._result
        while self._remaining > 0:
            p = _parse_pair(buf)
            if p is None:
                return None
            result.append(p)
            self._remaining -= 1
        return result


def _parse_pair(buf: ReceiveBuffer) -> Optional[Tuple[bytes, bytes]]:
    if not buf.ensure(8):
        return None
    ksiz: int
    vsiz: int
    ksiz, vsiz = _REC_PAIR.unpack_from(buf.data, buf.pos)
    if not buf.ensure(8 + ksiz + vsiz):
        return None
    data = buf.data
    start = buf.pos + 8
    mid = start + ksiz
    end = mid + vsiz
    buf.pos = end
    return (data[start:mid], data[mid:end])


def parse_replication_start(buf: ReceiveBuffer) -> Optional[bool]:
    """True once the server accepted a replication request (byte 0xB1);
    ServerError when it refused (0xBF, e.g. no update log)."""
    if not buf.ensure(1):
        return None
    first = buf.data[buf.pos]
    buf.pos += 1
    if first == MAGIC_REPLICATION:
        return True
    if first == MAGIC_ERROR:
        raise ServerError(
            "Kyoto Tycoon refused replication (is the update log enabled?)"
        )
    raise ProtocolError("unexpected reply to binary replication: first byte 0x%02x" % first)


@final
class ReplicationMessage(FieldsRecord):
    """One message of the replication stream.

    ``log`` is None for the 0xB0 "caught up" message (the client must
    answer ``encode_replication_ack()``); otherwise it is the log entry as
    the server stores it: server id u16, database index u16, then the
    database's own update record.  ``sid``, ``dbidx`` and ``body`` split
    it when it is long enough.
    """

    ts: int
    log: Optional[bytes]

    def __init__(self, ts: int, log: Optional[bytes]) -> None:
        self.ts = ts
        self.log = log

    def _u16_field(self, at: int) -> int:
        log = self.log
        if log is None or len(log) < 4:
            return -1
        return (log[at] << 8) | log[at + 1]

    @property
    def sid(self) -> int:
        return self._u16_field(0)

    @property
    def dbidx(self) -> int:
        return self._u16_field(2)

    @property
    def body(self) -> bytes:
        log = self.log
        if log is None or len(log) < 4:
            return b""
        return log[4:]

    def _fields(self) -> Tuple[object, ...]:
        return (self.ts, self.log)

    def __repr__(self) -> str:
        return "ReplicationMessage(ts=%d, log=%r)" % (self.ts, self.log)


def parse_replication_message(buf: ReceiveBuffer) -> Optional[ReplicationMessage]:
    """One message of the replication stream, None while incomplete."""
    if not buf.ensure(1):
        return None
    first = buf.data[buf.pos]
    if first == MAGIC_NOP:
        if not buf.ensure(9):
            return None
        ts: int = _U64.unpack_from(buf.data, buf.pos + 1)[0]
        buf.pos += 9
        return ReplicationMessage(ts, None)
    if first != MAGIC_REPLICATION:
        if first == MAGIC_ERROR:
            buf.pos += 1
            raise ServerError("Kyoto Tycoon ended replication with an error")
        raise ProtocolError("unexpected byte 0x%02x in the replication stream" % first)
    if not buf.ensure(13):
        return None
    size: int
    _, ts, size = _REPL_LOG.unpack_from(buf.data, buf.pos)
    if not buf.ensure(13 + size):
        return None
    start = buf.pos + 13
    log = buf.data[start:start + size]
    buf.pos = start + size
    return ReplicationMessage(ts, log)


# ---------------------------------------------------------------------------
# Server side: requests


@final
class RequestParser:
    """Parses binary requests one after the other: ``parse`` returns each
    once it is complete, and the parser is then ready for the next.

    Raises ProtocolError for a first byte that is not a known command and
    for keys or values larger than ktserver accepts.
    """

    _req: Optional[BinaryRequest]
    _remaining: int

    def __init__(self) -> None:
        self._req = None
        self._remaining = 0

    @property
    def started(self) -> Optional[BinaryRequest]:
        """The request whose header was read (its records may still be
        arriving), or None before that."""
        return self._req

    def parse(self, buf: ReceiveBuffer) -> Optional[BinaryRequest]:
        req = self._req
        if req is None:
            req = self._parse_head(buf)
            if req is None:
                return None
            self._req = req
        magic = req.magic
        if magic == MAGIC_SET_BULK:
            ok = self._parse_full(buf, req.records)
        elif magic == MAGIC_GET_BULK or magic == MAGIC_REMOVE_BULK:
            ok = self._parse_keys(buf, req.records)
        elif magic == MAGIC_PLAY_SCRIPT:
            ok = self._parse_pairs(buf, req)
        else:
            ok = True
        if not ok:
            return None
        self._req = None  # ready for the next request
        return req

    def _parse_head(self, buf: ReceiveBuffer) -> Optional[BinaryRequest]:
        if not buf.ensure(1):
            return None
        magic = buf.data[buf.pos]
        if magic == MAGIC_SET_BULK or magic == MAGIC_GET_BULK or magic == MAGIC_REMOVE_BULK:
            if not buf.ensure(9):
                return None
            flags: int
            rnum: int
            if _NATIVE:
                flags = _u32(buf.data, buf.pos + 1)
                rnum = _u32(buf.data, buf.pos + 5)
            else:
                _, flags, rnum = _HEAD.unpack_from(buf.data, buf.pos)
            buf.pos += 9
            self._remaining = rnum
            return BinaryRequest(magic, flags)
        if magic == MAGIC_PLAY_SCRIPT:
            if not buf.ensure(13):
                return None
            nsiz: int
            _, flags, nsiz, rnum = _HEAD_SCRIPT.unpack_from(buf.data, buf.pos)
            if nsiz > DATA_MAX:
                raise ProtocolError("play_script: procedure name of %d bytes is too long" % nsiz)
            if not buf.ensure(13 + nsiz):
                return None
            start = buf.pos + 13
            req = BinaryRequest(magic, flags)
            req.name = buf.data[start:start + nsiz]
            buf.pos = start + nsiz
            self._remaining = rnum
            return req
        if magic == MAGIC_REPLICATION:
            if not buf.ensure(15):
                return None
            ts: int
            sid: int
            _, flags, ts, sid = _HEAD_REPL.unpack_from(buf.data, buf.pos)
            buf.pos += 15
            req = BinaryRequest(magic, flags)
            req.ts = ts
            req.sid = sid
            return req
        raise ProtocolError("unknown binary command 0x%02x" % magic)

    def _parse_full(self, buf: ReceiveBuffer, records: BulkRecords) -> bool:
        self._remaining = _read_records(buf, records, None, self._remaining, "set_bulk")
        return self._remaining == 0

    def _parse_keys(self, buf: ReceiveBuffer, records: BulkRecords) -> bool:
        rec = _REC_KEY
        while self._remaining > 0:
            if not buf.ensure(6):
                return False
            db: int
            ksiz: int
            if _NATIVE:
                db = _u16(buf.data, buf.pos)
                ksiz = _u32(buf.data, buf.pos + 2)
            else:
                db, ksiz = rec.unpack_from(buf.data, buf.pos)
            if ksiz > DATA_MAX:
                raise ProtocolError("key of %d bytes is too large" % ksiz)
            if not buf.ensure(6 + ksiz):
                return False
            start = buf.pos + 6
            end = start + ksiz
            records.dbs.append(db)
            records.keys.append(buf.data[start:end])
            buf.pos = end
            self._remaining -= 1
        return True

    def _parse_pairs(self, buf: ReceiveBuffer, req: BinaryRequest) -> bool:
        while self._remaining > 0:
            if buf.ensure(8):
                ksiz: int
                vsiz: int
                ksiz, vsiz = _REC_PAIR.unpack_from(buf.data, buf.pos)
                if ksiz > DATA_MAX or vsiz > DATA_MAX:
                    raise ProtocolError(
                        "play_script: record of %d+%d bytes is too large" % (ksiz, vsiz)
                    )
            p = _parse_pair(buf)
            if p is None:
                return False
            req.pairs.append(p)
            self._remaining -= 1
        return True


# ---------------------------------------------------------------------------
# Server side: replies


def encode_error_reply() -> bytes:
    """The 0xBF reply: the request failed."""
    return _ERROR_REPLY


def encode_set_bulk_reply(hits: int) -> bytes:
    return _COUNT.pack(MAGIC_SET_BULK, _check_u32(hits, "hits"))


def encode_remove_bulk_reply(hits: int) -> bytes:
    return _COUNT.pack(MAGIC_REMOVE_BULK, _check_u32(hits, "hits"))


def encode_get_bulk_reply(records: BulkRecords) -> bytes:
    """get_bulk reply listing the records found (dbs, keys, values, xts)."""
    n = len(records.keys)
    if len(records.values) != n or len(records.dbs) != n or len(records.xts) != n:
        raise ValueError("records: dbs, keys, values and xts differ in length")
    _check_count(n)
    # Six pieces a record, in a list made at its full length (filled by
    # index: no appends, no growth): the header's fields pre-packed (one
    # join at the end instead of a bytes object per header), key, value.
    parts: List[bytes] = [b""] * (1 + 6 * n)
    parts[0] = _GET_BULK_COUNTS[n] if n < 256 else _COUNT.pack(MAGIC_GET_BULK, n)
    keys = records.keys
    values = records.values
    dbs = records.dbs
    xts = records.xts
    j = 1
    for i in range(n):
        key = keys[i]
        value = values[i]
        db = dbs[i]
        ksiz = len(key)
        vsiz = len(value)
        xt = xts[i]
        if db < 256 and ksiz < 4096 and vsiz < 4096 and (xt == XT_MAX or xt == XT_NONE):
            parts[j] = _DB2[db]
            parts[j + 1] = _LEN4[ksiz]
            parts[j + 2] = _LEN4[vsiz]
            parts[j + 3] = _XT_MAX8 if xt == XT_MAX else _XT_NONE8
        else:
            parts[j] = _REC_FULL.pack(db, ksiz, vsiz, xt)  # (three pieces stay empty)
        parts[j + 4] = key
        parts[j + 5] = value
        j += 6
    return b"".join(parts)


def encode_get_bulk_reply_one(db: int, key: bytes, value: bytes, xt: int) -> bytes:
    """The get_bulk reply of exactly one record: what encode_get_bulk_reply
    gives for it, without a BulkRecords (the server's single get)."""
    ksiz = len(key)
    vsiz = len(value)
    if db < 256 and ksiz < 4096 and vsiz < 4096 and (xt == XT_MAX or xt == XT_NONE):
        return b"".join([_GET_BULK_COUNTS[1], _DB2[db], _LEN4[ksiz], _LEN4[vsiz],
                         _XT_MAX8 if xt == XT_MAX else _XT_NONE8, key, value])
    return b"".join([_GET_BULK_COUNTS[1], _REC_FULL.pack(db, ksiz, vsiz, xt), key, value])


def encode_play_script_reply(pairs: Sequence[Tuple[bytes, bytes]]) -> bytes:
    """play_script reply: the procedure's output pairs."""
    _check_count(len(pairs))
    parts: List[bytes] = [_COUNT.pack(MAGIC_PLAY_SCRIPT, len(pairs))]
    _append_pairs(parts, pairs)
    return b"".join(parts)


def encode_replication_start() -> bytes:
    """The byte that accepts a replication request."""
    return _REPL_ACK


def encode_replication_log(ts: int, log: bytes) -> bytes:
    """One log message of the replication stream."""
    return _REPL_LOG.pack(MAGIC_REPLICATION, ts, len(log)) + log


def encode_replication_nop(ts: int) -> bytes:
    """The "caught up, waiting" message of the replication stream."""
    return _REPL_NOP.pack(MAGIC_NOP, ts)


def parse_replication_ack(buf: ReceiveBuffer) -> Optional[bool]:
    """Server side: the client's answer to a 0xB0 message."""
    if not buf.ensure(1):
        return None
    first = buf.data[buf.pos]
    buf.pos += 1
    if first != MAGIC_REPLICATION:
        raise ProtocolError("replication client answered 0x%02x instead of 0xb1" % first)
    return True

