"""Contract tests of the table database (``*.tct``): column records, indexes
and the query engine, through the wire.

One generated data set is loaded into the built-in server and, when
installed, the real ttserver; many conditions (every operator, negated,
without index, with indexes of every type) run on both and must give the
same records.  Without an order the result order is the database's
natural order (storage order in ttserver), so unordered results are
compared as sets; ordered ones as lists (order columns have unique values,
or ties are compared as groups).
"""

from __future__ import annotations

import random
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

from kt.protocol import tt_binary as tb
from servers import RunningServer, server_kinds
from tt_wire import TTWire

IMPLS = server_kinds("tyrant")

WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "Apple", "BANANA",
         "caf\u00e9", "na\u00efve", "\u00c9cole", "stra\u00dfe", "kiwi", "lemon"]


def make_records(n: int = 300) -> Dict[bytes, Dict[bytes, bytes]]:
    rnd = random.Random(20240601)
    records: Dict[bytes, Dict[bytes, bytes]] = {}
    for i in range(n):
        cols: Dict[bytes, bytes] = {}
        if i % 11 != 3:
            cols[b"name"] = ("%s %s" % (rnd.choice(WORDS), rnd.choice(WORDS))).encode()
        if i % 7 != 5:
            kind = i % 5
            if kind == 0:
                num = b"%d" % rnd.randint(-50, 50)
            elif kind == 1:
                num = b"%d.%d" % (rnd.randint(-20, 20), rnd.randint(0, 99))
            elif kind == 2:
                num = b"%dabc" % rnd.randint(0, 30)
            elif kind == 3:
                num = b" %d" % rnd.randint(0, 30)
            else:
                num = b"%de2" % rnd.randint(0, 5)
            cols[b"num"] = num
        if i % 4 != 0:
            cols[b"tags"] = b",".join(rnd.sample([b"red", b"green", b"blue", b"x", b"y"],
                                                  rnd.randint(1, 3)))
            if i % 8 == 1:
                cols[b"tags"] = cols[b"tags"].replace(b",", b" ")
        if i % 3 != 2:
            words = [rnd.choice(WORDS) for _ in range(rnd.randint(1, 5))]
            cols[b"text"] = "  ".join(words).encode() if i % 6 == 0 else " ".join(words).encode()
        cols[b"uniq"] = b"%05d" % ((i * 7919) % 100003)
        cols[b"uniqnum"] = b"%d" % (((i * 37) % 1000) - 500)
        records[b"%d" % (i * 3 % 1000) if i % 9 == 0 else b"r%04d" % i] = cols
    return records


RECORDS = make_records()

C = tb  # operator constants
NEG = tb.COND_NEGATE
NOIDX = tb.COND_NO_INDEX

CONDITIONS: List[Tuple[bytes, int, bytes]] = [
    (b"name", C.COND_STR_EQ, b"apple banana"),
    (b"name", C.COND_STR_EQ, b"kiwi kiwi"),
    (b"name", C.COND_STR_INC, b"an"),
    (b"name", C.COND_STR_INC, b""),
    (b"name", C.COND_STR_BW, b"ch"),
    (b"name", C.COND_STR_BW, b"caf\xc3\xa9"),
    (b"name", C.COND_STR_EW, b"fig"),
    (b"tags", C.COND_STR_AND, b"red green"),
    (b"tags", C.COND_STR_AND, b"red,blue"),
    (b"tags", C.COND_STR_OR, b"x y"),
    (b"tags", C.COND_STR_OR, b"purple"),
    (b"tags", C.COND_STR_OREQ, b"red blue,x"),
    (b"name", C.COND_STR_RX, b"^[a-c].* (fig|date)$"),
    (b"name", C.COND_STR_RX, b"*^apple"),
    (b"name", C.COND_STR_RX, b"("),
    (b"num", C.COND_NUM_EQ, b"5"),
    (b"num", C.COND_NUM_EQ, b"1.5"),
    (b"num", C.COND_NUM_GT, b"10"),
    (b"num", C.COND_NUM_GE, b"-3.5"),
    (b"num", C.COND_NUM_LT, b"0"),
    (b"num", C.COND_NUM_LE, b"2"),
    (b"num", C.COND_NUM_BT, b"3 12"),
    (b"num", C.COND_NUM_BT, b"12,-3"),
    (b"num", C.COND_NUM_OREQ, b"1 2 3 4 5"),
    (b"text", C.COND_FTS_PH, b"apple"),
    (b"text", C.COND_FTS_PH, b"CAFE"),
    (b"text", C.COND_FTS_PH, b"ecole"),
    (b"text", C.COND_FTS_PH, b"fig grape"),
    (b"text", C.COND_FTS_AND, b"apple kiwi"),
    (b"text", C.COND_FTS_AND, b"Apple"),
    (b"text", C.COND_FTS_OR, b"lemon,date"),
    (b"text", C.COND_FTS_EX, b"apple && kiwi"),
    (b"text", C.COND_FTS_EX, b"apple || lemon !! banana"),
    (b"text", C.COND_FTS_EX, b"\"fig grape\" || strasse"),
    (b"", C.COND_STR_BW, b"r00"),
    (b"", C.COND_NUM_LT, b"100"),
    (b"uniq", C.COND_STR_BW, b"0"),
    (b"missing", C.COND_STR_EQ, b"x"),
]


def _all_conditions() -> List[Tuple[bytes, int, bytes]]:
    out: List[Tuple[bytes, int, bytes]] = []
    for column, op, expr in CONDITIONS:
        out.append((column, op, expr))
        out.append((column, op | NEG, expr))
        out.append((column, op | NOIDX, expr))
    return out


ALL_CONDITIONS = _all_conditions()


def cond_arg(column: bytes, op: int, expr: bytes) -> bytes:
    return b"addcond\x00" + column + b"\x00%d\x00" % op + expr


class Loaded:
    def __init__(self, impl: str) -> None:
        self.server = RunningServer("tyrant", impl, databases=["t.tct"]).start()
        self.wire = TTWire(self.server.host, self.server.port)
        assert self.wire.vanish() == 0
        for pk, cols in RECORDS.items():
            assert self.wire.misc(b"put", tb.columns_to_args(pk, cols)) == (0, [])

    def search(self, args: List[bytes]) -> List[bytes]:
        status, elems = self.wire.search(args)
        assert status == 0, args
        return elems

    def close(self) -> None:
        self.wire.close()
        self.server.stop()


@pytest.fixture(scope="module")
def dbs() -> Iterator[Dict[str, Loaded]]:
    loaded = {impl: Loaded(impl) for impl in IMPLS}
    yield loaded
    for item in loaded.values():
        item.close()


def set_indexes(db: Loaded, on: bool) -> None:
    kinds = [(b"name", b"0"), (b"num", b"1"), (b"tags", b"2"), (b"text", b"3"),
             (b"uniq", b"lexical"), (b"uniqnum", b"decimal")]
    for column, kind in kinds:
        status, _ = db.wire.misc(b"setindex", [column, kind if on else b"9999"])
        assert status == 0 or not on  # removing a missing index fails


# ---------------------------------------------------------------------------
# Reference answers for the simple operators
# ---------------------------------------------------------------------------


def num_of(text: bytes) -> float:
    """Tokyo Cabinet's reading of a number in a query: no exponent."""
    text = text.lstrip(b" ")
    sign = 1.0
    if text[:1] in (b"-", b"+"):
        sign = -1.0 if text[:1] == b"-" else 1.0
        text = text[1:]
    digits = b""
    for c in text:
        if 48 <= c <= 57 or (c == 46 and b"." not in digits):
            digits += bytes((c,))
        else:
            break
    return sign * float(digits or b"0") if digits != b"." else 0.0


def reference(column: bytes, op: int, expr: bytes) -> Optional[Set[bytes]]:
    base = op & ~(NEG | NOIDX)
    out: Set[bytes] = set()
    for pk, cols in RECORDS.items():
        value = pk if not column else cols.get(column)
        if value is None:
            hit = None
        elif base == C.COND_STR_EQ:
            hit = value == expr
        elif base == C.COND_STR_INC:
            hit = expr in value
        elif base == C.COND_STR_BW:
            hit = value.startswith(expr)
        elif base == C.COND_STR_EW:
            hit = value.endswith(expr)
        elif base == C.COND_NUM_GT:
            hit = num_of(value) > num_of(expr)
        elif base == C.COND_NUM_LT:
            hit = num_of(value) < num_of(expr)
        elif base == C.COND_NUM_EQ:
            hit = num_of(value) == num_of(expr)
        else:
            return None
        if (hit is True and not op & NEG) or (hit is not True and op & NEG):
            out.add(pk)
    return out


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_conditions_against_reference_and_between_servers(dbs: Dict[str, Loaded]) -> None:
    results: Dict[str, List[Set[bytes]]] = {}
    for impl, db in dbs.items():
        set_indexes(db, False)
        plain = [set(db.search([cond_arg(*c)])) for c in ALL_CONDITIONS]
        set_indexes(db, True)
        indexed = [set(db.search([cond_arg(*c)])) for c in ALL_CONDITIONS]
        set_indexes(db, False)
        for cond, a, b in zip(ALL_CONDITIONS, plain, indexed):
            if cond[1] & ~(NEG | NOIDX) == C.COND_STR_AND and not cond[2]:
                continue  # an empty token list differs with a token index, in ttserver too
            assert a == b, (impl, cond)
        results[impl] = plain
        for cond, found in zip(ALL_CONDITIONS, plain):
            expected = reference(*cond)
            if expected is not None:
                assert found == expected, (impl, cond)
    if len(results) == 2:
        for cond, a, b in zip(ALL_CONDITIONS, results["builtin"], results["real"]):
            assert a == b, cond


def test_conditions_are_anded(dbs: Dict[str, Loaded]) -> None:
    answers = []
    for db in dbs.values():
        args = [cond_arg(b"num", C.COND_NUM_GE, b"0"), cond_arg(b"tags", C.COND_STR_OR, b"red"),
                cond_arg(b"name", C.COND_STR_INC, b"a")]
        found = set(db.search(args))
        each = [set(db.search([a])) for a in args]
        assert found == each[0] & each[1] & each[2]
        assert found
        answers.append(found)
    assert all(a == answers[0] for a in answers)


ORDERS = [(b"uniq", C.ORDER_STR_ASC), (b"uniq", C.ORDER_STR_DESC),
          (b"uniqnum", C.ORDER_NUM_ASC), (b"uniqnum", C.ORDER_NUM_DESC),
          (b"", C.ORDER_STR_ASC), (b"", C.ORDER_STR_DESC), (b"", C.ORDER_NUM_ASC),
          (b"", C.ORDER_NUM_DESC)]


@pytest.mark.parametrize("column,otype", ORDERS)
def test_order_limit_offset(dbs: Dict[str, Loaded], column: bytes, otype: int) -> None:
    answers = []
    for db in dbs.values():
        order = b"setorder\x00" + column + b"\x00%d" % otype
        full = db.search([order])
        assert set(full) == set(RECORDS)
        if column == b"uniq":
            values = [RECORDS[pk][b"uniq"] for pk in full]
            assert values == sorted(values, reverse=otype == C.ORDER_STR_DESC)
        if column == b"uniqnum":
            nums = [int(RECORDS[pk][b"uniqnum"]) for pk in full]
            assert nums == sorted(nums, reverse=otype == C.ORDER_NUM_DESC)
        assert db.search([order, b"setlimit\x0010\x005"]) == full[5:15]
        assert db.search([order, b"setlimit\x00-1\x00290"]) == full[290:]
        assert db.search([order, b"setlimit\x000\x000"]) == []
        cond = cond_arg(b"num", C.COND_NUM_GT, b"0")
        assert db.search([cond, order, b"setlimit\x005"]) == db.search([cond, order])[:5]
        answers.append(full)
    if column or otype in (C.ORDER_STR_ASC, C.ORDER_STR_DESC):
        assert all(a == answers[0] for a in answers)
    else:
        # numeric order of primary keys: ties (non-numeric keys) by bytes
        assert all(a == answers[0] for a in answers)


def test_order_with_ties_and_missing_columns(dbs: Dict[str, Loaded]) -> None:
    answers = []
    for db in dbs.values():
        for otype in (C.ORDER_NUM_ASC, C.ORDER_NUM_DESC, C.ORDER_STR_ASC, C.ORDER_STR_DESC):
            found = db.search([b"setorder\x00num\x00%d" % otype])
            values = [RECORDS[pk].get(b"num") for pk in found]
            present = [v for v in values if v is not None]
            assert values[len(present):] == [None] * (len(values) - len(present))  # missing last
            if otype in (C.ORDER_NUM_ASC, C.ORDER_NUM_DESC):
                keys = [num_of(v) for v in present]
                assert keys == sorted(keys, reverse=otype == C.ORDER_NUM_DESC)
            else:
                assert present == sorted(present, reverse=otype == C.ORDER_STR_DESC)
            answers.append([num_of(v) if v is not None else None for v in values]
                           if otype < 2 else values)
    n = len(answers) // len(dbs)
    for i in range(n):
        assert all(answers[i + k * n] == answers[i] for k in range(len(dbs)))


def test_get_count_hint_out(dbs: Dict[str, Loaded]) -> None:
    for db in dbs.values():
        cond = cond_arg(b"uniq", C.COND_STR_BW, b"00")
        order = b"setorder\x00uniq\x000"
        pks = db.search([cond, order])
        assert pks
        records = db.search([cond, order, b"get"])
        assert len(records) == len(pks)
        for pk, rec in zip(pks, records):
            cols = tb.decode_columns(rec)
            assert cols[b""] == pk
            del cols[b""]
            assert cols == RECORDS[pk]
            assert rec.startswith(b"\x00" + pk + b"\x00")
        some = db.search([cond, order, b"get\x00uniq\x00nope\x00"])
        assert some == [b"uniq\x00" + RECORDS[pk][b"uniq"] + b"\x00\x00" + pk for pk in pks]
        assert db.search([cond, b"count"]) == [b"%d" % len(pks)]
        assert db.search([cond, b"setlimit\x002", b"count"]) == [b"2"]
        elems = db.search([cond, b"hint"])
        found, hint = tb.split_hint(elems)
        assert set(found) == set(pks)
        assert b"result set size: %d" % len(pks) in hint


def test_metasearch(dbs: Dict[str, Loaded]) -> None:
    answers = []
    for db in dbs.values():
        a = cond_arg(b"num", C.COND_NUM_GT, b"10")
        b = cond_arg(b"tags", C.COND_STR_OR, b"red")
        sa = set(db.search([a]))
        sb = set(db.search([b]))
        union = db.wire.misc(b"metasearch", [a, b"next", b, b"mstype\x000"])
        isect = db.wire.misc(b"metasearch", [a, b"next", b, b"mstype\x001"])
        diff = db.wire.misc(b"metasearch", [a, b"next", b, b"mstype\x002"])
        assert union[0] == isect[0] == diff[0] == 0
        assert set(union[1]) == sa | sb and len(union[1]) == len(sa | sb)
        assert set(isect[1]) == sa & sb
        assert set(diff[1]) == sa - sb
        ordered = db.wire.misc(b"metasearch", [a, b"setorder\x00uniq\x000", b"next", b])[1]
        assert ordered == sorted(sa | sb, key=lambda pk: RECORDS[pk][b"uniq"])
        answers.append(ordered)
    assert all(x == answers[0] for x in answers)


def test_table_records_commands() -> None:
    for impl in IMPLS:
        with RunningServer("tyrant", impl, databases=["r.tct"]) as server, \
                TTWire(server.host, server.port) as w:
            assert w.put(b"k1", b"a\x00x\x00b\x00y") == 0
            assert w.get(b"k1") == b"a\x00x\x00b\x00y"
            assert w.vsiz(b"k1") == (0, 8)  # Tokyo Cabinet's internal serialisation
            assert w.putcat(b"k1", b"c\x00z\x00a\x00q") == 0
            assert w.get(b"k1") == b"a\x00x\x00b\x00y\x00c\x00z"  # existing columns kept
            assert w.put(b"k2", b"a\x00x\x00b") == 0  # a name without value is dropped
            assert w.get(b"k2") == b"a\x00x"
            assert w.put(b"k3", b"") == 0
            assert w.get(b"k3") == b""
            assert w.put(b"k4", b"\x00v") == 1  # an empty column name
            assert w.putkeep(b"k1", b"a\x00b") == 1
            assert w.addint(b"n", 5) == (0, 5)
            assert w.get(b"n") == b"_num\x005"
            assert w.adddouble(b"n", 1.25) == (0, 6.25)
            assert w.get(b"n") == b"_num\x006.25"
            assert w.addint(b"k1", 2) == (0, 2)
            assert w.get(b"k1") == b"a\x00x\x00b\x00y\x00c\x00z\x00_num\x002"
            assert w.misc(b"genuid", []) == (0, [b"1"])
            assert w.addint(b"", 1) == (0, 1)  # an empty key: a new unique id
            assert w.get(b"2") == b"_num\x001"
            assert w.misc(b"put", [b"m", b"a", b"1", b"b"]) == (0, [])
            assert w.misc(b"get", [b"m"]) == (0, [b"a", b"1"])
            assert w.misc(b"getlist", [b"m", b"zz"]) == (0, [b"m", b"a\x001"])
            assert w.misc(b"putlist", [b"p", b"c\x00d"]) == (0, [])
            assert w.misc(b"get", [b"p"]) == (0, [b"c", b"d"])
            assert w.misc(b"out", [b"p"]) == (0, [])
            assert w.misc(b"out", [b"p"]) == (1, [])
            status, found = w.misc(b"regex", [b"^k[12]$"])
            assert status == 0 and sorted(found[::2]) == [b"k1", b"k2"]
            assert w.misc(b"range", [b"k"]) == (1, [])
            for name in (b"defrag", b"cacheclear", b"sync", b"optimize"):
                assert w.misc(name, []) == (0, []), name
            assert w.misc(b"setindex", [b"a", b"0"]) == (0, [])
            assert w.misc(b"setindex", [b"a", b"%d" % (tb.INDEX_KEEP | 0)]) == (1, [])
            assert w.misc(b"setindex", [b"a", b"9998"]) == (0, [])
            assert w.misc(b"setindex", [b"a", b"9999"]) == (0, [])
            assert w.misc(b"setindex", [b"a", b"9999"]) == (1, [])
            assert w.misc(b"setindex", [b"a", b"99"]) == (1, [])
            assert w.misc(b"setindex", [b"a", b"token"]) == (0, [])
            assert w.misc(b"setindex", [b"a", b"nonsense"]) == (1, [])
            assert w.misc(b"search", [cond_arg(b"a", C.COND_STR_EQ, b"x"), b"out"]) == (0, [])
            assert w.get(b"k1") is None
            assert w.misc(b"search", [cond_arg(b"a", C.COND_STR_EQ, b"1"), b"out", b"get"]) == \
                (0, [b"\x00m\x00a\x001"])
            assert w.vanish() == 0
            assert w.misc(b"genuid", []) == (0, [b"1"])  # vanish resets the ids
