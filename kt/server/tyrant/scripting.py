"""Ext functions of the built-in Tokyo Tyrant server, written in Python
(ttserver's ``-ext`` takes Lua).

Who calls it: kt.server.tyrant.cli loads the file given with ``-ext FILE.py``
into an ``ExtHost``; kt.server.tyrant.engine calls its functions for the
``ext`` command.

Each public top-level function ``name(key: bytes, value: bytes) -> bytes |
str | None`` of the file can be called with the ext command (None or an
exception: the call fails, as a Lua function returning nil does).  The file
sees a global ``db`` (an :class:`ExtDatabase`) to read and write the
database.  The record-lock options of the command (global, per record) are
honoured with a set of striped locks.  See docs/server-tyrant.md.
"""

from __future__ import annotations

import threading
import traceback
from typing import Callable, Dict, List, Optional

from kt.protocol import tt_binary as tb
from kt.server.log import Logger
from kt.server.runtime import refuse_lua, script_bytes
from kt.server.tyrant.storage import Database

__all__ = ["ExtDatabase", "ExtHost", "ExtLoadError"]

#: Stripes of the record locks taken by ext calls with the record-lock option.
RECORD_LOCKS = 31

ExtFunction = Callable[[bytes, bytes], object]


class ExtLoadError(Exception):
    """The ext file cannot be used (the message says why)."""


class ExtDatabase:
    """The database as an ext function sees it (the global ``db``).

    Every method takes the server's lock for the one operation, like the
    ``_get``/``_put``... functions of ttserver's Lua extensions.
    """

    def __init__(self, db: Database, lock: "threading.RLock", logger: Logger) -> None:
        self._db = db
        self._lock = lock
        self._logger = logger

    def get(self, key: bytes) -> Optional[bytes]:
        with self._lock:
            return self._db.get(key)

    def put(self, key: bytes, value: bytes) -> bool:
        with self._lock:
            return self._db.put(key, value)

    def putkeep(self, key: bytes, value: bytes) -> bool:
        with self._lock:
            return self._db.putkeep(key, value)

    def putcat(self, key: bytes, value: bytes) -> bool:
        with self._lock:
            return self._db.putcat(key, value)

    def out(self, key: bytes) -> bool:
        with self._lock:
            return self._db.out(key)

    def vsiz(self, key: bytes) -> int:
        with self._lock:
            return self._db.vsiz(key)

    def addint(self, key: bytes, num: int) -> Optional[int]:
        with self._lock:
            return self._db.addint(key, num)

    def adddouble(self, key: bytes, num: float) -> Optional[float]:
        with self._lock:
            return self._db.adddouble(key, num)

    def fwmkeys(self, prefix: bytes, max: int = -1) -> List[bytes]:
        with self._lock:
            return self._db.fwmkeys(prefix, max)

    def rnum(self) -> int:
        with self._lock:
            return self._db.rnum()

    def size(self) -> int:
        with self._lock:
            return self._db.size()

    def vanish(self) -> bool:
        with self._lock:
            return self._db.vanish()

    def misc(self, name: bytes, args: List[bytes]) -> Optional[List[bytes]]:
        with self._lock:
            return self._db.misc(name, list(args))

    def log(self, message: str) -> None:
        self._logger.info("ext: %s" % message)


class ExtHost:
    """The functions of one ext file (none until ``load``)."""

    def __init__(self, db: Database, lock: "threading.RLock", logger: Logger) -> None:
        self.db = ExtDatabase(db, lock, logger)
        self.logger = logger
        self.functions: Dict[str, ExtFunction] = {}
        self.loaded = False
        self.record_locks = [threading.Lock() for _ in range(RECORD_LOCKS)]

    def load(self, path: str) -> None:
        """Load the functions of a Python ext file (ExtLoadError on error)."""
        refusal = refuse_lua(path, "tyrant")
        if refusal is not None:
            raise ExtLoadError("kt.server tyrant: " + refusal)
        try:
            with open(path, "r", encoding="utf-8") as f:
                source = f.read()
            code = compile(source, path, "exec")
        except (OSError, SyntaxError, ValueError) as exc:
            raise ExtLoadError("kt.server tyrant: cannot load the extension %s: %s" % (path, exc))
        namespace: Dict[str, object] = {"__name__": "kt_tyrant_ext", "__file__": path,
                                        "db": self.db}
        try:
            exec(code, namespace)
        except Exception:
            raise ExtLoadError("kt.server tyrant: the extension %s failed while loading:\n%s"
                               % (path, traceback.format_exc()))
        for name, obj in namespace.items():
            if not name.startswith("_") and name != "db" and callable(obj) \
                    and not isinstance(obj, type):
                self.functions[name] = obj
        self.loaded = True
        self.logger.info("extension %s loaded: %s" % (path, ", ".join(sorted(self.functions))))

    def call(self, name: bytes, opts: int, key: bytes, value: bytes) -> Optional[bytes]:
        fname = name.split(b"\x00", 1)[0].decode("utf-8", "replace")
        fn = self.functions.get(fname)
        if fn is None:
            self.logger.info("ext: no function %r%s" % (
                fname, "" if self.loaded else " (the server runs without -ext)"))
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
        data = script_bytes(result)
        if data is not None:
            return data
        self.logger.error("ext: the function %s returned %s, not bytes or str"
                          % (fname, type(result).__name__))
        return None
