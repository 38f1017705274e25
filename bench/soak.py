"""Soak benchmark of the built-in servers with file databases: 32
connections of mixed reads and writes for a fixed number of operations.

    python bench/soak.py            # 32 connections x 1,500 operations per phase
    python bench/soak.py --quick    # 32 x 300
    python bench/soak.py --no-real  # built-in servers only

For each server (built-in Kyoto Tycoon and Tokyo Tyrant from this tree,
and ktserver / ttserver when on PATH) and each database (a file database,
the same with ``-oas`` where the server has it, and the in-memory one),
two phases on a fresh server:

  mixed   80% get / 20% set of 1,000 keys with values of 100 bytes
  write   100% set

reporting the throughput of each, the p50 and p99 latency of the mixed
phase (per request, over every connection) and the server's peak resident
memory (VmHWM).  Requests are pre-encoded binary-protocol requests (KT
get_bulk / set_bulk of one record, TT get / put) over raw sockets, one
process per connection, as in bench/_load.py.  The figures of one run are
comparable with each other, not with another machine's.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from _load import free_port, recv_exact, start_server, stop_server  # noqa: E402
from kt.protocol import kt_binary as kb  # noqa: E402
from kt.protocol import tt_binary as tb  # noqa: E402

CONNECTIONS = 32
NKEYS = 1000
VALUE = bytes(range(100))
KEYS = [b"key-%06d" % i for i in range(NKEYS)]

Job = Tuple[int, List[bytes], List[int], int, int]


def _requests(kind: str) -> Tuple[List[bytes], List[int], List[bytes], List[int]]:
    """(gets, their reply sizes, sets, their reply sizes)."""
    if kind == "kyoto":
        record = 18 + len(KEYS[0]) + len(VALUE)
        return ([kb.encode_get_bulk([k]) for k in KEYS], [5 + record] * NKEYS,
                [kb.encode_set_bulk([(k, VALUE)]) for k in KEYS], [5] * NKEYS)
    return ([tb.encode_get(k) for k in KEYS], [5 + len(VALUE)] * NKEYS,
            [tb.encode_put(k, VALUE) for k in KEYS], [1] * NKEYS)


def _worker(job: Job) -> List[int]:
    """``ops`` requests over one connection; the latency of each, in ns."""
    port, requests, sizes, ops, seed = job
    rng = random.Random(seed)
    order = [rng.randrange(len(requests)) for _ in range(ops)]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    view = memoryview(bytearray(max(sizes) + 16))
    out: List[int] = []
    clock = time.perf_counter_ns
    for i in order:
        t0 = clock()
        sock.sendall(requests[i])
        recv_exact(sock, view, sizes[i])
        out.append(clock() - t0)
    sock.close()
    return out


def _phase(port: int, requests: List[bytes], sizes: List[int], ops: int) -> Tuple[float, List[int]]:
    """(requests per second, every latency) of CONNECTIONS workers."""
    ctx = multiprocessing.get_context("fork")
    jobs: List[Job] = [(port, requests, sizes, ops, seed) for seed in range(CONNECTIONS)]
    with ctx.Pool(CONNECTIONS) as pool:
        t0 = time.perf_counter()
        results = pool.map(_worker, jobs)
        elapsed = time.perf_counter() - t0
    latencies = [x for r in results for x in r]
    return len(latencies) / elapsed, latencies


def _peak_rss_mb(pid: int) -> float:
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _run(kind: str, cmd: List[str], port: Optional[int], ops: int) -> Dict[str, float]:
    gets, get_sizes, sets, set_sizes = _requests(kind)
    mixed = gets * 4 + sets  # 80% reads
    mixed_sizes = get_sizes * 4 + set_sizes
    workdir = tempfile.mkdtemp(prefix="kt-soak-")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        proc, port = start_server(cmd, env, port, workdir)
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:  # preload
                view = memoryview(bytearray(64))
                for req, size in zip(sets, set_sizes):
                    sock.sendall(req)
                    recv_exact(sock, view, size)
            rate, lat = _phase(port, mixed, mixed_sizes, ops)
            wrate, _ = _phase(port, sets, set_sizes, ops)
            lat.sort()
            return {"mixed/s": rate, "p50 ms": lat[len(lat) // 2] / 1e6,
                    "p99 ms": lat[len(lat) * 99 // 100] / 1e6, "write/s": wrate,
                    "peak RSS MB": _peak_rss_mb(proc.pid)}
        finally:
            stop_server(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _configs() -> List[Tuple[str, str, List[str], Optional[int]]]:
    """(label, kind, command, fixed port or None for a built-in server)."""
    py = [sys.executable, "-m", "kt.server"]
    kt_base = py + ["kyoto", "-host", "127.0.0.1", "-port", "0", "-lz"]
    tt_base = py + ["tyrant", "-host", "127.0.0.1", "-port", "0", "-le"]
    out: List[Tuple[str, str, List[str], Optional[int]]] = [
        ("built-in kyoto soak.kch", "kyoto", kt_base + ["soak.kch"], None),
        ("built-in kyoto soak.kch -oas", "kyoto", kt_base + ["-oas", "soak.kch"], None),
        ("built-in kyoto *", "kyoto", kt_base + ["*"], None),
        ("built-in tyrant soak.tch", "tyrant", tt_base + ["soak.tch"], None),
        ("built-in tyrant soak.tch -oas", "tyrant", tt_base + ["-oas", "soak.tch"], None),
        ("built-in tyrant *", "tyrant", tt_base + ["*"], None),
    ]
    if "--no-real" in sys.argv:
        return out
    ktserver = shutil.which("ktserver")
    if ktserver:
        for db, opts in (("soak.kch", []), ("soak.kch", ["-oas"]), ("*", [])):
            port = free_port(32767)
            cmd = [ktserver, "-host", "127.0.0.1", "-port", str(port), "-lz"] + opts + [db]
            out.append(("ktserver %s %s" % (db, " ".join(opts)), "kyoto", cmd, port))
    ttserver = shutil.which("ttserver")
    if ttserver:
        for db in ("soak.tch", "*"):
            port = free_port()
            cmd = [ttserver, "-host", "127.0.0.1", "-port", str(port), "-le", db]
            out.append(("ttserver %s" % db, "tyrant", cmd, port))
    return out


def main() -> None:
    ops = 300 if "--quick" in sys.argv else 1500
    import kt
    print("%d connections x %d operations per phase; built-in servers: %s build"
          % (CONNECTIONS, ops, "compiled" if kt.COMPILED else "pure"))
    names = ["mixed/s", "p50 ms", "p99 ms", "write/s", "peak RSS MB"]
    print("%-32s" % "server / database" + "".join("%13s" % n for n in names))
    for label, kind, cmd, port in _configs():
        res = _run(kind, cmd, port, ops)
        print("%-32s" % label + "".join(
            ("%13.0f" if n.endswith("/s") else "%13.2f") % res[n] for n in names), flush=True)


if __name__ == "__main__":
    main()
