"""kt.connection with a scripted socket module (``socket_module``): bulk
requests go out piece by piece, a send that fails discards the connection,
a reused connection reset while sending is retried for an idempotent
request only, and connections idle too long are dropped at checkout."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, List, Optional

import pytest

import kt.connection as kc
from kt.errors import ServerConnectionError
from kt.protocol import kt_binary as kb
from kt.protocol.buffer import Pieces

COUNT_REPLY = b"\xb8\x00\x00\x00\x03"  # set_bulk: 3 records stored


class FakeSocket:
    """Records what is sent; ``fail_on`` makes that sendall call (1-based)
    raise ``error``; every recv returns the next of ``replies``."""

    def __init__(self, replies: List[bytes], fail_on: int = 0,
                 error: Optional[OSError] = None) -> None:
        self.sent: List[bytes] = []
        self.replies = replies
        self.fail_on = fail_on
        self.error = error
        self.closed = False

    def sendall(self, data: bytes) -> None:
        if len(self.sent) + 1 == self.fail_on:
            assert self.error is not None
            raise self.error
        self.sent.append(bytes(data))

    def recv(self, size: int) -> bytes:
        return self.replies.pop(0) if self.replies else b""

    def setsockopt(self, *args: Any) -> None:
        pass

    def settimeout(self, timeout: Optional[float]) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeSocketModule:
    """A socket module whose create_connection hands out ``sockets`` in turn."""

    def __init__(self, sockets: List[FakeSocket]) -> None:
        self.sockets = sockets
        self.made: List[FakeSocket] = []

    def create_connection(self, address: Any, timeout: Any = None) -> FakeSocket:
        sock = self.sockets.pop(0)
        self.made.append(sock)
        return sock


def pool_of(*sockets: FakeSocket, max_idle_time: Optional[float] = 20.0
            ) -> "tuple[kc.ConnectionPool, FakeSocketModule]":
    module = FakeSocketModule(list(sockets))
    pool = kc.ConnectionPool("127.0.0.1", 1978, max_idle_time=max_idle_time,
                             socket_module=module)  # type: ignore[arg-type]
    return pool, module


def big_set_bulk() -> Pieces:
    payload = kb.set_bulk_payload({b"k%03d" % i: b"v" for i in range(3)}, False, piece=1)
    assert isinstance(payload, Pieces)
    return payload


def test_pieces_go_out_one_send_each() -> None:
    sock = FakeSocket([COUNT_REPLY])
    pool, _ = pool_of(sock)
    payload = big_set_bulk()
    assert pool.execute(payload, kb.parse_set_bulk_reply) == 3
    assert sock.sent == list(payload.pieces())
    assert len(sock.sent) == 3
    assert pool.idle_count == 1


def test_a_send_failing_midway_discards_the_connection() -> None:
    sock = FakeSocket([COUNT_REPLY], fail_on=2, error=OSError(5, "Input/output error"))
    pool, _ = pool_of(sock)
    with pytest.raises(ServerConnectionError, match="lost: Input/output error"):
        pool.execute(big_set_bulk(), kb.parse_set_bulk_reply, idempotent=True)
    assert sock.closed
    assert pool.idle_count == 0 and pool.in_use_count == 0


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_reused_connection_reset_while_sending(idempotent: bool) -> None:
    stale = FakeSocket([COUNT_REPLY], fail_on=3, error=BrokenPipeError(32, "Broken pipe"))
    fresh = FakeSocket([COUNT_REPLY])
    pool, module = pool_of(stale, fresh)
    assert pool.execute(kb.encode_set(b"k", b"v"), kb.parse_set_bulk_reply) == 3  # now reused
    if idempotent:
        assert pool.execute(big_set_bulk(), kb.parse_set_bulk_reply, idempotent=True) == 3
        assert fresh.sent == list(big_set_bulk().pieces())  # sent again, whole
    else:
        with pytest.raises(ServerConnectionError, match="reset before the reply"):
            pool.execute(big_set_bulk(), kb.parse_set_bulk_reply)
        assert module.made == [stale]
    assert stale.closed


@pytest.mark.parametrize("max_idle_time, reconnects", [(3600.0, False), (0.0, True), (None, False)])
def test_idle_connections_are_dropped_at_checkout(max_idle_time: Optional[float],
                                                  reconnects: bool) -> None:
    first = FakeSocket([COUNT_REPLY, COUNT_REPLY])
    second = FakeSocket([COUNT_REPLY])
    pool, module = pool_of(first, second, max_idle_time=max_idle_time)
    request = kb.encode_set(b"k", b"v")
    pool.execute(request, kb.parse_set_bulk_reply)
    time.sleep(0.01)  # idle for longer than 0 seconds
    pool.execute(request, kb.parse_set_bulk_reply)
    assert module.made == ([first, second] if reconnects else [first])
    assert first.closed == reconnects


def test_without_a_socket_module_the_socket_module_connects() -> None:
    pool = kc.ConnectionPool("127.0.0.1", 1)
    with pytest.raises(ServerConnectionError, match="cannot connect to 127.0.0.1:1"):
        pool.execute(b"x", kb.parse_set_bulk_reply)
    assert pool.in_use_count == 0


class SharedCheck(FakeSocket):
    """Answers every request; notes a socket used by two threads at once,
    or used after it was closed."""

    violations: List[str] = []

    def __init__(self) -> None:
        super().__init__([])
        self.busy = False

    def sendall(self, data: bytes) -> None:
        if self.busy or self.closed:
            SharedCheck.violations.append("shared" if self.busy else "used after close")
        self.busy = True

    def recv(self, size: int) -> bytes:
        self.busy = False
        return COUNT_REPLY


class EndlessSockets:
    def __init__(self) -> None:
        self.made: List[SharedCheck] = []

    def create_connection(self, address: Any, timeout: Any = None) -> SharedCheck:
        sock = SharedCheck()
        self.made.append(sock)
        return sock


@pytest.mark.parametrize("max_connections", [None, 3])
def test_threads_share_a_pool_while_it_is_closed(max_connections: Optional[int]) -> None:
    module = EndlessSockets()
    pool = kc.ConnectionPool("127.0.0.1", 1978, max_connections=max_connections,
                             socket_module=module)  # type: ignore[arg-type]
    request = kb.encode_set(b"k", b"v")
    SharedCheck.violations = []
    stop = threading.Event()

    def work() -> None:
        for _ in range(3000):
            assert pool.execute(request, kb.parse_set_bulk_reply) == 3

    def close() -> None:
        while not stop.is_set():
            pool.close_all()
            pool.close_idle(0.0)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the threads as much as possible
    try:
        closer = threading.Thread(target=close)
        closer.start()
        workers = [threading.Thread(target=work) for _ in range(6)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        stop.set()
        closer.join()
    finally:
        sys.setswitchinterval(interval)
    assert SharedCheck.violations == []
    assert pool.in_use_count == 0
    assert pool.idle_count == len([s for s in module.made if not s.closed])
    if max_connections is not None:
        assert pool.idle_count <= max_connections
