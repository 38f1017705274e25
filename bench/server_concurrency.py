"""Built-in servers under concurrency: 1, 8 and 32 connections doing get,
set and get_bulk 100 (Tokyo Tyrant: get, put, mget 100), against the
built-in server of each build (event loop, and the compiled build's
``-threaded`` fallback) and the real server, in one run.

    python bench/server_concurrency.py               # kyoto and tyrant, 3 rounds
    python bench/server_concurrency.py kyoto         # one protocol
    python bench/server_concurrency.py --quick       # 2 rounds, shorter figures
    python bench/server_concurrency.py --rounds 5 --seconds 2
    python bench/server_concurrency.py --no-pin      # leave the CPUs to the scheduler

The contenders run one after the other, in the same order every round,
and each figure is the best of the rounds (other processes on the machine
only ever slow a contender down).  The table shows requests per second
and each built-in contender's ratio to the real server (ktserver 1.0.0 /
ttserver 1.1.41, found on PATH).

Pinning (default when ``taskset`` and two CPUs exist): every server runs
on CPU 0 and the load processes on CPU 1, so that the servers compete for
one core each, whatever their threads, and the load generator never takes
the server's CPU.  The load is raw sockets and pre-encoded requests, one
process per connection (bench/_load.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

import server_kyoto  # noqa: E402
import server_tyrant  # noqa: E402
from _load import builtin_servers, free_port, run_on_server  # noqa: E402

CONNS = (1, 8, 32)
KT_PORT_MAX = 32767  # ktserver refuses ports above this

Workload = Callable[[int, float], Dict[str, float]]
Contender = Tuple[str, List[str], Dict[str, str], bool]


def _arg(name: str, default: float) -> float:
    if name in sys.argv:
        return float(sys.argv[sys.argv.index(name) + 1])
    return default


def _kyoto_load(port: int, seconds: float) -> Dict[str, float]:
    return server_kyoto.workloads(port, seconds, CONNS)


def _tyrant_load(port: int, seconds: float) -> Dict[str, float]:
    return server_tyrant.kv_workloads(port, seconds, CONNS)


def _contenders(kind: str, pin: List[str]) -> List[Contender]:
    """(label, command, environment, real) of every server to measure."""
    extra = ["-lz", "*"] if kind == "kyoto" else ["-le", "*"]
    found: List[Contender] = []
    for build, cmd, env in builtin_servers(kind, []):
        found.append(("built-in " + build, pin + cmd + extra, env, False))
        if build == "compiled":
            found.append(("threaded compiled", pin + cmd + ["-threaded"] + extra, env, False))
    real = shutil.which("ktserver" if kind == "kyoto" else "ttserver")
    if real and "--no-real" not in sys.argv:
        found.append((os.path.basename(real), pin + [real], dict(os.environ), True))
    return found


def _measure(kind: str, contender: Contender, seconds: float) -> Dict[str, float]:
    label, cmd, env, real = contender
    print("  %s..." % label, file=sys.stderr, flush=True)
    port: Optional[int] = None
    if real:
        port = free_port(KT_PORT_MAX)
        cmd = cmd + ["-host", "127.0.0.1", "-port", str(port)]
        cmd += ["-lz", "*"] if kind == "kyoto" else ["-le", "*"]
    workdir = tempfile.mkdtemp(prefix="kt-bench-conc-")
    try:
        load: Workload = _kyoto_load if kind == "kyoto" else _tyrant_load
        return run_on_server(cmd, env, port, workdir, load, seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _table(kind: str, best: Dict[str, Dict[str, float]], real: Optional[str]) -> None:
    labels = list(best)
    rows = list(best[labels[0]])
    print("\n%s: requests/s, best of the rounds%s" % (
        kind, "; ratios to %s" % real if real else ""))
    header = "%-18s" % "workload" + "".join("%20s" % label for label in labels)
    ratio_labels = [label for label in labels if real and label != real]
    header += "".join("%14s" % ("%s/%s" % (label.replace("built-in ", "").replace(
        "threaded compiled", "threaded"), real[:2])) for label in ratio_labels)
    print(header)
    for row in rows:
        line = "%-18s" % row + "".join("%20.0f" % best[label].get(row, 0.0) for label in labels)
        if real:
            ref = best[real].get(row, 0.0)
            line += "".join("%14.2f" % (best[label].get(row, 0.0) / ref if ref else 0.0)
                            for label in ratio_labels)
        print(line)


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = int(_arg("--rounds", 2 if quick else 3))
    seconds = _arg("--seconds", 0.5 if quick else 1.0)
    kinds = [k for k in ("kyoto", "tyrant") if k in sys.argv] or ["kyoto", "tyrant"]
    pin: List[str] = []
    if ("--no-pin" not in sys.argv and shutil.which("taskset")
            and len(os.sched_getaffinity(0)) >= 2):
        pin = ["taskset", "-c", "0"]
        os.sched_setaffinity(0, {1})  # this process and the load processes it forks
    print("pinning: %s" % ("server on CPU 0, load on CPU 1" if pin else "none"))
    for kind in kinds:
        contenders = _contenders(kind, pin)
        best: Dict[str, Dict[str, float]] = {label: {} for label, _, _, _ in contenders}
        for r in range(rounds):
            print("%s round %d/%d" % (kind, r + 1, rounds), file=sys.stderr, flush=True)
            for contender in contenders:
                figures = _measure(kind, contender, seconds)
                keep = best[contender[0]]
                for row, value in figures.items():
                    keep[row] = max(keep.get(row, 0.0), value)
        real = next((label for label, _, _, is_real in contenders if is_real), None)
        _table(kind, best, real)


if __name__ == "__main__":
    main()
