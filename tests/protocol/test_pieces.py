"""Bulk requests sent in pieces (kt.protocol.buffer.Pieces): the payload
functions give the very bytes of the one-piece encoders however the records
are cut into pieces, check every record before any piece exists, and can be
sent again from the start (a retried request)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Union

import pytest
from hypothesis import given, strategies as st

from kt.protocol import kt_binary as kb
from kt.protocol import tt_binary as tb
from kt.protocol.buffer import PIECE_RECORDS, Payload, Pieces

text_or_bytes = st.text(max_size=8) | st.binary(max_size=8)
Text = Union[str, bytes]
pieces_of = st.integers(1, 9)


def whole(payload: Payload, records: int, piece: int) -> bytes:
    """The bytes of ``payload``, checking how it was cut."""
    if records <= piece:
        assert isinstance(payload, bytes)
        return payload
    assert isinstance(payload, Pieces)
    sent = list(payload.pieces())
    first = max(1, piece // 4)
    assert len(sent) == 1 + -(-(records - first) // piece)
    assert list(payload.pieces()) == sent  # starts over: a retry sends it all again
    assert payload.join() == b"".join(sent)
    return b"".join(sent)


@given(st.dictionaries(text_or_bytes, text_or_bytes, max_size=40), pieces_of,
       st.integers(0, 300), st.sampled_from([kb.XT_NONE, kb.XT_MAX, 60, -1700000000]))
def test_kt_set_bulk_payload(items: Dict[Text, Text], piece: int, db: int, xt: int) -> None:
    payload = kb.set_bulk_payload(items, True, db, xt, kb.FLAG_NO_REPLY, piece=piece)
    want = kb.encode_set_bulk_items(items.items(), True, db, xt, kb.FLAG_NO_REPLY)
    assert whole(payload, len(items), piece) == want


@given(st.lists(text_or_bytes, max_size=40), pieces_of, st.integers(0, 0xFFFF))
def test_kt_key_payloads(keys: List[Text], piece: int, db: int) -> None:
    assert whole(kb.get_bulk_payload(iter(keys), db, piece=piece), len(keys), piece) == \
        kb.encode_get_bulk_keys(keys, db)
    assert whole(kb.remove_bulk_payload(keys, db, 0, piece=piece), len(keys), piece) == \
        kb.encode_remove_bulk_keys(keys, db, 0)


@given(st.dictionaries(text_or_bytes, text_or_bytes, max_size=40), pieces_of, st.booleans())
def test_tt_putlist_payload(items: Dict[Text, Text], piece: int, no_ulog: bool) -> None:
    opts = tb.MISC_NO_ULOG if no_ulog else 0
    payload = tb.misc_items_payload(b"putlist", items, True, opts, piece=piece)
    assert whole(payload, len(items), piece) == tb.encode_misc_items(b"putlist", items.items(),
                                                                     True, opts)


@given(st.lists(text_or_bytes, max_size=40), pieces_of)
def test_tt_key_payloads(keys: List[Text], piece: int) -> None:
    assert whole(tb.misc_keys_payload(b"outlist", iter(keys), 0, piece=piece), len(keys),
                 piece) == tb.encode_misc_keys(b"outlist", keys)
    assert whole(tb.mget_payload(keys, piece=piece), len(keys), piece) == \
        tb.encode_mget_keys(keys)


def test_the_default_piece_size() -> None:
    keys = [b"k%04d" % i for i in range(PIECE_RECORDS)]
    assert isinstance(kb.get_bulk_payload(keys), bytes)
    payload = kb.get_bulk_payload(keys + [b"one more"])
    assert isinstance(payload, Pieces)
    assert len(list(payload.pieces())) == 2  # a quarter of the records, then the rest


MANY: Dict[Any, Any] = {b"k%d" % i: b"v" for i in range(20)}

BAD: List[Callable[[Any], Payload]] = [
    lambda last: kb.set_bulk_payload({**MANY, last: b"v"}, True, piece=2),
    lambda last: kb.remove_bulk_payload([b"k%d" % i for i in range(20)] + [last], piece=2),
    lambda last: tb.misc_items_payload(b"putlist", {**MANY, last: b"v"}, True, piece=2),
    lambda last: tb.mget_payload([b"k%d" % i for i in range(20)] + [last], piece=2),
]


@pytest.mark.parametrize("make", BAD)
def test_bad_input_is_refused_before_any_piece(make: Callable[[Any], Payload]) -> None:
    with pytest.raises(TypeError, match="key must be str or bytes, not int"):
        make(7)
    with pytest.raises(ValueError):
        make(b"x" * (kb.DATA_MAX + 1))


def test_values_are_checked_too() -> None:
    with pytest.raises(TypeError, match="values must be bytes, not str"):
        kb.set_bulk_payload({**MANY, b"last": "text"}, False, piece=2)
    with pytest.raises(ValueError, match="argument is"):
        tb.misc_items_payload(b"putlist", {**MANY, b"last": b"x" * (tb.MAX_ARG_SIZE + 1)},
                              True, piece=2)


def test_the_callers_keys_are_left_alone() -> None:
    keys: List[object] = ["k%d" % i for i in range(20)]
    payload = kb.remove_bulk_payload(keys, piece=2)
    assert isinstance(payload, Pieces)
    assert keys == ["k%d" % i for i in range(20)]  # converted in a copy
    assert payload.keys[0] == b"k0"
