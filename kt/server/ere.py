"""POSIX extended regular expressions, as ktserver's match_regex and
Tokyo Cabinet's regex conditions read them, with the one pattern cache of
both servers.

Who calls it: kt.server.kyoto.storage (``Database.match_regex``, through
``compile_ere``) and kt.server.tyrant (the ``regex`` misc command and the
table's STRRX condition, through ``compile_tc_regex``).  Both servers use
the C library's regcomp, hence one dialect.

ktserver compiles match_regex patterns with the C library's ``regcomp``
(POSIX extended syntax, GNU flavour, "C" locale, no REG_NEWLINE) and tests
each key with ``regexec``, i.e. a search anywhere in the key.  Python's
``re`` speaks another dialect, so ``translate`` rewrites a POSIX pattern
into an equivalent Python pattern, and refuses (``EREError``) what
``regcomp`` refuses.  Facts checked against ktserver 1.0.0 on glibc:

* ``\\d``, ``\\n``, ``\\0`` ... are plain letters (``\\d`` matches "d");
  GNU's ``\\w \\W \\s \\S \\b \\B \\< \\> \\` \\'`` are understood; ``\\1`` to
  ``\\9`` are back-references to groups already closed.
* Inside brackets a backslash is an ordinary character; ``[:alpha:]`` and
  the other classes, ``[=a=]`` and ``[.a.]`` (one character) are accepted;
  a range whose end sorts before its start, or a class used as a range end
  point, is an error.
* ``.`` matches a newline; ``^`` and ``$`` match only at the ends of the key.
* A repetition operator at the start of an expression (``*a``, ``(+a)``,
  ``a|?b``, ``^*``) is an error; stacked repetitions (``a**``, ``a+?``)
  apply one after the other (``a+?`` is "(a+)?", not a lazy ``+``).
* ``{m,n}`` bounds go up to 32767; ``{,n}`` means ``{0,n}``; ``a{}`` and an
  unterminated interval are errors.
* A lone ``)`` is an ordinary character; a lone ``(`` is an error.
* Matching stops at the first NUL byte of the key and of the pattern, as
  the C functions do.
"""

from __future__ import annotations

import re
from typing import Dict, Final, List, Optional, Pattern, Tuple

__all__ = ["EREError", "compile_ere", "compile_tc_regex", "translate", "key_matches"]


class EREError(ValueError):
    """The pattern is not a valid POSIX extended regular expression."""


_WORD: Final = b"0-9A-Za-z_"
_CLASSES: Final[Dict[bytes, bytes]] = {
    b"alpha": b"A-Za-z",
    b"digit": b"0-9",
    b"alnum": b"0-9A-Za-z",
    b"upper": b"A-Z",
    b"lower": b"a-z",
    b"space": b"\\x09-\\x0d\\x20",
    b"blank": b"\\x09\\x20",
    b"punct": b"\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e",
    b"print": b"\\x20-\\x7e",
    b"graph": b"\\x21-\\x7e",
    b"cntrl": b"\\x00-\\x1f\\x7f",
    b"xdigit": b"0-9A-Fa-f",
}
_ESCAPES: Final[Dict[int, bytes]] = {
    0x77: b"[" + _WORD + b"]",  # \w
    0x57: b"[^" + _WORD + b"]",  # \W
    0x73: b"[\\x09-\\x0d\\x20]",  # \s
    0x53: b"[^\\x09-\\x0d\\x20]",  # \S
}
_ANCHOR_ESCAPES: Final[Dict[int, bytes]] = {
    0x62: b"\\b",  # \b
    0x42: b"\\B",  # \B
    0x3C: b"\\b(?=[" + _WORD + b"])",  # \<
    0x3E: b"\\b(?<=[" + _WORD + b"])",  # \>
    0x60: b"\\A",  # \`
    0x27: b"\\Z",  # \'
}
_DUP_MAX: Final = 32767
_ALNUM: Final = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _lit(c: int) -> bytes:
    """A Python pattern matching exactly the byte ``c``."""
    if c in _ALNUM:
        return bytes((c,))
    return b"\\x%02x" % c


class _Parser:
    """Recursive-descent translator of one pattern."""

    def __init__(self, pattern: bytes) -> None:
        self.p = pattern
        self.i = 0
        self.closed_groups = 0

    def fail(self, what: str) -> EREError:
        return EREError("invalid regular expression %r: %s" % (self.p[:80], what))

    def parse_alternation(self, depth: int) -> bytes:
        branches: List[bytes] = [self.parse_branch(depth)]
        while self.i < len(self.p) and self.p[self.i] == 0x7C:  # |
            self.i += 1
            branches.append(self.parse_branch(depth))
        return b"|".join(branches)

    def parse_branch(self, depth: int) -> bytes:
        p = self.p
        pieces: List[bytes] = []
        # The last piece and whether it may take a repetition operator
        # (False for anchors and at the start of the branch).
        last: Optional[bytes] = None
        repeatable = False
        quantified = False
        while self.i < len(p):
            c = p[self.i]
            if c == 0x7C:  # |
                break
            if c == 0x29 and depth > 0:  # ) closing a group
                break
            if c in (0x2A, 0x2B, 0x3F, 0x7B):  # * + ? {
                if last is None or not repeatable:
                    raise self.fail("repetition operator without an operand")
                quant = self.parse_quantifier()
                if quantified:
                    last = b"(?:" + last + b")"
                last = last + quant
                quantified = True
                continue
            if last is not None:
                pieces.append(last)
            atom, repeatable = self.parse_atom(depth)
            last = atom
            quantified = False
        if last is not None:
            pieces.append(last)
        return b"".join(pieces)

    def parse_quantifier(self) -> bytes:
        p = self.p
        c = p[self.i]
        self.i += 1
        if c == 0x2A:
            return b"*"
        if c == 0x2B:
            return b"+"
        if c == 0x3F:
            return b"?"
        # {m}, {m,}, {m,n}, {,n}, {,}
        end = p.find(b"}", self.i)
        if end < 0:
            raise self.fail("unterminated interval")
        body = p[self.i:end]
        self.i = end + 1
        low_s, comma, high_s = body.partition(b",")
        if not (low_s == b"" or low_s.isdigit()) or not (high_s == b"" or high_s.isdigit()):
            raise self.fail("invalid interval {%s}" % body.decode("latin-1"))
        if not comma and not low_s:
            raise self.fail("empty interval")
        low = int(low_s) if low_s else 0
        if low > _DUP_MAX:
            raise self.fail("interval bound too large")
        if not comma:
            return b"{%d}" % low
        if not high_s:
            return b"{%d,}" % low
        high = int(high_s)
        if high > _DUP_MAX or high < low:
            raise self.fail("invalid interval bounds")
        return b"{%d,%d}" % (low, high)

    def parse_atom(self, depth: int) -> Tuple[bytes, bool]:
        p = self.p
        c = p[self.i]
        self.i += 1
        if c == 0x28:  # (
            inner = self.parse_alternation(depth + 1)
            if self.i >= len(p) or p[self.i] != 0x29:
                raise self.fail("unmatched (")
            self.i += 1
            self.closed_groups += 1
            return b"(" + inner + b")", True
        if c == 0x29:  # ) outside any group: an ordinary character
            return _lit(c), True
        if c == 0x2E:  # .
            return b".", True
        if c == 0x5E:  # ^
            return b"\\A", False
        if c == 0x24:  # $
            return b"\\Z", False
        if c == 0x5B:  # [
            return self.parse_bracket(), True
        if c == 0x5C:  # backslash
            if self.i >= len(p):
                raise self.fail("trailing backslash")
            e = p[self.i]
            self.i += 1
            esc = _ESCAPES.get(e)
            if esc is not None:
                return esc, True
            anchor = _ANCHOR_ESCAPES.get(e)
            if anchor is not None:
                return anchor, False
            if 0x31 <= e <= 0x39:  # \1 .. \9
                n = e - 0x30
                if n > self.closed_groups:
                    raise self.fail("invalid back reference")
                return b"(?:\\%d)" % n, True
            return _lit(e), True
        return _lit(c), True

    def parse_bracket(self) -> bytes:
        p = self.p
        n = len(p)
        neg = False
        if self.i < n and p[self.i] == 0x5E:  # ^
            neg = True
            self.i += 1
        items: List[bytes] = []
        first = True
        while True:
            if self.i >= n:
                raise self.fail("unterminated bracket expression")
            c = p[self.i]
            if c == 0x5D and not first:  # ]
                self.i += 1
                break
            first = False
            start, cls = self.bracket_element()
            if cls is not None:
                if self.i + 1 < n and p[self.i] == 0x2D and p[self.i + 1] != 0x5D:
                    raise self.fail("character class used as a range end point")
                items.append(cls)
                continue
            if self.i + 1 < n and p[self.i] == 0x2D and p[self.i + 1] != 0x5D:  # a-z
                self.i += 1
                end, cls2 = self.bracket_element()
                if cls2 is not None:
                    raise self.fail("character class used as a range end point")
                if end < start:
                    raise self.fail("invalid range end")
                items.append(_lit(start) + b"-" + _lit(end))
                if self.i + 1 < n and p[self.i] == 0x2D and p[self.i + 1] != 0x5D:
                    raise self.fail("invalid range")
            else:
                items.append(_lit(start))
        return b"[" + (b"^" if neg else b"") + b"".join(items) + b"]"

    def bracket_element(self) -> Tuple[int, Optional[bytes]]:
        """One element: (character, None) or (0, class ranges)."""
        p = self.p
        c = p[self.i]
        if c == 0x5B and self.i + 1 < len(p) and p[self.i + 1] in (0x3A, 0x3D, 0x2E):  # [: [= [.
            kind = p[self.i + 1]
            close = bytes((kind, 0x5D))
            end = p.find(close, self.i + 2)
            if end < 0:
                raise self.fail("unterminated [%c" % kind)
            name = p[self.i + 2:end]
            self.i = end + 2
            if kind == 0x3A:
                ranges = _CLASSES.get(name)
                if ranges is None:
                    raise self.fail("unknown character class %r" % name)
                return 0, ranges
            if len(name) != 1:
                raise self.fail("invalid collating element %r" % name)
            return name[0], None
        self.i += 1
        return c, None


def translate(pattern: bytes) -> bytes:
    """The Python ``re`` pattern (bytes, to compile with re.DOTALL) that
    matches what the POSIX extended ``pattern`` matches.  Raises EREError
    for a pattern regcomp would refuse.  The pattern ends at a NUL byte."""
    nul = pattern.find(b"\x00")
    if nul >= 0:
        pattern = pattern[:nul]
    parser = _Parser(pattern)
    out = parser.parse_alternation(0)
    if parser.i != len(pattern):  # pragma: no cover - every byte is consumed
        raise parser.fail("unexpected character")
    return out


_cache: Dict[Tuple[bytes, bool], Pattern[bytes]] = {}
_CACHE_MAX: Final = 256


def compile_ere(pattern: bytes, ignore_case: bool = False) -> Pattern[bytes]:
    """A compiled Python pattern for a POSIX extended ``pattern`` (cached;
    ``ignore_case`` as REG_ICASE).  Raises EREError when regcomp would
    refuse the pattern."""
    cache_key = (pattern, ignore_case)
    compiled = _cache.get(cache_key)
    if compiled is not None:
        return compiled
    flags = re.DOTALL | re.IGNORECASE if ignore_case else re.DOTALL
    try:
        translated = translate(pattern)
        compiled = re.compile(translated, flags)
    except EREError:
        raise
    except (re.error, OverflowError, RecursionError) as exc:
        raise EREError("invalid regular expression %r: %s" % (pattern[:80], exc)) from None
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[cache_key] = compiled
    return compiled


def compile_tc_regex(expr: bytes) -> Optional[Pattern[bytes]]:
    """A Tokyo Cabinet regular expression: POSIX extended syntax, a
    leading ``*`` for case-insensitive matching.  None when regcomp would
    refuse it (such a pattern never matches)."""
    ignore_case = expr[:1] == b"*"
    try:
        return compile_ere(expr[1:] if ignore_case else expr, ignore_case)
    except EREError:
        return None


def key_matches(compiled: Pattern[bytes], key: bytes) -> bool:
    """Whether ``key`` (up to its first NUL byte) contains a match."""
    nul = key.find(b"\x00")
    if nul >= 0:
        key = key[:nul]
    return compiled.search(key) is not None
