"""Kyoto Tycoon's update log: the messages of the replication stream, the
update log files, and the client side of the stream as a state machine.

Who calls it: kt.kyoto's ``replicate`` (the change stream of both clients)
drives ``ReplicationStream``; the built-in server's update log and
replication (kt.server.kyoto.ulog, kt.server.kyoto.replication) encode and
decode messages and log files with the functions here.  Sans-I/O: bytes in,
values out.

Facts (ktserver 1.0.0's ktulog.h, cmdcommon.h's DBUpdateLogger and
kttimeddb.h; integers big-endian):

* A *message* is ``sid u16, dbidx u16, record``: the server that made the
  change first, the database index, then the database's own record:
  ``0xA1 varnum(ksiz) varnum(vsiz) key value`` (set: the record now holds
  this), ``0xA2 varnum(ksiz) key`` (remove), ``0xA5`` (clear).  ``varnum``
  is Kyoto Cabinet's: big-endian groups of 7 bits, the high bit set on all
  but the last byte.  On a timed database (the default; not ``ktopts=p``)
  a set's value starts with the absolute expiration time in 5 bytes,
  ``XT_MAX`` (2**40 - 1) meaning never.
* A *time stamp* is milliseconds since the epoch times 1,000,000 plus a
  counter of messages within the same millisecond.
* An update log directory holds files ``%010d.ulog``; each starts with
  ``0xA0, file size u64, largest time stamp u64`` and holds records
  ``0xA1, ts u64, size u32, message, 0xA2``.
* The stream (kt.protocol.kt_binary frames it): the client sends 0xB1,
  flags u32, ts u64, sid u16 and gets 0xB1 (accepted) or 0xBF; then
  ``0xB1 ts size message`` for each message with a time stamp above ``ts``
  and whose server id is not ``sid`` (only ``sid``'s with the flag
  0x01), an empty message now and then to carry the time stamp forward,
  and ``0xB0 ts`` when caught up, which the client answers with 0xB1.
"""

from __future__ import annotations

import struct
from typing import Final, List, Optional, Tuple, final

from kt.errors import ProtocolError, ServerConnectionError
from kt.protocol import kt_binary as kb
from kt.protocol.buffer import FieldsRecord, ReceiveBuffer

__all__ = ["OP_SET", "OP_REMOVE", "OP_CLEAR", "OP_NAMES", "XT_MAX", "XT_WIDTH",
           "UpdateLogEntry", "ReplicationStream", "encode_varnum", "decode_varnum",
           "encode_record", "encode_message", "decode_message", "split_message",
           "FILE_HEADER_SIZE", "encode_file_header", "decode_file_header",
           "encode_file_record", "decode_file_records", "ulog_file_name", "ulog_file_id",
           "TS_PER_SECOND", "clock_ts"]

#: Record operations (kttimeddb.h's UpdateOperation).
OP_SET: Final = 0xA1
OP_REMOVE: Final = 0xA2
OP_CLEAR: Final = 0xA5

#: The names entries carry (anything else is "unknown").
OP_NAMES: Final = {OP_SET: "set", OP_REMOVE: "remove", OP_CLEAR: "clear"}

#: Expiration time meaning "never"; width of the stored expiration time.
XT_MAX: Final = (1 << 40) - 1
XT_WIDTH: Final = 5

#: Time stamp units per second (milliseconds times 1,000,000).
TS_PER_SECOND: Final = 1000 * 1000 * 1000

_META_MAGIC: Final = 0xA0
_BEGIN_MAGIC: Final = 0xA1
_END_MAGIC: Final = 0xA2
_HEAD: Final = struct.Struct(">HH")  # sid, dbidx
_FILE_HEAD: Final = struct.Struct(">BQQ")  # magic, size, largest ts
_FILE_REC: Final = struct.Struct(">BQI")  # magic, ts, size
_XT: Final = struct.Struct(">Q")

#: Size of a log file's header.
FILE_HEADER_SIZE: Final = 17


def clock_ts(now: float, last: int) -> int:
    """The time stamp of a message logged at ``now`` (seconds) after one
    stamped ``last``: ktserver's clock (milliseconds, then a counter
    within the millisecond), never going backwards."""
    wall = int(now * 1000) * 1000000
    return wall if wall > last else last + 1


# ---------------------------------------------------------------------------
# Numbers and messages


def encode_varnum(n: int) -> bytes:
    """Kyoto Cabinet's variable-length number (``n`` >= 0)."""
    if n < 0x80:
        return bytes((n,))
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.reverse()
    return bytes(out)


def decode_varnum(data: bytes, pos: int, end: int) -> Tuple[int, int]:
    """(number, position after it); ProtocolError when cut short."""
    n = 0
    while True:
        if pos >= end:
            raise ProtocolError("update log record: a size field is cut short")
        c = data[pos]
        pos += 1
        n = (n << 7) + (c & 0x7F)
        if c < 0x80:
            return n, pos


def encode_record(op: int, key: bytes, value: bytes, xt: int, persistent: bool = False) -> bytes:
    """A database's update record: ``op`` OP_SET (``value`` stored with the
    absolute expiration time ``xt`` unless ``persistent``), OP_REMOVE
    (``key``) or OP_CLEAR."""
    if op == OP_CLEAR:
        return b"\xa5"
    if op == OP_REMOVE:
        return b"\xa2" + encode_varnum(len(key)) + key
    if op != OP_SET:
        raise ValueError("unknown update log operation 0x%02x" % op)
    if not persistent:
        value = _XT.pack(XT_MAX if xt > XT_MAX else max(xt, 0))[3:] + value
    return b"\xa1" + encode_varnum(len(key)) + encode_varnum(len(value)) + key + value


def encode_message(sid: int, dbidx: int, record: bytes) -> bytes:
    """A message of the update log: server id, database index, record."""
    return _HEAD.pack(sid, dbidx) + record


def split_message(message: bytes) -> Tuple[int, int, bytes]:
    """(sid, dbidx, record) of a message; ProtocolError if too short."""
    if len(message) < 4:
        raise ProtocolError("update log message of %d bytes (at least 4 expected)"
                            % len(message))
    sid: int
    dbidx: int
    sid, dbidx = _HEAD.unpack_from(message, 0)
    return sid, dbidx, message[4:]


@final
class UpdateLogEntry(FieldsRecord):
    """One change of the update log, decoded.

    ``op`` is "set", "remove", "clear" or "unknown" (a record this library
    does not know; ``value`` then holds it whole).  ``key`` is empty for
    clear; ``value`` is None for remove and clear.  ``xt`` is the absolute
    expiration time of a set, ``XT_MAX`` for never (and for the others).
    """

    ts: int
    sid: int
    db: int
    op: str
    key: bytes
    value: Optional[bytes]
    xt: int

    def __init__(self, ts: int, sid: int, db: int, op: str, key: bytes,
                 value: Optional[bytes], xt: int) -> None:
        self.ts = ts
        self.sid = sid
        self.db = db
        self.op = op
        self.key = key
        self.value = value
        self.xt = xt

    def _fields(self) -> Tuple[object, ...]:
        return (self.ts, self.sid, self.db, self.op, self.key, self.value, self.xt)

    def _field_names(self) -> Tuple[str, ...]:
        return ("ts", "sid", "db", "op", "key", "value", "xt")


def decode_message(ts: int, message: bytes, persistent: bool = False) -> UpdateLogEntry:
    """Decode a message of the update log (``persistent``: the database
    stores no expiration times, ktserver's ``ktopts=p``).  Raises
    ProtocolError for a message that does not parse."""
    sid, dbidx, record = split_message(message)
    end = len(record)
    if end < 1:
        raise ProtocolError("update log message without a record")
    op = record[0]
    if op == OP_CLEAR:
        if end != 1:
            raise ProtocolError("update log clear record with %d extra bytes" % (end - 1))
        return UpdateLogEntry(ts, sid, dbidx, "clear", b"", None, XT_MAX)
    if op == OP_REMOVE:
        ksiz, pos = decode_varnum(record, 1, end)
        if end - pos != ksiz:
            raise ProtocolError("update log remove record: key of %d bytes in %d"
                                % (ksiz, end - pos))
        return UpdateLogEntry(ts, sid, dbidx, "remove", record[pos:], None, XT_MAX)
    if op != OP_SET:
        return UpdateLogEntry(ts, sid, dbidx, "unknown", b"", record, XT_MAX)
    ksiz, pos = decode_varnum(record, 1, end)
    vsiz, pos = decode_varnum(record, pos, end)
    if end - pos != ksiz + vsiz:
        raise ProtocolError("update log set record: key and value of %d bytes in %d"
                            % (ksiz + vsiz, end - pos))
    key = record[pos:pos + ksiz]
    pos += ksiz
    if persistent:
        return UpdateLogEntry(ts, sid, dbidx, "set", key, record[pos:], XT_MAX)
    if vsiz < XT_WIDTH:
        raise ProtocolError("update log set record: a value of %d bytes has no expiration time"
                            % vsiz)
    xt = int.from_bytes(record[pos:pos + XT_WIDTH], "big")
    return UpdateLogEntry(ts, sid, dbidx, "set", key, record[pos + XT_WIDTH:], xt)


# ---------------------------------------------------------------------------
# Log files


def ulog_file_name(file_id: int) -> str:
    """The name of update log file number ``file_id``."""
    return "%010d.ulog" % file_id


def ulog_file_id(name: str) -> int:
    """The number of an update log file name, -1 for any other name."""
    if len(name) != 15 or not name.endswith(".ulog") or not name[:10].isdigit():
        return -1
    return int(name[:10])


def encode_file_header(size: int, ts: int) -> bytes:
    """A log file's header: its size and the largest time stamp in it."""
    return _FILE_HEAD.pack(_META_MAGIC, max(size, FILE_HEADER_SIZE), ts)


def decode_file_header(data: bytes) -> Optional[Tuple[int, int]]:
    """(size, largest ts) of a log file's header; None if it is not one."""
    if len(data) < FILE_HEADER_SIZE or data[0] != _META_MAGIC:
        return None
    size: int
    ts: int
    _, size, ts = _FILE_HEAD.unpack_from(data, 0)
    return size, ts


def encode_file_record(ts: int, message: bytes) -> bytes:
    """One framed record of a log file."""
    return _FILE_REC.pack(_BEGIN_MAGIC, ts, len(message)) + message + b"\xa2"


def decode_file_records(data: bytes, pos: int,
                        out: List[Tuple[int, bytes]]) -> int:
    """Append the complete records of ``data[pos:]`` to ``out`` as (ts,
    message); returns where the first incomplete or damaged one starts
    (``len(data)`` when all were read)."""
    end = len(data)
    while pos + 13 <= end:
        magic: int
        ts: int
        size: int
        magic, ts, size = _FILE_REC.unpack_from(data, pos)
        stop = pos + 13 + size
        if magic != _BEGIN_MAGIC or stop >= end or data[stop] != _END_MAGIC:
            return pos
        out.append((ts, data[pos + 13:stop]))
        pos = stop + 1
    return pos


# ---------------------------------------------------------------------------
# The client side of the stream


@final
class ReplicationStream:
    """The state of a change stream across connections: where it is (the
    largest time stamp seen), the request that resumes from there, the
    entries parsed and not yet taken, and the reconnection backoff.

    A transport (kt.kyoto, kt.aio) sends ``start()`` on a new connection,
    then repeatedly reads with ``parse`` and sends what it returns (the
    acknowledgement of a heartbeat, or nothing), handing ``take()``'s
    entries to the caller; after a lost connection it waits ``lost(exc)``
    seconds (which raises when it should give up) and starts over.
    """

    since: int
    sid: int
    flags: int
    persistent: bool
    accepted: bool
    caught_up: bool
    retries: int
    max_retries: int
    retry_delay: float
    retry_max: float
    _attempt: int
    _entries: List[UpdateLogEntry]

    def __init__(self, since: int, sid: int, flags: int, persistent: bool,
                 max_retries: int, retry_delay: float, retry_max: float) -> None:
        self.since = since
        self.sid = sid
        self.flags = flags
        self.persistent = persistent
        self.accepted = False
        self.caught_up = False
        self.retries = 0
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.retry_max = retry_max
        self._attempt = 0
        self._entries = []

    def start(self) -> bytes:
        """The request that opens (or resumes) the stream on a new connection."""
        self.accepted = False
        self.caught_up = False
        return kb.encode_replication(self.since, self.sid, self.flags)

    def parse(self, buf: ReceiveBuffer) -> Optional[bytes]:
        """Parse every complete message in ``buf``; None while there is none,
        else the bytes to send before reading again (the acknowledgement
        after a heartbeat, else b"").  ServerError when the master refuses
        (no update log); ProtocolError for bytes that are not a stream."""
        progressed = False
        if not self.accepted:
            if kb.parse_replication_start(buf) is None:
                return None
            self.accepted = True
            self._attempt = 0
            progressed = True
        while True:
            msg = kb.parse_replication_message(buf)
            if msg is None:
                return b"" if progressed else None
            if msg.ts > self.since:
                self.since = msg.ts
            log = msg.log
            if log is None:
                self.caught_up = True
                return kb.encode_replication_ack()
            self.caught_up = False
            if log:
                self._entries.append(decode_message(msg.ts, log, self.persistent))
            progressed = True

    def take(self) -> List[UpdateLogEntry]:
        """The entries parsed since the last call."""
        entries = self._entries
        self._entries = []
        return entries

    def lost(self, exc: ServerConnectionError) -> float:
        """Seconds to wait before reconnecting after ``exc``; raises it again
        when reconnection is off or the retries are used up."""
        if self._attempt >= self.max_retries >= 0:
            raise exc
        delay = self.retry_delay * (2 ** min(self._attempt, 16))
        self._attempt += 1
        self.retries += 1
        return delay if delay < self.retry_max else self.retry_max
