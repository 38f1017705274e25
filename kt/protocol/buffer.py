"""Receive buffer shared by every parser in kt.protocol.

Who calls it: the connection code (client side) and the built-in servers
feed it whatever the socket returned; the parsers in kt_binary, http
(through kt_http) and tt_binary read complete fields from it.

How it works: unread bytes live in one contiguous ``bytes`` object
(``data``, starting at ``pos``) plus a list of chunks not yet joined to it.
A parser calls ``ensure(n)`` before reading ``n`` bytes; the chunks are
joined only when enough bytes have arrived, so a 10 MB value that trickles
in through 64 KiB reads is joined once, not once per read.  Parsers of
multi-record messages consume each record as soon as it is complete, which
keeps the joined part small and the total work linear.

Length fields are never used to pre-allocate: a lying length makes a parser
wait for bytes that never come (and the caller's timeout fires), unless it
exceeds ``limit``, which raises ProtocolError at once.

Also here, as the layer every codec with record classes sits on:
FieldsRecord, the base of the parsed messages (http's HttpRequest and
HttpResponse, kt_binary's BulkRecords, BinaryRequest and ReplicationMessage,
tt_binary's TTRequest): equality by a tuple of fields; and Pieces, a bulk
request sent in pieces while it is encoded.
"""

from __future__ import annotations

from typing import Final, Iterator, List, Tuple, Union, final

from kt.errors import ProtocolError

#: Default upper bound of one field or message, in bytes (1 GiB).
DEFAULT_LIMIT: Final = 1 << 30


@final
class ReceiveBuffer:
    """Bytes received and not yet parsed."""

    data: bytes
    pos: int
    limit: int
    _chunks: List[bytes]
    _pending: int

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.data = b""
        self.pos = 0
        self.limit = limit
        self._chunks = []
        self._pending = 0

    def feed(self, chunk: bytes) -> None:
        """Append received bytes."""
        if not chunk:
            return
        if self.pos >= len(self.data) and not self._chunks:
            self.data = chunk
            self.pos = 0
        else:
            self._chunks.append(chunk)
            self._pending += len(chunk)

    def __len__(self) -> int:
        return len(self.data) - self.pos + self._pending

    def ensure(self, n: int) -> bool:
        """Make at least ``n`` unread bytes contiguous in ``data[pos:]``.

        Returns False (and changes nothing) while fewer than ``n`` bytes have
        arrived.  Raises ProtocolError when ``n`` exceeds ``limit``.
        """
        have = len(self.data) - self.pos
        if have >= n:
            return True
        if n > self.limit:
            raise ProtocolError(
                "message field of %d bytes exceeds the limit of %d bytes"
                % (n, self.limit)
            )
        if have + self._pending < n:
            return False
        parts = self._chunks
        if have:
            parts.insert(0, self.data[self.pos:])
        self.data = b"".join(parts)
        self.pos = 0
        self._chunks = []
        self._pending = 0
        return True

    def take(self, n: int) -> bytes:
        """Return the next ``n`` bytes and consume them (``ensure`` first)."""
        pos = self.pos
        end = pos + n
        self.pos = end
        return self.data[pos:end]

    def skip(self, n: int) -> None:
        """Consume ``n`` bytes (``ensure`` first)."""
        self.pos += n

    def unread(self) -> bytes:
        """Everything received and not consumed (does not consume it)."""
        self.ensure(len(self))
        return self.data[self.pos:]

    def clear(self) -> None:
        """Drop everything (used when a connection is discarded)."""
        self.data = b""
        self.pos = 0
        self._chunks = []
        self._pending = 0


class FieldsRecord:
    """A record that equals another of its exact class with equal fields.

    Subclasses give ``_fields()``, the values that make up the record, and
    may list their names in ``_field_names()`` for the keyword repr.
    """

    def _fields(self) -> Tuple[object, ...]:
        raise NotImplementedError

    def _field_names(self) -> Tuple[str, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, FieldsRecord):
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        """``Name(field=value, ...)`` over ``_field_names()``."""
        parts: List[str] = []
        for name, value in zip(self._field_names(), self._fields()):
            parts.append("%s=%r" % (name, value))
        return "%s(%s)" % (type(self).__name__, ", ".join(parts))


#: Records per piece of a bulk request sent as Pieces (the first piece has
#: a quarter of that, so that the server starts reading sooner).  Requests
#: of at most this many records go as one ``bytes``.
PIECE_RECORDS: Final = 256


class Pieces:
    """A bulk request of many records, encoded piece by piece as it is sent.

    Encoding a thousand records before sending any of them keeps the server
    waiting for as long as the encoding takes.  Sent in pieces, each piece
    encoded after the previous one went out, the encoding overlaps with the
    server reading (Tokyo Tyrant) or already storing (Kyoto Tycoon) the
    records sent so far.

    ``keys`` and ``values`` (empty for requests of keys only) are the
    records' fields, already checked and converted to bytes when the Pieces
    is made: producing the pieces raises nothing, so bad input never cuts a
    request short on the wire.  ``head`` is the request's header, sent with
    the first piece.  Subclasses (one per wire format) give ``_encode``.
    """

    head: bytes
    keys: List[bytes]
    values: List[bytes]
    per_piece: int

    def __init__(self, head: bytes, keys: List[bytes], values: List[bytes],
                 per_piece: int = PIECE_RECORDS) -> None:
        self.head = head
        self.keys = keys
        self.values = values
        self.per_piece = max(1, per_piece)

    def pieces(self) -> Iterator[bytes]:
        """The request's bytes, piece by piece (each call starts over)."""
        count = len(self.keys)
        parts: List[bytes] = [self.head]
        start = 0
        end = min(max(1, self.per_piece // 4), count)
        while True:
            self._encode(parts, start, end)
            yield b"".join(parts)
            if end >= count:
                return
            parts = []
            start = end
            end = min(start + self.per_piece, count)

    def join(self) -> bytes:
        """The whole request as one ``bytes``."""
        return b"".join(self.pieces())

    def _encode(self, parts: List[bytes], start: int, end: int) -> None:
        """Append the wire form of records ``start`` to ``end`` to ``parts``."""
        raise NotImplementedError


#: What a client sends for one request: its bytes, or a Pieces.
Payload = Union[bytes, Pieces]
