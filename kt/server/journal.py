"""The mutation journal of both built-in servers' file databases: what
makes an acknowledged write survive the death of the server process.

Who calls it: kt.server.kyoto.storage (``Database``) and
kt.server.tyrant.storage / kt.server.tyrant.table (every database kind),
which append one record per state change before the request is answered,
replay the journal when the file database is opened and reset it after
writing a snapshot (kt.server.snapshot); and the two cli modules, which
fsync it every second or write the snapshot when the journal has grown.

Design (docs/server-kyoto.md, "Durability"): the database lives in memory
and in its snapshot file; every change after the snapshot is appended to
``NAME.journal`` with ``os.write`` while the database is locked, so it is
in the operating system's page cache (and survives the process) before
the reply leaves; ``sync`` mode also fsyncs it (survives power loss).
Records hold resulting *states* ("key now holds this", "key is gone",
"database cleared"), never commands, so replaying a record twice changes
nothing: a snapshot may be written while the journal keeps growing and the
records it already contains replay harmlessly, whatever the moment a crash
interrupts the compaction.

Record frame: payload size u32, CRC-32 of the payload u32 (big-endian),
payload = op u8 then fields, each ``size u32, bytes``.  A record cut short
at the end of the file (a torn last write) is dropped with a warning; a
record that fails its checksum with more data after it is damage:
``SnapshotError`` naming the file and the offset.
"""

from __future__ import annotations

import binascii
import os
import struct
from typing import Final, List, Optional, Tuple

from kt.server.snapshot import SnapshotError, _fsync_directory

__all__ = ["Journal", "Batch", "read_journal", "encode", "OP_SET", "OP_REMOVE", "OP_CLEAR", "OP_META",
           "SYNC_NONE", "SYNC_SECOND", "SYNC_ALWAYS", "MIN_COMPACT_SIZE"]

OP_SET: Final = 1     # key, state (the storage's own encoding)
OP_REMOVE: Final = 2  # key
OP_CLEAR: Final = 3   # (no fields)
OP_META: Final = 4    # the storage's metadata (indexes, uid, widths ...)

#: Journal sync modes: page cache only; fsync every second; fsync per write.
SYNC_NONE: Final = 0
SYNC_SECOND: Final = 1
SYNC_ALWAYS: Final = 2

#: A journal is compacted into the snapshot once it is larger than this and
#: than the snapshot itself.
MIN_COMPACT_SIZE: Final = 16 << 20

_HEAD: Final = struct.Struct(">II")
_U32: Final = struct.Struct(">I")


def encode(op: int, fields: List[bytes]) -> bytes:
    """One framed record."""
    parts: List[bytes] = [b"", bytes((op,))]
    for field in fields:
        parts.append(_U32.pack(len(field)))
        parts.append(field)
    payload = b"".join(parts)
    return _HEAD.pack(len(payload), binascii.crc32(payload) & 0xFFFFFFFF) + payload


class Journal:
    """An open journal file, appended to by the database that owns it
    (which serialises the calls)."""

    path: str
    mode: int
    size: int
    unsynced: bool
    _fd: int
    _batch: Optional[List[bytes]]

    def __init__(self, path: str, mode: int) -> None:
        self.path = path
        self.mode = mode
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self._fd).st_size
        self.unsynced = False
        self._batch = None

    def begin(self) -> None:
        """Hold the records of a bulk operation until ``end`` writes them
        at once (one write, one fsync)."""
        if self._batch is None:
            self._batch = []

    def end(self) -> None:
        batch = self._batch
        self._batch = None
        if batch:
            self.append(b"".join(batch))

    def append(self, record: bytes) -> None:
        """Write ``record`` (from ``encode``) to the file; fsync in SYNC_ALWAYS."""
        batch = self._batch
        if batch is not None:
            batch.append(record)
            return
        done = os.write(self._fd, record)
        if done < len(record):  # rare: the rest, piece by piece
            view = memoryview(record)[done:]
            while view:
                view = view[os.write(self._fd, view):]
        self.size += len(record)
        if self.mode == SYNC_ALWAYS:
            os.fsync(self._fd)
        else:
            self.unsynced = True

    def sync(self) -> None:
        """fsync what was appended (the SYNC_SECOND timer, and shutdown)."""
        if self.unsynced:
            self.unsynced = False
            os.fsync(self._fd)

    def mark(self) -> int:
        """The current end: pass it to ``drop_before`` once a snapshot of
        the state at this moment is safely written."""
        return self.size

    def drop_before(self, offset: int) -> None:
        """Forget the records before ``offset`` (they are in the snapshot):
        the rest is copied to a new file renamed over this one."""
        os.fsync(self._fd)
        tail = b""
        if self.size > offset:
            with open(self.path, "rb") as f:
                f.seek(offset)
                tail = f.read()
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if tail:
                os.write(fd, tail)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        os.replace(tmp, self.path)
        _fsync_directory(self.path)
        os.close(self._fd)
        self._fd = fd
        os.lseek(fd, 0, os.SEEK_END)
        self.size = len(tail)
        self.unsynced = False

    def due(self, snapshot_size: int) -> bool:
        """Whether the journal has grown enough to be compacted."""
        return self.size > MIN_COMPACT_SIZE and self.size > snapshot_size

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


class Batch:
    """``with Batch(journal):`` around a bulk operation: its records go
    out in one write (and one fsync) at the end; nothing for None."""

    def __init__(self, journal: Optional[Journal]) -> None:
        self.journal = journal

    def __enter__(self) -> None:
        if self.journal is not None:
            self.journal.begin()

    def __exit__(self, *exc: object) -> None:
        if self.journal is not None:
            self.journal.end()


def read_journal(path: str) -> Tuple[List[Tuple[int, List[bytes]]], Optional[str]]:
    """The records of the journal at ``path`` (none when it does not
    exist), and a warning when its last record was torn (and dropped).
    SnapshotError names the file and offset of a damaged record."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return [], None
    records: List[Tuple[int, List[bytes]]] = []
    pos = 0
    end = len(data)
    while pos < end:
        if pos + _HEAD.size > end:
            return records, _torn(path, pos)
        size, crc = _HEAD.unpack_from(data, pos)
        start = pos + _HEAD.size
        if start + size > end:
            return records, _torn(path, pos)
        payload = data[start:start + size]
        if binascii.crc32(payload) & 0xFFFFFFFF != crc or size == 0:
            if start + size == end:
                return records, _torn(path, pos)
            raise SnapshotError(path, pos, "the journal is damaged (checksum mismatch)")
        records.append(_decode(path, pos, payload))
        pos = start + size
    return records, None


def _torn(path: str, pos: int) -> str:
    return "%s: the last journal record (at byte offset %d) is incomplete: ignored" % (path, pos)


def _decode(path: str, pos: int, payload: bytes) -> Tuple[int, List[bytes]]:
    fields: List[bytes] = []
    i = 1
    end = len(payload)
    while i < end:
        if i + 4 > end:
            raise SnapshotError(path, pos, "a journal record with a cut field")
        (n,) = _U32.unpack_from(payload, i)
        i += 4
        if i + n > end:
            raise SnapshotError(path, pos, "a journal record with a cut field")
        fields.append(payload[i:i + n])
        i += n
    return payload[0], fields
