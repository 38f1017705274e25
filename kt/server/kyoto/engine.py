"""Kyoto Tycoon request handling: binary protocol, HTTP RPC and RESTful
requests, answered from kt.server.kyoto.storage databases as ktserver answers.

Who calls it: kt.server.kyoto.cli builds one ``KyotoEngine`` (the
databases and everything shared) and hands every connection a
``KyotoSession``, whose ``process`` turns the bytes received so far into
replies.  No sockets here: the connection loop is kt.server.net.

One port serves both protocols, request by request: a request starting
with byte 0x00 or 0x80-0xFF is binary (ktserver's rule), anything else is
HTTP.  The codecs are kt.protocol.kt_binary and kt.protocol.kt_http (their
server halves).  What is answered, and how (status codes, ``ERROR``
messages, output keys, the sorted order of output keys, ktserver's colenc
choice, per-connection cursors), follows ktserver 1.0.0; see
docs/server-kyoto.md for the differences that remain.
"""

from __future__ import annotations

import decimal
import math
import os
import platform
import socket
import threading
import time
from typing import Callable, Dict, Final, List, Optional, Tuple, final

from kt.errors import ProtocolError
from kt.protocol import kt_binary as kb
from kt.protocol import kt_http as kh
from kt.protocol.buffer import ReceiveBuffer
from kt.server.cnum import atof, atoi
from kt.server.kyoto.storage import (
    E_LOGIC,
    E_NOIMPL,
    E_NOREC,
    ERROR_NAMES,
    INT64_MAX,
    INT64_MIN,
    XT_MAX,
    Cursor,
    Database,
    DBError,
)
from kt.server.kyoto import replication
from kt.server.kyoto.ulog import UpdateLog
from kt.server.log import Logger
from kt.server.net import Session
from kt.server.stats import CounterBoard, memory_usage

__all__ = [
    "KyotoEngine",
    "KyotoSession",
    "ScriptCaller",
    "RV_SUCCESS",
    "RV_ENOIMPL",
    "RV_EINVALID",
    "RV_ELOGIC",
    "RV_ETIMEOUT",
    "RV_EINTERNAL",
]

# Return values of procedures (Kyoto Tycoon's RPCClient::ReturnValue).
RV_SUCCESS: Final = 0
RV_ENOIMPL: Final = 1
RV_EINVALID: Final = 2
RV_ELOGIC: Final = 3
RV_ETIMEOUT: Final = 4
RV_EINTERNAL: Final = 5

#: Calls a script procedure: (name, input map) -> (return value, output map).
ScriptCaller = Callable[[bytes, Dict[bytes, bytes]], Tuple[int, Dict[bytes, bytes]]]

# Operation counters (report's cnt_* fields).
C_SET: Final = 0
C_SET_MISS: Final = 1
C_REMOVE: Final = 2
C_REMOVE_MISS: Final = 3
C_GET: Final = 4
C_GET_MISS: Final = 5
C_SCRIPT: Final = 6
C_MISC: Final = 7
_COUNTER_NAMES: Final = ("cnt_set", "cnt_set_misses", "cnt_remove", "cnt_remove_misses",
                         "cnt_get", "cnt_get_misses", "cnt_script", "cnt_misc")

_VERSION_TEXT: Final = "1.0.0 (2.19)"
#: Whether this module runs compiled by mypyc (reported as a feature).
COMPILED: Final = not __file__.endswith(".py")

_ERR_NO_DB: Final = b"no such database"
_ERR_PARAMS: Final = b"invalid parameters"
_ERR_NO_CUR: Final = b"no such cursor"

_SET_BULK_REPLY_1: Final = kb.encode_set_bulk_reply(1)
_SET_BULK_REPLY_0: Final = kb.encode_set_bulk_reply(0)
_ERROR_REPLY: Final = kb.encode_error_reply()
#: RPC procedures that may block or run long: run off the event loop.
_MAY_BLOCK: Final = frozenset(["play_script", "synchronize"])
_EMPTY_GET_BULK: Final = kb.encode_get_bulk_reply(kb.BulkRecords())


_NUMBUF: Final = 128  # Kyoto Cabinet's number buffer in its printf
#: ktserver's poll timeout: a server that saw no request for this long runs
#: its idle work (expiration of records).
IDLE_SECONDS: Final = 0.1


def _format_double(x: float) -> bytes:
    """printf("%f") as Kyoto Cabinet's own printf writes it: a number
    longer than its 128-byte buffer is cut to 127 characters and a ``*``."""
    if math.isnan(x):
        return b"-nan" if math.copysign(1.0, x) < 0 else b"nan"
    text = (u"%f" % x).encode("ascii")
    if b"e" in text and not math.isinf(x):
        # PyPy's "%f" switches to an exponent for huge numbers; C's printf
        # (and CPython's) writes every digit: the exact decimal value.
        text = format(decimal.Decimal(x), ".6f").encode("ascii")
    if len(text) >= _NUMBUF:
        text = text[:_NUMBUF - 1] + b"*"
    return text


def _error_text(code: int, message: str) -> bytes:
    return ("DB: %d: %s: %s" % (code, ERROR_NAMES.get(code, "error"), message)).encode(
        "utf-8", "replace")


_NOREC_TEXT: Final = _error_text(E_NOREC, "no record")


def _db_runs(idxs: List[int], ndb: int) -> List[int]:
    """Batches of a bulk request: consecutive records naming the same
    database go together; records naming no database (index ``ndb`` or
    more) are left out.  Returns [db, start, end, db, start, end, ...]."""
    runs: List[int] = []
    n = len(idxs)
    i = 0
    while i < n:
        idx = idxs[i]
        j = i + 1
        while j < n and idxs[j] == idx:
            j += 1
        if idx < ndb:
            runs.append(idx)
            runs.append(i)
            runs.append(j)
        i = j
    return runs


@final
class KyotoEngine:
    """State shared by every connection of one server."""

    dbs: List[Database]
    dbmap: Dict[bytes, int]
    scripts: Optional[ScriptCaller]
    location_prefix: bytes
    logger: Logger
    log_info: bool
    thread_count: int
    start_time: float
    board: CounterBoard
    _date_second: int
    _date: bytes
    busy: int
    #: Requests begun so far (the idle thread's sign of activity: a count,
    #: not a clock read per request).
    served: int
    _idle_thread: Optional[threading.Thread]
    _idle_count: int
    #: The update log (-ulog) and the replication slave (-mhost/-rts), if any.
    ulog: Optional[UpdateLog]
    slave: Optional[replication.Slave]

    def __init__(self, dbs: List[Database], logger: Logger,
                 scripts: Optional[ScriptCaller] = None, thread_count: int = 16) -> None:
        self.dbs = dbs
        self.dbmap = {}
        for i, db in enumerate(dbs):
            # ktserver maps the last path component of each database.
            name = db.path.rsplit("/", 1)[-1]
            self.dbmap[name.encode("utf-8", "surrogateescape")] = i
        self.scripts = scripts
        self.location_prefix = b"http://localhost"
        self.logger = logger
        self.log_info = logger.enabled("INFO")
        self.thread_count = thread_count
        self.start_time = time.time()
        self.board = CounterBoard(len(_COUNTER_NAMES))
        self._date_second = -1
        self._date = b""
        self.busy = 0
        self.served = 0
        self._idle_thread = None
        self._idle_count = 0
        self.ulog = None
        self.slave = None

    def set_port(self, port: int) -> None:
        """Where the server listens (RESTful PUT answers carry a Location
        built as ktserver builds it: always ``localhost``)."""
        if port == 80:
            self.location_prefix = b"http://localhost"
        else:
            self.location_prefix = b"http://localhost:%d" % port

    def date(self) -> bytes:
        """The Date header value (formatted once a second)."""
        now = int(time.time())
        if now != self._date_second:
            self._date = kh.format_xt_header(now)
            self._date_second = now
        return self._date

    def session(self, peer: str) -> "KyotoSession":
        if self._idle_thread is None:
            self._idle_thread = threading.Thread(target=self._idle_loop, name="kt-idle",
                                                 daemon=True)
            self._idle_thread.start()
        return KyotoSession(self, peer)

    def _idle_loop(self) -> None:
        """ktserver's idle events: after IDLE_SECONDS without a request, up
        to four ``vacuum(2)`` on one database (round robin), again every
        IDLE_SECONDS while the server stays idle.  This is what purges
        expired records of a server nobody is using."""
        seen = self.served
        while True:
            time.sleep(IDLE_SECONDS)
            served = self.served
            if self.busy > 0 or not self.dbs or served != seen:
                seen = served  # a request began during the last interval
                continue
            db = self.dbs[self._idle_count % len(self.dbs)]
            self._idle_count += 1
            for _ in range(4):
                if self.busy > 0:
                    break
                db.vacuum(2)

    def resolve_db(self, value: Optional[bytes]) -> int:
        """Index of the database a ``DB`` parameter names, -1 for none."""
        if value is None:
            return 0
        nul = value.find(b"\x00")
        if nul >= 0:
            value = value[:nul]
        if not value:
            return 0
        if 0x30 <= value[0] <= 0x39:
            idx = atoi(value)
        else:
            idx = self.dbmap.get(value, -1)
        return idx if 0 <= idx < len(self.dbs) else -1

    def report(self) -> Dict[bytes, bytes]:
        out: Dict[bytes, bytes] = {}
        total_count = 0
        total_size = 0
        for i, db in enumerate(self.dbs):
            count = db.count()
            size = db.size()
            out[b"db_%d" % i] = ("count=%d size=%d path=%s" % (count, size, db.path)).encode(
                "utf-8", "surrogateescape")
            total_count += count
            total_size += size
        out[b"db_total_count"] = b"%d" % total_count
        out[b"db_total_size"] = b"%d" % total_size
        out[b"serv_conn_count"] = b"%d" % self.board.connections()
        out[b"serv_task_count"] = b"0"
        out[b"serv_thread_count"] = b"%d" % self.thread_count
        now = time.time()
        out[b"serv_current_time"] = (u"%.6f" % now).encode("ascii")
        out[b"serv_running_term"] = (u"%.6f" % (now - self.start_time)).encode("ascii")
        out[b"serv_proc_id"] = b"%d" % os.getpid()
        times = os.times()
        out[b"sys_ru_utime"] = (u"%.6f" % times.user).encode("ascii")
        out[b"sys_ru_stime"] = (u"%.6f" % times.system).encode("ascii")
        rss = memory_usage()[1]
        if rss >= 0:
            out[b"sys_mem_rss"] = b"%d" % rss
        counts = self.board.totals()
        for i in range(len(_COUNTER_NAMES)):
            out[_COUNTER_NAMES[i].encode("ascii")] = b"%d" % counts[i]
        out[b"conf_kt_version"] = _VERSION_TEXT.encode("ascii")
        out[b"conf_kt_features"] = b"(kt.server)(compiled)" if COMPILED else b"(kt.server)"
        out[b"conf_kc_version"] = b"kt.server storage"
        out[b"conf_kc_features"] = b""
        out[b"conf_os_name"] = platform.system().encode("utf-8", "replace")
        if self.slave is not None:
            for k, v in self.slave.report():
                out[k.encode("ascii")] = v.encode("utf-8", "surrogateescape")
        return out


@final
class KyotoSession(Session):
    """One connection: its parser state, its cursors, its counters."""

    engine: KyotoEngine
    peer: str
    counts: List[int]
    cursors: Dict[int, Cursor]
    #: The binary parser while a request is arriving (None between requests).
    _binary: Optional[kb.RequestParser]
    #: The session's binary request parser (reused from request to request).
    _parser: kb.RequestParser
    _http: kh.RequestParser
    _dbs: List[Database]
    #: The replication request that took the connection over (``takeover``,
    #: kt.server.net.Session).
    _repl: Optional[kb.BinaryRequest]
    #: A request ``process`` stopped before (``deferred``), kept for the
    #: next call.
    _held_binary: Optional[kb.BinaryRequest]
    _held_http: Optional[kh.HttpRequest]

    def __init__(self, engine: KyotoEngine, peer: str) -> None:
        super().__init__()
        self.engine = engine
        self._repl = None
        self._held_binary = None
        self._held_http = None
        self.peer = peer
        self.counts = engine.board.register()
        self.cursors = {}
        self._binary = None
        self._parser = kb.RequestParser()
        self._http = kh.RequestParser()
        self._dbs = engine.dbs

    def close(self) -> None:
        self.cursors = {}
        self.engine.board.retire(self.counts)

    # -- framing ---------------------------------------------------------------

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        """Answer every complete request in ``buf``; returns the replies
        and whether to close the connection after sending them.  Raises
        ProtocolError for bytes that are not a request."""
        engine = self.engine
        engine.busy += 1
        engine.served += 1
        try:
            out: List[bytes] = []
            resumed = self.deferred
            if resumed and not self._resume(out):
                return out, True
            return self._process(buf, out, not resumed)
        finally:
            engine.busy -= 1

    def _resume(self, out: List[bytes]) -> bool:
        """Serve the request a previous call deferred; False to close."""
        self.deferred = False
        breq = self._held_binary
        hreq = self._held_http
        self._held_binary = None
        self._held_http = None
        if breq is not None:
            return self._serve_binary(breq, out)
        if hreq is not None:
            return self._serve_http(hreq, out)
        return True

    def _process(self, buf: ReceiveBuffer, out: List[bytes],
                 hold: bool) -> Tuple[List[bytes], bool]:
        """Answer the complete requests in ``buf``; with ``hold``, stop
        before one that may block (script procedures, synchronize) and set
        ``deferred``."""
        http = self._http
        while True:
            parser = self._binary
            if parser is None:
                # The HTTP parser keeps a request whose body is still
                # arriving; otherwise the next byte decides the protocol.
                if not http.in_body:
                    if len(buf) == 0 or not buf.ensure(1):
                        return out, False
                    first = buf.data[buf.pos]
                    if first == 0 or first >= 0x80:
                        parser = self._parser
                if parser is None:
                    hreq = http.parse(buf)
                    if hreq is None:
                        return out, False
                    if hold and hreq.path.startswith(b"/rpc/") and (
                            kh.rpc_procedure(hreq.path) in _MAY_BLOCK):
                        self._held_http = hreq
                        self.deferred = True
                        return out, False
                    if not self._serve_http(hreq, out):
                        return out, True
                    continue
            try:
                req = parser.parse(buf)
            except ProtocolError as exc:
                started = parser.started
                if started is None:
                    raise  # not a binary command at all: just close
                # A known command with a record ktserver refuses (too
                # large): it answers 0xBF, then closes the connection.
                self._binary = None
                if started.magic == kb.MAGIC_GET_BULK or not started.flags & kb.FLAG_NO_REPLY:
                    out.append(_ERROR_REPLY)
                self.engine.logger.info("(%s): bad binary request, closing the connection: %s"
                                % (self.peer, exc))
                return out, True
            if req is None:
                self._binary = parser
                return out, False
            self._binary = None
            if hold and req.magic == kb.MAGIC_PLAY_SCRIPT:
                self._held_binary = req
                self.deferred = True
                return out, False
            if not self._serve_binary(req, out):
                return out, True
            if self.takeover is not None:
                return out, False

    # -- binary protocol -------------------------------------------------------

    def _serve_binary(self, req: kb.BinaryRequest, out: List[bytes]) -> bool:
        """Answer one binary request; False to close the connection."""
        magic = req.magic
        if magic == kb.MAGIC_GET_BULK:
            out.append(self._bin_get_bulk(req.records))
            command = "bin_get_bulk"
        else:
            if magic == kb.MAGIC_SET_BULK:
                reply = self._bin_set_bulk(req.records)
                command = "bin_set_bulk"
            elif magic == kb.MAGIC_REMOVE_BULK:
                reply = self._bin_remove_bulk(req.records)
                command = "bin_remove_bulk"
            elif magic == kb.MAGIC_PLAY_SCRIPT:
                reply = self._bin_play_script(req.name, req.pairs)
                command = "bin_play_script"
            elif self.engine.ulog is not None:
                # kt.server.net hands the connection to _stream_log
                self._repl = req
                self.takeover = self._stream_log
                if self.engine.log_info:
                    self._log_binary("bin_replication", True)
                return True
            else:
                # Replication needs an update log (-ulog).
                out.append(_ERROR_REPLY)
                self.engine.logger.info("(%s): no update log allows no replication" % self.peer)
                if self.engine.log_info:
                    self._log_binary("bin_replication", False)
                return False
            if not req.flags & kb.FLAG_NO_REPLY:
                out.append(reply)
        if self.engine.log_info:
            self._log_binary(command, True)
        return True

    def _stream_log(self, sock: socket.socket, buf: ReceiveBuffer) -> None:
        """The takeover of a 0xB1 request: stream the update log."""
        req = self._repl
        ulog = self.engine.ulog
        if req is not None and ulog is not None:
            replication.serve_stream(ulog, sock, buf, req.ts, req.sid, req.flags,
                                     self.engine.logger, self.peer)

    def _log_binary(self, command: str, ok: bool) -> None:
        self.engine.logger.info("(%s): %s: %d" % (self.peer, command, 1 if ok else 0))

    def _bin_get_bulk(self, recs: kb.BulkRecords) -> bytes:
        keys = recs.keys
        dbs = self._dbs
        if len(keys) == 1 and recs.dbs[0] < len(dbs):
            # one record (a client's get): no lists of found records
            idx = recs.dbs[0]
            key = keys[0]
            found_one = dbs[idx].get_with_xt(key)
            counts = self.counts
            counts[C_GET] += 1
            if found_one is None:
                counts[C_GET_MISS] += 1
                return _EMPTY_GET_BULK
            return kb.encode_get_bulk_reply_one(idx, key, found_one[0], found_one[1])
        found = kb.BulkRecords()
        found_dbs = found.dbs
        misses = 0
        tried = 0
        runs = _db_runs(recs.dbs, len(dbs))
        for r in range(0, len(runs), 3):
            idx = runs[r]
            i = runs[r + 1]
            j = runs[r + 2]
            before = len(found.keys)
            misses += dbs[idx].fetch(keys, i, j, found.keys, found.values, found.xts)
            tried += j - i
            found_dbs.extend([idx] * (len(found.keys) - before))
        counts = self.counts
        counts[C_GET] += tried
        counts[C_GET_MISS] += misses
        if not found_dbs:
            return _EMPTY_GET_BULK
        return kb.encode_get_bulk_reply(found)

    def _bin_set_bulk(self, recs: kb.BulkRecords) -> bytes:
        dbs = self._dbs
        hits = 0
        runs = _db_runs(recs.dbs, len(dbs))
        for r in range(0, len(runs), 3):
            i = runs[r + 1]
            j = runs[r + 2]
            dbs[runs[r]].store(recs.keys, recs.values, recs.xts, i, j)
            hits += j - i
        self.counts[C_SET] += hits
        if hits == 1:
            return _SET_BULK_REPLY_1
        if hits == 0:
            return _SET_BULK_REPLY_0
        return kb.encode_set_bulk_reply(hits)

    def _bin_remove_bulk(self, recs: kb.BulkRecords) -> bytes:
        dbs = self._dbs
        hits = 0
        tried = 0
        runs = _db_runs(recs.dbs, len(dbs))
        for r in range(0, len(runs), 3):
            i = runs[r + 1]
            j = runs[r + 2]
            hits += dbs[runs[r]].discard(recs.keys, i, j)
            tried += j - i
        self.counts[C_REMOVE] += tried
        self.counts[C_REMOVE_MISS] += tried - hits
        return kb.encode_remove_bulk_reply(hits)

    def _bin_play_script(self, name: bytes, pairs: List[Tuple[bytes, bytes]]) -> bytes:
        scripts = self.engine.scripts
        if scripts is None:
            return _ERROR_REPLY
        self.counts[C_SCRIPT] += 1
        rv, outmap = scripts(name, dict(pairs))
        if rv != RV_SUCCESS:
            return _ERROR_REPLY
        return kb.encode_play_script_reply(sorted(outmap.items()))

    # -- HTTP ------------------------------------------------------------------

    def _serve_http(self, req: kh.HttpRequest, out: List[bytes]) -> bool:
        """Answer one HTTP request; False to close the connection."""
        keep = req.keep_alive
        path = req.path
        if path.startswith(b"/rpc/"):
            status, data = self._rpc(req, keep)
        else:
            status, data = self._rest(req, keep)
        out.append(data)
        if self.engine.log_info:
            self.engine.logger.info("(%s): %s %s %s: %d" % (
                self.peer, req.method.decode("latin-1"), req.target.decode("latin-1"),
                req.version.decode("latin-1"), status))
        return keep

    def _rpc(self, req: kh.HttpRequest, keep: bool) -> Tuple[int, bytes]:
        name = kh.rpc_procedure(req.path)
        inmap: Dict[bytes, bytes] = dict(req.rpc_pairs())
        outmap: Dict[bytes, bytes] = {}
        status = self._call(name if name is not None else "", inmap, outmap)
        pairs = sorted(outmap.items())
        date = self.engine.date()
        if req.method == b"HEAD":
            colenc = kh.ktserver_colenc(pairs)
            ctype = kh.tsv_content_type(colenc)
            return status, kh.encode_response(status, [(b"Content-Type", ctype)], b"", keep,
                                              True, date)
        return status, kh.encode_rpc_response(status, pairs, None, keep, date)

    def _rest(self, req: kh.HttpRequest, keep: bool) -> Tuple[int, bytes]:
        method = req.method
        head = method == b"HEAD"
        date = self.engine.date()
        try:
            dbpart, key = kh.split_rest_path(req.path)
        except ProtocolError:
            return 400, kh.encode_response(400, [], b"invalid URL encoding\n", keep, head, date)
        idx = self.engine.resolve_db(dbpart)
        if idx < 0:
            return 400, kh.encode_response(400, [], b"no such database\n", keep, head, date)
        db = self._dbs[idx]
        counts = self.counts
        headers: List[Tuple[bytes, bytes]] = []
        if method == b"GET" or head:
            counts[C_GET] += 1
            rec = db.get_with_xt(key)
            if rec is None:
                counts[C_GET_MISS] += 1
                if head:
                    headers.append((b"Content-Length", b"0"))
                headers.append((b"X-Kt-Error", _NOREC_TEXT))
                return 404, kh.encode_response(404, headers, b"", keep, head, date)
            value, xt = rec
            if head:
                headers.append((b"Content-Length", b"%d" % len(value)))
            if xt < XT_MAX:
                headers.append((b"X-Kt-Xt", kh.format_xt_header(xt)))
            return 200, kh.encode_response(200, headers, b"" if head else value, keep, head,
                                           date)
        if method == b"PUT":
            counts[C_SET] += 1
            mode = req.headers.get(b"x-kt-mode", b"").lower()
            raw_xt = req.headers.get(b"x-kt-xt")
            xt = INT64_MAX
            if raw_xt is not None:
                try:
                    when = kh.parse_xt_header(raw_xt)
                except ProtocolError:
                    when = -1
                if 0 < when < XT_MAX:
                    xt = -when
            body = req.body
            if mode == b"add":
                ok = db.add(key, body, xt)
                err = _error_text(6, "record duplication")
            elif mode == b"replace":
                ok = db.replace(key, body, xt)
                err = _NOREC_TEXT
            else:
                db.set(key, body, xt)
                ok = True
                err = b""
            if ok:
                headers.append((b"Location", self.engine.location_prefix + req.target))
                return 201, kh.encode_response(201, headers, b"", keep, False, date)
            counts[C_SET_MISS] += 1
            headers.append((b"X-Kt-Error", err))
            return 450, kh.encode_response(450, headers, b"", keep, False, date)
        if method == b"DELETE":
            counts[C_REMOVE] += 1
            if db.remove(key):
                return 204, kh.encode_response(204, headers, b"", keep, False, date)
            counts[C_REMOVE_MISS] += 1
            headers.append((b"X-Kt-Error", _NOREC_TEXT))
            return 404, kh.encode_response(404, headers, b"", keep, False, date)
        return 501, kh.encode_response(501, headers, b"", keep, head, date)

    # -- RPC procedures -----------------------------------------------------------

    def _call(self, name: str, inmap: Dict[bytes, bytes], outmap: Dict[bytes, bytes]) -> int:
        """Run procedure ``name``; returns the HTTP status."""
        idx = self.engine.resolve_db(inmap.get(b"DB"))
        db: Optional[Database] = self._dbs[idx] if idx >= 0 else None
        cur: Optional[Cursor] = None
        raw_cur = inmap.get(b"CUR")
        if raw_cur is not None and raw_cur[:1].isdigit():
            curid = atoi(raw_cur)
            found = self.cursors.get(curid)
            if found is None:
                if db is not None:
                    cur = db.cursor()
                    self.cursors[curid] = cur
            else:
                cur = found
                if name == "cur_delete":
                    del self.cursors[curid]
                    return 200
        if name.startswith("cur_") and name != "cur_delete":
            return self._cursor_proc(name, cur, inmap, outmap)
        if name in _KEYED_PROCS:
            if db is None:
                return _fail(outmap, 400, _ERR_NO_DB)
            key = inmap.get(b"key")
            if key is None:
                return _fail(outmap, 400, _ERR_PARAMS)
            return self._call_keyed(name, db, key, inmap, outmap)
        if name == "set_bulk":
            return self._proc_set_bulk(db, inmap, outmap)
        if name == "get_bulk" or name == "remove_bulk":
            return self._proc_keys_bulk(name, db, inmap, outmap)
        if name == "match_prefix" or name == "match_regex" or name == "match_similar":
            return self._proc_match(name, db, inmap, outmap)
        return self._call_admin(name, db, inmap, outmap)

    def _call_keyed(self, name: str, db: Database, key: bytes, inmap: Dict[bytes, bytes],
                    outmap: Dict[bytes, bytes]) -> int:
        """The procedures on one record (``key``) of database ``db``."""
        if name == "get" or name == "seize":
            return self._proc_get(db, key, inmap, outmap, name == "seize")
        if name == "set" or name == "add" or name == "replace" or name == "append":
            return self._proc_store(name, db, key, inmap, outmap)
        if name == "remove":
            return self._proc_remove(db, key, inmap, outmap)
        if name == "check":
            return self._proc_check(db, key, inmap, outmap)
        if name == "increment" or name == "increment_double":
            return self._proc_increment(db, key, inmap, outmap, name == "increment_double")
        return self._proc_cas(db, key, inmap, outmap)

    def _call_admin(self, name: str, db: Optional[Database], inmap: Dict[bytes, bytes],
                    outmap: Dict[bytes, bytes]) -> int:
        """The procedures about the server and whole databases."""
        if name == "void":
            return 200
        if name == "echo":
            outmap.update(inmap)
            return 200
        if name == "report":
            outmap.update(self.engine.report())
            return 200
        if name == "synchronize":
            return self._proc_synchronize(db, inmap, outmap)
        if name == "play_script":
            return self._proc_play_script(inmap, outmap)
        if name == "ulog_list" or name == "ulog_remove" or name == "tune_replication":
            engine = self.engine
            return replication.procedure(name, engine.ulog, engine.slave, inmap, outmap)
        if name != "status" and name != "clear" and name != "vacuum":
            return _fail(outmap, 501, b"not implemented: " + name.encode("latin-1"))
        if db is None:
            return _fail(outmap, 400, _ERR_NO_DB)
        self.counts[C_MISC] += 1
        if name == "status":
            for k, v in db.status().items():
                outmap[k.encode("ascii")] = v.encode("utf-8", "surrogateescape")
        elif name == "clear":
            db.clear()
        else:
            step = inmap.get(b"step")
            db.vacuum(atoi(step) if step is not None else 0)
        return 200

    def _proc_get(self, db: Database, key: bytes, inmap: Dict[bytes, bytes],
                  outmap: Dict[bytes, bytes], seize: bool) -> int:
        counts = self.counts
        counts[C_GET] += 1
        if seize:
            counts[C_REMOVE] += 1
            rec = db.seize(key)
        else:
            rec = db.get_with_xt(key)
        if rec is None:
            counts[C_GET_MISS] += 1
            if seize:
                counts[C_REMOVE_MISS] += 1
            return _fail(outmap, 450, _NOREC_TEXT)
        outmap[b"value"] = rec[0]
        if rec[1] < XT_MAX:
            outmap[b"xt"] = b"%d" % rec[1]
        return 200

    def _proc_check(self, db: Database, key: bytes, inmap: Dict[bytes, bytes],
                    outmap: Dict[bytes, bytes]) -> int:
        self.counts[C_GET] += 1
        rec = db.check(key)
        if rec is None:
            self.counts[C_GET_MISS] += 1
            return _fail(outmap, 450, _NOREC_TEXT)
        outmap[b"vsiz"] = b"%d" % rec[0]
        if rec[1] < XT_MAX:
            outmap[b"xt"] = b"%d" % rec[1]
        return 200

    def _proc_store(self, name: str, db: Database, key: bytes, inmap: Dict[bytes, bytes],
                    outmap: Dict[bytes, bytes]) -> int:
        value = inmap.get(b"value")
        if value is None:
            return _fail(outmap, 400, _ERR_PARAMS)
        xt = _xt_param(inmap)
        self.counts[C_SET] += 1
        if name == "set":
            db.set(key, value, xt)
        elif name == "add":
            if not db.add(key, value, xt):
                self.counts[C_SET_MISS] += 1
                return _fail(outmap, 450, _error_text(6, "record duplication"))
        elif name == "replace":
            if not db.replace(key, value, xt):
                self.counts[C_SET_MISS] += 1
                return _fail(outmap, 450, _NOREC_TEXT)
        else:
            db.append(key, value, xt)
        return 200

    def _proc_remove(self, db: Database, key: bytes, inmap: Dict[bytes, bytes],
                     outmap: Dict[bytes, bytes]) -> int:
        self.counts[C_REMOVE] += 1
        if not db.remove(key):
            self.counts[C_REMOVE_MISS] += 1
            return _fail(outmap, 450, _NOREC_TEXT)
        return 200

    def _proc_increment(self, db: Database, key: bytes, inmap: Dict[bytes, bytes],
                        outmap: Dict[bytes, bytes], real: bool) -> int:
        """increment (``real`` False) and increment_double (True)."""
        num = inmap.get(b"num")
        if num is None:
            return _fail(outmap, 400, _ERR_PARAMS)
        raw = inmap.get(b"orig")
        orig = _cstr(raw) if raw is not None else b"0"
        xt = _xt_param(inmap)
        self.counts[C_SET] += 1
        text: Optional[bytes] = None
        if real:
            dorig = -math.inf if orig == b"try" else math.inf if orig == b"set" else atof(orig)
            dresult = db.increment_double(key, atof(num), dorig, xt)
            if not math.isnan(dresult):
                text = _format_double(dresult)
        else:
            iorig = INT64_MIN if orig == b"try" else INT64_MAX if orig == b"set" else atoi(orig)
            result = db.increment(key, atoi(num), iorig, xt)
            if result is not None:
                text = b"%d" % result
        if text is None:
            self.counts[C_SET_MISS] += 1
            return _fail(outmap, 450, _error_text(E_LOGIC, "logical inconsistency"))
        outmap[b"num"] = text
        return 200

    def _proc_cas(self, db: Database, key: bytes, inmap: Dict[bytes, bytes],
                  outmap: Dict[bytes, bytes]) -> int:
        self.counts[C_SET] += 1
        if not db.cas(key, inmap.get(b"oval"), inmap.get(b"nval"), _xt_param(inmap)):
            self.counts[C_SET_MISS] += 1
            return _fail(outmap, 450, _error_text(E_LOGIC, "status conflict"))
        return 200

    def _proc_set_bulk(self, db: Optional[Database], inmap: Dict[bytes, bytes],
                       outmap: Dict[bytes, bytes]) -> int:
        if db is None:
            return _fail(outmap, 400, _ERR_NO_DB)
        # ktserver collects the records in a std::map: key order
        items = sorted((k[1:], v) for k, v in inmap.items() if k[:1] == b"_")
        self.counts[C_SET] += len(items)
        num = db.set_bulk(items, _xt_param(inmap), b"atomic" in inmap)
        outmap[b"num"] = b"%d" % num
        return 200

    def _proc_keys_bulk(self, name: str, db: Optional[Database], inmap: Dict[bytes, bytes],
                        outmap: Dict[bytes, bytes]) -> int:
        """get_bulk and remove_bulk: the keys are the ``_``-prefixed inputs."""
        if db is None:
            return _fail(outmap, 400, _ERR_NO_DB)
        # ktserver collects the keys from its std::map of inputs: key order,
        # which is the order in which each one ticks the expiration cursor
        keys = sorted(k[1:] for k in inmap if k[:1] == b"_")
        counts = self.counts
        if name == "get_bulk":
            found = db.get_bulk(keys, b"atomic" in inmap)
            num = len(found)
            counts[C_GET] += len(keys)
            counts[C_GET_MISS] += len(keys) - num
            for k, v in found.items():
                outmap[b"_" + k] = v
        else:
            num = db.remove_bulk(keys, b"atomic" in inmap)
            counts[C_REMOVE] += len(keys)
            counts[C_REMOVE_MISS] += len(keys) - num
        outmap[b"num"] = b"%d" % num
        return 200

    def _proc_match(self, name: str, db: Optional[Database], inmap: Dict[bytes, bytes],
                    outmap: Dict[bytes, bytes]) -> int:
        if db is None:
            return _fail(outmap, 400, _ERR_NO_DB)
        raw_max = inmap.get(b"max")
        limit = atoi(raw_max) if raw_max is not None else -1
        if limit < 0:
            limit = -1
        self.counts[C_MISC] += 1
        if name == "match_prefix":
            prefix = inmap.get(b"prefix")
            if prefix is None:
                return _fail(outmap, 400, _ERR_PARAMS)
            keys = db.match_prefix(prefix, limit)
        elif name == "match_regex":
            regex = inmap.get(b"regex")
            if regex is None:
                return _fail(outmap, 400, _ERR_PARAMS)
            try:
                keys = db.match_regex(regex, limit)
            except DBError as exc:
                return _fail(outmap, 450, exc.describe().encode("utf-8", "replace"))
        else:
            origin = inmap.get(b"origin")
            if origin is None:
                return _fail(outmap, 400, _ERR_PARAMS)
            raw_range = inmap.get(b"range")
            distance = atoi(raw_range) if raw_range is not None else 1
            if distance < 0:
                distance = 1
            keys = db.match_similar(origin, distance, b"utf" in inmap, limit)
        for i in range(len(keys)):
            outmap[b"_" + keys[i]] = b"%d" % i
        outmap[b"num"] = b"%d" % len(keys)
        return 200

    def _proc_synchronize(self, db: Optional[Database], inmap: Dict[bytes, bytes],
                          outmap: Dict[bytes, bytes]) -> int:
        if db is None:
            return _fail(outmap, 400, _ERR_NO_DB)
        self.counts[C_MISC] += 1
        try:
            db.synchronize(b"hard" in inmap)
        except DBError as exc:
            self.engine.logger.error("database error: %s" % exc.describe())
            return _fail(outmap, 500, exc.describe().encode("utf-8", "replace"))
        command = inmap.get(b"command")
        if command is not None and _cstr(command):
            # ktserver runs the command from its -cmd directory; the
            # built-in server runs no commands and answers as ktserver does
            # when the command fails.
            self.engine.logger.error("execution failed: %s \"%s\" (the built-in server runs "
                                     "no commands)" % (command.decode("latin-1"), db.path))
            return _fail(outmap, 500, _error_text(E_LOGIC, "postprocessing failed"))
        return 200

    def _proc_play_script(self, inmap: Dict[bytes, bytes], outmap: Dict[bytes, bytes]) -> int:
        scripts = self.engine.scripts
        if scripts is None:
            return _fail(outmap, 501, b"the scripting extention is disabled")
        name = inmap.get(b"name")
        if name is not None:
            name = _cstr(name)
        if not name or not name.isalnum() or not name.isascii():
            return _fail(outmap, 400, _ERR_PARAMS)
        args: Dict[bytes, bytes] = {}
        for k, v in inmap.items():
            if k[:1] == b"_":
                args[k[1:]] = v
        self.counts[C_SCRIPT] += 1
        rv, result = scripts(name, args)
        if rv == RV_SUCCESS:
            for k, v in result.items():
                outmap[b"_" + k] = v
            return 200
        if rv == RV_ENOIMPL:
            return _fail(outmap, 501, b"no such scripting procedure")
        return _fail(outmap, _rv_status(rv), b"the scripting procedure failed")

    def _cursor_proc(self, name: str, cur: Optional[Cursor], inmap: Dict[bytes, bytes],
                     outmap: Dict[bytes, bytes]) -> int:
        if name not in _CURSOR_PROCS:
            return _fail(outmap, 501, b"not implemented: " + name.encode("latin-1"))
        if cur is None:
            return _fail(outmap, 400, _ERR_NO_CUR)
        counts = self.counts
        step = b"step" in inmap
        try:
            if name == "cur_jump" or name == "cur_jump_back":
                counts[C_MISC] += 1
                key = inmap.get(b"key")
                ok = cur.jump(key) if name == "cur_jump" else cur.jump_back(key)
                return 200 if ok else _fail(outmap, 450, _NOREC_TEXT)
            if name == "cur_step" or name == "cur_step_back":
                counts[C_MISC] += 1
                ok = cur.step() if name == "cur_step" else cur.step_back()
                return 200 if ok else _fail(outmap, 450, _NOREC_TEXT)
        except DBError as exc:
            return _fail(outmap, 501 if exc.code == E_NOIMPL else 500,
                         exc.describe().encode("utf-8", "replace"))
        if name == "cur_set_value":
            value = inmap.get(b"value")
            if value is None:
                return _fail(outmap, 400, _ERR_PARAMS)
            counts[C_SET] += 1
            if cur.set_value(value, _xt_param(inmap), step):
                return 200
            counts[C_SET_MISS] += 1
            return _fail(outmap, 450, _NOREC_TEXT)
        if name == "cur_remove":
            counts[C_REMOVE] += 1
            if cur.remove():
                return 200
            counts[C_REMOVE_MISS] += 1
            return _fail(outmap, 450, _NOREC_TEXT)
        counts[C_GET] += 1
        if name == "cur_seize":
            rec = cur.seize()
        else:
            rec = cur.get(step)
        if rec is None:
            counts[C_GET_MISS] += 1
            return _fail(outmap, 450, _NOREC_TEXT)
        if name != "cur_get_value":
            outmap[b"key"] = rec[0]
        if name != "cur_get_key":
            outmap[b"value"] = rec[1]
        if (name == "cur_get" or name == "cur_seize") and rec[2] < XT_MAX:
            outmap[b"xt"] = b"%d" % rec[2]
        return 200


_KEYED_PROCS: Final = frozenset([
    "get", "seize", "set", "add", "replace", "append", "remove", "check", "increment",
    "increment_double", "cas",
])

_CURSOR_PROCS: Final = frozenset([
    "cur_jump", "cur_jump_back", "cur_step", "cur_step_back", "cur_set_value",
    "cur_remove", "cur_get_key", "cur_get_value", "cur_get", "cur_seize",
])


def _fail(outmap: Dict[bytes, bytes], status: int, message: bytes) -> int:
    outmap[b"ERROR"] = message
    return status


def _cstr(value: bytes) -> bytes:
    """``value`` up to its first NUL byte (what ktserver's C strings see)."""
    nul = value.find(b"\x00")
    return value if nul < 0 else value[:nul]


def _xt_param(inmap: Dict[bytes, bytes]) -> int:
    raw = inmap.get(b"xt")
    return atoi(raw) if raw is not None else INT64_MAX


def _rv_status(rv: int) -> int:
    if rv == RV_SUCCESS:
        return 200
    if rv == RV_ENOIMPL:
        return 501
    if rv == RV_EINVALID:
        return 400
    if rv == RV_ELOGIC:
        return 450
    if rv == RV_ETIMEOUT:
        return 503
    return 500
