"""The C number parsing both built-in servers share (kt.server.cnum)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from kt.server.cnum import atof, atoi, atoi32, isnum, tc_atof


def _wrap64(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


def test_atoi_reads_like_c() -> None:
    assert atoi(b"  -42abc") == -42
    assert atoi(b"+7") == 7
    assert atoi(b"\t12") == 12
    assert atoi(b"") == 0
    assert atoi(b"-") == 0
    assert atoi(b"x1") == 0
    assert atoi(b"12\x0034") == 12
    assert atoi(b"9223372036854775807") == 9223372036854775807
    assert atoi(b"9223372036854775808") == -(1 << 63)
    assert atoi(b"18446744073709551617") == 1


def test_atoi_wraps_inputs_longer_than_40_digits() -> None:
    # 10**40 is not a multiple of 2**64: keeping only the last 40 digits
    # (the old tc_atoi) gave 0 here.
    text = b"1" + b"0" * 40
    assert atoi(text) == _wrap64(10 ** 40) != 0
    assert atoi(b"-" + text) == _wrap64(-(10 ** 40))
    assert atoi(b"7" * 5000) == _wrap64(int("7" * 64))  # only 64 digits count mod 2**64


@given(st.integers(-(10 ** 120), 10 ** 120))
def test_atoi_is_the_64_bit_wrap_of_the_number(n: int) -> None:
    assert atoi(b"%d" % n) == _wrap64(n)
    assert atoi32(b"%d" % n) == ((n + (1 << 31)) % (1 << 32)) - (1 << 31)


def test_atof_with_and_without_exponent() -> None:
    assert atof(b"1.5") == 1.5
    assert atof(b" -2.25x") == -2.25
    assert atof(b"1e-07") == 1e-07
    assert atof(b"1e2") == 100.0
    assert tc_atof(b"1e-07") == 1.0
    assert tc_atof(b"1e2") == 1.0
    assert tc_atof(b"0.0000001") == 1e-07
    assert atof(b"inf") == math.inf and atof(b"-INF") == -math.inf
    assert math.isnan(atof(b"nan"))
    assert atof(b"abc") == 0.0
    # At most 16 significant digits are read, as tcatof / kcatof do.
    assert tc_atof(b"0.00000000000000001") == 0.0
    assert tc_atof(b"0.12345678901234567") == tc_atof(b"0.1234567890123456")
    assert tc_atof(b"12345678901234567.5") == 12345678901234567.0


def test_isnum() -> None:
    for text in (b"1", b" -1.5 ", b".5", b"5.", b"007"):
        assert isnum(text), text
    for text in (b"", b"-", b".", b"1e2", b"+1", b"1x", b"1 2"):
        assert not isnum(text), text
