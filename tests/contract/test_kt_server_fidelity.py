"""Kyoto Tycoon behaviours the differential fuzzer (tools/difffuzz) found the
built-in server getting wrong, pinned down so that they stay fixed without
the fuzzer.  Each test runs against the built-in server and, when
installed, ktserver; each starts its own server (expiration state is per
server).
"""

from __future__ import annotations

import time
from typing import Iterator, List

import pytest

from kt_wire import KTWire
from servers import RunningServer, server_kinds


@pytest.fixture(params=server_kinds("kyoto"))
def tree(request: pytest.FixtureRequest) -> Iterator[KTWire]:
    """A fresh server with one cache tree database (``%``)."""
    with RunningServer("kyoto", request.param, databases=["%"]) as server:
        with KTWire(server.host, server.port) as wire:
            yield wire


def _keys(wire: KTWire, prefix: bytes = b"") -> List[bytes]:
    return wire.rpc("match_prefix", prefix=prefix).matched()


def _count(wire: KTWire) -> int:
    return int(wire.rpc("status")["count"])


def test_expired_records_stay_until_the_expiration_cursor_reaches_them(tree: KTWire) -> None:
    # 16 writes of already expired records: the first 8 writes' work only
    # positions ktserver's expiration cursor, the next 8 purge the first 8
    for i in range(16):
        assert tree.rpc("set", key=b"k%02d" % i, value=b"v", xt=b"-1").status == 200
    assert _keys(tree) == [b"k%02d" % i for i in range(8, 16)]
    assert _count(tree) == 8
    assert tree.rpc("get", key=b"k08").status == 450  # listed, counted, not readable


def test_an_idle_server_purges_expired_records(tree: KTWire) -> None:
    assert tree.rpc("set", key=b"gone", value=b"v", xt=b"-1").status == 200
    assert tree.rpc("set", key=b"kept", value=b"v").status == 200
    assert _keys(tree) == [b"gone", b"kept"]  # match_prefix still lists it
    deadline = time.monotonic() + 10
    while _keys(tree) != [b"kept"] and time.monotonic() < deadline:
        time.sleep(0.5)  # idle: ktserver expires records after 0.1 s without a request
    assert _keys(tree) == [b"kept"]
    assert _count(tree) == 1


def test_remove_purges_an_expired_record_and_reports_it_missing(tree: KTWire) -> None:
    assert tree.rpc("set", key=b"a", value=b"v", xt=b"-1").status == 200
    assert _count(tree) == 1
    assert tree.rpc("remove", key=b"a").status == 450
    assert _count(tree) == 0


def test_a_cursor_jumps_onto_expired_records_and_reads_skip_them(tree: KTWire) -> None:
    assert tree.rpc("set", key=b"a", value=b"v", xt=b"-1").status == 200
    assert tree.rpc("cur_jump", CUR=b"1").status == 200
    assert tree.rpc("cur_get", CUR=b"1").status == 450
    assert tree.rpc("set", key=b"b", value=b"live").status == 200
    assert tree.rpc("cur_jump", CUR=b"1").status == 200
    assert tree.rpc("cur_get_key", CUR=b"1")["key"] == b"b"


def test_clear_disables_cursors(tree: KTWire) -> None:
    assert tree.rpc("set", key=b"a", value=b"1").status == 200
    assert tree.rpc("cur_jump", CUR=b"1", key=b"a").status == 200
    assert tree.rpc("clear").status == 200
    assert tree.rpc("set", key=b"a", value=b"2").status == 200
    assert tree.rpc("cur_get", CUR=b"1").status == 450


def test_stepping_from_a_removed_record(tree: KTWire) -> None:
    for key in (b"a", b"b", b"c", b"d"):
        assert tree.rpc("set", key=key, value=b"v").status == 200
    # forward: the removed key is looked up again (c), then one step (d)
    assert tree.rpc("cur_jump", CUR=b"1", key=b"b").status == 200
    assert tree.rpc("remove", key=b"b").status == 200
    assert tree.rpc("cur_step", CUR=b"1").status == 200
    assert tree.rpc("cur_get_key", CUR=b"1")["key"] == b"d"
    # backward: looked up forward (c), then one step back (a)
    assert tree.rpc("cur_jump", CUR=b"2", key=b"c").status == 200
    assert tree.rpc("remove", key=b"c").status == 200
    assert tree.rpc("cur_step_back", CUR=b"2").status == 200
    assert tree.rpc("cur_get_key", CUR=b"2")["key"] == b"a"
    # reading from a removed record reads the next one in key order, even
    # for a cursor moving backward
    assert tree.rpc("cur_jump_back", CUR=b"3", key=b"d").status == 200
    assert tree.rpc("remove", key=b"d").status == 200
    assert tree.rpc("cur_get_key", CUR=b"3").status == 450


def test_increment_double_prints_at_most_127_characters(tree: KTWire) -> None:
    res = tree.rpc("increment_double", key=b"big", num=b"1e300")
    assert res.status == 200
    assert len(res["num"]) == 128 and res["num"].endswith(b"*")
    assert res["num"][:4] == b"1000"


def test_increment_double_reads_16_significant_digits_then_stops(tree: KTWire) -> None:
    # the 17th digit is not read, and neither is the exponent after it
    res = tree.rpc("increment_double", key=b"n", num=b"1.7976931348623157e308")
    assert res.status == 200
    assert res["num"] == b"1.797693"
    assert tree.rpc("increment_double", key=b"m", num=b"1.5e3")["num"] == b"1500.000000"


def test_increment_reading_int64_min_fails(tree: KTWire) -> None:
    assert tree.rpc("increment", key=b"n", num=b"-9223372036854775808", orig=b"set").status == 450
    assert tree.rpc("increment", key=b"n", num=b"0").status == 450
    assert tree.rpc("increment", key=b"n", num=b"1")["num"] == b"-9223372036854775807"


def test_bulk_keys_tick_the_expiration_cursor_in_key_order(tree: KTWire) -> None:
    # ktserver takes remove_bulk's (and get_bulk's) keys from its std::map
    # of inputs, in key order, each with its own expiration tick
    for key in (b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"):
        assert tree.rpc("set", key=key, value=b"v").status == 200
    # the 8th write positioned the expiration cursor on "a"
    assert tree.rpc("set", key=b"i", value=b"v", xt=b"-1").status == 200
    for _ in range(6):
        assert tree.rpc("set", key=b"a", value=b"v").status == 200
    # 7 writes of the next 8: removing "a" (first in key order, though
    # second in the request) is the 8th, and the cursor then steps from
    # where "a" was over 8 records, "b" to the expired "i"
    assert tree.rpc("remove_bulk", _z=b"", _a=b"").status == 200
    assert _keys(tree) == [b"b", b"c", b"d", b"e", b"f", b"g", b"h"]
