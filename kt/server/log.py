"""Log lines in ktserver's style, shared by both built-in servers.

Who calls it: kt.server.kyoto.cli and kt.server.tyrant.cli create one
``Logger`` per server and hand it to kt.server.net and to their engine
(kt.server.kyoto.engine, kt.server.tyrant.engine), which log through it.
"""

from __future__ import annotations

import threading
import time
from typing import Optional, TextIO

__all__ = ["Logger"]


class Logger:
    """Timestamped log lines: ``2026-01-02T03:04:05.123456Z: [INFO]: text``.

    ``level`` is the least important kind written: "DEBUG", "INFO",
    "SYSTEM", "ERROR", or "NONE" to write nothing (ktserver's -lz).
    """

    LEVELS = ("DEBUG", "INFO", "SYSTEM", "ERROR")

    def __init__(self, path: Optional[str] = None, stream: Optional[TextIO] = None,
                 level: str = "INFO") -> None:
        # Reentrant: a signal handler that logs may run in the middle of
        # a line being written by the same thread (kt.server.net).
        self._lock = threading.RLock()
        # the date and time of the last line, down to its second
        self._second = -1
        self._stamp = ""
        self._path = path
        self._file: Optional[TextIO] = None
        self._stream = stream
        if level == "NONE":
            self._min = len(self.LEVELS)
        else:
            self._min = self.LEVELS.index(level) if level in self.LEVELS else 1
        if path is not None:
            self._file = open(path, "a", encoding="utf-8")

    def log(self, level: str, message: str) -> None:
        if level in self.LEVELS and self.LEVELS.index(level) < self._min:
            return
        now = time.time()
        second = int(now)
        with self._lock:
            out = self._file if self._file is not None else self._stream
            if out is None:
                return
            if second != self._second:  # a busy server logs many lines a second
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
                self._stamp = stamp
                self._second = second
            line = "%s.%06dZ: [%s]: %s\n" % (self._stamp, int((now - second) * 1e6), level,
                                              message)
            try:
                out.write(line)
                out.flush()
            except (OSError, ValueError):
                pass

    def enabled(self, level: str) -> bool:
        """Whether lines of ``level`` are written (to skip formatting them)."""
        if level not in self.LEVELS:
            return self._min < len(self.LEVELS)
        return self.LEVELS.index(level) >= self._min

    def debug(self, message: str) -> None:
        self.log("DEBUG", message)

    def info(self, message: str) -> None:
        self.log("INFO", message)

    def system(self, message: str) -> None:
        self.log("SYSTEM", message)

    def error(self, message: str) -> None:
        self.log("ERROR", message)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
