"""One raw socket to a server: send bytes, parse the reply with a kt.protocol
parser.  Used by the fuzzer's KT and TT executors."""

from __future__ import annotations

import socket
from typing import Callable, Optional, TypeVar

from kt.protocol.buffer import ReceiveBuffer

T = TypeVar("T")


class Closed(Exception):
    """The server closed the connection (or it timed out)."""


class Wire:
    def __init__(self, host: str, port: int, timeout: float = 20.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock: Optional[socket.socket] = None
        self.buf = ReceiveBuffer()

    def connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = ReceiveBuffer()
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, data: bytes) -> None:
        try:
            self.connect().sendall(data)
        except OSError as exc:
            self.close()
            raise Closed(str(exc)) from None

    def read(self, parse: Callable[[ReceiveBuffer], Optional[T]]) -> T:
        sock = self.connect()
        while True:
            result = parse(self.buf)
            if result is not None:
                return result
            try:
                chunk = sock.recv(1 << 16)
            except OSError as exc:
                self.close()
                raise Closed(str(exc)) from None
            if not chunk:
                self.close()
                raise Closed("closed by the server")
            self.buf.feed(chunk)

    def call(self, request: bytes, parse: Callable[[ReceiveBuffer], Optional[T]]) -> T:
        self.send(request)
        return self.read(parse)
