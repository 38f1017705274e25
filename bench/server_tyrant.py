"""Built-in Tokyo Tyrant server benchmark: the pure and the compiled build
side by side with the real ttserver (when installed), in one run.

    python bench/server_tyrant.py            # about a minute
    python bench/server_tyrant.py --quick    # shorter measurements
    python bench/server_tyrant.py --no-real  # built-in server only
    python bench/server_tyrant.py --db bench.tch [--oas]
                                             # get/put on a file database
                                             # (journalled; --oas: fsync per
                                             # write, built-in server only)

Workloads (values of 100 bytes, on-memory hash ``*`` unless noted):
  get / put            one record per request, 1 and 8 connections
  mget 100             100 keys per request, 1 and 8 connections
  search (no index)    table of 10,000 records: STREQ on a column, no index
  search (index)       the same with a lexical index on the column

The load is generated with raw sockets and pre-encoded requests (one
process per connection), so the client costs as little as possible; the
figures are requests per second.  The server subprocess of a built-in
build runs with PYTHONPATH at that build's directory (bench/_builds.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from _load import (  # noqa: E402
    Rate, builtin_servers, call, free_port, print_table, rate, run_on_server,
)
from kt.protocol import tt_binary as tb  # noqa: E402

VALUE = bytes(range(100))
NKEYS = 1000


def single_record_requests() -> Tuple[Tuple[List[bytes], int], Tuple[List[bytes], int]]:
    """The get and put requests of ``kv_workloads``, each with the size of
    its reply: a value of 100 bytes, a status byte."""
    keys = [b"key-%06d" % i for i in range(NKEYS)]
    return (([tb.encode_get(k) for k in keys], 5 + len(VALUE)),
            ([tb.encode_put(k, VALUE) for k in keys], 1))


def kv_workloads(port: int, seconds: float, conn_counts: Tuple[int, ...] = (1, 8),
                 measure: Rate = rate) -> Dict[str, float]:
    """get, put and mget 100 with each number of connections (also run by
    bench/server_concurrency.py, whose ``measure`` also times the server)."""
    keys = [b"key-%06d" % i for i in range(NKEYS)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for key in keys:
            call(sock, tb.encode_put(key, VALUE), tb.parse_status_reply)
    (gets, get_size), (puts, put_size) = single_record_requests()
    get_sizes = [get_size] * len(gets)
    put_sizes = [put_size] * len(puts)
    mgets: List[bytes] = []
    for i in range(0, NKEYS, 100):
        mgets.append(tb.encode_mget(keys[i:i + 100]))
    mget_size = 5 + sum(8 + len(k) + len(VALUE) for k in keys[:100])
    mget_sizes = [mget_size] * len(mgets)
    out: Dict[str, float] = {}
    for conns in conn_counts:
        out["get x%d" % conns] = measure(port, gets, get_sizes, conns, seconds)
        out["put x%d" % conns] = measure(port, puts, put_sizes, conns, seconds)
        out["mget 100 x%d" % conns] = measure(port, mgets, mget_sizes, conns, seconds)
    return out


def _search_workloads(port: int, seconds: float) -> Dict[str, float]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        call(sock, tb.encode_vanish(), tb.parse_status_reply)
        args: List[bytes] = []
        for i in range(10000):
            args.append(b"%d" % i)
            args.append(b"name\x00user%d\x00group\x00g%d\x00age\x00%d" % (i, i % 100, i % 90))
            if len(args) >= 2000:
                call(sock, tb.encode_misc(b"putlist", args), tb.MiscReplyParser().parse)
                args = []
        if args:
            call(sock, tb.encode_misc(b"putlist", args), tb.MiscReplyParser().parse)
        search = tb.encode_misc(b"search", [b"addcond\x00group\x000\x00g42"], tb.MISC_NO_ULOG)
        status, found = call(sock, search, tb.MiscReplyParser().parse)  # type: ignore[misc]
        assert status == 0 and len(found) == 100, (status, len(found))
    size = 5 + sum(4 + len(pk) for pk in found)
    out: Dict[str, float] = {}
    out["search 10k (no index)"] = rate(port, [search], [size], 1, seconds)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reply = call(sock, tb.encode_misc(b"setindex", [b"group", b"0"]),
                      tb.MiscReplyParser().parse)
        assert reply == (0, []), reply
    out["search 10k (index)"] = rate(port, [search], [size], 1, seconds)
    return out


def _kv_db() -> str:
    """The database of the get/put workloads (``--db SPEC``, default ``*``)."""
    if "--db" in sys.argv:
        return sys.argv[sys.argv.index("--db") + 1]
    return "*"


def main() -> None:
    quick = "--quick" in sys.argv
    seconds = 0.6 if quick else 1.5
    columns: List[Tuple[str, Dict[str, float]]] = []
    for build, cmd, env in builtin_servers("tyrant", ["-oas"] if "--oas" in sys.argv else []):
        columns.append(("built-in " + build, _measure(cmd, env, False, seconds)))
    real = shutil.which("ttserver") if "--no-real" not in sys.argv else None
    if real:
        print("measuring ttserver (%s)..." % real, file=sys.stderr, flush=True)
        columns.append(("ttserver", _measure([real], dict(os.environ), True, seconds)))
    print_table(columns, "ttserver" if real else None, "compiled/tt")


def _measure(cmd: List[str], env: Dict[str, str], real: bool,
             seconds: float) -> Dict[str, float]:
    """The key-value workloads on an on-memory hash, the searches on a
    table database; on a built-in server (-port 0 is in ``cmd``), or with
    ``real`` on the real ttserver at ``cmd[0]``."""
    workdir = tempfile.mkdtemp(prefix="kt-bench-tt-")
    try:
        results: Dict[str, float] = {}
        for db, workload in ((_kv_db(), kv_workloads), ("t.tct", _search_workloads)):
            full = cmd + [db]
            port = free_port() if real else None
            if port is not None:
                full = [cmd[0], "-host", "127.0.0.1", "-port", str(port), "-log",
                        os.path.join(workdir, "log"), db]
            results.update(run_on_server(full, env, port, workdir, workload, seconds))
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
