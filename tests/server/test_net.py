"""The shared listening loop (kt.server.net) in process: requests answered
in order, and a session taking its connection over."""

from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional, Tuple, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kt.errors import ProtocolError
from kt.protocol.buffer import ReceiveBuffer
from kt.server.log import Logger
from kt.server.loop import LoopServer
from kt.server.net import (
    RECV_MAX, RECV_SIZE, BaseServer, Protocol, Takeover, ThreadedServer, recv_size_after,
)

SERVERS = [ThreadedServer, LoopServer]

P = TypeVar("P", bound=Protocol)


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
def test_requests_then_takeover(server_class: Callable[..., BaseServer]) -> None:
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


class DeferringProtocol(Protocol):
    """Lines: ``block`` waits (off the loop) for ``gate``; ``big N``
    answers N bytes; ``bad`` raises ProtocolError; ``bug`` raises
    RuntimeError; anything else is echoed upper-cased."""

    gate = threading.Event()

    def __init__(self, peer: str) -> None:
        super().__init__(peer)
        self._held = False
        self.lost = threading.Event()
        self.threads: List[str] = []

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        out: List[bytes] = []
        hold = not self._held
        if self._held:
            self._held = False
            self.threads.append(threading.current_thread().name)
            assert self.gate.wait(30)
            out.append(b"UNBLOCKED\n")
        while True:
            data = buf.unread()
            end = data.find(b"\n")
            if end < 0:
                return out, False
            if data[:end] == b"block" and hold:
                buf.take(end + 1)
                self._held = True
                return out, False
            line = buf.take(end + 1)[:-1]
            if line == b"bad":
                raise ProtocolError("bad line")
            if line == b"bug":
                raise RuntimeError("a bug")
            if line == b"quit":
                out.append(b"BYE\n")
                return out, True
            if line.startswith(b"big "):
                out.append(b"x" * int(line[4:]) + b"\n")
            else:
                out.append(line.upper() + b"\n")

    def deferred(self) -> bool:
        return self._held

    def connection_lost(self) -> None:
        self.lost.set()


def _serve(server_class: Callable[..., BaseServer], made: List[P], make: Callable[[str], P],
           **kwargs: object) -> Tuple[BaseServer, threading.Thread, int]:
    """Start ``server_class`` in a thread; each connection's protocol,
    made by ``make``, is appended to ``made``."""
    def factory(peer: str) -> Protocol:
        made.append(make(peer))
        return made[-1]

    server = server_class("127.0.0.1", 0, factory, Logger(level="NONE"), **kwargs)
    _, port = server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, port


def _start(server_class: Callable[..., BaseServer], made: List[DeferringProtocol],
           **kwargs: object) -> Tuple[BaseServer, threading.Thread, int]:
    return _serve(server_class, made, DeferringProtocol, **kwargs)


@pytest.mark.parametrize("server_class", SERVERS)
def test_deferred_request_keeps_order_and_others_go_on(
        server_class: Callable[..., BaseServer]) -> None:
    made: List[DeferringProtocol] = []
    DeferringProtocol.gate.clear()
    server, thread, port = _start(server_class, made)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as blocked, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as other:
            blocked.sendall(b"one\nblock\ntwo\n")
            assert _recv_until(blocked, b"ONE\n") == b"ONE\n"
            # The other connection is answered while the first one waits.
            for i in range(5):
                other.sendall(b"ping%d\n" % i)
                assert _recv_until(other, b"\n") == b"PING%d\n" % i
            blocked.sendall(b"three\n")
            DeferringProtocol.gate.set()
            assert _recv_until(blocked, b"THREE\n") == b"UNBLOCKED\nTWO\nTHREE\n"
        if server_class is LoopServer:
            assert made[0].threads == ["server-worker"]
    finally:
        server.stop()
        thread.join(10)


@pytest.mark.parametrize("server_class", SERVERS)
def test_errors_close_only_their_connection(server_class: Callable[..., BaseServer]) -> None:
    made: List[DeferringProtocol] = []
    server, thread, port = _start(server_class, made)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as keep:
            for line in (b"bad\n", b"bug\n", b"quit\n"):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(b"a\n")
                    assert _recv_until(sock, b"A\n") == b"A\n"
                    sock.sendall(line)
                    rest = b""
                    while True:
                        chunk = sock.recv(100)
                        if not chunk:
                            break
                        rest += chunk
                    assert rest == (b"BYE\n" if line == b"quit\n" else b"")
                keep.sendall(b"still\n")
                assert _recv_until(keep, b"\n") == b"STILL\n"
        for protocol in made:
            assert protocol.lost.wait(10)
    finally:
        server.stop()
        thread.join(10)


@pytest.mark.parametrize("server_class", SERVERS)
def test_large_replies_to_a_slow_reader(server_class: Callable[..., BaseServer]) -> None:
    """Replies larger than the socket takes at once arrive whole and in
    order, while another connection is served."""
    made: List[DeferringProtocol] = []
    server, thread, port = _start(server_class, made)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as other:
            slow.sendall(b"big 4000000\nbig 3000000\nend\n")
            other.sendall(b"hello\n")
            assert _recv_until(other, b"\n") == b"HELLO\n"
            data = _recv_until(slow, b"END\n")
            assert data == b"x" * 4000000 + b"\n" + b"x" * 3000000 + b"\nEND\n"
    finally:
        server.stop()
        thread.join(10)


def test_loop_server_idle_timeout_and_stop() -> None:
    made: List[DeferringProtocol] = []
    server, thread, port = _start(LoopServer, made, timeout=1.0)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        idle.sendall(b"x\n")
        assert _recv_until(idle, b"X\n") == b"X\n"
        assert idle.recv(10) == b""  # closed once idle
    assert made[0].lost.wait(10)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"y\n")
        assert _recv_until(sock, b"Y\n") == b"Y\n"
        server.stop()
        thread.join(10)
        assert not thread.is_alive()
        assert sock.recv(10) == b""  # stop() closes the connections
    assert made[1].lost.wait(10)


# -- read sizes ------------------------------------------------------------------


def _ladder() -> List[int]:
    sizes = [RECV_SIZE]
    while sizes[-1] < RECV_MAX:
        sizes.append(min(sizes[-1] * 4, RECV_MAX))
    return sizes


@given(st.sampled_from(_ladder()), st.data())
def test_recv_size_after(size: int, data: st.DataObject) -> None:
    """A full read grows the next one fourfold (to RECV_MAX); after a short
    one, the next size is the first ladder step above the burst, so the
    same burst would have come in one read."""
    got = data.draw(st.integers(1, size), label="got")
    burst = got + data.draw(st.integers(0, 4 * RECV_MAX), label="full reads before")
    after = recv_size_after(size, got, burst)
    assert after in _ladder()
    if got == size:
        assert after == min(size * 4, RECV_MAX)
    elif burst < RECV_MAX:
        assert after > burst
        assert after == RECV_SIZE or after // 4 <= burst
    else:
        assert after == RECV_MAX


class SizesProtocol(Protocol):
    """Requests are ``<size>:<size bytes>``, answered ``ok <size>\\n``;
    records how many new bytes each ``process`` call saw (one call per
    read, for both servers)."""

    def __init__(self, peer: str) -> None:
        super().__init__(peer)
        self.seen: List[int] = []
        self._had = 0

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        self.seen.append(len(buf) - self._had)
        out: List[bytes] = []
        while True:
            data = buf.unread()
            colon = data.find(b":")
            if colon < 0:
                break
            size = int(data[:colon])
            if len(data) < colon + 1 + size:
                break
            body = buf.take(colon + 1 + size)[colon + 1:]
            assert body == bytes([size % 251]) * size
            out.append(b"ok %d\n" % size)
        self._had = len(buf)
        return out, False


@pytest.mark.parametrize("server_class", SERVERS)
def test_reads_follow_the_request_sizes(server_class: Callable[..., BaseServer]) -> None:
    """Small requests come in one read; a big one arrives through growing
    reads, whole; a series of requests of a few KiB settles on reading each
    in one call; small requests after a big one are read small again (and
    every request is answered, in order)."""
    made: List[SizesProtocol] = []
    server, thread, port = _serve(server_class, made, SizesProtocol)

    def ask(sock: socket.socket, size: int) -> None:
        sock.sendall(b"%d:" % size + bytes([size % 251]) * size)
        assert _recv_until(sock, b"\n") == b"ok %d\n" % size

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            ask(sock, 20)
            session = made[0]
            assert session.seen == [23]
            ask(sock, 3 << 20)
            assert sum(session.seen[1:]) == len(b"%d:" % (3 << 20)) + (3 << 20)
            del session.seen[:]
            for _ in range(6):
                ask(sock, 3000)
            # after the first ones, each 3 KiB request is one read
            assert session.seen[-3:] == [3005, 3005, 3005]
            del session.seen[:]
            for _ in range(3):
                ask(sock, 30)
            assert session.seen == [33, 33, 33]
            assert server_class is ThreadedServer or all(
                conn.size == RECV_SIZE for conn in server._conns.values())  # type: ignore[attr-defined]
    finally:
        server.stop()
        thread.join(10)
