"""The clients' fused bulk codecs equal the two-step paths they replace:
encoders that convert a client's keys and items while encoding them
(kt_binary's encode_*_keys / encode_set_bulk_items, tt_binary's
encode_mget_keys / encode_misc_keys / encode_misc_items) give the bytes of
kt.protocol.convert's conversion followed by the plain encoder, and the
dict reply parsers (GetBulkDictParser, MgetDictParser) give the dict built
from the list parsers' records, however the reply is cut."""

from __future__ import annotations

from typing import Dict, List, Tuple, Union

import pytest
from hypothesis import given, strategies as st

from kt.protocol import convert as cv
from kt.protocol import kt_binary as kb
from kt.protocol import tt_binary as tb

from feeding import check_feedings

text_or_bytes = st.text(max_size=12) | st.binary(max_size=12)
Text = Union[str, bytes]


@given(st.lists(text_or_bytes, max_size=30), st.integers(0, 300), st.booleans())
def test_kt_key_encoders(keys: List[Text], db: int, listed: bool) -> None:
    given_keys = keys if listed else iter(keys)
    assert kb.encode_get_bulk_keys(given_keys, db) == kb.encode_get_bulk(cv.keys_to_bytes(keys), db)
    assert kb.encode_remove_bulk_keys(keys, db, kb.FLAG_NO_REPLY) == kb.encode_remove_bulk(
        cv.keys_to_bytes(keys), db, kb.FLAG_NO_REPLY)


@given(st.dictionaries(text_or_bytes, text_or_bytes, max_size=30), st.integers(0, 300),
       st.sampled_from([kb.XT_NONE, kb.XT_MAX, 60, -1700000000]))
def test_kt_set_bulk_items(items: Dict[Text, Text], db: int, xt: int) -> None:
    want = kb.encode_set_bulk(cv.items_to_pairs(items.items(), True), db, xt)
    assert kb.encode_set_bulk_items(items.items(), True, db, xt) == want


@given(st.lists(text_or_bytes, max_size=30))
def test_tt_key_encoders(keys: List[Text]) -> None:
    assert tb.encode_mget_keys(iter(keys)) == tb.encode_mget(cv.keys_to_bytes(keys))
    assert tb.encode_misc_keys(b"outlist", keys, tb.MISC_NO_ULOG) == tb.encode_misc(
        b"outlist", cv.keys_to_bytes(keys), tb.MISC_NO_ULOG)


@given(st.dictionaries(text_or_bytes, text_or_bytes, max_size=30))
def test_tt_misc_items(items: Dict[Text, Text]) -> None:
    args = [x for pair in cv.items_to_pairs(items.items(), True) for x in pair]
    assert tb.encode_misc_items(b"putlist", items.items(), True) == tb.encode_misc(b"putlist", args)


def test_fused_encoders_refuse_what_the_conversion_refuses() -> None:
    with pytest.raises(TypeError, match="key must be str or bytes, not int"):
        kb.encode_get_bulk_keys([b"a", 1])
    with pytest.raises(TypeError, match="key must be str or bytes, not int"):
        tb.encode_misc_keys(b"outlist", [1])
    with pytest.raises(TypeError, match="values must be bytes, not str"):
        kb.encode_set_bulk_items({b"k": "v"}.items(), False)
    with pytest.raises(TypeError, match="values must be bytes, not str"):
        tb.encode_misc_items(b"putlist", [(b"k", "v")], False)
    with pytest.raises(TypeError, match="key must be bytes"):
        kb.encode_set_bulk([("k", b"v")])  # the plain encoder converts nothing
    with pytest.raises(ValueError, match="exceeds"):
        kb.encode_get_bulk_keys([b"x" * (kb.DATA_MAX + 1)])


records = st.lists(st.tuples(st.binary(max_size=10) | st.text(max_size=5).map(str.encode),
                             st.binary(max_size=10)), max_size=20)


@given(records, st.booleans(), st.booleans(), st.lists(st.integers(0, 400), max_size=4))
def test_get_bulk_dict_parser(pairs: List[Tuple[bytes, bytes]], text_keys: bool,
                              text_values: bool, cut: List[int]) -> None:
    recs = kb.BulkRecords()
    for key, value in pairs:
        recs.dbs.append(0)
        recs.keys.append(key)
        recs.values.append(value)
        recs.xts.append(kb.XT_MAX)
    reply = kb.encode_get_bulk_reply(recs)
    got = check_feedings(lambda: kb.GetBulkDictParser(text_keys, text_values).parse,
                         reply, cut, b"\xba")
    assert got == cv.records_dict(recs.keys, recs.values, text_keys, text_values)


@given(records, st.booleans(), st.booleans(), st.lists(st.integers(0, 400), max_size=4))
def test_mget_dict_parser(pairs: List[Tuple[bytes, bytes]], text_keys: bool,
                          text_values: bool, cut: List[int]) -> None:
    reply = tb.encode_mget_reply(pairs)
    got = check_feedings(lambda: tb.MgetDictParser(text_keys, text_values).parse,
                         reply, cut, b"\x00")
    assert got == (0, cv.pairs_dict(pairs, text_keys, text_values))


@given(st.integers(0, 20).flatmap(lambda width: st.lists(
    st.binary(min_size=width, max_size=width), min_size=1, max_size=30)), st.integers(0, 300))
def test_fixed_width_keys(keys: List[bytes], db: int) -> None:
    """Keys of one length are joined around one shared header: the same
    bytes as a header per key, built here by hand."""
    import struct

    kt_records = b"".join(struct.pack(">HI", db, len(k)) + k for k in keys)
    assert kb.encode_remove_bulk(keys, db, 1) == (
        struct.pack(">BII", kb.MAGIC_REMOVE_BULK, 1, len(keys)) + kt_records)
    assert kb.encode_get_bulk_keys(keys, db) == (
        struct.pack(">BII", kb.MAGIC_GET_BULK, 0, len(keys)) + kt_records)
    tt_args = b"".join(struct.pack(">I", len(k)) + k for k in keys)
    assert tb.encode_mget_keys(keys) == struct.pack(">BBI", 0xC8, 0x31, len(keys)) + tt_args
    assert tb.encode_misc_keys(b"outlist", keys) == struct.pack(
        ">BBIII", 0xC8, 0x90, 7, 0, len(keys)) + b"outlist" + tt_args
