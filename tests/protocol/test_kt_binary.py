"""Kyoto Tycoon binary protocol: round trips, feeding, known answers, fuzz."""

from __future__ import annotations

import struct
from typing import Callable, List, Optional, Tuple

import pytest
from hypothesis import given, strategies as st

from kt.errors import ProtocolError, ServerError
from kt.protocol import kt_binary as kb
from kt.protocol.buffer import ReceiveBuffer
from kt.protocol.kt_binary import BulkRecords

from feeding import check_feedings as feedings_agree, feed_all, feed_pieces, one_byte_pieces, split_at

keys = st.binary(max_size=40) | st.sampled_from(
    [b"", b"\x00", b"\t", b"\n", b"\r\n", b"\xff\xfe", b"caf\xc3\xa9", b"a\tb\nc\x00d"]
)
values = st.binary(max_size=200) | st.sampled_from([b"", b"\x00" * 5, b"\xc3\x28"])
dbs = st.integers(0, 0xFFFF)
xts = st.integers(-(1 << 63), (1 << 63) - 1) | st.sampled_from([kb.XT_NONE, kb.XT_MAX, 0, -1])
cuts = st.lists(st.integers(0, 10_000), max_size=12)
TRAILER = b"\xb8\x00\x00"  # the start of another message


def records_full(draw_records: List[Tuple[int, bytes, bytes, int]]) -> BulkRecords:
    r = BulkRecords()
    for db, k, v, xt in draw_records:
        r.dbs.append(db)
        r.keys.append(k)
        r.values.append(v)
        r.xts.append(xt)
    return r


full_records = st.lists(st.tuples(dbs, keys, values, xts), max_size=60).map(records_full)
pairs = st.lists(st.tuples(keys, values), max_size=60)


def parse_request(buf: ReceiveBuffer) -> Optional[kb.BinaryRequest]:
    raise AssertionError("use a fresh RequestParser")


def check_feedings(make: Callable[[], Callable[[ReceiveBuffer], object]], data: bytes, cut: List[int]) -> object:
    """feeding.check_feedings with this module's TRAILER."""
    return feedings_agree(make, data, cut, TRAILER)


def req_parser() -> Callable[[ReceiveBuffer], Optional[kb.BinaryRequest]]:
    return kb.RequestParser().parse


def get_bulk_parser() -> Callable[[ReceiveBuffer], Optional[BulkRecords]]:
    return kb.GetBulkReplyParser().parse


def script_parser() -> Callable[[ReceiveBuffer], Optional[List[Tuple[bytes, bytes]]]]:
    return kb.PlayScriptReplyParser().parse


# --- round trips: requests --------------------------------------------------


@given(full_records, st.sampled_from([0, 1]), cuts)
def test_set_bulk_records_request_round_trip(records: BulkRecords, flags: int, cut: List[int]) -> None:
    data = kb.encode_set_bulk_records(records, flags)
    req = check_feedings(req_parser, data, cut)
    assert isinstance(req, kb.BinaryRequest)
    assert req.magic == kb.MAGIC_SET_BULK
    assert req.flags == flags
    assert req.no_reply == bool(flags)
    assert req.records == records


@given(pairs, dbs, xts, cuts)
def test_set_bulk_request_round_trip(p: List[Tuple[bytes, bytes]], db: int, xt: int, cut: List[int]) -> None:
    data = kb.encode_set_bulk(p, db, xt)
    req = check_feedings(req_parser, data, cut)
    assert isinstance(req, kb.BinaryRequest)
    assert req.records.keys == [k for k, _ in p]
    assert req.records.values == [v for _, v in p]
    assert req.records.dbs == [db] * len(p)
    assert req.records.xts == [xt] * len(p)
    # the uniform encoder and the per-record encoder agree
    assert data == kb.encode_set_bulk_records(req.records)


@given(st.lists(st.tuples(dbs, keys), max_size=80), st.sampled_from([kb.MAGIC_GET_BULK, kb.MAGIC_REMOVE_BULK]), cuts)
def test_key_requests_round_trip(recs: List[Tuple[int, bytes]], magic: int, cut: List[int]) -> None:
    d = [r[0] for r in recs]
    k = [r[1] for r in recs]
    if magic == kb.MAGIC_GET_BULK:
        data = kb.encode_get_bulk_records(d, k)
    else:
        data = kb.encode_remove_bulk_records(d, k, kb.FLAG_NO_REPLY)
    req = check_feedings(req_parser, data, cut)
    assert isinstance(req, kb.BinaryRequest)
    assert req.magic == magic
    assert req.records.dbs == d
    assert req.records.keys == k
    assert req.records.values == []
    if magic == kb.MAGIC_GET_BULK:
        assert not req.no_reply
    else:
        assert req.no_reply


@given(keys, pairs, st.sampled_from([0, 1]), cuts)
def test_play_script_request_round_trip(name: bytes, p: List[Tuple[bytes, bytes]], flags: int, cut: List[int]) -> None:
    data = kb.encode_play_script(name, p, flags)
    req = check_feedings(req_parser, data, cut)
    assert isinstance(req, kb.BinaryRequest)
    assert req.magic == kb.MAGIC_PLAY_SCRIPT
    assert req.name == name
    assert req.pairs == p
    assert req.flags == flags


@given(st.integers(0, (1 << 64) - 1), st.integers(0, 0xFFFF), st.sampled_from([0, 1]), cuts)
def test_replication_request_round_trip(ts: int, sid: int, flags: int, cut: List[int]) -> None:
    data = kb.encode_replication(ts, sid, flags)
    req = check_feedings(req_parser, data, cut)
    assert isinstance(req, kb.BinaryRequest)
    assert (req.magic, req.ts, req.sid, req.flags) == (kb.MAGIC_REPLICATION, ts, sid, flags)


@given(st.lists(st.one_of(full_records.map(lambda r: ("set", r)),
                          st.tuples(dbs, st.lists(keys, max_size=20)).map(lambda k: ("get", k))),
                min_size=1, max_size=6),
       cuts)
def test_one_request_parser_reads_requests_one_after_the_other(
        requests: List[Tuple[str, object]], cut: List[int]) -> None:
    """A server keeps one parser per connection: after each complete
    request it is ready for the next, whatever the pieces they arrive in."""
    wire = b""
    for what, body in requests:
        if what == "set":
            assert isinstance(body, BulkRecords)
            wire += kb.encode_set_bulk_records(body)
        else:
            assert isinstance(body, tuple)
            wire += kb.encode_get_bulk(body[1], body[0])
    parser = kb.RequestParser()
    got, rest = feed_all(parser.parse, split_at(wire, cut))
    assert rest == b"" and parser.started is None
    assert len(got) == len(requests)
    for req, (what, body) in zip(got, requests):
        if what == "set":
            assert req.magic == kb.MAGIC_SET_BULK and req.records == body
        else:
            assert isinstance(body, tuple)
            db, ks = body
            assert req.magic == kb.MAGIC_GET_BULK
            assert (req.records.dbs, req.records.keys) == ([db] * len(ks), ks)


# --- round trips: replies ---------------------------------------------------


@given(full_records, cuts)
def test_get_bulk_reply_round_trip(records: BulkRecords, cut: List[int]) -> None:
    data = kb.encode_get_bulk_reply(records)
    assert check_feedings(get_bulk_parser, data, cut) == records


@given(dbs, keys, values,
       st.one_of(xts, st.sampled_from([kb.XT_NONE, kb.XT_MAX]), st.integers(0, 1 << 45)),
       st.sampled_from([0, 4095, 4096]))
def test_get_bulk_reply_of_one_record_is_the_general_one(db: int, key: bytes, value: bytes,
                                                         xt: int, pad: int) -> None:
    """The server's single-get encoder gives the same bytes as the
    general one (pre-packed fields below 4096 bytes, packed above)."""
    value = value + b"p" * pad
    assert kb.encode_get_bulk_reply_one(db, key, value, xt) == kb.encode_get_bulk_reply(
        records_full([(db, key, value, xt)]))


@given(pairs, cuts)
def test_play_script_reply_round_trip(p: List[Tuple[bytes, bytes]], cut: List[int]) -> None:
    data = kb.encode_play_script_reply(p)
    assert check_feedings(script_parser, data, cut) == p


@given(st.integers(0, 0xFFFFFFFF), cuts)
def test_count_replies_round_trip(n: int, cut: List[int]) -> None:
    assert check_feedings(lambda: kb.parse_set_bulk_reply, kb.encode_set_bulk_reply(n), cut) == n
    assert check_feedings(lambda: kb.parse_remove_bulk_reply, kb.encode_remove_bulk_reply(n), cut) == n


@given(st.integers(0, (1 << 64) - 1), st.binary(max_size=100), cuts)
def test_replication_stream_round_trip(ts: int, log: bytes, cut: List[int]) -> None:
    msg = check_feedings(lambda: kb.parse_replication_message, kb.encode_replication_log(ts, log), cut)
    assert msg == kb.ReplicationMessage(ts, log)
    nop = check_feedings(lambda: kb.parse_replication_message, kb.encode_replication_nop(ts), cut)
    assert nop == kb.ReplicationMessage(ts, None)
    assert check_feedings(lambda: kb.parse_replication_start, kb.encode_replication_start(), cut) is True
    assert check_feedings(lambda: kb.parse_replication_ack, kb.encode_replication_ack(), cut) is True


def test_record_counts_up_to_1000() -> None:
    for n in (0, 1, 2, 999, 1000):
        r = records_full([(i % 3, b"key%d" % i, b"v" * (i % 7), i - 500) for i in range(n)])
        assert feed_pieces(get_bulk_parser(), [kb.encode_get_bulk_reply(r)])[0] == r
        req, rest = feed_pieces(req_parser(), [kb.encode_set_bulk_records(r)])
        assert req is not None and req.records == r and rest == b""


def test_large_values_one_mib() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    r = records_full([(0, b"big", big, 5), (1, big, b"", -1)])
    data = kb.encode_get_bulk_reply(r)
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    got, rest = feed_pieces(get_bulk_parser(), chunks)
    assert got == r and rest == b""
    req, rest = feed_pieces(req_parser(), [kb.encode_set_bulk([(b"k", big)])])
    assert req is not None and req.records.values == [big]


def test_details_of_replication_message() -> None:
    m = kb.ReplicationMessage(7, b"\x00\x01\x00\x02\xa1rest")
    assert (m.sid, m.dbidx, m.body) == (1, 2, b"\xa1rest")
    short = kb.ReplicationMessage(7, b"\x00")
    assert (short.sid, short.dbidx, short.body) == (-1, -1, b"")


# --- known answers (by hand, from doc/spex.html "Binary Protocol") -----------


def test_known_answer_requests() -> None:
    assert kb.encode_get_bulk([b"k"]) == (
        b"\xba" b"\x00\x00\x00\x00" b"\x00\x00\x00\x01" b"\x00\x00" b"\x00\x00\x00\x01" b"k"
    )
    assert kb.encode_get_bulk([], db=3) == b"\xba\x00\x00\x00\x00\x00\x00\x00\x00"
    assert kb.encode_set_bulk([(b"a", b"bc")], db=1, xt=10) == (
        b"\xb8" b"\x00\x00\x00\x00" b"\x00\x00\x00\x01"
        b"\x00\x01" b"\x00\x00\x00\x01" b"\x00\x00\x00\x02" b"\x00\x00\x00\x00\x00\x00\x00\x0a"
        b"a" b"bc"
    )
    assert kb.encode_set_bulk([(b"a", b"")], xt=-1, flags=kb.FLAG_NO_REPLY) == (
        b"\xb8" b"\x00\x00\x00\x01" b"\x00\x00\x00\x01"
        b"\x00\x00" b"\x00\x00\x00\x01" b"\x00\x00\x00\x00" b"\xff\xff\xff\xff\xff\xff\xff\xff" b"a"
    )
    # no expiration: INT64_MAX, as the C++ client sends it
    assert kb.encode_set_bulk([(b"a", b"b")])[19:27] == b"\x7f\xff\xff\xff\xff\xff\xff\xff"
    assert kb.encode_remove_bulk([b"x", b"yz"], db=2, flags=1) == (
        b"\xb9" b"\x00\x00\x00\x01" b"\x00\x00\x00\x02"
        b"\x00\x02" b"\x00\x00\x00\x01" b"x" b"\x00\x02" b"\x00\x00\x00\x02" b"yz"
    )
    assert kb.encode_play_script(b"echo", [(b"a", b"b")]) == (
        b"\xb4" b"\x00\x00\x00\x00" b"\x00\x00\x00\x04" b"\x00\x00\x00\x01" b"echo"
        b"\x00\x00\x00\x01" b"\x00\x00\x00\x01" b"a" b"b"
    )
    assert kb.encode_replication(5, 2, kb.FLAG_WHITE_SID) == (
        b"\xb1" b"\x00\x00\x00\x01" b"\x00\x00\x00\x00\x00\x00\x00\x05" b"\x00\x02"
    )
    assert kb.encode_replication_ack() == b"\xb1"


def test_known_answer_replies() -> None:
    assert kb.encode_set_bulk_reply(3) == b"\xb8\x00\x00\x00\x03"
    assert kb.encode_remove_bulk_reply(0) == b"\xb9\x00\x00\x00\x00"
    assert kb.encode_error_reply() == b"\xbf"
    r = records_full([(1, b"k", b"vv", 1234)])
    assert kb.encode_get_bulk_reply(r) == (
        b"\xba" b"\x00\x00\x00\x01"
        b"\x00\x01" b"\x00\x00\x00\x01" b"\x00\x00\x00\x02" b"\x00\x00\x00\x00\x00\x00\x04\xd2" b"k" b"vv"
    )
    assert kb.encode_play_script_reply([(b"x", b"")]) == (
        b"\xb4" b"\x00\x00\x00\x01" b"\x00\x00\x00\x01" b"\x00\x00\x00\x00" b"x"
    )
    assert kb.encode_replication_nop(9) == b"\xb0" + struct.pack(">Q", 9)
    assert kb.encode_replication_log(9, b"L") == b"\xb1" + struct.pack(">QI", 9, 1) + b"L"


def test_error_reply_raises_server_error_for_every_reply_parser() -> None:
    parsers: List[Callable[[ReceiveBuffer], object]] = [
        kb.parse_set_bulk_reply,
        kb.parse_remove_bulk_reply,
        kb.GetBulkReplyParser().parse,
        kb.PlayScriptReplyParser().parse,
        kb.parse_replication_start,
        kb.parse_replication_message,
    ]
    for parse in parsers:
        buf = ReceiveBuffer()
        buf.feed(b"\xbf")
        with pytest.raises(ServerError) as info:
            parse(buf)
        assert not isinstance(info.value, ProtocolError)
        assert len(buf) == 0  # the error byte was consumed


def test_wrong_magic_is_protocol_error() -> None:
    buf = ReceiveBuffer()
    buf.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProtocolError):
        kb.GetBulkReplyParser().parse(buf)
    buf = ReceiveBuffer()
    buf.feed(b"\x00")
    with pytest.raises(ProtocolError):
        kb.RequestParser().parse(buf)


# --- bad arguments are refused before encoding ------------------------------


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        kb.encode_get_bulk(["str-key"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        kb.encode_set_bulk([(b"k", "v")])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        kb.encode_get_bulk([b"k"], db=70000)
    with pytest.raises(ValueError):
        kb.encode_get_bulk([b"k"], db=-1)
    with pytest.raises(TypeError):
        kb.encode_get_bulk([b"k"], db="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kb.encode_set_bulk([(b"k", b"v")], xt=1 << 63)
    with pytest.raises(TypeError):
        kb.encode_set_bulk([(b"k", b"v")], xt=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kb.encode_replication(-1, 0)
    with pytest.raises(ValueError):
        kb.encode_replication(0, 1 << 16)
    r = BulkRecords()
    r.keys.append(b"k")
    with pytest.raises(ValueError):
        kb.encode_set_bulk_records(r)


# --- fuzz: random and truncated input ----------------------------------------

REPLY_PARSERS: List[Callable[[], Callable[[ReceiveBuffer], object]]] = [
    lambda: kb.parse_set_bulk_reply,
    lambda: kb.parse_remove_bulk_reply,
    get_bulk_parser,
    script_parser,
    lambda: kb.parse_replication_start,
    lambda: kb.parse_replication_message,
    lambda: kb.parse_replication_ack,
    req_parser,
]


def _run_all(data: bytes) -> None:
    for make in REPLY_PARSERS:
        buf = ReceiveBuffer(limit=1 << 20)
        buf.feed(data)
        try:
            make()(buf)
        except (ProtocolError, ServerError):
            pass


@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _run_all(data)


@given(st.sampled_from([0xB0, 0xB1, 0xB4, 0xB8, 0xB9, 0xBA, 0xBF]), st.binary(max_size=300))
def test_fuzz_valid_magic_random_body(magic: int, body: bytes) -> None:
    _run_all(bytes([magic]) + body)


@given(full_records, pairs, st.data())
def test_fuzz_truncated_valid_messages(records: BulkRecords, p: List[Tuple[bytes, bytes]], data: st.DataObject) -> None:
    messages = [
        kb.encode_get_bulk_reply(records),
        kb.encode_set_bulk_records(records),
        kb.encode_play_script(b"proc", p),
        kb.encode_play_script_reply(p),
        kb.encode_replication_log(1, b"abc"),
    ]
    for msg in messages:
        cut = data.draw(st.integers(0, len(msg)))
        _run_all(msg[:cut])


def test_lying_length_does_not_allocate() -> None:
    # a get_bulk reply announcing 4 billion records, then one record whose
    # value claims 256 MiB: the parser waits, it does not allocate.
    head = b"\xba\xff\xff\xff\xff" + struct.pack(">HIIq", 0, 1, 1 << 28, 0) + b"k"
    buf = ReceiveBuffer()
    buf.feed(head)
    assert kb.GetBulkReplyParser().parse(buf) is None
    # beyond ktserver's limit is an error at once
    buf = ReceiveBuffer()
    buf.feed(b"\xba\x00\x00\x00\x01" + struct.pack(">HIIq", 0, 1, (1 << 28) + 1, 0))
    with pytest.raises(ProtocolError):
        kb.GetBulkReplyParser().parse(buf)
    # and a buffer limit stops a request field at once
    buf = ReceiveBuffer(limit=1000)
    buf.feed(b"\xb8\x00\x00\x00\x00\x00\x00\x00\x01" + struct.pack(">HIIq", 0, 1, 5000, 0))
    with pytest.raises(ProtocolError):
        kb.RequestParser().parse(buf)


@given(keys, values, dbs, xts, st.sampled_from([0, 1]))
def test_single_record_encoders_match_bulk(k: bytes, v: bytes, db: int, xt: int, flags: int) -> None:
    assert kb.encode_set(k, v, db, xt, flags) == kb.encode_set_bulk([(k, v)], db, xt, flags)
    assert kb.encode_get(k, db) == kb.encode_get_bulk([k], db)
    assert kb.encode_remove(k, db, flags) == kb.encode_remove_bulk([k], db, flags)


def test_single_record_encoders_refuse_bad_arguments() -> None:
    assert kb.encode_get(b"k", 1) == b"\xba\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01\x00\x00\x00\x01k"
    for call in (lambda: kb.encode_set("k", b"v"), lambda: kb.encode_get(b"k", 1.5),  # type: ignore
                 lambda: kb.encode_remove(b"k", "0"), lambda: kb.encode_set(b"k", b"v", xt=2.5)):  # type: ignore
        with pytest.raises(TypeError):
            call()
    for call in (lambda: kb.encode_get(b"k", -1), lambda: kb.encode_set(b"k", b"v", xt=1 << 64),
                 lambda: kb.encode_remove(b"k", 0, -1)):
        with pytest.raises(ValueError):
            call()


def test_length_table_boundaries() -> None:
    # lengths around the pre-packed table's end (4096) and db indexes around 256
    for size in (4094, 4095, 4096, 4097):
        for db in (255, 256):
            for xt in (kb.XT_NONE, kb.XT_MAX, 5):
                k = b"k" * size
                v = b"v" * (8192 - size)
                r = records_full([(db, k, v, xt), (0, b"", b"", xt)])
                assert feed_pieces(get_bulk_parser(), [kb.encode_get_bulk_reply(r)])[0] == r
                req = feed_pieces(req_parser(), [kb.encode_set_bulk([(k, v), (b"", b"")], db, xt)])[0]
                assert req is not None and req.records.keys == [k, b""] and req.records.xts == [xt, xt]
                assert kb.encode_get_bulk([k], db) == kb.encode_get_bulk_records([db], [k])
