"""Helpers that feed bytes to sans-I/O parsers in different ways.

A *parse function* takes a ReceiveBuffer and returns a result or None while
more bytes are needed.  Stateful parsers are wrapped by the caller as
``parser.parse`` (a fresh parser per feeding).
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

import pytest

from kt.errors import ProtocolError
from kt.protocol.buffer import ReceiveBuffer

T = TypeVar("T")
ParseFn = Callable[[ReceiveBuffer], Optional[T]]


def feed_pieces(parse: ParseFn[T], pieces: Sequence[bytes]) -> Tuple[Optional[T], bytes]:
    """Feed ``pieces`` one at a time, calling ``parse`` after each.

    Returns the first result and what is left unread in the buffer (the
    pieces after the one that completed the message are fed too, so that
    trailing data is checked as well).
    """
    buf = ReceiveBuffer()
    result: Optional[T] = None
    done = False
    for piece in pieces:
        buf.feed(piece)
        if not done:
            result = parse(buf)
            done = result is not None
    return result, buf.unread()


def feed_all(parse: ParseFn[T], pieces: Sequence[bytes]) -> Tuple[List[T], bytes]:
    """Feed ``pieces`` one at a time and, after each, take every message
    complete by then.  Returns the messages in order and what is left
    unread (one parser reading message after message)."""
    buf = ReceiveBuffer()
    results: List[T] = []
    for piece in pieces:
        buf.feed(piece)
        while True:
            result = parse(buf)
            if result is None:
                break
            results.append(result)
    return results, buf.unread()


def split_at(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    """Cut ``data`` at the given offsets (clamped, sorted, deduplicated)."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    pieces: List[bytes] = []
    prev = 0
    for p in points:
        pieces.append(data[prev:p])
        prev = p
    pieces.append(data[prev:])
    return pieces


def one_byte_pieces(data: bytes) -> List[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


def check_feedings(make: Callable[[], ParseFn[object]], data: bytes, cut: Sequence[int],
                   trailer: bytes) -> object:
    """Whole, byte by byte and at random cuts give one result; ``trailer``
    (the start of the next message) stays in the buffer.  ``make`` gives a
    fresh parse function per feeding."""
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


def assert_rejected(parse: ParseFn[object], data: bytes) -> None:
    """``parse`` raises ProtocolError on ``data``."""
    buf = ReceiveBuffer()
    buf.feed(data)
    with pytest.raises(ProtocolError):
        parse(buf)
