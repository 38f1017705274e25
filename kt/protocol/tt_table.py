"""Tokyo Tyrant table databases: the column codec and the search model.

Who calls it: kt.table (QueryBuilder builds a TTSearch), kt.tyrant (table
get/put and searches through misc), kt.serializers (TT_TABLE values are
encode_columns strings) and the built-in Tokyo Tyrant server's table
database (kt.server), which reads searches with ``decode_search_args``.
kt.protocol.tt_binary carries these values over the wire as misc arguments
and re-exports every name defined here, so ``tt_binary.TTSearch`` and
friends keep working.

Sans-I/O: values in, bytes or lists of bytes out, and back.  Checked against
Tokyo Cabinet's ``tctdb.h`` / ``tcadb.c`` (tcadbmisc) and tcrdb.c of Tokyo
Tyrant 1.1.41:

* a table record travels as ``name\\0value\\0name\\0value`` (tcstrjoin4)
  in put/get values, and as separate misc arguments in misc put/get;
* a search is a list of misc arguments: ``addcond``, ``setorder``,
  ``setlimit`` per query, ``next`` between the queries of a metasearch, then
  ``get``, ``out``, ``count``, ``mstype`` and ``hint``.

This module sits below tt_binary (it imports nothing from it); the argument
limits of ttserver (MAXARGSIZ, MAXARGNUM) and the encoder argument checks
live here because both modules use them.
"""

from __future__ import annotations

import re
from typing import Dict, Final, List, Optional, Tuple, final

from kt.errors import ProtocolError

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

#: ttserver's limit of one key, value or argument (MAXARGSIZ, 256 MiB).
MAX_ARG_SIZE: Final = 256 << 20
#: ttserver's limit of the number of keys of mget / arguments of misc.
MAX_ARG_NUM: Final = 1 << 20

#: Prefix of the element a search with "hint" appends to its result.
HINT_PREFIX: Final = b"\x00\x00[[HINT]]\n"

_U32_MAX: Final = 0xFFFFFFFF
_U64_MAX: Final = 0xFFFFFFFFFFFFFFFF
_I32_MAX: Final = (1 << 31) - 1
_COND_FLAGS: Final = COND_NEGATE | COND_NO_INDEX


# ---------------------------------------------------------------------------
# Argument checks (shared with the command encoders of tt_binary)
# ---------------------------------------------------------------------------


def _check_bytes(what: str, value: bytes, limit: int) -> None:
    if not isinstance(value, bytes) or len(value) > limit:
        _refuse(what, value, "bytes", limit)


def _check_int(what: str, value: int, low: int, high: int) -> None:
    # (bool passes as the int it is: compiled with mypyc, an ``int``
    # parameter has already turned True into 1 before this check.)
    if not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if value < low or value > high:
        raise ValueError("%s must be in [%d, %d], not %d" % (what, low, high, value))


def _check_list(what: str, value: object, limit: int) -> None:
    if not isinstance(value, list) or len(value) > limit:
        _refuse(what, value, "a list", limit)


def _refuse(what: str, value: object, kind: str, limit: int) -> None:
    """Raise the error of a failed _check_bytes / _check_list: ValueError
    when ``value`` is of ``kind`` (it is then too long), else TypeError."""
    if kind == "bytes" and isinstance(value, bytes):
        raise ValueError(
            "%s is %d bytes long; the limit is %d bytes" % (what, len(value), limit)
        )
    if kind == "a list" and isinstance(value, list):
        raise ValueError("%s has %d items; the limit is %d" % (what, len(value), limit))
    raise TypeError("%s must be %s, not %s" % (what, kind, type(value).__name__))


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
    if not data:
        return {}
    fields = data.split(b"\x00")
    if len(fields) % 2:
        raise ProtocolError(
            "table record has %d NUL-separated fields, not name/value pairs" % len(fields)
        )
    return _pairs_dict(fields)


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
    return _pairs_dict(items)


def _pairs_dict(items: List[bytes]) -> Dict[bytes, bytes]:
    """[name, value, name, value...] (an even count) -> dict; last wins."""
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
        return (self.conditions, self.orders, self.limit, self.offset) == (
            other.conditions, other.orders, other.limit, other.offset
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
        return (self.queries, self.columns, self.out, self.count, self.hint, self.mstype) == (
            other.queries, other.columns, other.out, other.count, other.hint, other.mstype
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



def join_tokens(tokens: List[bytes]) -> bytes:
    """Expression of several tokens (STRAND, STROR, STROREQ, NUMBT, NUMOREQ,
    FTS...): joined by spaces; tokens with space, comma or NUL: ValueError."""
    _check_list("tokens", tokens, MAX_ARG_NUM)
    for token in tokens:
        _check_bytes("token", token, MAX_ARG_SIZE)
        if b" " in token or b"," in token or b"\x00" in token:
            raise ValueError("token %r must not contain space, comma or NUL" % token)
    return b" ".join(tokens)
