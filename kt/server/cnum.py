"""Number text as the C code behind both real servers reads it: Kyoto and
Tokyo Cabinet's atoi (64-bit wrap-around), their atof (16 significant
digits; Kyoto's with an exponent, Tokyo's table queries without), and
Tokyo Cabinet's tcstrisnum.

Who calls it: kt.server.kyoto.engine (RPC parameters), kt.server.tyrant
(storage options, table conditions, index types and ordering).  Written
once here for both servers; the client's own reading of these texts is in
kt.protocol, which the servers do not reach into.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["atoi", "atoi32", "atof", "tc_atof", "isnum"]

_U64_MASK: Final = 0xFFFFFFFFFFFFFFFF
_U32_MASK: Final = 0xFFFFFFFF
#: 10**64 is a multiple of 2**64: only the last 64 digits matter modulo
#: 2**64 (which also keeps int() away from huge digit strings).
_DIGITS_KEPT: Final = 64
#: Significant digits a C atof reads (Kyoto/Tokyo Cabinet's LDBLCOLMAX).
_COLS_MAX: Final = 16


def _skip_blanks(text: bytes, i: int) -> int:
    n = len(text)
    while i < n and 0 < text[i] <= 0x20:
        i += 1
    return i


def _digits_end(text: bytes, i: int) -> int:
    n = len(text)
    while i < n and 0x30 <= text[i] <= 0x39:
        i += 1
    return i


def atoi(text: bytes) -> int:
    """C atoi into an int64: leading blanks (0x01-0x20), a sign, digits up
    to the first other byte; wraps around modulo 2**64 like the C loop;
    0 when there are no digits."""
    n = len(text)
    i = _skip_blanks(text, 0)
    negative = False
    if i < n and text[i] == 0x2D:  # -
        negative = True
        i += 1
    elif i < n and text[i] == 0x2B:  # +
        i += 1
    start = i
    i = _digits_end(text, i)
    if i == start:
        return 0
    if i - start > _DIGITS_KEPT:
        start = i - _DIGITS_KEPT
    num = int(text[start:i])
    if negative:
        num = -num
    num &= _U64_MASK
    return num - (1 << 64) if num >= (1 << 63) else num


def atoi32(text: bytes) -> int:
    """:func:`atoi` stored into a C int (wraps to 32 bits)."""
    num = atoi(text) & _U32_MASK
    return num - (1 << 32) if num >= (1 << 31) else num


def atof(text: bytes, exponent: bool = True) -> float:
    """C atof as both Cabinets write it: blanks, a sign, ``inf``/``nan``,
    digits, a fraction read up to 16 significant digits in all, and (when
    ``exponent``) an ``e`` exponent right after the digits read (after a
    cut-off fraction, the next character is a digit and the exponent is
    not read: "1.7976931348623157e308" is 1.797693134862315); 0.0 when
    nothing parses.

    ``exponent=False`` is the reading of Tokyo Cabinet 1.4.48's table
    queries and numeric ordering, which ttserver shows stops at the ``e``:
    "1e-07" reads as 1 (tests/contract/test_tt_server_table.py).
    """
    n = len(text)
    i = _skip_blanks(text, 0)
    sign = 1.0
    if i < n and text[i] == 0x2D:
        sign = -1.0
        i += 1
    elif i < n and text[i] == 0x2B:
        i += 1
    head = text[i:i + 3].lower()
    if head == b"inf":
        return math.inf * sign
    if head == b"nan":
        return math.nan
    start = i
    i = _digits_end(text, i)
    integral = text[start:i].lstrip(b"0")
    col = len(integral)
    fraction = b""
    if i < n and text[i] == 0x2E:  # .
        i += 1
        fstart = i
        while i < n and col < _COLS_MAX and 0x30 <= text[i] <= 0x39:
            i += 1
            col += 1
        fraction = text[fstart:i]
    num = float((integral or b"0") + b"." + (fraction or b"0"))
    if exponent and i < n and text[i] in (0x45, 0x65):  # e E
        exp = atoi(text[i + 1:])
        try:
            num *= math.pow(10.0, exp)
        except OverflowError:
            num = math.inf if num > 0 else 0.0
    return num * sign


def tc_atof(text: bytes) -> float:
    """The number in a Tokyo Cabinet table column or condition:
    :func:`atof` without the exponent."""
    return atof(text, False)


def isnum(text: bytes) -> bool:
    """tcstrisnum(): blanks, an optional '-', digits, an optional '.' and
    digits (at least one digit in all), blanks; nothing else."""
    n = len(text)
    i = _skip_blanks(text, 0)
    if i < n and text[i] == 0x2D:
        i += 1
    start = i
    i = _digits_end(text, i)
    digits = i - start
    if i < n and text[i] == 0x2E:
        j = _digits_end(text, i + 1)
        digits += j - i - 1
        i = j
    i = _skip_blanks(text, i)
    return i == n and digits > 0
