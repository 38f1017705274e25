"""Built-in Kyoto Tycoon server benchmark: the pure and the compiled build
side by side with the real ktserver (when installed), in one run.

    python bench/server_kyoto.py            # about a minute
    python bench/server_kyoto.py --quick    # shorter measurements
    python bench/server_kyoto.py --no-real  # built-in server only
    python bench/server_kyoto.py --db bench.kch [--oas]
                                            # a file database (journalled;
                                            # --oas: fsync per write)

Workloads (binary protocol, keys of 10 bytes, values of 100 bytes, cache
hash database ``*``):
  get            get_bulk of one key per request
  set            set_bulk of one record per request
  get_bulk 100   get_bulk of 100 keys per request
each with 1 and with 8 connections.

The load is generated with raw sockets and pre-encoded requests (one
process per connection), so the client costs as little as possible; the
figures are requests per second.  The server subprocess of a built-in
build runs with PYTHONPATH at that build's directory (bench/_builds.py),
and the run checks, through the report procedure, that the compiled build
really serves compiled code.  Every server runs without logging (-lz).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from _load import (  # noqa: E402
    Rate, builtin_servers, call, free_port, print_table, rate, run_on_server,
)
from kt.protocol import kt_binary as kb  # noqa: E402
from kt.protocol import kt_http as kh  # noqa: E402

VALUE = bytes(range(100))
NKEYS = 1000
KT_PORT_MAX = 32767  # ktserver refuses ports above this


def single_record_requests() -> Tuple[Tuple[List[bytes], int], Tuple[List[bytes], int]]:
    """The get and set requests of ``workloads``, each with the size of
    its reply: one record of 100 bytes found, one record stored."""
    keys = [b"key-%06d" % i for i in range(NKEYS)]
    record = 18 + len(keys[0]) + len(VALUE)
    return (([kb.encode_get_bulk([k]) for k in keys], 5 + record),
            ([kb.encode_set_bulk([(k, VALUE)]) for k in keys], 5))


def workloads(port: int, seconds: float, conn_counts: Tuple[int, ...] = (1, 8),
              measure: Rate = rate) -> Dict[str, float]:
    """get, set and get_bulk 100 with each number of connections (also
    run by bench/server_concurrency.py, whose ``measure`` also times the server)."""
    keys = [b"key-%06d" % i for i in range(NKEYS)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for i in range(0, NKEYS, 100):
            n = call(sock, kb.encode_set_bulk([(k, VALUE) for k in keys[i:i + 100]]),
                      kb.parse_set_bulk_reply)
            assert n == 100, n
        recs = call(sock, kb.encode_get_bulk(keys[:100]), kb.GetBulkReplyParser().parse)
        assert len(recs) == 100  # type: ignore[arg-type]
    record = 18 + len(keys[0]) + len(VALUE)
    (gets, get_size), (sets, set_size) = single_record_requests()
    bulks = [kb.encode_get_bulk(keys[i:i + 100]) for i in range(0, NKEYS, 100)]
    out: Dict[str, float] = {}
    for conns in conn_counts:
        out["get x%d" % conns] = measure(port, gets, get_size, conns, seconds)
        out["set x%d" % conns] = measure(port, sets, set_size, conns, seconds)
        out["get_bulk 100 x%d" % conns] = measure(port, bulks, 5 + 100 * record, conns, seconds)
    return out


def _features(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        resp = call(sock, kh.encode_rpc_request("report", [], None, b"localhost"),
                     kh.ResponseParser().parse)
    return dict(resp.rpc_pairs()).get(b"conf_kt_features", b"")  # type: ignore[attr-defined]


def _db_args() -> List[str]:
    """The database (``--db SPEC``, default ``*``) and ``-oas`` when asked."""
    args = ["-oas"] if "--oas" in sys.argv else []
    if "--db" in sys.argv:
        return args + [sys.argv[sys.argv.index("--db") + 1]]
    return args + ["*"]


def main() -> None:
    quick = "--quick" in sys.argv
    seconds = 0.6 if quick else 1.5
    columns: List[Tuple[str, Dict[str, float]]] = []
    for build, cmd, env in builtin_servers("kyoto", ["-lz", *_db_args()]):
        columns.append(("built-in " + build, _measure(cmd, env, None, build, seconds)))
    real = shutil.which("ktserver") if "--no-real" not in sys.argv else None
    if real:
        print("measuring ktserver (%s)..." % real, file=sys.stderr, flush=True)
        port = free_port(KT_PORT_MAX)
        cmd = [real, "-host", "127.0.0.1", "-port", str(port), "-lz", *_db_args()]
        columns.append(("ktserver", _measure(cmd, dict(os.environ), port, None, seconds)))
    else:
        print("ktserver not found on PATH: measuring the built-in server only",
              file=sys.stderr)
    print_table(columns, "ktserver" if real else None, "compiled/ktsrv")
    if real:
        res = dict(columns)
        print("\ntarget: built-in compiled >= 0.5x ktserver on single-connection get "
              "(%.2fx) and set (%.2fx)" % (
                  res["built-in compiled"]["get x1"] / res["ktserver"]["get x1"],
                  res["built-in compiled"]["set x1"] / res["ktserver"]["set x1"]))


def _measure(cmd: List[str], env: Dict[str, str], port: Optional[int],
             build: Optional[str], seconds: float) -> Dict[str, float]:
    def workloads(port: int, seconds: float) -> Dict[str, float]:
        if build is not None:
            compiled = b"(compiled)" in _features(port)
            if compiled != (build == "compiled"):
                raise SystemExit("the %s build's server reports compiled=%s"
                                 % (build, compiled))
        return workloads(port, seconds)

    workdir = tempfile.mkdtemp(prefix="kt-bench-kt-")
    try:
        return run_on_server(cmd, env, port, workdir, workloads, seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
