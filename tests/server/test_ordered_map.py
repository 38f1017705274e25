"""Property test of the built-in servers' ordered map (the tree databases'
index, kt.server.kyoto.storage.OrderedMap) against a dict plus sorted()."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from kt.server.kyoto.storage import OrderedMap

KEYS = st.binary(max_size=3)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, st.binary(max_size=2)),
        st.tuples(st.just("pop"), KEYS, st.just(b"")),
        st.tuples(st.just("query"), KEYS, st.just(b"")),
        st.tuples(st.just("clear"), st.just(b""), st.just(b"")),
    ),
    max_size=120,
)


def _first(keys: List[bytes], pred: "object") -> Optional[bytes]:
    for k in keys:
        if pred(k):  # type: ignore[operator]
            return k
    return None


def _check_queries(m: OrderedMap, ref: Dict[bytes, bytes], key: bytes) -> None:
    keys = sorted(ref)
    assert m.live_keys() == keys
    assert len(m) == len(ref)
    assert m.get(key) == ref.get(key)
    assert m.first() == (keys[0] if keys else None)
    assert m.last() == (keys[-1] if keys else None)
    assert m.ceiling(key) == _first(keys, lambda k: k >= key)
    assert m.higher(key) == _first(keys, lambda k: k > key)
    assert m.floor(key) == _first(keys[::-1], lambda k: k <= key)
    assert m.lower(key) == _first(keys[::-1], lambda k: k < key)
    assert m.prefixed(key[:1], -1) == [k for k in keys if k.startswith(key[:1])]
    assert m.prefixed(key[:1], 2) == [k for k in keys if k.startswith(key[:1])][:2]


@settings(max_examples=300, deadline=None)
@given(OPS, KEYS, st.booleans(), st.booleans(), st.integers(-1, 5))
def test_ordered_map_matches_dict_and_sorted(ops: List[Tuple[str, bytes, bytes]], end: bytes,
                                             start_inc: bool, end_inc: bool, limit: int) -> None:
    m = OrderedMap()
    ref: Dict[bytes, bytes] = {}
    for op, key, value in ops:
        if op == "put":
            m.put(key, value)
            ref[key] = value
        elif op == "pop":
            assert m.pop(key) == ref.pop(key, None)
        elif op == "clear":
            m.clear()
            ref.clear()
        else:
            _check_queries(m, ref, key)
    keys = sorted(ref)
    start = ops[0][1] if ops else None
    want = [k for k in keys
            if (start is None or k > start or (start_inc and k == start))
            and (k < end or (end_inc and k == end))]
    assert m.key_range(start, start_inc, end, end_inc, limit) == (want if limit < 0
                                                                   else want[:limit])
    _check_queries(m, ref, end)
