"""Kyoto Tycoon operations for the fuzzer: a generator of random operations
(every RPC procedure, the binary commands, REST, cursors, expiration) and a
session that executes one on a server and returns the normalised answer."""

from __future__ import annotations

import random
import threading
import time
from typing import Any, List, Optional, Tuple

from kt.protocol import kt_binary as kb
from kt.protocol import kt_http as kh

from . import normalise as nz
from .runner import Op
from .wire import Closed, Wire

NAME = "kyoto"
# database kind -> ktserver database arguments
KINDS = {"hash": ["*"], "tree": ["%"], "both": ["*", "%"]}

KEYS = [b"a", b"ab", b"abc", b"abd", b"b", b"ba", b"bb", b"c", b"k1", b"k2", b"k10", b"key",
        b"x", b"xyz", b"", b"a\x00b", b"\x00", b"tab\tkey", b"nl\nkey", b"\xc3\xa9t\xc3\xa9",
        b"\xff\xfe", b"sp ace", b"%41", b"long" * 70, b"A", b"a.c", b"aac"]
VALUES = [b"", b"v", b"value", b"1", b"-3", b"12", b"1.5", b"1e300", b"-0.25", b"abc",
          b"\x00\x00\x00\x00\x00\x00\x00\x05", b"\x00" * 8, b"\xff" * 8, b"nan", b"inf",
          b" 7", b"0x10", b"x" * 1000, b"\xc3\xa9", b"a\tb\nc", b"9223372036854775807"]
XTS: List[Optional[int]] = [None, None, None, 600, 3600, -4102444800, 1 << 40]
# already expired: only on tree databases (on a hash database which expired
# records ktserver purges first depends on its hash order)
XTS_EXPIRED: List[Optional[int]] = [-1, -1000]
INTS = [b"1", b"0", b"-1", b"5", b"100", b"-100000", b"9223372036854775807",
        b"-9223372036854775808", b"abc", b"", b"12abc", b" 3", b"99999999999999999999"]
DOUBLES = [b"1", b"0.5", b"-0.25", b"1e300", b"-1e300", b"1.7976931348623157e308", b"nan",
           b"inf", b"-inf", b"abc", b"", b"3.14159", b"1e-10", b"100000000000000000000"]
ORIGS = [None, None, b"try", b"set", b"0", b"10", b"-5", b"1.5"]
REGEXES = [b"^a", b"a.c", b"b$", b".*", b"[", b"\\d", b"(a|b)", b"^$", b"k[0-9]+", b"\xc3\xa9",
           b"a\\x00", b"^.b", b"(", b"*", b"[[:alpha:]]"]
PROCS_NOKEY = ["void", "echo", "report", "status", "synchronize", "vacuum", "ulog_list",
               "ulog_remove", "play_script", "tune_replication", "clear"]


class Generator:
    def __init__(self, rng: random.Random, kind: str) -> None:
        self.rng = rng
        self.kind = kind
        self.ndb = len(KINDS[kind])

    # -- small pickers ---------------------------------------------------
    def key(self) -> bytes:
        r = self.rng
        return r.choice(KEYS[:12]) if r.random() < 0.7 else r.choice(KEYS)

    def value(self) -> bytes:
        r = self.rng
        if r.random() < 0.1:
            return bytes(r.randrange(256) for _ in range(r.randrange(12)))
        return r.choice(VALUES)

    def xt(self, tree: bool = False) -> Optional[int]:
        if tree and self.rng.random() < 0.25:
            return self.rng.choice(XTS_EXPIRED)
        return self.rng.choice(XTS)

    def db_is_tree(self, idx: int) -> bool:
        dbs = KINDS[self.kind]
        return idx < len(dbs) and dbs[idx] == "%"

    def db(self) -> Optional[bytes]:
        """The DB parameter: index, name, absent, or (rarely) a bad one."""
        r = self.rng.random()
        if r < 0.03:
            return self.rng.choice([b"7", b"nosuch", b"-1"])
        if self.ndb == 1 and r < 0.5:
            return None
        idx = self.rng.randrange(self.ndb)
        if r < 0.15:
            return KINDS[self.kind][idx].encode()
        return b"%d" % idx

    def is_tree(self, db: Optional[bytes]) -> bool:
        dbs = KINDS[self.kind]
        if db is None:
            return dbs[0] == "%"
        if db.isdigit() and int(db) < len(dbs):
            return dbs[int(db)] == "%"
        return db == b"%" and "%" in dbs

    # -- operations ------------------------------------------------------
    def op(self) -> Op:
        r = self.rng.random()
        if r < 0.35:
            return self.record_op()
        if r < 0.47:
            return self.binary_op()
        if r < 0.57:
            return self.rest_op()
        if r < 0.72:
            return self.match_op()
        if r < 0.82:
            return self.bulk_op()
        if r < 0.95:
            return self.cursor_op()
        return self.misc_op()

    def record_op(self) -> Op:
        r = self.rng
        db = self.db()
        tree = self.is_tree(db)
        proc = r.choice(["set", "add", "replace", "append", "increment", "increment_double",
                         "cas", "remove", "get", "check", "seize", "set", "get", "increment"])
        p: List[Tuple[bytes, bytes]] = []
        if r.random() > 0.01:
            p.append((b"key", self.key()))
        if proc in ("set", "add", "replace", "append") and r.random() > 0.01:
            p.append((b"value", self.value()))
        if proc == "increment":
            p.append((b"num", r.choice(INTS)))
        if proc == "increment_double":
            p.append((b"num", r.choice(DOUBLES)))
        if proc in ("increment", "increment_double"):
            orig = r.choice(ORIGS)
            if orig is not None:
                p.append((b"orig", orig))
        if proc == "cas":
            if r.random() < 0.7:
                p.append((b"oval", self.value() if r.random() < 0.5 else r.choice(VALUES[:4])))
            if r.random() < 0.7:
                p.append((b"nval", self.value()))
        if proc in ("set", "add", "replace", "append", "increment", "increment_double", "cas"):
            xt = self.xt(tree)
            if xt is not None:
                p.append((b"xt", b"%d" % xt))
        return self.with_db("rpc", proc, p, db)

    def with_db(self, what: str, proc: str, p: List[Tuple[bytes, bytes]],
                db: Optional[bytes] = b"?") -> Op:
        if db == b"?":
            db = self.db()
        if db is not None:
            p.append((b"DB", db))
        return (what, proc, tuple(p), self.is_tree(db))

    def bulk_op(self) -> Op:
        r = self.rng
        db = self.db()
        proc = r.choice(["set_bulk", "remove_bulk", "get_bulk"])
        p: List[Tuple[bytes, bytes]] = []
        for _ in range(r.randrange(5)):
            p.append((b"_" + self.key(), self.value() if proc == "set_bulk" else b""))
        if r.random() < 0.3:
            p.append((b"atomic", b""))
        if proc == "set_bulk":
            xt = self.xt(self.is_tree(db))
            if xt is not None:
                p.append((b"xt", b"%d" % xt))
        return self.with_db("rpc", proc, p, db)

    def match_op(self) -> Op:
        r = self.rng
        proc = r.choice(["match_prefix", "match_regex", "match_similar"])
        p: List[Tuple[bytes, bytes]] = []
        if proc == "match_prefix":
            p.append((b"prefix", r.choice([b"", b"a", b"ab", b"k", b"b", b"\x00", b"\xc3", b"z"])))
        elif proc == "match_regex":
            p.append((b"regex", r.choice(REGEXES)))
        else:
            p.append((b"origin", self.key()))
            if r.random() < 0.8:
                p.append((b"range", r.choice([b"0", b"1", b"2", b"3", b"-1", b"x"])))
            if r.random() < 0.4:
                p.append((b"utf", r.choice([b"true", b"", b"false"])))
        if r.random() < 0.5:
            p.append((b"max", r.choice([b"0", b"1", b"2", b"5", b"-1", b"abc"])))
        return self.with_db("rpc", proc, p)

    def misc_op(self) -> Op:
        r = self.rng
        proc = r.choice(PROCS_NOKEY)
        if proc == "clear" and r.random() < 0.6:
            proc = "status"
        p: List[Tuple[bytes, bytes]] = []
        if proc == "echo":
            p = [(self.key() + b"k", self.value()) for _ in range(r.randrange(4))]
            return ("rpc", proc, tuple(p), False)
        if proc == "synchronize" and r.random() < 0.5:
            p.append((b"hard", b""))
        if proc == "vacuum" and r.random() < 0.5:
            p.append((b"step", r.choice([b"0", b"1", b"10"])))
        if proc == "play_script":
            p.append((b"name", b"nosuch"))
        if proc in ("void", "report", "ulog_list", "ulog_remove", "play_script",
                    "tune_replication"):
            return ("rpc", proc, tuple(p), False)
        return self.with_db("rpc", proc, p)

    def binary_op(self) -> Op:
        r = self.rng
        cmd = r.choice(["set_bulk", "get_bulk", "remove_bulk", "set_bulk", "play_script"])
        n = r.randrange(5)
        dbs = tuple(r.randrange(self.ndb) if r.random() > 0.03 else 9 for _ in range(n))
        keys = tuple(self.key() for _ in range(n))
        flags = 1 if r.random() < 0.1 and cmd != "get_bulk" else 0
        if cmd == "set_bulk":
            vals = tuple(self.value() for _ in range(n))
            xts = tuple(r.choice([kb.XT_NONE, kb.XT_NONE, 600, -1, -4102444800]
                                 if self.db_is_tree(d) else
                                 [kb.XT_NONE, kb.XT_NONE, 600, -4102444800]) for d in dbs)
            return ("bin", cmd, dbs, keys, vals, xts, flags)
        if cmd == "play_script":
            return ("bin", cmd, (), (b"k",), (b"v",), (), 0)
        return ("bin", cmd, dbs, keys, (), (), flags)

    def rest_op(self) -> Op:
        r = self.rng
        method = r.choice(["GET", "HEAD", "PUT", "DELETE", "GET", "PUT"])
        key = self.key()
        db: Optional[bytes] = None
        if self.ndb > 1 or r.random() < 0.2:
            db = r.choice([b"0", b"1", b"%", b"*", b"9"][: 2 if self.ndb == 1 else 4]) \
                if r.random() > 0.05 else b"9"
        value = self.value() if method == "PUT" else None
        xt = r.choice([None, None, 4102444800, 1] if self.is_tree(db) else
                      [None, None, 4102444800]) if method == "PUT" else None
        mode = r.choice([None, None, "set", "add", "replace"]) if method == "PUT" else None
        return ("rest", method, key, value, xt, db, mode, self.is_tree(db))

    def cursor_op(self) -> Op:
        r = self.rng
        db = self.db()
        if not self.is_tree(db):
            # hash order differs between implementations: only position the
            # cursor by key and act on that record, or walk everything
            if r.random() < 0.3:
                return ("walk", db)
            sub = r.choice(["cur_get", "cur_get_key", "cur_get_value", "cur_set_value",
                            "cur_remove", "cur_seize"])
            return ("hcur", db, self.key(), sub, self.value(), self.xt(False))
        # a cursor is bound to the database of the request that creates it:
        # one range of ids per database, and the DB parameter on every call
        dbidx = KINDS[self.kind].index("%")
        if db is not None and db.isdigit():
            dbidx = int(db)
        cur = b"%d" % (r.randrange(1, 4) + 10 * dbidx)
        proc = r.choice(["cur_jump", "cur_jump_back", "cur_step", "cur_step_back",
                         "cur_set_value", "cur_remove", "cur_get_key", "cur_get_value",
                         "cur_get", "cur_seize", "cur_delete", "cur_jump", "cur_get",
                         "cur_step"])
        p: List[Tuple[bytes, bytes]] = [(b"CUR", cur)]
        if db is not None:
            p.append((b"DB", db))
        if proc in ("cur_jump", "cur_jump_back"):
            if r.random() < 0.7:
                p.append((b"key", self.key()))
        if proc == "cur_set_value":
            p.append((b"value", self.value()))
            xt = self.xt(True)
            if xt is not None:
                p.append((b"xt", b"%d" % xt))
        if proc in ("cur_set_value", "cur_get_key", "cur_get_value", "cur_get") and \
                r.random() < 0.5:
            p.append((b"step", b""))
        return ("rpc", proc, tuple(p), True)


class Session:
    """One server: an HTTP connection (RPC, REST, cursors) and a binary one."""

    def __init__(self, server: Any, kind: str) -> None:
        self.server = server
        self.kind = kind
        self.http = Wire(server.host, server.port)
        self.bin = Wire(server.host, server.port)
        self.hosthdr = b"%s:%d" % (server.host.encode(), server.port)

        # ktserver purges expired records when it has been idle for 0.1 s;
        # while one server is busy with a slow request the other one would
        # idle, so a third connection keeps both busy with empty get_bulk
        # requests (which count nothing and expire nothing)
        self._ping = Wire(server.host, server.port)
        self._stop = threading.Event()
        self._pinger = threading.Thread(target=self._keep_busy, daemon=True)
        self._pinger.start()

    def _keep_busy(self) -> None:
        req = kb.encode_get_bulk([], 0)
        while not self._stop.wait(0.03):
            try:
                self._ping.call(req, kb.GetBulkReplyParser().parse)
            except (Closed, OSError):
                return

    def close(self) -> None:
        self._stop.set()
        self._pinger.join()
        self._ping.close()
        self.http.close()
        self.bin.close()

    def reset(self) -> None:
        if self.server.external:
            for i in range(len(KINDS[self.kind])):
                self.rpc("clear", [(b"DB", b"%d" % i)])

    def rpc(self, proc: str, pairs: List[Tuple[bytes, bytes]]) -> kh.HttpResponse:
        req = kh.encode_rpc_request(proc, pairs, None, self.hosthdr)
        return self.http.call(req, kh.ResponseParser().parse)

    def execute(self, op: Op) -> object:
        try:
            return getattr(self, "do_" + op[0])(*op[1:])
        except Closed:
            return "CLOSED"

    def do_rpc(self, proc: str, pairs: Tuple[Tuple[bytes, bytes], ...], tree: bool) -> object:
        resp = self.rpc(proc, list(pairs))
        result = normal_rpc(proc, resp.rpc_pairs(), tree, resp.status)
        if proc.startswith("match_") and not tree and resp.status == 200 and \
                any(k == b"max" for k, _ in pairs):
            # which keys a limit keeps depends on the hash order: count only
            keys, rest = result  # type: ignore[misc]
            result = (len(keys), rest)
        return (resp.status, result)

    def do_bin(self, cmd: str, dbs: Tuple[int, ...], keys: Tuple[bytes, ...],
               vals: Tuple[bytes, ...], xts: Tuple[int, ...], flags: int) -> object:
        if cmd == "set_bulk":
            recs = kb.BulkRecords()
            recs.dbs, recs.keys, recs.values, recs.xts = list(dbs), list(keys), list(vals), list(xts)
            req = kb.encode_set_bulk_records(recs, flags)
            parse: Any = kb.parse_set_bulk_reply
        elif cmd == "remove_bulk":
            req = kb.encode_remove_bulk_records(list(dbs), list(keys), flags)
            parse = kb.parse_remove_bulk_reply
        elif cmd == "get_bulk":
            req = kb.encode_get_bulk_records(list(dbs), list(keys))
            parse = kb.GetBulkReplyParser().parse
        else:
            req = kb.encode_play_script(b"nosuch", list(zip(keys, vals)), flags)
            parse = kb.PlayScriptReplyParser().parse
        if flags & 1:
            self.bin.send(req)
            # an empty get_bulk on the same connection: the no-reply request
            # is done before the next operation (on another connection) runs
            self.bin.call(kb.encode_get_bulk([], 0), kb.GetBulkReplyParser().parse)
            return None
        try:
            got = self.bin.call(req, parse)
        except Exception as exc:  # ServerError for 0xBF
            self.bin.close()
            # let the server see the close before anything counts connections
            time.sleep(0.02)
            return ("error", type(exc).__name__)
        if isinstance(got, kb.BulkRecords):
            return sorted(zip(got.dbs, got.keys, got.values, [nz.xt(x) if x < kb.XT_NONE else x
                                                                for x in got.xts]))
        return got

    def do_rest(self, method: str, key: bytes, value: Optional[bytes], xt: Optional[int],
                db: Optional[bytes], mode: Optional[str], tree: bool) -> object:
        req = kh.encode_rest_request(method, key, value, xt, db, self.hosthdr, mode)
        resp = self.http.call(req, kh.ResponseParser(head=method == "HEAD").parse)
        hxt = resp.headers.get(b"x-kt-xt")
        return (resp.status, resp.body if resp.status < 400 else b"",
                nz.xt(kh.parse_xt_header(hxt)) if hxt else None,
                resp.headers.get(b"content-length") if method == "HEAD" else None)

    def do_walk(self, db: Optional[bytes]) -> object:
        cur = [(b"CUR", b"9")]
        dbp = [(b"DB", db)] if db is not None else []
        first = self.rpc("cur_jump", cur + dbp)
        out: List[Any] = []
        if first.status != 200:
            return (first.status, out)
        for _ in range(100000):
            resp = self.rpc("cur_get", cur + [(b"step", b"")])
            if resp.status != 200:
                break
            d = dict(resp.rpc_pairs())
            out.append((d.get(b"key"), d.get(b"value"), nz.xt(int(d[b"xt"])) if b"xt" in d else None))
        return (first.status, sorted(out, key=repr))

    def do_hcur(self, db: Optional[bytes], key: bytes, sub: str, value: bytes,
                xt: Optional[int]) -> object:
        cur = [(b"CUR", b"8")]
        dbp = [(b"DB", db)] if db is not None else []
        first = self.rpc("cur_jump", cur + dbp + [(b"key", key)])
        res: List[Any] = [first.status]
        p = list(cur)
        if sub == "cur_set_value":
            p.append((b"value", value))
            if xt is not None:
                p.append((b"xt", b"%d" % xt))
        resp = self.rpc(sub, p)
        res.append((resp.status, normal_rpc(sub, resp.rpc_pairs(), False, resp.status)))
        return res


def normal_rpc(proc: str, pairs: List[Tuple[bytes, bytes]], tree: bool, status: int) -> object:
    if status != 200:
        return sorted(k for k, _ in pairs)  # ERROR text dropped
    if proc == "report":
        return nz.kt_report(pairs)
    if proc == "status":
        return nz.kt_status(pairs)
    if proc in ("match_prefix", "match_regex", "match_similar"):
        found = [(int(v), k) for k, v in pairs if k[:1] == b"_"]
        keys = [k for _, k in sorted(found)]
        rest = sorted((k, v) for k, v in pairs if k[:1] != b"_")
        return (keys if tree else sorted(keys), rest)
    out = []
    for k, v in pairs:
        if k == b"xt":
            out.append((k, nz.xt(int(v))))
        else:
            out.append((k, v))
    return sorted(out)
