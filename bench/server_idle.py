"""Idle connections: what 1,000 mostly idle connections cost each server.

    python bench/server_idle.py               # kyoto and tyrant, 1,000 connections
    python bench/server_idle.py tyrant --conns 2000

For each server (the built-in server of each build on its event loop,
the compiled build's ``-threaded`` fallback, and the real ktserver /
ttserver when on PATH): start it, read its resident memory and thread
count (/proc), open the connections and send one request on each (so the
server has built whatever a connection needs), read them again, then
measure one more connection's get rate while all of them stay open.
Printed: memory per idle connection (KiB), threads with the connections
open, and that rate.
"""

from __future__ import annotations

import os
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

from _load import builtin_servers, free_port, rate, recv_exact, start_server, stop_server  # noqa: E402
from kt.protocol import kt_binary as kb  # noqa: E402
from kt.protocol import tt_binary as tb  # noqa: E402

KT_PORT_MAX = 32767


def _proc_status(pid: int) -> Tuple[int, int]:
    """(resident KiB, threads) of process ``pid``."""
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def _request(kind: str) -> Tuple[bytes, int]:
    """A get of a missing key and the size of its reply."""
    if kind == "kyoto":
        return kb.encode_get_bulk([b"missing"]), 5
    return tb.encode_get(b"missing"), 1


def _measure(kind: str, cmd: List[str], env: Dict[str, str], port: Optional[int],
             conns: int) -> Dict[str, float]:
    workdir = tempfile.mkdtemp(prefix="kt-bench-idle-")
    proc, port = start_server(cmd, env, port, workdir)
    socks: List[socket.socket] = []
    request, size = _request(kind)
    view = memoryview(bytearray(64))
    try:
        time.sleep(0.3)
        rss0, threads0 = _proc_status(proc.pid)
        for _ in range(conns):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(request)
            recv_exact(sock, view, size)
            socks.append(sock)
        time.sleep(0.5)
        rss1, threads1 = _proc_status(proc.pid)
        busy = rate(port, [request], size, 1, 1.0)
        return {"rss before (KiB)": rss0, "rss after (KiB)": rss1,
                "KiB per connection": (rss1 - rss0) / conns,
                "threads before": threads0, "threads after": threads1,
                "get/s beside them": busy}
    finally:
        for sock in socks:
            sock.close()
        stop_server(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    conns = int(sys.argv[sys.argv.index("--conns") + 1]) if "--conns" in sys.argv else 1000
    kinds = [k for k in ("kyoto", "tyrant") if k in sys.argv] or ["kyoto", "tyrant"]
    for kind in kinds:
        extra = ["-lz", "*"] if kind == "kyoto" else ["-le", "*"]
        columns: List[Tuple[str, Dict[str, float]]] = []
        for build, cmd, env in builtin_servers(kind, []):
            columns.append(("built-in " + build, _measure(kind, cmd + extra, env, None, conns)))
            if build == "compiled":
                columns.append(("threaded compiled",
                                _measure(kind, cmd + ["-threaded"] + extra, env, None, conns)))
        real = shutil.which("ktserver" if kind == "kyoto" else "ttserver")
        if real:
            port = free_port(KT_PORT_MAX)
            cmd = [real, "-host", "127.0.0.1", "-port", str(port)] + extra
            columns.append((os.path.basename(real),
                            _measure(kind, cmd, dict(os.environ), port, conns)))
        print("\n%s: %d idle connections" % (kind, conns))
        print("%-20s" % "" + "".join("%20s" % label for label, _ in columns))
        for row in columns[0][1]:
            print("%-20s" % row + "".join("%20.1f" % figures[row] for _, figures in columns))


if __name__ == "__main__":
    main()
