"""Contract tests of the Kyoto Tycoon servers: the binary protocol, mixing
it with HTTP on one connection, and robustness against bad input.

Runs against the built-in server and, when installed, the real ktserver
(see tests/servers.py); expectations are ktserver 1.0.0's answers.
Requests are built with kt.protocol.kt_binary (tests/kt_wire.py).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import List

import pytest

from kt.protocol import kt_binary as kb
from kt.protocol import kt_http as kh
from kt_wire import KTWire
from servers import RunningServer

DATABASES = ["*", "%", "casket.kch"]

@pytest.fixture
def server(kt_contract_server: RunningServer) -> RunningServer:
    return kt_contract_server


@pytest.fixture
def wire(kt_wire: KTWire) -> KTWire:
    return kt_wire


def test_set_get_remove_bulk(wire: KTWire) -> None:
    pairs = [(b"k%d" % i, b"v%d" % i) for i in range(100)]
    assert wire.set_bulk(pairs) == 100
    recs = wire.get_bulk([b"k5", b"nope", b"k99"])
    assert recs.keys == [b"k5", b"k99"]
    assert recs.values == [b"v5", b"v99"]
    assert recs.dbs == [0, 0]
    assert recs.xts == [kb.XT_MAX, kb.XT_MAX]  # never expires
    assert wire.remove_bulk([b"k5", b"nope"]) == 1
    assert wire.get_bulk([b"k5"]).keys == []
    assert wire.set_bulk([]) == 0
    assert len(wire.get_bulk([])) == 0
    assert wire.remove_bulk([]) == 0


def test_empty_and_binary_records(wire: KTWire) -> None:
    key = bytes(range(256))
    assert wire.set_bulk([(b"", b""), (key, key * 4)]) == 2
    recs = wire.get_bulk([b"", key])
    assert recs.values == [b"", key * 4]
    big = b"x" * (1 << 20)
    assert wire.set_bulk([(b"big", big)]) == 1
    assert wire.get(b"big") == big


def test_records_name_their_database(wire: KTWire) -> None:
    recs = kb.BulkRecords()
    recs.dbs = [0, 1, 2, 7]
    recs.keys = [b"a", b"b", b"c", b"d"]
    recs.values = [b"0", b"1", b"2", b"7"]
    recs.xts = [kb.XT_NONE] * 4
    # Records for a database that does not exist are skipped, not counted.
    assert wire.call(kb.encode_set_bulk_records(recs), kb.parse_set_bulk_reply) == 3
    got = wire.call(kb.encode_get_bulk_records([0, 1, 2, 7, 1], [b"a", b"b", b"c", b"d", b"a"]),
                    kb.GetBulkReplyParser().parse)
    assert (got.dbs, got.keys, got.values) == ([0, 1, 2], [b"a", b"b", b"c"], [b"0", b"1", b"2"])
    assert wire.rpc("get", key="c", DB="casket.kch")["value"] == b"2"
    removed = wire.call(kb.encode_remove_bulk_records([2, 7, 0], [b"c", b"d", b"zz"]),
                        kb.parse_remove_bulk_reply)
    assert removed == 1


def test_expiration_times(wire: KTWire) -> None:
    now = int(time.time())
    wire.set_bulk([(b"rel", b"v")], xt=100)
    wire.set_bulk([(b"abs", b"v")], xt=-(now + 5000))
    wire.set_bulk([(b"never", b"v")], xt=kb.XT_MAX + 5)
    wire.set_bulk([(b"huge", b"v")], xt=-(1 << 62))
    wire.set_bulk([(b"past", b"v")], xt=-5)
    recs = wire.get_bulk([b"rel", b"abs", b"never", b"huge", b"past"])
    xts = dict(zip(recs.keys, recs.xts))
    assert now + 99 <= xts[b"rel"] <= now + 102
    assert xts[b"abs"] == now + 5000
    assert xts[b"never"] == kb.XT_MAX
    assert xts[b"huge"] == kb.XT_MAX
    assert b"past" not in xts


def test_no_reply_flag(wire: KTWire) -> None:
    wire.send(kb.encode_set_bulk([(b"nr", b"1"), (b"gone", b"x")], flags=kb.FLAG_NO_REPLY))
    wire.send(kb.encode_remove_bulk([b"gone"], flags=kb.FLAG_NO_REPLY))
    # The next reply on the connection is the get_bulk's: nothing came before.
    recs = wire.get_bulk([b"nr", b"gone"])
    assert recs.keys == [b"nr"]
    # get_bulk ignores the flag and always answers.
    request = bytearray(kb.encode_get_bulk([b"nr"]))
    request[1:5] = struct.pack(">I", kb.FLAG_NO_REPLY)
    assert wire.call(bytes(request), kb.GetBulkReplyParser().parse).keys == [b"nr"]


def test_play_script_without_scripts_answers_0xbf(wire: KTWire) -> None:
    wire.send(kb.encode_play_script(b"echo", [(b"a", b"b")]))
    assert wire.read(lambda b: b.take(1) if b.ensure(1) else None) == b"\xbf"
    # The connection stays usable.
    wire.set_bulk([(b"after", b"1")])
    wire.send(kb.encode_play_script(b"echo", [], flags=kb.FLAG_NO_REPLY))
    assert wire.get(b"after") == b"1"


def test_replication_refused_without_update_log(server: RunningServer) -> None:
    with KTWire(server.host, server.port) as w:
        w.send(kb.encode_replication(0, 1))
        assert w.closed_by_peer()
        assert w.buf.unread() == b"\xbf"


def test_http_and_binary_on_one_connection(wire: KTWire) -> None:
    host = b"%s:%d" % (wire.host.encode(), wire.port)
    data = (kb.encode_set_bulk([(b"mix", b"1")])
            + kh.encode_rpc_request("get", [(b"key", b"mix")], None, host)
            + kb.encode_get_bulk([b"mix"])
            + kh.encode_rest_request("GET", b"mix", None, None, None, host))
    wire.send(data)
    assert wire.read(kb.parse_set_bulk_reply) == 1
    resp = wire.read(kh.ResponseParser().parse)
    assert resp.status == 200 and dict(resp.rpc_pairs())[b"value"] == b"1"
    assert wire.read(kb.GetBulkReplyParser().parse).values == [b"1"]
    resp = wire.read(kh.ResponseParser().parse)
    assert (resp.status, resp.body) == (200, b"1")


def test_requests_split_into_single_bytes(wire: KTWire) -> None:
    data = kb.encode_set_bulk([(b"slow", b"value")]) + kb.encode_get_bulk([b"slow"])
    for i in range(len(data)):
        wire.send(data[i:i + 1])
    assert wire.read(kb.parse_set_bulk_reply) == 1
    assert wire.read(kb.GetBulkReplyParser().parse).values == [b"value"]


# -- robustness ------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [
    b"\xb5\x00\x00\x00\x00",  # unknown binary command
    b"\x00abc",
    b"\x80\x81",
    b"\xbf",
    b"\xb0",
    b"NONSENSE\r\n\r\n",  # not an HTTP request line
    b"GET /x HTTP/2.0\r\n\r\n",  # unsupported HTTP version
])
def test_garbage_closes_only_that_connection(server: RunningServer, garbage: bytes) -> None:
    with KTWire(server.host, server.port) as bystander:
        bystander.set_bulk([(b"alive", b"1")])
        with KTWire(server.host, server.port) as bad:
            bad.send(garbage)
            assert bad.closed_by_peer()
            assert bad.buf.unread() == b""
        assert bystander.get(b"alive") == b"1"
    with KTWire(server.host, server.port) as fresh:
        assert fresh.rpc("void").status == 200


def test_oversized_record_is_refused_with_0xbf(server: RunningServer) -> None:
    with KTWire(server.host, server.port) as w:
        # get_bulk of one key announcing 4 GiB: refused at once, no waiting.
        w.send(b"\xba\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\xff\xff\xff\xff")
        assert w.closed_by_peer()
        assert w.buf.unread() == b"\xbf"
    with KTWire(server.host, server.port) as w:
        assert w.rpc("void").status == 200


def test_truncated_requests_do_not_hurt(server: RunningServer) -> None:
    for data in (kb.encode_set_bulk([(b"t", b"x" * 1000)])[:30],
                 b"\xb8\x00\x00\x00\x00\xff\xff\xff\xff",  # 4 billion records announced
                 b"\xb8\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x0f\xff\xff\xff\x00\x00\x00\x01",
                 b"POST /rpc/set HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nkey\tx"):
        s = socket.create_connection((server.host, server.port), 10)
        s.sendall(data)
        s.close()
    with KTWire(server.host, server.port) as w:
        w.set_bulk([(b"after", b"1")])
        assert w.get(b"after") == b"1"
        assert w.get(b"t") is None


def test_many_concurrent_clients(server: RunningServer) -> None:
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        try:
            with KTWire(server.host, server.port) as w:
                for i in range(50):
                    key = b"c%d-%d" % (n, i)
                    assert w.set_bulk([(key, key)]) == 1
                    assert w.get(key) == key
                    if i % 10 == 0:
                        r = w.rpc("increment", key="counter", num="1", DB="1")
                        assert r.status == 200
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    with KTWire(server.host, server.port) as w:
        assert w.rpc("increment", key="counter", num="0", DB="1")["num"] == b"120"
        assert len(w.get_bulk([b"c%d-%d" % (n, i) for n in range(24) for i in range(50)])) == 1200
        w.rpc("clear", DB="1")
