"""Tokyo Tyrant 1.1.41 binary protocol: the commands, both directions.

Who calls it:

* the Tokyo Tyrant client encodes requests with the ``encode_<command>``
  functions and parses the replies with the ``parse_*_reply`` functions and
  the incremental ``MgetReplyParser``, ``FwmkeysReplyParser`` and
  ``MiscReplyParser``;
* the built-in Tokyo Tyrant server parses requests with ``RequestParser``
  (one :class:`TTRequest` per call) and answers with the reply encoders
  (``encode_status``, ``encode_value_reply``, ``encode_mget_reply``...);
* the table-database layer (column codec, search model, the COND_* /
  ORDER_* / INDEX_* constants) lives in kt.protocol.tt_table and travels
  as misc arguments; this module re-exports all of it, so
  ``tt_binary.TTSearch`` and the like keep working for existing callers.

Sans-I/O: bytes in, values out.  Everything here was checked against the
1.1.41 sources (``ttserver.c``, ``tcrdb.c``, ``ttutil.c``, ``doc/spex.html``)
and, for the table database, Tokyo Cabinet's ``tctdb.h`` / ``tcadb.c``.

Wire format (all integers big-endian).  A request is the magic byte 0xC8,
a command byte and a command-specific body; a reply starts with a status
byte.  What follows the status byte depends on the command *and* on the
status, exactly as ttserver writes it:

* put, putkeep, putcat, putshl, out, iterinit, sync, optimize, vanish,
  copy, restore, setmst: ``[status]`` only;
* putnr: no reply at all;
* get, iternext, ext: success ``[0][size u32][bytes]``, failure ``[1]``
  alone;
* vsiz: success ``[0][vsiz u32]``, failure ``[1]`` alone;
* addint: success ``[0][sum i32]``, failure ``[1]`` alone;
* adddouble: success ``[0][integral i64][fraction i64]``, failure ``[1]``
  alone;
* mget: always ``[0][rnum u32]{[ksiz u32][vsiz u32][key][value]}``
  (missing keys are simply left out);
* fwmkeys: always ``[0][knum u32]{[ksiz u32][key]}``;
* rnum, size: always ``[0][number u64]``;
* stat: always ``[0][ssiz u32][text]``, text ``name\\tvalue\\n``...;
* misc: ``[status][rnum u32]{[esiz u32][element]}``; on failure ttserver
  sends status 1 *and* a count of 0.

ttserver only ever sends the status bytes 0 and 1.  The numeric error codes
that tcrdb (and tcrmgr) report are derived on the client side from the
command (see :func:`error_code`): a failed putkeep is "existing record" (6),
a failed get is "no record found" (7), a failed ext is "miscellaneous
error" (9999), and so on.

A request that ttserver considers invalid (a negative or oversized length,
an ext/misc name of 1024 bytes or more, too many keys) makes it close the
connection without answering (an oversized mget key or misc argument
even gets an answer built from the items read so far, after which ttserver
misreads the rest of the stream).  :class:`RequestParser` raises
ProtocolError in all these cases, and the request encoders refuse such
arguments with ValueError.
"""

from __future__ import annotations

import math
import struct
from typing import (Any, Collection, Dict, Final, Iterable, List, Mapping, Optional, Tuple, Union,
                    cast, final)

from kt.errors import ProtocolError
from kt.protocol.buffer import PIECE_RECORDS, FieldsRecord, Payload, Pieces, ReceiveBuffer
from kt.protocol.convert import Found, Text, bytes_in_place, common_length, to_bytes, value_bytes
from kt.protocol.tt_table import (  # re-exported: the table layer's names stay reachable here
    COND_FTS_AND as COND_FTS_AND,
    COND_FTS_EX as COND_FTS_EX,
    COND_FTS_OR as COND_FTS_OR,
    COND_FTS_PH as COND_FTS_PH,
    COND_NEGATE as COND_NEGATE,
    COND_NO_INDEX as COND_NO_INDEX,
    COND_NUM_BT as COND_NUM_BT,
    COND_NUM_EQ as COND_NUM_EQ,
    COND_NUM_GE as COND_NUM_GE,
    COND_NUM_GT as COND_NUM_GT,
    COND_NUM_LE as COND_NUM_LE,
    COND_NUM_LT as COND_NUM_LT,
    COND_NUM_OREQ as COND_NUM_OREQ,
    COND_STR_AND as COND_STR_AND,
    COND_STR_BW as COND_STR_BW,
    COND_STR_EQ as COND_STR_EQ,
    COND_STR_EW as COND_STR_EW,
    COND_STR_INC as COND_STR_INC,
    COND_STR_OR as COND_STR_OR,
    COND_STR_OREQ as COND_STR_OREQ,
    COND_STR_RX as COND_STR_RX,
    HINT_PREFIX as HINT_PREFIX,
    INDEX_DECIMAL as INDEX_DECIMAL,
    INDEX_KEEP as INDEX_KEEP,
    INDEX_LEXICAL as INDEX_LEXICAL,
    INDEX_OPTIMIZE as INDEX_OPTIMIZE,
    INDEX_QGRAM as INDEX_QGRAM,
    INDEX_TOKEN as INDEX_TOKEN,
    INDEX_VOID as INDEX_VOID,
    MAX_ARG_NUM as MAX_ARG_NUM,
    MAX_ARG_SIZE as MAX_ARG_SIZE,
    MS_DIFF as MS_DIFF,
    MS_ISECT as MS_ISECT,
    MS_UNION as MS_UNION,
    ORDER_NUM_ASC as ORDER_NUM_ASC,
    ORDER_NUM_DESC as ORDER_NUM_DESC,
    ORDER_STR_ASC as ORDER_STR_ASC,
    ORDER_STR_DESC as ORDER_STR_DESC,
    TTCondition as TTCondition,
    TTOrder as TTOrder,
    TTQuery as TTQuery,
    TTSearch as TTSearch,
    args_to_columns as args_to_columns,
    columns_to_args as columns_to_args,
    decode_columns as decode_columns,
    decode_search_args as decode_search_args,
    encode_columns as encode_columns,
    encode_search_args as encode_search_args,
    hint_element as hint_element,
    join_tokens as join_tokens,
    split_hint as split_hint,
    _I32_MAX as _I32_MAX,
    _U32_MAX as _U32_MAX,
    _U64_MAX as _U64_MAX,
    _c_atoi as _c_atoi,
    _c_isnum as _c_isnum,
    _check_bytes as _check_bytes,
    _check_int as _check_int,
    _check_list as _check_list,
)

# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

#: First byte of every binary request.
MAGIC: Final = 0xC8

CMD_PUT: Final = 0x10
CMD_PUTKEEP: Final = 0x11
CMD_PUTCAT: Final = 0x12
CMD_PUTSHL: Final = 0x13
CMD_PUTNR: Final = 0x18
CMD_OUT: Final = 0x20
CMD_GET: Final = 0x30
CMD_MGET: Final = 0x31
CMD_VSIZ: Final = 0x38
CMD_ITERINIT: Final = 0x50
CMD_ITERNEXT: Final = 0x51
CMD_FWMKEYS: Final = 0x58
CMD_ADDINT: Final = 0x60
CMD_ADDDOUBLE: Final = 0x61
CMD_EXT: Final = 0x68
CMD_SYNC: Final = 0x70
CMD_OPTIMIZE: Final = 0x71
CMD_VANISH: Final = 0x72
CMD_COPY: Final = 0x73
CMD_RESTORE: Final = 0x74
CMD_SETMST: Final = 0x78
CMD_RNUM: Final = 0x80
CMD_SIZE: Final = 0x81
CMD_STAT: Final = 0x88
CMD_MISC: Final = 0x90
#: Replication stream (slave to master).  Defined for reference only: this
#: module neither encodes nor parses it, and RequestParser rejects it.
CMD_REPL: Final = 0xA0

#: Command byte -> command name (for logs and error messages).
COMMAND_NAMES: Final[Dict[int, str]] = {
    CMD_PUT: "put",
    CMD_PUTKEEP: "putkeep",
    CMD_PUTCAT: "putcat",
    CMD_PUTSHL: "putshl",
    CMD_PUTNR: "putnr",
    CMD_OUT: "out",
    CMD_GET: "get",
    CMD_MGET: "mget",
    CMD_VSIZ: "vsiz",
    CMD_ITERINIT: "iterinit",
    CMD_ITERNEXT: "iternext",
    CMD_FWMKEYS: "fwmkeys",
    CMD_ADDINT: "addint",
    CMD_ADDDOUBLE: "adddouble",
    CMD_EXT: "ext",
    CMD_SYNC: "sync",
    CMD_OPTIMIZE: "optimize",
    CMD_VANISH: "vanish",
    CMD_COPY: "copy",
    CMD_RESTORE: "restore",
    CMD_SETMST: "setmst",
    CMD_RNUM: "rnum",
    CMD_SIZE: "size",
    CMD_STAT: "stat",
    CMD_MISC: "misc",
}

#: misc option: do not write the operation to the update log (RDBMONOULOG).
MISC_NO_ULOG: Final = 1
#: ext option: lock the record while the function runs (RDBXOLCKREC).
EXT_LOCK_RECORD: Final = 1
#: ext option: lock the whole database while the function runs (RDBXOLCKGLB).
EXT_LOCK_GLOBAL: Final = 2
#: restore / setmst option: check consistency of the update log (RDBROCHKCON).
RESTORE_CHECK_CONSISTENCY: Final = 1


#: Status byte of a successful reply.
STATUS_SUCCESS: Final = 0
#: Status byte ttserver sends for every kind of failure.
STATUS_FAILURE: Final = 1

# Error codes of the tcrdb client library (tcrdb.h).
TTESUCCESS: Final = 0
TTEINVALID: Final = 1
TTENOHOST: Final = 2
TTEREFUSED: Final = 3
TTESEND: Final = 4
TTERECV: Final = 5
TTEKEEP: Final = 6
TTENOREC: Final = 7
TTEMISC: Final = 9999

#: tcrdb error code -> tcrdberrmsg() text.
ERROR_MESSAGES: Final[Dict[int, str]] = {
    TTESUCCESS: "success",
    TTEINVALID: "invalid operation",
    TTENOHOST: "host not found",
    TTEREFUSED: "connection refused",
    TTESEND: "send error",
    TTERECV: "recv error",
    TTEKEEP: "existing record",
    TTENOREC: "no record found",
    TTEMISC: "miscellaneous error",
}

#: ttserver's limit of an ext or misc function name (it must be < 1024).
MAX_NAME_SIZE: Final = 1023


_I32_MIN: Final = -(1 << 31)
_I64_MIN: Final = -(1 << 63)
_I64_MAX: Final = (1 << 63) - 1
_TRILLION: Final = 1000000000000

# Structs: request headers include the magic and command bytes.
_U32: Final = struct.Struct(">I")
_I32: Final = struct.Struct(">i")
_U64: Final = struct.Struct(">Q")
_U32X2: Final = struct.Struct(">II")
_I64X2: Final = struct.Struct(">qq")
_REQ0: Final = struct.Struct(">BB")
_REQ_K: Final = struct.Struct(">BBI")
_REQ_KV: Final = struct.Struct(">BBII")
_REQ_KVW: Final = struct.Struct(">BBIII")
_REQ_FWM: Final = struct.Struct(">BBIi")
_REQ_ADDINT: Final = struct.Struct(">BBIi")
_REQ_ADDDBL: Final = struct.Struct(">BBIqq")
_REQ_EXT: Final = struct.Struct(">BBIIII")
_REQ_RESTORE: Final = struct.Struct(">BBIQI")
_REQ_SETMST: Final = struct.Struct(">BBIIQI")
_REQ_MISC: Final = struct.Struct(">BBIII")
# Server-side header readers (after the two magic bytes).
_H_I: Final = struct.Struct(">I")
_H_III: Final = struct.Struct(">III")
# Reply headers include the status byte.
_REP_U32: Final = struct.Struct(">BI")
_REP_I32: Final = struct.Struct(">Bi")
_REP_U64: Final = struct.Struct(">BQ")
_REP_DBL: Final = struct.Struct(">Bqq")



def _probe() -> None:
    """Exists only so that its type tells whether this module is compiled."""


#: True when mypyc compiled this module: lengths are then read by indexing
#: bytes (native, about 2.5x faster than struct there); pure Python keeps
#: struct, which is faster for the interpreter.
_NATIVE: Final = type(_probe).__name__ != "function"

#: Pre-packed big-endian u32 lengths below 4096: a list lookup instead of a
#: struct call per item in the bulk encoders.
_LEN4: Final[List[bytes]] = [struct.pack(">I", i) for i in range(4096)]


def _u32_at(data: bytes, p: int) -> int:
    return (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3]


def _len4(n: int) -> bytes:
    return _LEN4[n] if n < 4096 else _U32.pack(n)


def _sized_items(parts: List[bytes], what: str, items: List[bytes], limit: int) -> None:
    """Append ``[size u32][item]`` for every item (checked) to ``parts``."""
    for item in items:
        if not isinstance(item, bytes) or len(item) > limit:
            _check_bytes(what, item, limit)
        n = len(item)
        parts.append(_LEN4[n] if n < 4096 else _U32.pack(n))
        parts.append(item)


def _sized_keys(parts: List[bytes], what: str, items: List[object]) -> None:
    """``_sized_items`` of keys as a client holds them (``to_bytes``)."""
    width = common_length(items)
    if 0 <= width <= MAX_ARG_SIZE:  # one length for all: it separates the keys
        size = _len4(width)
        parts.append(size)
        parts.append(size.join(cast(List[bytes], items)))
        return
    key: bytes
    for item in items:
        key = item if isinstance(item, bytes) else to_bytes(item, "key")
        n = len(key)
        if n > MAX_ARG_SIZE:
            _check_bytes(what, key, MAX_ARG_SIZE)
        parts.append(_LEN4[n] if n < 4096 else _U32.pack(n))
        parts.append(key)


# ---------------------------------------------------------------------------
# Error codes
# ---------------------------------------------------------------------------


def error_code(cmd: int, status: int) -> int:
    """The tcrdb error code for a reply with ``status`` to command ``cmd``.

    ttserver only says 0 or 1; tcrdb turns a failure into a code chosen by
    the command: putkeep, addint and adddouble -> TTEKEEP (existing record,
    or a record of the wrong kind); out, get, mget, vsiz, iternext and
    fwmkeys -> TTENOREC; everything else (ext, misc, put, sync...) ->
    TTEMISC.  (tcrdb's table wrappers further turn a failed misc "putkeep"
    into TTEKEEP and a failed misc "out"/"get" into TTENOREC.)
    """
    if status == 0:
        return TTESUCCESS
    if cmd == CMD_PUTKEEP or cmd == CMD_ADDINT or cmd == CMD_ADDDOUBLE:
        return TTEKEEP
    if (
        cmd == CMD_OUT
        or cmd == CMD_GET
        or cmd == CMD_MGET
        or cmd == CMD_VSIZ
        or cmd == CMD_ITERNEXT
        or cmd == CMD_FWMKEYS
    ):
        return TTENOREC
    return TTEMISC


def error_message(code: int) -> str:
    """tcrdberrmsg(): the text of a tcrdb error code."""
    return ERROR_MESSAGES.get(code, "unknown error")


# ---------------------------------------------------------------------------
# Argument validation (encoders)
# ---------------------------------------------------------------------------


def _check_text(what: str, value: bytes, limit: int) -> None:
    """A name or path that ttserver handles as a C string: no NUL byte."""
    _check_bytes(what, value, limit)
    if b"\x00" in value:
        raise ValueError("%s must not contain a NUL byte" % what)


# ---------------------------------------------------------------------------
# Real numbers (adddouble)
# ---------------------------------------------------------------------------


def pack_double(num: Union[int, float]) -> Tuple[int, int]:
    """Split a real number into (integral, trillionths) like ttpackdouble().

    Both parts carry the sign of ``num`` (math.modf), and the fraction times
    10**12 is truncated toward zero, as the C conversion does: -1.5 gives
    (-1, -500000000000).  Infinity gives (2**63-1, 0), -infinity
    (-2**63, 0) and NaN (-2**63, -2**63).  A finite number whose integral
    part does not fit in a signed 64-bit integer raises ValueError (C leaves
    that case undefined).
    """
    if isinstance(num, bool) or not isinstance(num, (int, float)):
        raise TypeError("num must be a float, not %s" % type(num).__name__)
    if isinstance(num, int) and (num <= _I64_MIN or num > _I64_MAX):
        raise ValueError("num %d is out of the range of adddouble" % num)
    x = float(num)
    if math.isnan(x):
        return (_I64_MIN, _I64_MIN)
    if math.isinf(x):
        return (_I64_MAX, 0) if x > 0 else (_I64_MIN, 0)
    frac, integ = math.modf(x)
    if integ >= 9223372036854775808.0 or integ <= -9223372036854775808.0:
        raise ValueError("num %r is out of the range of adddouble" % x)
    return (int(integ), int(frac * 1e12))


def unpack_double(integral: int, fraction: int) -> float:
    """Join (integral, trillionths) into a real number like ttunpackdouble()."""
    if integral == _I64_MIN and fraction == _I64_MIN:
        return math.nan
    if integral == _I64_MAX:
        return math.inf
    if integral == _I64_MIN:
        return -math.inf
    return float(integral) + float(fraction) / 1e12


# ---------------------------------------------------------------------------
# Client side: request encoders
# ---------------------------------------------------------------------------

_ENC_ITERINIT: Final = bytes((MAGIC, CMD_ITERINIT))
_ENC_ITERNEXT: Final = bytes((MAGIC, CMD_ITERNEXT))
_ENC_SYNC: Final = bytes((MAGIC, CMD_SYNC))
_ENC_VANISH: Final = bytes((MAGIC, CMD_VANISH))
_ENC_RNUM: Final = bytes((MAGIC, CMD_RNUM))
_ENC_SIZE: Final = bytes((MAGIC, CMD_SIZE))
_ENC_STAT: Final = bytes((MAGIC, CMD_STAT))


def _encode_kv(cmd: int, key: bytes, value: bytes) -> bytes:
    _check_bytes("key", key, MAX_ARG_SIZE)
    _check_bytes("value", value, MAX_ARG_SIZE)
    return b"".join((_REQ_KV.pack(MAGIC, cmd, len(key), len(value)), key, value))


def _encode_k(cmd: int, key: bytes) -> bytes:
    _check_bytes("key", key, MAX_ARG_SIZE)
    return b"".join((_REQ_K.pack(MAGIC, cmd, len(key)), key))


def _encode_text(cmd: int, what: str, text: bytes) -> bytes:
    _check_text(what, text, MAX_ARG_SIZE)
    return b"".join((_REQ_K.pack(MAGIC, cmd, len(text)), text))


def encode_put(key: bytes, value: bytes) -> bytes:
    """put 0x10: store a record (reply: status)."""
    return _encode_kv(CMD_PUT, key, value)


def encode_putkeep(key: bytes, value: bytes) -> bytes:
    """putkeep 0x11: store a record unless the key exists (reply: status)."""
    return _encode_kv(CMD_PUTKEEP, key, value)


def encode_putcat(key: bytes, value: bytes) -> bytes:
    """putcat 0x12: append to the value (reply: status)."""
    return _encode_kv(CMD_PUTCAT, key, value)


def encode_putshl(key: bytes, value: bytes, width: int) -> bytes:
    """putshl 0x13: append and keep the last ``width`` bytes (reply: status)."""
    _check_bytes("key", key, MAX_ARG_SIZE)
    _check_bytes("value", value, MAX_ARG_SIZE)
    _check_int("width", width, 0, _I32_MAX)
    return b"".join(
        (_REQ_KVW.pack(MAGIC, CMD_PUTSHL, len(key), len(value), width), key, value)
    )


def encode_putnr(key: bytes, value: bytes) -> bytes:
    """putnr 0x18: store a record; the server sends no reply at all."""
    return _encode_kv(CMD_PUTNR, key, value)


def encode_out(key: bytes) -> bytes:
    """out 0x20: remove a record (reply: status)."""
    return _encode_k(CMD_OUT, key)


def encode_get(key: bytes) -> bytes:
    """get 0x30: fetch a value (reply: parse_value_reply)."""
    return _encode_k(CMD_GET, key)


def encode_mget(keys: List[bytes]) -> bytes:
    """mget 0x31: fetch several values (reply: MgetReplyParser)."""
    _check_list("keys", keys, MAX_ARG_NUM)
    parts: List[bytes] = [_REQ_K.pack(MAGIC, CMD_MGET, len(keys))]
    _sized_items(parts, "key", keys, MAX_ARG_SIZE)
    return b"".join(parts)


def encode_mget_keys(keys: Iterable[object]) -> bytes:
    """``encode_mget`` of keys as a client holds them: str keys travel as
    UTF-8 (kt.protocol.convert's ``to_bytes``, converted while encoded)."""
    items: List[object] = keys if isinstance(keys, list) else list(keys)
    _check_list("keys", items, MAX_ARG_NUM)
    parts: List[bytes] = [_REQ_K.pack(MAGIC, CMD_MGET, len(items))]
    _sized_keys(parts, "key", items)
    return b"".join(parts)


def encode_vsiz(key: bytes) -> bytes:
    """vsiz 0x38: size of a value (reply: parse_vsiz_reply)."""
    return _encode_k(CMD_VSIZ, key)


def encode_iterinit() -> bytes:
    """iterinit 0x50: reset the server's key iterator (reply: status)."""
    return _ENC_ITERINIT


def encode_iternext() -> bytes:
    """iternext 0x51: next key of the iterator (reply: parse_value_reply)."""
    return _ENC_ITERNEXT


def encode_fwmkeys(prefix: bytes, max: int = -1) -> bytes:
    """fwmkeys 0x58: keys starting with ``prefix`` (reply: FwmkeysReplyParser).

    A negative ``max`` means no limit (sent as is; the server treats any
    negative number that way, tcrdb sends INT_MAX instead).
    """
    _check_bytes("prefix", prefix, MAX_ARG_SIZE)
    _check_int("max", max, _I32_MIN, _I32_MAX)
    return b"".join((_REQ_FWM.pack(MAGIC, CMD_FWMKEYS, len(prefix), max), prefix))


def encode_addint(key: bytes, num: int) -> bytes:
    """addint 0x60: add to a 4-byte integer record (reply: parse_addint_reply)."""
    _check_bytes("key", key, MAX_ARG_SIZE)
    _check_int("num", num, _I32_MIN, _I32_MAX)
    return b"".join((_REQ_ADDINT.pack(MAGIC, CMD_ADDINT, len(key), num), key))


def encode_adddouble(key: bytes, num: Union[int, float]) -> bytes:
    """adddouble 0x61: add to a real-number record (reply: parse_adddouble_reply).

    ``num`` travels as pack_double(num).
    """
    _check_bytes("key", key, MAX_ARG_SIZE)
    integral, fraction = pack_double(num)
    return b"".join(
        (_REQ_ADDDBL.pack(MAGIC, CMD_ADDDOUBLE, len(key), integral, fraction), key)
    )


def encode_ext(name: bytes, key: bytes = b"", value: bytes = b"", opts: int = 0) -> bytes:
    """ext 0x68: call a Lua extension function (reply: parse_value_reply).

    ``opts``: EXT_LOCK_RECORD and/or EXT_LOCK_GLOBAL.
    """
    _check_text("name", name, MAX_NAME_SIZE)
    _check_bytes("key", key, MAX_ARG_SIZE)
    _check_bytes("value", value, MAX_ARG_SIZE)
    _check_int("opts", opts, 0, _U32_MAX)
    return b"".join(
        (
            _REQ_EXT.pack(MAGIC, CMD_EXT, len(name), opts, len(key), len(value)),
            name,
            key,
            value,
        )
    )


def encode_sync() -> bytes:
    """sync 0x70: flush the database to the device (reply: status)."""
    return _ENC_SYNC


def encode_optimize(params: bytes = b"") -> bytes:
    """optimize 0x71: rebuild the database with tuning ``params`` (reply: status)."""
    return _encode_text(CMD_OPTIMIZE, "params", params)


def encode_vanish() -> bytes:
    """vanish 0x72: remove every record (reply: status)."""
    return _ENC_VANISH


def encode_copy(path: bytes) -> bytes:
    """copy 0x73: copy the database file on the server (reply: status)."""
    return _encode_text(CMD_COPY, "path", path)


def encode_restore(path: bytes, ts: int, opts: int = 0) -> bytes:
    """restore 0x74: replay an update-log directory from time stamp ``ts``
    (microseconds) (reply: status).  ``opts``: RESTORE_CHECK_CONSISTENCY."""
    _check_text("path", path, MAX_ARG_SIZE)
    _check_int("ts", ts, 0, _U64_MAX)
    _check_int("opts", opts, 0, _U32_MAX)
    return b"".join((_REQ_RESTORE.pack(MAGIC, CMD_RESTORE, len(path), ts, opts), path))


def encode_setmst(host: bytes, port: int, ts: int, opts: int = 0) -> bytes:
    """setmst 0x78: set the replication master (empty host: none) (reply: status).

    ``opts``: RESTORE_CHECK_CONSISTENCY.
    """
    _check_text("host", host, MAX_ARG_SIZE)
    _check_int("port", port, 0, _I32_MAX)
    _check_int("ts", ts, 0, _U64_MAX)
    _check_int("opts", opts, 0, _U32_MAX)
    return b"".join(
        (_REQ_SETMST.pack(MAGIC, CMD_SETMST, len(host), port, ts, opts), host)
    )


def encode_rnum() -> bytes:
    """rnum 0x80: number of records (reply: parse_u64_reply)."""
    return _ENC_RNUM


def encode_size() -> bytes:
    """size 0x81: size of the database in bytes (reply: parse_u64_reply)."""
    return _ENC_SIZE


def encode_stat() -> bytes:
    """stat 0x88: status text (reply: parse_stat_reply)."""
    return _ENC_STAT


def encode_misc(name: bytes, args: List[bytes], opts: int = 0) -> bytes:
    """misc 0x90: call a miscellaneous function (reply: MiscReplyParser).

    ``opts``: MISC_NO_ULOG.  Names: put putkeep putcat putdup putdupback out
    get putlist outlist getlist getpart iterinit iternext sync optimize
    vanish error defrag cacheclear regex range; on a table database also
    setindex search metasearch genuid.
    """
    _check_text("name", name, MAX_NAME_SIZE)
    _check_list("args", args, MAX_ARG_NUM)
    _check_int("opts", opts, 0, _U32_MAX)
    parts: List[bytes] = [_REQ_MISC.pack(MAGIC, CMD_MISC, len(name), opts, len(args)), name]
    _sized_items(parts, "argument", args, MAX_ARG_SIZE)
    return b"".join(parts)


def _misc_head(name: bytes, count: int, opts: int) -> bytes:
    """The header and name of a misc request of ``count`` arguments (checked)."""
    _check_text("name", name, MAX_NAME_SIZE)
    if count > MAX_ARG_NUM:
        raise ValueError("args has %d items; the limit is %d" % (count, MAX_ARG_NUM))
    _check_int("opts", opts, 0, _U32_MAX)
    return _REQ_MISC.pack(MAGIC, CMD_MISC, len(name), opts, count) + name


def encode_misc_keys(name: bytes, keys: Iterable[object], opts: int = 0) -> bytes:
    """``encode_misc`` whose arguments are keys as a client holds them
    (outlist): str keys travel as UTF-8, converted while encoded."""
    items: List[object] = keys if isinstance(keys, list) else list(keys)
    parts: List[bytes] = [_misc_head(name, len(items), opts)]
    _sized_keys(parts, "argument", items)
    return b"".join(parts)


def encode_misc_items(name: bytes, items: Collection[Tuple[object, object]], text_values: bool,
                      opts: int = 0) -> bytes:
    """``encode_misc`` whose arguments are the keys and values of ``items``
    in turn (putlist), converted while they are encoded (kt.protocol.convert's
    rules): str keys travel as UTF-8, and so do str values with
    ``text_values``; any other value that is not bytes raises TypeError."""
    parts: List[bytes] = [_misc_head(name, 2 * len(items), opts)]
    key: bytes
    value: bytes
    for item_key, item_value in items:
        key = item_key if isinstance(item_key, bytes) else to_bytes(item_key, "key")
        value = item_value if isinstance(item_value, bytes) else value_bytes(item_value, text_values)
        ksiz = len(key)
        vsiz = len(value)
        if ksiz > MAX_ARG_SIZE or vsiz > MAX_ARG_SIZE:
            _check_bytes("argument", key, MAX_ARG_SIZE)
            _check_bytes("argument", value, MAX_ARG_SIZE)
        parts.append(_LEN4[ksiz] if ksiz < 4096 else _U32.pack(ksiz))
        parts.append(key)
        parts.append(_LEN4[vsiz] if vsiz < 4096 else _U32.pack(vsiz))
        parts.append(value)
    return b"".join(parts)


@final
class _ArgPieces(Pieces):
    """Arguments ``[size u32][item]``: a record's key, then its value when
    the request has values (misc putlist; outlist and mget have keys only)."""

    def _encode(self, parts: List[bytes], start: int, end: int) -> None:
        keys = self.keys
        values = self.values
        if not values:
            _sized_items(parts, "argument", keys[start:end], MAX_ARG_SIZE)
            return
        for i in range(start, end):
            key = keys[i]
            value = values[i]
            parts.append(_len4(len(key)))
            parts.append(key)
            parts.append(_len4(len(value)))
            parts.append(value)


def _refuse_arg(item: bytes, what: str) -> None:
    _check_bytes("argument", item, MAX_ARG_SIZE)


def misc_items_payload(name: bytes, records: Mapping[Any, Any], text_values: bool,
                       opts: int = 0, piece: int = PIECE_RECORDS) -> Payload:
    """``encode_misc_items`` of a mapping's records (putlist); more than
    ``piece`` records come as Pieces (kt.protocol.buffer), every record
    checked and converted first."""
    if len(records) <= piece:
        return encode_misc_items(name, records.items(), text_values, opts)
    head = _misc_head(name, 2 * len(records), opts)
    keys = bytes_in_place(list(records), True, "key", MAX_ARG_SIZE, _refuse_arg)
    values = bytes_in_place(list(records.values()), text_values, "value", MAX_ARG_SIZE,
                            _refuse_arg)
    return _ArgPieces(head, keys, values, piece)


def misc_keys_payload(name: bytes, keys: Iterable[object], opts: int = 0,
                      piece: int = PIECE_RECORDS) -> Payload:
    """``encode_misc_keys`` (outlist); more than ``piece`` keys come as Pieces."""
    items: List[object] = list(keys)
    if len(items) <= piece:
        return encode_misc_keys(name, items, opts)
    head = _misc_head(name, len(items), opts)
    return _ArgPieces(head, bytes_in_place(items, True, "key", MAX_ARG_SIZE, _refuse_arg), [],
                      piece)


def mget_payload(keys: Iterable[object], piece: int = PIECE_RECORDS) -> Payload:
    """``encode_mget_keys``; more than ``piece`` keys come as Pieces."""
    items: List[object] = list(keys)
    if len(items) <= piece:
        return encode_mget_keys(items)
    _check_list("keys", items, MAX_ARG_NUM)
    head = _REQ_K.pack(MAGIC, CMD_MGET, len(items))
    return _ArgPieces(head, bytes_in_place(items, True, "key", MAX_ARG_SIZE, _refuse_arg), [],
                      piece)


# ---------------------------------------------------------------------------
# Client side: reply parsers
# ---------------------------------------------------------------------------
#
# Every parser returns None while the reply is incomplete, else a value
# whose first item is the status byte (0 = success).  When the status is
# not 0 the other item is an empty default (b"", 0, 0.0, [], {}).


def parse_status_reply(buf: ReceiveBuffer) -> Optional[int]:
    """Status-only replies (put, putkeep, putcat, putshl, out, iterinit,
    sync, optimize, vanish, copy, restore, setmst): the status byte."""
    if not buf.ensure(1):
        return None
    status: int = buf.data[buf.pos]
    buf.pos += 1
    return status


def parse_value_reply(buf: ReceiveBuffer) -> Optional[Tuple[int, bytes]]:
    """get, iternext and ext: (status, value); failure is the status byte alone."""
    if not buf.ensure(1):
        return None
    status: int = buf.data[buf.pos]
    if status != 0:
        buf.pos += 1
        return (status, b"")
    if not buf.ensure(5):
        return None
    size: int = _U32.unpack_from(buf.data, buf.pos + 1)[0]
    if not buf.ensure(5 + size):
        return None
    start = buf.pos + 5
    end = start + size
    value = buf.data[start:end]
    buf.pos = end
    return (status, value)


def _parse_status_number(buf: ReceiveBuffer, field: struct.Struct) -> Optional[Tuple[int, int]]:
    """``[status]`` alone on failure, ``[0][number]`` on success."""
    if not buf.ensure(1):
        return None
    status: int = buf.data[buf.pos]
    if status != 0:
        buf.pos += 1
        return (status, 0)
    size = 1 + field.size
    if not buf.ensure(size):
        return None
    number: int = field.unpack_from(buf.data, buf.pos + 1)[0]
    buf.pos += size
    return (status, number)


def parse_vsiz_reply(buf: ReceiveBuffer) -> Optional[Tuple[int, int]]:
    """vsiz: (status, size of the value)."""
    return _parse_status_number(buf, _U32)


def parse_addint_reply(buf: ReceiveBuffer) -> Optional[Tuple[int, int]]:
    """addint: (status, new value as a signed 32-bit integer)."""
    return _parse_status_number(buf, _I32)


def parse_adddouble_reply(buf: ReceiveBuffer) -> Optional[Tuple[int, float]]:
    """adddouble: (status, new value) (see unpack_double)."""
    if not buf.ensure(1):
        return None
    status: int = buf.data[buf.pos]
    if status != 0:
        buf.pos += 1
        return (status, 0.0)
    if not buf.ensure(17):
        return None
    integral: int
    fraction: int
    integral, fraction = _I64X2.unpack_from(buf.data, buf.pos + 1)
    buf.pos += 17
    return (status, unpack_double(integral, fraction))


def parse_u64_reply(buf: ReceiveBuffer) -> Optional[Tuple[int, int]]:
    """rnum and size: (status, number).  ttserver always sends status 0."""
    return _parse_status_number(buf, _U64)


def decode_stat_text(text: bytes) -> Dict[str, str]:
    """Turn stat text (``name\\tvalue\\n``...) into a dict.

    Bytes that are not UTF-8 become U+FFFD; empty lines are skipped; a line
    without a tab (possible only when a path contains a newline) gives the
    whole line as a name with an empty value.
    """
    result: Dict[str, str] = {}
    for line in text.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        tab = line.find("\t")
        if tab < 0:
            result[line] = ""
        else:
            result[line[:tab]] = line[tab + 1:]
    return result


def parse_stat_reply(buf: ReceiveBuffer) -> Optional[Tuple[int, Dict[str, str]]]:
    """stat: (status, decode_stat_text(text)).  ttserver always sends status 0."""
    reply = parse_value_reply(buf)
    if reply is None:
        return None
    # A failure's empty text decodes to {}.
    return (reply[0], decode_stat_text(reply[1]))


def _read_sized_items(buf: ReceiveBuffer, out: List[bytes], remaining: int, checked: bool) -> int:
    """Consume complete ``[size u32][bytes]`` items; return how many are left.
    ``checked`` (server side) refuses items larger than MAX_ARG_SIZE."""
    while remaining > 0:
        if not buf.ensure(4):
            break
        size: int = _u32_at(buf.data, buf.pos) if _NATIVE else _U32.unpack_from(buf.data, buf.pos)[0]
        if checked:
            _check_size("argument", size)
        if not buf.ensure(4 + size):
            break
        start = buf.pos + 4
        end = start + size
        out.append(buf.data[start:end])
        buf.pos = end
        remaining -= 1
    return remaining


class _CountedReplyParser:
    """State shared by the replies ``[status][count u32]`` + count items:
    ``_start`` reads that header once it is complete."""

    _started: bool
    _status: int
    _remaining: int

    def __init__(self) -> None:
        self._started = False
        self._status = 0
        self._remaining = 0

    def _start(self, buf: ReceiveBuffer) -> bool:
        """Consume the status and count; False while they are incomplete."""
        if not buf.ensure(5):
            return False
        status: int
        count: int
        status, count = _REP_U32.unpack_from(buf.data, buf.pos)
        buf.pos += 5
        self._started = True
        self._status = status
        self._remaining = count
        return True


def _read_pairs(buf: ReceiveBuffer, records: Optional[List[Tuple[bytes, bytes]]],
                found: Optional[Found], remaining: int) -> int:
    """Consume complete mget records ``[ksiz u32][vsiz u32][key][value]``,
    at most ``remaining``, into ``records`` or else ``found``; return how
    many are left."""
    while remaining > 0 and buf.ensure(8):
        p = buf.pos
        ksiz: int = _u32_at(buf.data, p) if _NATIVE else _U32.unpack_from(buf.data, p)[0]
        vsiz: int = _u32_at(buf.data, p + 4) if _NATIVE else _U32.unpack_from(buf.data, p + 4)[0]
        if not buf.ensure(8 + ksiz + vsiz):
            break
        kstart = buf.pos + 8
        vstart = kstart + ksiz
        end = vstart + vsiz
        data = buf.data
        if records is not None:
            records.append((data[kstart:vstart], data[vstart:end]))
        elif found is not None:
            found.add(data[kstart:vstart], data[vstart:end])
        buf.pos = end
        remaining -= 1
    return remaining


@final
class MgetReplyParser(_CountedReplyParser):
    """mget reply: (status, [(key, value), ...]) in the server's order.

    ttserver always answers status 0 and leaves missing keys out.  The
    record count follows the status byte whatever its value (tcrdb reads it
    unconditionally).  Records are consumed one by one as they complete.
    The parser resets itself after returning a result.
    """

    _records: List[Tuple[bytes, bytes]]

    def __init__(self) -> None:
        super().__init__()
        self._records = []

    def parse(self, buf: ReceiveBuffer) -> Optional[Tuple[int, List[Tuple[bytes, bytes]]]]:
        if not self._started:
            if not self._start(buf):
                return None
            self._records = []
        records = self._records
        self._remaining = _read_pairs(buf, records, None, self._remaining)
        if self._remaining > 0:
            return None
        self._started = False
        self._records = []
        return (self._status, records)


@final
class MgetDictParser(_CountedReplyParser):
    """mget reply as (status, {key: value}), keys as text with
    ``text_keys`` and values with ``text_values`` (kt.protocol.convert's
    ``text``): what the clients' get_bulk returns, built while the reply is
    read.  A key found twice keeps its last value.  One parser per reply."""

    _found: Found

    def __init__(self, text_keys: bool, text_values: bool) -> None:
        super().__init__()
        self._found = Found(text_keys, text_values)

    def parse(self, buf: ReceiveBuffer) -> Optional[Tuple[int, Dict[Text, Text]]]:
        if not self._started and not self._start(buf):
            return None
        self._remaining = _read_pairs(buf, None, self._found, self._remaining)
        if self._remaining > 0:
            return None
        return (self._status, self._found.items)


class _ListReplyParser(_CountedReplyParser):
    """A reply ``[status][count u32]{[size u32][item]}``: (status, items).

    Items are consumed as they complete; the parser resets itself after
    returning a result.  With ``bare_failure`` a non-zero status stands
    alone, without a count.
    """

    _bare_failure: bool
    _items: List[bytes]

    def __init__(self, bare_failure: bool) -> None:
        super().__init__()
        self._bare_failure = bare_failure
        self._items = []

    def parse(self, buf: ReceiveBuffer) -> Optional[Tuple[int, List[bytes]]]:
        if not self._started:
            if not buf.ensure(1):
                return None
            first: int = buf.data[buf.pos]
            if first != 0 and self._bare_failure:
                buf.pos += 1
                return (first, [])
            if not self._start(buf):
                return None
            self._items = []
        items = self._items
        remaining = _read_sized_items(buf, items, self._remaining, False)
        self._remaining = remaining
        if remaining > 0:
            return None
        result = (self._status, items)
        self._started = False
        self._items = []
        return result


@final
class FwmkeysReplyParser(_ListReplyParser):
    """fwmkeys reply: (status, [key, ...]).

    ttserver always answers status 0 plus the key count; following tcrdb, a
    non-zero status is taken to stand alone.  Keys are consumed as they
    complete; the parser resets itself after returning a result.
    """

    def __init__(self) -> None:
        super().__init__(True)


@final
class MiscReplyParser(_ListReplyParser):
    """misc reply: (status, [element, ...]).

    The element count always follows the status byte: on failure ttserver
    sends status 1 and a count of 0.  Elements are consumed as they
    complete; the parser resets itself after returning a result.
    """

    def __init__(self) -> None:
        super().__init__(False)


# ---------------------------------------------------------------------------
# Server side: requests
# ---------------------------------------------------------------------------


@final
class TTRequest(FieldsRecord):
    """One parsed request.  ``cmd`` tells which fields are meaningful:

    ========================  ==============================================
    put putkeep putcat putnr  key, value
    putshl                    key, value, width
    out get vsiz              key
    mget                      keys
    iterinit iternext sync    (nothing)
    vanish rnum size stat
    fwmkeys                   prefix, max (negative: no limit)
    addint                    key, num (signed 32-bit)
    adddouble                 key, integral, fraction (see as_double())
    ext                       name, opts, key, value
    optimize                  params
    copy                      path
    restore                   path, ts, opts
    setmst                    host, port, ts, opts
    misc                      name, opts, args
    ========================  ==============================================
    """

    cmd: int
    key: bytes
    value: bytes
    width: int
    num: int
    integral: int
    fraction: int
    prefix: bytes
    max: int
    name: bytes
    opts: int
    keys: List[bytes]
    args: List[bytes]
    params: bytes
    path: bytes
    ts: int
    host: bytes
    port: int

    def __init__(self, cmd: int) -> None:
        self.cmd = cmd
        self.key = b""
        self.value = b""
        self.width = 0
        self.num = 0
        self.integral = 0
        self.fraction = 0
        self.prefix = b""
        self.max = 0
        self.name = b""
        self.opts = 0
        self.keys = []
        self.args = []
        self.params = b""
        self.path = b""
        self.ts = 0
        self.host = b""
        self.port = 0

    def as_double(self) -> float:
        """The adddouble operand as a float."""
        return unpack_double(self.integral, self.fraction)

    def _fields(self) -> Tuple[object, ...]:
        return (
            self.cmd, self.key, self.value, self.width, self.num, self.integral,
            self.fraction, self.prefix, self.max, self.name, self.opts, self.keys,
            self.args, self.params, self.path, self.ts, self.host, self.port,
        )

    def __repr__(self) -> str:
        name = COMMAND_NAMES.get(self.cmd, hex(self.cmd))
        return "TTRequest(%s, key=%r, value=%r, name=%r, opts=%d, keys=%d, args=%d)" % (
            name, self.key[:32], self.value[:32], self.name, self.opts,
            len(self.keys), len(self.args),
        )


def _check_limit(number: int, limit: int, described: str, what: str) -> None:
    """Refuse a request whose ``number`` exceeds ``limit``: ttserver reads
    sizes and counts as signed ints and refuses negative ones and ones above
    its limits by closing the connection.  ``described`` tells the number
    with ``{n}`` and ``{what}``."""
    if number > limit:
        raise ProtocolError(
            "Tokyo Tyrant request: %s the limit of %d"
            % (described.format(n=number, what=what), limit)
        )


def _check_size(what: str, size: int) -> None:
    _check_limit(size, MAX_ARG_SIZE, "{what} of {n} bytes exceeds", what)


def _check_count(what: str, count: int) -> None:
    _check_limit(count, MAX_ARG_NUM, "{n} {what} exceed", what)


def _check_name_size(size: int) -> None:
    _check_limit(size, MAX_NAME_SIZE, "{what} of {n} bytes exceeds", "function name")


@final
class RequestParser:
    """Server side: parse one request per ``parse`` call.

    Returns a :class:`TTRequest`, or None while the request is incomplete.
    mget keys and misc arguments are consumed one by one as they complete.
    Raises ProtocolError on a first byte other than 0xC8, an unknown (or
    unsupported: repl) command, and on the lengths ttserver refuses (see the
    module docstring).  After a result, the bytes of the next request stay
    in the buffer.
    """

    _req: Optional[TTRequest]
    _remaining: int

    def __init__(self) -> None:
        self._req = None
        self._remaining = 0

    def parse(self, buf: ReceiveBuffer) -> Optional[TTRequest]:
        req = self._req
        if req is None:
            if not buf.ensure(2):
                return None
            magic: int = buf.data[buf.pos]
            cmd: int = buf.data[buf.pos + 1]
            if magic != MAGIC:
                raise ProtocolError(
                    "Tokyo Tyrant request: first byte 0x%02x is not the magic 0xc8" % magic
                )
            if cmd == CMD_MGET or cmd == CMD_MISC:
                req = self._start_list(buf, cmd)
                if req is None:
                    return None
                self._req = req
            else:
                return _parse_simple(buf, cmd)
        items = req.keys if req.cmd == CMD_MGET else req.args
        remaining = _read_sized_items(buf, items, self._remaining, True)
        self._remaining = remaining
        if remaining > 0:
            return None
        self._req = None
        return req

    def _start_list(self, buf: ReceiveBuffer, cmd: int) -> Optional[TTRequest]:
        if cmd == CMD_MGET:
            if not buf.ensure(6):
                return None
            count: int = _H_I.unpack_from(buf.data, buf.pos + 2)[0]
            _check_count("keys", count)
            buf.pos += 6
            self._remaining = count
            return TTRequest(cmd)
        if not buf.ensure(14):
            return None
        nsiz: int
        opts: int
        argc: int
        nsiz, opts, argc = _H_III.unpack_from(buf.data, buf.pos + 2)
        _check_name_size(nsiz)
        _check_count("arguments", argc)
        if not buf.ensure(14 + nsiz):
            return None
        start = buf.pos + 14
        req = TTRequest(cmd)
        req.name = buf.data[start:start + nsiz]
        req.opts = opts
        buf.pos = start + nsiz
        self._remaining = argc
        return req


# Request shapes.  Every command but mget and misc has a fixed header of
# numbers after its magic and command bytes; some of them are the sizes of
# the byte fields that follow, in the same order.  A shape lists, per header
# number, the TTRequest field it fills: a byte field (its size) or a number.
_F_KEY: Final = 0
_F_VALUE: Final = 1
_F_NAME: Final = 2
_F_PREFIX: Final = 3
_F_PARAMS: Final = 4
_F_PATH: Final = 5
_F_HOST: Final = 6
_N_WIDTH: Final = 10  # numbers from here on
_N_NUM: Final = 11
_N_MAX: Final = 12
_N_INTEGRAL: Final = 13
_N_FRACTION: Final = 14
_N_OPTS: Final = 15
_N_TS: Final = 16
_N_PORT: Final = 17
# How size errors name the byte fields (as ttserver's messages would).
_FIELD_WHAT: Final = ("key", "value", "name", "key", "path", "path", "host")


@final
class _Shape:
    """The fixed header of one command (after magic and command byte) and
    the TTRequest field each of its numbers fills."""

    header: struct.Struct
    head: int
    slots: List[int]

    def __init__(self, fmt: str, slots: List[int]) -> None:
        self.header = struct.Struct(">" + fmt)
        self.head = 2 + self.header.size
        self.slots = slots


_KV: Final = _Shape("II", [_F_KEY, _F_VALUE])
_K: Final = _Shape("I", [_F_KEY])
_NONE: Final = _Shape("", [])
_SHAPES: Final[Dict[int, _Shape]] = dict(
    [(c, _KV) for c in (CMD_PUT, CMD_PUTKEEP, CMD_PUTCAT, CMD_PUTNR)]
    + [(c, _K) for c in (CMD_OUT, CMD_GET, CMD_VSIZ)]
    + [(c, _NONE) for c in (CMD_ITERINIT, CMD_ITERNEXT, CMD_SYNC, CMD_VANISH, CMD_RNUM, CMD_SIZE, CMD_STAT)]
    + [
        # width and port are read unsigned: above 2**31 they were negative
        # (a negative width is passed on as such, a negative port refused).
        (CMD_PUTSHL, _Shape("III", [_F_KEY, _F_VALUE, _N_WIDTH])),
        (CMD_FWMKEYS, _Shape("Ii", [_F_PREFIX, _N_MAX])),
        (CMD_ADDINT, _Shape("Ii", [_F_KEY, _N_NUM])),
        (CMD_ADDDOUBLE, _Shape("Iqq", [_F_KEY, _N_INTEGRAL, _N_FRACTION])),
        (CMD_EXT, _Shape("IIII", [_F_NAME, _N_OPTS, _F_KEY, _F_VALUE])),
        (CMD_OPTIMIZE, _Shape("I", [_F_PARAMS])),
        (CMD_COPY, _Shape("I", [_F_PATH])),
        (CMD_RESTORE, _Shape("IQI", [_F_PATH, _N_TS, _N_OPTS])),
        (CMD_SETMST, _Shape("IIQI", [_F_HOST, _N_PORT, _N_TS, _N_OPTS])),
    ]
)


#: _SHAPES by command byte (a list lookup is cheaper than a dict's).
_SHAPE_OF: Final[List[Optional[_Shape]]] = [_SHAPES.get(c) for c in range(256)]


def _fill(req: TTRequest, slot: int, value: int, data: bytes, pos: int) -> int:
    """Set the field ``slot`` of ``req``: a number field to ``value``, a byte
    field to the ``value`` bytes of ``data`` at ``pos``.  Returns the
    position after what was read."""
    if slot >= _N_WIDTH:
        if slot == _N_WIDTH:
            # Negative widths (which crash ttserver 1.1.41) reach the
            # database, which refuses them with an error status.
            req.width = value - (1 << 32) if value > _I32_MAX else value
        elif slot == _N_NUM:
            req.num = value
        elif slot == _N_MAX:
            req.max = value
        elif slot == _N_INTEGRAL:
            req.integral = value
        elif slot == _N_FRACTION:
            req.fraction = value
        elif slot == _N_OPTS:
            req.opts = value
        elif slot == _N_TS:
            req.ts = value
        else:
            req.port = value
        return pos
    end = pos + value
    if slot == _F_KEY:
        req.key = data[pos:end]
    elif slot == _F_VALUE:
        req.value = data[pos:end]
    elif slot == _F_NAME:
        req.name = data[pos:end]
    elif slot == _F_PREFIX:
        req.prefix = data[pos:end]
    elif slot == _F_PARAMS:
        req.params = data[pos:end]
    elif slot == _F_PATH:
        req.path = data[pos:end]
    else:
        req.host = data[pos:end]
    return end


def _parse_keyed(buf: ReceiveBuffer, cmd: int, with_value: bool) -> Optional[TTRequest]:
    """The hot shapes, _KV (put, putkeep, putcat, putnr) and _K (get, out,
    vsiz), read without the generic loop: same result, a third faster."""
    head = 10 if with_value else 6
    if not buf.ensure(head):
        return None
    data = buf.data
    p = buf.pos + 2
    ksiz: int = _u32_at(data, p) if _NATIVE else _U32.unpack_from(data, p)[0]
    _check_size("key", ksiz)
    vsiz = 0
    if with_value:
        vsiz = _u32_at(data, p + 4) if _NATIVE else _U32.unpack_from(data, p + 4)[0]
        _check_size("value", vsiz)
    if not buf.ensure(head + ksiz + vsiz):
        return None
    data = buf.data
    start = buf.pos + head
    mid = start + ksiz
    req = TTRequest(cmd)
    req.key = data[start:mid]
    if with_value:
        req.value = data[mid:mid + vsiz]
    buf.pos = mid + vsiz
    return req


def _parse_simple(buf: ReceiveBuffer, cmd: int) -> Optional[TTRequest]:
    """Parse a request whose length is known from its fixed header."""
    shape = _SHAPE_OF[cmd]
    if shape is None:
        raise ProtocolError("Tokyo Tyrant request: unknown command 0x%02x" % cmd)
    if shape is _KV or shape is _K:
        return _parse_keyed(buf, cmd, shape is _KV)
    slots = shape.slots
    if not slots:
        buf.pos += 2
        return TTRequest(cmd)
    head = shape.head
    if not buf.ensure(head):
        return None
    values: Tuple[int, ...] = shape.header.unpack_from(buf.data, buf.pos + 2)
    total = head
    for i in range(len(slots)):
        slot = slots[i]
        value = values[i]
        if slot == _F_NAME:
            _check_name_size(value)
            total += value
        elif slot < _N_WIDTH:
            _check_size(_FIELD_WHAT[slot], value)
            total += value
        elif slot == _N_PORT and value > _I32_MAX:
            raise ProtocolError("Tokyo Tyrant request: negative %s port" % COMMAND_NAMES[cmd])
    if not buf.ensure(total):
        return None
    req = TTRequest(cmd)
    data = buf.data
    pos = buf.pos + head
    for i in range(len(slots)):
        pos = _fill(req, slots[i], values[i], data, pos)
    buf.pos = pos
    return req


# ---------------------------------------------------------------------------
# Server side: reply encoders
# ---------------------------------------------------------------------------

_MISC_FAILURE: Final = b"\x01\x00\x00\x00\x00"


def encode_status(code: int) -> bytes:
    """A status-only reply; also the whole failure reply of get, iternext,
    ext, vsiz, addint and adddouble (ttserver uses STATUS_FAILURE = 1)."""
    _check_int("code", code, 0, 255)
    return bytes((code,))


#: The heads of value replies, ``[0][size u32]``, for sizes up to 1 KiB (a
#: server's hot path: one concatenation instead of a struct call and a join).
_VALUE_HEADS: Final[List[bytes]] = [_REP_U32.pack(0, n) for n in range(1024)]


def encode_value_reply(value: bytes) -> bytes:
    """Successful get, iternext or ext: ``[0][size][value]``."""
    _check_bytes("value", value, _U32_MAX)
    n = len(value)
    return (_VALUE_HEADS[n] if n < 1024 else _REP_U32.pack(0, n)) + value


def encode_vsiz_reply(size: int) -> bytes:
    """Successful vsiz: ``[0][size u32]``."""
    _check_int("size", size, 0, _U32_MAX)
    return _REP_U32.pack(0, size)


def encode_mget_reply(records: List[Tuple[bytes, bytes]]) -> bytes:
    """mget: ``[0][rnum]{[ksiz][vsiz][key][value]}`` (only the keys found)."""
    _check_list("records", records, _U32_MAX)
    parts: List[bytes] = [_REP_U32.pack(0, len(records))]
    for record in records:
        if not isinstance(record, tuple) or len(record) != 2:
            raise TypeError("each record must be a (key, value) tuple")
        key, value = record
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            _check_bytes("key", key, _U32_MAX)
            _check_bytes("value", value, _U32_MAX)
        ksiz = len(key)
        vsiz = len(value)
        if ksiz < 4096 and vsiz < 4096:
            parts.append(_LEN4[ksiz])
            parts.append(_LEN4[vsiz])
        else:
            _check_bytes("key", key, _U32_MAX)
            _check_bytes("value", value, _U32_MAX)
            parts.append(_U32X2.pack(ksiz, vsiz))
        parts.append(key)
        parts.append(value)
    return b"".join(parts)


def _encode_sized_list(status: int, what: str, items: List[bytes]) -> bytes:
    _check_list(what, items, _U32_MAX)
    parts: List[bytes] = [_REP_U32.pack(status, len(items))]
    _sized_items(parts, what[:-1], items, _U32_MAX)
    return b"".join(parts)


def encode_fwmkeys_reply(keys: List[bytes]) -> bytes:
    """fwmkeys: ``[0][knum]{[ksiz][key]}``."""
    return _encode_sized_list(0, "keys", keys)


def encode_addint_reply(total: int) -> bytes:
    """Successful addint: ``[0][sum i32]``."""
    _check_int("total", total, _I32_MIN, _I32_MAX)
    return _REP_I32.pack(0, total)


def encode_adddouble_reply(total: Union[int, float]) -> bytes:
    """Successful adddouble: ``[0][integral i64][fraction i64]``."""
    integral, fraction = pack_double(total)
    return _REP_DBL.pack(0, integral, fraction)


def encode_u64_reply(number: int) -> bytes:
    """rnum or size: ``[0][number u64]``."""
    _check_int("number", number, 0, _U64_MAX)
    return _REP_U64.pack(0, number)


def encode_stat_text(stats: Dict[str, str]) -> bytes:
    """Stat text: one ``name\\tvalue\\n`` line per item, UTF-8."""
    if not isinstance(stats, dict):
        raise TypeError("stats must be a dict, not %s" % type(stats).__name__)
    parts: List[str] = []
    for name, value in stats.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("stat names and values must be str")
        if "\t" in name or "\n" in name or not name:
            raise ValueError("stat name %r must be non-empty without tab or newline" % name)
        if "\n" in value:
            raise ValueError("stat value of %r must not contain a newline" % name)
        parts.append("%s\t%s\n" % (name, value))
    return "".join(parts).encode("utf-8")


def encode_stat_reply(stats: Dict[str, str]) -> bytes:
    """stat: ``[0][ssiz][text]`` with text from encode_stat_text()."""
    text = encode_stat_text(stats)
    _check_bytes("stat text", text, _U32_MAX)
    return b"".join((_REP_U32.pack(0, len(text)), text))


def encode_misc_reply(elements: List[bytes]) -> bytes:
    """Successful misc: ``[0][rnum]{[esiz][element]}``."""
    return _encode_sized_list(0, "elements", elements)


def encode_misc_failure() -> bytes:
    """Failed misc, as ttserver sends it: status 1 and a count of 0."""
    return _MISC_FAILURE


def format_number(value: Union[int, float]) -> bytes:
    """Decimal text of a number for a condition expression or index value.

    ints give ``%d``; floats give the digits of Python's shortest
    round-trip repr written without an exponent ("1.5", "0.0000001" for
    1e-07, "100000000000000000000000.0" for 1e23; "inf", "nan"): ttserver's
    table queries read numbers without exponents ("1e-07" would read as 1),
    as tests/contract/test_tt_server_table.py shows.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("value must be an int or float, not %s" % type(value).__name__)
    if isinstance(value, int):
        return b"%d" % value
    text = repr(float(value))
    if "e" in text:
        from decimal import Decimal

        text = format(Decimal(text), "f")
        if "." not in text:
            text += ".0"
    return text.encode("ascii")

