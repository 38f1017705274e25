"""kt.protocol.convert: the clients' key/value conversions."""

from __future__ import annotations

from typing import List, Tuple

import pytest
from hypothesis import given, strategies as st

from kt.protocol import convert as cv

text_or_bytes = st.text(max_size=30) | st.binary(max_size=30)


@given(st.lists(text_or_bytes, max_size=50))
def test_keys_to_bytes(keys: List[object]) -> None:
    out = cv.keys_to_bytes(keys)
    assert out == [k.encode("utf-8") if isinstance(k, str) else k for k in keys]
    assert cv.keys_to_bytes(iter(keys)) == out
    assert all(type(k) is bytes for k in out)


@given(st.binary(max_size=60))
def test_text_round_trip(data: bytes) -> None:
    t = cv.text(data)
    assert (t.encode("utf-8") if isinstance(t, str) else t) == data
    try:
        data.decode("utf-8")
        assert isinstance(t, str)
    except UnicodeDecodeError:
        assert t == data
    assert cv.texts([data, data]) == [t, t]


@given(st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=20)), max_size=40),
       st.booleans(), st.booleans())
def test_dicts(pairs: List[Tuple[bytes, bytes]], dk: bool, dv: bool) -> None:
    want = {(cv.text(k) if dk else k): (cv.text(v) if dv else v) for k, v in pairs}
    assert cv.pairs_dict(pairs, dk, dv) == want
    assert cv.records_dict([k for k, _ in pairs], [v for _, v in pairs], dk, dv) == want


@given(st.lists(st.tuples(text_or_bytes, text_or_bytes), max_size=40))
def test_items_to_pairs(items: List[Tuple[object, object]]) -> None:
    out = cv.items_to_pairs(items, True)
    assert out == [(cv.to_bytes(k, "key"), cv.to_bytes(v, "value")) for k, v in items]


def test_wrong_types() -> None:
    with pytest.raises(TypeError, match="key must be str or bytes, not int"):
        cv.keys_to_bytes(["a", 1])
    with pytest.raises(TypeError, match="values must be bytes"):
        cv.items_to_pairs([("k", "text")], False)
    with pytest.raises(TypeError):
        cv.items_to_pairs([("k", 1.5)], True)
    assert cv.to_bytes(bytearray(b"ab"), "x") == b"ab"
    assert cv.to_bytes(memoryview(b"ab"), "x") == b"ab"
