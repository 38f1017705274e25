"""Kyoto Tycoon's update log codec (kt.protocol.kt_repl): varnums, messages,
log files and the client's stream state machine, without a server."""

from __future__ import annotations

from typing import List, Tuple

import pytest
from hypothesis import given, strategies as st

from kt.errors import ProtocolError, ServerConnectionError, ServerError
from kt.protocol import kt_binary as kb
from kt.protocol import kt_repl as kr
from kt.protocol.buffer import ReceiveBuffer

from feeding import split_at

keys = st.binary(max_size=40)
values = st.binary(max_size=300)
xts = st.integers(0, kr.XT_MAX)
u16 = st.integers(0, 0xFFFF)
u64 = st.integers(0, (1 << 64) - 1)


@given(st.integers(0, (1 << 64) - 1))
def test_varnum_round_trip(n: int) -> None:
    data = kr.encode_varnum(n) + b"tail"
    assert kr.decode_varnum(data, 0, len(data)) == (n, len(data) - 4)


def test_varnum_known_answers() -> None:
    # Kyoto Cabinet's writevarnum: big-endian groups, high bit = more
    assert kr.encode_varnum(0) == b"\x00"
    assert kr.encode_varnum(127) == b"\x7f"
    assert kr.encode_varnum(128) == b"\x81\x00"
    assert kr.encode_varnum(300) == b"\x82\x2c"
    with pytest.raises(ProtocolError):
        kr.decode_varnum(b"\x82", 0, 1)


def test_message_known_answer_from_ktserver() -> None:
    # A message ktserver 1.0.0 wrote (sid 1, db 0): set "b" = "2", xt 1795809179
    msg = bytes.fromhex("00010000a1010662006b09df9b32")
    entry = kr.decode_message(7, msg)
    assert entry == kr.UpdateLogEntry(7, 1, 0, "set", b"b", b"2", 1795809179)
    assert kr.encode_message(1, 0, kr.encode_record(kr.OP_SET, b"b", b"2", 1795809179)) == msg


@given(u64, u16, u16, keys, values, xts, st.booleans())
def test_set_round_trip(ts: int, sid: int, db: int, key: bytes, value: bytes, xt: int,
                        persistent: bool) -> None:
    msg = kr.encode_message(sid, db, kr.encode_record(kr.OP_SET, key, value, xt, persistent))
    entry = kr.decode_message(ts, msg, persistent)
    assert entry == kr.UpdateLogEntry(ts, sid, db, "set", key, value,
                                      kr.XT_MAX if persistent else xt)


@given(u64, u16, u16, keys)
def test_remove_and_clear_round_trip(ts: int, sid: int, db: int, key: bytes) -> None:
    msg = kr.encode_message(sid, db, kr.encode_record(kr.OP_REMOVE, key, b"", 0))
    assert kr.decode_message(ts, msg) == kr.UpdateLogEntry(ts, sid, db, "remove", key, None,
                                                           kr.XT_MAX)
    msg = kr.encode_message(sid, db, kr.encode_record(kr.OP_CLEAR, b"", b"", 0))
    assert kr.decode_message(ts, msg) == kr.UpdateLogEntry(ts, sid, db, "clear", b"", None,
                                                           kr.XT_MAX)


def test_unknown_op_is_kept_whole() -> None:
    entry = kr.decode_message(1, b"\x00\x02\x00\x03\xa3xyz")
    assert (entry.op, entry.value, entry.sid, entry.db) == ("unknown", b"\xa3xyz", 2, 3)


@pytest.mark.parametrize("msg", [
    b"", b"\x00\x01\x00", b"\x00\x01\x00\x00",              # too short, no record
    b"\x00\x01\x00\x00\xa5x",                                # clear with a tail
    b"\x00\x01\x00\x00\xa2\x05ab",                           # key cut short
    b"\x00\x01\x00\x00\xa1\x01\x09a" + b"\x00" * 4,          # value cut short
    b"\x00\x01\x00\x00\xa1\x01\x02ab",                       # no room for the xt
    b"\x00\x01\x00\x00\xa1\x81",                             # varnum cut short
])
def test_bad_messages_raise_protocol_error(msg: bytes) -> None:
    with pytest.raises(ProtocolError):
        kr.decode_message(1, msg)


@given(st.lists(st.tuples(u64, st.binary(max_size=50)), max_size=20), st.integers(0, 30))
def test_file_records_round_trip(records: List[Tuple[int, bytes]], cut: int) -> None:
    data = kr.encode_file_header(0, 5) + b"".join(kr.encode_file_record(ts, m) for ts, m in records)
    assert kr.decode_file_header(data) == (kr.FILE_HEADER_SIZE, 5)
    out: List[Tuple[int, bytes]] = []
    assert kr.decode_file_records(data, kr.FILE_HEADER_SIZE, out) == len(data)
    assert out == records
    # a torn last record stops the reading where it starts
    if records:
        torn = data[:len(data) - 1 - cut % (len(kr.encode_file_record(*records[-1])))]
        out = []
        end = kr.decode_file_records(torn, kr.FILE_HEADER_SIZE, out)
        assert out == records[:-1] and end == len(data) - len(kr.encode_file_record(*records[-1]))


def test_file_names() -> None:
    assert kr.ulog_file_name(12) == "0000000012.ulog"
    assert kr.ulog_file_id("0000000012.ulog") == 12
    assert kr.ulog_file_id("12.ulog") == -1 and kr.ulog_file_id("0000000012.ulox") == -1
    assert kr.decode_file_header(b"\xa1" + b"\x00" * 16) is None


def test_clock_is_monotonic() -> None:
    ts = kr.clock_ts(1000.0, 0)
    assert ts == 1000 * kr.TS_PER_SECOND
    assert kr.clock_ts(1000.0, ts) == ts + 1
    assert kr.clock_ts(999.0, ts + 1) == ts + 2


def _stream() -> kr.ReplicationStream:
    return kr.ReplicationStream(5, 9, 0, False, 2, 0.1, 0.3)


@given(st.lists(st.tuples(st.integers(6, 1 << 62), keys, values), max_size=8),
       st.lists(st.integers(0, 2000), max_size=8))
def test_stream_parses_whatever_the_pieces(records: List[Tuple[int, bytes, bytes]],
                                           cut: List[int]) -> None:
    wire = kb.encode_replication_start() + b"".join(
        kb.encode_replication_log(ts, kr.encode_message(1, 0, kr.encode_record(kr.OP_SET, k, v, 9)))
        for ts, k, v in records) + kb.encode_replication_nop(7)
    stream = _stream()
    assert stream.start() == kb.encode_replication(5, 9, 0)
    buf = ReceiveBuffer()
    sent: List[bytes] = []
    for piece in split_at(wire, cut):
        buf.feed(piece)
        while True:
            reply = stream.parse(buf)
            if reply is None:
                break
            sent.append(reply)
            if stream.caught_up:
                break
    entries = stream.take()
    assert [(e.ts, e.key, e.value, e.xt) for e in entries] == [(ts, k, v, 9) for ts, k, v in records]
    assert sent[-1] == kb.encode_replication_ack() and stream.caught_up
    assert stream.since == max([5, 7] + [ts for ts, _, _ in records])
    assert stream.start() == kb.encode_replication(stream.since, 9, 0)  # resumes there


@pytest.mark.parametrize("wire,error", [
    (b"\xbf", ServerError),                                         # no update log
    (b"\x42", ProtocolError),                                       # not an answer
    (b"\xb1\x42", ProtocolError),                                   # not a message
    (b"\xb1\xb1" + b"\x00" * 8 + b"\x00\x00\x00\x01\x00", ProtocolError),  # bad log
])
def test_stream_errors(wire: bytes, error: type) -> None:
    stream = _stream()
    buf = ReceiveBuffer()
    buf.feed(wire)
    with pytest.raises(error):
        stream.parse(buf)


def test_stream_empty_message_moves_the_time_stamp_only() -> None:
    stream = _stream()
    buf = ReceiveBuffer()
    buf.feed(b"\xb1" + kb.encode_replication_log(50, b""))
    assert stream.parse(buf) == b""
    assert stream.take() == [] and stream.since == 50


def test_stream_backoff() -> None:
    stream = _stream()
    exc = ServerConnectionError("lost")
    assert stream.lost(exc) == pytest.approx(0.1)
    assert stream.lost(exc) == pytest.approx(0.2)
    with pytest.raises(ServerConnectionError):
        stream.lost(exc)  # two retries, then give up
    never = kr.ReplicationStream(0, 0, 0, False, 0, 0.1, 1.0)
    with pytest.raises(ServerConnectionError):
        never.lost(exc)
    forever = kr.ReplicationStream(0, 0, 0, False, -1, 0.1, 1.0)
    assert max(forever.lost(exc) for _ in range(40)) == 1.0
