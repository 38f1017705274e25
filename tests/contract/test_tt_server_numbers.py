"""How ttserver reads number text in table conditions, and that the
built-in server and the client's number formatting follow it.

Tokyo Cabinet 1.4.48's table queries read a number as blanks, a sign,
digits and a fraction of at most 16 significant digits in all, and stop
at an exponent: "1e-07" is 1 and "1e2" is 1.  So the client must never
send exponent text for a float (kt.protocol.tt_binary.format_number writes
1e-07 as "0.0000001"), and a QueryBuilder filter on 1e-7 selects the
records holding 0.0000001, on both servers.
"""

from __future__ import annotations

from typing import Dict, Set

import pytest

from kt.protocol import tt_binary as tb
from kt.table import OP_NUM_EQ, OP_NUM_GT, OP_NUM_LT, encode_expression
from servers import RunningServer, server_kinds
from tt_wire import TTWire

IMPLS = server_kinds("tyrant")

VALUES = [b"0", b"0.0000001", b"0.00000010", b"0.0000002", b"1e-07", b"1E-07", b"1", b"2e0",
          b"100", b"-1e-07", b"0.00000000000000001", b"0.1234567890123456",
          b"0.12345678901234567", b"1e+23", b"100000000000000000000000"]

# (operator, expression) -> the values ttserver 1.1.41 selects.
EXPECTED: Dict[tuple, Set[bytes]] = {
    (tb.COND_NUM_EQ, b"1e-07"): {b"1e-07", b"1E-07", b"1", b"1e+23"},
    (tb.COND_NUM_GT, b"1e-07"): {b"2e0", b"100", b"100000000000000000000000"},
    (tb.COND_NUM_EQ, b"0"): {b"0", b"0.00000000000000001"},
    (tb.COND_NUM_EQ, b"0.1234567890123456"): {b"0.1234567890123456", b"0.12345678901234567"},
    (tb.COND_NUM_EQ, encode_expression(OP_NUM_EQ, 1e-7)): {b"0.0000001", b"0.00000010"},
    (tb.COND_NUM_LT, encode_expression(OP_NUM_LT, 1e-7)):
        {b"0", b"-1e-07", b"0.00000000000000001"},
    (tb.COND_NUM_GT, encode_expression(OP_NUM_GT, 1e22)): {b"100000000000000000000000"},
}


def _search(wire: TTWire, op: int, expr: bytes) -> Set[bytes]:
    status, keys = wire.search([b"addcond\x00n\x00%d\x00" % op + expr])
    assert status == 0
    return {VALUES[int(k[1:])] for k in keys}


@pytest.mark.parametrize("impl", IMPLS)
def test_table_conditions_read_numbers_without_exponent(impl: str) -> None:
    server = RunningServer("tyrant", impl, databases=["n.tct"]).start()
    try:
        wire = TTWire(server.host, server.port)
        for i, value in enumerate(VALUES):
            assert wire.misc(b"put", tb.columns_to_args(b"k%02d" % i, {b"n": value})) == (0, [])
        for (op, expr), expected in EXPECTED.items():
            got = _search(wire, op, expr)
            assert got == expected, (impl, op, expr)
        wire.close()
    finally:
        server.stop()


def test_float_filters_are_sent_without_exponent() -> None:
    assert encode_expression(OP_NUM_EQ, 1e-7) == b"0.0000001"
    assert encode_expression(OP_NUM_GT, 1e22) == b"10000000000000000000000.0"
    assert b"e" not in tb.format_number(-2.5e-300)
