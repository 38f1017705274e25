"""Tokyo Tyrant request handling: ttserver 1.1.41's binary protocol, with
ttserver's status bytes and reply layouts, answered from
kt.server.tyrant.storage / kt.server.tyrant.table databases.

Who calls it: kt.server.tyrant.cli builds one ``TyrantEngine`` (the
database, its lock, the ext functions, the counters) and hands every
connection a ``TyrantSession``, whose ``process`` turns the bytes received
so far into replies.  No sockets here: the connection loop is
kt.server.net.  Requests are dispatched by a table of command codes; each
session counts its commands in its own list (kt.server.stats), so ``stat``
is exact under any number of connections.
"""

from __future__ import annotations

import math
import os
import struct
import sys
import threading
import time
from typing import Callable, Dict, Final, List, Optional, Tuple

from kt.errors import ProtocolError
from kt.protocol import tt_binary as tb
from kt.protocol.buffer import ReceiveBuffer
from kt.server.log import Logger
from kt.server.net import Session
from kt.server.stats import CounterBoard, memory_usage
from kt.server.tyrant.scripting import ExtHost
from kt.server.tyrant.storage import Database, StorageError

__all__ = ["TyrantEngine", "TyrantSession", "COUNTERS", "VERSION"]

VERSION: Final = "1.1.41"
LIBVER: Final = "324"
PROTVER: Final = "0.91"

_REP_DBL: Final = struct.Struct(">Bqq")
_I64_MIN: Final = -(1 << 63)
_OK: Final = b"\x00"
_FAIL: Final = b"\x01"

COUNTERS: Final = (
    "put", "putkeep", "putcat", "putshl", "putnr", "out", "get", "mget", "vsiz",
    "iterinit", "iternext", "fwmkeys", "addint", "adddouble", "ext", "sync", "optimize",
    "vanish", "copy", "restore", "setmst", "rnum", "size", "stat", "misc", "repl",
    "put_miss", "out_miss", "get_miss",
)
_INDEX = {name: i for i, name in enumerate(COUNTERS)}
_PUT_MISS: Final = _INDEX["put_miss"]
_OUT_MISS: Final = _INDEX["out_miss"]
_GET_MISS: Final = _INDEX["get_miss"]
_C_GET: Final = _INDEX[tb.COMMAND_NAMES[tb.CMD_GET]]
_C_PUT: Final = _INDEX[tb.COMMAND_NAMES[tb.CMD_PUT]]


def _adddouble_reply(total: float) -> bytes:
    """[0][integral][fraction]; an integral part beyond 64 bits is sent as
    x86's conversion of it (INT64_MIN), like ttserver."""
    if math.isfinite(total) and abs(total) >= 9223372036854775808.0:
        return _REP_DBL.pack(0, _I64_MIN, 0)
    return tb.encode_adddouble_reply(total)


def _cstr(value: bytes) -> bytes:
    """``value`` up to its first NUL byte (what ttserver's C strings see)."""
    return value.split(b"\x00", 1)[0]


class TyrantEngine:
    """What every connection of one server shares."""

    def __init__(self, db: Database, logger: Logger, sid: int = 0) -> None:
        self.db = db
        self.logger = logger
        self.sid = sid
        self.lock = threading.RLock()
        self.board = CounterBoard(len(COUNTERS))
        self.started = time.time()
        self.ext = ExtHost(db, self.lock, logger)
        self.master: Tuple[str, int, int] = ("", 0, 0)

    def session(self, peer: str) -> "TyrantSession":
        return TyrantSession(self, peer)

    def stat(self) -> Dict[str, str]:
        """ttserver's stat fields (called with the lock held)."""
        db = self.db
        now = time.time()
        stats: Dict[str, str] = {
            "version": VERSION,
            "libver": LIBVER,
            "protver": PROTVER,
            "os": os.uname().sysname if hasattr(os, "uname") else sys.platform,
            "time": "%.6f" % now,
            "pid": str(os.getpid()),
            "sid": str(self.sid),
            "type": db.type_name,
            "path": db.path,
            "rnum": str(db.rnum()),
            "size": str(db.size()),
            "bigend": "1" if sys.byteorder == "big" else "0",
            # ttserver: the connection's socket descriptor; here the number
            # of descriptors the process holds (a figure of the same kind)
            "fd": str(_open_descriptors()),
        }
        host, port, rts = self.master
        if host:
            stats["mhost"] = host
            stats["mport"] = str(port)
            stats["rts"] = str(rts)
            stats["delay"] = "%.6f" % max(0.0, now - rts / 1e6)
        try:
            stats["loadavg"] = "%.6f" % os.getloadavg()[0]
        except OSError:
            pass
        size, rss = memory_usage()
        if rss >= 0:
            stats["memsize"] = str(size)
            stats["memrss"] = str(rss)
        times = os.times()
        stats["ru_user"] = "%.6f" % times.user
        stats["ru_sys"] = "%.6f" % times.system
        stats["ru_real"] = "%.6f" % (now - self.started)
        counts = self.board.totals()
        for i, name in enumerate(COUNTERS):
            stats["cnt_" + name] = str(counts[i])
        return stats


Handler = Callable[["TyrantSession", tb.TTRequest], Optional[bytes]]


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


class TyrantSession(Session):
    """One connection: its parser, its counters; answers as ttserver."""

    def __init__(self, engine: TyrantEngine, peer: str) -> None:
        # ``takeover`` and ``deferred`` (kt.server.net.Session); a deferred
        # request is kept in ``_held`` for the next call.
        super().__init__()
        self.engine = engine
        self._held: Optional[tb.TTRequest] = None
        self.peer = peer
        self.db = engine.db
        self.lock = engine.lock
        # the lock's methods bound once, for the hot paths (get, mget, put,
        # out): a fraction of what a ``with`` block costs in compiled code
        self._acquire: Callable[[], bool] = engine.lock.acquire
        self._release: Callable[[], None] = engine.lock.release
        self.parser = tb.RequestParser()
        self.counts = engine.board.register()

    def close(self) -> None:
        self.engine.board.retire(self.counts)

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        """Answer every complete request in ``buf``; returns the replies
        and whether to close the connection after sending them."""
        out: List[bytes] = []
        # (the parser's method is called on it each time: a bound method
        # kept in a local is a generic call in compiled code)
        parser = self.parser
        handlers = _HANDLERS
        counts = self.counts
        # Requests that may block stop the call (``deferred``) unless it
        # is the one serving such a request, off the event loop.
        hold = not self.deferred
        req: Optional[tb.TTRequest] = self._held
        self.deferred = False
        self._held = None
        while True:
            if req is None:
                try:
                    req = parser.parse(buf)
                except ProtocolError as exc:
                    self.engine.logger.info("(%s): bad request, closing the connection: %s"
                                            % (self.peer, exc))
                    return out, True
                if req is None:
                    return out, False
                if hold and req.cmd in _MAY_BLOCK:
                    self._held = req
                    self.deferred = True
                    return out, False
            cmd = req.cmd
            reply: Optional[bytes]
            # the commonest commands called directly, the others by table
            if cmd == tb.CMD_GET:
                counts[_C_GET] += 1
                reply = self.do_get(req)
            elif cmd == tb.CMD_PUT:
                counts[_C_PUT] += 1
                reply = self.do_put(req)
            else:
                entry = handlers.get(cmd)
                if entry is None:
                    reply = self.do_management(req, "?")
                else:
                    counts[entry[0]] += 1
                    reply = entry[1](self, req)
            if reply is not None:
                out.append(reply)
            req = None

    # -- records ---------------------------------------------------------------
    def do_get(self, req: tb.TTRequest) -> Optional[bytes]:
        self._acquire()
        try:
            value = self.db.get(req.key)
        finally:
            self._release()
        if value is None:
            self.counts[_GET_MISS] += 1
            return _FAIL
        return tb.encode_value_reply(value)

    def do_mget(self, req: tb.TTRequest) -> Optional[bytes]:
        records: List[Tuple[bytes, bytes]] = []
        self._acquire()
        try:
            db = self.db
            for key in req.keys:
                value = db.get(key)
                if value is not None:
                    records.append((key, value))
        finally:
            self._release()
        return tb.encode_mget_reply(records)

    def _status(self, ok: bool, miss: int = _PUT_MISS) -> bytes:
        """The status byte of a write; a failure also counts a miss."""
        if ok:
            return _OK
        self.counts[miss] += 1
        return _FAIL

    def do_put(self, req: tb.TTRequest) -> Optional[bytes]:
        self._acquire()
        try:
            ok = self.db.put(req.key, req.value)
        finally:
            self._release()
        return self._status(ok)

    def do_putkeep(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            return self._status(self.db.putkeep(req.key, req.value))

    def do_putcat(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            return self._status(self.db.putcat(req.key, req.value))

    def do_putshl(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            return self._status(self.db.putshl(req.key, req.value, req.width))

    def do_putnr(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            self._status(self.db.put(req.key, req.value))
        return None

    def do_out(self, req: tb.TTRequest) -> Optional[bytes]:
        self._acquire()
        try:
            ok = self.db.out(req.key)
        finally:
            self._release()
        return self._status(ok, _OUT_MISS)

    def do_vsiz(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            size = self.db.vsiz(req.key)
        return _FAIL if size < 0 else tb.encode_vsiz_reply(size)

    def do_iterinit(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            return _OK if self.db.iterinit() else _FAIL

    def do_iternext(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            key = self.db.iternext()
        return _FAIL if key is None else tb.encode_value_reply(key)

    def do_fwmkeys(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            keys = self.db.fwmkeys(req.prefix, req.max)
        return tb.encode_fwmkeys_reply(keys)

    def do_addint(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            total = self.db.addint(req.key, req.num)
        return _FAIL if total is None else tb.encode_addint_reply(total)

    def do_adddouble(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            total = self.db.adddouble(req.key, req.as_double())
        return _FAIL if total is None else _adddouble_reply(total)

    def do_ext(self, req: tb.TTRequest) -> Optional[bytes]:
        result = self.engine.ext.call(req.name, req.opts, req.key, req.value)
        return _FAIL if result is None else tb.encode_value_reply(result)

    def do_misc(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            elements = self.db.misc(_cstr(req.name), req.args)
        if elements is None:
            return tb.encode_misc_failure()
        return tb.encode_misc_reply(elements)

    def do_rnum(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            return tb.encode_u64_reply(self.db.rnum())

    def do_size(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            return tb.encode_u64_reply(self.db.size())

    def do_stat(self, req: tb.TTRequest) -> Optional[bytes]:
        with self.lock:
            stats = self.engine.stat()
        return tb.encode_stat_reply(stats)

    # -- management --------------------------------------------------------------
    def do_management(self, req: tb.TTRequest, name: str) -> bytes:
        """sync, optimize, vanish, copy, restore, setmst (and unknown
        commands, which fail): logged, and run under the lock."""
        engine = self.engine
        engine.logger.info("(%s): doing %s command" % (self.peer, name))
        cmd = req.cmd
        db = self.db
        ok = False
        try:
            with self.lock:
                if cmd == tb.CMD_SYNC:
                    ok = db.sync()
                elif cmd == tb.CMD_OPTIMIZE:
                    ok = db.optimize(_cstr(req.params))
                elif cmd == tb.CMD_VANISH:
                    ok = db.vanish()
                elif cmd == tb.CMD_COPY:
                    ok = db.copy(os.fsdecode(_cstr(req.path)))
                elif cmd == tb.CMD_RESTORE:
                    ok = self._restore(os.fsdecode(_cstr(req.path)))
                elif cmd == tb.CMD_SETMST:
                    ok = self._setmst(req)
        except (OSError, StorageError) as exc:
            engine.logger.error("(%s): %s failed: %s" % (self.peer, name, exc))
            ok = False
        if not ok:
            engine.logger.error("(%s): %s: operation failed" % (self.peer, name))
        return _OK if ok else _FAIL

    def _setmst(self, req: tb.TTRequest) -> bool:
        host = _cstr(req.host).decode("utf-8", "replace")
        self.engine.master = (host, req.port, req.ts)
        if host:
            self.engine.logger.info("replication from %s:%d is not supported by the built-in "
                                    "server; the master is only recorded" % (host, req.port))
        return True

    def _restore(self, path: str) -> bool:
        """ttserver replays the update logs in a directory.  This server
        writes no update logs and cannot read ttserver's: an existing
        directory without ``*.ulog`` files restores nothing and succeeds,
        anything else fails."""
        if not os.path.isdir(path):
            return False
        try:
            names = os.listdir(path)
        except OSError:
            return False
        if any(n.endswith(".ulog") for n in names):
            self.engine.logger.error("restore: %s holds update logs, which the built-in "
                                     "server cannot replay" % path)
            return False
        return True


def _management(name: str) -> Handler:
    def handler(session: TyrantSession, req: tb.TTRequest) -> Optional[bytes]:
        return session.do_management(req, name)
    return handler


def _handlers() -> Dict[int, Tuple[int, Handler]]:
    """Command code -> (counter index, handler)."""
    simple: Dict[int, Handler] = {
        tb.CMD_GET: TyrantSession.do_get, tb.CMD_MGET: TyrantSession.do_mget,
        tb.CMD_PUT: TyrantSession.do_put, tb.CMD_PUTKEEP: TyrantSession.do_putkeep,
        tb.CMD_PUTCAT: TyrantSession.do_putcat, tb.CMD_PUTSHL: TyrantSession.do_putshl,
        tb.CMD_PUTNR: TyrantSession.do_putnr, tb.CMD_OUT: TyrantSession.do_out,
        tb.CMD_VSIZ: TyrantSession.do_vsiz, tb.CMD_ITERINIT: TyrantSession.do_iterinit,
        tb.CMD_ITERNEXT: TyrantSession.do_iternext, tb.CMD_FWMKEYS: TyrantSession.do_fwmkeys,
        tb.CMD_ADDINT: TyrantSession.do_addint, tb.CMD_ADDDOUBLE: TyrantSession.do_adddouble,
        tb.CMD_EXT: TyrantSession.do_ext, tb.CMD_MISC: TyrantSession.do_misc,
        tb.CMD_RNUM: TyrantSession.do_rnum, tb.CMD_SIZE: TyrantSession.do_size,
        tb.CMD_STAT: TyrantSession.do_stat,
    }
    for cmd in (tb.CMD_SYNC, tb.CMD_OPTIMIZE, tb.CMD_VANISH, tb.CMD_COPY, tb.CMD_RESTORE,
                tb.CMD_SETMST):
        simple[cmd] = _management(tb.COMMAND_NAMES[cmd])
    return {cmd: (_INDEX[tb.COMMAND_NAMES[cmd]], fn) for cmd, fn in simple.items()}


_HANDLERS: Final[Dict[int, Tuple[int, Handler]]] = _handlers()
#: Commands that may block or run long (scripts, file copies): they run
#: off the event loop (kt.server.loop).
_MAY_BLOCK: Final = frozenset([tb.CMD_EXT, tb.CMD_SYNC, tb.CMD_OPTIMIZE, tb.CMD_COPY, tb.CMD_RESTORE])
