"""Tokyo Tyrant 1.1.41 binary protocol, both directions.

Who calls it:

* the Tokyo Tyrant client encodes requests with the ``encode_<command>``
  functions and parses the replies with the ``parse_*_reply`` functions and
  the incremental ``MgetReplyParser``, ``FwmkeysReplyParser`` and
  ``MiscReplyParser``;
* the built-in Tokyo Tyrant server parses requests with ``RequestParser``
  (one :class:`TTRequest` per call) and answers with the reply encoders
  (``encode_status``, ``encode_value_reply``, ``encode_mget_reply``...);
* both sides use the table-database helpers: the column codec
  (``encode_columns`` / ``decode_columns``), the misc argument helpers
  (``columns_to_args`` / ``args_to_columns``) and the search description
  (:class:`TTSearch`, ``encode_search_args`` / ``decode_search_args``).

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
import re
import struct
from typing import Dict, Final, List, Optional, Tuple, Union, final

from kt.errors import ProtocolError
from kt.protocol.buffer import ReceiveBuffer

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

# Index types for the table database's misc "setindex" (tctdb.h).  Note:
# 9998 and 9999, not the 10000 / 20000 that PROTOCOLS.md mentions.
INDEX_LEXICAL: Final = 0
INDEX_DECIMAL: Final = 1
INDEX_TOKEN: Final = 2
INDEX_QGRAM: Final = 3
INDEX_OPTIMIZE: Final = 9998
INDEX_VOID: Final = 9999
#: Flag added to an index type: fail if the index already exists.
INDEX_KEEP: Final = 1 << 24

# Search condition operators (tctdb.h TDBQC*).
COND_STR_EQ: Final = 0
COND_STR_INC: Final = 1
COND_STR_BW: Final = 2
COND_STR_EW: Final = 3
COND_STR_AND: Final = 4
COND_STR_OR: Final = 5
COND_STR_OREQ: Final = 6
COND_STR_RX: Final = 7
COND_NUM_EQ: Final = 8
COND_NUM_GT: Final = 9
COND_NUM_GE: Final = 10
COND_NUM_LT: Final = 11
COND_NUM_LE: Final = 12
COND_NUM_BT: Final = 13
COND_NUM_OREQ: Final = 14
COND_FTS_PH: Final = 15
COND_FTS_AND: Final = 16
COND_FTS_OR: Final = 17
COND_FTS_EX: Final = 18
#: Flag: negate the condition.
COND_NEGATE: Final = 1 << 24
#: Flag: do not use an index for the condition.
COND_NO_INDEX: Final = 1 << 25

# Order types (tctdb.h TDBQO*).
ORDER_STR_ASC: Final = 0
ORDER_STR_DESC: Final = 1
ORDER_NUM_ASC: Final = 2
ORDER_NUM_DESC: Final = 3

# Set operations of a metasearch (tctdb.h TDBMS*).
MS_UNION: Final = 0
MS_ISECT: Final = 1
MS_DIFF: Final = 2

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

#: ttserver's limit of one key, value or argument (MAXARGSIZ, 256 MiB).
MAX_ARG_SIZE: Final = 256 << 20
#: ttserver's limit of the number of keys of mget / arguments of misc.
MAX_ARG_NUM: Final = 1 << 20
#: ttserver's limit of an ext or misc function name (it must be < 1024).
MAX_NAME_SIZE: Final = 1023

#: Prefix of the element a search with "hint" appends to its result.
HINT_PREFIX: Final = b"\x00\x00[[HINT]]\n"

_U32_MAX: Final = 0xFFFFFFFF
_U64_MAX: Final = 0xFFFFFFFFFFFFFFFF
_I32_MIN: Final = -(1 << 31)
_I32_MAX: Final = (1 << 31) - 1
_I64_MIN: Final = -(1 << 63)
_I64_MAX: Final = (1 << 63) - 1
_TRILLION: Final = 1000000000000
_COND_FLAGS: Final = COND_NEGATE | COND_NO_INDEX

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
_H_II: Final = struct.Struct(">II")
_H_III: Final = struct.Struct(">III")
_H_IIII: Final = struct.Struct(">IIII")
_H_FWM: Final = struct.Struct(">Ii")
_H_ADDDBL: Final = struct.Struct(">Iqq")
_H_RESTORE: Final = struct.Struct(">IQI")
_H_SETMST: Final = struct.Struct(">IIQI")
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


def _check_bytes(what: str, value: bytes, limit: int) -> None:
    if not isinstance(value, bytes):
        raise TypeError("%s must be bytes, not %s" % (what, type(value).__name__))
    if len(value) > limit:
        raise ValueError(
            "%s is %d bytes long; the limit is %d bytes" % (what, len(value), limit)
        )


def _check_text(what: str, value: bytes, limit: int) -> None:
    """A name or path that ttserver handles as a C string: no NUL byte."""
    _check_bytes(what, value, limit)
    if b"\x00" in value:
        raise ValueError("%s must not contain a NUL byte" % what)


def _check_int(what: str, value: int, low: int, high: int) -> None:
    # (bool passes as the int it is: compiled with mypyc, an ``int``
    # parameter has already turned True into 1 before this check.)
    if not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if value < low or value > high:
        raise ValueError("%s must be in [%d, %d], not %d" % (what, low, high, value))


def _check_list(what: str, value: object, limit: int) -> None:
    if not isinstance(value, list):
        raise TypeError("%s must be a list, not %s" % (what, type(value).__name__))
    if len(value) > limit:
        raise ValueError(
            "%s has %d items; the limit is %d" % (what, len(value), limit)
        )


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
    if not buf.ensure(1):
        return None
    status: int = buf.data[buf.pos]
    if status != 0:
        buf.pos += 1
        return (status, {})
    if not buf.ensure(5):
        return None
    size: int = _U32.unpack_from(buf.data, buf.pos + 1)[0]
    if not buf.ensure(5 + size):
        return None
    start = buf.pos + 5
    end = start + size
    text = buf.data[start:end]
    buf.pos = end
    return (status, decode_stat_text(text))


def _read_sized_items(buf: ReceiveBuffer, out: List[bytes], remaining: int) -> int:
    """Consume complete ``[size u32][bytes]`` items; return how many are left."""
    while remaining > 0:
        if not buf.ensure(4):
            break
        size: int = _u32_at(buf.data, buf.pos) if _NATIVE else _U32.unpack_from(buf.data, buf.pos)[0]
        if not buf.ensure(4 + size):
            break
        start = buf.pos + 4
        end = start + size
        out.append(buf.data[start:end])
        buf.pos = end
        remaining -= 1
    return remaining


@final
class MgetReplyParser:
    """mget reply: (status, [(key, value), ...]) in the server's order.

    ttserver always answers status 0 and leaves missing keys out.  The
    record count follows the status byte whatever its value (tcrdb reads it
    unconditionally).  Records are consumed one by one as they complete.
    The parser resets itself after returning a result.
    """

    _started: bool
    _status: int
    _remaining: int
    _records: List[Tuple[bytes, bytes]]

    def __init__(self) -> None:
        self._started = False
        self._status = 0
        self._remaining = 0
        self._records = []

    def parse(self, buf: ReceiveBuffer) -> Optional[Tuple[int, List[Tuple[bytes, bytes]]]]:
        if not self._started:
            if not buf.ensure(5):
                return None
            status: int
            count: int
            status, count = _REP_U32.unpack_from(buf.data, buf.pos)
            buf.pos += 5
            self._started = True
            self._status = status
            self._remaining = count
            self._records = []
        remaining = self._remaining
        records = self._records
        while remaining > 0:
            if not buf.ensure(8):
                break
            ksiz: int
            vsiz: int
            if _NATIVE:
                ksiz = _u32_at(buf.data, buf.pos)
                vsiz = _u32_at(buf.data, buf.pos + 4)
            else:
                ksiz, vsiz = _U32X2.unpack_from(buf.data, buf.pos)
            if not buf.ensure(8 + ksiz + vsiz):
                break
            kstart = buf.pos + 8
            vstart = kstart + ksiz
            end = vstart + vsiz
            data = buf.data
            records.append((data[kstart:vstart], data[vstart:end]))
            buf.pos = end
            remaining -= 1
        self._remaining = remaining
        if remaining > 0:
            return None
        result = (self._status, records)
        self._started = False
        self._records = []
        return result


@final
class FwmkeysReplyParser:
    """fwmkeys reply: (status, [key, ...]).

    ttserver always answers status 0 plus the key count; following tcrdb, a
    non-zero status is taken to stand alone.  Keys are consumed as they
    complete; the parser resets itself after returning a result.
    """

    _started: bool
    _status: int
    _remaining: int
    _keys: List[bytes]

    def __init__(self) -> None:
        self._started = False
        self._status = 0
        self._remaining = 0
        self._keys = []

    def parse(self, buf: ReceiveBuffer) -> Optional[Tuple[int, List[bytes]]]:
        if not self._started:
            if not buf.ensure(1):
                return None
            first: int = buf.data[buf.pos]
            if first != 0:
                buf.pos += 1
                return (first, [])
            if not buf.ensure(5):
                return None
            status: int
            count: int
            status, count = _REP_U32.unpack_from(buf.data, buf.pos)
            buf.pos += 5
            self._started = True
            self._status = status
            self._remaining = count
            self._keys = []
        keys = self._keys
        remaining = _read_sized_items(buf, keys, self._remaining)
        self._remaining = remaining
        if remaining > 0:
            return None
        result = (self._status, keys)
        self._started = False
        self._keys = []
        return result


@final
class MiscReplyParser:
    """misc reply: (status, [element, ...]).

    The element count always follows the status byte: on failure ttserver
    sends status 1 and a count of 0.  Elements are consumed as they
    complete; the parser resets itself after returning a result.
    """

    _started: bool
    _status: int
    _remaining: int
    _elements: List[bytes]

    def __init__(self) -> None:
        self._started = False
        self._status = 0
        self._remaining = 0
        self._elements = []

    def parse(self, buf: ReceiveBuffer) -> Optional[Tuple[int, List[bytes]]]:
        if not self._started:
            if not buf.ensure(5):
                return None
            status: int
            count: int
            status, count = _REP_U32.unpack_from(buf.data, buf.pos)
            buf.pos += 5
            self._started = True
            self._status = status
            self._remaining = count
            self._elements = []
        elements = self._elements
        remaining = _read_sized_items(buf, elements, self._remaining)
        self._remaining = remaining
        if remaining > 0:
            return None
        result = (self._status, elements)
        self._started = False
        self._elements = []
        return result


# ---------------------------------------------------------------------------
# Server side: requests
# ---------------------------------------------------------------------------


@final
class TTRequest:
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

    def _fields(
        self,
    ) -> Tuple[
        int, bytes, bytes, int, int, int, int, bytes, int, bytes, int,
        List[bytes], List[bytes], bytes, bytes, int, bytes, int,
    ]:
        return (
            self.cmd, self.key, self.value, self.width, self.num, self.integral,
            self.fraction, self.prefix, self.max, self.name, self.opts, self.keys,
            self.args, self.params, self.path, self.ts, self.host, self.port,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TTRequest):
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        name = COMMAND_NAMES.get(self.cmd, hex(self.cmd))
        return "TTRequest(%s, key=%r, value=%r, name=%r, opts=%d, keys=%d, args=%d)" % (
            name, self.key[:32], self.value[:32], self.name, self.opts,
            len(self.keys), len(self.args),
        )


def _check_size(what: str, size: int) -> None:
    # ttserver reads sizes as signed ints and refuses negative ones and
    # ones above MAXARGSIZ by closing the connection.
    if size > MAX_ARG_SIZE:
        raise ProtocolError(
            "Tokyo Tyrant request: %s of %d bytes exceeds the limit of %d"
            % (what, size, MAX_ARG_SIZE)
        )


def _check_count(what: str, count: int) -> None:
    if count > MAX_ARG_NUM:
        raise ProtocolError(
            "Tokyo Tyrant request: %d %s exceed the limit of %d"
            % (count, what, MAX_ARG_NUM)
        )


def _check_name_size(size: int) -> None:
    if size > MAX_NAME_SIZE:
        raise ProtocolError(
            "Tokyo Tyrant request: function name of %d bytes exceeds the limit of %d"
            % (size, MAX_NAME_SIZE)
        )


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
        remaining = _read_sized_items_checked(buf, items, self._remaining)
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


def _read_sized_items_checked(buf: ReceiveBuffer, out: List[bytes], remaining: int) -> int:
    """Like _read_sized_items, refusing items larger than MAX_ARG_SIZE."""
    while remaining > 0:
        if not buf.ensure(4):
            break
        size: int = _u32_at(buf.data, buf.pos) if _NATIVE else _U32.unpack_from(buf.data, buf.pos)[0]
        _check_size("argument", size)
        if not buf.ensure(4 + size):
            break
        start = buf.pos + 4
        end = start + size
        out.append(buf.data[start:end])
        buf.pos = end
        remaining -= 1
    return remaining


def _parse_simple(buf: ReceiveBuffer, cmd: int) -> Optional[TTRequest]:
    """Parse a request whose length is known from its fixed header."""
    if (
        cmd == CMD_PUT
        or cmd == CMD_PUTKEEP
        or cmd == CMD_PUTCAT
        or cmd == CMD_PUTNR
    ):
        if not buf.ensure(10):
            return None
        ksiz: int
        vsiz: int
        ksiz, vsiz = _H_II.unpack_from(buf.data, buf.pos + 2)
        _check_size("key", ksiz)
        _check_size("value", vsiz)
        if not buf.ensure(10 + ksiz + vsiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 10
        req.key = buf.data[start:start + ksiz]
        req.value = buf.data[start + ksiz:start + ksiz + vsiz]
        buf.pos = start + ksiz + vsiz
        return req
    if cmd == CMD_OUT or cmd == CMD_GET or cmd == CMD_VSIZ:
        if not buf.ensure(6):
            return None
        ksiz = _H_I.unpack_from(buf.data, buf.pos + 2)[0]
        _check_size("key", ksiz)
        if not buf.ensure(6 + ksiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 6
        req.key = buf.data[start:start + ksiz]
        buf.pos = start + ksiz
        return req
    if (
        cmd == CMD_ITERINIT
        or cmd == CMD_ITERNEXT
        or cmd == CMD_SYNC
        or cmd == CMD_VANISH
        or cmd == CMD_RNUM
        or cmd == CMD_SIZE
        or cmd == CMD_STAT
    ):
        buf.pos += 2
        return TTRequest(cmd)
    if cmd == CMD_PUTSHL:
        if not buf.ensure(14):
            return None
        width: int
        ksiz, vsiz, width = _H_III.unpack_from(buf.data, buf.pos + 2)
        _check_size("key", ksiz)
        _check_size("value", vsiz)
        if width > _I32_MAX:
            raise ProtocolError("Tokyo Tyrant request: negative putshl width")
        if not buf.ensure(14 + ksiz + vsiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 14
        req.key = buf.data[start:start + ksiz]
        req.value = buf.data[start + ksiz:start + ksiz + vsiz]
        req.width = width
        buf.pos = start + ksiz + vsiz
        return req
    if cmd == CMD_FWMKEYS or cmd == CMD_ADDINT:
        if not buf.ensure(10):
            return None
        number: int
        ksiz, number = _H_FWM.unpack_from(buf.data, buf.pos + 2)
        _check_size("key", ksiz)
        if not buf.ensure(10 + ksiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 10
        if cmd == CMD_FWMKEYS:
            req.prefix = buf.data[start:start + ksiz]
            req.max = number
        else:
            req.key = buf.data[start:start + ksiz]
            req.num = number
        buf.pos = start + ksiz
        return req
    if cmd == CMD_ADDDOUBLE:
        if not buf.ensure(22):
            return None
        integral: int
        fraction: int
        ksiz, integral, fraction = _H_ADDDBL.unpack_from(buf.data, buf.pos + 2)
        _check_size("key", ksiz)
        if not buf.ensure(22 + ksiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 22
        req.key = buf.data[start:start + ksiz]
        req.integral = integral
        req.fraction = fraction
        buf.pos = start + ksiz
        return req
    if cmd == CMD_EXT:
        if not buf.ensure(18):
            return None
        nsiz: int
        opts: int
        nsiz, opts, ksiz, vsiz = _H_IIII.unpack_from(buf.data, buf.pos + 2)
        _check_name_size(nsiz)
        _check_size("key", ksiz)
        _check_size("value", vsiz)
        if not buf.ensure(18 + nsiz + ksiz + vsiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 18
        kstart = start + nsiz
        vstart = kstart + ksiz
        end = vstart + vsiz
        data = buf.data
        req.name = data[start:kstart]
        req.opts = opts
        req.key = data[kstart:vstart]
        req.value = data[vstart:end]
        buf.pos = end
        return req
    if cmd == CMD_OPTIMIZE or cmd == CMD_COPY:
        if not buf.ensure(6):
            return None
        psiz: int = _H_I.unpack_from(buf.data, buf.pos + 2)[0]
        _check_size("path", psiz)
        if not buf.ensure(6 + psiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 6
        if cmd == CMD_OPTIMIZE:
            req.params = buf.data[start:start + psiz]
        else:
            req.path = buf.data[start:start + psiz]
        buf.pos = start + psiz
        return req
    if cmd == CMD_RESTORE:
        if not buf.ensure(18):
            return None
        ts: int
        psiz, ts, opts = _H_RESTORE.unpack_from(buf.data, buf.pos + 2)
        _check_size("path", psiz)
        if not buf.ensure(18 + psiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 18
        req.path = buf.data[start:start + psiz]
        req.ts = ts
        req.opts = opts
        buf.pos = start + psiz
        return req
    if cmd == CMD_SETMST:
        if not buf.ensure(22):
            return None
        hsiz: int
        port: int
        hsiz, port, ts, opts = _H_SETMST.unpack_from(buf.data, buf.pos + 2)
        _check_size("host", hsiz)
        if port > _I32_MAX:
            raise ProtocolError("Tokyo Tyrant request: negative setmst port")
        if not buf.ensure(22 + hsiz):
            return None
        req = TTRequest(cmd)
        start = buf.pos + 22
        req.host = buf.data[start:start + hsiz]
        req.port = port
        req.ts = ts
        req.opts = opts
        buf.pos = start + hsiz
        return req
    raise ProtocolError("Tokyo Tyrant request: unknown command 0x%02x" % cmd)


# ---------------------------------------------------------------------------
# Server side: reply encoders
# ---------------------------------------------------------------------------

_MISC_FAILURE: Final = b"\x01\x00\x00\x00\x00"


def encode_status(code: int) -> bytes:
    """A status-only reply; also the whole failure reply of get, iternext,
    ext, vsiz, addint and adddouble (ttserver uses STATUS_FAILURE = 1)."""
    _check_int("code", code, 0, 255)
    return bytes((code,))


def encode_value_reply(value: bytes) -> bytes:
    """Successful get, iternext or ext: ``[0][size][value]``."""
    _check_bytes("value", value, _U32_MAX)
    return b"".join((_REP_U32.pack(0, len(value)), value))


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


# ---------------------------------------------------------------------------
# Table database: columns
# ---------------------------------------------------------------------------


def encode_columns(columns: Dict[bytes, bytes]) -> bytes:
    """Serialise columns as ``name\\0value\\0name\\0value`` (tcstrjoin4).

    This is the value format of put/get on a table database and of the
    records a search "get" returns.  It has no terminating NUL, so {} is
    b"".  Names and values must not contain NUL (ValueError).
    """
    if not isinstance(columns, dict):
        raise TypeError("columns must be a dict, not %s" % type(columns).__name__)
    parts: List[bytes] = []
    for name, value in columns.items():
        _check_bytes("column name", name, MAX_ARG_SIZE)
        _check_bytes("column value", value, MAX_ARG_SIZE)
        if b"\x00" in name or b"\x00" in value:
            raise ValueError("column names and values must not contain NUL bytes")
        parts.append(name)
        parts.append(value)
    return b"\x00".join(parts)


def decode_columns(data: bytes) -> Dict[bytes, bytes]:
    """Parse ``name\\0value\\0...`` into a dict (a repeated name: last wins).

    b"" is {}.  Otherwise the NUL-separated fields must pair up: an odd
    number of fields (e.g. a trailing NUL, or a name without a value) raises
    ProtocolError, where Tokyo Cabinet would silently drop the last field.
    In search "get" results the primary key comes as the column named b"".
    """
    result: Dict[bytes, bytes] = {}
    if not data:
        return result
    fields = data.split(b"\x00")
    if len(fields) % 2:
        raise ProtocolError(
            "table record has %d NUL-separated fields, not name/value pairs" % len(fields)
        )
    i = 0
    n = len(fields)
    while i < n:
        result[fields[i]] = fields[i + 1]
        i += 2
    return result


def columns_to_args(pkey: bytes, columns: Dict[bytes, bytes]) -> List[bytes]:
    """misc put/putkeep/putcat arguments: [pkey, name, value, name, value...].

    (As separate arguments, names and values may hold any bytes.)
    """
    _check_bytes("primary key", pkey, MAX_ARG_SIZE)
    if not isinstance(columns, dict):
        raise TypeError("columns must be a dict, not %s" % type(columns).__name__)
    args: List[bytes] = [pkey]
    for name, value in columns.items():
        _check_bytes("column name", name, MAX_ARG_SIZE)
        _check_bytes("column value", value, MAX_ARG_SIZE)
        args.append(name)
        args.append(value)
    return args


def args_to_columns(items: List[bytes]) -> Dict[bytes, bytes]:
    """[name, value, name, value...] (a misc "get" result, or misc put
    arguments after the primary key) -> dict; an odd count: ProtocolError."""
    if len(items) % 2:
        raise ProtocolError("%d items do not form name/value pairs" % len(items))
    result: Dict[bytes, bytes] = {}
    i = 0
    n = len(items)
    while i < n:
        result[items[i]] = items[i + 1]
        i += 2
    return result


# ---------------------------------------------------------------------------
# Table database: search
# ---------------------------------------------------------------------------


@final
class TTCondition:
    """One narrowing condition: ``column`` compared with ``expr`` by ``op``
    (a COND_* operator, optionally | COND_NEGATE | COND_NO_INDEX)."""

    column: bytes
    op: int
    expr: bytes

    def __init__(self, column: bytes, op: int, expr: bytes) -> None:
        self.column = column
        self.op = op
        self.expr = expr

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TTCondition):
            return NotImplemented
        return (self.column, self.op, self.expr) == (other.column, other.op, other.expr)

    def __repr__(self) -> str:
        return "TTCondition(%r, %d, %r)" % (self.column, self.op, self.expr)


@final
class TTOrder:
    """Result order: by ``column``, ``type`` one of ORDER_*."""

    column: bytes
    type: int

    def __init__(self, column: bytes, type: int) -> None:
        self.column = column
        self.type = type

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TTOrder):
            return NotImplemented
        return (self.column, self.type) == (other.column, other.type)

    def __repr__(self) -> str:
        return "TTOrder(%r, %d)" % (self.column, self.type)


@final
class TTQuery:
    """One query: conditions (all must hold), orders, limit and offset.

    ``limit`` -1 means no limit.  Tokyo Cabinet keeps only one order per
    query, so ttserver honours the last of ``orders``; the list exists so
    that what was sent decodes back unchanged.
    """

    conditions: List[TTCondition]
    orders: List[TTOrder]
    limit: int
    offset: int

    def __init__(
        self,
        conditions: Optional[List[TTCondition]] = None,
        orders: Optional[List[TTOrder]] = None,
        limit: int = -1,
        offset: int = 0,
    ) -> None:
        self.conditions = [] if conditions is None else conditions
        self.orders = [] if orders is None else orders
        self.limit = limit
        self.offset = offset

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TTQuery):
            return NotImplemented
        return (
            self.conditions == other.conditions
            and self.orders == other.orders
            and self.limit == other.limit
            and self.offset == other.offset
        )

    def __repr__(self) -> str:
        return "TTQuery(%r, %r, limit=%d, offset=%d)" % (
            self.conditions, self.orders, self.limit, self.offset,
        )


@final
class TTSearch:
    """A table search: the arguments of misc "search" / "metasearch".

    * ``queries``: one query is a plain search; several are a metasearch
      (sent separated by "next") combined by ``mstype`` (MS_*).
    * What the server returns (ttserver's tcadbmisc): by default the
      primary keys; with ``columns`` not None ("get") whole records as
      encode_columns() strings, the primary key under the name b"", reduced
      to the listed columns if the list is not empty; with ``out`` the
      matching records are removed (and returned if ``columns`` is set);
      with ``count`` the result is replaced by one element, the decimal
      count; with ``hint`` an element HINT_PREFIX + hint text is appended
      (see split_hint()).
    * misc_name() gives the misc function name to call; tcrdb sends
      "search" and "get"/"count" with MISC_NO_ULOG, "out" without.
    """

    queries: List[TTQuery]
    columns: Optional[List[bytes]]
    out: bool
    count: bool
    hint: bool
    mstype: int

    def __init__(
        self,
        queries: Optional[List[TTQuery]] = None,
        columns: Optional[List[bytes]] = None,
        out: bool = False,
        count: bool = False,
        hint: bool = False,
        mstype: int = MS_UNION,
    ) -> None:
        self.queries = [TTQuery()] if queries is None else queries
        self.columns = columns
        self.out = out
        self.count = count
        self.hint = hint
        self.mstype = mstype

    def misc_name(self) -> bytes:
        return b"metasearch" if len(self.queries) > 1 else b"search"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TTSearch):
            return NotImplemented
        return (
            self.queries == other.queries
            and self.columns == other.columns
            and self.out == other.out
            and self.count == other.count
            and self.hint == other.hint
            and self.mstype == other.mstype
        )

    def __repr__(self) -> str:
        return "TTSearch(%r, columns=%r, out=%r, count=%r, hint=%r, mstype=%d)" % (
            self.queries, self.columns, self.out, self.count, self.hint, self.mstype,
        )


def _check_column_name(what: str, name: bytes) -> None:
    _check_bytes(what, name, MAX_ARG_SIZE)
    if b"\x00" in name:
        raise ValueError("%s must not contain a NUL byte" % what)


def encode_search_args(search: TTSearch) -> List[bytes]:
    """The misc arguments of a search, in the form tcrdb sends them:
    ``addcond\\0<column>\\0<op>\\0<expr>``, ``setorder\\0<column>\\0<type>``,
    ``setlimit\\0<max>\\0<skip>`` (numbers in decimal), "next" between the
    queries of a metasearch, then ``get[\\0<column>...]``, "out", "count",
    and ``mstype\\0<type>`` for a metasearch; "hint" first if asked for.

    Columns and expressions are C strings on the server: NUL raises
    ValueError, as do operators, order types, limits and set types that
    ttserver would ignore.
    """
    if not isinstance(search, TTSearch):
        raise TypeError("search must be a TTSearch, not %s" % type(search).__name__)
    queries = search.queries
    if not isinstance(queries, list) or not queries:
        raise ValueError("a search needs at least one query")
    args: List[bytes] = []
    if search.hint:
        args.append(b"hint")
    first = True
    for query in queries:
        if not isinstance(query, TTQuery):
            raise TypeError("queries must be TTQuery objects")
        if not first:
            args.append(b"next")
        first = False
        for cond in query.conditions:
            if not isinstance(cond, TTCondition):
                raise TypeError("conditions must be TTCondition objects")
            _check_column_name("condition column", cond.column)
            _check_column_name("condition expression", cond.expr)
            _check_int("condition operator", cond.op, 0, _I32_MAX)
            if cond.op & ~_COND_FLAGS > COND_FTS_EX:
                raise ValueError("unknown condition operator %d" % cond.op)
            args.append(
                b"".join(
                    (b"addcond\x00", cond.column, b"\x00%d\x00" % cond.op, cond.expr)
                )
            )
        for order in query.orders:
            if not isinstance(order, TTOrder):
                raise TypeError("orders must be TTOrder objects")
            _check_column_name("order column", order.column)
            _check_int("order type", order.type, ORDER_STR_ASC, ORDER_NUM_DESC)
            args.append(b"".join((b"setorder\x00", order.column, b"\x00%d" % order.type)))
        _check_int("limit", query.limit, -1, _I32_MAX)
        _check_int("offset", query.offset, 0, _I32_MAX)
        if query.limit >= 0 or query.offset > 0:
            args.append(b"setlimit\x00%d\x00%d" % (query.limit, query.offset))
    if search.columns is not None:
        if not isinstance(search.columns, list):
            raise TypeError("columns must be a list or None")
        parts: List[bytes] = [b"get"]
        for name in search.columns:
            _check_column_name("column name", name)
            parts.append(name)
        args.append(b"\x00".join(parts))
    if search.out:
        args.append(b"out")
    if search.count:
        args.append(b"count")
    if len(queries) > 1:
        _check_int("mstype", search.mstype, MS_UNION, MS_DIFF)
        args.append(b"mstype\x00%d" % search.mstype)
    return args


_COND_NAMES: Final[Dict[bytes, int]] = {
    b"streq": COND_STR_EQ, b"str": COND_STR_EQ, b"eq": COND_STR_EQ,
    b"strinc": COND_STR_INC, b"inc": COND_STR_INC,
    b"strbw": COND_STR_BW, b"bw": COND_STR_BW,
    b"strew": COND_STR_EW, b"ew": COND_STR_EW,
    b"strand": COND_STR_AND, b"and": COND_STR_AND,
    b"stror": COND_STR_OR, b"or": COND_STR_OR,
    b"stroreq": COND_STR_OREQ, b"oreq": COND_STR_OREQ,
    b"strrx": COND_STR_RX, b"rx": COND_STR_RX,
    b"numeq": COND_NUM_EQ, b"num": COND_NUM_EQ, b"=": COND_NUM_EQ, b"==": COND_NUM_EQ,
    b"numgt": COND_NUM_GT, b">": COND_NUM_GT,
    b"numge": COND_NUM_GE, b">=": COND_NUM_GE,
    b"numlt": COND_NUM_LT, b"<": COND_NUM_LT,
    b"numle": COND_NUM_LE, b"<=": COND_NUM_LE,
    b"numbt": COND_NUM_BT,
    b"numoreq": COND_NUM_OREQ,
    b"ftsph": COND_FTS_PH, b"fts": COND_FTS_PH,
    b"ftsand": COND_FTS_AND,
    b"ftsor": COND_FTS_OR,
    b"ftsex": COND_FTS_EX,
}

_ORDER_NAMES: Final[Dict[bytes, int]] = {
    b"strasc": ORDER_STR_ASC, b"str": ORDER_STR_ASC, b"asc": ORDER_STR_ASC,
    b"strdesc": ORDER_STR_DESC, b"desc": ORDER_STR_DESC,
    b"numasc": ORDER_NUM_ASC, b"num": ORDER_NUM_ASC,
    b"numdesc": ORDER_NUM_DESC,
}

_MSTYPE_NAMES: Final[Dict[bytes, int]] = {
    b"union": MS_UNION, b"or": MS_UNION,
    b"isect": MS_ISECT, b"intersection": MS_ISECT, b"and": MS_ISECT,
    b"diff": MS_DIFF, b"difference": MS_DIFF, b"andnot": MS_DIFF, b"not": MS_DIFF,
}

# tcatoi(): blanks (0x01-0x20), an optional sign, then digits.
_ATOI_RE: Final = re.compile(rb"[\x01- ]*([+-]?)([0-9]*)")
# tcstrisnum(): blanks, optional '-', digits, optional '.', digits, blanks.
_ISNUM_RE: Final = re.compile(rb"[\x01- ]*-?([0-9]*)\.?([0-9]*)[\x01- ]*")


def _c_atoi(text: bytes) -> int:
    """tcatoi() stored into a C int: wraps like the C code (64, then 32 bits)."""
    m = _ATOI_RE.match(text)
    if m is None:
        return 0
    digits = m.group(2)
    if not digits:
        return 0
    # Only the last 64 digits matter modulo 2**64 (10**64 is a multiple of
    # 2**64), which also keeps int() away from huge strings.
    num = int(digits[-64:]) & _U64_MAX
    if m.group(1) == b"-":
        num = (-num) & _U64_MAX
    num &= _U32_MAX
    return num - (1 << 32) if num > _I32_MAX else num


def _c_isnum(text: bytes) -> bool:
    m = _ISNUM_RE.fullmatch(text)
    return m is not None and (len(m.group(1)) > 0 or len(m.group(2)) > 0)


def _cond_op_from_text(text: bytes) -> int:
    """tctdbqrystrtocondop(): a name, or a number; -1 if neither."""
    flags = 0
    if text[:1] == b"~" or text[:1] == b"!":
        flags |= COND_NEGATE
        text = text[1:]
    if text[:1] == b"+":
        flags |= COND_NO_INDEX
        text = text[1:]
    op = _COND_NAMES.get(text.lower(), -1)
    if op < 0 and _c_isnum(text):
        op = _c_atoi(text)
    if op < 0:
        return -1
    return op | flags


def _named_number(text: bytes, names: Dict[bytes, int]) -> int:
    value = names.get(text.lower(), -1)
    if value < 0 and _c_isnum(text):
        value = _c_atoi(text)
    return value


def decode_search_args(args: List[bytes]) -> TTSearch:
    """Server side: read misc search/metasearch arguments as ttserver does.

    Each argument is split at NUL bytes; the first field is the command.
    Accepted like Tokyo Cabinet's tcadbmisc: addcond/cond (operator by
    number or name such as "STREQ", "~NUMGT", "+FTS"), setorder/order
    (number or name), setlimit/limit/setmax/max (a negative max: no limit;
    a missing or negative skip: 0), get/columns, next, mstype, out/remove,
    count and hint.  Unknown commands, arguments with too few fields and
    unknown operators or order types are ignored, as ttserver ignores them.
    Never raises on any list of bytes.
    """
    query = TTQuery()
    search = TTSearch([query])
    for arg in args:
        tokens = arg.split(b"\x00")
        cmd = tokens[0]
        ntok = len(tokens)
        if (cmd == b"addcond" or cmd == b"cond") and ntok > 3:
            op = _cond_op_from_text(tokens[2])
            if op >= 0:
                query.conditions.append(TTCondition(tokens[1], op, tokens[3]))
        elif (cmd == b"setorder" or cmd == b"order") and ntok > 2:
            otype = _named_number(tokens[2], _ORDER_NAMES)
            if otype >= 0:
                query.orders.append(TTOrder(tokens[1], otype))
        elif (
            cmd == b"setlimit" or cmd == b"limit" or cmd == b"setmax" or cmd == b"max"
        ) and ntok > 1:
            limit = _c_atoi(tokens[1])
            skip = _c_atoi(tokens[2]) if ntok > 2 else 0
            query.limit = limit if limit >= 0 else -1
            query.offset = skip if skip > 0 else 0
        elif cmd == b"get" or cmd == b"columns":
            columns = search.columns
            if columns is None:
                columns = []
                search.columns = columns
            columns.extend(tokens[1:])
        elif cmd == b"next":
            query = TTQuery()
            search.queries.append(query)
        elif cmd == b"mstype" and ntok > 1:
            mstype = _named_number(tokens[1], _MSTYPE_NAMES)
            search.mstype = mstype if mstype >= 0 else MS_UNION
        elif cmd == b"out" or cmd == b"remove":
            search.out = True
        elif cmd == b"count":
            search.count = True
        elif cmd == b"hint":
            search.hint = True
    return search


def hint_element(hint: bytes) -> bytes:
    """Server side: the element a search with "hint" appends to its result."""
    return HINT_PREFIX + hint


def split_hint(elements: List[bytes]) -> Tuple[List[bytes], bytes]:
    """Client side: separate the hint element(s) from a search result.

    Like tcrdb's tcrdbqrypopmeta, trailing elements that start with
    HINT_PREFIX are removed; their texts (after the prefix; tcrdb keeps the
    prefix's final newline, this function does not) are joined in the order
    they are removed.  Returns (the other elements, hint text).
    """
    end = len(elements)
    hint: List[bytes] = []
    while end > 0 and elements[end - 1].startswith(HINT_PREFIX):
        hint.append(elements[end - 1][len(HINT_PREFIX):])
        end -= 1
    return (elements[:end], b"".join(hint))


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


def join_tokens(tokens: List[bytes]) -> bytes:
    """Expression of several tokens (STRAND, STROR, STROREQ, NUMBT, NUMOREQ,
    FTS...): joined by spaces; tokens with space, comma or NUL: ValueError."""
    _check_list("tokens", tokens, MAX_ARG_NUM)
    for token in tokens:
        _check_bytes("token", token, MAX_ARG_SIZE)
        if b" " in token or b"," in token or b"\x00" in token:
            raise ValueError("token %r must not contain space, comma or NUL" % token)
    return b" ".join(tokens)
