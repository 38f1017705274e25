"""The table database (``name.tct``) of the built-in Tokyo Tyrant server.

Who calls it: kt.server.tyrant.storage (``open_database``) and, through the
:class:`TableDatabase` methods shared with kt.server.tyrant.storage and its
misc commands (setindex, search, metasearch, genuid...),
kt.server.tyrant.engine.

A record is a primary key and an ordered map of columns.  Over the binary
protocol a record travels as ``name\\0value\\0name\\0value`` (put, get,
iternext...); misc put/get use separate arguments.  The query engine
follows Tokyo Cabinet 1.4.48's tctdb as ttserver exposes it:

* conditions: string equal / contains / begins / ends / all tokens / any
  token / equals a token / regex; numeric (real numbers, read without
  exponent) equal / gt / ge / lt / le / between / equals one of; full text
  phrase / all / any / compound expression over text normalised like
  Tokyo Cabinet (lower case, accents removed, spaces collapsed, full width
  to half width); negation and no-index flags; a condition on the column
  named "" tests the primary key; a record without the column matches only
  negated conditions;
* order by a column or the primary key, as strings or numbers, ascending or
  descending, records without the column last;
* limit and offset, count, out (remove), get (records, optionally reduced to
  some columns, the primary key as the column ""), hint, and metasearch
  (union, intersection, difference);
* indexes (lexical, decimal, token, q-gram; optimise; void) kept as
  Tokyo Cabinet keeps them, and searches planned and run with them as
  tctdbqrysearchimpl() does (kt.server.tyrant.tcsearch): an index walk is
  not checked against its own condition again, so an index can change
  results exactly where it changes them in ttserver.  Without an order,
  results come in the index's order or the records' natural order
  (insertion order here, storage order in Tokyo Cabinet: clients cannot
  rely on the latter).
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, bisect_right
from typing import Callable, Dict, Final, List, Optional, Pattern, Set, Tuple

from kt.protocol import tt_binary as tb
from kt.server.cnum import atoi32, isnum, tc_atof
from kt.server.ere import compile_tc_regex
from kt.server.snapshot import SnapshotError, SnapshotReader
from kt.server.tyrant.tcsearch import Search
from kt.server.tyrant.storage import (
    KIND_TABLE, TCEINVALID, TCEKEEP, TCENOREC, Database, open_file, prefix_keys, read_records_at,
    write_file,
)

__all__ = ["TableDatabase", "normalize_text", "split_columns"]

_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_U32X2: Final = struct.Struct(">II")
_INT_MIN: Final = -(1 << 31)
_NUM_COLUMN: Final = b"_num"

Columns = Dict[bytes, bytes]


def split_columns(value: bytes) -> Columns:
    """tcstrsplit4(): ``name\\0value\\0...`` -> columns; a trailing name
    without a value is dropped, a repeated name keeps its first position
    and its last value."""
    cols: Columns = {}
    if not value:
        return cols
    fields = value.split(b"\x00")
    n = len(fields) - 1
    i = 0
    while i < n:
        cols[fields[i]] = fields[i + 1]
        i += 2
    return cols


def join_columns(cols: Columns) -> bytes:
    parts: List[bytes] = []
    for name, value in cols.items():
        parts.append(name)
        parts.append(value)
    return b"\x00".join(parts)


def _cstr(value: bytes) -> bytes:
    """The C-string view of a value (up to its first NUL)."""
    nul = value.find(b"\x00")
    return value if nul < 0 else value[:nul]


# ---------------------------------------------------------------------------
# Text normalisation for full-text conditions (tcstrucsnorm with
# TCUNSPACE | TCUNLOWER | TCUNNOACC | TCUNWIDTH)
# ---------------------------------------------------------------------------


def _latin1_base(c: int) -> int:
    """Lower case and accent removal of U+00C0..U+00FF as Tokyo Cabinet does."""
    if 0xC0 <= c <= 0xDE and c != 0xD7:
        c += 0x20
    if c == 0xDF:
        return 0x73  # s
    if 0xE0 <= c <= 0xE5:
        return 0x61
    if c == 0xE7:
        return 0x63
    if 0xE8 <= c <= 0xEB:
        return 0x65
    if 0xEC <= c <= 0xEF:
        return 0x69
    if c == 0xF0:
        return 0x64
    if c == 0xF1:
        return 0x6E
    if 0xF2 <= c <= 0xF6 or c == 0xF8:
        return 0x6F
    if 0xF9 <= c <= 0xFC:
        return 0x75
    if 0xFD <= c <= 0xFF:
        return 0x79
    return c


_LATIN_EXT: Final[List[Tuple[int, int, str, bool]]] = [
    # (first, last, letter, even code points are upper case)
    (0x0100, 0x0105, "a", True), (0x0106, 0x010D, "c", True), (0x010E, 0x0111, "d", True),
    (0x0112, 0x011B, "e", True), (0x011C, 0x0123, "g", True), (0x0124, 0x0127, "h", True),
    (0x0128, 0x0131, "i", True), (0x0134, 0x0135, "j", True), (0x0136, 0x0138, "k", True),
    (0x0139, 0x0142, "l", False), (0x0143, 0x0148, "n", False), (0x0149, 0x014B, "n", True),
    (0x014C, 0x0151, "o", True), (0x0154, 0x0159, "r", True), (0x015A, 0x0161, "s", True),
    (0x0162, 0x0167, "t", True), (0x0168, 0x0173, "u", True), (0x0174, 0x0175, "w", True),
    (0x0176, 0x0178, "y", True), (0x0179, 0x017E, "z", False), (0x017F, 0x017F, "s", True),
]


def _norm_char(c: int) -> int:
    """One code point, lowered and without accent (-1: a space)."""
    if c <= 0x20 or c == 0x7F or c == 0xA0 or c in (0x2002, 0x2003, 0x2009, 0x3000):
        return -1
    if c < 0x7F:
        return c + 0x20 if 0x41 <= c <= 0x5A else c
    if c < 0x100:
        return _latin1_base(c)
    if c < 0x180:
        for first, last, letter, _ in _LATIN_EXT:
            if first <= c <= last:
                return ord(letter)
        return c
    if 0x391 <= c <= 0x3A9:
        return c + 0x20
    if 0x400 <= c <= 0x40F:
        return c + 0x50
    if 0x410 <= c <= 0x42F:
        return c + 0x20
    if c in (0x2010, 0x2015, 0x2212):
        return 0x2D
    if c == 0x2019:
        return 0x27
    if c == 0x2033:
        return 0x22
    if 0xFF01 <= c <= 0xFF5E:
        half = c - 0xFEE0
        return half + 0x20 if 0x41 <= half <= 0x5A else half
    return c


_NORM_CACHE: Dict[str, str] = {}


def normalize_text(value: bytes) -> str:
    """Full-text form of a value: lower case, accents removed, runs of
    blanks made one space (a leading blank dropped), full width made half
    width."""
    text = _cstr(value).decode("utf-8", "replace")
    out: List[str] = []
    last_space = True
    for ch in text:
        c = _norm_char(ord(ch))
        if c < 0:
            if not last_space:
                out.append(" ")
                last_space = True
            continue
        out.append(chr(c))
        last_space = False
    return "".join(out)


def _tokens(expr: bytes) -> List[bytes]:
    """Tokens of STRAND / STROR / STROREQ expressions: separated by bytes
    up to 0x20 and commas."""
    out: List[bytes] = []
    start = -1
    for i, c in enumerate(expr):
        if c <= 0x20 or c == 0x2C:
            if start >= 0:
                out.append(expr[start:i])
                start = -1
        elif start < 0:
            start = i
    if start >= 0:
        out.append(expr[start:])
    return out


def _num_tokens(expr: bytes) -> List[bytes]:
    """Tokens of NUMOREQ: separated by spaces and commas."""
    return [t for t in expr.replace(b",", b" ").split(b" ") if t]


def _fts_tokenize(text: str) -> List[str]:
    """tcstrtokenize(): blank-separated tokens, "double quoted" ones with
    backslash escapes."""
    out: List[str] = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and ord(text[i]) <= 0x20:
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            i += 1
            buf: List[str] = []
            while i < n:
                ch = text[i]
                if ch == "\\":
                    i += 1
                    if i < n:
                        buf.append(text[i])
                    i += 1
                elif ch == '"':
                    i += 1
                    break
                else:
                    buf.append(ch)
                    i += 1
            out.append("".join(buf))
        else:
            j = i
            while j < n and ord(text[j]) > 0x20:
                j += 1
            out.append(text[i:j])
            i = j + 1
    return out


# ---------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------


class Condition:
    """One compiled condition of a query."""

    def __init__(self, column: bytes, op: int, expr: bytes) -> None:
        self.column = _cstr(column)
        self.sign = not (op & tb.COND_NEGATE)
        self.noidx = bool(op & tb.COND_NO_INDEX)
        self.op = op & ~(tb.COND_NEGATE | tb.COND_NO_INDEX)
        self.expr = _cstr(expr)
        self.tokens: List[bytes] = []
        self.numbers: List[float] = []
        self.num = 0.0
        self.regex = None
        # Full text: units of (tokens, sign); a unit hits when one token is
        # a substring of the normalised value.
        self.units: List[Tuple[List[str], bool]] = []
        op_ = self.op
        if op_ in (tb.COND_STR_AND, tb.COND_STR_OR, tb.COND_STR_OREQ):
            self.tokens = _tokens(self.expr)
        elif op_ == tb.COND_STR_RX:
            self.regex = compile_tc_regex(self.expr)
        elif tb.COND_NUM_EQ <= op_ <= tb.COND_NUM_LE:
            self.num = tc_atof(self.expr)
        elif op_ == tb.COND_NUM_BT:
            self.numbers = _between_bounds(self.expr)
        elif op_ == tb.COND_NUM_OREQ:
            self.numbers = [tc_atof(t) for t in _num_tokens(self.expr)]
        elif tb.COND_FTS_PH <= op_ <= tb.COND_FTS_EX:
            self._parse_fts()

    def _parse_fts(self) -> None:
        op = self.op
        if op == tb.COND_FTS_PH:
            self.units.append(([normalize_text(self.expr)], True))
            return
        if op == tb.COND_FTS_AND or op == tb.COND_FTS_OR:
            # Tokens are split from the raw expression (not normalised), as
            # Tokyo Cabinet does.
            raw = self.expr.decode("utf-8", "replace")
            for sep in "\t\n\r,":
                raw = raw.replace(sep, " ")
            words = [w for w in raw.split(" ") if w]
            if op == tb.COND_FTS_AND:
                for w in words[:32]:
                    self.units.append(([w], True))
            else:
                self.units.append((words, True))
            return
        mode = 0
        for token in _fts_tokenize(normalize_text(self.expr)):
            if token == "&&":
                mode = 0
            elif token == "||":
                mode = 1
            elif token == "!!":
                mode = 2
            else:
                if mode == 0 or mode == 2:
                    if len(self.units) >= 32:
                        break
                    self.units.append(([token], mode == 0))
                else:
                    if not self.units:
                        self.units.append(([], False))
                    self.units[-1][0].append(token)
                mode = 0

    def hit(self, value: bytes) -> bool:
        """Whether the condition (without its negation) holds for a value."""
        op = self.op
        if op == tb.COND_STR_EQ:
            return value == self.expr
        v = _cstr(value)
        if op == tb.COND_STR_INC:
            return self.expr in v
        if op == tb.COND_STR_BW:
            return v.startswith(self.expr)
        if op == tb.COND_STR_EW:
            return v.endswith(self.expr)
        if op == tb.COND_STR_AND:
            have = set(_tokens(v))
            for t in self.tokens:
                if t not in have:
                    return False
            return True
        if op == tb.COND_STR_OR:
            have = set(_tokens(v))
            for t in self.tokens:
                if t in have:
                    return True
            return False
        if op == tb.COND_STR_OREQ:
            return v in self.tokens
        if op == tb.COND_STR_RX:
            return self.regex is not None and self.regex.search(v) is not None
        if op == tb.COND_NUM_EQ:
            return tc_atof(v) == self.num
        if op == tb.COND_NUM_GT:
            return tc_atof(v) > self.num
        if op == tb.COND_NUM_GE:
            return tc_atof(v) >= self.num
        if op == tb.COND_NUM_LT:
            return tc_atof(v) < self.num
        if op == tb.COND_NUM_LE:
            return tc_atof(v) <= self.num
        if op == tb.COND_NUM_BT:
            x = tc_atof(v)
            return self.numbers[0] <= x <= self.numbers[1]
        if op == tb.COND_NUM_OREQ:
            x = tc_atof(v)
            return x in self.numbers
        if tb.COND_FTS_PH <= op <= tb.COND_FTS_EX:
            return self._fts_hit(normalize_text(v))
        return False

    def _fts_hit(self, text: str) -> bool:
        units = self.units
        if not units or not units[0][1]:
            return False
        for words, sign in units:
            found = False
            for w in words:
                if w in text:
                    found = True
                    break
            if found != sign:
                return False
        return True

    def matches(self, pk: bytes, cols: Columns) -> bool:
        if not self.column:
            return self.hit(pk) == self.sign
        value = cols.get(self.column)
        if value is None:
            return not self.sign
        return self.hit(value) == self.sign


def _between_bounds(expr: bytes) -> List[float]:
    text = expr.lstrip(b" ,")
    end = 0
    while end < len(text) and text[end:end + 1] not in (b" ", b","):
        end += 1
    lower = tc_atof(text[:end])
    rest = text[end + 1:].lstrip(b" ,") if end < len(text) else b""
    upper = tc_atof(rest)
    if lower > upper:
        lower, upper = upper, lower
    return [lower, upper]


# ---------------------------------------------------------------------------
# Indexes
# ---------------------------------------------------------------------------


class Index:
    """Base of the column indexes: ``candidates`` returns a superset of the
    primary keys that can satisfy a condition, or None when this index does
    not help with it."""

    type_code = 0
    type_name = "lexical"

    def __init__(self, column: bytes) -> None:
        self.column = column
        self.present: Set[bytes] = set()

    def add(self, pk: bytes, value: bytes) -> None:
        self.present.add(pk)

    def remove(self, pk: bytes, value: bytes) -> None:
        self.present.discard(pk)

    def candidates(self, cond: Condition) -> Optional[Set[bytes]]:
        return None


def idx_hash(pk: bytes) -> bytes:
    """tctdbidxhash(): the 16-bit hash of a primary key that Tokyo Cabinet
    appends (big-endian, after a NUL) to a value in a column index."""
    h = 19780211
    for c in pk:
        h = (h * 37 + c) & 0xFFFFFFFF
    return bytes(((h >> 8) & 0xFF, h & 0xFF))


def _wrap64(n: int) -> int:
    return ((n + (1 << 63)) & 0xFFFFFFFFFFFFFFFF) - (1 << 63)


def decimal_key(key: bytes) -> Tuple[int, float, bytes]:
    """A sort key that orders like tccmpdecimal(): the integer part (after
    blanks and a "-", as a wrapping 64-bit number), then the fraction when
    a "." follows it (up to 16 characters), then the bytes."""
    n = len(key)
    i = 0
    while i < n and (key[i] <= 0x20 or key[i] == 0x7F):
        i += 1
    sign = 1
    if i < n and key[i] == 0x2D:
        sign = -1
        i += 1
    num = 0
    while i < n and 0x30 <= key[i] <= 0x39:
        num = _wrap64(num * 10 + key[i] - 0x30)
        i += 1
    frac = 0.0
    if n - i > 1 and key[i] == 0x2E:
        i += 1
        end = min(n, i + 16)
        base = 10.0
        while i < end and 0x30 <= key[i] <= 0x39:
            frac += (key[i] - 0x30) / base
            base *= 10.0
            i += 1
        frac *= sign
    return (_wrap64(num * sign), frac, key)


class TreeIndex(Index):
    """A lexical or decimal index as Tokyo Cabinet keeps it: a B+ tree from
    ``value NUL hash(pk)`` (the primary key itself for an index of the
    column "") to primary keys, duplicates in the order they were put,
    ordered bytewise or with tccmpdecimal().  The query planner
    (kt.server.tyrant.tcsearch) walks it with cursors: positions in
    ``keys``, then in the key's list of primary keys."""

    def __init__(self, column: bytes, decimal: bool) -> None:
        Index.__init__(self, column)
        self.decimal = decimal
        self.type_code = tb.INDEX_DECIMAL if decimal else tb.INDEX_LEXICAL
        self.type_name = "decimal" if decimal else "lexical"
        self.trim = bool(column)
        self.order: List[Tuple[int, float, bytes]] = []
        self.keys: List[bytes] = []
        self.dups: Dict[bytes, List[bytes]] = {}
        self.count = 0

    def sort_key(self, key: bytes) -> Tuple[int, float, bytes]:
        return decimal_key(key) if self.decimal else (0, 0.0, key)

    def entry(self, pk: bytes, value: bytes) -> bytes:
        return value + b"\x00" + idx_hash(pk) if self.trim else pk

    def add(self, pk: bytes, value: bytes) -> None:
        self.present.add(pk)
        key = self.entry(pk, value)
        pks = self.dups.get(key)
        if pks is None:
            sk = self.sort_key(key)
            i = bisect_left(self.order, sk)
            self.order.insert(i, sk)
            self.keys.insert(i, key)
            self.dups[key] = [pk]
            self.count += 1
        elif self.trim:
            pks.append(pk)
            self.count += 1

    def remove(self, pk: bytes, value: bytes) -> None:
        self.present.discard(pk)
        key = self.entry(pk, value)
        pks = self.dups.get(key)
        if pks is None or pk not in pks:
            return
        pks.remove(pk)
        self.count -= 1
        if not pks:
            del self.dups[key]
            i = bisect_left(self.order, self.sort_key(key))
            del self.order[i]
            del self.keys[i]

    def jump(self, key: bytes) -> int:
        """tcbdbcurjump(): the first key not before ``key``."""
        return bisect_left(self.order, self.sort_key(key))

    def jumpback(self, key: bytes) -> int:
        """tcbdbcurjumpback(): the last key not after ``key`` (-1: none)."""
        return bisect_right(self.order, self.sort_key(key)) - 1


def _lexical_index(column: bytes) -> Index:
    return TreeIndex(column, False)


def _decimal_index(column: bytes) -> Index:
    return TreeIndex(column, True)


class TokenIndex(Index):
    type_code = tb.INDEX_TOKEN
    type_name = "token"

    def __init__(self, column: bytes) -> None:
        Index.__init__(self, column)
        self.postings: Dict[bytes, Set[bytes]] = {}

    def add(self, pk: bytes, value: bytes) -> None:
        self.present.add(pk)
        for t in set(_tokens(_cstr(value))):
            self.postings.setdefault(t, set()).add(pk)

    def remove(self, pk: bytes, value: bytes) -> None:
        self.present.discard(pk)
        for t in set(_tokens(_cstr(value))):
            pks = self.postings.get(t)
            if pks is not None:
                pks.discard(pk)
                if not pks:
                    del self.postings[t]

    def candidates(self, cond: Condition) -> Optional[Set[bytes]]:
        if cond.op == tb.COND_STR_AND:
            # Tokyo Cabinet answers an empty token list from the index: no
            # record (a scan would accept every record).
            result: Optional[Set[bytes]] = None
            for t in cond.tokens:
                pks = self.postings.get(t, set())
                result = set(pks) if result is None else result & pks
            return result if result is not None else set()
        if cond.op == tb.COND_STR_OR:
            out: Set[bytes] = set()
            for t in cond.tokens:
                out.update(self.postings.get(t, ()))
            return out
        return None


class QgramIndex(Index):
    """Full-text index: the 2-grams of each value's normalised text."""

    type_code = tb.INDEX_QGRAM
    type_name = "q-gram"

    def __init__(self, column: bytes) -> None:
        Index.__init__(self, column)
        self.postings: Dict[str, Set[bytes]] = {}

    @staticmethod
    def grams(text: str) -> Set[str]:
        return {text[i:i + 2] for i in range(len(text) - 1)}

    def add(self, pk: bytes, value: bytes) -> None:
        self.present.add(pk)
        for g in self.grams(normalize_text(value)):
            self.postings.setdefault(g, set()).add(pk)

    def remove(self, pk: bytes, value: bytes) -> None:
        self.present.discard(pk)
        for g in self.grams(normalize_text(value)):
            pks = self.postings.get(g)
            if pks is not None:
                pks.discard(pk)
                if not pks:
                    del self.postings[g]

    def _word(self, word: str) -> Set[bytes]:
        if len(word) < 2:
            return set(self.present)
        result: Optional[Set[bytes]] = None
        for g in self.grams(word):
            pks = self.postings.get(g, set())
            result = set(pks) if result is None else result & pks
            if not result:
                break
        return result if result is not None else set()

    def candidates(self, cond: Condition) -> Optional[Set[bytes]]:
        if not (tb.COND_FTS_PH <= cond.op <= tb.COND_FTS_EX):
            return None
        result: Optional[Set[bytes]] = None
        for words, sign in cond.units:
            if not sign:
                continue
            unit: Set[bytes] = set()
            for w in words:
                unit |= self._word(w)
            result = unit if result is None else result & unit
        return result if result is not None else set()


_INDEX_CLASSES: Final[Dict[int, Callable[[bytes], Index]]] = {
    tb.INDEX_LEXICAL: _lexical_index,
    tb.INDEX_DECIMAL: _decimal_index,
    tb.INDEX_TOKEN: TokenIndex,
    tb.INDEX_QGRAM: QgramIndex,
}

_INDEX_NAMES: Final[Dict[str, int]] = {
    "LEX": tb.INDEX_LEXICAL, "LEXICAL": tb.INDEX_LEXICAL, "STR": tb.INDEX_LEXICAL,
    "DEC": tb.INDEX_DECIMAL, "DECIMAL": tb.INDEX_DECIMAL, "NUM": tb.INDEX_DECIMAL,
    "TOK": tb.INDEX_TOKEN, "TOKEN": tb.INDEX_TOKEN,
    "QGR": tb.INDEX_QGRAM, "QGRAM": tb.INDEX_QGRAM, "FTS": tb.INDEX_QGRAM,
    "OPT": tb.INDEX_OPTIMIZE, "OPTIMIZE": tb.INDEX_OPTIMIZE,
    "VOID": tb.INDEX_VOID, "NULL": tb.INDEX_VOID,
}


def index_type_from_text(text: bytes) -> int:
    """tctdbstrtoindextype(): a name (LEXICAL, DECIMAL, TOKEN, QGRAM, OPT,
    VOID...) or a number, "+" in front for "keep"; -1 if neither."""
    flags = 0
    if text[:1] == b"+":
        flags = tb.INDEX_KEEP
        text = text[1:]
    name = text.decode("latin-1").upper()
    if name in _INDEX_NAMES:
        return _INDEX_NAMES[name] | flags
    if isnum(text):
        return atoi32(text) | flags
    return -1


def _varint_len(n: int) -> int:
    size = 1
    while n >= 128:
        n >>= 7
        size += 1
    return size


# ---------------------------------------------------------------------------
# The table database
# ---------------------------------------------------------------------------


class TableDatabase(Database):
    """``name.tct``: column records, indexes, searches."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.on_file = True
        self.type_name = "table"
        self.records: Dict[bytes, Columns] = {}
        self.seq: Dict[bytes, int] = {}
        self.next_seq = 0
        self.uid = 0
        self.indexes: Dict[bytes, Index] = {}
        self._iter_keys: List[bytes] = []
        self._iter_pos = 0

    # -- records ----------------------------------------------------------
    def genuid(self) -> int:
        self.uid += 1
        self._meta_changed()
        return self.uid

    def _pk(self, key: bytes) -> bytes:
        return b"%d" % self.genuid() if not key else key

    def _index_remove(self, pk: bytes, cols: Columns) -> None:
        for name, index in self.indexes.items():
            value = cols.get(name) if name else pk
            if value is not None:
                index.remove(pk, value)

    def _index_add(self, pk: bytes, cols: Columns) -> None:
        # an index of the column "" indexes the primary keys
        for name, index in self.indexes.items():
            value = cols.get(name) if name else pk
            if value is not None:
                index.add(pk, value)

    def store(self, pk: bytes, cols: Columns, mode: int, raw: bool = False) -> bool:
        """tctdbput / putkeep / putcat (mode 0 / 1 / 2).  ``raw``: the
        columns come from bytes stored as they are (putshl), where ttserver
        keeps even a column with an empty name.  An empty primary key (misc
        put) and an empty value in a q-gram indexed column are refused: both
        crash ttserver 1.1.41."""
        if (b"" in cols and not raw) or not pk or self._empty_qgram(cols):
            self.ecode = TCEINVALID
            return False
        old = self.records.get(pk)
        if old is not None:
            if mode == 1:
                self.ecode = TCEKEEP
                return False
            if mode == 2:
                merged = dict(old)
                for name, value in cols.items():
                    if name not in merged:
                        merged[name] = value
                cols = merged
            self._index_remove(pk, old)
        else:
            self.seq[pk] = self.next_seq
            self.next_seq += 1
        self.records[pk] = cols
        self._index_add(pk, cols)
        self._changed(pk)
        return True

    def _empty_qgram(self, cols: Columns) -> bool:
        for name, index in self.indexes.items():
            if index.type_code == tb.INDEX_QGRAM and cols.get(name) == b"":
                return True
        return False

    def put(self, key: bytes, value: bytes) -> bool:
        return self.store(self._pk(key), split_columns(value), 0)

    def putkeep(self, key: bytes, value: bytes) -> bool:
        return self.store(self._pk(key), split_columns(value), 1)

    def putcat(self, key: bytes, value: bytes) -> bool:
        return self.store(self._pk(key), split_columns(value), 2)

    def putshl(self, key: bytes, value: bytes, width: int) -> bool:
        if width < 0:  # crashes ttserver 1.1.41: refused here
            self.ecode = TCEINVALID
            return False
        old = self.records.get(key)
        if old is None:
            return self.put(key, value)
        joined = join_columns(old) + value
        if width < len(joined):
            joined = joined[len(joined) - width:]
        return self.store(key, split_columns(joined), 0, True)

    def out(self, key: bytes) -> bool:
        old = self.records.pop(key, None)
        if old is None:
            self.ecode = TCENOREC
            return False
        del self.seq[key]
        self._index_remove(key, old)
        self._changed(key)
        return True

    def get(self, key: bytes) -> Optional[bytes]:
        cols = self.records.get(key)
        if cols is None:
            self.ecode = TCENOREC
            return None
        return join_columns(cols)

    def vsiz(self, key: bytes) -> int:
        """The size of the record in Tokyo Cabinet's internal column map
        serialisation (a 7-bit variable-length size before each name and
        value), which is what ttserver's vsiz reports for a table."""
        cols = self.records.get(key)
        if cols is None:
            self.ecode = TCENOREC
            return -1
        total = 0
        for name, value in cols.items():
            total += _varint_len(len(name)) + len(name) + _varint_len(len(value)) + len(value)
        return total

    def _add_number(self, key: bytes, num: float) -> float:
        pk = self._pk(key)
        old = self.records.get(pk)
        cols: Columns = dict(old) if old is not None else {}
        current = cols.get(_NUM_COLUMN)
        if current is not None:
            num += tc_atof(current)
        if math.isnan(num) or math.isinf(num):
            text = ("%f" % num).encode()
        else:
            text = ("%f" % num).encode()
            text = text.rstrip(b"0")
            if text.endswith(b"."):
                text = text[:-1]
        cols[_NUM_COLUMN] = text
        # a column with an empty name that putshl stored stays, as in ttserver
        if not self.store(pk, cols, 0, old is not None and b"" in old):
            return math.nan
        return num

    def addint(self, key: bytes, num: int) -> Optional[int]:
        total = self._add_number(key, float(num))
        if math.isnan(total) or not (-2147483648.0 <= total < 2147483648.0):
            return None
        result = int(total)
        return None if result == _INT_MIN else result

    def adddouble(self, key: bytes, num: float) -> Optional[float]:
        total = self._add_number(key, num)
        return None if math.isnan(total) else total

    # -- iteration --------------------------------------------------------
    def iterinit(self) -> bool:
        self._iter_keys = list(self.records)
        self._iter_pos = 0
        return True

    def iterinit_at(self, key: bytes) -> bool:
        if key not in self.records:
            self.ecode = TCENOREC
            return False
        self._iter_keys = list(self.records)
        self._iter_pos = self._iter_keys.index(key)
        return True

    def iternext(self) -> Optional[bytes]:
        return self._next_listed(self.records)

    def fwmkeys(self, prefix: bytes, max: int) -> List[bytes]:
        return prefix_keys(self.records, prefix, max)

    def regex_records(self, pattern: Pattern[bytes], limit: int) -> List[bytes]:
        records = self.records
        return self._regex_over(records, pattern, limit, lambda pk: join_columns(records[pk]))

    # -- management -------------------------------------------------------
    def rnum(self) -> int:
        return len(self.records)

    def size(self) -> int:
        total = 0
        for pk, cols in self.records.items():
            total += len(pk) + 16
            for name, value in cols.items():
                total += len(name) + len(value) + 2
        return total + 9664

    def vanish(self) -> bool:
        self.records = {}
        self.seq = {}
        self.uid = 0
        self._iter_keys = []
        for name in list(self.indexes):
            self.indexes[name] = _INDEX_CLASSES[self.indexes[name].type_code](name)
        self._cleared()
        return True

    def supports_defrag(self) -> bool:
        return True

    def set_index(self, column: bytes, itype: int) -> bool:
        """tctdbsetindex(): create (rebuild unless "keep"), optimise or
        remove the index of a column."""
        keep = bool(itype & tb.INDEX_KEEP)
        base = itype & ~tb.INDEX_KEEP
        column = _cstr(column)
        if column in self.indexes and keep:
            self.ecode = TCEKEEP
            return False
        if base == tb.INDEX_VOID:
            if self.indexes.pop(column, None) is None:
                return False
            self._meta_changed()
            return True
        if base == tb.INDEX_OPTIMIZE:
            return column in self.indexes
        factory = _INDEX_CLASSES.get(base)
        if not column and base == tb.INDEX_QGRAM:
            return False  # a q-gram index of the primary key crashes ttserver
        if factory is None:
            # Tokyo Cabinet drops the column's old index before it finds
            # that the new type is not one it knows
            if self.indexes.pop(column, None) is not None:
                self._meta_changed()
            return False
        index = factory(column)
        for pk, cols in self.records.items():
            value = cols.get(column) if column else pk
            if value is not None:
                index.add(pk, value)
        # a new index goes after the others, as in Tokyo Cabinet
        self.indexes.pop(column, None)
        self.indexes[column] = index
        self._meta_changed()
        return True

    # -- queries ----------------------------------------------------------
    def natural(self, pks: Set[bytes]) -> List[bytes]:
        """Primary keys in the records' natural order."""
        seq = self.seq
        return sorted(pks, key=seq.__getitem__)

    def run_query(self, query: tb.TTQuery, hint: List[str]) -> List[bytes]:
        """The primary keys a query finds, in order, limited: planned and
        run as Tokyo Cabinet does (kt.server.tyrant.tcsearch)."""
        conds = [Condition(c.column, c.op, c.expr) for c in query.conditions]
        oname: Optional[bytes] = None
        otype = 0
        if query.orders:
            order = query.orders[-1]
            oname, otype = _cstr(order.column), order.type
        return Search(self, conds, query.limit, query.offset, oname, otype, hint).run()

    def sort_keys(self, pks: List[bytes], column: bytes, otype: int) -> List[bytes]:
        """Primary keys sorted by a column (or the primary key, column "")
        as tctdbqrysearchimpl sorts them: records without it last."""
        column = _cstr(column)
        desc = otype == tb.ORDER_STR_DESC or otype == tb.ORDER_NUM_DESC
        numeric = otype == tb.ORDER_NUM_ASC or otype == tb.ORDER_NUM_DESC
        if otype < tb.ORDER_STR_ASC or otype > tb.ORDER_NUM_DESC:
            return pks
        if not column:
            if numeric:
                return sorted(pks, key=decimal_key, reverse=desc)
            return sorted(pks, reverse=desc)
        have: List[bytes] = []
        missing: List[bytes] = []
        records = self.records
        for pk in pks:
            if column in records[pk]:
                have.append(pk)
            else:
                missing.append(pk)
        if numeric:
            def numkey(pk: bytes) -> float:
                num = tc_atof(_cstr(records[pk][column]))
                return 0.0 if math.isnan(num) else num
            have.sort(key=numkey, reverse=desc)
        else:
            def strkey(pk: bytes) -> bytes:
                return records[pk][column]
            have.sort(key=strkey, reverse=desc)
        return have + missing

    def _record_element(self, pk: bytes, names: List[bytes]) -> Optional[bytes]:
        cols = self.records.get(pk)
        if cols is None:
            return None
        if b"" in cols:
            # a column with an empty name (only putshl stores one): ttserver
            # puts the primary key under "" over it
            cols = dict(cols)
            cols[b""] = pk
            if not names:
                return join_columns(cols)
        if names:
            full: Columns = {b"": pk}
            full.update(cols)
            full[b""] = pk
            chosen: Columns = {}
            for name in names:
                value = full.get(name)
                if value is not None:
                    chosen[name] = value
            return join_columns(chosen)
        if cols:
            return b"\x00".join((b"", pk, join_columns(cols)))
        return b"\x00" + pk

    def search(self, args: List[bytes]) -> Optional[List[bytes]]:
        """misc search / metasearch, as ttserver answers them."""
        spec = tb.decode_search_args(args)
        hint: List[str] = []
        names = spec.columns
        rv: List[bytes]
        count = 0
        if spec.out:
            query = spec.queries[-1]
            pks = self.run_query(query, hint)
            rv = []
            for pk in pks:
                if names is not None:
                    element = self._record_element(pk, names)
                    if element is not None:
                        rv.append(element)
                self.out(pk)
            count = len(pks)
        else:
            if len(spec.queries) > 1:
                pks = self._metasearch(spec.queries, spec.mstype, hint)
                count = 0
            else:
                pks = self.run_query(spec.queries[0], hint)
                count = len(pks)
            if names is not None:
                rv = []
                for pk in pks:
                    element = self._record_element(pk, names)
                    if element is not None:
                        rv.append(element)
            else:
                rv = pks
        if spec.count:
            rv = [b"%d" % count]
        if spec.hint:
            rv.append(tb.hint_element("".join(hint).encode("utf-8")))
        return rv

    def _metasearch(self, queries: List[tb.TTQuery], mstype: int, hint: List[str]) -> List[bytes]:
        """tctdbmetasearch: a union runs each query with its limit widened
        by its offset, then sorts by the first query's order; an
        intersection or difference runs every query without limit (its
        order is that of the results narrowing it down); the first query's
        offset and limit then cut the combined result."""
        first = queries[0]
        lines: List[str] = []
        uset: Dict[bytes, None] = {}
        for i, query in enumerate(queries):
            qhint: List[str] = []
            if i > 0 and mstype != tb.MS_UNION and not uset:
                qhint.append("omitted\n")
            elif mstype == tb.MS_UNION:
                widen = query.limit + query.offset if query.limit >= 0 else -1
                for pk in self._run_limited(query, widen, qhint):
                    uset.setdefault(pk, None)
            elif i == 0:
                uset = dict.fromkeys(self._run_limited(query, -1, qhint))
            elif mstype == tb.MS_ISECT:
                uset = {pk: None for pk in self._run_limited(query, -1, qhint) if pk in uset}
            else:
                for pk in self._run_limited(query, -1, qhint):
                    uset.pop(pk, None)
            for line in "".join(qhint).split("\n"):
                if line:
                    lines.append("[%d] %s\n" % (i, line))
        out = list(uset)
        if mstype == tb.MS_UNION and first.orders:
            order = first.orders[-1]
            out = self.sort_keys(out, order.column, order.type)
        if first.offset > 0:
            out = out[first.offset:]
        if first.limit >= 0:
            out = out[:first.limit]
        hint.extend(lines)
        return out

    def _run_limited(self, query: tb.TTQuery, limit: int, hint: List[str]) -> List[bytes]:
        """run_query with ``limit`` and no offset."""
        saved = (query.limit, query.offset)
        query.limit = limit
        query.offset = 0
        try:
            return self.run_query(query, hint)
        finally:
            query.limit, query.offset = saved

    def misc(self, name: bytes, args: List[bytes]) -> Optional[List[bytes]]:
        argc = len(args)
        if name == b"put" or name == b"putkeep" or name == b"putcat":
            if argc < 1:
                return None
            cols: Columns = {}
            i = 1
            while i + 1 < argc:
                cols[args[i]] = args[i + 1]
                i += 2
            mode = 0 if name == b"put" else 1 if name == b"putkeep" else 2
            return [] if self.store(args[0], cols, mode) else None
        if name == b"get":
            if argc < 1:
                return None
            record = self.records.get(args[0])
            if record is None:
                self.ecode = TCENOREC
                return None
            out: List[bytes] = []
            for cname, value in record.items():
                out.append(cname)
                out.append(value)
            return out
        if name == b"putlist":
            i = 0
            while i + 1 < argc:
                if not self.store(args[i], split_columns(args[i + 1]), 0):
                    return None
                i += 2
            return []
        if name == b"setindex":
            ok = True
            i = 0
            while i + 1 < argc:
                itype = index_type_from_text(_cstr(args[i + 1]))
                if itype < 0 or not self.set_index(args[i], itype):
                    ok = False
                i += 2
            return [] if ok else None
        if name == b"search" or name == b"metasearch":
            return self.search(args)
        if name == b"genuid":
            return [b"%d" % self.genuid()]
        if name == b"range" or name == b"putdup" or name == b"putdupback":
            return None
        return Database.misc(self, name, args)

    # -- files ------------------------------------------------------------
    def meta_state(self) -> bytes:
        meta: List[bytes] = [_U64.pack(self.uid), _U32.pack(len(self.indexes))]
        for name, index in self.indexes.items():
            meta.append(_U32.pack(len(name)))
            meta.append(name)
            meta.append(_U32.pack(index.type_code))
        return b"".join(meta)

    def apply_meta_state(self, state: bytes) -> None:
        reader = SnapshotReader(self.path + ".journal", b"", "", state)
        uid, index_types = _read_meta(reader)
        wanted = dict(index_types)
        for name in list(self.indexes):
            if wanted.get(name) != self.indexes[name].type_code:
                self.set_index(name, tb.INDEX_VOID)
        for name, itype in index_types:
            if name not in self.indexes:
                self.set_index(name, itype)
        self.uid = uid

    def key_state(self, key: bytes) -> Optional[bytes]:
        cols = self.records.get(key)
        return None if cols is None else _encode_columns(cols)

    def apply_key_state(self, key: bytes, state: Optional[bytes]) -> None:
        if state is None:
            if key in self.records:
                self.out(key)
        else:
            self.store(key, _decode_columns(state, self.path + ".journal", 0), 0)

    def save(self, path: str) -> None:
        records = [(pk, _encode_columns(cols)) for pk, cols in self.records.items()]
        write_file(path, KIND_TABLE, self.meta_state(), records)
        if path == self.path:
            self.dirty = 0

    def load(self) -> None:
        reader = open_file(self.path, KIND_TABLE)
        uid, index_types = _read_meta(reader)
        self.indexes = {}
        self.records = {}
        self.seq = {}
        for pk, blob, offset in read_records_at(reader):
            cols = _decode_columns(blob, reader.path, offset)
            self.records[pk] = cols
            self.seq[pk] = self.next_seq
            self.next_seq += 1
        for name, itype in index_types:
            self.set_index(name, itype)
        self.uid = uid
        self.dirty = 0


def _read_meta(reader: SnapshotReader) -> Tuple[int, List[Tuple[bytes, int]]]:
    """uid and (column, index type) pairs, as ``meta_state`` writes them."""
    uid = reader.u64()
    nidx = reader.u32()
    index_types: List[Tuple[bytes, int]] = []
    for _ in range(nidx):
        name = reader.raw(reader.u32())
        index_types.append((name, reader.u32()))
    return uid, index_types


def _encode_columns(cols: Columns) -> bytes:
    parts: List[bytes] = [_U32.pack(len(cols))]
    for cname, value in cols.items():
        parts.append(_U32X2.pack(len(cname), len(value)))
        parts.append(cname)
        parts.append(value)
    return b"".join(parts)


def _decode_columns(blob: bytes, path: str, offset: int) -> Columns:
    """The columns of one record as ``save`` writes them (``ncols u32``,
    then ``nsiz u32, vsiz u32, name, value`` each); SnapshotError at the
    offset of a column that runs past the record."""
    cols: Columns = {}
    end = len(blob)
    if end < 4:
        raise SnapshotError(path, offset, "a table record without its column count")
    (ncols,) = _U32.unpack_from(blob, 0)
    pos = 4
    for _ in range(ncols):
        if pos + 8 > end:
            raise SnapshotError(path, offset + pos, "a column runs past its record")
        nsiz, vsiz = _U32X2.unpack_from(blob, pos)
        pos += 8
        if pos + nsiz + vsiz > end:
            raise SnapshotError(path, offset + pos, "a column runs past its record")
        cols[blob[pos:pos + nsiz]] = blob[pos + nsiz:pos + nsiz + vsiz]
        pos += nsiz + vsiz
    return cols
