"""The raw connection under the contract suite's wire clients.

Who uses it: kt_wire.KTWire (Kyoto Tycoon) and tt_wire.TTWire (Tokyo
Tyrant) subclass ``Wire``: one socket, one receive buffer, ``call`` sends a
request and runs a kt.protocol parser until it returns the reply.
"""

from __future__ import annotations

import socket
from typing import Callable, Optional, TypeVar

from kt.protocol.buffer import ReceiveBuffer

T = TypeVar("T")
W = TypeVar("W", bound="Wire")


class Wire:
    """One connection; each request waits for its reply."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = ReceiveBuffer()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self: W) -> W:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, request: bytes, parse: Callable[[ReceiveBuffer], Optional[T]]) -> T:
        self.sock.sendall(request)
        return self.read(parse)

    def read(self, parse: Callable[[ReceiveBuffer], Optional[T]]) -> T:
        """Run ``parse`` over what arrives until it returns a reply."""
        while True:
            result = parse(self.buf)
            if result is not None:
                return result
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf.feed(chunk)
