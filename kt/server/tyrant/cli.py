"""The built-in Tokyo Tyrant server: ``python -m kt.server tyrant``.

Who calls it: kt.server.__main__ (``main``), hence kt.embedded and the
test suite (as a subprocess).  It wires kt.server.tyrant.storage (the
database), kt.server.tyrant.engine (requests, ttserver 1.1.41's binary
protocol), kt.server.tyrant.scripting (``-ext``) and the shared
kt.server.loop / net / log / runtime.

    python -m kt.server tyrant [-host H] [-port P] [-ext FILE.lua|FILE.py] [-log FILE]
                              [-ld | -le] [-pid FILE] [-tout SEC] [-sid N] [-oas]
                              [-thnum N] [-threaded] [DB]

DB as ttserver takes it: ``*`` (default) on-memory hash, ``+`` on-memory
tree, ``name.tch`` hash, ``name.tcb`` B+ tree, ``name.tcf`` fixed-length,
``name.tct`` table, tuning options after ``#`` (``#width=N#limsiz=N`` are
honoured for fixed-length databases, others are accepted and ignored).
Connections are served by one event-loop thread (kt.server.loop);
``-thnum N`` is the number of worker threads for commands that may block
(ext, sync, optimize, copy, restore), and ``-threaded`` (this server's own
option) serves each connection in a thread of its own (kt.server.net).
``-port 0`` picks a free port; the ready line
``kt.server tyrant listening on HOST:PORT pid=N`` is printed once the
server listens.  ``-dmn``, ``-ulog`` and the other ttserver
options that make no sense here are accepted and ignored with a log line.

Durability: every change to a file database is appended to its journal
(kt.server.journal) before the reply is sent, so it survives the death of
the process; ``-oas`` (this server's own option, named after ktserver's)
also fsyncs the journal before each reply, so it survives power loss.
Without it the journal is fsynced every second.  The journal is folded
into the snapshot file when it outgrows it, on ``sync``/``optimize`` and
at shutdown.

Extensions: ``-ext FILE.lua`` loads a ttserver Lua extension
(kt.server.tyrant.luascript, needs lupa), ``-ext FILE.py`` a Python file of
ext functions (kt.server.tyrant.scripting).
See docs/server-tyrant.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, List, Optional

from kt.server.journal import SYNC_ALWAYS, SYNC_SECOND
from kt.server.log import Logger
from kt.server.loop import make_server
from kt.server.net import announce, engine_protocol, install_signal_handlers
from kt.server.runtime import (
    PeriodicTask, ServerArgumentParser, UsageError, parse_command_line, remove_pid_file,
    write_pid_file,
)
from kt.server.tyrant.engine import VERSION, TyrantEngine
from kt.server.tyrant.scripting import ExtLoadError
from kt.server.tyrant.storage import StorageError, open_database

__all__ = ["main", "parse_args"]

DEFAULT_PORT = 1978
#: Worker threads for requests that may block (ext, sync, copy ...), -thnum.
DEFAULT_WORKERS = 8
#: Seconds between checks of the journal (fsync, compaction).
FLUSH_INTERVAL = 1.0

USAGE = ("usage: python -m kt.server tyrant [-host H] [-port P] [-ext FILE.lua|FILE.py] [-log FILE]\n"
         "         [-ld|-le] [-pid FILE] [-tout SEC] [-sid N] [-oas] [-thnum N] [-threaded] [DB]\n")

#: ttserver options that make no sense here: accepted, logged, ignored.
_IGNORED_WITH_VALUE = ("-ulog", "-ulim", "-mhost", "-mport", "-rts", "-skel", "-mul",
                       "-bt", "-extpc", "-mask", "-unmask")
_IGNORED_FLAGS = ("-dmn", "-uas", "-rcc", "-kl")


def _timeout(text: str) -> Optional[float]:
    value = float(text)
    return value if value > 0 else None


def _thnum(text: str) -> int:
    return max(1, int(text))


def _labelled(flag: str) -> Callable[[str], str]:
    def label(value: str) -> str:
        return "%s %s" % (flag, value)
    return label


def _parser() -> ServerArgumentParser:
    p = ServerArgumentParser("python -m kt.server tyrant")
    p.add_argument("-h", "--help", dest="help", action="store_true")
    p.add_argument("-version", "--version", dest="version", action="store_true")
    p.add_argument("-host", default="")
    p.add_argument("-port", type=int, default=DEFAULT_PORT)
    p.add_argument("-ext")
    p.add_argument("-log", dest="log_path")
    p.set_defaults(level="INFO")
    p.add_argument("-ld", dest="level", action="store_const", const="DEBUG")
    p.add_argument("-le", dest="level", action="store_const", const="ERROR")
    p.add_argument("-pid", dest="pid_path")
    p.add_argument("-tout", dest="timeout", type=_timeout, default=None)
    p.add_argument("-sid", type=int, default=0)
    p.add_argument("-oas", dest="sync_always", action="store_true")
    p.add_argument("-thnum", type=_thnum, default=DEFAULT_WORKERS)
    p.add_argument("-threaded", action="store_true")
    p.set_defaults(ignored=[])
    for flag in _IGNORED_WITH_VALUE:
        p.add_argument(flag, dest="ignored", action="append", type=_labelled(flag))
    for flag in _IGNORED_FLAGS:
        p.add_argument(flag, dest="ignored", action="append_const", const=flag)
    p.add_argument("databases", nargs="*")
    return p


def parse_args(argv: List[str]) -> argparse.Namespace:
    """ttserver-style arguments; UsageError when they are wrong."""
    opts = _parser().parse_intermixed_args(argv)
    if len(opts.databases) > 1:
        raise UsageError("only one database can be served")
    return opts


def _flush(engine: TyrantEngine) -> None:
    """Every FLUSH_INTERVAL seconds: fsync the journal; fold it into the
    snapshot once it has outgrown it."""
    db = engine.db
    try:
        with engine.lock:
            if db.journal is not None:
                db.journal.sync()
            if db.compaction_due():
                db.checkpoint()
    except (OSError, StorageError) as exc:
        engine.logger.error("writing %s failed: %s" % (db.path, exc))


def main(argv: List[str]) -> int:
    """Run the server in the foreground until SIGTERM / SIGINT; 0 on a clean exit."""
    opts = parse_command_line(parse_args, argv, "tyrant", USAGE)
    if opts is None:
        return 1
    if opts.help:
        sys.stdout.write(USAGE)
        return 0
    if opts.version:
        sys.stdout.write("Tokyo Tyrant (kt built-in server) version %s\n" % VERSION)
        return 0
    logger = Logger(opts.log_path, sys.stderr, opts.level)
    try:
        return _run(opts, logger)
    finally:
        logger.close()


def _fail(logger: Logger, message: str) -> int:
    sys.stderr.write("kt.server tyrant: %s\n" % message)
    logger.error(message)
    return 1


def _run(opts: argparse.Namespace, logger: Logger) -> int:
    for item in opts.ignored:
        logger.info("option %s is ignored by the built-in server" % item)
    spec = opts.databases[0] if opts.databases else None
    warnings: List[str] = []
    try:
        db = open_database(spec or "*", SYNC_ALWAYS if opts.sync_always else SYNC_SECOND,
                           warnings)
    except (ValueError, OSError, StorageError) as exc:
        return _fail(logger, "cannot open the database %s: %s" % (spec, exc))
    for warning in warnings:
        logger.error(warning)
    engine = TyrantEngine(db, logger, opts.sid)
    if opts.ext is not None:
        try:
            engine.ext.load(opts.ext)
        except ExtLoadError as exc:
            sys.stderr.write("%s\n" % exc)
            logger.error(str(exc))
            return 1
    server = make_server(opts.threaded, opts.host, opts.port, engine_protocol(engine), logger,
                         opts.timeout, "tyrant", opts.thnum)
    try:
        bound_host, bound_port = server.bind()
    except OSError as exc:
        return _fail(logger, "cannot listen on %s:%d: %s" % (opts.host, opts.port, exc))
    install_signal_handlers(server)
    write_pid_file(opts.pid_path, logger)
    logger.system("service started: pid=%d, database %s (%s), listening on %s:%d"
                  % (os.getpid(), db.path, db.type_name, bound_host, bound_port))
    flusher: Optional[PeriodicTask] = None
    if db.on_file:
        flusher = PeriodicTask(FLUSH_INTERVAL, lambda: _flush(engine), "tyrant-flush").start()
    announce(opts.host or bound_host, bound_port, "tyrant")
    try:
        server.serve_forever()
    finally:
        if flusher is not None:
            flusher.stop()
        code = _close(engine)
        remove_pid_file(opts.pid_path)
        logger.system("service finished")
    return code


def _close(engine: TyrantEngine) -> int:
    db = engine.db
    try:
        with engine.lock:
            db.close()
        engine.logger.system("database %s closed" % db.path)
    except (OSError, StorageError) as exc:
        engine.logger.error("closing the database %s failed: %s" % (db.path, exc))
        return 1
    return 0
