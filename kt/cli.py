"""``python -m kt`` (and the ``kt`` console script): a shell tool in the
spirit of ktremotemgr and tcrmgr.

    python -m kt [--tt] [-H HOST] [-p PORT] [-d DB] [-t TIMEOUT] COMMAND ...

Commands: ``report`` (alias ``status``), ``get``, ``set``, ``remove``,
``list``, ``clear``, ``import``, ``export``, ``bench`` and ``serve
kyoto|tyrant ...`` (runs a built-in server in the foreground).  ``--tt``
talks to Tokyo Tyrant instead of Kyoto Tycoon.

Exit codes a script can rely on:

* 0 success;
* 1 the operation found nothing or was refused (``get`` of a missing key,
  ``remove`` of nothing);
* 2 wrong usage;
* 3 the server could not be reached (or the connection failed);
* 4 the server reported an error, or answered with something invalid.

TSV for import/export: one record per line, key TAB value.  Backslash,
tab, newline and carriage return are written as ``\\\\``, ``\\t``, ``\\n``,
``\\r``, other control characters and bytes that are not UTF-8 as ``\\xNN``, so any record survives
a round trip; plain text records look exactly like ktremotemgr's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

from kt.errors import KyotoTycoonError, ProtocolError, ServerConnectionError, ServerError
from kt.serializers import KT_NONE

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_SERVER = 4

_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {i: "\\x%02x" % i for i in list(range(0x20)) + [0x7F]}
_ESCAPES.update({ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"})


def escape(data: bytes) -> str:
    """Bytes -> one TSV field (see the module docstring)."""
    text = data.decode("utf-8", "surrogateescape")
    out = text.translate(_ESCAPES)
    if any("\udc80" <= ch <= "\udcff" for ch in out):
        out = "".join("\\x%02x" % (ord(ch) - 0xDC00) if "\udc80" <= ch <= "\udcff" else ch
                      for ch in out)
    return out


def unescape(field: str) -> bytes:
    """One TSV field -> bytes (inverse of ``escape``)."""
    if "\\" not in field:
        return field.encode("utf-8")
    out = bytearray()
    i = 0
    n = len(field)
    while i < n:
        ch = field[i]
        if ch != "\\" or i + 1 >= n:
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = field[i + 1]
        if nxt == "x" and i + 4 <= n and all(c in _HEX for c in field[i + 2:i + 4]):
            out.append(int(field[i + 2:i + 4], 16))
            i += 4
            continue
        out += {"t": b"\t", "n": b"\n", "r": b"\r", "\\": b"\\"}.get(nxt, ("\\" + nxt).encode("utf-8"))
        i += 2
    return bytes(out)


class Progress:
    """Progress on stderr: a rewritten line on a terminal, a line per
    ``every`` seconds otherwise."""

    def __init__(self, what: str, total: Optional[int] = None, stream: TextIO = sys.stderr,
                 every: float = 1.0) -> None:
        self.what = what
        self.total = total
        self.stream = stream
        self.every = every
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.last = self.start

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.1 if self.tty else self.every):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        total = "/%d" % self.total if self.total else ""
        line = "%s: %d%s (%.0f/s)" % (self.what, done, total, rate)
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self, count: int) -> None:
        self.update(count, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kt",
        description="Talk to a Kyoto Tycoon (default) or Tokyo Tyrant (--tt) server, "
                    "or run a built-in server (serve).",
        epilog="exit codes: 0 ok, 1 not found / refused, 2 usage, 3 connection, 4 server error")
    p.add_argument("--tt", action="store_true", help="the server is Tokyo Tyrant")
    p.add_argument("-H", "--host", default="127.0.0.1", help="server host (127.0.0.1)")
    p.add_argument("-p", "--port", type=int, default=1978, help="server port (1978)")
    p.add_argument("-d", "--db", type=int, default=None, help="Kyoto Tycoon database index")
    p.add_argument("-t", "--timeout", type=float, default=30.0, help="socket timeout in seconds")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in ("report", "status"):
        sub.add_parser(name, help="server status (report for KT, stat for TT)")
    g = sub.add_parser("get", help="print the value of KEY")
    g.add_argument("key")
    s = sub.add_parser("set", help="store VALUE at KEY")
    s.add_argument("key")
    s.add_argument("value")
    s.add_argument("-x", "--expire", type=int, default=None, help="expiration in seconds (KT)")
    r = sub.add_parser("remove", help="remove KEYs")
    r.add_argument("keys", nargs="+")
    li = sub.add_parser("list", help="print keys (with --prefix, at most --max)")
    li.add_argument("--prefix", default="")
    li.add_argument("--max", type=int, default=None)
    li.add_argument("-v", "--values", action="store_true", help="print values too (TSV)")
    sub.add_parser("clear", help="remove every record")
    im = sub.add_parser("import", help="load TSV records from FILE (- for stdin)")
    im.add_argument("file")
    im.add_argument("--batch", type=int, default=1000)
    ex = sub.add_parser("export", help="write every record as TSV to FILE (- for stdout)")
    ex.add_argument("file")
    b = sub.add_parser("bench", help="a quick benchmark: set, get, bulk")
    b.add_argument("-n", "--count", type=int, default=10000)
    b.add_argument("-s", "--size", type=int, default=100, help="value size in bytes")
    sv = sub.add_parser("serve", help="run a built-in server in the foreground")
    sv.add_argument("kind", choices=["kyoto", "tyrant"])
    sv.add_argument("args", nargs=argparse.REMAINDER, help="ktserver/ttserver-style options and DBs")
    return p


def _client(args: argparse.Namespace) -> Any:
    if args.tt:
        from kt.tyrant import TokyoTyrant

        return TokyoTyrant(args.host, args.port, serializer=KT_NONE, decode_keys=False,
                           timeout=args.timeout)
    from kt.kyoto import KyotoTycoon

    return KyotoTycoon(args.host, args.port, serializer=KT_NONE, decode_keys=False,
                       timeout=args.timeout, default_db=args.db or 0)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _read_tsv(stream: IO[str]) -> Iterator[Tuple[bytes, bytes]]:
    for lineno, line in enumerate(stream, 1):
        line = line.rstrip("\n")
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        if "\t" not in line:
            raise ValueError("line %d has no tab: %r" % (lineno, line[:60]))
        key, value = line.split("\t", 1)
        yield unescape(key), unescape(value)


def run(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from kt.server.__main__ import main as serve_main

        return serve_main([args.kind, *args.args])
    client = _client(args)
    cmd = args.command
    tt = args.tt
    if cmd in ("report", "status"):
        info = client.status() if tt else client.report()
        for k in sorted(info):
            _out("%s\t%s" % (k, info[k]))
        return EXIT_OK
    if cmd == "get":
        value = client.get(args.key)
        if value is None:
            sys.stderr.write("kt: no record: %s\n" % args.key)
            return EXIT_NOT_FOUND
        sys.stdout.write(escape(value) + "\n")
        return EXIT_OK
    if cmd == "set":
        if tt:
            if args.expire is not None:
                sys.stderr.write("kt: Tokyo Tyrant has no expiration\n")
                return EXIT_USAGE
            ok = client.set(args.key, args.value.encode("utf-8"))
        else:
            ok = client.set(args.key, args.value.encode("utf-8"), expire_time=args.expire)
        return EXIT_OK if ok else EXIT_NOT_FOUND
    if cmd == "remove":
        if tt:
            removed = sum(client.remove(k) for k in args.keys)
        else:
            removed = client.remove_bulk(args.keys)
        return EXIT_OK if removed == len(args.keys) else EXIT_NOT_FOUND
    if cmd == "list":
        keys: List[bytes] = client.match_prefix(args.prefix, args.max)
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            if args.values:
                found = client.get_bulk(batch)
                for k in batch:
                    if k in found:
                        _out("%s\t%s" % (escape(k), escape(found[k])))
            else:
                for k in batch:
                    _out(escape(k))
        return EXIT_OK
    if cmd == "clear":
        return EXIT_OK if client.clear() else EXIT_SERVER
    if cmd == "import":
        return _import(client, args)
    if cmd == "export":
        return _export(client, args)
    if cmd == "bench":
        return _bench(client, args)
    raise AssertionError(cmd)  # pragma: no cover


@contextlib.contextmanager
def _tsv_file(path: str, mode: str) -> Iterator[IO[str]]:
    """The TSV file of import ("r") or export ("w"); "-" is stdin or
    stdout, which stay open afterwards."""
    if path == "-":
        yield sys.stdin if mode == "r" else sys.stdout
        return
    with open(path, mode, encoding="utf-8", newline="\n") as f:
        yield f


def _import(client: Any, args: argparse.Namespace) -> int:
    progress = Progress("imported")
    count = 0
    batch: Dict[bytes, bytes] = {}
    with _tsv_file(args.file, "r") as stream:
        for key, value in _read_tsv(stream):
            batch[key] = value
            if len(batch) >= args.batch:
                client.set_bulk(batch)
                count += len(batch)
                batch = {}
                progress.update(count)
        if batch:
            client.set_bulk(batch)
            count += len(batch)
    progress.done(count)
    return EXIT_OK


def _export(client: Any, args: argparse.Namespace) -> int:
    progress = Progress("exported")
    count = 0
    with _tsv_file(args.file, "w") as out:
        keys = client.match_prefix(b"", None)
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            found = client.get_bulk(batch)
            for k in batch:
                if k in found:
                    out.write("%s\t%s\n" % (escape(k), escape(found[k])))
                    count += 1
            progress.update(count)
    progress.done(count)
    return EXIT_OK


def _bench(client: Any, args: argparse.Namespace) -> int:
    n = max(1, args.count)
    value = b"x" * args.size
    keys = [b"kt-bench-%08d" % i for i in range(n)]
    results: List[Tuple[str, float]] = []

    def timed(name: str, fn: Any, ops: int) -> None:
        progress = Progress(name, ops)
        t0 = time.perf_counter()
        fn(progress)
        dt = time.perf_counter() - t0
        progress.done(ops)
        results.append((name, ops / dt))

    def sets(progress: Progress) -> None:
        for i, k in enumerate(keys):
            client.set(k, value)
            if i % 1000 == 0:
                progress.update(i)

    def gets(progress: Progress) -> None:
        for i, k in enumerate(keys):
            client.get(k)
            if i % 1000 == 0:
                progress.update(i)

    def bulk(progress: Progress) -> None:
        for i in range(0, n, 100):
            client.get_bulk(keys[i:i + 100])
            progress.update(i)

    timed("set", sets, n)
    timed("get", gets, n)
    timed("get_bulk(100) records", bulk, n)
    if args.tt:
        for k in keys:
            client.remove(k)
    else:
        for i in range(0, n, 1000):
            client.remove_bulk(keys[i:i + 1000])
    for name, rate in results:
        _out("%-24s %10.0f ops/s" % (name, rate))
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return run(argv)
    except ServerConnectionError as exc:
        sys.stderr.write("kt: %s\n" % exc)
        return EXIT_CONNECTION
    except (ServerError, ProtocolError) as exc:
        sys.stderr.write("kt: server error: %s\n" % exc)
        return EXIT_SERVER
    except KyotoTycoonError as exc:
        sys.stderr.write("kt: %s\n" % exc)
        return EXIT_SERVER
    except (OSError, ValueError, TypeError) as exc:
        sys.stderr.write("kt: %s\n" % exc)
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader went away (``| head``): not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
