"""The update log of the built-in Kyoto Tycoon server (``-ulog DIR``): every
change of every database, time stamped, in ktserver's file format.

Who calls it: kt.server.kyoto.cli opens the log (``UpdateLog``) and gives
each database a ``DatabaseLogger`` (kt.server.kyoto.storage calls it on
the same write path as the journal, with the database locked, before the
reply leaves); kt.server.kyoto.replication reads it (``UpdateLog.reader``)
to serve 0xB1 streams; kt.server.kyoto.engine answers ulog_list and
ulog_remove from it.

Files, messages and time stamps are ktserver's (kt.protocol.kt_repl), so
ktserver can read a directory this server wrote and the other way round.
Records are appended with ``os.write`` as they happen (no cache), and the
file header (size, largest time stamp) is rewritten after each, so a
reader of the directory never sees a header ahead of the records.
``-uasi SEC`` fsyncs the current file every SEC seconds; ``-ulim SIZE``
starts a new file once the current one reached SIZE bytes.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final, List, Optional, Tuple

from kt.protocol import kt_repl as kr

__all__ = ["UpdateLog", "DatabaseLogger", "LogReader", "DEFAULT_LIMIT"]

#: ktserver's default -ulim: 256 MiB per file.
DEFAULT_LIMIT: Final = 256 << 20

_READ_CHUNK: Final = 1 << 20


class UpdateLog:
    """An open update log directory (thread safe)."""

    def __init__(self, directory: str, limit: int = DEFAULT_LIMIT, sync_interval: float = 0.0) -> None:
        """Open (creating it if needed) the log in ``directory``.

        Raises OSError when it cannot be created or its newest file is not
        an update log file."""
        self.directory = os.path.abspath(directory)
        self.limit = limit if limit > 0 else (1 << 62)
        self.sync_interval = sync_interval
        os.makedirs(self.directory, exist_ok=True)
        ids = self.file_ids()
        self.file_id = ids[-1] if ids else 1
        self._lock = threading.Condition(threading.Lock())
        self.writes = 0  # bumped by every write: readers wait on it
        self.last_ts = 0
        self._fd = -1
        self._size = 0
        self._open_current()
        self._last_sync = time.monotonic()

    def file_ids(self) -> List[int]:
        """The numbers of the log files, in order."""
        ids = [kr.ulog_file_id(name) for name in os.listdir(self.directory)]
        return sorted(i for i in ids if i > 0)

    def path(self, file_id: int) -> str:
        return os.path.join(self.directory, kr.ulog_file_name(file_id))

    def _open_current(self) -> None:
        path = self.path(self.file_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        size = os.fstat(fd).st_size
        if size == 0:
            os.pwrite(fd, kr.encode_file_header(0, self.last_ts), 0)
            size = kr.FILE_HEADER_SIZE
        else:
            header = kr.decode_file_header(os.pread(fd, kr.FILE_HEADER_SIZE, 0))
            if header is None or header[0] > size:
                os.close(fd)
                raise OSError("%s: not an update log file" % path)
            if size > header[0]:  # records after the header's size: torn
                os.ftruncate(fd, header[0])
                size = header[0]
            # ktserver restarts its clock after the file's last time stamp
            if header[1] > self.last_ts:
                self.last_ts = header[1]
        os.lseek(fd, size, os.SEEK_SET)  # os.write appends from here
        self._fd = fd
        self._size = size

    def write(self, message: bytes) -> int:
        """Append one message; returns its time stamp."""
        with self._lock:
            ts = kr.clock_ts(time.time(), self.last_ts)
            self.last_ts = ts
            if self._size >= self.limit:
                self._rotate()
            record = kr.encode_file_record(ts, message)
            fd = self._fd
            os.write(fd, record)
            self._size += len(record)
            os.pwrite(fd, kr.encode_file_header(self._size, ts), 0)
            self.writes += 1
            self._lock.notify_all()
            return ts

    def _rotate(self) -> None:
        if self.sync_interval > 0:
            os.fsync(self._fd)
        os.close(self._fd)
        self.file_id += 1
        fd = os.open(self.path(self.file_id), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.pwrite(fd, kr.encode_file_header(0, self.last_ts), 0)
        os.lseek(fd, kr.FILE_HEADER_SIZE, os.SEEK_SET)
        self._fd = fd
        self._size = kr.FILE_HEADER_SIZE

    def wait(self, writes: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for a write after the ``writes``-th;
        returns the count of writes now."""
        with self._lock:
            if self.writes == writes:
                self._lock.wait(timeout)
            return self.writes

    def clock(self) -> int:
        """The time stamp a message written now would get, at least."""
        return max(kr.clock_ts(time.time(), 0), self.last_ts)

    def tick(self) -> None:
        """Called every second: fsync the current file every -uasi seconds."""
        if self.sync_interval <= 0 or time.monotonic() - self._last_sync < self.sync_interval:
            return
        with self._lock:
            os.fsync(self._fd)
        self._last_sync = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                if self.sync_interval > 0:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1

    def list_files(self) -> List[Tuple[str, int, int]]:
        """(path, size, largest time stamp) of every log file (ulog_list)."""
        out: List[Tuple[str, int, int]] = []
        for file_id in self.file_ids():
            path = self.path(file_id)
            try:
                with open(path, "rb") as f:
                    header = kr.decode_file_header(f.read(kr.FILE_HEADER_SIZE))
            except OSError:
                continue
            if header is not None:
                out.append((path, header[0], header[1]))
        return out

    def remove_files(self, ts: int) -> List[str]:
        """Remove the files (all but the current one) whose messages are
        all at or before ``ts`` (ulog_remove); returns the paths that
        could not be removed."""
        failed: List[str] = []
        for path, _, file_ts in self.list_files()[:-1]:
            if file_ts <= ts:
                try:
                    os.remove(path)
                except OSError:
                    failed.append(path)
        return failed

    def reader(self, since: int) -> "LogReader":
        """A reader of the messages stamped after ``since``."""
        return LogReader(self, since)


class LogReader:
    """Reads an update log directory from a time stamp on, following the
    files as they grow and as new ones appear."""

    def __init__(self, ulog: UpdateLog, since: int) -> None:
        self.ulog = ulog
        self.since = since
        self.file_id = 0
        self.offset = 0
        for path, _, file_ts in ulog.list_files():
            if file_ts > since:
                self.file_id = kr.ulog_file_id(os.path.basename(path))
                break
        if self.file_id == 0:
            self.file_id = ulog.file_id
        self.offset = kr.FILE_HEADER_SIZE

    def read(self) -> List[Tuple[int, bytes]]:
        """The next messages (ts, message) after ``since``; empty when none
        have been written yet."""
        out: List[Tuple[int, bytes]] = []
        want = _READ_CHUNK
        while not out:
            try:
                with open(self.ulog.path(self.file_id), "rb") as f:
                    f.seek(self.offset)
                    data = f.read(want)
            except OSError:  # removed by ulog_remove
                if self._next_file():
                    continue
                return out
            records: List[Tuple[int, bytes]] = []
            self.offset += kr.decode_file_records(data, 0, records)
            if not records:
                if len(data) == want:  # one record larger than the chunk
                    want *= 4
                    continue
                if not self._next_file():
                    return out
                continue
            since = self.since
            for ts, message in records:
                if ts > since:
                    out.append((ts, message))
        self.since = out[-1][0]
        return out

    def _next_file(self) -> bool:
        """Move to the next file once a later one exists."""
        later = [i for i in self.ulog.file_ids() if i > self.file_id]
        if not later:
            return False
        self.file_id = later[0]
        self.offset = kr.FILE_HEADER_SIZE
        return True


class DatabaseLogger:
    """What a database calls on each change (kt.server.kyoto.storage): the
    change as a message of server ``sid`` and database ``dbidx``.  A slave
    applying a master's change sets ``origin`` (with the database locked)
    so that the change keeps the id of the server that made it."""

    def __init__(self, ulog: UpdateLog, sid: int, dbidx: int) -> None:
        self.ulog = ulog
        self.sid = sid
        self.dbidx = dbidx
        self.origin = -1

    def _write(self, record: bytes) -> None:
        sid = self.origin if self.origin >= 0 else self.sid
        self.ulog.write(kr.encode_message(sid, self.dbidx, record))

    def log_set(self, key: bytes, value: bytes, xt: int) -> None:
        self._write(kr.encode_record(kr.OP_SET, key, value, xt))

    def log_remove(self, key: bytes) -> None:
        self._write(kr.encode_record(kr.OP_REMOVE, key, b"", 0))

    def log_clear(self) -> None:
        self._write(kr.encode_record(kr.OP_CLEAR, b"", b"", 0))
