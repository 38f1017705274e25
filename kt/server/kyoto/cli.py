"""``python -m kt.server kyoto``: the built-in Kyoto Tycoon server.

Who calls it: kt.server.__main__ (``main(argv)``), hence the embedded
server manager and the test suite, which start it as a subprocess.  It
wires kt.server.kyoto.storage (the databases), kt.server.kyoto.engine
(requests), kt.server.kyoto.scripting and kt.server.kyoto.luascript
(``-scr`` FILE.py or FILE.lua) and the shared
kt.server.loop / net / log / runtime.

Usage (ktserver's options, with ktserver's meaning)::

    python -m kt.server kyoto [-host H] [-port P] [-tout SEC] [-th N] [-threaded]
        [-log FILE] [-li|-ls|-le|-lz] [-scr FILE.lua|FILE.py] [-pid FILE]
        [-asi SEC] [-ash] [-oas] [-ulog DIR] [-ulim SIZE] [-uasi SEC]
        [-sid N] [-mhost H] [-mport P] [-rts FILE] [-riv MSEC] [DB ...]

Connections are served by one event-loop thread (kt.server.loop); ``-th N``
is the number of worker threads for requests that may block (script
procedures, synchronize), and ``-threaded`` (this server's own option)
serves each connection in a thread of its own instead (kt.server.net).

``-port 0`` picks a free port.  Once the socket listens, one line goes to
standard output: ``kt.server kyoto listening on HOST:PORT pid=N``.  Log
lines go to ``-log FILE``, or to standard error without it (ktserver
writes them to standard output, which here carries the ready line).
Databases are ktserver's (``*`` ``%`` ``:`` ``-`` ``+`` ``x.kch`` ``x.kct``
``x.kcd`` ``x.kcf``, options after ``#``); with none, ``:`` as ktserver.
Every change to a file database is appended to its journal
(kt.server.journal) before the reply is sent, so it survives the death of
the process, and the journal is fsynced every second; ``-oas`` fsyncs it
before each reply instead (survives power loss); ``-asi SEC`` also writes
the snapshot every SEC seconds (``-ash``: with fsync).  The journal is folded into the
snapshot when it outgrows it and when SIGTERM or SIGINT stop the server
(which then exits 0).  ``-ulog DIR`` keeps an update log in ktserver's
format (kt.server.kyoto.ulog; ``-sid`` required), which serves replication
streams; ``-mhost``/``-mport``/``-rts`` make the server a replication
slave of another (kt.server.kyoto.replication).  See docs/server-kyoto.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Union

from kt.server.kyoto import replication
from kt.server.kyoto.engine import KyotoEngine
from kt.server.kyoto.ulog import DEFAULT_LIMIT, DatabaseLogger, UpdateLog
from kt.server.kyoto.luascript import LuaScriptHost
from kt.server.kyoto.scripting import ScriptHost, ScriptLoadError
from kt.server.journal import SYNC_ALWAYS, SYNC_SECOND
from kt.server.kyoto.storage import Database, DBError, open_database, open_warnings
from kt.server.log import Logger
from kt.server.loop import make_server
from kt.server.net import announce, engine_protocol, install_signal_handlers
from kt.server.runtime import (
    PeriodicTask, ServerArgumentParser, parse_command_line, refuse_lua, remove_pid_file,
    write_pid_file,
)

__all__ = ["main", "parse_args"]

USAGE = """usage: python -m kt.server kyoto [-host str] [-port num] [-tout num] [-th num]
        [-threaded] [-log file] [-li|-ls|-le|-lz] [-scr file.py] [-pid file] [-asi num] [-ash]
        [-oas] [-ulog dir] [-ulim num] [-uasi num] [-sid num] [-mhost str] [-mport num]
        [-rts file] [-riv num] [db...]
"""

DEFAULT_PORT = 1978
DEFAULT_TIMEOUT = 30.0
DEFAULT_THREADS = 16


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number, not %r" % text) from None


def _port(text: str) -> int:
    port = int(_number(text))
    if port < 0 or port > 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return port


def _size(text: str) -> int:
    """A size as Kyoto Cabinet's atoix reads it: "256m", "1g", "4096"."""
    units = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
    shift = units.get(text[-1:].lower(), -1)
    if shift >= 0:
        return int(_number(text[:-1]) * (1 << shift))
    return int(_number(text))


def _threads(text: str) -> int:
    return max(1, int(_number(text)))


def _parser() -> ServerArgumentParser:
    p = ServerArgumentParser("python -m kt.server kyoto")
    p.add_argument("-host", default="")
    p.add_argument("-port", type=_port, default=DEFAULT_PORT)
    p.add_argument("-tout", dest="timeout", type=_number, default=DEFAULT_TIMEOUT)
    p.add_argument("-th", dest="threads", type=_threads, default=DEFAULT_THREADS)
    p.add_argument("-threaded", action="store_true")
    p.add_argument("-log", dest="log_path")
    p.set_defaults(log_level="DEBUG")
    for flag, level in (("-li", "INFO"), ("-ls", "SYSTEM"), ("-le", "ERROR"), ("-lz", "NONE")):
        p.add_argument(flag, dest="log_level", action="store_const", const=level)
    p.add_argument("-scr", dest="script")
    p.add_argument("-pid", dest="pid_path")
    p.add_argument("-asi", dest="sync_interval", type=_number, default=0.0)
    p.add_argument("-ash", dest="sync_hard", action="store_true")
    p.add_argument("-oas", dest="sync_always", action="store_true")
    p.add_argument("-ulog", dest="ulog")
    p.add_argument("-ulim", dest="ulog_limit", type=_size, default=DEFAULT_LIMIT)
    p.add_argument("-uasi", dest="ulog_sync", type=_number, default=0.0)
    p.add_argument("-sid", dest="sid", type=lambda t: int(_number(t)), default=-1)
    p.add_argument("-mhost", dest="master_host")
    p.add_argument("-mport", dest="master_port", type=_port, default=DEFAULT_PORT)
    p.add_argument("-rts", dest="rts_path")
    p.add_argument("-riv", dest="repl_interval", type=_number,
                   default=replication.DEFAULT_INTERVAL)
    # As ktserver: options end at the first database argument.
    p.add_argument("databases", nargs=argparse.REMAINDER)
    return p


def parse_args(argv: List[str]) -> argparse.Namespace:
    """ktserver-style arguments; UsageError when they are wrong."""
    opts = _parser().parse_args(argv)
    if opts.databases[:1] == ["--"]:
        del opts.databases[0]
    if not opts.databases:
        opts.databases.append(":")
    return opts


def _sync_all(dbs: List[Database], logger: Logger, hard: bool, only_dirty: bool) -> bool:
    ok = True
    for db in dbs:
        if db.file is None or (only_dirty and not db.dirty):
            continue
        try:
            db.synchronize(hard)
        except DBError as exc:
            logger.error("database error: %s" % exc.describe())
            ok = False
    return ok


def _fail(logger: Logger, message: str) -> int:
    logger.error(message)
    sys.stderr.write("kt.server kyoto: %s\n" % message)
    return 1


def main(argv: List[str]) -> int:
    """Run the server in the foreground; returns the exit status."""
    opts = parse_command_line(parse_args, argv, "kyoto", USAGE)
    if opts is None:
        return 1
    try:
        logger = Logger(opts.log_path, sys.stderr, opts.log_level)
    except OSError as exc:
        sys.stderr.write("kt.server kyoto: %s: could not open the log file: %s\n"
                         % (opts.log_path, exc))
        return 1
    try:
        return _run(opts, logger)
    finally:
        logger.close()


def _open_all(specs: List[str], logger: Logger, sync_mode: int) -> Optional[List[Database]]:
    dbs: List[Database] = []
    for spec in specs:
        logger.system("opening a database: path=%s" % spec)
        try:
            dbs.append(open_database(spec, None, sync_mode))
        except (ValueError, DBError) as exc:
            detail = exc.describe() if isinstance(exc, DBError) else str(exc)
            _fail(logger, "could not open a database file: %s: %s" % (spec, detail))
            return None
        for warning in open_warnings:
            logger.error(warning)
        del open_warnings[:]
    return dbs


def _load_script(path: str, dbs: List[Database], engine: KyotoEngine, logger: Logger) -> None:
    logger.system("loading a script file: path=%s" % path)
    host: Union[ScriptHost, LuaScriptHost]
    if path.lower().endswith(".lua"):
        host = LuaScriptHost(path, dbs, engine.dbmap, logger.log)
    else:
        host = ScriptHost(path, dbs, engine.dbmap, logger.log)
    try:
        names = host.load()
        logger.system("script procedures: %s" % (" ".join(names) or "(none)"))
    except ScriptLoadError as exc:
        # As ktserver: the server runs, and every procedure is missing.
        logger.error("could not load a script file: %s" % exc)
    engine.scripts = host


def _run(opts: argparse.Namespace, logger: Logger) -> int:
    pid = os.getpid()
    logger.system("================ [START]: pid=%d" % pid)
    if opts.script is not None and not os.path.exists(opts.script):
        return _fail(logger, "%s: no such file" % opts.script)
    refusal = refuse_lua(opts.script, "kyoto") if opts.script is not None else None
    if refusal is not None:
        return _fail(logger, refusal)
    refusal = _replication_refusal(opts)
    if refusal is not None:
        return _fail(logger, refusal)
    dbs = _open_all(opts.databases, logger, SYNC_ALWAYS if opts.sync_always else SYNC_SECOND)
    if dbs is None:
        return 1
    engine = KyotoEngine(dbs, logger, None, opts.threads)
    if not _start_replication(opts, dbs, engine, logger):
        _close_all(dbs, logger)
        return 1
    if opts.script is not None:
        _load_script(opts.script, dbs, engine, logger)
    server = make_server(opts.threaded, opts.host, opts.port, engine_protocol(engine), logger,
                         opts.timeout if opts.timeout > 0 else None, "kyoto", opts.threads)
    try:
        host_bound, port = server.bind()
    except OSError as exc:
        return _fail(logger, "could not listen on %s:%d: %s" % (opts.host or "*", opts.port, exc))
    engine.set_port(port)
    write_pid_file(opts.pid_path, logger)
    install_signal_handlers(server)
    logger.system("starting the server: expr=%s:%d" % (opts.host, port))
    announce(opts.host or host_bound, port, "kyoto")
    autosync: Optional[PeriodicTask] = None
    if opts.sync_interval > 0:
        autosync = PeriodicTask(opts.sync_interval, lambda: _autosync(dbs, logger, opts.sync_hard),
                                "kyoto-autosync").start()
    compactor = PeriodicTask(1.0, lambda: _compact(dbs, logger, engine.ulog),
                             "kyoto-compact").start()
    try:
        server.serve_forever()
    finally:
        compactor.stop()
        if autosync is not None:
            autosync.stop()
        if engine.slave is not None:
            engine.slave.stop()
    logger.system("the server finished")
    ok = _close_all(dbs, logger)
    if engine.ulog is not None:
        engine.ulog.close()
    remove_pid_file(opts.pid_path)
    logger.system("================ [FINISH]: pid=%d" % pid)
    return 0 if ok else 1


def _replication_refusal(opts: argparse.Namespace) -> Optional[str]:
    """ktserver's checks of the replication options."""
    if opts.ulog is not None and opts.sid < 0:
        return "update log requires the server ID"
    if opts.master_host is not None:
        if opts.sid < 0:
            return "replication requires the server ID"
        if opts.rts_path is None:
            return "replication requires the replication time stamp file"
    if opts.sid > 0xFFFF:
        return "the server ID must be between 0 and 65535"
    return None


def _start_replication(opts: argparse.Namespace, dbs: List[Database], engine: KyotoEngine,
                       logger: Logger) -> bool:
    """Open the update log (-ulog) and start the slave (-rts); False when
    one cannot be opened."""
    sid = max(opts.sid, 0)
    if opts.ulog is not None:
        logger.system("opening the update log: path=%s sid=%d" % (opts.ulog, sid))
        try:
            ulog = UpdateLog(opts.ulog, opts.ulog_limit, opts.ulog_sync)
        except OSError as exc:
            _fail(logger, "could not open the update log: %s: %s" % (opts.ulog, exc))
            return False
        engine.ulog = ulog
        for i, db in enumerate(dbs):
            db.ulog = DatabaseLogger(ulog, sid, i)
    if opts.rts_path is not None:
        slave = replication.Slave(sid, opts.rts_path, opts.repl_interval, dbs, logger,
                                  opts.master_host or "", opts.master_port)
        try:
            slave.open_rts()
        except OSError as exc:
            _fail(logger, "opening the RTS file failed: path=%s: %s" % (opts.rts_path, exc))
            return False
        engine.slave = slave
        slave.start()
    return True


def _autosync(dbs: List[Database], logger: Logger, hard: bool) -> None:
    logger.info("synchronizing databases")
    for db in dbs:
        db.sync_journal()
    _sync_all(dbs, logger, hard, True)


def _compact(dbs: List[Database], logger: Logger, ulog: Optional[UpdateLog]) -> None:
    """Every second: fsync the journals; fold one that outgrew its
    snapshot into the snapshot; fsync the update log every -uasi."""
    if ulog is not None:
        ulog.tick()
    for db in dbs:
        db.sync_journal()
        if db.compaction_due():
            logger.info("compacting the journal of %s" % db.path)
            _sync_all([db], logger, False, False)


def _close_all(dbs: List[Database], logger: Logger) -> bool:
    ok = True
    for db in dbs:
        logger.system("closing a database: path=%s" % db.path)
        if db.file is not None and not _sync_all([db], logger, True, False):
            logger.error("could not close a database file: %s" % db.path)
            ok = False
        db.close_journal()
    return ok
