"""Kyoto Tycoon HTTP framing and TSV-RPC bodies: round trips, feeding,
known answers (from doc/spex.html and ktserver's sources), fuzz.

The code under test lives in three layers (kt.protocol.http, kt_tsv and
kt_http); the tests reach all of it through kt_http's re-exports, as the
client and the server do."""

from __future__ import annotations

import os
import random
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given, settings, strategies as st

from kt.errors import ProtocolError
from kt.protocol import kt_http as h
from kt.protocol.buffer import ReceiveBuffer

from feeding import feed_pieces, one_byte_pieces, split_at

Pairs = List[Tuple[bytes, bytes]]

SPECIAL = [
    b"", b"\x00", b"\t", b"\n", b"\r", b"\r\n", b"\xff\xfe", b"caf\xc3\xa9",
    b"a\tb\nc\x00d", b"%", b"+", b"=", b"%zz", b" ", b"\\x41", b"\\", b"a\r",
    b"=3D", b"%41", b"x" * 300,
]
fields = st.binary(max_size=60) | st.sampled_from(SPECIAL)
pair_lists = st.lists(st.tuples(fields, fields), max_size=30)
colencs = st.sampled_from(["B", "U", "Q"])
cuts = st.lists(st.integers(0, 20_000), max_size=12)

# Bytes that travel raw in a TSV body: keys without tab/LF, values without
# LF and not ending with CR.
raw_keys = st.binary(max_size=40).map(lambda b: b.replace(b"\t", b"").replace(b"\n", b""))
raw_values = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r"))
raw_pairs = st.lists(st.tuples(raw_keys, raw_values), max_size=30)

REQ_TRAILER = b"POST /rpc/echo HTTP/1.1\r\n"  # the start of another request
RESP_TRAILER = b"HTTP/1.1 200 OK\r\n"  # the start of another response


def check_feedings(make: Callable[[], Callable[[ReceiveBuffer], object]], data: bytes,
                   cut: Sequence[int], trailer: bytes) -> object:
    """Whole, byte by byte and at random cuts give one result; trailer stays."""
    whole, rest = feed_pieces(make(), [data + trailer])
    assert whole is not None
    assert rest == trailer
    by_byte, rest = feed_pieces(make(), one_byte_pieces(data) + [trailer])
    assert by_byte == whole
    assert rest == trailer
    split, rest = feed_pieces(make(), split_at(data + trailer, cut))
    assert split == whole
    assert rest == trailer
    return whole


def req_parser() -> Callable[[ReceiveBuffer], Optional[h.HttpRequest]]:
    return h.RequestParser().parse


def resp_parser(head: bool = False) -> Callable[[], Callable[[ReceiveBuffer], Optional[h.HttpResponse]]]:
    def make() -> Callable[[ReceiveBuffer], Optional[h.HttpResponse]]:
        return h.ResponseParser(head=head).parse
    return make


def parse_one_request(data: bytes) -> h.HttpRequest:
    buf = ReceiveBuffer()
    buf.feed(data)
    req = h.RequestParser().parse(buf)
    assert req is not None
    assert buf.unread() == b""
    return req


def parse_one_response(data: bytes, head: bool = False) -> h.HttpResponse:
    buf = ReceiveBuffer()
    buf.feed(data)
    resp = h.ResponseParser(head=head).parse(buf)
    assert resp is not None
    assert buf.unread() == b""
    return resp


def chunked(body: bytes, cut: Sequence[int], trailers: bytes = b"") -> bytes:
    """Chunked coding of ``body``, chunk boundaries at ``cut``."""
    out = []
    for piece in split_at(body, cut):
        if piece:
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n" + trailers + b"\r\n")
    return b"".join(out)


def ref_ktserver_colenc(pairs: Pairs) -> str:
    """checkmapenc from ktutil.h, restated byte by byte."""
    binary = False
    blen = 0
    ulen = 0
    for pair in pairs:
        for field in pair:
            if len(field) > 255:
                field = field[:255]
                binary = True
            blen += len(field) * 6 // 4 + 3
            for c in field:
                if c < 0x20 or c == 0x7F:
                    binary = True
                cheap = (c < 0x80 and chr(c).isalnum()) or c in b"_-.!~*'()"
                ulen += 1 if cheap else 3
    if not binary:
        return ""
    return "B" if blen < ulen else "U"


def ref_url_encode(data: bytes) -> bytes:
    safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~"
    return b"".join(bytes([c]) if c in safe else b"%%%02x" % c for c in data)


# --- TSV: round trips ---------------------------------------------------------


@given(pair_lists, colencs)
def test_tsv_round_trip_every_colenc(pairs: Pairs, colenc: str) -> None:
    body = h.encode_tsv(pairs, colenc)
    assert body.count(b"\n") == len(pairs)
    assert h.decode_tsv(body, colenc) == pairs
    # CRLF line ends are accepted too.
    assert h.decode_tsv(body.replace(b"\n", b"\r\n"), colenc) == pairs


@given(raw_pairs)
def test_tsv_round_trip_raw(pairs: Pairs) -> None:
    assert h.decode_tsv(h.encode_tsv(pairs, ""), "") == pairs


@given(pair_lists)
def test_chosen_colencs_round_trip(pairs: Pairs) -> None:
    for colenc in (h.choose_colenc(pairs), h.ktserver_colenc(pairs)):
        assert colenc in ("", "B", "U")
        assert h.decode_tsv(h.encode_tsv(pairs, colenc), colenc) == pairs


@given(pair_lists)
def test_ktserver_colenc_matches_checkmapenc(pairs: Pairs) -> None:
    assert h.ktserver_colenc(pairs) == ref_ktserver_colenc(pairs)


@given(pair_lists)
def test_choose_colenc_rule(pairs: Pairs) -> None:
    chosen = h.choose_colenc(pairs)
    has_ctrl = any(c < 0x20 or c == 0x7F for p in pairs for f in p for c in f)
    assert (chosen == "") == (not has_ctrl)
    if has_ctrl and any(len(f) > 255 for p in pairs for f in p):
        assert chosen == "B"


@given(st.binary(max_size=300) | st.sampled_from(SPECIAL))
def test_url_encoding_round_trip(data: bytes) -> None:
    enc = h.url_encode(data)
    assert enc == ref_url_encode(data)
    assert h.url_decode(enc) == data
    # Upper-case hex (what urllib writes) decodes the same.
    assert h.url_decode(quote_from_bytes(data, safe="").encode("ascii")) == data


# --- TSV: known answers -----------------------------------------------------------


def test_tsv_known_answers_encode() -> None:
    # doc/spex.html: the raw set request body (22 bytes) ...
    assert h.encode_tsv([(b"key", b"japan"), (b"value", b"tokyo")], "") == (
        b"key\tjapan\nvalue\ttokyo\n"
    )
    # ... and the colenc=B example (24 bytes).
    assert h.encode_tsv([(b"id", b"12345"), (b"age", b"31")], "B") == (
        b"aWQ=\tMTIzNDU=\nYWdl\tMzE=\n"
    )
    assert h.encode_tsv([(b"key", b"value")], "B") == b"a2V5\tdmFsdWU=\n"
    assert h.encode_tsv([(b"", b"")], "B") == b"\t\n"
    # colenc=U uses lower-case hex and spares A-Z a-z 0-9 _ - . ~ (kc::urlencode).
    assert h.encode_tsv([("平林".encode(), b"a b+c/~_-.!*")], "U") == (
        b"%e5%b9%b3%e6%9e%97\ta%20b%2bc%2f~_-.%21%2a\n"
    )
    assert h.encode_tsv([(b"a\tb", b"c d\n")], "U") == b"a%09b\tc%20d%0a\n"
    # colenc=Q escapes '=', control bytes and bytes above 0x7E as =XX.
    assert h.encode_tsv([(b"a\tb", b"c=d\n\xff ~")], "Q") == b"a=09b\tc=3Dd=0A=FF ~\n"
    assert h.encode_tsv([], "B") == b""


def test_tsv_known_answers_decode() -> None:
    # A line is cut at its first tab; CR before LF is dropped; a line without
    # a tab (like "SIGNALBROAD" in the spec's example) is ignored.
    body = b"SIGNALBROAD\nkey\tv\r\n\n\tx\nk2\ta\tb\nlast\tno newline"
    assert h.decode_tsv(body, "") == [
        (b"key", b"v"), (b"", b"x"), (b"k2", b"a\tb"), (b"last", b"no newline")
    ]
    assert h.decode_tsv(b"", "B") == []
    assert h.decode_tsv(b"aWQ=\tMTIzNDU=\nYWdl\tMzE=\n", "B") == [(b"id", b"12345"), (b"age", b"31")]
    assert h.decode_tsv(b"value\t%e5%b9%b3%E6%9E%97\n", "U") == [(b"value", "平林".encode())]
    # URL decoding: '+' is a space, raw whitespace and control bytes are dropped.
    assert h.decode_tsv(b"a+b\tc d\x01%2B\n", "U") == [(b"a b", b"cd+")]
    assert h.decode_tsv(b"a=09b\tc=3dd=0A=FF\n", "Q") == [(b"a\tb", b"c=d\n\xff")]
    assert h.decode_tsv(b"a\x01\t=41\n", "Q") == [(b"a", b"A")]


@pytest.mark.parametrize(
    "body,colenc",
    [
        (b"a\tb\n", "B"),  # "a": not a whole base64 group
        (b"YQ=\tYQ==\n", "B"),
        (b"YQ==\tY!==\n", "B"),
        (b"Y===\tYQ==\n", "B"),
        (b"YQ==YQ==\tYQ==\n", "B"),
        (b"YQ==\t YQ=\n", "B"),
        (b"%\tb\n", "U"),
        (b"a\t%4\n", "U"),
        (b"a\t%zz\n", "U"),
        (b"a\t%4g\n", "U"),
        (b"=\tb\n", "Q"),
        (b"a\t=4\n", "Q"),
        (b"a\t=GG\n", "Q"),
    ],
)
def test_tsv_malformed_encodings(body: bytes, colenc: str) -> None:
    with pytest.raises(ProtocolError):
        h.decode_tsv(body, colenc)


def test_tsv_raw_refuses_unrepresentable_pairs() -> None:
    for pair in [(b"a\tb", b""), (b"a\nb", b""), (b"a", b"b\nc"), (b"a", b"b\r")]:
        with pytest.raises(ValueError):
            h.encode_tsv([pair], "")
    # A tab in a value is fine raw: lines are cut at the first tab.
    assert h.encode_tsv([(b"a", b"b\tc")], "") == b"a\tb\tc\n"


def test_tsv_argument_checks() -> None:
    with pytest.raises(ValueError):
        h.encode_tsv([], "X")
    with pytest.raises(TypeError):
        h.encode_tsv([], None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.encode_tsv([("a", b"b")], "B")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        h.encode_tsv([(b"a", bytearray(b"b"))], "B")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        h.encode_tsv([(b"a",)], "B")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        h.decode_tsv("a\tb", "")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.choose_colenc([(b"a", "b")])  # type: ignore[list-item]


def test_colenc_choice_known_answers() -> None:
    printable = b"x" * 300
    assert h.choose_colenc([(b"key", b"value")]) == ""
    assert h.ktserver_colenc([(b"key", b"value")]) == ""
    # Bytes >= 0x80 travel raw with both rules.
    assert h.ktserver_colenc([(b"value", "平林".encode())]) == ""
    # ktserver encodes every field longer than 255 bytes; this client does not.
    assert h.choose_colenc([(b"value", printable)]) == ""
    assert h.ktserver_colenc([(b"value", printable)]) == "U"
    assert h.ktserver_colenc([(b"value", b"\xff" * 300)]) == "B"
    # Mostly safe text with a newline: U; binary: B.
    assert h.ktserver_colenc([(b"value", b"hello world\n")]) == "U"
    assert h.choose_colenc([(b"value", b"hello world\n")]) == "U"
    # The +3 per field of the base64 estimate makes short binary go U.
    assert h.ktserver_colenc([(b"value", b"\x00\x01\x02\x03")]) == "U"
    assert h.ktserver_colenc([(b"value", b"\x00" * 20)]) == "B"
    assert h.choose_colenc([(b"value", b"\x00" + printable)]) == "B"
    assert h.choose_colenc([]) == ""
    assert h.ktserver_colenc([]) == ""


def test_parse_colenc() -> None:
    assert h.parse_colenc(b"text/tab-separated-values") == ""
    assert h.parse_colenc(b"text/tab-separated-values; colenc=B") == "B"
    assert h.parse_colenc(b"TEXT/Tab-Separated-Values;colenc=u") == "U"
    assert h.parse_colenc(b'text/tab-separated-values; colenc="Q"') == "Q"
    assert h.parse_colenc(b"text/tab-separated-values; charset=utf-8; COLENC=b") == "B"
    assert h.parse_colenc(b"text/tab-separated-values; colenc=X") == ""
    assert h.parse_colenc(b"text/tab-separated-values; colenc=") == ""
    assert h.parse_colenc(b"text/plain; colenc=B") == ""
    assert h.parse_colenc(b"") == ""
    for colenc in h.COLENCS:
        assert h.parse_colenc(h.tsv_content_type(colenc)) == colenc
    assert h.tsv_content_type("B") == b"text/tab-separated-values; colenc=B"


def test_decode_rpc_body_and_forms() -> None:
    # doc/spex.html's HTML-form example.
    assert h.decode_rpc_body(h.FORM_CONTENT_TYPE, b"id=1234&name=%e5%b9%b9%e9%9b%84") == [
        (b"id", b"1234"), (b"name", "幹雄".encode())
    ]
    assert h.decode_form(b"a=1;b&&  c=x+y&=v") == [
        (b"a", b"1"), (b"b", b""), (b"c", b"x y"), (b"", b"v")
    ]
    assert h.decode_form(b"") == []
    assert h.decode_rpc_body(None, b"a\tb\n") == []  # no Content-Type: ignored
    assert h.decode_rpc_body(b"application/octet-stream", b"a\tb\n") == []
    assert h.decode_rpc_body(b"text/tab-separated-values; colenc=B", b"YQ==\tYg==\n") == [(b"a", b"b")]
    with pytest.raises(ProtocolError):
        h.decode_form(b"a=%zz")


@given(st.lists(st.tuples(fields, fields), max_size=20))
def test_form_round_trip(pairs: Pairs) -> None:
    assert h.decode_form(h.encode_form(pairs)) == pairs


def test_url_decode_known_answers() -> None:
    assert h.url_decode(b"I%20love%20you") == b"I love you"
    assert h.url_decode(b"a+b%2F%2f%5c\\") == b"a b//\\\\"
    assert h.url_decode(b"%5cx41") == b"\\x41"
    assert h.url_decode(b"") == b""
    for bad in (b"%", b"%4", b"%zz", b"%4g", b"a%%41"):
        with pytest.raises(ProtocolError):
            h.url_decode(bad)


# --- client requests -> server parser -----------------------------------------------


procedures = st.sampled_from(["set", "get", "cur_jump_back", "play_script"]) | st.text(min_size=1, max_size=12)


@given(procedures, pair_lists, st.sampled_from([None, "B", "U", "Q"]), st.booleans(), cuts)
def test_rpc_request_round_trip(proc: str, pairs: Pairs, colenc: Optional[str], keep: bool,
                                cut: List[int]) -> None:
    data = h.encode_rpc_request(proc, pairs, colenc, b"localhost:1978", keep)
    req = check_feedings(req_parser, data, cut, REQ_TRAILER)
    assert isinstance(req, h.HttpRequest)
    assert req.method == b"POST"
    assert req.version == b"HTTP/1.1"
    assert req.headers[b"host"] == b"localhost:1978"
    assert h.rpc_procedure(req.path) == proc.encode("utf-8").decode("latin-1")
    assert req.query == []
    assert req.rpc_pairs() == pairs
    assert req.keep_alive is keep
    if colenc is not None:
        assert h.parse_colenc(req.headers[b"content-type"]) == colenc


@given(raw_pairs)
def test_rpc_request_raw_colenc(pairs: Pairs) -> None:
    req = parse_one_request(h.encode_rpc_request("set", pairs, "", b"h"))
    assert req.headers[b"content-type"] == b"text/tab-separated-values"
    assert req.rpc_pairs() == pairs


rest_cases = st.one_of(
    st.tuples(st.sampled_from(["GET", "HEAD", "DELETE"]), fields, st.none(), st.none(), st.none()),
    st.tuples(
        st.just("PUT"),
        fields,
        st.binary(max_size=200),
        st.none() | st.integers(1, (1 << 63) - 1),
        st.none() | st.sampled_from(["set", "add", "replace"]),
    ),
)
dbs = st.none() | st.sampled_from([b"0", b"1", b"casket.kch", b"a/b", b"%"]) | st.binary(min_size=1, max_size=12)


@given(rest_cases, dbs, st.booleans(), cuts)
def test_rest_request_round_trip(case: Tuple[str, bytes, Optional[bytes], Optional[int], Optional[str]],
                                 db: Optional[bytes], keep: bool, cut: List[int]) -> None:
    if db == b"rpc":
        db = None
    method, key, value, xt, mode = case
    data = h.encode_rest_request(method, key, value, xt, db, b"localhost:1978", mode, keep)
    req = check_feedings(req_parser, data, cut, REQ_TRAILER)
    assert isinstance(req, h.HttpRequest)
    assert req.method == method.encode()
    assert h.rpc_procedure(req.path) is None
    assert h.split_rest_path(req.path) == (db, key)
    assert req.body == (value if value is not None else b"")
    assert req.keep_alive is keep
    xt_header = req.headers.get(b"x-kt-xt")
    assert (h.parse_xt_header(xt_header) if xt_header is not None else None) == xt
    mode_header = req.headers.get(b"x-kt-mode")
    assert mode_header == (mode.encode() if mode is not None else None)


def test_client_request_known_answers() -> None:
    assert h.encode_rpc_request(
        "set", [(b"key", b"japan"), (b"value", b"tokyo")], None, b"localhost:1978"
    ) == (
        b"POST /rpc/set HTTP/1.1\r\nHost: localhost:1978\r\nContent-Length: 22\r\n"
        b"Content-Type: text/tab-separated-values\r\n\r\nkey\tjapan\nvalue\ttokyo\n"
    )
    assert h.encode_rpc_request(
        "hello", [(b"id", b"12345"), (b"age", b"31")], "B", b"localhost:1978", keep_alive=False
    ) == (
        b"POST /rpc/hello HTTP/1.1\r\nHost: localhost:1978\r\nContent-Length: 24\r\n"
        b"Content-Type: text/tab-separated-values; colenc=B\r\nConnection: close\r\n\r\n"
        b"aWQ=\tMTIzNDU=\nYWdl\tMzE=\n"
    )
    # A NUL forces an encoding; "x\x00" is mostly safe text: U.
    assert h.encode_rpc_request("get", [(b"key", b"x\x00")], None, b"h") == (
        b"POST /rpc/get HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n"
        b"Content-Type: text/tab-separated-values; colenc=U\r\n\r\nkey\tx%00\n"
    )
    assert h.encode_rpc_request("void", [], None, b"h") == (
        b"POST /rpc/void HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n"
        b"Content-Type: text/tab-separated-values\r\n\r\n"
    )
    # doc/spex.html: "/words.kch/I%20love%20you".
    assert h.encode_rest_request("GET", b"I love you", None, None, b"words.kch", b"h") == (
        b"GET /words.kch/I%20love%20you HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert h.encode_rest_request("HEAD", b"a/b", None, None, None, b"h") == (
        b"HEAD /a%2fb HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert h.encode_rest_request("DELETE", b"japan", None, None, b"1", b"h", keep_alive=False) == (
        b"DELETE /1/japan HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    assert h.encode_rest_request("PUT", b"japan", b"tokyo", 1300000000, None, b"h", "add") == (
        b"PUT /japan HTTP/1.1\r\nHost: h\r\nX-Kt-Xt: 1300000000\r\nX-Kt-Mode: add\r\n"
        b"Content-Length: 5\r\n\r\ntokyo"
    )
    assert h.encode_rest_request("PUT", b"", b"", None, None, b"h") == (
        b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    )


def test_client_request_argument_checks() -> None:
    with pytest.raises(TypeError):
        h.encode_rpc_request(b"set", [], None, b"h")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        h.encode_rpc_request("", [], None, b"h")
    with pytest.raises(ValueError):
        h.encode_rpc_request("set", [], "Z", b"h")
    with pytest.raises(ValueError):
        h.encode_rpc_request("set", [], None, b"h\r\nX: y")
    with pytest.raises(TypeError):
        h.encode_rpc_request("set", [], None, "h")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.encode_rpc_request("set", [(b"k", 1)], None, b"h")  # type: ignore[list-item]
    bad_rest: List[Tuple[object, ...]] = [
        ("POST", b"k", None, None, None),
        ("PUT", b"k", None, None, None),
        ("GET", b"k", b"v", None, None),
        ("GET", b"k", None, 5, None),
        ("PUT", b"k", b"v", 0, None),
        ("PUT", b"k", b"v", -5, None),
        ("PUT", b"k", b"v", 1 << 63, None),
        ("PUT", b"k", b"v", None, b""),
        ("PUT", b"k", b"v", None, b"rpc"),
    ]
    for method, key, value, xt, db in bad_rest:
        with pytest.raises(ValueError):
            h.encode_rest_request(method, key, value, xt, db, b"h")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        h.encode_rest_request("PUT", b"k", b"v", None, None, b"h", "cas")
    with pytest.raises(ValueError):
        h.encode_rest_request("GET", b"k", None, None, None, b"h", "add")
    with pytest.raises(TypeError):
        h.encode_rest_request("GET", "k", None, None, None, b"h")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.encode_rest_request("PUT", b"k", "v", None, None, b"h")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.encode_rest_request("PUT", b"k", b"v", 1.5, None, b"h")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.encode_rest_request("PUT", b"k", b"v", True, None, b"h")
    with pytest.raises(TypeError):
        h.encode_rest_request("GET", b"k", None, None, "db", b"h")  # type: ignore[arg-type]


# --- server parser: hand-written requests ---------------------------------------------


def test_request_parser_known_requests() -> None:
    # doc/spex.html's query-string form, with ';' as a separator too.
    req = parse_one_request(b"GET /rpc/paint?color=red&x=30;y=20 HTTP/1.1\r\nHost: localhost:1978\r\n\r\n")
    assert req.method == b"GET"
    assert req.target == b"/rpc/paint?color=red&x=30;y=20"
    assert req.path == b"/rpc/paint"
    assert req.query == [(b"color", b"red"), (b"x", b"30"), (b"y", b"20")]
    assert req.rpc_pairs() == req.query
    assert req.body == b""
    # Query pairs come first, then the body's (ktserver lets the body win).
    req = parse_one_request(
        b"POST /rpc/set?key=a HTTP/1.0\r\nContent-Type: text/tab-separated-values\r\n"
        b"Content-Length: 8\r\nConnection: Keep-Alive\r\n\r\nkey\tb\nx\n"
    )
    assert req.rpc_pairs() == [(b"key", b"a"), (b"key", b"b")]
    assert req.keep_alive is True
    assert dict(req.rpc_pairs())[b"key"] == b"b"
    # Header names are lower-cased, values trimmed, repeats joined; bare LF
    # line ends and leading blank lines are accepted.
    req = parse_one_request(
        b"\r\n\nDELETE /0/k%20ey HTTP/1.1\nX-A:  1 \nx-a:2\nConnection: close\n\n"
    )
    assert req.headers == {b"x-a": b"1, 2", b"connection": b"close"}
    assert h.split_rest_path(req.path) == (b"0", b"k ey")
    assert req.keep_alive is False
    # A GET with a body is framed by its Content-Length (ktserver would not).
    req = parse_one_request(b"GET /k HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    assert req.body == b"abc"


def test_request_keep_alive_matrix() -> None:
    cases = [
        (b"HTTP/1.1", b"", True),
        (b"HTTP/1.1", b"Connection: close\r\n", False),
        (b"HTTP/1.1", b"Connection: Upgrade, CLOSE\r\n", False),
        (b"HTTP/1.0", b"", False),
        (b"HTTP/1.0", b"Connection: keep-alive\r\n", True),
        (b"HTTP/1.0", b"Connection: other\r\n", False),
    ]
    for version, header, keep in cases:
        req = parse_one_request(b"GET / " + version + b"\r\n" + header + b"\r\n")
        assert req.keep_alive is keep
        assert req.version == version


@given(st.binary(max_size=3000), cuts, cuts)
def test_chunked_request_body(body: bytes, chunk_cut: List[int], feed_cut: List[int]) -> None:
    data = (
        b"PUT /key HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Kt-Mode: add\r\n\r\n"
        + chunked(body, chunk_cut, b"X-Trailer: 1\r\n")
    )
    req = check_feedings(req_parser, data, feed_cut, REQ_TRAILER)
    assert isinstance(req, h.HttpRequest)
    assert req.body == body
    assert req.headers[b"x-kt-mode"] == b"add"


def test_chunked_known_vectors() -> None:
    # Extensions, upper-case hex, bare-LF lines, trailers.
    req = parse_one_request(
        b"POST /rpc/set HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"4;name=value\r\nkey\t\r\nA\nabcdefghij\n0\r\nT: x\r\n\r\n"
    )
    assert req.body == b"key\tabcdefghij"
    resp = parse_one_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    assert resp.body == b"abc"


def test_expect_continue() -> None:
    p = h.RequestParser()
    buf = ReceiveBuffer()
    buf.feed(b"PUT /k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert p.parse(buf) is None
    assert p.expect_continue is True
    buf.feed(b"abc")
    req = p.parse(buf)
    assert req is not None and req.body == b"abc"
    assert p.expect_continue is False
    assert h.CONTINUE_RESPONSE == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_pipelined_requests() -> None:
    one = h.encode_rpc_request("set", [(b"key", b"a"), (b"value", b"\x00")], None, b"h")
    two = h.encode_rest_request("GET", b"a", None, None, None, b"h")
    three = h.encode_rest_request("PUT", b"a", b"xyz", None, None, b"h")
    buf = ReceiveBuffer()
    buf.feed(one + two + three)
    p = h.RequestParser()
    r1, r2, r3 = p.parse(buf), p.parse(buf), p.parse(buf)
    assert r1 is not None and r1.rpc_pairs() == [(b"key", b"a"), (b"value", b"\x00")]
    assert r2 is not None and r2.method == b"GET"
    assert r3 is not None and r3.body == b"xyz"
    assert p.parse(buf) is None
    assert buf.unread() == b""


@pytest.mark.parametrize(
    "data",
    [
        b"GET /\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1 x\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"G@T / HTTP/1.1\r\n\r\n",
        b"GET http://h/k HTTP/1.1\r\n\r\n",
        b"GET k HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nName : x\r\n\r\n",
        b"GET / HTTP/1.1\r\n: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 20 + b"\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"x" * 5000,
        b"GET /rpc/get?key=%zz HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"a" * (70 * 1024),
    ],
)
def test_request_parser_rejects(data: bytes) -> None:
    buf = ReceiveBuffer()
    buf.feed(data)
    with pytest.raises(ProtocolError):
        h.RequestParser().parse(buf)


def test_request_body_limit() -> None:
    buf = ReceiveBuffer(limit=1000)
    buf.feed(b"PUT /k HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
    with pytest.raises(ProtocolError):
        h.RequestParser().parse(buf)
    buf = ReceiveBuffer(limit=1000)
    buf.feed(b"PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"200\r\n" + b"a" * 512 + b"\r\n")
    p = h.RequestParser()
    assert p.parse(buf) is None
    buf.feed(b"200\r\n")
    with pytest.raises(ProtocolError, match="limit"):
        p.parse(buf)
    # Header sections over the limit, whether they arrive whole or not.
    big = b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\r\n\r\n"
    buf = ReceiveBuffer()
    buf.feed(big)
    with pytest.raises(ProtocolError, match="header section"):
        h.RequestParser(max_header=100).parse(buf)
    buf = ReceiveBuffer()
    buf.feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200 + b"\r\n\r\n")
    with pytest.raises(ProtocolError, match="header section"):
        h.ResponseParser(max_header=100).parse(buf)
    # Trailer section over the limit.
    buf = ReceiveBuffer()
    buf.feed(b"PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + b"a" * (70 * 1024))
    with pytest.raises(ProtocolError, match="trailer"):
        h.RequestParser().parse(buf)
    # A body delimited by the close, over the buffer's limit.
    buf = ReceiveBuffer(limit=1000)
    buf.feed(b"HTTP/1.0 200 OK\r\n\r\n")
    rp = h.ResponseParser()
    assert rp.parse(buf) is None
    buf.feed(b"a" * 1001)
    with pytest.raises(ProtocolError, match="limit"):
        rp.parse(buf)


def test_blank_lines_between_requests() -> None:
    p = h.RequestParser()
    buf = ReceiveBuffer()
    buf.feed(b"\r\n\n\r\n")
    assert p.parse(buf) is None
    assert buf.unread() == b""
    buf.feed(b"\r")
    assert p.parse(buf) is None
    buf.feed(b"\nGET / HTTP/1.1\r\n\r\n")
    req = p.parse(buf)
    assert req is not None and req.path == b"/"
    # Many blank lines, arriving in pieces larger than the header limit.
    p = h.RequestParser(max_header=100)
    buf = ReceiveBuffer()
    for _ in range(5):
        buf.feed(b"\r\n" * 100)
    buf.feed(b"GET /x HTTP/1.1\r\n\r\n")
    req = p.parse(buf)
    assert req is not None and req.path == b"/x"
    # Bare-LF chunked trailer end.
    req = parse_one_request(b"PUT /k HTTP/1.1\nTransfer-Encoding: chunked\n\n1\na\n0\n\n")
    assert req.body == b"a"


def test_rest_paths() -> None:
    assert h.split_rest_path(b"/japan") == (None, b"japan")
    assert h.split_rest_path(b"/words.kch/I%20love%20you") == (b"words.kch", b"I love you")
    assert h.split_rest_path(b"/1//k") == (b"1", b"k")
    assert h.split_rest_path(b"//k") == (None, b"k")
    assert h.split_rest_path(b"/") == (None, b"")
    assert h.split_rest_path(b"/a/b/c") == (b"a", b"b/c")
    assert h.rpc_procedure(b"/rpc/set") == "set"
    assert h.rpc_procedure(b"/rpc/cur%5fjump") == "cur_jump"
    assert h.rpc_procedure(b"/rpcx") is None
    assert h.rpc_procedure(b"/japan") is None
    with pytest.raises(ProtocolError):
        h.split_rest_path(b"/%zz")


# --- server responses -> client parser ---------------------------------------------


header_names = st.from_regex(rb"\A[A-Za-z][A-Za-z0-9-]{0,15}\Z").filter(
    lambda n: n.lower() not in (b"content-length", b"transfer-encoding", b"connection", b"server", b"date")
)
header_values = st.binary(max_size=40).map(
    lambda v: v.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"").strip(b" \t")
)
statuses = st.sampled_from([200, 201, 204, 304, 400, 404, 450, 500, 501, 503, 299, 999])


@given(statuses, st.dictionaries(header_names.map(bytes.lower), header_values, max_size=6),
       st.binary(max_size=2000), st.booleans(), st.booleans(), st.none() | st.just(b"Sun, 06 Nov 1994 08:49:37 GMT"),
       cuts)
def test_response_round_trip(status: int, headers: Dict[bytes, bytes], body: bytes, keep: bool,
                             head: bool, date: Optional[bytes], cut: List[int]) -> None:
    if status == 204:
        body = b""
    data = h.encode_response(status, list(headers.items()), body, keep, head, date)
    resp = check_feedings(resp_parser(head), data, cut, RESP_TRAILER)
    assert isinstance(resp, h.HttpResponse)
    assert resp.status == status
    assert resp.reason == h.reason_phrase(status)
    assert resp.version == b"HTTP/1.1"
    assert resp.keep_alive is keep
    assert resp.body == (b"" if head or status == 304 else body)
    for name, value in headers.items():
        assert resp.headers[name] == value
    assert resp.headers[b"server"] == b"KyotoTycoon/1.0.0"
    assert resp.headers.get(b"date") == date


@given(st.sampled_from([200, 400, 450, 500, 501, 503]), pair_lists, st.sampled_from([None, "", "B", "U", "Q"]),
       st.booleans(), cuts)
def test_rpc_response_round_trip(status: int, pairs: Pairs, colenc: Optional[str], keep: bool,
                                 cut: List[int]) -> None:
    if colenc == "":
        colenc = None if h.ktserver_colenc(pairs) else ""
    data = h.encode_rpc_response(status, pairs, colenc, keep)
    resp = check_feedings(resp_parser(), data, cut, RESP_TRAILER)
    assert isinstance(resp, h.HttpResponse)
    assert resp.status == status
    assert resp.rpc_pairs() == pairs
    assert resp.colenc == (h.ktserver_colenc(pairs) if colenc is None else colenc)
    assert resp.keep_alive is keep


@given(st.binary(max_size=3000), cuts, cuts)
def test_chunked_response_body(body: bytes, chunk_cut: List[int], feed_cut: List[int]) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, chunk_cut)
    resp = check_feedings(resp_parser(), data, feed_cut, RESP_TRAILER)
    assert isinstance(resp, h.HttpResponse)
    assert resp.body == body
    assert resp.keep_alive is True


def test_server_response_known_answers() -> None:
    # doc/spex.html's RPC replies (plus the Server header ktserver adds).
    # Its colenc=U example is illustrative: ktserver's own rule would send
    # these UTF-8 bytes raw (see test_colenc_choice_known_answers).
    assert h.encode_rpc_response(200, [(b"value", "平林".encode())], "U", True) == (
        b"HTTP/1.1 200 OK\r\nServer: KyotoTycoon/1.0.0\r\nContent-Length: 25\r\n"
        b"Content-Type: text/tab-separated-values; colenc=U\r\n\r\nvalue\t%e5%b9%b3%e6%9e%97\n"
    )
    assert h.encode_rpc_response(
        501, [(b"ERROR", b"no such procedure")], None, True, date=b"Sun, 06 Nov 1994 08:49:37 GMT"
    ) == (
        b"HTTP/1.1 501 Not Implemented\r\nServer: KyotoTycoon/1.0.0\r\n"
        b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 24\r\n"
        b"Content-Type: text/tab-separated-values\r\n\r\nERROR\tno such procedure\n"
    )
    assert h.encode_rpc_response(450, [], None, False, server=None) == (
        b"HTTP/1.1 450 Logical Inconsistency\r\nConnection: close\r\nContent-Length: 0\r\n"
        b"Content-Type: text/tab-separated-values\r\n\r\n"
    )
    # RESTful replies as ktserver builds them.
    assert h.encode_response(201, [(b"Location", b"http://localhost:1978/japan")], b"", True) == (
        b"HTTP/1.1 201 Created\r\nServer: KyotoTycoon/1.0.0\r\nContent-Length: 0\r\n"
        b"Location: http://localhost:1978/japan\r\n\r\n"
    )
    assert h.encode_response(
        200, [(b"Content-Length", b"5"), (b"X-Kt-Xt", b"Sun, 06 Nov 1994 08:49:37 GMT")], b"", True, head=True
    ) == (
        b"HTTP/1.1 200 OK\r\nServer: KyotoTycoon/1.0.0\r\nContent-Length: 5\r\n"
        b"X-Kt-Xt: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
    )
    assert h.encode_response(204, [], b"", True, server=None) == (
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
    )
    assert h.encode_response(404, [(b"X-Kt-Error", b"DB: 7: no record: no record")], b"", True, server=None) == (
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Kt-Error: DB: 7: no record: no record\r\n\r\n"
    )
    assert h.encode_error_response(400, b"receiving data failed", server=None) == (
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 40\r\n"
        b"Content-Type: text/plain\r\n\r\n400 Bad Request (receiving data failed)\n"
    )
    assert h.reason_phrase(450) == b"Logical Inconsistency"
    assert h.reason_phrase(413) == b"Request Entity Too Large"
    assert h.reason_phrase(299) == b"Unknown Success Status"
    assert h.reason_phrase(470) == b"Unknown Client Error Status"
    assert h.reason_phrase(999) == b"Unknown Status"


def test_server_response_argument_checks() -> None:
    with pytest.raises(ValueError):
        h.encode_response(99, [], b"", True)
    with pytest.raises(ValueError):
        h.encode_response(1000, [], b"", True)
    with pytest.raises(TypeError):
        h.encode_response("200", [], b"", True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.encode_response(200, [], "body", True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        h.encode_response(204, [], b"x", True)
    with pytest.raises(ValueError):
        h.encode_response(200, [(b"Content-Length", b"3")], b"abc", True)
    with pytest.raises(ValueError):
        h.encode_response(200, [(b"Bad Name", b"x")], b"", True)
    with pytest.raises(ValueError):
        h.encode_response(200, [(b"X", b"a\r\nInjected: 1")], b"", True)
    with pytest.raises(TypeError):
        h.encode_response(200, [("X", b"a")], b"", True)  # type: ignore[list-item]
    with pytest.raises(ValueError):
        h.encode_response(200, [], b"", True, date=b"x\ny")
    with pytest.raises(ValueError):
        h.encode_rpc_response(200, [], "Z", True)
    with pytest.raises(TypeError):
        h.encode_error_response(400, "msg")  # type: ignore[arg-type]


# --- client parser: hand-written responses ------------------------------------------


def test_response_parser_known_responses() -> None:
    # doc/spex.html's example reply (no Server/Date headers there).
    resp = parse_one_response(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/tab-separated-values; colenc=U\r\n"
        b"Content-Length: 25\r\n\r\nvalue\t%e5%b9%b3%e6%9e%97\n"
    )
    assert resp.rpc_pairs() == [(b"value", "平林".encode())]
    assert resp.colenc == "U"
    # A 404 to a HEAD announces a length but sends no body.
    p = h.ResponseParser(head=True)
    buf = ReceiveBuffer()
    buf.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kt-Xt: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
             b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    first = p.parse(buf)
    assert first is not None and first.body == b"" and first.headers[b"content-length"] == b"5"
    assert h.parse_xt_header(first.headers[b"x-kt-xt"]) == 784111777
    p.head = False
    second = p.parse(buf)
    assert second is not None and second.body == b"ok"
    # 204 and 304 never carry a body, whatever Content-Length says.
    for status in (b"204 No Content", b"304 Not Modified"):
        buf = ReceiveBuffer()
        buf.feed(b"HTTP/1.1 " + status + b"\r\nContent-Length: 9\r\n\r\n" + RESP_TRAILER)
        resp2 = h.ResponseParser().parse(buf)
        assert resp2 is not None and resp2.body == b""
        assert buf.unread() == RESP_TRAILER
    # Interim 1xx responses are skipped.
    resp = parse_one_response(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    )
    assert resp.status == 201
    # A status line without a reason, bare LF line ends.
    resp = parse_one_response(b"HTTP/1.0 450\nContent-Length: 0\nConnection: keep-alive\n\n")
    assert (resp.status, resp.reason, resp.keep_alive) == (450, b"", True)


def test_response_until_close() -> None:
    p = h.ResponseParser()
    buf = ReceiveBuffer()
    buf.feed(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabc")
    assert p.parse(buf) is None
    buf.feed(b"def")
    assert p.parse(buf) is None
    resp = p.finish(buf)
    assert resp is not None
    assert resp.body == b"abcdef"
    assert resp.ended_by_close is True
    assert resp.keep_alive is False
    assert buf.unread() == b""
    # A clean close between responses, and a close in the middle of one.
    assert h.ResponseParser().finish(ReceiveBuffer()) is None
    buf = ReceiveBuffer()
    buf.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    p = h.ResponseParser()
    assert p.parse(buf) is None
    with pytest.raises(ProtocolError):
        p.finish(buf)
    buf = ReceiveBuffer()
    buf.feed(b"HTTP/1.1 200")
    with pytest.raises(ProtocolError):
        h.ResponseParser().finish(buf)


@pytest.mark.parametrize(
    "data",
    [
        b"\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\x01\r\n\r\n",
        b"ICY 200 OK\r\n",
        b"\xbf",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * (70 * 1024),
    ],
)
def test_response_parser_rejects(data: bytes) -> None:
    buf = ReceiveBuffer()
    buf.feed(data)
    with pytest.raises(ProtocolError):
        h.ResponseParser().parse(buf)


# --- X-Kt-Xt dates --------------------------------------------------------------------


@given(st.integers(0, 253402300799))
def test_xt_header_round_trip(t: int) -> None:
    text = h.format_xt_header(t)
    assert len(text) == 29
    assert h.parse_xt_header(text) == t


def test_xt_header_known_answers() -> None:
    assert h.format_xt_header(0) == b"Thu, 01 Jan 1970 00:00:00 GMT"
    assert h.format_xt_header(784111777) == b"Sun, 06 Nov 1994 08:49:37 GMT"
    assert h.parse_xt_header(b"1300000000") == 1300000000
    assert h.parse_xt_header(b" -5 ") == -5
    assert h.parse_xt_header(b"0x10") == 16
    assert h.parse_xt_header(b"06 Nov 1994 08:49:37 GMT") == 784111777
    assert h.parse_xt_header(b"Sun, 06 Nov 1994 17:49:37 +0900") == 784111777
    assert h.parse_xt_header(b"1994-11-06T08:49:37Z") == 784111777
    assert h.parse_xt_header(b"1994-11-06T17:49:37.25+09:00") == 784111777
    assert h.parse_xt_header(b"1994-11-06") == 784080000
    for bad in (b"", b"abc", b"Sun, 32 Nov 1994 08:49:37 GMT", b"Sun, 06 Foo 1994 08:49:37 GMT",
                b"1994-13-06", b"1" * 30, b"12abc"):
        with pytest.raises(ProtocolError):
            h.parse_xt_header(bad)
    with pytest.raises(TypeError):
        h.format_xt_header(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        h.format_xt_header(1 << 70)


# --- large values and many records ----------------------------------------------------


def test_large_values() -> None:
    big = os.urandom(1 << 20)
    text = b"a" * (1 << 20)
    for colenc in (None, "B", "U", "Q"):
        data = h.encode_rpc_request("set", [(b"key", b"k"), (b"value", big)], colenc, b"h")
        req = parse_one_request(data)
        assert req.rpc_pairs() == [(b"key", b"k"), (b"value", big)]
    # ktserver's rule encodes every field over 255 bytes: plain text goes U.
    resp = parse_one_response(h.encode_rpc_response(200, [(b"value", text)], None, True))
    assert resp.colenc == "U"
    assert resp.rpc_pairs() == [(b"value", text)]
    # RESTful PUT and a chunked reply, fed in pieces.
    data = h.encode_rest_request("PUT", b"big", big, None, None, b"h")
    pieces = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    req2, rest = feed_pieces(h.RequestParser().parse, pieces + [REQ_TRAILER])
    assert req2 is not None and req2.body == big and rest == REQ_TRAILER
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(big, range(0, 1 << 20, 65536))
    pieces = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    resp2, rest = feed_pieces(h.ResponseParser().parse, pieces + [RESP_TRAILER])
    assert resp2 is not None and resp2.body == big and rest == RESP_TRAILER


@settings(max_examples=8)
@given(st.integers(0, 1000), st.sampled_from([None, "B", "U", "Q"]))
def test_many_records(n: int, colenc: Optional[str]) -> None:
    pairs = [(b"_k%d" % i, bytes([i % 256]) * (i % 7)) for i in range(n)]
    req = parse_one_request(h.encode_rpc_request("set_bulk", pairs, colenc, b"h"))
    assert req.rpc_pairs() == pairs
    resp = parse_one_response(h.encode_rpc_response(200, pairs, colenc, True))
    assert resp.rpc_pairs() == pairs


# --- fuzz -------------------------------------------------------------------------------

TOKENS = [
    b"HTTP/1.1 ", b"HTTP/1.0", b"200", b" OK", b"\r\n", b"\n", b"\r", b"Content-Length: ",
    b"Transfer-Encoding: chunked", b"Connection: close", b"5", b"0", b"ff", b";x", b"abc", b":",
    b" ", b"GET ", b"POST ", b"/", b"?a=%", b"%4", b"=", b"&", b"\x00", b"\xff", b"\t",
    b"Expect: 100-continue", b"Content-Type: text/tab-separated-values; colenc=B",
]
fuzz_bytes = st.binary(max_size=300) | st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)


def drain_requests(data: bytes) -> None:
    buf = ReceiveBuffer(limit=1 << 16)
    buf.feed(data)
    p = h.RequestParser()
    try:
        for _ in range(100):
            req = p.parse(buf)
            if req is None:
                break
            assert isinstance(req, h.HttpRequest)
            req.rpc_pairs()
            h.split_rest_path(req.path)
            h.rpc_procedure(req.path)
            _ = req.keep_alive
    except ProtocolError:
        pass


def drain_responses(data: bytes, head: bool) -> None:
    buf = ReceiveBuffer(limit=1 << 16)
    buf.feed(data)
    p = h.ResponseParser(head=head)
    try:
        for _ in range(100):
            resp = p.parse(buf)
            if resp is None:
                break
            assert isinstance(resp, h.HttpResponse)
            resp.rpc_pairs()
            _ = resp.keep_alive
        resp = p.finish(buf)
        assert resp is None or isinstance(resp, h.HttpResponse)
    except ProtocolError:
        pass


@given(fuzz_bytes, st.booleans())
def test_fuzz_parsers(data: bytes, head: bool) -> None:
    drain_requests(data)
    drain_requests(b"POST /rpc/x HTTP/1.1\r\n" + data)
    drain_responses(data, head)
    drain_responses(b"HTTP/1.1 200 OK\r\n" + data, head)
    for colenc in h.COLENCS:
        try:
            h.decode_tsv(data, colenc)
        except ProtocolError:
            pass
    for fn in (h.decode_form, h.url_decode, h.split_rest_path, h.parse_xt_header, h.parse_colenc,
               h.rpc_procedure):
        try:
            fn(data)
        except ProtocolError:
            pass


SAMPLE_REQUESTS = [
    h.encode_rpc_request("set", [(b"key", b"\x00k"), (b"value", b"v\n")], None, b"h"),
    h.encode_rest_request("PUT", b"k", b"value", 1300000000, b"db", b"h", "replace"),
    b"GET /rpc/get?key=a%20b HTTP/1.1\r\n\r\n",
    b"PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e\r\nd\r\n0\r\nT: 1\r\n\r\n",
]
SAMPLE_RESPONSES = [
    h.encode_rpc_response(200, [(b"value", b"\x00\xff"), (b"xt", b"123")], None, True),
    h.encode_response(200, [(b"Content-Length", b"5")], b"", False, head=True),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
]


def test_truncated_messages_wait() -> None:
    for data in SAMPLE_REQUESTS:
        for n in range(len(data)):
            buf = ReceiveBuffer()
            buf.feed(data[:n])
            assert h.RequestParser().parse(buf) is None
    for i, data in enumerate(SAMPLE_RESPONSES):
        head = i == 1
        for n in range(len(data)):
            buf = ReceiveBuffer()
            buf.feed(data[:n])
            p = h.ResponseParser(head=head)
            assert p.parse(buf) is None
            if n and i != 3:
                with pytest.raises(ProtocolError):
                    p.finish(buf)


def test_mutated_messages() -> None:
    rng = random.Random(1978)
    for _ in range(3000):
        data = bytearray(rng.choice(SAMPLE_REQUESTS + SAMPLE_RESPONSES))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        drain_requests(bytes(data))
        drain_responses(bytes(data), rng.random() < 0.2)
