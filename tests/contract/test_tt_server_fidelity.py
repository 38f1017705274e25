"""Tokyo Tyrant behaviours the differential fuzzer (tools/difffuzz) found the
built-in server getting wrong, pinned down so that they stay fixed without
the fuzzer.  Each test runs against the built-in server and, when
installed, ttserver, on a fresh server.
"""

from __future__ import annotations

from typing import Callable, Iterator, List

import pytest

from servers import RunningServer, server_kinds
from tt_wire import TTWire

Open = Callable[[str], TTWire]


@pytest.fixture(params=server_kinds("tyrant"))
def open_db(request: pytest.FixtureRequest) -> Iterator[Open]:
    """Start a fresh server on the given database and connect to it."""
    started: List[RunningServer] = []
    wires: List[TTWire] = []

    def start(database: str) -> TTWire:
        server = RunningServer("tyrant", request.param, databases=[database]).start()
        started.append(server)
        wire = TTWire(server.host, server.port)
        wires.append(wire)
        return wire

    yield start
    for wire in wires:
        wire.close()
    for server in started:
        server.stop()


def _next(wire: TTWire) -> object:
    key = wire.iternext()
    return key if key is not None else "end"


def test_stat_reports_fd(open_db: Open) -> None:
    tt = open_db("*")
    assert int(tt.stat()["fd"]) >= 0


def test_misc_regex_matches_keys_as_c_strings(open_db: Open) -> None:
    tt = open_db("*")
    assert tt.put(b"\x00a", b"1") == 0
    assert tt.put(b"a\x00b", b"2") == 0
    assert tt.put(b"ab", b"3") == 0
    status, found = tt.misc(b"regex", [b"^$"])
    assert status == 0 and found == [b"\x00a", b"1"]  # "" to the matcher
    status, found = tt.misc(b"regex", [b"b$"])
    assert status == 0 and found == [b"ab", b"3"]  # "a" to the matcher


def test_btree_cursor_is_a_position(open_db: Open) -> None:
    tt = open_db("casket.tcb")
    for key in (b"a", b"b", b"c", b"d"):
        assert tt.put(key, b"1") == 0
    assert tt.iterinit() == 0
    assert [_next(tt), _next(tt)] == [b"a", b"b"]
    assert tt.out(b"a") == 0  # the records after it move up one place
    assert [_next(tt), _next(tt)] == [b"d", "end"]
    assert tt.iterinit() == 0
    assert _next(tt) == b"b"


def test_btree_cursor_shifts_when_a_key_is_put_before_it(open_db: Open) -> None:
    tt = open_db("casket.tcb")
    for key in (b"b", b"c", b"d"):
        assert tt.put(key, b"1") == 0
    assert tt.iterinit() == 0
    assert _next(tt) == b"b"
    assert tt.put(b"a", b"1") == 0
    assert [_next(tt), _next(tt), _next(tt)] == [b"b", b"c", b"d"]


def test_btree_iteration_over_duplicates(open_db: Open) -> None:
    tt = open_db("casket.tcb")
    for value in (b"1", b"2"):
        assert tt.misc(b"putdup", [b"a", value])[0] == 0
    assert tt.misc(b"putdupback", [b"a", b"0"])[0] == 0
    assert tt.iterinit() == 0
    assert tt.misc(b"iternext", []) == (0, [b"a", b"0"])
    assert tt.misc(b"iternext", []) == (0, [b"a", b"1"])
    assert tt.out(b"a") == 0  # removes the first value: the cursor is past the end
    assert tt.misc(b"iternext", [])[0] != 0


def test_btree_putlist_adds_duplicates(open_db: Open) -> None:
    tt = open_db("casket.tcb")
    assert tt.misc(b"putlist", [b"k", b"1", b"k", b"2"])[0] == 0
    assert tt.misc(b"getlist", [b"k"]) == (0, [b"k", b"1", b"k", b"2"])
    assert tt.rnum() == 2


def test_btree_vanish_keeps_the_cursor_position(open_db: Open) -> None:
    tt = open_db("casket.tcb")
    assert tt.put(b"a", b"1") == 0
    assert tt.iterinit() == 0
    assert tt.vanish() == 0
    assert tt.put(b"k", b"1") == 0
    assert _next(tt) == b"k"


def test_btree_misc_iterinit_needs_a_record(open_db: Open) -> None:
    tt = open_db("casket.tcb")
    assert tt.iterinit() == 0  # the binary command always succeeds
    assert tt.misc(b"iterinit", [])[0] != 0
    assert tt.put(b"b", b"1") == 0
    assert tt.misc(b"iterinit", [b"a"])[0] == 0  # from the next key
    assert _next(tt) == b"b"
    assert tt.misc(b"iterinit", [b"c"])[0] != 0


def test_on_memory_tree_iterator_points_at_the_next_node(open_db: Open) -> None:
    tt = open_db("+")
    assert tt.put(b"a", b"1") == 0
    assert tt.put(b"c", b"1") == 0
    assert tt.iterinit() == 0
    assert _next(tt) == b"a"
    assert tt.put(b"b", b"1") == 0  # after the node it points at: not visited
    assert [_next(tt), _next(tt)] == [b"c", "end"]
    # misc regex walks the same iterator, to the end
    assert tt.iterinit() == 0
    assert tt.misc(b"regex", [b"."])[0] == 0
    assert _next(tt) == "end"


def test_on_memory_tree_iterinit_past_the_last_key(open_db: Open) -> None:
    # tctreeiterinit2 moves the iterator to the next key; past the last key
    # there is none, and the iterator stays where it was
    tt = open_db("+")
    assert tt.put(b"ba", b"1") == 0
    assert tt.misc(b"iterinit", [b"a"])[0] == 0
    assert tt.misc(b"range", [b"\xff"]) == (0, [b"ba", b"1"])
    assert tt.misc(b"iterinit", [b"\xff"])[0] == 0
    assert _next(tt) == "end"  # the range walked the iterator to the end


def test_on_memory_tree_iterator_moves_on_when_its_node_is_removed(open_db: Open) -> None:
    tt = open_db("+")
    for key in (b"a", b"b", b"c"):
        assert tt.put(key, b"1") == 0
    assert tt.iterinit() == 0
    assert _next(tt) == b"a"  # the iterator points at "b"
    assert tt.out(b"b") == 0  # ... and moves to "c" at once
    assert tt.put(b"bb", b"1") == 0
    assert [_next(tt), _next(tt)] == [b"c", "end"]


@pytest.mark.parametrize("database", ["*", "+"])
def test_copy_of_an_on_memory_database_fails(open_db: Open, database: str) -> None:
    tt = open_db(database)
    assert tt.put(b"a", b"1") == 0
    assert tt.copy(b"backup.bin") != 0


def test_table_putshl_works_on_the_stored_bytes(open_db: Open) -> None:
    tt = open_db("casket.tct")
    assert tt.put(b"pk", b"name\x00abc") == 0
    assert tt.putshl(b"pk", b"x\x00-3", 3) == 0
    assert tt.get(b"pk") == b"\x00-3"  # a column with an empty name
    status, found = tt.search([b"get"])
    assert status == 0 and found == [b"\x00pk"]  # the primary key takes its place


def _table_with_decimal_index(open_db: Open, values: List[bytes]) -> TTWire:
    tt = open_db("casket.tct")
    assert tt.misc(b"setindex", [b"n", b"1"])[0] == 0  # decimal
    for i, value in enumerate(values):
        assert tt.put(b"k%d" % i, b"n\x00" + value) == 0
    return tt


def _found(tt: TTWire, args: List[bytes]) -> List[bytes]:
    status, found = tt.search(args)
    assert status == 0
    return found


def test_table_decimal_index_walk_for_numle(open_db: Open) -> None:
    # NUMLE walks the index down from "\x7f0" in tccmpdecimal order: a
    # value that reads as 0 but sorts after that key is not found, where a
    # scan (no-index flag) finds it
    tt = _table_with_decimal_index(open_db, [b"-1", b"0", b"abc", b"\xc3\xa9x"])
    assert sorted(_found(tt, [b"addcond\x00n\x0012\x000"])) == [b"k0", b"k1", b"k2"]
    assert sorted(_found(tt, [b"addcond\x00n\x00%d\x000" % (12 | 1 << 25)])) == [
        b"k0", b"k1", b"k2", b"k3"]


def test_table_decimal_index_walk_for_numgt(open_db: Open) -> None:
    # "+7" reads as 7 but sorts with the zeros (tccmpdecimal takes no "+"):
    # NUMGT 5 starts its walk after it
    tt = _table_with_decimal_index(open_db, [b"+7", b"6", b"1"])
    assert _found(tt, [b"addcond\x00n\x009\x005"]) == [b"k1"]
    assert sorted(_found(tt, [b"addcond\x00n\x00%d\x005" % (9 | 1 << 25)])) == [b"k0", b"k1"]


def test_table_index_order_without_setorder(open_db: Open) -> None:
    # records found through an index come in the index's order
    tt = _table_with_decimal_index(open_db, [b"10", b"9", b"2", b"30"])
    assert _found(tt, [b"addcond\x00n\x0010\x000"]) == [b"k2", b"k1", b"k0", b"k3"]
    assert _found(tt, [b"addcond\x00n\x0011\x0050"]) == [b"k3", b"k0", b"k1", b"k2"]


def test_table_primary_key_index(open_db: Open) -> None:
    # an index of the column "" indexes the primary keys; NUMEQ on it
    # jumps to "\x00" + the number and stops at the first key that reads
    # otherwise, so "\x00a" (0 as a C string) sorts before the jump key and
    # is not found, where a scan finds it
    tt = open_db("casket.tct")
    for pk in (b"\x00a", b"b", b"1"):
        assert tt.put(pk, b"n\x001") == 0
    assert tt.misc(b"setindex", [b"", b"1"])[0] == 0
    assert _found(tt, [b"addcond\x00\x008\x00b c"]) == [b"b"]
    assert sorted(_found(tt, [b"addcond\x00\x00%d\x00b c" % (8 | 1 << 25)])) == [b"\x00a", b"b"]
