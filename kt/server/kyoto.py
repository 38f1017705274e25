"""``python -m kt.server kyoto``: the built-in Kyoto Tycoon server.

Who calls it: kt.server.__main__ (``main(argv)``), hence the embedded
server manager and the test suite, which start it as a subprocess.

Usage (ktserver's options, with ktserver's meaning)::

    python -m kt.server kyoto [-host H] [-port P] [-tout SEC] [-th N]
        [-log FILE] [-li|-ls|-le|-lz] [-scr FILE.py] [-pid FILE]
        [-asi SEC] [-ash] [DB ...]

``-port 0`` picks a free port.  Once the socket listens, one line goes to
standard output: ``kt.server kyoto listening on HOST:PORT pid=N``.  Log
lines go to ``-log FILE``, or to standard error without it (ktserver
writes them to standard output, which here carries the ready line).
Databases are ktserver's (``*`` ``%`` ``:`` ``-`` ``+`` ``x.kch`` ``x.kct``
``x.kcd`` ``x.kcf``, options after ``#``); with none, ``:`` as ktserver.
SIGTERM and SIGINT stop the server: file databases are written to disk and
the process exits 0.  ``-asi SEC`` also writes them every SEC seconds
(``-ash``: with fsync).  See docs/server-kyoto.md.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import List, Optional, Tuple

from kt.protocol.buffer import ReceiveBuffer
from kt.server.base import Logger, Protocol, ThreadedServer, announce, install_signal_handlers
from kt.server.kyoto_engine import KyotoEngine, KyotoSession
from kt.server.scripting import ScriptHost, ScriptLoadError
from kt.server.storage import Database, DBError, open_database

__all__ = ["main", "KyotoProtocol", "Options", "parse_args"]

USAGE = """usage: python -m kt.server kyoto [-host str] [-port num] [-tout num] [-th num]
        [-log file] [-li|-ls|-le|-lz] [-scr file.py] [-pid file] [-asi num] [-ash] [db...]
"""

DEFAULT_PORT = 1978
DEFAULT_TIMEOUT = 30.0
DEFAULT_THREADS = 16


class UsageError(Exception):
    """Bad command line."""


class Options:
    """Parsed command line."""

    def __init__(self) -> None:
        self.host = ""
        self.port = DEFAULT_PORT
        self.timeout = DEFAULT_TIMEOUT
        self.threads = DEFAULT_THREADS
        self.log_path: Optional[str] = None
        self.log_level = "DEBUG"
        self.script: Optional[str] = None
        self.pid_path: Optional[str] = None
        self.sync_interval = 0.0
        self.sync_hard = False
        self.databases: List[str] = []


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError("%s must be a number, not %r" % (what, text)) from None


def parse_args(argv: List[str]) -> Options:
    """ktserver-style arguments; UsageError when they are wrong."""
    opts = Options()
    i = 0
    no_more_options = False
    n = len(argv)

    def value() -> str:
        nonlocal i
        i += 1
        if i >= n:
            raise UsageError("%s needs a value" % argv[i - 1])
        return argv[i]

    while i < n:
        arg = argv[i]
        if not no_more_options and arg.startswith("-") and len(arg) > 1:
            if arg == "--":
                no_more_options = True
            elif arg == "-host":
                opts.host = value()
            elif arg == "-port":
                port = int(_number(value(), "-port"))
                if port < 0 or port > 65535:
                    raise UsageError("-port must be between 0 and 65535")
                opts.port = port
            elif arg == "-tout":
                opts.timeout = _number(value(), "-tout")
            elif arg == "-th":
                opts.threads = max(1, int(_number(value(), "-th")))
            elif arg == "-log":
                opts.log_path = value()
            elif arg == "-li":
                opts.log_level = "INFO"
            elif arg == "-ls":
                opts.log_level = "SYSTEM"
            elif arg == "-le":
                opts.log_level = "ERROR"
            elif arg == "-lz":
                opts.log_level = "NONE"
            elif arg == "-scr":
                opts.script = value()
            elif arg == "-pid":
                opts.pid_path = value()
            elif arg == "-asi":
                opts.sync_interval = _number(value(), "-asi")
            elif arg == "-ash":
                opts.sync_hard = True
            else:
                raise UsageError("unknown or unsupported option %s" % arg)
        else:
            no_more_options = True
            opts.databases.append(arg)
        i += 1
    if not opts.databases:
        opts.databases.append(":")
    return opts


class KyotoProtocol(Protocol):
    """Adapts a KyotoSession to kt.server.base's connection loop."""

    def __init__(self, engine: KyotoEngine, peer: str) -> None:
        super().__init__(peer)
        self.session: KyotoSession = engine.session(peer)

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        return self.session.process(buf)

    def connection_lost(self) -> None:
        self.session.close()


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


def _autosync(dbs: List[Database], logger: Logger, interval: float, hard: bool,
              stop: threading.Event) -> None:
    while not stop.wait(interval):
        logger.info("synchronizing databases")
        _sync_all(dbs, logger, hard, True)


def main(argv: List[str]) -> int:
    """Run the server in the foreground; returns the exit status."""
    try:
        opts = parse_args(argv)
    except UsageError as exc:
        sys.stderr.write("kt.server kyoto: %s\n%s" % (exc, USAGE))
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


def _run(opts: Options, logger: Logger) -> int:
    pid = os.getpid()
    logger.system("================ [START]: pid=%d" % pid)
    if opts.script is not None and not os.path.exists(opts.script):
        logger.error("%s: no such file" % opts.script)
        sys.stderr.write("kt.server kyoto: %s: no such file\n" % opts.script)
        return 1
    if opts.script is not None and opts.script.endswith(".lua"):
        message = ("%s: Lua scripts are not supported by the built-in server yet; write the "
                   "procedures in Python (see docs/server-kyoto.md)" % opts.script)
        logger.error(message)
        sys.stderr.write("kt.server kyoto: %s\n" % message)
        return 1
    dbs: List[Database] = []
    for spec in opts.databases:
        logger.system("opening a database: path=%s" % spec)
        try:
            dbs.append(open_database(spec))
        except (ValueError, DBError) as exc:
            detail = exc.describe() if isinstance(exc, DBError) else str(exc)
            logger.error("could not open a database file: %s: %s" % (spec, detail))
            sys.stderr.write("kt.server kyoto: could not open a database file: %s: %s\n"
                             % (spec, detail))
            return 1
    engine = KyotoEngine(dbs, logger.log, logger.enabled("INFO"), None, opts.threads)
    if opts.script is not None:
        logger.system("loading a script file: path=%s" % opts.script)
        host = ScriptHost(opts.script, dbs, engine.dbmap, logger.log)
        try:
            names = host.load()
            logger.system("script procedures: %s" % (" ".join(names) or "(none)"))
        except ScriptLoadError as exc:
            # As ktserver: the server runs, and every procedure is missing.
            logger.error("could not load a script file: %s" % exc)
        engine.scripts = host
    server = ThreadedServer(opts.host, opts.port, lambda peer: KyotoProtocol(engine, peer),
                            logger, timeout=opts.timeout if opts.timeout > 0 else None,
                            name="kyoto")
    try:
        host_bound, port = server.bind()
    except OSError as exc:
        logger.error("could not listen on %s:%d: %s" % (opts.host or "*", opts.port, exc))
        sys.stderr.write("kt.server kyoto: could not listen on %s:%d: %s\n"
                         % (opts.host or "*", opts.port, exc))
        return 1
    engine.set_port(port)
    if opts.pid_path is not None:
        try:
            with open(opts.pid_path, "w") as f:
                f.write("%d\n" % pid)
        except OSError as exc:
            logger.error("could not write the pid file %s: %s" % (opts.pid_path, exc))
    install_signal_handlers(server)
    logger.system("starting the server: expr=%s:%d" % (opts.host, port))
    announce(opts.host or host_bound, port, "kyoto")
    stop_sync = threading.Event()
    if opts.sync_interval > 0:
        threading.Thread(target=_autosync, args=(dbs, logger, opts.sync_interval,
                                                 opts.sync_hard, stop_sync),
                         name="kyoto-autosync", daemon=True).start()
    try:
        server.serve_forever()
    finally:
        stop_sync.set()
    logger.system("the server finished")
    ok = True
    for db in dbs:
        logger.system("closing a database: path=%s" % db.path)
        if db.file is not None and not _sync_all([db], logger, True, False):
            logger.error("could not close a database file: %s" % db.path)
            ok = False
    if opts.pid_path is not None:
        try:
            os.remove(opts.pid_path)
        except OSError:
            pass
    logger.system("================ [FINISH]: pid=%d" % pid)
    return 0 if ok else 1
