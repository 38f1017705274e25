"""Bad input never takes a built-in server down.

Many connections send random bytes, truncated and bit-flipped requests,
lying length fields (a size of gigabytes followed by a few bytes), HTTP
garbage and broken table search arguments; every one ends with a closed
connection (after the protocol's error answer, if any) once the client
stops sending, and between rounds the server still answers well-formed
requests.  The server's resident memory stays bounded (a lying length
field never allocates what it claims).  Then the inputs that crash
ttserver 1.1.41 (a table put through misc with an empty primary key, an
empty value in a q-gram indexed column, a q-gram index on the primary key,
a negative putshl width) each get an error status.

Built-in servers only: the real ones are not ours to harden.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
from typing import Callable, List, Optional

import pytest

from kt import KyotoTycoon, TokyoTyrant
from kt.protocol import kt_binary as kb
from kt.protocol import tt_binary as tb
from servers import RunningServer
from tt_wire import TTWire

CONNECTIONS = 8
ROUNDS = 3
PER_ROUND = 12


def _rss_kb(pid: int) -> Optional[int]:
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _mutate(rng: random.Random, data: bytes) -> bytes:
    pick = rng.random()
    if pick < 0.3 and len(data) > 1:
        return data[:rng.randrange(1, len(data))]  # truncated
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _kyoto_inputs(rng: random.Random) -> List[bytes]:
    huge = struct.pack(">BIIHIIq", kb.MAGIC_SET_BULK, 0, 1, 0, 0x7FFFFFF0, 0x7FFFFFF0, 0)
    valid = [
        kb.encode_set_bulk([(b"key", b"value")]),
        b"POST /rpc/set HTTP/1.1\r\nContent-Type: text/tab-separated-values; colenc=B\r\n"
        b"Content-Length: 16\r\n\r\nkey\tYQ==\nvalue\t!!\n",
        b"GET /key HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    return [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))),
        huge + b"abc",
        struct.pack(">BIIHIIq", kb.MAGIC_SET_BULK, 0, 0xFFFFFFFF, 0, 3, 3, 0) + b"abcdef",
        b"POST /rpc/set HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nkey\tx\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"POST /rpc/set HTTP/1.1\r\n" + b"X-Junk: y\r\n" * 500 + b"\r\n",
        b"PUT /k HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"\xb0" + b"\xff" * 12,
        _mutate(rng, rng.choice(valid)),
        _mutate(rng, rng.choice(valid)),
    ]


def _tyrant_inputs(rng: random.Random) -> List[bytes]:
    search = tb.encode_misc(b"search", [b"addcond\x00name\x00\xff\x00x", b"setorder\x00",
                                        b"setlimit\x00-1\x00-99999999", b"get\x00\x00",
                                        bytes(rng.randrange(256) for _ in range(20))])
    valid = [tb.encode_put(b"key", b"name\x00v"), search,
             tb.encode_misc(b"putlist", [b"a", b"b\x00c"]), tb.encode_putshl(b"k", b"v", 3)]
    return [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))),
        b"\xc8\x10" + struct.pack(">II", 0xFFFFFFF0, 0xFFFFFFF0) + b"abc",
        b"\xc8\x90" + struct.pack(">III", 0x7FFFFFF0, 0, 0xFFFFFFFF) + b"search",
        b"\xc8\x90" + struct.pack(">III", 6, 0, 0xFFFFFFFF) + b"search" + struct.pack(">I", 0x7FFFFFF0),
        b"\xc8\x31" + struct.pack(">I", 0xFFFFFFFF) + b"\x00\x00\x00\x01",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"\xc8\x62" + b"\xff" * 9,
        search,
        _mutate(rng, rng.choice(valid)),
        _mutate(rng, rng.choice(valid)),
    ]


def _negative_putshl(key: bytes, value: bytes) -> bytes:
    """putshl with width -1 (the client refuses to encode it)."""
    return struct.pack(">BBIIi", 0xC8, 0x13, len(key), len(value), -1) + key + value


def _send_bad(port: int, data: bytes) -> None:
    """Send ``data``, stop sending, and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), 30) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return  # the server already closed the connection: fine
        total = 0
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return
            if not chunk:
                return
            total += len(chunk)
            assert total < 1 << 20, "an endless answer to a bad request"


def _flood(server: RunningServer, inputs: Callable[[random.Random], List[bytes]],
           check: Callable[[], None]) -> None:
    proc = server.proc
    assert proc is not None
    check()
    before = _rss_kb(proc.pid)
    errors: List[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(PER_ROUND):
                for data in inputs(rng)[:rng.randrange(3, 11)]:
                    _send_bad(server.port, data)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    for round_ in range(ROUNDS):
        threads = [threading.Thread(target=worker, args=(round_ * 100 + i,))
                   for i in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[0]
        assert proc.poll() is None, "the server died"
        check()
    after = _rss_kb(proc.pid)
    if before is not None and after is not None:
        assert after - before < 200 * 1024, "resident memory grew from %d kB to %d kB" % (before, after)


def test_kyoto_survives_a_flood_of_bad_requests(tmp_path: "os.PathLike[str]") -> None:
    with RunningServer("kyoto", "builtin", databases=["flood.kch", "%"],
                       workdir=str(tmp_path)) as server:
        client = KyotoTycoon("127.0.0.1", server.port, timeout=30)
        counter = [0]

        def check() -> None:
            counter[0] += 1
            client.set("alive", str(counter[0]))
            assert client.get("alive") == str(counter[0])
        _flood(server, _kyoto_inputs, check)


def test_tyrant_survives_a_flood_of_bad_requests(tmp_path: "os.PathLike[str]") -> None:
    with RunningServer("tyrant", "builtin", databases=["flood.tct"],
                       workdir=str(tmp_path)) as server:
        counter = [0]

        def check() -> None:
            counter[0] += 1
            with TTWire("127.0.0.1", server.port) as w:
                assert w.put(b"alive", b"n\x00%d" % counter[0]) == 0
                assert w.get(b"alive") == b"n\x00%d" % counter[0]
        _flood(server, _tyrant_inputs, check)


def test_tyrant_answers_ttserver_crashers_with_errors(tmp_path: "os.PathLike[str]") -> None:
    with RunningServer("tyrant", "builtin", databases=["crashers.tct"],
                       workdir=str(tmp_path)) as server:
        with TTWire("127.0.0.1", server.port) as w:
            assert w.misc(b"put", [b"", b"name", b"x"])[0] != 0
            assert w.misc(b"setindex", [b"name", b"qgram"])[0] == 0
            assert w.misc(b"put", [b"k1", b"name", b""])[0] != 0
            assert w.put(b"k2", b"name\x00") != 0
            assert w.misc(b"setindex", [b"", b"qgram"])[0] != 0
            assert w.status(_negative_putshl(b"k3", b"name\x00abc")) != 0
            assert w.put(b"k4", b"name\x00ok") == 0
            assert w.misc(b"get", [b"k4"]) == (0, [b"name", b"ok"])
            assert w.rnum() == 1
        assert server.proc is not None and server.proc.poll() is None
    with RunningServer("tyrant", "builtin", databases=["crashers.tch"],
                       workdir=str(tmp_path)) as server:
        with TTWire("127.0.0.1", server.port) as w:
            assert w.status(_negative_putshl(b"k", b"abc")) != 0
            assert w.put(b"k", b"v") == 0


@pytest.mark.parametrize("kind", ["kyoto", "tyrant"])
def test_lying_length_fields_do_not_allocate(kind: str, tmp_path: "os.PathLike[str]") -> None:
    db = "lie.kch" if kind == "kyoto" else "lie.tch"
    with RunningServer(kind, "builtin", databases=[db], workdir=str(tmp_path)) as server:
        proc = server.proc
        assert proc is not None
        before = _rss_kb(proc.pid)
        if kind == "kyoto":
            lie = struct.pack(">BIIHIIq", kb.MAGIC_SET_BULK, 0, 1, 0, 0x7FFFFFF0, 0x7FFFFFF0, 0)
        else:
            lie = b"\xc8\x10" + struct.pack(">II", 0x7FFFFFF0, 0x7FFFFFF0)
        socks = []
        for _ in range(20):  # held open: a server that allocated would hold 20 x 4 GB
            s = socket.create_connection(("127.0.0.1", server.port), 30)
            s.sendall(lie + b"x" * 1000)
            socks.append(s)
        if kind == "kyoto":
            assert KyotoTycoon("127.0.0.1", server.port).set("k", "v")
        else:
            with TTWire("127.0.0.1", server.port) as w:
                assert w.put(b"k", b"v") == 0
        after = _rss_kb(proc.pid)
        for s in socks:
            s.close()
        if before is not None and after is not None:
            assert after - before < 100 * 1024
