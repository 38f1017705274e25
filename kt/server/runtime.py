"""The process side both built-in servers share: their command-line
parser, the refusal of Lua scripts, the bytes of a script's results, the
periodic flush thread and the pid file.

Who calls it: kt.server.kyoto.cli and kt.server.tyrant.cli (and the two
scripting modules, for ``refuse_lua``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Callable, List, NoReturn, Optional

from kt.protocol.convert import to_bytes
from kt.server.log import Logger

__all__ = ["UsageError", "ServerArgumentParser", "parse_command_line", "refuse_lua", "script_bytes", "PeriodicTask",
           "write_pid_file", "remove_pid_file"]


class UsageError(Exception):
    """Bad command line."""


class ServerArgumentParser(argparse.ArgumentParser):
    """argparse for the servers' single-dash long options (``-port``,
    ``-ulog``): no abbreviations, no ``-h`` of its own, and errors raised
    as UsageError for the caller to print with its usage text."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog=prog, add_help=False, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_command_line(parse: Callable[[List[str]], argparse.Namespace], argv: List[str],
                       server: str, usage: str) -> Optional[argparse.Namespace]:
    """``parse(argv)``; None after printing its UsageError and ``usage``."""
    try:
        return parse(argv)
    except UsageError as exc:
        sys.stderr.write("kt.server %s: %s\n%s" % (server, exc, usage))
        return None


def refuse_lua(path: str, server: str) -> Optional[str]:
    """The message refusing a Lua script or extension when Lua cannot run
    here (lupa is not installed), None when it can or for another file."""
    if not path.lower().endswith(".lua"):
        return None
    from kt.server.lua import LuaUnavailable, load_lupa

    try:
        load_lupa()
    except LuaUnavailable as exc:
        kind = "procedures" if server == "kyoto" else "functions"
        return "%s: %s; or write the %s in Python (FILE.py, see docs/server-%s.md)" % (
            path, exc, kind, server)
    return None


def script_bytes(value: object) -> Optional[bytes]:
    """What a script procedure or ext function returned, as bytes: bytes
    as they are, str as UTF-8, booleans as ``true``/``false``, numbers in
    decimal; None for anything else."""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float)):
        return str(value).encode("ascii")
    try:
        return to_bytes(value, "value")
    except TypeError:
        return None


class PeriodicTask:
    """Runs ``action`` every ``interval`` seconds in a daemon thread until
    ``stop``; ``action`` handles its own errors."""

    def __init__(self, interval: float, action: Callable[[], None], name: str) -> None:
        self.interval = interval
        self.action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "PeriodicTask":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.action()

    def stop(self) -> None:
        self._stop.set()


def write_pid_file(path: Optional[str], logger: Logger) -> None:
    if path is None:
        return
    try:
        with open(path, "w") as f:
            f.write("%d\n" % os.getpid())
    except OSError as exc:
        logger.error("could not write the pid file %s: %s" % (path, exc))


def remove_pid_file(path: Optional[str]) -> None:
    if path is None:
        return
    try:
        os.remove(path)
    except OSError:
        pass
