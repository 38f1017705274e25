"""Replication in the built-in Kyoto Tycoon server: the master's side of a
0xB1 stream, and the slave (``-mhost -mport -rts -riv``).

Who calls it: kt.server.kyoto.engine hands a connection that asked for
0xB1 to ``serve_stream`` (through kt.server.net's takeover hook: the
connection's thread runs it until the peer goes away); kt.server.kyoto.cli
starts a ``Slave`` thread, and the tune_replication procedure (engine)
points it at another master.

Behaviour follows ktserver 1.0.0 (ktserver.cc's do_bin_replication and
Slave): the master answers 0xB1 (0xBF without an update log), sends each
message of its log stamped after the slave's time stamp and not made by
the slave's server id (only those with flag 0x01), an empty message every
256 messages left out, and when caught up ``0xB0`` with the time stamp of
one second ago, which the slave acknowledges.  The slave applies each
message to the database of its index, keeping the id of the server that
made the change in its own update log (so a dual-master pair does not
echo changes back), and writes the last time stamp to the RTS file
(ktserver's format: 20 digits and a newline) after each batch, so a
restarted slave resumes where it stopped.  Like ktserver, a slave still
accepts writes from clients (that is what makes dual masters possible);
only its RTS file and its master differ from a plain server.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Dict, List, Optional, Tuple

from kt.errors import KyotoTycoonError
from kt.protocol import kt_binary as kb
from kt.protocol import kt_repl as kr
from kt.protocol.buffer import ReceiveBuffer
from kt.server.kyoto.storage import Database
from kt.server.kyoto.ulog import UpdateLog
from kt.server.log import Logger

__all__ = ["serve_stream", "Slave", "procedure", "DEFAULT_INTERVAL"]

#: ktserver's default -riv.
DEFAULT_INTERVAL = 0.04

#: Messages left out in a row before an empty one carries the time stamp.
_DUMMY_FREQ = 256
_RTS_SIZE = 21


def serve_stream(ulog: UpdateLog, sock: socket.socket, buf: ReceiveBuffer, since: int, sid: int,
                 flags: int, logger: Logger, peer: str) -> None:
    """Stream the update log to a slave or change-stream client until the
    connection ends."""
    reader = ulog.reader(since)
    sock.sendall(kb.encode_replication_start())
    logger.system("(%s): a slave was connected: ts=%d sid=%d" % (peer, since, sid))
    white = bool(flags & kb.FLAG_WHITE_SID)
    last = 0
    miss = 0
    writes = ulog.writes
    try:
        while True:
            batch = reader.read()
            if batch:
                out: List[bytes] = []
                for ts, message in batch:
                    origin = (message[0] << 8) | message[1] if len(message) >= 2 else -1
                    if (origin == sid) == white:
                        miss = 0
                        out.append(kb.encode_replication_log(ts, message))
                    else:
                        miss += 1
                        if miss >= _DUMMY_FREQ:
                            out.append(kb.encode_replication_log(ts, b""))
                            miss = 0
                    last = max(last, ts)
                if out:
                    sock.sendall(b"".join(out))
                continue
            sock.sendall(kb.encode_replication_nop(max(ulog.clock() - kr.TS_PER_SECOND, last)))
            if not _read_ack(sock, buf):
                return
            writes = ulog.wait(writes, 0.1)
    except OSError:
        pass
    finally:
        logger.system("(%s): a slave was disconnected: sid=%d" % (peer, sid))


def _read_ack(sock: socket.socket, buf: ReceiveBuffer) -> bool:
    """Wait for the byte that acknowledges a heartbeat; False when the
    peer went away or sent something else."""
    while True:
        try:
            if kb.parse_replication_ack(buf):
                return True
        except KyotoTycoonError:
            return False
        chunk = sock.recv(4096)
        if not chunk:
            return False
        buf.feed(chunk)


class Slave(threading.Thread):
    """Replicates a master's update log into this server's databases."""

    def __init__(self, sid: int, rts_path: str, interval: float, dbs: List[Database],
                 logger: Logger, host: str = "", port: int = 1978) -> None:
        super().__init__(name="kyoto-slave", daemon=True)
        self.sid = sid
        self.rts_path = rts_path
        self.rts = 0
        self.interval = interval
        self._lock = threading.Lock()
        self.dbs = dbs
        self.logger = logger
        self.host, self.port = host, port
        self._wanted_ts = -1
        self._stopping = threading.Event()
        self._hup = False
        self._sock: Optional[socket.socket] = None
        self._fd = -1

    # -- control (other threads) ------------------------------------------------

    def set_master(self, host: str, port: int, ts: int, interval: float) -> None:
        """tune_replication: another master (empty host: none), resuming
        from ``ts`` (-1: from where this slave is), another interval (< 0:
        unchanged); the current connection is dropped."""
        with self._lock:
            self.host = host
            self.port = port
            self._wanted_ts = ts
            if interval >= 0:
                self.interval = interval
            self._hup = True
            sock = self._sock
        if sock is not None:
            _shutdown(sock)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            _shutdown(sock)

    def open_rts(self) -> None:
        """Open (create) the RTS file and read the time stamp in it;
        OSError when it cannot be opened."""
        fd = os.open(self.rts_path, os.O_RDWR | os.O_CREAT, 0o644)
        data = os.pread(fd, _RTS_SIZE, 0)
        digits = data[:20].split(b"\n")[0].strip()
        self.rts = int(digits) if digits.isdigit() else 0
        self._fd = fd
        self._write_rts()

    def _write_rts(self) -> None:
        try:
            os.pwrite(self._fd, b"%020d\n" % self.rts, 0)
        except OSError as exc:
            self.logger.system("writing the time stamp failed: %s" % exc)

    # -- the thread ---------------------------------------------------------------

    def run(self) -> None:
        deferred = False
        while not self._stopping.is_set():
            with self._lock:
                host, port = self.host, self.port
                if self._wanted_ts >= 0:
                    self.rts = self._wanted_ts
                    self._wanted_ts = -1
                    self._write_rts()
                self._hup = False
            if host:
                deferred = self._session(host, port, deferred)
            self._stopping.wait(1.0)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _session(self, host: str, port: int, deferred: bool) -> bool:
        """One connection to the master; returns whether it was deferred
        (could not connect)."""
        try:
            sock = socket.create_connection((host, port), 60)
        except OSError:
            if not deferred:
                self.logger.system("replication was deferred: host=%s port=%d" % (host, port))
            return True
        with self._lock:
            self._sock = sock
            hup = self._hup
        if hup or self._stopping.is_set():
            _shutdown(sock)
        self.logger.system("replication started: host=%s port=%d rts=%d" % (host, port, self.rts))
        try:
            self._replicate(sock)
        except (OSError, KyotoTycoonError) as exc:
            self.logger.info("replication ended: %s" % exc)
        finally:
            with self._lock:
                self._sock = None
            sock.close()
            self._write_rts()
            self.logger.system("replication finished: host=%s port=%d" % (host, port))
        return False

    def _replicate(self, sock: socket.socket) -> None:
        stream = kr.ReplicationStream(self.rts, self.sid, 0, False, 0, 0.0, 0.0)
        buf = ReceiveBuffer()
        send: Optional[bytes] = stream.start()
        pause = 0.0
        while not self._stopping.is_set() and not self._hup:
            if send:
                sock.sendall(send)
            send = stream.parse(buf)
            while send is None:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    return
                buf.feed(chunk)
                send = stream.parse(buf)
            entries = stream.take()
            for entry in entries:
                if entry.sid != self.sid and entry.db < len(self.dbs) and entry.op != "unknown":
                    self.dbs[entry.db].apply_change(entry.op, entry.key, entry.value or b"",
                                                    entry.xt, entry.sid)
            if stream.since != self.rts:
                self.rts = stream.since
                self._write_rts()
            # ktserver's throttle: -riv milliseconds per message, slept in
            # steps of 0.1 s
            if entries:
                pause += self.interval * len(entries)
            elif not stream.caught_up:  # an empty message
                pause += self.interval * _DUMMY_FREQ / 4
            while pause > 100 and not self._hup and not self._stopping.is_set():
                time.sleep(0.1)
                pause -= 100

    def report(self) -> List[Tuple[str, str]]:
        """ktserver's repl_* fields of the report procedure (none without a master)."""
        if not self.host:
            return []
        delay = max(kr.clock_ts(time.time(), 0) - self.rts, 0) / float(kr.TS_PER_SECOND)
        return [("repl_master_host", self.host), ("repl_master_port", "%d" % self.port),
                ("repl_timestamp", "%d" % self.rts), ("repl_interval", "%.6f" % self.interval),
                ("repl_delay", "%.6f" % delay)]


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def procedure(name: str, ulog: Optional[UpdateLog], slave: Optional[Slave],
              inmap: Dict[bytes, bytes], outmap: Dict[bytes, bytes]) -> int:
    """The RPC procedures ulog_list, ulog_remove and tune_replication (as
    ktserver answers them); returns the HTTP status."""
    if name == "tune_replication":
        if slave is None:
            outmap[b"ERROR"] = b"the RTS file is not set"
            return 501
        port = _atoi(inmap.get(b"port", b"0"))
        raw_iv = inmap.get(b"iv")
        try:
            interval = float(raw_iv) if raw_iv is not None else -1.0
        except ValueError:
            interval = 0.0
        slave.set_master(inmap.get(b"host", b"").decode("utf-8", "surrogateescape"),
                         port if port >= 1 else 1978, _ts_param(inmap, ulog, -1), interval)
        return 200
    if ulog is None:
        outmap[b"ERROR"] = b"no update log allows no replication"
        return 400
    if name == "ulog_list":
        for path, size, ts in ulog.list_files():
            outmap[path.encode("utf-8", "surrogateescape")] = b"%d:%d" % (size, ts)
        return 200
    failed = ulog.remove_files(_ts_param(inmap, ulog, (1 << 64) - 1))
    if failed:
        outmap[b"ERROR"] = b"removing a file failed: " + failed[0].encode("utf-8", "surrogateescape")
        return 500
    return 200


def _atoi(text: bytes) -> int:
    digits = text.strip()
    end = 1 if digits[:1] in (b"-", b"+") else 0
    while end < len(digits) and 0x30 <= digits[end] <= 0x39:
        end += 1
    try:
        return int(digits[:end])
    except ValueError:
        return 0


def _ts_param(inmap: Dict[bytes, bytes], ulog: Optional[UpdateLog], default: int) -> int:
    """A ``ts`` parameter: a number, "now", or ``default`` when absent."""
    raw = inmap.get(b"ts")
    if raw is None:
        return default
    if raw == b"now":
        return ulog.clock() if ulog is not None else kr.clock_ts(time.time(), 0)
    return max(_atoi(raw), 0)
