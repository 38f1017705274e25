"""Tests of kt.protocol.tt_binary (Tokyo Tyrant 1.1.41 binary protocol) and
of the table layer it re-exports (kt.protocol.tt_table).

Known-answer vectors are written by hand from doc/spex.html and ttserver.c
of Tokyo Tyrant 1.1.41; no server is needed.
"""

from __future__ import annotations

import math
import struct
from typing import Callable, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kt.errors import ProtocolError
from kt.protocol import tt_binary as tt
from kt.protocol.buffer import ReceiveBuffer

from feeding import assert_rejected

Parse = Callable[[ReceiveBuffer], object]
MakeParse = Callable[[], Parse]

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FEW = settings(
    max_examples=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------
# Feeding helpers
# ---------------------------------------------------------------------------


def feed(make: MakeParse, data: bytes, splits: List[int]) -> Tuple[object, bytes]:
    """Feed ``data`` cut at ``splits``; call the parser after each piece
    until it returns a result.  Returns (result, unread bytes)."""
    parse = make()
    buf = ReceiveBuffer()
    result: object = None
    points = sorted({s for s in splits if 0 < s < len(data)}) + [len(data)]
    prev = 0
    for point in points:
        buf.feed(data[prev:point])
        prev = point
        if result is None:
            result = parse(buf)
    return result, buf.unread()


def check_all_ways(
    make: MakeParse,
    message: bytes,
    expected: object,
    trailing: bytes = b"\xc8\x30\x00",
    splits: Optional[List[int]] = None,
    one_byte: bool = True,
) -> None:
    data = message + trailing
    assert feed(make, data, []) == (expected, trailing)
    if one_byte and len(data) < 20000:
        assert feed(make, data, list(range(1, len(data)))) == (expected, trailing)
    if splits is not None:
        assert feed(make, data, splits) == (expected, trailing)
    # Incomplete: None, and nothing past the message is touched.
    if message:
        result, _ = feed(make, message[:-1], [])
        assert result is None


def fn(parse: Parse) -> MakeParse:
    return lambda: parse


def request_parser() -> Parse:
    return tt.RequestParser().parse


def mget_parser() -> Parse:
    return tt.MgetReplyParser().parse


def fwmkeys_parser() -> Parse:
    return tt.FwmkeysReplyParser().parse


def misc_parser() -> Parse:
    return tt.MiscReplyParser().parse


def request(cmd: int, **fields: object) -> tt.TTRequest:
    req = tt.TTRequest(cmd)
    for name, value in fields.items():
        assert hasattr(req, name), name
        setattr(req, name, value)
    return req


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

SPECIAL = [b"", b"\x00", b"\t", b"\n", b"a\tb\nc", b"\xff\xfe\x80", b"\x00\x00\x00\x00"]
blobs = st.one_of(st.sampled_from(SPECIAL), st.binary(max_size=48))
texts = st.binary(max_size=30).map(lambda b: b.replace(b"\x00", b""))
names = st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"x"))
u32 = st.integers(0, 0xFFFFFFFF)
i32 = st.integers(-(1 << 31), (1 << 31) - 1)
u64 = st.integers(0, (1 << 64) - 1)
i64 = st.integers(-(1 << 63), (1 << 63) - 1)
TRAILING = [b"", b"\xc8", b"\x00", b"\xc8\x30\x00\x00", b"\x00\x00\x00\x00\x01k"]


@st.composite
def requests(draw: st.DrawFn) -> Tuple[bytes, tt.TTRequest]:
    kind = draw(st.integers(0, 23))
    if kind < 4:
        cmd = [tt.CMD_PUT, tt.CMD_PUTKEEP, tt.CMD_PUTCAT, tt.CMD_PUTNR][kind]
        enc = [tt.encode_put, tt.encode_putkeep, tt.encode_putcat, tt.encode_putnr][kind]
        k, v = draw(blobs), draw(blobs)
        return enc(k, v), request(cmd, key=k, value=v)
    if kind == 4:
        k, v, w = draw(blobs), draw(blobs), draw(st.integers(0, (1 << 31) - 1))
        return tt.encode_putshl(k, v, w), request(tt.CMD_PUTSHL, key=k, value=v, width=w)
    if kind < 8:
        cmd = [tt.CMD_OUT, tt.CMD_GET, tt.CMD_VSIZ][kind - 5]
        enc1 = [tt.encode_out, tt.encode_get, tt.encode_vsiz][kind - 5]
        k = draw(blobs)
        return enc1(k), request(cmd, key=k)
    if kind == 8:
        keys = draw(st.lists(blobs, max_size=12))
        return tt.encode_mget(keys), request(tt.CMD_MGET, keys=keys)
    if kind == 9:
        pairs = [
            (tt.encode_iterinit, tt.CMD_ITERINIT), (tt.encode_iternext, tt.CMD_ITERNEXT),
            (tt.encode_sync, tt.CMD_SYNC), (tt.encode_vanish, tt.CMD_VANISH),
            (tt.encode_rnum, tt.CMD_RNUM), (tt.encode_size, tt.CMD_SIZE),
            (tt.encode_stat, tt.CMD_STAT),
        ]
        enc0, cmd = draw(st.sampled_from(pairs))
        return enc0(), request(cmd)
    if kind == 10:
        p, m = draw(blobs), draw(i32)
        return tt.encode_fwmkeys(p, m), request(tt.CMD_FWMKEYS, prefix=p, max=m)
    if kind == 11:
        k, n = draw(blobs), draw(i32)
        return tt.encode_addint(k, n), request(tt.CMD_ADDINT, key=k, num=n)
    if kind == 12:
        k = draw(blobs)
        x = draw(st.floats(allow_nan=True, allow_infinity=True,
                           min_value=None, max_value=None).filter(
            lambda f: math.isnan(f) or math.isinf(f) or abs(f) < 9e18))
        i, f = tt.pack_double(x)
        return tt.encode_adddouble(k, x), request(
            tt.CMD_ADDDOUBLE, key=k, integral=i, fraction=f)
    if kind == 13:
        fname, k, v, o = draw(names), draw(blobs), draw(blobs), draw(u32)
        return tt.encode_ext(fname, k, v, o), request(
            tt.CMD_EXT, name=fname, key=k, value=v, opts=o)
    if kind == 14:
        p = draw(texts)
        return tt.encode_optimize(p), request(tt.CMD_OPTIMIZE, params=p)
    if kind == 15:
        p = draw(texts)
        return tt.encode_copy(p), request(tt.CMD_COPY, path=p)
    if kind == 16:
        p, ts, o = draw(texts), draw(u64), draw(u32)
        return tt.encode_restore(p, ts, o), request(tt.CMD_RESTORE, path=p, ts=ts, opts=o)
    if kind == 17:
        h, port, ts, o = draw(texts), draw(st.integers(0, (1 << 31) - 1)), draw(u64), draw(u32)
        return tt.encode_setmst(h, port, ts, o), request(
            tt.CMD_SETMST, host=h, port=port, ts=ts, opts=o)
    mname, o = draw(names), draw(u32)
    args = draw(st.lists(blobs, max_size=12))
    return tt.encode_misc(mname, args, o), request(tt.CMD_MISC, name=mname, opts=o, args=args)


@st.composite
def replies(draw: st.DrawFn) -> Tuple[bytes, MakeParse, object]:
    kind = draw(st.integers(0, 14))
    if kind == 0:
        code = draw(st.integers(0, 255))
        return tt.encode_status(code), fn(tt.parse_status_reply), code
    if kind == 1:
        v = draw(blobs)
        return tt.encode_value_reply(v), fn(tt.parse_value_reply), (0, v)
    if kind == 2:
        code = draw(st.integers(1, 255))
        make = draw(st.sampled_from([
            (fn(tt.parse_value_reply), b""), (fn(tt.parse_vsiz_reply), 0),
            (fn(tt.parse_addint_reply), 0), (fn(tt.parse_adddouble_reply), 0.0),
            (fn(tt.parse_u64_reply), 0), (fn(tt.parse_stat_reply), {}),
            (fwmkeys_parser, []),
        ]))
        return tt.encode_status(code), make[0], (code, make[1])
    if kind == 3:
        n = draw(u32)
        return tt.encode_vsiz_reply(n), fn(tt.parse_vsiz_reply), (0, n)
    if kind == 4:
        n = draw(i32)
        return tt.encode_addint_reply(n), fn(tt.parse_addint_reply), (0, n)
    if kind == 5:
        x = draw(st.floats(allow_nan=False, min_value=-9e18, max_value=9e18) | st.sampled_from(
            [math.inf, -math.inf]))
        expected = tt.unpack_double(*tt.pack_double(x))
        return tt.encode_adddouble_reply(x), fn(tt.parse_adddouble_reply), (0, expected)
    if kind == 6:
        n = draw(u64)
        return tt.encode_u64_reply(n), fn(tt.parse_u64_reply), (0, n)
    if kind == 7:
        keys = st.text(min_size=1, max_size=12).filter(lambda s: "\t" not in s and "\n" not in s)
        values = st.text(max_size=20).filter(lambda s: "\n" not in s)
        stats = draw(st.dictionaries(keys, values, max_size=8))
        return tt.encode_stat_reply(stats), fn(tt.parse_stat_reply), (0, stats)
    if kind == 8:
        recs = draw(st.lists(st.tuples(blobs, blobs), max_size=10))
        return tt.encode_mget_reply(recs), mget_parser, (0, recs)
    if kind == 9:
        keys2 = draw(st.lists(blobs, max_size=10))
        return tt.encode_fwmkeys_reply(keys2), fwmkeys_parser, (0, keys2)
    if kind == 10:
        elems = draw(st.lists(blobs, max_size=10))
        return tt.encode_misc_reply(elems), misc_parser, (0, elems)
    if kind == 11:
        return tt.encode_misc_failure(), misc_parser, (1, [])
    if kind == 12:
        v = draw(blobs)
        return tt.encode_value_reply(v), fn(tt.parse_value_reply), (0, v)
    code = draw(st.integers(0, 255))
    return tt.encode_status(code), fn(tt.parse_status_reply), code


# ---------------------------------------------------------------------------
# Known-answer vectors: requests (client encoders and server parser)
# ---------------------------------------------------------------------------

REQUEST_VECTORS: List[Tuple[bytes, bytes, tt.TTRequest]] = [
    (tt.encode_put(b"k", b"v"),
     b"\xc8\x10\x00\x00\x00\x01\x00\x00\x00\x01kv",
     request(tt.CMD_PUT, key=b"k", value=b"v")),
    (tt.encode_putkeep(b"ab", b""),
     b"\xc8\x11\x00\x00\x00\x02\x00\x00\x00\x00ab",
     request(tt.CMD_PUTKEEP, key=b"ab")),
    (tt.encode_putcat(b"k", b"xyz"),
     b"\xc8\x12\x00\x00\x00\x01\x00\x00\x00\x03kxyz",
     request(tt.CMD_PUTCAT, key=b"k", value=b"xyz")),
    (tt.encode_putshl(b"k", b"v", 7),
     b"\xc8\x13\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x07kv",
     request(tt.CMD_PUTSHL, key=b"k", value=b"v", width=7)),
    (tt.encode_putnr(b"k", b"v"),
     b"\xc8\x18\x00\x00\x00\x01\x00\x00\x00\x01kv",
     request(tt.CMD_PUTNR, key=b"k", value=b"v")),
    (tt.encode_out(b"k"), b"\xc8\x20\x00\x00\x00\x01k", request(tt.CMD_OUT, key=b"k")),
    (tt.encode_get(b"k"), b"\xc8\x30\x00\x00\x00\x01k", request(tt.CMD_GET, key=b"k")),
    (tt.encode_mget([b"a", b"bc"]),
     b"\xc8\x31\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x02bc",
     request(tt.CMD_MGET, keys=[b"a", b"bc"])),
    (tt.encode_mget([]), b"\xc8\x31\x00\x00\x00\x00", request(tt.CMD_MGET)),
    (tt.encode_vsiz(b"k"), b"\xc8\x38\x00\x00\x00\x01k", request(tt.CMD_VSIZ, key=b"k")),
    (tt.encode_iterinit(), b"\xc8\x50", request(tt.CMD_ITERINIT)),
    (tt.encode_iternext(), b"\xc8\x51", request(tt.CMD_ITERNEXT)),
    (tt.encode_fwmkeys(b"p", 10),
     b"\xc8\x58\x00\x00\x00\x01\x00\x00\x00\x0ap",
     request(tt.CMD_FWMKEYS, prefix=b"p", max=10)),
    (tt.encode_fwmkeys(b"p"),
     b"\xc8\x58\x00\x00\x00\x01\xff\xff\xff\xffp",
     request(tt.CMD_FWMKEYS, prefix=b"p", max=-1)),
    (tt.encode_addint(b"k", -1),
     b"\xc8\x60\x00\x00\x00\x01\xff\xff\xff\xffk",
     request(tt.CMD_ADDINT, key=b"k", num=-1)),
    # 1.5 -> integral 1, fraction 0.5e12 = 500000000000 = 0x746A528800
    (tt.encode_adddouble(b"k", 1.5),
     b"\xc8\x61\x00\x00\x00\x01"
     b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x74\x6a\x52\x88\x00k",
     request(tt.CMD_ADDDOUBLE, key=b"k", integral=1, fraction=500000000000)),
    # -1.5 -> integral -1, fraction -500000000000 (both negative, as modf gives)
    (tt.encode_adddouble(b"k", -1.5),
     b"\xc8\x61\x00\x00\x00\x01"
     b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x8b\x95\xad\x78\x00k",
     request(tt.CMD_ADDDOUBLE, key=b"k", integral=-1, fraction=-500000000000)),
    (tt.encode_ext(b"f", b"k", b"v", tt.EXT_LOCK_RECORD),
     b"\xc8\x68\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01fkv",
     request(tt.CMD_EXT, name=b"f", key=b"k", value=b"v", opts=1)),
    (tt.encode_sync(), b"\xc8\x70", request(tt.CMD_SYNC)),
    (tt.encode_optimize(b"#bnum=1"),
     b"\xc8\x71\x00\x00\x00\x07#bnum=1",
     request(tt.CMD_OPTIMIZE, params=b"#bnum=1")),
    (tt.encode_optimize(), b"\xc8\x71\x00\x00\x00\x00", request(tt.CMD_OPTIMIZE)),
    (tt.encode_vanish(), b"\xc8\x72", request(tt.CMD_VANISH)),
    (tt.encode_copy(b"/tmp/x"),
     b"\xc8\x73\x00\x00\x00\x06/tmp/x",
     request(tt.CMD_COPY, path=b"/tmp/x")),
    (tt.encode_restore(b"/u", 5, tt.RESTORE_CHECK_CONSISTENCY),
     b"\xc8\x74\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x01/u",
     request(tt.CMD_RESTORE, path=b"/u", ts=5, opts=1)),
    (tt.encode_setmst(b"h", 1978, 7, 1),
     b"\xc8\x78\x00\x00\x00\x01\x00\x00\x07\xba"
     b"\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x01h",
     request(tt.CMD_SETMST, host=b"h", port=1978, ts=7, opts=1)),
    (tt.encode_rnum(), b"\xc8\x80", request(tt.CMD_RNUM)),
    (tt.encode_size(), b"\xc8\x81", request(tt.CMD_SIZE)),
    (tt.encode_stat(), b"\xc8\x88", request(tt.CMD_STAT)),
    (tt.encode_misc(b"put", [b"a", b"b"], tt.MISC_NO_ULOG),
     b"\xc8\x90\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x00\x02put"
     b"\x00\x00\x00\x01a\x00\x00\x00\x01b",
     request(tt.CMD_MISC, name=b"put", opts=1, args=[b"a", b"b"])),
    (tt.encode_misc(b"sync", []),
     b"\xc8\x90\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00sync",
     request(tt.CMD_MISC, name=b"sync")),
]


@pytest.mark.parametrize("encoded, expected, req", REQUEST_VECTORS)
def test_request_known_answers(encoded: bytes, expected: bytes, req: tt.TTRequest) -> None:
    assert encoded == expected
    check_all_ways(request_parser, expected, req)


def test_every_command_has_a_vector() -> None:
    cmds = {req.cmd for _, _, req in REQUEST_VECTORS}
    assert cmds == set(tt.COMMAND_NAMES)


def test_command_bytes() -> None:
    assert tt.MAGIC == 0xC8
    table = {
        "put": 0x10, "putkeep": 0x11, "putcat": 0x12, "putshl": 0x13, "putnr": 0x18,
        "out": 0x20, "get": 0x30, "mget": 0x31, "vsiz": 0x38, "iterinit": 0x50,
        "iternext": 0x51, "fwmkeys": 0x58, "addint": 0x60, "adddouble": 0x61,
        "ext": 0x68, "sync": 0x70, "optimize": 0x71, "vanish": 0x72, "copy": 0x73,
        "restore": 0x74, "setmst": 0x78, "rnum": 0x80, "size": 0x81, "stat": 0x88,
        "misc": 0x90,
    }
    assert {v: k for k, v in table.items()} == tt.COMMAND_NAMES


def test_table_constants() -> None:
    assert [tt.INDEX_LEXICAL, tt.INDEX_DECIMAL, tt.INDEX_TOKEN, tt.INDEX_QGRAM] == [0, 1, 2, 3]
    assert (tt.INDEX_OPTIMIZE, tt.INDEX_VOID, tt.INDEX_KEEP) == (9998, 9999, 1 << 24)
    assert (tt.COND_STR_EQ, tt.COND_STR_RX, tt.COND_NUM_EQ, tt.COND_NUM_OREQ) == (0, 7, 8, 14)
    assert (tt.COND_FTS_PH, tt.COND_FTS_EX) == (15, 18)
    assert (tt.COND_NEGATE, tt.COND_NO_INDEX) == (1 << 24, 1 << 25)
    assert (tt.ORDER_STR_ASC, tt.ORDER_NUM_DESC) == (0, 3)
    assert (tt.MS_UNION, tt.MS_ISECT, tt.MS_DIFF) == (0, 1, 2)


# ---------------------------------------------------------------------------
# Known-answer vectors: replies (server encoders and client parsers)
# ---------------------------------------------------------------------------

REPLY_VECTORS: List[Tuple[bytes, bytes, MakeParse, object]] = [
    (tt.encode_status(0), b"\x00", fn(tt.parse_status_reply), 0),
    (tt.encode_status(tt.STATUS_FAILURE), b"\x01", fn(tt.parse_status_reply), 1),
    (tt.encode_value_reply(b"v"), b"\x00\x00\x00\x00\x01v", fn(tt.parse_value_reply), (0, b"v")),
    (tt.encode_value_reply(b""), b"\x00\x00\x00\x00\x00", fn(tt.parse_value_reply), (0, b"")),
    (tt.encode_status(1), b"\x01", fn(tt.parse_value_reply), (1, b"")),
    (tt.encode_vsiz_reply(5), b"\x00\x00\x00\x00\x05", fn(tt.parse_vsiz_reply), (0, 5)),
    (tt.encode_status(1), b"\x01", fn(tt.parse_vsiz_reply), (1, 0)),
    (tt.encode_addint_reply(-2), b"\x00\xff\xff\xff\xfe", fn(tt.parse_addint_reply), (0, -2)),
    (tt.encode_status(1), b"\x01", fn(tt.parse_addint_reply), (1, 0)),
    # 2.25 -> 2 and 250000000000 = 0x3A35294400
    (tt.encode_adddouble_reply(2.25),
     b"\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x3a\x35\x29\x44\x00",
     fn(tt.parse_adddouble_reply), (0, 2.25)),
    (tt.encode_status(1), b"\x01", fn(tt.parse_adddouble_reply), (1, 0.0)),
    (tt.encode_u64_reply(3), b"\x00" + b"\x00" * 7 + b"\x03", fn(tt.parse_u64_reply), (0, 3)),
    (tt.encode_stat_reply({"rnum": "3"}), b"\x00\x00\x00\x00\x07rnum\t3\n",
     fn(tt.parse_stat_reply), (0, {"rnum": "3"})),
    (tt.encode_mget_reply([(b"a", b"1")]),
     b"\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01a1",
     mget_parser, (0, [(b"a", b"1")])),
    (tt.encode_mget_reply([]), b"\x00\x00\x00\x00\x00", mget_parser, (0, [])),
    (tt.encode_fwmkeys_reply([b"a", b""]),
     b"\x00\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x00",
     fwmkeys_parser, (0, [b"a", b""])),
    (tt.encode_status(1), b"\x01", fwmkeys_parser, (1, [])),
    (tt.encode_misc_reply([b"x"]), b"\x00\x00\x00\x00\x01\x00\x00\x00\x01x",
     misc_parser, (0, [b"x"])),
    (tt.encode_misc_failure(), b"\x01\x00\x00\x00\x00", misc_parser, (1, [])),
]


@pytest.mark.parametrize("encoded, expected, make, value", REPLY_VECTORS)
def test_reply_known_answers(encoded: bytes, expected: bytes, make: MakeParse, value: object) -> None:
    assert encoded == expected
    check_all_ways(make, expected, value)


def test_special_doubles() -> None:
    assert tt.pack_double(-0.25) == (0, -250000000000)
    assert tt.pack_double(0.1) == (0, 100000000000)
    assert tt.pack_double(-0.0) == (0, 0)
    # The fraction is truncated toward zero, not rounded (C double -> int64).
    assert tt.pack_double(2.675) == (2, 674999999999)
    assert tt.pack_double(-2.675) == (-2, -674999999999)
    assert tt.pack_double(1.9999999999999) == (1, 999999999999)
    assert tt.pack_double(3) == (3, 0)
    assert tt.pack_double(math.inf) == ((1 << 63) - 1, 0)
    assert tt.pack_double(-math.inf) == (-(1 << 63), 0)
    assert tt.pack_double(math.nan) == (-(1 << 63), -(1 << 63))
    assert tt.unpack_double((1 << 63) - 1, 0) == math.inf
    assert tt.unpack_double(-(1 << 63), 5) == -math.inf
    assert math.isnan(tt.unpack_double(-(1 << 63), -(1 << 63)))
    assert tt.unpack_double(-1, -500000000000) == -1.5
    reply = tt.encode_adddouble_reply(math.nan)
    assert reply == b"\x00\x80" + b"\x00" * 7 + b"\x80" + b"\x00" * 7
    buf = ReceiveBuffer()
    buf.feed(reply)
    parsed = tt.parse_adddouble_reply(buf)
    assert parsed is not None and parsed[0] == 0 and math.isnan(parsed[1])
    for bad in (1e300, 2.0 ** 63, -(2.0 ** 63), 10 ** 400, -(2 ** 63)):
        with pytest.raises(ValueError):
            tt.pack_double(bad)
    with pytest.raises(TypeError):
        tt.pack_double(True)
    with pytest.raises(TypeError):
        tt.encode_adddouble(b"k", "1.5")  # type: ignore[arg-type]


@SETTINGS
@given(st.floats(min_value=-1e15, max_value=1e15))
def test_double_round_trip_precision(x: float) -> None:
    integral, fraction = tt.pack_double(x)
    assert abs(fraction) < 10 ** 12
    assert (integral >= 0 and fraction >= 0) or (integral <= 0 and fraction <= 0)
    assert abs(tt.unpack_double(integral, fraction) - x) <= 1e-12 + abs(x) * 1e-15


# ---------------------------------------------------------------------------
# Round trips with random splits and trailing bytes
# ---------------------------------------------------------------------------


@SETTINGS
@given(requests(), st.sampled_from(TRAILING), st.data())
def test_request_round_trip(pair: Tuple[bytes, tt.TTRequest], trailing: bytes, data: st.DataObject) -> None:
    message, expected = pair
    splits = data.draw(st.lists(st.integers(0, len(message) + len(trailing)), max_size=8))
    check_all_ways(request_parser, message, expected, trailing, splits)


@SETTINGS
@given(replies(), st.sampled_from(TRAILING), st.data())
def test_reply_round_trip(triple: Tuple[bytes, MakeParse, object], trailing: bytes, data: st.DataObject) -> None:
    message, make, expected = triple
    splits = data.draw(st.lists(st.integers(0, len(message) + len(trailing)), max_size=8))
    check_all_ways(make, message, expected, trailing, splits)


@FEW
@given(st.integers(0, 1000), st.data())
def test_many_records(count: int, data: st.DataObject) -> None:
    splits = data.draw(st.lists(st.integers(0, 30 * count + 40), max_size=20))
    check_many(count, splits)


@pytest.mark.parametrize("count", [0, 1, 1000])
def test_many_records_edges(count: int) -> None:
    check_many(count, list(range(0, 30 * count + 40, 97)))


def check_many(count: int, splits: List[int]) -> None:
    keys = [b"k%d" % i for i in range(count)]
    records = [(k, b"v" * (i % 7)) for i, k in enumerate(keys)]
    one = count < 300
    check_all_ways(request_parser, tt.encode_mget(keys), request(tt.CMD_MGET, keys=keys),
                   splits=splits, one_byte=one)
    check_all_ways(request_parser, tt.encode_misc(b"putlist", keys, 1),
                   request(tt.CMD_MISC, name=b"putlist", opts=1, args=keys),
                   splits=splits, one_byte=one)
    check_all_ways(mget_parser, tt.encode_mget_reply(records), (0, records),
                   splits=splits, one_byte=one)
    check_all_ways(fwmkeys_parser, tt.encode_fwmkeys_reply(keys), (0, keys),
                   splits=splits, one_byte=one)
    check_all_ways(misc_parser, tt.encode_misc_reply(keys), (0, keys),
                   splits=splits, one_byte=one)


def test_large_values() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    splits = [1, 7, 1000, 65536, 500000, 1048000, 2 * len(big)]
    check_all_ways(request_parser, tt.encode_put(big, big), request(tt.CMD_PUT, key=big, value=big),
                   splits=splits, one_byte=False)
    check_all_ways(request_parser, tt.encode_ext(b"f", big, big),
                   request(tt.CMD_EXT, name=b"f", key=big, value=big), splits=splits, one_byte=False)
    check_all_ways(request_parser, tt.encode_misc(b"put", [big, b"c", big]),
                   request(tt.CMD_MISC, name=b"put", args=[big, b"c", big]),
                   splits=splits, one_byte=False)
    check_all_ways(fn(tt.parse_value_reply), tt.encode_value_reply(big), (0, big),
                   splits=splits, one_byte=False)
    check_all_ways(mget_parser, tt.encode_mget_reply([(big, big)]), (0, [(big, big)]),
                   splits=splits, one_byte=False)
    check_all_ways(misc_parser, tt.encode_misc_reply([big]), (0, [big]),
                   splits=splits, one_byte=False)
    # Trickling in 64 KiB pieces.
    data = tt.encode_put(b"k", big)
    assert feed(request_parser, data, list(range(0, len(data), 65536)))[0] == request(
        tt.CMD_PUT, key=b"k", value=big)


SINGLE_UNIT: List[Tuple[MakeParse, bytes]] = [
    (request_parser, m) for m, _, r in REQUEST_VECTORS
    if r.cmd not in (tt.CMD_MGET, tt.CMD_MISC)
] + [
    (make, m) for m, _, make, _ in REPLY_VECTORS
    if make not in (mget_parser, fwmkeys_parser, misc_parser)
]


@pytest.mark.parametrize("make, message", SINGLE_UNIT)
def test_single_unit_prefixes_are_not_consumed(make: MakeParse, message: bytes) -> None:
    for cut in range(len(message)):
        assert feed(make, message[:cut], []) == (None, message[:cut])


def test_stream_of_requests_one_byte_at_a_time() -> None:
    messages = [m for m, _, _ in REQUEST_VECTORS]
    expected = [r for _, _, r in REQUEST_VECTORS]
    data = b"".join(messages)
    parser = tt.RequestParser()
    buf = ReceiveBuffer()
    got: List[tt.TTRequest] = []
    for i in range(len(data)):
        buf.feed(data[i:i + 1])
        while True:
            req = parser.parse(buf)
            if req is None:
                break
            got.append(req)
    assert got == expected
    assert len(buf) == 0


def test_reply_parsers_are_reusable() -> None:
    data = (tt.encode_mget_reply([(b"a", b"b")]) + tt.encode_mget_reply([])
            + tt.encode_mget_reply([(b"c", b"")]))
    parser = tt.MgetReplyParser()
    buf = ReceiveBuffer()
    buf.feed(data)
    assert parser.parse(buf) == (0, [(b"a", b"b")])
    assert parser.parse(buf) == (0, [])
    assert parser.parse(buf) == (0, [(b"c", b"")])
    assert parser.parse(buf) is None
    for cls in (tt.FwmkeysReplyParser, tt.MiscReplyParser):
        p = cls()
        buf = ReceiveBuffer()
        buf.feed(tt.encode_misc_reply([b"x"]) + b"\x00\x00\x00\x00\x00")
        assert p.parse(buf) == (0, [b"x"])
        assert p.parse(buf) == (0, [])


def test_mget_nonzero_status_still_has_count() -> None:
    # tcrdb reads the record count whatever the status byte says.
    data = b"\x01\x00\x00\x00\x00"
    assert feed(mget_parser, data, []) == ((1, []), b"")


# ---------------------------------------------------------------------------
# Malformed input and fuzz
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"\x00\x10",                # wrong magic
    b"GET / HTTP/1.1\r\n",       # HTTP to the binary server
    b"\xc8\x99",                # unknown command
    b"\xc8\xa0",                # repl is not supported
    b"\xc8\x10\x10\x00\x00\x01\x00\x00\x00\x00",   # key of 256 MiB + 1
    b"\xc8\x10\x00\x00\x00\x00\xff\xff\xff\xff",   # "negative" value size
    b"\xc8\x30\x80\x00\x00\x00",                   # "negative" key size
    b"\xc8\x68\x00\x00\x04\x00" + b"\x00" * 12,    # ext name of 1024 bytes
    b"\xc8\x90\x00\x00\x04\x00" + b"\x00" * 8,     # misc name of 1024 bytes
    b"\xc8\x90\x00\x00\x00\x01\x00\x00\x00\x00\x00\x10\x00\x01",  # 2**20 + 1 arguments
    b"\xc8\x31\x00\x10\x00\x01",                   # 2**20 + 1 keys
    b"\xc8\x31\x00\x00\x00\x01\xff\xff\xff\xff",   # mget key too large
    b"\xc8\x78\x00\x00\x00\x00\x80\x00\x00\x00" + b"\x00" * 12,  # negative port
])
def test_request_parser_rejects(data: bytes) -> None:
    assert_rejected(tt.RequestParser().parse, data)


def test_request_parser_passes_a_negative_width_on() -> None:
    # The database refuses it with an error status (it crashes ttserver).
    buf = ReceiveBuffer()
    buf.feed(b"\xc8\x13\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xfekv")
    req = tt.RequestParser().parse(buf)
    assert req is not None and req.width == -2 and req.key == b"k" and req.value == b"v"


def test_request_parser_limits_are_inclusive() -> None:
    # Exactly the limits: waits for more bytes instead of failing.
    for data in (
        b"\xc8\x10\x10\x00\x00\x00\x00\x00\x00\x00",
        b"\xc8\x68\x00\x00\x03\xff" + b"\x00" * 12,
        b"\xc8\x31\x00\x10\x00\x00",
    ):
        buf = ReceiveBuffer()
        buf.feed(data)
        assert tt.RequestParser().parse(buf) is None


def test_reply_over_buffer_limit() -> None:
    for make, data in (
        (fn(tt.parse_value_reply), b"\x00\x00\x10\x00\x01"),
        (fn(tt.parse_stat_reply), b"\x00\x00\x10\x00\x01"),
        (mget_parser, b"\x00\x00\x00\x00\x01\x00\x10\x00\x00\x00\x00\x00\x01"),
        (misc_parser, b"\x00\x00\x00\x00\x01\x00\x10\x00\x01"),
        (fwmkeys_parser, b"\x00\x00\x00\x00\x01\x00\x10\x00\x01"),
    ):
        buf = ReceiveBuffer(limit=1 << 20)
        buf.feed(data)
        with pytest.raises(ProtocolError):
            make()(buf)


ALL_PARSERS: List[MakeParse] = [
    request_parser, mget_parser, fwmkeys_parser, misc_parser,
    fn(tt.parse_status_reply), fn(tt.parse_value_reply), fn(tt.parse_vsiz_reply),
    fn(tt.parse_addint_reply), fn(tt.parse_adddouble_reply), fn(tt.parse_u64_reply),
    fn(tt.parse_stat_reply),
]


def drain(make: MakeParse, data: bytes, splits: List[int]) -> None:
    parse = make()
    buf = ReceiveBuffer(limit=1 << 16)
    points = sorted({s for s in splits if 0 < s < len(data)}) + [len(data)]
    prev = 0
    try:
        for point in points:
            buf.feed(data[prev:point])
            prev = point
            for _ in range(len(data) + 2):
                if parse(buf) is None:
                    break
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.lists(st.integers(0, 64), max_size=4))
def test_fuzz_random_bytes(data: bytes, splits: List[int]) -> None:
    for make in ALL_PARSERS:
        drain(make, data, splits)
        drain(make, b"\xc8" + data, splits)


@SETTINGS
@given(requests(), st.data())
def test_fuzz_request_mutations(pair: Tuple[bytes, tt.TTRequest], data: st.DataObject) -> None:
    message = bytearray(pair[0])
    cut = data.draw(st.integers(0, len(message)))
    truncated = bytes(message[:cut])
    if cut < len(message):
        assert feed(request_parser, truncated, [])[0] is None
    if message:
        i = data.draw(st.integers(0, len(message) - 1))
        message[i] = data.draw(st.integers(0, 255))
    for make in ALL_PARSERS:
        drain(make, bytes(message), [])


@SETTINGS
@given(replies(), st.data())
def test_fuzz_truncated_replies(triple: Tuple[bytes, MakeParse, object], data: st.DataObject) -> None:
    message, make, _ = triple
    cut = data.draw(st.integers(0, max(0, len(message) - 1)))
    assert feed(make, message[:cut], [])[0] is None
    for other in ALL_PARSERS:
        drain(other, message, [])


# ---------------------------------------------------------------------------
# Encoder argument validation
# ---------------------------------------------------------------------------


def test_encoder_type_errors() -> None:
    with pytest.raises(TypeError):
        tt.encode_get("k")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tt.encode_put(b"k", bytearray(b"v"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tt.encode_mget((b"a",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tt.encode_mget([b"a", "b"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        tt.encode_addint(b"k", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tt.encode_misc(b"f", [b"a", 1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        tt.encode_ext("f", b"k")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tt.encode_mget_reply([[b"a", b"b"]])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        tt.encode_stat_reply({"a": 1})  # type: ignore[dict-item]


def test_encoder_value_errors() -> None:
    cases: List[Callable[[], bytes]] = [
        lambda: tt.encode_putshl(b"k", b"v", -1),
        lambda: tt.encode_putshl(b"k", b"v", 1 << 31),
        lambda: tt.encode_addint(b"k", 1 << 31),
        lambda: tt.encode_addint(b"k", -(1 << 31) - 1),
        lambda: tt.encode_fwmkeys(b"p", 1 << 31),
        lambda: tt.encode_ext(b"f" * 1024, b"k"),
        lambda: tt.encode_ext(b"f\x00g", b"k"),
        lambda: tt.encode_ext(b"f", b"k", b"v", -1),
        lambda: tt.encode_misc(b"n" * 1024, []),
        lambda: tt.encode_misc(b"put", [], 1 << 32),
        lambda: tt.encode_misc(b"put", [b""] * (tt.MAX_ARG_NUM + 1)),
        lambda: tt.encode_mget([b""] * (tt.MAX_ARG_NUM + 1)),
        lambda: tt.encode_copy(b"a\x00b"),
        lambda: tt.encode_optimize(b"\x00"),
        lambda: tt.encode_restore(b"/u", -1),
        lambda: tt.encode_restore(b"/u", 1 << 64),
        lambda: tt.encode_setmst(b"h", -1, 0),
        lambda: tt.encode_setmst(b"h", 1 << 31, 0),
        lambda: tt.encode_status(256),
        lambda: tt.encode_status(-1),
        lambda: tt.encode_vsiz_reply(-1),
        lambda: tt.encode_addint_reply(1 << 31),
        lambda: tt.encode_u64_reply(-1),
        lambda: tt.encode_stat_reply({"a\tb": "c"}),
        lambda: tt.encode_stat_reply({"a": "c\nd"}),
        lambda: tt.encode_stat_reply({"": "c"}),
    ]
    for case in cases:
        with pytest.raises(ValueError):
            case()


def test_oversized_key_is_refused() -> None:
    big = bytes(tt.MAX_ARG_SIZE + 1)
    with pytest.raises(ValueError, match="key"):
        tt.encode_get(big)
    with pytest.raises(ValueError, match="value"):
        tt.encode_put(b"k", big)


# ---------------------------------------------------------------------------
# Error codes and stat text
# ---------------------------------------------------------------------------


def test_error_codes() -> None:
    assert (tt.TTESUCCESS, tt.TTEINVALID, tt.TTENOHOST, tt.TTEREFUSED) == (0, 1, 2, 3)
    assert (tt.TTESEND, tt.TTERECV, tt.TTEKEEP, tt.TTENOREC, tt.TTEMISC) == (4, 5, 6, 7, 9999)
    assert tt.error_code(tt.CMD_GET, 0) == tt.TTESUCCESS
    assert tt.error_code(tt.CMD_PUTKEEP, 1) == tt.TTEKEEP
    assert tt.error_code(tt.CMD_ADDINT, 1) == tt.TTEKEEP
    assert tt.error_code(tt.CMD_ADDDOUBLE, 1) == tt.TTEKEEP
    for cmd in (tt.CMD_OUT, tt.CMD_GET, tt.CMD_MGET, tt.CMD_VSIZ, tt.CMD_ITERNEXT, tt.CMD_FWMKEYS):
        assert tt.error_code(cmd, 1) == tt.TTENOREC
    for cmd in (tt.CMD_PUT, tt.CMD_PUTCAT, tt.CMD_EXT, tt.CMD_MISC, tt.CMD_SYNC, tt.CMD_ITERINIT):
        assert tt.error_code(cmd, 1) == tt.TTEMISC
    assert tt.error_message(tt.TTENOREC) == "no record found"
    assert tt.error_message(tt.TTEMISC) == "miscellaneous error"
    assert tt.error_message(12345) == "unknown error"


def test_stat_text() -> None:
    text = b"version\t1.1.41\npath\t/x/\xff.tct\nweird line\n\nempty\t\ntab\ta\tb\n"
    assert tt.decode_stat_text(text) == {
        "version": "1.1.41", "path": "/x/\ufffd.tct", "weird line": "",
        "empty": "", "tab": "a\tb",
    }
    assert tt.encode_stat_text({"a": "1", "b": ""}) == b"a\t1\nb\t\n"


# ---------------------------------------------------------------------------
# Table database: columns
# ---------------------------------------------------------------------------

col_names = st.binary(max_size=12).map(lambda b: b.replace(b"\x00", b"_"))


def test_columns_known_answers() -> None:
    assert tt.encode_columns({b"a": b"1", b"b": b""}) == b"a\x001\x00b\x00"
    assert tt.encode_columns({}) == b""
    assert tt.decode_columns(b"") == {}
    assert tt.decode_columns(b"a\x00") == {b"a": b""}
    assert tt.decode_columns(b"\x00") == {b"": b""}
    assert tt.decode_columns(b"\x00pk\x00name\x00x") == {b"": b"pk", b"name": b"x"}
    assert tt.decode_columns(b"a\x001\x00a\x002") == {b"a": b"2"}
    for bad in (b"a", b"a\x001\x00", b"a\x001\x00b", b"\x00\x00"):
        with pytest.raises(ProtocolError):
            tt.decode_columns(bad)
    with pytest.raises(ValueError):
        tt.encode_columns({b"a\x00": b"1"})
    with pytest.raises(ValueError):
        tt.encode_columns({b"a": b"1\x00"})
    with pytest.raises(TypeError):
        tt.encode_columns({"a": b"1"})  # type: ignore[dict-item]
    assert tt.columns_to_args(b"pk", {b"a": b"1\x00", b"b": b""}) == [b"pk", b"a", b"1\x00", b"b", b""]
    assert tt.args_to_columns([b"a", b"1", b"b", b""]) == {b"a": b"1", b"b": b""}
    with pytest.raises(ProtocolError):
        tt.args_to_columns([b"a"])


@SETTINGS
@given(st.dictionaries(col_names, col_names, max_size=10), st.binary(max_size=8))
def test_columns_round_trip(cols: dict[bytes, bytes], pk: bytes) -> None:
    assert tt.decode_columns(tt.encode_columns(cols)) == cols
    args = tt.columns_to_args(pk, cols)
    assert args[0] == pk
    assert tt.args_to_columns(args[1:]) == cols


@SETTINGS
@given(st.binary(max_size=40))
def test_decode_columns_fuzz(data: bytes) -> None:
    try:
        tt.decode_columns(data)
    except ProtocolError:
        pass


# ---------------------------------------------------------------------------
# Table database: search arguments
# ---------------------------------------------------------------------------


def test_search_args_known_answers() -> None:
    q = tt.TTQuery(
        [tt.TTCondition(b"name", tt.COND_STR_EQ, b"foo"),
         tt.TTCondition(b"age", tt.COND_NUM_GT | tt.COND_NEGATE, tt.format_number(30))],
        [tt.TTOrder(b"age", tt.ORDER_NUM_DESC)],
        limit=10, offset=5,
    )
    search = tt.TTSearch([q], columns=[b"name"], hint=True)
    args = tt.encode_search_args(search)
    assert args == [
        b"hint",
        b"addcond\x00name\x000\x00foo",
        b"addcond\x00age\x0016777225\x0030",
        b"setorder\x00age\x003",
        b"setlimit\x0010\x005",
        b"get\x00name",
    ]
    assert search.misc_name() == b"search"
    assert tt.decode_search_args(args) == search
    # Plain search: no command arguments at all.
    assert tt.encode_search_args(tt.TTSearch()) == []
    assert tt.encode_search_args(tt.TTSearch(count=True)) == [b"count"]
    assert tt.encode_search_args(tt.TTSearch(out=True)) == [b"out"]
    assert tt.encode_search_args(tt.TTSearch([tt.TTQuery(offset=3)])) == [b"setlimit\x00-1\x003"]
    meta = tt.TTSearch([tt.TTQuery([tt.TTCondition(b"a", 0, b"x")]), tt.TTQuery()],
                       mstype=tt.MS_DIFF)
    assert meta.misc_name() == b"metasearch"
    assert tt.encode_search_args(meta) == [b"addcond\x00a\x000\x00x", b"next", b"mstype\x002"]


def test_search_args_decode_like_ttserver() -> None:
    args = [
        b"hint",
        b"cond\x00a\x00~NUMGT\x00 5",
        b"addcond\x00b\x00+strbw\x00z\x00ignored",
        b"addcond\x00c\x00!+16\x00q",
        b"addcond\x00d\x00BOGUS\x00q",        # unknown operator: ignored
        b"addcond\x00e\x00-1\x00q",           # negative operator: ignored
        b"addcond\x00short",                  # too few fields: ignored
        b"order\x00a\x00numdesc",
        b"setorder\x00a\x00nope",              # unknown order type: ignored
        b"limit\x00 +12abc",
        b"columns\x00x\x00y",
        b"get\x00z",
        b"remove",
        b"whatever\x00x",
        b"",
        b"next",
        b"max\x00-3\x00-4",
        b"setorder\x00n\x001.5",
        b"mstype\x00AND",
    ]
    search = tt.decode_search_args(args)
    assert search == tt.TTSearch(
        [
            tt.TTQuery(
                [tt.TTCondition(b"a", tt.COND_NUM_GT | tt.COND_NEGATE, b" 5"),
                 tt.TTCondition(b"b", tt.COND_STR_BW | tt.COND_NO_INDEX, b"z"),
                 tt.TTCondition(b"c", tt.COND_FTS_AND | tt.COND_NEGATE | tt.COND_NO_INDEX, b"q")],
                [tt.TTOrder(b"a", tt.ORDER_NUM_DESC)],
                limit=12, offset=0,
            ),
            tt.TTQuery([], [tt.TTOrder(b"n", 1)], limit=-1, offset=0),
        ],
        columns=[b"x", b"y", b"z"], out=True, count=False, hint=True, mstype=tt.MS_ISECT,
    )
    # Numbers wrap as a C int does.
    assert tt.decode_search_args([b"setlimit\x004294967297\x002"]).queries[0].limit == 1
    huge = b"9" * 5000
    tt.decode_search_args([b"setlimit\x00" + huge + b"\x00" + huge])
    assert tt.decode_search_args([b"mstype\x00bogus"]).mstype == tt.MS_UNION
    assert tt.decode_search_args([b"get"]).columns == []
    assert tt.decode_search_args([]) == tt.TTSearch()


conditions = st.builds(
    tt.TTCondition, col_names,
    st.builds(lambda op, f: op | f, st.integers(0, 18),
              st.sampled_from([0, tt.COND_NEGATE, tt.COND_NO_INDEX, tt.COND_NEGATE | tt.COND_NO_INDEX])),
    col_names,
)
orders = st.builds(tt.TTOrder, col_names, st.integers(0, 3))
queries = st.builds(
    tt.TTQuery, st.lists(conditions, max_size=4), st.lists(orders, max_size=2),
    st.integers(-1, (1 << 31) - 1), st.integers(0, (1 << 31) - 1),
)


@st.composite
def searches(draw: st.DrawFn) -> tt.TTSearch:
    qs = draw(st.lists(queries, min_size=1, max_size=3))
    return tt.TTSearch(
        qs,
        columns=draw(st.none() | st.lists(col_names, max_size=3)),
        out=draw(st.booleans()), count=draw(st.booleans()), hint=draw(st.booleans()),
        mstype=draw(st.integers(0, 2)) if len(qs) > 1 else 0,
    )


@SETTINGS
@given(searches())
def test_search_args_round_trip(search: tt.TTSearch) -> None:
    args = tt.encode_search_args(search)
    assert tt.decode_search_args(args) == search
    # And through the misc request codec.
    message = tt.encode_misc(search.misc_name(), args, tt.MISC_NO_ULOG)
    req = feed(request_parser, message, [])[0]
    assert isinstance(req, tt.TTRequest)
    assert tt.decode_search_args(req.args) == search


@SETTINGS
@given(st.lists(st.binary(max_size=30), max_size=8))
def test_decode_search_args_never_raises(args: List[bytes]) -> None:
    tt.decode_search_args(args)


def test_search_args_validation() -> None:
    bad_searches = [
        tt.TTSearch([]),
        tt.TTSearch([tt.TTQuery([tt.TTCondition(b"a\x00", 0, b"x")])]),
        tt.TTSearch([tt.TTQuery([tt.TTCondition(b"a", 0, b"x\x00")])]),
        tt.TTSearch([tt.TTQuery([tt.TTCondition(b"a", 19, b"x")])]),
        tt.TTSearch([tt.TTQuery([tt.TTCondition(b"a", -1, b"x")])]),
        tt.TTSearch([tt.TTQuery([tt.TTCondition(b"a", 1 << 26, b"x")])]),
        tt.TTSearch([tt.TTQuery(orders=[tt.TTOrder(b"a", 4)])]),
        tt.TTSearch([tt.TTQuery(limit=-2)]),
        tt.TTSearch([tt.TTQuery(offset=-1)]),
        tt.TTSearch([tt.TTQuery(), tt.TTQuery()], mstype=3),
        tt.TTSearch(columns=[b"a\x00"]),
    ]
    for search in bad_searches:
        with pytest.raises(ValueError):
            tt.encode_search_args(search)
    with pytest.raises(TypeError):
        tt.encode_search_args([b"hint"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tt.encode_search_args(tt.TTSearch([tt.TTQuery([(b"a", 0, b"x")])]))  # type: ignore[list-item]


def test_hint_and_expression_helpers() -> None:
    elements = [b"pk1", b"pk2", tt.hint_element(b"using an index\n")]
    assert tt.hint_element(b"h") == b"\x00\x00[[HINT]]\nh"
    assert tt.split_hint(elements) == ([b"pk1", b"pk2"], b"using an index\n")
    assert tt.split_hint([b"a"]) == ([b"a"], b"")
    assert tt.split_hint([]) == ([], b"")
    assert tt.format_number(5) == b"5"
    assert tt.format_number(-3) == b"-3"
    assert tt.format_number(1.5) == b"1.5"
    assert tt.format_number(1e-7) == b"0.0000001"  # ttserver reads no exponents
    assert tt.format_number(1e23) == b"100000000000000000000000.0"
    assert tt.format_number(math.inf) == b"inf"
    with pytest.raises(TypeError):
        tt.format_number(True)
    assert tt.join_tokens([b"1", b"10"]) == b"1 10"
    with pytest.raises(ValueError):
        tt.join_tokens([b"a b"])
    with pytest.raises(ValueError):
        tt.join_tokens([b"a,b"])


def test_struct_sizes_match_spec() -> None:
    # Sanity of the hand-written vectors above.
    assert struct.pack(">q", 500000000000) == b"\x00\x00\x00\x74\x6a\x52\x88\x00"
    assert struct.pack(">q", -500000000000) == b"\xff\xff\xff\x8b\x95\xad\x78\x00"
    assert struct.pack(">q", 250000000000) == b"\x00\x00\x00\x3a\x35\x29\x44\x00"


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 70000])
def test_value_reply_around_its_table_of_heads(size: int) -> None:
    """encode_value_reply takes the head of values below 1 KiB from a table
    and packs the others: the same layout either way, [0][size][value]."""
    value = bytes(range(256)) * (size // 256) + bytes(size % 256)
    data = tt.encode_value_reply(value)
    assert data == b"\x00" + struct.pack(">I", size) + value
    check_all_ways(fn(tt.parse_value_reply), data, (0, value), one_byte=False)
