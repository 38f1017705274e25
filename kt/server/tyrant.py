"""The built-in Tokyo Tyrant server: ``python -m kt.server tyrant``.

Who calls it: kt.server.__main__ (``main``), kt.embedded and the test
suite (as a subprocess).  It speaks ttserver 1.1.41's binary protocol, with
ttserver's status bytes and reply layouts, over the storage engines of
kt.server.tt_storage and kt.server.tt_table.

    python -m kt.server tyrant [-host H] [-port P] [-ext FILE.py] [-log FILE]
                              [-ld | -le] [-pid FILE] [-tout SEC] [-sid N] [DB]

DB as ttserver takes it: ``*`` (default) on-memory hash, ``+`` on-memory
tree, ``name.tch`` hash, ``name.tcb`` B+ tree, ``name.tcf`` fixed-length,
``name.tct`` table, tuning options after ``#`` (``#width=N#limsiz=N`` are
honoured for fixed-length databases, others are accepted and ignored).
``-port 0`` picks a free port; the ready line
``kt.server tyrant listening on HOST:PORT pid=N`` is printed once the
server listens.  ``-thnum``, ``-dmn``, ``-ulog`` and the other ttserver
options that make no sense here are accepted and ignored with a log line.

Extensions: ``-ext FILE.py`` loads a Python file; each public top-level
function ``name(key: bytes, value: bytes) -> bytes | str | None`` can be
called with the ext command (None or an exception: the call fails, as a
Lua function returning nil does).  The file sees a global ``db`` (an
:class:`ExtDatabase`) to read and write the database.  Lua files are
refused with a clear message.  See docs/server-tyrant.md.
"""

from __future__ import annotations

import math
import os
import struct
import sys
import threading
import time
import traceback
from typing import Callable, Dict, List, Optional, Tuple

from kt.errors import ProtocolError
from kt.protocol import tt_binary as tb
from kt.protocol.buffer import ReceiveBuffer
from kt.server.base import Logger, Protocol, ThreadedServer, announce, install_signal_handlers
from kt.server.tt_storage import (
    Database, FixedDatabase, HashDatabase, StorageError, TreeDatabase, parse_db_spec,
)
from kt.server.tt_table import TableDatabase

__all__ = ["main", "TyrantState", "TyrantProtocol", "ExtDatabase", "open_database"]

VERSION = "1.1.41"
LIBVER = "324"
PROTVER = "0.91"
DEFAULT_PORT = 1978
#: Seconds between writes of a modified file database to its file.
FLUSH_INTERVAL = 5.0
#: Stripes of the record locks taken by ext calls with the record-lock option.
RECORD_LOCKS = 31

_REP_DBL = struct.Struct(">Bqq")
_I64_MIN = -(1 << 63)

COUNTERS = (
    "put", "putkeep", "putcat", "putshl", "putnr", "out", "get", "mget", "vsiz",
    "iterinit", "iternext", "fwmkeys", "addint", "adddouble", "ext", "sync", "optimize",
    "vanish", "copy", "restore", "setmst", "rnum", "size", "stat", "misc", "repl",
    "put_miss", "out_miss", "get_miss",
)

ExtFunction = Callable[[bytes, bytes], object]


def open_database(spec: str) -> Database:
    """Open (and load, for an existing file) the database named by ``spec``."""
    kind, path, opts = parse_db_spec(spec)
    db: Database
    if kind == "memhash":
        db = HashDatabase("*", False)
    elif kind == "memtree":
        db = TreeDatabase("+", False)
    elif kind == "hash":
        db = HashDatabase(path, True)
    elif kind == "tree":
        db = TreeDatabase(path, True)
    elif kind == "fixed":
        db = FixedDatabase(path, opts)
    else:
        db = TableDatabase(path)
    if db.on_file:
        if os.path.exists(path):
            db.load()
        else:
            db.save(path)
    return db


def _adddouble_reply(total: float) -> bytes:
    """[0][integral][fraction]; an integral part beyond 64 bits is sent as
    x86's conversion of it (INT64_MIN), like ttserver."""
    if math.isfinite(total) and abs(total) >= 9223372036854775808.0:
        return _REP_DBL.pack(0, _I64_MIN, 0)
    return tb.encode_adddouble_reply(total)


class ExtDatabase:
    """The database as an ext function sees it (the global ``db``).

    Every method takes the server's lock for the one operation, like the
    ``_get``/``_put``... functions of ttserver's Lua extensions.
    """

    def __init__(self, state: "TyrantState") -> None:
        self._state = state

    def get(self, key: bytes) -> Optional[bytes]:
        with self._state.lock:
            return self._state.db.get(key)

    def put(self, key: bytes, value: bytes) -> bool:
        with self._state.lock:
            return self._state.db.put(key, value)

    def putkeep(self, key: bytes, value: bytes) -> bool:
        with self._state.lock:
            return self._state.db.putkeep(key, value)

    def putcat(self, key: bytes, value: bytes) -> bool:
        with self._state.lock:
            return self._state.db.putcat(key, value)

    def out(self, key: bytes) -> bool:
        with self._state.lock:
            return self._state.db.out(key)

    def vsiz(self, key: bytes) -> int:
        with self._state.lock:
            return self._state.db.vsiz(key)

    def addint(self, key: bytes, num: int) -> Optional[int]:
        with self._state.lock:
            return self._state.db.addint(key, num)

    def adddouble(self, key: bytes, num: float) -> Optional[float]:
        with self._state.lock:
            return self._state.db.adddouble(key, num)

    def fwmkeys(self, prefix: bytes, max: int = -1) -> List[bytes]:
        with self._state.lock:
            return self._state.db.fwmkeys(prefix, max)

    def rnum(self) -> int:
        with self._state.lock:
            return self._state.db.rnum()

    def size(self) -> int:
        with self._state.lock:
            return self._state.db.size()

    def vanish(self) -> bool:
        with self._state.lock:
            return self._state.db.vanish()

    def misc(self, name: bytes, args: List[bytes]) -> Optional[List[bytes]]:
        with self._state.lock:
            return self._state.db.misc(name, list(args))

    def log(self, message: str) -> None:
        self._state.logger.info("ext: %s" % message)


class TyrantState:
    """What every connection of one server shares."""

    def __init__(self, db: Database, logger: Logger, sid: int = 0) -> None:
        self.db = db
        self.logger = logger
        self.sid = sid
        self.lock = threading.RLock()
        self.counts: Dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.started = time.time()
        self.functions: Dict[str, ExtFunction] = {}
        self.ext_loaded = False
        self.record_locks = [threading.Lock() for _ in range(RECORD_LOCKS)]
        self.master: Tuple[str, int, int] = ("", 0, 0)

    # -- ext ----------------------------------------------------------------
    def load_ext(self, path: str) -> None:
        """Load the functions of a Python ext file (SystemExit on error)."""
        if path.lower().endswith(".lua"):
            raise SystemExit(
                "kt.server tyrant: %s: Lua extensions are not supported by the built-in "
                "server yet; write the functions in Python (FILE.py, see "
                "docs/server-tyrant.md)" % path)
        try:
            with open(path, "r", encoding="utf-8") as f:
                source = f.read()
            code = compile(source, path, "exec")
        except (OSError, SyntaxError, ValueError) as exc:
            raise SystemExit("kt.server tyrant: cannot load the extension %s: %s" % (path, exc))
        namespace: Dict[str, object] = {"__name__": "kt_tyrant_ext", "__file__": path,
                                        "db": ExtDatabase(self)}
        try:
            exec(code, namespace)
        except Exception:
            raise SystemExit("kt.server tyrant: the extension %s failed while loading:\n%s"
                             % (path, traceback.format_exc()))
        for name, obj in namespace.items():
            if not name.startswith("_") and name != "db" and callable(obj) \
                    and not isinstance(obj, type):
                self.functions[name] = obj
        self.ext_loaded = True
        self.logger.info("extension %s loaded: %s" % (path, ", ".join(sorted(self.functions))))

    def call_ext(self, name: bytes, opts: int, key: bytes, value: bytes) -> Optional[bytes]:
        fname = name.split(b"\x00", 1)[0].decode("utf-8", "replace")
        fn = self.functions.get(fname)
        if fn is None:
            self.logger.info("ext: no function %r%s" % (
                fname, "" if self.ext_loaded else " (the server runs without -ext)"))
            return None
        locks: List[threading.Lock] = []
        if opts & tb.EXT_LOCK_GLOBAL:
            locks = self.record_locks
        elif opts & tb.EXT_LOCK_RECORD:
            locks = [self.record_locks[hash(key) % RECORD_LOCKS]]
        for lock in locks:
            lock.acquire()
        try:
            result = fn(key, value)
        except Exception:
            self.logger.error("ext: the function %s raised:\n%s" % (fname, traceback.format_exc()))
            return None
        finally:
            for lock in reversed(locks):
                lock.release()
        if result is None:
            return None
        if isinstance(result, (bytes, bytearray, memoryview)):
            return bytes(result)
        if isinstance(result, str):
            return result.encode("utf-8")
        if isinstance(result, bool):
            return b"true" if result else b"false"
        if isinstance(result, (int, float)):
            return str(result).encode("ascii")
        self.logger.error("ext: the function %s returned %s, not bytes or str"
                          % (fname, type(result).__name__))
        return None

    # -- stat ---------------------------------------------------------------
    def stat(self) -> Dict[str, str]:
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
        try:
            with open("/proc/self/statm") as f:
                fields = f.read().split()
            page = os.sysconf("SC_PAGE_SIZE")
            stats["memsize"] = str(int(fields[0]) * page)
            stats["memrss"] = str(int(fields[1]) * page)
        except (OSError, ValueError, IndexError):
            pass
        times = os.times()
        stats["ru_user"] = "%.6f" % times.user
        stats["ru_sys"] = "%.6f" % times.system
        stats["ru_real"] = "%.6f" % (now - self.started)
        for name in COUNTERS:
            stats["cnt_" + name] = str(self.counts[name])
        return stats


class TyrantProtocol(Protocol):
    """One connection: parse requests, run them, answer as ttserver."""

    def __init__(self, peer: str, state: TyrantState) -> None:
        Protocol.__init__(self, peer)
        self.state = state
        self.parser = tb.RequestParser()

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        out: List[bytes] = []
        parse = self.parser.parse
        handle = self.handle
        while True:
            try:
                req = parse(buf)
            except ProtocolError as exc:
                self.state.logger.info("(%s): bad request, closing the connection: %s"
                                       % (self.peer, exc))
                return out, True
            if req is None:
                return out, False
            reply = handle(req)
            if reply is not None:
                out.append(reply)

    def handle(self, req: tb.TTRequest) -> Optional[bytes]:
        """Run one request; the reply bytes (None for putnr)."""
        state = self.state
        db = state.db
        counts = state.counts
        cmd = req.cmd
        if cmd == tb.CMD_GET:
            counts["get"] += 1
            with state.lock:
                value = db.get(req.key)
            if value is None:
                counts["get_miss"] += 1
                return b"\x01"
            return tb.encode_value_reply(value)
        if cmd == tb.CMD_PUT:
            counts["put"] += 1
            with state.lock:
                ok = db.put(req.key, req.value)
            if not ok:
                counts["put_miss"] += 1
                return b"\x01"
            return b"\x00"
        if cmd == tb.CMD_MGET:
            counts["mget"] += 1
            records: List[Tuple[bytes, bytes]] = []
            with state.lock:
                get = db.get
                for mkey in req.keys:
                    mvalue = get(mkey)
                    if mvalue is not None:
                        records.append((mkey, mvalue))
            return tb.encode_mget_reply(records)
        if cmd == tb.CMD_PUTKEEP or cmd == tb.CMD_PUTCAT or cmd == tb.CMD_PUTNR \
                or cmd == tb.CMD_PUTSHL:
            name = tb.COMMAND_NAMES[cmd]
            counts[name] += 1
            with state.lock:
                if cmd == tb.CMD_PUTKEEP:
                    ok = db.putkeep(req.key, req.value)
                elif cmd == tb.CMD_PUTCAT:
                    ok = db.putcat(req.key, req.value)
                elif cmd == tb.CMD_PUTSHL:
                    ok = db.putshl(req.key, req.value, req.width)
                else:
                    ok = db.put(req.key, req.value)
            if not ok:
                counts["put_miss"] += 1
            if cmd == tb.CMD_PUTNR:
                return None
            return b"\x00" if ok else b"\x01"
        if cmd == tb.CMD_OUT:
            counts["out"] += 1
            with state.lock:
                ok = db.out(req.key)
            if not ok:
                counts["out_miss"] += 1
            return b"\x00" if ok else b"\x01"
        if cmd == tb.CMD_VSIZ:
            counts["vsiz"] += 1
            with state.lock:
                size = db.vsiz(req.key)
            return b"\x01" if size < 0 else tb.encode_vsiz_reply(size)
        if cmd == tb.CMD_ITERINIT:
            counts["iterinit"] += 1
            with state.lock:
                ok = db.iterinit()
            return b"\x00" if ok else b"\x01"
        if cmd == tb.CMD_ITERNEXT:
            counts["iternext"] += 1
            with state.lock:
                key = db.iternext()
            return b"\x01" if key is None else tb.encode_value_reply(key)
        if cmd == tb.CMD_FWMKEYS:
            counts["fwmkeys"] += 1
            with state.lock:
                keys = db.fwmkeys(req.prefix, req.max)
            return tb.encode_fwmkeys_reply(keys)
        if cmd == tb.CMD_ADDINT:
            counts["addint"] += 1
            with state.lock:
                total = db.addint(req.key, req.num)
            return b"\x01" if total is None else tb.encode_addint_reply(total)
        if cmd == tb.CMD_ADDDOUBLE:
            counts["adddouble"] += 1
            with state.lock:
                dtotal = db.adddouble(req.key, req.as_double())
            return b"\x01" if dtotal is None else _adddouble_reply(dtotal)
        if cmd == tb.CMD_EXT:
            counts["ext"] += 1
            result = state.call_ext(req.name, req.opts, req.key, req.value)
            return b"\x01" if result is None else tb.encode_value_reply(result)
        if cmd == tb.CMD_MISC:
            counts["misc"] += 1
            mname = req.name.split(b"\x00", 1)[0]
            with state.lock:
                elements = db.misc(mname, req.args)
            if elements is None:
                return tb.encode_misc_failure()
            return tb.encode_misc_reply(elements)
        if cmd == tb.CMD_RNUM:
            counts["rnum"] += 1
            with state.lock:
                return tb.encode_u64_reply(db.rnum())
        if cmd == tb.CMD_SIZE:
            counts["size"] += 1
            with state.lock:
                return tb.encode_u64_reply(db.size())
        if cmd == tb.CMD_STAT:
            counts["stat"] += 1
            with state.lock:
                stats = state.stat()
            return tb.encode_stat_reply(stats)
        return self.handle_management(req)

    def handle_management(self, req: tb.TTRequest) -> bytes:
        """sync, optimize, vanish, copy, restore, setmst."""
        state = self.state
        db = state.db
        cmd = req.cmd
        name = tb.COMMAND_NAMES.get(cmd, "?")
        state.counts[name] = state.counts.get(name, 0) + 1
        state.logger.info("(%s): doing %s command" % (self.peer, name))
        ok = False
        try:
            with state.lock:
                if cmd == tb.CMD_SYNC:
                    ok = db.sync()
                elif cmd == tb.CMD_OPTIMIZE:
                    ok = db.optimize(req.params.split(b"\x00", 1)[0])
                elif cmd == tb.CMD_VANISH:
                    ok = db.vanish()
                elif cmd == tb.CMD_COPY:
                    path = os.fsdecode(req.path.split(b"\x00", 1)[0])
                    ok = db.copy(path)
                elif cmd == tb.CMD_RESTORE:
                    ok = self._restore(os.fsdecode(req.path.split(b"\x00", 1)[0]))
                elif cmd == tb.CMD_SETMST:
                    host = req.host.split(b"\x00", 1)[0].decode("utf-8", "replace")
                    state.master = (host, req.port, req.ts)
                    if host:
                        state.logger.info("replication from %s:%d is not supported by the "
                                          "built-in server; the master is only recorded"
                                          % (host, req.port))
                    ok = True
        except (OSError, StorageError) as exc:
            state.logger.error("(%s): %s failed: %s" % (self.peer, name, exc))
            ok = False
        if not ok:
            state.logger.error("(%s): %s: operation failed" % (self.peer, name))
        return b"\x00" if ok else b"\x01"

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
            self.state.logger.error("restore: %s holds update logs, which the built-in "
                                    "server cannot replay" % path)
            return False
        return True


def _usage() -> str:
    return ("usage: python -m kt.server tyrant [-host H] [-port P] [-ext FILE.py] [-log FILE]\n"
            "         [-ld|-le] [-pid FILE] [-tout SEC] [-sid N] [DB]\n")


def _flusher(state: TyrantState, stop: threading.Event) -> None:
    """Write a modified file database every FLUSH_INTERVAL seconds."""
    while not stop.wait(FLUSH_INTERVAL):
        try:
            with state.lock:
                if state.db.on_file and state.db.dirty:
                    state.db.save(state.db.path)
        except (OSError, StorageError) as exc:
            state.logger.error("writing %s failed: %s" % (state.db.path, exc))


def main(argv: List[str]) -> int:
    """Run the server in the foreground until SIGTERM / SIGINT; 0 on a clean exit."""
    host = ""
    port = DEFAULT_PORT
    ext: Optional[str] = None
    log_path: Optional[str] = None
    level = "INFO"
    pid_path: Optional[str] = None
    timeout: Optional[float] = None
    sid = 0
    spec: Optional[str] = None
    ignored: List[str] = []
    with_value = {"-thnum", "-ulog", "-ulim", "-mhost", "-mport", "-rts", "-skel", "-mul",
                  "-bt", "-extpc", "-mask", "-unmask"}
    i = 0
    try:
        while i < len(argv):
            arg = argv[i]
            if arg in ("-h", "--help"):
                sys.stdout.write(_usage())
                return 0
            if arg == "-host":
                i += 1
                host = argv[i]
            elif arg == "-port":
                i += 1
                port = int(argv[i])
            elif arg == "-ext":
                i += 1
                ext = argv[i]
            elif arg == "-log":
                i += 1
                log_path = argv[i]
            elif arg == "-ld":
                level = "DEBUG"
            elif arg == "-le":
                level = "ERROR"
            elif arg == "-pid":
                i += 1
                pid_path = argv[i]
            elif arg == "-tout":
                i += 1
                timeout = float(argv[i]) if float(argv[i]) > 0 else None
            elif arg == "-sid":
                i += 1
                sid = int(argv[i])
            elif arg in with_value:
                i += 1
                ignored.append("%s %s" % (arg, argv[i]))
            elif arg in ("-dmn", "-uas", "-rcc", "-kl", "-version", "--version"):
                if arg in ("-version", "--version"):
                    sys.stdout.write("Tokyo Tyrant (kt built-in server) version %s\n" % VERSION)
                    return 0
                ignored.append(arg)
            elif arg.startswith("-") and len(arg) > 1:
                sys.stderr.write("kt.server tyrant: unknown option %s\n%s" % (arg, _usage()))
                return 1
            elif spec is None:
                spec = arg
            else:
                sys.stderr.write("kt.server tyrant: only one database can be served\n%s" % _usage())
                return 1
            i += 1
    except (IndexError, ValueError):
        sys.stderr.write("kt.server tyrant: bad arguments\n%s" % _usage())
        return 1
    logger = Logger(log_path, sys.stderr, level)
    for item in ignored:
        logger.info("option %s is ignored by the built-in server" % item)
    try:
        db = open_database(spec or "*")
    except (ValueError, OSError, StorageError) as exc:
        sys.stderr.write("kt.server tyrant: cannot open the database %s: %s\n" % (spec, exc))
        logger.error("cannot open the database %s: %s" % (spec, exc))
        return 1
    state = TyrantState(db, logger, sid)
    if ext is not None:
        try:
            state.load_ext(ext)
        except SystemExit as exc:
            sys.stderr.write("%s\n" % exc)
            logger.error(str(exc))
            return 1

    def factory(peer: str) -> Protocol:
        return TyrantProtocol(peer, state)

    server = ThreadedServer(host, port, factory, logger, timeout=timeout, name="tyrant")
    try:
        bound_host, bound_port = server.bind()
    except OSError as exc:
        sys.stderr.write("kt.server tyrant: cannot listen on %s:%d: %s\n" % (host, port, exc))
        logger.error("cannot listen on %s:%d: %s" % (host, port, exc))
        return 1
    install_signal_handlers(server)
    if pid_path:
        with open(pid_path, "w") as f:
            f.write("%d\n" % os.getpid())
    logger.system("service started: pid=%d, database %s (%s), listening on %s:%d"
                  % (os.getpid(), db.path, db.type_name, bound_host, bound_port))
    stop = threading.Event()
    flusher: Optional[threading.Thread] = None
    if db.on_file:
        flusher = threading.Thread(target=_flusher, args=(state, stop), name="tyrant-flush",
                                   daemon=True)
        flusher.start()
    announce(host or bound_host, bound_port, "tyrant")
    code = 0
    try:
        server.serve_forever()
    finally:
        stop.set()
        try:
            with state.lock:
                db.close()
            logger.system("database %s closed" % db.path)
        except (OSError, StorageError) as exc:
            logger.error("closing the database %s failed: %s" % (db.path, exc))
            code = 1
        if pid_path:
            try:
                os.unlink(pid_path)
            except OSError:
                pass
        logger.system("service finished")
        logger.close()
    return code

