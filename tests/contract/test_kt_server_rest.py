"""Contract tests of the Kyoto Tycoon servers: the RESTful interface
(GET / HEAD / PUT / DELETE on ``/<key>`` and ``/<db>/<key>``) and HTTP
details shared with RPC (keep-alive, query strings, form bodies).

Runs against the built-in server and, when installed, the real ktserver;
expectations are ktserver 1.0.0's answers.
"""

from __future__ import annotations

import time


import pytest

from kt.protocol import kt_http as kh
from kt_wire import KTWire

DATABASES = ["*", "%", "casket.kch"]
NOREC = b"DB: 7: no record: no record"


@pytest.fixture
def wire(kt_wire: KTWire) -> KTWire:
    return kt_wire


def test_put_get_head_delete(wire: KTWire) -> None:
    resp = wire.rest("PUT", b"k", b"value")
    assert resp.status == 201
    assert resp.headers[b"location"] == b"http://localhost:%d/k" % wire.port
    assert resp.body == b""
    resp = wire.rest("GET", b"k")
    assert (resp.status, resp.body) == (200, b"value")
    assert b"x-kt-xt" not in resp.headers
    assert b"content-type" not in resp.headers
    resp = wire.rest("HEAD", b"k")
    assert (resp.status, resp.headers[b"content-length"], resp.body) == (200, b"5", b"")
    resp = wire.rest("DELETE", b"k")
    assert (resp.status, resp.body) == (204, b"")
    for method in ("GET", "HEAD", "DELETE"):
        resp = wire.rest(method, b"k")
        assert resp.status == 404, method
        assert resp.headers[b"x-kt-error"] == NOREC
    assert wire.rest("HEAD", b"k").headers[b"content-length"] == b"0"


def test_expiration_header(wire: KTWire) -> None:
    when = int(time.time()) + 3600
    assert wire.rest("PUT", b"k", b"v", xt=when).status == 201
    resp = wire.rest("GET", b"k")
    assert kh.parse_xt_header(resp.headers[b"x-kt-xt"]) == when
    assert resp.headers[b"x-kt-xt"] == kh.format_xt_header(when)
    assert wire.rest("HEAD", b"k").headers[b"x-kt-xt"] == kh.format_xt_header(when)
    assert int(wire.rpc("get", key="k")["xt"]) == when
    # An RFC 1123 date works too; an unparsable one means "never".
    date = kh.format_xt_header(when + 60)
    wire.http(b"PUT /d HTTP/1.1\r\nContent-Length: 1\r\nX-Kt-Xt: %s\r\n\r\nx" % date)
    assert int(wire.rpc("get", key="d")["xt"]) == when + 60
    wire.http(b"PUT /g HTTP/1.1\r\nContent-Length: 1\r\nX-Kt-Xt: garbage\r\n\r\nx")
    assert wire.rpc("get", key="g").get("xt") is None


def test_put_modes(wire: KTWire) -> None:
    assert wire.rest("PUT", b"k", b"1", mode="add").status == 201
    resp = wire.rest("PUT", b"k", b"2", mode="add")
    assert (resp.status, resp.headers[b"x-kt-error"]) == \
        (450, b"DB: 6: record duplication: record duplication")
    assert wire.rest("PUT", b"k", b"3", mode="replace").status == 201
    resp = wire.rest("PUT", b"new", b"3", mode="replace")
    assert (resp.status, resp.headers[b"x-kt-error"]) == (450, NOREC)
    assert wire.rest("PUT", b"k", b"4", mode="set").status == 201
    assert wire.rest("GET", b"k").body == b"4"
    resp = wire.http(b"PUT /k HTTP/1.1\r\nContent-Length: 1\r\nX-Kt-Mode: ADD\r\n\r\n5")
    assert resp.status == 450  # the mode is case-insensitive


def test_databases_in_the_path(wire: KTWire) -> None:
    assert wire.rest("PUT", b"k x/y", b"tree", db=b"1").status == 201
    assert wire.rest("GET", b"k x/y", db=b"%").body == b"tree"
    assert wire.rest("GET", b"k x/y").status == 404  # database 0
    assert wire.rest("PUT", b"k", b"file", db=b"casket.kch").status == 201
    assert wire.rest("GET", b"k", db=b"2").body == b"file"
    for db in (b"9", b"nosuch"):
        resp = wire.rest("GET", b"k", db=db)
        assert (resp.status, resp.body) == (400, b"no such database\n")
    # An empty database part means database 0.
    wire.rest("PUT", b"z", b"zero")
    assert wire.http(b"GET //z HTTP/1.1\r\n\r\n").body == b"zero"


def test_binary_keys_and_values(wire: KTWire) -> None:
    key = bytes(range(1, 256))
    value = bytes(range(256)) * 10
    assert wire.rest("PUT", key, value).status == 201
    assert wire.rest("GET", key).body == value
    assert wire.get(key) == value
    resp = wire.http(b"GET /a+b%2Bc HTTP/1.1\r\n\r\n")
    assert resp.status == 404
    wire.set_bulk([(b"a b+c", b"plus")])
    assert wire.http(b"GET /a+b%2Bc HTTP/1.1\r\n\r\n").body == b"plus"


def test_other_methods(wire: KTWire) -> None:
    for request in (b"POST /k HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                    b"OPTIONS /k HTTP/1.1\r\n\r\n"):
        resp = wire.http(request)
        assert (resp.status, resp.body) == (501, b"")


def test_keep_alive_rules(wire: KTWire) -> None:
    wire.rest("PUT", b"k", b"v")
    resp = wire.http(b"GET /k HTTP/1.1\r\n\r\n")
    assert resp.keep_alive and b"connection" not in resp.headers
    resp = wire.http(b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert resp.keep_alive
    resp = wire.http(b"GET /k HTTP/1.0\r\n\r\n")
    assert resp.headers[b"connection"] == b"close"
    assert wire.closed_by_peer()


def test_connection_close(wire: KTWire) -> None:
    resp = wire.http(b"GET /rpc/void HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert resp.status == 200 and resp.headers[b"connection"] == b"close"
    assert wire.closed_by_peer()


def test_rpc_inputs_from_query_and_forms(wire: KTWire) -> None:
    resp = wire.http(b"GET /rpc/echo?a=1&b=%41;c=x+y HTTP/1.1\r\n\r\n")
    assert resp.rpc_pairs() == [(b"a", b"1"), (b"b", b"A"), (b"c", b"x y")]
    resp = wire.http(b"POST /rpc/echo?a=1&z=9 HTTP/1.1\r\nContent-Type: "
                     b"application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=2&q=3")
    assert resp.rpc_pairs() == [(b"a", b"2"), (b"q", b"3"), (b"z", b"9")]
    # A body of another media type is ignored.
    resp = wire.http(b"POST /rpc/echo HTTP/1.1\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 3\r\n\r\na\tb")
    assert (resp.status, resp.body) == (200, b"")
    resp = wire.http(b"POST /rpc/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: text/tab-separated-values\r\n\r\n3\r\na\tb\r\n0\r\n\r\n")
    assert resp.rpc_pairs() == [(b"a", b"b")]
    resp = wire.http(b"POST /rpc/echo HTTP/1.1\r\nContent-Type: text/tab-separated-values; "
                     b"colenc=U\r\nContent-Length: 9\r\n\r\na\t%01\nq\t1")
    assert resp.rpc_pairs() == [(b"a", b"\x01"), (b"q", b"1")]
    assert resp.headers[b"content-type"] == b"text/tab-separated-values; colenc=U"


def test_pipelined_requests(wire: KTWire) -> None:
    host = b"%s:%d" % (wire.host.encode(), wire.port)
    batch = b"".join(kh.encode_rest_request("PUT", b"p%d" % i, b"%d" % i, None, None, host)
                     for i in range(20))
    batch += kh.encode_rest_request("GET", b"p7", None, None, None, host)
    wire.send(batch)
    for _ in range(20):
        assert wire.read(kh.ResponseParser().parse).status == 201
    assert wire.read(kh.ResponseParser().parse).body == b"7"
