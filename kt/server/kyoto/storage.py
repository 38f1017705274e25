"""Databases of the built-in Kyoto Tycoon server: the ordered map, Kyoto
Tycoon databases with expiration, and their file (a kt.server.snapshot).

Who calls it: kt.server.kyoto.cli (``open_database``, ``synchronize`` at
exit and by ``-asi``), kt.server.kyoto.engine (every request) and Python
script procedures (``-scr``, through kt.server.kyoto.scripting).

Layers:

* ``OrderedMap``: a dict of bytes to bytes with a sorted key index that is
  built the first time ordered access is needed and then kept up to date
  cheaply (new keys are sorted in batches, removed keys are skipped and
  swept out in batches).  Plain get/put/pop cost one or two dict lookups.
* ``Database``: one Kyoto Tycoon database (``*``, ``%``, ``:``, ``-``,
  ``+``, ``*.kch``, ``*.kct``, ``*.kcd``, ``*.kcf``): records with
  expiration times and the semantics of Kyoto Tycoon's TimedDB (what
  add/replace/append/cas/increment/increment_double/seize do, which
  operations see expired records, when expired records are purged, how
  cursors move).  Every method takes the database's lock, so a database
  can be shared by all connection threads.
* ``Cursor``: a cursor of a Database (ktserver's ``CUR``).
* File databases are kept in memory and written whole to their file (see
  ``save_records`` for the format, kt.server.snapshot for the frame) by
  ``synchronize`` and when the server stops; they are read back when the
  server starts.

Expiration, as in ktserver: a record stored with expiration time ``xt``
(absolute seconds; ``XT_MAX`` = never) is visible while ``now <= xt``.
Expired records stay in the database, invisible to reads, until they are
purged, and ``count`` includes them until then: a write adds 256 and a
read 32 to a score, and once the score reaches 2048 it is spent to purge
up to score/256 expired records; ``vacuum`` purges them all.
``match_prefix``, ``match_regex`` and ``match_similar`` scan keys without
looking at expiration, as ktserver's do.

Iteration order: every database type iterates in byte order of keys (for
hash databases ktserver's order is its hash order; any order visiting
every record once is correct there).  Hash-type databases refuse
``jump_back``/``step_back`` (NOIMPL), and their ``jump(key)`` needs an
existing key, as in Kyoto Cabinet.
"""

from __future__ import annotations

import heapq
import math
import os
import struct
import threading
import time
from bisect import bisect_left, bisect_right
from typing import Callable, Dict, Final, List, Optional, Set, Tuple, final

from kt.server.dbspec import DBSpec
from kt.server.dbspec import parse_db_spec as split_db_spec
from kt.server.ere import EREError, compile_ere
from kt.server.kyoto.ulog import DatabaseLogger
from kt.server.journal import (
    OP_CLEAR, OP_REMOVE, OP_SET, SYNC_NONE, Batch, Journal, encode, read_journal,
)
from kt.server.snapshot import SnapshotError, SnapshotReader, SnapshotWriter

__all__ = [
    "XT_MAX",
    "INT64_MAX",
    "INT64_MIN",
    "Cursor",
    "DBError",
    "Database",
    "OrderedMap",
    "absolute_xt",
    "load_records",
    "open_database",
    "parse_db_spec",
    "save_records",
]

#: Expiration time meaning "never" (Kyoto Tycoon stores 40-bit times).
XT_MAX: Final = (1 << 40) - 1
INT64_MAX: Final = (1 << 63) - 1
INT64_MIN: Final = -(1 << 63)
_HALF_MAX: Final = INT64_MAX // 2  # C's INT64MAX / 2
_HALF_MIN: Final = -(1 << 62)  # C's INT64MIN / 2

# Kyoto Cabinet error codes and names (for "DB: code: name: message").
E_NOIMPL: Final = 1
E_INVALID: Final = 2
E_NOREPOS: Final = 3
E_BROKEN: Final = 5
E_DUPREC: Final = 6
E_NOREC: Final = 7
E_LOGIC: Final = 8
E_SYSTEM: Final = 9
ERROR_NAMES: Final[Dict[int, str]] = {
    0: "success",
    E_NOIMPL: "not implemented",
    E_INVALID: "invalid operation",
    E_NOREPOS: "no repository",
    4: "no permission",
    E_BROKEN: "broken file",
    E_DUPREC: "record duplication",
    E_NOREC: "no record",
    E_LOGIC: "logical inconsistency",
    E_SYSTEM: "system error",
    15: "miscellaneous error",
}

# Database types (Kyoto Cabinet's PolyDB type numbers, as status reports them).
TYPE_PHASH: Final = 0x10
TYPE_PTREE: Final = 0x11
TYPE_STASH: Final = 0x18
TYPE_CACHE: Final = 0x20
TYPE_GRASS: Final = 0x21
TYPE_HASH: Final = 0x30
TYPE_TREE: Final = 0x31
TYPE_DIR: Final = 0x40
TYPE_FOREST: Final = 0x41
_TREE_TYPES: Final = (TYPE_PTREE, TYPE_GRASS, TYPE_TREE, TYPE_FOREST)
# B+ tree types whose cursors remember the direction of the last move
# (the prototype tree's cursor always steps forward).
_DIRECTED_TYPES: Final = (TYPE_GRASS, TYPE_TREE, TYPE_FOREST)
_SYMBOL_TYPES: Final[Dict[str, int]] = {
    "-": TYPE_PHASH,
    "+": TYPE_PTREE,
    ":": TYPE_STASH,
    "*": TYPE_CACHE,
    "%": TYPE_GRASS,
}
_SUFFIX_TYPES: Final[Dict[str, int]] = {
    ".kch": TYPE_HASH,
    ".kct": TYPE_TREE,
    ".kcd": TYPE_DIR,
    ".kcf": TYPE_FOREST,
}

#: The wall clock, bound once (no module lookup per request).
_clock: Final = time.time

# Expiration scores (as in Kyoto Tycoon's TimedDB).
_SCORE_WRITE: Final = 256
_SCORE_READ: Final = 32
_SCORE_UNIT: Final = 256
_SCORE_TRIGGER: Final = 2048

# increment_double's fixed-point unit.
_DECUNIT: Final = 1000000000000000


class DBError(Exception):
    """A database operation failed; ``code`` is a Kyoto Cabinet error code
    (E_*), ``message`` its detail, as ktserver reports them."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__("%s: %s" % (ERROR_NAMES.get(code, "error"), message))
        self.code = code
        self.message = message

    def describe(self) -> str:
        """ktserver's form: ``DB: 7: no record: no record``."""
        return "DB: %d: %s: %s" % (self.code, ERROR_NAMES.get(self.code, "error"), self.message)


def absolute_xt(xt: int, now: int) -> int:
    """Kyoto Tycoon's reading of a requested expiration time: a positive
    ``xt`` is seconds from ``now``, a negative one is minus an absolute
    time; anything beyond ``XT_MAX`` means never."""
    if xt < 0:
        if xt < _HALF_MIN:
            xt = _HALF_MIN
        xt = -xt
    else:
        if xt > _HALF_MAX:
            xt = _HALF_MAX
        xt += now
    return XT_MAX if xt > XT_MAX else xt


def _wrap64(n: int) -> int:
    """``n`` wrapped to a signed 64-bit integer (C arithmetic)."""
    n &= 0xFFFFFFFFFFFFFFFF
    return n - (1 << 64) if n >= (1 << 63) else n


def _to_int64(x: float) -> int:
    """C's (int64_t) conversion of a double, as x86 does it (out of range
    and NaN give INT64_MIN)."""
    if x != x or not (-9.223372036854775808e18 <= x < 9.223372036854775808e18):
        return INT64_MIN
    return int(x)


def _fract_units(fract: float) -> int:
    """C's ``(int64_t)(fract * 1e15)`` computed in x86 80-bit long double:
    the exact product rounded to 64 significant bits, then truncated."""
    if fract == 0.0 or fract != fract:
        return 0
    num, den = fract.as_integer_ratio()
    p = num * _DECUNIT
    negative = p < 0
    if negative:
        p = -p
    drop = p.bit_length() - 64
    if drop > 0:
        q = p >> drop
        r = p - (q << drop)
        half = 1 << (drop - 1)
        if r > half or (r == half and q & 1):
            q += 1
        p = q << drop
    units = p // den
    return -units if negative else units


_I64: Final = struct.Struct(">q")
_I64x2: Final = struct.Struct(">qq")
_U64: Final = struct.Struct(">Q")


# ---------------------------------------------------------------------------
# Ordered map


@final
class OrderedMap:
    """A mapping of bytes keys to bytes values with ordered access.

    ``data`` is the plain dict (read it directly for speed; write through
    ``put``/``pop``/``clear`` so that the index stays right).  The sorted
    index exists only once an ordered method has been called.
    """

    data: Dict[bytes, bytes]
    _keys: List[bytes]
    _new: List[bytes]
    _holes: Set[bytes]
    _indexed: bool

    def __init__(self) -> None:
        self.data = {}
        self._keys = []
        self._new = []
        self._holes = set()
        self._indexed = False

    def __len__(self) -> int:
        return len(self.data)

    def get(self, key: bytes) -> Optional[bytes]:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        data = self.data
        if self._indexed and key not in data:
            holes = self._holes
            if key in holes:
                holes.discard(key)
            else:
                self._new.append(key)
        data[key] = value

    def pop(self, key: bytes) -> Optional[bytes]:
        value = self.data.pop(key, None)
        if value is not None and self._indexed:
            self._holes.add(key)
        return value

    def clear(self) -> None:
        self.data = {}
        self._keys = []
        self._new = []
        self._holes = set()
        self._indexed = False

    def sorted_keys(self) -> List[bytes]:
        """The index: every key in byte order (may also hold removed keys
        not swept out yet; check ``key in data``)."""
        if not self._indexed:
            self._keys = sorted(self.data)
            self._new = []
            self._holes = set()
            self._indexed = True
            return self._keys
        keys = self._keys
        holes = self._holes
        if holes and (len(holes) > 64 and len(holes) * 4 > len(keys) or self._new):
            data = self.data
            keys = [k for k in keys if k in data]
            # A key added and removed again since the last merge waits in
            # _new: it must not reach the index.
            self._new = [k for k in self._new if k in data]
            self._holes = set()
        new = self._new
        if new:
            new.sort()
            keys = keys + new
            keys.sort()  # two sorted runs: linear time
            self._new = []
        self._keys = keys
        return keys

    def live_keys(self) -> List[bytes]:
        """Every key in byte order."""
        keys = self.sorted_keys()
        if self._holes:
            data = self.data
            return [k for k in keys if k in data]
        return list(keys)

    def _scan_up(self, keys: List[bytes], i: int) -> Optional[bytes]:
        data = self.data
        n = len(keys)
        while i < n:
            k = keys[i]
            if k in data:
                return k
            i += 1
        return None

    def _scan_down(self, keys: List[bytes], i: int) -> Optional[bytes]:
        data = self.data
        while i >= 0:
            k = keys[i]
            if k in data:
                return k
            i -= 1
        return None

    def first(self) -> Optional[bytes]:
        return self._scan_up(self.sorted_keys(), 0)

    def last(self) -> Optional[bytes]:
        keys = self.sorted_keys()
        return self._scan_down(keys, len(keys) - 1)

    def ceiling(self, key: bytes) -> Optional[bytes]:
        """The smallest key >= ``key``."""
        keys = self.sorted_keys()
        return self._scan_up(keys, bisect_left(keys, key))

    def higher(self, key: bytes) -> Optional[bytes]:
        """The smallest key > ``key``."""
        keys = self.sorted_keys()
        return self._scan_up(keys, bisect_right(keys, key))

    def floor(self, key: bytes) -> Optional[bytes]:
        """The largest key <= ``key``."""
        keys = self.sorted_keys()
        return self._scan_down(keys, bisect_right(keys, key) - 1)

    def lower(self, key: bytes) -> Optional[bytes]:
        """The largest key < ``key``."""
        keys = self.sorted_keys()
        return self._scan_down(keys, bisect_left(keys, key) - 1)

    def prefixed(self, prefix: bytes, limit: int) -> List[bytes]:
        """Keys starting with ``prefix`` in byte order, at most ``limit``
        of them (negative: no limit)."""
        keys = self.sorted_keys()
        return self._collect(keys, bisect_left(keys, prefix), prefix, None, False, limit)

    def key_range(self, start: Optional[bytes], start_inclusive: bool, end: Optional[bytes],
                  end_inclusive: bool, limit: int) -> List[bytes]:
        """Keys between ``start`` and ``end`` (None: unbounded) in byte
        order, at most ``limit`` (negative: no limit)."""
        keys = self.sorted_keys()
        if start is None:
            i = 0
        elif start_inclusive:
            i = bisect_left(keys, start)
        else:
            i = bisect_right(keys, start)
        return self._collect(keys, i, None, end, end_inclusive, limit)

    def _collect(self, keys: List[bytes], i: int, prefix: Optional[bytes],
                 end: Optional[bytes], end_inclusive: bool, limit: int) -> List[bytes]:
        """Live keys of the index from position ``i`` on, while they start
        with ``prefix`` and do not pass ``end`` (None: no such bound), at
        most ``limit`` (negative: no limit)."""
        out: List[bytes] = []
        if limit == 0:
            return out
        data = self.data
        n = len(keys)
        while i < n:
            k = keys[i]
            if prefix is not None and not k.startswith(prefix):
                break
            if end is not None and (k > end or (k == end and not end_inclusive)):
                break
            if k in data:
                out.append(k)
                if len(out) == limit:
                    break
            i += 1
        return out


# ---------------------------------------------------------------------------
# Database specs


def parse_db_spec(spec: str) -> DBSpec:
    """Parse a ktserver database argument (kt.server.dbspec, ``kind`` one
    of the TYPE_* codes); ValueError for an unknown type.

    ``*`` cache hash, ``%`` cache tree, ``:`` stash, ``-`` prototype hash,
    ``+`` prototype tree; ``name.kch`` / ``.kct`` / ``.kcd`` / ``.kcf``
    file databases (``.kcd`` and ``.kcf`` are single files here too).
    Options after ``#`` (``name=value``) are accepted and kept; a ``type=``
    option overrides the type as in Kyoto Cabinet.
    """
    parsed = split_db_spec(spec, _SYMBOL_TYPES, _SUFFIX_TYPES)
    forced = parsed.options.get("type", "").lower()
    if forced:
        for suffix, t in _SUFFIX_TYPES.items():
            if forced == suffix[1:]:
                parsed.kind = t
        if forced in ("kch", "hash"):
            parsed.kind = TYPE_HASH
        elif forced in ("kct", "tree"):
            parsed.kind = TYPE_TREE
    if parsed.kind == 0:
        raise ValueError(
            "unknown database type %r: use *, %%, :, -, + or a name ending in "
            ".kch, .kct, .kcd or .kcf" % spec)
    return parsed


# ---------------------------------------------------------------------------
# File format


_MAGIC: Final = b"KTSRVDB\n"
_VERSION: Final = 1
_HEADER: Final = struct.Struct(">IIQ")  # version, type, record count (after the magic)
_RECORD: Final = struct.Struct(">IIQ")  # ksiz, vsiz, xt


def save_records(path: str, type_: int, items: List[Tuple[bytes, bytes, int]], hard: bool) -> int:
    """Write ``items`` (key, value, xt) to ``path`` atomically; returns the
    file size.

    A kt.server.snapshot file with magic ``b"KTSRVDB\\n"`` whose body is
    (all integers big-endian): version u32 (1), database type u32, record
    count u64; then per record ksiz u32, vsiz u32, xt u64 (absolute
    expiration time, 2**40-1 for never), key, value.  ``hard`` also fsyncs
    the file and its directory.
    """
    out = SnapshotWriter(path, _MAGIC, hard)
    try:
        out.write(_HEADER.pack(_VERSION, type_, len(items)))
        rec = _RECORD
        for key, value, xt in items:
            out.write(rec.pack(len(key), len(value), xt))
            out.write(key)
            out.write(value)
        return out.commit()
    except BaseException:
        out.abort()
        raise


def load_records(path: str) -> Tuple[int, List[Tuple[bytes, bytes, int]]]:
    """Read a file written by ``save_records``: (type, items).  Raises
    SnapshotError (naming the file and the offset) when the file is not one
    of ours or is damaged, OSError when it cannot be read."""
    reader = SnapshotReader(path, _MAGIC, "a kt.server database file (Kyoto Cabinet files "
                                          "are not readable by the built-in server)")
    version = reader.u32()
    if version != _VERSION:
        raise reader.fail("unsupported file format version %d" % version)
    type_ = reader.u32()
    count = reader.u64()
    items: List[Tuple[bytes, bytes, int]] = []
    for _ in range(count):
        ksiz = reader.u32()
        vsiz = reader.u32()
        xt = reader.u64()
        key = reader.raw(ksiz)
        value = reader.raw(vsiz)
        items.append((key, value, xt))
    reader.finish()
    return type_, items


# ---------------------------------------------------------------------------
# Databases


@final
class Database:
    """One Kyoto Tycoon database (see the module docstring).

    ``path`` is the argument as given without options (``*``,
    ``casket.kch``); ``file`` the file it lives in (None for in-memory
    types).  Keys and values are bytes.  ``xt`` arguments follow Kyoto
    Tycoon: seconds from now when positive, minus an absolute time when
    negative, ``INT64_MAX`` (the default) for never.  Times returned are
    absolute, ``XT_MAX`` meaning never.
    """

    path: str
    type: int
    ordered: bool
    directed: bool
    file: Optional[str]
    options: Dict[str, str]
    records: OrderedMap
    xts: Dict[bytes, int]
    _heap: List[Tuple[int, bytes]]
    _score: int
    _xkey: Optional[bytes]
    epoch: int
    _lock: threading.Lock
    #: ``_lock``'s acquire and release, bound once: the hot paths (get,
    #: get_with_xt, fetch, store, discard) call them directly, a fraction
    #: of what a ``with`` block costs in compiled code.
    _acquire: Callable[[], bool]
    _release: Callable[[], None]
    _dirty: bool
    #: The mutation journal of a file database (kt.server.journal), once open.
    journal: Optional[Journal]
    #: Where changes go to the update log (kt.server.kyoto.ulog), with -ulog.
    ulog: Optional[DatabaseLogger]
    _snapshot_size: int
    _sync_lock: threading.Lock

    def __init__(self, path: str, type_: int, file: Optional[str] = None,
                 options: Optional[Dict[str, str]] = None) -> None:
        self.path = path
        self.type = type_
        self.ordered = type_ in _TREE_TYPES
        self.directed = type_ in _DIRECTED_TYPES
        self.file = file
        self.options = options if options is not None else {}
        self.records = OrderedMap()
        self.xts = {}
        self._heap = []
        self._score = 0
        self._xkey = None
        self.epoch = 0  # bumped by clear: Kyoto Cabinet disables every cursor
        self._lock = threading.Lock()
        self._acquire = self._lock.acquire
        self._release = self._lock.release
        self._dirty = False
        self.journal = None
        self.ulog = None
        self._snapshot_size = 0
        self._sync_lock = threading.Lock()  # one snapshot at a time

    # -- internals (the caller holds the lock) ---------------------------------

    def _visible(self, key: bytes, now: int) -> Optional[bytes]:
        value = self.records.data.get(key)
        if value is None:
            return None
        xts = self.xts
        if xts:
            xt = xts.get(key)
            if xt is not None and now > xt:
                return None
        return value

    def _xt_of(self, key: bytes) -> int:
        xts = self.xts
        if xts:
            xt = xts.get(key)
            if xt is not None:
                return xt
        return XT_MAX

    def _store(self, key: bytes, value: bytes, xt: int) -> None:
        """Store with absolute expiration time ``xt``."""
        self.records.put(key, value)
        if xt < XT_MAX:
            self.xts[key] = xt
            heapq.heappush(self._heap, (xt, key))
        elif self.xts:
            self.xts.pop(key, None)
        self._dirty = True
        journal = self.journal
        if journal is not None:
            journal.append(encode(OP_SET, [key, value, _U64.pack(xt)]))
        ulog = self.ulog
        if ulog is not None:
            ulog.log_set(key, value, xt)

    def _delete(self, key: bytes, logged: bool = True) -> None:
        """Remove a record; ``logged=False`` for an expired record purged,
        which ktserver leaves out of the update log."""
        self.records.pop(key)
        if self.xts:
            self.xts.pop(key, None)
        self._dirty = True
        journal = self.journal
        if journal is not None:
            journal.append(encode(OP_REMOVE, [key]))
        ulog = self.ulog
        if ulog is not None and logged:
            ulog.log_remove(key)

    def _tick(self, score: int, now: int) -> None:
        """Account an operation; purge some expired records now and then."""
        score += self._score
        if score < _SCORE_TRIGGER:
            self._score = score
            return
        step = score // _SCORE_UNIT
        self._score = score - step * _SCORE_UNIT
        if self.ordered:
            self._sweep(step, now)
        elif self._heap:
            self._expire(step, now)

    def _sweep(self, step: int, now: int) -> None:
        """TimedDB's expiration cursor on a tree database: visit the next
        ``step`` records in key order, removing the expired ones.  Where the
        cursor is not on a record (database empty when it last jumped, or
        past the last record) it jumps to the first record instead, and the
        rest of the score is dropped, as ktserver's cursor does."""
        records = self.records
        xts = self.xts
        for _ in range(step):
            key = self._xkey
            if key is not None:
                # the cursor holds the key of its record: if that record
                # went away, it is on the next one
                key = records.ceiling(key)
            if key is None:
                self._xkey = records.first()
                self._score = 0
                return
            # stepping moves it to the record after (a key put in between
            # later is not visited); past the last one it is off
            self._xkey = records.higher(key)
            if xts:
                xt = xts.get(key)
                if xt is not None and now > xt:
                    self._delete(key, False)

    def _expire(self, limit: int, now: int) -> int:
        heap = self._heap
        xts = self.xts
        removed = 0
        while heap and removed < limit and heap[0][0] < now:
            xt, key = heapq.heappop(heap)
            if xts.get(key) == xt:
                self._delete(key, False)
                removed += 1
        if len(heap) > 2 * len(xts) + 1024:
            self._heap = [(xt, k) for k, xt in xts.items()]
            heapq.heapify(self._heap)
        return removed

    # -- single records ---------------------------------------------------------

    def get(self, key: bytes) -> Optional[bytes]:
        """The value of a visible record, or None."""
        now = int(_clock())
        self._acquire()
        try:
            value = self._visible(key, now)
            self._tick(_SCORE_READ, now)
            return value
        finally:
            self._release()

    def get_with_xt(self, key: bytes) -> Optional[Tuple[bytes, int]]:
        """(value, absolute expiration time) of a visible record, or None."""
        now = int(_clock())
        self._acquire()
        try:
            value = self._visible(key, now)
            self._tick(_SCORE_READ, now)
            if value is None:
                return None
            return value, self._xt_of(key)
        finally:
            self._release()

    def check(self, key: bytes) -> Optional[Tuple[int, int]]:
        """(value size, expiration time) of a visible record, or None."""
        found = self.get_with_xt(key)
        if found is None:
            return None
        return len(found[0]), found[1]

    def set(self, key: bytes, value: bytes, xt: int = INT64_MAX) -> None:
        now = int(_clock())
        with self._lock:
            self._store(key, value, absolute_xt(xt, now))
            self._tick(_SCORE_WRITE, now)

    def add(self, key: bytes, value: bytes, xt: int = INT64_MAX) -> bool:
        """Store only if no visible record exists (False: DUPREC)."""
        return self._store_if(key, value, xt, False)

    def replace(self, key: bytes, value: bytes, xt: int = INT64_MAX) -> bool:
        """Store only if a visible record exists (False: NOREC)."""
        return self._store_if(key, value, xt, True)

    def _store_if(self, key: bytes, value: bytes, xt: int, exists: bool) -> bool:
        now = int(_clock())
        with self._lock:
            done = (self._visible(key, now) is not None) == exists
            if done:
                self._store(key, value, absolute_xt(xt, now))
            self._tick(_SCORE_WRITE, now)
            return done

    def append(self, key: bytes, value: bytes, xt: int = INT64_MAX) -> None:
        """Append to the value (store it when missing); sets the new ``xt``."""
        now = int(_clock())
        with self._lock:
            old = self._visible(key, now)
            self._store(key, value if old is None else old + value, absolute_xt(xt, now))
            self._tick(_SCORE_WRITE, now)

    def remove(self, key: bytes) -> bool:
        """Remove a visible record (False: NOREC).  An expired record is
        purged but reported missing, as in ktserver."""
        now = int(_clock())
        with self._lock:
            visible = self._visible(key, now) is not None
            if key in self.records.data:
                self._delete(key)
            self._tick(_SCORE_WRITE, now)
            return visible

    def seize(self, key: bytes) -> Optional[Tuple[bytes, int]]:
        """Get and remove a visible record: (value, xt) or None."""
        now = int(_clock())
        with self._lock:
            value = self._visible(key, now)
            found: Optional[Tuple[bytes, int]] = None
            if value is not None:
                found = value, self._xt_of(key)
                self._delete(key)
            self._tick(_SCORE_WRITE, now)
            return found

    def cas(self, key: bytes, old: Optional[bytes], new: Optional[bytes],
            xt: int = INT64_MAX) -> bool:
        """Compare and swap (False: LOGIC "status conflict").

        ``old`` None: succeed only if no visible record exists; ``new``
        None: remove the record on success.
        """
        now = int(_clock())
        with self._lock:
            current = self._visible(key, now)
            if current is None:
                done = old is None
            else:
                done = old is not None and current == old
            if done and new is not None:
                self._store(key, new, absolute_xt(xt, now))
            elif done and current is not None:
                self._delete(key)
            self._tick(_SCORE_WRITE, now)
            return done

    def increment(self, key: bytes, num: int, orig: int = 0,
                  xt: int = INT64_MAX) -> Optional[int]:
        """Add ``num`` to an 8-byte big-endian integer record; None when the
        record is not 8 bytes long, or is missing and ``orig`` is INT64_MIN
        ("try").  ``orig`` INT64_MAX ("set") stores ``num`` whatever the
        current value; otherwise a missing record starts at ``orig``.
        ``num`` 0 reads the current value without writing.  Integers wrap
        around at 64 bits, as in ktserver."""
        num = _wrap64(num)
        orig = _wrap64(orig)
        now = int(_clock())
        with self._lock:
            writable = num != 0 or orig != INT64_MIN
            result = self._increment(key, num, orig, xt, now)
            # the expiration tick follows the access, as in ktserver
            self._tick(_SCORE_WRITE if writable else _SCORE_READ, now)
            return result

    def _increment(self, key: bytes, num: int, orig: int, xt: int, now: int) -> Optional[int]:
        current = self._visible(key, now)
        onum: int
        if current is not None:
            if len(current) != 8:
                return None
            if orig == INT64_MAX:
                onum = 0
            else:
                onum = _I64.unpack(current)[0]
                if num == 0:
                    # INT64_MIN is ktserver's failure value, whatever
                    # the reason
                    return None if onum == INT64_MIN else onum
            result = _wrap64(num + onum)
        else:
            if orig == INT64_MIN:
                return None
            result = num if orig == INT64_MAX else _wrap64(num + orig)
        self._store(key, _I64.pack(result), absolute_xt(xt, now))
        if result == INT64_MIN:
            return None  # ktserver cannot tell this result from a failure
        return result

    def increment_double(self, key: bytes, num: float, orig: float = 0.0,
                         xt: int = INT64_MAX) -> float:
        """Add ``num`` to a 16-byte fixed-point record (integral part i64,
        fraction i64 in units of 1e-15, big-endian); NaN means failure
        (LOGIC).  ``orig`` -inf ("try") fails on a missing record, +inf
        ("set") stores ``num`` whatever the current value."""
        now = int(_clock())
        with self._lock:
            result = self._increment_double(key, num, orig, xt, now)
            self._tick(_SCORE_WRITE, now)
            return result

    def _increment_double(self, key: bytes, num: float, orig: float, xt: int,
                          now: int) -> float:
        current = self._visible(key, now)
        set_mode = math.isinf(orig) and orig > 0
        if current is not None:
            if len(current) != 16:
                return math.nan
            if set_mode:
                linteg = 0
                lfract = 0
            else:
                pair: Tuple[int, int] = _I64x2.unpack(current)
                linteg, lfract = pair
            if lfract == INT64_MIN and linteg == INT64_MIN:
                return math.nan
            if linteg == INT64_MAX:
                return math.inf
            if linteg == INT64_MIN:
                return -math.inf
            if num == 0.0 and not set_mode:
                return linteg + lfract / _DECUNIT
            if math.isnan(num):
                linteg = INT64_MIN
                lfract = INT64_MIN
                result = math.nan
            elif math.isinf(num):
                linteg = INT64_MAX if num > 0 else INT64_MIN
                lfract = 0
                result = num
            else:
                dfract, dinteg = math.modf(num)
                linteg = _wrap64(linteg + _to_int64(dinteg))
                lfract = _wrap64(lfract + _fract_units(dfract))
                if lfract >= _DECUNIT:
                    linteg = _wrap64(linteg + 1)
                    lfract -= _DECUNIT
                result = linteg + lfract / _DECUNIT
        else:
            if math.isnan(orig) or (math.isinf(orig) and orig < 0):
                return math.nan
            if not math.isinf(orig):
                num += orig
            result = num
            if math.isnan(num):
                linteg = INT64_MIN
                lfract = INT64_MIN
            elif math.isinf(num):
                linteg = INT64_MAX if num > 0 else INT64_MIN
                lfract = 0
            else:
                dfract, dinteg = math.modf(num)
                linteg = _to_int64(dinteg)
                lfract = _fract_units(dfract)
        self._store(key, _I64x2.pack(linteg, lfract), absolute_xt(xt, now))
        return result

    # -- bulk operations ----------------------------------------------------------

    def fetch(self, keys: List[bytes], start: int, end: int, out_keys: List[bytes],
              out_values: List[bytes], out_xts: List[int]) -> int:
        """Append the visible records among ``keys[start:end]`` to the
        three lists (key, value, absolute xt); returns how many were
        missing.  One lock and one clock reading for the whole batch (the
        binary get_bulk's hot path)."""
        now = int(_clock())
        misses = 0
        self._acquire()
        try:
            data = self.records.data
            xts = self.xts
            if xts:
                for i in range(start, end):
                    key = keys[i]
                    value = data.get(key)
                    if value is None:
                        misses += 1
                        continue
                    xt = xts.get(key, XT_MAX)
                    if now > xt:
                        misses += 1
                        continue
                    out_keys.append(key)
                    out_values.append(value)
                    out_xts.append(xt)
            else:
                # no record expires: every found one has XT_MAX, added at once
                for i in range(start, end):
                    key = keys[i]
                    value = data.get(key)
                    if value is None:
                        misses += 1
                        continue
                    out_keys.append(key)
                    out_values.append(value)
                out_xts.extend([XT_MAX] * (end - start - misses))
            for _ in range(start, end):
                self._tick(_SCORE_READ, now)
        finally:
            self._release()
        return misses

    def store(self, keys: List[bytes], values: List[bytes], xts: List[int], start: int,
              end: int) -> None:
        """Set ``keys[i]`` to ``values[i]`` with expiration ``xts[i]`` (Kyoto
        Tycoon's reading of xt) for i in [start, end), under one lock (the
        binary set_bulk's hot path)."""
        self._store_range(keys, values, xts, start, end, False)

    def _store_range(self, keys: List[bytes], values: List[bytes], xts: List[int], start: int,
                     end: int, atomic: bool) -> None:
        now = int(_clock())
        self._acquire()
        try:
            journal = self.journal
            if journal is None or end - start == 1:
                self._put_range(keys, values, xts, start, end, now, atomic)
            else:
                with Batch(journal):
                    self._put_range(keys, values, xts, start, end, now, atomic)
            self._dirty = True
        finally:
            self._release()

    def _put_range(self, keys: List[bytes], values: List[bytes], xts: List[int], start: int,
                   end: int, now: int, atomic: bool) -> None:
        """The records of _store_range, each with an expiration tick (one
        for all of them when ``atomic``), as ktserver counts them."""
        records = self.records
        fast = self.journal is None and self.ulog is None
        for i in range(start, end):
            xt = xts[i]
            if xt > XT_MAX and fast and not self.xts:
                records.put(keys[i], values[i])
            else:
                self._store(keys[i], values[i], absolute_xt(xt, now))
            if not atomic:
                self._tick(_SCORE_WRITE, now)
        if atomic:
            self._tick(_SCORE_WRITE, now)

    def discard(self, keys: List[bytes], start: int, end: int) -> int:
        """Remove ``keys[start:end]``; returns how many visible records were
        removed (expired ones are purged without counting)."""
        return self._discard(keys, start, end, False)

    def _discard(self, keys: List[bytes], start: int, end: int, atomic: bool) -> int:
        now = int(_clock())
        self._acquire()
        try:
            journal = self.journal
            if journal is None or end - start == 1:
                hits = self._remove_range(keys, start, end, now, atomic)
            else:
                with Batch(journal):
                    hits = self._remove_range(keys, start, end, now, atomic)
        finally:
            self._release()
        return hits

    def _remove_range(self, keys: List[bytes], start: int, end: int, now: int,
                      atomic: bool) -> int:
        hits = 0
        data = self.records.data
        for i in range(start, end):
            key = keys[i]
            if key in data:
                if self._visible(key, now) is not None:
                    hits += 1
                self._delete(key)
            if not atomic:
                self._tick(_SCORE_WRITE, now)
        if atomic:
            self._tick(_SCORE_WRITE, now)
        return hits

    def set_bulk(self, items: List[Tuple[bytes, bytes]], xt: int = INT64_MAX,
                 atomic: bool = False) -> int:
        """Store ``items``: one expiration tick for all of them when
        ``atomic`` (ktserver's accept_bulk), else one each."""
        n = len(items)
        self._store_range([k for k, _ in items], [v for _, v in items], [xt] * n, 0, n, atomic)
        return n

    def remove_bulk(self, keys: List[bytes], atomic: bool = False) -> int:
        """Remove ``keys``; returns how many visible records were removed
        (one expiration tick for all of them when ``atomic``)."""
        return self._discard(keys, 0, len(keys), atomic)

    def get_bulk(self, keys: List[bytes], atomic: bool = False) -> Dict[bytes, bytes]:
        now = int(_clock())
        out: Dict[bytes, bytes] = {}
        with self._lock:
            for key in keys:
                value = self._visible(key, now)
                if value is not None:
                    out[key] = value
                if not atomic:
                    self._tick(_SCORE_READ, now)
            if atomic:
                self._tick(_SCORE_READ, now)
        return out

    # -- whole database -------------------------------------------------------

    def count(self) -> int:
        """Number of records, expired ones not purged yet included."""
        return len(self.records.data)

    def size(self) -> int:
        """Approximate size in bytes: keys, values and 16 bytes a record."""
        with self._lock:
            total = 0
            for key, value in self.records.data.items():
                total += len(key) + len(value) + 16
            return total

    def clear(self) -> None:
        with self._lock:
            self._wipe()

    def _wipe(self) -> None:
        self.records.clear()
        self.xts = {}
        self._heap = []
        self._xkey = None
        self.epoch += 1
        self._dirty = True
        if self.journal is not None:
            self.journal.append(encode(OP_CLEAR, []))
        if self.ulog is not None:
            self.ulog.log_clear()

    def apply_change(self, op: str, key: bytes, value: bytes, xt: int, origin: int) -> None:
        """Apply a change read from a master's update log (a replication
        slave, kt.server.kyoto.replication): "set" (``xt`` absolute),
        "remove" or "clear"; it goes to this server's own update log as a
        change of server ``origin``, as ktserver's slave logs it."""
        with self._lock:
            ulog = self.ulog
            if ulog is not None:
                ulog.origin = origin
            try:
                if op == "set":
                    self._store(key, value, xt)
                elif op == "remove":
                    if key in self.records.data:
                        self._delete(key)
                    elif ulog is not None:
                        ulog.log_remove(key)
                elif op == "clear":
                    self._wipe()
            finally:
                if ulog is not None:
                    ulog.origin = -1

    def vacuum(self, step: int = 0) -> int:
        """Purge expired records: all of them when ``step`` <= 1, else
        account ``step`` units of expiration work (as ktserver does, a tree
        database's expiration cursor then visits that many records once
        enough work accumulated).  Returns how many were purged."""
        now = int(_clock())
        with self._lock:
            if step > 1:
                before = len(self.records.data)
                if self.ordered:
                    self._tick(step * _SCORE_UNIT, now)
                    return before - len(self.records.data)
                return self._expire(step, now)
            expired = [k for k, xt in self.xts.items() if now > xt]
            for key in expired:
                self._delete(key, False)
            self._heap = [(xt, k) for k, xt in self.xts.items()]
            heapq.heapify(self._heap)
            self._score = 0
            self._xkey = self.records.first() if self.ordered else None
            return len(expired)

    def items(self) -> List[Tuple[bytes, bytes, int]]:
        """Every record (expired ones included) as (key, value, xt), in
        key order."""
        with self._lock:
            data = self.records.data
            xts = self.xts
            return [(k, data[k], xts.get(k, XT_MAX)) for k in self.records.live_keys()]

    def load(self, items: List[Tuple[bytes, bytes, int]]) -> None:
        """Replace the contents with ``items`` (key, value, absolute xt)."""
        with self._lock:
            self.records.clear()
            self.xts = {}
            self._heap = []
            for key, value, xt in items:
                self._store(key, value, XT_MAX if xt >= XT_MAX else xt)
            self._xkey = self.records.first() if self.ordered else None
            self._dirty = False

    def synchronize(self, hard: bool = False) -> bool:
        """Write a file database to its file (no-op for the others).
        Returns False when it wrote nothing because nothing changed.
        Raises DBError (SYSTEM) when the file cannot be written."""
        file = self.file
        if file is None:
            return True
        with self._sync_lock:
            self._write_snapshot(file, hard)
        return True

    def _write_snapshot(self, file: str, hard: bool) -> None:
        with self._lock:
            data = self.records.data
            xts = self.xts
            items = [(k, data[k], xts.get(k, XT_MAX)) for k in self.records.live_keys()]
            self._dirty = False
            mark = self.journal.mark() if self.journal is not None else 0
        try:
            # A journal is emptied below: the snapshot must be on the device.
            self._snapshot_size = save_records(file, self.type, items,
                                               hard or self.journal is not None)
            with self._lock:
                if self.journal is not None:
                    # The snapshot holds every record before the mark.
                    self.journal.drop_before(mark)
        except OSError as exc:
            with self._lock:
                self._dirty = True
            raise DBError(E_SYSTEM, "writing %s failed: %s" % (file, exc)) from None

    def sync_journal(self) -> None:
        """fsync the journal's latest records (``-asi``, shutdown)."""
        with self._lock:
            if self.journal is not None:
                self.journal.sync()

    def compaction_due(self) -> bool:
        """Whether the journal has outgrown the snapshot (then
        ``synchronize`` folds it in)."""
        journal = self.journal
        return journal is not None and journal.due(self._snapshot_size)

    def close_journal(self) -> None:
        with self._lock:
            if self.journal is not None:
                self.journal.close()
                self.journal = None

    def replay(self, records: List[Tuple[int, List[bytes]]]) -> None:
        """Apply journal records (kt.server.journal) read at startup."""
        with self._lock:
            for op, fields in records:
                if op == OP_SET and len(fields) == 3 and len(fields[2]) == 8:
                    self._store(fields[0], fields[1], _U64.unpack(fields[2])[0])
                elif op == OP_REMOVE and len(fields) == 1:
                    if fields[0] in self.records.data:
                        self._delete(fields[0])
                elif op == OP_CLEAR:
                    self.records.clear()
                    self.xts = {}
                    self._heap = []
                else:
                    raise DBError(E_BROKEN, "%s.journal: an unknown record (op %d)"
                                  % (self.file, op))

    @property
    def dirty(self) -> bool:
        """Whether a file database has changes not written yet."""
        return self._dirty and self.file is not None

    def status(self) -> Dict[str, str]:
        """ktserver's status fields that make sense here."""
        out: Dict[str, str] = {
            "count": "%d" % self.count(),
            "size": "%d" % self.size(),
            "path": self.path,
            "type": "%d" % self.type,
            "realtype": "%d" % self.type,
            "ktopts": "0",
            "ktcapcnt": "-1",
            "ktcapsiz": "-1",
        }
        if self.ordered:
            out["rcomp"] = "lexical"
        if self.file is not None:
            try:
                out["realsize"] = "%d" % os.path.getsize(self.file)
            except OSError:
                out["realsize"] = "0"
        return out

    # -- scans ----------------------------------------------------------------------

    def match_prefix(self, prefix: bytes, limit: int = -1) -> List[bytes]:
        """Keys starting with ``prefix`` (expired ones included)."""
        with self._lock:
            return self.records.prefixed(prefix, limit)

    def match_regex(self, pattern: bytes, limit: int = -1) -> List[bytes]:
        """Keys matching a POSIX extended regular expression (see
        kt.server.ere).  DBError (LOGIC "compilation failed") for a bad
        pattern."""
        try:
            compiled = compile_ere(pattern)
        except EREError:
            raise DBError(E_LOGIC, "compilation failed") from None
        out: List[bytes] = []
        if limit == 0:
            return out
        with self._lock:
            keys = self.records.live_keys()
        search = compiled.search
        for key in keys:
            nul = key.find(b"\x00")
            if search(key if nul < 0 else key[:nul]) is not None:
                out.append(key)
                if len(out) == limit:
                    break
        return out

    def match_similar(self, origin: bytes, distance: int, utf: bool,
                      limit: int = -1) -> List[bytes]:
        """Keys within Levenshtein ``distance`` of ``origin`` (in bytes, or
        in characters with ``utf``), nearest first, then in byte order."""
        if limit == 0:
            return []
        with self._lock:
            keys = self.records.live_keys()
        found: List[Tuple[int, bytes]] = []
        if utf:
            nul = origin.find(b"\x00")
            ocodes = _utf8_codes(origin if nul < 0 else origin[:nul])
        else:
            ocodes = list(origin)
        for key in keys:
            # Byte mode compares bytes, utf mode code points: both as lists
            # of ints, so that one edit-distance routine serves both.
            kcodes = _utf8_codes(key) if utf else list(key)
            if abs(len(ocodes) - len(kcodes)) > distance:
                continue
            d = _levenshtein(ocodes, kcodes, distance)
            if d <= distance:
                found.append((d, key))
        found.sort()
        if limit > 0 and len(found) > limit:
            found = found[:limit]
        return [k for _, k in found]

    def cursor(self) -> "Cursor":
        return Cursor(self)


def _levenshtein(a: List[int], b: List[int], bound: int) -> int:
    """Edit distance of two sequences of bytes or code points (stops early
    once every path is past ``bound``)."""
    if a == b:
        return 0
    if not a:
        return len(b)
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        ca = a[i - 1]
        cur = [i] + [0] * len(b)
        best = i
        for j in range(1, len(b) + 1):
            cost = 0 if ca == b[j - 1] else 1
            v = prev[j - 1] + cost
            x = prev[j] + 1
            if x < v:
                v = x
            x = cur[j - 1] + 1
            if x < v:
                v = x
            cur[j] = v
            if v < best:
                best = v
        if best > bound:
            return best
        prev = cur
    return prev[len(b)]


def _utf8_codes(data: bytes) -> List[int]:
    """Code points of UTF-8 ``data`` decoded the way Kyoto Cabinet does
    (invalid or overlong sequences are skipped, never an error)."""
    out: List[int] = []
    n = len(data)
    i = 0
    while i < n:
        c = data[i]
        if c < 0x80:
            out.append(c)
        elif c < 0xE0:
            if i + 1 < n and data[i + 1] != 0:
                c = ((c & 0x1F) << 6) | (data[i + 1] & 0x3F)
                if c >= 0x80:
                    out.append(c)
                i += 1
        elif c < 0xF0:
            if i + 2 < n and data[i + 1] != 0 and data[i + 2] != 0:
                c = ((c & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
                if c >= 0x800:
                    out.append(c)
                i += 2
        elif c < 0xF8:
            if i + 3 < n and data[i + 1] != 0 and data[i + 2] != 0 and data[i + 3] != 0:
                c = (((c & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12)
                     | ((data[i + 2] & 0x3F) << 6) | (data[i + 3] & 0x3F))
                if c >= 0x10000:
                    out.append(c)
                i += 3
        i += 1
    return out


@final
class Cursor:
    """A cursor of a Database: a position (a key) and a direction.

    Methods return False / None when the cursor does not point at a
    record (Kyoto Cabinet's NOREC); ``jump_back`` and ``step_back`` raise
    DBError (NOIMPL) on hash-type databases.  A record removed or expired
    under the cursor makes it move on to the next live record in its
    direction.  On the B+ tree types (``%``, ``.kct``, ``.kcf``), after
    ``jump_back``/``step_back`` the direction is backward: ``step=True``
    reads and ``remove`` then move to the previous record, as in Kyoto
    Cabinet; the other types always move forward.
    """

    db: Database
    key: Optional[bytes]
    back: bool
    epoch: int

    def __init__(self, db: Database) -> None:
        self.db = db
        self.key = None
        self.back = False
        self.epoch = db.epoch

    def _next(self, key: bytes, forward: bool, inclusive: bool) -> Optional[bytes]:
        """The next record from ``key`` in the given direction, expired or
        not (Kyoto Cabinet's cursor under TimedDB moves over every record;
        reads skip the expired ones)."""
        records = self.db.records
        if forward:
            return records.ceiling(key) if inclusive else records.higher(key)
        return records.floor(key) if inclusive else records.lower(key)

    def _forward(self) -> bool:
        return not (self.back and self.db.directed)

    def _current(self) -> Optional[bytes]:
        """The record under the cursor; if it was removed, the one after its
        key (in key order, even for a cursor moving backward: Kyoto
        Cabinet looks the key up again)."""
        key = self.key
        if self.epoch != self.db.epoch:
            self.key = key = None  # the database was cleared
        if key is None or key in self.db.records.data:
            return key
        key = self._next(key, True, False)
        self.key = key
        return key

    def _live(self, now: int) -> Optional[bytes]:
        """Move over expired records to the first live one (TimedDB's
        cursor accept); None (and the cursor off) when there is none."""
        db = self.db
        key = self._current()
        forward = self._forward()
        while key is not None and db._visible(key, now) is None:
            key = self._next(key, forward, False)
        self.key = key
        return key

    def jump(self, key: Optional[bytes] = None) -> bool:
        """To the first record, or to ``key`` (tree types: the first record
        at or after it; hash types: exactly it).  Expired records count:
        ktserver's jump succeeds on them and the next read skips them."""
        db = self.db
        with db._lock:
            self.back = False
            self.epoch = db.epoch
            records = db.records
            if key is None:
                self.key = records.first()
            elif db.ordered:
                self.key = records.ceiling(key)
            else:
                self.key = key if key in records.data else None
            return self.key is not None

    def jump_back(self, key: Optional[bytes] = None) -> bool:
        """To the last record, or to the last record at or before ``key``."""
        db = self.db
        if not db.ordered:
            raise DBError(E_NOIMPL, "not implemented")
        with db._lock:
            self.back = True
            self.epoch = db.epoch
            self.key = db.records.last() if key is None else db.records.floor(key)
            return self.key is not None

    def step(self) -> bool:
        return self._step(True)

    def step_back(self) -> bool:
        if not self.db.ordered:
            raise DBError(E_NOIMPL, "not implemented")
        return self._step(False)

    def _step(self, forward: bool) -> bool:
        """One record on from the cursor's record (see below for a record
        that went away)."""
        with self.db._lock:
            # forward: from the record the key lookup finds, one step on;
            # backward: to the record before the key, whether it is still
            # there or not
            key = self._current() if forward else self.key
            if self.epoch != self.db.epoch:
                key = None
            self.back = not forward
            if key is None:
                self.key = None
                return False
            self.key = self._next(key, forward, False)
            return self.key is not None

    def _record(self, score: int, move: bool, remove: bool) -> Optional[Tuple[bytes, bytes, int]]:
        """(key, value, xt) of the current live record; removed if
        ``remove``, then the cursor moves on if ``move``.  With the lock
        held; the expiration tick comes after the access, as in ktserver."""
        db = self.db
        now = int(_clock())
        key = self._live(now)
        found: Optional[Tuple[bytes, bytes, int]] = None
        if key is not None:
            found = key, db.records.data[key], db._xt_of(key)
            if remove:
                db._delete(key)
            if move:
                self.key = self._next(key, self._forward(), False)
        db._tick(score, now)
        return found

    def get(self, step: bool = False) -> Optional[Tuple[bytes, bytes, int]]:
        """(key, value, xt) of the current record; then move on if ``step``."""
        with self.db._lock:
            return self._record(_SCORE_READ, step, False)

    def set_value(self, value: bytes, xt: int = INT64_MAX, step: bool = False) -> bool:
        db = self.db
        with db._lock:
            now = int(_clock())
            key = self._live(now)
            if key is not None:
                db._store(key, value, absolute_xt(xt, now))
                if step:
                    self.key = self._next(key, self._forward(), False)
            db._tick(_SCORE_WRITE, now)
            return key is not None

    def remove(self) -> bool:
        """Remove the current record; the cursor moves to the next one."""
        with self.db._lock:
            return self._record(_SCORE_WRITE, True, True) is not None

    def seize(self) -> Optional[Tuple[bytes, bytes, int]]:
        """(key, value, xt) of the current record, removing it."""
        with self.db._lock:
            return self._record(_SCORE_WRITE, True, True)


def open_database(spec: str, directory: Optional[str] = None,
                  sync_mode: int = SYNC_NONE) -> Database:
    """Open (creating or loading its file) the database a ktserver-style
    argument names.  Relative file paths are resolved against
    ``directory`` (default: the current directory).  Raises ValueError for
    an unknown type and DBError when the file cannot be read or created.

    A file database replays its journal (``FILE.journal``, see
    kt.server.journal) over its snapshot, folds it into the snapshot, and
    journals every later change in ``sync_mode``."""
    parsed = parse_db_spec(spec)
    file: Optional[str] = None
    if parsed.kind >= TYPE_HASH:
        file = parsed.path
        if directory is not None and not os.path.isabs(file):
            file = os.path.join(directory, file)
    db = Database(parsed.path, parsed.kind, file, parsed.options)
    if file is not None:
        if os.path.exists(file):
            if os.path.isdir(file):
                raise DBError(E_INVALID, "%s is a directory (Kyoto Cabinet's directory "
                                         "databases are not readable by the built-in "
                                         "server)" % file)
            try:
                _, items = load_records(file)
            except OSError as exc:
                raise DBError(E_SYSTEM, "reading %s failed: %s" % (file, exc)) from None
            except SnapshotError as exc:
                raise DBError(E_BROKEN, str(exc)) from None
            db.load(items)
        else:
            try:
                save_records(file, parsed.kind, [], False)
            except OSError as exc:
                raise DBError(E_SYSTEM, "creating %s failed: %s" % (file, exc)) from None
        _open_journal(db, file, sync_mode)
    return db


#: Warnings of the last ``open_database`` calls (a torn journal record),
#: for the server to log.
open_warnings: List[str] = []


def _open_journal(db: Database, file: str, sync_mode: int) -> None:
    path = file + ".journal"
    try:
        db._snapshot_size = os.path.getsize(file)
        records, warning = read_journal(path)
    except OSError as exc:
        raise DBError(E_SYSTEM, "reading %s failed: %s" % (path, exc)) from None
    except SnapshotError as exc:
        raise DBError(E_BROKEN, str(exc)) from None
    if warning is not None:
        open_warnings.append(warning)
    try:
        if records or warning is not None:
            db.replay(records)
            db._snapshot_size = save_records(file, db.type, db.items(), True)
            os.remove(path)
        db.journal = Journal(path, sync_mode)
    except OSError as exc:
        raise DBError(E_SYSTEM, "writing %s failed: %s" % (path, exc)) from None
    db._dirty = False
