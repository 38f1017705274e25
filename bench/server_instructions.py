"""Built-in servers: CPU instructions per request, counted by valgrind's
callgrind (user space only), for the pure and the compiled build in one run.

    python bench/server_instructions.py            # kyoto and tyrant
    python bench/server_instructions.py tyrant     # one protocol
    python bench/server_instructions.py --runs 300,1300

Timings on a shared or virtual machine move by several percent from run to
run; instruction counts do not (the same build gives the same count to
within a few instructions), so this is the figure to compare two versions
of the server's code by, one change at a time.  It says nothing about the
kernel's share of a request (system calls, wake-ups), which
bench/server_concurrency.py measures as CPU time.

How: each server runs under callgrind with an in-memory database and no
log (``-lz`` / ``-le``); one connection sends the same requests as
bench/server_concurrency.py, first A then B of them in two runs (``--runs
A,B``, default 500,3000), and the figure is the difference of the two
runs' totals divided by B - A, so start-up and shutdown cancel out.  Needs
valgrind on PATH (Debian: ``apt install valgrind``); without it the script
says so and exits.  PyPy's JIT is left out: under valgrind it measures
valgrind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from _load import call, recv_exact  # noqa: E402
from kt.protocol import kt_binary as kb  # noqa: E402
from kt.protocol import tt_binary as tb  # noqa: E402

NKEYS = 1000
VALUE = b"v" * 100

#: name -> (requests to cycle through, reply size in bytes)
Workloads = Dict[str, Tuple[List[bytes], int]]


def _workloads(kind: str) -> Workloads:
    keys = [b"key-%06d" % i for i in range(NKEYS)]
    if kind == "kyoto":
        record = 18 + len(keys[0]) + len(VALUE)
        return {
            "get": ([kb.encode_get_bulk([k]) for k in keys], 5 + record),
            "get miss": ([kb.encode_get_bulk([b"missing-%06d" % i]) for i in range(NKEYS)], 5),
            "set": ([kb.encode_set_bulk([(k, VALUE)]) for k in keys], 5),
            "get_bulk 100": ([kb.encode_get_bulk(keys[i:i + 100]) for i in range(0, NKEYS, 100)],
                             5 + 100 * record),
        }
    return {
        "get": ([tb.encode_get(k) for k in keys], 5 + len(VALUE)),
        "put": ([tb.encode_put(k, VALUE) for k in keys], 1),
        "mget 100": ([tb.encode_mget(keys[i:i + 100]) for i in range(0, NKEYS, 100)],
                     5 + sum(8 + len(k) + len(VALUE) for k in keys[:100])),
    }


def _fill(kind: str, sock: socket.socket) -> None:
    keys = [b"key-%06d" % i for i in range(NKEYS)]
    if kind == "kyoto":
        for i in range(0, NKEYS, 100):
            n = call(sock, kb.encode_set_bulk([(k, VALUE) for k in keys[i:i + 100]]),
                     kb.parse_set_bulk_reply)
            assert n == 100, n
    else:
        for k in keys:
            assert call(sock, tb.encode_put(k, VALUE), tb.parse_status_reply) == 0


def _count(kind: str, path: Path, requests: List[bytes], size: int, n: int) -> int:
    """Total instructions of one server run that answers ``n`` requests."""
    workdir = tempfile.mkdtemp(prefix="kt-bench-instr-")
    out = os.path.join(workdir, "callgrind.out")
    env = dict(os.environ, PYTHONPATH=str(path), PYTHONHASHSEED="0")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
           sys.executable, "-m", "kt.server", kind, "-host", "127.0.0.1", "-port", "0",
           "-lz" if kind == "kyoto" else "-le", "*"]
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if "listening on" not in line:
            raise SystemExit("the server did not start under valgrind: %r" % line)
        port = int(line.split("listening on", 1)[1].split()[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _fill(kind, sock)
            view = memoryview(bytearray(size + 16))
            for i in range(n):
                sock.sendall(requests[i % len(requests)])
                recv_exact(sock, view, size)
        proc.send_signal(signal.SIGTERM)
        if proc.wait(300) != 0:
            raise SystemExit("the server under valgrind exited with %d" % proc.returncode)
        with open(out) as f:
            for text in f:
                if text.startswith(("summary:", "totals:")):
                    return int(text.split()[1])
        raise SystemExit("no total in %s" % out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing to count (Debian: apt install valgrind)")
        return
    from _builds import builds

    kinds = [k for k in ("kyoto", "tyrant") if k in sys.argv[1:]] or ["kyoto", "tyrant"]
    first, second = 500, 3000
    if "--runs" in sys.argv:
        first, second = (int(x) for x in sys.argv[sys.argv.index("--runs") + 1].split(","))
    if second <= first:
        raise SystemExit("--runs A,B needs A < B")
    found = [(name, path) for name, path in builds() if name != "pypy"]
    for kind in kinds:
        print("%s: instructions per request (callgrind, one connection)" % kind)
        print("%-16s %s %14s" % ("workload", " ".join("%14s" % name for name, _ in found),
                                 "compiled/pure"))
        for workload, (requests, size) in _workloads(kind).items():
            figures: Dict[str, float] = {}
            for name, path in found:
                print("  %s, %s build..." % (workload, name), file=sys.stderr, flush=True)
                a = _count(kind, path, requests, size, first)
                b = _count(kind, path, requests, size, second)
                figures[name] = (b - a) / (second - first)
            ratio = figures["compiled"] / figures["pure"] if figures.get("pure") else 0.0
            print("%-16s %s %14.2f" % (workload, " ".join("%14.0f" % figures[name]
                                                          for name, _ in found), ratio))
        print()


if __name__ == "__main__":
    main()
