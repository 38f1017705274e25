"""The snapshot file format family of both built-in servers: a file
database written whole, atomically, with a checksum.

Who calls it: kt.server.kyoto.storage (``save_records``/``load_records``)
and kt.server.tyrant.storage / kt.server.tyrant.table (``save``/``load`` of
every database kind).  Each server defines its own magic and body; this
module owns the frame around it and every error reading it.

Frame: an 8-byte magic, the body (its layout is the caller's, all integers
big-endian), then ``b"END\\n"`` and the CRC-32 (u32) of every byte before
it.  A file is written to ``NAME.tmp`` and renamed over ``NAME`` (``hard``:
fsync of the file and its directory first).  Reading checks the magic, the
trailer and the checksum before the body is parsed; every problem is a
``SnapshotError`` that names the file and the byte offset.
"""

from __future__ import annotations

import binascii
import os
import struct
from typing import BinaryIO, Final, List, Optional

__all__ = ["SnapshotError", "SnapshotReader", "SnapshotWriter", "MAGIC_SIZE"]

MAGIC_SIZE: Final = 8
_TAG: Final = b"END\n"
_TRAILER: Final = struct.Struct(">4sI")  # b"END\n", crc32 of everything before
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_FLUSH_AT: Final = 1 << 20


class SnapshotError(Exception):
    """A snapshot file that cannot be read: not ours, truncated, damaged."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__("%s: at byte offset %d: %s" % (path, offset, reason))
        self.path = path
        self.offset = offset
        self.reason = reason


class SnapshotWriter:
    """Writes one snapshot file: ``write`` the body, then ``commit``.

    The body is buffered in chunks of about a megabyte; ``commit`` adds the
    trailer and renames the temporary file into place; ``abort`` removes it.
    """

    def __init__(self, path: str, magic: bytes, hard: bool) -> None:
        if len(magic) != MAGIC_SIZE:
            raise ValueError("a snapshot magic has %d bytes" % MAGIC_SIZE)
        self.path = path
        self.tmp = path + ".tmp"
        self.hard = hard
        self.size = 0
        self._crc = 0
        self._chunk: List[bytes] = []
        self._pending = 0
        self._file: Optional[BinaryIO] = open(self.tmp, "wb")
        self.write(magic)

    def write(self, data: bytes) -> None:
        self._chunk.append(data)
        self._pending += len(data)
        if self._pending >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if not self._chunk or self._file is None:
            return
        data = b"".join(self._chunk)
        self._file.write(data)
        self._crc = binascii.crc32(data, self._crc)
        self.size += len(data)
        self._chunk = []
        self._pending = 0

    def commit(self) -> int:
        """Finish the file and rename it into place; returns its size."""
        self._flush()
        f = self._file
        if f is None:
            raise ValueError("the snapshot is already finished")
        tail = _TRAILER.pack(_TAG, self._crc & 0xFFFFFFFF)
        f.write(tail)
        self.size += len(tail)
        f.flush()
        if self.hard:
            os.fsync(f.fileno())
        f.close()
        self._file = None
        os.replace(self.tmp, self.path)
        if self.hard:
            _fsync_directory(self.path)
        return self.size

    def abort(self) -> None:
        """Give up: close and remove the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def _fsync_directory(path: str) -> None:
    try:
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


class SnapshotReader:
    """Reads the body of a snapshot file whose frame checked out.

    ``what`` names the kind of file in the error for a wrong magic.
    Reading past the body raises SnapshotError at the offset concerned.
    ``body`` reads those bytes instead of the file, without a frame (a
    journal record's fields, kt.server.journal).
    """

    def __init__(self, path: str, magic: bytes, what: str, body: Optional[bytes] = None) -> None:
        self.path = path
        if body is not None:
            self.data = body
            self.pos = 0
            self.end = len(body)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.data = data
        if data[:MAGIC_SIZE] != magic:
            raise SnapshotError(path, 0, "not %s (bad magic)" % what)
        end = len(data) - _TRAILER.size
        if end < MAGIC_SIZE:
            raise SnapshotError(path, len(data), "the file is truncated (no trailer)")
        tag: bytes
        crc: int
        tag, crc = _TRAILER.unpack_from(data, end)
        if tag != _TAG:
            raise SnapshotError(path, end, "the file is truncated or damaged (no trailer)")
        if binascii.crc32(data[:end]) & 0xFFFFFFFF != crc:
            raise SnapshotError(path, end, "the file is damaged (checksum mismatch)")
        self.pos = MAGIC_SIZE
        self.end = end

    def fail(self, reason: str) -> SnapshotError:
        """The error for a bad body at the current offset."""
        return SnapshotError(self.path, self.pos, reason)

    def raw(self, n: int) -> bytes:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise self.fail("the body ends before a field of %d byte(s)" % n)
        self.pos = pos + n
        return self.data[pos:pos + n]

    def u8(self) -> int:
        return self.raw(1)[0]

    def u32(self) -> int:
        value: int = _U32.unpack(self.raw(4))[0]
        return value

    def u64(self) -> int:
        value: int = _U64.unpack(self.raw(8))[0]
        return value

    def finish(self) -> None:
        """The body must end exactly here."""
        if self.pos != self.end:
            raise self.fail("%d unexpected bytes after the last record" % (self.end - self.pos))
