"""Table databases and QueryBuilder: server results against a brute-force
filter in Python over generated records (hypothesis), for every operator,
negation, order, limit and offset; with TokyoTyrant and AsyncTokyoTyrant
(tests/mirror.py)."""

from __future__ import annotations

import random
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import given, settings, strategies as st

import kt
from kt import (
    INDEX_NUM,
    INDEX_QGRAM,
    INDEX_STR,
    INDEX_TOKEN,
    OP_FTS_ALL,
    OP_FTS_ANY,
    OP_FTS_EXPRESSION,
    OP_FTS_PHRASE,
    OP_NEGATE,
    OP_NOINDEX,
    OP_NUM_ANYEXACT,
    OP_NUM_BETWEEN,
    OP_NUM_EQ,
    OP_NUM_GE,
    OP_NUM_GT,
    OP_NUM_LE,
    OP_NUM_LT,
    OP_STR_ALL,
    OP_STR_ANY,
    OP_STR_ANYEXACT,
    OP_STR_CONTAINS,
    OP_STR_ENDSWITH,
    OP_STR_EQ,
    OP_STR_REGEX,
    OP_STR_STARTSWITH,
    ORDER_NUM_ASC,
    ORDER_NUM_DESC,
    ORDER_STR_ASC,
    ORDER_STR_DESC,
    TT_TABLE,
    QueryBuilder,
    TokyoTyrant,
)
from mirror import FLAVOURS, client_for, connect_fixture
from servers import RunningServer

connect = connect_fixture("tyrant")

WORDS = ["alpha", "alp", "beta", "gamma", "delta", "ab", "ba", "zeta", "eta", "mu"]
Record = Dict[str, str]


def make_records(n: int = 150, seed: int = 7) -> Dict[str, Record]:
    rnd = random.Random(seed)
    records: Dict[str, Record] = {}
    for i in range(n):
        records["pk%04d" % i] = {
            "name": rnd.choice(WORDS) + rnd.choice(["", "x", "ab", "a"]),
            "age": str(rnd.randint(-50, 150)),
            "tags": " ".join(rnd.sample(WORDS, rnd.randint(1, 3))),
            "text": " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 5))),
            "uid": "u%05d" % rnd.randrange(100000),  # unique enough? made unique below
            "n": str(i * 7 % 1000),  # unique numbers: orders have no ties
        }
    seen = set()
    for pk, rec in records.items():
        while rec["uid"] in seen:
            rec["uid"] = "u%05d" % rnd.randrange(100000)
        seen.add(rec["uid"])
    return records


RECORDS = make_records()


@pytest.fixture(scope="module", params=FLAVOURS)
def table(request: pytest.FixtureRequest, tt_table_server: RunningServer) -> Iterator[TokyoTyrant]:
    c = client_for(request.param, "tyrant", port=tt_table_server.port, serializer=TT_TABLE,
                   timeout=20)
    c.clear()
    for pk, rec in RECORDS.items():
        assert c.set(pk, rec)
    yield c
    c.close()


# --- brute force -------------------------------------------------------------


def tokens(text: str) -> List[str]:
    return [t for t in re.split(r"[\s,]+", text) if t]


def atoi(text: str) -> int:
    m = re.match(r"\s*([-+]?\d+)", text)
    return int(m.group(1)) if m else 0


def brute_match(value: str, op: int, expr: str) -> bool:
    base = op & ~(OP_NEGATE | OP_NOINDEX)
    if base == OP_STR_EQ:
        hit = value == expr
    elif base == OP_STR_CONTAINS:
        hit = expr in value
    elif base == OP_STR_STARTSWITH:
        hit = value.startswith(expr)
    elif base == OP_STR_ENDSWITH:
        hit = value.endswith(expr)
    elif base == OP_STR_ALL:
        vt = set(tokens(value))
        hit = all(t in vt for t in tokens(expr))
    elif base == OP_STR_ANY:
        vt = set(tokens(value))
        hit = any(t in vt for t in tokens(expr))
    elif base == OP_STR_ANYEXACT:
        hit = value in tokens(expr)
    elif base == OP_STR_REGEX:
        hit = re.search(expr, value) is not None
    elif base in (OP_NUM_EQ, OP_NUM_GT, OP_NUM_GE, OP_NUM_LT, OP_NUM_LE):
        a, b = atoi(value), atoi(expr)
        hit = {OP_NUM_EQ: a == b, OP_NUM_GT: a > b, OP_NUM_GE: a >= b,
               OP_NUM_LT: a < b, OP_NUM_LE: a <= b}[base]
    elif base == OP_NUM_BETWEEN:
        lo, hi = (atoi(t) for t in tokens(expr))
        hit = lo <= atoi(value) <= hi
    elif base == OP_NUM_ANYEXACT:
        hit = atoi(value) in [atoi(t) for t in tokens(expr)]
    elif base == OP_FTS_PHRASE:
        hit = expr.lower() in value.lower()
    elif base == OP_FTS_ALL:
        hit = all(t.lower() in value.lower() for t in tokens(expr))
    elif base == OP_FTS_ANY:
        hit = any(t.lower() in value.lower() for t in tokens(expr))
    else:  # pragma: no cover
        raise AssertionError(op)
    return hit != bool(op & OP_NEGATE)


def brute(conditions: List[Tuple[str, int, str]], order: Optional[Tuple[str, int]],
          limit: Optional[int], offset: Optional[int]) -> List[str]:
    keys = [pk for pk, rec in RECORDS.items()
            if all(brute_match(rec[col], op, expr) for col, op, expr in conditions)]
    if order is not None:
        col, kind = order
        if kind in (ORDER_STR_ASC, ORDER_STR_DESC):
            keys.sort(key=lambda pk: RECORDS[pk][col].encode(), reverse=kind == ORDER_STR_DESC)
        else:
            keys.sort(key=lambda pk: atoi(RECORDS[pk][col]), reverse=kind == ORDER_NUM_DESC)
    start = offset or 0
    return keys[start:start + limit] if limit is not None else keys[start:]


# --- strategies ----------------------------------------------------------------

word = st.sampled_from(WORDS + ["a", "x", "zz"])
str_ops = st.sampled_from([OP_STR_EQ, OP_STR_CONTAINS, OP_STR_STARTSWITH, OP_STR_ENDSWITH])
num = st.integers(-60, 160)


@st.composite
def condition(draw: Callable[..., Any]) -> Tuple[str, int, Any, str]:
    """(column, op, value given to filter(), expression for brute force)."""
    kind = draw(st.sampled_from(["str", "tok", "anyeq", "rx", "num", "bt", "numany", "fts"]))
    flags = draw(st.sampled_from([0, 0, OP_NEGATE, OP_NOINDEX, OP_NEGATE | OP_NOINDEX]))
    if kind == "str":
        op = draw(str_ops)
        col = draw(st.sampled_from(["name", "tags", "uid"]))
        value = draw(word | st.sampled_from(["u0", "alphaab", "betax"]))
        return col, op | flags, value, value
    if kind == "tok":
        op = draw(st.sampled_from([OP_STR_ALL, OP_STR_ANY]))
        words = draw(st.lists(word, min_size=1, max_size=3))
        return "tags", op | flags, words, " ".join(words)
    if kind == "anyeq":
        words = draw(st.lists(word | st.sampled_from(["alphaab", "betax", "mua"]), min_size=1, max_size=4))
        return "name", OP_STR_ANYEXACT | flags, words, " ".join(words)
    if kind == "rx":
        rx = draw(st.sampled_from(["^a", "a$", "^(alpha|beta)", "ta", "^[bg]", "x$"]))
        return "name", OP_STR_REGEX | flags, rx, rx
    if kind == "num":
        op = draw(st.sampled_from([OP_NUM_EQ, OP_NUM_GT, OP_NUM_GE, OP_NUM_LT, OP_NUM_LE]))
        col = draw(st.sampled_from(["age", "n"]))
        v = draw(num)
        return col, op | flags, v, str(v)
    if kind == "bt":
        a, b = sorted((draw(num), draw(num)))
        return "age", OP_NUM_BETWEEN | flags, (a, b), "%d %d" % (a, b)
    if kind == "numany":
        vs = draw(st.lists(num, min_size=1, max_size=4))
        return "age", OP_NUM_ANYEXACT | flags, vs, " ".join(map(str, vs))
    op = draw(st.sampled_from([OP_FTS_PHRASE, OP_FTS_ALL, OP_FTS_ANY]))
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))
    value = " ".join(words)
    return "text", op | flags, value, value


orders = st.none() | st.tuples(st.sampled_from(["uid", "name"]), st.sampled_from([ORDER_STR_ASC, ORDER_STR_DESC])) \
    | st.tuples(st.sampled_from(["n"]), st.sampled_from([ORDER_NUM_ASC, ORDER_NUM_DESC]))


def unique_order(order: Optional[Tuple[str, int]]) -> bool:
    return order is None or order[0] in ("uid", "n")


@settings(max_examples=80)
@given(st.lists(condition(), max_size=3), orders, st.none() | st.integers(0, 40),
       st.none() | st.integers(0, 40))
def test_query_matches_brute_force(table: TokyoTyrant, conds: List[Tuple[str, int, Any, str]],
                                   order: Optional[Tuple[str, int]], limit: Optional[int],
                                   offset: Optional[int]) -> None:
    q = QueryBuilder()
    for col, op, value, _ in conds:
        q.filter(col, op, value)
    if order is not None:
        q.order_by(*order)
    q.limit(limit).offset(offset)
    expected_all = brute([(c, o, e) for c, o, _, e in conds], order, None, None)
    got = q.execute(table)
    if order is not None and unique_order(order):
        assert got == brute([(c, o, e) for c, o, _, e in conds], order, limit, offset)
    else:
        # without a total order the server's order is its own: check the set
        assert set(got) <= set(expected_all)
        start = offset or 0
        want = len(expected_all[start:start + limit] if limit is not None else expected_all[start:])
        assert len(got) == want
    assert q.count(table) == len(got) if limit is None and not offset else True
    if limit is None and not offset:
        assert sorted(got) == sorted(expected_all)


def test_every_operator_once(table: TokyoTyrant) -> None:
    cases: List[Tuple[str, int, Any, str]] = [
        ("name", OP_STR_EQ, "alpha", "alpha"),
        ("name", OP_STR_CONTAINS, "lph", "lph"),
        ("name", OP_STR_STARTSWITH, "be", "be"),
        ("name", OP_STR_ENDSWITH, "ab", "ab"),
        ("tags", OP_STR_ALL, ["alpha", "beta"], "alpha beta"),
        ("tags", OP_STR_ANY, "mu,eta", "mu eta"),
        ("name", OP_STR_ANYEXACT, ["alpha", "beta", "mux"], "alpha beta mux"),
        ("name", OP_STR_REGEX, "^(g|d)", "^(g|d)"),
        ("age", OP_NUM_EQ, 10, "10"),
        ("age", OP_NUM_GT, 100, "100"),
        ("age", OP_NUM_GE, 100, "100"),
        ("age", OP_NUM_LT, -40, "-40"),
        ("age", OP_NUM_LE, -40, "-40"),
        ("age", OP_NUM_BETWEEN, [0, 10], "0 10"),
        ("age", OP_NUM_ANYEXACT, [1, 2, 3, 50], "1 2 3 50"),
        ("text", OP_FTS_PHRASE, "alpha beta", "alpha beta"),
        ("text", OP_FTS_ALL, "zeta mu", "zeta mu"),
        ("text", OP_FTS_ANY, "zeta mu", "zeta mu"),
    ]
    for col, op, value, expr in cases:
        for flags in (0, OP_NEGATE):
            got = QueryBuilder().filter(col, op | flags, value).order_by("uid").execute(table)
            assert got == brute([(col, op | flags, expr)], ("uid", ORDER_STR_ASC), None, None), (col, op, flags)


def test_fts_expression(table: TokyoTyrant) -> None:
    both = QueryBuilder().filter("text", OP_FTS_EXPRESSION, "zeta && mu").order_by("uid").execute(table)
    assert both == brute([("text", OP_FTS_ALL, "zeta mu")], ("uid", ORDER_STR_ASC), None, None)
    either = QueryBuilder().filter("text", OP_FTS_EXPRESSION, "zeta || mu").order_by("uid").execute(table)
    assert either == brute([("text", OP_FTS_ANY, "zeta mu")], ("uid", ORDER_STR_ASC), None, None)


def test_indexes_change_nothing(table: TokyoTyrant) -> None:
    queries = [
        QueryBuilder().filter("name", OP_STR_STARTSWITH, "al").order_by("uid"),
        QueryBuilder().filter("age", OP_NUM_BETWEEN, [10, 60]).order_by("n", ORDER_NUM_DESC),
        QueryBuilder().filter("tags", OP_STR_ANY, "beta mu").order_by("uid", ORDER_STR_DESC),
        QueryBuilder().filter("text", OP_FTS_PHRASE, "eta").order_by("uid"),
    ]
    before = [q.execute(table) for q in queries]
    assert table.set_index("name", INDEX_STR)
    assert table.set_index("age", INDEX_NUM)
    assert table.set_index("tags", INDEX_TOKEN)
    assert table.set_index("text", INDEX_QGRAM)
    assert table.set_index("name", INDEX_STR, check_exists=True) is False
    after = [q.execute(table) for q in queries]
    assert after == before
    assert "name" in queries[0].hint(table)
    assert table.optimize_index("name")
    assert table.delete_index("name")
    assert table.delete_index("age") and table.delete_index("tags") and table.delete_index("text")
    assert [q.execute(table) for q in queries] == before


def test_get_count_and_delete(tt_table_server: RunningServer, connect: Callable[..., Any]) -> None:
    c = connect(port=tt_table_server.port, serializer=TT_TABLE)
    c.clear()
    c.set_bulk({"a": {"x": "1", "y": "one"}, "b": {"x": "2", "y": "two"}, "c": {"x": "3"}})
    q = QueryBuilder().filter("x", OP_NUM_GE, 2).order_by("x", ORDER_NUM_ASC)
    assert q.get(c) == [("b", {"x": "2", "y": "two"}), ("c", {"x": "3"})]
    assert q.count(c) == 2
    assert q.delete(c) is True
    assert sorted(c.keys()) == ["a"]
    assert c.get("a") == {"x": "1", "y": "one"}
    uid1, uid2 = c.genuid(), c.genuid()
    assert uid2 > uid1
    assert c.search([b"addcond\x00x\x000\x001"]) == ["a"]
    assert c.search([b"addcond\x00x\x000\x001"], "count") == 1
    assert c.search([], "get") == [("a", {"x": "1", "y": "one"})]
    # the copy is independent
    q2 = q.copy().limit(1)
    assert q2 is not q


def test_querybuilder_validation() -> None:
    with pytest.raises(TypeError):
        QueryBuilder().filter("age", OP_NUM_GT, "not a number" and object())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        QueryBuilder().filter("age", OP_NUM_GT, "abc")
    with pytest.raises(ValueError):
        QueryBuilder().filter("age", OP_NUM_BETWEEN, [1])
    with pytest.raises(ValueError):
        QueryBuilder().filter("age", 99, "1")
    with pytest.raises(ValueError):
        QueryBuilder().limit(-1)
    with pytest.raises(ValueError):
        QueryBuilder().order_by("x", 17)
    with pytest.raises(ValueError):
        QueryBuilder().filter("tags", OP_STR_ANYEXACT, ["has space"])
    q = QueryBuilder().filter("a", OP_NUM_BETWEEN, (1.5, 2)).filter("b", OP_STR_ANY, ["x", "y"])
    assert [c.expr for c in q.build().conditions] == [b"1.5 2", b"x y"]
    assert kt.OP_NEGATE == 1 << 24 and kt.OP_NOINDEX == 1 << 25
