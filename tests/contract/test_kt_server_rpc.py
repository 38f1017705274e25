"""Contract tests of the Kyoto Tycoon servers: every HTTP RPC procedure.

Each test runs against the built-in server and, when one is installed, the
real ktserver (tests/servers.py says how it is found); the expected
answers are what ktserver 1.0.0 gives.  Requests are built with
kt.protocol.kt_http (tests/kt_wire.py), so the servers are driven through
the wire without the client; the last tests go through the KyotoTycoon
client as well.

Databases of every server here: 0 ``*`` (cache hash), 1 ``%`` (cache
tree), 2 ``casket.kch`` (file hash), 3 ``tree.kct`` (file tree).
"""

from __future__ import annotations

import struct
import time
from typing import Any, Iterator, List

import pytest

from kt import KyotoTycoon
from kt.protocol import kt_http as kh
from kt_wire import KTWire
from servers import RunningServer

DATABASES = ["*", "%", "casket.kch", "tree.kct"]
TREE_DBS = ["1", "3"]
HASH_DBS = ["0", "2"]

NOREC = b"DB: 7: no record: no record"
DUPREC = b"DB: 6: record duplication: record duplication"
LOGIC = b"DB: 8: logical inconsistency: logical inconsistency"
CONFLICT = b"DB: 8: logical inconsistency: status conflict"
NOIMPL = b"DB: 1: not implemented: not implemented"


@pytest.fixture
def wire(kt_wire: KTWire) -> KTWire:
    return kt_wire


@pytest.fixture
def client(kt_contract_server: RunningServer) -> Iterator[KyotoTycoon]:
    server = kt_contract_server
    kt = KyotoTycoon(server.host, server.port, timeout=10)
    for db in range(len(DATABASES)):
        kt.clear(db=db)
    yield kt
    kt.close()


# -- basics ------------------------------------------------------------------


def test_void_and_echo(wire: KTWire) -> None:
    r = wire.rpc("void")
    assert (r.status, r.pairs, r.content_type) == (200, [], b"text/tab-separated-values")
    r = wire.rpc("echo", ("b", "2"), ("a", "1"), ("c", "3"))
    # Output maps come back sorted by key, as ktserver's std::map.
    assert r.status == 200
    assert r.pairs == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]


@pytest.mark.parametrize("value", [b"plain", b"\x01ctrl", b"x" * 300, bytes(range(256)),
                                   b"caf\xc3\xa9", b"tab\there", b"\x7f"])
def test_reply_colenc_is_ktservers_choice(wire: KTWire, value: bytes) -> None:
    r = wire.rpc("echo", ("k", value), colenc="B")
    assert r.status == 200
    assert r["k"] == value
    assert r.colenc == kh.ktserver_colenc([(b"k", value)])


def test_unknown_procedure(wire: KTWire) -> None:
    r = wire.rpc("no_such_proc")
    assert (r.status, r.error) == (501, b"not implemented: no_such_proc")


def test_set_get_check_remove(wire: KTWire) -> None:
    assert wire.rpc("set", key="k", value="v").status == 200
    r = wire.rpc("get", key="k")
    assert (r.status, r.pairs) == (200, [(b"value", b"v")])
    r = wire.rpc("check", key="k")
    assert (r.status, r.pairs) == (200, [(b"vsiz", b"1")])
    r = wire.rpc("get", key="missing")
    assert (r.status, r.error) == (450, NOREC)
    r = wire.rpc("check", key="missing")
    assert (r.status, r.error) == (450, NOREC)
    assert wire.rpc("remove", key="k").status == 200
    r = wire.rpc("remove", key="k")
    assert (r.status, r.error) == (450, NOREC)
    for proc in ("get", "check", "remove", "seize"):
        r = wire.rpc(proc)
        assert (r.status, r.error) == (400, b"invalid parameters"), proc
    r = wire.rpc("set", key="k")
    assert (r.status, r.error) == (400, b"invalid parameters")


def test_binary_keys_and_values(wire: KTWire) -> None:
    key = b"\x00key\t\n\xff"
    value = bytes(range(256)) * 3
    assert wire.rpc("set", ("key", key), ("value", value), colenc="B").status == 200
    assert wire.rpc("get", ("key", key), colenc="U")["value"] == value
    assert wire.get(key) == value


def test_expiration_fields(wire: KTWire) -> None:
    now = int(time.time())
    assert wire.rpc("set", key="k", value="v", xt="100").status == 200
    r = wire.rpc("get", key="k")
    assert now + 99 <= int(r["xt"]) <= now + 102
    r = wire.rpc("check", key="k")
    assert r["vsiz"] == b"1" and now + 99 <= int(r["xt"]) <= now + 102
    # A negative xt is an absolute time.
    assert wire.rpc("set", key="k", value="v", xt=str(-(now + 5000))).status == 200
    assert wire.rpc("get", key="k")["xt"] == str(now + 5000).encode()
    # Without xt the record never expires and no xt is reported.
    assert wire.rpc("set", key="k", value="v").status == 200
    assert wire.rpc("get", key="k").get("xt") is None
    # An absolute time in the past: gone at once.
    assert wire.rpc("set", key="k", value="v", xt="-5").status == 200
    assert wire.rpc("get", key="k").status == 450


def test_add_replace_append(wire: KTWire) -> None:
    assert wire.rpc("add", key="k", value="1").status == 200
    r = wire.rpc("add", key="k", value="2")
    assert (r.status, r.error) == (450, DUPREC)
    assert wire.rpc("replace", key="k", value="3").status == 200
    r = wire.rpc("replace", key="nope", value="3")
    assert (r.status, r.error) == (450, NOREC)
    assert wire.rpc("append", key="k", value="4").status == 200
    assert wire.rpc("append", key="new", value="5").status == 200
    assert wire.rpc("get", key="k")["value"] == b"34"
    assert wire.rpc("get", key="new")["value"] == b"5"


def test_databases_by_index_and_name(wire: KTWire) -> None:
    for i, name in enumerate(DATABASES):
        assert wire.rpc("set", key="k", value=name, DB=str(i)).status == 200
    for i, name in enumerate(DATABASES):
        assert wire.rpc("get", key="k", DB=str(i))["value"] == name.encode()
    assert wire.rpc("get", key="k", DB="casket.kch")["value"] == b"casket.kch"
    assert wire.rpc("get", key="k", DB="tree.kct")["value"] == b"tree.kct"
    assert wire.rpc("get", key="k", DB="%")["value"] == b"%"
    assert wire.rpc("get", key="k", DB="")["value"] == b"*"
    assert wire.rpc("get", key="k", DB="1xyz")["value"] == b"%"  # atoi
    for bad in ("4", "99", "nosuch.kch", "-1"):
        r = wire.rpc("get", key="k", DB=bad)
        assert (r.status, r.error) == (400, b"no such database"), bad
    assert wire.get(b"k", db=2) == b"casket.kch"


# -- numbers -----------------------------------------------------------------------


def test_increment(wire: KTWire) -> None:
    r = wire.rpc("increment", key="n", num="5")
    assert (r.status, r["num"]) == (200, b"5")
    # Stored as an 8-byte big-endian integer.
    assert wire.rpc("get", key="n")["value"] == struct.pack(">q", 5)
    assert wire.rpc("increment", key="n", num="-7")["num"] == b"-2"
    assert wire.rpc("increment", key="n", num="0")["num"] == b"-2"
    assert wire.rpc("increment", key="o", num="3", orig="10")["num"] == b"13"
    assert wire.rpc("increment", key="o", num="3", orig="10")["num"] == b"16"
    assert wire.rpc("increment", key="o", num="7", orig="set")["num"] == b"7"
    r = wire.rpc("increment", key="absent", num="1", orig="try")
    assert (r.status, r.error) == (450, LOGIC)
    assert wire.rpc("increment", key="o", num="1", orig="try")["num"] == b"8"
    # Numbers are read as C's atoi reads them.
    assert wire.rpc("increment", key="o", num="2.9")["num"] == b"10"
    assert wire.rpc("increment", key="o", num="abc")["num"] == b"10"
    # An 8-byte value of any content is a number; other lengths are not.
    wire.rpc("set", key="s", value="abcdefgh")
    assert wire.rpc("increment", key="s", num="1")["num"] == str(
        struct.unpack(">q", b"abcdefgh")[0] + 1).encode()
    wire.rpc("set", key="t", value="text")
    r = wire.rpc("increment", key="t", num="1")
    assert (r.status, r.error) == (450, LOGIC)
    assert wire.rpc("get", key="t")["value"] == b"text"
    # 64-bit wrap-around.
    wire.rpc("increment", key="big", num=str(2 ** 63 - 1))
    assert wire.rpc("increment", key="big", num="2")["num"] == str(-(2 ** 63) + 1).encode()
    for missing in ({"num": "1"}, {"key": "x"}):
        assert wire.rpc("increment", **missing).status == 400


def test_increment_double(wire: KTWire) -> None:
    r = wire.rpc("increment_double", key="d", num="1.5")
    assert (r.status, r["num"]) == (200, b"1.500000")
    # Stored as 16 bytes: integral part and fraction (units of 1e-15).
    assert wire.rpc("get", key="d")["value"] == struct.pack(">qq", 1, 500000000000000)
    assert wire.rpc("increment_double", key="d", num="-3.25")["num"] == b"-1.750000"
    assert wire.rpc("increment_double", key="d", num="0")["num"] == b"-1.750000"
    assert wire.rpc("increment_double", key="e", num="0.1", orig="2.25")["num"] == b"2.350000"
    assert wire.rpc("increment_double", key="e", num="4", orig="set")["num"] == b"4.000000"
    r = wire.rpc("increment_double", key="absent", num="1", orig="try")
    assert (r.status, r.error) == (450, LOGIC)
    assert wire.rpc("increment_double", key="f", num="-0.3", orig="-0.4")["num"] == b"-0.700000"
    assert wire.rpc("get", key="f")["value"] == struct.pack(">qq", 0, -699999999999999)
    assert wire.rpc("increment_double", key="g", num="123456789.123456789")["num"] == \
        b"123456789.123457"
    assert wire.rpc("increment_double", key="h", num="inf")["num"] == b"inf"
    assert wire.rpc("increment_double", key="i", num="nan").status == 450
    wire.rpc("set", key="t", value="text")
    r = wire.rpc("increment_double", key="t", num="1")
    assert (r.status, r.error) == (450, LOGIC)
    wire.rpc("increment", key="n", num="1")  # 8 bytes: not a double record
    assert wire.rpc("increment_double", key="n", num="1").status == 450


def test_cas(wire: KTWire) -> None:
    assert wire.rpc("cas", key="k", nval="v1").status == 200  # absent -> create
    r = wire.rpc("cas", key="k", nval="v2")
    assert (r.status, r.error) == (450, CONFLICT)
    assert wire.rpc("cas", key="k", oval="v1", nval="v2").status == 200
    r = wire.rpc("cas", key="k", oval="v1", nval="v3")
    assert (r.status, r.error) == (450, CONFLICT)
    assert wire.rpc("get", key="k")["value"] == b"v2"
    assert wire.rpc("cas", key="k", oval="v2").status == 200  # no nval: remove
    assert wire.rpc("get", key="k").status == 450
    assert wire.rpc("cas", key="k").status == 200  # absent and stays absent
    assert wire.rpc("cas", key="k", oval="x").status == 450
    assert wire.rpc("cas", key="k", nval="v", xt="100").status == 200
    assert "xt" in wire.rpc("get", key="k").out.__repr__() or wire.rpc("get", key="k")["xt"]
    r = wire.rpc("cas")
    assert (r.status, r.error) == (400, b"invalid parameters")


def test_seize(wire: KTWire) -> None:
    wire.rpc("set", key="k", value="v", xt="1000")
    r = wire.rpc("seize", key="k")
    assert r.status == 200 and r["value"] == b"v" and int(r["xt"]) > time.time()
    r = wire.rpc("seize", key="k")
    assert (r.status, r.error) == (450, NOREC)


# -- bulk --------------------------------------------------------------------------


def test_bulk_procedures(wire: KTWire) -> None:
    r = wire.rpc("set_bulk", ("_a", "1"), ("_b", "2"), ("_c", "3"), ("other", "x"))
    assert (r.status, r.pairs) == (200, [(b"num", b"3")])
    r = wire.rpc("get_bulk", ("_a", ""), ("_c", ""), ("_zz", ""))
    assert r.status == 200
    assert r.pairs == [(b"_a", b"1"), (b"_c", b"3"), (b"num", b"2")]
    r = wire.rpc("remove_bulk", ("_a", ""), ("_zz", ""))
    assert (r.status, r.pairs) == (200, [(b"num", b"1")])
    r = wire.rpc("get_bulk", ("_a", ""), ("_b", ""), ("atomic", ""))
    assert r.pairs == [(b"_b", b"2"), (b"num", b"1")]
    r = wire.rpc("set_bulk", ("_x", "1"), xt="1000", DB="1")
    assert r["num"] == b"1"
    assert int(wire.rpc("get", key="x", DB="1")["xt"]) > time.time()
    assert wire.rpc("get_bulk", DB="1").pairs == [(b"num", b"0")]


# -- scans --------------------------------------------------------------------------


@pytest.mark.parametrize("db", TREE_DBS + HASH_DBS)
def test_match_prefix(wire: KTWire, db: str) -> None:
    for k in ("apple", "apply", "ape", "banana", "app", ""):
        wire.rpc("set", key=k, value="v", DB=db)
    r = wire.rpc("match_prefix", prefix="ap", DB=db)
    assert r.status == 200 and r["num"] == b"4"
    assert sorted(r.matched()) == [b"ape", b"app", b"apple", b"apply"]
    if db in TREE_DBS:
        assert r.matched() == [b"ape", b"app", b"apple", b"apply"]
    r = wire.rpc("match_prefix", prefix="ap", max="2", DB=db)
    assert r["num"] == b"2" and len(r.matched()) == 2
    assert wire.rpc("match_prefix", prefix="ap", max="0", DB=db).pairs == [(b"num", b"0")]
    assert wire.rpc("match_prefix", prefix="", DB=db)["num"] == b"6"
    assert wire.rpc("match_prefix", prefix="zz", DB=db).pairs == [(b"num", b"0")]
    assert wire.rpc("match_prefix", DB=db).status == 400


REGEX_KEYS = [b"apple", b"banana", b"a1", b"a22", b"d", b"x.y", b"xzy", b"AB", b"ab\nc",
              b"a\\b", b"hello world", b"nul\x00zz", b"a{2}", b"aa"]
REGEX_CASES = [
    ("^a", [b"a1", b"a22", b"a\\b", b"a{2}", b"aa", b"ab\nc", b"apple"]),
    ("a$", [b"aa", b"banana"]),
    ("[[:digit:]]+", [b"a1", b"a22", b"a{2}"]),
    ("\\d", [b"d", b"hello world"]),  # POSIX: \d is the letter d
    ("[\\d]", [b"a\\b", b"d", b"hello world"]),  # backslash is literal in brackets
    ("a{2}", [b"aa"]),
    ("x.y", [b"x.y", b"xzy"]),
    ("ab.c", [b"ab\nc"]),  # . matches a newline
    ("c$", [b"ab\nc"]),
    ("zz$", []),  # keys end at NUL for the matcher
    ("\\bworld", [b"hello world"]),
    ("\\<wor", [b"hello world"]),
    ("[[:upper:]]+", [b"AB"]),
    ("a+?", REGEX_KEYS),  # stacked repetition, not a lazy quantifier
    ("(ab|)", REGEX_KEYS),
    ("a\\{2\\}", [b"a{2}"]),
]


@pytest.mark.parametrize("pattern,expected", REGEX_CASES, ids=[c[0] for c in REGEX_CASES])
def test_match_regex_dialect(wire: KTWire, pattern: str, expected: List[bytes]) -> None:
    for k in REGEX_KEYS:
        wire.rpc("set", ("key", k), ("value", "v"), ("DB", "1"), colenc="B")
    r = wire.rpc("match_regex", regex=pattern, DB="1")
    assert r.status == 200
    assert sorted(r.matched()) == sorted(expected)


@pytest.mark.parametrize("pattern", ["(", "*a", "a|*b", "[z-a]", "[[:foo:]]", "a{2,1}",
                                     "a{}", "\\", "(a)\\2", "(?i)ab"])
def test_match_regex_invalid(wire: KTWire, pattern: str) -> None:
    r = wire.rpc("match_regex", regex=pattern)
    assert (r.status, r.error) == (450, b"DB: 8: logical inconsistency: compilation failed")


def test_match_regex_max_and_params(wire: KTWire) -> None:
    for k in ("a1", "a2", "a3", "b"):
        wire.rpc("set", key=k, value="v", DB="1")
    r = wire.rpc("match_regex", regex="a", max="2", DB="1")
    assert r["num"] == b"2" and r.matched() == [b"a1", b"a2"]
    assert wire.rpc("match_regex", regex="a", max="-1", DB="1")["num"] == b"3"
    assert wire.rpc("match_regex", DB="1").status == 400


def test_match_similar(wire: KTWire) -> None:
    for k in ("apple", "apply", "ape", "banana", "band", "bandana", "b", "app", "appl"):
        wire.rpc("set", key=k, value="v", DB="1")
    r = wire.rpc("match_similar", origin="apple", DB="1")
    assert r.matched() == [b"apple", b"appl", b"apply"]  # nearest first, then bytes
    r = wire.rpc("match_similar", origin="apple", range="2", DB="1")
    assert r.matched() == [b"apple", b"appl", b"apply", b"ape", b"app"]
    r = wire.rpc("match_similar", origin="band", range="3", max="3", DB="1")
    assert r.matched() == [b"band", b"ape", b"app"]  # distance 0, then 3 in byte order
    r = wire.rpc("match_similar", origin="bnd", range="0", DB="1")
    assert r.pairs == [(b"num", b"0")]
    r = wire.rpc("match_similar", origin="band", range="-4", DB="1")  # negative: 1
    assert r.matched() == [b"band"]
    assert wire.rpc("match_similar", DB="1").status == 400


def test_match_similar_utf(wire: KTWire) -> None:
    for k in ("caf\u00e9", "cafe", "caff\u00e9", "\u65e5\u672c", "\u65e5\u672c\u8a9e", "\u65e5"):
        wire.rpc("set", key=k, value="v", DB="1")
    byte_wise = wire.rpc("match_similar", origin="caf\u00e9", DB="1").matched()
    assert byte_wise == ["caf\u00e9".encode(), "caff\u00e9".encode()]
    chars = wire.rpc("match_similar", origin="caf\u00e9", utf="1", DB="1").matched()
    assert chars == [k.encode() for k in ("caf\u00e9", "cafe", "caff\u00e9")]
    chars = wire.rpc("match_similar", origin="\u65e5\u672c", utf="1", DB="1").matched()
    assert chars == [k.encode() for k in ("\u65e5\u672c", "\u65e5", "\u65e5\u672c\u8a9e")]


# -- database procedures -------------------------------------------------------------


def test_status(wire: KTWire) -> None:
    expected_types = {"0": b"32", "1": b"33", "2": b"48", "3": b"49"}
    for db, name in enumerate(DATABASES):
        wire.rpc("set", key="a", value="1", DB=str(db))
        wire.rpc("set", key="b", value="2", DB=str(db))
        r = wire.rpc("status", DB=str(db))
        assert r.status == 200
        assert r["count"] == b"2"
        assert int(r["size"]) >= 0
        assert r["path"] == name.encode()
        assert r["type"] == expected_types[str(db)]
        assert r["realtype"] == expected_types[str(db)]
        for field in (b"ktopts", b"ktcapcnt", b"ktcapsiz"):
            assert field in r.out
    assert wire.rpc("status", DB="9").status == 400


def test_report(wire: KTWire) -> None:
    wire.rpc("set", key="a", value="1", DB="2")
    r = wire.rpc("report")
    assert r.status == 200
    assert r["db_2"].startswith(b"count=1 size=") and r["db_2"].endswith(b" path=casket.kch")
    assert r["db_1"].endswith(b" path=%")
    assert int(r["db_total_count"]) == 1
    assert int(r["serv_conn_count"]) >= 1
    assert int(r["serv_proc_id"]) > 0
    assert abs(float(r["serv_current_time"]) - time.time()) < 60
    for field in ("cnt_set", "cnt_set_misses", "cnt_remove", "cnt_remove_misses", "cnt_get",
                  "cnt_get_misses", "cnt_script", "cnt_misc", "conf_kt_version",
                  "serv_thread_count", "serv_running_term", "db_total_size", "conf_os_name"):
        assert field.encode() in r.out, field
    assert r["conf_kt_version"].startswith(b"1.0.0")


def test_clear_vacuum_synchronize(wire: KTWire) -> None:
    for db in range(len(DATABASES)):
        wire.rpc("set", key="a", value="1", DB=str(db))
        assert wire.rpc("synchronize", DB=str(db)).status == 200
        assert wire.rpc("synchronize", hard="", DB=str(db)).status == 200
        assert wire.rpc("vacuum", DB=str(db)).status == 200
        assert wire.rpc("vacuum", step="5", DB=str(db)).status == 200
        assert wire.rpc("clear", DB=str(db)).status == 200
        assert wire.rpc("status", DB=str(db))["count"] == b"0"
    # ktserver runs "command" from its -cmd directory: a missing command
    # fails the whole call.
    r = wire.rpc("synchronize", command="no-such-command", DB="2")
    assert (r.status, r.error) == (500, b"DB: 8: logical inconsistency: postprocessing failed")
    for proc in ("clear", "vacuum", "synchronize"):
        assert wire.rpc(proc, DB="7").status == 400


def test_update_log_and_replication_answers(wire: KTWire) -> None:
    for proc in ("ulog_list", "ulog_remove"):
        r = wire.rpc(proc)
        assert (r.status, r.error) == (400, b"no update log allows no replication")
    r = wire.rpc("tune_replication", host="localhost", port="1978")
    assert (r.status, r.error) == (501, b"the RTS file is not set")


def test_play_script_without_scripts(wire: KTWire) -> None:
    r = wire.rpc("play_script", name="echo", _a="1")
    assert (r.status, r.error) == (501, b"the scripting extention is disabled")


# -- cursors ------------------------------------------------------------------------


@pytest.mark.parametrize("db", TREE_DBS)
def test_cursor_walk_tree(wire: KTWire, db: str) -> None:
    r = wire.rpc("cur_jump", CUR="1", DB=db)
    assert (r.status, r.error) == (450, NOREC)  # empty database
    for k in ("b", "d", "a", "c"):
        wire.rpc("set", key=k, value=k.upper(), DB=db)
    assert wire.rpc("cur_get", CUR="1").status == 450  # not positioned yet
    assert wire.rpc("cur_jump", CUR="1").status == 200  # the cursor remembers its DB
    assert wire.rpc("cur_get", CUR="1", step="").pairs == [(b"key", b"a"), (b"value", b"A")]
    assert wire.rpc("cur_get_key", CUR="1", step="").pairs == [(b"key", b"b")]
    assert wire.rpc("cur_get_value", CUR="1", step="").pairs == [(b"value", b"C")]
    assert wire.rpc("cur_get", CUR="1").pairs == [(b"key", b"d"), (b"value", b"D")]
    assert wire.rpc("cur_step", CUR="1").status == 450  # past the last record
    assert wire.rpc("cur_get", CUR="1").error == NOREC
    assert wire.rpc("cur_step", CUR="1").status == 450
    assert wire.rpc("cur_jump", CUR="1", key="bb").status == 200
    assert wire.rpc("cur_get_key", CUR="1")["key"] == b"c"
    assert wire.rpc("cur_jump", CUR="1", key="z").status == 450
    assert wire.rpc("cur_jump_back", CUR="1", key="bb").status == 200
    assert wire.rpc("cur_get_key", CUR="1")["key"] == b"b"
    assert wire.rpc("cur_jump_back", CUR="1", key="0").status == 450
    assert wire.rpc("cur_jump_back", CUR="1").status == 200
    assert wire.rpc("cur_get_key", CUR="1")["key"] == b"d"
    assert wire.rpc("cur_step_back", CUR="1").status == 200
    assert wire.rpc("cur_get_key", CUR="1")["key"] == b"c"
    # After a backward move, step=true moves backward on B+ trees.
    assert wire.rpc("cur_set_value", CUR="1", value="NEW", step="").status == 200
    assert wire.rpc("cur_get", CUR="1").pairs == [(b"key", b"b"), (b"value", b"B")]
    assert wire.rpc("get", key="c", DB=db)["value"] == b"NEW"
    assert wire.rpc("cur_remove", CUR="1").status == 200
    assert wire.rpc("cur_get_key", CUR="1")["key"] == b"a"
    r = wire.rpc("cur_seize", CUR="1")
    assert r.pairs == [(b"key", b"a"), (b"value", b"A")]
    assert wire.rpc("cur_get", CUR="1").status == 450
    assert wire.rpc("cur_seize", CUR="1").status == 450
    assert wire.rpc("cur_set_value", CUR="1").status == 400  # no value
    assert wire.rpc("status", DB=db)["count"] == b"2"


def _walk(wire: KTWire, cur: str, procedure: str) -> List[Any]:
    """The replies of ``procedure`` with ``step`` from the cursor's
    position to the end."""
    replies = []
    while True:
        r = wire.rpc(procedure, CUR=cur, step="")
        if r.status != 200:
            return replies
        replies.append(r)


@pytest.mark.parametrize("db", TREE_DBS)
def test_cursor_follows_removed_records(wire: KTWire, db: str) -> None:
    for k in ("a", "b", "c", "d"):
        wire.rpc("set", key=k, value="v", DB=db)
    wire.rpc("cur_jump", CUR="3", key="b", DB=db)
    wire.rpc("remove", key="b", DB=db)
    assert wire.rpc("cur_get_key", CUR="3")["key"] == b"c"
    wire.rpc("set", key="bb", value="v", DB=db)
    assert wire.rpc("cur_get_key", CUR="3")["key"] == b"c"
    wire.rpc("cur_jump", CUR="3")
    assert [r["key"] for r in _walk(wire, "3", "cur_get_key")] == [b"a", b"bb", b"c", b"d"]


@pytest.mark.parametrize("db", HASH_DBS)
def test_cursor_hash(wire: KTWire, db: str) -> None:
    for k in ("b", "d", "a", "c"):
        wire.rpc("set", key=k, value=k.upper(), DB=db)
    assert wire.rpc("cur_jump", CUR="2", DB=db, key="c").status == 200
    assert wire.rpc("cur_get_key", CUR="2")["key"] == b"c"
    assert wire.rpc("cur_jump", CUR="2", key="zz").status == 450  # exact key only
    for proc, extra in (("cur_jump_back", {}), ("cur_jump_back", {"key": "c"}),
                        ("cur_step_back", {})):
        r = wire.rpc(proc, CUR="2", **extra)
        assert (r.status, r.error) == (501, NOIMPL)
    wire.rpc("cur_jump", CUR="2")
    seen = [(r["key"], r["value"]) for r in _walk(wire, "2", "cur_get")]
    assert sorted(seen) == [(b"a", b"A"), (b"b", b"B"), (b"c", b"C"), (b"d", b"D")]


def test_cursors_belong_to_connections(wire: KTWire) -> None:
    wire.rpc("set", key="a", value="1", DB="1")
    assert wire.rpc("cur_jump", CUR="7", DB="1").status == 200
    assert wire.rpc("cur_get_key", CUR="7")["key"] == b"a"
    with KTWire(wire.host, wire.port) as other:
        # The same id on another connection is another, unpositioned cursor.
        assert other.rpc("cur_get_key", CUR="7", DB="1").status == 450
    assert wire.rpc("cur_delete", CUR="7").pairs == []
    r = wire.rpc("cur_delete", CUR="7")  # unknown ids fall through to "not implemented"
    assert (r.status, r.error) == (501, b"not implemented: cur_delete")
    for bad in ({}, {"CUR": "abc"}, {"CUR": "-1"}, {"CUR": "5", "DB": "99"}):
        r = wire.rpc("cur_jump", **bad)
        assert (r.status, r.error) == (400, b"no such cursor"), bad


def test_cursor_item_expiration_field(wire: KTWire) -> None:
    wire.rpc("set", key="a", value="1", xt="1000", DB="1")
    wire.rpc("cur_jump", CUR="1", DB="1")
    r = wire.rpc("cur_get", CUR="1")
    assert int(r["xt"]) > time.time()
    assert "xt" not in [k.decode() for k in wire.rpc("cur_get_key", CUR="1").out]
    r = wire.rpc("cur_set_value", CUR="1", value="2")  # no xt: never expires now
    assert wire.rpc("cur_get", CUR="1").get("xt") is None


# -- through the client -----------------------------------------------------------


def test_client_round_trip(client: KyotoTycoon) -> None:
    client.set("k", "v")
    assert client.get("k") == "v"
    assert client.set_bulk({"a": "1", "b": "2"}, db=1) == 2
    assert client.get_bulk(["a", "b", "zz"], db=1) == {"a": "1", "b": "2"}
    assert client.add("k", "x") is False
    assert client.replace("k", "w") is True
    assert client.append("k", "!") is True
    assert client.get("k") == "w!"
    assert client.incr("n", 5) == 5
    assert client.incr_double("d", 1.5) == 1.5
    assert client.cas("k", "w!", "z") is True
    assert client.cas("k", "w!", "y") is False
    assert client.seize("k") == "z"
    assert client.exists("k") is False
    assert client.match_prefix("", db=1) == ["a", "b"]
    assert client.match_regex("^b", db=1) == ["b"]
    assert client.match_similar("c", 1, db=1) == ["a", "b"]
    assert list(client.keys(db=1)) == ["a", "b"]
    assert list(client.items(db=1)) == [("a", "1"), ("b", "2")]
    assert client.count(db=1) == 2
    assert client.remove_bulk(["a", "zz"], db=1) == 1
    assert client.status(db=3)["path"] == "tree.kct"
    assert "db_3" in client.report()
    client.set("e", "v", expire_time=100)
    expire = client.expire_time("e")
    assert expire is not None and expire > time.time()
    assert client.vacuum() is True
    assert client.synchronize(db=2) is True
    assert client.clear(db=1) is True
    assert client.count(db=1) == 0
