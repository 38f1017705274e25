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
tt_binary's TTRequest): equality by a tuple of fields.
"""

from __future__ import annotations

from typing import Final, List, Tuple, final

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
