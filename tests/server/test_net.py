"""The shared listening loop (kt.server.net) in process: requests answered
in order, and a session taking its connection over."""

from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional, Tuple

import pytest

from kt.protocol.buffer import ReceiveBuffer
from kt.server.log import Logger
from kt.server.loop import LoopServer
from kt.server.net import Protocol, Server, Takeover, ThreadedServer

SERVERS = [ThreadedServer, LoopServer]


class LineProtocol(Protocol):
    """Echoes each line upper-cased; the line ``stream`` hands the
    connection to ``self.stream``, which echoes what is left lower-cased."""

    def __init__(self, peer: str) -> None:
        super().__init__(peer)
        self._hand: Optional[Takeover] = None
        self.lost = threading.Event()

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        out: List[bytes] = []
        while self._hand is None:
            data = buf.unread()
            end = data.find(b"\n")
            if end < 0:
                break
            line = buf.take(end + 1)[:-1]
            if line == b"stream":
                self._hand = self.stream
                out.append(b"STREAMING\n")
            else:
                out.append(line.upper() + b"\n")
        return out, False

    def takeover(self) -> Optional[Takeover]:
        return self._hand

    def stream(self, sock: socket.socket, buf: ReceiveBuffer) -> None:
        pending = buf.unread()
        buf.clear()
        while b"\n" not in pending or not pending.endswith(b"end\n"):
            chunk = sock.recv(4096)
            if not chunk:
                return
            pending += chunk
        sock.sendall(pending.lower())

    def connection_lost(self) -> None:
        self.lost.set()


def _recv_until(sock: socket.socket, tail: bytes) -> bytes:
    data = b""
    while not data.endswith(tail):
        chunk = sock.recv(4096)
        assert chunk, "connection closed early: %r" % data
        data += chunk
    return data


@pytest.mark.parametrize("server_class", SERVERS)
def test_requests_then_takeover(server_class: Callable[..., Server]) -> None:
    made: List[LineProtocol] = []

    def factory(peer: str) -> Protocol:
        made.append(LineProtocol(peer))
        return made[-1]

    server = server_class("127.0.0.1", 0, factory, Logger(level="NONE"))
    host, port = server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            # Bytes after "stream" in the same packet reach the takeover.
            sock.sendall(b"abc\nstream\nKEEP\n")
            assert _recv_until(sock, b"STREAMING\n") == b"ABC\nSTREAMING\n"
            sock.sendall(b"MORE\nend\n")
            assert _recv_until(sock, b"end\n") == b"keep\nmore\nend\n"
            assert sock.recv(10) == b""  # closed once the takeover returns
        assert made[0].lost.wait(10)
    finally:
        server.stop()
        thread.join(10)
