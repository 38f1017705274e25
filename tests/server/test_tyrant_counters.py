"""The Tyrant server's command counters are exact under concurrent
connections: 8 connections hammer one in-process server (kt.server.loop's
event loop, and kt.server.net's connection threads), then ``stat`` must
count every command."""

from __future__ import annotations

import socket
import sys
import threading
from typing import Dict, Iterator, List, Tuple

import pytest

from kt.protocol import tt_binary as tb
from kt.server.log import Logger
from kt.server.loop import LoopServer
from kt.server.net import BaseServer, ThreadedServer, engine_protocol
from kt.server.tyrant.engine import TyrantEngine
from kt.server.tyrant.storage import open_database
from servers import recv_exact

CONNECTIONS = 8
ROUNDS = 200


@pytest.fixture(params=[LoopServer, ThreadedServer])
def server(request: pytest.FixtureRequest) -> Iterator[Tuple[BaseServer, int]]:
    logger = Logger(None, sys.stderr, "NONE")
    engine = TyrantEngine(open_database("*"), logger)
    srv: BaseServer = request.param("127.0.0.1", 0, engine_protocol(engine), logger)
    _, port = srv.bind()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, port
    srv.stop()
    thread.join(5)


def _client(port: int, worker: int, errors: List[BaseException]) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for i in range(ROUNDS):
                key = b"w%d-%d" % (worker, i % 50)
                sock.sendall(tb.encode_put(key, b"v"))
                assert recv_exact(sock, 1) == b"\x00"
                sock.sendall(tb.encode_get(b"missing"))
                assert recv_exact(sock, 1) == b"\x01"
                sock.sendall(tb.encode_putnr(key, b"v"))
            # A request with a reply after the last putnr: the connection's
            # requests are handled in order, so stat then counts them all.
            sock.sendall(tb.encode_get(b"missing"))
            assert recv_exact(sock, 1) == b"\x01"
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def _stat(port: int) -> Dict[str, str]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(tb.encode_stat())
        head = recv_exact(sock, 5)
        assert head[0] == 0
        text = recv_exact(sock, int.from_bytes(head[1:], "big")).decode()
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def test_counters_are_exact_under_8_concurrent_connections(
        server: Tuple[BaseServer, int]) -> None:
    _, port = server
    errors: List[BaseException] = []
    threads = [threading.Thread(target=_client, args=(port, w, errors))
               for w in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    stats = _stat(port)
    total = CONNECTIONS * ROUNDS
    assert stats["cnt_put"] == str(total)
    assert stats["cnt_putnr"] == str(total)
    assert stats["cnt_get"] == str(total + CONNECTIONS)  # + the closing get of each
    assert stats["cnt_get_miss"] == str(total + CONNECTIONS)
    assert stats["cnt_stat"] == "1"
